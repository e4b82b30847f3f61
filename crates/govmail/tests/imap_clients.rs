//! The real `govmail serve`, driven by real IMAP clients over loopback:
//!
//! - python3 `imaplib` over IMAPS: LOGIN, LIST, SELECT, APPEND (RFC 2047 Vietnamese subject,
//!   UTF-8 body), SEARCH CHARSET UTF-8 with a literal, FETCH, STORE, CREATE + COPY into a
//!   Vietnamese folder (modified UTF-7, then UTF8=ACCEPT), EXPUNGE, LOGOUT; and STARTTLS on the
//!   plain port, where LOGIN before STARTTLS is refused.
//! - `imapclient` (pip): ENVELOPE / BODYSTRUCTURE / BINARY of mail delivered through the MX port
//!   by python `smtplib`; IDLE sees EXISTS within 1 s of an APPEND and of an SMTP delivery.
//! - `mbsync` (isync 1.4): two-way sync of a 500-message Maildir, then flag changes, moves and
//!   deletions on both sides, a second sync, and a third that must change nothing.
//! - `curl`: IMAPS fetch by UID and by MAILINDEX, APPEND (-T), custom SEARCH/STORE/EXPUNGE, LIST,
//!   STARTTLS, refused cleartext login.
//! - `offlineimap3`: full sync of three folders (one with a Vietnamese name) into a Maildir, then
//!   an incremental round with changes on both sides.
//!
//! The Python helpers live in `support_imap/` and are written to the test's temporary dir.
//! Every external process runs with a time limit. Needs `GOVMAIL_TEST_CLAMD` (a private clamd),
//! python3 with `imapclient`, `mbsync`, `offlineimap`, `curl`: run the tests with `scripts/test`
//! (it installs them via `ensure_packages`).

use crate::served;
use crate::support;

use served::Served;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::{clamd_url, Install};

const HOSTNAME: &str = "mail.kontum.gov.vn";
const DOMAIN: &str = "kontum.gov.vn";
const UNIT_NAME: &str = "Sở Thông tin và Truyền thông";
const USER_A: &str = "nvan.stttt@kontum.gov.vn";
const NAME_A: &str = "Nguyễn Văn An";
/// ASCII: curl and mbsync configuration files take it verbatim.
const PASSWORD_A: &str = "mat-khau-An-2024";

const PY_COMMON: &str = include_str!("support_imap/imaptest_common.py");
const PY_IMAPLIB_SESSION: &str = include_str!("support_imap/imaplib_session.py");
const PY_IMAPLIB_STARTTLS: &str = include_str!("support_imap/imaplib_starttls.py");
const PY_IMAPCLIENT: &str = include_str!("support_imap/imapclient_session.py");

// ------------------------------------------------------------------ installation and server

impl Install {
    /// Domain, unit STTTT, user A.
    fn user_a() -> Install {
        Install::with_people(DOMAIN, UNIT_NAME, &[(NAME_A, USER_A, PASSWORD_A)])
    }

    /// Runs one of the Python helpers (with `imaptest_common.py` next to it), bounded in time.
    fn python(&self, name: &str, source: &str, args: &[String], limit: Duration) -> Ran {
        let dir = self.scratch("py");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("imaptest_common.py"), PY_COMMON).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, source).unwrap();
        let mut cmd = Command::new("python3");
        cmd.arg(&path)
            .args(args)
            .current_dir(&dir)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONIOENCODING", "utf-8")
            .env("PYTHONUNBUFFERED", "1");
        run_bounded(self, name, &mut cmd, limit)
    }

    /// Applies server-side changes through IMAP (`imaptest_common.py ops`); must succeed.
    fn imap_ops(&self, server: &Server, ops: &serde_json::Value) {
        static OPS: AtomicUsize = AtomicUsize::new(0);
        let path = self.scratch(&format!("ops-{}.json", OPS.fetch_add(1, Ordering::SeqCst)));
        std::fs::write(&path, serde_json::to_vec_pretty(ops).unwrap()).unwrap();
        let ran = self.python(
            "imaptest_common.py",
            PY_COMMON,
            &[
                "ops".into(),
                "127.0.0.1".into(),
                server.imaps.port().to_string(),
                USER_A.into(),
                PASSWORD_A.into(),
                path.display().to_string(),
            ],
            Duration::from_secs(120),
        );
        ran.must_succeed(server);
    }
}

/// A running `govmail serve` with MX, IMAP (STARTTLS) and IMAPS; killed when dropped.
struct Server {
    served: Served,
    mx: SocketAddr,
    imap: SocketAddr,
    imaps: SocketAddr,
}

impl Server {
    fn start(install: &Install) -> Server {
        let (served, addrs) = install.serve_on(
            &["smtp", "imap", "imaps"],
            &[
                format!("server.hostname={HOSTNAME}"),
                format!("antivirus.clamd=\"{}\"", clamd_url()),
                "smtp.idle_timeout_secs=60".to_string(),
            ],
        );
        Server {
            mx: addrs[0],
            imap: addrs[1],
            imaps: addrs[2],
            served,
        }
    }

    fn log(&self) -> String {
        self.served.log()
    }
}

// ------------------------------------------------------------------ bounded external processes

/// The outcome of one external process run with a time limit.
struct Ran {
    what: String,
    /// None: killed at the time limit.
    status: Option<ExitStatus>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    elapsed: Duration,
}

impl Ran {
    fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    fn text(&self) -> String {
        format!(
            "{}: {} after {:.1?}\nstdout:\n{}\nstderr:\n{}",
            self.what,
            match self.status {
                Some(s) => s.to_string(),
                None => "KILLED at the time limit".to_string(),
            },
            self.elapsed,
            String::from_utf8_lossy(&self.stdout),
            String::from_utf8_lossy(&self.stderr)
        )
    }

    fn must_succeed(&self, server: &Server) -> &Ran {
        assert!(
            self.success(),
            "{}\n--- server log:\n{}",
            self.text(),
            server.log()
        );
        self
    }
}

