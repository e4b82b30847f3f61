//! Command handlers, one module per family. Each is an `impl Session` block.

pub mod auth;
pub mod data;
pub mod envelope;
pub mod hello;
