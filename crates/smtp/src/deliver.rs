//! What happens to a received message (issue order): antivirus, sender rules, spam, trace
//! headers, then one durable commit for every local copy and the outbound queue entry.
//!
//! Invariant: a positive reply is produced only after `Store::deliver` has returned, i.e. after
//! the blob and the rows are durable.

use std::collections::BTreeSet;
use std::sync::Arc;

use policy::antivirus::Verdict;
use policy::spam::{self, Action};
use storage::{
    Delivery, DeliveryTarget, FolderChoice, MessageMeta, OutboundEnvelope, OutboundRecipient,
};

use crate::codes::*;
use crate::server::ListenerKind;
use crate::session::{RecipientTarget, Session};
use crate::AvFailure;

/// Unfolded header fields of the message's top header block (raw, undecoded).
fn header_fields(body: &[u8]) -> Vec<(String, String)> {
    let end = body
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 2)
        .unwrap_or(body.len());
    let text = String::from_utf8_lossy(&body[..end]);
    let mut fields: Vec<(String, String)> = vec![];
    for line in text.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    fields
}

fn rfc2822_now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default()
}

impl Session {
    /// Processes a complete message and returns the reply for it. Always ends the transaction.
    pub(crate) async fn accept_message(&mut self, body: Vec<u8>) -> Reply {
        let Some(transaction) = self.transaction.take() else {
            return reply(C503_SEQUENCE, "No transaction");
        };
        self.n_messages += 1;
        let context = self.context.clone();
        let settings = &context.settings;
        let store = &context.store;
        let mut prefix = String::new();

        // 1. Antivirus: every message, received or submitted (BD-7.6, KT-5.1).
        if let Some(clamd) = &context.clamd {
            match clamd.scan(&body).await {
                Ok(Verdict::Clean) => {}
                Ok(Verdict::Infected(signature)) => {
                    tracing::warn!(session = %self.id, %signature, from = %transaction.from, "virus refused");
                    let _ = store
                        .log_event(
                            "smtp",
                            storage::Action::VirusRefused,
                            &transaction.from,
                            "",
                            serde_json::json!({"signature": signature, "peer": self.peer.ip().to_string(),
                                "recipients": transaction.recipients.iter().map(|r| r.address.clone()).collect::<Vec<_>>()}),
                        )
                        .await;
                    metrics::counter!("govmail_viruses_total").increment(1);
                    metrics::counter!("govmail_messages_total", "result" => "virus").increment(1);
                    return reply(
                        C554_VIRUS,
                        format!("Message refused: virus found ({signature})"),
                    );
                }
                Err(e) => {
                    tracing::warn!(session = %self.id, error = %e, "antivirus scan failed");
                    match settings.av_on_failure {
                        AvFailure::Tempfail => {
                            metrics::counter!("govmail_messages_total", "result" => "av_unavailable").increment(1);
                            return reply(
                                C451_AV_UNAVAILABLE,
                                "Virus scanner unavailable, try again later",
                            );
                        }
                        AvFailure::AcceptAndTag => {
                            prefix.push_str("X-Virus-Scan: failed (scanner unavailable)\r\n")
                        }
                    }
                }
            }
        }

        let headers = header_fields(&body);
        let meta = if body.len() > 256 * 1024 {
            let copy = body.clone();
            tokio::task::spawn_blocking(move || MessageMeta::compute(&copy))
                .await
                .unwrap_or_default()
        } else {
            MessageMeta::compute(&body)
        };

        // 2. Submission: the From: header must be an address the user may send as.
        if let Some(user) = &self.auth {
            let allowed = match store.sendable_addresses(user.account_id).await {
                Ok(list) => list,
                Err(e) => return transient(&self.id, "sender lookup failed", &e),
            };
            let bad = meta
                .envelope
                .from
                .iter()
                .filter_map(|a| a.address.as_deref())
                .find(|a| !allowed.contains(&storage::normalize_address(a)));
            if let Some(bad) = bad {
                return reply(
                    C550_POLICY,
                    format!("{} may not send as {bad} (From: header)", user.address),
                );
            }
        }

        // 3. Authentication results and spam, for mail from outside (BD-7.5, KT-5.1).
        let mut junk = false;
        if self.kind == ListenerKind::Mx && self.auth.is_none() {
            let report = match &context.authenticator {
                Some(authenticator) => Some(
                    authenticator
                        .check(
                            &body,
                            self.peer.ip(),
                            self.helo.as_deref().unwrap_or(""),
                            &transaction.from,
                            &settings.hostname,
                        )
                        .await,
                ),
                None => None,
            };
            if let Some(report) = &report {
                prefix.push_str(&report.header);
            }
            let mut scored_headers = headers.clone();
            if let Some(subject) = &meta.envelope.subject {
                scored_headers.retain(|(n, _)| !n.eq_ignore_ascii_case("subject"));
                scored_headers.push(("Subject".into(), subject.clone()));
            }
            let verdict = spam::score(
                &settings.spam,
                &spam::Message {
                    sender: &transaction.from,
                    headers: &scored_headers,
                    body_text: &meta.text,
                    has_message_id: meta.envelope.message_id.is_some(),
                    has_date: meta.envelope.date.is_some(),
                    spf: report.as_ref().map(|r| r.spf).unwrap_or_default(),
                    dkim: report.as_ref().map(|r| r.dkim).unwrap_or_default(),
                    dmarc: report.as_ref().map(|r| r.dmarc).unwrap_or_default(),
                    dmarc_policy_reject: report.as_ref().is_some_and(|r| r.dmarc_policy_reject),
                },
            );
            metrics::histogram!("govmail_spam_score").record(verdict.score);
            if settings.spam.enabled {
                let flag = if matches!(verdict.action, Action::Deliver) {
                    "No"
                } else {
                    "Yes"
                };
                prefix.push_str(&format!(
                    "X-Spam-Score: {:.1}\r\nX-Spam-Status: {flag}, score={:.1} required={:.1} tests={}\r\n",
                    verdict.score,
                    verdict.score,
                    settings.spam.tag_score,
                    if verdict.tests.is_empty() { "NONE".to_string() } else { verdict.tests.join(",") }
                ));
            }
            match verdict.action {
                Action::Reject => {
                    metrics::counter!("govmail_messages_total", "result" => "spam").increment(1);
                    let _ = store
                        .log_event(
                            "smtp",
                            storage::Action::SpamRejected,
                            &transaction.from,
                            "",
                            serde_json::json!({"score": verdict.score, "tests": verdict.tests,
                                "recipients": transaction.recipients.iter().map(|r| r.address.clone()).collect::<Vec<_>>()}),
                        )
                        .await;
                    return reply(
                        C550_POLICY,
                        format!("Message refused as spam (score {:.1})", verdict.score),
                    );
                }
                Action::Junk => {
                    metrics::counter!("govmail_spam_junked_total").increment(1);
                    let _ = store
                        .log_event(
                            "smtp",
                            storage::Action::SpamJunked,
                            &transaction.from,
                            "",
                            serde_json::json!({"score": verdict.score}),
                        )
                        .await;
                    junk = true
                }
                Action::Tag | Action::Deliver => {}
            }
        }

        // 4. Trace headers (RFC 5321 4.4): Return-Path and Received, prepended.
        let protocol = match (self.esmtp, self.tls, self.auth.is_some()) {
            (false, _, _) => "SMTP",
            (true, false, false) => "ESMTP",
            (true, true, false) => "ESMTPS",
            (true, false, true) => "ESMTPA",
            (true, true, true) => "ESMTPSA",
        };
        let for_clause = match transaction.recipients.as_slice() {
            [only] => format!("\r\n\tfor <{}>", only.address),
            _ => String::new(),
        };
        let trace = format!(
            "Return-Path: <{}>\r\nReceived: from {} ({} [{}])\r\n\tby {} with {protocol} id {}{for_clause};\r\n\t{}\r\n",
            transaction.from,
            self.helo.as_deref().unwrap_or("unknown"),
            self.peer.ip(),
            self.peer.ip(),
            settings.hostname,
            self.id,
            rfc2822_now(),
        );
        let prefix = format!("{trace}{prefix}");
        let mut raw = Vec::with_capacity(prefix.len() + body.len());
        raw.extend_from_slice(prefix.as_bytes());
        raw.extend_from_slice(&body);
        let mut meta = meta;
        meta.shift(prefix.len() as u32);

        // 5. Targets: each local account once; external recipients to the queue.
        let mut accounts = BTreeSet::new();
        let mut remote = vec![];
        for recipient in &transaction.recipients {
            match &recipient.target {
                RecipientTarget::Local(ids) => accounts.extend(ids.iter().copied()),
                RecipientTarget::Remote => remote.push(OutboundRecipient {
                    address: recipient.address.clone(),
                    notify: recipient.notify.clone(),
                    orcpt: recipient.orcpt.clone(),
                }),
            }
        }
        // Forward rules (BD-11, KT-9): one hop, never from junk, each target checked again
        // against the policy (it may have changed since the rule was set).
        if !junk && !accounts.is_empty() {
            let ids: Vec<i64> = accounts.iter().copied().collect();
            let forwards = match store.forwards_for(&ids).await {
                Ok(f) => f,
                Err(e) => {
                    tracing::error!(session = %self.id, error = %e, "forward rules unreadable");
                    return reply(
                        C451_LOCAL_ERROR,
                        "Local error in processing, try again later",
                    );
                }
            };
            for forward in forwards {
                match apply_forward(&context, &forward, body.len(), &mut accounts, &mut remote)
                    .await
                {
                    Ok(true) if !forward.keep_copy => {
                        accounts.remove(&forward.account_id);
                    }
                    Ok(_) => {}
                    Err(e) => return transient(&self.id, "forward target lookup failed", &e),
                }
            }
        }
        let folder = if junk {
            FolderChoice::SpecialUse("\\Junk")
        } else {
            FolderChoice::Inbox
        };
        let mut targets: Vec<DeliveryTarget> = accounts
            .into_iter()
            .map(|account_id| DeliveryTarget {
                account_id,
                folder: folder.clone(),
                flags: String::new(),
            })
            .collect();
        // Sent as a unit (a delegate with the send right, or the head): the unit's Sent
        // folder keeps a copy, so the unit's record is complete (BD-10, KT-8).
        if let Some(user) = &self.auth {
            if let Ok(storage::Resolved::Account(owner)) = store.resolve(&transaction.from).await {
                if owner.account_id != user.account_id {
                    targets.push(DeliveryTarget {
                        account_id: owner.account_id,
                        folder: FolderChoice::SpecialUse("\\Sent"),
                        flags: "\\Seen".to_string(),
                    });
                    let _ = store
                        .log_event(
                            &user.address,
                            storage::Action::UnitSend,
                            &owner.address,
                            "",
                            serde_json::json!({"recipients": transaction.recipients.len()}),
                        )
                        .await;
                }
            }
        }
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
        let delivery = Delivery {
            raw: Arc::new(raw),
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
        };
        match store.deliver(delivery).await {
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
                    size = body.len(), junk, blob = %delivered.blob_id, "message accepted");
                reply(
                    C250_OK,
                    format!("Ok: queued as {}", &delivered.blob_id[..16]),
                )
            }
            Err(e) => transient(&self.id, "delivery commit failed", &e),
        }
    }
}

