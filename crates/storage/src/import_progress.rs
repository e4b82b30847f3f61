//! `govmail import` (issue 15): messages from an old server stored with the progress that says
//! so, in one transaction (migration 0013). A batch's messages, their keys (what each was on the
//! old side) and the folder's mark (old UIDVALIDITY, last old UID) commit together or not at
//! all, so a rerun after a kill continues after the last committed batch and stores nothing
//! twice. Bodies are shared (`Arc`), never copied: a 100 MB message is in memory once.

use std::collections::HashSet;
use std::sync::Arc;

use sqlx::Row;

use crate::meta::MessageMeta;
use crate::{now, Flags, Result, Store};

/// How an imported message is remembered in `import_keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportKey {
    /// Stored as given (a Maildir file's unique name, an mbox offset + Message-ID hash, or an
    /// IMAP fingerprint already numbered by the caller during a re-scan).
    Exact(String),
    /// An IMAP fingerprint: stored as `fingerprint#n`, n = 1 + how many the folder has already,
    /// so two identical old messages are two keys.
    Numbered(String),
}

/// One message to import.
#[derive(Debug, Clone)]
pub struct ImportMessage {
    pub raw: Arc<Vec<u8>>,
    pub flags: Flags,
    /// Unix seconds (the old INTERNALDATE).
    pub internal_date: i64,
    pub key: ImportKey,
}

/// Where an IMAP import of one old folder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportMark {
    pub uidvalidity: i64,
    pub last_uid: i64,
}

/// The mark to record with a batch: account, source (old server and login), old folder name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportPlace {
    pub account_id: i64,
    pub source: String,
    pub folder: String,
}

