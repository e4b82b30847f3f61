//! The staff lifecycle end to end with the real binary (issue: the province directory):
//! hire → first IMAP login refused with ALERT → password changed on the HTTPS page (curl) →
//! imaplib and smtplib work → transfer → mail to the old address still arrives → leave →
//! login refused, the open IDLE session closed, mail refused naming the unit's address.

use crate::served;

use served::free_port;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_govmail");

struct Install {
    data: std::path::PathBuf,
    _tmp: tempfile::TempDir,
}

impl Install {
    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(BIN)
            .arg("--no-config")
            .arg("--set")
            .arg(format!("server.data_dir={}", self.data.display()))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.cli(&all)).unwrap()
    }
}

/// A line client for IMAP/SMTP over plain TCP (the server allows it from loopback here).
struct Line {
    reader: BufReader<TcpStream>,
}

impl Line {
    fn connect(port: u16) -> Line {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Line {
            reader: BufReader::new(stream),
        }
    }

    fn read(&mut self) -> String {
        let mut line = String::new();
        let _ = self.reader.read_line(&mut line);
        line
    }

    fn send(&mut self, text: &str) {
        self.reader.get_mut().write_all(text.as_bytes()).unwrap();
    }

    /// IMAP: sends `tag command`, returns every line up to the tagged one.
    fn imap(&mut self, tag: &str, command: &str) -> String {
        self.send(&format!("{tag} {command}\r\n"));
        let mut all = String::new();
        loop {
            let line = self.read();
            all.push_str(&line);
            if line.is_empty() || line.starts_with(&format!("{tag} ")) {
                return all;
            }
        }
    }

    /// SMTP: sends a command, returns the (last line of the) reply.
    fn smtp(&mut self, command: &str) -> String {
        self.send(&format!("{command}\r\n"));
        loop {
            let line = self.read();
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return line;
            }
        }
    }
}

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sk", "--max-time", "20"])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn change_password(
    https: u16,
    jar: &std::path::Path,
    address: &str,
    current: &str,
    new: &str,
) -> String {
    let url = format!("https://127.0.0.1:{https}/password");
    let jar = jar.to_str().unwrap();
    let form = curl(&["-c", jar, "-b", jar, &url]);
    let token = form
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("csrf field in the form")
        .to_string();
    curl(&[
        "-c",
        jar,
        "-b",
        jar,
        "-w",
        "\nHTTP %{http_code}",
        "--data-urlencode",
        &format!("csrf={token}"),
        "--data-urlencode",
        &format!("address={address}"),
        "--data-urlencode",
        &format!("current={current}"),
        "--data-urlencode",
        &format!("new={new}"),
        "--data-urlencode",
        &format!("again={new}"),
        &url,
    ])
}

fn python(script: &str) -> std::process::Output {
    Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap()
}

