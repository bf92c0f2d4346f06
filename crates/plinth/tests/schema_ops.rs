//! The idempotent schema operations on live servers: an application that adds 30 columns across 6
//! tables at every start, run twice and over hand-added columns, on every backend; the same inside
//! one PostgreSQL transaction; type changes (incompatible ones expected, SQLite's rebuild keeping
//! data, indexes and constraints); and the log events each outcome emits.

use plinth::backend::{ConnectConfig, Db};
use plinth::schema::{
    add_column, alter_column_type, create_index, create_table, drop_column, drop_index,
    rename_column, Column, DefaultValue, Index, Outcome, SchemaError, SchemaOptions, Table,
};
use plinth_testkit::{test_db, Kind};
use std::collections::BTreeMap;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// One captured log event: its level and fields.
#[derive(Clone, Debug)]
struct Event {
    level: tracing::Level,
    fields: BTreeMap<String, String>,
}

/// Events of the current test's thread (tests run in parallel, each on its own
/// current-thread runtime, so a thread-local buffer behind one global subscriber keeps them apart
/// without the callsite-interest caching pitfalls of per-thread scoped subscribers).
#[derive(Clone, Default)]
struct Capture;

thread_local! {
    static EVENTS: std::cell::RefCell<Vec<Event>> = const { std::cell::RefCell::new(Vec::new()) };
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);
impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_string(),
            format!("{value:?}").trim_matches('"').to_string(),
        );
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

struct Recorder;

impl<S: tracing::Subscriber> Layer<S> for Recorder {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        if fields.contains_key("operation") {
            let level = *event.metadata().level();
            EVENTS.with(|e| e.borrow_mut().push(Event { level, fields }));
        }
    }
}

impl Capture {
    fn install(&self) {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let _ = tracing::subscriber::set_global_default(
                tracing_subscriber::registry().with(Recorder),
            );
        });
        EVENTS.with(|e| e.borrow_mut().clear());
    }
    fn take(&self) -> Vec<Event> {
        EVENTS.with(|e| std::mem::take(&mut *e.borrow_mut()))
    }
}

const TABLES: [&str; 6] = [
    "accounts",
    "orders",
    "items",
    "invoices",
    "payments",
    "shipments",
];

/// The application's schema: 6 tables, 5 added columns each.
fn added_columns(table: &str) -> Vec<Column> {
    vec![
        Column::new(format!("{table}_note"), "VARCHAR(200)"),
        Column::new(format!("{table}_count"), "INTEGER")
            .not_null()
            .default_value(DefaultValue::Integer(0)),
        Column::new(format!("{table}_flag"), "BOOLEAN").default_value(DefaultValue::Bool(false)),
        Column::new(format!("{table}_label"), "VARCHAR(50)")
            .default_value(DefaultValue::Text("it's new".into())),
        Column::new(format!("{table}_total"), "BIGINT"),
    ]
}

async fn open(url: &str) -> Db {
    Db::connect(url, &ConnectConfig::default())
        .await
        .expect("connect")
}

/// What the application does at every start: make sure its tables and columns exist, and record
/// each migration once in its history.
async fn start_application(db: &mut Db, opts: &SchemaOptions) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    create_table(
        db,
        &Table {
            name: "app_history".into(),
            columns: vec![
                Column::new("version", "INTEGER").not_null(),
                Column::new("name", "VARCHAR(100)"),
            ],
            primary_key: vec!["version".into()],
        },
        opts,
    )
    .await
    .expect("history table");
    for (i, table) in TABLES.iter().enumerate() {
        create_table(
            db,
            &Table {
                name: (*table).into(),
                columns: vec![Column::new("id", "INTEGER").not_null()],
                primary_key: vec!["id".into()],
            },
            opts,
        )
        .await
        .expect("create table");
        for column in added_columns(table) {
            outcomes.push(
                add_column(db, table, &column, opts)
                    .await
                    .expect("add column never fails here"),
            );
        }
        let version = i as i64 + 1;
        let recorded = db
            .execute_script(&format!(
                "SELECT 1 FROM app_history WHERE version = {version}"
            ))
            .await
            .expect("read history");
        let _ = recorded;
        let exists: i64 = plinth::with_conn!(&mut db.conn, c => sqlx::query_scalar::<_, i64>(
            sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM app_history WHERE version = {version}"))
        ).fetch_one(&mut *c).await.expect("count"));
        if exists == 0 {
            db.execute_script(&format!(
                "INSERT INTO app_history (version, name) VALUES ({version}, 'add_{table}_columns')"
            ))
            .await
            .expect("record history");
        }
    }
    outcomes
}

