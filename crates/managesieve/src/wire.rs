//! The ManageSieve wire format (RFC 5804 4): commands as words — atoms, quoted strings and
//! literals (`{n+}` and `{n}`, both read without a continuation) — and responses with their
//! response codes and strings. Every line and literal is bounded.

use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// One word of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Word {
    /// A command name or a number.
    Atom(String),
    /// A quoted string or a literal.
    String(Vec<u8>),
}

impl Word {
    /// The text of a string (UTF-8); None for an atom or bytes that are not UTF-8.
    pub fn text(&self) -> Option<String> {
        match self {
            Word::String(bytes) => String::from_utf8(bytes.clone()).ok(),
            Word::Atom(_) => None,
        }
    }
}

/// Why no command was read.
#[derive(Debug)]
pub enum ReadError {
    /// The connection closed (or failed).
    Closed,
    /// No input within the idle time.
    TimedOut,
    /// A line longer than allowed; it was read and dropped.
    LineTooLong,
    /// A literal larger than allowed but small enough to skip; it was read and dropped. The
    /// command word before it is kept so the answer can name the right quota.
    LiteralTooLarge { command: String, size: u64 },
    /// Input that cannot be parsed (the rest of the line was dropped).
    Syntax(String),
    /// A literal too large even to skip: the connection must end.
    Hopeless,
}

/// Bounds on one command.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub max_line: usize,
    pub max_literal: usize,
    /// Largest literal read and dropped (answered NO) instead of ending the connection.
    pub max_skip: u64,
    pub idle: Duration,
}

/// Reads one command: words up to the end of its last line.
pub async fn read_command<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    bounds: &Bounds,
) -> Result<Vec<Word>, ReadError> {
    let mut words = vec![];
    loop {
        let line = read_line(reader, bounds).await?;
        let literal = parse_line(&line, &mut words)?;
        let Some(size) = literal else {
            return Ok(words);
        };
        if size > bounds.max_literal as u64 {
            if size > bounds.max_skip {
                return Err(ReadError::Hopeless);
            }
            skip(reader, size, bounds).await?;
            // The rest of the command line after the literal.
            let _ = read_line(reader, bounds).await;
            let command = match words.first() {
                Some(Word::Atom(name)) => name.to_ascii_uppercase(),
                _ => String::new(),
            };
            return Err(ReadError::LiteralTooLarge { command, size });
        }
        let mut bytes = vec![0; size as usize];
        tokio::time::timeout(bounds.idle, reader.read_exact(&mut bytes))
            .await
            .map_err(|_| ReadError::TimedOut)?
            .map_err(|_| ReadError::Closed)?;
        words.push(Word::String(bytes));
    }
}

async fn skip<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    size: u64,
    bounds: &Bounds,
) -> Result<(), ReadError> {
    let mut sink = tokio::io::sink();
    let copied = tokio::time::timeout(
        bounds.idle,
        tokio::io::copy(&mut reader.take(size), &mut sink),
    )
    .await
    .map_err(|_| ReadError::TimedOut)?
    .map_err(|_| ReadError::Closed)?;
    if copied < size {
        return Err(ReadError::Closed);
    }
    Ok(())
}

