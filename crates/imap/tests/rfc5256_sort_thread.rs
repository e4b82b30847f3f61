//! RFC 5256 SORT and THREAD over an in-memory session. Expected responses are worked out by
//! hand from the RFC text (sections cited on each check) and the sort values listed on
//! `sortmail::five`, never copied from the server's output.

use crate::common;
use crate::sortmail;

use common::{converse, converse_as, fixture_with, Fixture, USER_A};
use sortmail::{b, burn_one_uid, five, put, raw, sort_numbers, Mail, T};
use testkit::{Conversation, Reply};

/// The untagged lines of a reply starting with `prefix`.
fn untagged<'a>(reply: &'a Reply, prefix: &str) -> Vec<&'a str> {
    reply.untagged().filter(|l| l.starts_with(prefix)).collect()
}

/// The one untagged `SORT` line's numbers.
#[track_caller]
fn sorted(reply: &Reply) -> Vec<i64> {
    reply.expect("OK");
    let lines = untagged(reply, "SORT");
    assert_eq!(lines.len(), 1, "one SORT response: {:?}", reply.lines);
    sort_numbers(lines[0])
}

/// The one untagged `THREAD` line.
#[track_caller]
fn threads(reply: &Reply) -> String {
    reply.expect("OK");
    let lines = untagged(reply, "THREAD");
    assert_eq!(lines.len(), 1, "one THREAD response: {:?}", reply.lines);
    lines[0].to_string()
}

async fn selected(fixture: &Fixture) -> Conversation {
    let mut c = converse_as(fixture, USER_A).await;
    c.imap("SELECT INBOX").await.expect("OK");
    c
}

async fn five_messages() -> Fixture {
    let fixture = fixture_with(|_| {}).await;
    burn_one_uid(&fixture.store, fixture.account_a).await;
    let uids = put(&fixture.store, fixture.account_a, &five()).await;
    assert_eq!(uids, [2, 3, 4, 5, 6], "UID = sequence number + 1");
    fixture
}

#[tokio::test]
async fn every_sort_key() {
    let fixture = five_messages().await;
    let mut c = selected(&fixture).await;
    // RFC 5256 1: the capabilities name SORT and the threading algorithms.
    let caps = c.imap("CAPABILITY").await;
    let words: Vec<&str> = untagged(&caps, "CAPABILITY")[0].split(' ').collect();
    for cap in ["SORT", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES"] {
        assert!(words.contains(&cap), "{cap} in {words:?}");
    }
    // Each expectation below follows from the table on `sortmail::five` and RFC 5256 3:
    // ascending order, ties by sequence number, REVERSE reversing only its own key, an absent
    // header is the empty string, which collates first.
    let cases: &[(&str, &[i64])] = &[
        // DATE: sent date in UTC (2.2); 3 has no Date: its INTERNALDATE T+5 (06-01 12:00:05);
        // 1 and 4 both 06-02 01:00Z: sequence order.
        ("(DATE)", &[5, 3, 1, 4, 2]),
        ("(REVERSE DATE)", &[2, 1, 4, 3, 5]),
        // ARRIVAL: INTERNALDATE T+10, T+20, T+5, T+30, T+1.
        ("(ARRIVAL)", &[5, 3, 1, 2, 4]),
        // SUBJECT: base subjects (2.1) Kế hoạch năm, Kế hoạch năm, Giấy mời, Giấy mời, "".
        ("(SUBJECT)", &[5, 3, 4, 1, 2]),
        // The RFC's own combination: equal subjects by descending date.
        ("(SUBJECT REVERSE DATE)", &[5, 4, 3, 2, 1]),
        // FROM: addr-mailbox duc.stttt, dung, an, anh, binh.
        ("(FROM)", &[3, 4, 5, 1, 2]),
        // TO: an, binh, giang, "" (no To), duc.
        ("(TO)", &[4, 1, 2, 5, 3]),
        // CC: only 3 has one (chi): the four empty ones first, in sequence order.
        ("(CC)", &[1, 2, 4, 5, 3]),
        // SIZE: bodies of 3000, 1000, 5000, 4000, 2000 bytes.
        ("(SIZE)", &[2, 5, 1, 4, 3]),
        ("(REVERSE SIZE)", &[3, 4, 1, 5, 2]),
        // Several keys: CC first ("" for all but 3), then INTERNALDATE descending among those.
        ("(CC REVERSE ARRIVAL)", &[4, 2, 1, 5, 3]),
    ];
    for (criteria, want) in cases {
        let reply = c.imap(&format!("SORT {criteria} UTF-8 ALL")).await;
        assert_eq!(sorted(&reply), *want, "SORT {criteria}");
    }
    // UID SORT returns UIDs (3): UID = sequence number + 1 here.
    let reply = c.imap("UID SORT (DATE) UTF-8 ALL").await;
    assert_eq!(sorted(&reply), [6, 4, 2, 5, 3]);
    assert!(reply.status.starts_with("OK"));
}

