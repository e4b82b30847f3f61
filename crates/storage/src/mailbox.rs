//! Folder and message operations as IMAP needs them: flags with MODSEQ, expunge with a
//! VANISHED log, copy/move, append with quota, folder create/delete/rename/subscribe.
//!
//! Invariants: every change to a message bumps its folder's HIGHESTMODSEQ and stamps the
//! message (or its expunge record) with the new value (RFC 7162 3.1); UIDs come from the
//! folder's UIDNEXT and are never reused; quota usage moves in the same transaction; blob
//! references are counted for every copy.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::Row;

use crate::conn::{stmt, Conn};
use crate::direct::ReadRow;

use crate::meta::MessageMeta;
use crate::{Error, FlagChange, Flags, FolderChange, MessageRow, Result, Store};

use crate::folder_accounts::FolderAccounts;

/// Counts for STATUS and SELECT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FolderCounts {
    pub messages: i64,
    pub unseen: i64,
    pub deleted: i64,
    pub size: i64,
}

/// Applies a flag change to stored flag text; returns the new stored text (see
/// [`Flags::apply`]).
pub fn apply_flags(current: &str, mode: FlagChange, flags: &[String]) -> String {
    Flags::from_stored(current).apply(mode, flags).to_string()
}

/// A `messages` row selected as `id, folder_id, uid, modseq, flags, internal_date, size, blob_id`.
pub(crate) fn message_from_row(r: &impl ReadRow) -> MessageRow {
    MessageRow {
        id: r.column(0),
        folder_id: r.column(1),
        uid: r.column(2),
        modseq: r.column(3),
        flags: Flags::from_stored(r.column::<String, _>(4)),
        internal_date: r.column(5),
        size: r.column(6),
        blob_id: r.column::<String, _>(7).into(),
        doc: None,
    }
}

/// A `messages` row selected as for [`message_from_row`] and then the body's document
/// ([`Store::doc_column`]), as a folder listing reads it.
pub(crate) fn listing_row(r: &impl ReadRow) -> MessageRow {
    MessageRow {
        doc: r.column(8),
        ..message_from_row(r)
    }
}

const MESSAGE_SELECT: &str =
    "SELECT id, folder_id, uid, modseq, flags, internal_date, size, blob_id FROM messages";

impl Store {
    async fn bump_modseq_in(conn: &mut Conn<'_>, folder_id: i64) -> Result<i64> {
        stmt("UPDATE folders SET highestmodseq = highestmodseq + 1 WHERE id = $1 RETURNING highestmodseq")
            .bind(folder_id)
            .fetch_scalar(conn)
            .await
    }

    /// The messages of a folder with these UIDs (absent ones left out), in UID order, each
    /// with the `extra` column (`", meta"`, say) when one is asked for. A run of consecutive
    /// UIDs is one statement (`STORE 1:500` was 500 round trips to the database).
    pub(crate) async fn messages_by_uid_in(
        conn: &mut Conn<'_>,
        folder_id: i64,
        uids: &[i64],
        extra: &'static str,
    ) -> Result<Vec<(MessageRow, Option<String>)>> {
        let mut sorted = uids.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let sql = format!(
            "SELECT id, folder_id, uid, modseq, flags, internal_date, size, blob_id{extra} \
             FROM messages WHERE folder_id = $1 AND uid >= $2 AND uid <= $3 ORDER BY uid"
        );
        let mut found = Vec::with_capacity(sorted.len());
        let mut rest = sorted.as_slice();
        while let Some(&first) = rest.first() {
            let run = rest
                .windows(2)
                .position(|w| w[1] != w[0] + 1)
                .map_or(rest.len(), |i| i + 1);
            let last = rest[run - 1];
            rest = &rest[run..];
            let rows = stmt(sql.clone())
                .bind(folder_id)
                .bind(first)
                .bind(last)
                .fetch_all(conn)
                .await?;
            for row in &rows {
                let extra = (!extra.is_empty()).then(|| row.get::<String, _>(8));
                found.push((message_from_row(row), extra));
            }
        }
        Ok(found)
    }

    pub(crate) fn changed(&self, account_id: i64, folder_id: i64) {
        self.notify_change(FolderChange {
            account_id,
            folder_id,
        });
    }

