//! `mime_roundtrip`: the parse stored at delivery and what FETCH makes of it.
//!
//! `storage::meta::MessageMeta::compute(raw)` → `to_json()` → `from_json()`, then the IMAP
//! FETCH renderer (`imap::fetch`) on the result. Asserts:
//! - `compute` never panics; `from_json(to_json(meta))` succeeds and equals `meta`;
//! - every part's offsets are ordered and inside the message:
//!   `offset_header <= offset_body <= offset_end <= raw.len()`;
//! - ENVELOPE and BODYSTRUCTURE / BODY (UTF8=ACCEPT on and off) are well-formed IMAP: one
//!   parenthesised list, balanced, quoted strings closed and escaped, literals of the announced
//!   length, nothing but NIL and numbers as atoms;
//! - for every section path the parse has (`1`, `1.2`, the parts inside message/rfc822 ...):
//!   `find_part` finds exactly that part; `BODY[path]` is the slice
//!   `raw[offset_body..offset_end]`; `BODY[path.MIME]`, `.HEADER`, `.TEXT`,
//!   `.HEADER.FIELDS (...)`, `.HEADER.FIELDS.NOT (...)` and `BINARY[path]` render without a
//!   panic (HEADER/TEXT exist for the message and its message/rfc822 parts).

use imap::encode::{body_structure, envelope, section_label};
use imap::fetch::{binary_bytes, find_part, section_bytes};
use imap::protocol::{Section, SectionText};
use storage::meta::{MessageMeta, Part};

/// Section paths rendered per message (bounds the time of very wide messages).
const MAX_PATHS: usize = 512;

pub fn run(raw: &[u8]) {
    let meta = MessageMeta::compute(raw);
    let json = meta.to_json();
    let back = match serde_json::from_str::<MessageMeta>(&json) {
        Ok(back) => back,
        Err(e) => panic!(
            "MessageMeta::from_json cannot read what to_json wrote ({} bytes of JSON): {e}",
            json.len()
        ),
    };
    assert!(
        MessageMeta::from_json(&json).is_some(),
        "from_json refused JSON that serde_json reads"
    );
    assert!(back == meta, "MessageMeta changed in the JSON round trip");

    check_offsets(&meta.root, raw.len());

    for utf8 in [false, true] {
        let mut out = Vec::new();
        envelope(&meta.envelope, utf8, &mut out);
        check_syntax(&out, "ENVELOPE");
        for extended in [false, true] {
            let mut out = Vec::new();
            body_structure(&meta.root, extended, utf8, &mut out);
            check_syntax(&out, if extended { "BODYSTRUCTURE" } else { "BODY" });
        }
    }

    for (path, part) in section_paths(&meta.root).into_iter().take(MAX_PATHS) {
        let found = find_part(&meta.root, &path)
            .unwrap_or_else(|| panic!("find_part misses section {path:?}"));
        assert!(
            std::ptr::eq(found, part),
            "find_part({path:?}) names another part"
        );
        let section = |text| Section {
            part: path.clone(),
            text,
        };
        let full = section_bytes(raw, &meta.root, &section(SectionText::Full))
            .unwrap_or_else(|| panic!("BODY[{path:?}] missing"));
        let expected = if path.is_empty() {
            raw
        } else {
            &raw[part.offset_body as usize..part.offset_end as usize]
        };
        assert!(full == expected, "BODY[{path:?}] is not the part's body");
        let holds_message = path.is_empty() || (is_message(part) && !part.children.is_empty());
        for text in [
            SectionText::Mime,
            SectionText::Header,
            SectionText::Text,
            SectionText::HeaderFields(vec!["Subject".into(), "content-type".into()]),
            SectionText::HeaderFieldsNot(vec!["Received".into()]),
        ] {
            let header_like = !matches!(text, SectionText::Mime);
            let s = section(text);
            let _ = section_label(&s);
            let bytes = section_bytes(raw, &meta.root, &s);
            if holds_message && header_like {
                assert!(bytes.is_some(), "BODY[{}] missing", section_label(&s));
            }
        }
        assert!(
            binary_bytes(raw, &meta.root, &path).is_some(),
            "BINARY[{path:?}] missing"
        );
        let mut beyond = path.clone();
        beyond.push(u32::MAX);
        let _ = section_bytes(
            raw,
            &meta.root,
            &Section {
                part: beyond,
                text: SectionText::Full,
            },
        );
    }
}

fn is_multipart(part: &Part) -> bool {
    part.content_type == "multipart"
}

fn is_message(part: &Part) -> bool {
    part.content_type == "message" && (part.subtype == "rfc822" || part.subtype == "global")
}

