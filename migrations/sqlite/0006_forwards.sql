-- Automatic forwarding of a mailbox's incoming mail (BD-11, KT-9): at most one rule per
-- account, set by the IT centre; checked against the forwarding policy when set and again at
-- each delivery.
CREATE TABLE forwards (
    account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
    target     TEXT NOT NULL,
    keep_copy  INTEGER NOT NULL DEFAULT 1,
    doc_ref    TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
