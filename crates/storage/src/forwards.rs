//! Forward rules (BD-11, KT-9): where an account's incoming mail is also (or instead) sent.
//! Whether a target is allowed is policy's decision; this module only keeps the rules.

use serde::Serialize;
use sqlx::Row;

use crate::{normalize_address, now, Error, Result, Store};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Forward {
    pub account_id: i64,
    pub address: String,
    pub target: String,
    /// The account keeps its own copy too.
    pub keep_copy: bool,
    pub doc_ref: String,
}

impl Store {
    /// Sets (or replaces) the forward rule of the account `address` names.
    pub async fn set_forward(
        &self,
        address: &str,
        target: &str,
        keep_copy: bool,
        doc_ref: &str,
    ) -> Result<()> {
        let account_id = self.account_of(address).await?;
        sqlx::query(
            "INSERT INTO forwards (account_id, target, keep_copy, doc_ref, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id) DO UPDATE \
             SET target = $2, keep_copy = $3, doc_ref = $4, created_at = $5",
        )
        .bind(account_id)
        .bind(normalize_address(target))
        .bind(keep_copy as i64)
        .bind(doc_ref.to_string())
        .bind(now())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Removes the account's forward rule; false when it had none.
    pub async fn clear_forward(&self, address: &str) -> Result<bool> {
        let account_id = self.account_of(address).await?;
        let done = sqlx::query("DELETE FROM forwards WHERE account_id = $1")
            .bind(account_id)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The forward rules of these accounts (those that have one).
    pub async fn forwards_for(&self, account_ids: &[i64]) -> Result<Vec<Forward>> {
        let mut out = vec![];
        for chunk in account_ids.chunks(500) {
            let placeholders: Vec<String> =
                (0..chunk.len()).map(|i| format!("${}", i + 1)).collect();
            let sql = format!(
                "SELECT f.account_id, a.address, f.target, f.keep_copy, f.doc_ref \
                 FROM forwards f JOIN accounts a ON a.id = f.account_id \
                 WHERE f.account_id IN ({}) ORDER BY f.account_id",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&self.pool).await? {
                out.push(Forward {
                    account_id: row.get(0),
                    address: row.get(1),
                    target: row.get(2),
                    keep_copy: row.get::<i64, _>(3) != 0,
                    doc_ref: row.get(4),
                });
            }
        }
        Ok(out)
    }

    async fn account_of(&self, address: &str) -> Result<i64> {
        let address = normalize_address(address);
        sqlx::query_scalar(
            "SELECT account_id FROM addresses WHERE address = $1 AND account_id IS NOT NULL",
        )
        .bind(address.clone())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| Error::NotFound(format!("account {address}")))
    }
}
