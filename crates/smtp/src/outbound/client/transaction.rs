//! One attempt on one host address: connect, EHLO, STARTTLS, then MAIL, every RCPT and DATA
//! (pipelined when offered), and the per-recipient results.

use std::net::{IpAddr, SocketAddr};

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use super::conn::Conn;
use super::{dot_stuff, ehlo, next, orcpt_address, xtext};
use super::{ClientConfig, Envelope, HostOutcome, RcptResult, Reply};
use crate::outbound::resolve::MxHost;

pub(super) async fn session(
    config: &ClientConfig<'_>,
    host: &MxHost,
    ip: IpAddr,
    plain_only: bool,
    envelope: &Envelope,
    message: &[u8],
) -> HostOutcome {
    let timeout = config.command_timeout;
    let addr = SocketAddr::new(ip, config.port);
    let tcp = match tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => return next(format!("connect to {addr}: {e}"), "4.4.1"),
        Err(_) => return next(format!("connect to {addr}: timed out"), "4.4.1"),
    };
    let _ = tcp.set_nodelay(true);
    let mut conn = Conn::new(tcp);
    let greeting = match conn.read_reply(timeout, "the greeting").await {
        Ok(reply) => reply,
        Err(e) => return next(format!("greeting: {e}"), "4.4.2"),
    };
    if greeting.code != 220 {
        conn.quit().await;
        return next(greeting.text(), &greeting.status());
    }
    let mut caps = match ehlo(&mut conn, config).await {
        Ok(caps) => caps,
        Err(outcome) => {
            conn.quit().await;
            return outcome;
        }
    };
    let mut encrypted = false;
    if caps.starttls && !plain_only {
        let reply = match conn.command("STARTTLS", timeout).await {
            Ok(reply) => reply,
            Err(e) => return next(format!("STARTTLS: {e}"), "4.4.2"),
        };
        if reply.code == 220 {
            let name = ServerName::try_from(host.name.clone())
                .unwrap_or_else(|_| ServerName::IpAddress(ip.into()));
            let connector = if config.tls_required {
                &config.tls.required
            } else {
                &config.tls.opportunistic
            };
            if let Err(e) = conn.starttls(connector, name, timeout).await {
                return HostOutcome::Next {
                    error: format!("451 4.7.5 TLS handshake failed: {e}"),
                    status: "4.7.5".into(),
                    tls_failed: true,
                };
            }
            encrypted = true;
            caps = match ehlo(&mut conn, config).await {
                Ok(caps) => caps,
                Err(outcome) => {
                    conn.quit().await;
                    return outcome;
                }
            };
        } else if config.tls_required {
            conn.quit().await;
            return next(
                format!(
                    "451 4.7.10 TLS required, STARTTLS refused: {}",
                    reply.text()
                ),
                "4.7.10",
            );
        }
    }
    if config.tls_required && !encrypted {
        conn.quit().await;
        return next(
            "451 4.7.10 TLS required for this domain, but the server does not offer STARTTLS",
            "4.7.10",
        );
    }
    tracing::debug!(host = %host.name, %ip, encrypted, "outbound: session ready");

    let n = envelope.recipients.len();
    let permanent_all = |reply: String, status: &str| {
        vec![
            RcptResult::Permanent {
                reply,
                status: status.to_string(),
            };
            n
        ]
    };
    let needs_utf8 =
        !envelope.sender.is_ascii() || envelope.recipients.iter().any(|r| !r.address.is_ascii());
    if needs_utf8 && !caps.smtputf8 {
        conn.quit().await;
        return HostOutcome::Done(
            permanent_all(
                format!(
                    "553 5.6.7 {} does not support SMTPUTF8, needed for this address",
                    host.name
                ),
                "5.6.7",
            ),
            false,
        );
    }
    if let Some(limit) = caps.size.filter(|l| *l > 0) {
        if message.len() as u64 > limit {
            conn.quit().await;
            return HostOutcome::Done(
                permanent_all(
                    format!(
                        "552 5.3.4 message size {} exceeds the limit of {} ({limit} bytes)",
                        message.len(),
                        host.name
                    ),
                    "5.3.4",
                ),
                false,
            );
        }
    }

    let mut mail = format!("MAIL FROM:<{}>", envelope.sender);
    if caps.size.is_some() {
        mail.push_str(&format!(" SIZE={}", message.len()));
    }
    if caps.eightbitmime && !message.is_ascii() {
        mail.push_str(" BODY=8BITMIME");
    }
    if needs_utf8 {
        mail.push_str(" SMTPUTF8");
    }
    if caps.dsn {
        if let Some(ret) = &envelope.ret {
            mail.push_str(&format!(" RET={ret}"));
        }
        if let Some(id) = &envelope.env_id {
            mail.push_str(&format!(" ENVID={}", xtext(id)));
        }
    }
    let rcpts: Vec<String> = envelope
        .recipients
        .iter()
        .map(|r| {
            let mut line = format!("RCPT TO:<{}>", r.address);
            if caps.dsn {
                if let Some(notify) = &r.notify {
                    line.push_str(&format!(" NOTIFY={notify}"));
                }
                if let Some(orcpt) = &r.orcpt {
                    line.push_str(&format!(" ORCPT=rfc822;{}", xtext(orcpt_address(orcpt))));
                }
            }
            line
        })
        .collect();

    let mail_reply;
    let mut rcpt_replies = Vec::with_capacity(n);
    let mut data_reply = None;
    if caps.pipelining {
        let mut batch = format!("{mail}\r\n");
        for line in &rcpts {
            batch.push_str(line);
            batch.push_str("\r\n");
        }
        batch.push_str("DATA\r\n");
        if let Err(e) = conn.write_all(batch.as_bytes(), timeout).await {
            return next(format!("sending the envelope: {e}"), "4.4.2");
        }
        mail_reply = match conn.read_reply(timeout, "the reply to MAIL").await {
            Ok(r) => r,
            Err(e) => return next(format!("MAIL: {e}"), "4.4.2"),
        };
        if mail_reply.is_positive() {
            for _ in &rcpts {
                match conn.read_reply(timeout, "the reply to RCPT").await {
                    Ok(r) => rcpt_replies.push(r),
                    Err(e) => return next(format!("RCPT: {e}"), "4.4.2"),
                }
            }
            match conn.read_reply(timeout, "the reply to DATA").await {
                Ok(r) => data_reply = Some(r),
                Err(e) => return next(format!("DATA: {e}"), "4.4.2"),
            }
        }
    } else {
        mail_reply = match conn.command(&mail, timeout).await {
            Ok(r) => r,
            Err(e) => return next(format!("MAIL: {e}"), "4.4.2"),
        };
        if mail_reply.is_positive() {
            for line in &rcpts {
                match conn.command(line, timeout).await {
                    Ok(r) => rcpt_replies.push(r),
                    Err(e) => return next(format!("RCPT: {e}"), "4.4.2"),
                }
            }
            if rcpt_replies.iter().any(Reply::is_positive) {
                match conn.command("DATA", timeout).await {
                    Ok(r) => data_reply = Some(r),
                    Err(e) => return next(format!("DATA: {e}"), "4.4.2"),
                }
            }
        }
    }
    if !mail_reply.is_positive() {
        conn.quit().await;
        if mail_reply.is_transient() {
            return next(mail_reply.text(), &mail_reply.status());
        }
        return HostOutcome::Done(
            permanent_all(mail_reply.text(), &mail_reply.status()),
            false,
        );
    }
    let mut results: Vec<Option<RcptResult>> = rcpt_replies
        .iter()
        .map(|r| (!r.is_positive()).then(|| r.to_result_failure()))
        .collect();
    let accepted = results.iter().filter(|r| r.is_none()).count();
    let data_reply = match data_reply {
        Some(r) => r,
        None => {
            // Nobody accepted: no DATA was sent.
            conn.quit().await;
            return nobody_accepted(results, caps.dsn);
        }
    };
    if accepted == 0 {
        if data_reply.code == 354 {
            // A server that says 354 without recipients: end the empty data at once.
            let _ = conn.write_all(b".\r\n", timeout).await;
            let _ = conn.read_reply(timeout, "the reply to the data").await;
        }
        conn.quit().await;
        return nobody_accepted(results, caps.dsn);
    }
    if data_reply.code != 354 {
        conn.quit().await;
        let failure = data_reply.to_result_failure();
        return HostOutcome::Done(finish(results, failure), caps.dsn);
    }
    let data = dot_stuff(message);
    if let Err(e) = conn.write_all(&data, config.data_timeout).await {
        // The final dot did not get through: nothing was accepted, the next host may try.
        return next(format!("sending the message: {e}"), "4.4.2");
    }
    let final_reply = match conn
        .read_reply(config.data_timeout, "the reply to the message data")
        .await
    {
        Ok(r) => r,
        Err(e) => {
            // Ambiguous: the host may have taken the message. Retry later (at-least-once).
            for r in results.iter_mut().filter(|r| r.is_none()) {
                *r = Some(RcptResult::Temporary {
                    reply: format!("451 4.4.2 no answer after the message data: {e}"),
                    status: "4.4.2".into(),
                });
            }
            return HostOutcome::Done(
                finish(
                    results,
                    RcptResult::Delivered {
                        reply: String::new(),
                    },
                ),
                caps.dsn,
            );
        }
    };
    conn.quit().await;
    let fill = if final_reply.is_positive() {
        RcptResult::Delivered {
            reply: final_reply.text(),
        }
    } else {
        final_reply.to_result_failure()
    };
    HostOutcome::Done(finish(results, fill), caps.dsn)
}

/// The outcome when no recipient was accepted: every recipient keeps its own RCPT result
/// (those without one get a transient failure).
fn nobody_accepted(results: Vec<Option<RcptResult>>, dsn: bool) -> HostOutcome {
    HostOutcome::Done(
        finish(
            results,
            RcptResult::Temporary {
                reply: "451 4.3.0 internal: no reply".into(),
                status: "4.3.0".into(),
            },
        ),
        dsn,
    )
}

/// Each recipient's result: its own failure, else `fill`.
fn finish(results: Vec<Option<RcptResult>>, fill: RcptResult) -> Vec<RcptResult> {
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| fill.clone()))
        .collect()
}
