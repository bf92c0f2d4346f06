//! The history table (current state of each migration) and its append-only event table (every
//! attempt, failure, revert and repair). Nothing is ever deleted from either.

use crate::backend::{Backend, Db, DbConn, Driver};
use crate::with_conn;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{FromRow, Row};

/// The default history table name.
pub const DEFAULT_HISTORY_TABLE: &str = "plinth_migration_history";

/// The status of a migration as recorded in history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Started outside a transaction and not finished: an interrupted run if found later.
    Running,
    /// Applied.
    Success,
    /// Failed; the error is recorded; it is retried by the next `migrate`.
    Failed,
    /// Not applied because a `requires` directive was unmet.
    Skipped,
    /// Reverted by `down`; pending again.
    RolledBack,
}

impl Status {
    /// The word stored in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Success => "success",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::RolledBack => "rolled_back",
        }
    }

    fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "running" => Status::Running,
            "success" => Status::Success,
            "failed" => Status::Failed,
            "skipped" => Status::Skipped,
            "rolled_back" => Status::RolledBack,
            _ => return None,
        })
    }
}

/// One row of the history table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HistoryRecord {
    /// Version.
    pub version: i64,
    /// Name.
    pub name: String,
    /// Checksum of the body as applied.
    pub checksum: String,
    /// How the checksum was computed.
    pub checksum_algorithm: String,
    /// Current status.
    pub status: Status,
    /// When the last attempt finished (UTC, ISO-8601).
    pub applied_at: String,
    /// How long the last attempt took.
    pub duration_ms: i64,
    /// The database's error for a failed attempt.
    pub error_message: Option<String>,
    /// The backend it ran on.
    pub db_type: String,
    /// The database user that ran it.
    pub installed_by: String,
    /// How many times it was attempted.
    pub attempts: i64,
    /// For statement-by-statement runs: statements committed so far.
    pub statements_applied: Option<i64>,
    /// For statement-by-statement runs: statements in the migration.
    pub statements_total: Option<i64>,
}

/// One row of the event table: the audit trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HistoryEvent {
    /// Sequence number.
    pub id: i64,
    /// Migration version.
    pub version: i64,
    /// Migration name.
    pub name: String,
    /// What happened: started, applied, failed, skipped, reverted, repaired.
    pub event: String,
    /// When (UTC, ISO-8601).
    pub at: String,
    /// Database user.
    pub actor: String,
    /// Checksum at the time.
    pub checksum: Option<String>,
    /// Duration of the attempt.
    pub duration_ms: Option<i64>,
    /// Error, for failures.
    pub error_message: Option<String>,
    /// The statement that failed, when known.
    pub failing_statement: Option<String>,
    /// For `statement` events: the 1-based position of the committed statement in its migration
    /// (the event's checksum is the statement's SHA-256), so a resumed run can check what took effect.
    pub statement_index: Option<i64>,
}

/// The server's answer to the up-to-date check (see [`History::fingerprint`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// `SELECT version()`'s answer, as [`History::read`] returns it.
    pub server_version: String,
    /// Rows with status `running` (an interrupted or ongoing run).
    pub running: i64,
    /// The digest of applied and skipped rows.
    pub digest: String,
}

/// One history row as read; also deserialized from a JSON array of the same fields in the same
/// order (SQLite's one-row read, see [`History::read`]).
#[derive(Deserialize)]
struct RawRow {
    server_version: Option<String>,
    version: Option<i64>,
    name: Option<String>,
    checksum: Option<String>,
    checksum_algorithm: Option<String>,
    status: Option<String>,
    applied_at: Option<String>,
    duration_ms: Option<i64>,
    error_message: Option<String>,
    db_type: Option<String>,
    installed_by: Option<String>,
    attempts: Option<i64>,
    statements_applied: Option<i64>,
    statements_total: Option<i64>,
}

impl RawRow {
    /// Decode by position, in [`History::read`]'s column order: on 10,000 rows, looking each
    /// column up by name was a tenth of `status`'s time. Unchecked, because these are the query's
    /// own columns of plinth's own table (sent as text on PostgreSQL and MySQL, where a value that
    /// does not parse is still an error): the per-value type comparison cost 3–4 ms more.
    fn at<R>(r: &R, applied_at: Option<String>) -> Result<RawRow, sqlx::Error>
    where
        R: Row,
        usize: sqlx::ColumnIndex<R>,
        for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
        for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    {
        Ok(RawRow {
            server_version: r.try_get_unchecked(0)?,
            version: r.try_get_unchecked(1)?,
            name: r.try_get_unchecked(2)?,
            checksum: r.try_get_unchecked(3)?,
            checksum_algorithm: r.try_get_unchecked(4)?,
            status: r.try_get_unchecked(5)?,
            applied_at,
            duration_ms: r.try_get_unchecked(7)?,
            error_message: r.try_get_unchecked(8)?,
            db_type: r.try_get_unchecked(9)?,
            installed_by: r.try_get_unchecked(10)?,
            attempts: r.try_get_unchecked(11)?,
            statements_applied: r.try_get_unchecked(12)?,
            statements_total: r.try_get_unchecked(13)?,
        })
    }
}

#[derive(FromRow)]
struct RawEvent {
    id: i64,
    version: i64,
    name: String,
    event: String,
    at: Option<String>,
    actor: Option<String>,
    checksum: Option<String>,
    duration_ms: Option<i64>,
    error_message: Option<String>,
    failing_statement: Option<String>,
    statement_index: Option<i64>,
}

