//! A message resent after its answer was lost is stored once (issue 16).
//!
//! An SMTP client whose end of data got no answer (the node died) or a 4xx while the COMMIT's
//! outcome was unknown (the database failed over during it) sends the message again; RFC 5321
//! 6.1 tolerates the duplicate that follows, and with several nodes it follows every node
//! loss. So the SMTP transaction carries a *delivery key* — a hash of its envelope and of the
//! bytes as received — and the key is claimed in the transaction that stores the message. A
//! key already claimed less than [`KEY_TTL_SECS`] ago means this very transaction was committed:
//! the resend is acknowledged and nothing is stored again.
//!
//! Only a message with a Message-ID gets a key (RFC 5322 3.6.4: one Message-ID names one
//! message), so a program that sends the same bytes without one, on purpose, gets every copy.

use std::collections::HashSet;

use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::{now, MessageMeta, Result, Store};

/// How long a key is remembered: longer than any client's retry of a lost answer.
pub const KEY_TTL_SECS: i64 = 24 * 3600;

/// The key of an SMTP transaction: its envelope (reverse path, forward paths in the order
/// given, case-folded) and its data as received. None when the message has no Message-ID.
pub fn of(sender: &str, recipients: &[&str], data: &[u8], meta: &MessageMeta) -> Option<String> {
    meta.envelope.message_id.as_ref()?;
    let mut hash = Sha256::new();
    // Every part length-prefixed: no two envelopes hash the same bytes.
    let mut part = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_be_bytes());
        hash.update(bytes);
    };
    part(b"govmail delivery key 1");
    part(sender.to_lowercase().as_bytes());
    for recipient in recipients {
        part(recipient.to_lowercase().as_bytes());
    }
    part(data);
    Some(hex::encode(hash.finalize()))
}

/// Claims the keys of a batch of deliveries (in its transaction): for each, whether it is to
/// be stored — it has no key, or its key is new or older than [`KEY_TTL_SECS`] (then renewed).
/// A key given twice in the batch is stored the first time only.
pub(crate) async fn claim_in(tx: &mut crate::Tx, keys: &[Option<&str>]) -> Result<Vec<bool>> {
    let mut distinct: Vec<&str> = keys.iter().flatten().copied().collect();
    distinct.sort_unstable();
    distinct.dedup();
    let mut claimed: HashSet<String> = HashSet::new();
    let at = now();
    for chunk in distinct.chunks(100) {
        let rows = crate::value_rows(chunk.len(), 2);
        let sql = format!(
            "INSERT INTO delivery_keys (key, created_at) VALUES {} \
             ON CONFLICT (key) DO UPDATE SET created_at = excluded.created_at \
             WHERE delivery_keys.created_at < excluded.created_at - {KEY_TTL_SECS} \
             RETURNING key",
            rows
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for key in chunk {
            query = query.bind(key.to_string()).bind(at);
        }
        for row in query.fetch_all(&mut **tx).await? {
            claimed.insert(row.get(0));
        }
    }
    Ok(keys
        .iter()
        .map(|key| key.is_none_or(|k| claimed.remove(k)))
        .collect())
}

impl Store {
    /// Forgets keys older than [`KEY_TTL_SECS`] (retention runs it); returns how many.
    pub async fn purge_delivery_keys(&self) -> Result<u64> {
        let done = sqlx::query("DELETE FROM delivery_keys WHERE created_at < $1")
            .bind(now() - KEY_TTL_SECS)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WITH_ID: &[u8] = b"Message-ID: <1@kontum.gov.vn>\r\nSubject: x\r\n\r\nbody\r\n";

    fn key(sender: &str, recipients: &[&str], data: &[u8]) -> Option<String> {
        of(sender, recipients, data, &MessageMeta::compute(data))
    }

    #[test]
    fn a_message_without_message_id_has_no_key() {
        assert_eq!(
            key("a@x.vn", &["b@y.vn"], b"Subject: x\r\n\r\nbody\r\n"),
            None
        );
        assert!(key("a@x.vn", &["b@y.vn"], WITH_ID).is_some());
    }

    #[test]
    fn the_key_names_envelope_and_data() {
        let base = key("a@x.vn", &["b@y.vn", "c@y.vn"], WITH_ID);
        // The resend of the same transaction, whatever the case of the addresses.
        assert_eq!(base, key("A@X.vn", &["b@Y.VN", "c@y.vn"], WITH_ID));
        let other_data = b"Message-ID: <1@kontum.gov.vn>\r\nSubject: x\r\n\r\nbody.\r\n";
        for other in [
            key("", &["b@y.vn", "c@y.vn"], WITH_ID),
            key("a@x.vn", &["b@y.vn"], WITH_ID),
            key("a@x.vn", &["b@y.vnc@y.vn"], WITH_ID),
            key("a@x.vn", &["b@y.vn", "c@y.vn"], other_data),
        ] {
            assert_ne!(base, other);
        }
    }
}
