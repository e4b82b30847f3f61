//! Operations (issue 7) through the binary's own `ops` module: CLI parsing and config
//! sections, the KT-11/KT-12 reports over a seeded fixture (answers worked out by hand
//! below), export formats (read back by Python's `mailbox`), backup/verify/restore commands,
//! and the retention task.
//!
//! Reports run on SQLite and on PostgreSQL (`GOVMAIL_TEST_PG_URL`; without it the test fails
//! unless `GOVMAIL_TEST_SKIP_PG=1`).

#[path = "../../storage/tests/common/fixtures.rs"]
mod fixtures;
#[allow(dead_code, unused_imports)]
#[path = "../src/ops/mod.rs"]
mod ops;
#[path = "../src/text.rs"]
mod text;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use clap::{CommandFactory, Parser, Subcommand};
use ops::reports::{Calendar, ChecksReport, Period, UsageReport};
use ops::ReportsConfig;
use sqlx::Connection;
use storage::meta::MessageMeta;
use storage::ops::DeliveryNote;
use storage::{Delivery, DeliveryTarget, FolderChoice, Store, StoreOptions};

// ------------------------------------------------------------------ CLI and config wiring

/// The lines the lead adds to `main.rs`, verbatim.
#[derive(Parser, Debug)]
struct Cli {
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Compliance (KT-11) and usage (KT-12) reports: CSV, JSON or HTML.
    #[command(subcommand)]
    Report(ops::ReportCmd),
    /// Retention rules: expired Junk/Trash, departed staff, unreferenced bodies.
    #[command(subcommand)]
    Retention(ops::RetentionCmd),
    /// Remove a phishing or inappropriate mail from every mailbox (audited).
    Purge(ops::PurgeArgs),
    /// Consistent online backup (incremental), or `backup verify DIR`.
    Backup(ops::BackupArgs),
    /// Restore a backup into an empty data directory (server stopped).
    Restore(ops::RestoreArgs),
    /// A person's or unit's mailbox as mbox or Maildir.
    Export(ops::ExportArgs),
}

#[test]
fn cli_parses() {
    Cli::command().debug_assert();
    let parse = |args: &str| Cli::try_parse_from(std::iter::once("govmail").chain(args.split(' ')));
    let ok = |args: &str| parse(args).unwrap_or_else(|e| panic!("{args}: {e}"));
    match ok("report checks --from 2026-03-02 --to 2026-03-06 --format html --out r.html").command {
        Command::Report(ops::ReportCmd::Checks(a)) => {
            assert_eq!(a.from, "2026-03-02");
            assert_eq!(a.format, Some(ops::reports::ReportFormat::Html));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        ok("--json report usage --period 2026H1").command,
        Command::Report(ops::ReportCmd::Usage(_))
    ));
    assert!(matches!(
        ok("retention run --dry-run").command,
        Command::Retention(ops::RetentionCmd::Run { dry_run: true })
    ));
    assert!(matches!(
        ok("purge --from a@b.c --dry-run").command,
        Command::Purge(_)
    ));
    assert!(matches!(
        ok("purge --subject x --since 2026-01-01 --ref 12/QĐ").command,
        Command::Purge(_)
    ));
    assert!(parse("purge --dry-run").is_err(), "a criterion is required");
    assert!(
        parse("purge --from a@b.c").is_err(),
        "--ref is required unless --dry-run"
    );
    match ok("backup --to /tmp/b").command {
        Command::Backup(b) => assert!(!b.is_verify() && b.to.is_some()),
        other => panic!("{other:?}"),
    }
    match ok("backup verify /tmp/b").command {
        Command::Backup(b) => assert!(b.is_verify()),
        other => panic!("{other:?}"),
    }
    assert!(parse("backup").is_err(), "--to is required");
    assert!(matches!(
        ok("restore /tmp/b --to /tmp/d").command,
        Command::Restore(_)
    ));
    assert!(matches!(
        ok("export a@kontum.gov.vn --format maildir --to /tmp/x").command,
        Command::Export(_)
    ));
    assert!(parse("export a@kontum.gov.vn --format zip --to /tmp/x").is_err());
}

/// The sections the lead adds to `config/govmail.toml`, verbatim: they must parse into the
/// defaults.
pub const GOVMAIL_TOML: &str = r#"
[retention]                       # BD-7.5, BD-7.7, KT-5.1; `govmail retention run [--dry-run]` runs it by hand
enabled = true                    # run inside `govmail serve` (first run a minute after start)
interval_minutes = 60             # between two scheduled runs
junk_days = 30                    # Junk (\Junk): removed this many days after the internal date; 0 = keep
trash_days = 30                   # Trash (\Trash) and its subfolders; 0 = keep
folders = {}                      # more rules: { "Archive/2019" = 3650, "\\Sent" = 1825 } (name or special-use)
departed_hold_days = 365          # departed staff: mail and credential removed this long after leaving; 0 = never
blob_gc_min_age_secs = 3600       # unreferenced bodies younger than this wait for a later run
# Per-unit overrides (the unit's mailbox and its people), by unit abbreviation:
# [retention.units.VPUB]
# trash_days = 90
# folders = { "Công văn đến" = 0 }

[reports]                         # KT-11 / KT-12: `govmail report checks|usage`
utc_offset = "+07:00"             # local time (also the day boundary of the message counters)
working_days = ["mon", "tue", "wed", "thu", "fri"]
working_hours = ["07:30-11:30", "13:30-17:00"]  # office hours; the unread clock counts only these
morning_window = "06:00-12:00"    # a unit mailbox opened in this span counts as checked in the morning
afternoon_window = "12:00-18:00"  # ... and in this one in the afternoon
holidays = ["01-01", "04-30", "05-01", "09-02"]  # "MM-DD" every year, "YYYY-MM-DD", or "YYYY-MM-DD..YYYY-MM-DD"
extra_working_days = []           # make-up working days on a weekend, "YYYY-MM-DD"
unread_hours = 8.0                # unit mail unread longer than this is listed
unread_clock = "working"          # "working" (office hours of working days) or "calendar"
"#;

#[derive(serde::Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct ConfigPart {
    retention: ops::RetentionConfig,
    reports: ops::ReportsConfig,
}