    /// Messages changed (flags or new) after `modseq`, in UID order.
    pub async fn messages_changed_since(
        &self,
        folder_id: i64,
        modseq: i64,
    ) -> Result<Vec<MessageRow>> {
        // Sorted here: ORDER BY uid would make SQLite walk the whole folder in the listing
        // index instead of the few changed rows in `messages_changes` (migration 0020).
        let sql = format!(
            "SELECT id, folder_id, uid, modseq, flags, internal_date, size, blob_id, {} \
             FROM messages WHERE folder_id = $1 AND modseq > $2",
            self.doc_column()
        );
        let rows = self
            .read(sql)
            .bind(folder_id)
            .bind(modseq)
            .fetch_all()
            .await?;
        let mut rows: Vec<MessageRow> = rows.iter().map(listing_row).collect();
        rows.sort_unstable_by_key(|r| r.uid);
        Ok(rows)
    }

    /// UIDs expunged after `modseq` (QRESYNC VANISHED).
    pub async fn expunged_since(&self, folder_id: i64, modseq: i64) -> Result<Vec<i64>> {
        self.read("SELECT uid FROM expunged WHERE folder_id = $1 AND modseq > $2 ORDER BY uid")
            .bind(folder_id)
            .bind(modseq)
            .fetch_column()
            .await
    }

    /// The parse stored at delivery.
    pub async fn message_meta(&self, message_id: i64) -> Result<Arc<MessageMeta>> {
        if let Some(meta) = self.metas.get(message_id) {
            return Ok(meta);
        }
        let row = self
            .read("SELECT meta, size FROM messages WHERE id = $1")
            .bind(message_id)
            .fetch_optional()
            .await?
            .ok_or_else(|| Error::NotFound(format!("message {message_id}")))?;
        let text: String = row.get(0);
        let meta = Arc::new(read_meta(message_id, &text, row.get(1)));
        self.metas
            .insert_sized(message_id, meta.clone(), text.len());
        Ok(meta)
    }

    /// The stored parse of many messages of a folder (FETCH ENVELOPE, SEARCH): from memory
    /// when read before, the rest in one query per 500.
    pub async fn message_metas(
        &self,
        folder_id: i64,
        message_ids: &[i64],
    ) -> Result<HashMap<i64, Arc<MessageMeta>>> {
        let mut out = HashMap::with_capacity(message_ids.len());
        let mut missing = vec![];
        for id in message_ids {
            match self.metas.get(*id) {
                Some(meta) => {
                    out.insert(*id, meta);
                }
                None => missing.push(*id),
            }
        }
        // Only the rows asked for: FETCH of a few bodies must not parse the whole folder.
        for chunk in missing.chunks(500) {
            let placeholders: Vec<String> =
                (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT id, meta, size FROM messages WHERE folder_id = $1 AND id IN ({})",
                placeholders.join(", ")
            );
            let mut query = self.read(sql).bind(folder_id);
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all().await? {
                let id: i64 = row.get(0);
                let text: String = row.get(1);
                let meta = Arc::new(read_meta(id, &text, row.get(2)));
                self.metas.insert_sized(id, meta.clone(), text.len());
                out.insert(id, meta);
            }
        }
        Ok(out)
    }

    /// The folder's counts (STATUS): from its listing when one is kept (brought up to date
    /// with the changes since, a few index look-ups), else counted by the database.
    pub async fn folder_counts(&self, folder_id: i64) -> Result<FolderCounts> {
        if self.listings.holds(folder_id) {
            return Ok(self.listing(folder_id).await?.counts());
        }
        let row = self
            .read(
            "SELECT COUNT(*), \
               CAST(COALESCE(SUM(CASE WHEN (' ' || flags || ' ') LIKE '% \\Seen %' ESCAPE '!' THEN 0 ELSE 1 END), 0) AS BIGINT), \
               CAST(COALESCE(SUM(CASE WHEN (' ' || flags || ' ') LIKE '% \\Deleted %' ESCAPE '!' THEN 1 ELSE 0 END), 0) AS BIGINT), \
               CAST(COALESCE(SUM(size), 0) AS BIGINT) \
             FROM messages WHERE folder_id = $1",
        )
        .bind(folder_id)
        .fetch_one()
        .await?;
        // SUM is NUMERIC on PostgreSQL: cast to BIGINT in SQL, read exactly.
        Ok(FolderCounts {
            messages: row.get::<i64, _>(0),
            unseen: row.try_get::<i64, _>(1)?,
            deleted: row.try_get::<i64, _>(2)?,
            size: row.try_get::<i64, _>(3)?,
        })
    }

