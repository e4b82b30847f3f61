//! Policy: I/O-free decisions (who may do what, spam scores, names, passwords), plus the one
//! adapter that talks to clamd.
//!
//! - [`password`]: argon2id hashing and initial passwords.
//! - [`naming`]: addresses from Vietnamese names (KT-4, BD-5).
//! - [`antivirus`]: the clamd INSTREAM client and its verdicts.

pub mod antivirus;
pub mod naming;
pub mod password;
