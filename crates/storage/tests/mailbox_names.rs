//! Mailbox names beyond the folder rows, on both backends: UIDVALIDITY is never given twice
//! to one account (RFC 9051 2.3.1.1), subscriptions are names that outlive their folder
//! (RFC 9051 6.3.7) and follow a RENAME, and \Recent is claimed by one session only
//! (RFC 3501 2.3.2). Run with `scripts/test -p storage --test storage_tests -- mailbox_names::`.

use crate::common;

use std::collections::BTreeSet;

use common::fixtures::{person, DOMAIN};
use common::{for_each_backend, Ctx};

async fn account(ctx: &Ctx) -> i64 {
    let s = &ctx.store;
    s.add_domain(DOMAIN, "kontum").await.unwrap();
    s.add_person(&person("nvan.stttt@kontum.gov.vn", "Nguyễn Văn An", None))
        .await
        .unwrap()
        .account_id
}

#[tokio::test]
async fn a_name_created_again_gets_a_larger_uidvalidity() {
    for_each_backend("uidvalidity_reuse", |ctx: Ctx| async move {
        let s = &ctx.store;
        let a = account(&ctx).await;
        let mut seen = vec![];
        // Five rounds within a second or two: each new folder of the name must get a
        // UIDVALIDITY larger than every one before, the deleted ones included.
        for _ in 0..5 {
            let id = s.create_folder(a, "Lưu trữ").await.unwrap();
            let folder = s.folder_by_id(id).await.unwrap();
            assert!(
                seen.iter().all(|v| folder.uidvalidity > *v),
                "[{}] {} after {seen:?}",
                ctx.name(),
                folder.uidvalidity
            );
            seen.push(folder.uidvalidity);
            s.delete_folder(id).await.unwrap();
        }
        // Also across folders: no two folders of the account ever share one.
        let all: BTreeSet<i64> = s
            .folders(a)
            .await
            .unwrap()
            .iter()
            .map(|f| f.uidvalidity)
            .collect();
        assert!(all.iter().all(|v| !seen.contains(v)), "[{}]", ctx.name());
    })
    .await;
}

#[tokio::test]
async fn subscriptions_are_names() {
    for_each_backend("subscriptions", |ctx: Ctx| async move {
        let s = &ctx.store;
        let a = account(&ctx).await;
        // A new account's own folders start subscribed; a folder created later does not.
        let defaults: BTreeSet<String> = ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]
            .into_iter()
            .map(str::to_string)
            .collect();
        let listed: BTreeSet<String> = s.subscriptions(a).await.unwrap().into_iter().collect();
        assert_eq!(listed, defaults, "[{}]", ctx.name());
        let id = s.create_folder(a, "Công văn").await.unwrap();
        assert!(!s.folder_by_id(id).await.unwrap().subscribed);
        assert!(s.set_subscription(a, "Công văn", true).await.unwrap());
        assert!(
            !s.set_subscription(a, "Công văn", true).await.unwrap(),
            "already"
        );
        assert!(s.folder_by_id(id).await.unwrap().subscribed);
        // A child, then RENAME of the parent: both subscriptions follow.
        let child = s.create_folder(a, "Công văn/2026").await.unwrap();
        s.set_subscription(a, "Công văn/2026", true).await.unwrap();
        s.rename_folder(a, "Công văn", "Văn bản").await.unwrap();
        let names = s.subscriptions(a).await.unwrap();
        assert!(
            names.contains(&"Văn bản".to_string()),
            "[{}] {names:?}",
            ctx.name()
        );
        assert!(names.contains(&"Văn bản/2026".to_string()));
        assert!(!names.iter().any(|n| n.starts_with("Công văn")));
        // DELETE keeps the name on the list.
        s.delete_folder(child).await.unwrap();
        assert!(s
            .subscriptions(a)
            .await
            .unwrap()
            .contains(&"Văn bản/2026".to_string()));
        assert!(s.set_subscription(a, "Văn bản/2026", false).await.unwrap());
        assert!(!s.set_subscription(a, "Văn bản/2026", false).await.unwrap());
        assert!(!s
            .subscriptions(a)
            .await
            .unwrap()
            .contains(&"Văn bản/2026".to_string()));
    })
    .await;
}

#[tokio::test]
async fn recent_is_claimed_once() {
    for_each_backend("recent_claim", |ctx: Ctx| async move {
        let s = &ctx.store;
        let a = account(&ctx).await;
        let inbox = s.folder(a, "INBOX").await.unwrap();
        assert_eq!(
            inbox.recent_uid,
            1,
            "[{}] a new folder: nothing claimed",
            ctx.name()
        );
        // Two sessions read recent_uid = 1 and both try to claim UIDs 1..=3.
        let (first, second) = tokio::join!(
            s.claim_recent(inbox.id, 1, 4),
            s.claim_recent(inbox.id, 1, 4)
        );
        let claims = [first.unwrap(), second.unwrap()];
        assert_eq!(
            claims.iter().filter(|c| **c).count(),
            1,
            "[{}] exactly one claim wins: {claims:?}",
            ctx.name()
        );
        assert_eq!(s.folder_by_id(inbox.id).await.unwrap().recent_uid, 4);
        // A stale reading claims nothing; an empty range is no claim.
        assert!(!s.claim_recent(inbox.id, 1, 6).await.unwrap());
        assert!(!s.claim_recent(inbox.id, 4, 4).await.unwrap());
        assert!(s.claim_recent(inbox.id, 4, 6).await.unwrap());
    })
    .await;
}
