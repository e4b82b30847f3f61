//! `govmail import imap`: one account from the old server. Every selectable folder is
//! EXAMINEd (read-only, RFC 9051 6.3.3), its UIDs and sizes listed, and what is not yet here
//! fetched in UID batches with `BODY.PEEK[]` (never sets \Seen, RFC 9051 6.4.5), each body
//! streamed to the folder's committer (`sink`).
//!
//! Resuming: the mark (old UIDVALIDITY, last committed old UID) is stored with every batch.
//! Same UIDVALIDITY → fetch only UIDs above the mark. A different one (the old server rebuilt
//! its index) → re-scan: every old message's fingerprint (RFC822.SIZE, Message-ID,
//! INTERNALDATE, numbered by occurrence) is compared with the keys stored at import, and only
//! the unknown ones are fetched.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use anyhow::{anyhow, bail};
use storage::{Flags, ImportKey, ImportMessage, ImportPlace, Store};

use super::client::{parse_values, quote, response_code, Body, Client, Login, Response, Value};
use super::progress::{AccountProgress, AccountReport, FolderReport, Skipped};
use super::sink::{Sink, Target};
use super::Settings;

/// UIDs per `UID FETCH` command.
const UIDS_PER_FETCH: usize = 500;

/// One account to import.
#[derive(Debug, Clone)]
pub struct Job {
    pub login: Login,
    /// The old login, as the report and the progress marks name it.
    pub old_login: String,
    pub account_id: i64,
    pub address: String,
}

/// A folder of the old server's LIST.
#[derive(Debug, Clone)]
struct OldFolder {
    /// As the server spelled it (modified UTF-7), for EXAMINE.
    wire_name: String,
    /// Decoded levels (Vietnamese names as UTF-8).
    levels: Vec<String>,
    special_use: Option<String>,
}

pub async fn import_account(
    store: &Store,
    settings: &Settings,
    job: &Job,
    progress: Arc<AccountProgress>,
) -> AccountReport {
    let mut report = AccountReport {
        source: format!("{} {}", settings.source_url, job.old_login),
        address: job.address.clone(),
        ..AccountReport::default()
    };
    if let Err(e) = run(store, settings, job, &progress, &mut report).await {
        report.error = Some(format!("{e:#}"));
    }
    progress.finish();
    report
}

async fn run(
    store: &Store,
    settings: &Settings,
    job: &Job,
    progress: &Arc<AccountProgress>,
    report: &mut AccountReport,
) -> anyhow::Result<()> {
    let url = settings
        .url
        .as_ref()
        .ok_or_else(|| anyhow!("no --from server"))?;
    let mut client = Client::connect(url, settings.insecure_tls, settings.max_message_size).await?;
    client.login(&job.login).await?;
    client.gate = Some(settings.gate.clone());
    let folders = list_folders(&mut client).await?;
    for folder in folders {
        let folder_report = import_folder(store, settings, job, progress, &mut client, &folder)
            .await
            .map_err(|e| e.context(format!("folder {}", folder.levels.join("/"))));
        match folder_report {
            Ok(folder_report) => report.folders.push(folder_report),
            Err(e) => {
                client.logout().await;
                return Err(e);
            }
        }
    }
    client.logout().await;
    Ok(())
}

/// `LIST "" "*"` (RFC 9051 6.3.9): selectable folders, INBOX first.
async fn list_folders(client: &mut Client) -> anyhow::Result<Vec<OldFolder>> {
    let mut folders = Vec::new();
    let mut problem = None;
    let done = client
        .command("LIST \"\" \"*\"", |_, response| {
            if let Err(e) = parse_list(&response, &mut folders) {
                problem.get_or_insert(e);
            }
            Ok(())
        })
        .await?;
    if let Some(e) = problem {
        return Err(e);
    }
    if !done.ok {
        bail!("LIST failed: {}", done.line);
    }
    folders.sort_by(|a, b| {
        let inbox = |f: &OldFolder| !f.levels[0].eq_ignore_ascii_case("INBOX");
        (inbox(a), &a.levels).cmp(&(inbox(b), &b.levels))
    });
    Ok(folders)
}

