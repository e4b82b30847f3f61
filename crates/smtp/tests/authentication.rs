//! SPF, DKIM and DMARC on MX mail, with DNS answered by a server the test controls; and SMTP
//! AUTH throttling (RFC 4954 replies) seen from several client addresses on 127/8.

use crate::common;

use common::dns::TestDns;
use common::*;
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::dkim::DkimSigner;

async fn server_with_dns(dns: &TestDns) -> TestServer {
    let authenticator = smtp::authres::Authenticator::new(&[dns.addr]).unwrap();
    start_custom(|_| {}, None, Some(authenticator)).await
}

#[tokio::test]
async fn signed_aligned_mail_passes_and_forged_mail_with_p_reject_is_refused() {
    let dns = TestDns::start().await;
    // example.org: SPF allows 127.0.0.1, DKIM key published, DMARC p=reject.
    let der = Ed25519Key::generate_pkcs8().unwrap();
    let key = Ed25519Key::from_pkcs8_der(&der).unwrap();
    use base64::Engine;
    let public = base64::engine::general_purpose::STANDARD.encode(key.public_key());
    dns.txt("example.org", "v=spf1 ip4:127.0.0.1 -all");
    dns.txt(
        "sel._domainkey.example.org",
        &format!("v=DKIM1; k=ed25519; p={public}"),
    );
    dns.txt("_dmarc.example.org", "v=DMARC1; p=reject");
    // evil.example: SPF allows someone else only, DMARC p=reject.
    dns.txt("evil.example", "v=spf1 ip4:192.0.2.1 -all");
    dns.txt("_dmarc.evil.example", "v=DMARC1; p=reject");
    let server = server_with_dns(&dns).await;

    let body = message("ceo@example.org", USER_A, "Báo cáo quý", "Nội dung đã ký");
    let signature = DkimSigner::from_key(key)
        .domain("example.org")
        .selector("sel")
        .headers(["From", "To", "Subject", "Message-ID", "Date"])
        .sign(body.as_bytes())
        .unwrap();
    use mail_auth::common::headers::HeaderWriter;
    let signed = format!("{}{body}", signature.to_header());
    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO mail.example.org", "250").await;
    let reply = c.send_mail("ceo@example.org", &[USER_A], &signed).await;
    assert!(reply.starts_with("250"), "{reply}");
    let stored = String::from_utf8(server.inbox(server.account_a).await[0].clone()).unwrap();
    let results = stored
        .split("Authentication-Results:")
        .nth(1)
        .expect("header present");
    let results = &results[..results.find("\r\nX-").unwrap_or(results.len())];
    for expected in ["spf=pass", "dkim=pass", "dmarc=pass"] {
        assert!(
            results.contains(expected),
            "{expected} missing in {results}"
        );
    }

    // Forged From: evil.example from an IP its SPF does not allow, unsigned: DMARC fails with
    // p=reject, so the message is refused at end of data.
    let reply = c
        .send_mail(
            "ceo@evil.example",
            &[USER_A],
            &message("ceo@evil.example", USER_A, "Chuyển tiền gấp", "x"),
        )
        .await;
    assert!(reply.starts_with("550 5.7.1"), "{reply}");
    assert_eq!(server.inbox(server.account_a).await.len(), 1);
}

// ----- SMTP AUTH throttling -----
//
// RFC 4954: 235 2.7.0 authentication succeeded, 535 5.7.8 credentials invalid, 454 4.7.0
// temporary authentication failure (what a throttled client gets: it may try again later).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use policy::limits::ThrottleConfig;

const HERE: &str = "127.0.0.1";
const ELSEWHERE: &str = "127.0.0.2";

fn plain(user: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"))
}

/// Per-login lock after 3 failures, small delays, production-like ban thresholds.
fn throttle() -> ThrottleConfig {
    ThrottleConfig {
        max_failures: 3,
        lock: Duration::from_secs(60),
        first_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(80),
        ip_ban_failures: 20,
        ip_ban_accounts: 10,
        ..Default::default()
    }
}

async fn throttled_server(config: ThrottleConfig) -> TestServer {
    start_throttled(
        |s| {
            s.allow_plaintext_loopback = true;
            s.max_errors = 100;
        },
        config,
    )
    .await
}

/// One AUTH PLAIN on a fresh submission connection from `from`; asserts the reply code.
async fn auth_from(server: &TestServer, from: &str, user: &str, password: &str, code: &str) {
    let mut c = Client::connect_from(server.submission, from.parse::<IpAddr>().unwrap()).await;
    c.cmd("EHLO client.example.org", "250").await;
    c.cmd(&format!("AUTH PLAIN {}", plain(user, password)), code)
        .await;
}

