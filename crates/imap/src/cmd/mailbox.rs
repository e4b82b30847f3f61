//! SELECT/EXAMINE, UNSELECT/CLOSE, CREATE, DELETE, RENAME, STATUS (RFC 9051 6.3); LIST, LSUB
//! and SUBSCRIBE are in `list`, APPEND in `append`.

use storage::{Flags, Folder};

use crate::encode::{sequence, Code, Done, FetchLine, Status};
use crate::protocol::{self, StatusItem};
use crate::selected::Selected;
use crate::state::{Session, State};

impl Session {
    pub(crate) async fn select(
        &mut self,
        raw: &str,
        read_only: bool,
        condstore: bool,
        qresync: Option<(u32, u64, Option<protocol::SequenceSet>)>,
    ) -> Done {
        let user = match self.user() {
            Some(u) => u,
            None => return Done::bad("Not authenticated"),
        };
        if qresync.is_some() && !self.qresync {
            // RFC 7162 3.2.5.
            return Done::bad("QRESYNC parameter needs ENABLE QRESYNC first");
        }
        // A failed SELECT leaves no mailbox selected (RFC 9051 6.3.2); the closing of the
        // previous one is announced (RFC 9051 7.1, RFC 7162 3.2.11).
        if matches!(self.state, State::Selected { .. }) {
            self.untagged_status(Status::Ok, Some(&Code::Closed), "Previous mailbox closed");
        }
        self.state = State::Authenticated { user: user.clone() };
        let mailbox = match self.resolve_folder(raw).await {
            Ok(m) => m,
            Err(done) => return done,
        };
        if let Err(done) = mailbox.require("r", "read messages") {
            return done;
        }
        // RFC 4314 5.2: READ-ONLY when none of "i", "e" and the "shared flag rights" is held.
        // Every flag of a unit mailbox is one value for all its users (one row per message),
        // so the shared flag rights are "s" (\Seen), "t" (\Deleted) and "w" (the others).
        let read_only = read_only || !"iestw".chars().any(|r| mailbox.rights.contains(r));
        let folder = mailbox.folder.clone();
        if condstore {
            self.condstore = true;
        }
        let changes = self.context.store.subscribe_changes();
        let listing = match self
            .context
            .store
            .listing_at_least(folder.id, folder.highestmodseq)
            .await
        {
            Ok(l) => l,
            Err(e) => return self.server_error(e),
        };
        let messages = &listing.rows;
        // The listing is read after the folder row: a message delivered in between is in the
        // listing, so UIDNEXT and HIGHESTMODSEQ must not be older than it.
        let uidnext = folder.uidnext.max(messages.last().map_or(1, |m| m.uid + 1));
        let highestmodseq = folder.highestmodseq.max(listing.highestmodseq);
        let first_unseen = messages.iter().position(|m| !m.flags.contains(Flags::SEEN));
        // RFC 4314 5.1.1: PERMANENTFLAGS reflects the user's rights: \Seen needs "s", \Deleted
        // "t", every other flag and new keywords (\*) "w" (RFC 4314 4, STORE).
        let permanent: Vec<&'static str> = if read_only {
            vec![]
        } else {
            [
                ("\\Answered", 'w'),
                ("\\Flagged", 'w'),
                ("\\Deleted", 't'),
                ("\\Seen", 's'),
                ("\\Draft", 'w'),
                ("\\*", 'w'),
            ]
            .into_iter()
            .filter(|(_, right)| mailbox.rights.contains(*right))
            .map(|(flag, _)| flag)
            .collect()
        };
        let name = mailbox.display.clone();
        // RFC 3501 2.3.2: the messages no session has claimed are \Recent in this one; a
        // read-write session claims them (in the same group commit as the open event).
        let store = self.context.store.clone();
        let claim = async {
            match (self.rev2, read_only) {
                (true, _) => None,
                (false, true) => Some(folder.recent_uid),
                (false, false) => {
                    crate::selected::claim(&store, folder.id, folder.recent_uid, uidnext).await
                }
            }
        };
        // KT-11: who opened which mailbox when.
        let opened = store.record_mailbox_open(&user.address, folder.account_id, &name);
        let (claimed, _) = tokio::join!(claim, opened);
        let recent = (!self.rev2).then(|| match claimed {
            Some(from) => messages
                .iter()
                .map(|m| m.uid)
                .filter(|uid| *uid >= from)
                .collect(),
            None => vec![],
        });
        let mut selected = Selected {
            folder_id: folder.id,
            account_id: folder.account_id,
            name: mailbox.display.clone(),
            read_only,
            uidvalidity: folder.uidvalidity,
            uids: messages.iter().map(|m| m.uid).collect(),
            modseq_seen: highestmodseq,
            own_modseqs: vec![],
            changes,
            checked_at: std::time::Instant::now(),
            pending: false,
            keywords: vec![],
            permanent,
            recent,
        };
        // RFC 9051 6.3.2, 7.3.5: FLAGS names the flags defined in the mailbox, keywords too.
        for message in messages {
            selected.keyword_updates(&message.flags);
        }
        self.untagged(&selected.flags_line());
        self.untagged(&selected.permanent_flags_line());
        self.untagged(&format!("{} EXISTS", messages.len()));
        // RFC 3501 6.3.1: RECENT is required of IMAP4rev1; IMAP4rev2 has no RECENT.
        if let Some(line) = selected.recent_line() {
            self.untagged(&line);
        }
        if let Some(index) = first_unseen {
            self.untagged_status(Status::Ok, Some(&Code::Unseen(index + 1)), "First unseen");
        }
        let uidvalidity = Code::UidValidity(folder.uidvalidity);
        self.untagged_status(Status::Ok, Some(&uidvalidity), "UIDs valid");
        self.untagged_status(
            Status::Ok,
            Some(&Code::UidNext(uidnext)),
            "Predicted next UID",
        );
        let highest = Code::HighestModSeq(highestmodseq);
        self.untagged_status(Status::Ok, Some(&highest), "Highest");
        self.state = State::Selected {
            user,
            mailbox: Box::new(selected),
        };
        // RFC 8474 4.2.
        self.untagged_status(Status::Ok, Some(&Code::MailboxId(folder.id)), "Ok");
        if let Some((uidvalidity, known_modseq, known_uids)) = qresync {
            if i64::from(uidvalidity) == folder.uidvalidity {
                if let Err(e) = self
                    .resynchronise(folder.id, messages, known_modseq, known_uids.as_ref())
                    .await
                {
                    self.state = State::Authenticated {
                        user: self.user().expect("selected"),
                    };
                    return self.server_error(e);
                }
            }
        }
        if read_only {
            Done::ok_with(Code::ReadOnly, "EXAMINE completed")
        } else {
            Done::ok_with(Code::ReadWrite, "SELECT completed")
        }
    }

    /// RFC 7162 3.2.5.1: what changed since the client's last known MODSEQ — expunged UIDs as
    /// `VANISHED (EARLIER)`, then changed messages' flags — limited to the UIDs it knows.
    async fn resynchronise(
        &mut self,
        folder_id: i64,
        messages: &[storage::MessageRow],
        known_modseq: u64,
        known_uids: Option<&protocol::SequenceSet>,
    ) -> Result<(), storage::Error> {
        // `*` reaches past the highest UID left, as in UID FETCH ... VANISHED.
        let known =
            |uid: i64| known_uids.is_none_or(|set| crate::search::in_set(set, uid, i64::MAX));
        let since = i64::try_from(known_modseq).unwrap_or(i64::MAX);
        let gone: Vec<i64> = self
            .context
            .store
            .expunged_since(folder_id, since)
            .await?
            .into_iter()
            .filter(|u| known(*u))
            .collect();
        if !gone.is_empty() {
            self.untagged(&sequence::vanished(&gone, true));
        }
        for (index, message) in messages.iter().enumerate() {
            if message.modseq > since && known(message.uid) {
                self.announce_keywords(&message.flags);
                let mut line = FetchLine::new(index + 1);
                line.uid(message.uid);
                line.flags_recent(&message.flags, self.is_recent(message.uid));
                line.modseq(message.modseq);
                self.untagged(&line.untagged_text());
            }
        }
        Ok(())
    }

    /// UNSELECT, or CLOSE (which first expunges silently when read-write, RFC 9051 6.4.1).
    pub(crate) async fn unselect(&mut self, expunge: bool) -> Done {
        let State::Selected { user, mailbox } = &self.state else {
            return Done::bad("No mailbox selected");
        };
        if expunge && !mailbox.read_only {
            if let Err(e) = self.context.store.expunge(mailbox.folder_id, None).await {
                return self.server_error(e);
            }
        }
        self.state = State::Authenticated { user: user.clone() };
        Done::ok(if expunge {
            "CLOSE completed"
        } else {
            "UNSELECT completed"
        })
    }

    pub(crate) async fn create(&mut self, raw: &str, special_use: Option<&str>) -> Done {
        if self.user().is_none() {
            return Done::bad("Not authenticated");
        }
        // RFC 9051 6.3.4: a trailing separator only says the name will have children.
        let name = match self.decode_name(raw.trim_end_matches('/')) {
            Ok(n) => n,
            Err(done) => return done,
        };
        if name == "INBOX" {
            return Done::no_with(Code::AlreadyExists, "INBOX always exists");
        }
        if let Some(flag) = special_use {
            let known = [
                "\\All",
                "\\Archive",
                "\\Drafts",
                "\\Flagged",
                "\\Junk",
                "\\Sent",
                "\\Trash",
            ];
            if !known.iter().any(|k| k.eq_ignore_ascii_case(flag)) {
                return Done::no_with(Code::UseAttr, "Unsupported special-use attribute");
            }
        }
        // Personal, or inside a unit with `k`; never a personal shadow of a shared name.
        let target = match self.creation_target(&name).await {
            Ok(t) => t,
            Err(done) => return done,
        };
        if let Err(done) = crate::names::check_new_name(&target.name, &self.context.settings) {
            return done;
        }
        let existing = match self.context.store.folders(target.owner).await {
            Ok(f) => f,
            Err(e) => return self.server_error(e),
        };
        if existing.iter().any(|f| f.name == target.name) {
            return Done::no_with(Code::AlreadyExists, "Mailbox already exists");
        }
        // Missing parents are created too (RFC 9051 6.3.4): all of them count against the
        // limit, checked before any is created.
        let parts: Vec<&str> = target.name.split('/').collect();
        let missing: Vec<String> = (1..parts.len())
            .map(|depth| parts[..depth].join("/"))
            .filter(|parent| !existing.iter().any(|f| &f.name == parent))
            .collect();
        let max = self.context.settings.max_folders;
        if existing.len() + missing.len() + 1 > max {
            return Done::no_with(Code::Limit, format!("At most {max} folders per mailbox"));
        }
        for parent in &missing {
            if let Err(e) = self.context.store.create_folder(target.owner, parent).await {
                return self.server_error(e);
            }
        }
        let folder_id = match self
            .context
            .store
            .create_folder_with_use(target.owner, &target.name, special_use)
            .await
        {
            Ok(id) => id,
            Err(e) => return self.server_error(e),
        };
        if let Some(unit) = &target.unit_address {
            self.audit_unit_folder(
                storage::Action::UnitFolderCreate,
                unit,
                serde_json::json!({"folder": target.name, "parents": missing}),
            )
            .await;
        }
        // RFC 8474 4.1: the new mailbox's id in the tagged OK.
        Done::ok_with(Code::MailboxId(folder_id), "CREATE completed")
    }

    pub(crate) async fn delete(&mut self, raw: &str) -> Done {
        let mailbox = match self.resolve_folder(raw).await {
            Ok(m) => m,
            Err(done) => return done,
        };
        // RFC 4314 4: DELETE needs `x` on the mailbox (a person holds every right on their own).
        if let Err(done) = mailbox.require("x", "delete this mailbox") {
            return done;
        }
        let folder = mailbox.folder.clone();
        if folder.name == "INBOX" {
            return Done::no_with(Code::Cannot, "INBOX cannot be deleted");
        }
        if let State::Selected { mailbox, .. } = &self.state {
            if mailbox.folder_id == folder.id {
                return Done::no_with(Code::InUse, "Unselect the mailbox first");
            }
        }
        // Folders with children keep their place (RFC 9051 6.3.5): refuse instead of orphaning.
        let prefix = format!("{}/", folder.name);
        match self.context.store.folders(folder.account_id).await {
            Ok(all) if all.iter().any(|f| f.name.starts_with(&prefix)) => {
                return Done::no_with(Code::HasChildren, "Delete the subfolders first")
            }
            Ok(_) => {}
            Err(e) => return self.server_error(e),
        }
        if let Err(e) = self.context.store.delete_folder(folder.id).await {
            return self.server_error(e);
        }
        if let Some(unit) = &mailbox.unit_address {
            self.audit_unit_folder(
                storage::Action::UnitFolderDelete,
                unit,
                serde_json::json!({"folder": folder.name}),
            )
            .await;
        }
        Done::ok("DELETE completed")
    }

    /// RENAME (RFC 9051 6.3.6) within one owner: the source is resolved like any mailbox (a
    /// unit's needs `x`, RFC 4314 4), the target like a CREATE (a unit's needs `k`; reserved
    /// names NO [CANNOT]). A unit's INBOX is never renamed: RENAME INBOX would move the unit's
    /// mail out of the mailbox SMTP delivers to (RFC 9051 6.3.6 lets servers refuse it, NO).
    pub(crate) async fn rename(&mut self, from: &str, to: &str) -> Done {
        let source = match self.resolve_folder(from).await {
            Ok(m) => m,
            Err(done) => return done,
        };
        if let Err(done) = source.require("x", "rename this mailbox") {
            return done;
        }
        if source.shared() && source.folder.name == "INBOX" {
            return Done::no_with(Code::Cannot, "A unit's INBOX cannot be renamed");
        }
        let to = match self.decode_name(to.trim_end_matches('/')) {
            Ok(t) => t,
            Err(done) => return done,
        };
        let target = match self.creation_target(&to).await {
            Ok(t) => t,
            Err(done) => return done,
        };
        if target.owner != source.owner {
            return Done::no_with(
                Code::Cannot,
                "Mailboxes move only within their own namespace",
            );
        }
        let from = source.folder.name.clone();
        let to = target.name;
        if to == "INBOX" {
            return Done::no_with(Code::AlreadyExists, "INBOX always exists");
        }
        if to.starts_with(&format!("{from}/")) {
            return Done::no_with(Code::Cannot, "Cannot move a mailbox into itself");
        }
        let existing = match self.context.store.folders(source.owner).await {
            Ok(f) => f,
            Err(e) => return self.server_error(e),
        };
        // The new name and every child's new name stay within the limits.
        let prefix = format!("{from}/");
        let mut new_names = vec![to.clone()];
        if from != "INBOX" {
            new_names.extend(
                existing
                    .iter()
                    .filter_map(|f| f.name.strip_prefix(&prefix))
                    .map(|rest| format!("{to}/{rest}")),
            );
        }
        for name in &new_names {
            if let Err(done) = crate::names::check_new_name(name, &self.context.settings) {
                return done;
            }
        }
        // RENAME INBOX makes a new folder (RFC 9051 6.3.6).
        let max = self.context.settings.max_folders;
        if from == "INBOX" && existing.len() + 1 > max {
            return Done::no_with(Code::Limit, format!("At most {max} folders per mailbox"));
        }
        if let Err(e) = self
            .context
            .store
            .rename_folder(source.owner, &from, &to)
            .await
        {
            return self.server_error(e);
        }
        if let Some(unit) = &source.unit_address {
            self.audit_unit_folder(
                storage::Action::UnitFolderRename,
                unit,
                serde_json::json!({"from": from, "to": to}),
            )
            .await;
        }
        Done::ok("RENAME completed")
    }

    /// Writes the untagged STATUS line of `folder`, or hands back the storage fault.
    pub(crate) async fn status_line(
        &mut self,
        folder: &Folder,
        display: &str,
        items: &[StatusItem],
    ) -> Result<(), storage::Error> {
        let store = &self.context.store;
        let (counts, recent) = if items.contains(&StatusItem::Recent) {
            // RFC 3501 6.3.10: RECENT counts the messages no session has claimed as \Recent
            // yet. The listing read for it has the counts too.
            let listing = store.listing(folder.id).await?;
            let recent = listing
                .rows
                .iter()
                .filter(|r| r.uid >= folder.recent_uid)
                .count();
            (listing.counts(), recent)
        } else {
            (store.folder_counts(folder.id).await?, 0)
        };
        let mut parts = vec![];
        for item in items {
            parts.push(match item {
                StatusItem::Messages => format!("MESSAGES {}", counts.messages),
                StatusItem::Recent => format!("RECENT {recent}"),
                StatusItem::UidNext => format!("UIDNEXT {}", folder.uidnext),
                StatusItem::UidValidity => format!("UIDVALIDITY {}", folder.uidvalidity),
                StatusItem::Unseen => format!("UNSEEN {}", counts.unseen),
                StatusItem::Deleted => format!("DELETED {}", counts.deleted),
                StatusItem::Size => format!("SIZE {}", counts.size),
                StatusItem::HighestModSeq => format!("HIGHESTMODSEQ {}", folder.highestmodseq),
                // RFC 8474 4.3.
                StatusItem::MailboxId => {
                    format!("MAILBOXID ({})", crate::objects::mailbox_id(folder.id))
                }
            });
        }
        let name = self.encode_name(display);
        self.untagged(&format!("STATUS {name} ({})", parts.join(" ")));
        Ok(())
    }

    pub(crate) async fn status(&mut self, raw: &str, items: &[StatusItem]) -> Done {
        let mailbox = match self.resolve_folder(raw).await {
            Ok(m) => m,
            Err(done) => return done,
        };
        if let Err(done) = mailbox.require("r", "read the status") {
            return done;
        }
        if items.contains(&StatusItem::HighestModSeq) {
            // RFC 7162 3.1: STATUS (HIGHESTMODSEQ) is a CONDSTORE enabling command.
            self.enable_condstore();
        }
        // A storage fault keeps its meaning: a passing one is NO [UNAVAILABLE] (RFC 5530).
        match self
            .status_line(&mailbox.folder, &mailbox.display, items)
            .await
        {
            Ok(()) => Done::ok("STATUS completed"),
            Err(e) => self.server_error(e),
        }
    }
}
