//! SMTP listeners: the three kinds, the 421 refusals, and which session runs on a connection
//! (implicit TLS on submissions, STARTTLS upgrades on the others). The accept loop, the
//! connection caps, the TLS deadline and shutdown are the shared `listener` crate's.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use listener::{Refused, ShutdownSignal};
use tokio::net::TcpStream;

use crate::codes::{reply, C421_TOO_BUSY};
use crate::session::{Outcome, Session};
use crate::Context;

pub use crate::listener_kind::ListenerKind;
/// Stops every listener and session of a [`Server`].
pub use listener::Shutdown as ShutdownHandle;

/// A bound socket and the service it offers.
pub type Listener = listener::Listener<ListenerKind>;

/// How long a connection arriving when every slot is taken waits for one, while slow
/// unauthenticated sessions are shed to free slots.
pub(crate) const SLOT_WAIT: Duration = Duration::from_secs(3);

pub struct Server(listener::Server<Context>);

impl Server {
    pub fn new(context: Arc<Context>, listeners: Vec<Listener>) -> Server {
        Server(listener::Server::new(context, listeners))
    }

    /// Binds the three kinds of listener from address lists.
    pub async fn bind(
        context: Arc<Context>,
        mx: &[String],
        submission: &[String],
        submissions: &[String],
    ) -> std::io::Result<Server> {
        let addresses = [
            (ListenerKind::Mx, mx),
            (ListenerKind::Submission, submission),
            (ListenerKind::Submissions, submissions),
        ];
        listener::Server::bind(context, &addresses)
            .await
            .map(Server)
    }

    pub fn local_addrs(&self) -> Vec<(ListenerKind, SocketAddr)> {
        self.0.local_addrs()
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.0.shutdown_handle()
    }

    /// Accepts until shutdown; then waits (bounded) for sessions to finish. Sessions see the
    /// shutdown at their next command and close with 421.
    pub async fn run(self) {
        self.0.run().await
    }
}

impl listener::Protocol for Context {
    type Kind = ListenerKind;
    const NAME: &'static str = "smtp";

    fn kind_name(kind: ListenerKind) -> &'static str {
        kind.name()
    }

    fn gate(&self) -> &listener::Gate {
        &self.gate
    }

    fn span(&self, kind: ListenerKind, peer: SocketAddr) -> tracing::Span {
        // Every log line of the connection carries its peer and listener (structured logs).
        tracing::info_span!("smtp", session = tracing::field::Empty, %peer, listener = kind.name())
    }

    /// Connection caps are answered with 421 4.7.0 before any session.
    fn refusal(&self, refused: Refused) -> Vec<u8> {
        let mut out = vec![];
        reply(C421_TOO_BUSY, refused.text()).encode(&mut out);
        out
    }

    async fn serve(
        self: Arc<Self>,
        kind: ListenerKind,
        stream: TcpStream,
        peer: SocketAddr,
        shutdown: ShutdownSignal,
    ) {
        let mut session = Session::new(self.clone(), kind, peer, shutdown);
        let deadline = self.settings.tls_handshake_timeout;
        match kind {
            ListenerKind::Submissions => {
                let Some(acceptor) = &self.tls else {
                    return;
                };
                if let Some(tls) = listener::tls::handshake(acceptor, stream, deadline).await {
                    session.set_tls();
                    let _ = session.run(tls).await;
                }
            }
            ListenerKind::Mx | ListenerKind::Submission => {
                if let Ok(Outcome::StartTls(plain)) = session.run(stream).await {
                    let Some(acceptor) = &self.tls else {
                        return;
                    };
                    if let Some(tls) = listener::tls::handshake(acceptor, plain, deadline).await {
                        session.set_tls();
                        let _ = session.run(tls).await;
                    }
                }
            }
        }
    }
}
