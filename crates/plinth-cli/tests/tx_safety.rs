//! Transaction safety through the real `plinth` binary on PostgreSQL, MariaDB and SQLite: atomic
//! failures, `--tx-mode all`, SIGKILLed runs, lock contention, racing processes and `down`.
//!
//! Round counts are bounded for CI and configurable: PLINTH_RACE_ROUNDS (default 20, about 20 s on PostgreSQL) and
//! PLINTH_CRASH_ROUNDS (default 8); the bar is 20 and 30.

use plinth_testkit::{test_db, Kind, TestDb};
use rand::Rng;
use serde_json::Value;
use sqlx::Connection;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_plinth");
const LOCK_NAME: &str = "plinth.plinth_migration_history";

fn plinth(db: &TestDb, dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .arg("--database-url")
        .arg(&db.url)
        .arg("--source")
        .arg(dir);
    c
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    plinth_testkit::outcome(cmd.output().unwrap())
}

fn rounds(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn write(dir: &Path, file: &str, body: &str) {
    std::fs::write(dir.join(file), body).unwrap();
}

/// Rows of a query whose single column is text.
async fn strings(db: &TestDb, sql: &str) -> Vec<String> {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    match db.kind {
        Kind::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut c).await.unwrap()
        }
        Kind::MySql => {
            let mut c = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut c).await.unwrap()
        }
        Kind::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut c).await.unwrap()
        }
    }
}

async fn count(db: &TestDb, table: &str) -> i64 {
    let sql = format!("SELECT CAST(COUNT(*) AS CHAR(20)) FROM {table}");
    let sql = if db.kind == Kind::MySql {
        sql
    } else {
        sql.replace("CHAR(20)", "TEXT")
    };
    strings(db, &sql).await[0].parse().unwrap()
}

/// The schema as the catalog describes it (tables, columns, types, defaults, indexes), sorted.
async fn catalog(db: &TestDb) -> Vec<String> {
    let sql = match db.kind {
        Kind::Postgres => {
            "SELECT concat_ws('|', 'col', table_name, column_name, data_type, is_nullable, coalesce(column_default, '')) \
             FROM information_schema.columns WHERE table_schema = 'public' \
             UNION ALL SELECT concat_ws('|', 'idx', tablename, indexdef) FROM pg_indexes WHERE schemaname = 'public' \
             UNION ALL SELECT concat_ws('|', 'con', table_name, constraint_name, constraint_type) \
             FROM information_schema.table_constraints WHERE table_schema = 'public' \
             AND constraint_name NOT LIKE '%\\_not\\_null' ORDER BY 1"
        }
        Kind::MySql => {
            "SELECT CAST(CONCAT_WS('|', 'col', table_name, column_name, column_type, is_nullable, COALESCE(column_default, '')) AS CHAR) \
             FROM information_schema.columns WHERE table_schema = DATABASE() \
             UNION ALL SELECT CAST(CONCAT_WS('|', 'idx', table_name, index_name, column_name, seq_in_index) AS CHAR) \
             FROM information_schema.statistics WHERE table_schema = DATABASE() ORDER BY 1"
        }
        Kind::Sqlite => {
            "SELECT type || '|' || name || '|' || coalesce(sql, '') FROM sqlite_master ORDER BY 1"
        }
    };
    strings(db, sql).await
}

async fn tables(db: &TestDb) -> BTreeSet<String> {
    let sql = match db.kind {
        Kind::Postgres => {
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'"
        }
        Kind::MySql => {
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE()"
        }
        Kind::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table'",
    };
    strings(db, sql)
        .await
        .into_iter()
        .filter(|t| !t.starts_with("plinth_") && !t.starts_with("sqlite_"))
        .collect()
}

/// (version, status, statements_applied) for every history row.
async fn history(db: &TestDb) -> Vec<(i64, String, Option<i64>)> {
    let sql = match db.kind {
        Kind::MySql => "SELECT CAST(CONCAT_WS('|', version, status, COALESCE(statements_applied, -1)) AS CHAR) FROM plinth_migration_history ORDER BY version",
        _ => "SELECT version || '|' || status || '|' || COALESCE(statements_applied, -1) FROM plinth_migration_history ORDER BY version",
    };
    strings(db, sql)
        .await
        .into_iter()
        .map(|r| {
            let p: Vec<&str> = r.split('|').collect();
            let applied: i64 = p[2].parse().unwrap();
            (
                p[0].parse().unwrap(),
                p[1].to_string(),
                (applied >= 0).then_some(applied),
            )
        })
        .collect()
}

