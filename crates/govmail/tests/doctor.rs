//! `govmail doctor` against a DNS server the test controls, once with the zone exactly as
//! `govmail dns` asks, once broken; with a fake clamd (speaking clamd's VERSION protocol) whose
//! signatures are fresh or stale; a certificate valid or expired; with and without a backup; a
//! database missing its newest migration.

use crate::dns;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_govmail");
const DOMAIN: &str = "kontum.gov.vn";
const HOST: &str = "mail.kontum.gov.vn";

/// A clamd that answers VERSION (and PING) like clamd 1.4: `ClamAV 1.4.6/27000/<date>`, with
/// the signature date `age_days` ago.
fn fake_clamd(age_days: i64) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let at = time::OffsetDateTime::now_utc() - time::Duration::days(age_days);
    let date = at
        .format(time::macros::format_description!(
            "[weekday repr:short] [month repr:short] [day padding:space] [hour]:[minute]:[second] [year]"
        ))
        .unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut command = vec![];
            let mut byte = [0u8; 1];
            while stream.read(&mut byte).unwrap_or(0) == 1 && byte[0] != 0 && byte[0] != b'\n' {
                command.push(byte[0]);
            }
            let answer = if command.ends_with(b"VERSION") {
                format!("ClamAV 1.4.6/27000/{date}\0")
            } else {
                "PONG\0".to_string()
            };
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    addr
}

