//! IMAP over loopback, one test per command family.

use crate::common;

use std::time::Duration;

use common::*;

#[tokio::test]
async fn greeting_capabilities_and_login_rules() {
    let server = start_with(|s| s.allow_plaintext_loopback = false).await;
    let mut c = Client::connect(server.imap).await;
    assert!(
        c.greeting
            .starts_with("* OK [CAPABILITY IMAP4rev1 IMAP4rev2"),
        "{}",
        c.greeting
    );
    assert!(
        c.greeting.contains("STARTTLS") && c.greeting.contains("LOGINDISABLED"),
        "{}",
        c.greeting
    );
    // No passwords in cleartext.
    c.fails(
        &format!("LOGIN {USER_A} {PASSWORD}"),
        "NO [PRIVACYREQUIRED]",
    )
    .await;
    c.fails("SELECT INBOX", "BAD").await;
    let lines = c.ok("CAPABILITY").await;
    assert!(
        lines[0].contains("IDLE")
            && lines[0].contains("UIDPLUS")
            && lines[0].contains("APPENDLIMIT="),
        "{lines:?}"
    );
    c.ok("LOGOUT").await;

    let server = start().await;
    let mut c = Client::connect(server.imap).await;
    c.fails(
        &format!("LOGIN {USER_A} wrong-password"),
        "NO [AUTHENTICATIONFAILED]",
    )
    .await;
    c.fails(
        "LOGIN nobody@kontum.gov.vn whatever",
        "NO [AUTHENTICATIONFAILED]",
    )
    .await;
    let ok = c.run(&format!("LOGIN {USER_A} {PASSWORD}")).await.1;
    assert!(ok.starts_with("OK [CAPABILITY"), "{ok}");
    c.fails(&format!("LOGIN {USER_A} {PASSWORD}"), "BAD").await;

    // AUTHENTICATE PLAIN with SASL-IR and with a continuation.
    use base64::Engine;
    let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0{USER_B}\0{PASSWORD}"));
    let mut c = Client::connect(server.imap).await;
    c.ok(&format!("AUTHENTICATE PLAIN {plain}")).await;
    let mut c = Client::connect(server.imap).await;
    c.send(b"A1 AUTHENTICATE PLAIN\r\n").await;
    assert!(c.line().await.starts_with('+'));
    c.send(format!("{plain}\r\n").as_bytes()).await;
    assert!(c.line().await.starts_with("A1 OK"));
}

#[tokio::test]
async fn disabled_and_must_change_accounts_cannot_log_in() {
    let server = start().await;
    server
        .store
        .set_status(USER_B, storage::AccountStatus::Disabled)
        .await
        .unwrap();
    let mut c = Client::connect(server.imap).await;
    c.fails(
        &format!("LOGIN {USER_B} {PASSWORD}"),
        "NO [AUTHENTICATIONFAILED]",
    )
    .await;
    server
        .store
        .set_password(USER_A, &policy::password::hash(PASSWORD).unwrap(), true)
        .await
        .unwrap();
    let status = c
        .fails(&format!("LOGIN {USER_A} {PASSWORD}"), "NO [ALERT]")
        .await;
    assert!(status.contains("/password"), "{status}");
}

#[tokio::test]
async fn select_fetch_envelope_bodystructure_and_sections() {
    let server = start().await;
    server
        .deliver(
            server.account_a,
            &message("Công văn số 15", "Kính gửi anh An"),
        )
        .await;
    server
        .deliver(server.account_a, &message("Báo cáo", "Nội dung thứ hai"))
        .await;
    let mut c = Client::login(server.imap, USER_A).await;
    let lines = c.ok("SELECT INBOX").await;
    assert!(lines.contains(&"* 2 EXISTS".to_string()), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("* OK [UIDVALIDITY ")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("* OK [UIDNEXT 3]")),
        "{lines:?}"
    );
    let lines = c
        .ok("FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE)")
        .await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    // RFC 3501 2.3.2: the first session to select after delivery sees \Recent.
    assert!(
        lines[0].starts_with("* 1 FETCH (UID 1 FLAGS (\\Recent) RFC822.SIZE "),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("\"Mon, 23 Nov 2026 10:00:00 +0700\""),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains(
            "((\"=?UTF-8?B?Tmd1eeG7hW4gVsSDbiBBbg==?=\" NIL \"nvan.stttt\" \"kontum.gov.vn\"))"
        ),
        "{}",
        lines[0]
    );
    let lines = c.ok("FETCH 1 BODYSTRUCTURE").await;
    assert!(
        lines[0]
            .contains("BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"8BIT\""),
        "{lines:?}"
    );
    // PEEK does not set \Seen; BODY[] does.
    let lines = c.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)])").await;
    assert!(
        lines[0].contains("BODY[HEADER.FIELDS (Subject)] {")
            && lines[0].contains("Subject: Công văn số 15"),
        "{lines:?}"
    );
    let lines = c.ok("FETCH 1 FLAGS").await;
    assert!(lines[0].contains("FLAGS (\\Recent)"), "{lines:?}");
    let lines = c.ok("FETCH 1 BODY[TEXT]").await;
    assert!(
        lines[0].contains("Kính gửi anh An") && lines[0].contains("FLAGS (\\Seen \\Recent)"),
        "{lines:?}"
    );
    let lines = c.ok("UID FETCH 2 (BODY[]<0.4>)").await;
    assert!(
        lines[0].contains("UID 2") && lines[0].contains("BODY[]<0> {4}"),
        "{lines:?}"
    );
    c.fails("FETCH 9 FLAGS", "BAD").await;
    c.ok("UID FETCH 99 FLAGS").await;
}

