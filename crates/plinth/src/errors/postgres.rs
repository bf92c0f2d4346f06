//! PostgreSQL's SQLSTATE codes as plinth reads them (names from `src/backend/utils/errcodes.txt`).

use super::{entry, CodeEntry};

/// Exact SQLSTATE codes, checked first.
pub static CODES: &[CodeEntry] = &[
    entry!("42701", "duplicate_column", DuplicateColumn, AlreadyApplied, "A column with this name already exists in the table."),
    entry!("42P07", "duplicate_table", DuplicateTable, AlreadyApplied, "A relation with this name exists: a table, view, sequence or index (CREATE INDEX with a taken name reports this code too)."),
    entry!("42710", "duplicate_object", DuplicateObject, AlreadyApplied, "A constraint, type, role, trigger or other object with this name exists."),
    entry!("42723", "duplicate_function", DuplicateObject, AlreadyApplied, "A function with this name and argument types exists."),
    entry!("42P06", "duplicate_schema", DuplicateObject, AlreadyApplied, "A schema with this name exists."),
    entry!("42P04", "duplicate_database", DuplicateObject, AlreadyApplied, "A database with this name exists."),
    entry!("42703", "undefined_column", MissingColumn, Fatal, "The column does not exist (also from DROP COLUMN and CREATE INDEX)."),
    entry!("42P01", "undefined_table", MissingTable, Fatal, "The table or view does not exist."),
    entry!("42704", "undefined_object", MissingObject, Fatal, "An index, type, constraint, role or other object does not exist."),
    entry!("3F000", "invalid_schema_name", MissingObject, Fatal, "The schema does not exist."),
    entry!("42883", "undefined_function", UndefinedFunction, Fatal, "No function or operator matches the name and argument types (`operator does not exist: integer = text` is really a type mismatch in the query)."),
    entry!("42804", "datatype_mismatch", DatatypeMismatch, Fatal, "A value or column cannot be converted to the required type (`cannot be cast automatically`, `is of type integer but expression is of type text`)."),
    entry!("42846", "cannot_coerce", DatatypeMismatch, Fatal, "There is no cast between the two types."),
    entry!("22P02", "invalid_text_representation", DatatypeMismatch, Fatal, "A value's text does not parse as the target type (also from ALTER … TYPE … USING over existing data)."),
    entry!("22007", "invalid_datetime_format", DatatypeMismatch, Fatal, "A value does not parse as a date or time."),
    entry!("42P18", "indeterminate_datatype", DatatypeMismatch, Fatal, "The type of a parameter or expression cannot be determined."),
    entry!("22001", "string_data_right_truncation", DataOutOfRange, Fatal, "A string is too long for its column type."),
    entry!("22003", "numeric_value_out_of_range", DataOutOfRange, Fatal, "A number is out of range for its type."),
    entry!("22008", "datetime_field_overflow", DataOutOfRange, Fatal, "A date or time field is out of range."),
    entry!("23505", "unique_violation", UniqueViolation, Fatal, "A unique or primary-key constraint would be violated (also DDL `could not create unique index`)."),
    entry!("23P01", "exclusion_violation", UniqueViolation, Fatal, "An exclusion constraint would be violated."),
    entry!("23503", "foreign_key_violation", ForeignKeyViolation, Fatal, "A foreign-key constraint would be violated."),
    entry!("23502", "not_null_violation", NotNullViolation, Fatal, "A NOT NULL column would receive NULL."),
    entry!("23514", "check_violation", CheckViolation, Fatal, "A CHECK constraint would be violated."),
    entry!("42601", "syntax_error", SyntaxError, Fatal, "The statement does not parse."),
    entry!("42501", "insufficient_privilege", InsufficientPrivilege, Fatal, "The role lacks a privilege the statement needs."),
    entry!("40P01", "deadlock_detected", Deadlock, Transient, "This transaction was chosen as a deadlock victim and rolled back."),
    entry!("40001", "serialization_failure", SerializationFailure, Transient, "The transaction conflicted with a concurrent one under REPEATABLE READ or SERIALIZABLE (also hot-standby recovery conflicts)."),
    entry!("55P03", "lock_not_available", LockWaitTimeout, Transient, "A lock was not available (NOWAIT or lock_timeout)."),
    entry!("57014", "query_canceled", StatementTimeout, Fatal, "The statement was cancelled: statement_timeout or a cancel request (not retried by default)."),
    entry!("08000", "connection_exception", LostConnection, Transient, true, "The connection failed."),
    entry!("08003", "connection_does_not_exist", LostConnection, Transient, true, "The connection is gone."),
    entry!("08006", "connection_failure", LostConnection, Transient, true, "The connection failed."),
    entry!("08001", "sqlclient_unable_to_establish_sqlconnection", LostConnection, Transient, true, "The client could not connect."),
    entry!("08004", "sqlserver_rejected_establishment_of_sqlconnection", LostConnection, Transient, true, "The server rejected the connection."),
    entry!("08P01", "protocol_violation", LostConnection, Transient, true, "The wire protocol was violated; the connection is unusable."),
    entry!("57P01", "admin_shutdown", LostConnection, Transient, true, "The session was terminated by an administrator (pg_terminate_backend) or a fast shutdown."),
    entry!("57P02", "crash_shutdown", LostConnection, Transient, true, "The server is restarting after another backend crashed."),
    entry!("57P03", "cannot_connect_now", ServerUnavailable, Transient, true, "The server is starting up or shutting down: retry the connection later."),
    entry!("57P04", "database_dropped", UnknownDatabase, Fatal, "The database was dropped under this session."),
    entry!("25006", "read_only_sql_transaction", ServerUnavailable, Fatal, "The transaction or server is read-only (a hot standby, or default_transaction_read_only)."),
    entry!("53300", "too_many_connections", TooManyConnections, Transient, true, "No connection slot is left for the server, database or role (retry the connection with backoff)."),
    entry!("53100", "disk_full", DiskFull, Fatal, "The server's disk is full."),
    entry!("53200", "out_of_memory", OutOfMemory, Fatal, "The server ran out of memory."),
    entry!("53000", "insufficient_resources", OutOfMemory, Fatal, "The server ran out of a resource."),
    entry!("28P01", "invalid_password", AuthenticationFailure, Fatal, "Password authentication failed."),
    entry!("28000", "invalid_authorization_specification", AuthenticationFailure, Fatal, "The role may not connect (no pg_hba.conf entry, role missing or NOLOGIN)."),
    entry!("3D000", "invalid_catalog_name", UnknownDatabase, Fatal, "The database does not exist."),
    entry!("25P02", "in_failed_sql_transaction", InFailedTransaction, Fatal, "An earlier statement failed; the transaction ignores commands until ROLLBACK (or ROLLBACK TO SAVEPOINT)."),
    entry!("25001", "active_sql_transaction", InvalidTransactionState, Fatal, "The statement cannot run inside a transaction block (CREATE INDEX CONCURRENTLY, CREATE DATABASE)."),
    entry!("25P01", "no_active_sql_transaction", InvalidTransactionState, Fatal, "The statement needs a transaction block (SAVEPOINT outside BEGIN)."),
    entry!("55P04", "unsafe_new_enum_value_usage", InvalidTransactionState, Fatal, "A new enum value was used before the transaction that added it committed."),
];

/// Class fallbacks (first two characters), for codes not listed exactly.
pub static CLASSES: &[CodeEntry] = &[
    entry!(
        "08",
        "connection_exception (class)",
        LostConnection,
        Transient,
        true,
        "A connection exception."
    ),
    entry!(
        "28",
        "invalid_authorization_specification (class)",
        AuthenticationFailure,
        Fatal,
        "An authorization failure."
    ),
    entry!(
        "53",
        "insufficient_resources (class)",
        OutOfMemory,
        Fatal,
        "The server ran out of a resource."
    ),
];

/// The table row for a SQLSTATE: exact code first, then its class.
pub fn lookup(code: &str) -> Option<&'static CodeEntry> {
    let code = code.trim();
    if code.len() != 5 || !code.is_ascii() {
        return None;
    }
    let upper = code.to_ascii_uppercase();
    CODES
        .iter()
        .find(|e| e.code == upper)
        .or_else(|| CLASSES.iter().find(|e| upper.starts_with(e.code)))
}
