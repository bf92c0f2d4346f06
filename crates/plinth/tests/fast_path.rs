//! The up-to-date check compares a digest the server computes over history with one computed from
//! the source. These tests change history behind plinth's back, on real servers, and check that the
//! digest never says "up to date" when reading every row would not.

use plinth::backend::{ConnectConfig, Db};
use plinth::migrate::{MigrateError, MigrateOptions, Migrator, Quiet, UpToDateCheck};
use plinth::MigrationSource;
use plinth_testkit::{test_db, Kind, TestDb};

const HISTORY: &str = "plinth_migration_history";

fn source(extra: &[(&str, &str)]) -> MigrationSource {
    let mut files: Vec<(String, String, Result<String, String>)> = (1..=5)
        .map(|i| {
            let name = format!("{i:04}_t{i}.sql");
            let sql = format!("CREATE TABLE IF NOT EXISTS t{i} (id INT);");
            (name.clone(), name, Ok(sql))
        })
        .collect();
    for (name, sql) in extra {
        files.push((name.to_string(), name.to_string(), Ok(sql.to_string())));
    }
    MigrationSource::from_files(files.into_iter()).unwrap()
}

/// Migrate; first ask the check the way the CLI does for a directory the checksum cache found
/// unchanged (digests only, no source), and require the same verdict as the full check's.
async fn migrate(
    t: &TestDb,
    source: MigrationSource,
) -> Result<plinth::migrate::MigrateReport, MigrateError> {
    let mut db = Db::connect(&t.url, &ConnectConfig::default())
        .await
        .unwrap();
    let check = UpToDateCheck::run(&mut db, HISTORY).await;
    let by_digests = check.matches(&mut db, &source.digests()).await.unwrap();
    let report = Migrator::new(source, MigrateOptions::default())
        .migrate(&mut db, &Quiet)
        .await;
    let _ = db.close().await;
    let fast = report.as_ref().is_ok_and(|r| r.fast_path);
    assert_eq!(
        by_digests.is_some(),
        fast,
        "cached digests and the source disagree: {report:?}"
    );
    report
}

async fn digest_agrees_with_history(kind: Kind) {
    let t = test_db!(kind);
    assert_eq!(migrate(&t, source(&[])).await.unwrap().applied.len(), 5);
    let again = migrate(&t, source(&[])).await.unwrap();
    assert!(again.applied.is_empty() && again.fast_path, "{again:?}");

    // A new file: not up to date.
    let more = source(&[("0006_t6.sql", "CREATE TABLE IF NOT EXISTS t6 (id INT);")]);
    let report = migrate(&t, more).await.unwrap();
    assert_eq!(
        report.applied.iter().map(|a| a.version).collect::<Vec<_>>(),
        [6]
    );
    let more = || source(&[("0006_t6.sql", "CREATE TABLE IF NOT EXISTS t6 (id INT);")]);
    assert!(migrate(&t, more()).await.unwrap().fast_path);

    // The newest row deleted by hand: that migration runs again.
    t.exec(&format!("DELETE FROM {HISTORY} WHERE version = 6"))
        .await
        .unwrap();
    let report = migrate(&t, more()).await.unwrap();
    assert_eq!(
        report.applied.iter().map(|a| a.version).collect::<Vec<_>>(),
        [6]
    );

    // A recorded checksum changed by hand: the file counts as edited.
    t.exec(&format!(
        "UPDATE {HISTORY} SET checksum = 'x{}' WHERE version = 3",
        "0".repeat(63)
    ))
    .await
    .unwrap();
    let err = migrate(&t, more()).await.unwrap_err();
    assert!(err.to_string().contains("0003_t3.sql"), "{err}");
    t.exec(&format!(
        "UPDATE {HISTORY} SET checksum = '{}' WHERE version = 3",
        plinth::migrate::checksum("CREATE TABLE IF NOT EXISTS t3 (id INT);")
    ))
    .await
    .unwrap();
    assert!(migrate(&t, more()).await.unwrap().fast_path);

    // Two checksums swapped between rows: both files count as edited.
    let (c1, c2) = (
        plinth::migrate::checksum("CREATE TABLE IF NOT EXISTS t1 (id INT);"),
        plinth::migrate::checksum("CREATE TABLE IF NOT EXISTS t2 (id INT);"),
    );
    t.exec(&format!(
        "UPDATE {HISTORY} SET checksum = '{c2}' WHERE version = 1"
    ))
    .await
    .unwrap();
    t.exec(&format!(
        "UPDATE {HISTORY} SET checksum = '{c1}' WHERE version = 2"
    ))
    .await
    .unwrap();
    let err = migrate(&t, more()).await.unwrap_err();
    assert!(err.to_string().contains("0001_t1.sql"), "{err}");
    t.exec(&format!(
        "UPDATE {HISTORY} SET checksum = '{c1}' WHERE version = 1"
    ))
    .await
    .unwrap();
    t.exec(&format!(
        "UPDATE {HISTORY} SET checksum = '{c2}' WHERE version = 2"
    ))
    .await
    .unwrap();

    // A file gone: missing, not up to date.
    let err = migrate(&t, source(&[])).await.unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");

    // A row left `running`: an interrupted run, exit 5's error.
    t.exec(&format!(
        "UPDATE {HISTORY} SET status = 'running' WHERE version = 4"
    ))
    .await
    .unwrap();
    let err = migrate(&t, more()).await.unwrap_err();
    assert!(matches!(err, MigrateError::Interrupted(_)), "{err}");
    t.exec(&format!(
        "UPDATE {HISTORY} SET status = 'success' WHERE version = 4"
    ))
    .await
    .unwrap();

    // A failed row: retried, not up to date.
    t.exec(&format!(
        "UPDATE {HISTORY} SET status = 'failed' WHERE version = 5"
    ))
    .await
    .unwrap();
    let report = migrate(&t, more()).await.unwrap();
    assert_eq!(
        report.applied.iter().map(|a| a.version).collect::<Vec<_>>(),
        [5]
    );
    assert!(migrate(&t, more()).await.unwrap().fast_path);
}

