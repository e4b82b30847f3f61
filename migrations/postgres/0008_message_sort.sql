-- IMAP SORT and THREAD (RFC 5256, RFC 5957; issue 12): what sorting and threading read of a
-- message, so a 50,000-message SORT reads one small row per message instead of its stored
-- parse. Keyed by blob: the same bytes give the same record (a COPY adds no row), and the row
-- goes with its blob (blob GC). Same meaning as the SQLite migration of the same number.
CREATE TABLE message_sort (
    blob_id     TEXT PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
    sent_date   BIGINT,    -- Date: as Unix seconds (UTC); NULL when absent or unparseable
    subject     TEXT,      -- decoded (RFC 2047), unfolded; NULL when there is no Subject
    from_name   TEXT,      -- first From mailbox: display name (decoded) and mailbox@host
    from_addr   TEXT,
    to_name     TEXT,      -- first To mailbox
    to_addr     TEXT,
    cc_name     TEXT,      -- first Cc mailbox
    cc_addr     TEXT,
    message_id  TEXT,      -- Message-ID, In-Reply-To, References as written (unfolded)
    in_reply_to TEXT,
    refs        TEXT
);
