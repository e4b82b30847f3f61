//! Submission as a unit mailbox (issue 14): a delegate authenticates as `UNIT*PERSON` (or PLAIN
//! with the unit as authzid) with their own password. Only the send right submits, and only as
//! the unit, with the person in `Sender:`; a person without a right is refused like a wrong
//! password and throttled on their own login; a revoked delegate's session ends.
//!
//! RFC 4954 6: 235 2.7.0 authentication succeeded, 535 5.7.8 credentials invalid, 454 4.7.0
//! temporary failure. RFC 3463 / RFC 5248: 5.7.1 delivery not authorised. RFC 5321 3.8: 421 and
//! close when the service must end the session.

use crate::common;

use std::time::Duration;

use base64::Engine;
use common::*;

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// RFC 4616 2: message = [authzid] UTF8NUL authcid UTF8NUL passwd.
fn plain(authzid: &str, authcid: &str, password: &str) -> String {
    b64(&format!("{authzid}\0{authcid}\0{password}"))
}

async fn server() -> (TestServer, storage::Unit) {
    let server = start_throttled(
        |s| {
            s.allow_plaintext_loopback = true;
            s.max_errors = 100;
        },
        policy::limits::ThrottleConfig {
            max_failures: 3,
            lock: Duration::from_secs(60),
            first_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
            ..Default::default()
        },
    )
    .await;
    let unit = server.store.unit("STTTT").await.unwrap();
    (server, unit)
}

async fn connect(server: &TestServer) -> Client {
    let mut c = Client::connect(server.submission).await;
    c.cmd("EHLO client.example.org", "250").await;
    c
}

/// The send right submits as the unit: the recipient's copy and the unit's Sent copy carry
/// `Sender:` naming the person (RFC 5322 3.6.2: author and transmitter differ, both fields
/// appear); the send is audited as the person (`unit.send`), as is the login (`unit.login`).
/// The unit login sends as the unit only: the person's own address is refused 550 5.7.1.
#[tokio::test]
async fn send_right_submits_as_the_unit_with_the_person_in_sender() {
    let (server, unit) = server().await;
    server
        .store
        .delegate("STTTT", USER_B, storage::RIGHTS_HANDLE, true)
        .await
        .unwrap();
    let mut b = connect(&server).await;
    b.cmd(
        &format!(
            "AUTH PLAIN {}",
            plain("", &format!("{}*{USER_B}", unit.address), PASSWORD_B)
        ),
        "235 2.7.0",
    )
    .await;
    let reply = b
        .send_mail(
            &unit.address,
            &[USER_A],
            &message(&unit.address, USER_A, "Công văn số 12", "Kính gửi"),
        )
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    // "Trần Thị Bình" as an RFC 2047 B encoded-word (4.1: base64 of the UTF-8 bytes).
    let expected = format!("Sender: =?UTF-8?B?VHLhuqduIFRo4buLIELDrG5o?= <{USER_B}>\r\n");
    let received = server.folder_messages(server.account_a, "INBOX").await;
    let sent = server.folder_messages(unit.account_id, "Sent").await;
    assert_eq!((received.len(), sent.len()), (1, 1));
    for raw in [&received[0], &sent[0]] {
        let text = String::from_utf8_lossy(raw);
        let header = &text[..text.find("\r\n\r\n").unwrap() + 2];
        assert!(header.contains(&expected), "{header}");
        assert!(
            header.contains(&format!("From: <{}>", unit.address)),
            "{header}"
        );
    }
    let sends = server.store.events("unit.send", 5).await.unwrap();
    assert_eq!(
        (sends[0].actor.as_str(), sends[0].target.as_str()),
        (USER_B, unit.address.as_str())
    );
    let logins = server.store.events("unit.login", 5).await.unwrap();
    assert_eq!(
        (logins[0].actor.as_str(), logins[0].target.as_str()),
        (USER_B, unit.address.as_str())
    );
    // Only as the unit: not as the person.
    b.cmd(&format!("MAIL FROM:<{USER_B}>"), "550 5.7.1").await;
    // A From: header naming the person under the unit's envelope: refused (5.7.1).
    let reply = b
        .send_mail(
            &unit.address,
            &[USER_A],
            &message(USER_B, USER_A, "Riêng", "x"),
        )
        .await;
    assert!(reply.starts_with("550 5.7.1"), "{reply}");
}

