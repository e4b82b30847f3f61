//! `smtp_reader`: `smtp::io::{read_line, read_data, read_chunk}` over an in-memory stream, the
//! way `smtp::session` drives them, with every command line parsed by smtp-proto's
//! `Request::parse` as the session does.
//!
//! Input layout: 4 bytes of limits, then the byte stream the peer sends.
//! - byte 0: `BufReader` capacity: `1 + b % 64` (b < 128), `64 + 16 * (b % 64)` (b < 192), or
//!   8192;
//! - byte 1: `max_line_length = 4 + 4 * b` (4..=1024); command lines are read with the
//!   session's discard limit `4 * max_line_length`;
//! - bytes 2-3: `max_message_size = 4 * u16le` (0..=256 KiB).
//!
//! Asserts, besides "no panic" and "returns at EOF" (every call consumes input or ends the loop):
//! - `read_line`: `Complete` is exactly the next line (LF included) and at most the limit;
//!   `TooLong` consumed exactly one line longer than the limit; `Endless` consumed more than the
//!   discard limit of a line; `Eof` only when the stream is used up;
//! - `read_data`: the message is at most `max_message_size` bytes, has no bare LF, and equals a
//!   reference dot-unstuffing of the bytes consumed (which end with the `.` line); `TooBig`,
//!   `LineTooLong` and `Broken` only when the consumed bytes justify them;
//! - `read_chunk`: BDAT appends exactly the next `size` bytes when they fit (the body never
//!   exceeds `max_message_size`), consumes and drops them when not, and fails only at EOF.

use std::cell::RefCell;

use smtp::io::{
    normalise_line_endings, read_chunk, read_data, read_line, BodyLines, DataEnd, Line,
};
use smtp_proto::Request;
use tokio::io::BufReader;

thread_local! {
    static RUNTIME: RefCell<Option<tokio::runtime::Runtime>> = const { RefCell::new(None) };
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    RUNTIME.with(|slot| {
        let mut slot = slot.borrow_mut();
        let runtime = slot.get_or_insert_with(|| {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("current-thread runtime")
        });
        runtime.block_on(future)
    })
}

pub struct Limits {
    pub capacity: usize,
    pub max_line: usize,
    pub max_size: usize,
}

pub fn limits(header: [u8; 4]) -> Limits {
    let capacity = match header[0] {
        b @ 0..=127 => 1 + usize::from(b % 64),
        b @ 128..=191 => 64 + 16 * usize::from(b % 64),
        _ => 8192,
    };
    Limits {
        capacity,
        max_line: 4 + 4 * usize::from(header[1]),
        max_size: 4 * usize::from(u16::from_le_bytes([header[2], header[3]])),
    }
}

/// Bytes not yet consumed from the in-memory stream.
fn remaining(reader: &BufReader<&[u8]>) -> usize {
    reader.get_ref().len() + reader.buffer().len()
}

pub fn run(data: &[u8]) {
    let Some((header, stream)) = data.split_first_chunk::<4>() else {
        return;
    };
    let limits = limits(*header);
    block_on(session(stream, &limits));
}

