//! One IMAP connection: the greeting, command framing with literals, the command loop
//! (commands run through [`crate::cmd`]), STARTTLS hand-off, idle and login deadlines.
//!
//! Implementation notes:
//! - Commands of one connection run one at a time; responses are buffered and flushed before
//!   the next read and before every continuation request.
//! - Framing reads one line at a time (bounded by `max_line_length`); a line ending with a
//!   literal announcement is followed by exactly that many bytes (bounded by `max_literal`,
//!   `+` continuation sent for synchronising literals, RFC 9051 4.3 / RFC 7888). A command is
//!   bounded by `max_command`, an APPEND (all its messages and parts) by `max_append_bytes`
//!   and `max_append_parts`; a refused APPEND gets NO and stores nothing.
//! - Untagged EXISTS/EXPUNGE/FETCH about other sessions' changes are sent at command
//!   boundaries and during IDLE (see `selected`), never in the middle of a response.
//! - The state enum carries each state's data: who is logged in, which folder is selected
//!   (see [`crate::state`]).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use crate::cmd::Next;
use crate::protocol;
pub use crate::state::Session;
use crate::state::{wait_revoked, Io, State};
use crate::Context;

/// How a session run ended.
pub enum Outcome<S> {
    Closed,
    StartTls(S),
}

/// A complete command as read from the wire, or why there is none.
enum Frame {
    Command(Vec<u8>),
    /// Too long or a literal too large: answer BAD/NO with this text and go on.
    Refused {
        tag: Option<String>,
        /// `BAD`, or `NO` for an APPEND (RFC 3502, RFC 4469 4.2 TOOBIG).
        status: &'static str,
        text: String,
    },
    Eof,
}

fn tag_of(line: &[u8]) -> Option<String> {
    let end = line.iter().position(|&b| b == b' ')?;
    let tag = std::str::from_utf8(&line[..end]).ok()?;
    (!tag.is_empty()
        && tag
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'{' && b != b'*' && b != b'+'))
    .then(|| tag.to_string())
}

impl Session {
    pub fn new(
        context: Arc<Context>,
        peer: SocketAddr,
        shutdown: impl Into<listener::ShutdownSignal>,
    ) -> Session {
        let revocations = context.revocations.subscribe();
        Session {
            revocations,
            context,
            peer,
            // Also recorded on the connection's tracing span (every log line has it).
            id: listener::session_id("i"),
            tls: false,
            greeted: false,
            state: State::NotAuthenticated,
            condstore: false,
            qresync: false,
            utf8: false,
            rev2: false,
            n_errors: 0,
            shutdown: shutdown.into(),
            out: Vec::with_capacity(256),
            connected_at: tokio::time::Instant::now(),
            contexts: Default::default(),
            notify: None,
            fetch_ext: Default::default(),
        }
    }

    pub fn set_tls(&mut self) {
        self.tls = true;
    }

