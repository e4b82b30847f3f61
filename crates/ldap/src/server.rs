//! The LDAP listeners on the shared `listener` skeleton: `ldap` (389, StartTLS) and `ldaps`
//! (636, TLS from the first byte); refusals are a Notice of Disconnection (RFC 4511 4.4.1).

use std::net::SocketAddr;
use std::sync::Arc;

use ldap3_proto::proto::LdapResultCode;
use listener::{Refused, ShutdownSignal};
use tokio::net::TcpStream;

use crate::session::{encode, notice_of_disconnection, Outcome, Session};
use crate::Context;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Plain, with StartTLS.
    Ldap,
    /// Implicit TLS.
    Ldaps,
}

pub struct Server(listener::Server<Context>);

impl Server {
    pub async fn bind(
        context: Arc<Context>,
        ldap: &[String],
        ldaps: &[String],
    ) -> std::io::Result<Server> {
        listener::Server::bind(context, &[(Kind::Ldap, ldap), (Kind::Ldaps, ldaps)])
            .await
            .map(Server)
    }

    pub fn local_addrs(&self) -> Vec<(Kind, SocketAddr)> {
        self.0.local_addrs()
    }

    pub fn shutdown_handle(&self) -> listener::Shutdown {
        self.0.shutdown_handle()
    }

    pub async fn run(self) {
        self.0.run().await
    }
}

impl listener::Protocol for Context {
    type Kind = Kind;
    const NAME: &'static str = "ldap";

    fn kind_name(kind: Kind) -> &'static str {
        match kind {
            Kind::Ldap => "ldap",
            Kind::Ldaps => "ldaps",
        }
    }

    fn gate(&self) -> &listener::Gate {
        &self.gate
    }

    fn span(&self, kind: Kind, peer: SocketAddr) -> tracing::Span {
        tracing::info_span!("ldap", kind = Self::kind_name(kind), session = tracing::field::Empty, %peer)
    }

    /// RFC 4511 4.4.1: an unsolicited notice; busy (51) says the server is too busy.
    fn refusal(&self, refused: Refused) -> Vec<u8> {
        encode(notice_of_disconnection(
            LdapResultCode::Busy,
            refused.text(),
        ))
    }

    async fn serve(
        self: Arc<Self>,
        kind: Kind,
        stream: TcpStream,
        peer: SocketAddr,
        shutdown: ShutdownSignal,
    ) {
        let mut session = Session::new(self.clone(), peer, shutdown);
        let deadline = self.settings.tls_handshake_timeout;
        match kind {
            Kind::Ldaps => {
                let Some(acceptor) = &self.tls else { return };
                if let Some(tls) = listener::tls::handshake(acceptor, stream, deadline).await {
                    session.set_tls();
                    let _ = session.run(tls).await;
                }
            }
            Kind::Ldap => {
                if let (Ok(Outcome::StartTls(plain)), Some(acceptor)) =
                    (session.run(stream).await, &self.tls)
                {
                    if let Some(tls) = listener::tls::handshake(acceptor, plain, deadline).await {
                        session.set_tls();
                        let _ = session.run(tls).await;
                    }
                }
            }
        }
    }
}
