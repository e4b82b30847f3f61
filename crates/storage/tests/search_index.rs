//! The full-text index (issue 13), on SQLite and PostgreSQL: terms written with the message at
//! delivery, APPEND and MULTIAPPEND, shared by copies, expunged messages dropped at once,
//! lazily backfilled for messages stored before it, gone with the blob. Run with
//! `scripts/test -p storage`.

use crate::common;

use std::sync::Arc;

use common::fixtures::{person, DOMAIN};
use common::{for_each_backend, Ctx};
use sqlx::Connection;
use storage::meta::MessageMeta;
use storage::multiappend::NewMessage;
use storage::search_index::Field;
use storage::{Delivery, DeliveryTarget, FolderChoice, Store};

fn raw(from: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from} <x@kontum.gov.vn>\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

async fn deliver(store: &Store, account_id: i64, raw: Vec<u8>) {
    store
        .deliver(Delivery {
            meta: Arc::new(MessageMeta::compute(&raw)),
            raw: Arc::new(raw),
            targets: vec![DeliveryTarget {
                account_id,
                folder: FolderChoice::Inbox,
                flags: storage::Flags::new(),
            }],
            outbound: None,
            internal_date: storage::now(),
            events: vec![],
        })
        .await
        .unwrap();
}

async fn execute(ctx: &Ctx, sql: &str) {
    let mut conn = sqlx::AnyConnection::connect(&ctx.options.url)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .unwrap();
    let _ = conn.close().await;
}

/// The UIDs of the folder's candidates for these prefixes in any field.
async fn uids(store: &Store, folder: i64, prefixes: &[&str]) -> Vec<i64> {
    uids_in(store, folder, &Field::ALL, prefixes).await
}

/// The UIDs of the folder's candidates for these prefixes in these fields.
async fn uids_in(store: &Store, folder: i64, fields: &[Field], prefixes: &[&str]) -> Vec<i64> {
    let words: Vec<policy::textsearch::QueryWord> = prefixes
        .iter()
        .flat_map(|p| policy::textsearch::query_words(p).unwrap())
        .collect();
    let answer = store.search_index(folder, fields, &words).await.unwrap();
    assert!(answer.exact);
    // In UID order, as a listing is.
    let listing = store.listing(folder).await.unwrap();
    listing.rows_matching(&answer).map(|r| r.uid).collect()
}

/// Index rows: documents, and on SQLite the FTS5 table's rows too (which must agree).
async fn documents(ctx: &Ctx) -> i64 {
    let docs = ctx
        .scalar_i64("SELECT COUNT(*) FROM search_docs WHERE doc IS NOT NULL", "")
        .await;
    if ctx.store.backend() == storage::Backend::Sqlite {
        let fts = ctx.scalar_i64("SELECT COUNT(*) FROM search_fts", "").await;
        assert_eq!(fts, docs, "every FTS5 row has its document");
    }
    docs
}

/// Flags the message \Deleted and expunges the folder.
async fn expunge_uid(s: &Store, inbox: i64, uid: i64) {
    let deleted = ["\\Deleted".to_string()];
    s.store_flags(inbox, &[uid], storage::FlagChange::Add, &deleted, None)
        .await
        .unwrap();
    s.expunge(inbox, None).await.unwrap();
}

/// Another store on the test's database with the index off (mail stored before the index, or
/// while it was off).
async fn without_index(ctx: &Ctx) -> Store {
    let mut off = ctx.options.clone();
    off.full_text_index = false;
    let store = Store::open(&off).await.unwrap();
    assert!(!store.full_text_index());
    store
}

/// The hosted domain and one person on it: (account, INBOX).
async fn person_with_inbox(s: &Store, address: &str, name: &str) -> (i64, i64) {
    s.add_domain(DOMAIN, "kontum").await.unwrap();
    let a = s
        .add_person(&person(address, name, None))
        .await
        .unwrap()
        .account_id;
    (a, s.folder(a, "INBOX").await.unwrap().id)
}

