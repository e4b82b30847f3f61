//! What IMAP SORT and THREAD (RFC 5256, RFC 5957) read of a message: the sent date, the decoded
//! subject, the first From/To/Cc address and the message-id fields. Computed once from the
//! stored parse and the header block when the message is stored, kept in `message_sort` keyed by
//! blob (the same bytes always give the same record, so a COPY adds nothing), and read for a
//! whole folder in one query: sorting 50,000 messages reads no body and no stored parse. Read
//! records stay in memory ([`CACHE_BYTES`]), so sorting again reads only new messages'.
//!
//! Messages stored before this table existed have no row; [`Store::sort_records`] computes
//! theirs from the stored parse and header block and writes them back, so that happens once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sqlx::Row;

use crate::meta::{MailAddr, MessageMeta};
use crate::{MessageRow, Result, Store};

/// Longest subject kept, in bytes (the rest cannot change a sort in practice).
pub const MAX_SUBJECT: usize = 4096;
/// Longest display name, address or message-id kept, in bytes.
pub const MAX_FIELD: usize = 1024;
/// Most bytes of References kept: the end of the field (the nearest ancestors), from a `<`.
pub const MAX_REFERENCES: usize = 16 * 1024;

/// The first address of an address field: display name (decoded) and `mailbox@host`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortAddr {
    pub name: Option<String>,
    pub address: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortRecord {
    /// The Date: header as Unix seconds (UTC); None when absent or unparseable.
    pub sent_date: Option<i64>,
    /// The Subject, RFC 2047-decoded and unfolded; None when absent.
    pub subject: Option<String>,
    pub from: Option<SortAddr>,
    pub to: Option<SortAddr>,
    pub cc: Option<SortAddr>,
    /// Message-ID, In-Reply-To and References as written (unfolded).
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub references: Option<String>,
}

/// `text` cut to at most `max` bytes at a character boundary.
fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// The last `max` bytes of a References value, starting at a `<` so no msg-id is cut.
fn tail_references(text: &str) -> String {
    if text.len() <= MAX_REFERENCES {
        return text.to_string();
    }
    let from = text.len() - MAX_REFERENCES;
    match text[from..].find('<') {
        Some(i) => text[from + i..].to_string(),
        None => String::new(),
    }
}

/// The first mailbox of an address list; group markers (RFC 5322 3.4) are not addresses.
fn first_address(list: &[MailAddr]) -> Option<SortAddr> {
    list.iter()
        .find(|a| a.group.is_none() && (a.address.is_some() || a.name.is_some()))
        .map(|a| SortAddr {
            name: a.name.as_deref().map(|n| bounded(n, MAX_FIELD)),
            address: a.address.as_deref().map(|x| bounded(x, MAX_FIELD)),
        })
}

/// The unfolded value of the first `name` field of a header block.
fn header_field(header: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(header);
    let mut value: Option<String> = None;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(v) = value.as_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if value.is_some() {
            break;
        }
        if let Some((field, rest)) = line.split_once(':') {
            if field.trim_end().eq_ignore_ascii_case(name) {
                value = Some(rest.trim().to_string());
            }
        }
    }
    value
}

impl SortRecord {
    /// The record of a message from its bytes and its stored parse (the header block is
    /// `raw[..meta.root.offset_body]`).
    pub fn of(raw: &[u8], meta: &MessageMeta) -> SortRecord {
        let envelope = &meta.envelope;
        let header_end = (meta.root.offset_body as usize).min(raw.len());
        let references = header_field(&raw[..header_end], "References")
            .map(|r| tail_references(&r))
            .filter(|r| !r.is_empty());
        SortRecord {
            sent_date: envelope.date_ts,
            subject: envelope.subject.as_deref().map(|s| bounded(s, MAX_SUBJECT)),
            from: first_address(&envelope.from),
            to: first_address(&envelope.to),
            cc: first_address(&envelope.cc),
            message_id: envelope
                .message_id
                .as_deref()
                .map(|s| bounded(s, MAX_FIELD)),
            in_reply_to: envelope
                .in_reply_to
                .as_deref()
                .map(|s| bounded(s, MAX_FIELD)),
            references,
        }
    }
}

/// Bytes (estimated) of records kept in memory: a 50,000-message folder sorts again without
/// reading them from the database. Records never change (a message's bytes never do), so the
/// cache needs no invalidation; like the parse cache it keeps two generations and drops the
/// older one whole when the young one is full.
pub const CACHE_BYTES: usize = 48 << 20;

#[derive(Default)]
struct Generations {
    young: HashMap<i64, Arc<SortRecord>>,
    young_bytes: usize,
    old: HashMap<i64, Arc<SortRecord>>,
}

