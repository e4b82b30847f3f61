//! Test support shared by the protocol crates (a dev-dependency only).
//!
//! [`Conversation`] talks to a session over an in-memory pipe instead of TCP, so a protocol
//! test reads like the exchange it checks and needs no listener:
//!
//! ```text
//! let (mut c, server_end) = testkit::pair();
//! tokio::spawn(session.run(server_end));
//! c.reply().await.expect("220");
//! c.cmd("RCPT TO:<a@b>").await.expect("250");
//! c.imap("SELECT INBOX").await.expect("OK");        // IMAP: tag added, read to the tagged line
//! ```
//!
//! Every read has a deadline ([`Conversation::timeout`], 10 s): a session that hangs fails the
//! test with what was said so far instead of hanging it.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, ReadHalf, WriteHalf};

/// Bytes the in-memory pipe buffers in each direction.
const PIPE_BYTES: usize = 256 * 1024;

/// A client's end of a conversation and the server's end, for a session's `run(stream)`.
pub fn pair() -> (Conversation, DuplexStream) {
    let (client, server) = tokio::io::duplex(PIPE_BYTES);
    (Conversation::new(client), server)
}

/// One side of a line-based protocol conversation (SMTP, IMAP, ManageSieve, …).
pub struct Conversation {
    reader: BufReader<ReadHalf<DuplexStream>>,
    writer: WriteHalf<DuplexStream>,
    /// Deadline of each read.
    pub timeout: Duration,
    next_tag: u32,
}

/// What the server answered to one command: every line (CRLF removed), and the final line
/// without its IMAP tag (for SMTP the final line as sent).
#[derive(Debug, Clone)]
pub struct Reply {
    pub lines: Vec<String>,
    pub status: String,
}

impl Reply {
    /// Asserts the final line starts with `prefix` (`"250"`, `"250 2.1.5"`, `"OK"`,
    /// `"NO [NOPERM]"`), naming the whole reply when it does not.
    #[track_caller]
    pub fn expect(&self, prefix: &str) -> &Reply {
        assert!(
            self.status.starts_with(prefix),
            "expected a reply starting with {prefix:?}, got:\n{}",
            self.lines.join("\n")
        );
        self
    }

    /// The SMTP reply code (the final line's first three digits).
    #[track_caller]
    pub fn code(&self) -> u16 {
        self.status
            .get(..3)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("not an SMTP reply: {:?}", self.lines))
    }

    /// IMAP untagged lines (`* …`) with the `* ` removed.
    pub fn untagged(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().filter_map(|l| l.strip_prefix("* "))
    }

    /// True when some line contains `needle`.
    pub fn mentions(&self, needle: &str) -> bool {
        self.lines.iter().any(|l| l.contains(needle))
    }
}

impl Conversation {
    pub fn new(stream: DuplexStream) -> Conversation {
        let (read, write) = tokio::io::split(stream);
        Conversation {
            reader: BufReader::new(read),
            writer: write,
            timeout: Duration::from_secs(10),
            next_tag: 1,
        }
    }

    /// Sends `bytes` as they are (no CRLF added): for literals, bodies, broken input.
    pub async fn write(&mut self, bytes: &[u8]) {
        self.writer
            .write_all(bytes)
            .await
            .expect("the session closed the connection while we were writing");
        self.writer.flush().await.expect("flush");
    }

    /// Sends one line, CRLF added.
    pub async fn send(&mut self, line: &str) {
        self.write(format!("{line}\r\n").as_bytes()).await;
    }

