//! Test harness: a real SMTP server on 127.0.0.1 ephemeral ports over a fresh SQLite store,
//! a directory with a domain, a unit, users and a group, and a tiny line-based client.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use smtp::{Context, ListenerKind, Server, Settings, ShutdownHandle};
use storage::{NewPerson, NewUnit, Store, StoreOptions};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub const DOMAIN: &str = "kontum.gov.vn";
pub const USER_A: &str = "nvan.stttt@kontum.gov.vn";
pub const USER_B: &str = "ttbinh.stttt@kontum.gov.vn";
pub const PASSWORD_A: &str = "mat-khau-A-123";
pub const PASSWORD_B: &str = "mat-khau-B-456";
pub const GROUP: &str = "cacso@kontum.gov.vn";
pub const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// The clamd every test shares (started by scripts/test).
pub fn clamd_url() -> String {
    std::env::var("GOVMAIL_TEST_CLAMD")
        .expect("GOVMAIL_TEST_CLAMD is not set: run the tests with scripts/test (it starts a private clamd)")
}

pub fn clamd(url: &str) -> policy::antivirus::Clamd {
    policy::antivirus::Clamd::new(
        policy::antivirus::ClamdAddress::parse(url).unwrap(),
        Duration::from_secs(5),
    )
}

pub fn tls_config() -> Arc<rustls::ServerConfig> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let pair = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = rustls::pki_types::CertificateDer::from(pair.cert.der().to_vec());
    let key = rustls::pki_types::PrivateKeyDer::try_from(pair.signing_key.serialize_der()).unwrap();
    Arc::new(
        rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap(),
    )
}

pub struct TestServer {
    pub store: Store,
    pub dir: tempfile::TempDir,
    pub mx: SocketAddr,
    pub submission: SocketAddr,
    pub submissions: SocketAddr,
    pub shutdown: ShutdownHandle,
    pub account_a: i64,
    pub account_b: i64,
    /// The server's clamd client (its session pool and counters), when scanning is on.
    pub clamd: Option<policy::antivirus::Clamd>,
}

/// Starts a server with `settings` adjusted by `tweak`, clamd at `clamd_url` (None = off).
pub async fn start_with(
    tweak: impl FnOnce(&mut Settings),
    clamd_url: Option<String>,
) -> TestServer {
    start_custom(tweak, clamd_url, None).await
}

/// Like [`start_with`], with SPF/DKIM/DMARC checks through `authenticator` (None = off).
pub async fn start_custom(
    tweak: impl FnOnce(&mut Settings),
    clamd_url: Option<String>,
    authenticator: Option<smtp::authres::Authenticator>,
) -> TestServer {
    start_full(tweak, clamd_url, authenticator, None).await
}

/// The AUTH throttle tests run with: `auth_max_failures` and `auth_lock` from the settings,
/// delays of milliseconds, production per-IP ban thresholds.
pub fn test_throttle(settings: &Settings) -> policy::limits::ThrottleConfig {
    policy::limits::ThrottleConfig {
        max_failures: settings.auth_max_failures,
        lock: settings.auth_lock,
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        ..Default::default()
    }
}

/// Like [`start_with`] (no clamd), with this AUTH throttle configuration.
pub async fn start_throttled(
    tweak: impl FnOnce(&mut Settings),
    throttle: policy::limits::ThrottleConfig,
) -> TestServer {
    start_full(tweak, None, None, Some(throttle)).await
}

async fn start_full(
    tweak: impl FnOnce(&mut Settings),
    clamd_url: Option<String>,
    authenticator: Option<smtp::authres::Authenticator>,
    throttle: Option<policy::limits::ThrottleConfig>,
) -> TestServer {
    let (store, dir, ids) = test_store().await;
    let context = Arc::new(test_context(
        &store,
        tweak,
        clamd_url,
        authenticator,
        throttle,
    ));
    let clamd = context.clamd.clone();
    let any = vec!["127.0.0.1:0".to_string()];
    let server = Server::bind(context, &any, &any, &any).await.unwrap();
    let addr = |kind| {
        server
            .local_addrs()
            .into_iter()
            .find(|(k, _)| *k == kind)
            .unwrap()
            .1
    };
    let (mx, submission, submissions) = (
        addr(ListenerKind::Mx),
        addr(ListenerKind::Submission),
        addr(ListenerKind::Submissions),
    );
    let shutdown = server.shutdown_handle();
    tokio::spawn(server.run());
    TestServer {
        store,
        dir,
        mx,
        submission,
        submissions,
        shutdown,
        account_a: ids[0],
        account_b: ids[1],
        clamd,
    }
}

