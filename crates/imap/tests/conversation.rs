//! Protocol checks over an in-memory pipe, one session per test. Every expected response is
//! taken from the text and grammar of RFC 9051 (IMAP4rev2) and RFC 3501 (IMAP4rev1, what a
//! client gets that has not enabled IMAP4rev2), cited on the check: not from what the server
//! happens to print.

use crate::common;

use common::{converse, converse_as, fixture_with, message, Fixture, USER_A};
use testkit::{Conversation, Reply};

/// RFC 9051 7.1 `resp-cond-state = ("OK" / "NO" / "BAD") SP resp-text`, with
/// `resp-text = ["[" resp-text-code "]" SP] [text]`: checks the tagged line's grammar and
/// returns its condition.
#[track_caller]
fn condition(reply: &Reply) -> &str {
    let line = reply.status.as_str();
    let (cond, text) = line.split_once(' ').unwrap_or((line, ""));
    assert!(
        ["OK", "NO", "BAD"].contains(&cond),
        "not a resp-cond-state: {:?}",
        reply.lines
    );
    if let Some(code) = text.strip_prefix('[') {
        let end = code.find(']').expect("resp-text-code closed by ]");
        let after = &code[end + 1..];
        assert!(
            after.is_empty() || after.starts_with(' '),
            "SP after the response code: {line:?}"
        );
    }
    cond
}

/// RFC 3501 3 (and RFC 9051 3): "It is a protocol error for the client to attempt a command
/// while the connection is in an inappropriate state, and the server will respond with a BAD
/// or NO (depending upon server implementation) command completion result."
#[track_caller]
fn refused(reply: &Reply) {
    let cond = condition(reply);
    assert!(cond == "BAD" || cond == "NO", "{:?}", reply.lines);
}

/// The untagged lines of a reply that start with `prefix` (after `* `).
fn untagged<'a>(reply: &'a Reply, prefix: &str) -> Vec<&'a str> {
    reply.untagged().filter(|l| l.starts_with(prefix)).collect()
}

/// The number in `* n WORD` (EXISTS, RECENT, EXPUNGE, FETCH).
fn numbered(reply: &Reply, word: &str) -> Vec<u32> {
    reply
        .untagged()
        .filter_map(|l| {
            let (n, rest) = l.split_once(' ')?;
            (rest == word || rest.starts_with(&format!("{word} ")))
                .then(|| n.parse().ok())
                .flatten()
        })
        .collect()
}

/// The value of `* OK [CODE value] ...`.
fn ok_code<'a>(reply: &'a Reply, code: &str) -> Option<&'a str> {
    reply.untagged().find_map(|l| {
        let rest = l.strip_prefix("OK [")?.strip_prefix(code)?;
        let value = &rest[..rest.find(']')?];
        Some(value.trim_start())
    })
}

async fn fixture_with_mail(n: usize) -> Fixture {
    let fixture = fixture_with(|_| {}).await;
    for i in 0..n {
        fixture
            .deliver(
                fixture.account_a,
                &message(&format!("Thư {i}"), "Nội dung thử"),
            )
            .await;
    }
    fixture
}

/// The flags FETCH reports for message `seq`.
async fn flags_of(c: &mut Conversation, seq: u32) -> String {
    let reply = c.imap(&format!("FETCH {seq} (FLAGS)")).await;
    assert_eq!(condition(&reply), "OK", "{:?}", reply.lines);
    let line = untagged(&reply, &format!("{seq} FETCH "))
        .pop()
        .unwrap_or_else(|| panic!("no FETCH for {seq}: {:?}", reply.lines))
        .to_string();
    let start = line.find("FLAGS (").expect("FLAGS item") + "FLAGS (".len();
    line[start..start + line[start..].find(')').unwrap()].to_string()
}