/// A message far larger than the inline limit: its sections are streamed from the body file.
fn large_message() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    use base64::Engine;
    let binary: Vec<u8> = (0..3 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&binary);
    let mut text = Vec::new();
    for i in 0..6000 {
        text.extend_from_slice(format!("Dong {i:05} cua bao cao quy bon nam 2026\r\n").as_bytes());
    }
    let mut raw = b"From: <nvan.stttt@kontum.gov.vn>\r\nTo: <ttbinh.stttt@kontum.gov.vn>\r\n\
Subject: =?UTF-8?Q?B=C3=A1o_c=C3=A1o_l=E1=BB=9Bn?=\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\nXem tep dinh kem.\r\n--b1\r\n\
Content-Type: application/octet-stream; name=\"so-lieu.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        .to_vec();
    for line in encoded.as_bytes().chunks(76) {
        raw.extend_from_slice(line);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n");
    raw.extend_from_slice(&text);
    raw.extend_from_slice(b"\r\n--b1--\r\n");
    (raw, binary, text)
}

#[tokio::test]
async fn large_bodies_are_streamed_exactly() {
    let server = start().await;
    let (raw, binary, text) = large_message();
    server.deliver(server.account_a, &raw).await;
    server.deliver(server.account_a, &message("nho", "x")).await;
    let id = storage::blob::blob_id(&raw);
    let file = server.dir.path().join("blobs").join(&id[..2]).join(&id);
    assert_eq!(
        std::fs::metadata(file).unwrap().len(),
        raw.len() as u64,
        "kept as a file"
    );
    let mut c = Client::login(server.imap, USER_A).await;
    c.ok("SELECT INBOX").await;
    // The whole message, then a small one right after it in the same response.
    let lines = c.ok("FETCH 1:2 (RFC822.SIZE BODY.PEEK[])").await;
    assert_eq!(lines.len(), 2);
    let head = format!("* 1 FETCH (RFC822.SIZE {0} BODY[] {{{0}}}\r\n", raw.len());
    assert!(lines[0].starts_with(&head), "{}", &lines[0][..200]);
    assert_eq!(
        lines[0].as_bytes()[head.len()..head.len() + raw.len()],
        raw[..]
    );
    assert_eq!(&lines[0][head.len() + raw.len()..], ")");
    assert!(
        lines[1].starts_with("* 2 FETCH (RFC822.SIZE "),
        "{}",
        lines[1]
    );
    // A partial range of the large text part.
    let lines = c.ok("FETCH 1 BODY.PEEK[3]<100000.90000>").await;
    let head = "* 1 FETCH (BODY[3]<100000> {90000}\r\n";
    assert!(lines[0].starts_with(head), "{}", &lines[0][..80]);
    assert_eq!(
        lines[0].as_bytes()[head.len()..head.len() + 90000],
        text[100000..190000]
    );
    // BINARY of an identity-encoded part is the part's body; of base64 the decoded bytes,
    // which hold NULs and so come as a literal8.
    let lines = c
        .ok("FETCH 1 (BINARY.SIZE[2] BINARY.SIZE[3] BINARY.PEEK[3])")
        .await;
    let expected = format!(
        "* 1 FETCH (BINARY.SIZE[2] {} BINARY.SIZE[3] {} BINARY[3] {{{}}}\r\n",
        binary.len(),
        text.len(),
        text.len()
    );
    assert!(lines[0].starts_with(&expected), "{}", &lines[0][..120]);
    assert_eq!(
        lines[0].as_bytes()[expected.len()..expected.len() + text.len()],
        text[..]
    );
    let lines = c.ok("FETCH 1 BINARY.PEEK[2]<0.1000>").await;
    assert!(
        lines[0].starts_with("* 1 FETCH (BINARY[2]<0> ~{1000}\r\n"),
        "{}",
        &lines[0][..60]
    );
    // Headers of the large message come from its stored offsets.
    let lines = c
        .ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[2.MIME])")
        .await;
    assert!(lines[0].contains("Subject: =?UTF-8?Q?B=C3=A1o_c=C3=A1o_l=E1=BB=9Bn?=\r\n\r\n"));
    assert!(lines[0].contains("name=\"so-lieu.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n)"));
    // The session goes on normally after the streamed literals.
    c.ok("NOOP").await;
}

