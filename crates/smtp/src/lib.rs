//! SMTP: MX inbound, submission (STARTTLS and implicit TLS), local delivery and queueing.
//!
//! - [`server`]: the listener kinds' sessions and 421 refusals on the shared `listener`
//!   skeleton (accept loop, connection caps, TLS deadline, shutdown).
//! - [`listener_kind`]: which service a listener offers (MX, submission, submissions).
//! - [`session`]: one connection's state and the command loop.
//! - [`cmd`]: one module per command family (greeting/EHLO, AUTH, envelope, DATA/BDAT).
//! - [`deliver`]: what happens to a received message: antivirus, spam, trace headers, commit.
//! - [`authres`]: SPF/DKIM/DMARC verification (mail-auth) for MX mail.
//! - [`io`]: bounded line/DATA/BDAT reading.
//! - [`codes`]: reply codes with their enhanced status codes.

pub mod authres;
pub mod cmd;
pub mod codes;
pub mod deliver;
pub mod io;
pub mod listener_kind;
pub mod outbound;
pub mod server;
pub mod session;
pub(crate) mod spamcheck;

use std::sync::Arc;
use std::time::Duration;

pub use listener_kind::ListenerKind;
pub use server::{Listener, Server, ShutdownHandle};

/// What clamd trouble means for a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AvFailure {
    /// 451 4.7.1: the sender retries later; nothing is lost.
    Tempfail,
    /// Deliver with `X-Virus-Scan: failed`.
    AcceptAndTag,
}

/// Every knob the sessions obey.
#[derive(Debug, Clone)]
pub struct Settings {
    pub hostname: String,
    pub max_message_size: usize,
    pub max_recipients: usize,
    pub max_line_length: usize,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub idle_timeout: Duration,
    /// When fewer than a tenth of the connection slots are free, an unauthenticated session
    /// waiting longer than this for a command line is closed (421) to make room.
    pub pressure_idle_timeout: Duration,
    /// Deadline of a TLS handshake (STARTTLS or port 465).
    pub tls_handshake_timeout: Duration,
    /// Slowest DATA/BDAT transfer accepted, in bytes per second, after a first
    /// `idle_timeout / 10` of grace.
    pub min_data_rate: usize,
    pub max_messages_per_connection: usize,
    pub max_commands_before_mail: usize,
    pub max_errors: usize,
    /// Tests only: AUTH without TLS from loopback.
    pub allow_plaintext_loopback: bool,
    pub av_on_failure: AvFailure,
    /// Dangerous attachments: refused or quarantined (issue 18).
    pub attachments: policy::attachments::AttachmentRules,
    pub spam: policy::spam::SpamConfig,
    pub auth_max_failures: u32,
    pub auth_lock: Duration,
    /// Which forward rules may send mail outside the hosted domains (BD-11, KT-9).
    pub forwarding: outbound::forwarding::ForwardingPolicy,
    /// Where the role addresses ([`ROLE_LOCALS`]) of every hosted domain go when no account,
    /// alias or group of that name exists: the IT centre's group (`server.admin_group`).
    pub role_target: Option<String>,
    /// The password change page as people reach it (KT-7.1), named in the 535 answer to an
    /// initial password.
    pub password_url: String,
    /// Bounds of the recipients' Sieve scripts when they run at delivery.
    pub sieve_limits: sieve::Limits,
    /// The zone `currentdate` reads the date in (minutes east of UTC).
    pub sieve_local_zone: i32,
}

/// Local parts that exist at every hosted domain: `postmaster` (RFC 5321 4.5.1: MUST),
/// `abuse` (RFC 2142 2), and the DMARC report address `govmail dns` publishes.
pub const ROLE_LOCALS: [&str; 3] = ["postmaster", "abuse", outbound::records::DMARC_RUA_LOCAL];

impl Settings {
    /// Defaults suitable for tests.
    pub fn for_hostname(hostname: &str) -> Settings {
        Settings {
            hostname: hostname.to_string(),
            max_message_size: 50 * 1024 * 1024,
            max_recipients: 100,
            max_line_length: 4096,
            max_connections: 1000,
            max_connections_per_ip: 20,
            idle_timeout: Duration::from_secs(300),
            pressure_idle_timeout: Duration::from_secs(5),
            tls_handshake_timeout: Duration::from_secs(10),
            min_data_rate: 1024,
            max_messages_per_connection: 100,
            max_commands_before_mail: 20,
            max_errors: 10,
            allow_plaintext_loopback: false,
            av_on_failure: AvFailure::Tempfail,
            attachments: policy::attachments::AttachmentRules::default(),
            spam: policy::spam::SpamConfig::default(),
            auth_max_failures: 5,
            auth_lock: Duration::from_secs(300),
            forwarding: Default::default(),
            role_target: None,
            password_url: format!("https://{hostname}/password"),
            sieve_limits: sieve::Limits::default(),
            sieve_local_zone: 7 * 60,
        }
    }
}