/// One line without its CRLF (a bare LF is accepted), at most `max_line` bytes.
async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    bounds: &Bounds,
) -> Result<Vec<u8>, ReadError> {
    let mut line = Vec::new();
    let limit = bounds.max_line as u64 + 2;
    let n = tokio::time::timeout(
        bounds.idle,
        (&mut *reader).take(limit).read_until(b'\n', &mut line),
    )
    .await
    .map_err(|_| ReadError::TimedOut)?
    .map_err(|_| ReadError::Closed)?;
    if n == 0 {
        return Err(ReadError::Closed);
    }
    if line.last() != Some(&b'\n') {
        // Over long: drop the rest of the line, bounded by the idle time.
        loop {
            let mut rest = Vec::new();
            let n = tokio::time::timeout(
                bounds.idle,
                (&mut *reader).take(64 * 1024).read_until(b'\n', &mut rest),
            )
            .await
            .map_err(|_| ReadError::TimedOut)?
            .map_err(|_| ReadError::Closed)?;
            if n == 0 {
                return Err(ReadError::Closed);
            }
            if rest.last() == Some(&b'\n') {
                return Err(ReadError::LineTooLong);
            }
        }
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(line)
}

/// Adds the words of one line; the size of the literal that ends it, if any.
fn parse_line(line: &[u8], words: &mut Vec<Word>) -> Result<Option<u64>, ReadError> {
    let mut at = 0;
    while at < line.len() {
        match line[at] {
            b' ' | b'\t' => at += 1,
            b'"' => {
                at += 1;
                let mut text = Vec::new();
                loop {
                    match line.get(at) {
                        None => return Err(ReadError::Syntax("unterminated quoted string".into())),
                        Some(b'"') => {
                            at += 1;
                            break;
                        }
                        // RFC 5804 4: only \" and \\ are escapes in a quoted string.
                        Some(b'\\') => match line.get(at + 1) {
                            Some(&c @ (b'"' | b'\\')) => {
                                text.push(c);
                                at += 2;
                            }
                            _ => {
                                return Err(ReadError::Syntax("bad escape in quoted string".into()))
                            }
                        },
                        Some(&c) => {
                            text.push(c);
                            at += 1;
                        }
                    }
                }
                words.push(Word::String(text));
            }
            b'{' => {
                let close = line[at..]
                    .iter()
                    .position(|&b| b == b'}')
                    .map(|p| at + p)
                    .ok_or_else(|| ReadError::Syntax("bad literal".into()))?;
                if close + 1 != line.len() {
                    return Err(ReadError::Syntax("a literal must end its line".into()));
                }
                let inner = &line[at + 1..close];
                let digits = inner.strip_suffix(b"+").unwrap_or(inner);
                if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit)
                {
                    return Err(ReadError::Syntax("bad literal size".into()));
                }
                let size = std::str::from_utf8(digits)
                    .ok()
                    .and_then(|d| d.parse().ok())
                    .ok_or_else(|| ReadError::Syntax("bad literal size".into()))?;
                return Ok(Some(size));
            }
            c if c.is_ascii_alphanumeric() => {
                let begin = at;
                while at < line.len() && (line[at].is_ascii_alphanumeric() || line[at] == b'-') {
                    at += 1;
                }
                words.push(Word::Atom(
                    String::from_utf8_lossy(&line[begin..at]).into_owned(),
                ));
            }
            other => {
                return Err(ReadError::Syntax(format!(
                    "unexpected character {:?}",
                    other as char
                )))
            }
        }
    }
    Ok(None)
}

/// A string as the server writes it: quoted when short and plain, else a literal.
pub fn string(text: &str) -> String {
    if text.len() <= 1024 && !text.contains(['"', '\\', '\r', '\n']) {
        format!("\"{text}\"")
    } else {
        format!("{{{}}}\r\n{text}", text.len())
    }
}

/// A final response: `OK`, `NO` or `BYE`, a response code in parentheses, a text.
pub fn response(kind: &str, code: Option<&str>, text: &str) -> String {
    match code {
        Some(code) => format!("{kind} ({code}) {}\r\n", string(text)),
        None => format!("{kind} {}\r\n", string(text)),
    }
}

