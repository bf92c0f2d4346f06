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

/// A warmed-up monitored pool with one configuration change from the defaults.
fn monitored(
    rt: &tokio::runtime::Runtime,
    name: &str,
    tweak: impl FnOnce(&mut PoolConfig),
) -> MonitoredPool<sqlx::Postgres> {
    let mut config = PoolConfig {
        name: name.into(),
        max_connections: CONNECTIONS,
        min_connections: CONNECTIONS,
        ..PoolConfig::default()
    };
    tweak(&mut config);
    rt.block_on(async {
        let p = MonitoredPool::<sqlx::Postgres>::connect(&url(), config)
            .await
            .expect("monitored pool");
        p.start_health_monitoring(Duration::from_secs(1));
        run_monitored(&p).await;
        p
    })
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
    let variants = [
        (
            "monitored_release_check_verify",
            monitored(&rt, "plinth_bench_verify", |c| {
                c.release_check = ReleaseCheck::Verify
            }),
        ),
        (
            "monitored_default",
            monitored(&rt, "plinth_bench_default", |_| {}),
        ),
        // Like for like with the bare pool: ping before every acquire, as sqlx does by default,
        // so the difference is the monitoring bookkeeping alone.
        (
            "monitored_ping_every_acquire",
            monitored(&rt, "plinth_bench_same_pings", |c| {
                c.ping_idle_after = Duration::ZERO
            }),
        ),
    ];

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
    for (name, pool) in &variants {
        group.bench_function(*name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let pool = pool.clone();
                async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        run_monitored(&pool).await;
                    }
                    start.elapsed()
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
