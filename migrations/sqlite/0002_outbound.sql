-- Outbound delivery (issue 6). Keep in step with migrations/postgres/0002_outbound.sql.

-- Set when no recipient of the message is pending any more. Finished messages are purged
-- after a while (outbound.keep_done); the purge releases the queue's blob reference.
ALTER TABLE queue_messages ADD COLUMN done_at INTEGER;
-- Start of this recipient's life in the queue (max age and delay notices count from it);
-- NULL = the message's created_at. `govmail queue retry` of a failed entry restarts it.
ALTER TABLE queue_recipients ADD COLUMN queued_at INTEGER;
ALTER TABLE queue_recipients ADD COLUMN last_attempt INTEGER;
-- The host that gave the last answer, e.g. "mx1.example.org [192.0.2.1]".
ALTER TABLE queue_recipients ADD COLUMN remote_mta TEXT NOT NULL DEFAULT '';
CREATE INDEX queue_recipients_message ON queue_recipients(message_id);
CREATE INDEX queue_recipients_lease ON queue_recipients(lease_owner);
CREATE INDEX queue_messages_done ON queue_messages(done_at);
