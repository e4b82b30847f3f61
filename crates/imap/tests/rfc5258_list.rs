//! Conformance: LIST-EXTENDED (RFC 5258, RFC 9051 6.3.9), LSUB (RFC 3501 6.3.9),
//! SUBSCRIBE/UNSUBSCRIBE (RFC 9051 6.3.7, 6.3.8), one session over an in-memory pipe.
//!
//! A new account's own folders (INBOX, Sent, Drafts, Trash, Junk, Archive) start subscribed,
//! as Dovecot's autosubscribe does; folders made by CREATE, and the parents CREATE makes, do
//! not (RFC 9051 6.3.4 subscribes nothing).

use crate::common;

use std::collections::BTreeSet;

use common::{converse_as, fixture_with, USER_A};
use testkit::{Conversation, Reply};

/// One `LIST`/`LSUB` line: (attributes, name, extended data after the name).
#[derive(Debug, PartialEq, Eq)]
struct Listed {
    attributes: BTreeSet<String>,
    name: String,
    extended: String,
}

/// RFC 9051 7.3.1 `mailbox-list = "(" [mbx-list-flags] ")" SP (DQUOTE QUOTED-CHAR DQUOTE
/// / nil) SP mailbox [SP mbox-list-extended]`, for the quoted names these tests use.
fn listed(reply: &Reply, word: &str) -> Vec<Listed> {
    reply
        .untagged()
        .filter_map(|l| l.strip_prefix(&format!("{word} (")))
        .map(|rest| {
            let (flags, rest) = rest.split_once(") \"/\" \"").expect("flags, delimiter");
            let (name, extended) = rest.split_once('"').expect("a quoted name");
            Listed {
                attributes: flags.split_whitespace().map(str::to_string).collect(),
                name: name.to_string(),
                extended: extended.trim().to_string(),
            }
        })
        .collect()
}

fn find<'a>(list: &'a [Listed], name: &str) -> Option<&'a Listed> {
    list.iter().find(|l| l.name == name)
}

fn has(entry: Option<&Listed>, attribute: &str) -> bool {
    entry.is_some_and(|e| e.attributes.contains(attribute))
}

async fn ok(c: &mut Conversation, command: &str) -> Reply {
    let reply = c.imap(command).await;
    reply.expect("OK");
    reply
}

const DEFAULTS: [&str; 6] = ["INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"];

#[tokio::test]
async fn create_subscribes_nothing() {
    let fixture = fixture_with(|_| {}).await;
    let mut c = converse_as(&fixture, USER_A).await;
    ok(&mut c, "CREATE Projects/2026").await;
    let lsub = listed(&ok(&mut c, "LSUB \"\" \"*\"").await, "LSUB");
    let names: BTreeSet<&str> = lsub.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, DEFAULTS.into_iter().collect());
    // RFC 5258 3.1: SUBSCRIBED lists "exactly those mailbox names that match the canonical
    // list pattern and are subscribed to", each with \Subscribed.
    let list = listed(&ok(&mut c, "LIST (SUBSCRIBED) \"\" \"*\"").await, "LIST");
    assert_eq!(list.len(), DEFAULTS.len(), "{list:?}");
    assert!(list.iter().all(|l| l.attributes.contains("\\Subscribed")));
    // RETURN (SUBSCRIBED) marks exactly the subscribed names.
    let list = listed(
        &ok(&mut c, "LIST \"\" \"*\" RETURN (SUBSCRIBED)").await,
        "LIST",
    );
    assert!(has(find(&list, "Sent"), "\\Subscribed"));
    assert!(find(&list, "Projects").is_some() && !has(find(&list, "Projects"), "\\Subscribed"));
    assert!(!has(find(&list, "Projects/2026"), "\\Subscribed"));
}

#[tokio::test]
async fn recursivematch_alone_or_with_remote_is_bad() {
    let fixture = fixture_with(|_| {}).await;
    let mut c = converse_as(&fixture, USER_A).await;
    // RFC 5258 3: "The RECURSIVEMATCH option MUST NOT occur as the only selection option
    // (or only with REMOTE) ... The server MUST return BAD tagged response in such case."
    for command in [
        "LIST (RECURSIVEMATCH) \"\" \"*\"",
        "LIST (RECURSIVEMATCH REMOTE) \"\" \"*\"",
        "LIST (REMOTE RECURSIVEMATCH) \"\" \"%\"",
    ] {
        c.imap(command).await.expect("BAD");
    }
    ok(&mut c, "LIST (SUBSCRIBED REMOTE RECURSIVEMATCH) \"\" \"%\"").await;
}

