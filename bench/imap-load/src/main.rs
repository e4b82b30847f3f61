//! IMAP load generator for the benchmarks (`bench/imap.sh`, `bench/idle.sh`). Plain TCP only:
//! it talks to the address it is given, which is loopback in every benchmark (govmail with
//! `tls.allow_plaintext_loopback=true`, Dovecot with `ssl = no`).
//!
//! - `populate`: APPENDs the same deterministic set of messages to every test user's INBOX.
//! - `load`: N concurrent clients, each a loop of LOGIN, SELECT INBOX, FETCH 1:* (UID FLAGS
//!   ENVELOPE), FETCH of a few bodies (BODY.PEEK[]), UID STORE +FLAGS / -FLAGS (\Seen), APPEND
//!   of a 4 KiB message, UID SEARCH SUBJECT <word>, UID SEARCH UNSEEN, LOGOUT — one new
//!   connection per iteration. Prints one line per command (count, p50, p99, mean) and a
//!   summary line with commands/s.
//! - `idle`: opens many authenticated IDLE connections (LOGIN, SELECT INBOX, IDLE), measures
//!   the server's memory before and after (VmRSS of a pid, or RSS and PSS summed over a process
//!   tree for Dovecot), delivers one message to one user and checks that every idling
//!   connection of that user reports EXISTS.
//! - `stress`: long sessions, several per mailbox, a random mix of SELECT, FETCH, STORE with
//!   keywords, EXPUNGE, APPEND, COPY, SEARCH and STATUS for a fixed time (`stress.rs`).
//! - `hash-password`: an argon2id PHC string with govmail's parameters (argon2 defaults), so
//!   that the Dovecot peer verifies exactly the same hash as govmail.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

mod stress;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Parser, Debug)]
#[command(
    name = "imap-load",
    about = "IMAP load generator (benchmarks, loopback only)"
)]
struct Cli {
    /// Runtime worker threads (1 = a single-threaded runtime, the least CPU taken from the
    /// server on a small machine).
    #[arg(long, global = true, default_value_t = 1)]
    threads: usize,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(clap::Args, Debug, Clone)]
struct Target {
    /// Server IP:PORT.
    #[arg(long)]
    addr: SocketAddr,
    /// Login name pattern; `{}` is replaced by the user number (1-based).
    #[arg(long, default_value = "user{}@bench.test")]
    user_format: String,
    #[arg(long, default_value = "bench-password-1")]
    password: String,
    /// A label printed with every result line.
    #[arg(long, default_value = "run")]
    label: String,
}

impl Target {
    fn user(&self, n: usize) -> String {
        self.user_format.replace("{}", &n.to_string())
    }
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// APPEND the same messages to users 1..=USERS.
    Populate {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 20)]
        users: usize,
        #[arg(long, default_value_t = 200)]
        messages: usize,
        /// Message size in bytes.
        #[arg(long, default_value_t = 4096)]
        size: usize,
        /// Users populated at the same time.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
    /// The command-mix benchmark.
    Load {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 20)]
        clients: usize,
        /// Client i logs in as user (i mod USERS) + 1.
        #[arg(long, default_value_t = 20)]
        users: usize,
        /// Iterations (sessions) per client.
        #[arg(long, default_value_t = 50)]
        iterations: usize,
        /// Messages per body FETCH.
        #[arg(long, default_value_t = 3)]
        bodies: usize,
        /// The word searched for in subjects.
        #[arg(long, default_value = "invoice")]
        word: String,
        /// APPENDed message size in bytes.
        #[arg(long, default_value_t = 4096)]
        size: usize,
        /// Times the block FETCH envelopes .. SEARCH UNSEEN runs per session (between one
        /// LOGIN/SELECT and one LOGOUT).
        #[arg(long, default_value_t = 1)]
        rounds: usize,
    },
    /// Many concurrent IDLE connections and the server's memory per connection.
    Idle {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        /// Connection i logs in as user (i mod USERS) + 1.
        #[arg(long, default_value_t = 100)]
        users: usize,
        /// Connections being set up (connect, LOGIN, SELECT, IDLE) at the same time.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Spread client sockets over this many source addresses 127.0.0.2, 127.0.0.3, ...
        /// (0 = let the kernel choose, i.e. 127.0.0.1).
        #[arg(long, default_value_t = 0)]
        source_ips: usize,
        /// The server's pid (memory from /proc/PID/status VmRSS).
        #[arg(long)]
        server_pid: u32,
        /// Sum RSS and PSS over SERVER_PID and all its descendants (Dovecot: one process per
        /// connection).
        #[arg(long)]
        server_tree: bool,
        /// How to deliver the probe message: `smtp:IP:PORT` (MX delivery) or `imap` (APPEND
        /// on a separate connection as the same user).
        #[arg(long, default_value = "imap")]
        deliver: String,
        /// Seconds to wait after all connections idle before measuring memory.
        #[arg(long, default_value_t = 5)]
        settle_secs: u64,
        /// Seconds to wait for every idling connection of the probe user to see EXISTS.
        #[arg(long, default_value_t = 60)]
        exists_timeout_secs: u64,
        /// Give up (and close everything) when the server's memory (RSS; PSS with
        /// --server-tree) passes this many MiB. 0 = no limit.
        #[arg(long, default_value_t = 8192)]
        max_server_rss_mib: u64,
    },
    /// Long sessions, several per mailbox, a random command mix (see `stress.rs`).
    Stress {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 10)]
        clients: usize,
        #[arg(long, default_value_t = 20)]
        users: usize,
        /// Sessions each client keeps open (session j of client i: account (i + 4j) mod USERS + 1).
        #[arg(long, default_value_t = 3)]
        sessions: usize,
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// APPENDed message size in bytes.
        #[arg(long, default_value_t = 4096)]
        size: usize,
        /// Messages each INBOX was populated with.
        #[arg(long, default_value_t = 200)]
        populated: usize,
    },
    /// Print an argon2id PHC string (govmail's parameters) of the password.
    HashPassword {
        #[arg(long, default_value = "bench-password-1")]
        password: String,
    },
}

