//! The binary wires Sieve end to end: `user vacation` (CLI) makes the script, `serve` runs it
//! at MX delivery and queues the reply; `listen.managesieve` serves ManageSieve (RFC 5804),
//! offering STARTTLS and no password before it.

use crate::served;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use served::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_govmail");
const USER: &str = "nvan.stttt@kontum.gov.vn";

fn read_until_final(reader: &mut BufReader<TcpStream>, final_prefixes: &[&str]) -> String {
    let mut out = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return out;
        }
        out.push_str(&line);
        if final_prefixes.iter().any(|p| line.starts_with(p)) {
            return out;
        }
    }
}

#[test]
fn vacation_cli_then_mx_delivery_queues_one_reply_and_managesieve_listens() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cli = |args: &[&str], stdin: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.env_remove("GOVMAIL_CONFIG")
            .arg("--no-config")
            .arg("--set")
            .arg(format!("server.data_dir={}", data.display()))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    cli(
        &["domain", "add", "kontum.gov.vn", "--naming", "kontum"],
        None,
    );
    cli(
        &[
            "user",
            "add",
            "--name",
            "Nguyễn Văn An",
            "--address",
            USER,
            "--password-stdin",
        ],
        Some("mat-khau-dai-123\n"),
    );
    // A window around today (local dates, reports.utc_offset's default +07:00).
    let now = storage::now();
    let day = |offset: i64| {
        sieve::date::Civil::from_unix(now + offset * 86_400, 7 * 60)
            .part(sieve::date::DatePart::Date)
    };
    let reply = tmp.path().join("reply.txt");
    std::fs::write(&reply, "Tôi đi công tác, xin gửi lại sau.\n").unwrap();
    cli(
        &[
            "user",
            "vacation",
            USER,
            "--from",
            &day(-1),
            "--to",
            &day(1),
            "--subject",
            "Vắng mặt",
            "--message-file",
            reply.to_str().unwrap(),
        ],
        None,
    );

    let (mx, sieve_port) = (free_port(), free_port());
    let sets = vec![
        format!("server.data_dir={}", data.display()),
        "server.hostname=mail.kontum.gov.vn".to_string(),
        "antivirus.enabled=false".to_string(),
        "smtp.check_sender_authentication=false".to_string(),
        "outbound.enabled=false".to_string(),
        format!("listen.smtp=[\"127.0.0.1:{mx}\"]"),
        "listen.submission=[]".to_string(),
        "listen.submissions=[]".to_string(),
        "listen.imap=[]".to_string(),
        "listen.imaps=[]".to_string(),
        "listen.http=[]".to_string(),
        format!("listen.managesieve=[\"127.0.0.1:{sieve_port}\"]"),
    ];
    let server = served::serve(&sets, tmp.path().join("serve.stderr"));
    let sieve_addr = server.addr("managesieve", sieve_port);

    // Two messages from the same outside sender: one reply (RFC 5230 4.2).
    for n in 0..2 {
        let stream = TcpStream::connect(("127.0.0.1", mx)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut reader = BufReader::new(stream);
        let mut say = |line: &str, code: &str| {
            if !line.is_empty() {
                reader
                    .get_mut()
                    .write_all(format!("{line}\r\n").as_bytes())
                    .unwrap();
            }
            let reply = read_until_final(&mut reader, &["2", "3", "4", "5"]);
            assert!(reply.starts_with(code), "{line}: {reply}");
        };
        say("", "220");
        say("HELO partner.example.org", "250");
        say("MAIL FROM:<ban.be@partner.example.org>", "250");
        say(&format!("RCPT TO:<{USER}>"), "250");
        say("DATA", "354");
        say(&format!("From: <ban.be@partner.example.org>\r\nTo: <{USER}>\r\nSubject: Hop {n}\r\nMessage-ID: <{n}.{now}@partner.example.org>\r\n\r\nx\r\n."), "250");
        say("QUIT", "221");
    }
    let queue = cli(&["queue", "list", "--json"], None);
    let entries: serde_json::Value = serde_json::from_str(&queue).unwrap();
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{queue}");
    assert_eq!(entries[0]["recipient"], "ban.be@partner.example.org");
    assert_eq!(
        entries[0]["sender"], "",
        "from the null return path (RFC 3834 3.3)"
    );

    // ManageSieve: the greeting is the capability list (RFC 5804 1.7), STARTTLS offered, no
    // SASL mechanism before TLS, AUTHENTICATE refused with ENCRYPT-NEEDED (RFC 5804 2.1).
    let stream = TcpStream::connect(sieve_addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut reader = BufReader::new(stream);
    let greeting = read_until_final(&mut reader, &["OK", "NO", "BYE"]);
    assert!(
        greeting.contains("\"IMPLEMENTATION\" \"govmail\""),
        "{greeting}"
    );
    assert!(greeting.contains("\"STARTTLS\""), "{greeting}");
    assert!(greeting.contains("\"SASL\" \"\""), "{greeting}");
    reader
        .get_mut()
        .write_all(b"AUTHENTICATE \"PLAIN\" \"AG52YW4AeA==\"\r\n")
        .unwrap();
    let answer = read_until_final(&mut reader, &["OK", "NO", "BYE"]);
    assert!(answer.starts_with("NO (ENCRYPT-NEEDED)"), "{answer}");
    drop(server);
}
