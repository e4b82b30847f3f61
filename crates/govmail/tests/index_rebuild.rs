//! `govmail index rebuild` killed with SIGKILL part-way, then run again (issue 13): the index
//! ends complete, with no missing and no phantom hits. The mail comes from `govmail import
//! mbox`, which leaves the index to the rebuild; each message carries one word of its own
//! (`maso00042`) and one word they all share, so every answer is known in advance.

use crate::support;

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use storage::search_index::Field;
use support::Install;

const MESSAGES: usize = 6000;
const ADDRESS: &str = "dung@tinh.gov.vn";

fn mbox() -> String {
    let mut out = String::new();
    for i in 0..MESSAGES {
        out.push_str(&format!(
            "From vanthu@old.test Wed Jan  3 01:05:34 2024\n\
             Message-ID: <m{i}@old.test>\n\
             Subject: =?utf-8?q?B=C3=A1o_c=C3=A1o?= {i}\n\
             \n\
             Kính gửi anh chị, mã số maso{i:05} của hồ sơ.\n\
             \n"
        ));
    }
    out
}

/// The last `done/total` a progress bar printed.
fn progress(stderr: &str) -> Option<(u64, u64)> {
    let last = stderr.rsplit(['\r', '\n']).find(|s| s.contains('/'))?;
    let (done, total) = last.trim().rsplit(' ').next()?.split_once('/')?;
    Some((done.parse().ok()?, total.parse().ok()?))
}

/// The UIDs of INBOX the index gives for `word` in the body: exact, nothing unsure.
async fn hits(store: &storage::Store, inbox: i64, word: &str) -> Vec<i64> {
    let words = policy::textsearch::query_words(word).unwrap();
    let answer = store
        .search_index(inbox, &[Field::Body], &words)
        .await
        .unwrap();
    assert!(
        answer.unsure.is_empty() && answer.exact,
        "all indexed after the rerun"
    );
    // In UID order, as a listing is.
    let listing = store.listing(inbox).await.unwrap();
    listing.rows_matching(&answer).map(|r| r.uid).collect()
}

#[tokio::test]
async fn a_rebuild_killed_midway_then_rerun_leaves_no_missing_and_no_phantom_hits() {
    let install = Install::with_people(
        "tinh.gov.vn",
        "Văn phòng",
        &[("Phạm Thị Dung", ADDRESS, "pw-dung-0001")],
    );
    let file = install.scratch("old.mbox");
    std::fs::write(&file, mbox()).unwrap();
    let file = file.to_string_lossy().into_owned();
    install.ok(&["import", "mbox", &file, "--to", ADDRESS, "--quiet"], None);

    // The rebuild, killed once it has committed at least one batch and before the end.
    let mut child = install
        .command()
        .args(["index", "rebuild"])
        .env("GOVMAIL_PROGRESS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0
                || tx
                    .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                    .is_err()
            {
                break;
            }
        }
    });
    let mut seen = String::new();
    let started = Instant::now();
    let at_kill = loop {
        if let Ok(text) = rx.recv_timeout(Duration::from_millis(20)) {
            seen.push_str(&text);
        }
        if let Some((done, total)) = progress(&seen) {
            assert_eq!(total, MESSAGES as u64, "{seen}");
            if done >= storage::search_index::REBUILD_BATCH as u64 {
                // SIGKILL: no chance to finish a batch or clean up.
                child.kill().unwrap();
                break done;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no progress: {seen}"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before the kill: {seen}"
        );
    };
    child.wait().unwrap();
    assert!(at_kill < MESSAGES as u64, "killed part-way ({at_kill})");

    // The rerun indexes only what the killed run had not committed.
    let out = install.ok(&["--json", "index", "rebuild"], None);
    let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let rerun = summary["messages"].as_u64().unwrap();
    assert!(
        rerun > 0 && rerun <= MESSAGES as u64 - at_kill,
        "rerun indexed {rerun} after {at_kill} of {MESSAGES}"
    );
    let again = install.ok(&["--json", "index", "rebuild"], None);
    let again: serde_json::Value = serde_json::from_str(again.trim()).unwrap();
    assert_eq!(again["messages"].as_u64(), Some(0), "nothing left: {again}");

    // Every message found by its own word, and only it; the shared word finds all.
    let store = install.store().await;
    let account = store.person(ADDRESS).await.unwrap().account_id;
    let inbox = store.folder(account, "INBOX").await.unwrap().id;
    let uids: Vec<i64> = store
        .messages(inbox)
        .await
        .unwrap()
        .iter()
        .map(|r| r.uid)
        .collect();
    assert_eq!(uids.len(), MESSAGES);
    for i in (0..MESSAGES).step_by(97).chain([MESSAGES - 1]) {
        // Imported in mbox order: message i has UID i + 1.
        assert_eq!(
            hits(&store, inbox, &format!("maso{i:05}")).await,
            vec![i as i64 + 1],
            "maso{i:05}"
        );
    }
    assert_eq!(hits(&store, inbox, "hồ sơ").await.len(), MESSAGES);
    assert!(hits(&store, inbox, "maso99999").await.is_empty());
}
