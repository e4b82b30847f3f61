//! Reports for the IT centre and the province (KT-11, KT-12): CSV, JSON, or one
//! self-contained HTML page (inline CSS and SVG charts, Vietnamese labels, no external
//! resources) that a non-technical reader can open and print.
//!
//! - `report checks --from DATE --to DATE`: per unit mailbox and working day, whether it was
//!   opened in the morning window and in the afternoon window, and by whom; per person,
//!   whether their mailbox was opened on each working day; unit mail left without `\Seen`
//!   longer than N hours. Openings are the `mailbox.open` audit events (IMAP SELECT/EXAMINE:
//!   actor = who, detail.account_id = whose mailbox).
//! - `report usage --period 2026H1`: per unit, active and using accounts, messages sent and
//!   received (internal/external, from the `mail_flow` counters), storage used, viruses
//!   refused, spam refused and filed into Junk; province totals.
//!
//! Dates are local (`reports.utc_offset`); working days, hours, check windows and holidays
//! come from `[reports]`.

use crate::text::{csv_field, escape_html as esc};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};
use storage::ops::OpsAccount;
use storage::Store;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset, Weekday};

// ====================================================================== configuration

/// `[reports]` in govmail.toml.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    /// Local time as an offset from UTC, "+07:00" (Vietnam). Also the day boundary of the
    /// message counters.
    pub utc_offset: String,
    /// Working weekdays: "mon" .. "sun".
    pub working_days: Vec<String>,
    /// Office hours, "HH:MM-HH:MM" spans; the unread clock counts only these.
    pub working_hours: Vec<String>,
    /// A unit mailbox counts as checked in the morning when opened in this span.
    pub morning_window: String,
    /// ... and in the afternoon when opened in this one.
    pub afternoon_window: String,
    /// Days off: "YYYY-MM-DD", a range "YYYY-MM-DD..YYYY-MM-DD", or "MM-DD" every year.
    pub holidays: Vec<String>,
    /// Make-up working days on a weekend ("YYYY-MM-DD").
    pub extra_working_days: Vec<String>,
    /// Unit mail unread for longer than this many hours is listed.
    pub unread_hours: f64,
    /// How those hours are counted: "working" (office hours of working days) or "calendar".
    pub unread_clock: String,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            utc_offset: "+07:00".into(),
            working_days: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
            working_hours: vec!["07:30-11:30".into(), "13:30-17:00".into()],
            morning_window: "06:00-12:00".into(),
            afternoon_window: "12:00-18:00".into(),
            holidays: ["01-01", "04-30", "05-01", "09-02"]
                .map(String::from)
                .to_vec(),
            extra_working_days: vec![],
            unread_hours: 8.0,
            unread_clock: "working".into(),
        }
    }
}

impl ReportsConfig {
    /// One-line problems as (key, message), for the config loader.
    pub fn validate(&self) -> Result<(), (String, String)> {
        Calendar::new(self).map(|_| ())
    }

    /// Seconds east of UTC (for `storage::ops::set_local_offset`).
    pub fn offset_seconds(&self) -> i32 {
        parse_offset(&self.utc_offset)
            .map(|o| o.whole_seconds())
            .unwrap_or(7 * 3600)
    }

    /// A local date (start of the day) or an RFC 3339 time, as Unix seconds.
    pub fn parse_time(&self, text: &str) -> Result<i64, String> {
        let calendar = Calendar::new(self).map_err(|(_, m)| m)?;
        if let Ok(t) = OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339) {
            return Ok(t.unix_timestamp());
        }
        if let Ok(secs) = text.parse::<i64>() {
            return Ok(secs);
        }
        parse_date(text)
            .map(|d| calendar.day_start(d))
            .ok_or_else(|| format!("{text:?} is not YYYY-MM-DD or an RFC 3339 time"))
    }
}

fn parse_offset(text: &str) -> Option<UtcOffset> {
    let text = text.trim();
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
    if !(0..=14).contains(&h) || !(0..60).contains(&m) {
        return None;
    }
    UtcOffset::from_hms(sign * h, sign * m, 0).ok()
}

pub(crate) fn parse_date(text: &str) -> Option<Date> {
    let mut parts = text.trim().splitn(3, '-');
    let y: i32 = parts.next()?.parse().ok()?;
    let m: u8 = parts.next()?.parse().ok()?;
    let d: u8 = parts.next()?.parse().ok()?;
    Date::from_calendar_date(y, Month::try_from(m).ok()?, d).ok()
}

/// "HH:MM-HH:MM" → minutes from midnight (end may be 24:00).
fn parse_span(text: &str) -> Option<(u32, u32)> {
    let (a, b) = text.trim().split_once('-')?;
    let minutes = |t: &str| -> Option<u32> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
    };
    let (a, b) = (minutes(a)?, minutes(b)?);
    (a < b).then_some((a, b))
}

/// Working days, hours, windows and holidays, resolved.
#[derive(Debug, Clone)]
pub struct Calendar {
    pub offset: UtcOffset,
    weekdays: [bool; 7],
    holidays: BTreeSet<Date>,
    yearly: BTreeSet<(u8, u8)>,
    extra: BTreeSet<Date>,
    pub hours: Vec<(u32, u32)>,
    pub morning: (u32, u32),
    pub afternoon: (u32, u32),
    pub unread_hours: f64,
    pub working_clock: bool,
}

