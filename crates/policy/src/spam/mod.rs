//! Spam scoring (BD-7.5, KT-5.1), pure: a message's features ([`Parsed`], from its bytes) and
//! the facts looked up elsewhere ([`Facts`]: authentication results, DNSBL listings, the
//! sender's history, the Bayesian classifier's probability) give a score, compared with three
//! thresholds. Every check is a named rule with a score the admin may change (`[spam.scores]`;
//! 0 turns a rule off).
//!
//! One module per rule family: [`headers`] (missing, malformed, forged fields; Date),
//! [`content`] (GTUBE, HTML-only, links, URL shorteners and IP literals, admin rules),
//! [`phrases`] (phrase families of unsolicited mail, English and Vietnamese),
//! [`attachments`] (suspicious file types: score only), [`auth`] (SPF, DKIM, DMARC),
//! [`network`] (DNSBL and URI-DNSBL names and listings), [`reputation`] (the sender's history
//! here), [`bayes`] (tokeniser and classifier maths). [`parse`] turns the bytes into features.

pub mod attachments;
pub mod auth;
pub mod bayes;
pub mod content;
pub mod headers;
pub mod network;
pub mod parse;
pub mod phrases;
pub mod reputation;

use std::collections::BTreeMap;

pub use auth::AuthOutcome;
pub use parse::Parsed;

/// Where an admin rule looks.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleTarget {
    /// A header field by name (case-insensitive), decoded value.
    Header(String),
    /// The decoded body text.
    Body,
}

/// An admin's own rule (`[[spam.rules]]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub target: RuleTarget,
    /// Lower-cased substring.
    pub contains: String,
    pub score: f64,
}

/// A DNS block list zone (`[[spam.dnsbl]]`, `[[spam.uribl]]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    /// Rule name suffix: the rule is `RCVD_IN_<NAME>` or `URIBL_<NAME>`.
    pub name: String,
    /// e.g. `zen.spamhaus.org`.
    pub zone: String,
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpamConfig {
    pub enabled: bool,
    pub tag_score: f64,
    pub junk_score: f64,
    pub reject_score: f64,
    /// Addresses or `@domain` entries, lower case.
    pub allow_senders: Vec<String>,
    pub deny_senders: Vec<String>,
    pub rules: Vec<Rule>,
    /// Scores of built-in rules by name, replacing [`BUILTIN`]'s defaults.
    pub scores: BTreeMap<String, f64>,
    /// Checked with the connecting IP.
    pub dnsbl: Vec<Zone>,
    /// Checked with the domains of the links in the body.
    pub uribl: Vec<Zone>,
    /// More To:/Cc: addresses than this fires `MANY_RECIPIENTS`.
    pub many_recipients: usize,
    /// The classifier is used once this many spam and ham messages were trained.
    pub bayes_min_trained: i64,
}