/// A value bound to a statement parameter.
#[derive(Clone, Debug)]
pub enum Val {
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
    /// A NULL integer.
    NullInt,
    /// A NULL text.
    NullText,
}

impl From<Option<String>> for Val {
    fn from(v: Option<String>) -> Self {
        v.map(Val::Text).unwrap_or(Val::NullText)
    }
}

/// Where a written row's `duration_ms` comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dur {
    /// A bound value, measured by plinth.
    Bound,
    /// PostgreSQL: the server's milliseconds from the transaction's `BEGIN` to the write.
    SinceBegin,
    /// PostgreSQL: the history row's, written in the same statement (`WITH h AS (…)`).
    OfRow,
}

impl Dur {
    fn sql(self) -> &'static str {
        match self {
            Dur::Bound => "?",
            Dur::SinceBegin => "(extract(epoch FROM clock_timestamp() - now()) * 1000)::bigint",
            Dur::OfRow => "(SELECT duration_ms FROM h)",
        }
    }
}

/// The session setting that carries [`History::inline_record`]'s values (PostgreSQL).
const ARGS_SETTING: &str = "plinth.args";

/// Errors touching the history tables.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The configured table name is not a safe identifier.
    #[error("invalid history table name `{0}`: use 1 to 50 letters, digits or `_`, starting with a letter or `_`")]
    InvalidName(String),
    /// A database error.
    #[error("history table {table}: {}", crate::errors::display(.source))]
    Database {
        /// The table.
        table: String,
        /// The error.
        #[source]
        source: sqlx::Error,
    },
    /// A row holds a status plinth does not know (written by something else).
    #[error("history table {table}: version {version} has unknown status `{status}`")]
    Corrupt {
        /// The table.
        table: String,
        /// The version.
        version: i64,
        /// The status found.
        status: String,
    },
}

/// The history tables for one configured name, with SQL written for one backend.
#[derive(Clone, Debug)]
pub struct History {
    table: String,
    driver: Driver,
}

/// Quote a validated identifier for the backend.
pub fn quote_ident(driver: Driver, ident: &str) -> String {
    match driver {
        Driver::MySql => format!("`{ident}`"),
        _ => format!("\"{ident}\""),
    }
}

/// Rewrite `?` placeholders as `$1, $2, …` for PostgreSQL (templates here contain no literal `?`).
fn placeholders(driver: Driver, sql: &str) -> String {
    if driver != Driver::Postgres {
        return sql.to_string();
    }
    each_placeholder(sql, |i| format!("${}", i + 1))
}

/// `sql` with its `i`-th `?` (0-based) replaced by `with(i)`. The templates here hold no literal
/// `?`, so each one is the next value.
fn each_placeholder(sql: &str, mut with: impl FnMut(usize) -> String) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut i = 0;
    for ch in sql.chars() {
        if ch == '?' {
            out.push_str(&with(i));
            i += 1;
        } else {
            out.push(ch);
        }
    }
    out
}

/// Run one statement with bound values on any backend.
pub async fn exec_bound(db: &mut Db, sql: &str, vals: &[Val]) -> Result<u64, sqlx::Error> {
    let sql = placeholders(db.driver, sql);
    with_conn!(&mut db.conn, c => {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for v in vals {
            q = match v {
                Val::Int(x) => q.bind(*x),
                Val::Text(s) => q.bind(s.clone()),
                Val::NullInt => q.bind(None::<i64>),
                Val::NullText => q.bind(None::<String>),
            };
        }
        Ok(q.execute(&mut *c).await?.rows_affected())
    })
}

