//! RFC 3502 MULTIAPPEND (with RFC 4315 UIDPLUS): several messages in one APPEND, all stored or
//! none. Every expected response is worked out from RFC 3502 6.3.11 and its formal syntax
//! (quoted on each check), RFC 4315 3 (APPENDUID), RFC 7888 (LITERAL+) and RFC 4469 4.2 /
//! RFC 5530 (TOOBIG, LIMIT), over one session on an in-memory pipe.

use crate::common;

use common::{converse_as, fixture_with, Fixture, USER_A};
use testkit::{Conversation, Reply};

/// `UIDVALIDITY n` of a mailbox, from STATUS.
async fn uidvalidity(c: &mut Conversation, mailbox: &str) -> String {
    let reply = c.imap(&format!("STATUS {mailbox} (UIDVALIDITY)")).await;
    reply.expect("OK");
    let line = reply.untagged().next().unwrap().to_string();
    let value = line.rsplit_once("UIDVALIDITY ").unwrap().1;
    value.trim_end_matches(')').to_string()
}

/// `MESSAGES n` of a mailbox, from STATUS.
async fn messages(c: &mut Conversation, mailbox: &str) -> u32 {
    let reply = c.imap(&format!("STATUS {mailbox} (MESSAGES)")).await;
    reply.expect("OK");
    let line = reply.untagged().next().unwrap().to_string();
    line.rsplit_once("MESSAGES ")
        .unwrap()
        .1
        .trim_end_matches(')')
        .parse()
        .unwrap()
}

/// Sends raw bytes (a command with LITERAL+ literals) and reads up to the tagged line.
async fn raw(c: &mut Conversation, tag: &str, bytes: &[u8]) -> Reply {
    c.write(bytes).await;
    c.tagged(tag).await
}

async fn session(tweak: impl FnOnce(&mut imap::Settings)) -> (Fixture, Conversation) {
    let fixture = fixture_with(tweak).await;
    let c = converse_as(&fixture, USER_A).await;
    (fixture, c)
}

/// RFC 3502 6.3.11: "append = "APPEND" SP mailbox 1*append-message; append-message =
/// [SP flag-list] [SP date-time] SP literal". Each message gets its own flags and date.
/// RFC 3502, MULTIAPPEND and UIDPLUS: "the APPENDUID response code returns as many UIDs as
/// there were messages appended in the multiple append", `APPENDUID uidvalidity set`.
#[tokio::test]
async fn several_messages_with_their_own_flags_and_dates() {
    let (_fixture, mut c) = session(|_| {}).await;
    let validity = uidvalidity(&mut c, "Drafts").await;
    let one = b"Subject: Th\xc6\xb0 1\r\n\r\nM\xe1\xbb\x99t\r\n";
    let two = b"Subject: 2\r\n\r\nHai\r\n";
    let mut command = format!("a1 APPEND Drafts (\\Seen) {{{}+}}\r\n", one.len()).into_bytes();
    command.extend_from_slice(one);
    command.extend_from_slice(
        format!(
            " (\\Flagged $Label1) \"05-Jan-2025 10:00:00 +0700\" {{{}+}}\r\n",
            two.len()
        )
        .as_bytes(),
    );
    command.extend_from_slice(two);
    command.extend_from_slice(b"\r\n");
    let reply = raw(&mut c, "a1", &command).await;
    // RFC 4315 3: `uid-set` is compact: 1:2 for the two UIDs given in order.
    reply.expect(&format!("OK [APPENDUID {validity} 1:2]"));
    assert_eq!(messages(&mut c, "Drafts").await, 2);
    c.imap("EXAMINE Drafts").await.expect("OK");
    let fetch = c.imap("FETCH 1:2 (FLAGS INTERNALDATE RFC822.SIZE)").await;
    fetch.expect("OK");
    let lines: Vec<&str> = fetch.untagged().collect();
    // RFC 3502 6.3.11: "If a flag parenthesized list is specified, the flags SHOULD be set in
    // the resulting message; otherwise, the flag list of the resulting message is set to
    // empty by default." The date: "the internal date SHOULD be set in the resulting
    // message" — 05-Jan-2025 10:00:00 +0700 is 03:00:00 UTC, shown in +0000.
    // RFC 3501 2.3.2: an IMAP4rev1 session (this one) also sees new messages as \Recent.
    let flags = |line: &str| -> Vec<String> {
        let start = line.find("FLAGS (").expect("FLAGS") + 7;
        let end = start + line[start..].find(')').expect("FLAGS )");
        let mut flags: Vec<String> = line[start..end]
            .split(' ')
            .filter(|f| !f.is_empty() && *f != "\\Recent")
            .map(String::from)
            .collect();
        flags.sort();
        flags
    };
    assert_eq!(flags(lines[0]), ["\\Seen"], "{lines:?}");
    assert!(
        lines[0].contains(&format!("RFC822.SIZE {}", one.len())),
        "{lines:?}"
    );
    assert_eq!(flags(lines[1]), ["$Label1", "\\Flagged"], "{lines:?}");
    assert!(
        lines[1].contains("INTERNALDATE \"05-Jan-2025 03:00:00 +0000\""),
        "{lines:?}"
    );
}

