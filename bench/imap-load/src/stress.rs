//! `stress`: long IMAP sessions, several per mailbox, doing a random mix of what a day of
//! desktop, phone and delegate clients does to shared mailboxes (issue 12, "Long sessions
//! cost"). Each of CLIENTS clients logs in SESSIONS times at the start and keeps every session
//! open for the whole run; session `j` of client `i` uses account `(i + j * 4) mod USERS + 1`,
//! so several sessions share a mailbox and see each other's changes. Every step picks one of
//! its sessions and one command by weight:
//!
//! | command            | weight | what                                                   |
//! |--------------------|--------|--------------------------------------------------------|
//! | SELECT             | 4      | the other folder (INBOX <-> Archive)                   |
//! | FETCH_FLAGS        | 10     | `FETCH a:b (UID FLAGS)`, 20 messages                   |
//! | FETCH_ENVELOPE     | 7      | `FETCH a:b (UID ENVELOPE RFC822.SIZE)`, 10 messages    |
//! | FETCH_BODY         | 8      | `FETCH n (BODY.PEEK[])`                                |
//! | STORE_KEYWORD      | 18     | `STORE n +FLAGS/-FLAGS (<keyword or \Flagged, \Seen>)` |
//! | EXPUNGE            | 8      | `STORE n +FLAGS.SILENT (\Deleted)` then `EXPUNGE`, timed |
//! |                    |        | together, counted as two commands                      |
//! | APPEND             | 6      | 4 KiB to INBOX                                         |
//! | COPY               | 4      | `COPY n <other folder>`                                |
//! | SEARCH             | 12     | UNSEEN / KEYWORD $LabelN / SUBJECT word, by turns      |
//! | STATUS             | 12     | `STATUS <other folder> (MESSAGES UNSEEN UIDNEXT)`      |
//! | FETCH_ALL_FLAGS    | 4      | `FETCH 1:* (UID FLAGS)`, a client's resynchronisation  |
//!
//! A folder is only expunged from while it holds more than MIN_MESSAGES, and APPEND/COPY are
//! skipped while the target may hold more than 3 times the populated count, so the run stays
//! near a steady state. Sequence numbers come from the session's own view (EXISTS and EXPUNGE
//! responses), as a real client's do. A `NO` (e.g. a STORE racing another session's EXPUNGE)
//! is counted, not fatal; a `BAD` or a dropped connection is an error.

use std::time::{Duration, Instant};

use crate::{contains, fail, mean, message, number_after, percentile, Client, Result, Rng, Target};

const COMMANDS: [(&str, u32); 11] = [
    ("SELECT", 4),
    ("FETCH_FLAGS", 10),
    ("FETCH_ENVELOPE", 7),
    ("FETCH_BODY", 8),
    ("STORE_KEYWORD", 18),
    ("EXPUNGE", 8),
    ("APPEND", 6),
    ("COPY", 4),
    ("SEARCH", 12),
    ("STATUS", 12),
    ("FETCH_ALL_FLAGS", 4),
];
const SELECT: usize = 0;
const FETCH_FLAGS: usize = 1;
const FETCH_ENVELOPE: usize = 2;
const FETCH_BODY: usize = 3;
const STORE_KEYWORD: usize = 4;
const EXPUNGE: usize = 5;
const APPEND: usize = 6;
const COPY: usize = 7;
const SEARCH: usize = 8;
const STATUS: usize = 9;
const FETCH_ALL_FLAGS: usize = 10;

const FOLDERS: [&str; 2] = ["INBOX", "Archive"];
const KEYWORDS: [&str; 7] = [
    "$Label1",
    "$Label2",
    "$Label3",
    "$Label4",
    "$Label5",
    "\\Flagged",
    "\\Seen",
];
const MIN_MESSAGES: usize = 20;

#[derive(Clone)]
pub struct StressSpec {
    pub target: Target,
    pub clients: usize,
    pub users: usize,
    pub sessions: usize,
    pub seconds: u64,
    pub size: usize,
    /// Messages each INBOX was populated with (the steady-state scale).
    pub populated: usize,
}

/// One open session and what its client knows of the selected folder.
struct Open {
    client: Client,
    folder: usize,
    exists: usize,
}