#[tokio::test]
async fn store_search_copy_move_expunge() {
    let server = start().await;
    for (subject, body) in [
        ("Một", "alpha"),
        ("HAI chữ hoa", "beta"),
        ("Ba", "Trân trọng kính báo"),
    ] {
        server
            .deliver(server.account_a, &message(subject, body))
            .await;
    }
    let mut c = Client::login(server.imap, USER_A).await;
    c.ok("SELECT INBOX").await;
    let lines = c.ok("STORE 1 +FLAGS (\\Flagged $Important)").await;
    // RFC 9051 7.3.5: the new keyword is announced (FLAGS) before a FETCH shows it; the
    // message is \Recent in this session (RFC 3501 2.3.2).
    assert!(lines[0].starts_with("* FLAGS (") && lines[0].contains("$Important"));
    assert!(
        lines[2].contains("FLAGS (\\Flagged $Important \\Recent)"),
        "{lines:?}"
    );
    assert!(c.ok("STORE 2 +FLAGS.SILENT (\\Seen)").await.is_empty());
    assert_eq!(c.ok("SEARCH FLAGGED").await, vec!["* SEARCH 1"]);
    assert_eq!(c.ok("SEARCH UNSEEN").await, vec!["* SEARCH 1 3"]);
    assert_eq!(
        c.ok("UID SEARCH KEYWORD $Important").await,
        vec!["* SEARCH 1"]
    );
    assert_eq!(
        c.ok("SEARCH CHARSET UTF-8 SUBJECT \"hai CHỮ\"").await,
        vec!["* SEARCH 2"]
    );
    assert_eq!(c.ok("SEARCH BODY \"TRÂN TRỌNG\"").await, vec!["* SEARCH 3"]);
    assert_eq!(c.ok("SEARCH OR FLAGGED SEEN").await, vec!["* SEARCH 1 2"]);
    assert_eq!(c.ok("SEARCH NOT SEEN UID 2:*").await, vec!["* SEARCH 3"]);
    let lines = c.ok("SEARCH RETURN (MIN MAX COUNT) ALL").await;
    // RFC 4731 3.1, RFC 9051 7.3.4: the correlator names this command's tag.
    let tag = format!("T{}", c.next_tag() - 1);
    assert_eq!(
        lines,
        vec![format!("* ESEARCH (TAG \"{tag}\") MIN 1 MAX 3 COUNT 3")]
    );
    c.fails("SEARCH CHARSET KOI8-R ALL", "NO [BADCHARSET").await;

    c.ok("CREATE \"Lưu trữ/2026\"").await;
    let status = c.run("COPY 1:2 \"Lưu trữ/2026\"").await.1;
    assert!(status.starts_with("OK [COPYUID "), "{status}");
    assert!(status.contains(" 1:2 1:2]"), "{status}");
    c.fails("COPY 1 Nowhere", "NO [TRYCREATE]").await;
    let (lines, status) = c.run("UID MOVE 3 Archive").await;
    assert!(status.starts_with("OK"), "{status}");
    assert!(
        lines.iter().any(|l| l.starts_with("* OK [COPYUID ")),
        "{lines:?}"
    );
    assert!(lines.contains(&"* 3 EXPUNGE".to_string()), "{lines:?}");
    c.ok("STORE 1 +FLAGS (\\Deleted)").await;
    let lines = c.ok("EXPUNGE").await;
    assert_eq!(lines, vec!["* 1 EXPUNGE"]);
    let lines = c
        .ok("STATUS \"Lưu trữ/2026\" (MESSAGES UIDNEXT UNSEEN SIZE)")
        .await;
    assert!(
        lines[0].contains("MESSAGES 2")
            && lines[0].contains("UIDNEXT 3")
            && lines[0].contains("UNSEEN 1"),
        "{lines:?}"
    );
    // Quota usage follows copies and expunges exactly.
    let used: i64 = {
        let mut total = 0;
        for folder in server.store.folders(server.account_a).await.unwrap() {
            for m in server.store.messages(folder.id).await.unwrap() {
                total += m.size;
            }
        }
        total
    };
    assert_eq!(server.store.person(USER_A).await.unwrap().used_bytes, used);
}

