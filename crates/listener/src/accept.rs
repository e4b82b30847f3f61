//! The accept loop every protocol shares: accept, count, pass the [`Gate`] or be refused with
//! the protocol's own words, run the protocol's session, and on shutdown stop accepting and
//! give the open sessions a bounded time to finish.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::gate::{Gate, Refused};
use crate::shutdown::{Shutdown, ShutdownSignal};

/// Pause after a failed accept (out of file descriptors, …) before the next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Deadline of writing a refusal to a connection that is not admitted.
const REFUSAL_WRITE: Duration = Duration::from_secs(5);
/// How long open sessions have to finish after shutdown before they are dropped (sessions see
/// the shutdown at their next read and say goodbye in their protocol).
const DRAIN: Duration = Duration::from_secs(5);

/// What a protocol crate tells the shared skeleton. Everything said on the wire comes from here.
pub trait Protocol: Send + Sync + 'static {
    /// Which service a listener offers (e.g. SMTP's MX or submission).
    type Kind: Copy + Send + Sync + 'static;

    /// The `protocol` label of the connection metrics (`smtp`, `imap`).
    const NAME: &'static str;

    /// The `listener` label of `govmail_connections_total` (`mx`, `imaps`, …).
    fn kind_name(kind: Self::Kind) -> &'static str;

    /// The caps every listener of this protocol shares.
    fn gate(&self) -> &Gate;

    /// The tracing span of one connection: every log line of it carries these fields. It
    /// should have an empty `session` field for [`crate::session_id`] to fill.
    fn span(&self, kind: Self::Kind, peer: SocketAddr) -> tracing::Span;

    /// The bytes written to a connection the gate refused, before it is closed.
    fn refusal(&self, refused: Refused) -> Vec<u8>;

    /// Runs one admitted connection to its end (TLS handshakes included), inside its span.
    fn serve(
        self: Arc<Self>,
        kind: Self::Kind,
        stream: TcpStream,
        peer: SocketAddr,
        shutdown: ShutdownSignal,
    ) -> impl Future<Output = ()> + Send;
}

/// A bound socket and the service it offers.
#[derive(Debug)]
pub struct Listener<K> {
    pub kind: K,
    pub socket: TcpListener,
}

/// The listeners of one protocol, until [`Server::run`] ends after a shutdown.
pub struct Server<P: Protocol> {
    protocol: Arc<P>,
    listeners: Vec<Listener<P::Kind>>,
    shutdown: Shutdown,
}

impl<P: Protocol> Server<P> {
    pub fn new(protocol: Arc<P>, listeners: Vec<Listener<P::Kind>>) -> Server<P> {
        Server {
            protocol,
            listeners,
            shutdown: Shutdown::new(),
        }
    }

    /// Binds every address of every kind; the first failure names its address.
    pub async fn bind(
        protocol: Arc<P>,
        addresses: &[(P::Kind, &[String])],
    ) -> std::io::Result<Server<P>> {
        let mut listeners = vec![];
        for (kind, addrs) in addresses {
            for addr in addrs.iter() {
                let socket = TcpListener::bind(addr).await.map_err(|e| {
                    std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}"))
                })?;
                listeners.push(Listener {
                    kind: *kind,
                    socket,
                });
            }
        }
        Ok(Server::new(protocol, listeners))
    }

    pub fn protocol(&self) -> &Arc<P> {
        &self.protocol
    }

    /// (kind, bound address) of every listener, in binding order.
    pub fn local_addrs(&self) -> Vec<(P::Kind, SocketAddr)> {
        self.listeners
            .iter()
            .filter_map(|l| l.socket.local_addr().ok().map(|a| (l.kind, a)))
            .collect()
    }

    /// Stops every listener and session of this server.
    pub fn shutdown_handle(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Accepts until shutdown; then waits (bounded) for sessions to finish.
    pub async fn run(self) {
        let mut accept_loops = JoinSet::new();
        for listener in self.listeners {
            accept_loops.spawn(accept_loop(
                self.protocol.clone(),
                listener,
                self.shutdown.signal(),
            ));
        }
        while accept_loops.join_next().await.is_some() {}
    }
}

