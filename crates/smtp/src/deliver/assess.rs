//! The decision about a received message, without I/O (after mox's `smtpserver/analyze.go`):
//! from the message and the [`Facts`] gathered for it (scan result, the addresses a user may
//! send as, the spam check, forward rules with their targets, the owner of the sender
//! address), [`assess`] says what to do — a [`Verdict`], the header fields to prepend, the
//! folder, the local and outside recipients, the audit events to record, and the named
//! [`Reason`]s — and the caller acts on it.
//!
//! Checks in issue order: antivirus (BD-7.6, KT-5.1), the From: header of submitted mail,
//! spam for mail from outside (BD-7.5, KT-5.1), trace headers (RFC 5321 4.4), forward rules
//! (BD-11, KT-9: one hop, never from junk), the unit's Sent copy (BD-10, KT-8).
//!
//! Invariant: nothing here reads the clock, the network or storage; the same inputs give the
//! same assessment.

use std::collections::BTreeSet;
use std::net::IpAddr;

use policy::spam::{self, Action};
use storage::{
    AccountRef, AccountStatus, DeliveryTarget, FolderChoice, Forward, MessageMeta,
    OutboundRecipient, Resolved,
};

use crate::authres::AuthReport;
use crate::codes::*;
use crate::outbound::forwarding::check_forward;
use crate::session::{AuthUser, RecipientTarget, Transaction};
use crate::{AvFailure, Settings};

/// The message as received, and who sent it how.
pub(crate) struct Arrival<'a> {
    pub transaction: &'a Transaction,
    /// The submitting user; None on MX.
    pub user: Option<&'a AuthUser>,
    /// Mail from outside (MX, unauthenticated): authentication results and spam are checked.
    pub from_outside: bool,
    pub meta: &'a MessageMeta,
    /// Size of the message as received, before any header is prepended.
    pub size: usize,
    pub trace: Trace<'a>,
}

/// What the `Received:` field names (RFC 5321 4.4).
pub(crate) struct Trace<'a> {
    pub session_id: &'a str,
    pub helo: Option<&'a str>,
    pub peer: IpAddr,
    /// `SMTP`, `ESMTP`, `ESMTPS`, `ESMTPA` or `ESMTPSA` (RFC 3848).
    pub protocol: &'static str,
    /// RFC 5322 date-time of the arrival.
    pub date: &'a str,
}

/// What the antivirus scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum Scan {
    /// No scanner configured.
    #[default]
    Off,
    Clean,
    Infected(String),
    /// The scanner could not be asked or gave no clear answer.
    Failed,
}

/// The spam check of mail from outside.
#[derive(Debug, Clone)]
pub(crate) struct SpamCheck {
    /// SPF/DKIM/DMARC results (None: no authenticator configured).
    pub auth: Option<AuthReport>,
    pub verdict: spam::Verdict,
}

/// A forward rule of a local recipient and where its target lives.
#[derive(Debug, Clone)]
pub(crate) struct ForwardFacts {
    pub rule: Forward,
    pub target: ForwardTarget,
}

pub(crate) use super::filter::ForwardTarget;
use super::filter::{SieveRun, VacationReply};

/// The facts that needed I/O, gathered in the order the checks apply. A fact not gathered
/// (None, empty) is one that cannot matter: the assessment so far already refused the
/// message, or the check does not apply.
#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    pub scan: Scan,
    /// A dangerous attachment (issue 18).
    pub attachment: Option<policy::attachments::Finding>,
    /// Submission: the addresses the user may send as.
    pub sendable: Option<Vec<String>>,
    pub spam: Option<SpamCheck>,
    /// Forward rules of the local recipients, in the order storage gives them.
    pub forwards: Vec<ForwardFacts>,
    /// Submission: the account the envelope sender address belongs to (another account than
    /// the user's when a delegate or head sends as a unit).
    pub sender_owner: Option<AccountRef>,
    /// Submission: who submits (name, own addresses) and whose the From: addresses are.
    pub submitter: Option<Submitter>,
    /// The local recipients' Sieve scripts, run (never for junk).
    pub sieve: Vec<SieveRun>,
    /// The message as the scripts saw it (its envelope "to" left empty).
    pub sieve_view: Option<sieve::MessageView>,
}

impl Facts {
    /// The spam check sent the message to Junk.
    pub fn junk(&self) -> bool {
        self.attachment.is_some()
            || self
                .spam
                .as_ref()
                .is_some_and(|check| check.verdict.action == Action::Junk)
    }
}

