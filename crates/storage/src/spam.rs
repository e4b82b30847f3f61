//! What the spam checks keep (migration 0014): the classifier's token counts and trained
//! totals, province-wide (account 0, [`PROVINCE`]) and per account, the side each message was
//! trained as, and the sender history (accepted and junked per address, domain and IP). The
//! maths is `policy::spam::bayes`'s; this module only counts.

use std::collections::HashMap;

use policy::spam::bayes::{Class, Counts};
use policy::spam::reputation;
use sqlx::Row;

use crate::{Result, Store, Tx};

/// The account id of the province-wide counts.
pub const PROVINCE: i64 = 0;

/// Tokens per statement (4 binds each in an upsert: well under SQLite's 32,766).
const CHUNK: usize = 500;

/// What [`Store::bayes_train`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trained {
    /// Counted on this side for the first time.
    New,
    /// Moved from the other side (untrained there first).
    Moved,
    /// Already trained on this side: nothing changed.
    Already,
}

/// A `(key, spam, ham)` row: an account's totals or a token's counts, by its key.
fn keyed_counts(row: &sqlx::any::AnyRow) -> (i64, Counts) {
    (
        row.get(0),
        Counts {
            spam: row.get(1),
            ham: row.get(2),
        },
    )
}

impl Store {
    /// Trained totals of an account (or [`PROVINCE`]).
    pub async fn bayes_totals(&self, account_id: i64) -> Result<Counts> {
        let row = sqlx::query(
            "SELECT spam_messages, ham_messages FROM bayes_totals WHERE account_id = $1",
        )
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map_or(Counts::default(), |r| Counts {
            spam: r.get(0),
            ham: r.get(1),
        }))
    }

    /// Trained totals of several accounts (or [`PROVINCE`]), in their order, in one statement.
    pub async fn bayes_totals_of(&self, account_ids: &[i64]) -> Result<Vec<Counts>> {
        if account_ids.is_empty() {
            return Ok(vec![]);
        }
        let marks: Vec<String> = (1..=account_ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT account_id, spam_messages, ham_messages FROM bayes_totals \
             WHERE account_id IN ({})",
            marks.join(",")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in account_ids {
            query = query.bind(*id);
        }
        let found: HashMap<i64, Counts> = query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(keyed_counts)
            .collect();
        Ok(account_ids
            .iter()
            .map(|id| found.get(id).copied().unwrap_or_default())
            .collect())
    }

    /// The counts of `tokens` (in their order; unseen tokens count 0) and the totals.
    pub async fn bayes_counts(
        &self,
        account_id: i64,
        tokens: &[i64],
    ) -> Result<(Counts, Vec<Counts>)> {
        let totals = self.bayes_totals(account_id).await?;
        let counts = self.bayes_token_counts(account_id, totals, tokens).await?;
        Ok((totals, counts))
    }

    /// The counts of `tokens` (in their order; unseen tokens count 0) for an account whose
    /// totals the caller has read already (nothing is read when nothing is trained).
    pub async fn bayes_token_counts(
        &self,
        account_id: i64,
        totals: Counts,
        tokens: &[i64],
    ) -> Result<Vec<Counts>> {
        let mut found: HashMap<i64, Counts> = HashMap::new();
        if totals.spam + totals.ham > 0 {
            for chunk in tokens.chunks(CHUNK) {
                let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
                let sql = format!(
                    "SELECT token, spam_count, ham_count FROM bayes_tokens \
                     WHERE account_id = $1 AND token IN ({})",
                    marks.join(",")
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(account_id);
                for token in chunk {
                    query = query.bind(*token);
                }
                found.extend(query.fetch_all(&self.pool).await?.iter().map(keyed_counts));
            }
        }
        Ok(tokens
            .iter()
            .map(|t| found.get(t).copied().unwrap_or_default())
            .collect())
    }

    /// Trains a message (known by `digest`, the SHA-256 of its content) as `class` for each of
    /// `account_ids` (a user's own and [`PROVINCE`], or the province alone), in one
    /// transaction. A message trained as the other side before is untrained there first; one
    /// trained as this side already changes nothing. Returns what happened for the first id.
    pub async fn bayes_train(
        &self,
        account_ids: &[i64],
        digest: &str,
        class: Class,
        tokens: &[i64],
    ) -> Result<Trained> {
        let (account_ids, digest, tokens) =
            (account_ids.to_vec(), digest.to_string(), tokens.to_vec());
        self.write(move |tx| Box::pin(train_in(tx, account_ids, digest, class, tokens)))
            .await
    }

    /// The history of a sender: its address, its domain, the IP it came from.
    pub async fn sender_history(&self, address: &str, ip: &str) -> Result<reputation::History> {
        let mut history = reputation::History::default();
        let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
        // The three in one statement (each is a round trip to the database); an empty key
        // matches no row (none is ever written).
        let rows = sqlx::query(
            "SELECT kind, accepted, junked FROM sender_reputation \
             WHERE (kind = 'address' AND key = $1) OR (kind = 'domain' AND key = $2) \
             OR (kind = 'ip' AND key = $3)",
        )
        .bind(address.to_lowercase())
        .bind(domain.to_lowercase())
        .bind(ip.to_lowercase())
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            let counts = reputation::Counts {
                accepted: r.get(1),
                junked: r.get(2),
            };
            match r.get::<String, _>(0).as_str() {
                "address" => history.address = counts,
                "domain" => history.domain = counts,
                _ => history.ip = counts,
            }
        }
        Ok(history)
    }

    /// Counts one message from a sender as accepted or junked (`ip` may be empty: a user's
    /// training knows no IP). `undo` takes one from the other side first (a user moved a
    /// message the filter had judged).
    pub async fn record_sender(
        &self,
        address: &str,
        ip: &str,
        junked: bool,
        undo: bool,
    ) -> Result<()> {
        let (address, ip) = (address.to_lowercase(), ip.to_string());
        self.write(move |tx| Box::pin(record_in(tx, address, ip, junked, undo)))
            .await
    }
}

