//! Stop and restart PostgreSQL under a 32-task load: the pool recovers within 5 s of the server's
//! return and leaks nothing (the pool's stats and pg_stat_activity agree).
//!
//! Ignored by default: it stops the shared PostgreSQL server, which breaks every other test running
//! at the same time. Run it alone, as root on the test machine:
//!
//! ```text
//! cargo test -p plinth --test pool_restart -- --ignored --nocapture
//! ```
//! `PLINTH_PG_CLUSTER` overrides the cluster (`15 main`).

use plinth::pool::{MonitoredPool, PoolConfig};
use plinth_testkit::{test_db, Kind};
use sqlx::{Connection, Row};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn pg_ctl(action: &str) {
    let cluster = std::env::var("PLINTH_PG_CLUSTER").unwrap_or_else(|_| "15 main".into());
    let mut parts = cluster.split_whitespace();
    let (version, name) = (parts.next().unwrap(), parts.next().unwrap());
    let status = Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", version, name, action])
        .status()
        .expect("pg_ctlcluster runs");
    assert!(status.success(), "pg_ctlcluster {action} failed");
}

/// Starts the server again even if the test panics half-way.
struct RestartOnDrop;
impl Drop for RestartOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", "15", "main", "start"])
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "stops and restarts the shared PostgreSQL server; run alone with --ignored"]
async fn pool_recovers_from_a_server_restart_under_load() {
    let db = test_db!(Kind::Postgres);
    let name = format!("plinth_restart_{:08x}", rand::random::<u32>());
    let config = PoolConfig {
        name: name.clone(),
        max_connections: 16,
        acquire_timeout: Duration::from_secs(1),
        ..PoolConfig::default()
    };
    let pool = MonitoredPool::<sqlx::Postgres>::connect(&db.url, config)
        .await
        .unwrap();
    pool.start_health_monitoring(Duration::from_secs(1));

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (pool, stop, ok, failed) = (pool.clone(), stop.clone(), ok.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let result = async {
                    let mut c = pool.acquire().await.map_err(|e| e.to_string())?;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    sqlx::query("SELECT 1")
                        .execute(&mut *c)
                        .await
                        .map_err(|e| e.to_string())
                }
                .await;
                match result {
                    Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(ok.load(Ordering::Relaxed) > 0);

    let _restart = RestartOnDrop;
    pg_ctl("stop");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let failed_during_outage = failed.load(Ordering::Relaxed);
    assert!(failed_during_outage > 0, "the outage was not seen");
    let timeout_text = pool.acquire().await.err().map(|e| e.to_string());
    println!("acquire during the outage: {timeout_text:?}");

    pg_ctl("start");
    let back = Instant::now();
    // recovered = a run of successful operations after the server's return
    let mut recovered_after = None;
    while back.elapsed() < Duration::from_secs(30) {
        let before = ok.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(50)).await;
        if ok.load(Ordering::Relaxed) >= before + 32 {
            recovered_after = Some(back.elapsed());
            break;
        }
    }
    let recovered_after = recovered_after.expect("pool did not recover within 30 s");
    println!(
        "recovered {:.2}s after the server's return; {} ok, {} failed",
        recovered_after.as_secs_f64(),
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    assert!(
        recovered_after < Duration::from_secs(5),
        "{recovered_after:?}"
    );

    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    // every connection came back; the server sees exactly the pool's open connections
    let mut admin = sqlx::PgConnection::connect(&plinth_testkit::server_url(Kind::Postgres))
        .await
        .unwrap();
    let mut agreed = None;
    for _ in 0..100 {
        let stats = pool.stats();
        let row =
            sqlx::query("SELECT count(*)::int8 FROM pg_stat_activity WHERE application_name = $1")
                .bind(&name)
                .fetch_one(&mut admin)
                .await
                .unwrap();
        let server: i64 = row.get(0);
        if stats.in_use == 0 && i64::from(stats.size) == server {
            agreed = Some((stats, server));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (stats, server) = agreed.expect("pool stats and pg_stat_activity never agreed");
    println!(
        "after the load: pool size {} (idle {}), server sees {server}; stats {stats:?}",
        stats.size, stats.idle
    );
    assert_eq!(stats.waiting, 0);
    assert!(pool.holders().is_empty());
}
