//! The outbound queue, DKIM keys and DNS records for the IT centre (issue 6):
//! `govmail queue list|show|retry|delete`, `govmail dkim generate`, `govmail dns`.
//! Each works on the same database as a running server; changes go to the audit log.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Subcommand;
use serde::Serialize;
use smtp::outbound::{dkim as outbound_dkim, records, DkimKeyConfig};
use storage::{QueueEntry, Store};

use crate::output::Output;

#[derive(Subcommand, Debug)]
pub enum QueueCmd {
    /// Queue entries (one per recipient), oldest first.
    List {
        /// Only entries in this state.
        #[arg(long, value_parser = ["pending", "delivered", "failed"])]
        status: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// One entry in detail, with the message's From and Subject.
    Show { id: i64 },
    /// A pending entry is tried at once; a failed one is queued again with a fresh life.
    Retry {
        id: i64,
        /// Request or decision number for the audit log.
        #[arg(long = "ref", default_value = "")]
        doc_ref: String,
    },
    /// Removes an entry: nothing more is sent to that recipient, no notice goes out.
    Delete {
        id: i64,
        #[arg(long = "ref", default_value = "")]
        doc_ref: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum DkimCmd {
    /// Creates a signing key for DOMAIN, writes it (mode 0600) and prints the DNS record
    /// to publish and the configuration lines to add.
    Generate {
        domain: String,
        /// DNS selector; default "gm" + year and month, e.g. gm202611 (a new selector per
        /// key lets the old record stay published while mail signed with it is in transit).
        #[arg(long)]
        selector: Option<String>,
        /// rsa (2048 bits, understood everywhere) or ed25519 (RFC 8463; not all receivers
        /// verify it yet: publish an RSA key as well).
        #[arg(long, default_value = "rsa", value_parser = ["rsa", "ed25519"])]
        algorithm: String,
        /// Where to write the key; default <data_dir>/dkim/<domain>.<selector>.pem.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Overwrite an existing key file.
        #[arg(long)]
        force: bool,
    },
}

/// A time as `out` shows it (see `output`), or "-" when there is none.
fn when(out: &Output, at: Option<i64>) -> String {
    match at {
        Some(at) if at > 0 => out.time(at),
        _ => "-".into(),
    }
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// One entry as `queue show` prints it.
#[derive(Serialize)]
struct EntryView<'a> {
    #[serde(flatten)]
    entry: &'a QueueEntry,
    queued: String,
    next_attempt_at: String,
    last_attempt_at: String,
    lease_until_at: String,
    from: Option<String>,
    subject: Option<String>,
}

pub async fn queue(store: &Store, out: &Output, cmd: QueueCmd) -> anyhow::Result<()> {
    match cmd {
        QueueCmd::List { status, limit } => {
            let entries = store
                .queue_list(status.as_deref(), limit)
                .await
                .context("reading the queue")?;
            out.table(
                &[
                    "ID",
                    "STATUS",
                    "TRIES",
                    "NEXT",
                    "SENDER",
                    "RECIPIENT",
                    "LAST ERROR",
                ],
                &entries,
                |e| {
                    vec![
                        e.id.to_string(),
                        e.status.clone(),
                        e.attempts.to_string(),
                        if e.status == "pending" {
                            when(out, Some(e.next_attempt))
                        } else {
                            "-".into()
                        },
                        if e.sender.is_empty() {
                            "<>".into()
                        } else {
                            e.sender.clone()
                        },
                        e.recipient.clone(),
                        shorten(&e.last_error, 60),
                    ]
                },
            );
            Ok(())
        }
        QueueCmd::Show { id } => {
            let entry = store
                .queue_entry(id)
                .await
                .with_context(|| format!("queue entry {id}"))?;
            let (from, subject) = match store.read_blob(&entry.blob_id).await {
                Ok(raw) => {
                    let meta = storage::MessageMeta::compute(&raw);
                    let from = meta
                        .envelope
                        .from
                        .iter()
                        .filter_map(|a| a.address.clone())
                        .next();
                    (from, meta.envelope.subject)
                }
                Err(e) => {
                    // A queued entry whose body is gone is a fault worth seeing.
                    eprintln!("warning: the queued message body is unreadable: {e}");
                    (None, None)
                }
            };
            out.record(&EntryView {
                queued: when(out, Some(entry.queued_at)),
                next_attempt_at: if entry.status == "pending" {
                    when(out, Some(entry.next_attempt))
                } else {
                    "-".into()
                },
                last_attempt_at: when(out, entry.last_attempt),
                lease_until_at: when(out, entry.lease_until),
                from,
                subject,
                entry: &entry,
            });
            Ok(())
        }
        QueueCmd::Retry { id, doc_ref } => {
            let before = store
                .queue_entry(id)
                .await
                .with_context(|| format!("queue entry {id}"))?;
            let after = store
                .queue_retry(id)
                .await
                .with_context(|| format!("queue entry {id}"))?;
            store
                .log_event(
                    "cli",
                    storage::Action::QueueRetry,
                    &after.recipient,
                    &doc_ref,
                    serde_json::json!({"queue_id": id, "was": before.status, "sender": after.sender}),
                )
                .await?;
            out.done(&format!(
                "queue entry {id} ({}) will be tried at once{}",
                after.recipient,
                if before.status == "failed" {
                    " (queued again)"
                } else {
                    ""
                }
            ));
            Ok(())
        }
        QueueCmd::Delete { id, doc_ref } => {
            let entry = store
                .queue_entry(id)
                .await
                .with_context(|| format!("queue entry {id}"))?;
            store
                .queue_delete(id)
                .await
                .with_context(|| format!("queue entry {id}"))?;
            store
                .log_event(
                    "cli",
                    storage::Action::QueueDelete,
                    &entry.recipient,
                    &doc_ref,
                    serde_json::json!({"queue_id": id, "status": entry.status, "sender": entry.sender}),
                )
                .await?;
            out.done(&format!("queue entry {id} ({}) deleted", entry.recipient));
            Ok(())
        }
    }
}

fn normalize_domain(domain: &str) -> anyhow::Result<String> {
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    if domain.is_empty()
        || !domain.contains('.')
        || !domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        bail!("{domain:?} is not a domain name (use the ASCII/IDNA form)");
    }
    Ok(domain)
}

fn default_selector() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!("gm{:04}{:02}", now.year(), u8::from(now.month()))
}

/// Writes `pem` to `path` readable by the owner only, refusing to replace a file unless
/// `force`.
fn write_private(path: &Path, pem: &str, force: bool) -> anyhow::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "{} exists: choose another --selector, or --force to replace it",
                path.display()
            )
        } else {
            anyhow::anyhow!("writing {}: {e}", path.display())
        }
    })?;
    file.write_all(pem.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

#[derive(Serialize)]
struct Generated {
    domain: String,
    selector: String,
    algorithm: String,
    private_key: String,
    dns_name: String,
    dns_txt: String,
}

/// `govmail dkim generate`. `data_dir` is `server.data_dir`.
pub async fn dkim(
    store: &Store,
    data_dir: &Path,
    out: &Output,
    cmd: DkimCmd,
) -> anyhow::Result<()> {
    match cmd {
        DkimCmd::Generate {
            domain,
            selector,
            algorithm,
            out: path,
            force,
        } => {
            let domain = normalize_domain(&domain)?;
            let selector = selector.unwrap_or_else(default_selector);
            if selector.is_empty()
                || !selector
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            {
                bail!("--selector {selector:?}: letters, digits, '-' and '.' only");
            }
            warn_unless_hosted(store, &domain).await?;
            let key = match algorithm.as_str() {
                "ed25519" => rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519),
                _ => rcgen::KeyPair::generate_rsa_for(
                    &rcgen::PKCS_RSA_SHA256,
                    rcgen::RsaKeySize::_2048,
                ),
            }
            .context("generating the key")?;
            let path = path.unwrap_or_else(|| {
                data_dir
                    .join("dkim")
                    .join(format!("{domain}.{selector}.pem"))
            });
            write_private(&path, &key.serialize_pem(), force)?;
            // Read back through the signer's own loader: what is printed is what will sign.
            let txt = outbound_dkim::dns_txt_for_file(&path).map_err(anyhow::Error::msg)?;
            let dns_name = format!("{selector}._domainkey.{domain}.");
            store
                .log_event(
                    "cli",
                    storage::Action::DkimGenerate,
                    &domain,
                    "",
                    serde_json::json!({"selector": selector, "algorithm": algorithm,
                        "private_key": path.display().to_string()}),
                )
                .await?;
            let generated = Generated {
                domain: domain.clone(),
                selector: selector.clone(),
                algorithm: algorithm.clone(),
                private_key: path.display().to_string(),
                dns_name: dns_name.clone(),
                dns_txt: txt.clone(),
            };
            if out.json {
                out.record(&generated);
                return Ok(());
            }
            let record = records::zone_text(&[records::DnsRecord {
                name: dns_name,
                kind: "TXT",
                value: txt,
                comment: format!("DKIM key {selector} for {domain}"),
            }]);
            crate::outln!(
                "DKIM key ({}) written to {}\n",
                if algorithm == "ed25519" {
                    "Ed25519"
                } else {
                    "RSA 2048"
                },
                path.display()
            );
            crate::outln!("1. Publish this DNS record:\n\n{record}");
            crate::outln!(
                "2. Add to the configuration, then restart govmail:\n\n\
                 [[dkim.keys]]\n\
                 domain = \"{domain}\"\n\
                 selector = \"{selector}\"\n\
                 private_key = \"{}\"\n",
                path.display()
            );
            crate::outln!(
                "Check the record first (e.g. `dig +short TXT {selector}._domainkey.{domain}`): \
                 mail signed before it is visible fails DKIM at the receivers."
            );
            Ok(())
        }
    }
}

