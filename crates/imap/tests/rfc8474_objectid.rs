//! RFC 8474 OBJECTID. Expected responses from RFC 8474 4 (MAILBOXID: the same for the life of
//! the mailbox, across RENAME; never reused), 4.1 (in CREATE's tagged OK), 4.2 (an untagged
//! OK on SELECT/EXAMINE), 4.3 (STATUS), 5.1 (EMAILID: kept by COPY and MOVE), 5.2 (THREADID
//! NIL without threads; SEARCH THREADID matches nothing), 6 (SEARCH) and 7 (grammar:
//! `objectid = 1*255(ALPHA / DIGIT / "_" / "-")`).

use crate::common;

use common::{converse_as, fixture_with, message, Fixture, USER_A};
use testkit::{Conversation, Reply};

async fn session() -> (Fixture, Conversation) {
    let fixture = fixture_with(|_| {}).await;
    for i in 0..2 {
        fixture
            .deliver(fixture.account_a, &message(&format!("Thư {i}"), "x"))
            .await;
    }
    let c = converse_as(&fixture, USER_A).await;
    (fixture, c)
}

/// RFC 8474 7: an objectid.
#[track_caller]
fn objectid(text: &str) -> String {
    assert!(
        !text.is_empty()
            && text.len() <= 255
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "not an objectid: {text:?}"
    );
    text.to_string()
}

/// The id in `[MAILBOXID (id)]` anywhere in a reply.
#[track_caller]
fn mailboxid_code(reply: &Reply) -> String {
    let line = reply
        .lines
        .iter()
        .find(|l| l.contains("[MAILBOXID ("))
        .unwrap_or_else(|| panic!("no MAILBOXID: {reply:?}"));
    let rest = &line[line.find("[MAILBOXID (").unwrap() + "[MAILBOXID (".len()..];
    objectid(&rest[..rest.find(")]").unwrap()])
}

/// The id of STATUS (MAILBOXID).
async fn status_id(c: &mut Conversation, mailbox: &str) -> String {
    let reply = c.imap(&format!("STATUS {mailbox} (MAILBOXID)")).await;
    reply.expect("OK");
    let line = reply.untagged().next().unwrap().to_string();
    // RFC 8474 7: `status-att-val =/ "MAILBOXID" SP "(" objectid ")"`.
    let rest = &line[line.find("(MAILBOXID (").unwrap() + "(MAILBOXID (".len()..];
    objectid(&rest[..rest.find("))").unwrap()])
}

/// The ids in `EMAILID (id)` of FETCH lines, by sequence order.
fn email_ids(reply: &Reply) -> Vec<String> {
    reply
        .untagged()
        .filter_map(|l| {
            let rest = &l[l.find("EMAILID (")? + "EMAILID (".len()..];
            Some(objectid(&rest[..rest.find(')')?]))
        })
        .collect()
}

/// RFC 8474 4.2: "A server advertising the OBJECTID capability MUST return an untagged OK
/// response with the MAILBOXID response code on all successful SELECT and EXAMINE commands."
/// 4.3: the STATUS item gives the same id. 4.1: "MUST include the MAILBOXID response code in
/// the tagged OK response to all successful CREATE commands."
#[tokio::test]
async fn select_status_and_create_agree() {
    let (_fixture, mut c) = session().await;
    let select = c.imap("SELECT INBOX").await;
    select.expect("OK");
    assert!(
        select.untagged().any(|l| l.starts_with("OK [MAILBOXID (")),
        "{select:?}"
    );
    let inbox = mailboxid_code(&select);
    assert_eq!(mailboxid_code(&c.imap("EXAMINE INBOX").await), inbox);
    assert_eq!(status_id(&mut c, "INBOX").await, inbox);
    // RFC 6855: with UTF8=ACCEPT the name is written in UTF-8.
    c.imap("ENABLE UTF8=ACCEPT").await.expect("OK");
    let create = c.imap("CREATE \"Dự án\"").await;
    create.expect("OK [MAILBOXID (");
    let project = mailboxid_code(&create);
    assert_ne!(project, inbox, "two mailboxes, two ids");
    assert_eq!(status_id(&mut c, "\"Dự án\"").await, project);
    // LIST-STATUS (RFC 5819) carries the STATUS item too.
    let list = c.imap("LIST \"\" INBOX RETURN (STATUS (MAILBOXID))").await;
    assert!(
        list.untagged()
            .any(|l| l == format!("STATUS \"INBOX\" (MAILBOXID ({inbox}))")),
        "{list:?}"
    );
    let caps = c.imap("CAPABILITY").await;
    assert!(caps
        .untagged()
        .next()
        .unwrap()
        .split(' ')
        .any(|w| w == "OBJECTID"));
}

