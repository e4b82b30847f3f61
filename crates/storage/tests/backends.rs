//! The storage API, run identically against SQLite and PostgreSQL.
//!
//! Every test body runs once per backend through [`common::for_each_backend`]. PostgreSQL comes
//! from `GOVMAIL_TEST_PG_URL` (a fresh database per test); without it the tests fail unless
//! `GOVMAIL_TEST_SKIP_PG=1` is set. Run them with `scripts/test -p storage --test storage_tests --
//! backends::`.

use crate::common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::{for_each_backend, Ctx};
use storage::meta::MessageMeta;
use storage::{
    AccountStatus, Delivery, DeliveryTarget, Error, FlagChange, FolderChoice, NewPerson, NewUnit,
    OutboundEnvelope, OutboundRecipient, Resolved, Store,
};
use unicode_normalization::UnicodeNormalization;

const DOMAIN: &str = "kontum.gov.vn";
/// A syntactically valid argon2id PHC string (storage only stores it; policy verifies).
const PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$qLml5cbXmYxYhVsxzrs5gZBUYcGmDS8IYKCWeb0nCXw";
const PHC2: &str = "$argon2id$v=19$m=19456,t=2,p=1$b3RoZXJzYWx0b3RoZXJzYWx0$3Zb2U8Hq0g2Yp1cWQxR8mG2m7bI0Hq8k1mC5fWq9ZLk";
const NAME: &str = "Nguyễn Thị Ánh Tuyết";

fn person(address: &str, name: &str, unit: Option<&str>) -> NewPerson {
    NewPerson {
        full_name: name.to_string(),
        address: address.to_string(),
        unit_abbrev: unit.map(str::to_string),
        position: "Chuyên viên".to_string(),
        phone: "0260 3862 123".to_string(),
        password_phc: PHC.to_string(),
        must_change_password: true,
        quota_bytes: 100 * 1024 * 1024,
    }
}

fn unit(abbrev: &str, name: &str, parent: Option<&str>) -> NewUnit {
    NewUnit {
        domain: DOMAIN.to_string(),
        abbrev: abbrev.to_string(),
        name: name.to_string(),
        parent_abbrev: parent.map(str::to_string),
        quota_bytes: 0,
    }
}

/// Domain + unit STTTT + three persons; returns their account ids.
async fn directory(store: &Store) -> [i64; 3] {
    store.add_domain(DOMAIN, "kontum").await.unwrap();
    store
        .add_unit(&unit("STTTT", "Sở Thông tin và Truyền thông", None))
        .await
        .unwrap();
    let a = store
        .add_person(&person("ntatuyet.stttt@kontum.gov.vn", NAME, Some("STTTT")))
        .await
        .unwrap();
    let b = store
        .add_person(&person(
            "nvan.stttt@kontum.gov.vn",
            "Nguyễn Văn An",
            Some("STTTT"),
        ))
        .await
        .unwrap();
    let c = store
        .add_person(&person(
            "lthnhung.stttt@kontum.gov.vn",
            "Lê Thị Hồng Nhung",
            None,
        ))
        .await
        .unwrap();
    [a.account_id, b.account_id, c.account_id]
}

fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Nguyễn Văn An <nvan.stttt@kontum.gov.vn>\r\n\
         To: ntatuyet.stttt@kontum.gov.vn\r\n\
         Subject: {subject}\r\n\
         Message-ID: <{}@kontum.gov.vn>\r\n\
         Date: Mon, 2 Jun 2025 08:00:00 +0700\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         {body}\r\n",
        storage::blob::blob_id(format!("{subject}{body}").as_bytes())
    )
    .into_bytes()
}

fn delivery(
    raw: Vec<u8>,
    targets: Vec<DeliveryTarget>,
    outbound: Option<OutboundEnvelope>,
) -> Delivery {
    let meta = MessageMeta::compute(&raw);
    Delivery {
        raw: Arc::new(raw),
        meta: Arc::new(meta),
        targets,
        outbound,
        internal_date: storage::now(),
        events: vec![],
    }
}

fn target(account_id: i64, folder: FolderChoice) -> DeliveryTarget {
    DeliveryTarget {
        account_id,
        folder,
        flags: storage::Flags::new(),
    }
}

fn inbox(account_id: i64) -> DeliveryTarget {
    target(account_id, FolderChoice::Inbox)
}

async fn used_bytes(store: &Store, account_id: i64) -> i64 {
    store.account_ref(account_id).await.unwrap().used_bytes
}

