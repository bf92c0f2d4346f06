//! Fleet mode: 200 SQLite and 50 PostgreSQL tenant databases, one deliberately broken.

use assert_cmd::Command;
use plinth_testkit::{test_db, Kind, TestDb};
use serde_json::Value;

fn run(cmd: &mut Command) -> (i32, String, String) {
    plinth_testkit::outcome(cmd.output().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_of_250_with_one_broken_target() {
    let t0 = std::time::Instant::now();
    let mut pg: Vec<TestDb> = Vec::new();
    for _ in 0..50 {
        pg.push(test_db!(Kind::Postgres));
    }
    let mut lite: Vec<TestDb> = Vec::new();
    for _ in 0..200 {
        lite.push(test_db!(Kind::Sqlite));
    }
    eprintln!("created 250 databases: {:?}", t0.elapsed());
    // Tenant 17 already has a table the second migration creates: it must fail alone.
    pg[17]
        .exec("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
        .await
        .unwrap();
    let broken = pg[17].url.clone();

    let src = tempfile::tempdir().unwrap();
    std::fs::write(
        src.path().join("0001_customers.sql"),
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(80));\n",
    )
    .unwrap();
    std::fs::write(
        src.path().join("0002_orders.sql"),
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER);\n",
    )
    .unwrap();
    std::fs::write(
        src.path().join("0003_seed.sql"),
        "INSERT INTO customers (id, name) VALUES (1, 'first');\n",
    )
    .unwrap();
    let targets = src.path().join("targets.txt");
    let mut lines = vec!["# tenants".to_string()];
    lines.extend(pg.iter().chain(lite.iter()).map(|d| d.url.clone()));
    std::fs::write(&targets, lines.join("\n")).unwrap();

    let fleet = |cmd: &str| {
        let mut c = Command::cargo_bin("plinth").unwrap();
        c.env_remove("DATABASE_URL")
            .args(["--format", "json", "--source"])
            .arg(src.path())
            .arg(cmd)
            .arg("--targets")
            .arg(&targets)
            .args(["--parallel", "8"]);
        run(&mut c)
    };
    let t0 = std::time::Instant::now();
    let (code, out, err) = fleet("migrate");
    eprintln!("first fleet run: {:?}", t0.elapsed());
    assert_eq!(code, 1, "one target failed: {err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["summary"]["total"], 250);
    assert_eq!(v["summary"]["applied"], 249, "{}", v["summary"]);
    assert_eq!(v["summary"]["failed"], 1);
    let failed: Vec<&Value> = v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["outcome"] == "failed")
        .collect();
    assert_eq!(failed[0]["target"].as_str().unwrap(), broken);
    assert!(
        failed[0]["reason"].as_str().unwrap().contains("orders"),
        "{}",
        failed[0]
    );

    // A second run touches nothing but the broken target.
    let t1 = std::time::Instant::now();
    let (code, out, _) = fleet("migrate");
    eprintln!("second fleet run: {:?}", t1.elapsed());
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["summary"]["already_current"], 249, "{}", v["summary"]);
    assert_eq!(v["summary"]["failed"], 1);

    let t1 = std::time::Instant::now();
    let (code, out, _) = fleet("status");
    eprintln!("status run: {:?}", t1.elapsed());
    assert_eq!(code, 0, "every target answered");
    let v: Value = serde_json::from_str(&out).unwrap();
    let all = v["targets"].as_array().unwrap();
    let healthy = all
        .iter()
        .filter(|t| t["applied"] == 3 && t["pending"] == 0)
        .count();
    assert_eq!(healthy, 249);
    let sick: Vec<&Value> = all.iter().filter(|t| t["failed"] == 1).collect();
    assert_eq!(sick.len(), 1);
    assert_eq!(sick[0]["target"].as_str().unwrap(), broken);
    let t1 = std::time::Instant::now();
    TestDb::drop_all(pg).await;
    eprintln!("dropped: {:?}", t1.elapsed());
}
