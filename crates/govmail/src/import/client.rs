//! A small IMAP client for `govmail import imap`: plain TCP or TLS (tokio-rustls), one command
//! at a time, responses read with a bounded line reader and literals read straight into a
//! buffer of their announced size — so a message is in memory once, and only if it is under
//! `max_literal` (bigger ones are read and dropped in 64 KiB chunks, then reported skipped).
//!
//! Implementation notes: a response is its text with each literal replaced by one 0x01 byte
//! (RFC 9051 9: no CTL may appear in an atom or quoted string, so a 0x01 from the server is
//! refused) plus the literals in order; [`parse_values`] turns such text into values. Status
//! responses (`OK`/`NO`/`BAD`/`BYE`) are never tokenised: their text is free.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Longest response line (text between literals) we accept.
const MAX_LINE: usize = 256 * 1024;
/// Most literals one response may carry besides a message body (folder names, headers).
const MAX_LITERALS: usize = 64;
/// Largest literal that is not a message body (a header, a name).
const MAX_SMALL_LITERAL: u64 = 1024 * 1024;
/// Deadline of each read and write: a stalled server ends the import of that account.
const IO_DEADLINE: Duration = Duration::from_secs(300);

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Where the old server is: `imap://host:port` (plain) or `imaps://host:port` (TLS).
#[derive(Debug, Clone)]
pub struct ServerUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

impl ServerUrl {
    pub fn parse(url: &str) -> anyhow::Result<ServerUrl> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("imaps://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("imap://") {
            (false, rest)
        } else {
            bail!("--from must be imaps://HOST[:PORT] or imap://HOST[:PORT], not {url}");
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => (
                host.trim_start_matches('[').trim_end_matches(']'),
                port.parse::<u16>()
                    .map_err(|_| anyhow!("bad port in {url}"))?,
            ),
            _ => (rest, if tls { 993 } else { 143 }),
        };
        if host.is_empty() {
            bail!("no host in {url}");
        }
        Ok(ServerUrl {
            tls,
            host: host.to_string(),
            port,
        })
    }

    /// A plain connection is allowed only to loopback (tests), as everything we talk to.
    pub fn is_loopback(&self) -> bool {
        self.host == "localhost"
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

/// How to log in on the old server.
#[derive(Debug, Clone)]
pub enum Login {
    /// The user's own password.
    Password { user: String, password: String },
    /// Dovecot master user: `user*master` with the master's password.
    DovecotMaster {
        user: String,
        master: String,
        password: String,
    },
    /// SASL PLAIN with an authorization identity (Zimbra admin, Dovecot master passdb).
    AdminAs {
        user: String,
        admin: String,
        password: String,
    },
}

impl Login {
    /// The SASL PLAIN message (RFC 4616 2): authzid NUL authcid NUL passwd.
    fn plain(&self) -> Vec<u8> {
        let (authzid, authcid, password) = match self {
            Login::Password { user, password } => (String::new(), user.clone(), password),
            Login::DovecotMaster {
                user,
                master,
                password,
            } => (String::new(), format!("{user}*{master}"), password),
            Login::AdminAs {
                user,
                admin,
                password,
            } => (user.clone(), admin.clone(), password),
        };
        let mut out = Vec::new();
        out.extend_from_slice(authzid.as_bytes());
        out.push(0);
        out.extend_from_slice(authcid.as_bytes());
        out.push(0);
        out.extend_from_slice(password.as_bytes());
        out
    }
}

/// One value of a response (RFC 9051 9 grammar, the parts a client reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Atom(String),
    Quoted(Vec<u8>),
    /// Index into the response's literals.
    Literal(usize),
    List(Vec<Value>),
}

impl Value {
    pub fn atom(&self) -> Option<&str> {
        match self {
            Value::Atom(a) => Some(a),
            _ => None,
        }
    }
}

/// A message body literal, or why there is none.
#[derive(Debug)]
pub enum Body {
    /// The bytes, and their share of the in-flight budget (released once committed).
    Bytes(Arc<Vec<u8>>, Option<super::sink::Permit>),
    /// Larger than `max_literal`: read and dropped.
    TooLarge(u64),
}

