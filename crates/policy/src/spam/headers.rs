//! Missing, malformed and forged header fields, and a Date far from the arrival time.

use super::{Hits, Parsed};

/// Free-mail providers (domains, lower case; `yahoo.` and the like match any country domain).
/// Replies sent to one of them from mail that claims another sender is a phishing habit.
pub const FREEMAIL: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.",
    "ymail.com",
    "hotmail.",
    "outlook.com",
    "live.com",
    "msn.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "mail.com",
    "gmx.",
    "yandex.",
    "mail.ru",
    "qq.com",
    "163.com",
    "126.com",
    "sina.com",
    "excite.com",
    "zoho.com",
    "protonmail.com",
    "proton.me",
];

/// Top-level domains that serve mostly throw-away spam domains (SpamAssassin's
/// FROM_SUSPICIOUS_NTLD list is of the same kind).
pub const SUSPICIOUS_TLDS: &[&str] = &[
    "top", "xyz", "club", "online", "site", "icu", "work", "loan", "win", "bid", "review", "vip",
    "cyou", "buzz", "rest", "click", "link", "gq", "ml", "cf", "tk", "ga", "monster", "sbs", "cfd",
    "quest", "zip", "mov", "bet", "casino", "poker",
];

/// A Date more than this after arrival is in the future (SpamAssassin's DATE_IN_FUTURE_12_24
/// starts at 12 h).
pub const FUTURE_SECS: i64 = 12 * 3600;
/// A Date more than this before arrival is in the past (SpamAssassin's DATE_IN_PAST_96_XX).
pub const PAST_SECS: i64 = 96 * 3600;

pub(super) fn check(
    message: &Parsed,
    arrived: i64,
    auth: &super::auth::AuthFacts,
    hits: &mut Hits,
) {
    // RFC 5322 3.6.4: msg-id = "<" id-left "@" id-right ">".
    match message.message_id.as_deref() {
        None => hits.fire("MISSING_MID"),
        Some(id) if !msg_id_well_formed(id) => hits.fire("MSGID_MALFORMED"),
        Some(id) if msg_id_spam_caps(id) => hits.fire("MSGID_SPAM_CAPS"),
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
            let from_domain = domain_of(address);
            if suspicious_tld(from_domain) {
                hits.fire("FROM_SUSPICIOUS_NTLD");
            }
            // Mail whose From domain passed DMARC is that domain's: neither forged, nor are
            // its replies sent elsewhere behind its back (a portal's form with the
            // citizen's address as Reply-To).
            let authentic = auth.dmarc == super::AuthOutcome::Pass;
            if !authentic && freemail_relay_missing(message, from_domain) {
                hits.fire("FORGED_FREEMAIL_RCVD");
            }
            // SpamAssassin's FREEMAIL_FORGED_REPLYTO: free-mail in Reply-To, not in From.
            let replies_to_freemail = message
                .reply_to
                .iter()
                .filter_map(|a| a.address.as_deref())
                .any(|a| is_freemail(domain_of(a)));
            if !authentic && replies_to_freemail && !is_freemail(from_domain) {
                hits.fire("FREEMAIL_FORGED_REPLYTO");
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

/// Whether a domain's top-level domain is one of [`SUSPICIOUS_TLDS`].
pub fn suspicious_tld(domain: &str) -> bool {
    domain
        .rsplit('.')
        .next()
        .is_some_and(|tld| SUSPICIOUS_TLDS.contains(&tld))
}

/// Whether `domain` is a provider's: `name` itself, or for `name.` (as `yahoo.`) any domain
/// under that name's country domains (yahoo.com, yahoo.com.vn, yahoo.co.jp).
fn provider_matches(name: &str, domain: &str) -> bool {
    match name.strip_suffix('.') {
        Some(stem) => domain
            .strip_prefix(stem)
            .is_some_and(|rest| rest.starts_with('.')),
        None => domain == name,
    }
}

/// The domain of an address (lower case when the address was).
fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, d)| d)
}

/// Whether a domain is a free-mail provider's ([`FREEMAIL`]).
pub fn is_freemail(domain: &str) -> bool {
    FREEMAIL.iter().any(|f| provider_matches(f, domain))
}

/// The large free-mail providers and the names their own relays and signatures carry.
const FREEMAIL_RELAYS: &[(&str, &[&str])] = &[
    ("gmail.com", &["google.com", "gmail.com"]),
    ("googlemail.com", &["google.com", "googlemail.com"]),
    (
        "yahoo.",
        &["yahoo.com", "yahoodns.net", "yahoo.net", "yahoo.co.jp"],
    ),
    ("hotmail.", &["outlook.com", "hotmail.com", "live.com"]),
    ("outlook.com", &["outlook.com", "hotmail.com"]),
];

/// The From address is at a large free-mail provider, yet no Received field and no DKIM
/// signature names that provider: the mail did not come through it (SpamAssassin's
/// FORGED_GMAIL_RCVD, FORGED_YAHOO_RCVD, FORGED_HOTMAIL_RCVD). Only for a message that has
/// Received fields at all.
fn freemail_relay_missing(message: &Parsed, from_domain: &str) -> bool {
    let Some((_, names)) =
        FREEMAIL_RELAYS
            .iter()
            .find(|(provider, _)| match provider.strip_suffix('.') {
                Some(name) => from_domain
                    .strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('.')),
                None => from_domain == *provider,
            })
    else {
        return false;
    };
    let mut traced = message
        .headers
        .iter()
        .filter(|(n, _)| {
            n.eq_ignore_ascii_case("received") || n.eq_ignore_ascii_case("dkim-signature")
        })
        .peekable();
    traced.peek().is_some()
        && !traced.any(|(_, v)| {
            let v = v.to_ascii_lowercase();
            names.iter().any(|name| v.contains(name))
        })
}

/// A Message-ID whose left part is a long run of capitals and nothing else, as ratware
/// writes them (`<SHLMCGSQPOYZLKVTOKMEVA@example.com>`; SpamAssassin's MSGID_SPAM_CAPS).
fn msg_id_spam_caps(id: &str) -> bool {
    let left = id
        .trim()
        .trim_start_matches('<')
        .split('@')
        .next()
        .unwrap_or("");
    left.len() >= 15 && left.bytes().all(|b| b.is_ascii_uppercase())
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