    /// STORE: changes flags of the messages with these UIDs. With `unchanged_since`, messages
    /// modified after it are left alone and returned in the second list (RFC 7162 3.1.3).
    /// Returns the rows as they are after the change.
    pub async fn store_flags(
        &self,
        folder_id: i64,
        uids: &[i64],
        mode: FlagChange,
        flags: &[String],
        unchanged_since: Option<i64>,
    ) -> Result<(Vec<MessageRow>, Vec<i64>)> {
        let (uids, flags) = (uids.to_vec(), flags.to_vec());
        let accounts = self.folder_accounts.clone();
        let (account_id, updated, failed) = self
            .write_conn(move |conn| {
                Box::pin(async move {
                    Self::store_flags_in(
                        &accounts,
                        conn,
                        folder_id,
                        uids,
                        mode,
                        flags,
                        unchanged_since,
                    )
                    .await
                })
            })
            .await?;
        self.changed(account_id, folder_id);
        Ok((updated, failed))
    }

    pub(crate) async fn store_flags_in(
        accounts: &FolderAccounts,
        conn: &mut Conn<'_>,
        folder_id: i64,
        uids: Vec<i64>,
        mode: FlagChange,
        flags: Vec<String>,
        unchanged_since: Option<i64>,
    ) -> Result<(i64, Vec<MessageRow>, Vec<i64>)> {
        let account_id = accounts.account_in(conn, folder_id).await?;
        let mut rows: HashMap<i64, MessageRow> =
            Self::messages_by_uid_in(conn, folder_id, &uids, "")
                .await?
                .into_iter()
                .map(|(m, _)| (m.uid, m))
                .collect();
        let mut updated = vec![];
        let mut failed = vec![];
        for &uid in &uids {
            let Some(mut message) = rows.remove(&uid) else {
                continue;
            };
            if unchanged_since.is_some_and(|since| message.modseq > since) {
                failed.push(uid);
                continue;
            }
            let new_flags = message.flags.apply(mode, &flags);
            if new_flags != message.flags {
                let modseq = Self::bump_modseq_in(conn, folder_id).await?;
                stmt("UPDATE messages SET flags = $1, modseq = $2 WHERE id = $3")
                    .bind(new_flags.as_str())
                    .bind(modseq)
                    .bind(message.id)
                    .execute(conn)
                    .await?;
                message.flags = new_flags;
                message.modseq = modseq;
            }
            updated.push(message);
        }
        Ok((account_id, updated, failed))
    }

    /// Removes messages flagged \Deleted (only those in `only_uids` when given). Returns the
    /// expunged UIDs in ascending order.
    pub async fn expunge(&self, folder_id: i64, only_uids: Option<&[i64]>) -> Result<Vec<i64>> {
        Ok(self.expunge_noting_modseq(folder_id, only_uids).await?.0)
    }

    /// [`Store::expunge`], with the MODSEQ the expunge was given (0 when nothing was
    /// expunged), so that a session knows the change as its own.
    pub async fn expunge_noting_modseq(
        &self,
        folder_id: i64,
        only_uids: Option<&[i64]>,
    ) -> Result<(Vec<i64>, i64)> {
        let only_uids = only_uids.map(<[i64]>::to_vec);
        let accounts = self.folder_accounts.clone();
        let (account_id, uids, modseq) = self
            .write_conn(move |conn| {
                Box::pin(
                    async move { Self::expunge_in(&accounts, conn, folder_id, only_uids).await },
                )
            })
            .await?;
        if !uids.is_empty() {
            self.changed(account_id, folder_id);
        }
        Ok((uids, modseq))
    }

    pub(crate) async fn expunge_in(
        accounts: &FolderAccounts,
        conn: &mut Conn<'_>,
        folder_id: i64,
        only_uids: Option<Vec<i64>>,
    ) -> Result<(i64, Vec<i64>, i64)> {
        let sql = format!(
            "{MESSAGE_SELECT} WHERE folder_id = $1 AND (' ' || flags || ' ') LIKE '% \\Deleted %' ESCAPE '!' ORDER BY uid"
        );
        let rows = stmt(sql).bind(folder_id).fetch_all(conn).await?;
        let victims: Vec<MessageRow> = rows
            .iter()
            .map(message_from_row)
            .filter(|m| only_uids.as_ref().is_none_or(|set| set.contains(&m.uid)))
            .collect();
        let account_id = accounts.account_in(conn, folder_id).await?;
        let (uids, modseq) =
            Self::remove_messages_in(conn, folder_id, account_id, &victims).await?;
        Ok((account_id, uids, modseq))
    }

