//! Writing the full-text index (issue 13, see `search_index`): a body's document and its
//! number, the rows that take it, and dropping documents.
//!
//! Invariant: a document keeps its number while it exists (a rebuild gives it back), and two
//! documents never hold one number at once; a number is given again only after its document
//! went with its blob, when no message row holds it. So a `messages.doc` read at any time
//! names that row's body's document or none. A row takes its body's number only when the
//! document is complete (holds every word): NULL means "read this message".

use crate::conn::{stmt, Conn};
use std::collections::{BTreeSet, HashMap};

use sqlx::Row;

use crate::{Result, Store, Tx};

/// New documents are numbered 1, 2, 3, ... below this (SQLite: one more than the highest below
/// it; PostgreSQL: the sequence `search_doc_numbers`, which stops there). Documents indexed by
/// an older release keep their numbers, hashes of the blob id anywhere up to 2^63.
pub const DENSE_LIMIT: i64 = 1 << 40;
/// The migration that gave each message row its body's document (`messages.doc`).
pub const MESSAGE_DOCS_VERSION: i64 = 19;

/// The number a message row takes for its body (`blob`, an SQL expression for its blob id):
/// the body's document's when that document is complete, else NULL (the row is read). Every
/// write of `messages.doc` uses it; migration 0019 spells the same rule.
pub(crate) fn row_doc_sql(blob: &str) -> String {
    format!("(SELECT d.doc FROM search_docs d WHERE d.blob_id = {blob} AND d.complete = 1)")
}

