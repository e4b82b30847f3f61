//! Commands: the state check, the dispatch to one handler per command family, and the
//! catch-up that follows each command. Each family module is an `impl Session` block.
//!
//! Adding a command: its variant and parser in `protocol` (with the states it is valid in,
//! [`crate::protocol::Command::valid_in`]), its handler in the family module here, and its
//! line in [`Session::apply`].

pub mod append;
pub mod auth;
pub mod catenate;
pub mod fetch;
pub mod fetch_ext;
pub mod idle;
mod junk;
pub mod list;
pub mod mailbox;
mod matching;
pub mod message;
pub mod notify;
pub mod quota_acl;
pub mod search_ext;
pub mod sort;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::encode::{Code, Done};
use crate::protocol::{Command, Tagged, ValidIn};
use crate::state::{Io, Session, State};

/// What the loop does after a command.
pub(crate) enum Next {
    Continue,
    Close,
    StartTls,
}

impl Session {
    /// RFC 9051 6: the refusal of a command not valid in the current state, if it is not.
    /// RFC 3501 3 leaves BAD or NO to the server; we answer BAD.
    fn refusal(&self, command: &Command) -> Option<Done> {
        match (command.valid_in(), &self.state) {
            (ValidIn::Any, _) => None,
            (ValidIn::NotAuthenticated, State::NotAuthenticated) => None,
            (_, State::NotAuthenticated) => Some(Done::bad("Command not valid before login")),
            (ValidIn::NotAuthenticated, _) => Some(Done::bad("Already authenticated")),
            (ValidIn::Selected, State::Authenticated { .. }) => {
                Some(Done::bad("No mailbox selected"))
            }
            (_, State::Logout) => Some(Done::bad("Logging out")),
            _ => None,
        }
    }

