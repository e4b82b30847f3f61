//! The Bayesian classifier, pure: the tokeniser and the maths. Counts live in storage
//! (province-wide and per account); the caller looks up the counts of [`hashes`] and asks
//! [`probability`].
//!
//! Tokens: body words of the decoded text (text parts and HTML as text), each in its exact
//! form (NFC, lower case) and folded without marks (`policy::textsearch`: "Nguyễn" gives
//! `nguyễn` and `~nguyen`), pairs of neighbouring folded words (Vietnamese words are often two
//! syllables), header tokens (Subject words, From address, domain and name, Reply-To domain,
//! Content-Type, X-Mailer, Message-ID domain, the names of the fields present, the relays of
//! the Received fields), link hosts and attachment extensions. Each token
//! is kept once; at most [`MAX_TOKENS`]. Stored as a 64-bit FNV-1a hash (as SpamAssassin keeps
//! 40-bit hashes): bounded rows, no text of the mail kept.
//!
//! Maths: Gary Robinson's per-token probability with the chi-square combining of SpamBayes
//! (`f(w) = (s·x + n·p(w)) / (s + n)`, the [`MAX_CLUES`] strongest tokens whose f is at least
//! [`MIN_STRENGTH`] from 0.5, `I = (1 + S − H) / 2`).

use std::collections::BTreeSet;

use unicode_normalization::UnicodeNormalization;

use super::{Hits, Parsed};
use crate::textsearch;

pub const MAX_TOKENS: usize = 5000;
pub const MAX_CLUES: usize = 150;
pub const MIN_STRENGTH: f64 = 0.1;
/// Robinson's s (strength of the prior) and x (probability of an unseen token).
pub const ROBINSON_S: f64 = 0.45;
pub const ROBINSON_X: f64 = 0.5;

/// Which side a message is trained as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Spam,
    Ham,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Spam => "spam",
            Class::Ham => "ham",
        }
    }

    pub fn parse(s: &str) -> Option<Class> {
        match s {
            "spam" => Some(Class::Spam),
            "ham" => Some(Class::Ham),
            _ => None,
        }
    }
}

/// How many spam and ham messages a token was seen in (or, for the totals, were trained).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub spam: i64,
    pub ham: i64,
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '$')
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
}

/// The tokens of a message (text form; see the module notes).
pub fn tokens(message: &Parsed) -> Vec<String> {
    let mut set: BTreeSet<String> = BTreeSet::new();
    let add = |set: &mut BTreeSet<String>, token: String| {
        if set.len() < MAX_TOKENS {
            set.insert(token);
        }
    };
    // Header tokens.
    if let Some(subject) = &message.subject {
        for word in words(subject) {
            add(
                &mut set,
                format!("s:{}", word.nfc().collect::<String>().to_lowercase()),
            );
        }
        for word in textsearch::terms(subject) {
            add(&mut set, format!("s~{word}"));
        }
    }
    for from in message.from.iter().take(3) {
        if let Some(address) = &from.address {
            add(&mut set, format!("from:{address}"));
            if let Some((_, domain)) = address.rsplit_once('@') {
                add(&mut set, format!("fromdom:{domain}"));
            }
        }
        for word in textsearch::terms(from.name.as_deref().unwrap_or("")) {
            add(&mut set, format!("fromname:{word}"));
        }
    }
    for (field, prefix) in [
        ("reply-to", "replyto"),
        ("content-type", "ct"),
        ("x-mailer", "xm"),
        ("message-id", "mid"),
    ] {
        if let Some(value) = message.header(field) {
            let value = value.to_ascii_lowercase();
            let value = match field {
                "reply-to" | "message-id" => value
                    .rsplit_once('@')
                    .map(|(_, d)| d.trim_end_matches(['>', ' ']).to_string())
                    .unwrap_or_default(),
                "content-type" => value.split(';').next().unwrap_or("").trim().to_string(),
                _ => value.chars().take(40).collect(),
            };
            if !value.is_empty() {
                add(&mut set, format!("{prefix}:{value}"));
            }
        }
    }
    // Which header fields there are (ratware writes its own set), and the relays: each host
    // name a Received field names, its last two labels, and each IP address's first three
    // octets (SpamBayes and SpamAssassin read the relay path the same way).
    for (name, _) in message.headers.iter().take(100) {
        add(&mut set, format!("hdr:{}", name.to_ascii_lowercase()));
    }
    for (_, value) in message
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("received"))
        .take(5)
    {
        for token in relay_tokens(value) {
            add(&mut set, token);
        }
    }
    if message.has_html && !message.has_plain {
        add(&mut set, "has:html-only".into());
    }
    for name in &message.attachments {
        if let Some((_, ext)) = name.rsplit_once('.') {
            add(&mut set, format!("attach:{}", ext.to_ascii_lowercase()));
        }
    }
    for host in &message.url_hosts {
        add(
            &mut set,
            format!("url:{}", super::network::registrable(host)),
        );
    }
    // Body words, exact and folded, and folded pairs.
    let mut previous: Option<String> = None;
    for word in words(&message.text) {
        if set.len() >= MAX_TOKENS {
            break;
        }
        let chars = word.chars().count();
        if chars > 30 {
            let first = word.chars().next().unwrap_or('?');
            add(&mut set, format!("skip:{first}:{}", chars / 10 * 10));
            previous = None;
            continue;
        }
        let exact = word.to_lowercase();
        let folded = textsearch::terms(word).join("");
        if folded != exact {
            add(&mut set, format!("~{folded}"));
        }
        if let Some(previous) = &previous {
            add(&mut set, format!("2:{previous} {folded}"));
        }
        previous = Some(folded);
        if chars >= 2 || !exact.is_ascii() {
            add(&mut set, exact);
        }
    }
    set.into_iter().collect()
}

