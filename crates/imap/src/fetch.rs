//! FETCH rendering from what storage computed at delivery (RFC 9051 7.5.2): ENVELOPE and
//! BODYSTRUCTURE from the stored parse, sections as slices of the blob at stored offsets.
//! Nothing here re-parses a message, except BINARY which decodes one part.

use base64::Engine;
use storage::meta::{Envelope, MailAddr, Part};

use crate::protocol::{Section, SectionText};

/// An IMAP string: quoted when safe, a literal otherwise.
pub fn string(text: &str, out: &mut Vec<u8>) {
    let safe = text.len() < 1024 && !text.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0);
    if safe {
        out.push(b'"');
        for b in text.bytes() {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        literal(text.as_bytes(), out);
    }
}

pub fn literal(bytes: &[u8], out: &mut Vec<u8>) {
    // RFC 9051 4.3: a literal holds no NUL; binary content goes in a literal8 (RFC 3516).
    let marker = if bytes.contains(&0) { "~" } else { "" };
    out.extend_from_slice(format!("{marker}{{{}}}\r\n", bytes.len()).as_bytes());
    out.extend_from_slice(bytes);
}

/// NIL or a string. Non-ASCII text is sent as an RFC 2047 encoded word unless the client
/// enabled UTF8=ACCEPT (RFC 9051 7.5.2: envelope fields carry header syntax).
pub fn nstring(text: Option<&str>, utf8: bool, out: &mut Vec<u8>) {
    match text {
        None => out.extend_from_slice(b"NIL"),
        Some(t) if t.is_ascii() || utf8 => string(t, out),
        Some(t) => string(&encoded_word(t), out),
    }
}

fn encoded_word(text: &str) -> String {
    format!(
        "=?UTF-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(text)
    )
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
        let (mailbox, host) = match addr.address.as_deref().and_then(|a| a.rsplit_once('@')) {
            Some((m, h)) => (Some(m), Some(h)),
            None => (addr.address.as_deref(), None),
        };
        out.push(b'(');
        nstring(addr.name.as_deref(), utf8, out);
        out.extend_from_slice(b" NIL ");
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
    out.push(b' ');
    addresses(
        if env.sender.is_empty() {
            &env.from
        } else {
            &env.sender
        },
        utf8,
        out,
    );
    out.push(b' ');
    addresses(
        if env.reply_to.is_empty() {
            &env.from
        } else {
            &env.reply_to
        },
        utf8,
        out,
    );
    for list in [&env.to, &env.cc, &env.bcc] {
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

fn is_multipart(part: &Part) -> bool {
    part.content_type == "multipart"
}

fn is_message(part: &Part) -> bool {
    part.content_type == "message" && (part.subtype == "rfc822" || part.subtype == "global")
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

/// The part a section path names (RFC 9051 6.4.5: part 1 of a non-multipart is itself; the
/// parts of a message/rfc822 are those of the message it holds).
pub fn find_part<'a>(root: &'a Part, path: &[u32]) -> Option<&'a Part> {
    let mut current = root;
    for &n in path {
        if is_message(current) {
            current = current.children.first()?;
        }
        if is_multipart(current) {
            current = current.children.get((n as usize).checked_sub(1)?)?;
        } else if n != 1 {
            return None;
        }
    }
    Some(current)
}

fn slice(blob: &[u8], start: u32, end: u32) -> &[u8] {
    let end = (end as usize).min(blob.len());
    let start = (start as usize).min(end);
    &blob[start..end]
}

/// Header fields of a header block whose names are (or are not) in `names`.
fn header_fields(header: &[u8], names: &[String], include: bool) -> Vec<u8> {
    let bare_lf = !header.windows(2).any(|w| w == b"\r\n");
    let mut out = Vec::new();
    let mut keep = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if !(line.starts_with(b" ") || line.starts_with(b"\t")) {
            let name = line.split(|&b| b == b':').next().unwrap_or(&[]);
            let name = String::from_utf8_lossy(name);
            let listed = names.iter().any(|n| n.eq_ignore_ascii_case(name.trim()));
            keep = listed == include;
        }
        if keep {
            out.extend_from_slice(line);
        }
    }
    // The blank line ends the block, in the message's own line ending.
    out.extend_from_slice(if bare_lf { b"\n" } else { b"\r\n" });
    out
}

/// Where a BODY[section] comes from: a byte range of the message, or the fields picked from a
/// header block. Computed from the stored parse alone, so large ranges can be streamed.
#[derive(Debug, PartialEq, Eq)]
pub enum SectionSource<'a> {
    Range(u64, u64),
    Fields {
        start: u64,
        end: u64,
        names: &'a [String],
        include: bool,
    },
}

impl SectionSource<'_> {
    /// Materialises the section from `bytes`, which hold the message from offset `base` on.
    pub fn render(&self, bytes: &[u8], base: u64) -> Vec<u8> {
        let local = |start: u64, end: u64| {
            let end = (end.saturating_sub(base) as usize).min(bytes.len());
            let start = (start.saturating_sub(base) as usize).min(end);
            &bytes[start..end]
        };
        match self {
            SectionSource::Range(start, end) => local(*start, *end).to_vec(),
            SectionSource::Fields {
                start,
                end,
                names,
                include,
            } => header_fields(local(*start, *end), names, *include),
        }
    }
}

