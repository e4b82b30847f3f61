//! STATUS, hand-written for the items imap-codec does not know (RFC 8474 MAILBOXID):
//!
//! ```abnf
//! status     = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"
//! status-att =/ "MAILBOXID"                                     ; RFC 8474 7
//! ```

use super::lexer::{Cursor, PResult};
use super::list::status_item;
use super::types::Command;

pub(crate) fn parse(c: &mut Cursor<'_>) -> PResult<Command> {
    c.sp("mailbox name")?;
    let mailbox = c.mailbox()?;
    c.sp("status items")?;
    let mut items = Vec::new();
    c.paren_list("status items", true, |c| {
        let item = status_item(c.atom("status item")?)?;
        if !items.contains(&item) {
            items.push(item);
        }
        Ok(())
    })?;
    if items.is_empty() {
        return Err("missing status items".to_string());
    }
    c.end()?;
    Ok(Command::Status { mailbox, items })
}

#[cfg(test)]
mod tests {
    use super::super::{parse, Command, StatusItem};

    #[test]
    fn mailboxid_and_size() {
        let command = parse(b"A1 STATUS \"Thu m&APo-c\" (MAILBOXID SIZE messages)\r\n")
            .unwrap()
            .command;
        assert_eq!(
            command,
            Command::Status {
                mailbox: "Thu m&APo-c".into(),
                items: vec![
                    StatusItem::MailboxId,
                    StatusItem::Size,
                    StatusItem::Messages
                ],
            }
        );
        let error = parse(b"A1 STATUS INBOX (MAILBOXID BOGUS)\r\n").unwrap_err();
        assert!(error.message.contains("status item"), "{}", error.message);
        let error = parse(b"A1 STATUS INBOX ()\r\n").unwrap_err();
        assert!(error.message.contains("status"), "{}", error.message);
    }
}
