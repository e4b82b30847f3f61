//! Several govmail nodes on one PostgreSQL (issue 16), for `tests/nodes.rs` and
//! `tests/failover.rs`: a fresh database on the private server of `scripts/test`
//! (`GOVMAIL_TEST_PG_URL`), the admin CLI on it, nodes started on their own ports, and small
//! line clients for SMTP, IMAP and HTTP.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::served::{self, free_port, Served};

pub const BIN: &str = env!("CARGO_BIN_EXE_govmail");
pub const DOMAIN: &str = "kontum.gov.vn";
pub const PASSWORD: &str = "mat-khau-123456";

/// The server URL of `scripts/test`'s private PostgreSQL.
pub fn pg_base_url() -> String {
    std::env::var("GOVMAIL_TEST_PG_URL").expect(
        "GOVMAIL_TEST_PG_URL is not set: run the tests with scripts/test (it starts a private \
         PostgreSQL); several nodes need PostgreSQL",
    )
}

/// `base` with its database name replaced by `db`.
pub fn with_database(base: &str, db: &str) -> String {
    let (main, query) = match base.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (base, None),
    };
    let scheme_end = main.find("://").map(|i| i + 3).expect("postgres URL");
    let prefix = match main[scheme_end..].find('/') {
        Some(slash) => &main[..scheme_end + slash],
        None => main,
    };
    match query {
        Some(q) => format!("{prefix}/{db}?{q}"),
        None => format!("{prefix}/{db}"),
    }
}

pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// Runs one SQL statement on `url` and returns the first column of every row as text.
pub fn sql(url: &str, statement: &str) -> Vec<String> {
    use sqlx::{Connection, Row};
    let (url, statement) = (url.to_string(), statement.to_string());
    block_on(async move {
        let mut conn = sqlx::postgres::PgConnection::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
        let rows = sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
        let _ = conn.close().await;
        rows.iter()
            .map(|r| {
                r.try_get::<String, _>(0)
                    .or_else(|_| r.try_get::<i64, _>(0).map(|v| v.to_string()))
                    .or_else(|_| r.try_get::<i32, _>(0).map(|v| v.to_string()))
                    .or_else(|_| r.try_get::<bool, _>(0).map(|v| v.to_string()))
                    .unwrap_or_default()
            })
            .collect()
    })
}

static DB_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A database of its own on a PostgreSQL server, dropped at the end.
pub struct Database {
    pub base: String,
    pub name: String,
    pub url: String,
}

impl Database {
    pub fn fresh(base: &str, test: &str) -> Database {
        let name = format!(
            "gm_nodes_{test}_{}_{}",
            std::process::id(),
            DB_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        sql(base, &format!("CREATE DATABASE \"{name}\""));
        Database {
            base: base.to_string(),
            url: with_database(base, &name),
            name,
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let base = self.base.clone();
        let statement = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        block_on(async move {
            use sqlx::Connection;
            if let Ok(mut conn) = sqlx::postgres::PgConnection::connect(&base).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(statement))
                    .execute(&mut conn)
                    .await;
                let _ = conn.close().await;
            }
        });
    }
}

