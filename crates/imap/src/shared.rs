//! Unit mailboxes in the shared namespace (RFC 2342) with RFC 4314 rights (BD-10, KT-8).
//!
//! A delegate sees a unit's folders as `Đơn vị/<ABBR>/<folder>`. Rights are read from storage
//! on every command, so a revoke takes effect in sessions already open. Every read and every
//! handling of a message in a unit mailbox is recorded with who did it (KT-8, KT-11).

use storage::{Folder, Grant};

use crate::encode::{Code, Done};
use crate::names::{canonical_inbox, reserved_root, SHARED_ROOT};
use crate::state::{Session, State};

/// Where a folder named by a client would be created (CREATE, RENAME target).
#[derive(Debug, Clone)]
pub(crate) struct NewFolder {
    /// The owning account (the user's own, or a unit's).
    pub owner: i64,
    /// The folder's name inside the owning account.
    pub name: String,
    /// For unit mailboxes: the unit's address (for the audit log).
    pub unit_address: Option<String>,
}

/// A mailbox a command names: whose it is, what the user may do with it, how to show it.
#[derive(Debug, Clone)]
pub struct MailboxRef {
    pub folder: Folder,
    /// The owning account (the user's own, or a unit's).
    pub owner: i64,
    /// RFC 4314 rights of the user on it.
    pub rights: String,
    /// The name as the user sees it.
    pub display: String,
    /// For unit mailboxes: the unit's address (for the audit log).
    pub unit_address: Option<String>,
}

impl MailboxRef {
    /// A unit's mailbox (in the shared namespace, or the root of a unit login).
    pub fn shared(&self) -> bool {
        self.unit_address.is_some()
    }

    /// Named in the shared namespace (`Đơn vị/<ABBR>/...`).
    pub fn in_shared_namespace(&self) -> bool {
        self.display.starts_with(&format!("{SHARED_ROOT}/"))
    }

    /// NO [NOPERM] unless every right in `needed` is held.
    pub fn require(&self, needed: &str, what: &str) -> Result<(), Done> {
        if needed.chars().all(|r| self.rights.contains(r)) {
            Ok(())
        } else {
            Err(Done::no_with(
                Code::NoPerm,
                format!("You may not {what} in this mailbox"),
            ))
        }
    }
}

/// What [`Session::refresh_view`] found.
pub(crate) enum ViewCheck {
    /// Go on (rights read fresh, or no unit login).
    Current,
    /// The person may no longer see the unit: the session ends.
    Ended,
    /// A passing storage fault: this command answers NO [UNAVAILABLE].
    Fault(Done),
}

impl Session {
    /// In a unit login, re-reads the person's rights on the unit before a command (RFC 4314:
    /// rights changed by an administrator apply at once, as in the shared namespace).
    pub(crate) async fn refresh_view(&mut self) -> ViewCheck {
        let Some(user) = self.user().filter(|u| u.unit_view()) else {
            return ViewCheck::Current;
        };
        let unit = user.unit_address().unwrap_or_default().to_string();
        match self.context.store.unit_access(&unit, user.account_id).await {
            Ok(Some(access)) if access.rights.contains('l') => {
                if let Some(crate::state::User {
                    view: crate::state::AccountView::Unit { rights, .. },
                    ..
                }) = self.state.user_mut()
                {
                    *rights = access.rights;
                }
                ViewCheck::Current
            }
            Ok(_) => ViewCheck::Ended,
            Err(e) => ViewCheck::Fault(self.server_error(e)),
        }
    }

