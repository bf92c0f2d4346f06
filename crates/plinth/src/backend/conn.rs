//! One connection to any of the three backends, with what we learned about the server, so that the
//! migrator and the schema operations can stay backend-free and branch only on [`ServerInfo`].

use super::{Backend, Version};
use crate::redact::redact_url;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection, Executor};
use std::str::FromStr;

/// The URL used when neither `--database-url` nor `DATABASE_URL` is given: a local SQLite file.
pub const DEFAULT_DATABASE_URL: &str = "sqlite:plinth.db";

/// The driver family a URL selects, known before connecting (MariaDB is told apart only after).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    /// `postgres://` or `postgresql://`.
    Postgres,
    /// `mysql://` or `mariadb://`.
    MySql,
    /// `sqlite:`.
    Sqlite,
}

impl Driver {
    /// Read the driver from a URL's scheme; None for schemes plinth does not speak.
    pub fn from_url(url: &str) -> Option<Driver> {
        let scheme = url.split(':').next()?.to_ascii_lowercase();
        match scheme.as_str() {
            "postgres" | "postgresql" => Some(Driver::Postgres),
            "mysql" | "mariadb" => Some(Driver::MySql),
            "sqlite" => Some(Driver::Sqlite),
            _ => None,
        }
    }
}

/// What the server told us about itself: the facts capability checks and dialect choices need.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ServerInfo {
    /// The engine (MariaDB detected from its version string).
    pub backend: Backend,
    /// The parsed version.
    pub version: Version,
    /// The version string as the server reported it.
    pub version_string: String,
}

impl ServerInfo {
    /// Build server info from a reported version string, telling MariaDB from MySQL by its text.
    pub fn from_version_string(driver: Driver, text: &str) -> ServerInfo {
        let backend = match driver {
            Driver::Postgres => Backend::Postgres,
            Driver::Sqlite => Backend::Sqlite,
            Driver::MySql if text.to_ascii_lowercase().contains("mariadb") => Backend::MariaDb,
            Driver::MySql => Backend::MySql,
        };
        ServerInfo {
            backend,
            version: Version::parse(text).unwrap_or_default(),
            version_string: text.to_string(),
        }
    }
}

/// A live connection to one of the supported backends.
pub enum DbConn {
    /// PostgreSQL.
    Postgres(PgConnection),
    /// MySQL or MariaDB.
    MySql(MySqlConnection),
    /// SQLite.
    Sqlite(SqliteConnection),
}

/// Run the same expression against whichever concrete connection is inside a [`DbConn`].
#[macro_export]
macro_rules! with_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::backend::DbConn::Postgres($c) => $body,
            $crate::backend::DbConn::MySql($c) => $body,
            $crate::backend::DbConn::Sqlite($c) => $body,
        }
    };
}

/// Why a connection could not be made; every message carries the URL with its password hidden.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL's scheme is not one plinth speaks.
    #[error("unsupported database URL `{url}`: use postgres://, mysql://, mariadb:// or sqlite:")]
    UnsupportedScheme {
        /// The redacted URL.
        url: String,
    },
    /// The URL could not be parsed into connection options.
    #[error("invalid database URL `{url}`: {reason}")]
    InvalidUrl {
        /// The redacted URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server refused or could not be reached.
    #[error("cannot connect to {url}: {reason}")]
    Unreachable {
        /// The redacted URL.
        url: String,
        /// The driver's reason, scrubbed of secrets.
        reason: String,
        /// The underlying error, for classification.
        #[source]
        source: sqlx::Error,
    },
}

