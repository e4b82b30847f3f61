//! Hostile and unlucky input over loopback SMTP: smuggled end-of-data look-alikes (RFC 5321
//! 2.3.8, 4.1.1.4), BDAT sizes that are announced but never sent (RFC 3030), malformed command
//! lines, SMTPUTF8 (RFC 6531), the bare postmaster (RFC 5321 4.5.1), and a database failing
//! under a running server (4xx, never 5xx: RFC 5321 4.2.5, RFC 3463).
//!
//! Expected replies come from the RFCs: 554 for a refused message body (RFC 5321 4.3.2) with
//! X.5.2 "syntax error" (RFC 3463 3.6), 501 X.5.2 for a command line that is not a command,
//! 553 X.6.7 for a non-ASCII address without SMTPUTF8 (RFC 6531 3.5), 451 X.3.0 for a local
//! processing error the sender must retry (RFC 5321 4.2.5, RFC 3463 3.4).

use crate::common;

use std::time::Duration;

use common::*;

/// The memory test measures this process; the other tests here keep out of its way.
static MEMORY_MEASUREMENT: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Runs `sql` on the test database from a second connection while the server keeps running
/// ([`testkit::sql_from_outside`]).
async fn sql_from_outside(server: &TestServer, sql: &str) {
    testkit::sql_from_outside(&server.data_dir().join("t.db"), sql).await;
}

/// Makes `table` unreadable for the server (renamed away).
async fn break_table(server: &TestServer, table: &str) {
    sql_from_outside(
        server,
        &format!("ALTER TABLE {table} RENAME TO {table}_broken"),
    )
    .await;
}

async fn mend_table(server: &TestServer, table: &str) {
    sql_from_outside(
        server,
        &format!("ALTER TABLE {table}_broken RENAME TO {table}"),
    )
    .await;
}

/// DATA with `body` (lines end in CRLF, none starts with a dot): the reply to the body.
async fn data(c: &mut Client, body: &str) -> String {
    c.cmd("DATA", "354").await;
    c.send(format!("{body}.\r\n").as_bytes()).await;
    c.read_reply().await
}

/// Ok when the server sends nothing within `wait`, else the reply it sent.
async fn silent(c: &mut Client, wait: Duration) -> Result<(), String> {
    match tokio::time::timeout(wait, c.read_reply()).await {
        Err(_) => Ok(()),
        Ok(reply) => Err(reply),
    }
}

fn plain(user: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"))
}

