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
    let n = 20_000;
    let t = Instant::now();
    let c = cpu();
    let mut tasks = vec![];
    for _ in 0..30 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..n / 30 {
                s.list_domains().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    println!(
        "sqlx: {:.1} us wall, {:.1} us cpu per query",
        t.elapsed().as_secs_f64() * 1e6 / n as f64,
        (cpu() - c) * 1e6 / n as f64
    );
    let pool = std::sync::Arc::new(std::sync::Mutex::new(Vec::<rusqlite::Connection>::new()));
    let t = Instant::now();
    let c = cpu();
    let mut tasks = vec![];
    for _ in 0..30 {
        let pool = pool.clone();
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..n / 30 {
                let conn = pool.lock().unwrap().pop();
                let conn = conn.unwrap_or_else(|| rusqlite::Connection::open(&path).unwrap());
                {
                    let mut st = conn
                        .prepare_cached(
                            "SELECT id, name, naming_rule, created_at FROM domains ORDER BY name",
                        )
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
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    println!(
        "inline: {:.1} us wall, {:.1} us cpu per query",
        t.elapsed().as_secs_f64() * 1e6 / n as f64,
        (cpu() - c) * 1e6 / n as f64
    );
}
