//! QUOTA (RFC 9208, STORAGE resource in KiB) and ACL (RFC 4314) for a user's own mailboxes:
//! the owner holds every right. Delegated rights on unit mailboxes build on this.

use crate::encode::strings::quote;
use crate::encode::{Code, Done};
use crate::state::Session;

/// Every RFC 4314 right.
const ALL_RIGHTS: &str = "lrswipkxtea";

impl Session {
    /// The QUOTA line of the account `owner` under the root name `root` (already encoded).
    async fn quota_line(&mut self, owner: i64, root: &str) -> Result<(), Done> {
        let account = self
            .context
            .store
            .account_ref(owner)
            .await
            .map_err(|e| self.server_error(e))?;
        let used_kib = (account.used_bytes + 1023) / 1024;
        // RFC 9208 5.1: STORAGE usage and limit in units of 1024 octets.
        if account.quota_bytes > 0 {
            self.untagged(&format!(
                "QUOTA {root} (STORAGE {used_kib} {})",
                account.quota_bytes / 1024
            ));
        } else {
            self.untagged(&format!("QUOTA {root} ()"));
        }
        Ok(())
    }

    /// The quota root of a mailbox and the account it counts against: "" for the user's own
    /// mailboxes, `Đơn vị/<ABBR>` for a unit's (the unit's quota, not the delegate's).
    fn quota_root_of(mailbox: &crate::shared::MailboxRef) -> String {
        if mailbox.in_shared_namespace() {
            mailbox
                .display
                .splitn(3, '/')
                .take(2)
                .collect::<Vec<_>>()
                .join("/")
        } else {
            String::new()
        }
    }

    pub(crate) async fn get_quota(&mut self, root: &str) -> Done {
        let Some(user) = self.user() else {
            return Done::bad("Not authenticated");
        };
        // The root "" is the account the session shows: the user's own, or a unit login's unit.
        let own = user.home();
        if root.is_empty() {
            return match self.quota_line(own, "\"\"").await {
                Ok(()) => Done::ok("GETQUOTA completed"),
                Err(done) => done,
            };
        }
        // RFC 9208 4.2: a unit's root names the unit mailbox the user can see.
        // `root` is as the client wrote it (maybe modified UTF-7): resolve `<root>/INBOX` and
        // accept it only when that is a unit's INBOX, i.e. `root` is exactly `Đơn vị/<ABBR>`.
        let mailbox = match self.resolve_folder(&format!("{root}/INBOX")).await {
            Ok(m) if m.in_shared_namespace() && m.display.split('/').count() == 3 => m,
            _ => return Done::no_with(Code::NonExistent, "No such quota root"),
        };
        let name = self.encode_name(&Self::quota_root_of(&mailbox));
        match self.quota_line(mailbox.owner, &name).await {
            Ok(()) => Done::ok("GETQUOTA completed"),
            Err(done) => done,
        }
    }

    pub(crate) async fn get_quota_root(&mut self, raw: &str) -> Done {
        let mailbox = match self.resolve_folder(raw).await {
            Ok(m) => m,
            Err(done) => return done,
        };
        let name = self.encode_name(&mailbox.display);
        let root = Self::quota_root_of(&mailbox);
        let root_name = if root.is_empty() {
            "\"\"".to_string()
        } else {
            self.encode_name(&root)
        };
        // RFC 9208 4.3: QUOTAROOT names the mailbox and its roots, then one QUOTA per root.
        self.untagged(&format!("QUOTAROOT {name} {root_name}"));
        match self.quota_line(mailbox.owner, &root_name).await {
            Ok(()) => Done::ok("GETQUOTAROOT completed"),
            Err(done) => done,
        }
    }

    /// RFC 8440 3: after a mailbox's LIST line, `* MYRIGHTS name rights` as MYRIGHTS would
    /// answer (rights read fresh); nothing when they cannot be looked up.
    pub(crate) async fn myrights_line(&mut self, display: &str) {
        let client = if self.utf8 || display.is_ascii() {
            display.to_string()
        } else {
            crate::protocol::mutf7::encode(display)
        };
        if let Ok(mailbox) = self.resolve_folder(&client).await {
            let name = self.encode_name(&mailbox.display);
            self.untagged(&format!("MYRIGHTS {name} {}", mailbox.rights));
        }
    }

    pub(crate) async fn my_rights(&mut self, raw: &str) -> Done {
        let mailbox = match self.resolve_folder(raw).await {
            Ok(m) => m,
            Err(done) => return done,
        };
        let name = self.encode_name(&mailbox.display);
        self.untagged(&format!("MYRIGHTS {name} {}", mailbox.rights));
        Done::ok("MYRIGHTS completed")
    }

