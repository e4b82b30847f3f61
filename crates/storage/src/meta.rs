//! The parse of a message that IMAP needs, computed once at delivery (mail-parser) and stored as
//! JSON beside the message row, so FETCH and SEARCH never re-parse headers or MIME structure.
//!
//! Offsets are absolute byte positions in the stored blob, so a section fetch is a slice.

use crate::parse_view::ParseView;
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

impl Envelope {
    /// The date of the Date: header as written there, its time and zone ignored
    /// (RFC 9051 6.4.4 SENTBEFORE/SENTON/SENTSINCE): (year, month, day).
    pub fn sent_date(&self) -> Option<(i32, u8, u8)> {
        let date = mail_parser::DateTime::parse_rfc822(self.date.as_deref()?)?;
        Some((i32::from(date.year), date.month, date.day))
    }
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

/// Appends a part's text to what SEARCH reads, within [`MAX_SEARCH_TEXT`].
fn push_search_text(meta: &mut MessageMeta, text: &str) {
    if text.is_empty() || meta.text.len() >= MAX_SEARCH_TEXT {
        return;
    }
    let room = MAX_SEARCH_TEXT - meta.text.len();
    let mut cut = text.len().min(room);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    meta.text.push_str(&text[..cut]);
    meta.text.push('\n');
}

/// The deepest part nesting a stored parse may have, whatever the configuration: a part at
/// depth k sits 2 + 2k levels deep in the stored JSON, its envelope's addresses 3 more, and
/// serde_json reads back at most 128 levels.
pub const HARD_MAX_DEPTH: u32 = 60;

/// Bounds on what one message may make the parser build. Input beyond them is never refused:
/// it stays in the message, unparsed (an opaque leaf or the tail of the last part).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Deepest part nesting (multipart and message/rfc822 levels); deeper parts are leaves.
    pub max_depth: u32,
    /// Most MIME parts (Content-Type fields and boundary lines) parsed; later ones are left
    /// inside the last part parsed.
    pub max_parts: u32,
    /// Most bytes in one header block; the rest of the message is left unparsed.
    pub max_header_bytes: u32,
    /// Most header fields in one header block; likewise.
    pub max_header_fields: u32,
    /// Most addresses kept per address field of an envelope.
    pub max_addresses: u32,
}

impl Default for ParseLimits {
    fn default() -> ParseLimits {
        ParseLimits {
            max_depth: 50,
            max_parts: 5000,
            max_header_bytes: 512 * 1024,
            max_header_fields: 2000,
            max_addresses: 1000,
        }
    }
}

impl ParseLimits {
    /// The same limits with the depth clamped to what the stored JSON can hold.
    pub fn clamped(self) -> ParseLimits {
        ParseLimits {
            max_depth: self.max_depth.clamp(1, HARD_MAX_DEPTH),
            max_parts: self.max_parts.max(1),
            max_header_bytes: self.max_header_bytes.max(1024),
            max_header_fields: self.max_header_fields.max(16),
            max_addresses: self.max_addresses.max(1),
        }
    }
}

static LIMITS: std::sync::OnceLock<ParseLimits> = std::sync::OnceLock::new();

/// Sets the process-wide parse limits (the binary calls it once from its configuration,
/// before any message is parsed). Returns false when they were already set.
pub fn set_parse_limits(limits: ParseLimits) -> bool {
    LIMITS.set(limits.clamped()).is_ok()
}

/// The process-wide parse limits (defaults until set).
pub fn parse_limits() -> ParseLimits {
    LIMITS.get().copied().unwrap_or_default()
}

/// Stack of the parse thread: a base, and room for one nesting level per 29 input bytes (the
/// shortest `Content-Type:message/rfc822` + blank line) at up to ~700 bytes of frames each
/// (unoptimised builds; optimised ones need a fraction), capped.
const PARSE_STACK_BASE: usize = 8 << 20;
const PARSE_STACK_PER_BYTE: usize = 24;
const PARSE_STACK_MAX: usize = 1 << 30;

