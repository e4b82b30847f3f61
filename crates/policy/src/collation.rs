//! String collation for sorting and comparing mail text: RFC 5051 `i;unicode-casemap`, and the
//! Vietnamese ordering IMAP SORT uses on top of it. Pure functions, no I/O: IMAP SORT/THREAD
//! use them today, Sieve's comparators can use them tomorrow.
//!
//! **`i;unicode-casemap` (RFC 5051 2).** Each string is prepared into its "titlecased
//! canonicalized" form: every code point is replaced by its simple titlecase mapping
//! (UnicodeData.txt, not SpecialCasing.txt), then by its decomposition (canonical or
//! compatibility), and both steps are applied again to what they produce until nothing changes.
//! Equality, ordering and substring are then those of `i;octet` on the UTF-8 of that form.
//! Two details, both chosen so Vietnamese typed in NFC and in NFD compare equal:
//! - combining marks of the result are put in canonical order (as NFKD does), so `ệ` typed as
//!   `e + U+0323 + U+0302` and as `e + U+0302 + U+0323` prepare alike. Every NFC or NFD input
//!   already decomposes in canonical order, so for those this changes nothing;
//! - Hangul syllables are kept whole: UnicodeData.txt gives them no decomposition field.
//!
//! **Vietnamese order ([`sort_key`]).** `i;unicode-casemap` orders by code point, which puts
//! `Đức` after `Giang` (U+0110 sorts after every ASCII letter) and `Ao` before `Ánh` (the acute
//! accent U+0301 sorts after `O`). A Vietnamese reader expects the alphabet
//! `A Ă Â B C D Đ E Ê G H I K L M N O Ô Ơ P Q R S T U Ư V X Y` (F, J, W, Z in their Latin
//! places), tones deciding only between otherwise equal words, in dictionary order
//! `ngang < huyền (◌̀) < hỏi (◌̉) < ngã (◌̃) < sắc (◌́) < nặng (◌̣)`, word by word.
//! [`sort_key`] orders that way and ends with the prepared `i;unicode-casemap` form as the last
//! tie-break: two strings have equal keys exactly when `i;unicode-casemap` calls them equal,
//! so only the order of unequal strings differs from RFC 5051. For example
//! `An < Ánh < Ao < Ăn < Âu < Bình < Chi < Dũng < Đức < Giang`.

use std::cmp::Ordering;

use unicode_normalization::char::{canonical_combining_class, decompose_compatible};

/// How many times titlecase and decomposition are applied to the pieces of one code point; two
/// rounds reach the fixed point for every character (e.g. `ǰ` → `j` + caron → `J` + caron).
const MAX_ROUNDS: usize = 4;

/// The RFC 5051 "titlecased canonicalized" form of `text` (see the module notes).
pub fn casemap(text: &str) -> String {
    let mut out: Vec<char> = Vec::with_capacity(text.len());
    for c in text.chars() {
        prepare_char(c, &mut out, 0);
    }
    canonical_order(&mut out);
    out.into_iter().collect()
}

/// `i;unicode-casemap` equality (RFC 5051 2).
pub fn casemap_eq(a: &str, b: &str) -> bool {
    a == b || casemap(a) == casemap(b)
}

/// `i;unicode-casemap` ordering: `i;octet` on the prepared forms (RFC 5051 2).
pub fn casemap_cmp(a: &str, b: &str) -> Ordering {
    casemap(a).as_bytes().cmp(casemap(b).as_bytes())
}

/// `i;unicode-casemap` substring: `needle` occurs in `haystack` (RFC 5051 2, RFC 4790 4.2.2).
/// The empty string is a substring of every string.
pub fn casemap_contains(haystack: &str, needle: &str) -> bool {
    casemap(haystack).contains(&casemap(needle))
}

/// A string's position in Vietnamese alphabetical order (see the module notes). Keys compare
/// with `Ord`; equal keys mean `i;unicode-casemap` equality.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SortKey {
    words: Vec<Word>,
    /// The `i;unicode-casemap` form: the last tie-break.
    canonical: String,
}

impl SortKey {
    /// The `i;unicode-casemap` form of the keyed string.
    pub fn casemapped(&self) -> &str {
        &self.canonical
    }

