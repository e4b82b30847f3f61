//! NOTIFY (RFC 5465): which events of which mailboxes the client hears about, told as they
//! happen — between commands, during IDLE and at command boundaries — from the store's change
//! notifications (the ones IDLE uses) plus the 30 s poll for other processes.
//!
//! - The selected mailbox: with a `selected` group, EXISTS/EXPUNGE/FETCH are sent as they
//!   happen (RFC 5465 6.1.1); with `selected-delayed`, expunges wait for a command that
//!   allows them (6.1.2); MessageNew's FETCH items follow the EXISTS (5.2). Without either,
//!   the view stays as it is (3.1).
//! - Other mailboxes: STATUS for message events (5.1-5.3), LIST for MailboxName (5.4, with
//!   `\NonExistent` or OLDNAME) and SubscriptionChange (5.5), worded by comparing the folder
//!   with what was last reported. Changes this client made are not told back (RFC 5465 5:
//!   SHOULD): APPEND, COPY/MOVE targets and its own CREATE/DELETE/RENAME/SUBSCRIBE update the
//!   record silently.
//! - Bounded: more than `notify_max_pending` folders changed or lines to send at once gives
//!   `* OK [NOTIFICATIONOVERFLOW]` and notifications stop, as after NOTIFY NONE (5.8).

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use storage::Folder;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite};

use crate::encode::strings::quote;
use crate::encode::{Code, Done, Status};
use crate::names::SHARED_ROOT;
use crate::notify::{self, Candidate, Events, Filter, Snapshot, Watch};
use crate::protocol::{
    FetchItem, MailboxFilter, NotifySet, Section, SectionText, SeqBound, SequenceSet, StatusItem,
};
use crate::state::{Io, Session, State};

/// Fallback poll for changes made by other processes (as IDLE's; shorter while the change
/// fan-out across nodes is down, `Store::poll_wait`).
const POLL: Duration = Duration::from_secs(30);
/// Most mailbox names in one NOTIFY SET.
const MAX_NAMES: usize = 1000;

/// Why the wait between commands ended.
pub(crate) enum Wake {
    /// The client is sending (or closed the connection).
    Input,
    /// The session must end with this untagged line.
    Stop(&'static str),
}

impl Session {
    /// NOTIFY SET / NOTIFY NONE.
    pub(crate) async fn notify(&mut self, set: Option<NotifySet>) -> Done {
        let Some(set) = set else {
            self.notify = None;
            return Done::ok("NOTIFY completed");
        };
        let Some(user) = self.user() else {
            return Done::bad("Not authenticated");
        };
        // RFC 5465 3.1: unsupported events are NO (not BAD) with the supported ones listed.
        if !notify::unsupported(&set.groups).is_empty() {
            return Done::no_with(
                Code::BadEvent(notify::SUPPORTED.to_vec()),
                "Unsupported event",
            );
        }
        let names: usize = set
            .groups
            .iter()
            .map(|g| match &g.filter {
                MailboxFilter::Subtree(n) | MailboxFilter::Mailboxes(n) => n.len(),
                _ => 0,
            })
            .sum();
        if names > MAX_NAMES {
            // RFC 5465 3.1: "prohibitively expensive".
            return Done::no_with(
                Code::NotificationOverflow,
                format!("At most {MAX_NAMES} mailbox names"),
            );
        }
        let utf8 = self.utf8;
        let groups = notify::compile(&set.groups, |raw| crate::names::decode(raw, utf8).ok());
        let store = self.context.store.clone();
        // Subscribed before the folders are read: nothing changed in between is missed.
        let changes = store.subscribe_changes();
        let mut watch = Watch {
            groups,
            status: set.status,
            changes,
            folders: HashMap::new(),
            accounts: HashMap::from([(user.home(), None)]),
            pending: BTreeSet::new(),
            rescan: BTreeSet::new(),
        };
        if watch.names_shared() && !user.unit_view() {
            match store.grants_for(user.account_id).await {
                Ok(grants) => {
                    for grant in grants {
                        if let Some(unit) = grant.unit.filter(|_| grant.rights.contains('l')) {
                            watch.accounts.insert(grant.owner_account_id, Some(unit));
                        }
                    }
                }
                Err(e) => return self.server_error(e),
            }
        }
        let accounts: Vec<i64> = watch.accounts.keys().copied().collect();
        for account in accounts {
            match store.folders(account).await {
                Ok(folders) => {
                    for folder in folders {
                        if let Some(snapshot) = watch.snapshot_of(&folder) {
                            watch.folders.insert(folder.id, snapshot);
                        }
                    }
                }
                Err(e) => return self.server_error(e),
            }
        }
        self.no_access_lines(&watch).await;
        if watch.status {
            self.status_lines(&watch).await;
        }
        // RFC 5465 3.1: "A successful NOTIFY SET command MUST cause the server to immediately
        // return any accumulated changes to the currently selected mailbox" — whatever the
        // new set says about the selected mailbox from now on.
        self.notify = None;
        self.sync_selected(true).await;
        self.notify = Some(Box::new(watch));
        Done::ok("NOTIFY completed")
    }

