//! FETCH responses (RFC 9051 7.5.2): the `* n FETCH (...)` line and its data items — UID,
//! FLAGS, MODSEQ, INTERNALDATE, ENVELOPE and BODYSTRUCTURE from the stored parse, section
//! labels. Nothing here reads a message: [`crate::fetch`] says which bytes a section names.

use storage::meta::{Envelope, MailAddr, Part};
use storage::Flags;

use super::strings::{nstring_header as nstring, string};
use crate::fetch::{is_message, is_multipart};
use crate::protocol::{Section, SectionText};

/// A flag list, e.g. `(\Seen $Forwarded)`.
pub fn flag_list(flags: &Flags) -> String {
    format!("({flags})")
}

/// One `* n FETCH (...)` line being written: items are separated by one space.
pub struct FetchLine {
    /// The line so far. Literals streamed to the client take what it holds with them.
    pub out: Vec<u8>,
    first: bool,
}

impl FetchLine {
    /// `* n FETCH (`.
    pub fn new(seq: usize) -> FetchLine {
        FetchLine {
            out: format!("* {seq} FETCH (").into_bytes(),
            first: true,
        }
    }

    /// Starts an item: the separator, then `name` (e.g. `BODY[1]`); the caller writes the
    /// value.
    pub fn item(&mut self, name: &str) -> &mut Vec<u8> {
        if !std::mem::take(&mut self.first) {
            self.out.push(b' ');
        }
        self.out.extend_from_slice(name.as_bytes());
        &mut self.out
    }

    /// `UID n`.
    pub fn uid(&mut self, uid: i64) {
        self.item(&format!("UID {uid}"));
    }

    /// `FLAGS (...)`.
    pub fn flags(&mut self, flags: &Flags) {
        self.flags_recent(flags, false);
    }

    /// `FLAGS (...)`, with `\Recent` last when the message is recent in this session
    /// (RFC 3501 2.3.2; never stored, never for IMAP4rev2 sessions).
    pub fn flags_recent(&mut self, flags: &Flags, recent: bool) {
        let mut text = format!("FLAGS {}", flag_list(flags));
        if recent {
            text.pop();
            if !flags.is_empty() {
                text.push(' ');
            }
            text.push_str("\\Recent)");
        }
        self.item(&text);
    }

    /// `MODSEQ (n)` (RFC 7162 3.1.4.1).
    pub fn modseq(&mut self, modseq: i64) {
        self.item(&format!("MODSEQ ({modseq})"));
    }

    /// The finished line: `)` and CRLF.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.extend_from_slice(b")\r\n");
        self.out
    }

    /// The finished line without `* ` and CRLF, for a session's `untagged` (lines without
    /// literals only).
    pub fn untagged_text(mut self) -> String {
        self.out.push(b')');
        String::from_utf8_lossy(&self.out[2..]).into_owned()
    }
}

fn addresses(list: &[MailAddr], utf8: bool, out: &mut Vec<u8>) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for addr in list {
        // RFC 9051 7.5.2 group syntax: (NIL NIL "group" NIL) ... (NIL NIL NIL NIL).
        match addr.group.as_deref() {
            Some("") => {
                out.extend_from_slice(b"(NIL NIL NIL NIL)");
                continue;
            }
            Some(name) => {
                out.extend_from_slice(b"(NIL NIL ");
                nstring(Some(name), utf8, out);
                out.extend_from_slice(b" NIL)");
                continue;
            }
            None => {}
        }
        // RFC 9051 7.5.2: addr-adl is the source route (RFC 5322 4.4 obs-route,
        // `<@a,@b:user@host>`), kept apart from the mailbox.
        let (adl, address) = match addr.address.as_deref() {
            Some(a) if a.starts_with('@') => match a.split_once(':') {
                Some((route, rest)) => (Some(route), Some(rest)),
                None => (None, Some(a)),
            },
            other => (None, other),
        };
        let (mailbox, host) = match address.and_then(|a| a.rsplit_once('@')) {
            Some((m, h)) => (Some(m), Some(h)),
            None => (address, None),
        };
        out.push(b'(');
        nstring(addr.name.as_deref(), utf8, out);
        out.push(b' ');
        nstring(adl, utf8, out);
        out.push(b' ');
        nstring(mailbox, utf8, out);
        out.push(b' ');
        nstring(host, utf8, out);
        out.push(b')');
    }
    out.push(b')');
}

/// ENVELOPE (RFC 9051 7.5.2): sender and reply-to default to from.
pub fn envelope(env: &Envelope, utf8: bool, out: &mut Vec<u8>) {
    out.push(b'(');
    nstring(env.date.as_deref(), utf8, out);
    out.push(b' ');
    nstring(env.subject.as_deref(), utf8, out);
    out.push(b' ');
    addresses(&env.from, utf8, out);
    let or_from = |list| if Vec::is_empty(list) { &env.from } else { list };
    for list in [
        or_from(&env.sender),
        or_from(&env.reply_to),
        &env.to,
        &env.cc,
        &env.bcc,
    ] {
        out.push(b' ');
        addresses(list, utf8, out);
    }
    out.push(b' ');
    nstring(env.in_reply_to.as_deref(), utf8, out);
    out.push(b' ');
    nstring(env.message_id.as_deref(), utf8, out);
    out.push(b')');
}

fn params(list: &[(String, String)], utf8: bool, out: &mut Vec<u8>) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, (name, value)) in list.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        string(&name.to_ascii_uppercase(), out);
        out.push(b' ');
        nstring(Some(value), utf8, out);
    }
    out.push(b')');
}