#[test]
fn config_sections_parse_into_the_defaults() {
    let part: ConfigPart = toml::from_str(GOVMAIL_TOML).unwrap();
    assert_eq!(part.retention, ops::RetentionConfig::default());
    assert_eq!(part.reports, ops::ReportsConfig::default());
    part.retention.validate().unwrap();
    part.reports.validate().unwrap();
    assert_eq!(part.reports.offset_seconds(), 7 * 3600);

    let with_units: ConfigPart = toml::from_str(
        "[retention]\ntrash_days = 60\nfolders = { \"Archive/2019\" = 3650, \"\\\\Sent\" = 1825 }\n\
         [retention.units.VPUB]\ntrash_days = 90\nfolders = { \"Công văn đến\" = 0 }\n[reports]\n",
    )
    .unwrap();
    let policy = with_units.retention.policy();
    use storage::ops::{FolderMatch, FolderRule};
    assert!(policy.rules.contains(&FolderRule {
        folder: FolderMatch::SpecialUse("\\Trash".into()),
        days: 60
    }));
    assert!(policy.rules.contains(&FolderRule {
        folder: FolderMatch::SpecialUse("\\Sent".into()),
        days: 1825
    }));
    assert!(policy.rules.contains(&FolderRule {
        folder: FolderMatch::Name("Archive/2019".into()),
        days: 3650
    }));
    assert_eq!(
        policy.unit_rules["VPUB"],
        vec![
            FolderRule {
                folder: FolderMatch::SpecialUse("\\Trash".into()),
                days: 90
            },
            FolderRule {
                folder: FolderMatch::Name("Công văn đến".into()),
                days: 0
            }
        ]
    );

    // Mistakes name their key.
    let bad = |text: &str| -> String {
        let part: ConfigPart = match toml::from_str(text) {
            Ok(p) => p,
            Err(e) => return e.to_string(),
        };
        match (part.retention.validate(), part.reports.validate()) {
            (Err((k, m)), _) | (_, Err((k, m))) => format!("{k}: {m}"),
            _ => panic!("{text} should be refused"),
        }
    };
    assert!(bad("[retention]\ninterval_minutes = 0\n[reports]\n")
        .contains("retention.interval_minutes"));
    assert!(bad("[retention]\n[reports]\nutc_offset = \"7\"\n").contains("reports.utc_offset"));
    assert!(
        bad("[retention]\n[reports]\nworking_days = [\"mon\", \"funday\"]\n")
            .contains("reports.working_days[1]")
    );
    assert!(bad("[retention]\n[reports]\nholidays = [\"2026-13-01\"]\n")
        .contains("reports.holidays[0]"));
    assert!(
        bad("[retention]\n[reports]\nmorning_window = \"12:00-06:00\"\n")
            .contains("reports.morning_window")
    );
    assert!(
        bad("[retention]\n[reports]\nunread_clock = \"moon\"\n").contains("reports.unread_clock")
    );
    assert!(bad("[retention]\nbogus = 1\n[reports]\n").contains("bogus"));
}

// ------------------------------------------------------------------ calendar and periods

fn date(text: &str) -> time::Date {
    ops::reports::parse_date(text).unwrap()
}

#[test]
fn periods() {
    let p = |t: &str| Period::parse(t).map(|p| (p.from.to_string(), p.to.to_string(), p.label));
    let s = |a: &str, b: &str, c: &str| Some((a.to_string(), b.to_string(), c.to_string()));
    assert_eq!(
        p("2026H1"),
        s("2026-01-01", "2026-06-30", "6 tháng đầu năm 2026")
    );
    assert_eq!(
        p("2026h2"),
        s("2026-07-01", "2026-12-31", "6 tháng cuối năm 2026")
    );
    assert_eq!(
        p("2026Q3"),
        s("2026-07-01", "2026-09-30", "Quý III năm 2026")
    );
    assert_eq!(
        p("2024-02"),
        s("2024-02-01", "2024-02-29", "Tháng 2 năm 2024")
    );
    assert_eq!(
        p("2026-12"),
        s("2026-12-01", "2026-12-31", "Tháng 12 năm 2026")
    );
    assert_eq!(p("2026"), s("2026-01-01", "2026-12-31", "Năm 2026"));
    assert_eq!(
        p("2026-01-05..2026-02-10"),
        s(
            "2026-01-05",
            "2026-02-10",
            "Từ ngày 05/01/2026 đến ngày 10/02/2026"
        )
    );
    for bad in [
        "2026H3",
        "2026Q5",
        "H1",
        "2026-13",
        "2026-02-10..2026-01-05",
        "x",
    ] {
        assert!(Period::parse(bad).is_none(), "{bad}");
    }
}

/// The fixture week: Mon 4 .. Sun 10 March 2030; Wed 6 is a holiday, Sat 9 a make-up working
/// day. Working days: 4, 5, 7, 8, 9.
fn fixture_config() -> ReportsConfig {
    ReportsConfig {
        holidays: vec!["2030-03-06".into(), "01-01".into()],
        extra_working_days: vec!["2030-03-09".into()],
        ..Default::default()
    }
}

/// Unix time of a local (UTC+7) date and time.
fn at(day: &str, hhmm: &str) -> i64 {
    let (h, m) = hhmm.split_once(':').unwrap();
    let (h, m): (i64, i64) = (h.parse().unwrap(), m.parse().unwrap());
    let d = date(day);
    let days =
        (d - time::Date::from_calendar_date(1970, time::Month::January, 1).unwrap()).whole_days();
    days * 86_400 + h * 3600 + m * 60 - 7 * 3600
}

