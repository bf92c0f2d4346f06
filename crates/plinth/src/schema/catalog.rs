//! Catalog look-ups the schema operations make before acting, so that "already applied" is a fact
//! read from the database rather than guessed from an error message.

use super::sql::quote;
use crate::backend::{Db, DbConn};
use crate::Backend;

/// What the catalog says about one column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnInfo {
    /// The column's name as stored.
    pub name: String,
    /// Its type as the catalog spells it (`character varying(20)`, `varchar(20)`, `TEXT`).
    pub sql_type: String,
    /// Whether it accepts NULL.
    pub nullable: bool,
    /// Its default, as the catalog shows it (SQL text), if any.
    pub default: Option<String>,
    /// MySQL's EXTRA column (`auto_increment`, `DEFAULT_GENERATED`, …); empty elsewhere.
    pub extra: String,
}

/// Read one column of a table; None when the table or the column does not exist.
pub async fn column(
    db: &mut Db,
    backend: Backend,
    table: &str,
    column: &str,
) -> Result<Option<ColumnInfo>, sqlx::Error> {
    match &mut db.conn {
        DbConn::Postgres(c) => {
            let row: Option<(String, String, bool, Option<String>)> = sqlx::query_as(
                "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, \
                 pg_get_expr(d.adbin, d.adrelid) \
                 FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
                 WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped",
            )
            .bind(quote(backend, table))
            .bind(column)
            .fetch_optional(&mut *c)
            .await?;
            Ok(row.map(|(name, sql_type, nullable, default)| ColumnInfo {
                name,
                sql_type,
                nullable,
                default,
                extra: String::new(),
            }))
        }
        DbConn::MySql(c) => {
            let row: Option<(String, String, String, Option<String>, String)> = sqlx::query_as(
                "SELECT CAST(COLUMN_NAME AS CHAR), CAST(COLUMN_TYPE AS CHAR), CAST(IS_NULLABLE AS CHAR), \
                 CAST(COLUMN_DEFAULT AS CHAR), CAST(EXTRA AS CHAR) FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?",
            )
            .bind(table)
            .bind(column)
            .fetch_optional(&mut *c)
            .await?;
            Ok(
                row.map(|(name, sql_type, nullable, default, extra)| ColumnInfo {
                    name,
                    sql_type,
                    nullable: nullable.eq_ignore_ascii_case("YES"),
                    default,
                    extra,
                }),
            )
        }
        DbConn::Sqlite(c) => {
            let row: Option<(String, String, i64, Option<String>)> = sqlx::query_as(
                "SELECT name, type, \"notnull\", dflt_value FROM pragma_table_xinfo(?1) WHERE name = ?2 COLLATE NOCASE",
            )
            .bind(table)
            .bind(column)
            .fetch_optional(&mut *c)
            .await?;
            Ok(row.map(|(name, sql_type, notnull, default)| ColumnInfo {
                name,
                sql_type,
                nullable: notnull == 0,
                default,
                extra: String::new(),
            }))
        }
    }
}

/// True when a table (not a view or index) with this name exists.
pub async fn table_exists(db: &mut Db, backend: Backend, table: &str) -> Result<bool, sqlx::Error> {
    let found: Option<String> = match &mut db.conn {
        DbConn::Postgres(c) => {
            sqlx::query_scalar("SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1) AND relkind IN ('r', 'p')")
                .bind(quote(backend, table))
                .fetch_optional(&mut *c)
                .await?
        }
        DbConn::MySql(c) => {
            sqlx::query_scalar(
                "SELECT CAST(TABLE_TYPE AS CHAR) FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND TABLE_TYPE = 'BASE TABLE'",
            )
            .bind(table)
            .fetch_optional(&mut *c)
            .await?
        }
        DbConn::Sqlite(c) => {
            sqlx::query_scalar("SELECT type FROM sqlite_schema WHERE type = 'table' AND name = ?1 COLLATE NOCASE")
                .bind(table)
                .fetch_optional(&mut *c)
                .await?
        }
    };
    Ok(found.is_some())
}

/// Where an index name is taken: None when free, `Some(Ok(table))` when it is an index on that
/// table, `Some(Err(kind))` when the name belongs to another kind of object (PostgreSQL and SQLite
/// share one namespace between tables and indexes).
pub async fn index_owner(
    db: &mut Db,
    backend: Backend,
    table: &str,
    index: &str,
) -> Result<Option<Result<String, String>>, sqlx::Error> {
    match &mut db.conn {
        DbConn::Postgres(c) => {
            let row: Option<(String, Option<String>)> = sqlx::query_as(
                "SELECT r.relkind::text, t.relname::text FROM pg_class r \
                 LEFT JOIN pg_index i ON i.indexrelid = r.oid LEFT JOIN pg_class t ON t.oid = i.indrelid \
                 WHERE r.oid = to_regclass($1)",
            )
            .bind(quote(backend, index))
            .fetch_optional(&mut *c)
            .await?;
            Ok(row.map(|(kind, owner)| match (kind.as_str(), owner) {
                ("i" | "I", Some(t)) => Ok(t),
                (k, _) => Err(pg_relkind_name(k).to_string()),
            }))
        }
        DbConn::MySql(c) => {
            let row: Option<String> = sqlx::query_scalar(
                "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.STATISTICS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = ? LIMIT 1",
            )
            .bind(table)
            .bind(index)
            .fetch_optional(&mut *c)
            .await?;
            Ok(row.map(Ok))
        }
        DbConn::Sqlite(c) => {
            let row: Option<(String, String)> = sqlx::query_as(
                "SELECT type, tbl_name FROM sqlite_schema WHERE name = ?1 COLLATE NOCASE",
            )
            .bind(index)
            .fetch_optional(&mut *c)
            .await?;
            Ok(row.map(|(kind, owner)| {
                if kind == "index" {
                    Ok(owner)
                } else {
                    Err(kind)
                }
            }))
        }
    }
}

fn pg_relkind_name(kind: &str) -> &'static str {
    match kind {
        "r" | "p" => "table",
        "v" => "view",
        "m" => "materialized view",
        "S" => "sequence",
        "f" => "foreign table",
        "c" => "composite type",
        _ => "relation",
    }
}
