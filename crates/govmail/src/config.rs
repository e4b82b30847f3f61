//! The configuration file (TOML), `--set section.key=value` overrides, and validation.
//!
//! Every key is documented in `config/govmail.toml`. Unknown keys, bad values and unreachable
//! paths are errors that name the key; validation runs before anything starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One clear line naming the key.
#[derive(Debug, thiserror::Error)]
#[error("config: {key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
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
    pub retention: crate::ops::RetentionConfig,
    pub reports: crate::ops::ReportsConfig,
}

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

/// What client autoconfiguration tells mail clients (the public names, not the listeners).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Autoconfig {
    /// Public host name for IMAP and SMTP; empty = server.hostname.
    pub host: String,
    pub imap_port: u16,
    pub smtp_port: u16,
    pub display_name: String,
}

impl Default for Autoconfig {
    fn default() -> Self {
        Autoconfig {
            host: String::new(),
            imap_port: 993,
            smtp_port: 465,
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    pub hostname: String,
    pub data_dir: PathBuf,
    /// "text" or "json".
    pub log_format: String,
    pub log_level: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Storage {
    /// Empty: `sqlite://<data_dir>/govmail.db`.
    pub url: String,
    /// "files" or "database"; empty: files for SQLite, database for PostgreSQL.
    pub blob_store: String,
    pub max_connections: u32,
    /// Bodies up to this many bytes are kept in the database even with the files store.
    pub inline_blob_max: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Listen {
    pub smtp: Vec<String>,
    pub submission: Vec<String>,
    pub submissions: Vec<String>,
    pub imap: Vec<String>,
    pub imaps: Vec<String>,
    pub http: Vec<String>,
    /// The password change page (TLS only).
    pub https: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[derive(Default)]
pub struct Tls {
    /// Empty: a self-signed pair is generated in `<data_dir>/tls/`.
    pub cert: String,
    pub key: String,
    /// Allow AUTH/LOGIN without TLS from loopback clients (tests only).
    pub allow_plaintext_loopback: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Antivirus {
    pub enabled: bool,
    pub clamd: String,
    /// "tempfail" or "accept-and-tag".
    pub on_failure: String,
    pub timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Accounts {
    pub default_quota_mb: i64,
    pub unit_quota_mb: i64,
    pub min_password_length: usize,
    /// Retired passwords that may not be reused (0 = no rule).
    pub password_history: i64,
    /// How long a successful password check is remembered in memory, so that reconnecting
    /// clients skip the argon2 computation (0 = check every time).
    pub login_cache_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Smtp {
    pub max_message_size: usize,
    pub max_recipients: usize,
    pub max_line_length: usize,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub idle_timeout_secs: u64,
    /// When fewer than a tenth of the slots are free, unauthenticated sessions waiting longer
    /// than this for a command are closed to make room.
    pub pressure_idle_timeout_secs: u64,
    pub tls_handshake_timeout_secs: u64,
    /// Slowest DATA/BDAT accepted (bytes per second, after idle_timeout_secs / 10 of grace).
    pub min_data_rate: usize,
    pub max_messages_per_connection: usize,
    pub max_commands_before_mail: usize,
    pub max_errors: usize,
    /// AUTH throttling, shared by SMTP AUTH, IMAP LOGIN and the /password page
    /// (see `policy::limits`): wrong passwords for one login from one client IP before that
    /// login is refused from that IP (only) for `auth_lock_secs` (0 = never).
    pub auth_max_failures: u32,
    pub auth_lock_secs: u64,
    /// Delay before answering a wrong password; doubles per failure of the login from the IP.
    pub auth_delay_ms: u64,
    /// Cap of that delay.
    pub auth_max_delay_ms: u64,
    /// Failures older than this are forgotten.
    pub auth_window_secs: u64,
    /// Failures from one client IP (across logins) within the window that ban the IP (0 = never).
    pub auth_ip_ban_failures: u32,
    /// Distinct logins failing from one client IP within the window that ban the IP (0 = never).
    pub auth_ip_ban_accounts: u32,
    /// How long a banned IP is refused.
    pub auth_ip_ban_secs: u64,
    /// Most throttle entries kept in memory (per map); the least recently active go first.
    pub auth_max_entries: usize,
    /// SPF/DKIM/DMARC checks on MX mail (needs DNS through `dns.resolvers`).
    pub check_sender_authentication: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Imap {
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// Autologout after this much inactivity (RFC 9051 5.4: at least 30 minutes).
    pub idle_timeout_secs: u64,
    /// Time a connection has to log in, in all (slow or idle unauthenticated clients).
    pub login_timeout_secs: u64,
    pub tls_handshake_timeout_secs: u64,
    pub max_line_length: usize,
    pub max_errors: usize,
    /// Folders per account (INBOX included); CREATE beyond answers NO [LIMIT].
    pub max_folders: usize,
    /// Hierarchy levels in a folder name.
    pub max_folder_depth: usize,
    /// Bytes (UTF-8) in a folder name.
    pub max_folder_name_bytes: usize,
}

impl Default for Imap {
    fn default() -> Self {
        Imap {
            max_connections: 20_000,
            max_connections_per_ip: 200,
            idle_timeout_secs: 1800,
            login_timeout_secs: 180,
            tls_handshake_timeout_secs: 10,
            max_line_length: 65_536,
            max_errors: 20,
            max_folders: 1000,
            max_folder_depth: 16,
            max_folder_name_bytes: 1024,
        }
    }
}

/// Bounds on the parse of one message (SMTP and APPEND alike). What lies beyond them is kept,
/// unparsed: the message is still delivered and its bytes served intact.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mime {
    /// Deepest multipart / message/rfc822 nesting parsed (at most 60).
    pub max_depth: u32,
    pub max_parts: u32,
    pub max_header_bytes: u32,
    pub max_header_fields: u32,
    /// Addresses kept per ENVELOPE address field.
    pub max_addresses: u32,
}

impl Default for Mime {
    fn default() -> Self {
        let d = storage::meta::ParseLimits::default();
        Mime {
            max_depth: d.max_depth,
            max_parts: d.max_parts,
            max_header_bytes: d.max_header_bytes,
            max_header_fields: d.max_header_fields,
            max_addresses: d.max_addresses,
        }
    }
}

impl Mime {
    pub fn limits(&self) -> storage::meta::ParseLimits {
        storage::meta::ParseLimits {
            max_depth: self.max_depth,
            max_parts: self.max_parts,
            max_header_bytes: self.max_header_bytes,
            max_header_fields: self.max_header_fields,
            max_addresses: self.max_addresses,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Spam {
    pub enabled: bool,
    pub tag_score: f64,
    pub junk_score: f64,
    pub reject_score: f64,
    pub allow_senders: Vec<String>,
    pub deny_senders: Vec<String>,
    pub rules: Vec<SpamRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpamRule {
    pub name: String,
    /// "header:<Name>" or "body".
    pub target: String,
    /// Case-insensitive substring.
    pub contains: String,
    pub score: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[derive(Default)]
pub struct Dns {
    /// Resolver addresses (`IP:port`); empty = the system's resolv.conf.
    pub resolvers: Vec<String>,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            hostname: "localhost".into(),
            data_dir: PathBuf::from("./data"),
            log_format: "text".into(),
            log_level: "info".into(),
        }
    }
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            url: String::new(),
            blob_store: String::new(),
            max_connections: 16,
            inline_blob_max: 128 * 1024,
        }
    }
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            smtp: vec!["127.0.0.1:2525".into()],
            submission: vec!["127.0.0.1:5587".into()],
            submissions: vec!["127.0.0.1:4465".into()],
            imap: vec!["127.0.0.1:1143".into()],
            imaps: vec!["127.0.0.1:1993".into()],
            http: vec!["127.0.0.1:8080".into()],
            https: vec![],
        }
    }
}

impl Default for Antivirus {
    fn default() -> Self {
        Antivirus {
            enabled: true,
            clamd: "tcp://127.0.0.1:3310".into(),
            on_failure: "tempfail".into(),
            timeout_secs: 30,
        }
    }
}

impl Default for Accounts {
    fn default() -> Self {
        Accounts {
            default_quota_mb: 2048,
            unit_quota_mb: 10240,
            min_password_length: 10,
            password_history: 5,
            login_cache_secs: 600,
        }
    }
}

impl Default for Smtp {
    fn default() -> Self {
        Smtp {
            max_message_size: 50 * 1024 * 1024,
            max_recipients: 100,
            max_line_length: 4096,
            max_connections: 1000,
            max_connections_per_ip: 20,
            idle_timeout_secs: 300,
            pressure_idle_timeout_secs: 5,
            tls_handshake_timeout_secs: 10,
            min_data_rate: 1024,
            max_messages_per_connection: 100,
            max_commands_before_mail: 20,
            max_errors: 10,
            auth_max_failures: 5,
            auth_lock_secs: 300,
            auth_delay_ms: 2000,
            auth_max_delay_ms: 15_000,
            auth_window_secs: 600,
            auth_ip_ban_failures: 20,
            auth_ip_ban_accounts: 10,
            auth_ip_ban_secs: 300,
            auth_max_entries: 100_000,
            check_sender_authentication: true,
        }
    }
}

impl Default for Spam {
    fn default() -> Self {
        Spam {
            enabled: true,
            tag_score: 5.0,
            junk_score: 8.0,
            reject_score: 15.0,
            allow_senders: vec![],
            deny_senders: vec![],
            rules: vec![],
        }
    }
}

/// Parses a `--set` value: TOML syntax when it parses (numbers, booleans, arrays), else a string.
fn parse_override_value(text: &str) -> toml::Value {
    let wrapped = format!("v = {text}");
    match toml::from_str::<toml::Table>(&wrapped) {
        Ok(mut table) => table
            .remove("v")
            .unwrap_or(toml::Value::String(text.to_string())),
        Err(_) => toml::Value::String(text.to_string()),
    }
}

/// Applies one `section.key=value` override to the raw table.
fn apply_override(table: &mut toml::Table, assignment: &str) -> Result<(), ConfigError> {
    let (path, value) = assignment
        .split_once('=')
        .ok_or_else(|| err(assignment, "--set needs section.key=value"))?;
    let path = path.trim();
    let parts: Vec<&str> = path.split('.').collect();
    if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) {
        return Err(err(path, "--set needs section.key=value"));
    }
    let mut current = table;
    for part in &parts[..parts.len() - 1] {
        let entry = current
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| err(path, format!("{part} is not a section")))?;
    }
    current.insert(
        parts[parts.len() - 1].to_string(),
        parse_override_value(value.trim()),
    );
    Ok(())
}

impl Config {
    /// Loads `path` (or the built-in dev defaults), applies overrides, validates.
    pub fn load(path: Option<&Path>, overrides: &[String]) -> Result<Config, ConfigError> {
        let mut table = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| err("--config", format!("{}: {e}", path.display())))?;
                toml::from_str::<toml::Table>(&text).map_err(|e| {
                    let message = e.message().to_string();
                    let line = e
                        .span()
                        .map(|s| text[..s.start.min(text.len())].lines().count().max(1))
                        .unwrap_or(0);
                    err(&format!("{}:{line}", path.display()), message)
                })?
            }
            None => toml::Table::new(),
        };
        for assignment in overrides {
            apply_override(&mut table, assignment)?;
        }
        let deserializer = toml::Value::Table(table);
        let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            err(&key, e.inner().message())
        })?;
        config.validate()?;
        Ok(config)
    }

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

