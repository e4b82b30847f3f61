//! `govmail import imap` and `govmail import maildir` against a real Dovecot 2.3 on loopback:
//! three old accounts (one with 10,000+ messages in nested Vietnamese folders, keywords,
//! \Seen \Answered \Flagged \Draft \Deleted, INTERNALDATEs from 2015 on and a 50 MB message),
//! an import SIGKILLed half-way then rerun, new mail then a rerun, a changed UIDVALIDITY then
//! a rerun, and the same Maildir imported from disk. Every check compares both servers over
//! IMAP (Python imaplib), never our database.

use crate::served;
use crate::support;
use crate::support_import;

use std::process::Command;
use std::time::{Duration, Instant};

use served::Served;
use support::Install;
use support_import::*;

const DOMAIN: &str = "tinh.gov.vn";
const MASTER: (&str, &str) = ("quantri", "master-pass-91");
/// Old login, old password, new address, new password.
const ACCOUNTS: [(&str, &str, &str, &str); 3] = [
    ("an@old.test", "old-an-1", "an@tinh.gov.vn", "new-an-00001"),
    (
        "binh@old.test",
        "old-binh-1",
        "binh@tinh.gov.vn",
        "new-binh-0001",
    ),
    (
        "cuong@old.test",
        "old-cuong-1",
        "cuong@tinh.gov.vn",
        "new-cuong-001",
    ),
];

/// The special folders the old clients made and where they must land (issue 15; RFC 6154
/// names our special folders by use, the old names are what Outlook, Apple Mail and
/// Vietnamese clients call them). Every other folder keeps its name.
fn expected_folder(old: &str) -> String {
    match old {
        "Sent Items" | "Sent Messages" | "Đã gửi" => "Sent".into(),
        "Deleted Items" => "Trash".into(),
        "Junk E-mail" => "Junk".into(),
        other => other.into(),
    }
}

/// Writes the three old Maildirs.
fn populate(dir: &std::path::Path) {
    let an = Dovecot::maildir(dir, ACCOUNTS[0].0);
    let mut inbox = messages("an-inbox", 4000);
    // An exact duplicate (same bytes, flags and date): two messages on both sides.
    inbox.push(inbox[10].clone());
    write_folder(&an, &[], &inbox);
    write_folder(&an, &["Công văn"], &messages("an-cv", 2500));
    write_folder(&an, &["Công văn", "Đến 2024"], &messages("an-cv-den", 1500));
    write_folder(&an, &["Sent Items"], &messages("an-sent", 1000));
    write_folder(&an, &["Deleted Items"], &messages("an-del", 500));
    let mut private = vec![(
        big_message(50 * 1024 * 1024),
        "S".to_string(),
        1_300_000_000,
    )];
    private.extend(messages("an-rieng", 450));
    write_folder(&an, &["Thư riêng"], &private);
    write_folder(&an, &["Thư riêng", "Gia đình"], &messages("an-gd", 100));

    let binh = Dovecot::maildir(dir, ACCOUNTS[1].0);
    write_folder(&binh, &[], &messages("binh-inbox", 30));
    // One file with bare LF line ends and no size in its name (Dovecot shows it with CRLF).
    let lf = String::from_utf8(message("binh-lf", 1))
        .unwrap()
        .replace("\r\n", "\n");
    let lf_path = binh.join("cur").join("1500000000.M99P1.oldhost:2,S");
    std::fs::write(&lf_path, lf).unwrap();
    set_mtime(&lf_path, 1_500_000_000);
    write_folder(&binh, &["Đã gửi"], &messages("binh-sent", 20));
    write_folder(&binh, &["Junk E-mail"], &messages("binh-junk", 5));
    write_folder(&binh, &["Dự án", "Chuyển đổi số"], &messages("binh-da", 10));

    let cuong = Dovecot::maildir(dir, ACCOUNTS[2].0);
    write_folder(&cuong, &[], &messages("cuong-inbox", 15));
    write_folder(&cuong, &["Sent Messages"], &messages("cuong-sent", 5));
    Dovecot::chown(dir);
}

fn install() -> Install {
    let people: Vec<(&str, &str, &str)> = vec![
        ("Nguyễn Văn An", ACCOUNTS[0].2, ACCOUNTS[0].3),
        ("Trần Thị Bình", ACCOUNTS[1].2, ACCOUNTS[1].3),
        ("Lê Văn Cường", ACCOUNTS[2].2, ACCOUNTS[2].3),
        ("Phạm Thị Dung", "dung@tinh.gov.vn", "new-dung-0001"),
    ];
    Install::with_people(DOMAIN, "Sở Thông tin và Truyền thông", &people)
}

