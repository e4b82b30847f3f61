//! A RFC 5465 NOTIFY session's watch: the event groups with their mailbox names decoded, the
//! folders last reported (so a change is told as what changed), and the changes not yet
//! reported. Deciding which events a mailbox gets is here, without I/O; the reports are
//! worded and sent by `cmd::notify`.
//!
//! Semantics chosen where RFC 5465 leaves room:
//! - For a mailbox other than the selected one, the first event group whose filter matches it
//!   decides its events, so `(mailboxes Junk NONE) (personal (...))` silences Junk.
//! - The selected mailbox gets message events only from a `selected` or `selected-delayed`
//!   group; without one it is frozen as it was (RFC 5465 3.1: "the same as specifying
//!   SELECTED NONE"), the snapshot use of 5.
//! - `inboxes` (6.3) are the personal INBOX and the `\Junk` folder: where delivery puts mail.
//! - `subscribed` (6.4) are the personal folders subscribed to.

use std::collections::{BTreeSet, HashMap};

use storage::{Folder, FolderChange};
use tokio::sync::broadcast;

use crate::names::SHARED_ROOT;
use crate::protocol::{EventGroup, FetchItem, MailboxFilter, NotifyEvent};

/// The events the server supports (RFC 5465 3.1 BADEVENT lists them).
pub const SUPPORTED: [&str; 5] = [
    "MessageNew",
    "MessageExpunge",
    "FlagChange",
    "MailboxName",
    "SubscriptionChange",
];

/// The events of one group, as flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Events {
    pub message_new: bool,
    pub message_expunge: bool,
    pub flag_change: bool,
    pub mailbox_name: bool,
    pub subscription_change: bool,
    /// FETCH items of MessageNew (selected mailbox only).
    pub fetch: Vec<FetchItem>,
}

impl Events {
    pub fn of(events: &[NotifyEvent]) -> Events {
        let mut out = Events::default();
        for event in events {
            match event {
                NotifyEvent::MessageNew(items) => {
                    out.message_new = true;
                    out.fetch = items.clone();
                }
                NotifyEvent::MessageExpunge => out.message_expunge = true,
                NotifyEvent::FlagChange => out.flag_change = true,
                NotifyEvent::MailboxName => out.mailbox_name = true,
                NotifyEvent::SubscriptionChange => out.subscription_change = true,
                NotifyEvent::Other(_) => {}
            }
        }
        out
    }

    /// MessageNew, MessageExpunge or FlagChange.
    pub fn any_message(&self) -> bool {
        self.message_new || self.message_expunge || self.flag_change
    }
}

/// A filter with its names decoded to ours (NFC, INBOX canonical).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Selected { delayed: bool },
    Inboxes,
    Personal,
    Subscribed,
    Subtree(Vec<String>),
    Mailboxes(Vec<String>),
}

/// One event group, ready to match.
#[derive(Debug, Clone)]
pub struct Group {
    pub filter: Filter,
    pub events: Events,
}

/// What a folder looked like when last reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub account_id: i64,
    /// The name as the user sees it (`Đơn vị/<ABBR>/...` for a unit's folder).
    pub display: String,
    pub special_use: Option<String>,
    pub subscribed: bool,
    pub uidvalidity: i64,
    pub uidnext: i64,
    pub highestmodseq: i64,
}

/// A mailbox as the matcher sees it.
pub struct Candidate<'a> {
    pub display: &'a str,
    /// In the user's own account (the personal namespace).
    pub personal: bool,
    pub subscribed: bool,
    pub special_use: Option<&'a str>,
}

/// A session's NOTIFY state.
pub struct Watch {
    pub groups: Vec<Group>,
    /// The STATUS indicator was given.
    pub status: bool,
    pub changes: broadcast::Receiver<FolderChange>,
    /// Folders of the watched accounts, by id.
    pub folders: HashMap<i64, Snapshot>,
    /// Accounts watched: the user's own (`None`) and units (`Some(abbrev)`).
    pub accounts: HashMap<i64, Option<String>>,
    /// Folders changed and not yet reported.
    pub pending: BTreeSet<i64>,
    /// Compare every folder of these accounts (a rename, a missed notification, the poll).
    pub rescan: BTreeSet<i64>,
}

impl Watch {
    /// The group deciding the events of a mailbox that is not the selected one: the first
    /// whose filter matches.
    pub fn events_for(&self, mailbox: &Candidate) -> Option<&Events> {
        self.groups
            .iter()
            .find(|g| matches(&g.filter, mailbox))
            .map(|g| &g.events)
    }

    /// The selected mailbox's group: (delayed, events). `None`: frozen.
    pub fn selected(&self) -> Option<(bool, &Events)> {
        self.groups.iter().find_map(|g| match g.filter {
            Filter::Selected { delayed } => Some((delayed, &g.events)),
            _ => None,
        })
    }

    /// True when some group names the shared namespace (unit folders are then watched).
    pub fn names_shared(&self) -> bool {
        self.groups.iter().any(|g| match &g.filter {
            Filter::Subtree(names) | Filter::Mailboxes(names) => names
                .iter()
                .any(|n| n == SHARED_ROOT || n.starts_with(&format!("{SHARED_ROOT}/"))),
            _ => false,
        })
    }

    /// The display name of a folder of a watched account.
    pub fn display(&self, folder: &Folder) -> Option<String> {
        match self.accounts.get(&folder.account_id)? {
            None => Some(folder.name.clone()),
            Some(abbrev) => Some(format!("{SHARED_ROOT}/{abbrev}/{}", folder.name)),
        }
    }

