//! End to end: Python `imapclient` (installed by `scripts/test`) drives SORT, THREAD and ESORT
//! against a real listener on 127.0.0.1, over the five messages of `sortmail::five` (UID =
//! sequence number + 1). Expected results are worked out by hand from that table (see the
//! conformance files `rfc5256_sort_thread.rs`, `rfc5957_sort_display.rs`,
//! `rfc5267_esort_context.rs` for the reasoning), converted to UIDs.

use crate::common;
use crate::sortmail;

use std::time::Duration;

use common::{start, PASSWORD, USER_A};
use sortmail::{burn_one_uid, five, put};

const SCRIPT: &str = r#"
import json
import sys

from imapclient import IMAPClient

host, port, user, password = sys.argv[1:5]


def lists(x):
    return [lists(i) for i in x] if isinstance(x, (list, tuple)) else x


c = IMAPClient(host, port=int(port), ssl=False, timeout=30)
c.login(user, password)
c.select_folder("INBOX")
out = {
    "capabilities": sorted(x.decode() for x in c.capabilities()),
    "subject": c.sort(["SUBJECT"]),
    "reverse_date": c.sort("REVERSE DATE"),
    "displayfrom": c.sort(["DISPLAYFROM"]),
    "date_giay": c.sort(["DATE"], ["SUBJECT", "giấy"]),
    "references": lists(c.thread("REFERENCES")),
    "orderedsubject": lists(c.thread("ORDEREDSUBJECT")),
    "esort": c._raw_command_untagged(
        b"SORT",
        [b"RETURN", b"(MIN MAX COUNT ALL)", b"(SUBJECT)", b"UTF-8", b"ALL"],
        response_name="ESEARCH",
        unpack=True,
    ).decode(),
}
c.logout()
print(json.dumps(out))
"#;

#[tokio::test]
async fn imapclient_sorts_threads_and_esorts() {
    let server = start().await;
    burn_one_uid(&server.store, server.account_a).await;
    put(&server.store, server.account_a, &five()).await;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("sort_session.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let child = tokio::process::Command::new("python3")
        .arg(&script)
        .arg(server.imap.ip().to_string())
        .arg(server.imap.port().to_string())
        .arg(USER_A)
        .arg(PASSWORD)
        .env("PYTHONIOENCODING", "utf-8")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), child)
        .await
        .expect("imapclient session within 120 s")
        .expect("python3 runs (scripts/test installs python3 and imapclient)");
    assert!(
        output.status.success(),
        "imapclient session failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let out: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)));
    let caps: Vec<&str> = out["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for cap in [
        "SORT",
        "SORT=DISPLAY",
        "THREAD=REFERENCES",
        "THREAD=ORDEREDSUBJECT",
        "ESORT",
    ] {
        assert!(caps.contains(&cap), "{cap} in {caps:?}");
    }
    let json = |v: &str| -> serde_json::Value { serde_json::from_str(v).unwrap() };
    // imapclient uses UID SORT / UID THREAD. SUBJECT: messages 5 3 4 1 2.
    assert_eq!(out["subject"], json("[6, 4, 5, 2, 3]"));
    // REVERSE DATE: messages 2 1 4 3 5.
    assert_eq!(out["reverse_date"], json("[3, 2, 5, 4, 6]"));
    // DISPLAYFROM: an@… < Ánh < Bình < Dũng < Đức: messages 3 4 5 2 1.
    assert_eq!(out["displayfrom"], json("[4, 5, 6, 3, 2]"));
    // SUBJECT "giấy" (sent as a UTF-8 literal): messages 3, 4 by date.
    assert_eq!(out["date_giay"], json("[4, 5]"));
    // REFERENCES: (5)(3 4)(2 1); ORDEREDSUBJECT: (5)(3 4)(1 2).
    assert_eq!(out["references"], json("[[6], [4, 5], [3, 2]]"));
    assert_eq!(out["orderedsubject"], json("[[6], [4, 5], [2, 3]]"));
    // ESORT (RFC 5267 3): MIN/MAX first and last in SUBJECT order (UIDs 6 4 5 2 3), ALL in
    // that order with increasing ranges only, COUNT; `(TAG "...")` and UID first.
    let esort = out["esort"].as_str().unwrap();
    assert!(esort.starts_with("(TAG \""), "{esort}");
    let data = esort
        .split_once(") UID ")
        .expect("UID after the correlator")
        .1;
    let mut items: Vec<&str> = data
        .split(' ')
        .collect::<Vec<_>>()
        .chunks(2)
        .map(|p| {
            assert_eq!(p.len(), 2, "{esort}");
            match p[0] {
                "MIN" => assert_eq!(p[1], "6"),
                "MAX" => assert_eq!(p[1], "3"),
                "ALL" => assert_eq!(p[1], "6,4:5,2:3"),
                "COUNT" => assert_eq!(p[1], "5"),
                other => panic!("unexpected item {other} in {esort}"),
            }
            p[0]
        })
        .collect();
    items.sort_unstable();
    assert_eq!(items, ["ALL", "COUNT", "MAX", "MIN"]);
}
