//! CREATE with RFC 6154 `USE` (imap-codec parses only `CREATE mailbox`):
//!
//! ```abnf
//! create        = "CREATE" SP mailbox [create-params]
//! create-params = SP "(" create-param *(SP create-param) ")"
//! create-param  = "USE" SP "(" [use-attr *(SP use-attr)] ")"
//! use-attr      = "\" atom   ; \All \Archive \Drafts \Flagged \Junk \Sent \Trash ...
//! ```
//!
//! Which attributes are acceptable is the session's decision (`NO [USEATTR]`); only one fits
//! `Command::Create::special_use`, so several are refused here.

use super::lexer::{Cursor, PResult};
use super::types::Command;

pub(crate) fn parse(c: &mut Cursor<'_>) -> PResult<Command> {
    c.sp("mailbox name")?;
    let mailbox = c.mailbox()?;
    let mut attrs: Vec<String> = Vec::new();
    if c.eat(b' ') {
        c.paren_list("CREATE parameters", false, |c| {
            if !c.keyword("USE") {
                return Err("unknown CREATE parameter".to_string());
            }
            c.sp("USE attributes")?;
            c.paren_list("USE attributes", true, |c| {
                c.expect(b'\\', "special-use attribute")?;
                let a = c.atom("special-use attribute")?;
                attrs.push(format!("\\{a}"));
                Ok(())
            })
        })?;
    }
    c.end()?;
    if attrs.len() > 1 {
        return Err("only one special-use attribute per mailbox".to_string());
    }
    Ok(Command::Create {
        mailbox,
        special_use: attrs.pop(),
    })
}
