//! Our SMTP client (RFC 5321) for delivery to MX hosts.
//!
//! Per attempt: hosts in preference order, each address in turn, until one host gives final
//! answers. EHLO (HELO fallback), STARTTLS whenever offered (see [`super::tls`]), then one
//! transaction: MAIL, every RCPT, DATA, pipelined when the host offers PIPELINING (RFC 2920).
//! SIZE (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531) and DSN (RFC 3461: RET, ENVID,
//! NOTIFY, ORCPT passed on) are used when offered.
//!
//! Safety against duplicates: a host is abandoned for the next one only while nothing can
//! have been accepted; once the final dot has been sent, a lost answer is a temporary failure
//! for this attempt (the message may arrive twice, never zero times).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::resolve::MxHost;
use super::tls::Connectors;

/// One recipient as the queue has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcptSpec {
    pub address: String,
    /// DSN NOTIFY, passed on when the host supports DSN.
    pub notify: Option<String>,
    /// DSN ORCPT: `rfc822;addr` or just the address.
    pub orcpt: Option<String>,
}

/// The envelope of one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Reverse path; empty = null sender `<>`.
    pub sender: String,
    pub env_id: Option<String>,
    pub ret: Option<String>,
    pub recipients: Vec<RcptSpec>,
}

/// What happened to one recipient in one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcptResult {
    /// The host took responsibility; `reply` is its answer to the data.
    Delivered { reply: String },
    /// Try again later.
    Temporary { reply: String, status: String },
    /// Never (a notice goes to the sender).
    Permanent { reply: String, status: String },
}

/// The outcome of one attempt, one result per recipient in envelope order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub results: Vec<RcptResult>,
    /// `name [ip]` of the host that answered last.
    pub remote_mta: String,
    /// The host accepted DSN parameters (it will notify on success itself).
    pub remote_dsn: bool,
}

pub(crate) struct ClientConfig<'a> {
    pub hostname: &'a str,
    pub port: u16,
    pub tls_required: bool,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub data_timeout: Duration,
    pub tls: &'a Connectors,
}

/// A reply: code and text lines (without the code and separator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    /// One line: `550 5.1.1 user unknown`.
    pub fn text(&self) -> String {
        let joined = self
            .lines
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let text: String = format!("{} {joined}", self.code)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(1000)
            .collect();
        text.trim_end().to_string()
    }

    /// The enhanced status code (RFC 3463) of the first line if it matches the reply class,
    /// else `X.0.0`.
    pub fn status(&self) -> String {
        let class = (self.code / 100).to_string();
        if let Some(first) = self.lines.first() {
            let token = first.split_whitespace().next().unwrap_or("");
            let parts: Vec<&str> = token.split('.').collect();
            if parts.len() == 3
                && parts[0] == class
                && parts[1..]
                    .iter()
                    .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
            {
                return token.to_string();
            }
        }
        format!("{class}.0.0")
    }

    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    fn to_result_failure(&self) -> RcptResult {
        if self.is_transient() {
            RcptResult::Temporary {
                reply: self.text(),
                status: self.status(),
            }
        } else {
            RcptResult::Permanent {
                reply: self.text(),
                status: self.status(),
            }
        }
    }
}

/// What EHLO told us.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub esmtp: bool,
    pub starttls: bool,
    pub pipelining: bool,
    pub eightbitmime: bool,
    pub smtputf8: bool,
    pub dsn: bool,
    /// SIZE limit, 0 = none given.
    pub size: Option<u64>,
}

impl Capabilities {
    /// Parses the lines of a 250 EHLO reply (the first line is the greeting).
    pub fn parse(reply: &Reply) -> Capabilities {
        let mut caps = Capabilities {
            esmtp: true,
            ..Capabilities::default()
        };
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_whitespace();
            let keyword = words.next().unwrap_or("").to_ascii_uppercase();
            match keyword.as_str() {
                "STARTTLS" => caps.starttls = true,
                "PIPELINING" => caps.pipelining = true,
                "8BITMIME" => caps.eightbitmime = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                "DSN" => caps.dsn = true,
                "SIZE" => caps.size = Some(words.next().and_then(|w| w.parse().ok()).unwrap_or(0)),
                _ => {}
            }
        }
        caps
    }
}

enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Closed,
}

/// A connection with a read buffer.
struct Conn {
    io: Io,
    buf: Vec<u8>,
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("timeout waiting for {what}"),
    )
}

