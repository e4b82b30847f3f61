-- Folder listings read the small columns of all messages of a folder: an index that covers
-- them (see the SQLite migration of the same number).
CREATE INDEX messages_listing ON messages(folder_id, uid) INCLUDE (id, modseq, flags, internal_date, size, blob_id);
