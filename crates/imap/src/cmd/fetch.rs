//! FETCH / UID FETCH (RFC 9051 6.4.5, RFC 7162 CHANGEDSINCE and VANISHED, RFC 3516 BINARY).
//!
//! ENVELOPE and BODYSTRUCTURE come from the parse stored at delivery; sections are byte ranges
//! of the stored body. Ranges over [`STREAM_MIN`] bytes of a body kept as a file are copied to
//! the client in chunks rather than loaded whole, and the response buffer is flushed every
//! [`FLUSH_AT`] bytes, so a FETCH's memory does not grow with the messages it returns.

use std::collections::HashMap;
use std::sync::Arc;

use storage::meta::MessageMeta;
use storage::{BlobReader, FlagChange, MessageRow};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::cmd::message::compact;
use crate::fetch::{self, SectionSource};
use crate::protocol::{FetchItem, Section, SectionText, SequenceSet};
use crate::search;
use crate::selected::flag_list;
use crate::session::{Done, Io, Session};

/// Ranges longer than this are streamed from the body file.
pub const STREAM_MIN: u64 = 64 * 1024;
/// The response buffer is written out once it holds this much.
pub const FLUSH_AT: usize = 256 * 1024;

fn root(meta: &Option<Arc<MessageMeta>>) -> &storage::meta::Part {
    &meta.as_ref().expect("loaded").root
}

