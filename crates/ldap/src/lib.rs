//! LDAP (RFC 4511), read-only: the province directory as a global address list for mail
//! clients (Thunderbird, Outlook, phones), on `listen.ldap` (StartTLS) and `listen.ldaps`.
//!
//! - [`directory`]: the directory as LDAP entries (base DN from the domain, one `ou` per unit
//!   following the unit hierarchy, persons, unit mailboxes, groups with members), rebuilt
//!   from storage when older than `refresh`; departed persons are never in it.
//! - [`filter`]: RFC 4511 4.5.1.7 filter evaluation (three-valued), Vietnamese folding.
//! - [`session`]: one connection: simple bind with the shared AUTH throttle, search with
//!   size/time limits and the paged-results control (RFC 2696), rootDSE and subschema,
//!   StartTLS (RFC 4511 4.14).
//! - [`schema`]: the subschema entry (RFC 4512 4.2).
//! - [`server`]: the listeners on the shared `listener` skeleton.
//!
//! Invariants: nothing is ever written; passwords only under TLS (or from loopback when
//! `allow_plaintext_loopback`); every request (BER size and depth), result and wait is bounded.

pub mod directory;
pub mod filter;
pub mod schema;
pub mod server;
pub mod session;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use server::{Kind, Server};

#[derive(Debug, Clone)]
pub struct Settings {
    /// The domain whose `dc=` components are the base DN (`kontum.gov.vn` →
    /// `dc=kontum,dc=gov,dc=vn`).
    pub domain: String,
    /// Most entries one search (or one page) returns; beyond: sizeLimitExceeded.
    pub max_results: usize,
    /// Longest a search may run.
    pub max_search_time: Duration,
    /// Largest request message (BER bytes).
    pub max_request_bytes: usize,
    /// Deepest BER nesting of a request (bounds filter nesting).
    pub max_request_depth: usize,
    /// How old the in-memory directory may be before a search rebuilds it.
    pub refresh: Duration,
    /// Searches without a bind (other than rootDSE and subschema).
    pub allow_anonymous: bool,
    pub login_timeout: Duration,
    pub idle_timeout: Duration,
    pub tls_handshake_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// Tests only: simple bind without TLS from loopback.
    pub allow_plaintext_loopback: bool,
}

impl Settings {
    pub fn for_domain(domain: &str) -> Settings {
        Settings {
            domain: domain.to_string(),
            max_results: 1000,
            max_search_time: Duration::from_secs(10),
            max_request_bytes: 32 * 1024,
            max_request_depth: 32,
            refresh: Duration::from_secs(5),
            allow_anonymous: false,
            login_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(30 * 60),
            tls_handshake_timeout: Duration::from_secs(10),
            max_connections: 1000,
            max_connections_per_ip: 50,
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
    /// The directory, when it was built, and the store's directory generation then.
    cache: tokio::sync::Mutex<Option<(Instant, Arc<directory::Directory>, u64)>>,
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
            cache: tokio::sync::Mutex::new(None),
        }
    }

    /// The directory, rebuilt from storage when older than `refresh` or changed by another node
    /// (one rebuild at a time).
    pub async fn directory(&self) -> Result<Arc<directory::Directory>, storage::Error> {
        let mut cache = self.cache.lock().await;
        // Another node changed domains, units or addresses: rebuild now (issue 16).
        let generation = self.store.directory_generation();
        if let Some((at, dir, built_at)) = cache.as_ref() {
            if at.elapsed() < self.settings.refresh && *built_at == generation {
                return Ok(dir.clone());
            }
        }
        let book = self.store.address_book().await?;
        let dir = Arc::new(directory::Directory::build(&self.settings.domain, &book));
        *cache = Some((Instant::now(), dir.clone(), generation));
        Ok(dir)
    }
}
