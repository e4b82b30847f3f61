//! Checking and restoring a backup: `backup verify` re-hashes every file, `restore` copies a
//! backup into an empty data directory.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::backup_dir::{
    blob_files_in, blob_rel_path, copy_hashed, copy_hashed_mode, fsync_dir, hash_file,
    open_sqlite_file, read_manifest, snapshot_contents, Manifest, KEY_FILES_DIR,
};
use super::{blocking, Progress};
use crate::{Error, Result};

/// What `backup verify` found.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct VerifyReport {
    pub database_ok: bool,
    pub database_problem: Option<String>,
    pub blobs_ok: u64,
    /// Blob files listed in the manifest but absent.
    pub missing: Vec<String>,
    /// Blob files whose size or SHA-256 does not match their name.
    pub corrupt: Vec<String>,
    /// Blobs the database refers to that the manifest does not list (SQLite backups).
    pub unlisted: Vec<String>,
    /// Files in the blob directory the manifest does not list (harmless).
    pub extra: u64,
    /// Key files (DKIM keys, the TLS pair) whose SHA-256 matches the manifest.
    pub files_ok: u64,
    /// Key files listed in the manifest but absent.
    pub files_missing: Vec<String>,
    /// Key files whose size or SHA-256 does not match the manifest.
    pub files_corrupt: Vec<String>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.database_ok
            && self.missing.is_empty()
            && self.corrupt.is_empty()
            && self.unlisted.is_empty()
            && self.files_missing.is_empty()
            && self.files_corrupt.is_empty()
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RestoreSummary {
    pub data_dir: PathBuf,
    /// The restored SQLite file (None for a pg_dump backup).
    pub database: Option<PathBuf>,
    pub blobs: u64,
    pub bytes: u64,
    /// Key files put back (DKIM keys, the TLS pair).
    pub files: u64,
    /// For a pg_dump backup: the command that restores the database.
    pub pg_restore_hint: Option<String>,
}

/// Re-hashes the database file and every blob of a backup; for SQLite backups also runs
/// `PRAGMA integrity_check` and checks that every blob the database refers to is listed.
pub async fn verify_backup(dir: &Path, progress: Progress<'_>) -> Result<VerifyReport> {
    verify_backup_with(dir, true, progress).await
}

