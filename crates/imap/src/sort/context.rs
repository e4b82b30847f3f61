//! RFC 5267 4.3 update contexts: a SEARCH or SORT given `RETURN (UPDATE ...)` keeps telling
//! the client how its result changes, with ADDTO and REMOVEFROM in ESEARCH responses, until
//! CANCELUPDATE or until the mailbox is no longer selected.
//!
//! A context keeps its result as UIDs in the requested order and is re-evaluated whenever the
//! folder's HIGHESTMODSEQ moved; the difference is worded here:
//! - REMOVEFROM comes before the catch-up's EXPUNGE/EXISTS/FETCH lines, numbered as the
//!   client numbered messages before them (RFC 5267 4.3.4: before the EXPUNGE);
//! - ADDTO comes after them, numbered as the client numbers messages after them (4.3.3: after
//!   the EXISTS).
//!
//! SEARCH contexts use context position 0 (mailbox order, RFC 5267 4.3.3/4.3.4); SORT contexts
//! give positions: removals from the last position back, so each position is still the one
//! the client sees; additions from the first position on, each at its final place. Sort keys
//! never change for a message, so the messages that stay keep their relative order.
//!
//! Not reported: changes of OLDER/YOUNGER results as time passes (no change to the folder
//! means no re-evaluation).

use std::collections::HashSet;

use crate::encode::esearch;
use crate::protocol::{SearchKey, SeqBound, SequenceSet, SortCriterion};

/// Update contexts one session may hold; more are refused with `NO [NOUPDATE "tag"]`
/// (RFC 5267 4.3.1: at least one, SHOULD more).
pub const MAX_UPDATE_CONTEXTS: usize = 4;

pub struct UpdateContext {
    pub tag: String,
    pub uid: bool,
    /// The criteria, with message sequence numbers already turned into the UIDs they named
    /// when the command arrived (RFC 5267 4.3).
    pub search: SearchKey,
    /// None for SEARCH (mailbox order).
    pub sort: Option<Vec<SortCriterion>>,
    /// The result the client holds: UIDs in the requested order.
    pub result: Vec<i64>,
    /// The folder's HIGHESTMODSEQ `result` was computed at.
    pub evaluated_at: i64,
}

/// The update contexts of a session, for the folder selected when they were made.
#[derive(Default)]
pub struct Contexts {
    pub folder_id: i64,
    pub list: Vec<UpdateContext>,
}

impl Contexts {
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn clear(&mut self) {
        self.list.clear();
    }

    pub fn has_tag(&self, tag: &str) -> bool {
        self.list.iter().any(|c| c.tag == tag)
    }

    /// Adds a context for `folder_id` (dropping those of another folder); false when the
    /// session holds the most it may.
    pub fn add(&mut self, folder_id: i64, context: UpdateContext) -> bool {
        if self.folder_id != folder_id {
            self.list.clear();
            self.folder_id = folder_id;
        }
        if self.list.len() >= MAX_UPDATE_CONTEXTS {
            return false;
        }
        self.list.push(context);
        true
    }

    /// RFC 5267 4.3.5 CANCELUPDATE.
    pub fn cancel(&mut self, tags: &[String]) {
        self.list.retain(|c| !tags.contains(&c.tag));
    }

    /// The REMOVEFROM lines for UIDs this session is about to report expunged itself, numbered
    /// in `view` (the client's numbering before the EXPUNGE), and the results updated.
    pub fn forget(&mut self, gone: &[i64], view: &[i64]) -> Vec<String> {
        let gone: HashSet<i64> = gone.iter().copied().collect();
        let mut lines = vec![];
        for context in &mut self.list {
            let new: Vec<i64> = context
                .result
                .iter()
                .copied()
                .filter(|u| !gone.contains(u))
                .collect();
            lines.extend(removals(context, &new, view));
            context.result = new;
        }
        lines
    }
}

/// The search key that names exactly these UIDs (nothing when empty).
pub fn uid_key(uids: &[i64]) -> SearchKey {
    if uids.is_empty() {
        return SearchKey::Not(Box::new(SearchKey::All));
    }
    SearchKey::Uid(SequenceSet(
        uids.iter()
            .map(|&u| (SeqBound::Value(u as u32), SeqBound::Value(u as u32)))
            .collect(),
    ))
}

