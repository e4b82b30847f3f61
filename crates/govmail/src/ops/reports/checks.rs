//! KT-11, the checks report: per unit mailbox and working day, whether it was opened in the
//! morning and in the afternoon window, and by whom; per person, whether their mailbox was
//! opened on each working day; unit mail left unread too long. As data (JSON), CSV and HTML.

use std::collections::HashMap;
use std::fmt::Write as _;

use anyhow::Context;
use serde::Serialize;
use storage::ops::OpsAccount;
use storage::Store;
use time::Date;

use super::calendar::{
    date_iso, date_vn, local_time_text, parse_date, span_text, weekday_vn, Calendar,
};
use super::cli::ChecksSection;
use super::render::{bar_chart, csv_line, esc, page};

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
                    received_at: local_time_text(message.internal_date, calendar.offset),
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
        generated_at: local_time_text(now, calendar.offset),
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
