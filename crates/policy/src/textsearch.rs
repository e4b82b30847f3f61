//! Vietnamese-aware text search folding (issue 13), pure.
//!
//! Text is folded letter by letter into a base letter (lower case, marks removed, đ → d) and the
//! set of marks it carried (tone marks, vowel marks ˆ ˘ ʼ, the stroke of đ, other Latin marks).
//! Input may be NFC or NFD; the old and new tone placement (hòa / hoà, thúy / thuý, khỏe / khoẻ,
//! ủy / uỷ) fold to one form: in `oa`, `oe`, `uy` a tone on the first vowel moves to the second.
//!
//! The matching rule ([`Folded::contains`]): **a query letter written without marks matches that
//! letter with any marks or none; a query letter written with marks matches only exactly those
//! marks.** So `nguyen` finds Nguyễn and Nguyên, `Nguyễn` finds only Nguyễn, `Nguyên` does not
//! find Nguyễn, `don` finds đơn, `đơn` does not find don, and case never matters.
//!
//! [`terms`] gives the words of a text with every mark removed; [`index_terms`] adds the marked
//! form of each word with marks: what the full-text index keeps. [`words_match`] is the word
//! mode the index answers (each query word begins a word of the text, any order), and
//! [`QueryWord::accepts`] applies the rule above to a marked index term.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Mark bits: the five Vietnamese tones.
const GRAVE: u16 = 1; // U+0300 huyền
const ACUTE: u16 = 1 << 1; // U+0301 sắc
const HOOK: u16 = 1 << 2; // U+0309 hỏi
const TILDE: u16 = 1 << 3; // U+0303 ngã
const DOT_BELOW: u16 = 1 << 4; // U+0323 nặng
const TONES: u16 = GRAVE | ACUTE | HOOK | TILDE | DOT_BELOW;
/// Vowel marks and the stroke of đ.
const CIRCUMFLEX: u16 = 1 << 5; // U+0302 â ê ô
const BREVE: u16 = 1 << 6; // U+0306 ă
const HORN: u16 = 1 << 7; // U+031B ơ ư
const STROKE: u16 = 1 << 8; // đ
/// Other Latin marks met in mail (French, German, Spanish names).
const DIAERESIS: u16 = 1 << 9; // U+0308
const RING: u16 = 1 << 10; // U+030A
const CEDILLA: u16 = 1 << 11; // U+0327
const CARON: u16 = 1 << 12; // U+030C
const MACRON: u16 = 1 << 13; // U+0304
/// Any other combining mark.
const OTHER: u16 = 1 << 15;

fn mark_bit(c: char) -> u16 {
    match c {
        '\u{0300}' | '\u{0340}' => GRAVE,
        '\u{0301}' | '\u{0341}' => ACUTE,
        '\u{0309}' => HOOK,
        '\u{0303}' => TILDE,
        '\u{0323}' => DOT_BELOW,
        '\u{0302}' => CIRCUMFLEX,
        '\u{0306}' => BREVE,
        '\u{031B}' => HORN,
        '\u{0335}' | '\u{0336}' => STROKE,
        '\u{0308}' => DIAERESIS,
        '\u{030A}' => RING,
        '\u{0327}' => CEDILLA,
        '\u{030C}' => CARON,
        '\u{0304}' => MACRON,
        _ => OTHER,
    }
}

/// One folded letter: its base (lower case, no marks) and the marks it carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Letter {
    pub base: char,
    pub marks: u16,
}

/// Folded text: one [`Letter`] per base character of the input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Folded(pub Vec<Letter>);

impl Folded {
    /// Folds `text` (NFC or NFD, any case). Character by character: a mark's position among
    /// the marks of its letter does not matter (they are a set), so no reordering is needed;
    /// the letters of Vietnamese and the other Latin scripts come from a table built once.
    pub fn new(text: &str) -> Folded {
        let mut letters: Vec<Letter> = Vec::with_capacity(text.len());
        for c in text.chars() {
            if c.is_ascii() {
                letters.push(Letter {
                    base: c.to_ascii_lowercase(),
                    marks: 0,
                });
            } else if let Some(letter) = latin(c) {
                letters.push(letter);
            } else {
                fold_char(c, &mut letters);
            }
        }
        place_tones(&mut letters);
        Folded(letters)
    }

