//! The ManageSieve listener (port 4190, STARTTLS) on the shared `listener` skeleton: `BYE`
//! refusals, which session runs on a connection.

use std::net::SocketAddr;
use std::sync::Arc;

use listener::{Refused, ShutdownSignal};
use tokio::net::TcpStream;

use crate::session::{Outcome, Session};
use crate::Context;

pub struct Server(listener::Server<Context>);

impl Server {
    pub async fn bind(context: Arc<Context>, addresses: &[String]) -> std::io::Result<Server> {
        listener::Server::bind(context, &[((), addresses)])
            .await
            .map(Server)
    }

    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.0.local_addrs().into_iter().map(|(_, a)| a).collect()
    }

    pub fn shutdown_handle(&self) -> listener::Shutdown {
        self.0.shutdown_handle()
    }

    /// Accepts until shutdown; then waits (bounded) for sessions, which say `BYE`.
    pub async fn run(self) {
        self.0.run().await
    }
}

impl listener::Protocol for Context {
    type Kind = ();
    const NAME: &'static str = "managesieve";

    fn kind_name(_: ()) -> &'static str {
        "managesieve"
    }

    fn gate(&self) -> &listener::Gate {
        &self.gate
    }

    fn span(&self, _: (), peer: SocketAddr) -> tracing::Span {
        tracing::info_span!("managesieve", session = tracing::field::Empty, %peer)
    }

    /// RFC 5804 1.3: BYE ends the connection; TRYLATER says to come back.
    fn refusal(&self, refused: Refused) -> Vec<u8> {
        crate::wire::response("BYE", Some("TRYLATER"), refused.text()).into_bytes()
    }

    async fn serve(
        self: Arc<Self>,
        _: (),
        stream: TcpStream,
        peer: SocketAddr,
        shutdown: ShutdownSignal,
    ) {
        let mut session = Session::new(self.clone(), peer, shutdown);
        if let (Ok(Outcome::StartTls(plain)), Some(acceptor)) =
            (session.run(stream).await, &self.tls)
        {
            let deadline = self.settings.tls_handshake_timeout;
            if let Some(tls) = listener::tls::handshake(acceptor, plain, deadline).await {
                session.set_tls();
                let _ = session.run(tls).await;
            }
        }
    }
}