#[tokio::test]
async fn greeting_and_commands_valid_in_any_state() {
    let fixture = fixture_with(|_| {}).await;
    let (mut c, greeting) = converse(&fixture).await;
    // RFC 9051 7.1.1: greeting = "*" SP (resp-cond-auth / resp-cond-bye) CRLF.
    assert!(greeting.starts_with("* OK "), "{greeting}");
    // RFC 9051 6.1.1: one untagged CAPABILITY listing IMAP4rev2 before the tagged OK (RFC 3501
    // 6.1.1: IMAP4rev1); RFC 9051 6.1.2: NOOP always succeeds. Both in every state.
    for login in [true, false] {
        let reply = c.imap("CAPABILITY").await;
        assert_eq!(condition(&reply), "OK");
        let caps = untagged(&reply, "CAPABILITY ");
        assert_eq!(caps.len(), 1, "{:?}", reply.lines);
        let words: Vec<&str> = caps[0].split(' ').collect();
        assert!(words.contains(&"IMAP4rev2") && words.contains(&"IMAP4rev1"));
        assert_eq!(condition(&c.imap("NOOP").await), "OK");
        if login {
            c.imap(&format!("LOGIN {USER_A} {}", common::PASSWORD))
                .await
                .expect("OK");
        }
    }
    // RFC 9051 7.1.3: BAD for a command the server does not know.
    assert_eq!(condition(&c.imap("FROBNICATE").await), "BAD");
}

#[tokio::test]
async fn commands_in_the_wrong_state_get_bad_or_no() {
    // More refusals than the default error budget closes a connection at.
    let fixture = fixture_with(|settings| settings.max_errors = 100).await;
    fixture
        .deliver(fixture.account_a, &message("Thư", "Nội dung thử"))
        .await;
    let (mut c, _) = converse(&fixture).await;
    // Not authenticated (RFC 9051 6.2): only STARTTLS, AUTHENTICATE and LOGIN besides the
    // commands of any state.
    for command in [
        "SELECT INBOX",
        "EXAMINE INBOX",
        "LIST \"\" *",
        "STATUS INBOX (MESSAGES)",
        "CREATE Drafts",
        "APPEND INBOX {1+}\r\nx",
        "FETCH 1 (FLAGS)",
        "STORE 1 +FLAGS (\\Seen)",
        "CLOSE",
        "UNSELECT",
        "EXPUNGE",
    ] {
        refused(&c.imap(command).await);
    }
    c.imap(&format!("LOGIN {USER_A} {}", common::PASSWORD))
        .await
        .expect("OK");
    // Authenticated: LOGIN is not valid any more (RFC 9051 6.2.3 lists it for the not
    // authenticated state only) ...
    refused(
        &c.imap(&format!("LOGIN {USER_A} {}", common::PASSWORD))
            .await,
    );
    // ... and the selected-state commands (RFC 9051 6.4) need a mailbox.
    for command in [
        "FETCH 1 (FLAGS)",
        "UID FETCH 1 (FLAGS)",
        "STORE 1 +FLAGS (\\Seen)",
        "SEARCH ALL",
        "COPY 1 INBOX",
        "EXPUNGE",
        "CLOSE",
        "UNSELECT",
    ] {
        refused(&c.imap(command).await);
    }
    // Nothing of that changed the state: SELECT works and the message is there.
    let reply = c.imap("SELECT INBOX").await;
    assert_eq!(condition(&reply), "OK");
    assert_eq!(numbered(&reply, "EXISTS"), [1]);
}

