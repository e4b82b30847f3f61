//! What a session knows, and the helpers every command uses: the [`Session`] value (the
//! connection's facts, the RFC 9051 3 state enum with each state's data, the extensions the
//! client enabled, the response buffer), mailbox names in the client's form, the selected
//! mailbox's sequence numbers, and the mapping of storage faults to responses.
//!
//! Layering: `protocol` (parse) → `encode` → `names`, `selected` → this module → `shared`
//! → `cmd` (one module per command family) → `session` (framing and the command loop).

use std::net::SocketAddr;
use std::sync::Arc;

use storage::MessageRow;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use crate::encode::{self, Code, Done, Status};
use crate::protocol::{SeqBound, SequenceSet};
use crate::selected::Selected;
use crate::Context;

/// The logged-in user: the person who acts (and is audited, throttled, revoked), and the
/// account whose folders the session shows at the root.
#[derive(Debug, Clone)]
pub struct User {
    /// The acting person's account.
    pub account_id: i64,
    pub address: String,
    /// The person's session epoch at login: a higher one ends this session.
    pub epoch: i64,
    pub view: AccountView,
}

/// Whose mailbox is the session's whole account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountView {
    /// The person's own mailbox (with the unit mailboxes shared with them under `Đơn vị/`).
    Own,
    /// A `UNIT*PERSON` login: acting person P on the unit mailbox U with rights R. The unit's
    /// folders are the root; no shared namespace. R is re-read before every command (and
    /// whenever the person's account changes): a session whose person lost `l` ends.
    Unit {
        account_id: i64,
        address: String,
        /// The unit's session epoch at login: a higher one ends this session.
        epoch: i64,
        rights: String,
    },
}

impl User {
    /// The account whose folders are the personal namespace (the root).
    pub fn home(&self) -> i64 {
        match &self.view {
            AccountView::Own => self.account_id,
            AccountView::Unit { account_id, .. } => *account_id,
        }
    }

    /// The user's rights on the root folders: every right on their own, the delegated ones on
    /// a unit's.
    pub fn home_rights(&self) -> &str {
        match &self.view {
            AccountView::Own => storage::RIGHTS_HEAD,
            AccountView::Unit { rights, .. } => rights,
        }
    }

    /// In a unit view: the unit's address (for the audit log).
    pub fn unit_address(&self) -> Option<&str> {
        match &self.view {
            AccountView::Own => None,
            AccountView::Unit { address, .. } => Some(address),
        }
    }

    /// True for a `UNIT*PERSON` login.
    pub fn unit_view(&self) -> bool {
        self.view != AccountView::Own
    }

    /// What ends this login: the person's epoch and, in a unit view, the unit's epoch and the
    /// person's rights there (see [`wait_revoked`]).
    pub(crate) fn login_watch(&self, store: &storage::Store) -> LoginWatch {
        LoginWatch {
            person: (self.account_id, self.epoch),
            unit: match &self.view {
                AccountView::Own => None,
                AccountView::Unit {
                    account_id,
                    address,
                    epoch,
                    ..
                } => Some((*account_id, address.clone(), *epoch)),
            },
            store: store.clone(),
        }
    }
}

/// What [`wait_revoked`] watches for one login.
pub(crate) struct LoginWatch {
    /// (person account, epoch at login).
    person: (i64, i64),
    /// In a unit view: (unit account, unit address, unit epoch at login).
    unit: Option<(i64, String, i64)>,
    store: storage::Store,
}

/// RFC 9051 3: the connection states, each with its data.
pub enum State {
    NotAuthenticated,
    Authenticated { user: User },
    Selected { user: User, mailbox: Box<Selected> },
    Logout,
}

impl State {
    pub fn user(&self) -> Option<&User> {
        match self {
            State::Authenticated { user } | State::Selected { user, .. } => Some(user),
            _ => None,
        }
    }

    pub fn user_mut(&mut self) -> Option<&mut User> {
        match self {
            State::Authenticated { user } | State::Selected { user, .. } => Some(user),
            _ => None,
        }
    }
}

