//! DATA (RFC 5321 4.1.1.4) and BDAT (RFC 3030 CHUNKING).
//!
//! The commands only set who reads the next bytes ([`Receive`]); [`Session::receive_data`]
//! then reads the message data they announced, under the transfer deadlines.

use tokio::io::{AsyncRead, AsyncWrite};

use crate::codes::*;
use crate::io::{
    normalise_line_endings, read_chunk, read_data_streamed, BodyLines, Counting, DataEnd,
};
use crate::session::{flush, Chunked, Io, Next, Receive, Session};
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

    fn too_big(&self) -> Reply {
        reply(
            C552_TOO_BIG,
            format!(
                "Message exceeds fixed limit of {} bytes",
                self.context.settings.max_message_size
            ),
        )
    }

    /// DATA: 354, then the body is read.
    pub(crate) fn data(&mut self, out: &mut Vec<u8>) -> Next {
        if let Some(refusal) = self.data_refusal() {
            refusal.encode(out);
            return self.after_error();
        }
        if matches!(self.receive, Receive::Command { chunked: Some(_) }) {
            // RFC 3030 3: DATA after BDAT in the same transaction is a sequence error.
            reply(C503_SEQUENCE, "DATA not allowed after BDAT").encode(out);
            return Next::Continue;
        }
        Reply::new(
            C354_START_DATA,
            "",
            "Start mail input; end with <CRLF>.<CRLF>",
        )
        .encode(out);
        self.receive = Receive::Data;
        Next::Continue
    }

    /// BDAT: the chunk follows the command whatever we answer; it is read (kept, or dropped
    /// when refused or over the limit), then answered.
    pub(crate) fn bdat(&mut self, chunk_size: usize, is_last: bool) -> Next {
        let refusal = self.data_refusal();
        let chunked = match std::mem::replace(&mut self.receive, Receive::COMMANDS) {
            Receive::Command { chunked } => chunked,
            _ => None,
        };
        self.receive = match (refusal, chunked) {
            (Some(refusal), _) => Receive::DiscardChunk {
                size: chunk_size,
                last: is_last,
                refusal: Some(refusal),
            },
            (None, Some(Chunked::TooBig)) => Receive::DiscardChunk {
                size: chunk_size,
                last: is_last,
                refusal: None,
            },
            (None, Some(Chunked::Receiving(message))) => Receive::Chunk {
                size: chunk_size,
                last: is_last,
                message,
            },
            (None, None) => Receive::Chunk {
                size: chunk_size,
                last: is_last,
                message: Vec::new(),
            },
        };
        Next::Continue
    }

    /// Reads the message data the last command announced, if any, and answers it.
    pub(crate) async fn receive_data<S>(
        &mut self,
        io: &mut Io<S>,
        out: &mut Vec<u8>,
    ) -> std::io::Result<Next>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        match std::mem::replace(&mut self.receive, Receive::COMMANDS) {
            Receive::Command { chunked } => {
                self.receive = Receive::Command { chunked };
                Ok(Next::Continue)
            }
            Receive::Data => self.receive_body(io, out).await,
            Receive::Chunk {
                size,
                last,
                mut message,
            } => {
                let max = self.context.settings.max_message_size;
                let before = message.len();
                if before == 0 {
                    // The first chunk: the scan starts, and reads each chunk as it comes.
                    self.scanning = self.context.clamd.as_ref().map(|c| c.start_stream());
                }
                let Some(fits) = self.transfer(io, out, size, &mut message, max).await? else {
                    return Ok(Next::Close);
                };
                let chunked = if fits {
                    if let Some(scan) = self.scanning.as_mut() {
                        scan.push(&message[before..]);
                    }
                    Chunked::Receiving(message)
                } else {
                    self.scanning = None;
                    Chunked::TooBig
                };
                self.end_chunk(out, size, last, chunked).await;
                Ok(Next::Continue)
            }
            Receive::DiscardChunk {
                size,
                last,
                refusal,
            } => {
                let Some(_) = self.transfer(io, out, size, &mut Vec::new(), 0).await? else {
                    return Ok(Next::Close);
                };
                if let Some(refusal) = refusal {
                    refusal.encode(out);
                    return Ok(self.after_error());
                }
                self.end_chunk(out, size, last, Chunked::TooBig).await;
                Ok(Next::Continue)
            }
        }
    }

    /// The DATA body (after 354).
    async fn receive_body<S>(&mut self, io: &mut Io<S>, out: &mut Vec<u8>) -> std::io::Result<Next>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        flush(io, out).await?;
        let context = self.context.clone();
        let settings = &context.settings;
        // A whole transfer may take at most four idle periods: slow senders are cut off.
        let progress = AtomicUsize::new(0);
        let mut counted = Counting::new(io, &progress);
        // The scan reads the message while it arrives (issue 18).
        let mut scanning = context.clamd.as_ref().map(|c| c.start_stream());
        let read = read_data_streamed(
            &mut counted,
            settings.max_line_length,
            settings.max_message_size,
            |bytes| {
                if let Some(scan) = scanning.as_mut() {
                    scan.push(bytes);
                }
            },
        );
        let end = match within_deadlines(settings, &progress, read).await {
            Ok(end) => end,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                self.end_transaction();
                too_slow().encode(out);
                return Ok(Next::Close);
            }
            Err(e) => return Err(e),
        };
        let answer = match end {
            DataEnd::Message(body) => {
                self.scanning = scanning;
                self.accept_message(body).await
            }
            DataEnd::TooBig => {
                self.end_transaction();
                self.too_big()
            }
            DataEnd::LineTooLong => {
                self.end_transaction();
                reply(
                    C500_LINE_TOO_LONG,
                    format!(
                        "Message has a line longer than {} bytes",
                        settings.max_line_length
                    ),
                )
            }
            DataEnd::BareLineEnding => {
                self.end_transaction();
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

    /// Reads a BDAT chunk into `message` if it fits within `max` (see [`read_chunk`]) under
    /// the transfer deadlines. None: too slow, told 421, the connection is to close.
    async fn transfer<S>(
        &mut self,
        io: &mut Io<S>,
        out: &mut Vec<u8>,
        size: usize,
        message: &mut Vec<u8>,
        max: usize,
    ) -> std::io::Result<Option<bool>>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let settings = self.context.settings.clone();
        let progress = AtomicUsize::new(0);
        let mut counted = Counting::new(io, &progress);
        let read = read_chunk(&mut counted, size, message, max);
        match within_deadlines(&settings, &progress, read).await {
            Ok(fits) => Ok(Some(fits)),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                self.end_transaction();
                too_slow().encode(out);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// After an accepted BDAT chunk: 250, or with LAST the message's answer.
    async fn end_chunk(&mut self, out: &mut Vec<u8>, size: usize, last: bool, chunked: Chunked) {
        if !last {
            reply(C250_OK, format!("{size} octets received")).encode(out);
            self.receive = Receive::Command {
                chunked: Some(chunked),
            };
            return;
        }
        let Chunked::Receiving(mut body) = chunked else {
            self.end_transaction();
            self.too_big().encode(out);
            return;
        };
        // No BINARYMIME: the body is text, its lines end in CRLF as in DATA.
        let max = self.context.settings.max_message_size;
        let answer = match normalise_line_endings(&mut body, max) {
            BodyLines::Clean => self.accept_message(body).await,
            BodyLines::Normalised => {
                // The scan saw the bytes before CRLF was made of bare LFs: scan the message
                // as stored instead.
                self.scanning = None;
                self.accept_message(body).await
            }
            BodyLines::BareCr => {
                self.end_transaction();
                bare_line_ending()
            }
            // CRLF for each bare LF would take it past the limit, as DATA counts it.
            BodyLines::TooBig => {
                self.end_transaction();
                self.too_big()
            }
        };
        answer.encode(out);
    }
}
