//! A `govmail serve` child process for tests that drive the real binary: started, waited for
//! ("govmail serving" on stdout), its listeners read from the "listening KIND ADDR" lines,
//! SIGKILLed when dropped. Shared by the test files that include it with `mod served;`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A loopback port for a server under test to listen on: free when handed out, never handed
/// out twice by this process, and below Linux's ephemeral range (32768-60999). A port found by
/// binding port 0 is in that range, where every outgoing connection of every test takes its
/// source port: one could take it before the server binds it (seen: "Address already in use").
pub fn free_port() -> u16 {
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Another process's tests (a second checkout, say) start elsewhere in the range.
    let start = std::process::id().wrapping_mul(97) % COUNT;
    for _ in 0..COUNT {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (FIRST + (start + n) % COUNT) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {FIRST}..{}", FIRST + COUNT);
}

/// Runs `try_start` until it succeeds, with a new attempt when a port picked as free was taken
/// before the server bound it; panics on any other failure.
pub fn with_retries<T>(mut try_start: impl FnMut(u32) -> Result<T, String>) -> T {
    let mut last_error = String::new();
    for attempt in 0..5 {
        match try_start(attempt) {
            Ok(server) => return server,
            Err(e) if e.contains("cannot listen") || e.contains("in use") => last_error = e,
            Err(e) => panic!("govmail serve did not start: {e}"),
        }
    }
    panic!("govmail serve could not bind its ports: {last_error}");
}

/// `govmail --set S... serve`, started and waited for; panics (with its stderr) on failure.
pub fn serve(sets: &[String], stderr_path: PathBuf) -> Served {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_govmail"));
    cmd.arg("--no-config");
    // No ManageSieve or LDAP on their default ports unless a test asks (tests run side by side).
    cmd.arg("--set").arg("listen.managesieve=[]");
    cmd.arg("--set").arg("listen.ldap=[]");
    cmd.arg("--set").arg("listen.ldaps=[]");
    for set in sets {
        cmd.arg("--set").arg(set);
    }
    cmd.arg("serve");
    Served::spawn(cmd, stderr_path).unwrap_or_else(|e| panic!("{e}"))
}

pub struct Served {
    child: Option<Child>,
    /// "smtp Mx", "smtp Submission", "imap", "imaps", ... → address.
    addrs: BTreeMap<String, SocketAddr>,
    stderr_path: PathBuf,
}

impl Served {
    /// Runs `cmd` (the binary with its options, ending in `serve`), stderr to `stderr_path`,
    /// and waits up to 60 s for "govmail serving". Err (with the server's stderr) when it
    /// exits or stays silent; the caller may retry on "cannot listen".
    pub fn spawn(mut cmd: Command, stderr_path: PathBuf) -> Result<Served, String> {
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        let mut child = cmd.spawn().expect("spawning govmail serve");
        let stdout = child.stdout.take().unwrap();
        let (lines_tx, lines_rx) = mpsc::channel::<String>();
        // Keeps draining stdout for the server's whole life.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = lines_tx.send(line);
            }
        });
        let mut served = Served {
            child: Some(child),
            addrs: BTreeMap::new(),
            stderr_path,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some((kind, addr)) = line
                        .strip_prefix("listening ")
                        .and_then(|rest| rest.rsplit_once(' '))
                    {
                        if let Ok(addr) = addr.trim().parse() {
                            served.addrs.insert(kind.to_string(), addr);
                        }
                    }
                    if line.starts_with("govmail serving") {
                        return Ok(served);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(served.fail("govmail serve exited before serving"));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(served.fail("no \"govmail serving\" on stdout within 60 s"));
                }
            }
        }
    }

    fn fail(mut self, why: &str) -> String {
        self.kill();
        format!("{why}; stderr:\n{}", self.log())
    }

    /// The address of the listener `kind`, which must be on `port`.
    pub fn addr(&self, kind: &str, port: u16) -> SocketAddr {
        let addr = *self
            .addrs
            .get(kind)
            .unwrap_or_else(|| panic!("no \"listening {kind}\" line: {:?}", self.addrs));
        assert_eq!(addr.port(), port, "{kind} listens where configured");
        addr
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// True while the child has not exited.
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.kill();
    }
}
