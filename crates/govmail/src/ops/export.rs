//! `govmail export ADDRESS --format mbox|maildir --to PATH`: a person's or unit's archive,
//! every folder.
//!
//! - mbox (mboxrd): one file per folder, `PATH/<folder>.mbox` (`Archive/2020` →
//!   `PATH/Archive/2020.mbox`); each message starts with `From <sender> <asctime UTC>`, lines
//!   are LF, and any body line matching `^>*From ` gets one more `>` (reversible quoting).
//! - maildir (Maildir++): INBOX is `PATH/{cur,new,tmp}`, other folders `PATH/.Name.Sub/`
//!   (a `.` inside a name becomes `_`); files keep the stored bytes exactly, are named
//!   `<internal date>.M<id>.govmail,S=<size>[:2,<flags>]` with the flags D F P R S T, and
//!   carry the internal date as their modification time. Messages without any flag are in
//!   `new/`, the others in `cur/`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use serde::Serialize;
use storage::Store;

use super::{human_bytes, print_record, ProgressBar};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Mbox,
    Maildir,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The mailbox: a person's or a unit's address (or an alias of it).
    pub address: String,
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Output directory; must not exist yet or be empty.
    #[arg(long)]
    pub to: PathBuf,
    /// The written request recorded in the audit log (KT-5.2).
    #[arg(long = "ref", default_value = "")]
    pub doc_ref: String,
}

#[derive(Debug, Serialize)]
pub struct ExportSummary {
    pub address: String,
    pub format: ExportFormat,
    pub path: String,
    pub folders: usize,
    pub messages: u64,
    pub bytes: u64,
}

/// One path component of a folder name, safe on a file system.
fn safe_component(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| if c == '\0' || c == '\\' { '_' } else { c })
        .collect();
    match cleaned.as_str() {
        "" | "." | ".." => format!("_{cleaned}"),
        _ => cleaned,
    }
}

/// `Archive/2020` → `PATH/Archive/2020.mbox`.
pub fn mbox_path(root: &Path, folder: &str) -> PathBuf {
    let mut path = root.to_path_buf();
    let parts: Vec<String> = folder.split('/').map(safe_component).collect();
    for part in &parts[..parts.len() - 1] {
        path.push(part);
    }
    path.push(format!("{}.mbox", parts[parts.len() - 1]));
    path
}

/// `INBOX` → `PATH`, `Trash/Old` → `PATH/.Trash.Old` (Maildir++).
pub fn maildir_path(root: &Path, folder: &str) -> PathBuf {
    if folder == "INBOX" {
        return root.to_path_buf();
    }
    let name: Vec<String> = folder
        .split('/')
        .map(|p| safe_component(p).replace('.', "_"))
        .collect();
    root.join(format!(".{}", name.join(".")))
}

/// Maildir info flags, in ASCII order.
pub fn maildir_flags(flags: &str) -> String {
    let mut out: Vec<char> = flags
        .split_whitespace()
        .filter_map(|f| match f.to_ascii_lowercase().as_str() {
            "\\draft" => Some('D'),
            "\\flagged" => Some('F'),
            "$forwarded" => Some('P'),
            "\\answered" => Some('R'),
            "\\seen" => Some('S'),
            "\\deleted" => Some('T'),
            _ => None,
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out.into_iter().collect()
}

/// The envelope sender for a From_ line: Return-Path of the top header, else the first From
/// address, else MAILER-DAEMON.
pub fn from_line_sender(raw: &[u8]) -> String {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(raw.len());
    let header = String::from_utf8_lossy(&raw[..end]);
    let mut from = None;
    for line in header.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let addr = value
            .rsplit_once('<')
            .map(|(_, rest)| rest.trim_end_matches('>').trim().to_string())
            .unwrap_or_else(|| value.to_string());
        if name.eq_ignore_ascii_case("return-path") {
            return if addr.is_empty() {
                "MAILER-DAEMON".into()
            } else {
                addr.replace(char::is_whitespace, "_")
            };
        }
        if name.eq_ignore_ascii_case("from") && from.is_none() && addr.contains('@') {
            from = Some(addr.replace(char::is_whitespace, "_"));
        }
    }
    from.unwrap_or_else(|| "MAILER-DAEMON".into())
}

/// `Thu Mar  5 08:00:00 2026` (UTC), the date of a From_ line.
pub fn asctime(at: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(at).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {}",
        DAYS[t.weekday().number_days_from_monday() as usize],
        MONTHS[u8::from(t.month()) as usize - 1],
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.year()
    )
}