/// SMTP smuggling: every end-of-data look-alike made with a bare LF or a bare CR is not an end
/// of data (RFC 5321 4.1.1.4: only CRLF.CRLF is; 2.3.8: CR and LF only as CRLF). The commands
/// hidden behind one are message text, never executed: the client gets exactly one reply to
/// its DATA, a refusal (554 5.5.2), no forged message is delivered, and the session goes on.
///
/// Before 43c74d1 the line reader ended DATA at a `.` line ending in a bare LF, and split lines
/// at any LF: for `\n.\n`, `\r\n.\n` and `\n.\r\n` the first message got 250 and the hidden
/// MAIL/RCPT/DATA delivered the forged message to USER_B (two extra 250s, a 354, a 250); for
/// `\r.\r\n` the bare CR was stored as is and the whole thing delivered with 250, not 554.
#[tokio::test]
async fn smuggled_end_of_data_is_refused_and_never_executed() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    let server = start_with(|_| {}, None).await;
    for (n, smuggle) in ["\n.\n", "\r\n.\n", "\n.\r\n", "\r.\r\n"]
        .into_iter()
        .enumerate()
    {
        let mut c = Client::connect(server.mx).await;
        c.cmd("EHLO client.example.org", "250").await;
        c.cmd("MAIL FROM:<sender@example.org>", "250").await;
        c.cmd(&format!("RCPT TO:<{USER_A}>"), "250").await;
        c.cmd("DATA", "354").await;
        let payload = format!(
            "From: <sender@example.org>\r\nTo: <{USER_A}>\r\nSubject: harmless\r\n\r\nharmless text\
             {smuggle}\
             MAIL FROM:<forged@outside.test>\r\nRCPT TO:<{USER_B}>\r\nDATA\r\n\
             From: forged@outside.test\r\nTo: <{USER_B}>\r\nSubject: forged\r\n\r\nforged text\
             \r\n.\r\n"
        );
        c.send(payload.as_bytes()).await;
        let reply = c.read_reply().await;
        assert!(
            reply.starts_with("554 5.5.2"),
            "{smuggle:?}: the one reply to the data is a refusal, got {reply:?}"
        );
        assert_eq!(
            silent(&mut c, Duration::from_millis(500)).await,
            Ok(()),
            "{smuggle:?}: nothing after the refusal (hidden commands were not run)"
        );
        assert!(
            server.inbox(server.account_b).await.is_empty(),
            "{smuggle:?}: no forged message"
        );
        assert_eq!(
            server.inbox(server.account_a).await.len(),
            n,
            "{smuggle:?}: the refused message is not stored either"
        );
        // The session is still usable: RSET (RFC 5321 4.1.1.5) and a clean message.
        let reply = c.cmd("RSET", "250").await;
        assert!(
            !reply.contains("2.1."),
            "a RSET reply, not a MAIL/RCPT one: {reply}"
        );
        let clean = message("sender@example.org", USER_A, "clean", "clean text");
        let reply = c.send_mail("sender@example.org", &[USER_A], &clean).await;
        assert!(reply.starts_with("250"), "{smuggle:?}: {reply}");
        let inbox = server.inbox(server.account_a).await;
        assert_eq!(inbox.len(), n + 1, "{smuggle:?}: the clean message, once");
        assert!(inbox[n].ends_with(clean.as_bytes()));
        assert!(server.inbox(server.account_b).await.is_empty());
        c.cmd("QUIT", "221").await;
    }
}

/// Bare LF line endings away from a dot line are taken as CRLF and stored as CRLF (RFC 5321
/// 2.3.8 forbids clients to send them and says nothing of receivers; this is Postfix's
/// `smtpd_forbid_bare_newline = normalize`). The end of data is still CRLF.CRLF.
///
/// A guard, not a regression test: the old reader made bare LF CRLF too; this checks the
/// smuggling fix did not start refusing such mail.
#[tokio::test]
async fn bare_lf_lines_are_stored_as_crlf() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    let server = start_with(|_| {}, None).await;
    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO client.example.org", "250").await;
    c.cmd("MAIL FROM:<sender@example.org>", "250").await;
    c.cmd(&format!("RCPT TO:<{USER_A}>"), "250").await;
    c.cmd("DATA", "354").await;
    let lf =
        format!("From: <sender@example.org>\nTo: <{USER_A}>\nSubject: LF\n\ndòng một\ndòng hai");
    c.send(format!("{lf}\r\n.\r\n").as_bytes()).await;
    let reply = c.read_reply().await;
    assert!(reply.starts_with("250"), "{reply}");
    let inbox = server.inbox(server.account_a).await;
    assert_eq!(inbox.len(), 1);
    let crlf = lf.replace('\n', "\r\n") + "\r\n";
    assert!(
        inbox[0].ends_with(crlf.as_bytes()),
        "{:?}",
        String::from_utf8_lossy(&inbox[0])
    );
    for (i, &b) in inbox[0].iter().enumerate() {
        if b == b'\n' {
            assert_eq!(inbox[0][i - 1], b'\r', "bare LF stored at {i}");
        }
        if b == b'\r' {
            assert_eq!(inbox[0].get(i + 1), Some(&b'\n'), "bare CR stored at {i}");
        }
    }
}

fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// A BDAT size is a promise, not a request for memory (RFC 3030 2 lets the server read the
/// chunk as it comes): 20 sessions announcing 52 MB each (under the 50 MiB size limit, so the
/// chunk is kept) and sending 10 bytes cost this process less than 50 MB.
///
/// Before 43c74d1 `read_chunk` did `body.resize(start + size, 0)` at once: 20 × 52 MB of
/// zero-filled pages, about 1 GB of resident memory (or the OOM killer).
#[tokio::test]
async fn announced_bdat_size_allocates_nothing() {
    let _exclusive = MEMORY_MEASUREMENT.write().await;
    let server = start_with(
        |s| {
            s.max_connections_per_ip = 50;
            // The data-rate watchdog (after idle_timeout / 10) is not what is measured here.
            s.idle_timeout = Duration::from_secs(60);
        },
        None,
    )
    .await;
    assert!(52_000_000 <= smtp::Settings::for_hostname("x").max_message_size);
    // Warm up: one whole session, so the baseline includes a session's fixed costs.
    let mut warm = Client::connect(server.mx).await;
    warm.cmd("EHLO client.example.org", "250").await;
    warm.cmd("QUIT", "221").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = vm_rss_kib();
    let mut clients = vec![];
    for _ in 0..20 {
        let mut c = Client::connect(server.mx).await;
        c.cmd("EHLO client.example.org", "250").await;
        c.cmd("MAIL FROM:<sender@example.org>", "250").await;
        c.cmd(&format!("RCPT TO:<{USER_A}>"), "250").await;
        c.send(b"BDAT 52000000 LAST\r\n0123456789").await;
        clients.push(c);
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let after = vm_rss_kib();
    let growth_mb = after.saturating_sub(before) / 1024;
    eprintln!("VmRSS {before} KiB before, {after} KiB with 20 open 52 MB chunks");
    assert!(
        growth_mb < 50,
        "20 announced 52 MB chunks grew RSS by {growth_mb} MB ({before} → {after} KiB)"
    );
    for c in &mut clients {
        assert_eq!(
            silent(c, Duration::from_millis(10)).await,
            Ok(()),
            "no reply before the chunk is complete"
        );
    }
    drop(clients);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut c = Client::connect(server.mx).await;
    assert!(c.greeting.starts_with("220"), "{}", c.greeting);
    c.cmd("EHLO client.example.org", "250").await;
    assert!(server.inbox(server.account_a).await.is_empty());
}

/// BDAT bodies are text without BINARYMIME (RFC 3030 3): chunks are joined byte for byte
/// (no dot-stuffing, a CRLF may straddle two chunks) and a bare CR is refused as in DATA
/// (554 5.5.2, RFC 5321 2.3.8).
///
/// Before 43c74d1 the body with a bare CR was delivered (250): BDAT bodies were not checked.
#[tokio::test]
async fn bdat_chunks_are_exact_and_bare_cr_is_refused() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    let server = start_with(|_| {}, None).await;
    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO client.example.org", "250").await;
    let body = message(
        "sender@example.org",
        USER_A,
        "hai phần",
        ".dòng bắt đầu bằng dấu chấm\r\n.\r\nvà tiếp",
    );
    // Split inside a CRLF: the first chunk ends in CR, the second starts with LF.
    let cut = body.find("\r\n\r\n").unwrap() + 1;
    let (first, second) = body.as_bytes().split_at(cut);
    assert_eq!(first.last(), Some(&b'\r'));
    c.cmd("MAIL FROM:<sender@example.org>", "250").await;
    c.cmd(&format!("RCPT TO:<{USER_A}>"), "250").await;
    let mut chunk = format!("BDAT {}\r\n", first.len()).into_bytes();
    chunk.extend_from_slice(first);
    c.send(&chunk).await;
    assert!(c.read_reply().await.starts_with("250"));
    let mut chunk = format!("BDAT {} LAST\r\n", second.len()).into_bytes();
    chunk.extend_from_slice(second);
    c.send(&chunk).await;
    let reply = c.read_reply().await;
    assert!(reply.starts_with("250"), "{reply}");
    let inbox = server.inbox(server.account_a).await;
    assert_eq!(inbox.len(), 1);
    assert!(
        inbox[0].ends_with(body.as_bytes()),
        "byte-exact: {:?}",
        String::from_utf8_lossy(&inbox[0])
    );

    let bare_cr =
        format!("From: <sender@example.org>\r\nTo: <{USER_A}>\r\nSubject: CR\r\n\r\nmột\rhai\r\n");
    c.cmd("MAIL FROM:<sender@example.org>", "250").await;
    c.cmd(&format!("RCPT TO:<{USER_A}>"), "250").await;
    let mut chunk = format!("BDAT {} LAST\r\n", bare_cr.len()).into_bytes();
    chunk.extend_from_slice(bare_cr.as_bytes());
    c.send(&chunk).await;
    let reply = c.read_reply().await;
    assert!(reply.starts_with("554 5.5.2"), "{reply}");
    assert_eq!(server.inbox(server.account_a).await.len(), 1, "not stored");
    // The session goes on.
    c.cmd("RSET", "250").await;
    c.cmd("NOOP", "250").await;
}

