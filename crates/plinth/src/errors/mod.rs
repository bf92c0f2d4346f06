//! Error classification: every database error plinth meets, and every error an application hands
//! it, gets a category (what happened) and a disposition (what to do about it), on every backend.
//!
//! The knowledge lives in data tables, one per backend ([`postgres`], [`mysql`], [`sqlite`]), keyed
//! by SQLSTATE, by MySQL/MariaDB error number (looked up before the coarse SQLSTATE) and by SQLite
//! extended then primary result code. Message text is a last resort, consulted only through
//! [`classify_in_context`] and only when it names the object the failing operation was about:
//! servers translate messages, and a loose substring such as "already exists" matches duplicate
//! tables, indexes, functions and databases as well as the column being added.

use crate::Backend;
use serde::{Deserialize, Serialize};
use std::fmt;

pub mod mysql;
pub mod postgres;
pub mod sqlite;

/// What went wrong, independent of the backend that said it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// A column with that name already exists.
    DuplicateColumn,
    /// A table (or view, or on PostgreSQL any relation, including an index) with that name exists.
    DuplicateTable,
    /// An index, constraint, trigger, function, schema or database with that name exists.
    DuplicateObject,
    /// The named column does not exist.
    MissingColumn,
    /// The named table does not exist.
    MissingTable,
    /// An index, constraint, trigger, type, schema or other object does not exist.
    MissingObject,
    /// The function (or operator) does not exist for these argument types.
    UndefinedFunction,
    /// A value or column cannot be converted to the requested type.
    DatatypeMismatch,
    /// A value is out of range or would be truncated.
    DataOutOfRange,
    /// A unique or primary-key constraint would be violated.
    UniqueViolation,
    /// A foreign-key constraint would be violated.
    ForeignKeyViolation,
    /// A NOT NULL constraint would be violated.
    NotNullViolation,
    /// A CHECK constraint would be violated.
    CheckViolation,
    /// The statement does not parse.
    SyntaxError,
    /// The user lacks a privilege.
    InsufficientPrivilege,
    /// Two transactions deadlocked and this one was chosen as the victim.
    Deadlock,
    /// A serializable / snapshot transaction conflicted with a concurrent one.
    SerializationFailure,
    /// A lock could not be acquired in time (or at once, with NOWAIT).
    LockWaitTimeout,
    /// The statement ran past its time limit or was cancelled.
    StatementTimeout,
    /// The connection to the server broke (or the session was killed).
    LostConnection,
    /// The server, or this user, has no connection slot left.
    TooManyConnections,
    /// The server is shutting down, starting up, or read-only.
    ServerUnavailable,
    /// The server rejected the credentials or the user may not log in.
    AuthenticationFailure,
    /// The database named in the connection does not exist (or cannot be opened).
    UnknownDatabase,
    /// The server's disk (or the table's space) is full.
    DiskFull,
    /// The server ran out of memory or another resource.
    OutOfMemory,
    /// The transaction already failed; every statement is refused until it is rolled back.
    InFailedTransaction,
    /// The statement cannot run in the current transaction state (inside or outside a block).
    InvalidTransactionState,
    /// Nothing plinth knows.
    Unknown,
}

impl Category {
    /// Every category, for documentation and exhaustive tests.
    pub const ALL: [Category; 29] = [
        Category::DuplicateColumn,
        Category::DuplicateTable,
        Category::DuplicateObject,
        Category::MissingColumn,
        Category::MissingTable,
        Category::MissingObject,
        Category::UndefinedFunction,
        Category::DatatypeMismatch,
        Category::DataOutOfRange,
        Category::UniqueViolation,
        Category::ForeignKeyViolation,
        Category::NotNullViolation,
        Category::CheckViolation,
        Category::SyntaxError,
        Category::InsufficientPrivilege,
        Category::Deadlock,
        Category::SerializationFailure,
        Category::LockWaitTimeout,
        Category::StatementTimeout,
        Category::LostConnection,
        Category::TooManyConnections,
        Category::ServerUnavailable,
        Category::AuthenticationFailure,
        Category::UnknownDatabase,
        Category::DiskFull,
        Category::OutOfMemory,
        Category::InFailedTransaction,
        Category::InvalidTransactionState,
        Category::Unknown,
    ];