/// The relay tokens of one Received field: `rcvd:` host names (lower case) and their last two
/// labels, `rcvdip:` the first three octets of IPv4 addresses.
fn relay_tokens(value: &str) -> Vec<String> {
    let mut out = vec![];
    for word in value.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-')) {
        let word = word.trim_matches('.').to_ascii_lowercase();
        let labels: Vec<&str> = word.split('.').collect();
        if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
            continue;
        }
        if labels.len() == 4 && labels.iter().all(|l| l.parse::<u8>().is_ok()) {
            out.push(format!("rcvdip:{}", labels[..3].join(".")));
        } else if labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_alphabetic()))
        {
            out.push(format!("rcvd:{}", labels[labels.len() - 2..].join(".")));
            if labels.len() > 2 && word.len() <= 60 {
                out.push(format!("rcvd:{word}"));
            }
        }
    }
    out
}

/// FNV-1a, 64 bits, as a signed integer for storage.
pub fn hash(token: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in token.bytes() {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

/// The stored form of a message's tokens, each once.
pub fn hashes(message: &Parsed) -> Vec<i64> {
    let mut hashes: Vec<i64> = tokens(message).iter().map(|t| hash(t)).collect();
    hashes.sort_unstable();
    hashes.dedup();
    hashes
}

/// Robinson's f(w) for one token given the trained totals.
pub fn token_probability(totals: Counts, token: Counts) -> f64 {
    let n = (token.spam + token.ham) as f64;
    if n == 0.0 || totals.spam == 0 || totals.ham == 0 {
        return ROBINSON_X;
    }
    let spam_ratio = (token.spam as f64 / totals.spam as f64).min(1.0);
    let ham_ratio = (token.ham as f64 / totals.ham as f64).min(1.0);
    let p = spam_ratio / (spam_ratio + ham_ratio);
    (ROBINSON_S * ROBINSON_X + n * p) / (ROBINSON_S + n)
}

/// Probability that a chi-square variable with `dof` (even) degrees of freedom is ≥ `x2`.
fn chi2_q(x2: f64, dof: usize) -> f64 {
    let m = x2 / 2.0;
    let mut term = (-m).exp();
    let mut sum = term;
    for i in 1..dof / 2 {
        term *= m / i as f64;
        sum += term;
    }
    sum.min(1.0)
}

/// The spam probability of a message from its tokens' counts (0.5 when nothing is known).
pub fn probability(totals: Counts, tokens: &[Counts]) -> f64 {
    let mut clues: Vec<f64> = tokens
        .iter()
        .map(|c| token_probability(totals, *c))
        .filter(|f| (f - 0.5).abs() >= MIN_STRENGTH)
        .collect();
    if clues.is_empty() {
        return 0.5;
    }
    clues.sort_by(|a, b| (b - 0.5).abs().total_cmp(&(a - 0.5).abs()));
    clues.truncate(MAX_CLUES);
    let n = clues.len();
    let (mut ln_h, mut ln_s) = (0.0, 0.0);
    for f in &clues {
        let f = f.clamp(1e-6, 1.0 - 1e-6);
        ln_h += f.ln();
        ln_s += (1.0 - f).ln();
    }
    let h = 1.0 - chi2_q(-2.0 * ln_h, 2 * n);
    let s = 1.0 - chi2_q(-2.0 * ln_s, 2 * n);
    // S near 1 when the clues say spam (their 1 − f are all small), H when they say ham.
    ((s - h + 1.0) / 2.0).clamp(0.0, 1.0)
}

/// Trained with at least `min` messages on each side.
pub fn trained_enough(totals: Counts, min: i64) -> bool {
    totals.spam >= min && totals.ham >= min
}

pub(super) fn check(probability: f64, hits: &mut Hits) {
    let name = match probability {
        p if p < 0.01 => "BAYES_00",
        p if p < 0.05 => "BAYES_05",
        p if p < 0.40 => "BAYES_20",
        p if p < 0.60 => "BAYES_50",
        p if p < 0.80 => "BAYES_60",
        p if p < 0.95 => "BAYES_80",
        p if p < 0.99 => "BAYES_95",
        _ => "BAYES_99",
    };
    hits.fire(name);
    if probability >= 0.999 {
        hits.fire("BAYES_999");
    }
}
