//! Addresses from Vietnamese names (KT-4, BD-5). Pure functions.
//!
//! - Kon Tum rule (KT-4): initials of the family and middle names, the given name in full, a dot,
//!   the unit abbreviation, without diacritics: `Nguyễn Văn An`, STTTT → `nvan.stttt`.
//! - Bình Dương rule (BD-5): the administrator chooses the user name.
//! - A template for other provinces: `{initials}{given}.{unit}` and friends.
//!
//! Folding handles every Vietnamese letter with every tone mark, upper and lower case, in NFC
//! and NFD input alike, and collapses extra spaces.

use unicode_normalization::UnicodeNormalization;

/// Local parts never generated for a person (RFC 2142 role names and common system names).
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
    "noreply",
    "no-reply",
    "www",
    "ftp",
    "uucp",
    "usenet",
    "news",
    "marketing",
    "sales",
];

/// A domain's naming rule, as stored in `domains.naming_rule`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamingRule {
    /// KT-4.
    KonTum,
    /// BD-5: the administrator gives the address.
    Free,
    /// `template:{initials}{given}.{unit}` — tokens: `{given}`, `{family}`, `{middle}`
    /// (middle names in full, joined), `{initials}` (of family and middle names), `{unit}`,
    /// `{full}` (every word, joined).
    Template(String),
}

impl NamingRule {
    pub fn parse(text: &str) -> Result<NamingRule, String> {
        match text {
            "kontum" => Ok(NamingRule::KonTum),
            "free" => Ok(NamingRule::Free),
            t if t.starts_with("template:") => {
                let template = &t["template:".len()..];
                if !template.contains("{given}") && !template.contains("{full}") {
                    return Err(format!("{t:?}: a template needs {{given}} or {{full}}"));
                }
                Ok(NamingRule::Template(template.to_string()))
            }
            other => Err(format!("{other:?}: use kontum, free or template:PATTERN")),
        }
    }

    /// The local part stem for a person (before collision numbering), or None for free naming.
    pub fn person_local(&self, full_name: &str, unit_abbrev: &str) -> Option<String> {
        let words = name_words(full_name);
        let (given, rest) = words.split_last()?;
        let unit = fold(unit_abbrev).replace(' ', "");
        let initials: String = rest.iter().filter_map(|w| w.chars().next()).collect();
        match self {
            NamingRule::Free => None,
            NamingRule::KonTum => Some(if unit.is_empty() {
                format!("{initials}{given}")
            } else {
                format!("{initials}{given}.{unit}")
            }),
            NamingRule::Template(template) => {
                let family = rest.first().cloned().unwrap_or_default();
                let middle = rest.iter().skip(1).cloned().collect::<Vec<_>>().join("");
                let full = words.join("");
                let local = template
                    .replace("{given}", given)
                    .replace("{family}", &family)
                    .replace("{middle}", &middle)
                    .replace("{initials}", &initials)
                    .replace("{unit}", &unit)
                    .replace("{full}", &full);
                Some(local.trim_matches('.').to_string())
            }
        }
    }
}

/// Folds Vietnamese text to lower-case ASCII: strips every tone and vowel mark, đ/Đ → d, for NFC
/// and NFD input alike. Other characters without an ASCII base are dropped.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.nfd() {
        match c {
            'đ' | 'Đ' => out.push('d'),
            c if c.is_ascii_alphanumeric() => out.push(c.to_ascii_lowercase()),
            c if c.is_whitespace() || c == '-' => out.push(' '),
            _ => {} // combining marks and punctuation
        }
    }
    out
}

/// The one form of a login name, used both for the account lookup and as the AUTH throttle key,
/// so that what is throttled is always what is looked up: Unicode NFC, surrounding whitespace
/// removed, lower case, trailing dots removed (`user@dom.` names the same domain as `user@dom`).
///
/// The result is a fixed point of itself and of `storage::normalize_address` (trim, trailing
/// dots, lower case), so passing it to `Store::check_login` looks up exactly this string.
pub fn canonical_login(login: &str) -> String {
    let nfc: String = login.nfc().collect();
    // Lower-casing may leave a string that is no longer NFC (İ → i + U+0307); normalise again.
    let lower: String = nfc.trim().to_lowercase().nfc().collect();
    lower
        .trim_end_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_start()
        .to_string()
}

/// A login of the form `UNIT_ADDRESS*PERSON_ADDRESS` (the master-user convention Dovecot uses):
/// a delegate logs in to a unit mailbox with their own password. Returns (unit, person),
/// each in the one form of [`canonical_login`]; None for a plain login. Exactly one `*`, with
/// an address (`@`) on each side: anything else is a plain login that will not be found.
pub fn unit_login(login: &str) -> Option<(String, String)> {
    let login = canonical_login(login);
    let (unit, person) = login.split_once('*')?;
    let (unit, person) = (canonical_login(unit), canonical_login(person));
    let address = |a: &str| a.contains('@') && !a.contains('*');
    (address(&unit) && address(&person)).then_some((unit, person))
}