    /// The stable snake_case name used in logs, JSON and docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::DuplicateColumn => "duplicate_column",
            Category::DuplicateTable => "duplicate_table",
            Category::DuplicateObject => "duplicate_object",
            Category::MissingColumn => "missing_column",
            Category::MissingTable => "missing_table",
            Category::MissingObject => "missing_object",
            Category::UndefinedFunction => "undefined_function",
            Category::DatatypeMismatch => "datatype_mismatch",
            Category::DataOutOfRange => "data_out_of_range",
            Category::UniqueViolation => "unique_violation",
            Category::ForeignKeyViolation => "foreign_key_violation",
            Category::NotNullViolation => "not_null_violation",
            Category::CheckViolation => "check_violation",
            Category::SyntaxError => "syntax_error",
            Category::InsufficientPrivilege => "insufficient_privilege",
            Category::Deadlock => "deadlock",
            Category::SerializationFailure => "serialization_failure",
            Category::LockWaitTimeout => "lock_wait_timeout",
            Category::StatementTimeout => "statement_timeout",
            Category::LostConnection => "lost_connection",
            Category::TooManyConnections => "too_many_connections",
            Category::ServerUnavailable => "server_unavailable",
            Category::AuthenticationFailure => "authentication_failure",
            Category::UnknownDatabase => "unknown_database",
            Category::DiskFull => "disk_full",
            Category::OutOfMemory => "out_of_memory",
            Category::InFailedTransaction => "in_failed_transaction",
            Category::InvalidTransactionState => "invalid_transaction_state",
            Category::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What plinth does with an error of a given classification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// The change the statement makes is already there: skip it, log at debug.
    AlreadyApplied,
    /// A known, reportable refusal (an incompatible type change): log a warning and return it.
    Expected,
    /// Safe to retry the whole transaction (see `retry_outside_transaction_only`).
    Transient,
    /// Anything else: log as critical and return it as an error.
    Fatal,
}

impl Disposition {
    /// The stable snake_case name used in logs, JSON and docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::AlreadyApplied => "already_applied",
            Disposition::Expected => "expected",
            Disposition::Transient => "transient",
            Disposition::Fatal => "fatal",
        }
    }
}

impl fmt::Display for Disposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of a backend's error table: the data the classifier and `plinth explain` read.
#[derive(Clone, Copy, Debug)]
pub struct CodeEntry {
    /// The code as the backend reports it (SQLSTATE, errno or SQLite result code, as text).
    pub code: &'static str,
    /// The backend's symbolic name (`unique_violation`, `ER_DUP_ENTRY`, `SQLITE_CONSTRAINT_UNIQUE`).
    pub name: &'static str,
    /// The category.
    pub category: Category,
    /// The context-free disposition.
    pub disposition: Disposition,
    /// For transient errors: true when a retry is safe only if no transaction was open
    /// (the connection is gone, and with it any transaction's outcome).
    pub outside_only: bool,
    /// Which MySQL flavor the number belongs to (ignored for other backends).
    pub flavor: Flavor,
    /// What the code means, in one sentence.
    pub meaning: &'static str,
}

/// Which members of the MySQL family an error number applies to (MySQL and MariaDB diverged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// Both MySQL and MariaDB (and every other backend's rows).
    Both,
    /// Oracle MySQL only.
    MySql,
    /// MariaDB only.
    MariaDb,
}

impl Flavor {
    fn matches(self, backend: Backend) -> bool {
        match self {
            Flavor::Both => true,
            Flavor::MySql => backend != Backend::MariaDb,
            Flavor::MariaDb => backend != Backend::MySql,
        }
    }
}

