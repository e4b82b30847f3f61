//! Outbound delivery to the Internet (issue 6, KT-1).
//!
//! Submitted mail for external recipients is committed into the durable queue
//! (`storage::queue`) in the same transaction as the local copies. A [`Worker`] claims due
//! recipients with a lease, delivers them and writes the outcome:
//!
//! - [`resolve`]: MX lookup through the configured resolvers, fallback to A/AAAA when the
//!   domain has no MX (RFC 5321 5.1), null MX (RFC 7505) = immediate failure.
//! - [`client`]: our SMTP client: hosts in preference order, EHLO, STARTTLS whenever offered
//!   (certificate problems logged; per-domain "required" = TLS with a verified certificate or
//!   no delivery), PIPELINING, SIZE, 8BITMIME, SMTPUTF8, DSN parameters passed on.
//! - [`dkim`]: DKIM signing (mail-auth) with the key of the From: domain.
//! - [`dsn`]: RFC 3464 delivery status notifications with a Vietnamese and English text,
//!   delivered to the sender's INBOX.
//! - [`forwarding`]: the automatic forwarding policy (BD-11, KT-9).
//! - [`records`]: the DNS records a hosted domain should publish.
//!
//! Invariants:
//! - An entry is delivered by at most one worker at a time: the lease is taken in one
//!   statement (`FOR UPDATE SKIP LOCKED` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite) and
//!   renewed by a heartbeat while the worker runs. A worker that dies stops renewing; its
//!   leases expire and another worker (or the restarted one) delivers: at-least-once, never
//!   lost.
//! - Results are written only while the lease is still ours.
//! - A failure notice is stored before the entry is marked failed (a crash in between may
//!   repeat a notice, never lose one).

pub mod client;
pub mod dkim;
pub mod dsn;
pub mod forwarding;
pub mod records;
pub mod resolve;
mod tls;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use storage::queue::{QueueOutcome, QueueUpdate};
use storage::{QueueEntry, Store};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use client::{Envelope, RcptResult, RcptSpec};
use dsn::{DsnAction, DsnRecipient};

/// One DKIM key: mail whose From: domain is `domain` (or a subdomain of it) is signed with
/// `d=domain; s=selector`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimKeyConfig {
    pub domain: String,
    pub selector: String,
    /// PEM file: PKCS#8 RSA or Ed25519, or PKCS#1 RSA (`govmail dkim generate` writes one).
    pub private_key: PathBuf,
}

/// Every knob of outbound delivery. The binary fills it from `[outbound]` and `[dkim]`.
#[derive(Debug, Clone)]
pub struct OutboundSettings {
    /// EHLO name, Reporting-MTA of notices, MAILER-DAEMON@hostname.
    pub hostname: String,
    /// DNS resolvers (`IP:port`); empty = the system's resolv.conf.
    pub resolvers: Vec<SocketAddr>,
    /// Port of the receiving MX hosts: 25. Tests point it at their own receiver.
    pub port: u16,
    /// Waits after the 1st, 2nd, ... temporary failure; the last one repeats.
    pub retry_schedule: Vec<Duration>,
    /// A recipient still undelivered after this long fails (notice, status 5.4.7).
    pub max_age: Duration,
    /// Send a delay notice once an entry has waited this long...
    pub delay_notify_after: Duration,
    /// ...also when the sender gave no DSN NOTIFY (NOTIFY=DELAY always asks for it,
    /// NOTIFY=NEVER or a NOTIFY without DELAY never gets it).
    pub delay_notify_default: bool,
    /// Deliveries (SMTP connections) at once on this node.
    pub concurrency: usize,
    /// Deliveries at once to one destination domain, on this node.
    pub concurrency_per_domain: usize,
    /// Destination domains that get mail only over TLS with a verified certificate
    /// (`tls.outbound = "required"`); `*` = all. Others use STARTTLS when offered.
    pub tls_required_domains: Vec<String>,
    /// PEM bundle of trusted CAs for verifying MX certificates.
    pub tls_ca_file: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// Per SMTP command (RFC 5321 4.5.3.2 asks for minutes).
    pub command_timeout: Duration,
    /// For the reply after the message data (RFC 5321: 10 minutes).
    pub data_timeout: Duration,
    /// How long a claimed entry stays ours without renewal (renewed every third of it).
    pub lease: Duration,
    /// How often the queue is polled for due entries.
    pub poll_interval: Duration,
    /// Most recipients in one SMTP transaction.
    pub max_recipients_per_transaction: usize,
    /// Finished queue entries are kept this long for `govmail queue list`.
    pub keep_done: Duration,
    pub dkim: Vec<DkimKeyConfig>,
}

