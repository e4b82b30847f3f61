//! Schema safety for several nodes and rolling upgrades (issue 16), on both backends:
//! - a store refuses a database migrated by a newer release, naming both versions;
//! - a node of the previous release (schema at migration N-1, its store already open) keeps
//!   working while migration N is applied under it, and the current code works before and after;
//! - the migration rule "add columns before using them, drop later": no migration from
//!   [`RULE_SINCE`] on drops or renames a column or table it does not name as retired by an
//!   earlier migration, and both backends have the same migration numbers.
//!
//! Run with `scripts/test -p storage --test storage_tests -- schema::`.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{for_each_backend, Ctx};
use storage::meta::MessageMeta;
use storage::{
    Backend, Delivery, DeliveryTarget, Error, FlagChange, Flags, FolderChoice, NewPerson, Store,
    StoreOptions,
};

const DOMAIN: &str = "kontum.gov.vn";
const PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$qLml5cbXmYxYhVsxzrs5gZBUYcGmDS8IYKCWeb0nCXw";
/// The first migration the add-then-drop rule applies to (earlier ones predate several nodes).
const RULE_SINCE: i64 = 15;

fn migrations_dir(backend: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations")
        .join(backend)
}

/// (version, file name, text) of every migration of `backend`, in order.
fn migrations(backend: &str) -> Vec<(i64, String, String)> {
    let mut all: Vec<_> = std::fs::read_dir(migrations_dir(backend))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let version = name.split('_').next().unwrap().parse().unwrap();
            (version, name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    all.sort();
    all
}

#[tokio::test]
async fn schema_newer_than_this_build_is_refused() {
    for_each_backend("schema_newer", |ctx: Ctx| async move {
        let s = &ctx.store;
        let known = s.known_schema_version();
        assert_eq!(s.schema_version().await.unwrap(), known, "[{}]", ctx.name());
        // A release from the future applied migration known + 1000.
        let future = known + 1000;
        let mut conn = {
            use sqlx::Connection;
            sqlx::AnyConnection::connect(&ctx.options.url).await.unwrap()
        };
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ($1, 'from the future', TRUE, $2, 0)",
        )
        .bind(future)
        .bind(vec![0u8; 48])
        .execute(&mut conn)
        .await
        .unwrap();
        for migrate in [true, false] {
            let mut options = ctx.options.clone();
            options.migrate = migrate;
            match Store::open(&options).await {
                Err(Error::SchemaTooNew { database, known: k }) => {
                    assert_eq!((database, k), (future, known), "[{}]", ctx.name());
                    let text = Error::SchemaTooNew { database, known: k }.to_string();
                    assert!(
                        text.contains(&future.to_string()) && text.contains(&known.to_string()),
                        "the message names both versions: {text}"
                    );
                }
                Err(e) => panic!("[{}] wrong error: {e}", ctx.name()),
                Ok(_) => panic!("[{}] opened a schema from the future", ctx.name()),
            }
        }
    })
    .await;
}

