//! Search filters (RFC 4511 4.5.1.7) evaluated against an entry: TRUE, FALSE or Undefined.
//! Names compare folded (case, diacritics, đ), so `(cn=*tuyet*)` matches "Nguyễn Thị Tuyết".

use ldap3_proto::proto::{LdapFilter, LdapSubstringFilter};

use crate::directory::{attribute, normalize, Entry, Matching};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    Undefined,
}

impl Truth {
    fn from_bool(b: bool) -> Truth {
        if b {
            Truth::True
        } else {
            Truth::False
        }
    }
}

/// How many nodes a filter has (bounded by the caller).
pub fn size(filter: &LdapFilter) -> usize {
    match filter {
        LdapFilter::And(items) | LdapFilter::Or(items) => 1 + items.iter().map(size).sum::<usize>(),
        LdapFilter::Not(inner) => 1 + size(inner),
        _ => 1,
    }
}

/// RFC 4511 4.5.1.7: whether `entry` matches `filter`. The entry matches only on TRUE.
pub fn evaluate(filter: &LdapFilter, entry: &Entry) -> Truth {
    match filter {
        // RFC 4511 4.5.1.7: and is FALSE if any is FALSE, else Undefined if any is, else TRUE
        // (an empty and is TRUE, RFC 4526).
        LdapFilter::And(items) => {
            let mut result = Truth::True;
            for item in items {
                match evaluate(item, entry) {
                    Truth::False => return Truth::False,
                    Truth::Undefined => result = Truth::Undefined,
                    Truth::True => {}
                }
            }
            result
        }
        // or is TRUE if any is TRUE, else Undefined if any is, else FALSE (empty: FALSE).
        LdapFilter::Or(items) => {
            let mut result = Truth::False;
            for item in items {
                match evaluate(item, entry) {
                    Truth::True => return Truth::True,
                    Truth::Undefined => result = Truth::Undefined,
                    Truth::False => {}
                }
            }
            result
        }
        // not of Undefined is Undefined.
        LdapFilter::Not(inner) => match evaluate(inner, entry) {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Undefined => Truth::Undefined,
        },
        LdapFilter::Present(name) => match attribute(name) {
            Some((canonical, _)) => Truth::from_bool(entry.attr(canonical).is_some()),
            // RFC 4511 4.5.1.7.5: present of an unknown type is FALSE, not Undefined.
            None => Truth::False,
        },
        LdapFilter::Equality(name, value) | LdapFilter::Approx(name, value) => {
            compare(entry, name, |matching, values| {
                let wanted = normalize(matching, value);
                values.contains(&wanted)
            })
        }
        LdapFilter::Substring(name, parts) => compare(entry, name, |matching, values| {
            values.iter().any(|v| substring_match(matching, v, parts))
        }),
        LdapFilter::GreaterOrEqual(name, value) => compare(entry, name, |matching, values| {
            let wanted = normalize(matching, value);
            values.iter().any(|v| *v >= wanted)
        }),
        LdapFilter::LessOrEqual(name, value) => compare(entry, name, |matching, values| {
            let wanted = normalize(matching, value);
            values.iter().any(|v| *v <= wanted)
        }),
        // No extensible matching rules are offered: RFC 4511 4.5.1.7.7, Undefined.
        LdapFilter::Extensible(_) => Truth::Undefined,
    }
}

/// RFC 4511 4.5.1.7: an unrecognised attribute type makes the assertion Undefined; a known
/// type the entry lacks makes it FALSE.
fn compare(entry: &Entry, name: &str, test: impl Fn(Matching, &[String]) -> bool) -> Truth {
    let Some((canonical, matching)) = attribute(name) else {
        return Truth::Undefined;
    };
    match entry.attr(canonical) {
        Some(attr) => Truth::from_bool(test(matching, &attr.normalized)),
        None => Truth::False,
    }
}

/// RFC 4511 4.5.1.7.2 and RFC 4517 4.2.6: initial at the start, any in order without
/// overlap, final at the end.
fn substring_match(matching: Matching, value: &str, parts: &LdapSubstringFilter) -> bool {
    let mut rest = value;
    if let Some(initial) = &parts.initial {
        let initial = normalize(matching, initial);
        match rest.strip_prefix(initial.as_str()) {
            Some(after) => rest = after,
            None => return false,
        }
    }
    for any in &parts.any {
        let any = normalize(matching, any);
        match rest.find(any.as_str()) {
            Some(at) => rest = &rest[at + any.len()..],
            None => return false,
        }
    }
    match &parts.final_ {
        Some(last) => rest.ends_with(normalize(matching, last).as_str()),
        None => true,
    }
}