#[derive(Default)]
struct Stats {
    latencies: Vec<Vec<Duration>>,
    refused: usize,
    errors: usize,
    first_errors: Vec<String>,
}

/// Applies `* n EXISTS` and `* n EXPUNGE` lines to the session's message count.
fn track(open: &mut Open, untagged: &[Vec<u8>]) {
    for line in untagged {
        if contains(line, b" EXISTS") {
            if let Some(n) = number_after(line, b"* ") {
                open.exists = n as usize;
            }
        } else if line.ends_with(b" EXPUNGE\r\n") {
            open.exists = open.exists.saturating_sub(1);
        }
    }
}

impl Open {
    /// Runs one command; `Ok(true)` for OK, `Ok(false)` for NO, an error for BAD or I/O.
    async fn run(&mut self, text: &str) -> Result<bool> {
        let (untagged, ok) = self.client.command_status(text).await?;
        track(self, &untagged);
        Ok(ok)
    }

    async fn select(&mut self, folder: usize) -> Result<bool> {
        self.exists = 0;
        let ok = self.run(&format!("SELECT {}", FOLDERS[folder])).await?;
        self.folder = folder;
        Ok(ok)
    }
}

async fn open_session(target: &Target, account: usize) -> Result<Open> {
    let mut client = Client::open(target.addr, None, 64 * 1024).await?;
    client
        .login(&target.user(account), &target.password)
        .await?;
    // The folder may exist already (another session made it): NO is fine.
    client.command_status("CREATE Archive").await?;
    let mut open = Open {
        client,
        folder: 0,
        exists: 0,
    };
    if !open.select(0).await? {
        return fail("SELECT INBOX refused");
    }
    Ok(open)
}

fn pick(rng: &mut Rng) -> usize {
    let total: u32 = COMMANDS.iter().map(|(_, w)| w).sum();
    let mut r = rng.below(total as usize) as u32;
    for (i, (_, w)) in COMMANDS.iter().enumerate() {
        if r < *w {
            return i;
        }
        r -= w;
    }
    FETCH_ALL_FLAGS
}

/// One step of one session: whether the server said OK, or `None` when the command does not
/// apply now (an empty folder, a folder at its bounds) and nothing was sent.
async fn step(
    spec: &StressSpec,
    open: &mut Open,
    which: usize,
    rng: &mut Rng,
    n: usize,
) -> Result<Option<bool>> {
    let exists = open.exists;
    let seq = rng.below(exists.max(1)) + 1;
    let other = 1 - open.folder;
    let cap = spec.populated * 3;
    match which {
        SELECT => open.select(other).await.map(Some),
        FETCH_FLAGS | FETCH_ENVELOPE if exists > 0 => {
            let width = if which == FETCH_FLAGS { 20 } else { 10 };
            let first = rng.below(exists.saturating_sub(width).max(1)) + 1;
            let last = (first + width - 1).min(exists);
            let items = if which == FETCH_FLAGS {
                "(UID FLAGS)"
            } else {
                "(UID ENVELOPE RFC822.SIZE)"
            };
            open.run(&format!("FETCH {first}:{last} {items}"))
                .await
                .map(Some)
        }
        FETCH_BODY if exists > 0 => open
            .run(&format!("FETCH {seq} (BODY.PEEK[])"))
            .await
            .map(Some),
        STORE_KEYWORD if exists > 0 => {
            let keyword = KEYWORDS[rng.below(KEYWORDS.len())];
            let sign = if rng.below(2) == 0 { '+' } else { '-' };
            open.run(&format!("STORE {seq} {sign}FLAGS ({keyword})"))
                .await
                .map(Some)
        }
        EXPUNGE if exists > MIN_MESSAGES => {
            open.run(&format!("STORE {seq} +FLAGS.SILENT (\\Deleted)"))
                .await?;
            open.run("EXPUNGE").await.map(Some)
        }
        APPEND if open.folder == 1 || exists < cap => {
            let body = message(2_000_000 + n, spec.size, "bench-stress");
            // The reply may carry other sessions' EXPUNGEs (and our own EXISTS).
            let reply = open.client.append("INBOX", "", &body).await?;
            track(open, &reply.untagged);
            Ok(Some(true))
        }
        COPY if exists > 0 && exists < cap => open
            .run(&format!("COPY {seq} {}", FOLDERS[other]))
            .await
            .map(Some),
        SEARCH => {
            let text = match n % 3 {
                0 => "UID SEARCH UNSEEN".to_string(),
                1 => format!("UID SEARCH KEYWORD {}", KEYWORDS[rng.below(5)]),
                _ => "UID SEARCH SUBJECT \"invoice\"".to_string(),
            };
            open.run(&text).await.map(Some)
        }
        STATUS => open
            .run(&format!(
                "STATUS {} (MESSAGES UNSEEN UIDNEXT)",
                FOLDERS[other]
            ))
            .await
            .map(Some),
        FETCH_ALL_FLAGS if exists > 0 => open.run("FETCH 1:* (UID FLAGS)").await.map(Some),
        _ => Ok(None),
    }
}

