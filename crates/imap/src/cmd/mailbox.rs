//! SELECT/EXAMINE, UNSELECT/CLOSE, CREATE, DELETE, RENAME, SUBSCRIBE, LIST/LSUB (with
//! LIST-EXTENDED, SPECIAL-USE, LIST-STATUS), STATUS (RFC 9051 6.3). APPEND is in `append`.

use storage::{Flags, Folder};

use crate::encode::{sequence, Code, Done, FetchLine, Status};
use crate::protocol::{self, ListOptions, StatusItem};
use crate::selected::Selected;
use crate::state::{Session, State};

/// `*` matches anything, `%` anything but the separator (RFC 9051 6.3.9).
fn wildcard_match(pattern: &[char], name: &[char]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some(('*', rest)) => (0..=name.len()).any(|i| wildcard_match(rest, &name[i..])),
        Some(('%', rest)) => (0..=name.len())
            .take_while(|&i| i == 0 || name[i - 1] != '/')
            .any(|i| wildcard_match(rest, &name[i..])),
        Some((c, rest)) => name.first() == Some(c) && wildcard_match(rest, &name[1..]),
    }
}

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
        let listing = match self.context.store.listing(folder.id).await {
            Ok(l) => l,
            Err(e) => return self.server_error(e),
        };
        let messages = &listing.rows;
        // The listing is read after the folder row: a message delivered in between is in the
        // listing, so UIDNEXT and HIGHESTMODSEQ must not be older than it.
        let uidnext = folder.uidnext.max(messages.last().map_or(1, |m| m.uid + 1));
        let highestmodseq = folder.highestmodseq.max(listing.highestmodseq);
        let first_unseen = messages.iter().position(|m| !m.flags.contains(Flags::SEEN));
        self.untagged("FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)");
        // RFC 4314 5.1.1: PERMANENTFLAGS reflects the user's rights: \Seen needs "s", \Deleted
        // "t", every other flag and new keywords (\*) "w" (RFC 4314 4, STORE).
        let permanent: Vec<&str> = if read_only {
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
        let text = if permanent.is_empty() {
            "No permanent flags permitted"
        } else {
            "Flags permitted"
        };
        self.untagged_status(Status::Ok, Some(&Code::PermanentFlags(permanent)), text);
        self.untagged(&format!("{} EXISTS", messages.len()));
        self.untagged("0 RECENT");
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
        // RFC 8474 4.2.
        self.untagged_status(Status::Ok, Some(&Code::MailboxId(folder.id)), "Ok");
        if let Some((uidvalidity, known_modseq, known_uids)) = qresync {
            if i64::from(uidvalidity) == folder.uidvalidity {
                if let Err(e) = self
                    .resynchronise(folder.id, messages, known_modseq, known_uids.as_ref())
                    .await
                {
                    return self.server_error(e);
                }
            }
        }
        let name = mailbox.display.clone();
        // KT-11: who opened which mailbox when.
        let _ = self
            .context
            .store
            .record_mailbox_open(&user.address, folder.account_id, &name)
            .await;
        self.state = State::Selected {
            user,
            mailbox: Box::new(Selected {
                folder_id: folder.id,
                account_id: folder.account_id,
                name: mailbox.display.clone(),
                read_only,
                uidvalidity: folder.uidvalidity,
                uids: messages.iter().map(|m| m.uid).collect(),
                modseq_seen: highestmodseq,
                own_modseqs: vec![],
                changes,
            }),
        };
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
                let mut line = FetchLine::new(index + 1);
                line.uid(message.uid);
                line.flags(&message.flags);
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

    pub(crate) async fn subscribe(&mut self, raw: &str, subscribed: bool) -> Done {
        let folder = match self.resolve_folder(raw).await {
            Ok(m) if m.shared() => return Done::ok("SUBSCRIBE completed"),
            Ok(m) => m.folder,
            Err(done) => return done,
        };
        match self
            .context
            .store
            .set_subscribed(folder.id, subscribed)
            .await
        {
            Ok(()) => Done::ok(if subscribed {
                "SUBSCRIBE completed"
            } else {
                "UNSUBSCRIBE completed"
            }),
            Err(e) => self.server_error(e),
        }
    }

    pub(crate) async fn list(
        &mut self,
        reference: &str,
        patterns: &[String],
        options: &ListOptions,
        lsub: bool,
    ) -> Done {
        let Some(user) = self.user() else {
            return Done::bad("Not authenticated");
        };
        let command = if lsub { "LSUB" } else { "LIST" };
        if patterns.len() == 1 && patterns[0].is_empty() {
            // RFC 9051 6.3.9: the hierarchy delimiter.
            self.untagged(&format!("{command} (\\Noselect) \"/\" \"\""));
            return Done::ok(format!("{command} completed"));
        }
        let folders = match self.context.store.folders(user.account_id).await {
            Ok(f) => f,
            Err(e) => return self.server_error(e),
        };
        let mut compiled = vec![];
        for pattern in patterns {
            let full = format!("{reference}{pattern}");
            let decoded = if self.utf8 || !full.contains('&') {
                full
            } else {
                protocol::mutf7::decode(&full).unwrap_or(full)
            };
            // Patterns are normalised like names, so an NFD pattern finds NFC names.
            let decoded = crate::names::nfc(&decoded);
            let decoded = if decoded.len() >= 5
                && decoded[..5].eq_ignore_ascii_case("INBOX")
                && !decoded[5..].starts_with(|c: char| c.is_alphanumeric())
            {
                format!("INBOX{}", &decoded[5..])
            } else {
                decoded
            };
            compiled.push(decoded.chars().collect::<Vec<char>>());
        }
        let subscribed_only = lsub || options.select_subscribed;
        // Personal folders, then the unit folders shared with the user (RFC 2342).
        let mut entries: Vec<(String, Option<Folder>, Vec<String>)> = vec![];
        let children = |names: &[String], name: &str| {
            let prefix = format!("{name}/");
            if names.iter().any(|n| n.starts_with(&prefix)) {
                "\\HasChildren"
            } else {
                "\\HasNoChildren"
            }
            .to_string()
        };
        let own_names: Vec<String> = folders.iter().map(|f| f.name.clone()).collect();
        for folder in &folders {
            entries.push((
                folder.name.clone(),
                Some(folder.clone()),
                vec![children(&own_names, &folder.name)],
            ));
        }
        let shared = self.shared_folders().await;
        if !shared.is_empty() {
            let shared_names: Vec<String> = shared.iter().map(|(d, _, _)| d.clone()).collect();
            let root = crate::names::SHARED_ROOT.to_string();
            entries.push((
                root.clone(),
                None,
                vec!["\\Noselect".into(), "\\HasChildren".into()],
            ));
            let mut units: Vec<String> = shared_names
                .iter()
                .filter_map(|d| d.split('/').nth(1).map(|u| format!("{root}/{u}")))
                .collect();
            units.dedup();
            for unit in units {
                entries.push((
                    unit,
                    None,
                    vec!["\\Noselect".into(), "\\HasChildren".into()],
                ));
            }
            for (display, folder, _) in shared {
                let attributes = vec![children(&shared_names, &display)];
                entries.push((display, Some(folder), attributes));
            }
        }
        for (display, folder, mut attributes) in entries {
            let chars: Vec<char> = display.chars().collect();
            if !compiled.iter().any(|p| wildcard_match(p, &chars)) {
                continue;
            }
            let subscribed = folder.as_ref().is_none_or(|f| f.subscribed);
            if subscribed_only && !subscribed {
                continue;
            }
            let special_use = folder.as_ref().and_then(|f| f.special_use.clone());
            if options.select_special_use && special_use.is_none() {
                continue;
            }
            if let Some(flag) = special_use {
                if !lsub {
                    attributes.push(flag);
                }
            }
            if subscribed && (options.return_subscribed || options.select_subscribed) {
                attributes.push("\\Subscribed".into());
            }
            let name = self.encode_name(&display);
            self.untagged(&format!(
                "{command} ({}) \"/\" {name}",
                attributes.join(" ")
            ));
            if let (false, Some(folder)) = (options.return_status.is_empty(), &folder) {
                let items = options.return_status.clone();
                self.status_line(folder, &display, &items).await;
            }
            if options.return_myrights && folder.is_some() {
                self.myrights_line(&display).await;
            }
        }
        Done::ok(format!("{command} completed"))
    }

    pub(crate) async fn status_line(
        &mut self,
        folder: &Folder,
        display: &str,
        items: &[StatusItem],
    ) -> bool {
        let counts = match self.context.store.folder_counts(folder.id).await {
            Ok(c) => c,
            Err(_) => return false,
        };
        let mut parts = vec![];
        for item in items {
            parts.push(match item {
                StatusItem::Messages => format!("MESSAGES {}", counts.messages),
                StatusItem::Recent => "RECENT 0".to_string(),
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
        true
    }

    pub(crate) async fn status(&mut self, raw: &str, items: &[StatusItem]) -> Done {
        let mailbox = match self.resolve_folder(raw).await {
            Ok(m) => m,
            Err(done) => return done,
        };
        if let Err(done) = mailbox.require("r", "read the status") {
            return done;
        }
        if self
            .status_line(&mailbox.folder, &mailbox.display, items)
            .await
        {
            Done::ok("STATUS completed")
        } else {
            Done::no_with(Code::ServerBug, "STATUS failed")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        let m = |p: &str, n: &str| {
            wildcard_match(
                &p.chars().collect::<Vec<_>>(),
                &n.chars().collect::<Vec<_>>(),
            )
        };
        assert!(m("*", "a/b/c"));
        assert!(m("%", "Sent"));
        assert!(!m("%", "a/b"));
        assert!(m("a/%", "a/b"));
        assert!(m("Đơn vị/*", "Đơn vị/STTTT/INBOX"));
        assert!(!m("INBOX", "INBOX/x"));
    }
}