#[tokio::test]
async fn index_follows_messages() {
    for_each_backend("search_index", |ctx: Ctx| async move {
        let s = &ctx.store;
        let name = ctx.name();
        let (a, inbox) = person_with_inbox(s, "nvan.stttt@kontum.gov.vn", "Nguyễn Văn An").await;
        // UID 1, 2 delivered; 3 APPENDed; 4 and 5 one MULTIAPPEND.
        deliver(s, a, raw("Nguyễn Văn An", "Báo cáo", "Đơn đề nghị")).await;
        deliver(s, a, raw("Trần Thị Bình", "Kế hoạch", "số 15/QĐ-UBND")).await;
        s.append_message(
            inbox,
            &raw("Nguyên", "hoà giải", "x"),
            storage::Flags::new(),
            1,
        )
        .await
        .unwrap();
        let new = |r: Vec<u8>| NewMessage {
            raw: r,
            flags: storage::Flags::new(),
            internal_date: 1,
        };
        s.append_messages(
            inbox,
            vec![
                new(raw("Lê", "Quyết định", "kinh phí")),
                new(raw("Phạm", "m5", "đơn")),
            ],
        )
        .await
        .unwrap();
        // Terms are the words without marks; a look-up is by prefix, every prefix required.
        assert_eq!(uids(s, inbox, &["nguyen"]).await, [1, 3], "[{name}]");
        assert_eq!(uids(s, inbox, &["ngu"]).await, [1, 3], "[{name}]");
        assert_eq!(uids(s, inbox, &["don"]).await, [1, 5], "[{name}]");
        assert_eq!(uids(s, inbox, &["qd", "ubnd"]).await, [2], "[{name}]");
        assert_eq!(uids(s, inbox, &["quyet"]).await, [4], "[{name}]");
        assert_eq!(uids(s, inbox, &["nguyen", "bao"]).await, [1], "[{name}]");
        assert_eq!(
            uids(s, inbox, &["zzz"]).await,
            Vec::<i64>::new(),
            "[{name}]"
        );
        // A word typed with marks finds only those marks (the marked terms it accepts).
        assert_eq!(uids(s, inbox, &["Nguyễn"]).await, [1], "[{name}]");
        assert_eq!(uids(s, inbox, &["Nguyên"]).await, [3], "[{name}]");
        assert_eq!(uids(s, inbox, &["đơn"]).await, [1, 5], "[{name}]");
        assert_eq!(
            uids(s, inbox, &["hòa"]).await,
            [3],
            "[{name}] old and new placement"
        );
        assert_eq!(uids(s, inbox, &["quyết", "định"]).await, [4], "[{name}]");
        assert!(uids(s, inbox, &["quyệt"]).await.is_empty(), "[{name}]");
        // Fields stay apart: "bao" is in 1's subject only, "nguyen" in 1's From and 3's.
        let subject = &[Field::Subject];
        assert_eq!(uids_in(s, inbox, subject, &["bao"]).await, [1], "[{name}]");
        assert!(uids_in(s, inbox, &[Field::Body], &["bao"]).await.is_empty());
        assert_eq!(uids_in(s, inbox, &[Field::From], &["nguy"]).await, [1, 3]);
        assert!(uids_in(s, inbox, subject, &["nguy"]).await.is_empty());
        assert_eq!(uids_in(s, inbox, &[Field::Body], &["ubnd"]).await, [2]);
        assert_eq!(
            uids_in(s, inbox, &[Field::Subject, Field::Body], &["ke", "15"]).await,
            [2],
            "[{name}] each word in any of the fields"
        );
        let before = documents(&ctx).await;
        assert_eq!(before, 5, "[{name}] one document per body");

        // A copy shares its body's terms: found in the new folder, no rows added.
        let other = s.create_folder(a, "Lưu trữ").await.unwrap();
        s.copy_messages(inbox, &[1, 2], other, false).await.unwrap();
        assert_eq!(uids(s, other, &["nguyen"]).await, [1], "[{name}]");
        assert_eq!(
            documents(&ctx).await,
            before,
            "[{name}] a copy adds no document"
        );

        // An expunged message is no longer found, at once.
        expunge_uid(s, inbox, 1).await;
        assert_eq!(uids(s, inbox, &["nguyen"]).await, [3], "[{name}]");

        // Messages stored before the index (a server started on older data): every one is a
        // candidate until indexed, and the first look-up indexes them (lazy backfill) and
        // answers exactly.
        execute(&ctx, "DELETE FROM search_docs").await;
        execute(&ctx, "UPDATE messages SET doc = NULL").await;
        if ctx.store.backend() == storage::Backend::Sqlite {
            execute(&ctx, "DELETE FROM search_fts").await;
        }
        let s = &ctx.reopen().await.unwrap();
        assert_eq!(uids(s, inbox, &["don"]).await, [5], "[{name}] backfilled");
        assert_eq!(uids(s, other, &["ubnd"]).await, [2], "[{name}]");
        assert_eq!(
            documents(&ctx).await,
            5,
            "[{name}] 5 distinct bodies indexed again"
        );

        // The terms go with their blob.
        for folder in [inbox, other] {
            let all: Vec<i64> = s
                .messages(folder)
                .await
                .unwrap()
                .iter()
                .map(|r| r.uid)
                .collect();
            s.store_flags(
                folder,
                &all,
                storage::FlagChange::Add,
                &["\\Deleted".into()],
                None,
            )
            .await
            .unwrap();
            s.expunge(folder, None).await.unwrap();
        }
        s.gc_blobs(-3600).await.unwrap();
        assert_eq!(documents(&ctx).await, 0, "[{name}] gone with the blobs");
    })
    .await;
}