/// Nested message/rfc822 levels mail-parser may build: its nested messages are dropped
/// recursively, so their depth must stay far below what a thread stack holds.
const MAX_MESSAGE_FIELDS: u32 = 400;

/// Where mail-parser must stop reading `raw` so that what it builds stays within `limits`:
/// the start of the first line that would exceed a bound, or `raw.len()`.
///
/// A linear scan, over-approximating what mail-parser sees. Nesting (the only thing that can
/// exhaust a stack) is counted without trusting any header/body state, since mail-parser's
/// reading of malformed input (bare CRs, digests' implicit message parts) differs from any
/// simple one: every line mentioning `message` or `digest` anywhere, and after a digest every
/// `--` line, counts as one possible level. Part and header counts follow header blocks (top,
/// after a possible boundary, after a message/rfc822 or digest part's header block).
fn parse_cut(raw: &[u8], limits: &ParseLimits) -> usize {
    let mut in_header = true;
    let mut header_bytes = 0usize;
    let mut header_fields = 0u32;
    let mut block_nests = false;
    let mut block_typed = false;
    let mut seen_multipart = false;
    let mut seen_digest = false;
    let mut content_types = 0u32;
    let mut nesting = 0u32;
    let mut boundaries = 0u32;
    let mut pos = 0usize;
    while pos < raw.len() {
        let end = raw[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |i| pos + i + 1);
        let line = &raw[pos..end];
        // Whatever mail-parser skips before a field name (CR, blanks) is skipped here too.
        let start = line
            .iter()
            .position(|b| !matches!(b, b'\r' | b' ' | b'\t'))
            .unwrap_or(line.len());
        let content = line[start..]
            .strip_suffix(b"\n")
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .unwrap_or(&line[start..]);
        let mentions_digest = contains(line, b"digest");
        if contains(line, b"message") || mentions_digest {
            nesting += 1;
        }
        seen_digest |= mentions_digest;
        if seen_digest && content.starts_with(b"--") {
            nesting += 1;
        }
        if nesting > MAX_MESSAGE_FIELDS {
            return pos;
        }
        if in_header {
            if line.iter().all(|b| matches!(b, b'\r' | b'\n')) {
                // A digest's part without Content-Type holds a message: its header follows.
                in_header = block_nests || (seen_digest && !block_typed);
                block_nests = false;
                block_typed = false;
                header_bytes = 0;
                header_fields = 0;
            } else {
                header_bytes += line.len();
                if start == 0 {
                    header_fields += 1;
                }
                if header_bytes > limits.max_header_bytes as usize
                    || header_fields > limits.max_header_fields
                {
                    return pos;
                }
                if is_content_type(content) {
                    content_types += 1;
                    block_typed = true;
                    let value = &content[12..];
                    // The type may be on a continuation line: then assume the worst.
                    let folded = value.iter().all(|b| matches!(b, b' ' | b'\t' | b':'));
                    if folded || contains(value, b"message") || contains(value, b"digest") {
                        block_nests = true;
                    }
                    if folded || contains(value, b"multipart") {
                        seen_multipart = true;
                    }
                    if content_types > limits.max_parts {
                        return pos;
                    }
                }
            }
        } else if seen_multipart && content.starts_with(b"--") {
            boundaries += 1;
            if boundaries > limits.max_parts.saturating_mul(2) {
                return pos;
            }
            in_header = true;
        }
        pos = end;
    }
    raw.len()
}

/// A `Content-Type:` field line (name case-insensitive, blanks allowed before the colon).
fn is_content_type(line: &[u8]) -> bool {
    line.len() >= 13
        && line[..12].eq_ignore_ascii_case(b"content-type")
        && line[12..].iter().find(|b| !matches!(b, b' ' | b'\t')) == Some(&b':')
}

