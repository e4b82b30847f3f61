//! Unit mailboxes (BD-10, KT-8) over IMAP: the shared namespace, RFC 4314 rights on every
//! command, revocation in open sessions, the audit of reads, handover keeping every message.

use crate::common;

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

/// Issue 17 item 7: a unit folder counts against the unit's quota, so GETQUOTAROOT on it names
/// the unit's quota root and that root's QUOTA is the unit's usage and limit, not the
/// delegate's own (RFC 9208 4.3: "QUOTAROOT" with the mailbox and its roots, then a "QUOTA"
/// response per root; 5.1: STORAGE in units of 1024 octets). GETQUOTA on that root (4.2)
/// answers the same; on a root the user cannot see, NO.
#[tokio::test]
async fn getquotaroot_on_a_unit_folder_reports_the_units_quota() {
    let (server, unit_account) = unit_server().await;
    server
        .store
        .delegate("STTTT", USER_A, storage::RIGHTS_READ, false)
        .await
        .unwrap();
    server
        .store
        .set_quota(UNIT, 10 * 1024 * 1024)
        .await
        .unwrap();
    server
        .store
        .set_quota(USER_A, 3 * 1024 * 1024)
        .await
        .unwrap();
    let unit = server.store.account_ref(unit_account).await.unwrap();
    assert!(unit.used_bytes > 0);
    let unit_used_kib = (unit.used_bytes + 1023) / 1024;

    let mut a = Client::login(server.imap, USER_A).await;
    a.ok("ENABLE UTF8=ACCEPT").await;
    assert_eq!(
        a.ok("GETQUOTAROOT \"Đơn vị/STTTT/INBOX\"").await,
        vec![
            "* QUOTAROOT \"Đơn vị/STTTT/INBOX\" \"Đơn vị/STTTT\"".to_string(),
            format!("* QUOTA \"Đơn vị/STTTT\" (STORAGE {unit_used_kib} 10240)"),
        ]
    );
    assert_eq!(
        a.ok("GETQUOTA \"Đơn vị/STTTT\"").await,
        vec![format!(
            "* QUOTA \"Đơn vị/STTTT\" (STORAGE {unit_used_kib} 10240)"
        )]
    );
    // The delegate's own mailbox keeps the personal root and quota.
    let own = a.ok("GETQUOTAROOT INBOX").await;
    assert_eq!(own[0], "* QUOTAROOT \"INBOX\" \"\"");
    assert!(own[1].ends_with(" 3072)"), "{own:?}");
    a.fails("GETQUOTA \"Đơn vị/VPUB\"", "NO [NONEXISTENT]")
        .await;
    a.fails("GETQUOTA \"Đơn vị/STTTT/INBOX\"", "NO [NONEXISTENT]")
        .await;
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

/// Unit STTTT's INBOX with \Flagged on messages 1 and 2 (set by someone allowed to).
async fn flagged_unit_server() -> (TestServer, i64) {
    let (server, unit_account) = unit_server().await;
    let inbox = server.store.folder(unit_account, "INBOX").await.unwrap();
    server
        .store
        .store_flags(
            inbox.id,
            &[1, 2],
            storage::FlagChange::Add,
            &["\\Flagged".to_string()],
            None,
        )
        .await
        .unwrap();
    (server, inbox.id)
}

/// Delegates A to STTTT with `rights`, logs in and selects the unit's INBOX.
async fn select_as(server: &TestServer, rights: &str) -> (Client, Vec<String>, String) {
    server
        .store
        .delegate("STTTT", USER_A, rights, false)
        .await
        .unwrap();
    let mut a = Client::login(server.imap, USER_A).await;
    a.ok("ENABLE UTF8=ACCEPT").await;
    let (lines, status) = a.run("SELECT \"Đơn vị/STTTT/INBOX\"").await;
    assert!(status.starts_with("OK"), "{rights}: {status}");
    (a, lines, status)
}

/// What the PERMANENTFLAGS response code of a SELECT lists.
fn permanent_flags(lines: &[String]) -> String {
    let line = lines
        .iter()
        .find(|l| l.starts_with("* OK [PERMANENTFLAGS ("))
        .unwrap_or_else(|| panic!("no PERMANENTFLAGS in {lines:?}"));
    line["* OK [PERMANENTFLAGS (".len()..]
        .split(')')
        .next()
        .unwrap()
        .to_string()
}

/// SELECT of a unit mailbox follows the delegate's rights: READ-ONLY only without "i", "e"
/// and the "shared flag rights" (RFC 4314 5.2; every flag of a unit mailbox is one value for
/// all its users, so those are "s", "t" and "w"), and PERMANENTFLAGS lists only the flags the
/// rights let the user change (RFC 4314 5.1.1; which right each flag needs: RFC 4314 4).
#[tokio::test]
async fn select_of_a_unit_mailbox_reflects_the_rights() {
    let (server, _) = flagged_unit_server().await;
    // lr: nothing may change.
    let (_, lines, status) = select_as(&server, "lr").await;
    assert!(status.starts_with("OK [READ-ONLY]"), "{status}");
    assert_eq!(permanent_flags(&lines), "");
    // lri: messages may be added, so read-write, but no flag may change.
    let (_, lines, status) = select_as(&server, "lri").await;
    assert!(status.starts_with("OK [READ-WRITE]"), "{status}");
    assert_eq!(permanent_flags(&lines), "");
    // lrs: \Seen only.
    let (_, lines, status) = select_as(&server, storage::RIGHTS_READ).await;
    assert!(status.starts_with("OK [READ-WRITE]"), "{status}");
    assert_eq!(permanent_flags(&lines), "\\Seen");
    // lrst: \Seen and \Deleted, no keywords.
    let (_, lines, _) = select_as(&server, "lrst").await;
    assert_eq!(permanent_flags(&lines), "\\Deleted \\Seen");
    // lrswite: \Seen through s, \Deleted through t, the others and new keywords through w.
    let (_, lines, status) = select_as(&server, storage::RIGHTS_HANDLE).await;
    assert!(status.starts_with("OK [READ-WRITE]"), "{status}");
    assert_eq!(
        permanent_flags(&lines),
        "\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*"
    );
}

/// STORE in a unit mailbox changes only the flags the rights allow and leaves the others
/// alone, also with FLAGS (replace); it fails, NO [NOPERM], only when it names no flag the
/// user may change (RFC 4314 4: STORE "SHOULD NOT fail if the user has rights to modify at
/// least one flag specified in the STORE").
#[tokio::test]
async fn store_in_a_unit_mailbox_changes_only_what_the_rights_allow() {
    let (server, inbox) = flagged_unit_server().await;
    let (mut a, _, _) = select_as(&server, storage::RIGHTS_READ).await;
    // This read-write session is the first to select since delivery: the messages are
    // \Recent in it (RFC 3501 2.3.2), and FETCH FLAGS shows that.
    assert_eq!(
        a.ok("STORE 1 +FLAGS (\\Seen \\Answered)").await,
        vec!["* 1 FETCH (FLAGS (\\Flagged \\Seen \\Recent))"]
    );
    // FLAGS replaces only what A may change: \Flagged (needs w) stays.
    assert_eq!(
        a.ok("STORE 1 FLAGS ()").await,
        vec!["* 1 FETCH (FLAGS (\\Flagged \\Recent))"]
    );
    assert_eq!(
        a.ok("STORE 2 FLAGS (\\Seen \\Deleted)").await,
        vec!["* 2 FETCH (FLAGS (\\Flagged \\Seen \\Recent))"]
    );
    a.fails("STORE 2 -FLAGS (\\Flagged)", "NO [NOPERM]").await;
    a.fails("STORE 2 +FLAGS (\\Deleted \\Draft)", "NO [NOPERM]")
        .await;
    a.fails("STORE 3 FLAGS (\\Flagged)", "NO [NOPERM]").await;
    let flags: Vec<String> = server
        .store
        .messages(inbox)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.flags.to_string())
        .collect();
    assert_eq!(flags, vec!["\\Flagged", "\\Flagged \\Seen", ""]);
    // With "w" but not "t", FLAGS keeps \Deleted as it is and replaces the rest.
    let (mut a, _, _) = select_as(&server, "lrsw").await;
    server
        .store
        .store_flags(
            inbox,
            &[3],
            storage::FlagChange::Add,
            &["\\Deleted".to_string()],
            None,
        )
        .await
        .unwrap();
    a.ok("NOOP").await;
    // A second session: the messages were claimed as \Recent by the first. A new keyword
    // is announced in FLAGS and PERMANENTFLAGS (lrsw: no \Deleted) before the FETCH that
    // shows it (RFC 9051 7.3.5).
    assert_eq!(
        a.ok("STORE 3 FLAGS (\\Answered $Urgent)").await,
        vec![
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Urgent)",
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Seen \\Draft $Urgent \\*)] Flags permitted",
            "* 3 FETCH (FLAGS (\\Deleted \\Answered $Urgent))"
        ]
    );
    assert_eq!(
        a.ok("STORE 3 FLAGS ($Later)").await,
        vec![
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Urgent $Later)",
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Seen \\Draft $Urgent $Later \\*)] Flags permitted",
            "* 3 FETCH (FLAGS (\\Deleted $Later))"
        ]
    );
}
