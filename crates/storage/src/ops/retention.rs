//! Retention: the policy (folder rules, per-unit rules, departed accounts' hold period) and
//! its run, which removes expired messages and departed accounts' mail and credentials.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sqlx::Row;

use super::reports::OpsAccount;
use crate::{Action, MessageRow, Result, Store};

/// A folder with its owner, for retention.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OpsFolder {
    pub folder_id: i64,
    pub account_id: i64,
    pub address: String,
    pub name: String,
    pub special_use: Option<String>,
    pub unit_abbrev: Option<String>,
}

/// Which folders a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum FolderMatch {
    /// By RFC 6154 special-use flag, e.g. `\Junk` (also a folder of that name without a flag).
    SpecialUse(String),
    /// By full folder name, e.g. `Archive/2019`.
    Name(String),
}

/// Messages of matching folders (and their subfolders) are removed this many days after
/// their internal date. 0 keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FolderRule {
    pub folder: FolderMatch,
    pub days: i64,
}

/// What retention removes. Built by the binary from `[retention]`.
#[derive(Debug, Clone, Serialize)]
pub struct RetentionPolicy {
    pub rules: Vec<FolderRule>,
    /// Unit abbreviation (upper case) → rules for that unit's mailbox and its people; a rule
    /// for the same folder replaces the general one.
    pub unit_rules: BTreeMap<String, Vec<FolderRule>>,
    /// Mail of departed accounts is removed this many days after departure (0 = never).
    pub departed_hold_days: i64,
    /// Unreferenced blobs younger than this are left to a later run.
    pub gc_min_age_secs: i64,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            rules: vec![
                FolderRule {
                    folder: FolderMatch::SpecialUse("\\Junk".into()),
                    days: 30,
                },
                FolderRule {
                    folder: FolderMatch::SpecialUse("\\Trash".into()),
                    days: 30,
                },
            ],
            unit_rules: BTreeMap::new(),
            departed_hold_days: 365,
            gc_min_age_secs: 3600,
        }
    }
}

/// Expired messages of one folder.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ExpiredFolder {
    pub address: String,
    pub folder: String,
    pub days: i64,
    pub messages: u64,
    pub bytes: i64,
}

/// A departed account whose hold period is over.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DepartedPurge {
    pub address: String,
    pub departed_at: i64,
    pub messages: u64,
    pub bytes: i64,
    pub credential_removed: bool,
}

/// What a retention run removed (or, dry, would remove).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct RetentionReport {
    pub dry_run: bool,
    pub at: i64,
    pub expired: Vec<ExpiredFolder>,
    pub departed: Vec<DepartedPurge>,
    /// Blobs removed by GC (dry: currently unreferenced and old enough).
    pub blobs: u64,
    /// GC skipped because a backup holds the blob lock.
    pub gc_postponed: bool,
}

impl RetentionReport {
    pub fn messages(&self) -> u64 {
        self.expired.iter().map(|e| e.messages).sum::<u64>()
            + self.departed.iter().map(|d| d.messages).sum::<u64>()
    }

    pub fn bytes(&self) -> i64 {
        self.expired.iter().map(|e| e.bytes).sum::<i64>()
            + self.departed.iter().map(|d| d.bytes).sum::<i64>()
    }
}

