//! Policy: I/O-free decisions (who may do what, spam scores, names, passwords, limits), plus the
//! one adapter that talks to clamd.
//!
//! - [`password`]: argon2id hashing and initial passwords.
//! - [`naming`]: addresses from Vietnamese names (KT-4, BD-5).
//! - [`antivirus`]: the clamd INSTREAM client and its verdicts.
//! - [`attachments`]: dangerous attachments (executables, scripts, macros, double
//!   extensions), inside ZIP archives too ([`zipdir`], bounded).
//! - [`spam`]: spam scoring and thresholds.
//! - [`limits`]: AUTH failure throttling, per-IP connection caps.
//! - [`mailflow`]: address syntax and relay decisions for RCPT.
//! - [`collation`]: RFC 5051 `i;unicode-casemap` and the Vietnamese sort order built on it.
//! - [`textsearch`]: diacritic-insensitive Vietnamese search folding and index terms.
//! - [`legacy_vn`]: Vietnamese typed in the legacy TCVN3 encoding, read back.

pub mod antivirus;
pub mod attachments;
pub mod collation;
pub mod import;
pub mod legacy_vn;
pub mod limits;
pub mod mailflow;
pub mod naming;
pub mod password;
pub mod spam;
pub mod textsearch;
pub mod zipdir;
