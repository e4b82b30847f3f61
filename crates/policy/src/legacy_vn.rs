//! Vietnamese typed in the legacy 8-bit encodings offices used before Unicode, pure: TCVN3
//! (TCVN 5712:1993, the ".VnTime" fonts) here, VNI (the "VNI-Times" fonts) in [`vni`]. Such
//! text reaches mail labelled as windows-1252 or ISO-8859-1 — in a body, or in the DOCX of an
//! old công văn — and reads as Latin-1 noise: "Céng hßa x· héi chñ nghÜa ViÖt Nam" is "Cộng
//! hòa xã hội chủ nghĩa Việt Nam". The full-text index keeps the reading this module recovers
//! beside the text as it came, so a search for "Việt Nam" or "viet nam" finds the old letter.
//!
//! Detection: TCVN3 puts its Vietnamese letters at 0xA1–0xFF, so its words hold characters of
//! U+00A1–U+00FF that Unicode Vietnamese never writes (ß Ü Ö ñ µ · ¸ ¬ § …; Unicode Vietnamese
//! uses only à á â ã è é ê ì í ò ó ô õ ù ú ý and their capitals there). The words holding one
//! are read through the table; the text is taken for TCVN3 when there are at least
//! [`MIN_WORDS`] of them, they are at least a fifth of the words with letters, and at least
//! four in five read as one Vietnamese syllable each (an initial consonant from the language's
//! set, vowels, an allowed final consonant, at most one tone). French or German in Latin-1
//! ("été", "für", "schön") does not: read through the table it gives no syllables.
//!
//! VNI writes a marked letter as its base letter followed by a mark code; [`vni`] reads it with
//! the same test. [`legacy_reading`] tries both.

pub mod vni;

/// The text read as TCVN3 or as VNI, when it looks like one of them; None otherwise.
pub fn legacy_reading(text: &str) -> Option<String> {
    if !has_telltale(text) {
        return None;
    }
    tcvn3_reading(text).or_else(|| vni::vni_reading(text))
}

/// Whether `text` holds a code either encoding gives away, in one pass over its bytes: both
/// sets lie in U+00A1–U+00FF, written C2 xx or C3 xx in UTF-8 (most text indexed has none,
/// and this runs on all of it).
fn has_telltale(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().any(|(i, &lead)| {
        (lead == 0xC2 || lead == 0xC3)
            && bytes.get(i + 1).is_some_and(|&next| {
                let c = char::from_u32((u32::from(lead & 0x1f) << 6) | u32::from(next & 0x3f));
                c.is_some_and(|c| is_telltale(c) || vni::is_telltale(c))
            })
    })
}

/// TCVN3 bytes 0xA1–0xFF (as U+00A1–U+00FF after a Latin-1 reading) to Unicode (NFC). Upper
/// case letters beyond Ă Â Ê Ô Ơ Ư Đ are VN1's (the ".VnTimeH" fonts reuse the lower case codes).
const TCVN3: [char; 95] = [
    'Ă', 'Â', 'Ê', 'Ô', 'Ơ', 'Ư', 'Đ', 'ă', 'â', 'ê', 'ô', 'ơ', 'ư', 'đ', 'Ằ', // A1–AF
    '\u{300}', '\u{309}', '\u{303}', '\u{301}', '\u{323}', 'à', 'ả', 'ã', 'á', 'ạ', 'Ẳ', 'ằ', 'ẳ',
    'ẵ', 'ắ', 'Ẵ', // B0–BF
    'Ắ', 'Ầ', 'Ẩ', 'Ẫ', 'Ấ', 'Ề', 'ặ', 'ầ', 'ẩ', 'ẫ', 'ấ', 'ậ', 'è', 'Ể', 'ẻ', 'ẽ', // C0–CF
    'é', 'ẹ', 'ề', 'ể', 'ễ', 'ế', 'ệ', 'ì', 'ỉ', 'Ễ', 'Ế', 'Ồ', 'ĩ', 'í', 'ị', 'ò', // D0–DF
    'Ổ', 'ỏ', 'õ', 'ó', 'ọ', 'ồ', 'ổ', 'ỗ', 'ố', 'ộ', 'ờ', 'ở', 'ỡ', 'ớ', 'ợ', 'ù', // E0–EF
    'Ỗ', 'ủ', 'ũ', 'ú', 'ụ', 'ừ', 'ử', 'ữ', 'ứ', 'ự', 'ỳ', 'ỷ', 'ỹ', 'ý', 'ỵ', 'Ố', // F0–FF
];