/// RFC 8474 4: "The MAILBOXID MUST NOT change when a mailbox is renamed"; a mailbox deleted
/// and created again is another mailbox with another id ("MUST NOT reuse"). RENAME of INBOX
/// moves its messages to a new mailbox: INBOX keeps its id, the new mailbox gets its own.
#[tokio::test]
async fn ids_survive_rename_and_are_never_reused() {
    let (_fixture, mut c) = session().await;
    let created = mailboxid_code(&c.imap("CREATE Old").await);
    c.imap("RENAME Old New").await.expect("OK");
    assert_eq!(status_id(&mut c, "New").await, created);
    c.imap("DELETE New").await.expect("OK");
    let again = mailboxid_code(&c.imap("CREATE New").await);
    assert_ne!(again, created);
    let inbox = status_id(&mut c, "INBOX").await;
    c.imap("RENAME INBOX Saved").await.expect("OK");
    assert_eq!(status_id(&mut c, "INBOX").await, inbox);
    let saved = status_id(&mut c, "Saved").await;
    assert_ne!(saved, inbox);
}

/// RFC 8474 5.1: "The server MUST return the same EMAILID for both the source and
/// destination messages" of a COPY, and the same after a MOVE; distinct messages have
/// distinct EMAILIDs. 5.2: "if the server doesn't support THREADID ... it MUST return NIL".
/// 7: `fetch-emailid-resp = "EMAILID" SP "(" objectid ")"`,
/// `fetch-threadid-resp = "THREADID" SP ( "(" objectid ")" / nil )`.
#[tokio::test]
async fn email_ids_follow_copies_and_moves() {
    let (_fixture, mut c) = session().await;
    c.imap("SELECT INBOX").await.expect("OK");
    let fetch = c.imap("FETCH 1:2 (EMAILID THREADID)").await;
    fetch.expect("OK");
    let ids = email_ids(&fetch);
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    assert!(
        fetch
            .untagged()
            .all(|l| !l.contains("FETCH") || l.ends_with("THREADID NIL)")),
        "{fetch:?}"
    );
    c.imap("COPY 1 Archive").await.expect("OK");
    c.imap("MOVE 2 Archive").await.expect("OK");
    c.imap("SELECT Archive").await.expect("OK");
    let moved = email_ids(&c.imap("UID FETCH 1:* (EMAILID)").await);
    assert_eq!(moved, ids, "COPY and MOVE keep the EMAILID");
    // RFC 8474 6: `search-key =/ "EMAILID" SP objectid / "THREADID" SP objectid`.
    let search = c.imap(&format!("UID SEARCH EMAILID {}", ids[1])).await;
    assert_eq!(search.untagged().collect::<Vec<_>>(), ["SEARCH 2"]);
    let search = c.imap("SEARCH EMAILID Mnope").await;
    assert_eq!(search.untagged().collect::<Vec<_>>(), ["SEARCH"]);
    // RFC 8474 5.2: "a SEARCH for THREADID MUST NOT match any messages".
    let search = c.imap("SEARCH THREADID T1").await;
    assert_eq!(search.untagged().collect::<Vec<_>>(), ["SEARCH"]);
    let search = c
        .imap(&format!("SEARCH OR EMAILID {} THREADID T1", ids[0]))
        .await;
    assert_eq!(search.untagged().collect::<Vec<_>>(), ["SEARCH 1"]);
    // Not an objectid: a syntax error.
    c.imap("SEARCH EMAILID \"M 1\"").await.expect("BAD");
    c.imap("SEARCH EMAILID M%1").await.expect("BAD");
}
