//! Taking a backup ([`Store::backup`]): a consistent online snapshot of the database, then
//! the blob files it refers to, then the manifest.
//!
//! - SQLite: `VACUUM INTO` a new file in the backup directory (a consistent snapshot of every
//!   committed transaction, taken while the server runs), then the blob files the snapshot
//!   refers to are copied (incremental: a file already in the backup with the right size and
//!   SHA-256 is kept). Bodies kept inline (`blob_data`) are inside the snapshot.
//! - PostgreSQL: `pg_dump --format=custom` (a consistent snapshot, taken online), then the blob
//!   files if the `files` blob store is used (with the default `database` store every body is
//!   in the dump). `restore` copies the blob files and prints the `pg_restore` command; the
//!   database itself is restored with PostgreSQL's own tools.
//! - Blob files are copied *after* the snapshot, under a shared lock on `<blobs>/.gc.lock`;
//!   blob GC through [`Store::gc_blobs_guarded`] takes it exclusively (and skips a round when a
//!   backup holds it), so no file the snapshot refers to can disappear before it is copied.
//! - `manifest.json` is written last (atomic rename): time, database file and SHA-256, every
//!   blob id and size. A directory without a manifest is not a backup.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::backup_dir::{
    blob_files_in, blob_rel_path, copy_hashed, copy_hashed_mode, fsync_dir, hash_file,
    key_files_in, snapshot_contents, Manifest, ManifestBlob, ManifestFile, ManifestKeyFile,
    KEY_FILES_DIR, MANIFEST, MANIFEST_FORMAT,
};
use super::gc::GcFileLock;
use super::{blocking, io_other, Progress};
use crate::{now, Backend, BlobStore, Error, Result, Store};

/// Backup settings.
#[derive(Debug, Clone)]
pub struct BackupOptions {
    /// Re-hash blob files already in the backup before keeping them (default). Without it a
    /// file with the right name and size is trusted (`backup verify` still re-hashes).
    pub rehash_existing: bool,
    /// The `pg_dump` program (PostgreSQL only).
    pub pg_dump: String,
    /// The database URL (PostgreSQL only: what pg_dump connects to; the password is passed
    /// in the environment, not on the command line).
    pub pg_url: String,
    /// The data directory whose key files (`KEY_DIRS`: DKIM keys, the generated TLS pair)
    /// the backup carries; None: none.
    pub data_dir: Option<PathBuf>,
}