    /// RFC 5465 3.1: a named mailbox the user may list but not read, for message events, gets
    /// `LIST (\NoAccess)`. Names that do not exist (or cannot be listed) are ignored.
    async fn no_access_lines(&mut self, watch: &Watch) {
        let mut named = vec![];
        for group in &watch.groups {
            if let (Filter::Mailboxes(names) | Filter::Subtree(names), true) =
                (&group.filter, group.events.any_message())
            {
                named.extend(names.iter().cloned());
            }
        }
        for name in named {
            if !name.starts_with(&format!("{SHARED_ROOT}/")) {
                continue;
            }
            let client = self.client_name(&name);
            if let Ok(mailbox) = self.resolve_folder(&client).await {
                if !mailbox.rights.contains('r') {
                    let line = format!("LIST (\\NoAccess) \"/\" {}", self.encode_name(&name));
                    self.untagged(&line);
                }
            }
        }
    }

    /// RFC 5465 3.1, the STATUS indicator: a STATUS for each watched mailbox (not the
    /// selected one) with message events — MESSAGES, UIDNEXT and UIDVALIDITY for
    /// MessageNew/MessageExpunge, UIDVALIDITY and HIGHESTMODSEQ for FlagChange.
    async fn status_lines(&mut self, watch: &Watch) {
        let selected = self.selected_ids().map(|(id, _, _)| id);
        let user = self.user().map(|u| u.home()).unwrap_or_default();
        let mut folders: Vec<(&i64, &Snapshot)> = watch.folders.iter().collect();
        folders.sort_by(|a, b| a.1.display.cmp(&b.1.display));
        for (&id, snapshot) in folders {
            if Some(id) == selected {
                continue;
            }
            let Some(events) = watch.events_for(&candidate(snapshot, user)) else {
                continue;
            };
            if !events.any_message() || !self.may_read(snapshot.account_id, user).await {
                continue;
            }
            if let Ok(folder) = self.context.store.folder_by_id(id).await {
                let items = status_items(events, true, self.condstore);
                // A STATUS that cannot be looked up now is dropped, as LIST-STATUS may.
                let _ = self.status_line(&folder, &snapshot.display, &items).await;
            }
        }
    }

    /// True when the acting person may read a watched account's folders (`r`; their own
    /// always). `_home` is the session's root account (the unit's in a unit login, whose
    /// rights are the person's delegated ones, read here fresh).
    async fn may_read(&self, account_id: i64, _home: i64) -> bool {
        let Some(person) = self.user().map(|u| u.account_id) else {
            return false;
        };
        account_id == person
            || self
                .context
                .store
                .rights(account_id, person)
                .await
                .is_ok_and(|r| r.contains('r') && r.contains('l'))
    }

    /// Our name in the client's spelling (for resolve_folder).
    fn client_name(&self, name: &str) -> String {
        if self.utf8 || name.is_ascii() {
            name.to_string()
        } else {
            crate::protocol::mutf7::encode(name)
        }
    }

