//! One migrator per database at a time. The lock is session-level and lives on its own connection
//! (or, for SQLite, an OS file lock), so a process that dies releases it; a guard releases it on
//! every other exit path. Strategies are chosen per engine and can be swapped ([`LockStrategy`]):
//! on a Galera cluster `GET_LOCK` is node-local, so plinth takes a lease row instead (see
//! [`LockStrategy::GaleraLease`] and docs/DATABASE_MIGRATIONS.md, "Clusters and replicas").

use crate::backend::{ConnectConfig, ConnectError, Db, Driver};
use crate::migrate::history::{exec_bound, Val};
use crate::with_conn;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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
    #[error("lock query failed: {}", crate::errors::display(.0))]
    Database(#[from] sqlx::Error),
    /// The server answered `GET_LOCK` with NULL: no lock was taken.
    #[error("the server answered {function} with NULL: no lock was taken")]
    NotTaken {
        /// The function.
        function: &'static str,
    },
    /// A Galera lease was lost while this migrator held it (renewal failed, or another
    /// migrator took it over after it expired): it stops before touching anything else.
    #[error("lost the cluster-wide migration lease `{lock}` ({reason}); stopped before the next migration. Run `plinth migrate` again: applied migrations are recorded")]
    Lost {
        /// The lease's name.
        lock: String,
        /// What showed it was lost.
        reason: String,
    },
    /// On a Galera cluster, a history write plinth depends on was not found when read back
    /// (a transaction the cluster aborted can answer COMMIT with OK while saving nothing).
    #[error("history write not confirmed on the cluster: {what}; the migration's effects may be applied without a record: inspect, then use `plinth repair`")]
    Unconfirmed {
        /// Which write.
        what: String,
    },
    /// `PLINTH_LOCK_STRATEGY` names no strategy.
    #[error("PLINTH_LOCK_STRATEGY=`{0}` is not a lock strategy: use auto, session (or get_lock, advisory) or lease")]
    UnknownStrategy(String),
    /// The SQLite lock file could not be opened or locked.
    #[error("lock file {path}: {reason}")]
    File {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
}

/// How the migration lock is taken: one strategy per engine, swappable for tests and diagnosis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LockStrategy {
    /// A session-level lock (`pg_try_advisory_lock`, `GET_LOCK`) on the lock's own connection:
    /// released by the server when the connection dies. Correct on one server; node-local (and
    /// so unsafe) on a Galera cluster.
    Session,
    /// A lease row in `<history table>_lock`, taken by a replicated write that Galera certifies
    /// cluster-wide (a racer on another node fails certification with 1213 and sees the winner),
    /// renewed by a background task on the lock's connection, expiring [`LEASE`] after its holder
    /// stops renewing, so a dead holder never leaves a stale lock.
    GaleraLease,
    /// An OS file lock next to the SQLite database file.
    File,
}

/// How long a Galera lease lives without renewal: the longest a dead holder blocks others.
pub const LEASE: Duration = Duration::from_secs(15);
/// How often the holder renews its lease (a quarter of [`LEASE`], so three renewals may fail
/// transiently, e.g. with a certification conflict, before it expires).
pub const RENEW_EVERY: Duration = Duration::from_millis(3750);

impl LockStrategy {
    /// The strategy forced by `PLINTH_LOCK_STRATEGY` (`auto` or unset: None, let plinth choose).
    /// A test and diagnosis switch: `session` on Galera reproduces the node-local lock's failure.
    pub fn from_env() -> Result<Option<LockStrategy>, LockError> {
        match std::env::var("PLINTH_LOCK_STRATEGY") {
            Err(_) => Ok(None),
            Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
                "" | "auto" => Ok(None),
                "session" | "get_lock" | "advisory" => Ok(Some(LockStrategy::Session)),
                "lease" | "galera_lease" => Ok(Some(LockStrategy::GaleraLease)),
                _ => Err(LockError::UnknownStrategy(v)),
            },
        }
    }
}

/// A held migration lock; dropping it releases it (closing its connection or file; a dropped
/// lease stops being renewed and expires).
pub struct LockGuard {
    inner: Held,
    fence: Fence,
}

enum Held {
    Session {
        db: Db,
        release_sql: String,
        key: Val,
    },
    Lease {
        stop: tokio::sync::oneshot::Sender<()>,
        task: tokio::task::JoinHandle<Result<(), sqlx::Error>>,
    },
    File(std::fs::File),
    None,
}

/// What the runner checks between migrations: whether this migrator still holds a lease, and
/// whether history writes must be read back (Galera). Cheap to clone; inert for session locks
/// on a single server.
#[derive(Clone, Default)]
pub struct Fence {
    lease: Option<Arc<Lease>>,
    confirm_writes: bool,
}

