//! When a vacation reply may be sent (RFC 5230 4.5–4.6, RFC 3834 2), pure: the once per
//! sender per `:days` rule needs storage and is the caller's.

use crate::eval::MessageView;
use crate::program::Vacation;

/// Why no reply is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    #[error("the message has a null return path")]
    NullSender,
    #[error("the sender is the recipient")]
    OwnAddress,
    #[error("the message was sent automatically (Auto-Submitted: {0})")]
    AutoSubmitted(String),
    #[error("the message is bulk mail (Precedence: {0})")]
    Bulk(String),
    #[error("the message comes from a mailing list ({0})")]
    List(String),
    #[error("the sender is a system address ({0})")]
    SystemSender(String),
    #[error("none of the recipient's addresses is in To, Cc or Bcc")]
    NotAddressed,
}

/// RFC 2369 and RFC 2919 fields that only lists add.
const LIST_FIELDS: &[&str] = &[
    "list-id",
    "list-help",
    "list-subscribe",
    "list-unsubscribe",
    "list-post",
    "list-owner",
    "list-archive",
];

/// Local parts that are never people (RFC 5230 4.6 names MAILER-DAEMON, `owner-`,
/// `-request`; the others are the common list and bounce robots).
fn system_sender(local: &str) -> bool {
    let local = local.to_ascii_lowercase();
    matches!(
        local.as_str(),
        "mailer-daemon"
            | "postmaster"
            | "listserv"
            | "majordomo"
            | "mailman"
            | "noreply"
            | "no-reply"
            | "nobody"
    ) || local.starts_with("owner-")
        || local.ends_with("-request")
        || local.ends_with("-owner")
        || local.ends_with("-bounces")
}

/// Whether the reply may be sent, and to whom (the return path, RFC 5230 4.6).
/// `own_addresses` are the recipient's addresses (primary and aliases), lower case.
pub fn check(
    message: &MessageView,
    own_addresses: &[String],
    vacation: &Vacation,
) -> Result<String, Skip> {
    let sender = message.envelope_from.trim().to_string();
    // RFC 5230 4.6 / RFC 3834 2: never to the null return path.
    if sender.is_empty() {
        return Err(Skip::NullSender);
    }
    let mine: Vec<String> = own_addresses
        .iter()
        .chain(vacation.addresses.iter())
        .map(|a| a.to_lowercase())
        .collect();
    if mine.contains(&sender.to_lowercase()) {
        return Err(Skip::OwnAddress);
    }
    // RFC 3834 2 / RFC 5230 4.6: any Auto-Submitted other than "no".
    if let Some(field) = message.fields("auto-submitted").next() {
        let value = field
            .raw
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if value != "no" {
            return Err(Skip::AutoSubmitted(field.raw.clone()));
        }
    }
    if let Some(field) = message.fields("precedence").next() {
        let value = field.raw.trim().to_ascii_lowercase();
        if matches!(value.as_str(), "bulk" | "junk" | "list") {
            return Err(Skip::Bulk(value));
        }
    }
    if let Some(name) = LIST_FIELDS.iter().find(|name| message.has(name)) {
        return Err(Skip::List(name.to_string()));
    }
    let local = sender.rsplit_once('@').map_or(sender.as_str(), |(l, _)| l);
    if system_sender(local) {
        return Err(Skip::SystemSender(sender.clone()));
    }
    // RFC 5230 4.5: only mail addressed to the user (not a list or a Bcc relay).
    let addressed = ["to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc"]
        .iter()
        .flat_map(|name| message.fields(name))
        .flat_map(|f| crate::address::parse_list(&f.raw))
        .any(|a| mine.contains(&a.to_lowercase()));
    if !addressed {
        return Err(Skip::NotAddressed);
    }
    Ok(sender)
}

/// RFC 5230 4.2: without `:handle`, replies are told apart by their arguments: a stable
/// 64-bit FNV-1a digest of the subject, from, mime flag and reason.
pub fn handle(vacation: &Vacation) -> String {
    if let Some(handle) = &vacation.handle {
        return handle.clone();
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let parts = [
        vacation.subject.as_deref().unwrap_or(""),
        vacation.from.as_deref().unwrap_or(""),
        if vacation.mime { "mime" } else { "" },
        &vacation.reason,
    ];
    for part in parts {
        for byte in part.bytes().chain([0u8]) {
            hash ^= byte as u64;
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// RFC 5230 4.4: the reply's subject: `:subject`, else "Auto: " and the original subject.
pub fn subject(message: &MessageView, vacation: &Vacation) -> String {
    if let Some(subject) = &vacation.subject {
        return subject.clone();
    }
    let original = message
        .fields("subject")
        .next()
        .map(|f| f.decoded.trim().to_string())
        .unwrap_or_default();
    format!("Auto: {original}")
}
