//! Conformance: keywords and the FLAGS response (RFC 9051 2.3.2, 6.3.2, 7.3.5), several
//! sessions over in-memory pipes on one store.
//!
//! RFC 9051 7.3.5: "The update from the FLAGS response MUST be recorded by the client" —
//! the FLAGS response names the flags defined in the mailbox, so a keyword a FETCH is about
//! to show for the first time is announced first (with PERMANENTFLAGS, which lists the
//! keywords the client may set when it may create them, `\*`).

use crate::common;

use common::{converse_as, fixture_with, message, USER_A};
use testkit::Reply;

fn lines(reply: &Reply) -> Vec<&str> {
    reply.untagged().collect()
}

const SYSTEM: &str = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";

#[tokio::test]
async fn a_new_keyword_is_announced_before_a_fetch_shows_it() {
    let fixture = fixture_with(|_| {}).await;
    for i in 0..2 {
        fixture
            .deliver(fixture.account_a, &message(&format!("m{i}"), "x"))
            .await;
    }
    // IMAP4rev2 sessions: no \Recent in the FETCH responses compared below.
    let mut a = converse_as(&fixture, USER_A).await;
    a.imap("ENABLE IMAP4rev2").await.expect("OK");
    let select = a.imap("SELECT INBOX").await;
    assert!(lines(&select).contains(&format!("FLAGS ({SYSTEM})").as_str()));
    let mut b = converse_as(&fixture, USER_A).await;
    b.imap("ENABLE IMAP4rev2").await.expect("OK");
    b.imap("SELECT INBOX").await.expect("OK");
    // The session that sets the keyword is told first, then sees its FETCH.
    let store = a.imap("STORE 1 +FLAGS ($Label1)").await;
    store.expect("OK");
    assert_eq!(
        lines(&store),
        [
            format!("FLAGS ({SYSTEM} $Label1)"),
            format!("OK [PERMANENTFLAGS ({SYSTEM} $Label1 \\*)] Flags permitted"),
            "1 FETCH (FLAGS ($Label1))".to_string(),
        ]
    );
    // Using it again needs no new announcement.
    let store = a.imap("STORE 2 +FLAGS ($label1)").await;
    assert_eq!(lines(&store), ["2 FETCH (FLAGS ($label1))"]);
    // Another session learns of it when the change reaches it, before the FETCH.
    let noop = b.imap("NOOP").await;
    let told = lines(&noop);
    assert_eq!(told.len(), 4, "{told:?}");
    assert_eq!(told[0], format!("FLAGS ({SYSTEM} $Label1)"));
    assert!(told[1].starts_with("OK [PERMANENTFLAGS ("), "{told:?}");
    assert!(told[2].starts_with("1 FETCH (") && told[3].starts_with("2 FETCH ("));
    // RFC 9051 6.3.2: SELECT's FLAGS lists the keywords defined in the mailbox.
    let mut c = converse_as(&fixture, USER_A).await;
    c.imap("ENABLE IMAP4rev2").await.expect("OK");
    let select = c.imap("SELECT INBOX").await;
    assert!(
        lines(&select).contains(&format!("FLAGS ({SYSTEM} $Label1)").as_str()),
        "{:?}",
        select.lines
    );
    assert!(
        lines(&select)
            .iter()
            .any(|l| l.starts_with(&format!("OK [PERMANENTFLAGS ({SYSTEM} $Label1 \\*)]"))),
        "{:?}",
        select.lines
    );
    // FETCH FLAGS of a keyword this session knows: no announcement.
    let fetch = c.imap("FETCH 1 (FLAGS)").await;
    assert_eq!(lines(&fetch), ["1 FETCH (FLAGS ($Label1))"]);
}
