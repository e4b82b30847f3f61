//! Folders and messages, and delivery with group commit.
//!
//! Delivery is two-phase: the caller's task makes the blob durable ([`Store::put_blob_bytes`]),
//! then hands the delivery to one committer task that gathers every delivery waiting at that
//! moment into a single transaction (one fsync for the batch). Each caller is answered only after
//! the transaction holding its rows has committed, so an acknowledgement always means durable.

use std::sync::Arc;

use serde::Serialize;
use sqlx::Row;
use tokio::sync::{mpsc, oneshot};

use crate::meta::MessageMeta;
use crate::queue::OutboundEnvelope;
use crate::{now, Backend, BlobStore, Error, Flags, Result, Store};

/// Largest number of deliveries committed in one transaction.
const MAX_BATCH: usize = 256;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Folder {
    pub id: i64,
    pub account_id: i64,
    pub name: String,
    pub special_use: Option<String>,
    pub uidvalidity: i64,
    pub uidnext: i64,
    pub highestmodseq: i64,
    /// The name is on the owner's subscription list (`subscriptions`, RFC 9051 6.3.7).
    pub subscribed: bool,
    /// The first UID no session has claimed as \Recent yet (RFC 3501 2.3.2).
    pub recent_uid: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MessageRow {
    pub id: i64,
    pub folder_id: i64,
    pub uid: i64,
    pub modseq: i64,
    pub flags: Flags,
    pub internal_date: i64,
    pub size: i64,
    pub blob_id: std::sync::Arc<str>,
    /// The body's full-text document (`search_index`), as read with the folder's listing;
    /// None when the body had no complete one then, and in rows read for other purposes.
    #[serde(skip)]
    pub doc: Option<i64>,
}

/// Which folder of the recipient account receives the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderChoice {
    Inbox,
    /// By RFC 6154 special-use flag, e.g. `\Junk`, `\Sent`; INBOX if the account has none.
    SpecialUse(&'static str),
    /// By name (a Sieve `fileinto`, names as IMAP stores them: NFC, `/` between levels).
    /// Created when missing if `create` (RFC 5490 3.2); otherwise a missing folder means INBOX
    /// (the failed fileinto keeps the message, RFC 5228 2.10.6).
    Named {
        name: String,
        create: bool,
    },
    /// By id (an import into the folder it made): a folder gone meanwhile is an error, never
    /// INBOX — the import's mark is recorded for this folder.
    Id(i64),
}

#[derive(Debug, Clone)]
pub struct DeliveryTarget {
    pub account_id: i64,
    pub folder: FolderChoice,
    pub flags: Flags,
}

/// A message ready to be committed: bytes, their parse, and where they go.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub raw: Arc<Vec<u8>>,
    pub meta: Arc<MessageMeta>,
    pub targets: Vec<DeliveryTarget>,
    /// Recipients outside our domains, for the outbound queue (empty = none).
    pub outbound: Option<OutboundEnvelope>,
    pub internal_date: i64,
    /// Audit events committed with the message (and only if it is).
    pub events: Vec<crate::NewEvent>,
}

/// Where each target's copy landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub blob_id: String,
    /// (account_id, folder_id, uid) per target.
    pub placed: Vec<(i64, i64, i64)>,
    pub queue_id: Option<i64>,
    /// The transaction's delivery key was committed already: nothing was stored now.
    pub resent: bool,
}

pub(crate) struct CommitJob {
    blob_id: String,
    delivery: Delivery,
    /// What SORT/THREAD read of it (computed before the committer, which is serial).
    sort: crate::SortRecord,
    /// Its full-text index terms (issue 13), likewise; None when the index is off.
    terms: Option<Option<Vec<String>>>,
    /// Its delivery key: a resend of a committed transaction is not stored again.
    key: Option<String>,
    reply: oneshot::Sender<Result<Delivered>>,
}

impl CommitJob {
    /// A job with what the serial committer must not compute (sort record, index terms unless
    /// `index` is false: then the message is left to the index's backfill); no key, nobody
    /// waiting (the import commits such jobs in its own transactions).
    pub(crate) fn prepared(
        store: &Store,
        blob_id: String,
        delivery: Delivery,
        index: bool,
    ) -> CommitJob {
        let sort = crate::SortRecord::of(&delivery.raw, &delivery.meta);
        let terms = index
            .then(|| store.index_terms(&delivery.raw, &delivery.meta))
            .flatten();
        let reply = oneshot::channel().0;
        CommitJob {
            blob_id,
            delivery,
            sort,
            terms,
            key: None,
            reply,
        }
    }
}