/// Longest reply line and most lines accepted (RFC 5321 4.5.3.1.5: 512 octets).
const MAX_LINE: usize = 4096;
const MAX_LINES: usize = 200;

impl Conn {
    async fn read_more(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 4096];
        let n = match &mut self.io {
            Io::Plain(s) => s.read(&mut chunk).await?,
            Io::Tls(s) => s.read(&mut chunk).await?,
            Io::Closed => 0,
        };
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed by the server",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    async fn read_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                let text = String::from_utf8_lossy(&line);
                return Ok(text.trim_end_matches(['\r', '\n']).to_string());
            }
            if self.buf.len() > MAX_LINE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "reply line too long",
                ));
            }
            self.read_more().await?;
        }
    }

    async fn read_reply_inner(&mut self) -> io::Result<Reply> {
        let mut lines = vec![];
        let mut code = 0u16;
        loop {
            let line = self.read_line().await?;
            let bytes = line.as_bytes();
            if bytes.len() < 3 || !bytes[..3].iter().all(u8::is_ascii_digit) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("malformed reply {line:?}"),
                ));
            }
            let this: u16 = line[..3].parse().unwrap_or(0);
            if !(200..600).contains(&this) || (code != 0 && this != code) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("malformed reply {line:?}"),
                ));
            }
            code = this;
            let more = bytes.get(3) == Some(&b'-');
            lines.push(line.get(4..).unwrap_or("").to_string());
            if !more {
                return Ok(Reply { code, lines });
            }
            if lines.len() > MAX_LINES {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "reply too long"));
            }
        }
    }

    async fn read_reply(&mut self, timeout: Duration, what: &str) -> io::Result<Reply> {
        tokio::time::timeout(timeout, self.read_reply_inner())
            .await
            .map_err(|_| timed_out(what))?
    }

    async fn write_all(&mut self, data: &[u8], timeout: Duration) -> io::Result<()> {
        let write = async {
            match &mut self.io {
                Io::Plain(s) => {
                    s.write_all(data).await?;
                    s.flush().await
                }
                Io::Tls(s) => {
                    s.write_all(data).await?;
                    s.flush().await
                }
                Io::Closed => Err(io::Error::new(io::ErrorKind::NotConnected, "closed")),
            }
        };
        tokio::time::timeout(timeout, write)
            .await
            .map_err(|_| timed_out("the server to take data"))?
    }

    async fn command(&mut self, line: &str, timeout: Duration) -> io::Result<Reply> {
        self.write_all(format!("{line}\r\n").as_bytes(), timeout)
            .await?;
        let verb = line.split([' ', ':']).next().unwrap_or(line);
        self.read_reply(timeout, &format!("the reply to {verb}"))
            .await
    }

    async fn starttls(
        &mut self,
        connector: &tokio_rustls::TlsConnector,
        name: ServerName<'static>,
        timeout: Duration,
    ) -> io::Result<()> {
        if !self.buf.is_empty() {
            // RFC 3207 5: nothing may follow the 220 before the handshake (injection).
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "data after the STARTTLS reply",
            ));
        }
        let Io::Plain(tcp) = std::mem::replace(&mut self.io, Io::Closed) else {
            return Err(io::Error::other("STARTTLS on a TLS connection"));
        };
        let tls = tokio::time::timeout(timeout, connector.connect(name, tcp))
            .await
            .map_err(|_| timed_out("the TLS handshake"))??;
        self.io = Io::Tls(Box::new(tls));
        Ok(())
    }

    async fn quit(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            if self
                .write_all(b"QUIT\r\n", Duration::from_secs(5))
                .await
                .is_ok()
            {
                let _ = self.read_reply_inner().await;
            }
        })
        .await;
    }
}

