//! MonitoredPool on real servers: health levels with their events, waiting tasks, one monitor per
//! pool, leak reports naming the call site, timeouts that explain themselves, and connections
//! never handed out inside a transaction.

mod pool_support;

use plinth::pool::{
    HealthLevel, MonitoredDatabase, MonitoredPool, PoolConfig, PoolError, ReleaseCheck,
};
use plinth_testkit::{test_db, Kind};
use pool_support::{capture, eventually, unique_name};
use sqlx::{Executor, Row};
use std::time::Duration;
use tracing::Level;

fn config(name: &str, max: u32) -> PoolConfig {
    PoolConfig {
        name: unique_name(name),
        max_connections: max,
        acquire_timeout: Duration::from_secs(20),
        ..PoolConfig::default()
    }
}

/// Hold 15, 16 and 19 of 20 connections and check the level, the event's level and its fields;
/// then let 25 tasks compete for 20 connections and see 5 waiting.
async fn levels_and_waiting<DB: MonitoredDatabase>(url: &str) {
    let (events, _guard) = capture();
    let pool = MonitoredPool::<DB>::connect(url, config("levels", 20))
        .await
        .unwrap();
    let mut held = Vec::new();
    for (count, level, tracing_level, utilization) in [
        (15, HealthLevel::Normal, Level::INFO, "75.0"),
        (16, HealthLevel::Warning, Level::WARN, "80.0"),
        (19, HealthLevel::Critical, Level::ERROR, "95.0"),
    ] {
        while held.len() < count {
            held.push(pool.acquire().await.unwrap());
        }
        events.clear();
        let stats = pool.log_pool_health();
        assert_eq!(stats.in_use, count as u32, "{stats:?}");
        assert_eq!(stats.max, 20);
        assert_eq!(stats.level, level, "{stats:?}");
        let logged = events.matching("pool health");
        assert_eq!(logged.len(), 1, "{logged:?}");
        let e = &logged[0];
        assert_eq!(e.level, tracing_level);
        assert_eq!(e.field("in_use"), Some(count.to_string().as_str()));
        assert_eq!(e.field("max"), Some("20"));
        assert_eq!(e.field("level"), Some(level.as_str()));
        assert_eq!(e.field("utilization_percent"), Some(utilization));
        for f in [
            "waiting",
            "idle",
            "size",
            "acquires_total",
            "wait_p99_ms",
            "hold_p95_ms",
        ] {
            assert!(e.field(f).is_some(), "event lacks {f}: {e:?}");
        }
        assert_eq!(
            e.field("severity"),
            (level == HealthLevel::Critical).then_some("critical")
        );
    }

    // 20 held, then 5 more tasks compete: 25 on 20.
    held.push(pool.acquire().await.unwrap());
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let p = pool.clone();
        tasks.push(tokio::spawn(async move { p.acquire().await.map(drop) }));
    }
    assert!(
        eventually(|| pool.stats().waiting == 5).await,
        "{:?}",
        pool.stats()
    );
    let stats = pool.stats();
    assert_eq!((stats.in_use, stats.waiting), (20, 5));
    assert_eq!(stats.demand_percent, 125.0);
    assert_eq!(stats.level, HealthLevel::Critical);
    drop(held);
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert!(eventually(|| pool.stats().waiting == 0 && pool.stats().in_use == 0).await);
    let stats = pool.stats();
    // 25 here and one in `connect`, which opens the first connection
    assert_eq!(stats.acquires_total, 26);
    assert_eq!(stats.hold_time.samples, 26);
    pool.close().await;
}

#[tokio::test]
async fn levels_and_waiting_postgres() {
    let db = test_db!(Kind::Postgres);
    levels_and_waiting::<sqlx::Postgres>(&db.url).await;
}

#[tokio::test]
async fn levels_and_waiting_mysql() {
    let db = test_db!(Kind::MySql);
    levels_and_waiting::<sqlx::MySql>(&db.url).await;
}

