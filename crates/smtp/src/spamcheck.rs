//! The spam check of mail from outside: what `policy::spam` needs that takes I/O — DNSBL and
//! URI-DNSBL answers (through the configured resolvers, under one deadline), the sender's
//! history and the classifier's counts from storage — then the score, then the sender's
//! history counted (accepted, or junked when the score junks or refuses).
//!
//! A storage fault here costs the check its history or classifier facts (logged), never the
//! delivery: the score is then made from what is at hand.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use policy::spam::{self, bayes, network, Parsed};
use storage::spam::PROVINCE;

use crate::authres::{AuthReport, Authenticator};
use crate::Context;

/// All DNSBL look-ups of one message, in all.
pub const DNSBL_DEADLINE: Duration = Duration::from_secs(3);

/// Scores one message from outside for its local recipients' accounts.
pub(crate) async fn judge(
    context: &Context,
    sender: &str,
    peer: IpAddr,
    body: &[u8],
    accounts: &BTreeSet<i64>,
    auth: Option<&AuthReport>,
) -> spam::Verdict {
    let config = &context.settings.spam;
    let parsed = if body.len() > 256 * 1024 {
        let copy = body.to_vec();
        tokio::task::spawn_blocking(move || Parsed::from_bytes(&copy))
            .await
            .unwrap_or_default()
    } else {
        Parsed::from_bytes(body)
    };
    let mut facts = spam::Facts {
        sender: sender.to_string(),
        arrived: storage::now(),
        ..spam::Facts::default()
    };
    if let Some(report) = auth {
        facts.auth = spam::auth::AuthFacts {
            spf: report.spf,
            dkim: report.dkim,
            dmarc: report.dmarc,
            dmarc_policy_reject: report.dmarc_policy_reject,
        };
    }
    if config.enabled && !parsed.gtube {
        if let Some(resolver) = &context.authenticator {
            facts.listed = listings(resolver, config, peer, &parsed).await;
        }
        let store = &context.store;
        match store.sender_history(sender, &peer.to_string()).await {
            Ok(history) => facts.reputation = Some(history),
            Err(e) => tracing::warn!(error = %e, "sender history unreadable"),
        }
        match classify(store, config, &parsed, accounts).await {
            Ok(p) => facts.bayes = p,
            Err(e) => tracing::warn!(error = %e, "classifier counts unreadable"),
        }
    }
    let verdict = spam::score(config, &parsed, &facts);
    if config.enabled && !sender.is_empty() {
        let junked = matches!(verdict.action, spam::Action::Junk | spam::Action::Reject);
        let (store, sender, ip) = (context.store.clone(), sender.to_string(), peer.to_string());
        // Counted after the answer is on its way: the history never delays a delivery.
        tokio::spawn(async move {
            if let Err(e) = store.record_sender(&sender, &ip, junked, false).await {
                tracing::warn!(error = %e, "sender history not counted");
            }
        });
    }
    verdict
}

/// The classifier's probability: the one recipient account's own counts when it has trained
/// enough, else the province's; `None` while neither has.
async fn classify(
    store: &storage::Store,
    config: &spam::SpamConfig,
    parsed: &Parsed,
    accounts: &BTreeSet<i64>,
) -> storage::Result<Option<f64>> {
    let tokens = bayes::hashes(parsed);
    let mut candidates = vec![];
    if let [only] = accounts.iter().collect::<Vec<_>>()[..] {
        candidates.push(*only);
    }
    candidates.push(PROVINCE);
    // Both totals in one round trip to the database.
    let totals = store.bayes_totals_of(&candidates).await?;
    for (account, totals) in candidates.into_iter().zip(totals) {
        if !bayes::trained_enough(totals, config.bayes_min_trained) {
            continue;
        }
        let counts = store.bayes_token_counts(account, totals, &tokens).await?;
        return Ok(Some(bayes::probability(totals, &counts)));
    }
    Ok(None)
}

/// The zones that list the connecting IP or a link's domain, looked up concurrently under
/// [`DNSBL_DEADLINE`] (RFC 5782 2.1–2.3).
async fn listings(
    resolver: &Authenticator,
    config: &spam::SpamConfig,
    peer: IpAddr,
    parsed: &Parsed,
) -> Vec<(String, f64)> {
    let mut lookups = tokio::task::JoinSet::new();
    for zone in &config.dnsbl {
        let name = network::dnsbl_name(peer, &zone.zone);
        let rule = (network::rule_name("RCVD_IN", zone), zone.score);
        let resolver = resolver.clone();
        lookups.spawn(async move { (rule, resolver.a_records(&name, DNSBL_DEADLINE).await) });
    }
    if !config.uribl.is_empty() {
        for domain in network::uri_domains(&parsed.url_hosts) {
            for zone in &config.uribl {
                let name = format!("{domain}.{}", zone.zone);
                let rule = (network::rule_name("URIBL", zone), zone.score);
                let resolver = resolver.clone();
                lookups
                    .spawn(async move { (rule, resolver.a_records(&name, DNSBL_DEADLINE).await) });
            }
        }
    }
    let mut listed: Vec<(String, f64)> = vec![];
    while let Some(done) = lookups.join_next().await {
        let Ok((rule, answers)) = done else { continue };
        if answers.into_iter().any(network::is_listing) && !listed.iter().any(|(n, _)| *n == rule.0)
        {
            listed.push(rule);
        }
    }
    listed.sort_by(|a, b| a.0.cmp(&b.0));
    listed
}
