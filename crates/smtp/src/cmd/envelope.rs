//! MAIL FROM and RCPT TO (RFC 5321 4.1.1.2-3, RFC 1870 SIZE, RFC 3461 DSN, RFC 6531 SMTPUTF8).

use smtp_proto::{MailFrom, RcptTo};
use std::borrow::Cow;

use crate::codes::*;
use crate::listener_kind::ListenerKind;
use crate::session::{Next, Receive, Recipient, RecipientTarget, Session, Transaction};
use policy::mailflow::{parse_mailbox, AddressProblem};
use storage::{AccountStatus, Resolved};

/// A role address's local part ([`crate::ROLE_LOCALS`]), in any case (RFC 5321 4.5.1:
/// "postmaster" is case-insensitive).
fn is_role_local(local: &str) -> bool {
    crate::ROLE_LOCALS
        .iter()
        .any(|role| local.eq_ignore_ascii_case(role))
}

fn notify_text(flags: u64) -> Option<String> {
    let mut parts = vec![];
    if flags & smtp_proto::RCPT_NOTIFY_NEVER != 0 {
        return Some("NEVER".into());
    }
    if flags & smtp_proto::RCPT_NOTIFY_SUCCESS != 0 {
        parts.push("SUCCESS");
    }
    if flags & smtp_proto::RCPT_NOTIFY_FAILURE != 0 {
        parts.push("FAILURE");
    }
    if flags & smtp_proto::RCPT_NOTIFY_DELAY != 0 {
        parts.push("DELAY");
    }
    (!parts.is_empty()).then(|| parts.join(","))
}

impl Session {
    pub(crate) async fn mail(&mut self, out: &mut Vec<u8>, from: MailFrom<Cow<'_, str>>) -> Next {
        let settings = &self.context.settings;
        if self.helo.is_none() {
            reply(C503_SEQUENCE, "Send EHLO or HELO first").encode(out);
            return self.after_error();
        }
        if self.transaction.is_some() {
            reply(C503_SEQUENCE, "Nested MAIL command").encode(out);
            return self.after_error();
        }
        if self.kind != ListenerKind::Mx && self.auth.is_none() {
            // RFC 4954 6: submission requires authentication.
            reply(C530_AUTH_REQUIRED, "Authentication required").encode(out);
            return self.after_error();
        }
        if self.n_messages >= settings.max_messages_per_connection {
            reply(
                C421_TOO_BUSY,
                "Too many messages on this connection, reconnect",
            )
            .encode(out);
            return Next::Close;
        }
        // RFC 1870 6: a declared size over the limit is refused at once.
        if from.size > settings.max_message_size {
            reply(
                C552_TOO_BIG,
                format!(
                    "Message size exceeds fixed limit of {} bytes",
                    settings.max_message_size
                ),
            )
            .encode(out);
            return Next::Continue;
        }
        // RFC 3030 3: BODY=BINARYMIME only where BINARYMIME is offered, and it is not (RFC
        // 5321 4.1.1.11: a parameter the server cannot implement is 555).
        if from.flags & smtp_proto::MAIL_BODY_BINARYMIME != 0 {
            reply(
                C555_PARAM_NOT_SUPPORTED,
                "BODY=BINARYMIME is not supported here",
            )
            .encode(out);
            return self.after_error();
        }
        let address = from.address.trim().to_string();
        let smtputf8 = from.flags & smtp_proto::MAIL_SMTPUTF8 != 0;
        if !smtputf8 && !address.is_ascii() {
            reply(
                C553_NON_ASCII,
                "Non-ASCII sender address needs the SMTPUTF8 parameter",
            )
            .encode(out);
            return self.after_error();
        }
        if !address.is_empty() {
            if let Err(problem) = parse_mailbox(&address) {
                let text = match problem {
                    AddressProblem::Syntax(t) | AddressProblem::RoutingNotAllowed(t) => t,
                };
                reply(C501_BAD_SENDER, format!("Bad sender address: {text}")).encode(out);
                return self.after_error();
            }
        }
        match (&self.auth, self.kind) {
            (Some(user), _) => {
                // Submission: only addresses the user owns or holds the send right for.
                let allowed = match self.sendable_for(user).await {
                    Ok(Some(list)) => list,
                    Ok(None) => {
                        // KT-8: a revoked delegate's unit login ends (RFC 5321 3.8: 421 and
                        // close).
                        reply(
                            C421_TOO_BUSY,
                            "Your rights on the unit mailbox have ended, closing",
                        )
                        .encode(out);
                        return Next::Close;
                    }
                    Err(e) => {
                        tracing::warn!(session = %self.id, error = %e, "sender lookup failed");
                        storage_fault(&e, "Temporary lookup failure").encode(out);
                        return Next::Continue;
                    }
                };
                if !allowed.contains(&storage::normalize_address(&address)) {
                    reply(
                        C550_POLICY,
                        format!("{} may not send as <{address}>", user.address),
                    )
                    .encode(out);
                    return self.after_error();
                }
            }
            (None, _) => {
                // MX: mail claiming one of our domains must come through submission.
                if let Ok(mailbox) = parse_mailbox(&address) {
                    let local = match self.context.is_local_domain(&mailbox.domain).await {
                        Ok(local) => local,
                        Err(e) => {
                            // A passing fault is not "not ours": the sender retries.
                            tracing::warn!(session = %self.id, error = %e, "domain lookup failed");
                            storage_fault(&e, "Temporary lookup failure").encode(out);
                            return Next::Continue;
                        }
                    };
                    if local {
                        reply(
                            C550_POLICY,
                            "Sender address is in a local domain: authenticate on submission",
                        )
                        .encode(out);
                        return self.after_error();
                    }
                }
            }
        }
        self.transaction = Some(Transaction {
            from: address,
            env_id: from.env_id.map(|e| e.into_owned()),
            ret: if from.flags & smtp_proto::MAIL_RET_FULL != 0 {
                Some("FULL".into())
            } else if from.flags & smtp_proto::MAIL_RET_HDRS != 0 {
                Some("HDRS".into())
            } else {
                None
            },
            smtputf8,
            ..Transaction::default()
        });
        // A new transaction starts with no message data.
        self.receive = Receive::COMMANDS;
        reply(C250_SENDER_OK, "Sender OK").encode(out);
        Next::Continue
    }

