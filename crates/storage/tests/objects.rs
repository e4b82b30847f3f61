//! RFC 3502 MULTIAPPEND (all or none, quota on the total), RFC 8474 EMAILIDs (a copy keeps its
//! source's) and RFC 8514 save dates, on SQLite and PostgreSQL alike (see
//! `common::for_each_backend`). Run with `scripts/test -p storage --test storage_tests --
//! objects::`.

use crate::common;

use common::{for_each_backend, Ctx};
use storage::{Error, Flags, NewMessage, NewPerson, Store};

const DOMAIN: &str = "kontum.gov.vn";
const PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$qLml5cbXmYxYhVsxzrs5gZBUYcGmDS8IYKCWeb0nCXw";

async fn person(store: &Store, quota_bytes: i64) -> i64 {
    store.add_domain(DOMAIN, "kontum").await.unwrap();
    store
        .add_person(&NewPerson {
            full_name: "Nguyễn Văn An".into(),
            address: "nvan.stttt@kontum.gov.vn".into(),
            unit_abbrev: None,
            position: String::new(),
            phone: String::new(),
            password_phc: PHC.into(),
            must_change_password: false,
            quota_bytes,
        })
        .await
        .unwrap()
        .account_id
}

fn new_message(subject: &str, size: usize) -> NewMessage {
    let mut raw = format!("Subject: {subject}\r\nFrom: a@kontum.gov.vn\r\n\r\n").into_bytes();
    raw.resize(raw.len().max(size), b'x');
    NewMessage {
        raw,
        flags: Flags::new(),
        internal_date: 1_700_000_000,
    }
}

async fn uids(store: &Store, folder_id: i64) -> Vec<i64> {
    store
        .messages(folder_id)
        .await
        .unwrap()
        .iter()
        .map(|m| m.uid)
        .collect()
}

/// RFC 3502 6.3.11: "If the append is unsuccessful for any reason ... the mailbox MUST be
/// restored to its state before the APPEND attempt; no partial appending is permitted." The
/// quota is checked against the whole batch.
#[tokio::test]
async fn multiappend_is_all_or_nothing_and_quota_counts_the_total() {
    for_each_backend("multiappend", |ctx: Ctx| async move {
        let s = &ctx.store;
        let account = person(s, 10_000).await;
        let inbox = s.folder(account, "INBOX").await.unwrap();
        // Three messages of 4,000 bytes: each fits alone, all three do not.
        let batch: Vec<NewMessage> = (0..3)
            .map(|i| new_message(&format!("m{i}"), 4000))
            .collect();
        let refused = s.append_messages(inbox.id, batch).await;
        assert!(
            matches!(refused, Err(Error::OverQuota)),
            "[{}] {refused:?}",
            ctx.name()
        );
        assert!(
            uids(s, inbox.id).await.is_empty(),
            "[{}] none stored",
            ctx.name()
        );
        assert_eq!(s.account_ref(account).await.unwrap().used_bytes, 0);
        // Two fit: both stored, UIDs in order.
        let batch: Vec<NewMessage> = (0..2)
            .map(|i| new_message(&format!("m{i}"), 4000))
            .collect();
        let stored = s.append_messages(inbox.id, batch).await.unwrap();
        assert_eq!(stored, vec![1, 2], "[{}]", ctx.name());
        assert_eq!(uids(s, inbox.id).await, vec![1, 2]);
        assert_eq!(s.account_ref(account).await.unwrap().used_bytes, 8000);
    })
    .await;
}

/// RFC 8474 5.1: a copied or moved message keeps its EMAILID; distinct messages have distinct
/// ones. RFC 8514 3: the save date is when the message was put in this mailbox.
#[tokio::test]
async fn copies_keep_the_email_id_and_get_their_own_save_date() {
    for_each_backend("objects", |ctx: Ctx| async move {
        let s = &ctx.store;
        let account = person(s, 0).await;
        let inbox = s.folder(account, "INBOX").await.unwrap();
        let archive = s.folder(account, "Archive").await.unwrap();
        let before = storage::now();
        s.append_messages(inbox.id, vec![new_message("a", 10), new_message("b", 10)])
            .await
            .unwrap();
        let rows = s.messages(inbox.id).await.unwrap();
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let extras = s.message_extras(inbox.id, &ids).await.unwrap();
        let (a, b) = (extras[&ids[0]], extras[&ids[1]]);
        assert_ne!(a.email_id, b.email_id, "[{}] distinct messages", ctx.name());
        assert!(a.saved_at >= before && a.saved_at <= storage::now());
        // COPY of the first, MOVE of the second.
        s.copy_messages(inbox.id, &[1], archive.id, false)
            .await
            .unwrap();
        s.copy_messages(inbox.id, &[2], archive.id, true)
            .await
            .unwrap();
        let in_archive = s.folder_extras(archive.id).await.unwrap();
        assert_eq!(in_archive[&1].email_id, a.email_id, "[{}] COPY", ctx.name());
        assert_eq!(in_archive[&2].email_id, b.email_id, "[{}] MOVE", ctx.name());
        assert!(in_archive[&1].saved_at >= a.saved_at);
        // A copy of a copy still has the first EMAILID.
        let trash = s.folder(account, "Trash").await.unwrap();
        s.copy_messages(archive.id, &[1], trash.id, false)
            .await
            .unwrap();
        assert_eq!(
            s.folder_extras(trash.id).await.unwrap()[&1].email_id,
            a.email_id
        );
        // Extras of another folder's message ids are not returned.
        let other = s.message_extras(archive.id, &ids).await.unwrap();
        assert!(other.is_empty(), "[{}] {other:?}", ctx.name());
    })
    .await;
}

/// Creating a folder and changing a subscription are announced to open sessions (RFC 5465
/// MailboxName and SubscriptionChange are built on these notifications).
#[tokio::test]
async fn folder_creation_and_subscription_are_announced() {
    for_each_backend("announced_changes", |ctx: Ctx| async move {
        let s = &ctx.store;
        let account = person(s, 0).await;
        let mut changes = s.subscribe_changes();
        let id = s
            .create_folder_with_use(account, "Dự án", None)
            .await
            .unwrap();
        let change = changes.try_recv().expect("create announced");
        assert_eq!(
            (change.account_id, change.folder_id),
            (account, id),
            "[{}]",
            ctx.name()
        );
        // CREATE subscribes nothing (RFC 9051 6.3.4 leaves it to the client); SUBSCRIBE does.
        assert!(!s.folder_by_id(id).await.unwrap().subscribed);
        assert!(s.set_subscription(account, "Dự án", true).await.unwrap());
        let change = changes.try_recv().expect("subscription announced");
        assert_eq!((change.account_id, change.folder_id), (account, id));
        assert!(s.folder_by_id(id).await.unwrap().subscribed);
    })
    .await;
}