/// Runs `cmd` with stdin closed and output to files, killing it at `limit`.
fn run_bounded(install: &Install, what: &str, cmd: &mut Command, limit: Duration) -> Ran {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, Ordering::SeqCst);
    let out_path = install.scratch(&format!("run-{n}.stdout"));
    let err_path = install.scratch(&format!("run-{n}.stderr"));
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() >= limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ran {
        what: what.to_string(),
        status,
        stdout: std::fs::read(&out_path).unwrap_or_default(),
        stderr: std::fs::read(&err_path).unwrap_or_default(),
        elapsed: started.elapsed(),
    }
}

// ------------------------------------------------------------------ messages and state

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn crlf_to_lf(bytes: &[u8]) -> Vec<u8> {
    show(bytes).replace("\r\n", "\n").into_bytes()
}

/// An RFC 2047 Q-encoded word.
fn rfc2047(text: &str) -> String {
    let mut out = String::from("=?UTF-8?Q?");
    for b in text.bytes() {
        match b {
            b' ' => out.push('_'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'!' | b'*' | b'+' | b'-' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("={b:02X}")),
        }
    }
    out.push_str("?=");
    assert!(out.len() <= 75, "encoded word too long: {out}");
    out
}

/// A small message (CRLF) with this Message-ID; a Vietnamese subject when `vietnamese`.
fn small_message(mid: &str, n: usize, vietnamese: bool) -> Vec<u8> {
    let subject = if vietnamese {
        rfc2047(&format!("Số {n} chuyển đổi số"))
    } else {
        format!("Document {n}")
    };
    format!(
        "From: Van thu <vanthu@kontum.gov.vn>\r\nTo: <{USER_A}>\r\nSubject: {subject}\r\n\
         Date: Mon, 23 Nov 2026 10:00:00 +0700\r\nMessage-ID: {mid}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         Nội dung thư số {n}.\r\nTrân trọng kính chuyển.\r\n"
    )
    .into_bytes()
}

/// The Message-ID header of a raw message (CRLF or LF).
fn message_id(raw: &[u8]) -> Option<String> {
    let text = show(raw);
    for line in text.lines() {
        if line.trim_end().is_empty() {
            break;
        }
        if line.len() > 11 && line[..11].eq_ignore_ascii_case("message-id:") {
            return Some(line[11..].trim().to_string());
        }
    }
    None
}

/// Removes the `X-TUID:` header line mbsync inserts into messages it propagates.
fn without_x_tuid(raw: &[u8]) -> Vec<u8> {
    let text = show(raw);
    let mut out = String::new();
    let mut in_header = true;
    for line in text.split_inclusive('\n') {
        if in_header && line.starts_with("X-TUID: ") {
            continue;
        }
        if line == "\r\n" || line == "\n" {
            in_header = false;
        }
        out.push_str(line);
    }
    out.into_bytes()
}

/// One message as seen on either side.
#[derive(Debug, Clone)]
struct Seen {
    flags: BTreeSet<String>,
    bytes: Vec<u8>,
    /// Server: UID; Maildir: file name.
    id: String,
}

/// folder -> Message-ID -> message.
type Side = BTreeMap<String, BTreeMap<String, Seen>>;

/// Builds a Side from (folder, mid, message) triples, panicking on a Message-ID seen twice.
fn insert_unique(side: &mut Side, folder: &str, mid: String, seen: Seen, what: &str) {
    let twice: Vec<_> = side
        .iter()
        .filter(|(_, msgs)| msgs.contains_key(&mid))
        .map(|(f, m)| (f.clone(), m[&mid].id.clone()))
        .collect();
    assert!(
        twice.is_empty(),
        "{what}: {mid} duplicated: in {folder} ({}) and in {twice:?}",
        seen.id
    );
    side.entry(folder.to_string())
        .or_default()
        .insert(mid, seen);
}

/// Every message of user A in storage (the server's truth), with `\Recent` left out.
async fn server_side(install: &Install) -> (Side, BTreeMap<String, (i64, i64)>) {
    let store = install.store().await;
    let person = store.person(USER_A).await.unwrap();
    let mut side = Side::new();
    let mut folders = BTreeMap::new();
    for folder in store.folders(person.account_id).await.unwrap() {
        folders.insert(folder.name.clone(), (folder.uidvalidity, folder.uidnext));
        side.entry(folder.name.clone()).or_default();
        for row in store.messages(folder.id).await.unwrap() {
            let bytes = store.read_blob(&row.blob_id).await.unwrap();
            assert_eq!(
                bytes.len() as i64,
                row.size,
                "size column of uid {}",
                row.uid
            );
            let mid = message_id(&bytes).unwrap_or_else(|| {
                panic!(
                    "server {}/{} has no Message-ID:\n{}",
                    folder.name,
                    row.uid,
                    show(&bytes)
                )
            });
            let flags = row
                .flags
                .iter()
                .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
                .map(str::to_string)
                .collect();
            let seen = Seen {
                flags,
                bytes,
                id: row.uid.to_string(),
            };
            insert_unique(&mut side, &folder.name, mid, seen, "server");
        }
    }
    store.close().await;
    (side, folders)
}

/// Maildir info flags to IMAP flags (maildir spec: D F P R S T).
fn maildir_flags(info: &str) -> BTreeSet<String> {
    info.chars()
        .filter_map(|c| match c {
            'D' => Some("\\Draft"),
            'F' => Some("\\Flagged"),
            'R' => Some("\\Answered"),
            'S' => Some("\\Seen"),
            'T' => Some("\\Deleted"),
            _ => None,
        })
        .map(str::to_string)
        .collect()
}

/// Every message of a Maildir++-less tree: each subdirectory with `cur/` is a folder.
fn maildir_side(root: &Path) -> Side {
    let mut side = Side::new();
    let mut dirs: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("cur").is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let folder = dir.file_name().unwrap().to_string_lossy().into_owned();
        side.entry(folder.clone()).or_default();
        for sub in ["new", "cur"] {
            for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let info = name.split_once(":2,").map(|(_, i)| i).unwrap_or("");
                let bytes = std::fs::read(&path).unwrap();
                let mid = message_id(&bytes).unwrap_or_else(|| {
                    panic!("{} has no Message-ID:\n{}", path.display(), show(&bytes))
                });
                let seen = Seen {
                    flags: maildir_flags(info),
                    bytes,
                    id: format!("{sub}/{name}"),
                };
                insert_unique(&mut side, &folder, mid, seen, "maildir");
            }
        }
    }
    side
}