// ------------------------------------------------------------------ messages

const WORDS: [&str; 8] = [
    "budget",
    "meeting",
    "invoice",
    "report",
    "schedule",
    "contract",
    "training",
    "inspection",
];

/// Message `n` of a set: deterministic, `size` bytes (at least the headers), CRLF lines.
fn message(n: usize, size: usize, id_prefix: &str) -> Vec<u8> {
    let sender = n % 17;
    let subject = if n % 10 == 7 {
        // Some RFC 2047 encoded subjects ("Báo cáo" = report), as real mail has.
        format!(
            "=?UTF-8?Q?B=C3=A1o_c=C3=A1o?= {} number {n}",
            WORDS[(n * 3 + 1) % 8]
        )
    } else {
        format!("{} {} number {n}", WORDS[n % 8], WORDS[(n * 3 + 1) % 8])
    };
    let cc = if n.is_multiple_of(3) {
        "Cc: \"Archive\" <archive@example.org>, records@example.org\r\n"
    } else {
        ""
    };
    let header = format!(
        "Return-Path: <sender{sender}@example.org>\r\n\
         From: \"Sender {sender}\" <sender{sender}@example.org>\r\n\
         To: \"Bench User\" <user@bench.test>\r\n\
         {cc}Subject: {subject}\r\n\
         Date: Mon, 23 Nov 2026 10:{:02}:{:02} +0700\r\n\
         Message-ID: <{id_prefix}-{n}@example.org>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n",
        (n / 60) % 60,
        n % 60
    );
    let mut out = header.into_bytes();
    let lines: [&[u8]; 3] = [
        b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n",
        "K\u{00ed}nh g\u{1eed}i c\u{00e1}c \u{0111}\u{01a1}n v\u{1ecb}: b\u{00e1}o c\u{00e1}o t\u{00ec}nh h\u{00ec}nh th\u{1ef1}c hi\u{1ec7}n nhi\u{1ec7}m v\u{1ee5}.\r\n".as_bytes(),
        b"Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi.\r\n",
    ];
    let mut i = n;
    while out.len() + 80 <= size {
        out.extend_from_slice(lines[i % 3]);
        i += 1;
    }
    while out.len() + 2 < size {
        out.push(b'x');
    }
    out.extend_from_slice(b"\r\n");
    out
}

// ------------------------------------------------------------------ client

#[derive(Debug)]
struct ImapError(String);

impl std::fmt::Display for ImapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ImapError {}

fn fail<T>(text: impl Into<String>) -> Result<T> {
    Err(Box::new(ImapError(text.into())))
}

/// A server response: the untagged lines (literal contents skipped, their `{n}` markers kept).
struct Reply {
    untagged: Vec<Vec<u8>>,
}

struct Client {
    io: BufReader<TcpStream>,
    tag: u32,
    literal_plus: bool,
    line: Vec<u8>,
}

/// `{123}\r\n` at the end of a line: the literal's length.
fn literal_len(line: &[u8]) -> Option<usize> {
    let line = line
        .strip_suffix(b"\r\n")
        .or_else(|| line.strip_suffix(b"\n"))?;
    let line = line.strip_suffix(b"}")?;
    let open = line.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&line[open + 1..]).ok()?.parse().ok()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The number after `key` (e.g. `UID `) in a response line.
