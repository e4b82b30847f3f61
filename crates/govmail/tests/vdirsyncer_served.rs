//! Debian's `vdirsyncer` (scripts/test installs it) syncs the CardDAV address book (RFC 6352) of
//! the real `govmail serve` over HTTPS on loopback into a local filesystem storage: discovery
//! from the server root (RFC 6764 well-known URI, current-user-principal, home set), then a
//! hire, a transfer and a leave made with the admin CLI each reach the local copy with one more
//! `vdirsyncer sync`, counted in `.vcf` files, names with diacritics checked in the cards.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::Install;

const TUYET: &str = "nttuyet.stttt@kontum.gov.vn";
const DUNG: &str = "tvdung.stttt@kontum.gov.vn";
const PASSWORD: &str = "mat-khau-dai-123";

/// Runs vdirsyncer with its config and state kept in the test's scratch dir.
fn vdirsyncer(home: &Path, config: &Path, args: &[&str], stdin: &str) -> String {
    let mut cmd = Command::new("timeout");
    cmd.arg("120")
        .arg("vdirsyncer")
        .arg("-c")
        .arg(config)
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("LC_ALL", "C.UTF-8")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("vdirsyncer (Debian package vdirsyncer)");
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        let _ = input.write_all(stdin.as_bytes());
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "vdirsyncer {args:?}: {text}");
    text
}

/// The cards of the local copy: (file name, content), sorted by name.
fn cards(dir: &Path) -> Vec<(String, String)> {
    let mut out = vec![];
    for entry in walk(dir) {
        if entry.extension().is_some_and(|e| e == "vcf") {
            out.push((
                entry.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&entry).unwrap(),
            ));
        }
    }
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// The one card whose text contains `needle` (RFC 6350 3.2: lines may be folded; the checks
/// below look at unfolded text).
fn card_with<'a>(cards: &'a [(String, String)], needle: &str) -> Option<&'a str> {
    let hits: Vec<&str> = cards
        .iter()
        .map(|(_, c)| c.as_str())
        .filter(|c| unfold(c).contains(needle))
        .collect();
    assert!(hits.len() <= 1, "{needle} in {} cards", hits.len());
    hits.first().copied()
}

fn unfold(card: &str) -> String {
    card.replace("\r\n ", "").replace("\n ", "")
}

#[test]
fn vdirsyncer_syncs_the_book_and_each_directory_change() {
    let install = Install::with_people(
        "kontum.gov.vn",
        "Sở Thông tin và Truyền thông",
        &[
            ("Nguyễn Thị Tuyết", TUYET, PASSWORD),
            ("Trần Văn Dũng", DUNG, PASSWORD),
        ],
    );
    install.ok(
        &["unit", "add", "--abbrev", "SNV", "--name", "Sở Nội vụ"],
        None,
    );
    let (served, addrs) = install.serve_on(
        &["https"],
        &[
            "server.hostname=mail.kontum.gov.vn".to_string(),
            "antivirus.enabled=false".into(),
        ],
    );
    let port = addrs[0].port();

    let home = install.scratch("vdir-home");
    let local = install.scratch("contacts");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&local).unwrap();
    let config = install.scratch("vdirsyncer.conf");
    // Loopback only, verified: the self-signed certificate `serve` made names `localhost`.
    std::fs::write(
        &config,
        format!(
            r#"[general]
status_path = "{status}"

[pair book]
a = "govmail"
b = "local"
collections = ["from a"]
conflict_resolution = "a wins"

[storage govmail]
type = "carddav"
url = "https://localhost:{port}/"
username = "{TUYET}"
password = "{PASSWORD}"
verify = "{cert}"
read_only = true

[storage local]
type = "filesystem"
path = "{local}/"
fileext = ".vcf"
"#,
            status = home.join("status").display(),
            cert = install.cert_path().display(),
            local = local.display(),
        ),
    )
    .unwrap();

    // Discovery (answers "y" to creating the local collection), then the first sync.
    let found = vdirsyncer(&home, &config, &["discover"], "y\ny\ny\n");
    let synced = vdirsyncer(&home, &config, &["sync"], "");
    let first = cards(&local);
    // Two persons, two units (RFC 6350 6.1.4 KIND:individual / org).
    assert_eq!(
        first.len(),
        4,
        "{found}\n{synced}\n{:?}",
        first.iter().map(|c| &c.0).collect::<Vec<_>>()
    );
    let tuyet = card_with(&first, &format!(":{TUYET}")).expect("Tuyết's card");
    assert!(unfold(tuyet).contains("FN:Nguyễn Thị Tuyết"), "{tuyet}");
    assert!(card_with(&first, "FN:Sở Nội vụ").is_some(), "{first:?}");

    // A hire reaches the local copy with one sync.
    install.ok(
        &[
            "user",
            "add",
            "--name",
            "Lê Thị Hoa",
            "--unit",
            "STTTT",
            "--address",
            "lthoa.stttt@kontum.gov.vn",
            "--password-stdin",
        ],
        Some("mat-khau-hoa-123\n"),
    );
    vdirsyncer(&home, &config, &["sync"], "");
    let hired = cards(&local);
    assert_eq!(hired.len(), 5, "{hired:?}");
    let hoa = card_with(&hired, "FN:Lê Thị Hoa").expect("the new card");
    assert!(unfold(hoa).contains("lthoa.stttt@kontum.gov.vn"), "{hoa}");

    // A transfer: the same number of cards; Dũng's now names the new unit and address.
    let moved = install.ok(
        &[
            "user",
            "transfer",
            DUNG,
            "--to-unit",
            "SNV",
            "--ref",
            "20/QĐ-UBND",
        ],
        None,
    );
    vdirsyncer(&home, &config, &["sync"], "");
    let transferred = cards(&local);
    assert_eq!(transferred.len(), 5, "{moved}\n{transferred:?}");
    let dung = card_with(&transferred, "FN:Trần Văn Dũng").expect("Dũng's card");
    assert!(unfold(dung).contains("ORG:Sở Nội vụ"), "{dung}");
    assert!(unfold(dung).contains("tvdung.snv@kontum.gov.vn"), "{dung}");

    // A leave: the card is gone after one sync.
    install.ok(
        &[
            "user",
            "leave",
            "tvdung.snv@kontum.gov.vn",
            "--ref",
            "21/QĐ-UBND",
            "--reason",
            "retire",
        ],
        None,
    );
    vdirsyncer(&home, &config, &["sync"], "");
    let left = cards(&local);
    assert_eq!(left.len(), 4, "{left:?}");
    assert!(card_with(&left, "FN:Trần Văn Dũng").is_none(), "{left:?}");
    assert!(card_with(&left, "FN:Lê Thị Hoa").is_some());
    drop(served);
}