/// Messages committed in the installation's database (read-only, beside the running import).
fn stored_messages(install: &Install) -> i64 {
    let url = format!(
        "sqlite://{}?mode=ro",
        install.data_dir().join("govmail.db").display()
    );
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let Ok(pool) = sqlx::SqlitePool::connect(&url).await else {
                return 0;
            };
            let n = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM messages")
                .fetch_one(&pool)
                .await
                .unwrap_or(0);
            pool.close().await;
            n
        })
}

fn import_cmd(install: &Install, args: &[String]) -> Command {
    let mut cmd = install.command();
    cmd.arg("--json").arg("import").args(args);
    cmd
}

fn serve(install: &Install) -> (Served, u16) {
    let (served, addrs) = install.serve_on(
        &["imap"],
        &[
            "tls.allow_plaintext_loopback=true".into(),
            "antivirus.enabled=false".into(),
        ],
    );
    (served, addrs[0].port())
}

fn check_all(dovecot: &Dovecot, port: u16, accounts: &[(&str, &str, &str, &str)]) {
    for (old_login, _, new_address, new_password) in accounts {
        let old = dump(dovecot.port, &format!("{old_login}*{}", MASTER.0), MASTER.1);
        let new = dump(port, new_address, new_password);
        assert_same(&old, &new, &expected_folder);
    }
}

