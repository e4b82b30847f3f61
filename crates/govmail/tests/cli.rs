//! The real `govmail` binary, driven as the IT centre would: admin commands against SQLite (in a
//! temporary data dir) and PostgreSQL (a fresh database on `GOVMAIL_TEST_PG_URL`), error
//! reporting, the stored credential, and `serve` surviving SIGKILL.
//!
//! Without `GOVMAIL_TEST_PG_URL` the PostgreSQL variant fails (run `scripts/test`), unless
//! `GOVMAIL_TEST_SKIP_PG=1` is set explicitly.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::served::free_port;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sqlx::Connection;

const BIN: &str = env!("CARGO_BIN_EXE_govmail");
const NAME: &str = "Nguyễn Thị Ánh Tuyết";
const UNIT_NAME: &str = "Sở Thông tin và Truyền thông";
const TUYET: &str = "ntatuyet.stttt@kontum.gov.vn";

// ------------------------------------------------------------------ helpers

/// One isolated installation: a data dir, and optionally a PostgreSQL database.
struct Install {
    tmp: tempfile::TempDir,
    storage_url: Option<String>,
}

impl Install {
    fn sqlite() -> Install {
        Install {
            tmp: tempfile::tempdir().unwrap(),
            storage_url: None,
        }
    }

    fn postgres(url: String) -> Install {
        Install {
            tmp: tempfile::tempdir().unwrap(),
            storage_url: Some(url),
        }
    }

    fn label(&self) -> &'static str {
        if self.storage_url.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    /// The storage URL the binary uses.
    fn url(&self) -> String {
        match &self.storage_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir().join("govmail.db").display()),
        }
    }

    /// `govmail --set server.data_dir=... [--set storage.url=...] ARGS...`
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env_remove("GOVMAIL_CONFIG").env_remove("RUST_LOG");
        if !args.contains(&"--config") {
            cmd.arg("--no-config");
        }
        cmd.arg("--set")
            .arg(format!("server.data_dir={}", self.data_dir().display()));
        if let Some(url) = &self.storage_url {
            cmd.arg("--set").arg(format!("storage.url={url}"));
        }
        cmd.args(args);
        cmd
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = self.command(args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.stdin(if stdin.is_some() {
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
        child.wait_with_output().unwrap()
    }

    /// Runs a command that must succeed; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        self.ok_stdin(args, None)
    }

    fn ok_stdin(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "[{}] govmail {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            self.label(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("stdout is UTF-8")
    }

    /// Runs a command that must fail with exactly one line on stderr; returns (code, line).
    fn fails(&self, args: &[&str], stdin: Option<&str>) -> (i32, String) {
        let out = self.run(args, stdin);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            !out.status.success(),
            "[{}] govmail {args:?} should fail; stdout: {}",
            self.label(),
            String::from_utf8_lossy(&out.stdout)
        );
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(
            lines.len(),
            1,
            "[{}] govmail {args:?}: want one line on stderr, got {stderr:?}",
            self.label()
        );
        (out.status.code().unwrap_or(-1), lines[0].to_string())
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let stdout = self.ok(args);
        serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "[{}] govmail {args:?}: not JSON ({e}): {stdout}",
                self.label()
            )
        })
    }

    /// The stored PHC string of an account, read directly from the database.
    fn stored_phc(&self, address: &str) -> String {
        let url = self.url();
        let address = address.to_string();
        block_on(async move {
            sqlx::any::install_default_drivers();
            let mut conn = sqlx::AnyConnection::connect(&url).await.expect("connect");
            let phc: String = sqlx::query_scalar(
                "SELECT c.phc FROM credentials c JOIN accounts a ON a.id = c.account_id \
                 WHERE a.address = $1",
            )
            .bind(address)
            .fetch_one(&mut conn)
            .await
            .expect("credential row");
            let _ = conn.close().await;
            phc
        })
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// `key: value` lines of a text record.
fn record_field<'a>(stdout: &'a str, key: &str) -> Vec<&'a str> {
    let prefix = format!("{key}: ");
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .collect()
}

fn pg_base_url() -> Option<String> {
    match std::env::var("GOVMAIL_TEST_PG_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_string()),
        _ if std::env::var("GOVMAIL_TEST_SKIP_PG").as_deref() == Ok("1") => {
            eprintln!("GOVMAIL_TEST_SKIP_PG=1: PostgreSQL variant NOT run");
            None
        }
        _ => panic!(
            "GOVMAIL_TEST_PG_URL is not set: run the tests with scripts/test (it starts a \
             private PostgreSQL), or export GOVMAIL_TEST_PG_URL=postgres://..., or set \
             GOVMAIL_TEST_SKIP_PG=1 to skip the PostgreSQL variant explicitly"
        ),
    }
}

/// `base` with its database name replaced by `db`.
fn with_database(base: &str, db: &str) -> String {
    let (main, query) = match base.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (base, None),
    };
    let scheme_end = main
        .find("://")
        .map(|i| i + 3)
        .expect("postgres URL has ://");
    let prefix = match main[scheme_end..].find('/') {
        Some(slash) => &main[..scheme_end + slash],
        None => main,
    };
    match query {
        Some(q) => format!("{prefix}/{db}?{q}"),
        None => format!("{prefix}/{db}"),
    }
}

static DB_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh database on the server at `base`; returns (url, name).
fn fresh_pg_database(base: &str, test: &str) -> (String, String) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!(
        "gm_cli_{test}_{}_{}_{nanos}",
        std::process::id(),
        DB_COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let sql = format!("CREATE DATABASE \"{name}\"");
    block_on(async {
        let mut admin = sqlx::postgres::PgConnection::connect(base)
            .await
            .unwrap_or_else(|e| panic!("connecting to GOVMAIL_TEST_PG_URL ({base}): {e}"));
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut admin)
            .await
            .expect("CREATE DATABASE");
        let _ = admin.close().await;
    });
    (with_database(base, &name), name)
}

fn drop_pg_database(base: &str, name: &str) {
    let base = base.to_string();
    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
    block_on(async move {
        if let Ok(mut admin) = sqlx::postgres::PgConnection::connect(&base).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await;
            let _ = admin.close().await;
        }
    });
}

// ------------------------------------------------------------------ admin commands

