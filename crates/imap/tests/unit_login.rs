//! A unit mailbox as its own account (issue 14): a delegate logs in as `UNIT*PERSON` with their
//! own password (the master-user convention) and sees the unit's folders at the root, with
//! exactly their delegated RFC 4314 rights, audited as themselves; a person without a right is
//! refused like a wrong password; revocation and departure end the session.

use crate::common;

use std::time::{Duration, Instant};

use base64::Engine;
use common::*;
use storage::NewUnit;

const UNIT: &str = "stttt@kontum.gov.vn";

async fn unit_server_with(server: TestServer) -> (TestServer, i64) {
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
    // The delegate's own mail, which a unit login must never show.
    server
        .deliver(server.account_a, &message("Thư riêng", "Riêng tư"))
        .await;
    (server, unit.account_id)
}

async fn unit_server() -> (TestServer, i64) {
    unit_server_with(start().await).await
}

fn unit_login(person: &str) -> String {
    // Quoted: RFC 9051 9 makes `*` an atom-special.
    format!("LOGIN \"{UNIT}*{person}\" {PASSWORD}")
}

async fn login_unit(server: &TestServer, person: &str) -> Client {
    let mut c = Client::connect(server.imap).await;
    c.ok(&unit_login(person)).await;
    c.ok("ENABLE UTF8=ACCEPT").await;
    c
}

/// RFC 2342 5: NAMESPACE lists personal, other users' and shared namespaces, NIL for none; a
/// unit login has the unit's folders as its personal namespace and nothing else. RFC 4314 3.5:
/// MYRIGHTS answers the rights; 5.2: SELECT answers READ-WRITE when "s" (a shared flag right:
/// a unit's \Seen is one value for all its users) is held; 4: STORE of other flags needs "w",
/// APPEND "i", EXPUNGE "e", CREATE "k" — each refused with NO [NOPERM] (RFC 5530 3).
#[tokio::test]
async fn lrs_delegate_gets_the_unit_as_a_read_only_account() {
    let (server, _) = unit_server().await;
    server
        .store
        .delegate("STTTT", USER_A, storage::RIGHTS_READ, false)
        .await
        .unwrap();
    let mut a = login_unit(&server, USER_A).await;
    assert_eq!(
        a.ok("NAMESPACE").await,
        vec!["* NAMESPACE ((\"\" \"/\")) NIL NIL"]
    );
    let list = a.ok("LIST \"\" \"*\"").await;
    assert!(list.iter().any(|l| l.ends_with(" \"INBOX\"")), "{list:?}");
    assert!(!list.iter().any(|l| l.contains("Đơn vị")), "{list:?}");
    // RFC 9051 6.3.9: LSUB lists subscribed names; the unit's folders show as subscribed.
    let lsub = a.ok("LSUB \"\" \"*\"").await;
    assert!(lsub.iter().any(|l| l.ends_with(" \"INBOX\"")), "{lsub:?}");
    assert_eq!(
        a.ok("MYRIGHTS INBOX").await,
        vec!["* MYRIGHTS \"INBOX\" lrs"]
    );
    let (select, status) = a.run("SELECT INBOX").await;
    // The unit INBOX: three messages, not the delegate's one.
    assert!(select.contains(&"* 3 EXISTS".to_string()), "{select:?}");
    // RFC 4314 5.1.1 / RFC 9051 7.1: PERMANENTFLAGS names only what the user may change.
    assert!(
        select
            .iter()
            .any(|l| l.starts_with("* OK [PERMANENTFLAGS (\\Seen)]")),
        "{select:?}"
    );
    assert!(status.starts_with("OK [READ-WRITE]"), "{status}");
    let fetched = a.ok("FETCH 1 BODY[]").await;
    assert!(fetched[0].contains("Công văn 0"), "{fetched:?}");
    let search = a.ok("SEARCH SUBJECT \"Thư riêng\"").await;
    assert_eq!(search, vec!["* SEARCH"]);
    a.fails("STORE 1 +FLAGS (\\Flagged)", "NO [NOPERM]").await;
    a.fails("STORE 1 +FLAGS (\\Deleted)", "NO [NOPERM]").await;
    a.fails("EXPUNGE", "NO [NOPERM]").await;
    a.fails("CREATE \"Lưu trữ\"", "NO [NOPERM]").await;
    a.fails("DELETE INBOX", "NO").await;
    a.fails("GETACL INBOX", "NO [NOPERM]").await;
    let (_, append) = a.run("APPEND INBOX {3+}\r\nabc").await;
    assert!(append.starts_with("NO [NOPERM]"), "{append}");
    // The person's own folders and other units are out of reach.
    a.fails("SELECT \"Đơn vị/STTTT/INBOX\"", "NO [NONEXISTENT]")
        .await;

    // Audited as the person: the login, the open, the read.
    let logins = server.store.events("unit.login", 10).await.unwrap();
    assert_eq!(logins.len(), 1);
    assert_eq!(
        (logins[0].actor.as_str(), logins[0].target.as_str()),
        (USER_A, UNIT)
    );
    let reads = server.store.events("unit.read", 10).await.unwrap();
    assert_eq!(reads.len(), 1);
    assert_eq!(
        (reads[0].actor.as_str(), reads[0].target.as_str()),
        (USER_A, UNIT)
    );
    let opens = server.store.events("mailbox.open", 10).await.unwrap();
    assert!(opens.iter().any(|e| e.actor == USER_A), "{opens:?}");
}

