//! SMTP over loopback: delivery, trace headers, groups, antivirus, relay refusal, sender rules,
//! limits. Each test starts its own server on ephemeral ports.

use crate::common;

use std::time::Duration;

use common::*;

#[tokio::test]
async fn delivers_to_local_user_with_trace_headers_and_exact_bytes() {
    let server = start().await;
    let mut c = Client::connect(server.mx).await;
    assert!(
        c.greeting.starts_with("220 mx.kontum.gov.vn"),
        "{}",
        c.greeting
    );
    let ehlo = c.cmd("EHLO client.example.org", "250").await;
    for ext in [
        "PIPELINING",
        "SIZE 52428800",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "CHUNKING",
        "DSN",
        "STARTTLS",
    ] {
        assert!(ehlo.contains(ext), "EHLO lacks {ext}: {ehlo}");
    }
    assert!(!ehlo.contains("AUTH"), "MX must not offer AUTH: {ehlo}");
    let body = message(
        "sender@example.org",
        USER_A,
        "Công văn số 15/QĐ-UBND",
        "Kính gửi anh An,\r\n.dòng bắt đầu bằng dấu chấm\r\nTrân trọng.",
    );
    let reply = c.send_mail("sender@example.org", &[USER_A], &body).await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    c.cmd("QUIT", "221").await;
    let inbox = server.inbox(server.account_a).await;
    assert_eq!(inbox.len(), 1);
    let stored = String::from_utf8(inbox[0].clone()).unwrap();
    assert!(
        stored
            .starts_with("Return-Path: <sender@example.org>\r\nReceived: from client.example.org"),
        "{stored}"
    );
    assert!(
        stored.ends_with(&body),
        "stored bytes must end with exactly what was sent:\n{stored}"
    );
    assert!(stored.contains("X-Spam-Status: No"), "{stored}");
    let person = server.store.person(USER_A).await.unwrap();
    assert_eq!(
        person.used_bytes,
        inbox[0].len() as i64,
        "quota usage is exact"
    );
}

/// Issue 16: a client that lost the answer to its end of data sends the same transaction again
/// (RFC 5321 6.1); it gets 250 again and the message is stored once. Without a Message-ID, or
/// to another recipient, the same bytes are another message.
#[tokio::test]
async fn a_resent_transaction_is_stored_once() {
    let server = start().await;
    let body = message("sender@example.org", USER_A, "Giấy mời", "Họp lúc 8h00.");
    let no_id = "From: <sender@example.org>\r\nSubject: Nhắc việc\r\n\r\nKiểm tra.\r\n";
    for _ in 0..2 {
        for (rcpts, data) in [(&[USER_A][..], body.as_str()), (&[USER_A][..], no_id)] {
            let mut c = Client::connect(server.mx).await;
            c.cmd("EHLO client.example.org", "250").await;
            let reply = c.send_mail("sender@example.org", rcpts, data).await;
            assert!(reply.starts_with("250 2.0.0"), "{reply}");
            c.cmd("QUIT", "221").await;
        }
    }
    let inbox = server.inbox(server.account_a).await;
    let count = |needle: &str| {
        inbox
            .iter()
            .filter(|m| String::from_utf8_lossy(m).contains(needle))
            .count()
    };
    assert_eq!(count("Subject: Giấy mời"), 1, "the resend is stored once");
    assert_eq!(
        count("Subject: Nhắc việc"),
        2,
        "no Message-ID: each is stored"
    );
    // The same message to two recipients is another transaction: USER_B gets it, USER_A not again.
    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO client.example.org", "250").await;
    let reply = c
        .send_mail("sender@example.org", &[USER_A, USER_B], &body)
        .await;
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
    assert_eq!(server.inbox(server.account_b).await.len(), 1);
    let inbox = server.inbox(server.account_a).await;
    let again = inbox
        .iter()
        .filter(|m| String::from_utf8_lossy(m).contains("Subject: Giấy mời"))
        .count();
    assert_eq!(again, 2, "a new transaction is delivered");
}