#[tokio::test]
async fn recursivematch_returns_childinfo() {
    let fixture = fixture_with(|_| {}).await;
    let mut c = converse_as(&fixture, USER_A).await;
    for name in ["Fruit/Apple", "Fruit/Banana", "Vegetable/Broccoli"] {
        ok(&mut c, &format!("CREATE {name}")).await;
    }
    for name in ["Fruit/Banana", "Vegetable", "Vegetable/Broccoli"] {
        ok(&mut c, &format!("SUBSCRIBE {name}")).await;
    }
    let childinfo = "(\"CHILDINFO\" (\"SUBSCRIBED\"))";
    // RFC 5258 3 RECURSIVEMATCH: "forces the server to return information about parent
    // mailboxes that don't match other selection options, but have some submailboxes that
    // do. Information about children is returned in the CHILDINFO extended data item";
    // the parent must match the pattern, the child need not.
    let list = listed(
        &ok(&mut c, "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\"").await,
        "LIST",
    );
    let fruit = find(&list, "Fruit").expect("Fruit, for its subscribed child");
    assert!(!fruit.attributes.contains("\\Subscribed"), "{fruit:?}");
    assert_eq!(fruit.extended, childinfo);
    let vegetable = find(&list, "Vegetable").expect("Vegetable");
    assert!(vegetable.attributes.contains("\\Subscribed"));
    assert_eq!(vegetable.extended, childinfo);
    let inbox = find(&list, "INBOX").expect("INBOX");
    assert!(inbox.attributes.contains("\\Subscribed") && inbox.extended.is_empty());
    assert!(find(&list, "Fruit/Banana").is_none(), "% does not reach it");
    // RFC 5258 3.5: "The CHILDINFO extended data item MUST NOT be returned unless the client
    // has specified the RECURSIVEMATCH selection option."
    let list = listed(&ok(&mut c, "LIST (SUBSCRIBED) \"\" \"%\"").await, "LIST");
    assert!(find(&list, "Fruit").is_none(), "{list:?}");
    assert!(list.iter().all(|l| l.extended.is_empty()), "{list:?}");
    // A subscribed child listed itself carries no CHILDINFO of its own (it has no child).
    let list = listed(
        &ok(&mut c, "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"Fruit/%\"").await,
        "LIST",
    );
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].name, "Fruit/Banana");
    assert!(list[0].extended.is_empty());
}

#[tokio::test]
async fn delete_keeps_the_subscription() {
    let fixture = fixture_with(|_| {}).await;
    let mut c = converse_as(&fixture, USER_A).await;
    ok(&mut c, "CREATE Old/Reports").await;
    ok(&mut c, "SUBSCRIBE Old/Reports").await;
    ok(&mut c, "DELETE Old/Reports").await;
    // RFC 9051 6.3.7: "The server MUST NOT unilaterally remove an existing mailbox name from
    // the subscription list even if a mailbox by that name no longer exists." RFC 5258 3.4:
    // such a name is listed \NonExistent (which implies \Noselect) and \Subscribed.
    let list = listed(
        &ok(&mut c, "LIST (SUBSCRIBED) \"\" \"Old/*\"").await,
        "LIST",
    );
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].name, "Old/Reports");
    for attribute in ["\\NonExistent", "\\Subscribed"] {
        assert!(list[0].attributes.contains(attribute), "{list:?}");
    }
    // A plain LIST shows only mailboxes that exist.
    let list = listed(&ok(&mut c, "LIST \"\" \"Old/*\"").await, "LIST");
    assert!(list.is_empty(), "{list:?}");
    // RFC 9051 6.3.8: the name can still be unsubscribed; then it is gone.
    ok(&mut c, "UNSUBSCRIBE Old/Reports").await;
    let list = listed(
        &ok(&mut c, "LIST (SUBSCRIBED) \"\" \"Old/*\"").await,
        "LIST",
    );
    assert!(list.is_empty(), "{list:?}");
    // "NO - unsubscribe failure: can't unsubscribe that name".
    c.imap("UNSUBSCRIBE Old/Reports").await.expect("NO");
}

#[tokio::test]
async fn lsub_percent_shows_an_unsubscribed_parent_as_noselect() {
    let fixture = fixture_with(|_| {}).await;
    let mut c = converse_as(&fixture, USER_A).await;
    ok(&mut c, "CREATE Work/Reports").await;
    ok(&mut c, "SUBSCRIBE Work/Reports").await;
    // RFC 3501 6.3.9: "if "foo/bar" ... is subscribed but "foo" is not. A "%" wildcard to
    // LSUB must return foo, not foo/bar, in the LSUB response, and it MUST be flagged with
    // the \Noselect attribute."
    let lsub = listed(&ok(&mut c, "LSUB \"\" \"%\"").await, "LSUB");
    assert!(has(find(&lsub, "Work"), "\\Noselect"), "{lsub:?}");
    assert!(find(&lsub, "Work/Reports").is_none());
    assert!(!has(find(&lsub, "INBOX"), "\\Noselect"));
    // With "*" the subscribed name itself matches; its parent is not listed.
    let lsub = listed(&ok(&mut c, "LSUB \"\" \"*\"").await, "LSUB");
    assert!(find(&lsub, "Work/Reports").is_some(), "{lsub:?}");
    assert!(find(&lsub, "Work").is_none(), "{lsub:?}");
    // Subscribing the parent makes it an ordinary LSUB entry.
    ok(&mut c, "SUBSCRIBE Work").await;
    let lsub = listed(&ok(&mut c, "LSUB \"\" \"%\"").await, "LSUB");
    assert!(!has(find(&lsub, "Work"), "\\Noselect"), "{lsub:?}");
}
