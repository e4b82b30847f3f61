//! How the in-memory directory follows storage: with `refresh` zero every search sees the
//! store as it is; otherwise a search never waits for a rebuild once a directory exists (the
//! stale one answers while one background task rebuilds it) and a change shows within
//! `refresh` plus one rebuild.

use crate::harness;

use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::*;
use ldap::{Context, Settings};

fn context(store: storage::Store, refresh: Duration) -> Context {
    let mut settings = Settings::for_domain(DOMAIN);
    settings.refresh = refresh;
    let throttle = Arc::new(policy::limits::AuthThrottle::new(Default::default()));
    Context::new(settings, store, None, throttle)
}

async fn persons(context: &Context) -> Vec<String> {
    let dir = context.directory().await.unwrap();
    dir.entries
        .iter()
        .filter(|e| e.dn.starts_with("mail=") && e.attr("sn").is_some())
        .map(|e| e.attr("mail").unwrap().values[0].clone())
        .collect()
}

async fn hire(store: &storage::Store, name: &str, address: &str) {
    static PHC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let phc = PHC.get_or_init(|| policy::password::hash(PASSWORD).unwrap());
    store
        .add_person(&person(name, address, "STP", "Chuyên viên", "", phc))
        .await
        .unwrap();
}

#[tokio::test]
async fn with_refresh_zero_every_search_sees_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir).await;
    let context = context(store.clone(), Duration::ZERO);
    assert!(persons(&context).await.is_empty());
    hire(&store, "Nguyễn Thị Tuyết", TUYET).await;
    assert_eq!(persons(&context).await, vec![TUYET.to_string()]);
    store.depart(TUYET).await.unwrap();
    assert!(
        persons(&context).await.is_empty(),
        "a departed person is absent at once"
    );
}

#[tokio::test]
async fn a_stale_directory_answers_while_it_is_rebuilt_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir).await;
    let refresh = Duration::from_millis(1500);
    let context = context(store.clone(), refresh);
    hire(&store, "Nguyễn Thị Tuyết", TUYET).await;
    assert_eq!(persons(&context).await, vec![TUYET.to_string()]);

    // Within `refresh` the built directory answers: the hire is not seen yet.
    hire(&store, "Trần Văn Dũng", DUNG).await;
    assert_eq!(persons(&context).await, vec![TUYET.to_string()]);

    // Past `refresh` the first search still gets the old directory (it does not wait for the
    // rebuild) and starts the rebuild; a later search sees the hire.
    tokio::time::sleep(refresh + Duration::from_millis(50)).await;
    assert_eq!(persons(&context).await, vec![TUYET.to_string()]);
    let since = Instant::now();
    loop {
        let now = persons(&context).await;
        if now.len() == 2 {
            assert!(now.contains(&DUNG.to_string()));
            break;
        }
        assert!(
            since.elapsed() < Duration::from_secs(5),
            "rebuild never showed: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A leave shows the same way.
    store.depart(DUNG).await.unwrap();
    tokio::time::sleep(refresh + Duration::from_millis(50)).await;
    let since = Instant::now();
    while persons(&context).await.len() != 1 {
        assert!(
            since.elapsed() < Duration::from_secs(5),
            "the leave never showed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