/// Sort records read or computed, by message id.
#[derive(Default)]
pub(crate) struct SortCache {
    inner: Mutex<Generations>,
}

fn estimated_size(r: &SortRecord) -> usize {
    let text = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    let addr = |a: &Option<SortAddr>| {
        a.as_ref()
            .map_or(0, |a| text(&a.name) + text(&a.address) + 48)
    };
    160 + text(&r.subject)
        + addr(&r.from)
        + addr(&r.to)
        + addr(&r.cc)
        + text(&r.message_id)
        + text(&r.in_reply_to)
        + text(&r.references)
}

impl SortCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, g: &mut Generations, message_id: i64) -> Option<Arc<SortRecord>> {
        if let Some(r) = g.young.get(&message_id) {
            return Some(r.clone());
        }
        let r = g.old.remove(&message_id)?;
        self.put(g, message_id, r.clone());
        Some(r)
    }

    fn put(&self, g: &mut Generations, message_id: i64, record: Arc<SortRecord>) {
        let size = estimated_size(&record);
        if g.young_bytes + size > CACHE_BYTES / 2 {
            g.old = std::mem::take(&mut g.young);
            g.young_bytes = 0;
        }
        if g.young.insert(message_id, record).is_none() {
            g.young_bytes += size;
        }
    }
}

const COLUMNS: &str = "sent_date, subject, from_name, from_addr, to_name, to_addr, cc_name, \
     cc_addr, message_id, in_reply_to, refs";

fn record_from_row(r: &sqlx::any::AnyRow, first: usize) -> SortRecord {
    let text = |i: usize| r.get::<Option<String>, _>(first + i);
    let addr = |i: usize| {
        let (name, address) = (text(i), text(i + 1));
        (name.is_some() || address.is_some()).then_some(SortAddr { name, address })
    };
    SortRecord {
        sent_date: r.get::<Option<i64>, _>(first),
        subject: text(1),
        from: addr(2),
        to: addr(4),
        cc: addr(6),
        message_id: text(8),
        in_reply_to: text(9),
        references: text(10),
    }
}

impl Store {
    /// Inside a transaction: records for these blobs (a blob that has one keeps it).
    pub(crate) async fn insert_sort_records_in(
        conn: &mut crate::conn::Conn<'_>,
        records: &[(&str, &SortRecord)],
    ) -> Result<()> {
        for chunk in records.chunks(50) {
            let rows = crate::value_rows(chunk.len(), 12);
            let sql = format!(
                "INSERT INTO message_sort (blob_id, {COLUMNS}) VALUES {} \
                 ON CONFLICT (blob_id) DO NOTHING",
                rows
            );
            let mut query = crate::conn::stmt(sql);
            for (blob_id, r) in chunk {
                let part = |a: &Option<SortAddr>| {
                    let a = a.as_ref();
                    (
                        a.and_then(|a| a.name.clone()),
                        a.and_then(|a| a.address.clone()),
                    )
                };
                let (from_name, from_addr) = part(&r.from);
                let (to_name, to_addr) = part(&r.to);
                let (cc_name, cc_addr) = part(&r.cc);
                query = query
                    .bind(*blob_id)
                    .bind(r.sent_date)
                    .bind(r.subject.clone())
                    .bind(from_name)
                    .bind(from_addr)
                    .bind(to_name)
                    .bind(to_addr)
                    .bind(cc_name)
                    .bind(cc_addr)
                    .bind(r.message_id.clone())
                    .bind(r.in_reply_to.clone())
                    .bind(r.references.clone());
            }
            query.execute(conn).await?;
        }
        Ok(())
    }

