//! The parse of a message that IMAP needs, computed once at delivery (mail-parser) and stored as
//! JSON beside the message row, so FETCH and SEARCH never re-parse headers or MIME structure.
//!
//! Offsets are absolute byte positions in the stored blob, so a section fetch is a slice.

use mail_parser::{Address, MessageParser, MimeHeaders, PartType};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MailAddr {
    /// Decoded display name (RFC 2047), UTF-8.
    pub name: Option<String>,
    pub address: Option<String>,
    /// Group syntax (RFC 5322 3.4): `Some(name)` on the start marker, `Some("")` on the end
    /// marker; ENVELOPE renders them as RFC 9051 7.5.2 group markers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// Decoded header fields (the ENVELOPE and the text SEARCH works on).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Envelope {
    pub date: Option<String>,
    /// The Date: header as Unix seconds (SEARCH SENTBEFORE and friends).
    pub date_ts: Option<i64>,
    pub subject: Option<String>,
    pub from: Vec<MailAddr>,
    pub sender: Vec<MailAddr>,
    pub reply_to: Vec<MailAddr>,
    pub to: Vec<MailAddr>,
    pub cc: Vec<MailAddr>,
    pub bcc: Vec<MailAddr>,
    pub in_reply_to: Option<String>,
    pub message_id: Option<String>,
}

/// One MIME part, with its children (multipart) or the nested message (message/rfc822).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Part {
    pub content_type: String,
    pub subtype: String,
    pub params: Vec<(String, String)>,
    pub id: Option<String>,
    pub description: Option<String>,
    pub encoding: Option<String>,
    pub disposition: Option<(String, Vec<(String, String)>)>,
    pub language: Vec<String>,
    /// Content-Location (RFC 2557), raw.
    #[serde(default)]
    pub location: Option<String>,
    pub offset_header: u32,
    pub offset_body: u32,
    pub offset_end: u32,
    /// Lines of the body (text parts and message/rfc822).
    pub lines: u32,
    pub children: Vec<Part>,
    /// For message/rfc822: the nested message's envelope.
    pub envelope: Option<Box<Envelope>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MessageMeta {
    pub envelope: Envelope,
    pub root: Part,
    /// Decoded text of the body parts (for SEARCH BODY/TEXT), truncated to a bound.
    pub text: String,
    /// Attachment file names, decoded (RFC 2231 / RFC 2047).
    pub attachment_names: Vec<String>,
}

/// Most body text kept for searching, per message.
const MAX_SEARCH_TEXT: usize = 256 * 1024;

fn addr(a: &mail_parser::Addr) -> MailAddr {
    MailAddr {
        name: a.name.as_ref().map(|n| n.to_string()),
        address: a.address.as_ref().map(|n| n.to_string()),
        group: None,
    }
}

fn addrs(address: Option<&Address>) -> Vec<MailAddr> {
    match address {
        None => vec![],
        Some(Address::List(list)) => list.iter().map(addr).collect(),
        Some(Address::Group(groups)) => {
            let mut out = vec![];
            for group in groups {
                match &group.name {
                    // Addresses outside any group come as a nameless group.
                    None => out.extend(group.addresses.iter().map(addr)),
                    Some(name) => {
                        out.push(MailAddr {
                            group: Some(name.to_string()),
                            ..MailAddr::default()
                        });
                        out.extend(group.addresses.iter().map(addr));
                        out.push(MailAddr {
                            group: Some(String::new()),
                            ..MailAddr::default()
                        });
                    }
                }
            }
            out
        }
    }
}

/// The raw value of a header field of `headers` (absolute offsets into `raw`), unfolded.
fn raw_value(headers: &[mail_parser::Header], raw: &[u8], name: &str) -> Option<String> {
    let header = headers
        .iter()
        .find(|h| h.name.as_str().eq_ignore_ascii_case(name))?;
    let bytes =
        raw.get(header.offset_start as usize..(header.offset_end as usize).min(raw.len()))?;
    let text = String::from_utf8_lossy(bytes);
    let unfolded: Vec<&str> = text
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    Some(unfolded.join(" "))
}

