//! Our SMTP client (RFC 5321) for delivery to MX hosts.
//!
//! Per attempt: hosts in preference order, each address in turn, until one host gives final
//! answers. EHLO (HELO fallback), STARTTLS whenever offered (see [`super::tls`]), then one
//! transaction: MAIL, every RCPT, DATA, pipelined when the host offers PIPELINING (RFC 2920).
//! SIZE (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531) and DSN (RFC 3461: RET, ENVID,
//! NOTIFY, ORCPT passed on) are used when offered.
//!
//! Safety against duplicates: a host is abandoned for the next one only while nothing can
//! have been accepted; once the final dot has been sent, a lost answer is a temporary failure
//! for this attempt (the message may arrive twice, never zero times).

mod conn;
mod encode;
mod reply;
mod transaction;

use std::time::Duration;

pub use encode::{dot_stuff, orcpt_address, xtext};
pub use reply::{Capabilities, Reply};

use super::resolve::MxHost;
use super::tls::Connectors;
use conn::Conn;
use storage::OutboundRecipient;

/// The envelope of one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Reverse path; empty = null sender `<>`.
    pub sender: String,
    pub env_id: Option<String>,
    pub ret: Option<String>,
    pub recipients: Vec<OutboundRecipient>,
}

/// What happened to one recipient in one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcptResult {
    /// The host took responsibility; `reply` is its answer to the data.
    Delivered { reply: String },
    /// Try again later.
    Temporary { reply: String, status: String },
    /// Never (a notice goes to the sender).
    Permanent { reply: String, status: String },
}

/// The outcome of one attempt, one result per recipient in envelope order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub results: Vec<RcptResult>,
    /// `name [ip]` of the host that answered last.
    pub remote_mta: String,
    /// The host accepted DSN parameters (it will notify on success itself).
    pub remote_dsn: bool,
}

pub(crate) struct ClientConfig<'a> {
    pub hostname: &'a str,
    pub port: u16,
    pub tls_required: bool,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub data_timeout: Duration,
    pub tls: &'a Connectors,
}

enum HostOutcome {
    Done(Vec<RcptResult>, bool),
    /// Nothing was delivered here; try the next host. `tls_failed`: the STARTTLS handshake
    /// failed (opportunistic mode retries this host in plain text).
    Next {
        error: String,
        status: String,
        tls_failed: bool,
    },
}

fn next(error: impl Into<String>, status: &str) -> HostOutcome {
    HostOutcome::Next {
        error: error.into(),
        status: status.into(),
        tls_failed: false,
    }
}

/// Delivers `message` to the first host that gives final answers.
pub(crate) async fn deliver(
    config: &ClientConfig<'_>,
    hosts: &[MxHost],
    envelope: &Envelope,
    message: &[u8],
) -> Attempt {
    let mut last_error = "451 4.4.1 no mail server answered".to_string();
    let mut last_status = "4.4.1".to_string();
    let mut last_remote = String::new();
    for host in hosts {
        for ip in &host.addresses {
            let remote = format!("{} [{ip}]", host.name);
            let mut plain_only = false;
            loop {
                match transaction::session(config, host, *ip, plain_only, envelope, message).await {
                    HostOutcome::Done(results, remote_dsn) => {
                        return Attempt {
                            results,
                            remote_mta: remote,
                            remote_dsn,
                        }
                    }
                    HostOutcome::Next {
                        error,
                        status,
                        tls_failed,
                    } => {
                        tracing::info!(host = %remote, %error, "outbound: host failed, trying the next");
                        last_error = error;
                        last_status = status;
                        last_remote = remote.clone();
                        if tls_failed && !plain_only && !config.tls_required {
                            plain_only = true;
                            continue;
                        }
                        break;
                    }
                }
            }
        }
    }
    let text = if last_error.starts_with(|c: char| c.is_ascii_digit()) {
        last_error
    } else {
        format!("451 {last_status} {last_error}")
    };
    let text = if last_remote.is_empty() {
        text
    } else {
        format!("{text} (from {last_remote})")
    };
    Attempt {
        results: vec![
            RcptResult::Temporary {
                reply: text,
                status: last_status,
            };
            envelope.recipients.len()
        ],
        remote_mta: last_remote,
        remote_dsn: false,
    }
}

async fn ehlo(conn: &mut Conn, config: &ClientConfig<'_>) -> Result<Capabilities, HostOutcome> {
    let timeout = config.command_timeout;
    let reply = conn
        .command(&format!("EHLO {}", config.hostname), timeout)
        .await
        .map_err(|e| next(format!("EHLO: {e}"), "4.4.2"))?;
    if reply.is_positive() {
        return Ok(Capabilities::parse(&reply));
    }
    if reply.code >= 500 {
        // RFC 5321 3.2: an old server; try HELO.
        let helo = conn
            .command(&format!("HELO {}", config.hostname), timeout)
            .await
            .map_err(|e| next(format!("HELO: {e}"), "4.4.2"))?;
        if helo.is_positive() {
            return Ok(Capabilities::default());
        }
        return Err(next(helo.text(), &helo.status()));
    }
    Err(next(reply.text(), &reply.status()))
}