#[tokio::test]
async fn group_reaches_each_member_once() {
    let server = start().await;
    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO client.example.org", "250").await;
    // USER_A is a member and also addressed directly: still one copy.
    let reply = c
        .send_mail(
            "sender@example.org",
            &[GROUP, USER_A],
            &message("sender@example.org", GROUP, "Gửi các sở", "Nội dung"),
        )
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    assert_eq!(server.inbox(server.account_a).await.len(), 1);
    assert_eq!(server.inbox(server.account_b).await.len(), 1);
    // One blob for both copies.
    let a = server
        .store
        .messages(
            server
                .store
                .folder(server.account_a, "INBOX")
                .await
                .unwrap()
                .id,
        )
        .await
        .unwrap();
    let b = server
        .store
        .messages(
            server
                .store
                .folder(server.account_b, "INBOX")
                .await
                .unwrap()
                .id,
        )
        .await
        .unwrap();
    assert_eq!(a[0].blob_id, b[0].blob_id);
}

#[tokio::test]
async fn forward_rules_deliver_inside_and_follow_the_policy_outside() {
    let server = start_with(
        |s| {
            s.forwarding.enabled = true;
            s.forwarding.allowed_domains = vec!["mic.gov.vn".into()];
        },
        None,
    )
    .await;
    let store = &server.store;
    let send = |subject: &'static str| {
        let addr = server.mx;
        async move {
            let mut c = Client::connect(addr).await;
            c.cmd("EHLO client.example.org", "250").await;
            let reply = c
                .send_mail(
                    "sender@example.org",
                    &[USER_A],
                    &message("sender@example.org", USER_A, subject, "Nội dung"),
                )
                .await;
            assert!(reply.starts_with("250"), "{reply}");
        }
    };
    // Inside the province, keeping a copy: both mailboxes get the message.
    store.set_forward(USER_A, USER_B, true, "").await.unwrap();
    send("Thư 1").await;
    assert_eq!(server.inbox(server.account_a).await.len(), 1);
    assert_eq!(server.inbox(server.account_b).await.len(), 1);
    // Without a copy: only the target.
    store.set_forward(USER_A, USER_B, false, "").await.unwrap();
    send("Thư 2").await;
    assert_eq!(server.inbox(server.account_a).await.len(), 1);
    assert_eq!(server.inbox(server.account_b).await.len(), 2);
    // Outside, to an allowed domain: queued for delivery, copy kept.
    store
        .set_forward(USER_A, "vanthu@mic.gov.vn", true, "")
        .await
        .unwrap();
    send("Thư 3").await;
    assert_eq!(server.inbox(server.account_a).await.len(), 2);
    let queued: Vec<String> = store
        .queue_entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.recipient)
        .collect();
    assert_eq!(queued, vec!["vanthu@mic.gov.vn".to_string()]);
    // A rule the policy refuses (public webmail; say, written before the policy changed):
    // nothing leaves, the mailbox keeps the message even without a copy, and it is logged.
    store
        .set_forward(USER_A, "canbo@gmail.com", false, "")
        .await
        .unwrap();
    send("Thư 4").await;
    assert_eq!(server.inbox(server.account_a).await.len(), 3);
    assert_eq!(store.queue_entries().await.unwrap().len(), 1);
    let events = store.events("forward.refused", 10).await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].target, USER_A);
    // Off again: plain delivery.
    assert!(store.clear_forward(USER_A).await.unwrap());
    send("Thư 5").await;
    assert_eq!(server.inbox(server.account_a).await.len(), 4);
    assert_eq!(server.inbox(server.account_b).await.len(), 2);
    // A hosted target that could not receive the mail by RCPT (login denied) gets none; the
    // mailbox keeps it although the rule says no copy.
    store.set_forward(USER_A, USER_B, false, "").await.unwrap();
    store
        .set_status(USER_B, storage::AccountStatus::Disabled)
        .await
        .unwrap();
    send("Thư 6").await;
    assert_eq!(server.inbox(server.account_a).await.len(), 5);
    assert_eq!(server.inbox(server.account_b).await.len(), 2);
    assert_eq!(store.events("forward.refused", 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn unknown_and_departed_recipients_are_refused() {
    let server = start().await;
    server
        .store
        .set_status(USER_B, storage::AccountStatus::Departed)
        .await
        .unwrap();
    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO client.example.org", "250").await;
    c.cmd("MAIL FROM:<sender@example.org>", "250").await;
    c.cmd("RCPT TO:<nobody@kontum.gov.vn>", "550 5.1.1").await;
    let departed = c.cmd(&format!("RCPT TO:<{USER_B}>"), "550 5.1.1").await;
    assert!(
        departed.contains("stttt@kontum.gov.vn"),
        "names the unit address: {departed}"
    );
    c.cmd("DATA", "554 5.5.1").await;
}

#[tokio::test]
async fn eicar_is_refused_raw_and_as_base64_attachment() {
    let server = start().await;
    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO client.example.org", "250").await;
    let reply = c
        .send_mail(
            "sender@example.org",
            &[USER_A],
            &message("sender@example.org", USER_A, "virus", EICAR),
        )
        .await;
    assert!(
        reply.starts_with("554 5.7.1") && reply.contains("Eicar"),
        "{reply}"
    );
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(EICAR);
    let attachment = format!(
        "From: <sender@example.org>\r\nTo: <{USER_A}>\r\nSubject: attachment\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
--b1\r\nContent-Type: application/octet-stream; name=\"tai-lieu.com\"\r\nContent-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename=\"tai-lieu.com\"\r\n\r\n{encoded}\r\n--b1--\r\n"
    );
    let reply = c
        .send_mail("sender@example.org", &[USER_A], &attachment)
        .await;
    assert!(reply.starts_with("554 5.7.1"), "{reply}");
    assert!(
        server.inbox(server.account_a).await.is_empty(),
        "nothing stored"
    );
    let events = server.store.events("virus.", 10).await.unwrap();
    assert_eq!(events.len(), 2, "each refusal is logged");
}

#[tokio::test]
async fn clamd_down_gives_451_and_retry_after_restart_succeeds() {
    let script = std::env::var("GOVMAIL_TEST_CLAMD_SCRIPT")
        .expect("GOVMAIL_TEST_CLAMD_SCRIPT is not set: run the tests with scripts/test");
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let clamd_dir = dir.path().join("clamd");
    let run = |action: &str| {
        let mut cmd = std::process::Command::new(&script);
        cmd.arg(action).arg(&clamd_dir);
        if action == "start" {
            cmd.arg(port.to_string());
        }
        let output = cmd.output().unwrap();
        assert!(
            output.status.success(),
            "clamd-private {action}: {output:?}"
        );
    };
    run("start");
    let server = start_with(|_| {}, Some(format!("tcp://127.0.0.1:{port}"))).await;
    run("stop");
    let body = message(
        "sender@example.org",
        USER_A,
        "retry me",
        "Nội dung quan trọng",
    );
    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO client.example.org", "250").await;
    let reply = c.send_mail("sender@example.org", &[USER_A], &body).await;
    assert!(reply.starts_with("451 4.7.1"), "{reply}");
    assert!(
        server.inbox(server.account_a).await.is_empty(),
        "nothing stored while clamd is down"
    );
    run("start");
    let reply = c.send_mail("sender@example.org", &[USER_A], &body).await;
    assert!(reply.starts_with("250"), "{reply}");
    assert_eq!(server.inbox(server.account_a).await.len(), 1);
    run("stop");
}

/// Every trick an open relay was ever abused with, on MX and on unauthenticated submission.
#[tokio::test]
async fn open_relay_attempts_are_refused() {
    let server = start().await;
    let attempts = [
        "victim@example.com",
        "victim%example.com@kontum.gov.vn",
        "example.com!victim@kontum.gov.vn",
        "@kontum.gov.vn:victim@example.com",
        "@kontum.gov.vn,@mx.kontum.gov.vn:victim@example.com",
        "\"victim@example.com\"@kontum.gov.vn",
        "victim@[127.0.0.1]",
        "victim@[IPv6:::1]",
        "victim@EXAMPLE.COM",
        "victim@example.com.",
        "victim@kontum.gov.vn.example.com",
        "victim@example.com@kontum.gov.vn",
        "victim@kontum.gov.vn@example.com",
        "victim@xn--kontum-gov-vn.example.com",
    ];
    for addr in [server.mx, server.submission] {
        let mut c = Client::connect(addr).await;
        c.cmd("EHLO client.example.org", "250").await;
        let mail = if addr == server.mx { "250" } else { "530" };
        c.send(b"MAIL FROM:<spammer@example.net>\r\n").await;
        let reply = c.read_reply().await;
        assert!(reply.starts_with(mail), "{reply}");
        for victim in attempts {
            c.send(format!("RCPT TO:<{victim}>\r\n").as_bytes()).await;
            let reply = c.read_reply().await;
            assert!(
                reply.starts_with('5') || reply.is_empty(),
                "{victim} on {addr}: {reply}"
            );
            if reply.is_empty() || reply.starts_with("421") {
                // Closed for too many errors: reconnect and go on.
                c = Client::connect(addr).await;
                c.cmd("EHLO client.example.org", "250").await;
                c.send(b"MAIL FROM:<spammer@example.net>\r\n").await;
                c.read_reply().await;
            }
        }
        c.send(b"DATA\r\n").await;
        let reply = c.read_reply().await;
        assert!(reply.starts_with('5') || reply.is_empty(), "{reply}");
    }
    // Relaying after a failed AUTH (plaintext allowed here only to reach the check).
    let server = start_with(|s| s.allow_plaintext_loopback = true, None).await;
    let mut c = Client::connect(server.submission).await;
    c.cmd("EHLO client.example.org", "250").await;
    c.cmd(
        "AUTH PLAIN AG52YW4uc3R0dHRAa29udHVtLmdvdi52bgB3cm9uZw==",
        "535 5.7.8",
    )
    .await;
    c.cmd("MAIL FROM:<nvan.stttt@kontum.gov.vn>", "530").await;
    c.cmd("RCPT TO:<victim@example.com>", "503").await;
    assert!(server.store.queue_entries().await.unwrap().is_empty());
}

#[tokio::test]
async fn auth_is_refused_before_starttls() {
    let server = start().await;
    let mut c = Client::connect(server.submission).await;
    let ehlo = c.cmd("EHLO client.example.org", "250").await;
    assert!(
        ehlo.contains("STARTTLS") && !ehlo.contains("AUTH"),
        "{ehlo}"
    );
    c.cmd(
        "AUTH PLAIN AG52YW4uc3R0dHRAa29udHVtLmdvdi52bgBtYXQta2hhdS1BLTEyMw==",
        "538 5.7.11",
    )
    .await;
    c.cmd("AUTH LOGIN", "538").await;
    c.cmd("MAIL FROM:<nvan.stttt@kontum.gov.vn>", "530 5.7.0")
        .await;
    let mut mx = Client::connect(server.mx).await;
    mx.cmd("EHLO client.example.org", "250").await;
    mx.cmd(
        "AUTH PLAIN AG52YW4uc3R0dHRAa29udHVtLmdvdi52bgBtYXQta2hhdS1BLTEyMw==",
        "502",
    )
    .await;
}

fn plain(user: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"))
}

#[tokio::test]
async fn users_cannot_send_as_someone_else() {
    let server = start_with(|s| s.allow_plaintext_loopback = true, Some(clamd_url())).await;
    let mut c = Client::connect(server.submission).await;
    c.cmd("EHLO client.example.org", "250").await;
    c.cmd(
        &format!("AUTH PLAIN {}", plain(USER_A, PASSWORD_A)),
        "235 2.7.0",
    )
    .await;
    c.cmd(&format!("MAIL FROM:<{USER_B}>"), "550 5.7.1").await;
    c.cmd("MAIL FROM:<boss@kontum.gov.vn>", "550 5.7.1").await;
    // Envelope right, From: header forged.
    let reply = c
        .send_mail(USER_A, &[USER_B], &message(USER_B, USER_B, "forged", "x"))
        .await;
    assert!(reply.starts_with("550 5.7.1"), "{reply}");
    // Honest mail goes through, also to an external recipient (queued).
    let reply = c
        .send_mail(
            USER_A,
            &[USER_B, "partner@example.org"],
            &message(USER_A, USER_B, "ok", "x"),
        )
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    assert_eq!(server.inbox(server.account_b).await.len(), 1);
    let queue = server.store.queue_entries().await.unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].recipient, "partner@example.org");
    assert_eq!(queue[0].sender, USER_A);
}

