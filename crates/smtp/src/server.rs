//! Listeners: accept, enforce connection caps (total and per IP), do TLS, run sessions, and stop
//! on shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::codes::{reply, C421_TOO_BUSY};
use crate::session::{Outcome, Session};
use crate::Context;

/// Which service a listener offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    /// Port 25: mail for our domains, no AUTH.
    Mx,
    /// Port 587: STARTTLS, then AUTH.
    Submission,
    /// Port 465: implicit TLS, then AUTH (RFC 8314).
    Submissions,
}

impl ListenerKind {
    pub fn name(self) -> &'static str {
        match self {
            ListenerKind::Mx => "mx",
            ListenerKind::Submission => "submission",
            ListenerKind::Submissions => "submissions",
        }
    }
}

pub struct Listener {
    pub kind: ListenerKind,
    pub socket: TcpListener,
}

/// Stops every listener and session of a [`Server`].
#[derive(Clone)]
pub struct ShutdownHandle(watch::Sender<bool>);

impl ShutdownHandle {
    pub fn trigger(&self) {
        let _ = self.0.send(true);
    }
}

pub struct Server {
    context: Arc<Context>,
    listeners: Vec<Listener>,
    shutdown: watch::Sender<bool>,
}

impl Server {
    pub fn new(context: Arc<Context>, listeners: Vec<Listener>) -> Server {
        Server {
            context,
            listeners,
            shutdown: watch::channel(false).0,
        }
    }

    /// Binds the three kinds of listener from address lists.
    pub async fn bind(
        context: Arc<Context>,
        mx: &[String],
        submission: &[String],
        submissions: &[String],
    ) -> std::io::Result<Server> {
        let mut listeners = vec![];
        for (kind, addrs) in [
            (ListenerKind::Mx, mx),
            (ListenerKind::Submission, submission),
            (ListenerKind::Submissions, submissions),
        ] {
            for addr in addrs {
                let socket = TcpListener::bind(addr).await.map_err(|e| {
                    std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}"))
                })?;
                listeners.push(Listener { kind, socket });
            }
        }
        Ok(Server::new(context, listeners))
    }

    pub fn local_addrs(&self) -> Vec<(ListenerKind, SocketAddr)> {
        self.listeners
            .iter()
            .filter_map(|l| l.socket.local_addr().ok().map(|a| (l.kind, a)))
            .collect()
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown.clone())
    }

    /// Accepts until shutdown; then waits (bounded) for sessions to finish.
    pub async fn run(self) {
        let mut accept_loops = tokio::task::JoinSet::new();
        for listener in self.listeners {
            let context = self.context.clone();
            let shutdown = self.shutdown.subscribe();
            accept_loops.spawn(accept_loop(context, listener, shutdown));
        }
        while accept_loops.join_next().await.is_some() {}
    }
}

async fn accept_loop(
    context: Arc<Context>,
    listener: Listener,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut sessions = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.socket.accept() => accepted,
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        while sessions.try_join_next().is_some() {}
        let context = context.clone();
        let shutdown = shutdown.clone();
        let kind = listener.kind;
        // Every log line of the connection carries its peer and listener (structured logs).
        let span = tracing::info_span!("smtp", session = tracing::field::Empty, %peer, listener = kind.name());
        sessions.spawn(tracing::Instrument::instrument(
            async move {
                connection(context, kind, stream, peer, shutdown).await;
            },
            span,
        ));
    }
    // Sessions see the shutdown at their next command and close with 421.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
}

/// How long a connection arriving when every slot is taken waits for one, while slow
/// unauthenticated sessions are shed (they check twice a second).
const SLOT_WAIT: Duration = Duration::from_secs(3);

/// A connection slot: at once if one is free; when all are taken, the first one freed within
/// [`SLOT_WAIT`] — at most a tenth of the slots' worth of connections wait, the rest are
/// refused at once.
async fn slot(context: &Context) -> Option<tokio::sync::OwnedSemaphorePermit> {
    if let Ok(permit) = context.connections.clone().try_acquire_owned() {
        return Some(permit);
    }
    let waiting = context
        .slot_waiters
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let permit = if waiting < context.settings.max_connections / 10 + 1 {
        tokio::time::timeout(SLOT_WAIT, context.connections.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
    } else {
        None
    };
    context
        .slot_waiters
        .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    permit
}

async fn refuse(mut stream: TcpStream, text: &str) {
    let mut out = vec![];
    reply(C421_TOO_BUSY, text).encode(&mut out);
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.write_all(&out)).await;
    let _ = stream.shutdown().await;
}

async fn connection(
    context: Arc<Context>,
    kind: ListenerKind,
    stream: TcpStream,
    peer: SocketAddr,
    shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    // Connection caps (total, then per IP), answered with 421 4.7.0 before any session.
    metrics::counter!("govmail_connections_total", "protocol" => "smtp", "listener" => kind.name())
        .increment(1);
    // Per IP first: one address never waits for, or takes, the slots others free.
    if !context
        .per_ip
        .try_acquire(peer.ip(), context.settings.max_connections_per_ip)
    {
        metrics::counter!("govmail_connections_refused_total", "protocol" => "smtp", "reason" => "per_ip").increment(1);
        tracing::warn!(%peer, "connection refused: per-IP connection limit");
        return refuse(stream, "Too many connections from your address").await;
    }
    if context.under_pressure() {
        context.pressure.notify_waiters();
    }
    let Some(_permit) = slot(&context).await else {
        context.per_ip.release(peer.ip());
        metrics::counter!("govmail_connections_refused_total", "protocol" => "smtp", "reason" => "total").increment(1);
        tracing::warn!(%peer, "connection refused: server connection limit");
        return refuse(stream, "Too many connections, try again later").await;
    };
    let mut session = Session::new(context.clone(), kind, peer, shutdown);
    let result = async {
        match kind {
            ListenerKind::Submissions => {
                let Some(acceptor) = context.tls.clone() else {
                    return;
                };
                let handshake = tokio::time::timeout(
                    context.settings.tls_handshake_timeout,
                    acceptor.accept(stream),
                )
                .await;
                if let Ok(Ok(tls)) = handshake {
                    session.set_tls();
                    let _ = session.run(tls).await;
                }
            }
            ListenerKind::Mx | ListenerKind::Submission => {
                if let Ok(Outcome::StartTls(plain)) = session.run(stream).await {
                    let Some(acceptor) = context.tls.clone() else {
                        return;
                    };
                    let handshake = tokio::time::timeout(
                        context.settings.tls_handshake_timeout,
                        acceptor.accept(plain),
                    )
                    .await;
                    if let Ok(Ok(tls)) = handshake {
                        session.set_tls();
                        let _ = session.run(tls).await;
                    }
                }
            }
        }
    };
    result.await;
    context.per_ip.release(peer.ip());
}
