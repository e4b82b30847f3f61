//! One SMTP connection: state and the command loop.
//!
//! Implementation notes:
//! - Commands of one connection never run concurrently; replies are buffered and flushed when
//!   the peer has nothing more pipelined (RFC 2920), and always before waiting for input that
//!   depends on them (DATA's 354, AUTH challenges, STARTTLS).
//! - Every read is bounded in size (line and message limits) and in time (idle timeout).
//! - STARTTLS discards anything buffered after the command (RFC 3207 4.2) and resets the
//!   session to the state after the greeting.
//! - The envelope lives in a [`Transaction`] that MAIL creates and RSET, HELO/EHLO, STARTTLS and
//!   the end of DATA/BDAT drop ([`Session::end_transaction`]).
//! - Who reads the next bytes is a [`Receive`] state: command lines, or the message data that
//!   DATA and BDAT announce, read right after the command (`cmd/data.rs`).

use std::net::SocketAddr;
use std::sync::Arc;

use smtp_proto::Request;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use crate::codes::*;
use crate::io::{read_line, Line};
use crate::listener_kind::ListenerKind;
use crate::Context;

/// How often a waiting session looks at its deadlines and at the connection pressure.
const PRESSURE_CHECK: std::time::Duration = std::time::Duration::from_millis(500);

/// When a session waiting since `started` for a command line must look again: at the idle
/// deadline, or — unauthenticated, with slots running low — once the pressure timeout has
/// passed, then every [`PRESSURE_CHECK`].
fn next_check(
    settings: &crate::Settings,
    started: tokio::time::Instant,
    sheddable: bool,
    under_pressure: bool,
) -> tokio::time::Instant {
    let idle_deadline = started + settings.idle_timeout;
    if !(sheddable && under_pressure) {
        return idle_deadline;
    }
    let now = tokio::time::Instant::now();
    let shed_from = started + settings.pressure_idle_timeout;
    let next = if now < shed_from {
        shed_from
    } else {
        now + PRESSURE_CHECK
    };
    next.min(idle_deadline)
}

/// How waiting for a command line ended.
enum WaitEnd {
    Line(std::io::Result<Line>),
    Shutdown,
    Timeout,
    /// Shed to free a connection slot.
    Shed,
}

/// How a session run ended.
pub enum Outcome<S> {
    Closed,
    /// The peer asked for STARTTLS: here is the raw stream to upgrade.
    StartTls(S),
}

/// The authenticated user of a submission session: the person who submits (and is audited).
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub account_id: i64,
    pub address: String,
    /// A `UNIT*PERSON` login: the unit mailbox the session submits for, as the unit only
    /// (with the person in `Sender:`), and only while the person holds the send right.
    pub unit: Option<UnitMailbox>,
}

/// The unit mailbox of a `UNIT*PERSON` submission login.
#[derive(Debug, Clone)]
pub struct UnitMailbox {
    pub account_id: i64,
    pub address: String,
}

impl Session {
    /// The addresses `user` may send as, read now: their own and the units they may send for;
    /// in a unit login only the unit's addresses, none without the send right, and None once
    /// the person holds no right on the unit at all (the login has ended).
    pub(crate) async fn sendable_for(
        &self,
        user: &AuthUser,
    ) -> storage::Result<Option<Vec<String>>> {
        let store = &self.context.store;
        let Some(unit) = &user.unit else {
            return store.sendable_addresses(user.account_id).await.map(Some);
        };
        match store.unit_access(&unit.address, user.account_id).await? {
            Some(access) if access.rights.contains('l') && access.may_send => {
                store.account_addresses(unit.account_id).await.map(Some)
            }
            Some(access) if access.rights.contains('l') => Ok(Some(vec![])),
            _ => Ok(None),
        }
    }
}

/// Where an accepted recipient goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientTarget {
    /// Local accounts (one for an address or alias, several for a group).
    Local(Vec<i64>),
    /// Outside our domains (submission only): the outbound queue.
    Remote,
}

