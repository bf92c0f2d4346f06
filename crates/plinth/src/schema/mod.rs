//! Idempotent schema operations for migrations written in Rust: each one checks the catalog
//! first, treats an error classified `already_applied` in its own context as done, reports an
//! incompatible type change as `expected`, and anything else as a critical error.
//!
//! Transactions: on PostgreSQL a failed statement aborts the surrounding transaction, so inside a
//! transaction every statement runs under a SAVEPOINT and a skipped one leaves the transaction
//! usable. A runner that opened the transaction with a plain `BEGIN` (invisible to sqlx's own
//! transaction tracking) can say so in [`SchemaOptions::in_transaction`]; left as `None`, plinth
//! finds out by issuing the SAVEPOINT itself: PostgreSQL refuses it outside a transaction block
//! with 25P01, which costs one round trip and changes nothing. (`now() <> statement_timestamp()`
//! is not a sound test: both can be equal in the first statement of a transaction.) MySQL and
//! MariaDB commit implicitly around DDL, and SQLite rolls back only the failing statement, so
//! neither needs a savepoint for a single statement.
//!
//! Names must be plain identifiers (`[A-Za-z_][A-Za-z0-9_]*`); they are quoted, so on PostgreSQL
//! they are case-sensitive: use lower case. Types are SQL type names for the target backend,
//! checked against a conservative grammar. DDL cannot take bound parameters, so defaults are
//! typed values rendered as escaped literals.

use crate::backend::Db;
use crate::errors::{
    classify, classify_in_context, Category, Classification, Disposition, OpContext, Operation,
};
use crate::Backend;
use serde::Serialize;

pub mod catalog;
pub mod sql;
mod sqlite_rebuild;

use sql::{column_definition, quote, validate_identifier, validate_type};

/// A column to add or create.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// The column's name.
    pub name: String,
    /// Its SQL type for the target backend (`VARCHAR(255)`, `BIGINT`, `TEXT`).
    pub sql_type: String,
    /// Whether NULL is allowed (default true).
    pub nullable: bool,
    /// The default value, if any.
    pub default: Option<DefaultValue>,
}

impl Column {
    /// A nullable column without default.
    pub fn new(name: impl Into<String>, sql_type: impl Into<String>) -> Column {
        Column {
            name: name.into(),
            sql_type: sql_type.into(),
            nullable: true,
            default: None,
        }
    }

    /// Make the column NOT NULL.
    pub fn not_null(mut self) -> Column {
        self.nullable = false;
        self
    }

    /// Give the column a default value.
    pub fn default_value(mut self, value: DefaultValue) -> Column {
        self.default = Some(value);
        self
    }
}

/// A default value, rendered as an escaped literal (DDL cannot bind parameters).
#[derive(Clone, Debug, PartialEq)]
pub enum DefaultValue {
    /// `NULL`.
    Null,
    /// An integer literal.
    Integer(i64),
    /// A boolean (`TRUE`/`FALSE`, `1`/`0` on SQLite).
    Bool(bool),
    /// A string literal, quotes (and MySQL backslashes) escaped.
    Text(String),
    /// `CURRENT_TIMESTAMP`.
    CurrentTimestamp,
}

/// A table to create.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// The table's name.
    pub name: String,
    /// Its columns, in order.
    pub columns: Vec<Column>,
    /// The primary key's columns (empty: none).
    pub primary_key: Vec<String>,
}

/// An index to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Index {
    /// The index's name.
    pub name: String,
    /// The table it indexes.
    pub table: String,
    /// The indexed columns, in order.
    pub columns: Vec<String>,
    /// Whether it is a UNIQUE index.
    pub unique: bool,
}

/// How the operations behave around transactions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchemaOptions {
    /// Whether the caller has a transaction open on this connection (`Some(true)` after a raw
    /// `BEGIN`). `None`: detect it on PostgreSQL by issuing the SAVEPOINT (see the module docs).
    pub in_transaction: Option<bool>,
}

/// How an "already applied" was recognised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "by")]
pub enum Detection {
    /// The catalog showed the change in place before anything ran.
    Catalog,
    /// The statement ran and failed with an error classified `already_applied` here.
    Error {
        /// The classification of that error.
        classification: Box<Classification>,
    },
}

/// What an incompatible type change looked like, for the caller and the warning.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Incompatible {
    /// The table.
    pub table: String,
    /// The column.
    pub column: String,
    /// The column's type before.
    pub from_type: String,
    /// The type that was asked for.
    pub to_type: String,
    /// The database's reason.
    pub reason: String,
    /// The error's classification.
    pub classification: Classification,
}

