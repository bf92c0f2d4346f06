//! `plinth.toml`: settings kept beside the migrations, below flags and environment variables.
//! SQLite only (files in a temporary directory), so these run without servers.

use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;

const SECRET: &str = "Sup3rS3cretPw";

/// `plinth` with no URL, config or table from the environment, run in `cwd`.
fn plinth(cwd: &Path) -> Command {
    let mut c = Command::cargo_bin("plinth").unwrap();
    c.env_remove("DATABASE_URL")
        .env_remove("PLINTH_CONFIG")
        .env_remove("RUST_LOG")
        .current_dir(cwd);
    c
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    plinth_testkit::outcome(cmd.output().unwrap())
}

/// The versions `status --format json` reports as applied.
fn applied(cmd: &mut Command) -> Vec<i64> {
    let (code, out, err) = run(cmd.args(["--format", "json", "status"]));
    assert_eq!(code, 0, "{out}\n{err}");
    let status: Value = serde_json::from_str(&out).unwrap();
    status["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["state"] == "applied")
        .map(|m| m["version"].as_i64().unwrap())
        .collect()
}

#[test]
fn the_config_file_supplies_url_source_and_table_and_flags_and_env_win() {
    let project = tempfile::tempdir().unwrap();
    let dir = project.path();
    std::fs::create_dir_all(dir.join("db/migrations")).unwrap();
    std::fs::write(
        dir.join("db/migrations/0001_a.sql"),
        "CREATE TABLE a (id INTEGER);\n",
    )
    .unwrap();
    let app_db = dir.join("app.db");
    std::fs::write(
        dir.join("plinth.toml"),
        format!(
            "database_url = \"sqlite:{}\"\nsource = \"db/migrations\"\nhistory_table = \"schema_log\"\n",
            app_db.display()
        ),
    )
    .unwrap();

    // ./plinth.toml is read from the working directory.
    let (code, out, err) = run(plinth(dir).arg("migrate"));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(app_db.is_file(), "the file's database_url was used");
    // The file's history_table: under the default table name nothing is recorded.
    let mut cmd = plinth(dir);
    cmd.args(["--history-table", "plinth_migration_history"]);
    assert!(applied(&mut cmd).is_empty());
    assert_eq!(applied(&mut plinth(dir)), [1]);

    // From elsewhere, --config names it; `source` stays relative to the file, not to the cwd.
    let elsewhere = tempfile::tempdir().unwrap();
    let mut cmd = plinth(elsewhere.path());
    cmd.arg("--config").arg(dir.join("plinth.toml"));
    assert_eq!(applied(&mut cmd), [1]);
    let mut cmd = plinth(elsewhere.path());
    cmd.env("PLINTH_CONFIG", dir.join("plinth.toml"));
    assert_eq!(applied(&mut cmd), [1], "PLINTH_CONFIG names it too");

    // A flag wins over the file, and so does DATABASE_URL.
    let flag_db = dir.join("flag.db");
    let (code, out, err) = run(plinth(dir)
        .arg("--database-url")
        .arg(format!("sqlite:{}", flag_db.display()))
        .arg("migrate"));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(flag_db.is_file());
    let env_db = dir.join("env.db");
    let (code, out, err) = run(plinth(dir)
        .env("DATABASE_URL", format!("sqlite:{}", env_db.display()))
        .arg("migrate"));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(env_db.is_file());
    // ... and --source over the file's source: an empty directory has nothing applied.
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    let mut cmd = plinth(dir);
    cmd.args(["--source", "empty"]);
    assert!(applied(&mut cmd).is_empty());
}

#[test]
fn bad_config_files_are_refused_by_name_and_line_without_their_secrets() {
    let project = tempfile::tempdir().unwrap();
    let dir = project.path();
    let url = format!("postgres://app:{SECRET}@127.0.0.1:1/app");
    for (case, text, expect) in [
        (
            "misspelt key",
            format!("database_url = \"{url}\"\nsourc = \"migrations\"\n"),
            "line 2",
        ),
        (
            "unterminated string",
            format!("history_table = \"t\"\ndatabase_url = \"{url}\n"),
            "line 2",
        ),
        ("wrong type", "history_table = 7\n".to_string(), "line 1"),
    ] {
        std::fs::write(dir.join("plinth.toml"), &text).unwrap();
        let (code, out, err) = run(plinth(dir).arg("status"));
        assert_eq!(code, 2, "{case}: {out}\n{err}");
        assert!(
            err.contains("plinth.toml") && err.contains(expect),
            "{case}: names the file and line: {err}"
        );
        assert!(
            !err.contains(SECRET) && !out.contains(SECRET),
            "{case}: the password is not shown: {err}"
        );
    }
    let (code, _, err) = run(plinth(dir).args(["--config", "no-such.toml", "status"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no-such.toml"), "{err}");
}