/// `govmail index rebuild`: mail stored while the index was off is indexed by the rebuild
/// (counted first, then in batches), a second rebuild finds nothing left, `full` redoes every
/// message, and an account scope touches only that account's mail.
#[tokio::test]
async fn rebuild_indexes_what_the_index_lacks() {
    for_each_backend("search_rebuild", |ctx: Ctx| async move {
        let name = ctx.name();
        let s = without_index(&ctx).await;
        s.add_domain(DOMAIN, "kontum").await.unwrap();
        let a = s
            .add_person(&person("nvan.stttt@kontum.gov.vn", "Nguyễn Văn An", None))
            .await
            .unwrap()
            .account_id;
        let b = s
            .add_person(&person("ttbinh.stttt@kontum.gov.vn", "Trần Thị Bình", None))
            .await
            .unwrap()
            .account_id;
        deliver(&s, a, raw("Nguyễn Văn An", "Báo cáo", "Đơn đề nghị")).await;
        deliver(&s, a, raw("Lê", "Quyết định", "kinh phí")).await;
        deliver(&s, b, raw("Phạm", "Giấy mời", "hội nghị")).await;
        let inbox = s.folder(a, "INBOX").await.unwrap().id;
        s.append_message(inbox, &raw("Võ", "m4", "x"), storage::Flags::new(), 1)
            .await
            .unwrap();
        let indexed = || ctx.scalar_i64("SELECT COUNT(*) FROM search_docs", "");
        assert_eq!(indexed().await, 0, "[{name}] index off: nothing indexed");
        s.close().await;

        let s = &ctx.reopen().await.unwrap();
        let mut seen = vec![];
        let got = s
            .rebuild_search_index(Some(a), false, &mut |p| seen.push(p))
            .await
            .unwrap();
        assert_eq!((got.done, got.total), (3, 3), "[{name}] account a only");
        assert_eq!(seen.first().map(|p| p.done), Some(0), "[{name}] {seen:?}");
        assert_eq!(indexed().await, 3, "[{name}]");
        let got = s
            .rebuild_search_index(None, false, &mut |_| {})
            .await
            .unwrap();
        assert_eq!(
            (got.done, got.total),
            (1, 1),
            "[{name}] b's message is left"
        );
        let got = s
            .rebuild_search_index(None, false, &mut |_| {})
            .await
            .unwrap();
        assert_eq!((got.done, got.total), (0, 0), "[{name}] nothing left");
        let got = s
            .rebuild_search_index(None, true, &mut |_| {})
            .await
            .unwrap();
        assert_eq!(
            (got.done, got.total),
            (4, 4),
            "[{name}] full: every message"
        );
        assert_eq!(indexed().await, 4, "[{name}] no duplicates");
        // The index answers for the rebuilt messages (the look-up excludes the others).
        let inbox_b = s.folder(b, "INBOX").await.unwrap().id;
        assert_eq!(uids(s, inbox, &["don", "de"]).await, [1], "[{name}]");
        assert_eq!(uids(s, inbox_b, &["giay", "moi"]).await, [1], "[{name}]");
        assert_eq!(
            uids(s, inbox, &["giay"]).await,
            Vec::<i64>::new(),
            "[{name}]"
        );
    })
    .await;
}