fn number_after(line: &[u8], key: &[u8]) -> Option<u64> {
    let pos = line.windows(key.len()).position(|w| w == key)? + key.len();
    let digits: Vec<u8> = line[pos..]
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

async fn connect(addr: SocketAddr, source: Option<IpAddr>) -> Result<TcpStream> {
    let stream = match source {
        None => TcpStream::connect(addr).await?,
        Some(ip) => {
            let socket = TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(ip, 0))?;
            socket.connect(addr).await?
        }
    };
    stream.set_nodelay(true)?;
    Ok(stream)
}

impl Client {
    /// Connects and reads the greeting.
    async fn open(addr: SocketAddr, source: Option<IpAddr>, buffer: usize) -> Result<Client> {
        let stream = connect(addr, source).await?;
        let mut client = Client {
            io: BufReader::with_capacity(buffer, stream),
            tag: 0,
            literal_plus: false,
            line: Vec::with_capacity(256),
        };
        client.read_line().await?;
        if !client.line.starts_with(b"* OK") {
            return fail(format!(
                "greeting: {}",
                String::from_utf8_lossy(&client.line).trim()
            ));
        }
        client.literal_plus = contains(&client.line, b"LITERAL+");
        Ok(client)
    }

    /// Reads one logical response line into `self.line`; literal contents are skipped.
    async fn read_line(&mut self) -> Result<()> {
        self.line.clear();
        loop {
            let start = self.line.len();
            let n = self.io.read_until(b'\n', &mut self.line).await?;
            if n == 0 {
                return fail("connection closed by the server");
            }
            let Some(mut left) = literal_len(&self.line[start..]) else {
                return Ok(());
            };
            while left > 0 {
                let buf = self.io.fill_buf().await?;
                if buf.is_empty() {
                    return fail("connection closed inside a literal");
                }
                let take = left.min(buf.len());
                self.io.consume(take);
                left -= take;
            }
        }
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("a{}", self.tag)
    }

    /// Reads until the tagged response; OK or an error naming the response.
    async fn finish(&mut self, tag: &str, what: &str) -> Result<Reply> {
        let mut untagged = vec![];
        loop {
            self.read_line().await?;
            let line = &self.line;
            if line.len() > tag.len() && line.starts_with(tag.as_bytes()) && line[tag.len()] == b' '
            {
                let rest = &line[tag.len() + 1..];
                if rest.starts_with(b"OK") {
                    return Ok(Reply { untagged });
                }
                return fail(format!("{what}: {}", String::from_utf8_lossy(line).trim()));
            }
            if line.starts_with(b"* ") {
                untagged.push(line.clone());
            }
        }
    }

    /// Sends a command; the untagged lines and whether it ended in OK (`NO` is an answer,
    /// `BAD` an error).
    async fn command_status(&mut self, text: &str) -> Result<(Vec<Vec<u8>>, bool)> {
        let tag = self.next_tag();
        let wire = format!("{tag} {text}\r\n");
        self.io.get_mut().write_all(wire.as_bytes()).await?;
        let mut untagged = vec![];
        loop {
            self.read_line().await?;
            let line = &self.line;
            if line.len() > tag.len() && line.starts_with(tag.as_bytes()) && line[tag.len()] == b' '
            {
                let rest = &line[tag.len() + 1..];
                if rest.starts_with(b"OK") || rest.starts_with(b"NO") {
                    return Ok((untagged, rest.starts_with(b"OK")));
                }
                return fail(format!("{text}: {}", String::from_utf8_lossy(line).trim()));
            }
            if line.starts_with(b"* ") {
                untagged.push(line.clone());
            }
        }
    }

    async fn command(&mut self, text: &str) -> Result<Reply> {
        let tag = self.next_tag();
        let wire = format!("{tag} {text}\r\n");
        self.io.get_mut().write_all(wire.as_bytes()).await?;
        let what = text.split(' ').next().unwrap_or(text).to_string();
        self.finish(&tag, &what).await
    }

    /// Waits for a `+` continuation request.
    async fn continuation(&mut self, what: &str) -> Result<()> {
        loop {
            self.read_line().await?;
            if self.line.starts_with(b"+") {
                return Ok(());
            }
            if !self.line.starts_with(b"* ") {
                return fail(format!(
                    "{what}: {}",
                    String::from_utf8_lossy(&self.line).trim()
                ));
            }
        }
    }

    async fn login(&mut self, user: &str, password: &str) -> Result<()> {
        self.command(&format!("LOGIN \"{user}\" \"{password}\""))
            .await
            .map(|_| ())
    }

