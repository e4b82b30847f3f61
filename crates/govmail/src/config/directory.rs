//! The directory front ends: `[ldap]` (the read-only address book on `listen.ldap`, StartTLS,
//! and `listen.ldaps`).

use serde::Deserialize;

use super::{err, Config, ConfigError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ldap {
    /// The domain whose `dc=` parts are the base DN; empty: the hostname without its first
    /// label (`mail.kontum.gov.vn` → `dc=kontum,dc=gov,dc=vn`).
    pub base_domain: String,
    /// Most entries a search (or one page) returns.
    pub max_results: usize,
    pub max_search_time_secs: u64,
    /// Largest request in bytes.
    pub max_request_bytes: usize,
    /// How old the in-memory directory may be (a hire, transfer or leave shows after this).
    pub refresh_secs: u64,
    /// Searches without a password bind.
    pub allow_anonymous: bool,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub login_timeout_secs: u64,
    pub idle_timeout_secs: u64,
    pub tls_handshake_timeout_secs: u64,
}

impl Default for Ldap {
    fn default() -> Self {
        let d = ldap::Settings::for_domain("");
        Ldap {
            base_domain: String::new(),
            max_results: d.max_results,
            max_search_time_secs: d.max_search_time.as_secs(),
            max_request_bytes: d.max_request_bytes,
            refresh_secs: d.refresh.as_secs(),
            allow_anonymous: false,
            max_connections: d.max_connections,
            max_connections_per_ip: d.max_connections_per_ip,
            login_timeout_secs: d.login_timeout.as_secs(),
            idle_timeout_secs: d.idle_timeout.as_secs(),
            tls_handshake_timeout_secs: d.tls_handshake_timeout.as_secs(),
        }
    }
}

impl Config {
    /// The base DN's domain.
    pub fn ldap_base_domain(&self) -> String {
        if !self.ldap.base_domain.is_empty() {
            return self.ldap.base_domain.trim_end_matches('.').to_lowercase();
        }
        let host = self.server.hostname.trim_end_matches('.').to_lowercase();
        match host.split_once('.') {
            Some((_, rest)) if rest.contains('.') => rest.to_string(),
            _ => host,
        }
    }

    pub(super) fn validate_ldap(&self) -> Result<(), ConfigError> {
        let l = &self.ldap;
        for (key, value) in [
            ("ldap.max_results", l.max_results),
            ("ldap.max_request_bytes", l.max_request_bytes),
            ("ldap.max_connections", l.max_connections),
            ("ldap.max_connections_per_ip", l.max_connections_per_ip),
        ] {
            if value == 0 {
                return Err(err(key, "must be at least 1"));
            }
        }
        if l.max_request_bytes < 1024 {
            return Err(err("ldap.max_request_bytes", "must be at least 1024"));
        }
        if l.max_search_time_secs == 0 {
            return Err(err("ldap.max_search_time_secs", "must be at least 1"));
        }
        Ok(())
    }
}