    /// Whether `needle` occurs in `self` under the matching rule of this module: consecutive
    /// letters with equal bases, where each needle letter with marks has exactly the same marks.
    /// An empty needle occurs everywhere (RFC 9051 6.4.4: every string contains "").
    pub fn contains(&self, needle: &Folded) -> bool {
        let (hay, pat) = (&self.0, &needle.0);
        if pat.is_empty() {
            return true;
        }
        if pat.len() > hay.len() {
            return false;
        }
        let first = pat[0];
        (0..=hay.len() - pat.len()).any(|start| {
            hay[start].base == first.base
                && hay[start..start + pat.len()]
                    .iter()
                    .zip(pat)
                    .all(|(h, p)| letter_matches(*h, *p))
        })
    }

    /// The text with every mark removed (what [`terms`] splits).
    pub fn bare(&self) -> String {
        self.0.iter().map(|l| l.base).collect()
    }
}

/// Folds one character the long way: its canonical decomposition, lower-cased, marks onto the
/// letter before.
fn fold_char(c: char, letters: &mut Vec<Letter>) {
    let mark = |letters: &mut Vec<Letter>, m: char| {
        if let Some(last) = letters.last_mut() {
            last.marks |= mark_bit(m);
        }
    };
    for d in std::iter::once(c).nfd() {
        if is_combining_mark(d) {
            mark(letters, d);
        } else if d == 'đ' || d == 'Đ' {
            letters.push(Letter {
                base: 'd',
                marks: STROKE,
            });
        } else {
            // Lower-casing may give several characters, or ones with marks (İ → i̇).
            for lower in d.to_lowercase().nfd() {
                if is_combining_mark(lower) {
                    mark(letters, lower);
                } else {
                    letters.push(Letter {
                        base: lower,
                        marks: 0,
                    });
                }
            }
        }
    }
}

/// Latin-1 Supplement to Latin Extended-B, and Latin Extended Additional (every precomposed
/// Vietnamese letter): the one folded letter of each character, when it folds to exactly one.
const LATIN: [(u32, u32); 2] = [(0x00C0, 0x0250), (0x1E00, 0x1F00)];

fn latin(c: char) -> Option<Letter> {
    static TABLE: std::sync::OnceLock<Vec<Option<Letter>>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        LATIN
            .iter()
            .flat_map(|(from, to)| *from..*to)
            .map(|code| {
                let c = char::from_u32(code)?;
                let mut one = Vec::with_capacity(2);
                fold_char(c, &mut one);
                (one.len() == 1).then(|| one[0])
            })
            .collect()
    });
    let code = u32::from(c);
    let mut offset = 0;
    for (from, to) in LATIN {
        if (from..to).contains(&code) {
            return table[(offset + code - from) as usize];
        }
        offset += to - from;
    }
    None
}

fn letter_matches(hay: Letter, pat: Letter) -> bool {
    hay.base == pat.base && (pat.marks == 0 || pat.marks == hay.marks)
}

/// Old and new tone placement fold alike: in `oa`, `oe` and `uy`, a tone on the first vowel
/// (old style: hòa, khỏe, thúy, ủy) moves to the second (new style: hoà, khoẻ, thuý, uỷ), when
/// the first carries nothing but that tone and the second nothing at all.
fn place_tones(letters: &mut [Letter]) {
    for i in 0..letters.len().saturating_sub(1) {
        let (first, second) = (letters[i], letters[i + 1]);
        let pair = matches!(
            (first.base, second.base),
            ('o', 'a') | ('o', 'e') | ('u', 'y')
        );
        if pair
            && first.marks != 0
            && first.marks & !TONES == 0
            && second.marks == 0
            && letters
                .get(i + 2)
                .is_none_or(|next| !next.base.is_alphanumeric())
        {
            letters[i].marks = 0;
            letters[i + 1].marks = first.marks;
        }
    }
}

/// Whether `haystack` contains `needle` under the rule of this module.
pub fn contains(haystack: &str, needle: &str) -> bool {
    Folded::new(haystack).contains(&Folded::new(needle))
}

