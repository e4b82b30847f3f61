//! Outbound tests: a scriptable SMTP receiver ("sink") on loopback, worker settings that
//! only ever talk to the test DNS server, and helpers for DKIM keys, certificates, Python.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use smtp::outbound::OutboundSettings;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::dns::TestDns;

/// One message the sink accepted (answered 250 to its data).
#[derive(Debug, Clone)]
pub struct Received {
    /// The client's EHLO/HELO name.
    pub helo: String,
    pub mail_from: String,
    /// The full MAIL FROM line (parameters included).
    pub mail_line: String,
    pub rcpts: Vec<String>,
    pub rcpt_lines: Vec<String>,
    pub data: Vec<u8>,
    pub tls: bool,
}

/// What the sink does and what it saw.
pub struct SinkState {
    pub name: String,
    /// Offer STARTTLS with this acceptor.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub pipelining: bool,
    pub dsn: bool,
    /// Replies to the end of data, used in order; then 250.
    pub data_replies: VecDeque<String>,
    /// Fixed RCPT replies by (lower-case) address; others get 250.
    pub rcpt_replies: HashMap<String, String>,
    /// Never answer the end of data (a worker "crashes" while waiting).
    pub stall_data: bool,
    /// Wait this long before answering the end of data.
    pub data_delay: Duration,
    pub received: Vec<Received>,
    /// Every end of data seen: when, and the reply given (None = stalled).
    pub attempts: Vec<(Instant, Option<String>)>,
    pub connections: usize,
    /// Sessions open now, and the most at once.
    pub active: usize,
    pub max_active: usize,
    /// Transactions (MAIL to end of data) open now, and the most at once.
    pub active_tx: usize,
    pub max_active_tx: usize,
    /// Transactions in progress per recipient; `overlap` records two at once.
    pub inflight: HashMap<String, usize>,
    pub overlap: Vec<String>,
}

#[derive(Clone)]
pub struct Sink {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<SinkState>>,
}

