//! One ManageSieve connection (RFC 5804).
//!
//! Implementation notes:
//! - The capability response is the greeting, and is said again after STARTTLS (RFC 5804
//!   2.2); input pipelined after STARTTLS is dropped with the plaintext buffer.
//! - AUTHENTICATE PLAIN only under TLS, or from loopback when `allow_plaintext_loopback`; the
//!   same argon2 check and AUTH throttle as IMAP and SMTP. A SASL authorization identity names
//!   a unit mailbox the user heads or handles (RFC 4314 rights `lrswite` or more); the scripts
//!   are then the unit's.
//! - A script is stored only if it compiles; a syntax error is answered NO with its line.
//! - Every read waits at most the login timeout (before login) or the idle timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use listener::ShutdownSignal;
use policy::limits::AuthGate;
use storage::{LoginOutcome, Resolved};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use crate::wire::{self, response, string, Bounds, ReadError, Word};
use crate::Context;

/// How a session run ended.
pub enum Outcome<S> {
    Closed,
    StartTls(S),
}

/// Whose scripts a logged-in session manages.
#[derive(Debug, Clone)]
struct User {
    /// Who logged in.
    address: String,
    /// The mailbox whose scripts are managed (the user's own or a unit's).
    mailbox_id: i64,
    mailbox: String,
}

enum State {
    NotAuthenticated,
    Authenticated(User),
}

enum Next {
    Continue,
    Close,
    StartTls,
}

pub struct Session {
    context: Arc<Context>,
    peer: SocketAddr,
    shutdown: ShutdownSignal,
    tls: bool,
    state: State,
    id: String,
    errors: usize,
}

/// RFC 5804 1.6: a script name is non-empty UTF-8 without control characters.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 128
        && !name
            .chars()
            .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
}

impl Session {
    pub fn new(context: Arc<Context>, peer: SocketAddr, shutdown: ShutdownSignal) -> Session {
        Session {
            context,
            peer,
            shutdown,
            tls: false,
            state: State::NotAuthenticated,
            id: listener::session_id("m"),
            errors: 0,
        }
    }

    pub fn set_tls(&mut self) {
        self.tls = true;
    }

    fn login_allowed(&self) -> bool {
        self.tls || (self.context.settings.allow_plaintext_loopback && self.peer.ip().is_loopback())
    }

    /// RFC 5804 1.7: the capability response.
    fn capabilities(&self) -> String {
        let settings = &self.context.settings;
        let mut out = String::new();
        out.push_str("\"IMPLEMENTATION\" \"govmail\"\r\n");
        let sasl = if self.login_allowed() { "PLAIN" } else { "" };
        out.push_str(&format!("\"SASL\" \"{sasl}\"\r\n"));
        out.push_str(&format!(
            "\"SIEVE\" \"{}\"\r\n",
            sieve::EXTENSIONS.join(" ")
        ));
        if !self.tls && self.context.tls.is_some() {
            out.push_str("\"STARTTLS\"\r\n");
        }
        out.push_str(&format!(
            "\"MAXREDIRECTS\" \"{}\"\r\n",
            settings.sieve_limits.max_redirects
        ));
        if let State::Authenticated(user) = &self.state {
            out.push_str(&format!("\"OWNER\" {}\r\n", string(&user.mailbox)));
        }
        out.push_str("\"VERSION\" \"1.0\"\r\n");
        out.push_str(&response("OK", None, "ManageSieve ready"));
        out
    }

