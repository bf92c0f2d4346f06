//! SQLite result codes as plinth reads them (`sqlite3.h`). Extended codes are checked first, then
//! the primary code (`code & 0xFF`). SQLite reports every schema error as SQLITE_ERROR (1) with
//! English text that is never translated, so for code 1 plinth reads the message, anchored at its
//! start (`duplicate column name: `), never as a loose substring.

use super::{entry, Category, CodeEntry, Disposition};

/// Extended result codes.
pub static EXTENDED: &[CodeEntry] = &[
    entry!(
        "2067",
        "SQLITE_CONSTRAINT_UNIQUE",
        UniqueViolation,
        Fatal,
        "A UNIQUE constraint failed."
    ),
    entry!(
        "1555",
        "SQLITE_CONSTRAINT_PRIMARYKEY",
        UniqueViolation,
        Fatal,
        "A PRIMARY KEY constraint failed."
    ),
    entry!(
        "2579",
        "SQLITE_CONSTRAINT_ROWID",
        UniqueViolation,
        Fatal,
        "The rowid is not unique."
    ),
    entry!(
        "787",
        "SQLITE_CONSTRAINT_FOREIGNKEY",
        ForeignKeyViolation,
        Fatal,
        "A FOREIGN KEY constraint failed (sqlx enables foreign_keys by default)."
    ),
    entry!(
        "1299",
        "SQLITE_CONSTRAINT_NOTNULL",
        NotNullViolation,
        Fatal,
        "A NOT NULL constraint failed."
    ),
    entry!(
        "275",
        "SQLITE_CONSTRAINT_CHECK",
        CheckViolation,
        Fatal,
        "A CHECK constraint failed."
    ),
    entry!(
        "3091",
        "SQLITE_CONSTRAINT_DATATYPE",
        DatatypeMismatch,
        Fatal,
        "A value does not fit a STRICT table's column type."
    ),
    entry!(
        "517",
        "SQLITE_BUSY_SNAPSHOT",
        SerializationFailure,
        Transient,
        "The read snapshot is stale (WAL): restart the transaction."
    ),
    entry!(
        "261",
        "SQLITE_BUSY_RECOVERY",
        LockWaitTimeout,
        Transient,
        "Another connection is recovering the WAL."
    ),
    entry!(
        "773",
        "SQLITE_BUSY_TIMEOUT",
        LockWaitTimeout,
        Transient,
        "A blocking lock timed out."
    ),
    entry!(
        "516",
        "SQLITE_ABORT_ROLLBACK",
        InFailedTransaction,
        Fatal,
        "The statement was aborted because the transaction rolled back."
    ),
    entry!(
        "264",
        "SQLITE_READONLY_RECOVERY",
        ServerUnavailable,
        Fatal,
        "Read-only: the WAL needs recovery."
    ),
    entry!(
        "520",
        "SQLITE_READONLY_CANTLOCK",
        ServerUnavailable,
        Fatal,
        "Read-only: cannot lock the shared memory."
    ),
    entry!(
        "776",
        "SQLITE_READONLY_ROLLBACK",
        ServerUnavailable,
        Fatal,
        "Read-only: a hot journal needs rolling back."
    ),
    entry!(
        "1032",
        "SQLITE_READONLY_DBMOVED",
        ServerUnavailable,
        Fatal,
        "Read-only: the database file was moved."
    ),
    entry!(
        "1288",
        "SQLITE_READONLY_CANTINIT",
        ServerUnavailable,
        Fatal,
        "Read-only: cannot initialise shared memory."
    ),
    entry!(
        "1544",
        "SQLITE_READONLY_DIRECTORY",
        ServerUnavailable,
        Fatal,
        "Read-only: the directory is not writable."
    ),
    entry!(
        "3082",
        "SQLITE_IOERR_NOMEM",
        OutOfMemory,
        Fatal,
        "Out of memory during I/O."
    ),
];

