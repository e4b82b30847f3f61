-- Subscriptions are mailbox names, not folder rows: a subscription outlives its mailbox
-- (RFC 9051 6.3.7: the server MUST NOT remove a name from the subscription list when the
-- mailbox is deleted), so LIST (SUBSCRIBED) can show it as \NonExistent. Existing flags carry
-- over; the per-folder column goes.
CREATE TABLE subscriptions (
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    name       TEXT NOT NULL,                 -- full path, '/' separated, NFC UTF-8
    PRIMARY KEY (account_id, name)
);
INSERT INTO subscriptions (account_id, name) SELECT account_id, name FROM folders WHERE subscribed <> 0;
ALTER TABLE folders DROP COLUMN subscribed;

-- The highest UIDVALIDITY an account's folders were ever given: a folder deleted and created
-- again gets a larger one even within the same second (RFC 9051 2.3.1.1).
ALTER TABLE accounts ADD COLUMN last_uidvalidity INTEGER NOT NULL DEFAULT 0;
UPDATE accounts SET last_uidvalidity =
    COALESCE((SELECT MAX(uidvalidity) FROM folders WHERE folders.account_id = accounts.id), 0);

-- RFC 3501 2.3.2 \Recent: the first UID no session has claimed as recent yet. Mail already
-- stored when this column appears is not recent.
ALTER TABLE folders ADD COLUMN recent_uid INTEGER NOT NULL DEFAULT 1;
UPDATE folders SET recent_uid = uidnext;
