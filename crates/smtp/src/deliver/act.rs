//! Acting on an assessment: the refusal (its audit events recorded first) or the durable
//! commit (its audit events in the same transaction), metrics, and the reply.

use std::sync::Arc;

use storage::{Delivery, FolderChoice, MessageMeta, OutboundEnvelope};

use super::assess::{Assessment, Reason, Verdict};
use super::transient;
use crate::codes::*;
use crate::session::{Session, Transaction};

impl Session {
    /// Refuses or commits the message with the assessment's audit events. An event that
    /// cannot be recorded is a storage failure like any other: 4xx, and nothing committed.
    pub(super) async fn act(
        &self,
        transaction: &Transaction,
        body: Vec<u8>,
        meta: MessageMeta,
        assessment: Assessment,
    ) -> Reply {
        let context = &self.context;
        let store = &context.store;
        if let Some(refusal) = assessment.verdict.refusal() {
            for event in assessment.events {
                let logged = store
                    .log_event(
                        &event.actor,
                        event.action,
                        &event.target,
                        &event.doc_ref,
                        event.detail,
                    )
                    .await;
                if let Err(e) = logged {
                    return transient(&self.id, "audit event not recorded", &e);
                }
            }
            match &assessment.verdict {
                Verdict::Virus { signature } => {
                    tracing::warn!(session = %self.id, %signature, from = %transaction.from, "virus refused");
                    metrics::counter!("govmail_viruses_total").increment(1);
                    metrics::counter!("govmail_messages_total", "result" => "virus").increment(1);
                }
                Verdict::ScannerUnavailable => {
                    metrics::counter!("govmail_messages_total", "result" => "av_unavailable")
                        .increment(1);
                }
                Verdict::Attachment { finding } => {
                    tracing::warn!(session = %self.id, file = %finding.file,
                        danger = finding.danger.code(), from = %transaction.from,
                        "dangerous attachment refused");
                    metrics::counter!("govmail_messages_total", "result" => "attachment")
                        .increment(1);
                }
                Verdict::Spam { .. } => {
                    metrics::counter!("govmail_messages_total", "result" => "spam").increment(1);
                }
                Verdict::ForeignFrom { .. } | Verdict::ForeignSender { .. } | Verdict::Deliver => {}
            }
            return refusal;
        }
        let mut junk = false;
        for reason in &assessment.reasons {
            match reason {
                Reason::Junk { .. } => {
                    junk = true;
                    metrics::counter!("govmail_spam_junked_total").increment(1);
                }
                Reason::AttachmentQuarantined => {
                    junk = true;
                    metrics::counter!("govmail_attachments_quarantined_total").increment(1);
                }
                Reason::ForwardRefused {
                    address,
                    target,
                    why,
                } => {
                    tracing::warn!(account = %address, %target, %why, "forward refused");
                }
                _ => {}
            }
        }

        let prefix = assessment.prepend;
        let mut raw = Vec::with_capacity(prefix.len() + body.len());
        raw.extend_from_slice(prefix.as_bytes());
        raw.extend_from_slice(&body);
        let mut meta = meta;
        meta.shift(prefix.len() as u32);
        let remote = assessment.remote;
        let targets = assessment.targets;
        let vacations = assessment.vacations;
        // Daily counters for the usage report (KT-12); buffered, written every few seconds.
        let flow = storage::ops::DeliveryNote {
            sender_account: self.auth.as_ref().map(|u| u.account_id),
            recipient_accounts: targets
                .iter()
                .filter(|t| t.folder != FolderChoice::SpecialUse("\\Sent"))
                .map(|t| t.account_id)
                .collect(),
            remote_recipients: remote.len(),
            junk,
            bytes: body.len() as i64,
        };
        // Every recipient's script discarded the message (RFC 5228 4.4): nothing to store;
        // the events are still recorded before the reply.
        if targets.is_empty() && remote.is_empty() {
            for event in assessment.events {
                let logged = store
                    .log_event(
                        &event.actor,
                        event.action,
                        &event.target,
                        &event.doc_ref,
                        event.detail,
                    )
                    .await;
                if let Err(e) = logged {
                    return transient(&self.id, "audit event not recorded", &e);
                }
            }
            if !vacations.is_empty() {
                self.send_vacations(vacations).await;
            }
            tracing::info!(session = %self.id, from = %transaction.from, reasons = ?assessment.reasons, "message discarded by sieve");
            metrics::counter!("govmail_messages_total", "result" => "discarded").increment(1);
            return reply(C250_OK, "Ok: delivered");
        }
        // A resend of this very transaction after a lost answer is stored once (issue 16).
        let recipients: Vec<&str> = transaction
            .recipients
            .iter()
            .map(|r| r.address.as_str())
            .collect();
        let key = storage::delivery_key::of(&transaction.from, &recipients, &body, &meta);
        let raw = Arc::new(raw);
        let delivery = Delivery {
            raw: raw.clone(),
            meta: Arc::new(meta),
            targets,
            outbound: (!remote.is_empty()).then(|| OutboundEnvelope {
                sender: transaction.from.clone(),
                account_id: self.auth.as_ref().map(|u| u.account_id),
                env_id: transaction.env_id.clone(),
                ret: transaction.ret.clone(),
                recipients: remote,
            }),
            internal_date: storage::now(),
            events: assessment.events,
        };
        let queued = |delivered: &storage::Delivered| {
            reply(
                C250_OK,
                format!("Ok: queued as {}", &delivered.blob_id[..16]),
            )
        };
        match store.deliver_keyed(delivery, key).await {
            Ok(delivered) if delivered.resent => {
                // Stored, queued, noticed and answered the first time: only the answer again.
                metrics::counter!("govmail_messages_total", "result" => "resent").increment(1);
                tracing::info!(session = %self.id, from = %transaction.from, blob = %delivered.blob_id,
                    "message resent after a lost answer: stored once");
                queued(&delivered)
            }
            Ok(delivered) => {
                store.note_delivery(flow);
                if delivered.queue_id.is_some() {
                    if let Some(waker) = &context.outbound_waker {
                        waker.notify_one();
                    }
                }
                let kind = if self.auth.is_some() {
                    "submitted"
                } else {
                    "received"
                };
                metrics::counter!("govmail_messages_total", "result" => "accepted", "kind" => kind)
                    .increment(1);
                tracing::info!(session = %self.id, from = %transaction.from, n_rcpt = transaction.recipients.len(),
                    size = body.len(), junk, blob = %delivered.blob_id, reasons = ?assessment.reasons, "message accepted");
                self.success_notice(transaction, &raw).await;
                if !vacations.is_empty() {
                    self.send_vacations(vacations).await;
                }
                queued(&delivered)
            }
            Err(e) => transient(&self.id, "delivery commit failed", &e),
        }
    }

