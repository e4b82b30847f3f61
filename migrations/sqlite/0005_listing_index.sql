-- Folder listings (every SELECT, FETCH, SEARCH, STORE) read the small columns of all messages
-- of a folder. Message rows also hold the stored parse (kilobytes of JSON), so reading them
-- from the table walks many pages; this index holds everything a listing needs.
CREATE INDEX messages_listing ON messages(folder_id, uid, modseq, flags, internal_date, size, blob_id);
