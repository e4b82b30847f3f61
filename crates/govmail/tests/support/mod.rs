//! A data dir set up through the admin CLI as the IT centre would (`Install`), and the private
//! clamd of the test run. Shared by the test files that include it with `mod support;`, next to
//! `mod served;` (which runs `govmail serve` on such a data dir). A test file adds its own
//! `impl Install` for what only it needs (its people, its Python helpers).

#![allow(dead_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::served::{self, Served};

const BIN: &str = env!("CARGO_BIN_EXE_govmail");

/// The private clamd of the test run.
pub fn clamd_url() -> String {
    std::env::var("GOVMAIL_TEST_CLAMD").expect(
        "GOVMAIL_TEST_CLAMD is not set: run the tests with scripts/test (it starts a private clamd)",
    )
}

/// The listeners of `govmail serve`: the key under `listen.` and the KIND of its
/// "listening KIND ADDR" line on stdout (plain HTTP prints none).
const LISTENERS: [(&str, Option<&str>); 10] = [
    ("smtp", Some("smtp Mx")),
    ("submission", Some("smtp Submission")),
    ("submissions", Some("smtp Submissions")),
    ("imap", Some("imap")),
    ("imaps", Some("imaps")),
    ("http", None),
    ("https", Some("https")),
    ("managesieve", Some("managesieve")),
    ("ldap", Some("ldap")),
    ("ldaps", Some("ldaps")),
];

/// One data dir (`data/` in a temporary dir, scratch files next to it), set up through the CLI.
pub struct Install {
    tmp: tempfile::TempDir,
}

impl Install {
    /// Domain `domain` (KT-4 naming), unit STTTT named `unit_name`, and each
    /// (name, address, password) as a person of that unit.
    pub fn with_people(domain: &str, unit_name: &str, people: &[(&str, &str, &str)]) -> Install {
        let install = Install {
            tmp: tempfile::tempdir().unwrap(),
        };
        install.ok(&["domain", "add", domain, "--naming", "kontum"], None);
        install.ok(
            &["unit", "add", "--abbrev", "STTTT", "--name", unit_name],
            None,
        );
        for &(name, address, password) in people {
            install.ok(
                &[
                    "user",
                    "add",
                    "--name",
                    name,
                    "--unit",
                    "STTTT",
                    "--address",
                    address,
                    "--password-stdin",
                ],
                Some(&format!("{password}\n")),
            );
        }
        install
    }

    pub fn data_dir(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    pub fn scratch(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// The self-signed certificate `serve` generated.
    pub fn cert_path(&self) -> PathBuf {
        self.data_dir().join("tls").join("cert.pem")
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env_remove("GOVMAIL_CONFIG")
            .env_remove("RUST_LOG")
            .arg("--no-config")
            .arg("--set")
            .arg(format!("server.data_dir={}", self.data_dir().display()));
        cmd
    }

    /// `govmail --set S... serve` on this data dir (not started), and a path of its own for the
    /// server's stderr.
    fn serve_command(&self, sets: &[String]) -> (Command, PathBuf) {
        static STARTS: AtomicUsize = AtomicUsize::new(0);
        let stderr_path = self.scratch(&format!(
            "serve-{}.stderr",
            STARTS.fetch_add(1, Ordering::SeqCst)
        ));
        let mut cmd = self.command();
        for set in sets {
            cmd.arg("--set").arg(set);
        }
        cmd.arg("serve");
        (cmd, stderr_path)
    }

    /// `govmail serve` on this data dir, started: the listeners named in `open` (keys under
    /// `listen.`: "smtp", "imaps", "https", ...) on free loopback ports, every other listener
    /// off, no DNS look-up of senders and no delivery outward; then `sets` (a test's own
    /// settings, which win). Started again on other ports when one was taken before the server
    /// bound it. The listeners' addresses come in the order of `open`.
    pub fn serve_on(&self, open: &[&str], sets: &[String]) -> (Served, Vec<SocketAddr>) {
        for name in open {
            assert!(
                LISTENERS.iter().any(|(key, _)| key == name),
                "no listener {name:?}"
            );
        }
        served::with_retries(|_attempt| {
            let ports: Vec<u16> = open.iter().map(|_| served::free_port()).collect();
            let mut all = vec![
                // No DNS from tests: SPF/DKIM/DMARC are covered in crates/smtp/tests with a
                // resolver the test controls; outbound delivery would look domains up.
                "smtp.check_sender_authentication=false".to_string(),
                "outbound.enabled=false".to_string(),
            ];
            for (key, _) in LISTENERS {
                let listen = match open.iter().position(|name| *name == key) {
                    Some(i) => format!("[\"127.0.0.1:{}\"]", ports[i]),
                    None => "[]".to_string(),
                };
                all.push(format!("listen.{key}={listen}"));
            }
            all.extend_from_slice(sets);
            let (cmd, stderr) = self.serve_command(&all);
            let served = Served::spawn(cmd, stderr)?;
            let addrs = open
                .iter()
                .zip(&ports)
                .map(
                    |(name, &port)| match LISTENERS.iter().find(|(key, _)| key == name) {
                        Some((_, Some(kind))) => served.addr(kind, port),
                        // Plain HTTP prints no "listening" line.
                        _ => SocketAddr::from(([127, 0, 0, 1], port)),
                    },
                )
                .collect();
            Ok((served, addrs))
        })
    }

    /// Runs an admin command that must succeed.
    pub fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let mut cmd = self.command();
        cmd.args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        let mut child = cmd.spawn().expect("spawning govmail");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "govmail {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Opens the same store the server uses (fine while it runs: SQLite WAL).
    pub async fn store(&self) -> storage::Store {
        let mut options = storage::StoreOptions::new(
            format!("sqlite://{}", self.data_dir().join("govmail.db").display()),
            self.data_dir(),
        );
        options.migrate = false;
        options.max_connections = 2;
        storage::Store::open(&options)
            .await
            .expect("opening the store")
    }
}
