//! The selected folder as this session sees it: UIDs in sequence order and the highest MODSEQ
//! already reported, plus the catch-up that turns other sessions' changes into untagged
//! EXISTS / EXPUNGE / FETCH responses (RFC 9051 7.5, RFC 7162 3.2).

use tokio::sync::broadcast;

use crate::session::{Session, State};

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
                lines.push(format!("{seq} EXPUNGE"));
                gone.push(uid);
            }
        }
        if qresync {
            gone.sort_unstable();
            lines.clear();
            if !gone.is_empty() {
                lines.push(format!("VANISHED {}", crate::cmd::message::compact(&gone)));
            }
        }
        lines
    }
}

/// Formats a flag list, e.g. `(\Seen $Forwarded)`.
pub fn flag_list(flags: &str) -> String {
    format!("({flags})")
}

impl Session {
    /// Reports changes made by others since the last report. Expunges are held back while
    /// `may_expunge` is false (during FETCH, STORE and SEARCH with sequence numbers).
    pub(crate) async fn sync_selected(&mut self, may_expunge: bool) {
        let (condstore, qresync) = (self.condstore, self.qresync);
        let State::Selected { mailbox, .. } = &mut self.state else {
            return;
        };
        // Drain notifications; the folder row tells whether anything changed at all.
        while mailbox.changes.try_recv().is_ok() {}
        let store = self.context.store.clone();
        let Ok(folder) = store.folder_by_id(mailbox.folder_id).await else {
            return;
        };
        if folder.highestmodseq <= mailbox.modseq_seen {
            return;
        }
        let mut lines = vec![];
        let mut complete = true;
        if let Ok(expunged) = store
            .expunged_since(mailbox.folder_id, mailbox.modseq_seen)
            .await
        {
            if may_expunge {
                lines = mailbox.forget(&expunged, qresync);
            } else {
                complete = !expunged.iter().any(|u| mailbox.seq_of(*u).is_some());
            }
        }
        let Ok(changed) = store
            .messages_changed_since(mailbox.folder_id, mailbox.modseq_seen)
            .await
        else {
            return;
        };
        let mut new_messages = false;
        for message in &changed {
            if message.uid > mailbox.max_uid() {
                mailbox.uids.push(message.uid);
                new_messages = true;
            } else if mailbox.own_modseqs.contains(&message.modseq) {
                continue;
            } else if let Some(seq) = mailbox.seq_of(message.uid) {
                let modseq = if condstore {
                    format!(" MODSEQ ({})", message.modseq)
                } else {
                    String::new()
                };
                lines.push(format!(
                    "{seq} FETCH (UID {} FLAGS {}{modseq})",
                    message.uid,
                    flag_list(&message.flags)
                ));
            }
        }
        if new_messages {
            lines.push(format!("{} EXISTS", mailbox.uids.len()));
        }
        if complete {
            mailbox.modseq_seen = folder.highestmodseq;
            mailbox.own_modseqs.clear();
        }
        for line in lines {
            self.untagged(&line);
        }
    }
}
