//! What FETCH items are made of, from what storage computed at delivery: the part a section
//! path names, the byte range of a BODY[section] at stored offsets, BINARY's decoding of a
//! transfer encoding. Nothing here re-parses a message, except BINARY which decodes one part;
//! the response bytes are written by [`crate::encode`].

use base64::Engine;
use storage::meta::Part;

use crate::protocol::{Section, SectionText};

/// True for a multipart part.
pub(crate) fn is_multipart(part: &Part) -> bool {
    part.content_type == "multipart"
}

/// True for a message/rfc822 (or message/global) part: its parts are those of the message
/// it holds.
pub(crate) fn is_message(part: &Part) -> bool {
    part.content_type == "message" && (part.subtype == "rfc822" || part.subtype == "global")
}

/// The part a section path names (RFC 9051 6.4.5: part 1 of a non-multipart is itself; the
/// parts of a message/rfc822 part are those of the message it holds). A message/rfc822 part
/// named by a number is the part itself — its body is the whole encapsulated message — and
/// only a further number goes inside: for a message whose own type is message/rfc822,
/// `1` is its body (the encapsulated message) and `1.1` the first part of that message.
pub fn find_part<'a>(root: &'a Part, path: &[u32]) -> Option<&'a Part> {
    let mut current = root;
    for (depth, &n) in path.iter().enumerate() {
        if depth > 0 && is_message(current) {
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
    let end_of = |p: &Part| {
        if std::ptr::eq(p, root) {
            len
        } else {
            u64::from(p.offset_end)
        }
    };
    // HEADER/TEXT of a message/rfc822 part refer to the message it holds, which is exactly
    // that part's body: its text runs to the end of the part.
    let (message_root, message_end) = if section.part.is_empty() {
        (Some(root), len)
    } else if is_message(part) {
        (part.children.first(), end_of(part))
    } else {
        (None, 0)
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
            range(m.offset_body, message_end.max(m.offset_body.into()))
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

/// RFC 2045 6.7: quoted-printable decoding, line by line. Trailing blanks (space, tab) of
/// an encoded line are dropped — rule (3): they were added in transport; a line then ending
/// in `=` is a soft line break — rule (5): the `=` and the line break go. A hard line break
/// stays as the line ended (CRLF, or a bare LF as stored). `=XX` is a byte (lower-case hex
/// accepted, as the RFC's robustness note allows); any other `=` is kept as it is.
fn decode_quoted_printable(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    for line in input.split_inclusive(|&b| b == b'\n') {
        let (text, ending): (&[u8], &[u8]) = if let Some(t) = line.strip_suffix(b"\r\n") {
            (t, b"\r\n")
        } else if let Some(t) = line.strip_suffix(b"\n") {
            (t, b"\n")
        } else {
            (line, b"")
        };
        let end = text
            .iter()
            .rposition(|b| !matches!(b, b' ' | b'\t'))
            .map_or(0, |i| i + 1);
        let text = &text[..end];
        let (text, soft) = match text.strip_suffix(b"=") {
            Some(t) => (t, true),
            None => (text, false),
        };
        let mut i = 0;
        while i < text.len() {
            if text[i] == b'=' {
                let hex = text
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(byte) = hex {
                    out.push(byte);
                    i += 3;
                    continue;
                }
            }
            out.push(text[i]);
            i += 1;
        }
        if !soft {
            out.extend_from_slice(ending);
        }
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use storage::MessageMeta;

    pub(crate) const MIXED: &[u8] = b"From: =?UTF-8?B?Tmd1eeG7hW4gVsSDbiBBbg==?= <nvan.stttt@kontum.gov.vn>\r\n\
To: b@kontum.gov.vn\r\nSubject: test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n\
--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nxin chao\r\n--XX\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\n\r\nJVBERi0=\r\n--XX--\r\n";

    #[test]
    fn quoted_printable_follows_rfc_2045_6_7() {
        let qp = |s: &[u8]| decode_quoted_printable(s);
        // Rule (3): trailing blanks of an encoded line are transport padding.
        assert_eq!(qp(b"a b \t\r\nc\r\n"), b"a b\r\nc\r\n");
        // Rule (5): `=` last on the line, even before trailing blanks, is a soft break.
        assert_eq!(qp(b"ab= \t\r\ncd=\r\nef"), b"abcdef");
        assert_eq!(qp(b"ab=\ncd\n"), b"abcd\n");
        // Rule (1): =XX is a byte; a bad escape stays as written.
        assert_eq!(qp(b"=C3=A0=c3=a0 =ZZ =4"), "àà =ZZ =4".as_bytes());
        // The last line without a line break loses its trailing blanks too.
        assert_eq!(qp(b"end  "), b"end");
        // `x==` and blanks: the last `=` is a soft break, the one before escapes nothing and
        // stays.
        assert_eq!(qp(b"x== \r\ny"), b"x=y");
    }

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
}
