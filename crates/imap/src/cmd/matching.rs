//! The messages of the selected folder that match a search (RFC 9051 6.4.4): one loop for
//! SEARCH, SORT, THREAD and the RFC 5267 contexts. Reads the shared listing, the stored parse
//! only when a key needs it, and of a body only its header block when a header key needs it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use storage::listing::Listing;
use storage::search_index::IndexAnswer;

use crate::encode::Done;
use crate::protocol::{SearchKey, UidSet};
use crate::search::{self, Candidate, Lookup};
use crate::state::{Session, State};

/// Most stored parses one search holds at a time.
const META_CHUNK: usize = 512;

/// Matching messages: the listing they come from and (sequence number, index into its rows),
/// in mailbox order.
pub(crate) struct Matches {
    pub listing: Arc<Listing>,
    pub hits: Vec<(usize, usize)>,
}

impl Session {
    /// The selected folder's messages that match `criteria` (RFC 9051 6.4.4); with `only`,
    /// just those among these UIDs.
    pub(crate) async fn matching(
        &self,
        criteria: &SearchKey,
        only: Option<&HashSet<i64>>,
    ) -> Result<Matches, Done> {
        let State::Selected { mailbox, .. } = &self.state else {
            return Err(Done::bad("No mailbox selected"));
        };
        let folder_id = mailbox.folder_id;
        // RFC 8514 / RFC 8474 keys become UID sets first.
        let resolved = self.resolve_search_ext(folder_id, criteria).await?;
        let criteria = resolved.as_ref();
        let store = &self.context.store;
        let listing = store
            .listing(folder_id)
            .await
            .map_err(|e| self.server_error(e))?;
        // Issue 13: keys the index answers alone become UID sets (nothing read for them).
        // Each look-up is asked of the index once per command, whichever step needs it.
        let mut answers: HashMap<Lookup, IndexAnswer> = HashMap::new();
        let exact = if store.full_text_index() {
            self.resolve_exact(folder_id, criteria, &listing, &mut answers)
                .await?
        } else {
            None
        };
        let criteria = exact.as_ref().unwrap_or(criteria);
        let (need_meta, need_header) = search::needs(criteria);
        let need_recent = search::needs_recent(criteria);
        // The other text keys take their candidates from the index, so only those are read
        // and confirmed. Index off (storage.full_text_index = false): every message is read.
        let plan = if store.full_text_index() {
            search::index_plan(criteria)
        } else {
            search::IndexPlan::Any
        };
        let mut lookups = vec![];
        plan.lookups(&mut lookups);
        let mut looked_up: HashMap<&Lookup, HashSet<i64>> = HashMap::new();
        for lookup in lookups {
            if !looked_up.contains_key(lookup) {
                let answer = self.index_answer(folder_id, lookup, &mut answers).await?;
                let ids = listing.rows_matching(answer).map(|r| r.id).collect();
                looked_up.insert(lookup, ids);
            }
        }
        let candidates = plan.candidates(&|l| looked_up.get(l).cloned().unwrap_or_default());
        let wanted = |uid: &i64| only.is_none_or(|set| set.contains(uid));
        let indexed = |id: &i64| candidates.as_ref().is_none_or(|set| set.contains(id));
        let rows = &listing.rows;
        if let SearchKey::Uids(set) = criteria {
            // Answered by the index alone (one text key): the session's messages in the set,
            // nothing evaluated per message. The set, the session's UIDs and the listing's rows
            // are all in UID order: one merge walk of the three.
            let mut hits = vec![];
            let mut found = set.iter().peekable();
            let mut at = 0;
            for (i, uid) in mailbox.uids.iter().enumerate() {
                while found.next_if(|u| *u < uid).is_some() {}
                if found.peek() != Some(&uid) {
                    continue;
                }
                while at < rows.len() && rows[at].uid < *uid {
                    at += 1;
                }
                if at < rows.len() && rows[at].uid == *uid && wanted(uid) {
                    hits.push((i + 1, at));
                }
            }
            return Ok(Matches { listing, hits });
        }
        // (sequence number, row) of every message to evaluate, in mailbox order. The session's
        // UIDs and the listing's rows are both in UID order: one merge walk.
        let mut todo: Vec<(usize, usize)> = vec![];
        let mut at = 0;
        for (i, uid) in mailbox.uids.iter().enumerate() {
            while at < rows.len() && rows[at].uid < *uid {
                at += 1;
            }
            // An expunge not yet reported (no EXPUNGE during SORT/THREAD) has no row.
            if at == rows.len() || rows[at].uid != *uid || !wanted(uid) {
                continue;
            }
            // Ruled out by the index: a text key it needs cannot match.
            if indexed(&rows[at].id) {
                todo.push((i + 1, at));
            }
        }
        let (max_seq, max_uid) = (mailbox.uids.len(), mailbox.max_uid());
        let mut hits = vec![];
        // Stored parses are read a chunk at a time: a search holds at most META_CHUNK of them,
        // however large the folder.
        for chunk in todo.chunks(META_CHUNK) {
            let mut metas = if need_meta {
                let ids: Vec<i64> = chunk.iter().map(|(_, r)| listing.rows[*r].id).collect();
                store
                    .message_metas(folder_id, &ids)
                    .await
                    .map_err(|e| self.server_error(e))?
            } else {
                HashMap::new()
            };
            for &(seq, row_index) in chunk {
                let row = &listing.rows[row_index];
                let meta = metas.remove(&row.id);
                // Only the header block is read, never the whole message.
                let header = match (need_header, &meta) {
                    (true, Some(meta)) => {
                        let mut blob = store
                            .open_blob(&row.blob_id, row.size)
                            .await
                            .map_err(|e| self.server_error(e))?;
                        Some(
                            blob.read_range(0, u64::from(meta.root.offset_body))
                                .await
                                .map_err(|e| self.server_error(storage::Error::Io(e)))?,
                        )
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
                    recent: mailbox
                        .recent
                        .as_ref()
                        .filter(|_| need_recent)
                        .map(|_| mailbox.is_recent(row.uid)),
                    words: store.full_text_index(),
                };
                if search::matches(criteria, &candidate) {
                    hits.push((seq, row_index));
                }
            }
        }
        Ok(Matches { listing, hits })
    }

    /// `key` with every key the index answers alone ([`search::exact_lookup`]) replaced by the
    /// UIDs of the folder whose body has a matching term; None when there is no such key. A key
    /// stays as it is while some message of the folder is not fully indexed, or its listing
    /// row came without its document (it is confirmed then, like the others).
    async fn resolve_exact(
        &self,
        folder_id: i64,
        key: &SearchKey,
        listing: &Listing,
        answers: &mut HashMap<Lookup, IndexAnswer>,
    ) -> Result<Option<SearchKey>, Done> {
        let mut lookups = vec![];
        exact_lookups(key, &mut lookups);
        if lookups.is_empty() {
            return Ok(None);
        }
        let mut uids: HashMap<Lookup, UidSet> = HashMap::new();
        for lookup in lookups {
            if uids.contains_key(&lookup) {
                continue;
            }
            let answer = self.index_answer(folder_id, &lookup, answers).await?;
            if listing.unknown_docs() > 0 && answer.unsure.is_empty() {
                // Rows read before their bodies were indexed (by another process, say), or
                // stored by an older node: read again, with their documents, by the next
                // command.
                if let Err(e) = self.context.store.fill_message_docs(folder_id).await {
                    tracing::warn!(error = %e, folder_id, "could not fill in documents");
                }
            }
            if !answer.unsure.is_empty() || !answer.exact || listing.unknown_docs() > 0 {
                return Ok(None);
            }
            let set = listing.rows_matching(answer).map(|r| r.uid).collect();
            uids.insert(lookup, set);
        }
        Ok(Some(rewrite_exact(key, &uids)))
    }

    /// The index's answer for `lookup`, asked of storage the first time only.
    async fn index_answer<'a>(
        &self,
        folder_id: i64,
        lookup: &Lookup,
        answers: &'a mut HashMap<Lookup, IndexAnswer>,
    ) -> Result<&'a IndexAnswer, Done> {
        if !answers.contains_key(lookup) {
            let answer = self
                .context
                .store
                .search_index(folder_id, &lookup.fields, &lookup.words)
                .await
                .map_err(|e| self.server_error(e))?;
            answers.insert(lookup.clone(), answer);
        }
        Ok(&answers[lookup])
    }
}

fn exact_lookups(key: &SearchKey, out: &mut Vec<Lookup>) {
    match key {
        SearchKey::And(keys) => keys.iter().for_each(|k| exact_lookups(k, out)),
        SearchKey::Or(a, b) => {
            exact_lookups(a, out);
            exact_lookups(b, out);
        }
        SearchKey::Not(k) => exact_lookups(k, out),
        k => out.extend(search::exact_lookup(k)),
    }
}

fn rewrite_exact(key: &SearchKey, answers: &HashMap<Lookup, UidSet>) -> SearchKey {
    use SearchKey::*;
    match key {
        And(keys) => And(keys.iter().map(|k| rewrite_exact(k, answers)).collect()),
        Or(a, b) => Or(
            Box::new(rewrite_exact(a, answers)),
            Box::new(rewrite_exact(b, answers)),
        ),
        Not(k) => Not(Box::new(rewrite_exact(k, answers))),
        k => match search::exact_lookup(k).and_then(|l| answers.get(&l)) {
            Some(uids) => Uids(uids.clone()),
            None => k.clone(),
        },
    }
}
