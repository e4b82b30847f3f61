//! Vietnamese typed in VNI (the 8-bit encoding of the "VNI-Times" fonts), pure. VNI writes a
//! marked vowel as its base letter followed by a mark code: "Coäng hoøa xaõ hoäi chuû nghóa
//! Vieät Nam" is "Cộng hòa xã hội chủ nghĩa Việt Nam". A few letters have a code of their own
//! (ơ ư đ, and i and y with some tones).
//!
//! The codes, as U+00C0–U+00FF after a Latin-1 reading (capitals are the same with the upper
//! case code):
//! - after a, e, o, u, y, ơ, ư — a tone: ù sắc, ø huyền, û hỏi, õ ngã, ï nặng;
//! - after a, e, o — the circumflex, alone (â) or with a tone: á sắc, à huyền, å hỏi, ã ngã,
//!   ä nặng;
//! - after a — the breve, alone (ê) or with a tone: é sắc, è huyền, ú hỏi, ü ngã, ë nặng;
//! - letters of their own: ô ơ, ö ư, ñ đ, í í, ì ì, æ ỉ, ó ĩ, ò ị, î ỵ.
//!
//! Detection is TCVN3's ([`super::looks_encoded`]), with the codes Unicode Vietnamese never
//! writes (ø ï û ö ñ ä å ë ü æ î and capitals) as telltales.

use unicode_normalization::UnicodeNormalization;

const ACUTE: char = '\u{301}';
const GRAVE: char = '\u{300}';
const HOOK: char = '\u{309}';
const TILDE: char = '\u{303}';
const DOT: char = '\u{323}';
const CIRCUMFLEX: char = '\u{302}';
const BREVE: char = '\u{306}';

/// What a mark code adds to the vowel before it, and after which vowels it may stand.
#[derive(Clone, Copy)]
enum Mark {
    /// A tone, after a, e, o, u, y, ơ, ư.
    Tone(char),
    /// The circumflex and a tone (or none), after a, e, o.
    Circumflex(Option<char>),
    /// The breve and a tone (or none), after a.
    Breve(Option<char>),
}

fn mark_of(code: char) -> Option<Mark> {
    use Mark::*;
    Some(match code.to_lowercase().next()? {
        'ù' => Tone(ACUTE),
        'ø' => Tone(GRAVE),
        'û' => Tone(HOOK),
        'õ' => Tone(TILDE),
        'ï' => Tone(DOT),
        'â' => Circumflex(None),
        'á' => Circumflex(Some(ACUTE)),
        'à' => Circumflex(Some(GRAVE)),
        'å' => Circumflex(Some(HOOK)),
        'ã' => Circumflex(Some(TILDE)),
        'ä' => Circumflex(Some(DOT)),
        'ê' => Breve(None),
        'é' => Breve(Some(ACUTE)),
        'è' => Breve(Some(GRAVE)),
        'ú' => Breve(Some(HOOK)),
        'ü' => Breve(Some(TILDE)),
        'ë' => Breve(Some(DOT)),
        _ => return None,
    })
}

/// A letter with a code of its own.
fn letter_of(code: char) -> Option<char> {
    let lower = match code.to_lowercase().next()? {
        'ô' => 'ơ',
        'ö' => 'ư',
        'ñ' => 'đ',
        'æ' => 'ỉ',
        'ó' => 'ĩ',
        'ò' => 'ị',
        'î' => 'ỵ',
        _ => return None,
    };
    Some(if code.is_uppercase() {
        lower.to_uppercase().next().unwrap_or(lower)
    } else {
        lower
    })
}

pub(super) fn is_telltale(c: char) -> bool {
    // A pattern, not a search of a string: this runs on every character of every text indexed.
    matches!(
        c,
        'ø' | 'ï'
            | 'û'
            | 'ö'
            | 'ñ'
            | 'ä'
            | 'å'
            | 'ë'
            | 'ü'
            | 'æ'
            | 'î'
            | 'Ø'
            | 'Ï'
            | 'Û'
            | 'Ö'
            | 'Ñ'
            | 'Ä'
            | 'Å'
            | 'Ë'
            | 'Ü'
            | 'Æ'
            | 'Î'
    )
}

/// In VNI text every code of U+00C0–U+00FF is (part of) a letter.
fn is_vni_code(c: char) -> bool {
    matches!(c as u32, 0xC0..=0xFF) && c != '×' && c != '÷'
}

