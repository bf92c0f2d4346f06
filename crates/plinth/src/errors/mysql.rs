//! MySQL and MariaDB error numbers as plinth reads them (MySQL `share/messages_to_clients.txt`,
//! Connector/J `MysqlErrorNumbers.java`, MariaDB where it differs). The number is looked up first;
//! the SQLSTATE is coarse (42000 and HY000 cover hundreds of errors) and only a fallback.

use super::{entry, CodeEntry};
use crate::Backend;

/// Error numbers, per flavor where MySQL and MariaDB differ.
pub static ERRNOS: &[CodeEntry] = &[
    entry!("1060", "ER_DUP_FIELDNAME", DuplicateColumn, AlreadyApplied, "Duplicate column name (42S21)."),
    entry!("1050", "ER_TABLE_EXISTS_ERROR", DuplicateTable, AlreadyApplied, "The table (or MariaDB sequence) already exists (42S01)."),
    entry!("1061", "ER_DUP_KEYNAME", DuplicateObject, AlreadyApplied, "Duplicate key (index) name (42000)."),
    entry!("1826", "ER_FK_DUP_NAME", DuplicateObject, AlreadyApplied, false, MySql, "Duplicate foreign key constraint name (MariaDB reports 1005 errno 121)."),
    entry!("1359", "ER_TRG_ALREADY_EXISTS", DuplicateObject, AlreadyApplied, "The trigger already exists."),
    entry!("1304", "ER_SP_ALREADY_EXISTS", DuplicateObject, AlreadyApplied, "The procedure or function already exists."),
    entry!("1007", "ER_DB_CREATE_EXISTS", DuplicateObject, AlreadyApplied, "The database already exists."),
    entry!("1005", "ER_CANT_CREATE_TABLE", Unknown, Fatal, "Cannot create the table; the storage engine's errno in the message tells why (121: duplicate constraint name, 150: foreign key definition or type mismatch)."),
    entry!("1054", "ER_BAD_FIELD_ERROR", MissingColumn, Fatal, "Unknown column (42S22)."),
    entry!("1091", "ER_CANT_DROP_FIELD_OR_KEY", MissingObject, Fatal, "Can't DROP a column, index, foreign key or constraint: it does not exist (the statement tells which)."),
    entry!("1072", "ER_KEY_COLUMN_DOES_NOT_EXITS", MissingColumn, Fatal, "An index names a column that does not exist."),
    entry!("1146", "ER_NO_SUCH_TABLE", MissingTable, Fatal, "The table does not exist (42S02)."),
    entry!("1051", "ER_BAD_TABLE_ERROR", MissingTable, Fatal, "Unknown table (DROP TABLE of a missing table)."),
    entry!("4092", "ER_UNKNOWN_VIEW", MissingObject, Fatal, false, MariaDb, "Unknown view (DROP VIEW of a missing view)."),
    entry!("1176", "ER_KEY_DOES_NOT_EXITS", MissingObject, Fatal, "The index named in a hint does not exist."),
    entry!("1360", "ER_TRG_DOES_NOT_EXIST", MissingObject, Fatal, "The trigger does not exist."),
    entry!("1008", "ER_DB_DROP_EXISTS", MissingObject, Fatal, "Can't drop the database: it does not exist."),
    entry!("1305", "ER_SP_DOES_NOT_EXIST", UndefinedFunction, Fatal, "The function or procedure does not exist."),
    entry!("1630", "ER_FUNC_INEXISTENT_NAME_COLLISION", UndefinedFunction, Fatal, "The function does not exist (check function name parsing)."),
    entry!("1128", "ER_FUNCTION_NOT_DEFINED", UndefinedFunction, Fatal, "The function is not defined."),
    entry!("1366", "ER_TRUNCATED_WRONG_VALUE_FOR_FIELD", DatatypeMismatch, Fatal, "Incorrect value for the column's type (HY000 on MySQL, 22007 on MariaDB)."),
    entry!("1292", "ER_TRUNCATED_WRONG_VALUE", DatatypeMismatch, Fatal, "Truncated incorrect value (22007)."),
    entry!("1367", "ER_ILLEGAL_VALUE_FOR_TYPE", DatatypeMismatch, Fatal, "Illegal value for the type."),
    entry!("3780", "ER_FK_INCOMPATIBLE_COLUMNS", DatatypeMismatch, Fatal, false, MySql, "Foreign key columns have incompatible types or collations."),
    entry!("4161", "ER_UNKNOWN_DATA_TYPE", DatatypeMismatch, Fatal, false, MariaDb, "Unknown data type (MySQL reports a syntax error, 1064)."),
    entry!("1406", "ER_DATA_TOO_LONG", DataOutOfRange, Fatal, "Data too long for the column (22001; strict mode)."),
    entry!("1264", "ER_WARN_DATA_OUT_OF_RANGE", DataOutOfRange, Fatal, "Out of range value for the column (22003; strict mode)."),
    entry!("1690", "ER_DATA_OUT_OF_RANGE", DataOutOfRange, Fatal, "A value is out of range in an expression."),
    entry!("1265", "WARN_DATA_TRUNCATED", DataOutOfRange, Fatal, "Data truncated for the column (01000; strict mode)."),
    entry!("1062", "ER_DUP_ENTRY", UniqueViolation, Fatal, "Duplicate entry for a unique or primary key (23000). Not a type problem."),
    entry!("1586", "ER_DUP_ENTRY_WITH_KEY_NAME", UniqueViolation, Fatal, "Duplicate entry for a unique key."),
    entry!("1022", "ER_DUP_KEY", UniqueViolation, Fatal, "Can't write: duplicate key."),
    entry!("1169", "ER_DUP_UNIQUE", UniqueViolation, Fatal, "Unique constraint violated."),
    entry!("1859", "ER_DUP_UNKNOWN_IN_INDEX", UniqueViolation, Fatal, "Duplicate entry for an index."),
    entry!("1452", "ER_NO_REFERENCED_ROW_2", ForeignKeyViolation, Fatal, "Cannot add or update a child row: a foreign key constraint fails."),
    entry!("1451", "ER_ROW_IS_REFERENCED_2", ForeignKeyViolation, Fatal, "Cannot delete or update a parent row: a foreign key constraint fails."),
    entry!("1216", "ER_NO_REFERENCED_ROW", ForeignKeyViolation, Fatal, "Cannot add or update a child row: a foreign key constraint fails."),
    entry!("1217", "ER_ROW_IS_REFERENCED", ForeignKeyViolation, Fatal, "Cannot delete or update a parent row: a foreign key constraint fails."),
    entry!("1048", "ER_BAD_NULL_ERROR", NotNullViolation, Fatal, "The column cannot be null."),
    entry!("1364", "ER_NO_DEFAULT_FOR_FIELD", NotNullViolation, Fatal, "A NOT NULL column has no default and no value was given."),
    entry!("1138", "ER_INVALID_USE_OF_NULL", NotNullViolation, Fatal, "Invalid use of NULL (a NOT NULL change over rows holding NULL)."),
    entry!("3819", "ER_CHECK_CONSTRAINT_VIOLATED", CheckViolation, Fatal, false, MySql, "A CHECK constraint is violated (MySQL 8.0.16+)."),
    entry!("4025", "ER_CONSTRAINT_FAILED", CheckViolation, Fatal, false, MariaDb, "A CHECK constraint failed (MariaDB; 4025 means something else on MySQL)."),
    entry!("1064", "ER_PARSE_ERROR", SyntaxError, Fatal, "SQL syntax error (42000); MySQL also reports unknown type names this way."),
    entry!("1149", "ER_SYNTAX_ERROR", SyntaxError, Fatal, "SQL syntax error."),
    entry!("1142", "ER_TABLEACCESS_DENIED_ERROR", InsufficientPrivilege, Fatal, "The command is denied to the user for the table."),
    entry!("1143", "ER_COLUMNACCESS_DENIED_ERROR", InsufficientPrivilege, Fatal, "The command is denied to the user for the column."),
    entry!("1227", "ER_SPECIFIC_ACCESS_DENIED_ERROR", InsufficientPrivilege, Fatal, "The operation needs a privilege such as SUPER."),
    entry!("1370", "ER_PROCACCESS_DENIED_ERROR", InsufficientPrivilege, Fatal, "The command is denied to the user for the routine."),
    entry!("1044", "ER_DBACCESS_DENIED_ERROR", InsufficientPrivilege, Fatal, "Access denied for the user to the database (42000); never retried at connect."),
    entry!("1213", "ER_LOCK_DEADLOCK", Deadlock, Transient, "Deadlock found (40001); InnoDB rolled back the whole transaction (also Galera certification conflicts)."),
    entry!("1205", "ER_LOCK_WAIT_TIMEOUT", LockWaitTimeout, Transient, "Lock wait timeout exceeded (row locks, DDL metadata locks, MariaDB NOWAIT); only the statement was rolled back: roll back and retry the whole transaction."),
    entry!("3572", "ER_LOCK_NOWAIT", LockWaitTimeout, Transient, false, MySql, "NOWAIT could not lock a row."),
    entry!("3024", "ER_QUERY_TIMEOUT", StatementTimeout, Fatal, false, MySql, "max_execution_time exceeded."),
    entry!("1317", "ER_QUERY_INTERRUPTED", StatementTimeout, Fatal, "Query execution was interrupted (70100)."),
    entry!("1969", "ER_STATEMENT_TIMEOUT", StatementTimeout, Fatal, false, MariaDb, "max_statement_time exceeded (70100)."),
    entry!("1053", "ER_SERVER_SHUTDOWN", LostConnection, Transient, true, "The server is shutting down (08S01)."),
    entry!("1152", "ER_ABORTING_CONNECTION", LostConnection, Transient, true, "The connection was aborted (08S01)."),
    entry!("1184", "ER_NEW_ABORTING_CONNECTION", LostConnection, Transient, true, "A new connection was aborted (08S01)."),
    entry!("1158", "ER_NET_READ_ERROR", LostConnection, Transient, true, "Error reading communication packets (08S01)."),
    entry!("1159", "ER_NET_READ_INTERRUPTED", LostConnection, Transient, true, "Timeout reading communication packets (08S01)."),
    entry!("1160", "ER_NET_ERROR_ON_WRITE", LostConnection, Transient, true, "Error writing communication packets (08S01)."),
    entry!("1161", "ER_NET_WRITE_INTERRUPTED", LostConnection, Transient, true, "Timeout writing communication packets (08S01)."),
    entry!("4031", "ER_CLIENT_INTERACTION_TIMEOUT", LostConnection, Transient, true, MySql, "The server closed an idle connection."),
    entry!("1927", "ER_CONNECTION_KILLED", LostConnection, Transient, true, MariaDb, "The connection was killed (KILL)."),
    entry!("2006", "CR_SERVER_GONE_ERROR", LostConnection, Transient, true, "Client code: the server has gone away (sqlx reports this as an I/O error instead)."),
    entry!("2013", "CR_SERVER_LOST", LostConnection, Transient, true, "Client code: lost connection during a query (sqlx reports this as an I/O error instead)."),
    entry!("1040", "ER_CON_COUNT_ERROR", TooManyConnections, Transient, true, "Too many connections (08004); retry the connection with backoff."),
    entry!("1203", "ER_TOO_MANY_USER_CONNECTIONS", TooManyConnections, Transient, true, "The user already has max_user_connections connections."),
    entry!("1226", "ER_USER_LIMIT_REACHED", TooManyConnections, Transient, true, "The user exceeded a resource limit (e.g. max_user_connections)."),
    entry!("1290", "ER_OPTION_PREVENTS_STATEMENT", ServerUnavailable, Fatal, "The server runs with an option that prevents the statement, usually --read-only (retry only behind a failover endpoint)."),
    entry!("1792", "ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION", ServerUnavailable, Fatal, "The statement cannot run in a READ ONLY transaction (25006)."),
    entry!("1836", "ER_READ_ONLY_MODE", ServerUnavailable, Fatal, "InnoDB runs read-only."),
    entry!("1045", "ER_ACCESS_DENIED_ERROR", AuthenticationFailure, Fatal, "Access denied: wrong user or password (28000); never retried."),
    entry!("1698", "ER_ACCESS_DENIED_NO_PASSWORD_ERROR", AuthenticationFailure, Fatal, "Access denied for the user (socket/plugin authentication)."),
    entry!("1130", "ER_HOST_NOT_PRIVILEGED", AuthenticationFailure, Fatal, "The host may not connect to this server."),
    entry!("1129", "ER_HOST_IS_BLOCKED", AuthenticationFailure, Fatal, "The host is blocked after too many connection errors; retries make it worse."),
    entry!("1049", "ER_BAD_DB_ERROR", UnknownDatabase, Fatal, "Unknown database (42000)."),
    entry!("1046", "ER_NO_DB_ERROR", UnknownDatabase, Fatal, "No database selected (3D000)."),
    entry!("1021", "ER_DISK_FULL", DiskFull, Fatal, "The disk is full."),
    entry!("1114", "ER_RECORD_FILE_FULL", DiskFull, Fatal, "The table is full."),
    entry!("1037", "ER_OUTOFMEMORY", OutOfMemory, Fatal, "Out of memory (HY001)."),
    entry!("1038", "ER_OUT_OF_SORTMEMORY", OutOfMemory, Fatal, "Out of sort memory (HY001)."),
    entry!("1041", "ER_OUT_OF_RESOURCES", OutOfMemory, Fatal, "Out of memory or another resource."),
    entry!("1179", "ER_CANT_DO_THIS_DURING_AN_TRANSACTION", InvalidTransactionState, Fatal, "The statement is not allowed in a transaction."),
    entry!("1568", "ER_CANT_CHANGE_TX_CHARACTERISTICS", InvalidTransactionState, Fatal, "Transaction characteristics cannot change while a transaction is in progress."),
];

