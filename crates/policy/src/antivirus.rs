//! The clamd adapter: INSTREAM over TCP or a unix socket (clamav-client), with a timeout, and a
//! parser for clamd's reply (its own `clean()` is a substring test, too loose to trust).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use clamav_client::tokio::{get_version, ping, Socket, Tcp};

/// Where clamd listens, parsed from `tcp://host:port` or `unix:///path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdAddress {
    Tcp(String),
    Unix(String),
}

impl ClamdAddress {
    pub fn parse(text: &str) -> Result<ClamdAddress, String> {
        if let Some(rest) = text.strip_prefix("tcp://") {
            if rest
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
            {
                return Ok(ClamdAddress::Tcp(rest.to_string()));
            }
            return Err(format!("{text:?}: expected tcp://HOST:PORT"));
        }
        if let Some(rest) = text.strip_prefix("unix://") {
            if rest.starts_with('/') {
                return Ok(ClamdAddress::Unix(rest.to_string()));
            }
            return Err(format!("{text:?}: expected unix:///absolute/path"));
        }
        Err(format!(
            "{text:?}: expected tcp://HOST:PORT or unix:///PATH"
        ))
    }
}

/// What clamd said about a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// The signature name, e.g. `Eicar-Test-Signature.UNOFFICIAL`.
    Infected(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("clamd unreachable: {0}")]
    Unreachable(String),
    #[error("clamd timed out after {0:?}")]
    Timeout(Duration),
    #[error("clamd error: {0}")]
    Clamd(String),
}

/// Parses an INSTREAM reply: `stream: OK`, `stream: NAME FOUND`, or `... ERROR`.
pub fn parse_reply(reply: &[u8]) -> Result<Verdict, ScanError> {
    let text = String::from_utf8_lossy(reply);
    let text = text.trim_end_matches(['\0', '\n', '\r', ' ']);
    let body = text.strip_prefix("stream: ").unwrap_or(text);
    if body == "OK" {
        return Ok(Verdict::Clean);
    }
    if let Some(name) = body.strip_suffix(" FOUND") {
        return Ok(Verdict::Infected(name.trim().to_string()));
    }
    Err(ScanError::Clamd(text.to_string()))
}

/// A clamd client with a deadline on every call. Scans go over clamd sessions (`zIDSESSION`)
/// kept open between messages in a pool shared by the clones of this value; a message can be
/// streamed while it arrives ([`Clamd::start_stream`]).
#[derive(Debug, Clone)]
pub struct Clamd {
    pub address: ClamdAddress,
    pub timeout: Duration,
    pool: Arc<Pool>,
}

impl Clamd {
    pub fn new(address: ClamdAddress, timeout: Duration) -> Clamd {
        Clamd {
            address,
            timeout,
            pool: Arc::new(Pool::default()),
        }
    }

    /// Scans `bytes` with INSTREAM over a pooled session; a pooled session that fails (clamd
    /// restarted, idle session closed) is replaced by a new connection once.
    pub async fn scan(&self, bytes: &[u8]) -> Result<Verdict, ScanError> {
        let mut stream = self.start_stream();
        stream.push(bytes);
        stream.finish(bytes).await
    }

    /// Starts an INSTREAM scan whose bytes come with [`StreamScan::push`] as they arrive; the
    /// verdict comes from [`StreamScan::finish`].
    pub fn start_stream(&self) -> StreamScan {
        self.pool.scans.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = mpsc::unbounded_channel();
        let clamd = self.clone();
        let task = tokio::spawn(async move { clamd.stream_task(receiver, false).await });
        StreamScan {
            clamd: self.clone(),
            sender: Some(sender),
            task: Some(task),
            pushed: 0,
        }
    }

    /// Connections opened (not taken from the pool) since start: for tests and metrics.
    pub fn connections_opened(&self) -> u64 {
        self.pool.opened.load(Ordering::Relaxed)
    }

    /// Scans started since start (a retry on a new connection is part of its scan).
    pub fn scans_started(&self) -> u64 {
        self.pool.scans.load(Ordering::Relaxed)
    }

