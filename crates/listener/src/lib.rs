//! The server skeleton shared by every protocol (SMTP, IMAP, and the listeners to come): what
//! happens to a connection before a protocol session owns it, and how listeners stop.
//!
//! - [`accept`]: the [`Protocol`] a crate implements (refusal text, which session to run), the
//!   generic [`Server`] with its accept loops, and the bounded drain at shutdown.
//! - [`gate`]: connection caps — per IP first, then the total slots with a short, bounded wait
//!   for a freed slot — and the pressure signal sessions use to shed slow clients.
//! - [`shutdown`]: the trigger side ([`Shutdown`]) and what sessions await ([`ShutdownSignal`]).
//! - [`tls`]: the TLS handshake with a deadline (implicit TLS or after STARTTLS).
//! - [`session_id`]: session ids, recorded on the connection's tracing span.
//!
//! Invariants: no protocol text lives here (a protocol passes its refusal bytes in); the per-IP
//! cap is checked before the total, so one address never takes the slots others free; every
//! wait is bounded (slot wait, refusal write, TLS handshake, drain).

pub mod accept;
pub mod gate;
pub mod session_id;
pub mod shutdown;
pub mod tls;

pub use accept::{Listener, Protocol, Server};
pub use gate::{Gate, Pass, Refused};
pub use session_id::session_id;
pub use shutdown::{Shutdown, ShutdownSignal};