/// What becomes of the message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// Commit the local copies and the queue entry.
    Deliver,
    /// 554 5.7.1: a virus.
    Virus { signature: String },
    /// 451 4.7.1: the scanner failed and the policy is to have the sender retry.
    ScannerUnavailable,
    /// 554 5.7.1: a dangerous attachment, named.
    Attachment {
        finding: policy::attachments::Finding,
    },
    /// 550 5.7.1: the From: header names an address the user may not send as.
    ForeignFrom { user: String, address: String },
    /// 550 5.7.1: the Sender: header names someone other than the user (RFC 5322 3.6.2: the
    /// Sender is the one who transmits).
    ForeignSender { user: String, address: String },
    /// 550 5.7.1: spam over the reject score.
    Spam { score: f64 },
}

impl Verdict {
    /// The reply refusing the message; None for [`Verdict::Deliver`].
    pub fn refusal(&self) -> Option<Reply> {
        Some(match self {
            Verdict::Deliver => return None,
            Verdict::Virus { signature } => reply(
                C554_VIRUS,
                format!("Message refused: virus found ({signature})"),
            ),
            Verdict::ScannerUnavailable => reply(
                C451_AV_UNAVAILABLE,
                "Virus scanner unavailable, try again later",
            ),
            Verdict::Attachment { finding } => reply(C554_ATTACHMENT, finding.reply_text()),
            Verdict::ForeignFrom { user, address } => reply(
                C550_POLICY,
                format!("{user} may not send as {address} (From: header)"),
            ),
            Verdict::ForeignSender { user, address } => reply(
                C550_POLICY,
                format!("Sender: {address} is not {user}, who sends this message"),
            ),
            Verdict::Spam { score } => reply(
                C550_POLICY,
                format!("Message refused as spam (score {score:.1})"),
            ),
        })
    }
}

/// Why an accepted message goes where it goes (refusals are in the [`Verdict`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reason {
    /// The scanner failed; accepted and tagged `X-Virus-Scan: failed`.
    ScanFailedTagged,
    /// A dangerous attachment, quarantined in Junk.
    AttachmentQuarantined,
    /// Spam score over the tag score: `X-Spam-Status: Yes`.
    SpamTagged { score: f64 },
    /// Spam score over the junk score: the Junk folder, no forwarding.
    Junk { score: f64 },
    /// A forward rule sent the message on.
    Forwarded { address: String, target: String },
    /// A forward rule that may not be followed now; the message stays in the mailbox.
    ForwardRefused {
        address: String,
        target: String,
        why: String,
    },
    /// Sent as a unit: the unit's Sent folder keeps a copy.
    UnitSentCopy { unit: String },
    /// What a recipient's Sieve script did.
    Sieve(super::filter::Note),
}

/// The decision and everything the caller needs to act on it.
#[derive(Debug, Clone)]
pub(crate) struct Assessment {
    pub verdict: Verdict,
    /// Header fields to put before the message, trace fields first.
    pub prepend: String,
    pub folder: FolderChoice,
    /// Local copies, each account once.
    pub targets: Vec<DeliveryTarget>,
    /// Recipients for the outbound queue.
    pub remote: Vec<OutboundRecipient>,
    /// Recorded before the reply (before the commit for a delivery).
    pub events: Vec<storage::NewEvent>,
    pub reasons: Vec<Reason>,
    /// Vacation replies to send after the commit (RFC 5230).
    pub vacations: Vec<VacationReply>,
}

/// The refusal the facts gathered so far call for, if any: checks 1–3 of [`assess`], in
/// order (antivirus for every message; the From: of a submission; spam over the reject score
/// for mail from outside). Gathering asks it after each step, so a refused message costs no
/// further look-ups.
pub(crate) fn refusal(arrival: &Arrival, facts: &Facts, settings: &Settings) -> Option<Verdict> {
    match &facts.scan {
        Scan::Infected(signature) => {
            return Some(Verdict::Virus {
                signature: signature.clone(),
            })
        }
        Scan::Failed if settings.av_on_failure == AvFailure::Tempfail => {
            return Some(Verdict::ScannerUnavailable)
        }
        Scan::Off | Scan::Clean | Scan::Failed => {}
    }
    if let Some(finding) = &facts.attachment {
        // Quarantine is a local folder: a copy for outside is refused all the same.
        let remote =
            (arrival.transaction.recipients.iter()).any(|r| r.target == RecipientTarget::Remote);
        if settings.attachments.handling == policy::attachments::Handling::Refuse || remote {
            return Some(Verdict::Attachment {
                finding: finding.clone(),
            });
        }
    }
    if let (Some(user), Some(allowed)) = (arrival.user, &facts.sendable) {
        let foreign = arrival
            .meta
            .envelope
            .from
            .iter()
            .filter_map(|a| a.address.as_deref())
            .find(|a| !allowed.contains(&storage::normalize_address(a)));
        if let Some(address) = foreign {
            return Some(Verdict::ForeignFrom {
                user: user.address.clone(),
                address: address.to_string(),
            });
        }
        if let Some(address) = sender::foreign_sender(arrival, facts) {
            return Some(Verdict::ForeignSender {
                user: user.address.clone(),
                address: address.to_string(),
            });
        }
    }
    let check = facts.spam.as_ref().filter(|_| arrival.from_outside)?;
    (check.verdict.action == Action::Reject).then_some(Verdict::Spam {
        score: check.verdict.score,
    })
}