#[tokio::test]
async fn auth_failures_lock_then_refuse() {
    let server = start_with(
        |s| {
            s.allow_plaintext_loopback = true;
            s.auth_max_failures = 3;
            s.max_errors = 100;
        },
        None,
    )
    .await;
    let mut c = Client::connect(server.submission).await;
    c.cmd("EHLO client.example.org", "250").await;
    for _ in 0..3 {
        c.cmd(
            &format!("AUTH PLAIN {}", plain(USER_A, "wrong")),
            "535 5.7.8",
        )
        .await;
    }
    // Locked: even the right password is refused for now.
    c.cmd(
        &format!("AUTH PLAIN {}", plain(USER_A, PASSWORD_A)),
        "454 4.7.0",
    )
    .await;
    let events = server.store.events("auth.locked", 10).await.unwrap();
    assert_eq!(events.len(), 1);
}

#[tokio::test]
async fn bdat_and_pipelining() {
    let server = start().await;
    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO client.example.org", "250").await;
    let body = message("sender@example.org", USER_A, "chunked", "phần một phần hai");
    let (first, second) = body.as_bytes().split_at(40);
    let mut pipelined = format!(
        "MAIL FROM:<sender@example.org>\r\nRCPT TO:<{USER_A}>\r\nBDAT {}\r\n",
        first.len()
    )
    .into_bytes();
    pipelined.extend_from_slice(first);
    pipelined.extend_from_slice(format!("BDAT {} LAST\r\n", second.len()).as_bytes());
    pipelined.extend_from_slice(second);
    c.send(&pipelined).await;
    for expected in ["250 2.1.0", "250 2.1.5", "250 2.0.0", "250 2.0.0 Ok"] {
        let reply = c.read_reply().await;
        assert!(reply.starts_with(expected), "expected {expected}: {reply}");
    }
    let inbox = server.inbox(server.account_a).await;
    assert!(inbox[0].ends_with(body.as_bytes()));
}