#[test]
fn import_from_dovecot_killed_rerun_new_mail_uidvalidity_and_maildir() {
    let started = Instant::now();
    let install = install();
    let dir = install.scratch("old");
    std::fs::create_dir_all(&dir).unwrap();
    open_up(&install.scratch(""));
    open_up(&dir);
    populate(&dir);
    let users: Vec<(&str, &str)> = ACCOUNTS.iter().map(|a| (a.0, a.1)).collect();
    let dovecot = Dovecot::start(&dir, &users, MASTER);
    let from = format!("imap://127.0.0.1:{}", dovecot.port);
    let csv = install.scratch("accounts.csv");
    let mut text = String::from("old_login,new_address,old_password\n");
    for (old, _, new, _) in ACCOUNTS {
        text.push_str(&format!("{old},{new},\n"));
    }
    std::fs::write(&csv, text).unwrap();
    let base = |master: &str| -> Vec<String> {
        vec![
            "imap".into(),
            "--from".into(),
            from.clone(),
            "--accounts".into(),
            csv.display().to_string(),
            "--master".into(),
            master.into(),
            "--quiet".into(),
        ]
    };
    let master_stdin = format!("{}\n{}\n", MASTER.0, MASTER.1);

    eprintln!("before: {:?}", started.elapsed());
    // 1. Dovecot's `user*master` login; SIGKILL while it runs.
    let mut first = import_cmd(&install, &base("dovecot"));
    first
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let before_import = stored_messages(&install);
    let mut child = first.spawn().unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(master_stdin.as_bytes())
            .unwrap();
    }
    // Killed by its progress, not by the clock (a fixed sleep outlived the whole import on a
    // quiet machine): once 300 messages are committed (the import commits in batches as it
    // goes), long before the 10,000+ are.
    let waiting = Instant::now();
    while stored_messages(&install) < before_import + 300 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the first import ended before the kill"
        );
        assert!(
            waiting.elapsed() < Duration::from_secs(120),
            "the first import made no progress"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first import ended before the kill"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    eprintln!("before: {:?}", started.elapsed());
    // 2. Rerun, now with SASL PLAIN and an authorization identity: completes, no duplicates.
    let (out, peak_kib) = run_measured(
        import_cmd(&install, &base("sasl")),
        &master_stdin,
        &install.scratch(""),
    );
    let report = report(&out);
    assert!(out.status.success(), "rerun failed: {report}");
    assert_eq!(report["ok"], true);
    // Issue 15: peak RSS ≤ 100 MB with the 50 MB message in the set. The message is in memory
    // once (no copy, nothing read ahead meanwhile) and its 37.5 MiB attachment is never decoded
    // (storage::parse_view). This is the debug build: its code alone is ~35 MB of resident
    // file pages (RssFile of a maildir import, against ~16 MB for the release binary), so the
    // bound here is 100 MiB plus 20 MiB for that; bench/import.sh measures the release binary
    // against the 100 MB itself. Before parse_view this run peaked at 142 MB.
    const DEBUG_CODE_KIB: u64 = 20 * 1024;
    eprintln!("peak RSS of the rerun: {peak_kib} KiB");
    assert!(
        peak_kib <= 100 * 1024 + DEBUG_CODE_KIB,
        "peak RSS {peak_kib} KiB > 100 MiB + the debug build's code"
    );
    for account in report["accounts"].as_array().unwrap() {
        for folder in account["folders"].as_array().unwrap() {
            assert_eq!(folder["verified"], true, "{folder}");
        }
    }
    eprintln!("rerun done: {:?}", started.elapsed());
    let (server, port) = serve(&install);
    check_all(&dovecot, port, &ACCOUNTS);
    eprintln!("checked: {:?}", started.elapsed());
    let an_old = dump(
        dovecot.port,
        &format!("{}*{}", ACCOUNTS[0].0, MASTER.0),
        MASTER.1,
    );
    let total: u64 = an_old.values().map(|f| f.count).sum();
    assert!(total >= 10_000, "the big account has {total} messages");
    drop(server);

    eprintln!("before: {:?}", started.elapsed());
    // 3. New mail on the old side (a delivery into new/, one into a Vietnamese folder), then a
    // rerun: exactly the new messages come.
    let an_inbox = Dovecot::maildir(&dir, ACCOUNTS[0].0);
    for i in 0..25 {
        let path = an_inbox
            .join("new")
            .join(format!("1700000{i:03}.M{i}P9.oldhost"));
        std::fs::write(&path, message("an-late", i)).unwrap();
        set_mtime(&path, 1_700_000_000 + i as i64);
    }
    let binh_sent = Dovecot::maildir(&dir, ACCOUNTS[1].0)
        .join(format!(".{}", imap::protocol::mutf7::encode("Đã gửi")));
    for i in 0..5 {
        let path = binh_sent
            .join("cur")
            .join(format!("1700001{i:03}.M{i}P9.oldhost:2,S"));
        std::fs::write(&path, message("binh-late", i)).unwrap();
        set_mtime(&path, 1_700_001_000 + i as i64);
    }
    Dovecot::chown(&dir);
    let out = feed(import_cmd(&install, &base("dovecot")), &master_stdin);
    let report = support_import::report(&out);
    assert!(out.status.success(), "{report}");
    assert_eq!(imported(&report), 30, "{report}");

    eprintln!("before: {:?}", started.elapsed());
    // 4. The old server rebuilds cuong's INBOX index (new UIDVALIDITY, RFC 9051 2.3.1.1):
    // a rerun, with cuong's own password, re-scans and stores nothing twice.
    let cuong = Dovecot::maildir(&dir, ACCOUNTS[2].0);
    for entry in std::fs::read_dir(&cuong).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("dovecot") && name != "dovecot-keywords" {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    std::thread::sleep(Duration::from_secs(1));
    let mut one = vec![
        "imap".to_string(),
        "--from".into(),
        from.clone(),
        "--account".into(),
        format!("{}={}", ACCOUNTS[2].0, ACCOUNTS[2].2),
    ];
    one.push("--quiet".into());
    let out = feed(import_cmd(&install, &one), &format!("{}\n", ACCOUNTS[2].1));
    let report = support_import::report(&out);
    assert!(out.status.success(), "{report}");
    assert_eq!(imported(&report), 0, "{report}");

    eprintln!("before: {:?}", started.elapsed());
    // 5. binh's Maildir straight from disk into dung's account.
    let maildir_args = vec![
        "maildir".to_string(),
        Dovecot::maildir(&dir, ACCOUNTS[1].0).display().to_string(),
        "--to".into(),
        "dung@tinh.gov.vn".into(),
        "--quiet".into(),
    ];
    let out = feed(import_cmd(&install, &maildir_args), "");
    let report = support_import::report(&out);
    assert!(out.status.success(), "{report}");
    assert_eq!(imported(&report), 71, "{report}");
    // A rerun stores nothing.
    let out = feed(import_cmd(&install, &maildir_args), "");
    assert_eq!(imported(&support_import::report(&out)), 0);

    let (_server, port) = serve(&install);
    check_all(&dovecot, port, &ACCOUNTS);
    let old = dump(
        dovecot.port,
        &format!("{}*{}", ACCOUNTS[1].0, MASTER.0),
        MASTER.1,
    );
    let new = dump(port, "dung@tinh.gov.vn", "new-dung-0001");
    assert_same(&old, &new, &expected_folder);
    eprintln!("import test took {:?}", started.elapsed());
}
