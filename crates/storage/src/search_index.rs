//! The full-text index IMAP SEARCH reads (issue 13): table `search_terms`, the distinct words of
//! a message with every mark removed (`policy::textsearch::terms`: "Nguyễn" → `nguyen`, "đơn" →
//! `don`), keyed by blob like `message_sort` — written in the same transaction as the message
//! (delivery, APPEND), nothing added by a COPY (same blob), gone with the blob (GC); an expunged
//! message drops out at once because look-ups join `messages`. `search_indexed` marks the blobs
//! indexed (a message may have no words at all).
//!
//! Indexed: the decoded subject, From/To/Cc/Bcc display names and addresses, the decoded body
//! text the stored parse keeps (every charset mail-parser decodes; bounded), attachment file
//! names (RFC 2047/2231), and the words of the raw header block (what SEARCH TEXT/HEADER read).
//!
//! A look-up finds the messages having, for each query word, a term that begins with it
//! (prefix). Messages stored before the index have no rows: [`Store::search_candidates`]
//! indexes up to [`BACKFILL_PER_SEARCH`] of them per call (lazy backfill, written back) and
//! returns the rest as candidates, so answers are never missing a message.

use std::collections::{BTreeSet, HashMap, HashSet};

use sqlx::Row;

use crate::meta::{MailAddr, MessageMeta};
use crate::{Result, Store, Tx};

/// Most distinct terms kept per message (the stored body text is already bounded); a message
/// with more is marked incomplete and always read by SEARCH.
pub const MAX_TERMS: usize = 50_000;
/// Most unindexed messages one search indexes before answering.
pub const BACKFILL_PER_SEARCH: usize = 2_000;

/// The distinct index terms of a message: its stored parse and its raw header block. None when
/// there are more than [`MAX_TERMS`].
pub fn terms_of(header: &[u8], meta: &MessageMeta) -> Option<Vec<String>> {
    let mut out: BTreeSet<String> = BTreeSet::new();
    let mut over = false;
    let mut add = |text: &str| {
        for term in policy::textsearch::terms(text) {
            if out.len() >= MAX_TERMS {
                over = true;
                return;
            }
            out.insert(term);
        }
    };
    let env = &meta.envelope;
    if let Some(subject) = &env.subject {
        add(subject);
    }
    let addrs = |list: &[MailAddr], add: &mut dyn FnMut(&str)| {
        for a in list {
            for text in [&a.name, &a.address, &a.group].into_iter().flatten() {
                add(text);
            }
        }
    };
    for list in [&env.from, &env.to, &env.cc, &env.bcc] {
        addrs(list, &mut add);
    }
    for name in &meta.attachment_names {
        add(name);
    }
    add(&meta.text);
    add(&String::from_utf8_lossy(header));
    (!over).then(|| out.into_iter().collect())
}

/// The exclusive upper bound of the terms beginning with `prefix` (byte order: SQLite BINARY,
/// PostgreSQL `COLLATE "C"` on the column).
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}{}", char::MAX)
}

/// How far `govmail index rebuild` got: messages looked at and to look at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexProgress {
    pub done: u64,
    pub total: u64,
}

/// Messages read per rebuild transaction.
pub const REBUILD_BATCH: i64 = 500;

impl Store {
    /// Whether the full-text index is kept (`StoreOptions::full_text_index`).
    pub fn full_text_index(&self) -> bool {
        self.full_text_index
    }

    /// The index terms of a message about to be stored: None when the index is off, else
    /// [`terms_of`] its header block and parse.
    pub(crate) fn index_terms(
        &self,
        raw: &[u8],
        meta: &MessageMeta,
    ) -> Option<Option<Vec<String>>> {
        self.full_text_index.then(|| {
            let end = (meta.root.offset_body as usize).min(raw.len());
            terms_of(&raw[..end], meta)
        })
    }

