//! The mutation driver (stable Rust, no coverage instrumentation).
//!
//! A supervising process starts a worker child (the same binary with `--worker`). The child
//! runs inputs on a thread with a 2 MiB stack (tokio's worker stack size) under an address-space
//! limit, and before each input tells the parent its index over a pipe. Inputs are a pure
//! function of (seed, index, corpus), so when the child dies (stack overflow, abort, out of
//! memory) or stops reporting (hang), the parent rebuilds the input it was running, saves it to
//! the crash directory with the child's last stderr lines, and starts a new child at the next
//! index. Panics are caught in the child itself, which saves the input and goes on.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::mutate::havoc;
use crate::rng::{self, fnv64};
use crate::targets::Target;

/// Stack of the thread that runs the inputs: tokio's worker threads have 2 MiB.
pub const WORKER_STACK: usize = 2 * 1024 * 1024;

/// Where the inputs come from.
pub enum Source {
    /// The corpus first, as is, then mutations of it (and generated inputs).
    Fuzz { corpus: Vec<Vec<u8>>, seed: u64 },
    /// These files, once each.
    Replay { files: Vec<(PathBuf, Vec<u8>)> },
}

impl Source {
    /// Number of inputs, when finite.
    pub fn len(&self) -> Option<u64> {
        match self {
            Source::Fuzz { .. } => None,
            Source::Replay { files } => Some(files.len() as u64),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// The input number `index`.
    pub fn input(&self, target: &Target, index: u64) -> Vec<u8> {
        match self {
            Source::Replay { files } => files[index as usize].1.clone(),
            Source::Fuzz { corpus, seed } => {
                if (index as usize) < corpus.len() {
                    return corpus[index as usize].clone();
                }
                let mut rng = rng::for_exec(*seed, index);
                if let Some(generate) = target.generate {
                    if rng.chance(2, 5) {
                        let mut input = generate(&mut rng);
                        if rng.chance(1, 2) {
                            input = havoc(&mut rng, &input, corpus, &target.dict, target.max_len);
                        }
                        input.truncate(target.max_len);
                        return input;
                    }
                }
                let base: &[u8] = if corpus.is_empty() {
                    &[]
                } else {
                    &corpus[rng.below(corpus.len())]
                };
                havoc(&mut rng, base, corpus, &target.dict, target.max_len)
            }
        }
    }

    /// A name for input `index` in reports.
    pub fn describe(&self, index: u64) -> String {
        match self {
            Source::Replay { files } => files[index as usize].0.display().to_string(),
            Source::Fuzz { corpus, seed } if (index as usize) < corpus.len() => {
                format!("corpus entry {index} (seed {seed:#x})")
            }
            Source::Fuzz { seed, .. } => format!("execution {index} of seed {seed:#x}"),
        }
    }
}

/// Files of the given files and directories (directories: their files, not recursive), in name
/// order. Names starting with `.` and notes (`*.txt`, `*.md`) are skipped.
pub fn load_inputs(paths: &[PathBuf]) -> std::io::Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && !is_note(p))
                .collect();
            files.sort();
            for file in files {
                let data = std::fs::read(&file)?;
                out.push((file, data));
            }
        } else if path.exists() {
            out.push((path.clone(), std::fs::read(path)?));
        }
    }
    Ok(out)
}

fn is_note(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.starts_with('.') || name.ends_with(".txt") || name.ends_with(".md")
}

/// Everything a run needs; the same for parent and child.
#[derive(Debug, Clone)]
pub struct Options {
    pub seconds: f64,
    pub seed: u64,
    pub corpus: Vec<PathBuf>,
    /// Non-empty: replay these files / directories instead of fuzzing.
    pub replay: Vec<PathBuf>,
    pub crash_dir: PathBuf,
    /// An input running longer than this is a hang.
    pub timeout: Duration,
    /// Inputs slower than this are reported (not counted as crashes).
    pub slow: Duration,
    /// Address-space limit of the worker, MiB.
    pub mem_mb: u64,
    /// Print progress every this often.
    pub progress: Option<Duration>,
}

