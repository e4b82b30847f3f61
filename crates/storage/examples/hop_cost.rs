//! What a small SQLite read costs through the sqlx pool (a hand-off to the connection's thread
//! and back) against on the calling thread (rusqlite, as `storage::direct` does), with 30 tasks
//! reading at once: `cargo run --release -p storage --example hop_cost`.
use std::time::Instant;

fn cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let f: Vec<&str> = s.rsplit(')').next().unwrap().split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let store = storage::Store::open(&storage::StoreOptions::new(
        format!("sqlite://{}", path.display()),
        dir.path(),
    ))
    .await
    .unwrap();
    store.add_domain("h.vn", "free").await.unwrap();
    let sqlx = store.clone();
    measure("sqlx", move || {
        let store = sqlx.clone();
        async move {
            store.list_domains().await.unwrap();
        }
    })
    .await;
    // The same query as `list_domains`, on connections read on the calling thread.
    let pool = std::sync::Arc::new(std::sync::Mutex::new(Vec::<rusqlite::Connection>::new()));
    measure("inline", move || {
        let (pool, path) = (pool.clone(), path.clone());
        async move {
            let conn = pool.lock().unwrap().pop();
            let conn = conn.unwrap_or_else(|| rusqlite::Connection::open(&path).unwrap());
            {
                let mut st = conn
                    .prepare_cached("SELECT id, name, naming_rule FROM domains ORDER BY name")
                    .unwrap();
                let rows: Vec<(i64, String)> = st
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .unwrap()
                    .map(|r| r.unwrap())
                    .collect();
                assert_eq!(rows.len(), 1);
            }
            pool.lock().unwrap().push(conn);
            tokio::task::yield_now().await;
        }
    })
    .await;
}

/// Runs `read` 20,000 times from 30 tasks at once; prints wall and CPU time per read.
async fn measure<F, R>(label: &str, read: F)
where
    F: Fn() -> R + Clone + Send + 'static,
    R: std::future::Future<Output = ()> + Send,
{
    const N: usize = 20_000;
    const TASKS: usize = 30;
    let (started, cpu0) = (Instant::now(), cpu());
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let read = read.clone();
            tokio::spawn(async move {
                for _ in 0..N / TASKS {
                    read().await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    println!(
        "{label}: {:.1} us wall, {:.1} us cpu per query",
        started.elapsed().as_secs_f64() * 1e6 / N as f64,
        (cpu() - cpu0) * 1e6 / N as f64
    );
}
