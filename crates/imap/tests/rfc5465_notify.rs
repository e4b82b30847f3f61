//! RFC 5465 NOTIFY over one session on an in-memory pipe, with other sessions and deliveries
//! changing mailboxes. Expected responses come from RFC 5465 3.1 (the command, its STATUS
//! indicator, BADEVENT, the implicit NOOP), 5 (which response each event gives), 5.8
//! (NOTIFICATIONOVERFLOW), 6 (mailbox specifiers) and 8 (grammar), quoted on each check.
//! Unsolicited responses are read as they come, with no command outstanding. Mailbox names
//! are expected as quoted strings: `mailbox = "INBOX" / astring`, and this server always
//! writes the quoted form.

use crate::common;

use std::time::Duration;

use common::{converse_as, fixture_with, message, Fixture, USER_A, USER_B};
use storage::{FlagChange, NewMessage, NewUnit};
use testkit::Conversation;

async fn session(tweak: impl FnOnce(&mut imap::Settings)) -> (Fixture, Conversation) {
    let fixture = fixture_with(tweak).await;
    for i in 0..2 {
        fixture
            .deliver(fixture.account_a, &message(&format!("Thư {i}"), "Nội dung"))
            .await;
    }
    let mut c = converse_as(&fixture, USER_A).await;
    // IMAP4rev2 (RFC 9051 2.3.2 dropped \Recent): the lines checked here are NOTIFY's own, not
    // the `* n RECENT` an IMAP4rev1 session also gets after new mail (RFC 3501 7.3.2).
    c.imap("ENABLE IMAP4rev2").await.expect("OK");
    (fixture, c)
}

async fn folder_id(fixture: &Fixture, name: &str) -> i64 {
    fixture
        .store
        .folder(fixture.account_a, name)
        .await
        .unwrap()
        .id
}

/// Appends a message to a folder of A from outside the session (another client).
async fn append_elsewhere(fixture: &Fixture, name: &str) {
    let id = folder_id(fixture, name).await;
    fixture
        .store
        .append_messages(
            id,
            vec![NewMessage {
                raw: message("Khác", "x"),
                flags: storage::Flags::new(),
                internal_date: storage::now(),
            }],
        )
        .await
        .unwrap();
}

/// `UIDVALIDITY` of a folder of A.
async fn validity(fixture: &Fixture, name: &str) -> i64 {
    fixture
        .store
        .folder(fixture.account_a, name)
        .await
        .unwrap()
        .uidvalidity
}

/// RFC 5465 3.1: "If the client requests information for events of an unsupported type, the
/// server MUST refuse the command with a tagged NO response (not a BAD). This response
/// SHOULD contain the BADEVENT response code, which MUST list names of all events supported
/// by the server." RFC 5465 5 and 6.1: the combinations answered with BAD.
#[tokio::test]
async fn unsupported_events_are_no_badevent_and_bad_combinations_are_bad() {
    let (_fixture, mut c) = session(|_| {}).await;
    let badevent =
        "NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)]";
    c.imap("NOTIFY SET (personal (MessageNew MessageExpunge AnnotationChange))")
        .await
        .expect(badevent);
    c.imap("NOTIFY SET (personal (MailboxMetadataChange))")
        .await
        .expect(badevent);
    c.imap("NOTIFY SET (personal (ServerMetadataChange))")
        .await
        .expect(badevent);
    for bad in [
        // 5: "If FlagChange ... MessageNew and MessageExpunge MUST also be specified ...
        // Otherwise, the server MUST respond with the tagged BAD response."
        "NOTIFY SET (personal (FlagChange))",
        // 5: "If one of MessageNew or MessageExpunge is specified, then both events MUST be
        // specified. Otherwise, the server MUST respond with the tagged BAD response."
        "NOTIFY SET (personal (MessageNew))",
        // 6.1: "It is an error to specify other types of events with either the SELECTED or
        // the SELECTED-DELAYED selector."
        "NOTIFY SET (selected (MailboxName))",
        // 6.1: "Only one of the mailbox specifiers affecting the currently selected mailbox can
        // be specified in any NOTIFY command."
        "NOTIFY SET (selected (MessageNew MessageExpunge)) (selected-delayed NONE)",
        // 8: grammar.
        "NOTIFY SET",
        "NOTIFY SET (everything (MailboxName))",
        "NOTIFY",
    ] {
        c.imap(bad).await.expect("BAD");
    }
    c.imap("NOTIFY NONE").await.expect("OK");
    let caps = c.imap("CAPABILITY").await;
    assert!(caps
        .untagged()
        .next()
        .unwrap()
        .split(' ')
        .any(|w| w == "NOTIFY"));
}