async fn states(db: &TestDb, dir: &Path) -> Vec<(i64, String)> {
    let (code, out, err) = run(plinth(db, dir).args(["status", "--format", "json"]));
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    v["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["version"].as_i64().unwrap(),
                m["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Wait until no session holds the migration locks: the killed migrator's working session may still
/// be finishing its statement, and holds the `.work` lock until it does (as the next `plinth`
/// would, this waits on the server's own locks, not on a timer).
async fn wait_for_lock_free(db: &TestDb) {
    for name in [LOCK_NAME, &format!("{LOCK_NAME}.work")] {
        wait_for_one_lock(db, name).await;
    }
}

async fn wait_for_one_lock(db: &TestDb, lock_name: &str) {
    match db.kind {
        Kind::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            let key = "hashtextextended(current_database() || '/' || $1, 0)";
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT pg_advisory_lock({key})"
            )))
            .bind(lock_name)
            .execute(&mut c)
            .await
            .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT pg_advisory_unlock({key})"
            )))
            .bind(lock_name)
            .execute(&mut c)
            .await
            .unwrap();
        }
        Kind::MySql => {
            let mut c = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
            let name = "CONCAT('plinth_', LEFT(SHA2(CONCAT(DATABASE(), '/', ?), 256), 56))";
            let got: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT CAST(GET_LOCK({name}, 60) AS SIGNED)"
            )))
            .bind(lock_name)
            .fetch_one(&mut c)
            .await
            .unwrap();
            assert_eq!(got, Some(1), "the killed migrator's session never ended");
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT RELEASE_LOCK({name})")))
                .bind(lock_name)
                .execute(&mut c)
                .await
                .unwrap();
        }
        // The OS released the file lock when the process died.
        Kind::Sqlite => {}
    }
}

// ---------------------------------------------------------------------------------------------
// A failing migration leaves nothing behind (PostgreSQL, SQLite).

async fn failure_leaves_no_table(kind: Kind) {
    let db = test_db!(kind);
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "0001_a.sql",
        "CREATE TABLE a (id INTEGER PRIMARY KEY);\n",
    );
    write(
        dir.path(),
        "0002_b.sql",
        "CREATE TABLE b (id INTEGER PRIMARY KEY);\nINSERT INTO b VALUES (1);\nINSERT INTO missing_table VALUES (1);\n",
    );
    let (code, out, err) = run(plinth(&db, dir.path()).args(["migrate", "-v"]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("0002_b.sql") && err.contains("missing_table"),
        "{err}"
    );
    // The transaction boundaries are logged at debug level.
    for word in ["BEGIN", "COMMIT", "ROLLBACK"] {
        assert!(err.contains(word), "no {word} event with -v:\n{err}");
    }
    assert!(db.table_exists("a").await);
    assert!(
        !db.table_exists("b").await,
        "the failed migration's table survived"
    );
    let h = history(&db).await;
    assert_eq!(h.len(), 2, "{h:?}");
    assert_eq!(h[1].1, "failed");
    let rows = db.history_rows("plinth_migration_history").await;
    assert!(
        rows[1].contains("missing_table"),
        "error recorded: {rows:?}"
    );
}

#[tokio::test]
async fn failure_leaves_no_table_postgres() {
    failure_leaves_no_table(Kind::Postgres).await;
}
#[tokio::test]
async fn failure_leaves_no_table_sqlite() {
    failure_leaves_no_table(Kind::Sqlite).await;
}

// A deferred constraint fails at COMMIT, after the migration's statements ran: still the
// migration's failure, recorded, with nothing of it left (PostgreSQL sends COMMIT in the same
// request as the file; SQLite keeps the transaction open when COMMIT fails).

