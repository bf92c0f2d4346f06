//! Serve a monitored pool's metrics on a loopback `/metrics` page for Prometheus, while a small
//! load keeps the numbers moving.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo run -p plinth --example metrics_server
//! curl -s http://127.0.0.1:9187/metrics | grep db_client_connection
//! ```
//! `PLINTH_METRICS_ADDR` changes the address (loopback by default); `RUN_SECS` stops it after that
//! many seconds (default: run until Ctrl-C).

use metrics_exporter_prometheus::PrometheusBuilder;
use plinth::pool::{metric_names, MonitoredPool, PoolConfig};
use std::net::SocketAddr;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let addr: SocketAddr = std::env::var("PLINTH_METRICS_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:9187".into())
        .parse()?;
    // The recorder must be installed before the pool is built: the pool caches its handles.
    let buckets = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Prefix("db.client.connection".into()),
            &buckets,
        )?
        .install()?;

    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".into());
    let config = PoolConfig {
        name: "metrics-example".into(),
        max_connections: 4,
        ..PoolConfig::default()
    };
    let run_secs: Option<u64> = std::env::var("RUN_SECS").ok().and_then(|s| s.parse().ok());
    eprintln!(
        "serving http://{addr}/metrics ({} and friends)",
        metric_names::COUNT
    );
    match plinth::backend::Driver::from_url(&url) {
        Some(plinth::backend::Driver::Postgres) => {
            drive(
                MonitoredPool::<sqlx::Postgres>::connect(&url, config).await?,
                run_secs,
            )
            .await
        }
        Some(plinth::backend::Driver::MySql) => {
            drive(
                MonitoredPool::<sqlx::MySql>::connect(&url, config).await?,
                run_secs,
            )
            .await
        }
        _ => {
            drive(
                MonitoredPool::<sqlx::Sqlite>::connect(&url, config).await?,
                run_secs,
            )
            .await
        }
    }
    Ok(())
}

async fn drive<DB: plinth::pool::MonitoredDatabase>(pool: MonitoredPool<DB>, run_secs: Option<u64>)
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    pool.start_health_monitoring(Duration::from_secs(5));
    for _ in 0..6 {
        let pool = pool.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(mut c) = pool.acquire().await {
                    let _ = sqlx::Executor::execute(&mut *c, sqlx::raw_sql("SELECT 1")).await;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        });
    }
    match run_secs {
        Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
