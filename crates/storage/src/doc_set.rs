//! The documents a full-text look-up answers: parsed from the comma-separated numbers the
//! index returns, kept as hash sets over disjoint ranges of document numbers.

use std::collections::HashSet;

/// The documents of an answer, as sets over disjoint ranges of document numbers (one per part
/// of the look-up, each read and parsed while the next part is looked up).
#[derive(Debug, Clone, Default)]
pub struct DocSet {
    /// (lowest document number of the range, its documents), by range.
    parts: Vec<(i64, HashSet<i64, DocHasher>)>,
}

impl DocSet {
    /// `parts` as (lowest document number of the range, documents in the range), the ranges
    /// disjoint.
    pub(crate) fn of(mut parts: Vec<(i64, HashSet<i64, DocHasher>)>) -> DocSet {
        parts.sort_by_key(|(from, _)| *from);
        DocSet { parts }
    }

    pub fn contains(&self, doc: i64) -> bool {
        // The range is the last one starting at or below the document.
        let at = self.parts.partition_point(|(from, _)| *from <= doc);
        at > 0 && self.parts[at - 1].1.contains(&doc)
    }
}

/// Documents are already well spread numbers (from SHA-256): a set of them needs no hashing.
pub type DocHasher = std::hash::BuildHasherDefault<DocHash>;

#[derive(Default)]
pub struct DocHash(u64);

impl std::hash::Hasher for DocHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_i64(&mut self, n: i64) {
        self.0 = n as u64;
    }
}

/// The documents of a comma-separated list of non-negative numbers (what the look-up
/// aggregates), read digit by digit: 100,000 of them are parsed on every search of a word
/// nearly every message holds. Anything else in the list is skipped.
pub(crate) fn parse_doc_list(list: &str) -> HashSet<i64, DocHasher> {
    // Sized at once: a document number has at most 19 digits, and common ones 18 or 19.
    let mut set = HashSet::with_capacity_and_hasher(list.len() / 18 + 1, DocHasher::default());
    for item in list.as_bytes().split(|b| *b == b',') {
        // At most 19 digits: no overflow of u64 on the way, then at most i64::MAX.
        if item.is_empty() || item.len() > 19 {
            continue;
        }
        let mut n: u64 = 0;
        let mut digits = true;
        for b in item {
            let digit = b.wrapping_sub(b'0');
            digits &= digit < 10;
            n = n.wrapping_mul(10).wrapping_add(u64::from(digit));
        }
        if let (true, Ok(doc)) = (digits, i64::try_from(n)) {
            set.insert(doc);
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_set_looks_in_the_part_whose_range_holds_the_number() {
        const MIDDLE: i64 = 1 << 62;
        // Given out of order, as the parts may finish.
        let high = parse_doc_list(&format!("{MIDDLE},{}", i64::MAX));
        let low = parse_doc_list("0,7,4611686018427387903");
        let set = DocSet::of(vec![(MIDDLE, high), (0, low)]);
        for doc in [0, 7, MIDDLE - 1, MIDDLE, i64::MAX] {
            assert!(set.contains(doc), "{doc}");
        }
        for doc in [1, 8, MIDDLE + 1, i64::MAX - 1, -1] {
            assert!(!set.contains(doc), "{doc}");
        }
        // A number in the low half is not looked for in the high one, and the other way.
        let only_high = DocSet::of(vec![(MIDDLE, parse_doc_list("7"))]);
        assert!(!only_high.contains(7));
        assert!(!DocSet::default().contains(0));
    }

    #[test]
    fn a_document_list_parses_numbers_and_skips_the_rest() {
        let docs = parse_doc_list("12,9223372036854775807,0,,x1,9223372036854775808,-5,7");
        let mut got: Vec<i64> = docs.into_iter().collect();
        got.sort_unstable();
        assert_eq!(got, vec![0, 7, 12, i64::MAX]);
        assert!(parse_doc_list("").is_empty());
    }
}
