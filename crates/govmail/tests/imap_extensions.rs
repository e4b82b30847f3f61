//! The real `govmail serve`, driven by python `imapclient` (pip) over IMAPS: MULTIAPPEND
//! (RFC 3502), CATENATE (RFC 4469) and NOTIFY (RFC 5465), as in
//! `support_imap/imapclient_extensions.py`; the server's store is then checked directly.
//! Needs `GOVMAIL_TEST_CLAMD` and python3 with `imapclient`: run with `scripts/test`.

use crate::served;
use crate::support;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use served::Served;
use support::{clamd_url, Install};

const DOMAIN: &str = "kontum.gov.vn";
const UNIT_NAME: &str = "Sở Thông tin và Truyền thông";
const USER_A: &str = "nvan.stttt@kontum.gov.vn";
const USER_B: &str = "ttbinh.stttt@kontum.gov.vn";
const PASSWORD: &str = "mat-khau-An-2024";

const PY_COMMON: &str = include_str!("support_imap/imaptest_common.py");
const PY_EXTENSIONS: &str = include_str!("support_imap/imapclient_extensions.py");

/// `govmail serve` with IMAPS on a free port (retried if a port was taken meanwhile).
fn start(install: &Install) -> (Served, SocketAddr) {
    let (served, addrs) = install.serve_on(
        &["smtp", "imaps"],
        &[
            "server.hostname=mail.kontum.gov.vn".to_string(),
            format!("antivirus.clamd=\"{}\"", clamd_url()),
        ],
    );
    (served, addrs[1])
}

/// Runs the script with a time limit; its stdout, or a panic with everything it said.
fn run_python(install: &Install, served: &Served, args: &[String], limit: Duration) -> String {
    let dir = install.scratch("py-extensions");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("imaptest_common.py"), PY_COMMON).unwrap();
    let script = dir.join("imapclient_extensions.py");
    std::fs::write(&script, PY_EXTENSIONS).unwrap();
    let out = dir.join("stdout");
    let err = dir.join("stderr");
    let mut child = Command::new("python3")
        .arg(&script)
        .args(args)
        .current_dir(&dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONIOENCODING", "utf-8")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("python3");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = std::fs::read_to_string(&out).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    assert!(
        status.is_some_and(|s| s.success()),
        "imapclient_extensions.py: {status:?} after {:.1?}\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver log:\n{}",
        started.elapsed(),
        served.log()
    );
    stdout
}

#[tokio::test]
async fn python_imapclient_multiappend_catenate_notify() {
    clamd_url();
    let install = Install::with_people(
        DOMAIN,
        UNIT_NAME,
        &[
            ("Nguyễn Văn An", USER_A, PASSWORD),
            ("Trần Thị Bình", USER_B, PASSWORD),
        ],
    );
    let (served, imaps) = start(&install);
    let out = run_python(
        &install,
        &served,
        &[
            "127.0.0.1".into(),
            imaps.port().to_string(),
            USER_A.into(),
            PASSWORD.into(),
        ],
        Duration::from_secs(90),
    );
    assert!(out.contains("ok multiappend catenate notify"), "{out}");
    // What the server stored, read from its database: three in INBOX (the MULTIAPPEND) plus
    // one from the second client; one catenated draft; Sent got three.
    let store = install.store().await;
    let account = store.person(USER_A).await.unwrap().account_id;
    let count = |name: &'static str| {
        let store = store.clone();
        async move {
            let folder = store.folder(account, name).await.unwrap();
            store.messages(folder.id).await.unwrap().len()
        }
    };
    assert_eq!(count("INBOX").await, 4);
    assert_eq!(count("Drafts").await, 1);
    assert_eq!(count("Sent").await, 3);
}