/// Longest index term kept, in characters; longer words are cut (a query word is cut alike).
pub const MAX_TERM_CHARS: usize = 32;

/// The words of `text` with every mark removed, lower case, each cut to [`MAX_TERM_CHARS`]:
/// runs of letters and digits (so `15/QĐ-UBND` gives `15`, `qd`, `ubnd`; an address gives its
/// pieces). In text order, repeats kept.
pub fn terms(text: &str) -> Vec<String> {
    split_terms(&Folded::new(text).bare())
}

fn split_terms(bare: &str) -> Vec<String> {
    bare.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().take(MAX_TERM_CHARS).collect())
        .collect()
}

/// The words of folded text: runs of letters and digits.
fn words(folded: &Folded) -> impl Iterator<Item = &[Letter]> {
    folded
        .0
        .split(|l| !l.base.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// The index terms of a text: every word (cut to [`MAX_TERM_CHARS`]) as its bare form, and a
/// word carrying marks also as its marked form `bare~PMMMM…` — for each letter with marks, its
/// position P (one base-36 digit) and its marks MMMM (four hex digits) — so a query word typed
/// with marks is answered from the index ([`QueryWord::accepts`]). Repeats kept.
pub fn index_terms(text: &str) -> Vec<String> {
    let mut out = vec![];
    each_index_term(text, |t| out.push(t.to_string()));
    out
}

/// [`index_terms`] one by one, without an allocation per term.
pub fn each_index_term(text: &str, mut f: impl FnMut(&str)) {
    let folded = Folded::new(text);
    let mut bare = String::with_capacity(MAX_TERM_CHARS * 2);
    for word in words(&folded) {
        let word = &word[..word.len().min(MAX_TERM_CHARS)];
        bare.clear();
        bare.extend(word.iter().map(|l| l.base));
        if word.iter().any(|l| l.marks != 0) {
            let len = bare.len();
            bare.push('~');
            for (i, l) in word.iter().enumerate().filter(|(_, l)| l.marks != 0) {
                bare.push(char::from_digit(i as u32, 36).unwrap_or('z'));
                // The marks as four hex digits, as `{:04x}` writes them (no formatter: this
                // runs for every marked word of every message indexed).
                for shift in [12, 8, 4, 0] {
                    let digit = u32::from((l.marks >> shift) & 0xf);
                    bare.push(char::from_digit(digit, 16).unwrap_or('0'));
                }
            }
            f(&bare);
            bare.truncate(len);
        }
        f(&bare);
    }
}

/// One word of a SEARCH string, folded: its bare form and the marks typed on its letters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueryWord {
    pub bare: String,
    /// (position, marks) of each letter typed with marks.
    marks: Vec<(usize, u16)>,
}

impl QueryWord {
    /// Typed with some marks: only marked index terms can answer it.
    pub fn is_marked(&self) -> bool {
        !self.marks.is_empty()
    }

    /// Whether the word an index term stands for begins with this query word under the rule of
    /// this module: `term` is a marked term of [`index_terms`] whose bare form begins with
    /// [`QueryWord::bare`], and each letter typed with marks has exactly those marks there. (An
    /// unmarked term is a word with no marks at all: it never answers a marked query word.)
    pub fn accepts(&self, term: &str) -> bool {
        let Some((bare, code)) = term.split_once('~') else {
            return !self.is_marked() && term.starts_with(&self.bare);
        };
        if !bare.starts_with(&self.bare) || code.len() % 5 != 0 || !code.is_ascii() {
            return false;
        }
        let at = |pos: usize| -> u16 {
            code.as_bytes()
                .chunks(5)
                .find_map(|c| {
                    let p = char::from(c[0]).to_digit(36)? as usize;
                    let m = u16::from_str_radix(std::str::from_utf8(&c[1..]).ok()?, 16).ok()?;
                    (p == pos).then_some(m)
                })
                .unwrap_or(0)
        };
        self.marks.iter().all(|(pos, marks)| at(*pos) == *marks)
    }
}

/// The words of a SEARCH string, or None when it has none or one is longer than
/// [`MAX_TERM_CHARS`] (the index keeps words cut to that length).
pub fn query_words(needle: &str) -> Option<Vec<QueryWord>> {
    let folded = Folded::new(needle);
    let mut out = vec![];
    for word in words(&folded) {
        if word.len() > MAX_TERM_CHARS {
            return None;
        }
        out.push(QueryWord {
            bare: word.iter().map(|l| l.base).collect(),
            marks: word
                .iter()
                .enumerate()
                .filter(|(_, l)| l.marks != 0)
                .map(|(i, l)| (i, l.marks))
                .collect(),
        });
    }
    (!out.is_empty()).then_some(out)
}

/// Search with the full-text index on: every word of `needle` begins a word of `haystack`, in
/// any order, each letter under the rule of this module (Dovecot's FTS answers alike); a needle
/// without letters or digits is looked for as a string ([`contains`]).
pub fn words_match(haystack: &str, needle: &str) -> bool {
    let needle = Folded::new(needle);
    if words(&needle).next().is_none() {
        return contains_folded(&Folded::new(haystack), &needle);
    }
    let hay = Folded::new(haystack);
    let all = words(&needle).all(|q| {
        words(&hay)
            .any(|w| w.len() >= q.len() && w.iter().zip(q).all(|(h, p)| letter_matches(*h, *p)))
    });
    all
}

fn contains_folded(hay: &Folded, needle: &Folded) -> bool {
    hay.contains(needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (text, query, expected): the rule of the module doc, case by case.
    #[test]
    fn matching_table() {
        let nfd_nguyen: String = "Nguyễn".nfd().collect();
        let cases: &[(&str, &str, bool)] = &[
            ("Nguyễn Văn An", "nguyen", true),
            ("Nguyên Văn An", "nguyen", true),
            ("Nguyễn Văn An", "Nguyễn", true),
            ("Nguyên Văn An", "Nguyễn", false),
            ("Nguyễn Văn An", "Nguyên", false),
            ("NGUYỄN VĂN AN", "nguyễn văn", true),
            (&nfd_nguyen, "nguyễn", true),
            ("Nguyễn", &nfd_nguyen, true),
            ("đơn xin nghỉ", "don", true),
            ("đơn xin nghỉ", "đơn", true),
            ("don xin nghi", "đơn", false),
            ("ĐỀ NGHỊ", "de nghi", true),
            ("ĐỀ NGHỊ", "đề nghị", true),
            ("ĐỀ NGHỊ", "để nghị", false),
            ("hoà bình", "hòa", true),
            ("hòa bình", "hoà", true),
            ("thuý", "thúy", true),
            ("khỏe", "khoẻ", true),
            ("Ủy ban", "uỷ ban", true),
            ("hoàng", "hoàng", true),
            ("báo cáo", "bao cao", true),
            ("báo cáo", "báo cáo", true),
            ("bao cao", "báo cáo", false),
            ("anything", "", true),
            ("số 15/QĐ-UBND", "15/qd-ubnd", true),
            ("Straße", "STRASSE", false),
            ("Café", "cafe", true),
        ];
        for (text, query, expected) in cases {
            assert_eq!(contains(text, query), *expected, "{text:?} ∋ {query:?}");
        }
    }

    /// The folding as first written (whole text to NFD, then letter by letter): the table and
    /// per-character path must give the same letters for every character and for mixed text.
    fn reference_fold(text: &str) -> Folded {
        let mut letters: Vec<Letter> = vec![];
        for c in text.nfd() {
            if is_combining_mark(c) {
                if let Some(last) = letters.last_mut() {
                    last.marks |= mark_bit(c);
                }
                continue;
            }
            match c {
                'đ' | 'Đ' => letters.push(Letter {
                    base: 'd',
                    marks: STROKE,
                }),
                c if c.is_ascii() => letters.push(Letter {
                    base: c.to_ascii_lowercase(),
                    marks: 0,
                }),
                c => {
                    for lower in c.to_lowercase().nfd() {
                        if is_combining_mark(lower) {
                            if let Some(last) = letters.last_mut() {
                                last.marks |= mark_bit(lower);
                            }
                        } else {
                            letters.push(Letter {
                                base: lower,
                                marks: 0,
                            });
                        }
                    }
                }
            }
        }
        place_tones(&mut letters);
        Folded(letters)
    }

    #[test]
    fn fast_folding_equals_the_reference() {
        for code in (0x80u32..0x3000)
            .chain(0x1E00..0x1F00)
            .chain(0xAC00..0xAC10)
        {
            let Some(c) = char::from_u32(code) else {
                continue;
            };
            let text = format!("a{c}b");
            assert_eq!(Folded::new(&text), reference_fold(&text), "U+{code:04X}");
        }
        let nfd: String = "Nguyễn Thị Thuý Hoà, ĐỀ NGHỊ Ủy ban khỏe".nfd().collect();
        for text in [
            "Nguyễn Thị Thuý Hoà, ĐỀ NGHỊ Ủy ban khỏe İstanbul ǅemal Straße",
            nfd.as_str(),
            "e\u{0301}\u{0302}x o\u{031B}\u{0323}",
        ] {
            assert_eq!(Folded::new(text), reference_fold(text), "{text:?}");
        }
    }

    #[test]
    fn marked_terms_answer_marked_query_words() {
        let terms = index_terms("Quyết định số 15/QĐ-UBND, Nguyên");
        assert!(terms.contains(&"quyet".to_string()));
        assert!(terms.contains(&"quyet~30022".to_string()), "{terms:?}");
        assert!(terms.contains(&"nguyen~40020".to_string()), "{terms:?}");
        assert!(terms.contains(&"15".to_string()) && !terms.iter().any(|t| t.starts_with("15~")));
        let word = |q: &str| query_words(q).unwrap().remove(0);
        let accepts = |q: &str, text: &str| {
            let w = word(q);
            index_terms(text).iter().any(|t| w.accepts(t))
        };
        // The table of the module rule, now through the index terms.
        assert!(accepts("quyết", "Quyết"));
        assert!(accepts("quy", "Quyết"));
        assert!(accepts("quyế", "quyết"));
        assert!(!accepts("quyết", "quyet"));
        assert!(accepts("Nguyễn", "NGUYỄN"));
        assert!(!accepts("Nguyễn", "Nguyên"));
        assert!(!accepts("Nguyên", "Nguyễn"));
        assert!(accepts("đơn", "Đơn"));
        assert!(accepts("dơn", "đơn"));
        assert!(accepts("đon", "đơn"));
        assert!(!accepts("đơn", "don"));
        assert!(accepts("hòa", "hoà"));
        assert!(accepts("thúy", "thuý"));
        assert!(accepts("nguyen", "Nguyễn"));
        assert!(!word("nguyen").is_marked() && word("Nguyễn").is_marked());
        assert_eq!(query_words("  "), None);
        assert_eq!(query_words(&"a".repeat(MAX_TERM_CHARS + 1)), None);
    }

    #[test]
    fn words_match_each_word_at_a_word_start_in_any_order() {
        assert!(words_match("Thông báo kết luận họp giao ban", "ket luan"));
        assert!(words_match(
            "Thông báo kết luận họp giao ban",
            "giao ban thong"
        ));
        assert!(words_match("luận ... kết", "kết luận"), "any order");
        assert!(!words_match("Thông báo kết luận", "kết luân"));
        assert!(!words_match("market", "ket"), "a word start");
        assert!(words_match("số 15/QĐ-UBND", "15/qd-ubnd"));
        assert!(words_match("phòng chống bão & lũ", "bão & lũ"));
        assert!(words_match("a & b", "&"), "no words: as a string");
        assert!(!words_match("a b", "&"));
        assert!(words_match("anything", ""));
    }

    #[test]
    fn terms_drop_marks_and_split() {
        assert_eq!(
            terms("Số 15/QĐ-UBND của Ủy ban"),
            vec!["so", "15", "qd", "ubnd", "cua", "uy", "ban"]
        );
        assert_eq!(terms("nguyen.van.an@bo.gov.vn")[0], "nguyen");
        let long = "a".repeat(100);
        assert_eq!(terms(&long)[0].len(), MAX_TERM_CHARS);
    }
}
