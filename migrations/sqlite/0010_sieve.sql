-- Sieve scripts (RFC 5228) of a mailbox (a person's or a unit's), managed over ManageSieve
-- (RFC 5804) or by `govmail user vacation`; at most one active per account.
CREATE TABLE sieve_scripts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    name       TEXT NOT NULL,
    content    TEXT NOT NULL,
    active     INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL,
    UNIQUE (account_id, name)
);
CREATE INDEX sieve_scripts_active ON sieve_scripts (account_id, active);

-- Vacation replies sent (RFC 5230 4.2): once per sender and handle per :days.
CREATE TABLE vacation_replies (
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    sender     TEXT NOT NULL,
    handle     TEXT NOT NULL,
    sent_at    INTEGER NOT NULL,
    PRIMARY KEY (account_id, sender, handle)
);
