//! ManageSieve (RFC 5804): mail clients (Thunderbird's Sieve add-on, Roundcube, K-9) list,
//! upload, check, activate, fetch, rename and delete the Sieve scripts of the user's mailbox,
//! or of a unit mailbox the user heads or handles (SASL PLAIN authorization identity).
//!
//! - [`wire`]: commands as words (quoted strings, `{n+}`/`{n}` literals), responses; bounded.
//! - [`session`]: one connection: capabilities, STARTTLS, AUTHENTICATE PLAIN with the shared
//!   AUTH throttle, the script commands.
//! - [`server`]: the listener on the shared `listener` skeleton, `BYE` refusals.
//!
//! Invariants: passwords only under TLS (or from loopback when `allow_plaintext_loopback`);
//! every line, literal and wait is bounded; a script is stored only if it compiles.

pub mod server;
pub mod session;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

pub use server::Server;

#[derive(Debug, Clone)]
pub struct Settings {
    pub hostname: String,
    /// Largest script (and literal) in bytes.
    pub max_script_bytes: usize,
    /// Most scripts per mailbox.
    pub max_scripts: usize,
    /// Bounds a script must keep to be stored (`max_script_bytes` overrides its size).
    pub sieve_limits: sieve::Limits,
    pub max_line_length: usize,
    /// Time a connection has for each command line before logging in, and to log in.
    pub login_timeout: Duration,
    pub idle_timeout: Duration,
    pub tls_handshake_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub max_errors: usize,
    /// Tests only: AUTHENTICATE without TLS from loopback.
    pub allow_plaintext_loopback: bool,
}

impl Settings {
    pub fn for_hostname(hostname: &str) -> Settings {
        Settings {
            hostname: hostname.to_string(),
            max_script_bytes: 64 * 1024,
            max_scripts: 16,
            sieve_limits: sieve::Limits::default(),
            max_line_length: 8192,
            login_timeout: Duration::from_secs(180),
            idle_timeout: Duration::from_secs(30 * 60),
            tls_handshake_timeout: Duration::from_secs(10),
            max_connections: 1000,
            max_connections_per_ip: 20,
            max_errors: 10,
            allow_plaintext_loopback: false,
        }
    }
}

/// What every session shares.
pub struct Context {
    pub settings: Settings,
    pub store: storage::Store,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub auth_throttle: Arc<policy::limits::AuthThrottle>,
    pub gate: listener::Gate,
}

impl Context {
    pub fn new(
        settings: Settings,
        store: storage::Store,
        tls: Option<Arc<rustls::ServerConfig>>,
        auth_throttle: Arc<policy::limits::AuthThrottle>,
    ) -> Context {
        let gate = listener::Gate::new(
            settings.max_connections,
            settings.max_connections_per_ip,
            Duration::ZERO,
        );
        Context {
            settings,
            store,
            tls: tls.map(tokio_rustls::TlsAcceptor::from),
            auth_throttle,
            gate,
        }
    }

    /// The limits a script is compiled with.
    pub fn limits(&self) -> sieve::Limits {
        sieve::Limits {
            max_script_bytes: self.settings.max_script_bytes,
            ..self.settings.sieve_limits.clone()
        }
    }
}