/// Primary result codes.
pub static PRIMARY: &[CodeEntry] = &[
    entry!("1", "SQLITE_ERROR", Unknown, Fatal, "Generic error; schema errors carry their meaning in the message (see the message rules)."),
    entry!("3", "SQLITE_PERM", InsufficientPrivilege, Fatal, "Access permission denied."),
    entry!("5", "SQLITE_BUSY", LockWaitTimeout, Transient, "The database is locked by another connection (busy timeout elapsed, or the busy handler was skipped to avoid a deadlock): retry the whole transaction, preferably with BEGIN IMMEDIATE."),
    entry!("6", "SQLITE_LOCKED", LockWaitTimeout, Fatal, "A table is locked by the same connection or a shared-cache peer: usually a bug, not retried."),
    entry!("7", "SQLITE_NOMEM", OutOfMemory, Fatal, "Out of memory; the transaction may have rolled back."),
    entry!("8", "SQLITE_READONLY", ServerUnavailable, Fatal, "The database is read-only."),
    entry!("9", "SQLITE_INTERRUPT", StatementTimeout, Fatal, "The statement was interrupted; the transaction may have rolled back."),
    entry!("10", "SQLITE_IOERR", LostConnection, Fatal, "A disk I/O error; the transaction may have rolled back."),
    entry!("11", "SQLITE_CORRUPT", Unknown, Fatal, "The database file is malformed."),
    entry!("13", "SQLITE_FULL", DiskFull, Fatal, "The disk is full; the transaction may have rolled back."),
    entry!("14", "SQLITE_CANTOPEN", UnknownDatabase, Fatal, "Unable to open the database file (missing, or its directory is)."),
    entry!("18", "SQLITE_TOOBIG", DataOutOfRange, Fatal, "A string or blob is too big."),
    entry!("19", "SQLITE_CONSTRAINT", Unknown, Fatal, "A constraint failed (the extended code says which)."),
    entry!("20", "SQLITE_MISMATCH", DatatypeMismatch, Fatal, "Data type mismatch (e.g. a non-integer rowid)."),
    entry!("23", "SQLITE_AUTH", InsufficientPrivilege, Fatal, "The authorizer denied the statement."),
    entry!("26", "SQLITE_NOTADB", Unknown, Fatal, "The file is not a database (or the encryption key is wrong)."),
];

/// How a SQLITE_ERROR message is matched: it starts with, or starts and ends with, fixed text.
#[derive(Clone, Copy, Debug)]
pub enum Pattern {
    /// The message starts with this text.
    Prefix(&'static str),
    /// The message starts with the first text and ends with the second.
    Around(&'static str, &'static str),
}

/// One message rule for SQLITE_ERROR.
#[derive(Clone, Copy, Debug)]
pub struct MessageRule {
    /// The anchored pattern.
    pub pattern: Pattern,
    /// The category it gives.
    pub category: Category,
    /// The context-free disposition.
    pub disposition: Disposition,
    /// What it means.
    pub meaning: &'static str,
}

impl MessageRule {
    /// The pattern as documentation text (`…` marks the variable part).
    pub fn pattern_text(&self) -> String {
        match self.pattern {
            Pattern::Prefix(p) => format!("{p}…"),
            Pattern::Around(a, b) => format!("{a}…{b}"),
        }
    }