impl OutboundSettings {
    /// Production defaults.
    pub fn new(hostname: &str) -> OutboundSettings {
        OutboundSettings {
            hostname: hostname.to_string(),
            resolvers: vec![],
            port: 25,
            retry_schedule: default_retry_schedule(),
            max_age: Duration::from_secs(5 * 24 * 3600),
            delay_notify_after: Duration::from_secs(4 * 3600),
            delay_notify_default: true,
            concurrency: 32,
            concurrency_per_domain: 4,
            tls_required_domains: vec![],
            tls_ca_file: Some(PathBuf::from("/etc/ssl/certs/ca-certificates.crt")),
            connect_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(600),
            lease: Duration::from_secs(300),
            poll_interval: Duration::from_secs(5),
            max_recipients_per_transaction: 100,
            keep_done: Duration::from_secs(7 * 24 * 3600),
            dkim: vec![],
        }
    }

    /// Whether mail to `domain` must go over verified TLS.
    pub fn tls_required(&self, domain: &str) -> bool {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        self.tls_required_domains.iter().any(|d| {
            let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
            d == "*" || d == domain
        })
    }

    /// The wait after the `failures`-th temporary failure (1-based).
    pub fn retry_delay(&self, failures: i64) -> Duration {
        let schedule = if self.retry_schedule.is_empty() {
            default_retry_schedule()
        } else {
            self.retry_schedule.clone()
        };
        let index = (failures.max(1) as usize - 1).min(schedule.len() - 1);
        schedule[index]
    }
}

/// 5m, 15m, 30m, 1h, 2h, then every 4h.
pub fn default_retry_schedule() -> Vec<Duration> {
    [5 * 60, 15 * 60, 30 * 60, 3600, 2 * 3600, 4 * 3600]
        .into_iter()
        .map(Duration::from_secs)
        .collect()
}

/// Parses `90`, `90s`, `5m`, `1h`, `5d` (seconds when there is no unit).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&text[..i], text[i..].trim()),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30s, 5m, 4h or 5d"))?;
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("{text:?}: unit must be s, m, h or d")),
    };
    Ok(Duration::from_secs(n * factor))
}

/// Why a worker cannot start.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("dkim: {0}")]
    Dkim(String),
    #[error("dns.resolvers: {0}")]
    Resolver(String),
    #[error("outbound.tls_ca_file: {0}")]
    Tls(String),
    #[error("outbound: {0}")]
    Settings(String),
}

struct Inner {
    settings: OutboundSettings,
    store: Store,
    resolver: resolve::MxResolver,
    signers: dkim::Signers,
    tls: tls::Connectors,
    owner: String,
    per_domain: Mutex<HashMap<String, Arc<Semaphore>>>,
    inflight: Mutex<Inflight>,
    wake: Arc<tokio::sync::Notify>,
}

/// What this worker holds right now: the entries it renews leases for, and how many groups
/// per destination domain are running or waiting (domains at the limit are not claimed).
#[derive(Default)]
struct Inflight {
    ids: HashSet<i64>,
    groups_per_domain: HashMap<String, usize>,
}

/// Keeps a claimed group in [`Inflight`] until its task ends (or is dropped).
struct InflightGuard {
    inner: Arc<Inner>,
    ids: Vec<i64>,
    domain: String,
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        let mut inflight = self
            .inner
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for id in &self.ids {
            inflight.ids.remove(id);
        }
        if let Some(n) = inflight.groups_per_domain.get_mut(&self.domain) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                inflight.groups_per_domain.remove(&self.domain);
            }
        }
    }
}

/// The delivery worker of one node. Several workers (processes, nodes) may share a database.
#[derive(Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

/// A running worker: stop it cleanly with [`WorkerHandle::shutdown`] (dropping the handle
/// stops it too, without waiting).
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl WorkerHandle {
    /// Stops claiming and waits up to `grace` while deliveries in progress finish (the loop
    /// itself gives them at most [`SHUTDOWN_GRACE`]) and unfinished leases are given back.
    /// Past `grace` the worker is aborted: its leases then expire on their own.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            task.abort();
        }
    }

    /// Kills the worker without any cleanup (its leases stay until they expire), like a crash.
    pub fn abort(self) {
        self.task.abort();
    }
}

