-- Directory lifecycle (issue 5): a change stamp on accounts so running servers notice logins
-- that must end (disable, leave, password reset, revoked rights), and the password history
-- for the reuse rule.
ALTER TABLE accounts ADD COLUMN changed_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN session_epoch BIGINT NOT NULL DEFAULT 0;
CREATE INDEX accounts_changed ON accounts(changed_at);

CREATE TABLE credential_history (
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    phc        TEXT NOT NULL,
    retired_at BIGINT NOT NULL
);
CREATE INDEX credential_history_account ON credential_history(account_id, retired_at);
