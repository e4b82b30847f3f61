//! KT-12, the usage report: per unit, active and using accounts, messages sent and received
//! (internal/external, from the `mail_flow` counters), storage used, viruses refused, spam
//! refused and filed into Junk; province totals. As data (JSON), CSV and HTML.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use anyhow::Context;
use serde::Serialize;
use storage::Store;
use time::{Date, Month};

use super::calendar::{date_iso, date_vn, local_time_text, parse_date, Calendar};
use super::render::{bar_chart, csv_line, esc, page, vn_int, vn_mb};

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
        generated_at: local_time_text(now, calendar.offset),
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
