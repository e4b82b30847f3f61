//! `govmail doctor`: what the IT centre otherwise checks by hand, each check with what to fix.
//!
//! DNS records as `govmail dns` prints them (through `dns.resolvers`), the role addresses'
//! admin group, the TLS certificate (validity, days left), clamd (reachable, signature age),
//! free disk in `data_dir`, the outbound queue (backlog, oldest entry), the last backup (age,
//! a quick verify: database and key files re-hashed, blob files present with their size) and
//! pending migrations. Exit status for monitoring (Nagios style): 0 all ok, 1 a warning,
//! 2 a failure; `--json` gives every check.
//!
//! The store is opened without applying migrations, so pending ones are seen, not applied.

mod dns;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use storage::Store;

use crate::config::Config;

/// How a check came out; ordered, the worst decides the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }

    /// 0 ok, 1 warning, 2 failure.
    pub fn exit_code(self) -> u8 {
        self as u8
    }
}

/// One check: what, how it came out, what was seen, what to do.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn check(name: &str, status: Status, detail: impl Into<String>, fix: Option<&str>) -> Check {
    Check {
        name: name.into(),
        status,
        detail: detail.into(),
        fix: fix.map(str::to_string),
    }
}

/// Days and hours for people.
fn age_text(seconds: i64) -> String {
    if seconds >= 86_400 {
        format!("{:.1} days", seconds as f64 / 86_400.0)
    } else if seconds >= 3600 {
        format!("{:.1} hours", seconds as f64 / 3600.0)
    } else {
        format!("{} minutes", seconds / 60)
    }
}

/// Runs every check; prints them; returns the worst status.
pub async fn doctor(store: &Store, config: &Config, json: bool) -> anyhow::Result<Status> {
    let mut checks = vec![];
    checks.push(match store.ping().await {
        Ok(()) => check("database", Status::Ok, store.backend_name(), None),
        Err(e) => check("database", Status::Fail, e.to_string(), None),
    });
    checks.push(match store.pending_migrations().await {
        Ok(pending) if pending.is_empty() => check("migrations", Status::Ok, "up to date", None),
        Ok(pending) => check(
            "migrations",
            Status::Fail,
            format!("{} pending: {}", pending.len(), pending.join(", ")),
            Some("govmail migrate (or restart govmail serve)"),
        ),
        Err(e) => check("migrations", Status::Fail, e.to_string(), None),
    });
    checks.extend(dns_checks(store, config).await);
    checks.push(role_addresses(store, config).await);
    checks.push(certificate(config));
    checks.push(clamd(config).await);
    checks.push(disk(config));
    checks.push(queue(store).await);
    checks.push(backup(store).await);

    let worst = checks.iter().map(|c| c.status).max().unwrap_or(Status::Ok);
    if json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "status": worst,
                "checks": checks,
            }))
            .expect("serialisable")
        );
    } else {
        let width = checks
            .iter()
            .map(|c| c.name.chars().count())
            .max()
            .unwrap_or(0);
        for c in &checks {
            let pad = " ".repeat(width - c.name.chars().count());
            crate::outln!("{:<4}  {}{pad}  {}", c.status.word(), c.name, c.detail);
            if let (Some(fix), true) = (&c.fix, c.status != Status::Ok) {
                crate::outln!("      {}  fix: {fix}", " ".repeat(width));
            }
        }
        crate::outln!(
            "doctor: {}",
            match worst {
                Status::Ok => "everything checked is in order",
                Status::Warn => "warnings (see above)",
                Status::Fail => "problems to fix (see above)",
            }
        );
    }
    Ok(worst)
}

/// Every hosted domain's records, as `govmail dns DOMAIN` prints them.
async fn dns_checks(store: &Store, config: &Config) -> Vec<Check> {
    let domains = match store.list_domains().await {
        Ok(domains) => domains,
        Err(e) => return vec![check("dns", Status::Fail, e.to_string(), None)],
    };
    if domains.is_empty() {
        return vec![check(
            "dns",
            Status::Warn,
            "no hosted domain",
            Some("govmail domain add DOMAIN"),
        )];
    }
    let resolvers: Vec<std::net::SocketAddr> = config
        .dns
        .resolvers
        .iter()
        .filter_map(|r| r.parse().ok())
        .collect();
    let resolver = match dns::resolver(&resolvers) {
        Ok(r) => r,
        Err(e) => return vec![check("dns", Status::Fail, format!("resolver: {e}"), None)],
    };
    let dkim = config.dkim_keys();
    let settings = crate::admin_queue::DnsSettings::from_config(config, &dkim);
    let mut checks = vec![];
    for domain in domains {
        match crate::admin_queue::expected_records(&settings, &domain.name) {
            Ok(expected) => checks.extend(dns::check_records(&resolver, &expected).await),
            Err(e) => checks.push(check(
                &format!("dns {}", domain.name),
                Status::Fail,
                format!("{e:#}"),
                None,
            )),
        }
    }
    checks
}