#[tokio::test]
async fn folders_list_create_rename_delete_subscribe() {
    let server = start().await;
    let mut c = Client::login(server.imap, USER_A).await;
    let lines = c.ok("LIST \"\" \"*\"").await;
    for expected in [
        "* LIST (\\HasNoChildren) \"/\" \"INBOX\"",
        "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\"",
        "* LIST (\\HasNoChildren \\Junk) \"/\" \"Junk\"",
    ] {
        assert!(
            lines.contains(&expected.to_string()),
            "{expected} missing in {lines:?}"
        );
    }
    assert_eq!(
        c.ok("LIST \"\" \"\"").await,
        vec!["* LIST (\\Noselect) \"/\" \"\""]
    );
    c.ok("CREATE \"Tổ chức/Báo cáo\"").await;
    // Without UTF8=ACCEPT names go out in modified UTF-7.
    let lines = c.ok("LIST \"\" \"*\"").await;
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&imap::protocol::mutf7::encode("Tổ chức/Báo cáo"))),
        "{lines:?}"
    );
    c.ok("ENABLE UTF8=ACCEPT").await;
    let lines = c.ok("LIST \"\" \"Tổ chức/%\"").await;
    assert_eq!(
        lines,
        vec!["* LIST (\\HasNoChildren) \"/\" \"Tổ chức/Báo cáo\""]
    );
    c.fails("CREATE INBOX", "NO").await;
    c.fails("CREATE \"Tổ chức/Báo cáo\"", "NO [ALREADYEXISTS]")
        .await;
    c.ok("RENAME \"Tổ chức\" \"Phòng ban\"").await;
    let lines = c.ok("LIST \"\" \"Phòng ban/*\"").await;
    assert_eq!(
        lines,
        vec!["* LIST (\\HasNoChildren) \"/\" \"Phòng ban/Báo cáo\""]
    );
    c.fails("DELETE \"Phòng ban\"", "NO [HASCHILDREN]").await;
    c.ok("DELETE \"Phòng ban/Báo cáo\"").await;
    c.fails("DELETE INBOX", "NO").await;
    c.ok("UNSUBSCRIBE Trash").await;
    let lines = c.ok("LSUB \"\" \"*\"").await;
    assert!(!lines.iter().any(|l| l.contains("Trash")), "{lines:?}");
    let lines = c.ok("LIST (SPECIAL-USE) \"\" \"*\"").await;
    assert!(
        lines.iter().all(|l| l.contains("\\Sent")
            || l.contains("\\Junk")
            || l.contains("\\Trash")
            || l.contains("\\Drafts")
            || l.contains("\\Archive")),
        "{lines:?}"
    );
    let lines = c.ok("LIST \"\" \"INBOX\" RETURN (STATUS (MESSAGES))").await;
    assert_eq!(
        lines,
        vec![
            "* LIST (\\HasNoChildren) \"/\" \"INBOX\"",
            "* STATUS \"INBOX\" (MESSAGES 0)"
        ]
    );
    // RENAME INBOX moves its messages and leaves INBOX empty.
    server.deliver(server.account_a, &message("x", "y")).await;
    c.ok("RENAME INBOX \"Old mail\"").await;
    assert_eq!(
        c.ok("STATUS INBOX (MESSAGES)").await,
        vec!["* STATUS \"INBOX\" (MESSAGES 0)"]
    );
    assert_eq!(
        c.ok("STATUS \"Old mail\" (MESSAGES)").await,
        vec!["* STATUS \"Old mail\" (MESSAGES 1)"]
    );
}

