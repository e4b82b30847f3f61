//! Operations (issue 7): retention, admin purge, backup/verify/restore, the data the
//! compliance and usage reports read, and the message counters behind the usage report.
//!
//! Removal of messages goes through the IMAP storage paths ([`Store::store_flags`] then
//! [`Store::expunge`]), so quota usage, blob reference counts, the `expunged` log (QRESYNC)
//! and folder HIGHESTMODSEQ stay exact, and IMAP sessions see ordinary expunges.
//!
//! Backup ([`Store::backup`]):
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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::events::Event;
use crate::meta::Envelope;
use crate::{now, Backend, BlobStore, Error, FlagChange, MessageRow, Result, Store};

// ====================================================================== local calendar days

/// Offset of local time from UTC in seconds, used to bucket message counters by local day.
/// Default: +07:00 (Vietnam); the binary sets it from `reports.utc_offset`.
static LOCAL_OFFSET: AtomicI32 = AtomicI32::new(7 * 3600);

/// Sets the local UTC offset (seconds east of UTC) used for day buckets.
pub fn set_local_offset(seconds: i32) {
    LOCAL_OFFSET.store(seconds, Ordering::Relaxed);
}

pub fn local_offset() -> i32 {
    LOCAL_OFFSET.load(Ordering::Relaxed)
}

/// The local calendar date of a Unix time as YYYYMMDD.
pub fn local_day(at: i64, offset_seconds: i32) -> i64 {
    let offset =
        time::UtcOffset::from_whole_seconds(offset_seconds).unwrap_or(time::UtcOffset::UTC);
    let date = time::OffsetDateTime::from_unix_timestamp(at)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .to_offset(offset)
        .date();
    date.year() as i64 * 10_000 + u8::from(date.month()) as i64 * 100 + date.day() as i64
}

// ====================================================================== message counters

/// One accepted message, as the usage report counts it. Built by SMTP after `deliver`
/// returned (see `crates/smtp/src/deliver.rs`).
#[derive(Debug, Clone, Default)]
pub struct DeliveryNote {
    /// The authenticated account that submitted it (None: received from outside by MX).
    pub sender_account: Option<i64>,
    /// Local accounts that received a copy (not the unit's Sent copy of a send-as-unit).
    pub recipient_accounts: Vec<i64>,
    /// Number of recipients outside our domains.
    pub remote_recipients: usize,
    /// Filed into Junk by the spam filter.
    pub junk: bool,
    pub bytes: i64,
}

type FlowKey = (i64, i64, &'static str);

#[derive(Default)]
struct FlowBuffer {
    counts: HashMap<FlowKey, (i64, i64)>,
    flush_scheduled: bool,
}

/// Counters not yet written, per store (keyed by the identity of the store's shared state).
static FLOW: LazyLock<Mutex<HashMap<usize, FlowBuffer>>> = LazyLock::new(Default::default);

/// Counters are written at most this long after the delivery they count.
const FLOW_FLUSH_DELAY: std::time::Duration = std::time::Duration::from_secs(5);

/// One row of the `mail_flow` table.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FlowRow {
    /// Local date as YYYYMMDD.
    pub day: i64,
    pub account_id: i64,
    pub kind: String,
    pub messages: i64,
    pub bytes: i64,
}

// ====================================================================== reports' data

/// An account as the reports and retention see it: kind, status and the unit it belongs to
/// (a unit mailbox belongs to its own unit, a person to the unit they work in).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OpsAccount {
    pub account_id: i64,
    /// "person" or "unit".
    pub kind: String,
    pub address: String,
    pub display_name: String,
    pub status: String,
    pub created_at: i64,
    pub departed_at: Option<i64>,
    pub used_bytes: i64,
    pub quota_bytes: i64,
    pub unit_abbrev: Option<String>,
    pub unit_name: Option<String>,
}

/// A folder with its owner, for retention.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OpsFolder {
    pub folder_id: i64,
    pub account_id: i64,
    pub address: String,
    pub name: String,
    pub special_use: Option<String>,
    pub unit_abbrev: Option<String>,
}

/// A message of a unit mailbox without `\Seen`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UnreadMessage {
    pub folder: String,
    pub uid: i64,
    pub internal_date: i64,
    pub from: String,
    pub subject: String,
}

// ====================================================================== retention

/// Which folders a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum FolderMatch {
    /// By RFC 6154 special-use flag, e.g. `\Junk` (also a folder of that name without a flag).
    SpecialUse(String),
    /// By full folder name, e.g. `Archive/2019`.
    Name(String),
}

