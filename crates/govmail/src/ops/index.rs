//! `govmail index rebuild [--account ADDRESS] [--full]` (issue 13): indexes the mail the
//! full-text index lacks — stored before the index existed, imported, or received while
//! `storage.full_text_index` was off — or, with `--full`, every message again. Batches are
//! transactions (`Store::rebuild_search_index`), so a kill loses nothing and a rerun goes on.
//! A rebuild ends by settling the index (`storage::search_settle`), as `govmail index settle`
//! does alone; `serve` settles it itself once no document has come or gone for a while.

use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Subcommand;
use serde::Serialize;
use storage::Store;

use super::{print_record, ProgressBar};

#[derive(Subcommand, Debug)]
pub enum IndexCmd {
    /// Index what the index lacks (or everything with --full), with a progress bar.
    Rebuild {
        /// Only this mailbox (a person's or unit's address, or an alias).
        #[arg(long)]
        account: Option<String>,
        /// Index every message again, not only those missing.
        #[arg(long)]
        full: bool,
    },
    /// Merge the SQLite index's segments into one (what the server does once the index is
    /// quiet; nothing to do on PostgreSQL).
    Settle,
}

#[derive(Debug, Serialize)]
struct RebuildSummary {
    account: Option<String>,
    full: bool,
    messages: u64,
    seconds: f64,
}

pub async fn index(store: &Store, json: bool, cmd: IndexCmd) -> anyhow::Result<()> {
    let (account, full) = match cmd {
        IndexCmd::Rebuild { account, full } => (account, full),
        IndexCmd::Settle => return settle(store, json).await,
    };
    if !store.full_text_index() {
        bail!("storage.full_text_index is off: turn it on before rebuilding the index");
    }
    let account_id = match &account {
        None => None,
        Some(address) => match store.resolve(address).await? {
            storage::Resolved::Account(a) => Some(a.account_id),
            storage::Resolved::Group { .. } => bail!("{address} is a distribution group"),
            storage::Resolved::Unknown => bail!("no mailbox {address}"),
        },
    };
    let started = Instant::now();
    let mut bar = ProgressBar::new();
    let done = store
        .rebuild_search_index(account_id, full, &mut |p| {
            bar.update("indexing", p.done, p.total)
        })
        .await?;
    bar.finish();
    store.settle_search_index().await?;
    let summary = RebuildSummary {
        account,
        full,
        messages: done.done,
        seconds: started.elapsed().as_secs_f64(),
    };
    if json {
        print_record(true, &summary);
    } else {
        crate::outln!(
            "indexed {} messages{} in {:.1} s",
            summary.messages,
            summary
                .account
                .as_deref()
                .map(|a| format!(" of {a}"))
                .unwrap_or_default(),
            summary.seconds
        );
    }
    Ok(())
}

#[derive(Debug, Serialize)]
struct SettleSummary {
    segments_before: Option<i64>,
    segments_after: Option<i64>,
    steps: u64,
    seconds: f64,
}

async fn settle(store: &Store, json: bool) -> anyhow::Result<()> {
    if !store.full_text_index() {
        bail!("storage.full_text_index is off: there is no index to settle");
    }
    let started = Instant::now();
    let before = store.search_index_shape().await?;
    let steps = store.settle_search_index().await?;
    let after = store.search_index_shape().await?;
    let summary = SettleSummary {
        segments_before: before.map(|s| s.segments),
        segments_after: after.map(|s| s.segments),
        steps,
        seconds: started.elapsed().as_secs_f64(),
    };
    if json {
        print_record(true, &summary);
    } else {
        match (summary.segments_before, summary.segments_after) {
            (Some(b), Some(a)) => crate::outln!(
                "index segments {b} -> {a} in {} steps, {:.1} s",
                summary.steps,
                summary.seconds
            ),
            _ => crate::outln!("nothing to settle: PostgreSQL's index has no segments"),
        }
    }
    Ok(())
}

/// How often `serve` looks at the index's shape; it settles the index when the shape did not
/// move between two looks (no document came or went for this long).
const SETTLE_LOOK_EVERY: Duration = Duration::from_secs(60);
/// Fewest segments worth a settle: a merge rewrites the whole index, so a trickle of mail
/// (a new segment now and then beside the big one) does not call for one; a burst (an import,
/// a morning's mail: FTS5 keeps up to about three per level) does.
const SETTLE_MIN_SEGMENTS: i64 = 8;
/// Least time between two settles of a running server.
const SETTLE_AT_MOST_EVERY: Duration = Duration::from_secs(6 * 3600);

/// `serve`'s settling task (SQLite only): merges the index's segments, one bounded writer step
/// at a time, once the index has been quiet for [`SETTLE_LOOK_EVERY`] and holds at least
/// [`SETTLE_MIN_SEGMENTS`], at most once per [`SETTLE_AT_MOST_EVERY`]; stops merging as soon as
/// a document comes or goes, and waits for quiet again.
pub async fn settle_task(store: Store, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    if !store.full_text_index() || store.backend() != storage::Backend::Sqlite {
        return;
    }
    let mut last = None;
    let mut settled_at: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(SETTLE_LOOK_EVERY) => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
                continue;
            }
        }
        let shape = match store.search_index_shape().await {
            Ok(Some(shape)) => shape,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "reading the search index's shape");
                continue;
            }
        };
        let quiet = last.is_some_and(|l: storage::search_settle::IndexShape| {
            (l.newest, l.documents) == (shape.newest, shape.documents)
        });
        last = Some(shape);
        let recently = settled_at.is_some_and(|at| at.elapsed() < SETTLE_AT_MOST_EVERY);
        if !quiet || shape.segments < SETTLE_MIN_SEGMENTS || recently {
            continue;
        }
        settled_at = Some(Instant::now());
        let started = Instant::now();
        let mut steps = 0u64;
        loop {
            let step = tokio::select! {
                step = store.settle_search_index_step(storage::search_settle::SETTLE_STEP_PAGES) => step,
                _ = shutdown.changed() => return,
            };
            match step {
                Ok(true) => steps += 1,
                Ok(false) => {
                    tracing::info!(
                        segments = shape.segments,
                        steps,
                        seconds = started.elapsed().as_secs_f64(),
                        "search index settled"
                    );
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "settling the search index");
                    break;
                }
            }
            // Mail came or went: wait for quiet again (the merge so far is kept).
            match store.search_index_shape().await {
                Ok(Some(now)) if (now.newest, now.documents) == (shape.newest, shape.documents) => {
                }
                _ => break,
            }
        }
        last = None;
    }
}
