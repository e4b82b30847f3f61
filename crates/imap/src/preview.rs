//! RFC 8970 PREVIEW: the text a client shows under a message's subject in a list.
//!
//! The text comes from the message's first text part, found in the parse stored at delivery:
//! the first `text/plain` leaf (in a `multipart/alternative`, the plain alternative before
//! the HTML one), else the first `text/html` leaf, never an attachment and never the inside
//! of an attached message. That part alone (at most [`MAX_PART_READ`] bytes of it) is decoded
//! by mail-parser — transfer encoding undone, charset converted to UTF-8, HTML turned into
//! text — then made NFC, stripped of controls, its whitespace collapsed to single spaces, and
//! cut at [`MAX_CHARS`] characters, never inside a character nor between a letter and its
//! combining marks (Vietnamese in NFD keeps its tone marks with their letters).
//!
//! RFC 8970 3.3: "The server SHOULD limit the length of the preview text to 200 preview
//! characters ... MUST NOT output preview text longer than 256 preview characters." A
//! message without text (only attachments, encrypted) gets the empty string (RFC 8970 3.2).
//!
//! Previews are cached by blob (same bytes, same preview) in a bounded two-generation map.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use storage::meta::Part;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// RFC 8970 3.3: SHOULD be at most 200 characters.
pub const MAX_CHARS: usize = 200;
/// Most bytes of the text part read to make a preview (the start of a long text is enough).
pub const MAX_PART_READ: u64 = 64 * 1024;
/// Previews the cache keeps (each at most 800 bytes of text plus a 64-byte key).
pub const CACHE_ENTRIES: usize = 10_000;

/// The part a preview is made from: (start of its header, start of its body, end).
pub fn text_part(root: &Part) -> Option<(u64, u64, u64)> {
    fn find<'a>(part: &'a Part, subtype: &str) -> Option<&'a Part> {
        let attachment = part
            .disposition
            .as_ref()
            .is_some_and(|(kind, _)| kind.eq_ignore_ascii_case("attachment"));
        if part.content_type.eq_ignore_ascii_case("multipart") {
            return part.children.iter().find_map(|child| find(child, subtype));
        }
        // An attached message/rfc822 is not this message's text.
        (!attachment
            && part.content_type.eq_ignore_ascii_case("text")
            && part.subtype.eq_ignore_ascii_case(subtype))
        .then_some(part)
    }
    let part = find(root, "plain").or_else(|| find(root, "html"))?;
    Some((
        u64::from(part.offset_header),
        u64::from(part.offset_body),
        u64::from(part.offset_end),
    ))
}

/// The preview of one MIME part (its header and body, the body possibly cut short).
pub fn preview_of(part: &[u8]) -> String {
    let parsed = std::panic::catch_unwind(|| {
        mail_parser::MessageParser::default()
            .parse(part)
            .and_then(|m| m.body_text(0).map(|t| t.into_owned()))
    });
    match parsed {
        Ok(Some(text)) => tidy(&text),
        _ => String::new(),
    }
}

/// NFC, controls dropped, whitespace runs made one space, trimmed, at most [`MAX_CHARS`]
/// characters without separating a letter from its combining marks.
pub fn tidy(text: &str) -> String {
    let mut out = String::new();
    let mut count = 0;
    let mut pending_space = false;
    let chars: Vec<char> = text.nfc().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if c.is_control() || matches!(c, '\u{200b}' | '\u{feff}' | '\u{ad}') {
            continue;
        }
        let room = MAX_CHARS - count;
        // A letter and the combining marks after it go together or not at all.
        let cluster = 1 + chars[i + 1..]
            .iter()
            .take_while(|&&m| is_combining_mark(m))
            .count();
        let needed = cluster + usize::from(pending_space);
        if is_combining_mark(c) {
            // Already taken with its letter; an orphan mark (at the start, after a space)
            // is dropped.
            if out.is_empty() || pending_space {
                continue;
            }
            out.push(c);
            count += 1;
            if count >= MAX_CHARS {
                break;
            }
            continue;
        }
        if needed > room {
            break;
        }
        if pending_space {
            out.push(' ');
            count += 1;
            pending_space = false;
        }
        out.push(c);
        count += 1;
        // Its marks are pushed as they come (the check above made room for them).
    }
    out
}

/// Previews by blob id: two generations, the older dropped when the newer fills up.
pub struct Cache {
    inner: Mutex<Generations>,
    half: usize,
    /// Background preview jobs (LAZY) running at once.
    pub background: Arc<tokio::sync::Semaphore>,
}

