//! Running the recipients' Sieve scripts while gathering: the active scripts (compiled once
//! per content, cached), the message as scripts see it, the mailboxes `mailboxexists` asks
//! about, the redirect targets and the addresses a vacation needs.

use std::collections::HashSet;
use std::sync::Arc;

use sieve::{Action, Environment, MessageView};
use unicode_normalization::UnicodeNormalization;

use super::filter::SieveRun;
use super::transient;
use crate::codes::Reply;
use crate::session::{RecipientTarget, Session, Transaction};

/// Compiled scripts kept (by script id); the cache is emptied when it is full.
const MAX_CACHED: usize = 10_000;

/// A compiled script, or why it does not compile.
pub(crate) type Compiled = Arc<Result<sieve::Program, sieve::Error>>;

/// Decodes RFC 2047 words of an unstructured field (RFC 5228 2.7.2: `header` compares the
/// decoded text).
fn decode(raw: &str) -> String {
    if !raw.contains("=?") {
        return raw.to_string();
    }
    let line = format!("{raw}\n");
    let value = mail_parser::parsers::MessageStream::new(line.as_bytes()).parse_unstructured();
    value
        .as_text()
        .map_or_else(|| raw.to_string(), str::to_string)
}

/// The recipient address that led to the account (the first, if several did).
fn recipient_of(transaction: &Transaction, account_id: i64) -> String {
    transaction
        .recipients
        .iter()
        .find(|r| matches!(&r.target, RecipientTarget::Local(ids) if ids.contains(&account_id)))
        .map(|r| r.address.clone())
        .unwrap_or_default()
}

/// A mailbox name as IMAP keeps it (NFC; INBOX in any case).
fn canonical(name: &str) -> String {
    let name: String = name.nfc().collect();
    match name.split_once('/') {
        Some((first, rest)) if first.eq_ignore_ascii_case("INBOX") => format!("INBOX/{rest}"),
        None if name.eq_ignore_ascii_case("INBOX") => "INBOX".into(),
        _ => name,
    }
}

impl crate::Context {
    /// The compiled form of a stored script, compiled again only when its content changed.
    pub(crate) fn compiled(&self, script: &storage::SieveScript) -> Compiled {
        let mut cache = self.sieve_cache.lock().unwrap();
        if let Some((content, compiled)) = cache.get(&script.id) {
            if *content == script.content {
                return compiled.clone();
            }
        }
        let compiled = Arc::new(sieve::compile(&script.content, &self.settings.sieve_limits));
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(script.id, (script.content.clone(), compiled.clone()));
        compiled
    }
}

impl Session {
    /// Runs the active script of each of `ids` that has one and records the runs in `facts`.
    /// A storage failure is the reply to give (the sender retries).
    pub(super) async fn run_scripts(
        &self,
        transaction: &Transaction,
        body: &[u8],
        ids: &[i64],
        facts: &mut super::assess::Facts,
    ) -> Result<(), Reply> {
        let store = &self.context.store;
        let fault = |what: &str, e: storage::Error| transient(&self.id, what, &e);
        let scripts = store
            .active_sieve_scripts(ids)
            .await
            .map_err(|e| fault("sieve scripts unreadable", e))?;
        if scripts.is_empty() {
            return Ok(());
        }
        let settings = &self.context.settings;
        let mut view = MessageView {
            headers: MessageView::from_message(body, decode),
            size: body.len() as u64,
            envelope_from: transaction.from.clone(),
            envelope_to: String::new(),
        };
        for script in scripts {
            let account_id = script.account_id;
            let recipient = recipient_of(transaction, account_id);
            let compiled = self.context.compiled(&script);
            let outcome = match compiled.as_ref() {
                Err(error) => Err(error.clone()),
                Ok(program) => {
                    // RFC 5490 3.1: only a script that can ask about mailboxes needs them.
                    let folders: HashSet<String> = if program.required.contains("mailbox") {
                        let folders = store.folders(account_id).await;
                        folders
                            .map_err(|e| fault("folders unreadable", e))?
                            .into_iter()
                            .map(|f| f.name)
                            .collect()
                    } else {
                        HashSet::new()
                    };
                    let exists = |name: &str| folders.contains(&canonical(name));
                    let env = Environment {
                        now: storage::now(),
                        local_zone: settings.sieve_local_zone,
                        mailbox_exists: &exists,
                        limits: &settings.sieve_limits,
                    };
                    view.envelope_to = recipient.clone();
                    sieve::evaluate(program, &view, &env)
                }
            };
            let mut redirects = vec![];
            let mut own_addresses = vec![];
            if let Ok(outcome) = &outcome {
                for action in &outcome.actions {
                    match action {
                        Action::Redirect { address } => {
                            let target = self.forward_target(address).await;
                            let target =
                                target.map_err(|e| fault("redirect target lookup failed", e))?;
                            redirects.push((address.clone(), target));
                        }
                        Action::Vacation(_) => {
                            let own = store.account_addresses(account_id).await;
                            own_addresses = own.map_err(|e| fault("addresses unreadable", e))?;
                        }
                        _ => {}
                    }
                }
            }
            facts.sieve.push(SieveRun {
                account_id,
                recipient,
                script: script.name,
                outcome,
                redirects,
                own_addresses,
            });
        }
        view.envelope_to.clear();
        facts.sieve_view = Some(view);
        Ok(())
    }
}