/// Build a table row compactly (the tables are long; this keeps them one line per code).
macro_rules! entry {
    ($code:expr, $name:expr, $cat:ident, $disp:ident, $meaning:expr) => {
        entry!($code, $name, $cat, $disp, false, Both, $meaning)
    };
    ($code:expr, $name:expr, $cat:ident, $disp:ident, $outside:expr, $meaning:expr) => {
        entry!($code, $name, $cat, $disp, $outside, Both, $meaning)
    };
    ($code:expr, $name:expr, $cat:ident, $disp:ident, $outside:expr, $flavor:ident, $meaning:expr) => {
        $crate::errors::CodeEntry {
            code: $code,
            name: $name,
            category: $crate::errors::Category::$cat,
            disposition: $crate::errors::Disposition::$disp,
            outside_only: $outside,
            flavor: $crate::errors::Flavor::$flavor,
            meaning: $meaning,
        }
    };
}
pub(crate) use entry;

/// The verdict on one error: what happened, what to do, and the raw facts it was read from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    /// What happened.
    pub category: Category,
    /// What to do about it.
    pub disposition: Disposition,
    /// For transient errors: retry only if no transaction was open when it happened.
    pub retry_outside_transaction_only: bool,
    /// The SQLSTATE, when the backend reported one (never for SQLite).
    pub sqlstate: Option<String>,
    /// The vendor error number: MySQL/MariaDB errno, SQLite extended result code.
    pub vendor_code: Option<i64>,
    /// The backend that reported it.
    pub backend: Backend,
    /// The database's (or driver's) message.
    pub message: String,
}

impl Classification {
    /// True when retrying (the whole transaction, with backoff) may succeed.
    pub fn is_transient(&self) -> bool {
        self.disposition == Disposition::Transient
    }

    /// The most specific code as text, for log fields: errno or SQLite code, else SQLSTATE, else "".
    pub fn code(&self) -> String {
        match (&self.vendor_code, &self.sqlstate) {
            (Some(n), _) => n.to_string(),
            (None, Some(s)) => s.clone(),
            (None, None) => String::new(),
        }
    }

    fn from_entry(
        entry: Option<&CodeEntry>,
        backend: Backend,
        sqlstate: Option<String>,
        vendor_code: Option<i64>,
        message: &str,
    ) -> Classification {
        let (category, disposition, outside) = match entry {
            Some(e) => (e.category, e.disposition, e.outside_only),
            None => (Category::Unknown, Disposition::Fatal, false),
        };
        Classification {
            category,
            disposition,
            retry_outside_transaction_only: outside,
            sqlstate,
            vendor_code,
            backend,
            message: message.to_string(),
        }
    }

    fn non_database(
        category: Category,
        disposition: Disposition,
        backend: Backend,
        message: String,
    ) -> Self {
        Classification {
            category,
            disposition,
            retry_outside_transaction_only: disposition == Disposition::Transient,
            sqlstate: None,
            vendor_code: None,
            backend,
            message,
        }
    }
}

/// A driver error as a user should read it: PostgreSQL's own message without the " at line N" sqlx
/// appends (a line of PostgreSQL's C source, not of the user's SQL); every other error as it displays.
pub fn display(err: &sqlx::Error) -> String {
    match err.as_database_error() {
        Some(d)
            if d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some() =>
        {
            d.message().to_string()
        }
        _ => err.to_string(),
    }
}