#[derive(Default)]
struct Generations {
    current: HashMap<String, Arc<str>>,
    previous: HashMap<String, Arc<str>>,
}

impl Cache {
    pub fn new(entries: usize) -> Cache {
        Cache {
            inner: Mutex::new(Generations::default()),
            half: (entries / 2).max(1),
            background: Arc::new(tokio::sync::Semaphore::new(4)),
        }
    }

    pub fn get(&self, blob_id: &str) -> Option<Arc<str>> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .current
            .get(blob_id)
            .or_else(|| inner.previous.get(blob_id))
            .cloned()
    }

    pub fn insert(&self, blob_id: &str, preview: Arc<str>) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.current.len() >= self.half {
            inner.previous = std::mem::take(&mut inner.current);
        }
        inner.current.insert(blob_id.to_string(), preview);
    }

    /// How many previews are kept (at most twice the half size).
    pub fn len(&self) -> usize {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.current.len() + inner.previous.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use storage::MessageMeta;

    fn preview(raw: &[u8]) -> String {
        let meta = MessageMeta::compute(raw);
        match text_part(&meta.root) {
            Some((start, _, end)) => preview_of(&raw[start as usize..end as usize]),
            None => String::new(),
        }
    }

    #[test]
    fn plain_text_is_decoded_and_collapsed() {
        let raw = "Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nK=C3=ADnh g=E1=BB=ADi   anh,\r\n\r\n\tC=C3=B4ng v=C4=83n s=E1=BB=91 15.\r\n";
        assert_eq!(preview(raw.as_bytes()), "Kính gửi anh, Công văn số 15.");
    }

    #[test]
    fn html_is_stripped_and_plain_preferred() {
        let html = "Subject: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><head><style>p{}</style></head><body><p>Xin <b>chào</b></p><p>bạn</p></body></html>\r\n";
        assert_eq!(preview(html.as_bytes()), "Xin chào bạn");
        let alternative = "Subject: x\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBản thường\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Bản HTML</p>\r\n--b--\r\n";
        assert_eq!(preview(alternative.as_bytes()), "Bản thường");
    }

    #[test]
    fn charsets_and_base64_are_undone() {
        // "Trân trọng" in windows-1258 would need combining marks; use UTF-8 in base64 and
        // ISO-8859-1 for a Latin text.
        let raw = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nVHLDom4gdHLhu41uZw==\r\n";
        assert_eq!(preview(raw.as_bytes()), "Trân trọng");
        let latin = b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\nGr\xfc\xdfe\r\n";
        assert_eq!(preview(latin), "Gr\u{fc}\u{df}e");
    }

    #[test]
    fn only_attachments_give_the_empty_string() {
        let raw = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n\r\nJVBERi0=\r\n--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\nnot the body\r\n--b--\r\n";
        assert_eq!(preview(raw.as_bytes()), "");
        // An attached message's text is not this message's text.
        let forwarded = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner text\r\n--b--\r\n";
        assert_eq!(preview(forwarded.as_bytes()), "");
    }

    /// RFC 8970 3.3: at most 200 characters here (256 is the hard limit), cut between
    /// characters, never between a letter and its combining marks.
    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        let word = "Nghị định ";
        let long = word.repeat(100);
        let cut = tidy(&long);
        assert!(cut.chars().count() <= MAX_CHARS);
        assert!(cut.starts_with("Nghị định Nghị định"));
        // NFD input: NFC first, so the count is of precomposed letters.
        let nfd: String = long.nfd().collect();
        assert_eq!(tidy(&nfd), cut);
        // A letter whose mark has no precomposed form stays whole: 199 letters, then "x"
        // plus U+0323 U+0301 (no single code point for both) would need 3 characters.
        let text = format!("{}x\u{0323}\u{0301}", "a".repeat(199));
        let cut = tidy(&text);
        assert_eq!(cut, "a".repeat(199));
        assert!(tidy(&"ơ".repeat(300)).chars().all(|c| c == 'ơ'));
    }

    #[test]
    fn whitespace_and_controls() {
        assert_eq!(
            tidy("  a\u{a0}\u{a0}b\r\n\r\nc\u{7}d\u{200b}e  "),
            "a b cde"
        );
        assert_eq!(tidy(""), "");
        assert_eq!(tidy("\u{301}abc"), "abc");
    }

    #[test]
    fn cache_is_bounded() {
        let cache = Cache::new(10);
        for i in 0..100 {
            cache.insert(&i.to_string(), Arc::from("x"));
        }
        assert!(cache.len() <= 10, "{}", cache.len());
        assert!(cache.get("99").is_some());
        assert!(cache.get("0").is_none());
    }
}
