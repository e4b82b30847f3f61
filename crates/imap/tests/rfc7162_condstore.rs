//! Conformance: CONDSTORE (RFC 7162 3.1) with ESEARCH (RFC 4731 3.2), one session over an
//! in-memory pipe.
//!
//! RFC 7162 3.1: the CONDSTORE enabling commands are SELECT/EXAMINE (CONDSTORE), STATUS
//! (HIGHESTMODSEQ), FETCH or SEARCH that include the MODSEQ data item or search key, FETCH
//! CHANGEDSINCE, STORE UNCHANGEDSINCE and ENABLE CONDSTORE. The first one issued while a
//! mailbox is selected makes the server report the mailbox's HIGHESTMODSEQ (untagged OK), and
//! from then on "the server MUST automatically include both UID and mod-sequence data in all
//! subsequent untagged FETCH responses ... whether they were caused by a regular STORE/UID
//! STORE, a STORE/UID STORE with an UNCHANGEDSINCE modifier, a FETCH/UID FETCH that implicitly
//! set the \Seen flag, or an external agent".

use crate::common;

use common::{converse_as, fixture_with, message, Fixture, USER_A};
use testkit::{Conversation, Reply};

async fn mail(n: usize) -> Fixture {
    let fixture = fixture_with(|_| {}).await;
    for i in 1..=n {
        fixture
            .deliver(fixture.account_a, &message(&format!("Thư {i}"), "x"))
            .await;
    }
    fixture
}

/// `mod-sequence-value` of the `MODSEQ (n)` item in a FETCH line.
fn modseq(line: &str) -> Option<u64> {
    let rest = &line[line.find("MODSEQ (")? + "MODSEQ (".len()..];
    rest[..rest.find(')')?].parse().ok()
}

/// The values of `* OK [HIGHESTMODSEQ n]` in a reply.
fn highest(reply: &Reply) -> Vec<u64> {
    reply
        .untagged()
        .filter_map(|l| l.strip_prefix("OK [HIGHESTMODSEQ "))
        .filter_map(|r| r[..r.find(']')?].parse().ok())
        .collect()
}

/// MODSEQ of each message, by sequence number (1-based; index 0 unused).
async fn modseqs(c: &mut Conversation, n: usize) -> Vec<u64> {
    let reply = c.imap("FETCH 1:* (MODSEQ)").await;
    reply.expect("OK");
    let mut out = vec![0; n + 1];
    for line in reply.untagged() {
        if let Some((seq, rest)) = line.split_once(" FETCH ") {
            out[seq.parse::<usize>().unwrap()] = modseq(rest).expect("MODSEQ item");
        }
    }
    out
}

#[tokio::test]
async fn fetch_modseq_enables_condstore() {
    let fixture = mail(4).await;
    let mut c = converse_as(&fixture, USER_A).await;
    c.imap("SELECT INBOX").await.expect("OK");
    c.imap("STORE 1 +FLAGS (\\Seen)").await.expect("OK");
    // RFC 7162 3.1: FETCH with MODSEQ enables CONDSTORE; the untagged OK [HIGHESTMODSEQ]
    // comes once, with the highest mod-sequence of the mailbox (RFC 7162 3.1.2.1).
    let reply = c.imap("FETCH 1:* (MODSEQ)").await;
    reply.expect("OK");
    let reported = highest(&reply);
    assert_eq!(reported.len(), 1, "{:?}", reply.lines);
    let all: Vec<u64> = reply.untagged().filter_map(modseq).collect();
    assert_eq!(all.len(), 4);
    assert_eq!(reported[0], *all.iter().max().unwrap());
    // Only the first enabling command reports it.
    let again = c.imap("FETCH 1 (MODSEQ)").await;
    assert!(highest(&again).is_empty(), "{:?}", again.lines);
    // A regular STORE now answers with UID and MODSEQ, higher than before (RFC 7162 3.1.3).
    let reply = c.imap("STORE 2 +FLAGS (\\Flagged)").await;
    let line = reply
        .untagged()
        .find(|l| l.starts_with("2 FETCH "))
        .unwrap_or_else(|| panic!("{:?}", reply.lines))
        .to_string();
    assert!(line.contains("UID 2"), "{line}");
    assert!(modseq(&line).unwrap() > reported[0], "{line}");
    // So does STORE .SILENT: the FETCH carries UID and MODSEQ, not FLAGS.
    let reply = c.imap("STORE 3 +FLAGS.SILENT (\\Deleted)").await;
    let line = reply
        .untagged()
        .find(|l| l.starts_with("3 FETCH "))
        .unwrap();
    assert!(line.contains("UID 3") && modseq(line).is_some(), "{line}");
    assert!(!line.contains("FLAGS"), "{line}");
    // And a FETCH that sets \Seen implicitly.
    let bytes = c.imap_bytes("b1", "FETCH 4 (BODY[TEXT])").await;
    let line = String::from_utf8_lossy(&bytes);
    assert!(
        line.starts_with("* 4 FETCH (BODY[TEXT] {3}\r\nx\r\n"),
        "{line}"
    );
    assert!(line.contains("\\Seen"), "{line}");
    assert!(line.contains("UID 4") && modseq(&line).is_some(), "{line}");
}

