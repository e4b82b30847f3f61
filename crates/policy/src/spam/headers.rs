//! Missing, malformed and forged header fields, and a Date far from the arrival time.

use super::{Hits, Parsed};

/// A Date more than this after arrival is in the future (SpamAssassin's DATE_IN_FUTURE_12_24
/// starts at 12 h).
pub const FUTURE_SECS: i64 = 12 * 3600;
/// A Date more than this before arrival is in the past (SpamAssassin's DATE_IN_PAST_96_XX).
pub const PAST_SECS: i64 = 96 * 3600;

pub(super) fn check(message: &Parsed, arrived: i64, hits: &mut Hits) {
    // RFC 5322 3.6.4: msg-id = "<" id-left "@" id-right ">".
    match message.message_id.as_deref() {
        None => hits.fire("MISSING_MID"),
        Some(id) if !msg_id_well_formed(id) => hits.fire("MSGID_MALFORMED"),
        Some(_) => {}
    }
    // RFC 5322 3.6: the origination date field is required.
    match (&message.date_raw, message.date) {
        (None, _) => hits.fire("MISSING_DATE"),
        (Some(_), None) => hits.fire("DATE_MALFORMED"),
        (Some(_), Some(date)) => {
            // Arrival: the topmost Received field's time when the message carries one (a
            // message read from a file), else when it arrived here.
            let arrived = message.received.unwrap_or(arrived);
            if date > arrived + FUTURE_SECS {
                hits.fire("DATE_IN_FUTURE");
            } else if date < arrived - PAST_SECS {
                hits.fire("DATE_IN_PAST");
            }
        }
    }
    // RFC 5322 3.6.2: From is required.
    let from = message.from.first().and_then(|a| a.address.as_deref());
    match from {
        None => hits.fire("MISSING_FROM"),
        Some(address) => {
            let name = message.from.first().and_then(|a| a.name.as_deref());
            if name.is_some_and(|name| display_name_forged(name, address)) {
                hits.fire("FROM_NAME_MISMATCH");
            }
        }
    }
    match message.subject.as_deref().map(str::trim) {
        None | Some("") => hits.fire("MISSING_SUBJECT"),
        Some(subject) => {
            let letters: Vec<char> = subject.chars().filter(|c| c.is_alphabetic()).collect();
            if letters.len() >= 10 && letters.iter().all(|c| c.is_uppercase()) {
                hits.fire("SUBJ_ALL_CAPS");
            }
        }
    }
    let to = message.header("to").unwrap_or("").to_lowercase();
    let no_recipient_field = message.header("to").is_none() && message.header("cc").is_none();
    if no_recipient_field || to.contains("undisclosed") {
        hits.fire("TO_UNDISCLOSED");
    }
    if message.recipients.len() > hits.config().many_recipients {
        hits.fire("MANY_RECIPIENTS");
    }
}

fn msg_id_well_formed(id: &str) -> bool {
    let id = id.trim();
    let Some(inner) = id.strip_prefix('<').and_then(|s| s.strip_suffix('>')) else {
        return false;
    };
    match inner.split_once('@') {
        Some((left, right)) => {
            !left.is_empty()
                && !right.is_empty()
                && !inner.contains(char::is_whitespace)
                && !right.contains('@')
        }
        None => false,
    }
}

/// The display name holds an address whose domain is not the real address's domain, as in
/// `"security@vietcombank.com.vn" <x@evil.test>`.
fn display_name_forged(name: &str, address: &str) -> bool {
    let domain = |a: &str| a.rsplit_once('@').map(|(_, d)| d.to_lowercase());
    let Some(real) = domain(address) else {
        return false;
    };
    name.split(|c: char| c.is_whitespace() || "<>()\"'[],;".contains(c))
        .filter(|word| word.contains('@'))
        .filter_map(domain)
        .filter(|d| d.contains('.'))
        .any(|claimed| claimed != real && !real.ends_with(&format!(".{claimed}")))
}
