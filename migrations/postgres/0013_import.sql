-- govmail import (issue 15): see the SQLite migration of the same number.
CREATE TABLE import_progress (
    account_id  BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    source      TEXT NOT NULL,
    folder      TEXT NOT NULL,
    uidvalidity BIGINT NOT NULL,
    last_uid    BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (account_id, source, folder)
);
CREATE TABLE import_keys (
    folder_id BIGINT NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    key       TEXT NOT NULL,
    PRIMARY KEY (folder_id, key)
);