/// RFC 5465 3.1: with the STATUS indicator, "the server MUST send a STATUS response for that
/// mailbox before NOTIFY's tagged OK. If MessageNew is enabled, the STATUS response MUST
/// contain MESSAGES, UIDNEXT, and UIDVALIDITY."
#[tokio::test]
async fn the_status_indicator_reports_every_watched_mailbox_first() {
    let (fixture, mut c) = session(|_| {}).await;
    let reply = c
        .imap("NOTIFY SET STATUS (inboxes (MessageNew MessageExpunge))")
        .await;
    reply.expect("OK");
    let inbox = validity(&fixture, "INBOX").await;
    let status: Vec<&str> = reply
        .untagged()
        .filter(|l| l.starts_with("STATUS"))
        .collect();
    // inboxes (RFC 5465 6.3): INBOX and Junk, where delivery puts mail.
    assert!(
        status.contains(
            &format!("STATUS \"INBOX\" (MESSAGES 2 UIDNEXT 3 UIDVALIDITY {inbox})").as_str()
        ),
        "{status:?}"
    );
    assert_eq!(status.len(), 2, "INBOX and Junk: {status:?}");
    assert!(status
        .iter()
        .any(|l| l.starts_with("STATUS \"Junk\" (MESSAGES 0 UIDNEXT 1 ")));
}

/// RFC 5465 5.2: "If the new/appended message is in another mailbox, the server sends an
/// unsolicited STATUS (UIDNEXT MESSAGES) response for the relevant mailbox." Sent while no
/// command runs (RFC 5465 1: the client "listens for event notifications all the time").
/// 5.3 likewise for expunges. Changes of mailboxes outside the filter are not told.
#[tokio::test]
async fn other_mailboxes_get_unsolicited_status() {
    let (fixture, mut c) = session(|_| {}).await;
    c.imap("NOTIFY SET (mailboxes (INBOX Sent) (MessageNew MessageExpunge))")
        .await
        .expect("OK");
    let inbox = validity(&fixture, "INBOX").await;
    // Drafts is not watched; Sent is.
    append_elsewhere(&fixture, "Drafts").await;
    append_elsewhere(&fixture, "Sent").await;
    let sent = validity(&fixture, "Sent").await;
    assert_eq!(
        c.line().await,
        format!("* STATUS \"Sent\" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY {sent})")
    );
    fixture
        .deliver(fixture.account_a, &message("Mới", "y"))
        .await;
    assert_eq!(
        c.line().await,
        format!("* STATUS \"INBOX\" (MESSAGES 3 UIDNEXT 4 UIDVALIDITY {inbox})")
    );
    // An expunge by another session: MESSAGES drops, UIDNEXT stays.
    let id = folder_id(&fixture, "INBOX").await;
    fixture
        .store
        .store_flags(id, &[1], FlagChange::Add, &["\\Deleted".into()], None)
        .await
        .unwrap();
    fixture.store.expunge(id, None).await.unwrap();
    assert_eq!(
        c.line().await,
        format!("* STATUS \"INBOX\" (MESSAGES 2 UIDNEXT 4 UIDVALIDITY {inbox})")
    );
    // Nothing about Drafts arrived before these; the session answers commands as usual.
    c.imap("NOOP").await.expect("OK");
}