    /// Reads one complete command: its lines and literals.
    async fn read_frame<S>(&mut self, io: &mut Io<S>) -> std::io::Result<Frame>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let settings = self.context.settings.clone();
        let mut command = Vec::new();
        let mut n_literals = 0usize;
        loop {
            let mut line = Vec::new();
            let n = (&mut *io)
                .take(settings.max_line_length as u64 + 1)
                .read_until(b'\n', &mut line)
                .await?;
            if n == 0 {
                return Ok(Frame::Eof);
            }
            if !line.ends_with(b"\n") {
                // Over-long line: drop the rest of it (bounded) and refuse the command.
                let tag = tag_of(&command).or_else(|| tag_of(&line));
                let mut skipped = 0usize;
                loop {
                    let buf = io.fill_buf().await?;
                    if buf.is_empty() {
                        return Ok(Frame::Eof);
                    }
                    match buf.iter().position(|&b| b == b'\n') {
                        Some(pos) => {
                            io.consume(pos + 1);
                            break;
                        }
                        None => {
                            let len = buf.len();
                            io.consume(len);
                            skipped += len;
                            if skipped > settings.max_literal {
                                return Ok(Frame::Eof);
                            }
                        }
                    }
                }
                return Ok(Frame::Refused {
                    tag,
                    status: "BAD",
                    text: "[TOOBIG] Command line too long".into(),
                });
            }
            command.extend_from_slice(&line);
            let Some(literal) = protocol::literal_at_end(&line) else {
                return Ok(Frame::Command(command));
            };
            let tag = tag_of(&command);
            n_literals += 1;
            // APPEND is bounded as a whole (every message and CATENATE part, RFC 3502,
            // RFC 4469), other commands by max_command.
            let append = command_is_append(&command);
            let limit = if append {
                settings.max_append_bytes
            } else {
                settings.max_command
            };
            let refusal = if literal.length > settings.max_literal as u64 {
                Some(format!(
                    "[TOOBIG] Literal larger than {} bytes",
                    settings.max_literal
                ))
            } else if command.len() as u64 + literal.length > limit as u64 {
                Some(format!("[TOOBIG] Command larger than {limit} bytes"))
            } else if append && n_literals > settings.max_append_parts {
                Some(format!(
                    "[LIMIT] At most {} messages and parts in one APPEND",
                    settings.max_append_parts
                ))
            } else {
                None
            };
            if let Some(text) = refusal {
                // RFC 7888 4: the client sends non-synchronising literals anyway: read and
                // drop the rest of the command (bounded), so the next command starts clean.
                // After a synchronising one the client waits for a "+" that never comes.
                if literal.non_sync && !drain_command(io, literal.length, &settings).await? {
                    return Ok(Frame::Eof);
                }
                return Ok(Frame::Refused {
                    tag,
                    status: if append { "NO" } else { "BAD" },
                    text,
                });
            }
            if !literal.non_sync {
                self.out.extend_from_slice(b"+ Ready for literal data\r\n");
                self.flush(io).await?;
            }
            let start = command.len();
            command.resize(start + literal.length as usize, 0);
            io.read_exact(&mut command[start..]).await?;
        }
    }

    /// Runs the command loop until LOGOUT, EOF, idle timeout, STARTTLS or shutdown.
    pub async fn run<S>(&mut self, stream: S) -> std::io::Result<Outcome<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let mut io = BufReader::with_capacity(4096, stream);
        if !self.greeted {
            self.greeted = true;
            let caps = self.capabilities();
            self.untagged(&format!(
                "OK [CAPABILITY {caps}] {} IMAP server ready",
                self.context.settings.hostname
            ));
        }
        loop {
            self.flush(&mut io).await?;
            // Before login, the whole session has the login timeout (slow or idle clients
            // holding slots are cut off); after, each command waits up to the autologout.
            let settings = &self.context.settings;
            let authenticated = self.state.user().is_some();
            let idle = if authenticated {
                settings.idle_timeout
            } else {
                settings
                    .login_timeout
                    .saturating_sub(self.connected_at.elapsed())
            };
            // RFC 5465: with NOTIFY, changes are told while waiting for the next command.
            if authenticated && self.notify.is_some() {
                if let crate::cmd::notify::Wake::Stop(line) =
                    self.notify_wait(&mut io, idle).await?
                {
                    self.untagged(line);
                    let _ = self.flush(&mut io).await;
                    return Ok(Outcome::Closed);
                }
            }
            let mut shutdown = self.shutdown.clone();
            let mut revoked = self.revocations.resubscribe();
            let account = self
                .state
                .user()
                .map(|u| u.login_watch(&self.context.store));
            let frame = tokio::select! {
                frame = tokio::time::timeout(idle, self.read_frame(&mut io)) => frame,
                _ = wait_revoked(&mut revoked, account) => {
                    self.untagged("BYE [UNAVAILABLE] Your login has been ended by the administrator");
                    let _ = self.flush(&mut io).await;
                    return Ok(Outcome::Closed);
                }
                _ = shutdown.changed() => {
                    self.untagged("BYE [UNAVAILABLE] Server shutting down");
                    let _ = self.flush(&mut io).await;
                    return Ok(Outcome::Closed);
                }
            };
            let frame = match frame {
                Err(_) if !authenticated => {
                    // RFC 9051 5.4 bounds only the timer after authentication.
                    self.untagged("BYE [UNAVAILABLE] Login took too long");
                    let _ = self.flush(&mut io).await;
                    return Ok(Outcome::Closed);
                }
                Err(_) => {
                    // RFC 9051 5.4: autologout after at least 30 minutes of inactivity.
                    self.untagged("BYE Autologout; idle for too long");
                    let _ = self.flush(&mut io).await;
                    return Ok(Outcome::Closed);
                }
                Ok(frame) => frame?,
            };
            let bytes = match frame {
                Frame::Eof => return Ok(Outcome::Closed),
                Frame::Refused { tag, status, text } => {
                    let tag = tag.unwrap_or_else(|| "*".into());
                    self.out
                        .extend_from_slice(format!("{tag} {status} {text}\r\n").as_bytes());
                    if self.count_error() {
                        return self.close(&mut io).await;
                    }
                    continue;
                }
                Frame::Command(bytes) => bytes,
            };
            let tagged = match protocol::parse(&bytes) {
                Ok(tagged) => tagged,
                Err(error) => {
                    let tag = error.tag.unwrap_or_else(|| "*".into());
                    let text = if let Some(rest) = error.message.strip_prefix("BADCHARSET") {
                        // RFC 9051 6.4.4: NO [BADCHARSET (UTF-8)].
                        self.out.extend_from_slice(
                            format!("{tag} NO [BADCHARSET (UTF-8 US-ASCII)]{rest}\r\n").as_bytes(),
                        );
                        continue;
                    } else {
                        error.message
                    };
                    self.out
                        .extend_from_slice(format!("{tag} BAD {}\r\n", sanitize(&text)).as_bytes());
                    if self.count_error() {
                        return self.close(&mut io).await;
                    }
                    continue;
                }
            };
            match self.apply(&mut io, tagged).await? {
                Next::Continue => {}
                Next::Close => return self.close(&mut io).await,
                Next::StartTls => {
                    self.flush(&mut io).await?;
                    // Anything pipelined after STARTTLS is dropped with the buffer.
                    return Ok(Outcome::StartTls(io.into_inner()));
                }
            }
        }
    }

    async fn close<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut Io<S>,
    ) -> std::io::Result<Outcome<S>> {
        let _ = self.flush(io).await;
        let _ = io.get_mut().shutdown().await;
        Ok(Outcome::Closed)
    }
}