/// Whether `haystack` contains `needle` (lowercase ASCII), ignoring ASCII case.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// What building one stored parse carries along.
struct Builder<'r> {
    raw: &'r [u8],
    /// What mail-parser read: `raw` without the tails of huge base64 bodies. Its positions
    /// (mail-parser's offsets) are mapped to `raw` before they are stored.
    view: &'r ParseView<'r>,
    /// Where parsing stopped in the view; a part ending there ends at `raw.len()`.
    cut: usize,
    limits: ParseLimits,
    parts: u32,
    meta: MessageMeta,
}

impl Builder<'_> {
    /// An offset of mail-parser's, made absolute, within the raw bytes.
    fn offset(&self, base: u32, offset: u32) -> u32 {
        let at = base.saturating_add(offset) as usize;
        self.view.to_raw(at).min(self.raw.len()) as u32
    }

    /// An end offset: a part that runs to where parsing stopped runs to the end of the bytes.
    fn end_offset(&self, base: u32, offset: u32) -> u32 {
        let end = base.saturating_add(offset) as usize;
        if end >= self.cut {
            self.raw.len() as u32
        } else {
            self.view.to_raw(end).min(self.raw.len()) as u32
        }
    }
}

fn addr(a: &mail_parser::Addr) -> MailAddr {
    MailAddr {
        name: a.name.as_ref().map(|n| n.to_string()),
        address: a.address.as_ref().map(|n| n.to_string()),
        group: None,
    }
}

