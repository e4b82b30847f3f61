//! Issue 18, inbound content: dangerous attachments and virus scanning at full speed (clamd
//! sessions kept open, fed while the message arrives, once per message).
//!
//! Reply codes: RFC 5321 4.2.2 (554 "Transaction failed", 451 "Requested action aborted:
//! local error in processing", 250 "Requested mail action okay, completed"); enhanced codes
//! RFC 3463 3.8: X.7.1 "Delivery not authorized, message refused".
//! Needs the clamd scripts/test starts (GOVMAIL_TEST_CLAMD, GOVMAIL_TEST_CLAMD_SCRIPT).

use crate::common;

use base64::Engine;
use common::*;
use policy::zipdir::build;

/// A message from outside with one attachment (base64), `filename` given as is in the
/// Content-Disposition (it may be an RFC 2231 `filename*=` parameter).
fn with_attachment(filename_param: &str, content_type: &str, bytes: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut lines = String::new();
    for chunk in encoded.as_bytes().chunks(76) {
        lines.push_str(std::str::from_utf8(chunk).unwrap());
        lines.push_str("\r\n");
    }
    format!(
        "From: <sender@example.org>\r\nTo: <{USER_A}>\r\nSubject: tai lieu\r\n\
Message-ID: <att-{}@example.org>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0700\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
Gửi anh tài liệu.\r\n--b1\r\nContent-Type: {content_type}\r\nContent-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; {filename_param}\r\n\r\n{lines}--b1--\r\n",
        storage::now()
    )
}

async fn send(server: &TestServer, body: &str) -> String {
    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO client.example.org", "250").await;
    c.send_mail("sender@example.org", &[USER_A], body).await
}

fn reply_text(reply: &str) -> &str {
    reply.trim_end()
}

#[tokio::test]
async fn exe_inside_zip_is_refused_naming_it() {
    let server = start_with(|_| {}, Some(clamd_url())).await;
    let zip = build(&[("doc.txt", b"hello", true), ("x.exe", b"MZ\x90\x00", true)]);
    let reply = send(
        &server,
        &with_attachment("filename=\"y.zip\"", "application/zip", &zip),
    )
    .await;
    // RFC 5321 4.2.2 554 + RFC 3463 5.7.1, the text naming the file and its archive.
    assert_eq!(
        reply_text(&reply),
        "554 5.7.1 attachment \"x.exe\" inside \"y.zip\" is not accepted: executable"
    );
    assert!(server.inbox(server.account_a).await.is_empty());
    let events = server.store.events("attachment.", 10).await.unwrap();
    assert_eq!(events.len(), 1, "the refusal is logged");
}

#[tokio::test]
async fn double_extension_with_vietnamese_name_is_refused() {
    let server = start_with(|_| {}, Some(clamd_url())).await;
    // RFC 2231 4: filename*=charset''percent-encoded — "hóa-đơn.pdf.exe".
    let reply = send(
        &server,
        &with_attachment(
            "filename*=UTF-8''h%C3%B3a-%C4%91%C6%A1n.pdf.exe",
            "application/pdf",
            b"%PDF-1.4 not really",
        ),
    )
    .await;
    assert_eq!(
        reply_text(&reply),
        "554 5.7.1 attachment \"hoa-don.pdf.exe\" is not accepted: double extension \
         (an executable named like a document)"
    );
    assert!(server.inbox(server.account_a).await.is_empty());
}