/// xtext (RFC 3461 4): `+HH` for `+`, `=`, controls, space and non-ASCII.
pub fn xtext(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (33..=126).contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

/// The address of an ORCPT value (`rfc822;addr` or `addr`).
pub fn orcpt_address(orcpt: &str) -> &str {
    match orcpt.split_once(';') {
        Some((kind, addr)) if !kind.contains('@') => addr.trim(),
        _ => orcpt.trim(),
    }
}

/// The message as DATA content: dot-stuffed, CRLF-terminated, followed by `.CRLF`.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 64 + 8);
    let mut at_line_start = true;
    for &b in message {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        if out.ends_with(b"\r") {
            out.push(b'\n');
        } else {
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b".\r\n");
    out
}

enum HostOutcome {
    Done(Vec<RcptResult>, bool),
    /// Nothing was delivered here; try the next host. `tls_failed`: the STARTTLS handshake
    /// failed (opportunistic mode retries this host in plain text).
    Next {
        error: String,
        status: String,
        tls_failed: bool,
    },
}

fn next(error: impl Into<String>, status: &str) -> HostOutcome {
    HostOutcome::Next {
        error: error.into(),
        status: status.into(),
        tls_failed: false,
    }
}

/// Delivers `message` to the first host that gives final answers.
pub(crate) async fn deliver(
    config: &ClientConfig<'_>,
    hosts: &[MxHost],
    envelope: &Envelope,
    message: &[u8],
) -> Attempt {
    let mut last_error = "451 4.4.1 no mail server answered".to_string();
    let mut last_status = "4.4.1".to_string();
    let mut last_remote = String::new();
    for host in hosts {
        for ip in &host.addresses {
            let remote = format!("{} [{ip}]", host.name);
            let mut plain_only = false;
            loop {
                match session(config, host, *ip, plain_only, envelope, message).await {
                    HostOutcome::Done(results, remote_dsn) => {
                        return Attempt {
                            results,
                            remote_mta: remote,
                            remote_dsn,
                        }
                    }
                    HostOutcome::Next {
                        error,
                        status,
                        tls_failed,
                    } => {
                        tracing::info!(host = %remote, %error, "outbound: host failed, trying the next");
                        last_error = error;
                        last_status = status;
                        last_remote = remote.clone();
                        if tls_failed && !plain_only && !config.tls_required {
                            plain_only = true;
                            continue;
                        }
                        break;
                    }
                }
            }
        }
    }
    let text = if last_error.starts_with(|c: char| c.is_ascii_digit()) {
        last_error
    } else {
        format!("451 {last_status} {last_error}")
    };
    let text = if last_remote.is_empty() {
        text
    } else {
        format!("{text} (from {last_remote})")
    };
    Attempt {
        results: vec![
            RcptResult::Temporary {
                reply: text,
                status: last_status,
            };
            envelope.recipients.len()
        ],
        remote_mta: last_remote,
        remote_dsn: false,
    }
}

async fn ehlo(conn: &mut Conn, config: &ClientConfig<'_>) -> Result<Capabilities, HostOutcome> {
    let timeout = config.command_timeout;
    let reply = conn
        .command(&format!("EHLO {}", config.hostname), timeout)
        .await
        .map_err(|e| next(format!("EHLO: {e}"), "4.4.2"))?;
    if reply.is_positive() {
        return Ok(Capabilities::parse(&reply));
    }
    if reply.code >= 500 {
        // RFC 5321 3.2: an old server; try HELO.
        let helo = conn
            .command(&format!("HELO {}", config.hostname), timeout)
            .await
            .map_err(|e| next(format!("HELO: {e}"), "4.4.2"))?;
        if helo.is_positive() {
            return Ok(Capabilities::default());
        }
        return Err(next(helo.text(), &helo.status()));
    }
    Err(next(reply.text(), &reply.status()))
}

async fn session(
    config: &ClientConfig<'_>,
    host: &MxHost,
    ip: IpAddr,
    plain_only: bool,
    envelope: &Envelope,
    message: &[u8],
) -> HostOutcome {
    let timeout = config.command_timeout;
    let addr = SocketAddr::new(ip, config.port);
    let tcp = match tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => return next(format!("connect to {addr}: {e}"), "4.4.1"),
        Err(_) => return next(format!("connect to {addr}: timed out"), "4.4.1"),
    };
    let _ = tcp.set_nodelay(true);
    let mut conn = Conn {
        io: Io::Plain(tcp),
        buf: Vec::new(),
    };
    let greeting = match conn.read_reply(timeout, "the greeting").await {
        Ok(reply) => reply,
        Err(e) => return next(format!("greeting: {e}"), "4.4.2"),
    };
    if greeting.code != 220 {
        conn.quit().await;
        return next(greeting.text(), &greeting.status());
    }
    let mut caps = match ehlo(&mut conn, config).await {
        Ok(caps) => caps,
        Err(outcome) => {
            conn.quit().await;
            return outcome;
        }
    };
    let mut encrypted = false;
    if caps.starttls && !plain_only {
        let reply = match conn.command("STARTTLS", timeout).await {
            Ok(reply) => reply,
            Err(e) => return next(format!("STARTTLS: {e}"), "4.4.2"),
        };
        if reply.code == 220 {
            let name = ServerName::try_from(host.name.clone())
                .unwrap_or_else(|_| ServerName::IpAddress(ip.into()));
            let connector = if config.tls_required {
                &config.tls.required
            } else {
                &config.tls.opportunistic
            };
            if let Err(e) = conn.starttls(connector, name, timeout).await {
                return HostOutcome::Next {
                    error: format!("451 4.7.5 TLS handshake failed: {e}"),
                    status: "4.7.5".into(),
                    tls_failed: true,
                };
            }
            encrypted = true;
            caps = match ehlo(&mut conn, config).await {
                Ok(caps) => caps,
                Err(outcome) => {
                    conn.quit().await;
                    return outcome;
                }
            };
        } else if config.tls_required {
            conn.quit().await;
            return next(
                format!(
                    "451 4.7.10 TLS required, STARTTLS refused: {}",
                    reply.text()
                ),
                "4.7.10",
            );
        }
    }
    if config.tls_required && !encrypted {
        conn.quit().await;
        return next(
            "451 4.7.10 TLS required for this domain, but the server does not offer STARTTLS",
            "4.7.10",
        );
    }
    tracing::debug!(host = %host.name, %ip, encrypted, "outbound: session ready");

    let n = envelope.recipients.len();
    let permanent_all = |reply: String, status: &str| {
        vec![
            RcptResult::Permanent {
                reply,
                status: status.to_string(),
            };
            n
        ]
    };
    let needs_utf8 =
        !envelope.sender.is_ascii() || envelope.recipients.iter().any(|r| !r.address.is_ascii());
    if needs_utf8 && !caps.smtputf8 {
        conn.quit().await;
        return HostOutcome::Done(
            permanent_all(
                format!(
                    "553 5.6.7 {} does not support SMTPUTF8, needed for this address",
                    host.name
                ),
                "5.6.7",
            ),
            false,
        );
    }
    if let Some(limit) = caps.size.filter(|l| *l > 0) {
        if message.len() as u64 > limit {
            conn.quit().await;
            return HostOutcome::Done(
                permanent_all(
                    format!(
                        "552 5.3.4 message size {} exceeds the limit of {} ({limit} bytes)",
                        message.len(),
                        host.name
                    ),
                    "5.3.4",
                ),
                false,
            );
        }
    }

    let mut mail = format!("MAIL FROM:<{}>", envelope.sender);
    if caps.size.is_some() {
        mail.push_str(&format!(" SIZE={}", message.len()));
    }
    if caps.eightbitmime && !message.is_ascii() {
        mail.push_str(" BODY=8BITMIME");
    }
    if needs_utf8 {
        mail.push_str(" SMTPUTF8");
    }
    if caps.dsn {
        if let Some(ret) = &envelope.ret {
            mail.push_str(&format!(" RET={ret}"));
        }
        if let Some(id) = &envelope.env_id {
            mail.push_str(&format!(" ENVID={}", xtext(id)));
        }
    }
    let rcpts: Vec<String> = envelope
        .recipients
        .iter()
        .map(|r| {
            let mut line = format!("RCPT TO:<{}>", r.address);
            if caps.dsn {
                if let Some(notify) = &r.notify {
                    line.push_str(&format!(" NOTIFY={notify}"));
                }
                if let Some(orcpt) = &r.orcpt {
                    line.push_str(&format!(" ORCPT=rfc822;{}", xtext(orcpt_address(orcpt))));
                }
            }
            line
        })
        .collect();

    let mail_reply;
    let mut rcpt_replies = Vec::with_capacity(n);
    let mut data_reply = None;
    if caps.pipelining {
        let mut batch = format!("{mail}\r\n");
        for line in &rcpts {
            batch.push_str(line);
            batch.push_str("\r\n");
        }
        batch.push_str("DATA\r\n");
        if let Err(e) = conn.write_all(batch.as_bytes(), timeout).await {
            return next(format!("sending the envelope: {e}"), "4.4.2");
        }
        mail_reply = match conn.read_reply(timeout, "the reply to MAIL").await {
            Ok(r) => r,
            Err(e) => return next(format!("MAIL: {e}"), "4.4.2"),
        };
        if mail_reply.is_positive() {
            for _ in &rcpts {
                match conn.read_reply(timeout, "the reply to RCPT").await {
                    Ok(r) => rcpt_replies.push(r),
                    Err(e) => return next(format!("RCPT: {e}"), "4.4.2"),
                }
            }
            match conn.read_reply(timeout, "the reply to DATA").await {
                Ok(r) => data_reply = Some(r),
                Err(e) => return next(format!("DATA: {e}"), "4.4.2"),
            }
        }
    } else {
        mail_reply = match conn.command(&mail, timeout).await {
            Ok(r) => r,
            Err(e) => return next(format!("MAIL: {e}"), "4.4.2"),
        };
        if mail_reply.is_positive() {
            for line in &rcpts {
                match conn.command(line, timeout).await {
                    Ok(r) => rcpt_replies.push(r),
                    Err(e) => return next(format!("RCPT: {e}"), "4.4.2"),
                }
            }
            if rcpt_replies.iter().any(Reply::is_positive) {
                match conn.command("DATA", timeout).await {
                    Ok(r) => data_reply = Some(r),
                    Err(e) => return next(format!("DATA: {e}"), "4.4.2"),
                }
            }
        }
    }
    if !mail_reply.is_positive() {
        conn.quit().await;
        if mail_reply.is_transient() {
            return next(mail_reply.text(), &mail_reply.status());
        }
        return HostOutcome::Done(
            permanent_all(mail_reply.text(), &mail_reply.status()),
            false,
        );
    }
    let mut results: Vec<Option<RcptResult>> = rcpt_replies
        .iter()
        .map(|r| (!r.is_positive()).then(|| r.to_result_failure()))
        .collect();
    let accepted = results.iter().filter(|r| r.is_none()).count();
    let finish = |results: Vec<Option<RcptResult>>, fill: RcptResult| -> Vec<RcptResult> {
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| fill.clone()))
            .collect()
    };
    let data_reply = match data_reply {
        Some(r) => r,
        None => {
            // Nobody accepted: no DATA was sent.
            conn.quit().await;
            return HostOutcome::Done(
                finish(
                    results,
                    RcptResult::Temporary {
                        reply: "451 4.3.0 internal: no reply".into(),
                        status: "4.3.0".into(),
                    },
                ),
                caps.dsn,
            );
        }
    };
    if accepted == 0 {
        if data_reply.code == 354 {
            // A server that says 354 without recipients: end the empty data at once.
            let _ = conn.write_all(b".\r\n", timeout).await;
            let _ = conn.read_reply(timeout, "the reply to the data").await;
        }
        conn.quit().await;
        return HostOutcome::Done(
            finish(
                results,
                RcptResult::Temporary {
                    reply: "451 4.3.0 internal: no reply".into(),
                    status: "4.3.0".into(),
                },
            ),
            caps.dsn,
        );
    }
    if data_reply.code != 354 {
        conn.quit().await;
        let failure = data_reply.to_result_failure();
        return HostOutcome::Done(finish(results, failure), caps.dsn);
    }
    let data = dot_stuff(message);
    if let Err(e) = conn.write_all(&data, config.data_timeout).await {
        // The final dot did not get through: nothing was accepted, the next host may try.
        return next(format!("sending the message: {e}"), "4.4.2");
    }
    let final_reply = match conn
        .read_reply(config.data_timeout, "the reply to the message data")
        .await
    {
        Ok(r) => r,
        Err(e) => {
            // Ambiguous: the host may have taken the message. Retry later (at-least-once).
            for r in results.iter_mut().filter(|r| r.is_none()) {
                *r = Some(RcptResult::Temporary {
                    reply: format!("451 4.4.2 no answer after the message data: {e}"),
                    status: "4.4.2".into(),
                });
            }
            return HostOutcome::Done(
                finish(
                    results,
                    RcptResult::Delivered {
                        reply: String::new(),
                    },
                ),
                caps.dsn,
            );
        }
    };
    conn.quit().await;
    let fill = if final_reply.is_positive() {
        RcptResult::Delivered {
            reply: final_reply.text(),
        }
    } else {
        final_reply.to_result_failure()
    };
    HostOutcome::Done(finish(results, fill), caps.dsn)
}
