//! APPEND, hand-written for the forms imap-codec refuses: several messages in one command
//! (RFC 3502 MULTIAPPEND), CATENATE (RFC 4469) and RFC 6855 `UTF8 (~{n}...)`:
//!
//! ```abnf
//! append         = "APPEND" SP mailbox 1*append-message          ; RFC 3502
//! append-message = [SP flag-list] [SP date-time] SP append-data
//! append-data    = literal / literal8 / "UTF8" SP "(" literal8 ")"  ; RFC 3516, RFC 6855
//! append-data    =/ "CATENATE" SP "(" cat-part *(SP cat-part) ")"  ; RFC 4469 5
//! cat-part       = text-literal / url / "UTF8" SP "(" literal8 ")"
//! text-literal   = "TEXT" SP literal
//! url            = "URL" SP astring
//! ```
//!
//! Counts are not limited here: the session bounds the command's size and number of literals
//! while reading it, and the APPEND handler answers NO [LIMIT] beyond its part limits.

use super::date::date_time;
use super::lexer::{Cursor, PResult};
use super::types::{AppendData, AppendMessage, CatPart, Command};

pub(crate) fn parse(c: &mut Cursor<'_>) -> PResult<Command> {
    c.sp("mailbox name")?;
    let mailbox = c.mailbox()?;
    let mut messages = Vec::new();
    // RFC 3502: 1*append-message, each introduced by SP. Deviation: more spaces are taken
    // as one — imapclient's multiappend() sends two between two literals.
    while c.eat(b' ') {
        while c.eat(b' ') {}
        messages.push(message(c)?);
    }
    if messages.is_empty() {
        return Err(if c.at_line_end() {
            "missing message literal".to_string()
        } else {
            "expected a space before message literal".to_string()
        });
    }
    c.end()?;
    Ok(Command::Append { mailbox, messages })
}

/// One `append-message` after its leading SP.
fn message(c: &mut Cursor<'_>) -> PResult<AppendMessage> {
    let mut flags = Vec::new();
    let mut date = None;
    if c.peek() == Some(b'(') {
        flags = c.flag_list()?;
        c.sp("message literal")?;
    }
    if c.peek() == Some(b'"') {
        date = Some(date_time(c)?);
        c.sp("message literal")?;
    }
    let data = if c.keyword("UTF8") {
        AppendData::Literal(utf8_literal(c)?)
    } else if c.keyword("CATENATE") {
        c.sp("CATENATE parts")?;
        let mut parts = Vec::new();
        c.paren_list("CATENATE parts", false, |c| {
            parts.push(cat_part(c)?);
            Ok(())
        })?;
        AppendData::Catenate(parts)
    } else {
        match c.peek() {
            Some(b'{') | Some(b'~') => AppendData::Literal(c.literal(true)?.to_vec()),
            _ if c.at_line_end() => return Err("missing message literal".to_string()),
            _ => return Err("expected message literal".to_string()),
        }
    };
    Ok(AppendMessage { flags, date, data })
}

/// `"UTF8" SP "(" literal8 ")"` after the keyword (RFC 6855 4).
fn utf8_literal(c: &mut Cursor<'_>) -> PResult<Vec<u8>> {
    c.sp("UTF8 literal")?;
    c.expect(b'(', "( before UTF8 literal")?;
    if c.peek() != Some(b'~') {
        return Err("UTF8 data must be a literal8".to_string());
    }
    let data = c.literal(true)?.to_vec();
    c.expect(b')', ") after UTF8 literal")?;
    Ok(data)
}

/// RFC 4469 5 `cat-part`.
fn cat_part(c: &mut Cursor<'_>) -> PResult<CatPart> {
    if c.keyword("TEXT") {
        c.sp("TEXT literal")?;
        // RFC 4469 5: a literal; a literal8 (RFC 3516 BINARY) is accepted as well.
        return match c.peek() {
            Some(b'{') | Some(b'~') => Ok(CatPart::Text(c.literal(true)?.to_vec())),
            _ => Err("TEXT needs a literal".to_string()),
        };
    }
    if c.keyword("URL") {
        c.sp("URL")?;
        return Ok(CatPart::Url(c.astring("URL")?));
    }
    if c.keyword("UTF8") {
        return Ok(CatPart::Text(utf8_literal(c)?));
    }
    Err("expected TEXT or URL in CATENATE".to_string())
}

