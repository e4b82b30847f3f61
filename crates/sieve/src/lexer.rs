//! Tokens of a Sieve script (RFC 5228 8.1), each with the line it starts on.

use crate::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// `if`, `header`, … (compared ASCII case-insensitively by the parser).
    Identifier(String),
    /// `:is`, without the colon.
    Tag(String),
    Number(u64),
    /// A quoted or multi-line string, escapes and dot-stuffing removed.
    String(String),
    LeftBracket,
    RightBracket,
    LeftParen,
    RightParen,
    LeftBrace,
    RightBrace,
    Comma,
    Semicolon,
}

/// A token and the line (from 1) it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned {
    pub token: Token,
    pub line: usize,
}

/// Splits a script into tokens. Line ends may be CRLF or a bare LF.
pub fn tokenize(script: &str) -> Result<Vec<Spanned>, Error> {
    let bytes = script.as_bytes();
    let mut tokens = vec![];
    let mut at = 0;
    let mut line = 1;
    while at < bytes.len() {
        let c = bytes[at];
        let start_line = line;
        let push = |tokens: &mut Vec<Spanned>, token| {
            tokens.push(Spanned {
                token,
                line: start_line,
            })
        };
        match c {
            b'\n' => {
                line += 1;
                at += 1;
            }
            b' ' | b'\t' | b'\r' => at += 1,
            // RFC 5228 2.3: hash comments run to the end of the line.
            b'#' => {
                while at < bytes.len() && bytes[at] != b'\n' {
                    at += 1;
                }
            }
            // Bracketed comments; they do not nest.
            b'/' if bytes.get(at + 1) == Some(&b'*') => {
                at += 2;
                loop {
                    if at + 1 >= bytes.len() {
                        return Err(Error::new(start_line, "unterminated /* comment"));
                    }
                    if bytes[at] == b'*' && bytes[at + 1] == b'/' {
                        at += 2;
                        break;
                    }
                    if bytes[at] == b'\n' {
                        line += 1;
                    }
                    at += 1;
                }
            }
            b'[' => {
                push(&mut tokens, Token::LeftBracket);
                at += 1;
            }
            b']' => {
                push(&mut tokens, Token::RightBracket);
                at += 1;
            }
            b'(' => {
                push(&mut tokens, Token::LeftParen);
                at += 1;
            }
            b')' => {
                push(&mut tokens, Token::RightParen);
                at += 1;
            }
            b'{' => {
                push(&mut tokens, Token::LeftBrace);
                at += 1;
            }
            b'}' => {
                push(&mut tokens, Token::RightBrace);
                at += 1;
            }
            b',' => {
                push(&mut tokens, Token::Comma);
                at += 1;
            }
            b';' => {
                push(&mut tokens, Token::Semicolon);
                at += 1;
            }
            b'"' => {
                // RFC 5228 2.4.2: `\` quotes the next character; only `\"` and `\\` mean
                // something, any other `\x` is x.
                at += 1;
                let mut text = Vec::new();
                loop {
                    match bytes.get(at) {
                        None => return Err(Error::new(start_line, "unterminated string")),
                        Some(b'"') => {
                            at += 1;
                            break;
                        }
                        Some(b'\\') => match bytes.get(at + 1) {
                            None => return Err(Error::new(start_line, "unterminated string")),
                            Some(&next) => {
                                if next == b'\n' {
                                    line += 1;
                                }
                                text.push(next);
                                at += 2;
                            }
                        },
                        Some(&other) => {
                            if other == b'\n' {
                                line += 1;
                            }
                            text.push(other);
                            at += 1;
                        }
                    }
                }
                push(&mut tokens, Token::String(utf8(text, start_line)?));
            }
            b':' => {
                at += 1;
                let name = identifier(bytes, &mut at);
                if name.is_empty() {
                    return Err(Error::new(line, "':' not followed by a tag name"));
                }
                push(&mut tokens, Token::Tag(name.to_ascii_lowercase()));
            }
            b'0'..=b'9' => {
                let begin = at;
                while at < bytes.len() && bytes[at].is_ascii_digit() {
                    at += 1;
                }
                let digits = &script[begin..at];
                let mut value: u64 = digits
                    .parse()
                    .map_err(|_| Error::new(line, format!("number {digits} too large")))?;
                // RFC 5228 2.4.1: K, M and G multiply by 2^10, 2^20, 2^30.
                let shift = match bytes.get(at).map(u8::to_ascii_uppercase) {
                    Some(b'K') => 10,
                    Some(b'M') => 20,
                    Some(b'G') => 30,
                    _ => 0,
                };
                if shift > 0 {
                    at += 1;
                    value = value
                        .checked_mul(1 << shift)
                        .ok_or_else(|| Error::new(line, format!("number {digits} too large")))?;
                }
                if at < bytes.len() && (bytes[at].is_ascii_alphanumeric() || bytes[at] == b'_') {
                    return Err(Error::new(line, "a number runs into letters"));
                }
                push(&mut tokens, Token::Number(value));
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let name = identifier(bytes, &mut at);
                // RFC 5228 2.4.2: "text:" starts a multi-line string.
                if name.eq_ignore_ascii_case("text") && bytes.get(at) == Some(&b':') {
                    at += 1;
                    let text = multi_line(bytes, &mut at, &mut line)?;
                    push(&mut tokens, Token::String(utf8(text, start_line)?));
                } else {
                    push(&mut tokens, Token::Identifier(name));
                }
            }
            other => {
                let shown = script[at..].chars().next().unwrap_or(other as char);
                return Err(Error::new(line, format!("unexpected character {shown:?}")));
            }
        }
    }
    Ok(tokens)
}

