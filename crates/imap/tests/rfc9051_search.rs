//! Conformance: SEARCH keys on the Date: header and on address fields (RFC 9051 6.4.4), one
//! session over an in-memory pipe.

use crate::common;

use common::{converse_as, fixture_with, USER_A};
use testkit::Conversation;

fn mail(date: &str, to: &str, cc: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: nvan.stttt@kontum.gov.vn\r\nTo: {to}\r\nCc: {cc}\r\nSubject: {subject}\r\n\
Date: {date}\r\nMessage-ID: <{subject}@kontum.gov.vn>\r\n\r\nx\r\n"
    )
    .into_bytes()
}

/// The numbers of the one `* SEARCH` response.
async fn search(c: &mut Conversation, keys: &str) -> Vec<u32> {
    let reply = c.imap(&format!("SEARCH {keys}")).await;
    reply.expect("OK");
    let line = reply
        .untagged()
        .find(|l| l.starts_with("SEARCH"))
        .unwrap_or_else(|| panic!("{:?}", reply.lines));
    line.split(' ')
        .skip(1)
        .map(|n| n.parse().unwrap())
        .collect()
}

#[tokio::test]
async fn sent_keys_use_the_date_as_written_in_the_header() {
    let fixture = fixture_with(|_| {}).await;
    for raw in [
        // 1: 06:30 on 1 November in Vietnam is 23:30 on 31 October UTC.
        mail(
            "Sat, 1 Nov 2025 06:30:00 +0700",
            "a@kontum.gov.vn",
            "c@kontum.gov.vn",
            "m1",
        ),
        // 2: 22:00 on 31 October at -05:00 is 1 November UTC.
        mail(
            "Fri, 31 Oct 2025 22:00:00 -0500",
            "a@kontum.gov.vn",
            "c@kontum.gov.vn",
            "m2",
        ),
        // 3: midday, no ambiguity.
        mail(
            "Sun, 2 Nov 2025 12:00:00 +0700",
            "a@kontum.gov.vn",
            "c@kontum.gov.vn",
            "m3",
        ),
    ] {
        fixture.deliver(fixture.account_a, &raw).await;
    }
    let mut c = converse_as(&fixture, USER_A).await;
    c.imap("SELECT INBOX").await.expect("OK");
    // RFC 9051 6.4.4: "SENTON <date>: Messages whose [RFC5322] Date: header (disregarding
    // time and timezone) is within the specified date." Likewise SENTBEFORE, SENTSINCE.
    assert_eq!(search(&mut c, "SENTON 1-Nov-2025").await, [1]);
    assert_eq!(search(&mut c, "SENTON 31-Oct-2025").await, [2]);
    assert_eq!(search(&mut c, "SENTBEFORE 1-Nov-2025").await, [2]);
    assert_eq!(search(&mut c, "SENTSINCE 1-Nov-2025").await, [1, 3]);
    assert_eq!(search(&mut c, "SENTSINCE 2-Nov-2025").await, [3]);
    assert_eq!(search(&mut c, "SENTBEFORE 3-Nov-2025").await, [1, 2, 3]);
}

#[tokio::test]
async fn address_keys_match_group_names() {
    let fixture = fixture_with(|_| {}).await;
    for raw in [
        mail(
            "Sat, 1 Nov 2025 09:00:00 +0700",
            "Ban Giam doc: gd@kontum.gov.vn, pgd@kontum.gov.vn;",
            "undisclosed-recipients:;",
            "m1",
        ),
        mail(
            "Sat, 1 Nov 2025 10:00:00 +0700",
            "van.thu@kontum.gov.vn",
            "group2: (foo) ;",
            "m2",
        ),
    ] {
        fixture.deliver(fixture.account_a, &raw).await;
    }
    let mut c = converse_as(&fixture, USER_A).await;
    c.imap("SELECT INBOX").await.expect("OK");
    // RFC 9051 6.4.4: "TO <string>: Messages that contain the specified string in the
    // envelope structure's TO field" — a group's name is in that field (RFC 9051 7.5.2: the
    // start-of-group address holds it).
    assert_eq!(search(&mut c, "TO \"giam doc\"").await, [1]);
    assert_eq!(search(&mut c, "TO pgd@kontum").await, [1]);
    assert_eq!(search(&mut c, "CC undisclosed-recipients").await, [1]);
    assert_eq!(search(&mut c, "CC group2").await, [2]);
    // A comment inside an empty group is no address: nothing matches "foo".
    assert_eq!(search(&mut c, "CC foo").await, Vec::<u32>::new());
}
