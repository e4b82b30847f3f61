//! Sending the vacation replies a delivery's scripts asked for (RFC 5230 5, RFC 3834 3),
//! once the message is committed: at most once per sender and handle per `:days` (recorded
//! in storage in the same statement that checks it), from the null return path, through the
//! outbound queue (or into the sender's INBOX when the sender is hosted here).

use std::sync::Arc;

use base64::Engine;
use storage::{
    Delivery, DeliveryTarget, FolderChoice, MessageMeta, OutboundEnvelope, OutboundRecipient,
    Resolved,
};

use super::filter::VacationReply;
use crate::session::Session;

/// RFC 2047 B-encoding of a header text that is not plain ASCII.
fn encode_words(text: &str) -> String {
    if text.is_ascii() && !text.contains("=?") {
        return text.to_string();
    }
    let engine = base64::engine::general_purpose::STANDARD;
    // Encoded words of at most 75 characters (RFC 2047 2): 45 bytes of text each, split on
    // character boundaries.
    let mut words = vec![];
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(format!("=?utf-8?B?{}?=", engine.encode(&chunk)));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?utf-8?B?{}?=", engine.encode(&chunk)));
    }
    words.join("\r\n ")
}

/// Text with every line end CRLF.
fn crlf(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\n', "\r\n")
}

/// The reply message (RFC 3834 3: Auto-Submitted, In-Reply-To, References).
pub(crate) fn reply_message(
    reply: &VacationReply,
    hostname: &str,
    date: &str,
    id: &str,
) -> Vec<u8> {
    let from = reply
        .from
        .clone()
        .unwrap_or_else(|| reply.recipient.clone());
    let mut out = String::new();
    out.push_str(&format!("From: {}\r\n", from.trim()));
    out.push_str(&format!("To: <{}>\r\n", reply.to));
    out.push_str(&format!("Subject: {}\r\n", encode_words(&reply.subject)));
    out.push_str(&format!("Date: {date}\r\n"));
    out.push_str(&format!("Message-ID: <{id}@{hostname}>\r\n"));
    if let Some(original) = &reply.in_reply_to {
        out.push_str(&format!("In-Reply-To: {original}\r\n"));
        let references = match &reply.references {
            Some(earlier) => format!("{earlier} {original}"),
            None => original.clone(),
        };
        out.push_str(&format!("References: {references}\r\n"));
    }
    // RFC 3834 5 / RFC 5230 5: marks the reply as automatic.
    out.push_str("Auto-Submitted: auto-replied (vacation)\r\n");
    out.push_str("MIME-Version: 1.0\r\n");
    if reply.mime {
        // RFC 5230 4.3: the reason is a MIME entity, its header fields first.
        out.push_str(&crlf(&reply.reason));
    } else {
        out.push_str("Content-Type: text/plain; charset=utf-8\r\n");
        out.push_str("Content-Transfer-Encoding: 8bit\r\n\r\n");
        out.push_str(&crlf(&reply.reason));
    }
    if !out.ends_with("\r\n") {
        out.push_str("\r\n");
    }
    out.into_bytes()
}

impl Session {
    /// Sends each reply that is due. Failures are logged: the message is already delivered.
    pub(super) async fn send_vacations(&self, replies: Vec<VacationReply>) {
        let context = &self.context;
        let store = &context.store;
        for reply in replies {
            let due = store
                .vacation_reply_due(
                    reply.account_id,
                    &reply.to,
                    &reply.handle,
                    reply.days,
                    storage::now(),
                )
                .await;
            match due {
                Ok(true) => {}
                Ok(false) => {
                    tracing::debug!(session = %self.id, to = %reply.to, "vacation reply sent recently");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(session = %self.id, error = %e, "vacation record failed");
                    continue;
                }
            }
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let id = format!("vacation.{nanos:x}.{}", reply.account_id);
            let raw = reply_message(
                &reply,
                &context.settings.hostname,
                &super::rfc2822_now(),
                &id,
            );
            let domain = reply.to.rsplit_once('@').map_or("", |(_, d)| d);
            let mut targets = vec![];
            let mut outbound = None;
            match context.is_local_domain(domain).await {
                Ok(true) => match store.resolve(&reply.to).await {
                    Ok(Resolved::Account(a)) => targets.push(DeliveryTarget {
                        account_id: a.account_id,
                        folder: FolderChoice::Inbox,
                        flags: storage::Flags::new(),
                    }),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(session = %self.id, error = %e, "vacation target lookup failed");
                        continue;
                    }
                },
                Ok(false) => {
                    outbound = Some(OutboundEnvelope {
                        // RFC 3834 3.3 / RFC 5230 5.1: from the null return path.
                        sender: String::new(),
                        account_id: Some(reply.account_id),
                        env_id: None,
                        ret: None,
                        recipients: vec![OutboundRecipient::new(reply.to.clone())],
                    })
                }
                Err(e) => {
                    tracing::warn!(session = %self.id, error = %e, "vacation target lookup failed");
                    continue;
                }
            }
            if targets.is_empty() && outbound.is_none() {
                continue;
            }
            let meta = MessageMeta::compute(&raw);
            let delivery = Delivery {
                raw: Arc::new(raw),
                meta: Arc::new(meta),
                targets,
                outbound,
                internal_date: storage::now(),
                events: vec![storage::NewEvent {
                    actor: "smtp".into(),
                    action: storage::Action::VacationReply,
                    target: reply.recipient.clone(),
                    doc_ref: String::new(),
                    detail: serde_json::json!({"to": reply.to, "handle": reply.handle}),
                }],
            };
            match store.deliver(delivery).await {
                Ok(delivered) => {
                    if delivered.queue_id.is_some() {
                        if let Some(waker) = &context.outbound_waker {
                            waker.notify_one();
                        }
                    }
                    tracing::info!(session = %self.id, to = %reply.to, account = %reply.recipient, "vacation reply sent");
                }
                Err(e) => {
                    tracing::warn!(session = %self.id, error = %e, "vacation reply not queued")
                }
            }
        }
    }
}