struct Lease {
    table: String,
    name: String,
    token: String,
    lost: AtomicBool,
}

impl Fence {
    /// Whether holding the lock must be re-checked before each migration (a Galera lease, or
    /// writes that must be read back): then no write may run ahead of that check.
    pub fn checks_each_migration(&self) -> bool {
        self.lease.is_some() || self.confirm_writes
    }

    /// Stop if the lease this run took has been lost: the renewal task said so, or the lease row,
    /// read on the migrating connection, no longer names this migrator or has expired.
    pub async fn check(&self, db: &mut Db) -> Result<(), LockError> {
        let Some(lease) = &self.lease else {
            return Ok(());
        };
        let lost = |reason: &str| LockError::Lost {
            lock: lease.name.clone(),
            reason: reason.to_string(),
        };
        if lease.lost.load(Ordering::SeqCst) {
            return Err(lost("its renewal failed"));
        }
        let sql = format!(
            "SELECT CAST(holder = ? AND expires_at > UTC_TIMESTAMP(6) AS SIGNED) FROM {} WHERE name = ?",
            lease.table
        );
        let ours: Option<Option<i64>> = with_conn!(&mut db.conn, c => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(&lease.token)
                .bind(&lease.name)
                .fetch_optional(&mut *c)
                .await?
        });
        match ours {
            Some(Some(1)) => Ok(()),
            Some(_) => Err(lost("the lease row names another holder or has expired")),
            None => Err(lost("the lease row is gone")),
        }
    }

    /// Whether history writes are read back after they commit (on a Galera cluster).
    pub fn confirms_writes(&self) -> bool {
        self.confirm_writes
    }

    /// On a Galera cluster, read back the history row of a migration this run just recorded as
    /// `success` (and, for statement-by-statement runs, every statement journaled) and fail if
    /// the cluster does not have it. Does nothing elsewhere.
    pub async fn confirm_applied(
        &self,
        db: &mut Db,
        history_table: &str,
        version: i64,
    ) -> Result<(), LockError> {
        if !self.confirm_writes {
            return Ok(());
        }
        let sql = format!(
            "SELECT status, CAST(COALESCE(statements_applied, -1) AS SIGNED), \
             CAST(COALESCE(statements_total, -1) AS SIGNED) FROM {} WHERE version = ?",
            crate::migrate::history::quote_ident(Driver::MySql, history_table)
        );
        let row: Option<(String, i64, i64)> = with_conn!(&mut db.conn, c => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(version).fetch_optional(&mut *c).await?
        });
        match row {
            Some((status, applied, total)) if status == "success" && applied == total => {
                tracing::debug!(version, "history row confirmed on the cluster");
                Ok(())
            }
            other => Err(LockError::Unconfirmed {
                what: format!(
                    "migration {version} should be `success` in {history_table}, read back {}",
                    match other {
                        None => "no row".to_string(),
                        Some((s, a, t)) =>
                            format!("status `{s}` with {a} of {t} statements journaled"),
                    }
                ),
            }),
        }
    }
}

impl LockGuard {
    /// The strategy this lock was taken with.
    pub fn strategy(&self) -> LockStrategy {
        match self.inner {
            Held::Session { .. } => LockStrategy::Session,
            Held::Lease { .. } => LockStrategy::GaleraLease,
            Held::File(_) | Held::None => LockStrategy::File,
        }
    }

