//! Hostile input against the real binary (`govmail serve`, SQLite, the private clamd), over
//! loopback: MIME nesting bombs by SMTP and APPEND, a slowloris on the MX port, and the
//! server's memory (VmRSS) under BDAT bombs and thousands of idle connections.
//!
//! Expected replies come from the RFCs: 220 greeting / 250 after DATA (RFC 5321 4.2, 4.1.1.4),
//! 421 when a server must close (RFC 5321 3.8), a tagged OK for FETCH (RFC 9051 6.4.5).

use crate::served;
use crate::support;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use served::Served;
use support::{clamd_url, Install};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const DOMAIN: &str = "kontum.gov.vn";
const USER: &str = "nvan.stttt@kontum.gov.vn";
const PASSWORD: &str = "mat-khau-An-2024";

impl Install {
    /// A data dir with one domain, one unit and one user, made with the CLI.
    fn one_user() -> Install {
        Install::with_people(DOMAIN, "Sở TT&TT", &[("Nguyễn Văn An", USER, PASSWORD)])
    }

    /// `govmail serve` with the MX and IMAP listeners on free ports and `extra` settings.
    fn serve(&self, extra: &[String]) -> Server {
        let mut sets = vec![
            "server.hostname=mail.kontum.gov.vn".to_string(),
            format!("antivirus.clamd=\"{}\"", clamd_url()),
            "tls.allow_plaintext_loopback=true".into(),
        ];
        sets.extend_from_slice(extra);
        let (served, addrs) = self.serve_on(&["smtp", "imap"], &sets);
        Server {
            mx: addrs[0],
            imap: addrs[1],
            served,
        }
    }
}

struct Server {
    served: Served,
    mx: SocketAddr,
    imap: SocketAddr,
}

impl Server {
    /// The server's resident memory in KiB (VmRSS of /proc/PID/status).
    fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.served.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    fn alive(&mut self) -> bool {
        self.served.alive()
    }
}

/// A TCP connection from the loopback address `from` (the whole of 127/8 is loopback, so
/// tests can play many client IPs).
async fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(to).await
}

/// One SMTP client connection speaking line by line.
struct Smtp {
    io: BufReader<TcpStream>,
}

impl Smtp {
    async fn open(from: IpAddr, to: SocketAddr) -> Smtp {
        let stream = connect_from(from, to).await.unwrap();
        let mut smtp = Smtp {
            io: BufReader::new(stream),
        };
        let greeting = smtp.reply().await;
        assert!(greeting.starts_with("220"), "greeting: {greeting}");
        smtp
    }

    /// A whole (possibly multi-line) reply.
    async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(60), self.io.read_line(&mut line))
                .await
                .expect("reply within 60 s")
                .unwrap();
            assert!(n > 0, "connection closed after {all:?}");
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    async fn cmd(&mut self, line: &str) -> String {
        self.io
            .get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
        self.reply().await
    }

    /// EHLO, MAIL, RCPT, DATA with `body` (dot-stuffed here); the reply to the end of data.
    async fn send(&mut self, to: &str, body: &[u8]) -> String {
        assert!(self.cmd("EHLO client.example.org").await.starts_with("250"));
        assert!(self
            .cmd("MAIL FROM:<sender@partner.example.org>")
            .await
            .starts_with("250"));
        let rcpt = self.cmd(&format!("RCPT TO:<{to}>")).await;
        assert!(rcpt.starts_with("250"), "{rcpt}");
        assert!(self.cmd("DATA").await.starts_with("354"));
        let mut data = Vec::with_capacity(body.len() + 16);
        for line in body.split_inclusive(|&b| b == b'\n') {
            if line.first() == Some(&b'.') {
                data.push(b'.');
            }
            data.extend_from_slice(line);
        }
        data.extend_from_slice(b".\r\n");
        self.io.get_mut().write_all(&data).await.unwrap();
        self.reply().await
    }
}

/// One IMAP connection: commands with a tag, responses read with their literals.
struct Imap {
    io: BufReader<TcpStream>,
    n: u32,
}

