//! Comparators (RFC 4790, RFC 5051) and match types (RFC 5228 2.7.1, RFC 5231).

use std::cmp::Ordering;

use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    /// `i;octet`: bytes as they are.
    Octet,
    /// `i;ascii-casemap`: ASCII letters without case (the default, RFC 5228 2.7.3).
    AsciiCasemap,
    /// `i;unicode-casemap` (RFC 5051): Unicode case and normalization forms do not matter.
    UnicodeCasemap,
    /// `i;ascii-numeric` (RFC 4790 9.1): the leading digits as a number.
    AsciiNumeric,
}

impl Comparator {
    pub fn parse(name: &str) -> Option<Comparator> {
        Some(match name.to_ascii_lowercase().as_str() {
            "i;octet" => Comparator::Octet,
            "i;ascii-casemap" => Comparator::AsciiCasemap,
            "i;unicode-casemap" => Comparator::UnicodeCasemap,
            "i;ascii-numeric" => Comparator::AsciiNumeric,
            _ => return None,
        })
    }

    /// The form both sides are compared in.
    pub fn fold(self, text: &str) -> String {
        match self {
            Comparator::Octet | Comparator::AsciiNumeric => text.to_string(),
            Comparator::AsciiCasemap => text.to_ascii_uppercase(),
            Comparator::UnicodeCasemap => unicode_casemap(text),
        }
    }

    /// The ordering of two values (relational `:value`).
    pub fn order(self, left: &str, right: &str) -> Ordering {
        match self {
            Comparator::AsciiNumeric => numeric_order(left, right),
            _ => self.fold(left).cmp(&self.fold(right)),
        }
    }

    /// Equality (`:is`).
    pub fn equal(self, left: &str, right: &str) -> bool {
        self.order(left, right) == Ordering::Equal
    }
}

/// RFC 5051 2: each character to its title case (here the full upper-case mapping, which
/// puts the same strings together), then compatibility decomposition. Deviation: the
/// decomposed string is composed again (NFKC), which keeps the same equal strings together
/// while a `?` of `:matches` and a `:contains` key see whole letters: "ệ" is one character,
/// and "e" is not found inside it.
pub fn unicode_casemap(text: &str) -> String {
    let upper: String = text.nfkd().flat_map(char::to_uppercase).collect();
    upper.nfkc().collect()
}

/// RFC 4790 9.1.1: the number the leading digits spell; a string that does not start with a
/// digit is positive infinity (None), equal only to another such string.
fn numeric_value(text: &str) -> Option<&str> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let number = text[..digits].trim_start_matches('0');
    Some(number)
}

fn numeric_order(left: &str, right: &str) -> Ordering {
    match (numeric_value(left), numeric_value(right)) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        // Without leading zeros, a longer number is larger; equal lengths compare as text.
        (Some(a), Some(b)) => a.len().cmp(&b.len()).then_with(|| a.cmp(b)),
    }
}

/// RFC 5231 4: the relational operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Relation {
    pub fn parse(text: &str) -> Option<Relation> {
        Some(match text.to_ascii_lowercase().as_str() {
            "gt" => Relation::Gt,
            "ge" => Relation::Ge,
            "lt" => Relation::Lt,
            "le" => Relation::Le,
            "eq" => Relation::Eq,
            "ne" => Relation::Ne,
            _ => return None,
        })
    }

    pub fn holds(self, ordering: Ordering) -> bool {
        match self {
            Relation::Gt => ordering == Ordering::Greater,
            Relation::Ge => ordering != Ordering::Less,
            Relation::Lt => ordering == Ordering::Less,
            Relation::Le => ordering != Ordering::Greater,
            Relation::Eq => ordering == Ordering::Equal,
            Relation::Ne => ordering != Ordering::Equal,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchType {
    Is,
    Contains,
    Matches,
    /// RFC 5231 4.1: value relation key.
    Value(Relation),
    /// RFC 5231 4.2: the number of values relation key (compared by i;ascii-numeric).
    Count(Relation),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matcher {
    pub comparator: Comparator,
    pub match_type: MatchType,
}

impl Matcher {
    /// Whether any value matches any key (RFC 5228 2.7.1: a test is true if any combination
    /// matches). `:count` counts the values instead.
    pub fn any(&self, values: &[String], keys: &[String]) -> bool {
        if let MatchType::Count(relation) = self.match_type {
            let count = values.len().to_string();
            // RFC 5231 4.2: the count is compared with i;ascii-numeric semantics when that
            // comparator is given; the count is a number either way.
            return keys
                .iter()
                .any(|key| relation.holds(numeric_order(&count, key)));
        }
        values
            .iter()
            .any(|value| keys.iter().any(|key| self.one(value, key)))
    }

    /// One value against one key.
    pub fn one(&self, value: &str, key: &str) -> bool {
        let comparator = self.comparator;
        match self.match_type {
            MatchType::Is => comparator.equal(value, key),
            MatchType::Contains => comparator.fold(value).contains(&comparator.fold(key)),
            MatchType::Matches => wildcard(&comparator.fold(value), &pattern(key, comparator)),
            MatchType::Value(relation) => relation.holds(comparator.order(value, key)),
            MatchType::Count(relation) => relation.holds(numeric_order("1", key)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// `*`: any run of characters.
    Any,
    /// `?`: one character.
    One,
    Char(char),
}

/// RFC 5228 2.7.1: `*` and `?` are wildcards, `\` makes the next character literal. Literal
/// characters are folded by the comparator.
fn pattern(key: &str, comparator: Comparator) -> Vec<Piece> {
    let mut pieces = vec![];
    let mut literal = String::new();
    let flush = |literal: &mut String, pieces: &mut Vec<Piece>| {
        pieces.extend(comparator.fold(literal).chars().map(Piece::Char));
        literal.clear();
    };
    let mut chars = key.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' | '?' => {
                flush(&mut literal, &mut pieces);
                pieces.push(if c == '*' { Piece::Any } else { Piece::One });
            }
            '\\' => {
                if let Some(next) = chars.next() {
                    literal.push(next);
                }
            }
            other => literal.push(other),
        }
    }
    flush(&mut literal, &mut pieces);
    pieces
}

/// Glob matching without backtracking blow-up: the classic two-pointer walk that remembers
/// the last `*` (linear in practice, quadratic at worst).
fn wildcard(text: &str, pattern: &[Piece]) -> bool {
    let text: Vec<char> = text.chars().collect();
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Piece::Any) => {
                star = Some((p, t));
                p += 1;
            }
            Some(Piece::One) => {
                t += 1;
                p += 1;
            }
            Some(Piece::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|piece| *piece == Piece::Any)
}
