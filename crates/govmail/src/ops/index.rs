//! `govmail index rebuild [--account ADDRESS] [--full]` (issue 13): indexes the mail the
//! full-text index lacks — stored before the index existed, imported, or received while
//! `storage.full_text_index` was off — or, with `--full`, every message again. Batches are
//! transactions (`Store::rebuild_search_index`), so a kill loses nothing and a rerun goes on.

use std::time::Instant;

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
}

#[derive(Debug, Serialize)]
struct RebuildSummary {
    account: Option<String>,
    full: bool,
    messages: u64,
    seconds: f64,
}

pub async fn index(store: &Store, json: bool, cmd: IndexCmd) -> anyhow::Result<()> {
    let IndexCmd::Rebuild { account, full } = cmd;
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