/// What `govmail dns` needs from the configuration.
pub struct DnsSettings<'a> {
    /// `server.hostname`: the MX target and the clients' server name.
    pub hostname: &'a str,
    /// `[[dkim.keys]]`.
    pub dkim: &'a [DkimKeyConfig],
    /// Public ports clients reach (`[autoconfig]`; None = the service does not listen).
    pub submission: Option<u16>,
    pub submissions: Option<u16>,
    pub imap: Option<u16>,
    pub imaps: Option<u16>,
}

impl<'a> DnsSettings<'a> {
    /// From the configuration; `dkim` is `config.dkim_keys()`.
    pub fn from_config(
        config: &'a crate::config::Config,
        dkim: &'a [DkimKeyConfig],
    ) -> DnsSettings<'a> {
        DnsSettings {
            hostname: &config.server.hostname,
            dkim,
            // RFC 6186 3: the ports clients connect to, i.e. the public ones
            // (`[autoconfig]`), for each service that listens at all.
            submission: public_port(&config.listen.submission, config.autoconfig.submission_port),
            submissions: public_port(&config.listen.submissions, config.autoconfig.smtp_port),
            imap: public_port(&config.listen.imap, config.autoconfig.imap_starttls_port),
            imaps: public_port(&config.listen.imaps, config.autoconfig.imap_port),
        }
    }
}

