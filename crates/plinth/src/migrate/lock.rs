//! One migrator per database at a time. The lock is session-level and lives on its own connection
//! (or, for SQLite, an OS file lock), so a process that dies releases it; a guard releases it on
//! every other exit path. Strategies are chosen per engine and can be swapped (Galera needs its own).

use crate::backend::{ConnectConfig, ConnectError, Db, Driver};
use crate::migrate::history::{exec_bound, Val};
use crate::with_conn;
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Who holds the lock, when the server can tell.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct LockHolder {
    /// Server process / connection id.
    pub pid: Option<i64>,
    /// The holder's application name.
    pub application_name: Option<String>,
    /// Client address.
    pub client: Option<String>,
    /// Since when the holder's session has existed.
    pub since: Option<String>,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(p) = self.pid {
            parts.push(format!("pid {p}"));
        }
        if let Some(a) = &self.application_name {
            parts.push(format!("application `{a}`"));
        }
        if let Some(c) = &self.client {
            parts.push(format!("from {c}"));
        }
        if let Some(s) = &self.since {
            parts.push(format!("connected since {s}"));
        }
        if parts.is_empty() {
            f.write_str("unknown holder")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// Errors taking the migration lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another migrator held the lock for the whole timeout.
    #[error("another migrator holds the migration lock ({}); gave up after {waited_s:.0}s (raise --lock-timeout, or find and stop the other migrator)", holder.as_ref().map(|h| h.to_string()).unwrap_or_else(|| "holder unknown".into()))]
    Timeout {
        /// How long we waited.
        waited_s: f64,
        /// Who holds it.
        holder: Option<LockHolder>,
    },
    /// The lock's connection could not be opened.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The server answered the lock function with an error or with NULL.
    #[error("lock query failed: {0}")]
    Database(#[from] sqlx::Error),
    /// The server answered `GET_LOCK` with NULL: no lock was taken.
    #[error("the server answered {function} with NULL: no lock was taken")]
    NotTaken {
        /// The function.
        function: &'static str,
    },
    /// The SQLite lock file could not be opened or locked.
    #[error("lock file {path}: {reason}")]
    File {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
}

/// A held migration lock; dropping it releases it (closing its connection or file).
pub struct LockGuard {
    inner: Held,
}

enum Held {
    Session {
        db: Db,
        release_sql: String,
        key: Val,
    },
    File(std::fs::File),
    None,
}

impl LockGuard {
    /// Release explicitly and wait for the server to confirm.
    pub async fn release(self) -> Result<(), sqlx::Error> {
        match self.inner {
            Held::Session {
                mut db,
                release_sql,
                key,
            } => {
                let r = exec_bound(&mut db, &release_sql, &[key]).await;
                tracing::debug!("migration lock released");
                let _ = db.close().await;
                r.map(|_| ())
            }
            Held::File(f) => {
                let r = f.unlock();
                tracing::debug!("migration lock file released");
                r.map_err(sqlx::Error::Io)
            }
            Held::None => Ok(()),
        }
    }
}

fn lock_name(table: &str) -> String {
    format!("plinth.{table}")
}

const PG_TRY: &str = "SELECT CASE WHEN pg_try_advisory_lock(hashtextextended(current_database() || '/' || $1, 0)) THEN 1::bigint ELSE 0::bigint END";
const PG_RELEASE: &str =
    "SELECT pg_advisory_unlock(hashtextextended(current_database() || '/' || $1, 0))";
// Lock names are limited to 64 characters: hash database + table.
const MY_TRY: &str = "SELECT CAST(GET_LOCK(CONCAT('plinth_', LEFT(SHA2(CONCAT(DATABASE(), '/', ?), 256), 56)), 1) AS SIGNED)";
const MY_RELEASE: &str =
    "SELECT RELEASE_LOCK(CONCAT('plinth_', LEFT(SHA2(CONCAT(DATABASE(), '/', ?), 256), 56)))";

/// Take the migration lock for `table` on the database at `url`, waiting up to `timeout` and
/// logging while it waits.
pub async fn acquire(
    url: &str,
    config: &ConnectConfig,
    driver: Driver,
    table: &str,
    timeout: Duration,
) -> Result<LockGuard, LockError> {
    let name = lock_name(table);
    match driver {
        Driver::Sqlite => acquire_file(url, timeout).await,
        Driver::Postgres | Driver::MySql => {
            let mut db = Db::connect(url, config).await?;
            poll(&mut db, &name, timeout, "another migrator").await?;
            let release_sql = if driver == Driver::Postgres {
                PG_RELEASE
            } else {
                MY_RELEASE
            };
            Ok(LockGuard {
                inner: Held::Session {
                    db,
                    release_sql: release_sql.to_string(),
                    key: Val::Text(name),
                },
            })
        }
    }
}

/// Take the second, "work" lock on the connection that runs the migrations (after [`acquire`]).
///
/// Why: the migration lock lives on its own idle connection, so when a migrator is killed the
/// server ends that session at once, while the session running the migration goes on executing
/// its current statement (MySQL/MariaDB DDL, PostgreSQL `no-transaction` statements) until it
/// finishes. Holding a second session lock on the working connection makes the next migrator
/// wait until that statement is over, instead of reading history, or inspecting the schema,
/// while it is still changing. Released by [`release_work`] or when the connection closes.
pub async fn acquire_work(db: &mut Db, table: &str, timeout: Duration) -> Result<(), LockError> {
    if db.driver == Driver::Sqlite {
        return Ok(());
    }
    poll(
        db,
        &format!("{}.work", lock_name(table)),
        timeout,
        "the connection of an earlier migrator that is still executing a statement",
    )
    .await
}

/// Release the work lock taken by [`acquire_work`].
pub async fn release_work(db: &mut Db, table: &str) -> Result<(), sqlx::Error> {
    let sql = match db.driver {
        Driver::Sqlite => return Ok(()),
        Driver::Postgres => PG_RELEASE,
        Driver::MySql => MY_RELEASE,
    };
    exec_bound(db, sql, &[Val::Text(format!("{}.work", lock_name(table)))])
        .await
        .map(|_| ())
}

/// Try the session lock `key` on `db` until it is taken or `timeout` passes.
async fn poll(db: &mut Db, key: &str, timeout: Duration, whom: &str) -> Result<(), LockError> {
    let start = Instant::now();
    let driver = db.driver;
    let try_sql = if driver == Driver::Postgres {
        PG_TRY
    } else {
        MY_TRY
    };
    let mut last_log = Instant::now();
    let mut logged = false;
    loop {
        let got: Option<i64> = with_conn!(&mut db.conn, c => {
            sqlx::query_scalar::<_, Option<i64>>(try_sql).bind(key).fetch_one(&mut *c).await?
        });
        match got {
            Some(1) => {
                tracing::debug!(
                    lock = key,
                    waited_ms = start.elapsed().as_millis() as u64,
                    "migration lock acquired"
                );
                return Ok(());
            }
            Some(_) => {}
            None => {
                return Err(LockError::NotTaken {
                    function: "GET_LOCK",
                })
            }
        }
        if start.elapsed() >= timeout {
            let holder = holder(db, driver, key).await;
            return Err(LockError::Timeout {
                waited_s: start.elapsed().as_secs_f64(),
                holder,
            });
        }
        if !logged || last_log.elapsed() >= Duration::from_secs(5) {
            let h = holder(db, driver, key).await;
            tracing::info!(holder = %h.map(|h| h.to_string()).unwrap_or_else(|| "unknown".into()), "waiting for the migration lock held by {whom}");
            logged = true;
            last_log = Instant::now();
        }
        if driver == Driver::Postgres {
            // GET_LOCK waits server-side for 1 s; pg_try_advisory_lock returns at once.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// pid, application name, client address, session start.
type HolderRow = (i64, Option<String>, Option<String>, Option<String>);

async fn holder(db: &mut Db, driver: Driver, key: &str) -> Option<LockHolder> {
    match driver {
        Driver::Postgres => {
            let sql = "SELECT a.pid::bigint, a.application_name, host(a.client_addr), \
                 to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ') \
                 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                 WHERE l.locktype = 'advisory' AND l.granted \
                 AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended(current_database() || '/' || $1, 0) \
                 LIMIT 1";
            let row: Option<HolderRow> = with_conn!(&mut db.conn, c => {
                sqlx::query_as(sql).bind(key).fetch_optional(&mut *c).await.ok().flatten()
            });
            row.map(|(pid, app, client, since)| LockHolder {
                pid: Some(pid),
                application_name: app,
                client,
                since,
            })
        }
        Driver::MySql => {
            let sql = "SELECT CAST(IS_USED_LOCK(CONCAT('plinth_', LEFT(SHA2(CONCAT(DATABASE(), '/', ?), 256), 56))) AS SIGNED)";
            let pid: Option<i64> = with_conn!(&mut db.conn, c => {
                sqlx::query_scalar::<_, Option<i64>>(sql).bind(key).fetch_one(&mut *c).await.ok().flatten()
            });
            pid.map(|p| LockHolder {
                pid: Some(p),
                ..Default::default()
            })
        }
        Driver::Sqlite => None,
    }
}

fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" || url.contains("mode=memory") {
        return None;
    }
    Some(PathBuf::from(path))
}

async fn acquire_file(url: &str, timeout: Duration) -> Result<LockGuard, LockError> {
    let Some(db_path) = sqlite_path(url) else {
        return Ok(LockGuard { inner: Held::None });
    };
    let mut lock_path = db_path.into_os_string();
    lock_path.push(".plinth-lock");
    let lock_path = PathBuf::from(lock_path);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&lock_path)
        .map_err(|e| LockError::File {
            path: lock_path.display().to_string(),
            reason: e.to_string(),
        })?;
    let start = Instant::now();
    let mut logged = false;
    loop {
        match file.try_lock() {
            Ok(()) => {
                return Ok(LockGuard {
                    inner: Held::File(file),
                })
            }
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(LockError::File {
                    path: lock_path.display().to_string(),
                    reason: e.to_string(),
                })
            }
        }
        if start.elapsed() >= timeout {
            return Err(LockError::Timeout {
                waited_s: start.elapsed().as_secs_f64(),
                holder: None,
            });
        }
        if !logged {
            tracing::info!(lock_file = %lock_path.display(), "waiting for the migration lock held by another migrator");
            logged = true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
