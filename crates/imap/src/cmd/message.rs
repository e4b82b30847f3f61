//! Selected-state commands on messages: FETCH, STORE, SEARCH (and ESEARCH), COPY/MOVE with
//! COPYUID (RFC 4315, RFC 6851), EXPUNGE / UID EXPUNGE (RFC 9051 6.4).

use std::collections::HashMap;

use storage::{FlagChange, MessageRow};

use crate::fetch;
use crate::protocol::{
    FetchItem, SearchKey, SearchReturn, Section, SectionText, SeqBound, SequenceSet, StoreMode,
};
use crate::search::{self, Candidate};
use crate::selected::flag_list;
use crate::session::{Done, Session, State};

/// Compact `1:3,5` form of sorted numbers.
pub(crate) fn compact(numbers: &[i64]) -> String {
    let mut parts = vec![];
    let mut i = 0;
    while i < numbers.len() {
        let start = numbers[i];
        let mut end = start;
        while i + 1 < numbers.len() && numbers[i + 1] == end + 1 {
            i += 1;
            end = numbers[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
        i += 1;
    }
    parts.join(",")
}

impl Session {
    /// The UIDs a set names, ascending. Sequence numbers beyond the mailbox are an error.
    fn resolve(&self, set: &SequenceSet, uid: bool) -> Result<Vec<i64>, Done> {
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
                .filter(|u| search::in_set(set, *u, max))
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
            .filter(|(i, _)| search::in_set(set, *i as i64 + 1, n))
            .map(|(_, u)| *u)
            .collect())
    }

    fn selected_ids(&self) -> Option<(i64, bool, i64)> {
        match &self.state {
            State::Selected { mailbox, .. } => {
                Some((mailbox.folder_id, mailbox.read_only, mailbox.uidvalidity))
            }
            _ => None,
        }
    }

    /// Remembers changes this session reported itself.
    fn note_own_changes(&mut self, rows: &[MessageRow]) {
        if let State::Selected { mailbox, .. } = &mut self.state {
            mailbox.own_modseqs.extend(rows.iter().map(|r| r.modseq));
        }
    }

    fn seq_of(&self, uid: i64) -> Option<usize> {
        match &self.state {
            State::Selected { mailbox, .. } => mailbox.seq_of(uid),
            _ => None,
        }
    }

    pub(crate) async fn fetch(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        items: &[FetchItem],
        changed_since: Option<u64>,
        vanished: bool,
    ) -> Done {
        let Some((folder_id, read_only, _)) = self.selected_ids() else {
            return Done::bad("No mailbox selected");
        };
        // Rights are re-read on every command: a revoke applies to open sessions (RFC 4314).
        let rights = self.selected_rights().await;
        if !rights.contains('r') {
            return Done::no("[NOPERM] Your access to this mailbox has been withdrawn");
        }
        let read_only = read_only || !rights.contains('s');
        let uids = match self.resolve(set, uid) {
            Ok(u) => u,
            Err(done) => return done,
        };
        if changed_since.is_some() {
            self.condstore = true;
        }
        let store = self.context.store.clone();
        if vanished {
            // RFC 7162 3.2.6: UID FETCH (CHANGEDSINCE m VANISHED) first names the UIDs in the
            // set expunged since m. The parser has checked UID FETCH and CHANGEDSINCE.
            if !self.qresync {
                return Done::bad("VANISHED needs ENABLE QRESYNC first");
            }
            let since = changed_since.unwrap_or(0) as i64;
            // `*` reaches past the highest UID left: `1:*` names every expunged UID too.
            let star = i64::MAX;
            match store.expunged_since(folder_id, since).await {
                Ok(gone) => {
                    let gone: Vec<i64> = gone
                        .into_iter()
                        .filter(|u| search::in_set(set, *u, star))
                        .collect();
                    if !gone.is_empty() {
                        self.untagged(&format!("VANISHED (EARLIER) {}", compact(&gone)));
                    }
                }
                Err(e) => return self.server_error(e),
            }
        }
        let rows = match store.messages(folder_id).await {
            Ok(r) => r,
            Err(e) => return self.server_error(e),
        };
        let mut by_uid: HashMap<i64, MessageRow> = rows.into_iter().map(|r| (r.uid, r)).collect();
        // Fetching a body section without PEEK sets \Seen (RFC 9051 6.4.5).
        let sets_seen = !read_only
            && items.iter().any(|i| {
                matches!(
                    i,
                    FetchItem::BodySection { peek: false, .. }
                        | FetchItem::Binary { peek: false, .. }
                        | FetchItem::Rfc822
                        | FetchItem::Rfc822Text
                )
            });
        let mut flags_changed = vec![];
        if sets_seen {
            let unseen: Vec<i64> = uids
                .iter()
                .copied()
                .filter(|u| {
                    by_uid.get(u).is_some_and(|r| {
                        !r.flags
                            .split_whitespace()
                            .any(|f| f.eq_ignore_ascii_case("\\Seen"))
                    })
                })
                .collect();
            if !unseen.is_empty() {
                match store
                    .store_flags(
                        folder_id,
                        &unseen,
                        FlagChange::Add,
                        &["\\Seen".to_string()],
                        None,
                    )
                    .await
                {
                    Ok((updated, _)) => {
                        self.note_own_changes(&updated);
                        for row in updated {
                            flags_changed.push(row.uid);
                            by_uid.insert(row.uid, row);
                        }
                    }
                    Err(e) => return self.server_error(e),
                }
            }
        }
        let reads_body = items.iter().any(|i| {
            matches!(
                i,
                FetchItem::BodySection { .. }
                    | FetchItem::Binary { .. }
                    | FetchItem::Rfc822
                    | FetchItem::Rfc822Text
            )
        });
        if reads_body {
            self.audit_unit("unit.read", &uids).await;
        }
        let needs_meta = items.iter().any(|i| {
            !matches!(
                i,
                FetchItem::Flags
                    | FetchItem::InternalDate
                    | FetchItem::Rfc822Size
                    | FetchItem::Uid
                    | FetchItem::ModSeq
            )
        });
        let needs_blob = items.iter().any(|i| {
            matches!(
                i,
                FetchItem::BodySection { .. }
                    | FetchItem::Binary { .. }
                    | FetchItem::BinarySize { .. }
                    | FetchItem::Rfc822
                    | FetchItem::Rfc822Header
                    | FetchItem::Rfc822Text
            )
        });
        // One query for the stored parse of every message this FETCH touches.
        let mut metas = if needs_meta {
            let ids: Vec<i64> = uids
                .iter()
                .filter_map(|u| by_uid.get(u).map(|r| r.id))
                .collect();
            match store.message_metas(folder_id, &ids).await {
                Ok(m) => m,
                Err(e) => return self.server_error(e),
            }
        } else {
            Default::default()
        };
        for message_uid in uids {
            let Some(row) = by_uid.get(&message_uid) else {
                continue;
            };
            if changed_since.is_some_and(|since| row.modseq as u64 <= since) {
                continue;
            }
            let Some(seq) = self.seq_of(message_uid) else {
                continue;
            };
            let meta = if needs_meta {
                match metas.remove(&row.id) {
                    Some(m) => Some(m),
                    None => match store.message_meta(row.id).await {
                        Ok(m) => Some(m),
                        Err(e) => return self.server_error(e),
                    },
                }
            } else {
                None
            };
            let blob = if needs_blob {
                match store.read_blob(&row.blob_id).await {
                    Ok(b) => Some(b),
                    Err(e) => return self.server_error(e),
                }
            } else {
                None
            };
            let mut out = format!("* {seq} FETCH (").into_bytes();
            let mut first = true;
            let mut sep = |out: &mut Vec<u8>| {
                if !std::mem::take(&mut first) {
                    out.push(b' ');
                }
            };
            let mut wrote_uid = false;
            let mut wrote_flags = false;
            let mut wrote_modseq = false;
            for item in items {
                match item {
                    FetchItem::Uid => {
                        sep(&mut out);
                        out.extend_from_slice(format!("UID {}", row.uid).as_bytes());
                        wrote_uid = true;
                    }
                    FetchItem::Flags => {
                        sep(&mut out);
                        out.extend_from_slice(
                            format!("FLAGS {}", flag_list(&row.flags)).as_bytes(),
                        );
                        wrote_flags = true;
                    }
                    FetchItem::ModSeq => {
                        sep(&mut out);
                        out.extend_from_slice(format!("MODSEQ ({})", row.modseq).as_bytes());
                        wrote_modseq = true;
                    }
                    FetchItem::InternalDate => {
                        sep(&mut out);
                        out.extend_from_slice(
                            format!(
                                "INTERNALDATE \"{}\"",
                                fetch::internal_date(row.internal_date)
                            )
                            .as_bytes(),
                        );
                    }
                    FetchItem::Rfc822Size => {
                        sep(&mut out);
                        out.extend_from_slice(format!("RFC822.SIZE {}", row.size).as_bytes());
                    }
                    FetchItem::Envelope => {
                        sep(&mut out);
                        out.extend_from_slice(b"ENVELOPE ");
                        fetch::envelope(
                            &meta.as_ref().expect("loaded").envelope,
                            self.utf8,
                            &mut out,
                        );
                    }
                    FetchItem::Body | FetchItem::BodyStructure => {
                        sep(&mut out);
                        let extended = matches!(item, FetchItem::BodyStructure);
                        out.extend_from_slice(if extended {
                            b"BODYSTRUCTURE "
                        } else {
                            b"BODY "
                        });
                        fetch::body_structure(
                            &meta.as_ref().expect("loaded").root,
                            extended,
                            self.utf8,
                            &mut out,
                        );
                    }
                    FetchItem::Rfc822 | FetchItem::Rfc822Header | FetchItem::Rfc822Text => {
                        let (label, text) = match item {
                            FetchItem::Rfc822 => ("RFC822", SectionText::Full),
                            FetchItem::Rfc822Header => ("RFC822.HEADER", SectionText::Header),
                            _ => ("RFC822.TEXT", SectionText::Text),
                        };
                        let section = Section { part: vec![], text };
                        let bytes = fetch::section_bytes(
                            blob.as_deref().expect("loaded"),
                            &meta.as_ref().expect("loaded").root,
                            &section,
                        )
                        .unwrap_or_default();
                        sep(&mut out);
                        out.extend_from_slice(label.as_bytes());
                        out.push(b' ');
                        fetch::literal(&bytes, &mut out);
                    }
                    FetchItem::BodySection {
                        section, partial, ..
                    } => {
                        let bytes = fetch::section_bytes(
                            blob.as_deref().expect("loaded"),
                            &meta.as_ref().expect("loaded").root,
                            section,
                        );
                        sep(&mut out);
                        out.extend_from_slice(
                            format!("BODY[{}]", fetch::section_label(section)).as_bytes(),
                        );
                        write_partial(bytes, *partial, &mut out);
                    }
                    FetchItem::Binary { part, partial, .. } => {
                        match fetch::binary_bytes(
                            blob.as_deref().expect("loaded"),
                            &meta.as_ref().expect("loaded").root,
                            part,
                        ) {
                            Some(Err(())) => {
                                return Done::no("[UNKNOWN-CTE] Unknown content transfer encoding")
                            }
                            bytes => {
                                let label: Vec<String> = part.iter().map(u32::to_string).collect();
                                sep(&mut out);
                                out.extend_from_slice(
                                    format!("BINARY[{}]", label.join(".")).as_bytes(),
                                );
                                write_partial(bytes.and_then(Result::ok), *partial, &mut out);
                            }
                        }
                    }
                    FetchItem::BinarySize { part } => {
                        let size = match fetch::binary_bytes(
                            blob.as_deref().expect("loaded"),
                            &meta.as_ref().expect("loaded").root,
                            part,
                        ) {
                            Some(Ok(bytes)) => bytes.len().to_string(),
                            Some(Err(())) => {
                                return Done::no("[UNKNOWN-CTE] Unknown content transfer encoding")
                            }
                            None => "NIL".to_string(),
                        };
                        let label: Vec<String> = part.iter().map(u32::to_string).collect();
                        sep(&mut out);
                        out.extend_from_slice(
                            format!("BINARY.SIZE[{}] {size}", label.join(".")).as_bytes(),
                        );
                    }
                }
            }
            // UID FETCH always returns UID; changed flags and CONDSTORE MODSEQ ride along.
            if uid && !wrote_uid {
                sep(&mut out);
                out.extend_from_slice(format!("UID {}", row.uid).as_bytes());
            }
            if !wrote_flags && flags_changed.contains(&row.uid) {
                sep(&mut out);
                out.extend_from_slice(format!("FLAGS {}", flag_list(&row.flags)).as_bytes());
            }
            if self.condstore && !wrote_modseq {
                sep(&mut out);
                out.extend_from_slice(format!("MODSEQ ({})", row.modseq).as_bytes());
            }
            out.extend_from_slice(b")\r\n");
            self.out.extend_from_slice(&out);
        }
        Done::ok(if uid {
            "UID FETCH completed"
        } else {
            "FETCH completed"
        })
    }

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
            return Done::no("[READ-ONLY] Mailbox is read-only");
        }
        // RFC 4314 4: \Seen needs s, \Deleted needs t, other flags need w.
        let rights = self.selected_rights().await;
        for flag in flags {
            let needed = if flag.eq_ignore_ascii_case("\\Seen") {
                's'
            } else if flag.eq_ignore_ascii_case("\\Deleted") {
                't'
            } else {
                'w'
            };
            if !rights.contains(needed) {
                return Done::no(format!("[NOPERM] You may not set {flag} in this mailbox"));
            }
        }
        let uids = match self.resolve(set, uid) {
            Ok(u) => u,
            Err(done) => return done,
        };
        self.audit_unit("unit.handle", &uids).await;
        if unchanged_since.is_some() {
            self.condstore = true;
        }
        let flags: Vec<String> = flags
            .iter()
            .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
            .cloned()
            .collect();
        let mode = match mode {
            StoreMode::Replace => FlagChange::Replace,
            StoreMode::Add => FlagChange::Add,
            StoreMode::Remove => FlagChange::Remove,
        };
        let (updated, failed) = match self
            .context
            .store
            .store_flags(
                folder_id,
                &uids,
                mode,
                &flags,
                unchanged_since.map(|m| m as i64),
            )
            .await
        {
            Ok(r) => r,
            Err(e) => return self.server_error(e),
        };
        self.note_own_changes(&updated);
        for row in &updated {
            // RFC 7162 3.1.3: with CONDSTORE, MODSEQ is reported even for .SILENT.
            if silent && !self.condstore {
                continue;
            }
            let Some(seq) = self.seq_of(row.uid) else {
                continue;
            };
            let mut line = format!("{seq} FETCH (");
            let mut parts = vec![];
            if !silent {
                parts.push(format!("FLAGS {}", flag_list(&row.flags)));
            }
            if uid {
                parts.push(format!("UID {}", row.uid));
            }
            if self.condstore {
                parts.push(format!("MODSEQ ({})", row.modseq));
            }
            line.push_str(&parts.join(" "));
            line.push(')');
            self.untagged(&line);
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
            return Done::ok(format!(
                "[MODIFIED {}] Conditional STORE failed for some messages",
                compact(&numbers)
            ));
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
        let store = self.context.store.clone();
        let rows = match store.messages(folder_id).await {
            Ok(r) => r,
            Err(e) => return self.server_error(e),
        };
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
            store
                .message_metas(folder_id, &ids)
                .await
                .unwrap_or_default()
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
            let blob = if need_header {
                store.read_blob(&row.blob_id).await.ok()
            } else {
                None
            };
            let header = match (&blob, &meta) {
                (Some(blob), Some(meta)) => {
                    Some(&blob[..(meta.root.offset_body as usize).min(blob.len())])
                }
                _ => None,
            };
            let candidate = Candidate {
                seq,
                row,
                max_seq,
                max_uid,
                meta: meta.as_ref(),
                header,
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
            return Done::no("[READ-ONLY] Mailbox is read-only");
        }
        let uids = match self.resolve(set, uid) {
            Ok(u) => u,
            Err(done) => return done,
        };
        let target = match self.resolve_folder(mailbox).await {
            Ok(m) => m,
            Err(done) if done.text.starts_with("[NONEXISTENT]") => {
                return Done::no("[TRYCREATE] No such mailbox")
            }
            Err(done) => return done,
        };
        let _ = uidvalidity;
        if let Err(done) = target.require("i", "add messages") {
            return done;
        }
        let rights = self.selected_rights().await;
        if !rights.contains('r') || (remove && !(rights.contains('t') && rights.contains('e'))) {
            return Done::no("[NOPERM] You may not move messages out of this mailbox");
        }
        self.audit_unit(if remove { "unit.handle" } else { "unit.read" }, &uids)
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
        let sources: Vec<i64> = pairs.iter().map(|p| p.0).collect();
        let destinations: Vec<i64> = pairs.iter().map(|p| p.1).collect();
        let copyuid = format!(
            "[COPYUID {} {} {}]",
            target.folder.uidvalidity,
            compact(&sources),
            compact(&destinations)
        );
        if remove {
            // RFC 6851 4.3: COPYUID in an untagged OK, then the expunges.
            self.untagged(&format!("OK {copyuid} Moved"));
            self.report_expunged(&sources);
            Done::ok("MOVE completed")
        } else {
            Done::ok(format!("{copyuid} COPY completed"))
        }
    }

    /// Reports expunged UIDs (EXPUNGE or VANISHED) and drops them from the view.
    fn report_expunged(&mut self, uids: &[i64]) {
        let qresync = self.qresync;
        let lines = match &mut self.state {
            State::Selected { mailbox, .. } => mailbox.forget(uids, qresync),
            _ => vec![],
        };
        for line in lines {
            self.untagged(&line);
        }
    }

    pub(crate) async fn expunge(&mut self, only: Option<&SequenceSet>) -> Done {
        let Some((folder_id, read_only, _)) = self.selected_ids() else {
            return Done::bad("No mailbox selected");
        };
        if read_only {
            return Done::no("[READ-ONLY] Mailbox is read-only");
        }
        if !self.selected_rights().await.contains('e') {
            return Done::no("[NOPERM] You may not expunge in this mailbox");
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

/// Writes ` <literal>` or `<origin> <literal>` for a partial fetch, or ` NIL`.
fn write_partial(bytes: Option<Vec<u8>>, partial: Option<(u32, u32)>, out: &mut Vec<u8>) {
    match (bytes, partial) {
        (None, _) => out.extend_from_slice(b" NIL"),
        (Some(bytes), None) => {
            out.push(b' ');
            fetch::literal(&bytes, out);
        }
        (Some(bytes), Some((offset, length))) => {
            let start = (offset as usize).min(bytes.len());
            let end = start.saturating_add(length as usize).min(bytes.len());
            out.extend_from_slice(format!("<{offset}> ").as_bytes());
            fetch::literal(&bytes[start..end], out);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn compact_ranges() {
        assert_eq!(super::compact(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(super::compact(&[]), "");
    }
}