impl Imap {
    async fn login(to: SocketAddr) -> Imap {
        let stream = TcpStream::connect(to).await.unwrap();
        let mut imap = Imap {
            io: BufReader::new(stream),
            n: 0,
        };
        let mut greeting = String::new();
        imap.io.read_line(&mut greeting).await.unwrap();
        assert!(greeting.starts_with("* OK"), "{greeting}");
        let (status, _) = imap.run(&format!("LOGIN {USER} {PASSWORD}"), None).await;
        assert!(status.starts_with("OK"), "LOGIN: {status}");
        imap
    }

    /// Sends one command (with `literal` after it as a synchronising literal) and reads up to
    /// its tagged status: (status line after the tag, every untagged byte before it).
    async fn run(&mut self, command: &str, literal: Option<&[u8]>) -> (String, Vec<u8>) {
        self.n += 1;
        let tag = format!("a{}", self.n);
        let stream = self.io.get_mut();
        match literal {
            None => stream
                .write_all(format!("{tag} {command}\r\n").as_bytes())
                .await
                .unwrap(),
            Some(bytes) => {
                stream
                    .write_all(format!("{tag} {command} {{{}}}\r\n", bytes.len()).as_bytes())
                    .await
                    .unwrap();
                let mut go_ahead = String::new();
                self.io.read_line(&mut go_ahead).await.unwrap();
                assert!(go_ahead.starts_with('+'), "continuation: {go_ahead}");
                let stream = self.io.get_mut();
                stream.write_all(bytes).await.unwrap();
                stream.write_all(b"\r\n").await.unwrap();
            }
        }
        let mut untagged = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = tokio::time::timeout(
                Duration::from_secs(120),
                self.io.read_until(b'\n', &mut line),
            )
            .await
            .expect("response within 120 s")
            .unwrap();
            assert!(n > 0, "connection closed");
            if let Some(rest) = line.strip_prefix(format!("{tag} ").as_bytes()) {
                return (
                    String::from_utf8_lossy(rest).trim_end().to_string(),
                    untagged,
                );
            }
            untagged.extend_from_slice(&line);
            // A literal: {n}CRLF then n bytes (RFC 9051 4.3).
            let text = String::from_utf8_lossy(&line);
            if let Some(size) = text
                .trim_end()
                .strip_suffix('}')
                .and_then(|t| t.rsplit_once('{'))
                .and_then(|(_, n)| n.parse::<usize>().ok())
            {
                let mut bytes = vec![0; size];
                self.io.read_exact(&mut bytes).await.unwrap();
                untagged.extend_from_slice(&bytes);
            }
        }
    }
}

/// `depth` multiparts, each holding the next, around one text part.
fn multipart_bomb(depth: usize) -> Vec<u8> {
    let mut s = format!("From: a@partner.example.org\r\nTo: {USER}\r\nSubject: bomb {depth}\r\n");
    for i in 0..depth {
        s.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
        ));
    }
    s.push_str("Content-Type: text/plain\r\n\r\nhi\r\n");
    for i in (0..depth).rev() {
        s.push_str(&format!("--b{i}--\r\n"));
    }
    s.into_bytes()
}

/// `depth` message/rfc822 parts, each holding the next.
fn rfc822_bomb(depth: usize) -> Vec<u8> {
    let mut s = format!("From: a@partner.example.org\r\nTo: {USER}\r\nSubject: bomb {depth}\r\n");
    for _ in 0..depth {
        s.push_str("Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n");
    }
    s.push_str("\r\nhi\r\n");
    s.into_bytes()
}

