//! Conformance: mailbox naming and identity (RFC 9051 2.3.1.1, 5.1.3; RFC 3501 5.1.3), one
//! session over an in-memory pipe.

use crate::common;

use common::{converse_as, fixture_with, message, USER_A};
use testkit::Reply;

/// The value of the item `name` in the one `* STATUS` line of a reply.
fn status_item(reply: &Reply, name: &str) -> i64 {
    let line = reply
        .untagged()
        .find(|l| l.starts_with("STATUS "))
        .unwrap_or_else(|| panic!("{:?}", reply.lines));
    let rest = &line[line.find(&format!("{name} ")).unwrap() + name.len() + 1..];
    rest.split([' ', ')']).next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_mailbox_deleted_and_created_again_gets_a_new_uidvalidity() {
    let fixture = fixture_with(|_| {}).await;
    let mut c = converse_as(&fixture, USER_A).await;
    c.imap("CREATE Drafts2").await.expect("OK");
    let raw = message("Nháp", "x");
    c.write(format!("a1 APPEND Drafts2 {{{}+}}\r\n", raw.len()).as_bytes())
        .await;
    c.write(&raw).await;
    c.write(b"\r\n").await;
    c.tagged("a1").await.expect("OK");
    let before = c.imap("STATUS Drafts2 (UIDVALIDITY UIDNEXT)").await;
    let (validity, next) = (
        status_item(&before, "UIDVALIDITY"),
        status_item(&before, "UIDNEXT"),
    );
    assert_eq!(next, 2);
    // Within the same second: the new mailbox starts at UID 1 again, so RFC 9051 2.3.1.1
    // requires a new UIDVALIDITY: "If unique identifiers from an earlier session fail to
    // persist in this session, the unique identifier validity value MUST be greater than the
    // one used in the earlier session."
    c.imap("DELETE Drafts2").await.expect("OK");
    c.imap("CREATE Drafts2").await.expect("OK");
    let after = c.imap("STATUS Drafts2 (UIDVALIDITY UIDNEXT)").await;
    assert_eq!(status_item(&after, "UIDNEXT"), 1);
    assert!(
        status_item(&after, "UIDVALIDITY") > validity,
        "{:?} then {:?}",
        before.lines,
        after.lines
    );
    // Again, quickly: still strictly increasing.
    c.imap("DELETE Drafts2").await.expect("OK");
    c.imap("CREATE Drafts2").await.expect("OK");
    let third = c.imap("STATUS Drafts2 (UIDVALIDITY)").await;
    assert!(status_item(&third, "UIDVALIDITY") > status_item(&after, "UIDVALIDITY"));
}

#[tokio::test]
async fn a_name_that_is_not_modified_utf7_is_refused_with_no() {
    let fixture = fixture_with(|_| {}).await;
    let mut c = converse_as(&fixture, USER_A).await;
    // RFC 3501 5.1.3: "&AGE-" encodes the printable "a" (it must represent itself),
    // "&ARAB" has no closing "-", "&2D0-" is a lone surrogate. Such a name names no mailbox
    // and never can: NO with a response code (RFC 5530 CANNOT), not BAD — the command is
    // well formed.
    for command in [
        "SELECT \"&AGE-\"",
        "EXAMINE &ARAB",
        "STATUS \"&2D0-\" (MESSAGES)",
        "CREATE \"&AGE-x\"",
        "DELETE \"&AGE-\"",
        "SUBSCRIBE \"&AGE-\"",
        "APPEND \"&AGE-\" {1+}\r\nx",
    ] {
        let reply = c.imap(command).await;
        assert!(
            reply.status.starts_with("NO [CANNOT]"),
            "{command}: {:?}",
            reply.lines
        );
    }
    // The connection is fine afterwards.
    c.imap("SELECT INBOX").await.expect("OK");
}
