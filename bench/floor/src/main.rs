//! The benchmark floor: a plain sqlx program with no tracking at all, so plinth's overhead shows
//! as a ratio. `select URL` connects and runs one `SELECT 1` (process start + connect + one round
//! trip); `apply URL DIR` runs every `*.sql` file in DIR, in name order, each in its own
//! transaction on one connection (MySQL/MariaDB: no transaction, as their DDL commits implicitly).
//!
//! Connection options match plinth's (`crates/plinth/src/backend/conn.rs`): MySQL sessions send no
//! `SET` at connect and statement logging is off; TLS follows the URL (`sslmode` / `ssl-mode`).

use anyhow::{bail, Context, Result};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};
use std::path::Path;
use std::str::FromStr;

/// One connection to whichever backend the URL names.
enum Conn {
    Pg(PgConnection),
    My(MySqlConnection),
    Lite(SqliteConnection),
}

/// Connect with the options plinth uses, so the floor differs from plinth only in what it sends.
async fn connect(url: &str) -> Result<Conn> {
    Ok(if url.starts_with("postgres") {
        let o = PgConnectOptions::from_str(url)?.disable_statement_logging();
        Conn::Pg(PgConnection::connect_with(&o).await?)
    } else if url.starts_with("mysql") || url.starts_with("mariadb") {
        let o = MySqlConnectOptions::from_str(&url.replacen("mariadb:", "mysql:", 1))?
            .pipes_as_concat(false)
            .no_engine_substitution(false)
            .timezone(None)
            .set_names(false)
            .disable_statement_logging();
        Conn::My(MySqlConnection::connect_with(&o).await?)
    } else if url.starts_with("sqlite") {
        let o = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .disable_statement_logging();
        Conn::Lite(SqliteConnection::connect_with(&o).await?)
    } else {
        bail!("unsupported URL scheme (postgres://, mysql://, mariadb://, sqlite:)");
    })
}

/// Run one script with the simple-query protocol, as a migration tool does with a file.
async fn script<C>(c: &mut C, sql: &str) -> Result<()>
where
    for<'c> &'c mut C: Executor<'c>,
{
    c.execute(sqlx::raw_sql(AssertSqlSafe(sql.to_string())))
        .await?;
    Ok(())
}

/// Apply one migration in its own transaction (none on MySQL/MariaDB, like every peer does).
async fn apply_one(conn: &mut Conn, sql: &str) -> Result<()> {
    match conn {
        Conn::Pg(c) => {
            let mut tx = c.begin().await?;
            script(&mut *tx, sql).await?;
            tx.commit().await?;
        }
        Conn::Lite(c) => {
            let mut tx = c.begin().await?;
            script(&mut *tx, sql).await?;
            tx.commit().await?;
        }
        Conn::My(c) => script(c, sql).await?,
    }
    Ok(())
}

async fn select_one(conn: &mut Conn) -> Result<i32> {
    let q = "SELECT 1";
    Ok(match conn {
        Conn::Pg(c) => sqlx::query_scalar(q).fetch_one(c).await?,
        Conn::My(c) => sqlx::query_scalar(q).fetch_one(c).await?,
        Conn::Lite(c) => sqlx::query_scalar(q).fetch_one(c).await?,
    })
}

/// The `*.sql` files of a directory, in name order (the corpus names sort by version).
fn files(dir: &Path) -> Result<Vec<String>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display())))
        .collect()
}

async fn run(args: &[String]) -> Result<()> {
    match args {
        [cmd, url] if cmd == "select" => {
            let mut conn = connect(url).await?;
            select_one(&mut conn).await?;
            close(conn).await
        }
        [cmd, url, dir] if cmd == "apply" => {
            let bodies = files(Path::new(dir))?;
            let mut conn = connect(url).await?;
            for sql in &bodies {
                apply_one(&mut conn, sql).await?;
            }
            close(conn).await
        }
        _ => bail!("usage: plinth-bench-floor select URL | apply URL DIR"),
    }
}

async fn close(conn: Conn) -> Result<()> {
    match conn {
        Conn::Pg(c) => c.close().await?,
        Conn::My(c) => c.close().await?,
        Conn::Lite(c) => c.close().await?,
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The same runtime flavour as the plinth CLI.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(&args))
}