#[tokio::test]
async fn append_with_literals_and_quota() {
    let server = start().await;
    let mut c = Client::login(server.imap, USER_A).await;
    let raw = message("Nháp", "bản nháp");
    c.send(
        format!(
            "A1 APPEND Drafts (\\Draft) \"23-Nov-2026 10:00:00 +0700\" {{{}}}\r\n",
            raw.len()
        )
        .as_bytes(),
    )
    .await;
    assert!(c.line().await.starts_with('+'));
    c.send(&raw).await;
    c.send(b"\r\n").await;
    let status = c.line().await;
    assert!(status.starts_with("A1 OK [APPENDUID "), "{status}");
    // LITERAL+: no continuation.
    c.send(format!("A2 APPEND Drafts {{{}+}}\r\n", raw.len()).as_bytes())
        .await;
    c.send(&raw).await;
    c.send(b"\r\n").await;
    assert!(c.line().await.starts_with("A2 OK [APPENDUID"));
    c.fails("APPEND Nowhere {3+}\r\nabc", "NO [TRYCREATE]")
        .await;
    server.store.set_quota(USER_A, 100).await.unwrap();
    c.send(format!("A3 APPEND INBOX {{{}+}}\r\n", raw.len()).as_bytes())
        .await;
    c.send(&raw).await;
    c.send(b"\r\n").await;
    let status = c.line().await;
    assert!(status.starts_with("A3 NO [OVERQUOTA]"), "{status}");
    let lines = c.ok("GETQUOTAROOT INBOX").await;
    assert_eq!(lines[0], "* QUOTAROOT \"INBOX\" \"\"");
    assert!(lines[1].starts_with("* QUOTA \"\" (STORAGE "), "{lines:?}");
    let stored = server
        .store
        .folder(server.account_a, "Drafts")
        .await
        .unwrap();
    let messages = server.store.messages(stored.id).await.unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].flags, "\\Draft");
    assert_eq!(
        server.store.read_blob(&messages[0].blob_id).await.unwrap(),
        raw
    );
}

#[tokio::test]
async fn idle_sees_other_sessions_changes_within_a_second() {
    let server = start().await;
    server
        .deliver(server.account_a, &message("first", "x"))
        .await;
    let mut idler = Client::login(server.imap, USER_A).await;
    idler.ok("SELECT INBOX").await;
    idler.send(b"I1 IDLE\r\n").await;
    assert!(idler.line().await.starts_with('+'));
    let mut other = Client::login(server.imap, USER_A).await;
    other.ok("SELECT INBOX").await;
    /// The next pushed line; RECENT, which RFC 3501 7.3.2 sends after EXISTS in an IMAP4rev1
    /// session, is skipped.
    async fn wait(c: &mut Client) -> String {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(1), c.line())
                .await
                .expect("pushed within 1 s");
            if !line.trim_end().ends_with(" RECENT") {
                return line;
            }
        }
    }
    // A new message by SMTP.
    server
        .deliver(server.account_a, &message("second", "y"))
        .await;
    assert_eq!(wait(&mut idler).await.trim_end(), "* 2 EXISTS");
    // APPEND from the other session.
    other.ok("APPEND INBOX {5+}\r\nhello").await;
    assert_eq!(wait(&mut idler).await.trim_end(), "* 3 EXISTS");
    // Flags from the other session.
    other.ok("STORE 1 +FLAGS (\\Seen)").await;
    assert_eq!(
        wait(&mut idler).await.trim_end(),
        "* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent))"
    );
    // Expunge from the other session.
    other.ok("STORE 2 +FLAGS (\\Deleted)").await;
    assert!(wait(&mut idler).await.contains("FETCH"));
    other.ok("EXPUNGE").await;
    assert_eq!(wait(&mut idler).await.trim_end(), "* 2 EXPUNGE");
    idler.send(b"DONE\r\n").await;
    assert!(idler.line().await.starts_with("I1 OK"));
    let lines = idler.ok("FETCH 1:* UID").await;
    assert_eq!(lines, vec!["* 1 FETCH (UID 1)", "* 2 FETCH (UID 3)"]);
}

#[tokio::test]
async fn concurrent_expunges_keep_uids_and_sequence_numbers_consistent() {
    let server = start().await;
    for i in 0..20 {
        server
            .deliver(server.account_a, &message(&format!("m{i}"), "x"))
            .await;
    }
    let mut a = Client::login(server.imap, USER_A).await;
    let mut b = Client::login(server.imap, USER_A).await;
    a.ok("SELECT INBOX").await;
    b.ok("SELECT INBOX").await;
    a.ok("STORE 1:10 +FLAGS.SILENT (\\Deleted)").await;
    b.ok("STORE 5:15 +FLAGS.SILENT (\\Deleted)").await;
    let (ra, rb) = tokio::join!(a.run("EXPUNGE"), b.run("EXPUNGE"));
    assert!(ra.1.starts_with("OK") && rb.1.starts_with("OK"));
    a.ok("NOOP").await;
    b.ok("NOOP").await;
    let la = a.ok("FETCH 1:* UID").await;
    let lb = b.ok("FETCH 1:* UID").await;
    assert_eq!(la, lb, "both sessions agree");
    let expected: Vec<String> = (16..=20)
        .enumerate()
        .map(|(i, uid)| format!("* {} FETCH (UID {uid})", i + 1))
        .collect();
    assert_eq!(la, expected);
}

