//! The TLS handshake of a connection, with a deadline: implicit TLS from the first byte
//! (ports 465, 993) or after STARTTLS.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// The TLS stream, or `None` when the handshake failed or took longer than `deadline` (the
/// connection is then closed without a word: there is no channel to speak on).
pub async fn handshake<S>(
    acceptor: &TlsAcceptor,
    stream: S,
    deadline: Duration,
) -> Option<TlsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match tokio::time::timeout(deadline, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(error)) => {
            tracing::debug!(%error, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!("TLS handshake timed out");
            None
        }
    }
}