    /// `govmail index rebuild`: indexes every message of `account` (or of everyone) whose body
    /// the index lacks — mail stored before the index or while it was off — or, with `full`,
    /// every message again (after the folding rules changed). Each batch of
    /// [`REBUILD_BATCH`] messages is one transaction that replaces its bodies' rows, so a kill
    /// leaves every body either indexed completely or not at all, and a rerun goes on.
    pub async fn rebuild_search_index(
        &self,
        account: Option<i64>,
        full: bool,
        progress: &mut (dyn FnMut(IndexProgress) + Send),
    ) -> Result<IndexProgress> {
        // $2 = 0: every account.
        let scope = "JOIN folders f ON f.id = m.folder_id \
                     WHERE m.id > $1 AND ($2 = 0 OR f.account_id = $2)";
        let missing = if full {
            ""
        } else {
            " AND NOT EXISTS (SELECT 1 FROM search_indexed s WHERE s.blob_id = m.blob_id)"
        };
        let count_sql = format!("SELECT COUNT(*) FROM messages m {scope}{missing}");
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql))
            .bind(0i64)
            .bind(account.unwrap_or(0))
            .fetch_one(&self.pool)
            .await?;
        let mut state = IndexProgress {
            done: 0,
            total: total as u64,
        };
        progress(state);
        let page_sql = format!(
            "SELECT m.id, m.folder_id, m.blob_id, m.size FROM messages m {scope}{missing} \
             ORDER BY m.id LIMIT {REBUILD_BATCH}"
        );
        let mut after = 0i64;
        loop {
            let rows = sqlx::query(sqlx::AssertSqlSafe(page_sql.clone()))
                .bind(after)
                .bind(account.unwrap_or(0))
                .fetch_all(&self.pool)
                .await?;
            let Some(last) = rows.last() else {
                break;
            };
            after = last.get(0);
            let mut by_folder: HashMap<i64, Vec<(i64, String, i64)>> = HashMap::new();
            for r in &rows {
                by_folder
                    .entry(r.get(1))
                    .or_default()
                    .push((r.get(0), r.get(2), r.get(3)));
            }
            let mut computed: Vec<(String, Option<Vec<String>>)> = vec![];
            let mut seen: HashSet<String> = HashSet::new();
            for (folder_id, messages) in by_folder {
                let ids: Vec<i64> = messages.iter().map(|m| m.0).collect();
                let metas = self.message_metas(folder_id, &ids).await?;
                for (id, blob_id, size) in messages {
                    let Some(meta) = metas.get(&id) else { continue };
                    if !seen.insert(blob_id.clone()) {
                        continue;
                    }
                    let mut blob = self.open_blob(&blob_id, size).await?;
                    let header = blob.read_range(0, u64::from(meta.root.offset_body)).await?;
                    computed.push((blob_id, terms_of(&header, meta)));
                }
            }
            self.write(move |tx| {
                Box::pin(async move {
                    for (blob_id, _) in &computed {
                        for table in ["search_terms", "search_indexed"] {
                            sqlx::query(sqlx::AssertSqlSafe(format!(
                                "DELETE FROM {table} WHERE blob_id = $1"
                            )))
                            .bind(blob_id.clone())
                            .execute(&mut **tx)
                            .await?;
                        }
                    }
                    let refs: Vec<(&str, Option<&[String]>)> = computed
                        .iter()
                        .map(|(b, t)| (b.as_str(), t.as_deref()))
                        .collect();
                    Self::insert_search_terms_in(tx, &refs).await
                })
            })
            .await?;
            state.done += rows.len() as u64;
            state.total = state.total.max(state.done);
            progress(state);
        }
        Ok(state)
    }

    /// Inside a transaction: the index rows of these blobs (a blob already indexed keeps its).
    pub(crate) async fn insert_search_terms_in(
        tx: &mut Tx,
        blobs: &[(&str, Option<&[String]>)],
    ) -> Result<()> {
        // Whole batches in a few statements (each statement is a round trip to the database
        // thread): the blobs not indexed yet are marked in one INSERT that returns them, then
        // their terms go in multi-row INSERTs.
        let mut fresh: std::collections::HashSet<String> = std::collections::HashSet::new();
        for chunk in blobs.chunks(200) {
            let rows = crate::value_rows(chunk.len(), 2);
            let sql = format!(
                "INSERT INTO search_indexed (blob_id, complete) VALUES {} \
                 ON CONFLICT (blob_id) DO NOTHING RETURNING blob_id",
                rows
            );
            let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
            for (blob_id, terms) in chunk {
                query = query
                    .bind(blob_id.to_string())
                    .bind(i64::from(terms.is_some()));
            }
            fresh.extend(query.fetch_all(&mut **tx).await?);
        }
        let rows: Vec<(&str, &String)> = blobs
            .iter()
            .filter(|(blob_id, _)| fresh.contains(*blob_id))
            .filter_map(|(blob_id, terms)| terms.map(|t| (*blob_id, t)))
            .flat_map(|(blob_id, terms)| terms.iter().map(move |term| (blob_id, term)))
            .collect();
        for chunk in rows.chunks(400) {
            let values = crate::value_rows(chunk.len(), 2);
            let sql = format!(
                "INSERT INTO search_terms (blob_id, term) VALUES {} \
                 ON CONFLICT (term, blob_id) DO NOTHING",
                values
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (blob_id, term) in chunk {
                query = query.bind(blob_id.to_string()).bind((*term).clone());
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// The ids of the messages of `folder_id` that may match: those having, for every word of
    /// `prefixes`, a term beginning with it, plus those not indexed yet (after indexing up to
    /// [`BACKFILL_PER_SEARCH`] of them). `prefixes` must not be empty.
    pub async fn search_candidates(
        &self,
        folder_id: i64,
        prefixes: &[String],
    ) -> Result<HashSet<i64>> {
        let unsure = self.unsure_messages(folder_id).await?;
        let mut found: Option<HashSet<i64>> = None;
        for prefix in prefixes {
            let ids: HashSet<i64> = sqlx::query_scalar(
                "SELECT DISTINCT m.id FROM search_terms t JOIN messages m ON m.blob_id = t.blob_id \
                 WHERE m.folder_id = $1 AND t.term >= $2 AND t.term < $3",
            )
            .bind(folder_id)
            .bind(prefix.clone())
            .bind(prefix_end(prefix))
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .collect();
            found = Some(match found {
                None => ids,
                Some(before) => before.intersection(&ids).copied().collect(),
            });
            if found.as_ref().is_some_and(|f| f.is_empty()) {
                break;
            }
        }
        let mut out = found.unwrap_or_default();
        out.extend(unsure);
        Ok(out)
    }

    /// The messages of the folder the index cannot rule out: those not indexed yet (after
    /// indexing up to [`BACKFILL_PER_SEARCH`] of them) and those indexed incompletely. Only
    /// messages above the folder's remembered UID cursor are read, so a folder known indexed
    /// costs one short range query.
    async fn unsure_messages(&self, folder_id: i64) -> Result<Vec<i64>> {
        let (cursor, mut incomplete) = self.search_seen.get(folder_id);
        let rows = sqlx::query(
            "SELECT m.id, m.uid, m.blob_id, m.size, s.complete FROM messages m \
             LEFT JOIN search_indexed s ON s.blob_id = m.blob_id \
             WHERE m.folder_id = $1 AND m.uid > $2 ORDER BY m.uid",
        )
        .bind(folder_id)
        .bind(cursor)
        .fetch_all(&self.pool)
        .await?;
        let Some(last) = rows.last() else {
            return Ok(incomplete);
        };
        let last_uid: i64 = last.get(1);
        let mut unindexed: Vec<(i64, i64, String, i64)> = vec![];
        for r in &rows {
            match r.get::<Option<i64>, _>(4) {
                None => unindexed.push((r.get(0), r.get(1), r.get(2), r.get(3))),
                Some(0) => incomplete.push(r.get(0)),
                Some(_) => {}
            }
        }
        let later: Vec<(i64, i64)> = unindexed
            .iter()
            .skip(BACKFILL_PER_SEARCH)
            .map(|r| (r.0, r.1))
            .collect();
        unindexed.truncate(BACKFILL_PER_SEARCH);
        let mut still: Vec<(i64, i64)> = later;
        if !unindexed.is_empty() {
            let ids: Vec<i64> = unindexed.iter().map(|r| r.0).collect();
            let metas = self.message_metas(folder_id, &ids).await?;
            let mut computed: Vec<(String, Option<Vec<String>>)> = vec![];
            let mut done: Vec<(i64, bool)> = vec![];
            for (id, uid, blob_id, size) in &unindexed {
                let Some(meta) = metas.get(id) else {
                    still.push((*id, *uid));
                    continue;
                };
                let mut blob = self.open_blob(blob_id, *size).await?;
                let header = blob.read_range(0, u64::from(meta.root.offset_body)).await?;
                let terms = terms_of(&header, meta);
                done.push((*id, terms.is_some()));
                computed.push((blob_id.clone(), terms));
            }
            let written = self
                .write(move |tx| {
                    Box::pin(async move {
                        let refs: Vec<(&str, Option<&[String]>)> = computed
                            .iter()
                            .map(|(b, t)| (b.as_str(), t.as_deref()))
                            .collect();
                        Self::insert_search_terms_in(tx, &refs).await
                    })
                })
                .await;
            match written {
                Ok(()) => incomplete.extend(done.iter().filter(|d| !d.1).map(|d| d.0)),
                Err(e) => {
                    // Not indexed, so not excluded: read them this time.
                    tracing::warn!(error = %e, "could not store backfilled search terms");
                    still.extend(unindexed.iter().map(|r| (r.0, r.1)));
                }
            }
        }
        // The cursor stops below the first message still unindexed.
        let new_cursor = still.iter().map(|r| r.1 - 1).min().unwrap_or(last_uid);
        let below: Vec<i64> = incomplete.clone();
        self.search_seen.set(folder_id, new_cursor, below);
        let mut out = incomplete;
        out.extend(still.iter().map(|r| r.0));
        Ok(out)
    }
}

/// Per folder: the UID up to which every message is known to be indexed, and the ids of those
/// indexed incompletely (rare: more than [`MAX_TERMS`] words). UIDs only grow, so messages
/// stored later are above the cursor; an expunged id left in the list is harmless (it is no
/// longer in the listing).
#[derive(Default)]
pub(crate) struct SeenIndexed(std::sync::Mutex<HashMap<i64, (i64, Vec<i64>)>>);

impl SeenIndexed {
    fn get(&self, folder_id: i64) -> (i64, Vec<i64>) {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&folder_id).cloned().unwrap_or((0, vec![]))
    }

    fn set(&self, folder_id: i64, cursor: i64, mut incomplete: Vec<i64>) {
        incomplete.sort_unstable();
        incomplete.dedup();
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(folder_id, (cursor, incomplete));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_cover_subject_addresses_body_and_file_names() {
        let raw = "From: =?UTF-8?Q?Nguy=E1=BB=85n_V=C4=83n_An?= <an@bo.gov.vn>\r\n\
To: =?UTF-8?Q?=C4=90=E1=BB=A9c?= <duc@x.vn>\r\n\
Subject: =?UTF-8?Q?B=C3=A1o_c=C3=A1o?=\r\n\
MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nĐơn đề nghị số 15/QĐ-UBND\r\n";
        let meta = MessageMeta::compute(raw.as_bytes());
        let header_end = meta.root.offset_body as usize;
        let terms = terms_of(&raw.as_bytes()[..header_end], &meta).unwrap();
        for t in [
            "nguyen", "van", "an", "bo", "gov", "vn", "duc", "bao", "cao", "don", "de", "nghi",
            "so", "15", "qd", "ubnd",
        ] {
            assert!(terms.contains(&t.to_string()), "{t} in {terms:?}");
        }
        assert!(prefix_end("ng").as_str() > "nguyen");
        assert!(prefix_end("ng").as_str() < "nh");
    }
}
