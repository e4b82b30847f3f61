//! `govmail spam`: explain a message's score rule by rule, seed the classifier from
//! directories of mail, score a directory in one go (for benchmarks), list the rules.
//!
//! Deviation from delivery: no DNS here (DNSBL rules need the connection's IP and the live
//! lists); the authentication results are read back from the message's own
//! `Authentication-Results` field, which delivery wrote.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::Subcommand;
use policy::spam::bayes::{self, Class};
use policy::spam::{self, AuthOutcome, Parsed, BUILTIN};
use sha2::{Digest, Sha256};
use storage::spam::PROVINCE;
use storage::Store;

use crate::outln;

#[derive(Subcommand, Debug)]
pub enum SpamCmd {
    /// Score one message and list every rule that fired: a file (`spam explain FILE`), or a
    /// stored message (`spam explain --account ADDR --folder NAME --uid N`).
    Explain {
        /// A message file (RFC 5322, as received).
        file: Option<PathBuf>,
        #[arg(long)]
        account: Option<String>,
        #[arg(long, default_value = "INBOX")]
        folder: String,
        #[arg(long)]
        uid: Option<i64>,
    },
    /// Seed the province-wide classifier with the messages (one per file) in these
    /// directories.
    Train {
        #[arg(long)]
        spam: Vec<PathBuf>,
        #[arg(long)]
        ham: Vec<PathBuf>,
    },
    /// Score every message file of a directory: one line each, `SCORE<TAB>ACTION<TAB>TESTS<TAB>FILE`.
    Score { dir: PathBuf },
    /// The built-in rules with their scores as configured.
    Rules,
}

pub async fn spam(
    store: &Store,
    config: &spam::SpamConfig,
    json: bool,
    cmd: SpamCmd,
) -> Result<()> {
    match cmd {
        SpamCmd::Explain {
            file,
            account,
            folder,
            uid,
        } => {
            let (raw, account_id) = match (file, account, uid) {
                (Some(file), None, None) => (read(&file)?, None),
                (None, Some(account), Some(uid)) => {
                    let person = store.person(&account).await.context("no such account")?;
                    let folder = store.folder(person.account_id, &folder).await?;
                    let rows = store.messages_with_uids(folder.id, &[uid]).await?;
                    let row = rows.first().context("no message with that UID")?;
                    (
                        store.read_blob(&row.blob_id).await?,
                        Some(person.account_id),
                    )
                }
                _ => anyhow::bail!("give a FILE, or --account ADDR [--folder NAME] --uid N"),
            };
            let verdict = judge(store, config, &raw, account_id).await?;
            if json {
                outln!(
                    "{}",
                    serde_json::json!({
                        "score": verdict.score,
                        "action": action_name(verdict.action),
                        "rules": verdict.hits.iter().map(|(n, s)| serde_json::json!({"name": n, "score": s})).collect::<Vec<_>>(),
                    })
                );
            } else {
                outln!(
                    "score {:.1}: {} (tag {:.1}, junk {:.1}, reject {:.1})",
                    verdict.score,
                    action_name(verdict.action),
                    config.tag_score,
                    config.junk_score,
                    config.reject_score
                );
                for (name, points) in &verdict.hits {
                    let what = BUILTIN
                        .iter()
                        .find(|(n, _, _)| n == name)
                        .map_or("configured rule or list", |(_, _, w)| w);
                    outln!("  {points:+6.1}  {name:<22} {what}");
                }
            }
            Ok(())
        }
        SpamCmd::Train { spam, ham } => {
            let mut counts = [0usize; 3];
            for (dirs, class) in [(spam, Class::Spam), (ham, Class::Ham)] {
                for dir in dirs {
                    for file in files(&dir)? {
                        let raw = read(&file)?;
                        let digest = format!("{:x}", Sha256::digest(&raw));
                        let tokens = bayes::hashes(&Parsed::from_bytes(&raw));
                        let outcome = store
                            .bayes_train(&[PROVINCE], &digest, class, &tokens)
                            .await?;
                        match (outcome, class) {
                            (storage::spam::Trained::Already, _) => counts[2] += 1,
                            (_, Class::Spam) => counts[0] += 1,
                            (_, Class::Ham) => counts[1] += 1,
                        }
                    }
                }
            }
            let totals = store.bayes_totals(PROVINCE).await?;
            if json {
                outln!(
                    "{}",
                    serde_json::json!({"spam": counts[0], "ham": counts[1], "already": counts[2],
                        "total_spam": totals.spam, "total_ham": totals.ham})
                );
            } else {
                outln!(
                    "trained {} spam, {} ham ({} already trained); the classifier now knows {} spam and {} ham",
                    counts[0], counts[1], counts[2], totals.spam, totals.ham
                );
            }
            Ok(())
        }
        SpamCmd::Score { dir } => {
            for file in files(&dir)? {
                let raw = read(&file)?;
                let verdict = judge(store, config, &raw, None).await?;
                let tests = if verdict.tests.is_empty() {
                    "NONE".to_string()
                } else {
                    verdict.tests.join(",")
                };
                outln!(
                    "{:.1}\t{}\t{tests}\t{}",
                    verdict.score,
                    action_name(verdict.action),
                    file.display()
                );
            }
            Ok(())
        }
        SpamCmd::Rules => {
            for (name, _, what) in BUILTIN {
                outln!("{:+7.1}  {name:<22} {what}", config.score_of(name));
            }
            Ok(())
        }
    }
}

