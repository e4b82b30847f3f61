//! IMAP test harness: a real server on 127.0.0.1 ephemeral ports over a fresh SQLite store,
//! users with mail, and a tagged line client; or one session over an in-memory pipe
//! ([`converse`]) on the same fixture.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use imap::{Context, Server, Session, Settings, ShutdownHandle};
use storage::{
    Delivery, DeliveryTarget, FolderChoice, MessageMeta, NewPerson, Store, StoreOptions,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub const USER_A: &str = "nvan.stttt@kontum.gov.vn";
pub const USER_B: &str = "ttbinh.stttt@kontum.gov.vn";
pub const PASSWORD: &str = "mat-khau-123456";

pub struct TestServer {
    pub store: Store,
    pub dir: tempfile::TempDir,
    pub imap: SocketAddr,
    pub imaps: SocketAddr,
    pub shutdown: ShutdownHandle,
    pub account_a: i64,
    pub account_b: i64,
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

/// The AUTH throttle tests run with: production thresholds, delays of milliseconds.
pub fn test_throttle() -> policy::limits::ThrottleConfig {
    policy::limits::ThrottleConfig {
        max_failures: 5,
        lock: Duration::from_secs(60),
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        ..Default::default()
    }
}

pub async fn start_with(tweak: impl FnOnce(&mut Settings)) -> TestServer {
    start_throttled(tweak, test_throttle()).await
}

/// Like [`start_with`], with this AUTH throttle configuration.
pub async fn start_throttled(
    tweak: impl FnOnce(&mut Settings),
    throttle: policy::limits::ThrottleConfig,
) -> TestServer {
    let Fixture {
        store,
        dir,
        context,
        account_a,
        account_b,
    } = fixture_throttled(tweak, throttle).await;
    let any = vec!["127.0.0.1:0".to_string()];
    let server = Server::bind(context, &any, &any).await.unwrap();
    let addrs = server.local_addrs();
    let imap = addrs.iter().find(|(_, tls)| !tls).unwrap().0;
    let imaps = addrs.iter().find(|(_, tls)| *tls).unwrap().0;
    let shutdown = server.shutdown_handle();
    tokio::spawn(server.run());
    TestServer {
        store,
        dir,
        imap,
        imaps,
        shutdown,
        account_a,
        account_b,
    }
}

/// What a server runs on: a fresh SQLite store in a temporary directory with the domain and
/// the two users [`USER_A`] and [`USER_B`], and the [`Context`] sessions share (plaintext
/// login allowed on loopback, a TLS configuration for STARTTLS).
pub struct Fixture {
    pub store: Store,
    pub dir: tempfile::TempDir,
    pub context: Arc<Context>,
    pub account_a: i64,
    pub account_b: i64,
}

/// The [`Fixture`] the TCP harness ([`start_with`]) runs its listeners on.
pub async fn fixture_with(tweak: impl FnOnce(&mut Settings)) -> Fixture {
    fixture_throttled(tweak, test_throttle()).await
}

async fn fixture_throttled(
    tweak: impl FnOnce(&mut Settings),
    throttle: policy::limits::ThrottleConfig,
) -> Fixture {
    fixture_at(None, tweak, throttle).await
}

/// The [`Fixture`] over the database at `url` (an empty PostgreSQL database, say); None = a
/// fresh SQLite file.
pub async fn fixture_at(
    url: Option<String>,
    tweak: impl FnOnce(&mut Settings),
    throttle: policy::limits::ThrottleConfig,
) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = url.unwrap_or_else(|| sqlite_url(dir.path()));
    // As `govmail serve` opens it: every write of these tests goes through this store.
    let store = Store::open(&StoreOptions::new(url, dir.path().to_path_buf()))
        .await
        .unwrap()
        .trusting_announced_changes();
    store.add_domain("kontum.gov.vn", "kontum").await.unwrap();
    let mut ids = vec![];
    for (name, address) in [("Nguyễn Văn An", USER_A), ("Trần Thị Bình", USER_B)] {
        let person = store
            .add_person(&NewPerson {
                full_name: name.into(),
                address: address.into(),
                unit_abbrev: None,
                position: String::new(),
                phone: String::new(),
                password_phc: policy::password::hash(PASSWORD).unwrap(),
                must_change_password: false,
                quota_bytes: 0,
            })
            .await
            .unwrap();
        ids.push(person.account_id);
    }
    let mut settings = Settings::for_hostname("mail.kontum.gov.vn");
    settings.allow_plaintext_loopback = true;
    tweak(&mut settings);
    let throttle = Arc::new(policy::limits::AuthThrottle::new(throttle));
    let context = Arc::new(Context::new(
        settings,
        store.clone(),
        Some(tls_config()),
        throttle,
    ));
    Fixture {
        store,
        dir,
        context,
        account_a: ids[0],
        account_b: ids[1],
    }
}

/// One session on the server end of an in-memory pipe ([`testkit::pair`]), as if a client
/// had connected from loopback; returns the client's end with the greeting read.
pub async fn converse(fixture: &Fixture) -> (testkit::Conversation, String) {
    let (mut client, server_end) = testkit::pair();
    let peer: SocketAddr = "127.0.0.1:50143".parse().unwrap();
    // A sender kept for as long as the session runs: it is never shut down from here.
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let mut session = Session::new(fixture.context.clone(), peer, shutdown_rx);
    tokio::spawn(async move {
        let _ = session.run(server_end).await;
        drop(shutdown_tx);
    });
    let greeting = client.line().await;
    (client, greeting)
}

/// [`converse`], then LOGIN as `user`.
pub async fn converse_as(fixture: &Fixture, user: &str) -> testkit::Conversation {
    let (mut client, _) = converse(fixture).await;
    client
        .imap(&format!("LOGIN {user} {PASSWORD}"))
        .await
        .expect("OK");
    client
}

impl Fixture {
    /// Delivers a message to an account's INBOX the way SMTP does.
    pub async fn deliver(&self, account_id: i64, raw: &[u8]) {
        deliver(&self.store, account_id, raw).await;
    }
}

/// The SQLite database of a fixture's directory.
fn db_file(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join("t.db")
}

/// The URL of the SQLite database of a fixture's directory.
pub fn sqlite_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}", db_file(dir).display())
}