impl Calendar {
    pub fn new(c: &ReportsConfig) -> Result<Calendar, (String, String)> {
        let bad = |key: &str, message: String| (format!("reports.{key}"), message);
        let offset = parse_offset(&c.utc_offset).ok_or_else(|| {
            bad(
                "utc_offset",
                format!("{:?}: write e.g. \"+07:00\"", c.utc_offset),
            )
        })?;
        let mut weekdays = [false; 7];
        for (i, day) in c.working_days.iter().enumerate() {
            let n = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
                .iter()
                .position(|d| d.eq_ignore_ascii_case(day.trim()))
                .ok_or_else(|| {
                    bad(
                        &format!("working_days[{i}]"),
                        format!("{day:?}: use mon..sun"),
                    )
                })?;
            weekdays[n] = true;
        }
        let mut hours = vec![];
        for (i, span) in c.working_hours.iter().enumerate() {
            hours.push(parse_span(span).ok_or_else(|| {
                bad(
                    &format!("working_hours[{i}]"),
                    format!("{span:?}: write \"07:30-11:30\""),
                )
            })?);
        }
        hours.sort_unstable();
        let morning = parse_span(&c.morning_window).ok_or_else(|| {
            bad(
                "morning_window",
                format!("{:?}: write \"06:00-12:00\"", c.morning_window),
            )
        })?;
        let afternoon = parse_span(&c.afternoon_window).ok_or_else(|| {
            bad(
                "afternoon_window",
                format!("{:?}: write \"12:00-18:00\"", c.afternoon_window),
            )
        })?;
        let mut holidays = BTreeSet::new();
        let mut yearly = BTreeSet::new();
        for (i, text) in c.holidays.iter().enumerate() {
            let key = format!("holidays[{i}]");
            let text = text.trim();
            if let Some((a, b)) = text.split_once("..") {
                let (a, b) = (parse_date(a), parse_date(b));
                let (Some(mut day), Some(end)) = (a, b) else {
                    return Err(bad(&key, format!("{text:?}: write YYYY-MM-DD..YYYY-MM-DD")));
                };
                if end < day || (end - day).whole_days() > 366 {
                    return Err(bad(
                        &key,
                        format!("{text:?}: the range is reversed or too long"),
                    ));
                }
                while day <= end {
                    holidays.insert(day);
                    day = day.next_day().expect("in range");
                }
            } else if let Some(day) = parse_date(text) {
                holidays.insert(day);
            } else if let Some((m, d)) = text.split_once('-') {
                let (m, d): (u8, u8) = match (m.parse(), d.parse()) {
                    (Ok(m), Ok(d)) if (1..=12).contains(&m) && (1..=31).contains(&d) => (m, d),
                    _ => return Err(bad(&key, format!("{text:?}: write YYYY-MM-DD or MM-DD"))),
                };
                yearly.insert((m, d));
            } else {
                return Err(bad(&key, format!("{text:?}: write YYYY-MM-DD or MM-DD")));
            }
        }
        let mut extra = BTreeSet::new();
        for (i, text) in c.extra_working_days.iter().enumerate() {
            extra.insert(parse_date(text).ok_or_else(|| {
                bad(
                    &format!("extra_working_days[{i}]"),
                    format!("{text:?}: write YYYY-MM-DD"),
                )
            })?);
        }
        if !(c.unread_hours >= 0.0 && c.unread_hours.is_finite()) {
            return Err(bad("unread_hours", "must be 0 or more".into()));
        }
        let working_clock = match c.unread_clock.as_str() {
            "working" => true,
            "calendar" => false,
            other => {
                return Err(bad(
                    "unread_clock",
                    format!("{other:?}: \"working\" or \"calendar\""),
                ))
            }
        };
        Ok(Calendar {
            offset,
            weekdays,
            holidays,
            yearly,
            extra,
            hours,
            morning,
            afternoon,
            unread_hours: c.unread_hours,
            working_clock,
        })
    }

    pub fn is_holiday(&self, day: Date) -> bool {
        self.holidays.contains(&day) || self.yearly.contains(&(u8::from(day.month()), day.day()))
    }

    pub fn is_working_day(&self, day: Date) -> bool {
        let weekday = day.weekday().number_days_from_monday() as usize;
        (self.weekdays[weekday] || self.extra.contains(&day)) && !self.is_holiday(day)
    }

    /// Unix time of local midnight starting `day`.
    pub fn day_start(&self, day: Date) -> i64 {
        PrimitiveDateTime::new(day, Time::MIDNIGHT)
            .assume_offset(self.offset)
            .unix_timestamp()
    }

    pub fn local_date(&self, at: i64) -> Date {
        OffsetDateTime::from_unix_timestamp(at)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
            .to_offset(self.offset)
            .date()
    }

    pub fn working_days(&self, from: Date, to: Date) -> Vec<Date> {
        let mut out = vec![];
        let mut day = from;
        while day <= to {
            if self.is_working_day(day) {
                out.push(day);
            }
            match day.next_day() {
                Some(next) => day = next,
                None => break,
            }
        }
        out
    }

    /// Seconds between `a` and `b` that fall in office hours of working days.
    pub fn working_seconds(&self, a: i64, b: i64) -> i64 {
        if b <= a {
            return 0;
        }
        let mut total = 0;
        let mut day = self.local_date(a);
        let last = self.local_date(b);
        while day <= last {
            if self.is_working_day(day) {
                let start = self.day_start(day);
                for &(s, e) in &self.hours {
                    let (s, e) = (start + s as i64 * 60, start + e as i64 * 60);
                    total += (e.min(b) - s.max(a)).max(0);
                }
            }
            match day.next_day() {
                Some(next) => day = next,
                None => break,
            }
        }
        total
    }

    fn unread_age(&self, received: i64, now: i64) -> i64 {
        if self.working_clock {
            self.working_seconds(received, now)
        } else {
            (now - received).max(0)
        }
    }
}

fn span_text((a, b): (u32, u32)) -> String {
    format!("{:02}:{:02}-{:02}:{:02}", a / 60, a % 60, b / 60, b % 60)
}

fn date_iso(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn date_vn(d: Date) -> String {
    format!("{:02}/{:02}/{:04}", d.day(), u8::from(d.month()), d.year())
}

fn weekday_vn(d: Date) -> &'static str {
    match d.weekday() {
        Weekday::Monday => "Thứ Hai",
        Weekday::Tuesday => "Thứ Ba",
        Weekday::Wednesday => "Thứ Tư",
        Weekday::Thursday => "Thứ Năm",
        Weekday::Friday => "Thứ Sáu",
        Weekday::Saturday => "Thứ Bảy",
        Weekday::Sunday => "Chủ Nhật",
    }
}

