//! `imap_command`: the IMAP command parser (`imap::protocol::parse`), the literal detection the
//! session frames commands with (`literal_at_end`), and modified UTF-7.
//!
//! Asserts:
//! - `parse` never panics, and never *caught* a panic either (it turns its own panics into
//!   "internal parser error"; the fuzzer reports those with the original panic's location);
//! - a successful parse carries the input's tag; an error's tag is the input's tag (or none);
//!   error messages never contain CR or LF (they go into a response line);
//! - framing the input as the session does (lines, literals announced by `{n}` / `{n+}` /
//!   `~{n}`, the session's size limits) always makes progress, and every framed command parses
//!   without a panic;
//! - `literal_at_end` agrees with a plain reading of the line's last `{...}` and finds the
//!   literal whenever the line has no quote at all;
//! - `mutf7::decode(mutf7::encode(s)) == s` for any text.

use imap::protocol::{self, literal_at_end, mutf7};

/// The session's limits, scaled down so that fuzz inputs (at most 256 KiB) can exceed them.
pub const MAX_LINE: usize = 8 * 1024;
pub const MAX_LITERAL: usize = 64 * 1024;
pub const MAX_COMMAND: usize = 96 * 1024;

pub fn run(data: &[u8]) {
    // The whole input as one command.
    check_parse(data);

    // The input as a connection's byte stream, framed as `Session::read_frame` does.
    let mut rest = data;
    while !rest.is_empty() {
        let before = rest.len();
        match next_frame(&mut rest) {
            Frame::Command(command) => check_parse(&command),
            Frame::Refused => {}
            Frame::Eof => break,
        }
        assert!(rest.len() < before, "framing made no progress");
    }

    for line in data.split_inclusive(|&b| b == b'\n') {
        check_literal(line);
    }

    let text = String::from_utf8_lossy(data);
    let mut cut = text.len().min(4096);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let text = &text[..cut];
    let encoded = mutf7::encode(text);
    assert_eq!(
        mutf7::decode(&encoded).as_deref(),
        Some(text),
        "mutf7 round trip of {text:?} via {encoded:?}"
    );
    if let Some(decoded) = mutf7::decode(text) {
        // Whatever decodes re-encodes to something that decodes to the same text.
        assert_eq!(
            mutf7::decode(&mutf7::encode(&decoded)).as_deref(),
            Some(decoded.as_str())
        );
    }
}

fn tag_of(input: &[u8]) -> &[u8] {
    let end = input
        .iter()
        .position(|&b| matches!(b, b' ' | b'\r' | b'\n'))
        .unwrap_or(input.len());
    &input[..end]
}

fn check_parse(command: &[u8]) {
    let tag = String::from_utf8_lossy(tag_of(command));
    match protocol::parse(command) {
        Ok(tagged) => assert_eq!(tagged.tag, tag, "parsed tag differs from the input's"),
        Err(error) => {
            if error.message == "internal parser error" {
                let inner: Vec<String> = crate::panics::take()
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                panic!(
                    "imap::protocol::parse caught a panic: {}",
                    inner.join(" | ")
                );
            }
            if let Some(t) = &error.tag {
                assert_eq!(*t, tag, "error tag differs from the input's");
            }
            assert!(
                !error.message.contains(['\r', '\n']),
                "parse error message contains a line break: {:?}",
                error.message
            );
        }
    }
}

enum Frame {
    Command(Vec<u8>),
    Refused,
    Eof,
}

fn is_append(command: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&command[..command.len().min(64)]).to_ascii_uppercase();
    text.split_whitespace().nth(1) == Some("APPEND")
}

