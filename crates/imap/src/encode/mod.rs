//! Response encoding (RFC 9051 7): every byte a session writes goes through these helpers,
//! except the command-specific untagged lines each command family words itself from them.
//!
//! - [`strings`]: quoted strings, literals, atoms, NIL.
//! - [`response`]: status responses — [`Done`] (the tagged line), [`Status`], response
//!   [`Code`]s, untagged `OK [code]` lines.
//! - [`fetch`]: the FETCH line and its items (FLAGS lists, ENVELOPE, BODYSTRUCTURE …).
//! - [`sequence`]: sequence sets and EXPUNGE / VANISHED reports.
//! - [`esearch`]: the head of an ESEARCH response (with its `(TAG ...)` correlator).
//!
//! Deviation: imap-codec parses commands only; responses are written here, simpler than
//! building imap-types values for every line.

pub mod esearch;
pub mod fetch;
pub mod response;
pub mod sequence;
pub mod strings;

pub use fetch::{body_structure, envelope, flag_list, internal_date, section_label, FetchLine};
pub use response::{untagged_status, Code, Done, Status};
pub use sequence::compact;
