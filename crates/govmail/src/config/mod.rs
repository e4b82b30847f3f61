//! The configuration file (TOML), `--set section.key=value` overrides, and validation.
//!
//! Every key is documented in `config/govmail.toml`. Unknown keys, bad values and unreachable
//! paths are errors that name the key; validation runs before anything starts.
//!
//! One file per group of sections: [`server`] (`[server]`, `[storage]`, `[listen]`, `[tls]`),
//! [`sessions`] (`[smtp]`, `[imap]`, `[mime]`, `[accounts]`), [`filtering`] (`[antivirus]`,
//! `[spam]`), [`attachments`] (`[attachments]`), [`outbound`] (`[outbound]`, `[dkim]`, `[forwarding]`, `[dns]`), [`http`]
//! (`[autoconfig]`, `[health]`), [`sieve`] (`[sieve]`), [`directory`] (`[ldap]`); [`load`] reads the file and applies `--set`, [`validate`]
//! checks the whole before anything starts. `[retention]` and `[reports]` belong to `ops`.

mod attachments;
mod directory;
mod filtering;
mod http;
mod load;
mod outbound;
mod server;
mod sessions;
mod sieve;
mod validate;

#[cfg(test)]
mod tests;

use serde::Deserialize;

pub use attachments::Attachments;
pub use directory::Ldap;
pub use filtering::{Antivirus, Spam};
pub use http::{Autoconfig, Health};
pub use outbound::{Dkim, Dns, Forwarding, Outbound};
pub use server::{Listen, Server, Storage, Tls};
pub use sessions::{Accounts, Imap, Mime, Smtp};
pub use sieve::Sieve;
// Only named inside `Spam` and `Dkim`; kept at their old paths.
#[allow(unused_imports)]
pub use filtering::SpamRule;
#[allow(unused_imports)]
pub use outbound::DkimKey;

/// One clear line naming the key.
#[derive(Debug, thiserror::Error)]
#[error("config: {key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

/// Every mistake of one configuration, one line each.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

fn err(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_string(),
        message: message.into(),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[derive(Default)]
pub struct Config {
    pub server: Server,
    pub storage: Storage,
    pub listen: Listen,
    pub tls: Tls,
    pub antivirus: Antivirus,
    pub attachments: Attachments,
    pub accounts: Accounts,
    pub smtp: Smtp,
    pub imap: Imap,
    pub mime: Mime,
    pub spam: Spam,
    pub dns: Dns,
    pub autoconfig: Autoconfig,
    pub health: Health,
    pub outbound: Outbound,
    pub dkim: Dkim,
    pub forwarding: Forwarding,
    pub sieve: Sieve,
    pub ldap: Ldap,
    pub retention: crate::ops::RetentionConfig,
    pub reports: crate::ops::ReportsConfig,
    pub import: crate::import::ImportConfig,
}
