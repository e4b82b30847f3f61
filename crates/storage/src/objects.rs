//! What RFC 8474 OBJECTID and RFC 8514 SAVEDATE read per message: the EMAILID (the row's id,
//! or its source's for a copy) and the save date (`created_at`, set when the row was put in
//! its folder: APPEND, COPY, MOVE, delivery). Kept out of [`crate::MessageRow`] so folder
//! listings stay on their covering index.

use std::collections::HashMap;

use sqlx::Row;

use crate::{Result, Store};

/// A message's object id and save date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageExtra {
    /// RFC 8474 EMAILID, as a number (the IMAP layer words it).
    pub email_id: i64,
    /// RFC 8514 save date, Unix seconds.
    pub saved_at: i64,
}

impl Store {
    /// The [`MessageExtra`] of these messages of a folder, by message id (one query per 500).
    pub async fn message_extras(
        &self,
        folder_id: i64,
        message_ids: &[i64],
    ) -> Result<HashMap<i64, MessageExtra>> {
        let mut out = HashMap::with_capacity(message_ids.len());
        for chunk in message_ids.chunks(500) {
            let placeholders: Vec<String> =
                (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT id, COALESCE(email_id, id), created_at FROM messages \
                 WHERE folder_id = $1 AND id IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(folder_id);
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&self.pool).await? {
                out.insert(
                    row.get::<i64, _>(0),
                    MessageExtra {
                        email_id: row.get(1),
                        saved_at: row.get(2),
                    },
                );
            }
        }
        Ok(out)
    }

    /// UID → [`MessageExtra`] of every message of a folder (SEARCH SAVEDSINCE, EMAILID ...).
    pub async fn folder_extras(&self, folder_id: i64) -> Result<HashMap<i64, MessageExtra>> {
        let rows = sqlx::query(
            "SELECT uid, COALESCE(email_id, id), created_at FROM messages WHERE folder_id = $1",
        )
        .bind(folder_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| {
                (
                    row.get::<i64, _>(0),
                    MessageExtra {
                        email_id: row.get(1),
                        saved_at: row.get(2),
                    },
                )
            })
            .collect())
    }
}
