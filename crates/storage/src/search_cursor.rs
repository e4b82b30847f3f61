//! Per folder, the UID up to which every message is known to have a complete search document
//! (`search_index::unsure_messages` reads only the messages above it). Kept in memory, and in
//! `search_cursors` (migration 0018) so that a restarted server does not walk a whole folder
//! against `search_docs` at its first SEARCH.
//!
//! Invariant: a stored cursor is a lower bound. It is written only when no message at or
//! below it is indexed incompletely, a body's document is replaced in one transaction (index
//! rebuild) or goes with the body, and UIDs only grow; `govmail index rebuild` clears it.

use std::collections::HashMap;

use crate::{Result, Store};

/// The migration that made `search_cursors`.
pub const CURSOR_SCHEMA_VERSION: i64 = 18;
/// The stored cursor is rewritten once the one in memory is this many UIDs ahead of it.
const STORE_EVERY: i64 = 1_000;

/// One folder's cursor: every message with a UID up to `cursor` has a document, complete but
/// for the message ids in `incomplete` (rare: more than `MAX_TERMS` words); `stored` is the
/// value in the database. An expunged id left in `incomplete` is harmless (it is no longer in
/// the listing).
#[derive(Clone, Default)]
pub(crate) struct Seen {
    pub cursor: i64,
    pub incomplete: Vec<i64>,
    pub stored: i64,
}

#[derive(Default)]
pub(crate) struct SeenIndexed(std::sync::Mutex<HashMap<i64, Seen>>);

impl SeenIndexed {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Seen>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }
}

impl Store {
    /// The folder's cursor: the one in memory, else the stored one (0 when there is none).
    pub(crate) async fn search_cursor(&self, folder_id: i64) -> Result<Seen> {
        if let Some(seen) = self.search_seen.lock().get(&folder_id) {
            return Ok(seen.clone());
        }
        let stored = if self.search_cursors {
            sqlx::query_scalar("SELECT uid FROM search_cursors WHERE folder_id = $1")
                .bind(folder_id)
                .fetch_optional(&self.pool)
                .await?
                .unwrap_or(0)
        } else {
            0
        };
        Ok(Seen {
            cursor: stored,
            incomplete: vec![],
            stored,
        })
    }

    /// Remembers the folder's cursor, and stores it when it has moved far and nothing at or
    /// below it is indexed incompletely. A failed store only leaves the old value (a lower
    /// bound still).
    pub(crate) async fn set_search_cursor(&self, folder_id: i64, mut seen: Seen) {
        seen.incomplete.sort_unstable();
        seen.incomplete.dedup();
        if self.search_cursors
            && seen.incomplete.is_empty()
            && seen.cursor >= seen.stored + STORE_EVERY
        {
            let cursor = seen.cursor;
            let written = self
                .write(move |tx| {
                    Box::pin(async move {
                        sqlx::query(
                            "INSERT INTO search_cursors (folder_id, uid) VALUES ($1, $2) \
                             ON CONFLICT (folder_id) DO UPDATE SET uid = $2",
                        )
                        .bind(folder_id)
                        .bind(cursor)
                        .execute(&mut **tx)
                        .await?;
                        Ok(())
                    })
                })
                .await;
            match written {
                Ok(()) => seen.stored = cursor,
                // The folder was deleted meanwhile, say.
                Err(e) => tracing::debug!(error = %e, folder_id, "search cursor not stored"),
            }
        }
        self.search_seen.lock().insert(folder_id, seen);
    }

    /// Forgets every search cursor of `account` (every account: None), stored and in memory:
    /// `index rebuild` may make documents incomplete that were complete.
    pub(crate) async fn clear_search_cursors(&self, account: Option<i64>) -> Result<()> {
        if self.search_cursors {
            let account = account.unwrap_or(0);
            self.write(move |tx| {
                Box::pin(async move {
                    sqlx::query(
                        "DELETE FROM search_cursors WHERE $1 = 0 OR folder_id IN \
                         (SELECT id FROM folders WHERE account_id = $1)",
                    )
                    .bind(account)
                    .execute(&mut **tx)
                    .await?;
                    Ok(())
                })
            })
            .await?;
        }
        self.search_seen.clear();
        Ok(())
    }
}