    /// Sessions kept open now.
    pub fn idle_sessions(&self) -> usize {
        self.pool.idle.lock().map(|idle| idle.len()).unwrap_or(0)
    }

    async fn connect(&self) -> Result<Connection, ScanError> {
        let connect = async {
            let stream: Box<dyn Duplex> = match &self.address {
                ClamdAddress::Tcp(host) => {
                    let tcp = tokio::net::TcpStream::connect(host.as_str()).await?;
                    tcp.set_nodelay(true)?;
                    Box::new(tcp)
                }
                #[cfg(unix)]
                ClamdAddress::Unix(path) => Box::new(tokio::net::UnixStream::connect(path).await?),
                #[cfg(not(unix))]
                ClamdAddress::Unix(_) => {
                    return Err(std::io::Error::other("unix sockets unsupported"));
                }
            };
            let mut stream = stream;
            stream.write_all(b"zIDSESSION\0").await?;
            Ok::<_, std::io::Error>(stream)
        };
        let stream = tokio::time::timeout(self.timeout, connect)
            .await
            .map_err(|_| ScanError::Timeout(self.timeout))?
            .map_err(|e| ScanError::Unreachable(e.to_string()))?;
        self.pool.opened.fetch_add(1, Ordering::Relaxed);
        Ok(Connection {
            stream,
            next_id: 1,
            reused: false,
            idle_since: Instant::now(),
        })
    }

    /// A pooled session younger than [`MAX_IDLE`], else a new one.
    async fn checkout(&self, fresh: bool) -> Result<Connection, ScanError> {
        if !fresh {
            while let Some(mut connection) = self.pool.take() {
                if connection.idle_since.elapsed() < MAX_IDLE {
                    connection.reused = true;
                    return Ok(connection);
                }
            }
        }
        self.connect().await
    }

    /// Sends what the channel brings as INSTREAM chunks, then the terminator, and reads the
    /// verdict. The session goes back to the pool only after a well-formed reply.
    async fn stream_task(
        &self,
        mut receiver: mpsc::UnboundedReceiver<Vec<u8>>,
        fresh: bool,
    ) -> Result<Verdict, Attempt> {
        let mut connection = self.checkout(fresh).await.map_err(Attempt::Fresh)?;
        let reused = connection.reused;
        let failed = |e: ScanError| {
            if reused {
                Attempt::Reused(e)
            } else {
                Attempt::Fresh(e)
            }
        };
        let io = |e: std::io::Error| failed(ScanError::Unreachable(e.to_string()));
        let id = connection.next_id;
        connection.next_id += 1;
        // Few writes: the command goes with the first chunk, and the terminator with the last
        // when the channel is already closed.
        let mut out = b"zINSTREAM\0".to_vec();
        let frame = |out: &mut Vec<u8>, bytes: &[u8]| {
            for chunk in bytes.chunks(CHUNK) {
                // clamd protocol: each chunk is its length (4 bytes, network order) and data.
                out.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
                out.extend_from_slice(chunk);
            }
        };
        let mut open = true;
        while open {
            match receiver.recv().await {
                Some(bytes) => frame(&mut out, &bytes),
                None => break,
            }
            loop {
                match receiver.try_recv() {
                    Ok(bytes) => frame(&mut out, &bytes),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                }
            }
            if open {
                connection.stream.write_all(&out).await.map_err(io)?;
                out.clear();
            }
        }
        // A zero-length chunk ends the stream.
        out.extend_from_slice(&[0, 0, 0, 0]);
        connection.stream.write_all(&out).await.map_err(io)?;
        connection.stream.flush().await.map_err(io)?;
        let reply = read_reply(&mut connection.stream).await.map_err(io)?;
        // Session replies are `<id>: <reply>` (clamd(8), IDSESSION).
        let text = String::from_utf8_lossy(&reply);
        let Some(body) = text.strip_prefix(&format!("{id}: ")) else {
            return Err(failed(ScanError::Clamd(
                text.trim_end_matches('\0').to_string(),
            )));
        };
        let verdict = parse_reply(body.as_bytes()).map_err(failed)?;
        connection.idle_since = Instant::now();
        self.pool.put(connection);
        Ok(verdict)
    }