#[tokio::test]
async fn auth_failures_from_one_address_never_lock_the_owner_out_from_another() {
    let server = throttled_server(throttle()).await;
    let mut c = Client::connect_from(server.submission, HERE.parse().unwrap()).await;
    c.cmd("EHLO client.example.org", "250").await;
    for expected_delay in [20, 40, 80] {
        let started = Instant::now();
        c.cmd(
            &format!("AUTH PLAIN {}", plain(USER_A, "wrong")),
            "535 5.7.8",
        )
        .await;
        // The failure is answered only after the delay (doubling per failure).
        assert!(started.elapsed() >= Duration::from_millis(expected_delay));
    }
    // The guessing address is now refused for this login, even with the right password...
    c.cmd(
        &format!("AUTH PLAIN {}", plain(USER_A, PASSWORD_A)),
        "454 4.7.0",
    )
    .await;
    // ...the owner on another address gets in at once.
    auth_from(&server, ELSEWHERE, USER_A, PASSWORD_A, "235 2.7.0").await;
    auth_from(&server, ELSEWHERE, USER_A, PASSWORD_A, "235 2.7.0").await;
    assert_eq!(
        server.store.events("auth.locked", 10).await.unwrap().len(),
        1
    );
    assert!(server
        .store
        .events("auth.banned", 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn auth_failures_for_one_user_do_not_stop_a_colleague_behind_the_same_address() {
    let server = throttled_server(throttle()).await;
    for _ in 0..3 {
        auth_from(&server, HERE, USER_A, "wrong", "535 5.7.8").await;
    }
    auth_from(&server, HERE, USER_A, PASSWORD_A, "454 4.7.0").await;
    auth_from(&server, HERE, USER_B, PASSWORD_B, "235 2.7.0").await;
    // The colleague's own typo does not lock them either.
    auth_from(&server, HERE, USER_B, "typo", "535 5.7.8").await;
    auth_from(&server, HERE, USER_B, PASSWORD_B, "235 2.7.0").await;
}

#[tokio::test]
async fn spaces_case_trailing_dot_and_nfd_are_one_login() {
    let server = throttled_server(throttle()).await;
    // An alias with Vietnamese letters, stored in NFC.
    let alias = "nguyễn.văn.an@kontum.gov.vn";
    server.store.add_alias(alias, USER_A, None).await.unwrap();
    // The same in NFD: ễ = e + U+0302 + U+0303, ă = a + U+0306.
    let nfd = "nguye\u{302}\u{303}n.va\u{306}n.an@kontum.gov.vn".to_string();
    assert_ne!(nfd, alias);
    assert_eq!(policy::naming::canonical_login(&nfd), alias);

    // Three spellings of the alias share one entry: the third failure locks it.
    let upper_dot = format!("{}.", alias.to_uppercase());
    for variant in [format!(" {alias}"), upper_dot.clone(), nfd.clone()] {
        auth_from(&server, HERE, &variant, "wrong", "535 5.7.8").await;
    }
    for variant in [alias.to_string(), format!("{alias} "), nfd.clone()] {
        auth_from(&server, HERE, &variant, PASSWORD_A, "454 4.7.0").await;
    }
    // Another login from the same address is not affected.
    auth_from(&server, HERE, USER_B, PASSWORD_B, "235 2.7.0").await;
    // The account is looked up by the same canonical form: every spelling logs in.
    for variant in [nfd.as_str(), upper_dot.as_str(), &format!(" {alias}")] {
        auth_from(&server, ELSEWHERE, variant, PASSWORD_A, "235 2.7.0").await;
    }

    // The same for the plain ASCII address.
    for variant in [
        format!(" {USER_A}"),
        format!("{}.", USER_A.to_uppercase()),
        format!("{USER_A} "),
    ] {
        auth_from(&server, ELSEWHERE, &variant, "wrong", "535 5.7.8").await;
    }
    auth_from(&server, ELSEWHERE, USER_A, PASSWORD_A, "454 4.7.0").await;
}

#[tokio::test]
async fn an_address_failing_across_logins_is_banned_briefly() {
    let server = throttled_server(ThrottleConfig {
        ip_ban_failures: 6,
        ip_ban_accounts: 0,
        ip_ban: Duration::from_secs(2),
        ..throttle()
    })
    .await;
    // Five failures over several logins: no ban yet, the colleague still gets in.
    for login in [
        USER_A,
        USER_A,
        "x1@kontum.gov.vn",
        "x2@kontum.gov.vn",
        "x3@kontum.gov.vn",
    ] {
        auth_from(&server, HERE, login, "wrong", "535 5.7.8").await;
    }
    auth_from(&server, HERE, USER_B, PASSWORD_B, "235 2.7.0").await;
    // The sixth bans the address: every login from it is refused, right password or not.
    auth_from(&server, HERE, "x4@kontum.gov.vn", "wrong", "535 5.7.8").await;
    auth_from(&server, HERE, USER_B, PASSWORD_B, "454 4.7.0").await;
    auth_from(&server, HERE, USER_A, PASSWORD_A, "454 4.7.0").await;
    assert_eq!(
        server.store.events("auth.banned", 10).await.unwrap().len(),
        1
    );
    // Not other addresses.
    auth_from(&server, ELSEWHERE, USER_B, PASSWORD_B, "235 2.7.0").await;
    // The ban lifts after auth_ip_ban_secs.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    auth_from(&server, HERE, USER_B, PASSWORD_B, "235 2.7.0").await;
    auth_from(&server, HERE, USER_A, PASSWORD_A, "235 2.7.0").await;
}

/// Issue 17 item 10 (KT-7.1): the right initial password is refused until it is changed
/// (RFC 4954 6: 535 5.7.8), and the answer names the page as people reach it — the configured
/// public URL with its port — not `https://<hostname>/password`.
#[tokio::test]
async fn initial_password_answer_names_the_public_page() {
    const PAGE: &str = "https://thu.kontum.gov.vn:8443/password";
    let server = start_with(
        |s| {
            s.allow_plaintext_loopback = true;
            s.password_url = PAGE.into();
        },
        None,
    )
    .await;
    let phc = policy::password::hash(PASSWORD_A).unwrap();
    server.store.set_password(USER_A, &phc, true).await.unwrap();
    let mut c = Client::connect(server.submission).await;
    c.cmd("EHLO client.example.org", "250").await;
    let reply = c
        .cmd(
            &format!("AUTH PLAIN {}", plain(USER_A, PASSWORD_A)),
            "535 5.7.8",
        )
        .await;
    assert!(reply.contains(PAGE), "{reply}");
    assert!(!reply.contains("https://mail"), "{reply}");
}

/// A resolver that never answers: UDP queries are read and dropped, TCP connections are
/// accepted and left silent (so neither transport fails fast).
async fn silent_dns() -> std::net::SocketAddr {
    loop {
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        let Ok(tcp) = tokio::net::TcpListener::bind(addr).await else {
            continue;
        };
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while udp.recv_from(&mut buf).await.is_ok() {}
        });
        tokio::spawn(async move {
            let mut held = vec![];
            while let Ok((stream, _)) = tcp.accept().await {
                held.push(stream);
            }
        });
        return addr;
    }
}

/// A message with a DKIM-Signature whose body hash is right, so DKIM goes on to look up the
/// key (RFC 6376 6.1.3 checks the body hash first). bh = base64(SHA-256("x\r\n")), the body
/// "x" + CRLF under relaxed canonicalization (3.4.4).
fn signed_looking(from: &str) -> String {
    let body = message(from, USER_A, "Kiểm tra DNS", "x");
    format!(
        "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=sel;\r\n \
         h=from:to:subject; bh=s14J+iztnrytnRYzb7lhFG/jS/vrxWJnnahfijFMnco=; b=AAAA\r\n{body}"
    )
}

/// Issue 17 item 12: with a resolver that never answers, SPF, DKIM and DMARC together take at
/// most the per-message deadline (they run at once, then stop), and each reports
/// `temperror` (RFC 8601 2.7.1/2.7.2/2.7.3: a temporary, typically DNS, error) instead of
/// holding the message for a DNS timeout per look-up one after another.
#[tokio::test]
async fn unanswered_dns_costs_a_message_at_most_the_deadline() {
    let silent = silent_dns().await;
    let authenticator = smtp::authres::Authenticator::new(&[silent])
        .unwrap()
        .with_deadline(Duration::from_secs(1));
    let raw = signed_looking("ceo@example.org");
    let started = Instant::now();
    let report = authenticator
        .check(
            raw.as_bytes(),
            "127.0.0.1".parse().unwrap(),
            "mail.example.org",
            "ceo@example.org",
            "mx.kontum.gov.vn",
        )
        .await;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(took < Duration::from_millis(2500), "{took:?}");
    for expected in ["spf=temperror", "dkim=temperror", "dmarc=temperror"] {
        assert!(
            report.header.contains(expected),
            "{expected}: {}",
            report.header
        );
    }

    // Through the MX: accepted (never refused for a DNS outage) within the deadline.
    let server = start_custom(
        |_| {},
        None,
        Some(
            smtp::authres::Authenticator::new(&[silent])
                .unwrap()
                .with_deadline(Duration::from_secs(2)),
        ),
    )
    .await;
    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO mail.example.org", "250").await;
    let started = Instant::now();
    let reply = c
        .send_mail(
            "ceo@example.org",
            &[USER_A],
            &signed_looking("ceo@example.org"),
        )
        .await;
    let took = started.elapsed();
    assert!(reply.starts_with("250"), "{reply}");
    assert!(took < Duration::from_secs(4), "{took:?}");
    let stored = String::from_utf8(server.inbox(server.account_a).await[0].clone()).unwrap();
    assert!(stored.contains("spf=temperror"), "{stored}");
}