/// RFC 5465 5.2: "If the new/appended message is in the selected mailbox, the server notifies
/// the client by sending an unsolicited EXISTS response, followed by an unsolicited FETCH
/// response containing the information requested by the client." 5.1: a flag change in the
/// selected mailbox is "an unsolicited FETCH response, which MUST include UID and FLAGS".
/// 5.3: expunges as EXPUNGE.
#[tokio::test]
async fn the_selected_mailbox_hears_exists_fetch_and_expunge() {
    let (fixture, mut c) = session(|_| {}).await;
    c.imap("SELECT INBOX").await.expect("OK");
    c.imap("NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge FlagChange))")
        .await
        .expect("OK");
    fixture
        .deliver(fixture.account_a, &message("Mới", "y"))
        .await;
    assert_eq!(c.line().await, "* 3 EXISTS");
    assert_eq!(c.line().await, "* 3 FETCH (UID 3 FLAGS ())");
    let id = folder_id(&fixture, "INBOX").await;
    fixture
        .store
        .store_flags(id, &[2], FlagChange::Add, &["\\Flagged".into()], None)
        .await
        .unwrap();
    assert_eq!(c.line().await, "* 2 FETCH (UID 2 FLAGS (\\Flagged))");
    fixture
        .store
        .store_flags(id, &[1], FlagChange::Add, &["\\Deleted".into()], None)
        .await
        .unwrap();
    // The flag change first, then its expunge.
    assert_eq!(c.line().await, "* 1 FETCH (UID 1 FLAGS (\\Deleted))");
    fixture.store.expunge(id, None).await.unwrap();
    assert_eq!(c.line().await, "* 1 EXPUNGE");
    let reply = c.imap("NOOP").await;
    assert_eq!(reply.untagged().count(), 0, "all told already: {reply:?}");
}

/// RFC 5465 6.1.2 SELECTED-DELAYED: expunges in the selected mailbox wait for a command that
/// allows them; new messages are told at once.
#[tokio::test]
async fn selected_delayed_holds_expunges_back() {
    let (fixture, mut c) = session(|_| {}).await;
    c.imap("SELECT INBOX").await.expect("OK");
    c.imap("NOTIFY SET (selected-delayed (MessageNew MessageExpunge))")
        .await
        .expect("OK");
    let id = folder_id(&fixture, "INBOX").await;
    fixture
        .store
        .store_flags(id, &[1], FlagChange::Add, &["\\Deleted".into()], None)
        .await
        .unwrap();
    fixture.store.expunge(id, None).await.unwrap();
    fixture
        .deliver(fixture.account_a, &message("Mới", "y"))
        .await;
    // Without FlagChange no FETCH; the expunge is held: the first line is the new message,
    // still counting the expunged one.
    assert_eq!(c.line().await, "* 3 EXISTS");
    let reply = c.imap("NOOP").await;
    assert_eq!(reply.untagged().collect::<Vec<_>>(), ["1 EXPUNGE"]);
}

/// RFC 5465 3.1: "If the SELECTED/SELECTED-DELAYED mailbox selector is not specified ... the
/// client doesn't want to receive any <message-event>s for the currently selected mailbox.
/// This is the same as specifying SELECTED NONE." And: "a successful NOTIFY SET command
/// implies an implicit NOOP command" — accumulated changes come before its tagged OK.
#[tokio::test]
async fn implicit_noop_then_a_frozen_selected_mailbox() {
    let (fixture, mut c) = session(|_| {}).await;
    c.imap("SELECT INBOX").await.expect("OK");
    fixture
        .deliver(fixture.account_a, &message("Mới", "y"))
        .await;
    let reply = c
        .imap("NOTIFY SET (selected (MessageNew MessageExpunge))")
        .await;
    reply.expect("OK");
    assert!(reply.untagged().any(|l| l == "3 EXISTS"), "{reply:?}");
    // Now without a selected group: nothing about INBOX, not even at NOOP.
    c.imap("NOTIFY SET (personal (MailboxName))")
        .await
        .expect("OK");
    fixture
        .deliver(fixture.account_a, &message("Nữa", "z"))
        .await;
    let reply = c.imap("NOOP").await;
    assert_eq!(reply.untagged().count(), 0, "{reply:?}");
    // A new NOTIFY SET returns what accumulated, whatever it says about the selected mailbox
    // from now on (3.1 "MUST ... immediately return any accumulated changes").
    let reply = c
        .imap("NOTIFY SET (personal (MailboxName SubscriptionChange))")
        .await;
    reply.expect("OK");
    assert_eq!(reply.untagged().collect::<Vec<_>>(), ["4 EXISTS"]);
    fixture
        .deliver(fixture.account_a, &message("Thêm", "w"))
        .await;
    let reply = c.imap("NOOP").await;
    assert_eq!(reply.untagged().count(), 0, "{reply:?}");
    // NOTIFY NONE: back to RFC 9051 behaviour, the EXISTS comes at the next command boundary
    // (that of NOTIFY NONE itself).
    let reply = c.imap("NOTIFY NONE").await;
    reply.expect("OK");
    assert!(reply.untagged().any(|l| l == "5 EXISTS"), "{reply:?}");
}