#[cfg(test)]
mod tests {
    use super::super::parse as parse_command;
    use super::*;

    fn literal(flags: &[&str], data: &[u8]) -> AppendMessage {
        AppendMessage {
            flags: flags.iter().map(|f| f.to_string()).collect(),
            date: None,
            data: AppendData::Literal(data.to_vec()),
        }
    }

    fn appended(input: &[u8]) -> Vec<AppendMessage> {
        match parse_command(input).unwrap().command {
            Command::Append { messages, .. } => messages,
            other => panic!("{other:?}"),
        }
    }

    /// Two spaces between messages, as imapclient's multiappend() sends them: accepted.
    #[test]
    fn lenient_spacing() {
        let input = b"A1 APPEND INBOX  {1+}\r\na  {1+}\r\nb\r\n";
        assert_eq!(
            appended(input),
            vec![literal(&[], b"a"), literal(&[], b"b")]
        );
    }

    /// RFC 3502 6.3.11 example: two messages, each with its own flags.
    #[test]
    fn multiappend() {
        let input =
            b"A003 APPEND saved-messages (\\Seen) {5}\r\nfirst (\\Seen $Draft) {6}\r\nsecond\r\n";
        assert_eq!(
            appended(input),
            vec![
                literal(&["\\Seen"], b"first"),
                literal(&["\\Seen", "$Draft"], b"second")
            ]
        );
        // Non-synchronising literals and a date on the second message only.
        let input = b"A1 APPEND INBOX {1+}\r\na \"05-Jan-2025 10:00:00 +0700\" {1+}\r\nb\r\n";
        let messages = appended(input);
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].date, None);
        assert_eq!(messages[1].date, Some((1_736_046_000, 420)));
    }

    /// RFC 4469 5 grammar, with the RFC's example shape (a TEXT part, a URL, a TEXT part).
    #[test]
    fn catenate() {
        let input = b"A003 APPEND Drafts (\\Seen \\Draft $MDNSent) CATENATE (TEXT {9}\r\nheader:\r\n URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;SECTION=HEADER\" TEXT {4}\r\nbody)\r\n";
        assert_eq!(
            appended(input),
            vec![AppendMessage {
                flags: vec!["\\Seen".into(), "\\Draft".into(), "$MDNSent".into()],
                date: None,
                data: AppendData::Catenate(vec![
                    CatPart::Text(b"header:\r\n".to_vec()),
                    CatPart::Url("/Drafts;UIDVALIDITY=385759045/;UID=20/;SECTION=HEADER".into()),
                    CatPart::Text(b"body".to_vec()),
                ]),
            }]
        );
        // MULTIAPPEND of a CATENATE and a plain literal; an unquoted URL is an astring.
        let input = b"A1 APPEND INBOX CATENATE (URL /INBOX/;UID=1) {2}\r\nhi\r\n";
        let messages = appended(input);
        assert_eq!(
            messages[0].data,
            AppendData::Catenate(vec![CatPart::Url("/INBOX/;UID=1".into())])
        );
        assert_eq!(messages[1].data, AppendData::Literal(b"hi".to_vec()));
    }

    /// Malformed input: a BAD with a precise message, never a panic.
    #[test]
    fn refusals() {
        for (input, message) in [
            (
                &b"A1 APPEND INBOX CATENATE ()\r\n"[..],
                "empty CATENATE parts",
            ),
            (
                b"A1 APPEND INBOX CATENATE (TEXT \"abc\")\r\n",
                "TEXT needs a literal",
            ),
            (
                b"A1 APPEND INBOX CATENATE (FOO {1}\r\na)\r\n",
                "expected TEXT or URL",
            ),
            (
                b"A1 APPEND INBOX CATENATE (URL)\r\n",
                "expected a space before URL",
            ),
            (
                b"A1 APPEND INBOX CATENATE (URL \"/a\"\r\n",
                "unbalanced parentheses",
            ),
            (b"A1 APPEND INBOX {1}\r\na {1}\r\n", "literal data missing"),
            (b"A1 APPEND INBOX {1}\r\na (x {1}\r\nb\r\n", "invalid flag"),
            (
                b"A1 APPEND INBOX {1}\r\na x\r\n",
                "expected message literal",
            ),
        ] {
            let error = parse_command(input).unwrap_err();
            assert!(
                error.message.starts_with(message),
                "{}: {}",
                String::from_utf8_lossy(input),
                error.message
            );
        }
    }
}