/// folder -> mid -> flags, for comparisons.
fn flag_view(side: &Side) -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    side.iter()
        .map(|(f, msgs)| {
            (
                f.clone(),
                msgs.iter()
                    .map(|(mid, s)| (mid.clone(), s.flags.clone()))
                    .collect(),
            )
        })
        .collect()
}

/// A readable difference between two flag views.
fn diff(
    left_name: &str,
    left: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    right_name: &str,
    right: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
) -> String {
    let mut out = String::new();
    let folders: BTreeSet<&String> = left.keys().chain(right.keys()).collect();
    let empty = BTreeMap::new();
    for folder in folders {
        let (l, r) = (
            left.get(folder).unwrap_or(&empty),
            right.get(folder).unwrap_or(&empty),
        );
        if !left.contains_key(folder) || !right.contains_key(folder) {
            out.push_str(&format!(
                "folder {folder:?}: {} in {left_name}, {} in {right_name}\n",
                if left.contains_key(folder) {
                    "present"
                } else {
                    "absent"
                },
                if right.contains_key(folder) {
                    "present"
                } else {
                    "absent"
                },
            ));
        }
        let mids: BTreeSet<&String> = l.keys().chain(r.keys()).collect();
        for mid in mids {
            match (l.get(mid), r.get(mid)) {
                (Some(a), Some(b)) if a == b => {}
                (a, b) => out.push_str(&format!(
                    "{folder}: {mid}: {left_name} {a:?} vs {right_name} {b:?}\n"
                )),
            }
        }
    }
    out
}

fn assert_same(
    what: &str,
    left_name: &str,
    left: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    right_name: &str,
    right: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
) {
    let d = diff(left_name, left, right_name, right);
    assert!(
        d.is_empty(),
        "{what}: {left_name} and {right_name} differ:\n{d}"
    );
}

