//! Several nodes on one PostgreSQL (issue 16).
//!
//! - Change fan-out: migration 0015's triggers `pg_notify` every folder change (new mail, flags,
//!   expunge), session-epoch change, rights change and directory change on channel `govmail`
//!   inside the writing transaction, so a notification leaves only on commit. One listening
//!   connection per node ([`Store::start_fanout`]) re-publishes other nodes' folder changes into
//!   the local change channel (IDLE, NOTIFY) and every account/rights/directory change into
//!   [`Store::subscribe_cluster`]. A node's own folder changes are skipped (they were published
//!   in-process after commit); the writer is told apart by the `govmail.node` setting every
//!   pooled connection carries.
//! - While the listening connection is down the state is [`Fanout::Degraded`] (shown by
//!   `/readyz`, logged once), and [`Store::poll_wait`] polls every [`DEGRADED_POLL`] instead of
//!   the caller's long interval; a reconnect wakes every waiter once so it re-reads what it
//!   watches (catch-up: notifications sent while nobody listened are lost).
//! - Host-list failover: `postgres://u:p@h1:5432,h2:5432/db?target_session_attrs=read-write`
//!   (sqlx 0.9 takes one host only). Connections go to the first host that answers and is
//!   read-write; a monitor checks it every second and moves the pools' connect options to the
//!   next read-write host when it fails or turns read-only (a promoted standby).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use crate::{FolderChange, Store};

/// The NOTIFY channel migration 0015's triggers send on.
pub const CHANNEL: &str = "govmail";
/// How often sessions poll while the fan-out is degraded.
pub const DEGRADED_POLL: Duration = Duration::from_secs(1);
/// Wait between attempts to listen again, and between checks of the database host.
const RETRY: Duration = Duration::from_secs(1);

/// How this node learns about other writers' changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fanout {
    /// One process (SQLite, or a store that does not listen: the admin CLI).
    Local,
    /// Listening on PostgreSQL: changes arrive as they commit.
    Listening,
    /// The listening connection is lost; sessions poll every [`DEGRADED_POLL`].
    Degraded(String),
}

/// A change of something other than a folder's messages, from any node (this one included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterEvent {
    /// An account's session epoch grew: its logins must end.
    Account { account_id: i64, epoch: i64 },
    /// Rights on a unit mailbox changed.
    Rights,
    /// Domains, units or addresses changed.
    Directory,
}

/// One decoded notification payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Notice {
    pub node: String,
    pub what: NoticeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoticeKind {
    Folder(FolderChange),
    Other(ClusterEvent),
}

/// Parses `'<kind> <node> <a> <b>'` (see migration 0015); `None` for anything else.
pub(crate) fn parse_notice(payload: &str) -> Option<Notice> {
    let mut words = payload.split(' ');
    let (kind, node) = (words.next()?, words.next()?);
    let a: i64 = words.next()?.parse().ok()?;
    let b: i64 = words.next()?.parse().ok()?;
    if words.next().is_some() || node.is_empty() {
        return None;
    }
    let what = match kind {
        "f" => NoticeKind::Folder(FolderChange {
            account_id: a,
            folder_id: b,
        }),
        "a" => NoticeKind::Other(ClusterEvent::Account {
            account_id: a,
            epoch: b,
        }),
        "r" => NoticeKind::Other(ClusterEvent::Rights),
        "d" => NoticeKind::Other(ClusterEvent::Directory),
        _ => return None,
    };
    Some(Notice {
        node: node.to_string(),
        what,
    })
}

