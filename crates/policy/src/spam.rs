//! Spam scoring (BD-7.5, KT-5.1): a score from authentication results, configurable rules and a
//! few heuristics, compared with three thresholds. Pure: no I/O.

/// Where a rule looks.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleTarget {
    /// A header field by name (case-insensitive), decoded value.
    Header(String),
    /// The decoded body text.
    Body,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub target: RuleTarget,
    /// Lower-cased substring.
    pub contains: String,
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
}

/// What the scorer looks at: decoded fields and authentication outcomes.
#[derive(Debug, Clone, Default)]
pub struct Message<'a> {
    pub sender: &'a str,
    /// (name, decoded value) pairs.
    pub headers: &'a [(String, String)],
    pub body_text: &'a str,
    pub has_message_id: bool,
    pub has_date: bool,
    pub dmarc: AuthOutcome,
    pub spf: AuthOutcome,
    pub dkim: AuthOutcome,
    /// The sender domain's DMARC policy is reject (or quarantine).
    pub dmarc_policy_reject: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuthOutcome {
    Pass,
    Fail,
    #[default]
    None,
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
pub fn score(config: &SpamConfig, message: &Message) -> Verdict {
    let mut verdict = Verdict {
        score: 0.0,
        action: Action::Deliver,
        tests: vec![],
    };
    if !config.enabled {
        return verdict;
    }
    if matches_list(message.sender, &config.allow_senders) {
        verdict.tests.push("ALLOW_LIST".into());
        return verdict;
    }
    let add = |verdict: &mut Verdict, name: &str, points: f64| {
        verdict.score += points;
        verdict.tests.push(name.to_string());
    };
    if matches_list(message.sender, &config.deny_senders) {
        add(&mut verdict, "DENY_LIST", config.reject_score.max(100.0));
    }
    match message.dmarc {
        AuthOutcome::Fail if message.dmarc_policy_reject => {
            add(&mut verdict, "DMARC_REJECT", config.reject_score.max(15.0))
        }
        AuthOutcome::Fail => add(&mut verdict, "DMARC_FAIL", 4.0),
        _ => {}
    }
    if message.spf == AuthOutcome::Fail {
        add(&mut verdict, "SPF_FAIL", 2.0);
    }
    if message.dkim == AuthOutcome::Fail {
        add(&mut verdict, "DKIM_INVALID", 1.5);
    }
    if !message.has_message_id {
        add(&mut verdict, "MISSING_MID", 1.0);
    }
    if !message.has_date {
        add(&mut verdict, "MISSING_DATE", 1.0);
    }
    let subject = message
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("subject"))
        .map(|(_, v)| v.as_str());
    match subject {
        None | Some("") => add(&mut verdict, "MISSING_SUBJECT", 0.5),
        Some(s) => {
            let letters: Vec<char> = s.chars().filter(|c| c.is_alphabetic()).collect();
            if letters.len() >= 10 && letters.iter().all(|c| c.is_uppercase()) {
                add(&mut verdict, "SUBJ_ALL_CAPS", 1.5);
            }
        }
    }
    let body_lower = message.body_text.to_lowercase();
    for rule in &config.rules {
        let hit = match &rule.target {
            RuleTarget::Body => body_lower.contains(&rule.contains),
            RuleTarget::Header(name) => message
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .any(|(_, v)| v.to_lowercase().contains(&rule.contains)),
        };
        if hit {
            add(&mut verdict, &rule.name, rule.score);
        }
    }
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
mod tests {
    use super::*;

    fn config() -> SpamConfig {
        SpamConfig {
            enabled: true,
            tag_score: 5.0,
            junk_score: 8.0,
            reject_score: 15.0,
            allow_senders: vec!["@kontum.gov.vn".into()],
            deny_senders: vec!["bad@spam.test".into()],
            rules: vec![Rule {
                name: "LOTTERY".into(),
                target: RuleTarget::Header("Subject".into()),
                contains: "trúng thưởng".into(),
                score: 6.0,
            }],
        }
    }

    fn headers(subject: &str) -> Vec<(String, String)> {
        vec![("Subject".into(), subject.into())]
    }

    #[test]
    fn thresholds() {
        let h = headers("Bạn đã TRÚNG THƯỞNG");
        let base = Message {
            sender: "x@example.test",
            headers: &h,
            has_message_id: true,
            has_date: true,
            ..Message::default()
        };
        let v = score(&config(), &base);
        assert_eq!(v.action, Action::Tag, "{v:?}");
        let v = score(
            &config(),
            &Message {
                has_message_id: false,
                has_date: false,
                ..base.clone()
            },
        );
        assert_eq!(v.action, Action::Junk, "{v:?}");
        let v = score(
            &config(),
            &Message {
                sender: "bad@spam.test",
                ..base.clone()
            },
        );
        assert_eq!(v.action, Action::Reject);
        let v = score(
            &config(),
            &Message {
                sender: "a@kontum.gov.vn",
                ..base.clone()
            },
        );
        assert_eq!(v.action, Action::Deliver);
        let v = score(
            &config(),
            &Message {
                dmarc: AuthOutcome::Fail,
                dmarc_policy_reject: true,
                ..base
            },
        );
        assert_eq!(v.action, Action::Reject);
    }
}