    /// The fence the runner checks before each migration.
    pub fn fence(&self) -> Fence {
        self.fence.clone()
    }

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
            Held::Lease { stop, task } => {
                let _ = stop.send(());
                match task.await {
                    Ok(r) => r,
                    Err(e) => Err(sqlx::Error::Protocol(format!(
                        "the lease renewal task ended abnormally: {e}"
                    ))),
                }
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
/// logging while it waits. The strategy is chosen per engine: a lease on a Galera cluster, a
/// session lock on other servers, a file lock for SQLite; `PLINTH_LOCK_STRATEGY` overrides it.
pub async fn acquire(
    url: &str,
    config: &ConnectConfig,
    driver: Driver,
    table: &str,
    timeout: Duration,
) -> Result<LockGuard, LockError> {
    let name = lock_name(table);
    let forced = LockStrategy::from_env()?;
    match driver {
        Driver::Sqlite => acquire_file(url, timeout).await,
        Driver::Postgres | Driver::MySql => {
            let mut db = Db::connect(url, config).await?;
            let galera = if driver == Driver::MySql {
                crate::migrate::cluster::galera(&mut db).await?.is_some()
            } else {
                false
            };
            if galera {
                crate::migrate::cluster::set_sync_wait(&mut db).await?;
            }
            let strategy = match (forced, driver) {
                (Some(LockStrategy::GaleraLease), Driver::MySql) => LockStrategy::GaleraLease,
                (Some(LockStrategy::GaleraLease), _) => {
                    tracing::warn!("PLINTH_LOCK_STRATEGY=lease applies to MySQL/MariaDB only; using the session lock");
                    LockStrategy::Session
                }
                (Some(s), _) => s,
                (None, _) if galera => LockStrategy::GaleraLease,
                (None, _) => LockStrategy::Session,
            };
            if galera && strategy == LockStrategy::Session {
                tracing::warn!("PLINTH_LOCK_STRATEGY forces GET_LOCK on a Galera cluster: it is node-local, so migrators on other nodes are NOT excluded (test and diagnosis only)");
            }
            if strategy == LockStrategy::GaleraLease {
                return acquire_lease(db, table, timeout, galera).await;
            }
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
                fence: Fence {
                    lease: None,
                    confirm_writes: galera,
                },
            })
        }
    }
}

/// The lease row's identity: unique per process and attempt.
fn lease_token() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
    let nonce: u64 = rand::random();
    let mut token = format!("{}:{}:{nonce:016x}", host, std::process::id());
    token.truncate(128);
    token
}

type LeaseRow = (
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
);

/// Read the lease row: (holder, pid, client, node, acquired_at, 1 if unexpired).
async fn read_lease(db: &mut Db, table: &str, name: &str) -> Result<Option<LeaseRow>, sqlx::Error> {
    let sql = format!(
        "SELECT holder, pid, client, node, DATE_FORMAT(acquired_at, '%Y-%m-%d %H:%i:%s UTC'), \
         CAST(expires_at > UTC_TIMESTAMP(6) AS SIGNED) FROM {table} WHERE name = ?"
    );
    with_conn!(&mut db.conn, c => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(name).fetch_optional(&mut *c).await
    })
}

/// Whether a write lost to another node's (certification failure, BF abort: 1213) or to a
/// same-key insert (1062): both mean someone else holds the lease.
fn lost_race(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
        .is_some_and(|m| matches!(m.number(), 1213 | 1062 | 1205))
}