#[tokio::test]
async fn select_sends_the_required_responses() {
    let fixture = fixture_with_mail(2).await;
    let mut c = converse_as(&fixture, USER_A).await;
    let reply = c.imap("SELECT INBOX").await;
    // RFC 9051 6.3.2: "Result: OK - select completed, now in selected state"; the server
    // SHOULD prefix the text with [READ-WRITE] when the client may modify the mailbox.
    assert_eq!(condition(&reply), "OK");
    assert!(
        reply.status.starts_with("OK [READ-WRITE]"),
        "{}",
        reply.status
    );
    // RFC 9051 6.3.2 "REQUIRED untagged responses: FLAGS, EXISTS" (RFC 3501 6.3.1 adds
    // RECENT), each exactly once: `"FLAGS" SP flag-list`, `number SP "EXISTS"`.
    let flags = untagged(&reply, "FLAGS ");
    assert_eq!(flags.len(), 1, "{:?}", reply.lines);
    assert!(flags[0].starts_with("FLAGS (") && flags[0].ends_with(')'));
    for system in ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"] {
        assert!(flags[0].contains(system), "{}", flags[0]);
    }
    assert_eq!(numbered(&reply, "EXISTS"), [2]);
    assert_eq!(numbered(&reply, "RECENT").len(), 1);
    // "REQUIRED OK untagged responses: PERMANENTFLAGS, UIDNEXT, UIDVALIDITY" (RFC 3501 adds
    // UNSEEN: the first unseen message, here the first one).
    let permanent = ok_code(&reply, "PERMANENTFLAGS").expect("OK [PERMANENTFLAGS (...)]");
    assert!(permanent.starts_with('(') && permanent.ends_with(')'));
    // The user owns the mailbox: \Seen and \Deleted are changeable.
    assert!(permanent.contains("\\Seen") && permanent.contains("\\Deleted"));
    let uidvalidity: u32 = ok_code(&reply, "UIDVALIDITY")
        .expect("OK [UIDVALIDITY n]")
        .parse()
        .expect("nz-number");
    assert!(uidvalidity > 0);
    let uidnext: u32 = ok_code(&reply, "UIDNEXT")
        .expect("OK [UIDNEXT n]")
        .parse()
        .expect("nz-number");
    assert_eq!(ok_code(&reply, "UNSEEN"), Some("1"));
    // RFC 9051 2.3.1.1: UIDNEXT is greater than every UID in the mailbox.
    let uids = c.imap("UID FETCH 1:* (FLAGS)").await;
    assert_eq!(condition(&uids), "OK");
    let fetched = untagged(&uids, "");
    assert_eq!(fetched.len(), 2, "{:?}", uids.lines);
    for line in fetched {
        // RFC 9051 6.4.9: UID FETCH responses always include UID.
        let uid: u32 = line
            .split("UID ")
            .nth(1)
            .and_then(|rest| rest.split([' ', ')']).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no UID in {line}"));
        assert!(uid < uidnext, "UID {uid} >= UIDNEXT {uidnext}");
    }
    // RFC 3501 6.3.1: a SELECT that fails leaves no mailbox selected.
    assert_eq!(condition(&c.imap("SELECT \"No such folder\"").await), "NO");
    refused(&c.imap("FETCH 1 (FLAGS)").await);
}

#[tokio::test]
async fn examine_is_read_only() {
    let fixture = fixture_with_mail(2).await;
    let mut c = converse_as(&fixture, USER_A).await;
    c.imap("SELECT INBOX").await.expect("OK");
    c.imap("STORE 2 +FLAGS.SILENT (\\Deleted)")
        .await
        .expect("OK");
    let reply = c.imap("EXAMINE INBOX").await;
    // RFC 9051 6.3.3: the same output as SELECT, and "The text of the tagged OK response to
    // the EXAMINE command MUST begin with the "[READ-ONLY]" response code."
    assert!(
        reply.status.starts_with("OK [READ-ONLY]"),
        "{}",
        reply.status
    );
    assert_eq!(untagged(&reply, "FLAGS ").len(), 1);
    assert_eq!(numbered(&reply, "EXISTS"), [2]);
    for code in ["PERMANENTFLAGS", "UIDVALIDITY", "UIDNEXT"] {
        assert!(ok_code(&reply, code).is_some(), "{code}: {:?}", reply.lines);
    }
    // "No changes to the permanent state of the mailbox, including per-user state, are
    // permitted": reading a body does not set \Seen (RFC 9051 6.4.5 sets it otherwise) ...
    let body = c.imap("FETCH 1 (BODY[TEXT])").await;
    assert_eq!(condition(&body), "OK");
    assert!(!flags_of(&mut c, 1).await.contains("\\Seen"));
    // ... STORE and EXPUNGE change nothing ...
    assert_ne!(condition(&c.imap("STORE 1 +FLAGS (\\Flagged)").await), "OK");
    assert!(!flags_of(&mut c, 1).await.contains("\\Flagged"));
    let expunge = c.imap("EXPUNGE").await;
    assert!(
        numbered(&expunge, "EXPUNGE").is_empty(),
        "{:?}",
        expunge.lines
    );
    // ... and CLOSE removes nothing (RFC 9051 6.4.1: "No messages are removed, and no error
    // is given, if the mailbox is selected by an EXAMINE command").
    assert_eq!(condition(&c.imap("CLOSE").await), "OK");
    let reply = c.imap("SELECT INBOX").await;
    assert_eq!(numbered(&reply, "EXISTS"), [2]);
}