#[test]
fn calendar_counts_working_time() {
    let cal = Calendar::new(&fixture_config()).unwrap();
    let days: Vec<String> = cal
        .working_days(date("2030-03-04"), date("2030-03-10"))
        .iter()
        .map(|d| d.to_string())
        .collect();
    assert_eq!(
        days,
        [
            "2030-03-04",
            "2030-03-05",
            "2030-03-07",
            "2030-03-08",
            "2030-03-09"
        ]
    );
    assert!(
        cal.is_holiday(date("2031-01-01")),
        "MM-DD repeats every year"
    );
    let hours = |a: i64, b: i64| cal.working_seconds(a, b) as f64 / 3600.0;
    // Fri 16:00 → Sun 10:00: 1 h on Friday, 7.5 h on the make-up Saturday.
    assert_eq!(
        hours(at("2030-03-08", "16:00"), at("2030-03-10", "10:00")),
        8.5
    );
    // Within one morning span, and across lunch.
    assert_eq!(
        hours(at("2030-03-04", "08:00"), at("2030-03-04", "09:30")),
        1.5
    );
    assert_eq!(
        hours(at("2030-03-04", "11:00"), at("2030-03-04", "14:00")),
        1.0
    );
    // The holiday counts nothing.
    assert_eq!(
        hours(at("2030-03-06", "00:00"), at("2030-03-07", "00:00")),
        0.0
    );
    assert_eq!(cal.day_start(date("2030-03-04")), at("2030-03-04", "00:00"));
}

// ------------------------------------------------------------------ backends

use fixtures::{person, unit, DOMAIN};

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

