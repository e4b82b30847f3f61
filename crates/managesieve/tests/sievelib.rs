//! ManageSieve driven by a real client library, Python `sievelib` (PyPI; installed by
//! scripts/test), under TLS only: PUTSCRIPT, SETACTIVE, CHECKSCRIPT with a syntax error
//! answered with its line, GETSCRIPT, DELETESCRIPT; and no login without STARTTLS.

use crate::harness;

use std::process::Command;

use harness::*;

const SCRIPT: &str = r#"
import json, sys, warnings
from sievelib.managesieve import Client

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
out = {}
GOOD = 'require ["fileinto", "vacation"];\r\nif header :contains "subject" "báo cáo" {\r\n  fileinto "Báo cáo";\r\n}\r\nvacation :days 3 "Tôi đi công tác.";\r\n'
BAD = 'require "fileinto";\r\nkeep;\r\nif header :is "x" {\r\n'

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    plain = Client(host, port)
    out["plain_login"] = plain.connect(user, password, starttls=False, authmech="PLAIN")

c = Client(host, port)
out["tls_login"] = c.connect(user, password, starttls=True, authmech="PLAIN")
out["put"] = c.putscript("cong-tac", GOOD)
out["setactive"] = c.setactive("cong-tac")
out["check_bad"] = c.checkscript(BAD)
out["check_bad_msg"] = c.errmsg.decode()
out["put_bad"] = c.putscript("bad", BAD)
out["put_bad_msg"] = c.errmsg.decode()
out["check_good"] = c.checkscript(GOOD)
active, others = c.listscripts()
out["active"] = active
out["others"] = others
# sievelib returns the lines joined with "\n" (its own rendering of the literal).
out["get_same"] = c.getscript("cong-tac") == "\n".join(GOOD.splitlines())
out["delete_active"] = c.deletescript("cong-tac")
out["put_second"] = c.putscript("second", "keep;")
out["delete_second"] = c.deletescript("second")
out["deactivate"] = c.setactive("")
out["delete"] = c.deletescript("cong-tac")
out["after"] = c.listscripts()
c.logout()
print(json.dumps(out))
"#;

#[tokio::test]
async fn sievelib_under_tls() {
    let server = start(|_| {}).await;
    let ca = server.dir.path().join("ca.pem");
    std::fs::write(&ca, &server.cert_pem).unwrap();
    let addr = server.addr;
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg("-c")
            .arg(SCRIPT)
            .arg("localhost")
            .arg(addr.port().to_string())
            .arg(USER_A)
            .arg(PASSWORD_A)
            // The test certificate is the only trust anchor (Python's default context reads it).
            .env("SSL_CERT_FILE", &ca)
            .output()
            .expect("python3 with sievelib: run the tests with scripts/test")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "python failed: {stderr}\n{stdout}");
    let out: serde_json::Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout} {stderr}"));
    // RFC 5804 2.1: no SASL mechanism is offered before TLS, so the client cannot log in.
    assert_eq!(out["plain_login"], false, "{out}");
    assert_eq!(out["tls_login"], true, "{out}");
    assert_eq!(out["put"], true, "{out}");
    assert_eq!(out["setactive"], true, "{out}");
    // RFC 5804 2.12 / 2.6: NO with a human-readable reason; ours names the line (3: the
    // `if` whose block is never closed begins there).
    assert_eq!(out["check_bad"], false, "{out}");
    assert!(
        out["check_bad_msg"].as_str().unwrap().contains("line 3"),
        "{out}"
    );
    assert_eq!(out["put_bad"], false, "{out}");
    assert!(
        out["put_bad_msg"].as_str().unwrap().contains("line 3"),
        "{out}"
    );
    assert_eq!(out["check_good"], true, "{out}");
    assert_eq!(out["active"], "cong-tac", "{out}");
    assert_eq!(
        out["others"],
        serde_json::json!([]),
        "the bad script was not stored: {out}"
    );
    assert_eq!(out["get_same"], true, "{out}");
    // RFC 5804 2.10: the active script cannot be deleted.
    assert_eq!(out["delete_active"], false, "{out}");
    assert_eq!(out["put_second"], true, "{out}");
    assert_eq!(out["delete_second"], true, "{out}");
    assert_eq!(out["deactivate"], true, "{out}");
    assert_eq!(out["delete"], true, "{out}");
    assert_eq!(out["after"], serde_json::json!([null, []]), "{out}");
    assert!(server
        .store
        .sieve_scripts(server.account_a)
        .await
        .unwrap()
        .is_empty());
}