/// Classify a bare code from elsewhere (a log, another driver): SQLSTATE for PostgreSQL, the
/// error number as decimal text for MySQL/MariaDB (a SQLSTATE is accepted as a fallback), the
/// extended (or primary) result code as decimal text for SQLite. Unknown input gives
/// `unknown`/`fatal`; this never panics.
pub fn classify_code(backend: Backend, code: &str, message: &str) -> Classification {
    let code = code.trim();
    match backend {
        Backend::Postgres => {
            let entry = postgres::lookup(code);
            let sqlstate = (!code.is_empty()).then(|| code.to_string());
            Classification::from_entry(entry, backend, sqlstate, None, message)
        }
        Backend::MySql | Backend::MariaDb => match code.parse::<u16>() {
            // A five-digit number with no errno row may be a numeric SQLSTATE (40001, 22003).
            Ok(errno)
                if mysql::lookup_errno(errno, backend, message).is_some() || code.len() != 5 =>
            {
                let entry = mysql::lookup_errno(errno, backend, message);
                Classification::from_entry(entry, backend, None, Some(i64::from(errno)), message)
            }
            _ => {
                let entry = mysql::lookup_sqlstate(code);
                let sqlstate = (!code.is_empty()).then(|| code.to_string());
                Classification::from_entry(entry, backend, sqlstate, None, message)
            }
        },
        Backend::Sqlite => match code.parse::<i64>() {
            Ok(n) => {
                let entry = sqlite::lookup(n, message);
                Classification::from_entry(entry.as_ref(), backend, None, Some(n), message)
            }
            Err(_) => Classification::from_entry(None, backend, None, None, message),
        },
    }
}

/// Classify an error returned by sqlx on `backend` (for MySQL vs MariaDB, pass what the server
/// is; the numbers that differ are looked up per flavor). Connection-level failures classify too:
/// `Io` and a crashed worker are a lost connection (transient, outside a transaction only), a pool
/// timeout is a lack of connections (transient), TLS and configuration problems are fatal.
pub fn classify(err: &sqlx::Error, backend: Backend) -> Classification {
    match err {
        sqlx::Error::Database(db) => classify_database(db.as_ref(), backend),
        sqlx::Error::Io(e) => Classification::non_database(
            Category::LostConnection,
            Disposition::Transient,
            backend,
            e.to_string(),
        ),
        sqlx::Error::WorkerCrashed => Classification::non_database(
            Category::LostConnection,
            Disposition::Transient,
            backend,
            err.to_string(),
        ),
        sqlx::Error::PoolTimedOut => Classification::non_database(
            Category::TooManyConnections,
            Disposition::Transient,
            backend,
            err.to_string(),
        ),
        sqlx::Error::Tls(_) => Classification::non_database(
            Category::LostConnection,
            Disposition::Fatal,
            backend,
            err.to_string(),
        ),
        other => Classification::non_database(
            Category::Unknown,
            Disposition::Fatal,
            backend,
            other.to_string(),
        ),
    }
}

fn classify_database(db: &dyn sqlx::error::DatabaseError, backend: Backend) -> Classification {
    let message = db.message().to_string();
    if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        let errno = my.number();
        let sqlstate = my.code().map(str::to_string);
        let entry = mysql::lookup_errno(errno, backend, &message)
            .or_else(|| sqlstate.as_deref().and_then(mysql::lookup_sqlstate));
        let backend = if backend.is_mysql_family() {
            backend
        } else {
            Backend::MySql
        };
        return Classification::from_entry(
            entry,
            backend,
            sqlstate,
            Some(i64::from(errno)),
            &message,
        );
    }
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
        return classify_code(Backend::Sqlite, &code, &message);
    }
    if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        let mut c = classify_code(Backend::Postgres, pg.code(), &message);
        // A FATAL or PANIC error ends the session whatever its code says.
        if matches!(
            pg.severity(),
            sqlx::postgres::PgSeverity::Fatal | sqlx::postgres::PgSeverity::Panic
        ) && c.category == Category::Unknown
        {
            c.category = Category::LostConnection;
            c.disposition = Disposition::Fatal;
        }
        return c;
    }
    let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
    classify_code(backend, &code, &message)
}

/// The kind of operation that failed, so a classification can be narrowed to what it means there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// `ALTER TABLE … ADD COLUMN`.
    AddColumn,
    /// Changing a column's type.
    AlterColumnType,
    /// `ALTER TABLE … RENAME COLUMN`.
    RenameColumn,
    /// `ALTER TABLE … DROP COLUMN`.
    DropColumn,
    /// `CREATE INDEX`.
    CreateIndex,
    /// `DROP INDEX`.
    DropIndex,
    /// `CREATE TABLE`.
    CreateTable,
    /// `DROP TABLE`.
    DropTable,
    /// Any other statement: no narrowing.
    Other,
}

