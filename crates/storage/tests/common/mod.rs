//! Runs one test body against every backend: SQLite in a temporary directory, and PostgreSQL in
//! a fresh database created on the server named by `GOVMAIL_TEST_PG_URL` (`scripts/test` starts
//! a private one). Without that variable the test fails, unless `GOVMAIL_TEST_SKIP_PG=1` says
//! explicitly that a SQLite-only run is wanted.

#![allow(dead_code)]

pub mod fixtures;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use sqlx::Connection;
use storage::{Backend, Store, StoreOptions};

/// One backend, ready for a test body.
pub struct Ctx {
    pub backend: Backend,
    pub store: Store,
    pub options: StoreOptions,
    /// Keeps the data directory alive as long as the context.
    pub tmp: Arc<tempfile::TempDir>,
}

impl Ctx {
    pub fn data_dir(&self) -> &Path {
        &self.options.data_dir
    }

    /// Opens the same database again (migrations run again).
    pub async fn reopen(&self) -> storage::Result<Store> {
        Store::open(&self.options).await
    }

    /// A short label for assertion messages.
    pub fn name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// Runs a query that returns one BIGINT/INTEGER directly on the database (outside the
    /// storage API), e.g. to count rows the API does not expose.
    pub async fn scalar_i64(&self, sql: &str, bind: &str) -> i64 {
        let mut conn = sqlx::AnyConnection::connect(&self.options.url)
            .await
            .unwrap_or_else(|e| panic!("[{}] direct connection: {e}", self.name()));
        let q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string()));
        let q = if sql.contains("$1") {
            q.bind(bind.to_string())
        } else {
            q
        };
        let value = q
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("[{}] {sql}: {e}", self.name()));
        let _ = conn.close().await;
        value
    }

    /// How many distinct blobs hold bytes: files under `<data_dir>/blobs` for the file store,
    /// `blob_data` rows for the database store.
    pub async fn stored_blob_count(&self) -> usize {
        if self.store.blobs_in_files() {
            blob_files(&self.data_dir().join("blobs")).len()
        } else {
            self.scalar_i64("SELECT COUNT(*) FROM blob_data", "").await as usize
        }
    }
}

/// Every blob file (not temporary files) under `dir`, recursively.
pub fn blob_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if !entry.file_name().to_string_lossy().starts_with('.') {
                out.push(path);
            }
        }
    }
    out
}

/// The PostgreSQL server to use, `None` only when skipping was asked for explicitly.
pub fn pg_base_url() -> Option<String> {
    match std::env::var("GOVMAIL_TEST_PG_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_string()),
        _ => {
            if std::env::var("GOVMAIL_TEST_SKIP_PG").as_deref() == Ok("1") {
                eprintln!("GOVMAIL_TEST_SKIP_PG=1: PostgreSQL half of this test NOT run");
                None
            } else {
                panic!(
                    "GOVMAIL_TEST_PG_URL is not set: run the tests with scripts/test (it starts a \
                     private PostgreSQL), or export GOVMAIL_TEST_PG_URL=postgres://..., or set \
                     GOVMAIL_TEST_SKIP_PG=1 to run the SQLite half only"
                )
            }
        }
    }
}

/// `base` with its database name replaced by `db`.
pub fn with_database(base: &str, db: &str) -> String {
    let (main, query) = match base.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (base, None),
    };
    let scheme_end = main
        .find("://")
        .map(|i| i + 3)
        .expect("postgres URL has ://");
    let authority_and_path = &main[scheme_end..];
    let prefix = match authority_and_path.find('/') {
        Some(slash) => &main[..scheme_end + slash],
        None => main,
    };
    match query {
        Some(q) => format!("{prefix}/{db}?{q}"),
        None => format!("{prefix}/{db}"),
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique database name: test name, process id, counter, time.
fn unique_db_name(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let slug: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(30)
        .collect();
    format!(
        "gm_{slug}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates a fresh, empty database on the server at `base`; returns its URL and name.
pub async fn create_pg_database(base: &str, test: &str) -> (String, String) {
    let name = unique_db_name(test);
    let mut admin = sqlx::postgres::PgConnection::connect(base)
        .await
        .unwrap_or_else(|e| panic!("connecting to GOVMAIL_TEST_PG_URL ({base}): {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
    let _ = admin.close().await;
    (with_database(base, &name), name)
}

/// Drops a database made by [`create_pg_database`] (best effort; the server is throw-away).
pub async fn drop_pg_database(base: &str, name: &str) {
    if let Ok(mut admin) = sqlx::postgres::PgConnection::connect(base).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await;
        let _ = admin.close().await;
    }
}

/// Opens a store of `backend` for the test `test`. For PostgreSQL, the returned name is the
/// database to drop afterwards.
pub async fn open_ctx(
    backend: Backend,
    test: &str,
    pg_base: Option<&str>,
) -> (Ctx, Option<String>) {
    let tmp = Arc::new(tempfile::tempdir().expect("tempdir"));
    let data_dir = tmp.path().join("data");
    let (url, db) = match backend {
        Backend::Sqlite => (
            format!("sqlite://{}", data_dir.join("govmail.db").display()),
            None,
        ),
        Backend::Postgres => {
            let base = pg_base.expect("postgres base url");
            let (url, name) = create_pg_database(base, test).await;
            (url, Some(name))
        }
    };
    let mut options = StoreOptions::new(url, data_dir);
    // Exercise the blob files (small bodies would otherwise be kept in the database).
    options.inline_blob_max = 0;
    let store = Store::open(&options)
        .await
        .unwrap_or_else(|e| panic!("[{backend:?}] Store::open({}): {e}", options.url));
    assert_eq!(store.backend(), backend);
    (
        Ctx {
            backend,
            store,
            options,
            tmp,
        },
        db,
    )
}

/// Runs `body` once per backend, SQLite first. Each run is its own task, so a failure on one
/// backend does not hide the result on the other; the test fails naming every failed backend.
pub async fn for_each_backend<F, Fut>(test: &str, body: F)
where
    F: Fn(Ctx) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let pg_base = pg_base_url();
    let mut backends = vec![Backend::Sqlite];
    if pg_base.is_some() {
        backends.push(Backend::Postgres);
    }
    let mut failed = Vec::new();
    for backend in backends {
        eprintln!("--- {test}: backend {backend:?} ---");
        let (ctx, db) = open_ctx(backend, test, pg_base.as_deref()).await;
        let store = ctx.store.clone();
        let outcome = tokio::spawn(body(ctx)).await;
        store.close().await;
        match outcome {
            Ok(()) => {
                if let (Some(base), Some(name)) = (pg_base.as_deref(), db) {
                    drop_pg_database(base, &name).await;
                }
            }
            Err(e) => {
                eprintln!("--- {test}: backend {backend:?} FAILED ({e}) ---");
                if let Some(name) = db {
                    eprintln!("    database {name} kept for inspection");
                }
                failed.push(format!("{backend:?}"));
            }
        }
    }
    assert!(failed.is_empty(), "{test} failed on: {}", failed.join(", "));
}