/// One frame of the stream, following `imap::session::Session::read_frame` step by step.
fn next_frame(rest: &mut &[u8]) -> Frame {
    let mut command = Vec::new();
    loop {
        let window = &rest[..rest.len().min(MAX_LINE + 1)];
        if window.is_empty() {
            return Frame::Eof;
        }
        let (line, found) = match window.iter().position(|&b| b == b'\n') {
            Some(p) => (&window[..=p], true),
            None => (window, false),
        };
        *rest = &rest[line.len()..];
        if !found {
            if line.len() <= MAX_LINE {
                // The stream ended inside a line.
                return Frame::Eof;
            }
            // Over-long line: skip to its end.
            return match rest.iter().position(|&b| b == b'\n') {
                Some(p) if p <= MAX_LITERAL => {
                    *rest = &rest[p + 1..];
                    Frame::Refused
                }
                _ => {
                    *rest = &[];
                    Frame::Eof
                }
            };
        }
        command.extend_from_slice(line);
        let Some(literal) = literal_at_end(line) else {
            return Frame::Command(command);
        };
        let too_big = literal.length > MAX_LITERAL as u64
            || (command.len() as u64 + literal.length > MAX_COMMAND as u64 && !is_append(&command));
        if too_big {
            if literal.non_sync {
                if (rest.len() as u64) < literal.length {
                    *rest = &[];
                    return Frame::Eof;
                }
                *rest = &rest[literal.length as usize..];
                let tail = &rest[..rest.len().min(MAX_LINE)];
                let skip = tail
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(tail.len(), |p| p + 1);
                *rest = &rest[skip..];
            }
            return Frame::Refused;
        }
        let n = literal.length as usize;
        if rest.len() < n {
            *rest = &[];
            return Frame::Eof;
        }
        command.extend_from_slice(&rest[..n]);
        *rest = &rest[n..];
    }
}

fn check_literal(line: &[u8]) {
    let found = literal_at_end(line);
    let trimmed = line.strip_suffix(b"\n").unwrap_or(line);
    let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
    // The plain reading: the last `{` up to the final `}`.
    let plain = (|| {
        let inner_end = trimmed.len().checked_sub(1)?;
        if trimmed[inner_end] != b'}' {
            return None;
        }
        let open = trimmed.iter().rposition(|&b| b == b'{')?;
        let inner = &trimmed[open + 1..inner_end];
        let (digits, non_sync) = match inner.strip_suffix(b"+") {
            Some(d) => (d, true),
            None => (inner, false),
        };
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let length = digits.iter().fold(0u64, |n, d| {
            n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        });
        Some((length, non_sync, open > 0 && trimmed[open - 1] == b'~'))
    })();
    match found {
        Some(l) => assert_eq!(
            Some((l.length, l.non_sync, l.binary)),
            plain,
            "literal_at_end disagrees with the line's last {{...}}"
        ),
        None => assert!(
            plain.is_none() || trimmed.contains(&b'"'),
            "literal_at_end missed the literal of a line without quotes"
        ),
    }
}

#[cfg(test)]
mod tests {
    /// The seed corpus is made of commands the parser accepts (but the garbage seed).
    #[test]
    fn seed_commands_parse() {
        let dir = crate::crate_dir().join("corpus/imap_command");
        for (path, data) in crate::driver::load_inputs(&[dir]).unwrap() {
            if path.ends_with("bare_lf_and_garbage") {
                continue;
            }
            let mut rest = &data[..];
            while !rest.is_empty() {
                match super::next_frame(&mut rest) {
                    super::Frame::Command(c) => {
                        if c.starts_with(b"DONE") {
                            continue;
                        }
                        let parsed = imap::protocol::parse(&c);
                        assert!(
                            parsed.is_ok(),
                            "{}: {:?}: {parsed:?}",
                            path.display(),
                            String::from_utf8_lossy(&c)
                        );
                    }
                    _ => panic!("{}: frame refused", path.display()),
                }
            }
        }
    }

    #[test]
    fn seeds_like_inputs() {
        super::run(b"A1 LOGIN {4}\r\nuser {4+}\r\npass\r\nA2 SELECT INBOX\r\n");
        super::run(b"A1 APPEND INBOX (\\Seen) ~{5}\r\nab\0cd\r\n");
        super::run(b"A1 SEARCH NOT (OR (FROM a) (TO b))\r\n");
        super::run(b"\xff\xfe&Jjo-&-");
    }
}
