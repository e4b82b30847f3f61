//! The directory as LDAP entries, built once from a storage `AddressBook` and searched in
//! memory. Names (cn, sn, givenName, displayName, ou, title, description, o) are kept folded
//! (`policy::naming::fold`) next to their values, so "tuyet" finds Tuyết without work per search.

use std::collections::HashMap;

use storage::AddressBook;

/// How an attribute's values compare (RFC 4517 matching rules, with Vietnamese folding for
/// names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matching {
    /// Names: case, diacritics and đ folded (a superset of caseIgnoreMatch).
    Folded,
    /// RFC 4517 4.2.15 caseIgnoreIA5Match (mail, uid) and OIDs/DNs, lower-cased.
    CaseIgnore,
    /// RFC 4517 4.2.29 telephoneNumberMatch: spaces and hyphens ignored.
    Telephone,
}

/// The attribute types entries carry: (canonical name, matching, other names), RFC 4519 and
/// RFC 4524 and RFC 2798.
pub const ATTRIBUTES: &[(&str, Matching, &[&str])] = &[
    ("objectClass", Matching::CaseIgnore, &[]),
    ("cn", Matching::Folded, &["commonName"]),
    ("sn", Matching::Folded, &["surname"]),
    ("givenName", Matching::Folded, &["gn"]),
    ("displayName", Matching::Folded, &[]),
    ("mail", Matching::CaseIgnore, &["rfc822Mailbox"]),
    ("uid", Matching::CaseIgnore, &["userid"]),
    ("title", Matching::Folded, &[]),
    ("ou", Matching::Folded, &["organizationalUnitName"]),
    ("o", Matching::Folded, &["organizationName"]),
    ("dc", Matching::CaseIgnore, &["domainComponent"]),
    ("description", Matching::Folded, &[]),
    ("telephoneNumber", Matching::Telephone, &[]),
    ("member", Matching::CaseIgnore, &[]),
];

/// The canonical name and matching of an attribute type the client named, if we have it.
pub fn attribute(name: &str) -> Option<(&'static str, Matching)> {
    ATTRIBUTES.iter().find_map(|(canonical, matching, others)| {
        (canonical.eq_ignore_ascii_case(name)
            || others.iter().any(|o| o.eq_ignore_ascii_case(name)))
        .then_some((*canonical, *matching))
    })
}

/// A value in the form its matching rule compares.
pub fn normalize(matching: Matching, value: &str) -> String {
    match matching {
        Matching::Folded => policy::naming::fold(value)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        Matching::CaseIgnore => value.trim().to_lowercase(),
        Matching::Telephone => value
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .flat_map(char::to_lowercase)
            .collect(),
    }
}

#[derive(Debug, Clone)]
pub struct Attr {
    pub name: &'static str,
    pub matching: Matching,
    pub values: Vec<String>,
    /// `values` normalised for matching, same order.
    pub normalized: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub dn: String,
    /// The DN in normalised form (lower case, no spaces around `,` and `=`), for scope.
    pub norm_dn: String,
    /// The parent's normalised DN ("" for the base entry).
    pub norm_parent: String,
    pub attrs: Vec<Attr>,
}