/// One response: the text (literals as 0x01) and its literals.
#[derive(Debug, Default)]
pub struct Response {
    pub text: Vec<u8>,
    pub literals: Vec<Body>,
}

impl Response {
    pub fn text_str(&self) -> String {
        String::from_utf8_lossy(&self.text).into_owned()
    }
}

/// The answer to a tagged command: status and the rest of its line.
#[derive(Debug)]
pub struct Done {
    pub ok: bool,
    pub line: String,
}

pub struct Client {
    stream: BufReader<Box<dyn Io>>,
    next_tag: u64,
    pub capabilities: Vec<String>,
    /// Bodies over this many bytes are read and dropped.
    pub max_literal: u64,
    /// The in-flight budget a body waits for before it is read (see `sink`).
    pub gate: Option<super::sink::Gate>,
}

/// Waits at most [`IO_DEADLINE`].
async fn deadline<T>(
    what: &str,
    fut: impl std::future::Future<Output = std::io::Result<T>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(IO_DEADLINE, fut).await {
        Ok(result) => result.with_context(|| format!("old server: {what}")),
        Err(_) => bail!(
            "old server: no answer within {}s ({what})",
            IO_DEADLINE.as_secs()
        ),
    }
}

/// A literal announcement `{n}` (or `{n+}`) at the end of a line: n.
fn literal_at_end(line: &[u8]) -> Option<u64> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let digits = &inner[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

impl Client {
    /// Connects and reads the greeting. `insecure_tls`: accept any certificate (tests only).
    pub async fn connect(
        url: &ServerUrl,
        insecure_tls: bool,
        max_literal: u64,
    ) -> anyhow::Result<Client> {
        let tcp = deadline("connect", TcpStream::connect((url.host.as_str(), url.port))).await?;
        tcp.set_nodelay(true).ok();
        let io: Box<dyn Io> = if url.tls {
            let config = super::tls::client_config(insecure_tls)?;
            let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
            let name = rustls_pki_types::ServerName::try_from(url.host.clone())
                .map_err(|_| anyhow!("bad server name {}", url.host))?;
            Box::new(deadline("TLS handshake", connector.connect(name, tcp)).await?)
        } else {
            Box::new(tcp)
        };
        let mut client = Client {
            stream: BufReader::with_capacity(64 * 1024, io),
            next_tag: 1,
            capabilities: Vec::new(),
            max_literal,
            gate: None,
        };
        let greeting = client.read_response(false).await?;
        let text = greeting.text_str();
        if !text.starts_with("* OK") && !text.starts_with("* PREAUTH") {
            bail!("old server greeted with: {text}");
        }
        client.note_capabilities(&text);
        if client.capabilities.is_empty() {
            let done = client.command("CAPABILITY", |_, _| Ok(())).await?;
            if !done.ok {
                bail!("CAPABILITY failed: {}", done.line);
            }
        }
        Ok(client)
    }

    fn note_capabilities(&mut self, text: &str) {
        // "* CAPABILITY a b c" or "* OK [CAPABILITY a b c] ..." (RFC 9051 7.2.2).
        let list = if let Some(rest) = text.strip_prefix("* CAPABILITY ") {
            rest
        } else if let Some(at) = text.find("[CAPABILITY ") {
            let rest = &text[at + 12..];
            &rest[..rest.find(']').unwrap_or(rest.len())]
        } else {
            return;
        };
        self.capabilities = list
            .split_whitespace()
            .map(|c| c.to_ascii_uppercase())
            .collect();
    }

    pub fn has(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|c| c == capability)
    }

    /// Reads one response: a line, then while it ends in a literal announcement, the literal
    /// and the line that continues it. `body_literals`: literals may be message bodies (up to
    /// `max_literal`); otherwise each is at most 1 MiB.
    pub async fn read_response(&mut self, body_literals: bool) -> anyhow::Result<Response> {
        let mut response = Response::default();
        loop {
            let start = response.text.len();
            let n = deadline(
                "reading",
                read_line_bounded(&mut self.stream, &mut response.text),
            )
            .await?;
            if n == 0 {
                bail!("old server closed the connection");
            }
            if response.text[start..].contains(&1) {
                bail!("old server sent a control character 0x01");
            }
            if !response.text.ends_with(b"\r\n") && !response.text.ends_with(b"\n") {
                bail!("old server response line longer than {MAX_LINE} bytes");
            }
            let line_end = response.text.len()
                - if response.text.ends_with(b"\r\n") {
                    2
                } else {
                    1
                };
            response.text.truncate(line_end);
            let Some(size) = literal_at_end(&response.text[start..]) else {
                return Ok(response);
            };
            if response.literals.len() >= MAX_LITERALS {
                bail!("old server response with more than {MAX_LITERALS} literals");
            }
            let open = response
                .text
                .iter()
                .rposition(|&b| b == b'{')
                .unwrap_or(start);
            response.text.truncate(open);
            response.text.push(1);
            let limit = if body_literals {
                self.max_literal
            } else {
                MAX_SMALL_LITERAL
            };
            let body = if size > limit {
                self.skip_bytes(size).await?;
                Body::TooLarge(size)
            } else {
                let permit = match (&self.gate, body_literals) {
                    (Some(gate), true) => Some(gate.acquire(size).await?),
                    _ => None,
                };
                // Exactly `size` bytes, filled in place: read_to_end would grow (and copy) a
                // full buffer to probe for more.
                let mut buffer = Vec::new();
                buffer
                    .try_reserve_exact(size as usize)
                    .map_err(|_| anyhow!("no memory for a {size}-byte message"))?;
                buffer.resize(size as usize, 0);
                deadline("reading a literal", self.stream.read_exact(&mut buffer)).await?;
                Body::Bytes(Arc::new(buffer), permit)
            };
            response.literals.push(body);
        }
    }

    async fn skip_bytes(&mut self, mut left: u64) -> anyhow::Result<()> {
        let mut chunk = vec![0u8; 64 * 1024];
        while left > 0 {
            let want = left.min(chunk.len() as u64) as usize;
            let got = deadline("skipping a literal", self.stream.read(&mut chunk[..want])).await?;
            if got == 0 {
                bail!("old server closed the connection inside a literal");
            }
            left -= got as u64;
        }
        Ok(())
    }

    async fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        let stream = self.stream.get_mut();
        deadline("writing", async {
            stream.write_all(bytes).await?;
            stream.flush().await
        })
        .await
    }

    fn tag(&mut self) -> String {
        let tag = format!("g{}", self.next_tag);
        self.next_tag += 1;
        tag
    }

    /// Sends `command` and hands each untagged response to `each` until the tagged answer.
    /// Bodies in FETCH responses may be message-sized when the command fetches BODY.
    pub async fn command<F>(&mut self, command: &str, mut each: F) -> anyhow::Result<Done>
    where
        F: FnMut(&mut Client, Response) -> anyhow::Result<()>,
    {
        let tag = self.tag();
        let body_literals = command.contains("BODY.PEEK[]");
        self.send(format!("{tag} {command}\r\n").as_bytes()).await?;
        self.finish(&tag, body_literals, &mut each).await
    }

    async fn finish<F>(
        &mut self,
        tag: &str,
        body_literals: bool,
        each: &mut F,
    ) -> anyhow::Result<Done>
    where
        F: FnMut(&mut Client, Response) -> anyhow::Result<()>,
    {
        loop {
            let response = self.read_response(body_literals).await?;
            let text = response.text_str();
            if let Some(rest) = text.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')) {
                let ok = rest.len() >= 2 && rest[..2].eq_ignore_ascii_case("OK");
                self.note_capabilities(rest);
                return Ok(Done {
                    ok,
                    line: rest.to_string(),
                });
            }
            if text.starts_with("* BYE") {
                bail!("old server ended the session: {text}");
            }
            if text.starts_with("* CAPABILITY ") || text.contains("[CAPABILITY ") {
                self.note_capabilities(&text);
            }
            if text.starts_with('+') {
                bail!("old server asked for a continuation we did not expect");
            }
            each(self, response)?;
        }
    }

    /// Logs in with SASL PLAIN (RFC 4616), initial response in the command when the server
    /// has SASL-IR (RFC 4959), else after the continuation; LOGIN if PLAIN is not offered.
    pub async fn login(&mut self, login: &Login) -> anyhow::Result<()> {
        let encoded = base64::engine::general_purpose::STANDARD.encode(login.plain());
        let tag = self.tag();
        let done = if self.has("AUTH=PLAIN") || matches!(login, Login::AdminAs { .. }) {
            if self.has("SASL-IR") {
                self.send(format!("{tag} AUTHENTICATE PLAIN {encoded}\r\n").as_bytes())
                    .await?;
            } else {
                self.send(format!("{tag} AUTHENTICATE PLAIN\r\n").as_bytes())
                    .await?;
                let response = self.read_response(false).await?;
                if !response.text.starts_with(b"+") {
                    bail!(
                        "old server refused AUTHENTICATE PLAIN: {}",
                        response.text_str()
                    );
                }
                self.send(format!("{encoded}\r\n").as_bytes()).await?;
            }
            self.finish(&tag, false, &mut |_, _| Ok(())).await?
        } else {
            let (user, password) = match login {
                Login::Password { user, password } => (user.clone(), password.clone()),
                Login::DovecotMaster {
                    user,
                    master,
                    password,
                } => (format!("{user}*{master}"), password.clone()),
                Login::AdminAs { .. } => unreachable!("handled above"),
            };
            self.send(format!("{tag} LOGIN {} {}\r\n", quote(&user), quote(&password)).as_bytes())
                .await?;
            self.finish(&tag, false, &mut |_, _| Ok(())).await?
        };
        if !done.ok {
            bail!("login refused: {}", done.line);
        }
        if self.capabilities.is_empty() || !self.has("IMAP4REV1") {
            self.command("CAPABILITY", |_, _| Ok(())).await?;
        }
        Ok(())
    }

    pub async fn logout(&mut self) {
        let _ = self.command("LOGOUT", |_, _| Ok(())).await;
    }
}