#[test]
fn hire_change_password_transfer_leave() {
    let tmp = tempfile::tempdir().unwrap();
    let install = Install {
        data: tmp.path().join("data"),
        _tmp: tmp,
    };
    install.cli(&["domain", "add", "kontum.gov.vn", "--naming", "kontum"]);
    install.cli(&[
        "unit",
        "add",
        "--abbrev",
        "STTTT",
        "--name",
        "Sở Thông tin và Truyền thông",
    ]);
    install.cli(&["unit", "add", "--abbrev", "SNV", "--name", "Sở Nội vụ"]);
    let hired = install.json(&[
        "user",
        "hire",
        "--name",
        "Nguyễn Văn An",
        "--unit",
        "STTTT",
        "--ref",
        "15/QĐ-UBND",
    ]);
    let address = hired["address"].as_str().unwrap().to_string();
    let initial = hired["initial_password"].as_str().unwrap().to_string();
    assert_eq!(address, "nvan.stttt@kontum.gov.vn");

    let (mx, imap, imaps, https, http) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let sets = [
        format!("server.data_dir={}", install.data.display()),
        "server.hostname=mail.kontum.gov.vn".to_string(),
        "antivirus.enabled=false".to_string(),
        "smtp.check_sender_authentication=false".to_string(),
        // No outbound delivery: it would look up other domains in DNS.
        "outbound.enabled=false".to_string(),
        "tls.allow_plaintext_loopback=true".to_string(),
        format!("listen.smtp=[\"127.0.0.1:{mx}\"]"),
        "listen.submission=[]".to_string(),
        "listen.submissions=[]".to_string(),
        "listen.managesieve=[]".to_string(),
        "listen.ldap=[]".to_string(),
        "listen.ldaps=[]".to_string(),
        format!("listen.imap=[\"127.0.0.1:{imap}\"]"),
        format!("listen.imaps=[\"127.0.0.1:{imaps}\"]"),
        format!("listen.https=[\"127.0.0.1:{https}\"]"),
        format!("listen.http=[\"127.0.0.1:{http}\"]"),
    ];
    let _server = served::serve(&sets, install.data.with_extension("stderr"));

    // KT-7.1: the initial password opens nothing until changed.
    let mut c = Line::connect(imap);
    c.read();
    let refused = c.imap("a1", &format!("LOGIN {address} {initial}"));
    assert!(
        refused.contains("a1 NO [ALERT]") && refused.contains("/password"),
        "{refused}"
    );

    // Changed on the page (HTTPS, CSRF token, driven by curl).
    let jar = install.data.join("jar.txt");
    let new_password = "Mat-khau-moi-2026";
    let page = change_password(https, &jar, &address, &initial, new_password);
    assert!(page.ends_with("HTTP 200"), "{page}");

    // Now imaplib (over TLS) and smtplib work.
    let script = format!(
        "import imaplib, ssl, smtplib\n\
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE\n\
m = imaplib.IMAP4_SSL('127.0.0.1', {imaps}, ssl_context=ctx)\n\
m.login('{address}', '{new_password}')\n\
assert m.select('INBOX')[0] == 'OK'\n\
m.logout()\n\
s = smtplib.SMTP('127.0.0.1', {mx}); s.ehlo('test')\n\
s.sendmail('someone@example.org', ['{address}'], b'Subject: first\\r\\n\\r\\nhello\\r\\n')\n\
s.quit()\n"
    );
    let out = python(&script);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Transfer: a new address by rule, the old one still receives.
    let moved = install.json(&[
        "user",
        "transfer",
        &address,
        "--to-unit",
        "SNV",
        "--ref",
        "20/QĐ-UBND",
    ]);
    let new_address = moved["address"].as_str().unwrap().to_string();
    assert_eq!(new_address, "nvan.snv@kontum.gov.vn");
    assert!(
        moved["aliases"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == &address),
        "{moved}"
    );
    let mut s = Line::connect(mx);
    s.read();
    s.smtp("EHLO test");
    s.smtp("MAIL FROM:<someone@example.org>");
    assert!(
        s.smtp(&format!("RCPT TO:<{address}>")).starts_with("250"),
        "old address still accepted"
    );
    s.smtp("DATA");
    assert!(s
        .smtp("Subject: after transfer\r\n\r\nstill arrives\r\n.")
        .starts_with("250"));
    let mut c = Line::connect(imap);
    c.read();
    assert!(c
        .imap("b1", &format!("LOGIN {new_address} {new_password}"))
        .contains("b1 OK"));
    let inbox = c.imap("b2", "SELECT INBOX");
    assert!(
        inbox.contains("* 2 EXISTS"),
        "mail kept and the new one arrived: {inbox}"
    );

    // An IDLE session is open when the person leaves.
    c.send("b3 IDLE\r\n");
    assert!(c.read().starts_with('+'));
    install.cli(&[
        "user",
        "leave",
        &new_address,
        "--ref",
        "99/QĐ-UBND",
        "--reason",
        "retire",
    ]);
    let mut closed = String::new();
    let _ = c
        .reader
        .get_mut()
        .set_read_timeout(Some(Duration::from_secs(5)));
    let _ = c.reader.read_to_string(&mut closed);
    assert!(
        closed.contains("* BYE"),
        "the open IDLE session is closed: {closed:?}"
    );
    let mut c = Line::connect(imap);
    c.read();
    assert!(c
        .imap("c1", &format!("LOGIN {new_address} {new_password}"))
        .contains("c1 NO"));
    let mut s = Line::connect(mx);
    s.read();
    s.smtp("EHLO test");
    s.smtp("MAIL FROM:<someone@example.org>");
    let refused = s.smtp(&format!("RCPT TO:<{new_address}>"));
    assert!(
        refused.starts_with("550 5.1.1") && refused.contains("snv@kontum.gov.vn"),
        "{refused}"
    );
    // Every step is in the audit log with its decision number.
    let events = install.json(&["events", "--action", "user."]);
    let refs: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["doc_ref"].as_str().unwrap())
        .collect();
    for expected in ["15/QĐ-UBND", "20/QĐ-UBND", "99/QĐ-UBND"] {
        assert!(refs.contains(&expected), "{expected} missing from {refs:?}");
    }
}

#[test]
fn directory_import_dry_run_then_import_and_export() {
    let tmp = tempfile::tempdir().unwrap();
    let install = Install {
        data: tmp.path().join("data"),
        _tmp: tmp,
    };
    install.cli(&["domain", "add", "kontum.gov.vn", "--naming", "kontum"]);
    install.cli(&[
        "unit",
        "add",
        "--abbrev",
        "STTTT",
        "--name",
        "Sở Thông tin và Truyền thông",
    ]);
    let csv = install.data.join("staff.csv");
    std::fs::write(
        &csv,
        "name,unit,position,phone\n\"Nguyễn Văn An\",STTTT,\"Chuyên viên, phòng A\",0260 1\nNguyễn Văn An,STTTT,Trưởng phòng,0260 2\nLê Thị Hồng Nhung,STTTT,,\n",
    )
    .unwrap();
    let dry = install.json(&["directory", "import", csv.to_str().unwrap(), "--dry-run"]);
    let addresses: Vec<&str> = dry
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["address"].as_str().unwrap())
        .collect();
    // A dry run changes nothing, yet shows what the import will do: the second An numbered
    // (issue 17: it used to show the same first choice twice).
    assert_eq!(
        addresses,
        vec![
            "nvan.stttt@kontum.gov.vn",
            "nvan2.stttt@kontum.gov.vn",
            "lthnhung.stttt@kontum.gov.vn"
        ]
    );
    assert_eq!(
        install.json(&["user", "list"]).as_array().unwrap().len(),
        0,
        "dry run adds nobody"
    );
    let done = install.json(&[
        "directory",
        "import",
        csv.to_str().unwrap(),
        "--ref",
        "30/QĐ-UBND",
    ]);
    let addresses: Vec<&str> = done
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["address"].as_str().unwrap())
        .collect();
    assert_eq!(
        addresses,
        vec![
            "nvan.stttt@kontum.gov.vn",
            "nvan2.stttt@kontum.gov.vn",
            "lthnhung.stttt@kontum.gov.vn"
        ]
    );
    let export = install.cli(&["directory", "export"]);
    assert!(
        export.starts_with("address,name,unit,position,phone,status\n"),
        "{export}"
    );
    assert!(
        export.contains(
            "nvan.stttt@kontum.gov.vn,Nguyễn Văn An,STTTT,\"Chuyên viên, phòng A\",0260 1,active"
        ),
        "{export}"
    );
    assert_eq!(export.lines().count(), 4);
}