#[tokio::test]
async fn close_expunges_silently_and_unselect_keeps_messages() {
    let fixture = fixture_with_mail(3).await;
    let mut c = converse_as(&fixture, USER_A).await;
    c.imap("SELECT INBOX").await.expect("OK");
    c.imap("STORE 2 +FLAGS.SILENT (\\Deleted)")
        .await
        .expect("OK");
    // RFC 3691 / RFC 9051 6.4.2: UNSELECT returns to the authenticated state, "However, no
    // messages are removed from the mailbox."
    let reply = c.imap("UNSELECT").await;
    assert_eq!(condition(&reply), "OK");
    assert!(numbered(&reply, "EXPUNGE").is_empty());
    refused(&c.imap("FETCH 1 (FLAGS)").await);
    let reply = c.imap("SELECT INBOX").await;
    assert_eq!(numbered(&reply, "EXISTS"), [3]);
    assert!(flags_of(&mut c, 2).await.contains("\\Deleted"));
    // RFC 9051 6.4.1: CLOSE "permanently removes all messages that have the \Deleted flag
    // set ... and it returns to the authenticated state ... No untagged EXPUNGE responses
    // are sent."
    let reply = c.imap("CLOSE").await;
    assert_eq!(condition(&reply), "OK");
    assert!(numbered(&reply, "EXPUNGE").is_empty(), "{:?}", reply.lines);
    assert!(untagged(&reply, "VANISHED").is_empty());
    refused(&c.imap("FETCH 1 (FLAGS)").await);
    let reply = c.imap("SELECT INBOX").await;
    assert_eq!(numbered(&reply, "EXISTS"), [2]);
    for seq in [1, 2] {
        assert!(!flags_of(&mut c, seq).await.contains("\\Deleted"));
    }
}

#[tokio::test]
async fn expunge_reports_each_message() {
    let fixture = fixture_with_mail(3).await;
    let mut c = converse_as(&fixture, USER_A).await;
    c.imap("SELECT INBOX").await.expect("OK");
    c.imap("STORE 1:2 +FLAGS.SILENT (\\Deleted)")
        .await
        .expect("OK");
    // RFC 9051 6.4.3: an untagged EXPUNGE for each message removed; 7.5.1: each one
    // renumbers the messages after it, so removing 1 and 2 reads `1 EXPUNGE` twice.
    let reply = c.imap("EXPUNGE").await;
    assert_eq!(condition(&reply), "OK");
    assert_eq!(numbered(&reply, "EXPUNGE"), [1, 1]);
    let reply = c.imap("NOOP").await;
    assert!(numbered(&reply, "EXPUNGE").is_empty());
    refused(&c.imap("FETCH 2 (FLAGS)").await);
    assert!(!flags_of(&mut c, 1).await.contains("\\Deleted"));
}