/// RFC 5465 5.4: MailboxName — an unsolicited LIST for each affected name; "If, after the
/// event, the mailbox name does not refer to a mailbox accessible to the client, the
/// \Nonexistent flag MUST be included"; a rename is "an extended LIST response ... for the
/// new mailbox name, containing the OLDNAME extended data item with the old mailbox name".
/// 5.5: SubscriptionChange — LIST, "\Subscribed" "if and only if the mailbox is subscribed
/// after the event". Changes made by this client are not told back to it (RFC 5465 5:
/// "SHOULD omit notifying the client if the event is caused by this client").
#[tokio::test]
async fn mailbox_names_and_subscriptions() {
    let (fixture, mut c) = session(|_| {}).await;
    c.imap("NOTIFY SET (personal (MailboxName SubscriptionChange))")
        .await
        .expect("OK");
    let mut other = converse_as(&fixture, USER_A).await;
    other.imap("CREATE Projects").await.expect("OK");
    let created = c.line().await;
    let subscribed = fixture
        .store
        .folder(fixture.account_a, "Projects")
        .await
        .unwrap()
        .subscribed;
    let attributes = if subscribed { "\\Subscribed" } else { "" };
    assert_eq!(created, format!("* LIST ({attributes}) \"/\" \"Projects\""));
    other.imap("RENAME Projects Archive2").await.expect("OK");
    assert_eq!(
        c.line().await,
        "* LIST () \"/\" \"Archive2\" (\"OLDNAME\" (\"Projects\"))"
    );
    other.imap("SUBSCRIBE Archive2").await.expect("OK");
    if !subscribed {
        assert_eq!(c.line().await, "* LIST (\\Subscribed) \"/\" \"Archive2\"");
    }
    other.imap("UNSUBSCRIBE Archive2").await.expect("OK");
    assert_eq!(c.line().await, "* LIST () \"/\" \"Archive2\"");
    other.imap("DELETE Archive2").await.expect("OK");
    assert_eq!(c.line().await, "* LIST (\\NonExistent) \"/\" \"Archive2\"");
    // This client's own CREATE is not told back to it.
    let reply = c.imap("CREATE Mine").await;
    reply.expect("OK");
    assert!(!reply.mentions("LIST"), "{reply:?}");
    let reply = c.imap("NOOP").await;
    assert_eq!(reply.untagged().count(), 0, "{reply:?}");
}

