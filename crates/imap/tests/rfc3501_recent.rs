//! Conformance: \Recent and RECENT for sessions that have not enabled IMAP4rev2 (RFC 3501
//! 2.3.2, 6.3.1, 6.3.10, 6.4.4, 7.3.2); IMAP4rev2 sessions never see it (RFC 9051 dropped it).
//! Several sessions over in-memory pipes on one store.
//!
//! RFC 3501 2.3.2: "\Recent: Message is "recently" arrived in this mailbox. This session is
//! the first session to have been notified about this message; if the session is
//! read-write, subsequent sessions will not see \Recent set for this message."

use crate::common;

use common::{converse_as, fixture_with, message, Fixture, USER_A};
use testkit::{Conversation, Reply};

/// The number in `* n RECENT`, if the reply has one.
fn recent(reply: &Reply) -> Option<u32> {
    reply
        .untagged()
        .find_map(|l| l.strip_suffix(" RECENT")?.parse().ok())
}

/// Sequence numbers whose FETCH FLAGS hold \Recent.
async fn recent_flags(c: &mut Conversation) -> Vec<u32> {
    let reply = c.imap("FETCH 1:* (FLAGS)").await;
    reply.expect("OK");
    reply
        .untagged()
        .filter(|l| l.contains("\\Recent"))
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect()
}

async fn deliver(fixture: &Fixture, n: usize) {
    for i in 0..n {
        fixture
            .deliver(fixture.account_a, &message(&format!("m{i}"), "x"))
            .await;
    }
}

#[tokio::test]
async fn only_the_first_read_write_session_sees_recent() {
    let fixture = fixture_with(|_| {}).await;
    deliver(&fixture, 2).await;
    // RFC 3501 6.3.10: STATUS RECENT, "the number of messages with the \Recent flag set":
    // nobody has been told about them yet.
    let mut watcher = converse_as(&fixture, USER_A).await;
    let status = watcher.imap("STATUS INBOX (RECENT)").await;
    assert!(status.mentions("(RECENT 2)"), "{:?}", status.lines);
    // EXAMINE sees them recent but, read-only, leaves them recent for others.
    let mut reader = converse_as(&fixture, USER_A).await;
    let examine = reader.imap("EXAMINE INBOX").await;
    assert_eq!(recent(&examine), Some(2), "{:?}", examine.lines);
    // RFC 3501 6.3.1: SELECT answers `n RECENT` (REQUIRED untagged response).
    let mut a = converse_as(&fixture, USER_A).await;
    let select = a.imap("SELECT INBOX").await;
    assert_eq!(recent(&select), Some(2), "{:?}", select.lines);
    assert_eq!(recent_flags(&mut a).await, [1, 2]);
    // A second read-write session: not the first to be told, so nothing is recent in it.
    let mut b = converse_as(&fixture, USER_A).await;
    let select = b.imap("SELECT INBOX").await;
    assert_eq!(recent(&select), Some(0), "{:?}", select.lines);
    assert!(recent_flags(&mut b).await.is_empty());
    let status = watcher.imap("STATUS INBOX (RECENT)").await;
    assert!(status.mentions("(RECENT 0)"), "{:?}", status.lines);
    // New mail: the first session told about it sees it recent; RFC 3501 7.3.2: RECENT is
    // sent when the mailbox size changes, after EXISTS.
    deliver(&fixture, 1).await;
    let noop = a.imap("NOOP").await;
    let lines: Vec<&str> = noop.untagged().collect();
    assert_eq!(lines, ["3 EXISTS", "3 RECENT"], "{:?}", noop.lines);
    let noop = b.imap("NOOP").await;
    let lines: Vec<&str> = noop.untagged().collect();
    assert_eq!(lines, ["3 EXISTS", "0 RECENT"], "{:?}", noop.lines);
    assert_eq!(recent_flags(&mut a).await, [1, 2, 3]);
    assert!(recent_flags(&mut b).await.is_empty());
    // RFC 3501 6.4.4: RECENT, NEW (= RECENT UNSEEN) and OLD (= NOT RECENT).
    a.imap("STORE 2 +FLAGS.SILENT (\\Seen)").await.expect("OK");
    for (keys, expected) in [
        ("RECENT", "SEARCH 1 2 3"),
        ("NEW", "SEARCH 1 3"),
        ("OLD", "SEARCH"),
    ] {
        let reply = a.imap(&format!("SEARCH {keys}")).await;
        assert!(
            reply.untagged().any(|l| l == expected),
            "{keys}: {:?}",
            reply.lines
        );
    }
    let reply = b.imap("SEARCH OLD").await;
    assert!(
        reply.untagged().any(|l| l == "SEARCH 1 2 3"),
        "{:?}",
        reply.lines
    );
    // A client cannot set or clear \Recent (RFC 3501 2.3.2: it is not alterable by the
    // client): STORE leaves it as it is.
    b.imap("STORE 1 +FLAGS (\\Recent)").await.expect("OK");
    assert!(recent_flags(&mut b).await.is_empty());
}

#[tokio::test]
async fn imap4rev2_sessions_neither_see_nor_take_recent() {
    let fixture = fixture_with(|_| {}).await;
    deliver(&fixture, 2).await;
    let mut rev2 = converse_as(&fixture, USER_A).await;
    rev2.imap("ENABLE IMAP4rev2").await.expect("OK");
    // RFC 9051 6.3.2: SELECT's required responses no longer include RECENT; there is no
    // \Recent flag in IMAP4rev2.
    let select = rev2.imap("SELECT INBOX").await;
    select.expect("OK");
    assert_eq!(recent(&select), None, "{:?}", select.lines);
    assert!(recent_flags(&mut rev2).await.is_empty());
    deliver(&fixture, 1).await;
    let noop = rev2.imap("NOOP").await;
    let lines: Vec<&str> = noop.untagged().collect();
    assert_eq!(lines, ["3 EXISTS"]);
    // So the messages stay recent for the next IMAP4rev1 session.
    let mut rev1 = converse_as(&fixture, USER_A).await;
    let select = rev1.imap("SELECT INBOX").await;
    assert_eq!(recent(&select), Some(3), "{:?}", select.lines);
}
