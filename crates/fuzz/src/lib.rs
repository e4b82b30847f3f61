//! Fuzz targets for govmail's hostile-input parsers, and a mutation driver that runs on stable
//! Rust (see README.md).
//!
//! - [`targets`]: `imap_command`, `smtp_reader`, `mime_roundtrip`: each a `fn(&[u8])` that
//!   must never panic, hang or use unbounded memory.
//! - [`mutate`]: havoc mutations with per-target dictionaries and deep nesting repetition.
//! - [`mime_gen`]: structure-aware generation of MIME trees up to 20,000 levels deep.
//! - [`driver`]: the supervised run loop (crash-safe against stack overflow and aborts).

pub mod driver;
pub mod mime_gen;
pub mod mutate;
pub mod panics;
pub mod rng;
pub mod targets;

use std::path::PathBuf;

/// `crates/fuzz` in the source tree.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
