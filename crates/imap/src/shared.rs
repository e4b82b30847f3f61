//! Unit mailboxes in the shared namespace (RFC 2342) with RFC 4314 rights (BD-10, KT-8).
//!
//! A delegate sees a unit's folders as `Đơn vị/<ABBR>/<folder>`. Rights are read from storage
//! on every command, so a revoke takes effect in sessions already open. Every read and every
//! handling of a message in a unit mailbox is recorded with who did it (KT-8, KT-11).

use storage::Folder;

use crate::session::{Done, Session, State};

/// The shared namespace prefix (without the separator).
pub const SHARED_ROOT: &str = "Đơn vị";

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
    pub fn shared(&self) -> bool {
        self.unit_address.is_some()
    }

    /// NO [NOPERM] unless every right in `needed` is held.
    pub fn require(&self, needed: &str, what: &str) -> Result<(), Done> {
        if needed.chars().all(|r| self.rights.contains(r)) {
            Ok(())
        } else {
            Err(Done::no(format!(
                "[NOPERM] You may not {what} in this mailbox"
            )))
        }
    }
}

impl Session {
    /// Resolves a client's mailbox name in the personal or the shared namespace.
    pub(crate) async fn resolve_folder(&self, raw: &str) -> Result<MailboxRef, Done> {
        let user = self.user().ok_or_else(|| Done::bad("Not authenticated"))?;
        let name = self.decode_name(raw)?;
        let store = &self.context.store;
        let not_found = || Done::no("[NONEXISTENT] No such mailbox");
        let shared_prefix = format!("{SHARED_ROOT}/");
        let Some(rest) = name.strip_prefix(&shared_prefix) else {
            return match store.folder(user.account_id, &name).await {
                Ok(folder) => Ok(MailboxRef {
                    display: folder.name.clone(),
                    folder,
                    owner: user.account_id,
                    rights: storage::RIGHTS_HEAD.to_string(),
                    unit_address: None,
                }),
                Err(storage::Error::NotFound(_)) => Err(not_found()),
                Err(e) => Err(self.server_error(e)),
            };
        };
        let (abbrev, folder_name) = rest.split_once('/').ok_or_else(not_found)?;
        let grants = store
            .grants_for(user.account_id)
            .await
            .map_err(|e| self.server_error(e))?;
        let grant = grants
            .into_iter()
            .find(|g| {
                g.unit
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(abbrev))
            })
            .ok_or_else(not_found)?;
        // Fresh rights, never cached: revokes apply at once.
        let rights = store
            .rights(grant.owner_account_id, user.account_id)
            .await
            .map_err(|e| self.server_error(e))?;
        if !rights.contains('l') {
            return Err(not_found());
        }
        let folder_name = if folder_name.eq_ignore_ascii_case("INBOX") {
            "INBOX"
        } else {
            folder_name
        };
        let folder = match store.folder(grant.owner_account_id, folder_name).await {
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

    /// Every shared folder the user may list: (display name, folder, rights).
    pub(crate) async fn shared_folders(&self) -> Vec<(String, Folder, String)> {
        let Some(user) = self.user() else {
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
    pub(crate) async fn audit_unit(&self, action: &str, uids: &[i64]) {
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