async fn history(db: &mut Db) -> Vec<(i64, i64)> {
    let int = if db.backend().is_mysql_family() {
        "SIGNED"
    } else {
        "BIGINT"
    };
    let sql = format!(
        "SELECT CAST(version AS {int}), CAST(COUNT(*) AS {int}) FROM app_history GROUP BY version ORDER BY version"
    );
    plinth::with_conn!(&mut db.conn, c => sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(sql.clone()))
        .fetch_all(&mut *c).await.expect("history"))
}

fn count(outcomes: &[Outcome]) -> (usize, usize) {
    let applied = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Applied))
        .count();
    let skipped = outcomes.iter().filter(|o| o.is_skipped()).count();
    (applied, skipped)
}

fn quiet(events: &[Event]) -> bool {
    events.iter().all(|e| e.level > tracing::Level::WARN)
}

#[tokio::test]
async fn thirty_columns_twice_and_over_hand_added_columns() {
    let capture = Capture;
    capture.install();
    for kind in Kind::ALL {
        // Twice on a fresh database.
        let tdb = test_db!(kind);
        let mut db = open(&tdb.url).await;
        let first = start_application(&mut db, &SchemaOptions::default()).await;
        assert_eq!(count(&first), (30, 0), "{kind:?} first start");
        let events = capture.take();
        assert!(quiet(&events), "{kind:?}: {events:?}");
        let second = start_application(&mut db, &SchemaOptions::default()).await;
        assert_eq!(count(&second), (0, 30), "{kind:?} second start");
        let events = capture.take();
        assert!(quiet(&events), "{kind:?}: {events:?}");
        let skips: Vec<&Event> = events
            .iter()
            .filter(|e| {
                e.level == tracing::Level::DEBUG
                    && e.fields.get("operation").map(String::as_str) == Some("add_column")
            })
            .collect();
        assert_eq!(skips.len(), 30, "{kind:?}: one debug skip per column");
        for e in &skips {
            for f in [
                "table",
                "column",
                "operation",
                "backend",
                "category",
                "code",
            ] {
                assert!(
                    e.fields.contains_key(f),
                    "{kind:?}: field {f} missing in {e:?}"
                );
            }
            assert_eq!(e.fields["category"], "duplicate_column");
        }
        assert_eq!(
            history(&mut db).await,
            (1..=6).map(|v| (v, 1)).collect::<Vec<_>>(),
            "{kind:?} history"
        );

        // A database where 10 of the columns were added by hand beforehand.
        let tdb2 = test_db!(kind);
        let mut db2 = open(&tdb2.url).await;
        let mut by_hand = 0;
        for table in TABLES {
            tdb2.exec(&format!(
                "CREATE TABLE {table} (id INTEGER NOT NULL, PRIMARY KEY (id))"
            ))
            .await
            .expect("table");
            for column in added_columns(table)
                .iter()
                .take(if by_hand < 10 { 2 } else { 0 })
            {
                tdb2.exec(&format!(
                    "ALTER TABLE {table} ADD COLUMN {} {}",
                    column.name, column.sql_type
                ))
                .await
                .expect("by hand");
                by_hand += 1;
            }
        }
        assert_eq!(by_hand, 10);
        let outcomes = start_application(&mut db2, &SchemaOptions::default()).await;
        assert_eq!(
            count(&outcomes),
            (20, 10),
            "{kind:?} over hand-added columns"
        );
        let events = capture.take();
        assert!(quiet(&events), "{kind:?}: {events:?}");
        assert_eq!(history(&mut db2).await.len(), 6);
        db.close().await.expect("close");
        db2.close().await.expect("close");
    }
}