    /// APPEND with LITERAL+ when the server offers it, else a synchronising literal.
    async fn append(&mut self, mailbox: &str, flags: &str, message: &[u8]) -> Result<Reply> {
        let tag = self.next_tag();
        let flags = if flags.is_empty() {
            String::new()
        } else {
            format!("({flags}) ")
        };
        if self.literal_plus {
            let mut wire =
                format!("{tag} APPEND {mailbox} {flags}{{{}+}}\r\n", message.len()).into_bytes();
            wire.extend_from_slice(message);
            wire.extend_from_slice(b"\r\n");
            self.io.get_mut().write_all(&wire).await?;
        } else {
            let wire = format!("{tag} APPEND {mailbox} {flags}{{{}}}\r\n", message.len());
            self.io.get_mut().write_all(wire.as_bytes()).await?;
            self.continuation("APPEND").await?;
            self.io.get_mut().write_all(message).await?;
            self.io.get_mut().write_all(b"\r\n").await?;
        }
        self.finish(&tag, "APPEND").await
    }

    async fn logout(&mut self) -> Result<()> {
        self.command("LOGOUT").await.map(|_| ())
    }
}

// ------------------------------------------------------------------ statistics

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

fn mean(values: &[Duration]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0 / values.len() as f64
}

/// A small deterministic generator (xorshift64*): every run picks the same messages.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }
}

// ------------------------------------------------------------------ populate

async fn populate_user(target: Target, user: usize, messages: usize, size: usize) -> Result<usize> {
    let mut client = Client::open(target.addr, None, 16 * 1024).await?;
    client.login(&target.user(user), &target.password).await?;
    for n in 0..messages {
        // Two thirds read, so that UNSEEN finds something.
        let flags = if n % 3 == 0 { "" } else { "\\Seen" };
        client
            .append("INBOX", flags, &message(n, size, "bench-set"))
            .await?;
    }
    let reply = client.command("SELECT INBOX").await?;
    let exists = reply
        .untagged
        .iter()
        .find(|l| contains(l, b" EXISTS"))
        .and_then(|l| number_after(l, b"* "))
        .unwrap_or(0) as usize;
    client.logout().await?;
    Ok(exists)
}