fn flags(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

// ------------------------------------------------------------------ 1. imaplib

#[tokio::test]
async fn python_imaplib_imaps_session_append_search_fetch_store_copy_expunge() {
    clamd_url();
    let started = Instant::now();
    let install = Install::user_a();
    let server = Server::start(&install);
    let folder = "Công văn đến 2024";
    let sent_path = install.scratch("appended.eml");
    let ran = install.python(
        "imaplib_session.py",
        PY_IMAPLIB_SESSION,
        &[
            "127.0.0.1".into(),
            server.imaps.port().to_string(),
            USER_A.into(),
            PASSWORD_A.into(),
            folder.into(),
            sent_path.display().to_string(),
        ],
        Duration::from_secs(60),
    );
    ran.must_succeed(&server);
    assert!(
        ran.stdout_text().trim_end().ends_with("ok"),
        "{}",
        ran.text()
    );
    let appended = std::fs::read(&sent_path).unwrap();

    // Storage agrees: INBOX empty after EXPUNGE, the copy in the Vietnamese folder, UTF-8 name.
    let (side, _) = server_side(&install).await;
    assert!(
        side["INBOX"].is_empty(),
        "INBOX after EXPUNGE: {:?}",
        side["INBOX"].keys()
    );
    let copies = side
        .get(folder)
        .unwrap_or_else(|| panic!("no folder {folder:?} in storage: {:?}", side.keys()));
    assert_eq!(copies.len(), 1);
    let copy = &copies["<imaplib-1@kontum.gov.vn>"];
    assert_eq!(copy.bytes, appended, "stored bytes == appended bytes");
    assert_eq!(copy.flags, flags(&["\\Seen"]));
    eprintln!(
        "imaplib IMAPS session: {:.1?} (python {:.1?})",
        started.elapsed(),
        ran.elapsed
    );
}

#[tokio::test]
async fn python_imaplib_starttls_and_no_login_before_tls() {
    clamd_url();
    let started = Instant::now();
    let install = Install::user_a();
    let server = Server::start(&install);
    let ran = install.python(
        "imaplib_starttls.py",
        PY_IMAPLIB_STARTTLS,
        &[
            "127.0.0.1".into(),
            server.imap.port().to_string(),
            USER_A.into(),
            PASSWORD_A.into(),
        ],
        Duration::from_secs(60),
    );
    ran.must_succeed(&server);
    let out = ran.stdout_text();
    assert!(
        out.contains("cleartext LOGIN refused") && out.trim_end().ends_with("ok"),
        "{out}"
    );
    eprintln!("imaplib STARTTLS: {:.1?}", started.elapsed());
}

// ------------------------------------------------------------------ 2. imapclient + IDLE

#[tokio::test]
async fn python_imapclient_envelope_bodystructure_and_idle_sees_exists_within_1s() {
    clamd_url();
    let started = Instant::now();
    let install = Install::user_a();
    let server = Server::start(&install);
    let ran = install.python(
        "imapclient_session.py",
        PY_IMAPCLIENT,
        &[
            "127.0.0.1".into(),
            server.imaps.port().to_string(),
            server.mx.port().to_string(),
            USER_A.into(),
            PASSWORD_A.into(),
        ],
        Duration::from_secs(90),
    );
    ran.must_succeed(&server);
    let out = ran.stdout_text();
    assert!(out.contains("latency append="), "{out}");

    let (side, _) = server_side(&install).await;
    let inbox = &side["INBOX"];
    let mids: Vec<&String> = inbox.keys().collect();
    assert_eq!(
        mids,
        (0..4)
            .map(|i| format!("<imapclient-{i}@partner.example.org>"))
            .collect::<Vec<_>>()
            .iter()
            .collect::<Vec<_>>(),
        "two MX deliveries, one APPEND, one MX delivery during IDLE"
    );
    let mx_copy = show(&inbox["<imapclient-0@partner.example.org>"].bytes);
    assert!(
        mx_copy.starts_with(
            "Return-Path: <ttbinh@partner.example.org>\r\nReceived: from mail.partner.example.org"
        ),
        "{mx_copy}"
    );
    eprintln!("imapclient: {:.1?}; {}", started.elapsed(), out.trim());
}

// ------------------------------------------------------------------ 3. mbsync

const MBSYNC_N: usize = 500;
/// A server-side folder with a Vietnamese name, created between the first and second sync.
const VIET_FOLDER: &str = "Báo cáo";

/// RFC 3501 5.1.3 modified UTF-7 to UTF-8.
fn mutf7_decode(name: &str) -> String {
    let mut out = String::new();
    let mut rest = name;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let end = after
            .find('-')
            .unwrap_or_else(|| panic!("unterminated modified UTF-7 in {name:?}"));
        if end == 0 {
            out.push('&');
        } else {
            let (mut bits, mut nbits, mut bytes) = (0u32, 0u32, Vec::new());
            for c in after[..end].bytes() {
                let v = match c {
                    b'A'..=b'Z' => c - b'A',
                    b'a'..=b'z' => c - b'a' + 26,
                    b'0'..=b'9' => c - b'0' + 52,
                    b'+' => 62,
                    b',' => 63,
                    _ => panic!("bad modified UTF-7 {name:?}"),
                };
                bits = (bits << 6) | u32::from(v);
                nbits += 6;
                if nbits >= 8 {
                    nbits -= 8;
                    bytes.push((bits >> nbits) as u8);
                    bits &= (1 << nbits) - 1;
                }
            }
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            out.push_str(&String::from_utf16(&units).unwrap());
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// An mbsync Maildir tree, its folder names (IMAP names, verbatim) decoded to UTF-8.
fn mbsync_maildir_side(root: &Path) -> Side {
    maildir_side(root)
        .into_iter()
        .map(|(folder, msgs)| (mutf7_decode(&folder), msgs))
        .collect()
}

fn mbsync_mid(i: usize) -> String {
    format!("<mbsync-{i:03}@kontum.gov.vn>")
}

fn mbsync_folder(i: usize) -> &'static str {
    match i {
        0..350 => "INBOX",
        350..450 => "Archive",
        _ => "Projects",
    }
}

/// Initial Maildir flags (letters, sorted).
fn mbsync_initial_info(i: usize) -> String {
    let mut info = String::new();
    if i.is_multiple_of(11) {
        info.push('F');
    }
    if i.is_multiple_of(13) {
        info.push('R');
    }
    if i.is_multiple_of(7) {
        info.push('S');
    }
    info
}

/// Writes a message into a Maildir folder: `new/` without info, else `cur/` with `:2,INFO`.
fn maildir_put(folder_dir: &Path, unique: &str, info: Option<&str>, bytes: &[u8]) {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(folder_dir.join(sub)).unwrap();
    }
    let path = match info {
        None => folder_dir.join("new").join(unique),
        Some(info) => folder_dir.join("cur").join(format!("{unique}:2,{info}")),
    };
    std::fs::write(path, bytes).unwrap();
}

/// Adds a Maildir flag letter by renaming the file (moving it to `cur/`).
fn maildir_add_flag(folder_dir: &Path, file_id: &str, letter: char) {
    let (sub, name) = file_id.split_once('/').unwrap();
    let (base, info) = name.split_once(":2,").unwrap_or((name, ""));
    let mut letters: BTreeSet<char> = info.chars().collect();
    letters.insert(letter);
    let info: String = letters.into_iter().collect();
    std::fs::rename(
        folder_dir.join(sub).join(name),
        folder_dir.join("cur").join(format!("{base}:2,{info}")),
    )
    .unwrap();
}

fn write_mbsyncrc(install: &Install, server: &Server, local: &Path) -> PathBuf {
    let rc = install.scratch("mbsyncrc");
    std::fs::write(
        &rc,
        format!(
            "IMAPAccount govmail\n\
             Host 127.0.0.1\n\
             Port {port}\n\
             User {USER_A}\n\
             Pass {PASSWORD_A}\n\
             SSLType IMAPS\n\
             CertificateFile {cert}\n\
             SystemCertificates no\n\
             AuthMechs LOGIN\n\
             Timeout 60\n\
             \n\
             IMAPStore remote\n\
             Account govmail\n\
             \n\
             MaildirStore local\n\
             Path {local}/\n\
             Inbox {local}/INBOX\n\
             SubFolders Verbatim\n\
             \n\
             Channel govmail\n\
             Far :remote:\n\
             Near :local:\n\
             Patterns *\n\
             Create Both\n\
             Expunge Both\n\
             SyncState *\n",
            port = server.imaps.port(),
            cert = install.cert_path().display(),
            local = local.display(),
        ),
    )
    .unwrap();
    rc
}

fn mbsync(install: &Install, server: &Server, rc: &Path, round: u32) -> Ran {
    let mut cmd = Command::new("mbsync");
    cmd.arg("-c").arg(rc).arg("-a");
    let ran = run_bounded(
        install,
        &format!("mbsync round {round}"),
        &mut cmd,
        Duration::from_secs(300),
    );
    ran.must_succeed(server);
    eprintln!("mbsync round {round}: {:.1?}", ran.elapsed);
    ran
}

/// The model: mid -> (folder, IMAP flags).
type Model = BTreeMap<String, (String, BTreeSet<String>)>;

fn model_view(
    model: &Model,
    folders: &[&str],
) -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let mut view: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = folders
        .iter()
        .map(|f| (f.to_string(), BTreeMap::new()))
        .collect();
    for (mid, (folder, flags)) in model {
        view.entry(folder.clone())
            .or_default()
            .insert(mid.clone(), flags.clone());
    }
    view
}

