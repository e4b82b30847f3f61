//! One IMAP connection: the state enum, command framing with literals, dispatch.
//!
//! Implementation notes:
//! - Commands of one connection run one at a time; responses are buffered and flushed before
//!   the next read and before every continuation request.
//! - Framing reads one line at a time (bounded by `max_line_length`); a line ending with a
//!   literal announcement is followed by exactly that many bytes (bounded by `max_literal`,
//!   `+` continuation sent for synchronising literals, RFC 9051 4.3 / RFC 7888).
//! - Untagged EXISTS/EXPUNGE/FETCH about other sessions' changes are sent at command
//!   boundaries and during IDLE (see `selected`), never in the middle of a response.
//! - The state enum carries each state's data: who is logged in, which folder is selected.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::watch;

use crate::protocol::{self, Command, Tagged};
use crate::selected::Selected;
use crate::Context;

/// How a session run ended.
pub enum Outcome<S> {
    Closed,
    StartTls(S),
}

/// The logged-in user.
#[derive(Debug, Clone)]
pub struct User {
    pub account_id: i64,
    pub address: String,
    /// The account's session epoch at login: a higher one ends this session.
    pub epoch: i64,
}

/// RFC 9051 3: the connection states, each with its data.
pub enum State {
    NotAuthenticated,
    Authenticated { user: User },
    Selected { user: User, mailbox: Box<Selected> },
    Logout,
}

impl State {
    pub fn user(&self) -> Option<&User> {
        match self {
            State::Authenticated { user } | State::Selected { user, .. } => Some(user),
            _ => None,
        }
    }
}

/// How a command ended: the tagged status line.
pub struct Done {
    pub status: &'static str,
    /// With its response code, e.g. `[TRYCREATE] No such mailbox`.
    pub text: String,
}

impl Done {
    pub fn ok(text: impl Into<String>) -> Done {
        Done {
            status: "OK",
            text: text.into(),
        }
    }
    pub fn no(text: impl Into<String>) -> Done {
        Done {
            status: "NO",
            text: text.into(),
        }
    }
    pub fn bad(text: impl Into<String>) -> Done {
        Done {
            status: "BAD",
            text: text.into(),
        }
    }
}

/// What the loop does after a command.
pub(crate) enum Next {
    Continue,
    Close,
    StartTls,
}

pub struct Session {
    pub(crate) context: Arc<Context>,
    pub(crate) peer: SocketAddr,
    pub(crate) id: String,
    pub(crate) tls: bool,
    pub(crate) greeted: bool,
    pub(crate) state: State,
    /// ENABLE CONDSTORE / QRESYNC / UTF8=ACCEPT (RFC 5161).
    pub(crate) condstore: bool,
    /// ENABLE QRESYNC: VANISHED instead of EXPUNGE, SELECT (QRESYNC ...) (RFC 7162).
    pub(crate) qresync: bool,
    pub(crate) utf8: bool,
    pub(crate) n_errors: usize,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) revocations: tokio::sync::broadcast::Receiver<(i64, i64)>,
    /// Responses waiting to be written.
    pub(crate) out: Vec<u8>,
    /// When the connection was accepted: a session must log in within the login timeout.
    pub(crate) connected_at: tokio::time::Instant,
}

pub(crate) type Io<S> = BufReader<S>;

