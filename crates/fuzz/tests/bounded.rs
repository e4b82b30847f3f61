//! What CI runs (part of `cargo test --workspace`): every fuzz target for a bounded time, and a
//! replay of the seed corpus and of every saved regression input.
//!
//! Each run goes through the `govmail-fuzz` binary, whose supervisor turns a stack overflow or
//! an abort into a reported, saved crash instead of killing this test process.
//! `GOVMAIL_FUZZ_SECS` sets the seconds per target (default 20: about a minute for the three;
//! 0 skips the fuzzing, not the replays). `GOVMAIL_FUZZ_SEED` fixes the seed (default: a new
//! one per run, printed).

use std::path::PathBuf;
use std::process::Command;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn seconds() -> f64 {
    std::env::var("GOVMAIL_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20.0)
}

/// Where the driver saves crashing inputs (its default; ignored by git).
fn crash_dir(target: &str) -> PathBuf {
    crate_dir().join("crashes").join(target)
}

fn run(target: &str, extra: &[&str]) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_govmail-fuzz"));
    cmd.arg(target)
        .arg("--crash-dir")
        .arg(crash_dir(target))
        .args(extra);
    if let Ok(seed) = std::env::var("GOVMAIL_FUZZ_SEED") {
        cmd.arg("--seed").arg(seed);
    }
    let status = cmd.status().expect("run govmail-fuzz");
    assert!(
        status.success(),
        "govmail-fuzz {target} {extra:?} found crashes ({status}); inputs saved in {}",
        crash_dir(target).display()
    );
}

fn fuzz(target: &str) {
    let secs = seconds();
    if secs > 0.0 {
        run(target, &["--seconds", &secs.to_string()]);
    }
}

fn replay(target: &str) {
    let dir = crate_dir();
    let corpus = dir.join("corpus").join(target);
    let regressions = dir.join("regressions").join(target);
    assert!(corpus.is_dir(), "no seed corpus for {target}");
    run(
        target,
        &[
            "--replay",
            corpus.to_str().unwrap(),
            regressions.to_str().unwrap(),
        ],
    );
}

#[test]
fn imap_command_bounded() {
    fuzz("imap_command");
}

#[test]
fn smtp_reader_bounded() {
    fuzz("smtp_reader");
}

#[test]
fn mime_roundtrip_bounded() {
    fuzz("mime_roundtrip");
}

#[test]
fn corpus_and_regressions_replay() {
    for target in ["imap_command", "smtp_reader", "mime_roundtrip"] {
        replay(target);
    }
}
