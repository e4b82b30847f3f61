//! LOGIN / AUTHENTICATE throttling seen from several client addresses on 127/8.
//!
//! RFC 9051 6.2.3 / RFC 5530 3: a wrong name or password is `NO [AUTHENTICATIONFAILED]`; a
//! client refused for now (too many failures) gets `NO [UNAVAILABLE]`, a temporary condition.

use crate::common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use common::*;
use policy::limits::ThrottleConfig;

const HERE: &str = "127.0.0.1";
const ELSEWHERE: &str = "127.0.0.2";
const FAILED: &str = "NO [AUTHENTICATIONFAILED]";
const UNAVAILABLE: &str = "NO [UNAVAILABLE]";

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

async fn connect(server: &TestServer, from: &str) -> Client {
    Client::connect_from(server.imap, from.parse::<IpAddr>().unwrap()).await
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// LOGIN on a fresh connection from `from`; returns the tagged status.
async fn login_from(server: &TestServer, from: &str, user: &str, password: &str) -> String {
    let mut c = connect(server, from).await;
    c.run(&format!("LOGIN {} {}", quoted(user), quoted(password)))
        .await
        .1
}

/// AUTHENTICATE PLAIN with an initial response (RFC 4959), for logins beyond ASCII.
async fn plain_from(server: &TestServer, from: &str, user: &str, password: &str) -> String {
    let mut c = connect(server, from).await;
    let response = BASE64.encode(format!("\0{user}\0{password}"));
    c.run(&format!("AUTHENTICATE PLAIN {response}")).await.1
}

#[track_caller]
fn expect(status: String, wanted: &str) {
    assert!(status.starts_with(wanted), "{status:?}, wanted {wanted}");
}

#[tokio::test]
async fn failures_from_one_address_never_lock_the_owner_out_from_another() {
    let server = start_throttled(|_| {}, throttle()).await;
    let mut c = connect(&server, HERE).await;
    for expected_delay in [20, 40, 80] {
        let started = Instant::now();
        c.fails(&format!("LOGIN {USER_A} wrong-password"), FAILED)
            .await;
        // The failure is answered only after the delay (doubling per failure).
        assert!(started.elapsed() >= Duration::from_millis(expected_delay));
    }
    // The guessing address is refused for this login, even with the right password...
    c.fails(&format!("LOGIN {USER_A} {PASSWORD}"), UNAVAILABLE)
        .await;
    // ...the owner on another address gets in at once, by LOGIN and AUTHENTICATE alike.
    expect(login_from(&server, ELSEWHERE, USER_A, PASSWORD).await, "OK");
    expect(plain_from(&server, ELSEWHERE, USER_A, PASSWORD).await, "OK");
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
async fn failures_for_one_user_do_not_stop_a_colleague_behind_the_same_address() {
    let server = start_throttled(|_| {}, throttle()).await;
    for _ in 0..3 {
        expect(login_from(&server, HERE, USER_A, "wrong").await, FAILED);
    }
    expect(
        login_from(&server, HERE, USER_A, PASSWORD).await,
        UNAVAILABLE,
    );
    expect(login_from(&server, HERE, USER_B, PASSWORD).await, "OK");
    expect(plain_from(&server, HERE, USER_B, PASSWORD).await, "OK");
}

#[tokio::test]
async fn spaces_case_trailing_dot_and_nfd_are_one_login() {
    let server = start_throttled(|_| {}, throttle()).await;
    // An alias with Vietnamese letters, stored in NFC, and the same in NFD
    // (ễ = e + U+0302 + U+0303, ă = a + U+0306).
    let alias = "nguyễn.văn.an@kontum.gov.vn";
    server.store.add_alias(alias, USER_A, None).await.unwrap();
    let nfd = "nguye\u{302}\u{303}n.va\u{306}n.an@kontum.gov.vn";
    assert_ne!(nfd, alias);
    assert_eq!(policy::naming::canonical_login(nfd), alias);

    // Three spellings share one entry: the third failure locks it.
    let upper_dot = format!("{}.", alias.to_uppercase());
    for variant in [format!(" {alias}"), upper_dot.clone(), nfd.to_string()] {
        expect(plain_from(&server, HERE, &variant, "wrong").await, FAILED);
    }
    for variant in [alias.to_string(), format!("{alias} "), nfd.to_string()] {
        expect(
            plain_from(&server, HERE, &variant, PASSWORD).await,
            UNAVAILABLE,
        );
    }
    // Another login from the same address is not affected.
    expect(login_from(&server, HERE, USER_B, PASSWORD).await, "OK");
    // The account is looked up by the same canonical form: every spelling logs in.
    for variant in [nfd, upper_dot.as_str(), &format!(" {alias}")] {
        expect(
            plain_from(&server, ELSEWHERE, variant, PASSWORD).await,
            "OK",
        );
    }

    // The same for an ASCII address typed with LOGIN.
    for variant in [
        format!(" {USER_A}"),
        format!("{}.", USER_A.to_uppercase()),
        format!("{USER_A}\t"),
    ] {
        expect(
            login_from(&server, ELSEWHERE, &variant, "wrong").await,
            FAILED,
        );
    }
    expect(
        login_from(&server, ELSEWHERE, USER_A, PASSWORD).await,
        UNAVAILABLE,
    );
}

#[tokio::test]
async fn an_address_failing_across_logins_is_banned_briefly() {
    let server = start_throttled(
        |_| {},
        ThrottleConfig {
            ip_ban_failures: 6,
            ip_ban_accounts: 0,
            ip_ban: Duration::from_secs(2),
            ..throttle()
        },
    )
    .await;
    // Five failures over several logins: no ban yet, the colleague still gets in.
    for login in [
        USER_A,
        USER_A,
        "x1@kontum.gov.vn",
        "x2@kontum.gov.vn",
        "x3@kontum.gov.vn",
    ] {
        expect(login_from(&server, HERE, login, "wrong").await, FAILED);
    }
    expect(login_from(&server, HERE, USER_B, PASSWORD).await, "OK");
    // The sixth bans the address: every login from it is refused, right password or not.
    expect(
        login_from(&server, HERE, "x4@kontum.gov.vn", "wrong").await,
        FAILED,
    );
    expect(
        login_from(&server, HERE, USER_B, PASSWORD).await,
        UNAVAILABLE,
    );
    expect(
        plain_from(&server, HERE, USER_A, PASSWORD).await,
        UNAVAILABLE,
    );
    assert_eq!(
        server.store.events("auth.banned", 10).await.unwrap().len(),
        1
    );
    // Not other addresses.
    expect(login_from(&server, ELSEWHERE, USER_B, PASSWORD).await, "OK");
    // The ban lifts after the configured time.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    expect(login_from(&server, HERE, USER_B, PASSWORD).await, "OK");
    expect(login_from(&server, HERE, USER_A, PASSWORD).await, "OK");
}

#[tokio::test]
async fn distinct_logins_from_one_address_ban_it() {
    let server = start_throttled(
        |_| {},
        ThrottleConfig {
            ip_ban_accounts: 4,
            ip_ban: Duration::from_secs(60),
            ..throttle()
        },
    )
    .await;
    for i in 1..=3 {
        expect(
            login_from(&server, HERE, &format!("guess{i}@kontum.gov.vn"), "x").await,
            FAILED,
        );
    }
    expect(login_from(&server, HERE, USER_A, PASSWORD).await, "OK");
    expect(
        login_from(&server, HERE, "guess4@kontum.gov.vn", "x").await,
        FAILED,
    );
    expect(
        login_from(&server, HERE, USER_A, PASSWORD).await,
        UNAVAILABLE,
    );
    expect(login_from(&server, ELSEWHERE, USER_A, PASSWORD).await, "OK");
}
