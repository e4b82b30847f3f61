//! Storage: the only crate that contains SQL.
//!
//! One API over two backends chosen by the URL: SQLite (embedded default) and PostgreSQL.
//! Both are driven through sqlx's `Any` driver with portable SQL (`$1` placeholders, `RETURNING`,
//! `ON CONFLICT`), so every query is written once and every test runs against both.
//!
//! - [`blob`]: content-addressed message bodies (files under `data_dir`, or rows in the database).
//! - [`directory`]: domains, units, persons, addresses, aliases, groups, credentials.
//! - [`lifecycle`]: transfers, departures, unit heads and delegates, session epochs.
//! - [`mail`]: folders and messages, delivery with exact quota accounting.
//! - [`mailbox`]: IMAP operations: flags/MODSEQ, expunge, copy/move, append, rename.
//! - [`meta`]: the parse of a message that IMAP needs, computed once at delivery.
//! - [`multiappend`]: APPEND of several messages as one unit (RFC 3502).
//! - [`objects`]: EMAILIDs and save dates (RFC 8474, RFC 8514).
//! - [`events`]: the audit/event log.
//! - [`queue`]: the durable outbound queue.
//! - [`sort_record`]: what IMAP SORT/THREAD read of a message, stored once per blob.
//! - [`sieve`]: Sieve scripts of a mailbox and the vacation replies sent.
//!
//! Implementation notes:
//! - Write transactions on SQLite start with `BEGIN IMMEDIATE`, so a transaction that reads and
//!   then writes never fails half-way with SQLITE_BUSY; the busy timeout covers other processes
//!   (the admin CLI works on the same file while the server runs).
//! - SQLite runs with `journal_mode=WAL` and `synchronous=FULL`: a commit returns only after the
//!   WAL is fsync'd, so an acknowledged commit survives power loss.
//! - Blob files are written and fsync'd (file and directory) before the transaction that refers
//!   to them commits.

pub mod action;
pub mod address_book;
pub mod blob;
pub mod cluster;
mod conn;
pub mod delivery_key;
mod direct;
pub mod directory;
mod doc_set;
pub mod events;
pub mod extract;
pub mod flags;
mod folder_accounts;
pub mod folders;
pub mod forwards;
pub mod import_progress;
pub mod lifecycle;
pub mod listing;
pub mod mail;
pub mod mailbox;
pub mod meta;
pub mod meta_cache;
pub mod multiappend;
pub mod objects;
pub mod ops;
pub mod parse_view;
pub mod queue;
mod search_cursor;
mod search_docs;
pub mod search_index;
pub mod search_settle;
pub mod sieve;
pub mod sort_record;
pub mod spam;
pub mod stats;
pub mod subscriptions;
mod writer;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use action::Action;
pub use address_book::{AddressBook, BookPerson};
pub use blob::{BlobReader, BlobStore};
pub use cluster::{ClusterEvent, Fanout};
pub use directory::*;