#[tokio::test]
async fn domains_add_list_duplicate() {
    for_each_backend("domains", |ctx: Ctx| async move {
        let s = &ctx.store;
        assert!(s.list_domains().await.unwrap().is_empty());
        let d = s.add_domain("KonTum.gov.vn.", "kontum").await.unwrap();
        assert_eq!(d.name, DOMAIN, "[{}] name is normalised", ctx.name());
        assert_eq!(d.naming_rule, "kontum");
        s.add_domain("sotttt.kontum.gov.vn", "free").await.unwrap();
        let list = s.list_domains().await.unwrap();
        let names: Vec<&str> = list.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, [DOMAIN, "sotttt.kontum.gov.vn"], "[{}]", ctx.name());
        for dup in [DOMAIN, "KONTUM.GOV.VN"] {
            match s.add_domain(dup, "free").await {
                Err(Error::AlreadyExists(_)) => {}
                other => panic!("[{}] duplicate {dup}: {other:?}", ctx.name()),
            }
        }
        assert_eq!(s.list_domains().await.unwrap().len(), 2);
        assert!(matches!(
            s.add_domain("a b", "free").await,
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            s.add_domain("", "free").await,
            Err(Error::Invalid(_))
        ));
        assert_eq!(s.domain("kontum.gov.vn").await.unwrap(), d);
        assert!(matches!(
            s.domain("nowhere.vn").await,
            Err(Error::NotFound(_))
        ));
        assert!(s.is_local_domain("KONTUM.gov.vn").await.unwrap());
        assert!(!s.is_local_domain("example.com").await.unwrap());
        s.ping().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn units_with_parent() {
    for_each_backend("units", |ctx: Ctx| async move {
        let s = &ctx.store;
        // No domain yet.
        assert!(matches!(
            s.add_unit(&unit("STTTT", "Sở", None)).await,
            Err(Error::NotFound(_))
        ));
        s.add_domain(DOMAIN, "kontum").await.unwrap();
        let parent = s
            .add_unit(&unit("stttt", "Sở Thông tin và Truyền thông", None))
            .await
            .unwrap();
        assert_eq!(parent.abbrev, "STTTT");
        assert_eq!(parent.address, "stttt@kontum.gov.vn");
        assert_eq!(parent.parent, None);
        assert_eq!(parent.name, "Sở Thông tin và Truyền thông");
        let child = s
            .add_unit(&unit("PCNTT", "Phòng Công nghệ thông tin", Some("stttt")))
            .await
            .unwrap();
        assert_eq!(child.parent.as_deref(), Some("STTTT"), "[{}]", ctx.name());
        assert_eq!(child.address, "pcntt@kontum.gov.vn");
        assert_eq!(child.domain, DOMAIN);
        assert!(matches!(
            s.add_unit(&unit("X1", "x", Some("NOPE"))).await,
            Err(Error::NotFound(_))
        ));
        match s.add_unit(&unit("STTTT", "again", None)).await {
            Err(Error::AlreadyExists(_)) => {}
            other => panic!("[{}] duplicate unit: {other:?}", ctx.name()),
        }
        assert!(matches!(
            s.add_unit(&unit("S T", "bad", None)).await,
            Err(Error::Invalid(_))
        ));
        let list = s.list_units().await.unwrap();
        let abbrevs: Vec<&str> = list.iter().map(|u| u.abbrev.as_str()).collect();
        assert_eq!(abbrevs, ["PCNTT", "STTTT"]);
        assert_eq!(s.unit("pcntt").await.unwrap(), child);
        assert_eq!(s.unit("PCNTT@kontum.gov.vn").await.unwrap(), child);
        // The unit mailbox is an account with the default folders.
        match s.resolve("pcntt@kontum.gov.vn").await.unwrap() {
            Resolved::Account(a) => {
                assert_eq!(a.account_id, child.account_id);
                assert_eq!(a.kind, "unit");
            }
            other => panic!("[{}] unit address: {other:?}", ctx.name()),
        }
        assert_eq!(s.folders(child.account_id).await.unwrap().len(), 6);
    })
    .await;
}

#[tokio::test]
async fn person_names_are_stored_byte_for_byte() {
    for_each_backend("person_names", |ctx: Ctx| async move {
        let s = &ctx.store;
        s.add_domain(DOMAIN, "kontum").await.unwrap();
        s.add_unit(&unit("STTTT", "Sở Thông tin và Truyền thông", None))
            .await
            .unwrap();
        let nfc: String = NAME.nfc().collect();
        assert_eq!(nfc.as_bytes(), NAME.as_bytes(), "the literal is NFC");
        let nfd: String = NAME.nfd().collect();
        assert_ne!(nfd.as_bytes(), NAME.as_bytes(), "NFD differs from NFC");

        let p = s
            .add_person(&person("NTATuyet.STTTT@KonTum.gov.vn", NAME, Some("STTTT")))
            .await
            .unwrap();
        assert_eq!(p.address, "ntatuyet.stttt@kontum.gov.vn");
        assert_eq!(
            p.full_name.as_bytes(),
            NAME.as_bytes(),
            "[{}] add_person",
            ctx.name()
        );
        let back = s.person("ntatuyet.stttt@kontum.gov.vn").await.unwrap();
        assert_eq!(
            back.full_name.as_bytes(),
            NAME.as_bytes(),
            "[{}] person()",
            ctx.name()
        );
        assert_eq!(back.unit.as_deref(), Some("STTTT"));
        assert_eq!(back.unit_address.as_deref(), Some("stttt@kontum.gov.vn"));
        assert_eq!(back.position, "Chuyên viên");
        assert_eq!(back.phone, "0260 3862 123");
        assert_eq!(back.status, AccountStatus::Active);
        assert!(back.must_change_password);
        assert_eq!(back.quota_bytes, 100 * 1024 * 1024);
        assert_eq!(back.used_bytes, 0);
        assert!(back.aliases.is_empty());

        let q = s
            .add_person(&person("nfd.stttt@kontum.gov.vn", &nfd, Some("STTTT")))
            .await
            .unwrap();
        assert_eq!(
            q.full_name.as_bytes(),
            nfd.as_bytes(),
            "[{}] NFD add",
            ctx.name()
        );
        let back = s.person("nfd.stttt@kontum.gov.vn").await.unwrap();
        assert_eq!(
            back.full_name.as_bytes(),
            nfd.as_bytes(),
            "[{}] NFD read",
            ctx.name()
        );

        let all = s.list_persons(None).await.unwrap();
        assert_eq!(all.len(), 2);
        let listed = all
            .iter()
            .find(|p| p.address.starts_with("ntatuyet"))
            .unwrap();
        assert_eq!(listed.full_name.as_bytes(), NAME.as_bytes());
        assert_eq!(s.list_persons(Some("STTTT")).await.unwrap().len(), 2);

        match s
            .add_person(&person("ntatuyet.stttt@kontum.gov.vn", "Khác", None))
            .await
        {
            Err(Error::AlreadyExists(_)) => {}
            other => panic!("[{}] duplicate person: {other:?}", ctx.name()),
        }
        assert!(matches!(
            s.add_person(&person("x@kontum.gov.vn", "X", Some("NOUNIT")))
                .await,
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            s.add_person(&person("x@nowhere.vn", "X", None)).await,
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            s.add_person(&person("not-an-address", "X", None)).await,
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            s.add_person(&person("y@kontum.gov.vn", "  ", None)).await,
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            s.person("x@kontum.gov.vn").await,
            Err(Error::NotFound(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn only_argon2id_phc_strings_are_accepted() {
    for_each_backend("phc", |ctx: Ctx| async move {
        let s = &ctx.store;
        s.add_domain(DOMAIN, "kontum").await.unwrap();
        let bad = [
            "hunter2hunter2",
            "",
            "$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA",
            "$argon2d$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA",
            "$2b$12$abcdefghijklmnopqrstuuO1aGnXlZ9Ww6yD3o4c7e5x0A9bC1dE2",
            "$ARGON2ID$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA",
            " $argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA",
        ];
        for phc in bad {
            let mut new = person("bad@kontum.gov.vn", "Bad Hash", None);
            new.password_phc = phc.to_string();
            match s.add_person(&new).await {
                Err(Error::Invalid(_)) => {}
                other => panic!("[{}] add_person with {phc:?}: {other:?}", ctx.name()),
            }
            // Nothing of the failed person remains (the transaction rolled back).
            assert_eq!(
                s.resolve("bad@kontum.gov.vn").await.unwrap(),
                Resolved::Unknown,
                "[{}] {phc:?}",
                ctx.name()
            );
        }
        s.add_person(&person("good@kontum.gov.vn", "Good Hash", None))
            .await
            .unwrap();
        for phc in bad {
            match s.set_password("good@kontum.gov.vn", phc, false).await {
                Err(Error::Invalid(_)) => {}
                other => panic!("[{}] set_password {phc:?}: {other:?}", ctx.name()),
            }
        }
        let rec = s.login_record("good@kontum.gov.vn").await.unwrap().unwrap();
        assert_eq!(
            rec.phc.as_deref(),
            Some(PHC),
            "bad set_password left the hash alone"
        );
        assert!(
            rec.must_change_password,
            "bad set_password left the flag alone"
        );

        s.set_password("GOOD@kontum.gov.vn", PHC2, false)
            .await
            .unwrap();
        let rec = s.login_record("good@kontum.gov.vn").await.unwrap().unwrap();
        assert_eq!(rec.phc.as_deref(), Some(PHC2));
        assert!(!rec.must_change_password);
        assert!(matches!(
            s.set_password("nobody@kontum.gov.vn", PHC, false).await,
            Err(Error::NotFound(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn login_record_and_status() {
    for_each_backend("login_status", |ctx: Ctx| async move {
        let s = &ctx.store;
        let [a, _, _] = directory(s).await;
        let addr = "ntatuyet.stttt@kontum.gov.vn";
        let rec = s
            .login_record(" NTATuyet.STTTT@kontum.gov.vn ")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rec.account_id, a);
        assert_eq!(rec.address, addr);
        assert_eq!(rec.status, AccountStatus::Active);
        assert!(rec.must_change_password);
        assert_eq!(rec.phc.as_deref(), Some(PHC));
        assert!(s
            .login_record("nobody@kontum.gov.vn")
            .await
            .unwrap()
            .is_none());

        // A unit mailbox has no credential.
        let unit_rec = s
            .login_record("stttt@kontum.gov.vn")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(unit_rec.phc, None);

        for status in [
            AccountStatus::Disabled,
            AccountStatus::Active,
            AccountStatus::Departed,
            AccountStatus::Active,
        ] {
            s.set_status(addr, status).await.unwrap();
            assert_eq!(
                s.person(addr).await.unwrap().status,
                status,
                "[{}]",
                ctx.name()
            );
            assert_eq!(s.login_record(addr).await.unwrap().unwrap().status, status);
            match s.resolve(addr).await.unwrap() {
                Resolved::Account(r) => assert_eq!(r.status, status),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            s.set_status("nobody@kontum.gov.vn", AccountStatus::Disabled)
                .await,
            Err(Error::NotFound(_))
        ));
        // Status set through an alias changes the account.
        s.add_alias("tuyet@kontum.gov.vn", addr, None)
            .await
            .unwrap();
        s.set_status("tuyet@kontum.gov.vn", AccountStatus::Disabled)
            .await
            .unwrap();
        assert_eq!(
            s.person(addr).await.unwrap().status,
            AccountStatus::Disabled
        );
        let rec = s
            .login_record("tuyet@kontum.gov.vn")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rec.account_id, a);
        assert_eq!(
            rec.address, addr,
            "login by alias names the primary address"
        );
    })
    .await;
}

#[tokio::test]
async fn aliases_add_resolve_remove() {
    for_each_backend("aliases", |ctx: Ctx| async move {
        let s = &ctx.store;
        let [a, _, _] = directory(s).await;
        let addr = "ntatuyet.stttt@kontum.gov.vn";
        s.add_alias("Tuyet.NTA@KonTum.gov.vn", addr, None)
            .await
            .unwrap();
        match s.resolve("tuyet.nta@kontum.gov.vn").await.unwrap() {
            Resolved::Account(r) => {
                assert_eq!(r.account_id, a);
                assert_eq!(r.address, addr);
                assert_eq!(r.kind, "person");
                assert_eq!(r.unit_address.as_deref(), Some("stttt@kontum.gov.vn"));
            }
            other => panic!("[{}] alias: {other:?}", ctx.name()),
        }
        assert_eq!(
            s.person(addr).await.unwrap().aliases,
            ["tuyet.nta@kontum.gov.vn"]
        );
        assert_eq!(
            s.person("tuyet.nta@kontum.gov.vn")
                .await
                .unwrap()
                .account_id,
            a
        );
        let sendable = s.sendable_addresses(a).await.unwrap();
        assert!(
            sendable.contains(&"tuyet.nta@kontum.gov.vn".to_string()),
            "{sendable:?}"
        );
        assert!(sendable.contains(&addr.to_string()), "{sendable:?}");

        // Alias of an alias points at the same account.
        s.add_alias("tuyet2@kontum.gov.vn", "tuyet.nta@kontum.gov.vn", None)
            .await
            .unwrap();
        assert!(matches!(
            s.resolve("tuyet2@kontum.gov.vn").await.unwrap(),
            Resolved::Account(r) if r.account_id == a
        ));
        match s.add_alias("tuyet.nta@kontum.gov.vn", addr, None).await {
            Err(Error::AlreadyExists(_)) => {}
            other => panic!("[{}] duplicate alias: {other:?}", ctx.name()),
        }
        match s.add_alias("nvan.stttt@kontum.gov.vn", addr, None).await {
            Err(Error::AlreadyExists(_)) => {}
            other => panic!("[{}] alias over a primary: {other:?}", ctx.name()),
        }
        assert!(matches!(
            s.add_alias("x@kontum.gov.vn", "nobody@kontum.gov.vn", None)
                .await,
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            s.add_alias("x@elsewhere.vn", addr, None).await,
            Err(Error::NotFound(_))
        ));
        // Expired aliases no longer resolve.
        s.add_alias("old@kontum.gov.vn", addr, Some(storage::now() - 10))
            .await
            .unwrap();
        assert_eq!(
            s.resolve("old@kontum.gov.vn").await.unwrap(),
            Resolved::Unknown
        );
        s.add_alias("later@kontum.gov.vn", addr, Some(storage::now() + 3600))
            .await
            .unwrap();
        assert!(matches!(
            s.resolve("later@kontum.gov.vn").await.unwrap(),
            Resolved::Account(_)
        ));

        s.remove_alias("TUYET.NTA@kontum.gov.vn").await.unwrap();
        assert_eq!(
            s.resolve("tuyet.nta@kontum.gov.vn").await.unwrap(),
            Resolved::Unknown
        );
        assert!(matches!(
            s.remove_alias("tuyet.nta@kontum.gov.vn").await,
            Err(Error::NotFound(_))
        ));
        // A primary address is not an alias and cannot be removed as one.
        assert!(matches!(
            s.remove_alias(addr).await,
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            s.resolve(addr).await.unwrap(),
            Resolved::Account(_)
        ));
    })
    .await;
}

#[tokio::test]
async fn groups_expand_to_each_member_once() {
    for_each_backend("groups", |ctx: Ctx| async move {
        let s = &ctx.store;
        let [a, b, _] = directory(s).await;
        let unit_account = s.unit("STTTT").await.unwrap().account_id;
        let g = s
            .add_group("lanhdao@kontum.gov.vn", "Lãnh đạo Sở", "internal")
            .await
            .unwrap();
        match s
            .add_group("lanhdao@kontum.gov.vn", "again", "internal")
            .await
        {
            Err(Error::AlreadyExists(_)) => {}
            other => panic!("[{}] duplicate group: {other:?}", ctx.name()),
        }
        s.add_alias("tuyet@kontum.gov.vn", "ntatuyet.stttt@kontum.gov.vn", None)
            .await
            .unwrap();
        // The same person three times (primary, again, alias), another person, the unit.
        for member in [
            "ntatuyet.stttt@kontum.gov.vn",
            "NTATUYET.stttt@kontum.gov.vn",
            "tuyet@kontum.gov.vn",
            "nvan.stttt@kontum.gov.vn",
            "stttt@kontum.gov.vn",
        ] {
            s.add_group_member("lanhdao@kontum.gov.vn", member)
                .await
                .unwrap();
        }
        assert!(matches!(
            s.add_group_member("lanhdao@kontum.gov.vn", "nobody@kontum.gov.vn")
                .await,
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            s.add_group_member("nogroup@kontum.gov.vn", "nvan.stttt@kontum.gov.vn")
                .await,
            Err(Error::NotFound(_))
        ));
        let check = |resolved: Resolved| match resolved {
            Resolved::Group {
                group_id,
                send_policy,
                members,
            } => {
                assert_eq!(group_id, g);
                assert_eq!(send_policy, "internal");
                let mut ids: Vec<i64> = members.iter().map(|m| m.account_id).collect();
                ids.sort();
                let mut want = vec![a, b, unit_account];
                want.sort();
                assert_eq!(ids, want, "[{}] each member once", ctx.name());
            }
            other => panic!("[{}] group: {other:?}", ctx.name()),
        };
        check(s.resolve("LanhDao@kontum.gov.vn").await.unwrap());
        // An alias of the group resolves to the group.
        s.add_alias("bgd@kontum.gov.vn", "lanhdao@kontum.gov.vn", None)
            .await
            .unwrap();
        check(s.resolve("bgd@kontum.gov.vn").await.unwrap());
        assert!(matches!(
            s.add_group("g@nowhere.vn", "x", "internal").await,
            Err(Error::NotFound(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn resolve_unknown() {
    for_each_backend("resolve_unknown", |ctx: Ctx| async move {
        let s = &ctx.store;
        directory(s).await;
        for address in [
            "nobody@kontum.gov.vn",
            "ntatuyet@kontum.gov.vn",
            "ntatuyet.stttt@example.com",
            "",
            "no-at-sign",
        ] {
            assert_eq!(
                s.resolve(address).await.unwrap(),
                Resolved::Unknown,
                "[{}] {address:?}",
                ctx.name()
            );
        }
    })
    .await;
}

#[tokio::test]
async fn default_folders_exist() {
    for_each_backend("folders", |ctx: Ctx| async move {
        let s = &ctx.store;
        let [a, _, _] = directory(s).await;
        let unit_account = s.unit("STTTT").await.unwrap().account_id;
        for account in [a, unit_account] {
            let folders = s.folders(account).await.unwrap();
            let got: BTreeSet<(String, Option<String>)> = folders
                .iter()
                .map(|f| (f.name.clone(), f.special_use.clone()))
                .collect();
            let want: BTreeSet<(String, Option<String>)> = [
                ("INBOX", None),
                ("Sent", Some("\\Sent")),
                ("Drafts", Some("\\Drafts")),
                ("Trash", Some("\\Trash")),
                ("Junk", Some("\\Junk")),
                ("Archive", Some("\\Archive")),
            ]
            .into_iter()
            .map(|(n, u)| (n.to_string(), u.map(str::to_string)))
            .collect();
            assert_eq!(got, want, "[{}] account {account}", ctx.name());
            for f in &folders {
                assert_eq!(f.account_id, account);
                assert_eq!(f.uidnext, 1, "{f:?}");
                assert!(f.uidvalidity > 0, "{f:?}");
                assert!(f.subscribed, "{f:?}");
            }
            let validities: BTreeSet<i64> = folders.iter().map(|f| f.uidvalidity).collect();
            assert_eq!(
                validities.len(),
                folders.len(),
                "UIDVALIDITY distinct per folder"
            );
            let inbox = s.folder(account, "INBOX").await.unwrap();
            assert_eq!(inbox.special_use, None);
        }
        assert!(matches!(s.folder(a, "Nope").await, Err(Error::NotFound(_))));
        let id = s.create_folder(a, "Công văn đến").await.unwrap();
        assert_eq!(s.folder(a, "Công văn đến").await.unwrap().id, id);
        assert!(matches!(
            s.create_folder(a, "INBOX").await,
            Err(Error::AlreadyExists(_))
        ));
    })
    .await;
}

/// A delivery's audit events commit with it: recorded when the message is, absent when its
/// commit fails (here: a target account that does not exist).
#[tokio::test]
async fn delivery_events_commit_with_the_message() {
    for_each_backend("delivery_events", |ctx: Ctx| async move {
        let s = &ctx.store;
        let [a, _, _] = directory(s).await;
        let event = |target: &str| storage::NewEvent {
            actor: "smtp".into(),
            action: storage::Action::UnitSend,
            target: target.into(),
            doc_ref: String::new(),
            detail: serde_json::json!({"n": 1}),
        };
        let mut ok = delivery(message("có", "giao"), vec![inbox(a)], None);
        ok.events = vec![event("delivered")];
        s.deliver(ok).await.unwrap();
        let mut bad = delivery(message("không", "giao"), vec![inbox(987_654)], None);
        bad.events = vec![event("not delivered")];
        assert!(s.deliver(bad).await.is_err(), "[{}]", ctx.name());
        let events = s.events("unit.send", 10).await.unwrap();
        let targets: Vec<&str> = events.iter().map(|e| e.target.as_str()).collect();
        assert_eq!(targets, ["delivered"], "[{}]", ctx.name());
        assert_eq!(events[0].detail, serde_json::json!({"n": 1}));
    })
    .await;
}

/// Issue 15: an import batch keeps each message's bytes, flags and old INTERNALDATE, numbers
/// identical fingerprints apart, counts quota once per message, and stores the folder's mark
/// with them; a batch into a folder that is gone fails instead of landing in INBOX.
#[tokio::test]
async fn an_import_batch_keeps_flags_dates_and_keys() {
    use storage::{ImportKey, ImportMark, ImportMessage, ImportPlace};
    for_each_backend("import_batch", |ctx: Ctx| async move {
        let s = &ctx.store;
        let [a, _, _] = directory(s).await;
        let folder = s.create_folder(a, "Công văn cũ").await.unwrap();
        let raws: Vec<Vec<u8>> = ["một", "hai", "ba"]
            .iter()
            .map(|b| message("Cũ", b))
            .collect();
        let import = |i: usize, key: ImportKey| ImportMessage {
            raw: Arc::new(raws[i].clone()),
            flags: storage::Flags::from_names(if i == 0 {
                vec!["\\Seen", "$Label1"]
            } else {
                vec![]
            }),
            internal_date: 1_300_000_000 + i as i64,
            key,
        };
        let place = ImportPlace {
            account_id: a,
            source: "imap://old".into(),
            folder: "Cong van".into(),
        };
        let mark = ImportMark {
            uidvalidity: 7,
            last_uid: 30,
        };
        let batch = vec![
            import(0, ImportKey::Exact("old-1".into())),
            import(1, ImportKey::Numbered("fp".into())),
            import(2, ImportKey::Numbered("fp".into())),
        ];
        let uids = s
            .import_batch(folder, batch, Some((place.clone(), mark)), true)
            .await
            .unwrap();
        assert_eq!(uids, [1, 2, 3], "[{}]", ctx.name());
        let rows = s.messages(folder).await.unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].flags.as_str(), "\\Seen $Label1");
        assert_eq!(
            rows.iter().map(|r| r.internal_date).collect::<Vec<_>>(),
            [1_300_000_000, 1_300_000_001, 1_300_000_002]
        );
        for (row, raw) in rows.iter().zip(&raws) {
            assert_eq!(&s.read_blob(&row.blob_id).await.unwrap(), raw);
        }
        let keys = s.import_keys(folder).await.unwrap();
        for key in ["old-1", "fp#1", "fp#2"] {
            assert!(keys.contains(key), "[{}] {key}: {keys:?}", ctx.name());
        }
        assert_eq!(s.import_mark(&place).await.unwrap(), Some(mark));
        let total: i64 = raws.iter().map(|r| r.len() as i64).sum();
        assert_eq!(used_bytes(s, a).await, total);
        s.delete_folder(folder).await.unwrap();
        let inbox = s.folder(a, "INBOX").await.unwrap().id;
        let gone = s
            .import_batch(
                folder,
                vec![import(0, ImportKey::Exact("old-2".into()))],
                None,
                true,
            )
            .await;
        assert!(
            gone.is_err(),
            "[{}] a deleted folder takes nothing",
            ctx.name()
        );
        assert!(s.messages(inbox).await.unwrap().is_empty());
    })
    .await;
}

/// Issue 16: an SMTP transaction resent after its answer was lost is stored once; another
/// transaction, a delivery without a key, or a key older than a day is stored again.
#[tokio::test]
async fn a_delivery_key_stores_a_resent_transaction_once() {
    for_each_backend("delivery_keys", |ctx: Ctx| async move {
        let s = &ctx.store;
        let [a, b, _] = directory(s).await;
        let raw = message("Giấy mời họp", "Họp lúc 8h00.");
        let meta = MessageMeta::compute(&raw);
        let sender = "nvan.stttt@kontum.gov.vn";
        let key = storage::delivery_key::of(sender, &["ntatuyet.stttt@kontum.gov.vn"], &raw, &meta)
            .expect("a message with a Message-ID has a key");
        let to_a = || delivery(raw.clone(), vec![inbox(a)], None);
        let inbox_a = s.folder(a, "INBOX").await.unwrap().id;
        let first = s.deliver_keyed(to_a(), Some(key.clone())).await.unwrap();
        assert!(!first.resent);
        assert_eq!(first.placed.len(), 1);
        // Resent, once alone and twice at once (two nodes retrying).
        let again = s.deliver_keyed(to_a(), Some(key.clone())).await.unwrap();
        assert!(again.resent, "[{}]", ctx.name());
        assert!(again.placed.is_empty());
        assert_eq!(again.queue_id, None);
        let (x, y) = tokio::join!(
            s.deliver_keyed(to_a(), Some(key.clone())),
            s.deliver_keyed(to_a(), Some(key.clone()))
        );
        assert!(x.unwrap().resent && y.unwrap().resent);
        assert_eq!(s.messages(inbox_a).await.unwrap().len(), 1, "[{}]", ctx.name());
        assert_eq!(used_bytes(s, a).await, raw.len() as i64, "quota counts one copy");
        // Two new transactions with one key in one batch: the first is stored.
        let fresh = storage::delivery_key::of(sender, &["x@kontum.gov.vn"], &raw, &meta).unwrap();
        let (x, y) = tokio::join!(
            s.deliver_keyed(to_a(), Some(fresh.clone())),
            s.deliver_keyed(to_a(), Some(fresh.clone()))
        );
        let (x, y) = (x.unwrap(), y.unwrap());
        assert!(x.resent != y.resent, "[{}] one of the two is stored", ctx.name());
        assert_eq!(s.messages(inbox_a).await.unwrap().len(), 2);
        // Another transaction (another recipient) has another key.
        let to_b = storage::delivery_key::of(sender, &["nvan.stttt@kontum.gov.vn"], &raw, &meta);
        assert_ne!(to_b.as_deref(), Some(key.as_str()));
        let other = s
            .deliver_keyed(delivery(raw.clone(), vec![inbox(b)], None), to_b)
            .await
            .unwrap();
        assert!(!other.resent);
        // No key: every delivery is stored.
        assert!(!s.deliver(to_a()).await.unwrap().resent);
        assert_eq!(s.messages(inbox_a).await.unwrap().len(), 3);
        // A key older than a day is claimed again, then purged when a day old.
        let day = storage::delivery_key::KEY_TTL_SECS;
        let aged = format!(
            "UPDATE delivery_keys SET created_at = created_at - {} WHERE key = $1 RETURNING created_at",
            day + 1
        );
        ctx.scalar_i64(&aged, &key).await;
        let later = s.deliver_keyed(to_a(), Some(key.clone())).await.unwrap();
        assert!(!later.resent, "[{}] an expired key is claimed again", ctx.name());
        assert_eq!(s.messages(inbox_a).await.unwrap().len(), 4);
        assert_eq!(s.purge_delivery_keys().await.unwrap(), 0, "nothing is a day old");
        ctx.scalar_i64(&aged, &key).await;
        assert_eq!(s.purge_delivery_keys().await.unwrap(), 1);
        let count = "SELECT COUNT(*) FROM delivery_keys WHERE key = $1";
        assert_eq!(ctx.scalar_i64(count, &key).await, 0);
    })
    .await;
}

#[tokio::test]
async fn deliver_to_three_targets_writes_one_blob() {
    for_each_backend("deliver_three", |ctx: Ctx| async move {
        let s = &ctx.store;
        let [a, b, c] = directory(s).await;
        let raw = message("Công văn số 123/STTTT", "Kính gửi các đồng chí.");
        let size = raw.len() as i64;
        assert_eq!(ctx.stored_blob_count().await, 0);
        let d1 = s
            .deliver(delivery(
                raw.clone(),
                vec![inbox(a), inbox(b), inbox(c)],
                None,
            ))
            .await
            .unwrap();
        assert_eq!(d1.blob_id, storage::blob::blob_id(&raw));
        assert_eq!(d1.queue_id, None);
        assert_eq!(d1.placed.len(), 3);
        for (i, &(account, folder, uid)) in d1.placed.iter().enumerate() {
            assert_eq!(account, [a, b, c][i]);
            assert_eq!(folder, s.folder(account, "INBOX").await.unwrap().id);
            assert_eq!(uid, 1, "[{}] first UID", ctx.name());
        }
        assert_eq!(
            ctx.stored_blob_count().await,
            1,
            "[{}] one blob for 3 copies",
            ctx.name()
        );
        if s.blobs_in_files() {
            let files = common::blob_files(&ctx.data_dir().join("blobs"));
            assert_eq!(files[0].file_name().unwrap().to_str().unwrap(), d1.blob_id);
            assert_eq!(std::fs::read(&files[0]).unwrap(), raw);
        }
        assert_eq!(s.read_blob(&d1.blob_id).await.unwrap(), raw);
        assert_eq!(
            ctx.scalar_i64("SELECT refcount FROM blobs WHERE id = $1", &d1.blob_id)
                .await,
            3
        );
        assert_eq!(s.count_messages().await.unwrap(), 3);
        for account in [a, b, c] {
            let inbox_id = s.folder(account, "INBOX").await.unwrap().id;
            let rows = s.messages(inbox_id).await.unwrap();
            assert_eq!(rows.len(), 1);
            assert_eq!(*rows[0].blob_id, d1.blob_id, "copies share the blob");
            assert_eq!(rows[0].size, size);
            assert_eq!(rows[0].uid, 1);
            assert_eq!(
                used_bytes(s, account).await,
                size,
                "[{}] exact quota",
                ctx.name()
            );
        }

        // More messages: UIDs ascend per folder, usage is the exact sum.
        let raw2 = message("Giấy mời họp", "Thời gian: 8h00.");
        let raw3 = message("Báo cáo tuần", "Đính kèm.");
        let d2 = s
            .deliver(delivery(raw2.clone(), vec![inbox(a), inbox(b)], None))
            .await
            .unwrap();
        assert_eq!(d2.placed.iter().map(|p| p.2).collect::<Vec<_>>(), [2, 2]);
        let d3 = s
            .deliver(delivery(raw3.clone(), vec![inbox(a)], None))
            .await
            .unwrap();
        assert_eq!(d3.placed[0].2, 3);
        // Into Junk by special use: that folder's own UID sequence starts at 1.
        let junk = s
            .deliver(delivery(
                raw3.clone(),
                vec![target(b, FolderChoice::SpecialUse("\\Junk"))],
                None,
            ))
            .await
            .unwrap();
        assert_eq!(junk.placed[0].1, s.folder(b, "Junk").await.unwrap().id);
        assert_eq!(junk.placed[0].2, 1);
        // An unknown special use falls back to INBOX.
        let fallback = s
            .deliver(delivery(
                raw2.clone(),
                vec![target(c, FolderChoice::SpecialUse("\\Nothing"))],
                None,
            ))
            .await
            .unwrap();
        assert_eq!(fallback.placed[0].1, s.folder(c, "INBOX").await.unwrap().id);
        assert_eq!(fallback.placed[0].2, 2);

        let inbox_a = s
            .messages(s.folder(a, "INBOX").await.unwrap().id)
            .await
            .unwrap();
        assert_eq!(inbox_a.iter().map(|m| m.uid).collect::<Vec<_>>(), [1, 2, 3]);
        let modseqs: Vec<i64> = inbox_a.iter().map(|m| m.modseq).collect();
        assert!(modseqs.windows(2).all(|w| w[0] < w[1]), "{modseqs:?}");
        assert_eq!(s.folder(a, "INBOX").await.unwrap().uidnext, 4);
        let (s1, s2, s3) = (size, raw2.len() as i64, raw3.len() as i64);
        assert_eq!(used_bytes(s, a).await, s1 + s2 + s3);
        assert_eq!(used_bytes(s, b).await, s1 + s2 + s3);
        assert_eq!(used_bytes(s, c).await, s1 + s2);
        assert_eq!(
            s.person("nvan.stttt@kontum.gov.vn")
                .await
                .unwrap()
                .used_bytes,
            s1 + s2 + s3
        );
        assert_eq!(ctx.stored_blob_count().await, 3, "three distinct bodies");
        assert_eq!(
            ctx.scalar_i64("SELECT refcount FROM blobs WHERE id = $1", &d2.blob_id)
                .await,
            3
        );
        // The stored meta is what compute() gives.
        assert_eq!(
            MessageMeta::compute(&s.read_blob(&d3.blob_id).await.unwrap()).to_json(),
            MessageMeta::compute(&raw3).to_json()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_deliveries() {
    for_each_backend("concurrent", |ctx: Ctx| async move {
        let s = &ctx.store;
        let [a, b, _] = directory(s).await;
        let mut tasks = Vec::new();
        let mut total = 0i64;
        for i in 0..50 {
            let raw = message(&format!("Tin nhắn số {i}"), &"nội dung ".repeat(i + 1));
            total += raw.len() as i64;
            let store = s.clone();
            // Every fifth also goes to b's Archive: b's UIDs there must also be dense.
            let mut targets = vec![inbox(a)];
            if i % 5 == 0 {
                targets.push(target(b, FolderChoice::SpecialUse("\\Archive")));
            }
            tasks.push(tokio::spawn(async move {
                store.deliver(delivery(raw, targets, None)).await
            }));
        }
        let mut uids = Vec::new();
        let mut archive_uids = Vec::new();
        for task in tasks {
            let delivered = task
                .await
                .expect("task")
                .unwrap_or_else(|e| panic!("[{}] concurrent deliver: {e}", ctx.name()));
            uids.push(delivered.placed[0].2);
            if let Some(p) = delivered.placed.get(1) {
                archive_uids.push(p.2);
            }
        }
        uids.sort();
        assert_eq!(
            uids,
            (1..=50).collect::<Vec<i64>>(),
            "[{}] distinct UIDs",
            ctx.name()
        );
        archive_uids.sort();
        assert_eq!(archive_uids, (1..=10).collect::<Vec<i64>>());
        let folder = s.folder(a, "INBOX").await.unwrap();
        assert_eq!(folder.uidnext, 51);
        let rows = s.messages(folder.id).await.unwrap();
        assert_eq!(
            rows.iter().map(|m| m.uid).collect::<Vec<_>>(),
            (1..=50).collect::<Vec<i64>>()
        );
        let blobs: BTreeSet<&str> = rows.iter().map(|m| &*m.blob_id).collect();
        assert_eq!(blobs.len(), 50);
        assert_eq!(
            used_bytes(s, a).await,
            total,
            "[{}] exact quota",
            ctx.name()
        );
        assert_eq!(ctx.stored_blob_count().await, 50);
        assert_eq!(s.count_messages().await.unwrap(), 60);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_delivery_does_not_take_its_batch_down() {
    for_each_backend("failing_in_batch", |ctx: Ctx| async move {
        let s = &ctx.store;
        let [a, _, _] = directory(s).await;
        let mut tasks = Vec::new();
        for i in 0..20 {
            let raw = message(&format!("Lô {i}"), "x");
            // Every fourth names an account that does not exist.
            let account = if i % 4 == 3 { 999_999 } else { a };
            let store = s.clone();
            tasks.push(tokio::spawn(async move {
                (
                    account,
                    store
                        .deliver(delivery(raw, vec![inbox(account)], None))
                        .await,
                )
            }));
        }
        let mut uids = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                (account, Ok(d)) => {
                    assert_eq!(account, a);
                    uids.push(d.placed[0].2);
                }
                (account, Err(e)) => {
                    assert_eq!(
                        account,
                        999_999,
                        "[{}] good delivery failed: {e}",
                        ctx.name()
                    );
                    assert!(matches!(e, Error::NotFound(_)), "[{}] {e:?}", ctx.name());
                }
            }
        }
        uids.sort();
        assert_eq!(uids, (1..=15).collect::<Vec<i64>>(), "[{}]", ctx.name());
        assert_eq!(s.count_messages().await.unwrap(), 15);
        assert_eq!(ctx.scalar_i64("SELECT COUNT(*) FROM blobs", "").await, 15);
        assert_eq!(s.folder(a, "INBOX").await.unwrap().uidnext, 16);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_committed_writes_fail_alone() {
    for_each_backend("group_commit", |ctx: Ctx| async move {
        let s = &ctx.store;
        let [a, _, _] = directory(s).await;
        let inbox_id = s.folder(a, "INBOX").await.unwrap().id;
        s.set_quota("ntatuyet.stttt@kontum.gov.vn", 40_000)
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for i in 0..30u32 {
            let store = s.clone();
            tasks.push(tokio::spawn(async move {
                // Every third APPEND is too large for the quota; the rest fit.
                let body = if i % 3 == 2 {
                    "y".repeat(50_000)
                } else {
                    "x".to_string()
                };
                let raw = message(&format!("Thư {i}"), &body);
                (
                    i,
                    store
                        .append_message(inbox_id, &raw, "", 1_700_000_000)
                        .await,
                )
            }));
        }
        let mut uids = vec![];
        for task in tasks {
            match task.await.unwrap() {
                (i, Ok(uid)) => {
                    assert_ne!(i % 3, 2, "[{}] oversized append accepted", ctx.name());
                    uids.push(uid);
                }
                (i, Err(e)) => {
                    assert_eq!(i % 3, 2, "[{}] good append failed: {e}", ctx.name());
                    assert!(matches!(e, Error::OverQuota), "[{}] {e:?}", ctx.name());
                }
            }
        }
        uids.sort();
        assert_eq!(uids, (1..=20).collect::<Vec<i64>>(), "[{}]", ctx.name());
        // Flags on all twenty at once from many tasks; then an expunge of half of them.
        let mut tasks = Vec::new();
        for uid in 1..=20i64 {
            let store = s.clone();
            let flag = if uid % 2 == 0 { "\\Deleted" } else { "\\Seen" };
            tasks.push(tokio::spawn(async move {
                store
                    .store_flags(inbox_id, &[uid], FlagChange::Add, &[flag.to_string()], None)
                    .await
            }));
        }
        for task in tasks {
            let (updated, failed) = task.await.unwrap().unwrap();
            assert_eq!((updated.len(), failed.len()), (1, 0));
        }
        let gone = s.expunge(inbox_id, None).await.unwrap();
        assert_eq!(gone, (1..=10).map(|i| i * 2).collect::<Vec<i64>>());
        let left = s.messages(inbox_id).await.unwrap();
        assert_eq!(left.len(), 10);
        assert!(left.iter().all(|m| m.flags == "\\Seen"), "[{}]", ctx.name());
        let expected: i64 = left.iter().map(|m| m.size).sum();
        assert_eq!(
            used_bytes(s, a).await,
            expected,
            "[{}] quota exact",
            ctx.name()
        );
    })
    .await;
}

#[tokio::test]
async fn folder_listings_follow_every_change() {
    for_each_backend("listing", |ctx: Ctx| async move {
        let s = &ctx.store;
        let [a, _, _] = directory(s).await;
        let inbox_id = s.folder(a, "INBOX").await.unwrap().id;
        let archive = s.folder(a, "Archive").await.unwrap().id;
        for i in 0..5 {
            s.append_message(inbox_id, &message(&format!("m{i}"), "x"), "", 1)
                .await
                .unwrap();
        }
        let first = s.listing(inbox_id).await.unwrap();
        assert_eq!(first.rows.len(), 5);
        // Unchanged folder: the same shared listing.
        assert!(Arc::ptr_eq(&first, &s.listing(inbox_id).await.unwrap()));
        s.store_flags(
            inbox_id,
            &[2, 4],
            FlagChange::Add,
            &["\\Deleted".into()],
            None,
        )
        .await
        .unwrap();
        s.deliver(delivery(message("m5", "y"), vec![inbox(a)], None))
            .await
            .unwrap();
        s.copy_messages(inbox_id, &[1], archive, true)
            .await
            .unwrap();
        let after = s.listing(inbox_id).await.unwrap();
        let seen: Vec<(i64, String)> = after
            .rows
            .iter()
            .map(|r| (r.uid, r.flags.to_string()))
            .collect();
        assert_eq!(
            seen,
            vec![
                (2, "\\Deleted".to_string()),
                (3, String::new()),
                (4, "\\Deleted".to_string()),
                (5, String::new()),
                (6, String::new())
            ],
            "[{}]",
            ctx.name()
        );
        s.expunge(inbox_id, None).await.unwrap();
        let uids: Vec<i64> = s
            .messages(inbox_id)
            .await
            .unwrap()
            .iter()
            .map(|r| r.uid)
            .collect();
        assert_eq!(uids, vec![3, 5, 6], "[{}]", ctx.name());
        let moved: Vec<i64> = s
            .messages(archive)
            .await
            .unwrap()
            .iter()
            .map(|r| r.uid)
            .collect();
        assert_eq!(moved, vec![1], "[{}]", ctx.name());
        // What the listing says is what the database says.
        let fresh: Vec<i64> = sqlx_uids(&ctx, inbox_id).await;
        assert_eq!(fresh, vec![3, 5, 6]);
    })
    .await;
}

async fn sqlx_uids(ctx: &Ctx, folder_id: i64) -> Vec<i64> {
    let n = ctx
        .scalar_i64(
            &format!("SELECT COUNT(*) FROM messages WHERE folder_id = {folder_id}"),
            "",
        )
        .await;
    let mut uids = vec![];
    for uid in 1..=10 {
        let found = ctx
            .scalar_i64(
                &format!(
                    "SELECT COUNT(*) FROM messages WHERE folder_id = {folder_id} AND uid = {uid}"
                ),
                "",
            )
            .await;
        if found == 1 {
            uids.push(uid);
        }
    }
    assert_eq!(uids.len() as i64, n);
    uids
}

#[tokio::test]
async fn every_password_change_ends_open_sessions() {
    for_each_backend("epoch", |ctx: Ctx| async move {
        let s = &ctx.store;
        let [a, _, _] = directory(s).await;
        let before = s.session_epoch(a).await.unwrap();
        let phc = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        // The owner's own change (must_change = false) and an administrator's reset (true).
        s.set_password("ntatuyet.stttt@kontum.gov.vn", phc, false).await.unwrap();
        let after_change = s.session_epoch(a).await.unwrap();
        assert!(after_change > before, "[{}]", ctx.name());
        s.set_password("ntatuyet.stttt@kontum.gov.vn", phc, true).await.unwrap();
        assert!(s.session_epoch(a).await.unwrap() > after_change, "[{}]", ctx.name());
    })
    .await;
}

#[tokio::test]
async fn outbound_envelope_creates_queue_entries() {
    for_each_backend("queue", |ctx: Ctx| async move {
        let s = &ctx.store;
        let [a, _, _] = directory(s).await;
        assert!(s.queue_entries().await.unwrap().is_empty());
        let raw = message("Gửi Bộ", "Kính gửi Bộ Thông tin và Truyền thông.");
        let envelope = OutboundEnvelope {
            sender: "ntatuyet.stttt@kontum.gov.vn".into(),
            account_id: Some(a),
            env_id: Some("ENV-1".into()),
            ret: Some("HDRS".into()),
            recipients: vec![
                OutboundRecipient {
                    address: "vanthu@mic.gov.vn".into(),
                    notify: Some("FAILURE,DELAY".into()),
                    orcpt: None,
                },
                OutboundRecipient {
                    address: "someone@Example.COM".into(),
                    notify: None,
                    orcpt: Some("rfc822;someone@example.com".into()),
                },
            ],
        };
        let d = s
            .deliver(delivery(
                raw.clone(),
                vec![target(a, FolderChoice::SpecialUse("\\Sent"))],
                Some(envelope),
            ))
            .await
            .unwrap();
        let queue_id = d.queue_id.expect("queued");
        assert_eq!(d.placed[0].1, s.folder(a, "Sent").await.unwrap().id);
        let entries = s.queue_entries().await.unwrap();
        assert_eq!(entries.len(), 2, "[{}] one entry per recipient", ctx.name());
        let recipients: Vec<&str> = entries.iter().map(|e| e.recipient.as_str()).collect();
        assert_eq!(recipients, ["vanthu@mic.gov.vn", "someone@Example.COM"]);
        for e in &entries {
            assert_eq!(e.message_id, queue_id);
            assert_eq!(e.sender, "ntatuyet.stttt@kontum.gov.vn");
            assert_eq!(e.status, "pending");
            assert_eq!(e.attempts, 0);
            assert_eq!(e.last_error, "");
            assert_eq!(e.size, raw.len() as i64);
            assert!(e.next_attempt > 0 && e.created_at > 0);
        }
        // The Sent copy and the queue both hold the one blob.
        assert_eq!(ctx.stored_blob_count().await, 1);
        assert_eq!(
            ctx.scalar_i64("SELECT refcount FROM blobs WHERE id = $1", &d.blob_id)
                .await,
            2
        );
        // Queue-only (no local copy).
        let raw2 = message("Chỉ gửi ra ngoài", "x");
        let d2 = s
            .deliver(delivery(
                raw2,
                vec![],
                Some(OutboundEnvelope {
                    sender: "nvan.stttt@kontum.gov.vn".into(),
                    recipients: vec![OutboundRecipient::new("a@b.vn")],
                    ..Default::default()
                }),
            ))
            .await
            .unwrap();
        assert!(d2.placed.is_empty());
        assert_ne!(d2.queue_id, Some(queue_id));
        assert_eq!(s.queue_entries().await.unwrap().len(), 3);
        assert_eq!(
            ctx.scalar_i64("SELECT refcount FROM blobs WHERE id = $1", &d2.blob_id)
                .await,
            1
        );
        assert_eq!(
            s.gc_blobs(0).await.unwrap(),
            0,
            "queued blobs are referenced"
        );
    })
    .await;
}

#[tokio::test]
async fn migrations_are_idempotent() {
    for_each_backend("migrations", |ctx: Ctx| async move {
        let s = &ctx.store;
        let [a, _, _] = directory(s).await;
        s.deliver(delivery(message("Trước", "x"), vec![inbox(a)], None))
            .await
            .unwrap();
        s.migrate().await.unwrap();
        let again = ctx
            .reopen()
            .await
            .unwrap_or_else(|e| panic!("[{}] second open: {e}", ctx.name()));
        again.migrate().await.unwrap();
        let third = ctx.reopen().await.unwrap();
        assert_eq!(third.list_domains().await.unwrap().len(), 1);
        assert_eq!(third.list_persons(None).await.unwrap().len(), 3);
        assert_eq!(third.count_messages().await.unwrap(), 1);
        // The reopened store keeps counting UIDs where the first left off.
        let d = third
            .deliver(delivery(message("Sau", "y"), vec![inbox(a)], None))
            .await
            .unwrap();
        assert_eq!(d.placed[0].2, 2);
        // Each migration file is recorded exactly once, however often the store is opened.
        let files = std::fs::read_dir(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../migrations/sqlite"
        ))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sql")
        })
        .count() as i64;
        assert_eq!(
            ctx.scalar_i64("SELECT COUNT(DISTINCT version) FROM _sqlx_migrations", "")
                .await,
            files,
            "[{}] every migration recorded",
            ctx.name()
        );
        assert_eq!(
            ctx.scalar_i64("SELECT COUNT(*) FROM _sqlx_migrations", "")
                .await,
            files,
            "[{}] and recorded once",
            ctx.name()
        );
        again.close().await;
        third.close().await;
    })
    .await;
}

#[tokio::test]
async fn gc_keeps_referenced_blobs() {
    for_each_backend("gc", |ctx: Ctx| async move {
        let s = &ctx.store;
        let [a, b, c] = directory(s).await;
        let mut ids = Vec::new();
        for i in 0..3 {
            let d = s
                .deliver(delivery(
                    message(&format!("GC {i}"), "giữ lại"),
                    vec![inbox(a), inbox(b), inbox(c)],
                    None,
                ))
                .await
                .unwrap();
            ids.push((d.blob_id, message(&format!("GC {i}"), "giữ lại")));
        }
        assert_eq!(
            s.gc_blobs(0).await.unwrap(),
            0,
            "[{}] nothing unreferenced",
            ctx.name()
        );
        assert_eq!(
            s.gc_blobs(-3600).await.unwrap(),
            0,
            "even with a future cutoff"
        );
        assert_eq!(ctx.stored_blob_count().await, 3);
        for (id, raw) in &ids {
            assert_eq!(
                &s.read_blob(id).await.unwrap(),
                raw,
                "[{}] after gc",
                ctx.name()
            );
        }
        assert!(matches!(
            s.read_blob(&storage::blob::blob_id(b"never stored")).await,
            Err(Error::NotFound(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn events_round_trip() {
    for_each_backend("events", |ctx: Ctx| async move {
        let s = &ctx.store;
        assert!(s.events("", 10).await.unwrap().is_empty());
        let detail = serde_json::json!({
            "name": NAME,
            "quota": 2048,
            "nested": {"list": [1, 2, 3], "ok": true, "none": null}
        });
        s.log_event(
            "cli",
            storage::Action::UserAdd,
            "ntatuyet.stttt@kontum.gov.vn",
            "QĐ 12/QĐ-STTTT",
            detail.clone(),
        )
        .await
        .unwrap();
        s.log_event(
            "smtp",
            storage::Action::VirusRefused,
            "nvan.stttt@kontum.gov.vn",
            "",
            serde_json::json!({"virus": "Eicar-Signature"}),
        )
        .await
        .unwrap();
        s.log_event(
            "cli",
            storage::Action::UserDisable,
            "ntatuyet.stttt@kontum.gov.vn",
            "",
            serde_json::json!({}),
        )
        .await
        .unwrap();
        let all = s.events("", 10).await.unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(
            all.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
            ["user.disable", "virus.refused", "user.add"],
            "[{}] newest first",
            ctx.name()
        );
        let users = s.events("user.", 10).await.unwrap();
        assert_eq!(users.len(), 2);
        let add = &users[1];
        assert_eq!(add.actor, "cli");
        assert_eq!(add.target, "ntatuyet.stttt@kontum.gov.vn");
        assert_eq!(add.doc_ref, "QĐ 12/QĐ-STTTT");
        assert_eq!(add.detail, detail, "[{}] detail round trip", ctx.name());
        assert_eq!(
            add.detail["name"].as_str().unwrap().as_bytes(),
            NAME.as_bytes()
        );
        assert!(add.at > 0 && add.at <= storage::now());
        assert_eq!(s.events("", 1).await.unwrap().len(), 1);
        assert!(s.events("group.", 10).await.unwrap().is_empty());
        // A bare prefix without the dot matches too.
        assert_eq!(
            s.events("virus", 10).await.unwrap()[0].detail["virus"],
            "Eicar-Signature"
        );
    })
    .await;
}

#[tokio::test]
async fn events_prefix_is_literal_and_case_sensitive() {
    // `events(prefix)` documents "whose action starts with `prefix`": the same answer on both
    // backends, with no LIKE wildcards and no case folding.
    for_each_backend("events_prefix", |ctx: Ctx| async move {
        let s = &ctx.store;
        s.log_event(
            "cli",
            storage::Action::UserAdd,
            "x",
            "",
            serde_json::json!({}),
        )
        .await
        .unwrap();
        s.log_event(
            "cli",
            storage::Action::UserDisable,
            "x",
            "",
            serde_json::json!({}),
        )
        .await
        .unwrap();
        assert_eq!(s.events("user.", 10).await.unwrap().len(), 2);
        let mut wrong = Vec::new();
        for (prefix, why) in [
            ("USER.", "case-folded"),
            ("user_", "'_' taken as a LIKE wildcard"),
            ("%add", "'%' taken as a LIKE wildcard"),
        ] {
            let n = s.events(prefix, 10).await.unwrap().len();
            if n != 0 {
                wrong.push(format!("events({prefix:?}) returned {n} (prefix {why})"));
            }
        }
        assert!(wrong.is_empty(), "[{}] {}", ctx.name(), wrong.join("; "));
    })
    .await;
}

#[test]
fn with_database_replaces_the_name() {
    assert_eq!(
        common::with_database("postgres://u:p@127.0.0.1:5432/govmail_test", "x"),
        "postgres://u:p@127.0.0.1:5432/x"
    );
    assert_eq!(
        common::with_database("postgres://u:p@h:1/db?sslmode=disable", "y"),
        "postgres://u:p@h:1/y?sslmode=disable"
    );
    assert_eq!(common::with_database("postgres://h", "z"), "postgres://h/z");
}

/// A crash between the blob write and the commit leaves a file no row refers to; GC removes it
/// (and interrupted temporary files) but never a referenced blob. Files store only (SQLite).
#[tokio::test]
async fn gc_removes_orphan_blob_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = storage::StoreOptions::new(
        format!("sqlite://{}", dir.path().join("g.db").display()),
        dir.path().to_path_buf(),
    );
    options.inline_blob_max = 0;
    let store = Store::open(&options).await.unwrap();
    let kept = store.put_blob_bytes(b"referenced later").await.unwrap();
    let orphan_dir = dir.path().join("blobs").join("ab");
    std::fs::create_dir_all(&orphan_dir).unwrap();
    let orphan = orphan_dir.join(storage::blob::blob_id(b"orphan"));
    std::fs::write(&orphan, b"orphan").unwrap();
    let tmp = orphan_dir.join(".x.123.tmp");
    std::fs::write(&tmp, b"half").unwrap();
    // `kept` has no row either (never committed): it is an orphan too.
    assert_eq!(store.gc_blobs(0).await.unwrap(), 3);
    assert!(!orphan.exists() && !tmp.exists());
    assert!(store.read_blob(&kept).await.is_err());
    // A referenced blob survives.
    store.add_domain(DOMAIN, "free").await.unwrap();
    let a = store
        .add_person(&person("a@kontum.gov.vn", NAME, None))
        .await
        .unwrap()
        .account_id;
    let raw = b"Subject: x\r\n\r\nbody\r\n".to_vec();
    let delivered = store
        .deliver(Delivery {
            raw: Arc::new(raw.clone()),
            meta: Arc::new(MessageMeta::compute(&raw)),
            targets: vec![DeliveryTarget {
                account_id: a,
                folder: FolderChoice::Inbox,
                flags: storage::Flags::new(),
            }],
            outbound: None,
            internal_date: storage::now(),
            events: vec![],
        })
        .await
        .unwrap();
    assert_eq!(store.gc_blobs(0).await.unwrap(), 0);
    assert_eq!(store.read_blob(&delivered.blob_id).await.unwrap(), raw);
}

/// With the files store, small bodies are kept in the database (one fsync per group commit);
/// large ones are files. Both read back identically and are collected when unreferenced.
#[tokio::test]
async fn small_blobs_inline_large_blobs_as_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = storage::StoreOptions::new(
        format!("sqlite://{}", dir.path().join("i.db").display()),
        dir.path().to_path_buf(),
    );
    options.inline_blob_max = 1024;
    let store = Store::open(&options).await.unwrap();
    store.add_domain(DOMAIN, "free").await.unwrap();
    let a = store
        .add_person(&person("a@kontum.gov.vn", NAME, None))
        .await
        .unwrap()
        .account_id;
    let small = b"Subject: small\r\n\r\nx\r\n".to_vec();
    let mut large = b"Subject: large\r\n\r\n".to_vec();
    large.extend(std::iter::repeat_n(b'y', 4096));
    for raw in [&small, &large] {
        let d = store
            .deliver(Delivery {
                raw: Arc::new(raw.clone()),
                meta: Arc::new(MessageMeta::compute(raw)),
                targets: vec![DeliveryTarget {
                    account_id: a,
                    folder: FolderChoice::Inbox,
                    flags: storage::Flags::new(),
                }],
                outbound: None,
                internal_date: storage::now(),
                events: vec![],
            })
            .await
            .unwrap();
        assert_eq!(&store.read_blob(&d.blob_id).await.unwrap(), raw);
    }
    let files = common::blob_files(&dir.path().join("blobs"));
    assert_eq!(files.len(), 1, "only the large body is a file: {files:?}");
    assert_eq!(
        files[0].file_name().unwrap().to_str().unwrap(),
        storage::blob::blob_id(&large)
    );
}

/// The IMAP operations on both engines: flags with MODSEQ, counts, expunge (with its log),
/// copy and move with exact quota.
#[tokio::test]
async fn mailbox_operations_on_both_backends() {
    for_each_backend("mailbox_ops", |ctx: Ctx| async move {
        let s = &ctx.store;
        let [a, _, _] = directory(s).await;
        for i in 0..4 {
            s.deliver(delivery(
                message(&format!("M{i}"), "x"),
                vec![inbox(a)],
                None,
            ))
            .await
            .unwrap();
        }
        let folder = s.folder(a, "INBOX").await.unwrap();
        let (updated, _) = s
            .store_flags(
                folder.id,
                &[1, 2],
                storage::FlagChange::Add,
                &["\\Seen".to_string()],
                None,
            )
            .await
            .unwrap();
        assert_eq!(updated.len(), 2);
        assert!(
            updated[1].modseq > updated[0].modseq,
            "[{}] MODSEQ grows",
            ctx.name()
        );
        s.store_flags(
            folder.id,
            &[3],
            storage::FlagChange::Add,
            &["\\Deleted".to_string()],
            None,
        )
        .await
        .unwrap();
        let counts = s.folder_counts(folder.id).await.unwrap();
        assert_eq!(
            (counts.messages, counts.unseen, counts.deleted),
            (4, 2, 1),
            "[{}] {counts:?}",
            ctx.name()
        );
        assert!(counts.size > 0);
        // Counted again from the folder's kept listing, brought up to date after a change:
        // the same as the database's count.
        s.listing(folder.id).await.unwrap();
        s.store_flags(
            folder.id,
            &[1],
            storage::FlagChange::Remove,
            &["\\Seen".to_string()],
            None,
        )
        .await
        .unwrap();
        let kept = s.folder_counts(folder.id).await.unwrap();
        assert_eq!(
            (kept.messages, kept.unseen, kept.deleted, kept.size),
            (4, 3, 1, counts.size),
            "[{}] {kept:?}",
            ctx.name()
        );
        s.store_flags(
            folder.id,
            &[1],
            storage::FlagChange::Add,
            &["\\Seen".to_string()],
            None,
        )
        .await
        .unwrap();
        let before = s.folder_by_id(folder.id).await.unwrap().highestmodseq;
        assert_eq!(
            s.expunge(folder.id, None).await.unwrap(),
            vec![3],
            "[{}] expunge",
            ctx.name()
        );
        assert_eq!(s.expunged_since(folder.id, before).await.unwrap(), vec![3]);
        let archive = s.folder(a, "Archive").await.unwrap();
        let pairs = s
            .copy_messages(folder.id, &[1, 4], archive.id, true)
            .await
            .unwrap();
        assert_eq!(
            pairs,
            vec![(1, 1), (4, 2)],
            "[{}] COPYUID pairs",
            ctx.name()
        );
        let left: Vec<i64> = s
            .messages(folder.id)
            .await
            .unwrap()
            .iter()
            .map(|m| m.uid)
            .collect();
        assert_eq!(left, vec![2]);
        let mut total = 0;
        for f in s.folders(a).await.unwrap() {
            total += s
                .messages(f.id)
                .await
                .unwrap()
                .iter()
                .map(|m| m.size)
                .sum::<i64>();
        }
        let used = ctx
            .scalar_i64(
                "SELECT used_bytes FROM accounts WHERE id = CAST($1 AS BIGINT)",
                &a.to_string(),
            )
            .await;
        assert_eq!(
            used,
            total,
            "[{}] quota exact after expunge and move",
            ctx.name()
        );
    })
    .await;
}

/// Issue 17 item 2: `hire_all` is one transaction. A failing hire (here the third repeats the
/// first's address) leaves no person, address, folder or event of the batch behind, and names
/// the failing hire's index; a clean batch adds every person with its `user.hire` event.
#[tokio::test]
async fn hire_all_is_all_or_nothing() {
    for_each_backend("hire_all", |ctx: Ctx| async move {
        let s = &ctx.store;
        s.add_domain(DOMAIN, "kontum").await.unwrap();
        s.add_unit(&unit("STTTT", "Sở Thông tin và Truyền thông", None))
            .await
            .unwrap();
        let hire = |address: &str, name: &str| storage::BulkHire {
            person: person(address, name, Some("STTTT")),
            detail: serde_json::json!({"name": name}),
        };
        let accounts_before = ctx.scalar_i64("SELECT COUNT(*) FROM accounts", "").await;
        let folders_before = ctx.scalar_i64("SELECT COUNT(*) FROM folders", "").await;
        let bad = [
            hire("nvan.stttt@kontum.gov.vn", "Nguyễn Văn An"),
            hire("ttbinh.stttt@kontum.gov.vn", "Trần Thị Bình"),
            hire("NVAN.stttt@kontum.gov.vn", "Nguyễn Văn An"),
        ];
        let e = s.hire_all(&bad, "cli", "1/QĐ").await.unwrap_err();
        assert_eq!(e.index, Some(2), "[{}] {e}", ctx.name());
        assert!(matches!(e.error, Error::AlreadyExists(_)), "{e}");
        assert_eq!(
            ctx.scalar_i64("SELECT COUNT(*) FROM accounts", "").await,
            accounts_before,
            "[{}] rolled back",
            ctx.name()
        );
        assert_eq!(
            ctx.scalar_i64("SELECT COUNT(*) FROM folders", "").await,
            folders_before
        );
        assert!(s.events("user.hire", 10).await.unwrap().is_empty());
        assert!(matches!(
            s.person("ttbinh.stttt@kontum.gov.vn").await,
            Err(Error::NotFound(_))
        ));
        // Unknown unit: named by index, nothing written.
        let mut stray = hire("x.vpub@kontum.gov.vn", "X");
        stray.person.unit_abbrev = Some("VPUB".into());
        let e = s
            .hire_all(&[bad[0].clone(), stray], "cli", "1/QĐ")
            .await
            .unwrap_err();
        assert_eq!(e.index, Some(1));
        assert!(s.list_persons(None).await.unwrap().is_empty());

        let ids = s.hire_all(&bad[..2], "cli", "1/QĐ").await.unwrap();
        assert_eq!(ids.len(), 2);
        let binh = s.person("ttbinh.stttt@kontum.gov.vn").await.unwrap();
        assert_eq!(binh.account_id, ids[1]);
        assert_eq!(binh.unit.as_deref(), Some("STTTT"));
        assert!(binh.must_change_password);
        let hires = s.events("user.hire", 10).await.unwrap();
        assert_eq!(hires.len(), 2);
        assert!(hires
            .iter()
            .all(|e| e.doc_ref == "1/QĐ" && e.actor == "cli"));
        assert_eq!(
            s.folders(ids[0]).await.unwrap().len(),
            s.folders(ids[1]).await.unwrap().len()
        );
    })
    .await;
}