/// Messages of matching folders (and their subfolders) are removed this many days after
/// their internal date. 0 keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FolderRule {
    pub folder: FolderMatch,
    pub days: i64,
}

/// What retention removes. Built by the binary from `[retention]`.
#[derive(Debug, Clone, Serialize)]
pub struct RetentionPolicy {
    pub rules: Vec<FolderRule>,
    /// Unit abbreviation (upper case) → rules for that unit's mailbox and its people; a rule
    /// for the same folder replaces the general one.
    pub unit_rules: BTreeMap<String, Vec<FolderRule>>,
    /// Mail of departed accounts is removed this many days after departure (0 = never).
    pub departed_hold_days: i64,
    /// Unreferenced blobs younger than this are left to a later run.
    pub gc_min_age_secs: i64,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            rules: vec![
                FolderRule {
                    folder: FolderMatch::SpecialUse("\\Junk".into()),
                    days: 30,
                },
                FolderRule {
                    folder: FolderMatch::SpecialUse("\\Trash".into()),
                    days: 30,
                },
            ],
            unit_rules: BTreeMap::new(),
            departed_hold_days: 365,
            gc_min_age_secs: 3600,
        }
    }
}

/// Expired messages of one folder.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ExpiredFolder {
    pub address: String,
    pub folder: String,
    pub days: i64,
    pub messages: u64,
    pub bytes: i64,
}

/// A departed account whose hold period is over.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DepartedPurge {
    pub address: String,
    pub departed_at: i64,
    pub messages: u64,
    pub bytes: i64,
    pub credential_removed: bool,
}

/// What a retention run removed (or, dry, would remove).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct RetentionReport {
    pub dry_run: bool,
    pub at: i64,
    pub expired: Vec<ExpiredFolder>,
    pub departed: Vec<DepartedPurge>,
    /// Blobs removed by GC (dry: currently unreferenced and old enough).
    pub blobs: u64,
    /// GC skipped because a backup holds the blob lock.
    pub gc_postponed: bool,
}

impl RetentionReport {
    pub fn messages(&self) -> u64 {
        self.expired.iter().map(|e| e.messages).sum::<u64>()
            + self.departed.iter().map(|d| d.messages).sum::<u64>()
    }

    pub fn bytes(&self) -> i64 {
        self.expired.iter().map(|e| e.bytes).sum::<i64>()
            + self.departed.iter().map(|d| d.bytes).sum::<i64>()
    }
}

// ====================================================================== purge

/// What `govmail purge` looks for. Every given criterion must match.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PurgeCriteria {
    /// A From/Sender address (case-insensitive), or `@domain` for every sender of a domain.
    pub from: Option<String>,
    /// Case-insensitive substring of the decoded Subject.
    pub subject: Option<String>,
    /// Message-ID, with or without angle brackets.
    pub message_id: Option<String>,
    /// Only messages with an internal date at or after this time.
    pub since: Option<i64>,
}

/// One message found by a purge.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PurgeMatch {
    pub message_row: i64,
    pub account_id: i64,
    pub address: String,
    pub folder_id: i64,
    pub folder: String,
    pub uid: i64,
    pub internal_date: i64,
    pub size: i64,
    pub from: String,
    pub subject: String,
    pub message_id: String,
}

// ====================================================================== backup

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
}

