//! IMAP listeners: accept, connection caps (total and per IP, answered with `* BYE`), implicit
//! TLS on imaps, sessions, shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::session::{Outcome, Session};
use crate::Context;

#[derive(Clone)]
pub struct ShutdownHandle(watch::Sender<bool>);

impl ShutdownHandle {
    pub fn trigger(&self) {
        let _ = self.0.send(true);
    }
}

pub struct Server {
    context: Arc<Context>,
    /// (listener, implicit TLS)
    listeners: Vec<(TcpListener, bool)>,
    shutdown: watch::Sender<bool>,
}

impl Server {
    pub async fn bind(
        context: Arc<Context>,
        imap: &[String],
        imaps: &[String],
    ) -> std::io::Result<Server> {
        let mut listeners = vec![];
        for (addrs, tls) in [(imap, false), (imaps, true)] {
            for addr in addrs {
                let socket = TcpListener::bind(addr).await.map_err(|e| {
                    std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}"))
                })?;
                listeners.push((socket, tls));
            }
        }
        Ok(Server {
            context,
            listeners,
            shutdown: watch::channel(false).0,
        })
    }

    /// (address, implicit TLS) of every listener.
    pub fn local_addrs(&self) -> Vec<(SocketAddr, bool)> {
        self.listeners
            .iter()
            .filter_map(|(l, tls)| l.local_addr().ok().map(|a| (a, *tls)))
            .collect()
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown.clone())
    }

    pub async fn run(self) {
        let mut loops = tokio::task::JoinSet::new();
        loops.spawn(watch_accounts(
            self.context.clone(),
            self.shutdown.subscribe(),
        ));
        for (listener, tls) in self.listeners {
            loops.spawn(accept_loop(
                self.context.clone(),
                listener,
                tls,
                self.shutdown.subscribe(),
            ));
        }
        while loops.join_next().await.is_some() {}
    }
}

/// Polls storage for accounts whose logins must end (disabled, departed, password reset —
/// possibly by the admin CLI in another process) and tells the sessions.
async fn watch_accounts(context: Arc<Context>, mut shutdown: watch::Receiver<bool>) {
    let mut since = storage::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
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

async fn accept_loop(
    context: Arc<Context>,
    listener: TcpListener,
    tls: bool,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut sessions = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "imap accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        while sessions.try_join_next().is_some() {}
        let context = context.clone();
        let shutdown = shutdown.clone();
        let span = tracing::info_span!("imap", session = tracing::field::Empty, %peer, tls);
        sessions.spawn(tracing::Instrument::instrument(
            connection(context, stream, peer, tls, shutdown),
            span,
        ));
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
}

async fn refuse(mut stream: TcpStream, text: &str) {
    let line = format!("* BYE [UNAVAILABLE] {text}\r\n");
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.write_all(line.as_bytes())).await;
}

async fn connection(
    context: Arc<Context>,
    stream: TcpStream,
    peer: SocketAddr,
    tls: bool,
    shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    metrics::counter!("govmail_connections_total", "protocol" => "imap", "listener" => if tls { "imaps" } else { "imap" })
        .increment(1);
    let Ok(_permit) = context.connections.clone().try_acquire_owned() else {
        return refuse(stream, "Too many connections, try again later").await;
    };
    if !context
        .per_ip
        .try_acquire(peer.ip(), context.settings.max_connections_per_ip)
    {
        return refuse(stream, "Too many connections from your address").await;
    }
    metrics::gauge!("govmail_imap_sessions").increment(1.0);
    let mut session = Session::new(context.clone(), peer, shutdown);
    let acceptor = context.tls.clone();
    match (tls, acceptor) {
        (true, Some(acceptor)) => {
            if let Ok(Ok(stream)) = tokio::time::timeout(
                context.settings.tls_handshake_timeout,
                acceptor.accept(stream),
            )
            .await
            {
                session.set_tls();
                let _ = session.run(stream).await;
            }
        }
        (true, None) => {}
        (false, acceptor) => {
            if let (Ok(Outcome::StartTls(plain)), Some(acceptor)) =
                (session.run(stream).await, acceptor)
            {
                if let Ok(Ok(stream)) = tokio::time::timeout(
                    context.settings.tls_handshake_timeout,
                    acceptor.accept(plain),
                )
                .await
                {
                    session.set_tls();
                    let _ = session.run(stream).await;
                }
            }
        }
    }
    metrics::gauge!("govmail_imap_sessions").decrement(1.0);
    context.per_ip.release(peer.ip());
}