/// Reads up to and including LF, at most [`MAX_LINE`] bytes; returns the bytes read.
async fn read_line_bounded<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
    out: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(total);
        }
        let room = MAX_LINE.saturating_sub(total);
        let window = &available[..available.len().min(room)];
        if let Some(at) = window.iter().position(|&b| b == b'\n') {
            out.extend_from_slice(&window[..=at]);
            reader.consume(at + 1);
            return Ok(total + at + 1);
        }
        let n = window.len();
        out.extend_from_slice(window);
        reader.consume(n);
        total += n;
        if total >= MAX_LINE {
            return Ok(total);
        }
    }
}

/// A quoted string (RFC 9051 4.3) for a name or password; a literal would need a round trip.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for ch in text.chars() {
        if ch == '"' || ch == '\\' {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('"');
    out
}

/// Parses the values of a response text (after `* `): atoms (with `[...]` sections kept whole,
/// as in `BODY[HEADER.FIELDS (MESSAGE-ID)]`), quoted strings, literals (0x01) and lists.
pub fn parse_values(text: &[u8]) -> anyhow::Result<Vec<Value>> {
    let mut literal_index = 0;
    let mut pos = 0;
    let mut stack: Vec<Vec<Value>> = vec![Vec::new()];
    while pos < text.len() {
        match text[pos] {
            b' ' => pos += 1,
            b'(' => {
                if stack.len() > 64 {
                    bail!("response nested too deep");
                }
                stack.push(Vec::new());
                pos += 1;
            }
            b')' => {
                if stack.len() < 2 {
                    bail!("unbalanced ) in response");
                }
                let list = stack.pop().unwrap_or_default();
                if let Some(top) = stack.last_mut() {
                    top.push(Value::List(list));
                }
                pos += 1;
            }
            b'"' => {
                let mut out = Vec::new();
                pos += 1;
                loop {
                    match text.get(pos) {
                        None => bail!("unterminated quoted string in response"),
                        Some(b'"') => {
                            pos += 1;
                            break;
                        }
                        Some(b'\\') => {
                            if let Some(&next) = text.get(pos + 1) {
                                out.push(next);
                            }
                            pos += 2;
                        }
                        Some(&b) => {
                            out.push(b);
                            pos += 1;
                        }
                    }
                }
                if let Some(top) = stack.last_mut() {
                    top.push(Value::Quoted(out));
                }
            }
            1 => {
                if let Some(top) = stack.last_mut() {
                    top.push(Value::Literal(literal_index));
                }
                literal_index += 1;
                pos += 1;
            }
            _ => {
                let start = pos;
                let mut depth = 0usize;
                while pos < text.len() {
                    let b = text[pos];
                    if b == b'[' {
                        depth += 1;
                    } else if b == b']' {
                        depth = depth.saturating_sub(1);
                    } else if b == 1 || (depth == 0 && (b == b' ' || b == b'(' || b == b')')) {
                        // A literal ends the atom even inside brackets.
                        break;
                    }
                    pos += 1;
                }
                let atom = String::from_utf8_lossy(&text[start..pos]).into_owned();
                if let Some(top) = stack.last_mut() {
                    top.push(Value::Atom(atom));
                }
            }
        }
    }
    if stack.len() != 1 {
        bail!("unbalanced ( in response");
    }
    Ok(stack.pop().unwrap_or_default())
}

