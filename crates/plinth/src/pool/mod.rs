//! Connection-pool diagnostics: see, while it happens, that a pool is running dry and who holds it.
//!
//! [`MonitoredPool`] wraps a sqlx [`Pool`] for PostgreSQL, MySQL/MariaDB or SQLite. It keeps
//! lock-free counters and latency windows ([`PoolStats`]), classifies health ([`HealthLevel`]),
//! runs one background monitor per pool, reports connections held past a leak threshold with the
//! call site that acquired them, and publishes OpenTelemetry-named metrics through the `metrics`
//! facade. See `docs/CONNECTION_POOL.md`.

mod backend;
mod monitored;
mod replicas;
mod server;
mod stats;

pub use backend::MonitoredDatabase;
pub(crate) use monitored::describe_error;
pub use monitored::{MonitoredConnection, MonitoredPool};
pub use replicas::{parse_lsn, GroupStatus, MemberStatus, ReplicaSetPools};
pub use server::{server_view, ServerFlag, ServerSession, ServerView, ServerViewError, StateCount};
pub use stats::{Holder, Percentiles, PoolStats};

use serde::Serialize;
use std::time::Duration;

/// Names of the metrics this module publishes, following the OpenTelemetry database-client
/// semantic conventions where one exists.
pub mod metric_names {
    /// Gauge: open connections, by `db.client.connection.state` = `idle` | `used`.
    pub const COUNT: &str = "db.client.connection.count";
    /// Gauge: the pool's maximum size.
    pub const MAX: &str = "db.client.connection.max";
    /// Gauge: the pool's minimum size (`idle.min` in the conventions).
    pub const IDLE_MIN: &str = "db.client.connection.idle.min";
    /// Gauge: tasks waiting in `acquire`.
    pub const PENDING_REQUESTS: &str = "db.client.connection.pending_requests";
    /// Counter: acquires that timed out.
    pub const TIMEOUTS: &str = "db.client.connection.timeouts";
    /// Histogram (seconds): time to open a connection.
    pub const CREATE_TIME: &str = "db.client.connection.create_time";
    /// Histogram (seconds): time spent waiting in `acquire`.
    pub const WAIT_TIME: &str = "db.client.connection.wait_time";
    /// Histogram (seconds): time a connection was held by a borrower.
    pub const USE_TIME: &str = "db.client.connection.use_time";
    /// Gauge (ratio): (in use + waiting) / max — above 1 means tasks queue (plinth extension).
    pub const DEMAND: &str = "plinth.pool.demand";
    /// Gauge (seconds): age of the oldest waiting task (plinth extension).
    pub const OLDEST_WAIT: &str = "plinth.pool.oldest_pending_request_age";
    /// Gauge: 0 normal, 1 warning, 2 critical (plinth extension).
    pub const HEALTH_LEVEL: &str = "plinth.pool.health_level";
    /// Attribute: the connection state.
    pub const ATTR_STATE: &str = "db.client.connection.state";
    /// Attribute: the pool's name.
    pub const ATTR_POOL_NAME: &str = "db.client.connection.pool.name";
}

/// How worried to be about a pool, from its utilization and its waiters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthLevel {
    /// Below the warning threshold and nobody waiting long.
    Normal,
    /// At or above the warning utilization, or tasks are waiting.
    Warning,
    /// At or above the critical utilization, or a task has waited longer than the threshold.
    Critical,
}

impl HealthLevel {
    /// Stable lower-case name for logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthLevel::Normal => "normal",
            HealthLevel::Warning => "warning",
            HealthLevel::Critical => "critical",
        }
    }

    pub(crate) fn to_u8(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_u8(v: u8) -> HealthLevel {
        match v {
            0 => HealthLevel::Normal,
            1 => HealthLevel::Warning,
            _ => HealthLevel::Critical,
        }
    }
}

impl std::fmt::Display for HealthLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When the pool's health changes level: tune these to your tolerance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    /// Utilization (percent of max in use) at which the pool is `warning` (default 80).
    pub warning_utilization: f64,
    /// Utilization at which the pool is `critical` (default 95).
    pub critical_utilization: f64,
    /// A task waiting in `acquire` longer than this makes the pool `critical` (default 1 s).
    pub critical_wait: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            warning_utilization: 80.0,
            critical_utilization: 95.0,
            critical_wait: Duration::from_secs(1),
        }
    }
}

impl Thresholds {
    /// The level for `in_use` of `max` connections with `waiting` tasks, the oldest waiting `oldest`.
    pub fn level(&self, in_use: u32, max: u32, waiting: u32, oldest: Duration) -> HealthLevel {
        let used = f64::from(in_use) * 100.0;
        let max = f64::from(max.max(1));
        if used >= self.critical_utilization * max || (waiting > 0 && oldest >= self.critical_wait)
        {
            HealthLevel::Critical
        } else if used >= self.warning_utilization * max || waiting > 0 {
            HealthLevel::Warning
        } else {
            HealthLevel::Normal
        }
    }
}

/// What to do with a connection returned to the pool, so that no borrower inherits another's
/// open transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReleaseCheck {
    /// Ask the server on every release (one round trip) and roll back an open transaction, even
    /// one opened with a raw `BEGIN`. Choose it when the application sends `BEGIN` as SQL.
    Verify,
    /// Trust sqlx's own transaction tracking (no round trip): connections released inside a
    /// transaction opened with `begin()` are discarded; a raw `BEGIN` goes unnoticed. The default,
    /// because `Verify` costs about a third of the pool's throughput (docs/BENCHMARKS.md).
    #[default]
    Tracked,
}