/// The one transaction type every storage module writes through.
pub(crate) type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// The VALUES list of a multi-row statement: `rows` tuples of `width` placeholders numbered
/// from `$1` in order, e.g. `($1, $2), ($3, $4)`.
pub(crate) fn value_rows(rows: usize, width: usize) -> String {
    let tuple = |i: usize| {
        let places: Vec<String> = (1..=width).map(|k| format!("${}", i * width + k)).collect();
        format!("({})", places.join(", "))
    };
    (0..rows).map(tuple).collect::<Vec<_>>().join(", ")
}
pub use events::{Event, NewEvent};
pub use flags::{FlagChange, Flags};
pub use forwards::Forward;
pub use import_progress::{ImportKey, ImportMark, ImportMessage, ImportPlace};
pub use lifecycle::{
    BulkHire, BulkHireError, Grant, UnitAccess, RIGHTS_HANDLE, RIGHTS_HEAD, RIGHTS_READ,
};
pub use mail::*;
pub use mailbox::{apply_flags, FolderCounts};
pub use meta::MessageMeta;
pub use multiappend::NewMessage;
pub use objects::MessageExtra;
pub use queue::{OutboundEnvelope, OutboundRecipient, QueueEntry};
pub use search_index::IndexProgress;
pub use sieve::SieveScript;
pub use sort_record::{SortAddr, SortRecord};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// What went wrong, in the caller's terms.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    AlreadyExists(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("over quota")]
    OverQuota,
    #[error("unsupported storage url {0:?} (use sqlite://PATH or postgres://...)")]
    BadUrl(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(
        "the database schema is at migration {database}, newer than this build knows (up to \
         {known}): run a govmail release that has migration {database} (a node never runs \
         against a schema from the future)"
    )]
    SchemaTooNew { database: i64, known: i64 },
    #[error("no database host takes writes: {0}")]
    NoWritableHost(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Error {
    /// True when the failure is worth retrying later (lock contention, connection loss, no
    /// database host taking writes during a failover).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Database(_) | Error::Io(_) | Error::NoWritableHost(_)
        )
    }

    /// True when the disk (or the database's) is full: SQLite's SQLITE_FULL (13),
    /// PostgreSQL's `53100 disk_full`, or ENOSPC/EDQUOT writing a blob.
    pub fn is_storage_full(&self) -> bool {
        fn io_full(e: &std::io::Error) -> bool {
            matches!(
                e.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ) || matches!(e.raw_os_error(), Some(28 | 122))
        }
        match self {
            Error::Io(e) => io_full(e),
            Error::Database(sqlx::Error::Io(e)) => io_full(e),
            Error::Database(sqlx::Error::Database(db)) => {
                let code = db.code();
                let code = code.as_deref().unwrap_or("");
                // SQLite reports extended result codes; the primary code is the low byte.
                code == "53100"
                    || code.parse::<i32>().is_ok_and(|c| c & 0xff == 13)
                    || db.message().contains("database or disk is full")
            }
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which SQL engine is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Options for [`Store::open`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://PATH` or `postgres://user:pass@host:port/db`.
    pub url: String,
    /// Where blob files live when the blob store is `files`.
    pub data_dir: PathBuf,
    /// `files` (default for SQLite) or `database` (default for PostgreSQL).
    pub blob_store: Option<String>,
    /// Read connections; 0 = chosen for the backend (`read_connections`).
    pub max_connections: u32,
    /// With the `files` store, bodies up to this size are kept in the database instead (one
    /// fsync for a whole group commit instead of two per message). 0 = always files.
    pub inline_blob_max: usize,
    /// Apply pending migrations on open.
    pub migrate: bool,
    /// Memory for message parses read from the database (ENVELOPE, BODYSTRUCTURE, SEARCH),
    /// in bytes of their stored form.
    pub meta_cache_bytes: usize,
    /// Offset of local time from UTC in seconds: the calendar day mail-flow counters are
    /// bucketed by. Default +07:00 (Vietnam); the binary sets it from `reports.utc_offset`.
    pub utc_offset_secs: i32,
    /// Keep the full-text index (issue 13) at delivery and APPEND. Off: nothing is indexed and
    /// SEARCH reads every message (for small installations, and to measure what indexing costs).
    pub full_text_index: bool,
}

impl StoreOptions {
    pub fn new(url: impl Into<String>, data_dir: impl Into<PathBuf>) -> Self {
        StoreOptions {
            url: url.into(),
            data_dir: data_dir.into(),
            blob_store: None,
            max_connections: 0,
            inline_blob_max: 128 * 1024,
            migrate: true,
            meta_cache_bytes: 64 << 20,
            utc_offset_secs: 7 * 3600,
            full_text_index: true,
        }
    }
}

/// The handle every other crate uses. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    /// SQLite: small reads on the calling thread (see `direct`); None on PostgreSQL.
    pub(crate) direct: Option<std::sync::Arc<direct::DirectPool>>,
    /// Where writes go. SQLite: a pool of one connection, so writers queue in order in the
    /// process (an async wait) instead of polling SQLite's lock with sleeps; reads stay on
    /// `pool` and never wait for writers (WAL). PostgreSQL: the same pool.
    pub(crate) writer: AnyPool,
    pub(crate) backend: Backend,
    pub(crate) blobs: BlobStore,
    /// Deliveries hold it shared from blob write to commit; blob GC holds it exclusively, so GC
    /// never removes a file that a delivery is about to refer to.
    pub(crate) gc_lock: std::sync::Arc<tokio::sync::RwLock<()>>,
    /// Deliveries waiting for the group-commit task.
    pub(crate) committer: tokio::sync::mpsc::UnboundedSender<mail::CommitJob>,
    pub(crate) changes: tokio::sync::broadcast::Sender<FolderChange>,
    /// Parses read from the `meta` column, by message id.
    pub(crate) metas: std::sync::Arc<meta_cache::MetaCache>,
    /// Folder listings shared by sessions (see `listing`).
    pub(crate) listings: std::sync::Arc<listing::ListingCache>,
    /// Changes made by other processes may show up to `listing::RECHECK` late (see
    /// [`Store::trusting_announced_changes`]).
    pub(crate) announced_only: bool,
    pub(crate) folder_accounts: std::sync::Arc<folder_accounts::FolderAccounts>,
    /// Mailbox openings recorded this minute (see [`Store::record_mailbox_open`]).
    pub(crate) opens: std::sync::Arc<events::OpenStamps>,
    /// Sort records read or computed, by message id (see `sort_record`).
    pub(crate) sort_cache: std::sync::Arc<sort_record::SortCache>,
    /// Which messages of a folder are known indexed (`search_index`).
    pub(crate) search_seen: std::sync::Arc<search_cursor::SeenIndexed>,
    /// `search_cursors` exists (migration 0018; not on an older schema with `migrate = false`).
    pub(crate) search_cursors: bool,
    /// `messages.doc` exists (migration 0019; see `search_index`).
    pub(crate) message_docs: bool,
    /// Small writes waiting for the group-commit writer (see `writer`).
    pub(crate) writes: writer::WriteQueue,
    /// Message counters not yet written (see `ops::flow`), shared by every clone.
    pub(crate) flow: std::sync::Arc<ops::FlowCounters>,
    /// See [`StoreOptions::utc_offset_secs`].
    pub(crate) local_offset: i32,
    /// See [`StoreOptions::full_text_index`].
    pub(crate) full_text_index: bool,
    /// Change fan-out across nodes and the database host list (see `cluster`).
    pub(crate) cluster: cluster::SharedCluster,
}

/// Current time as Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn backend_of(url: &str) -> Result<Backend> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(Error::BadUrl(url.to_string()))
    }
}

