//! RFC 8474 object ids as the client sees them: `objectid = 1*255(ALPHA / DIGIT / "_" / "-")`
//! (RFC 8474 7), case-sensitive.
//!
//! - MAILBOXID: `F` and the folder's id. Folder ids are never reused (SQLite AUTOINCREMENT, a
//!   PostgreSQL sequence) and survive RENAME (RFC 8474 4: same mailbox, same id; a new
//!   mailbox, a new id — RENAME INBOX makes a new folder, so a new id, and INBOX keeps its).
//! - EMAILID: `M` and the message row's id, or its source's for a COPY or MOVE (RFC 8474 5.1).
//! - THREADID: NIL, threads are not computed (RFC 8474 5.2: "if the server doesn't support
//!   THREADID ... it MUST return NIL ... and a SEARCH for THREADID MUST NOT match any
//!   messages").
//!
//! Deviation: the ids are database ids with a letter in front; they say roughly how many
//! folders and messages the server has held (RFC 8474 11 only asks that ids reveal nothing
//! about content, which these do not).

/// What a FETCH needs for these items besides the message rows: EMAILIDs and save dates by
/// message id, and (LAZY previews) when to stop making previews.
#[derive(Debug, Default)]
pub struct FetchExt {
    pub extras: std::collections::HashMap<i64, storage::MessageExtra>,
    pub lazy_until: Option<std::time::Instant>,
}

/// `F<id>`.
pub fn mailbox_id(folder_id: i64) -> String {
    format!("F{folder_id}")
}

/// `M<id>`.
pub fn email_id(id: i64) -> String {
    format!("M{id}")
}

/// The number in an EMAILID we gave out; `None` for any other object id.
pub fn parse_email_id(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('M')?;
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8474 7: `objectid = 1*255(ALPHA / DIGIT / "_" / "-")`.
    #[test]
    fn ids_are_objectids_and_read_back() {
        for id in [mailbox_id(1), mailbox_id(i64::MAX), email_id(42)] {
            assert!(id.len() <= 255);
            assert!(id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
        }
        assert_eq!(parse_email_id(&email_id(42)), Some(42));
        for other in ["m42", "M", "M042", "F42", "M4x", "M99999999999999999999"] {
            assert_eq!(parse_email_id(other), None, "{other}");
        }
    }
}
