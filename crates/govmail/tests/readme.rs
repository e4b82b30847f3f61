//! README.md's example commands, run as written: the "First steps after `./scripts/run`"
//! block and the swaks lines, in a fresh directory laid out like a checkout
//! (`target/release/govmail` → the binary under test, `config/dev.toml` → the shipped file),
//! against `govmail --config config/dev.toml serve` started the way `scripts/run` starts it.
//!
//! What the test changes is the machine, never the commands: the loopback ports (free ones
//! instead of 2525, 5587, 4465, 1143, 1993, 8080, 8443, 4190, replaced in dev.toml and the commands
//! alike), clamd (the test run's private one) and the resolver (a DNS server of the test, so
//! SPF of example.org is answered at once). Needs swaks and curl (`scripts/test` installs them).

// Only its resolver is used here, no records.
#[allow(dead_code)]
use crate::dns;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::served::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_govmail");
/// The development ports README and config/dev.toml name.
const PORTS: [u16; 8] = [2525, 5587, 4465, 1143, 1993, 8080, 8443, 4190];

fn repo(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The indented (code) lines of README between `from` and `to`, backslash continuations
/// joined, comments after the command kept (bash ignores them).
fn code_lines(readme: &str, from: &str, to: &str) -> Vec<String> {
    let start = readme
        .find(from)
        .unwrap_or_else(|| panic!("README: no {from:?}"));
    let end = start
        + readme[start..]
            .find(to)
            .unwrap_or_else(|| panic!("README: no {to:?}"));
    let mut commands = vec![];
    let mut current = String::new();
    for line in readme[start..end].lines() {
        let Some(code) = line.strip_prefix("    ") else {
            continue;
        };
        let code = code.trim();
        if let Some(head) = code.strip_suffix('\\') {
            current.push_str(head);
        } else {
            current.push_str(code);
            commands.push(std::mem::take(&mut current));
        }
    }
    commands
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn readme_first_steps_run_as_written() {
    let resolver = dns::TestDns::start().await;
    let checkout = tempfile::tempdir().unwrap();
    let root = checkout.path();
    std::fs::create_dir_all(root.join("target/release")).unwrap();
    std::os::unix::fs::symlink(BIN, root.join("target/release/govmail")).unwrap();
    std::fs::create_dir_all(root.join("config")).unwrap();

    // The machine's side: free ports for the development ones, everywhere.
    let mut mapping = vec![];
    for port in PORTS {
        let mut free = free_port();
        while mapping.iter().any(|(_, p)| *p == free) {
            free = free_port();
        }
        mapping.push((port, free));
    }
    let ports = |text: &str| {
        let mut text = text.to_string();
        for (dev, free) in &mapping {
            text = text.replace(&format!("127.0.0.1:{dev}"), &format!("127.0.0.1:{free}"));
        }
        text
    };
    let clamd = std::env::var("GOVMAIL_TEST_CLAMD")
        .expect("GOVMAIL_TEST_CLAMD is not set: run the tests with scripts/test");
    let dev = ports(&repo("config/dev.toml")).replace("tcp://127.0.0.1:3310", &clamd);
    assert!(dev.contains(&clamd), "dev.toml names clamd on 3310");
    let dev = format!("{dev}\n[dns]\nresolvers = [\"{}\"]\n", resolver.addr);
    std::fs::write(root.join("config/dev.toml"), dev).unwrap();

    // `scripts/run`: target/release/govmail --config config/dev.toml ... serve
    let mut server = Command::new(root.join("target/release/govmail"));
    server
        .current_dir(root)
        .env_remove("GOVMAIL_CONFIG")
        .env_remove("RUST_LOG")
        .args(["--config", "config/dev.toml", "serve"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(root.join("serve.log")).unwrap());
    let mut server = Killed(server.spawn().unwrap());
    let stdout = server.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if line.contains("govmail serving") {
                let _ = tx.send(());
            }
            line.clear();
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| {
            panic!(
                "serve did not start: {}",
                std::fs::read_to_string(root.join("serve.log")).unwrap_or_default()
            )
        });

    let readme = repo("README.md");
    let first_steps = code_lines(&readme, "## First steps after", "`user add` (or");
    let swaks = code_lines(&readme, "Send a test message with swaks", "`postmaster@`");
    assert!(first_steps.len() >= 8, "{first_steps:?}");
    assert_eq!(swaks.len(), 2, "{swaks:?}");
    let mut outputs = vec![];
    for command in first_steps.iter().chain(&swaks) {
        // Each command runs after the `G=...` line, as typed into one terminal.
        let script = format!("set -e\n{}\n{}\n", ports(&first_steps[0]), ports(command));
        let out = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(root)
            .env_remove("GOVMAIL_CONFIG")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "README command failed: {command}\nstdout: {}\nstderr: {}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(root.join("serve.log")).unwrap_or_default()
        );
        outputs.push((
            command.clone(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ));
    }
    let output_of = |prefix: &str| {
        outputs
            .iter()
            .find(|(c, _)| c.contains(prefix))
            .unwrap_or_else(|| panic!("no README command with {prefix:?}"))
            .1
            .clone()
    };
    // What the comments promise.
    let shown: serde_json::Value =
        serde_json::from_str(&output_of("user show")).expect("user show --json is JSON");
    assert_eq!(shown["address"], "nvan.stttt@kontum.gov.vn");
    let ready: serde_json::Value =
        serde_json::from_str(&output_of("readyz")).expect("readyz is JSON");
    assert_eq!(ready["ready"], true, "{ready}");
    // swaks: the MX message and the one to postmaster@ (the admin group, whose member
    // nvan.stttt is) both arrived.
    for (command, out) in outputs.iter().filter(|(c, _)| c.starts_with("swaks")) {
        assert!(out.contains("Ok: queued"), "{command}: {out}");
    }
    let events = Command::new(root.join("target/release/govmail"))
        .current_dir(root)
        .env_remove("GOVMAIL_CONFIG")
        .args(["--config", "config/dev.toml", "events", "--json"])
        .output()
        .unwrap();
    assert!(events.status.success());
    drop(server);
    let mut options = storage::StoreOptions::new(
        format!("sqlite://{}", root.join("data/govmail.db").display()),
        root.join("data"),
    );
    options.migrate = false;
    let store = storage::Store::open(&options).await.unwrap();
    let person = store.person("nvan.stttt@kontum.gov.vn").await.unwrap();
    let inbox = store.folder(person.account_id, "INBOX").await.unwrap();
    assert_eq!(
        store.messages(inbox.id).await.unwrap().len(),
        2,
        "the MX message and the one to postmaster@"
    );
    store.close().await;
}