#[tokio::test]
async fn size_limits_are_enforced_while_reading() {
    let server = start_with(|s| s.max_message_size = 10_000, Some(clamd_url())).await;
    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO client.example.org", "250").await;
    c.cmd("MAIL FROM:<sender@example.org> SIZE=20000", "552 5.3.4")
        .await;
    let big = "x".repeat(70) + "\r\n";
    let reply = c
        .send_mail("sender@example.org", &[USER_A], &big.repeat(200))
        .await;
    assert!(reply.starts_with("552 5.3.4"), "{reply}");
    // The session is still usable, and BDAT is bounded too.
    c.cmd("MAIL FROM:<sender@example.org>", "250").await;
    c.cmd(&format!("RCPT TO:<{USER_A}>"), "250").await;
    let mut chunk = b"BDAT 20000 LAST\r\n".to_vec();
    chunk.extend(std::iter::repeat_n(b'y', 20000));
    c.send(&chunk).await;
    let reply = c.read_reply().await;
    assert!(reply.starts_with("552 5.3.4"), "{reply}");
    assert!(server.inbox(server.account_a).await.is_empty());
}

#[tokio::test]
async fn endless_lines_and_slow_clients_are_cut_off() {
    let server = start_with(|s| s.idle_timeout = Duration::from_secs(1), None).await;
    // An over-long command line gets 500; an endless one closes the connection.
    let mut c = Client::connect(server.mx).await;
    c.send(format!("EHLO {}\r\n", "a".repeat(5000)).as_bytes())
        .await;
    assert!(c.read_reply().await.starts_with("500 5.5.0"));
    c.send(&vec![b'z'; 200_000]).await;
    let reply = c.read_reply().await;
    assert!(reply.starts_with("500"), "{reply}");
    assert!(c.is_closed().await);
    // A client that stops talking is dropped after the idle timeout with 421.
    let mut slow = Client::connect(server.mx).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let reply = slow.read_reply().await;
    assert!(reply.starts_with("421 4.4.2"), "{reply}");
    // A client stalling inside DATA is cut off too.
    let mut stall = Client::connect(server.mx).await;
    stall.cmd("EHLO x", "250").await;
    stall.cmd("MAIL FROM:<s@example.org>", "250").await;
    stall.cmd(&format!("RCPT TO:<{USER_A}>"), "250").await;
    stall.cmd("DATA", "354").await;
    stall.send(b"Subject: slow\r\n").await;
    // RFC 5321 3.8 / RFC 3463 4.4.2: the server says why before it closes.
    let reply = stall.read_reply().await;
    assert!(reply.starts_with("421 4.4.2"), "{reply}");
    assert!(stall.is_closed().await, "stalled DATA is closed");
    assert!(server.inbox(server.account_a).await.is_empty());
}

