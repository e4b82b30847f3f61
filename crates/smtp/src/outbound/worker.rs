//! The delivery worker of one node: the loop that claims due queue entries under a lease,
//! groups them (one message to one domain = one SMTP transaction), runs the groups with
//! bounded concurrency and renews the leases while they run.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use storage::{QueueEntry, Store};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use super::{dkim, resolve, tls, OutboundError, OutboundSettings};

pub(super) struct Inner {
    pub(super) settings: OutboundSettings,
    pub(super) store: Store,
    pub(super) resolver: resolve::MxResolver,
    pub(super) signers: dkim::Signers,
    pub(super) tls: tls::Connectors,
    pub(super) owner: String,
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
    pub(super) inner: Arc<Inner>,
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

    pub(super) fn domain_semaphore(&self, domain: &str) -> Arc<Semaphore> {
        let mut map = self
            .inner
            .per_domain
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        map.entry(domain.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.inner.settings.concurrency_per_domain)))
            .clone()
    }
}
