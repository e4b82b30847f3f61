//! SORT (RFC 5256 3, RFC 5957), THREAD (RFC 5256 3) and the RFC 5267 result forms (ESORT,
//! PARTIAL, update contexts), as pure functions over what storage keeps per message
//! ([`storage::SortRecord`]): no I/O here, the handlers are in `cmd::sort`.
//!
//! - [`subject`]: RFC 5256 2.1 base subject.
//! - [`thread`]: ORDEREDSUBJECT and REFERENCES.
//! - [`context`]: RFC 5267 4.3 update contexts (ADDTO / REMOVEFROM).
//!
//! Strings are compared with [`policy::collation`]: equality is RFC 5051 `i;unicode-casemap`
//! (RFC 5256 7), the order among unequal strings is Vietnamese alphabetical order (Đ after D,
//! tones after letters); see ARCHITECTURE.md.

pub mod context;
pub mod subject;
pub mod thread;

use std::cmp::Ordering;
use std::collections::HashMap;

use policy::collation;
use storage::{SortAddr, SortRecord};

use crate::protocol::{SearchKey, SearchReturn, SortCriterion, SortKey};

/// One message as SORT and THREAD see it.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub seq: usize,
    pub uid: i64,
    pub modseq: i64,
    pub internal_date: i64,
    pub size: i64,
    pub record: &'a SortRecord,
}

impl Message<'_> {
    /// RFC 5256 2.2: the Date: header in UTC, or the INTERNALDATE when there is none.
    pub fn sent_date(&self) -> i64 {
        self.record.sent_date.unwrap_or(self.internal_date)
    }

    /// The number a response gives for this message.
    pub fn number(&self, uid: bool) -> i64 {
        if uid {
            self.uid
        } else {
            self.seq as i64
        }
    }
}

/// `[IMAP] addr-mailbox` of an address: the local part of `mailbox@host`.
fn addr_mailbox(addr: Option<&SortAddr>) -> &str {
    let Some(address) = addr.and_then(|a| a.address.as_deref()) else {
        return "";
    };
    address.rsplit_once('@').map_or(address, |(local, _)| local)
}

/// RFC 5957 3: the display name when it is not empty, else `mailbox@host`, else the mailbox,
/// else the empty string.
fn display(addr: Option<&SortAddr>) -> String {
    let Some(addr) = addr else {
        return String::new();
    };
    match (&addr.name, &addr.address) {
        (Some(name), _) if !name.is_empty() => name.clone(),
        (_, Some(address)) => address.clone(),
        _ => String::new(),
    }
}

/// The text a string key sorts on (before collation); for SUBJECT the raw subject, whose
/// base subject [`collated`] takes.
fn text_of(message: &Message, key: SortKey) -> String {
    let r = message.record;
    match key {
        SortKey::Subject => r.subject.clone().unwrap_or_default(),
        SortKey::From => addr_mailbox(r.from.as_ref()).to_string(),
        SortKey::To => addr_mailbox(r.to.as_ref()).to_string(),
        SortKey::Cc => addr_mailbox(r.cc.as_ref()).to_string(),
        SortKey::DisplayFrom => display(r.from.as_ref()),
        SortKey::DisplayTo => display(r.to.as_ref()),
        SortKey::Arrival | SortKey::Date | SortKey::Size => String::new(),
    }
}

/// The collation key of a string key's text (RFC 5256 2.1: SUBJECT sorts on the base
/// subject).
fn collated(key: SortKey, text: &str) -> collation::SortKey {
    match key {
        SortKey::Subject => collation::sort_key(&subject::base_subject(text).0),
        _ => collation::sort_key(text),
    }
}

/// True when a key reads the stored sort record (ARRIVAL and SIZE are in the listing).
pub fn needs_record(key: SortKey) -> bool {
    !matches!(key, SortKey::Arrival | SortKey::Size)
}

