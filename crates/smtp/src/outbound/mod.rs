//! Outbound delivery to the Internet (issue 6, KT-1).
//!
//! Submitted mail for external recipients is committed into the durable queue
//! (`storage::queue`) in the same transaction as the local copies. A [`Worker`] claims due
//! recipients with a lease, delivers them and writes the outcome:
//!
//! - [`resolve`]: MX lookup through the configured resolvers, fallback to A/AAAA when the
//!   domain has no MX (RFC 5321 5.1), null MX (RFC 7505) = immediate failure.
//! - [`client`]: our SMTP client: hosts in preference order, EHLO, STARTTLS whenever offered
//!   (certificate problems logged; per-domain "required" = TLS with a verified certificate or
//!   no delivery), PIPELINING, SIZE, 8BITMIME, SMTPUTF8, DSN parameters passed on.
//! - [`dkim`]: DKIM signing (mail-auth) with the key of the From: domain.
//! - [`dsn`]: RFC 3464 delivery status notifications with a Vietnamese and English text,
//!   delivered to the sender's INBOX.
//! - [`forwarding`]: the automatic forwarding policy (BD-11, KT-9).
//! - [`records`]: the DNS records a hosted domain should publish.
//!
//! Invariants:
//! - An entry is delivered by at most one worker at a time: the lease is taken in one
//!   statement (`FOR UPDATE SKIP LOCKED` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite) and
//!   renewed by a heartbeat while the worker runs. A worker that dies stops renewing; its
//!   leases expire and another worker (or the restarted one) delivers: at-least-once, never
//!   lost.
//! - Results are written only while the lease is still ours.
//! - A failure notice is stored before the entry is marked failed (a crash in between may
//!   repeat a notice, never lose one).

mod attempt;
pub mod client;
pub mod dkim;
pub mod dsn;
pub mod forwarding;
mod outcome;
pub mod records;
pub mod resolve;
mod settings;
mod tls;
mod worker;

pub use attempt::strip_return_path;
pub use settings::{
    default_retry_schedule, parse_duration, DkimKeyConfig, OutboundError, OutboundSettings,
};
pub use worker::{Worker, WorkerHandle, SHUTDOWN_GRACE};
