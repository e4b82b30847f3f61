//! Checks of the whole configuration before anything starts: every problem is one line that
//! names its key.

use std::net::SocketAddr;
use std::path::Path;

use super::{err, Config, ConfigError};

impl Config {
    /// Every check, in order; every problem found, one per key.
    pub(super) fn validate(&self) -> Vec<ConfigError> {
        let mut problems = Vec::new();
        self.check_all(&mut problems);
        problems
    }

    fn check_all(&self, problems: &mut Vec<ConfigError>) {
        if self.server.hostname.trim().is_empty()
            || self.server.hostname.contains(char::is_whitespace)
        {
            problems.push(err(
                "server.hostname",
                "must be a host name, e.g. mail.kontum.gov.vn",
            ));
        }
        let password_url = self.accounts.password_url.trim();
        if !password_url.is_empty()
            && (!password_url.starts_with("https://") || password_url.contains(char::is_whitespace))
        {
            problems.push(err(
                "accounts.password_url",
                format!("{password_url:?}: the page is served over TLS only, e.g. https://mail.kontum.gov.vn/password"),
            ));
        }
        let admin_group = self.server.admin_group.trim();
        if !admin_group.is_empty() && policy::mailflow::parse_mailbox(admin_group).is_err() {
            problems.push(err(
                "server.admin_group",
                format!("{admin_group:?} is not an address, e.g. quantri@kontum.gov.vn"),
            ));
        }
        if !matches!(self.server.log_format.as_str(), "text" | "json") {
            problems.push(err("server.log_format", "must be \"text\" or \"json\""));
        }
        note(
            problems,
            check_creatable_dir("server.data_dir", &self.server.data_dir),
        );
        note(problems, self.validate_sieve());
        note(problems, self.validate_ldap());
        if !(1..=storage::meta::HARD_MAX_DEPTH).contains(&self.mime.max_depth) {
            problems.push(err(
                "mime.max_depth",
                format!("must be 1..={}", storage::meta::HARD_MAX_DEPTH),
            ));
        }
        if self.mime.max_parts == 0 || self.mime.max_addresses == 0 {
            problems.push(err("mime.max_parts", "mime limits must be above 0"));
        }
        let url = self.storage_url();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            problems.push(err(
                "storage.url",
                format!("{url:?}: use sqlite://PATH or postgres://USER:PASS@HOST:PORT/DB"),
            ));
        }
        if let Some(path) = storage::sqlite_path(&url) {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                note(problems, check_creatable_dir("storage.url", parent));
            }
        }
        if !matches!(self.storage.blob_store.as_str(), "" | "files" | "database") {
            problems.push(err(
                "storage.blob_store",
                "must be \"files\" or \"database\"",
            ));
        }
        for (key, list) in [
            ("listen.smtp", &self.listen.smtp),
            ("listen.submission", &self.listen.submission),
            ("listen.submissions", &self.listen.submissions),
            ("listen.imap", &self.listen.imap),
            ("listen.imaps", &self.listen.imaps),
            ("listen.http", &self.listen.http),
            ("listen.https", &self.listen.https),
            ("listen.managesieve", &self.listen.managesieve),
            ("listen.ldap", &self.listen.ldap),
            ("listen.ldaps", &self.listen.ldaps),
        ] {
            for (i, addr) in list.iter().enumerate() {
                if addr.parse::<SocketAddr>().is_err() {
                    problems.push(err(
                        &format!("{key}[{i}]"),
                        format!("{addr:?} is not IP:PORT"),
                    ));
                }
            }
        }
        match (self.tls.cert.is_empty(), self.tls.key.is_empty()) {
            (true, true) => {}
            (false, false) => {
                for (key, path) in [("tls.cert", &self.tls.cert), ("tls.key", &self.tls.key)] {
                    if !Path::new(path).is_file() {
                        problems.push(err(key, format!("{path}: no such file")));
                    }
                }
            }
            (true, false) => {
                problems.push(err("tls.cert", "set both tls.cert and tls.key, or neither"))
            }
            (false, true) => {
                problems.push(err("tls.key", "set both tls.cert and tls.key, or neither"))
            }
        }
        if self.antivirus.enabled {
            if let Err(m) = policy::antivirus::ClamdAddress::parse(&self.antivirus.clamd) {
                problems.push(err("antivirus.clamd", m));
            }
        }
        if !matches!(
            self.antivirus.on_failure.as_str(),
            "tempfail" | "accept-and-tag"
        ) {
            problems.push(err(
                "antivirus.on_failure",
                "must be \"tempfail\" or \"accept-and-tag\"",
            ));
        }
        if self.antivirus.timeout_secs == 0 {
            problems.push(err("antivirus.timeout_secs", "must be at least 1"));
        }
        for (key, message) in self.attachments.problems() {
            problems.push(err(key, message));
        }
        if self.accounts.password_history < 0 {
            problems.push(err(
                "accounts.password_history",
                "must not be negative (0 = no reuse rule)",
            ));
        }
        if self.accounts.min_password_length < 8 {
            problems.push(err("accounts.min_password_length", "must be at least 8"));
        }
        if self.accounts.default_quota_mb < 0 || self.accounts.unit_quota_mb < 0 {
            problems.push(err(
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
                problems.push(err(key, "must be at least 1"));
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
                problems.push(err(key, "must be at least 1"));
            }
        }
        if self.imap.max_folder_name_bytes < 255 {
            problems.push(err("imap.max_folder_name_bytes", "must be at least 255"));
        }
        if self.smtp.auth_window_secs == 0 {
            problems.push(err("smtp.auth_window_secs", "must be at least 1"));
        }
        if self.smtp.auth_max_entries < 1000 {
            problems.push(err("smtp.auth_max_entries", "must be at least 1000"));
        }
        for (key, value) in [
            ("smtp.auth_ip_ban_failures", self.smtp.auth_ip_ban_failures),
            ("smtp.auth_ip_ban_accounts", self.smtp.auth_ip_ban_accounts),
        ] {
            if value > 1000 {
                problems.push(err(key, "must be at most 1000 (0 = never ban)"));
            }
        }
        if self.smtp.auth_max_failures > 0
            && self.smtp.auth_ip_ban_failures > 0
            && self.smtp.auth_ip_ban_failures <= self.smtp.auth_max_failures
        {
            problems.push(err(
                "smtp.auth_ip_ban_failures",
                "must be above smtp.auth_max_failures: one person's typos must not ban their office",
            ));
        }
        if self.imap.max_line_length < 1000 {
            problems.push(err("imap.max_line_length", "must be at least 1000"));
        }
        if self.imap.idle_timeout_secs < 60 {
            problems.push(err(
                "imap.idle_timeout_secs",
                "must be at least 60 (RFC 9051 asks for 1800)",
            ));
        }
        if self.smtp.max_line_length < 1000 {
            problems.push(err(
                "smtp.max_line_length",
                "must be at least 1000 (RFC 5321 4.5.3.1.6)",
            ));
        }
        if !(self.spam.tag_score <= self.spam.junk_score
            && self.spam.junk_score <= self.spam.reject_score)
        {
            problems.push(err(
                "spam.junk_score",
                "need tag_score <= junk_score <= reject_score",
            ));
        }
        for (i, rule) in self.spam.rules.iter().enumerate() {
            if rule.target != "body" && !rule.target.starts_with("header:") {
                problems.push(err(
                    &format!("spam.rules[{i}].target"),
                    "must be \"body\" or \"header:NAME\"",
                ));
            }
        }
        for name in self.spam.scores.keys() {
            if !policy::spam::BUILTIN.iter().any(|(n, _, _)| n == name) {
                problems.push(err(
                    &format!("spam.scores.{name}"),
                    "not a built-in rule (see `govmail spam rules`)",
                ));
            }
        }
        for (list, zones) in [("dnsbl", &self.spam.dnsbl), ("uribl", &self.spam.uribl)] {
            for (i, zone) in zones.iter().enumerate() {
                let name_ok = !zone.name.is_empty()
                    && zone
                        .name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !name_ok {
                    problems.push(err(
                        &format!("spam.{list}[{i}].name"),
                        "letters, digits and _ only",
                    ));
                }
                if !zone.zone.contains('.') {
                    problems.push(err(&format!("spam.{list}[{i}].zone"), "a DNS zone"));
                }
            }
        }
        note(problems, self.outbound_settings().map(|_| ()));
        if let Err((key, message)) = self.retention.validate() {
            problems.push(err(&key, message));
        }
        if let Err((key, message)) = self.reports.validate() {
            problems.push(err(&key, message));
        }
        if let Err(m) = smtp::outbound::forwarding::validate(&self.forwarding_policy()) {
            problems.push(err("forwarding.allowed_domains", m));
        }
        for (i, k) in self.dkim.keys.iter().enumerate() {
            if let Err(m) = smtp::outbound::dkim::dns_txt_for_file(&k.private_key) {
                problems.push(err(&format!("dkim.keys[{i}].private_key"), m));
            }
        }
        if !(1..=60).contains(&self.dns.auth_deadline_secs) {
            problems.push(err("dns.auth_deadline_secs", "must be 1..=60"));
        }
        for (i, addr) in self.dns.resolvers.iter().enumerate() {
            if addr.parse::<SocketAddr>().is_err() {
                problems.push(err(
                    &format!("dns.resolvers[{i}]"),
                    format!("{addr:?} is not IP:PORT"),
                ));
            }
        }
    }
}

/// Keeps the problem of one check that stops at its first.
fn note(problems: &mut Vec<ConfigError>, result: Result<(), ConfigError>) {
    if let Err(e) = result {
        problems.push(e);
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
