-- Full-text document numbers (issue 13), third form: each message row carries the number of
-- its body's document (search_docs.doc), so a folder listing matches a SEARCH answer without
-- a look-up. Documents indexed from this release on are numbered densely (1, 2, 3, ... below
-- 2^40, see storage/src/search_index.rs): an answer of 100,000 documents is then 100,000
-- short numbers instead of hashes of 19 digits, which FTS5, the transfer and the parse walk
-- three times faster. Documents numbered before keep their numbers (from the blob id's hash):
-- a document's number never changes while it exists, so a listing read earlier is never
-- wrong, at worst missing the number of a body indexed since (SEARCH then reads that message).
-- NULL: the body has no complete document (none yet, or one that does not hold all its words):
-- SEARCH reads that message, and the first search of a folder looks up only such rows.
-- The listing index covers the new column.
-- FTS5 merges a level's segments once 16 of them are there instead of 4 (its automerge): each
-- delivery's commit adds a small segment, and merging four at a time rewrote every document
-- about five times during a load (SMTP acceptance with the index on: +5 %). More segments
-- stand between loads; the server merges them all once the index is quiet (search_settle.rs).
-- Keep in step with migrations/postgres/0019_message_docs.sql.
ALTER TABLE messages ADD COLUMN doc INTEGER;
UPDATE messages SET doc =
    (SELECT s.doc FROM search_docs s WHERE s.blob_id = messages.blob_id AND s.complete = 1);
DROP INDEX messages_listing;
CREATE INDEX messages_listing ON messages(folder_id, uid, modseq, flags, internal_date, size, blob_id, doc);
INSERT INTO search_fts(search_fts, rank) VALUES ('automerge', 16);