/// The answer to a storage failure in a transaction: always 4xx so the sender retries
/// (RFC 5321 4.2.5), 452 4.3.1 when the disk is full (RFC 3463).
fn transient(session: &impl std::fmt::Display, what: &str, e: &storage::Error) -> Reply {
    tracing::error!(session = %session, error = %e, "{what}");
    if e.is_storage_full() {
        reply(
            C452_SYSTEM_FULL,
            "Insufficient system storage, try again later",
        )
    } else {
        reply(
            C451_LOCAL_ERROR,
            "Local error in processing, try again later",
        )
    }
}

/// Adds a forward rule's target to the delivery: a hosted account gets its own copy (the
/// target's own rule is not followed: one hop, no loops) if it could receive the mail by RCPT
/// (active, room in its quota); an outside address joins the queued recipients if the
/// forwarding policy allows it now. True when the mail was forwarded.
async fn apply_forward(
    context: &crate::Context,
    forward: &storage::Forward,
    size: usize,
    accounts: &mut BTreeSet<i64>,
    remote: &mut Vec<OutboundRecipient>,
) -> Result<bool, storage::Error> {
    let store = &context.store;
    let domain = forward.target.rsplit_once('@').map_or("", |(_, d)| d);
    // A lookup failure is passing: the whole delivery is retried, never forwarded elsewhere.
    let local = context.is_local_domain(domain).await?;
    let refused = |why: String| async move {
        tracing::warn!(account = %forward.address, target = %forward.target, %why, "forward refused");
        let _ = store
            .log_event(
                "smtp",
                storage::Action::ForwardRefused,
                &forward.address,
                &forward.doc_ref,
                serde_json::json!({"target": forward.target, "why": why}),
            )
            .await;
        false
    };
    if let Err(why) = crate::outbound::forwarding::check_forward(
        &context.settings.forwarding,
        &forward.target,
        local,
    ) {
        return Ok(refused(why.to_string()).await);
    }
    if !local {
        if !remote
            .iter()
            .any(|r| r.address.eq_ignore_ascii_case(&forward.target))
        {
            remote.push(OutboundRecipient::new(forward.target.clone()));
        }
        return Ok(true);
    }
    let can_receive = |a: &storage::AccountRef| {
        a.status == storage::AccountStatus::Active
            && (a.quota_bytes == 0 || a.used_bytes + size as i64 <= a.quota_bytes)
    };
    Ok(match store.resolve(&forward.target).await? {
        storage::Resolved::Account(target) if target.account_id == forward.account_id => {
            refused("forwards to itself".to_string()).await
        }
        storage::Resolved::Account(target) if can_receive(&target) => {
            accounts.insert(target.account_id);
            true
        }
        storage::Resolved::Account(_) => refused("target mailbox closed or full".to_string()).await,
        storage::Resolved::Group { members, .. } => {
            let receiving: Vec<i64> = members
                .iter()
                .filter(|m| m.account_id != forward.account_id && can_receive(m))
                .map(|m| m.account_id)
                .collect();
            accounts.extend(&receiving);
            !receiving.is_empty()
        }
        storage::Resolved::Unknown => refused("no such mailbox here".to_string()).await,
    })
}