async fn failure_at_commit_is_the_migrations(kind: Kind) {
    let db = test_db!(kind);
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "0001_a.sql",
        "CREATE TABLE a (id INTEGER PRIMARY KEY);\n",
    );
    write(
        dir.path(),
        "0002_c.sql",
        "CREATE TABLE c (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a (id) DEFERRABLE INITIALLY DEFERRED);\n\
         INSERT INTO c VALUES (1, 42);\n",
    );
    // In one transaction for the batch, no one migration is to blame: none is applied.
    let (code, out, err) = run(plinth(&db, dir.path()).args(["migrate", "--tx-mode", "all"]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("COMMIT of the batch failed, so none of migrations 1, 2 were applied"),
        "{err}"
    );
    assert!(
        !db.table_exists("a").await,
        "the batch's first table survived"
    );
    assert!(history(&db).await.is_empty());
    let (code, out, err) = run(plinth(&db, dir.path()).arg("migrate"));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("0002_c.sql"), "{err}");
    assert!(err.to_lowercase().contains("foreign key"), "{err}");
    assert!(db.table_exists("a").await);
    assert!(
        !db.table_exists("c").await,
        "the failed migration's table survived"
    );
    let h = history(&db).await;
    assert_eq!(
        h.iter().map(|r| (r.0, r.1.as_str())).collect::<Vec<_>>(),
        [(1, "success"), (2, "failed")],
        "{h:?}"
    );
    // Fixed, it runs on the next attempt.
    write(
        dir.path(),
        "0002_c.sql",
        "CREATE TABLE c (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a (id) DEFERRABLE INITIALLY DEFERRED);\n\
         INSERT INTO a VALUES (42);\nINSERT INTO c VALUES (1, 42);\n",
    );
    let (code, out, err) = run(plinth(&db, dir.path()).arg("migrate"));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(count(&db, "c").await, 1);
    assert_eq!(history(&db).await[1].1, "success");
}

#[tokio::test]
async fn failure_at_commit_is_the_migrations_postgres() {
    failure_at_commit_is_the_migrations(Kind::Postgres).await;
}
#[tokio::test]
async fn failure_at_commit_is_the_migrations_sqlite() {
    failure_at_commit_is_the_migrations(Kind::Sqlite).await;
}

// ---------------------------------------------------------------------------------------------
// --tx-mode all: a failure in migration 7 of 10 leaves the catalog exactly as before.

