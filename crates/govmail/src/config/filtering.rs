//! What stops bad mail: `[antivirus]` (clamd) and `[spam]` (thresholds and rules).

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
        }
    }
}
