//! `govmail import maildir DIR --to ADDRESS`: a Maildir++ tree (Dovecot, Courier). INBOX is
//! DIR itself, every `.Folder.Sub` directory a folder (names in modified UTF-7, as Dovecot
//! writes them); messages are the files of `cur/` and `new/`, flags from the `:2,` suffix and
//! keywords from the folder's `dovecot-keywords` (letter `a` = keyword 0, ...), INTERNALDATE
//! the file's modification time (what Dovecot reports). A file's unique name (before `:`) is
//! its key: a rerun stores only files not seen before, whatever their flags became.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use storage::{Flags, ImportKey, ImportMessage, Store};

use super::progress::{AccountProgress, AccountReport, FolderReport, Skipped};
use super::sink::{Sink, Target};
use super::Settings;

/// One Maildir folder on disk.
struct DiskFolder {
    dir: PathBuf,
    levels: Vec<String>,
}

pub async fn import_tree(
    store: &Store,
    settings: &Settings,
    root: &Path,
    account_id: i64,
    address: &str,
    progress: Arc<AccountProgress>,
) -> AccountReport {
    let mut report = AccountReport {
        source: root.display().to_string(),
        address: address.to_string(),
        ..AccountReport::default()
    };
    let result = async {
        let folders = disk_folders(root)?;
        for folder in folders {
            let name = folder.levels.join("/");
            let folder_report =
                import_folder(store, settings, account_id, &folder, progress.clone())
                    .await
                    .with_context(|| format!("folder {name}"))?;
            report.folders.push(folder_report);
        }
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = result {
        report.error = Some(format!("{e:#}"));
    }
    progress.finish();
    report
}

fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() || dir.join("new").is_dir()
}

/// INBOX (the root, if it is a Maildir) and every `.Folder.Sub` below it, sorted.
fn disk_folders(root: &Path) -> anyhow::Result<Vec<DiskFolder>> {
    let mut folders = Vec::new();
    if is_maildir(root) {
        folders.push(DiskFolder {
            dir: root.to_path_buf(),
            levels: vec!["INBOX".to_string()],
        });
    }
    let mut others = Vec::new();
    for entry in std::fs::read_dir(root).with_context(|| format!("reading {}", root.display()))? {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str() else {
            continue;
        };
        let Some(levels) = policy::import::maildir_folder_levels(name) else {
            continue;
        };
        if !entry.file_type()?.is_dir() || !is_maildir(&entry.path()) {
            continue;
        }
        let levels = levels
            .iter()
            .map(|l| imap::protocol::mutf7::decode(l).unwrap_or_else(|| l.to_string()))
            .collect();
        others.push(DiskFolder {
            dir: entry.path(),
            levels,
        });
    }
    others.sort_by(|a, b| a.levels.cmp(&b.levels));
    folders.extend(others);
    Ok(folders)
}

/// `dovecot-keywords`: lines `<index> <keyword>`.
fn keywords(dir: &Path) -> HashMap<usize, String> {
    let Ok(text) = std::fs::read_to_string(dir.join("dovecot-keywords")) else {
        return HashMap::new();
    };
    text.lines()
        .filter_map(|line| {
            let (index, name) = line.split_once(' ')?;
            Some((index.trim().parse().ok()?, name.trim().to_string()))
        })
        .collect()
}

/// The `,W=<size>` of a Dovecot Maildir file name.
fn wire_size(name: &str) -> Option<u64> {
    let unique = name.split(':').next()?;
    unique
        .split(',')
        .find_map(|part| part.strip_prefix("W="))
        .and_then(|n| n.parse().ok())
}

async fn import_folder(
    store: &Store,
    settings: &Settings,
    account_id: i64,
    folder: &DiskFolder,
    progress: Arc<AccountProgress>,
) -> anyhow::Result<FolderReport> {
    let target_name = settings.folder_map.target(&folder.levels, None);
    let folder_id = super::ensure_folder(store, account_id, &target_name).await?;
    let known = store.import_keys(folder_id).await?;
    let keywords = keywords(&folder.dir);
    // (unique name, path, size, mtime) of every message file.
    let mut files = Vec::new();
    for sub in ["cur", "new"] {
        let dir = folder.dir.join(sub);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let meta = entry.metadata()?;
            if !meta.is_file() {
                continue;
            }
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs() as i64);
            // Dovecot's `,W=` is the size with CRLF line ends (what IMAP shows); files may
            // hold bare LF (mail_save_crlf = no), and are stored with CRLF here.
            let size = wire_size(&name).unwrap_or(meta.len());
            files.push((name, entry.path(), size, mtime));
        }
    }
    files.sort();
    let mut report = FolderReport {
        old_folder: folder.levels.join("/"),
        new_folder: target_name,
        old_messages: files.len() as u64,
        old_bytes: files.iter().map(|f| f.2).sum(),
        ..FolderReport::default()
    };
    let todo: Vec<_> = files
        .into_iter()
        .filter(|(name, ..)| {
            let (unique, _) = policy::import::maildir_name(name);
            !known.contains(&format!("maildir:{unique}"))
        })
        .collect();
    drop(known);
    progress.add_total(todo.len() as u64, todo.iter().map(|f| f.2).sum());
    let gate = settings.gate.clone();
    let sink = Sink::start(
        store.clone(),
        Target {
            folder_id,
            place: None,
            check_quota: !settings.ignore_quota,
        },
        progress,
    );
    for (name, path, size, mtime) in todo {
        let (unique, flags) = policy::import::maildir_name(&name);
        if size > settings.max_message_size {
            report.skipped.push(Skipped {
                what: name.clone(),
                size,
                reason: format!(
                    "larger than --max-message-size ({} bytes)",
                    settings.max_message_size
                ),
            });
            continue;
        }
        let permit = gate.acquire(size).await?;
        let raw = super::crlf(
            tokio::fs::read(&path)
                .await
                .with_context(|| format!("reading {}", path.display()))?,
        );
        let mut names: Vec<String> = flags.system.iter().map(|f| f.to_string()).collect();
        names.extend(
            flags
                .keyword_indexes
                .iter()
                .filter_map(|i| keywords.get(i).cloned()),
        );
        report.imported += 1;
        report.imported_bytes += raw.len() as u64;
        let message = ImportMessage {
            raw: Arc::new(raw),
            flags: Flags::from_names(names),
            internal_date: mtime,
            key: ImportKey::Exact(format!("maildir:{unique}")),
        };
        if sink.push(message, None, Some(permit)).is_err() {
            break;
        }
    }
    sink.finish().await?;
    let counts = store.folder_counts(folder_id).await?;
    report.new_messages = counts.messages as u64;
    report.new_bytes = counts.size as u64;
    report.verify();
    Ok(report)
}
