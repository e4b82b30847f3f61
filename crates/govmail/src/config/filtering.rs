//! What stops bad mail: `[antivirus]` (clamd) and `[spam]` (thresholds and rules).

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Antivirus {
    pub enabled: bool,
    pub clamd: String,
    /// "tempfail" or "accept-and-tag".
    pub on_failure: String,
    pub timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Spam {
    pub enabled: bool,
    pub tag_score: f64,
    pub junk_score: f64,
    pub reject_score: f64,
    pub allow_senders: Vec<String>,
    pub deny_senders: Vec<String>,
    pub rules: Vec<SpamRule>,
    /// Scores of built-in rules by name (`policy::spam::BUILTIN`); 0 turns a rule off.
    pub scores: BTreeMap<String, f64>,
    /// DNS block lists checked with the connecting IP (`RCVD_IN_<NAME>`).
    pub dnsbl: Vec<SpamZone>,
    /// DNS block lists checked with the domains of the links (`URIBL_<NAME>`).
    pub uribl: Vec<SpamZone>,
    pub many_recipients: usize,
    /// The classifier counts once this many spam and ham messages were trained.
    pub bayes_min_trained: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpamZone {
    pub name: String,
    pub zone: String,
    pub score: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpamRule {
    pub name: String,
    /// "header:<Name>" or "body".
    pub target: String,
    /// Case-insensitive substring.
    pub contains: String,
    pub score: f64,
}

impl Default for Antivirus {
    fn default() -> Self {
        Antivirus {
            enabled: true,
            clamd: "tcp://127.0.0.1:3310".into(),
            on_failure: "tempfail".into(),
            timeout_secs: 30,
        }
    }
}

impl Default for Spam {
    fn default() -> Self {
        Spam {
            enabled: true,
            tag_score: 5.0,
            junk_score: 8.0,
            reject_score: 15.0,
            allow_senders: vec![],
            deny_senders: vec![],
            rules: vec![],
            scores: BTreeMap::new(),
            dnsbl: vec![],
            uribl: vec![],
            many_recipients: 15,
            bayes_min_trained: 20,
        }
    }
}

impl Spam {
    /// The scorer's configuration.
    pub fn to_policy(&self) -> policy::spam::SpamConfig {
        let zones = |zones: &[SpamZone]| {
            zones
                .iter()
                .map(|z| policy::spam::Zone {
                    name: z.name.clone(),
                    zone: z.zone.trim_end_matches('.').to_string(),
                    score: z.score,
                })
                .collect()
        };
        policy::spam::SpamConfig {
            enabled: self.enabled,
            tag_score: self.tag_score,
            junk_score: self.junk_score,
            reject_score: self.reject_score,
            allow_senders: self
                .allow_senders
                .iter()
                .map(|s| s.to_lowercase())
                .collect(),
            deny_senders: self.deny_senders.iter().map(|s| s.to_lowercase()).collect(),
            rules: self
                .rules
                .iter()
                .map(|r| policy::spam::Rule {
                    name: r.name.clone(),
                    target: match r.target.strip_prefix("header:") {
                        Some(name) => policy::spam::RuleTarget::Header(name.to_string()),
                        None => policy::spam::RuleTarget::Body,
                    },
                    contains: r.contains.to_lowercase(),
                    score: r.score,
                })
                .collect(),
            scores: self.scores.clone(),
            dnsbl: zones(&self.dnsbl),
            uribl: zones(&self.uribl),
            many_recipients: self.many_recipients,
            bayes_min_trained: self.bayes_min_trained,
        }
    }
}
