//! Replies of the receiving server (RFC 5321 4.2) and what its EHLO offers.

use super::RcptResult;

/// A reply: code and text lines (without the code and separator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    /// One line: `550 5.1.1 user unknown`.
    pub fn text(&self) -> String {
        let joined = self
            .lines
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let text: String = format!("{} {joined}", self.code)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(1000)
            .collect();
        text.trim_end().to_string()
    }

    /// The enhanced status code (RFC 3463) of the first line if it matches the reply class,
    /// else `X.0.0`.
    pub fn status(&self) -> String {
        let class = (self.code / 100).to_string();
        if let Some(first) = self.lines.first() {
            let token = first.split_whitespace().next().unwrap_or("");
            let parts: Vec<&str> = token.split('.').collect();
            if parts.len() == 3
                && parts[0] == class
                && parts[1..]
                    .iter()
                    .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
            {
                return token.to_string();
            }
        }
        format!("{class}.0.0")
    }

    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    pub(super) fn to_result_failure(&self) -> RcptResult {
        if self.is_transient() {
            RcptResult::Temporary {
                reply: self.text(),
                status: self.status(),
            }
        } else {
            RcptResult::Permanent {
                reply: self.text(),
                status: self.status(),
            }
        }
    }
}

/// What EHLO told us.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub esmtp: bool,
    pub starttls: bool,
    pub pipelining: bool,
    pub eightbitmime: bool,
    pub smtputf8: bool,
    pub dsn: bool,
    /// SIZE limit, 0 = none given.
    pub size: Option<u64>,
}

impl Capabilities {
    /// Parses the lines of a 250 EHLO reply (the first line is the greeting).
    pub fn parse(reply: &Reply) -> Capabilities {
        let mut caps = Capabilities {
            esmtp: true,
            ..Capabilities::default()
        };
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_whitespace();
            let keyword = words.next().unwrap_or("").to_ascii_uppercase();
            match keyword.as_str() {
                "STARTTLS" => caps.starttls = true,
                "PIPELINING" => caps.pipelining = true,
                "8BITMIME" => caps.eightbitmime = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                "DSN" => caps.dsn = true,
                "SIZE" => caps.size = Some(words.next().and_then(|w| w.parse().ok()).unwrap_or(0)),
                _ => {}
            }
        }
        caps
    }
}
