//! RFC 5465 NOTIFY, which imap-codec does not parse:
//!
//! ```abnf
//! notify           = "NOTIFY" SP (notify-set / notify-none)
//! notify-set       = "SET" [status-indicator] SP event-groups
//! status-indicator = SP "STATUS"
//! notify-none      = "NONE"
//! event-groups     = event-group *(SP event-group)
//! event-group      = "(" filter-mailboxes SP events ")"
//! filter-mailboxes = "selected" / "selected-delayed" / "inboxes" / "personal" /
//!                    "subscribed" / ("subtree" SP one-or-more-mailbox) /
//!                    ("mailboxes" SP one-or-more-mailbox)
//! one-or-more-mailbox = mailbox / "(" mailbox *(SP mailbox) ")"
//! events           = ( "(" event *(SP event) ")" ) / "NONE"
//! event            = ("MessageNew" [SP "(" fetch-att *(SP fetch-att) ")"]) /
//!                    "MessageExpunge" / "FlagChange" / "AnnotationChange" /
//!                    "MailboxName" / "SubscriptionChange" / "MailboxMetadataChange" /
//!                    "ServerMetadataChange" / event-ext
//! event-ext        = atom
//! ```
//!
//! Names are case-insensitive (RFC 5465 8). The rules RFC 5465 answers with BAD are checked
//! here: both selected filters (6.1), non-message events with a selected filter (6.1),
//! FlagChange without MessageNew and MessageExpunge, one of those two without the other (5).
//! Unsupported events parse (as [`NotifyEvent::Other`]): the handler answers them NO
//! [BADEVENT] (RFC 5465 3.1).

use super::lexer::{Cursor, PResult};
use super::types::{Command, EventGroup, FetchItem, MailboxFilter, NotifyEvent, NotifySet};

pub(crate) fn parse(c: &mut Cursor<'_>) -> PResult<Command> {
    c.sp("NOTIFY argument")?;
    if c.keyword("NONE") {
        c.end()?;
        return Ok(Command::Notify(None));
    }
    if !c.keyword("SET") {
        return Err("expected SET or NONE".to_string());
    }
    c.sp("event group")?;
    let status = c.keyword("STATUS");
    if status {
        c.sp("event group")?;
    }
    let mut groups = vec![group(c)?];
    while c.eat(b' ') {
        groups.push(group(c)?);
    }
    c.end()?;
    check(&groups)?;
    Ok(Command::Notify(Some(NotifySet { status, groups })))
}

fn group(c: &mut Cursor<'_>) -> PResult<EventGroup> {
    c.expect(b'(', "event group")?;
    let filter = filter(c)?;
    c.sp("events")?;
    let mut events = Vec::new();
    if !c.keyword("NONE") {
        c.paren_list("events", false, |c| {
            events.push(event(c)?);
            Ok(())
        })?;
    }
    c.expect(b')', ") after events")?;
    Ok(EventGroup { filter, events })
}

fn filter(c: &mut Cursor<'_>) -> PResult<MailboxFilter> {
    for (word, filter) in [
        ("selected-delayed", MailboxFilter::SelectedDelayed),
        ("selected", MailboxFilter::Selected),
        ("inboxes", MailboxFilter::Inboxes),
        ("personal", MailboxFilter::Personal),
        ("subscribed", MailboxFilter::Subscribed),
    ] {
        if c.keyword(word) {
            return Ok(filter);
        }
    }
    let subtree = c.keyword("subtree");
    if !subtree && !c.keyword("mailboxes") {
        return Err("unknown mailbox filter".to_string());
    }
    c.sp("mailbox name")?;
    let mut names = Vec::new();
    if c.peek() == Some(b'(') {
        c.paren_list("mailbox names", false, |c| {
            names.push(c.mailbox()?);
            Ok(())
        })?;
    } else {
        names.push(c.mailbox()?);
    }
    Ok(if subtree {
        MailboxFilter::Subtree(names)
    } else {
        MailboxFilter::Mailboxes(names)
    })
}

