//! `govmail import imap|maildir|mbox`: moving mailboxes from an old server (issue 15).
//!
//! - `client`: the small IMAP client (bounded lines, literals read once into their own buffer).
//! - `imap`: one account over IMAP — folders, marks, UID batches, UIDVALIDITY re-scan.
//! - `maildir`, `mbox`: the same from files.
//! - `sink`: the per-folder committer and the in-flight byte budget.
//! - `progress`: the display while running and the verification report.
//!
//! Messages go straight into storage (`Store::import_batch`: durable, no SMTP, no spam or virus
//! filtering, quota checked unless `--ignore-quota`); which folder an old one becomes is
//! `policy::import::FolderMap` (built in, plus `[import] folder_map`).

mod client;
mod imap;
mod maildir;
mod mbox;
mod progress;
mod sink;
mod tls;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use serde::Deserialize;
use storage::{Resolved, Store};

use client::{Login, ServerUrl};
use progress::{AccountReport, Progress};

/// `[import]` in the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImportConfig {
    /// Accounts imported at the same time (`--jobs` overrides).
    pub jobs: usize,
    /// Messages larger than this are skipped and reported (`--max-message-size` overrides).
    pub max_message_size: u64,
    /// Bytes of small messages read ahead of the committer, per account running at once (one
    /// budget for the whole run: this times `jobs`).
    pub inflight_bytes: u64,
    /// Old top-level folder name → our folder, added to the built-in map
    /// (e.g. `"Hộp thư đi" = "Sent"`).
    pub folder_map: BTreeMap<String, String>,
}