#[tokio::test]
async fn connection_and_command_limits() {
    let server = start_with(
        |s| {
            s.max_connections_per_ip = 2;
            s.max_commands_before_mail = 3;
            s.max_errors = 2;
            s.max_recipients = 2;
            s.max_messages_per_connection = 1;
        },
        None,
    )
    .await;
    let _a = Client::connect(server.mx).await;
    let _b = Client::connect(server.mx).await;
    let third = Client::connect(server.mx).await;
    assert!(
        third.greeting.starts_with("421 4.7.0"),
        "{}",
        third.greeting
    );
    drop((_a, _b));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut c = Client::connect(server.mx).await;
    c.cmd("NOOP", "250").await;
    c.cmd("NOOP", "250").await;
    c.cmd("NOOP", "250").await;
    c.cmd("NOOP", "421 4.7.0").await;
    drop(c);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut c = Client::connect(server.mx).await;
    c.cmd("BOGUS", "500").await;
    c.cmd("BOGUS", "500").await;
    let reply = c.read_reply().await;
    assert!(reply.starts_with("421 4.7.0"), "{reply}");
    assert!(c.is_closed().await);
    drop(c);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO x", "250").await;
    c.cmd("MAIL FROM:<s@example.org>", "250").await;
    c.cmd(&format!("RCPT TO:<{USER_A}>"), "250").await;
    c.cmd(&format!("RCPT TO:<{USER_B}>"), "250").await;
    c.cmd(&format!("RCPT TO:<{GROUP}>"), "452 4.5.3").await;
    c.cmd("RSET", "250").await;
    let reply = c
        .send_mail(
            "s@example.org",
            &[USER_A],
            &message("s@example.org", USER_A, "one", "x"),
        )
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    c.cmd("MAIL FROM:<s@example.org>", "421 4.7.0").await;
}