/// The whole admin scenario; identical for both backends.
fn admin_scenario(inst: &Install) {
    let label = inst.label();

    // Domain and unit.
    let out = inst.ok(&["domain", "add", "kontum.gov.vn", "--naming", "kontum"]);
    assert_eq!(
        record_field(&out, "name"),
        ["kontum.gov.vn"],
        "[{label}] {out}"
    );
    assert_eq!(record_field(&out, "naming_rule"), ["kontum"]);
    let domains = inst.json(&["domain", "list", "--json"]);
    assert_eq!(domains.as_array().unwrap().len(), 1);
    let out = inst.ok(&["unit", "add", "--abbrev", "STTTT", "--name", UNIT_NAME]);
    assert_eq!(
        record_field(&out, "address"),
        ["stttt@kontum.gov.vn"],
        "[{label}] {out}"
    );
    assert_eq!(record_field(&out, "name"), [UNIT_NAME]);
    let unit = inst.json(&["unit", "show", "STTTT", "--json"]);
    assert_eq!(
        unit["name"].as_str().unwrap().as_bytes(),
        UNIT_NAME.as_bytes()
    );

    // A person, address by the Kon Tum rule, initial password printed once.
    let out = inst.ok(&["user", "add", "--name", NAME, "--unit", "STTTT"]);
    assert_eq!(record_field(&out, "address"), [TUYET], "[{label}] {out}");
    assert_eq!(record_field(&out, "full_name"), [NAME]);
    let passwords = record_field(&out, "initial_password");
    assert_eq!(passwords.len(), 1, "[{label}] initial_password once: {out}");
    let initial = passwords[0].to_string();
    assert!(initial.len() >= 12, "{initial:?}");
    assert_eq!(
        out.matches(initial.as_str()).count(),
        1,
        "password printed once: {out}"
    );

    // Shown as JSON: the name byte-for-byte, never the password.
    let shown_text = inst.ok(&["user", "show", TUYET, "--json"]);
    assert!(
        !shown_text.contains(&initial),
        "user show leaks the password"
    );
    let shown: serde_json::Value = serde_json::from_str(&shown_text)
        .unwrap_or_else(|e| panic!("[{label}] user show --json: {e}: {shown_text}"));
    assert_eq!(
        shown["full_name"].as_str().unwrap().as_bytes(),
        NAME.as_bytes()
    );
    assert_eq!(shown["address"], TUYET);
    assert_eq!(shown["unit"], "STTTT");
    assert_eq!(shown["unit_address"], "stttt@kontum.gov.vn");
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["must_change_password"], true);
    assert!(shown.get("initial_password").is_none());
    // The name also survives the human-readable output.
    let shown_plain = inst.ok(&["user", "show", TUYET]);
    assert_eq!(record_field(&shown_plain, "full_name"), [NAME]);

    // The stored credential is argon2id and checks the right password only.
    let phc = inst.stored_phc(TUYET);
    assert!(phc.starts_with("$argon2id$"), "[{label}] {phc}");
    assert!(
        policy::password::verify(&initial, &phc),
        "[{label}] right password rejected"
    );
    assert!(!policy::password::verify("wrong password 123", &phc));

    // Same name again: the next free address by the rule.
    let out = inst.ok(&["user", "add", "--name", NAME, "--unit", "STTTT", "--json"]);
    let second: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        second["address"], "ntatuyet2.stttt@kontum.gov.vn",
        "[{label}]"
    );
    assert!(second["initial_password"].is_string());

    // --password-stdin: the given password, no initial password printed, no forced change.
    let password = "Mật khẩu rất mạnh 2025";
    let out = inst.ok_stdin(
        &[
            "user",
            "add",
            "--name",
            "Nguyễn Văn An",
            "--unit",
            "STTTT",
            "--password-stdin",
        ],
        Some(&format!("{password}\n")),
    );
    assert_eq!(
        record_field(&out, "address"),
        ["nvan.stttt@kontum.gov.vn"],
        "[{label}] {out}"
    );
    assert!(record_field(&out, "initial_password").is_empty(), "{out}");
    assert!(!out.contains(password));
    assert_eq!(record_field(&out, "must_change_password"), ["false"]);
    let phc = inst.stored_phc("nvan.stttt@kontum.gov.vn");
    assert!(phc.starts_with("$argon2id$"));
    assert!(policy::password::verify(password, &phc));
    assert!(!policy::password::verify("Mat khau rat manh 2025", &phc));

    // passwd from stdin replaces the hash and clears the forced change.
    let new_password = "Đổi mật khẩu 2026!";
    inst.ok_stdin(
        &["user", "passwd", TUYET, "--password-stdin"],
        Some(new_password),
    );
    let phc = inst.stored_phc(TUYET);
    assert!(policy::password::verify(new_password, &phc));
    assert!(
        !policy::password::verify(&initial, &phc),
        "old password still accepted"
    );
    assert_eq!(
        inst.json(&["user", "show", TUYET, "--json"])["must_change_password"],
        false
    );

    // user list --json.
    let list = inst.json(&["user", "list", "--json"]);
    let list = list.as_array().expect("array");
    assert_eq!(list.len(), 3, "[{label}] {list:?}");
    let names: Vec<&str> = list
        .iter()
        .map(|p| p["full_name"].as_str().unwrap())
        .collect();
    assert_eq!(names.iter().filter(|n| **n == NAME).count(), 2);
    assert!(names.contains(&"Nguyễn Văn An"));
    assert_eq!(
        inst.json(&["user", "list", "--unit", "STTTT", "--json"])
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let table = inst.ok(&["user", "list"]);
    assert!(
        table.lines().next().unwrap().starts_with("ADDRESS"),
        "{table}"
    );
    assert!(table.contains(NAME));

    // Disable / enable.
    inst.ok(&["user", "disable", TUYET]);
    assert_eq!(
        inst.json(&["user", "show", TUYET, "--json"])["status"],
        "disabled",
        "[{label}]"
    );
    inst.ok(&["user", "enable", TUYET]);
    assert_eq!(
        inst.json(&["user", "show", TUYET, "--json"])["status"],
        "active",
        "[{label}]"
    );

    // Aliases.
    let out = inst.json(&["alias", "add", "tuyet@kontum.gov.vn", TUYET, "--json"]);
    assert_eq!(out["ok"], true);
    let shown = inst.json(&["user", "show", "tuyet@kontum.gov.vn", "--json"]);
    assert_eq!(shown["address"], TUYET, "[{label}] show by alias");
    assert_eq!(shown["aliases"], serde_json::json!(["tuyet@kontum.gov.vn"]));
    inst.ok(&["alias", "remove", "tuyet@kontum.gov.vn"]);
    assert_eq!(
        inst.json(&["user", "show", TUYET, "--json"])["aliases"],
        serde_json::json!([])
    );

    // Groups.
    inst.ok(&[
        "group",
        "add",
        "lanhdao@kontum.gov.vn",
        "--name",
        "Lãnh đạo Sở",
    ]);
    inst.ok(&["group", "member-add", "lanhdao@kontum.gov.vn", TUYET]);

    // The audit log saw all of it.
    let events = inst.json(&["events", "--json", "--limit", "100"]);
    let actions: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for want in [
        "domain.add",
        "unit.add",
        "user.add",
        "user.passwd",
        "user.disable",
        "user.enable",
        "alias.add",
        "alias.remove",
        "group.add",
        "group.member-add",
    ] {
        assert!(
            actions.contains(&want),
            "[{label}] event {want} missing: {actions:?}"
        );
    }
    let user_events = inst.json(&["events", "--action", "user.", "--json"]);
    assert!(user_events
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["action"].as_str().unwrap().starts_with("user.")));

    // ---- error cases: non-zero exit, one line on stderr ----
    let (_, line) = inst.fails(
        &["user", "add", "--name", "Trần Văn Bình", "--unit", "NOPE"],
        None,
    );
    assert!(line.contains("NOPE"), "[{label}] unknown unit: {line}");
    let (_, line) = inst.fails(
        &[
            "user",
            "add",
            "--name",
            "Ai Đó",
            "--address",
            TUYET,
            "--password-stdin",
        ],
        Some("Mật khẩu đủ dài 123\n"),
    );
    assert!(
        line.contains("already exists") && line.contains(TUYET),
        "[{label}] duplicate: {line}"
    );
    let (_, line) = inst.fails(
        &[
            "user",
            "add",
            "--name",
            "Ai Đó Khác",
            "--address",
            "NTATUYET.STTTT@KONTUM.GOV.VN",
            "--password-stdin",
        ],
        Some("Mật khẩu đủ dài 123\n"),
    );
    assert!(
        line.contains("already exists"),
        "[{label}] duplicate in upper case: {line}"
    );
    let (_, line) = inst.fails(&["domain", "add", "kontum.gov.vn"], None);
    assert!(line.contains("already exists"), "[{label}] {line}");
    let (_, line) = inst.fails(&["unit", "add", "--abbrev", "STTTT", "--name", "x"], None);
    assert!(line.contains("already exists"), "[{label}] {line}");
    let (_, line) = inst.fails(&["user", "show", "nobody@kontum.gov.vn"], None);
    assert!(line.contains("nobody@kontum.gov.vn"), "{line}");
    let (_, line) = inst.fails(&["user", "disable", "nobody@kontum.gov.vn"], None);
    assert!(line.contains("nobody@kontum.gov.vn"), "{line}");
    let (_, line) = inst.fails(&["alias", "remove", "tuyet@kontum.gov.vn"], None);
    assert!(line.contains("tuyet@kontum.gov.vn"), "{line}");
    let (_, line) = inst.fails(
        &["alias", "add", "x@kontum.gov.vn", "nobody@kontum.gov.vn"],
        None,
    );
    assert!(line.contains("nobody@kontum.gov.vn"), "{line}");
    let (_, line) = inst.fails(
        &[
            "user",
            "add",
            "--name",
            "Phạm Văn Cường",
            "--unit",
            "STTTT",
            "--password-stdin",
        ],
        Some("short\n"),
    );
    assert!(line.contains("short"), "[{label}] weak password: {line}");
    let (_, line) = inst.fails(
        &[
            "user",
            "add",
            "--name",
            "Phạm Văn Cường",
            "--unit",
            "STTTT",
            "--password-stdin",
        ],
        Some(""),
    );
    assert!(line.contains("empty"), "[{label}] empty stdin: {line}");
    let (_, line) = inst.fails(&["user", "add", "--name", "Phạm Văn Cường"], None);
    assert!(line.contains("--address"), "{line}");
    let (_, line) = inst.fails(&["domain", "add", "x.gov.vn", "--naming", "weird"], None);
    assert!(line.contains("--naming"), "{line}");
    // Forward rules: checked against the policy when set (BD-11, KT-9).
    let (_, line) = inst.fails(&["user", "forward", TUYET, "--to", "canbo@gmail.com"], None);
    assert!(line.contains("public webmail"), "[{label}] {line}");
    let (_, line) = inst.fails(
        &["user", "forward", TUYET, "--to", "vanthu@mic.gov.vn"],
        None,
    );
    assert!(line.contains("--to vanthu@mic.gov.vn"), "[{label}] {line}");
    let (_, line) = inst.fails(
        &["user", "forward", TUYET, "--to", "nobody@kontum.gov.vn"],
        None,
    );
    assert!(line.contains("no such mailbox"), "[{label}] {line}");
    let (_, line) = inst.fails(&["user", "forward", TUYET, "--to", TUYET], None);
    assert!(line.contains("itself"), "[{label}] {line}");
    let out = inst.ok(&[
        "user",
        "forward",
        TUYET,
        "--to",
        "stttt@kontum.gov.vn",
        "--ref",
        "12/GM-STTTT",
    ]);
    assert!(
        out.contains("forwarded to stttt@kontum.gov.vn"),
        "[{label}] {out}"
    );
    let out = inst.ok(&["user", "forward", TUYET, "--off"]);
    assert!(out.contains("forwarding off"), "[{label}] {out}");
    // None of the failures created anything.
    assert_eq!(
        inst.json(&["user", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        inst.json(&["domain", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn admin_commands_sqlite() {
    let inst = Install::sqlite();
    admin_scenario(&inst);
    assert!(inst.data_dir().join("govmail.db").is_file());
}

#[test]
fn admin_commands_postgres() {
    let Some(base) = pg_base_url() else {
        return;
    };
    let (url, name) = fresh_pg_database(&base, "admin");
    let inst = Install::postgres(url);
    admin_scenario(&inst);
    assert!(
        !inst.data_dir().join("govmail.db").exists(),
        "storage.url=postgres://... must not create a SQLite file"
    );
    drop_pg_database(&base, &name);
}

#[test]
fn postgres_errors_hide_the_password() {
    let Some(base) = pg_base_url() else {
        return;
    };
    // A database that does not exist on a reachable server: fails fast, one line, no password.
    let url = with_database(&base, "gm_no_such_database");
    let password = base
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, pw)| pw.to_string())
        .expect("GOVMAIL_TEST_PG_URL has user:password@");
    let inst = Install::postgres(url);
    let (code, line) = inst.fails(&["domain", "list"], None);
    assert_eq!(code, 1, "{line}");
    assert!(line.contains("gm_no_such_database"), "{line}");
    assert!(line.contains(":***@"), "password redacted: {line}");
    assert!(
        !line.contains(&format!(":{password}@")),
        "password leaked: {line}"
    );
}

// ------------------------------------------------------------------ configuration errors

#[test]
fn config_bad_listen_address_names_the_list_element() {
    let inst = Install::sqlite();
    let (code, line) = inst.fails(&["--set", r#"listen.smtp=["x"]"#, "check-config"], None);
    assert_eq!(code, 2, "{line}");
    assert!(line.contains("listen.smtp[0]"), "{line}");
    let (code, line) = inst.fails(
        &[
            "--set",
            r#"listen.http=["127.0.0.1:8080", "nonsense"]"#,
            "check-config",
        ],
        None,
    );
    assert_eq!(code, 2, "{line}");
    assert!(line.contains("listen.http[1]"), "{line}");
}

#[test]
fn config_unknown_key_is_named() {
    let inst = Install::sqlite();
    let (code, line) = inst.fails(&["--set", "server.bogus=1", "check-config"], None);
    assert_eq!(code, 2, "{line}");
    assert!(line.contains("bogus"), "{line}");
}

#[test]
fn config_wrong_type_is_named() {
    let inst = Install::sqlite();
    let (code, line) = inst.fails(&["--set", "listen.smtp=0.0.0.0:25", "check-config"], None);
    assert_eq!(code, 2, "{line}");
    assert!(line.contains("listen.smtp"), "{line}");
}

#[test]
fn config_other_errors_name_their_key() {
    let inst = Install::sqlite();
    let (code, line) = inst.fails(&["--set", "nosection", "check-config"], None);
    assert_eq!(code, 2, "{line}");
    assert!(line.contains("nosection"), "{line}");

    let (code, line) = inst.fails(&["--set", "storage.url=mysql://x", "check-config"], None);
    assert_eq!(code, 2, "{line}");
    assert!(line.contains("storage.url"), "{line}");

    // Config errors stop admin commands too, before touching storage.
    let (code, line) = inst.fails(&["--set", "smtp.max_recipients=0", "domain", "list"], None);
    assert_eq!(code, 2, "{line}");
    assert!(line.contains("smtp.max_recipients"), "{line}");
    assert!(!inst.data_dir().join("govmail.db").exists());

    let (code, line) = inst.fails(
        &["--config", "/nonexistent/govmail.toml", "check-config"],
        None,
    );
    assert_eq!(code, 2, "{line}");
    assert!(line.contains("/nonexistent/govmail.toml"), "{line}");
}

#[test]
fn check_config_on_the_shipped_file() {
    let inst = Install::sqlite();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/govmail.toml");
    let shipped = shipped.to_str().unwrap();
    let data = inst.data_dir();
    let data_set = format!("server.data_dir={}", data.display());
    let url_set = format!("storage.url=sqlite://{}", data.join("govmail.db").display());
    // Valid once TLS and the paths point somewhere that exists here.
    let out = inst.ok(&[
        "--config",
        shipped,
        "--set",
        "tls.cert=",
        "--set",
        "tls.key=",
        "--set",
        &data_set,
        "--set",
        &url_set,
        "check-config",
    ]);
    assert_eq!(out.trim(), "config ok");
    // As shipped, its TLS files do not exist here: one line names tls.cert, one tls.key.
    let out = inst.run(
        &[
            "--config",
            shipped,
            "--set",
            &data_set,
            "--set",
            &url_set,
            "check-config",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(lines[0].contains("tls.cert"), "{stderr}");
    assert!(lines[1].contains("tls.key"), "{stderr}");
    // Only one of the pair set.
    let (code, line) = inst.fails(
        &[
            "--config",
            shipped,
            "--set",
            "tls.cert=",
            "--set",
            &data_set,
            "--set",
            &url_set,
            "check-config",
        ],
        None,
    );
    assert_eq!(code, 2, "{line}");
    assert!(line.contains("tls."), "{line}");
}

/// Issue 17 item 1: `check-config` names every mistake, one line each, not only the first —
/// a bad type, an unknown key, a bad list element and a failed range check at once.
#[test]
fn check_config_lists_every_mistake() {
    let inst = Install::sqlite();
    let config = inst.tmp.path().join("bad.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndata_dir = \"{}\"\nhostnam = \"x\"\n[listen]\nsmtp = [\"nonsense\"]\n\
             imap = 143\n[smtp]\nmax_recipients = 0\n",
            inst.data_dir().display()
        ),
    )
    .unwrap();
    let out = inst.run(
        &["--config", config.to_str().unwrap(), "check-config"],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    for key in [
        "hostnam",
        "listen.imap",
        "listen.smtp[0]",
        "smtp.max_recipients",
    ] {
        assert_eq!(
            lines.iter().filter(|l| l.contains(key)).count(),
            1,
            "{key} once in:\n{stderr}"
        );
    }
    assert_eq!(lines.len(), 4, "{stderr}");
    assert!(lines.iter().all(|l| l.starts_with("config: ")), "{stderr}");
}

/// Issue 17 item 1: without `--config`, `$GOVMAIL_CONFIG` or /etc/govmail/govmail.toml, every
/// command stops with one line saying so (and creates nothing); `--help` and `--version`
/// still work; `$GOVMAIL_CONFIG` is read when set; `--no-config` is the explicit way to run
/// on the development defaults.
#[test]
fn no_configuration_stops_every_command() {
    if Path::new("/etc/govmail/govmail.toml").exists() {
        eprintln!("skipped: /etc/govmail/govmail.toml exists on this machine");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bare = |args: &[&str], env: Option<&Path>| {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(dir.path())
            .env_remove("GOVMAIL_CONFIG")
            .env_remove("RUST_LOG")
            .args(args)
            .stdin(Stdio::null());
        if let Some(path) = env {
            cmd.env("GOVMAIL_CONFIG", path);
        }
        cmd.output().unwrap()
    };
    for args in [
        &["user", "list"][..],
        &["domain", "add", "kontum.gov.vn"],
        &["check-config"],
        &["serve"],
        &["migrate"],
        &["--set", "server.data_dir=./x", "events"],
    ] {
        let out = bare(args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains("no configuration"), "{stderr}");
        assert!(stderr.contains("--config"), "{stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing may be created in the working directory"
    );
    for args in [&["--help"][..], &["--version"], &["user", "--help"]] {
        let out = bare(args, None);
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    // $GOVMAIL_CONFIG names the file.
    let data = dir.path().join("from-env");
    let file = dir.path().join("env.toml");
    std::fs::write(
        &file,
        format!("[server]\ndata_dir = \"{}\"\n", data.display()),
    )
    .unwrap();
    let out = bare(&["domain", "add", "kontum.gov.vn"], Some(&file));
    assert!(out.status.success(), "{out:?}");
    assert!(data.join("govmail.db").exists());
    // A $GOVMAIL_CONFIG that does not exist is an error naming it, not the defaults.
    let missing = dir.path().join("missing.toml");
    let out = bare(&["domain", "list"], Some(&missing));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));
    // --no-config and --config together are refused by the parser.
    let out = bare(&["--no-config", "--config", "x.toml", "check-config"], None);
    assert!(!out.status.success());
    // The explicit development defaults.
    let out = bare(&["--no-config", "check-config"], None);
    assert!(out.status.success(), "{out:?}");
}

/// Issue 17 item 4: a reader that goes away (`govmail user list | head -2`) ends the command
/// quietly — status 0 and nothing on stderr — never a panic (status 101). The reader is
/// closed before the command writes anything, so every printing command meets the closed
/// pipe; and a real `| head -2` over more output than a pipe holds.
#[test]
fn closed_pipe_ends_quietly() {
    let inst = Install::sqlite();
    inst.ok(&["domain", "add", "kontum.gov.vn", "--naming", "kontum"]);
    inst.ok(&["unit", "add", "--abbrev", "STTTT", "--name", UNIT_NAME]);
    inst.ok_stdin(
        &[
            "user",
            "add",
            "--name",
            NAME,
            "--unit",
            "STTTT",
            "--password-stdin",
        ],
        Some("a-strong-password-1\n"),
    );
    for args in [
        &["user", "list"][..],
        &["user", "list", "--json"],
        &["user", "show", TUYET],
        &["domain", "list"],
        &["unit", "list"],
        &["events"],
        &["directory", "export"],
        &["dns", "kontum.gov.vn"],
    ] {
        let mut child = inst
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
    // More than a pipe buffer (64 KiB) of events through `head -2`.
    let url = inst.url();
    block_on(async {
        let mut options = storage::StoreOptions::new(url, inst.data_dir());
        options.max_connections = 2;
        let store = storage::Store::open(&options).await.unwrap();
        for i in 0..1500 {
            store
                .log_event(
                    "cli",
                    storage::Action::UserPasswd,
                    &format!("person{i}.stttt@kontum.gov.vn"),
                    "",
                    serde_json::json!({}),
                )
                .await
                .unwrap();
        }
    });
    let script = format!(
        "set -o pipefail; \"$0\" --no-config --set server.data_dir={} events --limit 5000 | head -2 >/dev/null; echo \"status=$?\"",
        inst.data_dir().display()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .arg(BIN)
        .env_remove("GOVMAIL_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 0, or 141 (128 + SIGPIPE) had the process been killed by the signal: never 101.
    assert!(
        stdout.trim() == "status=0" || stdout.trim() == "status=141",
        "{stdout} {stderr}"
    );
    assert!(stderr.is_empty(), "{stderr}");
}

/// Issue 17 item 2: a file with bad rows imports nothing — not the good rows before them —
/// and every problem names its line and column (file:line:column); a quoted field running over
/// two lines (RFC 4180 2.6) keeps the later line numbers right. No progress bar when stderr
/// is not a terminal (item 5).
#[test]
fn directory_import_reports_every_problem_and_imports_nothing() {
    let inst = Install::sqlite();
    inst.ok(&["domain", "add", "kontum.gov.vn", "--naming", "kontum"]);
    inst.ok(&["unit", "add", "--abbrev", "STTTT", "--name", UNIT_NAME]);
    let csv = inst.tmp.path().join("nhân sự.csv");
    std::fs::write(
        &csv,
        "name,unit,position,phone\n\
         Nguyễn Văn An,STTTT,\"Chuyên viên,\nphòng A\",0260\n\
         Trần Thị Bình,XYZ,,\n\
         ,STTTT,,\n\
         Lê Văn Cường,STTTT,a,b,c,d\n\
         Phạm Thị Dung,STTTT,,\n",
    )
    .unwrap();
    let out = inst.run(
        &[
            "directory",
            "import",
            csv.to_str().unwrap(),
            "--ref",
            "1/QĐ",
        ],
        None,
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = csv.display().to_string();
    // Line 2 holds a field that ends on line 3, so the unknown unit is on line 4.
    for (line, column, what) in [
        (4, 15, "unit (2): no unit \"XYZ\""),
        (5, 1, "name (1): the name is empty"),
        // Five columns since issue 15 (old_address): the sixth field is the extra one.
        (6, 26, "extra (6)"),
    ] {
        let prefix = format!("{file}:{line}:{column}: {what}");
        assert!(
            stderr.lines().any(|l| l.starts_with(&prefix)),
            "{prefix:?} in:\n{stderr}"
        );
    }
    assert!(stderr.contains("3 problem(s)"), "{stderr}");
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    assert!(
        !stderr.contains('\r') && !stderr.contains("[#"),
        "progress bar: {stderr}"
    );
    assert!(inst
        .json(&["user", "list", "--json"])
        .as_array()
        .unwrap()
        .is_empty());
    assert!(inst
        .json(&["events", "--action", "user.", "--json"])
        .as_array()
        .unwrap()
        .is_empty());
    // --dry-run finds the same problems.
    let out = inst.run(
        &["directory", "import", csv.to_str().unwrap(), "--dry-run"],
        None,
    );
    assert!(!out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), stderr);
    // Not UTF-8: the line is named.
    let latin1 = inst.tmp.path().join("latin1.csv");
    std::fs::write(&latin1, b"a,STTTT\nNguy\xe9n,STTTT\n").unwrap();
    let (_, line) = inst.fails(&["directory", "import", latin1.to_str().unwrap()], None);
    assert!(line.contains("latin1.csv:2: not UTF-8"), "{line}");
}

/// Issue 17 item 2: `--dry-run` prints exactly what the real run then does — the same rows,
/// lines and addresses, names repeated in the file numbered as the real import numbers them
/// (KT-4: a second "Nguyễn Văn An" of STTTT is nvan2.stttt), after an address already taken.
#[test]
fn directory_import_dry_run_matches_the_real_run() {
    let inst = Install::sqlite();
    inst.ok(&["domain", "add", "kontum.gov.vn", "--naming", "kontum"]);
    inst.ok(&["unit", "add", "--abbrev", "STTTT", "--name", UNIT_NAME]);
    inst.ok(&[
        "unit",
        "add",
        "--abbrev",
        "VPUB",
        "--name",
        "Văn phòng UBND",
    ]);
    inst.ok_stdin(
        &[
            "user",
            "add",
            "--name",
            "Nguyễn Văn An",
            "--unit",
            "STTTT",
            "--password-stdin",
        ],
        Some("a-strong-password-1\n"),
    );
    let csv = inst.tmp.path().join("people.csv");
    std::fs::write(
        &csv,
        "Nguyễn Văn An,STTTT,,\nNguyễn Văn An,stttt,,\nNguyễn Văn An,VPUB,,\n\nTrần Thị Bình,STTTT,,\n",
    )
    .unwrap();
    let path = csv.to_str().unwrap();
    let dry = inst.json(&["directory", "import", path, "--dry-run", "--json"]);
    let rows = |v: &serde_json::Value| -> Vec<(u64, String, String, String)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["line"].as_u64().unwrap(),
                    r["name"].as_str().unwrap().to_string(),
                    r["unit"].as_str().unwrap().to_string(),
                    r["address"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let expected = vec![
        (
            1,
            "Nguyễn Văn An".into(),
            "STTTT".into(),
            "nvan2.stttt@kontum.gov.vn".into(),
        ),
        (
            2,
            "Nguyễn Văn An".into(),
            "STTTT".into(),
            "nvan3.stttt@kontum.gov.vn".into(),
        ),
        (
            3,
            "Nguyễn Văn An".into(),
            "VPUB".into(),
            "nvan.vpub@kontum.gov.vn".into(),
        ),
        (
            5,
            "Trần Thị Bình".into(),
            "STTTT".into(),
            "ttbinh.stttt@kontum.gov.vn".into(),
        ),
    ];
    assert_eq!(rows(&dry), expected);
    assert!(dry
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["action"] == "would hire"));
    assert_eq!(
        inst.json(&["user", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let real = inst.json(&["directory", "import", path, "--json", "--ref", "1/QĐ"]);
    assert_eq!(rows(&real), expected);
    for row in real.as_array().unwrap() {
        let address = row["address"].as_str().unwrap();
        let shown = inst.json(&["user", "show", address, "--json"]);
        assert_eq!(shown["must_change_password"], true, "{address}");
        assert!(row["initial_password"].as_str().unwrap().len() >= 16);
    }
    let hires = inst.json(&["events", "--action", "user.hire", "--json"]);
    assert_eq!(hires.as_array().unwrap().len(), 4);
    assert!(hires
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["doc_ref"] == "1/QĐ"));
}

/// Issue 17 item 6: a backup carries the DKIM keys (`data_dir/dkim`) and the generated TLS pair
/// (`data_dir/tls`); `backup verify` re-hashes them (a changed or missing key fails it, named);
/// `restore` puts them back byte for byte, readable by their owner only.
#[test]
fn backup_carries_dkim_keys_and_the_tls_pair() {
    use std::os::unix::fs::PermissionsExt;
    let inst = Install::sqlite();
    inst.ok(&["domain", "add", "kontum.gov.vn", "--naming", "kontum"]);
    let generated = inst.json(&["dkim", "generate", "kontum.gov.vn", "--json"]);
    let key = PathBuf::from(generated["private_key"].as_str().unwrap());
    assert!(key.starts_with(inst.data_dir().join("dkim")), "{key:?}");
    let key_rel = key
        .strip_prefix(inst.data_dir())
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    // What `serve` generates when tls.cert/tls.key are empty.
    let tls = inst.data_dir().join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    std::fs::write(tls.join("cert.pem"), "-----BEGIN CERTIFICATE-----\nx\n").unwrap();
    std::fs::write(tls.join("key.pem"), "-----BEGIN PRIVATE KEY-----\ny\n").unwrap();

    let backup = inst.tmp.path().join("backup");
    let taken = inst.json(&["backup", "--to", backup.to_str().unwrap(), "--json"]);
    let carried: Vec<&str> = taken["key_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        carried,
        [key_rel.as_str(), "tls/cert.pem", "tls/key.pem"],
        "{taken}"
    );
    let copy = backup.join("files").join(&key_rel);
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(&key).unwrap());
    assert_eq!(
        std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let verified = inst.ok(&["backup", "verify", backup.to_str().unwrap()]);
    assert!(verified.contains("3 of 3 key files ok"), "{verified}");

    // Restore: the keys come back.
    let restored = inst.tmp.path().join("restored");
    inst.ok(&[
        "restore",
        backup.to_str().unwrap(),
        "--to",
        restored.to_str().unwrap(),
    ]);
    for rel in [key_rel.as_str(), "tls/cert.pem", "tls/key.pem"] {
        let back = restored.join(rel);
        assert_eq!(
            std::fs::read(&back).unwrap(),
            std::fs::read(inst.data_dir().join(rel)).unwrap(),
            "{rel}"
        );
        assert_eq!(
            std::fs::metadata(&back).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    // A changed key fails verify (and restore), naming the file; so does a missing one.
    std::fs::write(&copy, "tampered").unwrap();
    let out = inst.run(&["backup", "verify", backup.to_str().unwrap()], None);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("corrupt: files/{key_rel}")),
        "{stderr}"
    );
    let again = inst.tmp.path().join("restored-2");
    let out = inst.run(
        &[
            "restore",
            backup.to_str().unwrap(),
            "--to",
            again.to_str().unwrap(),
        ],
        None,
    );
    assert!(!out.status.success(), "restore of a tampered key");
    assert!(!again.join(&key_rel).exists());
    std::fs::remove_file(backup.join("files/tls/key.pem")).unwrap();
    let out = inst.run(
        &["backup", "verify", backup.to_str().unwrap(), "--json"],
        None,
    );
    assert!(!out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["report"]["files_missing"][0], "tls/key.pem");
    assert_eq!(report["report"]["files_corrupt"][0], key_rel.as_str());
    // The next backup mends both.
    inst.ok(&["backup", "--to", backup.to_str().unwrap()]);
    inst.ok(&["backup", "verify", backup.to_str().unwrap()]);
}

// ------------------------------------------------------------------ kill -9

/// A running `govmail serve`; killed (SIGKILL) when dropped.
struct Server {
    child: Child,
    stderr_log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(inst: &Install, http_port: u16, log_name: &str) -> Server {
    let stderr_log = inst.tmp.path().join(log_name);
    let http = format!(r#"listen.http=["127.0.0.1:{http_port}"]"#);
    let mut cmd = inst.command(&[
        "--set",
        "antivirus.enabled=false",
        "--set",
        "smtp.check_sender_authentication=false",
        "--set",
        "outbound.enabled=false",
        "--set",
        r#"listen.smtp=["127.0.0.1:0"]"#,
        "--set",
        r#"listen.submission=["127.0.0.1:0"]"#,
        "--set",
        r#"listen.submissions=["127.0.0.1:0"]"#,
        "--set",
        "listen.imap=[]",
        "--set",
        "listen.imaps=[]",
        "--set",
        "listen.managesieve=[]",
        "--set",
        "listen.ldap=[]",
        "--set",
        "listen.ldaps=[]",
        "--set",
        &http,
        "--set",
        "server.hostname=mail.kontum.gov.vn",
        "serve",
    ]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_log).unwrap());
    let mut child = cmd.spawn().expect("spawning govmail serve");
    let stdout = child.stdout.take().unwrap();
    let mut server = Server { child, stderr_log };

    // Wait for the banner on stdout (read on a thread so we can time out).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(None);
                    return;
                }
                Ok(_) if line.contains("govmail serving") => {
                    let _ = tx.send(Some(line.clone()));
                    // Keep draining so the server never blocks on a full pipe.
                    let _ = std::io::copy(&mut reader, &mut std::io::sink());
                    return;
                }
                Ok(_) => {}
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Some(_banner)) => server,
        outcome => {
            let status = server.child.try_wait();
            let log = std::fs::read_to_string(&server.stderr_log).unwrap_or_default();
            panic!("govmail serve did not report serving ({outcome:?}, status {status:?}); stderr:\n{log}");
        }
    }
}

/// Raw HTTP/1.1 GET; returns (status code, whole response).
fn http_get(port: u16, path: &str) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stream = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("connecting to 127.0.0.1:{port}: {e}"),
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    (status, response)
}

#[test]
fn serve_survives_kill_9() {
    let inst = Install::sqlite();
    inst.ok(&["domain", "add", "kontum.gov.vn", "--naming", "kontum"]);
    inst.ok(&["unit", "add", "--abbrev", "STTTT", "--name", UNIT_NAME]);
    let http_port = free_port();

    let first = start_server(&inst, http_port, "serve-0.log");
    let (status, body) = http_get(http_port, "/healthz");
    assert_eq!(status, 200, "{body}");
    drop(first); // SIGKILL

    for round in 1..=3 {
        let mut server = start_server(&inst, http_port, &format!("serve-{round}.log"));
        let (status, body) = http_get(http_port, "/healthz");
        assert_eq!(status, 200, "round {round}: {body}");
        let (status, body) = http_get(http_port, "/readyz");
        assert_eq!(status, 200, "round {round}: /readyz {body}");
        assert!(body.contains("\"ready\":true"), "round {round}: {body}");
        // The CLI works on the same database while the server runs.
        let name = format!("Nguyễn Văn Số {round}");
        let out = inst.ok(&["user", "add", "--name", &name, "--unit", "STTTT", "--json"]);
        let created: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(created["address"]
            .as_str()
            .unwrap()
            .ends_with(".stttt@kontum.gov.vn"));

        server.child.kill().expect("SIGKILL");
        let status = server.child.wait().unwrap();
        assert!(
            !status.success(),
            "round {round}: killed server exited {status}"
        );
        drop(server);

        // After the crash: the CLI still works on the same data dir, and nothing was lost.
        inst.ok(&["domain", "add", &format!("round{round}.kontum.gov.vn")]);
        let domains = inst.json(&["domain", "list", "--json"]);
        assert_eq!(
            domains.as_array().unwrap().len(),
            1 + round,
            "round {round}"
        );
        let users = inst.json(&["user", "list", "--json"]);
        assert_eq!(users.as_array().unwrap().len(), round, "round {round}");
        let shown = inst.json(&[
            "user",
            "show",
            created["address"].as_str().unwrap(),
            "--json",
        ]);
        assert_eq!(
            shown["full_name"].as_str().unwrap().as_bytes(),
            name.as_bytes()
        );
    }

    // One last start after everything: still serving, then a clean (SIGTERM-less) kill by Drop.
    let last = start_server(&inst, http_port, "serve-last.log");
    assert_eq!(http_get(http_port, "/healthz").0, 200);
    let log_path = last.stderr_log.clone();
    drop(last);
    // Issue 17 item 5: a log written to a file carries no ANSI colour codes (ESC [).
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("govmail serving"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escape in the log file:\n{log}"
    );
}

/// Issue 17 item 5: times are ISO 8601 (RFC 3339 5.6) — local with the offset of
/// `reports.utc_offset` in tables and records, UTC ("Z") in JSON, the same instant — and
/// every printing command answers `--json` with JSON (directory export included).
#[test]
fn times_are_iso_8601_and_every_command_speaks_json() {
    let inst = Install::sqlite();
    inst.ok(&["domain", "add", "kontum.gov.vn", "--naming", "kontum"]);
    inst.ok(&["unit", "add", "--abbrev", "STTTT", "--name", UNIT_NAME]);
    inst.ok_stdin(
        &[
            "user",
            "add",
            "--name",
            NAME,
            "--unit",
            "STTTT",
            "--password-stdin",
        ],
        Some("a-strong-password-1\n"),
    );
    let local = |text: &str| {
        // YYYY-MM-DDTHH:MM:SS+07:00
        let b = text.as_bytes();
        text.len() == 25
            && text.ends_with("+07:00")
            && b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b'T'
            && b[13] == b':'
            && b[16] == b':'
    };
    let utc = |text: &str| text.len() == 20 && text.ends_with('Z') && text.as_bytes()[10] == b'T';
    let seconds = |text: &str| -> i64 {
        // Days from civil (proleptic Gregorian) for the check, independent of the server code.
        let n = |r: std::ops::Range<usize>| text[r].parse::<i64>().unwrap();
        let (y, m, d) = (n(0..4), n(5..7), n(8..10));
        let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * m + 2) / 5 + d - 1;
        let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
        let offset = if text.ends_with('Z') {
            0
        } else {
            let sign = if &text[19..20] == "-" { -1 } else { 1 };
            sign * (n(20..22) * 3600 + n(23..25) * 60)
        };
        days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19) - offset
    };
    // events: the table's AT column and the JSON's `at` name the same instant.
    let table = inst.ok(&["events", "--action", "user.add"]);
    let row = table.lines().nth(1).expect("one event row");
    let at_local = row.split_whitespace().next().unwrap();
    assert!(local(at_local), "{table}");
    let events = inst.json(&["events", "--action", "user.add", "--json"]);
    let at_utc = events[0]["at"].as_str().unwrap();
    assert!(utc(at_utc), "{events}");
    assert_eq!(seconds(at_local), seconds(at_utc));
    // user show: created_at likewise.
    let shown = inst.ok(&["user", "show", TUYET]);
    let created_local = record_field(&shown, "created_at")[0];
    assert!(local(created_local), "{shown}");
    let shown = inst.json(&["user", "show", TUYET, "--json"]);
    let created_utc = shown["created_at"].as_str().unwrap();
    assert!(utc(created_utc), "{shown}");
    assert_eq!(seconds(created_local), seconds(created_utc));
    assert!((seconds(created_utc) - seconds(at_utc)).abs() < 60);
    // Another offset from the configuration.
    let other = inst.ok(&["--set", "reports.utc_offset=-03:30", "user", "show", TUYET]);
    let created_west = record_field(&other, "created_at")[0];
    assert!(created_west.ends_with("-03:30"), "{other}");
    assert_eq!(seconds(created_west), seconds(created_utc));

    // directory export --json: the people as JSON, not CSV.
    let export = inst.json(&["directory", "export", "--json"]);
    assert_eq!(export[0]["address"], TUYET, "{export}");
    assert!(utc(export[0]["created_at"].as_str().unwrap()));
    // Every printing command answers --json with JSON on stdout.
    for args in [
        &["domain", "list", "--json"][..],
        &["unit", "list", "--json"],
        &["unit", "show", "STTTT", "--json"],
        &["user", "list", "--json"],
        &["group", "list", "--json"],
        &["events", "--json"],
        &["queue", "list", "--json"],
        &["dns", "kontum.gov.vn", "--json"],
        &["check-config", "--json"],
        &["migrate", "--json"],
        &["retention", "run", "--dry-run", "--json"],
        &["user", "quota", TUYET, "--mb", "100", "--json"],
    ] {
        let _ = inst.json(args);
    }
    let out = inst.run(
        &["--set", "smtp.max_recipients=0", "check-config", "--json"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["ok"], false);
    assert_eq!(answer["problems"][0]["key"], "smtp.max_recipients");
}

#[test]
fn with_database_replaces_the_name() {
    assert_eq!(
        with_database("postgres://u:p@127.0.0.1:5432/govmail_test", "x"),
        "postgres://u:p@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h:1/db?sslmode=disable", "y"),
        "postgres://u:p@h:1/y?sslmode=disable"
    );
}

/// A stored Sieve script of an account: (content, active), read directly from the database.
fn stored_script(inst: &Install, address: &str, name: &str) -> Option<(String, bool)> {
    let url = inst.url();
    let (address, name) = (address.to_string(), name.to_string());
    block_on(async move {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&url).await.expect("connect");
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT s.content, s.active FROM sieve_scripts s JOIN accounts a ON a.id = s.account_id \
             WHERE a.address = $1 AND s.name = $2",
        )
        .bind(address)
        .bind(name)
        .fetch_optional(&mut conn)
        .await
        .expect("script row");
        let _ = conn.close().await;
        row.map(|(content, active)| (content, active != 0))
    })
}

#[test]
fn user_vacation_sets_a_sieve_script_and_off_removes_it() {
    let inst = Install::sqlite();
    inst.ok(&["domain", "add", "kontum.gov.vn", "--naming", "kontum"]);
    inst.ok(&["unit", "add", "--abbrev", "STTTT", "--name", UNIT_NAME]);
    inst.ok(&["user", "add", "--name", NAME, "--unit", "STTTT"]);
    let message = inst.tmp.path().join("reply.txt");
    std::fs::write(
        &message,
        "Tôi đi công tác đến hết ngày 5/12.\n.\nXin liên hệ chị Bình.\n",
    )
    .unwrap();
    let file = message.to_str().unwrap();
    // Bad input: one line naming the argument, nothing stored.
    let (_, line) = inst.fails(
        &[
            "user",
            "vacation",
            TUYET,
            "--from",
            "2026-12-05",
            "--to",
            "2026-12-01",
            "--subject",
            "x",
            "--message-file",
            file,
        ],
        None,
    );
    assert!(line.contains("before --from"), "{line}");
    let (_, line) = inst.fails(
        &[
            "user",
            "vacation",
            TUYET,
            "--from",
            "2026-02-30",
            "--to",
            "2026-12-01",
            "--subject",
            "x",
            "--message-file",
            file,
        ],
        None,
    );
    assert!(line.contains("--from 2026-02-30"), "{line}");
    let (_, line) = inst.fails(
        &[
            "user",
            "vacation",
            "nobody@kontum.gov.vn",
            "--from",
            "2026-12-01",
            "--to",
            "2026-12-05",
            "--subject",
            "x",
            "--message-file",
            file,
        ],
        None,
    );
    assert!(line.contains("no such mailbox"), "{line}");
    assert!(stored_script(&inst, TUYET, "vacation").is_none());
    let out = inst.ok(&[
        "user",
        "vacation",
        TUYET,
        "--from",
        "2026-12-01",
        "--to",
        "2026-12-05",
        "--subject",
        "Vắng mặt: đi công tác",
        "--message-file",
        file,
        "--ref",
        "15/GM-STTTT",
    ]);
    assert!(out.contains("from 2026-12-01 to 2026-12-05"), "{out}");
    let (content, active) = stored_script(&inst, TUYET, "vacation").expect("script stored");
    assert!(active);
    // RFC 5260 currentdate bounds the window; RFC 5230 vacation with the subject; the lone "."
    // line of the message is dot-stuffed (RFC 5228 2.4.2).
    assert!(
        content.contains("currentdate :value \"ge\" \"date\" \"2026-12-01\""),
        "{content}"
    );
    assert!(
        content.contains("currentdate :value \"le\" \"date\" \"2026-12-05\""),
        "{content}"
    );
    assert!(
        content.contains(":subject \"Vắng mặt: đi công tác\""),
        "{content}"
    );
    assert!(content.contains("\r\n..\r\nXin liên hệ"), "{content}");
    let events = inst.json(&["events", "--action", "vacation.", "--json"]);
    assert_eq!(events[0]["action"], "vacation.set", "{events}");
    assert_eq!(events[0]["doc_ref"], "15/GM-STTTT");
    let out = inst.ok(&["user", "vacation", TUYET, "--off"]);
    assert!(out.contains("off"), "{out}");
    assert!(stored_script(&inst, TUYET, "vacation").is_none());
    let events = inst.json(&["events", "--action", "vacation.", "--json"]);
    assert_eq!(events[0]["action"], "vacation.clear", "{events}");
}