#[tokio::test]
async fn search_modseq_enables_condstore() {
    let fixture = mail(3).await;
    let mut c = converse_as(&fixture, USER_A).await;
    let select = c.imap("SELECT INBOX").await;
    let at_select = highest(&select)[0];
    // RFC 7162 3.1.5: SEARCH MODSEQ answers `(MODSEQ n)` after the numbers, n the highest
    // mod-sequence of the messages returned; the key enables CONDSTORE (3.1).
    let reply = c.imap("SEARCH MODSEQ 1").await;
    reply.expect("OK");
    assert_eq!(highest(&reply), [at_select], "{:?}", reply.lines);
    let search = reply.untagged().find(|l| l.starts_with("SEARCH ")).unwrap();
    assert_eq!(search, format!("SEARCH 1 2 3 (MODSEQ {at_select})"));
    let reply = c.imap("STORE 1 +FLAGS (\\Answered)").await;
    let line = reply
        .untagged()
        .find(|l| l.starts_with("1 FETCH "))
        .unwrap();
    assert!(line.contains("UID 1") && modseq(line).is_some(), "{line}");
}

#[tokio::test]
async fn status_highestmodseq_enables_condstore() {
    let fixture = mail(2).await;
    let mut c = converse_as(&fixture, USER_A).await;
    let select = c.imap("SELECT INBOX").await;
    let at_select = highest(&select)[0];
    // RFC 7162 3.1: STATUS (HIGHESTMODSEQ) is an enabling command; the untagged OK names
    // the selected mailbox's HIGHESTMODSEQ.
    let reply = c.imap("STATUS Sent (HIGHESTMODSEQ)").await;
    reply.expect("OK");
    assert_eq!(highest(&reply), [at_select], "{:?}", reply.lines);
    let reply = c.imap("STORE 2 -FLAGS (\\Seen)").await;
    let line = reply
        .untagged()
        .find(|l| l.starts_with("2 FETCH "))
        .unwrap();
    assert!(line.contains("UID 2") && modseq(line).is_some(), "{line}");
}

#[tokio::test]
async fn unchangedsince_and_changedsince_enable_condstore() {
    let fixture = mail(2).await;
    for command in [
        "STORE 1 (UNCHANGEDSINCE 4294967295) +FLAGS (\\Seen)",
        "FETCH 1:* (FLAGS) (CHANGEDSINCE 1)",
    ] {
        let mut c = converse_as(&fixture, USER_A).await;
        let select = c.imap("SELECT INBOX").await;
        let at_select = highest(&select)[0];
        // RFC 7162 3.1: both modifiers are CONDSTORE enabling; the first reports
        // HIGHESTMODSEQ, and the FETCH responses carry MODSEQ (3.1.3, 3.1.4.1).
        let reply = c.imap(command).await;
        reply.expect("OK");
        assert_eq!(highest(&reply), [at_select], "{command}: {:?}", reply.lines);
        let fetch = reply
            .untagged()
            .find(|l| l.starts_with("1 FETCH "))
            .unwrap();
        assert!(modseq(fetch).is_some(), "{command}: {fetch}");
    }
}

#[tokio::test]
async fn esearch_modseq_is_that_of_the_messages_returned() {
    let fixture = mail(3).await;
    let mut c = converse_as(&fixture, USER_A).await;
    c.imap("ENABLE CONDSTORE").await.expect("OK");
    c.imap("SELECT INBOX").await.expect("OK");
    // Message 2 changes last: it has the highest MODSEQ, 1 and 3 lower ones.
    for seq in [3, 1, 2] {
        c.imap(&format!("STORE {seq} +FLAGS (\\Flagged)"))
            .await
            .expect("OK");
    }
    let m = modseqs(&mut c, 3).await;
    assert!(m[2] > m[1] && m[2] > m[3] && m[1] > m[3], "{m:?}");
    // RFC 4731 3.2 / RFC 7162 3.1.5: MODSEQ is the highest mod-sequence of the messages
    // returned: with MIN (or MAX) alone, that message's.
    let cases = [
        ("MIN", format!("MIN 1 MODSEQ {}", m[1])),
        ("MAX", format!("MAX 3 MODSEQ {}", m[3])),
        ("MIN MAX", format!("MIN 1 MAX 3 MODSEQ {}", m[1].max(m[3]))),
        ("ALL", format!("ALL 1:3 MODSEQ {}", m[2])),
        ("COUNT", format!("COUNT 3 MODSEQ {}", m[2])),
    ];
    for (i, (options, expected)) in cases.iter().enumerate() {
        let tag = format!("m{i}");
        c.send(&format!("{tag} SEARCH RETURN ({options}) MODSEQ 1"))
            .await;
        let reply = c.tagged(&tag).await;
        reply.expect("OK");
        let lines: Vec<&str> = reply.untagged().collect();
        assert_eq!(lines, [format!("ESEARCH (TAG \"{tag}\") {expected}")]);
    }
}