/// The records `govmail dns DOMAIN` asks to publish (what `govmail doctor` looks up).
pub fn expected_records(
    settings: &DnsSettings<'_>,
    domain: &str,
) -> anyhow::Result<Vec<records::DnsRecord>> {
    let domain = normalize_domain(domain)?;
    let mut input = records::RecordsInput::new(&domain, settings.hostname);
    input.submission_port = settings.submission;
    input.submissions_port = settings.submissions;
    input.imap_port = settings.imap;
    input.imaps_port = settings.imaps;
    if let Some(key) = settings.dkim.iter().find(|k| {
        k.domain
            .trim()
            .trim_end_matches('.')
            .eq_ignore_ascii_case(&domain)
    }) {
        let txt = outbound_dkim::dns_txt_for_file(&key.private_key)
            .map_err(|e| anyhow::anyhow!("dkim key for {domain}: {e}"))?;
        input.dkim = Some((key.selector.clone(), txt));
    }
    Ok(records::records(&input))
}

/// The public port of a service when its `listen.*` list is not empty (behind NAT or a
/// port forward the listen port is not what clients reach).
pub fn public_port(listen: &[String], public: u16) -> Option<u16> {
    (!listen.is_empty()).then_some(public)
}

/// `govmail dns DOMAIN`: the records to publish, as zone-file lines.
pub async fn dns(
    store: &Store,
    out: &Output,
    settings: &DnsSettings<'_>,
    domain: &str,
) -> anyhow::Result<()> {
    let domain = normalize_domain(domain)?;
    warn_unless_hosted(store, &domain).await?;
    let list = expected_records(settings, &domain)?;
    if out.json {
        #[derive(Serialize)]
        struct Row<'a> {
            name: &'a str,
            kind: &'a str,
            value: &'a str,
            comment: &'a str,
        }
        let rows: Vec<Row> = list
            .iter()
            .map(|r| Row {
                name: &r.name,
                kind: r.kind,
                value: &r.value,
                comment: &r.comment,
            })
            .collect();
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&rows).expect("serialisable")
        );
        return Ok(());
    }
    crate::outln!(
        "; DNS records for {domain} (served by {})",
        settings.hostname
    );
    crate::outln!(
        "; Also: the reverse DNS (PTR) of this server's public IP must name {}.\n",
        settings.hostname
    );
    crate::out!("{}", records::zone_text(&list));
    Ok(())
}

/// Warns when `domain` is not hosted here; a database error is an error, not "not hosted".
async fn warn_unless_hosted(store: &Store, domain: &str) -> anyhow::Result<()> {
    if !store.is_local_domain(domain).await? {
        eprintln!("warning: {domain} is not a hosted domain (govmail domain add {domain})");
    }
    Ok(())
}
