//! Content-addressed blob store for message bodies.
//!
//! A blob's id is the SHA-256 of its bytes, so a message delivered to many recipients is written
//! once. The `blobs` table counts references; rows at zero are garbage collected.
//!
//! Invariant: a blob's bytes are durable (file and directory fsync'd, or inserted in the same
//! transaction) before any row that refers to it commits.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::{now, Error, Result, Store};

/// Where blob bytes live.
#[derive(Debug, Clone)]
pub enum BlobStore {
    /// Files under a directory: `<dir>/<2 hex>/<64 hex>`; bodies up to `inline_max` bytes are
    /// rows of `blob_data` instead.
    Files { dir: PathBuf, inline_max: usize },
    /// Rows of the `blob_data` table (lets several nodes share nothing but the database).
    Database,
}

/// The id (SHA-256 hex) of some bytes.
pub fn blob_id(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl BlobStore {
    pub fn files(dir: PathBuf, inline_max: usize) -> Result<BlobStore> {
        std::fs::create_dir_all(&dir)?;
        Ok(BlobStore::Files { dir, inline_max })
    }

    /// True when a body of `len` bytes is kept in the database.
    pub fn in_database(&self, len: usize) -> bool {
        match self {
            BlobStore::Database => true,
            BlobStore::Files { inline_max, .. } => len <= *inline_max,
        }
    }

    fn path(dir: &Path, id: &str) -> PathBuf {
        dir.join(&id[..2]).join(id)
    }
}

fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Writes `bytes` under `dir` durably, unless an identical file is already there.
fn write_file(dir: &Path, id: &str, bytes: &[u8]) -> std::io::Result<()> {
    let path = BlobStore::path(dir, id);
    if let Ok(existing) = std::fs::metadata(&path) {
        if existing.len() == bytes.len() as u64 {
            return Ok(());
        }
    }
    let sub = path.parent().expect("blob path has a parent");
    let created_sub = !sub.exists();
    std::fs::create_dir_all(sub)?;
    let tmp = sub.join(format!(".{id}.{}.tmp", std::process::id()));
    {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    fsync_dir(sub)?;
    if created_sub {
        fsync_dir(dir)?;
    }
    Ok(())
}

/// A message body opened for reading. Bodies kept in the database come whole (they are small,
/// or the deployment chose the database store); files are read in ranges, so a large attachment
/// is copied to the client in chunks and never held in memory whole.
#[derive(Debug)]
pub enum BlobReader {
    Memory(Vec<u8>),
    File { file: tokio::fs::File, len: u64 },
}

/// Chunk size for reading file ranges.
const CHUNK: usize = 64 * 1024;

impl BlobReader {
    pub fn len(&self) -> u64 {
        match self {
            BlobReader::Memory(bytes) => bytes.len() as u64,
            BlobReader::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when the bytes are already in memory (reading a range costs a copy, no I/O).
    pub fn in_memory(&self) -> bool {
        matches!(self, BlobReader::Memory(_))
    }

    fn clamp(&self, start: u64, end: u64) -> (u64, u64) {
        let end = end.min(self.len());
        (start.min(end), end)
    }

    /// The bytes in `start..end`, clamped to the body.
    pub async fn read_range(&mut self, start: u64, end: u64) -> std::io::Result<Vec<u8>> {
        let (start, end) = self.clamp(start, end);
        match self {
            BlobReader::Memory(bytes) => Ok(bytes[start as usize..end as usize].to_vec()),
            BlobReader::File { file, .. } => {
                use tokio::io::{AsyncReadExt, AsyncSeekExt};
                file.seek(std::io::SeekFrom::Start(start)).await?;
                let mut out = vec![0; (end - start) as usize];
                file.read_exact(&mut out).await?;
                Ok(out)
            }
        }
    }

    /// True when `start..end` holds a NUL byte (such content must go in a literal8).
    pub async fn contains_nul(&mut self, start: u64, end: u64) -> std::io::Result<bool> {
        let (start, end) = self.clamp(start, end);
        let mut at = start;
        while at < end {
            let next = (at + CHUNK as u64).min(end);
            if self.read_range(at, next).await?.contains(&0) {
                return Ok(true);
            }
            at = next;
        }
        Ok(false)
    }

    /// Writes `start..end` (clamped) to `out`, a chunk at a time.
    pub async fn copy_range<W>(&mut self, start: u64, end: u64, out: &mut W) -> std::io::Result<()>
    where
        W: tokio::io::AsyncWrite + Unpin,
    {
        use tokio::io::AsyncWriteExt;
        let (start, end) = self.clamp(start, end);
        let mut at = start;
        while at < end {
            let next = (at + CHUNK as u64).min(end);
            let chunk = self.read_range(at, next).await?;
            out.write_all(&chunk).await?;
            at = next;
        }
        Ok(())
    }
}

impl Store {
    /// Opens a message body of `size` bytes for reading in ranges (see [`BlobReader`]).
    pub async fn open_blob(&self, id: &str, size: i64) -> Result<BlobReader> {
        if let BlobStore::Files { dir, .. } = &self.blobs {
            if !self.blobs.in_database(size.max(0) as usize) {
                let path = BlobStore::path(dir, id);
                match tokio::fs::File::open(&path).await {
                    Ok(file) => {
                        let len = file.metadata().await?.len();
                        return Ok(BlobReader::File { file, len });
                    }
                    // Stored before the inline limit changed: look in the database.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::Io(e)),
                }
            }
        }
        Ok(BlobReader::Memory(self.read_blob(id).await?))
    }

    /// Makes `bytes` durable in the blob store (files only; the database store writes inside the
    /// referring transaction, see [`Store::blob_ref_in`]). Returns the blob id.
    pub async fn put_blob_bytes(&self, bytes: &[u8]) -> Result<String> {
        let id = blob_id(bytes);
        if self.blobs.in_database(bytes.len()) {
            return Ok(id);
        }
        if let BlobStore::Files { dir, .. } = &self.blobs {
            let dir = dir.clone();
            let owned_id = id.clone();
            let owned = bytes.to_vec();
            tokio::task::spawn_blocking(move || write_file(&dir, &owned_id, &owned))
                .await
                .map_err(|e| Error::Io(std::io::Error::other(e)))??;
        }
        Ok(id)
    }

    /// [`Store::put_blob_bytes`] for bytes already shared: the file is written from the same
    /// buffer, never a copy (an import of a 100 MB message holds it once).
    pub async fn put_blob_shared(&self, bytes: std::sync::Arc<Vec<u8>>) -> Result<String> {
        let id = blob_id(&bytes);
        if self.blobs.in_database(bytes.len()) {
            return Ok(id);
        }
        if let BlobStore::Files { dir, .. } = &self.blobs {
            let dir = dir.clone();
            let owned_id = id.clone();
            tokio::task::spawn_blocking(move || write_file(&dir, &owned_id, &bytes))
                .await
                .map_err(|e| Error::Io(std::io::Error::other(e)))??;
        }
        Ok(id)
    }

    /// Inside a transaction: adds `n_refs` references to the blob, creating its row (and, for
    /// the database store, its bytes).
    pub(crate) async fn blob_ref_in(
        &self,
        conn: &mut crate::conn::Conn<'_>,
        id: &str,
        bytes: &[u8],
        n_refs: i64,
    ) -> Result<()> {
        crate::conn::stmt(
            "INSERT INTO blobs (id, size, refcount, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET refcount = blobs.refcount + $3",
        )
        .bind(id)
        .bind(bytes.len() as i64)
        .bind(n_refs)
        .bind(now())
        .execute(conn)
        .await?;
        if self.blobs.in_database(bytes.len()) {
            crate::conn::stmt(
                "INSERT INTO blob_data (id, data) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(bytes.to_vec())
            .execute(conn)
            .await?;
        }
        Ok(())
    }

    /// Reads a whole blob.
    pub async fn read_blob(&self, id: &str) -> Result<Vec<u8>> {
        match &self.blobs {
            BlobStore::Files { dir, inline_max } => {
                if *inline_max > 0 {
                    let row = self
                        .read("SELECT data FROM blob_data WHERE id = $1")
                        .bind(id)
                        .fetch_optional()
                        .await?;
                    if let Some(row) = row {
                        return row.try_get::<Vec<u8>, _>(0usize);
                    }
                }
                let path = BlobStore::path(dir, id);
                tokio::fs::read(&path).await.map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => Error::NotFound(format!("blob {id}")),
                    _ => Error::Io(e),
                })
            }
            BlobStore::Database => {
                let row = self
                    .read("SELECT data FROM blob_data WHERE id = $1")
                    .bind(id)
                    .fetch_optional()
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("blob {id}")))?;
                row.try_get::<Vec<u8>, _>(0usize)
            }
        }
    }

    /// Removes blobs nobody refers to any more. Returns how many were removed.
    ///
    /// Only rows unreferenced for at least `min_age_secs` go, so a delivery that has written a
    /// file but not yet committed its reference is never raced.
    pub async fn gc_blobs(&self, min_age_secs: i64) -> Result<u64> {
        let cutoff = now() - min_age_secs;
        let _exclusive = self.gc_lock.write().await;
        let mut tx = self.begin_write().await?;
        Self::drop_documents_of_dead_blobs_in(&mut tx, cutoff).await?;
        let rows =
            sqlx::query("DELETE FROM blobs WHERE refcount <= 0 AND created_at <= $1 RETURNING id")
                .bind(cutoff)
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        let ids: Vec<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
        let mut removed = ids.len() as u64;
        if let BlobStore::Files { dir, .. } = &self.blobs {
            for id in &ids {
                match std::fs::remove_file(BlobStore::path(dir, id)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
            removed += self.remove_orphan_files(dir, min_age_secs).await?;
        }
        Ok(removed)
    }

    /// Files with no `blobs` row, older than `min_age_secs`: left by a crash between the blob
    /// write and the commit (nothing acknowledged refers to them), or temporary files of an
    /// interrupted write. Runs under the exclusive GC lock.
    async fn remove_orphan_files(&self, dir: &Path, min_age_secs: i64) -> Result<u64> {
        let cutoff = std::time::SystemTime::now()
            - std::time::Duration::from_secs(min_age_secs.max(0) as u64);
        let mut removed = 0;
        for sub in std::fs::read_dir(dir)? {
            let sub = sub?.path();
            if !sub.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(&sub)? {
                let entry = entry?;
                let old = entry
                    .metadata()?
                    .modified()
                    .map(|m| m <= cutoff)
                    .unwrap_or(false);
                if !old {
                    continue;
                }
                let name = entry.file_name().to_string_lossy().into_owned();
                let orphan = if name.starts_with('.') {
                    true
                } else {
                    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM blobs WHERE id = $1")
                        .bind(name.clone())
                        .fetch_one(&self.pool)
                        .await?;
                    n == 0
                };
                if orphan {
                    std::fs::remove_file(entry.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}
