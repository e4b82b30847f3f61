//! Group commit for small writes (IMAP STORE, APPEND, EXPUNGE, COPY/MOVE, audit events).
//!
//! Each write is a closure over a transaction. One task runs them: it takes every write queued
//! at that moment, runs each inside its own SAVEPOINT (a failing write is rolled back alone and
//! gets its own error), commits once — one fsync for the whole batch — and only then answers
//! each caller. So an OK to the client still means the change is durable, while twenty
//! sessions flagging messages at once cost one commit, not twenty queued ones.
//!
//! Writes given as [`Store::write_conn`] run on a [`Conn`]: on SQLite a rusqlite connection
//! of the writer's own (`conn`), in a transaction of their own before the rest of the batch,
//! while the writer holds the sqlx write connection so nothing else of this process writes
//! between; on PostgreSQL in the batch's transaction like the others.
//!
//! Invariant: a write closure uses only the transaction it is given (never `begin_write`: the
//! writer holds the only SQLite write connection while it runs a batch).

use std::future::Future;
use std::pin::Pin;

use tokio::sync::{mpsc, oneshot};

use crate::conn::Conn;
use crate::{Error, Result, Store};

use crate::Tx;
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Most writes in one transaction.
const MAX_BATCH: usize = 256;

/// A queued write with its result type erased.
pub(crate) trait WriteOp: Send {
    /// Runs the write; true when it succeeded (and its savepoint may be released).
    fn run<'a>(&'a mut self, conn: &'a mut Conn<'a>) -> BoxFuture<'a, bool>;
    /// Whether it runs on a [`Conn::Direct`] too (else only in an sqlx transaction).
    fn portable(&self) -> bool;
    /// Answers the caller once the batch's fate is known.
    fn finish(self: Box<Self>, committed: std::result::Result<(), String>);
}

/// A queued write: a closure over a [`Conn`], and whether it may run on a [`Conn::Direct`].
struct Op<T, F> {
    job: Option<F>,
    portable: bool,
    outcome: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> WriteOp for Op<T, F>
where
    T: Send + 'static,
    F: for<'a> FnOnce(&'a mut Conn<'a>) -> BoxFuture<'a, Result<T>> + Send + 'static,
{
    fn run<'a>(&'a mut self, conn: &'a mut Conn<'a>) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let Some(job) = self.job.take() else {
                return false;
            };
            let outcome = job(conn).await;
            let ok = outcome.is_ok();
            self.outcome = Some(outcome);
            ok
        })
    }

    fn portable(&self) -> bool {
        self.portable
    }

    fn finish(self: Box<Self>, committed: std::result::Result<(), String>) {
        answer(self.outcome, committed, self.reply);
    }
}

/// The caller's answer once the batch's fate is known.
fn answer<T>(
    outcome: Option<Result<T>>,
    committed: std::result::Result<(), String>,
    reply: oneshot::Sender<Result<T>>,
) {
    let answer = match (outcome, committed) {
        (Some(Err(e)), _) => Err(e),
        (Some(Ok(value)), Ok(())) => Ok(value),
        (_, Err(e)) => Err(Error::Io(std::io::Error::other(e))),
        (None, Ok(())) => Err(Error::Io(std::io::Error::other("write was not run"))),
    };
    let _ = reply.send(answer);
}

pub(crate) type WriteQueue = mpsc::UnboundedSender<Box<dyn WriteOp>>;

impl Store {
    /// Runs `job` in the next group commit; returns its result once committed.
    pub(crate) async fn write<T, F>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut Tx) -> BoxFuture<'a, Result<T>> + Send + 'static,
    {
        // Never given a direct connection (not portable): the sqlx transaction it was written for.
        self.enqueue(false, move |conn: &mut Conn<'_>| match conn {
            Conn::Sqlx(tx) => job(tx),
            Conn::Direct(_) => Box::pin(async {
                Err(Error::Io(std::io::Error::other(
                    "an sqlx write on a direct connection",
                )))
            }),
        })
        .await
    }

    /// [`Store::write`] for a write that runs on either kind of connection (see the module).
    pub(crate) async fn write_conn<T, F>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut Conn<'a>) -> BoxFuture<'a, Result<T>> + Send + 'static,
    {
        self.enqueue(true, job).await
    }

    async fn enqueue<T, F>(&self, portable: bool, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut Conn<'a>) -> BoxFuture<'a, Result<T>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.queue(Box::new(Op {
            job: Some(job),
            portable,
            outcome: None,
            reply,
        }))?;
        answer
            .await
            .map_err(|_| Error::Io(std::io::Error::other("writer dropped the write")))?
    }

    fn queue(&self, op: Box<dyn WriteOp>) -> Result<()> {
        self.writes
            .send(op)
            .map_err(|_| Error::Io(std::io::Error::other("writer stopped")))
    }
}

