//! The spam check over SMTP: GTUBE refused, X-Spam headers naming the rules that fired, DNSBL
//! and URI-DNSBL listings answered by the test's own DNS server.

use crate::common;

use common::dns::TestDns;
use common::*;

const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

fn now_rfc2822() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap()
}

/// A message dated now, with the given extra header lines and body.
fn raw(extra_headers: &str, body: &str) -> String {
    format!(
        "From: <ban@example.org>\r\nTo: <{USER_A}>\r\nSubject: Thong bao\r\nDate: {}\r\n{extra_headers}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        now_rfc2822()
    )
}

fn field<'a>(stored: &'a str, name: &str) -> &'a str {
    let start = stored
        .find(&format!("\r\n{name}: "))
        .unwrap_or_else(|| panic!("{name} missing in {stored}"))
        + name.len()
        + 4;
    &stored[start..start + stored[start..].find("\r\n").unwrap()]
}

#[tokio::test]
async fn gtube_is_refused_at_end_of_data() {
    let server = start().await;
    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO client.example.org", "250").await;
    let body = raw(
        "Message-ID: <g1@example.org>\r\n",
        &format!("Thử nghiệm\r\n{GTUBE}"),
    );
    let reply = c.send_mail("ban@example.org", &[USER_A], &body).await;
    // RFC 5321 4.2.2: 550 refuses the message; RFC 3463 3.8: X.7.1 delivery not authorized,
    // message refused.
    assert!(reply.starts_with("550 5.7.1"), "{reply}");
    assert!(server.inbox(server.account_a).await.is_empty());
    // The same text without the GTUBE string is delivered.
    let body = raw("Message-ID: <g2@example.org>\r\n", "Thử nghiệm");
    let reply = c.send_mail("ban@example.org", &[USER_A], &body).await;
    assert!(reply.starts_with("250"), "{reply}");
}

#[tokio::test]
async fn spam_headers_name_each_rule_that_fired_with_the_score() {
    let server = start().await;
    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO client.example.org", "250").await;
    // No Message-ID (MISSING_MID 1.0) and a shortened link (URL_SHORTENER 1.5): 2.5.
    let body = raw("", "Xem tại https://bit.ly/3xyz");
    let reply = c.send_mail("ban@example.org", &[USER_A], &body).await;
    assert!(reply.starts_with("250"), "{reply}");
    let stored = String::from_utf8(server.inbox(server.account_a).await[0].clone()).unwrap();
    // SpamAssassin's form: "No, score=S required=R tests=A,B".
    assert_eq!(field(&stored, "X-Spam-Score"), "2.5");
    assert_eq!(
        field(&stored, "X-Spam-Status"),
        "No, score=2.5 required=5.0 tests=MISSING_MID,URL_SHORTENER"
    );
}

#[tokio::test]
async fn dnsbl_and_uribl_listings_from_the_test_dns_send_the_message_to_junk() {
    let dns = TestDns::start().await;
    // RFC 5782 2.1: 127.0.0.1 is looked up as 1.0.0.127.<zone>; an A record in 127/8 lists.
    dns.a("1.0.0.127.bl.test", "127.0.0.2".parse().unwrap());
    // RFC 5782 2.3: a URI list is asked for the domain itself.
    dns.a("evil-link.example.uri.test", "127.0.0.2".parse().unwrap());
    // An answer of 127.255.255.254 is the list refusing, not a listing (RFC 5782 2.3 use).
    dns.a(
        "good-link.example.uri.test",
        "127.255.255.254".parse().unwrap(),
    );
    let authenticator = smtp::authres::Authenticator::new(&[dns.addr]).unwrap();
    let zone = |name: &str, zone: &str, score: f64| policy::spam::Zone {
        name: name.into(),
        zone: zone.into(),
        score,
    };
    let server = start_custom(
        |s| {
            s.spam.dnsbl = vec![zone("TESTBL", "bl.test", 4.0)];
            s.spam.uribl = vec![zone("TESTURI", "uri.test", 4.5)];
        },
        None,
        Some(authenticator),
    )
    .await;
    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO client.example.org", "250").await;
    let body = raw(
        "Message-ID: <d1@example.org>\r\n",
        "Nhận quà: https://www.evil-link.example/qua và https://good-link.example/",
    );
    let reply = c.send_mail("ban@example.org", &[USER_A], &body).await;
    assert!(reply.starts_with("250"), "{reply}");
    // 4.0 + 4.5 = 8.5 ≥ the junk score 8.0: filed into Junk, not the INBOX.
    assert!(server.inbox(server.account_a).await.is_empty());
    let junk = server.folder_messages(server.account_a, "Junk").await;
    let stored = String::from_utf8(junk[0].clone()).unwrap();
    let status = field(&stored, "X-Spam-Status");
    assert!(status.starts_with("Yes, score=8.5 "), "{status}");
    assert!(
        status.ends_with("tests=RCVD_IN_TESTBL,URIBL_TESTURI"),
        "{status}"
    );
}
