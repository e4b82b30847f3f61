//! Bounded reading: command lines, DATA (dot-unstuffed), BDAT chunks. Memory never exceeds the
//! configured line and message limits, whatever the peer sends.

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead};

/// One command line, or why there is none.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// Including its line ending.
    Complete(Vec<u8>),
    /// Longer than the limit; the rest up to LF was read and discarded. `crlf`: it ended in
    /// CRLF rather than a bare LF.
    TooLong {
        crlf: bool,
    },
    /// Longer than the limit and no LF within `discard_limit` bytes: give up on the peer.
    Endless,
    Eof,
}

/// Reads one line of at most `max` bytes (ending included). Discards at most `discard_limit`
/// further bytes looking for the end of an over-long line.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
    discard_limit: usize,
) -> std::io::Result<Line> {
    let mut line = Vec::new();
    let mut discarding = false;
    let mut discarded = 0usize;
    let mut last = 0u8;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(Line::Eof);
        }
        let (chunk, found) = match memchr(b'\n', buf) {
            Some(pos) => (&buf[..=pos], true),
            None => (buf, false),
        };
        let n = chunk.len();
        if !discarding && line.len() + n > max {
            discarding = true;
            last = line.last().copied().unwrap_or(0);
            line = Vec::new();
        }
        if discarding {
            discarded += n;
            if found {
                last = if n >= 2 { chunk[n - 2] } else { last };
            } else if let Some(&b) = chunk.last() {
                last = b;
            }
        } else {
            line.extend_from_slice(chunk);
        }
        reader.consume(n);
        if found {
            return Ok(if discarding {
                Line::TooLong {
                    crlf: last == b'\r',
                }
            } else {
                Line::Complete(line)
            });
        }
        if discarding && discarded > discard_limit {
            return Ok(Line::Endless);
        }
    }
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

/// How a DATA transfer ended.
#[derive(Debug, PartialEq, Eq)]
pub enum DataEnd {
    /// The message, dot-unstuffed, every line ending CRLF.
    Message(Vec<u8>),
    /// Larger than the limit; read to the end and dropped.
    TooBig,
    /// A line over the limit; read to the end and dropped.
    LineTooLong,
    /// A bare CR, or an end-of-data look-alike made with a bare LF (`\n.\n`, `\r\n.\n`,
    /// `\n.\r\n`): read to the real `<CRLF>.<CRLF>` and refused (SMTP smuggling).
    BareLineEnding,
    /// The peer sent an endless line or closed mid-message.
    Broken,
}

/// Reads DATA up to the terminating `<CRLF>.<CRLF>` (RFC 5321 4.1.1.4), undoing dot-stuffing
/// (4.5.2). Stores at most `max_size` bytes.
///
/// Line endings (RFC 5321 2.3.8, the SMTP smuggling defence): only `.` CRLF after a CRLF ends
/// the data. A line ending in a bare LF is taken as ending in CRLF (Postfix's
/// `smtpd_forbid_bare_newline = normalize`), but a `.` line next to a bare LF — what a lenient
/// receiver would take for the end — and any bare CR make the whole message refused.
pub async fn read_data<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max_line: usize,
    max_size: usize,
) -> std::io::Result<DataEnd> {
    read_data_streamed(reader, max_line, max_size, |_| {}).await
}

/// How much of a message collects before [`read_data_streamed`] hands it on.
pub const STREAM_CHUNK: usize = 16 * 1024;

/// [`read_data`], handing the message bytes to `on_data` as they arrive (every
/// [`STREAM_CHUNK`] bytes, and the rest at the end of data), so a virus scan can read the
/// message while it is still coming. What `on_data` saw is exactly the start of the
/// [`DataEnd::Message`] returned; after any other end it saw only part of a refused message.
pub async fn read_data_streamed<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max_line: usize,
    max_size: usize,
    mut on_data: impl FnMut(&[u8]),
) -> std::io::Result<DataEnd> {
    let mut sent = 0usize;
    let mut message = Vec::with_capacity(8192.min(max_size));
    let mut too_big = false;
    let mut line_too_long = false;
    let mut bare = false;
    // The DATA command line itself ended in CRLF (the session reads only complete lines).
    let mut after_crlf = true;
    loop {
        match read_line(reader, max_line, max_size).await? {
            Line::Complete(line) => {
                let crlf = line.ends_with(b"\r\n");
                let content = if crlf {
                    &line[..line.len() - 2]
                } else {
                    &line[..line.len() - 1]
                };
                if content == b"." {
                    if crlf && after_crlf {
                        break;
                    }
                    bare = true;
                }
                if content.contains(&b'\r') {
                    bare = true;
                }
                after_crlf = crlf;
                if too_big || line_too_long || bare {
                    continue;
                }
                let body = content.strip_prefix(b".").unwrap_or(content);
                if message.len() + body.len() + 2 > max_size {
                    too_big = true;
                    message = Vec::new();
                    continue;
                }
                message.extend_from_slice(body);
                message.extend_from_slice(b"\r\n");
                if message.len().saturating_sub(sent) >= STREAM_CHUNK {
                    on_data(&message[sent..]);
                    sent = message.len();
                }
            }
            Line::TooLong { crlf } => {
                line_too_long = true;
                after_crlf = crlf;
                message = Vec::new();
            }
            Line::Endless | Line::Eof => return Ok(DataEnd::Broken),
        }
        if bare && !message.is_empty() {
            message = Vec::new();
        }
    }
    if !(too_big || line_too_long || bare) {
        on_data(&message[sent..]);
    }
    Ok(if too_big {
        DataEnd::TooBig
    } else if line_too_long {
        DataEnd::LineTooLong
    } else if bare {
        DataEnd::BareLineEnding
    } else {
        DataEnd::Message(message)
    })
}