/// The read and write paths a node runs all day: directory, delivery, listing, STORE, APPEND,
/// EXPUNGE, event log, queue look-up. `n` tells the runs apart.
async fn exercise(store: &Store, n: usize) {
    let account = match store.person("an@kontum.gov.vn").await {
        Ok(person) => person.account_id,
        Err(_) => {
            store.add_domain(DOMAIN, "kontum").await.unwrap();
            store
                .add_person(&NewPerson {
                    full_name: "Nguyễn Văn An".into(),
                    address: "an@kontum.gov.vn".into(),
                    unit_abbrev: None,
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
    };
    let raw = format!("Subject: Công văn số {n}\r\n\r\nKính gửi.\r\n").into_bytes();
    store
        .deliver(Delivery {
            raw: Arc::new(raw.clone()),
            meta: Arc::new(MessageMeta::compute(&raw)),
            targets: vec![DeliveryTarget {
                account_id: account,
                folder: FolderChoice::Inbox,
                flags: Flags::new(),
            }],
            outbound: None,
            internal_date: storage::now(),
            events: vec![],
        })
        .await
        .unwrap();
    let inbox = store
        .folders(account)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.name == "INBOX")
        .unwrap();
    let messages = store.messages(inbox.id).await.unwrap();
    assert!(!messages.is_empty());
    let uids: Vec<i64> = messages.iter().map(|m| m.uid).collect();
    store
        .store_flags(inbox.id, &uids, FlagChange::Add, &["\\Seen".into()], None)
        .await
        .unwrap();
    let uid = store
        .append_message(
            inbox.id,
            &raw,
            Flags::from_names(["\\Deleted"]),
            storage::now(),
        )
        .await
        .unwrap();
    assert!(uid > *uids.iter().max().unwrap(), "UIDs ascend");
    store.expunge(inbox.id, Some(&[uid])).await.unwrap();
    store.queue_entries().await.unwrap();
    store.pending_migrations().await.unwrap();
}

#[tokio::test]
async fn previous_release_runs_while_the_new_migration_is_applied() {
    let pg_base = common::pg_base_url();
    let mut backends = vec![Backend::Sqlite];
    if pg_base.is_some() {
        backends.push(Backend::Postgres);
    }
    for backend in backends {
        let tmp = tempfile::tempdir().unwrap();
        let dir = match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        let (url, db) = match backend {
            Backend::Sqlite => (
                format!(
                    "sqlite://{}?mode=rwc",
                    tmp.path().join("govmail.db").display()
                ),
                None,
            ),
            Backend::Postgres => {
                let base = pg_base.as_deref().unwrap();
                let (url, name) = common::create_pg_database(base, "rolling").await;
                (url, Some(name))
            }
        };
        // The previous release's schema: every migration but the newest.
        let all = migrations(dir);
        let (newest, _, _) = all.last().unwrap().clone();
        let previous = tmp.path().join("previous");
        std::fs::create_dir_all(&previous).unwrap();
        for (version, name, text) in &all {
            if *version != newest {
                std::fs::write(previous.join(name), text).unwrap();
            }
        }
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        sqlx::migrate::Migrator::new(previous.as_path())
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        pool.close().await;

        let mut options = StoreOptions::new(url.clone(), tmp.path().join("data"));
        options.migrate = false;
        let old_node = Store::open(&options).await.unwrap();
        assert!(old_node.schema_version().await.unwrap() < newest);
        exercise(&old_node, 1).await;
        // The new release starts and migrates while the old node serves.
        options.migrate = true;
        let new_node = Store::open(&options).await.unwrap();
        assert_eq!(new_node.schema_version().await.unwrap(), newest);
        assert!(new_node.pending_migrations().await.unwrap().is_empty());
        exercise(&old_node, 2).await;
        exercise(&new_node, 3).await;
        exercise(&old_node, 4).await;
        old_node.close().await;
        new_node.close().await;
        if let (Some(base), Some(name)) = (pg_base.as_deref(), db) {
            common::drop_pg_database(base, &name).await;
        }
    }
}

/// Statements that take something away from a schema an older node may still read.
fn removals(sql: &str) -> Vec<String> {
    let upper = sql
        .lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
        .to_uppercase();
    let mut found = vec![];
    for needle in ["DROP COLUMN", "RENAME COLUMN", "RENAME TO", "DROP TABLE"] {
        let mut rest = upper.as_str();
        while let Some(i) = rest.find(needle) {
            let after = &rest[i + needle.len()..];
            let word: String = after
                .split_whitespace()
                .find(|w| *w != "IF" && *w != "EXISTS")
                .unwrap_or("")
                .trim_end_matches([';', ','])
                .to_string();
            found.push(format!("{needle} {word}"));
            rest = after;
        }
    }
    found
}

#[test]
fn migrations_add_before_use_and_drop_a_release_later() {
    let sqlite = migrations("sqlite");
    let postgres = migrations("postgres");
    let versions = |m: &[(i64, String, String)]| m.iter().map(|x| x.0).collect::<Vec<_>>();
    assert_eq!(
        versions(&sqlite),
        versions(&postgres),
        "both backends have the same migrations"
    );
    for (version, name, text) in sqlite.iter().chain(&postgres) {
        if *version < RULE_SINCE {
            continue;
        }
        let removed = removals(text);
        if removed.is_empty() {
            continue;
        }
        // Allowed only for what an earlier release retired, stated in the file:
        // `-- retired-by: NNNN` (the migration whose release stopped using it).
        let retired_by: Option<i64> = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("-- retired-by:"))
            .and_then(|v| v.trim().parse().ok());
        assert!(
            retired_by.is_some_and(|r| r < *version),
            "{name}: {removed:?} takes away from the schema the previous release reads; \
             add the replacement in one release, drop in a later one (`-- retired-by: NNNN`)"
        );
        let upper = text.to_uppercase();
        for item in &removed {
            let column = item.rsplit(' ').next().unwrap_or("");
            assert!(
                !upper.contains(&format!("ADD COLUMN {column}")),
                "{name}: drops {column} in the migration that adds its replacement"
            );
        }
    }
}

#[test]
fn the_rule_check_sees_removals() {
    assert_eq!(
        removals("ALTER TABLE folders DROP COLUMN subscribed;"),
        ["DROP COLUMN SUBSCRIBED"]
    );
    assert_eq!(
        removals("ALTER TABLE a RENAME COLUMN b TO c; DROP TABLE IF EXISTS old;"),
        ["RENAME COLUMN B", "DROP TABLE OLD"]
    );
    assert!(removals("-- DROP COLUMN x in a comment\nCREATE TABLE t (x INT);").is_empty());
    // The one removal before the rule (0007) is seen, so a new one would be.
    assert!(migrations("postgres")
        .iter()
        .any(|(v, _, t)| *v < RULE_SINCE && !removals(t).is_empty()));
}
