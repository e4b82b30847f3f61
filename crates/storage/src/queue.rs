//! The durable outbound queue: one row per message, one per recipient with its own state.

use serde::Serialize;
use sqlx::Row;

use crate::mail::OutboundEnvelope;
use crate::{now, Result, Store};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct QueueEntry {
    pub id: i64,
    pub message_id: i64,
    pub sender: String,
    pub recipient: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt: i64,
    pub last_error: String,
    pub size: i64,
    pub created_at: i64,
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

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
        for (recipient, notify, orcpt) in &envelope.recipients {
            let domain = recipient
                .rsplit_once('@')
                .map(|(_, d)| d)
                .unwrap_or("")
                .to_lowercase();
            sqlx::query(
                "INSERT INTO queue_recipients (message_id, recipient, domain, notify, orcpt, next_attempt) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(message_id)
            .bind(recipient.clone())
            .bind(domain)
            .bind(notify.clone())
            .bind(orcpt.clone())
            .bind(at)
            .execute(&mut **tx)
            .await?;
        }
        Ok(message_id)
    }

    /// Queue entries (one per recipient), oldest first.
    pub async fn queue_entries(&self) -> Result<Vec<QueueEntry>> {
        let rows = sqlx::query(
            "SELECT r.id, r.message_id, m.sender, r.recipient, r.status, r.attempts, r.next_attempt, \
             r.last_error, m.size, m.created_at FROM queue_recipients r \
             JOIN queue_messages m ON m.id = r.message_id ORDER BY r.id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| QueueEntry {
                id: r.get(0),
                message_id: r.get(1),
                sender: r.get(2),
                recipient: r.get(3),
                status: r.get(4),
                attempts: r.get(5),
                next_attempt: r.get(6),
                last_error: r.get(7),
                size: r.get(8),
                created_at: r.get(9),
            })
            .collect())
    }
}
