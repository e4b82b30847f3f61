//! SORT / UID SORT (RFC 5256, RFC 5957 SORT=DISPLAY), ESORT and CONTEXT=SORT (RFC 5267 3, 4),
//! the RFC 5267 return options of SEARCH (PARTIAL, CONTEXT, UPDATE — CONTEXT=SEARCH), THREAD /
//! UID THREAD (RFC 5256), CANCELUPDATE, and the ADDTO/REMOVEFROM updates that follow every
//! command and IDLE wake-up while update contexts exist.
//!
//! Implementation notes:
//! - Sorting reads the folder listing (shared, in memory) and one small stored record per
//!   message ([`storage::SortRecord`]); the stored parse is read only when the search criteria
//!   need it (text keys), the body never.
//! - Every ESEARCH response carries the `(TAG "...")` correlator (RFC 4731 3.1, RFC 5267 4.3).
//! - Plain SEARCH (with or without MIN/MAX/ALL/COUNT) stays in `message`; a SEARCH with PARTIAL,
//!   CONTEXT or UPDATE is answered here.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use storage::{MessageRow, SortRecord};

use super::matching::Matches;
use crate::encode::{esearch, Code, Done, Status};
use crate::protocol::{SearchKey, SearchReturn, SortCriterion, ThreadAlgorithm};
use crate::sort::context::{self, UpdateContext};
use crate::sort::{self as sorting, thread, Message};
use crate::state::{Session, State};

impl Session {
    /// The stored sort records of the matches, by message id.
    async fn records(&self, matches: &Matches) -> Result<HashMap<i64, Arc<SortRecord>>, Done> {
        let Some((folder_id, _, _)) = self.selected_ids() else {
            return Err(Done::bad("No mailbox selected"));
        };
        let rows: Vec<&MessageRow> = matches
            .hits
            .iter()
            .map(|&(_, i)| &matches.listing.rows[i])
            .collect();
        self.context
            .store
            .sort_records(folder_id, &rows)
            .await
            .map_err(|e| self.server_error(e))
    }

    /// The matches of `criteria` in the order of `sort` (mailbox order without one), as
    /// (sequence number, UID, MODSEQ), and the HIGHESTMODSEQ they are valid for.
    async fn results(
        &self,
        criteria: &SearchKey,
        sort: Option<&[SortCriterion]>,
    ) -> Result<(Vec<(usize, i64, i64)>, i64), Done> {
        let matches = self.matching(criteria, None).await?;
        let highest = matches.listing.highestmodseq;
        Ok((self.ordered(&matches, sort).await?, highest))
    }

    /// Matches in the order of `sort` (mailbox order without one).
    async fn ordered(
        &self,
        matches: &Matches,
        sort: Option<&[SortCriterion]>,
    ) -> Result<Vec<(usize, i64, i64)>, Done> {
        let rows = &matches.listing.rows;
        let Some(sort) = sort else {
            return Ok(matches
                .hits
                .iter()
                .map(|&(seq, i)| (seq, rows[i].uid, rows[i].modseq))
                .collect());
        };
        let records = if sort.iter().any(|c| sorting::needs_record(c.key)) {
            self.records(matches).await?
        } else {
            HashMap::new()
        };
        let empty = SortRecord::default();
        let messages: Vec<Message> = matches
            .hits
            .iter()
            .map(|&(seq, i)| message(seq, &rows[i], &records, &empty))
            .collect();
        Ok(sorting::sort(&messages, sort)
            .into_iter()
            .map(|k| (messages[k].seq, messages[k].uid, messages[k].modseq))
            .collect())
    }

