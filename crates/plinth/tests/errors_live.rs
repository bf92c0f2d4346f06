//! Every category that a live server can produce, provoked for real on PostgreSQL, MariaDB and
//! SQLite, and classified: category and disposition asserted, with the context the schema
//! operations use where the disposition depends on it.

use plinth::backend::{ConnectConfig, Db};
use plinth::errors::{
    classify, classify_in_context, Category, Classification, Disposition, OpContext, Operation,
};
use plinth::Backend;
use plinth_testkit::{test_db, Kind, TestDb};

async fn open(url: &str) -> Db {
    let mut db = Db::connect(url, &ConnectConfig::default())
        .await
        .expect("connect");
    db.server_info().await.expect("server info");
    db
}

async fn fail(db: &mut Db, sql: &str) -> Classification {
    let err = db
        .execute_script(sql)
        .await
        .expect_err(&format!("`{sql}` should fail"));
    classify(&err, db.backend())
}

async fn fail_in(
    db: &mut Db,
    sql: &str,
    operation: Operation,
    table: &str,
    name: &str,
) -> Classification {
    let err = db
        .execute_script(sql)
        .await
        .expect_err(&format!("`{sql}` should fail"));
    let ctx = OpContext {
        operation,
        table: table.into(),
        name: Some(name.into()),
    };
    classify_in_context(&err, db.backend(), &ctx)
}

#[track_caller]
fn assert_class(c: &Classification, category: Category, disposition: Disposition, what: &str) {
    assert_eq!(
        (c.category, c.disposition),
        (category, disposition),
        "{what} on {}: {c:?}",
        c.backend
    );
}

fn setup_sql(kind: Kind) -> String {
    let mut s = String::from(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, u INTEGER UNIQUE, n INTEGER NOT NULL DEFAULT 0, \
         c INTEGER CHECK (c > 0));
         CREATE TABLE p (id INTEGER PRIMARY KEY);
         CREATE TABLE ch (id INTEGER PRIMARY KEY, pid INTEGER, FOREIGN KEY (pid) REFERENCES p (id));
         CREATE INDEX ix ON t (a);
         CREATE TABLE s (v VARCHAR(3), txt TEXT);
         INSERT INTO s VALUES ('abc', 'hello');
         INSERT INTO t (id, u, c) VALUES (1, 1, 1);",
    );
    if kind == Kind::Sqlite {
        s.push_str("CREATE TABLE st (i INTEGER) STRICT;");
    }
    s
}

async fn prepared(kind: Kind) -> Option<(TestDb, Db)> {
    let tdb = TestDb::create(kind).await?;
    tdb.exec(&setup_sql(kind)).await.expect("setup");
    let db = open(&tdb.url).await;
    Some((tdb, db))
}