#[tokio::test]
async fn office_files_with_macros_are_refused() {
    let server = start_with(|_| {}, Some(clamd_url())).await;
    let docm = build(&[
        ("[Content_Types].xml", b"<Types/>", true),
        ("word/document.xml", b"<w:document/>", true),
        ("word/vbaProject.bin", b"\xD0\xCF\x11\xE0", true),
    ]);
    // By name.
    let reply = send(
        &server,
        &with_attachment(
            "filename=\"bao-cao.docm\"",
            "application/vnd.ms-word.document.macroEnabled.12",
            &docm,
        ),
    )
    .await;
    assert_eq!(
        reply_text(&reply),
        "554 5.7.1 attachment \"bao-cao.docm\" is not accepted: Office document with macros"
    );
    // Named .docx with a generic type: found by its vbaProject.bin.
    let reply = send(
        &server,
        &with_attachment(
            "filename=\"bao-cao.docx\"",
            "application/octet-stream",
            &docm,
        ),
    )
    .await;
    assert_eq!(
        reply_text(&reply),
        "554 5.7.1 attachment \"bao-cao.docx\" is not accepted: Office document with macros"
    );
    assert!(server.inbox(server.account_a).await.is_empty());
}

#[tokio::test]
async fn zip_bombs_are_refused_within_bounds() {
    let server = start_with(
        |s| {
            s.attachments.max_depth = 3;
            s.attachments.max_expanded_bytes = 1024 * 1024;
        },
        Some(clamd_url()),
    )
    .await;
    // Deep nesting: a.zip (1) ⊃ l3.zip (2) ⊃ l2.zip (3) ⊃ l1.zip: one level too many.
    let mut nested = build(&[("leaf.txt", b"x", false)]);
    for name in ["l1.zip", "l2.zip", "l3.zip"] {
        nested = build(&[(name, &nested, true)]);
    }
    let reply = send(
        &server,
        &with_attachment("filename=\"a.zip\"", "application/zip", &nested),
    )
    .await;
    assert_eq!(
        reply_text(&reply),
        "554 5.7.1 attachment \"l1.zip\" inside \"l2.zip\" inside \"l3.zip\" inside \"a.zip\" \
         is not accepted: archives nested too deeply to inspect"
    );
    // Ratio: an inner archive of 2 MiB of zeros is a few KiB deflated; the 1 MiB budget
    // stops the inflation (the server reads at most budget + 1 bytes of it).
    let zeros = vec![0u8; 2 * 1024 * 1024];
    let inner = build(&[("zeros.bin", &zeros, false)]);
    let bomb = build(&[("inner.zip", &inner, true)]);
    assert!(bomb.len() < 32 * 1024);
    let reply = send(
        &server,
        &with_attachment("filename=\"b.zip\"", "application/zip", &bomb),
    )
    .await;
    assert_eq!(
        reply_text(&reply),
        "554 5.7.1 attachment \"b.zip\" is not accepted: archive expands beyond the \
         inspection limit"
    );
    assert!(server.inbox(server.account_a).await.is_empty());
}

#[tokio::test]
async fn clean_zip_is_accepted_and_quarantine_files_into_junk() {
    let server = start_with(|_| {}, Some(clamd_url())).await;
    let inner = build(&[("bang-ke.csv", b"a,b\r\n1,2\r\n", true)]);
    let zip = build(&[
        ("công văn.pdf", b"%PDF-1.4\n", true),
        ("phu-luc/inner.zip", &inner, true),
    ]);
    let reply = send(
        &server,
        &with_attachment("filename=\"ho-so.zip\"", "application/zip", &zip),
    )
    .await;
    assert!(reply.starts_with("250 "), "{reply}");
    assert_eq!(server.inbox(server.account_a).await.len(), 1);

    let quarantine = start_with(
        |s| s.attachments.handling = policy::attachments::Handling::Quarantine,
        Some(clamd_url()),
    )
    .await;
    let bad = build(&[("x.exe", b"MZ", true)]);
    let reply = send(
        &quarantine,
        &with_attachment("filename=\"y.zip\"", "application/zip", &bad),
    )
    .await;
    assert!(reply.starts_with("250 "), "{reply}");
    assert!(quarantine.inbox(quarantine.account_a).await.is_empty());
    let junk = quarantine
        .folder_messages(quarantine.account_a, "Junk")
        .await;
    assert_eq!(junk.len(), 1);
    let text = String::from_utf8_lossy(&junk[0]);
    assert!(
        text.contains("X-Attachment-Quarantined: attachment \"x.exe\" inside \"y.zip\""),
        "{text}"
    );
}

