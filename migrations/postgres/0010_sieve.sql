-- Sieve scripts and vacation replies sent (see the SQLite migration of the same number).
CREATE TABLE sieve_scripts (
    id         BIGSERIAL PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    name       TEXT NOT NULL,
    content    TEXT NOT NULL,
    active     BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    UNIQUE (account_id, name)
);
CREATE INDEX sieve_scripts_active ON sieve_scripts (account_id, active);

CREATE TABLE vacation_replies (
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    sender     TEXT NOT NULL,
    handle     TEXT NOT NULL,
    sent_at    BIGINT NOT NULL,
    PRIMARY KEY (account_id, sender, handle)
);