async fn role_addresses(store: &Store, config: &Config) -> Check {
    const NAME: &str = "postmaster/abuse/dmarc";
    match crate::admin::role_address_problem(store, &config.server.admin_group).await {
        Ok(None) => check(
            NAME,
            Status::Ok,
            format!("reach {}", config.server.admin_group.trim()),
            None,
        ),
        Ok(Some(problem)) => check(
            NAME,
            Status::Fail,
            problem,
            Some("set server.admin_group to the IT centre's group and create it"),
        ),
        Err(e) => check(NAME, Status::Fail, e.to_string(), None),
    }
}

/// The certificate `serve` presents: `tls.cert`, or the pair it generated in `data_dir/tls`.
fn certificate(config: &Config) -> Check {
    const NAME: &str = "tls certificate";
    let generated = config.tls.cert.is_empty();
    let path = if generated {
        config.server.data_dir.join("tls").join("cert.pem")
    } else {
        PathBuf::from(&config.tls.cert)
    };
    let pem = match std::fs::read(&path) {
        Ok(pem) => pem,
        Err(_) if generated => {
            return check(
                NAME,
                Status::Warn,
                format!(
                    "{}: not generated yet (govmail serve makes a self-signed pair)",
                    path.display()
                ),
                Some("set tls.cert and tls.key to the province's certificate"),
            )
        }
        Err(e) => return check(NAME, Status::Fail, format!("{}: {e}", path.display()), None),
    };
    let Some(not_after) = crate::http::cert_not_after(&pem) else {
        return check(
            NAME,
            Status::Fail,
            format!("{}: not a readable PEM certificate", path.display()),
            None,
        );
    };
    let days = (not_after - storage::now()).div_euclid(86_400);
    let valid_until = crate::output::iso_time(not_after, time::UtcOffset::UTC);
    if days < 0 {
        return check(
            NAME,
            Status::Fail,
            format!("{}: expired {valid_until}", path.display()),
            Some("renew the certificate, then restart govmail"),
        );
    }
    let detail = format!(
        "{}: valid until {valid_until} ({days} days left)",
        path.display()
    );
    if days < 21 {
        check(
            NAME,
            Status::Warn,
            detail,
            Some("renew the certificate soon"),
        )
    } else if generated {
        check(
            NAME,
            Status::Warn,
            format!("{detail}; self-signed, clients warn"),
            Some("set tls.cert and tls.key to the province's certificate"),
        )
    } else {
        check(NAME, Status::Ok, detail, None)
    }
}

async fn clamd(config: &Config) -> Check {
    const NAME: &str = "clamd";
    if !config.antivirus.enabled {
        return check(
            NAME,
            Status::Warn,
            "antivirus.enabled = false: mail is not scanned",
            Some("run clamd and set antivirus.enabled = true (BD-7.6, KT-5.1)"),
        );
    }
    let address = match policy::antivirus::ClamdAddress::parse(&config.antivirus.clamd) {
        Ok(a) => a,
        Err(e) => return check(NAME, Status::Fail, e, None),
    };
    let clamd = policy::antivirus::Clamd::new(address, Duration::from_secs(5));
    let version = match clamd.version().await {
        Ok(v) => v,
        Err(e) => {
            return check(
                NAME,
                Status::Fail,
                format!("{}: {e}", config.antivirus.clamd),
                Some("start clamd (systemctl start clamav-daemon) or fix antivirus.clamd"),
            )
        }
    };
    match policy::antivirus::signature_date(&version) {
        None => check(
            NAME,
            Status::Warn,
            format!("{version}: the signature date is unknown"),
            Some("let freshclam update the signatures"),
        ),
        Some(at) => {
            let age = storage::now() - at;
            let detail = format!("{version} (signatures {} old)", age_text(age.max(0)));
            if age > 7 * 86_400 {
                check(
                    NAME,
                    Status::Fail,
                    detail,
                    Some("freshclam is not updating the signatures"),
                )
            } else if age > 2 * 86_400 {
                check(
                    NAME,
                    Status::Warn,
                    detail,
                    Some("freshclam is not updating the signatures"),
                )
            } else {
                check(NAME, Status::Ok, detail, None)
            }
        }
    }
}

