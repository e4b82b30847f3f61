//! Progress while importing (stderr: one line per account and one overall — messages, bytes,
//! rate, ETA — redrawn every second on a terminal, plain lines every 10 s otherwise) and the
//! verification report at the end (stdout: a table, or `--json`).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Counters of one account, shared by its reader, its committers and the display.
#[derive(Debug)]
pub struct AccountProgress {
    pub label: String,
    total_messages: AtomicU64,
    total_bytes: AtomicU64,
    done_messages: AtomicU64,
    done_bytes: AtomicU64,
    started: AtomicBool,
    finished: AtomicBool,
}

impl AccountProgress {
    pub fn add_total(&self, messages: u64, bytes: u64) {
        self.started.store(true, Ordering::Relaxed);
        self.total_messages.fetch_add(messages, Ordering::Relaxed);
        self.total_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn add_done(&self, messages: u64, bytes: u64) {
        self.done_messages.fetch_add(messages, Ordering::Relaxed);
        self.done_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn finish(&self) {
        self.finished.store(true, Ordering::Relaxed);
    }

    fn snapshot(&self) -> (u64, u64, u64, u64) {
        (
            self.done_messages.load(Ordering::Relaxed),
            self.total_messages.load(Ordering::Relaxed),
            self.done_bytes.load(Ordering::Relaxed),
            self.total_bytes.load(Ordering::Relaxed),
        )
    }
}

/// Every account's counters and the display task.
pub struct Progress {
    accounts: Mutex<Vec<Arc<AccountProgress>>>,
    started: Instant,
    quiet: bool,
}

impl Progress {
    /// `quiet`: no display (the report alone).
    pub fn new(quiet: bool) -> Arc<Progress> {
        Arc::new(Progress {
            accounts: Mutex::new(Vec::new()),
            started: Instant::now(),
            quiet,
        })
    }

    pub fn account(&self, label: &str) -> Arc<AccountProgress> {
        let account = Arc::new(AccountProgress {
            label: label.to_string(),
            total_messages: AtomicU64::new(0),
            total_bytes: AtomicU64::new(0),
            done_messages: AtomicU64::new(0),
            done_bytes: AtomicU64::new(0),
            started: AtomicBool::new(false),
            finished: AtomicBool::new(false),
        });
        if let Ok(mut accounts) = self.accounts.lock() {
            accounts.push(account.clone());
        }
        account
    }

    /// Draws until `done` is set; then the last state once.
    pub fn spawn_display(self: &Arc<Self>) -> (Arc<AtomicBool>, tokio::task::JoinHandle<()>) {
        let done = Arc::new(AtomicBool::new(false));
        let (progress, stop) = (self.clone(), done.clone());
        let handle = tokio::spawn(async move {
            if progress.quiet {
                return;
            }
            let tty = std::io::stderr().is_terminal();
            let period = if tty {
                Duration::from_secs(1)
            } else {
                Duration::from_secs(10)
            };
            let mut drawn_lines = 0usize;
            loop {
                let finished = stop.load(Ordering::Relaxed);
                if !finished {
                    tokio::time::sleep(period).await;
                }
                let lines = progress.lines(tty || finished);
                let mut err = std::io::stderr().lock();
                if tty && drawn_lines > 0 {
                    // Cursor up over the previous drawing, then clear to the end of the screen.
                    let _ = write!(err, "\x1b[{drawn_lines}F\x1b[J");
                }
                for line in &lines {
                    let _ = writeln!(err, "{line}");
                }
                drawn_lines = lines.len();
                if finished || stop.load(Ordering::Relaxed) && !tty {
                    break;
                }
            }
        });
        (done, handle)
    }

    /// One line per account (all of them, or only those under way) and the overall line.
    fn lines(&self, all: bool) -> Vec<String> {
        let accounts = self.accounts.lock().map(|a| a.clone()).unwrap_or_default();
        let elapsed = self.started.elapsed().as_secs_f64().max(0.001);
        let mut lines = Vec::new();
        let (mut dm, mut tm, mut db, mut tb) = (0, 0, 0, 0);
        for account in &accounts {
            let (done_m, total_m, done_b, total_b) = account.snapshot();
            dm += done_m;
            tm += total_m;
            db += done_b;
            tb += total_b;
            let under_way = account.started.load(Ordering::Relaxed)
                && !account.finished.load(Ordering::Relaxed);
            if all || under_way {
                let state = if account.finished.load(Ordering::Relaxed) {
                    "done"
                } else if under_way {
                    "importing"
                } else {
                    "waiting"
                };
                lines.push(format!(
                    "{:<32} {:>8}/{:<8} msgs {:>10}/{:<10} {state}",
                    account.label,
                    done_m,
                    total_m,
                    human_bytes(done_b),
                    human_bytes(total_b)
                ));
            }
        }
        let rate = db as f64 / elapsed;
        let eta = if rate > 0.0 && tb > db {
            format!("ETA {}s", ((tb - db) as f64 / rate).ceil() as u64)
        } else {
            "ETA -".to_string()
        };
        lines.push(format!(
            "overall: {dm}/{tm} messages, {}/{}, {:.0} msg/s, {}/s, {eta}",
            human_bytes(db),
            human_bytes(tb),
            dm as f64 / elapsed,
            human_bytes(rate as u64)
        ));
        lines
    }
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A message not imported, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// Old UID, file name or mbox byte offset.
    pub what: String,
    pub size: u64,
    pub reason: String,
}

/// One old folder: what the old side had, what was stored this run, what the new folder holds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FolderReport {
    pub old_folder: String,
    pub new_folder: String,
    pub old_messages: u64,
    pub old_bytes: u64,
    /// Stored by this run.
    pub imported: u64,
    pub imported_bytes: u64,
    pub new_messages: u64,
    pub new_bytes: u64,
    pub skipped: Vec<Skipped>,
    /// The new folder holds exactly what the old one has, less what was skipped.
    pub verified: bool,
}

impl FolderReport {
    pub fn verify(&mut self) {
        let skipped_bytes: u64 = self.skipped.iter().map(|s| s.size).sum();
        self.verified = self.new_messages + self.skipped.len() as u64 == self.old_messages
            && self.new_bytes + skipped_bytes == self.old_bytes;
    }
}

/// One account of the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AccountReport {
    pub source: String,
    pub address: String,
    pub folders: Vec<FolderReport>,
    /// Why the account stopped early, if it did.
    pub error: Option<String>,
}

