//! Retention (BD-7.5, BD-7.7, KT-5.1): per-folder rules with per-unit overrides, mail of
//! departed accounts after the hold period, blob GC; `govmail retention run`, the task in
//! `serve`, and `govmail purge` of a phishing or inappropriate mail from every mailbox.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde::Deserialize;
use storage::ops::{FolderMatch, FolderRule, PurgeCriteria, RetentionPolicy, RetentionReport};
use storage::Store;
use time::UtcOffset;

use super::reports::ReportsConfig;
use super::{human_bytes, print_record, print_table, ProgressBar};

/// `[retention]` in govmail.toml.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Run retention inside `govmail serve`.
    pub enabled: bool,
    /// Minutes between two scheduled runs.
    pub interval_minutes: u64,
    /// Messages in Junk (special-use \Junk) are removed this many days after their internal
    /// date; 0 keeps them.
    pub junk_days: u32,
    /// The same for Trash (\Trash) and its subfolders.
    pub trash_days: u32,
    /// More folders: full name (e.g. "Archive/2019") or special-use ("\\Sent") → days.
    pub folders: BTreeMap<String, u32>,
    /// Mail and credential of departed staff are removed this many days after departure
    /// (0 = never).
    pub departed_hold_days: u32,
    /// Unreferenced message bodies younger than this are left to a later run.
    pub blob_gc_min_age_secs: u64,
    /// Per-unit overrides by unit abbreviation: `[retention.units.VPUB] trash_days = 90`.
    /// They apply to the unit's mailbox and to the people of the unit.
    pub units: BTreeMap<String, UnitRetention>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct UnitRetention {
    pub junk_days: Option<u32>,
    pub trash_days: Option<u32>,
    pub folders: BTreeMap<String, u32>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            enabled: true,
            interval_minutes: 60,
            junk_days: 30,
            trash_days: 30,
            folders: BTreeMap::new(),
            departed_hold_days: 365,
            blob_gc_min_age_secs: 3600,
            units: BTreeMap::new(),
        }
    }
}

fn folder_match(key: &str) -> FolderMatch {
    if key.starts_with('\\') {
        FolderMatch::SpecialUse(key.to_string())
    } else {
        FolderMatch::Name(key.to_string())
    }
}

fn rules(
    junk: Option<u32>,
    trash: Option<u32>,
    folders: &BTreeMap<String, u32>,
) -> Vec<FolderRule> {
    let mut out = vec![];
    if let Some(days) = junk {
        out.push(FolderRule {
            folder: FolderMatch::SpecialUse("\\Junk".into()),
            days: days as i64,
        });
    }
    if let Some(days) = trash {
        out.push(FolderRule {
            folder: FolderMatch::SpecialUse("\\Trash".into()),
            days: days as i64,
        });
    }
    for (key, days) in folders {
        out.push(FolderRule {
            folder: folder_match(key),
            days: *days as i64,
        });
    }
    out
}