/// The SQLite file a `sqlite://` URL names, if any (`sqlite::memory:` has none).
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or("");
    if path.is_empty() || path.starts_with(":memory:") {
        None
    } else {
        Some(PathBuf::from(path))
    }
}

impl Store {
    /// Connects, configures the engine for durability, and (by default) applies migrations.
    pub async fn open(options: &StoreOptions) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = backend_of(&options.url)?;
        let mut url = options.url.clone();
        if backend == Backend::Sqlite {
            if let Some(path) = sqlite_path(&url) {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)?;
                }
            }
            if !url.contains("mode=") {
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str("mode=rwc");
            }
        }
        // PostgreSQL: a multi-host URL becomes one-host URLs; the first host that answers (and
        // takes writes, with target_session_attrs=read-write) is used (see `cluster`).
        let (hosts, read_write) = match backend {
            Backend::Postgres => cluster::split_hosts(&url),
            Backend::Sqlite => (vec![url.clone()], false),
        };
        let mut first = 0;
        if hosts.len() > 1 || read_write {
            first = cluster::pick_host(&hosts, 0, read_write)
                .await
                .map_err(Error::NoWritableHost)?;
        }
        let url = hosts[first].clone();
        let cluster = std::sync::Arc::new(cluster::Cluster::new(hosts, read_write));
        cluster
            .current
            .store(first, std::sync::atomic::Ordering::Relaxed);
        let connect = AnyConnectOptions::from_str(&url)?;
        // One direct connection first: its error says why (refused, auth, no database), where
        // a pool would only report a timeout.
        {
            use sqlx::Connection;
            let conn = sqlx::AnyConnection::connect_with(&connect).await?;
            conn.close().await?;
        }
        let node = cluster.node.clone();
        let pool_options = |max: u32| {
            let node = node.clone();
            AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(Duration::from_secs(30))
                // A SQLite connection is a local file and cannot go stale: the ping before each
                // acquire was a round trip to the connection's thread for every query (seen as
                // `ConnectionWorker::ping` in the long-session profile). PostgreSQL keeps it, so
                // a connection the server or a failover dropped is replaced, not handed out.
                .test_before_acquire(backend == Backend::Postgres)
                .after_connect(move |conn, _meta| {
                    let node = node.clone();
                    Box::pin(async move {
                        if backend == Backend::Sqlite {
                            // WAL is persistent in the file; the others are per connection.
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA synchronous = FULL").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            conn.execute("PRAGMA busy_timeout = 30000").await?;
                        } else {
                            // Names this node in the change notifications it causes (0015).
                            sqlx::query("SELECT set_config('govmail.node', $1, false)")
                                .bind(node)
                                .execute(&mut *conn)
                                .await?;
                            if read_write && !cluster::is_read_write(conn).await? {
                                return Err(sqlx::Error::Protocol(
                                    "the database host is read-only (a standby)".into(),
                                ));
                            }
                        }
                        Ok(())
                    })
                })
        };
        let pool = pool_options(read_connections(backend, options.max_connections))
            .connect_with(connect.clone())
            .await?;
        let writer = match backend {
            Backend::Sqlite => pool_options(1).connect_with(connect).await?,
            Backend::Postgres => pool.clone(),
        };
        let blob_kind = options.blob_store.clone().unwrap_or_else(|| match backend {
            Backend::Sqlite => "files".into(),
            Backend::Postgres => "database".into(),
        });
        let blobs = match blob_kind.as_str() {
            "files" => BlobStore::files(options.data_dir.join("blobs"), options.inline_blob_max)?,
            "database" => BlobStore::Database,
            other => return Err(Error::Invalid(format!("storage.blob_store = {other:?}"))),
        };
        // The full-text index needs its tables and columns (migrations 0017, 0019): a node of
        // this release running on an older schema (rolling upgrade, `migrate = false`) stores
        // mail unindexed, and SEARCH indexes it later (lazy backfill) or reads it.
        let applied = if options.migrate {
            i64::MAX
        } else {
            applied_version(&pool).await
        };
        let message_docs = applied >= search_docs::MESSAGE_DOCS_VERSION;
        let full_text_index = options.full_text_index && message_docs;
        let search_cursors = applied >= search_cursor::CURSOR_SCHEMA_VERSION;
        let (committer, jobs) = tokio::sync::mpsc::unbounded_channel();
        let (writes, write_queue) = tokio::sync::mpsc::unbounded_channel();
        let direct_path = match backend {
            Backend::Sqlite => sqlite_path(&url),
            Backend::Postgres => None,
        };
        let direct = direct_path
            .as_deref()
            .map(|path| std::sync::Arc::new(direct::DirectPool::new(path)));
        let store = Store {
            pool,
            direct,
            writer,
            backend,
            blobs,
            gc_lock: Default::default(),
            committer,
            changes: tokio::sync::broadcast::channel(1024).0,
            metas: std::sync::Arc::new(meta_cache::MetaCache::new(options.meta_cache_bytes)),
            listings: Default::default(),
            announced_only: false,
            folder_accounts: Default::default(),
            opens: Default::default(),
            sort_cache: Default::default(),
            search_seen: Default::default(),
            search_cursors,
            message_docs,
            writes,
            flow: Default::default(),
            local_offset: options.utc_offset_secs,
            full_text_index,
            cluster,
        };
        // The delivery committer holds a detached handle, so that the queues close (and both
        // tasks end) when the last `Store` is dropped.
        let committer_task = store.detached().run_committer(jobs);
        let (write_pool, write_backend) = (store.writer.clone(), store.backend);
        match backend {
            // SQLite: the writer and the delivery committer run on a thread of their own. A
            // batch is a chain of statements, each a round trip to the SQLite thread; on the
            // shared runtime every round trip would wait behind the sessions' work.
            Backend::Sqlite => {
                std::thread::Builder::new()
                    .name("govmail-writer".into())
                    .spawn(move || {
                        match tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                        {
                            Ok(runtime) => {
                                runtime.spawn(committer_task);
                                runtime.block_on(writer::run_writer(
                                    write_pool,
                                    write_backend,
                                    direct_path,
                                    write_queue,
                                ))
                            }
                            Err(e) => tracing::error!(error = %e, "writer runtime failed to start"),
                        }
                    })?;
            }
            // PostgreSQL connections are sockets of this runtime: the writer stays on it.
            Backend::Postgres => {
                tokio::spawn(committer_task);
                tokio::spawn(writer::run_writer(
                    write_pool,
                    write_backend,
                    None,
                    write_queue,
                ));
            }
        }
        store.check_schema_not_newer().await?;
        if options.migrate {
            store.migrate().await?;
        }
        Ok(store)
    }

    /// Applies pending migrations. Idempotent; safe after a crash at any point (each migration
    /// runs in its own transaction).
    pub async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    /// The newest migration this build knows.
    pub fn known_schema_version(&self) -> i64 {
        self.migrator().iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// The newest migration applied to the database (0 for an empty database).
    pub async fn schema_version(&self) -> Result<i64> {
        Ok(applied_version(&self.pool).await)
    }

    /// Refuses a database that a newer release migrated: a node starts only on a schema it
    /// knows. (Nodes already running keep working through a rolling upgrade: a release's
    /// migrations only add; drops come a release later, checked by `storage/tests/schema.rs`.)
    async fn check_schema_not_newer(&self) -> Result<()> {
        let (database, known) = (self.schema_version().await?, self.known_schema_version());
        if database > known {
            return Err(Error::SchemaTooNew { database, known });
        }
        Ok(())
    }

    /// The migrations of this build that the database has not applied yet, as
    /// `VERSION description` (empty when it is up to date).
    pub async fn pending_migrations(&self) -> Result<Vec<String>> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        // No table yet: nothing applied.
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations")
            .fetch_all(&self.pool)
            .await
            .unwrap_or_default();
        Ok(migrator
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .filter(|m| !applied.contains(&m.version))
            .map(|m| format!("{} {}", m.version, m.description))
            .collect())
    }

    /// A handle for the store's own background tasks: everything but the queues to those
    /// tasks (its senders are closed), so it does not keep them alive.
    fn detached(&self) -> Store {
        Store {
            committer: tokio::sync::mpsc::unbounded_channel().0,
            writes: tokio::sync::mpsc::unbounded_channel().0,
            ..self.clone()
        }
    }

    /// Offset of local time from UTC in seconds (see [`StoreOptions::utc_offset_secs`]).
    pub fn local_offset(&self) -> i32 {
        self.local_offset
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn blob_store(&self) -> &BlobStore {
        &self.blobs
    }

    /// A cheap liveness probe of the database.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }

    /// Starts a transaction that will write. SQLite takes the write lock up front.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.writer.begin().await?,
        })
    }
}

