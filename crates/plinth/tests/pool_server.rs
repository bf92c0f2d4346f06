//! The server's view (`plinth doctor`): a session left idle inside a transaction is flagged, and
//! a pool's sessions are found under its application_name.

use plinth::backend::{ConnectConfig, Db};
use plinth::pool::{server_view, MonitoredPool, PoolConfig};
use plinth_testkit::{test_db, Kind};
use sqlx::{Connection, Executor};

#[tokio::test]
async fn postgres_flags_idle_in_transaction_and_counts_the_pool() {
    let db = test_db!(Kind::Postgres);
    let name = format!("plinth_view_{:08x}", rand::random::<u32>());
    let pool = MonitoredPool::<sqlx::Postgres>::connect(
        &db.url,
        PoolConfig {
            name: name.clone(),
            ..PoolConfig::default()
        },
    )
    .await
    .unwrap();
    let mut held = vec![pool.acquire().await.unwrap(), pool.acquire().await.unwrap()];
    (&mut *held[0]).execute("BEGIN").await.unwrap();
    (&mut *held[0]).execute("SELECT 1").await.unwrap();

    let mut admin = Db::connect(&db.url, &ConnectConfig::default())
        .await
        .unwrap();
    let view = server_view(&mut admin).await.unwrap();
    let mine = view.applications.iter().find(|a| a.state == name).unwrap();
    assert_eq!(mine.count, i64::from(pool.stats().size));
    let idle_tx: Vec<_> = view
        .flags
        .iter()
        .filter(|f| f.kind == "idle_in_transaction")
        .filter(|f| f.session.as_ref().is_some_and(|s| s.application == name))
        .collect();
    assert_eq!(idle_tx.len(), 1, "{:#?}", view.flags);
    assert!(view.max_connections.unwrap() > 0);
    assert!(view.headroom.unwrap() < view.max_connections.unwrap());
    let json = serde_json::to_value(&view).unwrap();
    assert_eq!(json["backend"], "postgres");
    drop(held);
}

#[tokio::test]
async fn mariadb_flags_a_sleeping_open_transaction() {
    let db = test_db!(Kind::MySql);
    db.exec("CREATE TABLE t (id INT) ENGINE=InnoDB")
        .await
        .unwrap();
    let mut c = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
    c.execute("BEGIN").await.unwrap();
    c.execute("INSERT INTO t VALUES (1)").await.unwrap();
    let id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()")
        .fetch_one(&mut c)
        .await
        .unwrap();

    let mut admin = Db::connect(&db.url, &ConnectConfig::default())
        .await
        .unwrap();
    let view = server_view(&mut admin).await.unwrap();
    assert!(view.max_connections.unwrap() > 0);
    assert!(view.connections.unwrap() >= 2);
    let flagged = view.flags.iter().any(|f| {
        f.kind == "idle_in_transaction" && f.session.as_ref().is_some_and(|s| s.id == id as i64)
    });
    assert!(flagged, "{:#?}", view.flags);
    assert!(view.states.iter().any(|s| s.state == "Sleep"));
    c.close().await.unwrap();
}

#[tokio::test]
async fn sqlite_reports_journal_mode_and_busy_timeout() {
    let db = test_db!(Kind::Sqlite);
    let mut conn = Db::connect(&db.url, &ConnectConfig::default())
        .await
        .unwrap();
    let view = server_view(&mut conn).await.unwrap();
    assert_eq!(view.journal_mode.as_deref(), Some("delete"));
    assert_eq!(view.busy_timeout_ms, Some(5000));
    assert!(view.flags.iter().any(|f| f.kind == "journal_mode"));
}