/// The result of a schema operation that did not fail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Outcome {
    /// The change was made.
    Applied,
    /// The change was already there: skipped (logged at debug).
    AlreadyApplied {
        /// How that was seen.
        detection: Detection,
    },
    /// The database refused a type change as incompatible with the data (logged as a warning).
    ExpectedIncompatible(Box<Incompatible>),
}

impl Outcome {
    /// True when nothing was changed because the change was already in place.
    pub fn is_skipped(&self) -> bool {
        matches!(self, Outcome::AlreadyApplied { .. })
    }
}

/// Why a schema operation failed: every variant names the operation, table and column.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// A table, column or index name is not a plain identifier.
    #[error("invalid identifier `{name}`: {reason}")]
    InvalidIdentifier {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A type name does not look like a SQL type.
    #[error(
        "invalid SQL type `{sql_type}`: use a type name such as VARCHAR(255) or NUMERIC(10, 2)"
    )]
    InvalidType {
        /// The type given.
        sql_type: String,
    },
    /// The database refused the operation for a reason that is not "already applied".
    #[error("{operation} on {table}{column} failed on {backend}: {category} [{code}]: {message}", operation = .operation.as_str(), column = dotted(.column), backend = .classification.backend, category = .classification.category, code = .classification.code(), message = .classification.message)]
    Database {
        /// The operation.
        operation: Operation,
        /// The table.
        table: String,
        /// The column or index, if any.
        column: String,
        /// The error's classification.
        classification: Box<Classification>,
        /// The driver error.
        #[source]
        source: sqlx::Error,
    },
    /// The catalog shows a state the operation cannot resolve on its own.
    #[error("{operation} on {table}{column}: {reason}", operation = .operation.as_str(), column = dotted(.column))]
    Conflict {
        /// The operation.
        operation: Operation,
        /// The table.
        table: String,
        /// The column or index, if any.
        column: String,
        /// What was found and what to do.
        reason: String,
    },
}

fn dotted(column: &str) -> String {
    if column.is_empty() {
        String::new()
    } else {
        format!(".{column}")
    }
}

/// The facts every log event and error of one operation carries.
struct Op<'a> {
    operation: Operation,
    table: &'a str,
    column: String,
    backend: Backend,
}

impl Op<'_> {
    fn ctx(&self) -> OpContext {
        OpContext {
            operation: self.operation,
            table: self.table.to_string(),
            name: (!self.column.is_empty()).then(|| self.column.clone()),
        }
    }

    fn skipped(&self, category: &str, code: &str, detection: Detection) -> Outcome {
        tracing::debug!(
            table = self.table,
            column = %self.column,
            operation = self.operation.as_str(),
            backend = self.backend.as_str(),
            category,
            code,
            "schema change already applied: skipped"
        );
        Outcome::AlreadyApplied { detection }
    }

    fn applied(&self) -> Outcome {
        tracing::info!(
            table = self.table,
            column = %self.column,
            operation = self.operation.as_str(),
            backend = self.backend.as_str(),
            category = "none",
            code = "",
            "schema change applied"
        );
        Outcome::Applied
    }

    fn critical(&self, classification: Classification, source: sqlx::Error) -> SchemaError {
        tracing::error!(
            severity = "critical",
            table = self.table,
            column = %self.column,
            operation = self.operation.as_str(),
            backend = self.backend.as_str(),
            category = classification.category.as_str(),
            code = %classification.code(),
            message = %classification.message,
            "schema change failed"
        );
        SchemaError::Database {
            operation: self.operation,
            table: self.table.to_string(),
            column: self.column.clone(),
            classification: Box::new(classification),
            source,
        }
    }

    fn conflict(&self, category: Category, reason: String) -> SchemaError {
        tracing::error!(
            severity = "critical",
            table = self.table,
            column = %self.column,
            operation = self.operation.as_str(),
            backend = self.backend.as_str(),
            category = category.as_str(),
            code = "catalog",
            reason = %reason,
            "schema change refused"
        );
        SchemaError::Conflict {
            operation: self.operation,
            table: self.table.to_string(),
            column: self.column.clone(),
            reason,
        }
    }

    /// A catalog query failed: classify it (no operation context) and report it as critical.
    fn catalog_failed(&self, e: sqlx::Error) -> SchemaError {
        let c = classify(&e, self.backend);
        self.critical(c, e)
    }

    /// Handle a failed DDL statement: already applied → skip, anything else → critical.
    fn failed(&self, e: sqlx::Error) -> Result<Outcome, SchemaError> {
        let c = classify_in_context(&e, self.backend, &self.ctx());
        if c.disposition == Disposition::AlreadyApplied {
            let (category, code) = (c.category.as_str(), c.code());
            return Ok(self.skipped(
                category,
                &code,
                Detection::Error {
                    classification: Box::new(c),
                },
            ));
        }
        Err(self.critical(c, e))
    }
}