    /// A context's result now, worked out from its last one: a message's membership can only
    /// change when its row changed (its MODSEQ grew) or it was expunged — the criteria hold no
    /// sequence numbers any more and the rest are the message's own properties — so only
    /// those messages are searched again (a TEXT context on a big folder costs per change,
    /// not per message).
    async fn reevaluate(&self, ctx: &UpdateContext) -> Result<(Vec<i64>, i64), Done> {
        let State::Selected { mailbox, .. } = &self.state else {
            return Err(Done::bad("No mailbox selected"));
        };
        let listing = self
            .context
            .store
            .listing(mailbox.folder_id)
            .await
            .map_err(|e| self.server_error(e))?;
        let changed: HashSet<i64> = listing
            .rows
            .iter()
            .filter(|r| r.modseq > ctx.evaluated_at)
            .map(|r| r.uid)
            .collect();
        let present: HashSet<i64> = listing.rows.iter().map(|r| r.uid).collect();
        let mut members: HashSet<i64> = ctx
            .result
            .iter()
            .copied()
            .filter(|u| present.contains(u) && !changed.contains(u))
            .collect();
        let fresh = self.matching(&ctx.search, Some(&changed)).await?;
        members.extend(fresh.hits.iter().map(|&(_, i)| fresh.listing.rows[i].uid));
        // The members as matches of the listing `fresh` was read from, in mailbox order.
        let index: HashMap<i64, usize> = fresh
            .listing
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.uid, i))
            .collect();
        let hits = mailbox
            .uids
            .iter()
            .enumerate()
            .filter(|(_, u)| members.contains(u))
            .filter_map(|(i, u)| index.get(u).map(|&row| (i + 1, row)))
            .collect();
        let highest = fresh.listing.highestmodseq;
        let matches = Matches {
            listing: fresh.listing,
            hits,
        };
        let ordered = self.ordered(&matches, ctx.sort.as_deref()).await?;
        Ok((ordered.into_iter().map(|r| r.1).collect(), highest))
    }

    /// RFC 5267 4.3: refuses a tag already used by an updating command (BAD), else None.
    fn tag_in_use(&self, tag: &str, ret: Option<&SearchReturn>) -> Option<Done> {
        (ret.is_some_and(|r| r.update) && self.contexts.has_tag(tag))
            .then(|| Done::bad("Tag reuse: an update context already has this tag"))
    }

    /// Keeps an update context for a searching command with UPDATE, or says NOUPDATE.
    fn start_context(
        &mut self,
        tag: &str,
        uid: bool,
        criteria: &SearchKey,
        sort: Option<&[SortCriterion]>,
        result: Vec<i64>,
        evaluated_at: i64,
    ) {
        let State::Selected { mailbox, .. } = &self.state else {
            return;
        };
        let (folder_id, search) = (mailbox.folder_id, context::freeze(criteria, &mailbox.uids));
        let added = self.contexts.add(
            folder_id,
            UpdateContext {
                tag: tag.to_string(),
                uid,
                search,
                sort: sort.map(<[SortCriterion]>::to_vec),
                result,
                evaluated_at,
            },
        );
        if !added {
            // RFC 5267 4.3.1: the other return options are still honoured.
            self.untagged_status(
                Status::No,
                Some(&Code::NoUpdate(tag.to_string())),
                "Too many update contexts",
            );
        }
    }

    /// SORT / UID SORT, plain (RFC 5256 `* SORT ...`) or extended (RFC 5267 `* ESEARCH ...`).
    pub(crate) async fn sort(
        &mut self,
        tag: &str,
        uid: bool,
        criteria: &[SortCriterion],
        search: &SearchKey,
        ret: Option<&SearchReturn>,
    ) -> Done {
        if let Some(refusal) = self.tag_in_use(tag, ret) {
            return refusal;
        }
        let (results, highest) = match self.results(search, Some(criteria)).await {
            Ok(r) => r,
            Err(done) => return done,
        };
        let modseq = sorting::uses_modseq(search);
        let numbered: Vec<(i64, i64)> = results
            .iter()
            .map(|&(seq, u, m)| (if uid { u } else { seq as i64 }, m))
            .collect();
        match ret {
            None => {
                // RFC 5256 4: `SORT *(SP nz-number)`; RFC 7162 3.1.5: `(MODSEQ n)` after it.
                let mut line = String::from("SORT");
                for (n, _) in &numbered {
                    line.push_str(&format!(" {n}"));
                }
                if modseq {
                    if let Some(highest) = numbered.iter().map(|r| r.1).max() {
                        line.push_str(&format!(" (MODSEQ {highest})"));
                    }
                }
                self.untagged(&line);
            }
            Some(ret) => {
                let data = sorting::esearch_data(&numbered, ret, true, modseq);
                self.untagged(&format!("{}{data}", esearch::head(tag, uid)));
                if ret.update {
                    let uids = results.iter().map(|r| r.1).collect();
                    self.start_context(tag, uid, search, Some(criteria), uids, highest);
                }
            }
        }
        Done::ok(if uid {
            "UID SORT completed"
        } else {
            "SORT completed"
        })
    }

    /// SEARCH / UID SEARCH with RFC 5267 return options (PARTIAL, CONTEXT, UPDATE): an ESEARCH
    /// response in mailbox order.
    pub(crate) async fn search_in_context(
        &mut self,
        tag: &str,
        uid: bool,
        criteria: &SearchKey,
        ret: &SearchReturn,
    ) -> Done {
        if let Some(refusal) = self.tag_in_use(tag, Some(ret)) {
            return refusal;
        }
        let (results, highest) = match self.results(criteria, None).await {
            Ok(r) => r,
            Err(done) => return done,
        };
        let numbered: Vec<(i64, i64)> = results
            .iter()
            .map(|&(seq, u, m)| (if uid { u } else { seq as i64 }, m))
            .collect();
        let data = sorting::esearch_data(&numbered, ret, false, sorting::uses_modseq(criteria));
        self.untagged(&format!("{}{data}", esearch::head(tag, uid)));
        if ret.update {
            let uids = results.iter().map(|r| r.1).collect();
            self.start_context(tag, uid, criteria, None, uids, highest);
        }
        Done::ok(if uid {
            "UID SEARCH completed"
        } else {
            "SEARCH completed"
        })
    }

    /// THREAD / UID THREAD (RFC 5256).
    pub(crate) async fn thread(
        &mut self,
        uid: bool,
        algorithm: ThreadAlgorithm,
        search: &SearchKey,
    ) -> Done {
        let matches = match self.matching(search, None).await {
            Ok(m) => m,
            Err(done) => return done,
        };
        let records = match self.records(&matches).await {
            Ok(r) => r,
            Err(done) => return done,
        };
        let empty = SortRecord::default();
        let rows = &matches.listing.rows;
        let messages: Vec<Message> = matches
            .hits
            .iter()
            .map(|&(seq, i)| message(seq, &rows[i], &records, &empty))
            .collect();
        let line = match algorithm {
            ThreadAlgorithm::OrderedSubject => thread::ordered_subject(&messages, uid),
            ThreadAlgorithm::References => thread::references(&messages, uid),
        };
        self.untagged(&line);
        Done::ok(if uid {
            "UID THREAD completed"
        } else {
            "THREAD completed"
        })
    }

    /// RFC 5267 4.3.5.
    pub(crate) fn cancel_update(&mut self, tags: &[String]) -> Done {
        self.contexts.cancel(tags);
        Done::ok("No further updates")
    }

    /// The update lines of every context whose folder changed: REMOVEFROM lines (numbered in
    /// `old_view`, to go before the catch-up's lines) and ADDTO lines (numbered in the view
    /// now, to go after them). A failure to read leaves the contexts for the next time.
    pub(crate) async fn context_updates(&mut self, old_view: &[i64]) -> (Vec<String>, Vec<String>) {
        let mut contexts = std::mem::take(&mut self.contexts);
        let (mut before, mut after) = (vec![], vec![]);
        let current = match &self.state {
            State::Selected { mailbox, .. } if mailbox.folder_id == contexts.folder_id => {
                Some((mailbox.folder_id, mailbox.uids.clone()))
            }
            _ => None,
        };
        let Some((folder_id, view)) = current else {
            // Not selected any more (or another mailbox): updates cease (RFC 5267 4.3).
            return (before, after);
        };
        let highest = match self.context.store.listing(folder_id).await {
            Ok(listing) => listing.highestmodseq,
            Err(_) => {
                self.contexts = contexts;
                return (before, after);
            }
        };
        for ctx in &mut contexts.list {
            if ctx.evaluated_at == highest {
                continue;
            }
            let Ok((new, at)) = self.reevaluate(ctx).await else {
                continue;
            };
            before.extend(context::removals(ctx, &new, old_view));
            after.extend(context::additions(ctx, &new, &view));
            ctx.result = new;
            ctx.evaluated_at = at;
        }
        self.contexts = contexts;
        (before, after)
    }
}

fn message<'a>(
    seq: usize,
    row: &MessageRow,
    records: &'a HashMap<i64, Arc<SortRecord>>,
    empty: &'a SortRecord,
) -> Message<'a> {
    Message {
        seq,
        uid: row.uid,
        modseq: row.modseq,
        internal_date: row.internal_date,
        size: row.size,
        record: records.get(&row.id).map_or(empty, |r| r.as_ref()),
    }
}