    /// After a command: what changed, told as NOTIFY asks (or the plain catch-up without
    /// NOTIFY). `own_names`: the command changed the user's mailbox list or subscriptions,
    /// which is not told back.
    pub(crate) async fn after_command<S>(
        &mut self,
        io: &mut Io<S>,
        may_expunge: bool,
        own_names: bool,
    ) -> std::io::Result<()>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        if self.notify.is_none() {
            self.sync_selected(may_expunge).await;
            return Ok(());
        }
        if own_names {
            self.absorb_names().await;
        }
        self.notify_pump(io, may_expunge, false).await
    }

    /// Changes this session made to these folders' messages are not told back.
    pub(crate) async fn notify_absorb(&mut self, folder_ids: &[i64]) {
        let Some(mut watch) = self.notify.take() else {
            return;
        };
        watch.drain();
        for &id in folder_ids {
            if let Ok(folder) = self.context.store.folder_by_id(id).await {
                if let Some(mut snapshot) = watch.snapshot_of(&folder) {
                    if let Some(old) = watch.folders.get(&id) {
                        // Only the message counters are absorbed here.
                        snapshot.display = old.display.clone();
                        snapshot.subscribed = old.subscribed;
                    }
                    watch.folders.insert(id, snapshot);
                }
            }
        }
        self.notify = Some(watch);
    }

    /// The user's own mailbox list and subscriptions as they are now, recorded without
    /// telling (this client changed them); message counters are kept for the pump.
    async fn absorb_names(&mut self) {
        let Some(mut watch) = self.notify.take() else {
            return;
        };
        let user = self.user().map(|u| u.home()).unwrap_or_default();
        watch.drain();
        if let Ok(folders) = self.context.store.folders(user).await {
            let ids: BTreeSet<i64> = folders.iter().map(|f| f.id).collect();
            watch
                .folders
                .retain(|id, s| s.account_id != user || ids.contains(id));
            for folder in folders {
                let Some(mut snapshot) = watch.snapshot_of(&folder) else {
                    continue;
                };
                if let Some(old) = watch.folders.get(&folder.id) {
                    snapshot.uidvalidity = old.uidvalidity;
                    snapshot.uidnext = old.uidnext;
                    snapshot.highestmodseq = old.highestmodseq;
                }
                watch.folders.insert(folder.id, snapshot);
            }
        }
        self.notify = Some(watch);
    }

