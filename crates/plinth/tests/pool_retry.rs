//! Connecting with retry against real failures: a closed port is retried with growing, jittered
//! delays inside the configured bounds; a wrong password or an unknown database fails at once.

mod pool_support;

use plinth::pool::PoolConfig;
use plinth::retry::{connect_with_retry, RetryError, RetryPolicy};
use plinth_testkit::{server_url, test_db, Kind};
use pool_support::{capture, unique_name};
use std::time::Duration;

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn field_f64(e: &pool_support::Event, name: &str) -> f64 {
    e.field(name).unwrap().parse().unwrap()
}

#[tokio::test]
async fn closed_port_is_retried_with_growing_jittered_delays() {
    let (events, _guard) = capture();
    let url = format!(
        "postgres://postgres:s3cret-pw@127.0.0.1:{}/x?sslmode=disable",
        closed_port()
    );
    let policy = RetryPolicy {
        initial_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(80),
        multiplier: 2.0,
        max_attempts: 7,
        max_elapsed: Duration::from_secs(60),
        attempt_timeout: Duration::from_secs(5),
    };
    let err = connect_with_retry::<sqlx::Postgres>(&url, PoolConfig::default(), &policy)
        .await
        .err()
        .unwrap();
    let RetryError::Exhausted { attempts, .. } = &err else {
        panic!("expected Exhausted, got {err:?}");
    };
    assert_eq!(*attempts, 7);
    let text = err.to_string();
    assert!(text.contains("io:ConnectionRefused"), "{text}");
    assert!(!text.contains("s3cret-pw"), "{text}");

    let backoffs = events.matching("backing off");
    assert_eq!(backoffs.len(), 6, "{backoffs:#?}");
    let caps: Vec<f64> = backoffs.iter().map(|e| field_f64(e, "cap_ms")).collect();
    let delays: Vec<f64> = backoffs.iter().map(|e| field_f64(e, "delay_ms")).collect();
    assert_eq!(caps, vec![20.0, 40.0, 80.0, 80.0, 80.0, 80.0]);
    for (k, (d, c)) in delays.iter().zip(&caps).enumerate() {
        assert!(
            *d >= 0.0 && d <= c,
            "delay {d} outside [0, {c}] at retry {}",
            k + 1
        );
    }
    // full jitter: six draws are not all at the cap
    assert!(delays.iter().zip(&caps).any(|(d, c)| d < c), "{delays:?}");
    for (k, e) in backoffs.iter().enumerate() {
        assert!(
            e.message
                .starts_with(&format!("attempt {}/7 failed, backing off ", k + 1)),
            "{}",
            e.message
        );
        assert!(!e.message.contains("s3cret-pw"));
    }
}

#[tokio::test]
async fn wrong_password_fails_after_one_attempt_mariadb() {
    let db = test_db!(Kind::MySql);
    let user = unique_name("plinth_pw");
    db.exec(&format!(
        "CREATE USER '{user}'@'%' IDENTIFIED BY 'right-pw-1'"
    ))
    .await
    .unwrap();
    db.exec(&format!("GRANT ALL ON {}.* TO '{user}'@'%'", db.name))
        .await
        .unwrap();
    let mut url = url::Url::parse(&db.url).unwrap();
    url.set_username(&user).unwrap();

    // the right password connects (so the user really exists and the failure below is the password)
    url.set_password(Some("right-pw-1")).unwrap();
    let ok = connect_with_retry::<sqlx::MySql>(
        url.as_str(),
        PoolConfig::default(),
        &RetryPolicy::default(),
    )
    .await;
    assert!(ok.is_ok(), "{:?}", ok.err());

    let (events, _guard) = capture();
    url.set_password(Some("wrong-pw-2")).unwrap();
    let err = connect_with_retry::<sqlx::MySql>(
        url.as_str(),
        PoolConfig::default(),
        &RetryPolicy::default(),
    )
    .await
    .err()
    .unwrap();
    let text = err.to_string();
    assert!(matches!(err, RetryError::Permanent { .. }), "{err:?}");
    assert!(text.contains("[1045]"), "{text}");
    assert!(!text.contains("wrong-pw-2"), "{text}");
    assert!(events.matching("backing off").is_empty());
    let _ = db.exec(&format!("DROP USER '{user}'@'%'")).await;
}

#[tokio::test]
async fn unknown_database_fails_after_one_attempt_postgres() {
    // PostgreSQL here trusts local connections, so a wrong password cannot be provoked; an
    // unknown database (3D000) is the never-retry error it can show.
    let (events, _guard) = capture();
    let mut url = url::Url::parse(&server_url(Kind::Postgres)).unwrap();
    url.set_path(&format!("/{}", unique_name("plinth_missing")));
    let err = connect_with_retry::<sqlx::Postgres>(
        url.as_str(),
        PoolConfig::default(),
        &RetryPolicy::default(),
    )
    .await
    .err()
    .unwrap();
    let text = err.to_string();
    assert!(matches!(err, RetryError::Permanent { .. }), "{err:?}");
    assert!(text.contains("[3D000]"), "{text}");
    assert!(events.matching("backing off").is_empty());
}

#[tokio::test]
async fn success_logs_configuration_and_first_stats() {
    let db = test_db!(Kind::Postgres);
    let (events, _guard) = capture();
    let config = PoolConfig {
        name: unique_name("retry_ok"),
        min_connections: 2,
        ..PoolConfig::default()
    };
    let pool = connect_with_retry::<sqlx::Postgres>(&db.url, config, &RetryPolicy::default())
        .await
        .unwrap();
    let connected = events.matching("connected to");
    assert_eq!(connected.len(), 1);
    assert_eq!(connected[0].level, tracing::Level::INFO);
    assert_eq!(connected[0].field("max_connections"), Some("10"));
    assert_eq!(connected[0].field("attempts"), Some("1"));
    assert!(connected[0].field("size").is_some());
    assert!(pool.stats().size >= 1);
}