    pub fn snapshot_of(&self, folder: &Folder) -> Option<Snapshot> {
        Some(Snapshot {
            account_id: folder.account_id,
            display: self.display(folder)?,
            special_use: folder.special_use.clone(),
            subscribed: folder.subscribed,
            uidvalidity: folder.uidvalidity,
            uidnext: folder.uidnext,
            highestmodseq: folder.highestmodseq,
        })
    }

    /// Takes the notifications waiting in the channel into `pending` (the selected folder's
    /// too: its snapshot is kept current). A lagging channel asks for a full rescan.
    pub fn drain(&mut self) {
        loop {
            match self.changes.try_recv() {
                Ok(change) => self.note(change),
                Err(broadcast::error::TryRecvError::Lagged(_)) => {
                    self.rescan.extend(self.accounts.keys().copied());
                }
                Err(_) => break,
            }
        }
    }

    pub fn note(&mut self, change: FolderChange) {
        if self.accounts.contains_key(&change.account_id) {
            self.pending.insert(change.folder_id);
        }
    }
}

fn matches(filter: &Filter, mailbox: &Candidate) -> bool {
    match filter {
        Filter::Selected { .. } => false,
        // RFC 5465 6.3: where delivery puts mail.
        Filter::Inboxes => {
            mailbox.personal
                && (mailbox.display == "INBOX" || mailbox.special_use == Some("\\Junk"))
        }
        Filter::Personal => mailbox.personal,
        Filter::Subscribed => mailbox.personal && mailbox.subscribed,
        // RFC 5465 6.5: the mailbox and all its inferiors.
        Filter::Subtree(names) => names.iter().any(|n| {
            mailbox.display == n
                || mailbox
                    .display
                    .strip_prefix(n.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        }),
        // RFC 5465 6.6: exactly these, no wildcards.
        Filter::Mailboxes(names) => names.iter().any(|n| mailbox.display == n),
    }
}

/// Compiles the parsed groups with `decode` turning a client's name into ours (names that do
/// not decode match nothing).
pub fn compile(groups: &[EventGroup], decode: impl Fn(&str) -> Option<String>) -> Vec<Group> {
    groups
        .iter()
        .map(|g| Group {
            filter: match &g.filter {
                MailboxFilter::Selected => Filter::Selected { delayed: false },
                MailboxFilter::SelectedDelayed => Filter::Selected { delayed: true },
                MailboxFilter::Inboxes => Filter::Inboxes,
                MailboxFilter::Personal => Filter::Personal,
                MailboxFilter::Subscribed => Filter::Subscribed,
                MailboxFilter::Subtree(names) => {
                    Filter::Subtree(names.iter().filter_map(|n| decode(n)).collect())
                }
                MailboxFilter::Mailboxes(names) => {
                    Filter::Mailboxes(names.iter().filter_map(|n| decode(n)).collect())
                }
            },
            events: Events::of(&g.events),
        })
        .collect()
}

/// The events of the groups the server does not support, for NO [BADEVENT] (RFC 5465 3.1).
pub fn unsupported(groups: &[EventGroup]) -> Vec<String> {
    groups
        .iter()
        .flat_map(|g| g.events.iter())
        .filter_map(|e| match e {
            NotifyEvent::Other(name) => Some(name.clone()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(filter: Filter, events: &[NotifyEvent]) -> Group {
        Group {
            filter,
            events: Events::of(events),
        }
    }

    fn watch(groups: Vec<Group>) -> Watch {
        Watch {
            groups,
            status: false,
            changes: broadcast::channel(1).1,
            folders: HashMap::new(),
            accounts: HashMap::new(),
            pending: BTreeSet::new(),
            rescan: BTreeSet::new(),
        }
    }

    fn mailbox<'a>(display: &'a str, personal: bool, subscribed: bool) -> Candidate<'a> {
        Candidate {
            display,
            personal,
            subscribed,
            special_use: None,
        }
    }

    #[test]
    fn first_matching_group_decides() {
        let new = [NotifyEvent::MessageNew(vec![]), NotifyEvent::MessageExpunge];
        let w = watch(vec![
            group(Filter::Mailboxes(vec!["Junk".into()]), &[]),
            group(
                Filter::Subtree(vec!["Dự án".into()]),
                &[NotifyEvent::MailboxName],
            ),
            group(Filter::Personal, &new),
        ]);
        assert_eq!(
            w.events_for(&mailbox("Junk", true, true)),
            Some(&Events::default())
        );
        assert!(
            w.events_for(&mailbox("Dự án/2025", true, true))
                .unwrap()
                .mailbox_name
        );
        assert!(
            w.events_for(&mailbox("Dự án", true, true))
                .unwrap()
                .mailbox_name
        );
        // "Dự án cũ" is not inside the subtree "Dự án".
        assert!(
            w.events_for(&mailbox("Dự án cũ", true, true))
                .unwrap()
                .message_new
        );
        assert!(w
            .events_for(&mailbox("Đơn vị/VP/INBOX", false, true))
            .is_none());
        assert!(w.selected().is_none(), "no selected group: frozen");
    }

    #[test]
    fn inboxes_and_subscribed() {
        let w = watch(vec![
            group(Filter::Inboxes, &[NotifyEvent::MailboxName]),
            group(Filter::Subscribed, &[NotifyEvent::SubscriptionChange]),
        ]);
        assert!(
            w.events_for(&mailbox("INBOX", true, false))
                .unwrap()
                .mailbox_name
        );
        let junk = Candidate {
            special_use: Some("\\Junk"),
            ..mailbox("Thư rác", true, false)
        };
        assert!(w.events_for(&junk).unwrap().mailbox_name);
        assert!(
            w.events_for(&mailbox("Sent", true, true))
                .unwrap()
                .subscription_change
        );
        assert!(w.events_for(&mailbox("Sent", true, false)).is_none());
        assert!(w
            .events_for(&mailbox("Đơn vị/VP/INBOX", false, true))
            .is_none());
    }
}