#[tokio::test]
async fn condstore_modseq_and_unchangedsince() {
    let server = start().await;
    server.deliver(server.account_a, &message("a", "x")).await;
    server.deliver(server.account_a, &message("b", "y")).await;
    let mut c = Client::login(server.imap, USER_A).await;
    let lines = c.ok("SELECT INBOX (CONDSTORE)").await;
    let highest: i64 = lines
        .iter()
        .find_map(|l| {
            l.strip_prefix("* OK [HIGHESTMODSEQ ")
                .and_then(|r| r.split(']').next())
                .and_then(|n| n.parse().ok())
        })
        .expect("HIGHESTMODSEQ");
    let lines = c.ok("STORE 1 +FLAGS (\\Seen)").await;
    assert!(
        lines[0].contains(&format!("MODSEQ ({})", highest + 1)),
        "{lines:?}"
    );
    let lines = c
        .ok(&format!("FETCH 1:* (FLAGS) (CHANGEDSINCE {highest})"))
        .await;
    assert_eq!(lines.len(), 1, "only the changed message: {lines:?}");
    let status = c
        .run(&format!(
            "STORE 1,2 (UNCHANGEDSINCE {highest}) +FLAGS (\\Flagged)"
        ))
        .await
        .1;
    assert!(status.starts_with("OK [MODIFIED 1]"), "{status}");
    assert_eq!(
        c.ok(&format!("SEARCH MODSEQ {}", highest + 1)).await,
        vec![format!("* SEARCH 1 2 (MODSEQ {})", highest + 2)]
    );
}

