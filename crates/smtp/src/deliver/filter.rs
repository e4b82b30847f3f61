//! What a recipient's Sieve script decided, turned into delivery targets, queued recipients,
//! audit events and vacation replies, without I/O. The script ran while gathering (its
//! redirect targets had to be looked up); this is the part of the assessment that reads its
//! outcome.
//!
//! - A script error keeps the message in INBOX, with a `sieve.error` event for the user
//!   (RFC 5228 2.10.6).
//! - `redirect` obeys the forwarding policy like a forward rule (BD-11, KT-9): never to public
//!   webmail; refused, the message is kept in INBOX (`sieve.redirect-refused`). One hop: a
//!   hosted target gets the copy in its INBOX without running its own script.
//! - `vacation` replies only when RFC 5230 4.5–4.6 allow it (`sieve::vacation::check`); the
//!   once-per-`:days` rule is checked when acting, against storage.

use std::collections::BTreeSet;

use sieve::{Action, MessageView};
use storage::{
    AccountRef, AccountStatus, DeliveryTarget, Flags, FolderChoice, OutboundRecipient, Resolved,
};
use unicode_normalization::UnicodeNormalization;

use crate::outbound::forwarding::{check_forward, ForwardingPolicy};

#[derive(Debug, Clone)]
pub(crate) enum ForwardTarget {
    /// Not in a hosted domain.
    Outside,
    /// In a hosted domain: what the address resolves to.
    Hosted(Resolved),
}

/// One recipient account's script run.
#[derive(Debug, Clone)]
pub(crate) struct SieveRun {
    pub account_id: i64,
    /// The recipient address that led to the account (the envelope "to").
    pub recipient: String,
    pub script: String,
    pub outcome: Result<sieve::Outcome, sieve::Error>,
    /// Where each redirect address lives.
    pub redirects: Vec<(String, ForwardTarget)>,
    /// The account's own addresses (only looked up when the script asked for a vacation).
    pub own_addresses: Vec<String>,
}

/// A vacation reply to send once the message is committed (if none went to the sender with
/// this handle within `days`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VacationReply {
    pub account_id: i64,
    /// Whose reply it is (the recipient address).
    pub recipient: String,
    /// The return path of the message, who gets the reply.
    pub to: String,
    pub from: Option<String>,
    pub subject: String,
    pub reason: String,
    pub mime: bool,
    pub handle: String,
    pub days: u64,
    /// The Message-ID and References of the message answered (RFC 3834 3.1.5).
    pub in_reply_to: Option<String>,
    pub references: Option<String>,
}

/// Why the script's outcome went as it did (logged with the message).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Note {
    Failed {
        address: String,
        error: String,
    },
    Discarded {
        address: String,
    },
    Redirected {
        address: String,
        target: String,
    },
    RedirectRefused {
        address: String,
        target: String,
        why: String,
    },
    VacationSkipped {
        address: String,
        why: String,
    },
}

/// The decision for one account.
#[derive(Debug, Default)]
pub(crate) struct Decision {
    pub targets: Vec<DeliveryTarget>,
    /// Hosted accounts that get the message by a redirect (INBOX, no script of theirs).
    pub redirected_accounts: Vec<i64>,
    pub remote: Vec<OutboundRecipient>,
    pub events: Vec<storage::NewEvent>,
    pub notes: Vec<Note>,
    pub vacations: Vec<VacationReply>,
}

/// The folder a `fileinto` names, as IMAP keeps names: NFC, INBOX in any case, `/` between
/// levels. INBOX itself, or a name IMAP could not create (empty level, the shared namespace's
/// root), is INBOX.
pub(crate) fn folder_for(mailbox: &str) -> FolderChoice {
    let name: String = mailbox.nfc().collect();
    let first = name.split('/').next().unwrap_or("");
    let shared_root = policy::naming::fold(first)
        .split_whitespace()
        .collect::<String>()
        == policy::naming::fold("Đơn vị")
            .split_whitespace()
            .collect::<String>();
    if first.eq_ignore_ascii_case("INBOX") && !name.contains('/') {
        return FolderChoice::Inbox;
    }
    let name = match name.split_once('/') {
        Some((first, rest)) if first.eq_ignore_ascii_case("INBOX") => format!("INBOX/{rest}"),
        _ => name,
    };
    if shared_root
        || name
            .split('/')
            .any(|level| level.trim().is_empty() || level.len() > 255)
        || name.split('/').count() > 16
        || name.chars().any(char::is_control)
    {
        return FolderChoice::Inbox;
    }
    FolderChoice::Named {
        name,
        create: false,
    }
}