async fn populate(
    target: Target,
    users: usize,
    messages: usize,
    size: usize,
    concurrency: usize,
) -> Result<()> {
    let start = Instant::now();
    let semaphore = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for user in 1..=users {
        let target = target.clone();
        let semaphore = semaphore.clone();
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            (user, populate_user(target, user, messages, size).await)
        });
    }
    let mut errors = 0;
    while let Some(joined) = tasks.join_next().await {
        let (user, result) = joined?;
        match result {
            Ok(exists) if exists == messages => {}
            Ok(exists) => {
                errors += 1;
                eprintln!(
                    "{}: {}: INBOX has {exists} messages, expected {messages}",
                    target.label,
                    target.user(user)
                );
            }
            Err(e) => {
                errors += 1;
                eprintln!("{}: {}: {e}", target.label, target.user(user));
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{} populate users={users} messages_each={messages} size={size} errors={errors} seconds={seconds:.2} appends_per_s={:.1}",
        target.label,
        (users * messages) as f64 / seconds
    );
    if errors > 0 {
        return fail("populate failed");
    }
    Ok(())
}

// ------------------------------------------------------------------ load

const COMMANDS: [&str; 10] = [
    "LOGIN",
    "SELECT",
    "FETCH_ENVELOPES",
    "FETCH_BODIES",
    "STORE_ADD_SEEN",
    "STORE_REMOVE_SEEN",
    "APPEND",
    "SEARCH_SUBJECT",
    "SEARCH_UNSEEN",
    "LOGOUT",
];
const LOGIN: usize = 0;
const SELECT: usize = 1;
const FETCH_ENVELOPES: usize = 2;
const FETCH_BODIES: usize = 3;
const STORE_ADD: usize = 4;
const STORE_REMOVE: usize = 5;
const APPEND: usize = 6;
const SEARCH_SUBJECT: usize = 7;
const SEARCH_UNSEEN: usize = 8;
const LOGOUT: usize = 9;

#[derive(Clone)]
struct LoadSpec {
    target: Target,
    users: usize,
    iterations: usize,
    bodies: usize,
    word: String,
    size: usize,
    rounds: usize,
}

#[derive(Default)]
struct ClientStats {
    latencies: Vec<Vec<Duration>>,
    greeting: Vec<Duration>,
    errors: usize,
    first_errors: Vec<String>,
}

/// Runs `f`, records its latency under `index`.
macro_rules! timed {
    ($stats:expr, $index:expr, $f:expr) => {{
        let start = Instant::now();
        let result = $f.await?;
        $stats.latencies[$index].push(start.elapsed());
        result
    }};
}

async fn one_session(
    spec: &LoadSpec,
    user: &str,
    client_index: usize,
    iteration: usize,
    rng: &mut Rng,
    stats: &mut ClientStats,
) -> Result<()> {
    let start = Instant::now();
    let mut client = Client::open(spec.target.addr, None, 16 * 1024).await?;
    stats.greeting.push(start.elapsed());
    timed!(stats, LOGIN, client.login(user, &spec.target.password));
    let reply = timed!(stats, SELECT, client.command("SELECT INBOX"));
    let mut exists = reply
        .untagged
        .iter()
        .find(|l| contains(l, b" EXISTS"))
        .and_then(|l| number_after(l, b"* "))
        .unwrap_or(0) as usize;
    if exists == 0 {
        return fail("SELECT: INBOX is empty (populate first)");
    }
    for round in 0..spec.rounds {
        let reply = timed!(
            stats,
            FETCH_ENVELOPES,
            client.command("FETCH 1:* (UID FLAGS ENVELOPE)")
        );
        // (uid, seen) of every message.
        let messages: Vec<(u64, bool)> = reply
            .untagged
            .iter()
            .filter(|l| contains(l, b" FETCH "))
            .filter_map(|l| Some((number_after(l, b"UID ")?, contains(l, b"\\Seen"))))
            .collect();
        // Our own APPENDs of earlier rounds add messages; nothing may disappear.
        if messages.len() < exists {
            return fail(format!(
                "FETCH 1:*: {} messages with UID, EXISTS said {exists}",
                messages.len()
            ));
        }
        exists = messages.len();
        let seqs: Vec<String> = (0..spec.bodies)
            .map(|_| (rng.below(exists) + 1).to_string())
            .collect();
        timed!(
            stats,
            FETCH_BODIES,
            client.command(&format!("FETCH {} (BODY.PEEK[])", seqs.join(",")))
        );
        // Flip \Seen on one message and flip it back, so the mailbox's state stays the same.
        let (uid, seen) = messages[rng.below(messages.len())];
        let add = format!("UID STORE {uid} +FLAGS (\\Seen)");
        let remove = format!("UID STORE {uid} -FLAGS (\\Seen)");
        if seen {
            timed!(stats, STORE_REMOVE, client.command(&remove));
            timed!(stats, STORE_ADD, client.command(&add));
        } else {
            timed!(stats, STORE_ADD, client.command(&add));
            timed!(stats, STORE_REMOVE, client.command(&remove));
        }
        let body = message(
            1_000_000 + client_index * 100_000 + iteration * spec.rounds + round,
            spec.size,
            "bench-load",
        );
        timed!(stats, APPEND, client.append("INBOX", "", &body));
        timed!(
            stats,
            SEARCH_SUBJECT,
            client.command(&format!("UID SEARCH SUBJECT \"{}\"", spec.word))
        );
        timed!(stats, SEARCH_UNSEEN, client.command("UID SEARCH UNSEEN"));
    }
    timed!(stats, LOGOUT, client.logout());
    Ok(())
}

async fn load_client(spec: LoadSpec, client_index: usize) -> ClientStats {
    let mut stats = ClientStats {
        latencies: vec![Vec::with_capacity(spec.iterations * spec.rounds); COMMANDS.len()],
        ..Default::default()
    };
    let user = spec.target.user(client_index % spec.users.max(1) + 1);
    let mut rng = Rng::new(client_index as u64 + 1);
    for iteration in 0..spec.iterations {
        if let Err(e) =
            one_session(&spec, &user, client_index, iteration, &mut rng, &mut stats).await
        {
            stats.errors += 1;
            if stats.first_errors.len() < 3 {
                stats.first_errors.push(format!("{user}: {e}"));
            }
        }
    }
    stats
}

async fn load(spec: LoadSpec, clients: usize) -> Result<()> {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for client_index in 0..clients {
        tasks.spawn(load_client(spec.clone(), client_index));
    }
    let mut all: Vec<Vec<Duration>> = vec![vec![]; COMMANDS.len()];
    let mut greeting = vec![];
    let mut errors = 0;
    while let Some(joined) = tasks.join_next().await {
        let mut stats = joined?;
        for (into, from) in all.iter_mut().zip(stats.latencies.iter_mut()) {
            into.append(from);
        }
        greeting.append(&mut stats.greeting);
        errors += stats.errors;
        for e in stats.first_errors {
            eprintln!("{}: error: {e}", spec.target.label);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let label = &spec.target.label;
    greeting.sort();
    println!(
        "{label} {:<18} n={:<6} p50_ms={:>7.2} p99_ms={:>7.2} mean_ms={:>7.2}   (connect+greeting, not counted)",
        "CONNECT",
        greeting.len(),
        percentile(&greeting, 0.5),
        percentile(&greeting, 0.99),
        mean(&greeting),
    );
    let mut commands = 0;
    for (name, latencies) in COMMANDS.iter().zip(all.iter_mut()) {
        latencies.sort();
        commands += latencies.len();
        println!(
            "{label} {name:<18} n={:<6} p50_ms={:>7.2} p99_ms={:>7.2} mean_ms={:>7.2}",
            latencies.len(),
            percentile(latencies, 0.5),
            percentile(latencies, 0.99),
            mean(latencies),
        );
    }
    let sessions = all[LOGOUT].len();
    println!(
        "{label} SUMMARY clients={clients} sessions={sessions} rounds={} commands={commands} errors={errors} seconds={seconds:.2} commands_per_s={:.1} sessions_per_s={:.1}",
        spec.rounds,
        commands as f64 / seconds,
        sessions as f64 / seconds,
    );
    if errors > 0 {
        return fail(format!("{errors} sessions failed"));
    }
    Ok(())
}

// ------------------------------------------------------------------ idle

/// Memory of the server: (VmRSS KiB summed, PSS KiB summed, processes).
fn server_memory(pid: u32, tree: bool) -> (u64, u64, usize) {
    fn status_field(pid: u32, file: &str, key: &str) -> Option<u64> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
        let line = text.lines().find(|l| l.starts_with(key))?;
        line[key.len()..].split_whitespace().next()?.parse().ok()
    }
    let mut pids = vec![pid];
    if tree {
        let mut parents = vec![];
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let Some(p) = entry
                    .file_name()
                    .to_str()
                    .and_then(|s| s.parse::<u32>().ok())
                else {
                    continue;
                };
                if let Some(ppid) = status_field(p, "status", "PPid:") {
                    parents.push((p, ppid as u32));
                }
            }
        }
        let mut frontier = vec![pid];
        while let Some(parent) = frontier.pop() {
            for &(child, ppid) in &parents {
                if ppid == parent && child != pid {
                    pids.push(child);
                    frontier.push(child);
                }
            }
        }
    }
    let mut rss = 0;
    let mut pss = 0;
    for &p in &pids {
        rss += status_field(p, "status", "VmRSS:").unwrap_or(0);
        pss += status_field(p, "smaps_rollup", "Pss:").unwrap_or(0);
    }
    (rss, pss, pids.len())
}