fn response_code(lines: &[String], code: &str) -> i64 {
    lines
        .iter()
        .find_map(|l| {
            l.strip_prefix(&format!("* OK [{code} "))
                .and_then(|r| r.split(']').next())
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or_else(|| panic!("{code} in {lines:?}"))
}

#[tokio::test]
async fn qresync_vanished_and_quick_resynchronisation() {
    let server = start().await;
    for i in 1..=6 {
        server
            .deliver(server.account_a, &message(&format!("m{i}"), "x"))
            .await;
    }
    // Without ENABLE QRESYNC the parameters are refused.
    let mut plain = Client::login(server.imap, USER_A).await;
    assert!(
        plain.greeting.contains("QRESYNC") || {
            let caps = plain.ok("CAPABILITY").await;
            caps[0].contains(" QRESYNC")
        }
    );
    plain.fails("SELECT INBOX (QRESYNC (1 1))", "BAD").await;
    let lines = plain.ok("SELECT INBOX").await;
    let uidvalidity = response_code(&lines, "UIDVALIDITY");
    let known = response_code(&lines, "HIGHESTMODSEQ");
    plain
        .fails("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)", "BAD")
        .await;

    let mut q = Client::login(server.imap, USER_A).await;
    assert_eq!(q.ok("ENABLE QRESYNC").await, vec!["* ENABLED QRESYNC"]);
    q.ok("SELECT INBOX").await;

    // Another session changes flags and expunges.
    plain.ok("STORE 2 +FLAGS.SILENT (\\Flagged)").await;
    plain.ok("STORE 3:4 +FLAGS.SILENT (\\Deleted)").await;
    let lines = plain.ok("EXPUNGE").await;
    assert_eq!(
        lines,
        vec!["* 3 EXPUNGE", "* 3 EXPUNGE"],
        "EXPUNGE without QRESYNC"
    );

    // The QRESYNC session hears VANISHED, never EXPUNGE.
    let lines = q.ok("NOOP").await;
    assert!(lines.contains(&"* VANISHED 3:4".to_string()), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("EXPUNGE")), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (")),
        "{lines:?}"
    );
    // Its own expunge is reported as VANISHED too.
    q.ok("UID STORE 6 +FLAGS.SILENT (\\Deleted)").await;
    assert_eq!(q.ok("UID EXPUNGE 6").await, vec!["* VANISHED 6"]);

    // A reconnecting client catches up in SELECT: VANISHED (EARLIER) then changed flags.
    let mut r = Client::login(server.imap, USER_A).await;
    r.ok("ENABLE QRESYNC").await;
    let lines = r
        .ok(&format!("SELECT INBOX (QRESYNC ({uidvalidity} {known}))"))
        .await;
    assert!(
        lines.contains(&"* VANISHED (EARLIER) 3:4,6".to_string()),
        "{lines:?}"
    );
    let fetches: Vec<&String> = lines.iter().filter(|l| l.contains(" FETCH ")).collect();
    assert_eq!(fetches.len(), 1, "{lines:?}");
    assert!(
        fetches[0].starts_with("* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ ("),
        "{lines:?}"
    );
    let vanished_at = lines.iter().position(|l| l.starts_with("* VANISHED"));
    let fetch_at = lines.iter().position(|l| l.contains(" FETCH "));
    assert!(vanished_at < fetch_at, "VANISHED before FETCH: {lines:?}");
    // Selecting again announces that the previous mailbox was closed.
    let lines = r
        .ok(&format!(
            "EXAMINE INBOX (QRESYNC ({uidvalidity} {known} 1:2))"
        ))
        .await;
    assert!(lines[0].starts_with("* OK [CLOSED]"), "{lines:?}");
    assert!(
        !lines.iter().any(|l| l.starts_with("* VANISHED")),
        "known UIDs 1:2 lost nothing: {lines:?}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.contains(" FETCH ")).count(),
        1,
        "{lines:?}"
    );
    // A different UIDVALIDITY: a plain SELECT, no resynchronisation data.
    let lines = r
        .ok(&format!(
            "SELECT INBOX (QRESYNC ({} {known}))",
            uidvalidity + 1
        ))
        .await;
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("* VANISHED") || l.contains(" FETCH ")),
        "{lines:?}"
    );
    // UID FETCH ... (CHANGEDSINCE m VANISHED).
    let lines = r
        .ok(&format!(
            "UID FETCH 1:* (FLAGS) (CHANGEDSINCE {known} VANISHED)"
        ))
        .await;
    assert_eq!(lines[0], "* VANISHED (EARLIER) 3:4,6", "{lines:?}");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[1].contains("UID 2") && lines[1].contains("MODSEQ ("));
    let lines = r
        .ok(&format!(
            "UID FETCH 1:3 (FLAGS) (CHANGEDSINCE {known} VANISHED)"
        ))
        .await;
    assert_eq!(
        lines[0], "* VANISHED (EARLIER) 3",
        "only inside the set: {lines:?}"
    );
}

#[tokio::test]
async fn users_cannot_reach_other_mailboxes() {
    let server = start().await;
    server
        .deliver(server.account_b, &message("bí mật", "riêng tư"))
        .await;
    let mut c = Client::login(server.imap, USER_A).await;
    for name in [
        "../ttbinh.stttt@kontum.gov.vn/INBOX",
        "ttbinh.stttt@kontum.gov.vn/INBOX",
        "/INBOX",
        "INBOX/..",
        "~ttbinh/INBOX",
        "#shared/ttbinh/INBOX",
        "Other Users/ttbinh/INBOX",
    ] {
        let (_, status) = c.run(&format!("SELECT \"{name}\"")).await;
        assert!(status.starts_with("NO"), "{name}: {status}");
        let (_, status) = c.run(&format!("STATUS \"{name}\" (MESSAGES)")).await;
        assert!(status.starts_with("NO"), "{name}: {status}");
    }
    let lines = c.ok("LIST \"\" \"*\"").await;
    assert!(!lines.iter().any(|l| l.contains("ttbinh")), "{lines:?}");
    c.ok("SELECT INBOX").await;
    // B's message has UID 1 in B's INBOX; A's INBOX is empty, so UID 1 finds nothing.
    assert!(c.ok("UID FETCH 1:* (BODY.PEEK[])").await.is_empty());
    assert_eq!(c.ok("SEARCH ALL").await, vec!["* SEARCH"]);
    c.fails("GETACL \"../ttbinh.stttt@kontum.gov.vn/INBOX\"", "NO")
        .await;
    // A person's own mailbox is not shared (grants are for unit mailboxes).
    c.fails("SETACL INBOX ttbinh.stttt@kontum.gov.vn lr", "NO [CANNOT]")
        .await;
}