/// How long a stopping worker lets deliveries in progress finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

fn unique_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("{:016x}", hasher.finish())
}

impl Worker {
    /// Loads the DKIM keys, the trust anchors and the resolver. Errors name the setting.
    pub fn new(settings: OutboundSettings, store: Store) -> Result<Worker, OutboundError> {
        if settings.concurrency == 0 || settings.concurrency_per_domain == 0 {
            return Err(OutboundError::Settings(
                "concurrency and concurrency_per_domain must be at least 1".into(),
            ));
        }
        let signers = dkim::Signers::load(&settings.dkim).map_err(OutboundError::Dkim)?;
        let resolver = resolve::MxResolver::new(&settings.resolvers)
            .map_err(|e| OutboundError::Resolver(e.to_string()))?;
        let tls =
            tls::Connectors::new(settings.tls_ca_file.as_deref()).map_err(OutboundError::Tls)?;
        let owner = format!(
            "{}:{}:{}",
            settings.hostname,
            std::process::id(),
            unique_suffix()
        );
        Ok(Worker {
            inner: Arc::new(Inner {
                settings,
                store,
                resolver,
                signers,
                tls,
                owner,
                per_domain: Mutex::default(),
                inflight: Mutex::default(),
                wake: Arc::default(),
            }),
        })
    }

    /// This worker's lease owner name (`hostname:pid:random`).
    pub fn owner(&self) -> &str {
        &self.inner.owner
    }

    /// Wakes the loop before its next poll (call `notify_one()` after queueing mail, so
    /// submitted mail leaves at once instead of up to `poll_interval` later).
    pub fn waker(&self) -> Arc<tokio::sync::Notify> {
        self.inner.wake.clone()
    }

    /// Runs the worker loop in a task.
    pub fn spawn(self) -> WorkerHandle {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(self.run(stopped));
        WorkerHandle { stop, task }
    }