/// Where the bytes of BODY[section] are in a message of `len` bytes, or None when the section
/// does not exist.
pub fn section_source<'a>(
    root: &Part,
    len: u64,
    section: &'a Section,
) -> Option<SectionSource<'a>> {
    let part = find_part(root, &section.part)?;
    // HEADER/TEXT of a message/rfc822 part refer to the message it holds.
    let message_root = if section.part.is_empty() {
        Some(root)
    } else if is_message(part) {
        part.children.first()
    } else {
        None
    };
    let end_of = |p: &Part| {
        if std::ptr::eq(p, root) {
            len
        } else {
            u64::from(p.offset_end)
        }
    };
    let range = |start: u32, end: u64| SectionSource::Range(u64::from(start), end);
    Some(match &section.text {
        SectionText::Full if section.part.is_empty() => SectionSource::Range(0, len),
        SectionText::Full => range(part.offset_body, part.offset_end.into()),
        SectionText::Mime => range(part.offset_header, part.offset_body.into()),
        SectionText::Header => {
            let m = message_root?;
            range(m.offset_header, m.offset_body.into())
        }
        SectionText::Text => {
            let m = message_root?;
            range(m.offset_body, end_of(m))
        }
        SectionText::HeaderFields(names) | SectionText::HeaderFieldsNot(names) => {
            let m = message_root?;
            SectionSource::Fields {
                start: m.offset_header.into(),
                end: m.offset_body.into(),
                names,
                include: matches!(section.text, SectionText::HeaderFields(_)),
            }
        }
    })
}

/// The bytes of a BODY[section], or None when the section does not exist.
pub fn section_bytes(blob: &[u8], root: &Part, section: &Section) -> Option<Vec<u8>> {
    section_source(root, blob.len() as u64, section).map(|source| source.render(blob, 0))
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

fn decode_quoted_printable(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'=' {
            if input.get(i + 1) == Some(&b'\r') && input.get(i + 2) == Some(&b'\n') {
                i += 3;
                continue;
            }
            if input.get(i + 1) == Some(&b'\n') {
                i += 2;
                continue;
            }
            let hex = input
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(byte) = hex {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

/// Where BINARY[part] (RFC 3516) comes from: the part body's byte range and its transfer
/// encoding (lower case). None when the part does not exist.
pub fn binary_source(root: &Part, len: u64, path: &[u32]) -> Option<(u64, u64, String)> {
    if path.is_empty() {
        return Some((0, len, "binary".to_string()));
    }
    let part = find_part(root, path)?;
    let encoding = part
        .encoding
        .as_deref()
        .unwrap_or("7bit")
        .to_ascii_lowercase();
    Some((part.offset_body.into(), part.offset_end.into(), encoding))
}

/// True for transfer encodings that leave the body as it is.
pub fn is_identity(encoding: &str) -> bool {
    matches!(encoding, "7bit" | "8bit" | "binary")
}

/// Undoes a transfer encoding; None for an unknown one or undecodable content (the caller
/// answers NO [UNKNOWN-CTE]).
pub fn decode_body(body: &[u8], encoding: &str) -> Option<Vec<u8>> {
    match encoding {
        "base64" => {
            let clean: Vec<u8> = body
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(&clean)
                .or_else(|_| {
                    base64::engine::general_purpose::STANDARD_NO_PAD
                        .decode(clean.trim_ascii_end().strip_suffix(b"=").unwrap_or(&clean))
                })
                .ok()
        }
        "quoted-printable" => Some(decode_quoted_printable(body)),
        "7bit" | "8bit" | "binary" => Some(body.to_vec()),
        _ => None,
    }
}

/// BINARY[part] (RFC 3516): the part's body with its transfer encoding undone. None when the
/// part does not exist, Some(Err) when the encoding is unknown.
pub fn binary_bytes(blob: &[u8], root: &Part, path: &[u32]) -> Option<Result<Vec<u8>, ()>> {
    let (start, end, encoding) = binary_source(root, blob.len() as u64, path)?;
    let body = slice(blob, start as u32, end as u32);
    Some(decode_body(body, &encoding).ok_or(()))
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
    use storage::MessageMeta;

    const MIXED: &[u8] = b"From: =?UTF-8?B?Tmd1eeG7hW4gVsSDbiBBbg==?= <nvan.stttt@kontum.gov.vn>\r\n\
To: b@kontum.gov.vn\r\nSubject: test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n\
--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nxin chao\r\n--XX\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\n\r\nJVBERi0=\r\n--XX--\r\n";

    #[test]
    fn sections_slice_the_blob() {
        let meta = MessageMeta::compute(MIXED);
        let section = |part: Vec<u32>, text| Section { part, text };
        assert_eq!(
            section_bytes(MIXED, &meta.root, &section(vec![1], SectionText::Full)).unwrap(),
            b"xin chao"
        );
        assert_eq!(
            section_bytes(MIXED, &meta.root, &section(vec![2], SectionText::Mime)).unwrap(),
            b"Content-Type: application/pdf; name=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\n\r\n"
        );
        let fields = section_bytes(
            MIXED,
            &meta.root,
            &section(
                vec![],
                SectionText::HeaderFields(vec!["subject".into(), "TO".into()]),
            ),
        )
        .unwrap();
        assert_eq!(fields, b"To: b@kontum.gov.vn\r\nSubject: test\r\n\r\n");
        assert!(section_bytes(MIXED, &meta.root, &section(vec![3], SectionText::Full)).is_none());
        assert_eq!(
            binary_bytes(MIXED, &meta.root, &[2]).unwrap().unwrap(),
            b"%PDF-"
        );
    }

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
}
