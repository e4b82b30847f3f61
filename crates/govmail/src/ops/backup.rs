//! `govmail backup --to DIR`, `govmail backup verify DIR`, `govmail restore DIR --to DATA_DIR`
//! (BD-7.7 "lưu trữ", KT-5.1 "lưu trữ dự phòng"). The engine is `storage::ops`.
//!
//! SQLite: a consistent online snapshot (`VACUUM INTO`) plus the blob files it refers to,
//! copied after the snapshot; incremental (files already in DIR with the right size and
//! SHA-256 are kept); `manifest.json` written last.
//!
//! PostgreSQL: `govmail backup` runs `pg_dump --format=custom` (an online, consistent
//! snapshot) into DIR, then copies blob files if `storage.blob_store = "files"` (with the
//! default `database` store every body is inside the dump). `govmail restore` of such a
//! backup restores the blob files and prints the `pg_restore` command for the database. For
//! point-in-time recovery use PostgreSQL's base backups with WAL archiving
//! (`pg_basebackup`); blob files (files store only) must then be copied *after* the base
//! backup starts, which `govmail backup` does when run after it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde::Serialize;
use storage::ops::BackupOptions;
use storage::Store;

use super::{human_bytes, print_record, ProgressBar};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub action: Option<BackupAction>,
    /// Backup directory; created if needed, a previous backup in it is updated
    /// incrementally (only new message bodies are copied).
    #[arg(long, required = true)]
    pub to: Option<PathBuf>,
    /// Trust blob files already in the backup when their size is right (skip re-hashing them).
    #[arg(long)]
    pub quick: bool,
    /// PostgreSQL only: the pg_dump program (same major version as the server, or newer).
    #[arg(long, default_value = "pg_dump")]
    pub pg_dump: String,
}

impl BackupArgs {
    /// `backup verify` needs no database: dispatch it before opening the store.
    pub fn is_verify(&self) -> bool {
        matches!(self.action, Some(BackupAction::Verify { .. }))
    }
}

#[derive(Subcommand, Debug)]
pub enum BackupAction {
    /// Re-hash the database file and every blob of a backup against the manifest; exits
    /// non-zero on any missing or corrupt file.
    Verify { dir: PathBuf },
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// A backup directory made by `govmail backup`.
    pub dir: PathBuf,
    /// The data directory to fill; must be empty or absent (default: server.data_dir).
    #[arg(long)]
    pub to: Option<PathBuf>,
}

#[derive(Serialize)]
struct BackupOut<'a> {
    dir: String,
    backend: &'a str,
    started_at: &'a str,
    database: &'a str,
    database_sha256: &'a str,
    database_size: String,
    messages: i64,
    blobs: usize,
    blobs_copied: u64,
    blobs_kept: u64,
    bytes_copied: String,
    stale_removed: u64,
    /// Key files carried (DKIM keys, the generated TLS pair).
    key_files: Vec<String>,
}

/// `govmail backup --to DIR` (not `verify`: see [`backup_verify`]).
pub async fn backup(
    store: &Store,
    storage_url: &str,
    data_dir: &Path,
    json: bool,
    args: BackupArgs,
) -> anyhow::Result<()> {
    if args.is_verify() {
        return backup_verify(args, json).await;
    }
    let Some(dir) = args.to else {
        bail!("give --to DIR");
    };
    let options = BackupOptions {
        rehash_existing: !args.quick,
        pg_dump: args.pg_dump,
        pg_url: storage_url.to_string(),
        data_dir: Some(data_dir.to_path_buf()),
    };
    let mut bar = ProgressBar::new();
    let summary = store
        .backup(&dir, &options, &mut |p, d, t| bar.update(p, d, t))
        .await
        .with_context(|| format!("backup to {}", dir.display()))?;
    bar.finish();
    let m = &summary.manifest;
    // `govmail doctor` finds the last backup here.
    store
        .log_event(
            "cli",
            storage::Action::BackupDone,
            &summary.dir.display().to_string(),
            "",
            serde_json::json!({"dir": summary.dir.display().to_string(),
                "started_at": m.started_at, "messages": m.messages, "blobs": m.blobs.len(),
                "key_files": m.files.len()}),
        )
        .await
        .context("recording the backup in the audit log")?;
    print_record(
        json,
        &BackupOut {
            dir: summary.dir.display().to_string(),
            backend: &m.backend,
            started_at: &m.started_at_utc,
            database: &m.database.file,
            database_sha256: &m.database.sha256,
            database_size: human_bytes(m.database.size as i64),
            messages: m.messages,
            blobs: m.blobs.len(),
            blobs_copied: summary.blobs_copied,
            blobs_kept: summary.blobs_kept,
            bytes_copied: human_bytes(summary.bytes_copied as i64),
            stale_removed: summary.stale_removed,
            key_files: m.files.iter().map(|f| f.path.clone()).collect(),
        },
    );
    Ok(())
}

