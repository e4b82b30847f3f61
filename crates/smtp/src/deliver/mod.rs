//! What happens to a received message (issue order): antivirus, sender rules, spam, trace
//! headers, then one durable commit for every local copy and the outbound queue entry.
//!
//! Sieve scripts of the recipients run after the virus and spam checks, before the commit
//! ([`filter`] reads their outcome, [`scripts`] runs them, [`vacation`] sends the replies).
//!
//! Three steps, as mox's `analyze.go` and its caller:
//! - gather ([`Session::gather`]): what the decision needs from clamd, storage and DNS, in
//!   check order, stopping as soon as the message is refused;
//! - [`assess`]: the decision, without I/O ([`assess::Assessment`]: verdict, header fields to
//!   prepend, folder, recipients, audit events, named reasons);
//! - act ([`act`]): audit events, the commit, metrics, the reply.
//!
//! Invariants:
//! - A positive reply is produced only after `Store::deliver` has returned, i.e. after the
//!   blob and the rows are durable.
//! - Every storage error answers 451 4.3.0 (452 4.3.1 when the disk is full), never a refusal
//!   and never a delivery that skipped a step (a forward, the unit's copy, an audit event).

mod act;
pub(crate) mod assess;
mod attachments;
mod filter;
pub(crate) mod scripts;
mod vacation;

use policy::antivirus;
use storage::{MessageMeta, Resolved};

use crate::codes::*;
use crate::listener_kind::ListenerKind;
use crate::session::Session;
use assess::{assess, Arrival, Facts, ForwardFacts, ForwardTarget, Scan, SpamCheck, Trace};

fn rfc2822_now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default()
}

/// Logs a storage failure in a transaction and gives its reply (see [`storage_fault`]).
pub(crate) fn transient(session: &impl std::fmt::Display, what: &str, e: &storage::Error) -> Reply {
    tracing::error!(session = %session, error = %e, "{what}");
    storage_fault(e, "Local error in processing, try again later")
}

impl Session {
    /// Processes a complete message and returns the reply for it. Always ends the transaction.
    pub(crate) async fn accept_message(&mut self, body: Vec<u8>) -> Reply {
        let Some(transaction) = self.transaction.take() else {
            return reply(C503_SEQUENCE, "No transaction");
        };
        let scanning = self.scanning.take();
        self.n_messages += 1;
        let meta = if body.len() > 256 * 1024 {
            let copy = body.clone();
            tokio::task::spawn_blocking(move || MessageMeta::compute(&copy))
                .await
                .unwrap_or_default()
        } else {
            MessageMeta::compute(&body)
        };
        let date = rfc2822_now();
        let protocol = match (self.esmtp, self.tls, self.auth.is_some()) {
            (false, _, _) => "SMTP",
            (true, false, false) => "ESMTP",
            (true, true, false) => "ESMTPS",
            (true, false, true) => "ESMTPA",
            (true, true, true) => "ESMTPSA",
        };
        let arrival = Arrival {
            transaction: &transaction,
            user: self.auth.as_ref(),
            from_outside: self.kind == ListenerKind::Mx && self.auth.is_none(),
            meta: &meta,
            size: body.len(),
            trace: Trace {
                session_id: &self.id,
                helo: self.helo.as_deref(),
                peer: self.peer.ip(),
                protocol,
                date: &date,
            },
        };
        let facts = match self.gather(&arrival, &body, scanning).await {
            Ok(facts) => facts,
            Err(reply) => return reply,
        };
        let assessment = assess(&arrival, &facts, &self.context.settings);
        self.act(&transaction, body, meta, assessment).await
    }

