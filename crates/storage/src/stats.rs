//! Figures for the health endpoint and the metrics: queue depth, storage per domain.

use sqlx::Row;

use crate::{Result, Store};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Recipients still waiting for delivery.
    pub pending: i64,
    /// When the oldest pending entry was queued (Unix seconds).
    pub oldest: Option<i64>,
}

impl Store {
    pub async fn queue_stats(&self) -> Result<QueueStats> {
        let row = sqlx::query(
            "SELECT COUNT(*), MIN(m.created_at) FROM queue_recipients r \
             JOIN queue_messages m ON m.id = r.message_id WHERE r.status = 'pending'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(QueueStats {
            pending: row.get(0),
            oldest: row.try_get::<Option<i64>, _>(1).unwrap_or(None),
        })
    }

    /// (domain, bytes used, accounts) for every hosted domain.
    pub async fn storage_per_domain(&self) -> Result<Vec<(String, i64, i64)>> {
        let rows = sqlx::query(
            "SELECT d.name, CAST(COALESCE(SUM(a.used_bytes), 0) AS BIGINT), COUNT(a.id) \
             FROM domains d LEFT JOIN accounts a ON a.domain_id = d.id GROUP BY d.name ORDER BY d.name",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }
}