/// The hosts of a PostgreSQL URL, each as a one-host URL sqlx accepts, and whether
/// `target_session_attrs=read-write` asks for a writable server. A one-host URL comes back as
/// it was (less that parameter).
pub fn split_hosts(url: &str) -> (Vec<String>, bool) {
    let Some(scheme_end) = url.find("://") else {
        return (vec![url.to_string()], false);
    };
    let (scheme, rest) = url.split_at(scheme_end + 3);
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (userinfo, hosts) = match authority.rfind('@') {
        Some(i) => (&authority[..=i], &authority[i + 1..]),
        None => ("", authority),
    };
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (tail, None),
    };
    let mut read_write = false;
    let kept: Vec<&str> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| match p.split_once('=') {
            Some(("target_session_attrs", value)) => {
                read_write = matches!(value, "read-write" | "primary");
                false
            }
            _ => true,
        })
        .collect();
    let query = if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    };
    let urls = hosts
        .split(',')
        .filter(|h| !h.is_empty())
        .map(|host| format!("{scheme}{userinfo}{host}{path}{query}"))
        .collect::<Vec<_>>();
    if urls.is_empty() {
        return (vec![url.to_string()], read_write);
    }
    (urls, read_write)
}

/// A name for this process, unique across machines in practice: a hash of the process id and
/// the start time in nanoseconds.
fn node_name() -> String {
    use sha2::{Digest, Sha256};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut hasher = Sha256::new();
    hasher.update(std::process::id().to_be_bytes());
    hasher.update(nanos.to_be_bytes());
    hex::encode(&hasher.finalize()[..8])
}

/// What the store keeps for the fan-out and the host list.
pub(crate) struct Cluster {
    /// This process's name in notification payloads.
    pub node: String,
    pub state: watch::Sender<Fanout>,
    pub events: broadcast::Sender<ClusterEvent>,
    /// One-host URLs (PostgreSQL) and which one the pools use now.
    pub hosts: Vec<String>,
    pub current: AtomicUsize,
    pub read_write: bool,
    /// Grows with every directory change pushed from any node: caches of domains or of the
    /// address book built at an older value are stale.
    pub directory_generation: std::sync::atomic::AtomicU64,
}

impl Cluster {
    pub fn new(hosts: Vec<String>, read_write: bool) -> Cluster {
        Cluster {
            node: node_name(),
            state: watch::channel(Fanout::Local).0,
            events: broadcast::channel(1024).0,
            hosts,
            current: AtomicUsize::new(0),
            read_write,
            directory_generation: Default::default(),
        }
    }

    pub fn current_url(&self) -> &str {
        &self.hosts[self.current.load(Ordering::Relaxed) % self.hosts.len()]
    }
}

/// True when the server behind `conn` takes writes (libpq's `read-write` check).
pub(crate) async fn is_read_write(conn: &mut sqlx::AnyConnection) -> sqlx::Result<bool> {
    let read_only: String = sqlx::query_scalar("SHOW transaction_read_only")
        .fetch_one(conn)
        .await?;
    Ok(read_only == "off")
}

/// Connects to the first host of `hosts` (from `start`, wrapping) that answers and, when
/// `read_write`, takes writes; returns its index.
pub(crate) async fn pick_host(
    hosts: &[String],
    start: usize,
    read_write: bool,
) -> Result<usize, String> {
    use sqlx::Connection;
    let mut reasons = vec![];
    for step in 0..hosts.len() {
        let i = (start + step) % hosts.len();
        let attempt = async {
            let mut conn = sqlx::AnyConnection::connect(&hosts[i]).await?;
            let ok = !read_write || is_read_write(&mut conn).await?;
            let _ = conn.close().await;
            Ok::<_, sqlx::Error>(ok)
        };
        match tokio::time::timeout(Duration::from_secs(5), attempt).await {
            Ok(Ok(true)) => return Ok(i),
            Ok(Ok(false)) => reasons.push(format!("host {} is read-only", i + 1)),
            Ok(Err(e)) => reasons.push(format!("host {}: {e}", i + 1)),
            Err(_) => reasons.push(format!("host {}: no answer in 5 s", i + 1)),
        }
    }
    Err(reasons.join("; "))
}

impl Store {
    /// How this node learns about other writers' changes now.
    pub fn fanout(&self) -> Fanout {
        self.cluster.state.borrow().clone()
    }