impl Default for SpamConfig {
    fn default() -> SpamConfig {
        SpamConfig {
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

/// The built-in rules: name, default score, what fires it. GTUBE and DMARC_REJECT are raised
/// to the reject score whatever their configured score.
pub const BUILTIN: &[(&str, f64, &str)] = &[
    ("GTUBE", 1000.0, "the GTUBE test string is in the body"),
    ("DENY_LIST", 100.0, "the sender is on spam.deny_senders"),
    ("MISSING_MID", 1.0, "no Message-ID"),
    ("MSGID_MALFORMED", 1.0, "Message-ID is not <left@right>"),
    (
        "MSGID_SPAM_CAPS",
        2.0,
        "Message-ID's left part is 15 or more capitals alone, as ratware writes",
    ),
    ("MISSING_DATE", 1.0, "no Date"),
    ("DATE_MALFORMED", 1.0, "Date is not an RFC 5322 date"),
    ("DATE_IN_FUTURE", 2.0, "Date over 12 hours after arrival"),
    ("DATE_IN_PAST", 1.5, "Date over 4 days before arrival"),
    ("MISSING_FROM", 2.0, "no From address"),
    (
        "FROM_NAME_MISMATCH",
        2.5,
        "the From display name is an address at another domain",
    ),
    (
        "FROM_SUSPICIOUS_NTLD",
        1.5,
        "the From domain is under a top-level domain mostly used by spam (.top, .xyz, …)",
    ),
    (
        "FORGED_FREEMAIL_RCVD",
        1.0,
        "From a large free-mail provider, but no relay or signature of it (no DMARC pass)",
    ),
    (
        "FREEMAIL_FORGED_REPLYTO",
        1.5,
        "replies go to a free-mail address, From is not free-mail (no DMARC pass)",
    ),
    ("MISSING_SUBJECT", 0.5, "no or empty Subject"),
    (
        "SUBJ_ALL_CAPS",
        1.5,
        "Subject in capitals (10 letters or more)",
    ),
    (
        "TO_UNDISCLOSED",
        1.0,
        "To: undisclosed recipients, or no To/Cc",
    ),
    (
        "MANY_RECIPIENTS",
        1.0,
        "more To/Cc addresses than spam.many_recipients",
    ),
    ("HTML_ONLY", 0.7, "HTML without a text/plain alternative"),
    (
        "HTML_LINK_MISMATCH",
        2.5,
        "a link's text names another host than its target",
    ),
    ("URL_SHORTENER", 1.5, "a link through a URL shortener"),
    ("URL_IP_LITERAL", 2.0, "a link to a bare IP address"),
    (
        "URL_SUSPICIOUS_TLD",
        1.0,
        "a link to a host under a top-level domain mostly used by spam",
    ),
    ("DRUGS_ERECTILE", 1.8, "names an erectile-dysfunction drug"),
    (
        "NO_PRESCRIPTION",
        1.5,
        "offers medicine without prescription",
    ),
    (
        "GUARANTEED_100_PERCENT",
        1.5,
        "\"100% guaranteed\" and the like",
    ),
    (
        "PRIZE_CLAIM",
        2.0,
        "\"you have won\", \"trúng thưởng\" and the like",
    ),
    (
        "LOAN_OFFER",
        1.5,
        "a quick loan offer (\"vay tiền nhanh\", \"no credit check\")",
    ),
    (
        "ACCOUNT_THREAT",
        2.0,
        "asks to verify an account or password, or says a mailbox is full",
    ),
    (
        "GAMBLING",
        1.5,
        "online betting or casino offers (\"nhà cái\", \"cá cược\")",
    ),
    (
        "EASY_INCOME",
        1.5,
        "work-from-home or investment promises (\"việc làm online tại nhà\")",
    ),
    (
        "MILLIONS_OF_DOLLARS",
        1.0,
        "\"million dollars\" and the like",
    ),
    (
        "SUSPICIOUS_ATTACHMENT",
        3.0,
        "an executable, script or macro attachment",
    ),
    (
        "DOUBLE_EXTENSION",
        2.5,
        "an attachment named like invoice.pdf.exe",
    ),
    ("SPF_FAIL", 2.0, "SPF fail"),
    ("SPF_SOFTFAIL", 0.8, "SPF softfail"),
    ("DKIM_INVALID", 1.5, "a DKIM signature fails"),
    ("DMARC_FAIL", 4.0, "DMARC fail"),
    (
        "DMARC_REJECT",
        15.0,
        "DMARC fail, the domain asks p=reject/quarantine",
    ),
    (
        "SENDER_BAD_REP",
        2.5,
        "mail from this sender/domain/IP was mostly junk here",
    ),
    (
        "SENDER_GOOD_REP",
        -1.0,
        "mail from this sender was accepted here many times, never junk",
    ),
    ("BAYES_00", -1.9, "classifier: spam probability < 1 %"),
    ("BAYES_05", -0.5, "classifier: 1–5 %"),
    ("BAYES_20", 0.0, "classifier: 5–40 %"),
    ("BAYES_50", 0.8, "classifier: 40–60 %"),
    ("BAYES_60", 1.5, "classifier: 60–80 %"),
    ("BAYES_80", 2.0, "classifier: 80–95 %"),
    ("BAYES_95", 3.0, "classifier: 95–99 %"),
    ("BAYES_99", 3.5, "classifier: ≥ 99 %"),
    ("BAYES_999", 1.5, "classifier: ≥ 99.9 % (added to BAYES_99)"),
];

impl SpamConfig {
    /// The score of a built-in rule (configured, else the default; unknown names 0).
    pub fn score_of(&self, name: &str) -> f64 {
        if let Some(score) = self.scores.get(name) {
            return *score;
        }
        BUILTIN
            .iter()
            .find(|(n, _, _)| *n == name)
            .map_or(0.0, |(_, s, _)| *s)
    }
}

/// What was looked up outside the message (by `smtp` or the CLI).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The envelope sender.
    pub sender: String,
    /// Seconds since the epoch when the message arrived.
    pub arrived: i64,
    pub auth: auth::AuthFacts,
    /// Rule names of the zones that list the IP (`RCVD_IN_*`) or a link domain (`URIBL_*`),
    /// with their scores.
    pub listed: Vec<(String, f64)>,
    pub reputation: Option<reputation::History>,
    /// The classifier's spam probability, when trained enough.
    pub bayes: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Deliver,
    /// Deliver with `X-Spam-Status: Yes`.
    Tag,
    /// Deliver to the Junk folder, tagged.
    Junk,
    /// Refuse at end of data.
    Reject,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub score: f64,
    pub action: Action,
    /// Names of the tests that fired, for the X-Spam-Status header.
    pub tests: Vec<String>,
    /// The same tests with the points each gave.
    pub hits: Vec<(String, f64)>,
}

impl Verdict {
    fn new() -> Verdict {
        Verdict {
            score: 0.0,
            action: Action::Deliver,
            tests: vec![],
            hits: vec![],
        }
    }
}

/// Collects the rules that fire.
pub struct Hits<'c> {
    config: &'c SpamConfig,
    verdict: Verdict,
}

impl Hits<'_> {
    /// A built-in rule fired: its configured score (a rule scored 0 is left out).
    pub fn fire(&mut self, name: &str) {
        let points = self.config.score_of(name);
        self.fire_with(name, points);
    }