fn extension(part: &Part, utf8: bool, out: &mut Vec<u8>) {
    out.push(b' ');
    match &part.disposition {
        Some((kind, list)) => {
            out.push(b'(');
            string(&kind.to_ascii_uppercase(), out);
            out.push(b' ');
            params(list, utf8, out);
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    match part.language.as_slice() {
        [] => out.extend_from_slice(b"NIL"),
        langs => {
            out.push(b'(');
            for (i, lang) in langs.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                string(lang, out);
            }
            out.push(b')');
        }
    }
    out.push(b' ');
    nstring(part.location.as_deref(), utf8, out);
}

/// BODY (`extended` = false) or BODYSTRUCTURE (`extended` = true).
pub fn body_structure(part: &Part, extended: bool, utf8: bool, out: &mut Vec<u8>) {
    out.push(b'(');
    if is_multipart(part) && !part.children.is_empty() {
        for child in &part.children {
            body_structure(child, extended, utf8, out);
        }
        out.push(b' ');
        string(&part.subtype.to_ascii_uppercase(), out);
        if extended {
            out.push(b' ');
            params(&part.params, utf8, out);
            extension(part, utf8, out);
        }
        out.push(b')');
        return;
    }
    let (kind, subtype) = if is_multipart(part) {
        // A multipart with no parts is shown as empty text (RFC 2046 5.1.1 needs one part).
        ("TEXT".to_string(), "PLAIN".to_string())
    } else {
        (
            part.content_type.to_ascii_uppercase(),
            part.subtype.to_ascii_uppercase(),
        )
    };
    string(&kind, out);
    out.push(b' ');
    string(&subtype, out);
    out.push(b' ');
    let default_charset = [("CHARSET".to_string(), "US-ASCII".to_string())];
    let params_list = if part.params.is_empty() && kind == "TEXT" {
        &default_charset[..]
    } else {
        &part.params[..]
    };
    params(params_list, utf8, out);
    out.push(b' ');
    nstring(part.id.as_deref(), utf8, out);
    out.push(b' ');
    nstring(part.description.as_deref(), utf8, out);
    out.push(b' ');
    let encoding = part
        .encoding
        .as_deref()
        .unwrap_or("7BIT")
        .to_ascii_uppercase();
    string(&encoding, out);
    out.extend_from_slice(
        format!(" {}", part.offset_end.saturating_sub(part.offset_body)).as_bytes(),
    );
    if is_message(part) {
        out.push(b' ');
        match &part.envelope {
            Some(env) => envelope(env, utf8, out),
            None => envelope(&Envelope::default(), utf8, out),
        }
        out.push(b' ');
        match part.children.first() {
            Some(nested) => body_structure(nested, extended, utf8, out),
            None => out.extend_from_slice(b"(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)"),
        }
        out.extend_from_slice(format!(" {}", part.lines).as_bytes());
    } else if kind == "TEXT" {
        out.extend_from_slice(format!(" {}", part.lines).as_bytes());
    }
    if extended {
        out.extend_from_slice(b" NIL");
        extension(part, utf8, out);
    }
    out.push(b')');
}

/// The section label as it appears in the response, e.g. `BODY[1.2.MIME]`.
pub fn section_label(section: &Section) -> String {
    let mut label: Vec<String> = section.part.iter().map(u32::to_string).collect();
    match &section.text {
        SectionText::Full => {}
        SectionText::Header => label.push("HEADER".into()),
        SectionText::Text => label.push("TEXT".into()),
        SectionText::Mime => label.push("MIME".into()),
        SectionText::HeaderFields(names) => {
            label.push(format!("HEADER.FIELDS ({})", names.join(" ")))
        }
        SectionText::HeaderFieldsNot(names) => {
            label.push(format!("HEADER.FIELDS.NOT ({})", names.join(" ")))
        }
    }
    label.join(".")
}

/// `dd-Mon-yyyy hh:mm:ss +0000` (RFC 9051 date-time).
pub fn internal_date(seconds: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(seconds)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{:02}-{}-{:04} {:02}:{:02}:{:02} +0000",
        t.day(),
        MONTHS[t.month() as usize - 1],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::tests::MIXED;
    use storage::MessageMeta;

    #[test]
    fn bodystructure_and_envelope() {
        let meta = MessageMeta::compute(MIXED);
        let mut out = vec![];
        body_structure(&meta.root, true, false, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 8 0 NIL NIL NIL NIL)(\"APPLICATION\" \"PDF\" (\"NAME\" \"a.pdf\") NIL NIL \"BASE64\" 8 NIL (\"ATTACHMENT\" (\"FILENAME\" \"a.pdf\")) NIL NIL) \"MIXED\""), "{text}");
        let mut out = vec![];
        envelope(&meta.envelope, false, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(
                "((\"=?UTF-8?B?Tmd1eeG7hW4gVsSDbiBBbg==?=\" NIL \"nvan.stttt\" \"kontum.gov.vn\"))"
            ),
            "{text}"
        );
        assert_eq!(internal_date(0), "01-Jan-1970 00:00:00 +0000");
    }

    #[test]
    fn fetch_lines() {
        let mut line = FetchLine::new(3);
        line.uid(7);
        line.flags(&Flags::from_stored("\\Seen $Label1"));
        line.modseq(12);
        line.item("BODY[]").extend_from_slice(b" NIL");
        assert_eq!(
            line.finish(),
            b"* 3 FETCH (UID 7 FLAGS (\\Seen $Label1) MODSEQ (12) BODY[] NIL)\r\n"
        );
        assert_eq!(flag_list(&Flags::new()), "()");
        let mut line = FetchLine::new(1);
        line.uid(2);
        assert_eq!(line.untagged_text(), "1 FETCH (UID 2)");
    }
}