/// [`verify_backup`]; without `rehash_blobs` a blob file of the right size counts as good
/// (the database and key files are still re-hashed): the quick check `govmail doctor` runs.
pub async fn verify_backup_with(
    dir: &Path,
    rehash_blobs: bool,
    progress: Progress<'_>,
) -> Result<VerifyReport> {
    let manifest = read_manifest(dir)?;
    let mut report = VerifyReport::default();
    progress("database", 0, 1);
    let db_path = dir.join(&manifest.database.file);
    let hash_path = db_path.clone();
    match blocking(move || hash_file(&hash_path)).await {
        Ok((sha, len)) if sha == manifest.database.sha256 && len == manifest.database.size => {
            report.database_ok = true;
        }
        Ok((sha, len)) => {
            report.database_problem = Some(format!(
                "{}: sha256 {sha} ({len} bytes), manifest says {} ({} bytes)",
                manifest.database.file, manifest.database.sha256, manifest.database.size
            ));
        }
        Err(e) => {
            report.database_problem = Some(format!("{}: {e}", manifest.database.file));
        }
    }
    if report.database_ok && manifest.database.kind == "sqlite" {
        match sqlite_check(&db_path).await {
            Ok(referenced) => {
                let listed: BTreeSet<&str> = manifest.blobs.iter().map(|b| b.id.as_str()).collect();
                report.unlisted = referenced
                    .into_keys()
                    .filter(|id| !listed.contains(id.as_str()))
                    .collect();
            }
            Err(problem) => {
                report.database_ok = false;
                report.database_problem = Some(problem);
            }
        }
    }
    progress("database", 1, 1);
    let total = manifest.blobs.len() as u64;
    for (i, blob) in manifest.blobs.iter().enumerate() {
        let path = dir.join("blobs").join(blob_rel_path(&blob.id));
        let (id, size) = (blob.id.clone(), blob.size);
        let outcome = blocking(move || {
            let found = if rehash_blobs {
                hash_file(&path)
            } else {
                std::fs::metadata(&path).map(|m| {
                    // The name is the content's hash; the size is what is checked.
                    (if m.len() == size { id } else { String::new() }, m.len())
                })
            };
            match found {
                Ok(found) => Ok(Some(found)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await?;
        match outcome {
            None => report.missing.push(blob.id.clone()),
            Some((sha, len)) if sha == blob.id && len == blob.size => report.blobs_ok += 1,
            Some(_) => report.corrupt.push(blob.id.clone()),
        }
        progress("blobs", i as u64 + 1, total);
    }
    for file in &manifest.files {
        let path = dir.join(KEY_FILES_DIR).join(&file.path);
        let outcome = blocking(move || match hash_file(&path) {
            Ok(found) => Ok(Some(found)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        })
        .await?;
        match outcome {
            None => report.files_missing.push(file.path.clone()),
            Some((sha, len)) if sha == file.sha256 && len == file.size => report.files_ok += 1,
            Some(_) => report.files_corrupt.push(file.path.clone()),
        }
    }
    let listed: BTreeSet<String> = manifest.blobs.iter().map(|b| b.id.clone()).collect();
    let blob_dir = dir.join("blobs");
    report.extra = blocking(move || {
        Ok(blob_files_in(&blob_dir)?
            .into_iter()
            .filter(|(id, _)| !listed.contains(id))
            .count() as u64)
    })
    .await?;
    Ok(report)
}

/// `PRAGMA integrity_check` of a SQLite file, and its referenced blob files.
async fn sqlite_check(path: &Path) -> std::result::Result<BTreeMap<String, u64>, String> {
    use sqlx::Connection;
    let describe = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let mut conn = open_sqlite_file(path, false)
        .await
        .map_err(|e| describe(&e))?;
    let result: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| describe(&e))?;
    let _ = conn.close().await;
    if result != "ok" {
        return Err(format!("{}: integrity_check: {result}", path.display()));
    }
    snapshot_contents(path)
        .await
        .map(|(_, blobs)| blobs)
        .map_err(|e| describe(&e))
}

/// Restores a backup into `data_dir`, which must be empty or absent: the SQLite database
/// becomes `data_dir/govmail.db` and blob files go under `data_dir/blobs`. Every file is
/// checked against its SHA-256 while it is copied; on any failure what was written is
/// removed again. For a pg_dump backup only the blob files are restored and the returned
/// summary carries the `pg_restore` command for the database.
pub async fn restore_backup(
    dir: &Path,
    data_dir: &Path,
    progress: Progress<'_>,
) -> Result<RestoreSummary> {
    let manifest = read_manifest(dir)?;
    if data_dir.exists() {
        let mut entries = std::fs::read_dir(data_dir)?;
        if entries.next().is_some() {
            return Err(Error::Invalid(format!(
                "{} is not empty: restore only into an empty or new data directory",
                data_dir.display()
            )));
        }
    }
    let created_dir = !data_dir.exists();
    std::fs::create_dir_all(data_dir)?;
    let result = restore_into(dir, data_dir, &manifest, progress).await;
    if result.is_err() {
        // Leave the data directory as we found it.
        if let Ok(entries) = std::fs::read_dir(data_dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                let _ = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
            }
        }
        if created_dir {
            let _ = std::fs::remove_dir(data_dir);
        }
    }
    result
}

async fn restore_into(
    dir: &Path,
    data_dir: &Path,
    manifest: &Manifest,
    progress: Progress<'_>,
) -> Result<RestoreSummary> {
    let mut summary = RestoreSummary {
        data_dir: data_dir.to_path_buf(),
        database: None,
        blobs: 0,
        bytes: 0,
        files: 0,
        pg_restore_hint: None,
    };
    let src_db = dir.join(&manifest.database.file);
    match manifest.database.kind.as_str() {
        "sqlite" => {
            progress("database", 0, 1);
            let dst = data_dir.join("govmail.db");
            let (from, to) = (src_db.clone(), dst.clone());
            let (sha, len) = blocking(move || copy_hashed(&from, &to)).await?;
            if sha != manifest.database.sha256 || len != manifest.database.size {
                return Err(Error::Invalid(format!(
                    "{}: sha256 does not match the manifest (corrupt backup)",
                    src_db.display()
                )));
            }
            sqlite_check(&dst).await.map_err(Error::Invalid)?;
            summary.database = Some(dst);
            progress("database", 1, 1);
        }
        "pg_dump" => {
            let (sha, len) = {
                let path = src_db.clone();
                blocking(move || hash_file(&path)).await?
            };
            if sha != manifest.database.sha256 || len != manifest.database.size {
                return Err(Error::Invalid(format!(
                    "{}: sha256 does not match the manifest (corrupt backup)",
                    src_db.display()
                )));
            }
            summary.pg_restore_hint = Some(format!(
                "createdb -T template0 NEWDB && pg_restore --no-owner --no-privileges \
                 --dbname postgres://USER:PASS@HOST:PORT/NEWDB {}",
                src_db.display()
            ));
        }
        other => {
            return Err(Error::Invalid(format!(
                "unknown database kind {other:?} in the manifest"
            )))
        }
    }
    let total = manifest.blobs.len() as u64;
    for (i, blob) in manifest.blobs.iter().enumerate() {
        let from = dir.join("blobs").join(blob_rel_path(&blob.id));
        let to = data_dir.join("blobs").join(blob_rel_path(&blob.id));
        let (sha, len) = blocking(move || copy_hashed(&from, &to)).await?;
        if sha != blob.id || len != blob.size {
            return Err(Error::Invalid(format!(
                "blob {} in the backup is corrupt (sha256 {sha}); run `govmail backup verify`",
                blob.id
            )));
        }
        summary.blobs += 1;
        summary.bytes += len;
        progress("blobs", i as u64 + 1, total);
    }
    for file in &manifest.files {
        let from = dir.join(KEY_FILES_DIR).join(&file.path);
        let to = data_dir.join(&file.path);
        let (sha, len) = blocking(move || {
            let done = copy_hashed_mode(&from, &to, true)?;
            fsync_dir(to.parent().expect("under a key directory"))?;
            Ok(done)
        })
        .await?;
        if sha != file.sha256 || len != file.size {
            return Err(Error::Invalid(format!(
                "{} in the backup is corrupt (sha256 {sha}); run `govmail backup verify`",
                file.path
            )));
        }
        summary.files += 1;
    }
    let data_dir = data_dir.to_path_buf();
    blocking(move || {
        let blobs = data_dir.join("blobs");
        if blobs.exists() {
            for sub in std::fs::read_dir(&blobs)? {
                let sub = sub?;
                if sub.file_type()?.is_dir() {
                    fsync_dir(&sub.path())?;
                }
            }
            fsync_dir(&blobs)?;
        }
        fsync_dir(&data_dir)
    })
    .await?;
    Ok(summary)
}
