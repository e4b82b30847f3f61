//! A backup directory on disk: `manifest.json`, the `<2 hex>/<id>` blob tree, hashed durable
//! copies, and reading what a SQLite snapshot refers to.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::{Error, Result};

/// `manifest.json` of a backup directory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub format: u32,
    /// "sqlite" or "postgres".
    pub backend: String,
    /// When the snapshot was started (Unix seconds): every transaction committed before it
    /// is in the backup.
    pub started_at: i64,
    pub finished_at: i64,
    pub started_at_utc: String,
    pub database: ManifestFile,
    pub blobs: Vec<ManifestBlob>,
    /// Messages in the snapshot (SQLite; PostgreSQL: counted just before the dump).
    pub messages: i64,
    /// Key files of the data directory ([`KEY_DIRS`]), kept under `files/` in the backup.
    /// Absent in backups made before they were carried.
    #[serde(default)]
    pub files: Vec<ManifestKeyFile>,
}

/// One key file of a backup: its path relative to the data directory (and to `files/`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestKeyFile {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// Directories of the data directory a backup carries besides the database and the blobs:
/// the DKIM signing keys (`govmail dkim generate`) and the generated TLS pair. Without them
/// a restored server would sign nothing and present a new certificate.
pub const KEY_DIRS: [&str; 2] = ["dkim", "tls"];
/// Directory of a backup holding the key files.
pub const KEY_FILES_DIR: &str = "files";
/// How deep below a key directory files are looked for.
const KEY_DEPTH: usize = 3;

/// A manifest path a restore may write: relative, under a [`KEY_DIRS`] directory, plain
/// components only (no `..`, no absolute path, no hidden files).
pub(super) fn is_key_path(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    path.len() <= 1024
        && !path.contains('\\')
        && parts.len() >= 2
        && parts.len() <= KEY_DEPTH + 1
        && KEY_DIRS.contains(&parts[0])
        && parts
            .iter()
            .all(|p| !p.is_empty() && !p.starts_with('.') && *p != "..")
}

/// Every regular file under the [`KEY_DIRS`] of `data_dir` (symbolic links and hidden files
/// left out), as (path relative to `data_dir`, full path), sorted.
pub(super) fn key_files_in(data_dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    fn walk(
        dir: &Path,
        rel: &str,
        depth: usize,
        out: &mut Vec<(String, PathBuf)>,
    ) -> std::io::Result<()> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let kind = entry.file_type()?;
            let path = format!("{rel}/{name}");
            if kind.is_file() {
                out.push((path, entry.path()));
            } else if kind.is_dir() && depth < KEY_DEPTH {
                walk(&entry.path(), &path, depth + 1, out)?;
            }
        }
        Ok(())
    }
    let mut out = vec![];
    for dir in KEY_DIRS {
        walk(&data_dir.join(dir), dir, 1, &mut out)?;
    }
    out.retain(|(rel, _)| is_key_path(rel));
    out.sort();
    Ok(out)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestFile {
    /// File name inside the backup directory.
    pub file: String,
    /// "sqlite" (a database file) or "pg_dump" (custom-format archive).
    pub kind: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestBlob {
    pub id: String,
    pub size: u64,
}

pub const MANIFEST: &str = "manifest.json";
pub(super) const MANIFEST_FORMAT: u32 = 1;

/// Reads and parses `DIR/manifest.json`.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound(format!(
            "{}: no manifest (not a backup, or the backup did not finish)",
            path.display()
        )),
        _ => Error::Io(e),
    })?;
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    if manifest.format != MANIFEST_FORMAT {
        return Err(Error::Invalid(format!(
            "{}: manifest format {} (this version reads {MANIFEST_FORMAT})",
            path.display(),
            manifest.format
        )));
    }
    if manifest.database.file.contains(['/', '\\']) || manifest.database.file.starts_with('.') {
        return Err(Error::Invalid(format!(
            "{}: bad database file name",
            path.display()
        )));
    }
    if let Some(bad) = manifest.files.iter().find(|f| !is_key_path(&f.path)) {
        return Err(Error::Invalid(format!(
            "{}: bad key file path {:?}",
            path.display(),
            bad.path
        )));
    }
    if let Some(bad) = manifest.blobs.iter().find(|b| !is_blob_id(&b.id)) {
        return Err(Error::Invalid(format!(
            "{}: bad blob id {:?}",
            path.display(),
            bad.id
        )));
    }
    Ok(manifest)
}

