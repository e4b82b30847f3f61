-- Issue 16: an SMTP transaction resent after its answer was lost (a node killed, a database
-- failover during COMMIT) is stored once. `key` hashes the envelope and the data as received
-- (storage::delivery_key); it is claimed in the transaction that stores the message and
-- forgotten after a day. Additive only: nodes of the previous release never read it.
CREATE TABLE delivery_keys (
    key TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);
CREATE INDEX delivery_keys_created_at ON delivery_keys (created_at);
