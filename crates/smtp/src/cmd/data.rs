//! DATA (RFC 5321 4.1.1.4) and BDAT (RFC 3030 CHUNKING).

use tokio::io::{AsyncRead, AsyncWrite};

use crate::codes::*;
use crate::io::{normalise_line_endings, read_chunk, read_data, BodyLines, Counting, DataEnd};
use crate::session::{flush, Io, Next, Session};
use std::sync::atomic::{AtomicUsize, Ordering};

fn timed_out() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "data transfer timed out")
}

/// Runs a DATA or BDAT transfer under its deadlines: all of it within four idle periods, and
/// after a grace of a tenth of one, on average at least `min_data_rate` bytes per second
/// (slow senders holding a connection slot are cut off). `progress` counts bytes read.
async fn within_deadlines<T>(
    settings: &crate::Settings,
    progress: &AtomicUsize,
    transfer: impl std::future::Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    let started = tokio::time::Instant::now();
    let grace = settings.idle_timeout / 10;
    tokio::pin!(transfer);
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
    loop {
        tokio::select! {
            done = &mut transfer => return done,
            _ = tick.tick() => {
                let elapsed = started.elapsed();
                if elapsed >= settings.idle_timeout * 4 {
                    return Err(timed_out());
                }
                if let Some(slow) = elapsed.checked_sub(grace) {
                    let needed = (slow.as_secs_f64() * settings.min_data_rate as f64) as usize;
                    if progress.load(Ordering::Relaxed) < needed {
                        return Err(timed_out());
                    }
                }
            }
        }
    }
}

/// The reply when a transfer missed its deadlines (RFC 3463 4.4.2: connection dropped).
fn too_slow() -> Reply {
    reply(C421_TIMEOUT, "Data transfer too slow, closing connection")
}

fn bare_line_ending() -> Reply {
    reply(
        C554_BARE_LINE_ENDING,
        "Message refused: bare CR or LF in or next to an end of data (RFC 5321 2.3.8)",
    )
}

impl Session {
    /// Why a message body cannot start now, if it cannot.
    fn data_refusal(&self) -> Option<Reply> {
        match &self.transaction {
            None => Some(reply(C503_SEQUENCE, "Need MAIL command first")),
            Some(t) if t.recipients.is_empty() => {
                Some(reply(C554_NO_VALID_RCPTS, "No valid recipients"))
            }
            _ => None,
        }
    }

    pub(crate) async fn data<S>(
        &mut self,
        io: &mut Io<S>,
        out: &mut Vec<u8>,
    ) -> std::io::Result<Next>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        if let Some(refusal) = self.data_refusal() {
            refusal.encode(out);
            return Ok(self.after_error());
        }
        if self
            .transaction
            .as_ref()
            .is_some_and(|t| !t.bdat_body.is_empty() || t.bdat_too_big)
        {
            reply(C503_SEQUENCE, "DATA not allowed after BDAT").encode(out);
            return Ok(Next::Continue);
        }
        Reply::new(
            C354_START_DATA,
            "",
            "Start mail input; end with <CRLF>.<CRLF>",
        )
        .encode(out);
        flush(io, out).await?;
        let settings = &self.context.settings;
        // A whole transfer may take at most four idle periods: slow senders are cut off.
        let progress = AtomicUsize::new(0);
        let mut counted = Counting::new(io, &progress);
        let read = read_data(
            &mut counted,
            settings.max_line_length,
            settings.max_message_size,
        );
        let end = match within_deadlines(settings, &progress, read).await {
            Ok(end) => end,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                self.transaction = None;
                too_slow().encode(out);
                return Ok(Next::Close);
            }
            Err(e) => return Err(e),
        };
        let answer = match end {
            DataEnd::Message(body) => self.accept_message(body).await,
            DataEnd::TooBig => {
                self.transaction = None;
                reply(
                    C552_TOO_BIG,
                    format!(
                        "Message exceeds fixed limit of {} bytes",
                        settings.max_message_size
                    ),
                )
            }
            DataEnd::LineTooLong => {
                self.transaction = None;
                reply(
                    C500_LINE_TOO_LONG,
                    format!(
                        "Message has a line longer than {} bytes",
                        settings.max_line_length
                    ),
                )
            }
            DataEnd::BareLineEnding => {
                self.transaction = None;
                bare_line_ending()
            }
            DataEnd::Broken => {
                reply(
                    C500_LINE_TOO_LONG,
                    "Malformed message data, closing connection",
                )
                .encode(out);
                return Ok(Next::Close);
            }
        };
        answer.encode(out);
        Ok(Next::Continue)
    }

    pub(crate) async fn bdat<S>(
        &mut self,
        io: &mut Io<S>,
        out: &mut Vec<u8>,
        chunk_size: usize,
        is_last: bool,
    ) -> std::io::Result<Next>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let settings = self.context.settings.clone();
        let refusal = self.data_refusal();
        // The chunk follows the command whatever we answer: read it (bounded), then reply.
        let mut scratch = Vec::new();
        let target = match (&refusal, self.transaction.as_mut()) {
            (None, Some(t)) if !t.bdat_too_big => &mut t.bdat_body,
            _ => &mut scratch,
        };
        let limit = if refusal.is_some() {
            0
        } else {
            settings.max_message_size
        };
        let progress = AtomicUsize::new(0);
        let mut counted = Counting::new(io, &progress);
        let read = read_chunk(&mut counted, chunk_size, target, limit);
        let fits = match within_deadlines(&settings, &progress, read).await {
            Ok(fits) => fits,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                self.transaction = None;
                too_slow().encode(out);
                return Ok(Next::Close);
            }
            Err(e) => return Err(e),
        };
        if let Some(refusal) = refusal {
            refusal.encode(out);
            return Ok(self.after_error());
        }
        let transaction = self.transaction.as_mut().expect("checked by data_refusal");
        if !fits {
            transaction.bdat_too_big = true;
            transaction.bdat_body = Vec::new();
        }
        if !is_last {
            reply(C250_OK, format!("{chunk_size} octets received")).encode(out);
            return Ok(Next::Continue);
        }
        if transaction.bdat_too_big {
            self.transaction = None;
            reply(
                C552_TOO_BIG,
                format!(
                    "Message exceeds fixed limit of {} bytes",
                    settings.max_message_size
                ),
            )
            .encode(out);
            return Ok(Next::Continue);
        }
        let mut body = std::mem::take(&mut transaction.bdat_body);
        // No BINARYMIME: the body is text, its lines end in CRLF as in DATA.
        match normalise_line_endings(&mut body, settings.max_message_size) {
            BodyLines::Clean | BodyLines::Normalised => {}
            BodyLines::BareCr => {
                self.transaction = None;
                bare_line_ending().encode(out);
                return Ok(Next::Continue);
            }
            // CRLF for each bare LF would take it past the limit, as DATA counts it.
            BodyLines::TooBig => {
                self.transaction = None;
                reply(
                    C552_TOO_BIG,
                    format!(
                        "Message exceeds fixed limit of {} bytes",
                        settings.max_message_size
                    ),
                )
                .encode(out);
                return Ok(Next::Continue);
            }
        }
        self.accept_message(body).await.encode(out);
        Ok(Next::Continue)
    }
}