/// `text` read as VNI, whether or not it is VNI.
fn read(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    // The vowel a mark code may follow: the last character, unmarked yet, as a lower case
    // base letter (ơ and ư by their own codes).
    let mut open: Option<char> = None;
    for c in text.chars() {
        let mark = open.and_then(|base| {
            let mark = mark_of(c)?;
            let fits = match mark {
                Mark::Tone(_) => "aeouyơư".contains(base),
                Mark::Circumflex(_) => "aeo".contains(base),
                Mark::Breve(_) => base == 'a',
            };
            fits.then_some(mark)
        });
        match mark {
            Some(Mark::Tone(tone)) => out.push(tone),
            Some(Mark::Circumflex(tone)) => out.extend(std::iter::once(CIRCUMFLEX).chain(tone)),
            Some(Mark::Breve(tone)) => out.extend(std::iter::once(BREVE).chain(tone)),
            None => {}
        }
        if mark.is_some() {
            open = None;
            continue;
        }
        let letter = letter_of(c).unwrap_or(c);
        out.push(letter);
        let lower = letter.to_lowercase().next().unwrap_or(letter);
        open = "aeouyơư".contains(lower).then_some(lower);
    }
    out.nfc().collect()
}

/// The text read as VNI, when it looks like VNI (see the module notes); None otherwise.
pub fn vni_reading(text: &str) -> Option<String> {
    super::looks_encoded(text, is_vni_code, is_telltale, read).then(|| read(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_headings_typed_in_vni_are_read_back() {
        // Written code by code from the VNI table (module notes): each marked letter is its
        // base letter and a mark code, ơ ư đ ỉ ĩ ị ỵ a code of their own.
        let cases = [
            (
                "Coäng hoøa xaõ hoäi chuû nghóa Vieät Nam",
                "Cộng hòa xã hội chủ nghĩa Việt Nam",
            ),
            (
                "Ñoäc laäp - Töï do - Haïnh phuùc",
                "Độc lập - Tự do - Hạnh phúc",
            ),
            (
                "Quyeát ñònh soá 15/QÑ-UBND veà vieäc pheâ duyeät keá hoaïch",
                "Quyết định số 15/QĐ-UBND về việc phê duyệt kế hoạch",
            ),
            (
                "Sôû Thoâng tin vaø Truyeàn thoâng tænh Kon Tum",
                "Sở Thông tin và Truyền thông tỉnh Kon Tum",
            ),
            (
                "COÄNG HOØA XAÕ HOÄI CHUÛ NGHÓA VIEÄT NAM",
                "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
            ),
            (
                "Naêm nay tænh Ñaék Laék taëng thöôûng cho ngöôøi lao ñoäng, khoâng ai bò quî",
                "Năm nay tỉnh Đắk Lắk tặng thưởng cho người lao động, không ai bị quỵ",
            ),
        ];
        for (vni, unicode) in cases {
            assert_eq!(vni_reading(vni).as_deref(), Some(unicode), "{vni}");
            assert_eq!(super::super::legacy_reading(vni).as_deref(), Some(unicode));
        }
    }

    #[test]
    fn unicode_tcvn3_and_western_latin1_are_not_read_as_vni() {
        for text in [
            "Cộng hòa xã hội chủ nghĩa Việt Nam",
            "Thông báo về việc tổ chức hội nghị giao ban, đề nghị các phòng ban báo cáo",
            // Old tone placement in Unicode: a vowel followed by a marked vowel.
            "Hoá đơn khoá học, thuý hoà, cuối năm, hoạ sĩ",
            "Schöne Grüße aus München, für über fünf Jahre",
            "Øl og smørbrød på Østerbro, gærdet, søster",
            "L'été à côté du château, très élégant, déjà préféré",
            // Two VNI-looking words are not enough.
            "Vieät Nam hello world again",
        ] {
            assert_eq!(vni_reading(text), None, "{text}");
        }
        // TCVN3 text is read as TCVN3, not VNI.
        assert_eq!(
            super::super::legacy_reading("Céng hßa x· héi chñ nghÜa ViÖt Nam").as_deref(),
            Some("Cộng hòa xã hội chủ nghĩa Việt Nam")
        );
    }

    #[test]
    fn a_mark_code_after_a_letter_it_cannot_mark_is_left_as_it_is() {
        // The breve only after a; a tone never after a consonant or another mark.
        assert_eq!(read("oë"), "oë");
        assert_eq!(read("nù"), "nù");
        assert_eq!(read("aùù"), "áù");
    }
}