    /// VERSION → `ClamAV 1.4.6/27000/Mon Nov 23 09:00:00 2026` (engine / signature version /
    /// signature date), trimmed.
    pub async fn version(&self) -> Result<String, ScanError> {
        let call = async {
            match &self.address {
                ClamdAddress::Tcp(host) => {
                    get_version(Tcp {
                        host_address: host.as_str(),
                    })
                    .await
                }
                ClamdAddress::Unix(path) => {
                    get_version(Socket {
                        socket_path: path.as_str(),
                    })
                    .await
                }
            }
        };
        let reply = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| ScanError::Timeout(self.timeout))?
            .map_err(|e| ScanError::Unreachable(e.to_string()))?;
        Ok(String::from_utf8_lossy(&reply)
            .trim_end_matches(['\0', '\n', '\r', ' '])
            .to_string())
    }

    /// PING → PONG.
    pub async fn ping(&self) -> Result<(), ScanError> {
        let call = async {
            match &self.address {
                ClamdAddress::Tcp(host) => {
                    ping(Tcp {
                        host_address: host.as_str(),
                    })
                    .await
                }
                ClamdAddress::Unix(path) => {
                    ping(Socket {
                        socket_path: path.as_str(),
                    })
                    .await
                }
            }
        };
        let reply = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| ScanError::Timeout(self.timeout))?
            .map_err(|e| ScanError::Unreachable(e.to_string()))?;
        if reply.starts_with(b"PONG") {
            Ok(())
        } else {
            Err(ScanError::Clamd(
                String::from_utf8_lossy(&reply).into_owned(),
            ))
        }
    }
}

/// INSTREAM chunk size: what one write carries.
const CHUNK: usize = 64 * 1024;
/// A pooled session idle longer than this is closed rather than reused: clamd ends idle
/// sessions after its `IdleTimeout` (30 s by default).
const MAX_IDLE: Duration = Duration::from_secs(20);
/// Sessions kept open at most (one per concurrent scan is enough).
const MAX_POOLED: usize = 64;
/// Longest reply read from clamd.
const MAX_REPLY: usize = 4096;

trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}

struct Connection {
    stream: Box<dyn Duplex>,
    /// The id clamd gives the next command of this session (1, 2, ...).
    next_id: u64,
    /// Taken from the pool (a failure may only mean clamd closed it meanwhile).
    reused: bool,
    idle_since: Instant,
}

#[derive(Default)]
struct Pool {
    idle: Mutex<Vec<Connection>>,
    opened: AtomicU64,
    scans: AtomicU64,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("opened", &self.opened.load(Ordering::Relaxed))
            .finish()
    }
}

impl Pool {
    fn take(&self) -> Option<Connection> {
        self.idle.lock().ok()?.pop()
    }

    fn clear(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }

    fn put(&self, connection: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_POOLED {
                idle.push(connection);
            }
        }
    }
}

/// How a streamed scan failed: on a session from the pool (worth one retry on a new
/// connection) or on a new one (clamd is down or broken: fail).
#[derive(Debug)]
enum Attempt {
    Reused(ScanError),
    Fresh(ScanError),
}

/// Reads one `\0`-terminated reply (the `z` commands' terminator), at most [`MAX_REPLY`].
async fn read_reply(stream: &mut Box<dyn Duplex>) -> std::io::Result<Vec<u8>> {
    let mut reply = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "clamd closed the session",
            ));
        }
        reply.extend_from_slice(&buf[..n]);
        if let Some(end) = reply.iter().position(|&b| b == 0) {
            reply.truncate(end);
            return Ok(reply);
        }
        if reply.len() > MAX_REPLY {
            return Err(std::io::Error::other("clamd reply too long"));
        }
    }
}