    /// True for the key of a string with no characters at all.
    pub fn is_empty(&self) -> bool {
        self.canonical.is_empty()
    }
}

/// One whitespace-separated word: its letters (primary weights) first, its tones and other
/// marks (secondary weights) only when the letters are equal.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Word {
    letters: Vec<u32>,
    marks: Vec<u32>,
}

/// The Vietnamese sort key of `text`.
pub fn sort_key(text: &str) -> SortKey {
    let canonical = casemap(text);
    let words = canonical
        .split(char::is_whitespace)
        .filter(|w| !w.is_empty())
        .map(word_of)
        .collect();
    SortKey { words, canonical }
}

/// Vietnamese order of two strings ([`sort_key`] of each).
pub fn vi_cmp(a: &str, b: &str) -> Ordering {
    sort_key(a).cmp(&sort_key(b))
}

/// Simple titlecase mapping (UnicodeData.txt field 14) from the standard library's mappings:
/// it equals the simple uppercase mapping except for the Latin digraphs, Georgian, and the
/// Greek letters with ypogegrammeni; a full uppercase of several characters (`ß` → `SS`, from
/// SpecialCasing.txt) means there is no simple mapping.
fn titlecase(c: char) -> char {
    let cp = c as u32;
    match cp {
        0x01C4..=0x01C6 => '\u{01C5}',
        0x01C7..=0x01C9 => '\u{01C8}',
        0x01CA..=0x01CC => '\u{01CB}',
        0x01F1..=0x01F3 => '\u{01F2}',
        // Georgian Mkhedruli: titlecase is the letter itself (uppercase is Mtavruli).
        0x10D0..=0x10FA | 0x10FD..=0x10FF => c,
        0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => char::from_u32(cp + 8).unwrap_or(c),
        0x1FB3 => '\u{1FBC}',
        0x1FC3 => '\u{1FCC}',
        0x1FF3 => '\u{1FFC}',
        0x1F88..=0x1F8F | 0x1F98..=0x1F9F | 0x1FA8..=0x1FAF | 0x1FBC | 0x1FCC | 0x1FFC => c,
        _ => {
            let mut upper = c.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        }
    }
}

fn is_hangul_syllable(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c)
}

/// RFC 5051 2 steps (2)(a) and (2)(b) on one code point, repeated on what they produce.
fn prepare_char(c: char, out: &mut Vec<char>, round: usize) {
    let titled = titlecase(c);
    if is_hangul_syllable(titled) {
        out.push(titled);
        return;
    }
    let mut pieces: [char; 18] = ['\0'; 18];
    let mut n = 0;
    let mut overflow: Vec<char> = vec![];
    decompose_compatible(titled, |d| {
        if n < pieces.len() {
            pieces[n] = d;
            n += 1;
        } else {
            overflow.push(d);
        }
    });
    let changed = n != 1 || pieces[0] != c || !overflow.is_empty();
    for &d in pieces[..n].iter().chain(overflow.iter()) {
        if changed && round < MAX_ROUNDS && d != titled {
            prepare_char(d, out, round + 1);
        } else {
            out.push(d);
        }
    }
}