/// RFC 4314 5.2: with none of "i", "e" and the shared flag rights, SELECT MUST answer
/// READ-ONLY; FETCH BODY[] then sets no \Seen (RFC 9051 6.3.2: EXAMINE-like, no change).
#[tokio::test]
async fn lr_delegate_selects_read_only() {
    let (server, unit_account) = unit_server().await;
    server
        .store
        .delegate("STTTT", USER_A, "lr", false)
        .await
        .unwrap();
    let mut a = login_unit(&server, USER_A).await;
    let (_, status) = a.run("SELECT INBOX").await;
    assert!(status.starts_with("OK [READ-ONLY]"), "{status}");
    a.ok("FETCH 1 BODY[]").await;
    a.fails("STORE 1 +FLAGS (\\Seen)", "NO").await;
    let folder = server.store.folder(unit_account, "INBOX").await.unwrap();
    let rows = server.store.messages(folder.id).await.unwrap();
    assert!(rows.iter().all(|m| !m.flags.contains(storage::Flags::SEEN)));
}

/// RFC 4314 4: with "lrswite" a delegate flags, deletes and expunges (audited as
/// `unit.handle` by them), but CREATE needs "k": NO [NOPERM].
#[tokio::test]
async fn handling_delegate_handles_but_cannot_create() {
    let (server, _) = unit_server().await;
    server
        .store
        .delegate("STTTT", USER_B, storage::RIGHTS_HANDLE, true)
        .await
        .unwrap();
    let mut b = login_unit(&server, USER_B).await;
    let (_, status) = b.run("SELECT INBOX").await;
    assert!(status.starts_with("OK [READ-WRITE]"), "{status}");
    b.ok("STORE 1 +FLAGS (\\Deleted)").await;
    // RFC 9051 7.5.1: EXPUNGE reports the removed sequence number.
    assert_eq!(b.ok("EXPUNGE").await, vec!["* 1 EXPUNGE"]);
    b.fails("CREATE \"Hồ sơ\"", "NO [NOPERM]").await;
    let handled = server.store.events("unit.handle", 10).await.unwrap();
    assert!(
        !handled.is_empty()
            && handled
                .iter()
                .all(|e| e.actor == USER_B && e.target == UNIT)
    );
}

/// RFC 4616 2: PLAIN's authzid names the identity to act as; authzid = the unit, authcid =
/// the person gives the same unit login (here with SASL-IR, RFC 4959).
#[tokio::test]
async fn authenticate_plain_with_the_unit_as_authzid() {
    let (server, _) = unit_server().await;
    server
        .store
        .delegate("STTTT", USER_A, storage::RIGHTS_READ, false)
        .await
        .unwrap();
    let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
    let mut a = Client::connect(server.imap).await;
    a.ok(&format!(
        "AUTHENTICATE PLAIN {}",
        b64(format!("{UNIT}\0{USER_A}\0{PASSWORD}"))
    ))
    .await;
    assert_eq!(
        a.ok("NAMESPACE").await,
        vec!["* NAMESPACE ((\"\" \"/\")) NIL NIL"]
    );
    assert!(a
        .ok("SELECT INBOX")
        .await
        .contains(&"* 3 EXISTS".to_string()));
    // The `*` form inside the authcid works too.
    let mut a2 = Client::connect(server.imap).await;
    a2.ok(&format!(
        "AUTHENTICATE PLAIN {}",
        b64(format!("\0{UNIT}*{USER_A}\0{PASSWORD}"))
    ))
    .await;
    assert!(a2
        .ok("SELECT INBOX")
        .await
        .contains(&"* 3 EXISTS".to_string()));
    // And the unquoted `*` that Python's imaplib sends.
    let mut a3 = Client::connect(server.imap).await;
    a3.ok(&format!("LOGIN {UNIT}*{USER_A} {PASSWORD}")).await;
    assert!(a3
        .ok("SELECT INBOX")
        .await
        .contains(&"* 3 EXISTS".to_string()));
}

