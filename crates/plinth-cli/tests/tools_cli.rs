//! `explain`, `compat` and `lint` through the real binary.

use assert_cmd::Command;
use plinth_testkit::Kind;
use serde_json::Value;

fn plinth(args: &[&str]) -> (i32, String, String) {
    plinth_testkit::outcome(
        Command::cargo_bin("plinth")
            .unwrap()
            .env_remove("DATABASE_URL")
            .args(args)
            .output()
            .unwrap(),
    )
}

#[test]
fn explain_names_the_right_category() {
    let (code, out, _) = plinth(&["explain", "1062", "--backend", "mysql", "--format", "json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["explanations"][0]["category"], "unique_violation");
    let (_, out, _) = plinth(&["explain", "42P07", "--format", "json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["explanations"][0]["category"], "duplicate_table");
    let (_, out, _) = plinth(&[
        "explain",
        "40001",
        "--backend",
        "postgres",
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["explanations"][0]["category"], "serialization_failure");
    assert_eq!(v["explanations"][0]["disposition"], "transient");
    let (code, out, _) = plinth(&["explain", "99999", "--backend", "postgres"]);
    assert_eq!(code, 1, "unknown codes say so: {out}");
    assert!(out.to_lowercase().contains("unknown"), "{out}");
    assert_eq!(plinth(&["explain", "1062", "--backend", "oracle"]).0, 2);
}

async fn compat_flags(kind: Kind) -> Value {
    let Some(db) = plinth_testkit::TestDb::create(kind).await else {
        return Value::Null;
    };
    let (code, out, err) = plinth(&["--database-url", &db.url, "compat", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

#[tokio::test]
async fn compat_reports_the_connected_server() {
    for (kind, backend, tx_ddl) in [
        (Kind::Postgres, "postgres", true),
        (Kind::MySql, "mariadb", false),
        (Kind::Sqlite, "sqlite", true),
    ] {
        let v = compat_flags(kind).await;
        if v.is_null() {
            continue;
        }
        assert_eq!(v["backend"], backend);
        assert_eq!(v["flags"]["transactional_ddl"], tx_ddl, "{backend}");
        if kind == Kind::MySql {
            assert_eq!(v["flags"]["sequences"], true, "MariaDB 10.3+ has sequences");
        }
    }
    // A named backend and version needs no database.
    let (code, out, _) = plinth(&["compat", "--backend", "mysql:8.0.36", "--format", "json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["flags"]["sequences"], false);
}

#[test]
fn lint_flags_a_bad_migration_and_needs_no_database() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("0001_a.up.sql"),
        "CREATE TABLE a (id INTEGER PRIMARY KEY);\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("0001_a.down.sql"), "DROP TABLE a;\n").unwrap();
    std::fs::write(
        dir.path().join("0002_idx.up.sql"),
        "-- builds an index\nCREATE INDEX CONCURRENTLY a_id ON a (id);\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("0002_idx.down.sql"), "DROP INDEX a_id;\n").unwrap();
    let (code, out, err) = plinth(&[
        "--database-url",
        "postgres://nobody@127.0.0.1:1/x",
        "--source",
        dir.path().to_str().unwrap(),
        "lint",
        "--target",
        "postgres",
        "--format",
        "json",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let f = v
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            f["file"]
                .as_str()
                .unwrap_or("")
                .ends_with("0002_idx.up.sql")
        })
        .expect("finding for 0002");
    assert_eq!(f["line"], 2);
    assert_eq!(f["severity"], "error");
}

#[tokio::test]
async fn pool_load_and_doctor_report_json() {
    for kind in [Kind::Postgres, Kind::MySql, Kind::Sqlite] {
        let Some(db) = plinth_testkit::TestDb::create(kind).await else {
            continue;
        };
        let (code, out, err) = plinth(&[
            "--database-url",
            &db.url,
            "pool",
            "load",
            "--duration",
            "1",
            "--tasks",
            "8",
            "--max-connections",
            "4",
            "--hold-ms",
            "20",
            "--format",
            "json",
        ]);
        assert_eq!(code, 0, "{kind:?}: {err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert!(v["operations"].as_u64().unwrap() > 0);
        assert_eq!(v["failed"], 0);
        assert_eq!(v["stats"]["max"], 4);
        assert!(
            v["stats"]["acquires_total"].as_u64().unwrap() >= v["operations"].as_u64().unwrap()
        );
        let (code, out, err) = plinth(&["--database-url", &db.url, "doctor", "--format", "json"]);
        assert!(code == 0 || code == 1, "{kind:?}: {err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert!(v.is_object(), "{out}");
    }
}