    /// The user's grant on the unit `abbrev` with rights read fresh (never cached: revokes
    /// apply at once), if the user may see it (`l`).
    async fn unit_grant(&self, abbrev: &str) -> Result<Option<(Grant, String)>, Done> {
        let user = self.user().ok_or_else(|| Done::bad("Not authenticated"))?;
        if user.unit_view() {
            // A unit login sees its unit at the root and nothing shared.
            return Ok(None);
        }
        let store = &self.context.store;
        let grants = store
            .grants_for(user.account_id)
            .await
            .map_err(|e| self.server_error(e))?;
        let Some(grant) = grants.into_iter().find(|g| {
            g.unit
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(abbrev))
        }) else {
            return Ok(None);
        };
        let rights = store
            .rights(grant.owner_account_id, user.account_id)
            .await
            .map_err(|e| self.server_error(e))?;
        Ok(rights.contains('l').then_some((grant, rights)))
    }

    /// Resolves a client's mailbox name in the personal or the shared namespace.
    pub(crate) async fn resolve_folder(&self, raw: &str) -> Result<MailboxRef, Done> {
        let user = self.user().ok_or_else(|| Done::bad("Not authenticated"))?;
        let name = self.decode_name(raw)?;
        let store = &self.context.store;
        let not_found = || Done::no_with(Code::NonExistent, "No such mailbox");
        let shared_prefix = format!("{SHARED_ROOT}/");
        let rest = match name.strip_prefix(&shared_prefix) {
            Some(rest) if !user.unit_view() => Some(rest),
            _ => None,
        };
        let Some(rest) = rest else {
            // The root: the user's own folders, or in a unit login the unit's with the
            // rights read before this command.
            let home = user.home();
            let personal = |folder: Folder| MailboxRef {
                display: folder.name.clone(),
                folder,
                owner: home,
                rights: user.home_rights().to_string(),
                unit_address: user.unit_address().map(str::to_string),
            };
            return match store.folder(home, &name).await {
                Ok(folder) => Ok(personal(folder)),
                Err(storage::Error::NotFound(_)) => {
                    // A folder created, before names were normalised, in the very form the
                    // client sends (NFD, say) stays reachable to be renamed or deleted.
                    let raw_name = self.decode_name_raw(raw)?;
                    if raw_name == name {
                        return Err(not_found());
                    }
                    match store.folder(home, &raw_name).await {
                        Ok(folder) => Ok(personal(folder)),
                        Err(storage::Error::NotFound(_)) => Err(not_found()),
                        Err(e) => Err(self.server_error(e)),
                    }
                }
                Err(e) => Err(self.server_error(e)),
            };
        };
        let (abbrev, folder_name) = rest.split_once('/').ok_or_else(not_found)?;
        let (grant, rights) = self.unit_grant(abbrev).await?.ok_or_else(not_found)?;
        let folder_name = canonical_inbox(folder_name);
        let folder = match store.folder(grant.owner_account_id, &folder_name).await {
            Ok(folder) => folder,
            Err(storage::Error::NotFound(_)) => return Err(not_found()),
            Err(e) => return Err(self.server_error(e)),
        };
        let unit = grant.unit.clone().unwrap_or_default();
        Ok(MailboxRef {
            display: format!("{SHARED_ROOT}/{unit}/{}", folder.name),
            folder,
            owner: grant.owner_account_id,
            rights,
            unit_address: Some(grant.owner_address),
        })
    }

    /// Where a new folder called `name` (decoded, NFC) goes. Names in the shared namespace
    /// never make a personal folder: inside a unit the user sees they make a unit folder,
    /// given `k` (RFC 4314 4: CREATE needs `k` on the parent; unit rights cover every folder
    /// of the unit), else NO [NOPERM]; anywhere else there, and for names that look like a
    /// namespace prefix, NO [CANNOT] (RFC 5530). Units the user cannot see answer like any
    /// other reserved name, so a refusal reveals nothing.
    pub(crate) async fn creation_target(&self, name: &str) -> Result<NewFolder, Done> {
        let user = self.user().ok_or_else(|| Done::bad("Not authenticated"))?;
        let reserved = || {
            Done::no_with(
                Code::Cannot,
                format!(
                    "{:?} is reserved for shared mailboxes",
                    name.split('/').next().unwrap_or(name)
                ),
            )
        };
        if let Some(unit) = user.unit_address() {
            // RFC 4314 4: CREATE (and the RENAME target) needs `k` on the parent.
            if !user.home_rights().contains('k') {
                return Err(Done::no_with(
                    Code::NoPerm,
                    "You may not create folders in this unit mailbox",
                ));
            }
            if reserved_root(name) {
                return Err(reserved());
            }
            return Ok(NewFolder {
                owner: user.home(),
                name: name.to_string(),
                unit_address: Some(unit.to_string()),
            });
        }
        if let Some(rest) = name.strip_prefix(&format!("{SHARED_ROOT}/")) {
            let (abbrev, folder) = rest.split_once('/').ok_or_else(reserved)?;
            let (grant, rights) = self.unit_grant(abbrev).await?.ok_or_else(reserved)?;
            if !rights.contains('k') {
                return Err(Done::no_with(
                    Code::NoPerm,
                    "You may not create folders in this unit mailbox",
                ));
            }
            return Ok(NewFolder {
                owner: grant.owner_account_id,
                name: canonical_inbox(folder),
                unit_address: Some(grant.owner_address),
            });
        }
        if reserved_root(name) {
            return Err(reserved());
        }
        Ok(NewFolder {
            owner: user.account_id,
            name: name.to_string(),
            unit_address: None,
        })
    }

    /// Records a change to a unit's folders (create, delete, rename) with who made it.
    pub(crate) async fn audit_unit_folder(
        &self,
        action: storage::Action,
        unit: &str,
        detail: serde_json::Value,
    ) {
        let Some(user) = self.user() else {
            return;
        };
        let _ = self
            .context
            .store
            .log_event(&user.address, action, unit, "", detail)
            .await;
    }

    /// Every shared folder the user may list: (display name, folder, rights).
    pub(crate) async fn shared_folders(&self) -> Vec<(String, Folder, String)> {
        let Some(user) = self.user().filter(|u| !u.unit_view()) else {
            return vec![];
        };
        let store = &self.context.store;
        let mut out = vec![];
        let Ok(grants) = store.grants_for(user.account_id).await else {
            return out;
        };
        for grant in grants {
            let Some(unit) = grant.unit.clone() else {
                continue;
            };
            if !grant.rights.contains('l') {
                continue;
            }
            if let Ok(folders) = store.folders(grant.owner_account_id).await {
                for folder in folders {
                    out.push((
                        format!("{SHARED_ROOT}/{unit}/{}", folder.name),
                        folder,
                        grant.rights.clone(),
                    ));
                }
            }
        }
        out
    }

    /// The user's current rights on the selected mailbox (re-read for shared ones).
    pub(crate) async fn selected_rights(&self) -> String {
        match &self.state {
            State::Selected { user, mailbox } if mailbox.account_id != user.account_id => self
                .context
                .store
                .rights(mailbox.account_id, user.account_id)
                .await
                .unwrap_or_default(),
            _ => storage::RIGHTS_HEAD.to_string(),
        }
    }

    /// Records who read or handled what in a unit mailbox.
    pub(crate) async fn audit_unit(&self, action: storage::Action, uids: &[i64]) {
        let State::Selected { user, mailbox } = &self.state else {
            return;
        };
        if mailbox.account_id == user.account_id || uids.is_empty() {
            return;
        }
        let unit = self
            .context
            .store
            .account_ref(mailbox.account_id)
            .await
            .map(|a| a.address)
            .unwrap_or_default();
        let _ = self
            .context
            .store
            .log_event(
                &user.address,
                action,
                &unit,
                "",
                serde_json::json!({"folder": mailbox.name, "uids": uids}),
            )
            .await;
    }
}