/// Decides what becomes of a message.
pub(crate) fn assess(arrival: &Arrival, facts: &Facts, settings: &Settings) -> Assessment {
    let transaction = arrival.transaction;
    let mut assessment = Assessment {
        verdict: Verdict::Deliver,
        prepend: String::new(),
        folder: FolderChoice::Inbox,
        targets: vec![],
        remote: vec![],
        events: vec![],
        reasons: vec![],
        vacations: vec![],
    };
    let recipients = || {
        serde_json::Value::from(
            transaction
                .recipients
                .iter()
                .map(|r| r.address.clone())
                .collect::<Vec<_>>(),
        )
    };
    let mut extra = String::new();

    // 1.–3. Antivirus, the From: of a submission, spam over the reject score.
    if let Some(verdict) = refusal(arrival, facts, settings) {
        let detail = match &verdict {
            Verdict::Virus { signature } => Some((
                storage::Action::VirusRefused,
                serde_json::json!({"signature": signature,
                    "peer": arrival.trace.peer.to_string(), "recipients": recipients()}),
            )),
            Verdict::Attachment { finding } => Some((
                storage::Action::AttachmentRefused,
                serde_json::json!({"file": finding.file, "inside": finding.inside,
                    "danger": finding.danger.code(), "peer": arrival.trace.peer.to_string(),
                    "recipients": recipients()}),
            )),
            Verdict::Spam { .. } => facts.spam.as_ref().map(|check| {
                (
                    storage::Action::SpamRejected,
                    serde_json::json!({"score": check.verdict.score, "tests": check.verdict.tests,
                        "recipients": recipients()}),
                )
            }),
            _ => None,
        };
        if let Some((action, detail)) = detail {
            assessment.events.push(storage::NewEvent {
                actor: "smtp".into(),
                action,
                target: transaction.from.clone(),
                doc_ref: String::new(),
                detail,
            });
        }
        assessment.verdict = verdict;
        return assessment;
    }
    if facts.scan == Scan::Failed {
        extra.push_str("X-Virus-Scan: failed (scanner unavailable)\r\n");
        assessment.reasons.push(Reason::ScanFailedTagged);
    }
    if let Some(check) = facts.spam.as_ref().filter(|_| arrival.from_outside) {
        if let Some(auth) = &check.auth {
            extra.push_str(&auth.header);
        }
        let verdict = &check.verdict;
        if settings.spam.enabled {
            extra.push_str(&spam_headers(verdict, settings.spam.tag_score));
        }
        match verdict.action {
            Action::Junk => {
                assessment.events.push(storage::NewEvent {
                    actor: "smtp".into(),
                    action: storage::Action::SpamJunked,
                    target: transaction.from.clone(),
                    doc_ref: String::new(),
                    detail: serde_json::json!({"score": verdict.score}),
                });
                assessment.reasons.push(Reason::Junk {
                    score: verdict.score,
                });
                assessment.folder = FolderChoice::SpecialUse("\\Junk");
            }
            Action::Tag => assessment.reasons.push(Reason::SpamTagged {
                score: verdict.score,
            }),
            Action::Reject | Action::Deliver => {}
        }
    }
    // Issue 18: a dangerous attachment under `action = "quarantine"`: Junk, never forwarded.
    if let Some(finding) = &facts.attachment {
        extra.push_str(&format!(
            "X-Attachment-Quarantined: {}\r\n",
            finding.reply_text()
        ));
        assessment.events.push(storage::NewEvent {
            actor: "smtp".into(),
            action: storage::Action::AttachmentQuarantined,
            target: transaction.from.clone(),
            doc_ref: String::new(),
            detail: serde_json::json!({"file": finding.file, "inside": finding.inside,
                "danger": finding.danger.code(), "recipients": recipients()}),
        });
        assessment.reasons.push(Reason::AttachmentQuarantined);
        assessment.folder = FolderChoice::SpecialUse("\\Junk");
    }
    let junk = assessment.folder != FolderChoice::Inbox;

    // RFC 5322 3.6.2: sent for someone else (a unit): Sender: names the official.
    if let Some(field) = sender::sender_field(arrival, facts) {
        extra.push_str(&field);
    }

    // 4. Trace fields (RFC 5321 4.4): Return-Path and Received, before the rest.
    assessment.prepend = format!(
        "{}{extra}",
        trace_fields(transaction, &arrival.trace, &settings.hostname)
    );

    // 5. Targets: each local account once; outside recipients to the queue. Forward rules
    // apply one hop, never to junk; each target is checked against the policy again (it may
    // have changed since the rule was set).
    let mut accounts = local_accounts(transaction);
    let mut remote: Vec<OutboundRecipient> = transaction
        .recipients
        .iter()
        .filter(|r| r.target == RecipientTarget::Remote)
        .map(|r| OutboundRecipient {
            address: r.address.clone(),
            notify: r.notify.clone(),
            orcpt: r.orcpt.clone(),
        })
        .collect();
    if !junk && !accounts.is_empty() {
        for forward in &facts.forwards {
            let forwarded = apply_forward(
                forward,
                settings,
                arrival.size,
                &mut accounts,
                &mut remote,
                &mut assessment,
            );
            if forwarded && !forward.rule.keep_copy {
                accounts.remove(&forward.rule.account_id);
            }
        }
    }
    // Each remaining account's copy where its Sieve script puts it (RFC 5228), else in the
    // verdict's folder. Redirected copies go to INBOX without a script (one hop).
    let mut redirected: BTreeSet<i64> = BTreeSet::new();
    for account_id in accounts {
        let run = facts.sieve.iter().find(|r| r.account_id == account_id);
        let (Some(run), Some(view)) = (run, facts.sieve_view.as_ref()) else {
            assessment.targets.push(DeliveryTarget {
                account_id,
                folder: assessment.folder.clone(),
                flags: storage::Flags::new(),
            });
            continue;
        };
        let references = view.fields("references").next().map(|f| f.raw.as_str());
        let decision = super::filter::decide(
            run,
            view,
            &settings.forwarding,
            arrival.size,
            arrival.meta.envelope.message_id.as_deref(),
            references,
        );
        assessment.targets.extend(decision.targets);
        redirected.extend(decision.redirected_accounts);
        for recipient in decision.remote {
            if !remote
                .iter()
                .any(|r| r.address.eq_ignore_ascii_case(&recipient.address))
            {
                remote.push(recipient);
            }
        }
        assessment.events.extend(decision.events);
        assessment
            .reasons
            .extend(decision.notes.into_iter().map(Reason::Sieve));
        assessment.vacations.extend(decision.vacations);
    }
    for account_id in redirected {
        let already = assessment
            .targets
            .iter()
            .any(|t| t.account_id == account_id && t.folder == FolderChoice::Inbox);
        if !already {
            assessment.targets.push(DeliveryTarget {
                account_id,
                folder: FolderChoice::Inbox,
                flags: storage::Flags::new(),
            });
        }
    }
    assessment.remote = remote;

    // 6. Sent as a unit (a delegate with the send right, or the head): the unit's Sent
    // folder keeps a copy, so the unit's record is complete.
    if let (Some(user), Some(owner)) = (arrival.user, &facts.sender_owner) {
        if owner.account_id != user.account_id {
            assessment.targets.push(DeliveryTarget {
                account_id: owner.account_id,
                folder: FolderChoice::SpecialUse("\\Sent"),
                flags: storage::Flags::from_names([storage::Flags::SEEN]),
            });
            assessment.events.push(storage::NewEvent {
                actor: user.address.clone(),
                action: storage::Action::UnitSend,
                target: owner.address.clone(),
                doc_ref: String::new(),
                detail: serde_json::json!({"recipients": transaction.recipients.len()}),
            });
            assessment.reasons.push(Reason::UnitSentCopy {
                unit: owner.address.clone(),
            });
        }
    }
    assessment
}

