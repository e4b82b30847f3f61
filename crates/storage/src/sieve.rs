//! Sieve scripts of a mailbox (ManageSieve, `govmail user vacation`) and the vacation
//! replies sent (RFC 5230 4.2: once per sender and handle per `:days`). The scripts' meaning
//! is the `sieve` crate's; this module only keeps them.

use serde::Serialize;
use sqlx::Row;

use crate::{now, Error, Result, Store};

/// One stored script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SieveScript {
    pub id: i64,
    pub account_id: i64,
    pub name: String,
    pub content: String,
    pub active: bool,
    pub updated_at: i64,
}

fn script_from_row(r: &sqlx::any::AnyRow) -> SieveScript {
    SieveScript {
        id: r.get(0),
        account_id: r.get(1),
        name: r.get(2),
        content: r.get(3),
        active: r.get::<i64, _>(4) != 0,
        updated_at: r.get(5),
    }
}

const SCRIPT_SELECT: &str =
    "SELECT id, account_id, name, content, active, updated_at FROM sieve_scripts";

impl Store {
    /// The account's scripts by name (contents included).
    pub async fn sieve_scripts(&self, account_id: i64) -> Result<Vec<SieveScript>> {
        let sql = format!("{SCRIPT_SELECT} WHERE account_id = $1 ORDER BY name");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(script_from_row).collect())
    }

    pub async fn sieve_script(&self, account_id: i64, name: &str) -> Result<SieveScript> {
        let sql = format!("{SCRIPT_SELECT} WHERE account_id = $1 AND name = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(name.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| Error::NotFound(format!("script {name}")))?;
        Ok(script_from_row(&row))
    }

    /// Stores a script under `name` (replacing its content if it exists, keeping its active
    /// flag). A new name beyond `max_scripts` scripts is [`Error::OverQuota`].
    pub async fn put_sieve_script(
        &self,
        account_id: i64,
        name: &str,
        content: &str,
        max_scripts: usize,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE sieve_scripts SET content = $3, updated_at = $4 WHERE account_id = $1 AND name = $2",
        )
        .bind(account_id)
        .bind(name.to_string())
        .bind(content.to_string())
        .bind(now())
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            let count: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM sieve_scripts WHERE account_id = $1")
                    .bind(account_id)
                    .fetch_one(&mut *tx)
                    .await?;
            if count as usize >= max_scripts {
                return Err(Error::OverQuota);
            }
            sqlx::query(
                "INSERT INTO sieve_scripts (account_id, name, content, active, updated_at) \
                 VALUES ($1, $2, $3, 0, $4)",
            )
            .bind(account_id)
            .bind(name.to_string())
            .bind(content.to_string())
            .bind(now())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Makes `name` the active script (RFC 5804 2.8), or none with `None`.
    pub async fn set_active_sieve_script(&self, account_id: i64, name: Option<&str>) -> Result<()> {
        let mut tx = self.begin_write().await?;
        if let Some(name) = name {
            let exists: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM sieve_scripts WHERE account_id = $1 AND name = $2",
            )
            .bind(account_id)
            .bind(name.to_string())
            .fetch_one(&mut *tx)
            .await?;
            if exists == 0 {
                return Err(Error::NotFound(format!("script {name}")));
            }
        }
        sqlx::query(
            "UPDATE sieve_scripts SET active = CASE WHEN name = $2 THEN 1 ELSE 0 END \
             WHERE account_id = $1 AND (active = 1 OR name = $2)",
        )
        .bind(account_id)
        .bind(name.unwrap_or("").to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a script; false when there was none by that name.
    pub async fn delete_sieve_script(&self, account_id: i64, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM sieve_scripts WHERE account_id = $1 AND name = $2")
            .bind(account_id)
            .bind(name.to_string())
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Renames a script (its active flag goes with it).
    pub async fn rename_sieve_script(&self, account_id: i64, from: &str, to: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let taken: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sieve_scripts WHERE account_id = $1 AND name = $2",
        )
        .bind(account_id)
        .bind(to.to_string())
        .fetch_one(&mut *tx)
        .await?;
        if taken > 0 {
            return Err(Error::AlreadyExists(format!("script {to}")));
        }
        let done = sqlx::query(
            "UPDATE sieve_scripts SET name = $3, updated_at = $4 WHERE account_id = $1 AND name = $2",
        )
        .bind(account_id)
        .bind(from.to_string())
        .bind(to.to_string())
        .bind(now())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound(format!("script {from}")));
        }
        tx.commit().await?;
        Ok(())
    }

    /// The active scripts of these accounts (those that have one), for a delivery.
    pub async fn active_sieve_scripts(&self, account_ids: &[i64]) -> Result<Vec<SieveScript>> {
        let mut out = vec![];
        for chunk in account_ids.chunks(500) {
            let placeholders: Vec<String> =
                (0..chunk.len()).map(|i| format!("${}", i + 1)).collect();
            let sql = format!(
                "{SCRIPT_SELECT} WHERE active = 1 AND account_id IN ({}) ORDER BY account_id",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(*id);
            }
            out.extend(
                query
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(script_from_row),
            );
        }
        Ok(out)
    }

    /// Every address that delivers to the account (primary and aliases), lower case: the
    /// "own addresses" of a vacation reply (RFC 5230 4.5).
    pub async fn account_addresses(&self, account_id: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT address FROM addresses WHERE account_id = $1 ORDER BY address",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// RFC 5230 4.2: true (and the reply recorded as sent at `at`) when no reply with this
    /// handle went to `sender` in the last `days` days; false otherwise. One statement, so two
    /// deliveries at once never both reply.
    pub async fn vacation_reply_due(
        &self,
        account_id: i64,
        sender: &str,
        handle: &str,
        days: u64,
        at: i64,
    ) -> Result<bool> {
        let window = (days as i64).saturating_mul(86_400);
        let done = sqlx::query(
            "INSERT INTO vacation_replies (account_id, sender, handle, sent_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account_id, sender, handle) DO UPDATE SET sent_at = $4 \
             WHERE vacation_replies.sent_at <= $5",
        )
        .bind(account_id)
        .bind(sender.to_lowercase())
        .bind(handle.to_string())
        .bind(at)
        .bind(at - window)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
