//! The audit/event log: who did what, on which written decision (KT-5.2), and what the mail
//! flow refused (viruses, spam) for the reports.

use serde::Serialize;
use sqlx::Row;

use crate::{now, Result, Store};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Event {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub doc_ref: String,
    pub detail: serde_json::Value,
}

impl Store {
    /// Appends one event. `detail` is any JSON value.
    pub async fn log_event(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        doc_ref: &str,
        detail: serde_json::Value,
    ) -> Result<()> {
        // Through the group commit: sessions log events (mailbox opened, unit read) often.
        let values = [
            actor.to_string(),
            action.to_string(),
            target.to_string(),
            doc_ref.to_string(),
            detail.to_string(),
        ];
        let at = now();
        self.write(move |tx| {
            Box::pin(async move {
                let [actor, action, target, doc_ref, detail] = values;
                sqlx::query(
                    "INSERT INTO events (at, actor, action, target, doc_ref, detail) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(at)
                .bind(actor)
                .bind(action)
                .bind(target)
                .bind(doc_ref)
                .bind(detail)
                .execute(&mut **tx)
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// Events, newest first, optionally only those whose action starts with `prefix`.
    pub async fn events(&self, prefix: &str, limit: i64) -> Result<Vec<Event>> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, target, doc_ref, detail FROM events \
             WHERE substr(action, 1, length(CAST($1 AS TEXT))) = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(prefix.to_string())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(event_from_row).collect())
    }
}

/// An `events` row selected as `id, at, actor, action, target, doc_ref, detail`.
pub(crate) fn event_from_row(r: &sqlx::any::AnyRow) -> Event {
    Event {
        id: r.get(0),
        at: r.get(1),
        actor: r.get(2),
        action: r.get(3),
        target: r.get(4),
        doc_ref: r.get(5),
        detail: serde_json::from_str(&r.get::<String, _>(6)).unwrap_or_default(),
    }
}
