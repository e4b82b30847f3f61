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

use std::collections::{BTreeSet, HashSet};

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

impl Store {
    /// Inside a transaction: the index rows of these blobs (a blob already indexed keeps its).
    pub(crate) async fn insert_search_terms_in(
        tx: &mut Tx,
        blobs: &[(&str, Option<&[String]>)],
    ) -> Result<()> {
        for (blob_id, terms) in blobs {
            let done = sqlx::query(
                "INSERT INTO search_indexed (blob_id, complete) VALUES ($1, $2) \
                 ON CONFLICT (blob_id) DO NOTHING",
            )
            .bind(blob_id.to_string())
            .bind(i64::from(terms.is_some()))
            .execute(&mut **tx)
            .await?;
            let Some(terms) = terms.filter(|_| done.rows_affected() > 0) else {
                continue;
            };
            for chunk in terms.chunks(400) {
                let rows: Vec<String> = (0..chunk.len())
                    .map(|i| format!("($1, ${})", i + 2))
                    .collect();
                let sql = format!(
                    "INSERT INTO search_terms (blob_id, term) VALUES {} \
                     ON CONFLICT (term, blob_id) DO NOTHING",
                    rows.join(", ")
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(blob_id.to_string());
                for term in chunk {
                    query = query.bind(term.clone());
                }
                query.execute(&mut **tx).await?;
            }
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
        let unindexed = self.backfill_search_index(folder_id).await?;
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
        out.extend(unindexed);
        let incomplete: Vec<i64> = sqlx::query_scalar(
            "SELECT m.id FROM messages m JOIN search_indexed s ON s.blob_id = m.blob_id \
             WHERE m.folder_id = $1 AND s.complete = 0",
        )
        .bind(folder_id)
        .fetch_all(&self.pool)
        .await?;
        out.extend(incomplete);
        Ok(out)
    }

    /// Indexes up to [`BACKFILL_PER_SEARCH`] messages of the folder stored before the index;
    /// returns the ids of those still unindexed.
    async fn backfill_search_index(&self, folder_id: i64) -> Result<Vec<i64>> {
        let rows = sqlx::query(
            "SELECT m.id, m.blob_id, m.size FROM messages m \
             LEFT JOIN search_indexed s ON s.blob_id = m.blob_id \
             WHERE m.folder_id = $1 AND s.blob_id IS NULL ORDER BY m.id",
        )
        .bind(folder_id)
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Ok(vec![]);
        }
        let now: Vec<(i64, String, i64)> = rows
            .iter()
            .take(BACKFILL_PER_SEARCH)
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        let later: Vec<i64> = rows
            .iter()
            .skip(BACKFILL_PER_SEARCH)
            .map(|r| r.get(0))
            .collect();
        let ids: Vec<i64> = now.iter().map(|r| r.0).collect();
        let metas = self.message_metas(folder_id, &ids).await?;
        let mut computed: Vec<(String, Option<Vec<String>>)> = Vec::with_capacity(now.len());
        let mut failed = vec![];
        for (id, blob_id, size) in &now {
            let Some(meta) = metas.get(id) else {
                failed.push(*id);
                continue;
            };
            let mut blob = self.open_blob(blob_id, *size).await?;
            let header = blob.read_range(0, u64::from(meta.root.offset_body)).await?;
            computed.push((blob_id.clone(), terms_of(&header, meta)));
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
        if let Err(e) = written {
            // Not indexed, so not excluded: scan them this time.
            tracing::warn!(error = %e, "could not store backfilled search terms");
            failed.extend(ids);
        }
        failed.extend(later);
        Ok(failed)
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