/// A migration skipped for an unmet `requires` stays skipped, and the check still takes one query.
async fn skipped_migrations_stay_on_the_fast_path(kind: Kind) {
    let t = test_db!(kind);
    let other = match kind {
        Kind::Postgres => "sqlite",
        _ => "postgres",
    };
    let skipped = format!("-- plinth:requires {other}\nCREATE TABLE IF NOT EXISTS t7 (id INT);");
    let files = || source(&[("0007_only_elsewhere.sql", skipped.as_str())]);
    let first = migrate(&t, files()).await.unwrap();
    assert_eq!(first.applied.len(), 6);
    assert_eq!(first.applied[5].outcome, "skipped");
    let again = migrate(&t, files()).await.unwrap();
    assert!(again.applied.is_empty() && again.fast_path, "{again:?}");
}

#[tokio::test]
async fn digest_agrees_with_history_postgres() {
    digest_agrees_with_history(Kind::Postgres).await;
}
#[tokio::test]
async fn digest_agrees_with_history_mysql() {
    digest_agrees_with_history(Kind::MySql).await;
}
#[tokio::test]
async fn digest_agrees_with_history_sqlite() {
    digest_agrees_with_history(Kind::Sqlite).await;
}
#[tokio::test]
async fn skipped_migrations_stay_on_the_fast_path_postgres() {
    skipped_migrations_stay_on_the_fast_path(Kind::Postgres).await;
}
#[tokio::test]
async fn skipped_migrations_stay_on_the_fast_path_mysql() {
    skipped_migrations_stay_on_the_fast_path(Kind::MySql).await;
}
#[tokio::test]
async fn skipped_migrations_stay_on_the_fast_path_sqlite() {
    skipped_migrations_stay_on_the_fast_path(Kind::Sqlite).await;
}

/// `status` on a history table that exists but is empty still names the server (its version comes
/// from a query of its own when there is no row to carry it).
async fn status_on_an_empty_history_table(kind: Kind) {
    let t = test_db!(kind);
    let mut db = Db::connect(&t.url, &ConnectConfig::default())
        .await
        .unwrap();
    plinth::migrate::history::History::new(HISTORY, db.driver)
        .unwrap()
        .ensure(&mut db)
        .await
        .unwrap();
    let report = Migrator::new(source(&[]), MigrateOptions::default())
        .status(&mut db)
        .await
        .unwrap();
    let _ = db.close().await;
    let backend = report.server.backend;
    let right = match kind {
        Kind::Postgres => backend == plinth::Backend::Postgres,
        Kind::MySql => backend.is_mysql_family(),
        Kind::Sqlite => backend == plinth::Backend::Sqlite,
    };
    assert!(right, "{:?}", report.server);
    assert!(report.server.version.major > 0, "{:?}", report.server);
    assert_eq!(report.plan.entries.len(), 5);
    assert!(report.plan.entries.iter().all(|e| e.history.is_none()));
}

#[tokio::test]
async fn status_on_an_empty_history_table_postgres() {
    status_on_an_empty_history_table(Kind::Postgres).await;
}
#[tokio::test]
async fn status_on_an_empty_history_table_mysql() {
    status_on_an_empty_history_table(Kind::MySql).await;
}
#[tokio::test]
async fn status_on_an_empty_history_table_sqlite() {
    status_on_an_empty_history_table(Kind::Sqlite).await;
}