/// At most `max` addresses (group markers included); a group cut short still ends.
fn addrs(address: Option<&Address>, max: usize) -> Vec<MailAddr> {
    let mut out = match address {
        None => vec![],
        Some(Address::List(list)) => list.iter().take(max).map(addr).collect(),
        Some(Address::Group(groups)) => {
            let mut out = vec![];
            for group in groups {
                if out.len() >= max {
                    break;
                }
                match &group.name {
                    // Addresses outside any group come as a nameless group.
                    None => out.extend(group.addresses.iter().take(max).map(addr)),
                    Some(name) => {
                        out.push(MailAddr {
                            group: Some(name.to_string()),
                            ..MailAddr::default()
                        });
                        // A member without an address is a comment (`group2: (foo) ;`):
                        // RFC 5322 3.4 group-list holds mailboxes, CFWS or nothing.
                        let members = group.addresses.iter().filter(|a| a.address.is_some());
                        out.extend(members.take(max).map(addr));
                        out.push(MailAddr {
                            group: Some(String::new()),
                            ..MailAddr::default()
                        });
                    }
                }
            }
            out
        }
    };
    if out.len() > max {
        out.truncate(max);
        // RFC 9051 7.5.2: group markers come in pairs.
        let mut open = false;
        for a in &out {
            if let Some(g) = &a.group {
                open = !g.is_empty();
            }
        }
        if open {
            out.push(MailAddr {
                group: Some(String::new()),
                ..MailAddr::default()
            });
        }
    }
    out
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

fn envelope_of(message: &mail_parser::Message, raw: &[u8], limits: &ParseLimits) -> Envelope {
    let headers = message.parts.first().map(|p| &p.headers[..]).unwrap_or(&[]);
    let max = limits.max_addresses as usize;
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
        from: addrs(message.from(), max),
        sender: addrs(message.sender(), max),
        reply_to: addrs(message.reply_to(), max),
        to: addrs(message.to(), max),
        cc: addrs(message.cc(), max),
        bcc: addrs(message.bcc(), max),
        in_reply_to: raw_field("In-Reply-To"),
        message_id: raw_field("Message-ID"),
    }
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

/// One part of `message` and, within the bounds, the parts it holds.
///
/// Recursion depth is `depth`, never more than [`HARD_MAX_DEPTH`]: a multipart or message at
/// the depth limit, or reached after the part limit, is kept as a leaf (its bytes are intact;
/// FETCH shows it as a body without parts).
fn part_of(
    message: &mail_parser::Message,
    index: usize,
    base: u32,
    builder: &mut Builder,
    in_digest: bool,
    depth: u32,
) -> Part {
    let part = &message.parts[index];
    builder.parts += 1;
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
        // RFC 2046 5.1.5: in multipart/digest a part without Content-Type is message/rfc822.
        None if in_digest => ("message".to_string(), "rfc822".to_string(), vec![]),
        None => ("text".to_string(), "plain".to_string(), vec![]),
    };
    let raw = builder.raw;
    // Header fields are read where mail-parser read them.
    let parsed = builder.view.bytes();
    let disposition = part.content_disposition().map(|d| {
        (
            d.c_type.to_ascii_lowercase(),
            clean_params(d.attributes.as_deref()),
        )
    });
    let offset_header = builder.offset(base, part.offset_header);
    let offset_body = builder.offset(base, part.offset_body).max(offset_header);
    let offset_end = builder.end_offset(base, part.offset_end).max(offset_body);
    let body_bytes = &raw[offset_body as usize..offset_end as usize];
    let mut out = Part {
        content_type,
        subtype,
        params,
        // RFC 2045 7: the Content-ID as written, angle brackets included.
        id: raw_value(&part.headers, parsed, "Content-ID"),
        description: part.content_description().map(str::to_string),
        encoding: part.content_transfer_encoding().map(str::to_string),
        disposition,
        language: part
            .content_language()
            .as_text_list()
            .map(|l| l.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default(),
        location: raw_value(&part.headers, parsed, "Content-Location"),
        offset_header,
        offset_body,
        offset_end,
        lines: 0,
        children: vec![],
        envelope: None,
    };
    if let Some(name) = part.attachment_name() {
        builder.meta.attachment_names.push(name.to_string());
    }
    // Below the bounds, parts are kept as leaves.
    let may_nest = depth < builder.limits.max_depth && builder.parts < builder.limits.max_parts;
    match &part.body {
        _ if out.content_type == "multipart" && !may_nest => {
            // Kept whole, unparsed: shown as text, so its lines count.
            out.lines = count_lines(body_bytes);
        }
        PartType::Text(text) | PartType::Html(text) => {
            out.lines = count_lines(body_bytes);
            push_search_text(&mut builder.meta, text);
        }
        PartType::Multipart(children) => {
            if children.is_empty() {
                // No usable boundary: shown as text, so its lines count.
                out.lines = count_lines(body_bytes);
            }
            let digest = out.subtype == "digest";
            for &child in children {
                let child = child as usize;
                // mail-parser lists children after their parent; anything else is ignored.
                if child <= index || child >= message.parts.len() {
                    continue;
                }
                if builder.parts >= builder.limits.max_parts {
                    break;
                }
                let child = part_of(message, child, base, builder, digest, depth + 1);
                out.children.push(child);
            }
        }
        PartType::Binary(_) | PartType::InlineBinary(_) if out.content_type == "multipart" => {
            // A multipart without a usable boundary is shown as text: its lines count.
            out.lines = count_lines(body_bytes);
        }
        PartType::Binary(data) | PartType::InlineBinary(data) => {
            // Issue 13: the text inside DOCX and PDF attachments, for SEARCH and the index. A
            // body the view cut is larger than any extraction reads.
            let cut = builder
                .view
                .cut_within(out.offset_body as usize, out.offset_end as usize);
            if !cut {
                let name = part.attachment_name();
                let found = crate::extract::attachment_text(&out.subtype, name, data);
                push_search_text(&mut builder.meta, found.as_deref().unwrap_or(""));
            }
        }
        PartType::Message(nested) => {
            out.lines = count_lines(body_bytes);
            // mail-parser parses an inline message in the same stream (offsets already
            // absolute); an encoded one (base64/QP, which RFC 2046 5.2.1 forbids) from its
            // decoded bytes: its header is read there, its parts are not slices of ours.
            let inline = part.encoding == mail_parser::Encoding::None;
            let nested_raw: &[u8] = if inline {
                parsed
            } else {
                nested.raw_message.as_ref()
            };
            out.envelope = Some(Box::new(envelope_of(nested, nested_raw, &builder.limits)));
            if inline && may_nest && !nested.parts.is_empty() {
                let child = part_of(nested, 0, base, builder, false, depth + 1);
                out.children.push(child);
            }
        }
    }
    out
}

impl MessageMeta {
    /// Parses `raw` once within the process-wide [`parse_limits`]. Never fails: unparseable
    /// input yields a text/plain root spanning it.
    pub fn compute(raw: &[u8]) -> MessageMeta {
        MessageMeta::compute_with(raw, &parse_limits())
    }

    /// Parses `raw` once within `limits`. Never fails and never panics (a panic inside the
    /// MIME parser yields the text/plain parse).
    pub fn compute_with(raw: &[u8], limits: &ParseLimits) -> MessageMeta {
        let limits = limits.clamped();
        // mail-parser builds (and drops) nested messages recursively, and a message/rfc822 part
        // that is base64 or quoted-printable hides its own nesting from `parse_cut`: the parse
        // runs on a thread whose stack grows with the input (only the pages touched are used),
        // so no input can overflow it.
        let stack = PARSE_STACK_BASE
            .saturating_add(raw.len().saturating_mul(PARSE_STACK_PER_BYTE))
            .min(PARSE_STACK_MAX);
        let built = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("mime-parse".into())
                .stack_size(stack)
                .spawn_scoped(scope, || {
                    std::panic::catch_unwind(|| MessageMeta::build(raw, &limits)).ok()
                })
                .ok()
                .and_then(|thread| thread.join().ok().flatten())
        });
        built.unwrap_or_else(|| {
            tracing::warn!(bytes = raw.len(), "MIME parser failed; kept as plain text");
            MessageMeta::degraded(raw.len() as u32, count_lines(raw))
        })
    }

    fn build(raw: &[u8], limits: &ParseLimits) -> MessageMeta {
        // Offsets are u32: larger input is never parsed (the size limits are far below).
        if raw.len() >= u32::MAX as usize {
            return MessageMeta::degraded(u32::MAX, 0);
        }
        MessageMeta::build_in(raw, &ParseView::of(raw), limits)
    }

    /// [`MessageMeta::build`] on a given view of `raw`.
    fn build_in(raw: &[u8], view: &ParseView, limits: &ParseLimits) -> MessageMeta {
        let parsed = view.bytes();
        let cut = parse_cut(parsed, limits);
        let mut builder = Builder {
            raw,
            view,
            cut,
            limits: *limits,
            parts: 0,
            meta: MessageMeta::default(),
        };
        match MessageParser::default().parse(&parsed[..cut]) {
            Some(message) if !message.parts.is_empty() => {
                builder.meta.envelope = envelope_of(&message, parsed, limits);
                let root = part_of(&message, 0, 0, &mut builder, false, 0);
                builder.meta.root = root;
                builder.meta
            }
            _ => MessageMeta::degraded(raw.len() as u32, count_lines(raw)),
        }
    }

    /// The parse of a message of `len` bytes that cannot be parsed (or whose stored parse
    /// cannot be read back): one text/plain part spanning it, no envelope.
    pub fn degraded(len: u32, lines: u32) -> MessageMeta {
        MessageMeta {
            root: Part {
                content_type: "text".into(),
                subtype: "plain".into(),
                offset_end: len,
                lines,
                ..Part::default()
            },
            ..MessageMeta::default()
        }
    }

    /// Accounts for `n` bytes of header fields prepended to the parsed message (trace headers):
    /// the root header still starts at 0, everything else moves by `n`.
    pub fn shift(&mut self, n: u32) {
        // Iterative: the stack used must not grow with the depth.
        self.root.offset_body += n;
        self.root.offset_end += n;
        let mut stack: Vec<&mut Part> = self.root.children.iter_mut().collect();
        while let Some(part) = stack.pop() {
            part.offset_header += n;
            part.offset_body += n;
            part.offset_end += n;
            stack.extend(part.children.iter_mut());
        }
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

    /// A multipart: text, a base64 attachment of `lines` lines (`kind`), a text part with a
    /// Content-ID, and an inline message: what follows the attachment must keep its offsets.
    fn with_attachment(kind: &str, lines: usize) -> Vec<u8> {
        let mut s = String::from(
            "Subject: =?utf-8?q?b=C3=A1o_c=C3=A1o?=\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n--b\r\n",
        );
        s.push_str(&format!(
            "Content-Type: {kind}\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        ));
        // "Ngày 15 tháng 3, số 15/QĐ-UBND " repeated, base64 in 76-character lines.
        let unit = "TmfDoHkgMTUgdGjDoW5nIDMsIHPhu5EgMTUvUcSQLVVCTkQg";
        let encoded = unit.repeat(lines * 76 / unit.len() + 1);
        for line in encoded.as_bytes().chunks(76).take(lines) {
            s.push_str(std::str::from_utf8(line).unwrap());
            s.push_str("\r\n");
        }
        s.push_str(
            "--b\r\nContent-Type: text/plain\r\nContent-ID: <after@cut>\r\n\r\nafter\r\n\
             --b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\
             From: An <an@kontum.gov.vn>\r\n\r\ninner body\r\n--b--\r\n",
        );
        s.into_bytes()
    }

    #[test]
    fn a_cut_view_gives_the_parse_of_the_whole_message() {
        let limits = ParseLimits::default();
        for kind in ["application/octet-stream", "text/plain; charset=utf-8"] {
            let raw = with_attachment(kind, 400);
            let whole = MessageMeta::build_in(&raw, &ParseView::uncut(&raw), &limits);
            // Bounds small enough to cut this attachment, and to keep less than its text.
            let view = ParseView::with_bounds(&raw, 10_000, 4_000);
            assert!(
                view.bytes().len() < raw.len() - 20_000,
                "{kind}: nothing cut"
            );
            let cut = MessageMeta::build_in(&raw, &view, &limits);
            assert_eq!(cut.root, whole.root, "{kind}");
            assert_eq!(cut.envelope, whole.envelope);
            assert_eq!(cut.attachment_names, whole.attachment_names);
            let after = &cut.root.children[2];
            assert_eq!(after.id.as_deref(), Some("<after@cut>"));
            assert_eq!(
                &raw[after.offset_body as usize..after.offset_end as usize],
                b"after"
            );
            let inner = cut.root.children[3].envelope.as_ref().unwrap();
            assert_eq!(inner.subject.as_deref(), Some("inner"));
            if kind.starts_with("text") {
                // The attachment's text kept is the head of the whole one (a character cut
                // at the end decodes as U+FFFD).
                let kept = cut
                    .text
                    .split('\n')
                    .nth(1)
                    .unwrap()
                    .trim_end_matches('\u{FFFD}');
                assert!(kept.len() > 2_000, "{kept:?}");
                assert!(whole.text.split('\n').nth(1).unwrap().starts_with(kept));
            } else {
                assert_eq!(cut.text, whole.text);
            }
        }
    }

    #[test]
    fn a_huge_text_part_keeps_all_the_search_text() {
        // 21 MiB decoded: over the extraction bound, so the default view cuts it; what is kept
        // still fills the search text, so the stored parse is the same in every field.
        let lines = (crate::extract::MAX_INPUT + (1 << 20)) / 57;
        let raw = with_attachment("text/plain; charset=utf-8", lines);
        let limits = ParseLimits::default();
        let view = ParseView::of(&raw);
        assert!(view.bytes().len() < 2 << 20, "the default view did not cut");
        let whole = MessageMeta::build_in(&raw, &ParseView::uncut(&raw), &limits);
        assert_eq!(MessageMeta::build_in(&raw, &view, &limits), whole);
        assert!(whole.text.contains("15/QĐ-UBND"));
    }

    #[test]
    fn garbage_still_has_a_root() {
        let meta = MessageMeta::compute(b"\xff\xfe no headers at all");
        assert!(meta.root.offset_end > 0);
    }

    /// `depth` multiparts, each holding the next, around one text part.
    pub(crate) fn multipart_bomb(depth: usize) -> Vec<u8> {
        let mut s = String::from("From: a@b.vn\r\nSubject: bomb\r\n");
        for i in 0..depth {
            s.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
            ));
        }
        s.push_str("Content-Type: text/plain\r\n\r\nhi\r\n");
        for i in (0..depth).rev() {
            s.push_str(&format!("--b{i}--\r\n"));
        }
        s.into_bytes()
    }

    /// `depth` message/rfc822 parts, each holding the next.
    pub(crate) fn rfc822_bomb(depth: usize) -> Vec<u8> {
        let mut s = String::from("From: a@b.vn\r\nSubject: bomb\r\n");
        for _ in 0..depth {
            s.push_str("Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n");
        }
        s.push_str("\r\nhi\r\n");
        s.into_bytes()
    }

    fn depth_of(part: &Part) -> usize {
        let mut deepest = 0;
        let mut stack = vec![(part, 0usize)];
        while let Some((p, d)) = stack.pop() {
            deepest = deepest.max(d);
            stack.extend(p.children.iter().map(|c| (c, d + 1)));
        }
        deepest
    }

    fn check_offsets(part: &Part, len: u32) {
        let mut stack = vec![part];
        while let Some(p) = stack.pop() {
            assert!(p.offset_header <= p.offset_body, "{p:?}");
            assert!(p.offset_body <= p.offset_end);
            assert!(p.offset_end <= len);
            stack.extend(p.children.iter());
        }
    }

    /// Runs `f` on a thread with a tokio worker's stack (2 MiB): a stack overflow aborts.
    fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn nesting_bombs_stay_bounded_and_read_back() {
        for depth in [100, 1_000, 10_000, 50_000] {
            for (kind, raw) in [
                ("multipart", multipart_bomb(depth)),
                ("rfc822", rfc822_bomb(depth)),
            ] {
                let len = raw.len() as u32;
                let meta = on_small_stack(move || MessageMeta::compute(&raw));
                let limits = ParseLimits::default();
                assert!(
                    depth_of(&meta.root) <= limits.max_depth as usize,
                    "{kind} {depth}: depth {}",
                    depth_of(&meta.root)
                );
                assert_eq!(
                    meta.root.offset_end, len,
                    "{kind} {depth}: root spans the message"
                );
                assert_eq!(meta.envelope.subject.as_deref(), Some("bomb"));
                check_offsets(&meta.root, len);
                let json = meta.to_json();
                let back = on_small_stack(move || MessageMeta::from_json(&json));
                assert_eq!(back.as_ref(), Some(&meta), "{kind} {depth}: reads back");
            }
        }
    }

    #[test]
    fn configured_depth_is_clamped_to_what_json_holds() {
        let limits = ParseLimits {
            max_depth: 10_000,
            ..ParseLimits::default()
        };
        let meta = MessageMeta::compute_with(&multipart_bomb(200), &limits);
        assert_eq!(depth_of(&meta.root), HARD_MAX_DEPTH as usize);
        assert!(MessageMeta::from_json(&meta.to_json()).is_some());
        let shallow = ParseLimits {
            max_depth: 3,
            ..ParseLimits::default()
        };
        let meta = MessageMeta::compute_with(&multipart_bomb(10), &shallow);
        assert_eq!(depth_of(&meta.root), 3);
        // The leaf at the limit is the multipart kept whole.
        let mut leaf = &meta.root;
        while let Some(c) = leaf.children.first() {
            leaf = c;
        }
        assert_eq!(leaf.content_type, "multipart");
        assert!(leaf.lines > 0);
    }

    #[test]
    fn part_count_is_bounded() {
        let mut s =
            String::from("Subject: many\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n");
        for i in 0..20_000 {
            s.push_str(&format!(
                "--b\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n"
            ));
        }
        s.push_str("--b--\r\n");
        let raw = s.into_bytes();
        let limits = ParseLimits {
            max_parts: 100,
            ..ParseLimits::default()
        };
        let meta = MessageMeta::compute_with(&raw, &limits);
        assert!(
            meta.root.children.len() < 100,
            "{}",
            meta.root.children.len()
        );
        assert_eq!(meta.root.offset_end as usize, raw.len());
        check_offsets(&meta.root, raw.len() as u32);
        // Parts beyond the bound stay inside the multipart's body: nothing is lost.
        let last = meta.root.children.last().unwrap();
        assert!(last.offset_end as usize <= raw.len());
        assert!(raw[last.offset_end as usize..].ends_with(b"part 19999\r\n--b--\r\n"));
    }

    #[test]
    fn header_bombs_are_cut() {
        let mut s = String::from("Subject: headers\r\n");
        for i in 0..50_000 {
            s.push_str(&format!("X-Filler-{i}: y\r\n"));
        }
        s.push_str("To: ");
        for i in 0..5_000 {
            s.push_str(&format!("u{i}@x.vn, "));
        }
        s.push_str("last@x.vn\r\n\r\nbody\r\n");
        let raw = s.into_bytes();
        let meta = MessageMeta::compute(&raw);
        assert_eq!(meta.envelope.subject.as_deref(), Some("headers"));
        assert_eq!(meta.root.offset_end as usize, raw.len());
        check_offsets(&meta.root, raw.len() as u32);
        // A To: of 5,001 addresses within the header bound is kept to the address bound.
        let mut s = String::from("Subject: to\r\nTo: ");
        for i in 0..5_000 {
            s.push_str(&format!("u{i}@x.vn, "));
        }
        s.push_str("last@x.vn\r\n\r\nbody\r\n");
        let meta = MessageMeta::compute(&s.into_bytes());
        assert_eq!(
            meta.envelope.to.len(),
            ParseLimits::default().max_addresses as usize
        );
    }

    #[test]
    fn encoded_nested_messages_have_no_foreign_offsets() {
        let inner = "Subject: inner\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n\r\nx\r\n--q--\r\n";
        let b64 = {
            const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let bytes = inner.as_bytes();
            let mut out = String::new();
            for chunk in bytes.chunks(3) {
                let n = chunk.len();
                let v = (chunk[0] as u32) << 16
                    | (*chunk.get(1).unwrap_or(&0) as u32) << 8
                    | *chunk.get(2).unwrap_or(&0) as u32;
                for i in 0..4 {
                    if i <= n {
                        out.push(T[(v >> (18 - 6 * i) & 63) as usize] as char);
                    } else {
                        out.push('=');
                    }
                }
            }
            out
        };
        let raw = format!("Subject: outer\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n");
        let meta = MessageMeta::compute(raw.as_bytes());
        assert_eq!(meta.root.content_type, "message");
        assert_eq!(
            meta.root.envelope.as_ref().unwrap().subject.as_deref(),
            Some("inner")
        );
        assert!(meta.root.children.is_empty());
        check_offsets(&meta.root, raw.len() as u32);
    }

    #[test]
    fn stored_parse_shift_is_iterative() {
        let mut meta = MessageMeta::compute(&multipart_bomb(40));
        let before = meta.clone();
        meta.shift(10);
        assert_eq!(meta.root.offset_header, 0);
        assert_eq!(
            meta.root.children[0].offset_header,
            before.root.children[0].offset_header + 10
        );
    }
}