async fn backend_of(db: &mut Db) -> Result<Backend, SchemaError> {
    let fallback = db.backend();
    db.server_info().await.map(|i| i.backend).map_err(|e| {
        let c = classify(&e, fallback);
        Op {
            operation: Operation::Other,
            table: "",
            column: String::new(),
            backend: fallback,
        }
        .critical(c, e)
    })
}

const SAVEPOINT: &str = "plinth_schema_op";

/// Run one DDL statement; on PostgreSQL inside a transaction, under a SAVEPOINT that is rolled
/// back on failure so the transaction stays usable.
async fn run_statement(
    db: &mut Db,
    backend: Backend,
    sql: &str,
    opts: &SchemaOptions,
) -> Result<(), sqlx::Error> {
    if backend != Backend::Postgres || opts.in_transaction == Some(false) {
        return db.execute_script(sql).await.map(|_| ());
    }
    match db.execute_script(&format!("SAVEPOINT {SAVEPOINT}")).await {
        Ok(_) => {}
        Err(e) => {
            let no_transaction = e
                .as_database_error()
                .and_then(|d| d.code())
                .is_some_and(|c| c == "25P01");
            if no_transaction && opts.in_transaction.is_none() {
                return db.execute_script(sql).await.map(|_| ());
            }
            return Err(e);
        }
    }
    match db.execute_script(sql).await {
        Ok(_) => db
            .execute_script(&format!("RELEASE SAVEPOINT {SAVEPOINT}"))
            .await
            .map(|_| ()),
        Err(e) => {
            // Undo the failed statement; if even that fails the connection is unusable and the
            // original error is still the one to report.
            let _ = db
                .execute_script(&format!(
                    "ROLLBACK TO SAVEPOINT {SAVEPOINT}; RELEASE SAVEPOINT {SAVEPOINT}"
                ))
                .await;
            Err(e)
        }
    }
}

/// Add a column unless a column of that name is already there.
pub async fn add_column(
    db: &mut Db,
    table: &str,
    column: &Column,
    opts: &SchemaOptions,
) -> Result<Outcome, SchemaError> {
    validate_identifier(table)?;
    validate_identifier(&column.name)?;
    validate_type(&column.sql_type)?;
    let backend = backend_of(db).await?;
    let op = Op {
        operation: Operation::AddColumn,
        table,
        column: column.name.clone(),
        backend,
    };
    if catalog::column(db, backend, table, &column.name)
        .await
        .map_err(|e| op.catalog_failed(e))?
        .is_some()
    {
        return Ok(op.skipped(
            Category::DuplicateColumn.as_str(),
            "catalog",
            Detection::Catalog,
        ));
    }
    let sql = format!(
        "ALTER TABLE {} ADD COLUMN {}",
        quote(backend, table),
        column_definition(backend, column)
    );
    match run_statement(db, backend, &sql, opts).await {
        Ok(()) => Ok(op.applied()),
        Err(e) => op.failed(e),
    }
}

/// Drop a column unless it is already gone.
pub async fn drop_column(
    db: &mut Db,
    table: &str,
    column: &str,
    opts: &SchemaOptions,
) -> Result<Outcome, SchemaError> {
    validate_identifier(table)?;
    validate_identifier(column)?;
    let backend = backend_of(db).await?;
    let op = Op {
        operation: Operation::DropColumn,
        table,
        column: column.to_string(),
        backend,
    };
    if catalog::column(db, backend, table, column)
        .await
        .map_err(|e| op.catalog_failed(e))?
        .is_none()
    {
        if !catalog::table_exists(db, backend, table)
            .await
            .map_err(|e| op.catalog_failed(e))?
        {
            return Err(op.conflict(
                Category::MissingTable,
                format!("table {table} does not exist"),
            ));
        }
        return Ok(op.skipped(
            Category::MissingColumn.as_str(),
            "catalog",
            Detection::Catalog,
        ));
    }
    let sql = format!(
        "ALTER TABLE {} DROP COLUMN {}",
        quote(backend, table),
        quote(backend, column)
    );
    match run_statement(db, backend, &sql, opts).await {
        Ok(()) => Ok(op.applied()),
        Err(e) => op.failed(e),
    }
}

