-- Subscriptions as names that outlive their mailbox, the per-account UIDVALIDITY high-water
-- mark and the first unclaimed \Recent UID (see the SQLite migration of the same number).
CREATE TABLE subscriptions (
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    name       TEXT NOT NULL,
    PRIMARY KEY (account_id, name)
);
INSERT INTO subscriptions (account_id, name) SELECT account_id, name FROM folders WHERE subscribed <> 0;
ALTER TABLE folders DROP COLUMN subscribed;

ALTER TABLE accounts ADD COLUMN last_uidvalidity BIGINT NOT NULL DEFAULT 0;
UPDATE accounts SET last_uidvalidity =
    COALESCE((SELECT MAX(uidvalidity) FROM folders WHERE folders.account_id = accounts.id), 0);

ALTER TABLE folders ADD COLUMN recent_uid BIGINT NOT NULL DEFAULT 1;
UPDATE folders SET recent_uid = uidnext;