impl Default for BackupOptions {
    fn default() -> Self {
        BackupOptions {
            rehash_existing: true,
            pg_dump: "pg_dump".into(),
            pg_url: String::new(),
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
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.database_ok
            && self.missing.is_empty()
            && self.corrupt.is_empty()
            && self.unlisted.is_empty()
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RestoreSummary {
    pub data_dir: PathBuf,
    /// The restored SQLite file (None for a pg_dump backup).
    pub database: Option<PathBuf>,
    pub blobs: u64,
    pub bytes: u64,
    /// For a pg_dump backup: the command that restores the database.
    pub pg_restore_hint: Option<String>,
}

/// Progress of a long operation: (phase, done, total).
pub type Progress<'a> = &'a mut (dyn FnMut(&str, u64, u64) + Send);

/// A progress callback that reports nothing.
pub fn no_progress(_: &str, _: u64, _: u64) {}

pub const MANIFEST: &str = "manifest.json";
const MANIFEST_FORMAT: u32 = 1;

// ====================================================================== helpers

type Tx = sqlx::Transaction<'static, sqlx::Any>;

fn flag_set_has(flags: &str, flag: &str) -> bool {
    flags
        .split_whitespace()
        .any(|f| f.eq_ignore_ascii_case(flag))
}

/// Only the envelope of a stored parse (the rest of the JSON is skipped).
#[derive(Deserialize, Default)]
struct EnvelopeOnly {
    #[serde(default)]
    envelope: Envelope,
}

fn envelope_of(meta_json: &str) -> Envelope {
    serde_json::from_str::<EnvelopeOnly>(meta_json)
        .map(|e| e.envelope)
        .unwrap_or_default()
}

fn first_from(envelope: &Envelope) -> String {
    envelope
        .from
        .iter()
        .chain(envelope.sender.iter())
        .find_map(|a| a.address.clone())
        .unwrap_or_default()
}

fn trim_angles(id: &str) -> &str {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
}

fn io_other(message: impl Into<String>) -> Error {
    Error::Io(std::io::Error::other(message.into()))
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
fn copy_hashed(from: &Path, to: &Path) -> std::io::Result<(String, u64)> {
    let parent = to.parent().expect("destination has a parent");
    std::fs::create_dir_all(parent)?;
    let tmp = parent.join(format!(
        ".{}.{}.tmp",
        to.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut src = std::fs::File::open(from)?;
        let mut dst = std::fs::File::create(&tmp)?;
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

fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn blob_rel_path(id: &str) -> PathBuf {
    PathBuf::from(&id[..2.min(id.len())]).join(id)
}

fn is_blob_id(name: &str) -> bool {
    name.len() == 64
        && name
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Every blob file (by id) under a `<2 hex>/<id>` directory tree.
fn blob_files_in(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
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

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T> {
    Ok(tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| io_other(e.to_string()))??)
}

/// Opens a SQLite file directly (snapshots in backups; read-only unless `write`).
async fn open_sqlite_file(path: &Path, write: bool) -> Result<sqlx::SqliteConnection> {
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

/// The shared/exclusive lock between blob GC and backups (files store only).
struct GcFileLock(std::fs::File);

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
    fn shared(dir: &Path) -> std::io::Result<GcFileLock> {
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

// ====================================================================== Store operations

impl Store {
    fn flow_key(&self) -> usize {
        Arc::as_ptr(&self.gc_lock) as *const () as usize
    }

    // ----- counters -----

    /// Counts an accepted message for the usage report. Cheap and synchronous: counts are
    /// buffered in memory and written in one transaction a few seconds later (and by
    /// [`Store::flush_mail_flow`], which `serve` calls at shutdown).
    pub fn note_delivery(&self, note: DeliveryNote) {
        self.note_delivery_at(now(), note)
    }

    /// [`Store::note_delivery`] for a delivery at time `at` (imports of old counts, tests).
    pub fn note_delivery_at(&self, at: i64, note: DeliveryNote) {
        let day = local_day(at, local_offset());
        let key = self.flow_key();
        let schedule = {
            let mut all = FLOW.lock().expect("flow lock");
            let buffer = all.entry(key).or_default();
            let mut add = |account: i64, kind: &'static str| {
                let entry = buffer.counts.entry((day, account, kind)).or_default();
                entry.0 += 1;
                entry.1 += note.bytes;
            };
            let internal = note.sender_account.is_some();
            for &account in &note.recipient_accounts {
                add(
                    account,
                    if internal {
                        "received_internal"
                    } else {
                        "received_external"
                    },
                );
                if note.junk {
                    add(account, "received_junk");
                }
            }
            if let Some(sender) = note.sender_account {
                add(
                    sender,
                    if note.remote_recipients == 0 {
                        "sent_internal"
                    } else {
                        "sent_external"
                    },
                );
            }
            !std::mem::replace(&mut buffer.flush_scheduled, true)
        };
        if schedule {
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    let store = self.clone();
                    handle.spawn(async move {
                        tokio::time::sleep(FLOW_FLUSH_DELAY).await;
                        if let Err(e) = store.flush_mail_flow().await {
                            tracing::warn!(error = %e, "writing message counters failed");
                        }
                    });
                }
                Err(_) => {
                    // No runtime: the next flush_mail_flow writes them.
                    if let Some(buffer) = FLOW.lock().expect("flow lock").get_mut(&key) {
                        buffer.flush_scheduled = false;
                    }
                }
            }
        }
    }

    /// Writes buffered message counters now (one transaction).
    pub async fn flush_mail_flow(&self) -> Result<()> {
        let key = self.flow_key();
        let counts = {
            let mut all = FLOW.lock().expect("flow lock");
            match all.get_mut(&key) {
                Some(buffer) => {
                    buffer.flush_scheduled = false;
                    std::mem::take(&mut buffer.counts)
                }
                None => return Ok(()),
            }
        };
        if counts.is_empty() {
            return Ok(());
        }
        let result = async {
            let mut tx = self.begin_write().await?;
            for ((day, account, kind), (messages, bytes)) in &counts {
                sqlx::query(
                    "INSERT INTO mail_flow (day, account_id, kind, messages, bytes) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (day, account_id, kind) DO UPDATE \
                     SET messages = mail_flow.messages + $4, bytes = mail_flow.bytes + $5",
                )
                .bind(*day)
                .bind(*account)
                .bind(kind.to_string())
                .bind(*messages)
                .bind(*bytes)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, Error>(())
        }
        .await;
        if let Err(e) = result {
            if !self.pool.is_closed() {
                // Put them back for the next flush.
                let mut all = FLOW.lock().expect("flow lock");
                let buffer = all.entry(key).or_default();
                for (k, (m, b)) in counts {
                    let entry = buffer.counts.entry(k).or_default();
                    entry.0 += m;
                    entry.1 += b;
                }
            }
            return Err(e);
        }
        Ok(())
    }

    /// Counter rows for local days `from_day..=to_day` (YYYYMMDD).
    pub async fn mail_flow(&self, from_day: i64, to_day: i64) -> Result<Vec<FlowRow>> {
        let rows = sqlx::query(
            "SELECT day, account_id, kind, messages, bytes FROM mail_flow \
             WHERE day >= $1 AND day <= $2 ORDER BY day, account_id, kind",
        )
        .bind(from_day)
        .bind(to_day)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| FlowRow {
                day: r.get(0),
                account_id: r.get(1),
                kind: r.get(2),
                messages: r.get(3),
                bytes: r.get(4),
            })
            .collect())
    }

    // ----- events -----

    /// Appends an event with a given time (imports, tests; normal code uses `log_event`).
    pub async fn log_event_at(
        &self,
        at: i64,
        actor: &str,
        action: &str,
        target: &str,
        doc_ref: &str,
        detail: serde_json::Value,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO events (at, actor, action, target, doc_ref, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(at)
        .bind(actor.to_string())
        .bind(action.to_string())
        .bind(target.to_string())
        .bind(doc_ref.to_string())
        .bind(detail.to_string())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn log_events_in(
        tx: &mut Tx,
        actor: &str,
        action: &str,
        doc_ref: &str,
        events: &[(String, serde_json::Value)],
    ) -> Result<()> {
        let at = now();
        for (target, detail) in events {
            sqlx::query(
                "INSERT INTO events (at, actor, action, target, doc_ref, detail) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(at)
            .bind(actor.to_string())
            .bind(action.to_string())
            .bind(target.clone())
            .bind(doc_ref.to_string())
            .bind(detail.to_string())
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Events with exactly this action and `from <= at < to`, oldest first.
    pub async fn events_between(&self, action: &str, from: i64, to: i64) -> Result<Vec<Event>> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, target, doc_ref, detail FROM events \
             WHERE action = $1 AND at >= $2 AND at < $3 ORDER BY at, id",
        )
        .bind(action.to_string())
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(crate::events::event_from_row).collect())
    }

    // ----- directory as the reports see it -----

    /// Every account with its unit.
    pub async fn ops_accounts(&self) -> Result<Vec<OpsAccount>> {
        let rows = sqlx::query(
            "SELECT a.id, a.kind, a.address, a.display_name, a.status, a.created_at, a.departed_at, \
               a.used_bytes, a.quota_bytes, \
               COALESCE(uo.abbrev, up.abbrev), COALESCE(uo.name, up.name) \
             FROM accounts a \
             LEFT JOIN units uo ON uo.account_id = a.id \
             LEFT JOIN persons p ON p.account_id = a.id \
             LEFT JOIN units up ON up.id = p.unit_id \
             ORDER BY a.address",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| OpsAccount {
                account_id: r.get(0),
                kind: r.get(1),
                address: r.get(2),
                display_name: r.get(3),
                status: r.get(4),
                created_at: r.get(5),
                departed_at: r.get(6),
                used_bytes: r.get(7),
                quota_bytes: r.get(8),
                unit_abbrev: r.get(9),
                unit_name: r.get(10),
            })
            .collect())
    }

    /// Every deliverable address of an account (primary and aliases, expired or not) →
    /// account id, to attribute logged recipients to accounts.
    pub async fn address_owners(&self) -> Result<HashMap<String, i64>> {
        let rows =
            sqlx::query("SELECT address, account_id FROM addresses WHERE account_id IS NOT NULL")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
            .collect())
    }

    /// Messages without `\Seen` in an account's folders other than Sent, Drafts, Trash and
    /// Junk, with `from <= internal_date < to`.
    pub async fn unread_messages(
        &self,
        account_id: i64,
        from: i64,
        to: i64,
    ) -> Result<Vec<UnreadMessage>> {
        // ESCAPE '!': PostgreSQL's LIKE takes a backslash as its escape character by default.
        let rows = sqlx::query(
            "SELECT f.name, f.special_use, m.uid, m.internal_date, m.flags, m.meta \
             FROM messages m JOIN folders f ON f.id = m.folder_id \
             WHERE f.account_id = $1 AND m.internal_date >= $2 AND m.internal_date < $3 \
               AND (' ' || m.flags || ' ') NOT LIKE '% \\Seen %' ESCAPE '!' \
             ORDER BY m.internal_date, f.name, m.uid",
        )
        .bind(account_id)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        let skip = ["\\Sent", "\\Drafts", "\\Trash", "\\Junk"];
        let mut out = vec![];
        for r in &rows {
            let special: Option<String> = r.get(1);
            if special
                .as_deref()
                .is_some_and(|s| skip.iter().any(|k| k.eq_ignore_ascii_case(s)))
            {
                continue;
            }
            let flags: String = r.get(4);
            if flag_set_has(&flags, "\\Seen") || flag_set_has(&flags, "\\Deleted") {
                continue;
            }
            let envelope = envelope_of(&r.get::<String, _>(5));
            out.push(UnreadMessage {
                folder: r.get(0),
                uid: r.get(2),
                internal_date: r.get(3),
                from: first_from(&envelope),
                subject: envelope.subject.clone().unwrap_or_default(),
            });
        }
        Ok(out)
    }

    // ----- folders and removal -----

    /// Every folder with its owner and the owner's unit.
    pub async fn ops_folders(&self) -> Result<Vec<OpsFolder>> {
        let rows = sqlx::query(
            "SELECT f.id, f.account_id, a.address, f.name, f.special_use, \
               COALESCE(uo.abbrev, up.abbrev) \
             FROM folders f JOIN accounts a ON a.id = f.account_id \
             LEFT JOIN units uo ON uo.account_id = a.id \
             LEFT JOIN persons p ON p.account_id = a.id \
             LEFT JOIN units up ON up.id = p.unit_id \
             ORDER BY a.address, f.name",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| OpsFolder {
                folder_id: r.get(0),
                account_id: r.get(1),
                address: r.get(2),
                name: r.get(3),
                special_use: r.get(4),
                unit_abbrev: r.get(5),
            })
            .collect())
    }

    /// Messages of a folder with an internal date before `cutoff`, in UID order.
    pub async fn messages_older_than(
        &self,
        folder_id: i64,
        cutoff: i64,
    ) -> Result<Vec<MessageRow>> {
        let rows = sqlx::query(
            "SELECT id, folder_id, uid, modseq, flags, internal_date, size, blob_id \
             FROM messages WHERE folder_id = $1 AND internal_date < $2 ORDER BY uid",
        )
        .bind(folder_id)
        .bind(cutoff)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(crate::mailbox::message_from_row).collect())
    }

    /// Removes messages by UID the way an IMAP client does (`\Deleted`, then UID EXPUNGE of
    /// exactly those): quota usage, blob references, the VANISHED log and HIGHESTMODSEQ move
    /// with them, and open sessions are told. Returns the UIDs removed.
    pub async fn remove_messages(&self, folder_id: i64, uids: &[i64]) -> Result<Vec<i64>> {
        let mut removed = vec![];
        for chunk in uids.chunks(500) {
            // Flag and expunge in one transaction: never a \Deleted flag left behind alone.
            let chunk = chunk.to_vec();
            let (account_id, gone) = self
                .write(move |tx| {
                    Box::pin(async move {
                        let deleted = vec!["\\Deleted".to_string()];
                        Self::store_flags_in(
                            tx,
                            folder_id,
                            chunk.clone(),
                            FlagChange::Add,
                            deleted,
                            None,
                        )
                        .await?;
                        Self::expunge_in(tx, folder_id, Some(chunk)).await
                    })
                })
                .await?;
            if !gone.is_empty() {
                self.changed(account_id, folder_id);
            }
            removed.extend(gone);
        }
        Ok(removed)
    }

    // ----- retention -----

    /// Applies (or, with `dry_run`, lists) the retention policy at time `at`: expired messages
    /// of ruled folders, mail and credentials of departed accounts past their hold period,
    /// then blob GC.
    pub async fn retention(
        &self,
        policy: &RetentionPolicy,
        at: i64,
        dry_run: bool,
    ) -> Result<RetentionReport> {
        let mut report = RetentionReport {
            dry_run,
            at,
            ..Default::default()
        };
        let folders = self.ops_folders().await?;
        let accounts = self.ops_accounts().await?;
        let departed_cutoff = at - policy.departed_hold_days * 86_400;
        let departed: BTreeMap<i64, &OpsAccount> = accounts
            .iter()
            .filter(|a| {
                policy.departed_hold_days > 0
                    && a.status == "departed"
                    && a.departed_at.is_some_and(|d| d <= departed_cutoff)
            })
            .map(|a| (a.account_id, a))
            .collect();
        let mut by_account: BTreeMap<i64, Vec<&OpsFolder>> = BTreeMap::new();
        for folder in &folders {
            by_account
                .entry(folder.account_id)
                .or_default()
                .push(folder);
        }
        for (account_id, account_folders) in &by_account {
            if departed.contains_key(account_id) {
                continue; // everything goes below
            }
            for folder in account_folders {
                let Some(days) = rule_for(policy, folder, account_folders) else {
                    continue;
                };
                if days <= 0 {
                    continue;
                }
                let cutoff = at - days * 86_400;
                let victims = self.messages_older_than(folder.folder_id, cutoff).await?;
                if victims.is_empty() {
                    continue;
                }
                let (messages, bytes) = if dry_run {
                    (victims.len() as u64, victims.iter().map(|m| m.size).sum())
                } else {
                    let uids: Vec<i64> = victims.iter().map(|m| m.uid).collect();
                    let removed: BTreeSet<i64> = self
                        .remove_messages(folder.folder_id, &uids)
                        .await?
                        .into_iter()
                        .collect();
                    let bytes = victims
                        .iter()
                        .filter(|m| removed.contains(&m.uid))
                        .map(|m| m.size)
                        .sum();
                    (removed.len() as u64, bytes)
                };
                if messages == 0 {
                    continue;
                }
                report.expired.push(ExpiredFolder {
                    address: folder.address.clone(),
                    folder: folder.name.clone(),
                    days,
                    messages,
                    bytes,
                });
            }
        }
        for (account_id, account) in &departed {
            let purge = self
                .purge_account_mail(*account_id, &account.address, dry_run)
                .await?;
            if purge.messages > 0 || purge.credential_removed {
                report.departed.push(DepartedPurge {
                    departed_at: account.departed_at.unwrap_or_default(),
                    ..purge
                });
            }
        }
        if !dry_run {
            let mut tx = self.begin_write().await?;
            let mut events: Vec<(String, serde_json::Value)> = report
                .expired
                .iter()
                .map(|e| {
                    (
                        e.address.clone(),
                        serde_json::json!({"folder": e.folder, "days": e.days,
                            "messages": e.messages, "bytes": e.bytes}),
                    )
                })
                .collect();
            Self::log_events_in(&mut tx, "retention", "retention.expire", "", &events).await?;
            events = report
                .departed
                .iter()
                .map(|d| {
                    (
                        d.address.clone(),
                        serde_json::json!({"departed_at": d.departed_at, "messages": d.messages,
                            "bytes": d.bytes, "credential_removed": d.credential_removed}),
                    )
                })
                .collect();
            Self::log_events_in(&mut tx, "retention", "retention.departed", "", &events).await?;
            tx.commit().await?;
            match self.gc_blobs_guarded(policy.gc_min_age_secs).await? {
                Some(n) => report.blobs = n,
                None => report.gc_postponed = true,
            }
        } else {
            report.blobs = self.gc_candidates(policy.gc_min_age_secs).await?;
        }
        Ok(report)
    }

    /// Removes every message of an account and its credential (departed, hold period over).
    async fn purge_account_mail(
        &self,
        account_id: i64,
        address: &str,
        dry_run: bool,
    ) -> Result<DepartedPurge> {
        let mut messages = 0u64;
        let mut bytes = 0i64;
        for folder in self.folders(account_id).await? {
            let rows = self.messages(folder.id).await?;
            if rows.is_empty() {
                continue;
            }
            if dry_run {
                messages += rows.len() as u64;
                bytes += rows.iter().map(|m| m.size).sum::<i64>();
            } else {
                let uids: Vec<i64> = rows.iter().map(|m| m.uid).collect();
                let removed: BTreeSet<i64> = self
                    .remove_messages(folder.id, &uids)
                    .await?
                    .into_iter()
                    .collect();
                messages += removed.len() as u64;
                bytes += rows
                    .iter()
                    .filter(|m| removed.contains(&m.uid))
                    .map(|m| m.size)
                    .sum::<i64>();
            }
        }
        let has_credential: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM credentials WHERE account_id = $1")
                .bind(account_id)
                .fetch_one(&self.pool)
                .await?;
        if !dry_run && has_credential > 0 {
            let mut tx = self.begin_write().await?;
            for sql in [
                "DELETE FROM credentials WHERE account_id = $1",
                "DELETE FROM credential_history WHERE account_id = $1",
                "DELETE FROM group_members WHERE account_id = $1",
            ] {
                sqlx::query(sql).bind(account_id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }
        Ok(DepartedPurge {
            address: address.to_string(),
            departed_at: 0,
            messages,
            bytes,
            credential_removed: has_credential > 0,
        })
    }

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

    // ----- purge -----

    /// Finds the messages matching `criteria` in every mailbox.
    pub async fn purge_find(&self, criteria: &PurgeCriteria) -> Result<Vec<PurgeMatch>> {
        if criteria.from.is_none() && criteria.subject.is_none() && criteria.message_id.is_none() {
            return Err(Error::Invalid(
                "give at least one of --from, --subject, --message-id".into(),
            ));
        }
        let from = criteria
            .from
            .as_deref()
            .map(|f| f.trim().to_lowercase())
            .filter(|f| !f.is_empty());
        let subject = criteria
            .subject
            .as_deref()
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty());
        let message_id = criteria
            .message_id
            .as_deref()
            .map(|m| trim_angles(m).to_string())
            .filter(|m| !m.is_empty());
        // A prefilter in SQL (a superset: LIKE wildcards in the needle only widen it); the
        // exact test is done on the parsed envelope below.
        let simple = |s: &str| {
            s.is_ascii() && !s.contains(['"', '\\', '\'']) && !s.chars().any(|c| c.is_control())
        };
        let prefilter = match (&message_id, &from) {
            (Some(id), _) if simple(id) => format!("%{}%", id.to_lowercase()),
            (_, Some(f)) if simple(f) => format!("%{f}%"),
            _ => String::new(),
        };
        let since = criteria.since.unwrap_or(i64::MIN);
        let mut out = vec![];
        let mut after = 0i64;
        loop {
            let rows = sqlx::query(
                "SELECT m.id, f.account_id, a.address, m.folder_id, f.name, m.uid, \
                   m.internal_date, m.size, m.meta \
                 FROM messages m JOIN folders f ON f.id = m.folder_id \
                 JOIN accounts a ON a.id = f.account_id \
                 WHERE m.id > $1 AND m.internal_date >= $2 \
                   AND ($3 = '' OR LOWER(m.meta) LIKE $3) \
                 ORDER BY m.id LIMIT 500",
            )
            .bind(after)
            .bind(since)
            .bind(prefilter.clone())
            .fetch_all(&self.pool)
            .await?;
            let Some(last) = rows.last() else { break };
            after = last.get(0);
            for r in &rows {
                let envelope = envelope_of(&r.get::<String, _>(8));
                if let Some(want) = &from {
                    let hit = envelope
                        .from
                        .iter()
                        .chain(envelope.sender.iter())
                        .filter_map(|a| a.address.as_deref())
                        .map(|a| a.trim().to_lowercase())
                        .any(|a| {
                            if want.starts_with('@') {
                                a.ends_with(want.as_str())
                            } else {
                                a == *want
                            }
                        });
                    if !hit {
                        continue;
                    }
                }
                if let Some(want) = &subject {
                    let hit = envelope
                        .subject
                        .as_deref()
                        .is_some_and(|s| s.to_lowercase().contains(want.as_str()));
                    if !hit {
                        continue;
                    }
                }
                if let Some(want) = &message_id {
                    let hit = envelope
                        .message_id
                        .as_deref()
                        .is_some_and(|m| trim_angles(m) == want);
                    if !hit {
                        continue;
                    }
                }
                out.push(PurgeMatch {
                    message_row: r.get(0),
                    account_id: r.get(1),
                    address: r.get(2),
                    folder_id: r.get(3),
                    folder: r.get(4),
                    uid: r.get(5),
                    internal_date: r.get(6),
                    size: r.get(7),
                    from: first_from(&envelope),
                    subject: envelope.subject.clone().unwrap_or_default(),
                    message_id: envelope.message_id.clone().unwrap_or_default(),
                });
            }
        }
        Ok(out)
    }

    /// Removes purge matches, recording each removal in the audit log (action
    /// `purge.message`, target the mailbox address). Returns how many were removed (a message
    /// expunged meanwhile by its owner is not counted).
    pub async fn purge_remove(
        &self,
        matches: &[PurgeMatch],
        criteria: &PurgeCriteria,
        actor: &str,
        doc_ref: &str,
        progress: Progress<'_>,
    ) -> Result<u64> {
        let mut by_folder: BTreeMap<i64, Vec<&PurgeMatch>> = BTreeMap::new();
        for m in matches {
            by_folder.entry(m.folder_id).or_default().push(m);
        }
        let total = matches.len() as u64;
        let mut done = 0u64;
        let mut removed_count = 0u64;
        let criteria_json = serde_json::to_value(criteria).unwrap_or_default();
        for (folder_id, items) in by_folder {
            let uids: Vec<i64> = items.iter().map(|m| m.uid).collect();
            let removed: BTreeSet<i64> = self
                .remove_messages(folder_id, &uids)
                .await?
                .into_iter()
                .collect();
            let events: Vec<(String, serde_json::Value)> = items
                .iter()
                .filter(|m| removed.contains(&m.uid))
                .map(|m| {
                    (
                        m.address.clone(),
                        serde_json::json!({"folder": m.folder, "uid": m.uid, "size": m.size,
                            "internal_date": m.internal_date, "from": m.from,
                            "subject": m.subject, "message_id": m.message_id,
                            "criteria": criteria_json}),
                    )
                })
                .collect();
            let mut tx = self.begin_write().await?;
            Self::log_events_in(&mut tx, actor, "purge.message", doc_ref, &events).await?;
            tx.commit().await?;
            removed_count += events.len() as u64;
            done += items.len() as u64;
            progress("purge", done, total);
        }
        Ok(removed_count)
    }

    // ----- backup -----

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

/// Which folder rule applies to a folder (unit rules first, then general ones; a folder
/// without a rule of its own follows its nearest ruled parent, e.g. `Trash/Old`).
fn rule_for(policy: &RetentionPolicy, folder: &OpsFolder, siblings: &[&OpsFolder]) -> Option<i64> {
    let unit_rules = folder
        .unit_abbrev
        .as_deref()
        .and_then(|u| policy.unit_rules.get(&u.to_uppercase()));
    let mut path = folder.name.clone();
    loop {
        let special = siblings
            .iter()
            .find(|f| f.name == path)
            .and_then(|f| f.special_use.clone());
        let matches = |rule: &FolderRule| match &rule.folder {
            FolderMatch::SpecialUse(flag) => {
                special
                    .as_deref()
                    .is_some_and(|s| s.eq_ignore_ascii_case(flag))
                    || (special.is_none()
                        && path.eq_ignore_ascii_case(flag.trim_start_matches('\\')))
            }
            FolderMatch::Name(name) => path == *name,
        };
        if let Some(rule) = unit_rules.and_then(|rules| rules.iter().find(|r| matches(r))) {
            return Some(rule.days);
        }
        if let Some(rule) = policy.rules.iter().find(|r| matches(r)) {
            return Some(rule.days);
        }
        match path.rsplit_once('/') {
            Some((parent, _)) => path = parent.to_string(),
            None => return None,
        }
    }
}

/// Message count and the referenced blob files (id → size) of a SQLite snapshot.
async fn snapshot_contents(path: &Path) -> Result<(i64, BTreeMap<String, u64>)> {
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
    if let Some(bad) = manifest.blobs.iter().find(|b| !is_blob_id(&b.id)) {
        return Err(Error::Invalid(format!(
            "{}: bad blob id {:?}",
            path.display(),
            bad.id
        )));
    }
    Ok(manifest)
}

/// Re-hashes the database file and every blob of a backup; for SQLite backups also runs
/// `PRAGMA integrity_check` and checks that every blob the database refers to is listed.
pub async fn verify_backup(dir: &Path, progress: Progress<'_>) -> Result<VerifyReport> {
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
        let outcome = blocking(move || match hash_file(&path) {
            Ok(found) => Ok(Some(found)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        })
        .await?;
        match outcome {
            None => report.missing.push(blob.id.clone()),
            Some((sha, len)) if sha == blob.id && len == blob.size => report.blobs_ok += 1,
            Some(_) => report.corrupt.push(blob.id.clone()),
        }
        progress("blobs", i as u64 + 1, total);
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

    #[test]
    fn local_days() {
        // 2026-01-01 00:30 in UTC+7 is 2025-12-31 17:30 UTC.
        let at = 1_767_202_200;
        assert_eq!(local_day(at, 7 * 3600), 20260101);
        assert_eq!(local_day(at, 0), 20251231);
    }
}