async fn accept_loop<P: Protocol>(
    protocol: Arc<P>,
    listener: Listener<P::Kind>,
    mut shutdown: ShutdownSignal,
) {
    let mut sessions = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.socket.accept() => accepted,
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                tracing::warn!(protocol = P::NAME, %error, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        while sessions.try_join_next().is_some() {}
        let span = protocol.span(listener.kind, peer);
        sessions.spawn(tracing::Instrument::instrument(
            connection(
                protocol.clone(),
                listener.kind,
                stream,
                peer,
                shutdown.clone(),
            ),
            span,
        ));
    }
    // Dropping the set at the deadline aborts the sessions still running.
    let _ = tokio::time::timeout(DRAIN, async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
}

/// One accepted connection: counted, admitted or refused, then served.
async fn connection<P: Protocol>(
    protocol: Arc<P>,
    kind: P::Kind,
    stream: TcpStream,
    peer: SocketAddr,
    shutdown: ShutdownSignal,
) {
    let _ = stream.set_nodelay(true);
    metrics::counter!("govmail_connections_total", "protocol" => P::NAME, "listener" => P::kind_name(kind))
        .increment(1);
    let pass = match protocol.gate().admit(peer.ip()).await {
        Ok(pass) => pass,
        Err(refused) => {
            metrics::counter!("govmail_connections_refused_total", "protocol" => P::NAME, "reason" => refused.label())
                .increment(1);
            match refused {
                Refused::PerIp => {
                    tracing::warn!(%peer, "connection refused: per-IP connection limit")
                }
                Refused::Total => {
                    tracing::warn!(%peer, "connection refused: server connection limit")
                }
            }
            let words = protocol.refusal(refused);
            return refuse(stream, &words).await;
        }
    };
    protocol.serve(kind, stream, peer, shutdown).await;
    drop(pass);
}

/// Writes the refusal (bounded) and closes.
async fn refuse(mut stream: TcpStream, words: &[u8]) {
    let _ = tokio::time::timeout(REFUSAL_WRITE, stream.write_all(words)).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A protocol that greets, echoes one line's worth of bytes, and says `bye` at shutdown.
    struct Echo {
        gate: Gate,
    }

    impl Protocol for Echo {
        type Kind = ();
        const NAME: &'static str = "echo";

        fn kind_name(_: ()) -> &'static str {
            "echo"
        }

        fn gate(&self) -> &Gate {
            &self.gate
        }

        fn span(&self, _: (), peer: SocketAddr) -> tracing::Span {
            tracing::info_span!("echo", session = tracing::field::Empty, %peer)
        }

        fn refusal(&self, refused: Refused) -> Vec<u8> {
            format!("no {}\n", refused.label()).into_bytes()
        }

        async fn serve(
            self: Arc<Self>,
            _: (),
            mut stream: TcpStream,
            _: SocketAddr,
            mut shutdown: ShutdownSignal,
        ) {
            let _ = stream.write_all(b"hello\n").await;
            let mut buffer = [0; 64];
            loop {
                tokio::select! {
                    read = stream.read(&mut buffer) => match read {
                        Ok(0) | Err(_) => return,
                        Ok(n) => { let _ = stream.write_all(&buffer[..n]).await; }
                    },
                    _ = shutdown.changed() => {
                        let _ = stream.write_all(b"bye\n").await;
                        return;
                    }
                }
            }
        }
    }

    async fn read_some(stream: &mut TcpStream) -> String {
        let mut buffer = [0; 64];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
            .await
            .expect("the server answers")
            .unwrap();
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    }

    #[tokio::test]
    async fn serves_refuses_in_the_protocols_words_and_drains_on_shutdown() {
        let echo = Arc::new(Echo {
            gate: Gate::new(10, 1, Duration::ZERO),
        });
        let any = ["127.0.0.1:0".to_string()];
        let server = Server::bind(echo, &[((), &any[..])]).await.unwrap();
        let addr = server.local_addrs()[0].1;
        let shutdown = server.shutdown_handle();
        let running = tokio::spawn(server.run());

        let mut first = TcpStream::connect(addr).await.unwrap();
        assert_eq!(read_some(&mut first).await, "hello\n");
        first.write_all(b"ping\n").await.unwrap();
        assert_eq!(read_some(&mut first).await, "ping\n");

        // The same address again: over its cap of one.
        let mut second = TcpStream::connect(addr).await.unwrap();
        assert_eq!(read_some(&mut second).await, "no per_ip\n");
        assert_eq!(read_some(&mut second).await, "", "closed after the refusal");

        shutdown.trigger();
        assert_eq!(read_some(&mut first).await, "bye\n");
        tokio::time::timeout(Duration::from_secs(5), running)
            .await
            .expect("run ends once the sessions are done")
            .unwrap();
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "no longer listening"
        );
    }
}