#[tokio::test]
async fn schema_and_data_errors_on_every_backend() {
    use Category as C;
    use Disposition as D;
    for kind in Kind::ALL {
        let Some((_tdb, mut db)) = prepared(kind).await else {
            return;
        };
        let b = db.backend();
        if kind == Kind::MySql {
            assert_eq!(b, Backend::MariaDb, "the MySQL server here is MariaDB");
        }
        // Duplicates: already applied, in the operation that creates them.
        let c = fail_in(
            &mut db,
            "ALTER TABLE t ADD COLUMN a INTEGER",
            Operation::AddColumn,
            "t",
            "a",
        )
        .await;
        assert_class(
            &c,
            C::DuplicateColumn,
            D::AlreadyApplied,
            "duplicate column",
        );
        let c = fail(&mut db, "CREATE TABLE t (x INTEGER)").await;
        assert_class(&c, C::DuplicateTable, D::AlreadyApplied, "duplicate table");
        let c = fail_in(
            &mut db,
            "CREATE INDEX ix ON t (a)",
            Operation::CreateIndex,
            "t",
            "ix",
        )
        .await;
        assert_class(&c, C::DuplicateObject, D::AlreadyApplied, "duplicate index");
        // The same duplicate met by a different operation is a collision.
        let c = fail_in(
            &mut db,
            "CREATE TABLE t (x INTEGER)",
            Operation::AddColumn,
            "t",
            "x",
        )
        .await;
        assert_class(
            &c,
            C::DuplicateTable,
            D::Fatal,
            "duplicate table during add column",
        );

        // Missing objects: fatal, except when dropping them.
        let c = fail(&mut db, "SELECT zz FROM t").await;
        assert_class(&c, C::MissingColumn, D::Fatal, "missing column");
        let c = fail_in(
            &mut db,
            "ALTER TABLE t DROP COLUMN zz",
            Operation::DropColumn,
            "t",
            "zz",
        )
        .await;
        assert_class(
            &c,
            C::MissingColumn,
            D::AlreadyApplied,
            "drop missing column",
        );
        let c = fail(&mut db, "SELECT * FROM nope").await;
        assert_class(&c, C::MissingTable, D::Fatal, "missing table");
        let drop_ix = if b.is_mysql_family() {
            "DROP INDEX nope ON t"
        } else {
            "DROP INDEX nope"
        };
        let c = fail_in(&mut db, drop_ix, Operation::DropIndex, "t", "nope").await;
        assert_class(
            &c,
            C::MissingObject,
            D::AlreadyApplied,
            "drop missing index",
        );
        let c = fail(&mut db, "SELECT nofunc(1)").await;
        assert_class(&c, C::UndefinedFunction, D::Fatal, "undefined function");

        // Type changes the data cannot follow: expected in alter_column_type.
        let (sql, ctx_col) = match kind {
            Kind::Postgres => ("ALTER TABLE s ALTER COLUMN txt TYPE INTEGER", "txt"),
            Kind::MySql => ("ALTER TABLE s MODIFY COLUMN txt INTEGER", "txt"),
            Kind::Sqlite => ("INSERT INTO st VALUES ('abc')", "i"),
        };
        let c = fail_in(&mut db, sql, Operation::AlterColumnType, "s", ctx_col).await;
        assert_class(&c, C::DatatypeMismatch, D::Expected, "cannot cast");
        let c = fail(&mut db, sql).await;
        assert_class(&c, C::DatatypeMismatch, D::Fatal, "cannot cast, no context");
        if kind == Kind::Sqlite {
            db.execute_script("CREATE TABLE r (id INTEGER PRIMARY KEY)")
                .await
                .expect("r");
            let c = fail(&mut db, "INSERT INTO r VALUES ('x')").await;
            assert_class(&c, C::DatatypeMismatch, D::Fatal, "SQLITE_MISMATCH");
            assert_eq!(c.vendor_code, Some(20));
        } else {
            let c = fail(&mut db, "INSERT INTO s (v) VALUES ('abcdef')").await;
            assert_class(&c, C::DataOutOfRange, D::Fatal, "truncation");
        }

        // Constraints.
        let c = fail(&mut db, "INSERT INTO t (id, u, c) VALUES (2, 1, 1)").await;
        assert_class(&c, C::UniqueViolation, D::Fatal, "unique");
        let c = fail(&mut db, "INSERT INTO t (id, c) VALUES (1, 1)").await;
        assert_class(&c, C::UniqueViolation, D::Fatal, "primary key");
        let c = fail(&mut db, "INSERT INTO ch VALUES (1, 99)").await;
        assert_class(&c, C::ForeignKeyViolation, D::Fatal, "foreign key");
        let c = fail(&mut db, "INSERT INTO t (id, n, c) VALUES (5, NULL, 1)").await;
        assert_class(&c, C::NotNullViolation, D::Fatal, "not null");
        let c = fail(&mut db, "INSERT INTO t (id, c) VALUES (6, 0)").await;
        assert_class(&c, C::CheckViolation, D::Fatal, "check");
        let c = fail(&mut db, "SELEC 1").await;
        assert_class(&c, C::SyntaxError, D::Fatal, "syntax");
        if kind == Kind::Sqlite {
            let c = fail(&mut db, "ALTER TABLE t ADD COLUMN z INTEGER NOT NULL").await;
            assert_class(
                &c,
                C::NotNullViolation,
                D::Fatal,
                "add NOT NULL without default",
            );
        }
        db.close().await.expect("close");
    }
}