static DB_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh empty database on the PostgreSQL server; returns its URL.
async fn fresh_pg(base: &str, test: &str) -> String {
    let name = format!(
        "gm_ops_{test}_{}_{}",
        std::process::id(),
        DB_COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = sqlx::postgres::PgConnection::connect(base)
        .await
        .unwrap_or_else(|e| panic!("connecting to GOVMAIL_TEST_PG_URL ({base}): {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\""
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await
        .unwrap();
    let _ = admin.close().await;
    let (main, query) = match base.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (base, None),
    };
    let scheme_end = main.find("://").unwrap() + 3;
    let prefix = match main[scheme_end..].find('/') {
        Some(slash) => &main[..scheme_end + slash],
        None => main,
    };
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

/// Stores to run a test on: SQLite, and PostgreSQL unless skipped explicitly.
async fn stores(test: &str, tmp: &Path) -> Vec<(&'static str, Store)> {
    let mut out = vec![];
    let data = tmp.join("sqlite");
    let mut options = StoreOptions::new(
        format!("sqlite://{}", data.join("govmail.db").display()),
        &data,
    );
    options.inline_blob_max = 0;
    out.push(("sqlite", Store::open(&options).await.unwrap()));
    if let Some(base) = pg_base_url() {
        let url = fresh_pg(&base, test).await;
        out.push((
            "postgres",
            Store::open(&StoreOptions::new(url, tmp.join("pg")))
                .await
                .unwrap(),
        ));
    }
    out
}

struct Fixture {
    ids: BTreeMap<&'static str, i64>,
}

impl Fixture {
    fn id(&self, who: &str) -> i64 {
        self.ids[who]
    }
}

/// Units STTTT and VPUB. People: a, b (STTTT), h (head of VPUB), c (VPUB), d (STTTT,
/// departed before the fixture year), e (VPUB, disabled), n (no unit).
async fn seed_directory(s: &Store) -> Fixture {
    s.add_domain(DOMAIN, "free").await.unwrap();
    let mut ids = BTreeMap::new();
    ids.insert(
        "stttt",
        s.add_unit(&unit("STTTT", "Sở Thông tin và Truyền thông"))
            .await
            .unwrap()
            .account_id,
    );
    ids.insert(
        "vpub",
        s.add_unit(&unit("VPUB", "Văn phòng UBND tỉnh"))
            .await
            .unwrap()
            .account_id,
    );
    for (key, name, u) in [
        ("a", "Nguyễn Văn An", Some("STTTT")),
        ("b", "Trần Thị Bình", Some("STTTT")),
        ("h", "Hoàng Văn Hải", Some("VPUB")),
        ("c", "Lê Văn Cường", Some("VPUB")),
        ("d", "Phạm Thị Dung", Some("STTTT")),
        ("e", "Đỗ Văn Em", Some("VPUB")),
        ("n", "Ngô Thị Nga", None),
    ] {
        let address = format!("{key}@{DOMAIN}");
        ids.insert(
            key,
            s.add_person(&person(&address, name, u))
                .await
                .unwrap()
                .account_id,
        );
    }
    s.set_unit_head("VPUB", "h@kontum.gov.vn").await.unwrap();
    s.depart("d@kontum.gov.vn").await.unwrap();
    s.set_status("e@kontum.gov.vn", storage::AccountStatus::Disabled)
        .await
        .unwrap();
    Fixture { ids }
}

fn addr(who: &str) -> String {
    format!("{who}@{DOMAIN}")
}

async fn open(s: &Store, f: &Fixture, actor: &str, mailbox: &str, day: &str, hhmm: &str) {
    s.log_event_at(
        at(day, hhmm),
        &addr(actor),
        storage::Action::MailboxOpen,
        "INBOX",
        "",
        serde_json::json!({"account_id": f.id(mailbox)}),
    )
    .await
    .unwrap();
}

fn raw(subject: &str, size: usize) -> Vec<u8> {
    let mut raw = format!(
        "From: Người gửi <sender@example.org>\r\nTo: x@kontum.gov.vn\r\nSubject: {subject}\r\n\
         Message-ID: <{}@example.org>\r\n\r\n",
        subject.replace(' ', ".")
    )
    .into_bytes();
    while raw.len() + 2 < size {
        raw.push(b'x');
    }
    raw.extend_from_slice(b"\r\n");
    raw
}

async fn append(s: &Store, account: i64, folder: &str, raw: &[u8], flags: &str, when: i64) {
    let folder = match s.folder(account, folder).await {
        Ok(f) => f.id,
        Err(_) => s.create_folder(account, folder).await.unwrap(),
    };
    s.append_message(folder, raw, flags, when).await.unwrap();
}

// ------------------------------------------------------------------ KT-11

async fn seed_checks(s: &Store, f: &Fixture) {
    // STTTT's unit mailbox (hand-worked answers in `checks_report_matches_hand_answers`).
    open(s, f, "a", "stttt", "2030-03-04", "08:00").await; // Mon morning
    open(s, f, "b", "stttt", "2030-03-04", "14:00").await; // Mon afternoon
    open(s, f, "a", "stttt", "2030-03-05", "07:00").await; // Tue morning
    open(s, f, "b", "stttt", "2030-03-05", "09:00").await; // Tue morning, second person
    open(s, f, "a", "stttt", "2030-03-05", "10:00").await; // Tue morning, a again
    open(s, f, "a", "stttt", "2030-03-07", "17:59").await; // Thu afternoon
    open(s, f, "a", "stttt", "2030-03-08", "05:59").await; // Fri: before the morning window
    open(s, f, "b", "stttt", "2030-03-08", "12:00").await; // Fri afternoon (window start)
    open(s, f, "a", "stttt", "2030-03-09", "18:00").await; // Sat: after the window (end excluded)
    open(s, f, "a", "stttt", "2030-03-11", "09:00").await; // after --to

    // VPUB's unit mailbox.
    open(s, f, "h", "vpub", "2030-03-04", "10:00").await;
    open(s, f, "h", "vpub", "2030-03-04", "15:00").await;
    open(s, f, "h", "vpub", "2030-03-05", "10:00").await;
    open(s, f, "h", "vpub", "2030-03-06", "10:00").await; // the holiday: not a working day

    // Personal mailboxes.
    for day in ["2030-03-04", "2030-03-05", "2030-03-07"] {
        open(s, f, "a", "a", day, "08:30").await;
    }
    for day in ["2030-03-04", "2030-03-05", "2030-03-07", "2030-03-08"] {
        open(s, f, "b", "b", day, "16:00").await;
    }
    open(s, f, "b", "b", "2030-03-09", "23:30").await; // late, but the same day
    open(s, f, "h", "h", "2030-03-04", "07:45").await;
    open(s, f, "h", "h", "2030-03-06", "07:45").await; // holiday
    open(s, f, "d", "d", "2030-03-04", "08:00").await; // departed: not listed at all

    // Unit mail, read or not (now = Sun 10 March 10:00).
    #[rustfmt::skip]
    let mail = [
        ("stttt", "INBOX", "m1 thứ sáu", "", "2030-03-08", "16:00"),
        ("stttt", "INBOX", "m2 thứ bảy", "", "2030-03-09", "08:00"),
        ("stttt", "INBOX", "m3 đã đọc", "\\Seen", "2030-03-05", "09:00"),
        ("stttt", "Công văn", "m4 công văn", "\\Flagged", "2030-03-07", "12:00"),
        ("stttt", "Junk", "m5 rác", "", "2030-03-04", "09:00"),
        ("stttt", "INBOX", "m6 xoá", "\\Deleted", "2030-03-04", "09:00"),
        ("stttt", "INBOX", "m7 tuần trước", "", "2030-03-01", "09:00"),
        ("vpub", "INBOX", "v1 ngày lễ", "", "2030-03-06", "10:00"),
    ];
    for (who, folder, subject, flags, day, time) in mail {
        append(
            s,
            f.id(who),
            folder,
            &raw(subject, 600),
            flags,
            at(day, time),
        )
        .await;
    }
}

fn unit_days(report: &ChecksReport, unit: &str) -> Vec<(String, Vec<String>, Vec<String>)> {
    let u = report.units.iter().find(|u| u.unit == unit).unwrap();
    u.days
        .iter()
        .map(|d| (d.date.clone(), d.morning.clone(), d.afternoon.clone()))
        .collect()
}

#[tokio::test]
async fn checks_report_matches_hand_answers() {
    let tmp = tempfile::tempdir().unwrap();
    for (backend, s) in stores("checks", tmp.path()).await {
        let f = seed_directory(&s).await;
        seed_checks(&s, &f).await;
        let config = fixture_config();
        let cal = Calendar::new(&config).unwrap();
        let now = at("2030-03-10", "10:00");
        let report = ops::reports::checks_report(
            &s,
            &cal,
            date("2030-03-04"),
            date("2030-03-10"),
            None,
            now,
        )
        .await
        .unwrap();
        assert_eq!(
            report.working_days,
            [
                "2030-03-04",
                "2030-03-05",
                "2030-03-07",
                "2030-03-08",
                "2030-03-09"
            ],
            "[{backend}]"
        );
        let v = |names: &[&str]| names.iter().map(|n| addr(n)).collect::<Vec<_>>();
        let row = |d: &str, m: &[&str], a: &[&str]| (d.to_string(), v(m), v(a));
        assert_eq!(
            unit_days(&report, "STTTT"),
            vec![
                row("2030-03-04", &["a"], &["b"]),
                row("2030-03-05", &["a", "b"], &[]),
                row("2030-03-07", &[], &["a"]),
                row("2030-03-08", &[], &["b"]),
                row("2030-03-09", &[], &[]),
            ],
            "[{backend}]"
        );
        assert_eq!(
            unit_days(&report, "VPUB"),
            vec![
                row("2030-03-04", &["h"], &["h"]),
                row("2030-03-05", &["h"], &[]),
                row("2030-03-07", &[], &[]),
                row("2030-03-08", &[], &[]),
                row("2030-03-09", &[], &[]),
            ],
            "[{backend}]"
        );
        let counts: Vec<(String, usize, usize)> = report
            .units
            .iter()
            .map(|u| (u.unit.clone(), u.mornings_checked, u.afternoons_checked))
            .collect();
        assert_eq!(
            counts,
            [("STTTT".to_string(), 2, 3), ("VPUB".to_string(), 2, 1)],
            "[{backend}]"
        );
        // People: d departed before 2030 and e is disabled, so neither is listed.
        let persons: Vec<(String, usize, usize, Vec<bool>)> = report
            .persons
            .iter()
            .map(|p| {
                (
                    p.address.clone(),
                    p.working_days,
                    p.opened_days,
                    p.days.iter().map(|d| d.opened).collect(),
                )
            })
            .collect();
        assert_eq!(
            persons,
            vec![
                (addr("n"), 5, 0, vec![false; 5]),
                (addr("a"), 5, 3, vec![true, true, true, false, false]),
                (addr("b"), 5, 5, vec![true; 5]),
                (addr("c"), 5, 0, vec![false; 5]),
                (addr("h"), 5, 1, vec![true, false, false, false, false]),
            ],
            "[{backend}] (sorted by unit, then address; no unit first)"
        );
        // Unread longer than 8 working hours at Sun 10:00:
        //   m4 Thu 12:00 → Thu 3.5 + Fri 7.5 + Sat 7.5 = 18.5 h (a folder of its own, flagged)
        //   m1 Fri 16:00 → Fri 1 + Sat 7.5 = 8.5 h
        //   v1 Wed (holiday) 10:00 → Thu + Fri + Sat = 22.5 h
        //   m2 Sat 08:00 → 7 h (too recent); m3 read; m5 in Junk; m6 deleted; m7 before --from.
        let unread: Vec<(String, String, f64)> = report
            .unread
            .iter()
            .map(|u| (u.unit.clone(), u.folder.clone(), u.unread_hours))
            .collect();
        assert_eq!(
            unread,
            vec![
                ("STTTT".into(), "Công văn".into(), 18.5),
                ("STTTT".into(), "INBOX".into(), 8.5),
                ("VPUB".into(), "INBOX".into(), 22.5),
            ],
            "[{backend}]"
        );
        assert_eq!(report.unread[1].subject, "m1 thứ sáu");
        assert_eq!(report.unread[1].received_at, "08/03/2030 16:00");
        assert_eq!(report.unread[1].from, "sender@example.org");
        // Calendar hours: m2 (26 h) joins; 20 working hours leaves only v1.
        let calendar = Calendar::new(&ReportsConfig {
            unread_clock: "calendar".into(),
            ..fixture_config()
        })
        .unwrap();
        let r = ops::reports::checks_report(
            &s,
            &calendar,
            date("2030-03-04"),
            date("2030-03-10"),
            None,
            now,
        )
        .await
        .unwrap();
        let hours: Vec<f64> = r.unread.iter().map(|u| u.unread_hours).collect();
        assert_eq!(
            hours,
            [70.0, 42.0, 26.0, 96.0],
            "[{backend}] m4, m1, m2, v1"
        );
        let mut strict = cal.clone();
        strict.unread_hours = 20.0;
        let r = ops::reports::checks_report(
            &s,
            &strict,
            date("2030-03-04"),
            date("2030-03-10"),
            Some("vpub"),
            now,
        )
        .await
        .unwrap();
        assert_eq!(r.unread.len(), 1);
        assert_eq!(r.units.len(), 1, "--unit VPUB");
        assert_eq!(
            r.persons
                .iter()
                .map(|p| p.address.clone())
                .collect::<Vec<_>>(),
            [addr("c"), addr("h")]
        );

        // CSV (one table) and HTML.
        let csv = ops::reports::checks_csv(&report, Some(ops::reports::ChecksSection::Units));
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "Đơn vị,Hộp thư,Ngày,Sáng,Người mở (sáng),Chiều,Người mở (chiều)"
        );
        assert_eq!(lines.len(), 1 + 10);
        assert_eq!(
            lines[2],
            "STTTT,stttt@kontum.gov.vn,2030-03-05,có,a@kontum.gov.vn b@kontum.gov.vn,không,"
        );
        let all = ops::reports::checks_csv(&report, None);
        assert!(all.contains("# Hộp thư cá nhân") && all.contains("m1 thứ sáu"));
        let html = ops::reports::checks_html(&report);
        check_html(
            &html,
            &[
                "Báo cáo kiểm tra hộp thư điện tử",
                "Buổi sáng",
                "Sở Thông tin và Truyền thông",
                "m4 công văn",
            ],
        );
        s.close().await;
    }
}

fn check_html(html: &str, needles: &[&str]) {
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<meta charset=\"utf-8\">"));
    assert!(html.contains("<svg"), "inline SVG chart");
    for needle in needles {
        assert!(html.contains(needle), "HTML lacks {needle:?}");
    }
    // Self-contained: no external resources.
    for external in ["src=\"http", "href=\"http", "<script", "<link", "url("] {
        assert!(
            !html.contains(external),
            "HTML refers to something outside: {external}"
        );
    }
    // Well-formed enough for an XML parser (Python's, as a stand-in for a browser).
    let status = std::process::Command::new("python3")
        .args(["-c", "import sys, html.parser\nclass P(html.parser.HTMLParser):\n  pass\nP().feed(sys.stdin.read())"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(html.as_bytes())?;
            child.wait()
        });
    if let Ok(status) = status {
        assert!(status.success());
    }
}

