//! The little that differs per database for a monitored pool: which options a URL gives, and how
//! to make sure a released connection is not inside a transaction.

use crate::backend::{AnyConnectOptions, Driver};
use crate::Backend;
use futures::future::BoxFuture;
use sqlx::{Connection, Database, Executor, Row};

/// A sqlx database a [`super::MonitoredPool`] can wrap: PostgreSQL, MySQL/MariaDB or SQLite.
pub trait MonitoredDatabase: Database {
    /// The driver family whose URLs this database accepts.
    const DRIVER: Driver;
    /// The backend as known before connecting (MySQL for the MySQL family).
    const BACKEND: Backend;

    /// Take this database's options out of parsed URL options (None when the driver differs).
    fn take_options(any: AnyConnectOptions) -> Option<<Self::Connection as Connection>::Options>;

    /// Leave the connection outside any transaction: Ok(true) if it was inside one (and was
    /// rolled back), Ok(false) if it was clean; an error means the connection should be dropped.
    fn rollback_if_in_transaction(
        conn: &mut Self::Connection,
    ) -> BoxFuture<'_, Result<bool, sqlx::Error>>;
}

impl MonitoredDatabase for sqlx::Postgres {
    const DRIVER: Driver = Driver::Postgres;
    const BACKEND: Backend = Backend::Postgres;

    fn take_options(any: AnyConnectOptions) -> Option<sqlx::postgres::PgConnectOptions> {
        match any {
            AnyConnectOptions::Postgres(o) => Some(o),
            _ => None,
        }
    }

    fn rollback_if_in_transaction(
        conn: &mut sqlx::PgConnection,
    ) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
        Box::pin(async move {
            // Inside a transaction now() is frozen at its start, so it differs from this
            // statement's start; outside one they are the same instant. (A ROLLBACK outside a
            // transaction would put a WARNING in the server log on every release.)
            // In an aborted transaction this query fails, and the connection is dropped.
            // The simple-query protocol is required: with the extended protocol the implicit
            // transaction starts at Parse while statement_timestamp() moves on to Execute.
            let row = sqlx::raw_sql("SELECT now() <> statement_timestamp()")
                .fetch_one(&mut *conn)
                .await?;
            let in_tx: bool = row.try_get(0)?;
            if in_tx {
                conn.execute("ROLLBACK").await?;
            }
            Ok(in_tx)
        })
    }
}

impl MonitoredDatabase for sqlx::MySql {
    const DRIVER: Driver = Driver::MySql;
    const BACKEND: Backend = Backend::MySql;

    fn take_options(any: AnyConnectOptions) -> Option<sqlx::mysql::MySqlConnectOptions> {
        match any {
            AnyConnectOptions::MySql(o) => Some(o),
            _ => None,
        }
    }

    fn rollback_if_in_transaction(
        conn: &mut sqlx::MySqlConnection,
    ) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
        Box::pin(async move {
            // ROLLBACK outside a transaction is a silent no-op on MySQL and MariaDB; the OK packet
            // does not say whether there was one, so report "clean".
            conn.execute("ROLLBACK").await?;
            Ok(false)
        })
    }
}

impl MonitoredDatabase for sqlx::Sqlite {
    const DRIVER: Driver = Driver::Sqlite;
    const BACKEND: Backend = Backend::Sqlite;

    fn take_options(any: AnyConnectOptions) -> Option<sqlx::sqlite::SqliteConnectOptions> {
        match any {
            AnyConnectOptions::Sqlite(o) => Some(o),
            _ => None,
        }
    }

    fn rollback_if_in_transaction(
        conn: &mut sqlx::SqliteConnection,
    ) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
        Box::pin(async move {
            // SQLite has no SQL to ask "in a transaction?"; ROLLBACK outside one fails with
            // "cannot rollback - no transaction is active", which means clean.
            match conn.execute("ROLLBACK").await {
                Ok(_) => Ok(true),
                Err(sqlx::Error::Database(e))
                    if e.message().contains("no transaction is active") =>
                {
                    Ok(false)
                }
                Err(e) => Err(e),
            }
        })
    }
}