fn unknown_cte() -> Done {
    Done::no("[UNKNOWN-CTE] Unknown content transfer encoding")
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
        let Some((folder_id, read_only, _)) = self.selected_ids() else {
            return Ok(Done::bad("No mailbox selected"));
        };
        // Rights are re-read on every command: a revoke applies to open sessions (RFC 4314).
        let rights = self.selected_rights().await;
        if !rights.contains('r') {
            return Ok(Done::no(
                "[NOPERM] Your access to this mailbox has been withdrawn",
            ));
        }
        let read_only = read_only || !rights.contains('s');
        let uids = match self.resolve(set, uid) {
            Ok(u) => u,
            Err(done) => return Ok(done),
        };
        if changed_since.is_some() {
            self.condstore = true;
        }
        let store = self.context.store.clone();
        if vanished {
            // RFC 7162 3.2.6: UID FETCH (CHANGEDSINCE m VANISHED) first names the UIDs in the
            // set expunged since m. The parser has checked UID FETCH and CHANGEDSINCE.
            if !self.qresync {
                return Ok(Done::bad("VANISHED needs ENABLE QRESYNC first"));
            }
            let since = changed_since.unwrap_or(0) as i64;
            // `*` reaches past the highest UID left: `1:*` names every expunged UID too.
            let star = i64::MAX;
            match store.expunged_since(folder_id, since).await {
                Ok(gone) => {
                    let gone: Vec<i64> = gone
                        .into_iter()
                        .filter(|u| search::in_set(set, *u, star))
                        .collect();
                    if !gone.is_empty() {
                        self.untagged(&format!("VANISHED (EARLIER) {}", compact(&gone)));
                    }
                }
                Err(e) => return Ok(self.server_error(e)),
            }
        }
        // A few messages are looked up by UID; a large part of the folder is read whole.
        let n_known = match &self.state {
            crate::session::State::Selected { mailbox, .. } => mailbox.uids.len(),
            _ => 0,
        };
        let rows = if uids.len() * 4 < n_known {
            store.messages_with_uids(folder_id, &uids).await
        } else {
            store.messages(folder_id).await
        };
        let rows = match rows {
            Ok(r) => r,
            Err(e) => return Ok(self.server_error(e)),
        };
        let mut by_uid: HashMap<i64, MessageRow> = rows.into_iter().map(|r| (r.uid, r)).collect();
        // Fetching a body section without PEEK sets \Seen (RFC 9051 6.4.5).
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
        let mut flags_changed = std::collections::HashSet::new();
        if sets_seen {
            let unseen: Vec<i64> = uids
                .iter()
                .copied()
                .filter(|u| {
                    by_uid.get(u).is_some_and(|r| {
                        !r.flags
                            .split_whitespace()
                            .any(|f| f.eq_ignore_ascii_case("\\Seen"))
                    })
                })
                .collect();
            if !unseen.is_empty() {
                match store
                    .store_flags(
                        folder_id,
                        &unseen,
                        FlagChange::Add,
                        &["\\Seen".to_string()],
                        None,
                    )
                    .await
                {
                    Ok((updated, _)) => {
                        self.note_own_changes(&updated);
                        for row in updated {
                            flags_changed.insert(row.uid);
                            by_uid.insert(row.uid, row);
                        }
                    }
                    Err(e) => return Ok(self.server_error(e)),
                }
            }
        }
        let reads_body = items.iter().any(|i| {
            matches!(
                i,
                FetchItem::BodySection { .. }
                    | FetchItem::Binary { .. }
                    | FetchItem::Rfc822
                    | FetchItem::Rfc822Text
            )
        });
        if reads_body {
            self.audit_unit(storage::Action::UnitRead, &uids).await;
        }
        let needs_meta = items.iter().any(|i| {
            !matches!(
                i,
                FetchItem::Flags
                    | FetchItem::InternalDate
                    | FetchItem::Rfc822Size
                    | FetchItem::Uid
                    | FetchItem::ModSeq
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
        // One query for the stored parse of every message this FETCH touches.
        let mut metas = if needs_meta {
            let ids: Vec<i64> = uids
                .iter()
                .filter_map(|u| by_uid.get(u).map(|r| r.id))
                .collect();
            match store.message_metas(folder_id, &ids).await {
                Ok(m) => m,
                Err(e) => return Ok(self.server_error(e)),
            }
        } else {
            Default::default()
        };
        for message_uid in uids {
            let Some(row) = by_uid.get(&message_uid) else {
                continue;
            };
            if changed_since.is_some_and(|since| row.modseq as u64 <= since) {
                continue;
            }
            let Some(seq) = self.seq_of(message_uid) else {
                continue;
            };
            let meta = if needs_meta {
                match metas.remove(&row.id) {
                    Some(m) => Some(m),
                    None => match store.message_meta(row.id).await {
                        Ok(m) => Some(m),
                        Err(e) => return Ok(self.server_error(e)),
                    },
                }
            } else {
                None
            };
            let mut blob = if needs_blob {
                match store.open_blob(&row.blob_id, row.size).await {
                    Ok(b) => Some(b),
                    Err(e) => return Ok(self.server_error(e)),
                }
            } else {
                None
            };
            // An unknown transfer encoding is refused before anything of this message is sent.
            if let (Some(blob), Some(meta)) = (&blob, &meta) {
                let unknown = items.iter().any(|item| match item {
                    FetchItem::Binary { part, .. } | FetchItem::BinarySize { part } => {
                        fetch::binary_source(&meta.root, blob.len(), part)
                            .is_some_and(|(_, _, e)| fetch::decode_body(b"", &e).is_none())
                    }
                    _ => false,
                });
                if unknown {
                    return Ok(unknown_cte());
                }
            }
            // Set once part of this response went to the client directly.
            let mut streamed = false;
            let mut out = format!("* {seq} FETCH (").into_bytes();
            let mut first = true;
            let mut sep = |out: &mut Vec<u8>| {
                if !std::mem::take(&mut first) {
                    out.push(b' ');
                }
            };
            let mut wrote_uid = false;
            let mut wrote_flags = false;
            let mut wrote_modseq = false;
            for item in items {
                match item {
                    FetchItem::Uid => {
                        sep(&mut out);
                        out.extend_from_slice(format!("UID {}", row.uid).as_bytes());
                        wrote_uid = true;
                    }
                    FetchItem::Flags => {
                        sep(&mut out);
                        out.extend_from_slice(
                            format!("FLAGS {}", flag_list(&row.flags)).as_bytes(),
                        );
                        wrote_flags = true;
                    }
                    FetchItem::ModSeq => {
                        sep(&mut out);
                        out.extend_from_slice(format!("MODSEQ ({})", row.modseq).as_bytes());
                        wrote_modseq = true;
                    }
                    FetchItem::InternalDate => {
                        sep(&mut out);
                        out.extend_from_slice(
                            format!(
                                "INTERNALDATE \"{}\"",
                                fetch::internal_date(row.internal_date)
                            )
                            .as_bytes(),
                        );
                    }
                    FetchItem::Rfc822Size => {
                        sep(&mut out);
                        out.extend_from_slice(format!("RFC822.SIZE {}", row.size).as_bytes());
                    }
                    FetchItem::Envelope => {
                        sep(&mut out);
                        out.extend_from_slice(b"ENVELOPE ");
                        fetch::envelope(
                            &meta.as_ref().expect("loaded").envelope,
                            self.utf8,
                            &mut out,
                        );
                    }
                    FetchItem::Body | FetchItem::BodyStructure => {
                        sep(&mut out);
                        let extended = matches!(item, FetchItem::BodyStructure);
                        out.extend_from_slice(if extended {
                            b"BODYSTRUCTURE "
                        } else {
                            b"BODY "
                        });
                        fetch::body_structure(
                            &meta.as_ref().expect("loaded").root,
                            extended,
                            self.utf8,
                            &mut out,
                        );
                    }
                    FetchItem::Rfc822 | FetchItem::Rfc822Header | FetchItem::Rfc822Text => {
                        let (label, text) = match item {
                            FetchItem::Rfc822 => ("RFC822", SectionText::Full),
                            FetchItem::Rfc822Header => ("RFC822.HEADER", SectionText::Header),
                            _ => ("RFC822.TEXT", SectionText::Text),
                        };
                        let section = Section { part: vec![], text };
                        let blob = blob.as_mut().expect("loaded");
                        // The whole message always has these sections.
                        let source = fetch::section_source(root(&meta), blob.len(), &section)
                            .unwrap_or(SectionSource::Range(0, 0));
                        sep(&mut out);
                        out.extend_from_slice(label.as_bytes());
                        streamed |= self.write_section(io, &mut out, blob, source, None).await?;
                    }
                    FetchItem::BodySection {
                        section, partial, ..
                    } => {
                        let blob = blob.as_mut().expect("loaded");
                        let source = fetch::section_source(root(&meta), blob.len(), section);
                        sep(&mut out);
                        out.extend_from_slice(
                            format!("BODY[{}]", fetch::section_label(section)).as_bytes(),
                        );
                        match source {
                            Some(source) => {
                                streamed |= self
                                    .write_section(io, &mut out, blob, source, *partial)
                                    .await?
                            }
                            None => out.extend_from_slice(b" NIL"),
                        }
                    }
                    FetchItem::Binary { part, partial, .. } => {
                        let blob = blob.as_mut().expect("loaded");
                        let label: Vec<String> = part.iter().map(u32::to_string).collect();
                        let label = format!("BINARY[{}]", label.join("."));
                        match fetch::binary_source(root(&meta), blob.len(), part) {
                            None => {
                                sep(&mut out);
                                out.extend_from_slice(label.as_bytes());
                                out.extend_from_slice(b" NIL");
                            }
                            Some((start, end, encoding)) if fetch::is_identity(&encoding) => {
                                sep(&mut out);
                                out.extend_from_slice(label.as_bytes());
                                let source = SectionSource::Range(start, end);
                                streamed |= self
                                    .write_section(io, &mut out, blob, source, *partial)
                                    .await?;
                            }
                            Some((start, end, encoding)) => {
                                let body = blob.read_range(start, end).await?;
                                let decoded = fetch::decode_body(&body, &encoding);
                                if decoded.is_none() && !streamed {
                                    return Ok(unknown_cte());
                                }
                                sep(&mut out);
                                out.extend_from_slice(label.as_bytes());
                                write_partial(decoded, *partial, &mut out);
                            }
                        }
                    }
                    FetchItem::BinarySize { part } => {
                        let blob = blob.as_mut().expect("loaded");
                        let size = match fetch::binary_source(root(&meta), blob.len(), part) {
                            None => "NIL".to_string(),
                            Some((start, end, encoding)) if fetch::is_identity(&encoding) => {
                                let end = end.min(blob.len());
                                (end - start.min(end)).to_string()
                            }
                            Some((start, end, encoding)) => {
                                let body = blob.read_range(start, end).await?;
                                match fetch::decode_body(&body, &encoding) {
                                    Some(bytes) => bytes.len().to_string(),
                                    None if !streamed => return Ok(unknown_cte()),
                                    None => "NIL".to_string(),
                                }
                            }
                        };
                        let label: Vec<String> = part.iter().map(u32::to_string).collect();
                        sep(&mut out);
                        out.extend_from_slice(
                            format!("BINARY.SIZE[{}] {size}", label.join(".")).as_bytes(),
                        );
                    }
                }
            }
            // UID FETCH always returns UID; changed flags and CONDSTORE MODSEQ ride along.
            if uid && !wrote_uid {
                sep(&mut out);
                out.extend_from_slice(format!("UID {}", row.uid).as_bytes());
            }
            if !wrote_flags && flags_changed.contains(&row.uid) {
                sep(&mut out);
                out.extend_from_slice(format!("FLAGS {}", flag_list(&row.flags)).as_bytes());
            }
            if self.condstore && !wrote_modseq {
                sep(&mut out);
                out.extend_from_slice(format!("MODSEQ ({})", row.modseq).as_bytes());
            }
            out.extend_from_slice(b")\r\n");
            self.out.extend_from_slice(&out);
            if self.out.len() >= FLUSH_AT {
                self.flush(io).await?;
            }
        }
        Ok(Done::ok(if uid {
            "UID FETCH completed"
        } else {
            "FETCH completed"
        }))
    }

    /// Writes ` <literal>` (or `<origin> <literal>` for a partial fetch) for a section.
    /// True when the literal was streamed straight to the client.
    async fn write_section<S>(
        &mut self,
        io: &mut Io<S>,
        out: &mut Vec<u8>,
        blob: &mut BlobReader,
        source: SectionSource<'_>,
        partial: Option<(u32, u32)>,
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
                self.write_range(io, out, blob, start, end).await
            }
            SectionSource::Fields { start, end, .. } => {
                let header = blob.read_range(start, end).await?;
                write_partial(Some(source.render(&header, start)), partial, out);
                Ok(false)
            }
        }
    }

    /// Writes a literal holding `start..end` of the body: small ranges through the response
    /// buffer, large ones from the file straight to the client. True when streamed.
    async fn write_range<S>(
        &mut self,
        io: &mut Io<S>,
        out: &mut Vec<u8>,
        blob: &mut BlobReader,
        start: u64,
        end: u64,
    ) -> std::io::Result<bool>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        if end - start <= STREAM_MIN || blob.in_memory() {
            let bytes = blob.read_range(start, end).await?;
            fetch::literal(&bytes, out);
            return Ok(false);
        }
        // RFC 3516: content with NUL goes in a literal8.
        let marker = if blob.contains_nul(start, end).await? {
            "~"
        } else {
            ""
        };
        out.extend_from_slice(format!("{marker}{{{}}}\r\n", end - start).as_bytes());
        self.out.append(out);
        self.flush(io).await?;
        blob.copy_range(start, end, io.get_mut()).await?;
        Ok(true)
    }
}

/// Writes ` <literal>` or `<origin> <literal>` for a partial fetch, or ` NIL`.
fn write_partial(bytes: Option<Vec<u8>>, partial: Option<(u32, u32)>, out: &mut Vec<u8>) {
    match (bytes, partial) {
        (None, _) => out.extend_from_slice(b" NIL"),
        (Some(bytes), None) => {
            out.push(b' ');
            fetch::literal(&bytes, out);
        }
        (Some(bytes), Some((offset, length))) => {
            let start = (offset as usize).min(bytes.len());
            let end = start.saturating_add(length as usize).min(bytes.len());
            out.extend_from_slice(format!("<{offset}> ").as_bytes());
            fetch::literal(&bytes[start..end], out);
        }
    }
}
