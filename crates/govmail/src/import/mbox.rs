//! `govmail import mbox FILE --to ADDRESS --folder F`: an mbox file (mboxo or mboxrd) read line
//! by line. A message starts at a `From ` line, whose date becomes the INTERNALDATE; body
//! lines `>From `, `>>From `, ... lose one `>` (mboxrd; mboxo's `>From ` likewise); the blank
//! line the writer put before the next `From ` is not part of the message; line ends become
//! CRLF. The mailbox-format fields that Dovecot also hides — Status and X-Status (turned into
//! flags), X-Keywords (keywords), X-UID, X-IMAP, X-IMAPbase, Content-Length — are dropped. A
//! message's key is its `From ` line's byte offset and a hash of its Message-ID, so a rerun
//! (or a rerun on the same file with more mail appended) stores only what is new.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use storage::{Flags, ImportKey, ImportMessage, Store};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::progress::{AccountProgress, AccountReport, FolderReport, Skipped};
use super::sink::{Gate, Sink, Target};
use super::Settings;

/// Header fields that belong to the mbox format, not to the message.
const FORMAT_FIELDS: &[&str] = &[
    "status",
    "x-status",
    "x-keywords",
    "x-uid",
    "x-imap",
    "x-imapbase",
    "content-length",
];

/// A message being read.
#[derive(Default)]
struct Partial {
    offset: u64,
    date: Option<i64>,
    bytes: Vec<u8>,
    in_header: bool,
    /// Inside a dropped header field (its continuation lines are dropped too).
    dropping: bool,
    status: Option<String>,
    x_status: Option<String>,
    keywords: Vec<String>,
    /// Over the size limit: counted, not kept.
    too_large: bool,
    size: u64,
}

pub async fn import_file(
    store: &Store,
    settings: &Settings,
    file: &Path,
    folder: &str,
    account_id: i64,
    address: &str,
    progress: Arc<AccountProgress>,
) -> AccountReport {
    let mut report = AccountReport {
        source: file.display().to_string(),
        address: address.to_string(),
        ..AccountReport::default()
    };
    match import(store, settings, file, folder, account_id, &progress).await {
        Ok(folder_report) => report.folders.push(folder_report),
        Err(e) => report.error = Some(format!("{e:#}")),
    }
    progress.finish();
    report
}

async fn import(
    store: &Store,
    settings: &Settings,
    file: &Path,
    folder: &str,
    account_id: i64,
    progress: &Arc<AccountProgress>,
) -> anyhow::Result<FolderReport> {
    let target_name = policy::import::literal_folder(folder);
    let folder_id = super::ensure_folder(store, account_id, &target_name).await?;
    let known = store.import_keys(folder_id).await?;
    let handle = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("opening {}", file.display()))?;
    let total = handle.metadata().await.map_or(0, |m| m.len());
    progress.add_total(0, total);
    let mut reader = BufReader::with_capacity(256 * 1024, handle);
    let mut report = FolderReport {
        old_folder: file.display().to_string(),
        new_folder: target_name,
        ..FolderReport::default()
    };
    let gate = settings.gate.clone();
    let sink = Sink::start(
        store.clone(),
        Target {
            folder_id,
            place: None,
            check_quota: !settings.ignore_quota,
        },
        progress.clone(),
    );
    let mut line = Vec::with_capacity(1024);
    let mut offset = 0u64;
    let mut current: Option<Partial> = None;
    let mut previous_blank = true;
    loop {
        line.clear();
        // A line is bounded by the message limit: a longer one makes the message too large.
        let n = read_line(&mut reader, &mut line, settings.max_message_size).await?;
        if n == 0 {
            break;
        }
        let line_offset = offset;
        offset += n as u64;
        if previous_blank && policy::import::is_mbox_from_line(&line) {
            if let Some(done) = current.take() {
                finish(done, settings, &known, &gate, &sink, &mut report).await?;
            }
            current = Some(Partial {
                offset: line_offset,
                date: policy::import::mbox_from_line_date(&line),
                in_header: true,
                ..Partial::default()
            });
            previous_blank = false;
            continue;
        }
        previous_blank = line == b"\n" || line == b"\r\n";
        let Some(partial) = current.as_mut() else {
            continue; // text before the first From line
        };
        add_line(partial, &line, settings.max_message_size);
    }
    if let Some(done) = current.take() {
        finish(done, settings, &known, &gate, &sink, &mut report).await?;
    }
    sink.finish().await?;
    let counts = store.folder_counts(folder_id).await?;
    report.new_messages = counts.messages as u64;
    report.new_bytes = counts.size as u64;
    report.verify();
    Ok(report)
}

