//! Outbound delivery with the real binary: a message submitted for another organisation is
//! being delivered when the server is SIGKILLed; after a restart it is delivered, once.
//! DNS comes from a server the test controls; the receiving MTA is a sink in the test.

use crate::served;

use served::{free_port, Served};

use crate::dns;

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_govmail");

/// An SMTP sink: records every message; while `stall` is set it never answers the final dot.
async fn sink(
    listener: tokio::net::TcpListener,
    received: Arc<Mutex<Vec<String>>>,
    stall: Arc<Mutex<bool>>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let received = received.clone();
        let stall = stall.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut lines = tokio::io::BufReader::new(read);
            let _ = write.write_all(b"220 sink.example.org ESMTP\r\n").await;
            let mut in_data = false;
            let mut message = String::new();
            loop {
                let mut line = String::new();
                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if in_data {
                    if line == ".\r\n" {
                        in_data = false;
                        if *stall.lock().unwrap() {
                            // Hold the transaction open until the sender goes away.
                            std::future::pending::<()>().await;
                        }
                        received.lock().unwrap().push(std::mem::take(&mut message));
                        let _ = write.write_all(b"250 2.0.0 queued\r\n").await;
                    } else {
                        message.push_str(&line);
                    }
                    continue;
                }
                let upper = line.to_ascii_uppercase();
                let reply: &[u8] = if upper.starts_with("EHLO") {
                    b"250-sink.example.org\r\n250 8BITMIME\r\n"
                } else if upper.starts_with("DATA") {
                    in_data = true;
                    b"354 go on\r\n"
                } else if upper.starts_with("QUIT") {
                    let _ = write.write_all(b"221 bye\r\n").await;
                    return;
                } else {
                    b"250 ok\r\n"
                };
                let _ = write.write_all(reply).await;
            }
        });
    }
}

fn start(data: &std::path::Path, sets: &[String]) -> Served {
    let mut all = vec![format!("server.data_dir={}", data.display())];
    all.extend_from_slice(sets);
    served::serve(&all, data.with_extension("stderr"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_interrupted_by_sigkill_completes_after_restart() {
    let dns = dns::TestDns::start().await;
    let sink_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sink_port = sink_listener.local_addr().unwrap().port();
    dns.mx("example.org", 10, "mx.example.org");
    dns.a("mx.example.org", std::net::Ipv4Addr::LOCALHOST);
    let received = Arc::new(Mutex::new(vec![]));
    let stall = Arc::new(Mutex::new(true));
    tokio::spawn(sink(sink_listener, received.clone(), stall.clone()));

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cli = |args: &[&str], stdin: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.arg("--no-config")
            .arg("--set")
            .arg(format!("server.data_dir={}", data.display()))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(text) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}");
    };
    cli(&["domain", "add", "kontum.gov.vn"], None);
    cli(
        &[
            "user",
            "add",
            "--name",
            "Nguyễn Văn An",
            "--address",
            "nvan@kontum.gov.vn",
            "--password-stdin",
        ],
        Some("mat-khau-123456\n"),
    );
    let submission = free_port();
    let sets = vec![
        "antivirus.enabled=false".to_string(),
        "smtp.check_sender_authentication=false".to_string(),
        "tls.allow_plaintext_loopback=true".to_string(),
        "listen.smtp=[]".to_string(),
        format!("listen.submission=[\"127.0.0.1:{submission}\"]"),
        "listen.submissions=[]".to_string(),
        "listen.managesieve=[]".to_string(),
        "listen.ldap=[]".to_string(),
        "listen.ldaps=[]".to_string(),
        "listen.imap=[]".to_string(),
        "listen.imaps=[]".to_string(),
        "listen.http=[]".to_string(),
        format!("dns.resolvers=[\"{}\"]", dns.addr),
        format!("outbound.port={sink_port}"),
        "outbound.lease=\"3s\"".to_string(),
        "outbound.poll_interval=\"1s\"".to_string(),
        "outbound.retry_schedule=[\"1s\"]".to_string(),
        "outbound.data_timeout=\"60s\"".to_string(),
    ];
    let server = start(&data, &sets);

    // Submit one message for example.org.
    use base64::Engine;
    let auth =
        base64::engine::general_purpose::STANDARD.encode("\0nvan@kontum.gov.vn\0mat-khau-123456");
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", submission))
        .await
        .unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = tokio::io::BufReader::new(read);
    let mut reply = String::new();
    lines.read_line(&mut reply).await.unwrap();
    for (command, code) in [
        ("EHLO client".to_string(), "250 "),
        (format!("AUTH PLAIN {auth}"), "235"),
        ("MAIL FROM:<nvan@kontum.gov.vn>".to_string(), "250"),
        ("RCPT TO:<partner@example.org>".to_string(), "250"),
        ("DATA".to_string(), "354"),
        ("From: <nvan@kontum.gov.vn>\r\nTo: <partner@example.org>\r\nSubject: Giấy mời họp\r\nMessage-ID: <durable-out@kontum.gov.vn>\r\n\r\nKính mời.\r\n.".to_string(), "250"),
    ] {
        write.write_all(format!("{command}\r\n").as_bytes()).await.unwrap();
        loop {
            reply.clear();
            lines.read_line(&mut reply).await.unwrap();
            if reply.len() < 4 || reply.as_bytes()[3] != b'-' {
                break;
            }
        }
        assert!(reply.starts_with(code), "{command:?}: {reply}");
    }

    // The worker is now inside the transaction (the sink holds the final dot): kill -9.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(received.lock().unwrap().is_empty());
    drop(server);
    *stall.lock().unwrap() = false;

    // After a restart the lease expires and the message goes out, once.
    let _server = start(&data, &sets);
    let mut delivered = vec![];
    for _ in 0..100 {
        delivered = received.lock().unwrap().clone();
        if !delivered.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        delivered.len(),
        1,
        "delivered exactly once after the restart"
    );
    assert!(
        delivered[0].contains("Message-ID: <durable-out@kontum.gov.vn>"),
        "{}",
        delivered[0]
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(received.lock().unwrap().len(), 1, "not delivered twice");
}

#[test]
fn dkim_generate_dns_records_and_queue_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .arg("--no-config")
            .arg("--set")
            .arg(format!("server.data_dir={}", data.display()))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert!(run(&["domain", "add", "kontum.gov.vn"]).0);
    let (ok, generated, err) = run(&["dkim", "generate", "kontum.gov.vn", "--selector", "s2026"]);
    assert!(ok, "{err}");
    assert!(
        generated.contains("s2026._domainkey.kontum.gov.vn") && generated.contains("v=DKIM1"),
        "{generated}"
    );
    let (ok, records, err) = run(&["dns", "kontum.gov.vn"]);
    assert!(ok, "{err}");
    for needle in [
        "MX",
        "v=spf1",
        "_dmarc.kontum.gov.vn",
        "v=DMARC1",
        "_submission",
        "_imaps._tcp",
    ] {
        assert!(records.contains(needle), "{needle} missing in {records}");
    }
    let (ok, list, err) = run(&["--json", "queue", "list"]);
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&list).unwrap(),
        serde_json::json!([])
    );
    let (ok, _, err) = run(&["queue", "show", "12345"]);
    assert!(!ok && !err.is_empty(), "an unknown entry is an error");
}
