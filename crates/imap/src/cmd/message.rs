//! Selected-state commands on messages (FETCH is in `fetch`): STORE, SEARCH (and ESEARCH), COPY/MOVE with
//! COPYUID (RFC 4315, RFC 6851), EXPUNGE / UID EXPUNGE (RFC 9051 6.4).

use std::collections::{BTreeMap, HashMap};

use storage::{FlagChange, MessageRow};

use crate::encode::{compact, Code, Done, FetchLine, Status};
use crate::protocol::{SearchKey, SearchReturn, SequenceSet, StoreMode};
use crate::search::{self, Candidate};
use crate::state::{Session, State};

impl Session {
    pub(crate) async fn store(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        mode: StoreMode,
        silent: bool,
        flags: &[String],
        unchanged_since: Option<u64>,
    ) -> Done {
        let Some((folder_id, read_only, _)) = self.selected_ids() else {
            return Done::bad("No mailbox selected");
        };
        if read_only {
            return Done::no_with(Code::ReadOnly, "Mailbox is read-only");
        }
        // RFC 4314 4 (STORE): \Seen needs "s", \Deleted "t", every other flag "w". A STORE
        // "SHOULD NOT fail if the user has rights to modify at least one flag specified": the
        // flags the user may not change are left as they are, and only a STORE naming none
        // the user may change answers NO [NOPERM].
        let rights = self.selected_rights().await;
        let may = |flag: &str| {
            rights.contains(if flag.eq_ignore_ascii_case("\\Seen") {
                's'
            } else if flag.eq_ignore_ascii_case("\\Deleted") {
                't'
            } else {
                'w'
            })
        };
        let flags: Vec<String> = flags
            .iter()
            .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
            .cloned()
            .collect();
        let permitted: Vec<String> = flags.iter().filter(|f| may(f)).cloned().collect();
        if !flags.is_empty() && permitted.is_empty() {
            return Done::no_with(
                Code::NoPerm,
                "You may not change these flags in this mailbox",
            );
        }
        let uids = match self.resolve(set, uid) {
            Ok(u) => u,
            Err(done) => return done,
        };
        self.audit_unit(storage::Action::UnitHandle, &uids).await;
        if unchanged_since.is_some() {
            self.condstore = true;
        }
        let mode = match mode {
            StoreMode::Replace => FlagChange::Replace,
            StoreMode::Add => FlagChange::Add,
            StoreMode::Remove => FlagChange::Remove,
        };
        let steps: Vec<(FlagChange, Vec<String>)> =
            if mode != FlagChange::Replace || "stw".chars().all(|r| rights.contains(r)) {
                vec![(mode, permitted)]
            } else {
                // FLAGS without every flag right replaces only the flags the user may change:
                // those the messages carry and the request does not name are removed, then the
                // named ones added. Flags the user may not change are never touched.
                let current = match self
                    .context
                    .store
                    .messages_with_uids(folder_id, &uids)
                    .await
                {
                    Ok(rows) => rows,
                    Err(e) => return self.server_error(e),
                };
                let mut remove: Vec<String> = vec![];
                let carried = current.iter().flat_map(|r| r.flags.iter());
                for flag in ["\\Seen", "\\Deleted"].into_iter().chain(carried) {
                    let named = |list: &[String]| list.iter().any(|f| f.eq_ignore_ascii_case(flag));
                    if may(flag) && !named(&permitted) && !named(&remove) {
                        remove.push(flag.to_string());
                    }
                }
                let mut steps = vec![];
                if !remove.is_empty() {
                    steps.push((FlagChange::Remove, remove));
                }
                if !permitted.is_empty() || steps.is_empty() {
                    steps.push((FlagChange::Add, permitted));
                }
                steps
            };
        let mut rows: BTreeMap<i64, MessageRow> = BTreeMap::new();
        let mut failed: Vec<i64> = vec![];
        let mut pending = uids;
        let mut since = unchanged_since.map(|m| m as i64);
        for (change, list) in steps {
            let (changed, failed_now) = match self
                .context
                .store
                .store_flags(folder_id, &pending, change, &list, since)
                .await
            {
                Ok(r) => r,
                Err(e) => return self.server_error(e),
            };
            // A second step works on what the first left: the MODSEQ it raised is our own.
            since = None;
            pending.retain(|u| !failed_now.contains(u));
            failed.extend(failed_now);
            rows.extend(changed.into_iter().map(|r| (r.uid, r)));
        }
        failed.sort_unstable();
        let updated: Vec<MessageRow> = rows.into_values().collect();
        self.note_own_changes(&updated);
        for row in &updated {
            // RFC 7162 3.1.3: with CONDSTORE, MODSEQ is reported even for .SILENT.
            if silent && !self.condstore {
                continue;
            }
            let Some(seq) = self.seq_of(row.uid) else {
                continue;
            };
            let mut line = FetchLine::new(seq);
            if !silent {
                line.flags(&row.flags);
            }
            if uid {
                line.uid(row.uid);
            }
            if self.condstore {
                line.modseq(row.modseq);
            }
            self.untagged(&line.untagged_text());
        }
        if !failed.is_empty() {
            let numbers: Vec<i64> = if uid {
                failed
            } else {
                failed
                    .iter()
                    .filter_map(|u| self.seq_of(*u).map(|s| s as i64))
                    .collect()
            };
            return Done::ok_with(
                Code::Modified(numbers),
                "Conditional STORE failed for some messages",
            );
        }
        Done::ok(if uid {
            "UID STORE completed"
        } else {
            "STORE completed"
        })
    }