#[tokio::test]
async fn levels_and_waiting_sqlite() {
    let db = test_db!(Kind::Sqlite);
    levels_and_waiting::<sqlx::Sqlite>(&db.url).await;
}

#[tokio::test]
async fn ten_thousand_starts_leave_one_monitor_which_stops_with_the_pool() {
    let db = test_db!(Kind::Postgres);
    let pool = MonitoredPool::<sqlx::Postgres>::connect(&db.url, config("monitor", 4))
        .await
        .unwrap();
    let metrics = tokio::runtime::Handle::current().metrics();
    // let the connection `connect` opened finish returning to the pool (a short-lived task)
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = metrics.num_alive_tasks();
    let started = (0..10_000)
        .filter(|_| pool.start_health_monitoring(Duration::from_millis(20)))
        .count();
    assert_eq!(started, 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(metrics.num_alive_tasks(), before + 1);
    drop(pool);
    assert!(
        eventually(|| metrics.num_alive_tasks() <= before).await,
        "monitor still running: {} tasks, {before} before",
        metrics.num_alive_tasks()
    );
}

#[tokio::test]
async fn monitor_logs_level_changes_not_a_flood() {
    let db = test_db!(Kind::Postgres);
    let (events, _guard) = capture();
    let pool = MonitoredPool::<sqlx::Postgres>::connect(&db.url, config("changes", 5))
        .await
        .unwrap();
    // long interval: only changes of level may be logged
    pool.start_health_monitoring(Duration::from_secs(3600));
    assert!(eventually(|| !events.matching("pool health changed").is_empty()).await);
    let held: Vec<_> = futures::future::join_all((0..5).map(|_| pool.acquire()))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(eventually(|| events.matching("to critical").len() == 1).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let changes = events.matching("pool health");
    assert_eq!(changes.len(), 2, "{changes:#?}");
    assert_eq!(changes[1].level, Level::ERROR);
    assert_eq!(changes[1].field("in_use"), Some("5"));
    drop(held);
}

#[tokio::test]
async fn leak_warning_names_the_call_site_once_and_the_return() {
    let db = test_db!(Kind::Postgres);
    let (events, _guard) = capture();
    let mut cfg = config("leak", 2);
    cfg.leak_threshold = Some(Duration::from_millis(200));
    let pool = MonitoredPool::<sqlx::Postgres>::connect(&db.url, cfg)
        .await
        .unwrap();
    pool.start_health_monitoring(Duration::from_secs(60));
    let conn = pool.acquire().await.unwrap();
    let line = line!() - 1;
    let expected = format!("{}:{}:", file!(), line);
    assert!(eventually(|| !events.matching("possible connection leak").is_empty()).await);
    // several more monitor ticks: still one warning
    tokio::time::sleep(Duration::from_millis(300)).await;
    let leaks = events.matching("possible connection leak");
    assert_eq!(leaks.len(), 1, "{leaks:#?}");
    assert_eq!(leaks[0].level, Level::WARN);
    let location = leaks[0].field("location").unwrap();
    assert!(location.starts_with(&expected), "{location} vs {expected}");
    assert!(leaks[0].message.contains(&expected), "{}", leaks[0].message);
    drop(conn);
    let back = events.matching("came back");
    assert_eq!(back.len(), 1);
    assert!(back[0].field("location").unwrap().starts_with(&expected));
    // a connection released before the threshold is never reported
    let quick = pool.acquire().await.unwrap();
    drop(quick);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(events.matching("possible connection leak").len(), 1);
}

#[tokio::test]
async fn timeout_on_a_full_pool_names_the_holders() {
    let db = test_db!(Kind::Postgres);
    let mut cfg = config("full", 2);
    cfg.acquire_timeout = Duration::from_millis(300);
    let pool = MonitoredPool::<sqlx::Postgres>::connect(&db.url, cfg)
        .await
        .unwrap();
    let _a = pool.acquire().await.unwrap();
    let _b = pool.acquire().await.unwrap();
    let err = pool.acquire().await.err().unwrap();
    let text = err.to_string();
    match &err {
        PoolError::AcquireTimeout {
            stats,
            holders,
            last_error,
            ..
        } => {
            assert_eq!((stats.in_use, stats.max, stats.timeouts_total), (2, 2, 1));
            assert_eq!(holders.len(), 2);
            assert!(holders
                .iter()
                .all(|h| h.location.contains("pool_health.rs")));
            assert!(last_error.is_none());
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(text.contains("exhausted"), "{text}");
    assert!(text.contains("pool_health.rs"), "{text}");
}

#[tokio::test]
async fn timeout_during_an_outage_says_so_with_the_error_code() {
    // a port nobody listens on
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://postgres:hunter2@127.0.0.1:{port}/x?sslmode=disable");
    let mut cfg = config("outage", 4);
    cfg.acquire_timeout = Duration::from_millis(300);
    let pool = MonitoredPool::<sqlx::Postgres>::connect_lazy(&url, cfg).unwrap();
    let err = pool.acquire().await.err().unwrap();
    let text = err.to_string();
    let PoolError::AcquireTimeout { last_error, .. } = &err else {
        panic!("expected a timeout, got {err:?}");
    };
    assert_eq!(
        last_error.as_ref().and_then(|e| e.code.as_deref()),
        Some("io:ConnectionRefused")
    );
    assert!(text.contains("not full"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

/// A borrower that leaves a raw `BEGIN` open must not pass its transaction to the next one.
async fn release_inside_transaction<DB: MonitoredDatabase>(url: &str, in_tx_sql: Option<&str>)
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    i64: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    for<'r> (i64,): sqlx::FromRow<'r, DB::Row>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    let mut cfg = config("tx", 1);
    cfg.release_check = ReleaseCheck::Verify;
    let pool = MonitoredPool::<DB>::connect(url, cfg).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    (&mut *conn)
        .execute("CREATE TABLE left_open (id INTEGER)")
        .await
        .unwrap();
    (&mut *conn).execute("BEGIN").await.unwrap();
    (&mut *conn)
        .execute("INSERT INTO left_open VALUES (1)")
        .await
        .unwrap();
    drop(conn);
    // the same (only) connection comes back: the insert must be gone and no transaction open
    let mut conn = pool.acquire().await.unwrap();
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM left_open")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(
        rows, 0,
        "the uncommitted insert survived into the next borrow"
    );
    if let Some(sql) = in_tx_sql {
        // simple-query protocol, as PostgreSQL's now()/statement_timestamp() test needs
        let row = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let in_tx: i64 = row.try_get(0).unwrap();
        assert_eq!(
            in_tx, 0,
            "the next borrower got a connection inside a transaction"
        );
    }
    assert_eq!(pool.stats().connections_created_total, 1);
    drop(conn);
}

#[tokio::test]
async fn raw_begin_is_rolled_back_on_release_postgres() {
    let db = test_db!(Kind::Postgres);
    release_inside_transaction::<sqlx::Postgres>(
        &db.url,
        Some("SELECT CAST(CASE WHEN now() <> statement_timestamp() THEN 1 ELSE 0 END AS BIGINT)"),
    )
    .await;
}

#[tokio::test]
async fn raw_begin_is_rolled_back_on_release_mariadb() {
    let db = test_db!(Kind::MySql);
    release_inside_transaction::<sqlx::MySql>(
        &db.url,
        Some("SELECT CAST(@@in_transaction AS SIGNED)"),
    )
    .await;
}

#[tokio::test]
async fn raw_begin_is_rolled_back_on_release_sqlite() {
    let db = test_db!(Kind::Sqlite);
    // SQLite has no SQL to ask; the row count (which an open transaction would see) tells.
    release_inside_transaction::<sqlx::Sqlite>(&db.url, None).await;
}