async fn read_line<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
    out: &mut Vec<u8>,
    max: u64,
) -> anyhow::Result<usize> {
    let mut total = 0;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(total);
        }
        if let Some(at) = available.iter().position(|&b| b == b'\n') {
            if (out.len() as u64) < max {
                out.extend_from_slice(&available[..=at]);
            }
            reader.consume(at + 1);
            return Ok(total + at + 1);
        }
        let n = available.len();
        if (out.len() as u64) < max {
            out.extend_from_slice(available);
        }
        reader.consume(n);
        total += n;
    }
}

fn add_line(partial: &mut Partial, line: &[u8], max: u64) {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    let text: &[u8] = if partial.in_header {
        if body.is_empty() {
            partial.in_header = false;
            partial.dropping = false;
            body
        } else if body[0] == b' ' || body[0] == b'\t' {
            if partial.dropping {
                return;
            }
            body
        } else {
            let name = body.iter().position(|&b| b == b':').map(|at| {
                String::from_utf8_lossy(&body[..at])
                    .trim()
                    .to_ascii_lowercase()
            });
            partial.dropping = name.as_deref().is_some_and(|n| FORMAT_FIELDS.contains(&n));
            if partial.dropping {
                let value = String::from_utf8_lossy(
                    &body[body
                        .len()
                        .min(body.iter().position(|&b| b == b':').unwrap_or(0) + 1)..],
                )
                .trim()
                .to_string();
                match name.as_deref() {
                    Some("status") => partial.status = Some(value),
                    Some("x-status") => partial.x_status = Some(value),
                    Some("x-keywords") => partial.keywords.extend(
                        value
                            .split([' ', ','])
                            .filter(|k| !k.is_empty())
                            .map(str::to_string),
                    ),
                    _ => {}
                }
                return;
            }
            body
        }
    } else {
        policy::import::mbox_unquote(body)
    };
    partial.size += text.len() as u64 + 2;
    if partial.too_large || partial.size > max {
        partial.too_large = true;
        partial.bytes = Vec::new();
        return;
    }
    partial.bytes.extend_from_slice(text);
    partial.bytes.extend_from_slice(b"\r\n");
}

async fn finish(
    mut partial: Partial,
    settings: &Settings,
    known: &std::collections::HashSet<String>,
    gate: &Gate,
    sink: &Sink,
    report: &mut FolderReport,
) -> anyhow::Result<()> {
    // The blank line before the next From line is the separator.
    if partial.bytes.ends_with(b"\r\n\r\n") {
        partial.bytes.truncate(partial.bytes.len() - 2);
        partial.size -= 2;
    }
    report.old_messages += 1;
    report.old_bytes += partial.size;
    if partial.too_large {
        report.skipped.push(Skipped {
            what: format!("offset {}", partial.offset),
            size: partial.size,
            reason: format!(
                "larger than --max-message-size ({} bytes)",
                settings.max_message_size
            ),
        });
        return Ok(());
    }
    let message_id = super::imap::message_id(super::imap::header_of(&partial.bytes));
    let hash = storage::blob::blob_id(message_id.as_bytes());
    let key = format!("mbox:{}:{}", partial.offset, &hash[..16]);
    if known.contains(&key) {
        return Ok(());
    }
    let permit = gate.acquire(partial.size).await?;
    let mut names: Vec<String> =
        policy::import::mbox_status_flags(partial.status.as_deref(), partial.x_status.as_deref())
            .into_iter()
            .map(str::to_string)
            .collect();
    names.append(&mut partial.keywords);
    report.imported += 1;
    report.imported_bytes += partial.bytes.len() as u64;
    let message = ImportMessage {
        raw: Arc::new(std::mem::take(&mut partial.bytes)),
        flags: Flags::from_names(names),
        internal_date: partial.date.unwrap_or_else(storage::now),
        key: ImportKey::Exact(key),
    };
    sink.push(message, None, Some(permit))
        .map_err(|_| anyhow::anyhow!("the committer stopped"))
}
