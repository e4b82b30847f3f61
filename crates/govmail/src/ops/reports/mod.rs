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
//!
//! - [`calendar`]: `[reports]`, the resolved [`Calendar`], local dates and times as text.
//! - [`render`]: CSV lines, Vietnamese numbers, the HTML page and its SVG bar charts.
//! - [`checks`]: the KT-11 report (query, CSV, HTML).
//! - [`usage`]: the KT-12 report (periods, query, CSV, HTML).
//! - [`cli`]: the `govmail report` arguments and output.

pub mod calendar;
pub mod checks;
pub mod cli;
pub mod render;
pub mod usage;

// One flat path per item (`ops::reports::checks_report`): the binary uses a few of them, the
// tests the rest (`tests/ops.rs` includes `ops/` as a module of its own).
pub use calendar::ReportsConfig;
pub(crate) use calendar::{local_date_text, local_time_text};
pub use cli::{report, ReportCmd};

#[allow(unused_imports)]
pub(crate) use calendar::parse_date;
#[allow(unused_imports)]
pub use calendar::Calendar;
#[allow(unused_imports)]
pub use checks::{
    checks_csv, checks_html, checks_report, ChecksReport, PersonChecks, PersonDay, UnitChecks,
    UnitDay, UnreadRow,
};
#[allow(unused_imports)]
pub use cli::{ChecksArgs, ChecksSection, ReportFormat, UsageArgs};
#[allow(unused_imports)]
pub use render::{bar_chart, vn_int, vn_mb};
#[allow(unused_imports)]
pub use usage::{usage_csv, usage_html, usage_report, Period, UsageReport, UsageRow};