/// The folded words of a name, extra spaces removed.
pub fn name_words(full_name: &str) -> Vec<String> {
    fold(full_name)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Candidates for a stem: `nvan.stttt`, `nvan2.stttt`, `nvan3.stttt`, … (the number goes
/// before the unit part). Reserved names are skipped.
pub fn candidates(stem: &str) -> impl Iterator<Item = String> + '_ {
    let (person, unit) = match stem.split_once('.') {
        Some((p, u)) => (p.to_string(), format!(".{u}")),
        None => (stem.to_string(), String::new()),
    };
    (1..)
        .map(move |n| {
            if n == 1 {
                format!("{person}{unit}")
            } else {
                format!("{person}{n}{unit}")
            }
        })
        .filter(|local| !is_reserved(local))
}

/// True when a generated local part must not be used.
pub fn is_reserved(local: &str) -> bool {
    let person = local.split('.').next().unwrap_or(local);
    person.is_empty() || RESERVED.contains(&person) || RESERVED.contains(&local)
}

#[cfg(test)]
mod tests {
    #[test]
    fn unit_logins() {
        let split = |l: &str| super::unit_login(l);
        assert_eq!(
            split("STTTT@kontum.gov.vn*NVAn.stttt@Kontum.gov.vn"),
            Some((
                "stttt@kontum.gov.vn".to_string(),
                "nvan.stttt@kontum.gov.vn".to_string()
            ))
        );
        assert_eq!(
            split(" stttt@kontum.gov.vn * nvan.stttt@kontum.gov.vn "),
            Some((
                "stttt@kontum.gov.vn".to_string(),
                "nvan.stttt@kontum.gov.vn".to_string()
            ))
        );
        // Plain logins, and anything that is not two addresses around one star.
        assert_eq!(split("nvan.stttt@kontum.gov.vn"), None);
        assert_eq!(split("stttt@kontum.gov.vn*"), None);
        assert_eq!(split("*nvan.stttt@kontum.gov.vn"), None);
        assert_eq!(split("a@b*c@d*e@f"), None);
        assert_eq!(split("stttt*nvan.stttt@kontum.gov.vn"), None);
    }

    use super::*;

    #[test]
    fn folds_every_vowel_family_with_every_tone() {
        let families = [
            ("aàáảãạ", "aaaaaa"),
            ("ăằắẳẵặ", "aaaaaa"),
            ("âầấẩẫậ", "aaaaaa"),
            ("eèéẻẽẹ", "eeeeee"),
            ("êềếểễệ", "eeeeee"),
            ("iìíỉĩị", "iiiiii"),
            ("oòóỏõọ", "oooooo"),
            ("ôồốổỗộ", "oooooo"),
            ("ơờớởỡợ", "oooooo"),
            ("uùúủũụ", "uuuuuu"),
            ("ưừứửữự", "uuuuuu"),
            ("yỳýỷỹỵ", "yyyyyy"),
            ("đĐ", "dd"),
        ];
        for (letters, expected) in families {
            assert_eq!(fold(letters), expected, "{letters}");
            assert_eq!(fold(&letters.to_uppercase()), expected, "{letters} upper");
            let nfd: String = letters.nfd().collect();
            assert_eq!(fold(&nfd), expected, "{letters} NFD");
        }
    }

    /// 40+ real names → Kon Tum addresses (KT-4), worked out by hand.
    #[test]
    fn kontum_table() {
        let table = [
            ("Nguyễn Văn An", "STTTT", "nvan.stttt"),
            ("Nguyễn Thị Ánh Tuyết", "STTTT", "ntatuyet.stttt"),
            ("Trần Thị Bình", "SNV", "ttbinh.snv"),
            ("Lê Văn Hùng", "UBND", "lvhung.ubnd"),
            ("Phạm Minh Chính", "VPUB", "pmchinh.vpub"),
            ("Hoàng Thị Thu Hà", "STC", "httha.stc"),
            ("Huỳnh Đức Đạt", "SGTVT", "hddat.sgtvt"),
            ("Đặng Thị Hồng Nhung", "SYT", "dthnhung.syt"),
            ("Bùi Quang Vinh", "SKHDT", "bqvinh.skhdt"),
            ("Đỗ Văn Sơn", "STNMT", "dvson.stnmt"),
            ("Hồ Thị Kim Liên", "SGDDT", "htklien.sgddt"),
            ("Ngô Bảo Châu", "SKHCN", "nbchau.skhcn"),
            ("Dương Văn Đức", "SNN", "dvduc.snn"),
            ("Lý Thị Mỹ", "SCT", "ltmy.sct"),
            ("Võ Nguyên Giáp", "BCH", "vngiap.bch"),
            ("Vũ Thị Ngọc Ánh", "STP", "vtnanh.stp"),
            ("Đinh Tiên Hoàng", "SVHTT", "dthoang.svhtt"),
            ("Trịnh Công Sơn", "SXD", "tcson.sxd"),
            ("Phan Bội Châu", "TTra", "pbchau.ttra"),
            ("Lương Thế Vinh", "SLDTBXH", "ltvinh.sldtbxh"),
            ("Mai Hắc Đế", "BDT", "mhde.bdt"),
            ("Tô Hoài", "SNgV", "thoai.sngv"),
            ("Lại Văn Sâm", "HKT", "lvsam.hkt"),
            ("Kiều Thị Thúy", "HDH", "ktthuy.hdh"),
            ("Quách Tuấn Du", "HSH", "qtdu.hsh"),
            ("Tạ Quang Bửu", "HNH", "tqbuu.hnh"),
            ("Chu Văn An", "HKP", "cvan.hkp"),
            ("Châu Thị Xuân", "HTMR", "ctxuan.htmr"),
            ("Thái Thị Ửng", "HIAH", "ttung.hiah"),
            ("Y Ngông Niê Kdăm", "HDG", "ynnkdam.hdg"),
            ("A Thuỷ", "HNHOI", "athuy.hnhoi"),
            ("Nguyễn Hữu Ước", "SNV", "nhuoc.snv"),
            ("Trần Ngọc Ẩn", "SNV", "tnan.snv"),
            ("Lê Thị Ỷ Lan", "SNV", "ltylan.snv"),
            ("Nguyễn Thị Ỵ", "SNV", "nty.snv"),
            ("Phạm Thị Ờ", "SNV", "pto.snv"),
            ("Vương Đình Huệ", "TU", "vdhue.tu"),
            ("Hà Văn Ước Mơ", "SNV", "hvumo.snv"),
            ("  Nguyễn   Văn   An  ", "STTTT", "nvan.stttt"),
            ("NGUYỄN VĂN AN", "STTTT", "nvan.stttt"),
            ("Công Tôn Nữ Thị Tịnh", "SNV", "ctnttinh.snv"),
            ("Trương Vĩnh Ký", "SNV", "tvky.snv"),
        ];
        assert!(table.len() >= 40);
        for (name, unit, expected) in table {
            assert_eq!(
                NamingRule::KonTum.person_local(name, unit).unwrap(),
                expected,
                "{name}"
            );
            let nfd: String = name.nfd().collect();
            assert_eq!(
                NamingRule::KonTum.person_local(&nfd, unit).unwrap(),
                expected,
                "{name} (NFD)"
            );
        }
    }

    #[test]
    fn collisions_and_reserved_names() {
        let mut c = candidates("nvan.stttt");
        assert_eq!(c.next().unwrap(), "nvan.stttt");
        assert_eq!(c.next().unwrap(), "nvan2.stttt");
        // "Ad Min" would give "admin": never generated, the numbered form is used instead.
        let stem = NamingRule::Template("{initials}{given}".into())
            .person_local("Ad Min", "X")
            .unwrap();
        assert_eq!(stem, "amin");
        assert!(is_reserved("admin") && is_reserved("postmaster.stttt"));
        assert_eq!(candidates("postmaster").next().unwrap(), "postmaster2");
    }

    #[test]
    fn rules_parse_and_templates() {
        assert_eq!(NamingRule::parse("kontum"), Ok(NamingRule::KonTum));
        assert_eq!(NamingRule::parse("free"), Ok(NamingRule::Free));
        assert!(NamingRule::parse("template:{unit}").is_err());
        let rule = NamingRule::parse("template:{given}.{family}").unwrap();
        assert_eq!(
            rule.person_local("Nguyễn Văn An", "STTTT").unwrap(),
            "an.nguyen"
        );
        assert_eq!(
            NamingRule::Free.person_local("Nguyễn Văn An", "STTTT"),
            None
        );
    }

    #[test]
    fn canonical_login_table() {
        let nfd: String = "nguyễn@kontum.gov.vn".nfd().collect();
        assert_ne!(nfd, "nguyễn@kontum.gov.vn");
        for (input, expected) in [
            ("a@dom", "a@dom"),
            (" a@dom", "a@dom"),
            ("a@dom \t", "a@dom"),
            ("A@DOM", "a@dom"),
            ("a@dom.", "a@dom"),
            (" A@Dom. ", "a@dom"),
            ("a@dom..", "a@dom"),
            ("a@dom . ", "a@dom"),
            ("\u{a0}a@dom\u{3000}", "a@dom"),
            ("NGUYỄN@KONTUM.GOV.VN", "nguyễn@kontum.gov.vn"),
            (nfd.as_str(), "nguyễn@kontum.gov.vn"),
            ("İ@x", "i\u{307}@x"),
            ("", ""),
            ("  ", ""),
        ] {
            let got = canonical_login(input);
            assert_eq!(got, expected, "{input:?}");
            assert_eq!(canonical_login(&got), got, "fixed point for {input:?}");
            // What storage's normalize_address does must leave it unchanged.
            assert_eq!(got.trim().trim_end_matches('.').to_lowercase(), got);
            assert!(got.nfc().eq(got.chars()), "NFC for {input:?}");
        }
    }
}