#[tokio::test]
async fn store_silent_sends_no_fetch_and_store_reports_new_flags() {
    let fixture = fixture_with_mail(2).await;
    let mut c = converse_as(&fixture, USER_A).await;
    c.imap("SELECT INBOX").await.expect("OK");
    // RFC 9051 6.4.6: "+FLAGS.SILENT: Equivalent to +FLAGS, but without returning a new
    // value."
    let reply = c.imap("STORE 1 +FLAGS.SILENT (\\Flagged)").await;
    assert_eq!(condition(&reply), "OK");
    assert!(
        numbered(&reply, "FETCH").is_empty(),
        "no FETCH after .SILENT: {:?}",
        reply.lines
    );
    // RFC 3501 2.3.2: this session selected first after delivery, so it sees \Recent too.
    assert_eq!(flags_of(&mut c, 1).await, "\\Flagged \\Recent");
    // "+FLAGS: Add the argument to the flags for the message. The new value of the flags is
    // returned as if a FETCH of those flags was done."
    let reply = c.imap("STORE 1 +FLAGS (\\Answered)").await;
    assert_eq!(condition(&reply), "OK");
    let fetch = untagged(&reply, "1 FETCH ");
    assert_eq!(fetch.len(), 1, "{:?}", reply.lines);
    assert!(fetch[0].contains("\\Answered") && fetch[0].contains("\\Flagged"));
    // "-FLAGS.SILENT" and "FLAGS.SILENT" likewise answer without FETCH.
    for command in [
        "STORE 1 -FLAGS.SILENT (\\Answered)",
        "STORE 2 FLAGS.SILENT (\\Draft)",
    ] {
        let reply = c.imap(command).await;
        assert_eq!(condition(&reply), "OK");
        assert!(numbered(&reply, "FETCH").is_empty(), "{:?}", reply.lines);
    }
    assert_eq!(flags_of(&mut c, 1).await, "\\Flagged \\Recent");
    assert_eq!(flags_of(&mut c, 2).await, "\\Draft \\Recent");
}

#[tokio::test]
async fn reading_a_body_sets_seen_and_peek_does_not() {
    let fixture = fixture_with_mail(1).await;
    let mut c = converse_as(&fixture, USER_A).await;
    c.imap("SELECT INBOX").await.expect("OK");
    // RFC 9051 6.4.5: BODY.PEEK[section] is "An alternate form of BODY[<section>] that does
    // not implicitly set the \Seen flag."
    assert_eq!(condition(&c.imap("FETCH 1 (BODY.PEEK[TEXT])").await), "OK");
    assert!(!flags_of(&mut c, 1).await.contains("\\Seen"));
    // BODY[section]: "The \Seen flag is implicitly set; if this causes the flags to change,
    // they SHOULD be included as part of the FETCH responses."
    let reply = c.imap("FETCH 1 (BODY[TEXT])").await;
    assert_eq!(condition(&reply), "OK");
    assert!(reply.mentions("\\Seen"), "{:?}", reply.lines);
    assert!(flags_of(&mut c, 1).await.contains("\\Seen"));
}

#[tokio::test]
async fn logout_says_bye_before_ok_and_closes() {
    let fixture = fixture_with(|_| {}).await;
    let mut c = converse_as(&fixture, USER_A).await;
    // RFC 9051 6.1.3: "The server MUST send a BYE untagged response before the (tagged) OK
    // response, and then close the network connection."
    let reply = c.imap("LOGOUT").await;
    assert_eq!(condition(&reply), "OK");
    let bye = reply.lines.iter().position(|l| l.starts_with("* BYE "));
    assert_eq!(bye, Some(reply.lines.len() - 2), "{:?}", reply.lines);
    assert!(c.closed().await.is_empty());
}

#[tokio::test]
async fn failed_login_stays_not_authenticated() {
    let fixture = fixture_with(|_| {}).await;
    let (mut c, _) = converse(&fixture).await;
    // RFC 9051 6.2.3: "NO - login failure: user name or password rejected".
    let reply = c.imap(&format!("LOGIN {USER_A} wrong-password")).await;
    assert_eq!(condition(&reply), "NO");
    refused(&c.imap("SELECT INBOX").await);
    c.imap(&format!("LOGIN {USER_A} {}", common::PASSWORD))
        .await
        .expect("OK");
    assert_eq!(condition(&c.imap("SELECT INBOX").await), "OK");
}

