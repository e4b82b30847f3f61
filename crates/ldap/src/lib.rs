//! LDAP (RFC 4511), read-only: the province directory as a global address list for mail
//! clients (Thunderbird, Outlook, phones), on `listen.ldap` (StartTLS) and `listen.ldaps`.
//!
//! - [`directory`]: the directory as LDAP entries (base DN from the domain, one `ou` per unit
//!   following the unit hierarchy, persons, unit mailboxes, groups with members), rebuilt
//!   from storage in the background when older than `refresh`; departed persons are never in it.
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
    /// How old the in-memory directory may be before it is rebuilt (in the background; zero:
    /// every search rebuilds it first, for tests).
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
    cache: Arc<Cache>,
}

/// The directory searches read, and how it is kept fresh: a search never waits for a rebuild
/// once there is a directory (the stale one answers while one background task rebuilds it);
/// only the first search, or every search with `refresh` zero, builds it inline.
#[derive(Default)]
struct Cache {
    current: std::sync::Mutex<Option<Built>>,
    /// Set while a background rebuild runs (at most one).
    rebuilding: std::sync::atomic::AtomicBool,
    /// Serialises inline builds.
    building: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct Built {
    at: Instant,
    dir: Arc<directory::Directory>,
    /// The store's directory generation it was built at.
    generation: u64,
}

impl Cache {
    fn get(&self) -> Option<Built> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set(&self, built: Built) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(built);
    }

    async fn build(&self, store: &storage::Store, domain: &str) -> Result<Built, storage::Error> {
        let generation = store.directory_generation();
        let book = store.address_book().await?;
        let built = Built {
            at: Instant::now(),
            dir: Arc::new(directory::Directory::build(domain, &book)),
            generation,
        };
        self.set(built.clone());
        Ok(built)
    }
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
            cache: Arc::default(),
        }
    }

    /// The directory. Older than `refresh`, or built before another node changed domains,
    /// units or addresses (issue 16), it is rebuilt from storage by one background task while
    /// searches go on reading it; so a change shows within `refresh` plus one rebuild.
    pub async fn directory(&self) -> Result<Arc<directory::Directory>, storage::Error> {
        use std::sync::atomic::Ordering;
        let fresh = |b: &Built| {
            b.at.elapsed() < self.settings.refresh
                && b.generation == self.store.directory_generation()
        };
        match self.cache.get() {
            Some(built) if fresh(&built) => return Ok(built.dir),
            Some(built) if !self.settings.refresh.is_zero() => {
                if !self.cache.rebuilding.swap(true, Ordering::AcqRel) {
                    let (cache, store) = (self.cache.clone(), self.store.clone());
                    let domain = self.settings.domain.clone();
                    tokio::spawn(async move {
                        // Cleared however the task ends (a panic too), or no rebuild would
                        // ever start again.
                        struct Done(Arc<Cache>);
                        impl Drop for Done {
                            fn drop(&mut self) {
                                self.0.rebuilding.store(false, Ordering::Release);
                            }
                        }
                        let done = Done(cache);
                        if let Err(e) = done.0.build(&store, &domain).await {
                            tracing::warn!(error = %e, "directory rebuild failed");
                        }
                    });
                }
                return Ok(built.dir);
            }
            _ => {}
        }
        let _one = self.cache.building.lock().await;
        match self.cache.get() {
            // Built by the search we waited for.
            Some(built) if fresh(&built) => Ok(built.dir),
            _ => Ok(self
                .cache
                .build(&self.store, &self.settings.domain)
                .await?
                .dir),
        }
    }
}