/// Fewest TCVN3-looking words for a text to be read as TCVN3.
pub const MIN_WORDS: usize = 3;

fn from_tcvn3(c: char) -> char {
    match c as u32 {
        n @ 0xA1..=0xFF => TCVN3[(n - 0xA1) as usize],
        _ => c,
    }
}

fn is_tcvn3_code(c: char) -> bool {
    matches!(c as u32, 0xA1..=0xFF)
}

/// A TCVN3 code that is not a letter of Unicode Vietnamese text.
fn is_telltale(c: char) -> bool {
    // A pattern, not a search of a string: this runs on every character of every text indexed.
    is_tcvn3_code(c)
        && !matches!(
            c,
            'À'..='Ã' | 'È'..='Ê' | 'Ì' | 'Í' | 'Ò'..='Õ' | 'Ù' | 'Ú' | 'Ý'
                | 'à'..='ã' | 'è'..='ê' | 'ì' | 'í' | 'ò'..='õ' | 'ù' | 'ú' | 'ý'
        )
}

/// The text read as TCVN3, when it looks like TCVN3 (see the module notes); None otherwise.
pub fn tcvn3_reading(text: &str) -> Option<String> {
    let read = |word: &str| word.chars().map(from_tcvn3).collect::<String>();
    // In TCVN3 text the codes are letters, whatever Latin-1 calls them (¸ · × ÷ ¬ §).
    looks_encoded(text, is_tcvn3_code, is_telltale, read).then(|| read(text))
}

/// Whether `text` looks written in a legacy encoding: words are runs of alphanumerics and of
/// `in_word` codes; at least [`MIN_WORDS`] of them hold a `telltale`, those are at least a
/// fifth of the words with letters, and at least four in five of them `read` as one
/// Vietnamese syllable each.
pub(crate) fn looks_encoded(
    text: &str,
    in_word: fn(char) -> bool,
    telltale: fn(char) -> bool,
    read: impl Fn(&str) -> String,
) -> bool {
    if !text.chars().any(telltale) {
        return false;
    }
    let (mut lettered, mut coded, mut syllables) = (0usize, 0usize, 0usize);
    let words = text.split(|c: char| !(c.is_alphanumeric() || in_word(c)));
    for word in words.filter(|w| !w.is_empty()).take(5_000) {
        if !word.chars().any(char::is_alphabetic) && !word.chars().any(in_word) {
            continue;
        }
        lettered += 1;
        if word.chars().any(telltale) {
            coded += 1;
            if is_syllable(&read(word)) {
                syllables += 1;
            }
        }
    }
    coded >= MIN_WORDS && coded * 5 >= lettered && syllables * 5 >= coded * 4
}

const INITIALS: &[&str] = &[
    "ngh", "gh", "gi", "kh", "ng", "nh", "ph", "qu", "th", "tr", "ch", "b", "c", "d", "đ", "g",
    "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "x", "",
];
const FINALS: &[&str] = &["ng", "nh", "ch", "c", "m", "n", "p", "t", ""];

/// One Vietnamese syllable: an initial consonant (or none), a vowel group of the language
/// ([`NUCLEI`]), a final consonant (or none), at most one tone mark. Digits and case are allowed
/// around it ("15/QĐ" splits into "15" and "QĐ").
pub(crate) fn is_syllable(word: &str) -> bool {
    use unicode_normalization::UnicodeNormalization;
    let lower: String = word.to_lowercase();
    let letters: String = lower.chars().filter(|c| !c.is_ascii_digit()).collect();
    if letters.is_empty() {
        return false;
    }
    // Tones are the combining marks U+0300, U+0301, U+0303, U+0309, U+0323 of the NFD form.
    let tones = letters
        .nfd()
        .filter(|c| {
            matches!(
                *c,
                '\u{300}' | '\u{301}' | '\u{303}' | '\u{309}' | '\u{323}'
            )
        })
        .count();
    if tones > 1 {
        return false;
    }
    let base: String = letters
        .nfd()
        .filter(|c| {
            !matches!(
                *c,
                '\u{300}' | '\u{301}' | '\u{303}' | '\u{309}' | '\u{323}'
            )
        })
        .collect::<String>()
        .nfc()
        .collect();
    let vowel = |c: char| "aăâeêioôơuưy".contains(c);
    INITIALS.iter().any(|initial| {
        base.strip_prefix(initial).is_some_and(|rest| {
            let nucleus: String = rest.chars().take_while(|c| vowel(*c)).collect();
            let tail = &rest[nucleus.len()..];
            NUCLEI.contains(&nucleus.as_str()) && FINALS.contains(&tail)
        })
    })
}