/// Lower-cases and trims an address the way every lookup expects it.
pub fn normalize_address(address: &str) -> String {
    address.trim().trim_end_matches('.').to_lowercase()
}

/// Checks that `path` (a directory) exists or can be created.
pub fn ensure_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path)?;
    Ok(())
}

/// The newest migration applied to the database (0 for an empty database).
/// The read pool's size. `configured` when set; else for SQLite twice the machine's cores (4
/// to 16), for PostgreSQL 16. A SQLite read is CPU work on the connection's own thread, never
/// a wait on a network: threads well beyond the cores only add hand-offs between them. On 2
/// cores (same day, A/B): the long-session IMAP mix gave 3,130 commands/s with 16
/// connections, 3,400 with 4, 3,900 with 2; SMTP acceptance (20 connections) 1,340–1,400
/// msg/s with 16, 1,470 with 4, 1,180–1,300 with 2. Four serves both.
pub fn read_connections(backend: Backend, configured: u32) -> u32 {
    match (configured, backend) {
        (0, Backend::Sqlite) => std::thread::available_parallelism()
            .map_or(4, |n| 2 * n.get() as u32)
            .clamp(4, 16),
        (0, Backend::Postgres) => 16,
        (n, _) => n,
    }
}

async fn applied_version(pool: &sqlx::AnyPool) -> i64 {
    // No table yet: nothing applied.
    sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(pool)
        .await
        .ok()
        .flatten()
        .unwrap_or(0)
}

/// Unit tests: a store on a new SQLite file in `dir`, migrated.
#[cfg(test)]
pub(crate) async fn sqlite_test_store(dir: &tempfile::TempDir) -> Store {
    Store::open(&StoreOptions::new(
        format!("sqlite://{}", dir.path().join("test.db").display()),
        dir.path(),
    ))
    .await
    .unwrap()
}

#[cfg(test)]
mod tests {
    #[test]
    fn value_rows_number_every_placeholder_in_order() {
        assert_eq!(super::value_rows(1, 1), "($1)");
        assert_eq!(super::value_rows(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(super::value_rows(0, 2), "");
    }
}