async fn stress_client(spec: StressSpec, client_index: usize, start: Instant) -> Stats {
    let mut stats = Stats {
        latencies: vec![Vec::new(); COMMANDS.len()],
        ..Default::default()
    };
    let note = |stats: &mut Stats, e: String| {
        stats.errors += 1;
        if stats.first_errors.len() < 3 {
            stats.first_errors.push(e);
        }
    };
    let mut sessions = vec![];
    for j in 0..spec.sessions {
        let account = (client_index + j * 4) % spec.users.max(1) + 1;
        match open_session(&spec.target, account).await {
            Ok(open) => sessions.push(open),
            Err(e) => note(&mut stats, format!("user {account}: {e}")),
        }
    }
    let mut rng = Rng::new(0x5eed + client_index as u64);
    let deadline = start + Duration::from_secs(spec.seconds);
    let mut n = client_index * 1_000_000;
    while Instant::now() < deadline && !sessions.is_empty() {
        n += 1;
        let s = rng.below(sessions.len());
        let which = pick(&mut rng);
        let begun = Instant::now();
        match step(&spec, &mut sessions[s], which, &mut rng, n).await {
            Ok(None) => {}
            Ok(Some(ok)) => {
                stats.latencies[which].push(begun.elapsed());
                if !ok {
                    stats.refused += 1;
                }
            }
            Err(e) => {
                note(&mut stats, format!("{}: {e}", COMMANDS[which].0));
                sessions.swap_remove(s);
            }
        }
    }
    for mut open in sessions {
        let _ = open.client.logout().await;
    }
    stats
}

pub async fn stress(spec: StressSpec) -> Result<()> {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for client_index in 0..spec.clients {
        tasks.spawn(stress_client(spec.clone(), client_index, start));
    }
    let mut all: Vec<Vec<Duration>> = vec![vec![]; COMMANDS.len()];
    let (mut errors, mut refused) = (0, 0);
    while let Some(joined) = tasks.join_next().await {
        let mut stats = joined?;
        for (into, from) in all.iter_mut().zip(stats.latencies.iter_mut()) {
            into.append(from);
        }
        errors += stats.errors;
        refused += stats.refused;
        for e in stats.first_errors {
            eprintln!("{}: error: {e}", spec.target.label);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let label = &spec.target.label;
    let mut commands = 0;
    for ((name, _), latencies) in COMMANDS.iter().zip(all.iter_mut()) {
        latencies.sort();
        // An EXPUNGE step is two commands (STORE \Deleted, EXPUNGE).
        commands += latencies.len() * if *name == "EXPUNGE" { 2 } else { 1 };
        println!(
            "{label} {name:<18} n={:<6} p50_ms={:>7.2} p99_ms={:>7.2} mean_ms={:>7.2}",
            latencies.len(),
            percentile(latencies, 0.5),
            percentile(latencies, 0.99),
            mean(latencies),
        );
    }
    println!(
        "{label} SUMMARY clients={} sessions={} commands={commands} refused={refused} errors={errors} seconds={seconds:.2} commands_per_s={:.1}",
        spec.clients,
        spec.clients * spec.sessions,
        commands as f64 / seconds,
    );
    if errors > 0 {
        return fail(format!("{errors} sessions failed"));
    }
    Ok(())
}