impl Store {
    /// Every folder with its owner and the owner's unit.
    pub async fn ops_folders(&self) -> Result<Vec<OpsFolder>> {
        let rows = sqlx::query(
            "SELECT f.id, f.account_id, a.address, f.name, f.special_use, \
               COALESCE(uo.abbrev, up.abbrev) \
             FROM folders f JOIN accounts a ON a.id = f.account_id \
             LEFT JOIN units uo ON uo.account_id = a.id \
             LEFT JOIN persons p ON p.account_id = a.id \
             LEFT JOIN units up ON up.id = p.unit_id \
             ORDER BY a.address, f.name",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| OpsFolder {
                folder_id: r.get(0),
                account_id: r.get(1),
                address: r.get(2),
                name: r.get(3),
                special_use: r.get(4),
                unit_abbrev: r.get(5),
            })
            .collect())
    }

    /// Messages of a folder with an internal date before `cutoff`, in UID order.
    pub async fn messages_older_than(
        &self,
        folder_id: i64,
        cutoff: i64,
    ) -> Result<Vec<MessageRow>> {
        let rows = sqlx::query(
            "SELECT id, folder_id, uid, modseq, flags, internal_date, size, blob_id \
             FROM messages WHERE folder_id = $1 AND internal_date < $2 ORDER BY uid",
        )
        .bind(folder_id)
        .bind(cutoff)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(crate::mailbox::message_from_row).collect())
    }

    /// Applies (or, with `dry_run`, lists) the retention policy at time `at`: expired messages
    /// of ruled folders, mail and credentials of departed accounts past their hold period,
    /// then blob GC.
    pub async fn retention(
        &self,
        policy: &RetentionPolicy,
        at: i64,
        dry_run: bool,
    ) -> Result<RetentionReport> {
        let mut report = RetentionReport {
            dry_run,
            at,
            ..Default::default()
        };
        let folders = self.ops_folders().await?;
        let accounts = self.ops_accounts().await?;
        let departed_cutoff = at - policy.departed_hold_days * 86_400;
        let departed: BTreeMap<i64, &OpsAccount> = accounts
            .iter()
            .filter(|a| {
                policy.departed_hold_days > 0
                    && a.status == "departed"
                    && a.departed_at.is_some_and(|d| d <= departed_cutoff)
            })
            .map(|a| (a.account_id, a))
            .collect();
        let mut by_account: BTreeMap<i64, Vec<&OpsFolder>> = BTreeMap::new();
        for folder in &folders {
            by_account
                .entry(folder.account_id)
                .or_default()
                .push(folder);
        }
        for (account_id, account_folders) in &by_account {
            if departed.contains_key(account_id) {
                continue; // everything goes below
            }
            for folder in account_folders {
                let Some(days) = rule_for(policy, folder, account_folders) else {
                    continue;
                };
                if days <= 0 {
                    continue;
                }
                let cutoff = at - days * 86_400;
                let victims = self.messages_older_than(folder.folder_id, cutoff).await?;
                if victims.is_empty() {
                    continue;
                }
                let (messages, bytes) = if dry_run {
                    (victims.len() as u64, victims.iter().map(|m| m.size).sum())
                } else {
                    let uids: Vec<i64> = victims.iter().map(|m| m.uid).collect();
                    let removed: BTreeSet<i64> = self
                        .remove_messages(folder.folder_id, &uids)
                        .await?
                        .into_iter()
                        .collect();
                    let bytes = victims
                        .iter()
                        .filter(|m| removed.contains(&m.uid))
                        .map(|m| m.size)
                        .sum();
                    (removed.len() as u64, bytes)
                };
                if messages == 0 {
                    continue;
                }
                report.expired.push(ExpiredFolder {
                    address: folder.address.clone(),
                    folder: folder.name.clone(),
                    days,
                    messages,
                    bytes,
                });
            }
        }
        for (account_id, account) in &departed {
            let purge = self
                .purge_account_mail(*account_id, &account.address, dry_run)
                .await?;
            if purge.messages > 0 || purge.credential_removed {
                report.departed.push(DepartedPurge {
                    departed_at: account.departed_at.unwrap_or_default(),
                    ..purge
                });
            }
        }
        if !dry_run {
            let mut tx = self.begin_write().await?;
            let mut events: Vec<(String, serde_json::Value)> = report
                .expired
                .iter()
                .map(|e| {
                    (
                        e.address.clone(),
                        serde_json::json!({"folder": e.folder, "days": e.days,
                            "messages": e.messages, "bytes": e.bytes}),
                    )
                })
                .collect();
            Self::log_events_in(&mut tx, "retention", Action::RetentionExpire, "", &events).await?;
            events = report
                .departed
                .iter()
                .map(|d| {
                    (
                        d.address.clone(),
                        serde_json::json!({"departed_at": d.departed_at, "messages": d.messages,
                            "bytes": d.bytes, "credential_removed": d.credential_removed}),
                    )
                })
                .collect();
            Self::log_events_in(&mut tx, "retention", Action::RetentionDeparted, "", &events)
                .await?;
            tx.commit().await?;
            match self.gc_blobs_guarded(policy.gc_min_age_secs).await? {
                Some(n) => report.blobs = n,
                None => report.gc_postponed = true,
            }
            self.purge_delivery_keys().await?;
        } else {
            report.blobs = self.gc_candidates(policy.gc_min_age_secs).await?;
        }
        Ok(report)
    }

    /// Removes every message of an account and its credential (departed, hold period over).
    async fn purge_account_mail(
        &self,
        account_id: i64,
        address: &str,
        dry_run: bool,
    ) -> Result<DepartedPurge> {
        let mut messages = 0u64;
        let mut bytes = 0i64;
        for folder in self.folders(account_id).await? {
            let rows = self.messages(folder.id).await?;
            if rows.is_empty() {
                continue;
            }
            if dry_run {
                messages += rows.len() as u64;
                bytes += rows.iter().map(|m| m.size).sum::<i64>();
            } else {
                let uids: Vec<i64> = rows.iter().map(|m| m.uid).collect();
                let removed: BTreeSet<i64> = self
                    .remove_messages(folder.id, &uids)
                    .await?
                    .into_iter()
                    .collect();
                messages += removed.len() as u64;
                bytes += rows
                    .iter()
                    .filter(|m| removed.contains(&m.uid))
                    .map(|m| m.size)
                    .sum::<i64>();
            }
        }
        let has_credential: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM credentials WHERE account_id = $1")
                .bind(account_id)
                .fetch_one(&self.pool)
                .await?;
        if !dry_run && has_credential > 0 {
            let mut tx = self.begin_write().await?;
            for sql in [
                "DELETE FROM credentials WHERE account_id = $1",
                "DELETE FROM credential_history WHERE account_id = $1",
                "DELETE FROM group_members WHERE account_id = $1",
            ] {
                sqlx::query(sql).bind(account_id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }
        Ok(DepartedPurge {
            address: address.to_string(),
            departed_at: 0,
            messages,
            bytes,
            credential_removed: has_credential > 0,
        })
    }
}

/// Which folder rule applies to a folder (unit rules first, then general ones; a folder
/// without a rule of its own follows its nearest ruled parent, e.g. `Trash/Old`).
fn rule_for(policy: &RetentionPolicy, folder: &OpsFolder, siblings: &[&OpsFolder]) -> Option<i64> {
    let unit_rules = folder
        .unit_abbrev
        .as_deref()
        .and_then(|u| policy.unit_rules.get(&u.to_uppercase()));
    let mut path = folder.name.clone();
    loop {
        let special = siblings
            .iter()
            .find(|f| f.name == path)
            .and_then(|f| f.special_use.clone());
        let matches = |rule: &FolderRule| match &rule.folder {
            FolderMatch::SpecialUse(flag) => {
                special
                    .as_deref()
                    .is_some_and(|s| s.eq_ignore_ascii_case(flag))
                    || (special.is_none()
                        && path.eq_ignore_ascii_case(flag.trim_start_matches('\\')))
            }
            FolderMatch::Name(name) => path == *name,
        };
        if let Some(rule) = unit_rules.and_then(|rules| rules.iter().find(|r| matches(r))) {
            return Some(rule.days);
        }
        if let Some(rule) = policy.rules.iter().find(|r| matches(r)) {
            return Some(rule.days);
        }
        match path.rsplit_once('/') {
            Some((parent, _)) => path = parent.to_string(),
            None => return None,
        }
    }
}
