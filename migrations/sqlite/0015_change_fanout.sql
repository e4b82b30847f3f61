-- Several nodes on one PostgreSQL (issue 16): the PostgreSQL migration of this number adds the
-- pg_notify triggers of the cross-node change fan-out. SQLite serves one node (changes reach
-- its sessions through the in-process channels), so there is nothing to add; this file keeps
-- the two histories numbered alike.
SELECT 1;