impl Entry {
    fn new(dn: String, parent: &str, attrs: Vec<(&'static str, Vec<String>)>) -> Entry {
        let attrs = attrs
            .into_iter()
            .filter(|(_, values)| values.iter().any(|v| !v.is_empty()))
            .map(|(name, values)| {
                let values: Vec<String> = values.into_iter().filter(|v| !v.is_empty()).collect();
                let (_, matching) = attribute(name).unwrap_or((name, Matching::CaseIgnore));
                let normalized = values.iter().map(|v| normalize(matching, v)).collect();
                Attr {
                    name,
                    matching,
                    values,
                    normalized,
                }
            })
            .collect();
        Entry {
            norm_dn: normalize_dn(&dn),
            norm_parent: normalize_dn(parent),
            dn,
            attrs,
        }
    }

    pub fn attr(&self, canonical: &str) -> Option<&Attr> {
        self.attrs.iter().find(|a| a.name == canonical)
    }
}

/// The whole directory, entries in DN order of building (base, units, persons, groups).
#[derive(Debug, Clone)]
pub struct Directory {
    pub base_dn: String,
    pub norm_base: String,
    pub entries: Vec<Entry>,
}

/// `kontum.gov.vn` → `dc=kontum,dc=gov,dc=vn`.
pub fn base_dn(domain: &str) -> String {
    domain
        .trim_end_matches('.')
        .split('.')
        .map(|part| format!("dc={}", escape_value(&part.to_lowercase())))
        .collect::<Vec<_>>()
        .join(",")
}

/// RFC 4514 2.4: escapes a value for use in a DN string.
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, '"' | '+' | ',' | ';' | '<' | '>' | '\\' | '=')
            || (i == 0 && (c == ' ' || c == '#'))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A DN compared as a string: lower case, NFC, no spaces around `,` and `=` (RFC 4514 allows
/// none there; clients sometimes send them). Enough for the DNs this server itself hands out.
pub fn normalize_dn(dn: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let mut parts = Vec::new();
    for rdn in split_unescaped(dn, ',') {
        match rdn.split_once('=') {
            Some((t, v)) => parts.push(format!("{}={}", t.trim(), v.trim())),
            None => parts.push(rdn.trim().to_string()),
        }
    }
    parts.join(",").nfc().collect::<String>().to_lowercase()
}

fn split_unescaped(text: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            out.push(&text[start..i]);
            start = i + c.len_utf8();
        }
    }
    if !text.is_empty() {
        out.push(&text[start..]);
    }
    out
}

/// Vietnamese names are written family name first: "Nguyễn Thị Tuyết" has sn Nguyễn and
/// givenName Tuyết.
fn name_parts(full_name: &str) -> (String, String) {
    let words: Vec<&str> = full_name.split_whitespace().collect();
    match words.as_slice() {
        [] => (String::new(), String::new()),
        [one] => (one.to_string(), one.to_string()),
        [first, .., last] => (first.to_string(), last.to_string()),
    }
}

fn local_part(address: &str) -> String {
    address.split('@').next().unwrap_or(address).to_string()
}