pub async fn write<W: AsyncWrite + Unpin>(writer: &mut W, text: &str) -> std::io::Result<()> {
    writer.write_all(text.as_bytes()).await?;
    writer.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> Bounds {
        Bounds {
            max_line: 100,
            max_literal: 10,
            max_skip: 50,
            idle: Duration::from_secs(5),
        }
    }

    async fn read(input: &[u8]) -> Vec<Result<Vec<Word>, String>> {
        let mut reader = tokio::io::BufReader::new(input);
        let mut out = vec![];
        loop {
            match read_command(&mut reader, &bounds()).await {
                Ok(words) => out.push(Ok(words)),
                Err(ReadError::Closed) => return out,
                Err(ReadError::Hopeless) => {
                    out.push(Err("hopeless".into()));
                    return out;
                }
                Err(e) => out.push(Err(format!("{e:?}"))),
            }
        }
    }

    fn atom(s: &str) -> Word {
        Word::Atom(s.into())
    }

    fn text(s: &str) -> Word {
        Word::String(s.as_bytes().to_vec())
    }

    #[tokio::test]
    async fn commands_as_words() {
        // RFC 5804 4: quoted strings, non-synchronizing and synchronizing literals.
        type Read = Vec<Result<Vec<Word>, String>>;
        let table: &[(&[u8], Read)] = &[
            (b"CAPABILITY\r\n", vec![Ok(vec![atom("CAPABILITY")])]),
            (
                b"GETSCRIPT \"a \\\"b\\\"\"\r\n",
                vec![Ok(vec![atom("GETSCRIPT"), text("a \"b\"")])],
            ),
            (
                b"PUTSCRIPT \"s\" {5+}\r\nkeep;\r\n",
                vec![Ok(vec![atom("PUTSCRIPT"), text("s"), text("keep;")])],
            ),
            (
                b"PUTSCRIPT \"s\" {5}\r\nkeep;\r\n",
                vec![Ok(vec![atom("PUTSCRIPT"), text("s"), text("keep;")])],
            ),
            (
                b"HAVESPACE \"s\" 100\n",
                vec![Ok(vec![atom("HAVESPACE"), text("s"), atom("100")])],
            ),
        ];
        for (input, expected) in table {
            assert_eq!(
                &read(input).await,
                expected,
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[tokio::test]
    async fn bounds_at_the_boundary() {
        // A literal of exactly max_literal is read; one more is skipped and refused.
        let ok = read(b"CHECKSCRIPT {10+}\r\n0123456789\r\n").await;
        assert_eq!(ok, vec![Ok(vec![atom("CHECKSCRIPT"), text("0123456789")])]);
        let over = read(b"PUTSCRIPT \"s\" {11+}\r\n01234567890\r\nNOOP\r\n").await;
        assert!(
            matches!(&over[0], Err(e) if e.contains("LiteralTooLarge")),
            "{over:?}"
        );
        assert_eq!(
            over[1],
            Ok(vec![atom("NOOP")]),
            "in step after the skipped literal"
        );
        // Beyond max_skip the connection cannot go on.
        let hopeless = read(b"PUTSCRIPT \"s\" {51+}\r\n").await;
        assert_eq!(hopeless, vec![Err("hopeless".into())]);
        // A line of exactly max_line bytes is read; longer ones are dropped.
        let line = format!("NOOP \"{}\"\r\n", "x".repeat(93));
        assert_eq!(line.len() - 2, 100);
        assert!(read(line.as_bytes()).await[0].is_ok());
        let long = format!("NOOP \"{}\"\r\nNOOP\r\n", "x".repeat(94));
        let got = read(long.as_bytes()).await;
        assert!(
            matches!(&got[0], Err(e) if e.contains("LineTooLong")),
            "{got:?}"
        );
        assert_eq!(got[1], Ok(vec![atom("NOOP")]));
        assert!(matches!(&read(b"NOOP \"open\r\n").await[0], Err(e) if e.contains("Syntax")));
    }

    #[test]
    fn strings_and_responses() {
        assert_eq!(string("abc"), "\"abc\"");
        assert_eq!(string("a\r\nb"), "{4}\r\na\r\nb");
        assert_eq!(
            response("NO", Some("QUOTA/MAXSIZE"), "too big"),
            "NO (QUOTA/MAXSIZE) \"too big\"\r\n"
        );
    }
}
