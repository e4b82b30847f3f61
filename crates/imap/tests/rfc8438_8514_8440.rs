//! RFC 8438 STATUS=SIZE, RFC 8514 SAVEDATE and RFC 8440 LIST-MYRIGHTS. Expected responses
//! from RFC 8438 3 (SIZE: "the total size of the mailbox in octets ... the sum of the
//! RFC822.SIZE of all messages"), RFC 8514 3 (the save date is when the message was put in
//! the mailbox), 4.2 (`msg-att-static =/ "SAVEDATE" SP (date-time / nil)`), 4.3 (the SEARCH
//! keys) and RFC 8440 3 (a MYRIGHTS after each mailbox's LIST, as MYRIGHTS answers).

use crate::common;

use common::{converse_as, fixture_with, message, Fixture, USER_A};
use storage::NewUnit;
use testkit::Conversation;

async fn session() -> (Fixture, Conversation) {
    let fixture = fixture_with(|_| {}).await;
    for i in 0..3 {
        fixture
            .deliver(
                fixture.account_a,
                &message(&format!("Thư {i}"), &"nội dung ".repeat(i * 10 + 1)),
            )
            .await;
    }
    let c = converse_as(&fixture, USER_A).await;
    (fixture, c)
}

/// Today in UTC as an IMAP `date` (dd-Mon-yyyy), and the days before and after.
fn dates() -> (String, String, String) {
    let now = time::OffsetDateTime::now_utc().date();
    let show = |d: time::Date| {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        format!(
            "{}-{}-{}",
            d.day(),
            MONTHS[d.month() as usize - 1],
            d.year()
        )
    };
    (
        show(now.previous_day().unwrap()),
        show(now),
        show(now.next_day().unwrap()),
    )
}