    /// Deletes message rows, logs their UIDs as expunged, releases blobs and quota. Returns
    /// the UIDs and the one MODSEQ the removal was given (0 when there was nothing to remove).
    async fn remove_messages_in(
        conn: &mut Conn<'_>,
        folder_id: i64,
        account_id: i64,
        victims: &[MessageRow],
    ) -> Result<(Vec<i64>, i64)> {
        if victims.is_empty() {
            return Ok((vec![], 0));
        }
        let modseq = Self::bump_modseq_in(conn, folder_id).await?;
        let mut freed = 0i64;
        for message in victims {
            stmt("DELETE FROM messages WHERE id = $1")
                .bind(message.id)
                .execute(conn)
                .await?;
            stmt(
                "INSERT INTO expunged (folder_id, uid, modseq) VALUES ($1, $2, $3) \
                 ON CONFLICT (folder_id, uid) DO UPDATE SET modseq = $3",
            )
            .bind(folder_id)
            .bind(message.uid)
            .bind(modseq)
            .execute(conn)
            .await?;
            stmt("UPDATE blobs SET refcount = refcount - 1 WHERE id = $1")
                .bind(&*message.blob_id)
                .execute(conn)
                .await?;
            freed += message.size;
        }
        stmt("UPDATE accounts SET used_bytes = used_bytes - $1 WHERE id = $2")
            .bind(freed)
            .bind(account_id)
            .execute(conn)
            .await?;
        Ok((victims.iter().map(|m| m.uid).collect(), modseq))
    }