    /// A rule fired with these points (admin rules, zones, GTUBE).
    pub fn fire_with(&mut self, name: &str, points: f64) {
        if points == 0.0 {
            return;
        }
        self.verdict.score += points;
        self.verdict.tests.push(name.to_string());
        self.verdict.hits.push((name.to_string(), points));
    }

    pub fn config(&self) -> &SpamConfig {
        self.config
    }
}

fn matches_list(sender: &str, list: &[String]) -> bool {
    let sender = sender.to_lowercase();
    list.iter().any(|entry| {
        if let Some(domain) = entry.strip_prefix('@') {
            sender.rsplit_once('@').is_some_and(|(_, d)| d == domain)
        } else {
            *entry == sender
        }
    })
}

/// Scores a message.
pub fn score(config: &SpamConfig, message: &Parsed, facts: &Facts) -> Verdict {
    if !config.enabled {
        return Verdict::new();
    }
    let mut hits = Hits {
        config,
        verdict: Verdict::new(),
    };
    // GTUBE first: even an allow-listed sender's GTUBE is refused (SpamAssassin's rule).
    if content::gtube(message) {
        hits.fire_with("GTUBE", config.score_of("GTUBE").max(config.reject_score));
    }
    if matches_list(&facts.sender, &config.allow_senders) && hits.verdict.tests.is_empty() {
        hits.verdict.tests.push("ALLOW_LIST".into());
        return hits.verdict;
    }
    if matches_list(&facts.sender, &config.deny_senders) {
        let points = config.score_of("DENY_LIST").max(config.reject_score);
        hits.fire_with("DENY_LIST", points);
    }
    auth::check(&facts.auth, &mut hits);
    headers::check(message, facts.arrived, &facts.auth, &mut hits);
    content::check(message, &mut hits);
    phrases::check(message, &mut hits);
    attachments::check(message, &mut hits);
    for (name, points) in &facts.listed {
        hits.fire_with(name, *points);
    }
    if let Some(history) = &facts.reputation {
        reputation::check(history, &mut hits);
    }
    if let Some(probability) = facts.bayes {
        bayes::check(probability, &mut hits);
    }
    let mut verdict = hits.verdict;
    verdict.action = if verdict.score >= config.reject_score {
        Action::Reject
    } else if verdict.score >= config.junk_score {
        Action::Junk
    } else if verdict.score >= config.tag_score {
        Action::Tag
    } else {
        Action::Deliver
    };
    verdict
}

#[cfg(test)]
mod tests;