fn disk(config: &Config) -> Check {
    const NAME: &str = "disk";
    let dir = &config.server.data_dir;
    let Ok(stat) = rustix::fs::statvfs(dir.as_path()) else {
        return check(
            NAME,
            Status::Fail,
            format!("{}: cannot read", dir.display()),
            None,
        );
    };
    let free = stat.f_bavail * stat.f_frsize;
    let min = config.health.min_free_mb * 1024 * 1024;
    let detail = format!(
        "{}: {} free (health.min_free_mb = {})",
        dir.display(),
        crate::ops::human_bytes(free as i64),
        config.health.min_free_mb
    );
    if free < min {
        check(
            NAME,
            Status::Fail,
            detail,
            Some("free disk space: mail is refused (452 4.3.1) when it runs out"),
        )
    } else if free < 2 * min {
        check(NAME, Status::Warn, detail, Some("free disk space soon"))
    } else {
        check(NAME, Status::Ok, detail, None)
    }
}

async fn queue(store: &Store) -> Check {
    const NAME: &str = "outbound queue";
    let stats = match store.queue_stats().await {
        Ok(s) => s,
        Err(e) => return check(NAME, Status::Fail, e.to_string(), None),
    };
    let Some(oldest) = stats.oldest else {
        return check(NAME, Status::Ok, format!("{} pending", stats.pending), None);
    };
    let age = storage::now() - oldest;
    let detail = format!(
        "{} pending, oldest {} old",
        stats.pending,
        age_text(age.max(0))
    );
    let fix = Some("govmail queue list: see the last errors (DNS, remote servers, TLS)");
    if age > 86_400 {
        check(NAME, Status::Fail, detail, fix)
    } else if age > 3600 || stats.pending > 1000 {
        check(NAME, Status::Warn, detail, fix)
    } else {
        check(NAME, Status::Ok, detail, None)
    }
}

/// The last `govmail backup` (its `backup.done` event): age, and a quick verify.
async fn backup(store: &Store) -> Check {
    const NAME: &str = "backup";
    let fix_take = Some("govmail backup --to DIR (daily, from cron or a systemd timer)");
    let last = match store.events(storage::Action::BackupDone.as_str(), 1).await {
        Ok(events) => events.into_iter().next(),
        Err(e) => return check(NAME, Status::Fail, e.to_string(), None),
    };
    let Some(last) = last else {
        return check(NAME, Status::Warn, "no backup taken yet", fix_take);
    };
    let Some(dir) = last.detail["dir"].as_str().map(PathBuf::from) else {
        return check(
            NAME,
            Status::Fail,
            "the backup event names no directory",
            fix_take,
        );
    };
    let age = storage::now() - last.at;
    let report = storage::ops::verify_backup_with(&dir, false, &mut |_, _, _| {}).await;
    let verified = match report {
        Ok(r) if r.is_ok() => Ok(format!("{} blobs, {} key files ok", r.blobs_ok, r.files_ok)),
        Ok(r) => Err(format!(
            "damaged: database {}, {} missing, {} corrupt",
            if r.database_ok { "ok" } else { "CORRUPT" },
            r.missing.len() + r.files_missing.len(),
            r.corrupt.len() + r.files_corrupt.len()
        )),
        Err(e) => Err(e.to_string()),
    };
    let detail = format!(
        "{}: {} old, {}",
        dir.display(),
        age_text(age.max(0)),
        match &verified {
            Ok(text) | Err(text) => text,
        }
    );
    if verified.is_err() {
        check(
            NAME,
            Status::Fail,
            detail,
            Some("govmail backup verify DIR, then take a new backup"),
        )
    } else if age > 7 * 86_400 {
        check(NAME, Status::Fail, detail, fix_take)
    } else if age > 26 * 3600 {
        check(NAME, Status::Warn, detail, fix_take)
    } else {
        check(NAME, Status::Ok, detail, None)
    }
}