/// The admin CLI on `storage_url` (data dir `data`).
pub fn cli(data: &Path, storage_url: &str, args: &[&str], stdin: Option<&str>) -> String {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("GOVMAIL_CONFIG")
        .env_remove("RUST_LOG")
        .arg("--no-config")
        .arg("--set")
        .arg(format!("server.data_dir={}", data.display()))
        .arg("--set")
        .arg(format!("storage.url={storage_url}"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "govmail {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Domain kontum.gov.vn with people `addresses` (password [`PASSWORD`]) on `storage_url`.
pub fn install(data: &Path, storage_url: &str, addresses: &[&str]) {
    cli(data, storage_url, &["domain", "add", DOMAIN], None);
    for (i, address) in addresses.iter().enumerate() {
        let name = format!("Nguyễn Văn Thử {i}");
        cli(
            data,
            storage_url,
            &[
                "user",
                "add",
                "--name",
                &name,
                "--address",
                address,
                "--password-stdin",
            ],
            Some(&format!("{PASSWORD}\n")),
        );
    }
}

/// One running node and its ports.
pub struct Node {
    pub served: Served,
    pub smtp: u16,
    pub imap: u16,
    pub http: u16,
    pub data: PathBuf,
}

impl Node {
    /// `govmail serve` on `storage_url` with its own data dir and ports; `extra` settings last.
    pub fn start(data: PathBuf, storage_url: &str, extra: &[String]) -> Node {
        served::with_retries(|_| {
            let (smtp, imap, http) = (free_port(), free_port(), free_port());
            let mut sets = vec![
                format!("server.data_dir={}", data.display()),
                format!("storage.url={storage_url}"),
                "server.hostname=mail.kontum.gov.vn".to_string(),
                "antivirus.enabled=false".to_string(),
                "smtp.check_sender_authentication=false".to_string(),
                "outbound.enabled=false".to_string(),
                "tls.allow_plaintext_loopback=true".to_string(),
                format!("listen.smtp=[\"127.0.0.1:{smtp}\"]"),
                "listen.submission=[]".to_string(),
                "listen.submissions=[]".to_string(),
                format!("listen.imap=[\"127.0.0.1:{imap}\"]"),
                "listen.imaps=[]".to_string(),
                "listen.https=[]".to_string(),
                format!("listen.http=[\"127.0.0.1:{http}\"]"),
            ];
            sets.extend_from_slice(extra);
            let mut cmd = Command::new(BIN);
            cmd.env_remove("GOVMAIL_CONFIG").arg("--no-config");
            cmd.arg("--set").arg("listen.managesieve=[]");
            cmd.arg("--set").arg("listen.ldap=[]");
            cmd.arg("--set").arg("listen.ldaps=[]");
            for set in &sets {
                cmd.arg("--set").arg(set);
            }
            cmd.arg("serve");
            std::fs::create_dir_all(&data).unwrap();
            let stderr = data.with_extension(format!("stderr-{smtp}"));
            Served::spawn(cmd, stderr).map(|served| Node {
                served,
                smtp,
                imap,
                http,
                data: data.clone(),
            })
        })
    }

    /// GET `path` on the node's HTTP listener: (status, body).
    pub fn http_get(&self, path: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.http)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    /// `/readyz` as JSON.
    pub fn readyz(&self) -> serde_json::Value {
        let (_, body) = self.http_get("/readyz");
        // Chunked or not: the JSON object is the text between the outer braces.
        let start = body.find('{').unwrap_or(0);
        let end = body.rfind('}').map(|e| e + 1).unwrap_or(body.len());
        serde_json::from_str(&body[start..end]).unwrap_or(serde_json::Value::Null)
    }
}

/// A line client for IMAP and SMTP over plain TCP on loopback.
pub struct Line {
    pub reader: BufReader<TcpStream>,
}

impl Line {
    pub fn connect(port: u16) -> std::io::Result<Line> {
        let stream = TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(5),
        )?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        Ok(Line {
            reader: BufReader::new(stream),
        })
    }

    pub fn read(&mut self) -> String {
        let mut line = String::new();
        let _ = self.reader.read_line(&mut line);
        line
    }

    pub fn send(&mut self, text: &str) -> std::io::Result<()> {
        self.reader.get_mut().write_all(text.as_bytes())
    }

    /// IMAP: sends `tag command`, returns every line up to the tagged one.
    pub fn imap(&mut self, tag: &str, command: &str) -> String {
        let _ = self.send(&format!("{tag} {command}\r\n"));
        let mut all = String::new();
        loop {
            let line = self.read();
            all.push_str(&line);
            if line.is_empty() || line.starts_with(&format!("{tag} ")) {
                return all;
            }
        }
    }

    /// SMTP: sends a command, returns the last line of the reply ("" when the connection ended).
    pub fn smtp(&mut self, command: &str) -> String {
        if self.send(&format!("{command}\r\n")).is_err() {
            return String::new();
        }
        self.smtp_reply()
    }

    pub fn smtp_reply(&mut self) -> String {
        loop {
            let line = self.read();
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return line;
            }
        }
    }

    /// Logs in on IMAP and selects INBOX; panics on failure.
    pub fn imap_login(port: u16, address: &str) -> Line {
        let mut c = Line::connect(port).expect("IMAP connect");
        c.read();
        let login = c.imap("l1", &format!("LOGIN {address} {PASSWORD}"));
        assert!(login.contains("l1 OK"), "{login}");
        let select = c.imap("l2", "SELECT INBOX");
        assert!(select.contains("l2 OK"), "{select}");
        c
    }
}

/// Delivers one message tagged `tag` (in Subject and Message-ID) to `rcpt` through the SMTP
/// listener on `port`. Ok once the server answered 250 to the end of data (RFC 5321 4.1.1.4:
/// the message is then the server's responsibility); Err with the last reply otherwise.
pub fn deliver(port: u16, rcpt: &str, tag: &str) -> Result<(), String> {
    let mut c = Line::connect(port).map_err(|e| format!("connect: {e}"))?;
    let greeting = c.read();
    if !greeting.starts_with("220") {
        return Err(format!("greeting: {greeting:?}"));
    }
    for (command, want) in [
        ("EHLO client.example".to_string(), "250"),
        ("MAIL FROM:<sender@example.org>".to_string(), "250"),
        (format!("RCPT TO:<{rcpt}>"), "250"),
        ("DATA".to_string(), "354"),
    ] {
        let reply = c.smtp(&command);
        if !reply.starts_with(want) {
            return Err(format!("{command}: {reply:?}"));
        }
    }
    let body = format!(
        "From: <sender@example.org>\r\nTo: <{rcpt}>\r\nSubject: tag {tag}\r\n\
         Message-ID: <{tag}@example.org>\r\n\r\nThư kiểm tra {tag}.\r\n."
    );
    let reply = c.smtp(&body);
    let _ = c.smtp("QUIT");
    if reply.starts_with("250") {
        Ok(())
    } else {
        Err(format!("end of data: {reply:?}"))
    }
}

/// Percentile `p` (0..=100) of sorted `values` by the nearest-rank method.
pub fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}