/// Document numbers (migration 0019): each body's document is numbered densely from 1, every
/// message row carries its body's number (a copy its source's), and a full rebuild gives each
/// document its number back, so that a listing read before the rebuild still answers right.
#[tokio::test]
async fn documents_are_numbered_densely_and_rows_carry_them() {
    for_each_backend("search_doc_numbers", |ctx: Ctx| async move {
        let name = ctx.name();
        let s = &ctx.store;
        let (a, inbox) = person_with_inbox(s, "nvan.stttt@kontum.gov.vn", "Nguyễn Văn An").await;
        deliver(s, a, raw("An", "Báo cáo", "Đơn đề nghị")).await;
        deliver(s, a, raw("Lê", "Quyết định", "kinh phí")).await;
        s.append_message(
            inbox,
            &raw("Võ", "Giấy mời", "hội nghị"),
            storage::Flags::new(),
            1,
        )
        .await
        .unwrap();
        let archive = s.create_folder(a, "Lưu trữ").await.unwrap();
        s.copy_messages(inbox, &[1, 3], archive, false)
            .await
            .unwrap();
        let count = |sql: &'static str| ctx.scalar_i64(sql, "");
        assert_eq!(count("SELECT COUNT(*) FROM messages").await, 5, "[{name}]");
        assert_eq!(
            count("SELECT COUNT(*) FROM messages WHERE doc IS NULL").await,
            0,
            "[{name}] every row has its body's document"
        );
        assert_eq!(
            count("SELECT COUNT(DISTINCT doc) FROM messages").await,
            3,
            "[{name}] one number per body"
        );
        assert_eq!(
            count(
                "SELECT COUNT(*) FROM messages m JOIN search_docs d ON d.blob_id = m.blob_id \
                 WHERE d.doc = m.doc"
            )
            .await,
            5,
            "[{name}] a copy carries its source's document"
        );
        let (low, high) = (
            count("SELECT MIN(doc) FROM search_docs").await,
            count("SELECT MAX(doc) FROM search_docs").await,
        );
        assert!(low >= 1 && high <= 3, "[{name}] dense: {low}..{high}");

        // A listing read now, a full rebuild, the same answers through the old listing.
        let before = s.listing(inbox).await.unwrap();
        assert_eq!(before.unknown_docs(), 0, "[{name}]");
        let numbers = "SELECT CAST(SUM(doc * id) AS BIGINT) FROM messages";
        let sum = count(numbers).await;
        s.rebuild_search_index(None, true, &mut |_| {})
            .await
            .unwrap();
        assert_eq!(count(numbers).await, sum, "[{name}] the numbers are kept");
        let words = policy::textsearch::query_words("giay moi").unwrap();
        let answer = s.search_index(inbox, &Field::ALL, &words).await.unwrap();
        let found: Vec<i64> = before.rows_matching(&answer).map(|r| r.uid).collect();
        assert_eq!(found, [3], "[{name}]");
        // A new body after the rebuild takes a number no other body has.
        deliver(s, a, raw("Đỗ", "Công văn", "mới")).await;
        assert_eq!(
            count("SELECT COUNT(DISTINCT doc) FROM messages").await,
            4,
            "[{name}]"
        );
        assert_eq!(uids(s, inbox, &["cong", "van"]).await, [4], "[{name}]");
    })
    .await;
}

