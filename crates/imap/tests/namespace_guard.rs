//! Names in and around the shared namespace over IMAP: no personal folder may take or imitate
//! a namespace prefix (RFC 5530 CANNOT), unit folders change only with RFC 4314 rights
//! (NOPERM), NFD and NFC spell one folder, and folder count, depth and length are bounded
//! (RFC 5530 LIMIT).

use crate::common;

use common::*;
use storage::NewUnit;
use unicode_normalization::UnicodeNormalization;

const UNIT: &str = "stttt@kontum.gov.vn";

/// A server with unit STTTT holding three messages in its INBOX.
async fn unit_server_with(tweak: impl FnOnce(&mut imap::Settings)) -> (TestServer, i64) {
    let server = start_with(tweak).await;
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
            .deliver(unit.account_id, &message(&format!("Công văn {i}"), "Xử lý"))
            .await;
    }
    (server, unit.account_id)
}

async fn folder_names(server: &TestServer, account: i64) -> Vec<String> {
    let mut names: Vec<String> = server
        .store
        .folders(account)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    names.sort();
    names
}

fn nfd(text: &str) -> String {
    text.nfd().collect()
}

#[tokio::test]
async fn personal_folders_cannot_take_or_imitate_namespace_names() {
    let (server, _) = unit_server_with(|_| {}).await;
    // A sees unit STTTT; VPUB is a unit A has no grant on (it need not exist).
    server
        .store
        .delegate("STTTT", USER_A, storage::RIGHTS_READ, false)
        .await
        .unwrap();
    let before = folder_names(&server, server.account_a).await;
    let mut a = Client::login(server.imap, USER_A).await;
    a.ok("ENABLE UTF8=ACCEPT").await;
    let ns = a.ok("NAMESPACE").await;
    assert_eq!(
        ns,
        vec!["* NAMESPACE ((\"\" \"/\")) NIL ((\"Đơn vị/\" \"/\"))"]
    );
    a.ok("CREATE \"Ghi chú\"").await;
    let reserved = [
        "Đơn vị/VPUB/INBOX".to_string(),
        nfd("Đơn vị/VPUB/INBOX"),
        "Đơn vị/VPUB/".to_string(),
        "Đơn vị".to_string(),
        "Đơn vị/".to_string(),
        nfd("Đơn vị"),
        "đơn vị/x".to_string(),
        "ĐƠN VỊ/x".to_string(),
        "Don vi/x".to_string(),
        " Đơn vị/x".to_string(),
        "Đơn vị /x".to_string(),
        "Đơn  vị/x".to_string(),
        "Other Users/x".to_string(),
        "other users".to_string(),
        "Shared Folders/x".to_string(),
        "#shared".to_string(),
        "#public/x".to_string(),
        "~ttbinh/INBOX".to_string(),
    ];
    for name in &reserved {
        a.fails(&format!("CREATE \"{name}\""), "NO [CANNOT]").await;
        a.fails(&format!("RENAME \"Ghi chú\" \"{name}\""), "NO [CANNOT]")
            .await;
    }
    // Without UTF8=ACCEPT, in modified UTF-7 (RFC 3501 5.1.3), NFD included.
    let mut plain = Client::login(server.imap, USER_A).await;
    for name in ["Đơn vị/VPUB/INBOX".to_string(), nfd("Đơn vị/VPUB/INBOX")] {
        let encoded = imap::protocol::mutf7::encode(&name);
        plain
            .fails(&format!("CREATE \"{encoded}\""), "NO [CANNOT]")
            .await;
    }
    // Names that merely contain the words are personal folders like any other.
    a.ok("CREATE \"Đơn vị cũ\"").await;
    a.ok("CREATE \"Lưu trữ/Đơn vị\"").await;
    let mut expected = before.clone();
    expected.extend(["Ghi chú", "Đơn vị cũ", "Lưu trữ", "Lưu trữ/Đơn vị"].map(String::from));
    expected.sort();
    assert_eq!(folder_names(&server, server.account_a).await, expected);
    // LIST shows the unit once, never a personal look-alike.
    let list = a.ok("LIST \"\" \"*\"").await;
    let inbox_lines: Vec<&String> = list
        .iter()
        .filter(|l| l.ends_with("\"Đơn vị/STTTT/INBOX\""))
        .collect();
    assert_eq!(inbox_lines.len(), 1, "{list:?}");
}

