//! The documents a full-text look-up answers: parsed from the comma-separated numbers the
//! index returns, kept per disjoint range of document numbers as a bitmap when the numbers are
//! dense (`search_index::DENSE_LIMIT`), else as a hash set.

use std::collections::HashSet;

/// The documents of an answer, as sets over disjoint ranges of document numbers (one per part
/// of the look-up, each read and parsed while the next part is looked up).
#[derive(Debug, Clone, Default)]
pub struct DocSet {
    /// (lowest document number of the range, its documents), by range.
    parts: Vec<(i64, DocPart)>,
}

impl DocSet {
    /// `parts` as (lowest document number of the range, documents in the range), the ranges
    /// disjoint.
    pub(crate) fn of(mut parts: Vec<(i64, DocPart)>) -> DocSet {
        parts.sort_by_key(|(from, _)| *from);
        DocSet { parts }
    }

    pub fn contains(&self, doc: i64) -> bool {
        // The range is the last one starting at or below the document.
        let at = self.parts.partition_point(|(from, _)| *from <= doc);
        at > 0 && self.parts[at - 1].1.contains(doc)
    }
}

/// The documents of one part of an answer.
#[derive(Debug, Clone)]
pub enum DocPart {
    /// Bit `n` of the words: document `first + n`.
    Bits {
        first: i64,
        words: Vec<u64>,
    },
    Hashed(HashSet<i64, DocHasher>),
}

impl Default for DocPart {
    fn default() -> DocPart {
        DocPart::Hashed(HashSet::default())
    }
}

impl DocPart {
    pub fn contains(&self, doc: i64) -> bool {
        match self {
            DocPart::Bits { first, words } => {
                let Some(n) = doc
                    .checked_sub(*first)
                    .and_then(|n| usize::try_from(n).ok())
                else {
                    return false;
                };
                words.get(n / 64).is_some_and(|w| w & (1 << (n % 64)) != 0)
            }
            DocPart::Hashed(set) => set.contains(&doc),
        }
    }

    /// A bitmap when it takes at most a few words per document, else a hash set.
    fn of(docs: Vec<i64>) -> DocPart {
        let (Some(&low), Some(&high)) = (docs.iter().min(), docs.iter().max()) else {
            return DocPart::default();
        };
        let span = (high - low) as u64 / 64 + 1;
        if span <= 4 * docs.len() as u64 + 64 {
            let mut words = vec![0u64; span as usize];
            for doc in docs {
                let n = (doc - low) as usize;
                words[n / 64] |= 1 << (n % 64);
            }
            DocPart::Bits { first: low, words }
        } else {
            let mut set = HashSet::with_capacity_and_hasher(docs.len(), DocHasher::default());
            set.extend(docs);
            DocPart::Hashed(set)
        }
    }
}

/// A set of document numbers needs no keyed hash (the numbers come from the index, not from a
/// sender), only one that spreads them: consecutive numbers of today's documents and the
/// hashed ones of an older release alike.
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
        // Fibonacci hashing: the table takes both its low bits (the bucket) and its high bits
        // (the tag), which a small number alone leaves at zero.
        self.0 = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The documents of a comma-separated list of non-negative numbers (what the look-up
/// aggregates), read digit by digit: 100,000 of them are parsed on every search of a word
/// nearly every message holds. Anything else in the list is skipped.
pub(crate) fn parse_doc_list(list: &str) -> DocPart {
    // Sized at once: dense numbers have a few digits each.
    let mut docs = Vec::with_capacity(list.len() / 6 + 1);
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
            docs.push(doc);
        }
    }
    DocPart::of(docs)
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
        for doc in [0, 7, 12, i64::MAX] {
            assert!(docs.contains(doc), "{doc}");
        }
        // "x1", "-5" and the number past i64::MAX are skipped, not misread.
        for doc in [1, 5, -5, 8, 11, 13, i64::MAX - 1] {
            assert!(!docs.contains(doc), "{doc}");
        }
        assert!(!parse_doc_list("").contains(0));
    }

    #[test]
    fn dense_documents_make_a_bitmap_and_sparse_ones_a_hash_set() {
        // Every third number from 1,000 to 31,000: a bitmap over the span.
        let dense: Vec<String> = (1_000..31_000).step_by(3).map(|d| d.to_string()).collect();
        let part = parse_doc_list(&dense.join(","));
        assert!(
            matches!(part, DocPart::Bits { first: 1_000, .. }),
            "{part:?}"
        );
        // Around the ends of the span and the ends of its words.
        for doc in [1_000, 1_003, 1_063, 1_064, 30_997, 30_999] {
            assert_eq!(part.contains(doc), (doc - 1_000) % 3 == 0, "{doc}");
        }
        for doc in [0, 999, 1_001, 31_000, 31_002, i64::MAX, -1] {
            assert!(!part.contains(doc), "{doc}");
        }
        // Three numbers far apart: a set, not a bitmap of 2^62 bits.
        let part = parse_doc_list("5,4611686018427387904,9223372036854775807");
        assert!(matches!(part, DocPart::Hashed(_)), "{part:?}");
        assert!(part.contains(5) && part.contains(1 << 62) && part.contains(i64::MAX));
        assert!(!part.contains(6));
    }
}