/// After a refused non-synchronising literal of `length` bytes: drops it and the rest of the
/// command, following further non-synchronising literals, at most `2 × max_append_bytes`
/// (and `max_literal`) bytes in all. False when that is exceeded or the stream ends: the
/// connection is closed.
async fn drain_command<S>(
    io: &mut Io<S>,
    length: u64,
    settings: &crate::Settings,
) -> std::io::Result<bool>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut budget = 2 * settings.max_append_bytes.max(settings.max_literal) as u64;
    let mut skip = length;
    loop {
        if skip > budget {
            return Ok(false);
        }
        budget -= skip;
        let copied = tokio::io::copy(&mut (&mut *io).take(skip), &mut tokio::io::sink()).await?;
        if copied < skip {
            return Ok(false);
        }
        let mut line = Vec::new();
        (&mut *io)
            .take(settings.max_line_length as u64 + 1)
            .read_until(b'\n', &mut line)
            .await?;
        if !line.ends_with(b"\n") {
            return Ok(false);
        }
        match protocol::literal_at_end(&line) {
            Some(next) if next.non_sync => skip = next.length,
            // The end of the command, or a synchronising literal the client waits on.
            _ => return Ok(true),
        }
    }
}

fn command_is_append(command: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&command[..command.len().min(64)]).to_ascii_uppercase();
    text.split_whitespace().nth(1) == Some("APPEND")
}

/// Keeps response text on one line.
pub(crate) fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
