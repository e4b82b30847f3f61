//! What one attempt's results become: queue updates (delivered, failed, retry at), delivery
//! status notices (RFC 3464) stored in the sender's INBOX, and audit events.
//!
//! Invariant: a failure notice is stored before the entry is marked failed.

use std::sync::Arc;
use std::time::Duration;

use storage::queue::{QueueOutcome, QueueUpdate};
use storage::QueueEntry;

use super::attempt::strip_return_path;
use super::client::RcptResult;
use super::dsn::{self, DsnAction, DsnRecipient};
use super::Worker;

impl Worker {
    /// Turns results into queue updates and notices, stores the notices, then the updates.
    pub(super) async fn finish(
        &self,
        entries: Vec<QueueEntry>,
        original: &[u8],
        results: Vec<RcptResult>,
        remote_mta: String,
        remote_dsn: bool,
        started: i64,
    ) {
        let inner = &self.inner;
        let settings = &inner.settings;
        let at = storage::now();
        let max_age = settings.max_age.as_secs() as i64;
        let mut updates = vec![];
        let mut failed: Vec<(usize, DsnRecipient)> = vec![];
        let mut delayed: Vec<(usize, DsnRecipient)> = vec![];
        let mut relayed: Vec<DsnRecipient> = vec![];
        for (i, (entry, result)) in entries.iter().zip(results).enumerate() {
            let notify = Notify::parse(entry.notify.as_deref());
            let base = |action, status: &str, diagnostic: &str| DsnRecipient {
                recipient: entry.recipient.clone(),
                orcpt: entry.orcpt.clone(),
                action,
                status: status.to_string(),
                diagnostic: (!diagnostic.is_empty()).then(|| diagnostic.to_string()),
                remote_mta: (!remote_mta.is_empty()).then(|| remote_mta.clone()),
                last_attempt: started,
                will_retry_until: None,
            };
            match result {
                RcptResult::Delivered { reply } => {
                    tracing::info!(id = entry.id, recipient = %entry.recipient, remote = %remote_mta, %reply, "outbound: delivered");
                    if notify.success && !remote_dsn {
                        relayed.push(base(DsnAction::Relayed, "2.0.0", &reply));
                    }
                    updates.push(QueueUpdate {
                        id: entry.id,
                        outcome: QueueOutcome::Delivered,
                        error: reply,
                        remote_mta: remote_mta.clone(),
                        delay_notified: false,
                    });
                }
                RcptResult::Permanent { reply, status } => {
                    tracing::info!(id = entry.id, recipient = %entry.recipient, remote = %remote_mta, %reply, "outbound: failed permanently");
                    if notify.failure {
                        failed.push((i, base(DsnAction::Failed, &status, &reply)));
                    }
                    updates.push(QueueUpdate {
                        id: entry.id,
                        outcome: QueueOutcome::Failed,
                        error: reply,
                        remote_mta: remote_mta.clone(),
                        delay_notified: false,
                    });
                }
                RcptResult::Temporary { reply, status } => {
                    let failures = entry.attempts + 1;
                    let expires = entry.queued_at + max_age;
                    if at >= expires {
                        tracing::info!(id = entry.id, recipient = %entry.recipient, %reply, "outbound: expired");
                        let text = format!("delivery time expired; last error: {reply}");
                        if notify.failure {
                            failed.push((i, base(DsnAction::Failed, "5.4.7", &text)));
                        }
                        updates.push(QueueUpdate {
                            id: entry.id,
                            outcome: QueueOutcome::Failed,
                            error: text,
                            remote_mta: remote_mta.clone(),
                            delay_notified: false,
                        });
                        continue;
                    }
                    let next = (at + settings.retry_delay(failures).as_secs() as i64).min(expires);
                    tracing::info!(id = entry.id, recipient = %entry.recipient, remote = %remote_mta, %reply, next_attempt = next, "outbound: deferred");
                    let waited = at - entry.queued_at;
                    let wants_delay =
                        notify.delay || (notify.unspecified && settings.delay_notify_default);
                    let notice_due = !entry.delay_notified
                        && wants_delay
                        && waited >= settings.delay_notify_after.as_secs() as i64;
                    if notice_due {
                        let mut r = base(DsnAction::Delayed, &status, &reply);
                        r.will_retry_until = Some(expires);
                        delayed.push((updates.len(), r));
                    }
                    updates.push(QueueUpdate {
                        id: entry.id,
                        outcome: QueueOutcome::Retry { next_attempt: next },
                        error: reply,
                        remote_mta: remote_mta.clone(),
                        delay_notified: false,
                    });
                }
            }
        }
        let first = &entries[0];
        // Failure notice first: if it cannot be stored, the entries stay pending and are
        // retried (the notice is not lost).
        if !failed.is_empty() {
            let recipients = failed.iter().map(|(_, r)| r.clone()).collect();
            if let Err(e) = self
                .notify(first, original, DsnAction::Failed, recipients)
                .await
            {
                tracing::warn!(error = %e, "outbound: storing the failure notice failed; will retry");
                for (i, _) in &failed {
                    let update = &mut updates[*i];
                    update.outcome = QueueOutcome::Retry {
                        next_attempt: at + 60,
                    };
                }
            }
        }
        if !delayed.is_empty() {
            let recipients = delayed.iter().map(|(_, r)| r.clone()).collect();
            match self
                .notify(first, original, DsnAction::Delayed, recipients)
                .await
            {
                Ok(()) => {
                    for (i, _) in &delayed {
                        updates[*i].delay_notified = true;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "outbound: storing the delay notice failed"),
            }
        }
        if !relayed.is_empty() {
            if let Err(e) = self
                .notify(first, original, DsnAction::Relayed, relayed)
                .await
            {
                tracing::warn!(error = %e, "outbound: storing the success notice failed");
            }
        }
        let mut written = inner.store.queue_complete(&inner.owner, at, &updates).await;
        for pause in [1, 3] {
            match &written {
                Err(e) if e.is_transient() => {
                    tracing::warn!(error = %e, "outbound: writing delivery results failed; retrying");
                    tokio::time::sleep(Duration::from_secs(pause)).await;
                    written = inner.store.queue_complete(&inner.owner, at, &updates).await;
                }
                _ => break,
            }
        }
        match written {
            Ok(done) if done.len() < updates.len() => tracing::warn!(
                owner = %inner.owner,
                expected = updates.len(),
                written = done.len(),
                "outbound: lease lost before the result was written (another worker took over)"
            ),
            Ok(_) => {}
            // The leases are no longer renewed: the entries are tried again when they expire.
            Err(e) => tracing::error!(error = %e, "outbound: writing delivery results failed"),
        }
        for update in &updates {
            if update.outcome == QueueOutcome::Failed {
                let entry = entries
                    .iter()
                    .find(|e| e.id == update.id)
                    .expect("same ids");
                let _ = inner
                    .store
                    .log_event(
                        "outbound",
                        storage::Action::QueueFailed,
                        &entry.recipient,
                        "",
                        serde_json::json!({
                            "queue_id": entry.id,
                            "sender": entry.sender,
                            "error": update.error,
                            "remote": update.remote_mta,
                            "attempts": entry.attempts + 1,
                        }),
                    )
                    .await;
            }
        }
    }

    /// Builds a notice and stores it in the sender's INBOX. Null sender: nothing to do.
    async fn notify(
        &self,
        entry: &QueueEntry,
        original: &[u8],
        action: DsnAction,
        recipients: Vec<DsnRecipient>,
    ) -> Result<(), String> {
        let inner = &self.inner;
        if entry.sender.is_empty() {
            return Ok(());
        }
        let account_id = match inner.store.resolve(&entry.sender).await {
            Ok(storage::Resolved::Account(account)) => Some(account.account_id),
            Ok(_) => entry.account_id,
            Err(e) => return Err(e.to_string()),
        };
        let Some(account_id) = account_id else {
            tracing::warn!(sender = %entry.sender, "outbound: no local mailbox for the notice; dropped");
            let _ = inner
                .store
                .log_event(
                    "outbound",
                    storage::Action::QueueNoticeDropped,
                    &entry.sender,
                    "",
                    serde_json::json!({"queue_id": entry.id, "action": action.as_str()}),
                )
                .await;
            return Ok(());
        };
        let original = strip_return_path(original);
        let raw = dsn::build(&dsn::DsnInput {
            reporting_mta: &inner.settings.hostname,
            sender: &entry.sender,
            env_id: entry.env_id.as_deref(),
            arrival: entry.created_at,
            action,
            recipients,
            original: &original,
            ret_full: entry.ret.as_deref() == Some("FULL"),
        });
        let meta = storage::MessageMeta::compute(&raw);
        inner
            .store
            .deliver(storage::Delivery {
                raw: Arc::new(raw),
                meta: Arc::new(meta),
                targets: vec![storage::DeliveryTarget {
                    account_id,
                    folder: storage::FolderChoice::Inbox,
                    flags: storage::Flags::new(),
                }],
                outbound: None,
                internal_date: storage::now(),
                events: vec![],
            })
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(sender = %entry.sender, action = action.as_str(), "outbound: notice delivered");
        Ok(())
    }
}

/// DSN NOTIFY as asked by the sender (RFC 3461 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Notify {
    unspecified: bool,
    success: bool,
    failure: bool,
    delay: bool,
}

impl Notify {
    fn parse(text: Option<&str>) -> Notify {
        match text {
            None => Notify {
                unspecified: true,
                success: false,
                failure: true,
                delay: false,
            },
            Some(text) => {
                let has = |word: &str| text.split(',').any(|w| w.trim().eq_ignore_ascii_case(word));
                Notify {
                    unspecified: false,
                    success: has("SUCCESS"),
                    failure: has("FAILURE"),
                    delay: has("DELAY"),
                }
            }
        }
    }
}