/// A fresh SQLite store with the test directory: a domain, a unit, USER_A and USER_B (their
/// account ids returned), and GROUP with both.
async fn test_store() -> (Store, tempfile::TempDir, Vec<i64>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreOptions::new(
        format!("sqlite://{}", dir.path().join("t.db").display()),
        dir.path().to_path_buf(),
    ))
    .await
    .unwrap();
    store.add_domain(DOMAIN, "kontum").await.unwrap();
    store
        .add_unit(&NewUnit {
            domain: DOMAIN.into(),
            abbrev: "STTTT".into(),
            name: "Sở Thông tin và Truyền thông".into(),
            parent_abbrev: None,
            quota_bytes: 0,
        })
        .await
        .unwrap();
    let mut ids = vec![];
    for (name, address, password) in [
        ("Nguyễn Văn An", USER_A, PASSWORD_A),
        ("Trần Thị Bình", USER_B, PASSWORD_B),
    ] {
        let person = store
            .add_person(&NewPerson {
                full_name: name.into(),
                address: address.into(),
                unit_abbrev: Some("STTTT".into()),
                position: String::new(),
                phone: String::new(),
                password_phc: policy::password::hash(password).unwrap(),
                must_change_password: false,
                quota_bytes: 0,
            })
            .await
            .unwrap();
        ids.push(person.account_id);
    }
    store.add_group(GROUP, "Các sở", "anyone").await.unwrap();
    store.add_group_member(GROUP, USER_A).await.unwrap();
    store.add_group_member(GROUP, USER_B).await.unwrap();
    (store, dir, ids)
}

/// The context every session of a test server shares: test settings (20 s idle timeout)
/// adjusted by `tweak`, a self-signed certificate, the AUTH throttle.
fn test_context(
    store: &Store,
    tweak: impl FnOnce(&mut Settings),
    clamd_url: Option<String>,
    authenticator: Option<smtp::authres::Authenticator>,
    throttle: Option<policy::limits::ThrottleConfig>,
) -> Context {
    let mut settings = Settings::for_hostname("mx.kontum.gov.vn");
    settings.idle_timeout = Duration::from_secs(20);
    tweak(&mut settings);
    let throttle = Arc::new(policy::limits::AuthThrottle::new(
        throttle.unwrap_or_else(|| test_throttle(&settings)),
    ));
    let context = Context::new(
        settings,
        store.clone(),
        clamd_url.map(|u| clamd(&u)),
        Some(tls_config()),
        throttle,
    );
    match authenticator {
        Some(authenticator) => context.with_authenticator(authenticator),
        None => context,
    }
}

