//! QUOTA (RFC 9208, STORAGE resource in KiB) and ACL (RFC 4314) for a user's own mailboxes:
//! the owner holds every right. Delegated rights on unit mailboxes build on this.

use crate::cmd::mailbox::quote;
use crate::session::{Done, Session};

/// Every RFC 4314 right.
const ALL_RIGHTS: &str = "lrswipkxtea";

impl Session {
    async fn quota_line(&mut self) -> Result<(), Done> {
        let user = self.user().ok_or_else(|| Done::bad("Not authenticated"))?;
        let account = self
            .context
            .store
            .account_ref(user.account_id)
            .await
            .map_err(|e| self.server_error(e))?;
        let used_kib = (account.used_bytes + 1023) / 1024;
        if account.quota_bytes > 0 {
            self.untagged(&format!(
                "QUOTA \"\" (STORAGE {used_kib} {})",
                account.quota_bytes / 1024
            ));
        } else {
            self.untagged("QUOTA \"\" ()");
        }
        Ok(())
    }

    pub(crate) async fn get_quota(&mut self, root: &str) -> Done {
        if !root.is_empty() {
            return Done::no("[NONEXISTENT] No such quota root");
        }
        match self.quota_line().await {
            Ok(()) => Done::ok("GETQUOTA completed"),
            Err(done) => done,
        }
    }

    pub(crate) async fn get_quota_root(&mut self, raw: &str) -> Done {
        let folder = match self.resolve_folder(raw).await {
            Ok(f) => f,
            Err(done) => return done,
        };
        let name = self.encode_name(&folder.name);
        self.untagged(&format!("QUOTAROOT {name} \"\""));
        match self.quota_line().await {
            Ok(()) => Done::ok("GETQUOTAROOT completed"),
            Err(done) => done,
        }
    }

    pub(crate) async fn my_rights(&mut self, raw: &str) -> Done {
        let folder = match self.resolve_folder(raw).await {
            Ok(f) => f,
            Err(done) => return done,
        };
        let name = self.encode_name(&folder.name);
        self.untagged(&format!("MYRIGHTS {name} {ALL_RIGHTS}"));
        Done::ok("MYRIGHTS completed")
    }

    pub(crate) async fn get_acl(&mut self, raw: &str) -> Done {
        let folder = match self.resolve_folder(raw).await {
            Ok(f) => f,
            Err(done) => return done,
        };
        let Some(user) = self.user() else {
            return Done::bad("Not authenticated");
        };
        let name = self.encode_name(&folder.name);
        self.untagged(&format!("ACL {name} {} {ALL_RIGHTS}", quote(&user.address)));
        Done::ok("GETACL completed")
    }

    pub(crate) async fn list_rights(&mut self, raw: &str, identifier: &str) -> Done {
        let folder = match self.resolve_folder(raw).await {
            Ok(f) => f,
            Err(done) => return done,
        };
        let name = self.encode_name(&folder.name);
        // RFC 4314 3.7: the owner always has every right; others may be granted any of them.
        let rights: Vec<String> = ALL_RIGHTS.chars().map(|c| c.to_string()).collect();
        self.untagged(&format!(
            "LISTRIGHTS {name} {} \"\" {}",
            quote(identifier),
            rights.join(" ")
        ));
        Done::ok("LISTRIGHTS completed")
    }
}