/// Everything a [`MonitoredPool`] is built from.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// Pool name, also sent as PostgreSQL `application_name` so `plinth doctor` can match sessions.
    pub name: String,
    /// Maximum open connections.
    pub max_connections: u32,
    /// Connections kept open even when idle.
    pub min_connections: u32,
    /// How long `acquire` waits before it fails with a diagnosis.
    pub acquire_timeout: Duration,
    /// Close connections idle longer than this.
    pub idle_timeout: Option<Duration>,
    /// Close connections older than this.
    pub max_lifetime: Option<Duration>,
    /// Ping a connection before handing it out only if it has been idle at least this long
    /// (HikariCP's aliveness bypass window); `Duration::ZERO` pings every time.
    pub ping_idle_after: Duration,
    /// Warn when a connection is held longer than this; off (None) by default.
    pub leak_threshold: Option<Duration>,
    /// Health thresholds.
    pub thresholds: Thresholds,
    /// Transaction check on release.
    pub release_check: ReleaseCheck,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            name: "plinth".to_string(),
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(30),
            idle_timeout: Some(Duration::from_secs(600)),
            max_lifetime: Some(Duration::from_secs(1800)),
            ping_idle_after: Duration::from_millis(500),
            leak_threshold: None,
            thresholds: Thresholds::default(),
            release_check: ReleaseCheck::Tracked,
        }
    }
}

/// The last error seen while opening a connection, kept so a timeout can tell an outage from a
/// full pool.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConnectionErrorInfo {
    /// SQLSTATE or errno, when the server sent one.
    pub code: Option<String>,
    /// The error text, scrubbed of secrets.
    pub message: String,
    /// How long ago it happened, in milliseconds (at the time of the report).
    pub age_ms: f64,
}

/// Why a pool operation failed; the timeout variant carries the diagnosis.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// No connection became available within the acquire timeout.
    #[error("{}", timeout_message(.stats, .holders, .last_error, .waited))]
    AcquireTimeout {
        /// The pool's stats at the moment of the timeout.
        stats: Box<PoolStats>,
        /// The longest holders, with their call sites.
        holders: Vec<Holder>,
        /// The most recent connection error, if any.
        last_error: Option<ConnectionErrorInfo>,
        /// How long the caller waited.
        waited: Duration,
    },
    /// The pool was closed.
    #[error("pool `{name}` is closed")]
    Closed {
        /// The pool's name.
        name: String,
    },
    /// A connection could not be opened (not transient, so not waited on).
    #[error("pool `{name}` could not open a connection: {message}")]
    Connect {
        /// The pool's name.
        name: String,
        /// The scrubbed driver message, with its code.
        message: String,
        /// The driver error, for classification.
        #[source]
        source: sqlx::Error,
    },
    /// The URL does not fit this pool's database type, or cannot be parsed.
    #[error(transparent)]
    Options(#[from] crate::backend::ConnectError),
    /// The URL's driver is not the pool's database type.
    #[error("URL `{url}` is for {found:?}, but this pool is for {expected}")]
    WrongDriver {
        /// The redacted URL.
        url: String,
        /// The driver the URL selects.
        found: crate::backend::Driver,
        /// The database type of the pool.
        expected: &'static str,
    },
}

fn timeout_message(
    stats: &PoolStats,
    holders: &[Holder],
    last_error: &Option<ConnectionErrorInfo>,
    waited: &Duration,
) -> String {
    let mut s = format!(
        "timed out after {:.1}s waiting for a connection from pool `{}`: {}/{} in use, {} idle, {} waiting, {} timeouts so far",
        waited.as_secs_f64(),
        stats.name,
        stats.in_use,
        stats.max,
        stats.idle,
        stats.waiting,
        stats.timeouts_total,
    );
    if holders.is_empty() {
        s.push_str("; no tracked holders");
    } else {
        s.push_str("; longest holders: ");
        let parts: Vec<String> = holders
            .iter()
            .map(|h| format!("{} ({:.1}s)", h.location, h.held_ms / 1000.0))
            .collect();
        s.push_str(&parts.join(", "));
    }
    match last_error {
        Some(e) => s.push_str(&format!(
            "; last connection error {:.1}s ago: {}{}",
            e.age_ms / 1000.0,
            e.code
                .as_deref()
                .map(|c| format!("[{c}] "))
                .unwrap_or_default(),
            e.message
        )),
        None => s.push_str("; no connection errors seen"),
    }
    // Connections being opened count as in use; if fewer are held by borrowers, the pool is not
    // full of work but stuck connecting.
    let stuck_connecting = stats.in_use < stats.max || holders.len() < stats.in_use as usize;
    if stuck_connecting && last_error.is_some() {
        s.push_str(" — the pool is not full of borrowers: the server is likely unreachable");
    } else if stats.in_use >= stats.max {
        s.push_str(" — the pool is exhausted: release connections sooner or raise max_connections");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_at_exact_boundaries() {
        let t = Thresholds::default();
        let z = Duration::ZERO;
        assert_eq!(t.level(15, 20, 0, z), HealthLevel::Normal);
        assert_eq!(t.level(16, 20, 0, z), HealthLevel::Warning);
        assert_eq!(t.level(18, 20, 0, z), HealthLevel::Warning);
        assert_eq!(t.level(19, 20, 0, z), HealthLevel::Critical);
        assert_eq!(t.level(1, 20, 1, z), HealthLevel::Warning);
        assert_eq!(
            t.level(1, 20, 1, Duration::from_secs(2)),
            HealthLevel::Critical
        );
    }
}