#[tokio::test]
async fn read_only_and_failed_transactions() {
    for kind in Kind::ALL {
        let Some((tdb, mut db)) = prepared(kind).await else {
            return;
        };
        match kind {
            Kind::Postgres => {
                db.execute_script("BEGIN READ ONLY").await.expect("begin");
                let c = fail(&mut db, "INSERT INTO p VALUES (7)").await;
                assert_class(
                    &c,
                    Category::ServerUnavailable,
                    Disposition::Fatal,
                    "read-only transaction",
                );
                // The transaction is now aborted: the next statement is refused.
                let c = fail(&mut db, "SELECT 1").await;
                assert_class(
                    &c,
                    Category::InFailedTransaction,
                    Disposition::Fatal,
                    "in failed transaction",
                );
                db.execute_script("ROLLBACK").await.expect("rollback");
            }
            Kind::MySql => {
                db.execute_script("START TRANSACTION READ ONLY")
                    .await
                    .expect("begin");
                let c = fail(&mut db, "INSERT INTO p VALUES (7)").await;
                assert_class(
                    &c,
                    Category::ServerUnavailable,
                    Disposition::Fatal,
                    "read-only transaction",
                );
                assert_eq!(c.vendor_code, Some(1792));
                db.execute_script("ROLLBACK").await.expect("rollback");
            }
            Kind::Sqlite => {
                let url = format!("{}?mode=ro", tdb.url);
                let mut ro = open(&url).await;
                let c = fail(&mut ro, "INSERT INTO p VALUES (7)").await;
                assert_class(
                    &c,
                    Category::ServerUnavailable,
                    Disposition::Fatal,
                    "read-only database",
                );
            }
        }
    }
}

fn two_rows(kind: Kind) -> &'static str {
    let _ = kind;
    "CREATE TABLE d (id INTEGER PRIMARY KEY, v INTEGER); INSERT INTO d VALUES (1, 0); INSERT INTO d VALUES (2, 0);"
}

#[tokio::test]
async fn deadlock_from_two_concurrent_transactions() {
    for kind in [Kind::Postgres, Kind::MySql] {
        let tdb = test_db!(kind);
        tdb.exec(two_rows(kind)).await.expect("setup");
        let mut a = open(&tdb.url).await;
        let mut b = open(&tdb.url).await;
        let begin = "START TRANSACTION";
        a.execute_script(begin).await.expect("a begin");
        a.execute_script("UPDATE d SET v = 1 WHERE id = 1")
            .await
            .expect("a locks 1");
        b.execute_script(begin).await.expect("b begin");
        b.execute_script("UPDATE d SET v = 1 WHERE id = 2")
            .await
            .expect("b locks 2");
        let (ra, rb) = tokio::join!(
            a.execute_script("UPDATE d SET v = 2 WHERE id = 2"),
            b.execute_script("UPDATE d SET v = 2 WHERE id = 1")
        );
        let backend = a.backend();
        let errors: Vec<Classification> = [ra.err(), rb.err()]
            .into_iter()
            .flatten()
            .map(|e| classify(&e, backend))
            .collect();
        assert_eq!(
            errors.len(),
            1,
            "exactly one deadlock victim on {kind:?}: {errors:?}"
        );
        assert_class(
            &errors[0],
            Category::Deadlock,
            Disposition::Transient,
            "deadlock",
        );
        assert!(!errors[0].retry_outside_transaction_only);
        let _ = a.execute_script("ROLLBACK").await;
        let _ = b.execute_script("ROLLBACK").await;
    }
}

#[tokio::test]
async fn sqlite_busy_when_two_writers_would_deadlock() {
    let tdb = test_db!(Kind::Sqlite);
    tdb.exec(two_rows(Kind::Sqlite)).await.expect("setup");
    let mut a = open(&tdb.url).await;
    let mut b = open(&tdb.url).await;
    a.execute_script("BEGIN; SELECT * FROM d;")
        .await
        .expect("a reads");
    b.execute_script("BEGIN; SELECT * FROM d;")
        .await
        .expect("b reads");
    a.execute_script("UPDATE d SET v = 1 WHERE id = 1")
        .await
        .expect("a writes");
    // b holds SHARED and wants RESERVED while a holds RESERVED: SQLite skips the busy handler
    // (waiting could deadlock) and fails at once with SQLITE_BUSY.
    let c = fail(&mut b, "UPDATE d SET v = 1 WHERE id = 2").await;
    assert_class(
        &c,
        Category::LockWaitTimeout,
        Disposition::Transient,
        "sqlite deadlock avoidance",
    );
    assert_eq!(c.vendor_code, Some(5));
    b.execute_script("ROLLBACK").await.expect("b rollback");
    a.execute_script("COMMIT")
        .await
        .expect("a commits once b let go");
}

