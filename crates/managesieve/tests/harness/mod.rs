//! Test harness: a real ManageSieve listener on 127.0.0.1 over a fresh SQLite store (a
//! domain, the unit STTTT headed by USER_A, USER_B with no rights on it), a self-signed
//! certificate for `localhost`, and a line client.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use managesieve::{Context, Server, Settings};
use storage::{NewPerson, NewUnit, Store, StoreOptions};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub const DOMAIN: &str = "kontum.gov.vn";
pub const USER_A: &str = "nvan.stttt@kontum.gov.vn";
pub const USER_B: &str = "ttbinh.stttt@kontum.gov.vn";
pub const PASSWORD_A: &str = "mat-khau-A-123";
pub const PASSWORD_B: &str = "mat-khau-B-456";

pub struct TestServer {
    pub store: Store,
    pub addr: SocketAddr,
    pub account_a: i64,
    pub unit_account: i64,
    pub unit_address: String,
    /// PEM of the certificate (a client's trust anchor).
    pub cert_pem: String,
    pub shutdown: listener::Shutdown,
    pub dir: tempfile::TempDir,
}

pub async fn start(tweak: impl FnOnce(&mut Settings)) -> TestServer {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreOptions::new(
        format!("sqlite://{}", dir.path().join("t.db").display()),
        dir.path().to_path_buf(),
    ))
    .await
    .unwrap();
    store.add_domain(DOMAIN, "kontum").await.unwrap();
    let unit = store
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
    store.set_unit_head("STTTT", USER_A).await.unwrap();
    let pair = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_pem = pair.cert.pem();
    let cert = rustls::pki_types::CertificateDer::from(pair.cert.der().to_vec());
    let key = rustls::pki_types::PrivateKeyDer::try_from(pair.signing_key.serialize_der()).unwrap();
    let tls = Arc::new(
        rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap(),
    );
    let mut settings = Settings::for_hostname("mail.kontum.gov.vn");
    settings.login_timeout = Duration::from_secs(20);
    tweak(&mut settings);
    let throttle = Arc::new(policy::limits::AuthThrottle::new(
        policy::limits::ThrottleConfig {
            max_failures: 3,
            first_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
            ..Default::default()
        },
    ));
    let context = Arc::new(Context::new(settings, store.clone(), Some(tls), throttle));
    let server = Server::bind(context, &["127.0.0.1:0".to_string()])
        .await
        .unwrap();
    let addr = server.local_addrs()[0];
    let shutdown = server.shutdown_handle();
    tokio::spawn(server.run());
    TestServer {
        store,
        addr,
        account_a: ids[0],
        unit_account: unit.account_id,
        unit_address: unit.address,
        cert_pem,
        shutdown,
        dir,
    }
}

pub fn plain(authzid: &str, user: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{authzid}\0{user}\0{password}"))
}

/// A plaintext line client (the tests that need TLS use the real client library).
pub struct Client {
    reader: BufReader<TcpStream>,
    /// The greeting: the capability response.
    pub greeting: String,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let mut client = Client {
            reader: BufReader::new(TcpStream::connect(addr).await.unwrap()),
            greeting: String::new(),
        };
        client.greeting = client.response().await;
        client
    }

    /// Lines up to and including the final OK/NO/BYE line; literals read whole.
    pub async fn response(&mut self) -> String {
        let mut out = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(20), self.reader.read_line(&mut line))
                .await
                .expect("a response within 20 s")
                .unwrap_or(0);
            if n == 0 {
                return out;
            }
            out.push_str(&line);
            let trimmed = line.trim_end();
            if let Some(size) = trimmed
                .strip_suffix('}')
                .and_then(|t| t.rsplit_once('{'))
                .and_then(|(_, n)| n.parse::<usize>().ok())
            {
                let mut literal = vec![0; size];
                self.reader.read_exact(&mut literal).await.unwrap();
                out.push_str(&String::from_utf8_lossy(&literal));
                if ["OK", "NO", "BYE"].iter().any(|k| trimmed.starts_with(k)) {
                    // A final response whose text is a literal: its line end follows.
                    let mut end = String::new();
                    let _ = self.reader.read_line(&mut end).await;
                    out.push_str(&end);
                    return out;
                }
                continue;
            }
            if ["OK", "NO", "BYE"].iter().any(|k| trimmed.starts_with(k)) {
                return out;
            }
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).await.unwrap();
    }

    /// Sends a command and returns the whole response.
    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.response().await
    }

    /// Logs in with PLAIN (loopback plaintext allowed in that test).
    pub async fn login(&mut self, authzid: &str, user: &str, password: &str) -> String {
        self.cmd(&format!(
            "AUTHENTICATE \"PLAIN\" \"{}\"",
            plain(authzid, user, password)
        ))
        .await
    }

    pub async fn put(&mut self, name: &str, script: &str) -> String {
        self.send(format!("PUTSCRIPT \"{name}\" {{{}+}}\r\n{script}\r\n", script.len()).as_bytes())
            .await;
        self.response().await
    }
}
