//! Mailbox names outside the folder rows: an account's subscription list (RFC 9051 6.3.7,
//! 6.3.8), which outlives the mailboxes it names, and the claim of \Recent messages
//! (RFC 3501 2.3.2).

use crate::{Result, Store, Tx};

impl Store {
    /// The names on an account's subscription list, sorted; some may name no mailbox.
    pub async fn subscriptions(&self, account_id: i64) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar(
                "SELECT name FROM subscriptions WHERE account_id = $1 ORDER BY name",
            )
            .bind(account_id)
            .fetch_all(&self.pool)
            .await?,
        )
    }

    /// Adds `name` to, or removes it from, the subscription list; true when the list changed.
    pub async fn set_subscription(
        &self,
        account_id: i64,
        name: &str,
        subscribed: bool,
    ) -> Result<bool> {
        let owned = name.to_string();
        let changed = self
            .write(move |tx| {
                Box::pin(async move {
                    let done = if subscribed {
                        sqlx::query(
                            "INSERT INTO subscriptions (account_id, name) VALUES ($1, $2) \
                         ON CONFLICT (account_id, name) DO NOTHING",
                        )
                    } else {
                        sqlx::query("DELETE FROM subscriptions WHERE account_id = $1 AND name = $2")
                    }
                    .bind(account_id)
                    .bind(owned)
                    .execute(&mut **tx)
                    .await?;
                    Ok(done.rows_affected() > 0)
                })
            })
            .await?;
        // Sessions watching subscriptions (RFC 5465 SubscriptionChange) learn of it.
        if changed {
            let folder: Option<i64> =
                sqlx::query_scalar("SELECT id FROM folders WHERE account_id = $1 AND name = $2")
                    .bind(account_id)
                    .bind(name.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
            if let Some(folder_id) = folder {
                self.changed(account_id, folder_id);
            }
        }
        Ok(changed)
    }

    pub(crate) async fn subscribe_in(tx: &mut Tx, account_id: i64, name: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO subscriptions (account_id, name) VALUES ($1, $2) \
             ON CONFLICT (account_id, name) DO NOTHING",
        )
        .bind(account_id)
        .bind(name.to_string())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// A renamed mailbox keeps its subscription under the new name.
    pub(crate) async fn rename_subscription_in(
        tx: &mut Tx,
        account_id: i64,
        from: &str,
        to: &str,
    ) -> Result<()> {
        let removed = sqlx::query("DELETE FROM subscriptions WHERE account_id = $1 AND name = $2")
            .bind(account_id)
            .bind(from.to_string())
            .execute(&mut **tx)
            .await?;
        if removed.rows_affected() > 0 {
            Self::subscribe_in(tx, account_id, to).await?;
        }
        Ok(())
    }

    /// Claims the messages with UIDs from `from` (the folder's `recent_uid` as last read) up to
    /// `to` (exclusive) as \Recent for one session: true when this session is the first
    /// (RFC 3501 2.3.2: only one session sees a message as recent). A compare-and-set, so two
    /// sessions never claim the same UID.
    pub async fn claim_recent(&self, folder_id: i64, from: i64, to: i64) -> Result<bool> {
        if to <= from {
            return Ok(false);
        }
        self.write_conn(move |conn| {
            Box::pin(async move {
                let done = crate::conn::stmt(
                    "UPDATE folders SET recent_uid = $1 WHERE id = $2 AND recent_uid = $3",
                )
                .bind(to)
                .bind(folder_id)
                .bind(from)
                .execute(conn)
                .await?;
                Ok(done == 1)
            })
        })
        .await
    }
}