fn envelope_of(message: &mail_parser::Message, raw: &[u8]) -> Envelope {
    let headers = message.parts.first().map(|p| &p.headers[..]).unwrap_or(&[]);
    // RFC 9051 7.5.2: message-id and in-reply-to are the header values as written.
    let raw_field = |name: &str| raw_value(headers, raw, name).filter(|v| !v.is_empty());
    // A Subject present but empty is "", not NIL.
    // Undecodable encoded words (unknown charset) stay as written (RFC 2047 6.2).
    let subject = match (message.subject(), raw_value(headers, raw, "Subject")) {
        (Some(decoded), Some(raw)) if decoded.contains('\u{FFFD}') && raw.contains("=?") => {
            Some(raw)
        }
        (Some(decoded), _) => Some(decoded.to_string()),
        (None, raw) => raw.map(|_| String::new()),
    };
    Envelope {
        date: raw_field("Date"),
        date_ts: message.date().map(|d| d.to_timestamp()),
        subject,
        from: addrs(message.from()),
        sender: addrs(message.sender()),
        reply_to: addrs(message.reply_to()),
        to: addrs(message.to()),
        cc: addrs(message.cc()),
        bcc: addrs(message.bcc()),
        in_reply_to: raw_field("In-Reply-To"),
        message_id: raw_field("Message-ID"),
    }
}

/// RFC 2046 5.1.5: in multipart/digest a part without Content-Type is message/rfc822; its
/// body is parsed as the message it holds (offsets relative to that body).
fn digest_message(
    part: &mail_parser::MessagePart,
    base: u32,
    raw: &[u8],
    meta: &mut MessageMeta,
) -> Part {
    let offset_header = base + part.offset_header;
    let offset_body = base + part.offset_body;
    let offset_end = base + part.offset_end;
    let body = raw
        .get(offset_body as usize..(offset_end as usize).min(raw.len()))
        .unwrap_or(&[]);
    let mut out = Part {
        content_type: "message".into(),
        subtype: "rfc822".into(),
        offset_header,
        offset_body,
        offset_end,
        lines: count_lines(body),
        ..Part::default()
    };
    if let Some(nested) = MessageParser::default().parse(body) {
        out.envelope = Some(Box::new(envelope_of(&nested, body)));
        if !nested.parts.is_empty() {
            out.children
                .push(part_of(&nested, 0, offset_body, raw, meta, false));
        }
    }
    out
}

/// Parameters as written: mail-parser adds `<name>-language` for RFC 2231 language tags,
/// which are not parameters of the message; they are dropped.
fn clean_params(attributes: Option<&[mail_parser::Attribute]>) -> Vec<(String, String)> {
    let attributes = attributes.unwrap_or(&[]);
    attributes
        .iter()
        .filter(|p| {
            let name = p.name.to_ascii_lowercase();
            !name
                .strip_suffix("-language")
                .is_some_and(|base| attributes.iter().any(|q| q.name.eq_ignore_ascii_case(base)))
        })
        .map(|p| (p.name.to_string(), p.value.to_string()))
        .collect()
}

fn count_lines(bytes: &[u8]) -> u32 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u32
}