#[tokio::test]
async fn serialization_failure_from_two_concurrent_transactions() {
    // PostgreSQL: REPEATABLE READ sees a concurrent update of a row it then writes.
    let tdb = test_db!(Kind::Postgres);
    tdb.exec(two_rows(Kind::Postgres)).await.expect("setup");
    let mut a = open(&tdb.url).await;
    let mut b = open(&tdb.url).await;
    a.execute_script("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT v FROM d WHERE id = 1;")
        .await
        .expect("a snapshot");
    b.execute_script("BEGIN; UPDATE d SET v = v + 1 WHERE id = 1; COMMIT;")
        .await
        .expect("b commits");
    let c = fail(&mut a, "UPDATE d SET v = 5 WHERE id = 1").await;
    assert_class(
        &c,
        Category::SerializationFailure,
        Disposition::Transient,
        "serialization failure",
    );
    assert_eq!(c.sqlstate.as_deref(), Some("40001"));
    a.execute_script("ROLLBACK").await.expect("rollback");

    // SQLite WAL: a read snapshot that went stale before the write: SQLITE_BUSY_SNAPSHOT.
    let tdb = test_db!(Kind::Sqlite);
    tdb.exec(&format!(
        "PRAGMA journal_mode = WAL; {}",
        two_rows(Kind::Sqlite)
    ))
    .await
    .expect("setup");
    let mut a = open(&tdb.url).await;
    let mut b = open(&tdb.url).await;
    a.execute_script("BEGIN; SELECT * FROM d;")
        .await
        .expect("a snapshot");
    b.execute_script("UPDATE d SET v = 9 WHERE id = 2")
        .await
        .expect("b commits");
    let c = fail(&mut a, "UPDATE d SET v = 5 WHERE id = 1").await;
    assert_class(
        &c,
        Category::SerializationFailure,
        Disposition::Transient,
        "busy snapshot",
    );
    assert_eq!(c.vendor_code, Some(517));
    a.execute_script("ROLLBACK").await.expect("rollback");
    // MariaDB has no serialization failure: SERIALIZABLE is lock based (deadlock / lock wait).
}

#[tokio::test]
async fn lock_wait_timeout_on_every_backend() {
    for kind in Kind::ALL {
        let tdb = test_db!(kind);
        tdb.exec(two_rows(kind)).await.expect("setup");
        let mut a = open(&tdb.url).await;
        let mut b = open(&tdb.url).await;
        let c = match kind {
            Kind::Postgres | Kind::MySql => {
                a.execute_script("START TRANSACTION").await.expect("begin");
                a.execute_script("SELECT * FROM d WHERE id = 1 FOR UPDATE")
                    .await
                    .expect("lock");
                b.execute_script("START TRANSACTION").await.expect("begin");
                let c = fail(&mut b, "SELECT * FROM d WHERE id = 1 FOR UPDATE NOWAIT").await;
                let _ = b.execute_script("ROLLBACK").await;
                c
            }
            Kind::Sqlite => {
                a.execute_script("BEGIN IMMEDIATE")
                    .await
                    .expect("a takes the write lock");
                b.execute_script("PRAGMA busy_timeout = 50")
                    .await
                    .expect("short busy timeout");
                fail(&mut b, "UPDATE d SET v = 3 WHERE id = 2").await
            }
        };
        assert_class(
            &c,
            Category::LockWaitTimeout,
            Disposition::Transient,
            "lock wait",
        );
        a.execute_script("ROLLBACK").await.expect("rollback");
    }
}

#[tokio::test]
async fn statement_timeout_is_not_retried() {
    for kind in [Kind::Postgres, Kind::MySql] {
        let tdb = test_db!(kind);
        let mut db = open(&tdb.url).await;
        let c = match kind {
            Kind::Postgres => {
                fail(
                    &mut db,
                    "SET statement_timeout = '50ms'; SELECT pg_sleep(5);",
                )
                .await
            }
            _ => {
                // BENCHMARK() returns 0 when interrupted; SLEEP() reports 1969.
                db.execute_script("SET SESSION max_statement_time = 0.05")
                    .await
                    .expect("set");
                fail(&mut db, "SELECT SLEEP(5)").await
            }
        };
        assert_class(
            &c,
            Category::StatementTimeout,
            Disposition::Fatal,
            "statement timeout",
        );
    }
}

