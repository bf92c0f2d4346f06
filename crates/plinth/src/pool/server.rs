//! What the server sees of its clients, so `plinth doctor` can set the pool's view beside it:
//! sessions by state, sessions idle inside a transaction, lock waits, and connection headroom.

use crate::backend::{Db, DbConn};
use crate::Backend;
use serde::Serialize;
use sqlx::Row;

/// Why the server view could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ServerViewError {
    /// A catalog query failed (often missing privileges on the statistics views).
    #[error("could not read the server's view of its connections ({what}): {}", crate::errors::display(.source))]
    Query {
        /// Which query failed.
        what: &'static str,
        /// The driver error.
        #[source]
        source: sqlx::Error,
    },
}

/// Sessions in one state, and the longest any has been in it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StateCount {
    /// The state (`active`, `idle`, `idle in transaction`, … on PostgreSQL; the command on MySQL).
    pub state: String,
    /// How many sessions are in it.
    pub count: i64,
    /// The longest time one of them has been in it, in seconds.
    pub max_seconds: f64,
}

/// One server session worth a look.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServerSession {
    /// Backend pid (PostgreSQL) or thread id (MySQL).
    pub id: i64,
    /// The application name (PostgreSQL) or client host (MySQL).
    pub application: String,
    /// The login user.
    pub user: String,
    /// The database.
    pub database: String,
    /// The state.
    pub state: String,
    /// Seconds in that state.
    pub seconds: f64,
}

/// Something in the server's view that needs attention.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServerFlag {
    /// `idle_in_transaction`, `unknown_application`, `lock_wait` or `low_headroom`.
    pub kind: String,
    /// The session concerned, if one.
    pub session: Option<ServerSession>,
    /// What it means and what to do.
    pub message: String,
}

/// The server's view of its connections, serializable for `plinth doctor --format json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServerView {
    /// The backend.
    pub backend: Backend,
    /// The server version string.
    pub version: String,
    /// Server-wide connection limit (None on SQLite).
    pub max_connections: Option<i64>,
    /// Connections reserved for superusers (PostgreSQL).
    pub reserved_connections: Option<i64>,
    /// Client connections open now, this one included.
    pub connections: Option<i64>,
    /// Connections still available to ordinary users.
    pub headroom: Option<i64>,
    /// Sessions grouped by state (other than this one).
    pub states: Vec<StateCount>,
    /// Sessions waiting on a lock.
    pub waiting_on_lock: i64,
    /// Client sessions per application name (PostgreSQL) — match them with your pools' names.
    pub applications: Vec<StateCount>,
    /// Findings that need attention.
    pub flags: Vec<ServerFlag>,
    /// SQLite journal mode.
    pub journal_mode: Option<String>,
    /// SQLite busy timeout in milliseconds.
    pub busy_timeout_ms: Option<i64>,
}

fn q(what: &'static str) -> impl FnOnce(sqlx::Error) -> ServerViewError {
    move |source| ServerViewError::Query { what, source }
}

/// Read the server's view of its connections through `db` (one connection, a few catalog queries).
pub async fn server_view(db: &mut Db) -> Result<ServerView, ServerViewError> {
    let info = db.server_info().await.map_err(q("server version"))?;
    let mut view = ServerView {
        backend: info.backend,
        version: info.version_string.clone(),
        max_connections: None,
        reserved_connections: None,
        connections: None,
        headroom: None,
        states: Vec::new(),
        waiting_on_lock: 0,
        applications: Vec::new(),
        flags: Vec::new(),
        journal_mode: None,
        busy_timeout_ms: None,
    };
    match &mut db.conn {
        DbConn::Postgres(c) => postgres(c, &mut view).await?,
        DbConn::MySql(c) => mysql(c, &mut view).await?,
        DbConn::Sqlite(c) => {
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&mut *c)
                .await
                .map_err(q("journal_mode"))?;
            let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
                .fetch_one(&mut *c)
                .await
                .map_err(q("busy_timeout"))?;
            if !mode.eq_ignore_ascii_case("wal") {
                view.flags.push(ServerFlag {
                    kind: "journal_mode".into(),
                    session: None,
                    message: format!("journal mode is {mode}: readers block writers; WAL lets a pool of readers work beside one writer"),
                });
            }
            if busy == 0 {
                view.flags.push(ServerFlag {
                    kind: "busy_timeout".into(),
                    session: None,
                    message: "busy timeout is 0: a second writer fails at once with SQLITE_BUSY"
                        .into(),
                });
            }
            view.journal_mode = Some(mode);
            view.busy_timeout_ms = Some(busy);
        }
    }
    headroom_flag(&mut view);
    Ok(view)
}