    /// Between commands: sends notifications as changes come, until the client sends
    /// something (nothing of a command is read here, so a partial command never loses
    /// bytes).
    pub(crate) async fn notify_wait<S>(
        &mut self,
        io: &mut Io<S>,
        idle: Duration,
    ) -> std::io::Result<Wake>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let deadline = tokio::time::Instant::now() + idle;
        loop {
            self.flush(io).await?;
            let account = self
                .state
                .user()
                .map(|u| u.login_watch(&self.context.store));
            let mut shutdown = self.shutdown.clone();
            let mut revoked = self.revocations.resubscribe();
            let store = self.context.store.clone();
            let Some(watch) = self.notify.as_mut() else {
                return Ok(Wake::Input);
            };
            enum Event {
                Input(std::io::Result<()>),
                Change(Result<storage::FolderChange, tokio::sync::broadcast::error::RecvError>),
                Poll,
                Deadline,
                Shutdown,
                Revoked,
            }
            let event = tokio::select! {
                read = io.fill_buf() => Event::Input(read.map(|_| ())),
                change = watch.changes.recv() => Event::Change(change),
                _ = store.poll_wait(POLL) => Event::Poll,
                _ = tokio::time::sleep_until(deadline) => Event::Deadline,
                _ = shutdown.changed() => Event::Shutdown,
                _ = crate::state::wait_revoked(&mut revoked, account) => Event::Revoked,
            };
            match event {
                Event::Input(read) => {
                    read?;
                    return Ok(Wake::Input);
                }
                Event::Change(Ok(change)) => watch.note(change),
                Event::Change(Err(_)) | Event::Poll => {
                    let all: Vec<i64> = watch.accounts.keys().copied().collect();
                    watch.rescan.extend(all);
                }
                Event::Deadline => return Ok(Wake::Stop("BYE Autologout; idle for too long")),
                Event::Shutdown => return Ok(Wake::Stop("BYE [UNAVAILABLE] Server shutting down")),
                Event::Revoked => {
                    return Ok(Wake::Stop(
                        "BYE [UNAVAILABLE] Your login has been ended by the administrator",
                    ))
                }
            }
            self.notify_pump(io, true, true).await?;
        }
    }

    /// Tells what changed. `between`: no command is running (unsolicited responses).
    pub(crate) async fn notify_pump<S>(
        &mut self,
        io: &mut Io<S>,
        may_expunge: bool,
        between: bool,
    ) -> std::io::Result<()>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let Some(mut watch) = self.notify.take() else {
            self.sync_selected(may_expunge).await;
            return Ok(());
        };
        watch.drain();
        let max = self.context.settings.notify_max_pending;
        if watch.pending.len() > max {
            return self.notify_overflow();
        }
        // The selected mailbox (RFC 5465 6.1).
        if let Some((delayed, events)) = watch.selected() {
            if events.any_message() {
                let events = events.clone();
                // selected-delayed: expunges wait for a command that allows them (6.1.2).
                let expunge_now = may_expunge && !(between && delayed);
                self.selected_events(io, &events, expunge_now).await?;
            }
        }
        let selected = self.selected_ids().map(|(id, _, _)| id);
        let user = self.user().map(|u| u.home()).unwrap_or_default();
        let store = self.context.store.clone();
        let mut lines = vec![];
        let rescan = std::mem::take(&mut watch.rescan);
        let mut pending = std::mem::take(&mut watch.pending);
        for account in rescan {
            if let Ok(folders) = store.folders(account).await {
                let listed: BTreeSet<i64> = folders.iter().map(|f| f.id).collect();
                pending.extend(
                    watch
                        .folders
                        .iter()
                        .filter(|(id, s)| s.account_id == account && !listed.contains(id))
                        .map(|(id, _)| *id),
                );
                for folder in folders {
                    let old = watch.folders.get(&folder.id).cloned();
                    if old != watch.snapshot_of(&folder) {
                        pending.insert(folder.id);
                    }
                }
            }
        }
        for id in pending {
            let now = match store.folder_by_id(id).await {
                Ok(folder) if watch.accounts.contains_key(&folder.account_id) => Some(folder),
                Ok(_) | Err(storage::Error::NotFound(_)) => None,
                // A passing fault: try again at the next round.
                Err(_) => {
                    watch.pending.insert(id);
                    continue;
                }
            };
            self.folder_lines(&mut watch, id, now, selected, user, &mut lines)
                .await;
            if lines.len() > max {
                return self.notify_overflow();
            }
        }
        for line in lines {
            self.untagged(&line);
        }
        self.notify = Some(watch);
        Ok(())
    }

    /// RFC 5465 5.8: "OK [NOTIFICATIONOVERFLOW]", then as after NOTIFY NONE.
    fn notify_overflow(&mut self) -> std::io::Result<()> {
        self.notify = None;
        self.untagged_status(
            Status::Ok,
            Some(&Code::NotificationOverflow),
            "Too many changes at once; notifications stopped",
        );
        Ok(())
    }

    /// The selected mailbox's catch-up, as its group asks: no FETCH for flag changes without
    /// FlagChange; MessageNew's FETCH items for new messages (RFC 5465 5.2).
    async fn selected_events<S>(
        &mut self,
        io: &mut Io<S>,
        events: &Events,
        may_expunge: bool,
    ) -> std::io::Result<()>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let (condstore, qresync) = (self.condstore, self.qresync);
        let store = self.context.store.clone();
        let State::Selected { mailbox, .. } = &mut self.state else {
            return Ok(());
        };
        let last_uid = mailbox.max_uid();
        let lines = mailbox
            .catch_up(&store, condstore, qresync, may_expunge)
            .await;
        let new_uids: Vec<i64> = mailbox
            .uids
            .iter()
            .copied()
            .filter(|&u| u > last_uid)
            .collect();
        for line in lines {
            if !events.flag_change && is_fetch_line(&line) {
                continue;
            }
            self.untagged(&line);
        }
        if !events.fetch.is_empty() && !new_uids.is_empty() {
            let set = SequenceSet(
                new_uids
                    .iter()
                    .map(|&u| {
                        let u = u32::try_from(u).unwrap_or(u32::MAX);
                        (SeqBound::Value(u), SeqBound::Value(u))
                    })
                    .collect(),
            );
            let items: Vec<FetchItem> = events.fetch.iter().map(peek).collect();
            // A failure here is told as its NO text; the session goes on.
            let done = self.fetch(io, true, &set, &items, None, false).await?;
            if done.status != Status::Ok {
                tracing::debug!(session = %self.id, done = %done, "NOTIFY MessageNew fetch");
            }
        }
        Ok(())
    }

    /// The lines one changed folder (not necessarily the selected one) gives, and its record
    /// brought up to date.
    async fn folder_lines(
        &mut self,
        watch: &mut Watch,
        id: i64,
        now: Option<Folder>,
        selected: Option<i64>,
        user: i64,
        lines: &mut Vec<String>,
    ) {
        let old = watch.folders.get(&id).cloned();
        let new = now.as_ref().and_then(|f| watch.snapshot_of(f));
        let readable = match (&old, &new) {
            (_, Some(s)) | (Some(s), None) => self.may_read(s.account_id, user).await,
            (None, None) => return,
        };
        match (&old, &new) {
            (None, Some(created)) => {
                if events_of(watch, created, user).is_some_and(|e| e.mailbox_name) {
                    let attributes = if created.subscribed {
                        "\\Subscribed"
                    } else {
                        ""
                    };
                    lines.push(list_line(self, attributes, &created.display, None));
                }
            }
            (Some(deleted), None) => {
                if events_of(watch, deleted, user).is_some_and(|e| e.mailbox_name) {
                    lines.push(list_line(self, "\\NonExistent", &deleted.display, None));
                }
            }
            (Some(old), Some(new)) => {
                let events = events_of(watch, new, user)
                    .or_else(|| events_of(watch, old, user))
                    .cloned()
                    .unwrap_or_default();
                if old.display != new.display {
                    // Its children were renamed too: compare them all at the next round.
                    watch.rescan.insert(new.account_id);
                    if events.mailbox_name {
                        lines.push(list_line(self, "", &new.display, Some(&old.display)));
                    }
                }
                if old.subscribed != new.subscribed && events.subscription_change {
                    let attributes = if new.subscribed { "\\Subscribed" } else { "" };
                    lines.push(list_line(self, attributes, &new.display, None));
                }
                let counters_moved = (old.uidvalidity, old.uidnext, old.highestmodseq)
                    != (new.uidvalidity, new.uidnext, new.highestmodseq);
                if counters_moved && Some(id) != selected && readable && events.any_message() {
                    if let Some(line) = self.message_event_line(id, old, new, &events).await {
                        lines.push(line);
                    }
                }
            }
            (None, None) => {}
        }
        match new {
            Some(snapshot) => {
                watch.folders.insert(id, snapshot);
            }
            None => {
                watch.folders.remove(&id);
            }
        }
    }

    /// STATUS for a non-selected mailbox whose messages changed (RFC 5465 5.1-5.3).
    async fn message_event_line(
        &mut self,
        id: i64,
        old: &Snapshot,
        new: &Snapshot,
        events: &Events,
    ) -> Option<String> {
        let store = self.context.store.clone();
        let expunged = new.highestmodseq > old.highestmodseq
            && store
                .expunged_since(id, old.highestmodseq)
                .await
                .is_ok_and(|gone| !gone.is_empty());
        let arrived = new.uidnext != old.uidnext || new.uidvalidity != old.uidvalidity;
        let items = if (arrived || expunged) && events.message_new {
            // RFC 5465 5.2, 5.3: MESSAGES and UIDNEXT (UIDVALIDITY, and HIGHESTMODSEQ with
            // CONDSTORE, ride along).
            status_items(events, true, self.condstore)
        } else if events.flag_change && new.highestmodseq != old.highestmodseq {
            // RFC 5465 5.1: UIDVALIDITY and HIGHESTMODSEQ.
            vec![StatusItem::UidValidity, StatusItem::HighestModSeq]
        } else {
            return None;
        };
        let folder = store.folder_by_id(id).await.ok()?;
        // The STATUS line goes through the session's buffer; take it back as a line.
        let mark = self.out.len();
        self.status_line(&folder, &new.display, &items).await.ok()?;
        let text = String::from_utf8_lossy(&self.out[mark..]).into_owned();
        self.out.truncate(mark);
        Some(
            text.trim_end_matches("\r\n")
                .trim_start_matches("* ")
                .to_string(),
        )
    }
}