    /// The facts the assessment needs, in check order; once the assessment so far refuses
    /// the message, later facts cannot change that and are not looked up (no lookups, DNS
    /// queries or spam score for a virus). A storage failure is the reply to give.
    ///
    /// The virus scan (streamed while the message arrived, see [`Session::scan`]) and the spam
    /// analysis of mail from outside (SPF/DKIM/DMARC queries, then the score) run together;
    /// their results are read in check order.
    async fn gather(
        &self,
        arrival: &Arrival<'_>,
        body: &[u8],
        scanning: Option<antivirus::StreamScan>,
    ) -> Result<Facts, Reply> {
        let context = &self.context;
        let settings = &context.settings;
        let store = &context.store;
        let transaction = arrival.transaction;
        let refused = |facts: &Facts| assess::refusal(arrival, facts, settings).is_some();
        let fault = |what: &str, e: storage::Error| transient(&self.id, what, &e);

        let spam_analysis = async {
            if !arrival.from_outside {
                return None;
            }
            let auth = match &context.authenticator {
                Some(authenticator) => Some(
                    authenticator
                        .check(
                            body,
                            arrival.trace.peer,
                            arrival.trace.helo.unwrap_or(""),
                            &transaction.from,
                            &settings.hostname,
                        )
                        .await,
                ),
                None => None,
            };
            let accounts = assess::local_accounts(transaction);
            let verdict = crate::spamcheck::judge(
                context,
                &transaction.from,
                arrival.trace.peer,
                body,
                &accounts,
                auth.as_ref(),
            )
            .await;
            Some(SpamCheck { auth, verdict })
        };
        let (scan, spam) = tokio::join!(self.scan(body, scanning), spam_analysis);
        // 1. Antivirus: every message, received or submitted.
        let mut facts = Facts {
            scan,
            ..Facts::default()
        };
        if refused(&facts) {
            return Ok(facts);
        }
        // 1b. Dangerous attachments (issue 18): what the parts declare and contain.
        facts.attachment = attachments::inspect(&settings.attachments, body, arrival.meta);
        if refused(&facts) {
            return Ok(facts);
        }
        // 2. Submission: the addresses the user may send as.
        if let Some(user) = arrival.user {
            let sendable = self.sendable_for(user).await;
            let sendable = sendable.map_err(|e| fault("sender lookup failed", e))?;
            facts.sendable = Some(sendable.unwrap_or_default());
            facts.submitter = Some(
                self.submitter(user, arrival.meta)
                    .await
                    .map_err(|e| fault("sender lookup failed", e))?,
            );
            if refused(&facts) {
                return Ok(facts);
            }
        }
        // 3. Mail from outside: SPF/DKIM/DMARC, then the spam score.
        if let Some(check) = spam {
            metrics::histogram!("govmail_spam_score").record(check.verdict.score);
            facts.spam = Some(check);
            if refused(&facts) {
                return Ok(facts);
            }
        }
        // 4. The recipients' forward rules (never followed for junk) with their targets.
        let ids: Vec<i64> = assess::local_accounts(transaction).into_iter().collect();
        if !facts.junk() && !ids.is_empty() {
            let rules = store.forwards_for(&ids).await;
            for rule in rules.map_err(|e| fault("forward rules unreadable", e))? {
                // A lookup failure is passing: the whole delivery is retried, never forwarded
                // elsewhere.
                let target = self.forward_target(&rule.target).await;
                let target = target.map_err(|e| fault("forward target lookup failed", e))?;
                facts.forwards.push(ForwardFacts { rule, target });
            }
        }
        // 5. The recipients' Sieve scripts (never for junk): run here, without I/O, because the
        // redirect targets they name (and, for a vacation, the account's addresses) must be
        // looked up; the assessment reads their outcome.
        if !facts.junk() && !ids.is_empty() {
            self.run_scripts(transaction, body, &ids, &mut facts)
                .await?;
        }
        // 6. Submission: whose the envelope sender is (sent as a unit?).
        if arrival.user.is_some() {
            let owner = store.resolve(&transaction.from).await;
            if let Resolved::Account(owner) = owner.map_err(|e| fault("sender lookup failed", e))? {
                facts.sender_owner = Some(owner);
            }
        }
        Ok(facts)
    }

    /// Who submits (name, own addresses) and whose the From: addresses are (RFC 5322 3.6.2).
    async fn submitter(
        &self,
        user: &crate::session::AuthUser,
        meta: &MessageMeta,
    ) -> Result<assess::Submitter, storage::Error> {
        let store = &self.context.store;
        let mut submitter = assess::Submitter {
            own: vec![storage::normalize_address(&user.address)],
            ..Default::default()
        };
        match store.person(&user.address).await {
            Ok(person) => {
                submitter.name = Some(person.full_name);
                submitter
                    .own
                    .extend(person.aliases.iter().map(|a| storage::normalize_address(a)));
            }
            Err(storage::Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        for address in meta
            .envelope
            .from
            .iter()
            .filter_map(|a| a.address.as_deref())
        {
            submitter
                .author_accounts
                .push(match store.resolve(address).await? {
                    Resolved::Account(account) => Some(account.account_id),
                    _ => None,
                });
        }
        Ok(submitter)
    }

    /// The message's virus scan, once whatever the number of recipients: the streamed scan
    /// when it saw exactly this message, else a scan of the whole message.
    async fn scan(&self, body: &[u8], scanning: Option<antivirus::StreamScan>) -> Scan {
        let Some(clamd) = &self.context.clamd else {
            return Scan::Off;
        };
        let result = match scanning {
            Some(scan) if scan.pushed() == body.len() => scan.finish(body).await,
            _ => clamd.scan(body).await,
        };
        match result {
            Ok(antivirus::Verdict::Clean) => Scan::Clean,
            Ok(antivirus::Verdict::Infected(signature)) => Scan::Infected(signature),
            Err(e) => {
                tracing::warn!(session = %self.id, error = %e, "antivirus scan failed");
                Scan::Failed
            }
        }
    }

    /// Where a forward target lives: a hosted domain (resolved) or outside.
    pub(super) async fn forward_target(
        &self,
        target: &str,
    ) -> Result<ForwardTarget, storage::Error> {
        let domain = target.rsplit_once('@').map_or("", |(_, d)| d);
        Ok(if self.context.is_local_domain(domain).await? {
            ForwardTarget::Hosted(self.context.store.resolve(target).await?)
        } else {
            ForwardTarget::Outside
        })
    }
}
