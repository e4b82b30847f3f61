//! A message's features for the rules and the classifier, read once from its bytes with
//! mail-parser (bounded by the caller's message size; the text the rules read is cut at
//! [`MAX_TEXT`]).

use mail_parser::{MessageParser, MimeHeaders, PartType};
use unicode_normalization::UnicodeNormalization;

use super::content;

/// Text beyond this many bytes (decoded, all parts) is not read by rules or the tokeniser.
pub const MAX_TEXT: usize = 512 * 1024;

/// One address of a header field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Address {
    pub name: Option<String>,
    pub address: Option<String>,
}

/// A link of an HTML part: its target and its text (tags removed).
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub href: String,
    pub text: String,
}

#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// The top header block, unfolded, raw (name, value).
    pub headers: Vec<(String, String)>,
    /// Decoded Subject (RFC 2047).
    pub subject: Option<String>,
    pub from: Vec<Address>,
    /// To and Cc addresses.
    pub recipients: Vec<Address>,
    pub reply_to: Vec<Address>,
    pub message_id: Option<String>,
    /// The Date field as written, and as seconds since the epoch when it parses.
    pub date_raw: Option<String>,
    pub date: Option<i64>,
    /// The time of the topmost Received field, when there is one.
    pub received: Option<i64>,
    /// Decoded text: text/plain parts, then HTML parts as text; at most [`MAX_TEXT`] bytes;
    /// NFC (mail-parser keeps a decomposed charset's or sender's form).
    pub text: String,
    /// `text` in lower case, once for every rule that matches words.
    pub text_lower: String,
    pub has_plain: bool,
    pub has_html: bool,
    pub links: Vec<Link>,
    /// Every http(s) URL's host (lower case) in the text and the links.
    pub url_hosts: Vec<String>,
    /// File names of the attachments.
    pub attachments: Vec<String>,
    /// The raw bytes, or an attachment's decoded bytes, hold the GTUBE string.
    pub gtube: bool,
}

/// Stack of the parse thread, as `storage::meta` sizes it: mail-parser builds and drops nested
/// messages recursively (a nesting bomb of 10,000 levels is a few hundred KiB), so the stack
/// grows with the input (only the pages touched are used), capped.
const PARSE_STACK_BASE: usize = 8 << 20;
const PARSE_STACK_PER_BYTE: usize = 24;
const PARSE_STACK_MAX: usize = 1 << 30;

impl Parsed {
    /// Reads a message. Never panics: bytes mail-parser cannot read (or a parser panic) give
    /// the header fields found and no body.
    pub fn from_bytes(raw: &[u8]) -> Parsed {
        let stack = PARSE_STACK_BASE
            .saturating_add(raw.len().saturating_mul(PARSE_STACK_PER_BYTE))
            .min(PARSE_STACK_MAX);
        let built = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("spam-parse".into())
                .stack_size(stack)
                .spawn_scoped(scope, || {
                    // A body mail-parser panics on (a multipart part it loses track of) still
                    // has a header block worth reading: missing fields are not invented.
                    std::panic::catch_unwind(|| Parsed::build(raw))
                        .or_else(|_| std::panic::catch_unwind(|| Parsed::build_headers(raw)))
                        .ok()
                })
                .ok()
                .and_then(|thread| thread.join().ok().flatten())
        });
        built.unwrap_or_else(|| Parsed {
            headers: header_fields(raw),
            gtube: content::has_gtube(raw),
            ..Parsed::default()
        })
    }

    fn build(raw: &[u8]) -> Parsed {
        let mut parsed = Parsed {
            headers: header_fields(raw),
            gtube: content::has_gtube(raw),
            ..Parsed::default()
        };
        let Some(message) = MessageParser::default().parse(raw) else {
            return parsed;
        };
        parsed.read_header_fields(&message);
        let mut html_text = String::new();
        for part in &message.parts {
            if let Some(name) = part.attachment_name() {
                parsed.attachments.push(name.to_string());
                // A base64 attachment hides the test string from the raw bytes.
                parsed.gtube |= content::has_gtube(part.contents());
                continue;
            }
            match &part.body {
                PartType::Text(text) => {
                    parsed.has_plain = true;
                    push_bounded(&mut parsed.text, text);
                }
                PartType::Html(html) => {
                    parsed.has_html = true;
                    let html = &html[..floor_char(html, MAX_TEXT)];
                    parsed.links.extend(content::links(html));
                    push_bounded(&mut html_text, &content::html_to_text(html));
                }
                _ => {}
            }
        }
        push_bounded(&mut parsed.text, &html_text);
        if !parsed.text.is_ascii() {
            parsed.text = parsed.text.nfc().collect();
        }
        parsed.text_lower = parsed.text.to_lowercase();
        // A base64 or quoted-printable body hides the test string from the raw bytes.
        parsed.gtube |= content::has_gtube(parsed.text.as_bytes());
        let mut hosts: Vec<String> = content::url_hosts(&parsed.text);
        for link in &parsed.links {
            hosts.extend(content::url_hosts(&link.href));
        }
        hosts.sort();
        hosts.dedup();
        parsed.url_hosts = hosts;
        parsed
    }

    /// The header fields only (mail-parser's header parse), no body.
    pub(crate) fn build_headers(raw: &[u8]) -> Parsed {
        let mut parsed = Parsed {
            headers: header_fields(raw),
            gtube: content::has_gtube(raw),
            ..Parsed::default()
        };
        if let Some(message) = MessageParser::default().parse_headers(raw) {
            parsed.read_header_fields(&message);
        }
        parsed
    }

    /// Subject, addresses, Message-ID, Date and the topmost Received time.
    fn read_header_fields(&mut self, message: &mail_parser::Message<'_>) {
        let parsed = self;
        let addresses = |a: Option<&mail_parser::Address>| -> Vec<Address> {
            a.map(|a| {
                a.iter()
                    .map(|addr| Address {
                        name: addr.name().map(str::to_string),
                        address: addr.address().map(str::to_lowercase),
                    })
                    .collect()
            })
            .unwrap_or_default()
        };
        parsed.subject = message.subject().map(|s| s.nfc().collect());
        parsed.from = addresses(message.from());
        parsed.recipients = addresses(message.to());
        parsed.recipients.extend(addresses(message.cc()));
        parsed.reply_to = addresses(message.reply_to());
        parsed.message_id = parsed.header("message-id").map(str::to_string);
        parsed.date_raw = parsed.header("date").map(str::to_string);
        parsed.date = message.date().map(|d| d.to_timestamp());
        parsed.received = message
            .received()
            .and_then(|r| r.date())
            .map(|d| d.to_timestamp());
    }

    /// The first header field of that name (raw value).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn floor_char(s: &str, max: usize) -> usize {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    end
}

fn push_bounded(into: &mut String, text: &str) {
    let room = MAX_TEXT.saturating_sub(into.len());
    if room == 0 {
        return;
    }
    if !into.is_empty() {
        into.push('\n');
    }
    into.push_str(&text[..floor_char(text, room)]);
}

/// Unfolded header fields of the top header block (raw, undecoded); at most 1,000 fields.
pub fn header_fields(body: &[u8]) -> Vec<(String, String)> {
    let end = body
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 2)
        .or_else(|| body.windows(2).position(|w| w == b"\n\n").map(|p| p + 1))
        .unwrap_or(body.len());
    let text = String::from_utf8_lossy(&body[..end]);
    let mut fields: Vec<(String, String)> = vec![];
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            if fields.len() == 1000 {
                break;
            }
            fields.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    fields
}
