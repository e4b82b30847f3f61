//! The serving store takes a folder as unchanged while no change to it has been announced and
//! it was read less than `storage::listing::RECHECK` ago (`Store::trusting_announced_changes`,
//! as `govmail serve` opens it). What must hold (RFC 9051 7.5: a server reports changes to the
//! selected mailbox as untagged responses, at the latest at the next command that allows
//! them): another session's change, made through the same server, is reported at the very
//! next command; a change made behind the server's back (another process on the same SQLite
//! file, as the CLI is) within RECHECK.

use crate::common;

use std::time::Duration;

use common::*;

fn has_line(lines: &[String], start: &str, containing: &str) -> bool {
    lines
        .iter()
        .any(|l| l.starts_with(start) && l.contains(containing))
}

/// A server whose user A has `n` messages in INBOX.
async fn server_with_mail(n: usize) -> TestServer {
    let server = start().await;
    for i in 1..=n {
        server
            .deliver(server.account_a, &message(&format!("thư {i}"), "nội dung"))
            .await;
    }
    server
}

#[tokio::test]
async fn another_sessions_changes_are_reported_at_the_next_command() {
    let server = server_with_mail(3).await;
    assert!(server.store.trusts_announced_changes());
    let mut a = Client::login(server.imap, USER_A).await;
    let mut other = Client::login(server.imap, USER_A).await;
    a.ok("SELECT INBOX").await;
    other.ok("SELECT INBOX").await;
    // Read once, so that the folder is known current when the other session writes.
    a.ok("FETCH 1:* (FLAGS)").await;

    other.ok("STORE 1 +FLAGS (\\Flagged)").await;
    let lines = a.ok("NOOP").await;
    assert!(has_line(&lines, "* 1 FETCH", "\\Flagged"), "{lines:?}");

    other.ok("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    other.ok("EXPUNGE").await;
    let lines = a.ok("NOOP").await;
    assert!(lines.iter().any(|l| l == "* 2 EXPUNGE"), "{lines:?}");

    let raw = String::from_utf8(message("thư mới", "nội dung")).unwrap();
    let (_, status) = other
        .run(&format!("APPEND INBOX {{{}+}}\r\n{raw}", raw.len()))
        .await;
    assert!(status.starts_with("OK"), "{status}");
    let lines = a.ok("NOOP").await;
    assert!(lines.iter().any(|l| l == "* 3 EXISTS"), "{lines:?}");
    // The shared listing has it too.
    let lines = a.ok("FETCH 3 (FLAGS)").await;
    assert!(has_line(&lines, "* 3 FETCH", "FLAGS"), "{lines:?}");
    let lines = a.ok("UID SEARCH FLAGGED").await;
    assert!(lines.iter().any(|l| l == "* SEARCH 1"), "{lines:?}");
}

#[tokio::test]
async fn a_change_made_by_another_process_is_reported_within_the_recheck() {
    let server = server_with_mail(2).await;
    let mut a = Client::login(server.imap, USER_A).await;
    a.ok("SELECT INBOX").await;
    let lines = a.ok("FETCH 1:* (FLAGS)").await;
    assert!(!lines.iter().any(|l| l.contains("\\Flagged")), "{lines:?}");

    // What a CLI process on the same database does: a new MODSEQ for the folder and the
    // message, in one transaction.
    sql_from_outside(
        &server,
        "BEGIN; \
         UPDATE folders SET highestmodseq = highestmodseq + 1 \
           WHERE id = (SELECT folder_id FROM messages WHERE uid = 1); \
         UPDATE messages SET flags = '\\Flagged', \
           modseq = (SELECT highestmodseq FROM folders WHERE id = messages.folder_id) \
           WHERE uid = 1; \
         COMMIT;",
    )
    .await;
    tokio::time::sleep(storage::listing::RECHECK + Duration::from_millis(50)).await;
    let lines = a.ok("FETCH 1:* (FLAGS)").await;
    assert!(has_line(&lines, "* 1 FETCH", "\\Flagged"), "{lines:?}");
    let lines = a.ok("UID SEARCH FLAGGED").await;
    assert!(lines.iter().any(|l| l == "* SEARCH 1"), "{lines:?}");
}

/// SELECT reads the folder row fresh: the listing it reports with it must not be an older one
/// kept without a check, or the session would count the change as seen without ever
/// reporting it (here an expunge made through another store on the same database, as another
/// process would, right before the SELECT).
#[tokio::test]
async fn select_right_after_an_unannounced_change_reports_it() {
    let server = server_with_mail(2).await;
    let elsewhere = storage::Store::open(&server.outside_options())
        .await
        .unwrap();
    let inbox = elsewhere
        .folder(server.account_a, "INBOX")
        .await
        .unwrap()
        .id;
    let mut other = Client::login(server.imap, USER_A).await;
    let mut a = Client::login(server.imap, USER_A).await;
    other.ok("SELECT INBOX").await;
    // The shared listing, just checked; the change and the SELECT follow within RECHECK.
    other.ok("FETCH 1:* (FLAGS)").await;
    elsewhere
        .store_flags(
            inbox,
            &[2],
            storage::FlagChange::Add,
            &["\\Deleted".to_string()],
            None,
        )
        .await
        .unwrap();
    assert_eq!(elsewhere.expunge(inbox, None).await.unwrap(), vec![2]);
    let selected = a.ok("SELECT INBOX").await;
    tokio::time::sleep(storage::listing::RECHECK + Duration::from_millis(50)).await;
    let noop = a.ok("NOOP").await;
    let told =
        selected.iter().any(|l| l == "* 1 EXISTS") || noop.iter().any(|l| l == "* 2 EXPUNGE");
    assert!(told, "SELECT: {selected:?}\nNOOP: {noop:?}");
    let lines = a.ok("FETCH 1:* (UID)").await;
    let fetched = lines.iter().filter(|l| l.contains(" FETCH ")).count();
    assert_eq!(fetched, 1, "{lines:?}");
    elsewhere.close().await;
}

/// Mail stored while the index was off, the folder selected (its rows read without their
/// bodies' documents), then the mail indexed by another process (`govmail index rebuild`):
/// every SEARCH answers right, whether the rows it holds have their documents or not.
#[tokio::test]
async fn mail_indexed_by_another_process_is_found() {
    let server = start().await;
    let mut options = server.outside_options();
    options.full_text_index = false;
    let unindexed = storage::Store::open(&options).await.unwrap();
    for (subject, body) in [
        ("Báo cáo", "kinh phí năm"),
        ("Giấy mời", "hội nghị"),
        ("Quyết định", "kinh phí"),
    ] {
        deliver(&unindexed, server.account_a, &message(subject, body)).await;
    }
    unindexed.close().await;
    let mut a = Client::login(server.imap, USER_A).await;
    // Past the recheck: the serving store reads the folder again.
    tokio::time::sleep(storage::listing::RECHECK + Duration::from_millis(50)).await;
    let lines = a.ok("SELECT INBOX").await;
    assert!(lines.iter().any(|l| l == "* 3 EXISTS"), "{lines:?}");

    options.full_text_index = true;
    let cli = storage::Store::open(&options).await.unwrap();
    let done = cli
        .rebuild_search_index(None, false, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(done.done, 3);
    cli.close().await;
    for _ in 0..2 {
        let lines = a.ok("UID SEARCH CHARSET UTF-8 TEXT \"kinh phi\"").await;
        assert!(lines.iter().any(|l| l == "* SEARCH 1 3"), "{lines:?}");
        let lines = a.ok("UID SEARCH CHARSET UTF-8 BODY \"hội nghị\"").await;
        assert!(lines.iter().any(|l| l == "* SEARCH 2"), "{lines:?}");
    }
}
