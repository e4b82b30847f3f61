//! LIST and LSUB (RFC 9051 6.3.9, RFC 3501 6.3.9) with LIST-EXTENDED (RFC 5258), SPECIAL-USE
//! (RFC 6154) and LIST-STATUS (RFC 5819); SUBSCRIBE and UNSUBSCRIBE (RFC 9051 6.3.7, 6.3.8).
//!
//! Subscriptions are names (storage `subscriptions`), not folders: DELETE keeps a name
//! subscribed, and LIST (SUBSCRIBED) shows it `\NonExistent` until it is unsubscribed.
//! Unit mailboxes in the shared namespace count as subscribed (SUBSCRIBE there changes
//! nothing).

use std::collections::BTreeMap;

use storage::Folder;

use crate::encode::{Code, Done};
use crate::protocol::{self, ListOptions};
use crate::state::Session;

/// `*` matches anything, `%` anything but the separator (RFC 9051 6.3.9).
fn wildcard_match(pattern: &[char], name: &[char]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some(('*', rest)) => (0..=name.len()).any(|i| wildcard_match(rest, &name[i..])),
        Some(('%', rest)) => (0..=name.len())
            .take_while(|&i| i == 0 || name[i - 1] != '/')
            .any(|i| wildcard_match(rest, &name[i..])),
        Some((c, rest)) => name.first() == Some(c) && wildcard_match(rest, &name[1..]),
    }
}

/// One name LIST or LSUB may show.
#[derive(Default)]
struct Entry {
    folder: Option<Folder>,
    /// A mailbox or a namespace level exists by this name (false: only subscribed, or only
    /// the parent of a subscribed name).
    exists: bool,
    /// A namespace level, not a mailbox (`\Noselect`).
    level: bool,
    subscribed: bool,
}

/// The names of one LIST: every mailbox, every subscribed name and each parent of one.
struct Names {
    entries: Vec<(String, Entry)>,
}

impl Names {
    /// `\HasChildren` when a mailbox below `name` exists, else `\HasNoChildren`
    /// (RFC 9051 7.3.1).
    fn children(&self, name: &str) -> &'static str {
        let prefix = format!("{name}/");
        if self
            .entries
            .iter()
            .any(|(n, e)| e.exists && n.starts_with(&prefix))
        {
            "\\HasChildren"
        } else {
            "\\HasNoChildren"
        }
    }

    /// The subscribed names below `name`.
    fn subscribed_below<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> {
        let prefix = format!("{name}/");
        self.entries
            .iter()
            .filter(move |(n, e)| e.subscribed && n.starts_with(&prefix))
            .map(|(n, _)| n.as_str())
    }
}

impl Session {
    /// Every name of the user's personal namespace (folders, subscriptions and their
    /// parents, sorted), then the shared namespace's levels and unit mailboxes.
    async fn list_names(&self, user: &crate::state::User) -> Result<Names, Done> {
        let store = &self.context.store;
        let account_id = user.home();
        let folders = store
            .folders(account_id)
            .await
            .map_err(|e| self.server_error(e))?;
        // A unit login shows every unit folder subscribed, as the shared namespace does: the
        // unit's list is not one delegate's to change.
        let subscriptions = if user.unit_view() {
            folders.iter().map(|f| f.name.clone()).collect()
        } else {
            store
                .subscriptions(account_id)
                .await
                .map_err(|e| self.server_error(e))?
        };
        let mut personal: BTreeMap<String, Entry> = BTreeMap::new();
        for name in &subscriptions {
            let parts: Vec<&str> = name.split('/').collect();
            for depth in 1..parts.len() {
                personal.entry(parts[..depth].join("/")).or_default();
            }
        }
        for name in subscriptions {
            personal.entry(name).or_default().subscribed = true;
        }
        for folder in folders {
            let entry = personal.entry(folder.name.clone()).or_default();
            entry.exists = true;
            entry.folder = Some(folder);
        }
        let mut entries: Vec<(String, Entry)> = personal.into_iter().collect();
        let shared = self.shared_folders().await;
        if !shared.is_empty() {
            let root = crate::names::SHARED_ROOT.to_string();
            let level = |name: String| {
                let entry = Entry {
                    exists: true,
                    level: true,
                    subscribed: true,
                    folder: None,
                };
                (name, entry)
            };
            entries.push(level(root.clone()));
            let mut units: Vec<String> = shared
                .iter()
                .filter_map(|(d, _, _)| d.split('/').nth(1).map(|u| format!("{root}/{u}")))
                .collect();
            units.dedup();
            entries.extend(units.into_iter().map(level));
            for (display, folder, _) in shared {
                let entry = Entry {
                    folder: Some(folder),
                    exists: true,
                    level: false,
                    subscribed: true,
                };
                entries.push((display, entry));
            }
        }
        Ok(Names { entries })
    }