#[tokio::test]
async fn the_list_inside_one_postgres_transaction_commits() {
    let capture = Capture;
    capture.install();
    let tdb = test_db!(Kind::Postgres);
    tdb.exec("CREATE TABLE accounts (id INTEGER PRIMARY KEY, accounts_note VARCHAR(200), accounts_total BIGINT)")
        .await
        .expect("pre-existing");
    tdb.exec("CREATE TABLE orders (id INTEGER PRIMARY KEY, orders_count INTEGER, legacy TEXT)")
        .await
        .expect("pre-existing");
    tdb.exec("INSERT INTO orders (id, legacy) VALUES (1, 'not a number')")
        .await
        .expect("row");
    let mut db = open(&tdb.url).await;
    db.execute_script("BEGIN").await.expect("begin");
    // Detected, not declared: the runner's raw BEGIN is invisible to sqlx.
    let opts = SchemaOptions::default();
    let outcomes = start_application(&mut db, &opts).await;
    assert_eq!(count(&outcomes), (27, 3));
    // A statement that fails inside the transaction (an incompatible type change) is rolled back
    // to its savepoint: the transaction stays usable.
    let o = alter_column_type(&mut db, "orders", "legacy", "INTEGER", &opts)
        .await
        .expect("expected, not an error");
    let Outcome::ExpectedIncompatible(inc) = o else {
        panic!("expected incompatible: {o:?}")
    };
    assert_eq!(
        (inc.from_type.as_str(), inc.to_type.as_str()),
        ("text", "INTEGER")
    );
    let warn = capture
        .take()
        .into_iter()
        .find(|e| e.level == tracing::Level::WARN)
        .expect("a warning");
    assert_eq!(warn.fields["table"], "orders");
    assert_eq!(warn.fields["column"], "legacy");
    assert_eq!(warn.fields["from_type"], "text");
    assert_eq!(warn.fields["category"], "datatype_mismatch");
    assert_eq!(warn.fields["code"], "42804");
    assert!(add_column(
        &mut db,
        "orders",
        &Column::new("after_failure", "TEXT"),
        &opts
    )
    .await
    .expect("usable")
    .eq(&Outcome::Applied));
    db.execute_script("COMMIT")
        .await
        .expect("the transaction commits");
    let mut check = open(&tdb.url).await;
    assert_eq!(history(&mut check).await.len(), 6);
    check
        .execute_script("SELECT after_failure, shipments_total FROM orders, shipments")
        .await
        .expect("columns committed");
}

#[tokio::test]
async fn alter_column_type_per_backend() {
    let capture = Capture;
    capture.install();
    for kind in Kind::ALL {
        let tdb = test_db!(kind);
        tdb.exec(
            "CREATE TABLE m (id INTEGER PRIMARY KEY, qty INTEGER NOT NULL DEFAULT 7, word TEXT)",
        )
        .await
        .expect("t");
        tdb.exec("INSERT INTO m (id, qty, word) VALUES (1, 5, 'hello')")
            .await
            .expect("row");
        let mut db = open(&tdb.url).await;
        let opts = SchemaOptions::default();
        let o = alter_column_type(&mut db, "m", "qty", "BIGINT", &opts)
            .await
            .expect("widen");
        assert_eq!(o, Outcome::Applied, "{kind:?}");
        let o = alter_column_type(&mut db, "m", "qty", "BIGINT", &opts)
            .await
            .expect("again");
        assert!(o.is_skipped(), "{kind:?}: {o:?}");
        // NOT NULL and the default survive the change.
        db.execute_script("INSERT INTO m (id) VALUES (2)")
            .await
            .expect("default kept");
        assert!(
            db.execute_script("INSERT INTO m (id, qty) VALUES (3, NULL)")
                .await
                .is_err(),
            "{kind:?}: NOT NULL kept"
        );
        if kind != Kind::Sqlite {
            let o = alter_column_type(&mut db, "m", "word", "INTEGER", &opts)
                .await
                .expect("expected, not error");
            assert!(
                matches!(o, Outcome::ExpectedIncompatible(_)),
                "{kind:?}: {o:?}"
            );
            let events = capture.take();
            assert!(
                events.iter().any(|e| e.level == tracing::Level::WARN),
                "{kind:?}: {events:?}"
            );
        }
        // A missing column is critical.
        let err = alter_column_type(&mut db, "m", "nope", "INTEGER", &opts)
            .await
            .expect_err("missing column");
        assert!(matches!(err, SchemaError::Conflict { .. }), "{err}");
        let events = capture.take();
        let crit = events
            .iter()
            .find(|e| e.level == tracing::Level::ERROR)
            .unwrap_or_else(|| panic!("{kind:?}: critical event in {events:?}"));
        assert_eq!(crit.fields["severity"], "critical");
    }
}

