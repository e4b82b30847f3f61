//! APPEND (RFC 9051 6.3.12) of one message or several (RFC 3502 MULTIAPPEND), each a literal
//! or put together from literals and IMAP URLs (RFC 4469 CATENATE, in `catenate`).
//!
//! Every message is built and checked first (size, emptiness, parts); then all are stored in
//! one storage transaction with the quota checked against their total, so a failure anywhere
//! stores none (RFC 3502 6.3.11: "no partial appending is permitted"). APPENDUID carries the
//! UIDs as a set (RFC 3502, MULTIAPPEND and UIDPLUS).

use storage::{Flags, NewMessage};

use crate::encode::{Code, Done};
use crate::protocol::{AppendData, AppendMessage};
use crate::state::Session;

impl Session {
    pub(crate) async fn append(&mut self, raw: &str, messages: Vec<AppendMessage>) -> Done {
        let target = match self.resolve_folder(raw).await {
            Ok(m) => m,
            // RFC 9051 6.3.12: a missing target is NO [TRYCREATE], never created.
            Err(done) if done.has_code(&Code::NonExistent) => {
                return Done::no_with(Code::TryCreate, "No such mailbox")
            }
            Err(done) => return done,
        };
        if let Err(done) = target.require("i", "add messages") {
            return done;
        }
        let settings = self.context.settings.clone();
        let parts: usize = messages
            .iter()
            .map(|m| match &m.data {
                AppendData::Literal(_) => 1,
                AppendData::Catenate(parts) => parts.len(),
            })
            .sum();
        if parts > settings.max_append_parts {
            return Done::no_with(
                Code::Limit,
                format!(
                    "At most {} messages and parts in one APPEND",
                    settings.max_append_parts
                ),
            );
        }
        let mut built = Vec::with_capacity(messages.len());
        let mut total = 0usize;
        for message in messages {
            let raw = match message.data {
                AppendData::Literal(bytes) => bytes,
                AppendData::Catenate(parts) => {
                    let room = settings.max_append_bytes.saturating_sub(total);
                    match self.catenate(parts, room).await {
                        Ok(bytes) => bytes,
                        Err(done) => return done,
                    }
                }
            };
            // RFC 3502 6.3.11: "A zero-length message literal argument is an error, and MUST
            // return a NO."
            if raw.is_empty() {
                return Done::no_with(Code::Cannot, "Empty message");
            }
            // RFC 4469 4.2 / RFC 7889: TOOBIG for a message over the limit.
            if raw.len() > settings.max_literal {
                return Done::no_with(Code::TooBig, "Message too large");
            }
            // RFC 3516 4.4: binary content is stored re-encoded, so BODY[] never holds NUL.
            let raw = match crate::reencode::nul_free(&raw) {
                Ok(None) => raw,
                Ok(Some(reencoded)) => reencoded,
                Err(why) => return Done::no_with(Code::Cannot, format!("Cannot store: {why}")),
            };
            total += raw.len();
            if total > settings.max_append_bytes {
                return Done::no_with(Code::TooBig, "Messages too large in all");
            }
            built.push(NewMessage {
                raw,
                flags: permitted_flags(&message.flags, &target.rights),
                internal_date: message
                    .date
                    .map(|(seconds, _)| seconds)
                    .unwrap_or_else(storage::now),
            });
        }
        let folder = target.folder;
        match self.context.store.append_messages(folder.id, built).await {
            Ok(uids) => {
                // RFC 5465 5: not told back to the client that made it.
                self.notify_absorb(&[folder.id]).await;
                Done::ok_with(
                    Code::AppendUid {
                        uidvalidity: folder.uidvalidity,
                        uids,
                    },
                    "APPEND completed",
                )
            }
            Err(e) => self.server_error(e),
        }
    }
}

/// RFC 4314 4 (APPEND): setting `\Seen` needs `s`, `\Deleted` `t`, other flags `w`; the flags
/// the user may not set are left off rather than failing the APPEND. `\Recent` is never
/// set by a client.
fn permitted_flags(flags: &[String], rights: &str) -> Flags {
    Flags::from_names(
        flags
            .iter()
            .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
            .filter(|f| {
                rights.contains(if f.eq_ignore_ascii_case("\\Seen") {
                    's'
                } else if f.eq_ignore_ascii_case("\\Deleted") {
                    't'
                } else {
                    'w'
                })
            }),
    )
}