/// What every session shares.
pub struct Context {
    pub settings: Settings,
    pub store: storage::Store,
    pub clamd: Option<policy::antivirus::Clamd>,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub auth_throttle: Arc<policy::limits::AuthThrottle>,
    /// Connection caps of every SMTP listener (per IP, then total with a short wait for a
    /// slot); it also tells waiting sessions when slots run low, so they shed slow clients.
    pub gate: listener::Gate,
    /// SPF/DKIM/DMARC for MX mail; `None` skips the checks (no DNS at all).
    pub authenticator: Option<authres::Authenticator>,
    /// Wakes the outbound worker when a message was queued (else it finds it at its next poll).
    pub outbound_waker: Option<Arc<tokio::sync::Notify>>,
    /// Compiled Sieve scripts by script id, with the content they were compiled from.
    pub(crate) sieve_cache:
        std::sync::Mutex<std::collections::HashMap<i64, (String, deliver::scripts::Compiled)>>,
    /// Hosted domains, re-read at most every few seconds (asked at every RCPT), and at once
    /// when another node changed the directory (`Store::directory_generation`).
    local_domains: std::sync::Mutex<(
        Option<std::time::Instant>,
        std::collections::HashSet<String>,
        u64,
    )>,
}

impl Context {
    pub fn new(
        settings: Settings,
        store: storage::Store,
        clamd: Option<policy::antivirus::Clamd>,
        tls: Option<Arc<rustls::ServerConfig>>,
        auth_throttle: Arc<policy::limits::AuthThrottle>,
    ) -> Context {
        let gate = listener::Gate::new(
            settings.max_connections,
            settings.max_connections_per_ip,
            server::SLOT_WAIT,
        );
        Context {
            settings,
            store,
            clamd,
            tls: tls.map(tokio_rustls::TlsAcceptor::from),
            auth_throttle,
            gate,
            authenticator: None,
            outbound_waker: None,
            sieve_cache: Default::default(),
            local_domains: Default::default(),
        }
    }

    /// True when mail for `domain` is ours; the list is cached for a few seconds.
    pub async fn is_local_domain(&self, domain: &str) -> Result<bool, storage::Error> {
        let fresh = {
            let cache = self.local_domains.lock().unwrap();
            let generation = self.store.directory_generation();
            match cache.0 {
                Some(at) if at.elapsed() < Duration::from_secs(5) && cache.2 == generation => {
                    Some(cache.1.contains(&domain.to_lowercase()))
                }
                _ => None,
            }
        };
        if let Some(answer) = fresh {
            return Ok(answer);
        }
        let generation = self.store.directory_generation();
        let domains: std::collections::HashSet<String> = self
            .store
            .list_domains()
            .await?
            .into_iter()
            .map(|d| d.name)
            .collect();
        let answer = domains.contains(&domain.to_lowercase());
        *self.local_domains.lock().unwrap() =
            (Some(std::time::Instant::now()), domains, generation);
        Ok(answer)
    }

    /// The domain a bare `postmaster` recipient names (RFC 5321 4.5.1): the hosted domain the
    /// host name lies in (mail.kontum.gov.vn → kontum.gov.vn), else the first hosted domain,
    /// else the host name itself.
    pub async fn postmaster_domain(&self) -> Result<String, storage::Error> {
        let hostname = self.settings.hostname.to_lowercase();
        let mut candidate = hostname.as_str();
        loop {
            if self.is_local_domain(candidate).await? {
                return Ok(candidate.to_string());
            }
            match candidate.split_once('.') {
                Some((_, rest)) if rest.contains('.') => candidate = rest,
                _ => break,
            }
        }
        let domains = self.store.list_domains().await?;
        Ok(domains
            .into_iter()
            .map(|d| d.name)
            .min()
            .unwrap_or(hostname))
    }

    /// Enables SPF/DKIM/DMARC checks with this authenticator.
    pub fn with_authenticator(mut self, authenticator: authres::Authenticator) -> Context {
        self.authenticator = Some(authenticator);
        self
    }
}