    pub(crate) async fn check_quota_in(
        conn: &mut Conn<'_>,
        account_id: i64,
        extra: i64,
    ) -> Result<()> {
        let row = stmt("SELECT quota_bytes, used_bytes FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_one(conn)
            .await?;
        let (quota, used): (i64, i64) = (row.get(0usize), row.get(1usize));
        if quota > 0 && used + extra > quota {
            return Err(Error::OverQuota);
        }
        Ok(())
    }

    /// COPY (and, with `remove_source`, MOVE) of the messages with these UIDs. Returns
    /// (source UID, destination UID) pairs in source UID order (RFC 4315 COPYUID).
    pub async fn copy_messages(
        &self,
        from_folder: i64,
        uids: &[i64],
        to_folder: i64,
        remove_source: bool,
    ) -> Result<Vec<(i64, i64)>> {
        let uids = uids.to_vec();
        let accounts = self.folder_accounts.clone();
        let docs = self.message_docs;
        let (from_account, to_account, pairs) = self
            .write_conn(move |conn| {
                Box::pin(async move {
                    Self::copy_messages_in(
                        &accounts,
                        conn,
                        docs,
                        from_folder,
                        uids,
                        to_folder,
                        remove_source,
                    )
                    .await
                })
            })
            .await?;
        self.changed(to_account, to_folder);
        if remove_source {
            self.changed(from_account, from_folder);
        }
        Ok(pairs)
    }

    async fn copy_messages_in(
        accounts: &FolderAccounts,
        conn: &mut Conn<'_>,
        docs: bool,
        from_folder: i64,
        uids: Vec<i64>,
        to_folder: i64,
        remove_source: bool,
    ) -> Result<(i64, i64, Vec<(i64, i64)>)> {
        // Each source with its stored parse and EMAILID ("meta|emailid": one extra column).
        let sources = Self::messages_by_uid_in(
            conn,
            from_folder,
            &uids,
            ", CAST(COALESCE(email_id, id) AS TEXT) || '|' || meta",
        )
        .await?;
        let to_account = accounts.account_in(conn, to_folder).await?;
        let from_account = accounts.account_in(conn, from_folder).await?;
        let total: i64 = sources.iter().map(|(m, _)| m.size).sum();
        if !(remove_source && to_account == from_account) {
            Self::check_quota_in(conn, to_account, total).await?;
        }
        let mut pairs = vec![];
        for (message, extra) in &sources {
            let (email_id, meta) = extra
                .as_deref()
                .and_then(|e| e.split_once('|'))
                .and_then(|(id, meta)| Some((id.parse::<i64>().ok()?, meta)))
                .ok_or_else(|| Error::Invalid("a stored message without its parse".into()))?;
            // RFC 8474 5.1: the copy keeps the EMAILID of its source.
            let uid = Self::insert_copy_in(
                conn,
                docs,
                to_folder,
                to_account,
                &message.blob_id,
                message.size,
                &message.flags,
                message.internal_date,
                meta,
                Some(email_id),
            )
            .await?;
            stmt("UPDATE blobs SET refcount = refcount + 1 WHERE id = $1")
                .bind(&*message.blob_id)
                .execute(conn)
                .await?;
            pairs.push((message.uid, uid));
        }
        if remove_source {
            let sources: Vec<MessageRow> = sources.into_iter().map(|(m, _)| m).collect();
            Self::remove_messages_in(conn, from_folder, from_account, &sources).await?;
        }
        Ok((from_account, to_account, pairs))
    }

    /// APPEND: stores a message in a folder, checking the quota strictly. Returns its UID.
    pub async fn append_message(
        &self,
        folder_id: i64,
        raw: &[u8],
        flags: impl Into<Flags>,
        internal_date: i64,
    ) -> Result<i64> {
        let parsed = MessageMeta::compute(raw);
        let sort = crate::SortRecord::of(raw, &parsed);
        let terms = self.index_terms(raw, &parsed);
        let meta = parsed.to_json();
        let _gc_guard = self.gc_lock.read().await;
        let blob_id = self.put_blob_bytes(raw).await?;
        let (store, raw, flags) = (self.clone(), raw.to_vec(), flags.into());
        let (account_id, uid) = self
            .write_conn(move |conn| {
                Box::pin(async move {
                    let account_id = store.folder_accounts.account_in(conn, folder_id).await?;
                    Self::check_quota_in(conn, account_id, raw.len() as i64).await?;
                    store.blob_ref_in(conn, &blob_id, &raw, 1).await?;
                    Self::insert_sort_records_in(conn, &[(blob_id.as_str(), &sort)]).await?;
                    if let Some(terms) = &terms {
                        Self::insert_search_terms_in(conn, &[(blob_id.as_str(), terms.as_deref())])
                            .await?;
                    }
                    let uid = Self::insert_message_in(
                        conn,
                        store.message_docs,
                        folder_id,
                        account_id,
                        &blob_id,
                        raw.len() as i64,
                        &flags,
                        internal_date,
                        &meta,
                    )
                    .await?;
                    Ok((account_id, uid))
                })
            })
            .await?;
        self.changed(account_id, folder_id);
        Ok(uid)
    }

    /// DELETE: removes a folder and its messages (never INBOX).
    pub async fn delete_folder(&self, folder_id: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let sql = format!("{MESSAGE_SELECT} WHERE folder_id = $1");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(folder_id)
            .fetch_all(&mut *tx)
            .await?;
        let messages: Vec<MessageRow> = rows.iter().map(message_from_row).collect();
        let account_id = self
            .folder_accounts
            .account_in(&mut Conn::Sqlx(&mut tx), folder_id)
            .await?;
        Self::remove_messages_in(&mut Conn::Sqlx(&mut tx), folder_id, account_id, &messages)
            .await?;
        sqlx::query("DELETE FROM expunged WHERE folder_id = $1")
            .bind(folder_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM folders WHERE id = $1 AND name <> 'INBOX'")
            .bind(folder_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.listings.forget(folder_id);
        self.changed(account_id, folder_id);
        Ok(())
    }

    /// RENAME: renames a folder and its children. Renaming INBOX moves its messages to a new
    /// folder and leaves INBOX empty (RFC 9051 6.3.6).
    pub async fn rename_folder(&self, account_id: i64, from: &str, to: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let exists: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM folders WHERE account_id = $1 AND name = $2")
                .bind(account_id)
                .bind(to.to_string())
                .fetch_one(&mut *tx)
                .await?;
        if exists > 0 {
            return Err(Error::AlreadyExists(format!("folder {to}")));
        }
        let source: i64 =
            sqlx::query_scalar("SELECT id FROM folders WHERE account_id = $1 AND name = $2")
                .bind(account_id)
                .bind(from.to_string())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| Error::NotFound(format!("folder {from}")))?;
        if from == "INBOX" {
            let target = Self::create_folder_in(&mut tx, account_id, to, None).await?;
            let sql = format!("{MESSAGE_SELECT} WHERE folder_id = $1 ORDER BY uid");
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(source)
                .fetch_all(&mut *tx)
                .await?;
            for row in &rows {
                let message = message_from_row(row);
                let (uid, modseq): (i64, i64) = {
                    let r = sqlx::query(
                        "UPDATE folders SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1 \
                         WHERE id = $1 RETURNING uidnext - 1, highestmodseq",
                    )
                    .bind(target)
                    .fetch_one(&mut *tx)
                    .await?;
                    (r.get(0), r.get(1))
                };
                sqlx::query(
                    "UPDATE messages SET folder_id = $1, uid = $2, modseq = $3 WHERE id = $4",
                )
                .bind(target)
                .bind(uid)
                .bind(modseq)
                .bind(message.id)
                .execute(&mut *tx)
                .await?;
            }
            if !rows.is_empty() {
                let modseq = Self::bump_modseq_in(&mut Conn::Sqlx(&mut tx), source).await?;
                for row in &rows {
                    sqlx::query("INSERT INTO expunged (folder_id, uid, modseq) VALUES ($1, $2, $3) ON CONFLICT (folder_id, uid) DO UPDATE SET modseq = $3")
                        .bind(source)
                        .bind(row.get::<i64, _>(2))
                        .bind(modseq)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        } else {
            let prefix = format!("{from}/");
            let children = sqlx::query("SELECT id, name FROM folders WHERE account_id = $1 AND substr(name, 1, length(CAST($2 AS TEXT))) = $2")
                .bind(account_id)
                .bind(prefix.clone())
                .fetch_all(&mut *tx)
                .await?;
            sqlx::query("UPDATE folders SET name = $1 WHERE id = $2")
                .bind(to.to_string())
                .bind(source)
                .execute(&mut *tx)
                .await?;
            Self::rename_subscription_in(&mut tx, account_id, from, to).await?;
            for child in &children {
                let name: String = child.get(1);
                let renamed = format!("{to}/{}", &name[prefix.len()..]);
                sqlx::query("UPDATE folders SET name = $1 WHERE id = $2")
                    .bind(renamed.clone())
                    .bind(child.get::<i64, _>(0))
                    .execute(&mut *tx)
                    .await?;
                Self::rename_subscription_in(&mut tx, account_id, &name, &renamed).await?;
            }
        }
        tx.commit().await?;
        self.changed(account_id, source);
        Ok(())
    }

    /// Creates a folder with an optional special-use flag (RFC 6154 CREATE USE).
    pub async fn create_folder_with_use(
        &self,
        account_id: i64,
        name: &str,
        special_use: Option<&str>,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let id = Self::create_folder_in(&mut tx, account_id, name, special_use).await?;
        tx.commit().await?;
        self.changed(account_id, id);
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_changes() {
        let f = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            apply_flags("\\Seen", FlagChange::Add, &f(&["\\Flagged", "\\seen"])),
            "\\Seen \\Flagged"
        );
        assert_eq!(
            apply_flags("\\Seen \\Flagged", FlagChange::Remove, &f(&["\\SEEN"])),
            "\\Flagged"
        );
        assert_eq!(
            apply_flags("\\Seen", FlagChange::Replace, &f(&["$Label1"])),
            "$Label1"
        );
    }
}

/// A stored parse read back; one that cannot be (written by an older version without depth
/// bounds) degrades to a text/plain structure spanning the message, so FETCH still answers.
fn read_meta(message_id: i64, text: &str, size: i64) -> MessageMeta {
    MessageMeta::from_json(text).unwrap_or_else(|| {
        tracing::warn!(message_id, "stored parse unreadable; served as plain text");
        MessageMeta::degraded(u32::try_from(size).unwrap_or(u32::MAX), 0)
    })
}

#[cfg(test)]
mod stored_parse_tests {
    use super::*;

    /// A parse stored before the depth bounds (here 200 nested parts: deeper than serde_json
    /// reads back) is served as one text/plain part spanning the message, not an error.
    #[test]
    fn an_unreadable_stored_parse_degrades_to_plain_text() {
        let mut json = String::new();
        for _ in 0..200 {
            json.push_str(r#"{"content_type":"multipart","subtype":"mixed","params":[],"id":null,"description":null,"encoding":null,"disposition":null,"language":[],"offset_header":0,"offset_body":0,"offset_end":10,"lines":0,"envelope":null,"children":["#);
        }
        json.push_str(&"]}".repeat(200));
        let stored =
            format!(r#"{{"envelope":{{}},"root":{json},"text":"","attachment_names":[]}}"#);
        assert!(
            MessageMeta::from_json(&stored).is_none(),
            "deeper than serde_json reads"
        );
        let meta = read_meta(7, &stored, 1234);
        assert_eq!(meta.root.content_type, "text");
        assert_eq!(meta.root.subtype, "plain");
        assert_eq!(meta.root.offset_end, 1234);
        assert!(meta.root.children.is_empty());
    }
}