fn value_text(value: &Value, response: &Response) -> Option<String> {
    match value {
        Value::Atom(a) => Some(a.clone()),
        Value::Quoted(q) => Some(String::from_utf8_lossy(q).into_owned()),
        Value::Literal(i) => match response.literals.get(*i) {
            Some(Body::Bytes(bytes, _)) => Some(String::from_utf8_lossy(bytes).into_owned()),
            _ => None,
        },
        Value::List(_) => None,
    }
}

/// `* LIST (attributes) delimiter name` (RFC 9051 7.3.1).
fn parse_list(response: &Response, folders: &mut Vec<OldFolder>) -> anyhow::Result<()> {
    let Some(rest) = response.text.strip_prefix(b"* ") else {
        return Ok(());
    };
    if !rest
        .get(..5)
        .is_some_and(|w| w.eq_ignore_ascii_case(b"LIST "))
    {
        return Ok(());
    }
    let values = parse_values(rest)?;
    let (Some(Value::List(attributes)), Some(delimiter), Some(name)) =
        (values.get(1), values.get(2), values.get(3))
    else {
        bail!("LIST response not understood: {}", response.text_str());
    };
    let attributes: Vec<String> = attributes
        .iter()
        .filter_map(|a| a.atom().map(str::to_string))
        .collect();
    if attributes
        .iter()
        .any(|a| a.eq_ignore_ascii_case("\\Noselect") || a.eq_ignore_ascii_case("\\NonExistent"))
    {
        return Ok(());
    }
    let wire_name = value_text(name, response).ok_or_else(|| anyhow!("LIST without a name"))?;
    let delimiter = match delimiter {
        Value::Quoted(d) => String::from_utf8_lossy(d).into_owned(),
        _ => String::new(),
    };
    // RFC 9051 5.1.3 (RFC 3501 5.1.3): names in modified UTF-7 unless UTF8=ACCEPT is enabled.
    let decoded = imap::protocol::mutf7::decode(&wire_name).unwrap_or_else(|| wire_name.clone());
    let levels = if delimiter.is_empty() {
        vec![decoded]
    } else {
        decoded
            .split(delimiter.as_str())
            .map(str::to_string)
            .collect()
    };
    // RFC 6154 2: the special-use attributes.
    let special_use = attributes.iter().find_map(|a| {
        policy::import::SPECIAL_TARGETS
            .iter()
            .find(|(_, flag)| flag.eq_ignore_ascii_case(a))
            .map(|(_, flag)| flag.to_string())
    });
    folders.push(OldFolder {
        wire_name,
        levels,
        special_use,
    });
    Ok(())
}

/// What the old folder holds: (UID, RFC822.SIZE) in UID order, and fingerprints if asked.
struct Listing {
    uidvalidity: i64,
    messages: Vec<(i64, u64)>,
    fingerprints: HashMap<i64, String>,
}