    /// The sort records of `rows` (messages of `folder_id`), by message id. One query reads the
    /// stored records; a message stored before they existed gets its record computed from its
    /// stored parse and header block, and written back for next time.
    pub async fn sort_records(
        &self,
        folder_id: i64,
        rows: &[&MessageRow],
    ) -> Result<HashMap<i64, Arc<SortRecord>>> {
        let mut out: HashMap<i64, Arc<SortRecord>> = HashMap::with_capacity(rows.len());
        let mut uncached = vec![];
        {
            let mut g = self.sort_cache.lock();
            for row in rows {
                match self.sort_cache.get(&mut g, row.id) {
                    Some(r) => {
                        out.insert(row.id, r);
                    }
                    None => uncached.push(row.id),
                }
            }
        }
        if uncached.is_empty() {
            return Ok(out);
        }
        let columns = COLUMNS
            .split(", ")
            .map(|c| format!("s.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let base = format!(
            "SELECT m.id, {columns} FROM messages m JOIN message_sort s ON s.blob_id = m.blob_id \
             WHERE m.folder_id = $1"
        );
        // A few new messages: only theirs; many: the whole folder in one pass.
        let mut found = vec![];
        if uncached.len() <= 2000 {
            for chunk in uncached.chunks(500) {
                let placeholders: Vec<String> =
                    (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
                let sql = format!("{base} AND m.id IN ({})", placeholders.join(", "));
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(folder_id);
                for id in chunk {
                    query = query.bind(*id);
                }
                found.extend(query.fetch_all(&self.pool).await?);
            }
        } else {
            found = sqlx::query(sqlx::AssertSqlSafe(base))
                .bind(folder_id)
                .fetch_all(&self.pool)
                .await?;
        }
        {
            let mut g = self.sort_cache.lock();
            for r in &found {
                let id = r.get::<i64, _>(0);
                let record = Arc::new(record_from_row(r, 1));
                self.sort_cache.put(&mut g, id, record.clone());
                out.insert(id, record);
            }
        }
        let missing: Vec<&MessageRow> = rows
            .iter()
            .copied()
            .filter(|r| !out.contains_key(&r.id))
            .collect();
        if missing.is_empty() {
            return Ok(out);
        }
        let ids: Vec<i64> = missing.iter().map(|r| r.id).collect();
        let metas = self.message_metas(folder_id, &ids).await?;
        let mut computed: Vec<(String, SortRecord)> = Vec::with_capacity(missing.len());
        for row in missing {
            let Some(meta) = metas.get(&row.id) else {
                continue;
            };
            let mut blob = self.open_blob(&row.blob_id, row.size).await?;
            let header = blob.read_range(0, u64::from(meta.root.offset_body)).await?;
            let record = SortRecord::of(&header, meta);
            let shared = Arc::new(record.clone());
            self.sort_cache
                .put(&mut self.sort_cache.lock(), row.id, shared.clone());
            out.insert(row.id, shared);
            computed.push((row.blob_id.to_string(), record));
        }
        let n = computed.len();
        let written = self
            .write(move |tx| {
                Box::pin(async move {
                    let refs: Vec<(&str, &SortRecord)> =
                        computed.iter().map(|(b, r)| (b.as_str(), r)).collect();
                    Self::insert_sort_records_in(&mut crate::conn::Conn::Sqlx(&mut *tx), &refs)
                        .await
                })
            })
            .await;
        if let Err(e) = written {
            // The answer is complete without them; they are computed again next time.
            tracing::warn!(error = %e, n, "could not store computed sort records");
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_from_a_vietnamese_message() {
        let raw = "From: =?UTF-8?B?VHLhuqduIFRo4buLIELDrG5o?= <ttbinh@x.vn>\r\n\
To: undisclosed-recipients:;, =?UTF-8?Q?=C4=90=E1=BB=A9c?= <duc@x.vn>\r\n\
Subject: =?UTF-8?Q?Re=3A_C=C3=B4ng_v=C4=83n?=\r\n\
Date: Mon, 23 Nov 2026 10:00:00 +0700\r\n\
Message-ID: <b@x.vn>\r\nIn-Reply-To: <a@x.vn>\r\nReferences: <r@x.vn>\r\n <a@x.vn>\r\n\r\nbody\r\n";
        let meta = MessageMeta::compute(raw.as_bytes());
        let r = SortRecord::of(raw.as_bytes(), &meta);
        assert_eq!(r.subject.as_deref(), Some("Re: Công văn"));
        assert_eq!(r.sent_date, Some(1_795_402_800));
        let from = r.from.unwrap();
        assert_eq!(from.name.as_deref(), Some("Trần Thị Bình"));
        assert_eq!(from.address.as_deref(), Some("ttbinh@x.vn"));
        // The empty group is skipped: the first mailbox is Đức.
        assert_eq!(r.to.unwrap().name.as_deref(), Some("Đức"));
        assert_eq!(r.cc, None);
        assert_eq!(r.message_id.as_deref(), Some("<b@x.vn>"));
        assert_eq!(r.in_reply_to.as_deref(), Some("<a@x.vn>"));
        assert_eq!(r.references.as_deref(), Some("<r@x.vn> <a@x.vn>"));
    }

    #[test]
    fn bounds_cut_at_boundaries() {
        let subject = "ệ".repeat(MAX_SUBJECT);
        assert_eq!(bounded(&subject, MAX_SUBJECT).len(), MAX_SUBJECT - 1);
        let refs: String = (0..2000).map(|i| format!("<id{i}@x.vn> ")).collect();
        let tail = tail_references(&refs);
        assert!(tail.len() <= MAX_REFERENCES);
        assert!(tail.starts_with('<'));
        assert!(tail.ends_with("<id1999@x.vn> "));
        // A body line that looks like a header is not read.
        assert_eq!(
            header_field(b"A: 1\r\n\r\nReferences: <x>\r\n", "references"),
            None
        );
    }
}