impl Options {
    pub fn source(&self) -> std::io::Result<Source> {
        if self.replay.is_empty() {
            let corpus = load_inputs(&self.corpus)?
                .into_iter()
                .map(|(_, data)| data)
                .collect();
            Ok(Source::Fuzz {
                corpus,
                seed: self.seed,
            })
        } else {
            Ok(Source::Replay {
                files: load_inputs(&self.replay)?,
            })
        }
    }
}

/// What a worker tells its parent (tag byte, index, payload).
#[derive(Debug)]
enum Msg {
    /// About to run this input.
    Run(u64),
    /// The input panicked; payload: signature and saved path.
    Panic(u64, String),
    /// The input took long; payload: milliseconds.
    Slow(u64, String),
    /// Finished; payload: executions and peak RSS in KiB.
    Done(String),
}

fn encode(msg: &Msg) -> Vec<u8> {
    let (tag, index, payload) = match msg {
        Msg::Run(i) => (b'R', *i, ""),
        Msg::Panic(i, p) => (b'P', *i, p.as_str()),
        Msg::Slow(i, p) => (b'S', *i, p.as_str()),
        Msg::Done(p) => (b'D', 0, p.as_str()),
    };
    let mut out = Vec::with_capacity(13 + payload.len());
    out.push(tag);
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload.as_bytes());
    out
}

fn decode(reader: &mut impl Read) -> Option<Msg> {
    let mut head = [0u8; 13];
    reader.read_exact(&mut head).ok()?;
    let index = u64::from_le_bytes(head[1..9].try_into().ok()?);
    let len = u32::from_le_bytes(head[9..13].try_into().ok()?) as usize;
    let mut payload = vec![0u8; len];
    reader.read_exact(&mut payload).ok()?;
    let payload = String::from_utf8_lossy(&payload).into_owned();
    Some(match head[0] {
        b'R' => Msg::Run(index),
        b'P' => Msg::Panic(index, payload),
        b'S' => Msg::Slow(index, payload),
        b'D' => Msg::Done(payload),
        _ => return None,
    })
}

