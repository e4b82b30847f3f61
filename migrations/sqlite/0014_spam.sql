-- Spam classifier (issue 18): token counts and trained totals province-wide (account_id 0)
-- and per account; no foreign key, since 0 names no account. Tokens are 64-bit hashes.
CREATE TABLE bayes_tokens (
    account_id INTEGER NOT NULL,
    token      INTEGER NOT NULL,
    spam_count INTEGER NOT NULL DEFAULT 0,
    ham_count  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, token)
);
CREATE TABLE bayes_totals (
    account_id    INTEGER PRIMARY KEY,
    spam_messages INTEGER NOT NULL DEFAULT 0,
    ham_messages  INTEGER NOT NULL DEFAULT 0
);
-- Which side each message was trained as (by the SHA-256 of its content), so a message
-- trained again is not counted twice, and one re-classified is untrained from the other side.
CREATE TABLE bayes_trained (
    account_id INTEGER NOT NULL,
    digest     TEXT NOT NULL,
    class      TEXT NOT NULL,
    PRIMARY KEY (account_id, digest)
);
-- Sender history: mail accepted and junked per envelope address, domain and connecting IP.
CREATE TABLE sender_reputation (
    kind     TEXT NOT NULL,
    key      TEXT NOT NULL,
    accepted INTEGER NOT NULL DEFAULT 0,
    junked   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, key)
);