// ------------------------------------------------------------------ KT-12

#[tokio::test]
async fn usage_report_matches_hand_answers() {
    let tmp = tempfile::tempdir().unwrap();
    for (backend, s) in stores("usage", tmp.path()).await {
        let f = seed_directory(&s).await;
        // Openings of their own mailboxes in H1: a and h; b only opened the unit mailbox; c
        // opened hers on 1 July (H2).
        open(&s, &f, "a", "a", "2030-02-03", "08:00").await;
        open(&s, &f, "h", "h", "2030-06-30", "23:00").await;
        open(&s, &f, "b", "stttt", "2030-03-04", "08:00").await;
        open(&s, &f, "c", "c", "2030-07-01", "00:30").await;
        // Mail flow.
        let note = |sender: Option<&str>, to: &[&str], remote: usize, junk: bool| DeliveryNote {
            sender_account: sender.map(|w| f.id(w)),
            recipient_accounts: to.iter().map(|w| f.id(w)).collect(),
            remote_recipients: remote,
            junk,
            bytes: 1000,
        };
        s.note_delivery_at(
            at("2030-01-15", "10:00"),
            note(Some("a"), &["b", "c"], 0, false),
        );
        s.note_delivery_at(at("2030-02-01", "10:00"), note(Some("a"), &["h"], 1, false));
        s.note_delivery_at(at("2030-03-01", "10:00"), note(None, &["a", "b"], 0, false));
        // 03:00 local on 1 January is still 31 December in UTC: it counts for H1.
        s.note_delivery_at(at("2030-01-01", "03:00"), note(None, &["c"], 0, true));
        s.note_delivery_at(at("2030-04-01", "10:00"), note(Some("n"), &["a"], 0, false));
        // 05:00 local on 1 July is 30 June in UTC: H2.
        s.note_delivery_at(at("2030-07-01", "05:00"), note(None, &["n"], 0, false));
        s.flush_mail_flow().await.unwrap();
        // Storage.
        let (ra, rs, rh, rn) = (
            raw("a", 1000),
            raw("stttt", 500),
            raw("h", 700),
            raw("n", 300),
        );
        append(&s, f.id("a"), "INBOX", &ra, "", at("2030-01-02", "08:00")).await;
        append(
            &s,
            f.id("stttt"),
            "INBOX",
            &rs,
            "",
            at("2030-01-02", "08:00"),
        )
        .await;
        append(&s, f.id("h"), "INBOX", &rh, "", at("2030-01-02", "08:00")).await;
        append(&s, f.id("n"), "INBOX", &rn, "", at("2030-01-02", "08:00")).await;
        // Refusals.
        let refused = |action: storage::Action,
                       when: i64,
                       target: &'static str,
                       recipients: serde_json::Value| {
            let s = s.clone();
            async move {
                s.log_event_at(
                    when,
                    "smtp",
                    action,
                    target,
                    "",
                    serde_json::json!({"recipients": recipients}),
                )
                .await
                .unwrap()
            }
        };
        use serde_json::json;
        refused(
            storage::Action::VirusRefused,
            at("2030-01-10", "09:00"),
            "bad@evil.example",
            json!([addr("a"), addr("c")]),
        )
        .await;
        refused(
            storage::Action::VirusRefused,
            at("2030-02-10", "09:00"),
            "b@kontum.gov.vn",
            json!(["x@outside.example"]),
        )
        .await;
        refused(
            storage::Action::VirusRefused,
            at("2030-03-10", "09:00"),
            "bad@evil.example",
            json!([addr("a"), addr("b")]),
        )
        .await;
        refused(
            storage::Action::VirusRefused,
            at("2030-07-10", "09:00"),
            "bad@evil.example",
            json!([addr("a")]),
        )
        .await;
        refused(
            storage::Action::SpamRejected,
            at("2030-05-10", "09:00"),
            "spam@evil.example",
            json!([addr("h")]),
        )
        .await;
        s.log_event_at(
            at("2030-05-11", "09:00"),
            "smtp",
            storage::Action::SpamRejected,
            "spam@evil.example",
            "",
            json!({"score": 20.0}),
        )
        .await
        .unwrap();

        let cal = Calendar::new(&fixture_config()).unwrap();
        let period = Period::parse("2030H1").unwrap();
        let report = ops::reports::usage_report(&s, &cal, &period, at("2030-07-02", "09:00"))
            .await
            .unwrap();
        assert_eq!(report.label, "6 tháng đầu năm 2030");
        let get = |unit: &str| -> ops::reports::UsageRow {
            report
                .units
                .iter()
                .find(|r| r.unit == unit)
                .unwrap()
                .clone()
        };
        type Row = (u64, u64, i64, i64, i64, i64, i64, i64, i64, i64);
        let key = |r: &ops::reports::UsageRow| -> Row {
            (
                r.accounts_active,
                r.accounts_used,
                r.sent_internal,
                r.sent_external,
                r.received_internal,
                r.received_external,
                r.storage_bytes,
                r.viruses_refused,
                r.spam_refused,
                r.spam_junked,
            )
        };
        let (la, ls, lh, ln) = (
            ra.len() as i64,
            rs.len() as i64,
            rh.len() as i64,
            rn.len() as i64,
        );
        // STTTT: a and b active (d departed in 2026); a used; a sent 1 internal + 1 external;
        // received internal: b (from a) + a (from n); external: a, b; storage a + unit
        // mailbox; viruses: #1 (a), #2 (sender b), #3 (a, b once); no spam.
        assert_eq!(
            key(&get("STTTT")),
            (2, 1, 1, 1, 2, 2, la + ls, 3, 0, 0),
            "[{backend}]"
        );
        // VPUB: h and c active (e disabled); h used (30 June 23:00 local); received internal c
        // and h; external c (junk); virus #1 (c); spam with h as recipient.
        assert_eq!(
            key(&get("VPUB")),
            (2, 1, 0, 0, 2, 1, lh, 1, 1, 1),
            "[{backend}]"
        );
        let no_unit = report.no_unit.clone().expect("n has no unit");
        assert_eq!(
            key(&no_unit),
            (1, 0, 1, 0, 0, 0, ln, 0, 0, 0),
            "[{backend}]"
        );
        // Province: each refusal once; the spam without recipients counts only here.
        assert_eq!(
            key(&report.total),
            (5, 2, 2, 1, 4, 3, la + ls + lh + ln, 3, 2, 1),
            "[{backend}]"
        );
        let csv = ops::reports::usage_csv(&report);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines.len(),
            1 + 2 + 1 + 1,
            "header, two units, no unit, total"
        );
        assert!(lines[0].starts_with("Đơn vị,Tên đơn vị,Tài khoản đang hoạt động"));
        assert_eq!(
            lines[4],
            format!(",Toàn tỉnh,5,2,2,1,4,3,{},3,2,1", la + ls + lh + ln)
        );
        let html = ops::reports::usage_html(&report);
        check_html(
            &html,
            &[
                "Báo cáo tình hình sử dụng hệ thống thư điện tử",
                "6 tháng đầu năm 2030",
                "Văn phòng UBND tỉnh (VPUB)",
                "Toàn tỉnh",
                "Thư nhiễm virus bị chặn",
            ],
        );
        let json: UsageReport = report.clone();
        assert!(serde_json::to_string(&json)
            .unwrap()
            .contains("\"accounts_active\":5"));
        s.close().await;
    }
}