#[tokio::test]
async fn mbsync_two_way_sync_of_500_messages_with_changes_on_both_sides() {
    clamd_url();
    let started = Instant::now();
    let install = Install::user_a();
    let server = Server::start(&install);
    let local = install.scratch("maildir");
    std::fs::create_dir_all(&local).unwrap();

    // 500 messages in three local folders, some flagged, every fifth with a Vietnamese subject.
    let mut model = Model::new();
    let mut originals: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for i in 0..MBSYNC_N {
        let mid = mbsync_mid(i);
        let bytes = small_message(&mid, i, i % 5 == 0);
        let info = mbsync_initial_info(i);
        let unique = format!("{}.M{i}P1.govmailtest", 1_790_000_000 + i);
        let place = if info.is_empty() && i % 2 == 0 {
            None
        } else {
            Some(info.as_str())
        };
        maildir_put(&local.join(mbsync_folder(i)), &unique, place, &bytes);
        model.insert(
            mid.clone(),
            (mbsync_folder(i).to_string(), maildir_flags(&info)),
        );
        originals.insert(mid, bytes);
    }
    let rc = write_mbsyncrc(&install, &server, &local);

    // Round 1: everything goes up.
    mbsync(&install, &server, &rc, 1);
    let (server1, folders1) = server_side(&install).await;
    let store = install.store().await;
    assert_eq!(
        store.count_messages().await.unwrap(),
        MBSYNC_N as i64,
        "the server holds exactly the 500 messages"
    );
    store.close().await;
    // Every account's default folders, plus Archive and Projects (created by the first sync
    // unless they are defaults).
    let base_folders: Vec<&str> = storage::DEFAULT_FOLDERS
        .iter()
        .map(|(name, _)| *name)
        .chain(["Archive", "Projects"])
        .collect();
    let expected1 = model_view(&model, &base_folders);
    assert_same(
        "after round 1",
        "model",
        &expected1,
        "server",
        &flag_view(&server1),
    );
    for msgs in server1.values() {
        for (mid, seen) in msgs {
            assert_eq!(
                show(&without_x_tuid(&seen.bytes)),
                show(&originals[mid]),
                "{mid}: uploaded bytes (X-TUID aside) must be the Maildir file"
            );
        }
    }
    let local1 = mbsync_maildir_side(&local);
    assert_same(
        "after round 1",
        "model",
        &expected1,
        "maildir",
        &flag_view(&local1),
    );
    assert!(
        local1
            .values()
            .flat_map(|m| m.values())
            .all(|s| s.id.contains(",U=")),
        "mbsync names every synced file with its UID"
    );

    // Changes on the Maildir side.
    let local_files: BTreeMap<String, (String, String)> = local1
        .iter()
        .flat_map(|(folder, msgs)| {
            msgs.iter()
                .map(move |(mid, s)| (mid.clone(), (folder.clone(), s.id.clone())))
        })
        .collect();
    let mut removed: BTreeSet<String> = BTreeSet::new();
    for i in 0..MBSYNC_N {
        let mid = mbsync_mid(i);
        let (folder, file) = local_files[&mid].clone();
        let dir = local.join(&folder);
        match (folder.as_str(), i % 20, i % 10) {
            ("INBOX", 1, _) | ("Archive", _, 6) => {
                maildir_add_flag(&dir, &file, 'S');
                model.get_mut(&mid).unwrap().1.insert("\\Seen".into());
            }
            ("INBOX", 3, _) => {
                // Trashed locally (T = \Deleted): with Expunge Both it disappears everywhere.
                maildir_add_flag(&dir, &file, 'T');
                removed.insert(mid.clone());
            }
            ("INBOX", 5, _) | ("Projects", _, 7) => {
                std::fs::remove_file(dir.join(&file)).unwrap();
                removed.insert(mid.clone());
            }
            ("INBOX", 9, _) => {
                // Flagged here, \Seen on the server: both must end up with both.
                maildir_add_flag(&dir, &file, 'F');
                let flags = &mut model.get_mut(&mid).unwrap().1;
                flags.insert("\\Flagged".into());
                flags.insert("\\Seen".into());
            }
            _ => {}
        }
    }
    for k in 0..5 {
        let mid = format!("<mbsync-local-new-{k}@kontum.gov.vn>");
        let bytes = small_message(&mid, 1000 + k, k % 2 == 0);
        maildir_put(
            &local.join("Projects"),
            &format!("1795000000.L{k}.govmailtest"),
            None,
            &bytes,
        );
        model.insert(mid.clone(), ("Projects".into(), BTreeSet::new()));
        originals.insert(mid, bytes);
    }
    for k in 0..3 {
        let mid = format!("<mbsync-local-only-{k}@kontum.gov.vn>");
        let bytes = small_message(&mid, 2000 + k, true);
        maildir_put(
            &local.join("Local-Only"),
            &format!("1795000100.O{k}.govmailtest"),
            Some("S"),
            &bytes,
        );
        model.insert(mid.clone(), ("Local-Only".into(), flags(&["\\Seen"])));
        originals.insert(mid, bytes);
    }

    // Changes on the server side, through IMAP.
    let pick = |pred: &dyn Fn(usize) -> bool| -> Vec<String> {
        (0..MBSYNC_N).filter(|&i| pred(i)).map(mbsync_mid).collect()
    };
    let in_inbox = |i: usize, r: usize| mbsync_folder(i) == "INBOX" && i % 20 == r;
    let flag_server = pick(&|i| in_inbox(i, 2));
    let seen_server = pick(&|i| in_inbox(i, 9));
    let move_to_archive = pick(&|i| in_inbox(i, 4));
    let move_to_projects = pick(&|i| mbsync_folder(i) == "Archive" && i % 10 == 5);
    let delete_server = pick(&|i| in_inbox(i, 6));
    let trash_server = pick(&|i| in_inbox(i, 8));
    let mut ops = vec![
        serde_json::json!({"op": "flag", "folder": "INBOX", "mids": flag_server, "flags": "\\Flagged"}),
        serde_json::json!({"op": "flag", "folder": "INBOX", "mids": seen_server, "flags": "\\Seen"}),
        serde_json::json!({"op": "move", "folder": "INBOX", "mids": move_to_archive, "to": "Archive"}),
        serde_json::json!({"op": "move", "folder": "Archive", "mids": move_to_projects, "to": "Projects"}),
        serde_json::json!({"op": "delete", "folder": "INBOX", "mids": delete_server}),
        serde_json::json!({"op": "flag", "folder": "INBOX", "mids": trash_server, "flags": "\\Deleted"}),
        serde_json::json!({"op": "create", "folder": "Reports"}),
        // isync 1.4 keeps IMAP names as they are: this one becomes the Maildir folder
        // "B&AOE-o c&AOE-o" and must be SELECTed under that modified UTF-7 name.
        serde_json::json!({"op": "create", "folder": VIET_FOLDER}),
    ];
    for mid in &flag_server {
        model.get_mut(mid).unwrap().1.insert("\\Flagged".into());
    }
    for mid in &move_to_archive {
        model.get_mut(mid).unwrap().0 = "Archive".into();
    }
    for mid in &move_to_projects {
        model.get_mut(mid).unwrap().0 = "Projects".into();
    }
    removed.extend(delete_server.iter().cloned());
    removed.extend(trash_server.iter().cloned());
    for (k, (folder, fl)) in [
        ("Reports", ""),
        ("Reports", "\\Seen"),
        ("Reports", "\\Seen \\Flagged"),
        ("Reports", ""),
        ("Archive", ""),
        ("Archive", "\\Flagged"),
        ("Archive", "\\Seen"),
        ("Archive", ""),
        ("Archive", "\\Answered \\Seen"),
        (VIET_FOLDER, "\\Seen"),
        (VIET_FOLDER, ""),
    ]
    .into_iter()
    .enumerate()
    {
        let mid = format!("<mbsync-server-new-{k}@kontum.gov.vn>");
        let bytes = small_message(&mid, 3000 + k, k % 2 == 1);
        ops.push(serde_json::json!({
            "op": "append", "folder": folder, "flags": format!("({fl})"), "message": show(&bytes)
        }));
        model.insert(
            mid.clone(),
            (
                folder.into(),
                fl.split_whitespace().map(str::to_string).collect(),
            ),
        );
        originals.insert(mid, bytes);
    }
    install.imap_ops(&server, &serde_json::Value::Array(ops));
    for mid in &removed {
        model.remove(mid);
    }

    // Round 2: both sides converge on the model.
    mbsync(&install, &server, &rc, 2);
    let all_folders = [&base_folders[..], &["Reports", "Local-Only", VIET_FOLDER]].concat();
    let expected2 = model_view(&model, &all_folders);
    let (server2, folders2) = server_side(&install).await;
    let local2 = mbsync_maildir_side(&local);
    assert!(
        local.join("B&AOE-o c&AOE-o").join("cur").is_dir(),
        "isync 1.4 names the Maildir folder by the IMAP (modified UTF-7) name"
    );
    assert_same(
        "after round 2",
        "model",
        &expected2,
        "server",
        &flag_view(&server2),
    );
    assert_same(
        "after round 2",
        "model",
        &expected2,
        "maildir",
        &flag_view(&local2),
    );
    let store = install.store().await;
    assert_eq!(
        store.count_messages().await.unwrap(),
        model.len() as i64,
        "no extra rows (expunged or duplicated) on the server"
    );
    store.close().await;
    for (folder, (uidvalidity, _)) in &folders1 {
        assert_eq!(
            folders2[folder].0, *uidvalidity,
            "{folder}: UIDVALIDITY must not change"
        );
    }
    for (folder, msgs) in &local2 {
        for (mid, seen) in msgs {
            assert_eq!(
                show(&crlf_to_lf(&without_x_tuid(&seen.bytes))),
                show(&crlf_to_lf(&originals[mid])),
                "maildir {folder} {mid}: content"
            );
            assert_eq!(
                show(&without_x_tuid(&server2[folder][mid].bytes)),
                show(&originals[mid]),
                "server {folder} {mid}: content"
            );
        }
    }

    // Round 3: nothing left to do; nothing changes, nothing is uploaded again.
    mbsync(&install, &server, &rc, 3);
    let (server3, folders3) = server_side(&install).await;
    let local3 = mbsync_maildir_side(&local);
    assert_eq!(
        folders3, folders2,
        "round 3 must not touch the server (UIDVALIDITY, UIDNEXT)"
    );
    let uids = |side: &Side| -> BTreeMap<String, Vec<(String, String)>> {
        side.iter()
            .map(|(f, m)| {
                (
                    f.clone(),
                    m.iter()
                        .map(|(mid, s)| (mid.clone(), s.id.clone()))
                        .collect(),
                )
            })
            .collect()
    };
    assert_eq!(
        uids(&server3),
        uids(&server2),
        "round 3: same UIDs on the server"
    );
    assert_same(
        "after round 3",
        "round 2",
        &flag_view(&server2),
        "round 3",
        &flag_view(&server3),
    );
    assert_eq!(
        uids(&local3),
        uids(&local2),
        "round 3: same Maildir file names"
    );
    let count = |side: &Side, f: &str| side.get(f).map_or(0, |m| m.len());
    eprintln!(
        "mbsync: {} messages after round 2 (INBOX {}, Archive {}, Projects {}, Reports {}, Local-Only {}); total {:.1?}",
        model.len(),
        count(&server3, "INBOX"),
        count(&server3, "Archive"),
        count(&server3, "Projects"),
        count(&server3, "Reports"),
        count(&server3, "Local-Only"),
        started.elapsed()
    );
}