fn headroom_flag(view: &mut ServerView) {
    if let (Some(max), Some(room)) = (view.max_connections, view.headroom) {
        if max > 0 && room * 10 < max {
            view.flags.push(ServerFlag {
                kind: "low_headroom".into(),
                session: None,
                message: format!(
                    "only {room} of {max} connections left: pools that grow will get 'too many connections'"
                ),
            });
        }
    }
}

async fn postgres(
    c: &mut sqlx::PgConnection,
    view: &mut ServerView,
) -> Result<(), ServerViewError> {
    let row = sqlx::query(
        "SELECT current_setting('max_connections')::int8, \
                current_setting('superuser_reserved_connections')::int8, \
                (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int8, \
                (SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock')::int8",
    )
    .fetch_one(&mut *c)
    .await
    .map_err(q("max_connections"))?;
    let max: i64 = row.get(0);
    let reserved: i64 = row.get(1);
    let open: i64 = row.get(2);
    view.max_connections = Some(max);
    view.reserved_connections = Some(reserved);
    view.connections = Some(open);
    view.headroom = Some(max - reserved - open);
    view.waiting_on_lock = row.get(3);

    let rows = sqlx::query(
        "SELECT coalesce(state, 'unknown'), count(*)::int8, \
                coalesce(max(extract(epoch FROM now() - state_change)), 0)::float8 \
         FROM pg_stat_activity \
         WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() \
         GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&mut *c)
    .await
    .map_err(q("pg_stat_activity states"))?;
    view.states = rows
        .iter()
        .map(|r| StateCount {
            state: r.get(0),
            count: r.get(1),
            max_seconds: r.get(2),
        })
        .collect();

    let rows = sqlx::query(
        "SELECT application_name, count(*)::int8, \
                coalesce(max(extract(epoch FROM now() - backend_start)), 0)::float8 \
         FROM pg_stat_activity \
         WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() \
         GROUP BY 1 ORDER BY 2 DESC, 1",
    )
    .fetch_all(&mut *c)
    .await
    .map_err(q("pg_stat_activity applications"))?;
    view.applications = rows
        .iter()
        .map(|r| StateCount {
            state: r.get(0),
            count: r.get(1),
            max_seconds: r.get(2),
        })
        .collect();

    let rows = sqlx::query(
        "SELECT pid::int8, application_name, coalesce(usename, ''), coalesce(datname, ''), \
                coalesce(state, 'unknown'), \
                coalesce(extract(epoch FROM now() - state_change), 0)::float8, \
                coalesce(wait_event_type, '') \
         FROM pg_stat_activity \
         WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() \
           AND (state LIKE 'idle in transaction%' OR application_name = '' \
                OR wait_event_type = 'Lock') \
         ORDER BY 6 DESC LIMIT 50",
    )
    .fetch_all(&mut *c)
    .await
    .map_err(q("pg_stat_activity sessions"))?;
    for r in rows {
        let s = ServerSession {
            id: r.get(0),
            application: r.get(1),
            user: r.get(2),
            database: r.get(3),
            state: r.get(4),
            seconds: r.get(5),
        };
        let wait: String = r.get(6);
        let (kind, message) = if s.state.starts_with("idle in transaction") {
            (
                "idle_in_transaction",
                format!(
                    "pid {} ({}) has been idle inside a transaction for {:.0}s: it holds its locks and a pool slot; find the code that began it and forgot to commit (idle_in_transaction_session_timeout ends such sessions)",
                    s.id, app_label(&s.application), s.seconds
                ),
            )
        } else if wait == "Lock" {
            (
                "lock_wait",
                format!(
                    "pid {} ({}) is waiting on a lock for {:.0}s",
                    s.id,
                    app_label(&s.application),
                    s.seconds
                ),
            )
        } else {
            (
                "unknown_application",
                format!(
                    "pid {} sets no application_name, so it cannot be matched with a pool: set application_name in its URL",
                    s.id
                ),
            )
        };
        view.flags.push(ServerFlag {
            kind: kind.into(),
            session: Some(s),
            message,
        });
    }
    Ok(())
}

fn app_label(app: &str) -> &str {
    if app.is_empty() {
        "no application_name"
    } else {
        app
    }
}

async fn mysql(
    c: &mut sqlx::MySqlConnection,
    view: &mut ServerView,
) -> Result<(), ServerViewError> {
    let row = sqlx::query(
        "SELECT CAST(@@max_connections AS SIGNED), \
                CAST((SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS \
                      WHERE VARIABLE_NAME = 'THREADS_CONNECTED') AS SIGNED)",
    )
    .fetch_one(&mut *c)
    .await
    .map_err(q("max_connections, Threads_connected"))?;
    let max: i64 = row.get(0);
    let open: Option<i64> = row.get(1);
    view.max_connections = Some(max);
    view.connections = open;
    view.headroom = open.map(|o| max - o);

    let rows = sqlx::query(
        "SELECT CAST(COMMAND AS CHAR), CAST(COUNT(*) AS SIGNED), CAST(COALESCE(MAX(TIME), 0) AS DOUBLE) \
         FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() \
         GROUP BY COMMAND ORDER BY COMMAND",
    )
    .fetch_all(&mut *c)
    .await
    .map_err(q("processlist"))?;
    view.states = rows
        .iter()
        .map(|r| StateCount {
            state: r.get(0),
            count: r.get(1),
            max_seconds: r.get(2),
        })
        .collect();

    let rows = sqlx::query(
        "SELECT CAST(p.ID AS SIGNED), CAST(COALESCE(p.HOST, '') AS CHAR), CAST(COALESCE(p.USER, '') AS CHAR), \
                CAST(COALESCE(p.DB, '') AS CHAR), CAST(p.COMMAND AS CHAR), CAST(p.TIME AS DOUBLE), \
                CAST(t.trx_state AS CHAR) \
         FROM information_schema.INNODB_TRX t \
         JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id \
         WHERE p.ID <> CONNECTION_ID() AND (p.COMMAND = 'Sleep' OR t.trx_state = 'LOCK WAIT') \
         ORDER BY p.TIME DESC LIMIT 50",
    )
    .fetch_all(&mut *c)
    .await
    .map_err(q("innodb_trx"))?;
    for r in rows {
        let trx_state: String = r.get(6);
        let mut s = ServerSession {
            id: r.get(0),
            application: r.get(1),
            user: r.get(2),
            database: r.get(3),
            state: r.get(4),
            seconds: r.get(5),
        };
        if trx_state == "LOCK WAIT" {
            view.waiting_on_lock += 1;
            s.state = "lock wait".into();
            view.flags.push(ServerFlag {
                kind: "lock_wait".into(),
                message: format!(
                    "thread {} ({}) is waiting on a row lock",
                    s.id, s.application
                ),
                session: Some(s),
            });
        } else {
            s.state = "idle in transaction".into();
            view.flags.push(ServerFlag {
                kind: "idle_in_transaction".into(),
                message: format!(
                    "thread {} ({}) sleeps inside an open transaction for {:.0}s: it holds its locks and a pool slot",
                    s.id, s.application, s.seconds
                ),
                session: Some(s),
            });
        }
    }
    Ok(())
}