#[tokio::test]
async fn hostile_input_gets_bad_and_bounded_memory() {
    let server = start_with(|s| {
        s.max_literal = 10_000;
        s.max_line_length = 2_000;
        s.max_errors = 50;
    })
    .await;
    let mut c = Client::login(server.imap, USER_A).await;
    c.ok("SELECT INBOX").await;
    c.fails("FETCH 1:* (FLAGS", "BAD").await;
    c.fails("SEARCH ((((((((ALL", "BAD").await;
    let deep = format!("SEARCH {}ALL{}", "(".repeat(5000), ")".repeat(5000));
    c.fails(&deep, "BAD").await;
    c.send(b"X1 LOGIN \xff\xfe \xc3\x28\r\n").await;
    assert!(c.line().await.starts_with("X1 BAD"));
    // A huge synchronising literal is refused before the client sends it.
    c.send(b"X2 APPEND INBOX {999999999}\r\n").await;
    let reply = c.line().await;
    assert!(
        reply.starts_with("X2 BAD [TOOBIG]") || reply.starts_with("X2 NO [TOOBIG]"),
        "{reply}"
    );
    // A huge non-synchronising one is read and dropped.
    c.send(b"X3 APPEND INBOX {20000+}\r\n").await;
    c.send(&vec![b'a'; 20000]).await;
    c.send(b"\r\n").await;
    let reply = c.line().await;
    assert!(reply.contains("TOOBIG"), "{reply}");
    // An over-long line.
    c.send(format!("X4 NOOP {}\r\n", "a".repeat(5000)).as_bytes())
        .await;
    assert!(c.line().await.contains("BAD"));
    // Still alive and correct.
    c.ok("NOOP").await;
    c.fails("BOGUS", "BAD").await;
}

#[tokio::test]
async fn total_connection_cap_is_enforced() {
    let server = start_with(|s| {
        s.max_connections = 2;
        s.max_connections_per_ip = 100;
    })
    .await;
    let a = Client::connect(server.imap).await;
    let b = Client::connect(server.imap).await;
    assert!(a.greeting.starts_with("* OK") && b.greeting.starts_with("* OK"));
    let third = Client::connect(server.imap).await;
    assert!(
        third.greeting.starts_with("* BYE [UNAVAILABLE]"),
        "{}",
        third.greeting
    );
    // A slot freed is a slot usable again.
    drop((a, third));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = Client::connect(server.imap).await;
    assert!(again.greeting.starts_with("* OK"), "{}", again.greeting);
}

#[tokio::test]
async fn limits_autologout_connections_and_auth_throttling() {
    let server = start_with(|s| {
        s.idle_timeout = Duration::from_secs(1);
        s.max_connections_per_ip = 2;
    })
    .await;
    // Auto-logout of an idle session (RFC 9051 5.4; 30 minutes in production).
    let mut idle = Client::login(server.imap, USER_A).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(idle.line().await.starts_with("* BYE"), "autologout");
    drop(idle);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Per-IP connection cap: the third is refused with BYE.
    let _a = Client::connect(server.imap).await;
    let _b = Client::connect(server.imap).await;
    let third = Client::connect(server.imap).await;
    assert!(
        third.greeting.starts_with("* BYE [UNAVAILABLE]"),
        "{}",
        third.greeting
    );
    drop((_a, _b, third));
    tokio::time::sleep(Duration::from_millis(200)).await;

    // AUTH failures lock the account (the throttle is shared with SMTP in `serve`).
    let server = start().await;
    let mut c = Client::connect(server.imap).await;
    for _ in 0..5 {
        c.fails(
            &format!("LOGIN {USER_B} wrong-password"),
            "NO [AUTHENTICATIONFAILED]",
        )
        .await;
    }
    c.fails(&format!("LOGIN {USER_B} {PASSWORD}"), "NO [UNAVAILABLE]")
        .await;
    assert_eq!(
        server.store.events("auth.locked", 5).await.unwrap().len(),
        1
    );
}

/// KT-7.1: the ALERT an initial password gets names the password page as people reach it
/// (the configured public URL and port), not a guess from the host name. RFC 9051 7.1: ALERT
/// text is shown to the user as it is.
#[tokio::test]
async fn initial_password_alert_names_the_configured_page() {
    let page = "https://thu.kontum.gov.vn:8443/password";
    let server = start_with(|s| s.password_url = page.to_string()).await;
    server
        .store
        .set_password(USER_A, &policy::password::hash(PASSWORD).unwrap(), true)
        .await
        .unwrap();
    let mut c = Client::connect(server.imap).await;
    let status = c
        .fails(&format!("LOGIN {USER_A} {PASSWORD}"), "NO [ALERT]")
        .await;
    assert!(status.trim_end().ends_with(page), "{status}");
}