impl Directory {
    pub fn build(domain: &str, book: &AddressBook) -> Directory {
        let base = base_dn(domain);
        let mut entries = Vec::with_capacity(book.persons.len() + book.units.len() + 1);
        let first_dc = domain.split('.').next().unwrap_or(domain).to_lowercase();
        entries.push(Entry::new(
            base.clone(),
            "",
            vec![
                (
                    "objectClass",
                    vec!["top".into(), "dcObject".into(), "organization".into()],
                ),
                ("dc", vec![first_dc]),
                ("o", vec![domain.to_string()]),
            ],
        ));
        // Units: `ou=ABBR` under the parent unit's entry (RFC 4519 2.20), bounded depth so a
        // damaged parent chain cannot loop.
        let by_abbrev: HashMap<&str, &storage::Unit> =
            book.units.iter().map(|u| (u.abbrev.as_str(), u)).collect();
        let mut unit_dn: HashMap<&str, String> = HashMap::new();
        for unit in &book.units {
            let mut chain = vec![unit.abbrev.as_str()];
            let mut at = unit;
            while let Some(parent) = at.parent.as_deref().and_then(|p| by_abbrev.get(p)) {
                if chain.len() >= 32 || chain.contains(&parent.abbrev.as_str()) {
                    break;
                }
                chain.push(parent.abbrev.as_str());
                at = parent;
            }
            let mut dn = base.clone();
            for abbrev in chain.iter().rev() {
                dn = format!("ou={},{dn}", escape_value(abbrev));
            }
            unit_dn.insert(unit.abbrev.as_str(), dn);
        }
        let mut dn_of_address: HashMap<&str, String> = HashMap::new();
        for unit in &book.units {
            let dn = unit_dn[unit.abbrev.as_str()].clone();
            let parent = unit
                .parent
                .as_deref()
                .and_then(|p| unit_dn.get(p))
                .cloned()
                .unwrap_or_else(|| base.clone());
            dn_of_address.insert(unit.address.as_str(), dn.clone());
            // The unit's entry is also its mailbox: its official address is `mail`.
            entries.push(Entry::new(
                dn,
                &parent,
                vec![
                    (
                        "objectClass",
                        vec![
                            "top".into(),
                            "organizationalUnit".into(),
                            "extensibleObject".into(),
                        ],
                    ),
                    ("ou", vec![unit.abbrev.clone()]),
                    ("cn", vec![unit.name.clone()]),
                    ("displayName", vec![unit.name.clone()]),
                    ("description", vec![unit.name.clone()]),
                    ("mail", vec![unit.address.clone()]),
                ],
            ));
        }
        for person in &book.persons {
            let parent = person
                .unit
                .as_deref()
                .and_then(|u| unit_dn.get(u))
                .cloned()
                .unwrap_or_else(|| base.clone());
            let dn = format!("mail={},{parent}", escape_value(&person.address));
            dn_of_address.insert(person.address.as_str(), dn.clone());
            let (sn, given) = name_parts(&person.full_name);
            entries.push(Entry::new(
                dn,
                &parent,
                vec![
                    (
                        "objectClass",
                        vec![
                            "top".into(),
                            "person".into(),
                            "organizationalPerson".into(),
                            "inetOrgPerson".into(),
                        ],
                    ),
                    ("cn", vec![person.full_name.clone()]),
                    ("sn", vec![sn]),
                    ("givenName", vec![given]),
                    ("displayName", vec![person.full_name.clone()]),
                    ("mail", vec![person.address.clone()]),
                    ("uid", vec![local_part(&person.address)]),
                    ("title", vec![person.position.clone()]),
                    ("ou", vec![person.unit.clone().unwrap_or_default()]),
                    ("telephoneNumber", vec![person.phone.clone()]),
                ],
            ));
        }
        for group in &book.groups {
            let dn = format!("mail={},{base}", escape_value(&group.address));
            let members = group
                .members
                .iter()
                .filter_map(|m| dn_of_address.get(m.as_str()).cloned())
                .collect();
            entries.push(Entry::new(
                dn,
                &base,
                vec![
                    (
                        "objectClass",
                        vec![
                            "top".into(),
                            "groupOfNames".into(),
                            "extensibleObject".into(),
                        ],
                    ),
                    ("cn", vec![group.name.clone()]),
                    ("displayName", vec![group.name.clone()]),
                    ("mail", vec![group.address.clone()]),
                    ("member", members),
                ],
            ));
        }
        Directory {
            norm_base: normalize_dn(&base),
            base_dn: base,
            entries,
        }
    }

    pub fn find(&self, norm_dn: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.norm_dn == norm_dn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_dn_from_domain() {
        assert_eq!(base_dn("kontum.gov.vn"), "dc=kontum,dc=gov,dc=vn");
    }

    #[test]
    fn dn_escaping_rfc4514() {
        // RFC 4514 2.4: ',' '+' '"' '\' '<' '>' ';' are escaped; a leading space or '#'.
        assert_eq!(escape_value("a,b"), "a\\,b");
        assert_eq!(escape_value("#x "), "\\#x\\ ");
    }

    #[test]
    fn dn_normalisation() {
        assert_eq!(
            normalize_dn("OU=STP, DC=Kontum,dc=gov ,dc=vn"),
            "ou=stp,dc=kontum,dc=gov,dc=vn"
        );
    }

    #[test]
    fn vietnamese_names_family_first() {
        assert_eq!(
            name_parts("Nguyễn Thị Tuyết"),
            ("Nguyễn".into(), "Tuyết".into())
        );
    }
}