/// `key` with every message-sequence-number key replaced by the UIDs it names in `view`
/// now, so later changes of numbering do not change the context (RFC 5267 4.3).
pub fn freeze(key: &SearchKey, view: &[i64]) -> SearchKey {
    match key {
        SearchKey::SequenceSet(set) => {
            let max = view.len() as i64;
            let uids: Vec<i64> = view
                .iter()
                .enumerate()
                .filter(|(i, _)| crate::search::in_set(set, *i as i64 + 1, max))
                .map(|(_, u)| *u)
                .collect();
            uid_key(&uids)
        }
        SearchKey::And(keys) => SearchKey::And(keys.iter().map(|k| freeze(k, view)).collect()),
        SearchKey::Or(a, b) => SearchKey::Or(Box::new(freeze(a, view)), Box::new(freeze(b, view))),
        SearchKey::Not(k) => SearchKey::Not(Box::new(freeze(k, view))),
        other => other.clone(),
    }
}

fn number(context: &UpdateContext, uid: i64, view: &[i64]) -> Option<i64> {
    if context.uid {
        return Some(uid);
    }
    view.binary_search(&uid).ok().map(|i| i as i64 + 1)
}

fn line(context: &UpdateContext, item: &str, pairs: &[(usize, Vec<i64>)]) -> String {
    let body: Vec<String> = pairs
        .iter()
        .map(|(position, numbers)| {
            let set = if context.sort.is_some() {
                super::ordered_set(numbers)
            } else {
                crate::encode::compact(numbers)
            };
            format!("{position} {set}")
        })
        .collect();
    format!(
        "{} {item} ({})",
        esearch::head(&context.tag, context.uid),
        body.join(" ")
    )
}

/// Maximal runs of `list` entries for which `pick` holds: (1-based position, entries).
fn runs(list: &[i64], pick: impl Fn(i64) -> bool) -> Vec<(usize, Vec<i64>)> {
    let mut out: Vec<(usize, Vec<i64>)> = vec![];
    let mut last: Option<usize> = None;
    for (i, &u) in list.iter().enumerate() {
        if !pick(u) {
            continue;
        }
        match (last, out.last_mut()) {
            (Some(l), Some(run)) if l + 1 == i => run.1.push(u),
            _ => out.push((i + 1, vec![u])),
        }
        last = Some(i);
    }
    out
}

/// The REMOVEFROM line for going from the context's result to `new`, numbered in `view`.
pub fn removals(context: &UpdateContext, new: &[i64], view: &[i64]) -> Option<String> {
    let keep: HashSet<i64> = new.iter().copied().collect();
    let number_all = |uids: &[i64]| -> Vec<i64> {
        uids.iter()
            .filter_map(|&u| number(context, u, view))
            .collect()
    };
    let pairs: Vec<(usize, Vec<i64>)> = if context.sort.is_some() {
        let mut runs = runs(&context.result, |u| !keep.contains(&u));
        runs.reverse();
        runs.into_iter()
            .map(|(p, uids)| (p, number_all(&uids)))
            .collect()
    } else {
        let mut gone: Vec<i64> = number_all(
            &context
                .result
                .iter()
                .copied()
                .filter(|u| !keep.contains(u))
                .collect::<Vec<_>>(),
        );
        gone.sort_unstable();
        if gone.is_empty() {
            vec![]
        } else {
            vec![(0, gone)]
        }
    };
    let pairs: Vec<_> = pairs.into_iter().filter(|(_, n)| !n.is_empty()).collect();
    (!pairs.is_empty()).then(|| line(context, "REMOVEFROM", &pairs))
}

