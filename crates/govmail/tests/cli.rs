//! The real `govmail` binary, driven as the IT centre would: admin commands against SQLite (in a
//! temporary data dir) and PostgreSQL (a fresh database on `GOVMAIL_TEST_PG_URL`), error
//! reporting, the stored credential, and `serve` surviving SIGKILL.
//!
//! Without `GOVMAIL_TEST_PG_URL` the PostgreSQL variant fails (run `scripts/test`), unless
//! `GOVMAIL_TEST_SKIP_PG=1` is set explicitly.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
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
        cmd.env_remove("GOVMAIL_CONFIG")
            .env_remove("RUST_LOG")
            .arg("--set")
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
    // As shipped, its TLS files do not exist here: the error names tls.cert.
    let (code, line) = inst.fails(
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
    assert_eq!(code, 2, "{line}");
    assert!(line.contains("tls.cert"), "{line}");
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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
    drop(last);
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