struct IdleSpec {
    target: Target,
    users: usize,
    concurrency: usize,
    source_ips: usize,
}

enum IdleEvent {
    Ready(usize),
    Failed(String),
    Exists(usize, Instant),
    Closed(usize),
}

async fn idle_connection(
    spec: Arc<IdleSpec>,
    index: usize,
    setup: Arc<Semaphore>,
    events: mpsc::UnboundedSender<IdleEvent>,
    mut close: watch::Receiver<bool>,
) {
    let source = (spec.source_ips > 0).then(|| {
        IpAddr::V4(Ipv4Addr::new(
            127,
            0,
            0,
            2 + (index % spec.source_ips) as u8,
        ))
    });
    let user = spec.target.user(index % spec.users + 1);
    let setup_result: Result<Client> = async {
        let _permit = setup.acquire().await?;
        let mut client = Client::open(spec.target.addr, source, 1024).await?;
        client.login(&user, &spec.target.password).await?;
        client.command("SELECT INBOX").await?;
        let tag = client.next_tag();
        client
            .io
            .get_mut()
            .write_all(format!("{tag} IDLE\r\n").as_bytes())
            .await?;
        client.continuation("IDLE").await?;
        Ok(client)
    }
    .await;
    let mut client = match setup_result {
        Ok(client) => client,
        Err(e) => {
            let _ = events.send(IdleEvent::Failed(format!("{user}: {e}")));
            return;
        }
    };
    let _ = events.send(IdleEvent::Ready(index));
    loop {
        tokio::select! {
            read = client.read_line() => {
                if read.is_err() {
                    let _ = events.send(IdleEvent::Closed(index));
                    return;
                }
                if contains(&client.line, b" EXISTS") {
                    let _ = events.send(IdleEvent::Exists(index, Instant::now()));
                }
            }
            _ = close.changed() => return,
        }
    }
}

