//! `[autoconfig]` (what client autoconfiguration tells mail clients) and `[health]` (when
//! /readyz fails).

use serde::Deserialize;

/// What client autoconfiguration tells mail clients (the public names, not the listeners).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Autoconfig {
    /// Public host name for IMAP and SMTP; empty = server.hostname.
    pub host: String,
    /// Public IMAP port with implicit TLS (RFC 8314).
    pub imap_port: u16,
    /// Public submission port with implicit TLS (RFC 8314).
    pub smtp_port: u16,
    /// Public IMAP port with STARTTLS (SRV `_imap._tcp`).
    pub imap_starttls_port: u16,
    /// Public submission port with STARTTLS (SRV `_submission._tcp`).
    pub submission_port: u16,
    /// Public HTTPS port (autodiscover's URL).
    pub https_port: u16,
    pub display_name: String,
}

impl Default for Autoconfig {
    fn default() -> Self {
        Autoconfig {
            host: String::new(),
            imap_port: 993,
            smtp_port: 465,
            imap_starttls_port: 143,
            submission_port: 587,
            https_port: 443,
            display_name: "Thư công vụ".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Health {
    /// /readyz fails when data_dir has less free space than this (MiB).
    pub min_free_mb: u64,
}

impl Default for Health {
    fn default() -> Self {
        Health { min_free_mb: 1024 }
    }
}
