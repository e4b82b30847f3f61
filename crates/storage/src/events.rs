//! The audit/event log: who did what, on which written decision (KT-5.2), and what the mail
//! flow refused (viruses, spam) for the reports.

use serde::Serialize;
use sqlx::Row;

use crate::{now, Action, Result, Store};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Event {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: Action,
    pub target: String,
    pub doc_ref: String,
    pub detail: serde_json::Value,
}

impl Store {
    /// A refused login that locked its (login, address) pair or banned the address (the AUTH
    /// throttle, `policy::limits`): one `auth.locked` / `auth.banned` event each. The refusal
    /// stands whether or not the event is recorded (an error answer would invite the guesser
    /// to retry at once), so a failed write is logged, not returned.
    pub async fn record_auth_failure(
        &self,
        protocol: &str,
        session: &str,
        login: &str,
        ip: std::net::IpAddr,
        failure: &policy::limits::Failure,
    ) {
        for (hit, kind) in [
            (failure.locked, Action::AuthLocked),
            (failure.banned, Action::AuthBanned),
        ] {
            if !hit {
                continue;
            }
            tracing::warn!(%session, %protocol, %ip, %login, %kind, "repeated auth failures");
            let detail = serde_json::json!({"ip": ip.to_string()});
            if let Err(e) = self
                .log_event(protocol, kind.clone(), login, "", detail)
                .await
            {
                tracing::error!(%session, error = %e, %kind, "auth event not recorded");
            }
        }
    }

    /// Last-use stamp for compliance reports (KT-11): who opened which mailbox when. The
    /// first opening of each minute by the same person of the same folder is recorded, the
    /// others in that minute add nothing the reports read (they ask whether someone opened a
    /// mailbox within a window of whole minutes, and who): a client that re-selects its
    /// folders all day costs one durable write a minute, not one per SELECT.
    pub async fn record_mailbox_open(
        &self,
        actor: &str,
        owner_account_id: i64,
        folder: &str,
    ) -> Result<()> {
        let at = now();
        let key = (actor.to_string(), owner_account_id, folder.to_string());
        if self.opens.get(&key) == Some(at / 60) {
            return Ok(());
        }
        self.log_event(
            actor,
            Action::MailboxOpen,
            folder,
            "",
            serde_json::json!({"account_id": owner_account_id, "at": at}),
        )
        .await?;
        // Marked once committed: a failed write leaves the minute unrecorded.
        self.opens.insert(key, at / 60);
        Ok(())
    }

    /// Appends one event. `detail` is any JSON value.
    pub async fn log_event(
        &self,
        actor: &str,
        action: Action,
        target: &str,
        doc_ref: &str,
        detail: serde_json::Value,
    ) -> Result<()> {
        // Through the group commit: sessions log events (mailbox opened, unit read) often.
        let row = EventRow::new(now(), actor, action, target, doc_ref, &detail);
        self.write_conn(move |conn| {
            Box::pin(async move {
                row.insert().execute(conn).await?;
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

/// An event to record with a delivery ([`crate::Delivery::events`]): written in the same
/// transaction as the message, so the audit trail never shows a message that was not
/// delivered, nor misses one that was.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub actor: String,
    pub action: Action,
    pub target: String,
    pub doc_ref: String,
    pub detail: serde_json::Value,
}

impl NewEvent {
    pub(crate) fn row(&self, at: i64) -> EventRow {
        EventRow::new(
            at,
            &self.actor,
            self.action.clone(),
            &self.target,
            &self.doc_ref,
            &self.detail,
        )
    }
}

/// An event as written: the one place that knows the `events` columns on insert.
pub(crate) struct EventRow {
    at: i64,
    actor: String,
    action: String,
    target: String,
    doc_ref: String,
    detail: String,
}

impl EventRow {
    pub(crate) fn new(
        at: i64,
        actor: &str,
        action: Action,
        target: &str,
        doc_ref: &str,
        detail: &serde_json::Value,
    ) -> EventRow {
        EventRow {
            at,
            actor: actor.to_string(),
            action: action.as_str().to_string(),
            target: target.to_string(),
            doc_ref: doc_ref.to_string(),
            detail: detail.to_string(),
        }
    }

    /// The INSERT, ready for any executor (pool or transaction).
    pub(crate) fn insert(self) -> crate::conn::Stmt {
        crate::conn::stmt(
            "INSERT INTO events (at, actor, action, target, doc_ref, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(self.at)
        .bind(self.actor)
        .bind(self.action)
        .bind(self.target)
        .bind(self.doc_ref)
        .bind(self.detail)
    }
}

/// An `events` row selected as `id, at, actor, action, target, doc_ref, detail`.
pub(crate) fn event_from_row(r: &sqlx::any::AnyRow) -> Event {
    Event {
        id: r.get(0),
        at: r.get(1),
        actor: r.get(2),
        action: Action::from_name(&r.get::<String, _>(3)),
        target: r.get(4),
        doc_ref: r.get(5),
        detail: serde_json::from_str(&r.get::<String, _>(6)).unwrap_or_default(),
    }
}

/// The minute each (actor, owner account, folder) opening was last recorded, by this process.
pub(crate) type OpenStamps = crate::folder_accounts::BoundedMap<(String, i64, String), i64>;

#[cfg(test)]
mod tests {
    use crate::now;

    /// One event per person, owner and folder and minute: a second SELECT in the same minute
    /// adds none; another folder or another person does.
    #[tokio::test]
    async fn mailbox_openings_are_recorded_once_a_minute() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::sqlite_test_store(&dir).await;
        // Retried when the minute turned in between (the count would rightly differ).
        for _ in 0..3 {
            let minute = now() / 60;
            let before = store.events("mailbox.open", 100).await.unwrap().len();
            for (actor, folder) in [
                ("a@x.vn", "INBOX"),
                ("a@x.vn", "INBOX"),
                ("a@x.vn", "Sent"),
                ("b@x.vn", "INBOX"),
                ("a@x.vn", "INBOX"),
            ] {
                store.record_mailbox_open(actor, 7, folder).await.unwrap();
            }
            let after = store.events("mailbox.open", 100).await.unwrap();
            if now() / 60 != minute {
                continue;
            }
            let new = &after[..after.len() - before];
            let mut seen: Vec<(&str, &str)> = new
                .iter()
                .map(|e| (e.actor.as_str(), e.target.as_str()))
                .collect();
            seen.sort();
            assert_eq!(
                seen,
                vec![("a@x.vn", "INBOX"), ("a@x.vn", "Sent"), ("b@x.vn", "INBOX")]
            );
            return;
        }
        panic!("the minute kept turning");
    }
}
