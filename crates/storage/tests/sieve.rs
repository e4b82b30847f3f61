//! Sieve scripts, vacation replies sent and delivery into folders by name, on both backends.
//! Run with `scripts/test -p storage --test storage_tests -- sieve::`.

use crate::common;

use std::sync::Arc;

use common::{for_each_backend, Ctx};
use storage::meta::MessageMeta;
use storage::{Delivery, DeliveryTarget, Error, Flags, FolderChoice, NewPerson, NewUnit};

const DOMAIN: &str = "kontum.gov.vn";
const PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$qLml5cbXmYxYhVsxzrs5gZBUYcGmDS8IYKCWeb0nCXw";

async fn account(store: &storage::Store) -> i64 {
    store.add_domain(DOMAIN, "kontum").await.unwrap();
    store
        .add_unit(&NewUnit {
            domain: DOMAIN.into(),
            abbrev: "STTTT".into(),
            name: "Sở Thông tin và Truyền thông".into(),
            parent_abbrev: None,
            quota_bytes: 0,
        })
        .await
        .unwrap();
    store
        .add_person(&NewPerson {
            full_name: "Nguyễn Văn An".into(),
            address: "nvan.stttt@kontum.gov.vn".into(),
            unit_abbrev: Some("STTTT".into()),
            position: String::new(),
            phone: String::new(),
            password_phc: PHC.into(),
            must_change_password: false,
            quota_bytes: 0,
        })
        .await
        .unwrap()
        .account_id
}

#[tokio::test]
async fn scripts_put_activate_rename_delete_and_count_limit() {
    for_each_backend("sieve_scripts", |ctx: Ctx| async move {
        let s = &ctx.store;
        let a = account(s).await;
        s.put_sieve_script(a, "một", "keep;", 2).await.unwrap();
        s.put_sieve_script(a, "two", "discard;", 2).await.unwrap();
        // Replacing an existing script is not a new one: the count limit does not apply.
        s.put_sieve_script(a, "two", "stop;", 2).await.unwrap();
        assert!(
            matches!(
                s.put_sieve_script(a, "three", "keep;", 2).await,
                Err(Error::OverQuota)
            ),
            "[{}] third script over a limit of 2",
            ctx.name()
        );
        assert_eq!(s.sieve_script(a, "two").await.unwrap().content, "stop;");
        assert!(s.active_sieve_scripts(&[a]).await.unwrap().is_empty());
        s.set_active_sieve_script(a, Some("một")).await.unwrap();
        s.set_active_sieve_script(a, Some("two")).await.unwrap();
        let active = s.active_sieve_scripts(&[a]).await.unwrap();
        assert_eq!(active.len(), 1, "[{}] one active script", ctx.name());
        assert_eq!(active[0].name, "two");
        assert!(matches!(
            s.set_active_sieve_script(a, Some("nothing")).await,
            Err(Error::NotFound(_))
        ));
        s.rename_sieve_script(a, "two", "hai").await.unwrap();
        assert_eq!(s.active_sieve_scripts(&[a]).await.unwrap()[0].name, "hai");
        assert!(matches!(
            s.rename_sieve_script(a, "hai", "một").await,
            Err(Error::AlreadyExists(_))
        ));
        s.set_active_sieve_script(a, None).await.unwrap();
        assert!(s.active_sieve_scripts(&[a]).await.unwrap().is_empty());
        assert!(s.delete_sieve_script(a, "hai").await.unwrap());
        assert!(!s.delete_sieve_script(a, "hai").await.unwrap());
        let names: Vec<String> = s
            .sieve_scripts(a)
            .await
            .unwrap()
            .into_iter()
            .map(|x| x.name)
            .collect();
        assert_eq!(names, vec!["một".to_string()]);
    })
    .await;
}

#[tokio::test]
async fn vacation_reply_once_per_sender_per_days() {
    for_each_backend("vacation_replies", |ctx: Ctx| async move {
        let s = &ctx.store;
        let a = account(s).await;
        let day = 86_400;
        let t0 = 1_800_000_000;
        assert!(
            s.vacation_reply_due(a, "x@b.org", "h", 7, t0)
                .await
                .unwrap(),
            "[{}] first",
            ctx.name()
        );
        // RFC 5230 4.2: not again within :days, for the same sender and handle.
        assert!(!s
            .vacation_reply_due(a, "X@B.org", "h", 7, t0 + 6 * day)
            .await
            .unwrap());
        assert!(s
            .vacation_reply_due(a, "y@b.org", "h", 7, t0 + day)
            .await
            .unwrap());
        assert!(s
            .vacation_reply_due(a, "x@b.org", "other", 7, t0 + day)
            .await
            .unwrap());
        // After :days, again (and the period restarts from that reply).
        assert!(s
            .vacation_reply_due(a, "x@b.org", "h", 7, t0 + 7 * day)
            .await
            .unwrap());
        assert!(!s
            .vacation_reply_due(a, "x@b.org", "h", 7, t0 + 8 * day)
            .await
            .unwrap());
    })
    .await;
}

#[tokio::test]
async fn delivery_into_named_folders() {
    for_each_backend("named_folders", |ctx: Ctx| async move {
        let s = &ctx.store;
        let a = account(s).await;
        let raw = b"Subject: x\r\n\r\nbody\r\n".to_vec();
        let target = |folder: FolderChoice, flags: Flags| DeliveryTarget {
            account_id: a,
            folder,
            flags,
        };
        let delivered = s
            .deliver(Delivery {
                raw: Arc::new(raw.clone()),
                meta: Arc::new(MessageMeta::compute(&raw)),
                targets: vec![
                    // RFC 5490 3.2: created when missing with :create.
                    target(
                        FolderChoice::Named {
                            name: "Công văn/Đến".into(),
                            create: true,
                        },
                        Flags::from_names(["\\Flagged"]),
                    ),
                    // Missing without :create: INBOX.
                    target(
                        FolderChoice::Named {
                            name: "Nowhere".into(),
                            create: false,
                        },
                        Flags::new(),
                    ),
                    // An existing folder by name.
                    target(
                        FolderChoice::Named {
                            name: "Archive".into(),
                            create: false,
                        },
                        Flags::new(),
                    ),
                ],
                outbound: None,
                internal_date: storage::now(),
                events: vec![],
            })
            .await
            .unwrap();
        assert_eq!(delivered.placed.len(), 3);
        let created = s.folder(a, "Công văn/Đến").await.unwrap();
        let rows = s.messages(created.id).await.unwrap();
        assert_eq!(
            rows.len(),
            1,
            "[{}] created folder holds the copy",
            ctx.name()
        );
        assert!(rows[0].flags.contains("\\Flagged"));
        let inbox = s.folder(a, "INBOX").await.unwrap();
        assert_eq!(s.messages(inbox.id).await.unwrap().len(), 1);
        assert!(
            s.folder(a, "Nowhere").await.is_err(),
            "not created without :create"
        );
        let archive = s.folder(a, "Archive").await.unwrap();
        assert_eq!(s.messages(archive.id).await.unwrap().len(), 1);
        let used = s.account_ref(a).await.unwrap().used_bytes;
        assert_eq!(
            used,
            3 * raw.len() as i64,
            "[{}] quota counts each copy",
            ctx.name()
        );
    })
    .await;
}
