//! Conformance: ESEARCH (RFC 4731, RFC 4466 2.6.2, RFC 9051 6.4.4 and 7.3.4), one session
//! over an in-memory pipe. Expected responses come from the grammar:
//!
//! ```abnf
//! esearch-response  = "ESEARCH" [search-correlator] [SP "UID"] *(SP search-return-data)
//! search-correlator = SP "(" "TAG" SP tag-string ")"
//! search-return-data = "MIN" SP nz-number / "MAX" SP nz-number /
//!                      "ALL" SP sequence-set / "COUNT" SP number
//! ```

use crate::common;

use common::{converse_as, fixture_with, message, Fixture, USER_A};
use testkit::Conversation;

async fn four_messages() -> Fixture {
    let fixture = fixture_with(|_| {}).await;
    for i in 1..=4 {
        fixture
            .deliver(fixture.account_a, &message(&format!("Thư {i}"), "x"))
            .await;
    }
    fixture
}

/// Runs `command` under `tag`; returns the untagged lines (without `* `) and the status.
async fn run(c: &mut Conversation, tag: &str, command: &str) -> (Vec<String>, String) {
    c.send(&format!("{tag} {command}")).await;
    let reply = c.tagged(tag).await;
    let lines = reply.untagged().map(str::to_string).collect();
    (lines, reply.status)
}

#[tokio::test]
async fn every_esearch_reply_names_the_command_tag() {
    let fixture = four_messages().await;
    let mut c = converse_as(&fixture, USER_A).await;
    c.imap("SELECT INBOX").await.expect("OK");
    // RFC 9051 7.3.4: "if [the search correlator] is present, it contains the tag of the
    // command that caused the response to be returned" (RFC 4466 2.6.2 grammar).
    let (lines, status) = run(&mut c, "a5", "SEARCH RETURN (ALL) ALL").await;
    assert!(status.starts_with("OK"), "{status}");
    assert_eq!(lines, ["ESEARCH (TAG \"a5\") ALL 1:4"]);
    // RFC 4731 3.1: UID SEARCH answers with the UID indicator after the correlator.
    let (lines, _) = run(&mut c, "a6", "UID SEARCH RETURN (MIN MAX COUNT) ALL").await;
    assert_eq!(lines, ["ESEARCH (TAG \"a6\") UID MIN 1 MAX 4 COUNT 4"]);
    // RFC 4731 3.1: "RETURN ()" is the same as "RETURN (ALL)".
    let (lines, _) = run(&mut c, "A.7-x", "SEARCH RETURN () 2:3").await;
    assert_eq!(lines, ["ESEARCH (TAG \"A.7-x\") ALL 2:3"]);
    // RFC 4731 3.1: with no match MIN, MAX and ALL are left out, COUNT is always there.
    let (lines, _) = run(
        &mut c,
        "a8",
        "SEARCH RETURN (MIN MAX ALL COUNT) KEYWORD $Nothing",
    )
    .await;
    assert_eq!(lines, ["ESEARCH (TAG \"a8\") COUNT 0"]);
    let (lines, _) = run(&mut c, "a9", "UID SEARCH RETURN (MIN) KEYWORD $Nothing").await;
    assert_eq!(lines, ["ESEARCH (TAG \"a9\") UID"]);
    // RFC 3501 6.4.4: without RETURN an IMAP4rev1 session still gets a SEARCH response.
    let (lines, _) = run(&mut c, "b1", "SEARCH 2,4").await;
    assert_eq!(lines, ["SEARCH 2 4"]);
}

#[tokio::test]
async fn an_imap4rev2_search_answers_esearch() {
    let fixture = four_messages().await;
    let mut c = converse_as(&fixture, USER_A).await;
    // RFC 9051 6.3.1: ENABLE IMAP4rev2 on a server that offers both revisions.
    let (lines, _) = run(&mut c, "e1", "ENABLE IMAP4rev2").await;
    assert_eq!(lines, ["ENABLED IMAP4rev2"]);
    c.imap("SELECT INBOX").await.expect("OK");
    // RFC 9051 6.4.4: "REQUIRED untagged response: ESEARCH"; without RETURN the result is
    // ALL (RFC 9051 6.4.4.1 / RFC 4731 3.1).
    let (lines, _) = run(&mut c, "s1", "SEARCH 2:3").await;
    assert_eq!(lines, ["ESEARCH (TAG \"s1\") ALL 2:3"]);
    let (lines, _) = run(&mut c, "s2", "UID SEARCH ALL").await;
    assert_eq!(lines, ["ESEARCH (TAG \"s2\") UID ALL 1:4"]);
    // No match: an ESEARCH response with nothing after the correlator.
    let (lines, _) = run(&mut c, "s3", "SEARCH KEYWORD $Nothing").await;
    assert_eq!(lines, ["ESEARCH (TAG \"s3\")"]);
    let (lines, _) = run(&mut c, "s4", "SEARCH RETURN (COUNT) ALL").await;
    assert_eq!(lines, ["ESEARCH (TAG \"s4\") COUNT 4"]);
}
