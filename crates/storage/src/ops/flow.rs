//! Daily mail-flow counters: accepted messages counted per local day, account and kind,
//! buffered in memory and written in batches (the data behind the usage report).

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;
use sqlx::Row;

use super::calendar::local_day;
use crate::{now, Error, Result, Store};

/// One accepted message, as the usage report counts it. Built by SMTP after `deliver`
/// returned (see `crates/smtp/src/deliver.rs`).
#[derive(Debug, Clone, Default)]
pub struct DeliveryNote {
    /// The authenticated account that submitted it (None: received from outside by MX).
    pub sender_account: Option<i64>,
    /// Local accounts that received a copy (not the unit's Sent copy of a send-as-unit).
    pub recipient_accounts: Vec<i64>,
    /// Number of recipients outside our domains.
    pub remote_recipients: usize,
    /// Filed into Junk by the spam filter.
    pub junk: bool,
    pub bytes: i64,
}

type FlowKey = (i64, i64, &'static str);

/// Counters not yet written. Each store has one (shared by its clones): the `flow` field.
#[derive(Default)]
pub(crate) struct FlowBuffer {
    counts: HashMap<FlowKey, (i64, i64)>,
    flush_scheduled: bool,
}

/// The unwritten counters of a store.
pub(crate) type FlowCounters = Mutex<FlowBuffer>;

/// Counters are written at most this long after the delivery they count.
const FLOW_FLUSH_DELAY: std::time::Duration = std::time::Duration::from_secs(5);

/// One row of the `mail_flow` table.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FlowRow {
    /// Local date as YYYYMMDD.
    pub day: i64,
    pub account_id: i64,
    pub kind: String,
    pub messages: i64,
    pub bytes: i64,
}

impl Store {
    /// Counts an accepted message for the usage report. Cheap and synchronous: counts are
    /// buffered in memory and written in one transaction a few seconds later (and by
    /// [`Store::flush_mail_flow`], which `serve` calls at shutdown).
    pub fn note_delivery(&self, note: DeliveryNote) {
        self.note_delivery_at(now(), note)
    }

    /// [`Store::note_delivery`] for a delivery at time `at` (imports of old counts, tests).
    pub fn note_delivery_at(&self, at: i64, note: DeliveryNote) {
        let day = local_day(at, self.local_offset);
        let schedule = {
            let mut guard = self.flow.lock().expect("flow lock");
            let buffer = &mut *guard;
            let mut add = |account: i64, kind: &'static str| {
                let entry = buffer.counts.entry((day, account, kind)).or_default();
                entry.0 += 1;
                entry.1 += note.bytes;
            };
            let internal = note.sender_account.is_some();
            for &account in &note.recipient_accounts {
                add(
                    account,
                    if internal {
                        "received_internal"
                    } else {
                        "received_external"
                    },
                );
                if note.junk {
                    add(account, "received_junk");
                }
            }
            if let Some(sender) = note.sender_account {
                add(
                    sender,
                    if note.remote_recipients == 0 {
                        "sent_internal"
                    } else {
                        "sent_external"
                    },
                );
            }
            !std::mem::replace(&mut buffer.flush_scheduled, true)
        };
        if schedule {
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    let store = self.clone();
                    handle.spawn(async move {
                        tokio::time::sleep(FLOW_FLUSH_DELAY).await;
                        if let Err(e) = store.flush_mail_flow().await {
                            tracing::warn!(error = %e, "writing message counters failed");
                        }
                    });
                }
                Err(_) => {
                    // No runtime: the next flush_mail_flow writes them.
                    self.flow.lock().expect("flow lock").flush_scheduled = false;
                }
            }
        }
    }

    /// Writes buffered message counters now (one transaction).
    pub async fn flush_mail_flow(&self) -> Result<()> {
        let counts = {
            let mut buffer = self.flow.lock().expect("flow lock");
            buffer.flush_scheduled = false;
            std::mem::take(&mut buffer.counts)
        };
        if counts.is_empty() {
            return Ok(());
        }
        let result = async {
            let mut tx = self.begin_write().await?;
            for ((day, account, kind), (messages, bytes)) in &counts {
                sqlx::query(
                    "INSERT INTO mail_flow (day, account_id, kind, messages, bytes) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (day, account_id, kind) DO UPDATE \
                     SET messages = mail_flow.messages + $4, bytes = mail_flow.bytes + $5",
                )
                .bind(*day)
                .bind(*account)
                .bind(kind.to_string())
                .bind(*messages)
                .bind(*bytes)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, Error>(())
        }
        .await;
        if let Err(e) = result {
            if !self.pool.is_closed() {
                // Put them back for the next flush.
                let mut buffer = self.flow.lock().expect("flow lock");
                for (k, (m, b)) in counts {
                    let entry = buffer.counts.entry(k).or_default();
                    entry.0 += m;
                    entry.1 += b;
                }
            }
            return Err(e);
        }
        Ok(())
    }

    /// Counter rows for local days `from_day..=to_day` (YYYYMMDD).
    pub async fn mail_flow(&self, from_day: i64, to_day: i64) -> Result<Vec<FlowRow>> {
        let rows = sqlx::query(
            "SELECT day, account_id, kind, messages, bytes FROM mail_flow \
             WHERE day >= $1 AND day <= $2 ORDER BY day, account_id, kind",
        )
        .bind(from_day)
        .bind(to_day)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| FlowRow {
                day: r.get(0),
                account_id: r.get(1),
                kind: r.get(2),
                messages: r.get(3),
                bytes: r.get(4),
            })
            .collect())
    }
}