/// The local accounts the recipients name, each once.
pub(crate) fn local_accounts(transaction: &Transaction) -> BTreeSet<i64> {
    let mut accounts = BTreeSet::new();
    for recipient in &transaction.recipients {
        if let RecipientTarget::Local(ids) = &recipient.target {
            accounts.extend(ids.iter().copied());
        }
    }
    accounts
}

/// Follows one forward rule: a hosted account gets its own copy (the target's own rule is not
/// followed: one hop, no loops) if it could receive the mail by RCPT (active, room in its
/// quota); an outside address joins the queued recipients if the forwarding policy allows it
/// now. True when the mail was forwarded.
fn apply_forward(
    forward: &ForwardFacts,
    settings: &Settings,
    size: usize,
    accounts: &mut BTreeSet<i64>,
    remote: &mut Vec<OutboundRecipient>,
    assessment: &mut Assessment,
) -> bool {
    let rule = &forward.rule;
    let mut refused = |why: String| {
        assessment.events.push(storage::NewEvent {
            actor: "smtp".into(),
            action: storage::Action::ForwardRefused,
            target: rule.address.clone(),
            doc_ref: rule.doc_ref.clone(),
            detail: serde_json::json!({"target": rule.target, "why": why}),
        });
        assessment.reasons.push(Reason::ForwardRefused {
            address: rule.address.clone(),
            target: rule.target.clone(),
            why,
        });
        false
    };
    let hosted = matches!(forward.target, ForwardTarget::Hosted(_));
    if let Err(why) = check_forward(&settings.forwarding, &rule.target, hosted) {
        return refused(why.to_string());
    }
    let can_receive = |a: &AccountRef| {
        a.status == AccountStatus::Active
            && (a.quota_bytes == 0 || a.used_bytes + size as i64 <= a.quota_bytes)
    };
    let forwarded = match &forward.target {
        ForwardTarget::Outside => {
            if !remote
                .iter()
                .any(|r| r.address.eq_ignore_ascii_case(&rule.target))
            {
                remote.push(OutboundRecipient::new(rule.target.clone()));
            }
            true
        }
        ForwardTarget::Hosted(Resolved::Account(target))
            if target.account_id == rule.account_id =>
        {
            return refused("forwards to itself".to_string())
        }
        ForwardTarget::Hosted(Resolved::Account(target)) if can_receive(target) => {
            accounts.insert(target.account_id);
            true
        }
        ForwardTarget::Hosted(Resolved::Account(_)) => {
            return refused("target mailbox closed or full".to_string())
        }
        ForwardTarget::Hosted(Resolved::Group { members, .. }) => {
            let receiving: Vec<i64> = members
                .iter()
                .filter(|m| m.account_id != rule.account_id && can_receive(m))
                .map(|m| m.account_id)
                .collect();
            accounts.extend(&receiving);
            !receiving.is_empty()
        }
        ForwardTarget::Hosted(Resolved::Unknown) => {
            return refused("no such mailbox here".to_string())
        }
    };
    if forwarded {
        assessment.reasons.push(Reason::Forwarded {
            address: rule.address.clone(),
            target: rule.target.clone(),
        });
    }
    forwarded
}

