//! Removing messages the way an IMAP client does, and the audit events of bulk removals
//! (shared by retention and purge).
//!
//! Removal goes through the IMAP storage paths ([`Store::store_flags`] then
//! [`Store::expunge`]), so quota usage, blob reference counts, the `expunged` log (QRESYNC)
//! and folder HIGHESTMODSEQ stay exact, and IMAP sessions see ordinary expunges.

use crate::events::EventRow;
use crate::{now, Action, FlagChange, Result, Store};

use crate::Tx;

impl Store {
    /// Removes messages by UID the way an IMAP client does (`\Deleted`, then UID EXPUNGE of
    /// exactly those): quota usage, blob references, the VANISHED log and HIGHESTMODSEQ move
    /// with them, and open sessions are told. Returns the UIDs removed.
    pub async fn remove_messages(&self, folder_id: i64, uids: &[i64]) -> Result<Vec<i64>> {
        let mut removed = vec![];
        for chunk in uids.chunks(500) {
            // Flag and expunge in one transaction: never a \Deleted flag left behind alone.
            let chunk = chunk.to_vec();
            let accounts = self.folder_accounts.clone();
            let (account_id, gone, _) = self
                .write_conn(move |conn| {
                    Box::pin(async move {
                        let deleted = vec!["\\Deleted".to_string()];
                        Self::store_flags_in(
                            &accounts,
                            conn,
                            folder_id,
                            chunk.clone(),
                            FlagChange::Add,
                            deleted,
                            None,
                        )
                        .await?;
                        Self::expunge_in(&accounts, conn, folder_id, Some(chunk)).await
                    })
                })
                .await?;
            if !gone.is_empty() {
                self.changed(account_id, folder_id);
            }
            removed.extend(gone);
        }
        Ok(removed)
    }

    /// Records one audit event per (target, detail) inside `tx`, all at the same time.
    pub(super) async fn log_events_in(
        tx: &mut Tx,
        actor: &str,
        action: Action,
        doc_ref: &str,
        events: &[(String, serde_json::Value)],
    ) -> Result<()> {
        let at = now();
        for (target, detail) in events {
            EventRow::new(at, actor, action.clone(), target, doc_ref, detail)
                .insert()
                .execute(&mut crate::conn::Conn::Sqlx(&mut *tx))
                .await?;
        }
        Ok(())
    }
}