    /// The storage URL with the data_dir default applied.
    pub fn storage_url(&self) -> String {
        if self.storage.url.is_empty() {
            format!(
                "sqlite://{}",
                self.server.data_dir.join("govmail.db").display()
            )
        } else {
            self.storage.url.clone()
        }
    }

    /// The AUTH throttle shared by SMTP, IMAP and the /password page (`smtp.auth_*`).
    pub fn auth_throttle(&self) -> policy::limits::ThrottleConfig {
        let s = &self.smtp;
        policy::limits::ThrottleConfig {
            max_failures: s.auth_max_failures,
            lock: std::time::Duration::from_secs(s.auth_lock_secs),
            first_delay: std::time::Duration::from_millis(s.auth_delay_ms),
            max_delay: std::time::Duration::from_millis(s.auth_max_delay_ms),
            window: std::time::Duration::from_secs(s.auth_window_secs),
            ip_ban_failures: s.auth_ip_ban_failures,
            ip_ban_accounts: s.auth_ip_ban_accounts,
            ip_ban: std::time::Duration::from_secs(s.auth_ip_ban_secs),
            max_entries: s.auth_max_entries,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.server.hostname.trim().is_empty()
            || self.server.hostname.contains(char::is_whitespace)
        {
            return Err(err(
                "server.hostname",
                "must be a host name, e.g. mail.kontum.gov.vn",
            ));
        }
        if !matches!(self.server.log_format.as_str(), "text" | "json") {
            return Err(err("server.log_format", "must be \"text\" or \"json\""));
        }
        check_creatable_dir("server.data_dir", &self.server.data_dir)?;
        if !(1..=storage::meta::HARD_MAX_DEPTH).contains(&self.mime.max_depth) {
            return Err(err(
                "mime.max_depth",
                format!("must be 1..={}", storage::meta::HARD_MAX_DEPTH),
            ));
        }
        if self.mime.max_parts == 0 || self.mime.max_addresses == 0 {
            return Err(err("mime.max_parts", "mime limits must be above 0"));
        }
        let url = self.storage_url();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(err(
                "storage.url",
                format!("{url:?}: use sqlite://PATH or postgres://USER:PASS@HOST:PORT/DB"),
            ));
        }
        if let Some(path) = storage::sqlite_path(&url) {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                check_creatable_dir("storage.url", parent)?;
            }
        }
        if !matches!(self.storage.blob_store.as_str(), "" | "files" | "database") {
            return Err(err(
                "storage.blob_store",
                "must be \"files\" or \"database\"",
            ));
        }
        if self.storage.max_connections == 0 {
            return Err(err("storage.max_connections", "must be at least 1"));
        }
        for (key, list) in [
            ("listen.smtp", &self.listen.smtp),
            ("listen.submission", &self.listen.submission),
            ("listen.submissions", &self.listen.submissions),
            ("listen.imap", &self.listen.imap),
            ("listen.imaps", &self.listen.imaps),
            ("listen.http", &self.listen.http),
            ("listen.https", &self.listen.https),
        ] {
            for (i, addr) in list.iter().enumerate() {
                addr.parse::<SocketAddr>()
                    .map_err(|_| err(&format!("{key}[{i}]"), format!("{addr:?} is not IP:PORT")))?;
            }
        }
        match (self.tls.cert.is_empty(), self.tls.key.is_empty()) {
            (true, true) => {}
            (false, false) => {
                for (key, path) in [("tls.cert", &self.tls.cert), ("tls.key", &self.tls.key)] {
                    if !Path::new(path).is_file() {
                        return Err(err(key, format!("{path}: no such file")));
                    }
                }
            }
            (true, false) => {
                return Err(err("tls.cert", "set both tls.cert and tls.key, or neither"))
            }
            (false, true) => {
                return Err(err("tls.key", "set both tls.cert and tls.key, or neither"))
            }
        }
        if self.antivirus.enabled {
            policy::antivirus::ClamdAddress::parse(&self.antivirus.clamd)
                .map_err(|m| err("antivirus.clamd", m))?;
        }
        if !matches!(
            self.antivirus.on_failure.as_str(),
            "tempfail" | "accept-and-tag"
        ) {
            return Err(err(
                "antivirus.on_failure",
                "must be \"tempfail\" or \"accept-and-tag\"",
            ));
        }
        if self.antivirus.timeout_secs == 0 {
            return Err(err("antivirus.timeout_secs", "must be at least 1"));
        }
        if self.accounts.password_history < 0 {
            return Err(err(
                "accounts.password_history",
                "must not be negative (0 = no reuse rule)",
            ));
        }
        if self.accounts.min_password_length < 8 {
            return Err(err("accounts.min_password_length", "must be at least 8"));
        }
        if self.accounts.default_quota_mb < 0 || self.accounts.unit_quota_mb < 0 {
            return Err(err(
                "accounts.default_quota_mb",
                "must not be negative (0 = unlimited)",
            ));
        }
        for (key, value) in [
            ("smtp.max_message_size", self.smtp.max_message_size),
            ("smtp.max_recipients", self.smtp.max_recipients),
            ("smtp.max_line_length", self.smtp.max_line_length),
            ("smtp.max_connections", self.smtp.max_connections),
            (
                "smtp.max_connections_per_ip",
                self.smtp.max_connections_per_ip,
            ),
            (
                "smtp.max_messages_per_connection",
                self.smtp.max_messages_per_connection,
            ),
            (
                "smtp.max_commands_before_mail",
                self.smtp.max_commands_before_mail,
            ),
            ("smtp.max_errors", self.smtp.max_errors),
        ] {
            if value == 0 {
                return Err(err(key, "must be at least 1"));
            }
        }
        for (key, value) in [
            ("imap.max_connections", self.imap.max_connections),
            (
                "imap.max_connections_per_ip",
                self.imap.max_connections_per_ip,
            ),
            ("imap.max_errors", self.imap.max_errors),
            ("imap.max_folders", self.imap.max_folders),
            ("imap.max_folder_depth", self.imap.max_folder_depth),
        ] {
            if value == 0 {
                return Err(err(key, "must be at least 1"));
            }
        }
        if self.imap.max_folder_name_bytes < 255 {
            return Err(err("imap.max_folder_name_bytes", "must be at least 255"));
        }
        if self.smtp.auth_window_secs == 0 {
            return Err(err("smtp.auth_window_secs", "must be at least 1"));
        }
        if self.smtp.auth_max_entries < 1000 {
            return Err(err("smtp.auth_max_entries", "must be at least 1000"));
        }
        for (key, value) in [
            ("smtp.auth_ip_ban_failures", self.smtp.auth_ip_ban_failures),
            ("smtp.auth_ip_ban_accounts", self.smtp.auth_ip_ban_accounts),
        ] {
            if value > 1000 {
                return Err(err(key, "must be at most 1000 (0 = never ban)"));
            }
        }
        if self.smtp.auth_max_failures > 0
            && self.smtp.auth_ip_ban_failures > 0
            && self.smtp.auth_ip_ban_failures <= self.smtp.auth_max_failures
        {
            return Err(err(
                "smtp.auth_ip_ban_failures",
                "must be above smtp.auth_max_failures: one person's typos must not ban their office",
            ));
        }
        if self.imap.max_line_length < 1000 {
            return Err(err("imap.max_line_length", "must be at least 1000"));
        }
        if self.imap.idle_timeout_secs < 60 {
            return Err(err(
                "imap.idle_timeout_secs",
                "must be at least 60 (RFC 9051 asks for 1800)",
            ));
        }
        if self.smtp.max_line_length < 1000 {
            return Err(err(
                "smtp.max_line_length",
                "must be at least 1000 (RFC 5321 4.5.3.1.6)",
            ));
        }
        if !(self.spam.tag_score <= self.spam.junk_score
            && self.spam.junk_score <= self.spam.reject_score)
        {
            return Err(err(
                "spam.junk_score",
                "need tag_score <= junk_score <= reject_score",
            ));
        }
        for (i, rule) in self.spam.rules.iter().enumerate() {
            if rule.target != "body" && !rule.target.starts_with("header:") {
                return Err(err(
                    &format!("spam.rules[{i}].target"),
                    "must be \"body\" or \"header:NAME\"",
                ));
            }
        }
        self.outbound_settings()?;
        self.retention
            .validate()
            .map_err(|(key, message)| err(&key, message))?;
        self.reports
            .validate()
            .map_err(|(key, message)| err(&key, message))?;
        smtp::outbound::forwarding::validate(&self.forwarding_policy())
            .map_err(|m| err("forwarding.allowed_domains", m))?;
        for (i, k) in self.dkim.keys.iter().enumerate() {
            smtp::outbound::dkim::dns_txt_for_file(&k.private_key)
                .map_err(|m| err(&format!("dkim.keys[{i}].private_key"), m))?;
        }
        for (i, addr) in self.dns.resolvers.iter().enumerate() {
            addr.parse::<SocketAddr>().map_err(|_| {
                err(
                    &format!("dns.resolvers[{i}]"),
                    format!("{addr:?} is not IP:PORT"),
                )
            })?;
        }
        Ok(())
    }
}

