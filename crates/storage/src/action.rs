//! What an audit event records (KT-5.2: who did what, on which written decision).
//!
//! Each action is stored as its dotted name (`user.add`). The names are data, not code: reports,
//! exports and `govmail events PREFIX` select by them, and rows outlive versions, so a name is
//! never renamed; a row with a name this version does not know reads back as
//! [`Action::Other`].

use serde::Serialize;

macro_rules! actions {
    ($($(#[doc = $doc:literal])* $variant:ident = $name:literal,)*) => {
        /// An audit action. See the module documentation for the stored names.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum Action {
            $($(#[doc = $doc])* $variant,)*
            /// A stored name this version does not know (written by a newer version).
            Other(String),
        }

        impl Action {
            /// Every action this version writes.
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];

            /// The stored, dotted name.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Action::$variant => $name,)*
                    Action::Other(name) => name,
                }
            }

            /// The action a stored name stands for.
            pub fn from_name(name: &str) -> Action {
                match name {
                    $($name => Action::$variant,)*
                    other => Action::Other(other.to_string()),
                }
            }
        }
    };
}

actions! {
    /// A person's account created (`govmail user add`).
    UserAdd = "user.add",
    /// Login denied to an account.
    UserDisable = "user.disable",
    /// Login allowed again.
    UserEnable = "user.enable",
    /// Quota changed.
    UserQuota = "user.quota",
    /// Password set by an administrator.
    UserPasswd = "user.passwd",
    /// Password changed by its owner on the password page.
    UserPasswordChange = "user.password-change",
    /// Staff: a person hired into a unit.
    UserHire = "user.hire",
    /// Staff: a person moved to another unit.
    UserTransfer = "user.transfer",
    /// Staff: a person left; their mailbox enters retention.
    UserLeave = "user.leave",
    /// Staff: a password reset with a one-time password.
    UserResetPassword = "user.reset-password",
    /// A unit (and its official mailbox) created.
    UnitAdd = "unit.add",
    /// A unit's head named.
    UnitSetHead = "unit.set-head",
    /// Rights on a unit mailbox delegated.
    UnitDelegate = "unit.delegate",
    /// Delegated rights withdrawn.
    UnitRevoke = "unit.revoke",
    /// A unit mailbox handed over to a new head.
    UnitHandover = "unit.handover",
    /// Mail sent in a unit's name.
    UnitSend = "unit.send",
    /// A delegate logged in to a unit mailbox as `UNIT*PERSON` (IMAP or submission).
    UnitLogin = "unit.login",
    /// Unit mail read (marked \Seen) by a delegate.
    UnitRead = "unit.read",
    /// Unit mail handled (moved, deleted) by a delegate.
    UnitHandle = "unit.handle",
    /// A folder created in a unit mailbox.
    UnitFolderCreate = "unit.folder-create",
    /// A folder deleted in a unit mailbox.
    UnitFolderDelete = "unit.folder-delete",
    /// A folder renamed in a unit mailbox.
    UnitFolderRename = "unit.folder-rename",
    /// A hosted domain added.
    DomainAdd = "domain.add",
    /// An alias added.
    AliasAdd = "alias.add",
    /// An alias removed.
    AliasRemove = "alias.remove",
    /// A distribution group created.
    GroupAdd = "group.add",
    /// A member added to a group.
    GroupMemberAdd = "group.member-add",
    /// A member removed from a group.
    GroupMemberRemove = "group.member-remove",
    /// A forwarding rule set.
    ForwardSet = "forward.set",
    /// A forwarding rule removed.
    ForwardClear = "forward.clear",
    /// A forward not made (target outside the forwarding policy).
    ForwardRefused = "forward.refused",
    /// A DKIM key generated.
    DkimGenerate = "dkim.generate",
    /// A queued message retried at once by an administrator.
    QueueRetry = "queue.retry",
    /// A queued message deleted by an administrator.
    QueueDelete = "queue.delete",
    /// Outbound delivery failed for good (a bounce was sent).
    QueueFailed = "queue.failed",
    /// A failure notice that could not be delivered was dropped.
    QueueNoticeDropped = "queue.notice_dropped",
    /// A message refused because it carries a virus.
    VirusRefused = "virus.refused",
    /// A message refused for a dangerous attachment (executable, script, macros, bomb).
    AttachmentRefused = "attachment.refused",
    /// A message with a dangerous attachment put in Junk (`[attachments] action = quarantine`).
    AttachmentQuarantined = "attachment.quarantined",
    /// A message refused as spam.
    SpamRejected = "spam.rejected",
    /// A message filed as junk.
    SpamJunked = "spam.junked",
    /// A mailbox opened (reports: who checks mail, and when).
    MailboxOpen = "mailbox.open",
    /// A mailbox exported.
    MailboxExport = "mailbox.export",
    /// Rights on a folder changed over IMAP (SETACL/DELETEACL).
    AclSet = "acl.set",
    /// A login locked after repeated failures.
    AuthLocked = "auth.locked",
    /// An address banned briefly after failing across logins.
    AuthBanned = "auth.banned",
    /// Messages removed when their retention period ended.
    RetentionExpire = "retention.expire",
    /// A departed person's mailbox removed after retention.
    RetentionDeparted = "retention.departed",
    /// Messages purged on a written decision.
    PurgeMessage = "purge.message",
    /// A backup taken (`govmail backup`): where, and what it holds (`govmail doctor` reads it).
    BackupDone = "backup.done",
    /// A Sieve script stored (ManageSieve PUTSCRIPT).
    SieveSave = "sieve.save",
    /// The active Sieve script chosen (or none).
    SieveActivate = "sieve.activate",
    /// A Sieve script removed.
    SieveDelete = "sieve.delete",
    /// A Sieve script renamed.
    SieveRename = "sieve.rename",
    /// A script failed at delivery; the message was kept in INBOX (told to the user).
    SieveError = "sieve.error",
    /// A script's redirect refused by the forwarding policy; the message was kept.
    SieveRedirectRefused = "sieve.redirect-refused",
    /// An out-of-office reply set (`govmail user vacation`).
    VacationSet = "vacation.set",
    /// An out-of-office reply turned off.
    VacationClear = "vacation.clear",
    /// A vacation reply sent (RFC 5230).
    VacationReply = "vacation.reply",
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with a stored name (`event.action == "user.add"`).
impl PartialEq<&str> for Action {
    fn eq(&self, name: &&str) -> bool {
        self.as_str() == *name
    }
}

impl PartialEq<str> for Action {
    fn eq(&self, name: &str) -> bool {
        self.as_str() == name
    }
}

impl Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_read_back() {
        let mut seen = std::collections::HashSet::new();
        for action in Action::ALL {
            assert!(seen.insert(action.as_str()), "{action} twice");
            assert_eq!(&Action::from_name(action.as_str()), action);
            let (family, what) = action.as_str().split_once('.').expect("dotted");
            assert!(!family.is_empty() && !what.is_empty(), "{action}");
        }
    }

    #[test]
    fn unknown_names_are_kept() {
        let other = Action::from_name("sieve.upload");
        assert_eq!(other, Action::Other("sieve.upload".into()));
        assert_eq!(other.as_str(), "sieve.upload");
        assert!(other == "sieve.upload" && Action::UserAdd == "user.add");
        assert_eq!(serde_json::to_string(&other).unwrap(), "\"sieve.upload\"");
    }
}