#[tokio::test]
async fn sqlite_rebuild_keeps_data_indexes_and_constraints() {
    let tdb = test_db!(Kind::Sqlite);
    tdb.exec(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);
         INSERT INTO parent VALUES (1);
         CREATE TABLE child (
            id INTEGER PRIMARY KEY,
            parent_id INTEGER NOT NULL REFERENCES parent (id),
            code TEXT NOT NULL DEFAULT 'x' CHECK (length(code) <= 5),
            amount INTEGER,
            UNIQUE (parent_id, code));
         CREATE INDEX child_amount ON child (amount);
         CREATE TABLE audit (n INTEGER);
         CREATE TRIGGER child_audit AFTER INSERT ON child BEGIN INSERT INTO audit VALUES (NEW.id); END;
         CREATE TABLE grandchild (id INTEGER PRIMARY KEY, child_id INTEGER REFERENCES child (id));
         INSERT INTO child VALUES (1, 1, 'ab', 10), (2, 1, 'cd', 20);
         INSERT INTO grandchild VALUES (1, 2);",
    )
    .await
    .expect("setup");
    let mut db = open(&tdb.url).await;
    let o = alter_column_type(
        &mut db,
        "child",
        "amount",
        "REAL",
        &SchemaOptions::default(),
    )
    .await
    .expect("rebuild");
    assert_eq!(o, Outcome::Applied);
    let rows: Vec<(i64, String, f64, String)> = plinth::with_conn!(&mut db.conn, c => sqlx::query_as(
        "SELECT id, code, amount, typeof(amount) FROM child ORDER BY id").fetch_all(&mut *c).await.expect("rows"));
    assert_eq!(
        rows,
        vec![
            (1, "ab".into(), 10.0, "real".into()),
            (2, "cd".into(), 20.0, "real".into())
        ]
    );
    let schema: Vec<String> = plinth::with_conn!(&mut db.conn, c => sqlx::query_scalar(
        "SELECT name FROM sqlite_schema WHERE tbl_name = 'child' ORDER BY name").fetch_all(&mut *c).await.expect("schema"));
    assert!(
        schema.contains(&"child_amount".to_string()) && schema.contains(&"child_audit".to_string()),
        "{schema:?}"
    );
    assert!(
        schema
            .iter()
            .any(|n| n.starts_with("sqlite_autoindex_child")),
        "UNIQUE kept: {schema:?}"
    );
    // Constraints still enforced: CHECK, UNIQUE, NOT NULL, FOREIGN KEY; the trigger still fires.
    assert!(db
        .execute_script("INSERT INTO child VALUES (3, 1, 'toolong', 1)")
        .await
        .is_err());
    assert!(db
        .execute_script("INSERT INTO child VALUES (3, 1, 'ab', 1)")
        .await
        .is_err());
    assert!(db
        .execute_script("INSERT INTO child (id, parent_id) VALUES (3, NULL)")
        .await
        .is_err());
    assert!(db
        .execute_script("INSERT INTO child VALUES (3, 99, 'zz', 1)")
        .await
        .is_err());
    db.execute_script("INSERT INTO child VALUES (3, 1, 'zz', 1.5)")
        .await
        .expect("valid row");
    let audited: i64 = plinth::with_conn!(&mut db.conn, c => sqlx::query_scalar("SELECT COUNT(*) FROM audit").fetch_one(&mut *c).await.expect("audit"));
    // Two rows were inserted by the setup after the trigger existed, one after the rebuild.
    assert_eq!(audited, 3);
    // The grandchild's reference to child survived the drop and rename, and foreign keys are back on.
    let fk: i64 = plinth::with_conn!(&mut db.conn, c => sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(&mut *c).await.expect("fk"));
    assert_eq!(fk, 1);
    assert!(
        db.execute_script("DELETE FROM child WHERE id = 2")
            .await
            .is_err(),
        "grandchild still references child"
    );
    // Idempotent.
    let o = alter_column_type(
        &mut db,
        "child",
        "amount",
        "REAL",
        &SchemaOptions::default(),
    )
    .await
    .expect("again");
    assert!(o.is_skipped());
    // STRICT table with data the new type refuses: expected, and nothing changed.
    db.execute_script("CREATE TABLE st (id INTEGER PRIMARY KEY, v TEXT) STRICT; INSERT INTO st VALUES (1, 'abc');")
        .await
        .expect("strict");
    let o = alter_column_type(&mut db, "st", "v", "INTEGER", &SchemaOptions::default())
        .await
        .expect("expected");
    assert!(matches!(o, Outcome::ExpectedIncompatible(_)), "{o:?}");
    let v: String = plinth::with_conn!(&mut db.conn, c => sqlx::query_scalar("SELECT v FROM st").fetch_one(&mut *c).await.expect("st"));
    assert_eq!(v, "abc");
}

