//! Operations storage (issue 7): retention, purge, backup/verify/restore, message counters,
//! each run against SQLite and PostgreSQL (`GOVMAIL_TEST_PG_URL`; without it the tests fail
//! unless `GOVMAIL_TEST_SKIP_PG=1`).

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use common::fixtures::{person, unit, DOMAIN};
use common::{for_each_backend, Ctx};
use storage::meta::MessageMeta;
use storage::ops::{
    BackupOptions, DeliveryNote, FolderMatch, FolderRule, PurgeCriteria, RetentionPolicy,
};
use storage::{Backend, Delivery, DeliveryTarget, Error, FolderChoice, Store};

const DAY: i64 = 86_400;

struct Dir {
    a: i64,
    b: i64,
    c: i64,
    d: i64,
    stttt: i64,
    vpub: i64,
}

/// Units STTTT and VPUB; a and d work in STTTT, b in VPUB, c in no unit.
async fn directory(s: &Store) -> Dir {
    s.add_domain(DOMAIN, "free").await.unwrap();
    let stttt = s
        .add_unit(&unit("STTTT", "Sở Thông tin và Truyền thông"))
        .await
        .unwrap()
        .account_id;
    let vpub = s
        .add_unit(&unit("VPUB", "Văn phòng UBND tỉnh"))
        .await
        .unwrap()
        .account_id;
    let add = |address: &'static str, name: &'static str, unit: Option<&'static str>| async move {
        s.add_person(&person(address, name, unit))
            .await
            .unwrap()
            .account_id
    };
    Dir {
        a: add("a@kontum.gov.vn", "Nguyễn Văn An", Some("STTTT")).await,
        b: add("b@kontum.gov.vn", "Trần Thị Bình", Some("VPUB")).await,
        c: add("c@kontum.gov.vn", "Lê Văn Cường", None).await,
        d: add("d@kontum.gov.vn", "Phạm Thị Dung", Some("STTTT")).await,
        stttt,
        vpub,
    }
}

