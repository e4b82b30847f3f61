//! Where the server runs and keeps its data: `[server]`, `[storage]`, `[listen]`, `[tls]`.

use std::path::PathBuf;

use serde::Deserialize;

use super::Config;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    pub hostname: String,
    pub data_dir: PathBuf,
    /// "text" or "json".
    pub log_format: String,
    pub log_level: String,
    /// The IT centre's group (or account): postmaster@, abuse@ and dmarc@ of every hosted
    /// domain reach it unless an address of that name exists.
    pub admin_group: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Storage {
    /// Empty: `sqlite://<data_dir>/govmail.db`.
    pub url: String,
    /// "files" or "database"; empty: files for SQLite, database for PostgreSQL.
    pub blob_store: String,
    /// Read connections of the database pool; 0 = twice the cores (4 to 16) for SQLite, 16
    /// for PostgreSQL.
    pub max_connections: u32,
    /// Bodies up to this many bytes are kept in the database even with the files store.
    pub inline_blob_max: usize,
    /// Keep the full-text index SEARCH reads (on by default). Turned off, SEARCH reads every
    /// message; turned on again, `govmail index rebuild` indexes what arrived meanwhile.
    pub full_text_index: bool,
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
    /// ManageSieve (RFC 5804, STARTTLS).
    pub managesieve: Vec<String>,
    /// LDAP address book (RFC 4511, StartTLS).
    pub ldap: Vec<String>,
    /// LDAP over TLS from the first byte.
    pub ldaps: Vec<String>,
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

impl Default for Server {
    fn default() -> Self {
        Server {
            hostname: "localhost".into(),
            data_dir: PathBuf::from("./data"),
            log_format: "text".into(),
            log_level: "info".into(),
            admin_group: String::new(),
        }
    }
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            url: String::new(),
            blob_store: String::new(),
            max_connections: 0,
            inline_blob_max: 128 * 1024,
            full_text_index: true,
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
            managesieve: vec!["127.0.0.1:4190".into()],
            ldap: vec!["127.0.0.1:1389".into()],
            ldaps: vec!["127.0.0.1:1636".into()],
        }
    }
}

impl Config {
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
}
