//! APPEND, hand-written for the forms imap-codec refuses, in particular RFC 6855
//! `UTF8 (~{n}...)`:
//!
//! ```abnf
//! append      = "APPEND" SP mailbox [SP flag-list] [SP date-time] SP append-data
//! append-data = literal / literal8 / "UTF8" SP "(" literal8 ")"
//! ```
//!
//! (MULTIAPPEND and CATENATE are not supported: one message per command.)

use super::date::date_time;
use super::lexer::{Cursor, PResult};
use super::types::Command;

pub(crate) fn parse(c: &mut Cursor<'_>) -> PResult<Command> {
    c.sp("mailbox name")?;
    let mailbox = c.mailbox()?;
    c.sp("message literal")?;
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
    let message = if c.keyword("UTF8") {
        c.sp("UTF8 literal")?;
        c.expect(b'(', "( before UTF8 literal")?;
        if c.peek() != Some(b'~') {
            return Err("UTF8 data must be a literal8".to_string());
        }
        let data = c.literal(true)?;
        c.expect(b')', ") after UTF8 literal")?;
        data
    } else {
        match c.peek() {
            Some(b'{') | Some(b'~') => c.literal(true)?,
            _ if c.at_line_end() => return Err("missing message literal".to_string()),
            _ => return Err("expected message literal".to_string()),
        }
    };
    c.end()?;
    Ok(Command::Append {
        mailbox,
        flags,
        date,
        message: message.to_vec(),
    })
}