fn event(c: &mut Cursor<'_>) -> PResult<NotifyEvent> {
    let name = c.atom("event")?.to_string();
    Ok(match name.to_ascii_lowercase().as_str() {
        "messagenew" => {
            let mut items = Vec::new();
            if c.peek() == Some(b' ') && c.rest().get(1) == Some(&b'(') {
                c.eat(b' ');
                items = fetch_items(c.balanced()?)?;
            }
            NotifyEvent::MessageNew(items)
        }
        "messageexpunge" => NotifyEvent::MessageExpunge,
        "flagchange" => NotifyEvent::FlagChange,
        "mailboxname" => NotifyEvent::MailboxName,
        "subscriptionchange" => NotifyEvent::SubscriptionChange,
        _ => NotifyEvent::Other(name),
    })
}

/// The FETCH items of `MessageNew (...)`, read by the FETCH parser itself.
fn fetch_items(group: &[u8]) -> PResult<Vec<FetchItem>> {
    let mut command = b"X FETCH 1 ".to_vec();
    command.extend_from_slice(group);
    command.extend_from_slice(b"\r\n");
    match super::parse(&command) {
        Ok(tagged) => match tagged.command {
            Command::Fetch { items, .. } => Ok(items),
            _ => Err("invalid FETCH items in MessageNew".to_string()),
        },
        Err(e) => Err(format!("invalid FETCH items in MessageNew: {}", e.message)),
    }
}