#[tokio::test]
async fn one_scan_per_message_over_one_kept_session() {
    let server = start_with(|_| {}, Some(clamd_url())).await;
    let clamd = server.clamd.clone().unwrap();
    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO client.example.org", "250").await;
    for i in 0..3 {
        let body = message("sender@example.org", USER_A, &format!("số {i}"), "Nội dung");
        let reply = c
            .send_mail("sender@example.org", &[USER_A, USER_B, GROUP], &body)
            .await;
        assert!(reply.starts_with("250 "), "{reply}");
    }
    assert_eq!(
        clamd.scans_started(),
        3,
        "once per message, not per recipient"
    );
    assert_eq!(
        clamd.connections_opened(),
        1,
        "one clamd session for all three"
    );
}

#[tokio::test]
async fn eicar_split_across_bdat_chunks_is_found() {
    let server = start_with(|_| {}, Some(clamd_url())).await;
    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO client.example.org", "250-").await;
    c.cmd("MAIL FROM:<sender@example.org>", "250").await;
    c.cmd(&format!("RCPT TO:<{USER_A}>"), "250").await;
    let head =
        format!("From: <sender@example.org>\r\nTo: <{USER_A}>\r\nSubject: chunks\r\n\r\nstart\r\n");
    let (first, second) = EICAR.split_at(30);
    let chunk1 = format!("{head}{first}");
    let chunk2 = format!("{second}\r\nend\r\n");
    // RFC 3030 2: BDAT <SP> chunk-size [<SP> LAST]; each chunk is answered 250.
    c.send(format!("BDAT {}\r\n{chunk1}", chunk1.len()).as_bytes())
        .await;
    let reply = c.read_reply().await;
    assert!(reply.starts_with("250 "), "{reply}");
    c.send(format!("BDAT {} LAST\r\n{chunk2}", chunk2.len()).as_bytes())
        .await;
    let reply = c.read_reply().await;
    // Each chunk went to clamd as its own INSTREAM chunk; clamd reads them as one stream.
    assert!(reply.starts_with("554 5.7.1"), "{reply}");
    assert!(reply.contains("Eicar"), "{reply}");
    assert!(server.inbox(server.account_a).await.is_empty());
    assert_eq!(server.clamd.as_ref().unwrap().scans_started(), 1);
}

#[tokio::test]
async fn kept_session_survives_a_clamd_restart_and_fails_closed_when_down() {
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
    let clamd = server.clamd.clone().unwrap();
    let mut c = Client::connect(server.mx).await;
    c.cmd("EHLO client.example.org", "250").await;
    let body = |n: u32| {
        message(
            "sender@example.org",
            USER_A,
            &format!("thư {n}"),
            "Nội dung",
        )
    };
    assert!(c
        .send_mail("sender@example.org", &[USER_A], &body(1))
        .await
        .starts_with("250 "));
    assert_eq!(clamd.idle_sessions(), 1, "the session is kept");
    // clamd restarts: the kept session is dead; the next scan reconnects and succeeds.
    run("stop");
    run("start");
    let reply = c.send_mail("sender@example.org", &[USER_A], &body(2)).await;
    assert!(reply.starts_with("250 "), "{reply}");
    assert_eq!(clamd.connections_opened(), 2, "one reconnection");
    assert_eq!(server.inbox(server.account_a).await.len(), 2);
    // clamd down: fail closed, the sender retries (451 4.7.1, as before issue 18).
    run("stop");
    let reply = c.send_mail("sender@example.org", &[USER_A], &body(3)).await;
    assert!(reply.starts_with("451 4.7.1"), "{reply}");
    assert_eq!(server.inbox(server.account_a).await.len(), 2);
    // Back up: accepted again.
    run("start");
    let reply = c.send_mail("sender@example.org", &[USER_A], &body(4)).await;
    assert!(reply.starts_with("250 "), "{reply}");
    run("stop");
}
