//! One delivery attempt of a claimed group: read the body, sign it (DKIM), resolve the
//! destination and hand it to the SMTP client; the results go to [`Worker::finish`].

use storage::QueueEntry;

use super::client::{self, Envelope, RcptResult};
use super::Worker;

impl Worker {
    /// Delivers one group and records the outcome (notices first, then the queue rows).
    pub(super) async fn process_group(&self, entries: Vec<QueueEntry>) {
        let inner = &self.inner;
        let settings = &inner.settings;
        let first = entries[0].clone();
        let semaphore = self.domain_semaphore(&first.domain);
        let Ok(_permit) = semaphore.acquire_owned().await else {
            return;
        };
        let started = storage::now();
        let raw = match inner.store.read_blob(&first.blob_id).await {
            Ok(raw) => raw,
            Err(storage::Error::NotFound(what)) => {
                tracing::error!(message_id = first.message_id, %what, "outbound: message body missing");
                let results = entries
                    .iter()
                    .map(|_| RcptResult::Permanent {
                        reply: "local error: the message body is missing from storage".into(),
                        status: "5.3.0".into(),
                    })
                    .collect();
                self.finish(entries, &[], results, String::new(), false, started)
                    .await;
                return;
            }
            Err(e) => {
                tracing::warn!(message_id = first.message_id, error = %e, "outbound: reading the message failed");
                let results = entries
                    .iter()
                    .map(|_| RcptResult::Temporary {
                        reply: format!("local error: reading the message: {e}"),
                        status: "4.3.0".into(),
                    })
                    .collect();
                self.finish(entries, &[], results, String::new(), false, started)
                    .await;
                return;
            }
        };
        // Hashing a large body takes a while: off the async threads.
        let (mut message, signature) = {
            let (inner, sender) = (self.inner.clone(), first.sender.clone());
            let stripped = strip_return_path(&raw);
            match tokio::task::spawn_blocking(move || {
                let signature = inner.signers.sign(&stripped, &sender);
                (stripped, signature)
            })
            .await
            {
                Ok(done) => done,
                Err(e) => (
                    strip_return_path(&raw),
                    Some(Err(format!("signing task failed: {e}"))),
                ),
            }
        };
        match signature {
            Some(Ok(header)) => {
                let mut signed = Vec::with_capacity(header.len() + message.len());
                signed.extend_from_slice(header.as_bytes());
                signed.extend_from_slice(&message);
                message = signed;
            }
            Some(Err(e)) => {
                tracing::warn!(message_id = first.message_id, error = %e, "outbound: DKIM signing failed; sending unsigned")
            }
            None => {}
        }
        let envelope = Envelope {
            sender: first.sender.clone(),
            env_id: first.env_id.clone(),
            ret: first.ret.clone(),
            recipients: entries
                .iter()
                .map(|e| storage::OutboundRecipient {
                    address: e.recipient.clone(),
                    notify: e.notify.clone(),
                    orcpt: e.orcpt.clone(),
                })
                .collect(),
        };
        let attempt = match inner.resolver.route(&first.domain).await {
            Ok(hosts) => {
                let config = client::ClientConfig {
                    hostname: &settings.hostname,
                    port: settings.port,
                    tls_required: settings.tls_required(&first.domain),
                    connect_timeout: settings.connect_timeout,
                    command_timeout: settings.command_timeout,
                    data_timeout: settings.data_timeout,
                    tls: &inner.tls,
                };
                client::deliver(&config, &hosts, &envelope, &message).await
            }
            Err(e) => {
                let result = if e.is_permanent() {
                    RcptResult::Permanent {
                        reply: e.to_string(),
                        status: e.status().into(),
                    }
                } else {
                    RcptResult::Temporary {
                        reply: e.to_string(),
                        status: e.status().into(),
                    }
                };
                client::Attempt {
                    results: vec![result; entries.len()],
                    remote_mta: String::new(),
                    remote_dsn: false,
                }
            }
        };
        self.finish(
            entries,
            &raw,
            attempt.results,
            attempt.remote_mta,
            attempt.remote_dsn,
            started,
        )
        .await;
    }
}

/// The message without the `Return-Path:` fields of its header (added at our final delivery;
/// RFC 5321 4.4: never sent on).
pub fn strip_return_path(raw: &[u8]) -> Vec<u8> {
    let header_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 2)
        .unwrap_or(raw.len());
    let mut out = Vec::with_capacity(raw.len());
    let mut pos = 0;
    let mut skipping = false;
    while pos < header_end {
        let end = raw[pos..header_end]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|p| pos + p + 2)
            .unwrap_or(header_end);
        let line = &raw[pos..end];
        let continuation = line.first().is_some_and(|c| *c == b' ' || *c == b'\t');
        if !continuation {
            skipping = line.len() >= 12 && line[..12].eq_ignore_ascii_case(b"return-path:");
        }
        if !skipping {
            out.extend_from_slice(line);
        }
        pos = end;
    }
    out.extend_from_slice(&raw[header_end..]);
    out
}