async fn session(stream: &[u8], limits: &Limits) {
    let Limits {
        capacity,
        max_line,
        max_size,
    } = *limits;
    let discard = max_line * 4;
    let mut reader = BufReader::with_capacity(capacity, stream);
    let mut bdat_body: Vec<u8> = Vec::new();
    let mut bdat_too_big = false;
    loop {
        let before = remaining(&reader);
        let at = stream.len() - before;
        let line = read_line(&mut reader, max_line, discard)
            .await
            .expect("reading memory cannot fail");
        let consumed = before - remaining(&reader);
        check_line(&stream[at..], &line, consumed, max_line, discard);
        match line {
            Line::Eof | Line::Endless => return,
            Line::TooLong { .. } => continue,
            Line::Complete(line) => match Request::parse(&mut line.iter()) {
                Ok(Request::Data) => {
                    let before = remaining(&reader);
                    let at = stream.len() - before;
                    let end = read_data(&mut reader, max_line, max_size)
                        .await
                        .expect("reading memory cannot fail");
                    let consumed = &stream[at..at + before - remaining(&reader)];
                    check_data(consumed, remaining(&reader), &end, max_line, max_size);
                    if end == DataEnd::Broken {
                        return;
                    }
                }
                Ok(Request::Bdat {
                    chunk_size,
                    is_last,
                }) => {
                    let before = remaining(&reader);
                    let at = stream.len() - before;
                    let start_len = bdat_body.len();
                    let result =
                        read_chunk(&mut reader, chunk_size, &mut bdat_body, max_size).await;
                    let consumed = before - remaining(&reader);
                    assert!(
                        bdat_body.len() <= max_size.max(start_len),
                        "BDAT body {} bytes over the {max_size}-byte limit",
                        bdat_body.len()
                    );
                    match result {
                        Ok(true) => {
                            assert!(start_len.saturating_add(chunk_size) <= max_size);
                            assert_eq!(consumed, chunk_size, "BDAT consumed the wrong size");
                            assert_eq!(bdat_body.len(), start_len + chunk_size);
                            assert!(
                                bdat_body[start_len..] == stream[at..at + chunk_size],
                                "BDAT stored other bytes than the chunk"
                            );
                        }
                        Ok(false) => {
                            assert!(start_len.saturating_add(chunk_size) > max_size);
                            assert_eq!(consumed, chunk_size, "BDAT dropped the wrong size");
                            assert_eq!(bdat_body.len(), start_len, "dropped chunk kept bytes");
                            // The session drops the transaction's body (552 at LAST).
                            bdat_too_big = true;
                            bdat_body = Vec::new();
                        }
                        Err(e) => {
                            assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
                            assert!(before < chunk_size, "BDAT failed with the chunk available");
                            assert_eq!(remaining(&reader), 0, "BDAT failed before EOF");
                            return;
                        }
                    }
                    if is_last {
                        if !bdat_too_big {
                            check_bdat_body(std::mem::take(&mut bdat_body), max_size);
                        }
                        bdat_body.clear();
                        bdat_too_big = false;
                    }
                }
                _ => {}
            },
        }
        assert!(consumed > 0, "read_line returned without consuming input");
    }
}

fn check_line(rest: &[u8], line: &Line, consumed: usize, max: usize, discard: usize) {
    let newline = rest.iter().position(|&b| b == b'\n');
    match line {
        Line::Complete(l) => {
            let n = newline.expect("Complete line without LF in the stream") + 1;
            assert!(
                l.len() <= max,
                "line of {} bytes over the {max} limit",
                l.len()
            );
            assert_eq!(&l[..], &rest[..n], "Complete is not the next line");
            assert_eq!(consumed, n);
        }
        Line::TooLong { crlf } => {
            let n = newline.expect("TooLong without LF in the stream") + 1;
            assert!(n > max, "TooLong for a {n}-byte line (limit {max})");
            assert_eq!(consumed, n, "TooLong consumed other than the line");
            assert_eq!(
                *crlf,
                n >= 2 && rest[n - 2] == b'\r',
                "TooLong says crlf={crlf} for a line ending {:?}",
                &rest[n.saturating_sub(2)..n]
            );
        }
        Line::Endless => {
            let line_len = newline.map_or(rest.len(), |p| p + 1);
            assert!(
                consumed > discard,
                "Endless after {consumed} bytes (limit {discard})"
            );
            assert!(consumed <= line_len, "Endless consumed past the line");
            assert!(line_len > max);
        }
        Line::Eof => {
            assert!(newline.is_none(), "Eof with a line still in the stream");
            assert_eq!(consumed, rest.len(), "Eof with bytes left");
        }
    }
}

/// A message assembled by BDAT, at LAST: bare LFs become CRLF, a bare CR refuses it.
fn check_bdat_body(mut body: Vec<u8>, max_size: usize) {
    let original = body.clone();
    let bare_lf = original
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' && (i == 0 || original[i - 1] != b'\r'))
        .count();
    let bare_cr = original
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\r' && original.get(i + 1) != Some(&b'\n'));
    match normalise_line_endings(&mut body, max_size) {
        BodyLines::BareCr => assert!(bare_cr, "BareCr without a bare CR"),
        BodyLines::TooBig => {
            assert!(!bare_cr && bare_lf > 0);
            assert!(
                original.len() + bare_lf > max_size,
                "TooBig within the limit"
            );
            assert_eq!(body, original, "a refused body is left unchanged");
        }
        BodyLines::Clean => {
            assert!(!bare_cr && bare_lf == 0, "Clean body with a bare CR or LF");
            assert_eq!(body, original);
        }
        BodyLines::Normalised => {
            assert!(!bare_cr && bare_lf > 0);
            assert_eq!(body.len(), original.len() + bare_lf);
            assert_no_bare_line_ending(&body);
            assert!(
                body.len() <= max_size,
                "BDAT message of {} bytes after making {bare_lf} bare LFs CRLF, over the \
                 {max_size}-byte limit",
                body.len()
            );
        }
    }
}

