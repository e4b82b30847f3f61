-- Spam classifier and sender history (see the SQLite migration of the same number).
CREATE TABLE bayes_tokens (
    account_id BIGINT NOT NULL,
    token      BIGINT NOT NULL,
    spam_count BIGINT NOT NULL DEFAULT 0,
    ham_count  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, token)
);
CREATE TABLE bayes_totals (
    account_id    BIGINT PRIMARY KEY,
    spam_messages BIGINT NOT NULL DEFAULT 0,
    ham_messages  BIGINT NOT NULL DEFAULT 0
);
-- Which side each message was trained as (by the SHA-256 of its content), so a message
-- trained again is not counted twice, and one re-classified is untrained from the other side.
CREATE TABLE bayes_trained (
    account_id BIGINT NOT NULL,
    digest     TEXT NOT NULL,
    class      TEXT NOT NULL,
    PRIMARY KEY (account_id, digest)
);
-- Sender history: mail accepted and junked per envelope address, domain and connecting IP.
CREATE TABLE sender_reputation (
    kind     TEXT NOT NULL,
    key      TEXT NOT NULL,
    accepted BIGINT NOT NULL DEFAULT 0,
    junked   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, key)
);