impl Default for ImportConfig {
    fn default() -> Self {
        ImportConfig {
            jobs: 2,
            max_message_size: 256 * 1024 * 1024,
            inflight_bytes: 4 * 1024 * 1024,
            folder_map: BTreeMap::new(),
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum ImportCmd {
    /// Every folder of accounts on an old IMAP server (Dovecot, Zimbra, Exchange, ...).
    Imap(ImapArgs),
    /// A Maildir++ tree (Dovecot, Courier) into one account.
    Maildir {
        dir: PathBuf,
        /// The account (its address here).
        #[arg(long)]
        to: String,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// An mbox file (mboxo/mboxrd) into one folder of one account.
    Mbox {
        file: PathBuf,
        #[arg(long)]
        to: String,
        /// The folder (created if missing; `/` between levels), e.g. "Lưu trữ/2019".
        #[arg(long, default_value = "INBOX")]
        folder: String,
        #[command(flatten)]
        common: CommonArgs,
    },
}

#[derive(Args, Debug)]
pub struct CommonArgs {
    /// Store even over the account's quota (usage still counts).
    #[arg(long)]
    ignore_quota: bool,
    /// Skip (and report) messages larger than this many bytes.
    #[arg(long)]
    max_message_size: Option<u64>,
    /// No progress display (the report only).
    #[arg(long)]
    quiet: bool,
}

#[derive(Args, Debug)]
pub struct ImapArgs {
    /// The old server: imaps://HOST[:PORT] (imap:// only to loopback).
    #[arg(long)]
    from: String,
    /// CSV: old login, new address[, old password] (a header line `old_login,...` allowed).
    #[arg(long)]
    accounts: Option<PathBuf>,
    /// One account: OLD_LOGIN=NEW_ADDRESS (repeatable); its password is read from stdin
    /// unless --master is given.
    #[arg(long = "account", value_name = "OLD=NEW")]
    account: Vec<String>,
    /// Log in as each user with master/admin credentials read once from stdin (two lines:
    /// login, password): `dovecot` = Dovecot's `user*master`, `sasl` = SASL PLAIN with the
    /// user as authorization identity (Zimbra admin, Dovecot master passdb).
    #[arg(long, value_parser = ["dovecot", "sasl"])]
    master: Option<String>,
    /// Accept any certificate of the old server (loopback only: tests).
    #[arg(long)]
    insecure_tls: bool,
    /// Accounts at the same time (default `[import] jobs`, 2).
    #[arg(long)]
    jobs: Option<usize>,
    #[command(flatten)]
    common: CommonArgs,
}

/// What every import of one run shares.
#[derive(Debug, Clone)]
pub struct Settings {
    pub url: Option<ServerUrl>,
    /// The old server as marks name it (`imaps://host:port`).
    pub source_url: String,
    pub insecure_tls: bool,
    pub ignore_quota: bool,
    pub max_message_size: u64,
    /// The in-flight byte budget, shared by every account of the run: a message as large as
    /// the budget is read only when no other account has one in flight, so the process holds
    /// one such message at a time however many accounts run at once.
    pub gate: sink::Gate,
    pub folder_map: policy::import::FolderMap,
}

impl Settings {
    fn new(config: &ImportConfig, common: &CommonArgs) -> Settings {
        let extra: Vec<(String, String)> = config
            .folder_map
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Settings {
            url: None,
            source_url: String::new(),
            insecure_tls: false,
            ignore_quota: common.ignore_quota,
            max_message_size: common.max_message_size.unwrap_or(config.max_message_size),
            gate: sink::Gate::new(config.inflight_bytes),
            folder_map: policy::import::FolderMap::new(&extra),
        }
    }
}

pub async fn import(
    store: &Store,
    config: &ImportConfig,
    json: bool,
    cmd: ImportCmd,
) -> anyhow::Result<()> {
    let reports = match cmd {
        ImportCmd::Imap(args) => import_imap(store, config, args).await?,
        ImportCmd::Maildir { dir, to, common } => {
            let settings = Settings::new(config, &common);
            let account_id = account_of(store, &to).await?;
            let progress = Progress::new(common.quiet);
            let (stop, display) = progress.spawn_display();
            let report = maildir::import_tree(
                store,
                &settings,
                &dir,
                account_id,
                &to,
                progress.account(&to),
            )
            .await;
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let _ = display.await;
            vec![report]
        }
        ImportCmd::Mbox {
            file,
            to,
            folder,
            common,
        } => {
            let settings = Settings::new(config, &common);
            let account_id = account_of(store, &to).await?;
            let progress = Progress::new(common.quiet);
            let (stop, display) = progress.spawn_display();
            let report = mbox::import_file(
                store,
                &settings,
                &file,
                &folder,
                account_id,
                &to,
                progress.account(&to),
            )
            .await;
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let _ = display.await;
            vec![report]
        }
    };
    progress::print_report(&reports, json);
    if reports.iter().any(|r| r.error.is_some()) {
        bail!("some accounts were not imported completely (see the report); rerun to continue");
    }
    Ok(())
}

async fn account_of(store: &Store, address: &str) -> anyhow::Result<i64> {
    match store.resolve(address).await? {
        Resolved::Account(account) => Ok(account.account_id),
        _ => bail!("{address} is not an account here (create it first: govmail user add)"),
    }
}

/// Reads up to `n` lines from stdin.
fn stdin_lines(n: usize) -> anyhow::Result<Vec<String>> {
    use std::io::BufRead;
    let mut lines = Vec::new();
    let stdin = std::io::stdin();
    for line in stdin.lock().lines().take(n) {
        lines.push(
            line.context("reading stdin")?
                .trim_end_matches('\r')
                .to_string(),
        );
    }
    Ok(lines)
}

/// One CSV line's fields (commas; fields may be quoted with `"`, `""` inside).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(ch) = chars.next() {
        match (ch, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (',', false) => fields.push(std::mem::take(&mut field).trim().to_string()),
            (ch, _) => field.push(ch),
        }
    }
    fields.push(field.trim().to_string());
    fields
}

/// (old login, new address, old password if given) of every account to import.
fn read_accounts(args: &ImapArgs) -> anyhow::Result<Vec<(String, String, Option<String>)>> {
    let mut rows = Vec::new();
    if let Some(path) = &args.accounts {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let fields = csv_fields(line);
            if i == 0 && fields[0].eq_ignore_ascii_case("old_login") {
                continue;
            }
            if fields.len() < 2 || fields[0].is_empty() || fields[1].is_empty() {
                bail!(
                    "{}:{}: expected old login, new address[, old password]",
                    path.display(),
                    i + 1
                );
            }
            let password = fields.get(2).filter(|p| !p.is_empty()).cloned();
            rows.push((fields[0].clone(), fields[1].clone(), password));
        }
    }
    for pair in &args.account {
        let (old, new) = pair
            .split_once('=')
            .ok_or_else(|| anyhow!("--account {pair}: expected OLD_LOGIN=NEW_ADDRESS"))?;
        rows.push((old.trim().to_string(), new.trim().to_string(), None));
    }
    if rows.is_empty() {
        bail!("nothing to import: give --accounts FILE.csv or --account OLD=NEW");
    }
    Ok(rows)
}

async fn import_imap(
    store: &Store,
    config: &ImportConfig,
    args: ImapArgs,
) -> anyhow::Result<Vec<AccountReport>> {
    let url = ServerUrl::parse(&args.from)?;
    if !url.tls && !url.is_loopback() {
        bail!("plain imap:// only to a loopback address; use imaps://");
    }
    if args.insecure_tls && !url.is_loopback() {
        bail!("--insecure-tls only to a loopback address");
    }
    let rows = read_accounts(&args)?;
    // Credentials from stdin, read once.
    let master = match &args.master {
        Some(style) => {
            let lines = stdin_lines(2)?;
            let [login, password] = lines.as_slice() else {
                bail!("--master: give the master login and password on stdin, one per line");
            };
            Some((style.clone(), login.clone(), password.clone()))
        }
        None => None,
    };
    let shared_password = if master.is_none() && rows.iter().any(|r| r.2.is_none()) {
        let lines = stdin_lines(1)?;
        Some(
            lines
                .into_iter()
                .next()
                .ok_or_else(|| anyhow!("no old password on stdin (or use --master)"))?,
        )
    } else {
        None
    };
    let mut settings = Settings::new(config, &args.common);
    settings.source_url = format!(
        "{}://{}:{}",
        if url.tls { "imaps" } else { "imap" },
        url.host,
        url.port
    );
    settings.url = Some(url);
    settings.insecure_tls = args.insecure_tls;
    let jobs = args.jobs.unwrap_or(config.jobs).clamp(1, 64);
    settings.gate = sink::Gate::new(config.inflight_bytes.saturating_mul(jobs as u64));
    let settings = Arc::new(settings);
    let progress = Progress::new(args.common.quiet);
    let gate = Arc::new(tokio::sync::Semaphore::new(jobs));
    let (stop, display) = progress.spawn_display();
    let mut handles = Vec::new();
    for (old_login, address, password) in rows {
        let login = match (&master, password) {
            (Some((style, admin, master_password)), _) if style == "dovecot" => {
                Login::DovecotMaster {
                    user: old_login.clone(),
                    master: admin.clone(),
                    password: master_password.clone(),
                }
            }
            (Some((_, admin, master_password)), _) => Login::AdminAs {
                user: old_login.clone(),
                admin: admin.clone(),
                password: master_password.clone(),
            },
            (None, Some(password)) => Login::Password {
                user: old_login.clone(),
                password,
            },
            (None, None) => Login::Password {
                user: old_login.clone(),
                password: shared_password.clone().unwrap_or_default(),
            },
        };
        let account_progress = progress.account(&format!("{old_login} -> {address}"));
        let (store, settings, gate) = (store.clone(), settings.clone(), gate.clone());
        handles.push(tokio::spawn(async move {
            let _slot = gate.acquire_owned().await;
            let account_id = match account_of(&store, &address).await {
                Ok(id) => id,
                Err(e) => {
                    account_progress.finish();
                    return AccountReport {
                        source: format!("{} {old_login}", settings.source_url),
                        address,
                        error: Some(format!("{e:#}")),
                        ..AccountReport::default()
                    };
                }
            };
            let job = imap::Job {
                login,
                old_login,
                account_id,
                address,
            };
            imap::import_account(&store, &settings, &job, account_progress).await
        }));
    }
    let mut reports = Vec::new();
    for handle in handles {
        reports.push(handle.await.context("import task")?);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = display.await;
    Ok(reports)
}

/// Our folder of this name, created (with its special-use flag, RFC 6154) if missing.
pub async fn ensure_folder(store: &Store, account_id: i64, name: &str) -> anyhow::Result<i64> {
    match store.folder(account_id, name).await {
        Ok(folder) => Ok(folder.id),
        Err(storage::Error::NotFound(_)) => {
            let special = policy::import::special_use_of(name);
            match store
                .create_folder_with_use(account_id, name, special)
                .await
            {
                Ok(id) => Ok(id),
                // Another job of the same account made it meanwhile.
                Err(storage::Error::AlreadyExists(_)) => {
                    Ok(store.folder(account_id, name).await?.id)
                }
                Err(e) => Err(anyhow!(e).context(format!("creating folder {name}"))),
            }
        }
        Err(e) => Err(anyhow!(e).context(format!("reading folder {name}"))),
    }
}

/// Line ends as CRLF (RFC 5322 2.1: a message on the wire), without copying when they are.
pub fn crlf(raw: Vec<u8>) -> Vec<u8> {
    let bare = raw
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' && (i == 0 || raw[i - 1] != b'\r'))
        .count();
    if bare == 0 {
        return raw;
    }
    let mut out = Vec::with_capacity(raw.len() + bare);
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_crlf() {
        assert_eq!(
            csv_fields("a@x, b@y ,\"p,\"\"w\""),
            vec!["a@x", "b@y", "p,\"w"]
        );
        assert_eq!(crlf(b"a\nb\r\nc\n".to_vec()), b"a\r\nb\r\nc\r\n");
        assert_eq!(crlf(b"a\r\n".to_vec()), b"a\r\n");
    }
}
