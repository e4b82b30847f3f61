//! Helpers of the `govmail import` tests: a private Dovecot 2.3 (bench/peers/dovecot.sh, with
//! passwd-file users and a master user) whose Maildirs the test writes directly on disk, old
//! messages made here, the import run with its peak RSS, and what an account holds seen over
//! IMAP (`imap_dump.py`, Python imaplib).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;

pub const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

pub fn dovecot_script() -> PathBuf {
    Path::new(MANIFEST).join("../../bench/peers/dovecot.sh")
}

/// A running private Dovecot; stopped when dropped.
pub struct Dovecot {
    pub dir: PathBuf,
    pub port: u16,
}

impl Dovecot {
    /// Installs dovecot-imapd if missing (Debian), writes users (`login:{PLAIN}password`) and
    /// one master user, and starts it on a free loopback port. The Maildirs under
    /// `dir/mail/<login>` must be written before (or while) it runs.
    pub fn start(dir: &Path, users: &[(&str, &str)], master: (&str, &str)) -> Dovecot {
        let script = dovecot_script();
        let out = Command::new("bash")
            .arg(&script)
            .arg("install")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "dovecot install: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let users_file = dir.join("users.in");
        let mut text = String::new();
        for (login, password) in users {
            text.push_str(&format!("{login}:{{PLAIN}}{password}\n"));
        }
        std::fs::write(&users_file, text).unwrap();
        let masters_file = dir.join("masters.in");
        std::fs::write(
            &masters_file,
            format!("{}:{{PLAIN}}{}\n", master.0, master.1),
        )
        .unwrap();
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let out = Command::new("bash")
                .arg(&script)
                .arg("start")
                .arg(dir.join("dovecot"))
                .arg(port.to_string())
                .arg("default")
                .arg(&users_file)
                .env("DOVECOT_MASTER_USERS", &masters_file)
                .output()
                .unwrap();
            if out.status.success() {
                return Dovecot {
                    dir: dir.join("dovecot"),
                    port,
                };
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
        }
        panic!("dovecot did not start: {last}");
    }

    /// Where a user's Maildir is (Dovecot's `mail_location = maildir:DIR/mail/%u`).
    pub fn maildir(dir: &Path, login: &str) -> PathBuf {
        dir.join("dovecot").join("mail").join(login)
    }

    /// Gives the Maildirs to the user Dovecot's mail processes run as (created first: on a
    /// fresh machine no Dovecot has started yet, so the user may not exist).
    pub fn chown(dir: &Path) {
        let status = Command::new("bash")
            .arg(dovecot_script())
            .arg("user")
            .status()
            .unwrap();
        assert!(status.success(), "dovecot.sh user failed");
        let status = Command::new("chown")
            .args(["-R", "benchuser:benchuser"])
            .arg(dir.join("dovecot").join("mail"))
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(dovecot_script())
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

pub use crate::served::free_port;

/// Makes the benchuser able to reach `dir` (a tempdir is 0700).
pub fn open_up(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A small old message (CRLF, UTF-8 Vietnamese headers and body).
pub fn message(tag: &str, i: usize) -> Vec<u8> {
    let mut text = format!(
        "Message-ID: <{tag}-{i}@old.test>\r\n\
         Date: Mon, 2 Mar 2015 08:00:00 +0700\r\n\
         From: =?utf-8?b?{}?= <vanthu@old.test>\r\n\
         To: {tag}@old.test\r\n\
         Subject: Công văn số {i}/UBND-VP về việc chuyển đổi số\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n",
        base64::engine::general_purpose::STANDARD.encode("Văn thư Ủy ban"),
    );
    for line in 0..(i % 9 + 2) {
        text.push_str(&format!(
            "Dòng {line}: Kính gửi các sở, ban, ngành; đề nghị báo cáo trước ngày {}.\r\n",
            i % 28 + 1
        ));
    }
    text.into_bytes()
}

/// A message of about `size` bytes: a text part and a base64 attachment of pseudo-random bytes.
pub fn big_message(size: usize) -> Vec<u8> {
    let mut out = "Message-ID: <big-1@old.test>\r\n\
        Date: Tue, 3 Mar 2015 09:00:00 +0700\r\n\
        From: vanthu@old.test\r\n\
        Subject: =?utf-8?b?SOG7kyBzxqEgZOG7sSDDoW4=?=\r\n\
        MIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
        --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHồ sơ dự án đính kèm.\r\n\
        --b1\r\nContent-Type: application/octet-stream; name=\"hoso.bin\"\r\n\
        Content-Transfer-Encoding: base64\r\n\r\n"
        .as_bytes()
        .to_vec();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut chunk = [0u8; 57];
    while out.len() + 80 < size {
        for b in chunk.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = state as u8;
        }
        out.extend_from_slice(
            base64::engine::general_purpose::STANDARD
                .encode(chunk)
                .as_bytes(),
        );
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"--b1--\r\n");
    out
}

/// Maildir flag letters of message `i` (Maildir "info" `2,` + ASCII order): D F R S T, then
/// keyword letters (a = `$Label1`, b = `CongViec` in `dovecot-keywords`).
pub fn flags_of(i: usize) -> String {
    let mut letters = String::new();
    if i.is_multiple_of(11) {
        letters.push('D');
    }
    if i.is_multiple_of(5) {
        letters.push('F');
    }
    if i.is_multiple_of(3) {
        letters.push('R');
    }
    if i.is_multiple_of(2) {
        letters.push('S');
    }
    if i.is_multiple_of(17) {
        letters.push('T');
    }
    if i.is_multiple_of(7) {
        letters.push('a');
    }
    if i.is_multiple_of(13) {
        letters.push('b');
    }
    letters
}

/// Writes a Maildir++ folder (`levels` empty = INBOX) with `bytes` as message files in `cur/`,
/// old modification times (Dovecot's INTERNALDATE), and its `dovecot-keywords`.
pub fn write_folder(root: &Path, levels: &[&str], messages: &[(Vec<u8>, String, i64)]) {
    let dir = if levels.is_empty() {
        root.to_path_buf()
    } else {
        let encoded: Vec<String> = levels
            .iter()
            .map(|l| imap::protocol::mutf7::encode(l))
            .collect();
        root.join(format!(".{}", encoded.join(".")))
    };
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(dir.join("dovecot-keywords"), "0 $Label1\n1 CongViec\n").unwrap();
    for (n, (bytes, flags, mtime)) in messages.iter().enumerate() {
        let name = format!(
            "{mtime}.M{n}P1.oldhost,S={},W={}:2,{flags}",
            bytes.len(),
            bytes.len()
        );
        let path = dir.join("cur").join(name);
        std::fs::write(&path, bytes).unwrap();
        set_mtime(&path, *mtime);
    }
}

pub fn set_mtime(path: &Path, mtime: i64) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(UNIX_EPOCH + Duration::from_secs(mtime as u64))
        .unwrap();
}

/// `count` messages tagged `tag`, flags by index, modification times from 2015 on.
pub fn messages(tag: &str, count: usize) -> Vec<(Vec<u8>, String, i64)> {
    (0..count)
        .map(|i| {
            (
                message(tag, i),
                flags_of(i),
                1_420_070_400 + (i as i64) * 3607,
            )
        })
        .collect()
}

/// One folder as seen over IMAP.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct FolderView {
    pub count: u64,
    pub bytes: u64,
    /// (SHA-256 of BODY[], flags without \Recent, INTERNALDATE) sorted.
    pub messages: Vec<(String, Vec<String>, i64)>,
}

