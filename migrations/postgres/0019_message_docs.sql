-- Full-text document numbers (issue 13), third form: see the SQLite migration of the same
-- number. New documents take their numbers from search_doc_numbers (dense, shared by every
-- node). The listing index covers the new column.
ALTER TABLE messages ADD COLUMN doc BIGINT;
UPDATE messages m SET doc = s.doc FROM search_docs s WHERE s.blob_id = m.blob_id AND s.complete = 1;
CREATE SEQUENCE search_doc_numbers MINVALUE 1 MAXVALUE 1099511627775;
DROP INDEX messages_listing;
CREATE INDEX messages_listing ON messages(folder_id, uid) INCLUDE (id, modseq, flags, internal_date, size, blob_id, doc);
