//! Bounded reading: command lines, DATA (dot-unstuffed), BDAT chunks. Memory never exceeds the
//! configured line and message limits, whatever the peer sends.

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// One command line, or why there is none.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// Including its line ending.
    Complete(Vec<u8>),
    /// Longer than the limit; the rest up to LF was read and discarded.
    TooLong,
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
            line = Vec::new();
        }
        if discarding {
            discarded += n;
        } else {
            line.extend_from_slice(chunk);
        }
        reader.consume(n);
        if found {
            return Ok(if discarding {
                Line::TooLong
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
    /// The peer sent an endless line or closed mid-message.
    Broken,
}

/// Reads DATA up to the terminating `.` line (RFC 5321 4.1.1.4), undoing dot-stuffing
/// (4.5.2) and turning bare LF into CRLF. Stores at most `max_size` bytes.
pub async fn read_data<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max_line: usize,
    max_size: usize,
) -> std::io::Result<DataEnd> {
    let mut message = Vec::with_capacity(8192.min(max_size));
    let mut too_big = false;
    let mut line_too_long = false;
    loop {
        match read_line(reader, max_line, max_size).await? {
            Line::Complete(line) => {
                if line == b".\r\n" || line == b".\n" {
                    break;
                }
                if too_big || line_too_long {
                    continue;
                }
                let content = line.strip_prefix(b".").unwrap_or(&line);
                let body = content
                    .strip_suffix(b"\r\n")
                    .or_else(|| content.strip_suffix(b"\n"))
                    .unwrap_or(content);
                if message.len() + body.len() + 2 > max_size {
                    too_big = true;
                    message = Vec::new();
                    continue;
                }
                message.extend_from_slice(body);
                message.extend_from_slice(b"\r\n");
            }
            Line::TooLong => {
                line_too_long = true;
                message = Vec::new();
            }
            Line::Endless | Line::Eof => return Ok(DataEnd::Broken),
        }
    }
    Ok(if too_big {
        DataEnd::TooBig
    } else if line_too_long {
        DataEnd::LineTooLong
    } else {
        DataEnd::Message(message)
    })
}

/// Reads a BDAT chunk of `size` bytes (RFC 3030 2): appended to `body` when it fits within
/// `max_size`, else read and dropped. Returns false when the chunk did not fit.
pub async fn read_chunk<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    size: usize,
    body: &mut Vec<u8>,
    max_size: usize,
) -> std::io::Result<bool> {
    if body.len().saturating_add(size) <= max_size {
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..]).await?;
        return Ok(true);
    }
    let mut left = size;
    let mut scratch = vec![0u8; 64 * 1024];
    while left > 0 {
        let n = left.min(scratch.len());
        reader.read_exact(&mut scratch[..n]).await?;
        left -= n;
    }
    Ok(false)
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
            vec![Line::TooLong, Line::Complete(b"OK\r\n".to_vec()), Line::Eof]
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
    }
}