async fn deliver_smtp(addr: &str, to: &str) -> Result<()> {
    let stream = TcpStream::connect(addr).await?;
    let mut io = BufReader::new(stream);
    async fn reply(io: &mut BufReader<TcpStream>, code: &str) -> Result<()> {
        loop {
            let mut line = String::new();
            if io.read_line(&mut line).await? == 0 {
                return fail("SMTP: connection closed");
            }
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return if line.starts_with(code) {
                    Ok(())
                } else {
                    fail(format!("SMTP: expected {code}, got {}", line.trim()))
                };
            }
        }
    }
    reply(&mut io, "220").await?;
    for (command, code) in [
        ("EHLO bench.example.org\r\n".to_string(), "250"),
        ("MAIL FROM:<probe@example.org>\r\n".to_string(), "250"),
        (format!("RCPT TO:<{to}>\r\n"), "250"),
        ("DATA\r\n".to_string(), "354"),
    ] {
        io.get_mut().write_all(command.as_bytes()).await?;
        reply(&mut io, code).await?;
    }
    let mut data = message(9_999_999, 4096, "bench-idle-probe");
    data.extend_from_slice(b".\r\n");
    io.get_mut().write_all(&data).await?;
    reply(&mut io, "250").await?;
    io.get_mut().write_all(b"QUIT\r\n").await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn idle(
    target: Target,
    connections: usize,
    users: usize,
    concurrency: usize,
    source_ips: usize,
    server_pid: u32,
    server_tree: bool,
    deliver: String,
    settle: Duration,
    exists_timeout: Duration,
    max_server_rss_mib: u64,
) -> Result<()> {
    let label = target.label.clone();
    let users = users.clamp(1, connections.max(1));
    let spec = Arc::new(IdleSpec {
        target: target.clone(),
        users,
        concurrency,
        source_ips,
    });
    let (rss0, pss0, procs0) = server_memory(server_pid, server_tree);
    println!("{label} before: server_rss_kib={rss0} server_pss_kib={pss0} processes={procs0}");
    let setup = Arc::new(Semaphore::new(spec.concurrency.max(1)));
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (close_tx, close_rx) = watch::channel(false);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..connections {
        tasks.spawn(idle_connection(
            spec.clone(),
            index,
            setup.clone(),
            events_tx.clone(),
            close_rx.clone(),
        ));
    }
    drop(events_tx);
    let mut ready = vec![false; connections];
    let (mut n_ready, mut n_failed) = (0, 0);
    let mut n_closed = 0;
    let mut last_report = Instant::now();
    let mut guard = tokio::time::interval(Duration::from_secs(1));
    let mut aborted = None;
    while n_ready + n_failed < connections {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = guard.tick() => {
                // Safety on a shared machine: stop before the server eats all memory.
                let (rss, pss, _) = server_memory(server_pid, server_tree);
                let used = if server_tree { pss } else { rss };
                if max_server_rss_mib > 0 && used > max_server_rss_mib * 1024 {
                    aborted = Some(used);
                    break;
                }
                continue;
            }
        };
        match event {
            Some(IdleEvent::Ready(i)) => {
                ready[i] = true;
                n_ready += 1;
            }
            Some(IdleEvent::Failed(e)) => {
                n_failed += 1;
                if n_failed <= 5 {
                    eprintln!("{label}: connection failed: {e}");
                }
            }
            Some(IdleEvent::Closed(i)) => {
                n_closed += 1;
                if ready[i] {
                    ready[i] = false;
                    n_ready -= 1;
                    n_failed += 1;
                }
            }
            Some(IdleEvent::Exists(..)) => {}
            None => break,
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            last_report = Instant::now();
            let (rss, pss, _) = server_memory(server_pid, server_tree);
            eprintln!(
                "{label}: {n_ready} idling, {n_failed} failed after {:.0} s; server rss {} MiB, pss {} MiB",
                start.elapsed().as_secs_f64(),
                rss / 1024,
                pss / 1024
            );
        }
    }
    if let Some(used) = aborted {
        println!(
            "{label} ABORTED: server memory {} MiB over --max-server-rss-mib {max_server_rss_mib} with {n_ready} connections idling after {:.1} s ({:.1} KiB per idling connection so far)",
            used / 1024,
            start.elapsed().as_secs_f64(),
            used.saturating_sub(if server_tree { pss0 } else { rss0 }) as f64 / n_ready.max(1) as f64
        );
        let _ = close_tx.send(true);
        tasks.shutdown().await;
        return fail("server memory limit reached");
    }
    let setup_seconds = start.elapsed().as_secs_f64();
    println!(
        "{label} idling={n_ready} failed={n_failed} setup_seconds={setup_seconds:.1} setups_per_s={:.1}",
        n_ready as f64 / setup_seconds
    );
    // Let the server finish whatever it does after answering IDLE, then measure.
    tokio::time::sleep(settle).await;
    while let Ok(event) = events.try_recv() {
        if let IdleEvent::Closed(i) = event {
            n_closed += 1;
            if ready[i] {
                ready[i] = false;
                n_ready -= 1;
            }
        }
    }
    let (rss1, pss1, procs1) = server_memory(server_pid, server_tree);
    let per = |after: u64, before: u64| after.saturating_sub(before) as f64 / n_ready.max(1) as f64;
    println!(
        "{label} after: idling={n_ready} server_rss_kib={rss1} server_pss_kib={pss1} processes={procs1} rss_kib_per_connection={:.1} pss_kib_per_connection={:.1}",
        per(rss1, rss0),
        per(pss1, pss0),
    );

    // The probe: one new message for user 1; every idling connection of user 1 must see it.
    let probe_user = target.user(1);
    let watchers: Vec<usize> = (0..connections)
        .filter(|i| i % users == 0 && ready[*i])
        .collect();
    let sent = Instant::now();
    let delivered: Result<()> = if let Some(addr) = deliver.strip_prefix("smtp:") {
        deliver_smtp(addr, &probe_user).await
    } else {
        async {
            let mut client = Client::open(target.addr, None, 16 * 1024).await?;
            client.login(&probe_user, &target.password).await?;
            client
                .append("INBOX", "", &message(9_999_999, 4096, "bench-idle-probe"))
                .await?;
            client.logout().await
        }
        .await
    };
    let delivered_ms = sent.elapsed().as_secs_f64() * 1000.0;
    let mut seen: Vec<Option<Duration>> = vec![None; connections];
    let mut n_seen = 0;
    let mut exists_ok = delivered.is_ok();
    if let Err(e) = &delivered {
        eprintln!("{label}: delivery failed: {e}");
    } else {
        let deadline = tokio::time::Instant::now() + exists_timeout;
        while n_seen < watchers.len() {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(IdleEvent::Exists(i, at))) => {
                    if i % users == 0 && seen[i].is_none() {
                        seen[i] = Some(at.saturating_duration_since(sent));
                        n_seen += 1;
                    }
                }
                Ok(Some(IdleEvent::Closed(_))) => n_closed += 1,
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        exists_ok = n_seen == watchers.len() && !watchers.is_empty();
    }
    let mut delays: Vec<Duration> = seen.iter().flatten().copied().collect();
    delays.sort();
    println!(
        "{label} probe: deliver={deliver} user={probe_user} delivered_ms={delivered_ms:.1} exists_seen={n_seen}/{} first_ms={:.1} p50_ms={:.1} last_ms={:.1} closed_by_server={n_closed}",
        watchers.len(),
        delays.first().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        percentile(&delays, 0.5),
        delays.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
    );
    let (rss2, pss2, _) = server_memory(server_pid, server_tree);
    let _ = close_tx.send(true);
    while tasks.join_next().await.is_some() {}
    println!(
        "{label} after-probe: server_rss_kib={rss2} server_pss_kib={pss2}; all {connections} connections closed by the client"
    );
    if n_failed > 0 || !exists_ok {
        return fail("idle benchmark failed (see above)");
    }
    Ok(())
}