impl Store {
    /// Inside a transaction: forgets the document of a body (its words on SQLite, where they
    /// live in `search_fts`; its row on both).
    pub(crate) async fn drop_document_in(tx: &mut Tx, blob_id: &str) -> Result<()> {
        if tx.backend_name() != "PostgreSQL" {
            sqlx::query(
                "DELETE FROM search_fts WHERE rowid IN \
                 (SELECT doc FROM search_docs WHERE blob_id = $1 AND doc IS NOT NULL)",
            )
            .bind(blob_id.to_string())
            .execute(&mut **tx)
            .await?;
        }
        sqlx::query("DELETE FROM search_docs WHERE blob_id = $1")
            .bind(blob_id.to_string())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Inside the blob GC's transaction, before it deletes the blobs (whose search_docs rows
    /// go by cascade): the SQLite words of those blobs' documents.
    pub(crate) async fn drop_documents_of_dead_blobs_in(tx: &mut Tx, cutoff: i64) -> Result<()> {
        if tx.backend_name() != "PostgreSQL" {
            sqlx::query(
                "DELETE FROM search_fts WHERE rowid IN (SELECT d.doc FROM search_docs d \
                 JOIN blobs b ON b.id = d.blob_id \
                 WHERE b.refcount <= 0 AND b.created_at <= $1 AND d.doc IS NOT NULL)",
            )
            .bind(cutoff)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Inside a transaction: the documents of these blobs (a blob already indexed keeps its),
    /// each under a new number.
    pub(crate) async fn insert_search_terms_in(
        conn: &mut Conn<'_>,
        blobs: &[(&str, Option<&[String]>)],
    ) -> Result<()> {
        Self::insert_documents_in(conn, blobs, &HashMap::new()).await
    }

    /// [`Store::insert_search_terms_in`], a blob in `kept` under that number (a rebuild gives a
    /// document back its number).
    pub(crate) async fn insert_documents_in(
        conn: &mut Conn<'_>,
        blobs: &[(&str, Option<&[String]>)],
        kept: &HashMap<String, i64>,
    ) -> Result<()> {
        let postgres = conn.is_postgres();
        // New numbers go above the kept ones too (whose rows a rebuild dropped before).
        let above = kept.values().copied().filter(|d| *d < DENSE_LIMIT).max();
        // Whole batches in a few statements (each is a round trip to the database thread).
        for chunk in blobs.chunks(100) {
            let joined: Vec<Option<String>> = chunk
                .iter()
                .map(|(_, terms)| terms.map(|t| t.join(" ")))
                .collect();
            // Each row: blob id, kept number or NULL, then (SQLite) its rank among the rows
            // numbered here, or (PostgreSQL) its terms, and complete. A new number is taken
            // in the statement: PostgreSQL's sequence; on SQLite one above the highest below
            // DENSE_LIMIT (read before any row is written: the SELECT reads the table it
            // inserts into, so SQLite runs it first) plus the rank.
            let sql = if postgres {
                let rows: Vec<String> = (0..chunk.len())
                    .map(|i| {
                        let n = i * 4;
                        format!(
                            "(${}, coalesce(${}, nextval('search_doc_numbers')), ${}, \
                             array_to_tsvector(string_to_array(${}, ' ')))",
                            n + 1,
                            n + 2,
                            n + 4,
                            n + 3
                        )
                    })
                    .collect();
                format!(
                    "INSERT INTO search_docs (blob_id, doc, complete, terms) VALUES {} \
                     ON CONFLICT DO NOTHING RETURNING blob_id, doc",
                    rows.join(", ")
                )
            } else {
                let n = chunk.len() * 4;
                format!(
                    "INSERT INTO search_docs (blob_id, doc, complete) \
                     SELECT column1, coalesce(column2, max((SELECT coalesce(max(doc), 0) \
                       FROM search_docs WHERE doc < ${}), ${}) + column3), column4 \
                     FROM (VALUES {}) WHERE true \
                     ON CONFLICT DO NOTHING RETURNING blob_id, doc",
                    n + 1,
                    n + 2,
                    crate::value_rows(chunk.len(), 4)
                )
            };
            let mut query = stmt(sql);
            let mut rank = 0i64;
            for ((blob_id, terms), text) in chunk.iter().zip(&joined) {
                let number = kept.get(*blob_id).copied();
                query = query.bind(*blob_id).bind(number);
                if postgres {
                    query = query.bind(text.clone());
                } else {
                    rank += i64::from(number.is_none());
                    query = query.bind(rank);
                }
                query = query.bind(i64::from(terms.is_some()));
            }
            if !postgres {
                query = query.bind(DENSE_LIMIT).bind(above.unwrap_or(0));
            }
            let fresh: HashMap<String, i64> = query
                .fetch_all(conn)
                .await?
                .iter()
                .map(|row| (row.get(0usize), row.get(1usize)))
                .collect();
            if postgres {
                // The marked terms, listed for marked query words (SQLite lists them itself).
                let marked: BTreeSet<&str> = chunk
                    .iter()
                    .filter(|(blob_id, _)| fresh.contains_key(*blob_id))
                    .filter_map(|(_, terms)| *terms)
                    .flatten()
                    .map(String::as_str)
                    .filter(|t| t.contains('~'))
                    .collect();
                if !marked.is_empty() {
                    let joined: Vec<&str> = marked.into_iter().collect();
                    stmt(
                        "INSERT INTO search_vocab (term) \
                         SELECT unnest(string_to_array($1, ' ')) ON CONFLICT DO NOTHING",
                    )
                    .bind(joined.join(" "))
                    .execute(conn)
                    .await?;
                }
            } else {
                let words: Vec<(i64, &String)> = chunk
                    .iter()
                    .zip(&joined)
                    .filter_map(|((blob_id, _), text)| {
                        Some((*fresh.get(*blob_id)?, text.as_ref()?))
                    })
                    .collect();
                if !words.is_empty() {
                    let sql = format!(
                        "INSERT INTO search_fts (rowid, terms) VALUES {}",
                        crate::value_rows(words.len(), 2)
                    );
                    let mut query = stmt(sql);
                    for (doc, text) in words {
                        query = query.bind(doc).bind(text.as_str());
                    }
                    query.execute(conn).await?;
                }
            }
            // Not inserted: indexed already, or its number taken (by a document of an older
            // release, numbered by hash); the latter is marked incomplete (always read).
            let left: Vec<&str> = chunk
                .iter()
                .map(|(b, _)| *b)
                .filter(|b| !fresh.contains_key(*b))
                .collect();
            for blob_id in left {
                stmt(
                    "INSERT INTO search_docs (blob_id, doc, complete) VALUES ($1, NULL, 0) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(blob_id)
                .execute(conn)
                .await?;
            }
        }
        Ok(())
    }

    /// A folder's listing came with rows lacking their body's document while the index holds
    /// every body (the rows were read before their bodies were indexed, or stored by a node
    /// of an older release, which does not fill `messages.doc`): fills in what the database
    /// lacks and drops the kept listing, so that the next look reads the rows with their
    /// documents.
    pub async fn fill_message_docs(&self, folder_id: i64) -> Result<()> {
        if self.message_docs {
            let doc = row_doc_sql("messages.blob_id");
            let sql = format!(
                "UPDATE messages SET doc = {doc} \
                 WHERE folder_id = $1 AND doc IS NULL AND {doc} IS NOT NULL"
            );
            self.write(move |tx| {
                Box::pin(async move {
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(folder_id)
                        .execute(&mut **tx)
                        .await?;
                    Ok(())
                })
            })
            .await?;
        }
        self.listings.forget(folder_id);
        Ok(())
    }

    /// Inside a transaction: the document numbers these blobs have.
    pub(crate) async fn doc_numbers_in(
        tx: &mut Tx,
        blob_ids: &[&str],
    ) -> Result<HashMap<String, i64>> {
        let mut out = HashMap::new();
        for chunk in blob_ids.chunks(100) {
            let places: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT blob_id, doc FROM search_docs WHERE doc IS NOT NULL AND blob_id IN ({})",
                places.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for blob_id in chunk {
                query = query.bind(blob_id.to_string());
            }
            for row in query.fetch_all(&mut **tx).await? {
                out.insert(row.get(0), row.get(1));
            }
        }
        Ok(out)
    }

    /// Inside a transaction, after their bodies were indexed: the rows of these blobs take
    /// their document when it is complete (rows stored before the index had none), else none.
    /// Returns the folders of those rows (their kept listings hold the rows as they were).
    pub(crate) async fn set_message_docs_in(
        tx: &mut Tx,
        blob_ids: &[&str],
    ) -> Result<BTreeSet<i64>> {
        let mut folders = BTreeSet::new();
        for chunk in blob_ids.chunks(100) {
            let places: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "UPDATE messages SET doc = {} WHERE blob_id IN ({}) RETURNING folder_id",
                row_doc_sql("messages.blob_id"),
                places.join(", ")
            );
            let mut query = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql));
            for blob_id in chunk {
                query = query.bind(blob_id.to_string());
            }
            folders.extend(query.fetch_all(&mut **tx).await?);
        }
        Ok(folders)
    }
}