/// Rename a column; already applied when the new name exists and the old one is gone.
pub async fn rename_column(
    db: &mut Db,
    table: &str,
    from: &str,
    to: &str,
    opts: &SchemaOptions,
) -> Result<Outcome, SchemaError> {
    validate_identifier(table)?;
    validate_identifier(from)?;
    validate_identifier(to)?;
    let backend = backend_of(db).await?;
    let op = Op {
        operation: Operation::RenameColumn,
        table,
        column: from.to_string(),
        backend,
    };
    let old = catalog::column(db, backend, table, from)
        .await
        .map_err(|e| op.catalog_failed(e))?;
    let new = catalog::column(db, backend, table, to)
        .await
        .map_err(|e| op.catalog_failed(e))?;
    let old = match (old, new) {
        (Some(old), None) => old,
        (None, Some(_)) => {
            return Ok(op.skipped(
                Category::DuplicateColumn.as_str(),
                "catalog",
                Detection::Catalog,
            ))
        }
        (Some(_), Some(_)) => {
            return Err(op.conflict(
                Category::DuplicateColumn,
                format!("both {from} and {to} exist: drop or merge one of them by hand"),
            ))
        }
        (None, None) => {
            return Err(op.conflict(
                Category::MissingColumn,
                format!("neither {from} nor {to} exists"),
            ))
        }
    };
    let info = db.info.clone();
    let modern = match (backend, info.map(|i| i.version)) {
        (Backend::MySql, Some(v)) => v.major >= 8,
        (Backend::MariaDb, Some(v)) => v >= crate::Version::new(10, 5, 2),
        _ => true,
    };
    let sql = if modern {
        format!(
            "ALTER TABLE {} RENAME COLUMN {} TO {}",
            quote(backend, table),
            quote(backend, from),
            quote(backend, to)
        )
    } else {
        format!(
            "ALTER TABLE {} CHANGE COLUMN {} {} {}",
            quote(backend, table),
            quote(backend, from),
            quote(backend, to),
            mysql_column_tail(&old, &old.sql_type)
        )
    };
    match run_statement(db, backend, &sql, opts).await {
        Ok(()) => Ok(op.applied()),
        Err(e) => op.failed(e),
    }
}

/// The part of a MySQL column definition after the name, restating nullability, default and
/// AUTO_INCREMENT (MODIFY and CHANGE drop whatever is not restated).
fn mysql_column_tail(info: &catalog::ColumnInfo, sql_type: &str) -> String {
    let mut s = sql_type.trim().to_string();
    s.push_str(if info.nullable { " NULL" } else { " NOT NULL" });
    if let Some(d) = &info.default {
        let extra = info.extra.to_ascii_lowercase();
        let is_expression = extra.contains("default_generated");
        let looks_formatted = d.starts_with('\'')
            || d.eq_ignore_ascii_case("NULL")
            || d.parse::<f64>().is_ok()
            || d.contains('(');
        // MariaDB shows defaults as SQL (quoted literals, NULL, expressions); MySQL 8 shows bare
        // text and flags expressions as DEFAULT_GENERATED.
        let rendered = if is_expression || looks_formatted {
            if is_expression
                && !d.starts_with('(')
                && !d.to_ascii_lowercase().starts_with("current_timestamp")
            {
                format!("({d})")
            } else {
                d.clone()
            }
        } else {
            format!("'{}'", d.replace('\\', "\\\\").replace('\'', "''"))
        };
        s.push_str(" DEFAULT ");
        s.push_str(&rendered);
    }
    if info.extra.to_ascii_lowercase().contains("auto_increment") {
        s.push_str(" AUTO_INCREMENT");
    }
    s
}

