-- Full-text index for IMAP SEARCH (issue 13): the distinct words of a message with every
-- mark removed (policy::textsearch::terms), keyed by blob like message_sort: written with the
-- message, nothing added by a COPY, gone with the blob (GC). search_indexed marks the blobs
-- indexed (a message may have no words); complete = 0 when it had more distinct words than
-- the index keeps (none are kept then, and SEARCH always reads it). Terms compare in byte order (SQLite BINARY), so a
-- prefix is a range. Keep in step with migrations/postgres/0012_search_terms.sql.
CREATE TABLE search_indexed (
    blob_id  TEXT PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
    complete INTEGER NOT NULL
);
CREATE TABLE search_terms (
    term    TEXT NOT NULL,
    blob_id TEXT NOT NULL REFERENCES blobs(id) ON DELETE CASCADE,
    PRIMARY KEY (term, blob_id)
);
CREATE INDEX search_terms_blob ON search_terms(blob_id);