/// The ADDTO line for going from the context's result to `new`, numbered in `view`.
pub fn additions(context: &UpdateContext, new: &[i64], view: &[i64]) -> Option<String> {
    let had: HashSet<i64> = context.result.iter().copied().collect();
    let number_all = |uids: &[i64]| -> Vec<i64> {
        uids.iter()
            .filter_map(|&u| number(context, u, view))
            .collect()
    };
    let pairs: Vec<(usize, Vec<i64>)> = if context.sort.is_some() {
        runs(new, |u| !had.contains(&u))
            .into_iter()
            .map(|(p, uids)| (p, number_all(&uids)))
            .collect()
    } else {
        let mut added = number_all(
            &new.iter()
                .copied()
                .filter(|u| !had.contains(u))
                .collect::<Vec<_>>(),
        );
        added.sort_unstable();
        if added.is_empty() {
            vec![]
        } else {
            vec![(0, added)]
        }
    };
    let pairs: Vec<_> = pairs.into_iter().filter(|(_, n)| !n.is_empty()).collect();
    (!pairs.is_empty()).then(|| line(context, "ADDTO", &pairs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::SortKey;

    fn context(uid: bool, sorted: bool, result: &[i64]) -> UpdateContext {
        UpdateContext {
            tag: "B01".into(),
            uid,
            search: SearchKey::All,
            sort: sorted.then(|| {
                vec![SortCriterion {
                    reverse: false,
                    key: SortKey::Date,
                }]
            }),
            result: result.to_vec(),
            evaluated_at: 0,
        }
    }

    #[test]
    fn search_contexts_use_position_zero() {
        // RFC 5267 4.3.3: `* ESEARCH (TAG "B01") UID ADDTO (0 32768:32769)`.
        let c = context(true, false, &[5]);
        assert_eq!(
            additions(&c, &[5, 32768, 32769], &[]).as_deref(),
            Some("ESEARCH (TAG \"B01\") UID ADDTO (0 32768:32769)")
        );
        // RFC 5267 4.3.4: `* ESEARCH (TAG "B01") UID REMOVEFROM (0 32768)`.
        let c = context(true, false, &[5, 32768]);
        assert_eq!(
            removals(&c, &[5], &[]).as_deref(),
            Some("ESEARCH (TAG \"B01\") UID REMOVEFROM (0 32768)")
        );
        assert_eq!(removals(&c, &[5, 32768], &[]), None);
        // Sequence numbers come from the view given.
        let c = context(false, false, &[20, 30]);
        assert_eq!(
            removals(&c, &[20], &[10, 20, 30]).as_deref(),
            Some("ESEARCH (TAG \"B01\") REMOVEFROM (0 3)")
        );
    }

    #[test]
    fn sort_contexts_give_positions() {
        // Client list 7 3 9 4 (UIDs); 3 and 4 leave: removed from the end back, so position 4
        // then position 2 are what the client sees when it applies them in order.
        let c = context(true, true, &[7, 3, 9, 4]);
        assert_eq!(
            removals(&c, &[7, 9], &[]).as_deref(),
            Some("ESEARCH (TAG \"B01\") UID REMOVEFROM (4 4 2 3)")
        );
        // From 7 9, new list 1 7 2 5 9: inserted at final positions 1, then 3 (2 and 5 in
        // sort order, "2,5").
        let c = context(true, true, &[7, 9]);
        assert_eq!(
            additions(&c, &[1, 7, 2, 5, 9], &[]).as_deref(),
            Some("ESEARCH (TAG \"B01\") UID ADDTO (1 1 3 2,5)")
        );
        // RFC 5267 4.3.3's example form: a run of three at position 1.
        let c = context(true, true, &[2734, 2735]);
        assert_eq!(
            additions(&c, &[2731, 2732, 2733, 2734, 2735], &[]).as_deref(),
            Some("ESEARCH (TAG \"B01\") UID ADDTO (1 2731:2733)")
        );
    }

    #[test]
    fn freezing_sequence_numbers() {
        let view = [10, 20, 30, 40];
        let key = SearchKey::And(vec![
            SearchKey::SequenceSet(SequenceSet(vec![(SeqBound::Value(2), SeqBound::Star)])),
            SearchKey::Not(Box::new(SearchKey::SequenceSet(SequenceSet(vec![(
                SeqBound::Value(9),
                SeqBound::Value(9),
            )])))),
        ]);
        let frozen = freeze(&key, &view);
        assert_eq!(
            frozen,
            SearchKey::And(vec![
                uid_key(&[20, 30, 40]),
                SearchKey::Not(Box::new(SearchKey::Not(Box::new(SearchKey::All)))),
            ])
        );
    }

    #[test]
    fn forgetting_expunged_messages() {
        let mut contexts = Contexts::default();
        assert!(contexts.add(1, context(false, false, &[10, 30])));
        let lines = contexts.forget(&[30], &[10, 20, 30]);
        assert_eq!(lines, ["ESEARCH (TAG \"B01\") REMOVEFROM (0 3)"]);
        assert_eq!(contexts.list[0].result, [10]);
        for _ in 1..MAX_UPDATE_CONTEXTS {
            assert!(contexts.add(1, context(false, false, &[])));
        }
        assert!(!contexts.add(1, context(false, false, &[])), "bounded");
        contexts.cancel(&["B01".to_string()]);
        assert!(contexts.is_empty());
    }
}