fn identifier(bytes: &[u8], at: &mut usize) -> String {
    let begin = *at;
    while *at < bytes.len() && (bytes[*at].is_ascii_alphanumeric() || bytes[*at] == b'_') {
        *at += 1;
    }
    String::from_utf8_lossy(&bytes[begin..*at]).into_owned()
}

fn utf8(bytes: Vec<u8>, line: usize) -> Result<String, Error> {
    String::from_utf8(bytes).map_err(|_| Error::new(line, "string is not UTF-8"))
}

/// The body of `text:` after the colon: blanks, an optional hash comment, the line end, then
/// lines up to a line of a single ".". A leading "." of a line is removed (dot-stuffing).
/// Lines keep CRLF ends.
fn multi_line(bytes: &[u8], at: &mut usize, line: &mut usize) -> Result<Vec<u8>, Error> {
    let start = *line;
    while *at < bytes.len() && matches!(bytes[*at], b' ' | b'\t') {
        *at += 1;
    }
    if bytes.get(*at) == Some(&b'#') {
        while *at < bytes.len() && bytes[*at] != b'\n' {
            *at += 1;
        }
    }
    if bytes.get(*at) == Some(&b'\r') {
        *at += 1;
    }
    if bytes.get(*at) != Some(&b'\n') {
        return Err(Error::new(
            start,
            "text: must be followed by the end of the line",
        ));
    }
    *at += 1;
    *line += 1;
    let mut text = Vec::new();
    loop {
        if *at >= bytes.len() {
            return Err(Error::new(
                start,
                "multi-line string not ended by a \".\" line",
            ));
        }
        let end = bytes[*at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |p| *at + p);
        let mut content = &bytes[*at..end];
        if content.last() == Some(&b'\r') {
            content = &content[..content.len() - 1];
        }
        *at = (end + 1).min(bytes.len());
        *line += 1;
        if content == b"." {
            return Ok(text);
        }
        let content = content.strip_prefix(b".").unwrap_or(content);
        text.extend_from_slice(content);
        text.extend_from_slice(b"\r\n");
    }
}