#[tokio::test]
async fn killed_session_is_a_lost_connection() {
    for kind in [Kind::Postgres, Kind::MySql] {
        let tdb = test_db!(kind);
        let mut victim = open(&tdb.url).await;
        let mut killer = open(&tdb.url).await;
        let kill = match (&mut victim.conn, &mut killer.conn) {
            (plinth::backend::DbConn::Postgres(v), plinth::backend::DbConn::Postgres(_)) => {
                let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
                    .fetch_one(&mut *v)
                    .await
                    .expect("pid");
                format!("SELECT pg_terminate_backend({pid})")
            }
            (plinth::backend::DbConn::MySql(v), plinth::backend::DbConn::MySql(_)) => {
                let id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()")
                    .fetch_one(&mut *v)
                    .await
                    .expect("id");
                format!("KILL {id}")
            }
            _ => unreachable!("both connections are to the same server"),
        };
        killer.execute_script(&kill).await.expect("kill");
        let c = fail(&mut victim, "SELECT 1").await;
        assert_eq!(c.category, Category::LostConnection, "{kind:?}: {c:?}");
        assert!(c.is_transient(), "{kind:?}: {c:?}");
        assert!(c.retry_outside_transaction_only, "{kind:?}: {c:?}");
    }
}

#[tokio::test]
async fn unknown_database_at_connect() {
    let cases: Vec<(Kind, String)> = vec![
        (
            Kind::Postgres,
            plinth_testkit::server_url(Kind::Postgres).replace("/postgres?", "/plinth_no_such_db?"),
        ),
        (
            Kind::MySql,
            plinth_testkit::server_url(Kind::MySql).replace("/test?", "/plinth_no_such_db?"),
        ),
        (
            Kind::Sqlite,
            "sqlite:/nonexistent-plinth-dir/x.db".to_string(),
        ),
    ];
    for (kind, url) in cases {
        if kind != Kind::Sqlite && TestDb::create(kind).await.is_none() {
            return;
        }
        let err = match Db::connect(&url, &ConnectConfig::default()).await {
            Ok(_) => panic!("{kind:?}: connecting to a missing database succeeded"),
            Err(e) => e,
        };
        let backend = match kind {
            Kind::Postgres => Backend::Postgres,
            Kind::MySql => Backend::MariaDb,
            Kind::Sqlite => Backend::Sqlite,
        };
        let c = classify(err.sqlx_error().expect("a driver error"), backend);
        assert_class(
            &c,
            Category::UnknownDatabase,
            Disposition::Fatal,
            "unknown database",
        );
    }
}

#[tokio::test]
async fn authentication_failure_and_privileges_on_mariadb() {
    let tdb = test_db!(Kind::MySql);
    let user = format!("u_{}", &tdb.name[tdb.name.len() - 8..]);
    let admin = plinth_testkit::server_url(Kind::MySql);
    let mut root = open(&admin).await;
    root.execute_script(&format!(
        "CREATE USER '{user}'@'%' IDENTIFIED BY 'right-pw'"
    ))
    .await
    .expect("user");
    let base = url::Url::parse(&tdb.url).expect("url");
    let with = |pw: &str| {
        let mut u = base.clone();
        let _ = u.set_username(&user);
        let _ = u.set_password(Some(pw));
        u.to_string()
    };
    // Wrong password: 1045, never retried.
    let err = Db::connect(&with("wrong-pw"), &ConnectConfig::default())
        .await
        .err()
        .expect("wrong password refused");
    let c = classify(err.sqlx_error().expect("driver error"), Backend::MariaDb);
    assert_class(
        &c,
        Category::AuthenticationFailure,
        Disposition::Fatal,
        "wrong password",
    );
    assert_eq!(c.vendor_code, Some(1045));
    // Right password, no grant on the database: 1044.
    let err = Db::connect(&with("right-pw"), &ConnectConfig::default())
        .await
        .err()
        .expect("no grant refused");
    let c = classify(err.sqlx_error().expect("driver error"), Backend::MariaDb);
    assert_class(
        &c,
        Category::InsufficientPrivilege,
        Disposition::Fatal,
        "no access to database",
    );
    // Granted USAGE on one table only: SELECT on another is 1142.
    tdb.exec("CREATE TABLE open_t (id INTEGER); CREATE TABLE closed_t (id INTEGER);")
        .await
        .expect("tables");
    root.execute_script(&format!(
        "GRANT SELECT ON {}.open_t TO '{user}'@'%'",
        tdb.name
    ))
    .await
    .expect("grant");
    let mut limited = open(&with("right-pw")).await;
    let c = fail(&mut limited, "SELECT * FROM closed_t").await;
    assert_class(
        &c,
        Category::InsufficientPrivilege,
        Disposition::Fatal,
        "table privilege",
    );
    // A per-user connection limit: the second connection is refused, transient at connect.
    let capped = format!("{user}c");
    root.execute_script(&format!(
        "CREATE USER '{capped}'@'%' IDENTIFIED BY 'pw' WITH MAX_USER_CONNECTIONS 1; GRANT SELECT ON {}.* TO '{capped}'@'%'",
        tdb.name
    ))
    .await
    .expect("capped user");
    let mut capped_url = base.clone();
    let _ = capped_url.set_username(&capped);
    let _ = capped_url.set_password(Some("pw"));
    let first = open(capped_url.as_str()).await;
    let err = Db::connect(capped_url.as_str(), &ConnectConfig::default())
        .await
        .err()
        .expect("second connection refused");
    let c = classify(err.sqlx_error().expect("driver error"), Backend::MariaDb);
    assert_class(
        &c,
        Category::TooManyConnections,
        Disposition::Transient,
        "max_user_connections",
    );
    drop(first);
    drop(limited);
    root.execute_script(&format!("DROP USER '{user}'@'%'; DROP USER '{capped}'@'%'"))
        .await
        .expect("drop users");
}

