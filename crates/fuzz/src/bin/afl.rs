//! AFL++ entry point (coverage-guided; needs `cargo install cargo-afl`): build with
//! `cargo afl build -p govmail-fuzz --features afl --bin govmail-fuzz-afl --release` and run
//! `cargo afl fuzz -i crates/fuzz/corpus/<target> -o <out> target/.../govmail-fuzz-afl <target>`.
//! See README.md.

fn main() {
    let name = std::env::args().nth(1).unwrap_or_default();
    let Some(target) = govmail_fuzz::targets::by_name(&name) else {
        eprintln!("usage: govmail-fuzz-afl imap_command|smtp_reader|mime_roundtrip");
        std::process::exit(2);
    };
    // The same 2 MiB stack as tokio's workers (and the stable driver).
    std::thread::Builder::new()
        .name("fuzz-worker".into())
        .stack_size(govmail_fuzz::driver::WORKER_STACK)
        .spawn(move || {
            afl::fuzz!(|data: &[u8]| {
                (target.run)(data);
            });
        })
        .expect("worker thread")
        .join()
        .expect("worker thread");
}