async fn train_in(
    tx: &mut Tx,
    account_ids: Vec<i64>,
    digest: String,
    class: Class,
    tokens: Vec<i64>,
) -> Result<Trained> {
    let mut first = None;
    for account_id in account_ids {
        let before: Option<String> = sqlx::query_scalar(
            "SELECT class FROM bayes_trained WHERE account_id = $1 AND digest = $2",
        )
        .bind(account_id)
        .bind(digest.clone())
        .fetch_optional(&mut **tx)
        .await?;
        let before = before.as_deref().and_then(Class::parse);
        let outcome = match before {
            Some(c) if c == class => Trained::Already,
            Some(other) => {
                count(tx, account_id, other, &tokens, -1).await?;
                Trained::Moved
            }
            None => Trained::New,
        };
        if outcome != Trained::Already {
            count(tx, account_id, class, &tokens, 1).await?;
            sqlx::query(
                "INSERT INTO bayes_trained (account_id, digest, class) VALUES ($1, $2, $3) \
                 ON CONFLICT (account_id, digest) DO UPDATE SET class = excluded.class",
            )
            .bind(account_id)
            .bind(digest.clone())
            .bind(class.as_str())
            .execute(&mut **tx)
            .await?;
        }
        first.get_or_insert(outcome);
    }
    Ok(first.unwrap_or(Trained::Already))
}

async fn record_in(
    tx: &mut Tx,
    address: String,
    ip: String,
    junked: bool,
    undo: bool,
) -> Result<()> {
    let domain = address.rsplit_once('@').map_or("", |(_, d)| d).to_string();
    for (kind, key) in [("address", address.clone()), ("domain", domain), ("ip", ip)] {
        if key.is_empty() {
            continue;
        }
        // (accepted, junked) changes; an undo moves one from the other side.
        let (accepted, junk): (i64, i64) = match (junked, undo) {
            (true, false) => (0, 1),
            (false, false) => (1, 0),
            (true, true) => (-1, 1),
            (false, true) => (1, -1),
        };
        // One upsert: a new row starts from 0 + the change, never below 0.
        sqlx::query(
            "INSERT INTO sender_reputation (kind, key, accepted, junked) \
             VALUES ($1, $2, CASE WHEN $3 < 0 THEN 0 ELSE $3 END, \
                     CASE WHEN $4 < 0 THEN 0 ELSE $4 END) \
             ON CONFLICT (kind, key) DO UPDATE SET \
             accepted = CASE WHEN sender_reputation.accepted + $3 < 0 THEN 0 \
                        ELSE sender_reputation.accepted + $3 END, \
             junked = CASE WHEN sender_reputation.junked + $4 < 0 THEN 0 \
                      ELSE sender_reputation.junked + $4 END",
        )
        .bind(kind)
        .bind(key)
        .bind(accepted)
        .bind(junk)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Adds `delta` (1 or −1) to the tokens and the total of one side of an account; counts never
/// go below 0.
async fn count(
    tx: &mut Tx,
    account_id: i64,
    class: Class,
    tokens: &[i64],
    delta: i64,
) -> Result<()> {
    let (column, total) = match class {
        Class::Spam => ("spam_count", "spam_messages"),
        Class::Ham => ("ham_count", "ham_messages"),
    };
    if delta > 0 {
        for chunk in tokens.chunks(CHUNK) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| format!("($1, ${}, $2)", i + 3))
                .collect();
            let sql = format!(
                "INSERT INTO bayes_tokens (account_id, token, {column}) VALUES {} \
                 ON CONFLICT (account_id, token) DO UPDATE SET \
                 {column} = bayes_tokens.{column} + excluded.{column}",
                rows.join(",")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(account_id)
                .bind(delta);
            for token in chunk {
                query = query.bind(*token);
            }
            query.execute(&mut **tx).await?;
        }
        let sql = format!(
            "INSERT INTO bayes_totals (account_id, {total}) VALUES ($1, 1) \
             ON CONFLICT (account_id) DO UPDATE SET {total} = bayes_totals.{total} + 1"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .execute(&mut **tx)
            .await?;
    } else {
        for chunk in tokens.chunks(CHUNK) {
            let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "UPDATE bayes_tokens SET {column} = CASE WHEN {column} > 0 THEN {column} - 1 ELSE 0 END \
                 WHERE account_id = $1 AND token IN ({})",
                marks.join(",")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(account_id);
            for token in chunk {
                query = query.bind(*token);
            }
            query.execute(&mut **tx).await?;
        }
        let sql = format!(
            "UPDATE bayes_totals SET {total} = CASE WHEN {total} > 0 THEN {total} - 1 ELSE 0 END \
             WHERE account_id = $1"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
