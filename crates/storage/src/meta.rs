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

fn addrs(address: Option<&Address>) -> Vec<MailAddr> {
    address
        .map(|list| {
            list.iter()
                .map(|a| MailAddr {
                    name: a.name.as_ref().map(|n| n.to_string()),
                    address: a.address.as_ref().map(|n| n.to_string()),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn envelope_of(message: &mail_parser::Message) -> Envelope {
    let in_reply_to = match message.in_reply_to() {
        mail_parser::HeaderValue::Text(t) => Some(format!("<{t}>")),
        mail_parser::HeaderValue::TextList(list) => Some(
            list.iter()
                .map(|t| format!("<{t}>"))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        _ => None,
    };
    Envelope {
        date: message.header_raw("Date").map(|d| d.trim().to_string()),
        date_ts: message.date().map(|d| d.to_timestamp()),
        subject: message.subject().map(str::to_string),
        from: addrs(message.from()),
        sender: addrs(message.sender()),
        reply_to: addrs(message.reply_to()),
        to: addrs(message.to()),
        cc: addrs(message.cc()),
        bcc: addrs(message.bcc()),
        in_reply_to,
        message_id: message.message_id().map(|m| format!("<{m}>")),
    }
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
) -> Part {
    let part = &message.parts[index];
    let (content_type, subtype, params) = match part.content_type() {
        Some(ct) => (
            ct.c_type.to_ascii_lowercase(),
            ct.c_subtype.as_deref().unwrap_or("").to_ascii_lowercase(),
            ct.attributes
                .as_ref()
                .map(|a| {
                    a.iter()
                        .map(|p| (p.name.to_string(), p.value.to_string()))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        None => ("text".to_string(), "plain".to_string(), vec![]),
    };
    let disposition = part.content_disposition().map(|d| {
        (
            d.c_type.to_ascii_lowercase(),
            d.attributes
                .as_ref()
                .map(|a| {
                    a.iter()
                        .map(|p| (p.name.to_string(), p.value.to_string()))
                        .collect()
                })
                .unwrap_or_default(),
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
        id: part.content_id().map(str::to_string),
        description: part.content_description().map(str::to_string),
        encoding: part.content_transfer_encoding().map(str::to_string),
        disposition,
        language: part
            .content_language()
            .as_text_list()
            .map(|l| l.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default(),
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
        PartType::Binary(_) | PartType::InlineBinary(_) => {}
        PartType::Multipart(children) => {
            for &child in children {
                let child = child as usize;
                if child != index && child < message.parts.len() {
                    out.children.push(part_of(message, child, base, raw, meta));
                }
            }
        }
        PartType::Message(nested) => {
            out.lines = count_lines(body_bytes);
            out.envelope = Some(Box::new(envelope_of(nested)));
            // The nested message's offsets are relative to its own raw bytes, which start at
            // this part's body.
            if !nested.parts.is_empty() {
                out.children
                    .push(part_of(nested, 0, offset_body, raw, meta));
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
                meta.envelope = envelope_of(&message);
                meta.root = part_of(&message, 0, 0, raw, &mut meta);
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
