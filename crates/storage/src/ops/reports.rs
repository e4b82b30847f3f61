//! The data the compliance and usage reports read: accounts with their units, address
//! owners, unread mail of unit mailboxes, and audit events by action and time.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::Row;

use super::{envelope_of, first_from};
use crate::events::{Event, EventRow};
use crate::{Action, Flags, Result, Store};

/// An account as the reports and retention see it: kind, status and the unit it belongs to
/// (a unit mailbox belongs to its own unit, a person to the unit they work in).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OpsAccount {
    pub account_id: i64,
    /// "person" or "unit".
    pub kind: String,
    pub address: String,
    pub display_name: String,
    pub status: String,
    pub created_at: i64,
    pub departed_at: Option<i64>,
    pub used_bytes: i64,
    pub quota_bytes: i64,
    pub unit_abbrev: Option<String>,
    pub unit_name: Option<String>,
}

/// A message of a unit mailbox without `\Seen`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UnreadMessage {
    pub folder: String,
    pub uid: i64,
    pub internal_date: i64,
    pub from: String,
    pub subject: String,
}

impl Store {
    /// Appends an event with a given time (imports, tests; normal code uses `log_event`).
    pub async fn log_event_at(
        &self,
        at: i64,
        actor: &str,
        action: Action,
        target: &str,
        doc_ref: &str,
        detail: serde_json::Value,
    ) -> Result<()> {
        let row = EventRow::new(at, actor, action, target, doc_ref, &detail);
        self.write_conn(move |conn| {
            Box::pin(async move {
                row.insert().execute(conn).await?;
                Ok(())
            })
        })
        .await
    }

    /// Events with exactly this action and `from <= at < to`, oldest first.
    pub async fn events_between(&self, action: Action, from: i64, to: i64) -> Result<Vec<Event>> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, target, doc_ref, detail FROM events \
             WHERE action = $1 AND at >= $2 AND at < $3 ORDER BY at, id",
        )
        .bind(action.as_str().to_string())
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(crate::events::event_from_row).collect())
    }

    // ----- directory as the reports see it -----

    /// Every account with its unit.
    pub async fn ops_accounts(&self) -> Result<Vec<OpsAccount>> {
        let rows = sqlx::query(
            "SELECT a.id, a.kind, a.address, a.display_name, a.status, a.created_at, a.departed_at, \
               a.used_bytes, a.quota_bytes, \
               COALESCE(uo.abbrev, up.abbrev), COALESCE(uo.name, up.name) \
             FROM accounts a \
             LEFT JOIN units uo ON uo.account_id = a.id \
             LEFT JOIN persons p ON p.account_id = a.id \
             LEFT JOIN units up ON up.id = p.unit_id \
             ORDER BY a.address",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| OpsAccount {
                account_id: r.get(0),
                kind: r.get(1),
                address: r.get(2),
                display_name: r.get(3),
                status: r.get(4),
                created_at: r.get(5),
                departed_at: r.get(6),
                used_bytes: r.get(7),
                quota_bytes: r.get(8),
                unit_abbrev: r.get(9),
                unit_name: r.get(10),
            })
            .collect())
    }

    /// Every deliverable address of an account (primary and aliases, expired or not) →
    /// account id, to attribute logged recipients to accounts.
    pub async fn address_owners(&self) -> Result<HashMap<String, i64>> {
        let rows =
            sqlx::query("SELECT address, account_id FROM addresses WHERE account_id IS NOT NULL")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
            .collect())
    }

    /// Messages without `\Seen` in an account's folders other than Sent, Drafts, Trash and
    /// Junk, with `from <= internal_date < to`.
    pub async fn unread_messages(
        &self,
        account_id: i64,
        from: i64,
        to: i64,
    ) -> Result<Vec<UnreadMessage>> {
        // ESCAPE '!': PostgreSQL's LIKE takes a backslash as its escape character by default.
        let rows = sqlx::query(
            "SELECT f.name, f.special_use, m.uid, m.internal_date, m.flags, m.meta \
             FROM messages m JOIN folders f ON f.id = m.folder_id \
             WHERE f.account_id = $1 AND m.internal_date >= $2 AND m.internal_date < $3 \
               AND (' ' || m.flags || ' ') NOT LIKE '% \\Seen %' ESCAPE '!' \
             ORDER BY m.internal_date, f.name, m.uid",
        )
        .bind(account_id)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        let skip = ["\\Sent", "\\Drafts", "\\Trash", "\\Junk"];
        let mut out = vec![];
        for r in &rows {
            let special: Option<String> = r.get(1);
            if special
                .as_deref()
                .is_some_and(|s| skip.iter().any(|k| k.eq_ignore_ascii_case(s)))
            {
                continue;
            }
            let flags = Flags::from_stored(r.get::<String, _>(4));
            if flags.contains(Flags::SEEN) || flags.contains(Flags::DELETED) {
                continue;
            }
            let envelope = envelope_of(&r.get::<String, _>(5));
            out.push(UnreadMessage {
                folder: r.get(0),
                uid: r.get(2),
                internal_date: r.get(3),
                from: first_from(&envelope),
                subject: envelope.subject.clone().unwrap_or_default(),
            });
        }
        Ok(out)
    }
}