/// RFC 5256 3: `messages` (in mailbox order) in the order `criteria` give, as indices into
/// `messages`. Ties go by sequence number, whatever REVERSE says. Each distinct string is
/// collated once (senders and thread subjects repeat) and replaced by its rank, so the sort
/// itself compares numbers.
pub fn sort(messages: &[Message], criteria: &[SortCriterion]) -> Vec<usize> {
    let columns: Vec<Vec<i64>> = criteria
        .iter()
        .map(|c| match c.key {
            SortKey::Arrival => messages.iter().map(|m| m.internal_date).collect(),
            SortKey::Date => messages.iter().map(Message::sent_date).collect(),
            SortKey::Size => messages.iter().map(|m| m.size).collect(),
            key => ranks(messages, key),
        })
        .collect();
    let mut order: Vec<usize> = (0..messages.len()).collect();
    order.sort_by(|&a, &b| {
        for (column, criterion) in columns.iter().zip(criteria) {
            let ord = column[a].cmp(&column[b]);
            let ord = if criterion.reverse {
                ord.reverse()
            } else {
                ord
            };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        messages[a].seq.cmp(&messages[b].seq)
    });
    order
}

/// Each message's rank in the collation order of a string key's value (equal values, equal
/// ranks).
fn ranks(messages: &[Message], key: SortKey) -> Vec<i64> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut distinct: Vec<collation::SortKey> = vec![];
    let of_message: Vec<usize> = messages
        .iter()
        .map(|m| {
            let text = text_of(m, key);
            if let Some(&i) = index.get(&text) {
                return i;
            }
            distinct.push(collated(key, &text));
            index.insert(text, distinct.len() - 1);
            distinct.len() - 1
        })
        .collect();
    let mut by_order: Vec<usize> = (0..distinct.len()).collect();
    by_order.sort_by(|&a, &b| distinct[a].cmp(&distinct[b]));
    let mut rank = vec![0i64; distinct.len()];
    let mut current = 0;
    for (n, &i) in by_order.iter().enumerate() {
        if n > 0 && distinct[i] != distinct[by_order[n - 1]] {
            current += 1;
        }
        rank[i] = current;
    }
    of_message.into_iter().map(|i| rank[i]).collect()
}

/// A sequence set that keeps the order of `numbers`, with ranges only for runs of consecutive
/// increasing numbers (RFC 5267 3.2: ranges ordered increasing after expansion).
pub fn ordered_set(numbers: &[i64]) -> String {
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

/// True when the criteria hold a MODSEQ key (RFC 7162 3.1.5).
pub fn uses_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::ModSeq(_) => true,
        SearchKey::And(keys) => keys.iter().any(uses_modseq),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        SearchKey::Not(k) => uses_modseq(k),
        _ => false,
    }
}

