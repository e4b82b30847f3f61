//! Folders: creating one (a fresh UIDVALIDITY) and reading them.

use crate::direct::ReadRow;

use crate::mail::Folder;
use crate::{now, Error, Result, Store, Tx};

pub(crate) fn folder_from_row(r: &impl ReadRow) -> Folder {
    Folder {
        id: r.column("id"),
        account_id: r.column("account_id"),
        name: r.column("name"),
        special_use: r.column("special_use"),
        uidvalidity: r.column("uidvalidity"),
        uidnext: r.column("uidnext"),
        highestmodseq: r.column("highestmodseq"),
        subscribed: r.column::<i64, _>("subscribed") != 0,
        recent_uid: r.column("recent_uid"),
    }
}

/// Every column of [`Folder`]; `subscribed` comes from the `subscriptions` names.
pub(crate) const FOLDER_SELECT: &str = "SELECT id, account_id, name, special_use, uidvalidity, \
     uidnext, highestmodseq, recent_uid, (SELECT COUNT(*) FROM subscriptions s \
     WHERE s.account_id = folders.account_id AND s.name = folders.name) AS subscribed FROM folders";

impl Store {
    pub(crate) async fn create_folder_in(
        tx: &mut Tx,
        account_id: i64,
        name: &str,
        special_use: Option<&str>,
    ) -> Result<i64> {
        // RFC 9051 2.3.1.1: UIDVALIDITY must change if a name is reused with different UIDs;
        // seconds since the epoch, bumped past any value the account ever used (a deleted
        // folder's included: `accounts.last_uidvalidity` keeps the highest).
        let last: i64 = sqlx::query_scalar("SELECT last_uidvalidity FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_one(&mut **tx)
            .await?;
        let max_used: Option<i64> =
            sqlx::query_scalar("SELECT MAX(uidvalidity) FROM folders WHERE account_id = $1")
                .bind(account_id)
                .fetch_one(&mut **tx)
                .await?;
        let uidvalidity = now().max(last.max(max_used.unwrap_or(0)) + 1) & 0xffff_ffff;
        sqlx::query("UPDATE accounts SET last_uidvalidity = $1 WHERE id = $2")
            .bind(uidvalidity)
            .bind(account_id)
            .execute(&mut **tx)
            .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO folders (account_id, name, special_use, uidvalidity, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(account_id)
        .bind(name.to_string())
        .bind(special_use.map(str::to_string))
        .bind(uidvalidity)
        .bind(now())
        .fetch_one(&mut **tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Error::AlreadyExists(format!("folder {name}"))
            }
            _ => Error::Database(e),
        })?;
        Ok(id)
    }

    pub async fn create_folder(&self, account_id: i64, name: &str) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let id = Self::create_folder_in(&mut tx, account_id, name, None).await?;
        tx.commit().await?;
        // Sessions watching the account's mailbox list (RFC 5465 MailboxName) learn of it.
        self.changed(account_id, id);
        Ok(id)
    }

    pub async fn folders(&self, account_id: i64) -> Result<Vec<Folder>> {
        let sql = format!("{FOLDER_SELECT} WHERE account_id = $1 ORDER BY name");
        let rows = self.read(sql).bind(account_id).fetch_all().await?;
        Ok(rows.iter().map(folder_from_row).collect())
    }

    pub async fn folder(&self, account_id: i64, name: &str) -> Result<Folder> {
        let sql = format!("{FOLDER_SELECT} WHERE account_id = $1 AND name = $2");
        let row = self
            .read(sql)
            .bind(account_id)
            .bind(name.to_string())
            .fetch_optional()
            .await?
            .ok_or_else(|| Error::NotFound(format!("folder {name}")))?;
        Ok(folder_from_row(&row))
    }

    /// A folder by id (fresh UIDNEXT/HIGHESTMODSEQ).
    pub async fn folder_by_id(&self, folder_id: i64) -> Result<Folder> {
        let sql = format!("{FOLDER_SELECT} WHERE id = $1");
        let row = self
            .read(sql)
            .bind(folder_id)
            .fetch_optional()
            .await?
            .ok_or_else(|| Error::NotFound(format!("folder {folder_id}")))?;
        Ok(folder_from_row(&row))
    }
}