/// Rows read while their bodies had no document (stored with the index off, indexed since by
/// another process, as `govmail index rebuild` is) are never ruled out by an answer: they are
/// candidates, to be read, until the listing is read again with their documents
/// (`Store::fill_message_docs`, which also fills in rows an older node stored without).
#[tokio::test]
async fn rows_read_before_their_bodies_were_indexed_stay_candidates() {
    for_each_backend("search_unknown_docs", |ctx: Ctx| async move {
        let name = ctx.name();
        let unindexed = without_index(&ctx).await;
        let (a, inbox) =
            person_with_inbox(&unindexed, "nvan.stttt@kontum.gov.vn", "Nguyễn Văn An").await;
        deliver(&unindexed, a, raw("An", "Báo cáo", "Đơn đề nghị")).await;
        deliver(&unindexed, a, raw("Lê", "Quyết định", "kinh phí")).await;
        unindexed.close().await;

        let serving = &ctx.reopen().await.unwrap();
        let stale = serving.listing(inbox).await.unwrap();
        assert_eq!(stale.unknown_docs(), 2, "[{name}] no documents yet");
        let cli = Store::open(&ctx.options).await.unwrap();
        cli.rebuild_search_index(None, false, &mut |_| {})
            .await
            .unwrap();
        cli.close().await;
        // Numbered in one statement, densely.
        assert_eq!(
            ctx.scalar_i64("SELECT MAX(doc) FROM messages", "").await,
            2,
            "[{name}]"
        );
        assert_eq!(
            ctx.scalar_i64("SELECT COUNT(DISTINCT doc) FROM messages", "")
                .await,
            2,
            "[{name}]"
        );

        let words = policy::textsearch::query_words("kinh phi").unwrap();
        let answer = serving
            .search_index(inbox, &Field::ALL, &words)
            .await
            .unwrap();
        assert!(answer.unsure.is_empty(), "[{name}] every body is indexed");
        let candidates: Vec<i64> = stale.rows_matching(&answer).map(|r| r.uid).collect();
        assert_eq!(candidates, [1, 2], "[{name}] neither row is ruled out");
        serving.fill_message_docs(inbox).await.unwrap();
        let fresh = serving.listing(inbox).await.unwrap();
        assert_eq!(fresh.unknown_docs(), 0, "[{name}]");
        let found: Vec<i64> = fresh.rows_matching(&answer).map(|r| r.uid).collect();
        assert_eq!(found, [2], "[{name}]");

        // A row stored by a node of an older release, which leaves `messages.doc` empty
        // although the body is indexed: a candidate, then filled in.
        execute(&ctx, "UPDATE messages SET doc = NULL WHERE uid = 2").await;
        serving.fill_message_docs(inbox).await.unwrap();
        let empty = "SELECT COUNT(*) FROM messages WHERE doc IS NULL";
        assert_eq!(ctx.scalar_i64(empty, "").await, 0, "[{name}] filled in");
        let healed = serving.listing(inbox).await.unwrap();
        assert_eq!(healed.unknown_docs(), 0, "[{name}]");
        let found: Vec<i64> = healed.rows_matching(&answer).map(|r| r.uid).collect();
        assert_eq!(found, [2], "[{name}]");
    })
    .await;
}