/// Canonical ordering (UAX #15): runs of combining marks sorted stably by combining class.
fn canonical_order(chars: &mut [char]) {
    let mut i = 0;
    while i < chars.len() {
        if canonical_combining_class(chars[i]) == 0 {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && canonical_combining_class(chars[i]) != 0 {
            i += 1;
        }
        chars[start..i].sort_by_key(|&c| canonical_combining_class(c));
    }
}

const BREVE: char = '\u{0306}';
const CIRCUMFLEX: char = '\u{0302}';
const HORN: char = '\u{031B}';

/// The Vietnamese tone a combining mark writes, in dictionary order (0 = none, ngang).
fn tone(mark: char) -> Option<u32> {
    match mark {
        '\u{0300}' => Some(1), // huyền
        '\u{0309}' => Some(2), // hỏi
        '\u{0303}' => Some(3), // ngã
        '\u{0301}' => Some(4), // sắc
        '\u{0323}' => Some(5), // nặng
        _ => None,
    }
}

/// Primary weight of a letter and the mark that makes it a letter of its own (Ă Â Ê Ô Ơ Ư),
/// if any. Weights are code point × 4, so everything that is not one of these letters keeps
/// its `i;unicode-casemap` (code point) order; the Vietnamese letters slot in right after their
/// base letter, Đ right after D.
fn letter(base: char, marks: &[char]) -> (u32, Option<char>) {
    let w = base as u32 * 4;
    let has = |m: char| marks.contains(&m);
    match base {
        'A' if has(BREVE) => (w + 1, Some(BREVE)),
        'A' if has(CIRCUMFLEX) => (w + 2, Some(CIRCUMFLEX)),
        'E' if has(CIRCUMFLEX) => (w + 2, Some(CIRCUMFLEX)),
        'O' if has(CIRCUMFLEX) => (w + 1, Some(CIRCUMFLEX)),
        'O' if has(HORN) => (w + 2, Some(HORN)),
        'U' if has(HORN) => (w + 1, Some(HORN)),
        '\u{0110}' => ('D' as u32 * 4 + 1, None),
        _ => (w, None),
    }
}

/// Offset of a non-tone mark's secondary weight: above every tone.
const OTHER_MARK: u32 = 16;

fn word_of(text: &str) -> Word {
    let chars: Vec<char> = text.chars().collect();
    let mut word = Word {
        letters: Vec::with_capacity(chars.len()),
        marks: Vec::with_capacity(chars.len()),
    };
    let mut i = 0;
    while i < chars.len() {
        let base = chars[i];
        let mut end = i + 1;
        while end < chars.len() && canonical_combining_class(chars[end]) != 0 {
            end += 1;
        }
        let marks = &chars[i + 1..end];
        let (weight, forming) = letter(base, marks);
        word.letters.push(weight);
        let mut tone_weight = 0;
        let mut others = vec![];
        let mut forming = forming;
        for &m in marks {
            if Some(m) == forming {
                forming = None;
            } else if let (0, Some(t)) = (tone_weight, tone(m)) {
                tone_weight = t;
            } else {
                others.push(m as u32 + OTHER_MARK);
            }
        }
        word.marks.push(tone_weight);
        word.marks.extend(others);
        i = end;
    }
    word
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(words: &[&str], cmp: fn(&str, &str) -> Ordering) -> Vec<String> {
        let mut v: Vec<String> = words.iter().map(|s| s.to_string()).collect();
        v.sort_by(|a, b| cmp(a, b));
        v
    }

    /// RFC 5051 2: titlecase, then decomposition, repeated.
    #[test]
    fn casemap_table() {
        let table: &[(&str, &str)] = &[
            ("abc", "ABC"),
            ("ABC", "ABC"),
            // Precomposed letters decompose: base (titlecased) + combining marks.
            ("á", "A\u{0301}"),
            ("Đức", "\u{0110}U\u{031B}\u{0301}C"),
            ("đ", "\u{0110}"),
            ("ệ", "E\u{0323}\u{0302}"),
            // NFD input in either mark order prepares like NFC (canonical order).
            ("e\u{0302}\u{0323}", "E\u{0323}\u{0302}"),
            ("e\u{0323}\u{0302}", "E\u{0323}\u{0302}"),
            // Simple titlecase, not the full uppercase of SpecialCasing.txt.
            ("ß", "ß"),
            // Digraphs titlecase to their titlecase form, then decompose.
            ("ǆ", "DZ\u{030C}"),
            ("Ǆ", "DZ\u{030C}"),
            ("D\u{017D}", "DZ\u{030C}"),
            // Compatibility decompositions, then titlecase again.
            ("ﬁ", "FI"),
            ("ǰ", "J\u{030C}"),
            ("①", "1"),
            // Hangul syllables have no UnicodeData decomposition.
            ("한", "한"),
            // Greek with ypogegrammeni: titlecase form, decomposed; the mark titlecases to iota.
            ("ᾳ", "\u{0391}\u{0399}"),
            ("", ""),
        ];
        for (input, want) in table {
            assert_eq!(casemap(input), *want, "{input:?}");
        }
    }

    #[test]
    fn casemap_operations() {
        assert!(casemap_eq("Nguyễn Văn An", "NGUYỄN VĂN AN"));
        // NFC and NFD spellings are equal.
        assert!(casemap_eq("Nguy\u{1EC5}n", "Nguye\u{0302}\u{0303}n"));
        assert!(!casemap_eq("Dung", "Đung"));
        assert!(!casemap_eq("An", "Ân"));
        assert!(casemap_contains("Công văn số 15", "VĂN SỐ"));
        assert!(casemap_contains("abc", ""));
        assert!(!casemap_contains("Cong van", "công"));
        assert_eq!(casemap_cmp("a", "B"), Ordering::Less);
        assert_eq!(casemap_cmp("b", "A"), Ordering::Greater);
        assert_eq!(casemap_cmp("Ánh", "ÁNH"), Ordering::Equal);
    }

    /// The order the task asks to document, in both collations.
    #[test]
    fn vietnamese_names() {
        let names = ["Giang", "Đức", "Chi", "Ánh", "Dũng", "Bình", "An"];
        // Vietnamese: Đ right after D, base letters before tone-marked ones.
        assert_eq!(
            sorted(&names, vi_cmp),
            ["An", "Ánh", "Bình", "Chi", "Dũng", "Đức", "Giang"]
        );
        // Pure RFC 5051: Đ (U+0110) after every ASCII letter.
        assert_eq!(
            sorted(&names, casemap_cmp),
            ["An", "Ánh", "Bình", "Chi", "Dũng", "Giang", "Đức"]
        );
    }

    #[test]
    fn vietnamese_alphabet_and_tones() {
        // Letters first: the tone of Ánh does not put it after Ao (RFC 5051 would).
        assert_eq!(casemap_cmp("Ánh", "Ao"), Ordering::Greater);
        assert_eq!(vi_cmp("Ánh", "Ao"), Ordering::Less);
        let words = [
            "Yến", "Ưng", "Ơn", "Ông", "Ong", "Ê", "E", "Âu", "Ăn", "Ao", "Ánh", "Anh", "An",
            "Dung", "Đông", "Dũng", "Xuân",
        ];
        assert_eq!(
            sorted(&words, vi_cmp),
            [
                "An", "Anh", "Ánh", "Ao", "Ăn", "Âu", "Dung", "Dũng", "Đông", "E", "Ê", "Ong",
                "Ông", "Ơn", "Ưng", "Xuân", "Yến"
            ]
        );
        // Tones in dictionary order: ngang, huyền, hỏi, ngã, sắc, nặng.
        let tones = ["mạ", "má", "mã", "mả", "mà", "ma"];
        assert_eq!(sorted(&tones, vi_cmp), ["ma", "mà", "mả", "mã", "má", "mạ"]);
        // Word by word: the first syllable decides, tone included.
        assert_eq!(vi_cmp("ba ba", "bà a"), Ordering::Less);
        // Case never decides order, only the last tie-break of unequal strings.
        assert_eq!(vi_cmp("đức", "ĐỨC"), Ordering::Equal);
        // The empty string collates first (RFC 5256 3).
        assert_eq!(vi_cmp("", " "), Ordering::Less);
        assert_eq!(vi_cmp(" ", "A"), Ordering::Less);
        assert_eq!(vi_cmp("", "0"), Ordering::Less);
    }

    /// Key equality is exactly i;unicode-casemap equality.
    #[test]
    fn equal_keys_mean_casemap_equality() {
        let samples = [
            "",
            " ",
            "a",
            "A",
            "á",
            "a\u{0301}",
            "Đ",
            "đ",
            "D",
            "ǆ",
            "Ǆ",
            "ǅ",
            "Nguyễn",
            "NGUYỄN",
            "Nguye\u{0302}\u{0303}n",
            "ß",
            "SS",
            "ﬁ",
            "FI",
            "Ă",
            "Â",
            "ă",
        ];
        for a in samples {
            for b in samples {
                assert_eq!(
                    sort_key(a) == sort_key(b),
                    casemap_eq(a, b),
                    "{a:?} vs {b:?}"
                );
                // A total order: antisymmetric.
                assert_eq!(vi_cmp(a, b), vi_cmp(b, a).reverse());
            }
        }
    }
}
