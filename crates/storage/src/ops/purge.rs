//! Admin purge (`govmail purge`): finds messages by sender, subject or Message-ID in every
//! mailbox and removes them, one audit event per message.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sqlx::Row;

use super::{envelope_of, first_from, Progress};
use crate::{Action, Error, Result, Store};

/// What `govmail purge` looks for. Every given criterion must match.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PurgeCriteria {
    /// A From/Sender address (case-insensitive), or `@domain` for every sender of a domain.
    pub from: Option<String>,
    /// Case-insensitive substring of the decoded Subject.
    pub subject: Option<String>,
    /// Message-ID, with or without angle brackets.
    pub message_id: Option<String>,
    /// Only messages with an internal date at or after this time.
    pub since: Option<i64>,
}

/// One message found by a purge.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PurgeMatch {
    pub message_row: i64,
    pub account_id: i64,
    pub address: String,
    pub folder_id: i64,
    pub folder: String,
    pub uid: i64,
    pub internal_date: i64,
    pub size: i64,
    pub from: String,
    pub subject: String,
    pub message_id: String,
}

fn trim_angles(id: &str) -> &str {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
}

impl Store {
    /// Finds the messages matching `criteria` in every mailbox.
    pub async fn purge_find(&self, criteria: &PurgeCriteria) -> Result<Vec<PurgeMatch>> {
        if criteria.from.is_none() && criteria.subject.is_none() && criteria.message_id.is_none() {
            return Err(Error::Invalid(
                "give at least one of --from, --subject, --message-id".into(),
            ));
        }
        let from = criteria
            .from
            .as_deref()
            .map(|f| f.trim().to_lowercase())
            .filter(|f| !f.is_empty());
        let subject = criteria
            .subject
            .as_deref()
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty());
        let message_id = criteria
            .message_id
            .as_deref()
            .map(|m| trim_angles(m).to_string())
            .filter(|m| !m.is_empty());
        // A prefilter in SQL (a superset: LIKE wildcards in the needle only widen it); the
        // exact test is done on the parsed envelope below.
        let simple = |s: &str| {
            s.is_ascii() && !s.contains(['"', '\\', '\'']) && !s.chars().any(|c| c.is_control())
        };
        let prefilter = match (&message_id, &from) {
            (Some(id), _) if simple(id) => format!("%{}%", id.to_lowercase()),
            (_, Some(f)) if simple(f) => format!("%{f}%"),
            _ => String::new(),
        };
        let since = criteria.since.unwrap_or(i64::MIN);
        let mut out = vec![];
        let mut after = 0i64;
        loop {
            let rows = sqlx::query(
                "SELECT m.id, f.account_id, a.address, m.folder_id, f.name, m.uid, \
                   m.internal_date, m.size, m.meta \
                 FROM messages m JOIN folders f ON f.id = m.folder_id \
                 JOIN accounts a ON a.id = f.account_id \
                 WHERE m.id > $1 AND m.internal_date >= $2 \
                   AND ($3 = '' OR LOWER(m.meta) LIKE $3) \
                 ORDER BY m.id LIMIT 500",
            )
            .bind(after)
            .bind(since)
            .bind(prefilter.clone())
            .fetch_all(&self.pool)
            .await?;
            let Some(last) = rows.last() else { break };
            after = last.get(0);
            for r in &rows {
                let envelope = envelope_of(&r.get::<String, _>(8));
                if let Some(want) = &from {
                    let hit = envelope
                        .from
                        .iter()
                        .chain(envelope.sender.iter())
                        .filter_map(|a| a.address.as_deref())
                        .map(|a| a.trim().to_lowercase())
                        .any(|a| {
                            if want.starts_with('@') {
                                a.ends_with(want.as_str())
                            } else {
                                a == *want
                            }
                        });
                    if !hit {
                        continue;
                    }
                }
                if let Some(want) = &subject {
                    let hit = envelope
                        .subject
                        .as_deref()
                        .is_some_and(|s| s.to_lowercase().contains(want.as_str()));
                    if !hit {
                        continue;
                    }
                }
                if let Some(want) = &message_id {
                    let hit = envelope
                        .message_id
                        .as_deref()
                        .is_some_and(|m| trim_angles(m) == want);
                    if !hit {
                        continue;
                    }
                }
                out.push(PurgeMatch {
                    message_row: r.get(0),
                    account_id: r.get(1),
                    address: r.get(2),
                    folder_id: r.get(3),
                    folder: r.get(4),
                    uid: r.get(5),
                    internal_date: r.get(6),
                    size: r.get(7),
                    from: first_from(&envelope),
                    subject: envelope.subject.clone().unwrap_or_default(),
                    message_id: envelope.message_id.clone().unwrap_or_default(),
                });
            }
        }
        Ok(out)
    }

    /// Removes purge matches, recording each removal in the audit log (action
    /// `purge.message`, target the mailbox address). Returns how many were removed (a message
    /// expunged meanwhile by its owner is not counted).
    pub async fn purge_remove(
        &self,
        matches: &[PurgeMatch],
        criteria: &PurgeCriteria,
        actor: &str,
        doc_ref: &str,
        progress: Progress<'_>,
    ) -> Result<u64> {
        let mut by_folder: BTreeMap<i64, Vec<&PurgeMatch>> = BTreeMap::new();
        for m in matches {
            by_folder.entry(m.folder_id).or_default().push(m);
        }
        let total = matches.len() as u64;
        let mut done = 0u64;
        let mut removed_count = 0u64;
        let criteria_json = serde_json::to_value(criteria).unwrap_or_default();
        for (folder_id, items) in by_folder {
            let uids: Vec<i64> = items.iter().map(|m| m.uid).collect();
            let removed: BTreeSet<i64> = self
                .remove_messages(folder_id, &uids)
                .await?
                .into_iter()
                .collect();
            let events: Vec<(String, serde_json::Value)> = items
                .iter()
                .filter(|m| removed.contains(&m.uid))
                .map(|m| {
                    (
                        m.address.clone(),
                        serde_json::json!({"folder": m.folder, "uid": m.uid, "size": m.size,
                            "internal_date": m.internal_date, "from": m.from,
                            "subject": m.subject, "message_id": m.message_id,
                            "criteria": criteria_json}),
                    )
                })
                .collect();
            let mut tx = self.begin_write().await?;
            Self::log_events_in(&mut tx, actor, Action::PurgeMessage, doc_ref, &events).await?;
            tx.commit().await?;
            removed_count += events.len() as u64;
            done += items.len() as u64;
            progress("purge", done, total);
        }
        Ok(removed_count)
    }
}