/// RFC 5530 3 / RFC 9051 7.1: AUTHENTICATIONFAILED for a bad name or password. A person
/// without a right on the unit, a person named as the "unit", a person acting as someone else
/// through PLAIN's authzid: all get exactly that answer, like a wrong password.
#[tokio::test]
async fn no_right_is_refused_like_a_wrong_password() {
    let (server, _) = unit_server().await;
    server
        .store
        .delegate("STTTT", USER_A, storage::RIGHTS_READ, false)
        .await
        .unwrap();
    let mut c = Client::connect(server.imap).await;
    let wrong = c
        .fails(
            &format!("LOGIN \"{UNIT}*{USER_A}\" wrong-password"),
            "NO [AUTHENTICATIONFAILED]",
        )
        .await;
    let no_right = c
        .fails(&unit_login(USER_B), "NO [AUTHENTICATIONFAILED]")
        .await;
    assert_eq!(wrong, no_right);
    // `*` is no way into another person's mailbox.
    c.fails(
        &format!("LOGIN \"{USER_A}*{USER_B}\" {PASSWORD}"),
        "NO [AUTHENTICATIONFAILED]",
    )
    .await;
    let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
    c.fails(
        &format!(
            "AUTHENTICATE PLAIN {}",
            b64(format!("{USER_A}\0{USER_B}\0{PASSWORD}"))
        ),
        "NO [AUTHENTICATIONFAILED]",
    )
    .await;
    // A unit's own address with a person's password is no login either.
    c.fails(
        &format!("LOGIN {UNIT} {PASSWORD}"),
        "NO [AUTHENTICATIONFAILED]",
    )
    .await;
    assert!(server
        .store
        .events("unit.login", 10)
        .await
        .unwrap()
        .is_empty());
    // B still logs in to their own mailbox.
    c.ok(&format!("LOGIN {USER_B} {PASSWORD}")).await;
}

/// The AUTH throttle keys on the person's login: failed unit logins lock the person out of
/// their own login too (RFC 5530 3: UNAVAILABLE, a temporary condition).
#[tokio::test]
async fn failed_unit_logins_throttle_the_person() {
    let (server, _) = unit_server_with(start().await).await;
    let mut c = Client::connect(server.imap).await;
    // test_throttle: five failures lock the (login, address) pair.
    for _ in 0..5 {
        c.fails(&unit_login(USER_B), "NO [AUTHENTICATIONFAILED]")
            .await;
    }
    c.fails(&format!("LOGIN {USER_B} {PASSWORD}"), "NO [UNAVAILABLE]")
        .await;
    // Another person's login is not locked.
    c.ok(&format!("LOGIN {USER_A} {PASSWORD}")).await;
}

/// KT-8: revoking the delegate ends the open unit session (the account watcher runs every
/// 500 ms) with BYE (RFC 9051 7.1.5) within a second; a departure ends it too.
#[tokio::test]
async fn revocation_and_departure_end_the_unit_session() {
    let (server, _) = unit_server().await;
    server
        .store
        .delegate("STTTT", USER_A, storage::RIGHTS_READ, false)
        .await
        .unwrap();
    server
        .store
        .delegate("STTTT", USER_B, storage::RIGHTS_READ, false)
        .await
        .unwrap();
    let mut a = login_unit(&server, USER_A).await;
    a.ok("SELECT INBOX").await;
    let mut b = login_unit(&server, USER_B).await;
    b.ok("SELECT INBOX").await;
    // A's own, plain session survives the revoke of A's unit rights.
    let mut own = Client::login(server.imap, USER_A).await;

    server.store.revoke("STTTT", USER_A).await.unwrap();
    let revoked = Instant::now();
    let line = a.line().await;
    assert!(line.starts_with("* BYE"), "{line:?}");
    assert!(
        revoked.elapsed() < Duration::from_secs(1),
        "{:?}",
        revoked.elapsed()
    );
    assert_eq!(a.line().await, "", "closed after BYE");
    own.ok("NOOP").await;
    // B is untouched by A's revocation.
    b.ok("NOOP").await;
    // A can no longer log in to the unit.
    let mut again = Client::connect(server.imap).await;
    again
        .fails(&unit_login(USER_A), "NO [AUTHENTICATIONFAILED]")
        .await;

    server.store.depart(USER_B).await.unwrap();
    let departed = Instant::now();
    let line = b.line().await;
    assert!(line.starts_with("* BYE"), "{line:?}");
    assert!(
        departed.elapsed() < Duration::from_secs(1),
        "{:?}",
        departed.elapsed()
    );
}

/// Rights are re-read before every command: a delegate raised to "lrswite" while logged in may
/// delete at once; lowered again, may not.
#[tokio::test]
async fn rights_are_read_on_every_command() {
    let (server, unit_account) = unit_server().await;
    server
        .store
        .delegate("STTTT", USER_A, storage::RIGHTS_READ, false)
        .await
        .unwrap();
    let mut a = login_unit(&server, USER_A).await;
    a.ok("SELECT INBOX").await;
    a.fails("STORE 1 +FLAGS (\\Flagged)", "NO [NOPERM]").await;
    server
        .store
        .set_acl(unit_account, USER_A, storage::RIGHTS_HANDLE)
        .await
        .unwrap();
    a.ok("STORE 1 +FLAGS (\\Flagged)").await;
    assert_eq!(
        a.ok("MYRIGHTS INBOX").await,
        vec![format!("* MYRIGHTS \"INBOX\" {}", storage::RIGHTS_HANDLE)]
    );
    server
        .store
        .set_acl(unit_account, USER_A, storage::RIGHTS_READ)
        .await
        .unwrap();
    a.fails("STORE 1 -FLAGS (\\Flagged)", "NO [NOPERM]").await;
}
