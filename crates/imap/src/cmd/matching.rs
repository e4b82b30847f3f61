//! The messages of the selected folder that match a search (RFC 9051 6.4.4): one loop for
//! SEARCH, SORT, THREAD and the RFC 5267 contexts. Reads the shared listing, the stored parse
//! only when a key needs it, and of a body only its header block when a header key needs it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use storage::listing::Listing;

use crate::encode::Done;
use crate::protocol::SearchKey;
use crate::search::{self, Candidate};
use crate::state::{Session, State};

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
        let (need_meta, need_header) = search::needs(criteria);
        // Issue 13: text keys take their candidates from the full-text index, so only those
        // are read and confirmed.
        let plan = search::index_plan(criteria);
        let mut lists = vec![];
        plan.term_lists(&mut lists);
        if !store.full_text_index() {
            // Index off (storage.full_text_index = false): every message is read.
            lists.clear();
        }
        let mut looked_up: HashMap<Vec<String>, HashSet<i64>> = HashMap::new();
        for list in lists {
            if !looked_up.contains_key(list) {
                let ids = store
                    .search_candidates(folder_id, list)
                    .await
                    .map_err(|e| self.server_error(e))?;
                looked_up.insert(list.to_vec(), ids);
            }
        }
        let candidates = if store.full_text_index() {
            plan.candidates(&|list| looked_up.get(list).cloned().unwrap_or_default())
        } else {
            None
        };
        let index: HashMap<i64, usize> = listing
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.uid, i))
            .collect();
        let wanted = |uid: &i64| only.is_none_or(|set| set.contains(uid));
        let indexed = |id: &i64| candidates.as_ref().is_none_or(|set| set.contains(id));
        let mut metas = if need_meta {
            let ids: Vec<i64> = listing
                .rows
                .iter()
                .filter(|r| wanted(&r.uid) && indexed(&r.id))
                .map(|r| r.id)
                .collect();
            store
                .message_metas(folder_id, &ids)
                .await
                .map_err(|e| self.server_error(e))?
        } else {
            HashMap::new()
        };
        let (max_seq, max_uid) = (mailbox.uids.len(), mailbox.max_uid());
        let mut hits = vec![];
        for (i, uid) in mailbox.uids.iter().enumerate() {
            if !wanted(uid) {
                continue;
            }
            // An expunge not yet reported (no EXPUNGE during SORT/THREAD) has no row.
            let Some(&row_index) = index.get(uid) else {
                continue;
            };
            let row = &listing.rows[row_index];
            if !indexed(&row.id) {
                // The index rules it out: a text key it needs cannot match.
                continue;
            }
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
                seq: i + 1,
                row,
                max_seq,
                max_uid,
                meta: meta.as_deref(),
                header: header.as_deref(),
                recent: mailbox.recent.as_ref().map(|_| mailbox.is_recent(row.uid)),
            };
            if search::matches(criteria, &candidate) {
                hits.push((i + 1, row_index));
            }
        }
        Ok(Matches { listing, hits })
    }
}