/// `Return-Path:` and `Received:` (RFC 5321 4.4); `for` only with a single recipient.
fn trace_fields(transaction: &Transaction, trace: &Trace, hostname: &str) -> String {
    let for_clause = match transaction.recipients.as_slice() {
        [only] => format!("\r\n\tfor <{}>", only.address),
        _ => String::new(),
    };
    format!(
        "Return-Path: <{}>\r\nReceived: from {} ({} [{}])\r\n\tby {hostname} with {} id {}{for_clause};\r\n\t{}\r\n",
        transaction.from,
        trace.helo.unwrap_or("unknown"),
        trace.peer,
        trace.peer,
        trace.protocol,
        trace.session_id,
        trace.date,
    )
}

/// `X-Spam-Score:` and `X-Spam-Status:` (SpamAssassin's form).
fn spam_headers(verdict: &spam::Verdict, tag_score: f64) -> String {
    let flag = if verdict.action == Action::Deliver {
        "No"
    } else {
        "Yes"
    };
    let tests = if verdict.tests.is_empty() {
        "NONE".to_string()
    } else {
        verdict.tests.join(",")
    };
    format!(
        "X-Spam-Score: {:.1}\r\nX-Spam-Status: {flag}, score={:.1} required={tag_score:.1} tests={tests}\r\n",
        verdict.score, verdict.score,
    )
}

mod sender;
pub(crate) use sender::Submitter;

#[cfg(test)]
mod tests;
