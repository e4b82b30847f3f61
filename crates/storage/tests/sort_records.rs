//! Sort records (what IMAP SORT/THREAD read of a message), on SQLite and PostgreSQL: written at
//! delivery and APPEND once per body, shared by copies, computed and written back for messages
//! stored without one, and gone with their blob. Run with `scripts/test -p storage`.

use crate::common;

use std::sync::Arc;

use common::fixtures::{person, DOMAIN};
use common::{for_each_backend, Ctx};
use sqlx::Connection;
use storage::meta::MessageMeta;
use storage::{Delivery, DeliveryTarget, FolderChoice, SortAddr, SortRecord, Store};

fn raw(i: usize) -> Vec<u8> {
    format!(
        "From: =?UTF-8?B?VHLhuqduIFRo4buLIELDrG5o?= <ttbinh@kontum.gov.vn>\r\n\
         To: undisclosed:;, Đức <duc{i}@kontum.gov.vn>\r\n\
         Subject: =?UTF-8?Q?Re=3A_C=C3=B4ng_v=C4=83n_{i}?=\r\n\
         Date: Mon, 2 Jun 2025 08:00:0{i} +0700\r\n\
         Message-ID: <m{i}@kontum.gov.vn>\r\n\
         References: <root@kontum.gov.vn>\r\n\
         \r\n\
         body {i}\r\n"
    )
    .into_bytes()
}

fn expected(i: usize) -> SortRecord {
    SortRecord {
        // 2025-06-02 01:00:0i UTC.
        sent_date: Some(1_748_826_000 + i as i64),
        subject: Some(format!("Re: Công văn {i}")),
        from: Some(SortAddr {
            name: Some("Trần Thị Bình".into()),
            address: Some("ttbinh@kontum.gov.vn".into()),
        }),
        to: Some(SortAddr {
            name: Some("Đức".into()),
            address: Some(format!("duc{i}@kontum.gov.vn")),
        }),
        cc: None,
        message_id: Some(format!("<m{i}@kontum.gov.vn>")),
        in_reply_to: None,
        references: Some("<root@kontum.gov.vn>".into()),
    }
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

/// The records of a folder, in UID order.
async fn records(store: &Store, folder_id: i64) -> Vec<SortRecord> {
    let rows = store.messages(folder_id).await.unwrap();
    let refs: Vec<&storage::MessageRow> = rows.iter().collect();
    let map = store.sort_records(folder_id, &refs).await.unwrap();
    assert_eq!(map.len(), rows.len(), "a record for every message");
    rows.iter().map(|r| (*map[&r.id]).clone()).collect()
}

#[tokio::test]
async fn sort_records_follow_bodies() {
    for_each_backend("sort_records", |ctx: Ctx| async move {
        let s = &ctx.store;
        s.add_domain(DOMAIN, "kontum").await.unwrap();
        let a = s
            .add_person(&person("nvan.stttt@kontum.gov.vn", "Nguyễn Văn An", None))
            .await
            .unwrap()
            .account_id;
        let inbox = s.folder(a, "INBOX").await.unwrap().id;
        deliver(s, a, raw(0)).await;
        deliver(s, a, raw(1)).await;
        // The same body again: one more message, no second record.
        deliver(s, a, raw(1)).await;
        s.append_message(inbox, &raw(2), storage::Flags::new(), storage::now())
            .await
            .unwrap();
        let want = vec![expected(0), expected(1), expected(1), expected(2)];
        assert_eq!(records(s, inbox).await, want, "[{}]", ctx.name());
        let count = || ctx.scalar_i64("SELECT COUNT(*) FROM message_sort", "");
        assert_eq!(count().await, 3, "[{}] one row per body", ctx.name());

        // A copy shares its body's record.
        let other = s.create_folder(a, "Lưu trữ").await.unwrap();
        s.copy_messages(inbox, &[1, 4], other, false).await.unwrap();
        assert_eq!(records(s, other).await, vec![expected(0), expected(2)]);
        assert_eq!(count().await, 3);

        // Messages stored before the table existed: computed from the stored parse and the
        // header block, then written back. (A fresh store: the records read so far are
        // cached.)
        let fresh = ctx.reopen().await.unwrap();
        execute(&ctx, "DELETE FROM message_sort").await;
        assert_eq!(count().await, 0);
        assert_eq!(
            records(&fresh, inbox).await,
            want,
            "[{}] computed",
            ctx.name()
        );
        assert_eq!(count().await, 3, "[{}] written back", ctx.name());
        // Read again: from memory, the same.
        assert_eq!(records(&fresh, inbox).await, want);
        drop(fresh);

        // Records come from their table, not from the stored parse: with every parse
        // unreadable, a fresh store (no caches) still has them all.
        execute(&ctx, "UPDATE messages SET meta = '{}'").await;
        let fresh = ctx.reopen().await.unwrap();
        assert_eq!(
            records(&fresh, inbox).await,
            want,
            "[{}] from the table",
            ctx.name()
        );
        drop(fresh);

        // A record goes with its blob.
        for folder in [inbox, other] {
            let uids: Vec<i64> = s
                .messages(folder)
                .await
                .unwrap()
                .iter()
                .map(|r| r.uid)
                .collect();
            s.store_flags(
                folder,
                &uids,
                storage::FlagChange::Add,
                &["\\Deleted".to_string()],
                None,
            )
            .await
            .unwrap();
            s.expunge(folder, None).await.unwrap();
        }
        s.gc_blobs(-3600).await.unwrap();
        assert_eq!(count().await, 0, "[{}] gone with the blobs", ctx.name());
    })
    .await;
}
