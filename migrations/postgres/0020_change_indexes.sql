-- A folder's changes since a MODSEQ found without reading the whole folder (issue 12, long
-- sessions). Every listing catch-up, CONDSTORE/QRESYNC resynchronisation and IMAP session
-- refresh asks "rows with modseq > N" and "UIDs expunged with modseq > N" of one folder:
-- through the primary keys these read every message row of the folder, and every UID the
-- folder ever expunged (the expunged table only grows), for the few changed since.
-- Keep in step with migrations/sqlite/0020_change_indexes.sql.
CREATE INDEX messages_changes ON messages(folder_id, modseq);
CREATE INDEX expunged_changes ON expunged(folder_id, modseq, uid);
