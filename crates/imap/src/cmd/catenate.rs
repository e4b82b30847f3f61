//! RFC 4469 CATENATE: a message put together from literals and IMAP URLs (RFC 5092) naming
//! messages or parts of them.
//!
//! A URL is read only from a mailbox the user may read: it is resolved like any mailbox name
//! (personal, or a unit's with the rights read fresh from storage), must grant `r` (RFC 4314),
//! must name the logged-in user if it names one, and this server if it names a host. Whatever
//! is wrong — syntax, another user, a mailbox not there or not readable, a UIDVALIDITY that
//! does not match, a UID not there, a section not there — answers the same NO [BADURL url]
//! (RFC 4469 4.1), so a refusal says nothing about other people's mailboxes. Reading does not
//! set `\Seen` (RFC 4469 3); reads from a unit mailbox are audited like FETCH. The result and
//! each piece are bounded: NO [TOOBIG] (RFC 4469 4.2) past the room left in the APPEND.

use crate::encode::{Code, Done};
use crate::fetch::{self, SectionSource};
use crate::imapurl;
use crate::protocol::CatPart;
use crate::state::{Session, State};

impl Session {
    /// The bytes of a CATENATE message, at most `room` of them.
    pub(crate) async fn catenate(
        &mut self,
        parts: Vec<CatPart>,
        room: usize,
    ) -> Result<Vec<u8>, Done> {
        let limit = room.min(self.context.settings.max_literal);
        let too_big = || Done::no_with(Code::TooBig, "Message too large");
        let mut out = Vec::new();
        for part in parts {
            match part {
                CatPart::Text(bytes) => {
                    if out.len() + bytes.len() > limit {
                        return Err(too_big());
                    }
                    out.extend_from_slice(&bytes);
                }
                CatPart::Url(url) => {
                    let bytes = self.url_bytes(&url, limit - out.len()).await?;
                    out.extend_from_slice(&bytes);
                }
            }
        }
        Ok(out)
    }

    /// What a URL names, at most `room` bytes (NO [TOOBIG] beyond).
    async fn url_bytes(&mut self, url: &str, room: usize) -> Result<Vec<u8>, Done> {
        let bad = |why: &str| Done::no_with(Code::BadUrl(url.to_string()), why.to_string());
        let parsed = imapurl::parse(url).map_err(bad)?;
        let user = self.user().ok_or_else(|| Done::bad("Not authenticated"))?;
        if parsed
            .user
            .as_deref()
            .is_some_and(|u| !u.eq_ignore_ascii_case(&user.address))
        {
            return Err(bad("The URL names another user"));
        }
        if parsed
            .host
            .as_deref()
            .is_some_and(|h| !h.eq_ignore_ascii_case(&self.context.settings.hostname))
        {
            return Err(bad("The URL names another server"));
        }
        let unreadable = || bad("No such message, or you may not read it");
        let name = match parsed.mailbox {
            Some(name) => name,
            None => match &self.state {
                State::Selected { mailbox, .. } => mailbox.name.clone(),
                _ => return Err(bad("No mailbox selected for a relative URL")),
            },
        };
        // Our name back into the client's spelling, which resolve_folder reads.
        let client_name = if self.utf8 || name.is_ascii() {
            name
        } else {
            crate::protocol::mutf7::encode(&name)
        };
        let mailbox = self
            .resolve_folder(&client_name)
            .await
            .map_err(|_| unreadable())?;
        if !mailbox.rights.contains('r') {
            return Err(unreadable());
        }
        if parsed
            .uidvalidity
            .is_some_and(|v| i64::from(v) != mailbox.folder.uidvalidity)
        {
            return Err(bad("UIDVALIDITY does not match"));
        }
        let store = self.context.store.clone();
        let uid = i64::from(parsed.uid);
        let row = match store.messages_with_uids(mailbox.folder.id, &[uid]).await {
            Ok(rows) => rows.into_iter().next().ok_or_else(unreadable)?,
            Err(e) => return Err(self.server_error(e)),
        };
        let mut blob = store
            .open_blob(&row.blob_id, row.size)
            .await
            .map_err(|e| self.server_error(e))?;
        let len = blob.len();
        let (start, end, fields) = match &parsed.section {
            None => (0, len, None),
            Some(section) => {
                let meta = store
                    .message_meta(row.id)
                    .await
                    .map_err(|e| self.server_error(e))?;
                match fetch::section_source(&meta.root, len, section) {
                    Some(SectionSource::Range(start, end)) => (start, end.min(len), None),
                    Some(SectionSource::Fields {
                        start,
                        end,
                        names,
                        include,
                    }) => (start, end.min(len), Some((names.to_vec(), include))),
                    None => return Err(bad("No such section")),
                }
            }
        };
        let start = start.min(end);
        // The bytes named, before PARTIAL; refused before reading when they cannot fit.
        let (from, to) = match parsed.partial {
            _ if fields.is_some() => (start, end),
            Some((offset, length)) => {
                let from = start.saturating_add(u64::from(offset)).min(end);
                let to = match length {
                    Some(l) => from.saturating_add(u64::from(l)).min(end),
                    None => end,
                };
                (from, to)
            }
            None => (start, end),
        };
        if to - from > room as u64 {
            return Err(Done::no_with(Code::TooBig, "Message too large"));
        }
        let bytes = blob
            .read_range(from, to)
            .await
            .map_err(|e| self.server_error(storage::Error::Io(e)))?;
        let bytes = match fields {
            None => bytes,
            Some((names, include)) => {
                let source = SectionSource::Fields {
                    start,
                    end,
                    names: &names,
                    include,
                };
                let rendered = source.render(&bytes, start);
                apply_partial(rendered, parsed.partial)
            }
        };
        if bytes.len() > room {
            return Err(Done::no_with(Code::TooBig, "Message too large"));
        }
        if let Some(unit) = &mailbox.unit_address {
            // KT-8: reads in a unit mailbox are recorded with who made them.
            let _ = store
                .log_event(
                    &user.address,
                    storage::Action::UnitRead,
                    unit,
                    "",
                    serde_json::json!({"folder": mailbox.folder.name, "uids": [uid], "via": "CATENATE"}),
                )
                .await;
        }
        Ok(bytes)
    }
}

/// RFC 5092 `;PARTIAL=offset[.length]` on rendered bytes.
fn apply_partial(bytes: Vec<u8>, partial: Option<(u32, Option<u32>)>) -> Vec<u8> {
    match partial {
        None => bytes,
        Some((offset, length)) => {
            let from = (offset as usize).min(bytes.len());
            let to = match length {
                Some(l) => from.saturating_add(l as usize).min(bytes.len()),
                None => bytes.len(),
            };
            bytes[from..to].to_vec()
        }
    }
}