/// PLAIN's authzid naming the unit, and AUTH LOGIN with `UNIT*PERSON`, give the same login.
#[tokio::test]
async fn authzid_and_auth_login_forms() {
    let (server, unit) = server().await;
    server
        .store
        .delegate("STTTT", USER_B, storage::RIGHTS_HANDLE, true)
        .await
        .unwrap();
    let mut c = connect(&server).await;
    c.cmd(
        &format!("AUTH PLAIN {}", plain(&unit.address, USER_B, PASSWORD_B)),
        "235 2.7.0",
    )
    .await;
    c.cmd(&format!("MAIL FROM:<{}>", unit.address), "250").await;
    let mut l = connect(&server).await;
    // RFC 4954 4: the server's challenges are base64 ("Username:", "Password:").
    l.cmd("AUTH LOGIN", "334").await;
    l.cmd(&b64(&format!("{}*{USER_B}", unit.address)), "334")
        .await;
    l.cmd(&b64(PASSWORD_B), "235 2.7.0").await;
    l.cmd(&format!("MAIL FROM:<{}>", unit.address), "250").await;
}

/// A read-only delegate (no send right) logs in but may not submit as the unit (or as
/// themself through the unit login): 550 5.7.1 at MAIL FROM.
#[tokio::test]
async fn without_the_send_right_nothing_is_submitted() {
    let (server, unit) = server().await;
    server
        .store
        .delegate("STTTT", USER_A, storage::RIGHTS_READ, false)
        .await
        .unwrap();
    let mut a = connect(&server).await;
    a.cmd(
        &format!(
            "AUTH PLAIN {}",
            plain("", &format!("{}*{USER_A}", unit.address), PASSWORD_A)
        ),
        "235 2.7.0",
    )
    .await;
    a.cmd(&format!("MAIL FROM:<{}>", unit.address), "550 5.7.1")
        .await;
    a.cmd(&format!("MAIL FROM:<{USER_A}>"), "550 5.7.1").await;
}

/// No right on the unit: 535 5.7.8 with the very text of a wrong password; a person named as
/// the "unit" likewise. Failures count against the person's own login: once locked, even
/// their right password gets 454 4.7.0.
#[tokio::test]
async fn no_right_is_refused_like_a_wrong_password_and_throttled() {
    let (server, unit) = server().await;
    let as_unit = format!("{}*{USER_A}", unit.address);
    let mut c = connect(&server).await;
    let wrong = c
        .cmd(
            &format!("AUTH PLAIN {}", plain("", USER_A, "wrong")),
            "535 5.7.8",
        )
        .await;
    let no_right = c
        .cmd(
            &format!("AUTH PLAIN {}", plain("", &as_unit, PASSWORD_A)),
            "535 5.7.8",
        )
        .await;
    assert_eq!(wrong, no_right);
    // PLAIN acting as another person (authzid B, authcid A): refused the same way.
    c.cmd(
        &format!("AUTH PLAIN {}", plain(USER_B, USER_A, PASSWORD_A)),
        "535 5.7.8",
    )
    .await;
    // Three failures of A's login locked it, for the plain login too.
    c.cmd(
        &format!("AUTH PLAIN {}", plain("", USER_A, PASSWORD_A)),
        "454 4.7.0",
    )
    .await;
    // B is not locked; and `*` reaches no person's mailbox.
    let mut b = connect(&server).await;
    b.cmd(
        &format!(
            "AUTH PLAIN {}",
            plain("", &format!("{USER_A}*{USER_B}"), PASSWORD_B)
        ),
        "535 5.7.8",
    )
    .await;
    b.cmd(
        &format!("AUTH PLAIN {}", plain("", USER_B, PASSWORD_B)),
        "235 2.7.0",
    )
    .await;
    assert!(server
        .store
        .events("unit.login", 5)
        .await
        .unwrap()
        .is_empty());
}

/// KT-8: revoking the delegate ends the unit session at its next transaction (421 4.7.0, then
/// the server closes, RFC 5321 3.8).
#[tokio::test]
async fn revocation_ends_the_unit_session() {
    let (server, unit) = server().await;
    server
        .store
        .delegate("STTTT", USER_B, storage::RIGHTS_HANDLE, true)
        .await
        .unwrap();
    let mut b = connect(&server).await;
    b.cmd(
        &format!("AUTH PLAIN {}", plain(&unit.address, USER_B, PASSWORD_B)),
        "235 2.7.0",
    )
    .await;
    b.cmd(&format!("MAIL FROM:<{}>", unit.address), "250").await;
    b.cmd("RSET", "250").await;
    server.store.revoke("STTTT", USER_B).await.unwrap();
    b.cmd(&format!("MAIL FROM:<{}>", unit.address), "421 4.7.0")
        .await;
    assert!(b.is_closed().await);
}