/// Every folder of an account, over IMAP (Python imaplib).
pub fn dump(port: u16, login: &str, password: &str) -> BTreeMap<String, FolderView> {
    let script = Path::new(MANIFEST).join("tests/support_import/imap_dump.py");
    let out = Command::new("python3")
        .arg(script)
        .arg("127.0.0.1")
        .arg(port.to_string())
        .arg(login)
        .arg(password)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "imap_dump {login}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Asserts that every old folder has its exact twin on the new side (same count, bytes, and
/// per message the same body hash, flags and INTERNALDATE), with `map` naming the new folder;
/// new folders no old folder maps to are empty.
pub fn assert_same(
    old: &BTreeMap<String, FolderView>,
    new: &BTreeMap<String, FolderView>,
    map: &dyn Fn(&str) -> String,
) {
    let mut targets = Vec::new();
    for (name, view) in old {
        let target = map(name);
        let got = new.get(&target).unwrap_or_else(|| {
            panic!(
                "old folder {name}: no new folder {target}: {:?}",
                new.keys()
            )
        });
        assert_eq!(got.count, view.count, "{name} → {target}: message count");
        assert_eq!(got.bytes, view.bytes, "{name} → {target}: bytes");
        assert!(
            got.messages == view.messages,
            "{name} → {target}: messages differ (first difference: {:?})",
            got.messages
                .iter()
                .zip(&view.messages)
                .find(|(a, b)| a != b)
        );
        targets.push(target);
    }
    for (name, view) in new {
        if !targets.contains(name) {
            assert_eq!(
                view.count, 0,
                "new folder {name} has messages no old folder had"
            );
        }
    }
}

/// Runs `govmail import ...` under `/usr/bin/time -v`; returns its output and the peak RSS
/// in KiB.
pub fn run_measured(cmd: Command, stdin: &str, scratch: &Path) -> (Output, u64) {
    let time_out = scratch.join(format!(
        "time-{}.txt",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let mut timed = Command::new("/usr/bin/time");
    timed
        .arg("-v")
        .arg("-o")
        .arg(&time_out)
        .arg(program)
        .args(args);
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => timed.env(key, v),
            None => timed.env_remove(key),
        };
    }
    let out = feed(timed, stdin);
    let report = std::fs::read_to_string(&time_out).unwrap_or_default();
    let kib = report
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in: {report}"));
    (out, kib)
}

/// Runs a command with `stdin`, waits for it.
pub fn feed(mut cmd: Command, stdin: &str) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// The JSON report of an import run (stdout with --json).
pub fn report(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): status {}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Messages stored by the run, over all accounts and folders of a report.
pub fn imported(report: &serde_json::Value) -> u64 {
    report["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["folders"].as_array().unwrap().iter())
        .map(|f| f["imported"].as_u64().unwrap())
        .sum()
}