/// Change a column's type. Already applied when the catalog shows the type; an incompatible
/// change (the data or the type system refuses) is returned as [`Outcome::ExpectedIncompatible`]
/// and logged as a warning. On SQLite this is the documented table rebuild, keeping data, indexes,
/// triggers and constraints. PostgreSQL uses no `USING` clause: a change without an implicit cast
/// is reported as incompatible rather than forced.
pub async fn alter_column_type(
    db: &mut Db,
    table: &str,
    column: &str,
    new_type: &str,
    opts: &SchemaOptions,
) -> Result<Outcome, SchemaError> {
    validate_identifier(table)?;
    validate_identifier(column)?;
    validate_type(new_type)?;
    let backend = backend_of(db).await?;
    let op = Op {
        operation: Operation::AlterColumnType,
        table,
        column: column.to_string(),
        backend,
    };
    let Some(info) = catalog::column(db, backend, table, column)
        .await
        .map_err(|e| op.catalog_failed(e))?
    else {
        return Err(op.conflict(
            Category::MissingColumn,
            format!("column {column} does not exist in {table}"),
        ));
    };
    if sql::normalize_type(backend, &info.sql_type) == sql::normalize_type(backend, new_type) {
        return Ok(op.skipped("none", "catalog", Detection::Catalog));
    }
    let result = match backend {
        Backend::Postgres => {
            let sql = format!(
                "ALTER TABLE {} ALTER COLUMN {} TYPE {}",
                quote(backend, table),
                quote(backend, column),
                new_type.trim()
            );
            run_statement(db, backend, &sql, opts).await
        }
        Backend::MySql | Backend::MariaDb => {
            let sql = format!(
                "ALTER TABLE {} MODIFY COLUMN {} {}",
                quote(backend, table),
                quote(backend, column),
                mysql_column_tail(&info, new_type)
            );
            db.execute_script(&sql).await.map(|_| ())
        }
        Backend::Sqlite => {
            match sqlite_rebuild::alter_type(db, table, &info.name, new_type).await {
                Ok(()) => Ok(()),
                Err(sqlite_rebuild::RebuildError::Sql(e)) => Err(e),
                Err(sqlite_rebuild::RebuildError::Refused(reason)) => {
                    return Err(op.conflict(Category::InvalidTransactionState, reason))
                }
            }
        }
    };
    match result {
        Ok(()) => Ok(op.applied()),
        Err(e) => {
            let c = classify_in_context(&e, backend, &op.ctx());
            if c.disposition == Disposition::Expected {
                tracing::warn!(
                    table,
                    column,
                    operation = op.operation.as_str(),
                    backend = backend.as_str(),
                    category = c.category.as_str(),
                    code = %c.code(),
                    from_type = %info.sql_type,
                    to_type = new_type,
                    reason = %c.message,
                    "incompatible column type change refused by the database"
                );
                return Ok(Outcome::ExpectedIncompatible(Box::new(Incompatible {
                    table: table.to_string(),
                    column: column.to_string(),
                    from_type: info.sql_type.clone(),
                    to_type: new_type.to_string(),
                    reason: c.message.clone(),
                    classification: c,
                })));
            }
            Err(op.critical(c, e))
        }
    }
}

/// Create an index unless an index of that name already exists on that table.
pub async fn create_index(
    db: &mut Db,
    index: &Index,
    opts: &SchemaOptions,
) -> Result<Outcome, SchemaError> {
    validate_identifier(&index.name)?;
    validate_identifier(&index.table)?;
    if index.columns.is_empty() {
        return Err(SchemaError::InvalidIdentifier {
            name: index.name.clone(),
            reason: "an index needs at least one column",
        });
    }
    for c in &index.columns {
        validate_identifier(c)?;
    }
    let backend = backend_of(db).await?;
    let op = Op {
        operation: Operation::CreateIndex,
        table: &index.table,
        column: index.name.clone(),
        backend,
    };
    let owner = catalog::index_owner(db, backend, &index.table, &index.name)
        .await
        .map_err(|e| op.catalog_failed(e))?;
    if let Some(found) = owner {
        return match found {
            Ok(t) if t.eq_ignore_ascii_case(&index.table) => Ok(op.skipped(
                Category::DuplicateObject.as_str(),
                "catalog",
                Detection::Catalog,
            )),
            Ok(t) => Err(op.conflict(
                Category::DuplicateObject,
                format!("index {} exists on table {t}", index.name),
            )),
            Err(kind) => Err(op.conflict(
                Category::DuplicateTable,
                format!("the name {} belongs to a {kind}", index.name),
            )),
        };
    }
    let cols: Vec<String> = index.columns.iter().map(|c| quote(backend, c)).collect();
    let sql = format!(
        "CREATE {}INDEX {} ON {} ({})",
        if index.unique { "UNIQUE " } else { "" },
        quote(backend, &index.name),
        quote(backend, &index.table),
        cols.join(", ")
    );
    match run_statement(db, backend, &sql, opts).await {
        Ok(()) => Ok(op.applied()),
        Err(e) => {
            // A duplicate name counts as applied only if the catalog now shows our index.
            let c = classify_in_context(&e, backend, &op.ctx());
            if c.disposition == Disposition::AlreadyApplied {
                let owner = catalog::index_owner(db, backend, &index.table, &index.name)
                    .await
                    .map_err(|e| op.catalog_failed(e))?;
                if matches!(owner, Some(Ok(ref t)) if t.eq_ignore_ascii_case(&index.table)) {
                    let (category, code) = (c.category.as_str(), c.code());
                    return Ok(op.skipped(
                        category,
                        &code,
                        Detection::Error {
                            classification: Box::new(c),
                        },
                    ));
                }
                let mut c = c;
                c.disposition = Disposition::Fatal;
                return Err(op.critical(c, e));
            }
            Err(op.critical(c, e))
        }
    }
}