impl Operation {
    /// The stable snake_case name used in log fields.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::AddColumn => "add_column",
            Operation::AlterColumnType => "alter_column_type",
            Operation::RenameColumn => "rename_column",
            Operation::DropColumn => "drop_column",
            Operation::CreateIndex => "create_index",
            Operation::DropIndex => "drop_index",
            Operation::CreateTable => "create_table",
            Operation::DropTable => "drop_table",
            Operation::Other => "other",
        }
    }
}

/// What the failing statement was doing, and to which object: the only context in which an
/// "already exists" or "does not exist" counts as already applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpContext {
    /// The operation.
    pub operation: Operation,
    /// The table it worked on.
    pub table: String,
    /// The column (add/alter/drop/rename: the name that must appear in a message) or index name.
    pub name: Option<String>,
}

/// Classify an error in the context of the operation that produced it. Codes decide first; a
/// code alone never makes a duplicate "already applied" unless the operation creates that kind of
/// object (a duplicate table while adding a column is fatal). Only when the code says nothing
/// (unknown) is the message consulted, and then only if it names the context's object.
pub fn classify_in_context(err: &sqlx::Error, backend: Backend, ctx: &OpContext) -> Classification {
    narrow(classify(err, backend), ctx)
}

/// [`classify_in_context`] for a bare code and message.
pub fn classify_code_in_context(
    backend: Backend,
    code: &str,
    message: &str,
    ctx: &OpContext,
) -> Classification {
    narrow(classify_code(backend, code, message), ctx)
}

fn narrow(mut c: Classification, ctx: &OpContext) -> Classification {
    use Category as C;
    use Operation as O;
    if c.category == C::Unknown {
        if let Some(cat) = message_fallback(&c.message, ctx) {
            c.category = cat;
        }
    }
    // MySQL 1091 is shared by DROP COLUMN / INDEX / FOREIGN KEY: the statement tells which.
    if c.category == C::MissingObject
        && ctx.operation == O::DropColumn
        && c.backend.is_mysql_family()
    {
        c.category = C::MissingColumn;
    }
    // PostgreSQL reports a taken index name as a duplicate relation (42P07).
    if c.category == C::DuplicateTable && ctx.operation == O::CreateIndex {
        c.category = C::DuplicateObject;
    }
    let skip = matches!(
        (ctx.operation, c.category),
        (O::AddColumn, C::DuplicateColumn)
            | (O::DropColumn, C::MissingColumn)
            | (O::CreateIndex, C::DuplicateObject)
            | (O::DropIndex, C::MissingObject)
            | (O::CreateTable, C::DuplicateTable)
            | (O::DropTable, C::MissingTable)
    );
    let expected = ctx.operation == O::AlterColumnType
        && matches!(c.category, C::DatatypeMismatch | C::DataOutOfRange);
    if skip {
        c.disposition = Disposition::AlreadyApplied;
    } else if expected {
        c.disposition = Disposition::Expected;
    } else if c.disposition == Disposition::AlreadyApplied || c.disposition == Disposition::Expected
    {
        // A duplicate that the operation did not try to create is a collision, not progress.
        c.disposition = Disposition::Fatal;
    }
    c
}

/// True when `message` contains `ident` as a whole identifier (bounded by quotes, spaces,
/// punctuation or the ends), case-insensitively.
pub fn names_identifier(message: &str, ident: &str) -> bool {
    if ident.is_empty() {
        return false;
    }
    let hay = message.to_lowercase();
    let needle = ident.to_lowercase();
    let is_ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    let mut start = 0;
    while let Some(pos) = hay[start..].find(&needle) {
        let at = start + pos;
        let end = at + needle.len();
        let before_ok = hay[..at].chars().next_back().is_none_or(|c| !is_ident(c));
        let after_ok = hay[end..].chars().next().is_none_or(|c| !is_ident(c));
        if before_ok && after_ok {
            return true;
        }
        start = at + needle.len().max(1);
        if start > hay.len() {
            break;
        }
        while !hay.is_char_boundary(start) {
            start += 1;
        }
    }
    false
}