/// A complete command as read from the wire, or why there is none.
enum Frame {
    Command(Vec<u8>),
    /// Too long or a literal too large: answer BAD/NO with this text and go on.
    Refused {
        tag: Option<String>,
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

/// A new session id, also recorded on the connection's tracing span (every log line has it).
fn session_id() -> String {
    let id = next_session_id();
    tracing::Span::current().record("session", id.as_str());
    id
}

fn next_session_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "i{:x}-{}",
        storage::now(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl Session {
    pub fn new(
        context: Arc<Context>,
        peer: SocketAddr,
        shutdown: watch::Receiver<bool>,
    ) -> Session {
        let revocations = context.revocations.subscribe();
        Session {
            revocations,
            context,
            peer,
            id: session_id(),
            tls: false,
            greeted: false,
            state: State::NotAuthenticated,
            condstore: false,
            qresync: false,
            utf8: false,
            n_errors: 0,
            shutdown,
            out: Vec::with_capacity(256),
            connected_at: tokio::time::Instant::now(),
        }
    }

    pub fn set_tls(&mut self) {
        self.tls = true;
    }

    /// True when LOGIN/AUTHENTICATE may be used (RFC 9051 6.2.3: not in cleartext).
    pub(crate) fn login_allowed(&self) -> bool {
        self.tls || (self.context.settings.allow_plaintext_loopback && self.peer.ip().is_loopback())
    }

    pub(crate) fn untagged(&mut self, text: &str) {
        self.out.extend_from_slice(b"* ");
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    pub(crate) async fn flush<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut Io<S>,
    ) -> std::io::Result<()> {
        if !self.out.is_empty() {
            io.get_mut().write_all(&self.out).await?;
            io.get_mut().flush().await?;
            self.out.clear();
            if self.out.capacity() > 64 * 1024 {
                self.out = Vec::with_capacity(256);
            }
        }
        Ok(())
    }

    pub fn capabilities(&self) -> String {
        let mut caps = vec!["IMAP4rev1", "IMAP4rev2"];
        if !self.tls && self.context.tls.is_some() {
            caps.push("STARTTLS");
        }
        if self.login_allowed() {
            caps.extend(["AUTH=PLAIN", "SASL-IR"]);
        } else {
            caps.push("LOGINDISABLED");
        }
        caps.extend([
            "LITERAL+",
            "ENABLE",
            "ID",
            "IDLE",
            "NAMESPACE",
            "UIDPLUS",
            "MOVE",
            "UNSELECT",
            "CHILDREN",
            "SPECIAL-USE",
            "CREATE-SPECIAL-USE",
            "LIST-EXTENDED",
            "LIST-STATUS",
            "CONDSTORE",
            "QRESYNC",
            "ESEARCH",
            "QUOTA",
            "QUOTA=RES-STORAGE",
            "UTF8=ACCEPT",
            "STATUS=SIZE",
            "ACL",
            "BINARY",
        ]);
        let mut text = caps.join(" ");
        text.push_str(&format!(
            " APPENDLIMIT={}",
            self.context.settings.max_literal
        ));
        text
    }

    /// Reads one complete command: its lines and literals.
    async fn read_frame<S>(&mut self, io: &mut Io<S>) -> std::io::Result<Frame>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let settings = self.context.settings.clone();
        let mut command = Vec::new();
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
                    text: "[TOOBIG] Command line too long".into(),
                });
            }
            command.extend_from_slice(&line);
            let Some(literal) = protocol::literal_at_end(&line) else {
                return Ok(Frame::Command(command));
            };
            let tag = tag_of(&command);
            let too_big = literal.length as usize > settings.max_literal
                || (command.len() + literal.length as usize > settings.max_command
                    && !command_is_append(&command));
            if too_big {
                if literal.non_sync {
                    // RFC 7888 4: the client sends the bytes anyway; read and drop them.
                    let mut left = literal.length;
                    let mut sink = tokio::io::sink();
                    let copied = tokio::io::copy(&mut (&mut *io).take(left), &mut sink).await?;
                    left -= copied;
                    if left > 0 {
                        return Ok(Frame::Eof);
                    }
                    // And the rest of the command line.
                    let mut rest = Vec::new();
                    (&mut *io)
                        .take(settings.max_line_length as u64)
                        .read_until(b'\n', &mut rest)
                        .await?;
                }
                return Ok(Frame::Refused {
                    tag,
                    text: format!(
                        "[TOOBIG] Literal larger than {} bytes",
                        settings.max_literal
                    ),
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
            let mut shutdown = self.shutdown.clone();
            let mut revoked = self.revocations.resubscribe();
            let account = self.state.user().map(|u| (u.account_id, u.epoch));
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
                Frame::Refused { tag, text } => {
                    let tag = tag.unwrap_or_else(|| "*".into());
                    self.out
                        .extend_from_slice(format!("{tag} BAD {text}\r\n").as_bytes());
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
            match self.dispatch(&mut io, tagged).await? {
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

    /// Counts a protocol error; true when the connection should be closed.
    pub(crate) fn count_error(&mut self) -> bool {
        self.n_errors += 1;
        if self.n_errors >= self.context.settings.max_errors {
            self.untagged("BYE Too many protocol errors");
            return true;
        }
        false
    }

    /// RFC 9051 6: which commands each state allows. Returns the refusal, if any.
    fn allowed(&self, command: &Command) -> Option<Done> {
        use Command::*;
        let any_state = matches!(command, Capability | Noop | Logout | Id);
        if any_state {
            return None;
        }
        match (&self.state, command) {
            (State::NotAuthenticated, StartTls | Login { .. } | Authenticate { .. }) => None,
            (State::NotAuthenticated, _) => Some(Done::bad("Command not valid before login")),
            (_, StartTls | Login { .. } | Authenticate { .. }) => {
                Some(Done::bad("Already authenticated"))
            }
            (
                State::Authenticated { .. },
                Check
                | Close
                | Unselect
                | Expunge { .. }
                | Search { .. }
                | Fetch { .. }
                | Store { .. }
                | Copy { .. }
                | Move { .. },
            ) => Some(Done::bad("No mailbox selected")),
            (State::Logout, _) => Some(Done::bad("Logging out")),
            _ => None,
        }
    }

    async fn dispatch<S>(&mut self, io: &mut Io<S>, tagged: Tagged) -> std::io::Result<Next>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let Tagged { tag, command } = tagged;
        let started = std::time::Instant::now();
        let name = command_name(&command);
        if let Some(refusal) = self.allowed(&command) {
            self.finish(&tag, refusal);
            return Ok(if self.count_error() {
                Next::Close
            } else {
                Next::Continue
            });
        }
        // Sequence numbers must not shift under a client's feet during these (RFC 9051 7.5.1).
        let may_expunge = !matches!(
            command,
            Command::Fetch { uid: false, .. }
                | Command::Store { uid: false, .. }
                | Command::Search { uid: false, .. }
        );
        let mut next = Next::Continue;
        let done = match command {
            Command::Capability => {
                let caps = self.capabilities();
                self.untagged(&format!("CAPABILITY {caps}"));
                Done::ok("CAPABILITY completed")
            }
            Command::Noop | Command::Check => Done::ok("NOOP completed"),
            Command::Logout => {
                self.untagged("BYE Logging out");
                self.state = State::Logout;
                next = Next::Close;
                Done::ok("LOGOUT completed")
            }
            Command::StartTls => {
                if self.tls || self.context.tls.is_none() {
                    Done::bad("STARTTLS not available")
                } else {
                    next = Next::StartTls;
                    Done::ok("Begin TLS negotiation now")
                }
            }
            Command::Login { user, password } => self.login(&user, &password).await,
            Command::Authenticate { mechanism, initial } => {
                self.authenticate(io, &tag, &mechanism, initial).await?
            }
            Command::Enable(capabilities) => self.enable(&capabilities),
            Command::Id => {
                self.untagged("ID (\"name\" \"govmail\" \"vendor\" \"govmail\")");
                Done::ok("ID completed")
            }
            Command::Namespace => self.namespace(),
            Command::Select {
                mailbox,
                read_only,
                condstore,
                qresync,
            } => self.select(&mailbox, read_only, condstore, qresync).await,
            Command::Unselect => self.unselect(false).await,
            Command::Close => self.unselect(true).await,
            Command::Create {
                mailbox,
                special_use,
            } => self.create(&mailbox, special_use.as_deref()).await,
            Command::Delete { mailbox } => self.delete(&mailbox).await,
            Command::Rename { from, to } => self.rename(&from, &to).await,
            Command::Subscribe { mailbox } => self.subscribe(&mailbox, true).await,
            Command::Unsubscribe { mailbox } => self.subscribe(&mailbox, false).await,
            Command::List {
                reference,
                patterns,
                options,
                lsub,
            } => self.list(&reference, &patterns, &options, lsub).await,
            Command::Status { mailbox, items } => self.status(&mailbox, &items).await,
            Command::Append {
                mailbox,
                flags,
                date,
                message,
            } => self.append(&mailbox, &flags, date, message).await,
            Command::Expunge { uids } => self.expunge(uids.as_ref()).await,
            Command::Search { uid, criteria, ret } => self.search(uid, &criteria, &ret).await,
            Command::Fetch {
                uid,
                set,
                items,
                changed_since,
                vanished,
            } => {
                self.fetch(io, uid, &set, &items, changed_since, vanished)
                    .await?
            }
            Command::Store {
                uid,
                set,
                mode,
                silent,
                flags,
                unchanged_since,
            } => {
                self.store(uid, &set, mode, silent, &flags, unchanged_since)
                    .await
            }
            Command::Copy { uid, set, mailbox } => self.copy_move(uid, &set, &mailbox, false).await,
            Command::Move { uid, set, mailbox } => self.copy_move(uid, &set, &mailbox, true).await,
            Command::Idle => self.idle(io, &tag).await?,
            Command::GetQuota { root } => self.get_quota(&root).await,
            Command::GetQuotaRoot { mailbox } => self.get_quota_root(&mailbox).await,
            Command::SetQuota { .. } => Done::no("[NOPERM] Quotas are set by the administrator"),
            Command::GetAcl { mailbox } => self.get_acl(&mailbox).await,
            Command::MyRights { mailbox } => self.my_rights(&mailbox).await,
            Command::ListRights {
                mailbox,
                identifier,
            } => self.list_rights(&mailbox, &identifier).await,
            Command::SetAcl {
                mailbox,
                identifier,
                rights,
            } => self.set_acl(&mailbox, &identifier, Some(&rights)).await,
            Command::DeleteAcl {
                mailbox,
                identifier,
            } => self.set_acl(&mailbox, &identifier, None).await,
        };
        if matches!(next, Next::Continue) {
            self.sync_selected(may_expunge).await;
        }
        metrics::histogram!("govmail_imap_command_seconds", "command" => name)
            .record(started.elapsed().as_secs_f64());
        self.finish(&tag, done);
        Ok(next)
    }

    pub(crate) fn finish(&mut self, tag: &str, done: Done) {
        self.out
            .extend_from_slice(format!("{tag} {} {}\r\n", done.status, done.text).as_bytes());
    }
}

/// Resolves when the logged-in account's sessions must end; never when nobody is logged in.
pub(crate) async fn wait_revoked(
    revocations: &mut tokio::sync::broadcast::Receiver<(i64, i64)>,
    account: Option<(i64, i64)>,
) {
    let Some((account_id, epoch)) = account else {
        return std::future::pending().await;
    };
    loop {
        match revocations.recv().await {
            Ok((id, new_epoch)) if id == account_id && new_epoch > epoch => return,
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => return std::future::pending().await,
        }
    }
}

/// A low-cardinality label for metrics.
fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Fetch { .. } => "fetch",
        Command::Store { .. } => "store",
        Command::Search { .. } => "search",
        Command::Select { .. } => "select",
        Command::Append { .. } => "append",
        Command::Copy { .. } | Command::Move { .. } => "copy_move",
        Command::Expunge { .. } => "expunge",
        Command::Idle => "idle",
        Command::List { .. } | Command::Status { .. } => "list_status",
        Command::Login { .. } | Command::Authenticate { .. } => "login",
        _ => "other",
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