/// RFC 9051 7.5 / RFC 3501 7.5: each synchronising literal gets its "+" continuation; the
/// messages of one MULTIAPPEND are announced one after the other on the same command.
#[tokio::test]
async fn synchronising_literals_get_a_continuation_each() {
    let (_fixture, mut c) = session(|_| {}).await;
    c.write(b"a1 APPEND INBOX {5}\r\n").await;
    assert!(
        c.line().await.starts_with("+ "),
        "continuation for the first literal"
    );
    c.write(b"hello {5}\r\n").await;
    assert!(
        c.line().await.starts_with("+ "),
        "continuation for the second literal"
    );
    c.write(b"world\r\n").await;
    let reply = c.tagged("a1").await;
    reply.expect("OK [APPENDUID ");
    assert!(reply.status.contains(" 1:2]"), "{reply:?}");
    assert_eq!(messages(&mut c, "INBOX").await, 2);
}

/// RFC 3502 6.3.11: "If the append is unsuccessful for any reason (including being
/// cancelled), the mailbox MUST be restored to its state before the APPEND attempt; no
/// partial appending is permitted." Over quota as a whole: RFC 9208 / RFC 5530 OVERQUOTA.
#[tokio::test]
async fn over_quota_as_a_whole_stores_nothing() {
    let (fixture, mut c) = session(|_| {}).await;
    // Each of three 400-byte messages fits in 1,000 bytes; all three do not.
    fixture.store.set_quota(USER_A, 1000).await.unwrap();
    let body = vec![b'x'; 400];
    let mut command = b"a1 APPEND INBOX".to_vec();
    for _ in 0..3 {
        command.extend_from_slice(b" {400+}\r\n");
        command.extend_from_slice(&body);
    }
    command.extend_from_slice(b"\r\n");
    raw(&mut c, "a1", &command).await.expect("NO [OVERQUOTA]");
    assert_eq!(messages(&mut c, "INBOX").await, 0, "nothing stored");
    // Two fit.
    let mut command = b"a2 APPEND INBOX".to_vec();
    for _ in 0..2 {
        command.extend_from_slice(b" {400+}\r\n");
        command.extend_from_slice(&body);
    }
    command.extend_from_slice(b"\r\n");
    raw(&mut c, "a2", &command).await.expect("OK [APPENDUID");
    assert_eq!(messages(&mut c, "INBOX").await, 2);
}

/// RFC 3502 6.3.11: "A zero-length message literal argument is an error, and MUST return a
/// NO. This can be used to cancel the append." — the messages before it are not stored.
#[tokio::test]
async fn a_zero_length_literal_cancels_the_whole_append() {
    let (_fixture, mut c) = session(|_| {}).await;
    let reply = raw(
        &mut c,
        "a1",
        b"a1 APPEND INBOX {5+}\r\nhello {0+}\r\n {5+}\r\nworld\r\n",
    )
    .await;
    assert!(reply.status.starts_with("NO"), "{reply:?}");
    assert_eq!(messages(&mut c, "INBOX").await, 0);
}

/// RFC 3502 6.3.11: "The server MAY return an error before processing all the message
/// arguments." A synchronising literal over the limit in the middle is refused without a
/// continuation (RFC 9051 4.3: the client waits for "+" before sending), with RFC 4469 4.2
/// TOOBIG; the first message is not stored and the session goes on.
#[tokio::test]
async fn a_literal_too_large_in_the_middle_refuses_all() {
    let (_fixture, mut c) = session(|s| s.max_literal = 1000).await;
    c.write(b"a1 APPEND INBOX {5+}\r\nhello {5000}\r\n").await;
    let reply = c.tagged("a1").await;
    reply.expect("NO [TOOBIG]");
    assert!(!reply.lines.iter().any(|l| l.starts_with('+')), "{reply:?}");
    assert_eq!(messages(&mut c, "INBOX").await, 0);
    // Non-synchronising (RFC 7888 4: the client sends the data anyway): the whole rest of the
    // command, a third message included, is read and dropped, then the session is in step.
    let mut command = b"a2 APPEND INBOX {5+}\r\nhello {5000+}\r\n".to_vec();
    command.extend_from_slice(&vec![b'y'; 5000]);
    command.extend_from_slice(b" {5+}\r\nworld\r\n");
    raw(&mut c, "a2", &command).await.expect("NO [TOOBIG]");
    assert_eq!(messages(&mut c, "INBOX").await, 0, "nothing stored");
    c.imap("NOOP").await.expect("OK");
}

