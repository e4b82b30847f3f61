//! Test harness: real LDAP and LDAPS listeners on 127.0.0.1 over a fresh SQLite store (the
//! domain kontum.gov.vn; units UBND and, under it, STP; persons with Vietnamese names, one of
//! them departed; a group), a self-signed certificate for `localhost`, and a small client on
//! ldap3_proto's codec for the checks real client tools cannot make.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ldap::{Context, Kind, Server, Settings};
use ldap3_proto::proto::{LdapMsg, LdapOp};
use ldap3_proto::LdapCodec;
use storage::{NewPerson, NewUnit, Store, StoreOptions};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

pub const DOMAIN: &str = "kontum.gov.vn";
pub const BASE: &str = "dc=kontum,dc=gov,dc=vn";
pub const TUYET: &str = "nttuyet.stp@kontum.gov.vn";
pub const DUNG: &str = "tvdung.stp@kontum.gov.vn";
pub const AN: &str = "nvan.ubnd@kontum.gov.vn";
pub const GONE: &str = "lvnghi.stp@kontum.gov.vn";
pub const GROUP: &str = "lanhdao@kontum.gov.vn";
pub const PASSWORD: &str = "mat-khau-Tuyet-1";

pub struct TestServer {
    pub store: Store,
    pub ldap: SocketAddr,
    pub ldaps: SocketAddr,
    pub cert_pem: String,
    pub ca_file: std::path::PathBuf,
    pub shutdown: listener::Shutdown,
    pub dir: tempfile::TempDir,
}

pub async fn open_store(dir: &tempfile::TempDir) -> Store {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let store = Store::open(&StoreOptions::new(
        format!("sqlite://{}", dir.path().join("t.db").display()),
        dir.path().to_path_buf(),
    ))
    .await
    .unwrap();
    store.add_domain(DOMAIN, "kontum").await.unwrap();
    for (abbrev, name, parent) in [
        ("UBND", "Ủy ban nhân dân tỉnh", None),
        ("STP", "Sở Tư pháp", Some("UBND")),
    ] {
        store
            .add_unit(&NewUnit {
                domain: DOMAIN.into(),
                abbrev: abbrev.into(),
                name: name.into(),
                parent_abbrev: parent.map(str::to_string),
                quota_bytes: 0,
            })
            .await
            .unwrap();
    }
    store
}

pub fn person(
    name: &str,
    address: &str,
    unit: &str,
    position: &str,
    phone: &str,
    phc: &str,
) -> NewPerson {
    NewPerson {
        full_name: name.into(),
        address: address.into(),
        unit_abbrev: Some(unit.into()),
        position: position.into(),
        phone: phone.into(),
        password_phc: phc.into(),
        must_change_password: false,
        quota_bytes: 0,
    }
}

/// The small directory most tests use.
pub async fn start(tweak: impl FnOnce(&mut Settings)) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir).await;
    let phc = policy::password::hash(PASSWORD).unwrap();
    for (name, address, unit, position, phone) in [
        (
            "Nguyễn Thị Tuyết",
            TUYET,
            "STP",
            "Chuyên viên",
            "0260 3862 111",
        ),
        ("Trần Văn Dũng", DUNG, "STP", "Phó Giám đốc", ""),
        (
            "Nguyễn Văn An",
            AN,
            "UBND",
            "Chánh Văn phòng",
            "0260-3862-222",
        ),
        ("Lê Văn Nghị", GONE, "STP", "Chuyên viên", ""),
    ] {
        store
            .add_person(&person(name, address, unit, position, phone, &phc))
            .await
            .unwrap();
    }
    store.depart(GONE).await.unwrap();
    store
        .add_group(GROUP, "Lãnh đạo tỉnh", "members")
        .await
        .unwrap();
    store.add_group_member(GROUP, AN).await.unwrap();
    store.add_group_member(GROUP, DUNG).await.unwrap();
    serve(dir, store, tweak).await
}

pub async fn serve(
    dir: tempfile::TempDir,
    store: Store,
    tweak: impl FnOnce(&mut Settings),
) -> TestServer {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let pair =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let cert_pem = pair.cert.pem();
    let cert = rustls::pki_types::CertificateDer::from(pair.cert.der().to_vec());
    let key = rustls::pki_types::PrivateKeyDer::try_from(pair.signing_key.serialize_der()).unwrap();
    let tls = Arc::new(
        rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap(),
    );
    let mut settings = Settings::for_domain(DOMAIN);
    settings.refresh = Duration::ZERO;
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
    let any = ["127.0.0.1:0".to_string()];
    let server = Server::bind(context, &any, &any).await.unwrap();
    let addrs = server.local_addrs();
    let ldap = addrs.iter().find(|(k, _)| *k == Kind::Ldap).unwrap().1;
    let ldaps = addrs.iter().find(|(k, _)| *k == Kind::Ldaps).unwrap().1;
    let shutdown = server.shutdown_handle();
    tokio::spawn(server.run());
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &cert_pem).unwrap();
    TestServer {
        store,
        ldap,
        ldaps,
        cert_pem,
        ca_file,
        shutdown,
        dir,
    }
}

/// A plaintext client speaking BER through ldap3_proto's codec.
pub struct Client {
    io: Framed<TcpStream, LdapCodec>,
    next_id: i32,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        Client {
            io: Framed::new(stream, LdapCodec::new(Some(1 << 24), None)),
            next_id: 1,
        }
    }

    pub async fn send(&mut self, op: LdapOp, ctrl: Vec<ldap3_proto::control::LdapControl>) -> i32 {
        let msgid = self.next_id;
        self.next_id += 1;
        self.io.send(LdapMsg { msgid, op, ctrl }).await.unwrap();
        msgid
    }

    /// The next message, or None when the server closed.
    pub async fn recv(&mut self) -> Option<LdapMsg> {
        tokio::time::timeout(Duration::from_secs(20), self.io.next())
            .await
            .expect("an answer within 20 s")
            .and_then(Result::ok)
    }

    /// Sends a request and collects messages up to the one that ends it.
    pub async fn request(
        &mut self,
        op: LdapOp,
        ctrl: Vec<ldap3_proto::control::LdapControl>,
    ) -> Vec<LdapMsg> {
        self.send(op, ctrl).await;
        let mut out = vec![];
        while let Some(msg) = self.recv().await {
            let last = !matches!(msg.op, LdapOp::SearchResultEntry(_));
            out.push(msg);
            if last {
                break;
            }
        }
        out
    }

    pub fn raw(&mut self) -> &mut TcpStream {
        self.io.get_mut()
    }
}

/// Runs a command, returning (exit code, stdout, stderr).
pub fn run(cmd: &mut std::process::Command) -> (i32, String, String) {
    let out = cmd.output().expect("the command runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
