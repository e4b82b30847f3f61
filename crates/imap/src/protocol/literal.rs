//! Framing help: does a command line end with a literal announcement?

/// A literal announced at the end of a line: `{n}`, `{n+}` (LITERAL+/LITERAL-) or `~{n}` /
/// `~{n+}` (literal8, RFC 3516).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Literal {
    pub length: u64,
    /// `{n+}`: the client does not wait for a `+` continuation.
    pub non_sync: bool,
    /// `~{n}`: literal8, may contain NUL.
    pub binary: bool,
}

/// Given one line (ending in CRLF or LF, or not terminated), tells whether it ends with a
/// literal announcement. Quoted strings are skipped, so `A1 LOGIN "{3}"` is not a literal while
/// `A1 LOGIN "a{5}" {3}` is. The line must start outside a quoted string (the start of a command,
/// or the text following a literal's data). An absurd length saturates at `u64::MAX` so the
/// caller can refuse it.
pub fn literal_at_end(line: &[u8]) -> Option<Literal> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.last() != Some(&b'}') {
        return None;
    }
    let mut in_quote = false;
    let mut last_brace = None;
    let mut i = 0;
    while i < line.len() {
        let b = line[i];
        if in_quote {
            match b {
                b'\\' => i += 1,
                b'"' => in_quote = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_quote = true,
                b'{' => last_brace = Some(i),
                _ => {}
            }
        }
        i += 1;
    }
    if in_quote {
        return None;
    }
    let start = last_brace?;
    let inner = &line[start + 1..line.len() - 1];
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
    Some(Literal {
        length,
        non_sync,
        binary: start > 0 && line[start - 1] == b'~',
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(length: u64, non_sync: bool, binary: bool) -> Option<Literal> {
        Some(Literal {
            length,
            non_sync,
            binary,
        })
    }

    #[test]
    fn table() {
        let rows: &[(&[u8], Option<Literal>)] = &[
            (b"A1 LOGIN user {5}\r\n", lit(5, false, false)),
            (b"A1 LOGIN user {5}\n", lit(5, false, false)),
            (b"A1 LOGIN user {5}", lit(5, false, false)),
            (b"A1 APPEND INBOX {310+}\r\n", lit(310, true, false)),
            (b"A1 APPEND INBOX ~{42}\r\n", lit(42, false, true)),
            (b"A1 APPEND INBOX UTF8 (~{42+}\r\n", lit(42, true, true)),
            (b"A1 LOGIN \"a{5}\" {3}\r\n", lit(3, false, false)),
            (b"A1 LOGIN \"{3}\"\r\n", None),
            (b"A1 LOGIN \"a\\\"{3}\r\n", None),
            (b"A1 LOGIN \"a\\\\\" {3}\r\n", lit(3, false, false)),
            (b"A1 LOGIN \"unterminated {3}\r\n", None),
            (b"A1 NOOP\r\n", None),
            (b"A1 LOGIN x {}\r\n", None),
            (b"A1 LOGIN x {-3}\r\n", None),
            (b"A1 LOGIN x {3-}\r\n", None),
            (b"A1 LOGIN x { 3}\r\n", None),
            (b"A1 LOGIN x {3} \r\n", None),
            (b"A1 LOGIN x {0}\r\n", lit(0, false, false)),
            (b") {7}\r\n", lit(7, false, false)),
            (b"", None),
            (b"}\r\n", None),
            (
                b"A1 APPEND x {99999999999999999999999999}\r\n",
                lit(u64::MAX, false, false),
            ),
        ];
        for (line, expected) in rows {
            assert_eq!(
                literal_at_end(line),
                *expected,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }
}