fn part_of(
    message: &mail_parser::Message,
    index: usize,
    base: u32,
    raw: &[u8],
    meta: &mut MessageMeta,
    in_digest: bool,
) -> Part {
    let part = &message.parts[index];
    if in_digest && part.content_type().is_none() {
        return digest_message(part, base, raw, meta);
    }
    let (content_type, subtype, params) = match part.content_type() {
        Some(ct) => {
            let kind = ct.c_type.to_ascii_lowercase();
            // RFC 2045 5.2: a bare "text" is text/plain.
            let subtype = match ct.c_subtype.as_deref() {
                Some(sub) if !sub.is_empty() => sub.to_ascii_lowercase(),
                _ if kind == "text" => "plain".to_string(),
                _ => String::new(),
            };
            (kind, subtype, clean_params(ct.attributes.as_deref()))
        }
        None => ("text".to_string(), "plain".to_string(), vec![]),
    };
    let disposition = part.content_disposition().map(|d| {
        (
            d.c_type.to_ascii_lowercase(),
            clean_params(d.attributes.as_deref()),
        )
    });
    let offset_header = base + part.offset_header;
    let offset_body = base + part.offset_body;
    let offset_end = base + part.offset_end;
    let body_bytes = raw
        .get(offset_body as usize..(offset_end as usize).min(raw.len()))
        .unwrap_or(&[]);
    let mut out = Part {
        content_type,
        subtype,
        params,
        // RFC 2045 7: the Content-ID as written, angle brackets included.
        id: raw_value(&part.headers, raw, "Content-ID"),
        description: part.content_description().map(str::to_string),
        encoding: part.content_transfer_encoding().map(str::to_string),
        disposition,
        language: part
            .content_language()
            .as_text_list()
            .map(|l| l.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default(),
        location: raw_value(&part.headers, raw, "Content-Location"),
        offset_header,
        offset_body,
        offset_end,
        lines: 0,
        children: vec![],
        envelope: None,
    };
    if let Some(name) = part.attachment_name() {
        meta.attachment_names.push(name.to_string());
    }
    match &part.body {
        PartType::Text(text) | PartType::Html(text) => {
            out.lines = count_lines(body_bytes);
            if meta.text.len() < MAX_SEARCH_TEXT {
                let room = MAX_SEARCH_TEXT - meta.text.len();
                let mut cut = text.len().min(room);
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                meta.text.push_str(&text[..cut]);
                meta.text.push('\n');
            }
        }
        PartType::Multipart(children) => {
            if children.is_empty() {
                // No usable boundary: shown as text, so its lines count.
                out.lines = count_lines(body_bytes);
            }
            for &child in children {
                let child = child as usize;
                if child != index && child < message.parts.len() {
                    let digest = out.subtype == "digest";
                    out.children
                        .push(part_of(message, child, base, raw, meta, digest));
                }
            }
        }
        PartType::Binary(_) | PartType::InlineBinary(_) if out.content_type == "multipart" => {
            // A multipart without a usable boundary is shown as text: its lines count.
            out.lines = count_lines(body_bytes);
        }
        PartType::Binary(_) | PartType::InlineBinary(_) => {}
        PartType::Message(nested) => {
            out.lines = count_lines(body_bytes);
            out.envelope = Some(Box::new(envelope_of(nested, raw)));
            // mail-parser parses an inline message in the same stream: its offsets are already
            // absolute.
            if !nested.parts.is_empty() {
                out.children
                    .push(part_of(nested, 0, base, raw, meta, false));
            }
        }
    }
    out
}

impl MessageMeta {
    /// Parses `raw` once. Never fails: unparseable input yields a text/plain root spanning it.
    pub fn compute(raw: &[u8]) -> MessageMeta {
        let mut meta = MessageMeta::default();
        match MessageParser::default().parse(raw) {
            Some(message) if !message.parts.is_empty() => {
                meta.envelope = envelope_of(&message, raw);
                meta.root = part_of(&message, 0, 0, raw, &mut meta, false);
            }
            _ => {
                meta.root = Part {
                    content_type: "text".into(),
                    subtype: "plain".into(),
                    offset_end: raw.len() as u32,
                    lines: count_lines(raw),
                    ..Part::default()
                };
            }
        }
        meta
    }

    /// Accounts for `n` bytes of header fields prepended to the parsed message (trace headers):
    /// the root header still starts at 0, everything else moves by `n`.
    pub fn shift(&mut self, n: u32) {
        fn shift_part(part: &mut Part, n: u32, is_root: bool) {
            if !is_root {
                part.offset_header += n;
            }
            part.offset_body += n;
            part.offset_end += n;
            for child in &mut part.children {
                shift_part(child, n, false);
            }
        }
        shift_part(&mut self.root, n, true);
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("MessageMeta serialises")
    }

    pub fn from_json(text: &str) -> Option<MessageMeta> {
        serde_json::from_str(text).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_vietnamese_subject_and_names() {
        let raw = b"From: =?UTF-8?B?Tmd1eeG7hW4gVsSDbiBBbg==?= <nvan.stttt@kontum.gov.vn>\r\n\
To: a@b.vn\r\nSubject: =?UTF-8?Q?C=C3=B4ng_v=C4=83n?=\r\nMessage-ID: <x@y>\r\n\r\nBody\r\n";
        let meta = MessageMeta::compute(raw);
        assert_eq!(meta.envelope.subject.as_deref(), Some("Công văn"));
        assert_eq!(meta.envelope.from[0].name.as_deref(), Some("Nguyễn Văn An"));
        assert_eq!(meta.envelope.message_id.as_deref(), Some("<x@y>"));
        assert_eq!(meta.root.content_type, "text");
        assert!(meta.text.contains("Body"));
    }

    #[test]
    fn multipart_offsets_slice_the_parts() {
        let raw = b"Subject: t\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
Content-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: application/pdf; name=\"t\xe1\xbb\x9d.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b--\r\n";
        let meta = MessageMeta::compute(raw);
        assert_eq!(meta.root.subtype, "mixed");
        assert_eq!(meta.root.children.len(), 2);
        let first = &meta.root.children[0];
        assert_eq!(
            &raw[first.offset_body as usize..first.offset_end as usize],
            b"hello"
        );
        assert_eq!(meta.root.children[1].subtype, "pdf");
    }

    #[test]
    fn garbage_still_has_a_root() {
        let meta = MessageMeta::compute(b"\xff\xfe no headers at all");
        assert!(meta.root.offset_end > 0);
    }
}
