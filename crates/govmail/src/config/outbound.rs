//! `[outbound]` (the delivery worker for queued mail), `[dkim]`, `[forwarding]` and `[dns]`,
//! and the settings the `smtp` crate's outbound side is built from.

use std::path::PathBuf;

use serde::Deserialize;

use super::{err, Config, ConfigError};

/// Delivery of queued mail to other organisations (durations like "5m", "4h", "5d").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Outbound {
    pub enabled: bool,
    pub retry_schedule: Vec<String>,
    pub max_age: String,
    pub delay_notify_after: String,
    pub delay_notify_default: bool,
    pub concurrency: usize,
    pub concurrency_per_domain: usize,
    pub tls_required_domains: Vec<String>,
    pub tls_ca_file: String,
    pub connect_timeout: String,
    pub command_timeout: String,
    pub data_timeout: String,
    pub lease: String,
    pub poll_interval: String,
    pub max_recipients_per_transaction: usize,
    pub keep_done: String,
    pub port: u16,
}

impl Default for Outbound {
    fn default() -> Self {
        Outbound {
            enabled: true,
            retry_schedule: ["5m", "15m", "30m", "1h", "2h", "4h"]
                .map(String::from)
                .to_vec(),
            max_age: "5d".into(),
            delay_notify_after: "4h".into(),
            delay_notify_default: true,
            concurrency: 32,
            concurrency_per_domain: 4,
            tls_required_domains: vec![],
            tls_ca_file: "/etc/ssl/certs/ca-certificates.crt".into(),
            connect_timeout: "30s".into(),
            command_timeout: "5m".into(),
            data_timeout: "10m".into(),
            lease: "5m".into(),
            poll_interval: "5s".into(),
            max_recipients_per_transaction: 100,
            keep_done: "7d".into(),
            port: 25,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dkim {
    pub keys: Vec<DkimKey>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimKey {
    pub domain: String,
    pub selector: String,
    pub private_key: PathBuf,
}

/// BD-11, KT-9: automatic forwarding policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Forwarding {
    pub enabled: bool,
    pub allowed_domains: Vec<String>,
    pub public_webmail_domains: Vec<String>,
}

impl Default for Forwarding {
    fn default() -> Self {
        let p = smtp::outbound::forwarding::ForwardingPolicy::default();
        Forwarding {
            enabled: p.enabled,
            allowed_domains: p.allowed_domains,
            public_webmail_domains: p.public_webmail_domains,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dns {
    /// Resolver addresses (`IP:port`); empty = the system's resolv.conf.
    pub resolvers: Vec<String>,
    /// SPF, DKIM and DMARC look-ups of one received message, in all (seconds); what is not
    /// answered by then counts as a temporary error.
    pub auth_deadline_secs: u64,
}

impl Default for Dns {
    fn default() -> Self {
        Dns {
            resolvers: vec![],
            auth_deadline_secs: 5,
        }
    }
}

impl Config {
    pub fn dkim_keys(&self) -> Vec<smtp::outbound::DkimKeyConfig> {
        self.dkim
            .keys
            .iter()
            .map(|k| smtp::outbound::DkimKeyConfig {
                domain: k.domain.clone(),
                selector: k.selector.clone(),
                private_key: k.private_key.clone(),
            })
            .collect()
    }

    pub fn forwarding_policy(&self) -> smtp::outbound::forwarding::ForwardingPolicy {
        smtp::outbound::forwarding::ForwardingPolicy {
            enabled: self.forwarding.enabled,
            allowed_domains: self.forwarding.allowed_domains.clone(),
            public_webmail_domains: self.forwarding.public_webmail_domains.clone(),
        }
    }

    pub fn outbound_settings(&self) -> Result<smtp::outbound::OutboundSettings, ConfigError> {
        let o = &self.outbound;
        let d = |k: &str, v: &str| {
            smtp::outbound::parse_duration(v).map_err(|m| err(&format!("outbound.{k}"), m))
        };
        let mut s = smtp::outbound::OutboundSettings::new(&self.server.hostname);
        s.resolvers = self
            .dns
            .resolvers
            .iter()
            .filter_map(|r| r.parse().ok())
            .collect();
        s.port = o.port;
        s.retry_schedule = o
            .retry_schedule
            .iter()
            .enumerate()
            .map(|(i, v)| d(&format!("retry_schedule[{i}]"), v))
            .collect::<Result<_, _>>()?;
        if s.retry_schedule.is_empty() {
            return Err(err("outbound.retry_schedule", "needs at least one wait"));
        }
        s.max_age = d("max_age", &o.max_age)?;
        s.delay_notify_after = d("delay_notify_after", &o.delay_notify_after)?;
        s.delay_notify_default = o.delay_notify_default;
        if o.concurrency == 0 {
            return Err(err("outbound.concurrency", "must be at least 1"));
        }
        if o.concurrency_per_domain == 0 {
            return Err(err("outbound.concurrency_per_domain", "must be at least 1"));
        }
        s.concurrency = o.concurrency;
        s.concurrency_per_domain = o.concurrency_per_domain;
        s.tls_required_domains = o.tls_required_domains.clone();
        s.tls_ca_file = (!o.tls_ca_file.is_empty()).then(|| PathBuf::from(&o.tls_ca_file));
        s.connect_timeout = d("connect_timeout", &o.connect_timeout)?;
        s.command_timeout = d("command_timeout", &o.command_timeout)?;
        s.data_timeout = d("data_timeout", &o.data_timeout)?;
        s.lease = d("lease", &o.lease)?;
        s.poll_interval = d("poll_interval", &o.poll_interval)?;
        s.keep_done = d("keep_done", &o.keep_done)?;
        s.max_recipients_per_transaction = o.max_recipients_per_transaction.max(1);
        s.dkim = self.dkim_keys();
        Ok(s)
    }
}
