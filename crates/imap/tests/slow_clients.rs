//! Slow and idle clients before login (issue 11 item 6): RFC 9051 5.4 bounds only the
//! autologout timer after authentication, so a connection gets the login timeout in all to
//! log in — trickling bytes does not extend it — and is then closed with an untagged BYE
//! (RFC 9051 7.1.5). After login the 30-minute autologout applies.

use crate::common;

use std::time::{Duration, Instant};

use common::*;

#[tokio::test]
async fn a_client_must_log_in_within_the_login_timeout() {
    let server = start_with(|s| s.login_timeout = Duration::from_secs(2)).await;
    // Idle: greeted, then closed with BYE after the timeout.
    let mut idle = Client::connect(server.imap).await;
    assert!(idle.greeting.starts_with("* OK"), "{}", idle.greeting);
    let started = Instant::now();
    let bye = idle.line().await;
    assert!(bye.starts_with("* BYE"), "{bye}");
    assert!(started.elapsed() >= Duration::from_millis(1500));
    assert!(started.elapsed() < Duration::from_secs(10));

    // Trickling: one byte every 300 ms of a command never completed, and complete commands
    // that are not a login, do not keep the connection past the timeout.
    let mut slow = Client::connect(server.imap).await;
    let started = Instant::now();
    slow.ok("NOOP").await;
    // Still mid-command when the login timeout ends.
    for byte in b"a1 CA" {
        slow.send(&[*byte]).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let bye = slow.line().await;
    assert!(bye.starts_with("* BYE"), "{bye}");
    assert!(started.elapsed() < Duration::from_secs(10));

    // A client that logs in at once is not affected: it outlives the login timeout.
    let mut user = Client::login(server.imap, USER_A).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    user.ok("NOOP").await;
}