/// The writer task. It holds the write pool, not a `Store`: when the last `Store` is dropped
/// the queue closes and the task (and its thread) ends. `direct` is the SQLite file, for the
/// writer's own connection ([`Conn::Direct`]).
pub(crate) async fn run_writer(
    pool: sqlx::AnyPool,
    backend: crate::Backend,
    direct: Option<std::path::PathBuf>,
    mut queue: mpsc::UnboundedReceiver<Box<dyn WriteOp>>,
) {
    let mut connection: Option<rusqlite::Connection> = None;
    // The sqlx write connection while the writer holds it (see `Exclusive`).
    let mut exclusive = Exclusive::default();
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        // On SQLite the writes that run on a rusqlite connection go first, in a transaction
        // of their own; the others after, on sqlx's.
        let mut sqlx_ops = batch;
        let mut direct_ops = vec![];
        if let Some(path) = &direct {
            let (portable, rest): (Vec<_>, Vec<_>) =
                sqlx_ops.into_iter().partition(|op| op.portable());
            (direct_ops, sqlx_ops) = (portable, rest);
            if !direct_ops.is_empty() && connection.is_none() {
                match open_direct(path) {
                    Ok(c) => connection = Some(c),
                    Err(e) => {
                        let e = format!("the writer's SQLite connection: {e}");
                        tracing::error!(error = %e, "writes failed");
                        for op in direct_ops.drain(..) {
                            op.finish(Err(e.clone()));
                        }
                    }
                }
            }
        }
        // Each batch in a task of its own: a panicking write fails its batch (the callers'
        // answers are dropped, so they get an error) and the writer goes on.
        let task_pool = pool.clone();
        let mut task_connection = connection.take();
        let mut task_exclusive = std::mem::take(&mut exclusive);
        let outcome = tokio::spawn(async move {
            if let Some(c) = task_connection.as_mut().filter(|_| !direct_ops.is_empty()) {
                // Answered at once: a STORE need not wait for the APPENDs queued beside it.
                let committed = match task_exclusive.hold(&task_pool).await {
                    Ok(()) => run_direct_batch(c, &mut direct_ops).await,
                    Err(e) => Err(e),
                };
                for op in direct_ops {
                    op.finish(committed.clone());
                }
            }
            let committed = match sqlx_ops.is_empty() {
                true => Ok(()),
                false => {
                    task_exclusive.release();
                    run_batch(&task_pool, backend, &mut sqlx_ops).await
                }
            };
            (task_connection, task_exclusive, sqlx_ops, committed)
        })
        .await;
        match outcome {
            Ok((kept, mut held, ops, committed)) => {
                connection = kept;
                // Let the other writers of the process in when the queue is empty, and at
                // least every HOLD_AT_MOST while it is not.
                if queue.is_empty() || held.held_over(HOLD_AT_MOST) {
                    held.release();
                }
                exclusive = held;
                for op in ops {
                    op.finish(committed.clone());
                }
            }
            Err(e) => tracing::error!(error = %e, "a write batch panicked; its writes failed"),
        }
    }
}

/// Longest the writer keeps the sqlx write connection across batches while writes keep coming.
const HOLD_AT_MOST: std::time::Duration = std::time::Duration::from_millis(5);

/// The sqlx write connection, held by the writer while it runs transactions on its own
/// connection: no other write of this process (deliveries, a `begin_write`) takes SQLite's lock
/// meanwhile, and they wait in the pool's queue (an async wait) instead of polling the lock.
/// Kept across batches while writes keep coming: each return to the pool costs a round trip
/// to sqlx's connection thread (sqlx tests the connection on release), which was one per batch.
#[derive(Default)]
struct Exclusive(Option<(sqlx::pool::PoolConnection<sqlx::Any>, std::time::Instant)>);

impl Exclusive {
    async fn hold(&mut self, pool: &sqlx::AnyPool) -> std::result::Result<(), String> {
        if self.0.is_none() {
            let connection = pool.acquire().await.map_err(|e| e.to_string())?;
            self.0 = Some((connection, std::time::Instant::now()));
        }
        Ok(())
    }

    /// Held for longer than `limit`.
    fn held_over(&self, limit: std::time::Duration) -> bool {
        self.0
            .as_ref()
            .is_some_and(|(_, since)| since.elapsed() > limit)
    }

    fn release(&mut self) {
        self.0 = None;
    }
}

