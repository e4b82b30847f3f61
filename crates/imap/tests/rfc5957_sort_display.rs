//! RFC 5957 SORT=DISPLAY: DISPLAYFROM and DISPLAYTO over an in-memory session, with
//! Vietnamese RFC 2047-encoded display names. Expected orders are worked out by hand from
//! RFC 5957 3-4 and the Vietnamese collation (ARCHITECTURE.md, `policy::collation`).

use crate::common;
use crate::sortmail;

use common::{converse_as, fixture_with, USER_A};
use sortmail::{b, burn_one_uid, five, put, raw, sort_numbers, Mail, T};
use testkit::{Conversation, Reply};

#[track_caller]
fn sorted(reply: &Reply) -> Vec<i64> {
    reply.expect("OK");
    let lines: Vec<&str> = reply.untagged().filter(|l| l.starts_with("SORT")).collect();
    assert_eq!(lines.len(), 1, "one SORT response: {:?}", reply.lines);
    sort_numbers(lines[0])
}

async fn selected(fixture: &common::Fixture) -> Conversation {
    let mut c = converse_as(fixture, USER_A).await;
    c.imap("SELECT INBOX").await.expect("OK");
    c
}

#[tokio::test]
async fn display_names_in_vietnamese_order() {
    let fixture = fixture_with(|_| {}).await;
    let d = "kontum.gov.vn";
    let mail = |from: Option<String>, to: Option<String>| {
        let mut headers = vec![("Subject", "x".to_string())];
        headers.extend(from.map(|f| ("From", f)));
        headers.extend(to.map(|t| ("To", t)));
        Mail {
            raw: raw(&headers, 10),
            internal_date: T,
        }
    };
    put(
        &fixture.store,
        fixture.account_a,
        &[
            // 1: an empty display name: the address is the sort value (RFC 5957 3, second rule).
            mail(
                Some(format!("\"\" <zeta@{d}>")),
                Some(format!("{} <a@{d}>", b("Giang"))),
            ),
            // 2
            mail(
                Some(format!("{} <a@{d}>", b("Đức"))),
                Some(format!("{} <b@{d}>", b("Đức"))),
            ),
            // 3
            mail(
                Some(format!("{} <y@{d}>", b("Dũng"))),
                Some(format!("c@{d}")),
            ),
            // 4: no From, no To: the empty string, which collates first (RFC 5256 3).
            mail(None, None),
            // 5
            mail(
                Some(format!("{} <b@{d}>", b("Giang"))),
                Some(format!("{} <d@{d}>", b("An"))),
            ),
            // 6
            mail(
                Some(format!("An <x@{d}>")),
                Some(format!("{} <e@{d}>", b("Ánh"))),
            ),
        ],
    )
    .await;
    let mut c = selected(&fixture).await;
    let caps = c.imap("CAPABILITY").await;
    // RFC 5957 1: "SORT=DISPLAY" names the extension.
    assert!(caps
        .untagged()
        .any(|l| l.starts_with("CAPABILITY") && l.split(' ').any(|w| w == "SORT=DISPLAY")));
    // DISPLAYFROM sort values: "zeta@kontum.gov.vn", "Đức", "Dũng", "", "Giang", "An".
    // Vietnamese order: "" < An < Dũng < Đức < Giang < zeta@... (Z after G).
    let reply = c.imap("SORT (DISPLAYFROM) UTF-8 ALL").await;
    assert_eq!(sorted(&reply), [4, 6, 3, 2, 5, 1]);
    let reply = c.imap("SORT (REVERSE DISPLAYFROM) UTF-8 ALL").await;
    assert_eq!(sorted(&reply), [1, 5, 2, 3, 6, 4]);
    // DISPLAYTO sort values: "Giang", "Đức", "c@kontum.gov.vn" (no name: mailbox@host), "",
    // "An", "Ánh": "" < An < Ánh < c@... < Đức < Giang. RFC 5051's code point order would put
    // Đức after Giang; the Vietnamese one puts Đ right after D.
    let reply = c.imap("SORT (DISPLAYTO) UTF-8 ALL").await;
    assert_eq!(sorted(&reply), [4, 5, 6, 3, 2, 1]);
    // DISPLAYFROM differs from FROM, which sorts on addr-mailbox: a, b, x, y, zeta and "".
    let reply = c.imap("SORT (FROM) UTF-8 ALL").await;
    assert_eq!(sorted(&reply), [4, 2, 5, 6, 3, 1]);
    // UID SORT and a search narrowing the set work the same (RFC 5957 4 only adds keys).
    let reply = c.imap("UID SORT (DISPLAYFROM) UTF-8 NOT 4").await;
    assert_eq!(sorted(&reply), [6, 3, 2, 5, 1]);
}

#[tokio::test]
async fn display_keys_on_the_shared_five() {
    let fixture = fixture_with(|_| {}).await;
    burn_one_uid(&fixture.store, fixture.account_a).await;
    put(&fixture.store, fixture.account_a, &five()).await;
    let mut c = selected(&fixture).await;
    // From the table on `sortmail::five`. DISPLAYFROM: Đức, Dũng, "an@kontum.gov.vn" (no
    // name), Ánh, Bình. "an@…" < "Ánh": the letters A N @ before A N H ('@' sorts before
    // letters), the acute accent only breaking ties.
    let reply = c.imap("SORT (DISPLAYFROM) UTF-8 ALL").await;
    assert_eq!(sorted(&reply), [3, 4, 5, 2, 1]);
    // DISPLAYTO: "an@kontum.gov.vn", "binh@kontum.gov.vn", Giang, "" (no To), Đức.
    let reply = c.imap("SORT (DISPLAYTO) UTF-8 ALL").await;
    assert_eq!(sorted(&reply), [4, 1, 2, 5, 3]);
    // Combined with RFC 5256 keys: DISPLAYTO ties none here; REVERSE DISPLAYTO.
    let reply = c.imap("UID SORT (REVERSE DISPLAYTO DATE) UTF-8 ALL").await;
    assert_eq!(sorted(&reply), [4, 6, 3, 2, 5]);
}
