//! Every integration test gets its own freshly created database on a real server, so tests run in
//! parallel and never see each other's tables. The database is dropped when the handle drops.
//!
//! Server URLs come from `PLINTH_TEST_POSTGRES_URL` and `PLINTH_TEST_MYSQL_URL` (defaults: the local
//! servers). When a server cannot be reached the test is skipped with a printed reason, unless
//! `PLINTH_REQUIRE_SERVERS=1`, in which case it fails.

use rand::Rng;
use sqlx::{Connection, Executor};
use std::path::PathBuf;

/// Exit code (-1 if killed), stdout and stderr of a command that ran: what a user of the CLI sees.
pub fn outcome(out: std::process::Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Which server a test database lives on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
    /// A SQLite file in a temporary directory.
    Sqlite,
}

impl Kind {
    /// All kinds, for tests that run on every backend.
    pub const ALL: [Kind; 3] = [Kind::Postgres, Kind::MySql, Kind::Sqlite];

    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Postgres => "postgres",
            Kind::MySql => "mysql",
            Kind::Sqlite => "sqlite",
        }
    }
}

/// The admin URL for a server kind (not for SQLite).
pub fn server_url(kind: Kind) -> String {
    match kind {
        Kind::Postgres => std::env::var("PLINTH_TEST_POSTGRES_URL").unwrap_or_else(|_| {
            "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable".into()
        }),
        Kind::MySql => std::env::var("PLINTH_TEST_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test?ssl-mode=disabled".into()),
        Kind::Sqlite => String::new(),
    }
}

fn servers_required() -> bool {
    std::env::var("PLINTH_REQUIRE_SERVERS").is_ok_and(|v| v == "1")
}

/// A database created for one test and dropped afterwards.
pub struct TestDb {
    /// The backend.
    pub kind: Kind,
    /// The database's name (for SQLite, the file's stem).
    pub name: String,
    /// A URL that connects to this database.
    pub url: String,
    admin_url: String,
    _dir: Option<tempfile::TempDir>,
    dropped: bool,
}

impl TestDb {
    /// Create a fresh database, or return None (after printing why) when the server is
    /// unreachable and servers are not required. Panics when `PLINTH_REQUIRE_SERVERS=1`.
    pub async fn create(kind: Kind) -> Option<TestDb> {
        let name = format!("plinth_t_{:016x}", rand::rng().random::<u64>());
        match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path: PathBuf = dir.path().join(format!("{name}.db"));
                Some(TestDb {
                    kind,
                    url: format!("sqlite:{}", path.display()),
                    name,
                    admin_url: String::new(),
                    _dir: Some(dir),
                    dropped: false,
                })
            }
            Kind::Postgres | Kind::MySql => {
                let admin_url = server_url(kind);
                if let Err(e) =
                    admin_exec(kind, &admin_url, &format!("CREATE DATABASE {name}")).await
                {
                    let msg = format!("{} server unreachable ({e})", kind.name());
                    if servers_required() {
                        panic!("{msg} and PLINTH_REQUIRE_SERVERS=1");
                    }
                    eprintln!("skipping test: {msg}; set PLINTH_REQUIRE_SERVERS=1 to fail instead");
                    return None;
                }
                let mut url = url::Url::parse(&admin_url).expect("test server URL parses");
                url.set_path(&format!("/{name}"));
                Some(TestDb {
                    kind,
                    url: url.to_string(),
                    name,
                    admin_url,
                    _dir: None,
                    dropped: false,
                })
            }
        }
    }

    /// Path of the SQLite file (None for servers).
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.url.strip_prefix("sqlite:").map(PathBuf::from)
    }

    /// A URL to the same server with a password added, for redaction tests (the server ignores it
    /// under trust auth, MariaDB root with an empty password rejects it).
    pub fn url_with_password(&self, password: &str) -> String {
        let mut url = url::Url::parse(&self.url).expect("test URL parses");
        let _ = url.set_password(Some(password));
        url.to_string()
    }

    /// Run a statement through a fresh connection to this database (test setup and assertions).
    pub async fn exec(&self, sql: &str) -> Result<(), sqlx::Error> {
        admin_exec(self.kind, &self.url, sql).await
    }
}

