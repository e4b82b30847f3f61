//! The selected folder as this session sees it: UIDs in sequence order and the highest MODSEQ
//! already reported, plus the catch-up that turns other sessions' changes into untagged
//! EXISTS / EXPUNGE / FETCH responses (RFC 9051 7.5, RFC 7162 3.2), the keywords the client
//! was told about (FLAGS, RFC 9051 7.3.5) and the messages \Recent in this session
//! (RFC 3501 2.3.2).

use std::time::Instant;

use storage::listing::RECHECK;
use storage::Flags;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::TryRecvError;

use crate::encode::{sequence, untagged_status, Code, FetchLine, Status};

/// The system flags every mailbox has (RFC 9051 2.3.2; \Recent is never listed).
pub const SYSTEM_FLAGS: [&str; 5] = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"];

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
    /// Folder changes made through this process (`storage::Store::changed`, and on PostgreSQL
    /// those of the other nodes): the catch-up reads the folder only after one for this
    /// folder, or [`RECHECK`] after it last did.
    pub changes: broadcast::Receiver<storage::FolderChange>,
    /// When the catch-up last read the folder.
    pub checked_at: Instant,
    /// A change read but not reported yet (expunges held back, a failed read): the next
    /// catch-up reads again.
    pub pending: bool,
    /// Keywords announced in FLAGS, in the order announced.
    pub keywords: Vec<String>,
    /// The system flags the user may change (RFC 4314 5.1.1), with `\*` when keywords may
    /// be created; PERMANENTFLAGS then lists the keywords too.
    pub permanent: Vec<&'static str>,
    /// UIDs \Recent in this session, ascending; None when the session does not keep
    /// \Recent (IMAP4rev2 enabled).
    pub recent: Option<Vec<i64>>,
}

impl Selected {
    pub fn seq_of(&self, uid: i64) -> Option<usize> {
        self.uids.binary_search(&uid).ok().map(|i| i + 1)
    }

    pub fn max_uid(&self) -> i64 {
        self.uids.last().copied().unwrap_or(0)
    }

    pub fn is_recent(&self, uid: i64) -> bool {
        self.recent
            .as_ref()
            .is_some_and(|r| r.binary_search(&uid).is_ok())
    }

    /// `n RECENT` (RFC 3501 7.3.2), for sessions that keep \Recent.
    pub fn recent_line(&self) -> Option<String> {
        self.recent.as_ref().map(|r| format!("{} RECENT", r.len()))
    }

    /// Adds UIDs to the \Recent ones (kept ascending, without duplicates).
    pub fn add_recent(&mut self, uids: impl IntoIterator<Item = i64>) {
        if let Some(recent) = &mut self.recent {
            recent.extend(uids);
            recent.sort_unstable();
            recent.dedup();
        }
    }

    /// `FLAGS (...)`: the system flags and the keywords announced.
    pub fn flags_line(&self) -> String {
        let mut names: Vec<&str> = SYSTEM_FLAGS.to_vec();
        names.extend(self.keywords.iter().map(String::as_str));
        format!("FLAGS ({})", names.join(" "))
    }

    /// `OK [PERMANENTFLAGS (...)] ...`: the changeable system flags, and when keywords may be
    /// created the keywords known and `\*`.
    pub fn permanent_flags_line(&self) -> String {
        let creates = self.permanent.contains(&"\\*");
        let mut names: Vec<String> = self
            .permanent
            .iter()
            .filter(|f| **f != "\\*")
            .map(|f| f.to_string())
            .collect();
        if creates {
            names.extend(self.keywords.iter().cloned());
            names.push("\\*".to_string());
        }
        let text = if names.is_empty() {
            "No permanent flags permitted"
        } else {
            "Flags permitted"
        };
        untagged_status(Status::Ok, Some(&Code::PermanentFlags(names)), text)
    }

    /// Adds the keywords of `flags` not announced yet; when there are any, the FLAGS and
    /// PERMANENTFLAGS lines a client must see before a FETCH shows them (RFC 9051 7.3.5).
    pub fn keyword_updates(&mut self, flags: &Flags) -> Vec<String> {
        let mut new = false;
        for flag in flags.iter() {
            let known = |k: &String| k.eq_ignore_ascii_case(flag);
            if !flag.starts_with('\\') && !self.keywords.iter().any(known) {
                self.keywords.push(flag.to_string());
                new = true;
            }
        }
        if new {
            vec![self.flags_line(), self.permanent_flags_line()]
        } else {
            vec![]
        }
    }

