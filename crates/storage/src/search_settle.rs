//! Settling the SQLite full-text index (issue 13). FTS5 writes the documents of each commit as
//! a small segment and merges segments level by level as they pile up (its automerge), so an
//! index that has taken mail in a burst holds tens of segments, and every look-up walks the
//! document list of its term in each of them (100,000 messages: 21 segments; a word in every
//! message 4.9 ms against 2.9 ms in one segment). Once the index is quiet, the server merges
//! them all into one, a bounded step at a time: each step is one write of the group-commit
//! writer, so deliveries and IMAP writes interleave with it and wait at most one step.
//!
//! PostgreSQL's GIN index needs none of this: every call here is a no-op there.

use crate::{Backend, Result, Store};

/// Leaf pages one merge step writes at most (about 50 ms of the writer on this 2-core machine).
pub const SETTLE_STEP_PAGES: i64 = 1_000;

/// What the settling task compares between two looks: when neither number moved, no document
/// came or went in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexShape {
    /// The newest document's row in `search_docs` (grows with every indexed body).
    pub newest: i64,
    /// Documents in `search_docs` (falls when a body and its document go).
    pub documents: i64,
    /// Segments of the FTS5 index.
    pub segments: i64,
}

impl Store {
    /// The shape of the SQLite full-text index; None on PostgreSQL.
    pub async fn search_index_shape(&self) -> Result<Option<IndexShape>> {
        if self.backend != Backend::Sqlite {
            return Ok(None);
        }
        let (newest, documents): (i64, i64) =
            sqlx::query_as("SELECT COALESCE(MAX(rowid), 0), COUNT(*) FROM search_docs")
                .fetch_one(&self.pool)
                .await?;
        let segments: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT segid) FROM search_fts_idx")
            .fetch_one(&self.pool)
            .await?;
        Ok(Some(IndexShape {
            newest,
            documents,
            segments,
        }))
    }

    /// One merge step of the SQLite full-text index: at most `pages` leaf pages merged, across
    /// levels (FTS5's `merge` with a negative count), in one write. True when it did some work
    /// (call again until false); false at once on PostgreSQL.
    pub async fn settle_search_index_step(&self, pages: i64) -> Result<bool> {
        if self.backend != Backend::Sqlite {
            return Ok(false);
        }
        let pages = -pages.max(1);
        self.write(move |tx| {
            Box::pin(async move {
                // FTS5: a step that found nothing to merge changes fewer than two rows.
                let before: i64 = sqlx::query_scalar("SELECT total_changes()")
                    .fetch_one(&mut **tx)
                    .await?;
                sqlx::query("INSERT INTO search_fts (search_fts, rank) VALUES ('merge', $1)")
                    .bind(pages)
                    .execute(&mut **tx)
                    .await?;
                let after: i64 = sqlx::query_scalar("SELECT total_changes()")
                    .fetch_one(&mut **tx)
                    .await?;
                Ok(after - before >= 2)
            })
        })
        .await
    }

    /// Merges the SQLite full-text index into one segment, step by step; the number of steps.
    pub async fn settle_search_index(&self) -> Result<u64> {
        let mut steps = 0;
        while self.settle_search_index_step(SETTLE_STEP_PAGES).await? {
            steps += 1;
        }
        Ok(steps)
    }
}
