//! Strings in responses (RFC 9051 4.3): quoted strings, literals, atoms, NIL.
//!
//! Three quoting rules are in use, each where the response it serves needs it:
//! - [`string`] / [`nstring_header`] for FETCH data (ENVELOPE, BODYSTRUCTURE): quoted unless
//!   long or holding CR, LF or NUL, then a literal; header text that is not ASCII is an
//!   RFC 2047 encoded word unless the client enabled UTF8=ACCEPT.
//! - [`quote`] for names in LIST, STATUS, ACL and QUOTA lines (mailbox names and addresses
//!   never hold CR or LF): always quoted.
//! - [`quoted_or_literal`] / [`astring`] / [`nstring`]: quoted only when 7-bit, for values
//!   a client may hold to the strict IMAP4rev1 grammar.

use base64::Engine;

use crate::protocol::is_astring_char;

/// Longest string sent as a quoted string by [`quoted_or_literal`]; longer ones go as
/// literals.
pub const MAX_QUOTED: usize = 1024;

/// `{n}\r\n` followed by the bytes, or `~{n}\r\n` (a literal8, RFC 3516) when they hold a
/// NUL (RFC 9051 4.3: a literal holds no NUL).
pub fn literal(bytes: &[u8], out: &mut Vec<u8>) {
    let marker = if bytes.contains(&0) { "~" } else { "" };
    out.extend_from_slice(format!("{marker}{{{}}}\r\n", bytes.len()).as_bytes());
    out.extend_from_slice(bytes);
}

/// The announcement of a literal of `len` bytes sent separately (streamed): `{n}\r\n`, or
/// `~{n}\r\n` when the bytes hold a NUL.
pub fn literal_header(len: u64, has_nul: bool, out: &mut Vec<u8>) {
    let marker = if has_nul { "~" } else { "" };
    out.extend_from_slice(format!("{marker}{{{len}}}\r\n").as_bytes());
}

/// BODY data (RFC 9051 `msg-att-static`: BODY section is an nstring, never a literal8):
/// `{n}\r\n` and the bytes with any NUL sent as 0x80, as Dovecot does. Messages APPENDed
/// with NUL are stored re-encoded (see `crate::reencode`), so only mail a non-conforming
/// peer delivered can hold one; BINARY still returns it as it is.
pub fn body_literal(bytes: &[u8], out: &mut Vec<u8>) {
    let at = out.len() + format!("{{{}}}\r\n", bytes.len()).len();
    plain_literal(bytes, out);
    without_nul(&mut out[at..]);
}

/// Replaces every NUL by 0x80 (the size stays the same, so sections keep their offsets).
pub fn without_nul(bytes: &mut [u8]) {
    for b in bytes.iter_mut().filter(|b| **b == 0) {
        *b = 0x80;
    }
}

/// `{n}\r\n` followed by the bytes, never a literal8.
pub fn plain_literal(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'{');
    out.extend_from_slice(bytes.len().to_string().as_bytes());
    out.extend_from_slice(b"}\r\n");
    out.extend_from_slice(bytes);
}

/// An IMAP string for FETCH data: quoted when shorter than 1024 bytes and free of CR, LF and
/// NUL (8-bit text included), a literal otherwise.
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

/// NIL or a header string ([`string`]). Non-ASCII text is sent as an RFC 2047 encoded word
/// unless the client enabled UTF8=ACCEPT (RFC 9051 7.5.2: envelope fields carry header
/// syntax).
pub fn nstring_header(text: Option<&str>, utf8: bool, out: &mut Vec<u8>) {
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

/// A quoted string with `"` and `\` escaped, whatever it holds (for names that never hold
/// CR or LF: mailbox names, addresses, identifiers).
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A quoted string (with `"` and `\` escaped) if `s` is short and 7-bit without CR, LF or NUL;
/// otherwise a literal.
pub fn quoted_or_literal(s: &str, out: &mut Vec<u8>) {
    let quotable = s.len() <= MAX_QUOTED
        && s.bytes()
            .all(|b| b != 0 && b != b'\r' && b != b'\n' && b < 0x80);
    if !quotable {
        plain_literal(s.as_bytes(), out);
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

/// `NIL` or a string ([`quoted_or_literal`]).
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
        plain_literal(b"\x00\xff", &mut out);
        assert_eq!(out, b"{2}\r\n\x00\xff");
    }

    #[test]
    fn fetch_strings_and_names() {
        assert_eq!(run(|o| string("Đơn \"vị\"", o)), "\"Đơn \\\"vị\\\"\"");
        assert_eq!(run(|o| string("a\r\nb", o)), "{4}\r\na\r\nb");
        assert_eq!(run(|o| literal(b"a\x00b", o)), "~{3}\r\na\x00b");
        let mut out = Vec::new();
        body_literal(b"a\x00b", &mut out);
        assert_eq!(out, b"{3}\r\na\x80b");
        assert_eq!(
            run(|o| nstring_header(Some("Đơn"), false, o)),
            "\"=?UTF-8?B?xJDGoW4=?=\""
        );
        assert_eq!(run(|o| nstring_header(Some("Đơn"), true, o)), "\"Đơn\"");
        assert_eq!(quote("Đơn vị/a\"b"), "\"Đơn vị/a\\\"b\"");
    }
}