    /// Runs until LOGOUT, an error, shutdown or STARTTLS (the plain stream is handed back).
    pub async fn run<S>(&mut self, stream: S) -> std::io::Result<Outcome<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let mut io = BufReader::new(stream);
        wire::write(io.get_mut(), &self.capabilities()).await?;
        loop {
            let settings = &self.context.settings;
            let idle = match self.state {
                State::NotAuthenticated => settings.login_timeout,
                State::Authenticated(_) => settings.idle_timeout,
            };
            let bounds = Bounds {
                max_line: settings.max_line_length,
                max_literal: settings.max_script_bytes,
                max_skip: (settings.max_script_bytes as u64).saturating_mul(16),
                idle,
            };
            let mut shutdown = self.shutdown.clone();
            let read = tokio::select! {
                read = wire::read_command(&mut io, &bounds) => read,
                _ = shutdown.changed() => {
                    let bye = response("BYE", Some("TRYLATER"), "Server shutting down");
                    let _ = wire::write(io.get_mut(), &bye).await;
                    return Ok(Outcome::Closed);
                }
            };
            let words = match read {
                Ok(words) => words,
                Err(ReadError::Closed) => return Ok(Outcome::Closed),
                Err(ReadError::TimedOut) => {
                    let bye = response("BYE", None, "Idle for too long");
                    let _ = wire::write(io.get_mut(), &bye).await;
                    return Ok(Outcome::Closed);
                }
                Err(ReadError::Hopeless) => {
                    let bye = response("BYE", Some("QUOTA/MAXSIZE"), "Literal too large");
                    let _ = wire::write(io.get_mut(), &bye).await;
                    return Ok(Outcome::Closed);
                }
                Err(ReadError::LiteralTooLarge { command, size }) => {
                    let text = format!(
                        "{command}: {size} bytes is more than the {} bytes a script may have",
                        self.context.settings.max_script_bytes
                    );
                    // RFC 5804 1.3: QUOTA/MAXSIZE.
                    wire::write(io.get_mut(), &response("NO", Some("QUOTA/MAXSIZE"), &text))
                        .await?;
                    if self.error() {
                        return self.too_many_errors(&mut io).await;
                    }
                    continue;
                }
                Err(ReadError::LineTooLong) => {
                    wire::write(io.get_mut(), &response("NO", None, "Line too long")).await?;
                    if self.error() {
                        return self.too_many_errors(&mut io).await;
                    }
                    continue;
                }
                Err(ReadError::Syntax(why)) => {
                    wire::write(
                        io.get_mut(),
                        &response("NO", None, &format!("Syntax error: {why}")),
                    )
                    .await?;
                    if self.error() {
                        return self.too_many_errors(&mut io).await;
                    }
                    continue;
                }
            };
            let (answer, next) = self.command(words, &mut io).await?;
            wire::write(io.get_mut(), &answer).await?;
            match next {
                Next::Continue => {}
                Next::Close => {
                    let _ = io.get_mut().shutdown().await;
                    return Ok(Outcome::Closed);
                }
                Next::StartTls => return Ok(Outcome::StartTls(io.into_inner())),
            }
        }
    }

    /// Counts an error; true when the session has had too many.
    fn error(&mut self) -> bool {
        self.errors += 1;
        self.errors > self.context.settings.max_errors
    }

    async fn too_many_errors<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut BufReader<S>,
    ) -> std::io::Result<Outcome<S>> {
        let _ = wire::write(io.get_mut(), &response("BYE", None, "Too many errors")).await;
        Ok(Outcome::Closed)
    }

    /// One command: the response text to write and what follows.
    async fn command<S>(
        &mut self,
        words: Vec<Word>,
        io: &mut BufReader<S>,
    ) -> std::io::Result<(String, Next)>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let Some(Word::Atom(name)) = words.first() else {
            self.error();
            return Ok((response("NO", None, "Expected a command"), Next::Continue));
        };
        let name = name.to_ascii_uppercase();
        let args = &words[1..];
        let done = |text: String| Ok((text, Next::Continue));
        let user = match &self.state {
            State::Authenticated(user) => Some(user.clone()),
            State::NotAuthenticated => None,
        };
        match (name.as_str(), user) {
            ("CAPABILITY", _) if args.is_empty() => done(self.capabilities()),
            ("NOOP", _) => match args {
                // RFC 5804 2.13: the tag is echoed in a TAG response code.
                [tag] => match tag.text() {
                    Some(tag) => done(format!("OK (TAG {}) \"Done\"\r\n", string(&tag))),
                    None => done(response("NO", None, "NOOP takes a string")),
                },
                _ => done(response("OK", None, "Done")),
            },
            ("LOGOUT", _) => Ok((response("OK", None, "Logout completed"), Next::Close)),
            ("STARTTLS", None) if args.is_empty() => {
                if self.tls || self.context.tls.is_none() {
                    return done(response("NO", None, "TLS is not available"));
                }
                Ok((
                    response("OK", None, "Begin TLS negotiation"),
                    Next::StartTls,
                ))
            }
            ("AUTHENTICATE", None) => {
                let answer = self.authenticate(args, io).await?;
                done(answer)
            }
            ("AUTHENTICATE" | "STARTTLS", Some(_)) => {
                done(response("NO", None, "Already authenticated"))
            }
            ("UNAUTHENTICATE", Some(_)) if args.is_empty() => {
                self.state = State::NotAuthenticated;
                done(response("OK", None, "Unauthenticated"))
            }
            (
                "HAVESPACE" | "PUTSCRIPT" | "LISTSCRIPTS" | "SETACTIVE" | "GETSCRIPT"
                | "DELETESCRIPT" | "RENAMESCRIPT" | "CHECKSCRIPT",
                None,
            ) => done(response("NO", None, "Authenticate first")),
            (_, Some(user)) => match self.script_command(&name, args, &user).await {
                Some(answer) => done(answer),
                None => {
                    self.error();
                    done(response(
                        "NO",
                        None,
                        &format!("Bad arguments or unknown command {name}"),
                    ))
                }
            },
            _ => {
                self.error();
                done(response("NO", None, &format!("Unknown command {name}")))
            }
        }
    }

    /// RFC 5804 2.1 with SASL PLAIN (RFC 4616), initial response or one exchange.
    async fn authenticate<S>(
        &mut self,
        args: &[Word],
        io: &mut BufReader<S>,
    ) -> std::io::Result<String>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let mechanism = args.first().and_then(Word::text).unwrap_or_default();
        if !mechanism.eq_ignore_ascii_case("PLAIN") || args.len() > 2 {
            return Ok(response("NO", None, "Only PLAIN is supported"));
        }
        if !self.login_allowed() {
            // RFC 5804 2.1: ENCRYPT-NEEDED.
            return Ok(response("NO", Some("ENCRYPT-NEEDED"), "Use STARTTLS first"));
        }
        let encoded = match args.get(1) {
            Some(word) => word.text().unwrap_or_default(),
            None => {
                // An empty challenge; the client answers with a string.
                wire::write(io.get_mut(), "\"\"\r\n").await?;
                let bounds = Bounds {
                    max_line: 8192,
                    max_literal: 8192,
                    max_skip: 8192,
                    idle: self.context.settings.login_timeout,
                };
                match wire::read_command(io, &bounds).await {
                    Ok(words) => match words.as_slice() {
                        [word] if word.text().is_some() => word.text().unwrap_or_default(),
                        _ => return Ok(response("NO", None, "Authentication cancelled")),
                    },
                    Err(ReadError::Closed) => {
                        return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof))
                    }
                    Err(_) => return Ok(response("NO", None, "Authentication cancelled")),
                }
            }
        };
        let Ok(decoded) = BASE64.decode(encoded.trim()) else {
            return Ok(response("NO", None, "Invalid base64"));
        };
        let parts: Vec<&[u8]> = decoded.split(|&b| b == 0).collect();
        let [authzid, authcid, password] = parts.as_slice() else {
            return Ok(response("NO", None, "Malformed PLAIN response"));
        };
        let login = String::from_utf8_lossy(authcid).into_owned();
        let password = String::from_utf8_lossy(password).into_owned();
        let authzid = String::from_utf8_lossy(authzid).into_owned();
        Ok(self.login(&login, &password, &authzid).await)
    }

    async fn login(&mut self, login: &str, password: &str, authzid: &str) -> String {
        let login = &policy::naming::canonical_login(login);
        let ip = self.peer.ip();
        let throttle = self.context.auth_throttle.clone();
        if let AuthGate::Locked(left) | AuthGate::Banned(left) =
            throttle.check(ip, login, Instant::now())
        {
            return response(
                "NO",
                Some("TRYLATER"),
                &format!(
                    "Too many failed logins, try again in {} s",
                    left.as_secs().max(1)
                ),
            );
        }
        let store = &self.context.store;
        let outcome = store
            .check_login(
                login,
                password,
                policy::password::verify,
                policy::password::DUMMY_PHC,
            )
            .await;
        match outcome {
            Ok(LoginOutcome::Ok {
                account_id,
                address,
            }) => {
                throttle.success(ip, login);
                let (mailbox_id, mailbox) = if authzid.is_empty()
                    || storage::normalize_address(authzid) == storage::normalize_address(&address)
                {
                    (account_id, address.clone())
                } else {
                    match self.unit_mailbox(account_id, authzid).await {
                        Ok(Some(unit)) => unit,
                        Ok(None) => {
                            return response(
                                "NO",
                                None,
                                &format!("{address} may not manage the scripts of {authzid}"),
                            )
                        }
                        Err(e) => {
                            tracing::warn!(session = %self.id, error = %e, "rights lookup failed");
                            return response(
                                "NO",
                                Some("TRYLATER"),
                                "Temporary failure, try again",
                            );
                        }
                    }
                };
                tracing::info!(session = %self.id, user = %address, mailbox = %mailbox, "managesieve login");
                self.state = State::Authenticated(User {
                    address,
                    mailbox_id,
                    mailbox,
                });
                response("OK", None, "Logged in")
            }
            Ok(LoginOutcome::MustChangePassword) => {
                throttle.success(ip, login);
                response(
                    "NO",
                    None,
                    &format!(
                        "Your initial password must be changed first: https://{}/password",
                        self.context.settings.hostname
                    ),
                )
            }
            Ok(LoginOutcome::Refused) => {
                metrics::counter!("govmail_auth_failures_total", "protocol" => "managesieve")
                    .increment(1);
                let failure = throttle.failure(ip, login, Instant::now());
                store
                    .record_auth_failure("managesieve", &self.id.to_string(), login, ip, &failure)
                    .await;
                tokio::time::sleep(failure.delay).await;
                response("NO", None, "Invalid credentials")
            }
            Err(e) => {
                tracing::warn!(session = %self.id, error = %e, "login lookup failed");
                response("NO", Some("TRYLATER"), "Temporary failure, try again")
            }
        }
    }

    /// The unit mailbox `authzid` names, if the user may handle it (BD-10, KT-8).
    async fn unit_mailbox(
        &self,
        account_id: i64,
        authzid: &str,
    ) -> Result<Option<(i64, String)>, storage::Error> {
        let store = &self.context.store;
        let Resolved::Account(unit) = store.resolve(authzid).await? else {
            return Ok(None);
        };
        if unit.kind != "unit" {
            return Ok(None);
        }
        let rights = store.rights(unit.account_id, account_id).await?;
        let handles = storage::RIGHTS_HANDLE.chars().all(|r| rights.contains(r));
        Ok(handles.then_some((unit.account_id, unit.address)))
    }

    async fn audit(
        &self,
        user: &User,
        action: storage::Action,
        detail: serde_json::Value,
    ) -> Result<(), String> {
        self.context
            .store
            .log_event(&user.address, action, &user.mailbox, "", detail)
            .await
            .map_err(|e| self.fault(e))
    }

    fn fault(&self, e: storage::Error) -> String {
        tracing::warn!(session = %self.id, error = %e, "storage failure");
        response("NO", Some("TRYLATER"), "Temporary failure, try again")
    }

    /// The script commands (RFC 5804 2.3–2.12). None for bad arguments or an unknown name.
    async fn script_command(&mut self, name: &str, args: &[Word], user: &User) -> Option<String> {
        let texts: Option<Vec<String>> = args.iter().map(Word::text).collect();
        let store = &self.context.store;
        let settings = &self.context.settings;
        let account = user.mailbox_id;
        let answer = match (name, texts.as_deref(), args) {
            ("LISTSCRIPTS", Some([]), _) => match store.sieve_scripts(account).await {
                Ok(scripts) => {
                    let mut out = String::new();
                    for script in scripts {
                        out.push_str(&string(&script.name));
                        if script.active {
                            out.push_str(" ACTIVE");
                        }
                        out.push_str("\r\n");
                    }
                    out.push_str(&response("OK", None, "Listscripts completed"));
                    out
                }
                Err(e) => self.fault(e),
            },
            // RFC 5804 2.5: HAVESPACE name size (size an atom).
            ("HAVESPACE", _, [Word::String(name), Word::Atom(size)]) => {
                let name = String::from_utf8_lossy(name).into_owned();
                let Ok(size) = size.parse::<u64>() else {
                    return None;
                };
                if size > settings.max_script_bytes as u64 {
                    return Some(response(
                        "NO",
                        Some("QUOTA/MAXSIZE"),
                        &format!("Scripts are at most {} bytes", settings.max_script_bytes),
                    ));
                }
                match store.sieve_scripts(account).await {
                    Ok(scripts)
                        if !scripts.iter().any(|s| s.name == name)
                            && scripts.len() >= settings.max_scripts =>
                    {
                        response(
                            "NO",
                            Some("QUOTA/MAXSCRIPTS"),
                            &format!("At most {} scripts", settings.max_scripts),
                        )
                    }
                    Ok(_) => response("OK", None, "Putscript would succeed"),
                    Err(e) => self.fault(e),
                }
            }
            ("PUTSCRIPT", Some([name, content]), _) => {
                if !valid_name(name) {
                    return Some(response("NO", None, "Invalid script name"));
                }
                if let Err(e) = sieve::compile(content, &self.context.limits()) {
                    // RFC 5804 2.6: a script that does not compile is not stored.
                    return Some(response("NO", None, &e.to_string()));
                }
                match store
                    .put_sieve_script(account, name, content, settings.max_scripts)
                    .await
                {
                    Ok(()) => match self
                        .audit(
                            user,
                            storage::Action::SieveSave,
                            serde_json::json!({"script": name, "bytes": content.len()}),
                        )
                        .await
                    {
                        Ok(()) => response("OK", None, "Putscript completed"),
                        Err(answer) => answer,
                    },
                    Err(storage::Error::OverQuota) => response(
                        "NO",
                        Some("QUOTA/MAXSCRIPTS"),
                        &format!("At most {} scripts", settings.max_scripts),
                    ),
                    Err(e) => self.fault(e),
                }
            }
            ("CHECKSCRIPT", Some([content]), _) => {
                match sieve::compile(content, &self.context.limits()) {
                    Ok(_) => response("OK", None, "Script is valid"),
                    Err(e) => response("NO", None, &e.to_string()),
                }
            }
            ("SETACTIVE", Some([name]), _) => {
                let target = (!name.is_empty()).then_some(name.as_str());
                match store.set_active_sieve_script(account, target).await {
                    Ok(()) => match self
                        .audit(
                            user,
                            storage::Action::SieveActivate,
                            serde_json::json!({"script": name}),
                        )
                        .await
                    {
                        Ok(()) => response("OK", None, "Setactive completed"),
                        Err(answer) => answer,
                    },
                    Err(storage::Error::NotFound(_)) => {
                        response("NO", Some("NONEXISTENT"), "No such script")
                    }
                    Err(e) => self.fault(e),
                }
            }
            ("GETSCRIPT", Some([name]), _) => match store.sieve_script(account, name).await {
                // RFC 5804 2.9: the script as a string, then OK.
                Ok(script) => format!(
                    "{{{}}}\r\n{}\r\n{}",
                    script.content.len(),
                    script.content,
                    response("OK", None, "Getscript completed")
                ),
                Err(storage::Error::NotFound(_)) => {
                    response("NO", Some("NONEXISTENT"), "No such script")
                }
                Err(e) => self.fault(e),
            },
            ("DELETESCRIPT", Some([name]), _) => match store.sieve_script(account, name).await {
                // RFC 5804 2.10: the active script cannot be deleted.
                Ok(script) if script.active => {
                    response("NO", Some("ACTIVE"), "Deactivate the script first")
                }
                Ok(_) => match store.delete_sieve_script(account, name).await {
                    Ok(_) => match self
                        .audit(
                            user,
                            storage::Action::SieveDelete,
                            serde_json::json!({"script": name}),
                        )
                        .await
                    {
                        Ok(()) => response("OK", None, "Deletescript completed"),
                        Err(answer) => answer,
                    },
                    Err(e) => self.fault(e),
                },
                Err(storage::Error::NotFound(_)) => {
                    response("NO", Some("NONEXISTENT"), "No such script")
                }
                Err(e) => self.fault(e),
            },
            ("RENAMESCRIPT", Some([from, to]), _) => {
                if !valid_name(to) {
                    return Some(response("NO", None, "Invalid script name"));
                }
                match store.rename_sieve_script(account, from, to).await {
                    Ok(()) => match self
                        .audit(
                            user,
                            storage::Action::SieveRename,
                            serde_json::json!({"from": from, "to": to}),
                        )
                        .await
                    {
                        Ok(()) => response("OK", None, "Renamescript completed"),
                        Err(answer) => answer,
                    },
                    Err(storage::Error::NotFound(_)) => {
                        response("NO", Some("NONEXISTENT"), "No such script")
                    }
                    Err(storage::Error::AlreadyExists(_)) => {
                        response("NO", Some("ALREADYEXISTS"), "A script has that name")
                    }
                    Err(e) => self.fault(e),
                }
            }
            _ => return None,
        };
        Some(answer)
    }
}
