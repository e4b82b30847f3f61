//! The staff lifecycle and unit mailboxes (BD-8, BD-10, KT-6, KT-8): transfers, departures,
//! heads and delegates with RFC 4314 rights, and the session epoch that ends open sessions.
//!
//! Invariant: whenever an account's logins must stop (disabled, departed, password reset), its
//! `session_epoch` grows and `changed_at` is stamped in the same transaction; servers poll
//! `account_changes_since` and close sessions opened under an older epoch.

use serde::Serialize;
use sqlx::Row;

use crate::{normalize_address, now, Error, Person, Result, Store};

use crate::Tx;

/// One hire of a bulk import (`govmail directory import`): the person (address already
/// chosen) and the detail of its `user.hire` event.
#[derive(Debug, Clone)]
pub struct BulkHire {
    pub person: crate::NewPerson,
    pub detail: serde_json::Value,
}

/// A bulk import that was rolled back: which hire (index into the list) failed, or None for
/// the transaction itself, and why.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct BulkHireError {
    pub index: Option<usize>,
    pub error: Error,
}

/// RFC 4314 rights for each delegation level (KT-8 written authorisation).
pub const RIGHTS_READ: &str = "lrs";
pub const RIGHTS_HANDLE: &str = "lrswite";
pub const RIGHTS_HEAD: &str = "lrswipkxtea";

/// One grant on a unit mailbox.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Grant {
    pub owner_account_id: i64,
    pub owner_address: String,
    /// The unit abbreviation when the owner is a unit mailbox.
    pub unit: Option<String>,
    pub grantee_account_id: i64,
    pub grantee_address: String,
    pub rights: String,
    pub may_send: bool,
    pub head: bool,
}

/// A unit mailbox as a delegate sees it when logging in as `UNIT*PERSON` (the master-user
/// convention): the unit, the person's rights on it now, and whether they may send as it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitAccess {
    pub unit_account_id: i64,
    /// The unit's primary address.
    pub unit_address: String,
    /// RFC 4314 rights of the person on the unit mailbox.
    pub rights: String,
    /// The send right: delegated with it, or the unit's head.
    pub may_send: bool,
    /// The unit account's session epoch now.
    pub unit_epoch: i64,
}

