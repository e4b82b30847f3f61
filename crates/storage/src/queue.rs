//! The durable outbound queue: one row per message, one per recipient with its own state.
//!
//! Delivery workers (in this process or on other nodes sharing the database) *claim* due
//! recipients by writing a lease (`lease_owner`, `lease_until`) on them:
//! - PostgreSQL: `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)`, so concurrent
//!   claimers skip each other's rows instead of waiting, and a row whose lease was just taken
//!   is re-checked against the new lease (READ COMMITTED re-evaluation) and left alone.
//! - SQLite: the same `UPDATE ... RETURNING` inside `BEGIN IMMEDIATE`: one writer at a time.
//!
//! A lease that is not renewed (the worker crashed) expires and the entry is claimed again:
//! delivery is at-least-once, never lost. Results are written only while the lease is still
//! the writer's. When no recipient of a message is pending any more the message is *done*
//! (`done_at`); finished messages are purged later ([`Store::queue_purge`]), which releases
//! the queue's reference on the blob (until then a failed entry can be retried).

use serde::Serialize;
use sqlx::Row;

use crate::{now, Backend, Error, Result, Store};

#[derive(Debug, Clone, Default)]
pub struct OutboundEnvelope {
    pub sender: String,
    pub account_id: Option<i64>,
    pub env_id: Option<String>,
    pub ret: Option<String>,
    pub recipients: Vec<OutboundRecipient>,
}

/// One recipient outside our domains, with the DSN parameters its RCPT carried (RFC 3461).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRecipient {
    /// The forward path, `local@domain`.
    pub address: String,
    /// DSN NOTIFY, e.g. `FAILURE,DELAY` or `NEVER`; None when not given.
    pub notify: Option<String>,
    /// DSN ORCPT, the original recipient: `rfc822;addr` or just the address.
    pub orcpt: Option<String>,
}

impl OutboundRecipient {
    /// A recipient without DSN parameters (a forward target, a test).
    pub fn new(address: impl Into<String>) -> OutboundRecipient {
        OutboundRecipient {
            address: address.into(),
            notify: None,
            orcpt: None,
        }
    }

    /// The lower-case domain of the address ("" when there is none).
    pub fn domain(&self) -> String {
        self.address
            .rsplit_once('@')
            .map(|(_, domain)| domain)
            .unwrap_or("")
            .to_lowercase()
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct QueueEntry {
    /// The recipient row's id: what `govmail queue show|retry|delete` take.
    pub id: i64,
    pub message_id: i64,
    pub sender: String,
    pub recipient: String,
    /// Lower-case domain of the recipient.
    pub domain: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt: i64,
    pub last_error: String,
    pub last_attempt: Option<i64>,
    /// The host that gave the last answer.
    pub remote_mta: String,
    /// DSN NOTIFY (RFC 3461), e.g. `FAILURE,DELAY`, `NEVER`; None = not given.
    pub notify: Option<String>,
    /// DSN ORCPT, e.g. `rfc822;someone@example.org`.
    pub orcpt: Option<String>,
    pub env_id: Option<String>,
    /// DSN RET: `FULL` or `HDRS`.
    pub ret: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub delay_notified: bool,
    pub size: i64,
    /// When the message was queued.
    pub created_at: i64,
    /// Start of this recipient's queue life (max age and delay notices count from it).
    pub queued_at: i64,
    /// The submitting account.
    pub account_id: Option<i64>,
    pub blob_id: String,
    /// Set once no recipient of the message is pending.
    pub done_at: Option<i64>,
}

/// What became of one claimed recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueOutcome {
    Delivered,
    Failed,
    /// Temporary failure: try again at this time.
    Retry {
        next_attempt: i64,
    },
    /// Not attempted (e.g. shutdown): give the lease back, count nothing.
    Release,
}

/// One result written by [`Store::queue_complete`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUpdate {
    pub id: i64,
    pub outcome: QueueOutcome,
    /// The remote answer or local reason (kept as `last_error`, also on success).
    pub error: String,
    pub remote_mta: String,
    /// A delay notice (DSN action=delayed) has now been sent.
    pub delay_notified: bool,
}

use crate::Tx;

const ENTRY_SELECT: &str = "SELECT r.id, r.message_id, m.sender, r.recipient, r.domain, r.status, \
     r.attempts, r.next_attempt, r.last_error, r.last_attempt, r.remote_mta, r.notify, r.orcpt, \
     m.env_id, m.ret, r.lease_owner, r.lease_until, r.delay_notified, m.size, m.created_at, \
     COALESCE(r.queued_at, m.created_at), m.account_id, m.blob_id, m.done_at \
     FROM queue_recipients r JOIN queue_messages m ON m.id = r.message_id";