    /// Runs one command: the state check, its handler, the report of other sessions' changes,
    /// the tagged line.
    pub(crate) async fn apply<S>(&mut self, io: &mut Io<S>, tagged: Tagged) -> std::io::Result<Next>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let Tagged { tag, command } = tagged;
        let started = std::time::Instant::now();
        let name = command.metric_label();
        if let Some(refusal) = self.refusal(&command) {
            self.finish(&tag, refusal);
            return Ok(if self.count_error() {
                Next::Close
            } else {
                Next::Continue
            });
        }
        // A unit login: the person's rights on the unit, read fresh for this command.
        match self.refresh_view().await {
            crate::shared::ViewCheck::Current => {}
            crate::shared::ViewCheck::Ended => {
                // RFC 9051 7.1.5: BYE, the server is closing the connection.
                self.untagged("BYE Your rights on this unit mailbox have ended");
                return Ok(Next::Close);
            }
            crate::shared::ViewCheck::Fault(done) => {
                self.finish(&tag, done);
                return Ok(Next::Continue);
            }
        }
        // Sequence numbers must not shift under a client's feet (RFC 9051 7.5.1).
        let may_expunge = !command.pins_sequence_numbers();
        // RFC 5267 4.3: updates cease when the mailbox is no longer selected.
        if matches!(
            command,
            Command::Select { .. } | Command::Unselect | Command::Close
        ) {
            self.contexts.clear();
        }
        // RFC 5465 5: this client's own mailbox-list changes are not told back to it.
        let own_names = matches!(
            command,
            Command::Create { .. }
                | Command::Delete { .. }
                | Command::Rename { .. }
                | Command::Subscribe { .. }
                | Command::Unsubscribe { .. }
        );
        let mut next = Next::Continue;
        let done = match command {
            Command::Capability => {
                let caps = self.capabilities();
                self.untagged(&format!("CAPABILITY {caps}"));
                Done::ok("CAPABILITY completed")
            }
            Command::Noop | Command::Check => Done::ok("NOOP completed"),
            Command::Logout => {
                self.untagged("BYE Logging out");
                self.state = State::Logout;
                next = Next::Close;
                Done::ok("LOGOUT completed")
            }
            Command::StartTls => {
                if self.tls || self.context.tls.is_none() {
                    Done::bad("STARTTLS not available")
                } else {
                    next = Next::StartTls;
                    Done::ok("Begin TLS negotiation now")
                }
            }
            Command::Login { user, password } => self.login(&user, &password).await,
            Command::Authenticate { mechanism, initial } => {
                self.authenticate(io, &tag, &mechanism, initial).await?
            }
            Command::Enable(capabilities) => self.enable(&capabilities),
            Command::Id => {
                self.untagged("ID (\"name\" \"govmail\" \"vendor\" \"govmail\")");
                Done::ok("ID completed")
            }
            Command::Namespace => self.namespace(),
            Command::Select {
                mailbox,
                read_only,
                condstore,
                qresync,
            } => self.select(&mailbox, read_only, condstore, qresync).await,
            Command::Unselect => self.unselect(false).await,
            Command::Close => self.unselect(true).await,
            Command::Create {
                mailbox,
                special_use,
            } => self.create(&mailbox, special_use.as_deref()).await,
            Command::Delete { mailbox } => self.delete(&mailbox).await,
            Command::Rename { from, to } => self.rename(&from, &to).await,
            Command::Subscribe { mailbox } => self.subscribe(&mailbox, true).await,
            Command::Unsubscribe { mailbox } => self.subscribe(&mailbox, false).await,
            Command::List {
                reference,
                patterns,
                options,
                lsub,
            } => self.list(&reference, &patterns, &options, lsub).await,
            Command::Status { mailbox, items } => self.status(&mailbox, &items).await,
            Command::Append { mailbox, messages } => self.append(&mailbox, messages).await,
            Command::Notify(set) => self.notify(set).await,
            Command::Expunge { uids } => self.expunge(uids.as_ref()).await,
            Command::Search { uid, criteria, ret } if ret.is_contextual() => {
                self.search_in_context(&tag, uid, &criteria, &ret).await
            }
            Command::Search { uid, criteria, ret } => self.search(&tag, uid, &criteria, &ret).await,
            Command::Sort {
                uid,
                criteria,
                search,
                ret,
            } => self.sort(&tag, uid, &criteria, &search, ret.as_ref()).await,
            Command::Thread {
                uid,
                algorithm,
                search,
            } => self.thread(uid, algorithm, &search).await,
            Command::CancelUpdate { tags } => self.cancel_update(&tags),
            Command::Fetch {
                uid,
                set,
                items,
                changed_since,
                vanished,
            } => {
                self.fetch(io, uid, &set, &items, changed_since, vanished)
                    .await?
            }
            Command::Store {
                uid,
                set,
                mode,
                silent,
                flags,
                unchanged_since,
            } => {
                self.store(uid, &set, mode, silent, &flags, unchanged_since)
                    .await
            }
            Command::Copy { uid, set, mailbox } => self.copy_move(uid, &set, &mailbox, false).await,
            Command::Move { uid, set, mailbox } => self.copy_move(uid, &set, &mailbox, true).await,
            Command::Idle => self.idle(io, &tag).await?,
            Command::GetQuota { root } => self.get_quota(&root).await,
            Command::GetQuotaRoot { mailbox } => self.get_quota_root(&mailbox).await,
            Command::SetQuota { .. } => {
                Done::no_with(Code::NoPerm, "Quotas are set by the administrator")
            }
            Command::GetAcl { mailbox } => self.get_acl(&mailbox).await,
            Command::MyRights { mailbox } => self.my_rights(&mailbox).await,
            Command::ListRights {
                mailbox,
                identifier,
            } => self.list_rights(&mailbox, &identifier).await,
            Command::SetAcl {
                mailbox,
                identifier,
                rights,
            } => self.set_acl(&mailbox, &identifier, Some(&rights)).await,
            Command::DeleteAcl {
                mailbox,
                identifier,
            } => self.set_acl(&mailbox, &identifier, None).await,
        };
        if matches!(next, Next::Continue) {
            self.after_command(io, may_expunge, own_names).await?;
        }
        metrics::histogram!("govmail_imap_command_seconds", "command" => name)
            .record(started.elapsed().as_secs_f64());
        self.finish(&tag, done);
        Ok(next)
    }

    /// Reports changes made by others since the last report (see
    /// [`crate::selected::Selected::catch_up`]).
    pub(crate) async fn sync_selected(&mut self, may_expunge: bool) {
        let (condstore, qresync) = (self.condstore, self.qresync);
        let store = self.context.store.clone();
        let State::Selected { mailbox, .. } = &mut self.state else {
            self.contexts.clear();
            return;
        };
        let old_view = (!self.contexts.is_empty()).then(|| mailbox.uids.clone());
        let lines = mailbox
            .catch_up(&store, condstore, qresync, may_expunge)
            .await;
        // RFC 5267 4.3.3/4.3.4: REMOVEFROM before the EXPUNGEs, ADDTO after the EXISTS.
        let (before, after) = match old_view {
            Some(view) => self.context_updates(&view).await,
            None => (vec![], vec![]),
        };
        for line in before.into_iter().chain(lines).chain(after) {
            self.untagged(&line);
        }
    }
}
