//! Folder listings (the small columns of every message of a folder) kept in memory between
//! commands and shared by every session on the folder. A listing is valid for the folder's
//! HIGHESTMODSEQ it was read at; when the folder has moved on, only the rows changed since and
//! the UIDs expunged since are read and applied. Every change to a folder's messages raises
//! its HIGHESTMODSEQ in the same transaction (the same rule IMAP's CONDSTORE/QRESYNC catch-up
//! relies on).
//!
//! A listing is current after that check. In the serving process
//! ([`Store::trusting_announced_changes`]) the check itself is skipped
//! while nothing was announced for the folder since (every change made through this process
//! is, by `Store::notify_change`; on PostgreSQL so are the other nodes', relayed from NOTIFY)
//! and the last check is less than [`RECHECK`] old: a change made by another process (the CLI
//! on SQLite) shows within that.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{MessageRow, Result, Store};

/// The longest a folder's listing, or an IMAP session's view of it, is taken as current
/// without reading the folder while no change to it is announced.
pub const RECHECK: Duration = Duration::from_millis(100);

/// Announcement counters, folder ids hashed onto them (two folders sharing one only cost a
/// check more).
const ANNOUNCE_SLOTS: usize = 4096;

/// Listings are dropped (all of them) once they hold more rows than this; a single larger
/// listing is not kept.
const MAX_ROWS: usize = 250_000;

#[derive(Debug, Clone)]
pub struct Listing {
    pub highestmodseq: i64,
    /// In UID order.
    pub rows: Vec<MessageRow>,
    totals: Totals,
}

/// What a listing counts of its rows, kept as rows come and go.
#[derive(Debug, Clone, Default)]
struct Totals {
    /// STATUS's counts.
    counts: crate::FolderCounts,
    /// Rows without their body's document (`MessageRow::doc`).
    unknown_docs: usize,
}

impl Totals {
    /// Adds (`sign` 1) or takes out (-1) a row's share.
    fn add(&mut self, row: &MessageRow, sign: i64) {
        self.unknown_docs = self
            .unknown_docs
            .wrapping_add_signed(sign as isize * isize::from(row.doc.is_none()));
        let counts = &mut self.counts;
        counts.messages += sign;
        counts.unseen += sign * i64::from(!row.flags.contains("\\Seen"));
        counts.deleted += sign * i64::from(row.flags.contains("\\Deleted"));
        counts.size += sign * row.size;
    }
}

impl Listing {
    fn new(highestmodseq: i64, rows: Vec<MessageRow>) -> Listing {
        let mut totals = Totals::default();
        for row in &rows {
            totals.add(row, 1);
        }
        Listing {
            highestmodseq,
            rows,
            totals,
        }
    }

    /// This listing moved on to `highestmodseq`, edited where it is: each `changed` row
    /// replaces its UID's (or is put in at its place, at the end for a new message), the UIDs
    /// in `gone` (in UID order, as read) are taken out. The totals move by the rows that
    /// changed, not recounted.
    fn advance(&mut self, changed: &[MessageRow], gone: &[i64], highestmodseq: i64) {
        debug_assert!(gone.is_sorted());
        let totals = &mut self.totals;
        for new in changed {
            totals.add(new, 1);
            match self.rows.binary_search_by_key(&new.uid, |r| r.uid) {
                Ok(i) => totals.add(&std::mem::replace(&mut self.rows[i], new.clone()), -1),
                Err(i) => self.rows.insert(i, new.clone()),
            }
        }
        if !gone.is_empty() {
            self.rows.retain(|row| {
                let kept = gone.binary_search(&row.uid).is_err();
                if !kept {
                    totals.add(row, -1);
                }
                kept
            });
        }
        self.highestmodseq = highestmodseq;
    }

    /// Messages, those without \Seen, those with \Deleted, and their size (STATUS).
    pub fn counts(&self) -> crate::FolderCounts {
        self.totals.counts.clone()
    }