/// SHA-256 hex and length of a file.
pub fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut len = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), len))
}

/// Copies `from` to `to` durably (temporary file, fsync, rename); returns (sha256, length).
pub(super) fn copy_hashed(from: &Path, to: &Path) -> std::io::Result<(String, u64)> {
    copy_hashed_mode(from, to, false)
}

/// [`copy_hashed`]; `private`: the copy is readable by its owner only (mode 0600 from its
/// creation on), for private keys.
pub(super) fn copy_hashed_mode(
    from: &Path,
    to: &Path,
    private: bool,
) -> std::io::Result<(String, u64)> {
    let parent = to.parent().expect("destination has a parent");
    std::fs::create_dir_all(parent)?;
    let tmp = parent.join(format!(
        ".{}.{}.tmp",
        to.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut src = std::fs::File::open(from)?;
        let _ = std::fs::remove_file(&tmp);
        let mut open = std::fs::OpenOptions::new();
        open.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            open.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        let mut dst = open.open(&tmp)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut len = 0u64;
        loop {
            let n = src.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            dst.write_all(&buf[..n])?;
            len += n as u64;
        }
        dst.sync_all()?;
        Ok::<_, std::io::Error>((hex::encode(hasher.finalize()), len))
    })();
    match result {
        Ok(done) => {
            std::fs::rename(&tmp, to)?;
            Ok(done)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

pub(super) fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

pub(super) fn blob_rel_path(id: &str) -> PathBuf {
    PathBuf::from(&id[..2.min(id.len())]).join(id)
}

fn is_blob_id(name: &str) -> bool {
    name.len() == 64
        && name
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Every blob file (by id) under a `<2 hex>/<id>` directory tree.
pub(super) fn blob_files_in(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut out = vec![];
    let Ok(subs) = std::fs::read_dir(dir) else {
        return Ok(out);
    };
    for sub in subs {
        let sub = sub?;
        if !sub.file_type()?.is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(sub.path())? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_blob_id(&name) && entry.file_type()?.is_file() {
                out.push((name, entry.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Opens a SQLite file directly (snapshots in backups; read-only unless `write`).
pub(super) async fn open_sqlite_file(path: &Path, write: bool) -> Result<sqlx::SqliteConnection> {
    use sqlx::ConnectOptions;
    // Backup files never change while we read them: `immutable` needs no locks and no
    // journal files (works on read-only media too).
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(!write)
        .immutable(!write)
        .create_if_missing(false);
    Ok(options.connect().await?)
}

/// Message count and the referenced blob files (id → size) of a SQLite snapshot.
pub(super) async fn snapshot_contents(path: &Path) -> Result<(i64, BTreeMap<String, u64>)> {
    use sqlx::Connection;
    let mut conn = open_sqlite_file(path, false).await?;
    let messages: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages")
        .fetch_one(&mut conn)
        .await?;
    let rows = sqlx::query(
        "SELECT b.id, b.size FROM blobs b WHERE b.refcount > 0 \
         AND NOT EXISTS (SELECT 1 FROM blob_data d WHERE d.id = b.id) ORDER BY b.id",
    )
    .fetch_all(&mut conn)
    .await?;
    let blobs = rows
        .iter()
        .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1) as u64))
        .collect();
    conn.close().await?;
    Ok((messages, blobs))
}
