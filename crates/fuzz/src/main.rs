//! `govmail-fuzz <target> [--seconds N] [--seed S] [--corpus DIR]`: see README.md.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use govmail_fuzz::driver::{self, Options};
use govmail_fuzz::targets::{self, TARGETS};

#[derive(Parser, Debug)]
#[command(
    name = "govmail-fuzz",
    about = "Mutation fuzzing of govmail's parsers on stable Rust",
    after_help = "Targets: imap_command, smtp_reader, mime_roundtrip (or `all`: each in turn). \
                  Crashing inputs are saved to crates/fuzz/crashes/<target>/. Exit status: 0 no \
                  crash, 1 crashes found, 2 the run itself failed."
)]
struct Args {
    /// imap_command, smtp_reader, mime_roundtrip, or all.
    target: String,
    /// How long to fuzz (per target).
    #[arg(long, default_value_t = 60.0)]
    seconds: f64,
    /// Seed of the mutations (default: from the clock; printed at the end).
    #[arg(long)]
    seed: Option<u64>,
    /// Seed corpus directory (repeatable); default crates/fuzz/corpus/<target>.
    #[arg(long)]
    corpus: Vec<PathBuf>,
    /// Run these files (or every file of these directories) once each instead of fuzzing.
    #[arg(long, num_args = 1..)]
    replay: Vec<PathBuf>,
    /// Where crashing inputs go; default crates/fuzz/crashes/<target>.
    #[arg(long)]
    crash_dir: Option<PathBuf>,
    /// Seconds an input may run before it counts as a hang.
    #[arg(long)]
    timeout: Option<f64>,
    /// Inputs slower than this many seconds are reported (and a few saved as slow-*).
    #[arg(long)]
    slow: Option<f64>,
    /// Address-space limit of the worker in MiB (0: none); exceeding it is a crash.
    #[arg(long, default_value_t = 2048)]
    mem_mb: u64,
    /// Run in this process: no worker child, so a stack overflow ends the run.
    #[arg(long)]
    inproc: bool,
    /// Print progress every N seconds (default: every 60 s on runs over 2 minutes).
    #[arg(long)]
    progress: Option<f64>,
    /// Internal: run as the supervised worker.
    #[arg(long, hide = true)]
    worker: bool,
    /// Internal: first execution index of a worker.
    #[arg(long, hide = true, default_value_t = 0)]
    start: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let names: Vec<&str> = if args.target == "all" {
        TARGETS.iter().map(|t| t.name).collect()
    } else {
        vec![args.target.as_str()]
    };
    let seed = args.seed.unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        govmail_fuzz::rng::Rng::new(nanos ^ u64::from(std::process::id())).next_u64()
    });
    let debug = cfg!(debug_assertions);
    let mut crashed = false;
    for name in names {
        let Some(target) = targets::by_name(name) else {
            eprintln!(
                "govmail-fuzz: unknown target {name:?}; targets: {}",
                TARGETS
                    .iter()
                    .map(|t| t.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            return ExitCode::from(2);
        };
        let dir = govmail_fuzz::crate_dir();
        let opts = Options {
            seconds: args.seconds,
            seed,
            corpus: if args.corpus.is_empty() {
                vec![dir.join("corpus").join(name)]
            } else {
                args.corpus.clone()
            },
            replay: args.replay.clone(),
            crash_dir: args
                .crash_dir
                .clone()
                .unwrap_or_else(|| dir.join("crashes").join(name)),
            timeout: Duration::from_secs_f64(args.timeout.unwrap_or(if debug {
                60.0
            } else {
                10.0
            })),
            slow: Duration::from_secs_f64(args.slow.unwrap_or(if debug { 10.0 } else { 1.0 })),
            mem_mb: args.mem_mb,
            progress: args
                .progress
                .map(Duration::from_secs_f64)
                .or((args.seconds > 120.0).then(|| Duration::from_secs(60))),
        };
        if args.worker {
            return match driver::worker_main(target, opts, args.start) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("govmail-fuzz: worker: {e}");
                    ExitCode::from(2)
                }
            };
        }
        let result = if args.inproc {
            driver::run_in_process(target, &opts)
        } else {
            driver::supervise(target, &opts)
        };
        match result {
            Ok(summary) => {
                summary.print();
                crashed |= summary.crashes > 0;
            }
            Err(e) => {
                eprintln!("govmail-fuzz: {name}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if crashed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
