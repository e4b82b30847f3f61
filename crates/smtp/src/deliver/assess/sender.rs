//! RFC 5322 3.6.2: the `Sender:` field of mail an official submits for someone else — a
//! delegate or head sending as the unit. "If the originator of the message can be indicated
//! by a single mailbox and the author and transmitter are identical, the "Sender:" field
//! SHOULD NOT be used. Otherwise, both fields SHOULD appear."

use base64::Engine;

use super::{Arrival, Facts};

/// Submission: who submits, as gathered from storage.
#[derive(Debug, Clone, Default)]
pub(crate) struct Submitter {
    /// The person's full name (None for a unit mailbox logging in with its own password).
    pub name: Option<String>,
    /// The submitter's own addresses (primary and aliases), normalised.
    pub own: Vec<String>,
    /// The account each From: address belongs to (None: no account).
    pub author_accounts: Vec<Option<i64>>,
}

/// The address of a `Sender:` field the message already has that is not the submitter's
/// own: a delegate may not name somebody else as the transmitter.
pub(crate) fn foreign_sender<'a>(arrival: &'a Arrival, facts: &Facts) -> Option<&'a str> {
    let submitter = facts.submitter.as_ref()?;
    arrival
        .meta
        .envelope
        .sender
        .iter()
        .filter_map(|a| a.address.as_deref())
        .find(|a| !submitter.own.contains(&storage::normalize_address(a)))
}

/// The `Sender:` field to prepend (with CRLF), when the author (From:) is not the submitter
/// and the message does not already name the submitter as Sender.
pub(crate) fn sender_field(arrival: &Arrival, facts: &Facts) -> Option<String> {
    let user = arrival.user?;
    let submitter = facts.submitter.as_ref()?;
    let for_someone_else = !submitter.author_accounts.is_empty()
        && submitter
            .author_accounts
            .iter()
            .any(|a| *a != Some(user.account_id));
    let already = arrival
        .meta
        .envelope
        .sender
        .iter()
        .any(|a| a.address.is_some());
    if !for_someone_else || already {
        return None;
    }
    let mailbox = match &submitter.name {
        Some(name) if !name.trim().is_empty() => format!(
            "{} <{}>",
            display_name(name.trim(), arrival.transaction.smtputf8),
            user.address
        ),
        _ => user.address.clone(),
    };
    Some(format!("Sender: {mailbox}\r\n"))
}

/// A display name as RFC 5322 3.4 `phrase`: a quoted-string for ASCII; raw UTF-8 inside the
/// quotes when the transaction is SMTPUTF8 (RFC 6532 3.2); otherwise RFC 2047 encoded-words,
/// each at most 75 characters (RFC 2047 2), split between characters, folded.
pub(crate) fn display_name(name: &str, utf8: bool) -> String {
    let name: String = name.chars().filter(|c| !c.is_control()).collect();
    if name.is_ascii() || utf8 {
        return format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""));
    }
    // "=?UTF-8?B?" + base64 + "?=": 12 characters around at most 60 of base64 (45 bytes).
    let mut words = vec![];
    let mut chunk = String::new();
    for c in name.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    words
        .iter()
        .map(|w| {
            format!(
                "=?UTF-8?B?{}?=",
                base64::engine::general_purpose::STANDARD.encode(w.as_bytes())
            )
        })
        .collect::<Vec<_>>()
        .join("\r\n ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names() {
        assert_eq!(display_name("Tran Thi Binh", false), "\"Tran Thi Binh\"");
        assert_eq!(display_name("A \"B\" \\C", false), "\"A \\\"B\\\" \\\\C\"");
        assert_eq!(display_name("Trần Thị Bình", true), "\"Trần Thị Bình\"");
        // RFC 2047 4.1: B encoding of the UTF-8 bytes.
        assert_eq!(
            display_name("Trần Thị Bình", false),
            "=?UTF-8?B?VHLhuqduIFRo4buLIELDrG5o?="
        );
        let long = "Nguyễn Thị Thanh Hương Lan Phương Thảo Ngọc Trâm";
        let encoded = display_name(long, false);
        let words: Vec<&str> = encoded.split("\r\n ").collect();
        assert!(words.len() > 1, "{encoded}");
        assert!(words.iter().all(|w| w.len() <= 75), "{encoded}");
        let decoded: Vec<u8> = words
            .iter()
            .flat_map(|w| {
                base64::engine::general_purpose::STANDARD
                    .decode(&w["=?UTF-8?B?".len()..w.len() - 2])
                    .unwrap()
            })
            .collect();
        assert_eq!(String::from_utf8(decoded).unwrap(), long);
    }
}
