//! Where imported messages go: one committer task per folder takes what the reader has queued
//! and stores it with `Store::import_batch` (one transaction: messages, keys, the folder's
//! mark), so reading the next messages overlaps committing these.
//!
//! Memory: every message body takes its size (in KiB, at most the whole budget) from a
//! semaphore *before* it is read and gives it back once committed. So at most `budget` bytes of
//! small messages are in flight, and a message as large as the budget or larger is read only
//! when nothing else is in flight — one large message in memory at a time. The reader never
//! keeps permits of its own: each message goes to the committer as soon as it is read.

use std::sync::Arc;

use anyhow::{anyhow, Context};
use storage::{ImportMark, ImportMessage, ImportPlace, Store};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::progress::AccountProgress;

/// Most messages one transaction carries.
const MAX_BATCH_MESSAGES: usize = 500;

pub type Permit = OwnedSemaphorePermit;

/// The in-flight byte budget of an import run.
#[derive(Clone, Debug)]
pub struct Gate {
    semaphore: Arc<Semaphore>,
    budget_kib: u32,
}

impl Gate {
    pub fn new(budget_bytes: u64) -> Gate {
        let budget_kib = (budget_bytes / 1024).clamp(64, u32::MAX as u64 / 2) as u32;
        Gate {
            semaphore: Arc::new(Semaphore::new(budget_kib as usize)),
            budget_kib,
        }
    }

    /// Waits until `size` bytes (capped at the budget) fit.
    pub async fn acquire(&self, size: u64) -> anyhow::Result<Permit> {
        let kib = size.div_ceil(1024).clamp(1, self.budget_kib as u64) as u32;
        self.semaphore
            .clone()
            .acquire_many_owned(kib)
            .await
            .map_err(|_| anyhow!("import budget closed"))
    }
}

enum Item {
    Message {
        message: ImportMessage,
        /// The old UID (IMAP), recorded as the mark with the batch.
        uid: Option<i64>,
        _permit: Option<Permit>,
    },
    /// Everything up to this old UID is done (skipped tails, empty folders).
    Mark(i64),
}

/// The committer of one folder.
pub struct Sink {
    queue: Option<mpsc::UnboundedSender<Item>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// What the committer needs to know about the folder.
pub struct Target {
    pub folder_id: i64,
    /// For IMAP: where the mark is recorded, and the old UIDVALIDITY it is for.
    pub place: Option<(ImportPlace, i64)>,
    pub check_quota: bool,
}

impl Sink {
    pub fn start(store: Store, target: Target, progress: Arc<AccountProgress>) -> Sink {
        let (queue, receiver) = mpsc::unbounded_channel();
        let task = tokio::spawn(commit_loop(store, target, receiver, progress));
        Sink {
            queue: Some(queue),
            task,
        }
    }

    /// Queues a message; Err if the committer stopped (its error comes from [`Sink::finish`]).
    pub fn push(
        &self,
        message: ImportMessage,
        uid: Option<i64>,
        permit: Option<Permit>,
    ) -> Result<(), ()> {
        let queue = self.queue.as_ref().ok_or(())?;
        queue
            .send(Item::Message {
                message,
                uid,
                _permit: permit,
            })
            .map_err(|_| ())
    }

    /// Records that the old folder is done up to `uid`.
    pub fn mark(&self, uid: i64) -> Result<(), ()> {
        let queue = self.queue.as_ref().ok_or(())?;
        queue.send(Item::Mark(uid)).map_err(|_| ())
    }

    /// Waits until everything queued is committed.
    pub async fn finish(mut self) -> anyhow::Result<()> {
        self.queue = None;
        (&mut self.task).await.context("import committer")?
    }
}

async fn commit_loop(
    store: Store,
    target: Target,
    mut receiver: mpsc::UnboundedReceiver<Item>,
    progress: Arc<AccountProgress>,
) -> anyhow::Result<()> {
    while let Some(first) = receiver.recv().await {
        let mut items = vec![first];
        while items.len() < MAX_BATCH_MESSAGES {
            match receiver.try_recv() {
                Ok(item) => items.push(item),
                Err(_) => break,
            }
        }
        let mut messages = Vec::with_capacity(items.len());
        let mut permits = Vec::with_capacity(items.len());
        let mut last_uid: Option<i64> = None;
        let mut bytes = 0u64;
        for item in items {
            match item {
                Item::Message {
                    message,
                    uid,
                    _permit,
                } => {
                    bytes += message.raw.len() as u64;
                    if let Some(uid) = uid {
                        last_uid = Some(last_uid.map_or(uid, |l| l.max(uid)));
                    }
                    messages.push(message);
                    permits.push(_permit);
                }
                Item::Mark(uid) => last_uid = Some(last_uid.map_or(uid, |l| l.max(uid))),
            }
        }
        let n_messages = messages.len() as u64;
        let mark = match (&target.place, last_uid) {
            (Some((place, uidvalidity)), Some(last_uid)) => Some((
                place.clone(),
                ImportMark {
                    uidvalidity: *uidvalidity,
                    last_uid,
                },
            )),
            _ => None,
        };
        if messages.is_empty() && mark.is_none() {
            continue;
        }
        store
            .import_batch(target.folder_id, messages, mark, target.check_quota)
            .await
            .map_err(|e| match e {
                storage::Error::OverQuota => anyhow!(
                    "over quota: the new account is full (raise its quota, or rerun with \
                     --ignore-quota)"
                ),
                e => anyhow!(e).context("storing imported messages"),
            })?;
        drop(permits);
        progress.add_done(n_messages, bytes);
    }
    Ok(())
}