/// `govmail backup verify DIR`: errors (exit 1) when anything is missing or corrupt.
pub async fn backup_verify(args: BackupArgs, json: bool) -> anyhow::Result<()> {
    let Some(BackupAction::Verify { dir }) = args.action else {
        bail!("usage: govmail backup verify DIR");
    };
    let manifest = storage::ops::read_manifest(&dir)?;
    let mut bar = ProgressBar::new();
    let report = storage::ops::verify_backup(&dir, &mut |p, d, t| bar.update(p, d, t)).await?;
    bar.finish();
    if json {
        crate::outln!(
            "{}",
            serde_json::json!({"ok": report.is_ok(), "dir": dir.display().to_string(),
                "started_at": manifest.started_at_utc, "report": report})
        );
    } else {
        crate::outln!(
            "backup {} taken {}: database {}, {} of {} blobs ok, {} missing, {} corrupt, \
             {} of {} key files ok{}{}",
            dir.display(),
            manifest.started_at_utc,
            if report.database_ok { "ok" } else { "CORRUPT" },
            report.blobs_ok,
            manifest.blobs.len(),
            report.missing.len(),
            report.corrupt.len(),
            report.files_ok,
            manifest.files.len(),
            if report.unlisted.is_empty() {
                String::new()
            } else {
                format!(", {} referenced but not listed", report.unlisted.len())
            },
            if report.extra > 0 {
                format!(" ({} unlisted files ignored)", report.extra)
            } else {
                String::new()
            }
        );
        if let Some(problem) = &report.database_problem {
            eprintln!("database: {problem}");
        }
        for id in &report.missing {
            eprintln!("missing: blobs/{}/{id}", &id[..2]);
        }
        for id in &report.corrupt {
            eprintln!("corrupt: blobs/{}/{id}", &id[..2]);
        }
        for id in &report.unlisted {
            eprintln!("not in manifest: {id}");
        }
        for path in &report.files_missing {
            eprintln!("missing: files/{path}");
        }
        for path in &report.files_corrupt {
            eprintln!("corrupt: files/{path}");
        }
    }
    if !report.is_ok() {
        bail!(
            "backup verify: {} is damaged ({} missing, {} corrupt{})",
            dir.display(),
            report.missing.len() + report.files_missing.len(),
            report.corrupt.len() + report.files_corrupt.len(),
            if report.database_ok { "" } else { ", database" }
        );
    }
    Ok(())
}

/// `govmail restore DIR [--to DATA_DIR]`: run it with the server stopped, before first start.
pub async fn restore(
    args: RestoreArgs,
    json: bool,
    default_data_dir: &Path,
    storage_url: &str,
) -> anyhow::Result<()> {
    let data_dir = args.to.unwrap_or_else(|| default_data_dir.to_path_buf());
    let mut bar = ProgressBar::new();
    let summary =
        storage::ops::restore_backup(&args.dir, &data_dir, &mut |p, d, t| bar.update(p, d, t))
            .await
            .with_context(|| {
                format!("restore {} into {}", args.dir.display(), data_dir.display())
            })?;
    bar.finish();
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    if let Some(db) = &summary.database {
        crate::outln!("database restored: {}", db.display())
    }
    crate::outln!(
        "{} message bodies restored ({}) under {}",
        summary.blobs,
        human_bytes(summary.bytes as i64),
        data_dir.join("blobs").display()
    );
    crate::outln!(
        "{} key files restored (DKIM keys, TLS pair) under {}",
        summary.files,
        data_dir.display()
    );
    if let Some(hint) = &summary.pg_restore_hint {
        crate::outln!("PostgreSQL backup: restore the database with\n  {hint}");
    }
    if let (Some(db), Some(configured)) = (&summary.database, storage::sqlite_path(storage_url)) {
        if configured != *db {
            crate::outln!(
                "note: storage.url points at {}; start with --set server.data_dir={} \
                 --set storage.url=sqlite://{}",
                configured.display(),
                data_dir.display(),
                db.display()
            );
        }
    }
    Ok(())
}
