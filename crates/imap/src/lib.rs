//! IMAP: IMAP4rev2 (RFC 9051) and IMAP4rev1 (RFC 3501) with the extensions clients use.
//!
//! Modules depend one way, each on those listed before it:
//! - [`protocol`]: command parsing (imap-codec plus our own parsers for what it lacks) into
//!   our own types, and which states each command is valid in. Sessions never see imap-codec
//!   types.
//! - [`fetch`]: which bytes of a stored message a FETCH section or BINARY names.
//! - [`reencode`]: APPENDed binary content stored without NUL (base64 parts).
//! - [`preview`]: RFC 8970 preview text of a message, and the cache of those made.
//! - [`imapurl`]: RFC 5092 IMAP URLs (what CATENATE names).
//! - [`objects`]: RFC 8474 object ids as words.
//! - [`search`]: SEARCH evaluation.
//! - [`encode`]: response encoding — strings and literals, status responses with typed
//!   response codes, FETCH lines and items, sequence sets.
//! - [`sort`]: SORT, THREAD and RFC 5267 contexts as pure functions over the stored sort
//!   records (base subject, collation, threading, ADDTO/REMOVEFROM).
//! - [`names`]: mailbox names in the client's form and ours, reserved names, name limits.
//! - [`selected`]: the selected folder's view (sequence numbers) and the catch-up on
//!   other sessions' changes.
//! - [`notify`]: a RFC 5465 NOTIFY session's watch: which events of which mailboxes, what
//!   was last reported.
//! - [`state`]: the [`Session`] value (state enum with each state's data) and the helpers
//!   every command uses.
//! - [`shared`]: unit mailboxes in the shared namespace, RFC 4314 rights, audit of reads.
//! - [`cmd`]: the state check, the dispatch, one module per command family.
//! - [`session`]: one connection: framing with literals, the command loop.
//! - [`server`]: the listener kinds' sessions and `* BYE` refusals on the shared `listener`
//!   skeleton (accept loop, connection caps, TLS deadline, shutdown); the account watcher.

pub mod cmd;
pub mod encode;
pub mod fetch;
pub mod imapurl;
pub mod names;
pub mod notify;
pub mod objects;
pub mod preview;
pub mod protocol;
pub mod reencode;
pub mod search;
pub mod selected;
pub mod server;
pub mod session;
pub mod shared;
pub mod sort;
pub mod state;

use std::sync::Arc;
use std::time::Duration;

pub use server::{Server, ShutdownHandle};
pub use session::Outcome;
pub use state::Session;

#[derive(Debug, Clone)]
pub struct Settings {
    pub hostname: String,
    /// The password change page as people reach it (KT-7.1), named in the ALERT an initial
    /// password gets.
    pub password_url: String,
    /// Longest command line (without literals).
    pub max_line_length: usize,
    /// Largest literal (APPENDLIMIT).
    pub max_literal: usize,
    /// Largest command including its literals, except APPEND's message.
    pub max_command: usize,
    /// Largest APPEND command, every message and CATENATE part in all (RFC 3502
    /// MULTIAPPEND, RFC 4469 CATENATE): more answers NO [TOOBIG] and stores nothing.
    pub max_append_bytes: usize,
    /// Most messages plus CATENATE parts in one APPEND: more answers NO [LIMIT].
    pub max_append_parts: usize,
    /// RFC 5465: most unreported changes a NOTIFY session may have pending; beyond, it gets
    /// `* OK [NOTIFICATIONOVERFLOW]` and notifications stop (as after NOTIFY NONE).
    pub notify_max_pending: usize,
    /// RFC 8970 LAZY: time a FETCH may spend making previews not already made; the rest
    /// answer NIL and are made in the background.
    pub preview_lazy_budget: Duration,
    pub idle_timeout: Duration,
    /// Time a connection has to log in, in all (Dovecot's pre-login limit is 3 minutes).
    pub login_timeout: Duration,
    /// Deadline of a TLS handshake (STARTTLS or port 993).
    pub tls_handshake_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub max_errors: usize,
    pub allow_plaintext_loopback: bool,
    /// Most folders one account may hold (INBOX included); CREATE beyond it answers
    /// NO [LIMIT] and creates nothing.
    pub max_folders: usize,
    /// Most hierarchy levels in a folder name (`a/b/c` has 3).
    pub max_folder_depth: usize,
    /// Longest folder name in bytes of UTF-8 (each level is also at most
    /// [`names::MAX_PART_BYTES`]).
    pub max_folder_name_bytes: usize,
}

impl Settings {
    pub fn for_hostname(hostname: &str) -> Settings {
        Settings {
            hostname: hostname.to_string(),
            password_url: format!("https://{hostname}/password"),
            max_line_length: 64 * 1024,
            max_literal: 50 * 1024 * 1024,
            max_command: 1024 * 1024,
            max_append_bytes: 50 * 1024 * 1024,
            max_append_parts: 1000,
            notify_max_pending: 1000,
            preview_lazy_budget: Duration::from_millis(100),
            // RFC 9051 5.4: at least 30 minutes.
            idle_timeout: Duration::from_secs(30 * 60),
            login_timeout: Duration::from_secs(180),
            tls_handshake_timeout: Duration::from_secs(10),
            max_connections: 20_000,
            max_connections_per_ip: 200,
            max_errors: 20,
            allow_plaintext_loopback: false,
            max_folders: 1000,
            max_folder_depth: 16,
            max_folder_name_bytes: 1024,
        }
    }
}

pub struct Context {
    pub settings: Settings,
    pub store: storage::Store,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub auth_throttle: Arc<policy::limits::AuthThrottle>,
    /// Connection caps of every IMAP listener (per IP, then total; no wait for a slot).
    pub gate: listener::Gate,
    /// (account id, session epoch) of accounts whose sessions must end (see `server`).
    pub revocations: tokio::sync::broadcast::Sender<(i64, i64)>,
    /// RFC 8970 previews already made, by blob.
    pub previews: preview::Cache,
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
            revocations: tokio::sync::broadcast::channel(256).0,
            previews: preview::Cache::new(preview::CACHE_ENTRIES),
        }
    }
}
