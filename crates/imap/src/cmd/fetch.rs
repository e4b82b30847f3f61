//! FETCH / UID FETCH (RFC 9051 6.4.5, RFC 7162 CHANGEDSINCE and VANISHED, RFC 3516 BINARY).
//!
//! ENVELOPE and BODYSTRUCTURE come from the parse stored at delivery; sections are byte ranges
//! of the stored body. Ranges over [`STREAM_MIN`] bytes of a body kept as a file are copied to
//! the client in chunks rather than loaded whole, and the response buffer is flushed every
//! [`FLUSH_AT`] bytes, so a FETCH's memory does not grow with the messages it returns.
//!
//! The steps, in order: [`Session::fetch_target`] (the selected mailbox, rights, the set),
//! [`Session::report_vanished`] (QRESYNC), [`Session::load_rows`], [`Session::mark_seen`]
//! (the implicit `\Seen`), the audit of reads, [`Session::load_metas`], then for each
//! message [`Session::open_message`] and [`Session::write_message`], which encodes item by
//! item ([`Session::write_item`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use storage::meta::MessageMeta;
use storage::{BlobReader, FlagChange, Flags, MessageRow};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::encode::strings::{body_literal, literal, literal_header, without_nul};
use crate::encode::{self, sequence, Code, Done, FetchLine};
use crate::fetch::{self, SectionSource};
use crate::protocol::{FetchItem, Section, SectionText, SequenceSet};
use crate::search;
use crate::state::{Io, Session, State};

/// Ranges longer than this are streamed from the body file.
pub const STREAM_MIN: u64 = 64 * 1024;
/// The response buffer is written out once it holds this much.
pub const FLUSH_AT: usize = 256 * 1024;

fn unknown_cte() -> Done {
    Done::no_with(Code::UnknownCte, "Unknown content transfer encoding")
}

/// What a FETCH needs to read and change, from its items.
struct Plan {
    /// Fetching a body section without PEEK sets \Seen (RFC 9051 6.4.5).
    sets_seen: bool,
    /// Reads of message content are audited in unit mailboxes.
    reads_body: bool,
    /// The stored parse (ENVELOPE, BODYSTRUCTURE, sections).
    needs_meta: bool,
    /// The message bytes.
    needs_blob: bool,
}

impl Plan {
    fn of(items: &[FetchItem], read_only: bool) -> Plan {
        let sets_seen = !read_only
            && items.iter().any(|i| {
                matches!(
                    i,
                    FetchItem::BodySection { peek: false, .. }
                        | FetchItem::Binary { peek: false, .. }
                        | FetchItem::Rfc822
                        | FetchItem::Rfc822Text
                )
            });
        let reads_body = items.iter().any(|i| {
            matches!(
                i,
                FetchItem::BodySection { .. }
                    | FetchItem::Binary { .. }
                    | FetchItem::Rfc822
                    | FetchItem::Rfc822Text
            )
        });
        let needs_meta = items.iter().any(|i| {
            !matches!(
                i,
                FetchItem::Flags
                    | FetchItem::InternalDate
                    | FetchItem::Rfc822Size
                    | FetchItem::Uid
                    | FetchItem::ModSeq
                    | FetchItem::SaveDate
                    | FetchItem::EmailId
                    | FetchItem::ThreadId
            )
        });
        let needs_blob = items.iter().any(|i| {
            matches!(
                i,
                FetchItem::BodySection { .. }
                    | FetchItem::Binary { .. }
                    | FetchItem::BinarySize { .. }
                    | FetchItem::Rfc822
                    | FetchItem::Rfc822Header
                    | FetchItem::Rfc822Text
            )
        });
        Plan {
            sets_seen,
            reads_body,
            needs_meta,
            needs_blob,
        }
    }
}

/// One message being answered: its stored parse and its bytes, as the plan needs them.
struct Opened {
    meta: Option<Arc<MessageMeta>>,
    blob: Option<BlobReader>,
}

impl Opened {
    fn root(&self) -> &storage::meta::Part {
        &self.meta.as_ref().expect("loaded").root
    }

