-- govmail import (issue 15). import_progress: per account, old source (e.g. the old server's
-- URL and login) and old folder name, the old folder's UIDVALIDITY and the highest old UID
-- whose message is committed here; written in the same transaction as those messages, so a
-- rerun continues after the last committed batch and never stores one twice.
-- import_keys: what each imported message was on the old side, per new folder: an IMAP
-- fingerprint (size, Message-ID, INTERNALDATE) numbered by occurrence, a Maildir file's unique
-- name, an mbox message's offset and Message-ID hash. A rerun after the old UIDVALIDITY
-- changed, and every Maildir/mbox rerun, skips what is here. Keep in step with
-- migrations/postgres/0013_import.sql.
CREATE TABLE import_progress (
    account_id  INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    source      TEXT NOT NULL,
    folder      TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    last_uid    INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (account_id, source, folder)
);
CREATE TABLE import_keys (
    folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    key       TEXT NOT NULL,
    PRIMARY KEY (folder_id, key)
);