impl Default for BackupOptions {
    fn default() -> Self {
        BackupOptions {
            rehash_existing: true,
            pg_dump: "pg_dump".into(),
            pg_url: String::new(),
            data_dir: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BackupSummary {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub blobs_copied: u64,
    pub blobs_kept: u64,
    pub bytes_copied: u64,
    pub stale_removed: u64,
}

fn utc_text(at: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

impl Store {
    /// Takes a consistent online backup into `dir` (see the module documentation).
    pub async fn backup(
        &self,
        dir: &Path,
        options: &BackupOptions,
        progress: Progress<'_>,
    ) -> Result<BackupSummary> {
        if let BlobStore::Files { dir: live, .. } = &self.blobs {
            // Pruning a backup deletes blob files it does not list: never near live ones.
            let data_dir = live.parent().unwrap_or(live).canonicalize()?;
            let mut probe = Some(dir);
            while let Some(path) = probe {
                if path.exists() {
                    if path.canonicalize()?.starts_with(&data_dir) {
                        return Err(Error::Invalid(format!(
                            "{}: the backup directory must be outside the data directory {}",
                            dir.display(),
                            data_dir.display()
                        )));
                    }
                    break;
                }
                probe = path.parent();
            }
        }
        std::fs::create_dir_all(dir.join("blobs"))?;
        let dir = dir.canonicalize()?;
        // Held from before the snapshot until every blob is copied.
        let _lock = match &self.blobs {
            BlobStore::Files { dir: blob_dir, .. } => {
                let blob_dir = blob_dir.clone();
                Some(blocking(move || GcFileLock::shared(&blob_dir)).await?)
            }
            BlobStore::Database => None,
        };
        let started_at = now();
        progress("database", 0, 1);
        let (db_name, db_kind, messages, mut wanted) = match self.backend {
            Backend::Sqlite => {
                let name = format!("govmail-{started_at}.db");
                let partial = dir.join(format!(".{name}.partial"));
                let _ = std::fs::remove_file(&partial);
                let target = partial.to_string_lossy().replace('\'', "''");
                sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM INTO '{target}'")))
                    .execute(&self.pool)
                    .await?;
                let (messages, blobs) = snapshot_contents(&partial).await?;
                let final_path = dir.join(&name);
                std::fs::rename(&partial, &final_path)?;
                (name, "sqlite", messages, blobs)
            }
            Backend::Postgres => {
                let messages = self.count_messages().await?;
                let name = format!("govmail-{started_at}.pgdump");
                pg_dump(&options.pg_dump, &options.pg_url, &dir.join(&name)).await?;
                // Every blob file present now (a superset of what the dump refers to: GC is
                // locked out until the copy is done).
                let blobs = match &self.blobs {
                    BlobStore::Files { dir: blob_dir, .. } => {
                        let blob_dir = blob_dir.clone();
                        blocking(move || {
                            let mut out = BTreeMap::new();
                            for (id, path) in blob_files_in(&blob_dir)? {
                                let len = std::fs::metadata(&path)?.len();
                                out.insert(id, len);
                            }
                            Ok(out)
                        })
                        .await?
                    }
                    BlobStore::Database => BTreeMap::new(),
                };
                (name, "pg_dump", messages, blobs)
            }
        };
        progress("database", 1, 1);
        let db_path = dir.join(&db_name);
        let hash_path = db_path.clone();
        let (db_sha, db_size) = blocking(move || hash_file(&hash_path)).await?;

        // Blob files, after the snapshot.
        let (src_dir, inline_only) = match &self.blobs {
            BlobStore::Files { dir, .. } => (Some(dir.clone()), false),
            BlobStore::Database => (None, true),
        };
        if inline_only {
            wanted.clear();
        }
        let total = wanted.len() as u64;
        let mut copied = 0u64;
        let mut kept = 0u64;
        let mut bytes_copied = 0u64;
        let mut problems = vec![];
        let mut listed = vec![];
        for (i, (id, size)) in wanted.iter().enumerate() {
            let src = src_dir
                .as_ref()
                .expect("files store")
                .join(blob_rel_path(id));
            let dst = dir.join("blobs").join(blob_rel_path(id));
            let (id2, size2, rehash) = (id.clone(), *size, options.rehash_existing);
            let outcome = blocking(move || {
                if let Ok(meta) = std::fs::metadata(&dst) {
                    if meta.len() == size2 {
                        if !rehash {
                            return Ok((false, 0, None));
                        }
                        let (sha, _) = hash_file(&dst)?;
                        if sha == id2 {
                            return Ok((false, 0, None));
                        }
                    }
                }
                match copy_hashed(&src, &dst) {
                    Ok((sha, len)) if sha == id2 && len == size2 => Ok((true, len, None)),
                    Ok((sha, len)) => {
                        let _ = std::fs::remove_file(&dst);
                        Ok((
                            false,
                            0,
                            Some(format!(
                                "blob {id2}: the live file is corrupt (sha256 {sha}, {len} bytes)"
                            )),
                        ))
                    }
                    Err(e) => Ok((false, 0, Some(format!("blob {id2}: {e}")))),
                }
            })
            .await?;
            match outcome {
                (_, _, Some(problem)) => problems.push(problem),
                (true, len, None) => {
                    copied += 1;
                    bytes_copied += len;
                    listed.push(ManifestBlob {
                        id: id.clone(),
                        size: *size,
                    });
                }
                (false, _, None) => {
                    kept += 1;
                    listed.push(ManifestBlob {
                        id: id.clone(),
                        size: *size,
                    });
                }
            }
            progress("blobs", i as u64 + 1, total);
        }
        if !problems.is_empty() {
            return Err(io_other(format!(
                "backup incomplete, manifest not written: {}",
                problems.join("; ")
            )));
        }
        // The key files: small, copied every time, readable by the owner only.
        let files = match &options.data_dir {
            Some(data_dir) => {
                let (data_dir, dir) = (data_dir.clone(), dir.clone());
                blocking(move || {
                    let mut files = vec![];
                    for (rel, src) in key_files_in(&data_dir)? {
                        let dst = dir.join(KEY_FILES_DIR).join(&rel);
                        let (sha256, size) = copy_hashed_mode(&src, &dst, true)?;
                        fsync_dir(dst.parent().expect("under files/"))?;
                        files.push(ManifestKeyFile {
                            path: rel,
                            size,
                            sha256,
                        });
                    }
                    Ok(files)
                })
                .await?
            }
            None => vec![],
        };
        {
            let dir = dir.clone();
            blocking(move || {
                for sub in std::fs::read_dir(dir.join("blobs"))? {
                    let sub = sub?;
                    if sub.file_type()?.is_dir() {
                        fsync_dir(&sub.path())?;
                    }
                }
                fsync_dir(&dir.join("blobs"))?;
                fsync_dir(&dir)
            })
            .await?;
        }
        let manifest = Manifest {
            format: MANIFEST_FORMAT,
            backend: self.backend_name().to_string(),
            started_at,
            finished_at: now(),
            started_at_utc: utc_text(started_at),
            database: ManifestFile {
                file: db_name.clone(),
                kind: db_kind.to_string(),
                size: db_size,
                sha256: db_sha,
            },
            blobs: listed,
            messages,
            files,
        };
        let text = serde_json::to_string_pretty(&manifest).expect("manifest serialises");
        let manifest_dir = dir.clone();
        blocking(move || {
            let tmp = manifest_dir.join(".manifest.json.tmp");
            {
                let mut file = std::fs::File::create(&tmp)?;
                file.write_all(text.as_bytes())?;
                file.write_all(b"\n")?;
                file.sync_all()?;
            }
            std::fs::rename(&tmp, manifest_dir.join(MANIFEST))?;
            fsync_dir(&manifest_dir)
        })
        .await?;
        // The new manifest is in place: files no backup refers to any more go.
        let keep: BTreeSet<String> = manifest.blobs.iter().map(|b| b.id.clone()).collect();
        let keep_files: BTreeSet<String> = manifest.files.iter().map(|f| f.path.clone()).collect();
        let prune_dir = dir.clone();
        let stale_removed = blocking(move || {
            let mut removed = 0u64;
            for entry in std::fs::read_dir(&prune_dir)? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with("govmail-") && name != db_name && entry.file_type()?.is_file() {
                    std::fs::remove_file(entry.path())?;
                }
            }
            // A key no longer in the data directory (a retired DKIM key) leaves the backup too.
            for (rel, path) in key_files_in(&prune_dir.join(KEY_FILES_DIR))? {
                if !keep_files.contains(&rel) {
                    std::fs::remove_file(path)?;
                }
            }
            for (id, path) in blob_files_in(&prune_dir.join("blobs"))? {
                if !keep.contains(&id) {
                    std::fs::remove_file(path)?;
                    removed += 1;
                }
            }
            Ok(removed)
        })
        .await?;
        Ok(BackupSummary {
            dir,
            manifest,
            blobs_copied: copied,
            blobs_kept: kept,
            bytes_copied,
            stale_removed,
        })
    }
}

/// Runs `pg_dump --format=custom` of the database at `url` into `path`.
async fn pg_dump(program: &str, url: &str, path: &Path) -> Result<()> {
    if url.is_empty() {
        return Err(Error::Invalid(
            "backup of PostgreSQL needs the database URL".into(),
        ));
    }
    let (url, password) = split_password(url);
    let partial = path.with_extension("pgdump.partial");
    let mut command = tokio::process::Command::new(program);
    command
        .arg("--format=custom")
        .arg("--no-owner")
        .arg("--no-privileges")
        .arg("--file")
        .arg(&partial)
        .arg("--dbname")
        .arg(&url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    let output = command.output().await.map_err(|e| {
        io_other(format!(
            "running {program} (PostgreSQL backups use pg_dump; install the PostgreSQL \
                 client of the server's major version or pass --pg-dump PATH): {e}"
        ))
    })?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&partial);
        return Err(io_other(format!(
            "{program} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    std::fs::File::open(&partial)?.sync_all()?;
    std::fs::rename(&partial, path)?;
    Ok(())
}

/// Splits the password out of a PostgreSQL URL (it goes to pg_dump by environment, not on
/// its command line where `ps` shows it).
fn split_password(url: &str) -> (String, Option<String>) {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return (url.to_string(), None);
    };
    let rest = &url[scheme_end..];
    let Some(at) = rest.find('@') else {
        return (url.to_string(), None);
    };
    let userinfo = &rest[..at];
    match userinfo.split_once(':') {
        Some((user, password)) => (
            format!("{}{}{}", &url[..scheme_end], user, &rest[at..]),
            Some(percent_decode(password)),
        ),
        None => (url.to_string(), None),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 3 <= bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_the_url() {
        assert_eq!(
            split_password("postgres://gm:s%40cret@127.0.0.1:5432/db?sslmode=disable"),
            (
                "postgres://gm@127.0.0.1:5432/db?sslmode=disable".to_string(),
                Some("s@cret".to_string())
            )
        );
        assert_eq!(
            split_password("postgres://h/db"),
            ("postgres://h/db".into(), None)
        );
    }
}