async fn all_mode_failure_restores_catalog(kind: Kind) {
    let db = test_db!(kind);
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "0001_base.sql",
        "CREATE TABLE base (id INTEGER PRIMARY KEY, v VARCHAR(20));\n",
    );
    let (code, out, err) = run(plinth(&db, dir.path()).arg("migrate"));
    assert_eq!(code, 0, "{out}{err}");
    for n in 2..=11 {
        let body = if n == 8 {
            // The 7th of the 10 pending migrations: does real work, then fails.
            "CREATE TABLE seventh (id INTEGER);\nINSERT INTO seventh VALUES (1);\nINSERT INTO seventh VALUES ('not a number', 2);\n".to_string()
        } else {
            format!("CREATE TABLE t{n} (id INTEGER PRIMARY KEY);\nCREATE INDEX t{n}_idx ON t{n} (id);\nALTER TABLE base ADD COLUMN c{n} INTEGER;\n")
        };
        write(dir.path(), &format!("{n:04}_m{n}.sql"), &body);
    }
    let before = catalog(&db).await;
    let before_rows = count(&db, "base").await;
    let (code, out, err) = run(plinth(&db, dir.path()).args(["migrate", "--tx-mode", "all"]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("0008_m8.sql"), "names the migration: {err}");
    assert!(
        err.contains("rolled back") && err.contains("2, 3, 4, 5, 6, 7"),
        "says the earlier ones were rolled back: {err}"
    );
    assert_eq!(catalog(&db).await, before, "the catalog changed");
    assert_eq!(count(&db, "base").await, before_rows);
    let st = states(&db, dir.path()).await;
    for (v, s) in &st {
        let want = match v {
            1 => "applied",
            8 => "failed",
            _ => "pending",
        };
        assert_eq!(s, want, "version {v}: {st:?}");
    }
    // Fixed, the whole batch applies.
    write(
        dir.path(),
        "0008_m8.sql",
        "CREATE TABLE seventh (id INTEGER);\n",
    );
    let (code, out, err) = run(plinth(&db, dir.path()).args(["migrate", "--tx-mode", "all"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(states(&db, dir.path())
        .await
        .iter()
        .all(|(_, s)| s == "applied"));
}

#[tokio::test]
async fn all_mode_failure_restores_catalog_postgres() {
    all_mode_failure_restores_catalog(Kind::Postgres).await;
}
#[tokio::test]
async fn all_mode_failure_restores_catalog_sqlite() {
    all_mode_failure_restores_catalog(Kind::Sqlite).await;
}

#[tokio::test]
async fn all_mode_refusals() {
    // MariaDB commits DDL implicitly: `all` is refused unless the user accepts it.
    let db = test_db!(Kind::MySql);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "0001_a.sql", "CREATE TABLE a (id INTEGER);\n");
    let (code, out, err) = run(plinth(&db, dir.path()).args(["migrate", "--tx-mode", "all"]));
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("--allow-non-atomic"), "{err}");
    assert!(!db.table_exists("a").await);
    let (code, out, err) =
        run(plinth(&db, dir.path()).args(["migrate", "--tx-mode", "all", "--allow-non-atomic"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(db.table_exists("a").await);

    // A no-transaction file cannot be part of an all-or-nothing batch.
    let db = test_db!(Kind::Postgres);
    write(
        dir.path(),
        "0002_idx.sql",
        "-- plinth:no-transaction\nCREATE INDEX CONCURRENTLY a_idx ON a (id);\n",
    );
    let (code, out, err) = run(plinth(&db, dir.path()).args(["migrate", "--tx-mode", "all"]));
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("0002_idx.sql") && err.contains("no-transaction"),
        "{err}"
    );
    assert!(
        !db.table_exists("a").await,
        "refused up front, before anything ran"
    );
    // Per migration, the no-transaction file runs outside any transaction.
    let (code, out, err) = run(plinth(&db, dir.path()).arg("migrate"));
    assert_eq!(code, 0, "{out}{err}");
}

// ---------------------------------------------------------------------------------------------
// MariaDB: SIGKILL in the middle of a multi-statement migration.

#[tokio::test]
async fn mariadb_killed_mid_migration_is_reported_and_resumed() {
    let db = test_db!(Kind::MySql);
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "0001_a.sql",
        "CREATE TABLE a (id INTEGER PRIMARY KEY);\n",
    );
    write(
        dir.path(),
        "0002_multi.sql",
        "CREATE TABLE k1 (id INTEGER PRIMARY KEY);\n-- a slow statement; the test kills the run here\nSELECT SLEEP(3);\nCREATE TABLE k2 (id INTEGER PRIMARY KEY);\nINSERT INTO k1 VALUES (1);\nINSERT INTO k2 VALUES (1);\n",
    );
    write(
        dir.path(),
        "0003_c.sql",
        "CREATE TABLE c (id INTEGER PRIMARY KEY);\n",
    );
    let mut child = plinth(&db, dir.path())
        .arg("migrate")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait (bounded) until the journal says statement 1 committed: the run is now in SLEEP(3).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "migration 2 never started");
        assert!(child.try_wait().unwrap().is_none(), "plinth exited early");
        if db.table_exists("plinth_migration_history").await
            && history(&db).await.contains(&(2, "running".into(), Some(1)))
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    wait_for_lock_free(&db).await;

    assert_eq!(history(&db).await[1], (2, "running".to_string(), Some(1)));
    let (code, out, err) = run(plinth(&db, dir.path()).arg("migrate"));
    assert_eq!(code, 5, "{out}{err}");
    for needle in [
        "migration 2 `multi`",
        "1 of 5 statements committed",
        "Statement 2 (`SELECT SLEEP(3)`)",
        "plinth repair --resume 2",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in: {err}");
    }
    assert!(!db.table_exists("k2").await && !db.table_exists("c").await);
    let (code, out, err) = run(plinth(&db, dir.path()).args(["repair", "--resume", "2"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("resume at statement 2 of 5"), "{out}");
    let (code, out, err) = run(plinth(&db, dir.path()).arg("migrate"));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(count(&db, "k1").await, 1);
    assert_eq!(count(&db, "k2").await, 1);
    assert!(db.table_exists("c").await);
    let h = history(&db).await;
    assert_eq!(
        h,
        [
            (1, "success".into(), Some(1)),
            (2, "success".into(), Some(5)),
            (3, "success".into(), Some(1))
        ]
    );
}

#[tokio::test]
async fn mariadb_failed_statement_is_named_and_retry_resumes() {
    let db = test_db!(Kind::MySql);
    let dir = tempfile::tempdir().unwrap();
    let good = "CREATE TABLE r1 (id INTEGER PRIMARY KEY);\nINSERT INTO r1 VALUES (1);\n";
    write(
        dir.path(),
        "0001_r.sql",
        &format!(
            "{good}INSERT INTO r1 VALUES ('x;y', 'too many');\nCREATE TABLE r2 (id INTEGER);\n"
        ),
    );
    let (code, out, err) = run(plinth(&db, dir.path()).arg("migrate"));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("statement 3 of 4 failed") && err.contains("2 of 4 statements committed"),
        "{err}"
    );
    assert!(
        err.contains("INSERT INTO r1 VALUES ('x;y', 'too many')"),
        "{err}"
    );
    assert_eq!(history(&db).await, [(1, "failed".into(), Some(2))]);
    // Fix statement 3 only: the retry resumes there, so the INSERT of statement 2 runs once.
    write(
        dir.path(),
        "0001_r.sql",
        &format!("{good}INSERT INTO r1 VALUES (2);\nCREATE TABLE r2 (id INTEGER);\n"),
    );
    let (code, out, err) = run(plinth(&db, dir.path()).args(["migrate", "-v"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("resuming"), "{err}");
    assert_eq!(count(&db, "r1").await, 2);
    assert_eq!(history(&db).await, [(1, "success".into(), Some(4))]);
    let (_, out, _) = run(plinth(&db, dir.path()).args(["history", "--format", "json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    let journaled: Vec<i64> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "statement")
        .map(|e| e["statement_index"].as_i64().unwrap())
        .collect();
    assert_eq!(journaled, [1, 2, 3, 4]);
}

// ---------------------------------------------------------------------------------------------
// Lock timeout: exit 4, naming the holder.

#[tokio::test]
async fn lock_timeout_names_holder_postgres() {
    let db = test_db!(Kind::Postgres);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "0001_a.sql", "CREATE TABLE a (id INTEGER);\n");
    let holder_url = format!("{}&application_name=lock_holder_test", db.url);
    let mut holder = sqlx::PgConnection::connect(&holder_url).await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut holder)
        .await
        .unwrap();
    sqlx::query("SELECT pg_advisory_lock(hashtextextended(current_database() || '/' || $1, 0))")
        .bind(LOCK_NAME)
        .execute(&mut holder)
        .await
        .unwrap();
    let (code, out, err) = run(plinth(&db, dir.path()).args(["migrate", "--lock-timeout", "1"]));
    assert_eq!(code, 4, "{out}{err}");
    assert!(err.contains(&format!("pid {pid}")), "{err}");
    assert!(err.contains("lock_holder_test"), "{err}");
    assert!(err.contains("connected since 20"), "{err}");
    assert!(!db.table_exists("a").await);
    holder.close().await.unwrap();
    let (code, out, err) = run(plinth(&db, dir.path()).args(["migrate", "--lock-timeout", "5"]));
    assert_eq!(code, 0, "{out}{err}");
}

#[tokio::test]
async fn lock_timeout_names_holder_mariadb() {
    let db = test_db!(Kind::MySql);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "0001_a.sql", "CREATE TABLE a (id INTEGER);\n");
    let mut holder = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
    let id: i64 = sqlx::query_scalar("SELECT CAST(CONNECTION_ID() AS SIGNED)")
        .fetch_one(&mut holder)
        .await
        .unwrap();
    let got: Option<i64> = sqlx::query_scalar(
        "SELECT CAST(GET_LOCK(CONCAT('plinth_', LEFT(SHA2(CONCAT(DATABASE(), '/', ?), 256), 56)), 5) AS SIGNED)",
    )
    .bind(LOCK_NAME)
    .fetch_one(&mut holder)
    .await
    .unwrap();
    assert_eq!(got, Some(1));
    let (code, out, err) = run(plinth(&db, dir.path()).args(["migrate", "--lock-timeout", "1"]));
    assert_eq!(code, 4, "{out}{err}");
    assert!(err.contains(&format!("pid {id}")), "{err}");
    holder.close().await.unwrap();
    let (code, out, err) = run(plinth(&db, dir.path()).arg("migrate"));
    assert_eq!(code, 0, "{out}{err}");
}

#[tokio::test]
async fn lock_timeout_sqlite() {
    let db = test_db!(Kind::Sqlite);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "0001_a.sql", "CREATE TABLE a (id INTEGER);\n");
    let mut lock_path = db.sqlite_path().unwrap().into_os_string();
    lock_path.push(".plinth-lock");
    let f = std::fs::File::create(&lock_path).unwrap();
    f.lock().unwrap();
    let (code, out, err) = run(plinth(&db, dir.path()).args(["migrate", "--lock-timeout", "1"]));
    assert_eq!(code, 4, "{out}{err}");
    assert!(err.contains("migration lock"), "{err}");
    f.unlock().unwrap();
    let (code, out, err) = run(plinth(&db, dir.path()).arg("migrate"));
    assert_eq!(code, 0, "{out}{err}");
}

// ---------------------------------------------------------------------------------------------
// 16 processes at once against one empty database.

fn race_corpus(dir: &Path) {
    write(
        dir,
        "0001_counter.sql",
        "CREATE TABLE counter (n INTEGER NOT NULL);\n",
    );
    write(
        dir,
        "0002_first.sql",
        "INSERT INTO counter (n) VALUES (1);\n",
    );
    write(
        dir,
        "0003_t.sql",
        "CREATE TABLE t3 (id INTEGER PRIMARY KEY);\nINSERT INTO t3 VALUES (1);\n",
    );
    write(
        dir,
        "0004_second.sql",
        "INSERT INTO counter (n) VALUES (2);\nINSERT INTO counter (n) VALUES (3);\n",
    );
    write(
        dir,
        "0005_t.sql",
        "CREATE TABLE t5 (id INTEGER PRIMARY KEY);\n",
    );
}

async fn race(kind: Kind) {
    let n_rounds = rounds("PLINTH_RACE_ROUNDS", 20);
    let dir = tempfile::tempdir().unwrap();
    race_corpus(dir.path());
    for round in 0..n_rounds {
        let db = test_db!(kind);
        let children: Vec<_> = (0..16)
            .map(|_| {
                plinth(&db, dir.path())
                    .arg("migrate")
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for (i, c) in children.into_iter().enumerate() {
            let out = c.wait_with_output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                out.status.code(),
                Some(0),
                "round {round}, process {i}: {text}"
            );
            assert!(
                !text.to_lowercase().contains("error"),
                "round {round}, process {i}: {text}"
            );
        }
        assert_eq!(count(&db, "counter").await, 3, "round {round}");
        assert_eq!(count(&db, "t3").await, 1, "round {round}");
        let h = history(&db).await;
        assert_eq!(h.len(), 5, "round {round}: {h:?}");
        assert!(
            h.iter().all(|(_, s, _)| s == "success"),
            "round {round}: {h:?}"
        );
        // Exactly one attempt each: nobody applied anything twice.
        let rows = db.history_rows("plinth_migration_history").await;
        assert!(
            rows.iter().all(|r| r.ends_with("|1|")),
            "round {round}: {rows:?}"
        );
    }
}

#[tokio::test]
async fn race_16_processes_postgres() {
    race(Kind::Postgres).await;
}
#[tokio::test]
async fn race_16_processes_mariadb() {
    race(Kind::MySql).await;
}
#[tokio::test]
async fn race_16_processes_sqlite() {
    race(Kind::Sqlite).await;
}

// ---------------------------------------------------------------------------------------------
// Crash loop: SIGKILL a migrate of 50 migrations at random moments.

/// Even migrations create a table and insert a row; odd ones only create a table, so that on
/// MariaDB a migration that ends with DDL shares its last commit with the next one's `running` row.
fn crash_corpus(dir: &Path) {
    for n in 1..=50 {
        let insert = if n % 2 == 0 {
            format!("INSERT INTO t{n} VALUES ({n});\n")
        } else {
            String::new()
        };
        write(
            dir,
            &format!("{n:04}_m{n}.sql"),
            &format!("CREATE TABLE t{n} (id INTEGER PRIMARY KEY);\n{insert}"),
        );
    }
}

/// Rows migration `n` of [`crash_corpus`] leaves in its table.
fn crash_rows(n: i64) -> i64 {
    i64::from(n % 2 == 0)
}

async fn crash_loop(kind: Kind) {
    let n_rounds = rounds("PLINTH_CRASH_ROUNDS", 8);
    let dir = tempfile::tempdir().unwrap();
    crash_corpus(dir.path());
    let all: BTreeSet<String> = (1..=50).map(|n| format!("t{n}")).collect();
    // The kill moment is drawn from [0, estimate of a full run], the estimate following observed runs.
    let mut estimate_ms: u64 = 400;
    let mut interrupted_seen = 0;
    let mut kill_points = Vec::new();
    for round in 0..n_rounds {
        let db = test_db!(kind);
        let mut child = plinth(&db, dir.path())
            .arg("migrate")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = rand::rng().random_range(0..=estimate_ms);
        let started = Instant::now();
        let mut finished = false;
        while started.elapsed() < Duration::from_millis(delay) {
            if child.try_wait().unwrap().is_some() {
                finished = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // A run that finished before the kill tells how long a full run takes.
        let observed_full = finished.then(|| started.elapsed().as_millis() as u64);
        let killed_after_ms = delay;
        let _ = child.kill();
        child.wait().unwrap();
        wait_for_lock_free(&db).await;

        // Killed before it even created the SQLite file: nothing happened.
        let file_missing = db.sqlite_path().is_some_and(|p| !p.exists());
        let exists = !file_missing && db.table_exists("plinth_migration_history").await;
        let h = if exists {
            history(&db).await
        } else {
            Vec::new()
        };
        let t = if file_missing {
            BTreeSet::new()
        } else {
            tables(&db).await
        };
        let ok: BTreeSet<String> = h
            .iter()
            .filter(|(_, s, _)| s == "success")
            .map(|(v, _, _)| format!("t{v}"))
            .collect();
        let running: Vec<&(i64, String, Option<i64>)> =
            h.iter().filter(|(_, s, _)| s != "success").collect();
        // Successes form a prefix 1..=k: a migration boundary.
        let k = ok.len() as i64;
        assert!(
            h.iter()
                .filter(|(_, s, _)| s == "success")
                .all(|(v, _, _)| *v <= k),
            "round {round}: not a prefix: {h:?}"
        );
        for (v, _, _) in h.iter().filter(|(_, s, _)| s == "success") {
            let rows = count(&db, &format!("t{v}")).await;
            assert_eq!(rows, crash_rows(*v), "round {round}, t{v}");
        }
        if kind == Kind::MySql && !running.is_empty() {
            // MariaDB: the interrupted migration is reported, exactly.
            assert_eq!(running.len(), 1, "round {round}: {h:?}");
            let (v, status, applied) = running[0].clone();
            assert_eq!(status, "running", "round {round}: {h:?}");
            assert_eq!(v, k + 1, "round {round}: {h:?}");
            interrupted_seen += 1;
            let mut expected = ok.clone();
            let table = format!("t{v}");
            let has_table = t.contains(&table);
            if has_table {
                expected.insert(table.clone());
            }
            assert_eq!(t, expected, "round {round}: {h:?}");
            let (code, out, err) = run(plinth(&db, dir.path()).arg("migrate"));
            assert_eq!(code, 5, "round {round}: {out}{err}");
            assert!(err.contains(&format!("migration {v} `m{v}`")), "{err}");
            // The INSERT (even migrations) is journaled in its own transaction: the journal is exact.
            let applied = applied.unwrap_or(0);
            if has_table {
                let rows = count(&db, &table).await;
                assert_eq!(rows, i64::from(applied >= 2), "round {round}: {h:?}");
            }
            let mut repair = plinth(&db, dir.path());
            repair.args(["repair", "--resume", &v.to_string()]);
            if applied == 0 && has_table {
                // The CREATE TABLE committed but its journal entry did not: checked by hand above.
                repair.args(["--from-statement", "2"]);
            }
            let (code, out, err) = run(&mut repair);
            assert_eq!(code, 0, "round {round}: {out}{err}");
        } else {
            assert!(running.is_empty(), "round {round}: {h:?}");
            assert_eq!(t, ok, "round {round}: history and schema disagree: {h:?}");
        }
        kill_points.push(h.iter().filter(|(_, s, _)| s == "success").count());
        // Recovery: the next run finishes the job; its duration widens the kill window so that
        // kills land anywhere in a full run.
        let started = Instant::now();
        let (code, out, err) = run(plinth(&db, dir.path()).arg("migrate"));
        let full = observed_full
            .unwrap_or(killed_after_ms + started.elapsed().as_millis() as u64)
            .min(10_000);
        estimate_ms = (estimate_ms + full) / 2;
        assert_eq!(code, 0, "round {round}: {out}{err}");
        assert_eq!(tables(&db).await, all, "round {round}");
        for n in [1, 25, 50] {
            assert_eq!(count(&db, &format!("t{n}")).await, crash_rows(n));
        }
        let h = history(&db).await;
        assert!(
            h.len() == 50 && h.iter().all(|(_, s, _)| s == "success"),
            "{h:?}"
        );
    }
    eprintln!(
        "crash loop on {kind:?}: {n_rounds} rounds, {interrupted_seen} interrupted mid-migration, \
         migrations applied when killed: {kill_points:?}, kill window {estimate_ms} ms"
    );
}

#[tokio::test]
async fn crash_loop_postgres() {
    crash_loop(Kind::Postgres).await;
}
#[tokio::test]
async fn crash_loop_mariadb() {
    crash_loop(Kind::MySql).await;
}
#[tokio::test]
async fn crash_loop_sqlite() {
    crash_loop(Kind::Sqlite).await;
}

// ---------------------------------------------------------------------------------------------
// down --steps 3, then migrate: the same schema.

async fn down_then_up(kind: Kind) {
    let db = test_db!(kind);
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "0001_a.up.sql",
        "CREATE TABLE a (id INTEGER PRIMARY KEY, v VARCHAR(30) NOT NULL DEFAULT 'x');\n",
    );
    write(dir.path(), "0001_a.down.sql", "DROP TABLE a;\n");
    write(
        dir.path(),
        "0002_b.up.sql",
        "CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER);\nCREATE INDEX b_a ON b (a_id);\n",
    );
    write(dir.path(), "0002_b.down.sql", "DROP TABLE b;\n");
    write(
        dir.path(),
        "0003_c.up.sql",
        "ALTER TABLE a ADD COLUMN c INTEGER;\n",
    );
    write(
        dir.path(),
        "0003_c.down.sql",
        "ALTER TABLE a DROP COLUMN c;\n",
    );
    write(
        dir.path(),
        "0004_d.up.sql",
        "CREATE TABLE d (id INTEGER PRIMARY KEY);\nCREATE INDEX d_id2 ON d (id);\n",
    );
    write(dir.path(), "0004_d.down.sql", "DROP TABLE d;\n");
    write(
        dir.path(),
        "0005_e.up.sql",
        "INSERT INTO a (id) VALUES (1);\n",
    );
    write(
        dir.path(),
        "0005_e.down.sql",
        "DELETE FROM a WHERE id = 1;\n",
    );
    let (code, out, err) = run(plinth(&db, dir.path()).arg("migrate"));
    assert_eq!(code, 0, "{out}{err}");
    let full = catalog(&db).await;
    let (code, out, err) = run(plinth(&db, dir.path()).args(["down", "--steps", "3", "--dry-run"]));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(catalog(&db).await, full, "a dry run changed the schema");
    let (code, out, err) = run(plinth(&db, dir.path()).args(["down", "--steps", "3"]));
    assert_eq!(code, 0, "{out}{err}");
    let down = catalog(&db).await;
    assert_ne!(down, full);
    assert!(!db.table_exists("d").await && db.table_exists("b").await);
    assert_eq!(count(&db, "a").await, 0);
    let st = states(&db, dir.path()).await;
    assert_eq!(
        st.iter().map(|(_, s)| s.as_str()).collect::<Vec<_>>(),
        ["applied", "applied", "pending", "pending", "pending"]
    );
    let (code, out, err) = run(plinth(&db, dir.path()).arg("migrate"));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        catalog(&db).await,
        full,
        "migrate after down did not restore the schema"
    );
    assert_eq!(count(&db, "a").await, 1);
    // A missing down file refuses before anything changes.
    std::fs::remove_file(dir.path().join("0003_c.down.sql")).unwrap();
    let (code, out, err) = run(plinth(&db, dir.path()).args(["down", "--to", "1"]));
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("0003_c"), "{err}");
    assert_eq!(catalog(&db).await, full);
}

#[tokio::test]
async fn down_then_up_postgres() {
    down_then_up(Kind::Postgres).await;
}
#[tokio::test]
async fn down_then_up_mariadb() {
    down_then_up(Kind::MySql).await;
}
#[tokio::test]
async fn down_then_up_sqlite() {
    down_then_up(Kind::Sqlite).await;
}