#[derive(Debug, Clone)]
pub struct Recipient {
    pub address: String,
    pub target: RecipientTarget,
    pub notify: Option<String>,
    pub orcpt: Option<String>,
}

/// The envelope of the message being received.
#[derive(Debug, Clone, Default)]
pub struct Transaction {
    /// Reverse path; empty for the null sender.
    pub from: String,
    pub env_id: Option<String>,
    pub ret: Option<String>,
    pub smtputf8: bool,
    pub recipients: Vec<Recipient>,
}

/// Who reads the next bytes of the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Receive {
    /// A command line. `chunked`: the message of this transaction arriving in BDAT chunks,
    /// until BDAT LAST (RFC 3030 2).
    Command { chunked: Option<Chunked> },
    /// The DATA body after 354, up to `<CRLF>.<CRLF>` (RFC 5321 4.1.1.4).
    Data,
    /// A BDAT chunk of `size` octets, appended to `message` (the chunks so far); `last` ends
    /// the message.
    Chunk {
        size: usize,
        last: bool,
        message: Vec<u8>,
    },
    /// A BDAT chunk of `size` octets, read and dropped (the chunk follows the command whatever
    /// the answer): BDAT was refused (`refusal`, given once the chunk is read), or the message
    /// is over the size limit (None).
    DiscardChunk {
        size: usize,
        last: bool,
        refusal: Option<Reply>,
    },
}

impl Receive {
    /// Command lines, no message in progress.
    pub(crate) const COMMANDS: Receive = Receive::Command { chunked: None };
}

/// A message arriving in BDAT chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Chunked {
    /// The chunks so far.
    Receiving(Vec<u8>),
    /// Over the size limit: the remaining chunks are read and dropped, BDAT LAST answers 552.
    TooBig,
}

/// What the loop does after a command.
pub(crate) enum Next {
    Continue,
    Close,
    StartTls,
}

pub struct Session {
    pub(crate) context: Arc<Context>,
    pub(crate) kind: ListenerKind,
    pub(crate) peer: SocketAddr,
    pub(crate) id: String,
    pub(crate) tls: bool,
    pub(crate) greeted: bool,
    /// The HELO/EHLO name once given.
    pub(crate) helo: Option<String>,
    pub(crate) esmtp: bool,
    pub(crate) auth: Option<AuthUser>,
    pub(crate) transaction: Option<Transaction>,
    pub(crate) receive: Receive,
    /// The virus scan of the message being received, fed as it arrives (issue 18).
    pub(crate) scanning: Option<policy::antivirus::StreamScan>,
    pub(crate) n_messages: usize,
    pub(crate) n_commands_before_mail: usize,
    pub(crate) n_errors: usize,
    shutdown: listener::ShutdownSignal,
}

/// The buffered stream a session reads commands from and writes replies to.
pub(crate) type Io<S> = BufReader<S>;

/// Writes the pending replies and empties the buffer.
pub(crate) async fn flush<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut Io<S>,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    if !out.is_empty() {
        io.get_mut().write_all(out).await?;
        io.get_mut().flush().await?;
        out.clear();
    }
    Ok(())
}

impl Session {
    pub fn new(
        context: Arc<Context>,
        kind: ListenerKind,
        peer: SocketAddr,
        shutdown: impl Into<listener::ShutdownSignal>,
    ) -> Session {
        Session {
            context,
            kind,
            peer,
            // Also recorded on the connection's tracing span (every log line has it).
            id: listener::session_id("s"),
            tls: false,
            greeted: false,
            helo: None,
            esmtp: false,
            auth: None,
            transaction: None,
            receive: Receive::COMMANDS,
            scanning: None,
            n_messages: 0,
            n_commands_before_mail: 0,
            n_errors: 0,
            shutdown: shutdown.into(),
        }
    }