    fn matches(&self, message: &str) -> bool {
        match self.pattern {
            Pattern::Prefix(p) => message.starts_with(p),
            Pattern::Around(a, b) => {
                message.len() >= a.len() + b.len() && message.starts_with(a) && message.ends_with(b)
            }
        }
    }
}

macro_rules! rule {
    ($pat:expr, $cat:ident, $disp:ident, $meaning:expr) => {
        MessageRule {
            pattern: $pat,
            category: Category::$cat,
            disposition: Disposition::$disp,
            meaning: $meaning,
        }
    };
}

/// SQLITE_ERROR message rules, anchored at the start of SQLite's (English, untranslated) text.
pub static MESSAGE_RULES: &[MessageRule] = &[
    rule!(
        Pattern::Prefix("duplicate column name: "),
        DuplicateColumn,
        AlreadyApplied,
        "The column already exists."
    ),
    rule!(
        Pattern::Around("table ", " already exists"),
        DuplicateTable,
        AlreadyApplied,
        "The table already exists."
    ),
    rule!(
        Pattern::Around("view ", " already exists"),
        DuplicateTable,
        AlreadyApplied,
        "A view with this name exists."
    ),
    rule!(
        Pattern::Prefix("there is already a table named "),
        DuplicateTable,
        AlreadyApplied,
        "A table with this name exists."
    ),
    rule!(
        Pattern::Prefix("there is already another table or index with this name: "),
        DuplicateTable,
        AlreadyApplied,
        "A table or index with this name exists."
    ),
    rule!(
        Pattern::Around("index ", " already exists"),
        DuplicateObject,
        AlreadyApplied,
        "The index already exists."
    ),
    rule!(
        Pattern::Prefix("there is already an index named "),
        DuplicateObject,
        AlreadyApplied,
        "An index with this name exists."
    ),
    rule!(
        Pattern::Around("trigger ", " already exists"),
        DuplicateObject,
        AlreadyApplied,
        "The trigger already exists."
    ),
    rule!(
        Pattern::Prefix("no such column: "),
        MissingColumn,
        Fatal,
        "The column does not exist."
    ),
    rule!(
        Pattern::Prefix("no such table: "),
        MissingTable,
        Fatal,
        "The table does not exist."
    ),
    rule!(
        Pattern::Prefix("no such view: "),
        MissingObject,
        Fatal,
        "The view does not exist."
    ),
    rule!(
        Pattern::Prefix("no such index: "),
        MissingObject,
        Fatal,
        "The index does not exist."
    ),
    rule!(
        Pattern::Prefix("no such trigger: "),
        MissingObject,
        Fatal,
        "The trigger does not exist."
    ),
    rule!(
        Pattern::Prefix("no such function: "),
        UndefinedFunction,
        Fatal,
        "The SQL function does not exist."
    ),
    rule!(
        Pattern::Prefix("near \""),
        SyntaxError,
        Fatal,
        "Syntax error near a token."
    ),
    rule!(
        Pattern::Prefix("incomplete input"),
        SyntaxError,
        Fatal,
        "The statement ends too early."
    ),
    rule!(
        Pattern::Prefix("unrecognized token: "),
        SyntaxError,
        Fatal,
        "A token SQLite does not know."
    ),
    rule!(
        Pattern::Prefix("Cannot add a NOT NULL column with default value NULL"),
        NotNullViolation,
        Fatal,
        "ADD COLUMN … NOT NULL needs a non-NULL default."
    ),
    rule!(
        Pattern::Prefix("cannot start a transaction within a transaction"),
        InvalidTransactionState,
        Fatal,
        "BEGIN inside an open transaction."
    ),
    rule!(
        Pattern::Prefix("cannot commit - no transaction is active"),
        InvalidTransactionState,
        Fatal,
        "COMMIT without a transaction."
    ),
    rule!(
        Pattern::Prefix("cannot rollback - no transaction is active"),
        InvalidTransactionState,
        Fatal,
        "ROLLBACK without a transaction."
    ),
    rule!(
        Pattern::Prefix("no such savepoint: "),
        InvalidTransactionState,
        Fatal,
        "The savepoint does not exist."
    ),
    rule!(
        Pattern::Prefix("unknown database "),
        UnknownDatabase,
        Fatal,
        "The attached database name is unknown."
    ),
];

/// The table row for a SQLite code: extended first, then primary (no message rules).
pub fn entry_for(code: i64) -> Option<&'static CodeEntry> {
    let text = code.to_string();
    EXTENDED.iter().find(|e| e.code == text).or_else(|| {
        let primary = (code & 0xFF).to_string();
        if code < 0 {
            return None;
        }
        PRIMARY.iter().find(|e| e.code == primary)
    })
}

/// The message rule that a SQLITE_ERROR message matches, if any.
pub fn message_rule(message: &str) -> Option<&'static MessageRule> {
    MESSAGE_RULES.iter().find(|r| r.matches(message))
}

/// Classify a SQLite code and message into a table row; for SQLITE_ERROR (1) the anchored message
/// rules decide, and a message no rule knows stays unknown.
pub fn lookup(code: i64, message: &str) -> Option<CodeEntry> {
    if code == 1 {
        return message_rule(message).map(|r| CodeEntry {
            code: "1",
            name: "SQLITE_ERROR",
            category: r.category,
            disposition: r.disposition,
            outside_only: false,
            flavor: super::Flavor::Both,
            meaning: r.meaning,
        });
    }
    entry_for(code).copied()
}
