//! IMAP listeners: imap (STARTTLS) and imaps (implicit TLS), the `* BYE` refusals, which
//! session runs on a connection, and the account watcher. The accept loop, the connection
//! caps, the TLS deadline and shutdown are the shared `listener` crate's.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use listener::{Refused, ShutdownSignal};
use tokio::net::TcpStream;

use crate::session::{Outcome, Session};
use crate::Context;

/// Stops every listener and session of a [`Server`].
pub use listener::Shutdown as ShutdownHandle;

/// Which service a listener offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    /// Port 143: plaintext, STARTTLS before login.
    Imap,
    /// Port 993: implicit TLS (RFC 8314).
    Imaps,
}

impl ListenerKind {
    pub fn name(self) -> &'static str {
        match self {
            ListenerKind::Imap => "imap",
            ListenerKind::Imaps => "imaps",
        }
    }

    pub fn implicit_tls(self) -> bool {
        self == ListenerKind::Imaps
    }
}

pub struct Server(listener::Server<Context>);

impl Server {
    pub async fn bind(
        context: Arc<Context>,
        imap: &[String],
        imaps: &[String],
    ) -> std::io::Result<Server> {
        let addresses = [(ListenerKind::Imap, imap), (ListenerKind::Imaps, imaps)];
        listener::Server::bind(context, &addresses)
            .await
            .map(Server)
    }

    /// (address, implicit TLS) of every listener.
    pub fn local_addrs(&self) -> Vec<(SocketAddr, bool)> {
        self.0
            .local_addrs()
            .into_iter()
            .map(|(kind, addr)| (addr, kind.implicit_tls()))
            .collect()
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.0.shutdown_handle()
    }

    /// Accepts and watches accounts until shutdown; then waits (bounded) for sessions to
    /// finish. Sessions see the shutdown at their next command and say `* BYE`.
    pub async fn run(self) {
        let watcher = watch_accounts(self.0.protocol().clone(), self.0.shutdown_handle().signal());
        tokio::join!(watcher, self.0.run());
    }
}

/// Polls storage for accounts whose logins must end (disabled, departed, password reset —
/// possibly by the admin CLI in another process) and tells the sessions.
/// With several nodes on PostgreSQL, epochs also arrive as they commit (`Store::subscribe_cluster`).
async fn watch_accounts(context: Arc<Context>, mut shutdown: ShutdownSignal) {
    let mut since = storage::now();
    let mut pushed = context.store.subscribe_cluster();
    // An interval, not a sleep per turn: pushed events must not postpone the poll.
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            event = pushed.recv() => {
                match event {
                    Ok(storage::ClusterEvent::Account { account_id, epoch }) => {
                        let _ = context.revocations.send((account_id, epoch));
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    // Never while the store lives; resubscribe rather than spin.
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        pushed = context.store.subscribe_cluster();
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
                continue;
            }
            _ = shutdown.changed() => return,
        }
        let now = storage::now();
        // One second of overlap: changes stamped in the same second are never missed.
        if let Ok(changes) = context.store.account_changes_since(since - 1).await {
            for change in changes {
                let _ = context.revocations.send(change);
            }
        }
        since = now;
    }
}

impl listener::Protocol for Context {
    type Kind = ListenerKind;
    const NAME: &'static str = "imap";

    fn kind_name(kind: ListenerKind) -> &'static str {
        kind.name()
    }

    fn gate(&self) -> &listener::Gate {
        &self.gate
    }

    fn span(&self, kind: ListenerKind, peer: SocketAddr) -> tracing::Span {
        let tls = kind.implicit_tls();
        tracing::info_span!("imap", session = tracing::field::Empty, %peer, tls)
    }

    /// RFC 9051 7.1.5: BYE with the UNAVAILABLE response code (RFC 5530).
    fn refusal(&self, refused: Refused) -> Vec<u8> {
        format!("* BYE [UNAVAILABLE] {}\r\n", refused.text()).into_bytes()
    }

    async fn serve(
        self: Arc<Self>,
        kind: ListenerKind,
        stream: TcpStream,
        peer: SocketAddr,
        shutdown: ShutdownSignal,
    ) {
        metrics::gauge!("govmail_imap_sessions").increment(1.0);
        let mut session = Session::new(self.clone(), peer, shutdown);
        let deadline = self.settings.tls_handshake_timeout;
        match (kind, &self.tls) {
            (ListenerKind::Imaps, Some(acceptor)) => {
                if let Some(tls) = listener::tls::handshake(acceptor, stream, deadline).await {
                    session.set_tls();
                    let _ = session.run(tls).await;
                }
            }
            (ListenerKind::Imaps, None) => {}
            (ListenerKind::Imap, acceptor) => {
                if let (Ok(Outcome::StartTls(plain)), Some(acceptor)) =
                    (session.run(stream).await, acceptor)
                {
                    if let Some(tls) = listener::tls::handshake(acceptor, plain, deadline).await {
                        session.set_tls();
                        let _ = session.run(tls).await;
                    }
                }
            }
        }
        metrics::gauge!("govmail_imap_sessions").decrement(1.0);
    }
}