/// RFC 5321 2.3.8 / 4.1.1: no control characters in a command line but its CRLF; RFC 6531 3.3:
/// nothing but UTF-8 beyond ASCII. Such a line is a syntax error in parameters (501 5.5.2),
/// and the bytes are never echoed back.
///
/// Before fb8f56a smtp-proto read `a\0b` as the EHLO host and the server answered 250 with
/// "Hello a\0b"; the invalid UTF-8 address was made U+FFFD by smtp-proto and accepted (250).
#[tokio::test]
async fn control_characters_and_invalid_utf8_in_commands_are_501() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    let server = start_with(|_| {}, None).await;
    let mut c = Client::connect(server.mx).await;
    c.send(b"EHLO a\0b\r\n").await;
    let reply = c.read_reply().await;
    assert!(reply.starts_with("501 5.5.2"), "{reply:?}");
    assert!(
        !reply.contains('\0') && !reply.contains("a\0b"),
        "never echoed: {reply:?}"
    );
    c.cmd("EHLO client.example.org", "250").await;
    c.send(b"MAIL FROM:<\xff@x.test> SMTPUTF8\r\n").await;
    let reply = c.read_reply().await;
    assert!(reply.starts_with("501 5.5.2"), "{reply:?}");
    // No transaction began: RCPT is out of sequence (RFC 5321 4.1.4, 503).
    c.cmd(&format!("RCPT TO:<{USER_A}>"), "503").await;
    c.cmd("DATA", "503").await;
    assert!(server.inbox(server.account_a).await.is_empty());
    // Still usable.
    let reply = c
        .send_mail(
            "sender@example.org",
            &[USER_A],
            &message("sender@example.org", USER_A, "ok", "x"),
        )
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    assert_eq!(server.inbox(server.account_a).await.len(), 1);
}

/// RFC 6531 3.5: a non-ASCII address in MAIL or RCPT of a transaction whose MAIL lacks the
/// SMTPUTF8 parameter is refused with 553 and X.6.7; with SMTPUTF8 it is accepted.
///
/// Before fb8f56a the sender was accepted without SMTPUTF8 (250) and the recipient refused as
/// unknown (550 5.1.1), not 553 5.6.7.
#[tokio::test]
async fn non_ascii_addresses_need_smtputf8() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    let server = start_with(|_| {}, None).await;
    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO client.example.org", "250").await;
    c.cmd("MAIL FROM:<người@x.test>", "553 5.6.7").await;
    c.cmd("MAIL FROM:<người@x.test> SMTPUTF8", "250").await;
    c.cmd("RSET", "250").await;
    c.cmd("MAIL FROM:<sender@example.org>", "250").await;
    c.cmd(&format!("RCPT TO:<ngườinhận@{DOMAIN}>"), "553 5.6.7")
        .await;
    c.cmd(&format!("RCPT TO:<{USER_A}>"), "250").await;
}

