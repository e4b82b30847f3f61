//! A unit mailbox as its own account (issue 14), with real clients against the real
//! `govmail serve`: Python's smtplib and imaplib log in as `UNIT*PERSON` (see
//! `support_imap/unit_login.py` for each check and its RFC): the send right submits as the
//! unit with `Sender:`, a read-only delegate sees the unit read-only and may not send, a person
//! without a right is refused like a wrong password, `govmail unit revoke` ends the open IMAP
//! session within a second; then the audit log names the person for each action.

use crate::support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::Install;

const HOSTNAME: &str = "mail.kontum.gov.vn";
const UNIT: &str = "stttt@kontum.gov.vn";
const USER_A: &str = "nvan.stttt@kontum.gov.vn";
const USER_B: &str = "ttbinh.stttt@kontum.gov.vn";
const USER_C: &str = "lvcuong.stttt@kontum.gov.vn";
/// ASCII: smtplib and imaplib send credentials as ASCII.
const PASSWORD_A: &str = "mat-khau-An-2024";
const PASSWORD_B: &str = "mat-khau-Binh-2024";
const PASSWORD_C: &str = "mat-khau-Cuong-2024";
const PY_COMMON: &str = include_str!("support_imap/imaptest_common.py");
const PY_UNIT_LOGIN: &str = include_str!("support_imap/unit_login.py");

/// The program and arguments of an admin command on this data dir, as strings.
fn argv(cmd: &Command) -> Vec<String> {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

#[test]
fn smtplib_and_imaplib_log_in_as_unit_star_person() {
    let install = Install::with_people(
        "kontum.gov.vn",
        "Sở Thông tin và Truyền thông",
        &[
            ("Nguyễn Văn An", USER_A, PASSWORD_A),
            ("Trần Thị Bình", USER_B, PASSWORD_B),
            ("Lê Văn Cường", USER_C, PASSWORD_C),
        ],
    );
    let doc = "12/QĐ-STTTT";
    install.ok(
        &[
            "unit", "delegate", "STTTT", USER_A, "--rights", "read", "--ref", doc,
        ],
        None,
    );
    install.ok(
        &[
            "unit",
            "delegate",
            "STTTT",
            USER_B,
            "--rights",
            "handle,send",
            "--ref",
            doc,
        ],
        None,
    );
    let (served, addrs) = install.serve_on(
        &["imaps", "submissions"],
        &[
            format!("server.hostname={HOSTNAME}"),
            "antivirus.enabled=false".into(),
        ],
    );
    let (imaps, submissions) = (addrs[0].port(), addrs[1].port());

    let dir = install.scratch("py");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("imaptest_common.py"), PY_COMMON).unwrap();
    std::fs::write(dir.join("unit_login.py"), PY_UNIT_LOGIN).unwrap();
    let mut revoke = install.command();
    revoke.args(["unit", "revoke", "STTTT", USER_A, "--ref", doc]);
    let mut cmd = Command::new("timeout");
    cmd.arg("120")
        .arg("python3")
        .arg(dir.join("unit_login.py"))
        .args([
            "127.0.0.1",
            &imaps.to_string(),
            &submissions.to_string(),
            UNIT,
            USER_A,
            PASSWORD_A,
            USER_B,
            PASSWORD_B,
            USER_C,
            PASSWORD_C,
            "--",
        ])
        .args(argv(&revoke))
        .current_dir(&dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONIOENCODING", "utf-8")
        .stdin(Stdio::null());
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("ALL OK"),
        "unit_login.py: {}\n{stdout}\n{}\nserver log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        served.log()
    );
    std::thread::sleep(Duration::from_millis(100));
    drop(served);

    // KT-8, KT-11: every action in the unit mailbox names the person who did it.
    let events = install.ok(&["events", "--action", "unit.", "--limit", "100"], None);
    let has = |actor: &str, action: &str| {
        events
            .lines()
            .any(|l| l.contains(actor) && l.contains(action) && l.contains(UNIT))
    };
    assert!(has(USER_B, "unit.login"), "{events}");
    assert!(has(USER_B, "unit.send"), "{events}");
    assert!(has(USER_A, "unit.login"), "{events}");
    assert!(has(USER_A, "unit.read"), "{events}");
    assert!(!has(USER_C, "unit.login"), "{events}");
    assert!(has("cli", "unit.revoke"), "{events}");
}
