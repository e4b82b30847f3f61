-- Per folder, a UID up to which every message is known to have a complete search document
-- (issue 13). SEARCH keeps this cursor in memory; kept here too, a restarted server does not
-- walk a whole folder against search_docs at its first SEARCH (150 ms for 100,000 messages).
-- A lower bound: written by SEARCH when the cursor has moved far, never past a message indexed
-- incompletely; cleared by `govmail index rebuild`. Gone with its folder.
-- Keep in step with migrations/sqlite/0018_search_cursors.sql.
CREATE TABLE search_cursors (
    folder_id BIGINT PRIMARY KEY REFERENCES folders(id) ON DELETE CASCADE,
    uid       BIGINT NOT NULL
);