/// RFC 5321 4.5.1: `RCPT TO:<Postmaster>` without a domain MUST be accepted, postmaster being
/// a case-insensitive local name; the mail reaches the postmaster of the hosted domain.
///
/// Before fb8f56a a bare postmaster was a syntax error (501 5.1.3).
#[tokio::test]
async fn bare_postmaster_is_accepted_in_any_case() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    let server = start_with(|_| {}, None).await;
    server
        .store
        .add_alias(&format!("postmaster@{DOMAIN}"), USER_B, None)
        .await
        .unwrap();
    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO client.example.org", "250").await;
    // With the domain, in any case.
    c.cmd("MAIL FROM:<sender@example.org>", "250").await;
    c.cmd(&format!("RCPT TO:<PostMaster@{DOMAIN}>"), "250")
        .await;
    c.cmd("RSET", "250").await;
    for (n, rcpt) in ["postmaster", "Postmaster", "POSTMASTER"]
        .iter()
        .enumerate()
    {
        c.cmd("MAIL FROM:<sender@example.org>", "250").await;
        c.cmd(&format!("RCPT TO:<{rcpt}>"), "250").await;
        let reply = data(
            &mut c,
            &message("sender@example.org", "postmaster", rcpt, "Gửi quản trị"),
        )
        .await;
        assert!(reply.starts_with("250"), "{rcpt}: {reply}");
        assert_eq!(
            server.inbox(server.account_b).await.len(),
            n + 1,
            "<{rcpt}> lands in postmaster@{DOMAIN}"
        );
    }
}

/// Issue 17 item 3: `postmaster@` (RFC 5321 4.5.1: "MUST support" it for every domain it
/// accepts mail for), `abuse@` (RFC 2142 2) and the DMARC report address `govmail dns`
/// publishes (`rua=mailto:dmarc@DOMAIN`) exist at every hosted domain and reach the admin
/// group, from any sender (the group's own policy is for internal posting, not role mail).
/// An address defined under that name keeps precedence; other unknown names stay 550
/// (RFC 5321 3.6.2/4.2.2: 550 mailbox unavailable).
#[tokio::test]
async fn role_addresses_of_every_domain_reach_the_admin_group() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    const ADMINS: &str = "quantri@kontum.gov.vn";
    let server = start_with(|s| s.role_target = Some(ADMINS.into()), None).await;
    server
        .store
        .add_domain("binhduong.gov.vn", "free")
        .await
        .unwrap();
    server
        .store
        .add_group(ADMINS, "Quản trị", "members")
        .await
        .unwrap();
    server.store.add_group_member(ADMINS, USER_B).await.unwrap();
    // An explicitly defined abuse@ at the first domain wins.
    server
        .store
        .add_alias(&format!("abuse@{DOMAIN}"), USER_A, None)
        .await
        .unwrap();
    let dmarc_rua = smtp::outbound::records::RecordsInput::new("binhduong.gov.vn", "mx").dmarc_rua;
    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO client.example.org", "250").await;
    let mut to_admins = 0;
    for rcpt in [
        format!("postmaster@{DOMAIN}"),
        format!("dmarc@{DOMAIN}"),
        "Postmaster@binhduong.gov.vn".to_string(),
        "ABUSE@binhduong.gov.vn".to_string(),
        dmarc_rua,
    ] {
        c.cmd("MAIL FROM:<reporter@example.org>", "250").await;
        c.cmd(&format!("RCPT TO:<{rcpt}>"), "250").await;
        let reply = data(
            &mut c,
            &message("reporter@example.org", &rcpt, "Báo cáo lạm dụng", "x"),
        )
        .await;
        assert!(reply.starts_with("250"), "{rcpt}: {reply}");
        to_admins += 1;
        assert_eq!(
            server.inbox(server.account_b).await.len(),
            to_admins,
            "<{rcpt}> reaches the admin group"
        );
    }
    c.cmd("MAIL FROM:<reporter@example.org>", "250").await;
    c.cmd(&format!("RCPT TO:<abuse@{DOMAIN}>"), "250").await;
    let reply = data(
        &mut c,
        &message("reporter@example.org", "abuse", "alias", "x"),
    )
    .await;
    assert!(reply.starts_with("250"), "{reply}");
    assert_eq!(server.inbox(server.account_a).await.len(), 1);
    assert_eq!(server.inbox(server.account_b).await.len(), to_admins);
    c.cmd("MAIL FROM:<reporter@example.org>", "250").await;
    c.cmd(&format!("RCPT TO:<webmaster@{DOMAIN}>"), "550 5.1.1")
        .await;
}