    /// Drops expunged UIDs from the view and words the report: `n EXPUNGE` for each, or once
    /// QRESYNC is enabled a single `VANISHED uids` (RFC 7162 3.2.10).
    pub fn forget(&mut self, uids: &[i64], qresync: bool) -> Vec<String> {
        let mut lines = vec![];
        let mut gone = vec![];
        for &uid in uids {
            if let Some(seq) = self.seq_of(uid) {
                self.uids.remove(seq - 1);
                if let Some(recent) = &mut self.recent {
                    recent.retain(|r| *r != uid);
                }
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
        // Without an announced change to this folder, nor one left to report, the folder is
        // not read (one round trip to the database fewer for most commands), unless it was
        // last read RECHECK ago (`Store::trusting_announced_changes`).
        let mut announced = std::mem::take(&mut self.pending);
        loop {
            match self.changes.try_recv() {
                Ok(change) => announced |= change.folder_id == self.folder_id,
                Err(TryRecvError::Lagged(_)) => announced = true,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => {
                    announced = true;
                    break;
                }
            }
        }
        if !announced && store.trusts_announced_changes() && self.checked_at.elapsed() < RECHECK {
            return vec![];
        }
        self.checked_at = Instant::now();
        // The folder row tells whether anything changed at all.
        let Ok(folder) = store.folder_by_id(self.folder_id).await else {
            self.pending = true;
            return vec![];
        };
        if folder.highestmodseq <= self.modseq_seen {
            return vec![];
        }
        if self.only_own_changes_up_to(folder.highestmodseq) {
            // Every change since the last report is one this session made and reported
            // itself: nothing to read back (two round trips to the database fewer after each
            // STORE and EXPUNGE of a session alone in its folder).
            self.modseq_seen = folder.highestmodseq;
            self.own_modseqs.clear();
            return vec![];
        }
        let mut lines = vec![];
        let mut complete = true;
        match store.expunged_since(self.folder_id, self.modseq_seen).await {
            Ok(expunged) if may_expunge => lines = self.forget(&expunged, qresync),
            Ok(expunged) => complete = !expunged.iter().any(|u| self.seq_of(*u).is_some()),
            Err(_) => complete = false,
        }
        let Ok(changed) = store
            .messages_changed_since(self.folder_id, self.modseq_seen)
            .await
        else {
            // The expunges already taken out of the view are reported; the rest next time.
            self.pending = true;
            return lines;
        };
        let mut new_uids = vec![];
        let own: std::collections::HashSet<i64> = self.own_modseqs.iter().copied().collect();
        for message in &changed {
            if message.uid > self.max_uid() {
                self.uids.push(message.uid);
                new_uids.push(message.uid);
            } else if own.contains(&message.modseq) {
                continue;
            } else if let Some(seq) = self.seq_of(message.uid) {
                lines.extend(self.keyword_updates(&message.flags));
                let mut line = FetchLine::new(seq);
                line.uid(message.uid);
                line.flags_recent(&message.flags, self.is_recent(message.uid));
                if condstore {
                    line.modseq(message.modseq);
                }
                lines.push(line.untagged_text());
            }
        }
        if !new_uids.is_empty() {
            lines.push(format!("{} EXISTS", self.uids.len()));
            self.claim_recent(store, &folder, &new_uids).await;
            lines.extend(self.recent_line());
        }
        if complete {
            self.modseq_seen = folder.highestmodseq;
            self.own_modseqs.clear();
        } else {
            self.pending = true;
        }
        lines
    }

    /// True when each MODSEQ after the last reported one up to `highest` is one of this
    /// session's own changes. MODSEQs of a folder are given one at a time (each change raises
    /// HIGHESTMODSEQ by one), so any other session's change would leave a value uncovered.
    fn only_own_changes_up_to(&self, highest: i64) -> bool {
        let gap = highest - self.modseq_seen;
        if gap <= 0 || gap as usize > self.own_modseqs.len() {
            return false;
        }
        // Sorted once, not searched once per MODSEQ: after `STORE 1:50000` the list holds
        // 50,000 values, and a look-up each would be quadratic.
        let mut own: Vec<i64> = self
            .own_modseqs
            .iter()
            .copied()
            .filter(|m| (self.modseq_seen + 1..=highest).contains(m))
            .collect();
        own.sort_unstable();
        own.dedup();
        own.len() as i64 == gap
    }

    /// RFC 3501 2.3.2: new messages are \Recent in the first session told about them. A
    /// read-write session claims the UIDs no session has claimed (`folder.recent_uid` on);
    /// a read-only one sees them recent without claiming. Nothing is written when another
    /// session has claimed them already.
    async fn claim_recent(
        &mut self,
        store: &storage::Store,
        folder: &storage::Folder,
        new: &[i64],
    ) {
        if self.recent.is_none() {
            return;
        }
        let Some(&last) = new.last() else {
            return;
        };
        let from = if self.read_only {
            Some(folder.recent_uid)
        } else {
            claim(store, self.folder_id, folder.recent_uid, last + 1).await
        };
        if let Some(from) = from {
            self.add_recent(new.iter().copied().filter(|u| *u >= from));
        }
    }
}

/// Claims as \Recent the UIDs from the folder's first unclaimed one below `to`, `from` being
/// that first unclaimed UID as last read; returns where the claimed range starts, or None
/// when nothing is left to claim. A claim another session made meanwhile moves the start:
/// the range is read again and the claim retried (a few times, each a compare-and-set).
pub async fn claim(store: &storage::Store, folder_id: i64, from: i64, to: i64) -> Option<i64> {
    let mut from = from;
    for _ in 0..4 {
        if from >= to {
            return None;
        }
        match store.claim_recent(folder_id, from, to).await {
            Ok(true) => return Some(from),
            Ok(false) => from = store.folder_by_id(folder_id).await.ok()?.recent_uid,
            Err(_) => return None,
        }
    }
    None
}