// ------------------------------------------------------------------ 4. curl

fn curl(install: &Install, what: &str, args: &[&str]) -> Ran {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "30", "--noproxy", "*"])
        .args(args);
    run_bounded(
        install,
        &format!("curl {what}"),
        &mut cmd,
        Duration::from_secs(45),
    )
}

#[tokio::test]
async fn curl_imaps_append_fetch_by_uid_and_index_search_store_expunge_starttls() {
    clamd_url();
    let started = Instant::now();
    let install = Install::user_a();
    let server = Server::start(&install);
    let creds = format!("{USER_A}:{PASSWORD_A}");
    let imaps = format!("imaps://127.0.0.1:{}", server.imaps.port());
    let imap = format!("imap://127.0.0.1:{}", server.imap.port());
    let inbox = format!("{imaps}/INBOX");

    let messages: Vec<Vec<u8>> = (1..=3)
        .map(|i| small_message(&format!("<curl-{i}@kontum.gov.vn>"), i, i == 2))
        .collect();
    for (i, bytes) in messages.iter().enumerate() {
        let path = install.scratch(&format!("curl-{}.eml", i + 1));
        std::fs::write(&path, bytes).unwrap();
        let file = path.display().to_string();
        curl(
            &install,
            "append",
            &["-k", "-u", &creds, "-T", &file, &inbox],
        )
        .must_succeed(&server);
    }
    let (side, _) = server_side(&install).await;
    let stored: Vec<(&String, &Vec<u8>)> =
        side["INBOX"].values().map(|s| (&s.id, &s.bytes)).collect();
    assert_eq!(stored.len(), 3, "three APPENDs");
    for (i, bytes) in messages.iter().enumerate() {
        let mid = format!("<curl-{}@kontum.gov.vn>", i + 1);
        assert_eq!(
            side["INBOX"][&mid].bytes, *bytes,
            "{mid}: stored == uploaded"
        );
        assert_eq!(side["INBOX"][&mid].id, (i + 1).to_string(), "{mid}: UID");
    }

    let ran = curl(
        &install,
        "fetch UID=2",
        &["-k", "-u", &creds, &format!("{inbox};UID=2")],
    );
    ran.must_succeed(&server);
    assert_eq!(
        show(&ran.stdout),
        show(&messages[1]),
        "UID=2 fetches the second message"
    );

    let ran = curl(
        &install,
        "SEARCH ALL",
        &["-k", "-u", &creds, &inbox, "-X", "SEARCH ALL"],
    );
    ran.must_succeed(&server);
    assert_eq!(
        ran.stdout_text().trim_end(),
        "* SEARCH 1 2 3",
        "{}",
        ran.text()
    );
    let ran = curl(
        &install,
        "SEARCH SUBJECT",
        &[
            "-k",
            "-u",
            &creds,
            &inbox,
            "-X",
            "SEARCH CHARSET UTF-8 SUBJECT \"chuyển đổi\"",
        ],
    );
    ran.must_succeed(&server);
    assert_eq!(ran.stdout_text().trim_end(), "* SEARCH 2", "{}", ran.text());

    let ran = curl(
        &install,
        "STORE",
        &[
            "-k",
            "-u",
            &creds,
            &inbox,
            "-X",
            "STORE 1 +FLAGS (\\Deleted)",
        ],
    );
    ran.must_succeed(&server);
    assert!(
        ran.stdout_text().starts_with("* 1 FETCH (FLAGS (")
            && ran.stdout_text().contains("\\Deleted"),
        "{}",
        ran.text()
    );
    let ran = curl(
        &install,
        "EXPUNGE",
        &["-k", "-u", &creds, &inbox, "-X", "EXPUNGE"],
    );
    ran.must_succeed(&server);
    assert_eq!(
        ran.stdout_text().trim_end(),
        "* 1 EXPUNGE",
        "{}",
        ran.text()
    );

    // UID 1 is gone; message number 1 is now UID 2.
    let ran = curl(
        &install,
        "fetch UID=1",
        &["-k", "-u", &creds, &format!("{inbox};UID=1")],
    );
    assert!(
        !ran.success() && ran.stdout.is_empty(),
        "expunged UID 1 must not be fetched:\n{}",
        ran.text()
    );
    let ran = curl(
        &install,
        "fetch MAILINDEX=1",
        &["-k", "-u", &creds, &format!("{inbox};MAILINDEX=1")],
    );
    ran.must_succeed(&server);
    assert_eq!(
        show(&ran.stdout),
        show(&messages[1]),
        "MAILINDEX=1 is UID 2 after the EXPUNGE"
    );

    // LIST of the account.
    let ran = curl(
        &install,
        "LIST",
        &["-k", "-u", &creds, &format!("{imaps}/")],
    );
    ran.must_succeed(&server);
    let list = ran.stdout_text();
    for needle in [
        "\"INBOX\"",
        "\\Sent) \"/\" \"Sent\"",
        "\\Trash) \"/\" \"Trash\"",
    ] {
        assert!(list.contains(needle), "LIST lacks {needle}:\n{list}");
    }

    // STARTTLS on the plain port; without TLS the login is refused and nothing is fetched.
    let ran = curl(
        &install,
        "STARTTLS fetch",
        &[
            "--ssl-reqd",
            "-k",
            "-u",
            &creds,
            &format!("{imap}/INBOX;UID=3"),
        ],
    );
    ran.must_succeed(&server);
    assert_eq!(show(&ran.stdout), show(&messages[2]), "UID=3 over STARTTLS");
    let ran = curl(
        &install,
        "cleartext fetch",
        &["-u", &creds, &format!("{imap}/INBOX;UID=3")],
    );
    assert!(
        !ran.success() && ran.stdout.is_empty(),
        "cleartext login must fail:\n{}",
        ran.text()
    );
    let wrong = format!("{USER_A}:{PASSWORD_A}-sai");
    let ran = curl(
        &install,
        "wrong password",
        &["-k", "-u", &wrong, &format!("{inbox};UID=2")],
    );
    assert_eq!(
        ran.code(),
        Some(67),
        "CURLE_LOGIN_DENIED expected:\n{}",
        ran.text()
    );

    let (side, _) = server_side(&install).await;
    let uids: Vec<&String> = side["INBOX"].values().map(|s| &s.id).collect();
    assert_eq!(uids, vec!["2", "3"], "INBOX after the EXPUNGE");
    eprintln!("curl: {:.1?}", started.elapsed());
}

