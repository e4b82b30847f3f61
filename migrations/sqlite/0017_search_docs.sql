-- Full-text index, second form (issue 13): one row per message body instead of one row per
-- (word, body). search_docs marks a body indexed: doc is storage::search_index::doc_of(blob_id)
-- (a stable 63-bit number from the id, so a SEARCH maps a folder listing's bodies to documents
-- without a look-up), NULL when another body already has that number (then complete = 0 and
-- SEARCH reads the message, as it does when complete = 0 because the body had more words than
-- the index keeps). search_fts holds each document's words, field-qualified ("s.nguyen" for a
-- subject word, see search_index.rs; a word with marks also as `x.quyet~30022`, its marks), in an
-- FTS5 contentless table: written in the message's own transaction as one row, merged by FTS5,
-- prefix queries on its term b-tree. search_vocab lists its terms (a query word typed with marks
-- is answered by the marked terms it accepts).
-- A document's FTS5 row is deleted by the code that deletes its search_docs row (blob GC,
-- index rebuild), not by a trigger: a trigger naming search_fts would make SQLite builds older
-- than 3.43 (no contentless_delete, e.g. Debian 12's sqlite3 tool) fail every ALTER TABLE.
-- search_terms and search_indexed (0012) are no longer written; a later release drops them.
-- Keep in step with migrations/postgres/0017_search_docs.sql.
CREATE TABLE search_docs (
    blob_id  TEXT PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
    doc      INTEGER UNIQUE,
    complete INTEGER NOT NULL
);
CREATE VIRTUAL TABLE search_fts USING fts5(
    terms,
    content = '',
    contentless_delete = 1,
    detail = none,
    tokenize = "ascii tokenchars '.~'"
);
CREATE VIRTUAL TABLE search_vocab USING fts5vocab(search_fts, row);