/// RFC 8438 3: SIZE is the sum of the messages' RFC822.SIZE.
#[tokio::test]
async fn status_size_is_the_sum_of_the_message_sizes() {
    let (_fixture, mut c) = session().await;
    c.imap("EXAMINE INBOX").await.expect("OK");
    let sizes = c.imap("FETCH 1:* RFC822.SIZE").await;
    let total: u64 = sizes
        .untagged()
        .filter_map(|l| {
            l.rsplit_once("RFC822.SIZE ")?
                .1
                .trim_end_matches(')')
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert!(total > 0);
    let status = c.imap("STATUS INBOX (SIZE MESSAGES)").await;
    status.expect("OK");
    // RFC 8438 4: `status-att-val =/ "SIZE" SP number64`.
    assert_eq!(
        status.untagged().collect::<Vec<_>>(),
        [format!("STATUS \"INBOX\" (SIZE {total} MESSAGES 3)")]
    );
    let empty = c.imap("STATUS Drafts (SIZE)").await;
    assert_eq!(
        empty.untagged().collect::<Vec<_>>(),
        ["STATUS \"Drafts\" (SIZE 0)"]
    );
    let caps = c.imap("CAPABILITY").await;
    let caps = caps.untagged().next().unwrap().to_string();
    for cap in ["STATUS=SIZE", "SAVEDATE", "LIST-MYRIGHTS"] {
        assert!(caps.split(' ').any(|w| w == cap), "{cap}: {caps}");
    }
}

/// RFC 8514 3: "the current date and time at which the message is delivered to a mailbox
/// MUST be used to set the save date attribute" — for APPEND too, whatever the internal date
/// given. 4.2: SAVEDATE is a date-time. 4.3: SAVEDBEFORE / SAVEDON / SAVEDSINCE compare the
/// save date "disregarding time and timezone"; SAVEDATESUPPORTED "Matches all messages in the
/// mailbox when the underlying storage of that mailbox supports the save date attribute".
#[tokio::test]
async fn save_dates_fetch_and_search() {
    let (_fixture, mut c) = session().await;
    let (yesterday, today, tomorrow) = dates();
    // An old internal date: the save date is still today.
    c.write(b"a1 APPEND Archive \"01-Jan-2015 18:50:53 +0100\" {11+}\r\nSubject: x\r\n\r\n")
        .await;
    c.tagged("a1").await.expect("OK");
    c.imap("SELECT Archive").await.expect("OK");
    let fetch = c.imap("FETCH 1 (SAVEDATE INTERNALDATE)").await;
    fetch.expect("OK");
    let line = fetch.untagged().next().unwrap().to_string();
    assert!(
        line.contains("INTERNALDATE \"01-Jan-2015 17:50:53 +0000\""),
        "{line}"
    );
    // date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
    let saved = &line[line.find("SAVEDATE \"").unwrap() + 10..];
    let saved = &saved[..saved.find('"').unwrap()];
    assert_eq!(saved.len(), 26, "{saved}");
    let day: u32 = saved[..2].trim().parse().unwrap();
    assert_eq!(format!("{day}{}", &saved[2..11]), today);
    assert!(saved.ends_with(" +0000"));
    for (key, hits) in [
        (format!("SAVEDON {today}"), "SEARCH 1"),
        (format!("SAVEDSINCE {today}"), "SEARCH 1"),
        (format!("SAVEDBEFORE {tomorrow}"), "SEARCH 1"),
        (format!("SAVEDBEFORE {today}"), "SEARCH"),
        (format!("SAVEDSINCE {tomorrow}"), "SEARCH"),
        (format!("SAVEDON {yesterday}"), "SEARCH"),
        // The internal-date keys are another attribute: 2015.
        (format!("ON {today}"), "SEARCH"),
        ("SAVEDATESUPPORTED".to_string(), "SEARCH 1"),
        (format!("NOT SAVEDON {today}"), "SEARCH"),
    ] {
        let reply = c.imap(&format!("SEARCH {key}")).await;
        reply.expect("OK");
        assert_eq!(reply.untagged().collect::<Vec<_>>(), [hits], "{key}");
    }
    // RFC 8514 3: a COPY is saved into its new mailbox now.
    c.imap("COPY 1 Drafts").await.expect("OK");
    c.imap("EXAMINE Drafts").await.expect("OK");
    let copy = c.imap(&format!("SEARCH SAVEDON {today}")).await;
    assert_eq!(copy.untagged().collect::<Vec<_>>(), ["SEARCH 1"]);
    c.imap("SEARCH SAVEDON 31-Feb-2025").await.expect("BAD");
}

/// RFC 8440 3: "For each listable mailbox matching the list pattern and selection options,
/// the server MUST return an untagged LIST response and SHOULD also return an untagged
/// MYRIGHTS response containing the set of rights granted to the logged-in user", "the
/// server MUST NOT send a MYRIGHTS response for a given mailbox before it sends the LIST
/// response for that mailbox". Rights as MYRIGHTS (RFC 4314 3.5) answers: all of them on
/// one's own mailboxes, the delegated ones on a unit's; the `\Noselect` levels of the shared
/// namespace are not mailboxes and get none.
#[tokio::test]
async fn list_myrights_matches_myrights() {
    let (fixture, mut c) = session().await;
    fixture
        .store
        .add_unit(&NewUnit {
            domain: "kontum.gov.vn".into(),
            abbrev: "STTTT".into(),
            name: "Sở Thông tin và Truyền thông".into(),
            parent_abbrev: None,
            quota_bytes: 0,
        })
        .await
        .unwrap();
    fixture
        .store
        .delegate("STTTT", USER_A, storage::RIGHTS_READ, false)
        .await
        .unwrap();
    c.imap("ENABLE UTF8=ACCEPT").await.expect("OK");
    let list = c.imap("LIST \"\" \"*\" RETURN (MYRIGHTS)").await;
    list.expect("OK");
    let lines: Vec<&str> = list.untagged().collect();
    let mut listed = 0;
    for (i, line) in lines.iter().enumerate() {
        let Some(name) = line
            .strip_prefix("LIST (")
            .and_then(|l| l.split_once(") \"/\" "))
        else {
            continue;
        };
        let (attributes, name) = name;
        listed += 1;
        let next = lines.get(i + 1).copied().unwrap_or("");
        if attributes.contains("\\Noselect") {
            assert!(!next.starts_with("MYRIGHTS"), "{line} / {next}");
            continue;
        }
        // The MYRIGHTS right after its LIST, equal to what MYRIGHTS says.
        let own = c.imap(&format!("MYRIGHTS {name}")).await;
        let expected = own.untagged().next().unwrap().to_string();
        assert_eq!(next, expected, "after {line}");
        if name.starts_with("\"Đơn vị/") {
            assert_eq!(next, format!("MYRIGHTS {name} lrs"));
        } else {
            assert_eq!(next, format!("MYRIGHTS {name} lrswipkxtea"));
        }
    }
    assert!(listed >= 8, "{lines:?}");
    // RETURN (MYRIGHTS) with another return option.
    let list = c
        .imap("LIST \"\" INBOX RETURN (MYRIGHTS STATUS (MESSAGES))")
        .await;
    assert_eq!(
        list.untagged().collect::<Vec<_>>(),
        [
            "LIST (\\HasNoChildren) \"/\" \"INBOX\"",
            "STATUS \"INBOX\" (MESSAGES 3)",
            "MYRIGHTS \"INBOX\" lrswipkxtea"
        ]
    );
}
