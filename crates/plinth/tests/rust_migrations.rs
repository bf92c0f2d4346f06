//! Embedded files and Rust-defined migrations share one history, on every backend.

use plinth::backend::{ConnectConfig, Db};
use plinth::migrate::{MigrateOptions, Migrator, Quiet, State};
use plinth_testkit::{test_db, Kind};

fn source() -> plinth::MigrationSource {
    let mut source =
        plinth::embed_migrations!("$CARGO_MANIFEST_DIR/tests/fixtures/embedded").unwrap();
    source
        .add_rust(2, "seed_widgets", |db| {
            Box::pin(async move {
                db.execute_script("INSERT INTO widgets (id, name) VALUES (1, 'sprocket')")
                    .await?;
                Ok(())
            })
        })
        .unwrap();
    source
}

async fn embedded_and_rust(kind: Kind) {
    let t = test_db!(kind);
    let mut db = Db::connect(&t.url, &ConnectConfig::default())
        .await
        .unwrap();
    let migrator = Migrator::new(source(), MigrateOptions::default());
    let report = migrator.migrate(&mut db, &Quiet).await.unwrap();
    assert_eq!(report.applied.len(), 2);
    // Running again does nothing: the Rust migration is tracked like a file.
    let again = migrator.migrate(&mut db, &Quiet).await.unwrap();
    assert!(again.applied.is_empty() && again.fast_path);
    let status = migrator.status(&mut db).await.unwrap();
    let states: Vec<State> = status.plan.entries.iter().map(|e| e.state).collect();
    assert_eq!(states, [State::Applied, State::Applied]);
    assert_eq!(
        status.plan.entries[0].origin.as_deref(),
        Some("embedded:0001_widgets.up.sql")
    );
    assert_eq!(
        status.plan.entries[1].origin.as_deref(),
        Some("rust:seed_widgets")
    );
    let rows = t.history_rows("plinth_migration_history").await;
    assert_eq!(rows.len(), 2);

    // A failing Rust migration is recorded as failed with its error.
    let mut failing = source();
    failing
        .add_rust(3, "boom", |db| {
            Box::pin(async move {
                db.execute_script("INSERT INTO no_such_table VALUES (1)")
                    .await?;
                Ok(())
            })
        })
        .unwrap();
    let err = Migrator::new(failing, MigrateOptions::default())
        .migrate(&mut db, &Quiet)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no_such_table"), "{err}");
    let rows = t.history_rows("plinth_migration_history").await;
    assert!(
        rows[2].starts_with("3|boom|") && rows[2].contains("|failed|"),
        "{rows:?}"
    );
}

#[tokio::test]
async fn embedded_and_rust_postgres() {
    embedded_and_rust(Kind::Postgres).await;
}
#[tokio::test]
async fn embedded_and_rust_mysql() {
    embedded_and_rust(Kind::MySql).await;
}
#[tokio::test]
async fn embedded_and_rust_sqlite() {
    embedded_and_rust(Kind::Sqlite).await;
}