/// Turns one script run into targets and the rest. `view` is the message as the script saw it.
pub(crate) fn decide(
    run: &SieveRun,
    view: &MessageView,
    policy: &ForwardingPolicy,
    size: usize,
    message_id: Option<&str>,
    references: Option<&str>,
) -> Decision {
    let mut decision = Decision::default();
    let inbox = |flags: Flags| DeliveryTarget {
        account_id: run.account_id,
        folder: FolderChoice::Inbox,
        flags,
    };
    let outcome = match &run.outcome {
        Ok(outcome) => outcome,
        Err(error) => {
            decision.events.push(storage::NewEvent {
                actor: "smtp".into(),
                action: storage::Action::SieveError,
                target: run.recipient.clone(),
                doc_ref: String::new(),
                detail: serde_json::json!({"script": run.script, "line": error.line,
                    "error": error.message}),
            });
            decision.notes.push(Note::Failed {
                address: run.recipient.clone(),
                error: error.to_string(),
            });
            decision.targets.push(inbox(Flags::new()));
            return decision;
        }
    };
    let mut keep_anyway = false;
    let mut stored = BTreeSet::new();
    let mut store = |decision: &mut Decision, folder: FolderChoice, flags: &[String]| {
        let key = format!("{folder:?}");
        if stored.insert(key) {
            decision.targets.push(DeliveryTarget {
                account_id: run.account_id,
                folder,
                flags: Flags::from_names(flags),
            });
        }
    };
    for action in &outcome.actions {
        match action {
            Action::Keep { flags } => store(&mut decision, FolderChoice::Inbox, flags),
            Action::FileInto {
                mailbox,
                create,
                flags,
            } => {
                let folder = match folder_for(mailbox) {
                    FolderChoice::Named { name, .. } => FolderChoice::Named {
                        name,
                        create: *create,
                    },
                    other => other,
                };
                store(&mut decision, folder, flags)
            }
            Action::Redirect { address } => {
                let target = run
                    .redirects
                    .iter()
                    .find(|(a, _)| a == address)
                    .map(|(_, t)| t.clone())
                    .unwrap_or(ForwardTarget::Outside);
                match redirect(run, address, &target, policy, size) {
                    Ok(Redirect::Remote) => {
                        decision
                            .remote
                            .push(OutboundRecipient::new(address.clone()));
                        decision.notes.push(Note::Redirected {
                            address: run.recipient.clone(),
                            target: address.clone(),
                        });
                    }
                    Ok(Redirect::Local(ids)) => {
                        decision.redirected_accounts.extend(ids);
                        decision.notes.push(Note::Redirected {
                            address: run.recipient.clone(),
                            target: address.clone(),
                        });
                    }
                    Err(why) => {
                        decision.events.push(storage::NewEvent {
                            actor: "smtp".into(),
                            action: storage::Action::SieveRedirectRefused,
                            target: run.recipient.clone(),
                            doc_ref: String::new(),
                            detail: serde_json::json!({"script": run.script, "target": address,
                                "why": why}),
                        });
                        decision.notes.push(Note::RedirectRefused {
                            address: run.recipient.clone(),
                            target: address.clone(),
                            why,
                        });
                        keep_anyway = true;
                    }
                }
            }
            Action::Vacation(vacation) => {
                match sieve::vacation::check(view, &run.own_addresses, vacation) {
                    Ok(to) => decision.vacations.push(VacationReply {
                        account_id: run.account_id,
                        recipient: run.recipient.clone(),
                        to,
                        // RFC 5230 4.3: :from only as one of the mailbox's own addresses
                        // (no replies in someone else's name); otherwise the recipient's.
                        from: vacation.from.clone().filter(|from| {
                            sieve::address::parse_list(from).first().is_some_and(|a| {
                                run.own_addresses
                                    .iter()
                                    .any(|own| own.eq_ignore_ascii_case(a))
                            })
                        }),
                        subject: sieve::vacation::subject(view, vacation),
                        reason: vacation.reason.clone(),
                        mime: vacation.mime,
                        handle: sieve::vacation::handle(vacation),
                        days: vacation.days,
                        in_reply_to: message_id.map(str::to_string),
                        references: references.map(str::to_string),
                    }),
                    Err(skip) => decision.notes.push(Note::VacationSkipped {
                        address: run.recipient.clone(),
                        why: skip.to_string(),
                    }),
                }
            }
        }
    }
    // A refused redirect keeps the message (as a refused forward does).
    if keep_anyway {
        store(&mut decision, FolderChoice::Inbox, &[]);
    }
    if decision.targets.is_empty()
        && decision.remote.is_empty()
        && decision.redirected_accounts.is_empty()
    {
        decision.notes.push(Note::Discarded {
            address: run.recipient.clone(),
        });
    }
    decision
}

enum Redirect {
    Remote,
    Local(Vec<i64>),
}

/// A redirect under the forwarding policy (the same checks as a forward rule at delivery).
fn redirect(
    run: &SieveRun,
    address: &str,
    target: &ForwardTarget,
    policy: &ForwardingPolicy,
    size: usize,
) -> Result<Redirect, String> {
    let hosted = matches!(target, ForwardTarget::Hosted(_));
    check_forward(policy, address, hosted).map_err(|why| why.to_string())?;
    let can_receive = |a: &AccountRef| {
        a.status == AccountStatus::Active
            && (a.quota_bytes == 0 || a.used_bytes + size as i64 <= a.quota_bytes)
    };
    match target {
        ForwardTarget::Outside => Ok(Redirect::Remote),
        ForwardTarget::Hosted(Resolved::Account(a)) if a.account_id == run.account_id => {
            Err("redirects to itself".into())
        }
        ForwardTarget::Hosted(Resolved::Account(a)) if can_receive(a) => {
            Ok(Redirect::Local(vec![a.account_id]))
        }
        ForwardTarget::Hosted(Resolved::Account(_)) => Err("target mailbox closed or full".into()),
        ForwardTarget::Hosted(Resolved::Group { members, .. }) => {
            let ids: Vec<i64> = members
                .iter()
                .filter(|m| m.account_id != run.account_id && can_receive(m))
                .map(|m| m.account_id)
                .collect();
            if ids.is_empty() {
                Err("no member of the group can receive it".into())
            } else {
                Ok(Redirect::Local(ids))
            }
        }
        ForwardTarget::Hosted(Resolved::Unknown) => Err("no such mailbox here".into()),
    }
}