fn entry_from_row(r: &sqlx::any::AnyRow) -> QueueEntry {
    QueueEntry {
        id: r.get(0),
        message_id: r.get(1),
        sender: r.get(2),
        recipient: r.get(3),
        domain: r.get(4),
        status: r.get(5),
        attempts: r.get(6),
        next_attempt: r.get(7),
        last_error: r.get(8),
        last_attempt: r.get(9),
        remote_mta: r.get(10),
        notify: r.get(11),
        orcpt: r.get(12),
        env_id: r.get(13),
        ret: r.get(14),
        lease_owner: r.get(15),
        lease_until: r.get(16),
        delay_notified: r.get::<i64, _>(17) != 0,
        size: r.get(18),
        created_at: r.get(19),
        queued_at: r.get(20),
        account_id: r.get(21),
        blob_id: r.get(22),
        done_at: r.get(23),
    }
}

impl Store {
    /// Inside a delivery transaction: queues a message for its external recipients.
    pub(crate) async fn enqueue_in(
        tx: &mut Tx,
        blob_id: &str,
        size: i64,
        envelope: &OutboundEnvelope,
    ) -> Result<i64> {
        let at = now();
        let message_id: i64 = sqlx::query_scalar(
            "INSERT INTO queue_messages (blob_id, sender, account_id, env_id, ret, size, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(blob_id.to_string())
        .bind(envelope.sender.clone())
        .bind(envelope.account_id)
        .bind(envelope.env_id.clone())
        .bind(envelope.ret.clone())
        .bind(size)
        .bind(at)
        .fetch_one(&mut **tx)
        .await?;
        for recipient in &envelope.recipients {
            sqlx::query(
                "INSERT INTO queue_recipients (message_id, recipient, domain, notify, orcpt, next_attempt) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(message_id)
            .bind(recipient.address.clone())
            .bind(recipient.domain())
            .bind(recipient.notify.clone())
            .bind(recipient.orcpt.clone())
            .bind(at)
            .execute(&mut **tx)
            .await?;
        }
        Ok(message_id)
    }

    /// Queue entries (one per recipient), oldest first.
    pub async fn queue_entries(&self) -> Result<Vec<QueueEntry>> {
        self.queue_list(None, i64::MAX).await
    }

    /// Queue entries with `status` (all when None), oldest first, at most `limit`.
    pub async fn queue_list(&self, status: Option<&str>, limit: i64) -> Result<Vec<QueueEntry>> {
        let sql = format!("{ENTRY_SELECT} WHERE ($1 = '' OR r.status = $1) ORDER BY r.id LIMIT $2");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(status.unwrap_or("").to_string())
            .bind(limit.max(0))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(entry_from_row).collect())
    }

    /// One queue entry by its id.
    pub async fn queue_entry(&self, id: i64) -> Result<QueueEntry> {
        let sql = format!("{ENTRY_SELECT} WHERE r.id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| Error::NotFound(format!("queue entry {id}")))?;
        Ok(entry_from_row(&row))
    }

    /// The recipients of one queued message.
    pub async fn queue_message_entries(&self, message_id: i64) -> Result<Vec<QueueEntry>> {
        let sql = format!("{ENTRY_SELECT} WHERE r.message_id = $1 ORDER BY r.id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(message_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(entry_from_row).collect())
    }

    /// Number of pending entries (for metrics and tests).
    pub async fn queue_pending_count(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM queue_recipients WHERE status = 'pending'")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Claims up to `limit` due, unleased pending entries for `owner` until `lease_until`,
    /// skipping recipients in `exclude_domains` (the caller's busy destinations). Entries
    /// leased by someone else whose lease has expired (a crashed worker) are due again.
    /// Never hands the same entry to two claimers whose leases overlap.
    pub async fn queue_claim(
        &self,
        owner: &str,
        at: i64,
        lease_until: i64,
        limit: i64,
        exclude_domains: &[String],
    ) -> Result<Vec<QueueEntry>> {
        if limit <= 0 {
            return Ok(vec![]);
        }
        let exclude: Vec<String> = exclude_domains
            .iter()
            .enumerate()
            .map(|(i, _)| format!("${}", i + 5))
            .collect();
        let exclude = if exclude.is_empty() {
            String::new()
        } else {
            format!(" AND domain NOT IN ({})", exclude.join(", "))
        };
        let due = format!(
            "SELECT id FROM queue_recipients WHERE status = 'pending' AND next_attempt <= $3 \
             AND (lease_until IS NULL OR lease_until <= $3){exclude} ORDER BY next_attempt, id LIMIT $4"
        );
        let sql = match self.backend {
            // The locking CTE runs once: the rows it returns are locked (others are skipped,
            // not waited for) and exactly those get the lease. (`WHERE id IN (subquery
            // ... LIMIT)` may be re-evaluated by the planner and take more than the limit.)
            Backend::Postgres => format!(
                "WITH picked AS ({due} FOR UPDATE SKIP LOCKED) \
                 UPDATE queue_recipients AS r SET lease_owner = $1, lease_until = $2 \
                 FROM picked WHERE r.id = picked.id RETURNING r.id"
            ),
            // One writer at a time (BEGIN IMMEDIATE): select and update cannot interleave.
            Backend::Sqlite => format!(
                "UPDATE queue_recipients SET lease_owner = $1, lease_until = $2 \
                 WHERE id IN ({due}) RETURNING id"
            ),
        };
        let mut tx = self.begin_write().await?;
        let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(owner.to_string())
            .bind(lease_until)
            .bind(at)
            .bind(limit);
        for domain in exclude_domains {
            query = query.bind(domain.clone());
        }
        let ids: Vec<i64> = query.fetch_all(&mut *tx).await?;
        tx.commit().await?;
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let placeholders: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "{ENTRY_SELECT} WHERE r.lease_owner = $1 AND r.id IN ({}) ORDER BY r.id",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(owner.to_string());
        for id in &ids {
            query = query.bind(*id);
        }
        let rows = query.fetch_all(&self.pool).await?;
        Ok(rows.iter().map(entry_from_row).collect())
    }

    /// Extends `owner`'s leases on the entries `ids` (those it is still working on) to
    /// `lease_until`: the worker's heartbeat. Returns how many leases were extended.
    pub async fn queue_renew_leases(
        &self,
        owner: &str,
        ids: &[i64],
        lease_until: i64,
    ) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let mut n = 0;
        for chunk in ids.chunks(500) {
            let placeholders: Vec<String> =
                (0..chunk.len()).map(|i| format!("${}", i + 3)).collect();
            let sql = format!(
                "UPDATE queue_recipients SET lease_until = $2 \
                 WHERE lease_owner = $1 AND status = 'pending' AND id IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(owner.to_string())
                .bind(lease_until);
            for id in chunk {
                query = query.bind(*id);
            }
            n += query.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    /// Gives back every lease `owner` holds (clean shutdown).
    pub async fn queue_release(&self, owner: &str) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE queue_recipients SET lease_owner = NULL, lease_until = NULL \
             WHERE lease_owner = $1",
        )
        .bind(owner.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    /// Writes the results of an attempt, in one transaction. Only entries still leased by
    /// `owner` change (a worker whose lease expired and was taken over writes nothing).
    /// Returns the ids that were updated.
    pub async fn queue_complete(
        &self,
        owner: &str,
        at: i64,
        updates: &[QueueUpdate],
    ) -> Result<Vec<i64>> {
        let mut tx = self.begin_write().await?;
        let mut updated = vec![];
        let mut messages = vec![];
        for update in updates {
            let (status, next_attempt, counts) = match &update.outcome {
                QueueOutcome::Delivered => ("delivered", None, true),
                QueueOutcome::Failed => ("failed", None, true),
                QueueOutcome::Retry { next_attempt } => ("pending", Some(*next_attempt), true),
                QueueOutcome::Release => ("pending", None, false),
            };
            let row: Option<i64> = if counts {
                sqlx::query_scalar(
                    "UPDATE queue_recipients SET status = $3, \
                     next_attempt = COALESCE($4, next_attempt), attempts = attempts + 1, \
                     last_error = $5, remote_mta = $6, last_attempt = $7, \
                     delay_notified = CASE WHEN $8 = 1 THEN 1 ELSE delay_notified END, \
                     lease_owner = NULL, lease_until = NULL \
                     WHERE id = $1 AND lease_owner = $2 AND status = 'pending' RETURNING message_id",
                )
                .bind(update.id)
                .bind(owner.to_string())
                .bind(status.to_string())
                .bind(next_attempt)
                .bind(update.error.clone())
                .bind(update.remote_mta.clone())
                .bind(at)
                .bind(update.delay_notified as i64)
                .fetch_optional(&mut *tx)
                .await?
            } else {
                sqlx::query_scalar(
                    "UPDATE queue_recipients SET lease_owner = NULL, lease_until = NULL, \
                     delay_notified = CASE WHEN $3 = 1 THEN 1 ELSE delay_notified END \
                     WHERE id = $1 AND lease_owner = $2 AND status = 'pending' RETURNING message_id",
                )
                .bind(update.id)
                .bind(owner.to_string())
                .bind(update.delay_notified as i64)
                .fetch_optional(&mut *tx)
                .await?
            };
            if let Some(message_id) = row {
                updated.push(update.id);
                if !messages.contains(&message_id) {
                    messages.push(message_id);
                }
            }
        }
        for message_id in messages {
            Self::finish_message_if_done_in(&mut tx, message_id, at).await?;
        }
        tx.commit().await?;
        Ok(updated)
    }

    /// Inside a transaction: marks the message done when no recipient is pending any more.
    /// (Its blob reference is kept until [`Store::queue_purge`], so a failed entry can still
    /// be retried and the blob row is never collected under a queue row pointing at it.)
    async fn finish_message_if_done_in(tx: &mut Tx, message_id: i64, at: i64) -> Result<()> {
        let pending: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM queue_recipients WHERE message_id = $1 AND status = 'pending'",
        )
        .bind(message_id)
        .fetch_one(&mut **tx)
        .await?;
        if pending == 0 {
            sqlx::query("UPDATE queue_messages SET done_at = $2 WHERE id = $1 AND done_at IS NULL")
                .bind(message_id)
                .bind(at)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Inside a transaction: deletes a queue message row and releases its blob reference.
    async fn drop_message_in(tx: &mut Tx, message_id: i64) -> Result<()> {
        let blob: Option<String> =
            sqlx::query_scalar("DELETE FROM queue_messages WHERE id = $1 RETURNING blob_id")
                .bind(message_id)
                .fetch_optional(&mut **tx)
                .await?;
        if let Some(blob_id) = blob {
            sqlx::query("UPDATE blobs SET refcount = refcount - 1 WHERE id = $1")
                .bind(blob_id)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// `govmail queue retry`: a pending entry becomes due now; a failed one is queued again
    /// with a fresh life (attempts, age and delay notice restart). Delivered entries are not
    /// sent twice; purged ones are gone.
    pub async fn queue_retry(&self, id: i64) -> Result<QueueEntry> {
        let entry = self.queue_entry(id).await?;
        let at = now();
        let mut tx = self.begin_write().await?;
        match entry.status.as_str() {
            "pending" => {
                sqlx::query("UPDATE queue_recipients SET next_attempt = $2 WHERE id = $1")
                    .bind(id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
            }
            "failed" => {
                sqlx::query("UPDATE queue_messages SET done_at = NULL WHERE id = $1")
                    .bind(entry.message_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE queue_recipients SET status = 'pending', attempts = 0, \
                     next_attempt = $2, queued_at = $2, delay_notified = 0, \
                     lease_owner = NULL, lease_until = NULL WHERE id = $1",
                )
                .bind(id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            _ => {
                return Err(Error::Invalid(format!(
                    "queue entry {id} was already delivered"
                )))
            }
        }
        tx.commit().await?;
        self.queue_entry(id).await
    }

    /// `govmail queue delete`: removes one recipient from the queue (nothing is sent for it,
    /// no notice). The message goes when its last recipient does.
    pub async fn queue_delete(&self, id: i64) -> Result<()> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let message_id: Option<i64> =
            sqlx::query_scalar("DELETE FROM queue_recipients WHERE id = $1 RETURNING message_id")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(message_id) = message_id else {
            return Err(Error::NotFound(format!("queue entry {id}")));
        };
        Self::finish_message_if_done_in(&mut tx, message_id, at).await?;
        let left: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM queue_recipients WHERE message_id = $1")
                .bind(message_id)
                .fetch_one(&mut *tx)
                .await?;
        if left == 0 {
            Self::drop_message_in(&mut tx, message_id).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes finished messages (and their recipient rows) done before `before`, releasing
    /// their blob references. Returns how many messages went.
    pub async fn queue_purge(&self, before: i64) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM queue_messages WHERE done_at IS NOT NULL AND done_at < $1 ORDER BY id",
        )
        .bind(before)
        .fetch_all(&mut *tx)
        .await?;
        for id in &ids {
            sqlx::query("DELETE FROM queue_recipients WHERE message_id = $1")
                .bind(*id)
                .execute(&mut *tx)
                .await?;
            Self::drop_message_in(&mut tx, *id).await?;
        }
        tx.commit().await?;
        Ok(ids.len() as u64)
    }
}
