//! `govmail report checks|usage`: arguments, the choice of format, and where the text goes.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use storage::Store;

use super::calendar::{parse_date, Calendar, ReportsConfig};
use super::checks::{checks_csv, checks_html, checks_report};
use super::usage::{usage_csv, usage_html, usage_report, Period};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Csv,
    Html,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChecksSection {
    Units,
    Persons,
    Unread,
}

#[derive(Subcommand, Debug)]
pub enum ReportCmd {
    /// KT-11: were unit mailboxes checked every working morning and afternoon (and by whom),
    /// did each person open their mailbox every working day, which unit mail is unread.
    Checks(ChecksArgs),
    /// KT-12: per unit and for the province, accounts, mail sent and received, storage,
    /// viruses and spam stopped, for a period such as 2026H1.
    Usage(UsageArgs),
}

#[derive(Args, Debug)]
pub struct ChecksArgs {
    /// First day (YYYY-MM-DD, local).
    #[arg(long)]
    pub from: String,
    /// Last day, included.
    #[arg(long)]
    pub to: String,
    /// csv (default; json with --json), html or json.
    #[arg(long, value_enum)]
    pub format: Option<ReportFormat>,
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Only this unit (abbreviation): its mailbox and its people.
    #[arg(long)]
    pub unit: Option<String>,
    /// Override reports.unread_hours.
    #[arg(long)]
    pub unread_hours: Option<f64>,
    /// CSV: only one table (units, persons or unread); default all three, one after another.
    #[arg(long, value_enum)]
    pub only: Option<ChecksSection>,
    /// The report's "now" (RFC 3339 or YYYY-MM-DD), for reproducing a report.
    #[arg(long, hide = true)]
    pub now: Option<String>,
}

#[derive(Args, Debug)]
pub struct UsageArgs {
    /// 2026H1, 2026H2, 2026Q3, 2026, 2026-03, or YYYY-MM-DD..YYYY-MM-DD.
    #[arg(long)]
    pub period: String,
    #[arg(long, value_enum)]
    pub format: Option<ReportFormat>,
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, hide = true)]
    pub now: Option<String>,
}

/// `govmail report checks|usage`.
pub async fn report(
    store: &Store,
    config: &ReportsConfig,
    json: bool,
    cmd: ReportCmd,
) -> anyhow::Result<()> {
    let calendar = Calendar::new(config).map_err(|(k, m)| anyhow::anyhow!("config: {k}: {m}"))?;
    let now_of = |text: &Option<String>| -> anyhow::Result<i64> {
        match text {
            Some(t) => config
                .parse_time(t)
                .map_err(|m| anyhow::anyhow!("--now: {m}")),
            None => Ok(storage::now()),
        }
    };
    let (text, format, out) = match cmd {
        ReportCmd::Checks(args) => {
            let from = parse_date(&args.from)
                .with_context(|| format!("--from {:?}: write YYYY-MM-DD", args.from))?;
            let to = parse_date(&args.to)
                .with_context(|| format!("--to {:?}: write YYYY-MM-DD", args.to))?;
            if to < from {
                bail!("--to is before --from");
            }
            let mut calendar = calendar;
            if let Some(hours) = args.unread_hours {
                // NaN is refused too.
                if hours.is_nan() || hours < 0.0 {
                    bail!("--unread-hours must be 0 or more");
                }
                calendar.unread_hours = hours;
            }
            let now = now_of(&args.now)?;
            let report =
                checks_report(store, &calendar, from, to, args.unit.as_deref(), now).await?;
            let format = args.format.unwrap_or(if json {
                ReportFormat::Json
            } else {
                ReportFormat::Csv
            });
            let text = match format {
                ReportFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
                ReportFormat::Csv => checks_csv(&report, args.only),
                ReportFormat::Html => checks_html(&report),
            };
            (text, format, args.out)
        }
        ReportCmd::Usage(args) => {
            let period = Period::parse(&args.period).with_context(|| {
                format!(
                    "--period {:?}: write 2026H1, 2026Q2, 2026, 2026-03 or YYYY-MM-DD..YYYY-MM-DD",
                    args.period
                )
            })?;
            let now = now_of(&args.now)?;
            let report = usage_report(store, &calendar, &period, now).await?;
            let format = args.format.unwrap_or(if json {
                ReportFormat::Json
            } else {
                ReportFormat::Csv
            });
            let text = match format {
                ReportFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
                ReportFormat::Csv => usage_csv(&report),
                ReportFormat::Html => usage_html(&report),
            };
            (text, format, args.out)
        }
    };
    match out {
        Some(path) => {
            // A BOM lets spreadsheet programs read the Vietnamese in a CSV file as UTF-8.
            let mut bytes = Vec::new();
            if format == ReportFormat::Csv {
                bytes.extend_from_slice("\u{feff}".as_bytes());
            }
            bytes.extend_from_slice(text.as_bytes());
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("report written to {}", path.display());
        }
        None => crate::out!("{text}"),
    }
    Ok(())
}
