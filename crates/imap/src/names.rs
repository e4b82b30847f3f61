//! Mailbox names: the client's spelling to ours and back (modified UTF-7 or UTF-8, NFC,
//! INBOX in any case), the shared namespace root and the names reserved to look like a
//! namespace prefix, and the limits a new name must keep.

use unicode_normalization::UnicodeNormalization;

use crate::encode::strings::quote;
use crate::encode::{Code, Done};
use crate::protocol;

/// The shared namespace prefix (without the separator).
pub const SHARED_ROOT: &str = "Đơn vị";

/// Longest hierarchy level of a folder name, in bytes of UTF-8.
pub const MAX_PART_BYTES: usize = 255;

/// First levels kept for namespaces, compared folded (no marks, no case, no spaces or
/// punctuation): the shared root, and the other-users and shared prefixes clients know from
/// other servers (`Other Users/`, `Shared Folders/`, `Public Folders/`), so that no personal
/// folder can pass for one of them.
const RESERVED_ROOTS: &[&str] = &["otherusers", "sharedfolders", "publicfolders"];

/// A mailbox name in Unicode NFC: the NFD and NFC spellings of a name are one folder.
pub fn nfc(name: &str) -> String {
    name.nfc().collect()
}

/// INBOX is case-insensitive (RFC 9051 5.1), also as the first level of its children.
pub fn canonical_inbox(name: &str) -> String {
    match name.split_once('/') {
        Some((first, rest)) if first.eq_ignore_ascii_case("INBOX") => format!("INBOX/{rest}"),
        None if name.eq_ignore_ascii_case("INBOX") => "INBOX".to_string(),
        _ => name.to_string(),
    }
}

fn folded(text: &str) -> String {
    policy::naming::fold(text).split_whitespace().collect()
}

/// True when the first level of `name` is, or looks like, a namespace prefix: the shared root
/// `Đơn vị` in any case, with or without marks, NFC or NFD, with spaces around it; the other
/// prefixes in [`RESERVED_ROOTS`]; or a level beginning with `#` or `~` (the conventional
/// namespace markers of RFC 2342 examples: `#shared`, `#public`, `~user`).
pub fn reserved_root(name: &str) -> bool {
    let first = name.split('/').next().unwrap_or(name).trim();
    if first.starts_with('#') || first.starts_with('~') {
        return true;
    }
    let key = folded(first);
    key == folded(SHARED_ROOT) || RESERVED_ROOTS.contains(&key.as_str())
}

/// Invisible characters that would let one name pass for another: soft hyphen, zero-width
/// and joiner characters, bidirectional marks and overrides, word joiners, BOM.
fn invisible(c: char) -> bool {
    matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// Checks a name a folder is about to get (CREATE, RENAME target), relative to its owner:
/// no level with spaces around it (`Sent ` would pass for `Sent`) and no invisible
/// characters, NO [CANNOT]; depth, level and total length within the limits, NO [LIMIT]
/// (RFC 5530).
pub(crate) fn check_new_name(name: &str, settings: &crate::Settings) -> Result<(), Done> {
    let parts: Vec<&str> = name.split('/').collect();
    if parts.iter().any(|p| p.trim() != *p || p.is_empty()) {
        return Err(Done::no_with(
            Code::Cannot,
            "Folder names have no spaces around a hierarchy level",
        ));
    }
    if name.chars().any(invisible) {
        return Err(Done::no_with(
            Code::Cannot,
            "Folder names have no invisible characters",
        ));
    }
    if parts.len() > settings.max_folder_depth {
        return Err(Done::no_with(
            Code::Limit,
            format!("At most {} hierarchy levels", settings.max_folder_depth),
        ));
    }
    if parts.iter().any(|p| p.len() > MAX_PART_BYTES) {
        return Err(Done::no_with(
            Code::Limit,
            format!("At most {MAX_PART_BYTES} bytes per hierarchy level"),
        ));
    }
    if name.len() > settings.max_folder_name_bytes {
        return Err(Done::no_with(
            Code::Limit,
            format!(
                "At most {} bytes per folder name",
                settings.max_folder_name_bytes
            ),
        ));
    }
    Ok(())
}

/// A client's mailbox name to ours: modified UTF-7 unless UTF8=ACCEPT is enabled, then
/// Unicode NFC, so that NFD and NFC spellings name one folder (RFC 9051 5.1: a name that
/// is not Net-Unicode, which RFC 5198 defines as NFC, is rejected or converted), and
/// `INBOX` in any case as its first level; no empty components, no leading or trailing
/// separator.
pub(crate) fn decode(raw: &str, utf8: bool) -> Result<String, Done> {
    let name = decode_raw(raw, utf8)?;
    Ok(canonical_inbox(&nfc(&name)))
}

/// [`decode`] without normalisation: the name exactly as the client sent it.
pub(crate) fn decode_raw(raw: &str, utf8: bool) -> Result<String, Done> {
    if raw.eq_ignore_ascii_case("INBOX") {
        return Ok("INBOX".to_string());
    }
    let name = if utf8 || !raw.contains('&') {
        raw.to_string()
    } else {
        // A name that is not modified UTF-7 (RFC 3501 5.1.3) names no mailbox and never
        // can: NO [CANNOT] (RFC 5530), not BAD, which some clients take for a broken link.
        protocol::mutf7::decode(raw).ok_or_else(|| {
            Done::no_with(Code::Cannot, "Mailbox name is not valid modified UTF-7")
        })?
    };
    if name.is_empty()
        || name.split('/').any(|part| part.is_empty())
        || name.chars().any(char::is_control)
    {
        return Err(Done::no_with(Code::Cannot, "Invalid mailbox name"));
    }
    Ok(name)
}

/// Our name as the client reads it, quoted: modified UTF-7 unless UTF8=ACCEPT is enabled.
pub(crate) fn encode(name: &str, utf8: bool) -> String {
    if utf8 || name.is_ascii() {
        quote(name)
    } else {
        quote(&protocol::mutf7::encode(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_roots_and_look_alikes() {
        let nfd: String = "Đơn vị/VPUB/INBOX".nfd().collect();
        for name in [
            "Đơn vị",
            "Đơn vị/VPUB/INBOX",
            nfd.as_str(),
            "đơn vị/x",
            "ĐƠN VỊ",
            "Don Vi/x",
            " Đơn vị /x",
            "Đơn\u{a0}vị",
            "Đơn_vị",
            "Other Users/x",
            "OTHER USERS",
            "Shared Folders",
            "Public Folders/x",
            "#shared",
            "#public/x",
            "#news",
            "~ttbinh/INBOX",
        ] {
            assert!(reserved_root(name), "{name:?}");
        }
        for name in [
            "INBOX",
            "Sent",
            "Đơn vị cũ",
            "Lưu trữ/Đơn vị",
            "Users",
            "Public",
        ] {
            assert!(!reserved_root(name), "{name:?}");
        }
    }

    #[test]
    fn names_are_nfc_and_inbox_is_case_insensitive() {
        let nfd: String = "Lưu trữ".nfd().collect();
        assert_eq!(nfc(&nfd), "Lưu trữ");
        assert_eq!(canonical_inbox("inbox"), "INBOX");
        assert_eq!(canonical_inbox("Inbox/Việc"), "INBOX/Việc");
        assert_eq!(canonical_inbox("Inboxes/x"), "Inboxes/x");
    }
}
