//! The selected folder as this session sees it: UIDs in sequence order and the highest MODSEQ
//! already reported, plus the catch-up that turns other sessions' changes into untagged
//! EXISTS / EXPUNGE / FETCH responses (RFC 9051 7.5, RFC 7162 3.2).

use tokio::sync::broadcast;

use crate::encode::{sequence, FetchLine};

pub struct Selected {
    pub folder_id: i64,
    /// The owner of the folder.
    pub account_id: i64,
    pub name: String,
    pub read_only: bool,
    pub uidvalidity: i64,
    /// UIDs in ascending order; message sequence number = index + 1.
    pub uids: Vec<i64>,
    /// Every change with a MODSEQ up to this has been reported.
    pub modseq_seen: i64,
    /// MODSEQs of changes this session made and already reported itself (STORE, implicit
    /// \Seen): not echoed back as FETCH by the catch-up.
    pub own_modseqs: Vec<i64>,
    pub changes: broadcast::Receiver<storage::FolderChange>,
}

impl Selected {
    pub fn seq_of(&self, uid: i64) -> Option<usize> {
        self.uids.binary_search(&uid).ok().map(|i| i + 1)
    }

    pub fn max_uid(&self) -> i64 {
        self.uids.last().copied().unwrap_or(0)
    }

    /// Drops expunged UIDs from the view and words the report: `n EXPUNGE` for each, or once
    /// QRESYNC is enabled a single `VANISHED uids` (RFC 7162 3.2.10).
    pub fn forget(&mut self, uids: &[i64], qresync: bool) -> Vec<String> {
        let mut lines = vec![];
        let mut gone = vec![];
        for &uid in uids {
            if let Some(seq) = self.seq_of(uid) {
                self.uids.remove(seq - 1);
                lines.push(sequence::expunge(seq));
                gone.push(uid);
            }
        }
        if qresync {
            gone.sort_unstable();
            lines.clear();
            if !gone.is_empty() {
                lines.push(sequence::vanished(&gone, false));
            }
        }
        lines
    }

    /// The untagged lines (without `* `) that report changes made by others since the last
    /// report. Expunges are held back while `may_expunge` is false (during FETCH, STORE and
    /// SEARCH with sequence numbers, RFC 9051 7.5.1).
    pub async fn catch_up(
        &mut self,
        store: &storage::Store,
        condstore: bool,
        qresync: bool,
        may_expunge: bool,
    ) -> Vec<String> {
        // Drain notifications; the folder row tells whether anything changed at all.
        while self.changes.try_recv().is_ok() {}
        let Ok(folder) = store.folder_by_id(self.folder_id).await else {
            return vec![];
        };
        if folder.highestmodseq <= self.modseq_seen {
            return vec![];
        }
        let mut lines = vec![];
        let mut complete = true;
        if let Ok(expunged) = store.expunged_since(self.folder_id, self.modseq_seen).await {
            if may_expunge {
                lines = self.forget(&expunged, qresync);
            } else {
                complete = !expunged.iter().any(|u| self.seq_of(*u).is_some());
            }
        }
        let Ok(changed) = store
            .messages_changed_since(self.folder_id, self.modseq_seen)
            .await
        else {
            return vec![];
        };
        let mut new_messages = false;
        for message in &changed {
            if message.uid > self.max_uid() {
                self.uids.push(message.uid);
                new_messages = true;
            } else if self.own_modseqs.contains(&message.modseq) {
                continue;
            } else if let Some(seq) = self.seq_of(message.uid) {
                let mut line = FetchLine::new(seq);
                line.uid(message.uid);
                line.flags(&message.flags);
                if condstore {
                    line.modseq(message.modseq);
                }
                lines.push(line.untagged_text());
            }
        }
        if new_messages {
            lines.push(format!("{} EXISTS", self.uids.len()));
        }
        if complete {
            self.modseq_seen = folder.highestmodseq;
            self.own_modseqs.clear();
        }
        lines
    }
}