    pub(crate) async fn search(
        &mut self,
        uid: bool,
        criteria: &SearchKey,
        ret: &SearchReturn,
    ) -> Done {
        let Some((folder_id, _, _)) = self.selected_ids() else {
            return Done::bad("No mailbox selected");
        };
        // RFC 8514 / RFC 8474 keys become UID sets first.
        let resolved = match self.resolve_search_ext(folder_id, criteria).await {
            Ok(key) => key,
            Err(done) => return done,
        };
        let criteria = resolved.as_ref();
        let store = self.context.store.clone();
        let listing = match store.listing(folder_id).await {
            Ok(l) => l,
            Err(e) => return self.server_error(e),
        };
        let rows = &listing.rows;
        let (need_meta, need_header) = search::needs(criteria);
        let State::Selected { mailbox, .. } = &self.state else {
            return Done::bad("No mailbox selected");
        };
        let max_seq = mailbox.uids.len();
        let max_uid = mailbox.max_uid();
        let known: Vec<(usize, i64)> = mailbox
            .uids
            .iter()
            .enumerate()
            .map(|(i, u)| (i + 1, *u))
            .collect();
        let by_uid: HashMap<i64, &MessageRow> = rows.iter().map(|r| (r.uid, r)).collect();
        let mut metas = if need_meta {
            let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
            match store.message_metas(folder_id, &ids).await {
                Ok(m) => m,
                Err(e) => return self.server_error(e),
            }
        } else {
            Default::default()
        };
        let mut hits = vec![];
        let mut highest_modseq = 0;
        for (seq, message_uid) in known {
            let Some(row) = by_uid.get(&message_uid) else {
                continue;
            };
            let meta = if need_meta {
                metas.remove(&row.id)
            } else {
                None
            };
            // Only the header block is read, not the whole message.
            let header = match (need_header, &meta) {
                (true, Some(meta)) => {
                    let read = match store.open_blob(&row.blob_id, row.size).await {
                        Ok(mut blob) => blob
                            .read_range(0, u64::from(meta.root.offset_body))
                            .await
                            .map_err(storage::Error::Io),
                        Err(e) => Err(e),
                    };
                    match read {
                        Ok(bytes) => Some(bytes),
                        Err(e) => return self.server_error(e),
                    }
                }
                _ => None,
            };
            let candidate = Candidate {
                seq,
                row,
                max_seq,
                max_uid,
                meta: meta.as_deref(),
                header: header.as_deref(),
            };
            if search::matches(criteria, &candidate) {
                hits.push(if uid { row.uid } else { seq as i64 });
                highest_modseq = highest_modseq.max(row.modseq);
            }
        }
        let uses_modseq = uses_modseq(criteria);
        if ret.esearch || ret.min || ret.max || ret.count || ret.all {
            // RFC 4731 ESEARCH.
            let mut line = String::from("ESEARCH");
            if uid {
                line.push_str(" UID");
            }
            let everything = !(ret.min || ret.max || ret.count) || ret.all;
            if ret.min {
                if let Some(min) = hits.first() {
                    line.push_str(&format!(" MIN {min}"));
                }
            }
            if ret.max {
                if let Some(max) = hits.last() {
                    line.push_str(&format!(" MAX {max}"));
                }
            }
            if ret.count {
                line.push_str(&format!(" COUNT {}", hits.len()));
            }
            if everything && !hits.is_empty() {
                line.push_str(&format!(" ALL {}", compact(&hits)));
            }
            if uses_modseq && !hits.is_empty() {
                line.push_str(&format!(" MODSEQ {highest_modseq}"));
            }
            self.untagged(&line);
        } else {
            let mut line = String::from("SEARCH");
            for hit in &hits {
                line.push_str(&format!(" {hit}"));
            }
            if uses_modseq && !hits.is_empty() {
                line.push_str(&format!(" (MODSEQ {highest_modseq})"));
            }
            self.untagged(&line);
        }
        Done::ok(if uid {
            "UID SEARCH completed"
        } else {
            "SEARCH completed"
        })
    }