/// Prints the report: a table (one line per folder) or JSON.
pub fn print_report(reports: &[AccountReport], json: bool) {
    if json {
        crate::outln!(
            "{}",
            serde_json::json!({
                "ok": reports.iter().all(|r| r.error.is_none()),
                "accounts": reports,
            })
        );
        return;
    }
    for report in reports {
        crate::outln!("{} -> {}", report.source, report.address);
        crate::outln!(
            "  {:<28} {:<28} {:>8} {:>12} {:>8} {:>12} {:>8}  check",
            "old folder",
            "new folder",
            "old msgs",
            "old bytes",
            "new msgs",
            "new bytes",
            "this run"
        );
        for folder in &report.folders {
            crate::outln!(
                "  {:<28} {:<28} {:>8} {:>12} {:>8} {:>12} {:>8}  {}",
                folder.old_folder,
                folder.new_folder,
                folder.old_messages,
                folder.old_bytes,
                folder.new_messages,
                folder.new_bytes,
                folder.imported,
                if folder.verified { "ok" } else { "DIFFERS" }
            );
            for skipped in &folder.skipped {
                crate::outln!(
                    "    skipped {} ({} bytes): {}",
                    skipped.what,
                    skipped.size,
                    skipped.reason
                );
            }
        }
        if let Some(error) = &report.error {
            crate::outln!("  STOPPED: {error}");
        }
    }
}