// ------------------------------------------------------------------ 5. offlineimap3

fn offlineimap(install: &Install, server: &Server, rc: &Path, round: u32) -> Ran {
    let mut cmd = Command::new("offlineimap");
    cmd.arg("-c").arg(rc).arg("-o").arg("-u").arg("basic");
    let ran = run_bounded(
        install,
        &format!("offlineimap round {round}"),
        &mut cmd,
        Duration::from_secs(240),
    );
    ran.must_succeed(server);
    // offlineimap reports many problems as "ERROR" lines and still exits 0.
    let text = ran.text();
    assert!(
        !text.contains("ERROR") && !text.contains("Traceback"),
        "{text}\n--- server log:\n{}",
        server.log()
    );
    eprintln!("offlineimap round {round}: {:.1?}", ran.elapsed);
    ran
}

/// SHA-256 of the certificate (DER), as offlineimap's cert_fingerprint wants it.
fn cert_fingerprint(install: &Install) -> String {
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(
            "import hashlib, ssl, sys\n\
             pem = open(sys.argv[1]).read()\n\
             print(hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest())",
        )
        .arg(install.cert_path());
    let ran = run_bounded(install, "fingerprint", &mut cmd, Duration::from_secs(30));
    assert!(ran.success(), "{}", ran.text());
    let fp = ran.stdout_text().trim().to_string();
    assert_eq!(fp.len(), 64, "{fp}");
    fp
}