/// Saves a crashing input as `<kind>-<hash>` with a `<kind>-<hash>.txt` note beside it.
pub fn save_crash(dir: &Path, kind: &str, input: &[u8], note: &str) -> PathBuf {
    let _ = std::fs::create_dir_all(dir);
    let path = dir.join(format!("{kind}-{:016x}", fnv64(input)));
    if let Err(e) = std::fs::write(&path, input) {
        eprintln!("govmail-fuzz: cannot save {}: {e}", path.display());
    }
    let _ = std::fs::write(path.with_extension("txt"), note);
    path
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Limits the address space of this process (the worker).
pub fn limit_memory(mb: u64) {
    if mb == 0 {
        return;
    }
    let bytes = mb * 1024 * 1024;
    let limit = rustix::process::Rlimit {
        current: Some(bytes),
        maximum: Some(bytes),
    };
    if let Err(e) = rustix::process::setrlimit(rustix::process::Resource::As, limit) {
        eprintln!("govmail-fuzz: cannot limit memory: {e}");
    }
}

/// The worker loop, on a thread with a 2 MiB stack: inputs `start..` until the deadline (or
/// the end of a replay list). `report` gets a message before each input and after a panic.
fn work(
    target: &'static Target,
    opts: &Options,
    source: &Source,
    start: u64,
    report: &mut dyn FnMut(Msg),
) -> u64 {
    crate::panics::install_recording_hook();
    let deadline = Instant::now() + Duration::from_secs_f64(opts.seconds.max(0.0));
    let mut saved: BTreeMap<String, usize> = BTreeMap::new();
    let mut slow_saved = 0;
    let mut execs = 0u64;
    let mut index = start;
    loop {
        if let Some(n) = source.len() {
            if index >= n {
                break;
            }
        } else if Instant::now() >= deadline {
            break;
        }
        let input = source.input(target, index);
        report(Msg::Run(index));
        crate::panics::take();
        let began = Instant::now();
        let result = std::panic::catch_unwind(|| (target.run)(&input));
        let took = began.elapsed();
        execs += 1;
        if let Err(_payload) = result {
            let panics = crate::panics::take();
            let first = panics.first();
            let signature = first
                .map(|p| p.location.clone())
                .unwrap_or_else(|| "unknown location".to_string());
            let message = panics
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n");
            let count = saved.entry(signature.clone()).or_insert(0);
            *count += 1;
            let path = if *count <= 3 {
                let note = format!(
                    "target: {}\ninput: {}\nkind: panic\n{message}\n",
                    target.name,
                    source.describe(index)
                );
                save_crash(&opts.crash_dir, "panic", &input, &note)
                    .display()
                    .to_string()
            } else {
                String::from("(not saved: seen 3 times)")
            };
            if *count <= 3 {
                eprintln!(
                    "govmail-fuzz: PANIC in {} on {} ({} bytes): {} -> {path}",
                    target.name,
                    source.describe(index),
                    input.len(),
                    first.map(|p| one_line(&p.to_string())).unwrap_or_default()
                );
            }
            report(Msg::Panic(index, format!("panic at {signature}\t{path}")));
        }
        if took > opts.slow {
            if slow_saved < 3 {
                slow_saved += 1;
                let note = format!(
                    "target: {}\ninput: {}\nkind: slow ({} ms)\n",
                    target.name,
                    source.describe(index),
                    took.as_millis()
                );
                save_crash(&opts.crash_dir, "slow", &input, &note);
            }
            report(Msg::Slow(index, format!("{}", took.as_millis())));
        }
        index += 1;
    }
    execs
}

/// The worker process: runs inputs from `start` and reports over stdout.
pub fn worker_main(target: &'static Target, opts: Options, start: u64) -> std::io::Result<()> {
    limit_memory(opts.mem_mb);
    let source = opts.source()?;
    let handle = std::thread::Builder::new()
        .name("fuzz-worker".into())
        .stack_size(WORKER_STACK)
        .spawn(move || {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            let mut send = |msg: Msg| {
                if out
                    .write_all(&encode(&msg))
                    .and_then(|_| out.flush())
                    .is_err()
                {
                    // The parent is gone.
                    std::process::exit(3);
                }
            };
            let execs = work(target, &opts, &source, start, &mut send);
            send(Msg::Done(format!("{execs} {}", peak_rss_kib())));
        })?;
    handle
        .join()
        .map_err(|_| std::io::Error::other("worker thread panicked"))
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Summary {
    pub target: String,
    pub execs: u64,
    pub elapsed: Duration,
    pub crashes: u64,
    /// Signature → (count, first saved path).
    pub kinds: BTreeMap<String, (u64, String)>,
    pub slow: u64,
    pub restarts: u64,
    pub peak_rss_kib: u64,
    pub inputs: usize,
    pub seed: u64,
    pub replay: bool,
}

impl Summary {
    fn crash(&mut self, signature: String, path: String) {
        self.crashes += 1;
        let entry = self.kinds.entry(signature).or_insert((0, path));
        entry.0 += 1;
    }

    pub fn print(&self) {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let what = if self.replay {
            format!("replayed {} files", self.inputs)
        } else {
            format!("seed {:#x}, {} corpus entries", self.seed, self.inputs)
        };
        eprintln!(
            "govmail-fuzz: {}: {} executions in {:.1} s ({:.0} exec/s), {} crashes ({} distinct), \
             {} slow, {} restarts, worker peak RSS {} MiB; {what}",
            self.target,
            self.execs,
            secs,
            self.execs as f64 / secs,
            self.crashes,
            self.kinds.len(),
            self.slow,
            self.restarts,
            self.peak_rss_kib / 1024,
        );
        for (signature, (count, path)) in &self.kinds {
            eprintln!("govmail-fuzz:   {count} x {signature} -> {path}");
        }
    }
}

/// Runs the target in this process (no protection against stack overflow or hangs).
pub fn run_in_process(target: &'static Target, opts: &Options) -> std::io::Result<Summary> {
    limit_memory(opts.mem_mb);
    let source = opts.source()?;
    let began = Instant::now();
    let summary = Summary {
        target: target.name.to_string(),
        seed: opts.seed,
        replay: !opts.replay.is_empty(),
        inputs: match &source {
            Source::Fuzz { corpus, .. } => corpus.len(),
            Source::Replay { files } => files.len(),
        },
        ..Summary::default()
    };
    let opts2 = opts.clone();
    let handle = std::thread::Builder::new()
        .name("fuzz-worker".into())
        .stack_size(WORKER_STACK)
        .spawn(move || {
            let mut summary = summary;
            {
                let mut report = |msg: Msg| match msg {
                    Msg::Run(_) => summary.execs += 1,
                    Msg::Panic(_, p) => {
                        let (sig, path) = p.split_once('\t').unwrap_or((&p, ""));
                        summary.crash(sig.to_string(), path.to_string());
                    }
                    Msg::Slow(..) => summary.slow += 1,
                    Msg::Done(_) => {}
                };
                work(target, &opts2, &source, 0, &mut report);
            }
            summary.elapsed = began.elapsed();
            summary.peak_rss_kib = peak_rss_kib();
            summary
        })?;
    let summary = handle
        .join()
        .map_err(|_| std::io::Error::other("worker thread panicked"))?;
    Ok(summary)
}

/// A message shortened to one line of at most 300 characters for the console.
fn one_line(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > 300 {
        let head: String = flat.chars().take(300).collect();
        format!("{head}…")
    } else {
        flat
    }
}

fn abort_signature(tail: &[String], hang: bool) -> String {
    if hang {
        return "hang (no answer within the timeout)".to_string();
    }
    for line in tail.iter().rev() {
        if line.contains("overflowed its stack") {
            return format!("stack overflow ({})", line.trim());
        }
        if line.contains("memory allocation of") {
            return format!("out of memory ({})", line.trim());
        }
    }
    tail.iter()
        .rev()
        .find(|l| !l.trim().is_empty() && !l.starts_with("govmail-fuzz:"))
        .map(|l| format!("abort ({})", l.trim()))
        .unwrap_or_else(|| "abort (no message)".to_string())
}

/// Runs the target under supervision: a worker child, restarted after each fatal input.
pub fn supervise(target: &'static Target, opts: &Options) -> std::io::Result<Summary> {
    let source = opts.source()?;
    let began = Instant::now();
    let deadline = began + Duration::from_secs_f64(opts.seconds.max(0.0));
    let exe = std::env::current_exe()?;
    let mut summary = Summary {
        target: target.name.to_string(),
        seed: opts.seed,
        replay: !opts.replay.is_empty(),
        inputs: match &source {
            Source::Fuzz { corpus, .. } => corpus.len(),
            Source::Replay { files } => files.len(),
        },
        ..Summary::default()
    };
    let mut abort_saved: BTreeMap<String, usize> = BTreeMap::new();
    let mut next = 0u64;
    let mut failed_starts = 0;
    let mut last_progress = Instant::now();
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match source.len() {
            Some(n) if next >= n => break,
            None if remaining.is_zero() => break,
            _ => {}
        }
        let mut cmd = Command::new(&exe);
        cmd.arg(target.name)
            .arg("--worker")
            .arg("--start")
            .arg(next.to_string())
            .arg("--seed")
            .arg(opts.seed.to_string())
            .arg("--seconds")
            .arg(format!("{:.3}", remaining.as_secs_f64()))
            .arg("--crash-dir")
            .arg(&opts.crash_dir)
            .arg("--mem-mb")
            .arg(opts.mem_mb.to_string())
            .arg("--timeout")
            .arg(format!("{:.3}", opts.timeout.as_secs_f64()))
            .arg("--slow")
            .arg(format!("{:.3}", opts.slow.as_secs_f64()));
        for dir in &opts.corpus {
            cmd.arg("--corpus").arg(dir);
        }
        for path in &opts.replay {
            cmd.arg("--replay").arg(path);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut stdout = BufReader::with_capacity(64 * 1024, stdout);
            while let Some(msg) = decode(&mut stdout) {
                if tx.send(msg).is_err() {
                    break;
                }
            }
        });
        let tail = Arc::new(Mutex::new(VecDeque::<String>::new()));
        let tail2 = tail.clone();
        let err_reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).split(b'\n') {
                let Ok(line) = line else { break };
                let line = String::from_utf8_lossy(&line).into_owned();
                if line.starts_with("govmail-fuzz:") {
                    eprintln!("{line}");
                }
                let mut tail = tail2.lock().unwrap_or_else(|e| e.into_inner());
                if tail.len() == 40 {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        let mut last: Option<u64> = None;
        let mut done = false;
        let mut hang = false;
        loop {
            // Loading the corpus may take a moment before the first input.
            let wait = if last.is_none() {
                opts.timeout.max(Duration::from_secs(60))
            } else {
                opts.timeout
            };
            match rx.recv_timeout(wait) {
                Ok(Msg::Run(i)) => {
                    last = Some(i);
                    summary.execs += 1;
                }
                Ok(Msg::Panic(_, p)) => {
                    let (sig, path) = p.split_once('\t').unwrap_or((&p, ""));
                    summary.crash(sig.to_string(), path.to_string());
                }
                Ok(Msg::Slow(..)) => summary.slow += 1,
                Ok(Msg::Done(p)) => {
                    done = true;
                    let rss = p
                        .split_whitespace()
                        .nth(1)
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    summary.peak_rss_kib = summary.peak_rss_kib.max(rss);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    hang = true;
                    let _ = child.kill();
                    break;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if let Some(every) = opts.progress {
                if last_progress.elapsed() >= every {
                    last_progress = Instant::now();
                    let secs = began.elapsed().as_secs_f64();
                    eprintln!(
                        "govmail-fuzz: {}: {} executions in {:.0} s ({:.0} exec/s), {} crashes",
                        target.name,
                        summary.execs,
                        secs,
                        summary.execs as f64 / secs,
                        summary.crashes
                    );
                }
            }
        }
        let status = child.wait()?;
        let _ = reader.join();
        let _ = err_reader.join();
        if done && status.success() {
            if source.len().is_some() {
                break;
            }
            // A fuzzing child stops at the deadline.
            continue;
        }
        let tail: Vec<String> = tail
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect();
        let Some(index) = last else {
            failed_starts += 1;
            if failed_starts >= 3 {
                return Err(std::io::Error::other(format!(
                    "the worker fails before running any input ({status}): {}",
                    tail.join("\n")
                )));
            }
            continue;
        };
        failed_starts = 0;
        summary.restarts += 1;
        let signature = abort_signature(&tail, hang);
        let input = source.input(target, index);
        let count = abort_saved.entry(signature.clone()).or_insert(0);
        *count += 1;
        let kind = if hang {
            "hang"
        } else if signature.starts_with("stack overflow") {
            "stack-overflow"
        } else if signature.starts_with("out of memory") {
            "oom"
        } else {
            "abort"
        };
        let path = if *count <= 3 {
            let note = format!(
                "target: {}\ninput: {}\nkind: {kind}\nworker exit: {status}\nlast stderr lines of the worker:\n{}\n",
                target.name,
                source.describe(index),
                tail.join("\n")
            );
            save_crash(&opts.crash_dir, kind, &input, &note)
                .display()
                .to_string()
        } else {
            String::from("(not saved: seen 3 times)")
        };
        if *count <= 3 {
            eprintln!(
                "govmail-fuzz: CRASH in {} on {} ({} bytes): {signature} -> {path}",
                target.name,
                source.describe(index),
                input.len()
            );
        }
        summary.crash(signature, path);
        next = index + 1;
    }
    summary.elapsed = began.elapsed();
    Ok(summary)
}
