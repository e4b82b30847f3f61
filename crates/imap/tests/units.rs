//! Unit mailboxes (BD-10, KT-8) over IMAP: the shared namespace, RFC 4314 rights on every
//! command, revocation in open sessions, the audit of reads, handover keeping every message.

mod common;

use common::*;
use storage::NewUnit;

const UNIT: &str = "stttt@kontum.gov.vn";

async fn unit_server() -> (TestServer, i64) {
    let server = start().await;
    let unit = server
        .store
        .add_unit(&NewUnit {
            domain: "kontum.gov.vn".into(),
            abbrev: "STTTT".into(),
            name: "Sở Thông tin và Truyền thông".into(),
            parent_abbrev: None,
            quota_bytes: 0,
        })
        .await
        .unwrap();
    for i in 0..3 {
        server
            .deliver(
                unit.account_id,
                &message(&format!("Công văn {i}"), "Đề nghị xử lý"),
            )
            .await;
    }
    (server, unit.account_id)
}

#[tokio::test]
async fn delegates_see_the_unit_in_the_shared_namespace_with_their_rights() {
    let (server, unit_account) = unit_server().await;
    server
        .store
        .delegate("STTTT", USER_A, storage::RIGHTS_READ, false)
        .await
        .unwrap();
    server
        .store
        .delegate("STTTT", USER_B, storage::RIGHTS_HANDLE, true)
        .await
        .unwrap();

    let mut a = Client::login(server.imap, USER_A).await;
    a.ok("ENABLE UTF8=ACCEPT").await;
    let ns = a.ok("NAMESPACE").await;
    assert_eq!(
        ns,
        vec!["* NAMESPACE ((\"\" \"/\")) NIL ((\"Đơn vị/\" \"/\"))"]
    );
    let list = a.ok("LIST \"\" \"Đơn vị/*\"").await;
    assert!(
        list.contains(&"* LIST (\\Noselect \\HasChildren) \"/\" \"Đơn vị/STTTT\"".to_string()),
        "{list:?}"
    );
    assert!(
        list.contains(&"* LIST (\\HasNoChildren) \"/\" \"Đơn vị/STTTT/INBOX\"".to_string()),
        "{list:?}"
    );
    assert_eq!(
        a.ok("MYRIGHTS \"Đơn vị/STTTT/INBOX\"").await,
        vec!["* MYRIGHTS \"Đơn vị/STTTT/INBOX\" lrs"]
    );
    let select = a.ok("SELECT \"Đơn vị/STTTT/INBOX\"").await;
    assert!(select.contains(&"* 3 EXISTS".to_string()), "{select:?}");
    // Read: yes (and recorded); delete, expunge, move, flag: no.
    let fetched = a.ok("FETCH 1 BODY[]").await;
    assert!(fetched[0].contains("Công văn 0"), "{fetched:?}");
    a.fails("STORE 1 +FLAGS (\\Deleted)", "NO [NOPERM]").await;
    a.fails("STORE 1 +FLAGS (\\Flagged)", "NO [NOPERM]").await;
    a.fails("EXPUNGE", "NO").await;
    a.fails("MOVE 1 INBOX", "NO [NOPERM]").await;
    a.fails("GETACL \"Đơn vị/STTTT/INBOX\"", "NO [NOPERM]")
        .await;
    a.fails(
        "SETACL \"Đơn vị/STTTT/INBOX\" ttbinh.stttt@kontum.gov.vn +a",
        "NO [NOPERM]",
    )
    .await;
    let reads = server.store.events("unit.read", 10).await.unwrap();
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].actor, USER_A);
    assert_eq!(reads[0].target, UNIT);

    // Handle: B deletes.
    let mut b = Client::login(server.imap, USER_B).await;
    b.ok("ENABLE UTF8=ACCEPT").await;
    b.ok("SELECT \"Đơn vị/STTTT/INBOX\"").await;
    b.ok("STORE 1 +FLAGS (\\Deleted)").await;
    assert_eq!(b.ok("EXPUNGE").await, vec!["* 1 EXPUNGE"]);
    let handled = server.store.events("unit.handle", 10).await.unwrap();
    assert!(handled.iter().all(|e| e.actor == USER_B) && !handled.is_empty());
    // A's open session learns of it at its next command.
    let noop = a.ok("NOOP").await;
    assert!(noop.contains(&"* 1 EXPUNGE".to_string()), "{noop:?}");

    // Revoke B: the already-open session loses access at once.
    server.store.revoke("STTTT", USER_B).await.unwrap();
    b.fails("FETCH 1 BODY.PEEK[]", "NO [NOPERM]").await;
    b.fails("SELECT \"Đơn vị/STTTT/INBOX\"", "NO [NONEXISTENT]")
        .await;
    let list = b.ok("LIST \"\" \"*\"").await;
    assert!(!list.iter().any(|l| l.contains("STTTT")), "{list:?}");

    // Handover to B as the new head: every message and folder stays byte-identical.
    let folder = server.store.folder(unit_account, "INBOX").await.unwrap();
    let mut before = vec![];
    for m in server.store.messages(folder.id).await.unwrap() {
        before.push((m.uid, server.store.read_blob(&m.blob_id).await.unwrap()));
    }
    server.store.set_unit_head("STTTT", USER_B).await.unwrap();
    let mut after = vec![];
    for m in server.store.messages(folder.id).await.unwrap() {
        after.push((m.uid, server.store.read_blob(&m.blob_id).await.unwrap()));
    }
    assert_eq!(before, after);
    let mut b = Client::login(server.imap, USER_B).await;
    b.ok("ENABLE UTF8=ACCEPT").await;
    assert_eq!(
        b.ok("MYRIGHTS \"Đơn vị/STTTT/INBOX\"").await,
        vec![format!(
            "* MYRIGHTS \"Đơn vị/STTTT/INBOX\" {}",
            storage::RIGHTS_HEAD
        )]
    );
    // The head manages the ACL: gives A handle rights, then takes them away.
    b.ok(&format!("SETACL \"Đơn vị/STTTT/INBOX\" {USER_A} +wte"))
        .await;
    let acl = b.ok("GETACL \"Đơn vị/STTTT/INBOX\"").await;
    assert!(acl[0].contains(&format!("\"{USER_A}\" lrswte")), "{acl:?}");
    b.ok(&format!("DELETEACL \"Đơn vị/STTTT/INBOX\" {USER_A}"))
        .await;
    a.fails("FETCH 1 BODY.PEEK[]", "NO [NOPERM]").await;
}