/// A response code `[NAME value]` of a status response, if it is `name`.
pub fn response_code<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let open = text.find('[')?;
    let close = text[open..].find(']')? + open;
    let inner = &text[open + 1..close];
    let (code, value) = inner.split_once(' ').unwrap_or((inner, ""));
    code.eq_ignore_ascii_case(name).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        // RFC 9051 7.5.2: msg-att-dynamic / msg-att-static inside FETCH's list.
        let text = b"1 FETCH (UID 7 FLAGS (\\Seen $Label1) INTERNALDATE \"03-Jan-1996 01:05:34 +0000\" BODY[HEADER.FIELDS (MESSAGE-ID)] \x01 BODY[] \x01)";
        let values = parse_values(text).unwrap();
        assert_eq!(values[0], Value::Atom("1".into()));
        assert_eq!(values[1], Value::Atom("FETCH".into()));
        let Value::List(items) = &values[2] else {
            panic!("{values:?}")
        };
        assert_eq!(items[0], Value::Atom("UID".into()));
        assert_eq!(
            items[3],
            Value::List(vec![
                Value::Atom("\\Seen".into()),
                Value::Atom("$Label1".into())
            ])
        );
        assert_eq!(
            items[5],
            Value::Quoted(b"03-Jan-1996 01:05:34 +0000".to_vec())
        );
        assert_eq!(
            items[6],
            Value::Atom("BODY[HEADER.FIELDS (MESSAGE-ID)]".into())
        );
        assert_eq!(items[7], Value::Literal(0));
        assert_eq!(items[9], Value::Literal(1));
        assert!(parse_values(b"(a").is_err());
        assert!(parse_values(b"a)").is_err());
        assert!(parse_values(b"\"open").is_err());
        assert_eq!(literal_at_end(b"* 1 FETCH (BODY[] {123}"), Some(123));
        assert_eq!(literal_at_end(b"x {12+}"), Some(12));
        assert_eq!(literal_at_end(b"x {}"), None);
        assert_eq!(
            response_code("* OK [UIDVALIDITY 42] ok", "UIDVALIDITY"),
            Some("42")
        );
        let url = ServerUrl::parse("imaps://old.example:1993").unwrap();
        assert!(url.tls && url.host == "old.example" && url.port == 1993);
        assert_eq!(ServerUrl::parse("imap://127.0.0.1").unwrap().port, 143);
        assert!(ServerUrl::parse("http://x").is_err());
    }
}
