//! Pool overhead: acquire + `SELECT 1` + release with 64 tasks on a pool of 16 connections,
//! monitored pool vs bare sqlx pool, in the same run against the local PostgreSQL.
//!
//! `cargo bench -p plinth --bench pool` (PLINTH_TEST_POSTGRES_URL overrides the server).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use plinth::pool::{MonitoredPool, PoolConfig, ReleaseCheck};
use sqlx::postgres::PgPoolOptions;
use std::time::{Duration, Instant};

const TASKS: usize = 64;
const CONNECTIONS: u32 = 16;
const OPS_PER_TASK: usize = 50;

fn url() -> String {
    std::env::var("PLINTH_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable".into())
}

async fn run_bare(pool: &sqlx::PgPool) {
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for _ in 0..OPS_PER_TASK {
                    let mut c = pool.acquire().await.expect("acquire");
                    sqlx::query("SELECT 1")
                        .execute(&mut *c)
                        .await
                        .expect("select");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
}

async fn run_monitored(pool: &MonitoredPool<sqlx::Postgres>) {
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for _ in 0..OPS_PER_TASK {
                    let mut c = pool.acquire().await.expect("acquire");
                    sqlx::query("SELECT 1")
                        .execute(&mut *c)
                        .await
                        .expect("select");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let bare = rt.block_on(async {
        let p = PgPoolOptions::new()
            .max_connections(CONNECTIONS)
            .min_connections(CONNECTIONS)
            .connect(&url())
            .await
            .expect("bare pool");
        run_bare(&p).await;
        p
    });
    let monitored = rt.block_on(async {
        let p = MonitoredPool::<sqlx::Postgres>::connect(
            &url(),
            PoolConfig {
                name: "plinth_bench_verify".into(),
                max_connections: CONNECTIONS,
                min_connections: CONNECTIONS,
                release_check: ReleaseCheck::Verify,
                ..PoolConfig::default()
            },
        )
        .await
        .expect("monitored pool");
        p.start_health_monitoring(Duration::from_secs(1));
        run_monitored(&p).await;
        p
    });

    let tracked = rt.block_on(async {
        let p = MonitoredPool::<sqlx::Postgres>::connect(
            &url(),
            PoolConfig {
                name: "plinth_bench_tracked".into(),
                max_connections: CONNECTIONS,
                min_connections: CONNECTIONS,
                release_check: ReleaseCheck::Tracked,
                ..PoolConfig::default()
            },
        )
        .await
        .expect("monitored pool");
        p.start_health_monitoring(Duration::from_secs(1));
        run_monitored(&p).await;
        p
    });
    // Like for like with the bare pool: ping before every acquire, as sqlx does by default, so
    // the difference is the monitoring bookkeeping alone.
    let same_pings = rt.block_on(async {
        let p = MonitoredPool::<sqlx::Postgres>::connect(
            &url(),
            PoolConfig {
                name: "plinth_bench_same_pings".into(),
                max_connections: CONNECTIONS,
                min_connections: CONNECTIONS,
                release_check: ReleaseCheck::Tracked,
                ping_idle_after: Duration::ZERO,
                ..PoolConfig::default()
            },
        )
        .await
        .expect("monitored pool");
        p.start_health_monitoring(Duration::from_secs(1));
        run_monitored(&p).await;
        p
    });

    let mut group = c.benchmark_group("pool_64_tasks_16_connections");
    group.throughput(Throughput::Elements((TASKS * OPS_PER_TASK) as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("bare_sqlx", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let bare = bare.clone();
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    run_bare(&bare).await;
                }
                start.elapsed()
            }
        })
    });
    group.bench_function("monitored_release_check_verify", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let monitored = monitored.clone();
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    run_monitored(&monitored).await;
                }
                start.elapsed()
            }
        })
    });
    group.bench_function("monitored_default", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let tracked = tracked.clone();
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    run_monitored(&tracked).await;
                }
                start.elapsed()
            }
        })
    });
    group.bench_function("monitored_ping_every_acquire", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let p = same_pings.clone();
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    run_monitored(&p).await;
                }
                start.elapsed()
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
