//! Message flags (system flags such as `\Seen`, and keywords such as `$Forwarded`).
//!
//! The one place that reads and writes their stored form: the `messages.flags` column holds
//! the names separated by single spaces, in the order they were set. A [`Flags`] value keeps
//! that text exactly as read, so whatever is written back is byte for byte what the
//! operations below produce, never a re-spelling of untouched rows.

use std::sync::Arc;

use serde::Serialize;

/// How STORE changes flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagChange {
    Replace,
    Add,
    Remove,
}

/// The flags of one message. Flag names compare ASCII case-insensitively (RFC 9051 2.3.2);
/// the spelling first set is kept. Never changed in place (a change makes a new value), so
/// the text is shared: copying a folder's listing copies no flag text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags(Arc<str>);

impl Serialize for Flags {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl Flags {
    pub const SEEN: &'static str = "\\Seen";
    pub const DELETED: &'static str = "\\Deleted";

    /// No flags.
    pub fn new() -> Flags {
        Flags::default()
    }

    /// Flags as stored in `messages.flags`.
    pub fn from_stored(text: impl AsRef<str>) -> Flags {
        Flags(Arc::from(text.as_ref()))
    }

    /// Flags with these names, in this order.
    pub fn from_names<I, S>(names: I) -> Flags
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut text = String::new();
        for name in names {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(name.as_ref());
        }
        Flags(Arc::from(text))
    }

    /// The stored form: names separated by spaces.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The flag names, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.split_whitespace()
    }

    /// True when `flag` is set (ASCII case-insensitive).
    pub fn contains(&self, flag: &str) -> bool {
        self.iter().any(|f| f.eq_ignore_ascii_case(flag))
    }

    /// The flags after a STORE-style change with these names.
    pub fn apply(&self, mode: FlagChange, names: &[String]) -> Flags {
        let mut set: Vec<&str> = match mode {
            FlagChange::Replace => vec![],
            _ => self.iter().collect(),
        };
        for name in names {
            let present = set.iter().position(|f| f.eq_ignore_ascii_case(name));
            match (mode, present) {
                (FlagChange::Remove, Some(i)) => {
                    set.remove(i);
                }
                (FlagChange::Remove, None) | (_, Some(_)) => {}
                (_, None) => set.push(name),
            }
        }
        Flags::from_names(set)
    }
}

impl std::fmt::Display for Flags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Flags {
    fn from(text: &str) -> Flags {
        Flags::from_stored(text)
    }
}

impl From<String> for Flags {
    fn from(text: String) -> Flags {
        Flags::from_stored(text)
    }
}

impl PartialEq<str> for Flags {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for Flags {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_text_reads_back_as_it_was() {
        let flags = Flags::from_stored("\\Seen  $Label1");
        assert_eq!(flags.as_str(), "\\Seen  $Label1");
        assert_eq!(flags.iter().collect::<Vec<_>>(), ["\\Seen", "$Label1"]);
        assert!(flags.contains("\\SEEN"));
        assert!(!flags.contains("\\Deleted"));
        assert!(Flags::new().is_empty());
        assert_eq!(Flags::from_names(["\\Seen", "\\Draft"]), "\\Seen \\Draft");
        assert_eq!(Flags::from_names(Vec::<String>::new()), "");
    }

    #[test]
    fn changes_keep_the_first_spelling() {
        let f = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let seen = Flags::from("\\Seen");
        assert_eq!(
            seen.apply(FlagChange::Add, &f(&["\\Flagged", "\\seen"])),
            "\\Seen \\Flagged"
        );
        assert_eq!(
            Flags::from("\\Seen \\Flagged").apply(FlagChange::Remove, &f(&["\\SEEN"])),
            "\\Flagged"
        );
        assert_eq!(seen.apply(FlagChange::Replace, &f(&["$Label1"])), "$Label1");
    }
}
