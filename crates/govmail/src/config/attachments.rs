//! `[attachments]`: dangerous attachments (issue 18), refused or quarantined.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Attachments {
    pub enabled: bool,
    /// "refuse" (554 5.7.1 naming the file) or "quarantine" (the Junk folder, not forwarded).
    pub action: String,
    /// Extensions refused as executables (lower case, no dot).
    pub executable_extensions: Vec<String>,
    /// Extensions refused as scripts.
    pub script_extensions: Vec<String>,
    /// Office files with macros (.docm, vbaProject.bin, VBA in OLE files).
    pub refuse_macros: bool,
    /// Archives inside archives, the attachment itself being 1.
    pub max_archive_depth: u32,
    /// Entries of all archives of one attachment.
    pub max_archive_entries: usize,
    /// Bytes inflated from the archives of one attachment.
    pub max_expanded_bytes: usize,
}

impl Default for Attachments {
    fn default() -> Self {
        let rules = policy::attachments::AttachmentRules::default();
        Attachments {
            enabled: rules.enabled,
            action: "refuse".into(),
            executable_extensions: rules.executable_extensions,
            script_extensions: rules.script_extensions,
            refuse_macros: rules.refuse_macros,
            max_archive_depth: rules.max_depth,
            max_archive_entries: rules.max_entries,
            max_expanded_bytes: rules.max_expanded_bytes,
        }
    }
}

impl Attachments {
    /// The rules SMTP applies.
    pub fn rules(&self) -> policy::attachments::AttachmentRules {
        let lower = |list: &[String]| {
            list.iter()
                .map(|e| e.trim().trim_start_matches('.').to_lowercase())
                .collect()
        };
        policy::attachments::AttachmentRules {
            enabled: self.enabled,
            handling: if self.action == "quarantine" {
                policy::attachments::Handling::Quarantine
            } else {
                policy::attachments::Handling::Refuse
            },
            executable_extensions: lower(&self.executable_extensions),
            script_extensions: lower(&self.script_extensions),
            refuse_macros: self.refuse_macros,
            max_depth: self.max_archive_depth,
            max_entries: self.max_archive_entries,
            max_expanded_bytes: self.max_expanded_bytes,
        }
    }

    /// What is wrong, as (key, message) pairs.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = vec![];
        if !matches!(self.action.as_str(), "refuse" | "quarantine") {
            problems.push((
                "attachments.action",
                format!("{:?}: expected \"refuse\" or \"quarantine\"", self.action),
            ));
        }
        if !(1..=16).contains(&self.max_archive_depth) {
            problems.push(("attachments.max_archive_depth", "must be 1 to 16".into()));
        }
        if !(1..=1_000_000).contains(&self.max_archive_entries) {
            problems.push((
                "attachments.max_archive_entries",
                "must be 1 to 1000000".into(),
            ));
        }
        if !(1024..=1 << 30).contains(&self.max_expanded_bytes) {
            problems.push((
                "attachments.max_expanded_bytes",
                "must be 1 KiB to 1 GiB".into(),
            ));
        }
        problems
    }
}