async fn admin_exec(kind: Kind, url: &str, sql: &str) -> Result<(), sqlx::Error> {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    match kind {
        Kind::Postgres => {
            let mut c = sqlx::PgConnection::connect(url).await?;
            c.execute(sqlx::raw_sql(sql)).await?;
            c.close().await
        }
        Kind::MySql => {
            let mut c = sqlx::MySqlConnection::connect(url).await?;
            c.execute(sqlx::raw_sql(sql)).await?;
            c.close().await
        }
        Kind::Sqlite => {
            let opts: sqlx::sqlite::SqliteConnectOptions = url.parse()?;
            let mut c = sqlx::SqliteConnection::connect_with(&opts.create_if_missing(true)).await?;
            c.execute(sqlx::raw_sql(sql)).await?;
            c.close().await
        }
    }
}

fn drop_sql(kind: Kind, name: &str) -> String {
    match kind {
        Kind::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        _ => format!("DROP DATABASE IF EXISTS {name}"),
    }
}

impl TestDb {
    /// Drop many databases at once. PostgreSQL's DROP DATABASE waits for a checkpoint; concurrent
    /// drops share one, so a test with dozens of databases should drop them this way.
    pub async fn drop_all(dbs: Vec<TestDb>) {
        let mut tasks = Vec::new();
        for mut db in dbs {
            if db.kind == Kind::Sqlite {
                continue;
            }
            db.dropped = true;
            let (kind, admin, name) = (db.kind, db.admin_url.clone(), db.name.clone());
            tasks.push(tokio::spawn(async move {
                if let Err(e) = admin_exec(kind, &admin, &drop_sql(kind, &name)).await {
                    eprintln!("warning: could not drop test database {name}: {e}");
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.kind == Kind::Sqlite || self.dropped {
            return;
        }
        let (kind, admin, name) = (self.kind, self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime; a separate thread with its own runtime may block.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                if let Err(e) = rt.block_on(admin_exec(kind, &admin, &drop_sql(kind, &name))) {
                    eprintln!("warning: could not drop test database {name}: {e}");
                }
            }
        })
        .join();
    }
}

/// Create a test database or skip the test (return from it) with a printed reason.
#[macro_export]
macro_rules! test_db {
    ($kind:expr) => {
        match $crate::TestDb::create($kind).await {
            Some(db) => db,
            None => return,
        }
    };
}

/// Open a fresh connection of the right concrete type to a test database and run `$body` with it.
macro_rules! on_connection {
    ($db:expr, $c:ident => $body:expr) => {
        match $db.kind {
            Kind::Postgres => {
                let mut $c = sqlx::PgConnection::connect(&$db.url)
                    .await
                    .expect("connect");
                $body
            }
            Kind::MySql => {
                let mut $c = sqlx::MySqlConnection::connect(&$db.url)
                    .await
                    .expect("connect");
                $body
            }
            Kind::Sqlite => {
                let mut $c = sqlx::SqliteConnection::connect(&$db.url)
                    .await
                    .expect("connect");
                $body
            }
        }
    };
}

impl TestDb {
    /// Every history row as text (version, name, checksum, status, applied_at, duration, attempts,
    /// error), read independently of plinth's own code, so tests can compare before and after.
    pub async fn history_rows(&self, table: &str) -> Vec<String> {
        let (ts, q) = match self.kind {
            Kind::Postgres => ("applied_at::text", format!("\"{table}\"")),
            Kind::MySql => ("CAST(applied_at AS CHAR)", format!("`{table}`")),
            Kind::Sqlite => ("applied_at", format!("\"{table}\"")),
        };
        let sql = format!(
            "SELECT version, name, checksum, status, {ts}, duration_ms, attempts, COALESCE(error_message, '') FROM {q} ORDER BY version"
        );
        type Row = (i64, String, String, String, String, i64, i64, String);
        let rows: Vec<Row> = on_connection!(self, c => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&mut c).await.expect("read history")
        });
        rows.into_iter()
            .map(|r| {
                format!(
                    "{}|{}|{}|{}|{}|{}|{}|{}",
                    r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7
                )
            })
            .collect()
    }

    /// Whether a table exists in this database.
    pub async fn table_exists(&self, table: &str) -> bool {
        let sql = match self.kind {
            Kind::Postgres => "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name = $1",
            Kind::MySql => "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?",
            Kind::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
        };
        let n: i64 = on_connection!(self, c => {
            sqlx::query_scalar(sql).bind(table).fetch_one(&mut c).await.expect("query")
        });
        n > 0
    }
}
