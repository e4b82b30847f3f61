//! LIST with RFC 5258 LIST-EXTENDED, RFC 6154 SPECIAL-USE and RFC 5819 LIST-STATUS
//! (imap-codec parses only the basic `LIST reference pattern`):
//!
//! ```abnf
//! list             = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat
//!                    [SP list-return-opts]
//! list-select-opts = "(" [list-select-opt *(SP list-select-opt)] ")"
//! list-select-opt  = "SUBSCRIBED" / "REMOTE" / "RECURSIVEMATCH" / "SPECIAL-USE"
//! mbox-or-pat      = list-mailbox / patterns
//! patterns         = "(" list-mailbox *(SP list-mailbox) ")"
//! list-return-opts = "RETURN" SP "(" [return-option *(SP return-option)] ")"
//! return-option    = "SUBSCRIBED" / "CHILDREN" / "SPECIAL-USE" /
//!                    "STATUS" SP "(" status-att *(SP status-att) ")" /
//!                    "MYRIGHTS"                                     ; RFC 8440 5
//! ```

use super::lexer::{Cursor, PResult};
use super::types::{Command, ListOptions, StatusItem};

pub(crate) fn parse(c: &mut Cursor<'_>) -> PResult<Command> {
    let mut options = ListOptions::default();
    let mut any_selection = false;
    c.sp("reference")?;
    if c.peek() == Some(b'(') {
        c.paren_list("selection options", true, |c| {
            let opt = c.atom("selection option")?.to_ascii_uppercase();
            match opt.as_str() {
                "SUBSCRIBED" => options.select_subscribed = true,
                "SPECIAL-USE" => options.select_special_use = true,
                "RECURSIVEMATCH" => options.select_recursive_match = true,
                "REMOTE" => {}
                _ => return Err(format!("unknown selection option {opt}")),
            }
            if opt != "RECURSIVEMATCH" && opt != "REMOTE" {
                any_selection = true;
            }
            Ok(())
        })?;
        // RFC 5258 3: "The RECURSIVEMATCH option MUST NOT occur as the only selection
        // option (or only with REMOTE) ... The server MUST return BAD tagged response".
        if options.select_recursive_match && !any_selection {
            return Err("RECURSIVEMATCH needs a selection option other than REMOTE".to_string());
        }
        c.sp("reference")?;
    }
    let reference = c.mailbox()?;
    c.sp("mailbox pattern")?;
    let mut patterns = Vec::new();
    if c.peek() == Some(b'(') {
        options.extended = true;
        c.paren_list("patterns", false, |c| {
            patterns.push(c.list_mailbox()?);
            Ok(())
        })?;
    } else {
        patterns.push(c.list_mailbox()?);
    }
    if c.eat(b' ') {
        if !c.keyword("RETURN") {
            return Err("expected RETURN".to_string());
        }
        c.sp("return options")?;
        c.paren_list("return options", true, |c| {
            let opt = c.atom("return option")?.to_ascii_uppercase();
            match opt.as_str() {
                "SUBSCRIBED" => options.return_subscribed = true,
                "CHILDREN" => options.return_children = true,
                "SPECIAL-USE" => options.return_special_use = true,
                // RFC 8440 3.
                "MYRIGHTS" => options.return_myrights = true,
                "STATUS" => {
                    c.sp("status items")?;
                    c.paren_list("status items", false, |c| {
                        let item = status_item(c.atom("status item")?)?;
                        if !options.return_status.contains(&item) {
                            options.return_status.push(item);
                        }
                        Ok(())
                    })?;
                }
                _ => return Err(format!("unknown return option {opt}")),
            }
            Ok(())
        })?;
    }
    c.end()?;
    Ok(Command::List {
        reference,
        patterns,
        options,
        lsub: false,
    })
}

pub(crate) fn status_item(name: &str) -> PResult<StatusItem> {
    Ok(match name.to_ascii_uppercase().as_str() {
        "MESSAGES" => StatusItem::Messages,
        "RECENT" => StatusItem::Recent,
        "UIDNEXT" => StatusItem::UidNext,
        "UIDVALIDITY" => StatusItem::UidValidity,
        "UNSEEN" => StatusItem::Unseen,
        "DELETED" => StatusItem::Deleted,
        "SIZE" => StatusItem::Size,
        "HIGHESTMODSEQ" => StatusItem::HighestModSeq,
        "MAILBOXID" => StatusItem::MailboxId,
        "DELETED-STORAGE" => return Err("status item DELETED-STORAGE not supported".to_string()),
        _ => return Err(format!("unknown status item {name}")),
    })
}
