//! Helpers for writing strings into responses.

use super::lexer::is_astring_char;

/// Longest string sent as a quoted string; longer ones go as literals.
pub const MAX_QUOTED: usize = 1024;

/// `{n}\r\n` followed by the bytes.
pub fn literal(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'{');
    out.extend_from_slice(bytes.len().to_string().as_bytes());
    out.extend_from_slice(b"}\r\n");
    out.extend_from_slice(bytes);
}

/// A quoted string (with `"` and `\` escaped) if `s` is short and 7-bit without CR, LF or NUL;
/// otherwise a literal.
pub fn quoted_or_literal(s: &str, out: &mut Vec<u8>) {
    let quotable = s.len() <= MAX_QUOTED
        && s.bytes()
            .all(|b| b != 0 && b != b'\r' && b != b'\n' && b < 0x80);
    if !quotable {
        literal(s.as_bytes(), out);
        return;
    }
    out.push(b'"');
    for b in s.bytes() {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// `NIL` or a string.
pub fn nstring(s: Option<&str>, out: &mut Vec<u8>) {
    match s {
        None => out.extend_from_slice(b"NIL"),
        Some(s) => quoted_or_literal(s, out),
    }
}

/// An atom when `s` consists of ASTRING-CHARs only (and is not `NIL`, which a reader of an
/// nstring position would take for NIL), otherwise a quoted string or literal.
pub fn astring(s: &str, out: &mut Vec<u8>) {
    if !s.is_empty() && s.bytes().all(is_astring_char) && !s.eq_ignore_ascii_case("NIL") {
        out.extend_from_slice(s.as_bytes());
    } else {
        quoted_or_literal(s, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings() {
        assert_eq!(run(|o| quoted_or_literal("abc", o)), "\"abc\"");
        assert_eq!(run(|o| quoted_or_literal("", o)), "\"\"");
        assert_eq!(run(|o| quoted_or_literal("a\"b\\c", o)), "\"a\\\"b\\\\c\"");
        assert_eq!(run(|o| quoted_or_literal("a\r\nb", o)), "{4}\r\na\r\nb");
        assert_eq!(run(|o| quoted_or_literal("Đơn", o)), "{5}\r\nĐơn");
        let long = "x".repeat(MAX_QUOTED + 1);
        assert!(run(|o| quoted_or_literal(&long, o)).starts_with("{1025}\r\n"));
        assert_eq!(run(|o| nstring(None, o)), "NIL");
        assert_eq!(run(|o| nstring(Some("NIL"), o)), "\"NIL\"");
        assert_eq!(run(|o| astring("INBOX", o)), "INBOX");
        assert_eq!(run(|o| astring("a]b", o)), "a]b");
        assert_eq!(run(|o| astring("a b", o)), "\"a b\"");
        assert_eq!(run(|o| astring("", o)), "\"\"");
        assert_eq!(run(|o| astring("50%", o)), "\"50%\"");
        assert_eq!(run(|o| astring("a{b", o)), "\"a{b\"");
        let mut out = Vec::new();
        literal(b"\x00\xff", &mut out);
        assert_eq!(out, b"{2}\r\n\x00\xff");
    }
}
