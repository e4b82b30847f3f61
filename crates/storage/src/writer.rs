//! Group commit for small writes (IMAP STORE, APPEND, EXPUNGE, COPY/MOVE, audit events).
//!
//! Each write is a closure over a transaction. One task runs them: it takes every write queued
//! at that moment, runs each inside its own SAVEPOINT (a failing write is rolled back alone and
//! gets its own error), commits once — one fsync for the whole batch — and only then answers
//! each caller. So an OK to the client still means the change is durable, while twenty
//! sessions flagging messages at once cost one commit, not twenty queued ones.
//!
//! Invariant: a write closure uses only the transaction it is given (never `begin_write`: the
//! writer holds the only SQLite write connection while it runs a batch).

use std::future::Future;
use std::pin::Pin;

use tokio::sync::{mpsc, oneshot};

use crate::{Error, Result, Store};

use crate::Tx;
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Most writes in one transaction.
const MAX_BATCH: usize = 256;

/// A queued write with its result type erased.
pub(crate) trait WriteOp: Send {
    /// Runs the write; true when it succeeded (and its savepoint may be released).
    fn run<'a>(&'a mut self, tx: &'a mut Tx) -> BoxFuture<'a, bool>;
    /// Answers the caller once the batch's fate is known.
    fn finish(self: Box<Self>, committed: std::result::Result<(), String>);
}

struct Op<T, F> {
    job: Option<F>,
    outcome: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> WriteOp for Op<T, F>
where
    T: Send + 'static,
    F: for<'a> FnOnce(&'a mut Tx) -> BoxFuture<'a, Result<T>> + Send + 'static,
{
    fn run<'a>(&'a mut self, tx: &'a mut Tx) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let Some(job) = self.job.take() else {
                return false;
            };
            let outcome = job(tx).await;
            let ok = outcome.is_ok();
            self.outcome = Some(outcome);
            ok
        })
    }

    fn finish(self: Box<Self>, committed: std::result::Result<(), String>) {
        let answer = match (self.outcome, committed) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (_, Err(e)) => Err(Error::Io(std::io::Error::other(e))),
            (None, Ok(())) => Err(Error::Io(std::io::Error::other("write was not run"))),
        };
        let _ = self.reply.send(answer);
    }
}

pub(crate) type WriteQueue = mpsc::UnboundedSender<Box<dyn WriteOp>>;

impl Store {
    /// Runs `job` in the next group commit; returns its result once committed.
    pub(crate) async fn write<T, F>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut Tx) -> BoxFuture<'a, Result<T>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let op: Box<dyn WriteOp> = Box::new(Op {
            job: Some(job),
            outcome: None,
            reply,
        });
        self.writes
            .send(op)
            .map_err(|_| Error::Io(std::io::Error::other("writer stopped")))?;
        answer
            .await
            .map_err(|_| Error::Io(std::io::Error::other("writer dropped the write")))?
    }
}

/// The writer task. It holds the write pool, not a `Store`: when the last `Store` is dropped
/// the queue closes and the task (and its thread) ends.
pub(crate) async fn run_writer(
    pool: sqlx::AnyPool,
    backend: crate::Backend,
    mut queue: mpsc::UnboundedReceiver<Box<dyn WriteOp>>,
) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        // Each batch in a task of its own: a panicking write fails its batch (the callers'
        // answers are dropped, so they get an error) and the writer goes on.
        let task_pool = pool.clone();
        let outcome = tokio::spawn(async move {
            let committed = run_batch(&task_pool, backend, &mut batch).await;
            (batch, committed)
        })
        .await;
        match outcome {
            Ok((batch, committed)) => {
                for op in batch {
                    op.finish(committed.clone());
                }
            }
            Err(e) => tracing::error!(error = %e, "a write batch panicked; its writes failed"),
        }
    }
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
        if op.run(&mut tx).await {
            return tx.commit().await.map_err(|e| e.to_string());
        }
        return tx.rollback().await.map_err(|e| e.to_string());
    }
    if sqlite {
        let last = batch.len() - 1;
        for (i, op) in batch.iter_mut().enumerate() {
            let ok = op.run(&mut tx).await;
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
        if op.run(&mut tx).await {
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
    use crate::{Error, Store, StoreOptions};

    async fn sqlite_store(dir: &tempfile::TempDir) -> Store {
        Store::open(&StoreOptions::new(
            format!("sqlite://{}", dir.path().join("w.db").display()),
            dir.path(),
        ))
        .await
        .unwrap()
    }

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
        let store = sqlite_store(&dir).await;
        let failed: Result<(), Error> = store
            .write(|_tx| Box::pin(async { panic!("a bug in a write") }))
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

    /// Writes queued together share a transaction: each failing one is rolled back alone
    /// (its savepoint), the others commit, whatever batches the writer happened to form.
    #[tokio::test]
    async fn writes_batched_together_fail_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite_store(&dir).await;
        let writes: Vec<_> = (0..40)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .write(move |tx| {
                            Box::pin(async move {
                                sqlx::query(
                                    "INSERT INTO domains (name, naming_rule, created_at) \
                                 VALUES ($1, 'free', 0)",
                                )
                                .bind(format!("d{i}.vn"))
                                .execute(&mut **tx)
                                .await?;
                                if i % 3 == 1 {
                                    return Err(Error::Invalid(format!("refused {i}")));
                                }
                                Ok(i)
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