// ------------------------------------------------------------------ main

fn main() {
    let cli = Cli::parse();
    let runtime = if cli.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.threads)
            .enable_all()
            .build()
    }
    .expect("tokio runtime");
    let result = runtime.block_on(async move {
        match cli.command {
            Cmd::Populate {
                target,
                users,
                messages,
                size,
                concurrency,
            } => populate(target, users, messages, size, concurrency).await,
            Cmd::Load {
                target,
                clients,
                users,
                iterations,
                bodies,
                word,
                size,
                rounds,
            } => {
                let spec = LoadSpec {
                    target,
                    users,
                    iterations,
                    bodies,
                    word,
                    size,
                    rounds: rounds.max(1),
                };
                load(spec, clients).await
            }
            Cmd::Idle {
                target,
                connections,
                users,
                concurrency,
                source_ips,
                server_pid,
                server_tree,
                deliver,
                settle_secs,
                exists_timeout_secs,
                max_server_rss_mib,
            } => {
                idle(
                    target,
                    connections,
                    users,
                    concurrency,
                    source_ips,
                    server_pid,
                    server_tree,
                    deliver,
                    Duration::from_secs(settle_secs),
                    Duration::from_secs(exists_timeout_secs),
                    max_server_rss_mib,
                )
                .await
            }
            Cmd::Stress {
                target,
                clients,
                users,
                sessions,
                seconds,
                size,
                populated,
            } => {
                stress::stress(stress::StressSpec {
                    target,
                    clients,
                    users,
                    sessions: sessions.max(1),
                    seconds,
                    size,
                    populated,
                })
                .await
            }
            Cmd::HashPassword { password } => {
                use argon2::PasswordHasher;
                match argon2::Argon2::default().hash_password(password.as_bytes()) {
                    Ok(hash) => {
                        println!("{hash}");
                        Ok(())
                    }
                    Err(e) => fail(format!("argon2: {e}")),
                }
            }
        }
    });
    if let Err(e) = result {
        eprintln!("imap-load: {e}");
        std::process::exit(1);
    }
}