/// One IMAP connection's session. Built by [`Session::new`], driven by [`Session::run`]
/// (both in `session`); commands are `impl Session` blocks in `cmd`.
pub struct Session {
    pub(crate) context: Arc<Context>,
    pub(crate) peer: SocketAddr,
    pub(crate) id: String,
    pub(crate) tls: bool,
    pub(crate) greeted: bool,
    pub(crate) state: State,
    /// ENABLE CONDSTORE / QRESYNC / UTF8=ACCEPT (RFC 5161).
    pub(crate) condstore: bool,
    /// ENABLE QRESYNC: VANISHED instead of EXPUNGE, SELECT (QRESYNC ...) (RFC 7162).
    pub(crate) qresync: bool,
    pub(crate) utf8: bool,
    /// ENABLE IMAP4rev2 (RFC 9051 6.3.1): SEARCH answers ESEARCH, no \Recent or RECENT.
    pub(crate) rev2: bool,
    pub(crate) n_errors: usize,
    pub(crate) shutdown: listener::ShutdownSignal,
    pub(crate) revocations: tokio::sync::broadcast::Receiver<(i64, i64)>,
    /// Responses waiting to be written.
    pub(crate) out: Vec<u8>,
    /// When the connection was accepted: a session must log in within the login timeout.
    pub(crate) connected_at: tokio::time::Instant,
    /// RFC 5267 update contexts of the selected mailbox (SEARCH/SORT `RETURN (UPDATE)`).
    pub(crate) contexts: crate::sort::context::Contexts,
    /// RFC 5465 NOTIFY SET in force (see `cmd::notify`).
    pub(crate) notify: Option<Box<crate::notify::Watch>>,
    /// What the running FETCH needs for PREVIEW, SAVEDATE, EMAILID (see `cmd::fetch_ext`).
    pub(crate) fetch_ext: crate::objects::FetchExt,
}

pub(crate) type Io<S> = BufReader<S>;

impl Session {
    /// True when LOGIN/AUTHENTICATE may be used (RFC 9051 6.2.3: not in cleartext).
    pub(crate) fn login_allowed(&self) -> bool {
        self.tls || (self.context.settings.allow_plaintext_loopback && self.peer.ip().is_loopback())
    }

    pub fn capabilities(&self) -> String {
        let mut caps = vec!["IMAP4rev1", "IMAP4rev2"];
        if !self.tls && self.context.tls.is_some() {
            caps.push("STARTTLS");
        }
        if self.login_allowed() {
            caps.extend(["AUTH=PLAIN", "SASL-IR"]);
        } else {
            caps.push("LOGINDISABLED");
        }
        caps.extend([
            "LITERAL+",
            "ENABLE",
            "ID",
            "IDLE",
            "NAMESPACE",
            "UIDPLUS",
            "MOVE",
            "UNSELECT",
            "CHILDREN",
            "SPECIAL-USE",
            "CREATE-SPECIAL-USE",
            "LIST-EXTENDED",
            "LIST-STATUS",
            "CONDSTORE",
            "QRESYNC",
            "ESEARCH",
            // RFC 5256, RFC 5957, RFC 5267.
            "SORT",
            "SORT=DISPLAY",
            "THREAD=ORDEREDSUBJECT",
            "THREAD=REFERENCES",
            "ESORT",
            "CONTEXT=SEARCH",
            "CONTEXT=SORT",
            "QUOTA",
            "QUOTA=RES-STORAGE",
            "UTF8=ACCEPT",
            "STATUS=SIZE",
            "ACL",
            "BINARY",
            "MULTIAPPEND",
            "CATENATE",
            "NOTIFY",
            "PREVIEW",
            "OBJECTID",
            "SAVEDATE",
            "LIST-MYRIGHTS",
        ]);
        let mut text = caps.join(" ");
        text.push_str(&format!(
            " APPENDLIMIT={}",
            self.context.settings.max_literal
        ));
        text
    }