/// MX lookups with the database failing answer 451 4.3.0 (RFC 5321 4.2.5: the sender keeps the
/// mail and retries), never a 5xx nor a wrong 250.
///
/// Before fb8f56a the local-domain check of MAIL FROM read a failure as "not ours"
/// (`unwrap_or(false)`): `MAIL FROM:<someone@kontum.gov.vn>` and `MAIL FROM:<sender@example.org>`
/// got 250 on MX. (RCPT to a local user, address or domain lookup, already answered 451.)
#[tokio::test]
async fn mx_lookup_faults_are_451() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    let server = start_with(|_| {}, None).await;
    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO client.example.org", "250").await;
    // Broken before the first domain lookup (the server caches the domain list for 5 s).
    break_table(&server, "domains").await;
    c.cmd(&format!("MAIL FROM:<someone@{DOMAIN}>"), "451 4.3.0")
        .await;
    c.cmd("MAIL FROM:<sender@example.org>", "451 4.3.0").await;
    mend_table(&server, "domains").await;
    // Mended: the permanent answers come back.
    c.cmd(&format!("MAIL FROM:<someone@{DOMAIN}>"), "550 5.7.1")
        .await;
    c.cmd("MAIL FROM:<sender@example.org>", "250").await;

    // RCPT to a local user: the address lookup fails.
    break_table(&server, "addresses").await;
    c.cmd(&format!("RCPT TO:<{USER_A}>"), "451 4.3.0").await;
    mend_table(&server, "addresses").await;

    // The domain list once the cache has expired.
    break_table(&server, "domains").await;
    tokio::time::sleep(Duration::from_millis(5300)).await;
    c.cmd(&format!("RCPT TO:<{USER_A}>"), "451 4.3.0").await;
    mend_table(&server, "domains").await;

    c.cmd(&format!("RCPT TO:<{USER_A}>"), "250").await;
    let reply = data(
        &mut c,
        &message("sender@example.org", USER_A, "sau sự cố", "x"),
    )
    .await;
    assert!(reply.starts_with("250"), "{reply}");
    assert_eq!(server.inbox(server.account_a).await.len(), 1);
}

/// A bare postmaster needs the domain list to name the hosted domain (RFC 5321 4.5.1): with
/// the list unreadable the answer is 451 4.3.0, not a refusal.
///
/// Before fb8f56a a bare postmaster was a syntax error whatever the database did (501 5.1.3).
#[tokio::test]
async fn bare_postmaster_lookup_fault_is_451() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    let server = start_with(|_| {}, None).await;
    server
        .store
        .add_alias(&format!("postmaster@{DOMAIN}"), USER_B, None)
        .await
        .unwrap();
    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO client.example.org", "250").await;
    c.cmd("MAIL FROM:<sender@example.org>", "250").await;
    // Broken once the domain list read by MAIL has expired from the 5 s cache.
    break_table(&server, "domains").await;
    tokio::time::sleep(Duration::from_millis(5300)).await;
    c.cmd("RCPT TO:<postmaster>", "451 4.3.0").await;
    mend_table(&server, "domains").await;
    c.cmd("RCPT TO:<postmaster>", "250").await;
    let reply = data(
        &mut c,
        &message("sender@example.org", "postmaster", "sau sự cố", "x"),
    )
    .await;
    assert!(reply.starts_with("250"), "{reply}");
    assert_eq!(server.inbox(server.account_b).await.len(), 1);
}