    /// The next line without its CRLF; `None` at end of stream.
    pub async fn try_line(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        let read = tokio::time::timeout(self.timeout, self.reader.read_until(b'\n', &mut buf))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no line from the session within {:?} (partial: {:?})",
                    self.timeout,
                    String::from_utf8_lossy(&buf)
                )
            })
            .expect("read from the session");
        if read == 0 {
            return None;
        }
        while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            buf.pop();
        }
        Some(String::from_utf8_lossy(&buf).into_owned())
    }

    /// The next line; fails the test at end of stream.
    pub async fn line(&mut self) -> String {
        match self.try_line().await {
            Some(line) => line,
            None => panic!("the session closed the connection"),
        }
    }

    /// One SMTP reply: lines up to the one whose code is followed by a space (RFC 5321 4.2.1).
    pub async fn reply(&mut self) -> Reply {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await;
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                break;
            }
        }
        let status = lines.last().cloned().unwrap_or_default();
        Reply { lines, status }
    }

    /// Sends an SMTP command and reads its reply.
    pub async fn cmd(&mut self, line: &str) -> Reply {
        self.send(line).await;
        self.reply().await
    }

    /// Sends an IMAP command under a fresh tag and reads up to the tagged completion. The
    /// command must not contain a synchronising literal (use [`Conversation::write`]).
    pub async fn imap(&mut self, command: &str) -> Reply {
        let tag = format!("t{}", self.next_tag);
        self.next_tag += 1;
        self.send(&format!("{tag} {command}")).await;
        self.tagged(&tag).await
    }

    /// Sends an IMAP command under the tag `tag` and returns every byte up to and including
    /// its tagged completion, CRLFs kept: a line ending in a literal announcement (`{n}` or
    /// `~{n}`) is followed by exactly n bytes, which may hold anything (CRLF, NUL).
    pub async fn imap_bytes(&mut self, tag: &str, command: &str) -> Vec<u8> {
        use tokio::io::AsyncReadExt;
        self.send(&format!("{tag} {command}")).await;
        let prefix = format!("{tag} ");
        let mut out = Vec::new();
        let mut line_start = true;
        loop {
            let mut line = Vec::new();
            tokio::time::timeout(self.timeout, self.reader.read_until(b'\n', &mut line))
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "no line within {:?} (so far: {:?})",
                        self.timeout,
                        String::from_utf8_lossy(&out)
                    )
                })
                .expect("read from the session");
            assert!(!line.is_empty(), "the session closed the connection");
            let tagged = line_start && line.starts_with(prefix.as_bytes());
            out.extend_from_slice(&line);
            let body = line.strip_suffix(b"\r\n").unwrap_or(&line);
            let literal = body
                .strip_suffix(b"}")
                .and_then(|t| t.iter().rposition(|&b| b == b'{').map(|i| &t[i + 1..]))
                .and_then(|digits| std::str::from_utf8(digits).ok()?.parse::<usize>().ok());
            match literal {
                Some(len) => {
                    let mut bytes = vec![0u8; len];
                    tokio::time::timeout(self.timeout, self.reader.read_exact(&mut bytes))
                        .await
                        .expect("literal within the deadline")
                        .expect("read the literal");
                    out.extend_from_slice(&bytes);
                    line_start = false;
                }
                None if tagged => return out,
                None => line_start = true,
            }
        }
    }

    /// Lines up to the one tagged `tag`.
    pub async fn tagged(&mut self, tag: &str) -> Reply {
        let prefix = format!("{tag} ");
        let mut lines = Vec::new();
        loop {
            let line = self.line().await;
            let done = line.starts_with(&prefix);
            lines.push(line);
            if done {
                break;
            }
        }
        let status = lines
            .last()
            .map(|l| l[prefix.len()..].to_string())
            .unwrap_or_default();
        Reply { lines, status }
    }

    /// Asserts the session closes the connection within the deadline, whatever it says first
    /// (returned).
    pub async fn closed(&mut self) -> Vec<String> {
        let mut said = Vec::new();
        while let Some(line) = self.try_line().await {
            said.push(line);
        }
        said
    }
}

/// Runs `sql` on the SQLite database at `db` from a second connection while a server keeps
/// running, as an operator's tool (or a damaged database) would. The protocol crates have no
/// SQL driver of their own, so this connection is Python's sqlite3 (scripts/test installs
/// python3). Panics with Python's error when the script fails.
pub async fn sql_from_outside(db: &std::path::Path, sql: &str) {
    let out = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import sqlite3, sys\n\
             c = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)\n\
             c.executescript(sys.argv[2])\n\
             c.close()",
        )
        .arg(db)
        .arg(sql)
        .output()
        .await
        .expect("python3 runs (scripts/test installs it)");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn smtp_multiline_replies_end_at_the_code_followed_by_a_space() {
        let (mut c, server) = pair();
        let mut server = Conversation::new(server);
        server
            .write(b"250-first\r\n250-second\r\n250 last\r\n")
            .await;
        let reply = c.reply().await;
        assert_eq!(reply.lines.len(), 3);
        assert_eq!(reply.code(), 250);
        reply.expect("250 last");
    }

    #[tokio::test]
    async fn imap_replies_end_at_the_tagged_line() {
        let (mut c, server) = pair();
        let mut server = Conversation::new(server);
        let serve = tokio::spawn(async move {
            assert_eq!(server.line().await, "t1 NOOP");
            server.write(b"* 3 EXISTS\r\nt1 OK done\r\n").await;
        });
        let reply = c.imap("NOOP").await;
        reply.expect("OK");
        assert_eq!(reply.untagged().collect::<Vec<_>>(), ["3 EXISTS"]);
        serve.await.unwrap();
    }

    #[tokio::test]
    #[should_panic(expected = "expected a reply starting with")]
    async fn a_wrong_reply_fails_the_test() {
        let (mut c, server) = pair();
        let mut server = Conversation::new(server);
        server.write(b"550 5.1.1 no such user\r\n").await;
        c.reply().await.expect("250");
    }

    #[tokio::test]
    async fn end_of_stream_is_seen() {
        let (mut c, server) = pair();
        let mut server = Conversation::new(server);
        server.write(b"221 bye\r\n").await;
        drop(server);
        assert_eq!(c.closed().await, ["221 bye"]);
    }
}