#[test]
fn vietnamese_number_formats() {
    assert_eq!(ops::reports::vn_int(0), "0");
    assert_eq!(ops::reports::vn_int(1234567), "1.234.567");
    assert_eq!(ops::reports::vn_int(-1000), "-1.000");
    assert_eq!(ops::reports::vn_mb(1024 * 1024 * 3 / 2), "1,5 MB");
    assert_eq!(ops::reports::vn_mb(1024 * 1024 * 2048), "2.048,0 MB");
}

// ------------------------------------------------------------------ export

#[tokio::test]
async fn export_mbox_and_maildir_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut options = StoreOptions::new(
        format!("sqlite://{}", data.join("govmail.db").display()),
        &data,
    );
    options.inline_blob_max = 1024;
    let s = Store::open(&options).await.unwrap();
    let f = seed_directory(&s).await;
    let a = f.id("a");
    let tricky = b"Return-Path: <sender@example.org>\r\nFrom: Sender <sender@example.org>\r\n\
Subject: From lines\r\n\r\nFrom the start of a line\r\n>From quoted once\r\nnot From here\r\n\r\n"
        .to_vec();
    let mut large = raw("large", 5000);
    large.extend_from_slice(b"From me too\r\n");
    let messages: Vec<(&str, Vec<u8>, &str)> = vec![
        ("INBOX", tricky.clone(), "\\Seen \\Answered"),
        ("INBOX", raw("chưa đọc", 300), ""),
        ("INBOX", large.clone(), "\\Flagged"),
        ("Sent", raw("đã gửi", 400), "\\Seen"),
        (
            "Archive/2020",
            raw("lưu trữ", 500),
            "\\Seen \\Draft $Forwarded",
        ),
    ];
    for (i, (folder, raw, flags)) in messages.iter().enumerate() {
        append(
            &s,
            a,
            folder,
            raw,
            flags,
            at("2030-03-04", "08:00") + i as i64 * 60,
        )
        .await;
    }
    // The delivered form too (with the stored parse of a real delivery).
    let delivered = raw("giao nhận", 700);
    s.deliver(Delivery {
        raw: Arc::new(delivered.clone()),
        meta: Arc::new(MessageMeta::compute(&delivered)),
        targets: vec![DeliveryTarget {
            account_id: a,
            folder: FolderChoice::Inbox,
            flags: storage::Flags::new(),
        }],
        outbound: None,
        internal_date: at("2030-03-05", "08:00"),
        events: vec![],
    })
    .await
    .unwrap();

    // mbox
    let mbox = tmp.path().join("mbox");
    let mut ticks = 0u64;
    let summary = ops::export::export_mailbox(
        &s,
        "a@kontum.gov.vn",
        ops::export::ExportFormat::Mbox,
        &mbox,
        &mut |_, d, _| ticks = d,
    )
    .await
    .unwrap();
    assert_eq!(summary.messages, 6);
    assert_eq!(ticks, 6);
    assert_eq!(
        summary.folders, 7,
        "the six default folders and Archive/2020"
    );
    let inbox = std::fs::read(mbox.join("INBOX.mbox")).unwrap();
    let text = String::from_utf8(inbox).unwrap();
    assert!(
        text.starts_with("From sender@example.org Mon Mar  4 01:00:00 2030\n"),
        "{text}"
    );
    assert!(text.contains("\n>From the start of a line\n>>From quoted once\nnot From here\n"));
    assert!(!text.contains('\r'));
    assert!(mbox.join("Archive/2020.mbox").is_file());
    assert!(
        mbox.join("Trash.mbox").is_file(),
        "empty folders are exported empty"
    );
    // Python's mailbox reads it back (mboxrd unquoting by hand: Python only strips one '>').
    let script = r#"