fn msg(from: &str, subject: &str, message_id: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: a@kontum.gov.vn\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n\
         Date: Mon, 2 Mar 2026 08:00:00 +0700\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// A distinct message of roughly `size` bytes.
fn sized(tag: &str, size: usize) -> Vec<u8> {
    let mut raw = msg("x@example.org", tag, &format!("{tag}@example.org"), "");
    let line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n";
    while raw.len() < size {
        raw.extend_from_slice(line);
    }
    raw
}

async fn append(s: &Store, account: i64, folder: &str, raw: &[u8], internal_date: i64) -> i64 {
    let folder = s.folder(account, folder).await.unwrap();
    s.append_message(folder.id, raw, "", internal_date)
        .await
        .unwrap()
}

/// Removal goes through `store_flags` + `expunge`; says clearly when the backend's expunge
/// does not see `\Deleted` (mailbox.rs must write `LIKE '% \Deleted %' ESCAPE '!'`: on
/// PostgreSQL a backslash in a LIKE pattern is the escape character).
async fn check_expunge_sees_deleted(s: &Store, account: i64, backend: &str) {
    let uid = append(
        s,
        account,
        "Drafts",
        b"Subject: probe\r\n\r\nx\r\n",
        storage::now(),
    )
    .await;
    let folder = s.folder(account, "Drafts").await.unwrap();
    let removed = s.remove_messages(folder.id, &[uid]).await.unwrap();
    assert_eq!(
        removed,
        vec![uid],
        "[{backend}] Store::expunge did not remove a message flagged \\Deleted: on PostgreSQL \
         `LIKE '% \\Deleted %'` in crates/storage/src/mailbox.rs needs `ESCAPE '!'`"
    );
    s.gc_blobs(0).await.unwrap();
}

async fn used(s: &Store, account: i64) -> i64 {
    s.account_ref(account).await.unwrap().used_bytes
}

/// Sum of the sizes of every message an account holds.
async fn held(s: &Store, account: i64) -> i64 {
    let mut total = 0;
    for folder in s.folders(account).await.unwrap() {
        total += s
            .messages(folder.id)
            .await
            .unwrap()
            .iter()
            .map(|m| m.size)
            .sum::<i64>();
    }
    total
}

async fn uids(s: &Store, account: i64, folder: &str) -> Vec<i64> {
    let folder = s.folder(account, folder).await.unwrap();
    s.messages(folder.id)
        .await
        .unwrap()
        .iter()
        .map(|m| m.uid)
        .collect()
}

fn policy_with_vpub_override() -> RetentionPolicy {
    let mut policy = RetentionPolicy {
        gc_min_age_secs: 0,
        ..Default::default()
    };
    policy.rules.push(FolderRule {
        folder: FolderMatch::Name("Archive".into()),
        days: 0,
    });
    policy.unit_rules.insert(
        "VPUB".into(),
        vec![FolderRule {
            folder: FolderMatch::SpecialUse("\\Trash".into()),
            days: 90,
        }],
    );
    policy
}

#[tokio::test]
async fn retention_removes_exactly_the_expired_messages() {
    for_each_backend("retention", |ctx: Ctx| async move {
        let s = &ctx.store;
        let name = ctx.name();
        let dir = directory(s).await;
        check_expunge_sees_deleted(s, dir.c, name).await;
        let now = storage::now();
        s.create_folder(dir.a, "Trash/Old").await.unwrap();
        let shared = sized("shared", 3000);
        // (account, folder, raw, age in days, expires?)
        let plan: Vec<(i64, &str, Vec<u8>, i64, bool)> = vec![
            (dir.a, "Junk", sized("j1", 1000), 31, true),
            (dir.a, "Junk", sized("j2", 1100), 29, false),
            (dir.a, "Trash", sized("t1", 1200), 40, true),
            (dir.a, "Trash/Old", sized("t2", 1300), 35, true),
            (dir.a, "INBOX", shared.clone(), 400, false),
            (dir.a, "Archive", sized("ar1", 1400), 400, false),
            // VPUB keeps Trash 90 days; its Junk follows the general 30.
            (dir.b, "Trash", sized("t3", 1500), 40, false),
            (dir.b, "Trash", sized("t4", 1600), 100, true),
            (dir.b, "Junk", sized("j3", 1700), 31, true),
            (dir.vpub, "Trash", sized("t5", 1800), 100, true),
            (dir.stttt, "Trash", sized("t6", 1900), 60, true),
            // Same bytes as a's INBOX message: the blob must survive GC.
            (dir.c, "Junk", shared.clone(), 31, true),
            (dir.c, "INBOX", sized("i2", 2000), 1000, false),
        ];
        let mut expected_left: BTreeMap<(i64, &str), Vec<i64>> = BTreeMap::new();
        let mut expected_gone: BTreeMap<(i64, &str), Vec<i64>> = BTreeMap::new();
        for (account, folder, raw, age, expires) in &plan {
            let uid = append(s, *account, folder, raw, now - age * DAY - 60).await;
            let bucket = if *expires {
                &mut expected_gone
            } else {
                &mut expected_left
            };
            bucket.entry((*account, *folder)).or_default().push(uid);
        }
        let accounts = [dir.a, dir.b, dir.c, dir.vpub, dir.stttt];
        let mut used_before = BTreeMap::new();
        for account in accounts {
            assert_eq!(used(s, account).await, held(s, account).await, "[{name}]");
            used_before.insert(account, used(s, account).await);
        }
        let blobs_before = ctx.stored_blob_count().await;
        let modseq_before = s.folder(dir.a, "Junk").await.unwrap().highestmodseq;
        let policy = policy_with_vpub_override();

        // Dry run: the same list, nothing touched.
        let dry = s.retention(&policy, now, true).await.unwrap();
        assert_eq!(dry.messages(), 8, "[{name}] {dry:#?}");
        assert_eq!(s.count_messages().await.unwrap(), plan.len() as i64);
        assert_eq!(ctx.stored_blob_count().await, blobs_before);

        let report = s.retention(&policy, now, false).await.unwrap();
        assert_eq!(report.messages(), 8, "[{name}] {report:#?}");
        let listed: BTreeSet<(String, String, u64)> = report
            .expired
            .iter()
            .map(|e| (e.address.clone(), e.folder.clone(), e.messages))
            .collect();
        let dry_listed: BTreeSet<(String, String, u64)> = dry
            .expired
            .iter()
            .map(|e| (e.address.clone(), e.folder.clone(), e.messages))
            .collect();
        assert_eq!(
            listed, dry_listed,
            "[{name}] dry run lists what the run removes"
        );
        assert!(listed.contains(&("b@kontum.gov.vn".into(), "Trash".into(), 1)));
        assert!(listed.contains(&("a@kontum.gov.vn".into(), "Trash/Old".into(), 1)));
        assert!(report.departed.is_empty());
        for ((account, folder), want) in &expected_left {
            assert_eq!(
                &uids(s, *account, folder).await,
                want,
                "[{name}] {account} {folder}"
            );
        }
        for ((account, folder), gone) in &expected_gone {
            let left = uids(s, *account, folder).await;
            let want = expected_left
                .get(&(*account, *folder))
                .cloned()
                .unwrap_or_default();
            assert_eq!(left, want, "[{name}] {account} {folder}");
            // IMAP sees ordinary expunges (QRESYNC VANISHED).
            let f = s.folder(*account, folder).await.unwrap();
            let vanished = s.expunged_since(f.id, 0).await.unwrap();
            assert_eq!(&vanished, gone, "[{name}] {account} {folder} vanished");
        }
        assert!(s.folder(dir.a, "Junk").await.unwrap().highestmodseq > modseq_before);
        // Quota usage is exact.
        for account in accounts {
            assert_eq!(used(s, account).await, held(s, account).await, "[{name}]");
        }
        let freed: i64 = used_before.values().sum::<i64>() - {
            let mut total = 0;
            for account in accounts {
                total += used(s, account).await;
            }
            total
        };
        assert_eq!(freed, report.bytes(), "[{name}]");
        // 8 copies removed, 7 blobs: the shared one is still referenced.
        assert_eq!(report.blobs, 7, "[{name}]");
        assert_eq!(ctx.stored_blob_count().await, blobs_before - 7);
        let inbox = s.folder(dir.a, "INBOX").await.unwrap();
        let kept = &s.messages(inbox.id).await.unwrap()[0];
        assert_eq!(s.read_blob(&kept.blob_id).await.unwrap(), shared);
        let events = s.events("retention.expire", 100).await.unwrap();
        assert_eq!(events.len(), 8, "[{name}] one event per folder");

        // Nothing more to do at the same time.
        let again = s.retention(&policy, now, false).await.unwrap();
        assert_eq!(again.messages(), 0, "[{name}] {again:#?}");

        // Departed accounts: kept during the hold period, emptied after it.
        append(s, dir.d, "INBOX", &sized("d1", 2100), now - DAY).await;
        append(s, dir.d, "Sent", &sized("d2", 2200), now - DAY).await;
        s.depart("d@kontum.gov.vn").await.unwrap();
        let hold = s.retention(&policy, now + 10 * DAY, false).await.unwrap();
        assert!(hold.departed.is_empty(), "[{name}] {hold:#?}");
        assert_eq!(held(s, dir.d).await, used(s, dir.d).await);
        assert!(used(s, dir.d).await > 0);
        let later = RetentionPolicy {
            rules: vec![],
            unit_rules: BTreeMap::new(),
            departed_hold_days: 365,
            gc_min_age_secs: 0,
        };
        let dry = s.retention(&later, now + 366 * DAY, true).await.unwrap();
        assert_eq!(dry.departed.len(), 1, "[{name}] {dry:#?}");
        assert_eq!(dry.departed[0].messages, 2);
        assert!(used(s, dir.d).await > 0, "[{name}] dry run keeps the mail");
        let purge = s.retention(&later, now + 366 * DAY, false).await.unwrap();
        assert_eq!(purge.departed.len(), 1, "[{name}] {purge:#?}");
        assert_eq!(purge.departed[0].address, "d@kontum.gov.vn");
        assert_eq!(purge.departed[0].messages, 2);
        assert!(purge.departed[0].credential_removed);
        assert_eq!(used(s, dir.d).await, 0, "[{name}]");
        assert_eq!(held(s, dir.d).await, 0, "[{name}]");
        let login = s.login_record("d@kontum.gov.vn").await.unwrap().unwrap();
        assert_eq!(login.phc, None, "[{name}] the credential is gone");
        // Others untouched by the departed purge (no folder rules in `later`).
        for account in [dir.a, dir.b, dir.c] {
            assert_eq!(used(s, account).await, held(s, account).await);
        }
        assert_eq!(s.events("retention.departed", 10).await.unwrap().len(), 1);
        let twice = s.retention(&later, now + 367 * DAY, false).await.unwrap();
        assert!(twice.departed.is_empty(), "[{name}] {twice:#?}");
    })
    .await;
}

fn deliver_to(raw: &[u8], targets: &[(i64, FolderChoice)]) -> Delivery {
    Delivery {
        raw: Arc::new(raw.to_vec()),
        meta: Arc::new(MessageMeta::compute(raw)),
        targets: targets
            .iter()
            .map(|(account, folder)| DeliveryTarget {
                account_id: *account,
                folder: folder.clone(),
                flags: storage::Flags::new(),
            })
            .collect(),
        outbound: None,
        internal_date: storage::now(),
        events: vec![],
    }
}

#[tokio::test]
async fn purge_removes_matches_in_every_mailbox_and_audits() {
    for_each_backend("purge", |ctx: Ctx| async move {
        let s = &ctx.store;
        let name = ctx.name();
        let dir = directory(s).await;
        check_expunge_sees_deleted(s, dir.c, name).await;
        let now = storage::now();
        let inbox = FolderChoice::Inbox;
        let phishing = "\"Ngân hàng\" <CanhBao@Phishing.Example>";
        let p1 = msg(
            phishing,
            "Cảnh báo: Tài khoản của bạn bị khoá",
            "p1@phishing.example",
            "Bấm vào liên kết",
        );
        s.deliver(deliver_to(
            &p1,
            &[
                (dir.a, inbox.clone()),
                (dir.b, inbox.clone()),
                (dir.c, inbox.clone()),
                (dir.stttt, inbox.clone()),
            ],
        ))
        .await
        .unwrap();
        let p2 = msg(phishing, "Trúng thưởng", "p2@phishing.example", "x");
        s.deliver(deliver_to(
            &p2,
            &[(dir.a, FolderChoice::SpecialUse("\\Junk"))],
        ))
        .await
        .unwrap();
        let legit = msg(
            "Nguyễn Văn An <a@kontum.gov.vn>",
            "Thông báo tài khoản mới",
            "l1@kontum.gov.vn",
            "Tài khoản của bạn đã được tạo",
        );
        s.deliver(deliver_to(
            &legit,
            &[(dir.a, inbox.clone()), (dir.b, inbox.clone())],
        ))
        .await
        .unwrap();
        let p0 = msg(phishing, "Cũ", "p0@phishing.example", "old");
        append(s, dir.c, "INBOX", &p0, now - 10 * DAY).await;

        let find = |criteria: PurgeCriteria| async move { s.purge_find(&criteria).await };
        let by_from = find(PurgeCriteria {
            from: Some("canhbao@phishing.example".into()),
            ..Default::default()
        })
        .await
        .unwrap();
        assert_eq!(by_from.len(), 6, "[{name}] {by_from:#?}");
        let by_domain = find(PurgeCriteria {
            from: Some("@PHISHING.example".into()),
            ..Default::default()
        })
        .await
        .unwrap();
        assert_eq!(by_domain.len(), 6, "[{name}]");
        let by_subject = find(PurgeCriteria {
            subject: Some("TÀI KHOẢN CỦA BẠN".into()),
            ..Default::default()
        })
        .await
        .unwrap();
        assert_eq!(
            by_subject.len(),
            4,
            "[{name}] the body of the legit mail does not count"
        );
        let mailboxes: BTreeSet<&str> = by_subject.iter().map(|m| m.address.as_str()).collect();
        assert_eq!(
            mailboxes,
            BTreeSet::from([
                "a@kontum.gov.vn",
                "b@kontum.gov.vn",
                "c@kontum.gov.vn",
                "stttt@kontum.gov.vn"
            ])
        );
        let by_id = find(PurgeCriteria {
            message_id: Some("p1@phishing.example".into()),
            ..Default::default()
        })
        .await
        .unwrap();
        assert_eq!(by_id.len(), 4, "[{name}]");
        let by_id_brackets = find(PurgeCriteria {
            message_id: Some("<p1@phishing.example>".into()),
            ..Default::default()
        })
        .await
        .unwrap();
        assert_eq!(by_id_brackets, by_id);
        assert!(matches!(
            find(PurgeCriteria::default()).await,
            Err(Error::Invalid(_))
        ));

        let criteria = PurgeCriteria {
            from: Some("canhbao@phishing.example".into()),
            since: Some(now - DAY),
            ..Default::default()
        };
        let matches = s.purge_find(&criteria).await.unwrap();
        assert_eq!(matches.len(), 5, "[{name}] --since leaves the old one");
        let used_a = used(s, dir.a).await;
        let mut ticks = 0;
        let removed = s
            .purge_remove(
                &matches,
                &criteria,
                "cli",
                "12/QĐ-STTTT",
                &mut |_, _, _| ticks += 1,
            )
            .await
            .unwrap();
        assert_eq!(removed, 5, "[{name}]");
        assert!(ticks > 0);
        assert_eq!(
            used(s, dir.a).await,
            used_a - p1.len() as i64 - p2.len() as i64,
            "[{name}] quota"
        );
        for account in [dir.a, dir.b, dir.c, dir.stttt] {
            assert_eq!(used(s, account).await, held(s, account).await, "[{name}]");
        }
        let events = s.events("purge.message", 100).await.unwrap();
        assert_eq!(events.len(), 5, "[{name}]");
        assert!(events
            .iter()
            .all(|e| e.doc_ref == "12/QĐ-STTTT" && e.actor == "cli"));
        let targets: BTreeSet<&str> = events.iter().map(|e| e.target.as_str()).collect();
        assert!(targets.contains("stttt@kontum.gov.vn"));
        assert!(events
            .iter()
            .any(|e| e.detail["subject"] == "Cảnh báo: Tài khoản của bạn bị khoá"));
        // What is left: the old phishing mail in c, the legit mail in a and b.
        let left = find(PurgeCriteria {
            from: Some("@phishing.example".into()),
            ..Default::default()
        })
        .await
        .unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].address, "c@kontum.gov.vn");
        assert_eq!(uids(s, dir.a, "INBOX").await.len(), 1);
        assert_eq!(uids(s, dir.b, "INBOX").await.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn message_counters_are_batched_per_local_day() {
    for_each_backend("flow", |ctx: Ctx| async move {
        let s = &ctx.store;
        let dir = directory(s).await;
        // a sends to b and c (internal); b sends to a and outside; MX mail to a (junk) and b.
        s.note_delivery(DeliveryNote {
            sender_account: Some(dir.a),
            recipient_accounts: vec![dir.b, dir.c],
            remote_recipients: 0,
            junk: false,
            bytes: 100,
        });
        s.note_delivery(DeliveryNote {
            sender_account: Some(dir.b),
            recipient_accounts: vec![dir.a],
            remote_recipients: 2,
            junk: false,
            bytes: 200,
        });
        s.note_delivery(DeliveryNote {
            sender_account: None,
            recipient_accounts: vec![dir.a],
            remote_recipients: 0,
            junk: true,
            bytes: 300,
        });
        s.note_delivery(DeliveryNote {
            sender_account: None,
            recipient_accounts: vec![dir.b],
            remote_recipients: 0,
            junk: false,
            bytes: 400,
        });
        s.flush_mail_flow().await.unwrap();
        let today = storage::ops::local_day(storage::now(), s.local_offset());
        let rows = s.mail_flow(today - 1, today + 1).await.unwrap();
        let got: BTreeSet<(i64, String, i64, i64)> = rows
            .iter()
            .map(|r| (r.account_id, r.kind.clone(), r.messages, r.bytes))
            .collect();
        let want: BTreeSet<(i64, String, i64, i64)> = [
            (dir.a, "sent_internal", 1, 100),
            (dir.b, "received_internal", 1, 100),
            (dir.c, "received_internal", 1, 100),
            (dir.b, "sent_external", 1, 200),
            (dir.a, "received_internal", 1, 200),
            (dir.a, "received_external", 1, 300),
            (dir.a, "received_junk", 1, 300),
            (dir.b, "received_external", 1, 400),
        ]
        .into_iter()
        .map(|(a, k, m, b)| (a, k.to_string(), m, b))
        .collect();
        assert_eq!(got, want, "[{}]", ctx.name());
        assert!(rows.iter().all(|r| r.day == today));
        // Counts add up across flushes.
        s.note_delivery(DeliveryNote {
            sender_account: Some(dir.a),
            recipient_accounts: vec![dir.b],
            remote_recipients: 0,
            junk: false,
            bytes: 10,
        });
        s.flush_mail_flow().await.unwrap();
        let rows = s.mail_flow(today, today).await.unwrap();
        let sent = rows
            .iter()
            .find(|r| r.account_id == dir.a && r.kind == "sent_internal")
            .unwrap();
        assert_eq!((sent.messages, sent.bytes), (2, 110), "[{}]", ctx.name());
    })
    .await;
}

/// Flips one byte in the middle of a file.
fn corrupt(path: &std::path::Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

fn blob_path(dir: &std::path::Path, id: &str) -> std::path::PathBuf {
    dir.join("blobs").join(&id[..2]).join(id)
}

#[tokio::test]
async fn backup_during_deliveries_restores_every_acknowledged_message() {
    for_each_backend("backup", |ctx: Ctx| async move {
        let s = ctx.store.clone();
        let name = ctx.name();
        let dir = directory(&s).await;
        // Deliveries keep coming while the backup runs.
        let acked: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let loader = {
            let (s, acked, stop) = (s.clone(), acked.clone(), stop.clone());
            tokio::spawn(async move {
                let mut i = 0usize;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let raw = sized(&format!("load {i}"), 500 + (i * 7919) % 60_000);
                    s.deliver(deliver_to(&raw, &[(dir.a, FolderChoice::Inbox)]))
                        .await
                        .unwrap();
                    acked.lock().unwrap().push(raw);
                    i += 1;
                }
            })
        };
        while acked.lock().unwrap().len() < 40 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let before: Vec<Vec<u8>> = acked.lock().unwrap().clone();
        let backup_dir = ctx.tmp.path().join("backup");
        let options = BackupOptions {
            pg_url: ctx.options.url.clone(),
            ..Default::default()
        };
        let mut phases = BTreeSet::new();
        let summary = s
            .backup(&backup_dir, &options, &mut |phase, _, _| {
                phases.insert(phase.to_string());
            })
            .await
            .unwrap_or_else(|e| panic!("[{name}] backup: {e}"));
        assert!(phases.contains("database"));
        let during = acked.lock().unwrap().len();
        while acked.lock().unwrap().len() < during + 10 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        loader.await.unwrap();
        assert!(summary.manifest.messages >= before.len() as i64, "[{name}]");
        let manifest = storage::ops::read_manifest(&backup_dir).unwrap();
        assert_eq!(manifest, summary.manifest);

        let report = storage::ops::verify_backup(&backup_dir, &mut storage::ops::no_progress)
            .await
            .unwrap();
        assert!(report.is_ok(), "[{name}] {report:#?}");

        // Restore and compare.
        let restored_dir = ctx.tmp.path().join("restored");
        let restored: Store = match ctx.backend {
            Backend::Sqlite => {
                assert!(summary.blobs_copied > 0, "[{name}] blob files copied");
                assert_eq!(summary.manifest.blobs.len() as u64, summary.blobs_copied);
                let done = storage::ops::restore_backup(
                    &backup_dir,
                    &restored_dir,
                    &mut storage::ops::no_progress,
                )
                .await
                .unwrap();
                assert_eq!(done.blobs, summary.blobs_copied);
                let mut options = storage::StoreOptions::new(
                    format!("sqlite://{}", restored_dir.join("govmail.db").display()),
                    restored_dir.clone(),
                );
                options.inline_blob_max = 0;
                Store::open(&options).await.unwrap()
            }
            Backend::Postgres => {
                let base = common::pg_base_url().unwrap();
                let (url, _db) = common::create_pg_database(&base, "restored").await;
                let dump = backup_dir.join(&manifest.database.file);
                let out = std::process::Command::new("pg_restore")
                    .args(["--no-owner", "--no-privileges", "--dbname", &url])
                    .arg(&dump)
                    .output()
                    .expect("pg_restore");
                assert!(
                    out.status.success(),
                    "pg_restore: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let done = storage::ops::restore_backup(
                    &backup_dir,
                    &restored_dir,
                    &mut storage::ops::no_progress,
                )
                .await
                .unwrap();
                assert!(done.pg_restore_hint.unwrap().contains("pg_restore"));
                Store::open(&storage::StoreOptions::new(url, restored_dir.clone()))
                    .await
                    .unwrap()
            }
        };
        let inbox = restored.folder(dir.a, "INBOX").await.unwrap();
        let mut present = BTreeSet::new();
        for m in restored.messages(inbox.id).await.unwrap() {
            present.insert(restored.read_blob(&m.blob_id).await.unwrap());
        }
        for (i, raw) in before.iter().enumerate() {
            assert!(
                present.contains(raw),
                "[{name}] message {i} acknowledged before the backup is missing or differs"
            );
        }
        assert!(present.len() >= before.len());
        assert_eq!(
            restored.account_ref(dir.a).await.unwrap().used_bytes,
            held(&restored, dir.a).await,
            "[{name}] restored quota usage matches its messages"
        );
        restored.close().await;

        // Restoring over something refuses.
        std::fs::create_dir_all(&restored_dir).unwrap();
        std::fs::write(restored_dir.join("something"), b"x").unwrap();
        match storage::ops::restore_backup(
            &backup_dir,
            &restored_dir,
            &mut storage::ops::no_progress,
        )
        .await
        {
            Err(Error::Invalid(message)) => assert!(message.contains("not empty"), "{message}"),
            other => panic!("[{name}] restore into a non-empty dir: {other:?}"),
        }

        // Corruption is found.
        match ctx.backend {
            Backend::Sqlite => {
                // Never inside the data directory (pruning would delete live bodies).
                let inside = ctx.data_dir().join("backup");
                match s
                    .backup(&inside, &options, &mut storage::ops::no_progress)
                    .await
                {
                    Err(Error::Invalid(m)) => {
                        assert!(m.contains("outside the data directory"), "{m}")
                    }
                    other => panic!("[{name}] backup inside the data dir: {other:?}"),
                }
                assert!(!inside.exists());
                let victim = summary.manifest.blobs[summary.manifest.blobs.len() / 2]
                    .id
                    .clone();
                corrupt(&blob_path(&backup_dir, &victim));
                let report =
                    storage::ops::verify_backup(&backup_dir, &mut storage::ops::no_progress)
                        .await
                        .unwrap();
                assert!(!report.is_ok());
                assert_eq!(report.corrupt, vec![victim.clone()], "[{name}] {report:#?}");
                // A restore refuses a corrupt backup and leaves the target empty.
                let target = ctx.tmp.path().join("restore-corrupt");
                assert!(storage::ops::restore_backup(
                    &backup_dir,
                    &target,
                    &mut storage::ops::no_progress
                )
                .await
                .is_err());
                assert!(!target.exists() || std::fs::read_dir(&target).unwrap().next().is_none());
                // A missing file too.
                let gone = summary.manifest.blobs[0].id.clone();
                std::fs::remove_file(blob_path(&backup_dir, &gone)).unwrap();
                let report =
                    storage::ops::verify_backup(&backup_dir, &mut storage::ops::no_progress)
                        .await
                        .unwrap();
                assert_eq!(report.missing, vec![gone], "[{name}]");
                // The next backup is incremental and repairs both.
                let again = s
                    .backup(&backup_dir, &options, &mut storage::ops::no_progress)
                    .await
                    .unwrap();
                assert!(
                    again.blobs_kept >= summary.manifest.blobs.len() as u64 - 2,
                    "{again:#?}"
                );
                assert!(
                    again.blobs_copied >= 2 + 10,
                    "[{name}] repaired + new: {again:#?}"
                );
                let report =
                    storage::ops::verify_backup(&backup_dir, &mut storage::ops::no_progress)
                        .await
                        .unwrap();
                assert!(report.is_ok(), "[{name}] {report:#?}");
                // Only one database file is kept.
                let dbs = std::fs::read_dir(&backup_dir)
                    .unwrap()
                    .filter(|e| {
                        e.as_ref()
                            .unwrap()
                            .file_name()
                            .to_string_lossy()
                            .starts_with("govmail-")
                    })
                    .count();
                assert_eq!(dbs, 1);
                // A corrupted database file is found as well.
                corrupt(&backup_dir.join(&again.manifest.database.file));
                let report =
                    storage::ops::verify_backup(&backup_dir, &mut storage::ops::no_progress)
                        .await
                        .unwrap();
                assert!(
                    !report.database_ok && !report.is_ok(),
                    "[{name}] {report:#?}"
                );
            }
            Backend::Postgres => {
                corrupt(&backup_dir.join(&manifest.database.file));
                let report =
                    storage::ops::verify_backup(&backup_dir, &mut storage::ops::no_progress)
                        .await
                        .unwrap();
                assert!(
                    !report.database_ok && !report.is_ok(),
                    "[{name}] {report:#?}"
                );
            }
        }
    })
    .await;
}

/// Blob GC never runs while a backup copies blobs (the shared lock on `blobs/.gc.lock`).
#[tokio::test]
async fn blob_gc_waits_for_backups() {
    for_each_backend("gc_lock", |ctx: Ctx| async move {
        let s = &ctx.store;
        if !s.blobs_in_files() {
            assert!(s.gc_blobs_guarded(0).await.unwrap().is_some());
            return;
        }
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(ctx.data_dir().join("blobs/.gc.lock"))
            .unwrap();
        lock.lock_shared().unwrap();
        assert_eq!(s.gc_blobs_guarded(0).await.unwrap(), None);
        lock.unlock().unwrap();
        assert_eq!(s.gc_blobs_guarded(0).await.unwrap(), Some(0));
    })
    .await;
}
