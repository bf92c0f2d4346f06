//! `plinth pool load`: drive a real pool on the target database so a user can watch the
//! diagnostics react (health events go to stderr through tracing as they happen), then report
//! the final stats.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use plinth::backend::Driver;
use plinth::pool::{MonitoredDatabase, PoolConfig, PoolStats};
use plinth::retry::{connect_with_retry, RetryError, RetryPolicy};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `plinth pool …` subcommands.
#[derive(clap::Args, Debug, Clone)]
pub struct PoolArgs {
    /// What to do with the pool.
    #[command(subcommand)]
    pub command: PoolCommand,
}

/// The pool subcommands.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum PoolCommand {
    /// Hold connections from many tasks at once and watch the pool's health change.
    Load(LoadArgs),
}

/// Flags of `plinth pool load`.
#[derive(clap::Args, Debug, Clone)]
pub struct LoadArgs {
    /// Pool size.
    #[arg(long, default_value_t = 10)]
    pub max_connections: u32,
    /// Tasks competing for connections.
    #[arg(long, default_value_t = 20)]
    pub tasks: u32,
    /// How long each task holds a connection, in milliseconds.
    #[arg(long, default_value_t = 50)]
    pub hold_ms: u64,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Acquire timeout, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    pub acquire_timeout_ms: u64,
}

/// Run the load; returns the rendered report and the exit code (0 done, 1 some acquires failed,
/// 2 bad arguments, 3 database unreachable).
pub async fn run_load(url: &str, args: &PoolArgs, json: bool) -> (String, i32) {
    let PoolCommand::Load(load) = &args.command;
    if load.max_connections == 0 || load.tasks == 0 {
        return ("--max-connections and --tasks must be at least 1".into(), 2);
    }
    match Driver::from_url(url) {
        Some(Driver::Postgres) => load_on::<sqlx::Postgres>(url, load, json).await,
        Some(Driver::MySql) => load_on::<sqlx::MySql>(url, load, json).await,
        Some(Driver::Sqlite) => load_on::<sqlx::Sqlite>(url, load, json).await,
        None => (
            format!(
                "unsupported database URL `{}`",
                plinth::redact::redact_url(url)
            ),
            2,
        ),
    }
}

async fn load_on<DB: MonitoredDatabase>(url: &str, load: &LoadArgs, json: bool) -> (String, i32)
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    let config = PoolConfig {
        name: "plinth-load".into(),
        max_connections: load.max_connections,
        acquire_timeout: Duration::from_millis(load.acquire_timeout_ms),
        leak_threshold: Some(Duration::from_millis(
            load.hold_ms.saturating_mul(20).max(1000),
        )),
        ..PoolConfig::default()
    };
    let policy = RetryPolicy {
        max_attempts: 3,
        ..RetryPolicy::default()
    };
    let pool = match connect_with_retry::<DB>(url, config, &policy).await {
        Ok(p) => p,
        Err(e @ RetryError::Pool(_)) => return (e.to_string(), 2),
        Err(e) => return (e.to_string(), 3),
    };
    pool.start_health_monitoring(Duration::from_secs(1));
    let deadline = Instant::now() + Duration::from_secs(load.duration);
    let hold = Duration::from_millis(load.hold_ms);
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let first_error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let mut tasks = Vec::new();
    for _ in 0..load.tasks {
        let (pool, ok, failed, first_error) = (
            pool.clone(),
            ok.clone(),
            failed.clone(),
            first_error.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let result = async {
                    let mut conn = pool.acquire().await.map_err(|e| e.to_string())?;
                    sqlx::Executor::execute(&mut *conn, sqlx::raw_sql("SELECT 1"))
                        .await
                        .map_err(|e| e.to_string())?;
                    tokio::time::sleep(hold).await;
                    Ok::<(), String>(())
                }
                .await;
                match result {
                    Ok(()) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut first) = first_error.lock() {
                            first.get_or_insert(e);
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let stats = pool.log_pool_health();
    pool.close().await;
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    let first_error = first_error.lock().ok().and_then(|e| e.clone());
    let code = if failed > 0 { 1 } else { 0 };
    let out = if json {
        serde_json::to_string_pretty(&serde_json::json!({
            "operations": ok,
            "failed": failed,
            "first_error": first_error,
            "stats": stats,
        }))
        .unwrap_or_default()
    } else {
        render_stats(&stats, ok, failed, first_error.as_deref())
    };
    (out, code)
}

/// Render pool stats as a table for people.
pub fn render_stats(s: &PoolStats, ok: u64, failed: u64, first_error: Option<&str>) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec!["metric", "value"]);
    let rows: Vec<(&str, String)> = vec![
        ("health", s.level.to_string()),
        ("max / min", format!("{} / {}", s.max, s.min)),
        ("open (size)", s.size.to_string()),
        ("in use / idle", format!("{} / {}", s.in_use, s.idle)),
        ("waiting", s.waiting.to_string()),
        ("utilization", format!("{:.0}%", s.utilization_percent)),
        ("demand", format!("{:.0}%", s.demand_percent)),
        ("acquires", s.acquires_total.to_string()),
        ("timeouts", s.timeouts_total.to_string()),
        (
            "connections created / closed",
            format!(
                "{} / {}",
                s.connections_created_total, s.connections_closed_total
            ),
        ),
        (
            "acquire wait p50/p95/p99/max ms",
            format!(
                "{:.1} / {:.1} / {:.1} / {:.1}",
                s.acquire_wait.p50_ms,
                s.acquire_wait.p95_ms,
                s.acquire_wait.p99_ms,
                s.acquire_wait.max_ms
            ),
        ),
        (
            "hold time p50/p95/p99/max ms",
            format!(
                "{:.1} / {:.1} / {:.1} / {:.1}",
                s.hold_time.p50_ms, s.hold_time.p95_ms, s.hold_time.p99_ms, s.hold_time.max_ms
            ),
        ),
        ("operations ok / failed", format!("{ok} / {failed}")),
    ];
    for (k, v) in rows {
        t.add_row(vec![k.to_string(), v]);
    }
    let mut out = format!("pool `{}` after the load\n{t}\n", s.name);
    if let Some(e) = first_error {
        out.push_str(&format!("first failure: {e}\n"));
    }
    out
}
