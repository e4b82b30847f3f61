-- RFC 8474 OBJECTID: a message's EMAILID. NULL means the message's own id; a COPY or MOVE
-- gives the new row the EMAILID of its source (RFC 8474 5.1: same content, same EMAILID).
-- MAILBOXID is the folder id (never reused: AUTOINCREMENT). RFC 8514 SAVEDATE is the existing
-- messages.created_at (set when the row is put in its folder).
ALTER TABLE messages ADD COLUMN email_id INTEGER;