/// Issue 11 items 1-2: nesting bombs at depths 100, 1,000 and 10,000, multipart and
/// message/rfc822, by SMTP (unauthenticated, MX) and by APPEND: the server stays up, each is
/// delivered, `FETCH 1:* (ENVELOPE BODYSTRUCTURE)` answers OK for the whole INBOX, and the
/// bytes come back intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nesting_bombs_leave_the_server_up_and_the_inbox_readable() {
    let install = Install::one_user();
    let mut server = install.serve(&[]);
    let mut bombs = vec![];
    for depth in [100, 1_000, 10_000] {
        bombs.push(multipart_bomb(depth));
        bombs.push(rfc822_bomb(depth));
    }
    let local: IpAddr = "127.0.0.1".parse().unwrap();
    for bomb in &bombs {
        let mut smtp = Smtp::open(local, server.mx).await;
        let end = smtp.send(USER, bomb).await;
        assert!(end.starts_with("250"), "SMTP bomb refused: {end}");
        assert!(
            server.alive(),
            "server died on an SMTP bomb:\n{}",
            server.served.log()
        );
    }
    let mut imap = Imap::login(server.imap).await;
    for bomb in &bombs {
        let (status, _) = imap.run("APPEND INBOX", Some(bomb)).await;
        assert!(status.starts_with("OK"), "APPEND: {status}");
        assert!(server.alive(), "server died on an APPEND bomb");
    }
    let (status, _) = imap.run("SELECT INBOX", None).await;
    assert!(status.starts_with("OK"), "{status}");
    let (status, untagged) = imap.run("FETCH 1:* (ENVELOPE BODYSTRUCTURE)", None).await;
    assert!(status.starts_with("OK"), "FETCH 1:* answered {status}");
    let text = String::from_utf8_lossy(&untagged);
    let fetches = text.matches(" FETCH (").count();
    assert_eq!(fetches, 2 * bombs.len(), "one FETCH response per message");
    for depth in [100, 1_000, 10_000] {
        assert!(
            text.contains(&format!("\"bomb {depth}\"")),
            "ENVELOPE subject of depth {depth}"
        );
    }
    // Bytes intact: the APPENDed 10,000-level bombs come back byte for byte.
    let n = 2 * bombs.len();
    for (i, bomb) in bombs.iter().enumerate().skip(4) {
        let seq = bombs.len() + i + 1;
        let (status, untagged) = imap.run(&format!("FETCH {seq} BODY.PEEK[]"), None).await;
        assert!(status.starts_with("OK"), "{status}");
        let header = format!("* {seq} FETCH (BODY[] {{{}}}\r\n", bomb.len());
        assert!(
            untagged.starts_with(header.as_bytes()),
            "{}",
            String::from_utf8_lossy(&untagged[..untagged.len().min(80)])
        );
        assert_eq!(
            &untagged[header.len()..header.len() + bomb.len()],
            &bomb[..]
        );
        assert!(seq <= n);
    }
    assert!(server.alive());
}

