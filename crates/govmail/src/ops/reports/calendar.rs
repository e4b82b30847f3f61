//! `[reports]` and the calendar it resolves to: local time (`reports.utc_offset`), working
//! days and hours, check windows, holidays; and the text of local dates and times.

use std::collections::BTreeSet;

use serde::Deserialize;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset, Weekday};

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

    /// Local time: `utc_offset` (+07:00 when it does not parse; `validate` refuses that).
    pub fn local_offset(&self) -> UtcOffset {
        parse_offset(&self.utc_offset)
            .unwrap_or_else(|| UtcOffset::from_whole_seconds(7 * 3600).expect("in range"))
    }

    /// Seconds east of UTC (for `storage::StoreOptions::utc_offset_secs`).
    pub fn offset_seconds(&self) -> i32 {
        self.local_offset().whole_seconds()
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

    pub(super) fn unread_age(&self, received: i64, now: i64) -> i64 {
        if self.working_clock {
            self.working_seconds(received, now)
        } else {
            (now - received).max(0)
        }
    }
}

pub(super) fn span_text((a, b): (u32, u32)) -> String {
    format!("{:02}:{:02}-{:02}:{:02}", a / 60, a % 60, b / 60, b % 60)
}

pub(super) fn date_iso(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

pub(super) fn date_vn(d: Date) -> String {
    format!("{:02}/{:02}/{:04}", d.day(), u8::from(d.month()), d.year())
}

pub(super) fn weekday_vn(d: Date) -> &'static str {
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

/// dd/mm/yyyy in local time.
pub(crate) fn local_date_text(at: i64, offset: UtcOffset) -> String {
    let t = OffsetDateTime::from_unix_timestamp(at)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(offset);
    date_vn(t.date())
}

/// dd/mm/yyyy HH:MM in local time.
pub(crate) fn local_time_text(at: i64, offset: UtcOffset) -> String {
    let t = OffsetDateTime::from_unix_timestamp(at)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(offset);
    format!("{} {:02}:{:02}", date_vn(t.date()), t.hour(), t.minute())
}