/// How a BDAT body's line endings look (RFC 3030 without BINARYMIME: text with CRLF).
#[derive(Debug, PartialEq, Eq)]
pub enum BodyLines {
    /// Every line ends in CRLF.
    Clean,
    /// Bare LFs, made CRLF.
    Normalised,
    /// A bare CR: refused, as in DATA.
    BareCr,
    /// With CRLF for each bare LF it would exceed the size limit (DATA counts it so too):
    /// left unchanged, refused.
    TooBig,
}

/// Makes every bare LF of `body` CRLF, unless that makes it longer than `max_size`; a bare CR
/// is reported, not changed.
pub fn normalise_line_endings(body: &mut Vec<u8>, max_size: usize) -> BodyLines {
    let mut bare_lf = 0usize;
    for (i, &b) in body.iter().enumerate() {
        match b {
            b'\r' if body.get(i + 1) != Some(&b'\n') => return BodyLines::BareCr,
            b'\n' if i == 0 || body[i - 1] != b'\r' => bare_lf += 1,
            _ => {}
        }
    }
    if bare_lf == 0 {
        return BodyLines::Clean;
    }
    if body.len() + bare_lf > max_size {
        return BodyLines::TooBig;
    }
    let mut out = Vec::with_capacity(body.len() + bare_lf);
    for (i, &b) in body.iter().enumerate() {
        if b == b'\n' && (i == 0 || body[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    *body = out;
    BodyLines::Normalised
}

/// A reader that counts the bytes consumed through it (the data-rate watchdog reads the
/// count while a transfer runs).
pub struct Counting<'a, R> {
    inner: &'a mut R,
    count: &'a std::sync::atomic::AtomicUsize,
}

impl<'a, R> Counting<'a, R> {
    pub fn new(inner: &'a mut R, count: &'a std::sync::atomic::AtomicUsize) -> Self {
        Counting { inner, count }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Counting<'_, R> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = std::pin::Pin::new(&mut *this.inner).poll_read(cx, buf);
        this.count.fetch_add(
            buf.filled().len() - before,
            std::sync::atomic::Ordering::Relaxed,
        );
        poll
    }
}

impl<R: AsyncBufRead + Unpin> AsyncBufRead for Counting<'_, R> {
    fn poll_fill_buf(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<&[u8]>> {
        std::pin::Pin::new(&mut *self.get_mut().inner).poll_fill_buf(cx)
    }

    fn consume(self: std::pin::Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        this.count
            .fetch_add(amt, std::sync::atomic::Ordering::Relaxed);
        std::pin::Pin::new(&mut *this.inner).consume(amt);
    }
}

/// Bytes read at a time from a BDAT chunk: memory grows with what arrives, never with what a
/// BDAT command announces.
const CHUNK_READ: usize = 64 * 1024;

/// Reads a BDAT chunk of `size` bytes (RFC 3030 2): appended to `body` when it fits within
/// `max_size`, else read and dropped. Returns false when the chunk did not fit.
pub async fn read_chunk<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    size: usize,
    body: &mut Vec<u8>,
    max_size: usize,
) -> std::io::Result<bool> {
    let fits = body.len().saturating_add(size) <= max_size;
    let mut left = size;
    while left > 0 {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let n = buf.len().min(left).min(CHUNK_READ);
        if fits {
            body.extend_from_slice(&buf[..n]);
        }
        reader.consume(n);
        left -= n;
    }
    Ok(fits)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], max: usize) -> Vec<Line> {
        let mut reader = tokio::io::BufReader::with_capacity(7, input);
        let mut out = vec![];
        loop {
            let line = read_line(&mut reader, max, 20).await.unwrap();
            let stop = matches!(line, Line::Eof | Line::Endless);
            out.push(line);
            if stop {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn line_limits() {
        assert_eq!(
            lines(b"EHLO a\r\nNOOP\r\n", 10).await,
            vec![
                Line::Complete(b"EHLO a\r\n".to_vec()),
                Line::Complete(b"NOOP\r\n".to_vec()),
                Line::Eof
            ]
        );
        assert_eq!(
            lines(b"0123456789ABCDEF\r\nOK\r\n", 10).await,
            vec![
                Line::TooLong { crlf: true },
                Line::Complete(b"OK\r\n".to_vec()),
                Line::Eof
            ]
        );
        assert_eq!(lines(&[b'x'; 100], 10).await, vec![Line::Endless]);
    }

    #[tokio::test]
    async fn data_unstuffs_and_normalises() {
        let mut reader = tokio::io::BufReader::new(&b"a\r\n..b\nc\r\n.\r\nNEXT"[..]);
        assert_eq!(
            read_data(&mut reader, 100, 100).await.unwrap(),
            DataEnd::Message(b"a\r\n.b\r\nc\r\n".to_vec())
        );
        let mut reader = tokio::io::BufReader::new(&b"aaaaaaaaaa\r\nbbbbbbbbbb\r\n.\r\n"[..]);
        assert_eq!(
            read_data(&mut reader, 100, 15).await.unwrap(),
            DataEnd::TooBig
        );
        let mut reader = tokio::io::BufReader::new(&b"aaaaaaaaaaaaaaaaaaaa\r\n.\r\n"[..]);
        assert_eq!(
            read_data(&mut reader, 10, 100).await.unwrap(),
            DataEnd::LineTooLong
        );
        let mut reader = tokio::io::BufReader::new(&b"abc\r\n"[..]);
        assert_eq!(
            read_data(&mut reader, 10, 100).await.unwrap(),
            DataEnd::Broken
        );
        let mut reader = tokio::io::BufReader::new(&b"abc\r\n"[..]);
        assert_eq!(
            read_data(&mut reader, 10, 100).await.unwrap(),
            DataEnd::Broken
        );
    }

    /// Every end-of-data look-alike with a bare LF or CR (the SMTP smuggling vectors): none
    /// ends the data, the real `<CRLF>.<CRLF>` does, and the message is refused.
    #[tokio::test]
    async fn only_crlf_dot_crlf_ends_data() {
        for smuggle in [
            &b"a\n.\nMAIL FROM:<x@y>\r\n"[..],
            b"a\r\n.\nMAIL FROM:<x@y>\r\n",
            b"a\n.\r\nMAIL FROM:<x@y>\r\n",
            b"a\r.\r\nMAIL FROM:<x@y>\r\n",
            b"a\r\n.\r.\r\n",
            b".\n",
        ] {
            let mut input = smuggle.to_vec();
            input.extend_from_slice(b"rest\r\n.\r\nNEXT\r\n");
            let mut reader = tokio::io::BufReader::with_capacity(5, &input[..]);
            assert_eq!(
                read_data(&mut reader, 100, 1000).await.unwrap(),
                DataEnd::BareLineEnding,
                "{:?}",
                String::from_utf8_lossy(smuggle)
            );
            let mut rest = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut rest)
                .await
                .unwrap();
            assert_eq!(rest, b"NEXT\r\n", "read up to the real end only");
        }
        // Bare LF line endings elsewhere are made CRLF.
        let mut reader = tokio::io::BufReader::new(&b"a\nb\r\n..c\n\r\n.\r\n"[..]);
        assert_eq!(
            read_data(&mut reader, 100, 1000).await.unwrap(),
            DataEnd::Message(b"a\r\nb\r\n.c\r\n\r\n".to_vec())
        );
        // An empty message: the DATA line's CRLF precedes the dot.
        let mut reader = tokio::io::BufReader::new(&b".\r\n"[..]);
        assert_eq!(
            read_data(&mut reader, 100, 1000).await.unwrap(),
            DataEnd::Message(vec![])
        );
    }

    #[test]
    fn bdat_line_endings() {
        let mut body = b"a\r\nb\n".to_vec();
        assert_eq!(
            normalise_line_endings(&mut body, 100),
            BodyLines::Normalised
        );
        assert_eq!(body, b"a\r\nb\r\n");
        assert_eq!(normalise_line_endings(&mut body, 100), BodyLines::Clean);
        let mut body = b"a\rb\r\n".to_vec();
        assert_eq!(normalise_line_endings(&mut body, 100), BodyLines::BareCr);
        let mut body = b"a\r".to_vec();
        assert_eq!(normalise_line_endings(&mut body, 100), BodyLines::BareCr);
        let mut body = b"abc\n".to_vec();
        assert_eq!(normalise_line_endings(&mut body, 4), BodyLines::TooBig);
        assert_eq!(body, b"abc\n");
    }

    /// An announced size allocates nothing: memory follows the bytes that arrive.
    #[tokio::test]
    async fn bdat_reads_what_arrives() {
        let mut reader = tokio::io::BufReader::new(&b"0123456789"[..]);
        let mut body = Vec::new();
        let err = read_chunk(&mut reader, 52_000_000, &mut body, 60_000_000)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
        assert_eq!(body, b"0123456789");
        assert!(body.capacity() < 1024 * 1024, "{}", body.capacity());
        let mut reader = tokio::io::BufReader::new(&b"abcdefNEXT"[..]);
        let mut body = b"xy".to_vec();
        assert!(read_chunk(&mut reader, 6, &mut body, 100).await.unwrap());
        assert_eq!(body, b"xyabcdef");
        let mut body = Vec::new();
        let mut reader = tokio::io::BufReader::new(&b"abcdefNEXT"[..]);
        assert!(!read_chunk(&mut reader, 6, &mut body, 5).await.unwrap());
        assert!(body.is_empty());
    }
}
