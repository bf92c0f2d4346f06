//! Rust migrations built from the idempotent schema operations, run by the real migrator: 6 tables,
//! 30 added columns, run twice and over a database where 10 columns were added by hand; and the same
//! in one transaction on PostgreSQL (`--tx-mode all`) with columns already there.

use plinth::backend::{ConnectConfig, Db};
use plinth::migrate::{MigrateOptions, Migrator, Quiet, TxMode};
use plinth::schema::{add_column, create_table, Column, Outcome, SchemaOptions, Table};
use plinth::MigrationSource;
use plinth_testkit::{test_db, Kind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const TABLES: [&str; 6] = [
    "accounts",
    "orders",
    "items",
    "invoices",
    "payments",
    "shipments",
];

fn columns(table: &str) -> Vec<Column> {
    ["note", "code", "label", "city", "owner"]
        .iter()
        .map(|c| Column::new(format!("{table}_{c}"), "VARCHAR(80)"))
        .collect()
}

#[derive(Default)]
struct Counts {
    applied: AtomicUsize,
    skipped: AtomicUsize,
}

fn source(counts: Arc<Counts>) -> MigrationSource {
    let mut source = MigrationSource::new();
    for (i, table) in TABLES.iter().enumerate() {
        let counts = counts.clone();
        source
            .add_rust(
                i as i64 + 1,
                &format!("{table}_columns"),
                move |db: &mut Db| {
                    let counts = counts.clone();
                    Box::pin(async move {
                        let opts = SchemaOptions::default();
                        let t = Table {
                            name: table.to_string(),
                            columns: vec![Column::new("id", "INTEGER").not_null()],
                            primary_key: vec!["id".into()],
                        };
                        create_table(db, &t, &opts).await?;
                        for c in columns(table) {
                            match add_column(db, table, &c, &opts).await? {
                                Outcome::Applied => counts.applied.fetch_add(1, Ordering::SeqCst),
                                Outcome::AlreadyApplied { .. } => {
                                    counts.skipped.fetch_add(1, Ordering::SeqCst)
                                }
                                other => panic!("unexpected outcome {other:?}"),
                            };
                        }
                        Ok(())
                    })
                },
            )
            .unwrap();
    }
    source
}

async fn run(url: &str, tx_mode: TxMode) -> (usize, usize, usize) {
    let counts = Arc::new(Counts::default());
    let mut db = Db::connect(url, &ConnectConfig::default()).await.unwrap();
    let migrator = Migrator::new(
        source(counts.clone()),
        MigrateOptions {
            tx_mode,
            ..Default::default()
        },
    );
    let report = migrator
        .migrate(&mut db, &Quiet)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (
        report.applied.len(),
        counts.applied.load(Ordering::SeqCst),
        counts.skipped.load(Ordering::SeqCst),
    )
}

async fn thirty_columns(kind: Kind) {
    // A fresh database: everything is applied once, then nothing runs again.
    let fresh = test_db!(kind);
    assert_eq!(run(&fresh.url, TxMode::PerMigration).await, (6, 30, 0));
    assert_eq!(run(&fresh.url, TxMode::PerMigration).await, (0, 0, 0));
    assert_eq!(
        fresh.history_rows("plinth_migration_history").await.len(),
        6
    );

    // A database where someone added 10 of the columns by hand: no error, 10 skipped.
    let by_hand = test_db!(kind);
    for table in &TABLES[..2] {
        by_hand
            .exec(&format!(
                "CREATE TABLE {table} (id INTEGER NOT NULL PRIMARY KEY)"
            ))
            .await
            .unwrap();
        for c in columns(table) {
            by_hand
                .exec(&format!(
                    "ALTER TABLE {table} ADD COLUMN {} VARCHAR(80)",
                    c.name
                ))
                .await
                .unwrap();
        }
    }
    assert_eq!(run(&by_hand.url, TxMode::PerMigration).await, (6, 20, 10));
    let rows = by_hand.history_rows("plinth_migration_history").await;
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|r| r.contains("|success|")), "{rows:?}");
}

#[tokio::test]
async fn thirty_columns_postgres() {
    thirty_columns(Kind::Postgres).await;
}
#[tokio::test]
async fn thirty_columns_mysql() {
    thirty_columns(Kind::MySql).await;
}
#[tokio::test]
async fn thirty_columns_sqlite() {
    thirty_columns(Kind::Sqlite).await;
}

#[tokio::test]
async fn one_transaction_on_postgres_with_columns_already_there() {
    let db = test_db!(Kind::Postgres);
    db.exec("CREATE TABLE orders (id INTEGER NOT NULL PRIMARY KEY, orders_note VARCHAR(80), orders_city VARCHAR(80))").await.unwrap();
    assert_eq!(run(&db.url, TxMode::All).await, (6, 28, 2));
    assert!(db.table_exists("shipments").await);
    assert_eq!(db.history_rows("plinth_migration_history").await.len(), 6);
}