/// Take the Galera lease (see [`LockStrategy::GaleraLease`]).
async fn acquire_lease(
    mut db: Db,
    table: &str,
    timeout: Duration,
    galera: bool,
) -> Result<LockGuard, LockError> {
    let lock_table = format!("{table}_lock");
    let q = crate::migrate::history::quote_ident(Driver::MySql, &lock_table);
    let name = table.to_string();
    let token = lease_token();
    let lease_us = LEASE.as_micros() as i64;
    // TOI DDL, replicated to every node: only when the table is missing (each TOI statement
    // is ordered cluster-wide and aborts conflicting transactions on the table).
    let missing = match read_lease(&mut db, &q, &name).await {
        Ok(_) => false,
        Err(e) if crate::migrate::history::is_missing_table(&e, Driver::MySql) => true,
        Err(e) => return Err(e.into()),
    };
    if missing {
        db.execute_script(&format!(
        "CREATE TABLE IF NOT EXISTS {q} (name VARCHAR(100) NOT NULL PRIMARY KEY, \
         holder VARCHAR(128) NOT NULL, pid BIGINT NULL, client VARCHAR(255) NULL, \
         node VARCHAR(128) NULL, acquired_at DATETIME(6) NOT NULL, expires_at DATETIME(6) NOT NULL) \
         ENGINE=InnoDB"
        ))
        .await?;
    }
    let node_expr = if galera {
        "@@wsrep_node_name"
    } else {
        "@@hostname"
    };
    let insert = format!(
        "INSERT INTO {q} (name, holder, pid, client, node, acquired_at, expires_at) \
         VALUES (?, ?, ?, USER(), {node_expr}, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND)"
    );
    let take_over = format!(
        "UPDATE {q} SET holder = ?, pid = ?, client = USER(), node = {node_expr}, \
         acquired_at = UTC_TIMESTAMP(6), expires_at = UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND \
         WHERE name = ? AND expires_at <= UTC_TIMESTAMP(6)"
    );
    let pid = i64::from(std::process::id());
    let start = Instant::now();
    let mut last_log: Option<Instant> = None;
    loop {
        let current = read_lease(&mut db, &q, &name).await?;
        let attempt = match &current {
            None => Some(
                exec_bound(
                    &mut db,
                    &insert,
                    &[
                        Val::Text(name.clone()),
                        Val::Text(token.clone()),
                        Val::Int(pid),
                        Val::Int(lease_us),
                    ],
                )
                .await,
            ),
            Some(row) if row.5 == 0 => {
                tracing::info!(holder = %row.0, "taking over an expired migration lease (its holder stopped renewing it)");
                Some(
                    exec_bound(
                        &mut db,
                        &take_over,
                        &[
                            Val::Text(token.clone()),
                            Val::Int(pid),
                            Val::Int(lease_us),
                            Val::Text(name.clone()),
                        ],
                    )
                    .await,
                )
            }
            Some(_) => None,
        };
        match attempt {
            Some(Ok(_)) => {
                // COMMIT's OK is not proof on Galera: read the row back (causal read).
                if let Some(row) = read_lease(&mut db, &q, &name).await? {
                    if row.0 == token && row.5 == 1 {
                        tracing::debug!(
                            lock = %name,
                            waited_ms = start.elapsed().as_millis() as u64,
                            "migration lease acquired"
                        );
                        let lease = Arc::new(Lease {
                            table: q,
                            name,
                            token,
                            lost: AtomicBool::new(false),
                        });
                        let (stop, stopped) = tokio::sync::oneshot::channel();
                        let task = tokio::spawn(renew(db, lease.clone(), stopped));
                        return Ok(LockGuard {
                            inner: Held::Lease { stop, task },
                            fence: Fence {
                                lease: Some(lease),
                                confirm_writes: galera,
                            },
                        });
                    }
                }
            }
            Some(Err(e)) if lost_race(&e) => {
                tracing::debug!(error = %e, "lost the race for the migration lease");
            }
            Some(Err(e)) => return Err(e.into()),
            None => {}
        }
        let holder = || {
            current
                .as_ref()
                .map(|(h, pid, client, node, since, _)| LockHolder {
                    pid: *pid,
                    application_name: Some(format!("plinth lease {h}")),
                    client: Some(format!(
                        "{} via node {}",
                        client.clone().unwrap_or_default(),
                        node.clone().unwrap_or_default()
                    )),
                    since: since.clone(),
                })
        };
        if start.elapsed() >= timeout {
            return Err(LockError::Timeout {
                waited_s: start.elapsed().as_secs_f64(),
                holder: holder(),
            });
        }
        if last_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
            tracing::info!(holder = %holder().map(|h| h.to_string()).unwrap_or_else(|| "unknown".into()), "waiting for the cluster-wide migration lease held by another migrator");
            last_log = Some(Instant::now());
        }
        let jitter = rand::random::<u64>() % 100;
        tokio::time::sleep(Duration::from_millis(50 + jitter)).await;
    }
}

/// The lease holder's background task: renew every [`RENEW_EVERY`] on the lock's connection
/// until told to stop, then delete the row. A renewal that finds the row no longer ours marks
/// the lease lost (the fence stops the runner before its next migration).
async fn renew(
    mut db: Db,
    lease: Arc<Lease>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "UPDATE {} SET expires_at = UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND WHERE name = ? AND holder = ?",
        lease.table
    );
    let vals = [
        Val::Int(LEASE.as_micros() as i64),
        Val::Text(lease.name.clone()),
        Val::Text(lease.token.clone()),
    ];
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(RENEW_EVERY) => {}
        }
        match exec_bound(&mut db, &sql, &vals).await {
            Ok(1) => tracing::trace!(lock = %lease.name, "migration lease renewed"),
            Ok(_) => {
                tracing::error!(severity = "critical", lock = %lease.name, "the migration lease is no longer ours: another migrator took it over after it expired");
                lease.lost.store(true, Ordering::SeqCst);
            }
            Err(e) if lost_race(&e) => {
                tracing::warn!(error = %e, "renewing the migration lease conflicted; retrying at the next tick");
            }
            Err(e) => {
                tracing::error!(severity = "critical", error = %e, "renewing the migration lease failed; it will expire");
                lease.lost.store(true, Ordering::SeqCst);
                return Err(e);
            }
        }
    }
    let r = exec_bound(
        &mut db,
        &format!("DELETE FROM {} WHERE name = ? AND holder = ?", lease.table),
        &[
            Val::Text(lease.name.clone()),
            Val::Text(lease.token.clone()),
        ],
    )
    .await;
    tracing::debug!(lock = %lease.name, "migration lease released");
    let _ = db.close().await;
    r.map(|_| ())
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
        return Ok(LockGuard {
            inner: Held::None,
            fence: Fence::default(),
        });
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
                    fence: Fence::default(),
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