    pub(crate) fn after_error(&mut self) -> Next {
        if self.error_limit_reached() {
            Next::Close
        } else {
            Next::Continue
        }
    }

    pub(crate) async fn rcpt(
        &mut self,
        out: &mut Vec<u8>,
        to: RcptTo<Cow<'_, str>>,
        bare_postmaster: bool,
    ) -> Next {
        let Some(transaction) = &self.transaction else {
            reply(C503_SEQUENCE, "Need MAIL before RCPT").encode(out);
            return self.after_error();
        };
        if transaction.recipients.len() >= self.context.settings.max_recipients {
            // RFC 5321 4.5.3.1.8: the client retries the rest in another transaction.
            reply(C452_TOO_MANY_RCPTS, "Too many recipients").encode(out);
            return Next::Continue;
        }
        let mut address = to.address.trim().to_string();
        if !transaction.smtputf8 && !address.is_ascii() {
            reply(
                C553_NON_ASCII,
                "Non-ASCII recipient address needs SMTPUTF8 on MAIL",
            )
            .encode(out);
            return self.after_error();
        }
        // RFC 5321 4.5.1: "postmaster" without a domain must be accepted: it names ours.
        if bare_postmaster || address.eq_ignore_ascii_case("postmaster") {
            match self.context.postmaster_domain().await {
                Ok(domain) => address = format!("postmaster@{domain}"),
                Err(e) => {
                    tracing::warn!(session = %self.id, error = %e, "domain lookup failed");
                    storage_fault(&e, "Temporary lookup failure").encode(out);
                    return Next::Continue;
                }
            }
        }
        let mailbox = match parse_mailbox(&address) {
            Ok(m) => m,
            Err(AddressProblem::Syntax(text)) => {
                reply(C501_BAD_RCPT, format!("Bad recipient address: {text}")).encode(out);
                return self.after_error();
            }
            Err(AddressProblem::RoutingNotAllowed(text)) => {
                reply(C550_RELAY_DENIED, format!("Relaying denied: {text}")).encode(out);
                return self.after_error();
            }
        };
        let store = &self.context.store;
        let local = match self.context.is_local_domain(&mailbox.domain).await {
            Ok(local) => local,
            Err(e) => {
                tracing::warn!(session = %self.id, error = %e, "domain lookup failed");
                storage_fault(&e, "Temporary lookup failure").encode(out);
                return Next::Continue;
            }
        };
        let notify = notify_text(to.flags);
        let orcpt = to.orcpt.map(|o| o.into_owned());
        if !local {
            // RFC 5321 3.6.2: never relay for unauthenticated clients.
            if self.auth.is_none() {
                metrics::counter!("govmail_rcpt_refused_total", "reason" => "relay").increment(1);
                reply(
                    C550_RELAY_DENIED,
                    format!("Relaying denied for <{address}>"),
                )
                .encode(out);
                return self.after_error();
            }
            self.push_recipient(Recipient {
                address,
                target: RecipientTarget::Remote,
                notify,
                orcpt,
            });
            reply(C250_RCPT_OK, "Recipient OK").encode(out);
            return Next::Continue;
        }
        let resolved = match store.resolve(&mailbox.key()).await {
            // RFC 5321 4.5.1, RFC 2142 2: postmaster, abuse (and the DMARC report address)
            // exist at every hosted domain; unless defined, they reach the admin group.
            Ok(Resolved::Unknown) if is_role_local(&mailbox.local) => {
                match &self.context.settings.role_target {
                    Some(target) => match store.resolve(target).await {
                        Ok(Resolved::Unknown) => {
                            tracing::warn!(session = %self.id, %target, "server.admin_group is not a hosted address");
                            Resolved::Unknown
                        }
                        // The IT centre's group takes role mail from anyone.
                        Ok(Resolved::Group {
                            group_id, members, ..
                        }) => Resolved::Group {
                            group_id,
                            send_policy: "anyone".into(),
                            members,
                        },
                        Ok(other) => other,
                        Err(e) => {
                            tracing::warn!(session = %self.id, error = %e, "recipient lookup failed");
                            storage_fault(&e, "Temporary lookup failure").encode(out);
                            return Next::Continue;
                        }
                    },
                    None => {
                        tracing::warn!(session = %self.id, %address, "role address without server.admin_group");
                        Resolved::Unknown
                    }
                }
            }
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(session = %self.id, error = %e, "recipient lookup failed");
                storage_fault(&e, "Temporary lookup failure").encode(out);
                return Next::Continue;
            }
        };
        let accounts = match resolved {
            Resolved::Unknown => {
                metrics::counter!("govmail_rcpt_refused_total", "reason" => "no_such_user")
                    .increment(1);
                reply(C550_NO_SUCH_USER, format!("<{address}>: no such user here")).encode(out);
                return self.after_error();
            }
            Resolved::Account(account) => {
                if account.status != AccountStatus::Active {
                    let instead = account
                        .unit_address
                        .as_deref()
                        .map(|u| format!("; please write to the unit address <{u}>"))
                        .unwrap_or_default();
                    reply(
                        C550_NO_SUCH_USER,
                        format!("<{address}> no longer receives mail{instead}"),
                    )
                    .encode(out);
                    return Next::Continue;
                }
                if account.quota_bytes > 0 && account.used_bytes >= account.quota_bytes {
                    reply(C452_OVER_QUOTA, format!("<{address}>: mailbox full")).encode(out);
                    return Next::Continue;
                }
                vec![account.account_id]
            }
            Resolved::Group {
                send_policy,
                members,
                ..
            } => {
                let allowed = match (send_policy.as_str(), &self.auth) {
                    ("anyone", _) => true,
                    ("internal", Some(_)) => true,
                    ("members", Some(user)) => {
                        members.iter().any(|m| m.account_id == user.account_id)
                    }
                    _ => false,
                };
                if !allowed {
                    reply(
                        C550_POLICY,
                        format!("<{address}>: you may not send to this group"),
                    )
                    .encode(out);
                    return self.after_error();
                }
                members
                    .iter()
                    .filter(|m| m.status == AccountStatus::Active)
                    .map(|m| m.account_id)
                    .collect()
            }
        };
        self.push_recipient(Recipient {
            address,
            target: RecipientTarget::Local(accounts),
            notify,
            orcpt,
        });
        reply(C250_RCPT_OK, "Recipient OK").encode(out);
        Next::Continue
    }

    fn push_recipient(&mut self, recipient: Recipient) {
        if let Some(transaction) = &mut self.transaction {
            transaction.recipients.push(recipient);
        }
    }
}
