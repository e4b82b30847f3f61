//! Limits of the protocol sessions and of accounts: `[smtp]` (with the AUTH throttle shared by
//! SMTP, IMAP and the /password page), `[imap]`, `[mime]`, `[accounts]`.

use serde::Deserialize;

use super::Config;

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
    /// The password change page as people reach it, named in the "change your initial
    /// password" answers; empty: see [`Config::password_url`].
    pub password_url: String,
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

impl Default for Accounts {
    fn default() -> Self {
        Accounts {
            default_quota_mb: 2048,
            unit_quota_mb: 10240,
            min_password_length: 10,
            password_history: 5,
            login_cache_secs: 600,
            password_url: String::new(),
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

impl Config {
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
}