/// A scan in progress: bytes are sent to clamd as they are pushed (a task writes them), the
/// verdict is read at [`StreamScan::finish`]. Dropped unfinished, the scan is abandoned and its
/// session closed.
pub struct StreamScan {
    clamd: Clamd,
    sender: Option<mpsc::UnboundedSender<Vec<u8>>>,
    task: Option<JoinHandle<Result<Verdict, Attempt>>>,
    pushed: usize,
}

impl StreamScan {
    /// Sends more of the message. Never waits: the writer task takes the bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.pushed += bytes.len();
        if let Some(sender) = &self.sender {
            // A stopped task has failed; finish() reports it.
            let _ = sender.send(bytes.to_vec());
        }
    }

    /// Bytes pushed so far.
    pub fn pushed(&self) -> usize {
        self.pushed
    }

    /// Ends the stream and waits at most the clamd timeout for the verdict. `whole` is the
    /// complete message: if the pooled session failed, it is scanned again on a new
    /// connection (a restarted clamd closed the old sessions); if that fails too, the error is
    /// returned (fail closed).
    pub async fn finish(mut self, whole: &[u8]) -> Result<Verdict, ScanError> {
        self.sender = None;
        let Some(task) = self.task.take() else {
            return Err(ScanError::Clamd("scan already finished".into()));
        };
        let timeout = self.clamd.timeout;
        let abort = task.abort_handle();
        let outcome = match tokio::time::timeout(timeout, task).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(e)) => Err(Attempt::Fresh(ScanError::Clamd(e.to_string()))),
            Err(_) => {
                abort.abort();
                Err(Attempt::Fresh(ScanError::Timeout(timeout)))
            }
        };
        match outcome {
            Ok(verdict) => Ok(verdict),
            Err(Attempt::Fresh(e)) => Err(e),
            Err(Attempt::Reused(_)) => {
                let (sender, receiver) = mpsc::unbounded_channel();
                let _ = sender.send(whole.to_vec());
                drop(sender);
                let clamd = self.clamd.clone();
                // The other pooled sessions are likely as stale (clamd restarted).
                clamd.pool.clear();
                let retry = async move {
                    clamd
                        .stream_task(receiver, true)
                        .await
                        .map_err(|a| match a {
                            Attempt::Reused(e) | Attempt::Fresh(e) => e,
                        })
                };
                tokio::time::timeout(timeout, retry)
                    .await
                    .map_err(|_| ScanError::Timeout(timeout))?
            }
        }
    }
}

