//! Encodings of what we send: DSN parameters (RFC 3461) and the message data (RFC 5321
//! 4.5.2 transparency).

/// xtext (RFC 3461 4): `+HH` for `+`, `=`, controls, space and non-ASCII.
pub fn xtext(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (33..=126).contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

/// The address of an ORCPT value (`rfc822;addr` or `addr`).
pub fn orcpt_address(orcpt: &str) -> &str {
    match orcpt.split_once(';') {
        Some((kind, addr)) if !kind.contains('@') => addr.trim(),
        _ => orcpt.trim(),
    }
}

/// The message as DATA content: dot-stuffed, CRLF-terminated, followed by `.CRLF`.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 64 + 8);
    let mut at_line_start = true;
    for &b in message {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        if out.ends_with(b"\r") {
            out.push(b'\n');
        } else {
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b".\r\n");
    out
}
