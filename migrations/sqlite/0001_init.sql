-- govmail schema, SQLite flavour. Keep in step with migrations/postgres/0001_init.sql:
-- same tables, same columns, same meaning. Times are Unix seconds (UTC). Booleans are 0/1.

CREATE TABLE domains (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,           -- lower case, no trailing dot
    naming_rule TEXT NOT NULL DEFAULT 'free',   -- 'kontum' | 'free' | 'template:<tpl>'
    created_at  INTEGER NOT NULL
);

-- A mailbox principal: a civil servant or an administrative unit. Owns folders, a quota and
-- (optionally) a credential.
CREATE TABLE accounts (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    kind                 TEXT NOT NULL CHECK (kind IN ('person', 'unit')),
    domain_id            INTEGER NOT NULL REFERENCES domains(id),
    address              TEXT NOT NULL UNIQUE,   -- primary address, lower case; also the login
    display_name         TEXT NOT NULL,          -- as typed, NFC, diacritics kept
    status               TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled', 'departed')),
    must_change_password INTEGER NOT NULL DEFAULT 0,
    quota_bytes          INTEGER NOT NULL DEFAULT 0,   -- 0 = unlimited
    used_bytes           INTEGER NOT NULL DEFAULT 0,   -- exact: updated in the transaction that changes it
    created_at           INTEGER NOT NULL,
    departed_at          INTEGER
);

CREATE TABLE units (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    domain_id       INTEGER NOT NULL REFERENCES domains(id),
    abbrev          TEXT NOT NULL,                   -- upper case, e.g. STTTT
    name            TEXT NOT NULL,
    parent_id       INTEGER REFERENCES units(id),
    account_id      INTEGER NOT NULL UNIQUE REFERENCES accounts(id),  -- the official unit mailbox
    head_account_id INTEGER REFERENCES accounts(id),
    created_at      INTEGER NOT NULL,
    UNIQUE (domain_id, abbrev)
);

CREATE TABLE persons (
    account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
    full_name  TEXT NOT NULL,
    job_position TEXT NOT NULL DEFAULT '',
    unit_id    INTEGER REFERENCES units(id),
    phone      TEXT NOT NULL DEFAULT ''
);

CREATE TABLE credentials (
    account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
    phc        TEXT NOT NULL CHECK (phc LIKE '$argon2id$%'),
    updated_at INTEGER NOT NULL
);

CREATE TABLE mail_groups (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    domain_id   INTEGER NOT NULL REFERENCES domains(id),
    address     TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    send_policy TEXT NOT NULL DEFAULT 'internal' CHECK (send_policy IN ('internal', 'members', 'anyone')),
    created_at  INTEGER NOT NULL
);

CREATE TABLE group_members (
    group_id   INTEGER NOT NULL REFERENCES mail_groups(id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    PRIMARY KEY (group_id, account_id)
);

-- Every deliverable address: primary addresses of accounts, aliases, group addresses.
CREATE TABLE addresses (
    address     TEXT PRIMARY KEY,                 -- lower case local@domain
    domain_id   INTEGER NOT NULL REFERENCES domains(id),
    kind        TEXT NOT NULL CHECK (kind IN ('primary', 'alias', 'group')),
    account_id  INTEGER REFERENCES accounts(id),
    group_id    INTEGER REFERENCES mail_groups(id) ON DELETE CASCADE,
    expires_at  INTEGER,
    created_at  INTEGER NOT NULL,
    CHECK ((account_id IS NULL) <> (group_id IS NULL))
);
CREATE INDEX addresses_account ON addresses(account_id);

-- RFC 4314 rights one account holds on another account's mailbox (unit delegation).
CREATE TABLE mailbox_acl (
    owner_account_id   INTEGER NOT NULL REFERENCES accounts(id),
    grantee_account_id INTEGER NOT NULL REFERENCES accounts(id),
    rights             TEXT NOT NULL,
    may_send           INTEGER NOT NULL DEFAULT 0,
    granted_at         INTEGER NOT NULL,
    PRIMARY KEY (owner_account_id, grantee_account_id)
);

CREATE TABLE folders (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id     INTEGER NOT NULL REFERENCES accounts(id),
    name           TEXT NOT NULL,                 -- full path, '/' separated, NFC UTF-8
    special_use    TEXT,                          -- '\Sent', '\Junk', ...
    uidvalidity    INTEGER NOT NULL,
    uidnext        INTEGER NOT NULL DEFAULT 1,
    highestmodseq  INTEGER NOT NULL DEFAULT 1,
    subscribed     INTEGER NOT NULL DEFAULT 1,
    created_at     INTEGER NOT NULL,
    UNIQUE (account_id, name)
);

-- Content-addressed message bodies. refcount = number of messages rows (and queue entries)
-- referring to the blob; 0 makes it garbage.
CREATE TABLE blobs (
    id         TEXT PRIMARY KEY,                  -- sha256 hex of the bytes
    size       INTEGER NOT NULL,
    refcount   INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
-- Bytes of blobs kept in the database (the 'database' blob store, default on PostgreSQL).
CREATE TABLE blob_data (
    id   TEXT PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
    data BLOB NOT NULL
);

CREATE TABLE messages (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    folder_id     INTEGER NOT NULL REFERENCES folders(id),
    uid           INTEGER NOT NULL,
    modseq        INTEGER NOT NULL,
    flags         TEXT NOT NULL DEFAULT '',       -- space separated: \Seen \Answered ... keywords
    internal_date INTEGER NOT NULL,
    size          INTEGER NOT NULL,
    blob_id       TEXT NOT NULL REFERENCES blobs(id),
    meta          TEXT NOT NULL,                  -- JSON MessageMeta computed once at delivery
    created_at    INTEGER NOT NULL,
    UNIQUE (folder_id, uid)
);
CREATE INDEX messages_blob ON messages(blob_id);

-- Expunged UIDs with the modseq of their expunge (RFC 7162 QRESYNC VANISHED).
CREATE TABLE expunged (
    folder_id INTEGER NOT NULL REFERENCES folders(id),
    uid       INTEGER NOT NULL,
    modseq    INTEGER NOT NULL,
    PRIMARY KEY (folder_id, uid)
);

CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL,        -- 'cli', 'smtp', 'imap', an address ...
    action     TEXT NOT NULL,        -- 'user.add', 'virus.refused', ...
    target     TEXT NOT NULL DEFAULT '',
    doc_ref    TEXT NOT NULL DEFAULT '',   -- written decision / request number (KT-5.2)
    detail     TEXT NOT NULL DEFAULT '{}'  -- JSON
);
CREATE INDEX events_at ON events(at);
CREATE INDEX events_action ON events(action, at);

CREATE TABLE queue_messages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    blob_id    TEXT NOT NULL REFERENCES blobs(id),
    sender     TEXT NOT NULL,
    account_id INTEGER REFERENCES accounts(id),  -- the submitting account
    env_id     TEXT,
    ret        TEXT,                              -- DSN RET=FULL|HDRS
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE queue_recipients (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id    INTEGER NOT NULL REFERENCES queue_messages(id) ON DELETE CASCADE,
    recipient     TEXT NOT NULL,
    domain        TEXT NOT NULL,
    notify        TEXT,                           -- DSN NOTIFY
    orcpt         TEXT,
    status        TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt  INTEGER NOT NULL,
    last_error    TEXT NOT NULL DEFAULT '',
    lease_owner   TEXT,
    lease_until   INTEGER,
    delay_notified INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX queue_due ON queue_recipients(status, next_attempt);