#[tokio::test]
async fn nfd_and_nfc_spell_one_folder() {
    let server = start().await;
    let mut a = Client::login(server.imap, USER_A).await;
    a.ok("ENABLE UTF8=ACCEPT").await;
    a.ok("CREATE \"Lưu trữ/Hồ sơ\"").await;
    a.fails(
        &format!("CREATE \"{}\"", nfd("Lưu trữ/Hồ sơ")),
        "NO [ALREADYEXISTS]",
    )
    .await;
    a.fails(
        &format!("CREATE \"{}\"", nfd("Lưu trữ")),
        "NO [ALREADYEXISTS]",
    )
    .await;
    // An NFD name reaches the NFC folder, and the names stored are NFC.
    a.ok(&format!("SELECT \"{}\"", nfd("Lưu trữ/Hồ sơ"))).await;
    let names = folder_names(&server, server.account_a).await;
    assert!(names.contains(&"Lưu trữ/Hồ sơ".to_string()), "{names:?}");
    assert!(
        !names.iter().any(|n| n.nfc().collect::<String>() != *n),
        "{names:?}"
    );
    let list = a.ok(&format!("LIST \"\" \"{}*\"", nfd("Lưu trữ"))).await;
    assert_eq!(
        list,
        vec![
            "* LIST (\\HasChildren) \"/\" \"Lưu trữ\"",
            "* LIST (\\HasNoChildren) \"/\" \"Lưu trữ/Hồ sơ\"",
        ]
    );
    // INBOX in any case is INBOX, also as a parent: no second "inbox" folder.
    a.ok("CREATE \"inbox/Việc\"").await;
    let names = folder_names(&server, server.account_a).await;
    assert!(names.contains(&"INBOX/Việc".to_string()), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("inbox")), "{names:?}");
}

#[tokio::test]
async fn unit_folders_change_only_with_rights() {
    let (server, unit_account) = unit_server_with(|_| {}).await;
    server
        .store
        .delegate("STTTT", USER_A, storage::RIGHTS_READ, false)
        .await
        .unwrap();
    server.store.set_unit_head("STTTT", USER_B).await.unwrap();
    let a_before = folder_names(&server, server.account_a).await;
    let unit_before = folder_names(&server, unit_account).await;

    // A read-only delegate (lrs): no k, no x (RFC 4314 4).
    let mut a = Client::login(server.imap, USER_A).await;
    a.ok("ENABLE UTF8=ACCEPT").await;
    for name in [
        "Đơn vị/STTTT/Mới".to_string(),
        nfd("Đơn vị/STTTT/Mới"),
        "Đơn vị/stttt/Mới/Con".to_string(),
        "Đơn vị/STTTT/INBOX".to_string(),
        "Đơn vị/STTTT/INBOX/Con".to_string(),
    ] {
        a.fails(&format!("CREATE \"{name}\""), "NO [NOPERM]").await;
    }
    // A unit A cannot see answers like any reserved name.
    a.fails("CREATE \"Đơn vị/SNV/Mới\"", "NO [CANNOT]").await;
    a.fails("RENAME \"Đơn vị/STTTT/INBOX\" \"Của tôi\"", "NO [NOPERM]")
        .await;
    a.fails(
        "RENAME \"Đơn vị/STTTT/INBOX\" \"Đơn vị/STTTT/Cũ\"",
        "NO [NOPERM]",
    )
    .await;
    a.fails(
        &format!("RENAME \"{}\" \"Của tôi\"", nfd("Đơn vị/STTTT/INBOX")),
        "NO [NOPERM]",
    )
    .await;
    a.fails("DELETE \"Đơn vị/STTTT/INBOX\"", "NO [NOPERM]")
        .await;
    assert_eq!(folder_names(&server, server.account_a).await, a_before);
    assert_eq!(folder_names(&server, unit_account).await, unit_before);
    assert_eq!(
        a.ok("STATUS \"Đơn vị/STTTT/INBOX\" (MESSAGES)").await,
        vec!["* STATUS \"Đơn vị/STTTT/INBOX\" (MESSAGES 3)"]
    );

    // The head (every right): folders are made, renamed and deleted in the unit's mailbox.
    let mut b = Client::login(server.imap, USER_B).await;
    b.ok("ENABLE UTF8=ACCEPT").await;
    let b_before = folder_names(&server, server.account_b).await;
    b.ok("CREATE \"Đơn vị/STTTT/Lưu trữ/2026\"").await;
    let unit_now = folder_names(&server, unit_account).await;
    assert!(unit_now.contains(&"Lưu trữ".to_string()), "{unit_now:?}");
    assert!(
        unit_now.contains(&"Lưu trữ/2026".to_string()),
        "{unit_now:?}"
    );
    assert_eq!(folder_names(&server, server.account_b).await, b_before);
    let list = b.ok("LIST \"\" \"Đơn vị/STTTT/Lưu trữ/*\"").await;
    assert_eq!(
        list,
        vec!["* LIST (\\HasNoChildren) \"/\" \"Đơn vị/STTTT/Lưu trữ/2026\""]
    );
    b.ok("RENAME \"Đơn vị/STTTT/Lưu trữ\" \"Đơn vị/STTTT/Hồ sơ\"")
        .await;
    let unit_now = folder_names(&server, unit_account).await;
    assert!(unit_now.contains(&"Hồ sơ/2026".to_string()), "{unit_now:?}");
    assert!(
        !unit_now.iter().any(|n| n.starts_with("Lưu trữ")),
        "{unit_now:?}"
    );
    // Out of the unit, or into a reserved name: no.
    b.fails("RENAME \"Đơn vị/STTTT/Hồ sơ\" \"Riêng\"", "NO [CANNOT]")
        .await;
    b.fails("RENAME Sent \"Đơn vị/STTTT/Sent cũ\"", "NO [CANNOT]")
        .await;
    // RENAME of the unit's INBOX never renames anything, for the head either.
    b.fails(
        "RENAME \"Đơn vị/STTTT/INBOX\" \"Đơn vị/STTTT/Cũ\"",
        "NO [CANNOT]",
    )
    .await;
    assert_eq!(
        b.ok("STATUS \"Đơn vị/STTTT/INBOX\" (MESSAGES)").await,
        vec!["* STATUS \"Đơn vị/STTTT/INBOX\" (MESSAGES 3)"]
    );
    b.fails("DELETE \"Đơn vị/STTTT/Hồ sơ\"", "NO [HASCHILDREN]")
        .await;
    b.ok("DELETE \"Đơn vị/STTTT/Hồ sơ/2026\"").await;
    b.ok("DELETE \"Đơn vị/STTTT/Hồ sơ\"").await;
    assert_eq!(folder_names(&server, unit_account).await, unit_before);
    assert_eq!(folder_names(&server, server.account_b).await, b_before);
    // Who changed the unit's folders is on record.
    for action in [
        "unit.folder-create",
        "unit.folder-rename",
        "unit.folder-delete",
    ] {
        let events = server.store.events(action, 10).await.unwrap();
        assert!(
            !events.is_empty() && events.iter().all(|e| e.actor == USER_B && e.target == UNIT),
            "{action}: {events:?}"
        );
    }
}