impl History {
    /// Validate the table name and prepare SQL for the driver.
    pub fn new(table: &str, driver: Driver) -> Result<History, HistoryError> {
        let ok = !table.is_empty()
            && table.len() <= 50
            && table
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(HistoryError::InvalidName(table.to_string()));
        }
        Ok(History {
            table: table.to_string(),
            driver,
        })
    }

    /// The history table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The event table's name.
    pub fn events_table(&self) -> String {
        format!("{}_events", self.table)
    }

    fn q(&self) -> String {
        quote_ident(self.driver, &self.table)
    }

    fn qe(&self) -> String {
        quote_ident(self.driver, &self.events_table())
    }

    fn err(&self, source: sqlx::Error) -> HistoryError {
        HistoryError::Database {
            table: self.table.clone(),
            source,
        }
    }

    /// The SQL expression for "now" as stored in `applied_at`/`at`.
    fn now(&self) -> &'static str {
        match self.driver {
            Driver::Postgres => "clock_timestamp()",
            Driver::MySql => "UTC_TIMESTAMP(6)",
            Driver::Sqlite => "strftime('%Y-%m-%dT%H:%M:%fZ','now')",
        }
    }

    fn ts_text(&self, col: &str) -> String {
        match self.driver {
            Driver::Postgres => {
                format!("to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
            }
            Driver::MySql => format!("DATE_FORMAT({col}, '%Y-%m-%dT%H:%i:%s.%fZ')"),
            Driver::Sqlite => col.to_string(),
        }
    }

    /// The DDL that creates both tables if absent.
    pub fn create_sql(&self) -> Vec<String> {
        // SQLite: `INTEGER PRIMARY KEY` makes the version the row id, so a row is one B-tree entry,
        // not a row plus an entry in a separate primary-key index (fewer pages journaled in each
        // migration's commit); and no AUTOINCREMENT for events: nothing is deleted, so the next id
        // is always the largest plus one, and an event does not also write `sqlite_sequence`.
        // Tables created by earlier versions (`BIGINT`, AUTOINCREMENT) keep working.
        let (ts, text, id, version_type) = match self.driver {
            Driver::Postgres => (
                "TIMESTAMPTZ",
                "TEXT",
                "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                "BIGINT",
            ),
            Driver::MySql => (
                "DATETIME(6)",
                "LONGTEXT",
                "BIGINT AUTO_INCREMENT PRIMARY KEY",
                "BIGINT",
            ),
            Driver::Sqlite => ("TEXT", "TEXT", "INTEGER PRIMARY KEY", "INTEGER"),
        };
        let (t, e) = (self.q(), self.qe());
        let idx = quote_ident(self.driver, &format!("{}_name_status", self.table));
        let eidx = quote_ident(self.driver, &format!("{}_ev_version", self.table));
        let mysql_tail = if self.driver == Driver::MySql {
            " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        } else {
            ""
        };
        let inline_idx = if self.driver == Driver::MySql {
            // Declared inline on MySQL: MySQL 8 has no CREATE INDEX IF NOT EXISTS.
            format!(", INDEX {idx} (name, status)")
        } else {
            String::new()
        };
        let history = format!(
            "CREATE TABLE IF NOT EXISTS {t} (\
             version {version_type} NOT NULL PRIMARY KEY, \
             name VARCHAR(255) NOT NULL, \
             checksum VARCHAR(128) NOT NULL, \
             checksum_algorithm VARCHAR(32) NOT NULL, \
             status VARCHAR(16) NOT NULL, \
             applied_at {ts} NOT NULL, \
             duration_ms BIGINT NOT NULL DEFAULT 0, \
             error_message {text} NULL, \
             db_type VARCHAR(16) NOT NULL, \
             installed_by VARCHAR(255) NOT NULL, \
             attempts BIGINT NOT NULL DEFAULT 1, \
             statements_applied BIGINT NULL, \
             statements_total BIGINT NULL{inline_idx}){mysql_tail}"
        );
        let events = format!(
            "CREATE TABLE IF NOT EXISTS {e} (\
             id {id}, \
             version BIGINT NOT NULL, \
             name VARCHAR(255) NOT NULL, \
             event VARCHAR(16) NOT NULL, \
             at {ts} NOT NULL, \
             actor VARCHAR(255) NOT NULL, \
             checksum VARCHAR(128) NULL, \
             duration_ms BIGINT NULL, \
             error_message {text} NULL, \
             failing_statement {text} NULL, \
             statement_index BIGINT NULL{}){mysql_tail}",
            if self.driver == Driver::MySql {
                format!(", INDEX {eidx} (version)")
            } else {
                String::new()
            }
        );
        // The event table first: where DDL commits one statement at a time (MySQL), an existing
        // history table then implies an existing event table even after an interrupted run.
        let mut out = vec![events, history];
        if self.driver != Driver::MySql {
            out.push(format!(
                "CREATE INDEX IF NOT EXISTS {idx} ON {t} (name, status)"
            ));
            out.push(format!(
                "CREATE INDEX IF NOT EXISTS {eidx} ON {e} (version)"
            ));
        }
        out
    }

    /// Create the tables if absent: in one transaction where DDL is transactional, so an
    /// interrupted first run never leaves one table without the other (call it under the lock).
    pub async fn ensure(&self, db: &mut Db) -> Result<(), HistoryError> {
        let transactional = self.driver != Driver::MySql;
        if transactional {
            tracing::debug!(isolation = "server default", "BEGIN");
            db.execute_script("BEGIN").await.map_err(|e| self.err(e))?;
        }
        for stmt in self.create_sql() {
            if let Err(e) = db.execute_script(&stmt).await {
                if transactional {
                    tracing::debug!(reason = "creating the history tables failed", "ROLLBACK");
                    let _ = db.execute_script("ROLLBACK").await;
                }
                return Err(self.err(e));
            }
        }
        if transactional {
            tracing::debug!("COMMIT");
            db.execute_script("COMMIT").await.map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// The up-to-date check in one round trip: the server's version string, the number of `running`
    /// rows, and a digest of every (version, checksum) recorded as `success` or `skipped`, computed
    /// by the server so that no row crosses the wire ([`expected_digest`] computes the same
    /// digest from the source). None when the table does not exist yet.
    ///
    /// The digest is a SHA-256 of `version:checksum,…` in version order on PostgreSQL, that text
    /// itself on SQLite (in-process: nothing to save by hashing), and on MySQL/MariaDB, whose
    /// `GROUP_CONCAT` is capped at `group_concat_max_len`, an order-free pair of CRC-32 sums with the
    /// row count. A digest that matches means every file is applied (or skipped) unchanged and no
    /// applied migration lost its file; anything else sends the caller to [`History::read`].
    pub async fn fingerprint(&self, db: &mut Db) -> Result<Option<Fingerprint>, HistoryError> {
        let done = "status IN ('success', 'skipped')";
        let sql = match self.driver {
            Driver::Postgres => format!(
                "SELECT current_setting('server_version'), \
                 (count(*) FILTER (WHERE status = 'running'))::text, \
                 encode(sha256(convert_to(coalesce(string_agg(version::text || ':' || checksum, ',' \
                 ORDER BY version) FILTER (WHERE {done}), ''), 'UTF8')), 'hex') FROM {}",
                self.q()
            ),
            Driver::Sqlite => format!(
                "SELECT sqlite_version(), CAST(count(*) FILTER (WHERE status = 'running') AS TEXT), \
                 coalesce(group_concat(version || ':' || checksum, ',' ORDER BY version) \
                 FILTER (WHERE {done}), '') FROM {}",
                self.q()
            ),
            Driver::MySql => format!(
                "SELECT VERSION(), CAST(COALESCE(SUM(status = 'running'), 0) AS CHAR), \
                 CONCAT(COUNT(CASE WHEN {done} THEN 1 END), ':', \
                 COALESCE(SUM(CASE WHEN {done} THEN CRC32(CONCAT(version, ':', checksum)) END), 0), ':', \
                 COALESCE(SUM(CASE WHEN {done} THEN CRC32(CONCAT(checksum, ':', version)) END), 0)) \
                 FROM {}",
                self.q()
            ),
        };
        let sql = sqlx::AssertSqlSafe(sql);
        let result: Result<[Option<String>; 3], sqlx::Error> = with_conn!(&mut db.conn, c => {
            match sqlx::raw_sql(sql).fetch_one(&mut *c).await {
                Ok(row) => (|| Ok([row.try_get(0)?, row.try_get(1)?, row.try_get(2)?]))(),
                Err(e) => Err(e),
            }
        });
        match result {
            Ok([version, running, digest]) => Ok(Some(Fingerprint {
                server_version: version.unwrap_or_default(),
                running: running.and_then(|r| r.parse().ok()).unwrap_or(i64::MAX),
                digest: digest.unwrap_or_default(),
            })),
            Err(e) if is_missing_table(&e, self.driver) => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    /// The one query of the fast path: every history row plus the server's version string, in a
    /// single round trip. Returns None when the table does not exist yet.
    pub async fn read(
        &self,
        db: &mut Db,
    ) -> Result<Option<(String, Vec<HistoryRecord>)>, HistoryError> {
        let version_expr = match self.driver {
            Driver::Postgres => "current_setting('server_version')",
            Driver::MySql => "VERSION()",
            Driver::Sqlite => "sqlite_version()",
        };
        // Timestamps are formatted here, not by the server: on 10,000 rows `to_char` and
        // `DATE_FORMAT` (and the join that kept one row for an empty table) were most of the
        // query's time.
        // PostgreSQL sends microseconds since the epoch: independent of the session's DateStyle
        // and TimeZone, and cheaper to read than a timestamp's text.
        let applied_at = match self.driver {
            Driver::Postgres => "(extract(epoch FROM h.applied_at) * 1000000)::int8",
            Driver::MySql | Driver::Sqlite => "h.applied_at",
        };
        let sql = format!(
            "SELECT {version_expr} AS server_version, h.version, h.name, h.checksum, \
             h.checksum_algorithm, h.status, {applied_at}, h.duration_ms, h.error_message, \
             h.db_type, h.installed_by, h.attempts, h.statements_applied, h.statements_total \
             FROM {} h ORDER BY h.version",
            self.q()
        );
        let sql = sqlx::AssertSqlSafe(sql);
        let result: Result<(Option<String>, Vec<RawRow>), sqlx::Error> = match &mut db.conn {
            DbConn::Postgres(c) => sqlx::raw_sql(sql)
                .fetch_all(&mut *c)
                .await
                .and_then(|rows| {
                    rows.iter()
                        .map(|r| {
                            let micros: Option<i64> = r.try_get(6)?;
                            let at = micros.and_then(chrono::DateTime::from_timestamp_micros);
                            RawRow::at(r, at.map(|t| utc_text(t.naive_utc())))
                        })
                        .collect::<Result<_, _>>()
                })
                .map(|rows| (None, rows)),
            DbConn::MySql(c) => sqlx::raw_sql(sql)
                .fetch_all(&mut *c)
                .await
                .and_then(|rows| {
                    rows.iter()
                        .map(|r| {
                            // The text protocol sends `YYYY-MM-DD hh:mm:ss.ffffff`: reshaped,
                            // not parsed (chrono's parser was 2 % of `status` on 10,000 rows).
                            let text: Option<&str> = r.try_get_unchecked(6)?;
                            let at = match text.map(datetime_text_utc) {
                                Some(Some(at)) => Some(at),
                                Some(None) => r
                                    .try_get::<Option<chrono::NaiveDateTime>, _>(6)?
                                    .map(utc_text),
                                None => None,
                            };
                            RawRow::at(r, at)
                        })
                        .collect::<Result<_, _>>()
                })
                .map(|rows| (None, rows)),
            DbConn::Sqlite(c) => match self.read_sqlite_json(c).await {
                Ok(Some(read)) => Ok(read),
                Ok(None) => sqlx::raw_sql(sql)
                    .fetch_all(&mut *c)
                    .await
                    .and_then(|rows| {
                        rows.iter()
                            .map(|r| RawRow::at(r, r.try_get(6)?))
                            .collect::<Result<_, _>>()
                    })
                    .map(|rows| (None, rows)),
                Err(e) => Err(e),
            },
        };
        let (known_version, rows) = match result {
            Ok(read) => read,
            Err(e) if is_missing_table(&e, self.driver) => return Ok(None),
            Err(e) => return Err(self.err(e)),
        };
        let first = rows.first().and_then(|r| r.server_version.clone());
        let server_version = match known_version.or(first) {
            Some(v) => v,
            // An empty table: the version from a query of its own.
            None => {
                let sql = sqlx::AssertSqlSafe(format!("SELECT {version_expr}"));
                let v: Result<Option<String>, sqlx::Error> = with_conn!(&mut db.conn, c => {
                    match sqlx::raw_sql(sql).fetch_one(&mut *c).await {
                        Ok(row) => row.try_get(0),
                        Err(e) => Err(e),
                    }
                });
                v.map_err(|e| self.err(e))?.unwrap_or_default()
            }
        };
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let Some(version) = r.version else { continue };
            let status_text = r.status.unwrap_or_default();
            let status = Status::parse(&status_text).ok_or_else(|| HistoryError::Corrupt {
                table: self.table.clone(),
                version,
                status: status_text.clone(),
            })?;
            out.push(HistoryRecord {
                version,
                name: r.name.unwrap_or_default(),
                checksum: r.checksum.unwrap_or_default(),
                checksum_algorithm: r.checksum_algorithm.unwrap_or_default(),
                status,
                applied_at: r.applied_at.unwrap_or_default(),
                duration_ms: r.duration_ms.unwrap_or(0),
                error_message: r.error_message,
                db_type: r.db_type.unwrap_or_default(),
                installed_by: r.installed_by.unwrap_or_default(),
                attempts: r.attempts.unwrap_or(0),
                statements_applied: r.statements_applied,
                statements_total: r.statements_total,
            });
        }
        Ok(Some((server_version, out)))
    }

    /// SQLite: every row in one value (`json_group_array`), with the library's version, so that
    /// 10,000 rows do not cross sqlx's worker thread one message and fourteen values at a time
    /// (on 10,000 rows that traffic and freeing its values were a fifth of `status`). None when
    /// the JSON does not fit [`RawRow`] (a hand-edited value of another type): the caller reads
    /// row by row instead.
    async fn read_sqlite_json(
        &self,
        c: &mut sqlx::SqliteConnection,
    ) -> Result<Option<(Option<String>, Vec<RawRow>)>, sqlx::Error> {
        let sql = format!(
            "SELECT sqlite_version(), json_group_array(json_array(NULL, version, name, checksum, \
             checksum_algorithm, status, applied_at, duration_ms, error_message, db_type, \
             installed_by, attempts, statements_applied, statements_total)) \
             FROM (SELECT * FROM {} ORDER BY version)",
            self.q()
        );
        let row = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *c)
            .await?;
        let version: Option<String> = row.try_get(0)?;
        let json: Option<&str> = row.try_get(1)?;
        Ok(json
            .and_then(|j| serde_json::from_str::<Vec<RawRow>>(j).ok())
            .map(|rows| (version, rows)))
    }

    /// Read the audit trail, oldest first (optionally for one version).
    pub async fn events(
        &self,
        db: &mut Db,
        version: Option<i64>,
    ) -> Result<Vec<HistoryEvent>, HistoryError> {
        let filter = if version.is_some() {
            " WHERE version = ?"
        } else {
            ""
        };
        let sql = placeholders(
            self.driver,
            &format!(
                "SELECT id, version, name, event, {} AS at, actor, checksum, duration_ms, \
                 error_message, failing_statement, statement_index FROM {}{filter} ORDER BY id",
                self.ts_text("at"),
                self.qe()
            ),
        );
        let rows: Result<Vec<RawEvent>, sqlx::Error> = with_conn!(&mut db.conn, c => {
            let mut q = sqlx::query_as::<_, RawEvent>(sqlx::AssertSqlSafe(sql));
            if let Some(v) = version {
                q = q.bind(v);
            }
            q.fetch_all(&mut *c).await
        });
        let rows = match rows {
            Ok(r) => r,
            Err(e) if is_missing_table(&e, self.driver) => return Ok(Vec::new()),
            Err(e) => return Err(self.err(e)),
        };
        Ok(rows
            .into_iter()
            .map(|r| HistoryEvent {
                id: r.id,
                version: r.version,
                name: r.name,
                event: r.event,
                at: r.at.unwrap_or_default(),
                actor: r.actor.unwrap_or_default(),
                checksum: r.checksum,
                duration_ms: r.duration_ms,
                error_message: r.error_message,
                failing_statement: r.failing_statement,
                statement_index: r.statement_index,
            })
            .collect())
    }

    /// Write (insert or update) the current-state row for a migration. `attempts_delta` is added
    /// to the stored count (1 for a new attempt, 0 for a status change).
    pub async fn upsert(
        &self,
        db: &mut Db,
        exists: bool,
        row: &RowWrite<'_>,
    ) -> Result<(), HistoryError> {
        let (sql, vals) = self.upsert_parts(exists, row, Dur::Bound);
        exec_bound(db, &sql, &vals).await.map_err(|e| self.err(e))?;
        Ok(())
    }

    /// [`History::upsert`] and [`History::event`] in one round trip where the server allows it
    /// (PostgreSQL: a data-modifying `WITH`; SQLite: two statements in one call, the values bound
    /// in order), else one after the other. For use inside the migration's own transaction, where
    /// both commit with it. With `commit`, SQLite's call also ends with the `COMMIT` (it is not run
    /// if a write fails); returns whether the transaction was committed here.
    pub async fn upsert_with_event(
        &self,
        db: &mut Db,
        exists: bool,
        row: &RowWrite<'_>,
        ev: &EventWrite<'_>,
        commit: bool,
    ) -> Result<bool, HistoryError> {
        if self.driver == Driver::MySql {
            self.upsert(db, exists, row).await?;
            self.event(db, ev).await?;
            return Ok(false);
        }
        let (upsert, mut vals) = self.upsert_parts(exists, row, Dur::Bound);
        let (event, event_vals) = self.event_parts(std::slice::from_ref(ev), Dur::Bound);
        let (sql, committed) = match self.driver {
            Driver::Sqlite if commit => (format!("{upsert};\n{event};\nCOMMIT"), true),
            Driver::Sqlite => (format!("{upsert};\n{event}"), false),
            // PostgreSQL (MySQL/MariaDB were answered above).
            Driver::Postgres | Driver::MySql => (format!("WITH h AS ({upsert}) {event}"), false),
        };
        vals.extend(event_vals);
        exec_bound(db, &sql, &vals).await.map_err(|e| self.err(e))?;
        Ok(committed)
    }

    /// PostgreSQL: a migration's `success` row and its `applied` event as one `EXECUTE` to put in
    /// the migration's own script, so that `BEGIN`, the migration, its record and `COMMIT` travel
    /// in one request. The statement is prepared once per session (planned once, unlike SQL sent
    /// as text) and the values stay bound: they go ahead in a session setting ([`History::stage`])
    /// that the `EXECUTE` passes to it. The duration is the server's, from `BEGIN` to the write.
    pub fn inline_record(
        &self,
        exists: bool,
        row: &RowWrite<'_>,
        ev: &EventWrite<'_>,
    ) -> InlineRecord {
        let (upsert, mut vals) = self.upsert_parts(exists, row, Dur::SinceBegin);
        let (event, event_vals) = self.event_parts(std::slice::from_ref(ev), Dur::OfRow);
        vals.extend(event_vals);
        let template = format!("WITH h AS ({upsert} RETURNING duration_ms) {event}");
        // Each value is an element of one JSON array (JSON null for NULL, so the statement's text
        // never depends on the values).
        let body = each_placeholder(&template, |i| {
            let cast = match vals.get(i) {
                Some(Val::Int(_) | Val::NullInt) => "::bigint",
                _ => "",
            };
            format!("($1->>{i}){cast}")
        });
        let args: Vec<serde_json::Value> = vals
            .into_iter()
            .map(|v| match v {
                Val::Int(x) => x.into(),
                Val::Text(s) => s.into(),
                Val::NullInt | Val::NullText => serde_json::Value::Null,
            })
            .collect();
        // Named after its text, so a session that already holds a statement of this name holds
        // this very statement (a pooled session may outlive the process that prepared it).
        let name = format!("plinth_{}", &super::source::checksum(&body)[..16]);
        InlineRecord {
            prepare: format!("PREPARE {name}(jsonb) AS {body}"),
            execute: format!("EXECUTE {name}(current_setting('{ARGS_SETTING}')::jsonb)"),
            args: serde_json::Value::Array(args).to_string(),
            name,
        }
    }

    /// PostgreSQL: prepare [`History::inline_record`]'s statement if this session lacks it, and
    /// send its values ahead of the script that runs it (one round trip, two the first time).
    pub async fn stage(&self, db: &mut Db, record: &InlineRecord) -> Result<(), HistoryError> {
        if !db.prepared.contains(&record.name) {
            match db.execute_script(&record.prepare).await {
                Ok(_) => {}
                // 42P05 duplicate_prepared_statement: the same text, prepared earlier in the session.
                Err(e)
                    if e.as_database_error().and_then(|d| d.code()).as_deref() == Some("42P05") => {
                }
                Err(e) => return Err(self.err(e)),
            }
            db.prepared.push(record.name.clone());
        }
        let sql = format!("SELECT set_config('{ARGS_SETTING}', ?, false)");
        exec_bound(db, &sql, &[Val::Text(record.args.clone())])
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Two rows in one round trip where the server allows it (MySQL/MariaDB: a two-row `INSERT …
    /// ON DUPLICATE KEY UPDATE`), else one after the other: a migration's `success` row with the
    /// next one's `running` row, which commit together.
    pub async fn upsert_pair(
        &self,
        db: &mut Db,
        first: (bool, &RowWrite<'_>),
        second: (bool, &RowWrite<'_>),
    ) -> Result<(), HistoryError> {
        if self.driver != Driver::MySql || first.1.version == second.1.version {
            self.upsert(db, first.0, first.1).await?;
            return self.upsert(db, second.0, second.1).await;
        }
        // `attempts` is the delta on a duplicate key and the count on an insert: 1 for a new
        // attempt either way, 0 for a status change of a row that exists (`first` always does).
        let (insert, mut vals) = self.upsert_parts(false, first.1, Dur::Bound);
        let (_, second_vals) = self.upsert_parts(false, second.1, Dur::Bound);
        vals.extend(second_vals);
        let row = self.row_values(Dur::Bound);
        let sql = format!(
            "{insert}, {row} ON DUPLICATE KEY UPDATE name = VALUES(name), checksum = VALUES(checksum), \
             checksum_algorithm = VALUES(checksum_algorithm), status = VALUES(status), \
             applied_at = VALUES(applied_at), duration_ms = VALUES(duration_ms), \
             error_message = VALUES(error_message), db_type = VALUES(db_type), \
             installed_by = VALUES(installed_by), attempts = attempts + VALUES(attempts), \
             statements_applied = VALUES(statements_applied), statements_total = VALUES(statements_total)"
        );
        exec_bound(db, &sql, &vals).await.map_err(|e| self.err(e))?;
        Ok(())
    }

    /// One history row's `VALUES` tuple, in [`History::upsert_parts`]' order of values.
    fn row_values(&self, dur: Dur) -> String {
        format!(
            "(?, ?, ?, ?, {}, {}, ?, ?, ?, ?, ?, ?, ?)",
            self.now(),
            dur.sql()
        )
    }

    fn upsert_parts(&self, exists: bool, row: &RowWrite<'_>, dur: Dur) -> (String, Vec<Val>) {
        let r = row;
        let sql = if exists {
            format!(
                "UPDATE {} SET name = ?, checksum = ?, checksum_algorithm = ?, status = ?, \
                 applied_at = {}, duration_ms = {}, error_message = ?, db_type = ?, installed_by = ?, \
                 attempts = attempts + ?, statements_applied = ?, statements_total = ? WHERE version = ?",
                self.q(),
                self.now(),
                dur.sql()
            )
        } else {
            format!(
                "INSERT INTO {} (name, checksum, checksum_algorithm, status, applied_at, duration_ms, \
                 error_message, db_type, installed_by, attempts, statements_applied, statements_total, version) \
                 VALUES {}",
                self.q(),
                self.row_values(dur)
            )
        };
        let opt_int = |v: Option<i64>| v.map(Val::Int).unwrap_or(Val::NullInt);
        let mut vals = vec![
            Val::Text(r.name.to_string()),
            Val::Text(r.checksum.to_string()),
            Val::Text(super::source::CHECKSUM_ALGORITHM.to_string()),
            Val::Text(r.status.as_str().to_string()),
        ];
        if dur == Dur::Bound {
            vals.push(Val::Int(r.duration_ms));
        }
        vals.extend([
            r.error.map(str::to_string).into(),
            Val::Text(r.backend.as_str().to_string()),
            Val::Text(r.actor.to_string()),
            Val::Int(r.attempts_delta),
            opt_int(r.statements_applied),
            opt_int(r.statements_total),
            Val::Int(r.version),
        ]);
        (sql, vals)
    }

    /// Append an event to the audit trail.
    pub async fn event(&self, db: &mut Db, ev: &EventWrite<'_>) -> Result<(), HistoryError> {
        self.event_batch(db, std::slice::from_ref(ev)).await
    }

    /// Several events in one statement (one round trip), in order.
    pub async fn event_batch(
        &self,
        db: &mut Db,
        evs: &[EventWrite<'_>],
    ) -> Result<(), HistoryError> {
        if evs.is_empty() {
            return Ok(());
        }
        let (sql, vals) = self.event_parts(evs, Dur::Bound);
        exec_bound(db, &sql, &vals).await.map_err(|e| self.err(e))?;
        Ok(())
    }

    /// One `INSERT` of these events (one row each, in order) and its values.
    fn event_parts(&self, evs: &[EventWrite<'_>], dur: Dur) -> (String, Vec<Val>) {
        let row = format!("(?, ?, ?, {}, ?, ?, {}, ?, ?, ?)", self.now(), dur.sql());
        let sql = format!(
            "INSERT INTO {} (version, name, event, at, actor, checksum, duration_ms, error_message, failing_statement, statement_index) \
             VALUES {}",
            self.qe(),
            vec![row; evs.len()].join(", ")
        );
        let vals = evs
            .iter()
            .flat_map(|ev| {
                [
                    Some(Val::Int(ev.version)),
                    Some(Val::Text(ev.name.to_string())),
                    Some(Val::Text(ev.event.to_string())),
                    Some(Val::Text(ev.actor.to_string())),
                    Some(ev.checksum.map(str::to_string).into()),
                    (dur == Dur::Bound)
                        .then(|| ev.duration_ms.map(Val::Int).unwrap_or(Val::NullInt)),
                    Some(ev.error.map(str::to_string).into()),
                    Some(ev.failing_statement.map(str::to_string).into()),
                    Some(ev.statement_index.map(Val::Int).unwrap_or(Val::NullInt)),
                ]
                .into_iter()
                .flatten()
            })
            .collect();
        (sql, vals)
    }

    /// Change only the status (and optionally checksum) of a row, for repair and revert.
    pub async fn set_status(
        &self,
        db: &mut Db,
        version: i64,
        status: Status,
        checksum: Option<&str>,
    ) -> Result<u64, HistoryError> {
        let (sql, vals) = match checksum {
            Some(c) => (
                format!(
                    "UPDATE {} SET status = ?, checksum = ?, checksum_algorithm = ?, applied_at = {} WHERE version = ?",
                    self.q(),
                    self.now()
                ),
                vec![
                    Val::Text(status.as_str().into()),
                    Val::Text(c.into()),
                    Val::Text(super::source::CHECKSUM_ALGORITHM.into()),
                    Val::Int(version),
                ],
            ),
            None => (
                format!(
                    "UPDATE {} SET status = ?, applied_at = {} WHERE version = ?",
                    self.q(),
                    self.now()
                ),
                vec![Val::Text(status.as_str().into()), Val::Int(version)],
            ),
        };
        exec_bound(db, &sql, &vals).await.map_err(|e| self.err(e))
    }

    /// The journal of a statement-by-statement migration: (1-based position, SHA-256) of every
    /// statement recorded as committed, the latest record per position winning.
    pub async fn committed_statements(
        &self,
        db: &mut Db,
        version: i64,
    ) -> Result<std::collections::BTreeMap<i64, String>, HistoryError> {
        let mut out = std::collections::BTreeMap::new();
        for e in self.events(db, Some(version)).await? {
            if e.event == "statement" {
                if let (Some(i), Some(c)) = (e.statement_index, e.checksum) {
                    out.insert(i, c);
                }
            }
        }
        Ok(out)
    }

    /// Record how many statements of a statement-by-statement migration have committed.
    pub async fn set_progress(
        &self,
        db: &mut Db,
        version: i64,
        applied: i64,
    ) -> Result<(), HistoryError> {
        let sql = format!(
            "UPDATE {} SET statements_applied = ? WHERE version = ?",
            self.q()
        );
        exec_bound(db, &sql, &[Val::Int(applied), Val::Int(version)])
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

/// The fields written to a history row.
#[derive(Clone, Debug)]
pub struct RowWrite<'a> {
    /// Version.
    pub version: i64,
    /// Name.
    pub name: &'a str,
    /// Checksum.
    pub checksum: &'a str,
    /// New status.
    pub status: Status,
    /// Duration of this attempt.
    pub duration_ms: i64,
    /// Error, if failed.
    pub error: Option<&'a str>,
    /// Backend.
    pub backend: Backend,
    /// Database user.
    pub actor: &'a str,
    /// Added to `attempts`.
    pub attempts_delta: i64,
    /// Statements committed so far (statement-by-statement runs).
    pub statements_applied: Option<i64>,
    /// Statements in the migration (statement-by-statement runs).
    pub statements_total: Option<i64>,
}

/// PostgreSQL: a history write run by name from inside a migration's script ([`History::inline_record`]).
#[derive(Clone, Debug)]
pub struct InlineRecord {
    name: String,
    prepare: String,
    args: String,
    /// The statement to put in the script, after the migration and before `COMMIT`.
    pub execute: String,
}

/// The fields written to an event row.
#[derive(Clone, Debug, Default)]
pub struct EventWrite<'a> {
    /// Version.
    pub version: i64,
    /// Name.
    pub name: &'a str,
    /// What happened.
    pub event: &'a str,
    /// Database user.
    pub actor: &'a str,
    /// Checksum.
    pub checksum: Option<&'a str>,
    /// Duration.
    pub duration_ms: Option<i64>,
    /// Error.
    pub error: Option<&'a str>,
    /// The failing statement.
    pub failing_statement: Option<&'a str>,
    /// For `statement` events: the committed statement's 1-based position.
    pub statement_index: Option<i64>,
}

/// Whether an error says the table does not exist (so history is simply empty).
pub fn is_missing_table(e: &sqlx::Error, driver: Driver) -> bool {
    let Some(db) = e.as_database_error() else {
        return false;
    };
    match driver {
        Driver::Postgres => db.code().as_deref() == Some("42P01"),
        Driver::MySql => db
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .is_some_and(|m| m.number() == 1146),
        Driver::Sqlite => db.message().starts_with("no such table: "),
    }
}

/// The digest [`History::fingerprint`] would return if history recorded exactly these
/// (version, checksum) pairs, in version order, as applied: computed on the same terms as the
/// server's, so that equality means the same rows.
pub fn expected_digest<S: AsRef<str>>(driver: Driver, rows: &[(i64, S)]) -> String {
    match driver {
        Driver::MySql => {
            let (mut a, mut b) = (0u64, 0u64);
            let mut number = itoa::Buffer::new();
            for (v, c) in rows {
                let (v, c) = (number.format(*v).as_bytes(), c.as_ref().as_bytes());
                let mut h = crc32fast::Hasher::new();
                h.update(v);
                h.update(b":");
                h.update(c);
                a += u64::from(h.finalize());
                let mut h = crc32fast::Hasher::new();
                h.update(c);
                h.update(b":");
                h.update(v);
                b += u64::from(h.finalize());
            }
            format!("{}:{a}:{b}", rows.len())
        }
        Driver::Postgres | Driver::Sqlite => {
            let mut text = String::with_capacity(rows.len() * 80);
            for (i, (v, c)) in rows.iter().enumerate() {
                if i > 0 {
                    text.push(',');
                }
                text.push_str(itoa::Buffer::new().format(*v));
                text.push(':');
                text.push_str(c.as_ref());
            }
            if driver == Driver::Sqlite {
                text
            } else {
                hex::encode(Sha256::digest(text.as_bytes()))
            }
        }
    }
}

/// A UTC timestamp as history shows it: `2026-11-26T21:36:05.916190Z`.
/// `YYYY-MM-DD hh:mm:ss[.f…]` (MySQL's text form of a `DATETIME`) as [`utc_text`] writes it, or
/// None for any other shape.
fn datetime_text_utc(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let shape = b.len() >= 19
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b' '
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    let frac = match b.get(19) {
        None => "",
        Some(b'.') if b.len() <= 26 && digits(20..b.len()) => &s[20..],
        Some(_) => return None,
    };
    if !shape {
        return None;
    }
    let mut out = String::with_capacity(27);
    out.push_str(&s[..10]);
    out.push('T');
    out.push_str(&s[11..19]);
    out.push('.');
    out.push_str(frac);
    out.extend(std::iter::repeat_n('0', 6 - frac.len()));
    out.push('Z');
    Some(out)
}

fn utc_text(t: chrono::NaiveDateTime) -> String {
    use chrono::{Datelike, Timelike};
    use std::fmt::Write;
    let mut s = String::with_capacity(27);
    let _ = write!(
        s,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() / 1000
    );
    s
}

/// A fixed-size stand-in for a digest, to compare or store (SQLite's digest is the whole list).
pub fn digest_key(digest: &str) -> String {
    hex::encode(Sha256::digest(digest.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_text_is_reshaped_exactly_as_chrono_would_format_it() {
        for text in [
            "2026-11-26 23:13:03.681443",
            "2026-01-02 03:04:05",
            "1999-12-31 23:59:59.5",
            "2000-02-29 00:00:00.000001",
        ] {
            let parsed =
                chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").unwrap();
            assert_eq!(datetime_text_utc(text), Some(utc_text(parsed)), "{text}");
        }
        for other in [
            "",
            "2026-11-26T23:13:03",
            "2026-11-26 23:13",
            "2026-11-26 23:13:03.1234567",
            "2026-11-26 23:13:03,5",
            "26-11-26 23:13:03",
        ] {
            assert_eq!(datetime_text_utc(other), None, "{other}");
        }
    }
}