impl Store {
    /// The recorded mark of an old folder, if any batch of it was committed.
    pub async fn import_mark(&self, place: &ImportPlace) -> Result<Option<ImportMark>> {
        let row = sqlx::query(
            "SELECT uidvalidity, last_uid FROM import_progress \
             WHERE account_id = $1 AND source = $2 AND folder = $3",
        )
        .bind(place.account_id)
        .bind(place.source.clone())
        .bind(place.folder.clone())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| ImportMark {
            uidvalidity: row.get(0),
            last_uid: row.get(1),
        }))
    }

    /// Every key recorded for a folder's imported messages.
    pub async fn import_keys(&self, folder_id: i64) -> Result<HashSet<String>> {
        let keys: Vec<String> =
            sqlx::query_scalar("SELECT key FROM import_keys WHERE folder_id = $1")
                .bind(folder_id)
                .fetch_all(&self.pool)
                .await?;
        Ok(keys.into_iter().collect())
    }

    /// Stores `messages` in the folder and, if given, the folder's new mark, in one
    /// transaction. `check_quota`: false when the IT centre imports with `--ignore-quota`
    /// (usage still grows). An empty batch with a mark records only the mark.
    ///
    /// The messages are not added to the full-text index (see below). They go through the
    /// delivery committer's batch path
    /// (`Store::commit_fresh_in`): a handful of multi-row statements per batch, not a dozen
    /// statements per message (each statement re-journals the pages the transaction already
    /// changed — per-message statements cost 110 journaled pages a message).
    pub async fn import_batch(
        &self,
        folder_id: i64,
        messages: Vec<ImportMessage>,
        mark: Option<(ImportPlace, ImportMark)>,
        check_quota: bool,
    ) -> Result<Vec<i64>> {
        let account_id = self.folder_by_id(folder_id).await?.account_id;
        let choice = crate::FolderChoice::Id(folder_id);
        let mut jobs = Vec::with_capacity(messages.len());
        let mut keys = Vec::with_capacity(messages.len());
        let mut total = 0i64;
        // Deliveries and appends hold the GC lock shared from blob write to commit.
        let _gc_guard = self.gc_lock.read().await;
        for message in messages {
            let meta = MessageMeta::compute(&message.raw);
            let blob_id = self.put_blob_shared(message.raw.clone()).await?;
            total += message.raw.len() as i64;
            let delivery = crate::Delivery {
                raw: message.raw,
                meta: Arc::new(meta),
                targets: vec![crate::DeliveryTarget {
                    account_id,
                    folder: choice.clone(),
                    flags: message.flags,
                }],
                outbound: None,
                internal_date: message.internal_date,
                events: vec![],
            };
            // Not indexed now: words go in a few hundred random places of the index, which made
            // an import 4–7× slower. SEARCH indexes what it finds unindexed (lazy backfill), and
            // `govmail index rebuild` does it at once.
            jobs.push(crate::mail::CommitJob::prepared(
                self, blob_id, delivery, false,
            ));
            keys.push(message.key);
        }
        let store = self.clone();
        let uids = self
            .write(move |tx| {
                Box::pin(async move {
                    if check_quota && !jobs.is_empty() {
                        Self::check_quota_in(
                            &mut crate::conn::Conn::Sqlx(&mut *tx),
                            account_id,
                            total,
                        )
                        .await?;
                    }
                    let refs: Vec<&crate::mail::CommitJob> = jobs.iter().collect();
                    let delivered = store.commit_fresh_in(tx, &refs).await?;
                    let uids: Vec<i64> = delivered.iter().map(|d| d.placed[0].2).collect();
                    Self::insert_import_keys_in(tx, folder_id, &keys).await?;
                    if let Some((place, mark)) = &mark {
                        sqlx::query(
                            "INSERT INTO import_progress \
                             (account_id, source, folder, uidvalidity, last_uid, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, $6) \
                             ON CONFLICT (account_id, source, folder) DO UPDATE SET \
                             uidvalidity = $4, last_uid = $5, updated_at = $6",
                        )
                        .bind(place.account_id)
                        .bind(place.source.clone())
                        .bind(place.folder.clone())
                        .bind(mark.uidvalidity)
                        .bind(mark.last_uid)
                        .bind(now())
                        .execute(&mut **tx)
                        .await?;
                    }
                    Ok(uids)
                })
            })
            .await?;
        if !uids.is_empty() {
            self.changed(account_id, folder_id);
        }
        Ok(uids)
    }

    /// The batch's keys: exact ones in multi-row INSERTs; a numbered one counts the folder's
    /// keys with its fingerprint (those of this batch included) first.
    async fn insert_import_keys_in(
        tx: &mut crate::Tx,
        folder_id: i64,
        keys: &[ImportKey],
    ) -> Result<()> {
        let mut exact: Vec<String> = Vec::with_capacity(keys.len());
        for key in keys {
            match key {
                ImportKey::Exact(key) => exact.push(key.clone()),
                ImportKey::Numbered(fingerprint) => {
                    // Keys `fingerprint#n` sort between `fingerprint#` and `fingerprint$`
                    // ('$' follows '#'), so this is a range read.
                    let n: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM import_keys WHERE folder_id = $1 \
                         AND key >= $2 AND key < $3",
                    )
                    .bind(folder_id)
                    .bind(format!("{fingerprint}#"))
                    .bind(format!("{fingerprint}$"))
                    .fetch_one(&mut **tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO import_keys (folder_id, key) VALUES ($1, $2) \
                         ON CONFLICT (folder_id, key) DO NOTHING",
                    )
                    .bind(folder_id)
                    .bind(format!("{fingerprint}#{}", n + 1))
                    .execute(&mut **tx)
                    .await?;
                }
            }
        }
        for chunk in exact.chunks(200) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| format!("($1, ${})", i + 2))
                .collect();
            let sql = format!(
                "INSERT INTO import_keys (folder_id, key) VALUES {} \
                 ON CONFLICT (folder_id, key) DO NOTHING",
                rows.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(folder_id);
            for key in chunk {
                query = query.bind(key.clone());
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }
}