    /// Queues `* text` and CRLF.
    pub(crate) fn untagged(&mut self, text: &str) {
        self.out.extend_from_slice(b"* ");
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    /// Queues `* OK [code] text` (or NO, BAD).
    pub(crate) fn untagged_status(&mut self, status: Status, code: Option<&Code>, text: &str) {
        self.untagged(&encode::untagged_status(status, code, text));
    }

    /// Queues the tagged line that ends a command.
    pub(crate) fn finish(&mut self, tag: &str, done: Done) {
        done.write_tagged(tag, &mut self.out);
    }

    pub(crate) async fn flush<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut Io<S>,
    ) -> std::io::Result<()> {
        if !self.out.is_empty() {
            io.get_mut().write_all(&self.out).await?;
            io.get_mut().flush().await?;
            self.out.clear();
            if self.out.capacity() > 64 * 1024 {
                self.out = Vec::with_capacity(256);
            }
        }
        Ok(())
    }

    /// Counts a protocol error; true when the connection should be closed.
    pub(crate) fn count_error(&mut self) -> bool {
        self.n_errors += 1;
        if self.n_errors >= self.context.settings.max_errors {
            self.untagged("BYE Too many protocol errors");
            return true;
        }
        false
    }

    pub(crate) fn user(&self) -> Option<User> {
        self.state.user().cloned()
    }

    /// A client's mailbox name to ours (see [`crate::names::decode`]).
    pub(crate) fn decode_name(&self, raw: &str) -> Result<String, Done> {
        crate::names::decode(raw, self.utf8)
    }

    /// [`Session::decode_name`] without normalisation: the name exactly as the client sent it.
    pub(crate) fn decode_name_raw(&self, raw: &str) -> Result<String, Done> {
        crate::names::decode_raw(raw, self.utf8)
    }

    /// Our mailbox name as the client reads it, quoted.
    pub(crate) fn encode_name(&self, name: &str) -> String {
        crate::names::encode(name, self.utf8)
    }

    /// Maps a storage failure to the tagged NO (logged): user errors keep their response code,
    /// passing faults answer [UNAVAILABLE] (RFC 5530) so the client retries.
    pub(crate) fn server_error(&self, error: storage::Error) -> Done {
        tracing::warn!(session = %self.id, error = %error, "storage error");
        match error {
            storage::Error::OverQuota => Done::no_with(Code::OverQuota, "Quota exceeded"),
            storage::Error::AlreadyExists(_) => {
                Done::no_with(Code::AlreadyExists, "Mailbox already exists")
            }
            storage::Error::NotFound(_) => Done::no_with(Code::NonExistent, "No such mailbox"),
            // RFC 5530 UNAVAILABLE: a passing fault (database, disk full); the client retries.
            e if e.is_storage_full() => {
                Done::no_with(Code::Unavailable, "Server storage is full, try again later")
            }
            e if e.is_transient() => Done::no_with(
                Code::Unavailable,
                "Temporary storage failure, try again later",
            ),
            _ => Done::no_with(Code::ServerBug, "Internal error, try again"),
        }
    }

    /// (folder id, read-only, UIDVALIDITY) of the selected mailbox.
    pub(crate) fn selected_ids(&self) -> Option<(i64, bool, i64)> {
        match &self.state {
            State::Selected { mailbox, .. } => {
                Some((mailbox.folder_id, mailbox.read_only, mailbox.uidvalidity))
            }
            _ => None,
        }
    }

    pub(crate) fn seq_of(&self, uid: i64) -> Option<usize> {
        match &self.state {
            State::Selected { mailbox, .. } => mailbox.seq_of(uid),
            _ => None,
        }
    }

    /// The UIDs a set names, ascending. Sequence numbers beyond the mailbox are an error.
    pub(crate) fn resolve(&self, set: &SequenceSet, uid: bool) -> Result<Vec<i64>, Done> {
        let State::Selected { mailbox, .. } = &self.state else {
            return Err(Done::bad("No mailbox selected"));
        };
        let n = mailbox.uids.len() as i64;
        if uid {
            let max = mailbox.max_uid();
            return Ok(mailbox
                .uids
                .iter()
                .copied()
                .filter(|u| crate::search::in_set(set, *u, max))
                .collect());
        }
        for (a, b) in &set.0 {
            for bound in [a, b] {
                if let SeqBound::Value(v) = bound {
                    if *v as i64 > n || *v == 0 {
                        return Err(Done::bad("Invalid message sequence number"));
                    }
                }
            }
        }
        Ok(mailbox
            .uids
            .iter()
            .enumerate()
            .filter(|(i, _)| crate::search::in_set(set, *i as i64 + 1, n))
            .map(|(_, u)| *u)
            .collect())
    }

