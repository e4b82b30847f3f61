//! The directory through Python `ldap3` (PyPI; installed by scripts/test): a 10,000-person
//! directory paged with the RFC 2696 control over StartTLS and over LDAPS, a search without
//! diacritics finding names with them, a departed person absent, a wrong password refused.

use crate::harness;

use std::process::Command;

use harness::*;

const SCRIPT: &str = r#"
import json, ssl, sys
from ldap3 import Server, Connection, Tls, SUBTREE

port, ldaps_port, ca, user, password, base = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
tls = Tls(ca_certs_file=ca, validate=ssl.CERT_REQUIRED)
out = {}
for mode in ("starttls", "ldaps"):
    if mode == "starttls":
        server = Server("127.0.0.1", port=int(port), tls=tls)
        conn = Connection(server, user=user, password=password)
        conn.open()
        conn.start_tls()
    else:
        server = Server("127.0.0.1", port=int(ldaps_port), use_ssl=True, tls=tls)
        conn = Connection(server, user=user, password=password)
        conn.open()
    r = {"bound": conn.bind()}
    entries = conn.extend.standard.paged_search(base, "(objectClass=inetOrgPerson)", search_scope=SUBTREE,
                                                attributes=["mail"], paged_size=500, generator=True)
    mails = [e["attributes"]["mail"][0] for e in entries if e["type"] == "searchResEntry"]
    r["paged_count"] = len(mails)
    r["paged_distinct"] = len(set(mails))
    conn.search(base, "(&(objectClass=person)(cn=*tuyet*))", attributes=["cn"])
    r["tuyet"] = sorted(e.cn.value for e in conn.entries)
    conn.search(base, "(mail=lvnghi.stp@kontum.gov.vn)", attributes=["cn"])
    r["departed"] = len(conn.entries)
    conn.unbind()
    bad = Connection(Server("127.0.0.1", port=int(ldaps_port), use_ssl=True, tls=tls), user=user, password="wrong")
    r["bad_bind"] = bad.bind()
    r["bad_result"] = bad.result["result"]
    out[mode] = r
print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread")]
async fn ldap3_pages_ten_thousand_persons_over_starttls_and_ldaps() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir).await;
    let phc = policy::password::hash(PASSWORD).unwrap();
    store
        .add_person(&person(
            "Nguyễn Thị Tuyết",
            TUYET,
            "STP",
            "Chuyên viên",
            "",
            &phc,
        ))
        .await
        .unwrap();
    store
        .add_person(&person("Lê Văn Nghị", GONE, "STP", "", "", &phc))
        .await
        .unwrap();
    store.depart(GONE).await.unwrap();
    // 9,999 more persons: with Tuyết, 10,000 present (Nghị has left).
    for i in 1..10_000 {
        let address = format!("cb{i:05}.stp@kontum.gov.vn");
        store
            .add_person(&person(
                &format!("Cán Bộ Số {i}"),
                &address,
                "STP",
                "",
                "",
                &phc,
            ))
            .await
            .unwrap();
    }
    let server = serve(dir, store, |s| {
        s.refresh = std::time::Duration::from_secs(60)
    })
    .await;
    let args = [
        server.ldap.port().to_string(),
        server.ldaps.port().to_string(),
        server.ca_file.display().to_string(),
        TUYET.to_string(),
        PASSWORD.to_string(),
        BASE.to_string(),
    ];
    let (code, out, err) = tokio::task::block_in_place(|| {
        run(Command::new("python3").arg("-c").arg(SCRIPT).args(&args))
    });
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    for mode in ["starttls", "ldaps"] {
        let r = &v[mode];
        assert_eq!(r["bound"], true, "{mode}: {r}");
        // All 10,000 present persons, each once, across 20 pages of 500 (RFC 2696 3).
        assert_eq!(r["paged_count"], 10_000, "{mode}");
        assert_eq!(r["paged_distinct"], 10_000, "{mode}");
        assert_eq!(
            r["tuyet"],
            serde_json::json!(["Nguyễn Thị Tuyết"]),
            "{mode}"
        );
        assert_eq!(r["departed"], 0, "{mode}");
        assert_eq!(r["bad_bind"], false, "{mode}");
        // RFC 4511 4.2.2: invalidCredentials (49).
        assert_eq!(r["bad_result"], 49, "{mode}");
    }
}
