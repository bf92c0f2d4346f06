//! Past one server, through the real `plinth` binary on the rigs in ../shared/tools: a 3-node
//! MariaDB Galera cluster (127.0.0.1:3311-3313) and a PostgreSQL primary (5441) with two
//! streaming replicas (5442, 5443). Each test starts its rig (`up.sh`, bounded in time) under a
//! file lock, so tests in this and other binaries never use a rig at the same time. When a rig
//! cannot start the test is skipped with a printed reason, or fails under PLINTH_REQUIRE_SERVERS=1.
//! The rigs are left running (they are idempotent to start; `down.sh` stops them).

use serde_json::Value;
use sqlx::{Connection, Executor};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_plinth");
const RIGS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/tools");
const GALERA_PORTS: [u16; 3] = [3311, 3312, 3313];
const PG_PRIMARY: u16 = 5441;
const PG_REPLICAS: [u16; 2] = [5442, 5443];

fn required() -> bool {
    std::env::var("PLINTH_REQUIRE_SERVERS").is_ok_and(|v| v == "1")
}

/// Holds the rig's file lock for the test's duration.
struct Rig {
    _lock: std::fs::File,
}

/// Start a rig (idempotent) within `limit`, holding its lock; None (skip) when it cannot start.
fn rig(name: &str, limit: Duration) -> Option<Rig> {
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(format!("/tmp/plinth-rig-{name}.lock"))
        .unwrap();
    lock.lock().unwrap();
    let rigs = std::env::var("PLINTH_RIGS_DIR").unwrap_or_else(|_| RIGS.to_string());
    let script = Path::new(&rigs).join(name).join("up.sh");
    let reason = if !script.exists() {
        Some(format!("{} not found", script.display()))
    } else {
        let mut child = Command::new("bash")
            .arg(&script)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        match wait_bounded(&mut child, limit) {
            Some(0) => None,
            Some(code) => {
                let out = child.wait_with_output().unwrap();
                Some(format!(
                    "{name}/up.sh exited {code}: {}",
                    String::from_utf8_lossy(&out.stderr)
                ))
            }
            None => Some(format!("{name}/up.sh did not finish within {limit:?}")),
        }
    };
    match reason {
        None => Some(Rig { _lock: lock }),
        Some(r) if required() => panic!("{r} and PLINTH_REQUIRE_SERVERS=1"),
        Some(r) => {
            eprintln!("skipping test: {r}; set PLINTH_REQUIRE_SERVERS=1 to fail instead");
            None
        }
    }
}

/// Wait for a child up to `limit`; kill it and return None when it takes longer.
fn wait_bounded(child: &mut Child, limit: Duration) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status.code().unwrap_or(-1));
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn write(dir: &Path, file: &str, body: &str) {
    std::fs::write(dir.join(file), body).unwrap();
}

fn plinth(url: &str, dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .env_remove("PLINTH_LOCK_STRATEGY")
        .arg("--database-url")
        .arg(url)
        .arg("--source")
        .arg(dir);
    c
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    plinth_testkit::outcome(cmd.output().unwrap())
}

fn unique(prefix: &str) -> String {
    format!("{prefix}_{:08x}", rand::random::<u32>())
}

// ---------------------------------------------------------------------------------------------
// Galera: 12 migrators over 3 nodes, 10 rounds, non-idempotent migrations.

fn galera_url(port: u16, db: &str) -> String {
    format!("mysql://root@127.0.0.1:{port}/{db}?ssl-mode=disabled")
}

/// Not idempotent: a second application duplicates rows (0002, 0004) or fails (0001, 0003, 0005).
fn galera_corpus(dir: &Path) {
    write(
        dir,
        "0001_counter.sql",
        "CREATE TABLE counter (id INT AUTO_INCREMENT PRIMARY KEY, n INT NOT NULL);\n",
    );
    write(
        dir,
        "0002_first.sql",
        "INSERT INTO counter (n) VALUES (1);\n",
    );
    write(
        dir,
        "0003_alter.sql",
        "ALTER TABLE counter ADD COLUMN extra INT NULL;\n",
    );
    write(
        dir,
        "0004_second.sql",
        "INSERT INTO counter (n) VALUES (2);\nINSERT INTO counter (n) VALUES (3);\n",
    );
    write(dir, "0005_t.sql", "CREATE TABLE t5 (id INT PRIMARY KEY);\n");
}

async fn galera_admin(port: u16) -> sqlx::MySqlConnection {
    sqlx::MySqlConnection::connect(&galera_url(port, "mysql"))
        .await
        .unwrap()
}