/// RFC 5465 3.1: a mailbox that does not exist is ignored (the command succeeds: it "SHOULD
/// return the tagged OK response if the client has access to at least one of the mailboxes
/// specified"), and is watched by name once it exists (6.6: exactly the names given). A unit
/// mailbox without rights is never reported; with `l` but not `r`, message events get
/// `LIST (\NoAccess)` (3.1).
#[tokio::test]
async fn unknown_and_unreadable_mailboxes() {
    let (fixture, mut c) = session(|_| {}).await;
    let unit = fixture
        .store
        .add_unit(&NewUnit {
            domain: "kontum.gov.vn".into(),
            abbrev: "STTTT".into(),
            name: "Sở Thông tin và Truyền thông".into(),
            parent_abbrev: None,
            quota_bytes: 0,
        })
        .await
        .unwrap();
    c.imap("ENABLE UTF8=ACCEPT").await.expect("OK");
    let reply = c
        .imap("NOTIFY SET (mailboxes (Later \"Đơn vị/STTTT/INBOX\") (MessageNew MessageExpunge))")
        .await;
    reply.expect("OK");
    assert_eq!(reply.untagged().count(), 0, "{reply:?}");
    // The unit's mail is not told to A (no grant).
    fixture
        .deliver(unit.account_id, &message("Công văn", "x"))
        .await;
    let mut other = converse_as(&fixture, USER_A).await;
    other.imap("CREATE Later").await.expect("OK");
    append_elsewhere(&fixture, "Later").await;
    let later = validity(&fixture, "Later").await;
    assert_eq!(
        c.line().await,
        format!("* STATUS \"Later\" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY {later})")
    );
    // `l` without `r`.
    fixture
        .store
        .delegate("STTTT", USER_A, "l", false)
        .await
        .unwrap();
    let reply = c
        .imap("NOTIFY SET (mailboxes \"Đơn vị/STTTT/INBOX\" (MessageNew MessageExpunge))")
        .await;
    reply.expect("OK");
    assert_eq!(
        reply.untagged().collect::<Vec<_>>(),
        ["LIST (\\NoAccess) \"/\" \"Đơn vị/STTTT/INBOX\""]
    );
    fixture
        .deliver(unit.account_id, &message("Công văn 2", "x"))
        .await;
    let reply = c.imap("NOOP").await;
    assert_eq!(reply.untagged().count(), 0, "not readable: {reply:?}");
    // With `r`: told.
    fixture
        .store
        .delegate("STTTT", USER_A, storage::RIGHTS_READ, false)
        .await
        .unwrap();
    fixture
        .deliver(unit.account_id, &message("Công văn 3", "x"))
        .await;
    let line = c.line().await;
    assert!(
        line.starts_with("* STATUS \"Đơn vị/STTTT/INBOX\" (MESSAGES 3 UIDNEXT 4 "),
        "{line}"
    );
    let _ = USER_B;
}

/// RFC 5465 4: "the server MUST send exactly the same events as instructed by the client
/// using the NOTIFY command" while IDLE runs.
#[tokio::test]
async fn idle_sends_what_notify_asks() {
    let (fixture, mut c) = session(|_| {}).await;
    c.imap("NOTIFY SET (inboxes (MessageNew MessageExpunge))")
        .await
        .expect("OK");
    c.send("i1 IDLE").await;
    assert!(c.line().await.starts_with("+ "));
    fixture
        .deliver(fixture.account_a, &message("Mới", "y"))
        .await;
    let inbox = validity(&fixture, "INBOX").await;
    assert_eq!(
        c.line().await,
        format!("* STATUS \"INBOX\" (MESSAGES 3 UIDNEXT 4 UIDVALIDITY {inbox})")
    );
    c.send("DONE").await;
    c.tagged("i1").await.expect("OK");
}

/// RFC 5465 5.8: "If the server is unable or unwilling to deliver as many notifications as it
/// is being asked to, it may disable notifications for some or all clients. It MUST notify
/// these clients by sending an untagged "OK [NOTIFICATIONOVERFLOW]" response and behave as
/// if a NOTIFY NONE command had just been received." Here: more changed mailboxes than the
/// bound, gathered while the client was sending a command.
#[tokio::test]
async fn too_much_pending_overflows_and_stops() {
    let (fixture, mut c) = session(|s| s.notify_max_pending = 2).await;
    c.imap("NOTIFY SET (personal (MessageNew MessageExpunge))")
        .await
        .expect("OK");
    // Half a command: the session is reading it, not telling.
    c.write(b"n1 NOOP").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    for name in ["Sent", "Drafts", "Archive"] {
        append_elsewhere(&fixture, name).await;
    }
    c.write(b"\r\n").await;
    let reply = c.tagged("n1").await;
    reply.expect("OK");
    assert_eq!(
        reply
            .untagged()
            .filter(|l| l.starts_with("OK [NOTIFICATIONOVERFLOW]"))
            .count(),
        1,
        "{reply:?}"
    );
    assert!(!reply.mentions("STATUS"), "{reply:?}");
    // As after NOTIFY NONE: nothing more is told.
    append_elsewhere(&fixture, "Sent").await;
    let reply = c.imap("NOOP").await;
    assert_eq!(reply.untagged().count(), 0, "{reply:?}");
}
