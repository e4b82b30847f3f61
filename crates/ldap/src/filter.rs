//! Search filters (RFC 4511 4.5.1.7) evaluated against an entry: TRUE, FALSE or Undefined.
//! Names compare folded (case, diacritics, đ), so `(cn=*tuyet*)` matches "Nguyễn Thị Tuyết".

use ldap3_proto::proto::LdapFilter;

use crate::directory::{attribute, normalize, Entry};

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

/// A filter with every attribute type resolved and every assertion value normalized once per
/// search (not once per entry: folding Vietnamese text is the costly part of a scan).
#[derive(Debug, Clone)]
pub enum Prepared {
    And(Vec<Prepared>),
    Or(Vec<Prepared>),
    Not(Box<Prepared>),
    /// A known attribute type: present / equality / substring / ordering on it.
    Present(&'static str),
    Equal(&'static str, String),
    Substring {
        attr: &'static str,
        initial: Option<String>,
        any: Vec<String>,
        last: Option<String>,
    },
    AtLeast(&'static str, String),
    AtMost(&'static str, String),
    /// RFC 4511 4.5.1.7: an unrecognised type (or extensible match) is Undefined...
    Undefined,
    /// ...except presence of an unknown type, FALSE (4.5.1.7.5).
    False,
}

impl Prepared {
    pub fn new(filter: &LdapFilter) -> Prepared {
        let value =
            |name: &str, v: &str, make: fn(&'static str, String) -> Prepared| match attribute(name)
            {
                Some((canonical, matching)) => make(canonical, normalize(matching, v)),
                None => Prepared::Undefined,
            };
        match filter {
            LdapFilter::And(items) => Prepared::And(items.iter().map(Prepared::new).collect()),
            LdapFilter::Or(items) => Prepared::Or(items.iter().map(Prepared::new).collect()),
            LdapFilter::Not(inner) => Prepared::Not(Box::new(Prepared::new(inner))),
            LdapFilter::Present(name) => match attribute(name) {
                Some((canonical, _)) => Prepared::Present(canonical),
                None => Prepared::False,
            },
            LdapFilter::Equality(name, v) | LdapFilter::Approx(name, v) => {
                value(name, v, Prepared::Equal)
            }
            LdapFilter::GreaterOrEqual(name, v) => value(name, v, Prepared::AtLeast),
            LdapFilter::LessOrEqual(name, v) => value(name, v, Prepared::AtMost),
            LdapFilter::Substring(name, parts) => match attribute(name) {
                Some((attr, matching)) => Prepared::Substring {
                    attr,
                    initial: parts.initial.as_deref().map(|v| normalize(matching, v)),
                    any: parts.any.iter().map(|v| normalize(matching, v)).collect(),
                    last: parts.final_.as_deref().map(|v| normalize(matching, v)),
                },
                None => Prepared::Undefined,
            },
            LdapFilter::Extensible(_) => Prepared::Undefined,
        }
    }
}

/// RFC 4511 4.5.1.7: whether `entry` matches `filter` (prepared once for all the entries a
/// search reads). The entry matches only on TRUE.
pub fn evaluate(filter: &Prepared, entry: &Entry) -> Truth {
    // RFC 4511 4.5.1.7: a known type the entry lacks makes the assertion FALSE.
    let on = |attr: &str, test: &dyn Fn(&[String]) -> bool| match entry.attr(attr) {
        Some(a) => Truth::from_bool(test(&a.normalized)),
        None => Truth::False,
    };
    match filter {
        // and is FALSE if any is FALSE, else Undefined if any is, else TRUE (empty: TRUE,
        // RFC 4526).
        Prepared::And(items) => {
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
        Prepared::Or(items) => {
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
        Prepared::Not(inner) => match evaluate(inner, entry) {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Undefined => Truth::Undefined,
        },
        Prepared::Present(attr) => Truth::from_bool(entry.attr(attr).is_some()),
        Prepared::Equal(attr, wanted) => on(attr, &|values| values.contains(wanted)),
        Prepared::AtLeast(attr, wanted) => on(attr, &|values| values.iter().any(|v| v >= wanted)),
        Prepared::AtMost(attr, wanted) => on(attr, &|values| values.iter().any(|v| v <= wanted)),
        Prepared::Substring {
            attr,
            initial,
            any,
            last,
        } => on(attr, &|values| {
            values
                .iter()
                .any(|v| substring_match(v, initial.as_deref(), any, last.as_deref()))
        }),
        Prepared::Undefined => Truth::Undefined,
        Prepared::False => Truth::False,
    }
}

/// RFC 4511 4.5.1.7.2 and RFC 4517 4.2.6: initial at the start, any in order without
/// overlap, final at the end (all already normalized).
fn substring_match(value: &str, initial: Option<&str>, any: &[String], last: Option<&str>) -> bool {
    let mut rest = value;
    if let Some(initial) = initial {
        match rest.strip_prefix(initial) {
            Some(after) => rest = after,
            None => return false,
        }
    }
    for any in any {
        match rest.find(any.as_str()) {
            Some(at) => rest = &rest[at + any.len()..],
            None => return false,
        }
    }
    match last {
        Some(last) => rest.ends_with(last),
        None => true,
    }
}