#[tokio::test]
async fn local_senders_must_use_submission_on_mx() {
    let server = start_with(|_| {}, None).await;
    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO spoofer.example", "250").await;
    c.cmd(&format!("MAIL FROM:<{USER_A}>"), "550 5.7.1").await;
}

#[tokio::test]
async fn over_quota_recipient_gets_452() {
    let server = start_with(|_| {}, None).await;
    // Fill user B's quota: 1 KiB allowed, one message of more than that delivered first.
    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO client.example.org", "250").await;
    let reply = c
        .send_mail(
            "s@example.org",
            &[USER_B],
            &message("s@example.org", USER_B, "lớn", &"x".repeat(2000)),
        )
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    server.store.set_quota(USER_B, 1024).await.unwrap();
    c.cmd("MAIL FROM:<s@example.org>", "250").await;
    c.cmd(&format!("RCPT TO:<{USER_B}>"), "452 4.2.2").await;
    c.cmd(&format!("RCPT TO:<{USER_A}>"), "250").await;
}

/// Issue 17 item 8, RFC 5322 3.6.2: "If the originator of the message can be indicated by a
/// single mailbox and the author and transmitter are identical, the "Sender:" field SHOULD NOT
/// be used. Otherwise, both fields SHOULD appear." A delegate writing as the unit (From: the
/// unit) gets `Sender:` naming the delegate — name as RFC 2047 encoded-words (2.: "=?" charset
/// "?" encoding "?" encoded-text "?="; 4.1 B = base64 of the UTF-8 bytes), then the address —
/// in the copy the recipient gets and in the unit's Sent; a message the user writes as
/// themself gets none; a Sender: naming somebody else is refused 550 5.7.1.
#[tokio::test]
async fn delegate_sending_as_the_unit_is_named_in_sender() {
    let server = start_with(|s| s.allow_plaintext_loopback = true, None).await;
    server
        .store
        .delegate("STTTT", USER_B, storage::RIGHTS_HANDLE, true)
        .await
        .unwrap();
    let unit = server.store.unit("STTTT").await.unwrap();
    let mut b = Client::connect(server.submission).await;
    b.cmd("EHLO client.example.org", "250").await;
    b.cmd(&format!("AUTH PLAIN {}", plain(USER_B, PASSWORD_B)), "235")
        .await;
    let reply = b
        .send_mail(
            &unit.address,
            &[USER_A],
            &message(&unit.address, USER_A, "Thông báo của Sở", "Nội dung"),
        )
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    // "Trần Thị Bình" in UTF-8, base64 (RFC 4648 4).
    let expected = format!("Sender: =?UTF-8?B?VHLhuqduIFRo4buLIELDrG5o?= <{USER_B}>\r\n");
    let received = server.folder_messages(server.account_a, "INBOX").await;
    let sent = server.folder_messages(unit.account_id, "Sent").await;
    for (what, raw) in [("received", &received[0]), ("unit Sent", &sent[0])] {
        let text = String::from_utf8_lossy(raw);
        let header = &text[..text.find("\r\n\r\n").unwrap() + 2];
        assert_eq!(
            header.matches("\r\nSender:").count() + header.starts_with("Sender:") as usize,
            1,
            "{what}: {header}"
        );
        assert!(header.contains(&expected), "{what}: {header}");
        assert!(
            header.contains(&format!("From: <{}>", unit.address)),
            "{header}"
        );
    }
    // Writing as themself: no Sender:.
    let reply = b
        .send_mail(USER_B, &[USER_A], &message(USER_B, USER_A, "Riêng", "x"))
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    let received = server.folder_messages(server.account_a, "INBOX").await;
    let own = String::from_utf8_lossy(&received[1]);
    assert!(!own.contains("\r\nSender:"), "{own}");
    // The client's own Sender: naming the delegate is kept, not doubled.
    let with_sender = message(&unit.address, USER_A, "Có Sender", "x").replacen(
        "To:",
        &format!("Sender: <{USER_B}>\r\nTo:"),
        1,
    );
    let reply = b.send_mail(&unit.address, &[USER_A], &with_sender).await;
    assert!(reply.starts_with("250"), "{reply}");
    let received = server.folder_messages(server.account_a, "INBOX").await;
    let kept = String::from_utf8_lossy(&received[2]);
    assert_eq!(kept.matches("Sender:").count(), 1, "{kept}");
    // A Sender: naming someone else: refused.
    let forged = message(&unit.address, USER_A, "Giả", "x").replacen(
        "To:",
        &format!("Sender: <{USER_A}>\r\nTo:"),
        1,
    );
    let reply = b.send_mail(&unit.address, &[USER_A], &forged).await;
    assert!(reply.starts_with("550 5.7.1"), "{reply}");
    assert_eq!(
        server
            .folder_messages(server.account_a, "INBOX")
            .await
            .len(),
        3
    );
}