/// The ESEARCH return data (after the head) for a result: `results` are (number, modseq) in
/// the requested order — mailbox order for SEARCH, sort order for SORT (`sorted`).
///
/// RFC 4731 3.1 and RFC 5267 3.1: MIN is the first in that order, MAX the last, ALL a
/// sequence set, COUNT the number; `RETURN ()` means ALL. RFC 5267 4.4 PARTIAL: the results at
/// those positions (`PARTIAL (lo:hi set)`, NIL when none). RFC 7162 3.1.5: with a MODSEQ key,
/// `MODSEQ` is the highest mod-sequence of the messages returned (MIN/MAX alone) or of all
/// matches.
pub fn esearch_data(
    results: &[(i64, i64)],
    ret: &SearchReturn,
    sorted: bool,
    modseq: bool,
) -> String {
    let mut out = String::new();
    let numbers: Vec<i64> = results.iter().map(|r| r.0).collect();
    let set = |numbers: &[i64]| {
        if sorted {
            ordered_set(numbers)
        } else {
            crate::encode::compact(numbers)
        }
    };
    if ret.min {
        if let Some(first) = numbers.first() {
            out.push_str(&format!(" MIN {first}"));
        }
    }
    if ret.max {
        if let Some(last) = numbers.last() {
            out.push_str(&format!(" MAX {last}"));
        }
    }
    if (ret.all || ret.esearch) && !numbers.is_empty() {
        out.push_str(&format!(" ALL {}", set(&numbers)));
    }
    if ret.count {
        out.push_str(&format!(" COUNT {}", numbers.len()));
    }
    if let Some((lo, hi)) = ret.partial {
        let from = (lo as usize - 1).min(numbers.len());
        let to = (hi as usize).min(numbers.len());
        let part = &numbers[from..to.max(from)];
        let text = if part.is_empty() {
            "NIL".to_string()
        } else {
            set(part)
        };
        out.push_str(&format!(" PARTIAL ({lo}:{hi} {text})"));
    }
    if modseq && !results.is_empty() {
        let whole = ret.all || ret.esearch || ret.count || ret.partial.is_some();
        let highest = if whole || !(ret.min || ret.max) {
            results.iter().map(|r| r.1).max()
        } else {
            let mut picked: Vec<&(i64, i64)> = vec![];
            if ret.min {
                picked.extend(results.first());
            }
            if ret.max {
                picked.extend(results.last());
            }
            picked.iter().map(|r| r.1).max()
        };
        if let Some(highest) = highest {
            out.push_str(&format!(" MODSEQ {highest}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(subject: &str, from: (&str, &str), date: Option<i64>) -> SortRecord {
        SortRecord {
            sent_date: date,
            subject: Some(subject.to_string()),
            from: Some(SortAddr {
                name: (!from.0.is_empty()).then(|| from.0.to_string()),
                address: Some(from.1.to_string()),
            }),
            ..SortRecord::default()
        }
    }

    fn messages(records: &[SortRecord]) -> Vec<Message<'_>> {
        records
            .iter()
            .enumerate()
            .map(|(i, r)| Message {
                seq: i + 1,
                uid: 10 + i as i64,
                modseq: 1,
                internal_date: 1000 - i as i64,
                size: 100 * (i as i64 % 2),
                record: r,
            })
            .collect()
    }

    fn seqs(records: &[SortRecord], criteria: &[(bool, SortKey)]) -> Vec<usize> {
        let ms = messages(records);
        let criteria: Vec<SortCriterion> = criteria
            .iter()
            .map(|&(reverse, key)| SortCriterion { reverse, key })
            .collect();
        sort(&ms, &criteria)
            .into_iter()
            .map(|i| ms[i].seq)
            .collect()
    }

    #[test]
    fn keys_and_ties() {
        let records = [
            record("Re: Đức", ("", "b@x.vn"), Some(50)),
            record("Dũng", ("Trần Bình", "a@x.vn"), None),
            record("[ubnd] dũng", ("", "c@x.vn"), Some(50)),
        ];
        // SUBJECT: base subjects Đức, Dũng, dũng -> Dũng = dũng (ties by sequence) < Đức.
        assert_eq!(seqs(&records, &[(false, SortKey::Subject)]), [2, 3, 1]);
        // REVERSE reverses the key, not the tie-break (RFC 5256 3).
        assert_eq!(seqs(&records, &[(true, SortKey::Subject)]), [1, 2, 3]);
        // DATE: message 2 has no Date: its internal date (999) is used.
        assert_eq!(seqs(&records, &[(false, SortKey::Date)]), [1, 3, 2]);
        // ARRIVAL: internal dates 1000, 999, 998.
        assert_eq!(seqs(&records, &[(false, SortKey::Arrival)]), [3, 2, 1]);
        // FROM: addr-mailbox a < b < c.
        assert_eq!(seqs(&records, &[(false, SortKey::From)]), [2, 1, 3]);
        // DISPLAYFROM: "b@x.vn" < "c@x.vn" < "Trần Bình".
        assert_eq!(seqs(&records, &[(false, SortKey::DisplayFrom)]), [1, 3, 2]);
        // SIZE 0, 100, 0; then DATE among equal sizes.
        assert_eq!(
            seqs(&records, &[(false, SortKey::Size), (true, SortKey::Date)]),
            [1, 3, 2]
        );
        // No To: the empty string, all equal: sequence order.
        assert_eq!(seqs(&records, &[(false, SortKey::To)]), [1, 2, 3]);
    }

    #[test]
    fn ordered_sets() {
        assert_eq!(
            ordered_set(&[23765, 23764, 23763, 23761]),
            "23765,23764,23763,23761"
        );
        assert_eq!(ordered_set(&[3, 4, 5, 1, 2, 9]), "3:5,1:2,9");
        assert_eq!(ordered_set(&[]), "");
    }

    #[test]
    fn esearch_items() {
        let r: Vec<(i64, i64)> = vec![(5, 7), (3, 9), (4, 2)];
        let ret = |f: &dyn Fn(&mut SearchReturn)| {
            let mut ret = SearchReturn::default();
            f(&mut ret);
            ret
        };
        let all = ret(&|r| r.all = true);
        assert_eq!(esearch_data(&r, &all, true, false), " ALL 5,3:4");
        let min_max_count = ret(&|r| {
            r.min = true;
            r.max = true;
            r.count = true
        });
        assert_eq!(
            esearch_data(&r, &min_max_count, true, false),
            " MIN 5 MAX 4 COUNT 3"
        );
        let partial = ret(&|r| r.partial = Some((2, 5)));
        assert_eq!(
            esearch_data(&r, &partial, true, false),
            " PARTIAL (2:5 3:4)"
        );
        let beyond = ret(&|r| r.partial = Some((4, 9)));
        assert_eq!(esearch_data(&r, &beyond, true, false), " PARTIAL (4:9 NIL)");
        // No matches: MIN, MAX, ALL left out, COUNT 0 (RFC 4731 3.1).
        assert_eq!(esearch_data(&[], &min_max_count, true, false), " COUNT 0");
        // MODSEQ of the MIN message alone.
        let min = ret(&|r| r.min = true);
        assert_eq!(esearch_data(&r, &min, true, true), " MIN 5 MODSEQ 7");
        assert_eq!(esearch_data(&r, &all, true, true), " ALL 5,3:4 MODSEQ 9");
    }
}
