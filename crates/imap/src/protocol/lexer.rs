//! A small byte cursor for the hand-written parsers (ACL, LIST-EXTENDED, CREATE USE, ESEARCH,
//! APPEND UTF8). None of these grammars is recursive; the only nesting is bounded by the grammar
//! itself (at most two levels of parentheses) and by [`max_paren_depth`] run on every input.

/// Parser error: a short human-readable message.
pub(crate) type PResult<T> = Result<T, String>;

/// `ATOM-CHAR = <any CHAR except atom-specials>`
pub(crate) fn is_atom_char(b: u8) -> bool {
    matches!(b, 0x21..=0x7e) && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// `ASTRING-CHAR = ATOM-CHAR / resp-specials`
pub(crate) fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

/// `list-char = ATOM-CHAR / list-wildcards / resp-specials`
pub(crate) fn is_list_char(b: u8) -> bool {
    is_atom_char(b) || matches!(b, b'%' | b'*' | b']')
}

/// `tag = 1*<any ASTRING-CHAR except "+">`
pub(crate) fn is_tag_char(b: u8) -> bool {
    is_astring_char(b) && b != b'+'
}

/// "INBOX" in any case is INBOX; every other name is kept as written.
pub(crate) fn normalize_mailbox(name: String) -> String {
    if name.eq_ignore_ascii_case("INBOX") {
        "INBOX".to_string()
    } else {
        name
    }
}

pub(crate) fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Deepest nesting of `(` outside quoted strings and literal data. Stops counting once `limit`
/// is exceeded (returns `limit + 1`), so hostile input costs one linear pass at most.
pub(crate) fn max_paren_depth(input: &[u8], limit: usize) -> usize {
    let mut depth = 0usize;
    let mut max = 0usize;
    let mut i = 0usize;
    while i < input.len() {
        match input[i] {
            b'"' => {
                i += 1;
                while i < input.len() {
                    match input[i] {
                        b'\\' => i += 2,
                        b'"' => break,
                        b'\r' | b'\n' => break,
                        _ => i += 1,
                    }
                }
                i += 1;
            }
            b'{' => {
                if let Some((len, after)) = literal_header(input, i) {
                    i = after.saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
                } else {
                    i += 1;
                }
            }
            b'(' => {
                depth += 1;
                if depth > max {
                    max = depth;
                    if max > limit {
                        return max;
                    }
                }
                i += 1;
            }
            b')' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            _ => i += 1,
        }
    }
    max
}

/// At `input[at] == '{'`: `{digits[+]}` followed by CRLF or LF. Returns the length and the index
/// of the first data byte.
fn literal_header(input: &[u8], at: usize) -> Option<(u64, usize)> {
    let mut i = at + 1;
    let start = i;
    let mut n: u64 = 0;
    while i < input.len() && input[i].is_ascii_digit() {
        n = n
            .saturating_mul(10)
            .saturating_add(u64::from(input[i] - b'0'));
        i += 1;
    }
    if i == start {
        return None;
    }
    if input.get(i) == Some(&b'+') || input.get(i) == Some(&b'-') {
        i += 1;
    }
    if input.get(i) != Some(&b'}') {
        return None;
    }
    i += 1;
    if input.get(i) == Some(&b'\r') {
        i += 1;
    }
    if input.get(i) != Some(&b'\n') {
        return None;
    }
    Some((n, i + 1))
}

pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// What is left of the input.
    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    pub(crate) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn expect(&mut self, b: u8, what: &str) -> PResult<()> {
        if self.eat(b) {
            Ok(())
        } else if self.at_line_end() {
            Err(format!("missing {what}"))
        } else {
            Err(format!("expected {what}"))
        }
    }

    pub(crate) fn sp(&mut self, what: &str) -> PResult<()> {
        if self.eat(b' ') {
            Ok(())
        } else if self.at_line_end() {
            Err(format!("missing {what}"))
        } else {
            Err(format!("expected a space before {what}"))
        }
    }

    /// At CRLF / LF (or the end of the input).
    pub(crate) fn at_line_end(&self) -> bool {
        matches!(self.peek(), None | Some(b'\r') | Some(b'\n'))
    }

    /// The final CRLF (or bare LF) and nothing after it.
    pub(crate) fn end(&mut self) -> PResult<()> {
        let rest = &self.buf[self.pos..];
        if rest == b"\r\n" || rest == b"\n" || rest.is_empty() {
            self.pos = self.buf.len();
            Ok(())
        } else {
            Err("unexpected characters at end of command".to_string())
        }
    }

    /// Case-insensitive keyword not followed by another atom character.
    pub(crate) fn keyword(&mut self, kw: &str) -> bool {
        let kw = kw.as_bytes();
        let end = self.pos + kw.len();
        if end > self.buf.len() || !self.buf[self.pos..end].eq_ignore_ascii_case(kw) {
            return false;
        }
        if self.buf.get(end).is_some_and(|&b| is_atom_char(b)) {
            return false;
        }
        self.pos = end;
        true
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        &self.buf[start..self.pos]
    }

    /// `atom = 1*ATOM-CHAR` (ASCII only, so always valid UTF-8).
    pub(crate) fn atom(&mut self, what: &str) -> PResult<&'a str> {
        let bytes = self.take_while(is_atom_char);
        if bytes.is_empty() {
            return Err(self.missing(what));
        }
        Ok(std::str::from_utf8(bytes).unwrap_or_default())
    }

    fn missing(&self, what: &str) -> String {
        if self.at_line_end() {
            format!("missing {what}")
        } else {
            format!("invalid {what}")
        }
    }

    /// `quoted = DQUOTE *QUOTED-CHAR DQUOTE`, 8-bit allowed if it is valid UTF-8 (RFC 9755).
    pub(crate) fn quoted(&mut self) -> PResult<String> {
        if !self.eat(b'"') {
            return Err("expected a quoted string".to_string());
        }
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\r') | Some(b'\n') | Some(0) => {
                    return Err("unterminated quoted string".to_string())
                }
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        _ => return Err("invalid escape in quoted string".to_string()),
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
        String::from_utf8(out).map_err(|_| "invalid UTF-8 in quoted string".to_string())
    }

    /// `literal = "{" number ["+"] "}" CRLF *CHAR8`; with `allow8` also `literal8 = "~{" ...`.
    /// LITERAL- style `{n-}` is not valid syntax and is refused.
    pub(crate) fn literal(&mut self, allow8: bool) -> PResult<&'a [u8]> {
        let binary = allow8 && self.eat(b'~');
        if !self.eat(b'{') {
            return Err("expected a literal".to_string());
        }
        let digits = self.take_while(|b| b.is_ascii_digit());
        let len: usize = std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
            .ok_or_else(|| "invalid literal length".to_string())? as usize;
        self.eat(b'+');
        if !self.eat(b'}') {
            return Err("invalid literal".to_string());
        }
        self.eat(b'\r');
        if !self.eat(b'\n') {
            return Err("literal announcement must end the line".to_string());
        }
        let end = self.pos.checked_add(len).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err("literal data missing".to_string());
        };
        let data = &self.buf[self.pos..end];
        if !binary && data.contains(&0) {
            return Err("NUL in literal".to_string());
        }
        self.pos = end;
        Ok(data)
    }

    /// `string = quoted / literal`
    pub(crate) fn string(&mut self, what: &str) -> PResult<String> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(false).map(lossy),
            _ => Err(self.missing(what)),
        }
    }

    /// `astring = 1*ASTRING-CHAR / string`
    pub(crate) fn astring(&mut self, what: &str) -> PResult<String> {
        match self.peek() {
            Some(b'"') | Some(b'{') => self.string(what),
            Some(b) if is_astring_char(b) => {
                let bytes = self.take_while(is_astring_char);
                Ok(lossy(bytes))
            }
            Some(b) if b >= 0x80 => Err(format!("invalid {what}: 8-bit characters must be quoted")),
            _ => Err(self.missing(what)),
        }
    }

    /// `mailbox = "INBOX" / astring`
    pub(crate) fn mailbox(&mut self) -> PResult<String> {
        self.astring("mailbox name").map(normalize_mailbox)
    }

    /// `list-mailbox = 1*list-char / string`
    pub(crate) fn list_mailbox(&mut self) -> PResult<String> {
        match self.peek() {
            Some(b'"') | Some(b'{') => self.string("mailbox pattern"),
            Some(b) if is_list_char(b) => Ok(lossy(self.take_while(is_list_char))),
            _ => Err(self.missing("mailbox pattern")),
        }
    }

    /// `flag-list = "(" [flag *(SP flag)] ")"`, flag = "\" atom / atom.
    pub(crate) fn flag_list(&mut self) -> PResult<Vec<String>> {
        self.expect(b'(', "flag list")?;
        let mut flags = Vec::new();
        if self.eat(b')') {
            return Ok(flags);
        }
        loop {
            let backslash = self.eat(b'\\');
            let name = self.atom("flag")?;
            flags.push(if backslash {
                format!("\\{name}")
            } else {
                name.to_string()
            });
            if self.eat(b')') {
                return Ok(flags);
            }
            self.sp("flag")?;
        }
    }

    /// The bytes of a parenthesised group starting here, parentheses included, skipping
    /// quoted strings and literal data (NOTIFY's FETCH items, handed to the FETCH parser).
    pub(crate) fn balanced(&mut self) -> PResult<&'a [u8]> {
        let start = self.pos;
        if self.peek() != Some(b'(') {
            return Err("expected (".to_string());
        }
        let mut depth = 0usize;
        while let Some(b) = self.peek() {
            match b {
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        self.pos += 1;
                        return Ok(&self.buf[start..self.pos]);
                    }
                }
                b'"' => {
                    self.quoted()?;
                    continue;
                }
                b'{' => {
                    if let Some((len, after)) = literal_header(self.buf, self.pos) {
                        let end = usize::try_from(len)
                            .ok()
                            .and_then(|n| after.checked_add(n))
                            .filter(|&e| e <= self.buf.len())
                            .ok_or_else(|| "literal data missing".to_string())?;
                        self.pos = end;
                        continue;
                    }
                }
                b'\r' | b'\n' => break,
                _ => {}
            }
            self.pos += 1;
        }
        Err("unbalanced parentheses".to_string())
    }

    /// Parenthesised list of atoms, e.g. `(CHILDREN SUBSCRIBED)`; `f` is called for each
    /// element with the cursor positioned on it and must consume it.
    pub(crate) fn paren_list(
        &mut self,
        what: &str,
        allow_empty: bool,
        mut f: impl FnMut(&mut Self) -> PResult<()>,
    ) -> PResult<()> {
        self.expect(b'(', what)?;
        if self.eat(b')') {
            return if allow_empty {
                Ok(())
            } else {
                Err(format!("empty {what}"))
            };
        }
        loop {
            f(self)?;
            if self.eat(b')') {
                return Ok(());
            }
            if self.at_line_end() {
                return Err(format!("unbalanced parentheses in {what}"));
            }
            self.sp(what)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_outside_quotes_and_literals() {
        assert_eq!(max_paren_depth(b"A1 SEARCH ((ALL))\r\n", 64), 2);
        assert_eq!(max_paren_depth(b"A1 SEARCH SUBJECT \"(((\" ALL\r\n", 64), 0);
        assert_eq!(
            max_paren_depth(b"A1 SEARCH SUBJECT {3}\r\n((( ALL\r\n", 64),
            0
        );
        assert_eq!(
            max_paren_depth(b"A1 SEARCH SUBJECT \"a\\\"(\" (ALL)\r\n", 64),
            1
        );
        let deep = format!(
            "A1 SEARCH {}ALL{}\r\n",
            "(".repeat(10_000),
            ")".repeat(10_000)
        );
        assert_eq!(max_paren_depth(deep.as_bytes(), 64), 65);
    }

    #[test]
    fn cursor_basics() {
        let mut c = Cursor::new(b"\"a\\\"b\" {3}\r\nxyz inbox\r\n");
        assert_eq!(c.astring("x").unwrap(), "a\"b");
        c.sp("x").unwrap();
        assert_eq!(c.astring("x").unwrap(), "xyz");
        c.sp("x").unwrap();
        assert_eq!(c.mailbox().unwrap(), "INBOX");
        c.end().unwrap();

        let mut c = Cursor::new(b"{10}\r\nabc\r\n");
        assert_eq!(c.astring("x").unwrap_err(), "literal data missing");
        let mut c = Cursor::new(b"\"abc\r\n");
        assert!(c.astring("x").is_err());
        let mut c = Cursor::new(b"\"\xff\xfe\"\r\n");
        assert!(c.astring("x").is_err());
        let mut c = Cursor::new("\"Thư mục\"".as_bytes());
        assert_eq!(c.astring("x").unwrap(), "Thư mục");
    }
}