    /// The stream is now TLS: forget everything learnt before (RFC 3207 4.2).
    pub fn set_tls(&mut self) {
        self.tls = true;
        self.helo = None;
        self.esmtp = false;
        self.auth = None;
        self.end_transaction();
    }

    /// Drops the envelope and any message data received for it.
    pub(crate) fn end_transaction(&mut self) {
        self.transaction = None;
        self.scanning = None;
        self.receive = Receive::COMMANDS;
    }

    /// True when AUTH may be offered and used on this connection.
    pub(crate) fn auth_allowed(&self) -> bool {
        self.kind != ListenerKind::Mx
            && (self.tls
                || (self.context.settings.allow_plaintext_loopback && self.peer.ip().is_loopback()))
    }

    /// Counts a protocol error; true when the peer has made too many (close the connection).
    pub(crate) fn error_limit_reached(&mut self) -> bool {
        self.n_errors += 1;
        self.n_errors >= self.context.settings.max_errors
    }

    /// Runs the command loop on `stream` until the peer quits, errs too often, idles, asks for
    /// STARTTLS, or the server shuts down.
    pub async fn run<S>(&mut self, stream: S) -> std::io::Result<Outcome<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let settings = self.context.settings.clone();
        let mut io = BufReader::with_capacity(16 * 1024, stream);
        let mut out = Vec::with_capacity(1024);
        if !self.greeted {
            self.greeted = true;
            // RFC 5321 4.2: the greeting has no enhanced code.
            Reply::new(220, "", format!("{} ESMTP govmail", settings.hostname)).encode(&mut out);
        }
        loop {
            if io.buffer().is_empty() {
                flush(&mut io, &mut out).await?;
            }
            // One command line, within the idle timeout in all; when connection slots run
            // low, an unauthenticated session that has waited longer than the pressure
            // timeout for its line is shed to make room (slowloris).
            let started = tokio::time::Instant::now();
            let sheddable = self.auth.is_none();
            let context = &self.context;
            let shutdown = &mut self.shutdown;
            let wait = async {
                let read = read_line(
                    &mut io,
                    settings.max_line_length,
                    settings.max_line_length * 4,
                );
                tokio::pin!(read);
                // No timer ticks while nothing can happen: wake at the next deadline, or when
                // the listener reports that slots are running low.
                let mut next =
                    next_check(&settings, started, sheddable, context.gate.under_pressure());
                loop {
                    tokio::select! {
                        line = &mut read => return WaitEnd::Line(line),
                        _ = shutdown.changed() => return WaitEnd::Shutdown,
                        _ = context.gate.pressure_notified(), if sheddable => {
                            next = next_check(&settings, started, sheddable, true);
                        }
                        _ = tokio::time::sleep_until(next) => {
                            let waited = started.elapsed();
                            if waited >= settings.idle_timeout {
                                return WaitEnd::Timeout;
                            }
                            let pressure = context.gate.under_pressure();
                            if sheddable && waited >= settings.pressure_idle_timeout && pressure {
                                return WaitEnd::Shed;
                            }
                            next = next_check(&settings, started, sheddable, pressure);
                        }
                    }
                }
            }
            .await;
            let line = match wait {
                WaitEnd::Line(line) => line?,
                WaitEnd::Shutdown => {
                    reply(
                        C421_SHUTDOWN,
                        format!("{} shutting down, try again later", settings.hostname),
                    )
                    .encode(&mut out);
                    flush(&mut io, &mut out).await?;
                    return Ok(Outcome::Closed);
                }
                WaitEnd::Timeout => {
                    reply(C421_TIMEOUT, "Idle timeout, closing connection").encode(&mut out);
                    let _ = flush(&mut io, &mut out).await;
                    return Ok(Outcome::Closed);
                }
                WaitEnd::Shed => {
                    metrics::counter!("govmail_connections_shed_total", "protocol" => "smtp")
                        .increment(1);
                    tracing::info!(session = %self.id, "slow client shed: connection slots low");
                    reply(
                        C421_TOO_BUSY,
                        "Too slow while the server is busy, try again later",
                    )
                    .encode(&mut out);
                    let _ = tokio::time::timeout(PRESSURE_CHECK, flush(&mut io, &mut out)).await;
                    return Ok(Outcome::Closed);
                }
            };
            let line = match line {
                Line::Complete(line) => line,
                Line::Eof => {
                    let _ = flush(&mut io, &mut out).await;
                    return Ok(Outcome::Closed);
                }
                Line::Endless => {
                    reply(C500_LINE_TOO_LONG, "Line too long, closing connection").encode(&mut out);
                    let _ = flush(&mut io, &mut out).await;
                    return Ok(Outcome::Closed);
                }
                Line::TooLong { .. } => {
                    // RFC 5321 4.5.3.1.4 / 4.5.3.1.6.
                    reply(
                        C500_LINE_TOO_LONG,
                        format!("Line longer than {} bytes", settings.max_line_length),
                    )
                    .encode(&mut out);
                    if self.error_limit_reached() {
                        reply(C421_TOO_BUSY, "Too many errors, closing connection")
                            .encode(&mut out);
                        let _ = flush(&mut io, &mut out).await;
                        return Ok(Outcome::Closed);
                    }
                    continue;
                }
            };
            match self.dispatch(&mut io, &mut out, &line).await? {
                Next::Continue => {}
                Next::Close => {
                    let _ = flush(&mut io, &mut out).await;
                    let _ = io.get_mut().shutdown().await;
                    return Ok(Outcome::Closed);
                }
                Next::StartTls => {
                    flush(&mut io, &mut out).await?;
                    // Dropping the buffer discards anything pipelined after STARTTLS.
                    return Ok(Outcome::StartTls(io.into_inner()));
                }
            }
        }
    }

    /// Parses one command line and runs its handler.
    async fn dispatch<S>(
        &mut self,
        io: &mut Io<S>,
        out: &mut Vec<u8>,
        line: &[u8],
    ) -> std::io::Result<Next>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        if let Some(problem) = command_line_problem(line) {
            reply(C501_ARGS_SYNTAX, problem).encode(out);
            if self.error_limit_reached() {
                reply(C421_TOO_BUSY, "Too many errors, closing connection").encode(out);
                return Ok(Next::Close);
            }
            return Ok(Next::Continue);
        }
        let parsed = Request::parse(&mut line.iter());
        let request = match parsed {
            Ok(request) => request,
            Err(error) => {
                let r = match error {
                    smtp_proto::Error::UnknownCommand => reply(C500_SYNTAX, "Command unrecognised"),
                    smtp_proto::Error::InvalidSenderAddress => {
                        reply(C501_BAD_SENDER, "Bad sender address syntax")
                    }
                    smtp_proto::Error::InvalidRecipientAddress => {
                        reply(C501_BAD_RCPT, "Bad recipient address syntax")
                    }
                    smtp_proto::Error::SyntaxError { syntax } => {
                        reply(C501_ARGS, format!("Syntax: {syntax}"))
                    }
                    smtp_proto::Error::InvalidParameter { param } => {
                        reply(C501_ARGS, format!("Invalid parameter {param}"))
                    }
                    smtp_proto::Error::UnsupportedParameter { param } => reply(
                        C555_PARAM_NOT_SUPPORTED,
                        format!("Unsupported parameter {param}"),
                    ),
                    _ => reply(C500_SYNTAX, "Syntax error"),
                };
                r.encode(out);
                if self.error_limit_reached() {
                    reply(C421_TOO_BUSY, "Too many errors, closing connection").encode(out);
                    return Ok(Next::Close);
                }
                return Ok(Next::Continue);
            }
        };
        // Commands that do not move a transaction forward are capped before MAIL.
        let idle_command = matches!(
            request,
            Request::Noop { .. }
                | Request::Rset
                | Request::Vrfy { .. }
                | Request::Expn { .. }
                | Request::Help { .. }
                | Request::Ehlo { .. }
                | Request::Helo { .. }
        );
        if idle_command && self.transaction.is_none() {
            self.n_commands_before_mail += 1;
            if self.n_commands_before_mail > self.context.settings.max_commands_before_mail {
                reply(
                    C421_TOO_BUSY,
                    "Too many commands without mail, closing connection",
                )
                .encode(out);
                return Ok(Next::Close);
            }
        }
        let next = match request {
            Request::Ehlo { host } => self.ehlo(out, &host, true),
            Request::Helo { host } => self.ehlo(out, &host, false),
            Request::Lhlo { .. } => {
                reply(C500_SYNTAX, "LHLO is for LMTP").encode(out);
                Next::Continue
            }
            Request::StartTls => self.starttls(out),
            Request::Auth {
                mechanism,
                initial_response,
            } => self.auth(io, out, mechanism, &initial_response).await?,
            Request::Mail { from } => self.mail(out, from).await,
            Request::Rcpt { to } => self.rcpt(out, to, names_bare_postmaster(line)).await,
            Request::Data => self.data(out),
            Request::Bdat {
                chunk_size,
                is_last,
            } => self.bdat(chunk_size, is_last),
            Request::Rset => {
                // RFC 3030 3: RSET also clears the BDAT chunks received.
                self.end_transaction();
                reply(C250_OK, "Reset").encode(out);
                Next::Continue
            }
            Request::Noop { .. } => {
                reply(C250_OK, "OK").encode(out);
                Next::Continue
            }
            Request::Vrfy { .. } => {
                // RFC 5321 3.5.3: do not disclose the directory.
                reply(
                    C252_CANNOT_VRFY,
                    "Cannot VRFY user, but will accept message and attempt delivery",
                )
                .encode(out);
                Next::Continue
            }
            Request::Expn { .. } => {
                reply(C502_NOT_IMPLEMENTED, "EXPN is not available").encode(out);
                Next::Continue
            }
            Request::Help { .. } => {
                Reply::new(214, "2.0.0", "See RFC 5321; commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT STARTTLS AUTH")
                    .encode(out);
                Next::Continue
            }
            Request::Quit => {
                reply(
                    C221_BYE,
                    format!("{} closing connection", self.context.settings.hostname),
                )
                .encode(out);
                Next::Close
            }
            Request::Etrn { .. } | Request::Atrn { .. } | Request::Burl { .. } => {
                reply(C502_NOT_IMPLEMENTED, "Command not implemented").encode(out);
                Next::Continue
            }
        };
        match next {
            // DATA or BDAT: the message data follows the command.
            Next::Continue => self.receive_data(io, out).await,
            next => Ok(next),
        }
    }
}

/// Why a command line cannot be a command, before parsing: RFC 5321 2.3.8 / 4.1.1 allow no
/// control characters but the CRLF ending, and RFC 6531 3.3 allows only UTF-8 beyond ASCII.
fn command_line_problem(line: &[u8]) -> Option<&'static str> {
    let content = line.strip_suffix(b"\n").unwrap_or(line);
    let content = content.strip_suffix(b"\r").unwrap_or(content);
    if content
        .iter()
        .any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
    {
        return Some("Control characters (NUL, bare CR or LF) are not allowed in commands");
    }
    if std::str::from_utf8(content).is_err() {
        return Some("Command is not valid UTF-8");
    }
    None
}

/// True for `RCPT TO:<postmaster>` in any case (RFC 5321 4.5.1): smtp-proto reads that path
/// as the empty one, so the raw line tells them apart.
fn names_bare_postmaster(line: &[u8]) -> bool {
    let lower = line.to_ascii_lowercase();
    lower
        .strip_prefix(b"rcpt to:")
        .map(|rest| rest.trim_ascii_start())
        .is_some_and(|path| path.starts_with(b"<postmaster>"))
}