#[tokio::test]
async fn rename_drop_index_and_table_operations_are_idempotent() {
    for kind in Kind::ALL {
        let tdb = test_db!(kind);
        tdb.exec("CREATE TABLE r (id INTEGER PRIMARY KEY, old_name INTEGER, gone INTEGER)")
            .await
            .expect("t");
        let mut db = open(&tdb.url).await;
        let opts = SchemaOptions::default();
        assert_eq!(
            rename_column(&mut db, "r", "old_name", "new_name", &opts)
                .await
                .expect("rename"),
            Outcome::Applied
        );
        assert!(rename_column(&mut db, "r", "old_name", "new_name", &opts)
            .await
            .expect("again")
            .is_skipped());
        assert_eq!(
            drop_column(&mut db, "r", "gone", &opts)
                .await
                .expect("drop"),
            Outcome::Applied
        );
        assert!(drop_column(&mut db, "r", "gone", &opts)
            .await
            .expect("again")
            .is_skipped());
        let ix = Index {
            name: "r_new_name".into(),
            table: "r".into(),
            columns: vec!["new_name".into()],
            unique: true,
        };
        assert_eq!(
            create_index(&mut db, &ix, &opts).await.expect("index"),
            Outcome::Applied
        );
        assert!(create_index(&mut db, &ix, &opts)
            .await
            .expect("again")
            .is_skipped());
        assert_eq!(
            drop_index(&mut db, "r", "r_new_name", &opts)
                .await
                .expect("drop index"),
            Outcome::Applied
        );
        assert!(drop_index(&mut db, "r", "r_new_name", &opts)
            .await
            .expect("again")
            .is_skipped());
        // An existing table without the declared columns is not "already applied".
        let other = Table {
            name: "r".into(),
            columns: vec![
                Column::new("id", "INTEGER"),
                Column::new("missing_col", "TEXT"),
            ],
            primary_key: vec![],
        };
        assert!(matches!(
            create_table(&mut db, &other, &opts).await,
            Err(SchemaError::Conflict { .. })
        ));
        // Adding a column to a table that does not exist is critical, with the classification.
        match add_column(&mut db, "no_table", &Column::new("x", "INTEGER"), &opts).await {
            Err(SchemaError::Database { classification, .. }) => {
                assert_eq!(
                    classification.category,
                    plinth::errors::Category::MissingTable,
                    "{kind:?}"
                )
            }
            other => panic!("{kind:?}: expected a critical error, got {other:?}"),
        }
        // Names are validated before anything reaches the server.
        assert!(matches!(
            add_column(
                &mut db,
                "r; DROP TABLE r",
                &Column::new("x", "INTEGER"),
                &opts
            )
            .await,
            Err(SchemaError::InvalidIdentifier { .. })
        ));
        assert!(matches!(
            add_column(
                &mut db,
                "r",
                &Column::new("x", "INTEGER); DROP TABLE r; --"),
                &opts
            )
            .await,
            Err(SchemaError::InvalidType { .. })
        ));
    }
}
