//! SPF, DKIM and DMARC on MX mail, with DNS answered by a server the test controls.

mod common;

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