    /// Account, rights and directory changes of every node (PostgreSQL with the fan-out
    /// started; nothing arrives otherwise).
    pub fn subscribe_cluster(&self) -> broadcast::Receiver<ClusterEvent> {
        self.cluster.events.subscribe()
    }

    /// Grows with every directory change (domains, units, addresses) pushed from any node
    /// (PostgreSQL with the fan-out started; always 0 otherwise). A cache of directory data
    /// built at another value is stale.
    pub fn directory_generation(&self) -> u64 {
        self.cluster.directory_generation.load(Ordering::Relaxed)
    }

    /// This process's name in change notifications.
    pub fn node_id(&self) -> &str {
        &self.cluster.node
    }

    /// Waits until it is time to poll for changes that notifications may not have brought:
    /// `interval` while changes are pushed (or one process), [`DEGRADED_POLL`] while the
    /// fan-out is down, and at once when the fan-out state changes (a reconnect: catch up).
    pub async fn poll_wait(&self, interval: Duration) {
        let mut state = self.cluster.state.subscribe();
        let wait = match &*state.borrow_and_update() {
            Fanout::Degraded(_) => DEGRADED_POLL.min(interval),
            _ => interval,
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = state.changed() => {}
        }
    }

    /// Starts listening for other nodes' changes (PostgreSQL; nothing on SQLite). For the
    /// server only: the admin CLI does not listen.
    pub fn start_fanout(&self) {
        if self.backend != crate::Backend::Postgres {
            return;
        }
        let store = self.detached();
        tokio::spawn(async move { store.listen_loop().await });
        if self.cluster.hosts.len() > 1 {
            let store = self.detached();
            tokio::spawn(async move { store.watch_host().await });
        }
    }