#[tokio::test]
async fn folder_count_depth_and_length_are_bounded() {
    let defaults = storage::DEFAULT_FOLDERS.len();
    let server = start_with(|s| {
        s.max_folders = defaults + 3;
        s.max_folder_depth = 4;
    })
    .await;
    let before = folder_names(&server, server.account_a).await;
    assert_eq!(before.len(), defaults);
    let mut a = Client::login(server.imap, USER_A).await;
    a.ok("ENABLE UTF8=ACCEPT").await;
    // One 4 KB command asking for 2,000 nested folders creates none.
    let deep = vec!["a"; 2000].join("/");
    a.fails(&format!("CREATE \"{deep}\""), "NO [LIMIT]").await;
    a.fails("CREATE \"a/b/c/d/e\"", "NO [LIMIT]").await;
    a.fails(&format!("CREATE \"{}\"", "x".repeat(256)), "NO [LIMIT]")
        .await;
    a.fails(&format!("CREATE \"{}\"", "ư".repeat(128)), "NO [LIMIT]")
        .await;
    // Four new folders (three parents and the leaf) do not fit in three: none is created.
    a.fails("CREATE \"a/b/c/d\"", "NO [LIMIT]").await;
    assert_eq!(folder_names(&server, server.account_a).await, before);
    assert!(a.ok("LIST \"\" \"a*\"").await.is_empty());
    // Three do.
    a.ok("CREATE \"a/b/c\"").await;
    a.fails("CREATE z", "NO [LIMIT]").await;
    assert_eq!(
        folder_names(&server, server.account_a).await.len(),
        defaults + 3
    );
    // RENAME may not push a child past the depth limit (a/b/c would become p/q/b/c/...).
    a.fails("RENAME a \"p/q/r\"", "NO [LIMIT]").await;
    a.ok("RENAME a p").await;
    // Deleting makes room again.
    a.ok("DELETE \"p/b/c\"").await;
    a.ok("CREATE z").await;
    // Spaces around a level or invisible characters would make look-alikes of existing names.
    a.fails("CREATE \"Sent \"", "NO [CANNOT]").await;
    a.fails("CREATE \"Sent\u{200b}\"", "NO [CANNOT]").await;
    a.fails("CREATE \"Đơn\u{200b} vị/x\"", "NO [CANNOT]").await;
}
