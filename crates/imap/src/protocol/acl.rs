//! RFC 4314 ACL commands, which imap-codec does not parse:
//!
//! ```abnf
//! setacl     = "SETACL" SP mailbox SP identifier SP mod-rights
//! deleteacl  = "DELETEACL" SP mailbox SP identifier
//! getacl     = "GETACL" SP mailbox
//! listrights = "LISTRIGHTS" SP mailbox SP identifier
//! myrights   = "MYRIGHTS" SP mailbox
//! identifier = astring
//! mod-rights = astring   ; +rights / -rights / rights
//! ```

use super::lexer::{Cursor, PResult};
use super::types::Command;

/// `name` is the upper-cased command name; the cursor stands right after it.
pub(crate) fn parse(name: &str, c: &mut Cursor<'_>) -> PResult<Command> {
    c.sp("mailbox name")?;
    let mailbox = c.mailbox()?;
    let cmd = match name {
        "GETACL" => Command::GetAcl { mailbox },
        "MYRIGHTS" => Command::MyRights { mailbox },
        "DELETEACL" | "LISTRIGHTS" | "SETACL" => {
            c.sp("identifier")?;
            let identifier = c.astring("identifier")?;
            match name {
                "DELETEACL" => Command::DeleteAcl {
                    mailbox,
                    identifier,
                },
                "LISTRIGHTS" => Command::ListRights {
                    mailbox,
                    identifier,
                },
                _ => {
                    c.sp("rights")?;
                    let rights = c.astring("rights")?;
                    let body = rights.strip_prefix(['+', '-']).unwrap_or(&rights);
                    if !body
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                    {
                        return Err("invalid rights".to_string());
                    }
                    Command::SetAcl {
                        mailbox,
                        identifier,
                        rights,
                    }
                }
            }
        }
        _ => return Err(format!("unknown command {name}")),
    };
    c.end()?;
    Ok(cmd)
}
