//! The FETCH items of RFC 8970 PREVIEW, RFC 8514 SAVEDATE and RFC 8474 EMAILID/THREADID.
//!
//! ```abnf
//! msg-att-dynamic =/ "PREVIEW" SP nstring                  ; RFC 8970 6
//! msg-att-static  =/ "SAVEDATE" SP (date-time / nil)       ; RFC 8514 5
//! msg-att-static  =/ "EMAILID" SP "(" objectid ")" /
//!                    "THREADID" SP ("(" objectid ")" / nil) ; RFC 8474 7
//! ```
//!
//! Previews are made from the stored parse and the text part's bytes (see `preview`), kept in
//! the context's cache by blob. With LAZY (RFC 8970 4.1) a FETCH spends at most
//! `preview_lazy_budget` making previews; the others answer NIL and are made in the
//! background (a few at a time) for the next FETCH. Without LAZY a preview is never NIL
//! (RFC 8970 3.2: "A server MUST NOT return NIL to a FETCH PREVIEW request made without the
//! LAZY modifier").

use std::collections::HashMap;
use std::sync::Arc;

use storage::meta::MessageMeta;
use storage::{MessageRow, Store};

use crate::encode::strings::nstring;
use crate::encode::{self, Done, FetchLine};
use crate::protocol::FetchItem;
use crate::state::Session;
use crate::{objects, preview};

impl Session {
    /// Before a FETCH writes its messages: the EMAILIDs and save dates it needs, in one
    /// query, and the LAZY preview deadline.
    pub(crate) async fn prepare_fetch_ext(
        &mut self,
        folder_id: i64,
        items: &[FetchItem],
        rows: &HashMap<i64, MessageRow>,
    ) -> Result<(), Done> {
        self.fetch_ext = objects::FetchExt::default();
        if items
            .iter()
            .any(|i| matches!(i, FetchItem::SaveDate | FetchItem::EmailId))
        {
            let ids: Vec<i64> = rows.values().map(|r| r.id).collect();
            match self.context.store.message_extras(folder_id, &ids).await {
                Ok(extras) => self.fetch_ext.extras = extras,
                Err(e) => return Err(self.server_error(e)),
            }
        }
        if items
            .iter()
            .any(|i| matches!(i, FetchItem::Preview { lazy: true }))
        {
            self.fetch_ext.lazy_until =
                Some(std::time::Instant::now() + self.context.settings.preview_lazy_budget);
        }
        Ok(())
    }

    /// Writes one of our items of one message into its FETCH line.
    pub(crate) async fn write_fetch_ext(
        &mut self,
        line: &mut FetchLine,
        item: &FetchItem,
        row: &MessageRow,
        meta: Option<Arc<MessageMeta>>,
    ) -> Result<(), Done> {
        let extra = self.fetch_ext.extras.get(&row.id).copied();
        match item {
            FetchItem::SaveDate => {
                // RFC 8514 4.2: every message here has a save date (set when it was put in
                // this mailbox), so never NIL.
                let saved = extra.map_or(row.internal_date, |x| x.saved_at);
                let date = encode::internal_date(saved);
                line.item(&format!("SAVEDATE \"{date}\""));
            }
            FetchItem::EmailId => {
                let id = extra.map_or(row.id, |x| x.email_id);
                line.item(&format!("EMAILID ({})", objects::email_id(id)));
            }
            // RFC 8474 5.2: threads are not computed here, so NIL.
            FetchItem::ThreadId => {
                line.item("THREADID NIL");
            }
            FetchItem::Preview { lazy } => {
                let text = self.preview(row, meta, *lazy).await?;
                let out = line.item("PREVIEW ");
                nstring(text.as_deref(), out);
            }
            _ => {}
        }
        Ok(())
    }

    /// The preview of a message; `None` only for LAZY past the budget.
    async fn preview(
        &mut self,
        row: &MessageRow,
        meta: Option<Arc<MessageMeta>>,
        lazy: bool,
    ) -> Result<Option<String>, Done> {
        let cache = &self.context.previews;
        if let Some(text) = cache.get(&row.blob_id) {
            return Ok(Some(text.to_string()));
        }
        let store = self.context.store.clone();
        let meta = match meta {
            Some(meta) => meta,
            None => store
                .message_meta(row.id)
                .await
                .map_err(|e| self.server_error(e))?,
        };
        let over_budget = self
            .fetch_ext
            .lazy_until
            .is_some_and(|until| std::time::Instant::now() >= until);
        if lazy && over_budget {
            // RFC 8970 4.1: NIL now, made in the background for a later FETCH.
            if let Ok(permit) = cache.background.clone().try_acquire_owned() {
                let context = self.context.clone();
                let (blob_id, size) = (row.blob_id.clone(), row.size);
                tokio::spawn(async move {
                    if let Ok(text) = make_preview(&context.store, &blob_id, size, &meta).await {
                        context.previews.insert(&blob_id, Arc::from(text));
                    }
                    drop(permit);
                });
            }
            return Ok(None);
        }
        let text = make_preview(&store, &row.blob_id, row.size, &meta)
            .await
            .map_err(|e| self.server_error(e))?;
        self.context
            .previews
            .insert(&row.blob_id, Arc::from(text.as_str()));
        Ok(Some(text))
    }
}

/// Reads the text part (at most [`preview::MAX_PART_READ`] bytes of its body) and makes the
/// preview; the empty string when the message has no text part.
async fn make_preview(
    store: &Store,
    blob_id: &str,
    size: i64,
    meta: &MessageMeta,
) -> Result<String, storage::Error> {
    let Some((start, body, end)) = preview::text_part(&meta.root) else {
        return Ok(String::new());
    };
    let mut blob = store.open_blob(blob_id, size).await?;
    let end = end
        .min(body.saturating_add(preview::MAX_PART_READ))
        .min(blob.len());
    let bytes = blob.read_range(start.min(end), end).await?;
    // Parsing is CPU work on at most 64 KiB plus a header; fine inline.
    Ok(preview::preview_of(&bytes))
}