    /// RFC 7162 3.1: a CONDSTORE enabling command (FETCH or SEARCH naming MODSEQ, FETCH
    /// CHANGEDSINCE, STORE UNCHANGEDSINCE, STATUS HIGHESTMODSEQ) switches CONDSTORE on; the
    /// first one while a mailbox is selected reports its HIGHESTMODSEQ in an untagged OK, the
    /// highest MODSEQ whose changes this session has been told about.
    pub(crate) fn enable_condstore(&mut self) {
        if std::mem::replace(&mut self.condstore, true) {
            return;
        }
        if let State::Selected { mailbox, .. } = &self.state {
            let code = Code::HighestModSeq(mailbox.modseq_seen);
            self.untagged_status(Status::Ok, Some(&code), "Highest");
        }
    }

    /// Before a FETCH response shows `flags`: untagged FLAGS and PERMANENTFLAGS naming the
    /// keywords among them this session has not been told about (RFC 9051 7.3.5, 2.3.2).
    pub(crate) fn announce_keywords(&mut self, flags: &storage::Flags) {
        let lines = match &mut self.state {
            State::Selected { mailbox, .. } => mailbox.keyword_updates(flags),
            _ => return,
        };
        for line in lines {
            self.untagged(&line);
        }
    }

    /// True when the message is \Recent in this session (RFC 3501 2.3.2).
    pub(crate) fn is_recent(&self, uid: i64) -> bool {
        match &self.state {
            State::Selected { mailbox, .. } => mailbox.is_recent(uid),
            _ => false,
        }
    }

    /// Remembers changes this session reported itself.
    pub(crate) fn note_own_changes(&mut self, rows: &[MessageRow]) {
        if let State::Selected { mailbox, .. } = &mut self.state {
            mailbox.own_modseqs.extend(rows.iter().map(|r| r.modseq));
        }
    }

    /// Remembers a change this session reports itself by MODSEQ (0: none).
    pub(crate) fn note_own_modseq(&mut self, modseq: i64) {
        if let State::Selected { mailbox, .. } = &mut self.state {
            if modseq > 0 {
                mailbox.own_modseqs.push(modseq);
            }
        }
    }

    /// Reports expunged UIDs (EXPUNGE or VANISHED) and drops them from the view.
    pub(crate) fn report_expunged(&mut self, uids: &[i64]) {
        let qresync = self.qresync;
        let mut lines = vec![];
        if let State::Selected { mailbox, .. } = &mut self.state {
            // RFC 5267 4.3.4: REMOVEFROM before the EXPUNGE, in the numbering it changes.
            if !self.contexts.is_empty() {
                lines = self.contexts.forget(uids, &mailbox.uids);
            }
            lines.extend(mailbox.forget(uids, qresync));
        }
        for line in lines {
            self.untagged(&line);
        }
    }
}

/// Resolves when the login's sessions must end; never when nobody is logged in. A unit view
/// also ends when the unit's epoch grows, and when a change of the person's account (a
/// revoke, a grant changed) leaves them without `l` on the unit (KT-8: revocation applies to
/// open sessions).
pub(crate) async fn wait_revoked(
    revocations: &mut tokio::sync::broadcast::Receiver<(i64, i64)>,
    watch: Option<LoginWatch>,
) {
    let Some(watch) = watch else {
        return std::future::pending().await;
    };
    let (person, epoch) = watch.person;
    loop {
        match revocations.recv().await {
            Ok((id, new_epoch)) if id == person && new_epoch > epoch => return,
            Ok((id, new_epoch)) => {
                let Some((unit, address, unit_epoch)) = &watch.unit else {
                    continue;
                };
                if id == *unit && new_epoch > *unit_epoch {
                    return;
                }
                if id == person || id == *unit {
                    // A passing storage fault keeps the session; the next command re-reads.
                    if let Ok(access) = watch.store.unit_access(address, person).await {
                        if !access.is_some_and(|a| a.rights.contains('l')) {
                            return;
                        }
                    }
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => return std::future::pending().await,
        }
    }
}