impl RetentionConfig {
    /// One-line problems as (key, message), for the config loader.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.interval_minutes == 0 {
            return Err((
                "retention.interval_minutes".into(),
                "must be at least 1".into(),
            ));
        }
        for key in self.folders.keys() {
            if key.trim().is_empty() {
                return Err(("retention.folders".into(), "empty folder name".into()));
            }
        }
        for (unit, rules) in &self.units {
            if unit.trim().is_empty()
                || !unit
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '@' || c == '.')
            {
                return Err((
                    format!("retention.units.{unit}"),
                    "must be a unit abbreviation, e.g. VPUB".into(),
                ));
            }
            if rules.folders.keys().any(|k| k.trim().is_empty()) {
                return Err((
                    format!("retention.units.{unit}.folders"),
                    "empty folder name".into(),
                ));
            }
        }
        Ok(())
    }

    /// The storage policy these settings describe.
    pub fn policy(&self) -> RetentionPolicy {
        RetentionPolicy {
            rules: rules(Some(self.junk_days), Some(self.trash_days), &self.folders),
            unit_rules: self
                .units
                .iter()
                .map(|(unit, r)| {
                    let abbrev = unit.split('@').next().unwrap_or(unit).to_uppercase();
                    (abbrev, rules(r.junk_days, r.trash_days, &r.folders))
                })
                .collect(),
            departed_hold_days: self.departed_hold_days as i64,
            gc_min_age_secs: self.blob_gc_min_age_secs as i64,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum RetentionCmd {
    /// Apply the retention rules now: expired Junk/Trash (and configured folders), mail of
    /// departed staff after the hold period, unreferenced message bodies.
    Run {
        /// List what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `govmail retention run [--dry-run]`.
pub async fn retention(
    store: &Store,
    config: &RetentionConfig,
    reports: &ReportsConfig,
    json: bool,
    cmd: RetentionCmd,
) -> anyhow::Result<()> {
    let RetentionCmd::Run { dry_run } = cmd;
    let report = store
        .retention(&config.policy(), storage::now(), dry_run)
        .await?;
    print_retention(json, &report, reports.local_offset());
    Ok(())
}

fn print_retention(json: bool, report: &RetentionReport, offset: UtcOffset) {
    if json {
        print_record(true, report);
        return;
    }
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let mut rows: Vec<(String, String, String, u64, i64)> = report
        .expired
        .iter()
        .map(|e| {
            (
                e.address.clone(),
                e.folder.clone(),
                format!("older than {} days", e.days),
                e.messages,
                e.bytes,
            )
        })
        .collect();
    rows.extend(report.departed.iter().map(|d| {
        (
            d.address.clone(),
            "(all folders)".to_string(),
            format!(
                "departed {}{}",
                super::reports::local_date_text(d.departed_at, offset),
                if d.credential_removed {
                    ", credential removed"
                } else {
                    ""
                }
            ),
            d.messages,
            d.bytes,
        )
    }));
    if !rows.is_empty() {
        print_table(
            false,
            &["MAILBOX", "FOLDER", "RULE", "MESSAGES", "SIZE"],
            &rows,
            |r| {
                vec![
                    r.0.clone(),
                    r.1.clone(),
                    r.2.clone(),
                    r.3.to_string(),
                    human_bytes(r.4),
                ]
            },
        );
    }
    crate::outln!(
        "retention: {verb} {} messages ({}) in {} folders, {} departed accounts; {} blobs {}",
        report.messages(),
        human_bytes(report.bytes()),
        report.expired.len(),
        report.departed.len(),
        report.blobs,
        if report.dry_run {
            "collectable now"
        } else if report.gc_postponed {
            "collected (GC postponed: a backup is running)"
        } else {
            "collected"
        }
    );
}

/// The retention task of `govmail serve`: a first run a minute after start, then every
/// `interval_minutes`, until `shutdown` turns true (or its sender is dropped).
pub async fn retention_task(
    store: Store,
    config: RetentionConfig,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    if !config.enabled {
        return;
    }
    let policy = config.policy();
    let period = Duration::from_secs(config.interval_minutes.max(1) * 60);
    let mut next = tokio::time::Instant::now() + Duration::from_secs(60).min(period);
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
                continue;
            }
        }
        // A run stopped half-way is harmless: every step is its own transaction.
        let outcome = tokio::select! {
            outcome = store.retention(&policy, storage::now(), false) => outcome,
            _ = shutdown.changed() => return,
        };
        match outcome {
            Ok(report) => tracing::info!(
                messages = report.messages(),
                bytes = report.bytes(),
                folders = report.expired.len(),
                departed = report.departed.len(),
                blobs = report.blobs,
                gc_postponed = report.gc_postponed,
                "retention run"
            ),
            Err(e) => tracing::warn!(error = %e, "retention run failed; retrying next interval"),
        }
        next = tokio::time::Instant::now() + period;
    }
}

#[derive(Args, Debug)]
#[command(group(
    clap::ArgGroup::new("criteria")
        .required(true)
        .multiple(true)
        .args(["from", "subject", "message_id"])
))]
pub struct PurgeArgs {
    /// Sender address in From/Sender (case-insensitive), or @domain for a whole domain.
    #[arg(long)]
    pub from: Option<String>,
    /// Text the Subject contains (case-insensitive, decoded).
    #[arg(long)]
    pub subject: Option<String>,
    /// The Message-ID, with or without <>.
    #[arg(long)]
    pub message_id: Option<String>,
    /// Only messages received on or after this local date (YYYY-MM-DD) or time (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// List the matches, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The written decision or request number recorded with each removal (KT-5.2).
    #[arg(long = "ref", required_unless_present = "dry_run")]
    pub doc_ref: Option<String>,
}

/// `govmail purge`: finds the matching messages in every mailbox and removes them, one audit
/// event (`purge.message`) per removed message.
pub async fn purge(
    store: &Store,
    reports: &ReportsConfig,
    json: bool,
    args: PurgeArgs,
) -> anyhow::Result<()> {
    let since = match &args.since {
        Some(text) => Some(
            reports
                .parse_time(text)
                .map_err(|m| anyhow::anyhow!("--since: {m}"))?,
        ),
        None => None,
    };
    let criteria = PurgeCriteria {
        from: args.from.clone(),
        subject: args.subject.clone(),
        message_id: args.message_id.clone(),
        since,
    };
    let matches = store.purge_find(&criteria).await?;
    let offset = reports.local_offset();
    if !json || args.dry_run {
        print_table(
            json,
            &["MAILBOX", "FOLDER", "UID", "RECEIVED", "FROM", "SUBJECT"],
            &matches,
            |m| {
                vec![
                    m.address.clone(),
                    m.folder.clone(),
                    m.uid.to_string(),
                    super::reports::local_time_text(m.internal_date, offset),
                    m.from.clone(),
                    m.subject.clone(),
                ]
            },
        );
    }
    let mailboxes = matches
        .iter()
        .map(|m| m.account_id)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    if args.dry_run {
        if !json {
            crate::outln!(
                "purge (dry run): {} messages in {mailboxes} mailboxes would be removed",
                matches.len()
            );
        }
        return Ok(());
    }
    let doc_ref = args.doc_ref.as_deref().unwrap_or("");
    super::require_ref(doc_ref)?;
    let mut bar = ProgressBar::new();
    let removed = store
        .purge_remove(&matches, &criteria, "cli", doc_ref, &mut |p, d, t| {
            bar.update(p, d, t)
        })
        .await?;
    bar.finish();
    if json {
        crate::outln!(
            "{}",
            serde_json::json!({"matched": matches.len(), "removed": removed,
                "mailboxes": mailboxes, "ref": doc_ref, "messages": matches})
        );
    } else {
        crate::outln!(
            "purge: removed {removed} of {} matching messages from {mailboxes} mailboxes (ref {doc_ref}); \
             each removal is in the audit log (govmail events --action purge.)",
            matches.len()
        );
    }
    Ok(())
}