impl Store {
    /// The unit mailbox `unit` (one of a unit's addresses) with the rights the active person
    /// `person_account_id` holds on it now. None when `unit` is not a unit's address, the
    /// person is not an active person, or holds no grant there: a person's own mailbox or
    /// another person's is never reachable this way.
    pub async fn unit_access(
        &self,
        unit: &str,
        person_account_id: i64,
    ) -> Result<Option<UnitAccess>> {
        let row = sqlx::query(
            "SELECT a.id, a.address, m.rights, m.may_send, a.session_epoch, \
               (SELECT COUNT(*) FROM units h WHERE h.account_id = a.id AND h.head_account_id = $2) \
             FROM addresses ad JOIN accounts a ON a.id = ad.account_id \
             JOIN units u ON u.account_id = a.id \
             JOIN mailbox_acl m ON m.owner_account_id = a.id AND m.grantee_account_id = $2 \
             JOIN accounts g ON g.id = m.grantee_account_id \
             WHERE ad.address = $1 AND a.kind = 'unit' AND a.status = 'active' \
               AND g.kind = 'person' AND g.status = 'active' AND a.id <> $2",
        )
        .bind(normalize_address(unit))
        .bind(person_account_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| UnitAccess {
            unit_account_id: r.get(0),
            unit_address: r.get(1),
            rights: r.get(2),
            may_send: r.get::<i64, _>(3) != 0 || r.get::<i64, _>(5) > 0,
            unit_epoch: r.get(4),
        }))
    }

    /// Adds every person, each with its `user.hire` event, in one transaction: all of them or,
    /// on the first failure, none. Returns the account ids in order.
    pub async fn hire_all(
        &self,
        hires: &[BulkHire],
        actor: &str,
        doc_ref: &str,
    ) -> std::result::Result<Vec<i64>, BulkHireError> {
        let fail = |index: usize| {
            move |error: Error| BulkHireError {
                index: Some(index),
                error,
            }
        };
        let whole = |error: Error| BulkHireError { index: None, error };
        let mut unit_ids: std::collections::HashMap<String, i64> = Default::default();
        for (index, hire) in hires.iter().enumerate() {
            if let Some(abbrev) = &hire.person.unit_abbrev {
                if !unit_ids.contains_key(abbrev) {
                    let unit = self.unit(abbrev).await.map_err(fail(index))?;
                    unit_ids.insert(abbrev.clone(), unit.id);
                }
            }
        }
        let mut tx = self.begin_write().await.map_err(whole)?;
        let mut ids = Vec::with_capacity(hires.len());
        for (index, hire) in hires.iter().enumerate() {
            let new = &hire.person;
            let address = normalize_address(&new.address);
            if new.full_name.trim().is_empty() {
                return Err(fail(index)(Error::Invalid("person name is empty".into())));
            }
            let account_id = Self::insert_account_in(
                &mut tx,
                "person",
                &address,
                &new.full_name,
                new.must_change_password,
                new.quota_bytes,
            )
            .await
            .map_err(fail(index))?;
            let unit_id = new
                .unit_abbrev
                .as_ref()
                .and_then(|a| unit_ids.get(a).copied());
            sqlx::query(
                "INSERT INTO persons (account_id, full_name, job_position, unit_id, phone) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(account_id)
            .bind(new.full_name.clone())
            .bind(new.position.clone())
            .bind(unit_id)
            .bind(new.phone.clone())
            .execute(&mut *tx)
            .await
            .map_err(|e| fail(index)(e.into()))?;
            Self::set_credential_in(&mut tx, account_id, &new.password_phc)
                .await
                .map_err(fail(index))?;
            crate::events::EventRow::new(
                now(),
                actor,
                crate::Action::UserHire,
                &address,
                doc_ref,
                &hire.detail,
            )
            .insert()
            .execute(&mut crate::conn::Conn::Sqlx(&mut tx))
            .await
            .map_err(fail(index))?;
            ids.push(account_id);
        }
        tx.commit().await.map_err(|e| whole(e.into()))?;
        Ok(ids)
    }

    async fn account_id_in(tx: &mut Tx, address: &str) -> Result<i64> {
        sqlx::query_scalar(
            "SELECT account_id FROM addresses WHERE address = $1 AND account_id IS NOT NULL",
        )
        .bind(normalize_address(address))
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| Error::NotFound(format!("account {address}")))
    }

    /// Ends every open session of the account (at the next check of each server).
    pub(crate) async fn bump_session_epoch_in(tx: &mut Tx, account_id: i64) -> Result<()> {
        sqlx::query(
            "UPDATE accounts SET session_epoch = session_epoch + 1, changed_at = $1 WHERE id = $2",
        )
        .bind(now())
        .bind(account_id)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Stamps an account as changed without ending its sessions (rights changed).
    pub(crate) async fn touch_account_in(tx: &mut Tx, account_id: i64) -> Result<()> {
        sqlx::query("UPDATE accounts SET changed_at = $1 WHERE id = $2")
            .bind(now())
            .bind(account_id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// The current session epoch of an account.
    pub async fn session_epoch(&self, account_id: i64) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT session_epoch FROM accounts WHERE id = $1")
                .bind(account_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// (account id, session epoch) of accounts changed at or after `since` (Unix seconds).
    pub async fn account_changes_since(&self, since: i64) -> Result<Vec<(i64, i64)>> {
        let rows = self
            .read("SELECT id, session_epoch FROM accounts WHERE changed_at >= $1")
            .bind(since)
            .fetch_all()
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// The last `n` retired password hashes (reuse rule).
    pub async fn password_history(&self, account_id: i64, n: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT phc FROM credential_history WHERE account_id = $1 ORDER BY retired_at DESC LIMIT $2",
        )
        .bind(account_id)
        .bind(n)
        .fetch_all(&self.pool)
        .await?)
    }

    /// BD-8.2, KT-6.2: moves a person to another unit with a new primary address; the old
    /// address stays an alias until `alias_expires_at`; rights on the old unit's mailbox end.
    pub async fn transfer_person(
        &self,
        address: &str,
        to_unit: &str,
        new_address: &str,
        alias_expires_at: i64,
    ) -> Result<Person> {
        let old_address = normalize_address(address);
        let new_address = normalize_address(new_address);
        let unit = self.unit(to_unit).await?;
        let mut tx = self.begin_write().await?;
        let account_id = Self::account_id_in(&mut tx, &old_address).await?;
        let old_primary: String = sqlx::query_scalar("SELECT address FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_one(&mut *tx)
            .await?;
        let old_unit_account: Option<i64> = sqlx::query_scalar(
            "SELECT u.account_id FROM persons p JOIN units u ON u.id = p.unit_id WHERE p.account_id = $1",
        )
        .bind(account_id)
        .fetch_optional(&mut *tx)
        .await?
        .flatten();
        if new_address != old_primary {
            let taken: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM addresses WHERE address = $1")
                    .bind(new_address.clone())
                    .fetch_one(&mut *tx)
                    .await?;
            if taken > 0 {
                return Err(Error::AlreadyExists(format!("address {new_address}")));
            }
            let domain_id: i64 = sqlx::query_scalar("SELECT domain_id FROM accounts WHERE id = $1")
                .bind(account_id)
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query("UPDATE addresses SET kind = 'alias', expires_at = $1 WHERE address = $2")
                .bind(alias_expires_at)
                .bind(old_primary.clone())
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO addresses (address, domain_id, kind, account_id, created_at) VALUES ($1, $2, 'primary', $3, $4)",
            )
            .bind(new_address.clone())
            .bind(domain_id)
            .bind(account_id)
            .bind(now())
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE accounts SET address = $1 WHERE id = $2")
                .bind(new_address.clone())
                .bind(account_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE persons SET unit_id = $1 WHERE account_id = $2")
            .bind(unit.id)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        if let Some(old_unit_account) = old_unit_account.filter(|id| *id != unit.account_id) {
            sqlx::query(
                "DELETE FROM mailbox_acl WHERE owner_account_id = $1 AND grantee_account_id = $2",
            )
            .bind(old_unit_account)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE units SET head_account_id = NULL WHERE account_id = $1 AND head_account_id = $2")
                .bind(old_unit_account)
                .bind(account_id)
                .execute(&mut *tx)
                .await?;
        }
        Self::touch_account_in(&mut tx, account_id).await?;
        tx.commit().await?;
        self.person(&new_address).await
    }

    /// BD-8.3, KT-6.3: the person leaves; logins stop at once, mail is refused (RCPT names the
    /// unit address), rights on unit mailboxes end; data are kept for the hold period.
    pub async fn depart(&self, address: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let account_id = Self::account_id_in(&mut tx, address).await?;
        sqlx::query("UPDATE accounts SET status = 'departed', departed_at = $1 WHERE id = $2")
            .bind(now())
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM mailbox_acl WHERE grantee_account_id = $1")
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE units SET head_account_id = NULL WHERE head_account_id = $1")
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        Self::bump_session_epoch_in(&mut tx, account_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets (or replaces) the head of a unit: full rights and the send right (BD-10, KT-8).
    /// The previous head's rights end.
    pub async fn set_unit_head(&self, unit: &str, head: &str) -> Result<()> {
        let unit = self.unit(unit).await?;
        let mut tx = self.begin_write().await?;
        let head_id = Self::account_id_in(&mut tx, head).await?;
        let previous: Option<i64> =
            sqlx::query_scalar("SELECT head_account_id FROM units WHERE id = $1")
                .bind(unit.id)
                .fetch_one(&mut *tx)
                .await?;
        if let Some(previous) = previous.filter(|p| *p != head_id) {
            sqlx::query(
                "DELETE FROM mailbox_acl WHERE owner_account_id = $1 AND grantee_account_id = $2",
            )
            .bind(unit.account_id)
            .bind(previous)
            .execute(&mut *tx)
            .await?;
            Self::touch_account_in(&mut tx, previous).await?;
        }
        sqlx::query("UPDATE units SET head_account_id = $1 WHERE id = $2")
            .bind(head_id)
            .bind(unit.id)
            .execute(&mut *tx)
            .await?;
        Self::grant_in(&mut tx, unit.account_id, head_id, RIGHTS_HEAD, true).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn grant_in(
        tx: &mut Tx,
        owner: i64,
        grantee: i64,
        rights: &str,
        may_send: bool,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO mailbox_acl (owner_account_id, grantee_account_id, rights, may_send, granted_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (owner_account_id, grantee_account_id) \
             DO UPDATE SET rights = $3, may_send = $4, granted_at = $5",
        )
        .bind(owner)
        .bind(grantee)
        .bind(rights.to_string())
        .bind(may_send as i64)
        .bind(now())
        .execute(&mut **tx)
        .await?;
        Self::touch_account_in(tx, grantee).await?;
        Ok(())
    }

    /// KT-8: authorises a person on a unit mailbox with RFC 4314 rights (and the send right).
    pub async fn delegate(
        &self,
        unit: &str,
        grantee: &str,
        rights: &str,
        may_send: bool,
    ) -> Result<()> {
        let unit = self.unit(unit).await?;
        let mut tx = self.begin_write().await?;
        let grantee_id = Self::account_id_in(&mut tx, grantee).await?;
        Self::grant_in(&mut tx, unit.account_id, grantee_id, rights, may_send).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets rights on any mailbox the caller owns or heads (IMAP SETACL). Empty rights delete.
    pub async fn set_acl(&self, owner_account_id: i64, grantee: &str, rights: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let grantee_id = Self::account_id_in(&mut tx, grantee).await?;
        if rights.is_empty() {
            sqlx::query(
                "DELETE FROM mailbox_acl WHERE owner_account_id = $1 AND grantee_account_id = $2",
            )
            .bind(owner_account_id)
            .bind(grantee_id)
            .execute(&mut *tx)
            .await?;
            Self::touch_account_in(&mut tx, grantee_id).await?;
        } else {
            let may_send: Option<i64> = sqlx::query_scalar(
                "SELECT may_send FROM mailbox_acl WHERE owner_account_id = $1 AND grantee_account_id = $2",
            )
            .bind(owner_account_id)
            .bind(grantee_id)
            .fetch_optional(&mut *tx)
            .await?;
            Self::grant_in(
                &mut tx,
                owner_account_id,
                grantee_id,
                rights,
                may_send.unwrap_or(0) != 0,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Ends a delegate's rights on a unit mailbox (takes effect on open sessions at once:
    /// every command checks rights).
    pub async fn revoke(&self, unit: &str, grantee: &str) -> Result<()> {
        let unit = self.unit(unit).await?;
        let mut tx = self.begin_write().await?;
        let grantee_id = Self::account_id_in(&mut tx, grantee).await?;
        let done = sqlx::query(
            "DELETE FROM mailbox_acl WHERE owner_account_id = $1 AND grantee_account_id = $2",
        )
        .bind(unit.account_id)
        .bind(grantee_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound(format!(
                "{grantee} has no rights on {}",
                unit.address
            )));
        }
        Self::touch_account_in(&mut tx, grantee_id).await?;
        tx.commit().await?;
        Ok(())
    }

    const GRANT_SELECT: &'static str = "SELECT m.owner_account_id, o.address, \
         (SELECT u.abbrev FROM units u WHERE u.account_id = m.owner_account_id), \
         m.grantee_account_id, g.address, m.rights, m.may_send, \
         (SELECT COUNT(*) FROM units u WHERE u.account_id = m.owner_account_id AND u.head_account_id = m.grantee_account_id) \
         FROM mailbox_acl m JOIN accounts o ON o.id = m.owner_account_id JOIN accounts g ON g.id = m.grantee_account_id";

    fn grant_from_row(r: &sqlx::any::AnyRow) -> Grant {
        Grant {
            owner_account_id: r.get(0),
            owner_address: r.get(1),
            unit: r.get(2),
            grantee_account_id: r.get(3),
            grantee_address: r.get(4),
            rights: r.get(5),
            may_send: r.get::<i64, _>(6) != 0,
            head: r.get::<i64, _>(7) > 0,
        }
    }

    /// Grants held by an account (the mailboxes shared with it).
    pub async fn grants_for(&self, grantee_account_id: i64) -> Result<Vec<Grant>> {
        let sql = format!(
            "{} WHERE m.grantee_account_id = $1 ORDER BY o.address",
            Self::GRANT_SELECT
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(grantee_account_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(Self::grant_from_row).collect())
    }

    /// Grants on a mailbox (GETACL, `unit show`).
    pub async fn grants_on(&self, owner_account_id: i64) -> Result<Vec<Grant>> {
        let sql = format!(
            "{} WHERE m.owner_account_id = $1 ORDER BY g.address",
            Self::GRANT_SELECT
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner_account_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(Self::grant_from_row).collect())
    }

    /// The rights `grantee` holds on `owner`'s mailbox right now ("" = none).
    pub async fn rights(&self, owner_account_id: i64, grantee_account_id: i64) -> Result<String> {
        if owner_account_id == grantee_account_id {
            return Ok(RIGHTS_HEAD.to_string());
        }
        let rights: Option<String> = sqlx::query_scalar(
            "SELECT m.rights FROM mailbox_acl m JOIN accounts g ON g.id = m.grantee_account_id \
             WHERE m.owner_account_id = $1 AND m.grantee_account_id = $2 AND g.status = 'active'",
        )
        .bind(owner_account_id)
        .bind(grantee_account_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(rights.unwrap_or_default())
    }
}