impl ConnectError {
    /// The driver error behind a failed connection attempt, for classification and retry decisions.
    pub fn sqlx_error(&self) -> Option<&sqlx::Error> {
        match self {
            ConnectError::Unreachable { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Options that apply to every connection plinth opens.
#[derive(Clone, Debug)]
pub struct ConnectConfig {
    /// PostgreSQL `application_name`, so the server's view can be matched with ours.
    pub application_name: String,
}

impl Default for ConnectConfig {
    fn default() -> Self {
        ConnectConfig {
            application_name: "plinth".to_string(),
        }
    }
}

/// Parsed connection options for any backend, so pools and single connections share one parser.
#[derive(Clone, Debug)]
pub enum AnyConnectOptions {
    /// PostgreSQL options.
    Postgres(PgConnectOptions),
    /// MySQL/MariaDB options.
    MySql(MySqlConnectOptions),
    /// SQLite options.
    Sqlite(SqliteConnectOptions),
}

impl AnyConnectOptions {
    /// Parse a URL into options with plinth's defaults: SQLite files are created if absent; MySQL
    /// sessions keep the server's own `sql_mode` and time zone (no extra `SET` round trip), so a
    /// migration behaves as it would in the `mysql` client; PostgreSQL sets `application_name`.
    pub fn parse(url: &str, config: &ConnectConfig) -> Result<Self, ConnectError> {
        let driver = Driver::from_url(url).ok_or_else(|| ConnectError::UnsupportedScheme {
            url: redact_url(url),
        })?;
        let invalid = |e: sqlx::Error| ConnectError::InvalidUrl {
            url: redact_url(url),
            reason: crate::redact::scrub(&e.to_string(), &crate::redact::secrets_of(url)),
        };
        let quiet = tracing::log::LevelFilter::Trace;
        Ok(match driver {
            Driver::Postgres => {
                let mut o = PgConnectOptions::from_str(url).map_err(invalid)?;
                if o.get_application_name().is_none() {
                    o = o.application_name(&config.application_name);
                }
                AnyConnectOptions::Postgres(o.log_statements(quiet))
            }
            Driver::MySql => {
                let url = url.replacen("mariadb:", "mysql:", 1);
                let o = MySqlConnectOptions::from_str(&url)
                    .map_err(invalid)?
                    .pipes_as_concat(false)
                    .no_engine_substitution(false)
                    .timezone(None)
                    .set_names(false);
                AnyConnectOptions::MySql(o.log_statements(quiet))
            }
            Driver::Sqlite => {
                let o = SqliteConnectOptions::from_str(url)
                    .map_err(invalid)?
                    .create_if_missing(true);
                AnyConnectOptions::Sqlite(o.log_statements(quiet))
            }
        })
    }

    /// The driver these options are for.
    pub fn driver(&self) -> Driver {
        match self {
            AnyConnectOptions::Postgres(_) => Driver::Postgres,
            AnyConnectOptions::MySql(_) => Driver::MySql,
            AnyConnectOptions::Sqlite(_) => Driver::Sqlite,
        }
    }
}

/// A connection plus what plinth knows about its server.
pub struct Db {
    /// The connection.
    pub conn: DbConn,
    /// The driver family (known before the server's version is).
    pub driver: Driver,
    /// The server's identity; `None` until it has been read (the migrate fast path reads it in the
    /// same round trip as the history table).
    pub info: Option<ServerInfo>,
    /// The URL with its password hidden, for messages.
    pub display_url: String,
    /// The URL itself, for opening sibling connections (the lock's); never displayed.
    pub(crate) url: String,
    /// Names of the statements plinth prepared (SQL `PREPARE`) in this session.
    pub(crate) prepared: Vec<String>,
}

impl Db {
    /// Open one connection without sending any query (the server's version is read lazily).
    pub async fn connect(url: &str, config: &ConnectConfig) -> Result<Db, ConnectError> {
        let options = AnyConnectOptions::parse(url, config)?;
        let display_url = redact_url(url);
        let unreachable = |e: sqlx::Error| ConnectError::Unreachable {
            url: display_url.clone(),
            reason: crate::redact::scrub(&e.to_string(), &crate::redact::secrets_of(url)),
            source: e,
        };
        let conn = match &options {
            AnyConnectOptions::Postgres(o) => {
                DbConn::Postgres(PgConnection::connect_with(o).await.map_err(unreachable)?)
            }
            AnyConnectOptions::MySql(o) => DbConn::MySql(
                MySqlConnection::connect_with(o)
                    .await
                    .map_err(unreachable)?,
            ),
            AnyConnectOptions::Sqlite(o) => DbConn::Sqlite(
                SqliteConnection::connect_with(o)
                    .await
                    .map_err(unreachable)?,
            ),
        };
        // PostgreSQL reports its version in the startup handshake: no query needed.
        let info = match &conn {
            DbConn::Postgres(c) => c.server_version_num().map(|n| ServerInfo {
                backend: Backend::Postgres,
                version: Version::from_pg_num(n),
                version_string: Version::from_pg_num(n).to_string(),
            }),
            _ => None,
        };
        Ok(Db {
            conn,
            driver: options.driver(),
            info,
            display_url,
            url: url.to_string(),
            prepared: Default::default(),
        })
    }

    /// The server's identity, asking it (one query) if it is not known yet.
    pub async fn server_info(&mut self) -> Result<ServerInfo, sqlx::Error> {
        if let Some(info) = &self.info {
            return Ok(info.clone());
        }
        let sql = match self.driver {
            Driver::Postgres => "SELECT current_setting('server_version')",
            Driver::MySql => "SELECT VERSION()",
            Driver::Sqlite => "SELECT sqlite_version()",
        };
        let text: String =
            with_conn!(&mut self.conn, c => sqlx::query_scalar(sql).fetch_one(&mut *c).await?);
        let info = ServerInfo::from_version_string(self.driver, &text);
        self.info = Some(info.clone());
        Ok(info)
    }

    /// The backend, as far as it is known without a query (MySQL until MariaDB is detected).
    pub fn backend(&self) -> Backend {
        match (&self.info, self.driver) {
            (Some(i), _) => i.backend,
            (None, Driver::Postgres) => Backend::Postgres,
            (None, Driver::MySql) => Backend::MySql,
            (None, Driver::Sqlite) => Backend::Sqlite,
        }
    }

    /// Run SQL text (one or several statements) with no parameters, as the simple-query protocol
    /// does; for migration files and validated, quoted DDL only.
    pub async fn execute_script(&mut self, sql: &str) -> Result<u64, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        with_conn!(&mut self.conn, c => Ok(c.execute(sqlx::raw_sql(sql)).await?.rows_affected()))
    }

    /// Close the connection politely (a dropped connection also closes, less gracefully).
    pub async fn close(self) -> Result<(), sqlx::Error> {
        with_conn!(self.conn, c => c.close().await)
    }
}