/// A change other sessions on the same folder must learn about (IMAP IDLE, NOOP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderChange {
    pub account_id: i64,
    pub folder_id: i64,
}

use crate::conn::{stmt, Conn};
use crate::Tx;

/// Which folder a target names, as a batch groups them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum FolderKey<'a> {
    /// The special-use flag ("" = INBOX).
    Special(&'static str),
    /// By name, and whether to create it.
    Named(&'a str, bool),
    Id(i64),
}

fn folder_key(choice: &FolderChoice) -> FolderKey<'_> {
    match choice {
        FolderChoice::Inbox => FolderKey::Special(""),
        FolderChoice::SpecialUse(flag) => FolderKey::Special(flag),
        FolderChoice::Named { name, create } => FolderKey::Named(name, *create),
        FolderChoice::Id(id) => FolderKey::Id(*id),
    }
}

impl Store {
    /// Every message of a folder in UID order (a copy of the shared listing).
    pub async fn messages(&self, folder_id: i64) -> Result<Vec<MessageRow>> {
        Ok(self.listing(folder_id).await?.rows.clone())
    }

    /// Every message row of a folder, read from the database.
    pub(crate) async fn read_folder_rows(&self, folder_id: i64) -> Result<Vec<MessageRow>> {
        if self.backend == crate::Backend::Sqlite {
            if let Some(rows) = self.read_folder_rows_packed(folder_id).await? {
                return Ok(rows);
            }
        }
        let sql = format!(
            "SELECT id, folder_id, uid, modseq, flags, internal_date, size, blob_id, {} \
             FROM messages WHERE folder_id = $1 ORDER BY uid",
            self.doc_column()
        );
        let rows = self.read(sql).bind(folder_id).fetch_all().await?;
        Ok(rows.iter().map(crate::mailbox::listing_row).collect())
    }

    /// The messages of a folder with these UIDs, in UID order (FETCH of a few messages need
    /// not read the whole folder).
    pub async fn messages_with_uids(
        &self,
        folder_id: i64,
        uids: &[i64],
    ) -> Result<Vec<MessageRow>> {
        let mut out = Vec::with_capacity(uids.len());
        for chunk in uids.chunks(500) {
            let placeholders: Vec<String> =
                (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT id, folder_id, uid, modseq, flags, internal_date, size, blob_id \
                 FROM messages WHERE folder_id = $1 AND uid IN ({}) ORDER BY uid",
                placeholders.join(", ")
            );
            let mut query = self.read(sql).bind(folder_id);
            for uid in chunk {
                query = query.bind(*uid);
            }
            let rows = query.fetch_all().await?;
            out.extend(rows.iter().map(crate::mailbox::message_from_row));
        }
        Ok(out)
    }

    /// Total number of message rows (all folders), for tests and metrics.
    pub async fn count_messages(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM messages")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Commits a delivery durably. Returns only once the rows are committed; concurrent calls
    /// share one transaction (group commit).
    pub async fn deliver(&self, delivery: Delivery) -> Result<Delivered> {
        self.deliver_keyed(delivery, None).await
    }

    /// [`Store::deliver`] once per [`delivery_key`](crate::delivery_key): when the key was
    /// committed already, nothing is stored and the answer places no copy.
    pub async fn deliver_keyed(
        &self,
        delivery: Delivery,
        key: Option<String>,
    ) -> Result<Delivered> {
        // Shared with other deliveries, exclusive against blob GC (see `gc_lock`).
        let _gc_guard = self.gc_lock.read().await;
        let blob_id = self.put_blob_bytes(&delivery.raw).await?;
        let (reply, answer) = oneshot::channel();
        let job = CommitJob::prepared(self, blob_id, delivery, true);
        self.committer
            .send(CommitJob { key, reply, ..job })
            .map_err(|_| Error::Io(std::io::Error::other("committer stopped")))?;
        answer
            .await
            .map_err(|_| Error::Io(std::io::Error::other("committer dropped the delivery")))?
    }

    /// Subscribes to folder changes made through this process.
    pub fn subscribe_changes(&self) -> tokio::sync::broadcast::Receiver<FolderChange> {
        self.changes.subscribe()
    }

    /// Announces the folders a committed delivery placed mail in.
    fn announce_placed(&self, delivered: &Delivered) {
        for &(account_id, folder_id, _) in &delivered.placed {
            self.notify_change(FolderChange {
                account_id,
                folder_id,
            });
        }
    }

    /// Announces a change (called by whoever committed it).
    pub fn notify_change(&self, change: FolderChange) {
        self.listings.announce(change.folder_id);
        let _ = self.changes.send(change);
    }

    /// Inside a transaction: appends one message to a folder; returns its UID. With `docs`
    /// (`Store::message_docs`) the row takes its body's document, which must be indexed
    /// before (`search_index::insert_search_terms_in`) in the same transaction.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn insert_message_in(
        conn: &mut Conn<'_>,
        docs: bool,
        folder_id: i64,
        account_id: i64,
        blob_id: &str,
        size: i64,
        flags: &Flags,
        internal_date: i64,
        meta_json: &str,
    ) -> Result<i64> {
        Self::insert_copy_in(
            conn,
            docs,
            folder_id,
            account_id,
            blob_id,
            size,
            flags,
            internal_date,
            meta_json,
            None,
        )
        .await
    }