import mailbox, sys, json, re
def subject(raw):
    return re.search(rb"^Subject: (.*?)\r?$", raw, re.M).group(1).decode("utf-8")
out = {}
for name in ["INBOX", "Sent", "Archive/2020"]:
    box = mailbox.mbox(sys.argv[1] + "/" + name + ".mbox", create=False)
    out[name] = [subject(box.get_bytes(k)) for k in box.keys()]
print(json.dumps(out, ensure_ascii=False))
"#;
    let py = python(script, &mbox);
    if let Some(py) = py {
        let got: serde_json::Value = serde_json::from_str(&py).unwrap();
        assert_eq!(got["INBOX"].as_array().unwrap().len(), 4, "{got}");
        assert_eq!(got["Sent"][0], "đã gửi");
        assert_eq!(got["Archive/2020"][0], "lưu trữ");
    }
    // Unquoting gives back the stored message with LF line ends.
    let first = text.split("\nFrom ").next().unwrap();
    let body: String = first
        .lines()
        .skip(1)
        .map(|l| {
            let n = l.chars().take_while(|&c| c == '>').count();
            if n > 0 && l[n..].starts_with("From ") {
                format!("{}\n", &l[1..])
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert_eq!(
        body.trim_end_matches('\n'),
        String::from_utf8(tricky.clone())
            .unwrap()
            .replace("\r\n", "\n")
            .trim_end_matches('\n')
    );

    // maildir
    let md = tmp.path().join("maildir");
    let summary = ops::export::export_mailbox(
        &s,
        "A@KONTUM.gov.vn",
        ops::export::ExportFormat::Maildir,
        &md,
        &mut |_, _, _| {},
    )
    .await
    .unwrap();
    assert_eq!(summary.messages, 6);
    let names = |dir: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let cur = names(&md.join("cur"));
    let new = names(&md.join("new"));
    assert_eq!(cur.len(), 2, "{cur:?}");
    assert_eq!(new.len(), 2, "unflagged messages are new: {new:?}");
    assert!(cur.iter().any(|n| n.ends_with(":2,RS")), "{cur:?}");
    assert!(cur.iter().any(|n| n.ends_with(":2,F")), "{cur:?}");
    assert!(names(&md.join(".Archive.2020/cur"))[0].ends_with(":2,DPS"));
    assert!(md.join(".Sent/maildirfolder").is_file());
    // Bytes are kept exactly; the modification time is the internal date.
    let seen = cur.iter().find(|n| n.ends_with(":2,RS")).unwrap();
    let path = md.join("cur").join(seen);
    assert_eq!(std::fs::read(&path).unwrap(), tricky);
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    assert_eq!(
        mtime
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
        at("2030-03-04", "08:00")
    );
    let script = r#"
import mailbox, sys, json, re
def subject(raw):
    return re.search(rb"^Subject: (.*?)\r?$", raw, re.M).group(1).decode("utf-8")
md = mailbox.Maildir(sys.argv[1], factory=None, create=False)
out = {"INBOX": sorted(subject(md.get_bytes(k)) for k in md.keys()), "folders": sorted(md.list_folders())}
out["flags"] = sorted(md.get_message(k).get_flags() for k in md.keys())
print(json.dumps(out, ensure_ascii=False))
"#;
    if let Some(py) = python(script, &md) {
        let got: serde_json::Value = serde_json::from_str(&py).unwrap();
        assert_eq!(got["INBOX"].as_array().unwrap().len(), 4, "{got}");
        let folders: Vec<&str> = got["folders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(
            folders.contains(&"Sent") && folders.contains(&"Archive.2020"),
            "{folders:?}"
        );
        assert_eq!(got["flags"], serde_json::json!(["", "", "F", "RS"]));
    }
    // Not over an existing export, not for unknown addresses.
    assert!(ops::export::export_mailbox(
        &s,
        "a@kontum.gov.vn",
        ops::export::ExportFormat::Maildir,
        &md,
        &mut |_, _, _| {}
    )
    .await
    .is_err());
    assert!(ops::export::export_mailbox(
        &s,
        "nobody@kontum.gov.vn",
        ops::export::ExportFormat::Mbox,
        &tmp.path().join("x"),
        &mut |_, _, _| {}
    )
    .await
    .is_err());
    // The command records the export in the audit log.
    ops::export(
        &s,
        true,
        ops::ExportArgs {
            address: "stttt@kontum.gov.vn".into(),
            format: ops::export::ExportFormat::Mbox,
            to: tmp.path().join("unit"),
            doc_ref: "5/CV-STTTT".into(),
        },
    )
    .await
    .unwrap();
    let events = s.events("mailbox.export", 5).await.unwrap();
    assert_eq!(events[0].target, "stttt@kontum.gov.vn");
    assert_eq!(events[0].doc_ref, "5/CV-STTTT");
    s.close().await;
}

/// Runs a Python snippet with `arg`; None when Python is not installed.
fn python(script: &str, arg: &Path) -> Option<String> {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(arg)
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

#[test]
fn mbox_quoting_and_from_lines() {
    let mut out = vec![];
    ops::export::write_mbox_message(
        &mut out,
        b"Subject: x\r\n\r\nFrom a\r\n>>From b\r\nFromage\r\nlast",
        0,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\nSubject: x\n\n>From a\n>>>From b\nFromage\nlast\n\n"
    );
    assert_eq!(
        ops::export::from_line_sender(b"Return-Path: <>\r\n\r\n"),
        "MAILER-DAEMON"
    );
    assert_eq!(
        ops::export::from_line_sender(b"From: \"A B\" <a@b.c>\r\n\r\nReturn-Path: <x@y>\r\n"),
        "a@b.c"
    );
    assert_eq!(
        ops::export::maildir_flags("\\Seen \\Flagged \\Answered \\Deleted"),
        "FRST"
    );
    assert_eq!(
        ops::export::maildir_path(Path::new("/m"), "Trash/Cũ.2020"),
        Path::new("/m/.Trash.Cũ_2020")
    );
    assert_eq!(
        ops::export::mbox_path(Path::new("/m"), "a/../b"),
        Path::new("/m/a/_../b.mbox")
    );
}

// ------------------------------------------------------------------ backup commands, retention task

#[tokio::test]
async fn backup_commands_and_retention_task() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let url = format!("sqlite://{}", data.join("govmail.db").display());
    let mut options = StoreOptions::new(url.clone(), &data);
    options.inline_blob_max = 256;
    let s = Store::open(&options).await.unwrap();
    let f = seed_directory(&s).await;
    for i in 0..5 {
        append(
            &s,
            f.id("a"),
            "INBOX",
            &raw(&format!("b{i}"), 200 + i * 300),
            "",
            at("2030-03-04", "08:00"),
        )
        .await;
    }
    let dir = tmp.path().join("backup");
    let args =
        |argv: &str| match Cli::try_parse_from(std::iter::once("govmail").chain(argv.split(' ')))
            .unwrap()
            .command
        {
            Command::Backup(b) => b,
            other => panic!("{other:?}"),
        };
    ops::backup(
        &s,
        &url,
        &data,
        false,
        args(&format!("backup --to {}", dir.display())),
    )
    .await
    .unwrap();
    ops::backup_verify(args(&format!("backup verify {}", dir.display())), false)
        .await
        .unwrap();
    let manifest = storage::ops::read_manifest(&dir).unwrap();
    assert_eq!(
        manifest.blobs.len(),
        4,
        "one body is inline (in the database snapshot)"
    );
    let victim = &manifest.blobs[0].id;
    let path = dir.join("blobs").join(&victim[..2]).join(victim);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[10] ^= 0x20;
    std::fs::write(&path, bytes).unwrap();
    let err = ops::backup_verify(args(&format!("backup verify {}", dir.display())), true)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("1 corrupt"), "{err}");
    // Restore refuses a corrupt backup, then works after the next (repairing) backup.
    let target = tmp.path().join("restored");
    let restore = |to: &Path| ops::RestoreArgs {
        dir: dir.clone(),
        to: Some(to.to_path_buf()),
    };
    assert!(ops::restore(restore(&target), false, &data, &url)
        .await
        .is_err());
    ops::backup(
        &s,
        &url,
        &data,
        true,
        args(&format!("backup --to {}", dir.display())),
    )
    .await
    .unwrap();
    ops::restore(restore(&target), false, &data, &url)
        .await
        .unwrap();
    let mut ro = StoreOptions::new(
        format!("sqlite://{}", target.join("govmail.db").display()),
        &target,
    );
    ro.inline_blob_max = 256;
    let restored = Store::open(&ro).await.unwrap();
    let inbox = restored.folder(f.id("a"), "INBOX").await.unwrap();
    let rows = restored.messages(inbox.id).await.unwrap();
    assert_eq!(rows.len(), 5);
    for (i, m) in rows.iter().enumerate() {
        assert_eq!(
            restored.read_blob(&m.blob_id).await.unwrap(),
            raw(&format!("b{i}"), 200 + i * 300)
        );
    }
    restored.close().await;
    assert!(
        ops::restore(restore(&target), false, &data, &url)
            .await
            .is_err(),
        "not empty"
    );

    // Retention command and task.
    let config = ops::RetentionConfig::default();
    ops::retention(
        &s,
        &config,
        &ReportsConfig::default(),
        false,
        ops::RetentionCmd::Run { dry_run: true },
    )
    .await
    .unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(ops::retention_task(s.clone(), config.clone(), rx));
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    tx.send(true).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), task)
        .await
        .expect("stops on shutdown")
        .unwrap();
    let disabled = ops::RetentionConfig {
        enabled: false,
        ..config
    };
    let (_tx, rx) = tokio::sync::watch::channel(false);
    tokio::time::timeout(
        std::time::Duration::from_secs(1),
        ops::retention_task(s.clone(), disabled, rx),
    )
    .await
    .expect("disabled: returns at once");
    s.close().await;
}