#[tokio::test]
async fn a_restarted_store_keeps_the_search_cursor() {
    for_each_backend("search_cursor", |ctx: Ctx| async move {
        let name = ctx.name();
        let s = &ctx.store;
        let (_, inbox) = person_with_inbox(s, "nvan.stttt@kontum.gov.vn", "Nguyễn Văn An").await;
        let batch: Vec<NewMessage> = (0..1_001)
            .map(|i| NewMessage {
                raw: raw("Lê", &format!("Thông báo {i}"), "kinh phí"),
                flags: storage::Flags::new(),
                internal_date: 1,
            })
            .collect();
        s.append_messages(inbox, batch).await.unwrap();
        assert_eq!(uids(s, inbox, &["thong"]).await.len(), 1_001, "[{name}]");
        let cursor = format!("SELECT uid FROM search_cursors WHERE folder_id = {inbox}");
        assert_eq!(
            ctx.scalar_i64(&cursor, "").await,
            1_001,
            "[{name}] a folder checked that far has its cursor stored"
        );

        // A message stored while the index was off lands above the cursor: still found.
        let unindexed = without_index(&ctx).await;
        unindexed
            .append_message(inbox, &raw("Võ", "Thông báo muộn", "x"), storage::Flags::new(), 1)
            .await
            .unwrap();
        unindexed.close().await;
        // The stored cursor is trusted after a restart: a document taken away behind the
        // index's back below it is not looked for again (that walk is what the cursor saves).
        let blob = format!("(SELECT blob_id FROM messages WHERE uid = 5 AND folder_id = {inbox})");
        if ctx.store.backend() == storage::Backend::Sqlite {
            let words = format!(
                "DELETE FROM search_fts WHERE rowid = (SELECT doc FROM search_docs WHERE blob_id = {blob})"
            );
            execute(&ctx, &words).await;
        }
        execute(&ctx, &format!("DELETE FROM search_docs WHERE blob_id = {blob}")).await;
        let s = &ctx.reopen().await.unwrap();
        let found = uids(s, inbox, &["thong"]).await;
        assert_eq!(found.len(), 1_001, "[{name}] 1,002 messages but uid 5");
        assert!(found.contains(&1_002) && !found.contains(&5), "[{name}]");

        // `index rebuild` forgets the cursors; the next search walks the folder again.
        s.rebuild_search_index(None, false, &mut |_| {})
            .await
            .unwrap();
        assert_eq!(
            ctx.scalar_i64("SELECT COUNT(*) FROM search_cursors", "").await,
            0,
            "[{name}]"
        );
        assert_eq!(uids(s, inbox, &["thong"]).await.len(), 1_002, "[{name}]");
    })
    .await;
}

#[tokio::test]
async fn settling_merges_segments_and_keeps_every_answer() {
    for_each_backend("search_index", |ctx: Ctx| async move {
        let s = &ctx.store;
        let name = ctx.name();
        let (a, inbox) = person_with_inbox(s, "settle.stttt@kontum.gov.vn", "Đặng Settle").await;
        // Forty deliveries, forty commits: FTS5 writes a segment for each and merges only
        // some of them (its automerge waits for four at a level).
        for i in 0..40 {
            let body = if i % 2 == 0 {
                "Quyết định"
            } else {
                "quyet toan"
            };
            deliver(s, a, raw("Lê", &format!("Báo cáo số {i}"), body)).await;
        }
        // A message gone after indexing: its document must stay gone through the merge.
        expunge_uid(s, inbox, 3).await;
        let queries: [&[&str]; 4] = [&["quyết"], &["quyet"], &["bao", "cao"], &["toan"]];
        let mut before = vec![];
        for q in queries {
            before.push(uids(s, inbox, q).await);
        }
        assert_eq!(
            before[0].len(),
            19,
            "[{name}] UID 3 (\"Quyết định\") was expunged"
        );
        assert_eq!(before[1].len(), 39, "[{name}]");
        let shape = s.search_index_shape().await.unwrap();
        if s.backend() == storage::Backend::Postgres {
            assert_eq!(shape, None, "[{name}] nothing to settle on PostgreSQL");
            assert_eq!(s.settle_search_index().await.unwrap(), 0, "[{name}]");
            return;
        }
        let shape = shape.unwrap();
        assert!(shape.segments > 1, "[{name}] {shape:?}");
        let indexed = documents(&ctx).await;
        // Small steps: several are needed, each its own write.
        let mut steps = 0;
        while s.settle_search_index_step(1).await.unwrap() {
            steps += 1;
            assert!(steps < 1_000, "[{name}] settling must end");
        }
        assert!(steps >= 1, "[{name}]");
        let settled = s.search_index_shape().await.unwrap().unwrap();
        assert_eq!(settled.segments, 1, "[{name}] {settled:?}");
        assert_eq!(
            (settled.newest, settled.documents),
            (shape.newest, shape.documents)
        );
        assert_eq!(
            s.settle_search_index().await.unwrap(),
            0,
            "[{name}] nothing left"
        );
        for (q, expected) in queries.iter().zip(&before) {
            assert_eq!(&uids(s, inbox, q).await, expected, "[{name}] {q:?}");
        }
        assert_eq!(documents(&ctx).await, indexed, "[{name}]");
    })
    .await;
}