fn message_fallback(message: &str, ctx: &OpContext) -> Option<Category> {
    let m = message.to_lowercase();
    let name = ctx.name.as_deref()?;
    if !names_identifier(message, name) {
        return None;
    }
    let exists = m.contains("already exists") || m.contains("duplicate");
    let missing = m.contains("does not exist")
        || m.contains("no such")
        || m.contains("unknown column")
        || m.contains("can't drop");
    match ctx.operation {
        Operation::AddColumn if exists && m.contains("column") => Some(Category::DuplicateColumn),
        Operation::DropColumn if missing && m.contains("column") => Some(Category::MissingColumn),
        Operation::CreateIndex if exists && (m.contains("index") || m.contains("key")) => {
            Some(Category::DuplicateObject)
        }
        Operation::DropIndex if missing && (m.contains("index") || m.contains("key")) => {
            Some(Category::MissingObject)
        }
        Operation::CreateTable if exists && m.contains("table") => Some(Category::DuplicateTable),
        Operation::DropTable if missing && m.contains("table") => Some(Category::MissingTable),
        _ => None,
    }
}

/// What `plinth explain` shows for one code on one backend.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The backend whose table holds the code.
    pub backend: Backend,
    /// How the code was read: `sqlstate`, `errno` or `sqlite_result_code`.
    pub kind: &'static str,
    /// The code as given.
    pub code: String,
    /// The backend's symbolic name.
    pub name: String,
    /// What it means.
    pub meaning: String,
    /// Its category.
    pub category: Category,
    /// Its context-free disposition.
    pub disposition: Disposition,
    /// For transient errors: retry only when no transaction was open.
    pub retry_outside_transaction_only: bool,
    /// What plinth does when it meets it.
    pub action: String,
}

/// Explain a code for `plinth explain`: every backend's reading of it (or one backend's). Empty
/// when no table knows the code.
pub fn explain(code: &str, backend: Option<Backend>) -> Vec<Explanation> {
    let code = code.trim();
    let backends: Vec<Backend> = match backend {
        Some(b) => vec![b],
        None => vec![
            Backend::Postgres,
            Backend::MySql,
            Backend::MariaDb,
            Backend::Sqlite,
        ],
    };
    let mut out: Vec<Explanation> = Vec::new();
    for b in backends {
        let found: Option<(&'static str, CodeEntry)> = match b {
            Backend::Postgres => postgres::lookup(code).map(|e| ("sqlstate", *e)),
            Backend::MySql | Backend::MariaDb => {
                let errno = code
                    .parse::<u16>()
                    .ok()
                    .and_then(|n| mysql::entry_for(n, b));
                match errno {
                    Some(e) => Some(("errno", *e)),
                    None => mysql::lookup_sqlstate(code).map(|e| ("sqlstate", *e)),
                }
            }
            Backend::Sqlite => code
                .parse::<i64>()
                .ok()
                .and_then(sqlite::entry_for)
                .map(|e| ("sqlite_result_code", *e)),
        };
        if let Some((kind, e)) = found {
            out.push(Explanation {
                backend: b,
                kind,
                code: code.to_string(),
                name: e.name.to_string(),
                meaning: e.meaning.to_string(),
                category: e.category,
                disposition: e.disposition,
                retry_outside_transaction_only: e.outside_only,
                action: action_text(e.category, e.disposition, e.outside_only, b),
            });
        }
        if b == Backend::Sqlite && code == "1" {
            // SQLITE_ERROR covers every schema error: say how plinth reads it.
            for rule in sqlite::MESSAGE_RULES {
                out.push(Explanation {
                    backend: b,
                    kind: "sqlite_message",
                    code: code.to_string(),
                    name: format!("SQLITE_ERROR + message `{}`", rule.pattern_text()),
                    meaning: rule.meaning.to_string(),
                    category: rule.category,
                    disposition: rule.disposition,
                    retry_outside_transaction_only: false,
                    action: action_text(rule.category, rule.disposition, false, b),
                });
            }
        }
    }
    out
}

