//! Blob GC as operations run it: the `<blobs>/.gc.lock` that keeps GC and backups apart,
//! GC that yields to a running backup, and the dry-run count of collectable blobs.

use std::path::{Path, PathBuf};

use super::blocking;
use crate::{now, BlobStore, Result, Store};

/// The shared/exclusive lock between blob GC and backups (files store only).
pub(super) struct GcFileLock(std::fs::File);

impl GcFileLock {
    fn path(dir: &Path) -> PathBuf {
        dir.join(".gc.lock")
    }

    fn open(dir: &Path) -> std::io::Result<std::fs::File> {
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(Self::path(dir))
    }

    /// Waits for a shared lock (backups).
    pub(super) fn shared(dir: &Path) -> std::io::Result<GcFileLock> {
        let file = Self::open(dir)?;
        file.lock_shared()?;
        Ok(GcFileLock(file))
    }

    /// An exclusive lock if nobody holds it (GC); None when a backup runs.
    fn try_exclusive(dir: &Path) -> std::io::Result<Option<GcFileLock>> {
        let file = Self::open(dir)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(GcFileLock(file))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

impl Drop for GcFileLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

impl Store {
    /// Unreferenced blobs old enough to be collected now.
    pub async fn gc_candidates(&self, min_age_secs: i64) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM blobs WHERE refcount <= 0 AND created_at <= $1",
        )
        .bind(now() - min_age_secs)
        .fetch_one(&self.pool)
        .await?;
        Ok(n as u64)
    }

    /// Blob GC that never races a backup: with the files store it takes the exclusive
    /// `<blobs>/.gc.lock` (a backup holds it shared while it copies) and returns None, doing
    /// nothing, when a backup is running. Use this instead of calling `gc_blobs` directly.
    pub async fn gc_blobs_guarded(&self, min_age_secs: i64) -> Result<Option<u64>> {
        let _lock = match &self.blobs {
            BlobStore::Files { dir, .. } => {
                let dir = dir.clone();
                match blocking(move || GcFileLock::try_exclusive(&dir)).await? {
                    Some(lock) => Some(lock),
                    None => {
                        tracing::info!("blob GC postponed: a backup is copying blobs");
                        return Ok(None);
                    }
                }
            }
            BlobStore::Database => None,
        };
        Ok(Some(self.gc_blobs(min_age_secs).await?))
    }
}