    /// The worker loop: claim due entries, deliver them (bounded concurrency), renew leases,
    /// purge old finished entries; until `shutdown` turns true or its sender is dropped.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let settings = &self.inner.settings;
        let mut tasks: JoinSet<()> = JoinSet::new();
        let mut poll = tokio::time::interval(settings.poll_interval.max(Duration::from_millis(50)));
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heartbeat =
            tokio::time::interval((settings.lease / 3).max(Duration::from_millis(200)));
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_purge = 0i64;
        tracing::info!(owner = %self.inner.owner, "outbound worker started");
        loop {
            if *shutdown.borrow() {
                break;
            }
            while tasks.try_join_next().is_some() {}
            let free = settings.concurrency.saturating_sub(tasks.len());
            let mut claimed_any = false;
            if free > 0 {
                match self.claim(free).await {
                    Ok(groups) => {
                        claimed_any = !groups.is_empty();
                        for (group, guard) in groups {
                            let worker = self.clone();
                            tasks.spawn(async move {
                                worker.process_group(group).await;
                                drop(guard);
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "outbound: claiming queue entries failed"),
                }
            }
            let at = storage::now();
            if at - last_purge >= 3600 {
                last_purge = at;
                let before = at - settings.keep_done.as_secs() as i64;
                match self.inner.store.queue_purge(before).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(n, "outbound: purged finished queue entries"),
                    Err(e) => tracing::warn!(error = %e, "outbound: purge failed"),
                }
            }
            if claimed_any && tasks.len() < settings.concurrency {
                // More may be due right away.
                continue;
            }
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        // The sender is gone (handle dropped): stop as if asked to.
                        break;
                    }
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = poll.tick() => {}
                _ = self.inner.wake.notified() => {}
                _ = heartbeat.tick() => self.renew().await,
            }
        }
        // Clean stop: let deliveries in progress finish for a while, then give back leases.
        let grace = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(SHUTDOWN_GRACE, grace).await.is_err() {
            tasks.abort_all();
        }
        if let Err(e) = self.inner.store.queue_release(&self.inner.owner).await {
            tracing::warn!(error = %e, "outbound: releasing leases failed");
        }
        tracing::info!(owner = %self.inner.owner, "outbound worker stopped");
    }

    /// Claims every entry due now and delivers it; returns how many entries were handled.
    /// For tests and one-shot runs; the loop in [`Worker::run`] is the normal way.
    pub async fn run_once(&self) -> usize {
        let mut handled = 0;
        loop {
            let groups = match self.claim(self.inner.settings.concurrency).await {
                Ok(groups) => groups,
                Err(e) => {
                    tracing::warn!(error = %e, "outbound: claiming queue entries failed");
                    return handled;
                }
            };
            if groups.is_empty() {
                return handled;
            }
            let mut tasks = JoinSet::new();
            for (group, guard) in groups {
                handled += group.len();
                let worker = self.clone();
                tasks.spawn(async move {
                    worker.process_group(group).await;
                    drop(guard);
                });
            }
            while tasks.join_next().await.is_some() {}
        }
    }

    async fn renew(&self) {
        let until = storage::now() + self.inner.settings.lease.as_secs().max(1) as i64;
        let ids: Vec<i64> = {
            let inflight = self
                .inner
                .inflight
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            inflight.ids.iter().copied().collect()
        };
        if let Err(e) = self
            .inner
            .store
            .queue_renew_leases(&self.inner.owner, &ids, until)
            .await
        {
            tracing::warn!(error = %e, "outbound: renewing leases failed");
        }
    }

    /// Claims up to `limit` entries (not for domains already at their concurrency limit here)
    /// and groups them: one group = one message to one domain (one SMTP transaction).
    async fn claim(&self, limit: usize) -> storage::Result<Vec<(Vec<QueueEntry>, InflightGuard)>> {
        let settings = &self.inner.settings;
        let at = storage::now();
        let until = at + settings.lease.as_secs().max(1) as i64;
        let busy: Vec<String> = {
            let inflight = self
                .inner
                .inflight
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            inflight
                .groups_per_domain
                .iter()
                .filter(|(_, n)| **n >= settings.concurrency_per_domain)
                .map(|(d, _)| d.clone())
                .collect()
        };
        let entries = self
            .inner
            .store
            .queue_claim(&self.inner.owner, at, until, limit as i64, &busy)
            .await?;
        let max = settings.max_recipients_per_transaction.max(1);
        let mut groups: Vec<Vec<QueueEntry>> = vec![];
        for entry in entries {
            match groups.iter_mut().find(|g| {
                g[0].message_id == entry.message_id && g[0].domain == entry.domain && g.len() < max
            }) {
                Some(group) => group.push(entry),
                None => groups.push(vec![entry]),
            }
        }
        let mut inflight = self
            .inner
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        Ok(groups
            .into_iter()
            .map(|group| {
                let ids: Vec<i64> = group.iter().map(|e| e.id).collect();
                inflight.ids.extend(ids.iter().copied());
                let domain = group[0].domain.clone();
                *inflight
                    .groups_per_domain
                    .entry(domain.clone())
                    .or_default() += 1;
                let guard = InflightGuard {
                    inner: self.inner.clone(),
                    ids,
                    domain,
                };
                (group, guard)
            })
            .collect())
    }

    fn domain_semaphore(&self, domain: &str) -> Arc<Semaphore> {
        let mut map = self
            .inner
            .per_domain
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        map.entry(domain.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.inner.settings.concurrency_per_domain)))
            .clone()
    }

    /// Delivers one group and records the outcome (notices first, then the queue rows).
    async fn process_group(&self, entries: Vec<QueueEntry>) {
        let inner = &self.inner;
        let settings = &inner.settings;
        let first = entries[0].clone();
        let semaphore = self.domain_semaphore(&first.domain);
        let Ok(_permit) = semaphore.acquire_owned().await else {
            return;
        };
        let started = storage::now();
        let raw = match inner.store.read_blob(&first.blob_id).await {
            Ok(raw) => raw,
            Err(storage::Error::NotFound(what)) => {
                tracing::error!(message_id = first.message_id, %what, "outbound: message body missing");
                let results = entries
                    .iter()
                    .map(|_| RcptResult::Permanent {
                        reply: "local error: the message body is missing from storage".into(),
                        status: "5.3.0".into(),
                    })
                    .collect();
                self.finish(entries, &[], results, String::new(), false, started)
                    .await;
                return;
            }
            Err(e) => {
                tracing::warn!(message_id = first.message_id, error = %e, "outbound: reading the message failed");
                let results = entries
                    .iter()
                    .map(|_| RcptResult::Temporary {
                        reply: format!("local error: reading the message: {e}"),
                        status: "4.3.0".into(),
                    })
                    .collect();
                self.finish(entries, &[], results, String::new(), false, started)
                    .await;
                return;
            }
        };
        // Hashing a large body takes a while: off the async threads.
        let (mut message, signature) = {
            let (inner, sender) = (self.inner.clone(), first.sender.clone());
            let stripped = strip_return_path(&raw);
            match tokio::task::spawn_blocking(move || {
                let signature = inner.signers.sign(&stripped, &sender);
                (stripped, signature)
            })
            .await
            {
                Ok(done) => done,
                Err(e) => (
                    strip_return_path(&raw),
                    Some(Err(format!("signing task failed: {e}"))),
                ),
            }
        };
        match signature {
            Some(Ok(header)) => {
                let mut signed = Vec::with_capacity(header.len() + message.len());
                signed.extend_from_slice(header.as_bytes());
                signed.extend_from_slice(&message);
                message = signed;
            }
            Some(Err(e)) => {
                tracing::warn!(message_id = first.message_id, error = %e, "outbound: DKIM signing failed; sending unsigned")
            }
            None => {}
        }
        let envelope = Envelope {
            sender: first.sender.clone(),
            env_id: first.env_id.clone(),
            ret: first.ret.clone(),
            recipients: entries
                .iter()
                .map(|e| RcptSpec {
                    address: e.recipient.clone(),
                    notify: e.notify.clone(),
                    orcpt: e.orcpt.clone(),
                })
                .collect(),
        };
        let attempt = match inner.resolver.route(&first.domain).await {
            Ok(hosts) => {
                let config = client::ClientConfig {
                    hostname: &settings.hostname,
                    port: settings.port,
                    tls_required: settings.tls_required(&first.domain),
                    connect_timeout: settings.connect_timeout,
                    command_timeout: settings.command_timeout,
                    data_timeout: settings.data_timeout,
                    tls: &inner.tls,
                };
                client::deliver(&config, &hosts, &envelope, &message).await
            }
            Err(e) => {
                let result = if e.is_permanent() {
                    RcptResult::Permanent {
                        reply: e.to_string(),
                        status: e.status().into(),
                    }
                } else {
                    RcptResult::Temporary {
                        reply: e.to_string(),
                        status: e.status().into(),
                    }
                };
                client::Attempt {
                    results: vec![result; entries.len()],
                    remote_mta: String::new(),
                    remote_dsn: false,
                }
            }
        };
        self.finish(
            entries,
            &raw,
            attempt.results,
            attempt.remote_mta,
            attempt.remote_dsn,
            started,
        )
        .await;
    }

    /// Turns results into queue updates and notices, stores the notices, then the updates.
    async fn finish(
        &self,
        entries: Vec<QueueEntry>,
        original: &[u8],
        results: Vec<RcptResult>,
        remote_mta: String,
        remote_dsn: bool,
        started: i64,
    ) {
        let inner = &self.inner;
        let settings = &inner.settings;
        let at = storage::now();
        let max_age = settings.max_age.as_secs() as i64;
        let mut updates = vec![];
        let mut failed: Vec<(usize, DsnRecipient)> = vec![];
        let mut delayed: Vec<(usize, DsnRecipient)> = vec![];
        let mut relayed: Vec<DsnRecipient> = vec![];
        for (i, (entry, result)) in entries.iter().zip(results).enumerate() {
            let notify = Notify::parse(entry.notify.as_deref());
            let base = |action, status: &str, diagnostic: &str| DsnRecipient {
                recipient: entry.recipient.clone(),
                orcpt: entry.orcpt.clone(),
                action,
                status: status.to_string(),
                diagnostic: (!diagnostic.is_empty()).then(|| diagnostic.to_string()),
                remote_mta: (!remote_mta.is_empty()).then(|| remote_mta.clone()),
                last_attempt: started,
                will_retry_until: None,
            };
            match result {
                RcptResult::Delivered { reply } => {
                    tracing::info!(id = entry.id, recipient = %entry.recipient, remote = %remote_mta, %reply, "outbound: delivered");
                    if notify.success && !remote_dsn {
                        relayed.push(base(DsnAction::Relayed, "2.0.0", &reply));
                    }
                    updates.push(QueueUpdate {
                        id: entry.id,
                        outcome: QueueOutcome::Delivered,
                        error: reply,
                        remote_mta: remote_mta.clone(),
                        delay_notified: false,
                    });
                }
                RcptResult::Permanent { reply, status } => {
                    tracing::info!(id = entry.id, recipient = %entry.recipient, remote = %remote_mta, %reply, "outbound: failed permanently");
                    if notify.failure {
                        failed.push((i, base(DsnAction::Failed, &status, &reply)));
                    }
                    updates.push(QueueUpdate {
                        id: entry.id,
                        outcome: QueueOutcome::Failed,
                        error: reply,
                        remote_mta: remote_mta.clone(),
                        delay_notified: false,
                    });
                }
                RcptResult::Temporary { reply, status } => {
                    let failures = entry.attempts + 1;
                    let expires = entry.queued_at + max_age;
                    if at >= expires {
                        tracing::info!(id = entry.id, recipient = %entry.recipient, %reply, "outbound: expired");
                        let text = format!("delivery time expired; last error: {reply}");
                        if notify.failure {
                            failed.push((i, base(DsnAction::Failed, "5.4.7", &text)));
                        }
                        updates.push(QueueUpdate {
                            id: entry.id,
                            outcome: QueueOutcome::Failed,
                            error: text,
                            remote_mta: remote_mta.clone(),
                            delay_notified: false,
                        });
                        continue;
                    }
                    let next = (at + settings.retry_delay(failures).as_secs() as i64).min(expires);
                    tracing::info!(id = entry.id, recipient = %entry.recipient, remote = %remote_mta, %reply, next_attempt = next, "outbound: deferred");
                    let waited = at - entry.queued_at;
                    let wants_delay =
                        notify.delay || (notify.unspecified && settings.delay_notify_default);
                    let notice_due = !entry.delay_notified
                        && wants_delay
                        && waited >= settings.delay_notify_after.as_secs() as i64;
                    if notice_due {
                        let mut r = base(DsnAction::Delayed, &status, &reply);
                        r.will_retry_until = Some(expires);
                        delayed.push((updates.len(), r));
                    }
                    updates.push(QueueUpdate {
                        id: entry.id,
                        outcome: QueueOutcome::Retry { next_attempt: next },
                        error: reply,
                        remote_mta: remote_mta.clone(),
                        delay_notified: false,
                    });
                }
            }
        }
        let first = &entries[0];
        // Failure notice first: if it cannot be stored, the entries stay pending and are
        // retried (the notice is not lost).
        if !failed.is_empty() {
            let recipients = failed.iter().map(|(_, r)| r.clone()).collect();
            if let Err(e) = self
                .notify(first, original, DsnAction::Failed, recipients)
                .await
            {
                tracing::warn!(error = %e, "outbound: storing the failure notice failed; will retry");
                for (i, _) in &failed {
                    let update = &mut updates[*i];
                    update.outcome = QueueOutcome::Retry {
                        next_attempt: at + 60,
                    };
                }
            }
        }
        if !delayed.is_empty() {
            let recipients = delayed.iter().map(|(_, r)| r.clone()).collect();
            match self
                .notify(first, original, DsnAction::Delayed, recipients)
                .await
            {
                Ok(()) => {
                    for (i, _) in &delayed {
                        updates[*i].delay_notified = true;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "outbound: storing the delay notice failed"),
            }
        }
        if !relayed.is_empty() {
            if let Err(e) = self
                .notify(first, original, DsnAction::Relayed, relayed)
                .await
            {
                tracing::warn!(error = %e, "outbound: storing the success notice failed");
            }
        }
        let mut written = inner.store.queue_complete(&inner.owner, at, &updates).await;
        for pause in [1, 3] {
            match &written {
                Err(e) if e.is_transient() => {
                    tracing::warn!(error = %e, "outbound: writing delivery results failed; retrying");
                    tokio::time::sleep(Duration::from_secs(pause)).await;
                    written = inner.store.queue_complete(&inner.owner, at, &updates).await;
                }
                _ => break,
            }
        }
        match written {
            Ok(done) if done.len() < updates.len() => tracing::warn!(
                owner = %inner.owner,
                expected = updates.len(),
                written = done.len(),
                "outbound: lease lost before the result was written (another worker took over)"
            ),
            Ok(_) => {}
            // The leases are no longer renewed: the entries are tried again when they expire.
            Err(e) => tracing::error!(error = %e, "outbound: writing delivery results failed"),
        }
        for update in &updates {
            if update.outcome == QueueOutcome::Failed {
                let entry = entries
                    .iter()
                    .find(|e| e.id == update.id)
                    .expect("same ids");
                let _ = inner
                    .store
                    .log_event(
                        "outbound",
                        storage::Action::QueueFailed,
                        &entry.recipient,
                        "",
                        serde_json::json!({
                            "queue_id": entry.id,
                            "sender": entry.sender,
                            "error": update.error,
                            "remote": update.remote_mta,
                            "attempts": entry.attempts + 1,
                        }),
                    )
                    .await;
            }
        }
    }

    /// Builds a notice and stores it in the sender's INBOX. Null sender: nothing to do.
    async fn notify(
        &self,
        entry: &QueueEntry,
        original: &[u8],
        action: DsnAction,
        recipients: Vec<DsnRecipient>,
    ) -> Result<(), String> {
        let inner = &self.inner;
        if entry.sender.is_empty() {
            return Ok(());
        }
        let account_id = match inner.store.resolve(&entry.sender).await {
            Ok(storage::Resolved::Account(account)) => Some(account.account_id),
            Ok(_) => entry.account_id,
            Err(e) => return Err(e.to_string()),
        };
        let Some(account_id) = account_id else {
            tracing::warn!(sender = %entry.sender, "outbound: no local mailbox for the notice; dropped");
            let _ = inner
                .store
                .log_event(
                    "outbound",
                    storage::Action::QueueNoticeDropped,
                    &entry.sender,
                    "",
                    serde_json::json!({"queue_id": entry.id, "action": action.as_str()}),
                )
                .await;
            return Ok(());
        };
        let original = strip_return_path(original);
        let raw = dsn::build(&dsn::DsnInput {
            reporting_mta: &inner.settings.hostname,
            sender: &entry.sender,
            env_id: entry.env_id.as_deref(),
            arrival: entry.created_at,
            action,
            recipients,
            original: &original,
            ret_full: entry.ret.as_deref() == Some("FULL"),
        });
        let meta = storage::MessageMeta::compute(&raw);
        inner
            .store
            .deliver(storage::Delivery {
                raw: Arc::new(raw),
                meta: Arc::new(meta),
                targets: vec![storage::DeliveryTarget {
                    account_id,
                    folder: storage::FolderChoice::Inbox,
                    flags: String::new(),
                }],
                outbound: None,
                internal_date: storage::now(),
            })
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(sender = %entry.sender, action = action.as_str(), "outbound: notice delivered");
        Ok(())
    }
}