/// Every part with its section path (RFC 9051 6.4.5), without recursion.
fn section_paths(root: &Part) -> Vec<(Vec<u32>, &Part)> {
    let mut out = Vec::new();
    let mut stack: Vec<(Vec<u32>, &Part)> = vec![(vec![], root)];
    while let Some((path, part)) = stack.pop() {
        // A single-part message has one part, 1: itself (a message/rfc822 one included:
        // its part 1 is the encapsulated message, whose parts are 1.1, 1.2 ...).
        let base = if path.is_empty() && !is_multipart(part) {
            out.push((vec![1], part));
            vec![1]
        } else {
            path.clone()
        };
        let children: Vec<(Vec<u32>, &Part)> = if is_message(part) {
            match part.children.first() {
                Some(nested) if is_multipart(nested) => numbered(&base, &nested.children),
                Some(nested) => vec![(extend(&base, 1), nested)],
                None => vec![],
            }
        } else if is_multipart(part) {
            numbered(&path, &part.children)
        } else {
            vec![]
        };
        out.push((path, part));
        // Reverse so that the pop order is document order.
        stack.extend(children.into_iter().rev());
        if out.len() > MAX_PATHS {
            break;
        }
    }
    out
}

fn extend(path: &[u32], n: u32) -> Vec<u32> {
    let mut p = path.to_vec();
    p.push(n);
    p
}

fn numbered<'a>(path: &[u32], children: &'a [Part]) -> Vec<(Vec<u32>, &'a Part)> {
    children
        .iter()
        .enumerate()
        .map(|(i, c)| (extend(path, i as u32 + 1), c))
        .collect()
}

fn check_offsets(root: &Part, len: usize) {
    let mut stack = vec![(root, 0usize)];
    while let Some((part, depth)) = stack.pop() {
        let (h, b, e) = (
            part.offset_header as usize,
            part.offset_body as usize,
            part.offset_end as usize,
        );
        assert!(
            h <= b && b <= e && e <= len,
            "part at depth {depth} ({}/{}) has offsets header {h} body {b} end {e} in a \
             {len}-byte message",
            part.content_type,
            part.subtype
        );
        stack.extend(part.children.iter().map(|c| (c, depth + 1)));
    }
}

/// One IMAP parenthesised list: balanced, strings closed, literals of the right length.
fn check_syntax(out: &[u8], what: &str) {
    if let Err(e) = syntax(out) {
        let shown = String::from_utf8_lossy(&out[..out.len().min(300)]);
        panic!("{what} is not well-formed IMAP ({e}): {shown}");
    }
}

fn syntax(out: &[u8]) -> Result<(), String> {
    if out.first() != Some(&b'(') {
        return Err("does not start with (".into());
    }
    let mut depth = 0usize;
    let mut i = 0;
    while i < out.len() {
        match out[i] {
            b'(' => depth += 1,
            b')' => {
                depth = depth.checked_sub(1).ok_or("unbalanced )")?;
                if depth == 0 && i + 1 != out.len() {
                    return Err(format!("text after the list at {i}"));
                }
            }
            b'"' => {
                i += 1;
                loop {
                    match out.get(i) {
                        None => return Err("unterminated quoted string".into()),
                        Some(b'\\') => match out.get(i + 1) {
                            Some(b'"' | b'\\') => i += 2,
                            _ => return Err(format!("bad escape at {i}")),
                        },
                        Some(b'"') => break,
                        Some(b'\r' | b'\n' | 0) => {
                            return Err(format!("CR, LF or NUL in a quoted string at {i}"))
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            b'~' | b'{' => {
                let start = if out[i] == b'~' { i + 1 } else { i };
                if out.get(start) != Some(&b'{') {
                    return Err(format!("stray ~ at {i}"));
                }
                let close = out[start..]
                    .iter()
                    .position(|&b| b == b'}')
                    .ok_or("unterminated literal length")?
                    + start;
                let digits =
                    std::str::from_utf8(&out[start + 1..close]).map_err(|e| e.to_string())?;
                let n: usize = digits
                    .parse()
                    .map_err(|_| format!("bad literal length {digits:?}"))?;
                if out.get(close + 1..close + 3) != Some(b"\r\n") {
                    return Err("literal length not followed by CRLF".into());
                }
                let data = out
                    .get(close + 3..close + 3 + n)
                    .ok_or("literal shorter than announced")?;
                if out[i] != b'~' && data.contains(&0) {
                    return Err("NUL in a non-binary literal".into());
                }
                i = close + 2 + n;
            }
            b' ' => {}
            b if b.is_ascii_alphanumeric() => {}
            b => return Err(format!("unexpected byte {b:#04x} at {i}")),
        }
        i += 1;
    }
    if depth != 0 {
        return Err("unbalanced (".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn typical_messages() {
        super::run(
            b"Subject: t\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
Content-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n\
Subject: inner\r\n\r\nbody\r\n--b--\r\n",
        );
        super::run(b"no headers");
        super::run(b"");
    }

    #[test]
    fn syntax_checker() {
        assert!(super::syntax(b"(\"a\\\"b\" NIL 12 {3}\r\nx\"y)").is_ok());
        assert!(super::syntax(b"(\"a\" (NIL)").is_err());
        assert!(super::syntax(b"(\"a\r\")").is_err());
        assert!(super::syntax(b"({5}\r\nab)").is_err());
    }
}
