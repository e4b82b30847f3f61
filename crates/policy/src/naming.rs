//! Addresses from Vietnamese names (KT-4, BD-5).
//!
//! Kon Tum rule: initials of the family and middle names, the given name in full, a dot, the unit
//! abbreviation, all without diacritics: `Nguyễn Văn An`, STTTT → `nvan.stttt`.

use unicode_normalization::UnicodeNormalization;

/// Local parts that are never generated for a person (RFC 2142 and common role names).
pub const RESERVED: &[&str] = &[
    "postmaster",
    "abuse",
    "admin",
    "administrator",
    "hostmaster",
    "webmaster",
    "root",
    "security",
    "noc",
    "mailer-daemon",
    "nobody",
    "support",
    "info",
];

/// Folds Vietnamese text to lower-case ASCII: strips every tone and vowel mark, đ/Đ → d, for NFC
/// and NFD input alike. Characters with no ASCII base are dropped.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.nfd() {
        match c {
            'đ' | 'Đ' => out.push('d'),
            c if c.is_ascii_alphanumeric() => out.push(c.to_ascii_lowercase()),
            c if c.is_whitespace() => out.push(' '),
            _ => {} // combining marks and punctuation
        }
    }
    out
}

/// The Kon Tum local part before the unit: `Nguyễn Văn An` → `nvan`.
pub fn kontum_person_stem(full_name: &str) -> Option<String> {
    let folded = fold(full_name);
    let words: Vec<&str> = folded.split_whitespace().collect();
    let (given, rest) = words.split_last()?;
    let mut stem: String = rest.iter().filter_map(|w| w.chars().next()).collect();
    stem.push_str(given);
    Some(stem)
}

/// The Kon Tum address candidates, in order: `nvan.stttt`, `nvan2.stttt`, `nvan3.stttt`, …
pub fn kontum_candidates(full_name: &str, unit_abbrev: &str) -> impl Iterator<Item = String> {
    let stem = kontum_person_stem(full_name).unwrap_or_default();
    let unit = fold(unit_abbrev).replace(' ', "");
    (1..).map(move |n| {
        if n == 1 {
            format!("{stem}.{unit}")
        } else {
            format!("{stem}{n}.{unit}")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_every_vowel_family() {
        assert_eq!(fold("ăâêôơưđ ĂÂÊÔƠƯĐ"), "aaeooud aaeooud");
        assert_eq!(fold("Nguyễn Thị Ánh Tuyết"), "nguyen thi anh tuyet");
        // NFD input.
        let nfd: String = "Lê Thị Hồng Nhung".nfd().collect();
        assert_eq!(fold(&nfd), "le thi hong nhung");
    }

    #[test]
    fn kontum_rule() {
        assert_eq!(
            kontum_candidates("Nguyễn Văn An", "STTTT").next().unwrap(),
            "nvan.stttt"
        );
        assert_eq!(
            kontum_candidates("  Trần   Thị  Thu Hà ", "SNV")
                .nth(1)
                .unwrap(),
            "ttthuha2.snv".replace("thuha2", "tha2")
        );
    }
}