/// What plinth does with a category and disposition, in words (for `explain` and the docs).
pub fn action_text(
    category: Category,
    disposition: Disposition,
    outside_only: bool,
    backend: Backend,
) -> String {
    let mut s = match disposition {
        Disposition::AlreadyApplied => "In an idempotent schema operation that creates this object (or drops it, for a missing one) plinth treats it as already applied: skipped, logged at debug. Anywhere else it is a collision and reported as critical.".to_string(),
        Disposition::Expected => "In alter_column_type plinth logs a warning naming table, column and both types, and returns it to the caller; anywhere else it is critical.".to_string(),
        Disposition::Transient if outside_only => "Transient: reconnect and retry with backoff, but only if no transaction was open (a transaction's outcome is unknown once the connection is gone; retry only idempotent work).".to_string(),
        Disposition::Transient => "Transient: roll back and retry the whole transaction with backoff, jitter and a cap; never replay single statements.".to_string(),
        Disposition::Fatal => "Fatal: logged as critical (severity=critical) and returned as an error; never retried.".to_string(),
    };
    match category {
        Category::DuplicateColumn | Category::MissingColumn
            if disposition == Disposition::Fatal =>
        {
            s.push_str(" In drop_column (missing) or add_column (duplicate) of the named column it counts as already applied.");
        }
        Category::MissingObject | Category::MissingTable => {
            s.push_str(
                " Dropping an index (or table) that is already gone counts as already applied.",
            );
        }
        Category::DatatypeMismatch | Category::DataOutOfRange => {
            s.push_str(" While changing a column's type it is expected: a warning with the database's reason, returned to the caller.");
        }
        Category::InFailedTransaction => {
            s.push_str(" Roll back and report the first error of the transaction; never retry.");
        }
        _ => {}
    }
    if backend == Backend::Postgres && matches!(disposition, Disposition::AlreadyApplied) {
        s.push_str(" On PostgreSQL the failed statement still aborts the transaction, so plinth runs it under a SAVEPOINT.");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifier_matching_is_whole_word() {
        assert!(names_identifier(
            "column \"email\" of relation \"users\" already exists",
            "email"
        ));
        assert!(names_identifier("Duplicate column name 'email'", "EMAIL"));
        assert!(names_identifier("duplicate column name: email", "email"));
        assert!(!names_identifier(
            "column \"email2\" already exists",
            "email"
        ));
        assert!(!names_identifier(
            "column \"my_email\" already exists",
            "email"
        ));
        assert!(!names_identifier("anything", ""));
    }

    #[test]
    fn message_fallback_requires_the_operation_and_the_name() {
        let ctx = OpContext {
            operation: Operation::AddColumn,
            table: "users".into(),
            name: Some("email".into()),
        };
        let c = classify_code_in_context(
            Backend::Postgres,
            "XX999",
            "column \"email\" already exists",
            &ctx,
        );
        assert_eq!(c.category, Category::DuplicateColumn);
        assert_eq!(c.disposition, Disposition::AlreadyApplied);
        let other = classify_code_in_context(
            Backend::Postgres,
            "XX999",
            "column \"name\" already exists",
            &ctx,
        );
        assert_eq!(other.category, Category::Unknown);
        assert_eq!(other.disposition, Disposition::Fatal);
        let table = classify_code_in_context(
            Backend::Postgres,
            "XX999",
            "relation \"email\" already exists",
            &ctx,
        );
        assert_eq!(table.disposition, Disposition::Fatal);
    }

    #[test]
    fn duplicates_outside_their_operation_are_fatal() {
        let ctx = OpContext {
            operation: Operation::AddColumn,
            table: "users".into(),
            name: Some("email".into()),
        };
        let c = classify_code_in_context(
            Backend::Postgres,
            "42P07",
            "relation \"users\" already exists",
            &ctx,
        );
        assert_eq!(c.category, Category::DuplicateTable);
        assert_eq!(c.disposition, Disposition::Fatal);
        let d = classify_code_in_context(
            Backend::MariaDb,
            "1091",
            "Can't DROP COLUMN `x`; check that it exists",
            &OpContext {
                operation: Operation::DropColumn,
                table: "t".into(),
                name: Some("x".into()),
            },
        );
        assert_eq!(d.category, Category::MissingColumn);
        assert_eq!(d.disposition, Disposition::AlreadyApplied);
    }

    #[test]
    fn the_wild_mapping_is_not_repeated() {
        let unique = classify_code(Backend::MySql, "1062", "Duplicate entry 'a' for key 'u'");
        assert_eq!(unique.category, Category::UniqueViolation);
        assert_eq!(unique.disposition, Disposition::Fatal);
        let syntax = classify_code(
            Backend::MariaDb,
            "1064",
            "You have an error in your SQL syntax",
        );
        assert_eq!(syntax.category, Category::SyntaxError);
        assert_eq!(
            classify_code(Backend::Postgres, "42P07", "").category,
            Category::DuplicateTable
        );
        let ser = classify_code(Backend::Postgres, "40001", "");
        assert!(ser.is_transient());
        assert!(!ser.retry_outside_transaction_only);
    }

    #[test]
    fn flavors_differ_where_the_numbers_do() {
        assert_eq!(
            classify_code(Backend::MariaDb, "4025", "CONSTRAINT `c` failed").category,
            Category::CheckViolation
        );
        assert_eq!(
            classify_code(Backend::MySql, "4025", "").category,
            Category::Unknown
        );
        assert_eq!(
            classify_code(Backend::MySql, "3819", "").category,
            Category::CheckViolation
        );
        assert_eq!(
            classify_code(Backend::MariaDb, "1969", "").category,
            Category::StatementTimeout
        );
    }

    #[test]
    fn sqlite_code_one_reads_anchored_prefixes() {
        let c = classify_code(Backend::Sqlite, "1", "duplicate column name: a");
        assert_eq!(c.category, Category::DuplicateColumn);
        assert_eq!(
            classify_code(Backend::Sqlite, "1", "no such table: x").category,
            Category::MissingTable
        );
        assert_eq!(
            classify_code(Backend::Sqlite, "1", "near \"SELEC\": syntax error").category,
            Category::SyntaxError
        );
        // Not anchored at the start: not trusted.
        assert_eq!(
            classify_code(Backend::Sqlite, "1", "oops: duplicate column name: a").category,
            Category::Unknown
        );
        assert_eq!(
            classify_code(Backend::Sqlite, "2067", "").category,
            Category::UniqueViolation
        );
        assert_eq!(
            classify_code(Backend::Sqlite, "517", "").category,
            Category::SerializationFailure
        );
        // An extended code not in the table falls back to its primary code (261 = BUSY_RECOVERY, 5 = BUSY).
        assert_eq!(
            classify_code(Backend::Sqlite, "1029", "").category,
            Category::LockWaitTimeout
        );
    }

    #[test]
    fn every_code_table_explains_itself() {
        assert!(explain("1062", Some(Backend::MySql))
            .iter()
            .all(|e| e.category == Category::UniqueViolation));
        assert_eq!(explain("42P07", None)[0].category, Category::DuplicateTable);
        assert!(explain("nonsense", None).is_empty());
        let serial = explain("40001", None);
        assert!(serial.iter().any(
            |e| e.backend == Backend::Postgres && e.category == Category::SerializationFailure
        ));
        assert!(serial
            .iter()
            .any(|e| e.backend == Backend::MariaDb && e.category == Category::Deadlock));
        assert_eq!(
            classify_code(Backend::MySql, "40001", "").category,
            Category::Deadlock
        );
        let json = serde_json::to_string(&classify_code(Backend::Postgres, "40P01", "x"))
            .unwrap_or_default();
        assert!(
            json.contains("\"deadlock\"") && json.contains("\"transient\""),
            "{json}"
        );
    }
}