/// Server and Maildir hold the same folders, messages, flags and content (CRLF vs LF aside:
/// offlineimap stores messages with LF line ends).
fn assert_offlineimap_same(what: &str, server: &Side, local: &Side) {
    assert_same(
        what,
        "server",
        &flag_view(server),
        "maildir",
        &flag_view(local),
    );
    for (folder, msgs) in server {
        for (mid, seen) in msgs {
            assert_eq!(
                show(&crlf_to_lf(&seen.bytes)),
                show(&local[folder][mid].bytes),
                "{what}: {folder} {mid}: content"
            );
        }
    }
}

#[tokio::test]
async fn offlineimap_full_sync_of_three_folders_then_incremental() {
    clamd_url();
    let started = Instant::now();
    let install = Install::user_a();
    let server = Server::start(&install);
    let viet = "Công văn đến";

    // 20 + 10 + 6 messages in INBOX, Archive and a Vietnamese-named folder, various flags.
    let mut ops = vec![
        serde_json::json!({"op": "create", "folder": "Projects"}),
        serde_json::json!({"op": "create", "folder": viet}),
    ];
    let flag_sets = [
        "",
        "\\Seen",
        "\\Seen \\Flagged",
        "\\Answered \\Seen",
        "\\Flagged",
        "",
    ];
    let mut n = 0;
    for (folder, count) in [("INBOX", 20), ("Projects", 10), (viet, 6)] {
        for k in 0..count {
            let mid = format!("<offlineimap-{n:02}@kontum.gov.vn>");
            let bytes = small_message(&mid, n, k % 2 == 0);
            ops.push(serde_json::json!({
                "op": "append", "folder": folder,
                "flags": format!("({})", flag_sets[k % flag_sets.len()]),
                "message": show(&bytes)
            }));
            n += 1;
        }
    }
    install.imap_ops(&server, &serde_json::Value::Array(ops));

    let local = install.scratch("offlineimap-mail");
    let rc = install.scratch("offlineimaprc");
    std::fs::write(
        &rc,
        format!(
            "[general]\naccounts = govmail\nmetadata = {meta}\nui = basic\nmaxsyncaccounts = 1\n\n\
             [Account govmail]\nlocalrepository = local\nremoterepository = remote\n\
             utf8foldernames = yes\n\n\
             [Repository local]\ntype = Maildir\nlocalfolders = {local}\n\n\
             [Repository remote]\ntype = IMAP\nremotehost = 127.0.0.1\nremoteport = {port}\n\
             ssl = yes\ncert_fingerprint = {fp}\ntls_level = tls_compat\n\
             remoteuser = {USER_A}\nremotepass = {PASSWORD_A}\nmaxconnections = 2\n",
            meta = install.scratch("offlineimap-meta").display(),
            local = local.display(),
            port = server.imaps.port(),
            fp = cert_fingerprint(&install),
        ),
    )
    .unwrap();

    offlineimap(&install, &server, &rc, 1);
    let (server1, _) = server_side(&install).await;
    let local1 = maildir_side(&local);
    let counts: BTreeMap<String, usize> =
        local1.iter().map(|(f, m)| (f.clone(), m.len())).collect();
    let mut expected_counts: BTreeMap<String, usize> = storage::DEFAULT_FOLDERS
        .iter()
        .map(|(name, _)| (name.to_string(), 0))
        .collect();
    expected_counts.extend([
        ("INBOX".to_string(), 20),
        ("Projects".to_string(), 10),
        (viet.to_string(), 6),
    ]);
    assert_eq!(
        counts, expected_counts,
        "local folders (UTF-8 names) and message counts after the full sync"
    );
    assert_offlineimap_same("after the full sync", &server1, &local1);

    // Incremental: on the server a flag and a new message; locally a deletion and a \Seen.
    let inbox_unseen = server1["INBOX"]
        .iter()
        .find(|(_, s)| s.flags.is_empty())
        .map(|(mid, _)| mid.clone())
        .unwrap();
    let inbox_to_flag = server1["INBOX"]
        .iter()
        .filter(|(mid, s)| s.flags.is_empty() && **mid != inbox_unseen)
        .map(|(mid, _)| mid.clone())
        .next()
        .unwrap();
    let archived = server1["Projects"].keys().next().unwrap().clone();
    let new_mid = "<offlineimap-new@kontum.gov.vn>".to_string();
    let new_bytes = small_message(&new_mid, 99, true);
    install.imap_ops(
        &server,
        &serde_json::json!([
            {"op": "flag", "folder": "INBOX", "mids": [inbox_to_flag], "flags": "\\Flagged"},
            {"op": "append", "folder": viet, "flags": "()", "message": show(&new_bytes)},
        ]),
    );
    maildir_add_flag(
        &local.join("INBOX"),
        &local1["INBOX"][&inbox_unseen].id,
        'S',
    );
    std::fs::remove_file(
        local
            .join("Projects")
            .join(&local1["Projects"][&archived].id),
    )
    .unwrap();

    offlineimap(&install, &server, &rc, 2);
    let (server2, _) = server_side(&install).await;
    let local2 = maildir_side(&local);
    assert_offlineimap_same("after the incremental sync", &server2, &local2);
    assert!(
        !server2["Projects"].contains_key(&archived),
        "local deletion reaches the server"
    );
    assert_eq!(server2["Projects"].len(), 9);
    assert_eq!(
        server2["INBOX"][&inbox_unseen].flags,
        flags(&["\\Seen"]),
        "local \\Seen reaches the server"
    );
    assert_eq!(
        local2["INBOX"][&inbox_to_flag].flags,
        flags(&["\\Flagged"]),
        "server flag reaches the Maildir"
    );
    assert_eq!(
        show(&local2[viet][&new_mid].bytes),
        show(&crlf_to_lf(&new_bytes)),
        "new message downloaded"
    );
    assert_eq!(local2[viet].len(), 7);
    eprintln!("offlineimap: {:.1?}", started.elapsed());
}
