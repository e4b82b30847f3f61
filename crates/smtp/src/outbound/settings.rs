//! What outbound delivery obeys: the `[outbound]` and `[dkim]` settings, the retry schedule.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// One DKIM key: mail whose From: domain is `domain` (or a subdomain of it) is signed with
/// `d=domain; s=selector`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimKeyConfig {
    pub domain: String,
    pub selector: String,
    /// PEM file: PKCS#8 RSA or Ed25519, or PKCS#1 RSA (`govmail dkim generate` writes one).
    pub private_key: PathBuf,
}

/// Every knob of outbound delivery. The binary fills it from `[outbound]` and `[dkim]`.
#[derive(Debug, Clone)]
pub struct OutboundSettings {
    /// EHLO name, Reporting-MTA of notices, MAILER-DAEMON@hostname.
    pub hostname: String,
    /// DNS resolvers (`IP:port`); empty = the system's resolv.conf.
    pub resolvers: Vec<SocketAddr>,
    /// Port of the receiving MX hosts: 25. Tests point it at their own receiver.
    pub port: u16,
    /// Waits after the 1st, 2nd, ... temporary failure; the last one repeats.
    pub retry_schedule: Vec<Duration>,
    /// A recipient still undelivered after this long fails (notice, status 5.4.7).
    pub max_age: Duration,
    /// Send a delay notice once an entry has waited this long...
    pub delay_notify_after: Duration,
    /// ...also when the sender gave no DSN NOTIFY (NOTIFY=DELAY always asks for it,
    /// NOTIFY=NEVER or a NOTIFY without DELAY never gets it).
    pub delay_notify_default: bool,
    /// Deliveries (SMTP connections) at once on this node.
    pub concurrency: usize,
    /// Deliveries at once to one destination domain, on this node.
    pub concurrency_per_domain: usize,
    /// Destination domains that get mail only over TLS with a verified certificate
    /// (`tls.outbound = "required"`); `*` = all. Others use STARTTLS when offered.
    pub tls_required_domains: Vec<String>,
    /// PEM bundle of trusted CAs for verifying MX certificates.
    pub tls_ca_file: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// Per SMTP command (RFC 5321 4.5.3.2 asks for minutes).
    pub command_timeout: Duration,
    /// For the reply after the message data (RFC 5321: 10 minutes).
    pub data_timeout: Duration,
    /// How long a claimed entry stays ours without renewal (renewed every third of it).
    pub lease: Duration,
    /// How often the queue is polled for due entries.
    pub poll_interval: Duration,
    /// Most recipients in one SMTP transaction.
    pub max_recipients_per_transaction: usize,
    /// Finished queue entries are kept this long for `govmail queue list`.
    pub keep_done: Duration,
    pub dkim: Vec<DkimKeyConfig>,
}

impl OutboundSettings {
    /// Production defaults.
    pub fn new(hostname: &str) -> OutboundSettings {
        OutboundSettings {
            hostname: hostname.to_string(),
            resolvers: vec![],
            port: 25,
            retry_schedule: default_retry_schedule(),
            max_age: Duration::from_secs(5 * 24 * 3600),
            delay_notify_after: Duration::from_secs(4 * 3600),
            delay_notify_default: true,
            concurrency: 32,
            concurrency_per_domain: 4,
            tls_required_domains: vec![],
            tls_ca_file: Some(PathBuf::from("/etc/ssl/certs/ca-certificates.crt")),
            connect_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(600),
            lease: Duration::from_secs(300),
            poll_interval: Duration::from_secs(5),
            max_recipients_per_transaction: 100,
            keep_done: Duration::from_secs(7 * 24 * 3600),
            dkim: vec![],
        }
    }

    /// Whether mail to `domain` must go over verified TLS.
    pub fn tls_required(&self, domain: &str) -> bool {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        self.tls_required_domains.iter().any(|d| {
            let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
            d == "*" || d == domain
        })
    }

    /// The wait after the `failures`-th temporary failure (1-based).
    pub fn retry_delay(&self, failures: i64) -> Duration {
        let schedule = if self.retry_schedule.is_empty() {
            default_retry_schedule()
        } else {
            self.retry_schedule.clone()
        };
        let index = (failures.max(1) as usize - 1).min(schedule.len() - 1);
        schedule[index]
    }
}

/// 5m, 15m, 30m, 1h, 2h, then every 4h.
pub fn default_retry_schedule() -> Vec<Duration> {
    [5 * 60, 15 * 60, 30 * 60, 3600, 2 * 3600, 4 * 3600]
        .into_iter()
        .map(Duration::from_secs)
        .collect()
}

/// Parses `90`, `90s`, `5m`, `1h`, `5d` (seconds when there is no unit).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&text[..i], text[i..].trim()),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30s, 5m, 4h or 5d"))?;
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("{text:?}: unit must be s, m, h or d")),
    };
    Ok(Duration::from_secs(n * factor))
}

/// Why a worker cannot start.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("dkim: {0}")]
    Dkim(String),
    #[error("dns.resolvers: {0}")]
    Resolver(String),
    #[error("outbound.tls_ca_file: {0}")]
    Tls(String),
    #[error("outbound: {0}")]
    Settings(String),
}
