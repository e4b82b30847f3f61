//! IDLE (RFC 2177): changes pushed as they happen, via the store's change notifications; a
//! periodic check catches changes made by other processes (the admin CLI, other nodes). With
//! NOTIFY in force, what is pushed is what NOTIFY asks for (RFC 5465 4).

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite};

use crate::encode::Done;
use crate::state::{Io, Session, State};

/// Fallback poll for changes that do not come through notifications (the admin CLI on SQLite;
/// a node whose change fan-out is down polls every `storage::cluster::DEGRADED_POLL` instead).
const POLL: Duration = Duration::from_secs(30);

impl Session {
    pub(crate) async fn idle<S>(&mut self, io: &mut Io<S>, _tag: &str) -> std::io::Result<Done>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        self.out.extend_from_slice(b"+ idling\r\n");
        // RFC 5465 4: during IDLE, NOTIFY's events are the ones sent.
        self.notify_pump(io, true, true).await?;
        self.flush(io).await?;
        let idle_timeout = self.context.settings.idle_timeout;
        let deadline = tokio::time::Instant::now() + idle_timeout;
        let mut line = Vec::new();
        loop {
            let folder_id = match &self.state {
                State::Selected { mailbox, .. } => Some(mailbox.folder_id),
                _ => None,
            };
            // With NOTIFY, any change may be one to tell; without, only the selected folder's.
            let notifying = self.notify.is_some();
            let waiting = self.notify.as_ref().is_some_and(|w| !w.changes.is_empty());
            let mut changes = match (&self.notify, &self.state) {
                (Some(watch), _) => Some(watch.changes.resubscribe()),
                (None, State::Selected { mailbox, .. }) => Some(mailbox.changes.resubscribe()),
                _ => None,
            };
            let changed = async {
                if waiting {
                    return;
                }
                match changes.as_mut() {
                    Some(rx) => loop {
                        match rx.recv().await {
                            Ok(change) if notifying || Some(change.folder_id) == folder_id => {
                                return
                            }
                            Ok(_) => continue,
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                            Err(_) => std::future::pending::<()>().await,
                        }
                    },
                    None => std::future::pending::<()>().await,
                }
            };
            enum Event {
                Line(std::io::Result<usize>),
                Changed,
                Poll,
                Deadline,
                Shutdown,
                Revoked,
            }
            let mut shutdown = self.shutdown.clone();
            let mut revoked = self.revocations.resubscribe();
            let account = self
                .state
                .user()
                .map(|u| u.login_watch(&self.context.store));
            let store = self.context.store.clone();
            let event = {
                let mut limited = (&mut *io).take(1024);
                tokio::select! {
                    read = limited.read_until(b'\n', &mut line) => Event::Line(read),
                    _ = changed => Event::Changed,
                    _ = store.poll_wait(POLL) => Event::Poll,
                    _ = tokio::time::sleep_until(deadline) => Event::Deadline,
                    _ = shutdown.changed() => Event::Shutdown,
                    _ = crate::state::wait_revoked(&mut revoked, account) => Event::Revoked,
                }
            };
            match event {
                Event::Line(read) => {
                    if read? == 0 {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "closed during IDLE",
                        ));
                    }
                    if !line.ends_with(b"\n") && line.len() < 1024 {
                        continue;
                    }
                    let text = String::from_utf8_lossy(&line).trim().to_ascii_uppercase();
                    return Ok(if text == "DONE" {
                        Done::ok("IDLE terminated")
                    } else {
                        Done::bad("Expected DONE")
                    });
                }
                Event::Changed => {}
                Event::Poll => {
                    // The poll is what catches a change no announcement told of (another
                    // process; a PostgreSQL listener that reconnected): read the folder.
                    if let State::Selected { mailbox, .. } = &mut self.state {
                        mailbox.pending = true;
                    }
                    if let Some(watch) = self.notify.as_mut() {
                        let all: Vec<i64> = watch.accounts.keys().copied().collect();
                        // The 30 s poll also looks at every watched folder.
                        watch.rescan.extend(all);
                    }
                }
                Event::Deadline => {
                    self.untagged("BYE Autologout; idle for too long");
                    self.flush(io).await?;
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "IDLE timeout",
                    ));
                }
                Event::Revoked => {
                    self.untagged(
                        "BYE [UNAVAILABLE] Your login has been ended by the administrator",
                    );
                    self.flush(io).await?;
                    return Err(std::io::Error::other("revoked"));
                }
                Event::Shutdown => {
                    self.untagged("BYE [UNAVAILABLE] Server shutting down");
                    self.flush(io).await?;
                    return Err(std::io::Error::other("shutdown"));
                }
            }
            self.notify_pump(io, true, true).await?;
            self.flush(io).await?;
        }
    }
}