    pub(crate) async fn copy_move(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        mailbox: &str,
        remove: bool,
    ) -> Done {
        let Some((folder_id, read_only, uidvalidity)) = self.selected_ids() else {
            return Done::bad("No mailbox selected");
        };
        if remove && read_only {
            return Done::no_with(Code::ReadOnly, "Mailbox is read-only");
        }
        let uids = match self.resolve(set, uid) {
            Ok(u) => u,
            Err(done) => return done,
        };
        let target = match self.resolve_folder(mailbox).await {
            Ok(m) => m,
            Err(done) if done.has_code(&Code::NonExistent) => {
                return Done::no_with(Code::TryCreate, "No such mailbox")
            }
            Err(done) => return done,
        };
        let _ = uidvalidity;
        if let Err(done) = target.require("i", "add messages") {
            return done;
        }
        let rights = self.selected_rights().await;
        if !rights.contains('r') || (remove && !(rights.contains('t') && rights.contains('e'))) {
            return Done::no_with(
                Code::NoPerm,
                "You may not move messages out of this mailbox",
            );
        }
        self.audit_unit(
            if remove {
                storage::Action::UnitHandle
            } else {
                storage::Action::UnitRead
            },
            &uids,
        )
        .await;
        if uids.is_empty() {
            return Done::ok(if remove {
                "MOVE completed (nothing to move)"
            } else {
                "COPY completed (nothing to copy)"
            });
        }
        let pairs = match self
            .context
            .store
            .copy_messages(folder_id, &uids, target.folder.id, remove)
            .await
        {
            Ok(p) => p,
            Err(e) => return self.server_error(e),
        };
        // RFC 5465 5: the copies this client made are not told back to it.
        self.notify_absorb(&[target.folder.id]).await;
        let sources: Vec<i64> = pairs.iter().map(|p| p.0).collect();
        let copyuid = Code::CopyUid {
            uidvalidity: target.folder.uidvalidity,
            sources: sources.clone(),
            destinations: pairs.iter().map(|p| p.1).collect(),
        };
        if remove {
            // RFC 6851 4.3: COPYUID in an untagged OK, then the expunges.
            self.untagged_status(Status::Ok, Some(&copyuid), "Moved");
            self.report_expunged(&sources);
            Done::ok("MOVE completed")
        } else {
            Done::ok_with(copyuid, "COPY completed")
        }
    }

    pub(crate) async fn expunge(&mut self, only: Option<&SequenceSet>) -> Done {
        let Some((folder_id, read_only, _)) = self.selected_ids() else {
            return Done::bad("No mailbox selected");
        };
        if read_only {
            return Done::no_with(Code::ReadOnly, "Mailbox is read-only");
        }
        if !self.selected_rights().await.contains('e') {
            return Done::no_with(Code::NoPerm, "You may not expunge in this mailbox");
        }
        let only_uids = match only {
            Some(set) => match self.resolve(set, true) {
                Ok(u) => Some(u),
                Err(done) => return done,
            },
            None => None,
        };
        match self
            .context
            .store
            .expunge(folder_id, only_uids.as_deref())
            .await
        {
            Ok(expunged) => {
                self.report_expunged(&expunged);
                Done::ok("EXPUNGE completed")
            }
            Err(e) => self.server_error(e),
        }
    }
}

fn uses_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::ModSeq(_) => true,
        SearchKey::And(keys) => keys.iter().any(uses_modseq),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        SearchKey::Not(k) => uses_modseq(k),
        _ => false,
    }
}
