//! Operations (issue 7): retention, admin purge, backup/verify/restore, the data the
//! compliance and usage reports read, and the message counters behind the usage report.
//!
//! One job per file: `calendar` (local days), `flow` (daily mail-flow counters), `reports`
//! (report queries), `remove` (removal as IMAP does it, shared by retention and purge),
//! `retention`, `purge`, `gc` (blob GC next to backups), `backup` (taking a backup),
//! `backup_dir` (a backup directory on disk: manifest, blob tree, hashing) and `restore`
//! (verify and restore). This file holds only re-exports and small shared helpers; every public
//! item stays reachable as `storage::ops::X`.

mod backup;
mod backup_dir;
mod calendar;
mod flow;
mod gc;
mod purge;
mod remove;
mod reports;
mod restore;
mod retention;

use serde::Deserialize;

use crate::meta::Envelope;
use crate::{Error, Result};

pub use backup::{BackupOptions, BackupSummary};
pub use backup_dir::{
    hash_file, read_manifest, Manifest, ManifestBlob, ManifestFile, ManifestKeyFile, KEY_DIRS,
    MANIFEST,
};
pub use calendar::local_day;
pub(crate) use flow::FlowCounters;
pub use flow::{DeliveryNote, FlowRow};
pub use purge::{PurgeCriteria, PurgeMatch};
pub use reports::{OpsAccount, UnreadMessage};
pub use restore::{
    restore_backup, verify_backup, verify_backup_with, RestoreSummary, VerifyReport,
};
pub use retention::{
    DepartedPurge, ExpiredFolder, FolderMatch, FolderRule, OpsFolder, RetentionPolicy,
    RetentionReport,
};

/// Progress of a long operation: (phase, done, total).
pub type Progress<'a> = &'a mut (dyn FnMut(&str, u64, u64) + Send);

/// A progress callback that reports nothing.
pub fn no_progress(_: &str, _: u64, _: u64) {}

/// Only the envelope of a stored parse (the rest of the JSON is skipped).
#[derive(Deserialize, Default)]
struct EnvelopeOnly {
    #[serde(default)]
    envelope: Envelope,
}

fn envelope_of(meta_json: &str) -> Envelope {
    serde_json::from_str::<EnvelopeOnly>(meta_json)
        .map(|e| e.envelope)
        .unwrap_or_default()
}

fn first_from(envelope: &Envelope) -> String {
    envelope
        .from
        .iter()
        .chain(envelope.sender.iter())
        .find_map(|a| a.address.clone())
        .unwrap_or_default()
}

fn io_other(message: impl Into<String>) -> Error {
    Error::Io(std::io::Error::other(message.into()))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T> {
    Ok(tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| io_other(e.to_string()))??)
}