    /// The rows an index answer cannot rule out (in UID order): their document was found, the
    /// index is unsure of them, or the row came without its document.
    pub fn rows_matching<'a>(
        &'a self,
        answer: &'a crate::search_index::IndexAnswer,
    ) -> impl Iterator<Item = &'a MessageRow> + 'a {
        self.rows.iter().filter(|r| {
            (!answer.unsure.is_empty() && answer.unsure.contains(&r.id))
                || r.doc.is_none_or(|doc| answer.docs.contains(doc))
        })
    }

    /// How many rows came without their body's document: bodies not indexed when the rows
    /// were read (an index answer cannot rule them out).
    pub fn unknown_docs(&self) -> usize {
        self.totals.unknown_docs
    }
}

/// A kept listing: when it was last found current, and the folder's announcement count then.
#[derive(Clone)]
struct Kept {
    listing: Arc<Listing>,
    announced: u64,
    checked: Instant,
}

pub struct ListingCache {
    inner: Mutex<(HashMap<i64, Kept>, usize)>,
    announced: Box<[AtomicU64]>,
}

impl Default for ListingCache {
    fn default() -> ListingCache {
        ListingCache {
            inner: Default::default(),
            announced: (0..ANNOUNCE_SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl ListingCache {
    fn slot(&self, folder_id: i64) -> &AtomicU64 {
        &self.announced[folder_id.rem_euclid(ANNOUNCE_SLOTS as i64) as usize]
    }

    /// A change to the folder was committed (called after the commit).
    pub(crate) fn announce(&self, folder_id: i64) {
        self.slot(folder_id).fetch_add(1, Ordering::AcqRel);
    }

    fn announced(&self, folder_id: i64) -> u64 {
        self.slot(folder_id).load(Ordering::Acquire)
    }

    /// Whether a listing of the folder is kept.
    pub(crate) fn holds(&self, folder_id: i64) -> bool {
        let guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        guard.0.contains_key(&folder_id)
    }

    fn get(&self, folder_id: i64) -> Option<Kept> {
        let guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        guard.0.get(&folder_id).cloned()
    }

    /// Keeps `listing` as found current when the announcement count was `announced`.
    fn put(&self, folder_id: i64, listing: Arc<Listing>, announced: u64) {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (map, rows) = &mut *guard;
        if let Some(old) = map.remove(&folder_id) {
            *rows -= old.listing.rows.len();
        }
        if listing.rows.len() > MAX_ROWS {
            // Too large to keep: read again next time rather than evict everything else.
            return;
        }
        if *rows + listing.rows.len() > MAX_ROWS {
            map.clear();
            *rows = 0;
        }
        *rows += listing.rows.len();
        let checked = Instant::now();
        map.insert(
            folder_id,
            Kept {
                listing,
                announced,
                checked,
            },
        );
    }

    /// Moves `listing` (the caller's copy of the kept listing, read at its MODSEQ) on by the
    /// changes since, in place ([`Listing::advance`]) when it is still the kept one and the
    /// caller's copy was the only other holder. Ok with the listing moved on, or with the
    /// kept one when another catch-up already brought it at least to `highestmodseq`; Err
    /// with a listing at the caller's MODSEQ, for the caller to copy and move on.
    fn advance_kept(
        &self,
        folder_id: i64,
        listing: Arc<Listing>,
        (changed, gone): (&[MessageRow], &[i64]),
        highestmodseq: i64,
        announced: u64,
    ) -> Result<Arc<Listing>, Arc<Listing>> {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (map, rows) = &mut *guard;
        let Some(kept) = map.get_mut(&folder_id) else {
            return Err(listing);
        };
        if !Arc::ptr_eq(&kept.listing, &listing) {
            // Replaced meanwhile (nobody edits a listing in place while the caller holds it).
            if kept.listing.highestmodseq >= highestmodseq {
                return Ok(kept.listing.clone());
            }
            return Err(listing);
        }
        // Under the lock nobody takes a new copy from the cache.
        drop(listing);
        let Some(edited) = Arc::get_mut(&mut kept.listing) else {
            return Err(kept.listing.clone());
        };
        let before = edited.rows.len();
        edited.advance(changed, gone, highestmodseq);
        *rows = *rows + edited.rows.len() - before;
        kept.announced = announced;
        kept.checked = Instant::now();
        let advanced = kept.listing.clone();
        // The bound as `put` keeps it: a listing alone over it is not kept; else the others
        // go when all together are over it.
        if advanced.rows.len() > MAX_ROWS {
            map.remove(&folder_id);
            *rows -= advanced.rows.len();
        } else if *rows > MAX_ROWS {
            map.retain(|id, _| *id == folder_id);
            *rows = advanced.rows.len();
        }
        Ok(advanced)
    }

    pub(crate) fn forget(&self, folder_id: i64) {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (map, rows) = &mut *guard;
        if let Some(old) = map.remove(&folder_id) {
            *rows -= old.listing.rows.len();
        }
    }
}

/// Field and row separators of a packed listing: control characters, which no stored value
/// holds (numbers, hex blob ids, flags that are IMAP atoms); a row that does not split into
/// its nine fields makes the whole text refused (and the rows read one by one).
const FIELD: char = '\u{1f}';
const ROW: char = '\u{1e}';

/// The rows of a packed listing, or None when the text is not one.
fn unpack(text: &str) -> Option<Vec<MessageRow>> {
    let mut rows = Vec::with_capacity(text.len() / 100 + 1);
    for row in text.split(ROW).filter(|r| !r.is_empty()) {
        let mut f = row.split(FIELD);
        let mut int = || f.next()?.parse::<i64>().ok();
        let (id, folder_id, uid, modseq) = (int()?, int()?, int()?, int()?);
        let flags = f.next()?;
        let mut int = || f.next()?.parse::<i64>().ok();
        let (internal_date, size) = (int()?, int()?);
        let blob_id = f.next()?;
        let doc = match f.next()? {
            "" => None,
            doc => Some(doc.parse::<i64>().ok()?),
        };
        if f.next().is_some() {
            return None;
        }
        rows.push(MessageRow {
            id,
            folder_id,
            uid,
            modseq,
            flags: crate::Flags::from_stored(flags),
            internal_date,
            size,
            blob_id: blob_id.into(),
            doc,
        });
    }
    Some(rows)
}

impl Store {
    /// This store, for the serving process: a folder's listing, and an IMAP session's view of
    /// it, are taken as current without reading the folder while no change to it has been
    /// announced since the last read, at most [`RECHECK`] long. Every change made through
    /// this process is announced (`Store::notify_change`), and on PostgreSQL so are the other
    /// nodes' (relayed from NOTIFY); a change another process makes (the CLI on SQLite) shows
    /// within `RECHECK`. Without it (CLI commands, tests) every look is a read.
    pub fn trusting_announced_changes(mut self) -> Store {
        self.announced_only = true;
        self
    }

    /// Whether a listing of the folder is kept in memory (taking rows from it reads little).
    pub fn keeps_listing(&self, folder_id: i64) -> bool {
        self.listings.holds(folder_id)
    }

    /// See [`Store::trusting_announced_changes`].
    pub fn trusts_announced_changes(&self) -> bool {
        self.announced_only
    }

    /// Drops the kept listings of these folders (their rows changed without a new MODSEQ:
    /// bodies indexed after the rows were read).
    pub(crate) fn forget_listings(&self, folders: &std::collections::BTreeSet<i64>) {
        for folder_id in folders {
            self.listings.forget(*folder_id);
        }
    }

    /// The `messages` column a listing reads as each body's document: `doc`, or NULL on a
    /// schema before it (migration 0019).
    pub(crate) fn doc_column(&self) -> &'static str {
        if self.message_docs {
            "doc"
        } else {
            "CAST(NULL AS BIGINT)"
        }
    }

    /// SQLite: a folder's rows as one text (one value across the connection's thread instead
    /// of a row each: a 100,000-message folder read in ~0.1 s instead of ~0.4 s). None when a
    /// value held a separator.
    pub(crate) async fn read_folder_rows_packed(
        &self,
        folder_id: i64,
    ) -> Result<Option<Vec<MessageRow>>> {
        // concat_ws leaves a NULL out: the document is written as '' then.
        let doc = if self.message_docs {
            "ifnull(doc, '')"
        } else {
            "''"
        };
        let sql = format!(
            "SELECT group_concat(concat_ws(char(31), id, folder_id, uid, modseq, flags, \
             internal_date, size, blob_id, {doc}), char(30) ORDER BY uid) \
             FROM messages WHERE folder_id = $1"
        );
        let text: Option<String> = self.read(sql).bind(folder_id).fetch_scalar().await?;
        Ok(match text {
            None => Some(vec![]),
            Some(text) => unpack(&text),
        })
    }

    /// Every message of a folder in UID order, from the shared listing when it is current.
    /// An unknown folder has none.
    pub async fn listing(&self, folder_id: i64) -> Result<Arc<Listing>> {
        self.listing_at_least(folder_id, 0).await
    }

    /// [`Store::listing`], not older than `highestmodseq` (a folder row the caller read):
    /// a listing kept without a check is taken only when it is at least that new, so that a
    /// fresh folder row is never paired with an older listing (SELECT reports both).
    pub async fn listing_at_least(
        &self,
        folder_id: i64,
        highestmodseq: i64,
    ) -> Result<Arc<Listing>> {
        // Read before the folder: a change announced from here on is checked for next time.
        let announced = self.listings.announced(folder_id);
        let cached = self.listings.get(folder_id);
        if let Some(kept) = cached.as_ref().filter(|_| self.announced_only) {
            if kept.announced == announced
                && kept.checked.elapsed() < RECHECK
                && kept.listing.highestmodseq >= highestmodseq
            {
                return Ok(kept.listing.clone());
            }
        }
        let highest: Option<i64> = self
            .read("SELECT highestmodseq FROM folders WHERE id = $1")
            .bind(folder_id)
            .fetch_optional_scalar()
            .await?;
        let Some(highest) = highest else {
            self.listings.forget(folder_id);
            return Ok(Arc::new(Listing::new(0, vec![])));
        };
        let listing = match cached.map(|kept| kept.listing) {
            Some(listing) if listing.highestmodseq == highest => {
                self.listings.put(folder_id, listing.clone(), announced);
                return Ok(listing);
            }
            Some(listing) if listing.highestmodseq < highest => {
                // Rows read below may already hold changes newer than `highest`: applying
                // them again at the next catch-up is harmless (the same values).
                let from = listing.highestmodseq;
                let changed = self.messages_changed_since(folder_id, from).await?;
                let gone = self.expunged_since(folder_id, from).await?;
                // Handed over: the kept one moves on in place when the cache is then its
                // only holder; else a copy moves on.
                let changes = (changed.as_slice(), gone.as_slice());
                match self
                    .listings
                    .advance_kept(folder_id, listing, changes, highest, announced)
                {
                    Ok(advanced) => return Ok(advanced),
                    Err(listing) => {
                        let mut next = Listing::clone(&listing);
                        next.advance(&changed, &gone, highest);
                        next
                    }
                }
            }
            _ => Listing::new(highest, self.read_folder_rows(folder_id).await?),
        };
        let listing = Arc::new(listing);
        self.listings.put(folder_id, listing.clone(), announced);
        Ok(listing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(uid: i64, flags: &str) -> MessageRow {
        MessageRow {
            id: uid * 10,
            folder_id: 1,
            uid,
            modseq: uid,
            flags: flags.into(),
            internal_date: 0,
            size: 1,
            blob_id: "".into(),
            doc: None,
        }
    }

    /// The listing of `rows` at MODSEQ 1 moved on to 2; its totals are those of a recount.
    fn advanced(rows: Vec<MessageRow>, changed: Vec<MessageRow>, gone: &[i64]) -> Listing {
        let mut listing = Listing::new(1, rows);
        listing.advance(&changed, gone, 2);
        let recounted = Listing::new(2, listing.rows.clone());
        assert_eq!(listing.totals.counts, recounted.totals.counts);
        assert_eq!(listing.totals.unknown_docs, recounted.totals.unknown_docs);
        assert_eq!(listing.highestmodseq, 2);
        listing
    }

    #[test]
    fn changes_apply_in_uid_order() {
        let rows = vec![row(1, ""), row(2, ""), row(4, "")];
        let out = advanced(rows, vec![row(2, "\\Seen"), row(5, "")], &[1, 3]);
        let uids: Vec<i64> = out.rows.iter().map(|r| r.uid).collect();
        assert_eq!(uids, vec![2, 4, 5]);
        assert_eq!(out.rows[0].flags, "\\Seen");
        assert_eq!(out.highestmodseq, 2);
        // New rows before, between and after the kept ones; a changed row expunged since
        // (its change read before the expunge) stays out; an expunge of a UID never seen
        // is no harm.
        let rows = vec![row(3, ""), row(6, ""), row(9, "")];
        let changed = vec![
            row(1, "a"),
            row(4, "b"),
            row(6, "c"),
            row(7, "d"),
            row(12, "e"),
        ];
        let out = advanced(rows, changed, &[2, 7, 9]);
        let got: Vec<(i64, &str)> = out.rows.iter().map(|r| (r.uid, r.flags.as_str())).collect();
        assert_eq!(got, vec![(1, "a"), (3, ""), (4, "b"), (6, "c"), (12, "e")]);
        assert!(advanced(vec![], vec![], &[1]).rows.is_empty());
        // Many UIDs gone at once.
        let rows: Vec<MessageRow> = (1..=40).map(|uid| row(uid, "")).collect();
        let gone: Vec<i64> = (1..=40).filter(|uid| uid % 2 == 0).collect();
        let out = advanced(rows, vec![row(3, "x"), row(41, "")], &gone);
        assert_eq!(out.rows.len(), 21);
        assert_eq!((out.rows[1].uid, out.rows[1].flags.as_str()), (3, "x"));
    }

    #[test]
    fn a_kept_listing_is_edited_in_place_only_while_nobody_else_holds_it() {
        let cache = ListingCache::default();
        let listing = Arc::new(Listing::new(5, vec![row(1, ""), row(2, "")]));
        cache.put(7, listing.clone(), 0);
        // Held elsewhere too (a session's command): not touched; the caller gets it back.
        let changed = vec![row(2, "\\Seen")];
        let handed = cache.get(7).unwrap().listing;
        let back = cache
            .advance_kept(7, handed, (&changed, &[]), 6, 1)
            .unwrap_err();
        assert!(Arc::ptr_eq(&back, &listing));
        assert_eq!(
            (listing.highestmodseq, listing.rows[1].flags.as_str()),
            (5, "")
        );
        drop((back, listing));
        // Not the kept listing (read before it was replaced): not touched either.
        let other = Arc::new(Listing::new(4, vec![row(1, "")]));
        let back = cache.advance_kept(7, other.clone(), (&changed, &[]), 6, 1);
        assert!(Arc::ptr_eq(&back.unwrap_err(), &other));
        // The cache its one holder once the caller's copy is handed over: moved on in place.
        let changed = vec![row(2, "\\Seen"), row(3, "")];
        let handed = cache.get(7).unwrap().listing;
        let advanced = cache
            .advance_kept(7, handed, (&changed, &[1]), 6, 1)
            .unwrap();
        let uids: Vec<i64> = advanced.rows.iter().map(|r| r.uid).collect();
        assert_eq!((advanced.highestmodseq, uids), (6, vec![2, 3]));
        assert_eq!(advanced.totals.counts.unseen, 1);
        assert!(Arc::ptr_eq(&advanced, &cache.get(7).unwrap().listing));
        assert_eq!(
            cache.inner.lock().unwrap().1,
            2,
            "rows counted for the bound"
        );
        // A copy read at 5 after another catch-up already moved the kept one on: that one.
        let stale = Arc::new(Listing::new(5, vec![]));
        let got = cache.advance_kept(7, stale, (&changed, &[]), 6, 1).unwrap();
        assert!(Arc::ptr_eq(&got, &advanced));
    }

    /// The catch-up's two reads find the rows changed and the UIDs expunged since a MODSEQ
    /// through the indexes of migration 0020, not by walking the folder (SQLite picks the
    /// covering listing index when the messages are asked for in UID order).
    #[tokio::test]
    async fn catch_up_reads_go_through_the_modseq_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::sqlite_test_store(&dir).await;
        let plan = |sql: &str| {
            let sql = format!("EXPLAIN QUERY PLAN {sql}");
            let store = store.clone();
            async move {
                let rows = store.read(sql).bind(1i64).bind(0i64).fetch_all().await;
                let rows = rows.unwrap();
                rows.iter()
                    .map(|r| r.get::<String, _>(3usize))
                    .collect::<Vec<_>>()
                    .join("; ")
            }
        };
        let changed = plan(
            "SELECT id, folder_id, uid, modseq, flags, internal_date, size, blob_id, doc \
             FROM messages WHERE folder_id = $1 AND modseq > $2",
        )
        .await;
        assert!(changed.contains("messages_changes"), "{changed}");
        let gone =
            plan("SELECT uid FROM expunged WHERE folder_id = $1 AND modseq > $2 ORDER BY uid")
                .await;
        assert!(gone.contains("expunged_changes"), "{gone}");
    }

    #[test]
    fn counts_moved_on_are_the_counts_of_the_rows() {
        let mut a = row(1, "\\Seen");
        a.size = 10;
        a.doc = Some(5);
        let b = row(2, "\\Deleted");
        let rows = vec![a, b, row(3, "\\Seen \\Deleted"), row(4, "")];
        let mut seen = row(2, "\\Seen");
        seen.size = 7;
        let changed = vec![seen, row(4, "\\Deleted"), row(6, ""), row(8, "\\Seen")];
        let out = advanced(rows, changed, &[3, 8]);
        let recounted = Listing::new(2, out.rows.clone());
        assert_eq!(out.rows.len(), 4);
        assert_eq!(out.totals.counts, recounted.totals.counts);
        assert_eq!(out.totals.unknown_docs, recounted.totals.unknown_docs);
        assert_eq!(out.totals.counts.messages, 4);
        assert_eq!(
            (out.totals.counts.unseen, out.totals.counts.deleted),
            (2, 1)
        );
        assert_eq!(out.totals.counts.size, 10 + 7 + 1 + 1);
        assert_eq!(out.totals.unknown_docs, 3);
    }

    #[test]
    fn a_packed_listing_unpacks_and_a_stray_separator_refuses_it() {
        let text =
            "11\u{1f}1\u{1f}1\u{1f}5\u{1f}\\Seen $Label1\u{1f}100\u{1f}42\u{1f}ab12\u{1f}7\u{1e}\
                    12\u{1f}1\u{1f}2\u{1f}6\u{1f}\u{1f}101\u{1f}7\u{1f}cd34\u{1f}";
        let rows = unpack(text).expect("two rows");
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].id, rows[0].uid, rows[0].modseq), (11, 1, 5));
        assert_eq!(rows[0].flags, "\\Seen $Label1");
        assert_eq!((rows[0].internal_date, rows[0].size), (100, 42));
        assert_eq!((&*rows[0].blob_id, rows[0].doc), ("ab12", Some(7)));
        assert_eq!(rows[1].flags, "");
        // No document: an empty last field.
        assert_eq!((&*rows[1].blob_id, rows[1].doc), ("cd34", None));
        assert_eq!(unpack("").map(|r| r.len()), Some(0));
        // A flag holding the field separator gives ten fields: refused, not misread.
        assert!(
            unpack("1\u{1f}1\u{1f}1\u{1f}1\u{1f}a\u{1f}b\u{1f}0\u{1f}1\u{1f}ff\u{1f}").is_none()
        );
        // Eight fields (a row without its document field): refused.
        assert!(unpack("1\u{1f}1\u{1f}1\u{1f}1\u{1f}a\u{1f}0\u{1f}1\u{1f}ff").is_none());
        // A document that is not a number: refused.
        assert!(unpack("1\u{1f}1\u{1f}1\u{1f}1\u{1f}a\u{1f}0\u{1f}1\u{1f}ff\u{1f}x").is_none());
        // A field that is not a number where one is expected: refused.
        assert!(unpack("x\u{1f}1\u{1f}1\u{1f}1\u{1f}\u{1f}0\u{1f}1\u{1f}ff\u{1f}").is_none());
    }
}