    fn blob(&mut self) -> &mut BlobReader {
        self.blob.as_mut().expect("loaded")
    }

    /// True when a BINARY item names a part whose transfer encoding we cannot undo.
    fn has_unknown_encoding(&self, items: &[FetchItem]) -> bool {
        let (Some(blob), Some(meta)) = (&self.blob, &self.meta) else {
            return false;
        };
        items.iter().any(|item| match item {
            FetchItem::Binary { part, .. } | FetchItem::BinarySize { part } => {
                fetch::binary_source(&meta.root, blob.len(), part)
                    .is_some_and(|(_, _, e)| fetch::decode_body(b"", &e).is_none())
            }
            _ => false,
        })
    }
}

/// What ends a FETCH early: an I/O error closes the connection, a `Done` answers it.
enum Stop {
    Io(std::io::Error),
    Done(Done),
}

impl From<std::io::Error> for Stop {
    fn from(error: std::io::Error) -> Stop {
        Stop::Io(error)
    }
}

impl From<Done> for Stop {
    fn from(done: Done) -> Stop {
        Stop::Done(done)
    }
}

impl Session {
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn fetch<S>(
        &mut self,
        io: &mut Io<S>,
        uid: bool,
        set: &SequenceSet,
        items: &[FetchItem],
        changed_since: Option<u64>,
        vanished: bool,
    ) -> std::io::Result<Done>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        match self
            .fetch_steps(io, uid, set, items, changed_since, vanished)
            .await
        {
            Ok(()) => Ok(Done::ok(if uid {
                "UID FETCH completed"
            } else {
                "FETCH completed"
            })),
            Err(Stop::Done(done)) => Ok(done),
            Err(Stop::Io(error)) => Err(error),
        }
    }

    async fn fetch_steps<S>(
        &mut self,
        io: &mut Io<S>,
        uid: bool,
        set: &SequenceSet,
        items: &[FetchItem],
        changed_since: Option<u64>,
        vanished: bool,
    ) -> Result<(), Stop>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let (folder_id, read_only, uids) = self.fetch_target(set, uid).await?;
        // RFC 7162 3.1: the MODSEQ item and CHANGEDSINCE are CONDSTORE enabling.
        if changed_since.is_some() || items.contains(&FetchItem::ModSeq) {
            self.enable_condstore();
        }
        if vanished {
            self.report_vanished(folder_id, set, changed_since).await?;
        }
        let plan = Plan::of(items, read_only);
        let mut rows = self.load_rows(folder_id, &uids).await?;
        let flags_changed = if plan.sets_seen {
            self.mark_seen(folder_id, &uids, &mut rows).await?
        } else {
            HashSet::new()
        };
        if plan.reads_body {
            self.audit_unit(storage::Action::UnitRead, &uids).await;
        }
        let mut metas = if plan.needs_meta {
            self.load_metas(folder_id, &uids, &rows).await?
        } else {
            Default::default()
        };
        self.prepare_fetch_ext(folder_id, items, &rows).await?;
        for message_uid in uids {
            let Some(row) = rows.get(&message_uid) else {
                continue;
            };
            if changed_since.is_some_and(|since| row.modseq as u64 <= since) {
                continue;
            }
            let Some(seq) = self.seq_of(message_uid) else {
                continue;
            };
            let mut message = self.open_message(row, &plan, &mut metas).await?;
            // An unknown transfer encoding is refused before anything of this message is sent.
            if message.has_unknown_encoding(items) {
                return Err(unknown_cte().into());
            }
            let flags_changed = flags_changed.contains(&row.uid);
            self.write_message(io, seq, row, &mut message, items, uid, flags_changed)
                .await?;
        }
        Ok(())
    }

    /// The selected folder, whether it is read-only for this user, and the UIDs the set
    /// names. Rights are re-read on every command: a revoke applies to open sessions
    /// (RFC 4314).
    async fn fetch_target(
        &mut self,
        set: &SequenceSet,
        uid: bool,
    ) -> Result<(i64, bool, Vec<i64>), Done> {
        let Some((folder_id, read_only, _)) = self.selected_ids() else {
            return Err(Done::bad("No mailbox selected"));
        };
        let rights = self.selected_rights().await;
        if !rights.contains('r') {
            return Err(Done::no_with(
                Code::NoPerm,
                "Your access to this mailbox has been withdrawn",
            ));
        }
        let read_only = read_only || !rights.contains('s');
        let uids = self.resolve(set, uid)?;
        Ok((folder_id, read_only, uids))
    }

    /// RFC 7162 3.2.6: UID FETCH (CHANGEDSINCE m VANISHED) first names the UIDs in the set
    /// expunged since m. The parser has checked UID FETCH and CHANGEDSINCE.
    async fn report_vanished(
        &mut self,
        folder_id: i64,
        set: &SequenceSet,
        changed_since: Option<u64>,
    ) -> Result<(), Done> {
        if !self.qresync {
            return Err(Done::bad("VANISHED needs ENABLE QRESYNC first"));
        }
        let since = changed_since.unwrap_or(0) as i64;
        // `*` reaches past the highest UID left: `1:*` names every expunged UID too.
        let star = i64::MAX;
        let gone = match self.context.store.expunged_since(folder_id, since).await {
            Ok(gone) => gone,
            Err(e) => return Err(self.server_error(e)),
        };
        let gone: Vec<i64> = gone
            .into_iter()
            .filter(|u| search::in_set(set, *u, star))
            .collect();
        if !gone.is_empty() {
            self.untagged(&sequence::vanished(&gone, true));
        }
        Ok(())
    }

    /// The rows of the messages fetched, by UID, from the folder's shared listing, never older
    /// than what the session has reported (its MODSEQ); a UID it lacks (a message expunged
    /// meanwhile, or newer than the listing) is looked up in the database. A few messages of a
    /// folder without a kept listing (not read yet, or too large to keep) are looked up alone.
    async fn load_rows(
        &self,
        folder_id: i64,
        uids: &[i64],
    ) -> Result<HashMap<i64, MessageRow>, Done> {
        let (known, seen) = match &self.state {
            State::Selected { mailbox, .. } => (mailbox.uids.len(), mailbox.modseq_seen),
            _ => (0, 0),
        };
        let store = &self.context.store;
        let mut rows = HashMap::with_capacity(uids.len());
        let mut missing = vec![];
        if uids.len() * 4 < known && !store.keeps_listing(folder_id) {
            missing = uids.to_vec();
        } else {
            let listing = store
                .listing_at_least(folder_id, seen)
                .await
                .map_err(|e| self.server_error(e))?;
            for &uid in uids {
                match listing.rows.binary_search_by_key(&uid, |r| r.uid) {
                    Ok(i) => {
                        rows.insert(uid, listing.rows[i].clone());
                    }
                    Err(_) => missing.push(uid),
                }
            }
        }
        if !missing.is_empty() {
            let found = store
                .messages_with_uids(folder_id, &missing)
                .await
                .map_err(|e| self.server_error(e))?;
            rows.extend(found.into_iter().map(|r| (r.uid, r)));
        }
        Ok(rows)
    }

    /// Sets \Seen on the fetched messages that lack it (RFC 9051 6.4.5) and updates `rows`;
    /// returns the UIDs whose flags changed (their FETCH responses carry FLAGS).
    async fn mark_seen(
        &mut self,
        folder_id: i64,
        uids: &[i64],
        rows: &mut HashMap<i64, MessageRow>,
    ) -> Result<HashSet<i64>, Done> {
        let mut flags_changed = HashSet::new();
        let unseen: Vec<i64> = uids
            .iter()
            .copied()
            .filter(|u| rows.get(u).is_some_and(|r| !r.flags.contains(Flags::SEEN)))
            .collect();
        if unseen.is_empty() {
            return Ok(flags_changed);
        }
        let seen = [Flags::SEEN.to_string()];
        match self
            .context
            .store
            .store_flags(folder_id, &unseen, FlagChange::Add, &seen, None)
            .await
        {
            Ok((updated, _)) => {
                self.note_own_changes(&updated);
                for row in updated {
                    flags_changed.insert(row.uid);
                    rows.insert(row.uid, row);
                }
                Ok(flags_changed)
            }
            Err(e) => Err(self.server_error(e)),
        }
    }

    /// One query for the stored parse of every message this FETCH touches.
    async fn load_metas(
        &self,
        folder_id: i64,
        uids: &[i64],
        rows: &HashMap<i64, MessageRow>,
    ) -> Result<HashMap<i64, Arc<MessageMeta>>, Done> {
        let ids: Vec<i64> = uids
            .iter()
            .filter_map(|u| rows.get(u).map(|r| r.id))
            .collect();
        match self.context.store.message_metas(folder_id, &ids).await {
            Ok(metas) => Ok(metas),
            Err(e) => Err(self.server_error(e)),
        }
    }

    /// The stored parse (from `metas`, else read alone) and the bytes of one message, as the
    /// plan needs them.
    async fn open_message(
        &self,
        row: &MessageRow,
        plan: &Plan,
        metas: &mut HashMap<i64, Arc<MessageMeta>>,
    ) -> Result<Opened, Done> {
        let store = &self.context.store;
        let meta = if plan.needs_meta {
            match metas.remove(&row.id) {
                Some(m) => Some(m),
                None => match store.message_meta(row.id).await {
                    Ok(m) => Some(m),
                    Err(e) => return Err(self.server_error(e)),
                },
            }
        } else {
            None
        };
        let blob = if plan.needs_blob {
            match store.open_blob(&row.blob_id, row.size).await {
                Ok(b) => Some(b),
                Err(e) => return Err(self.server_error(e)),
            }
        } else {
            None
        };
        Ok(Opened { meta, blob })
    }

    /// One `* n FETCH (...)` response: the items asked for in order, then what rides along —
    /// UID for UID FETCH, FLAGS when this FETCH changed them, MODSEQ with CONDSTORE.
    #[allow(clippy::too_many_arguments)]
    async fn write_message<S>(
        &mut self,
        io: &mut Io<S>,
        seq: usize,
        row: &MessageRow,
        message: &mut Opened,
        items: &[FetchItem],
        uid: bool,
        flags_changed: bool,
    ) -> Result<(), Stop>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let asked = |wanted: FetchItem| items.contains(&wanted);
        if flags_changed || asked(FetchItem::Flags) {
            // Before anything of this response goes out (RFC 9051 7.3.5).
            self.announce_keywords(&row.flags);
        }
        let mut line = FetchLine::new(seq);
        // Set once part of this response went to the client directly.
        let mut streamed = false;
        for item in items {
            self.write_item(io, &mut line, item, row, message, &mut streamed)
                .await?;
        }
        // RFC 7162 3.1: with CONDSTORE, a FETCH that set \Seen carries UID and MODSEQ.
        let with_uid = uid || (self.condstore && flags_changed);
        if with_uid && !asked(FetchItem::Uid) {
            line.uid(row.uid);
        }
        if flags_changed && !asked(FetchItem::Flags) {
            line.flags_recent(&row.flags, self.is_recent(row.uid));
        }
        if self.condstore && !asked(FetchItem::ModSeq) {
            line.modseq(row.modseq);
        }
        self.out.extend_from_slice(&line.finish());
        if self.out.len() >= FLUSH_AT {
            self.flush(io).await?;
        }
        Ok(())
    }

    /// Encodes one FETCH item of one message into `line` (streaming large literals).
    async fn write_item<S>(
        &mut self,
        io: &mut Io<S>,
        line: &mut FetchLine,
        item: &FetchItem,
        row: &MessageRow,
        message: &mut Opened,
        streamed: &mut bool,
    ) -> Result<(), Stop>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        match item {
            FetchItem::Preview { .. }
            | FetchItem::SaveDate
            | FetchItem::EmailId
            | FetchItem::ThreadId => {
                self.write_fetch_ext(line, item, row, message.meta.clone())
                    .await?
            }
            FetchItem::Uid => line.uid(row.uid),
            FetchItem::Flags => line.flags_recent(&row.flags, self.is_recent(row.uid)),
            FetchItem::ModSeq => line.modseq(row.modseq),
            FetchItem::InternalDate => {
                let date = encode::internal_date(row.internal_date);
                line.item(&format!("INTERNALDATE \"{date}\""));
            }
            FetchItem::Rfc822Size => {
                line.item(&format!("RFC822.SIZE {}", row.size));
            }
            FetchItem::Envelope => {
                let out = line.item("ENVELOPE ");
                let meta = message.meta.as_ref().expect("loaded");
                encode::envelope(&meta.envelope, self.utf8, out);
            }
            FetchItem::Body | FetchItem::BodyStructure => {
                let extended = matches!(item, FetchItem::BodyStructure);
                let out = line.item(if extended { "BODYSTRUCTURE " } else { "BODY " });
                encode::body_structure(message.root(), extended, self.utf8, out);
            }
            FetchItem::Rfc822 | FetchItem::Rfc822Header | FetchItem::Rfc822Text => {
                let (label, text) = match item {
                    FetchItem::Rfc822 => ("RFC822", SectionText::Full),
                    FetchItem::Rfc822Header => ("RFC822.HEADER", SectionText::Header),
                    _ => ("RFC822.TEXT", SectionText::Text),
                };
                let section = Section { part: vec![], text };
                let len = message.blob().len();
                // The whole message always has these sections.
                let source = fetch::section_source(message.root(), len, &section)
                    .unwrap_or(SectionSource::Range(0, 0));
                let out = line.item(label);
                *streamed |= self
                    .write_section(
                        io,
                        out,
                        message.blob.as_mut().expect("loaded"),
                        source,
                        None,
                        false,
                    )
                    .await?;
            }
            FetchItem::BodySection {
                section, partial, ..
            } => {
                let len = message.blob().len();
                let source = fetch::section_source(message.root(), len, section);
                let out = line.item(&format!("BODY[{}]", encode::section_label(section)));
                match source {
                    Some(source) => {
                        let blob = message.blob.as_mut().expect("loaded");
                        *streamed |= self
                            .write_section(io, out, blob, source, *partial, false)
                            .await?
                    }
                    None => out.extend_from_slice(b" NIL"),
                }
            }
            FetchItem::Binary { part, partial, .. } => {
                let label: Vec<String> = part.iter().map(u32::to_string).collect();
                let label = format!("BINARY[{}]", label.join("."));
                let len = message.blob().len();
                match fetch::binary_source(message.root(), len, part) {
                    None => {
                        line.item(&label).extend_from_slice(b" NIL");
                    }
                    Some((start, end, encoding)) if fetch::is_identity(&encoding) => {
                        let out = line.item(&label);
                        let source = SectionSource::Range(start, end);
                        let blob = message.blob.as_mut().expect("loaded");
                        *streamed |= self
                            .write_section(io, out, blob, source, *partial, true)
                            .await?;
                    }
                    Some((start, end, encoding)) => {
                        let body = message.blob().read_range(start, end).await?;
                        let decoded = fetch::decode_body(&body, &encoding);
                        if decoded.is_none() && !*streamed {
                            return Err(unknown_cte().into());
                        }
                        write_partial(decoded, *partial, true, line.item(&label));
                    }
                }
            }
            FetchItem::BinarySize { part } => {
                let blob_len = message.blob().len();
                let size = match fetch::binary_source(message.root(), blob_len, part) {
                    None => "NIL".to_string(),
                    Some((start, end, encoding)) if fetch::is_identity(&encoding) => {
                        let end = end.min(blob_len);
                        (end - start.min(end)).to_string()
                    }
                    Some((start, end, encoding)) => {
                        let body = message.blob().read_range(start, end).await?;
                        match fetch::decode_body(&body, &encoding) {
                            Some(bytes) => bytes.len().to_string(),
                            None if !*streamed => return Err(unknown_cte().into()),
                            None => "NIL".to_string(),
                        }
                    }
                };
                let label: Vec<String> = part.iter().map(u32::to_string).collect();
                line.item(&format!("BINARY.SIZE[{}] {size}", label.join(".")));
            }
        }
        Ok(())
    }

    /// Writes ` <literal>` (or `<origin> <literal>` for a partial fetch) for a section:
    /// a BINARY one (`binary`, a literal8 when it holds NUL) or a BODY one (never a literal8).
    /// True when the literal was streamed straight to the client.
    #[allow(clippy::too_many_arguments)]
    async fn write_section<S>(
        &mut self,
        io: &mut Io<S>,
        out: &mut Vec<u8>,
        blob: &mut BlobReader,
        source: SectionSource<'_>,
        partial: Option<(u32, u32)>,
        binary: bool,
    ) -> std::io::Result<bool>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        match source {
            SectionSource::Range(start, end) => {
                let end = end.min(blob.len());
                let start = start.min(end);
                let (start, end) = match partial {
                    None => {
                        out.push(b' ');
                        (start, end)
                    }
                    Some((offset, length)) => {
                        out.extend_from_slice(format!("<{offset}> ").as_bytes());
                        let from = start.saturating_add(offset.into()).min(end);
                        (from, from.saturating_add(length.into()).min(end))
                    }
                };
                self.write_range(io, out, blob, start, end, binary).await
            }
            SectionSource::Fields { start, end, .. } => {
                let header = blob.read_range(start, end).await?;
                write_partial(Some(source.render(&header, start)), partial, binary, out);
                Ok(false)
            }
        }
    }

    /// Writes a literal holding `start..end` of the body: small ranges through the response
    /// buffer, large ones from the file straight to the client. True when streamed.
    /// `binary`: BINARY data, sent as a literal8 when it holds NUL (RFC 3516 4.2); otherwise
    /// BODY data, an nstring, whose NULs go out as 0x80 ([`body_literal`]).
    async fn write_range<S>(
        &mut self,
        io: &mut Io<S>,
        out: &mut Vec<u8>,
        blob: &mut BlobReader,
        start: u64,
        end: u64,
        binary: bool,
    ) -> std::io::Result<bool>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        if end - start <= STREAM_MIN || blob.in_memory() {
            let bytes = blob.read_range(start, end).await?;
            if binary {
                literal(&bytes, out);
            } else {
                body_literal(&bytes, out);
            }
            return Ok(false);
        }
        let has_nul = blob.contains_nul(start, end).await?;
        literal_header(end - start, has_nul && binary, out);
        self.out.append(out);
        self.flush(io).await?;
        if has_nul && !binary {
            let mut at = start;
            while at < end {
                let next = (at + STREAM_MIN).min(end);
                let mut chunk = blob.read_range(at, next).await?;
                without_nul(&mut chunk);
                io.get_mut().write_all(&chunk).await?;
                at = next;
            }
        } else {
            blob.copy_range(start, end, io.get_mut()).await?;
        }
        Ok(true)
    }
}

/// Writes ` <literal>` or `<origin> <literal>` for a partial fetch, or ` NIL`; BINARY data
/// (`binary`) or BODY data as in [`Session::write_range`].
fn write_partial(
    bytes: Option<Vec<u8>>,
    partial: Option<(u32, u32)>,
    binary: bool,
    out: &mut Vec<u8>,
) {
    let write = |bytes: &[u8], out: &mut Vec<u8>| {
        if binary {
            literal(bytes, out)
        } else {
            body_literal(bytes, out)
        }
    };
    match (bytes, partial) {
        (None, _) => out.extend_from_slice(b" NIL"),
        (Some(bytes), None) => {
            out.push(b' ');
            write(&bytes, out);
        }
        (Some(bytes), Some((offset, length))) => {
            let start = (offset as usize).min(bytes.len());
            let end = start.saturating_add(length as usize).min(bytes.len());
            out.extend_from_slice(format!("<{offset}> ").as_bytes());
            write(&bytes[start..end], out);
        }
    }
}
