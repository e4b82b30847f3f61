//! Sieve filters and ManageSieve: `[sieve]` (script bounds at upload and at delivery, and the
//! ManageSieve listener's sessions; the listener's address is `listen.managesieve`).

use serde::Deserialize;

use super::{err, Config, ConfigError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sieve {
    /// Largest script in bytes (ManageSieve answers NO (QUOTA/MAXSIZE) beyond).
    pub max_script_bytes: usize,
    /// Scripts per mailbox (NO (QUOTA/MAXSCRIPTS) beyond).
    pub max_scripts: usize,
    /// Commands and tests one delivery may run per script.
    pub max_instructions: usize,
    /// Redirects one run may make.
    pub max_redirects: usize,
    /// Keeps and fileintos one run may make.
    pub max_fileinto: usize,
    /// Deepest nesting of blocks and tests.
    pub max_nesting: usize,
    /// Longest `:days` of a vacation reply.
    pub max_vacation_days: u64,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub login_timeout_secs: u64,
    pub idle_timeout_secs: u64,
    pub tls_handshake_timeout_secs: u64,
}

impl Default for Sieve {
    fn default() -> Self {
        let limits = sieve::Limits::default();
        Sieve {
            max_script_bytes: limits.max_script_bytes,
            max_scripts: 16,
            max_instructions: limits.max_instructions,
            max_redirects: limits.max_redirects,
            max_fileinto: limits.max_fileinto,
            max_nesting: limits.max_nesting,
            max_vacation_days: limits.max_vacation_days,
            max_connections: 1000,
            max_connections_per_ip: 20,
            login_timeout_secs: 180,
            idle_timeout_secs: 1800,
            tls_handshake_timeout_secs: 10,
        }
    }
}

impl Config {
    /// The script bounds, for delivery and for uploads.
    pub fn sieve_limits(&self) -> sieve::Limits {
        let s = &self.sieve;
        sieve::Limits {
            max_script_bytes: s.max_script_bytes,
            max_nesting: s.max_nesting,
            max_instructions: s.max_instructions,
            max_redirects: s.max_redirects,
            max_fileinto: s.max_fileinto,
            max_vacation_days: s.max_vacation_days,
            ..sieve::Limits::default()
        }
    }

    pub(super) fn validate_sieve(&self) -> Result<(), ConfigError> {
        let s = &self.sieve;
        for (key, value) in [
            ("sieve.max_script_bytes", s.max_script_bytes),
            ("sieve.max_scripts", s.max_scripts),
            ("sieve.max_instructions", s.max_instructions),
            ("sieve.max_fileinto", s.max_fileinto),
            ("sieve.max_nesting", s.max_nesting),
            ("sieve.max_connections", s.max_connections),
            ("sieve.max_connections_per_ip", s.max_connections_per_ip),
        ] {
            if value == 0 {
                return Err(err(key, "must be at least 1"));
            }
        }
        if s.max_script_bytes > 1024 * 1024 {
            return Err(err("sieve.max_script_bytes", "must be at most 1048576"));
        }
        if s.max_vacation_days == 0 {
            return Err(err("sieve.max_vacation_days", "must be at least 1"));
        }
        Ok(())
    }
}