#[tokio::test]
async fn authentication_and_privileges_on_postgres() {
    // The server uses trust authentication, so a wrong password cannot be provoked (28P01); a
    // role that may not log in is refused with 28000, which is the same category.
    let tdb = test_db!(Kind::Postgres);
    let suffix = &tdb.name[tdb.name.len() - 8..];
    let (nologin, limited, zero) = (
        format!("r_nl_{suffix}"),
        format!("r_lim_{suffix}"),
        format!("r_zero_{suffix}"),
    );
    let mut admin = open(&tdb.url).await;
    admin
        .execute_script(&format!(
            "CREATE ROLE {nologin} NOLOGIN; CREATE ROLE {limited} LOGIN; CREATE ROLE {zero} LOGIN CONNECTION LIMIT 0; \
             CREATE TABLE secret (id INTEGER);"
        ))
        .await
        .expect("roles");
    let as_role = |role: &str| {
        let mut u = url::Url::parse(&tdb.url).expect("url");
        let _ = u.set_username(role);
        u.to_string()
    };
    let err = Db::connect(&as_role(&nologin), &ConnectConfig::default())
        .await
        .err()
        .expect("NOLOGIN refused");
    let c = classify(err.sqlx_error().expect("driver error"), Backend::Postgres);
    assert_class(
        &c,
        Category::AuthenticationFailure,
        Disposition::Fatal,
        "role may not log in",
    );
    assert_eq!(c.sqlstate.as_deref(), Some("28000"));

    let err = Db::connect(&as_role(&zero), &ConnectConfig::default())
        .await
        .err()
        .expect("limit 0 refused");
    let c = classify(err.sqlx_error().expect("driver error"), Backend::Postgres);
    assert_class(
        &c,
        Category::TooManyConnections,
        Disposition::Transient,
        "connection limit",
    );

    let mut db = open(&as_role(&limited)).await;
    let c = fail(&mut db, "SELECT * FROM secret").await;
    assert_class(
        &c,
        Category::InsufficientPrivilege,
        Disposition::Fatal,
        "no SELECT grant",
    );
    db.close().await.expect("close");
    drop(tdb);
    let mut admin2 = open(&plinth_testkit::server_url(Kind::Postgres)).await;
    admin2
        .execute_script(&format!("DROP ROLE IF EXISTS {nologin}; DROP ROLE IF EXISTS {limited}; DROP ROLE IF EXISTS {zero};"))
        .await
        .expect("drop roles");
}

/// A message as users read it: PostgreSQL's without sqlx's " at line N" (a line of PostgreSQL's C
/// source, which reads as a line of the user's SQL); other backends' as the driver displays them.
#[tokio::test]
async fn errors_display_without_the_servers_source_line() {
    for kind in [Kind::Postgres, Kind::MySql, Kind::Sqlite] {
        let Some(tdb) = TestDb::create(kind).await else {
            continue;
        };
        let mut db = open(&tdb.url).await;
        let err = db
            .execute_script("SELECT * FROM no_such_table")
            .await
            .expect_err("a missing table");
        let shown = plinth::errors::display(&err);
        assert!(shown.contains("no_such_table"), "{kind:?}: {shown}");
        assert!(!shown.contains(" at line "), "{kind:?}: {shown}");
        if kind == Kind::Postgres {
            // What sqlx shows, and why the helper exists.
            assert!(err.to_string().contains(" at line "), "{err}");
            assert_eq!(shown, "relation \"no_such_table\" does not exist");
        } else {
            assert_eq!(shown, err.to_string());
        }
    }
}
