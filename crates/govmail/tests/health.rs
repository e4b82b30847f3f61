//! Operations over HTTP with the real binary: /readyz follows clamd going away and coming
//! back, /metrics parses with Python's prometheus_client, autoconfig documents are valid XML
//! naming the right host, ports and socket types.

use crate::served;

use served::free_port;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_govmail");

/// GET (or POST with a body) over plain HTTP/1.1; returns (status, body).
fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn python(script: &str, input: &str) -> std::process::Output {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn clamd(script: &str, action: &str, dir: &std::path::Path, port: u16) {
    let mut cmd = Command::new(script);
    cmd.arg(action).arg(dir);
    if action == "start" {
        cmd.arg(port.to_string());
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "clamd-private {action}: {out:?}");
}

fn wait_ready(port: u16, want: u16, within: Duration) -> String {
    let start = Instant::now();
    loop {
        let (status, body) = http(port, "GET", "/readyz", "");
        if status == want {
            return body;
        }
        assert!(
            start.elapsed() < within,
            "/readyz stayed {status} (wanted {want}): {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn readyz_metrics_and_autoconfig() {
    let script = std::env::var("GOVMAIL_TEST_CLAMD_SCRIPT")
        .expect("GOVMAIL_TEST_CLAMD_SCRIPT is not set: run the tests with scripts/test");
    let tmp = tempfile::tempdir().unwrap();
    let clamd_port = free_port();
    let clamd_dir = tmp.path().join("clamd");
    clamd(&script, "start", &clamd_dir, clamd_port);
    let http_port = free_port();
    let smtp_port = free_port();
    let data = tmp.path().join("data");
    let sets = [
        format!("server.data_dir={}", data.display()),
        "server.hostname=mail.kontum.gov.vn".to_string(),
        format!("antivirus.clamd=tcp://127.0.0.1:{clamd_port}"),
        "antivirus.timeout_secs=2".to_string(),
        format!("listen.smtp=[\"127.0.0.1:{smtp_port}\"]"),
        "listen.submission=[]".to_string(),
        "listen.submissions=[]".to_string(),
        "listen.imap=[]".to_string(),
        "listen.imaps=[]".to_string(),
        format!("listen.http=[\"127.0.0.1:{http_port}\"]"),
        "smtp.check_sender_authentication=false".to_string(),
        // No outbound delivery: it would look up other domains in DNS.
        "outbound.enabled=false".to_string(),
        "health.min_free_mb=1".to_string(),
    ];
    let setup = |args: &[&str]| {
        let mut cmd = Command::new(BIN);
        cmd.arg("--no-config")
            .arg("--set")
            .arg(format!("server.data_dir={}", data.display()));
        let out = cmd.args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
    };
    setup(&["domain", "add", "kontum.gov.vn"]);
    let _server = served::serve(&sets, data.with_extension("stderr"));

    let body = wait_ready(http_port, 200, Duration::from_secs(10));
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["clamd"]["ok"], true);
    assert!(
        ready["tls"]["certificate_days_left"].as_i64().unwrap() > 300,
        "{ready}"
    );
    assert!(ready["disk"]["free_bytes"].as_u64().unwrap() > 0);
    assert_eq!(ready["queue"]["pending"], 0);
    // clamd stops: not ready within seconds; back: ready again.
    clamd(&script, "stop", &clamd_dir, clamd_port);
    let body = wait_ready(http_port, 503, Duration::from_secs(10));
    assert!(
        body.contains("\"clamd\":{\"enabled\":true") || body.contains("\"ok\":false"),
        "{body}"
    );
    clamd(&script, "start", &clamd_dir, clamd_port);
    wait_ready(http_port, 200, Duration::from_secs(10));

    // Some traffic so the counters exist: a relay attempt refused.
    let mut smtp = TcpStream::connect(("127.0.0.1", smtp_port)).unwrap();
    smtp.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    smtp.write_all(b"EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nQUIT\r\n")
        .unwrap();
    let mut sink = String::new();
    let _ = smtp.read_to_string(&mut sink);
    assert!(sink.contains("550 5.7.1"), "{sink}");

    let (status, metrics) = http(http_port, "GET", "/metrics", "");
    assert_eq!(status, 200);
    let parsed = python(
        "import sys\nfrom prometheus_client.parser import text_string_to_metric_families as f\n\
names = {m.name for m in f(sys.stdin.read())}\nprint(' '.join(sorted(names)))",
        &metrics,
    );
    assert!(
        parsed.status.success(),
        "prometheus_client could not parse: {}\n{metrics}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let names = String::from_utf8_lossy(&parsed.stdout).to_string();
    for expected in [
        "govmail_connections",
        "govmail_rcpt_refused",
        "govmail_queue_pending",
        "govmail_storage_bytes",
    ] {
        assert!(names.contains(expected), "{expected} missing from {names}");
    }

    // Autoconfig: valid XML naming the right host, ports and socket types.
    let check_xml = |doc: &str, needles: &[&str]| {
        let out = python(
            "import sys, xml.dom.minidom\nxml.dom.minidom.parseString(sys.stdin.read().encode())",
            doc,
        );
        assert!(
            out.status.success(),
            "invalid XML: {}\n{doc}",
            String::from_utf8_lossy(&out.stderr)
        );
        for needle in needles {
            assert!(doc.contains(needle), "{needle} missing in {doc}");
        }
    };
    for path in [
        "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=nvan.stttt@kontum.gov.vn",
        "/mail/config-v1.1.xml",
    ] {
        let (status, doc) = http(http_port, "GET", path, "");
        assert_eq!(status, 200, "{path}");
        check_xml(
            &doc,
            &[
                "<hostname>mail.kontum.gov.vn</hostname>",
                "<port>993</port>",
                "<port>465</port>",
                "<socketType>SSL</socketType>",
            ],
        );
    }
    let request = "<?xml version=\"1.0\"?><Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\"><Request><EMailAddress>nvan.stttt@kontum.gov.vn</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>";
    let (status, doc) = http(http_port, "POST", "/autodiscover/autodiscover.xml", request);
    assert_eq!(status, 200);
    check_xml(
        &doc,
        &[
            "<Server>mail.kontum.gov.vn</Server>",
            "<Port>993</Port>",
            "<LoginName>nvan.stttt@kontum.gov.vn</LoginName>",
        ],
    );
    let (status, doc) = http(
        http_port,
        "GET",
        "/apple.mobileconfig?email=nvan.stttt@kontum.gov.vn",
        "",
    );
    assert_eq!(status, 200);
    check_xml(
        &doc,
        &[
            "<string>mail.kontum.gov.vn</string>",
            "<integer>993</integer>",
            "com.apple.mail.managed",
        ],
    );
    let plist = python(
        "import sys, plistlib\nplistlib.loads(sys.stdin.read().encode())",
        &doc,
    );
    assert!(
        plist.status.success(),
        "{}",
        String::from_utf8_lossy(&plist.stderr)
    );
    clamd(&script, "stop", &clamd_dir, clamd_port);
}