/// The vowel groups of Vietnamese syllables, without tone (after "qu" and "gi" the u and i
/// belong to the initial). "oo" (xoong, boong) is left out: loanwords only, and it would let
/// other encodings' noise ("oọ") pass for a syllable.
const NUCLEI: &[&str] = &[
    "a", "ă", "â", "e", "ê", "i", "o", "ô", "ơ", "u", "ư", "y", "ai", "ao", "au", "ay", "âu", "ây",
    "eo", "êu", "ia", "iê", "iu", "oa", "oă", "oe", "oi", "ôi", "ơi", "ua", "uâ", "uê", "ui", "uô",
    "uơ", "uy", "ưa", "ưi", "ưu", "ươ", "yê", "iêu", "oai", "oao", "oay", "oeo", "uây", "uôi",
    "uya", "uyê", "uyu", "ươi", "ươu", "yêu",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_headings_typed_in_tcvn3_are_read_back() {
        // The Latin-1 reading of these lines encoded with iconv's TCVN5712-1 (glibc).
        let cases = [
            (
                "Céng hßa x· héi chñ nghÜa ViÖt Nam",
                "Cộng hòa xã hội chủ nghĩa Việt Nam",
            ),
            ("§éc lËp - Tù do - H¹nh phóc", "Độc lập - Tự do - Hạnh phúc"),
            (
                "QuyÕt ®Þnh sè 15/Q§-UBND vÒ viÖc phª duyÖt kÕ ho¹ch",
                "Quyết định số 15/QĐ-UBND về việc phê duyệt kế hoạch",
            ),
            (
                "Së Th«ng tin vµ TruyÒn th«ng tØnh Kon Tum",
                "Sở Thông tin và Truyền thông tỉnh Kon Tum",
            ),
        ];
        for (tcvn3, unicode) in cases {
            assert_eq!(tcvn3_reading(tcvn3).as_deref(), Some(unicode), "{tcvn3}");
        }
    }

    #[test]
    fn unicode_ascii_and_western_latin1_are_left_alone() {
        for text in [
            "Cộng hòa xã hội chủ nghĩa Việt Nam",
            // Unicode Vietnamese writes à á â ã è é ê ì í ò ó ô õ ù ú ý in the same range.
            "Thông báo về việc tổ chức hội nghị giao ban, đề nghị các phòng ban báo cáo, \
             gửi văn thư trước ngày 15; ý kiến đóng góp gửi về Văn phòng, chú ý thời hạn",
            "Plain ASCII text about the meeting",
            "L'été à côté du château, très élégant, déjà préféré",
            "Schöne Grüße aus München, für über fünf Jahre",
            "Prix: 15 € — 20 ° — © 2026",
            // Two TCVN3-looking words are not enough.
            "ViÖt Nam hello world again",
        ] {
            assert_eq!(tcvn3_reading(text), None, "{text}");
        }
    }

    #[test]
    fn syllables_follow_vietnamese_structure() {
        for ok in ["nghiêng", "Việt", "quyết", "đ", "khuya", "hòa", "15"] {
            assert_eq!(is_syllable(ok), ok != "15" && ok != "đ", "{ok}");
        }
        // The last three: VNI text read as TCVN3 ("Coäng hoøa … Vieät").
        for bad in [
            "ộtộ", "fứr", "schừn", "strength", "aaaa", "coọng", "hoứa", "vieọt",
        ] {
            assert!(!is_syllable(bad), "{bad}");
        }
    }
}