fn global_offset() -> UtcOffset {
    UtcOffset::from_whole_seconds(storage::ops::local_offset()).unwrap_or(UtcOffset::UTC)
}

/// dd/mm/yyyy in local time (the offset the binary set in storage::ops).
pub(crate) fn local_date_text(at: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(at)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(global_offset());
    date_vn(t.date())
}

/// dd/mm/yyyy HH:MM in local time.
pub(crate) fn local_time_text(at: i64) -> String {
    local_time_with(at, global_offset())
}

fn local_time_with(at: i64, offset: UtcOffset) -> String {
    let t = OffsetDateTime::from_unix_timestamp(at)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(offset);
    format!("{} {:02}:{:02}", date_vn(t.date()), t.hour(), t.minute())
}

// ====================================================================== CLI

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
        None => print!("{text}"),
    }
    Ok(())
}

// ====================================================================== checks (KT-11)

#[derive(Debug, Clone, Serialize)]
pub struct ChecksReport {
    pub from: String,
    pub to: String,
    pub generated_at: String,
    pub utc_offset: String,
    pub morning_window: String,
    pub afternoon_window: String,
    pub working_days: Vec<String>,
    pub units: Vec<UnitChecks>,
    pub persons: Vec<PersonChecks>,
    pub unread_hours: f64,
    /// "working" or "calendar".
    pub unread_clock: String,
    pub unread: Vec<UnreadRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnitChecks {
    pub unit: String,
    pub name: String,
    pub address: String,
    pub days: Vec<UnitDay>,
    pub mornings_checked: usize,
    pub afternoons_checked: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnitDay {
    pub date: String,
    /// Who opened the mailbox in the morning window (empty: not checked).
    pub morning: Vec<String>,
    pub afternoon: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PersonChecks {
    pub address: String,
    pub name: String,
    pub unit: String,
    pub days: Vec<PersonDay>,
    /// Working days on which the account existed and had not departed.
    pub working_days: usize,
    pub opened_days: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct PersonDay {
    pub date: String,
    pub opened: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnreadRow {
    pub unit: String,
    pub address: String,
    pub folder: String,
    pub uid: i64,
    pub received_at: String,
    pub unread_hours: f64,
    pub from: String,
    pub subject: String,
}

/// One opening of a mailbox.
struct Open {
    at: i64,
    actor: String,
}

fn in_window(calendar: &Calendar, day: Date, window: (u32, u32), at: i64) -> bool {
    let start = calendar.day_start(day);
    at >= start + window.0 as i64 * 60 && at < start + window.1 as i64 * 60
}

pub async fn checks_report(
    store: &Store,
    calendar: &Calendar,
    from: Date,
    to: Date,
    only_unit: Option<&str>,
    now: i64,
) -> anyhow::Result<ChecksReport> {
    let only_unit = only_unit.map(|u| u.trim().to_uppercase());
    let days = calendar.working_days(from, to);
    let start = calendar.day_start(from);
    let end = calendar.day_start(to.next_day().context("--to is too far")?);
    let mut opens: HashMap<i64, Vec<Open>> = HashMap::new();
    for event in store
        .events_between(storage::Action::MailboxOpen, start, end)
        .await?
    {
        if let Some(owner) = event.detail.get("account_id").and_then(|v| v.as_i64()) {
            opens.entry(owner).or_default().push(Open {
                at: event.at,
                actor: event.actor.clone(),
            });
        }
    }
    let accounts = store.ops_accounts().await?;
    let wanted = |a: &OpsAccount| match &only_unit {
        Some(u) => a
            .unit_abbrev
            .as_deref()
            .is_some_and(|x| x.eq_ignore_ascii_case(u)),
        None => true,
    };
    let mut units = vec![];
    let mut unread = vec![];
    for account in accounts.iter().filter(|a| a.kind == "unit" && wanted(a)) {
        let list = opens
            .get(&account.account_id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let who = |day: Date, window: (u32, u32)| -> Vec<String> {
            let mut seen = vec![];
            for open in list
                .iter()
                .filter(|o| in_window(calendar, day, window, o.at))
            {
                if !seen.contains(&open.actor) {
                    seen.push(open.actor.clone());
                }
            }
            seen
        };
        let unit_days: Vec<UnitDay> = days
            .iter()
            .map(|&day| UnitDay {
                date: date_iso(day),
                morning: who(day, calendar.morning),
                afternoon: who(day, calendar.afternoon),
            })
            .collect();
        let unit = account.unit_abbrev.clone().unwrap_or_default();
        units.push(UnitChecks {
            mornings_checked: unit_days.iter().filter(|d| !d.morning.is_empty()).count(),
            afternoons_checked: unit_days.iter().filter(|d| !d.afternoon.is_empty()).count(),
            unit: unit.clone(),
            name: account
                .unit_name
                .clone()
                .unwrap_or_else(|| account.display_name.clone()),
            address: account.address.clone(),
            days: unit_days,
        });
        for message in store
            .unread_messages(account.account_id, start, end)
            .await?
        {
            let age = calendar.unread_age(message.internal_date, now);
            if age as f64 > calendar.unread_hours * 3600.0 {
                unread.push(UnreadRow {
                    unit: unit.clone(),
                    address: account.address.clone(),
                    folder: message.folder,
                    uid: message.uid,
                    received_at: local_time_with(message.internal_date, calendar.offset),
                    unread_hours: (age as f64 / 360.0).round() / 10.0,
                    from: message.from,
                    subject: message.subject,
                });
            }
        }
    }
    units.sort_by(|a, b| a.unit.cmp(&b.unit).then(a.address.cmp(&b.address)));
    let mut persons = vec![];
    for account in accounts
        .iter()
        .filter(|a| a.kind == "person" && a.status != "disabled" && wanted(a))
    {
        let list = opens
            .get(&account.account_id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let mut person_days = vec![];
        for &day in &days {
            let (day_start, day_end) = (calendar.day_start(day), calendar.day_start(day) + 86_400);
            let existed =
                account.created_at < day_end && account.departed_at.is_none_or(|d| d > day_start);
            if !existed {
                continue;
            }
            person_days.push(PersonDay {
                date: date_iso(day),
                opened: list.iter().any(|o| o.at >= day_start && o.at < day_end),
            });
        }
        if person_days.is_empty() {
            continue;
        }
        persons.push(PersonChecks {
            address: account.address.clone(),
            name: account.display_name.clone(),
            unit: account.unit_abbrev.clone().unwrap_or_default(),
            working_days: person_days.len(),
            opened_days: person_days.iter().filter(|d| d.opened).count(),
            days: person_days,
        });
    }
    persons.sort_by(|a, b| a.unit.cmp(&b.unit).then(a.address.cmp(&b.address)));
    Ok(ChecksReport {
        from: date_iso(from),
        to: date_iso(to),
        generated_at: local_time_with(now, calendar.offset),
        utc_offset: calendar.offset.to_string(),
        morning_window: span_text(calendar.morning),
        afternoon_window: span_text(calendar.afternoon),
        working_days: days.iter().map(|d| date_iso(*d)).collect(),
        units,
        persons,
        unread_hours: calendar.unread_hours,
        unread_clock: if calendar.working_clock {
            "working"
        } else {
            "calendar"
        }
        .into(),
        unread,
    })
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "có"
    } else {
        "không"
    }
}

fn csv_line(out: &mut String, fields: &[String]) {
    let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
    out.push_str(&line.join(","));
    out.push_str("\r\n");
}

pub fn checks_csv(report: &ChecksReport, only: Option<ChecksSection>) -> String {
    let mut out = String::new();
    let all = only.is_none();
    let s = |x: &str| x.to_string();
    if all || only == Some(ChecksSection::Units) {
        if all {
            csv_line(
                &mut out,
                &[s("# Hộp thư đơn vị: kiểm tra buổi sáng và buổi chiều")],
            );
        }
        csv_line(
            &mut out,
            &[
                "Đơn vị",
                "Hộp thư",
                "Ngày",
                "Sáng",
                "Người mở (sáng)",
                "Chiều",
                "Người mở (chiều)",
            ]
            .map(s),
        );
        for unit in &report.units {
            for day in &unit.days {
                csv_line(
                    &mut out,
                    &[
                        unit.unit.clone(),
                        unit.address.clone(),
                        day.date.clone(),
                        s(yes_no(!day.morning.is_empty())),
                        day.morning.join(" "),
                        s(yes_no(!day.afternoon.is_empty())),
                        day.afternoon.join(" "),
                    ],
                );
            }
        }
    }
    if all || only == Some(ChecksSection::Persons) {
        if all {
            out.push_str("\r\n");
            csv_line(&mut out, &[s("# Hộp thư cá nhân: mở trong ngày làm việc")]);
        }
        csv_line(
            &mut out,
            &["Đơn vị", "Hộp thư", "Họ và tên", "Ngày", "Đã mở"].map(s),
        );
        for person in &report.persons {
            for day in &person.days {
                csv_line(
                    &mut out,
                    &[
                        person.unit.clone(),
                        person.address.clone(),
                        person.name.clone(),
                        day.date.clone(),
                        s(yes_no(day.opened)),
                    ],
                );
            }
        }
    }
    if all || only == Some(ChecksSection::Unread) {
        if all {
            out.push_str("\r\n");
            csv_line(
                &mut out,
                &[format!(
                    "# Thư đơn vị chưa đọc quá {} giờ",
                    report.unread_hours
                )],
            );
        }
        csv_line(
            &mut out,
            &[
                "Đơn vị",
                "Hộp thư",
                "Thư mục",
                "UID",
                "Thời điểm nhận",
                "Số giờ chưa đọc",
                "Người gửi",
                "Tiêu đề",
            ]
            .map(s),
        );
        for row in &report.unread {
            csv_line(
                &mut out,
                &[
                    row.unit.clone(),
                    row.address.clone(),
                    row.folder.clone(),
                    row.uid.to_string(),
                    row.received_at.clone(),
                    format!("{:.1}", row.unread_hours),
                    row.from.clone(),
                    row.subject.clone(),
                ],
            );
        }
    }
    out
}

// ====================================================================== usage (KT-12)

/// A reporting period.
#[derive(Debug, Clone)]
pub struct Period {
    pub from: Date,
    pub to: Date,
    /// In Vietnamese, e.g. "6 tháng đầu năm 2026".
    pub label: String,
}

impl Period {
    pub fn parse(text: &str) -> Option<Period> {
        let text = text.trim();
        let date =
            |y: i32, m: u8, d: u8| Date::from_calendar_date(y, Month::try_from(m).ok()?, d).ok();
        let month_end = |y: i32, m: u8| -> Option<Date> {
            let first_next = if m == 12 {
                date(y + 1, 1, 1)?
            } else {
                date(y, m + 1, 1)?
            };
            first_next.previous_day()
        };
        if let Some((a, b)) = text.split_once("..") {
            let (from, to) = (parse_date(a)?, parse_date(b)?);
            return (from <= to).then(|| Period {
                from,
                to,
                label: format!("Từ ngày {} đến ngày {}", date_vn(from), date_vn(to)),
            });
        }
        let upper = text.to_uppercase();
        if let Some((y, h)) = upper.split_once('H') {
            let y: i32 = y.parse().ok()?;
            return match h {
                "1" => Some(Period {
                    from: date(y, 1, 1)?,
                    to: date(y, 6, 30)?,
                    label: format!("6 tháng đầu năm {y}"),
                }),
                "2" => Some(Period {
                    from: date(y, 7, 1)?,
                    to: date(y, 12, 31)?,
                    label: format!("6 tháng cuối năm {y}"),
                }),
                _ => None,
            };
        }
        if let Some((y, q)) = upper.split_once('Q') {
            let y: i32 = y.parse().ok()?;
            let q: u8 = q.parse().ok()?;
            if !(1..=4).contains(&q) {
                return None;
            }
            let roman = ["I", "II", "III", "IV"][q as usize - 1];
            return Some(Period {
                from: date(y, 3 * q - 2, 1)?,
                to: month_end(y, 3 * q)?,
                label: format!("Quý {roman} năm {y}"),
            });
        }
        if let Some((y, m)) = text.split_once('-') {
            let (y, m): (i32, u8) = (y.parse().ok()?, m.parse().ok()?);
            return Some(Period {
                from: date(y, m, 1)?,
                to: month_end(y, m)?,
                label: format!("Tháng {m} năm {y}"),
            });
        }
        let y: i32 = text.parse().ok()?;
        Some(Period {
            from: date(y, 1, 1)?,
            to: date(y, 12, 31)?,
            label: format!("Năm {y}"),
        })
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct UsageRow {
    /// Unit abbreviation ("" for people without a unit and for the province total).
    pub unit: String,
    pub name: String,
    /// Personal accounts in service during the period (created before its end, not departed
    /// before its start, not disabled).
    pub accounts_active: u64,
    /// Of those, accounts whose owner opened their mailbox at least once in the period.
    pub accounts_used: u64,
    pub sent_internal: i64,
    pub sent_external: i64,
    pub received_internal: i64,
    pub received_external: i64,
    /// Bytes in the mailboxes (people and the unit mailbox) when the report was made.
    pub storage_bytes: i64,
    pub viruses_refused: i64,
    pub spam_refused: i64,
    pub spam_junked: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct UsageReport {
    pub period: String,
    pub label: String,
    pub from: String,
    pub to: String,
    pub generated_at: String,
    pub units: Vec<UsageRow>,
    /// People in no unit (omitted when empty).
    pub no_unit: Option<UsageRow>,
    pub total: UsageRow,
}

pub async fn usage_report(
    store: &Store,
    calendar: &Calendar,
    period: &Period,
    now: i64,
) -> anyhow::Result<UsageReport> {
    let start = calendar.day_start(period.from);
    let end = calendar.day_start(period.to.next_day().context("period too far")?);
    let ymd =
        |d: Date| d.year() as i64 * 10_000 + u8::from(d.month()) as i64 * 100 + d.day() as i64;
    let accounts = store.ops_accounts().await?;
    let unit_of: HashMap<i64, String> = accounts
        .iter()
        .map(|a| (a.account_id, a.unit_abbrev.clone().unwrap_or_default()))
        .collect();
    let mut rows: BTreeMap<String, UsageRow> = BTreeMap::new();
    for a in accounts.iter().filter(|a| a.kind == "unit") {
        let abbrev = a.unit_abbrev.clone().unwrap_or_default();
        rows.insert(
            abbrev.clone(),
            UsageRow {
                unit: abbrev,
                name: a
                    .unit_name
                    .clone()
                    .unwrap_or_else(|| a.display_name.clone()),
                ..Default::default()
            },
        );
    }
    let mut no_unit = UsageRow {
        name: "Không thuộc đơn vị".into(),
        ..Default::default()
    };
    let mut total = UsageRow {
        name: "Toàn tỉnh".into(),
        ..Default::default()
    };
    // Accounts, use and storage.
    let mut used_accounts = BTreeSet::new();
    for event in store
        .events_between(storage::Action::MailboxOpen, start, end)
        .await?
    {
        if let Some(owner) = event.detail.get("account_id").and_then(|v| v.as_i64()) {
            used_accounts.insert(owner);
        }
    }
    for a in &accounts {
        let row = row_for(&mut rows, &mut no_unit, &unit_of[&a.account_id]);
        row.storage_bytes += a.used_bytes;
        total.storage_bytes += a.used_bytes;
        if a.kind == "person"
            && a.status != "disabled"
            && a.created_at < end
            && a.departed_at.is_none_or(|d| d >= start)
        {
            row.accounts_active += 1;
            total.accounts_active += 1;
            if used_accounts.contains(&a.account_id) {
                row.accounts_used += 1;
                total.accounts_used += 1;
            }
        }
    }
    // Message counters.
    for flow in store.mail_flow(ymd(period.from), ymd(period.to)).await? {
        let unit = unit_of.get(&flow.account_id).cloned().unwrap_or_default();
        for row in [row_for(&mut rows, &mut no_unit, &unit), &mut total] {
            match flow.kind.as_str() {
                "sent_internal" => row.sent_internal += flow.messages,
                "sent_external" => row.sent_external += flow.messages,
                "received_internal" => row.received_internal += flow.messages,
                "received_external" => row.received_external += flow.messages,
                "received_junk" => row.spam_junked += flow.messages,
                _ => {}
            }
        }
    }
    // Refusals, counted once per unit concerned (recipients' units and, for mail our own
    // users tried to send, the sender's) and once in the total.
    let owners = store.address_owners().await?;
    for (action, virus) in [
        (storage::Action::VirusRefused, true),
        (storage::Action::SpamRejected, false),
    ] {
        for event in store.events_between(action, start, end).await? {
            let mut units = BTreeSet::new();
            let mut addresses: Vec<String> = event
                .detail
                .get("recipients")
                .and_then(|r| r.as_array())
                .map(|list| {
                    list.iter()
                        .filter_map(|v| v.as_str().map(str::to_lowercase))
                        .collect()
                })
                .unwrap_or_default();
            addresses.push(event.target.to_lowercase());
            for address in addresses {
                if let Some(unit) = owners.get(&address).and_then(|id| unit_of.get(id)) {
                    units.insert(unit.clone());
                }
            }
            for unit in units {
                let row = row_for(&mut rows, &mut no_unit, &unit);
                if virus {
                    row.viruses_refused += 1
                } else {
                    row.spam_refused += 1
                }
            }
            if virus {
                total.viruses_refused += 1
            } else {
                total.spam_refused += 1
            }
        }
    }
    let has_no_unit = no_unit.accounts_active > 0
        || no_unit.storage_bytes > 0
        || no_unit.sent_internal
            + no_unit.sent_external
            + no_unit.received_internal
            + no_unit.received_external
            > 0
        || no_unit.viruses_refused + no_unit.spam_refused + no_unit.spam_junked > 0;
    Ok(UsageReport {
        period: period_key(period),
        label: period.label.clone(),
        from: date_iso(period.from),
        to: date_iso(period.to),
        generated_at: local_time_with(now, calendar.offset),
        units: rows.into_values().collect(),
        no_unit: has_no_unit.then_some(no_unit),
        total,
    })
}

/// The row of a unit ("" = no unit), created on first use.
fn row_for<'a>(
    rows: &'a mut BTreeMap<String, UsageRow>,
    no_unit: &'a mut UsageRow,
    unit: &str,
) -> &'a mut UsageRow {
    if unit.is_empty() {
        return no_unit;
    }
    rows.entry(unit.to_string()).or_insert_with(|| UsageRow {
        unit: unit.to_string(),
        name: unit.to_string(),
        ..Default::default()
    })
}

fn period_key(period: &Period) -> String {
    format!("{}..{}", date_iso(period.from), date_iso(period.to))
}

pub fn usage_csv(report: &UsageReport) -> String {
    let mut out = String::new();
    csv_line(
        &mut out,
        &[
            "Đơn vị",
            "Tên đơn vị",
            "Tài khoản đang hoạt động",
            "Tài khoản có sử dụng",
            "Thư gửi nội bộ",
            "Thư gửi ra ngoài",
            "Thư nhận nội bộ",
            "Thư nhận từ bên ngoài",
            "Dung lượng sử dụng (byte)",
            "Thư nhiễm virus bị chặn",
            "Thư rác bị từ chối",
            "Thư rác chuyển vào Junk",
        ]
        .map(String::from),
    );
    let row_fields = |r: &UsageRow| {
        vec![
            r.unit.clone(),
            r.name.clone(),
            r.accounts_active.to_string(),
            r.accounts_used.to_string(),
            r.sent_internal.to_string(),
            r.sent_external.to_string(),
            r.received_internal.to_string(),
            r.received_external.to_string(),
            r.storage_bytes.to_string(),
            r.viruses_refused.to_string(),
            r.spam_refused.to_string(),
            r.spam_junked.to_string(),
        ]
    };
    for row in report
        .units
        .iter()
        .chain(report.no_unit.iter())
        .chain([&report.total])
    {
        csv_line(&mut out, &row_fields(row));
    }
    out
}

// ====================================================================== HTML

/// 12345 → "12.345" (Vietnamese grouping).
pub fn vn_int(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// Bytes as "1.234,5 MB".
pub fn vn_mb(bytes: i64) -> String {
    let tenths = (bytes as f64 / 1024.0 / 1024.0 * 10.0).round() as i64;
    format!("{},{} MB", vn_int(tenths / 10), (tenths % 10).abs())
}

const PAGE_STYLE: &str = "body{font-family:'Times New Roman',Times,serif;margin:24px;color:#1a1a1a}\
h1{font-size:22px;text-align:center;margin-bottom:4px}h2{font-size:17px;margin-top:28px}\
.sub{text-align:center;color:#444;margin-top:0}table{border-collapse:collapse;margin:8px 0;font-size:13px}\
th,td{border:1px solid #999;padding:3px 6px;text-align:left;vertical-align:top}th{background:#e8eef7}\
td.n{text-align:right}td.ok{background:#dff0d8}td.no{background:#f8d7da}tr.total td{font-weight:bold;background:#f2f2f2}\
.small{font-size:11px;color:#555}.cards{display:flex;flex-wrap:wrap;gap:12px}\
.card{border:1px solid #bbb;border-radius:6px;padding:8px 14px;min-width:150px}.card b{font-size:20px;display:block}\
@media print{body{margin:8mm}h2{page-break-after:avoid}}";

fn page(title: &str, subtitle: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"vi\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{PAGE_STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n\
         <p class=\"sub\">{}</p>\n{body}</body>\n</html>\n",
        esc(title),
        esc(title),
        esc(subtitle)
    )
}

/// A horizontal grouped bar chart as inline SVG.
pub fn bar_chart(
    title: &str,
    series: &[(&str, &str)],
    rows: &[(String, Vec<f64>)],
    value_text: &dyn Fn(f64) -> String,
    fixed_max: Option<f64>,
) -> String {
    let label_w = 230.0;
    let chart_w = 430.0;
    let value_w = 90.0;
    let bar_h = 12.0;
    let gap = 8.0;
    let legend_h = 22.0;
    let group_h = bar_h * series.len() as f64 + gap;
    let height = legend_h + group_h * rows.len().max(1) as f64 + 6.0;
    let width = label_w + chart_w + value_w;
    let max = fixed_max
        .unwrap_or_else(|| {
            rows.iter()
                .flat_map(|(_, v)| v.iter().copied())
                .fold(0.0, f64::max)
        })
        .max(f64::MIN_POSITIVE);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<figure><figcaption><b>{}</b></figcaption>\n<svg xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
         aria-label=\"{}\" font-family=\"Arial, sans-serif\" font-size=\"11\">\n",
        esc(title),
        esc(title)
    );
    let mut x = label_w;
    for (name, color) in series {
        let _ = writeln!(
            svg,
            "<rect x=\"{x}\" y=\"4\" width=\"12\" height=\"12\" fill=\"{color}\"/>\
             <text x=\"{}\" y=\"14\">{}</text>",
            x + 16.0,
            esc(name)
        );
        x += 24.0 + name.chars().count() as f64 * 6.5;
    }
    for (i, (label, values)) in rows.iter().enumerate() {
        let y0 = legend_h + i as f64 * group_h;
        let shown: String = if label.chars().count() > 38 {
            label.chars().take(36).collect::<String>() + "…"
        } else {
            label.clone()
        };
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            label_w - 6.0,
            y0 + group_h / 2.0,
            esc(&shown)
        );
        for (j, value) in values.iter().enumerate() {
            let w = (value / max * chart_w).max(0.0);
            let y = y0 + j as f64 * bar_h;
            let color = series.get(j).map(|s| s.1).unwrap_or("#888");
            let _ = writeln!(
                svg,
                "<rect x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{color}\">\
                 <title>{}: {}</title></rect><text x=\"{:.1}\" y=\"{}\">{}</text>",
                bar_h - 1.0,
                esc(label),
                esc(&value_text(*value)),
                label_w + w + 4.0,
                y + bar_h - 2.0,
                esc(&value_text(*value))
            );
        }
    }
    let _ = write!(
        svg,
        "<line x1=\"{label_w}\" y1=\"{legend_h}\" x2=\"{label_w}\" y2=\"{height}\" stroke=\"#333\"/>\n</svg></figure>\n"
    );
    svg
}

fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / whole as f64).round() / 10.0
    }
}

pub fn checks_html(report: &ChecksReport) -> String {
    let from = parse_date(&report.from).map(date_vn).unwrap_or_default();
    let to = parse_date(&report.to).map(date_vn).unwrap_or_default();
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<p>Số ngày làm việc trong kỳ: <b>{}</b>. Buổi sáng: mở hộp thư trong khoảng {}; buổi chiều: {} \
         (giờ địa phương, UTC{}). Lập lúc {}.</p>",
        report.working_days.len(),
        esc(&report.morning_window),
        esc(&report.afternoon_window),
        esc(&report.utc_offset),
        esc(&report.generated_at)
    );
    let n_days = report.working_days.len();
    body.push_str("<h2>1. Hộp thư đơn vị</h2>\n");
    let chart_rows: Vec<(String, Vec<f64>)> = report
        .units
        .iter()
        .map(|u| {
            (
                format!("{} ({})", u.name, u.unit),
                vec![
                    percent(u.mornings_checked, n_days),
                    percent(u.afternoons_checked, n_days),
                ],
            )
        })
        .collect();
    body.push_str(&bar_chart(
        "Tỷ lệ buổi làm việc có kiểm tra hộp thư đơn vị (%)",
        &[("Buổi sáng", "#2e75b6"), ("Buổi chiều", "#f4b183")],
        &chart_rows,
        &|v| format!("{}%", v.to_string().replace('.', ",")),
        Some(100.0),
    ));
    body.push_str("<table>\n<tr><th>Đơn vị</th><th>Sáng</th><th>Chiều</th>");
    for day in &report.working_days {
        if let Some(d) = parse_date(day) {
            let _ = write!(
                body,
                "<th>{}<br><span class=\"small\">{}</span></th>",
                weekday_vn(d),
                date_vn(d)
            );
        }
    }
    body.push_str("</tr>\n");
    for unit in &report.units {
        let _ = write!(
            body,
            "<tr><td>{}<br><span class=\"small\">{}</span></td><td class=\"n\">{}/{}</td><td class=\"n\">{}/{}</td>",
            esc(&unit.name),
            esc(&unit.address),
            unit.mornings_checked,
            n_days,
            unit.afternoons_checked,
            n_days
        );
        for day in &unit.days {
            let cell = |who: &Vec<String>, label: &str| {
                if who.is_empty() {
                    format!("{label}: không")
                } else {
                    format!(
                        "{label}: có <span class=\"small\">({})</span>",
                        esc(&who.join(", "))
                    )
                }
            };
            let class = match (day.morning.is_empty(), day.afternoon.is_empty()) {
                (false, false) => "ok",
                (true, true) => "no",
                _ => "",
            };
            let _ = write!(
                body,
                "<td class=\"{class}\">{}<br>{}</td>",
                cell(&day.morning, "S"),
                cell(&day.afternoon, "C")
            );
        }
        body.push_str("</tr>\n");
    }
    body.push_str("</table>\n<h2>2. Hộp thư cá nhân</h2>\n<table>\n<tr><th>Đơn vị</th><th>Họ và tên</th><th>Hộp thư</th>\
                   <th>Số ngày làm việc</th><th>Số ngày đã mở</th><th>Tỷ lệ</th><th>Những ngày không mở</th></tr>\n");
    for p in &report.persons {
        let missed: Vec<String> = p
            .days
            .iter()
            .filter(|d| !d.opened)
            .filter_map(|d| parse_date(&d.date).map(date_vn))
            .collect();
        let _ =
            writeln!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n {}\">{}%</td><td class=\"small\">{}</td></tr>",
            esc(&p.unit),
            esc(&p.name),
            esc(&p.address),
            p.working_days,
            p.opened_days,
            if p.opened_days == p.working_days { "ok" } else { "no" },
            percent(p.opened_days, p.working_days).to_string().replace('.', ","),
            esc(&missed.join(", "))
        );
    }
    let _ = write!(
        body,
        "</table>\n<h2>3. Thư đến hộp thư đơn vị chưa được đọc quá {} giờ{}</h2>\n",
        report.unread_hours.to_string().replace('.', ","),
        if report.unread_clock == "working" {
            " làm việc"
        } else {
            ""
        }
    );
    if report.unread.is_empty() {
        body.push_str("<p>Không có.</p>\n");
    } else {
        body.push_str(
            "<table>\n<tr><th>Đơn vị</th><th>Thư mục</th><th>Thời điểm nhận</th><th>Số giờ</th>\
                       <th>Người gửi</th><th>Tiêu đề</th></tr>\n",
        );
        for row in &report.unread {
            let _ = writeln!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(&row.unit),
                esc(&row.folder),
                esc(&row.received_at),
                row.unread_hours.to_string().replace('.', ","),
                esc(&row.from),
                esc(&row.subject)
            );
        }
        body.push_str("</table>\n");
    }
    page(
        "Báo cáo kiểm tra hộp thư điện tử",
        &format!("Từ ngày {from} đến ngày {to}"),
        &body,
    )
}

