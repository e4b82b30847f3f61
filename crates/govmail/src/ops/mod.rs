//! Operations (issue 7, BD-7.5, BD-7.7, KT-5.1, KT-11, KT-12): compliance and usage reports,
//! retention and the admin purge, backup/verify/restore, and mailbox export.
//!
//! - [`reports`]: `govmail report checks|usage` (CSV, JSON, or a self-contained HTML page).
//! - [`retention`]: `govmail retention run`, the scheduled task in `serve`, `govmail purge`.
//! - [`backup`]: `govmail backup`, `govmail backup verify`, `govmail restore`.
//! - [`export`]: `govmail export ADDRESS --format mbox|maildir`.
//! - [`index`]: `govmail index rebuild`.
//!
//! Every SQL statement is in `storage::ops`; this module is CLI, configuration, calendars and
//! file formats. It uses nothing else of the binary, so the tests include it directly.

pub mod backup;
pub mod export;
pub mod index;
pub mod reports;
pub mod retention;

use std::io::IsTerminal;
use std::time::{Duration, Instant};

pub use backup::{backup, backup_verify, restore, BackupArgs, RestoreArgs};
pub use export::{export, ExportArgs};
pub use index::{index, settle_task, IndexCmd};
pub use reports::{report, ReportCmd, ReportsConfig};
pub use retention::{purge, retention, retention_task, PurgeArgs, RetentionCmd, RetentionConfig};

/// A progress bar on stderr (`\r[#####     ] n/N`), drawn only when stderr is a terminal or
/// `GOVMAIL_PROGRESS=1`, at most ten times a second.
pub struct ProgressBar {
    enabled: bool,
    last: Option<Instant>,
    phase: String,
    open: bool,
}

impl Default for ProgressBar {
    fn default() -> Self {
        Self::new()
    }
}

impl ProgressBar {
    pub fn new() -> ProgressBar {
        ProgressBar {
            enabled: std::io::stderr().is_terminal()
                || std::env::var("GOVMAIL_PROGRESS").as_deref() == Ok("1"),
            last: None,
            phase: String::new(),
            open: false,
        }
    }

    /// Draws `phase [####    ] done/total`.
    pub fn update(&mut self, phase: &str, done: u64, total: u64) {
        if !self.enabled {
            return;
        }
        use std::io::Write;
        let finished = done >= total;
        let changed_phase = phase != self.phase;
        if !finished
            && !changed_phase
            && self
                .last
                .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
        {
            return;
        }
        if changed_phase && self.open {
            eprintln!();
        }
        self.phase = phase.to_string();
        self.last = Some(Instant::now());
        const WIDTH: u64 = 30;
        let filled = (done.min(total) * WIDTH)
            .checked_div(total)
            .unwrap_or(WIDTH);
        let bar = format!(
            "{}{}",
            "#".repeat(filled as usize),
            " ".repeat((WIDTH - filled) as usize)
        );
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{phase:<9} [{bar}] {done}/{total}");
        let _ = err.flush();
        self.open = true;
        if finished {
            let _ = writeln!(err);
            self.open = false;
        }
    }

    /// Ends the current line if a bar is drawn.
    pub fn finish(&mut self) {
        if self.open {
            eprintln!();
            self.open = false;
        }
    }
}

/// Lifecycle and purge commands name the written decision or request (KT-5.2).
pub(crate) fn require_ref(doc_ref: &str) -> anyhow::Result<()> {
    if doc_ref.trim().is_empty() {
        anyhow::bail!("--ref needs the decision or request number (KT-5.2)");
    }
    Ok(())
}

/// Prints rows as an aligned table (or, with `json`, the serialised values).
pub(crate) fn print_table<T: serde::Serialize>(
    json: bool,
    headers: &[&str],
    rows: &[T],
    cells: impl Fn(&T) -> Vec<String>,
) {
    if json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(rows).expect("serialisable")
        );
        return;
    }
    let data: Vec<Vec<String>> = rows.iter().map(cells).collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &data {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c}{}", " ".repeat(widths[i] - c.chars().count())))
            .collect();
        crate::outln!("{}", padded.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    for row in data {
        line(row);
    }
}

/// Prints one record as `key: value` lines (or a JSON object).
pub(crate) fn print_record<T: serde::Serialize>(json: bool, value: &T) {
    if json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(value).expect("serialisable")
        );
        return;
    }
    if let serde_json::Value::Object(map) = serde_json::to_value(value).expect("serialisable") {
        for (key, value) in map {
            let text = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => "-".into(),
                other => other.to_string(),
            };
            crate::outln!("{key}: {text}");
        }
    }
}

/// Bytes for people: "1.5 MiB".
pub(crate) fn human_bytes(bytes: i64) -> String {
    let b = bytes as f64;
    if bytes.abs() < 1024 {
        format!("{bytes} B")
    } else if b.abs() < 1024.0 * 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else if b.abs() < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    } else {
        format!("{:.2} GiB", b / 1024.0 / 1024.0 / 1024.0)
    }
}