/// KT-8: a delegate holding the send right sends as the unit (a copy lands in the unit's
/// Sent); a delegate without it cannot; nobody else can.
#[tokio::test]
async fn delegate_with_send_right_sends_as_the_unit() {
    let server = start_with(|s| s.allow_plaintext_loopback = true, None).await;
    server
        .store
        .delegate("STTTT", USER_B, storage::RIGHTS_HANDLE, true)
        .await
        .unwrap();
    server
        .store
        .delegate("STTTT", USER_A, storage::RIGHTS_READ, false)
        .await
        .unwrap();
    let unit = server.store.unit("STTTT").await.unwrap();

    let mut b = Client::connect(server.submission).await;
    b.cmd("EHLO client.example.org", "250").await;
    b.cmd(&format!("AUTH PLAIN {}", plain(USER_B, PASSWORD_B)), "235")
        .await;
    let reply = b
        .send_mail(
            &unit.address,
            &[USER_A],
            &message(&unit.address, USER_A, "Thông báo của Sở", "Nội dung"),
        )
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    assert_eq!(server.inbox(server.account_a).await.len(), 1);
    let sent = server.folder_messages(unit.account_id, "Sent").await;
    assert_eq!(sent.len(), 1, "a copy in the unit's Sent");
    assert_eq!(
        server.store.events("unit.send", 5).await.unwrap()[0].actor,
        USER_B
    );

    let mut a = Client::connect(server.submission).await;
    a.cmd("EHLO client.example.org", "250").await;
    a.cmd(&format!("AUTH PLAIN {}", plain(USER_A, PASSWORD_A)), "235")
        .await;
    a.cmd(&format!("MAIL FROM:<{}>", unit.address), "550 5.7.1")
        .await;
    // Revoking the send right takes effect for the next message.
    server.store.revoke("STTTT", USER_B).await.unwrap();
    b.cmd(&format!("MAIL FROM:<{}>", unit.address), "550 5.7.1")
        .await;
}
