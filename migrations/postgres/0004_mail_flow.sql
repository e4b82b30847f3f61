-- Operations (issue 7). Keep in step with migrations/sqlite/0004_mail_flow.sql.
-- Message counts for the usage report (KT-12): per account, local calendar day and kind.
-- Written in batches by Store::note_delivery / Store::flush_mail_flow (storage/src/ops.rs),
-- never one write per message, and kept when messages are deleted, so the six-monthly
-- figures do not shrink when mail is expunged or expires.
--   sent_internal      a message the account submitted, every recipient hosted here
--   sent_external      a message the account submitted with at least one outside recipient
--   received_internal  a copy delivered to the account, submitted by one of our accounts
--   received_external  a copy delivered to the account from outside (MX)
--   received_junk      of the received copies, those filed into Junk by the spam filter
CREATE TABLE mail_flow (
    day        BIGINT NOT NULL,   -- local date as YYYYMMDD (storage::ops::set_local_offset)
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    kind       TEXT NOT NULL CHECK (kind IN ('sent_internal', 'sent_external',
                   'received_internal', 'received_external', 'received_junk')),
    messages   BIGINT NOT NULL DEFAULT 0,
    bytes      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, account_id, kind)
);