#[tokio::test]
async fn shared_namespace_tricks_reach_nothing() {
    let (server, _) = unit_server().await;
    server
        .store
        .delegate("STTTT", USER_A, storage::RIGHTS_READ, false)
        .await
        .unwrap();
    let mut a = Client::login(server.imap, USER_A).await;
    a.ok("ENABLE UTF8=ACCEPT").await;
    for name in [
        "Đơn vị/SNV/INBOX",
        "Đơn vị/STTTT/../../ttbinh.stttt@kontum.gov.vn/INBOX",
        "Đơn vị/STTTT",
        "Đơn vị/STTTT/",
        "Đơn vị/stttt@kontum.gov.vn/INBOX",
        "Đơn vị/TTBINH.STTTT/INBOX",
        "Đơn vị/../INBOX",
    ] {
        let (_, status) = a.run(&format!("SELECT \"{name}\"")).await;
        assert!(
            status.starts_with("NO") || status.starts_with("BAD"),
            "{name}: {status}"
        );
    }
    // Nobody else's personal mailbox is reachable through the shared namespace either.
    server
        .deliver(server.account_b, &message("riêng", "x"))
        .await;
    let list = a.ok("LIST \"\" \"*\"").await;
    assert!(!list.iter().any(|l| l.contains("ttbinh")), "{list:?}");
    // Creating or deleting unit folders is not a delegate's business.
    a.fails("DELETE \"Đơn vị/STTTT/Sent\"", "NO").await;
}
