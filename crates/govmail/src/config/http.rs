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

impl super::Config {
    /// The password change page (KT-7.1) as people reach it: `accounts.password_url`, else
    /// `https://` + the public host (`autoconfig.host`, else `server.hostname`) + the port of
    /// the first `listen.https` address unless it is 443 + `/password`.
    pub fn password_url(&self) -> String {
        let configured = self.accounts.password_url.trim();
        if !configured.is_empty() {
            return configured.to_string();
        }
        let host = if self.autoconfig.host.trim().is_empty() {
            self.server.hostname.trim()
        } else {
            self.autoconfig.host.trim()
        };
        let port = self
            .listen
            .https
            .first()
            .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
            .map(|a| a.port())
            .filter(|p| *p != 443)
            .map(|p| format!(":{p}"))
            .unwrap_or_default();
        format!("https://{host}{port}/password")
    }
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
