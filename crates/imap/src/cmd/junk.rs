//! Training the spam classifier from what users do (issue 18): a message moved or copied into
//! the Junk folder (RFC 6154 `\Junk`), or flagged `$Junk`/`\Junk` (Thunderbird, Apple Mail),
//! is trained as spam; one moved or copied out of Junk (not into Trash: that is deleting), or
//! flagged `$NotJunk`, as ham. A message trained as the other side before is untrained there
//! (`Store::bayes_train`). The sender's history moves with it.
//!
//! Training runs after the reply, in a task of its own: it reads the message and writes the
//! counts in its own group commit, so the command's answer never waits for it.

use policy::spam::bayes::{self, Class};
use policy::spam::Parsed;
use storage::spam::PROVINCE;
use storage::{FlagChange, MessageRow, Store};

use crate::state::Session;

const JUNK: &str = "\\Junk";
const TRASH: &str = "\\Trash";

/// The class a flag change trains, if any.
pub(crate) fn class_of_flags(mode: FlagChange, flags: &[String]) -> Option<Class> {
    if mode == FlagChange::Remove {
        return None;
    }
    let named = |want: &str| flags.iter().any(|f| f.eq_ignore_ascii_case(want));
    if named("$Junk") || named("\\Junk") {
        Some(Class::Spam)
    } else if named("$NotJunk") {
        Some(Class::Ham)
    } else {
        None
    }
}

/// The class a COPY/MOVE from a folder of `source` special use to one of `target` trains.
pub(crate) fn class_of_move(source: Option<&str>, target: Option<&str>) -> Option<Class> {
    let is = |f: Option<&str>, want: &str| f.is_some_and(|f| f.eq_ignore_ascii_case(want));
    match (is(source, JUNK), is(target, JUNK)) {
        (false, true) => Some(Class::Spam),
        (true, false) if !is(target, TRASH) => Some(Class::Ham),
        _ => None,
    }
}

impl Session {
    /// After STORE: trains the rows whose flags changed when the flags name a junk verdict.
    pub(crate) fn train_after_store(
        &self,
        mode: FlagChange,
        flags: &[String],
        rows: &[MessageRow],
    ) {
        let Some(class) = class_of_flags(mode, flags) else {
            return;
        };
        let Some(folder_id) = rows.first().map(|r| r.folder_id) else {
            return;
        };
        let blobs: Vec<String> = rows.iter().map(|r| r.blob_id.to_string()).collect();
        spawn_training(
            self.context.store.clone(),
            folder_id,
            Some(class),
            None,
            blobs,
            vec![],
        );
    }

    /// After COPY/MOVE: trains the copies when the move crosses the Junk folder.
    pub(crate) fn train_after_copy(&self, source: i64, target: i64, target_uids: Vec<i64>) {
        spawn_training(
            self.context.store.clone(),
            target,
            None,
            Some(source),
            vec![],
            target_uids,
        );
    }
}

/// Works out the class (from the folders, for a copy) and trains each message once.
fn spawn_training(
    store: Store,
    folder_id: i64,
    class: Option<Class>,
    copied_from: Option<i64>,
    mut blobs: Vec<String>,
    target_uids: Vec<i64>,
) {
    tokio::spawn(async move {
        let run = async {
            let folder = store.folder_by_id(folder_id).await?;
            let class = match (class, copied_from) {
                (Some(class), _) => class,
                (None, Some(source)) => {
                    let source = store.folder_by_id(source).await?;
                    let moved =
                        class_of_move(source.special_use.as_deref(), folder.special_use.as_deref());
                    match moved {
                        Some(class) => class,
                        None => return Ok(()),
                    }
                }
                (None, None) => return Ok(()),
            };
            if !target_uids.is_empty() {
                let rows = store.messages_with_uids(folder.id, &target_uids).await?;
                blobs = rows.into_iter().map(|r| r.blob_id.to_string()).collect();
            }
            blobs.sort();
            blobs.dedup();
            for blob in blobs {
                train_one(&store, folder.account_id, &blob, class).await?;
            }
            Ok::<(), storage::Error>(())
        };
        if let Err(e) = run.await {
            tracing::warn!(error = %e, "spam training failed");
        }
    });
}

async fn train_one(
    store: &Store,
    account_id: i64,
    blob: &str,
    class: Class,
) -> storage::Result<()> {
    let bytes = store.read_blob(blob).await?;
    let parsed = Parsed::from_bytes(&bytes);
    let tokens = bayes::hashes(&parsed);
    let outcome = store
        .bayes_train(&[account_id, PROVINCE], blob, class, &tokens)
        .await?;
    // The sender's history follows the user's judgement: the envelope sender as our
    // Return-Path recorded it, else the From address.
    let sender = parsed
        .header("return-path")
        .map(|v| v.trim_matches(['<', '>', ' ']).to_lowercase())
        .filter(|s| s.contains('@'))
        .or_else(|| parsed.from.first().and_then(|a| a.address.clone()));
    if let (Some(sender), true) = (sender, outcome != storage::spam::Trained::Already) {
        let undo = outcome == storage::spam::Trained::Moved;
        store
            .record_sender(&sender, "", class == Class::Spam, undo)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_moves_and_flags_train() {
        assert_eq!(class_of_move(None, Some("\\Junk")), Some(Class::Spam));
        assert_eq!(class_of_move(Some("\\Junk"), None), Some(Class::Ham));
        assert_eq!(class_of_move(Some("\\Junk"), Some("\\Trash")), None);
        assert_eq!(class_of_move(Some("\\Junk"), Some("\\Junk")), None);
        assert_eq!(class_of_move(Some("\\Sent"), Some("\\Archive")), None);
        let flags = |f: &[&str]| f.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            class_of_flags(FlagChange::Add, &flags(&["$Junk"])),
            Some(Class::Spam)
        );
        assert_eq!(
            class_of_flags(FlagChange::Replace, &flags(&["\\Seen", "\\junk"])),
            Some(Class::Spam)
        );
        assert_eq!(
            class_of_flags(FlagChange::Add, &flags(&["$NotJunk"])),
            Some(Class::Ham)
        );
        assert_eq!(class_of_flags(FlagChange::Remove, &flags(&["$Junk"])), None);
        assert_eq!(
            class_of_flags(FlagChange::Add, &flags(&["\\Flagged"])),
            None
        );
    }
}
