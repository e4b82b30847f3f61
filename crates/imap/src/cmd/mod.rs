//! Command handlers, one module per family; each is an `impl Session` block.

pub mod auth;
pub mod fetch;
pub mod idle;
pub mod mailbox;
pub mod message;
pub mod quota_acl;