/// DSN NOTIFY as asked by the sender (RFC 3461 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Notify {
    unspecified: bool,
    success: bool,
    failure: bool,
    delay: bool,
}

impl Notify {
    fn parse(text: Option<&str>) -> Notify {
        match text {
            None => Notify {
                unspecified: true,
                success: false,
                failure: true,
                delay: false,
            },
            Some(text) => {
                let has = |word: &str| text.split(',').any(|w| w.trim().eq_ignore_ascii_case(word));
                Notify {
                    unspecified: false,
                    success: has("SUCCESS"),
                    failure: has("FAILURE"),
                    delay: has("DELAY"),
                }
            }
        }
    }
}

/// The message without the `Return-Path:` fields of its header (added at our final delivery;
/// RFC 5321 4.4: never sent on).
pub fn strip_return_path(raw: &[u8]) -> Vec<u8> {
    let header_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 2)
        .unwrap_or(raw.len());
    let mut out = Vec::with_capacity(raw.len());
    let mut pos = 0;
    let mut skipping = false;
    while pos < header_end {
        let end = raw[pos..header_end]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|p| pos + p + 2)
            .unwrap_or(header_end);
        let line = &raw[pos..end];
        let continuation = line.first().is_some_and(|c| *c == b' ' || *c == b'\t');
        if !continuation {
            skipping = line.len() >= 12 && line[..12].eq_ignore_ascii_case(b"return-path:");
        }
        if !skipping {
            out.extend_from_slice(line);
        }
        pos = end;
    }
    out.extend_from_slice(&raw[header_end..]);
    out
}