/// Delivers `raw` to the INBOX of `account_id` through `store`.
pub async fn deliver(store: &Store, account_id: i64, raw: &[u8]) {
    store
        .deliver(Delivery {
            raw: Arc::new(raw.to_vec()),
            meta: Arc::new(MessageMeta::compute(raw)),
            targets: vec![DeliveryTarget {
                account_id,
                folder: FolderChoice::Inbox,
                flags: storage::Flags::new(),
            }],
            outbound: None,
            internal_date: storage::now(),
            events: vec![],
        })
        .await
        .unwrap();
}

pub async fn start() -> TestServer {
    start_with(|_| {}).await
}

impl TestServer {
    /// Delivers a message to an account's INBOX the way SMTP does.
    pub async fn deliver(&self, account_id: i64, raw: &[u8]) {
        deliver(&self.store, account_id, raw).await;
    }

    /// The server's SQLite database (what [`fixture_at`] opens by default).
    pub fn db_path(&self) -> std::path::PathBuf {
        db_file(self.dir.path())
    }

    /// Options for another store on the server's database, as another process (the CLI)
    /// opens it.
    pub fn outside_options(&self) -> StoreOptions {
        StoreOptions::new(sqlite_url(self.dir.path()), self.dir.path().to_path_buf())
    }
}

pub fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: =?UTF-8?B?Tmd1eeG7hW4gVsSDbiBBbg==?= <nvan.stttt@kontum.gov.vn>\r\nTo: <ttbinh.stttt@kontum.gov.vn>\r\n\
Subject: {subject}\r\nMessage-ID: <{}@test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0700\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n",
        subject.len()
    )
    .into_bytes()
}

pub struct Client {
    reader: BufReader<TcpStream>,
    next: u32,
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
            next: 1,
            greeting: String::new(),
        };
        client.greeting = client.line().await;
        client
    }

    pub async fn login(addr: SocketAddr, user: &str) -> Client {
        let mut c = Client::connect(addr).await;
        c.ok(&format!("LOGIN {user} {PASSWORD}")).await;
        c
    }

    /// One line, with any literal it announces appended.
    pub async fn line(&mut self) -> String {
        let mut text = String::new();
        loop {
            let (part, more) = self.line_part().await;
            text.push_str(&part);
            if !more {
                return text;
            }
        }
    }

    /// One physical line plus the literal it announces; `true` when more follows.
    async fn line_part(&mut self) -> (String, bool) {
        let mut line = Vec::new();
        let n = tokio::time::timeout(
            Duration::from_secs(20),
            self.reader.read_until(b'\n', &mut line),
        )
        .await
        .expect("response within 20 s")
        .unwrap();
        if n == 0 {
            return (String::new(), false);
        }
        let text = String::from_utf8_lossy(&line).to_string();
        if let Some((i, t)) = text
            .trim_end()
            .strip_suffix('}')
            .and_then(|t| t.rfind('{').map(|i| (i, t)))
        {
            if let Ok(len) = t[i + 1..].parse::<usize>() {
                let mut literal = vec![0u8; len];
                self.reader.read_exact(&mut literal).await.unwrap();
                return (format!("{text}{}", String::from_utf8_lossy(&literal)), true);
            }
        }
        (text, false)
    }

    /// The number the next command's tag `T<n>` will carry.
    pub fn next_tag(&self) -> u32 {
        self.next
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).await.unwrap();
    }

    /// Sends a command; returns (untagged lines, tagged status line).
    pub async fn run(&mut self, command: &str) -> (Vec<String>, String) {
        let tag = format!("T{}", self.next);
        self.next += 1;
        self.send(format!("{tag} {command}\r\n").as_bytes()).await;
        let mut lines = vec![];
        loop {
            let line = self.line().await;
            assert!(
                !line.is_empty(),
                "connection closed during {command:?}; got {lines:?}"
            );
            if line.starts_with(&format!("{tag} ")) {
                return (lines, line[tag.len() + 1..].trim_end().to_string());
            }
            lines.push(line.trim_end().to_string());
        }
    }

    /// Runs a command that must succeed; returns its untagged lines.
    pub async fn ok(&mut self, command: &str) -> Vec<String> {
        let (lines, status) = self.run(command).await;
        assert!(
            status.starts_with("OK"),
            "{command:?} -> {status} ({lines:?})"
        );
        lines
    }

    /// Runs a command that must get `expected` (NO/BAD ...); returns the status line.
    pub async fn fails(&mut self, command: &str, expected: &str) -> String {
        let (lines, status) = self.run(command).await;
        assert!(
            status.starts_with(expected),
            "{command:?} -> {status} ({lines:?}), wanted {expected}"
        );
        status
    }
}

/// Runs `sql` on the test database from a second connection while the server keeps running
/// ([`testkit::sql_from_outside`]).
pub async fn sql_from_outside(server: &TestServer, sql: &str) {
    testkit::sql_from_outside(&server.db_path(), sql).await;
}
