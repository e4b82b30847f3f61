//! One connection to a receiving server: buffered reads of replies and writes, each under a
//! deadline, and the STARTTLS upgrade.

use std::io;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Reply;

enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Closed,
}

/// A connection with a read buffer.
pub(super) struct Conn {
    io: Io,
    buf: Vec<u8>,
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("timeout waiting for {what}"),
    )
}

/// Longest reply line and most lines accepted (RFC 5321 4.5.3.1.5: 512 octets).
const MAX_LINE: usize = 4096;
const MAX_LINES: usize = 200;

impl Conn {
    /// A fresh plain-text connection.
    pub(super) fn new(tcp: TcpStream) -> Conn {
        Conn {
            io: Io::Plain(tcp),
            buf: Vec::new(),
        }
    }

    async fn read_more(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 4096];
        let n = match &mut self.io {
            Io::Plain(s) => s.read(&mut chunk).await?,
            Io::Tls(s) => s.read(&mut chunk).await?,
            Io::Closed => 0,
        };
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed by the server",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    async fn read_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                let text = String::from_utf8_lossy(&line);
                return Ok(text.trim_end_matches(['\r', '\n']).to_string());
            }
            if self.buf.len() > MAX_LINE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "reply line too long",
                ));
            }
            self.read_more().await?;
        }
    }

    async fn read_reply_inner(&mut self) -> io::Result<Reply> {
        let mut lines = vec![];
        let mut code = 0u16;
        loop {
            let line = self.read_line().await?;
            let bytes = line.as_bytes();
            if bytes.len() < 3 || !bytes[..3].iter().all(u8::is_ascii_digit) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("malformed reply {line:?}"),
                ));
            }
            let this: u16 = line[..3].parse().unwrap_or(0);
            if !(200..600).contains(&this) || (code != 0 && this != code) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("malformed reply {line:?}"),
                ));
            }
            code = this;
            let more = bytes.get(3) == Some(&b'-');
            lines.push(line.get(4..).unwrap_or("").to_string());
            if !more {
                return Ok(Reply { code, lines });
            }
            if lines.len() > MAX_LINES {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "reply too long"));
            }
        }
    }

    pub(super) async fn read_reply(&mut self, timeout: Duration, what: &str) -> io::Result<Reply> {
        tokio::time::timeout(timeout, self.read_reply_inner())
            .await
            .map_err(|_| timed_out(what))?
    }

    pub(super) async fn write_all(&mut self, data: &[u8], timeout: Duration) -> io::Result<()> {
        let write = async {
            match &mut self.io {
                Io::Plain(s) => {
                    s.write_all(data).await?;
                    s.flush().await
                }
                Io::Tls(s) => {
                    s.write_all(data).await?;
                    s.flush().await
                }
                Io::Closed => Err(io::Error::new(io::ErrorKind::NotConnected, "closed")),
            }
        };
        tokio::time::timeout(timeout, write)
            .await
            .map_err(|_| timed_out("the server to take data"))?
    }

    pub(super) async fn command(&mut self, line: &str, timeout: Duration) -> io::Result<Reply> {
        self.write_all(format!("{line}\r\n").as_bytes(), timeout)
            .await?;
        let verb = line.split([' ', ':']).next().unwrap_or(line);
        self.read_reply(timeout, &format!("the reply to {verb}"))
            .await
    }

    pub(super) async fn starttls(
        &mut self,
        connector: &tokio_rustls::TlsConnector,
        name: ServerName<'static>,
        timeout: Duration,
    ) -> io::Result<()> {
        if !self.buf.is_empty() {
            // RFC 3207 5: nothing may follow the 220 before the handshake (injection).
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "data after the STARTTLS reply",
            ));
        }
        let Io::Plain(tcp) = std::mem::replace(&mut self.io, Io::Closed) else {
            return Err(io::Error::other("STARTTLS on a TLS connection"));
        };
        let tls = tokio::time::timeout(timeout, connector.connect(name, tcp))
            .await
            .map_err(|_| timed_out("the TLS handshake"))??;
        self.io = Io::Tls(Box::new(tls));
        Ok(())
    }

    pub(super) async fn quit(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            if self
                .write_all(b"QUIT\r\n", Duration::from_secs(5))
                .await
                .is_ok()
            {
                let _ = self.read_reply_inner().await;
            }
        })
        .await;
    }
}