fn assert_no_bare_line_ending(message: &[u8]) {
    for (i, &b) in message.iter().enumerate() {
        assert!(
            b != b'\n' || (i > 0 && message[i - 1] == b'\r'),
            "bare LF in an accepted message"
        );
        assert!(
            b != b'\r' || message.get(i + 1) == Some(&b'\n'),
            "bare CR in an accepted message"
        );
    }
}

/// What `read_data` must answer for the bytes it consumed (a model of RFC 5321 4.1.1.4 with
/// the smuggling defence: only `<CRLF>.<CRLF>` ends the data, a `.` line next to a bare LF or
/// any bare CR refuses the message, other bare LFs count as CRLF).
fn expected_data_end(consumed: &[u8], max_line: usize, max_size: usize) -> Option<DataEnd> {
    let mut after_crlf = true;
    let mut bare = false;
    let mut too_big = false;
    let mut long_line = false;
    let mut message = Vec::new();
    let lines: Vec<&[u8]> = consumed.split_inclusive(|&b| b == b'\n').collect();
    for (i, line) in lines.iter().enumerate() {
        if !line.ends_with(b"\n") {
            return None; // EOF or an endless line: Broken.
        }
        let crlf = line.ends_with(b"\r\n");
        if line.len() > max_line {
            long_line = true;
            after_crlf = crlf;
            continue;
        }
        let content = &line[..line.len() - if crlf { 2 } else { 1 }];
        if content == b"." {
            if crlf && after_crlf {
                assert_eq!(i + 1, lines.len(), "read_data read past the end of data");
                return Some(if too_big {
                    DataEnd::TooBig
                } else if long_line {
                    DataEnd::LineTooLong
                } else if bare {
                    DataEnd::BareLineEnding
                } else {
                    DataEnd::Message(message)
                });
            }
            bare = true;
        }
        if content.contains(&b'\r') {
            bare = true;
        }
        after_crlf = crlf;
        if too_big || long_line || bare {
            continue;
        }
        let body = content.strip_prefix(b".").unwrap_or(content);
        if message.len() + body.len() + 2 > max_size {
            too_big = true;
            continue;
        }
        message.extend_from_slice(body);
        message.extend_from_slice(b"\r\n");
    }
    None
}

fn check_data(consumed: &[u8], left: usize, end: &DataEnd, max_line: usize, max_size: usize) {
    if let DataEnd::Message(message) = end {
        assert!(
            message.len() <= max_size,
            "message of {} bytes over the {max_size}-byte limit",
            message.len()
        );
        assert_no_bare_line_ending(message);
        assert!(
            consumed == b".\r\n" || consumed.ends_with(b"\r\n.\r\n"),
            "DATA ended without <CRLF>.<CRLF>"
        );
    }
    match expected_data_end(consumed, max_line, max_size) {
        Some(expected) => assert!(
            *end == expected,
            "read_data answered {} where the model says {}",
            short(end),
            short(&expected)
        ),
        None => {
            assert_eq!(*end, DataEnd::Broken, "unterminated data not Broken");
            let last = consumed.rsplit(|&b| b == b'\n').next().unwrap_or_default();
            let endless = last.len() > max_size && last.len() > max_line;
            assert!(
                left == 0 || endless,
                "Broken with {left} bytes left and no endless line"
            );
        }
    }
}

fn short(end: &DataEnd) -> String {
    match end {
        DataEnd::Message(m) => format!("Message({} bytes)", m.len()),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn session_like_inputs() {
        super::run(b"\x07\x40\x00\x10EHLO a\r\nMAIL FROM:<a@b>\r\nDATA\r\nx\r\n..y\n.\r\nBDAT 3 LAST\r\nabcQUIT\r\n");
        super::run(b"\x01\x01\x01\x00DATA\r\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n.\r\n");
        super::run(b"\xff\x00\x00\x00BDAT 4294967295 LAST\r\nabc");
    }
}
