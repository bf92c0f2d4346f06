//! Read the tables, columns and indexes of a live database and say what would not carry over to
//! another backend unchanged: the portability check behind `plinth compat check --target B`.

use super::capabilities::{
    capabilities_for, default_version, display_name, Capabilities, Capability, LengthUnit,
    OverlongIdentifier,
};
use super::types::{equivalent_type_for, parse_native, LogicalType};
use crate::backend::{Backend, Db, DbConn};
use serde::Serialize;

/// Why a schema could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IntrospectError {
    /// A catalog query failed (permissions, a dropped connection).
    #[error("could not read the schema of {url}: {}", crate::errors::display(.source))]
    Query {
        /// The database, password hidden.
        url: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
}

/// A column as the server describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// The type as the server spells it.
    pub native_type: String,
    /// What it means, backend-neutrally.
    pub logical: LogicalType,
    /// Whether NULL is allowed.
    pub nullable: bool,
}

/// An index as the server describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Index {
    /// Index name.
    pub name: String,
    /// Unique index.
    pub unique: bool,
    /// Backs the primary key.
    pub primary: bool,
    /// Has a WHERE predicate.
    pub partial: bool,
    /// Indexes an expression rather than plain columns.
    pub expression: bool,
    /// Access method (btree, gin, FULLTEXT, …) when the server says.
    pub method: Option<String>,
    /// Its definition or columns, for messages.
    pub definition: String,
}

/// A table with its columns and indexes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Table {
    /// Table name.
    pub name: String,
    /// Columns in declaration order.
    pub columns: Vec<Column>,
    /// Indexes.
    pub indexes: Vec<Index>,
}

/// The tables of the connected database (current schema on PostgreSQL).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Schema {
    /// The backend it was read from.
    pub backend: Backend,
    /// Tables in name order.
    pub tables: Vec<Table>,
}

/// table, index, unique, primary, partial, expression, method, definition.
type PgIndexRow = (String, String, bool, bool, bool, bool, String, String);

