-- Automatic forwarding of a mailbox's incoming mail (see the SQLite migration of the same number).
CREATE TABLE forwards (
    account_id BIGINT PRIMARY KEY REFERENCES accounts(id),
    target     TEXT NOT NULL,
    keep_copy  BIGINT NOT NULL DEFAULT 1,
    doc_ref    TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