/// Submission: the From: header check reads the addresses the user may send as; a failing
/// read is 451 4.3.0, not "you may not send as" (550 5.7.1).
///
/// Before fb8f56a the failure became an empty list (`unwrap_or_default`), so every From:
/// was "not yours": 550 5.7.1, a permanent refusal of an honest message.
#[tokio::test]
async fn submission_sender_check_fault_is_451() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    let server = start_with(|s| s.allow_plaintext_loopback = true, None).await;
    let mut c = Client::connect(server.submission).await;
    c.cmd("EHLO client.example.org", "250").await;
    c.cmd(&format!("AUTH PLAIN {}", plain(USER_A, PASSWORD_A)), "235")
        .await;
    let body = message(USER_A, USER_B, "Báo cáo", "Nội dung");
    c.cmd(&format!("MAIL FROM:<{USER_A}>"), "250").await;
    c.cmd(&format!("RCPT TO:<{USER_B}>"), "250").await;
    break_table(&server, "addresses").await;
    let reply = data(&mut c, &body).await;
    assert!(reply.starts_with("451 4.3.0"), "{reply}");
    // MAIL's own sender check, still broken.
    c.cmd(&format!("MAIL FROM:<{USER_A}>"), "451 4.3.0").await;
    mend_table(&server, "addresses").await;
    assert!(server.inbox(server.account_b).await.is_empty());
    let reply = c.send_mail(USER_A, &[USER_B], &body).await;
    assert!(reply.starts_with("250"), "{reply}");
    assert_eq!(server.inbox(server.account_b).await.len(), 1);
}

/// A forward rule whose target cannot be looked up: 451 4.3.0 for the whole message (it is
/// retried, then forwarded), not a delivery that silently skips the forward.
///
/// Before fb8f56a the lookup error counted as a refused forward: 250, the message left in
/// USER_A's mailbox and never forwarded to USER_B (event forward.refused).
#[tokio::test]
async fn forward_target_lookup_fault_is_451() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    let server = start_with(|_| {}, None).await;
    server
        .store
        .set_forward(USER_A, USER_B, false, "")
        .await
        .unwrap();
    let body = message("sender@example.org", USER_A, "chuyển tiếp", "x");
    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO client.example.org", "250").await;
    c.cmd("MAIL FROM:<sender@example.org>", "250").await;
    c.cmd(&format!("RCPT TO:<{USER_A}>"), "250").await;
    // The forward rules (forwards, accounts) stay readable; the target's address does not.
    break_table(&server, "addresses").await;
    let reply = data(&mut c, &body).await;
    assert!(reply.starts_with("451 4.3.0"), "{reply}");
    mend_table(&server, "addresses").await;
    assert!(server.inbox(server.account_a).await.is_empty());
    assert!(server.inbox(server.account_b).await.is_empty());
    let reply = c.send_mail("sender@example.org", &[USER_A], &body).await;
    assert!(reply.starts_with("250"), "{reply}");
    assert!(
        server.inbox(server.account_a).await.is_empty(),
        "no copy kept"
    );
    assert_eq!(server.inbox(server.account_b).await.len(), 1, "forwarded");
}

/// An audit event that cannot be recorded is a storage failure like any other: 451 4.3.0 and
/// nothing delivered, so the event is never missing for a delivered message (here the refused
/// forward to a public webmail provider, BD-11, KT-9).
///
/// Before the delivery decision was split from its action, event errors were ignored (250
/// without the `forward.refused` record), as was a failing owner lookup of a unit send.
#[tokio::test]
async fn unrecorded_audit_event_is_451() {
    let _shared = MEMORY_MEASUREMENT.read().await;
    let server = start_with(|_| {}, None).await;
    server
        .store
        .set_forward(USER_A, "someone@gmail.com", false, "")
        .await
        .unwrap();
    let body = message("sender@example.org", USER_A, "chuyển tiếp", "x");
    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO client.example.org", "250").await;
    c.cmd("MAIL FROM:<sender@example.org>", "250").await;
    c.cmd(&format!("RCPT TO:<{USER_A}>"), "250").await;
    break_table(&server, "events").await;
    let reply = data(&mut c, &body).await;
    assert!(reply.starts_with("451 4.3.0"), "{reply}");
    mend_table(&server, "events").await;
    assert!(server.inbox(server.account_a).await.is_empty());
    let reply = c.send_mail("sender@example.org", &[USER_A], &body).await;
    assert!(reply.starts_with("250"), "{reply}");
    assert_eq!(server.inbox(server.account_a).await.len(), 1, "kept");
    let events = server.store.events("forward.", 100).await.unwrap();
    assert!(
        events.iter().any(|e| e.action == "forward.refused"),
        "{events:?}"
    );
}