#[tokio::test]
async fn missing_targets_ask_the_client_to_create_them() {
    let fixture = fixture_with_mail(1).await;
    let mut c = converse_as(&fixture, USER_A).await;
    c.imap("SELECT INBOX").await.expect("OK");
    // RFC 9051 6.4.7 (COPY) and 6.3.12 (APPEND): the server MUST NOT create the mailbox and,
    // unless certain it cannot be created, MUST send [TRYCREATE] as the prefix of the text of
    // the tagged NO.
    let copy = c.imap("COPY 1 Projects").await;
    assert!(copy.status.starts_with("NO [TRYCREATE]"), "{}", copy.status);
    let append = c.imap("APPEND Projects {3+}\r\nx\r\n").await;
    assert!(
        append.status.starts_with("NO [TRYCREATE]"),
        "{}",
        append.status
    );
    let list = c.imap("LIST \"\" Projects").await;
    assert!(untagged(&list, "LIST ").is_empty(), "{:?}", list.lines);
    // RFC 9051 6.3.4: "It is an error to attempt to create INBOX"; 6.3.5: "It is an error
    // to attempt to delete INBOX".
    assert_eq!(condition(&c.imap("CREATE INBOX").await), "NO");
    assert_eq!(condition(&c.imap("DELETE INBOX").await), "NO");
}

#[tokio::test]
async fn append_waits_for_a_synchronising_literal_and_reports_its_uid() {
    let fixture = fixture_with(|_| {}).await;
    let mut c = converse_as(&fixture, USER_A).await;
    let raw = message("Bản nháp", "Chưa gửi");
    // RFC 9051 4.3 / 7.5: after a synchronising literal's `{n}` the client waits for a
    // command continuation request (`+`) before sending the octets.
    c.send(&format!("a1 APPEND INBOX (\\Draft) {{{}}}", raw.len()))
        .await;
    let go = c.line().await;
    assert!(go.starts_with('+'), "{go}");
    c.write(&raw).await;
    c.send("").await;
    let reply = c.tagged("a1").await;
    // RFC 4315 3 (UIDPLUS, advertised): `APPENDUID uidvalidity uid` in the tagged OK.
    assert!(
        reply.status.starts_with("OK [APPENDUID "),
        "{}",
        reply.status
    );
    let appended: Vec<&str> = reply.status["OK [APPENDUID ".len()..]
        .split([' ', ']'])
        .take(2)
        .collect();
    let selected = c.imap("SELECT INBOX").await;
    assert_eq!(numbered(&selected, "EXISTS"), [1]);
    assert_eq!(ok_code(&selected, "UIDVALIDITY"), Some(appended[0]));
    let uid = c.imap("FETCH 1 (UID FLAGS)").await;
    assert!(
        uid.mentions(&format!("UID {}", appended[1])) && uid.mentions("\\Draft"),
        "{:?}",
        uid.lines
    );
}

#[tokio::test]
async fn idle_pushes_new_mail_until_done() {
    let fixture = fixture_with_mail(1).await;
    let mut c = converse_as(&fixture, USER_A).await;
    c.imap("SELECT INBOX").await.expect("OK");
    // RFC 2177: IDLE is answered with a continuation request; while idling the server sends
    // untagged EXISTS as mail arrives; DONE ends it with the tagged OK.
    c.send("i1 IDLE").await;
    let go = c.line().await;
    assert!(go.starts_with("+ "), "{go}");
    fixture
        .deliver(fixture.account_a, &message("Thư mới", "Đến trong lúc chờ"))
        .await;
    assert_eq!(c.line().await, "* 2 EXISTS");
    c.send("DONE").await;
    assert_eq!(condition(&c.tagged("i1").await), "OK");
}