    pub(crate) async fn list(
        &mut self,
        reference: &str,
        patterns: &[String],
        options: &ListOptions,
        lsub: bool,
    ) -> Done {
        let Some(user) = self.user() else {
            return Done::bad("Not authenticated");
        };
        let command = if lsub { "LSUB" } else { "LIST" };
        if patterns.len() == 1 && patterns[0].is_empty() {
            // RFC 9051 6.3.9: the hierarchy delimiter.
            self.untagged(&format!("{command} (\\Noselect) \"/\" \"\""));
            return Done::ok(format!("{command} completed"));
        }
        let compiled: Vec<Vec<char>> = patterns
            .iter()
            .map(|p| self.list_pattern(reference, p))
            .collect();
        let names = match self.list_names(&user).await {
            Ok(n) => n,
            Err(done) => return done,
        };
        let matches = |name: &str| {
            let chars: Vec<char> = name.chars().collect();
            compiled.iter().any(|p| wildcard_match(p, &chars))
        };
        let subscribed_only = options.select_subscribed;
        // RFC 5258 3: RECURSIVEMATCH also returns a name that matches the pattern but not the
        // selection, when a name below it matches the selection, with CHILDINFO; whether
        // that name below matches the pattern does not matter.
        let child_info = subscribed_only && options.select_recursive_match;
        for (display, entry) in &names.entries {
            if !matches(display) {
                continue;
            }
            let mut below = names.subscribed_below(display);
            let mut attributes = vec![];
            if lsub {
                // RFC 3501 6.3.9: LSUB answers subscribed names; with `%`, a name whose
                // subscribed child the pattern does not reach comes as \Noselect.
                let parent = !entry.subscribed && below.any(|n| !matches(n));
                if !entry.subscribed && !parent {
                    continue;
                }
                if parent || !entry.exists || entry.level {
                    attributes.push("\\Noselect");
                }
                attributes.push(names.children(display));
            } else {
                let has_child_info = child_info && below.next().is_some();
                if subscribed_only && !entry.subscribed && !has_child_info {
                    continue;
                }
                if !subscribed_only && !entry.exists {
                    continue;
                }
                let special_use = entry.folder.as_ref().and_then(|f| f.special_use.as_deref());
                if options.select_special_use && special_use.is_none() {
                    continue;
                }
                if !entry.exists {
                    // RFC 5258 3.4: \NonExistent implies \Noselect.
                    attributes.push("\\NonExistent");
                } else if entry.level {
                    attributes.push("\\Noselect");
                }
                attributes.push(names.children(display));
                if let Some(flag) = special_use {
                    attributes.push(flag);
                }
                if entry.subscribed && (options.return_subscribed || subscribed_only) {
                    attributes.push("\\Subscribed");
                }
                let name = self.encode_name(display);
                let mut line = format!("LIST ({}) \"/\" {name}", attributes.join(" "));
                if has_child_info {
                    line.push_str(" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
                }
                self.untagged(&line);
                if let (false, Some(folder)) = (options.return_status.is_empty(), &entry.folder) {
                    let items = options.return_status.clone();
                    // RFC 5819 2: a STATUS that cannot be looked up MAY be dropped.
                    let _ = self.status_line(folder, display, &items).await;
                }
                // RFC 8440 3: MYRIGHTS for each mailbox that exists (not for \Noselect levels).
                if options.return_myrights && entry.folder.is_some() {
                    self.myrights_line(display).await;
                }
                continue;
            }
            let name = self.encode_name(display);
            self.untagged(&format!("LSUB ({}) \"/\" {name}", attributes.join(" ")));
        }
        Done::ok(format!("{command} completed"))
    }

    /// A LIST pattern in our form: reference and pattern joined, modified UTF-7 decoded
    /// unless UTF8=ACCEPT, NFC like names, INBOX in any case.
    fn list_pattern(&self, reference: &str, pattern: &str) -> Vec<char> {
        let full = format!("{reference}{pattern}");
        let decoded = if self.utf8 || !full.contains('&') {
            full
        } else {
            protocol::mutf7::decode(&full).unwrap_or(full)
        };
        // Patterns are normalised like names, so an NFD pattern finds NFC names.
        let decoded = crate::names::nfc(&decoded);
        let decoded = if decoded.len() >= 5
            && decoded[..5].eq_ignore_ascii_case("INBOX")
            && !decoded[5..].starts_with(|c: char| c.is_alphanumeric())
        {
            format!("INBOX{}", &decoded[5..])
        } else {
            decoded
        };
        decoded.chars().collect()
    }

    /// SUBSCRIBE needs the mailbox to exist (RFC 9051 6.3.7 lets the server check);
    /// UNSUBSCRIBE takes any name on the list, also one whose mailbox is gone (6.3.8).
    pub(crate) async fn subscribe(&mut self, raw: &str, subscribed: bool) -> Done {
        let Some(user) = self.user() else {
            return Done::bad("Not authenticated");
        };
        let done = || {
            Done::ok(if subscribed {
                "SUBSCRIBE completed"
            } else {
                "UNSUBSCRIBE completed"
            })
        };
        let store = self.context.store.clone();
        if subscribed {
            return match self.resolve_folder(raw).await {
                Ok(m) if m.shared() => done(),
                Ok(m) => match store
                    .set_subscription(user.account_id, &m.folder.name, true)
                    .await
                {
                    Ok(_) => done(),
                    Err(e) => self.server_error(e),
                },
                Err(failed) => failed,
            };
        }
        let mut names = vec![];
        for name in [self.decode_name(raw), self.decode_name_raw(raw)] {
            match name {
                Ok(name) if !names.contains(&name) => names.push(name),
                Ok(_) => {}
                Err(failed) => return failed,
            }
        }
        for name in names.iter().filter(|_| !user.unit_view()) {
            match store.set_subscription(user.account_id, name, false).await {
                Ok(true) => return done(),
                Ok(false) => {}
                Err(e) => return self.server_error(e),
            }
        }
        // Not on the list: fine for a mailbox that exists (a unit's, say), else NO.
        match self.resolve_folder(raw).await {
            Ok(_) => done(),
            Err(failed) if failed.has_code(&Code::NonExistent) => {
                Done::no_with(Code::NonExistent, "No such mailbox or subscription")
            }
            Err(failed) => failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        let m = |p: &str, n: &str| {
            wildcard_match(
                &p.chars().collect::<Vec<_>>(),
                &n.chars().collect::<Vec<_>>(),
            )
        };
        assert!(m("*", "a/b/c"));
        assert!(m("%", "Sent"));
        assert!(!m("%", "a/b"));
        assert!(m("a/%", "a/b"));
        assert!(m("Đơn vị/*", "Đơn vị/STTTT/INBOX"));
        assert!(!m("INBOX", "INBOX/x"));
    }
}
