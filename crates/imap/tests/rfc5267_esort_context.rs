//! RFC 5267 ESORT, CONTEXT=SEARCH and CONTEXT=SORT over in-memory sessions, with the ESEARCH
//! correlator of RFC 4731 3.1. Expected responses are worked out by hand from the RFC text and
//! grammar (cited on each check) and the sort values listed on `sortmail::five` (five messages,
//! UID = sequence number + 1).

use crate::common;
use crate::sortmail;

use common::{converse_as, fixture_with, message, Fixture, USER_A};
use sortmail::{burn_one_uid, five, put};
use testkit::{Conversation, Reply};

/// An ESEARCH response taken apart by its grammar (RFC 4731 3.1, RFC 5267 5):
/// `"ESEARCH" [SP "(" "TAG" SP tag-string ")"] [SP "UID"] *(SP search-return-data)`, where a
/// data item is a name and either a number/sequence-set or a parenthesised list.
#[derive(Debug, PartialEq)]
struct Esearch {
    tag: String,
    uid: bool,
    items: Vec<(String, String)>,
}

fn parse_esearch(line: &str) -> Esearch {
    let rest = line.strip_prefix("ESEARCH").expect("ESEARCH response");
    let rest = rest
        .strip_prefix(" (TAG \"")
        .unwrap_or_else(|| panic!("search correlator missing: {line}"));
    let (tag, mut rest) = rest.split_once("\")").expect("closed correlator");
    let uid = rest.starts_with(" UID");
    if uid {
        rest = &rest[4..];
    }
    let mut items = vec![];
    while let Some(r) = rest.strip_prefix(' ') {
        let (name, after) = r.split_once(' ').expect("data item has a value");
        let (value, after) = if let Some(inner) = after.strip_prefix('(') {
            let close = inner.find(')').expect("closed list");
            (inner[..close].to_string(), &inner[close + 1..])
        } else {
            let end = after.find(' ').unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        items.push((name.to_string(), value));
        rest = after;
    }
    assert!(rest.is_empty(), "trailing text in {line}");
    Esearch {
        tag: tag.to_string(),
        uid,
        items,
    }
}

/// The ESEARCH responses of a reply.
fn esearches(reply: &Reply) -> Vec<Esearch> {
    reply
        .untagged()
        .filter(|l| l.starts_with("ESEARCH"))
        .map(parse_esearch)
        .collect()
}

/// Sends `command` under `tag`, waits for its completion.
async fn run(c: &mut Conversation, tag: &str, command: &str) -> Reply {
    c.send(&format!("{tag} {command}")).await;
    c.tagged(tag).await
}

/// The data items of the one ESEARCH response a command gave, after checking its head.
#[track_caller]
fn items_of(reply: &Reply, tag: &str, uid: bool) -> Vec<(String, String)> {
    reply.expect("OK");
    let mut all = esearches(reply);
    assert_eq!(all.len(), 1, "one ESEARCH: {:?}", reply.lines);
    let e = all.remove(0);
    // RFC 4731 3.1 / RFC 5267 4.3: the correlator names this command's tag.
    assert_eq!(e.tag, tag);
    assert_eq!(e.uid, uid, "{:?}", reply.lines);
    e.items
}

fn item(name: &str, value: &str) -> (String, String) {
    (name.to_string(), value.to_string())
}

/// Position of the first line of `reply` containing `needle`.
#[track_caller]
fn position(reply: &Reply, needle: &str) -> usize {
    reply
        .lines
        .iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in {:?}", reply.lines))
}

async fn five_messages() -> Fixture {
    let fixture = fixture_with(|_| {}).await;
    burn_one_uid(&fixture.store, fixture.account_a).await;
    put(&fixture.store, fixture.account_a, &five()).await;
    fixture
}

async fn selected(fixture: &Fixture) -> Conversation {
    let mut c = converse_as(fixture, USER_A).await;
    c.imap("SELECT INBOX").await.expect("OK");
    c
}

#[tokio::test]
async fn esort_return_options() {
    let fixture = five_messages().await;
    let mut c = selected(&fixture).await;
    let caps = c.imap("CAPABILITY").await;
    let line = caps
        .untagged()
        .find(|l| l.starts_with("CAPABILITY"))
        .unwrap();
    for cap in ["ESORT", "CONTEXT=SEARCH", "CONTEXT=SORT", "ESEARCH", "SORT"] {
        assert!(line.split(' ').any(|w| w == cap), "{cap} in {line}");
    }
    // RFC 5267 3.3: `RETURN ()` gives ALL in sort order. REVERSE DATE is messages 2 1 4 3 5,
    // UIDs 3 2 5 4 6; no two in a row ascend by one, so no ranges (3.2: no 12:10 forms).
    let reply = run(&mut c, "E01", "UID SORT RETURN () (REVERSE DATE) UTF-8 ALL").await;
    assert_eq!(items_of(&reply, "E01", true), [item("ALL", "3,2,5,4,6")]);
    // RFC 5267 3.1: MIN/MAX are the first and last in sort order. SUBJECT is 5 3 4 1 2.
    let reply = run(
        &mut c,
        "E02",
        "SORT RETURN (MIN MAX COUNT) (SUBJECT) UTF-8 ALL",
    )
    .await;
    let mut items = items_of(&reply, "E02", false);
    items.sort();
    assert_eq!(
        items,
        [item("COUNT", "5"), item("MAX", "2"), item("MIN", "5")]
    );
    // ARRIVAL is 5 3 1 2 4: "1,2" may be the range 1:2 (increasing, 3.2).
    let reply = run(&mut c, "E03", "SORT RETURN (ALL) (ARRIVAL) UTF-8 ALL").await;
    assert_eq!(items_of(&reply, "E03", false), [item("ALL", "5,3,1:2,4")]);
    // RFC 5267 4.4 PARTIAL on a sort: positions 2..3 of 5 3 4 1 2.
    let reply = run(
        &mut c,
        "E04",
        "SORT RETURN (PARTIAL 2:3) (SUBJECT) UTF-8 ALL",
    )
    .await;
    assert_eq!(items_of(&reply, "E04", false), [item("PARTIAL", "2:3 3:4")]);
    // RFC 4731 3.1: no match, COUNT 0 and no MIN/MAX/ALL.
    let reply = run(
        &mut c,
        "E05",
        "SORT RETURN (MIN COUNT ALL) (DATE) UTF-8 SUBJECT \"không có\"",
    )
    .await;
    assert_eq!(items_of(&reply, "E05", false), [item("COUNT", "0")]);
    // RFC 5267 4.4: "either one PARTIAL, one ALL, or neither".
    run(
        &mut c,
        "E06",
        "SORT RETURN (ALL PARTIAL 1:2) (DATE) UTF-8 ALL",
    )
    .await
    .expect("BAD");
}

#[tokio::test]
async fn search_partial_and_context_hint() {
    let fixture = five_messages().await;
    let mut c = selected(&fixture).await;
    // RFC 5267 4.2 example form: CONTEXT is a hint, COUNT as usual.
    let reply = run(&mut c, "A01", "SEARCH RETURN (CONTEXT COUNT) ALL").await;
    assert_eq!(items_of(&reply, "A01", false), [item("COUNT", "5")]);
    // RFC 5267 4.4: SEARCH results in mailbox order; positions 2..4 of UIDs 2 3 4 5 6.
    let reply = run(&mut c, "A02", "UID SEARCH RETURN (PARTIAL 2:4) ALL").await;
    assert_eq!(items_of(&reply, "A02", true), [item("PARTIAL", "2:4 3:5")]);
    // A range running past the end returns what there is, with the range as asked.
    let reply = run(&mut c, "A03", "SEARCH RETURN (PARTIAL 4:10) ALL").await;
    assert_eq!(
        items_of(&reply, "A03", false),
        [item("PARTIAL", "4:10 4:5")]
    );
    // Beyond the end: NIL (the RFC's A04 example).
    let reply = run(&mut c, "A04", "UID SEARCH RETURN (PARTIAL 24000:24500) ALL").await;
    assert_eq!(
        items_of(&reply, "A04", true),
        [item("PARTIAL", "24000:24500 NIL")]
    );
    // RFC 5267 5: "A range 500:400 is the same as 400:500".
    let reply = run(&mut c, "A05", "SEARCH RETURN (PARTIAL 3:1) UNSEEN").await;
    assert_eq!(items_of(&reply, "A05", false), [item("PARTIAL", "1:3 1:3")]);
    // PARTIAL with other options, criteria narrowing: FROM an matches 3 and 4.
    let reply = run(&mut c, "A06", "SEARCH RETURN (COUNT PARTIAL 1:1) FROM an").await;
    let mut items = items_of(&reply, "A06", false);
    items.sort();
    assert_eq!(items, [item("COUNT", "2"), item("PARTIAL", "1:1 3")]);
    // partial-range = nz-number ":" nz-number.
    run(&mut c, "A07", "SEARCH RETURN (PARTIAL 0:3) ALL")
        .await
        .expect("BAD");
    run(&mut c, "A08", "SEARCH RETURN (ALL PARTIAL 1:3) ALL")
        .await
        .expect("BAD");
}

#[tokio::test]
async fn search_update_context_adds_and_removes() {
    let fixture = five_messages().await;
    let mut a = selected(&fixture).await;
    let mut other = selected(&fixture).await;
    // RFC 5267 4.3 example B01: UPDATE with COUNT; all five are unseen.
    let reply = run(&mut a, "B01", "UID SEARCH RETURN (UPDATE COUNT) UNSEEN").await;
    assert_eq!(items_of(&reply, "B01", true), [item("COUNT", "5")]);
    // "An attempt to use UPDATE where a tag is already in use with a previous searching
    // command that itself used UPDATE SHALL result in ... BAD".
    run(&mut a, "B01", "SORT RETURN (UPDATE) (DATE) UTF-8 FLAGGED")
        .await
        .expect("BAD");
    // Message 2 (UID 3) becomes seen elsewhere: it leaves the result. 4.3.4: REMOVEFROM with
    // context position 0 for a SEARCH, UIDs since it was a UID SEARCH.
    other.imap("STORE 2 +FLAGS (\\Seen)").await.expect("OK");
    let reply = a.imap("NOOP").await;
    let updates = esearches(&reply);
    assert_eq!(
        updates,
        [Esearch {
            tag: "B01".into(),
            uid: true,
            items: vec![item("REMOVEFROM", "0 3")],
        }],
        "{:?}",
        reply.lines
    );
    // A new message (UID 7, sequence number 6) is unseen: ADDTO, sent after the EXISTS
    // (4.3.3: "MUST be sent after the EXISTS notification").
    fixture
        .deliver(fixture.account_a, &message("Thư mới", "x"))
        .await;
    let reply = a.imap("NOOP").await;
    let addto = position(&reply, "ADDTO");
    assert!(position(&reply, "6 EXISTS") < addto, "{:?}", reply.lines);
    assert_eq!(
        parse_esearch(&reply.lines[addto][2..]).items,
        [item("ADDTO", "0 7")]
    );
    // 4.3.5: CANCELUPDATE ends the updates.
    a.imap("CANCELUPDATE \"B01\"").await.expect("OK");
    other.imap("STORE 3 +FLAGS (\\Seen)").await.expect("OK");
    let reply = a.imap("NOOP").await;
    assert!(esearches(&reply).is_empty(), "{:?}", reply.lines);
}

#[tokio::test]
async fn removefrom_comes_before_the_expunge() {
    let fixture = five_messages().await;
    let mut a = selected(&fixture).await;
    let mut other = selected(&fixture).await;
    // RFC 5267 A.3: `SEARCH RETURN (UPDATE) ALL` notifies immediately about expunges. UPDATE
    // alone asks for no result data: the ESEARCH response has the correlator only.
    let reply = run(&mut a, "C01", "SEARCH RETURN (UPDATE) ALL").await;
    assert!(items_of(&reply, "C01", false).is_empty());
    // Another session expunges message 2. 4.3.4: REMOVEFROM with sequence numbers "MUST be
    // sent prior to the expunge notification itself".
    other.imap("STORE 2 +FLAGS (\\Deleted)").await.expect("OK");
    other.imap("EXPUNGE").await.expect("OK");
    let reply = a.imap("NOOP").await;
    let removefrom = position(&reply, "REMOVEFROM");
    assert!(
        removefrom < position(&reply, "* 2 EXPUNGE"),
        "{:?}",
        reply.lines
    );
    assert_eq!(
        parse_esearch(&reply.lines[removefrom][2..]).items,
        [item("REMOVEFROM", "0 2")]
    );
    // This session's own EXPUNGE: the same order. Message 1 is still number 1.
    a.imap("STORE 1 +FLAGS.SILENT (\\Deleted)")
        .await
        .expect("OK");
    let reply = a.imap("EXPUNGE").await;
    let removefrom = position(&reply, "REMOVEFROM");
    assert!(
        removefrom < position(&reply, "* 1 EXPUNGE"),
        "{:?}",
        reply.lines
    );
    assert_eq!(
        parse_esearch(&reply.lines[removefrom][2..]).items,
        [item("REMOVEFROM", "0 1")]
    );
}

#[tokio::test]
async fn sort_update_context_gives_positions() {
    let fixture = five_messages().await;
    let mut a = selected(&fixture).await;
    let mut other = selected(&fixture).await;
    // REVERSE ARRIVAL: INTERNALDATE T+30 (4), T+20 (2), T+10 (1), T+5 (3), T+1 (5), so UIDs
    // 5 3 2 4 6 (RFC 5267 3: ESORT ALL in sort order).
    let reply = run(
        &mut a,
        "D01",
        "UID SORT RETURN (UPDATE ALL) (REVERSE ARRIVAL) UTF-8 ALL",
    )
    .await;
    assert_eq!(items_of(&reply, "D01", true), [item("ALL", "5,3,2,4,6")]);
    // A new message arrives now, far later than T: first in REVERSE ARRIVAL. 4.3.3: a
    // non-zero context position is where the first added result ends up: position 1.
    fixture
        .deliver(fixture.account_a, &message("Mới nhất", "x"))
        .await;
    let reply = a.imap("NOOP").await;
    let addto = position(&reply, "ADDTO");
    assert!(position(&reply, "6 EXISTS") < addto);
    assert_eq!(
        parse_esearch(&reply.lines[addto][2..]).items,
        [item("ADDTO", "1 7")]
    );
    // The client's list is now 7 5 3 2 4 6. Message 1 (UID 2) is expunged elsewhere: it is at
    // position 4 (4.3.4: "the first result in the set will occupy the given context position
    // before removal"), reported before the EXPUNGE.
    other.imap("STORE 1 +FLAGS (\\Deleted)").await.expect("OK");
    other.imap("EXPUNGE").await.expect("OK");
    let reply = a.imap("NOOP").await;
    let removefrom = position(&reply, "REMOVEFROM");
    assert!(
        removefrom < position(&reply, "* 1 EXPUNGE"),
        "{:?}",
        reply.lines
    );
    assert_eq!(
        parse_esearch(&reply.lines[removefrom][2..]).items,
        [item("REMOVEFROM", "4 2")]
    );
}

#[tokio::test]
async fn contexts_are_bounded_and_end_with_the_selection() {
    let fixture = five_messages().await;
    let mut a = selected(&fixture).await;
    let mut other = selected(&fixture).await;
    for i in 1..=4 {
        let tag = format!("F{i}");
        let reply = run(&mut a, &tag, "SEARCH RETURN (UPDATE COUNT) ALL").await;
        assert_eq!(items_of(&reply, &tag, false), [item("COUNT", "5")]);
    }
    // RFC 5267 4.3.1: a refused context is an untagged NO [NOUPDATE "tag"]; the other return
    // options are still honoured and the command succeeds.
    let reply = run(&mut a, "F5", "SEARCH RETURN (UPDATE COUNT) ALL").await;
    assert_eq!(items_of(&reply, "F5", false), [item("COUNT", "5")]);
    assert!(
        reply
            .untagged()
            .any(|l| l.starts_with("NO [NOUPDATE \"F5\"]")),
        "{:?}",
        reply.lines
    );
    // 4.3: "Updates will cease when the mailbox is no longer selected".
    a.imap("UNSELECT").await.expect("OK");
    a.imap("SELECT INBOX").await.expect("OK");
    other.imap("STORE 1 +FLAGS (\\Deleted)").await.expect("OK");
    other.imap("EXPUNGE").await.expect("OK");
    let reply = a.imap("NOOP").await;
    assert!(esearches(&reply).is_empty(), "{:?}", reply.lines);
    // With the old contexts gone a new one may use an old tag again.
    let reply = run(&mut a, "F1", "SEARCH RETURN (UPDATE COUNT) ALL").await;
    assert_eq!(items_of(&reply, "F1", false), [item("COUNT", "4")]);
}

#[tokio::test]
async fn updates_follow_text_criteria() {
    let fixture = five_messages().await;
    let mut a = selected(&fixture).await;
    let mut other = selected(&fixture).await;
    // SUBJECT "giấy" matches messages 3 and 4 (UIDs 4, 5).
    let reply = run(
        &mut a,
        "H01",
        "UID SEARCH RETURN (UPDATE ALL) SUBJECT \"giấy\"",
    )
    .await;
    assert_eq!(items_of(&reply, "H01", true), [item("ALL", "4:5")]);
    // A flag change on a member changes nothing in the result: no ESEARCH (RFC 5267 4.3:
    // updates are about changes to the set of matching messages).
    other.imap("STORE 3 +FLAGS (\\Flagged)").await.expect("OK");
    let reply = a.imap("NOOP").await;
    assert!(esearches(&reply).is_empty(), "{:?}", reply.lines);
    // A new message that does not match: nothing; one that does (UID 8): ADDTO.
    fixture
        .deliver(fixture.account_a, &message("Khác", "x"))
        .await;
    let reply = a.imap("NOOP").await;
    assert!(esearches(&reply).is_empty(), "{:?}", reply.lines);
    fixture
        .deliver(fixture.account_a, &message("Giấy mời họp", "x"))
        .await;
    let reply = a.imap("NOOP").await;
    let updates = esearches(&reply);
    assert_eq!(updates.len(), 1, "{:?}", reply.lines);
    assert_eq!(updates[0].items, [item("ADDTO", "0 8")]);
}
