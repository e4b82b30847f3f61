//! A database failing under a running IMAP server: the answer is a temporary one,
//! `NO [UNAVAILABLE]` (RFC 5530 3: "Temporary failure because a subsystem is down"), never
//! `[SERVERBUG]`, and the connection stays usable.

use crate::common;

use common::*;

/// Before the fix every storage error other than quota / exists / not found was
/// `NO [SERVERBUG]`: a client takes that for a server defect, not something to retry.
#[tokio::test]
async fn append_with_the_database_failing_is_unavailable_and_the_session_goes_on() {
    let server = start().await;
    let mut c = Client::login(server.imap, USER_A).await;
    let raw = String::from_utf8(message("Tạm thời", "Nội dung")).unwrap();
    let append = format!("APPEND INBOX {{{}+}}\r\n{raw}", raw.len());

    sql_from_outside(&server, "ALTER TABLE messages RENAME TO messages_broken").await;
    let status = c.fails(&append, "NO [UNAVAILABLE]").await;
    assert!(!status.contains("SERVERBUG"), "{status}");
    // The connection is still usable while the fault lasts...
    c.ok("NOOP").await;
    let status = c.fails(&append, "NO [UNAVAILABLE]").await;
    assert!(!status.contains("SERVERBUG"), "{status}");
    sql_from_outside(&server, "ALTER TABLE messages_broken RENAME TO messages").await;

    // ...and once it is over, the retried APPEND works; the failed ones left nothing behind.
    let (_, status) = c.run(&append).await;
    assert!(status.starts_with("OK [APPENDUID "), "{status}");
    let lines = c.ok("SELECT INBOX").await;
    assert!(lines.iter().any(|l| l == "* 1 EXISTS"), "{lines:?}");
    let lines = c.ok("FETCH 1 RFC822.SIZE").await;
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("RFC822.SIZE {}", raw.len()))),
        "{lines:?}"
    );
}

/// STATUS read its counts and, on any storage error, answered `NO [SERVERBUG]` (seen in a
/// database failover under load). RFC 5530 3: the outage is `UNAVAILABLE`; once it is over the
/// same STATUS answers (RFC 9051 6.3.11).
#[tokio::test]
async fn status_with_the_database_failing_is_unavailable_then_answers() {
    let server = start().await;
    let mut c = Client::login(server.imap, USER_A).await;

    sql_from_outside(&server, "ALTER TABLE messages RENAME TO messages_broken").await;
    let status = c
        .fails("STATUS INBOX (MESSAGES UNSEEN)", "NO [UNAVAILABLE]")
        .await;
    assert!(!status.contains("SERVERBUG"), "{status}");
    c.ok("NOOP").await;
    sql_from_outside(&server, "ALTER TABLE messages_broken RENAME TO messages").await;

    // mailbox = "INBOX" / astring: quoted or not.
    let lines = c.ok("STATUS INBOX (MESSAGES UNSEEN)").await;
    assert!(
        lines
            .iter()
            .any(|l| l == "* STATUS INBOX (MESSAGES 0 UNSEEN 0)"
                || l == "* STATUS \"INBOX\" (MESSAGES 0 UNSEEN 0)"),
        "{lines:?}"
    );
}