/// Appends one message to an mboxrd stream.
pub fn write_mbox_message(
    out: &mut impl Write,
    raw: &[u8],
    internal_date: i64,
) -> std::io::Result<()> {
    writeln!(
        out,
        "From {} {}",
        from_line_sender(raw),
        asctime(internal_date)
    )?;
    let mut lines = raw.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if lines.peek().is_none() && line.is_empty() {
            break; // the final newline
        }
        let unquoted = line.iter().position(|&b| b != b'>').unwrap_or(line.len());
        if line[unquoted..].starts_with(b"From ") {
            out.write_all(b">")?;
        }
        out.write_all(line)?;
        out.write_all(b"\n")?;
    }
    out.write_all(b"\n")
}

fn ensure_empty_target(path: &Path) -> anyhow::Result<()> {
    if path.exists() {
        let mut entries = std::fs::read_dir(path)
            .with_context(|| format!("--to {}: not a directory", path.display()))?;
        if entries.next().is_some() {
            bail!("--to {}: exists and is not empty", path.display());
        }
    }
    std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(())
}

/// Writes the export; returns its summary. The audit event is the caller's.
pub async fn export_mailbox(
    store: &Store,
    address: &str,
    format: ExportFormat,
    to: &Path,
    progress: &mut (dyn FnMut(&str, u64, u64) + Send),
) -> anyhow::Result<ExportSummary> {
    let account = match store.resolve(address).await? {
        storage::Resolved::Account(account) => account,
        storage::Resolved::Group { .. } => {
            bail!("{address} is a distribution group, not a mailbox")
        }
        storage::Resolved::Unknown => bail!("no mailbox {address}"),
    };
    ensure_empty_target(to)?;
    let folders = store.folders(account.account_id).await?;
    let mut listing = vec![];
    let mut total = 0u64;
    for folder in &folders {
        let messages = store.messages(folder.id).await?;
        total += messages.len() as u64;
        listing.push((folder, messages));
    }
    let mut done = 0u64;
    let mut bytes = 0u64;
    let host = "govmail";
    for (folder, messages) in &listing {
        match format {
            ExportFormat::Mbox => {
                let path = mbox_path(to, &folder.name);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                let file = std::fs::File::create(&path)
                    .with_context(|| format!("creating {}", path.display()))?;
                let mut out = std::io::BufWriter::new(file);
                for m in messages {
                    let raw = store.read_blob(&m.blob_id).await?;
                    write_mbox_message(&mut out, &raw, m.internal_date)?;
                    bytes += raw.len() as u64;
                    done += 1;
                    progress("export", done, total);
                }
                out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            }
            ExportFormat::Maildir => {
                let dir = maildir_path(to, &folder.name);
                for sub in ["cur", "new", "tmp"] {
                    std::fs::create_dir_all(dir.join(sub))?;
                }
                if folder.name != "INBOX" {
                    std::fs::write(dir.join("maildirfolder"), b"")?;
                }
                for m in messages {
                    let raw = store.read_blob(&m.blob_id).await?;
                    let info = maildir_flags(m.flags.as_str());
                    let base = format!("{}.M{}.{host},S={}", m.internal_date, m.id, raw.len());
                    let path = if info.is_empty() {
                        dir.join("new").join(base)
                    } else {
                        dir.join("cur").join(format!("{base}:2,{info}"))
                    };
                    let mut file = std::fs::File::create(&path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    file.write_all(&raw)?;
                    let mtime = std::time::UNIX_EPOCH
                        + std::time::Duration::from_secs(m.internal_date.max(0) as u64);
                    file.set_modified(mtime)?;
                    file.sync_all()?;
                    bytes += raw.len() as u64;
                    done += 1;
                    progress("export", done, total);
                }
            }
        }
    }
    progress("export", total, total);
    Ok(ExportSummary {
        address: account.address,
        format,
        path: to.display().to_string(),
        folders: folders.len(),
        messages: done,
        bytes,
    })
}

/// `govmail export ADDRESS --format mbox|maildir --to PATH [--ref REF]`.
pub async fn export(store: &Store, json: bool, args: ExportArgs) -> anyhow::Result<()> {
    let mut bar = ProgressBar::new();
    let summary = export_mailbox(
        store,
        &args.address,
        args.format,
        &args.to,
        &mut |p, d, t| bar.update(p, d, t),
    )
    .await?;
    bar.finish();
    store
        .log_event(
            "cli",
            storage::Action::MailboxExport,
            &summary.address,
            &args.doc_ref,
            serde_json::json!({"format": summary.format, "path": summary.path,
                "messages": summary.messages, "folders": summary.folders}),
        )
        .await?;
    if json {
        print_record(true, &summary);
    } else {
        crate::outln!(
            "exported {} messages ({}) in {} folders of {} to {} ({:?})",
            summary.messages,
            human_bytes(summary.bytes as i64),
            summary.folders,
            summary.address,
            summary.path,
            summary.format
        );
    }
    Ok(())
}