/// The writer's own connection to the SQLite file, set up as sqlx's are (`Store::open`).
fn open_direct(path: &std::path::Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON")?;
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

/// Runs `batch` in one transaction on the writer's rusqlite connection, each write in a
/// savepoint of its own when there are several (as `run_batch`). The caller holds the sqlx
/// write connection ([`Exclusive`]).
async fn run_direct_batch(
    conn: &mut rusqlite::Connection,
    batch: &mut [Box<dyn WriteOp>],
) -> std::result::Result<(), String> {
    // Each statement prepared once per connection (execute_batch would parse it every time).
    let sql = |conn: &mut rusqlite::Connection, text: &str| {
        conn.prepare_cached(text)
            .and_then(|mut statement| statement.execute([]))
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    sql(conn, "BEGIN IMMEDIATE")?;
    let lone = batch.len() == 1;
    let mut failed = None;
    for op in batch.iter_mut() {
        if !lone {
            if let Err(e) = sql(conn, "SAVEPOINT w") {
                failed = Some(e);
                break;
            }
        }
        let ok = op.run(&mut Conn::Direct(conn)).await;
        let end: &[&str] = match (ok, lone) {
            (true, true) => continue,
            (false, true) => &["ROLLBACK"],
            (true, false) => &["RELEASE w"],
            (false, false) => &["ROLLBACK TO w", "RELEASE w"],
        };
        if let Err(e) = end.iter().try_for_each(|text| sql(conn, text)) {
            failed = Some(e);
            break;
        }
        if lone {
            // The lone write failed and its transaction is rolled back: nothing to commit.
            return Ok(());
        }
    }
    if let Some(e) = failed {
        let _ = sql(conn, "ROLLBACK");
        return Err(e);
    }
    if let Err(e) = sql(conn, "COMMIT") {
        let _ = sql(conn, "ROLLBACK");
        return Err(e);
    }
    Ok(())
}

/// PostgreSQL: the advisory lock every group-commit batch (IMAP writes here, deliveries in
/// `mail`) takes first, so batches of all nodes run one at a time. Batches gather writes of
/// many sessions that lock accounts, folders and messages in no fixed order; two at once (two
/// nodes, or a node's writer and its delivery committer) could deadlock and fail every write
/// in one of them (seen with two nodes under the IMAP mix: NO [UNAVAILABLE] on APPEND/STORE).
pub(crate) async fn lock_batches(tx: &mut Tx, backend: crate::Backend) -> sqlx::Result<()> {
    if backend == crate::Backend::Postgres {
        // pg_advisory_xact_lock returns void, which the Any driver does not map: wrap it.
        sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock(7316)) AS batches")
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn run_batch(
    pool: &sqlx::AnyPool,
    backend: crate::Backend,
    batch: &mut [Box<dyn WriteOp>],
) -> std::result::Result<(), String> {
    let sqlite = backend == crate::Backend::Sqlite;
    // SQLite runs several statements sent as one text: the savepoint rides along with BEGIN
    // and with the end of the previous write (each text is one round trip to its thread).
    let begin = match backend {
        crate::Backend::Sqlite if batch.len() > 1 => {
            pool.begin_with("BEGIN IMMEDIATE; SAVEPOINT w").await
        }
        crate::Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        crate::Backend::Postgres => pool.begin().await,
    };
    let mut tx = begin.map_err(|e| e.to_string())?;
    lock_batches(&mut tx, backend)
        .await
        .map_err(|e| e.to_string())?;
    // A batch of one needs no savepoint: its failure rolls back the whole transaction, which
    // holds nothing else (two round trips to the database fewer for the common lone write).
    if let [op] = batch {
        if op.run(&mut Conn::Sqlx(&mut tx)).await {
            return tx.commit().await.map_err(|e| e.to_string());
        }
        return tx.rollback().await.map_err(|e| e.to_string());
    }
    if sqlite {
        let last = batch.len() - 1;
        for (i, op) in batch.iter_mut().enumerate() {
            let ok = op.run(&mut Conn::Sqlx(&mut tx)).await;
            // COMMIT ends the last savepoint with the transaction.
            let next = match (ok, i == last) {
                (true, true) => continue,
                (true, false) => "RELEASE w; SAVEPOINT w",
                (false, true) => "ROLLBACK TO w",
                (false, false) => "ROLLBACK TO w; RELEASE w; SAVEPOINT w",
            };
            savepoint(&mut tx, next).await?;
        }
        return tx.commit().await.map_err(|e| e.to_string());
    }
    for op in batch.iter_mut() {
        savepoint(&mut tx, "SAVEPOINT w").await?;
        if op.run(&mut Conn::Sqlx(&mut tx)).await {
            savepoint(&mut tx, "RELEASE w").await?;
        } else {
            savepoint(&mut tx, "ROLLBACK TO w").await?;
            savepoint(&mut tx, "RELEASE w").await?;
        }
    }
    tx.commit().await.map_err(|e| e.to_string())
}

async fn savepoint(tx: &mut Tx, sql: &'static str) -> std::result::Result<(), String> {
    sqlx::query(sql)
        .execute(&mut **tx)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use crate::{Error, Store};

    /// The names of the domains the store holds, sorted.
    async fn domain_names(store: &Store) -> Vec<String> {
        let mut names: Vec<String> = store
            .list_domains()
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.name)
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn a_panicking_write_fails_alone_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::sqlite_test_store(&dir).await;
        let failed: Result<(), Error> = store
            .write(|_tx| Box::pin(async { panic!("a bug in a write") }))
            .await;
        assert!(failed.is_err());
        let failed: Result<(), Error> = store
            .write_conn(|_conn| Box::pin(async { panic!("a bug in a direct write") }))
            .await;
        assert!(failed.is_err());
        // A write that fails cleanly rolls back alone; the next one commits.
        let refused: Result<(), Error> = store
            .write(|tx| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO domains (name, naming_rule, created_at) VALUES ('a.vn', 'free', 0)")
                        .execute(&mut **tx)
                        .await?;
                    Err(Error::Invalid("changed my mind".into()))
                })
            })
            .await;
        assert!(matches!(refused, Err(Error::Invalid(_))));
        store.add_domain("b.vn", "free").await.unwrap();
        assert_eq!(domain_names(&store).await, vec!["b.vn".to_string()]);
        store
            .log_event(
                "test",
                crate::Action::DomainAdd,
                "",
                "",
                serde_json::json!({}),
            )
            .await
            .unwrap();
    }

    /// Direct writes under load and transactions from `begin_write` interleave: all commit,
    /// none fails on SQLite's lock, nothing deadlocks on the sqlx write connection the writer
    /// holds. (That they also never wait on the lock by sleeping is a matter of speed, which
    /// SQLite's own locking would hide here: bench/imap.sh shows it.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn direct_writes_and_begin_write_take_turns() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::sqlite_test_store(&dir).await;
        let started = std::time::Instant::now();
        let mut tasks = vec![];
        for i in 0..200 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let name = format!("d{i}.vn");
                if i % 10 == 0 {
                    let mut tx = store.begin_write().await?;
                    sqlx::query("INSERT INTO domains (name, naming_rule, created_at) VALUES ($1, 'free', 0)")
                        .bind(name)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    return Ok::<_, Error>(());
                }
                store
                    .write_conn(move |conn| {
                        Box::pin(async move {
                            assert!(matches!(conn, crate::conn::Conn::Direct(_)));
                            crate::conn::stmt("INSERT INTO domains (name, naming_rule, created_at) VALUES ($1, 'free', 0)")
                                .bind(name)
                                .execute(conn)
                                .await?;
                            Ok(())
                        })
                    })
                    .await
            }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(domain_names(&store).await.len(), 200);
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }

    /// Writes queued together share a transaction: each failing one is rolled back alone
    /// (its savepoint), the others commit, whatever batches the writer happened to form.
    #[tokio::test]
    async fn writes_batched_together_fail_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::sqlite_test_store(&dir).await;
        let writes: Vec<_> = (0..40)
            .map(|i| {
                let store = store.clone();
                let refuse = move |i: usize| match i % 3 {
                    1 => Err(Error::Invalid(format!("refused {i}"))),
                    _ => Ok(i),
                };
                let insert =
                    "INSERT INTO domains (name, naming_rule, created_at) VALUES ($1, 'free', 0)";
                // Every other write on either kind of connection (the direct ones commit in a
                // transaction of their own, before the rest of the batch).
                tokio::spawn(async move {
                    if i % 2 == 0 {
                        return store
                            .write_conn(move |conn| {
                                Box::pin(async move {
                                    crate::conn::stmt(insert)
                                        .bind(format!("d{i}.vn"))
                                        .execute(conn)
                                        .await?;
                                    refuse(i)
                                })
                            })
                            .await;
                    }
                    store
                        .write(move |tx| {
                            Box::pin(async move {
                                sqlx::query(insert)
                                    .bind(format!("d{i}.vn"))
                                    .execute(&mut **tx)
                                    .await?;
                                refuse(i)
                            })
                        })
                        .await
                })
            })
            .collect();
        let mut results = vec![];
        for write in writes {
            results.push(write.await.unwrap());
        }
        for (i, result) in results.iter().enumerate() {
            match result {
                Ok(n) => assert_eq!(*n, i, "write {i}"),
                Err(Error::Invalid(text)) => assert_eq!(text, &format!("refused {i}")),
                Err(e) => panic!("write {i}: {e}"),
            }
            assert_eq!(result.is_err(), i % 3 == 1, "write {i}");
        }
        let mut expected: Vec<String> = (0..40)
            .filter(|i| i % 3 != 1)
            .map(|i| format!("d{i}.vn"))
            .collect();
        expected.sort();
        assert_eq!(domain_names(&store).await, expected);
    }
}