async fn examine(
    client: &mut Client,
    folder: &OldFolder,
    with_fingerprints: bool,
) -> anyhow::Result<Listing> {
    let mut uidvalidity = None;
    let mut exists = 0u64;
    let done = client
        .command(&format!("EXAMINE {}", quote(&folder.wire_name)), |_, r| {
            let text = r.text_str();
            // RFC 9051 7.1: * OK [UIDVALIDITY n]; 7.4.1: * n EXISTS.
            if let Some(value) = response_code(&text, "UIDVALIDITY") {
                uidvalidity = value.trim().parse::<i64>().ok();
            }
            if let Some(n) = text
                .strip_prefix("* ")
                .and_then(|t| t.strip_suffix(" EXISTS"))
            {
                exists = n.parse().unwrap_or(0);
            }
            Ok(())
        })
        .await?;
    if !done.ok {
        bail!("EXAMINE failed: {}", done.line);
    }
    let uidvalidity = uidvalidity.ok_or_else(|| anyhow!("EXAMINE gave no UIDVALIDITY"))?;
    let mut listing = Listing {
        uidvalidity,
        messages: Vec::new(),
        fingerprints: HashMap::new(),
    };
    if exists == 0 {
        return Ok(listing);
    }
    let items = if with_fingerprints {
        "(UID RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"
    } else {
        "(UID RFC822.SIZE)"
    };
    let mut problem = None;
    let done = client
        .command(&format!("UID FETCH 1:* {items}"), |_, mut response| {
            match parse_fetch(&mut response) {
                Ok(Some(fetch)) => {
                    if let (Some(uid), Some(size)) = (fetch.uid, fetch.size) {
                        listing.messages.push((uid, size));
                        if with_fingerprints {
                            let header = fetch.header.as_deref().unwrap_or_default();
                            listing.fingerprints.insert(
                                uid,
                                fingerprint(size, header, fetch.internal_date.unwrap_or(0)),
                            );
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    problem.get_or_insert(e);
                }
            }
            Ok(())
        })
        .await?;
    if let Some(e) = problem {
        return Err(e);
    }
    if !done.ok {
        bail!("UID FETCH failed: {}", done.line);
    }
    listing.messages.sort_unstable();
    listing.messages.dedup_by_key(|m| m.0);
    Ok(listing)
}

/// The items of one `* n FETCH (...)` response we use.
#[derive(Default)]
struct Fetched {
    uid: Option<i64>,
    size: Option<u64>,
    flags: Option<Vec<String>>,
    internal_date: Option<i64>,
    header: Option<Vec<u8>>,
    body: Option<Body>,
}

/// RFC 9051 7.5.2 FETCH response. Ok(None): not a FETCH response.
fn parse_fetch(response: &mut Response) -> anyhow::Result<Option<Fetched>> {
    let Some(rest) = response.text.strip_prefix(b"* ") else {
        return Ok(None);
    };
    let values = parse_values(rest)?;
    let is_fetch = values
        .get(1)
        .and_then(Value::atom)
        .is_some_and(|a| a.eq_ignore_ascii_case("FETCH"));
    if !is_fetch {
        return Ok(None);
    }
    let Some(Value::List(items)) = values.get(2) else {
        bail!("FETCH response not understood: {}", response.text_str());
    };
    let mut fetched = Fetched::default();
    let mut pairs = items.chunks(2);
    for pair in &mut pairs {
        let [name, value] = pair else { break };
        let Some(name) = name.atom() else { continue };
        let upper = name.to_ascii_uppercase();
        match upper.as_str() {
            "UID" => fetched.uid = value.atom().and_then(|v| v.parse().ok()),
            "RFC822.SIZE" => fetched.size = value.atom().and_then(|v| v.parse().ok()),
            "INTERNALDATE" => {
                if let Value::Quoted(text) = value {
                    fetched.internal_date =
                        policy::import::parse_internal_date(&String::from_utf8_lossy(text));
                }
            }
            "FLAGS" => {
                if let Value::List(flags) = value {
                    fetched.flags = Some(
                        flags
                            .iter()
                            .filter_map(|f| f.atom())
                            // RFC 9051 2.3.2: \Recent is the session's, not the message's.
                            .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
                            .map(str::to_string)
                            .collect(),
                    );
                }
            }
            _ if upper.starts_with("BODY[") => {
                let body = match value {
                    Value::Literal(i) => match response.literals.get_mut(*i) {
                        Some(slot) => std::mem::replace(slot, Body::TooLarge(0)),
                        None => continue,
                    },
                    Value::Quoted(q) => Body::Bytes(Arc::new(q.clone()), None),
                    _ => continue,
                };
                if upper == "BODY[]" {
                    fetched.body = Some(body);
                } else if let Body::Bytes(bytes, _) = body {
                    fetched.header = Some(bytes.to_vec());
                }
            }
            _ => {}
        }
    }
    Ok(Some(fetched))
}

/// The Message-ID field of a header block (unfolded, trimmed), or "".
pub fn message_id(header: &[u8]) -> String {
    let mut lines = header.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.len() >= 11 && line[..11].eq_ignore_ascii_case(b"message-id:") {
            let mut value = line[11..].to_vec();
            while let Some(next) = lines.peek() {
                if next.first().is_some_and(|&b| b == b' ' || b == b'\t') {
                    let next = next.strip_suffix(b"\r").unwrap_or(next);
                    value.extend_from_slice(next);
                    lines.next();
                } else {
                    break;
                }
            }
            return String::from_utf8_lossy(&value).trim().to_string();
        }
    }
    String::new()
}

/// The key of an old message when UIDs cannot be trusted: size, Message-ID, INTERNALDATE.
pub fn fingerprint(size: u64, header: &[u8], internal_date: i64) -> String {
    let text = format!("{size}\n{}\n{internal_date}", message_id(header));
    let hash = storage::blob::blob_id(text.as_bytes());
    format!("imap:{}", &hash[..32])
}

/// A UID sequence set (RFC 9051 9 sequence-set) of ascending UIDs, ranges joined.
fn uid_set(uids: &[i64]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

async fn import_folder(
    store: &Store,
    settings: &Settings,
    job: &Job,
    progress: &Arc<AccountProgress>,
    client: &mut Client,
    folder: &OldFolder,
) -> anyhow::Result<FolderReport> {
    let target_name = settings
        .folder_map
        .target(&folder.levels, folder.special_use.as_deref());
    let folder_id = super::ensure_folder(store, job.account_id, &target_name).await?;
    let place = ImportPlace {
        account_id: job.account_id,
        source: format!("{} {}", settings.source_url, job.old_login),
        folder: folder.wire_name.clone(),
    };
    let mark = store.import_mark(&place).await?;
    let known_keys = store.import_keys(folder_id).await?;
    // Peek at UIDVALIDITY first through the plain listing; re-scan only when it changed (or
    // keys exist from an import whose mark is gone).
    let mut listing = examine(client, folder, false).await?;
    let rescan = match mark {
        Some(mark) => mark.uidvalidity != listing.uidvalidity,
        None => known_keys.iter().any(|k| k.starts_with("imap:")),
    };
    if rescan && !listing.messages.is_empty() {
        listing = examine(client, folder, true).await?;
    }
    let mut report = FolderReport {
        old_folder: folder.levels.join("/"),
        new_folder: target_name,
        old_messages: listing.messages.len() as u64,
        old_bytes: listing.messages.iter().map(|m| m.1).sum(),
        ..FolderReport::default()
    };
    // Which old UIDs to fetch, and the key each is stored under.
    let mut wanted: Vec<(i64, u64)> = Vec::new();
    let mut exact_keys: HashMap<i64, String> = HashMap::new();
    if rescan {
        let mut seen: HashMap<&str, u64> = HashMap::new();
        for (uid, size) in &listing.messages {
            let Some(fp) = listing.fingerprints.get(uid) else {
                continue;
            };
            let n = seen.entry(fp.as_str()).or_insert(0);
            *n += 1;
            let key = format!("{fp}#{n}");
            if !known_keys.contains(&key) {
                wanted.push((*uid, *size));
                exact_keys.insert(*uid, key);
            }
        }
    } else {
        let after = mark.map_or(0, |m| m.last_uid);
        wanted.extend(listing.messages.iter().filter(|m| m.0 > after));
    }
    drop(known_keys);
    let (mut skipped, mut imported, mut imported_bytes) = (Vec::new(), 0u64, 0u64);
    let wanted_bytes: u64 = wanted.iter().map(|w| w.1).sum();
    progress.add_total(wanted.len() as u64, wanted_bytes);
    let sink = Sink::start(
        store.clone(),
        Target {
            folder_id,
            place: Some((place, listing.uidvalidity)),
            check_quota: !settings.ignore_quota,
        },
        progress.clone(),
    );
    let mut failed = false;
    for chunk in wanted.chunks(UIDS_PER_FETCH) {
        let uids: Vec<i64> = chunk.iter().map(|c| c.0).collect();
        let wanted_set: HashSet<i64> = uids.iter().copied().collect();
        let mut problem = None;
        let command = format!(
            "UID FETCH {} (UID FLAGS INTERNALDATE BODY.PEEK[])",
            uid_set(&uids)
        );
        let done = client
            .command(&command, |_, mut response| {
                if failed {
                    return Ok(());
                }
                let fetched = match parse_fetch(&mut response) {
                    Ok(Some(f)) => f,
                    Ok(None) => return Ok(()),
                    Err(e) => {
                        problem.get_or_insert(e);
                        return Ok(());
                    }
                };
                drop(response);
                let (Some(uid), Some(body)) = (fetched.uid, fetched.body) else {
                    return Ok(()); // an unsolicited flag update
                };
                if !wanted_set.contains(&uid) {
                    return Ok(());
                }
                let (raw, permit) = match body {
                    Body::Bytes(raw, permit) => (raw, permit),
                    Body::TooLarge(size) => {
                        skipped.push(Skipped {
                            what: format!("UID {uid}"),
                            size,
                            reason: format!(
                                "larger than --max-message-size ({} bytes)",
                                settings.max_message_size
                            ),
                        });
                        failed |= sink.mark(uid).is_err();
                        return Ok(());
                    }
                };
                let internal_date = fetched.internal_date.unwrap_or_else(storage::now);
                let key = match exact_keys.remove(&uid) {
                    Some(key) => ImportKey::Exact(key),
                    None => ImportKey::Numbered(fingerprint(
                        raw.len() as u64,
                        header_of(&raw),
                        internal_date,
                    )),
                };
                imported += 1;
                imported_bytes += raw.len() as u64;
                let message = ImportMessage {
                    raw,
                    flags: Flags::from_names(fetched.flags.unwrap_or_default()),
                    internal_date,
                    key,
                };
                failed |= sink.push(message, Some(uid), permit).is_err();
                Ok(())
            })
            .await?;
        if let Some(e) = problem {
            return Err(e);
        }
        if !done.ok {
            bail!("UID FETCH failed: {}", done.line);
        }
        if failed {
            break;
        }
    }
    if !failed {
        if let Some(last) = listing.messages.last() {
            let _ = sink.mark(last.0);
        } else {
            let _ = sink.mark(0);
        }
    }
    sink.finish().await?;
    let counts = store.folder_counts(folder_id).await?;
    report.imported = imported;
    report.imported_bytes = imported_bytes;
    report.skipped = skipped;
    report.new_messages = counts.messages as u64;
    report.new_bytes = counts.size as u64;
    report.verify();
    Ok(report)
}

/// The header block of a message (up to and including the blank line).
pub fn header_of(raw: &[u8]) -> &[u8] {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|p| p + 2))
        .unwrap_or(raw.len());
    &raw[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_and_ids() {
        assert_eq!(uid_set(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(uid_set(&[4]), "4");
        let header = b"Subject: x\r\nMessage-ID:\r\n <a@b>\r\n\r\nMessage-ID: <no>\r\n";
        assert_eq!(message_id(header), "<a@b>");
        assert_eq!(message_id(b"Subject: x\r\n\r\n"), "");
        assert_eq!(header_of(b"A: b\r\n\r\nbody"), b"A: b\r\n\r\n");
        assert_ne!(fingerprint(1, b"", 0), fingerprint(2, b"", 0));
    }
}