impl Sink {
    /// A receiver on `ip:port` (port 0 = any).
    pub async fn start(ip: &str, port: u16) -> Sink {
        let listener = TcpListener::bind((ip, port)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(SinkState {
            name: "sink.example.org".into(),
            tls: None,
            pipelining: true,
            dsn: false,
            data_replies: VecDeque::new(),
            rcpt_replies: HashMap::new(),
            stall_data: false,
            data_delay: Duration::ZERO,
            received: vec![],
            attempts: vec![],
            connections: 0,
            active: 0,
            max_active: 0,
            active_tx: 0,
            max_active_tx: 0,
            inflight: HashMap::new(),
            overlap: vec![],
        }));
        let shared = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = shared.clone();
                tokio::spawn(async move {
                    {
                        let mut s = state.lock().unwrap();
                        s.connections += 1;
                        s.active += 1;
                        s.max_active = s.max_active.max(s.active);
                    }
                    let mut reader = BufReader::new(stream);
                    if let Step::StartTls = session(&mut reader, &state, false).await {
                        let acceptor = state.lock().unwrap().tls.clone().unwrap();
                        let stream = reader.into_inner();
                        if let Ok(tls) = acceptor.accept(stream).await {
                            let mut reader = BufReader::new(tls);
                            session(&mut reader, &state, true).await;
                        }
                    }
                    state.lock().unwrap().active -= 1;
                });
            }
        });
        Sink { addr, state }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut SinkState) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    pub fn received(&self) -> Vec<Received> {
        self.with(|s| s.received.clone())
    }

    /// Waits until at least `n` messages were accepted.
    pub async fn wait_received(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "sink: {} message(s) after {within:?}, wanted {n}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the sink has seen `n` ends of data (answered or not).
    pub async fn wait_attempts(&self, n: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.with(|s| s.attempts.len()) < n {
            assert!(
                Instant::now() < deadline,
                "sink: fewer than {n} attempts after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

enum Step {
    Quit,
    StartTls,
}

fn address_of(line: &str) -> String {
    match (line.find('<'), line.find('>')) {
        (Some(a), Some(b)) if b > a => line[a + 1..b].to_string(),
        _ => String::new(),
    }
}

async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    reader: &mut BufReader<S>,
    state: &Mutex<SinkState>,
    tls: bool,
) -> Step {
    async fn say<S: AsyncRead + AsyncWrite + Unpin>(r: &mut BufReader<S>, text: &str) -> bool {
        r.get_mut().write_all(text.as_bytes()).await.is_ok() && r.get_mut().flush().await.is_ok()
    }
    let name = state.lock().unwrap().name.clone();
    if !tls && !say(reader, &format!("220 {name} ESMTP sink\r\n")).await {
        return Step::Quit;
    }
    let mut mail: Option<(String, String)> = None;
    let mut rcpts: Vec<(String, String)> = vec![];
    let release = |rcpts: &[(String, String)]| {
        let mut s = state.lock().unwrap();
        for (r, _) in rcpts {
            if let Some(n) = s.inflight.get_mut(&r.to_lowercase()) {
                *n = n.saturating_sub(1);
            }
        }
    };
    let mut in_tx = false;
    let mut helo = String::new();
    let end_tx = |in_tx: &mut bool| {
        if std::mem::take(in_tx) {
            state.lock().unwrap().active_tx -= 1;
        }
    };
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => {
                release(&rcpts);
                end_tx(&mut in_tx);
                return Step::Quit;
            }
            Ok(_) => {}
        }
        let line = line.trim_end().to_string();
        let verb = line
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply = match verb.as_str() {
            "EHLO" => {
                helo = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let s = state.lock().unwrap();
                let mut caps = vec![name.clone(), "SIZE 10485760".into(), "8BITMIME".into()];
                if s.pipelining {
                    caps.push("PIPELINING".into());
                }
                if s.dsn {
                    caps.push("DSN".into());
                }
                if s.tls.is_some() && !tls {
                    caps.push("STARTTLS".into());
                }
                caps.push("SMTPUTF8".into());
                let n = caps.len();
                caps.iter()
                    .enumerate()
                    .map(|(i, c)| format!("250{}{c}\r\n", if i + 1 == n { ' ' } else { '-' }))
                    .collect::<String>()
            }
            "HELO" => format!("250 {name}\r\n"),
            "STARTTLS" if !tls && state.lock().unwrap().tls.is_some() => {
                if say(reader, "220 2.0.0 go ahead\r\n").await {
                    return Step::StartTls;
                }
                return Step::Quit;
            }
            "MAIL" => {
                if !in_tx {
                    in_tx = true;
                    let mut s = state.lock().unwrap();
                    s.active_tx += 1;
                    s.max_active_tx = s.max_active_tx.max(s.active_tx);
                }
                mail = Some((address_of(&line), line.clone()));
                "250 2.1.0 Ok\r\n".into()
            }
            "RCPT" if mail.is_some() => {
                let address = address_of(&line);
                let mut s = state.lock().unwrap();
                match s.rcpt_replies.get(&address.to_lowercase()) {
                    Some(reply) => format!("{reply}\r\n"),
                    None => {
                        let n = s.inflight.entry(address.to_lowercase()).or_default();
                        *n += 1;
                        if *n > 1 {
                            s.overlap.push(address.clone());
                        }
                        rcpts.push((address, line.clone()));
                        "250 2.1.5 Ok\r\n".into()
                    }
                }
            }
            "DATA" if rcpts.is_empty() => "554 5.5.1 no valid recipients\r\n".into(),
            "DATA" => {
                if !say(reader, "354 end with <CRLF>.<CRLF>\r\n").await {
                    release(&rcpts);
                    end_tx(&mut in_tx);
                    return Step::Quit;
                }
                let mut data = Vec::new();
                loop {
                    let mut raw = Vec::new();
                    match reader.read_until(b'\n', &mut raw).await {
                        Ok(0) | Err(_) => {
                            release(&rcpts);
                            end_tx(&mut in_tx);
                            return Step::Quit;
                        }
                        Ok(_) => {}
                    }
                    if raw == b".\r\n" {
                        break;
                    }
                    if raw.starts_with(b"..") {
                        raw.remove(0);
                    }
                    data.extend_from_slice(&raw);
                }
                let (stall, delay) = {
                    let s = state.lock().unwrap();
                    (s.stall_data, s.data_delay)
                };
                if stall {
                    state.lock().unwrap().attempts.push((Instant::now(), None));
                    // Hold the connection without answering until the client goes away.
                    let mut rest = Vec::new();
                    let _ = reader.read_until(b'\n', &mut rest).await;
                    release(&rcpts);
                    end_tx(&mut in_tx);
                    return Step::Quit;
                }
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let reply = {
                    let mut s = state.lock().unwrap();
                    let reply = s
                        .data_replies
                        .pop_front()
                        .unwrap_or_else(|| "250 2.0.0 Ok: queued".into());
                    s.attempts.push((Instant::now(), Some(reply.clone())));
                    if reply.starts_with('2') {
                        let (mail_from, mail_line) = mail.clone().unwrap_or_default();
                        s.received.push(Received {
                            helo: helo.clone(),
                            mail_from,
                            mail_line,
                            rcpts: rcpts.iter().map(|(a, _)| a.clone()).collect(),
                            rcpt_lines: rcpts.iter().map(|(_, l)| l.clone()).collect(),
                            data,
                            tls,
                        });
                    }
                    reply
                };
                release(&rcpts);
                end_tx(&mut in_tx);
                rcpts.clear();
                mail = None;
                format!("{reply}\r\n")
            }
            "RSET" => {
                release(&rcpts);
                end_tx(&mut in_tx);
                rcpts.clear();
                mail = None;
                "250 2.0.0 Ok\r\n".into()
            }
            "NOOP" => "250 2.0.0 Ok\r\n".into(),
            "QUIT" => {
                let _ = say(reader, "221 2.0.0 Bye\r\n").await;
                release(&rcpts);
                end_tx(&mut in_tx);
                return Step::Quit;
            }
            _ => "502 5.5.2 unknown command\r\n".into(),
        };
        if !say(reader, &reply).await {
            release(&rcpts);
            end_tx(&mut in_tx);
            return Step::Quit;
        }
    }
}

/// Worker settings for tests: DNS only from `dns`, MX port = `port`, quick schedule.
pub fn settings(dns: &TestDns, port: u16) -> OutboundSettings {
    let mut s = OutboundSettings::new("mx.kontum.gov.vn");
    s.resolvers = vec![dns.addr];
    s.port = port;
    s.retry_schedule = vec![Duration::from_secs(1)];
    s.poll_interval = Duration::from_millis(100);
    s.lease = Duration::from_secs(30);
    s.connect_timeout = Duration::from_secs(5);
    s.command_timeout = Duration::from_secs(10);
    s.data_timeout = Duration::from_secs(30);
    s.tls_ca_file = None;
    s
}

/// An RSA-2048 DKIM key written as PKCS#8 PEM to `dir/name.pem`.
pub fn write_rsa_key(dir: &Path, name: &str) -> std::path::PathBuf {
    let key = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        .unwrap();
    let path = dir.join(format!("{name}.pem"));
    std::fs::write(&path, key.serialize_pem()).unwrap();
    path
}

/// A CA and a server certificate for `names` signed by it: (ca_pem, server TLS config).
pub fn ca_and_server(names: &[&str]) -> (String, Arc<rustls::ServerConfig>) {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "govmail test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, &ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf_params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let cert = rustls::pki_types::CertificateDer::from(leaf.der().to_vec());
    let key = rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    (ca_cert.pem(), Arc::new(config))
}

/// Runs `python3 -c script args...` with `stdin`; returns (success, stdout+stderr).
pub fn python(script: &str, args: &[&str], stdin: &[u8]) -> (bool, String) {
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Polls `check` every 50 ms until it is true or `within` has passed.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