/// Read tables, columns and indexes from the connected database's catalog.
pub async fn introspect(db: &mut Db) -> Result<Schema, IntrospectError> {
    let url = db.display_url.clone();
    let wrap = |source: sqlx::Error| IntrospectError::Query {
        url: url.clone(),
        source,
    };
    let backend = db.server_info().await.map_err(wrap)?.backend;
    let mut tables: Vec<Table> = Vec::new();
    let table_mut = |tables: &mut Vec<Table>, name: &str| -> usize {
        match tables.iter().position(|t| t.name == name) {
            Some(i) => i,
            None => {
                tables.push(Table {
                    name: name.to_string(),
                    columns: vec![],
                    indexes: vec![],
                });
                tables.len() - 1
            }
        }
    };
    match &mut db.conn {
        DbConn::Postgres(c) => {
            let cols: Vec<(String, String, String, bool, bool)> = sqlx::query_as(
                "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), \
                        t.typtype = 'e', NOT a.attnotnull \
                 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid \
                 WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') \
                   AND a.attnum > 0 AND NOT a.attisdropped \
                 ORDER BY c.relname, a.attnum",
            )
            .fetch_all(&mut *c)
            .await
            .map_err(wrap)?;
            for (table, name, ty, is_enum, nullable) in cols {
                let i = table_mut(&mut tables, &table);
                let logical = if is_enum {
                    LogicalType::Enum
                } else {
                    parse_native(backend, &ty)
                };
                tables[i].columns.push(Column {
                    name,
                    native_type: ty,
                    logical,
                    nullable,
                });
            }
            let idx: Vec<PgIndexRow> = sqlx::query_as(
                "SELECT t.relname::text, i.relname::text, ix.indisunique, ix.indisprimary, \
                        ix.indpred IS NOT NULL, ix.indexprs IS NOT NULL, am.amname::text, \
                        pg_get_indexdef(ix.indexrelid) \
                 FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid \
                 JOIN pg_class t ON t.oid = ix.indrelid \
                 JOIN pg_namespace n ON n.oid = t.relnamespace JOIN pg_am am ON am.oid = i.relam \
                 WHERE n.nspname = current_schema() ORDER BY 1, 2",
            )
            .fetch_all(&mut *c)
            .await
            .map_err(wrap)?;
            for (table, name, unique, primary, partial, expression, method, definition) in idx {
                let i = table_mut(&mut tables, &table);
                tables[i].indexes.push(Index {
                    name,
                    unique,
                    primary,
                    partial,
                    expression,
                    method: Some(method),
                    definition,
                });
            }
        }
        DbConn::MySql(c) => {
            let cols: Vec<(String, String, String, String)> = sqlx::query_as(
                "SELECT CAST(TABLE_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR), \
                        CAST(COLUMN_TYPE AS CHAR), CAST(IS_NULLABLE AS CHAR) \
                 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
                 ORDER BY TABLE_NAME, ORDINAL_POSITION",
            )
            .fetch_all(&mut *c)
            .await
            .map_err(wrap)?;
            // MariaDB's JSON is LONGTEXT plus an automatic CHECK (json_valid(`col`)).
            let json_checks: Vec<(String, String)> = if backend == Backend::MariaDb {
                sqlx::query_as(
                    "SELECT CAST(TABLE_NAME AS CHAR), CAST(CHECK_CLAUSE AS CHAR) \
                     FROM information_schema.CHECK_CONSTRAINTS \
                     WHERE CONSTRAINT_SCHEMA = DATABASE()",
                )
                .fetch_all(&mut *c)
                .await
                .map_err(wrap)?
            } else {
                vec![]
            };
            for (table, name, ty, nullable) in cols {
                let i = table_mut(&mut tables, &table);
                let is_json = json_checks.iter().any(|(t, clause)| {
                    *t == table && clause.to_ascii_lowercase() == format!("json_valid(`{name}`)")
                });
                let logical = if is_json {
                    LogicalType::Json { binary: false }
                } else {
                    parse_native(backend, &ty)
                };
                tables[i].columns.push(Column {
                    name,
                    native_type: ty,
                    logical,
                    nullable: nullable == "YES",
                });
            }
            let idx: Vec<(String, String, i64, String, Option<String>)> = sqlx::query_as(
                "SELECT CAST(TABLE_NAME AS CHAR), CAST(INDEX_NAME AS CHAR), \
                        CAST(MAX(NON_UNIQUE) AS SIGNED), CAST(MAX(INDEX_TYPE) AS CHAR), \
                        CAST(GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) AS CHAR) \
                 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
                 GROUP BY TABLE_NAME, INDEX_NAME ORDER BY 1, 2",
            )
            .fetch_all(&mut *c)
            .await
            .map_err(wrap)?;
            for (table, name, non_unique, method, columns) in idx {
                let i = table_mut(&mut tables, &table);
                tables[i].indexes.push(Index {
                    primary: name == "PRIMARY",
                    name,
                    unique: non_unique == 0,
                    partial: false,
                    expression: columns.is_none(),
                    method: Some(method),
                    definition: columns.unwrap_or_default(),
                });
            }
        }
        DbConn::Sqlite(c) => {
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
            )
            .fetch_all(&mut *c)
            .await
            .map_err(wrap)?;
            for table in names {
                let i = table_mut(&mut tables, &table);
                let cols: Vec<(String, String, i64, i64)> = sqlx::query_as(
                    "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1) ORDER BY cid",
                )
                .bind(&table)
                .fetch_all(&mut *c)
                .await
                .map_err(wrap)?;
                for (name, ty, notnull, pk) in cols {
                    let logical = if pk == 1 && ty.eq_ignore_ascii_case("integer") {
                        LogicalType::AutoIncrementKey
                    } else {
                        parse_native(backend, &ty)
                    };
                    tables[i].columns.push(Column {
                        name,
                        native_type: ty,
                        logical,
                        nullable: notnull == 0,
                    });
                }
                let idx: Vec<(String, i64, String, i64, Option<String>)> = sqlx::query_as(
                    "SELECT l.name, l.\"unique\", l.origin, l.partial, m.sql \
                     FROM pragma_index_list(?1) l \
                     LEFT JOIN sqlite_master m ON m.type = 'index' AND m.name = l.name \
                     ORDER BY l.name",
                )
                .bind(&table)
                .fetch_all(&mut *c)
                .await
                .map_err(wrap)?;
                for (name, unique, origin, partial, sql) in idx {
                    let definition = sql.unwrap_or_default();
                    tables[i].indexes.push(Index {
                        name,
                        unique: unique == 1,
                        primary: origin == "pk",
                        partial: partial == 1,
                        expression: false,
                        method: None,
                        definition,
                    });
                }
            }
        }
    }
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Schema { backend, tables })
}

/// What kind of object a portability finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// A table.
    Table,
    /// A column.
    Column,
    /// An index.
    Index,
}

/// One thing that would not carry over to the target unchanged, with why and what to use instead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The table it belongs to.
    pub table: String,
    /// What kind of object.
    pub kind: ObjectKind,
    /// The object's name (the table name for table findings).
    pub name: String,
    /// The source type, for columns.
    pub source_type: Option<String>,
    /// The type or form to use on the target.
    pub suggested: Option<String>,
    /// Why it does not carry over unchanged.
    pub reason: String,
}