fn action_name(action: spam::Action) -> &'static str {
    match action {
        spam::Action::Deliver => "deliver",
        spam::Action::Tag => "tag",
        spam::Action::Junk => "junk",
        spam::Action::Reject => "reject",
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    // Files kept with LF line ends are scored as they would arrive: CRLF.
    if raw.windows(2).any(|w| w == b"\r\n") {
        return Ok(raw);
    }
    let mut crlf = Vec::with_capacity(raw.len() + raw.len() / 40);
    for &b in &raw {
        if b == b'\n' {
            crlf.push(b'\r');
        }
        crlf.push(b);
    }
    Ok(crlf)
}

/// The regular files of a directory, sorted by name (hidden files skipped).
fn files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Scores a message as delivery would, without DNS: the sender from Return-Path, the
/// authentication results from the message's Authentication-Results field, the sender's
/// history and the classifier (the account's when trained enough, else the province's).
pub async fn judge(
    store: &Store,
    config: &spam::SpamConfig,
    raw: &[u8],
    account: Option<i64>,
) -> Result<spam::Verdict> {
    let parsed = Parsed::from_bytes(raw);
    let sender = parsed
        .header("return-path")
        .map(|v| v.trim_matches(['<', '>', ' ']).to_lowercase())
        .or_else(|| parsed.from.first().and_then(|a| a.address.clone()))
        .unwrap_or_default();
    let mut facts = spam::Facts {
        arrived: parsed.received.unwrap_or_else(storage::now),
        ..spam::Facts::default()
    };
    if let Some(results) = parsed.header("authentication-results") {
        let results = results.to_ascii_lowercase();
        let outcome = |method: &str| {
            if results.contains(&format!("{method}=pass")) {
                AuthOutcome::Pass
            } else if results.contains(&format!("{method}=softfail")) {
                AuthOutcome::SoftFail
            } else if results.contains(&format!("{method}=fail")) {
                AuthOutcome::Fail
            } else {
                AuthOutcome::None
            }
        };
        facts.auth = spam::auth::AuthFacts {
            spf: outcome("spf"),
            dkim: outcome("dkim"),
            dmarc: outcome("dmarc"),
            dmarc_policy_reject: false,
        };
    }
    if !sender.is_empty() {
        facts.reputation = Some(store.sender_history(&sender, "").await?);
    }
    facts.sender = sender;
    let tokens = bayes::hashes(&parsed);
    for id in account.into_iter().chain([PROVINCE]) {
        let (totals, counts) = store.bayes_counts(id, &tokens).await?;
        if bayes::trained_enough(totals, config.bayes_min_trained) {
            facts.bayes = Some(bayes::probability(totals, &counts));
            break;
        }
    }
    Ok(spam::score(config, &parsed, &facts))
}