    /// [`Store::insert_message_in`] for a copy: the new row carries `email_id`, the EMAILID of
    /// its source (RFC 8474 5.1), instead of its own.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn insert_copy_in(
        conn: &mut Conn<'_>,
        docs: bool,
        folder_id: i64,
        account_id: i64,
        blob_id: &str,
        size: i64,
        flags: &Flags,
        internal_date: i64,
        meta_json: &str,
        email_id: Option<i64>,
    ) -> Result<i64> {
        let row = stmt(
            "UPDATE folders SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1 \
             WHERE id = $1 RETURNING uidnext - 1, highestmodseq",
        )
        .bind(folder_id)
        .fetch_one(conn)
        .await?;
        let (uid, modseq): (i64, i64) = (row.get(0usize), row.get(1usize));
        Self::insert_row_in(
            conn,
            docs,
            folder_id,
            uid,
            modseq,
            account_id,
            blob_id,
            size,
            flags,
            internal_date,
            meta_json,
            email_id,
        )
        .await?;
        Ok(uid)
    }

    #[allow(clippy::too_many_arguments)]
    async fn insert_row_in(
        conn: &mut Conn<'_>,
        docs: bool,
        folder_id: i64,
        uid: i64,
        modseq: i64,
        account_id: i64,
        blob_id: &str,
        size: i64,
        flags: &Flags,
        internal_date: i64,
        meta_json: &str,
        email_id: Option<i64>,
    ) -> Result<()> {
        // With `docs`, the row takes its body's document ($7 is the blob id).
        let (doc_column, doc) = match docs {
            true => (
                ", doc",
                format!(", {}", crate::search_docs::row_doc_sql("$7")),
            ),
            false => ("", String::new()),
        };
        let sql = format!(
            "INSERT INTO messages (folder_id, uid, modseq, flags, internal_date, size, blob_id, meta, created_at, email_id{doc_column}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10{doc})"
        );
        stmt(sql)
            .bind(folder_id)
            .bind(uid)
            .bind(modseq)
            .bind(flags.as_str())
            .bind(internal_date)
            .bind(size)
            .bind(blob_id)
            .bind(meta_json)
            .bind(now())
            .bind(email_id)
            .execute(conn)
            .await?;
        // Quota usage is exact: it moves in the same transaction as the message.
        stmt("UPDATE accounts SET used_bytes = used_bytes + $1 WHERE id = $2")
            .bind(size)
            .bind(account_id)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// One delivery on its own (after its batch failed): the batch path with a batch of one.
    async fn commit_one_in(&self, tx: &mut Tx, job: &CommitJob) -> Result<Delivered> {
        let mut delivered = self.commit_many_in(tx, std::slice::from_ref(job)).await?;
        Ok(delivered.remove(0))
    }

    /// The committer loop: one transaction per batch of waiting deliveries.
    pub(crate) async fn run_committer(self, mut jobs: mpsc::UnboundedReceiver<CommitJob>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
            // In a task of its own: a panic fails this batch (its callers' answers are
            // dropped, so they get an error and the senders retry), not every later delivery.
            let store = self.clone();
            let taken = std::mem::take(&mut batch);
            let outcome = match tokio::spawn(async move {
                let outcome = store.commit_batch(&taken).await;
                (taken, outcome)
            })
            .await
            {
                Ok((taken, outcome)) => {
                    batch = taken;
                    outcome
                }
                Err(e) => {
                    tracing::error!(error = %e, "a delivery batch panicked; its deliveries failed");
                    batch = Vec::with_capacity(MAX_BATCH);
                    continue;
                }
            };
            match outcome {
                Ok(results) => {
                    for (job, result) in batch.drain(..).zip(results) {
                        if let Ok(delivered) = &result {
                            self.announce_placed(delivered);
                        }
                        let _ = job.reply.send(result);
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, n = batch.len(), "delivery batch failed");
                    let text = err.to_string();
                    for job in batch.drain(..) {
                        let _ = job
                            .reply
                            .send(Err(Error::Io(std::io::Error::other(text.clone()))));
                    }
                }
            }
        }
    }

    /// Commits a batch in one transaction. If any job fails, the transaction is rolled back and
    /// every job is committed on its own, so one bad delivery never fails its neighbours (and
    /// the common path pays for no savepoints).
    async fn commit_batch(&self, batch: &[CommitJob]) -> Result<Vec<Result<Delivered>>> {
        let mut tx = self.begin_write().await?;
        crate::writer::lock_batches(&mut tx, self.backend).await?;
        match self.commit_many_in(&mut tx, batch).await {
            Ok(results) => {
                tx.commit().await?;
                return Ok(results.into_iter().map(Ok).collect());
            }
            Err(err) => tracing::debug!(error = %err, "batch failed, committing one by one"),
        }
        tx.rollback().await?;
        let mut one_by_one = Vec::with_capacity(batch.len());
        for job in batch {
            let mut tx = self.begin_write().await?;
            crate::writer::lock_batches(&mut tx, self.backend).await?;
            match self.commit_one_in(&mut tx, job).await {
                Ok(delivered) => {
                    tx.commit().await?;
                    // Announced now: a later failure of this loop drops the results.
                    self.announce_placed(&delivered);
                    one_by_one.push(Ok(delivered));
                }
                Err(err) => {
                    tx.rollback().await?;
                    one_by_one.push(Err(err));
                }
            }
        }
        Ok(one_by_one)
    }

    /// A whole batch with a handful of statements, whatever its size: UIDs are taken per folder
    /// in one UPDATE, blobs, bodies and message rows go in multi-row INSERTs, quota moves once
    /// per account. (Each statement crosses to the database thread and back; per-message
    /// statements were the cost of a delivery.)
    async fn commit_many_in(&self, tx: &mut Tx, batch: &[CommitJob]) -> Result<Vec<Delivered>> {
        let keys: Vec<Option<&str>> = batch.iter().map(|job| job.key.as_deref()).collect();
        let fresh = crate::delivery_key::claim_in(tx, &keys).await?;
        let jobs: Vec<&CommitJob> = batch
            .iter()
            .zip(&fresh)
            .filter(|p| *p.1)
            .map(|p| p.0)
            .collect();
        let mut stored = self.commit_fresh_in(tx, &jobs).await?.into_iter();
        let answer = |(job, fresh): (&CommitJob, bool)| match fresh {
            true => stored.next().expect("one result per job stored"),
            false => Delivered {
                blob_id: job.blob_id.clone(),
                placed: vec![],
                queue_id: None,
                resent: true,
            },
        };
        Ok(batch.iter().zip(fresh).map(answer).collect())
    }

    /// [`Store::commit_many_in`] for the jobs whose keys were claimed.
    pub(crate) async fn commit_fresh_in(
        &self,
        tx: &mut Tx,
        batch: &[&CommitJob],
    ) -> Result<Vec<Delivered>> {
        use std::collections::BTreeMap;
        // UIDs: per (account, folder choice), in batch order.
        let mut wanted: BTreeMap<(i64, FolderKey), i64> = BTreeMap::new();
        for job in batch {
            for target in &job.delivery.targets {
                *wanted
                    .entry((target.account_id, folder_key(&target.folder)))
                    .or_default() += 1;
            }
        }
        let mut next_uid: BTreeMap<(i64, FolderKey), (i64, i64, i64)> = BTreeMap::new();
        for (&(account_id, key), &n) in &wanted {
            // A folder by name: its id, created if asked (RFC 5490 3.2); missing, INBOX.
            let named = match key {
                FolderKey::Named(name, create) => {
                    let id: Option<i64> = sqlx::query_scalar(
                        "SELECT id FROM folders WHERE account_id = $1 AND name = $2",
                    )
                    .bind(account_id)
                    .bind(name.to_string())
                    .fetch_optional(&mut **tx)
                    .await?;
                    match id {
                        Some(id) => Some(id),
                        None if create => {
                            Some(Self::create_folder_in(tx, account_id, name, None).await?)
                        }
                        None => None,
                    }
                }
                FolderKey::Id(id) => Some(id),
                FolderKey::Special(_) => None,
            };
            let row = match named {
                Some(folder_id) => sqlx::query(
                    "UPDATE folders SET uidnext = uidnext + $2, highestmodseq = highestmodseq + $2 \
                     WHERE id = $1 RETURNING id, uidnext - $2, highestmodseq - $2",
                )
                .bind(folder_id)
                .bind(n)
                .fetch_optional(&mut **tx)
                .await?,
                None => {
                    let special = match key {
                        FolderKey::Special(flag) => flag,
                        FolderKey::Named(..) | FolderKey::Id(_) => "",
                    };
                    sqlx::query(
                        "UPDATE folders SET uidnext = uidnext + $3, highestmodseq = highestmodseq + $3 \
                         WHERE id = (SELECT id FROM folders WHERE account_id = $1 AND \
                           ((special_use = $2 AND $2 <> '') OR name = 'INBOX') \
                           ORDER BY CASE WHEN name = 'INBOX' THEN 1 ELSE 0 END LIMIT 1) \
                         RETURNING id, uidnext - $3, highestmodseq - $3",
                    )
                    .bind(account_id)
                    .bind(special.to_string())
                    .bind(n)
                    .fetch_optional(&mut **tx)
                    .await?
                }
            }
            .ok_or_else(|| Error::NotFound(format!("folder {key:?} of account {account_id}")))?;
            next_uid.insert((account_id, key), (row.get(0), row.get(1), row.get(2)));
        }
        // Blobs: one row per distinct body, references summed.
        let mut blobs: BTreeMap<&str, (&[u8], i64)> = BTreeMap::new();
        for job in batch {
            let refs = job.delivery.targets.len() as i64 + job.delivery.outbound.is_some() as i64;
            blobs
                .entry(&job.blob_id)
                .or_insert((&job.delivery.raw[..], 0))
                .1 += refs;
        }
        let at = now();
        for chunk in blobs.iter().collect::<Vec<_>>().chunks(100) {
            let rows = crate::value_rows(chunk.len(), 4);
            let sql = format!(
                "INSERT INTO blobs (id, size, refcount, created_at) VALUES {} \
                 ON CONFLICT (id) DO UPDATE SET refcount = blobs.refcount + excluded.refcount",
                rows
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (id, (bytes, refs)) in chunk {
                query = query
                    .bind(id.to_string())
                    .bind(bytes.len() as i64)
                    .bind(*refs)
                    .bind(at);
            }
            query.execute(&mut **tx).await?;
            let inline: Vec<_> = chunk
                .iter()
                .filter(|(_, (bytes, _))| self.blobs.in_database(bytes.len()))
                .collect();
            if !inline.is_empty() {
                let rows = crate::value_rows(inline.len(), 2);
                let sql = format!(
                    "INSERT INTO blob_data (id, data) VALUES {} ON CONFLICT (id) DO NOTHING",
                    rows
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (id, (bytes, _)) in inline {
                    query = query.bind(id.to_string()).bind(bytes.to_vec());
                }
                query.execute(&mut **tx).await?;
            }
        }
        // Message rows, in batch order; quota per account.
        struct Row<'a> {
            folder_id: i64,
            uid: i64,
            modseq: i64,
            target: &'a DeliveryTarget,
            job: usize,
        }
        let mut rows = vec![];
        let mut placed: Vec<Vec<(i64, i64, i64)>> = vec![vec![]; batch.len()];
        let mut usage: BTreeMap<i64, i64> = BTreeMap::new();
        for (index, job) in batch.iter().enumerate() {
            for target in &job.delivery.targets {
                let slot = next_uid
                    .get_mut(&(target.account_id, folder_key(&target.folder)))
                    .expect("allocated above");
                let (folder_id, uid, modseq) = (slot.0, slot.1, slot.2 + 1);
                slot.1 += 1;
                slot.2 += 1;
                placed[index].push((target.account_id, folder_id, uid));
                *usage.entry(target.account_id).or_default() += job.delivery.raw.len() as i64;
                rows.push(Row {
                    folder_id,
                    uid,
                    modseq,
                    target,
                    job: index,
                });
            }
        }
        let metas: Vec<String> = batch
            .iter()
            .map(|job| job.delivery.meta.to_json())
            .collect();
        // Full-text index terms, once per distinct body (issue 13): in the message's own
        // transaction, before the rows, which take their body's document.
        let mut terms: BTreeMap<&str, Option<&[String]>> = BTreeMap::new();
        for job in batch.iter().filter(|j| !j.delivery.targets.is_empty()) {
            if let Some(t) = &job.terms {
                terms.entry(&job.blob_id).or_insert(t.as_deref());
            }
        }
        let terms: Vec<(&str, Option<&[String]>)> = terms.into_iter().collect();
        Self::insert_search_terms_in(&mut Conn::Sqlx(&mut *tx), &terms).await?;
        for chunk in rows.chunks(100) {
            // With `message_docs`, each row takes its body's document (`$7` of a row is its
            // blob id).
            let values = (0..chunk.len())
                .map(|k| {
                    let n = 9 * k;
                    let places: Vec<String> = (1..=9).map(|i| format!("${}", n + i)).collect();
                    let doc = match self.message_docs {
                        true => format!(
                            ", {}",
                            crate::search_docs::row_doc_sql(&format!("${}", n + 7))
                        ),
                        false => String::new(),
                    };
                    format!("({}{doc})", places.join(", "))
                })
                .collect::<Vec<_>>()
                .join(", ");
            let doc_column = if self.message_docs { ", doc" } else { "" };
            let sql = format!(
                "INSERT INTO messages (folder_id, uid, modseq, flags, internal_date, size, blob_id, meta, created_at{doc_column}) VALUES {values}"
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for row in chunk {
                let job = &batch[row.job];
                query = query
                    .bind(row.folder_id)
                    .bind(row.uid)
                    .bind(row.modseq)
                    .bind(row.target.flags.as_str().to_string())
                    .bind(job.delivery.internal_date)
                    .bind(job.delivery.raw.len() as i64)
                    .bind(job.blob_id.clone())
                    .bind(metas[row.job].clone())
                    .bind(at);
            }
            query.execute(&mut **tx).await?;
        }
        // Sort records, once per distinct body placed in a folder.
        let mut sorts: BTreeMap<&str, &crate::SortRecord> = BTreeMap::new();
        for job in batch.iter().filter(|j| !j.delivery.targets.is_empty()) {
            sorts.entry(&job.blob_id).or_insert(&job.sort);
        }
        let sorts: Vec<(&str, &crate::SortRecord)> = sorts.into_iter().collect();
        Self::insert_sort_records_in(&mut Conn::Sqlx(&mut *tx), &sorts).await?;
        for (account_id, bytes) in usage {
            // Quota usage is exact: it moves in the same transaction as the messages.
            sqlx::query("UPDATE accounts SET used_bytes = used_bytes + $1 WHERE id = $2")
                .bind(bytes)
                .bind(account_id)
                .execute(&mut **tx)
                .await?;
        }
        let mut results = Vec::with_capacity(batch.len());
        for (index, job) in batch.iter().enumerate() {
            let queue_id = match &job.delivery.outbound {
                Some(envelope) => Some(
                    Self::enqueue_in(tx, &job.blob_id, job.delivery.raw.len() as i64, envelope)
                        .await?,
                ),
                None => None,
            };
            for event in &job.delivery.events {
                event
                    .row(at)
                    .insert()
                    .execute(&mut Conn::Sqlx(&mut *tx))
                    .await?;
            }
            results.push(Delivered {
                blob_id: job.blob_id.clone(),
                placed: std::mem::take(&mut placed[index]),
                queue_id,
                resent: false,
            });
        }
        Ok(results)
    }

    /// True when blobs live in files (SQLite default).
    pub fn blobs_in_files(&self) -> bool {
        matches!(self.blobs, BlobStore::Files { .. })
    }

    /// The backend's name for logs and health output.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}