/// A certificate for HOST valid until `year`, written as PEM files; (cert, key).
fn certificate(dir: &Path, year: i32) -> (PathBuf, PathBuf) {
    let mut params = rcgen::CertificateParams::new(vec![HOST.to_string()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(year, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (
        dir.join(format!("cert-{year}.pem")),
        dir.join(format!("key-{year}.pem")),
    );
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

struct Install {
    tmp: tempfile::TempDir,
    sets: Vec<String>,
}

impl Install {
    fn data(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    fn run(&self, args: &[&str], extra: &[String]) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.env_remove("GOVMAIL_CONFIG")
            .env_remove("RUST_LOG")
            .arg("--no-config");
        for set in self.sets.iter().chain(extra) {
            cmd.arg("--set").arg(set);
        }
        cmd.args(args).stdin(Stdio::null()).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, &[]);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `govmail doctor --json` with extra settings: (exit code, report).
    fn doctor(&self, extra: &[String]) -> (i32, serde_json::Value) {
        let out = self.run(&["doctor", "--json"], extra);
        let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "doctor --json: {e}: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap(), report)
    }
}

/// The status of the check named `name`.
fn status<'a>(report: &'a serde_json::Value, name: &str) -> &'a str {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name:?} in {report:#}"))["status"]
        .as_str()
        .unwrap()
}

fn statuses(report: &serde_json::Value) -> Vec<(String, String)> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Publishes a record as `govmail dns --json` prints it.
fn publish(zone: &dns::TestDns, record: &serde_json::Value) {
    let name = record["name"].as_str().unwrap();
    let value = record["value"].as_str().unwrap();
    let words: Vec<&str> = value.split_whitespace().collect();
    match record["kind"].as_str().unwrap() {
        "MX" => zone.mx(
            name,
            words[0].parse().unwrap(),
            words[1].trim_end_matches('.'),
        ),
        "TXT" => zone.txt(name, value),
        "SRV" => zone.srv(
            name,
            words[0].parse().unwrap(),
            words[1].parse().unwrap(),
            words[2].parse().unwrap(),
            words[3],
        ),
        "CNAME" => zone.cname(name, value),
        other => panic!("{other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_with_a_correct_and_a_broken_zone() {
    let good_dns = dns::TestDns::start().await;
    let broken_dns = dns::TestDns::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(tmp.path(), 2099);
    let fresh = fake_clamd(0);
    let install = Install {
        sets: vec![
            format!("server.data_dir={}", tmp.path().join("data").display()),
            format!("server.hostname={HOST}"),
            format!("server.admin_group=quantri@{DOMAIN}"),
            format!("dns.resolvers=[\"{}\"]", good_dns.addr),
            format!("tls.cert={}", cert.display()),
            format!("tls.key={}", key.display()),
            format!("antivirus.clamd=tcp://{fresh}"),
            "health.min_free_mb=1".into(),
        ],
        tmp,
    };
    install.ok(&["domain", "add", DOMAIN, "--naming", "kontum"]);
    install.ok(&[
        "group",
        "add",
        &format!("quantri@{DOMAIN}"),
        "--name",
        "Quản trị",
    ]);
    let generated: serde_json::Value =
        serde_json::from_str(&install.ok(&["dkim", "generate", DOMAIN, "--json"])).unwrap();
    let dkim_key = format!(
        "dkim.keys=[{{domain = \"{DOMAIN}\", selector = \"{}\", private_key = \"{}\"}}]",
        generated["selector"].as_str().unwrap(),
        generated["private_key"].as_str().unwrap()
    );
    let with_key = vec![dkim_key.clone()];
    let out = install.run(&["dns", DOMAIN, "--json"], &with_key);
    assert!(out.status.success());
    let records: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let records = records.as_array().unwrap();
    for record in records {
        publish(&good_dns, record);
    }
    let backup = install.tmp.path().join("backup");
    install.ok(&["backup", "--to", backup.to_str().unwrap()]);

    // 1. Everything in order: exit 0, every check ok — every record `govmail dns` prints.
    let (code, report) = install.doctor(&with_key);
    assert_eq!(report["status"], "ok", "{:#?}", statuses(&report));
    assert_eq!(code, 0);
    for record in records {
        let name = format!(
            "dns {} {}",
            record["kind"].as_str().unwrap(),
            record["name"].as_str().unwrap().trim_end_matches('.')
        );
        assert_eq!(status(&report, &name), "ok", "{name}");
    }
    for name in [
        "database",
        "migrations",
        "postmaster/abuse/dmarc",
        "tls certificate",
        "clamd",
        "disk",
        "outbound queue",
        "backup",
    ] {
        assert_eq!(status(&report, name), "ok", "{name}: {report:#}");
    }
    // The human form says the same, one line per check.
    let text = install.run(&["doctor"], &with_key);
    assert_eq!(text.status.code(), Some(0));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.lines().last().unwrap().contains("in order"), "{text}");

    // 2. A broken zone: MX elsewhere, no SPF, another DKIM key, no DMARC, one SRV with the
    // wrong port; everything else right.
    for record in records {
        let name = record["name"].as_str().unwrap();
        let value = record["value"].as_str().unwrap();
        match record["kind"].as_str().unwrap() {
            "MX" => broken_dns.mx(name, 10, "mx.other-provider.example"),
            "TXT" if value.starts_with("v=spf1") || value.starts_with("v=DMARC1") => {}
            "TXT" => broken_dns.txt(name, "v=DKIM1; k=rsa; p=MIIBIjANBgkqAnotTheConfiguredKey"),
            "SRV" if name.starts_with("_submission.") => broken_dns.srv(name, 0, 1, 2525, HOST),
            _ => publish(&broken_dns, record),
        }
    }
    let broken = vec![
        dkim_key.clone(),
        format!("dns.resolvers=[\"{}\"]", broken_dns.addr),
    ];
    let (code, report) = install.doctor(&broken);
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(report["status"], "fail");
    let find = |kind: &str, name: &str| format!("dns {kind} {name}");
    let selector = generated["selector"].as_str().unwrap();
    for (name, expected) in [
        (find("MX", DOMAIN), "fail"),
        (find("TXT", DOMAIN), "fail"),
        (
            find("TXT", &format!("{selector}._domainkey.{DOMAIN}")),
            "fail",
        ),
        (find("TXT", &format!("_dmarc.{DOMAIN}")), "fail"),
        (find("SRV", &format!("_submission._tcp.{DOMAIN}")), "warn"),
        (find("SRV", &format!("_imaps._tcp.{DOMAIN}")), "ok"),
        (find("CNAME", &format!("autoconfig.{DOMAIN}")), "ok"),
    ] {
        assert_eq!(status(&report, &name), expected, "{name}: {report:#}");
    }
    // Each failed record says what to publish.
    let mx = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == find("MX", DOMAIN))
        .unwrap();
    assert!(mx["fix"].as_str().unwrap().contains(HOST), "{mx}");

    // 3. Stale signatures, an expired certificate, no admin group, no backup directory.
    let stale = fake_clamd(10);
    let (old_cert, old_key) = certificate(install.tmp.path(), 2021);
    std::fs::remove_dir_all(&backup).unwrap();
    let (code, report) = install.doctor(&[
        dkim_key.clone(),
        format!("antivirus.clamd=tcp://{stale}"),
        format!("tls.cert={}", old_cert.display()),
        format!("tls.key={}", old_key.display()),
        "server.admin_group=".into(),
    ]);
    assert_eq!(code, 2);
    for name in [
        "clamd",
        "tls certificate",
        "postmaster/abuse/dmarc",
        "backup",
    ] {
        assert_eq!(status(&report, name), "fail", "{name}: {report:#}");
    }
    // clamd not running at all.
    let (_, report) =
        install.doctor(&[dkim_key.clone(), "antivirus.clamd=tcp://127.0.0.1:1".into()]);
    assert_eq!(status(&report, "clamd"), "fail");

    // 4. A database without its newest migration: reported, and not applied by the check.
    let db = install.data().join("govmail.db");
    let url = format!("sqlite://{}", db.display());
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let newest: i64 = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1")
        .bind(newest)
        .execute(&mut conn)
        .await
        .unwrap();
    let (code, report) = install.doctor(&with_key);
    assert_eq!(code, 2);
    assert_eq!(status(&report, "migrations"), "fail");
    let still: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE version = $1")
        .bind(newest)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(still, 0, "doctor must not apply migrations");
    conn.close().await.unwrap();
}
