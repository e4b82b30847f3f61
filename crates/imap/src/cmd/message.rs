//! Selected-state commands on messages (FETCH is in `fetch`): STORE, SEARCH (and ESEARCH), COPY/MOVE with
//! COPYUID (RFC 4315, RFC 6851), EXPUNGE / UID EXPUNGE (RFC 9051 6.4).

use std::collections::BTreeMap;

use storage::{FlagChange, MessageRow};

use crate::encode::{compact, esearch, Code, Done, FetchLine, Status};
use crate::protocol::{SearchKey, SearchReturn, SequenceSet, StoreMode};
use crate::state::Session;

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
            // RFC 7162 3.1: UNCHANGEDSINCE is CONDSTORE enabling.
            self.enable_condstore();
        }
        let mode = match mode {
            StoreMode::Replace => FlagChange::Replace,
            StoreMode::Add => FlagChange::Add,
            StoreMode::Remove => FlagChange::Remove,
        };
        let train = (mode, permitted.clone());
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
        self.train_after_store(train.0, &train.1, &updated);
        for row in &updated {
            // RFC 7162 3.1.3: with CONDSTORE, MODSEQ is reported even for .SILENT.
            if silent && !self.condstore {
                continue;
            }
            let Some(seq) = self.seq_of(row.uid) else {
                continue;
            };
            if !silent {
                self.announce_keywords(&row.flags);
            }
            let mut line = FetchLine::new(seq);
            if !silent {
                line.flags_recent(&row.flags, self.is_recent(row.uid));
            }
            // RFC 7162 3.1: with CONDSTORE every FETCH a STORE causes carries UID and MODSEQ.
            if uid || self.condstore {
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
        tag: &str,
        uid: bool,
        criteria: &SearchKey,
        ret: &SearchReturn,
    ) -> Done {
        let uses_modseq = uses_modseq(criteria);
        if uses_modseq {
            // RFC 7162 3.1: the MODSEQ search key is CONDSTORE enabling.
            self.enable_condstore();
        }
        let matches = match self.matching(criteria, None).await {
            Ok(m) => m,
            Err(done) => return done,
        };
        // (number, MODSEQ) of each match, ascending.
        let hits: Vec<(i64, i64)> = matches
            .hits
            .iter()
            .map(|&(seq, i)| {
                let row = &matches.listing.rows[i];
                (if uid { row.uid } else { seq as i64 }, row.modseq)
            })
            .collect();
        // RFC 9051 6.4.4: an IMAP4rev2 SEARCH answers ESEARCH, as SEARCH RETURN does.
        let line = if self.rev2 || ret.esearch || ret.min || ret.max || ret.count || ret.all {
            esearch_line(tag, uid, ret, &hits, uses_modseq)
        } else {
            let mut line = String::with_capacity(8 + hits.len() * 7);
            line.push_str("SEARCH");
            // Up to a whole mailbox of numbers: without the formatting machinery.
            let mut number = itoa::Buffer::new();
            for (hit, _) in &hits {
                line.push(' ');
                line.push_str(number.format(*hit));
            }
            // RFC 7162 3.1.5: the highest MODSEQ of the messages returned.
            if let Some(highest) = hits.iter().map(|h| h.1).max().filter(|_| uses_modseq) {
                line.push_str(&format!(" (MODSEQ {highest})"));
            }
            line
        };
        self.untagged(&line);
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
        self.train_after_copy(
            folder_id,
            target.folder.id,
            pairs.iter().map(|p| p.1).collect(),
        );
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
            .expunge_noting_modseq(folder_id, only_uids.as_deref())
            .await
        {
            Ok((expunged, modseq)) => {
                self.note_own_modseq(modseq);
                self.report_expunged(&expunged);
                Done::ok("EXPUNGE completed")
            }
            Err(e) => self.server_error(e),
        }
    }
}

/// RFC 4731 3.1 / RFC 9051 7.3.4: `ESEARCH (TAG "tag") [UID] ...` for the matches `hits`
/// (number, MODSEQ), ascending. The correlator names the command's tag (RFC 4466 2.6.2;
/// a tag never holds `"` or `\\`, so it is always a valid quoted string).
fn esearch_line(
    tag: &str,
    uid: bool,
    ret: &SearchReturn,
    hits: &[(i64, i64)],
    uses_modseq: bool,
) -> String {
    let mut line = esearch::head(tag, uid);
    // `RETURN ()`, or no RETURN at all in IMAP4rev2, means ALL (RFC 4731 3.1).
    let everything = ret.all || !(ret.min || ret.max || ret.count);
    let (first, last) = (hits.first(), hits.last());
    // RFC 4731 3.1: MIN, MAX and ALL are left out when nothing matches; COUNT never is.
    if let (true, Some((min, _))) = (ret.min, first) {
        line.push_str(&format!(" MIN {min}"));
    }
    if let (true, Some((max, _))) = (ret.max, last) {
        line.push_str(&format!(" MAX {max}"));
    }
    if ret.count {
        line.push_str(&format!(" COUNT {}", hits.len()));
    }
    if everything && !hits.is_empty() {
        let numbers: Vec<i64> = hits.iter().map(|h| h.0).collect();
        line.push_str(&format!(" ALL {}", compact(&numbers)));
    }
    // RFC 4731 3.2 / RFC 7162 3.1.5: MODSEQ is the highest mod-sequence of the messages
    // returned: all matches for ALL or COUNT, else only the MIN and/or MAX message.
    let returned: Vec<&(i64, i64)> = if everything || ret.count {
        hits.iter().collect()
    } else {
        let mut some = vec![];
        some.extend(first.filter(|_| ret.min));
        some.extend(last.filter(|_| ret.max));
        some
    };
    if let Some(highest) = returned.iter().map(|h| h.1).max().filter(|_| uses_modseq) {
        line.push_str(&format!(" MODSEQ {highest}"));
    }
    line
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