    /// RFC 4314 3.3: needs the `a` right.
    pub(crate) async fn get_acl(&mut self, raw: &str) -> Done {
        let mailbox = match self.resolve_folder(raw).await {
            Ok(m) => m,
            Err(done) => return done,
        };
        if let Err(done) = mailbox.require("a", "read the access rights") {
            return done;
        }
        let owner = match self.context.store.account_ref(mailbox.owner).await {
            Ok(a) => a,
            Err(e) => return self.server_error(e),
        };
        let grants = match self.context.store.grants_on(mailbox.owner).await {
            Ok(g) => g,
            Err(e) => return self.server_error(e),
        };
        let mut line = format!(
            "ACL {} {} {ALL_RIGHTS}",
            self.encode_name(&mailbox.display),
            quote(&owner.address)
        );
        for grant in grants {
            line.push_str(&format!(
                " {} {}",
                quote(&grant.grantee_address),
                grant.rights
            ));
        }
        self.untagged(&line);
        Done::ok("GETACL completed")
    }

    /// RFC 4314 3.1/3.2: SETACL (`+r`, `-w`, or a full set) and DELETEACL, with the `a` right.
    pub(crate) async fn set_acl(
        &mut self,
        raw: &str,
        identifier: &str,
        rights: Option<&str>,
    ) -> Done {
        let mailbox = match self.resolve_folder(raw).await {
            Ok(m) => m,
            Err(done) => return done,
        };
        if let Err(done) = mailbox.require("a", "change the access rights") {
            return done;
        }
        let store = self.context.store.clone();
        // Rights are granted on unit mailboxes (BD-10, KT-8); a person's own mailbox is not
        // shared, so a grant there would have no effect: refuse it rather than pretend.
        if mailbox.unit_address.is_none() {
            match store.unit_of_account(mailbox.owner).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Done::no_with(Code::Cannot, "Personal mailboxes are not shared; mail for several people goes to the unit mailbox",
                    )
                }
                Err(e) => return self.server_error(e),
            }
        }
        let grantee = match store.login_record(identifier).await {
            Ok(Some(record)) => record,
            Ok(None) => return Done::no_with(Code::NonExistent, "No such user"),
            Err(e) => return self.server_error(e),
        };
        if grantee.account_id == mailbox.owner {
            return Done::no_with(Code::Cannot, "The owner always has every right");
        }
        // A fault reading the rights held is not "none held": `+r` would then take the others.
        let current = match store.rights(mailbox.owner, grantee.account_id).await {
            Ok(current) => current,
            Err(e) => return self.server_error(e),
        };
        let new_rights: String = match rights {
            None => String::new(),
            Some(spec) => {
                let (mode, letters) = match spec.chars().next() {
                    Some('+') => ('+', &spec[1..]),
                    Some('-') => ('-', &spec[1..]),
                    _ => ('=', spec),
                };
                if let Some(bad) = letters
                    .chars()
                    .find(|c| !ALL_RIGHTS.contains(*c) && !"cd".contains(*c))
                {
                    return Done::bad(format!("Unknown right {bad}"));
                }
                // RFC 4314 2.1.1: obsolete c and d stand for k x and t e.
                let letters = letters.replace('c', "kx").replace('d', "te");
                ALL_RIGHTS
                    .chars()
                    .filter(|r| match mode {
                        '+' => current.contains(*r) || letters.contains(*r),
                        '-' => current.contains(*r) && !letters.contains(*r),
                        _ => letters.contains(*r),
                    })
                    .collect()
            }
        };
        match store
            .set_acl(mailbox.owner, &grantee.address, &new_rights)
            .await
        {
            Ok(()) => {
                let actor = self.user().map(|u| u.address).unwrap_or_default();
                let _ = store
                    .log_event(
                        &actor,
                        storage::Action::AclSet,
                        &mailbox.display,
                        "",
                        serde_json::json!({"grantee": grantee.address, "rights": new_rights}),
                    )
                    .await;
                Done::ok(if rights.is_some() {
                    "SETACL completed"
                } else {
                    "DELETEACL completed"
                })
            }
            Err(e) => self.server_error(e),
        }
    }

    pub(crate) async fn list_rights(&mut self, raw: &str, identifier: &str) -> Done {
        let mailbox = match self.resolve_folder(raw).await {
            Ok(m) => m,
            Err(done) => return done,
        };
        if let Err(done) = mailbox.require("a", "read the access rights") {
            return done;
        }
        let name = self.encode_name(&mailbox.display);
        // RFC 4314 3.7: nothing is granted by default; any right may be granted separately.
        let rights: Vec<String> = ALL_RIGHTS.chars().map(|c| c.to_string()).collect();
        self.untagged(&format!(
            "LISTRIGHTS {name} {} \"\" {}",
            quote(identifier),
            rights.join(" ")
        ));
        Done::ok("LISTRIGHTS completed")
    }
}