    async fn listen_loop(self) {
        let mut degraded_since: Option<std::time::Instant> = None;
        while !self.pool.is_closed() {
            let url = self.cluster.current_url().to_string();
            let listener = async {
                let mut listener = sqlx::postgres::PgListener::connect(&url).await?;
                // A lost connection ends the inner loop below (we reconnect to the host in use
                // now, and mark the gap), rather than sqlx reconnecting silently.
                listener.eager_reconnect(false);
                listener.listen(CHANNEL).await?;
                Ok::<_, sqlx::Error>(listener)
            };
            let mut listener = match tokio::time::timeout(Duration::from_secs(5), listener).await {
                Ok(Ok(listener)) => listener,
                outcome => {
                    let reason = match outcome {
                        Ok(Err(e)) => format!("cannot listen for changes: {e}"),
                        _ => "cannot listen for changes: no answer in 5 s".to_string(),
                    };
                    self.degrade(&reason, &mut degraded_since);
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            if let Some(since) = degraded_since.take() {
                tracing::warn!(
                    after_secs = since.elapsed().as_secs(),
                    "listening for other nodes' changes again; sessions catch up"
                );
            } else {
                tracing::info!(node = %self.cluster.node, "listening for other nodes' changes");
            }
            // Every waiter wakes once (poll_wait) and re-reads what it watches.
            self.cluster.state.send_replace(Fanout::Listening);
            let reason = loop {
                let next = tokio::select! {
                    next = listener.try_recv() => next,
                    // The store was closed (shutdown): stop listening.
                    _ = self.pool.close_event() => return,
                };
                match next {
                    Ok(Some(notification)) => self.republish(notification.payload()),
                    Ok(None) => break "the listening connection was lost".to_string(),
                    Err(e) => break format!("the listening connection failed: {e}"),
                }
            };
            self.degrade(&reason, &mut degraded_since);
            tokio::time::sleep(RETRY).await;
        }
    }

    fn degrade(&self, reason: &str, since: &mut Option<std::time::Instant>) {
        if since.is_none() {
            *since = Some(std::time::Instant::now());
            tracing::warn!(
                reason,
                "change fan-out degraded: sessions poll every {} s until it is back",
                DEGRADED_POLL.as_secs()
            );
        }
        self.cluster
            .state
            .send_replace(Fanout::Degraded(reason.to_string()));
    }

    fn republish(&self, payload: &str) {
        let Some(notice) = parse_notice(payload) else {
            tracing::debug!(payload, "unknown change notification ignored");
            return;
        };
        match notice.what {
            // Our own folder changes were published in-process after their commit.
            NoticeKind::Folder(change) if notice.node != self.cluster.node => {
                self.notify_change(change)
            }
            NoticeKind::Folder(_) => {}
            NoticeKind::Other(event) => {
                if event == ClusterEvent::Directory {
                    self.cluster
                        .directory_generation
                        .fetch_add(1, Ordering::Relaxed);
                }
                let _ = self.cluster.events.send(event);
            }
        }
    }

    /// Multi-host URL: checks the host in use every second; when it stops answering or turns
    /// read-only, points the pools at the next read-write host (connections already open stay
    /// until they fail; sqlx tests each before handing it out).
    async fn watch_host(self) {
        use sqlx::Connection;
        let hosts = self.cluster.hosts.clone();
        while !self.pool.is_closed() {
            tokio::time::sleep(RETRY).await;
            let current = self.cluster.current.load(Ordering::Relaxed);
            let check = async {
                let mut conn = sqlx::AnyConnection::connect(&hosts[current]).await?;
                let ok = !self.cluster.read_write || is_read_write(&mut conn).await?;
                let _ = conn.close().await;
                Ok::<_, sqlx::Error>(ok)
            };
            if let Ok(Ok(true)) = tokio::time::timeout(Duration::from_secs(3), check).await {
                continue;
            }
            match pick_host(&hosts, current + 1, self.cluster.read_write).await {
                Ok(next) if next != current => {
                    tracing::warn!(
                        from = current + 1,
                        to = next + 1,
                        "database failover: storage.url host {} now in use",
                        next + 1
                    );
                    if let Ok(options) = hosts[next].parse::<sqlx::any::AnyConnectOptions>() {
                        self.pool.set_connect_options(options.clone());
                        self.writer.set_connect_options(options);
                    }
                    self.cluster.current.store(next, Ordering::Relaxed);
                }
                Ok(_) => {}
                Err(reasons) => {
                    tracing::warn!(%reasons, "no read-write database host answers");
                }
            }
        }
    }
}

/// Shared by every clone of a store.
pub(crate) type SharedCluster = Arc<Cluster>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_parse_strictly() {
        let f = parse_notice("f 00ab 3 17").unwrap();
        assert_eq!(f.node, "00ab");
        assert_eq!(
            f.what,
            NoticeKind::Folder(FolderChange {
                account_id: 3,
                folder_id: 17
            })
        );
        assert_eq!(
            parse_notice("a - 5 2").unwrap().what,
            NoticeKind::Other(ClusterEvent::Account {
                account_id: 5,
                epoch: 2
            })
        );
        assert_eq!(
            parse_notice("d x 0 0").unwrap().what,
            NoticeKind::Other(ClusterEvent::Directory)
        );
        for bad in [
            "",
            "f",
            "f n 1",
            "f n 1 2 3",
            "z n 1 2",
            "f n x 2",
            "f  1 2",
        ] {
            assert_eq!(parse_notice(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn host_lists_split_into_one_host_urls() {
        let (urls, rw) = split_hosts(
            "postgres://u:p@10.0.0.1:5432,10.0.0.2:5433/mail?target_session_attrs=read-write&sslmode=disable",
        );
        assert!(rw);
        assert_eq!(
            urls,
            [
                "postgres://u:p@10.0.0.1:5432/mail?sslmode=disable",
                "postgres://u:p@10.0.0.2:5433/mail?sslmode=disable"
            ]
        );
        let (urls, rw) = split_hosts("postgres://u:p@db:5432/mail");
        assert!(!rw);
        assert_eq!(urls, ["postgres://u:p@db:5432/mail"]);
        let (urls, rw) = split_hosts("postgresql://h1,h2?target_session_attrs=any");
        assert!(!rw);
        assert_eq!(urls, ["postgresql://h1", "postgresql://h2"]);
    }
}