/// Report each table, column and index of `schema` (read from `from`) that would not carry over to
/// `target` unchanged, at the versions plinth is tested against.
pub fn portability_check(schema: &Schema, from: Backend, target: Backend) -> Vec<Finding> {
    portability_check_for(
        schema,
        &capabilities_for(from, default_version(from)),
        &capabilities_for(target, default_version(target)),
    )
}

fn identifier_problem(name: &str, from: &Capabilities, to: &Capabilities) -> Option<String> {
    let len = |unit: LengthUnit| match unit {
        LengthUnit::Bytes => name.len(),
        LengthUnit::Characters => name.chars().count(),
    };
    let tb = display_name(to.backend);
    if let Some(max) = to.max_identifier.max_length {
        let n = len(to.max_identifier.unit);
        if n > max as usize {
            let what = match to.max_identifier.overlong {
                OverlongIdentifier::Truncated => "would silently truncate it",
                _ => "rejects it",
            };
            return Some(format!(
                "name is {n} {} long; {tb} allows {max} and {what}",
                unit_name(to.max_identifier.unit)
            ));
        }
    }
    if from.max_identifier.overlong == OverlongIdentifier::Truncated {
        if let Some(max) = from.max_identifier.max_length {
            if len(from.max_identifier.unit) == max as usize {
                let fb = display_name(from.backend);
                let limit = to
                    .max_identifier
                    .max_length
                    .map(|m| format!("{m} {}", unit_name(to.max_identifier.unit)))
                    .unwrap_or_else(|| "no limit".into());
                return Some(format!(
                    "name is exactly {max} bytes, {fb}'s limit: {fb} silently truncates longer \
                     names, so the migration that created it probably spells a longer name, \
                     which {tb} ({limit}) will {}; shorten it in the migration",
                    match to.max_identifier.overlong {
                        OverlongIdentifier::Rejected => "reject if it is over the limit",
                        OverlongIdentifier::Truncated => "truncate differently",
                        OverlongIdentifier::NoLimit => "keep in full, so names will differ",
                    }
                ));
            }
        }
    }
    None
}

fn unit_name(unit: LengthUnit) -> &'static str {
    match unit {
        LengthUnit::Bytes => "bytes",
        LengthUnit::Characters => "characters",
    }
}

/// As [`portability_check`], for specific server versions.
pub fn portability_check_for(
    schema: &Schema,
    from: &Capabilities,
    to: &Capabilities,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let tb = display_name(to.backend);
    for t in &schema.tables {
        if let Some(reason) = identifier_problem(&t.name, from, to) {
            out.push(Finding {
                table: t.name.clone(),
                kind: ObjectKind::Table,
                name: t.name.clone(),
                source_type: None,
                suggested: None,
                reason,
            });
        }
        for c in &t.columns {
            if let Some(reason) = identifier_problem(&c.name, from, to) {
                out.push(Finding {
                    table: t.name.clone(),
                    kind: ObjectKind::Column,
                    name: c.name.clone(),
                    source_type: Some(c.native_type.clone()),
                    suggested: None,
                    reason,
                });
            }
            let m = equivalent_type_for(&c.logical, from, to);
            if let Some(loss) = m.loss {
                out.push(Finding {
                    table: t.name.clone(),
                    kind: ObjectKind::Column,
                    name: c.name.clone(),
                    source_type: Some(c.native_type.clone()),
                    suggested: Some(m.target_type),
                    reason: loss,
                });
            }
        }
        for i in &t.indexes {
            let mut reasons = Vec::new();
            if let Some(r) = identifier_problem(&i.name, from, to) {
                if !i.primary {
                    reasons.push(r);
                }
            }
            if i.partial && !to.is_capable(Capability::PartialIndexes) {
                reasons.push(format!(
                    "partial index (WHERE …): {tb} has none; index all rows or index a generated column"
                ));
            }
            if i.expression && !to.is_capable(Capability::ExpressionIndexes) {
                reasons.push(format!(
                    "expression index: {tb} has none; index a generated column"
                ));
            }
            if let Some(method) = &i.method {
                let m = method.to_ascii_lowercase();
                let portable = match to.backend {
                    Backend::Postgres => matches!(m.as_str(), "btree" | "hash"),
                    Backend::MySql | Backend::MariaDb => m == "btree",
                    Backend::Sqlite => m == "btree",
                };
                if !portable && from.backend != to.backend {
                    reasons.push(format!(
                        "{method} index: {tb} has no such index method (full-text and JSON \
                         indexes need a rewrite for {tb})"
                    ));
                }
            }
            if !reasons.is_empty() {
                out.push(Finding {
                    table: t.name.clone(),
                    kind: ObjectKind::Index,
                    name: i.name.clone(),
                    source_type: None,
                    suggested: None,
                    reason: reasons.join("; "),
                });
            }
        }
    }
    out
}