/// The bounds on the whole command: bytes (NO [TOOBIG], RFC 4469 4.2) and announced
/// literals (NO [LIMIT], RFC 5530 "exceeds a server limit"); nothing stored either way.
#[tokio::test]
async fn bounds_on_the_whole_append() {
    let (_fixture, mut c) = session(|s| {
        s.max_append_bytes = 100;
        s.max_append_parts = 3;
    })
    .await;
    // Two 60-byte messages: each under the message limit, 120 > 100 in all.
    let sixty = vec![b'z'; 60];
    let mut command = b"a1 APPEND INBOX {60+}\r\n".to_vec();
    command.extend_from_slice(&sixty);
    command.extend_from_slice(b" {60+}\r\n");
    command.extend_from_slice(&sixty);
    command.extend_from_slice(b"\r\n");
    raw(&mut c, "a1", &command).await.expect("NO [TOOBIG]");
    // Four literals when three are allowed; a hostile count of announced literals is cut at
    // the fourth.
    let mut command = b"a2 APPEND INBOX".to_vec();
    for _ in 0..4 {
        command.extend_from_slice(b" {1+}\r\nx");
    }
    command.extend_from_slice(b"\r\n");
    raw(&mut c, "a2", &command).await.expect("NO [LIMIT]");
    assert_eq!(messages(&mut c, "INBOX").await, 0);
    // Three are fine.
    let mut command = b"a3 APPEND INBOX".to_vec();
    for _ in 0..3 {
        command.extend_from_slice(b" {1+}\r\nx");
    }
    command.extend_from_slice(b"\r\n");
    raw(&mut c, "a3", &command).await.expect("OK [APPENDUID");
    assert_eq!(messages(&mut c, "INBOX").await, 3);
    // An absurd announced length is refused at once, without reading anything more.
    c.write(b"a4 APPEND INBOX {99999999999999999999}\r\n").await;
    c.tagged("a4").await.expect("NO [TOOBIG]");
    c.imap("NOOP").await.expect("OK");
}

/// RFC 3502 6.3.11: "If the destination mailbox does not exist, a server MUST return an
/// error, and MUST NOT automatically create the mailbox. ... the server MUST send the
/// response code "[TRYCREATE]"".
#[tokio::test]
async fn a_missing_mailbox_is_trycreate() {
    let (_fixture, mut c) = session(|_| {}).await;
    raw(&mut c, "a1", b"a1 APPEND Missing {1+}\r\na {1+}\r\nb\r\n")
        .await
        .expect("NO [TRYCREATE]");
    let list = c.imap("LIST \"\" Missing").await;
    assert_eq!(list.untagged().count(), 0, "not created");
}

/// RFC 3502 6.3.11: "If the mailbox is currently selected, the normal new message actions
/// SHOULD occur. Specifically, the server SHOULD notify the client immediately via an
/// untagged EXISTS response."
#[tokio::test]
async fn the_selected_mailbox_hears_exists() {
    let (_fixture, mut c) = session(|_| {}).await;
    c.imap("SELECT INBOX").await.expect("OK");
    let reply = raw(&mut c, "a1", b"a1 APPEND INBOX {1+}\r\na {1+}\r\nb\r\n").await;
    reply.expect("OK");
    assert!(reply.untagged().any(|l| l == "2 EXISTS"), "{reply:?}");
}

/// Syntax errors are BAD (RFC 9051 7.1.3) and store nothing.
#[tokio::test]
async fn malformed_appends_are_bad() {
    let (_fixture, mut c) = session(|_| {}).await;
    for (tag, bytes) in [
        ("a1", &b"a1 APPEND INBOX {1+}\r\na (\\Seen\r\n"[..]),
        (
            "a2",
            b"a2 APPEND INBOX {1+}\r\na \"31-Feb-2025 00:00:00 +0000\" {1+}\r\nb\r\n",
        ),
        ("a3", b"a3 APPEND INBOX {1+}\r\na x{1+}\r\nb\r\n"),
    ] {
        raw(&mut c, tag, bytes).await.expect("BAD");
    }
    assert_eq!(messages(&mut c, "INBOX").await, 0);
}

/// The capability is advertised (RFC 3502 "MULTIAPPEND").
#[tokio::test]
async fn capability() {
    let (_fixture, mut c) = session(|_| {}).await;
    let reply = c.imap("CAPABILITY").await;
    let caps = reply.untagged().next().unwrap().to_string();
    assert!(caps.split(' ').any(|w| w == "MULTIAPPEND"), "{caps}");
}