/// One session over an in-memory pipe (`testkit::pair`), no listener: the store and accounts
/// as [`TestServer`] has them. Dropping it ends the session as a shutdown would.
pub struct InMemory {
    pub store: Store,
    pub dir: tempfile::TempDir,
    pub account_a: i64,
    pub account_b: i64,
    /// The session's task: how its `run` ended.
    pub session: tokio::task::JoinHandle<std::io::Result<()>>,
    /// Kept: a dropped sender reads as a shutdown.
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl InMemory {
    pub async fn inbox(&self, account_id: i64) -> Vec<Vec<u8>> {
        let folder = self.store.folder(account_id, "INBOX").await.unwrap();
        let mut out = vec![];
        for row in self.store.messages(folder.id).await.unwrap() {
            out.push(self.store.read_blob(&row.blob_id).await.unwrap());
        }
        out
    }

    /// Tells the session the server is shutting down.
    pub fn shut_down(&self) {
        let _ = self.shutdown.send(true);
    }
}

/// Runs a [`smtp::session::Session`] of `kind` (settings adjusted by `tweak`, no clamd) on
/// the server end of an in-memory pipe, the peer at 127.0.0.1; returns the client's end
/// before the greeting is read.
pub async fn in_memory(
    kind: ListenerKind,
    tweak: impl FnOnce(&mut Settings),
) -> (testkit::Conversation, InMemory) {
    let (store, dir, ids) = test_store().await;
    let context = Arc::new(test_context(&store, tweak, None, None, None));
    let (conversation, server_end) = testkit::pair();
    let (shutdown, stopped) = tokio::sync::watch::channel(false);
    let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let session = tokio::spawn(async move {
        let mut session = smtp::session::Session::new(context, kind, peer, stopped);
        session.run(server_end).await.map(|_| ())
    });
    let harness = InMemory {
        store,
        dir,
        account_a: ids[0],
        account_b: ids[1],
        session,
        shutdown,
    };
    (conversation, harness)
}

pub async fn start() -> TestServer {
    start_with(|_| {}, Some(clamd_url())).await
}

impl TestServer {
    /// Raw bytes of every message in an account's folder, in UID order.
    pub async fn folder_messages(&self, account_id: i64, folder: &str) -> Vec<Vec<u8>> {
        let folder = self.store.folder(account_id, folder).await.unwrap();
        let mut out = vec![];
        for row in self.store.messages(folder.id).await.unwrap() {
            out.push(self.store.read_blob(&row.blob_id).await.unwrap());
        }
        out
    }

    pub async fn inbox(&self, account_id: i64) -> Vec<Vec<u8>> {
        self.folder_messages(account_id, "INBOX").await
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

/// A line-based SMTP client for protocol tests.
pub struct Client {
    reader: BufReader<TcpStream>,
    pub greeting: String,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        Client::from_stream(TcpStream::connect(addr).await.unwrap()).await
    }

    /// Connects from `local` (any 127.x.y.z works on Linux: all of 127/8 is loopback), so a
    /// test can be several clients on several addresses.
    pub async fn connect_from(addr: SocketAddr, local: std::net::IpAddr) -> Client {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(local, 0)).unwrap();
        Client::from_stream(socket.connect(addr).await.unwrap()).await
    }

    async fn from_stream(stream: TcpStream) -> Client {
        let mut client = Client {
            reader: BufReader::new(stream),
            greeting: String::new(),
        };
        client.greeting = client.read_reply().await;
        client
    }

    /// Reads one (possibly multi-line) reply; empty string on EOF.
    pub async fn read_reply(&mut self) -> String {
        let mut reply = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(30), self.reader.read_line(&mut line))
                .await
                .expect("reply within 30 s")
                .unwrap_or(0);
            if n == 0 {
                return reply;
            }
            reply.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return reply;
            }
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).await.unwrap();
    }

    /// Sends a command line and asserts the reply starts with `code`; returns the reply.
    pub async fn cmd(&mut self, line: &str, code: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        let reply = self.read_reply().await;
        assert!(
            reply.starts_with(code),
            "{line:?}: expected {code}, got {reply:?}"
        );
        reply
    }

    /// EHLO, MAIL, RCPTs, DATA with `body`; returns the final reply.
    pub async fn send_mail(&mut self, from: &str, to: &[&str], body: &str) -> String {
        self.cmd(&format!("MAIL FROM:<{from}>"), "250").await;
        for rcpt in to {
            self.cmd(&format!("RCPT TO:<{rcpt}>"), "250").await;
        }
        self.cmd("DATA", "354").await;
        let mut data = String::new();
        for line in body.split("\r\n") {
            if line.starts_with('.') {
                data.push('.');
            }
            data.push_str(line);
            data.push_str("\r\n");
        }
        if body.ends_with("\r\n") {
            data.truncate(data.len() - 2);
        }
        data.push_str(".\r\n");
        self.send(data.as_bytes()).await;
        self.read_reply().await
    }

    /// True when the server has closed the connection.
    pub async fn is_closed(&mut self) -> bool {
        let mut line = String::new();
        matches!(
            tokio::time::timeout(Duration::from_secs(10), self.reader.read_line(&mut line)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

/// A message with a Message-ID of its own (each call another, as a mail client writes them).
pub fn message(from: &str, to: &str, subject: &str, body: &str) -> String {
    static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nMessage-ID: <{}.{serial}@test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0700\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n",
        storage::now()
    )
}

pub mod dns;
pub mod outbound_support;