pub fn usage_html(report: &UsageReport) -> String {
    let t = &report.total;
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<div class=\"cards\">\
         <div class=\"card\">Tài khoản đang hoạt động<b>{}</b></div>\
         <div class=\"card\">Thư đã gửi<b>{}</b></div>\
         <div class=\"card\">Thư đã nhận<b>{}</b></div>\
         <div class=\"card\">Dung lượng sử dụng<b>{}</b></div>\
         <div class=\"card\">Thư nhiễm virus bị chặn<b>{}</b></div>\
         <div class=\"card\">Thư rác bị chặn hoặc chuyển vào Junk<b>{}</b></div></div>",
        vn_int(t.accounts_active as i64),
        vn_int(t.sent_internal + t.sent_external),
        vn_int(t.received_internal + t.received_external),
        vn_mb(t.storage_bytes),
        vn_int(t.viruses_refused),
        vn_int(t.spam_refused + t.spam_junked),
    );
    let rows: Vec<&UsageRow> = report.units.iter().chain(report.no_unit.iter()).collect();
    let label = |r: &UsageRow| {
        if r.unit.is_empty() {
            r.name.clone()
        } else {
            format!("{} ({})", r.name, r.unit)
        }
    };
    body.push_str("<h2>1. Thư gửi và nhận theo đơn vị</h2>\n");
    body.push_str(&bar_chart(
        "Số thư gửi và nhận",
        &[
            ("Gửi nội bộ", "#2e75b6"),
            ("Gửi ra ngoài", "#9dc3e6"),
            ("Nhận nội bộ", "#548235"),
            ("Nhận từ bên ngoài", "#a9d18e"),
        ],
        &rows
            .iter()
            .map(|r| {
                (
                    label(r),
                    vec![
                        r.sent_internal as f64,
                        r.sent_external as f64,
                        r.received_internal as f64,
                        r.received_external as f64,
                    ],
                )
            })
            .collect::<Vec<_>>(),
        &|v| vn_int(v as i64),
        None,
    ));
    body.push_str("<h2>2. Dung lượng hộp thư theo đơn vị</h2>\n");
    body.push_str(&bar_chart(
        "Dung lượng sử dụng (MB)",
        &[("Dung lượng", "#7f6000")],
        &rows
            .iter()
            .map(|r| (label(r), vec![r.storage_bytes as f64]))
            .collect::<Vec<_>>(),
        &|v| vn_mb(v as i64),
        None,
    ));
    body.push_str("<h2>3. Thư nhiễm virus và thư rác bị ngăn chặn</h2>\n");
    body.push_str(&bar_chart(
        "Số thư bị ngăn chặn",
        &[
            ("Nhiễm virus", "#c00000"),
            ("Thư rác bị từ chối", "#ed7d31"),
            ("Thư rác vào Junk", "#ffc000"),
        ],
        &rows
            .iter()
            .map(|r| {
                (
                    label(r),
                    vec![
                        r.viruses_refused as f64,
                        r.spam_refused as f64,
                        r.spam_junked as f64,
                    ],
                )
            })
            .collect::<Vec<_>>(),
        &|v| vn_int(v as i64),
        None,
    ));
    body.push_str(
        "<h2>4. Số liệu chi tiết</h2>\n<table>\n<tr><th>Đơn vị</th><th>Tài khoản đang hoạt động</th>\
         <th>Tài khoản có sử dụng</th><th>Thư gửi nội bộ</th><th>Thư gửi ra ngoài</th><th>Thư nhận nội bộ</th>\
         <th>Thư nhận từ bên ngoài</th><th>Dung lượng</th><th>Thư nhiễm virus bị chặn</th>\
         <th>Thư rác bị từ chối</th><th>Thư rác vào Junk</th></tr>\n",
    );
    for (r, class) in rows
        .iter()
        .map(|r| (*r, ""))
        .chain([(t, " class=\"total\"")])
    {
        let _ = writeln!(
            body,
            "<tr{class}><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&label(r)),
            vn_int(r.accounts_active as i64),
            vn_int(r.accounts_used as i64),
            vn_int(r.sent_internal),
            vn_int(r.sent_external),
            vn_int(r.received_internal),
            vn_int(r.received_external),
            vn_mb(r.storage_bytes),
            vn_int(r.viruses_refused),
            vn_int(r.spam_refused),
            vn_int(r.spam_junked),
        );
    }
    body.push_str("</table>\n");
    let _ = writeln!(
        body,
        "<p class=\"small\">Tài khoản đang hoạt động: tài khoản cá nhân được cấp trước khi kết thúc kỳ, chưa nghỉ việc \
         trước khi bắt đầu kỳ và không bị khoá. Tài khoản có sử dụng: chủ tài khoản đã mở hộp thư ít nhất một lần \
         trong kỳ. Thư gửi ra ngoài: thư có ít nhất một người nhận ngoài hệ thống. Dung lượng tính tại thời điểm lập \
         báo cáo ({}). Một thư bị chặn được tính cho mỗi đơn vị có người nhận (hoặc người gửi) liên quan và một lần \
         trong tổng toàn tỉnh.</p>",
        esc(&report.generated_at)
    );
    page(
        "Báo cáo tình hình sử dụng hệ thống thư điện tử",
        &format!(
            "{} (từ ngày {} đến ngày {})",
            report.label,
            parse_date(&report.from).map(date_vn).unwrap_or_default(),
            parse_date(&report.to).map(date_vn).unwrap_or_default()
        ),
        &body,
    )
}