fn candidate(snapshot: &Snapshot, user: i64) -> Candidate<'_> {
    Candidate {
        display: &snapshot.display,
        personal: snapshot.account_id == user,
        subscribed: snapshot.subscribed,
        special_use: snapshot.special_use.as_deref(),
    }
}

fn events_of<'w>(watch: &'w Watch, snapshot: &Snapshot, user: i64) -> Option<&'w Events> {
    watch.events_for(&candidate(snapshot, user))
}

/// The STATUS items for message events (RFC 5465 3.1).
fn status_items(events: &Events, at_set: bool, condstore: bool) -> Vec<StatusItem> {
    let mut items = vec![];
    if events.message_new || events.message_expunge {
        items.extend([
            StatusItem::Messages,
            StatusItem::UidNext,
            StatusItem::UidValidity,
        ]);
    }
    if events.flag_change && (at_set || condstore) || (condstore && !items.is_empty()) {
        if !items.contains(&StatusItem::UidValidity) {
            items.push(StatusItem::UidValidity);
        }
        items.push(StatusItem::HighestModSeq);
    }
    items
}

/// `LIST (attributes) "/" name`, with OLDNAME extended data for a rename (RFC 5465 5.4).
fn list_line(session: &Session, attributes: &str, name: &str, old: Option<&str>) -> String {
    let mut line = format!("LIST ({attributes}) \"/\" {}", session.encode_name(name));
    if let Some(old) = old {
        line.push_str(&format!(
            " ({} ({}))",
            quote("OLDNAME"),
            session.encode_name(old)
        ));
    }
    line
}

