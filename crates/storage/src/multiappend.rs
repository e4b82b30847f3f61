//! APPEND of one or more messages as one unit (RFC 3502 MULTIAPPEND): every message is stored,
//! or none is. The bodies are made durable first, then one write transaction checks the quota
//! against their total and inserts every row; a failure anywhere rolls back all of them.

use crate::meta::MessageMeta;
use crate::{Flags, Result, Store};

/// One message of an APPEND.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub raw: Vec<u8>,
    pub flags: Flags,
    /// Unix seconds.
    pub internal_date: i64,
}

impl Store {
    /// Stores `messages` in the folder in one transaction (RFC 3502: atomic). The quota is
    /// checked against their total size. Returns their UIDs, in order.
    pub async fn append_messages(
        &self,
        folder_id: i64,
        messages: Vec<NewMessage>,
    ) -> Result<Vec<i64>> {
        let mut prepared = Vec::with_capacity(messages.len());
        // Deliveries and appends hold the GC lock shared from blob write to commit.
        let _gc_guard = self.gc_lock.read().await;
        for message in messages {
            let parsed = MessageMeta::compute(&message.raw);
            let terms = self.index_terms(&message.raw, &parsed);
            let meta = parsed.to_json();
            let blob_id = self.put_blob_bytes(&message.raw).await?;
            prepared.push((message, blob_id, meta, terms));
        }
        let store = self.clone();
        let (account_id, uids) = self
            .write_conn(move |conn| {
                Box::pin(async move {
                    let account_id = store.folder_accounts.account_in(conn, folder_id).await?;
                    let total: i64 = prepared.iter().map(|(m, _, _, _)| m.raw.len() as i64).sum();
                    Self::check_quota_in(conn, account_id, total).await?;
                    let mut uids = Vec::with_capacity(prepared.len());
                    for (message, blob_id, meta, terms) in &prepared {
                        store.blob_ref_in(conn, blob_id, &message.raw, 1).await?;
                        if let Some(terms) = terms {
                            Self::insert_search_terms_in(
                                conn,
                                &[(blob_id.as_str(), terms.as_deref())],
                            )
                            .await?;
                        }
                        let uid = Self::insert_message_in(
                            conn,
                            store.message_docs,
                            folder_id,
                            account_id,
                            blob_id,
                            message.raw.len() as i64,
                            &message.flags,
                            message.internal_date,
                            meta,
                        )
                        .await?;
                        uids.push(uid);
                    }
                    Ok((account_id, uids))
                })
            })
            .await?;
        self.changed(account_id, folder_id);
        Ok(uids)
    }
}
