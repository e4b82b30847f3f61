-- Full-text index, second form (issue 13): one row per message body instead of one row per
-- (word, body). doc is storage::search_index::doc_of(blob_id) (a stable 63-bit number from the
-- id, so a SEARCH maps a folder listing's bodies to documents without a look-up), NULL when
-- another body already has that number (then complete = 0 and SEARCH reads the message, as it
-- does when complete = 0 because the body had more words than the index keeps). terms holds the
-- field-qualified words ("s.nguyen" for a subject word, see search_index.rs) as a tsvector built
-- from them as they are (array_to_tsvector: no parser, no stemming) under a GIN index, whose
-- pending list takes inserts cheaply; prefix queries are tsquery `'s.nguy':*`. A word with marks
-- is also kept as its marked form (`x.quyet~30022`), and the marked forms are listed in
-- search_vocab (byte order), so a query word typed with marks is answered by the marked terms it
-- accepts. search_vocab only grows (a term of deleted mail matches no document).
-- search_terms and search_indexed (0012) are no longer written; a later release drops them.
-- Same meaning as the SQLite migration of the same number.
CREATE TABLE search_docs (
    blob_id  TEXT PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
    doc      BIGINT UNIQUE,
    complete INTEGER NOT NULL,
    terms    TSVECTOR
);
CREATE INDEX search_docs_terms ON search_docs USING gin (terms);
CREATE TABLE search_vocab (
    term TEXT COLLATE "C" PRIMARY KEY
);