/// Create a database through `admin` and wait until every node has applied the DDL (TOI returns
/// on the originating node first), so migrators on any node can connect to it.
async fn galera_create(admin: &mut sqlx::MySqlConnection, db: &str) {
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE `{db}`")))
        .await
        .unwrap();
    for port in GALERA_PORTS {
        let start = Instant::now();
        while sqlx::MySqlConnection::connect(&galera_url(port, db))
            .await
            .is_err()
        {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "node {port} never saw {db}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// One round on a fresh database: 12 processes, 4 per node. Returns what went wrong (empty when
/// every migration was applied exactly once and every process exited 0).
async fn galera_round(dir: &Path, strategy: &str, round: usize) -> Vec<String> {
    let db = unique("plinth_galera");
    let mut admin = galera_admin(3311).await;
    galera_create(&mut admin, &db).await;
    let children: Vec<(u16, Child)> = (0..12)
        .map(|i| {
            let port = GALERA_PORTS[i % 3];
            let child = plinth(&galera_url(port, &db), dir)
                .env("PLINTH_LOCK_STRATEGY", strategy)
                .arg("migrate")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (port, child)
        })
        .collect();
    let mut problems = Vec::new();
    for (i, (port, mut child)) in children.into_iter().enumerate() {
        match wait_bounded(&mut child, Duration::from_secs(90)) {
            Some(0) => {}
            code => {
                let out = child.wait_with_output().unwrap();
                problems.push(format!(
                    "round {round}: process {i} on node {port} exited {code:?}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
    }
    // Read on another node than the one that created the database, causally.
    let mut c = sqlx::MySqlConnection::connect(&galera_url(3313, &db))
        .await
        .unwrap();
    c.execute("SET SESSION wsrep_sync_wait = 1").await.unwrap();
    let counter: Result<Vec<i64>, _> = sqlx::query_scalar(sqlx::AssertSqlSafe(
        "SELECT CAST(n AS SIGNED) FROM counter ORDER BY id",
    ))
    .fetch_all(&mut c)
    .await;
    match counter {
        Ok(rows) if rows == [1, 2, 3] => {}
        other => problems.push(format!(
            "round {round}: counter should hold 1, 2, 3 once each: {other:?}"
        )),
    }
    let history: Result<Vec<(i64, String, i64)>, _> = sqlx::query_as(
        "SELECT version, status, attempts FROM plinth_migration_history ORDER BY version",
    )
    .fetch_all(&mut c)
    .await;
    match history {
        Ok(rows) if rows.len() == 5 && rows.iter().all(|(_, s, a)| s == "success" && *a == 1) => {}
        other => problems.push(format!(
            "round {round}: history should be 5 successes, 1 attempt each: {other:?}"
        )),
    }
    let applied: Result<Vec<(i64, i64)>, _> = sqlx::query_as(
        "SELECT version, COUNT(*) FROM plinth_migration_history_events WHERE event = 'applied' GROUP BY version ORDER BY version",
    )
    .fetch_all(&mut c)
    .await;
    match applied {
        Ok(rows) if rows == [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1)] => {}
        other => problems.push(format!(
            "round {round}: one `applied` event per migration expected: {other:?}"
        )),
    }
    drop(c);
    let _ = admin
        .execute(sqlx::AssertSqlSafe(format!("DROP DATABASE `{db}`")))
        .await;
    problems
}

#[tokio::test]
async fn galera_racers_on_three_nodes() {
    let Some(_rig) = rig("galera", Duration::from_secs(150)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    galera_corpus(dir.path());

    // The lease: 10 rounds, every migration exactly once, every process exits 0.
    for round in 0..10 {
        let problems = galera_round(dir.path(), "auto", round).await;
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
    // The lease table is left empty: every holder released its lease.
    // (Checked on a database of the last kind: a fresh one with one migrator.)
    let db = unique("plinth_galera");
    let mut admin = galera_admin(3312).await;
    galera_create(&mut admin, &db).await;
    let (code, out, err) = run(plinth(&galera_url(3312, &db), dir.path()).args(["-v", "migrate"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("migration lease acquired"), "{err}");
    assert!(
        err.contains("history row confirmed on the cluster"),
        "{err}"
    );
    let left: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM `{db}`.plinth_migration_history_lock"
    )))
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(left, 0, "the lease row is deleted on release");
    let (code, out, _) = run(plinth(&galera_url(3311, &db), dir.path()).args(["status"]));
    assert_eq!(code, 0);
    assert!(
        out.contains("replication: Galera node node1 of a 3-node cluster"),
        "{out}"
    );
    let _ = admin
        .execute(sqlx::AssertSqlSafe(format!("DROP DATABASE `{db}`")))
        .await;

    // The same race with the node-local GET_LOCK must go wrong, or this test proves nothing.
    let mut found = Vec::new();
    for round in 0..10 {
        found = galera_round(dir.path(), "get_lock", round).await;
        if !found.is_empty() {
            break;
        }
    }
    eprintln!(
        "GET_LOCK on Galera went wrong as expected:\n{}",
        found.join("\n")
    );
    assert!(
        !found.is_empty(),
        "12 migrators over 3 nodes with GET_LOCK never applied anything twice nor failed in 10 rounds"
    );
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL replicas.

fn pg_url(port: u16, db: &str) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/{db}?sslmode=disable")
}

/// Create a database on the primary and wait until both replicas have it.
async fn pg_database() -> String {
    let db = unique("plinth_rep");
    let mut admin = sqlx::PgConnection::connect(&pg_url(PG_PRIMARY, "postgres"))
        .await
        .unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{db}\"")))
        .await
        .unwrap();
    for port in PG_REPLICAS {
        let start = Instant::now();
        while sqlx::PgConnection::connect(&pg_url(port, &db))
            .await
            .is_err()
        {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "replica {port} never saw {db}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    db
}

async fn pg_drop(db: &str) {
    let mut admin = sqlx::PgConnection::connect(&pg_url(PG_PRIMARY, "postgres"))
        .await
        .unwrap();
    let _ = admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"
        )))
        .await;
}

async fn pg_tables(port: u16, db: &str) -> Vec<String> {
    let mut c = sqlx::PgConnection::connect(&pg_url(port, db))
        .await
        .unwrap();
    sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(&mut c)
    .await
    .unwrap()
}

#[tokio::test]
async fn postgres_replicas() {
    let Some(_rig) = rig("pgreplica", Duration::from_secs(60)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "0001_big.sql",
        "CREATE TABLE big (id INTEGER PRIMARY KEY, payload TEXT NOT NULL);\n\
         INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 100000) g;\n",
    );
    let db = pg_database().await;

    // A replica is refused before anything happens, with its (redacted) name and the way out.
    let replica = format!("postgres://postgres:hunter2@127.0.0.1:5442/{db}?sslmode=disable");
    let (code, out, err) = run(plinth(&replica, dir.path()).arg("migrate"));
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("refusing to migrate postgres://postgres:***@127.0.0.1:5442/"),
        "{err}"
    );
    assert!(err.contains("standby"), "{err}");
    assert!(err.contains("at the primary"), "{err}");
    assert!(!format!("{out}{err}").contains("hunter2"), "{out}{err}");
    assert!(
        pg_tables(PG_PRIMARY, &db).await.is_empty(),
        "the primary was changed"
    );
    assert!(
        pg_tables(5442, &db).await.is_empty(),
        "the replica was changed"
    );
    // `status` on the replica says what it is.
    let (code, out, err) = run(plinth(&replica, dir.path()).args(["status", "--format", "json"]));
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["replication"]["role"], "standby", "{v}");
    assert_eq!(v["replication"]["upstream"], "127.0.0.1:5441", "{v}");

    // On the primary: 100k rows, then wait for both replicas and report their lag.
    let primary = pg_url(PG_PRIMARY, &db);
    let (code, out, err) = run(plinth(&primary, dir.path()).args([
        "migrate",
        "--wait-replicas",
        "60",
        "--format",
        "json",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["applied"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["replicas"]["caught_up"], true, "{v}");
    let reps = v["replicas"]["report"]["replicas"].as_array().unwrap();
    let mut names: Vec<&str> = reps.iter().map(|r| r["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["replica1", "replica2"], "{v}");
    for r in reps {
        assert_eq!(r["lag_bytes"], 0, "{r}");
        assert!(r["lag_bytes_at_start"].as_i64().is_some(), "{r}");
        assert!(r["caught_up_after_ms"].as_f64().is_some(), "{r}");
    }
    // Caught up means the rows are there on both replicas now, not eventually.
    for port in PG_REPLICAS {
        let mut c = sqlx::PgConnection::connect(&pg_url(port, &db))
            .await
            .unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM big")
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(n, 100_000, "replica {port}");
    }

    // Text: a lag table with both replicas; `status` and `doctor` on the primary show them.
    write(
        dir.path(),
        "0002_more.sql",
        "INSERT INTO big SELECT g, 'x' FROM generate_series(100001, 150000) g;\n",
    );
    let (code, out, err) =
        run(plinth(&primary, dir.path()).args(["migrate", "--wait-replicas", "60"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Replicas after the migration"), "{out}");
    assert!(
        out.contains("replica1") && out.contains("replica2"),
        "{out}"
    );
    let (code, out, err) = run(plinth(&primary, dir.path()).arg("status"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("replication: primary with 2 replica(s)"),
        "{out}"
    );
    let (_, out, err) = run(plinth(&primary, dir.path()).args(["doctor", "--format", "json"]));
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    assert_eq!(v["replication"]["role"], "primary", "{v}");
    assert_eq!(
        v["replication"]["replicas"].as_array().unwrap().len(),
        2,
        "{v}"
    );

    // --wait-replicas on a standby is a usage error.
    let (code, _, err) =
        run(plinth(&replica, dir.path()).args(["migrate", "--wait-replicas", "5"]));
    assert_ne!(code, 0, "{err}");
    pg_drop(&db).await;
}

/// A migrator killed while it holds the lease leaves no stale lock: its lease expires (it is no
/// longer renewed) and the next migrator, on another node, takes it over and finds the
/// interrupted run (exit 5), instead of waiting for ever (exit 4).
#[tokio::test]
async fn galera_killed_holder_lease_expires() {
    let Some(_rig) = rig("galera", Duration::from_secs(150)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "0001_slow.sql", "SELECT SLEEP(20);\n");
    write(
        dir.path(),
        "0002_t.sql",
        "CREATE TABLE t (id INT PRIMARY KEY);\n",
    );
    let db = unique("plinth_galera");
    let mut admin = galera_admin(3312).await;
    galera_create(&mut admin, &db).await;
    let mut holder = plinth(&galera_url(3311, &db), dir.path())
        .arg("migrate")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait (on node 2) until the lease row and the `running` history row exist.
    let start = Instant::now();
    loop {
        let running: Result<i64, _> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM `{db}`.plinth_migration_history_lock l \
             JOIN `{db}`.plinth_migration_history h ON h.status = 'running'"
        )))
        .fetch_one(&mut admin)
        .await;
        if running.is_ok_and(|n| n == 1) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the holder never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    holder.kill().unwrap();
    holder.wait().unwrap();
    let (code, out, err) =
        run(plinth(&galera_url(3312, &db), dir.path()).args(["migrate", "--lock-timeout", "60"]));
    assert_eq!(code, 5, "{out}{err}");
    assert!(
        err.contains("taking over an expired migration lease"),
        "{err}"
    );
    assert!(err.contains("repair"), "{err}");
    let _ = admin
        .execute(sqlx::AssertSqlSafe(format!("DROP DATABASE `{db}`")))
        .await;
}

/// Fencing: a migrator whose lease was taken over while it worked (here: the row is rewritten to
/// another holder, as a migrator that found it expired would) stops before its next migration.
#[tokio::test]
async fn galera_lost_lease_is_fenced() {
    let Some(_rig) = rig("galera", Duration::from_secs(150)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "0001_slow.sql", "SELECT SLEEP(3);\n");
    write(
        dir.path(),
        "0002_t.sql",
        "CREATE TABLE t2 (id INT PRIMARY KEY);\n",
    );
    let db = unique("plinth_galera");
    let mut admin = galera_admin(3313).await;
    galera_create(&mut admin, &db).await;
    let holder = plinth(&galera_url(3311, &db), dir.path())
        .arg("migrate")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        // Once migration 1 is running: the fence before migration 2 must notice.
        let taken = admin
            .execute(sqlx::AssertSqlSafe(format!(
                "UPDATE `{db}`.plinth_migration_history_lock SET holder = 'intruder' \
                 WHERE EXISTS (SELECT 1 FROM `{db}`.plinth_migration_history WHERE version = 1 AND status = 'running')"
            )))
            .await;
        if taken.is_ok_and(|r| r.rows_affected() == 1) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the holder never took the lease"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = holder.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("lost the cluster-wide migration lease"),
        "{err}"
    );
    let t2: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = 't2'"
    )))
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(t2, 0, "the fenced migrator ran the next migration");
    let v1: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT status FROM `{db}`.plinth_migration_history WHERE version = 1"
    )))
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(
        v1, "success",
        "migration 1 finished under the lease it held when it started"
    );
    let _ = admin
        .execute(sqlx::AssertSqlSafe(format!("DROP DATABASE `{db}`")))
        .await;
}