/// Errno 1005 refined by the storage-engine errno its message carries.
static CANT_CREATE_121: CodeEntry = entry!(
    "1005",
    "ER_CANT_CREATE_TABLE (errno: 121)",
    DuplicateObject,
    AlreadyApplied,
    "Cannot create: duplicate constraint (foreign key) name."
);
static CANT_CREATE_150: CodeEntry = entry!(
    "1005",
    "ER_CANT_CREATE_TABLE (errno: 150)",
    DatatypeMismatch,
    Fatal,
    "Cannot create: the foreign key is incorrectly formed (often column types differ)."
);

/// SQLSTATE fallbacks, for numbers not in [`ERRNOS`]; the ambiguous classes (42000, HY000,
/// 23000) are left out on purpose.
pub static SQLSTATES: &[CodeEntry] = &[
    entry!("42S21", "duplicate column (SQLSTATE)", DuplicateColumn, AlreadyApplied, "A column with this name already exists."),
    entry!("42S01", "table exists (SQLSTATE)", DuplicateTable, AlreadyApplied, "The table already exists."),
    entry!("42S22", "unknown column (SQLSTATE)", MissingColumn, Fatal, "The column does not exist."),
    entry!("42S02", "unknown table (SQLSTATE)", MissingTable, Fatal, "The table does not exist."),
    entry!("40001", "deadlock (SQLSTATE)", Deadlock, Transient, "A deadlock rolled back the transaction (MySQL has no separate serialization failure: SERIALIZABLE is lock based)."),
    entry!("08S01", "communication link failure (SQLSTATE)", LostConnection, Transient, true, "The connection failed."),
    entry!("08004", "connection rejected (SQLSTATE)", TooManyConnections, Transient, true, "The server rejected the connection (too many connections)."),
    entry!("28000", "access denied (SQLSTATE)", AuthenticationFailure, Fatal, "Access denied."),
    entry!("3D000", "no database (SQLSTATE)", UnknownDatabase, Fatal, "No database selected."),
    entry!("22001", "data too long (SQLSTATE)", DataOutOfRange, Fatal, "Data too long."),
    entry!("22003", "out of range (SQLSTATE)", DataOutOfRange, Fatal, "Value out of range."),
    entry!("22007", "incorrect value (SQLSTATE)", DatatypeMismatch, Fatal, "Incorrect value for the type."),
    entry!("25006", "read-only transaction (SQLSTATE)", ServerUnavailable, Fatal, "Read-only transaction."),
    entry!("70100", "interrupted (SQLSTATE)", StatementTimeout, Fatal, "The query was interrupted or timed out."),
    entry!("HY001", "out of memory (SQLSTATE)", OutOfMemory, Fatal, "Out of memory."),
];

/// The table row for an error number on this flavor (without message refinement).
pub fn entry_for(errno: u16, backend: Backend) -> Option<&'static CodeEntry> {
    let code = errno.to_string();
    ERRNOS
        .iter()
        .find(|e| e.code == code && e.flavor.matches(backend))
}

/// The table row for an error number, refined by the message only where the number itself
/// carries a sub-code (1005 "errno: 121" / "errno: 150").
pub fn lookup_errno(errno: u16, backend: Backend, message: &str) -> Option<&'static CodeEntry> {
    if errno == 1005 {
        if message.contains("errno: 121") {
            return Some(&CANT_CREATE_121);
        }
        if message.contains("errno: 150") {
            return Some(&CANT_CREATE_150);
        }
    }
    entry_for(errno, backend)
}

/// The fallback row for a SQLSTATE.
pub fn lookup_sqlstate(code: &str) -> Option<&'static CodeEntry> {
    let upper = code.trim().to_ascii_uppercase();
    SQLSTATES.iter().find(|e| e.code == upper)
}