/// Issue 11 item 6: 30 client IPs each holding connections open and sending one byte every
/// second (slowloris) fill the MX slots; a legitimate sender still connects and delivers.
/// Slot counts are scaled down (100 slots, 5 per IP) so the test stays short.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_does_not_keep_out_a_legitimate_sender() {
    let install = Install::one_user();
    let server = install.serve(&[
        "smtp.max_connections=100".into(),
        "smtp.max_connections_per_ip=5".into(),
        "smtp.pressure_idle_timeout_secs=2".into(),
    ]);
    let rss_before = server.rss_kib();
    // Per-IP cap: the sixth connection of one address is refused at once (RFC 5321 3.8: 421).
    let capped: IpAddr = "127.0.4.1".parse().unwrap();
    let mut five = vec![];
    for _ in 0..5 {
        five.push(Smtp::open(capped, server.mx).await);
    }
    let mut sixth = connect_from(capped, server.mx).await.unwrap();
    let mut first = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(10), sixth.read(&mut first))
        .await
        .expect("an answer to the over-cap connection")
        .unwrap();
    assert!(
        String::from_utf8_lossy(&first[..n]).starts_with("421"),
        "over the per-IP cap: {:?}",
        String::from_utf8_lossy(&first[..n])
    );
    drop(five);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut attackers = tokio::task::JoinSet::new();
    for ip in 0..30u8 {
        for _ in 0..6 {
            let stop = stop.clone();
            let mx = server.mx;
            attackers.spawn(async move {
                let from: IpAddr = format!("127.0.1.{}", ip + 10).parse().unwrap();
                // Reconnect whenever shed or refused, trickling "EHLO x..." a byte a second.
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let Ok(mut stream) = connect_from(from, mx).await else {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    };
                    for byte in b"EHLO slow.example.org".iter().cycle() {
                        if stop.load(std::sync::atomic::Ordering::Relaxed)
                            || stream.write_all(&[*byte]).await.is_err()
                        {
                            break;
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            });
        }
    }
    // Let the attack fill every slot.
    tokio::time::sleep(Duration::from_secs(4)).await;
    // A legitimate sender from another address: greeted and delivered within the attack.
    let started = Instant::now();
    let mut delivered = 0;
    for attempt in 0..3 {
        let from: IpAddr = format!("127.0.2.{}", attempt + 1).parse().unwrap();
        let stream = connect_from(from, server.mx).await.unwrap();
        let mut smtp = Smtp {
            io: BufReader::new(stream),
        };
        let greeting = smtp.reply().await;
        if !greeting.starts_with("220") {
            continue;
        }
        let end = smtp
            .send(USER, b"Subject: real mail\r\n\r\nduring the attack\r\n")
            .await;
        assert!(end.starts_with("250"), "{end}");
        delivered += 1;
        break;
    }
    assert_eq!(delivered, 1, "the legitimate sender never got through");
    assert!(started.elapsed() < Duration::from_secs(30));
    let rss_after = server.rss_kib();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    attackers.abort_all();
    eprintln!("slowloris: VmRSS {rss_before} kB before, {rss_after} kB during");
    assert!(
        rss_after < 150 * 1024,
        "VmRSS {rss_after} kB under slowloris"
    );
}

/// Issue 11 items 4 and "memory stays bounded": 20 connections each announcing
/// `BDAT 52000000 LAST` and sending 10 bytes, then 2,000 idle connections: the server's
/// VmRSS stays under 150 MB (before the fix the BDAT bombs alone took ~1 GB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bdat_bombs_and_idle_connections_keep_memory_bounded() {
    let install = Install::one_user();
    let server = install.serve(&[
        "smtp.max_connections=3000".into(),
        "smtp.max_connections_per_ip=200".into(),
        "smtp.max_message_size=60000000".into(),
    ]);
    let rss_before = server.rss_kib();
    let mut bombs = vec![];
    for i in 0..20u8 {
        let from: IpAddr = format!("127.0.3.{}", i + 1).parse().unwrap();
        let mut smtp = Smtp::open(from, server.mx).await;
        assert!(smtp.cmd("EHLO bomb.example.org").await.starts_with("250"));
        assert!(smtp
            .cmd("MAIL FROM:<x@partner.example.org>")
            .await
            .starts_with("250"));
        assert!(smtp
            .cmd(&format!("RCPT TO:<{USER}>"))
            .await
            .starts_with("250"));
        smtp.io
            .get_mut()
            .write_all(b"BDAT 52000000 LAST\r\n0123456789")
            .await
            .unwrap();
        bombs.push(smtp);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_bdat = server.rss_kib();
    let mut idle = Vec::with_capacity(2000);
    for i in 0..2000u32 {
        let from: IpAddr = format!("127.0.{}.{}", 10 + i / 200, 1 + i % 200)
            .parse()
            .unwrap();
        idle.push(connect_from(from, server.mx).await.unwrap());
    }
    // Every idle connection has been greeted (its session exists).
    for stream in idle.iter_mut().step_by(100) {
        let mut greeting = [0u8; 3];
        stream.read_exact(&mut greeting).await.unwrap();
        assert_eq!(&greeting, b"220");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_idle = server.rss_kib();
    eprintln!(
        "memory: VmRSS {rss_before} kB at start, {rss_bdat} kB with 20 BDAT bombs, \
         {rss_idle} kB with 2,000 idle connections more"
    );
    assert!(rss_bdat < 150 * 1024, "VmRSS {rss_bdat} kB with BDAT bombs");
    assert!(
        rss_idle < 150 * 1024,
        "VmRSS {rss_idle} kB with 2,000 idle connections"
    );
    drop(bombs);
    drop(idle);
    // Still serving.
    let mut smtp = Smtp::open("127.0.0.1".parse().unwrap(), server.mx).await;
    assert!(smtp
        .send(USER, b"Subject: after\r\n\r\nstill here\r\n")
        .await
        .starts_with("250"));
}