/// The combinations RFC 5465 answers with BAD.
fn check(groups: &[EventGroup]) -> PResult<()> {
    let selected =
        |f: &MailboxFilter| matches!(f, MailboxFilter::Selected | MailboxFilter::SelectedDelayed);
    // RFC 5465 6.1: "Only one of the mailbox specifiers affecting the currently selected
    // mailbox can be specified in any NOTIFY command."
    if groups.iter().filter(|g| selected(&g.filter)).count() > 1 {
        return Err("only one of SELECTED and SELECTED-DELAYED may be given".to_string());
    }
    for group in groups {
        let has = |wanted: &NotifyEvent| {
            group.events.iter().any(|e| match (e, wanted) {
                (NotifyEvent::Other(a), NotifyEvent::Other(b)) => a.eq_ignore_ascii_case(b),
                _ => std::mem::discriminant(e) == std::mem::discriminant(wanted),
            })
        };
        let new = has(&NotifyEvent::MessageNew(vec![]));
        let expunge = has(&NotifyEvent::MessageExpunge);
        let flags =
            has(&NotifyEvent::FlagChange) || has(&NotifyEvent::Other("AnnotationChange".into()));
        // RFC 5465 5: FlagChange/AnnotationChange need MessageNew and MessageExpunge, and
        // those two go together.
        if flags && !(new && expunge) {
            return Err("FlagChange needs MessageNew and MessageExpunge".to_string());
        }
        if new != expunge {
            return Err("MessageNew and MessageExpunge go together".to_string());
        }
        // RFC 5465 6.1: "It is an error to specify other types of events with either the
        // SELECTED or the SELECTED-DELAYED selector."
        if selected(&group.filter) {
            let message_event = |e: &NotifyEvent| match e {
                NotifyEvent::MessageNew(_)
                | NotifyEvent::MessageExpunge
                | NotifyEvent::FlagChange => true,
                NotifyEvent::Other(name) => name.eq_ignore_ascii_case("AnnotationChange"),
                _ => false,
            };
            if !group.events.iter().all(message_event) {
                return Err("only message events may be given for the selected mailbox".into());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::parse as parse_command;
    use super::*;

    fn notify(input: &str) -> Result<Option<NotifySet>, String> {
        match parse_command(input.as_bytes()) {
            Ok(tagged) => match tagged.command {
                Command::Notify(set) => Ok(set),
                other => panic!("{other:?}"),
            },
            Err(e) => Err(e.message),
        }
    }

    /// RFC 5465 8 grammar; the examples of RFC 5465 3.1 and 6.
    #[test]
    fn forms() {
        assert_eq!(notify("A1 NOTIFY NONE\r\n"), Ok(None));
        let set = notify(
            "A1 notify set status (selected (MessageNew (uid body.peek[header.fields (from to subject)]) MessageExpunge)) (subtree Lists (MessageNew MessageExpunge))\r\n",
        )
        .unwrap()
        .unwrap();
        assert!(set.status);
        assert_eq!(set.groups.len(), 2);
        assert_eq!(set.groups[0].filter, MailboxFilter::Selected);
        match &set.groups[0].events[0] {
            NotifyEvent::MessageNew(items) => {
                assert_eq!(items.len(), 2);
                assert_eq!(items[0], FetchItem::Uid);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            set.groups[1].filter,
            MailboxFilter::Subtree(vec!["Lists".into()])
        );
        let set = notify(
            "A1 NOTIFY SET (mailboxes (INBOX \"Thư đến\") (MessageNew MessageExpunge FlagChange)) (personal (MailboxName SubscriptionChange)) (selected-delayed NONE)\r\n",
        )
        .unwrap()
        .unwrap();
        assert!(!set.status);
        assert_eq!(
            set.groups[0].filter,
            MailboxFilter::Mailboxes(vec!["INBOX".into(), "Thư đến".into()])
        );
        assert_eq!(
            set.groups[1].events,
            vec![NotifyEvent::MailboxName, NotifyEvent::SubscriptionChange]
        );
        assert_eq!(set.groups[2].filter, MailboxFilter::SelectedDelayed);
        assert!(set.groups[2].events.is_empty());
        // An unknown event is syntactically an event-ext: the handler refuses it (BADEVENT).
        let set = notify("A1 NOTIFY SET (personal (MailboxMetadataChange))\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            set.groups[0].events,
            vec![NotifyEvent::Other("MailboxMetadataChange".into())]
        );
    }

    /// The combinations RFC 5465 5 and 6.1 answer with BAD, and malformed input.
    #[test]
    fn refusals() {
        for (input, message) in [
            // 6.1: both selected filters.
            (
                "A1 NOTIFY SET (selected (MessageNew MessageExpunge)) (selected-delayed NONE)",
                "only one of SELECTED",
            ),
            // 6.1: a mailbox event with selected.
            (
                "A1 NOTIFY SET (selected (MailboxName))",
                "only message events",
            ),
            // 5: FlagChange alone.
            ("A1 NOTIFY SET (personal (FlagChange))", "FlagChange needs"),
            (
                "A1 NOTIFY SET (personal (MessageNew FlagChange))",
                "FlagChange needs",
            ),
            // 5: MessageNew without MessageExpunge.
            (
                "A1 NOTIFY SET (personal (MessageNew))",
                "MessageNew and MessageExpunge",
            ),
            (
                "A1 NOTIFY SET (inboxes (MessageExpunge))",
                "MessageNew and MessageExpunge",
            ),
            (
                "A1 NOTIFY SET (everything (MailboxName))",
                "unknown mailbox filter",
            ),
            ("A1 NOTIFY SET (personal ())", "empty events"),
            ("A1 NOTIFY SET", "missing event group"),
            ("A1 NOTIFY SET (subtree (MailboxName))", "expected a space"),
            ("A1 NOTIFY", "missing NOTIFY argument"),
            ("A1 NOTIFY MAYBE", "expected SET or NONE"),
            (
                "A1 NOTIFY SET (selected (MessageNew (BOGUS) MessageExpunge))",
                "invalid FETCH items",
            ),
            (
                "A1 NOTIFY SET (personal (MailboxName)",
                "missing ) after events",
            ),
        ] {
            let got = notify(&format!("{input}\r\n")).unwrap_err();
            assert!(got.starts_with(message), "{input}: {got}");
        }
    }
}