/// `n FETCH (...)`: a flag change from the catch-up.
fn is_fetch_line(line: &str) -> bool {
    line.split_once(' ').is_some_and(|(n, rest)| {
        n.bytes().all(|b| b.is_ascii_digit()) && rest.starts_with("FETCH ")
    })
}

/// MessageNew's items never set `\Seen` (RFC 5465 5.2: the client SHOULD NOT ask for such).
fn peek(item: &FetchItem) -> FetchItem {
    match item {
        FetchItem::BodySection {
            section, partial, ..
        } => FetchItem::BodySection {
            section: section.clone(),
            partial: *partial,
            peek: true,
        },
        FetchItem::Binary { part, partial, .. } => FetchItem::Binary {
            part: part.clone(),
            partial: *partial,
            peek: true,
        },
        FetchItem::Rfc822 => FetchItem::BodySection {
            section: Section {
                part: vec![],
                text: SectionText::Full,
            },
            partial: None,
            peek: true,
        },
        FetchItem::Rfc822Text => FetchItem::BodySection {
            section: Section {
                part: vec![],
                text: SectionText::Text,
            },
            partial: None,
            peek: true,
        },
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_items_follow_rfc_5465_3_1() {
        let new = Events {
            message_new: true,
            message_expunge: true,
            ..Default::default()
        };
        assert_eq!(
            status_items(&new, true, false),
            vec![
                StatusItem::Messages,
                StatusItem::UidNext,
                StatusItem::UidValidity
            ]
        );
        let flags = Events {
            flag_change: true,
            ..new.clone()
        };
        assert_eq!(
            status_items(&flags, true, false),
            vec![
                StatusItem::Messages,
                StatusItem::UidNext,
                StatusItem::UidValidity,
                StatusItem::HighestModSeq
            ]
        );
        assert!(is_fetch_line("12 FETCH (UID 3 FLAGS (\\Seen))"));
        assert!(!is_fetch_line("12 EXISTS"));
        assert!(!is_fetch_line("FLAGS (\\Seen)"));
    }
}