#[tokio::test]
async fn search_criteria_and_charsets() {
    let fixture = five_messages().await;
    let mut c = selected(&fixture).await;
    // RFC 5256 3: SORT first searches with the criteria. SUBJECT "giấy" matches 3 and 4
    // (decoded subjects, case-insensitively); by DATE 3 (06-01) before 4 (06-02).
    let reply = c.imap("SORT (DATE) UTF-8 SUBJECT \"giấy\"").await;
    assert_eq!(sorted(&reply), [3, 4]);
    // US-ASCII MUST be implemented too. FROM "an": the addresses an@ and anh@ (3, 4).
    let reply = c.imap("SORT (ARRIVAL) US-ASCII FROM an").await;
    assert_eq!(sorted(&reply), [3, 4]);
    // RFC 5256 3 example: nothing matches, `* SORT` alone.
    let reply = c
        .imap("SORT (SUBJECT) US-ASCII TEXT \"not in mailbox\"")
        .await;
    reply.expect("OK");
    assert_eq!(untagged(&reply, "SORT"), ["SORT"]);
    // Sequence-number and UID criteria are the search's (UID SORT interprets them the same as
    // SORT, 3): messages 2:3 by SIZE are 2 (1000) then 3 (5000); UID 2:3 are messages 1, 2.
    assert_eq!(sorted(&c.imap("SORT (SIZE) UTF-8 2:3").await), [2, 3]);
    assert_eq!(sorted(&c.imap("UID SORT (SIZE) UTF-8 2:3").await), [3, 4]);
    assert_eq!(sorted(&c.imap("SORT (SIZE) UTF-8 UID 2:3").await), [2, 1]);
    // RFC 5256 3: "NO - sort error: can't sort that charset"; RFC 9051 7.1: [BADCHARSET].
    c.imap("SORT (DATE) ISO-8859-1 ALL")
        .await
        .expect("NO [BADCHARSET");
    // RFC 5256 5: sort-criteria is parenthesised, the charset is mandatory.
    c.imap("SORT DATE UTF-8 ALL").await.expect("BAD");
    c.imap("SORT (DATE UTF-8 ALL").await.expect("BAD");
    c.imap("SORT (NOSUCHKEY) UTF-8 ALL").await.expect("BAD");
    c.imap("THREAD NOSUCHALGORITHM UTF-8 ALL")
        .await
        .expect("BAD");
}

#[tokio::test]
async fn only_in_the_selected_state() {
    let fixture = five_messages().await;
    // RFC 5256 3 places SORT and THREAD in the selected state (6.4 of IMAP): refused before.
    let (mut c, _) = converse(&fixture).await;
    c.imap("SORT (DATE) UTF-8 ALL").await.expect("BAD");
    let mut c = converse_as(&fixture, USER_A).await;
    c.imap("SORT (DATE) UTF-8 ALL").await.expect("BAD");
    c.imap("THREAD REFERENCES UTF-8 ALL").await.expect("BAD");
}

#[tokio::test]
async fn no_expunge_while_answering_sort() {
    let fixture = five_messages().await;
    let mut a = selected(&fixture).await;
    let mut other = selected(&fixture).await;
    other.imap("STORE 5 +FLAGS (\\Deleted)").await.expect("OK");
    other.imap("EXPUNGE").await.expect("OK");
    // RFC 5256 3: "Untagged EXPUNGE responses are not permitted while the server is
    // responding to a SORT command": message 5 is gone, but the numbers of the others stay.
    let reply = a.imap("SORT (DATE) UTF-8 ALL").await;
    assert!(
        !reply.lines.iter().any(|l| l.ends_with(" EXPUNGE")),
        "{:?}",
        reply.lines
    );
    assert_eq!(sorted(&reply), [3, 1, 4, 2]);
    let reply = a.imap("THREAD ORDEREDSUBJECT UTF-8 ALL").await;
    assert!(!reply.lines.iter().any(|l| l.ends_with(" EXPUNGE")));
    // Afterwards the EXPUNGE comes (RFC 9051 7.5.1).
    let reply = a.imap("NOOP").await;
    assert_eq!(untagged(&reply, "5 EXPUNGE"), ["5 EXPUNGE"]);
}