/// Drop an index unless it is already gone.
pub async fn drop_index(
    db: &mut Db,
    table: &str,
    name: &str,
    opts: &SchemaOptions,
) -> Result<Outcome, SchemaError> {
    validate_identifier(table)?;
    validate_identifier(name)?;
    let backend = backend_of(db).await?;
    let op = Op {
        operation: Operation::DropIndex,
        table,
        column: name.to_string(),
        backend,
    };
    match catalog::index_owner(db, backend, table, name)
        .await
        .map_err(|e| op.catalog_failed(e))?
    {
        None => {
            return Ok(op.skipped(
                Category::MissingObject.as_str(),
                "catalog",
                Detection::Catalog,
            ))
        }
        Some(Ok(t)) if t.eq_ignore_ascii_case(table) => {}
        Some(Ok(t)) => {
            return Err(op.conflict(
                Category::MissingObject,
                format!("index {name} belongs to table {t}, not {table}"),
            ))
        }
        Some(Err(kind)) => {
            return Err(op.conflict(
                Category::MissingObject,
                format!("{name} is a {kind}, not an index"),
            ))
        }
    }
    let sql = if backend.is_mysql_family() {
        format!(
            "DROP INDEX {} ON {}",
            quote(backend, name),
            quote(backend, table)
        )
    } else {
        format!("DROP INDEX {}", quote(backend, name))
    };
    match run_statement(db, backend, &sql, opts).await {
        Ok(()) => Ok(op.applied()),
        Err(e) => op.failed(e),
    }
}

/// Create a table unless it exists; an existing table must have every declared column, or the
/// operation refuses (same name is not same definition).
pub async fn create_table(
    db: &mut Db,
    table: &Table,
    opts: &SchemaOptions,
) -> Result<Outcome, SchemaError> {
    validate_identifier(&table.name)?;
    if table.columns.is_empty() {
        return Err(SchemaError::InvalidIdentifier {
            name: table.name.clone(),
            reason: "a table needs at least one column",
        });
    }
    for c in &table.columns {
        validate_identifier(&c.name)?;
        validate_type(&c.sql_type)?;
    }
    for c in &table.primary_key {
        validate_identifier(c)?;
    }
    let backend = backend_of(db).await?;
    let op = Op {
        operation: Operation::CreateTable,
        table: &table.name,
        column: String::new(),
        backend,
    };
    if catalog::table_exists(db, backend, &table.name)
        .await
        .map_err(|e| op.catalog_failed(e))?
    {
        let mut missing = Vec::new();
        for c in &table.columns {
            if catalog::column(db, backend, &table.name, &c.name)
                .await
                .map_err(|e| op.catalog_failed(e))?
                .is_none()
            {
                missing.push(c.name.clone());
            }
        }
        if !missing.is_empty() {
            return Err(op.conflict(
                Category::DuplicateTable,
                format!(
                    "table exists without column(s) {}: it is not the table this migration defines",
                    missing.join(", ")
                ),
            ));
        }
        return Ok(op.skipped(
            Category::DuplicateTable.as_str(),
            "catalog",
            Detection::Catalog,
        ));
    }
    let mut parts: Vec<String> = table
        .columns
        .iter()
        .map(|c| column_definition(backend, c))
        .collect();
    if !table.primary_key.is_empty() {
        let pk: Vec<String> = table
            .primary_key
            .iter()
            .map(|c| quote(backend, c))
            .collect();
        parts.push(format!("PRIMARY KEY ({})", pk.join(", ")));
    }
    let sql = format!(
        "CREATE TABLE {} ({})",
        quote(backend, &table.name),
        parts.join(", ")
    );
    match run_statement(db, backend, &sql, opts).await {
        Ok(()) => Ok(op.applied()),
        Err(e) => op.failed(e),
    }
}
