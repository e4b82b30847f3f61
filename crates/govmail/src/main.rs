//! The govmail binary: CLI, configuration, wiring of the protocol crates, HTTP health/metrics.
//!
//! - [`config`]: the TOML file, `--set` overrides, validation.
//! - [`admin`]: the IT centre's commands (domain, unit, user, alias, ...).
//! - [`serve`]: starts the listeners and waits for shutdown.
//! - [`tls`]: certificate loading and self-signed generation.
//! - [`http`]: `/healthz`, `/readyz`, `/metrics`.
//! - [`import`]: `govmail import imap|maildir|mbox` from an old server.

mod addresses;
mod admin;
mod admin_queue;
mod config;
mod directory;
mod doctor;
mod http;
mod import;
mod ops;
mod output;
mod password_page;
mod serve;
mod spam;
mod staff;
mod text;
mod tls;
mod vacation;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use config::Config;

#[derive(Parser, Debug)]
#[command(
    name = "govmail",
    version,
    about = "The province mail system: SMTP, IMAP, directory, operations"
)]
pub struct Cli {
    /// Configuration file (TOML). Without it: $GOVMAIL_CONFIG, else /etc/govmail/govmail.toml.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// No file: built-in development defaults (./data, loopback ports) plus --set overrides.
    #[arg(long, global = true, conflicts_with = "config")]
    no_config: bool,
    /// Override a key: --set section.key=value (repeatable).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the mail server.
    Serve,
    /// Apply database migrations and exit.
    Migrate {
        /// List the pending migrations (version and name) without applying them.
        #[arg(long)]
        dry_run: bool,
    },
    /// Validate the configuration without starting anything.
    CheckConfig,
    /// Hosted mail domains.
    #[command(subcommand)]
    Domain(admin::DomainCmd),
    /// Administrative units and their official mailboxes.
    #[command(subcommand)]
    Unit(admin::UnitCmd),
    /// Civil servants' accounts.
    #[command(subcommand)]
    User(admin::UserCmd),
    /// Extra addresses for an account or group.
    #[command(subcommand)]
    Alias(admin::AliasCmd),
    /// Distribution groups (KT-10 "nơi nhận").
    #[command(subcommand)]
    Group(admin::GroupCmd),
    /// The outbound queue (mail to other organisations).
    #[command(subcommand)]
    Queue(admin_queue::QueueCmd),
    /// DKIM signing keys.
    #[command(subcommand)]
    Dkim(admin_queue::DkimCmd),
    /// DNS records to publish for a hosted domain (MX, SPF, DKIM, DMARC, SRV, autoconfig).
    Dns { domain: String },
    /// The electronic directory: bulk import and export (CSV).
    #[command(subcommand)]
    Directory(directory::DirectoryCmd),
    /// Compliance (KT-11) and usage (KT-12) reports: CSV, JSON or a self-contained HTML page.
    #[command(subcommand)]
    Report(ops::ReportCmd),
    /// Retention: expired Junk/Trash, mail of departed staff, unreferenced message bodies.
    #[command(subcommand)]
    Retention(ops::RetentionCmd),
    /// Remove a phishing or inappropriate mail from every mailbox (each removal audited).
    Purge(ops::PurgeArgs),
    /// Consistent online backup into a directory (incremental), or `backup verify DIR`.
    Backup(ops::BackupArgs),
    /// Restore a backup into an empty data directory (with the server stopped).
    Restore(ops::RestoreArgs),
    /// Export a person's or unit's mailbox as mbox or Maildir.
    Export(ops::ExportArgs),
    /// The full-text search index: `index rebuild [--account A] [--full]`.
    #[command(subcommand)]
    Index(ops::IndexCmd),
    /// Checks what the IT centre otherwise checks by hand (DNS records, certificate, clamd,
    /// disk, queue, backup, migrations) and says what to fix. Exit 0 ok, 1 warning, 2 failure.
    Doctor,
    /// Move mailboxes from an old server: IMAP (Dovecot, Zimbra, ...), Maildir or mbox.
    /// Resumable; ends with a per-folder verification report.
    #[command(subcommand)]
    Import(import::ImportCmd),
    /// The spam filter: explain a score, seed the classifier, score a directory, list rules.
    #[command(subcommand)]
    Spam(spam::SpamCmd),
    /// The audit log.
    Events {
        /// Only actions starting with this prefix, e.g. "user."
        #[arg(long, default_value = "")]
        action: String,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

/// Where the configuration comes from when `--config` is not given.
const DEFAULT_CONFIG: &str = "/etc/govmail/govmail.toml";

/// `--config`, else `$GOVMAIL_CONFIG`, else [`DEFAULT_CONFIG`] if it exists; `--no-config`: none.
/// Err: the one line to print when there is no configuration at all.
fn config_path(cli: &Cli) -> Result<Option<PathBuf>, String> {
    if cli.no_config {
        return Ok(None);
    }
    if let Some(path) = &cli.config {
        return Ok(Some(path.clone()));
    }
    if let Some(path) = std::env::var_os("GOVMAIL_CONFIG").filter(|p| !p.is_empty()) {
        return Ok(Some(PathBuf::from(path)));
    }
    let default = PathBuf::from(DEFAULT_CONFIG);
    if default.exists() {
        return Ok(Some(default));
    }
    Err(format!(
        "govmail: no configuration: give --config FILE, set GOVMAIL_CONFIG or create \
         {DEFAULT_CONFIG} (--no-config: built-in development defaults)"
    ))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let path = match config_path(&cli) {
        Ok(path) => path,
        Err(line) => {
            eprintln!("{line}");
            return ExitCode::from(2);
        }
    };
    let config = match Config::load(path.as_deref(), &cli.overrides) {
        Ok(config) => config,
        Err(e) => {
            if cli.json && matches!(cli.command, Command::CheckConfig) {
                let problems: Vec<_> =
                    e.0.iter()
                        .map(|p| serde_json::json!({"key": p.key, "message": p.message}))
                        .collect();
                crate::outln!("{}", serde_json::json!({"ok": false, "problems": problems}));
            }
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Command::CheckConfig = cli.command {
        if cli.json {
            crate::outln!("{}", serde_json::json!({"ok": true, "problems": []}));
        } else {
            crate::outln!("config ok");
        }
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve => serve::serve(config).await,
        Command::Migrate { dry_run: true } => {
            let store = open_store_with(&config, false).await?;
            let pending = store.pending_migrations().await?;
            let (database, known) = (store.schema_version().await?, store.known_schema_version());
            if cli.json {
                crate::outln!(
                    "{}",
                    serde_json::json!({"backend": store.backend_name(), "schema_version": database,
                                       "known_version": known, "pending": pending})
                );
            } else if pending.is_empty() {
                crate::outln!(
                    "no pending migrations ({}, schema version {database})",
                    store.backend_name()
                );
            } else {
                crate::outln!(
                    "{} pending migration(s) ({}, schema version {database} -> {known}):",
                    pending.len(),
                    store.backend_name()
                );
                for line in &pending {
                    crate::outln!("  {line}");
                }
            }
            Ok(())
        }
        Command::Migrate { dry_run: false } => {
            let store = open_store(&config).await?;
            store.migrate().await.context("applying migrations")?;
            if cli.json {
                crate::outln!(
                    "{}",
                    serde_json::json!({"ok": true, "backend": store.backend_name()})
                );
            } else {
                crate::outln!("migrations applied ({})", store.backend_name());
            }
            Ok(())
        }
        Command::CheckConfig => Ok(()),
        // Restore never opens (or creates) a database; verify needs none.
        Command::Restore(args) => {
            ops::restore(
                args,
                cli.json,
                &config.server.data_dir,
                &config.storage_url(),
            )
            .await
        }
        Command::Backup(args) if args.is_verify() => ops::backup_verify(args, cli.json).await,
        // Seen, not applied: the store is opened without migrating.
        Command::Doctor => {
            let store = open_store_with(&config, false).await?;
            let worst = doctor::doctor(&store, &config, cli.json).await?;
            store.close().await;
            if worst != doctor::Status::Ok {
                std::process::exit(worst.exit_code().into());
            }
            Ok(())
        }
        command => {
            let store = open_store(&config).await?;
            let out = output::Output {
                json: cli.json,
                offset: config.reports.local_offset(),
            };
            match command {
                Command::Domain(cmd) => admin::domain(&store, &config, &out, cmd).await,
                Command::Unit(cmd) => admin::unit(&store, &config, &out, cmd).await,
                Command::User(cmd) => admin::user(&store, &config, &out, cmd).await,
                Command::Alias(cmd) => admin::alias(&store, &out, cmd).await,
                Command::Group(cmd) => admin::group(&store, &out, cmd).await,
                Command::Directory(cmd) => directory::directory(&store, &config, &out, cmd).await,
                Command::Report(cmd) => ops::report(&store, &config.reports, cli.json, cmd).await,
                Command::Retention(cmd) => {
                    ops::retention(&store, &config.retention, &config.reports, cli.json, cmd).await
                }
                Command::Purge(args) => ops::purge(&store, &config.reports, cli.json, args).await,
                Command::Backup(args) => {
                    ops::backup(
                        &store,
                        &config.storage_url(),
                        &config.server.data_dir,
                        cli.json,
                        args,
                    )
                    .await
                }
                Command::Export(args) => ops::export(&store, cli.json, args).await,
                Command::Index(cmd) => ops::index(&store, cli.json, cmd).await,
                Command::Import(cmd) => import::import(&store, &config.import, cli.json, cmd).await,
                Command::Spam(cmd) => {
                    spam::spam(&store, &config.spam.to_policy(), cli.json, cmd).await
                }
                Command::Queue(cmd) => admin_queue::queue(&store, &out, cmd).await,
                Command::Dkim(cmd) => {
                    admin_queue::dkim(&store, &config.server.data_dir, &out, cmd).await
                }
                Command::Dns { domain } => {
                    let dkim = config.dkim_keys();
                    admin_queue::dns(
                        &store,
                        &out,
                        &admin_queue::DnsSettings::from_config(&config, &dkim),
                        &domain,
                    )
                    .await
                }
                Command::Events { action, limit } => {
                    admin::events(&store, &out, &action, limit).await
                }
                Command::Serve
                | Command::Migrate { .. }
                | Command::CheckConfig
                | Command::Restore(_)
                | Command::Doctor => {
                    unreachable!("handled above")
                }
            }
        }
    }
}

/// Opens the store the configuration names, applying migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<storage::Store> {
    open_store_with(config, true).await
}

/// [`open_store`]; `migrate`: apply pending migrations.
pub async fn open_store_with(config: &Config, migrate: bool) -> anyhow::Result<storage::Store> {
    let mut options =
        storage::StoreOptions::new(config.storage_url(), config.server.data_dir.clone());
    options.migrate = migrate;
    if !config.storage.blob_store.is_empty() {
        options.blob_store = Some(config.storage.blob_store.clone());
    }
    options.max_connections = config.storage.max_connections;
    options.inline_blob_max = config.storage.inline_blob_max;
    options.full_text_index = config.storage.full_text_index;
    options.utc_offset_secs = config.reports.offset_seconds();
    storage::Store::open(&options)
        .await
        .with_context(|| format!("opening storage {}", redact(&config.storage_url())))
}

/// Hides a password in a database URL for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