impl Drop for StreamScan {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The date of the signatures a VERSION reply names (`.../27000/Mon Nov 23 09:00:00 2026`), as
/// Unix seconds read as UTC (clamd prints the database's build time); None when the reply has
/// no signature part (a private database without a daily file).
pub fn signature_date(version: &str) -> Option<i64> {
    let date = version.split('/').nth(2)?;
    let words: Vec<&str> = date.split_whitespace().collect();
    let [_, month, day, clock, year] = words.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? as i64 + 1;
    let day: i64 = day.parse().ok()?;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<i64> = clock
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    if !(1..=31).contains(&day) || *h > 23 || *m > 59 || *s > 60 {
        return None;
    }
    // Days from the civil date (proleptic Gregorian).
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_dates() {
        // 2026-11-23T09:00:00Z
        assert_eq!(
            signature_date("ClamAV 1.4.6/27000/Mon Nov 23 09:00:00 2026"),
            Some(1_795_424_400)
        );
        assert_eq!(
            signature_date("ClamAV 1.4.6/27000/Tue Mar  3 00:00:00 2026"),
            Some(1_772_496_000)
        );
        assert_eq!(signature_date("ClamAV 1.4.6"), None);
        assert_eq!(signature_date("ClamAV 1.4.6/1/garbage"), None);
    }

    #[test]
    fn replies() {
        let table: &[(&[u8], Result<Verdict, ()>)] = &[
            (b"stream: OK\0", Ok(Verdict::Clean)),
            (
                b"stream: Eicar-Test-Signature.UNOFFICIAL FOUND\0",
                Ok(Verdict::Infected("Eicar-Test-Signature.UNOFFICIAL".into())),
            ),
            (b"INSTREAM size limit exceeded. ERROR\0", Err(())),
            (b"stream: OK FOUND-ish\0", Err(())),
        ];
        for (reply, expected) in table {
            assert_eq!(parse_reply(reply).map_err(|_| ()), *expected, "{reply:?}");
        }
    }

    /// A stand-in for clamd speaking the session protocol of clamd(8): `zIDSESSION`, then
    /// `zINSTREAM` commands with length-prefixed chunks; replies `<id>: stream: OK`. Every
    /// chunk it reads is reported at once on `seen`.
    async fn fake_clamd(
        seen: mpsc::UnboundedSender<Vec<u8>>,
    ) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut command = [0u8; 11];
                    socket.read_exact(&mut command).await.unwrap();
                    assert_eq!(&command, b"zIDSESSION\0");
                    let mut id = 0;
                    loop {
                        let mut command = [0u8; 10];
                        if socket.read_exact(&mut command).await.is_err() {
                            return;
                        }
                        assert_eq!(&command, b"zINSTREAM\0");
                        id += 1;
                        loop {
                            let mut len = [0u8; 4];
                            socket.read_exact(&mut len).await.unwrap();
                            let len = u32::from_be_bytes(len) as usize;
                            if len == 0 {
                                break;
                            }
                            let mut chunk = vec![0u8; len];
                            socket.read_exact(&mut chunk).await.unwrap();
                            let _ = seen.send(chunk);
                        }
                        let reply = format!("{id}: stream: OK\0");
                        socket.write_all(reply.as_bytes()).await.unwrap();
                    }
                });
            }
        });
        (addr, task)
    }

    #[tokio::test]
    async fn streams_before_the_end_and_keeps_the_session() {
        let (seen_tx, mut seen) = mpsc::unbounded_channel();
        let (addr, server) = fake_clamd(seen_tx).await;
        let clamd = Clamd::new(ClamdAddress::Tcp(addr.to_string()), Duration::from_secs(5));
        let mut scan = clamd.start_stream();
        scan.push(b"first part, ");
        // clamd has the first part while the rest has not been pushed yet.
        let first = tokio::time::timeout(Duration::from_secs(5), seen.recv())
            .await
            .expect("the first part reaches clamd before the end")
            .unwrap();
        assert_eq!(first, b"first part, ");
        scan.push(b"second part");
        let whole = b"first part, second part";
        assert_eq!(scan.finish(whole).await.unwrap(), Verdict::Clean);
        assert_eq!(seen.recv().await.unwrap(), b"second part");
        // The next scans reuse the session (ids 2 and 3 in it).
        assert_eq!(clamd.scan(b"again").await.unwrap(), Verdict::Clean);
        assert_eq!(clamd.scan(b"and again").await.unwrap(), Verdict::Clean);
        assert_eq!(clamd.connections_opened(), 1);
        assert_eq!(clamd.scans_started(), 3);
        server.abort();
    }

    #[tokio::test]
    async fn a_dropped_scan_is_abandoned_and_a_dead_clamd_fails() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let clamd = Clamd::new(
            ClamdAddress::Tcp(format!("127.0.0.1:{port}")),
            Duration::from_secs(2),
        );
        // Nothing listens: the scan fails (the caller answers 4xx), it does not hang.
        assert!(matches!(
            clamd.scan(b"x").await,
            Err(ScanError::Unreachable(_))
        ));
        let scan = clamd.start_stream();
        drop(scan);
        assert_eq!(clamd.idle_sessions(), 0);
    }

    #[test]
    fn addresses() {
        assert_eq!(
            ClamdAddress::parse("tcp://127.0.0.1:3310"),
            Ok(ClamdAddress::Tcp("127.0.0.1:3310".into()))
        );
        assert!(ClamdAddress::parse("unix:///run/clamav/clamd.ctl").is_ok());
        assert!(ClamdAddress::parse("tcp://nohost").is_err());
        assert!(ClamdAddress::parse("http://x:1").is_err());
    }
}