#[tokio::test]
async fn threads_of_five() {
    let fixture = five_messages().await;
    let mut c = selected(&fixture).await;
    // REFERENCES (RFC 5256 3): 1 replies to 2 (In-Reply-To, no References), 4 to 3
    // (References); 5 stands alone. Top level by sent date: 5 (06-01 00:00), 3 (06-01
    // 12:00:05), 2 (06-02 03:00). Base subjects differ, so no merging.
    let reply = c.imap("THREAD REFERENCES UTF-8 ALL").await;
    assert_eq!(threads(&reply), "THREAD (5)(3 4)(2 1)");
    // UID THREAD: UID = sequence number + 1.
    let reply = c.imap("UID THREAD REFERENCES UTF-8 ALL").await;
    assert_eq!(threads(&reply), "THREAD (6)(4 5)(3 2)");
    // ORDEREDSUBJECT: groups "" {5}, Giấy mời {3, 4}, Kế hoạch năm {1 (01:00), 2 (03:00)};
    // groups by their first message's date: 5, 3, 1. Two messages: "3 4" (parent, child).
    let reply = c.imap("THREAD ORDEREDSUBJECT UTF-8 ALL").await;
    assert_eq!(threads(&reply), "THREAD (5)(3 4)(1 2)");
    // Searching first: only 1 and 2, still a parent and its child.
    let reply = c.imap("THREAD REFERENCES UTF-8 SUBJECT \"kế hoạch\"").await;
    assert_eq!(threads(&reply), "THREAD (2 1)");
    // RFC 5256 3 example: nothing matches, `* THREAD` alone.
    let reply = c.imap("THREAD ORDEREDSUBJECT US-ASCII TEXT \"gewp\"").await;
    assert_eq!(threads(&reply), "THREAD");
}

#[tokio::test]
async fn thread_dummies_and_subject_merging() {
    let fixture = fixture_with(|_| {}).await;
    let mail = |id: &str, refs: &str, subject: &str, hour: u32| {
        let mut headers = vec![
            ("From", "an@kontum.gov.vn".to_string()),
            ("Subject", b(subject)),
            ("Message-ID", format!("<{id}@kt>")),
            ("Date", format!("Mon, 1 Jun 2026 {hour:02}:00:00 +0000")),
        ];
        if !refs.is_empty() {
            headers.push(("References", format!("<{refs}@kt>")));
        }
        Mail {
            raw: raw(&headers, 10),
            internal_date: T,
        }
    };
    put(
        &fixture.store,
        fixture.account_a,
        &[
            mail("a", "lost", "Họp giao ban", 1),
            mail("b", "lost", "Re: Họp giao ban", 2),
            mail("c", "", "Báo cáo", 3),
            mail("d", "", "Re: báo cáo", 4),
        ],
    )
    .await;
    let mut c = selected(&fixture).await;
    // RFC 5256 3 REFERENCES: 1 and 2 both name <lost@kt>, which no message has: a dummy
    // parent (1.A). Step 3 keeps it at the top level because it has two children: "((1)(2))"
    // (the RFC's own `((3)(5))` form). 3 and 4 have no references; step 5 gathers them by base
    // subject (Báo cáo, case-insensitive), and 4, a reply while 3 is not, becomes 3's child.
    let reply = c.imap("THREAD REFERENCES UTF-8 ALL").await;
    assert_eq!(threads(&reply), "THREAD ((1)(2))(3 4)");
}

#[tokio::test]
async fn vietnamese_subjects_in_vietnamese_order() {
    let fixture = fixture_with(|_| {}).await;
    // RFC 2047-encoded, with artifacts the base subject drops (RFC 5256 2.1).
    let subjects = [
        "Fwd: Giang (fwd)",
        "Re: Đức",
        "[ubnd] Chi",
        "Ánh",
        "RE: Dũng",
        "Bình",
        "An",
    ];
    let mails: Vec<Mail> = subjects
        .iter()
        .map(|s| Mail {
            raw: raw(&[("Subject", b(s))], 10),
            internal_date: T,
        })
        .collect();
    put(&fixture.store, fixture.account_a, &mails).await;
    let mut c = selected(&fixture).await;
    // Base subjects Giang, Đức, Chi, Ánh, Dũng, Bình, An. Vietnamese order (ARCHITECTURE.md,
    // policy::collation): An < Ánh < Bình < Chi < Dũng < Đức < Giang — Đ right after D (RFC
    // 5051's code point order would put it after Giang), tones after the bare letter.
    let reply = c.imap("SORT (SUBJECT) UTF-8 ALL").await;
    assert_eq!(sorted(&reply), [7, 4, 6, 3, 5, 2, 1]);
    let reply = c.imap("SORT (REVERSE SUBJECT) UTF-8 ALL").await;
    assert_eq!(sorted(&reply), [1, 2, 5, 3, 6, 4, 7]);
}