/// A directory that exists, or whose nearest existing ancestor is a directory we could create
/// it in.
fn check_creatable_dir(key: &str, dir: &Path) -> Result<(), ConfigError> {
    let mut probe = Some(dir);
    while let Some(path) = probe {
        if path.as_os_str().is_empty() {
            return Ok(());
        }
        if path.exists() {
            if !path.is_dir() {
                return Err(err(key, format!("{} is not a directory", path.display())));
            }
            let meta = std::fs::metadata(path)
                .map_err(|e| err(key, format!("{}: {e}", path.display())))?;
            if meta.permissions().readonly() {
                return Err(err(key, format!("{} is read-only", path.display())));
            }
            return Ok(());
        }
        probe = path.parent();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str, overrides: &[&str]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        Config::load(Some(&path), &overrides)
    }

    #[test]
    fn defaults_are_valid() {
        let config = Config::load(None, &[]).unwrap();
        assert_eq!(config.antivirus.on_failure, "tempfail");
    }

    #[test]
    fn each_mistake_names_its_key() {
        let table: &[(&str, &[&str], &str)] = &[
            ("[server]\nhostnam = \"x\"\n", &[], "server"),
            ("[listen]\nsmtp = [\"nonsense\"]\n", &[], "listen.smtp[0]"),
            ("[listen]\nsmtp = \"0.0.0.0:25\"\n", &[], "listen.smtp"),
            ("[storage]\nurl = \"mysql://x\"\n", &[], "storage.url"),
            (
                "[tls]\ncert = \"/nonexistent/cert.pem\"\nkey = \"/nonexistent/key.pem\"\n",
                &[],
                "tls.cert",
            ),
            (
                "[antivirus]\nclamd = \"tcp://nohost\"\n",
                &[],
                "antivirus.clamd",
            ),
            (
                "[antivirus]\non_failure = \"ignore\"\n",
                &[],
                "antivirus.on_failure",
            ),
            ("[smtp]\nmax_recipients = -1\n", &[], "smtp.max_recipients"),
            ("", &["smtp.max_recipients=0"], "smtp.max_recipients"),
            ("", &["imap.max_folders=0"], "imap.max_folders"),
            ("", &["imap.max_folder_depth=0"], "imap.max_folder_depth"),
            (
                "",
                &["imap.max_folder_name_bytes=100"],
                "imap.max_folder_name_bytes",
            ),
            ("", &["nosection"], "nosection"),
            ("[bogus]\nx = 1\n", &[], "bogus"),
            ("[server\n", &[], "c.toml:1"),
        ];
        for (text, overrides, key) in table {
            let e = load_text(text, overrides).expect_err(text);
            assert!(
                e.to_string().contains(key),
                "{text:?}: {e} should name {key}"
            );
            assert_eq!(e.to_string().lines().count(), 1, "{e}");
        }
    }

    #[test]
    fn overrides_win_and_parse_types() {
        let config = load_text(
            "[smtp]\nmax_recipients = 5\n",
            &[
                "smtp.max_recipients=7",
                "listen.smtp=[\"127.0.0.1:0\"]",
                "server.hostname=mx.test",
            ],
        )
        .unwrap();
        assert_eq!(config.smtp.max_recipients, 7);
        assert_eq!(config.listen.smtp, vec!["127.0.0.1:0".to_string()]);
        assert_eq!(config.server.hostname, "mx.test");
    }

    #[test]
    fn shipped_config_files_are_valid() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        for name in ["govmail.toml", "dev.toml"] {
            let path = root.join(name);
            // The annotated file points TLS at /etc/govmail; blank those for the check.
            Config::load(
                Some(&path),
                &[
                    "tls.cert=".into(),
                    "tls.key=".into(),
                    "server.data_dir=/tmp/govmail-config-test".into(),
                ],
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