    /// RFC 3461 4.1, RFC 3464 2.3.3: local recipients whose RCPT asked NOTIFY=SUCCESS get
    /// a "delivered" notice, into the INBOX of the envelope sender's account here (the
    /// submitting user's when the sender address has none). Mail from outside gets none
    /// (see ARCHITECTURE). After the commit: a notice that cannot be stored is logged; the
    /// message itself is delivered either way.
    async fn success_notice(&self, transaction: &Transaction, raw: &[u8]) {
        use crate::outbound::dsn;
        let now = storage::now();
        let asked: Vec<dsn::DsnRecipient> = transaction
            .recipients
            .iter()
            .filter(|r| matches!(r.target, crate::session::RecipientTarget::Local(_)))
            .filter(|r| {
                r.notify.as_deref().is_some_and(|n| {
                    n.split(',')
                        .any(|w| w.trim().eq_ignore_ascii_case("SUCCESS"))
                })
            })
            .map(|r| dsn::DsnRecipient {
                recipient: r.address.clone(),
                orcpt: r.orcpt.clone(),
                action: dsn::DsnAction::Delivered,
                status: "2.0.0".into(),
                diagnostic: None,
                remote_mta: None,
                last_attempt: now,
                will_retry_until: None,
            })
            .collect();
        let Some(user) = &self.auth else { return };
        if asked.is_empty() || transaction.from.is_empty() {
            return;
        }
        let store = &self.context.store;
        let account_id = match store.resolve(&transaction.from).await {
            Ok(storage::Resolved::Account(account)) => account.account_id,
            Ok(_) => user.account_id,
            Err(e) => {
                tracing::warn!(session = %self.id, error = %e, "success notice not stored");
                return;
            }
        };
        let original = crate::outbound::strip_return_path(raw);
        let notice = dsn::build(&dsn::DsnInput {
            reporting_mta: &self.context.settings.hostname,
            sender: &transaction.from,
            env_id: transaction.env_id.as_deref(),
            arrival: now,
            action: dsn::DsnAction::Delivered,
            recipients: asked,
            original: &original,
            ret_full: transaction.ret.as_deref() == Some("FULL"),
        });
        let meta = MessageMeta::compute(&notice);
        let stored = store
            .deliver(Delivery {
                raw: Arc::new(notice),
                meta: Arc::new(meta),
                targets: vec![storage::DeliveryTarget {
                    account_id,
                    folder: FolderChoice::Inbox,
                    flags: storage::Flags::new(),
                }],
                outbound: None,
                internal_date: now,
                events: vec![],
            })
            .await;
        if let Err(e) = stored {
            tracing::warn!(session = %self.id, error = %e, "success notice not stored");
        }
    }
}
