//! What each backend can do, per version, as data: the migrator, the linter and `plinth compat` read
//! this one table instead of scattering `if mysql` checks through the code.

use crate::backend::{Backend, ServerInfo, Version};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A yes/no feature a migration may depend on; the name is what `-- plinth:requires` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// DDL inside a transaction is undone by ROLLBACK.
    TransactionalDdl,
    /// `ALTER TABLE … ADD COLUMN IF NOT EXISTS`.
    AddColumnIfNotExists,
    /// `ALTER TABLE … DROP COLUMN IF EXISTS`.
    DropColumnIfExists,
    /// `CREATE INDEX IF NOT EXISTS`.
    CreateIndexIfNotExists,
    /// `DROP INDEX IF EXISTS`.
    DropIndexIfExists,
    /// Changing a column's type in place with ALTER TABLE (no table rebuild by hand).
    AlterColumnType,
    /// `ALTER TABLE … RENAME COLUMN a TO b`.
    RenameColumn,
    /// `ALTER TABLE … DROP COLUMN`.
    DropColumn,
    /// `CREATE SEQUENCE` objects.
    Sequences,
    /// SQL-standard identity columns (`GENERATED … AS IDENTITY`).
    IdentityColumns,
    /// `AUTO_INCREMENT` columns.
    AutoIncrement,
    /// A JSON column type of any kind (binary or a validated text alias).
    Json,
    /// A binary, indexable JSON storage format (jsonb, MySQL JSON).
    JsonBinary,
    /// SQL functions over JSON documents.
    JsonFunctions,
    /// Full-text search indexes and queries.
    FullTextSearch,
    /// `INSERT … RETURNING`.
    InsertReturning,
    /// `UPDATE … RETURNING`.
    UpdateReturning,
    /// `DELETE … RETURNING`.
    DeleteReturning,
    /// Indexes with a WHERE predicate.
    PartialIndexes,
    /// Indexes on expressions rather than plain columns.
    ExpressionIndexes,
    /// Building an index while writes continue (CONCURRENTLY, or ALGORITHM=INPLACE LOCK=NONE).
    ConcurrentIndexBuild,
    /// Application-level named locks (pg_advisory_lock, GET_LOCK).
    AdvisoryLocks,
    /// SAVEPOINT / ROLLBACK TO SAVEPOINT.
    Savepoints,
    /// CHECK constraints are enforced, not just parsed.
    CheckConstraintsEnforced,
    /// Foreign keys are enforced without per-connection setup.
    ForeignKeysEnforcedByDefault,
    /// A native UUID column type.
    UuidType,
    /// Array column types (`T[]`).
    Arrays,
    /// ADD COLUMN without rewriting or copying the table.
    InstantAddColumn,
    /// VARCHAR lengths are enforced by the engine.
    VarcharLengthEnforced,
    /// Schemas as namespaces inside one database.
    Schemas,
}

impl Capability {
    /// Every capability, in the order the matrix shows them.
    pub const ALL: [Capability; 30] = [
        Capability::TransactionalDdl,
        Capability::AddColumnIfNotExists,
        Capability::DropColumnIfExists,
        Capability::CreateIndexIfNotExists,
        Capability::DropIndexIfExists,
        Capability::AlterColumnType,
        Capability::RenameColumn,
        Capability::DropColumn,
        Capability::Sequences,
        Capability::IdentityColumns,
        Capability::AutoIncrement,
        Capability::Json,
        Capability::JsonBinary,
        Capability::JsonFunctions,
        Capability::FullTextSearch,
        Capability::InsertReturning,
        Capability::UpdateReturning,
        Capability::DeleteReturning,
        Capability::PartialIndexes,
        Capability::ExpressionIndexes,
        Capability::ConcurrentIndexBuild,
        Capability::AdvisoryLocks,
        Capability::Savepoints,
        Capability::CheckConstraintsEnforced,
        Capability::ForeignKeysEnforcedByDefault,
        Capability::UuidType,
        Capability::Arrays,
        Capability::InstantAddColumn,
        Capability::VarcharLengthEnforced,
        Capability::Schemas,
    ];

    /// The stable snake_case name used in directives, JSON and docs.
    pub fn name(self) -> &'static str {
        match self {
            Capability::TransactionalDdl => "transactional_ddl",
            Capability::AddColumnIfNotExists => "add_column_if_not_exists",
            Capability::DropColumnIfExists => "drop_column_if_exists",
            Capability::CreateIndexIfNotExists => "create_index_if_not_exists",
            Capability::DropIndexIfExists => "drop_index_if_exists",
            Capability::AlterColumnType => "alter_column_type",
            Capability::RenameColumn => "rename_column",
            Capability::DropColumn => "drop_column",
            Capability::Sequences => "sequences",
            Capability::IdentityColumns => "identity_columns",
            Capability::AutoIncrement => "auto_increment",
            Capability::Json => "json",
            Capability::JsonBinary => "json_binary",
            Capability::JsonFunctions => "json_functions",
            Capability::FullTextSearch => "full_text_search",
            Capability::InsertReturning => "insert_returning",
            Capability::UpdateReturning => "update_returning",
            Capability::DeleteReturning => "delete_returning",
            Capability::PartialIndexes => "partial_indexes",
            Capability::ExpressionIndexes => "expression_indexes",
            Capability::ConcurrentIndexBuild => "concurrent_index_build",
            Capability::AdvisoryLocks => "advisory_locks",
            Capability::Savepoints => "savepoints",
            Capability::CheckConstraintsEnforced => "check_constraints_enforced",
            Capability::ForeignKeysEnforcedByDefault => "foreign_keys_enforced_by_default",
            Capability::UuidType => "uuid_type",
            Capability::Arrays => "arrays",
            Capability::InstantAddColumn => "instant_add_column",
            Capability::VarcharLengthEnforced => "varchar_length_enforced",
            Capability::Schemas => "schemas",
        }
    }

    /// Parse a capability name as written in `-- plinth:requires`; `-` and `_` are interchangeable,
    /// case is ignored, and `returning` means `insert_returning`.
    pub fn parse(name: &str) -> Option<Capability> {
        let norm = name.trim().to_ascii_lowercase().replace('-', "_");
        if norm == "returning" {
            return Some(Capability::InsertReturning);
        }
        Capability::ALL.into_iter().find(|c| c.name() == norm)
    }

    /// Whether `backend` at `version` has this capability: the one place the facts live.
    pub fn support(self, backend: Backend) -> Support {
        use Backend::*;
        use Capability::*;
        use Support::{No, Since, Yes};
        let v = Version::new;
        match (self, backend) {
            (TransactionalDdl, Postgres | Sqlite) => Yes,
            (TransactionalDdl, MySql | MariaDb) => No,
            (AddColumnIfNotExists | DropColumnIfExists, Postgres | MariaDb) => Yes,
            (AddColumnIfNotExists | DropColumnIfExists, MySql | Sqlite) => No,
            (CreateIndexIfNotExists | DropIndexIfExists, Postgres | MariaDb | Sqlite) => Yes,
            (CreateIndexIfNotExists | DropIndexIfExists, MySql) => No,
            (AlterColumnType, Postgres | MySql | MariaDb) => Yes,
            (AlterColumnType, Sqlite) => No,
            (RenameColumn, Postgres) => Yes,
            (RenameColumn, MySql) => Since(v(8, 0, 3)),
            (RenameColumn, MariaDb) => Since(v(10, 5, 2)),
            (RenameColumn, Sqlite) => Since(v(3, 25, 0)),
            (DropColumn, Postgres | MySql | MariaDb) => Yes,
            (DropColumn, Sqlite) => Since(v(3, 35, 5)),
            (Sequences, Postgres) => Yes,
            (Sequences, MariaDb) => Since(v(10, 3, 0)),
            (Sequences, MySql | Sqlite) => No,
            (IdentityColumns, Postgres) => Since(v(10, 0, 0)),
            (IdentityColumns, _) => No,
            (AutoIncrement, MySql | MariaDb | Sqlite) => Yes,
            (AutoIncrement, Postgres) => No,
            (Json, Postgres | MySql) => Yes,
            (Json, MariaDb) => Since(v(10, 2, 7)),
            (Json, Sqlite) => No,
            (JsonBinary, Postgres | MySql) => Yes,
            (JsonBinary, MariaDb | Sqlite) => No,
            (JsonFunctions, Postgres | MySql) => Yes,
            (JsonFunctions, MariaDb) => Since(v(10, 2, 3)),
            (JsonFunctions, Sqlite) => Since(v(3, 38, 0)),
            (FullTextSearch, _) => Yes,
            (InsertReturning, Postgres) => Yes,
            (InsertReturning, MariaDb) => Since(v(10, 5, 0)),
            (InsertReturning | UpdateReturning | DeleteReturning, Sqlite) => Since(v(3, 35, 0)),
            (InsertReturning | UpdateReturning | DeleteReturning, MySql) => No,
            (UpdateReturning | DeleteReturning, Postgres) => Yes,
            (UpdateReturning, MariaDb) => No,
            (DeleteReturning, MariaDb) => Since(v(10, 0, 5)),
            (PartialIndexes, Postgres | Sqlite) => Yes,
            (PartialIndexes, MySql | MariaDb) => No,
            (ExpressionIndexes, Postgres | Sqlite) => Yes,
            (ExpressionIndexes, MySql) => Since(v(8, 0, 13)),
            (ExpressionIndexes, MariaDb) => No,
            (ConcurrentIndexBuild, Postgres | MySql | MariaDb) => Yes,
            (ConcurrentIndexBuild, Sqlite) => No,
            (AdvisoryLocks, Postgres | MySql | MariaDb) => Yes,
            (AdvisoryLocks, Sqlite) => No,
            (Savepoints, _) => Yes,
            (CheckConstraintsEnforced, Postgres | Sqlite) => Yes,
            (CheckConstraintsEnforced, MySql) => Since(v(8, 0, 16)),
            (CheckConstraintsEnforced, MariaDb) => Since(v(10, 2, 1)),
            // SQLite's engine default is off, but sqlx (plinth's driver) sets PRAGMA
            // foreign_keys=ON on every connection it opens: verified by the live probe.
            (ForeignKeysEnforcedByDefault, _) => Yes,
            (UuidType, Postgres) => Yes,
            (UuidType, MariaDb) => Since(v(10, 7, 0)),
            (UuidType, MySql | Sqlite) => No,
            (Arrays, Postgres) => Yes,
            (Arrays, _) => No,
            (InstantAddColumn, Postgres) => Since(v(11, 0, 0)),
            (InstantAddColumn, MySql) => Since(v(8, 0, 12)),
            (InstantAddColumn, MariaDb) => Since(v(10, 3, 2)),
            (InstantAddColumn, Sqlite) => Yes,
            (VarcharLengthEnforced, Postgres | MySql | MariaDb) => Yes,
            (VarcharLengthEnforced, Sqlite) => No,
            (Schemas, Postgres) => Yes,
            (Schemas, _) => No,
        }
    }

    /// A caveat worth showing next to the yes/no, when there is one.
    pub fn note(self, backend: Backend) -> Option<&'static str> {
        use Backend::*;
        use Capability::*;
        Some(match (self, backend) {
            (TransactionalDdl, Postgres) => "except CREATE INDEX CONCURRENTLY, VACUUM; an enum value added by ALTER TYPE … ADD VALUE is unusable before COMMIT",
            (TransactionalDdl, MySql | MariaDb) => "every DDL statement commits implicitly; atomic DDL only makes one statement crash-safe",
            (AlterColumnType, Postgres) => "ACCESS EXCLUSIVE lock and a rewrite unless binary-coercible",
            (AlterColumnType, MySql | MariaDb) => "MODIFY/CHANGE, mostly ALGORITHM=COPY",
            (AlterColumnType, Sqlite) => "the 12-step table rebuild",
            (DropColumn, Sqlite) => "with restrictions (not PK, UNIQUE, indexed, or referenced columns)",
            (Sequences, MariaDb) => "as a column DEFAULT from 10.3.3",
            (AutoIncrement, Postgres) => "use identity columns or serial",
            (AutoIncrement, Sqlite) => "INTEGER PRIMARY KEY is a rowid alias; AUTOINCREMENT optional",
            (Json, MariaDb) => "LONGTEXT with CHECK(JSON_VALID()) (10.4.3+)",
            (Json, Sqlite) => "store TEXT; JSONB blobs from 3.45",
            (FullTextSearch, Postgres) => "tsvector/tsquery with GIN",
            (FullTextSearch, MySql | MariaDb) => "FULLTEXT + MATCH … AGAINST",
            (FullTextSearch, Sqlite) => "FTS5 virtual tables when compiled in",
            (ConcurrentIndexBuild, Postgres) => "CREATE INDEX CONCURRENTLY, never inside a transaction",
            (ConcurrentIndexBuild, MySql | MariaDb) => "ALGORITHM=INPLACE, LOCK=NONE",
            (AdvisoryLocks, MySql | MariaDb) => "GET_LOCK, session-scoped, survives COMMIT",
            (Savepoints, MySql | MariaDb) => "DDL's implicit commit discards them",
            (ForeignKeysEnforcedByDefault, Sqlite) => "on plinth's connections: sqlx sets PRAGMA foreign_keys=ON; the engine's default (other tools) is off",
            (UuidType, MySql) => "use BINARY(16) or CHAR(36)",
            (InstantAddColumn, Postgres) => "unless a volatile default, identity or stored generated column",
            (InstantAddColumn, MySql) => "ALGORITHM=INSTANT; any position from 8.0.29; 64 row versions",
            (InstantAddColumn, MariaDb) => "any position from 10.4",
            (VarcharLengthEnforced, Sqlite) => "only in STRICT tables or with a CHECK",
            (Schemas, MySql | MariaDb) => "SCHEMA is a synonym for DATABASE",
            (Schemas, Sqlite) => "attached databases",
            _ => return None,
        })
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a backend supports a capability: the form the docs render and the version check reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Support {
    /// In every supported version.
    Yes,
    /// In no version.
    No,
    /// From this version on.
    Since(Version),
}

impl Support {
    /// Whether a server at `version` has it.
    pub fn at(self, version: Version) -> bool {
        match self {
            Support::Yes => true,
            Support::No => false,
            Support::Since(min) => version >= min,
        }
    }
}

/// How a backend stores JSON, which decides indexing and what a round trip preserves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JsonKind {
    /// A parsed binary format (jsonb, MySQL JSON): normalized, indexable.
    NativeBinary,
    /// JSON is an alias for a text type with a validity check (MariaDB).
    TextAlias,
    /// No JSON type: store TEXT.
    None,
}

/// The unit a length limit counts in; mixing them is the classic matrix mistake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LengthUnit {
    /// Characters of the column's character set.
    Characters,
    /// Bytes.
    Bytes,
}

/// The largest `VARCHAR(n)` a backend accepts, with the unit and the caveat that decides it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaxVarchar {
    /// Largest n; `None` when the engine does not enforce lengths.
    pub max_length: Option<u64>,
    /// What n counts.
    pub unit: LengthUnit,
    /// The shared row budget in bytes all non-TEXT/BLOB columns of a row draw from, if any.
    pub row_limit_bytes: Option<u64>,
    /// Why the number is what it is.
    pub note: String,
}

/// What happens to an identifier longer than the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverlongIdentifier {
    /// Silently cut to the limit (PostgreSQL, with a NOTICE).
    Truncated,
    /// Refused with an error.
    Rejected,
    /// There is no limit.
    NoLimit,
}

/// The longest table/column/index name a backend keeps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaxIdentifier {
    /// The limit; `None` for no fixed limit.
    pub max_length: Option<u32>,
    /// What the limit counts.
    pub unit: LengthUnit,
    /// What the server does with a longer name.
    pub overlong: OverlongIdentifier,
}

/// A transaction isolation level, as a server's default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IsolationLevel {
    /// READ UNCOMMITTED.
    ReadUncommitted,
    /// READ COMMITTED.
    ReadCommitted,
    /// REPEATABLE READ.
    RepeatableRead,
    /// SERIALIZABLE.
    Serializable,
}

impl IsolationLevel {
    /// Parse a server's spelling (`read committed`, `REPEATABLE-READ`, …).
    pub fn parse(text: &str) -> Option<IsolationLevel> {
        match text
            .trim()
            .to_ascii_lowercase()
            .replace(['-', '_'], " ")
            .as_str()
        {
            "read uncommitted" => Some(IsolationLevel::ReadUncommitted),
            "read committed" => Some(IsolationLevel::ReadCommitted),
            "repeatable read" => Some(IsolationLevel::RepeatableRead),
            "serializable" => Some(IsolationLevel::Serializable),
            _ => None,
        }
    }

    /// The SQL spelling.
    pub fn as_sql(self) -> &'static str {
        match self {
            IsolationLevel::ReadUncommitted => "READ UNCOMMITTED",
            IsolationLevel::ReadCommitted => "READ COMMITTED",
            IsolationLevel::RepeatableRead => "REPEATABLE READ",
            IsolationLevel::Serializable => "SERIALIZABLE",
        }
    }
}

/// JSON support in detail, beyond the yes/no flags.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonSupport {
    /// How documents are stored.
    pub kind: JsonKind,
    /// The type name to declare, when there is one.
    pub type_name: Option<String>,
}

/// How a backend makes an auto-generated integer key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoId {
    /// The column declaration to use.
    pub declaration: String,
}

/// Everything plinth knows a backend at a version can do: flags plus the typed values that are not
/// yes/no. Serializable for `plinth compat --format json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// The engine.
    pub backend: Backend,
    /// The version the flags were evaluated at.
    pub version: Version,
    /// Each yes/no capability.
    pub flags: BTreeMap<Capability, bool>,
    /// JSON storage.
    pub json: JsonSupport,
    /// Largest VARCHAR(n).
    pub max_varchar: MaxVarchar,
    /// Longest identifier.
    pub max_identifier: MaxIdentifier,
    /// The server's default isolation level as shipped.
    pub default_isolation: IsolationLevel,
    /// How to declare an auto-generated key.
    pub auto_id: AutoId,
}

impl Capabilities {
    /// Whether the backend at this version can do `cap`.
    pub fn is_capable(&self, cap: Capability) -> bool {
        self.flags.get(&cap).copied().unwrap_or(false)
    }

    /// The capabilities of the server behind a connection.
    pub fn for_server(info: &ServerInfo) -> Capabilities {
        capabilities_for(info.backend, info.version)
    }
}

/// The oldest version plinth supports for each backend.
pub fn minimum_version(backend: Backend) -> Version {
    match backend {
        Backend::Postgres => Version::new(12, 0, 0),
        Backend::MySql => Version::new(8, 0, 0),
        Backend::MariaDb => Version::new(10, 5, 0),
        Backend::Sqlite => Version::new(3, 35, 0),
    }
}

/// The version assumed when a backend is named without one (what plinth is tested against).
pub fn default_version(backend: Backend) -> Version {
    match backend {
        Backend::Postgres => Version::new(15, 0, 0),
        Backend::MySql => Version::new(8, 0, 36),
        Backend::MariaDb => Version::new(10, 11, 0),
        Backend::Sqlite => Version::new(3, 45, 0),
    }
}

/// The capability matrix for `backend` at `version`, chosen after connecting.
pub fn capabilities_for(backend: Backend, version: Version) -> Capabilities {
    let flags = Capability::ALL
        .into_iter()
        .map(|c| (c, c.support(backend).at(version)))
        .collect();
    let mysql_varchar = MaxVarchar {
        max_length: Some(16_383),
        unit: LengthUnit::Characters,
        row_limit_bytes: Some(65_535),
        note: "for one utf8mb4 column; all non-TEXT/BLOB columns share a 65,535-byte row \
               (utf8mb3 21,844, latin1 65,532); a fully indexed column ≤ 3,072 bytes"
            .to_string(),
    };
    let (json, max_varchar, max_identifier, default_isolation, auto_id) = match backend {
        Backend::Postgres => (
            JsonSupport {
                kind: JsonKind::NativeBinary,
                type_name: Some("jsonb".into()),
            },
            MaxVarchar {
                max_length: Some(10_485_760),
                unit: LengthUnit::Characters,
                row_limit_bytes: None,
                note: "varchar without n and text are unbounded (about 1 GB a value)".into(),
            },
            MaxIdentifier {
                max_length: Some(63),
                unit: LengthUnit::Bytes,
                overlong: OverlongIdentifier::Truncated,
            },
            IsolationLevel::ReadCommitted,
            AutoId {
                declaration: "bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY".into(),
            },
        ),
        Backend::MySql | Backend::MariaDb => (
            JsonSupport {
                kind: if backend == Backend::MySql {
                    JsonKind::NativeBinary
                } else {
                    JsonKind::TextAlias
                },
                type_name: Some("JSON".into()),
            },
            mysql_varchar,
            MaxIdentifier {
                max_length: Some(64),
                unit: LengthUnit::Characters,
                overlong: OverlongIdentifier::Rejected,
            },
            IsolationLevel::RepeatableRead,
            AutoId {
                declaration: "BIGINT AUTO_INCREMENT PRIMARY KEY".into(),
            },
        ),
        Backend::Sqlite => (
            JsonSupport {
                kind: JsonKind::None,
                type_name: None,
            },
            MaxVarchar {
                max_length: None,
                unit: LengthUnit::Characters,
                row_limit_bytes: None,
                note: "lengths are not enforced (TEXT affinity); add CHECK(length(c) <= n)".into(),
            },
            MaxIdentifier {
                max_length: None,
                unit: LengthUnit::Bytes,
                overlong: OverlongIdentifier::NoLimit,
            },
            IsolationLevel::Serializable,
            AutoId {
                declaration: "INTEGER PRIMARY KEY".into(),
            },
        ),
    };
    Capabilities {
        backend,
        version,
        flags,
        json,
        max_varchar,
        max_identifier,
        default_isolation,
        auto_id,
    }
}

/// Human name of a backend for tables and docs.
pub fn display_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "PostgreSQL",
        Backend::MySql => "MySQL",
        Backend::MariaDb => "MariaDB",
        Backend::Sqlite => "SQLite",
    }
}

/// Parse `mariadb:10.11` or `postgres` into a backend and a version (the tested default when
/// omitted), as `plinth compat --backend` accepts.
pub fn parse_backend_spec(spec: &str) -> Option<(Backend, Version)> {
    let (name, version) = match spec.split_once([':', '@', '=']) {
        Some((n, v)) => (n, Some(v)),
        None => (spec, None),
    };
    let backend = Backend::parse(name)?;
    let version = match version {
        Some(v) => Version::parse(v)?,
        None => default_version(backend),
    };
    Some((backend, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in Capability::ALL {
            assert!(seen.insert(c.name()), "duplicate name {}", c.name());
            assert_eq!(Capability::parse(c.name()), Some(c));
            assert_eq!(Capability::parse(&c.name().replace('_', "-")), Some(c));
            // serde and name() agree, so JSON keys equal directive names
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.name()));
        }
        assert_eq!(Capability::parse("nonsense"), None);
    }

    #[test]
    fn the_must_show_facts_hold() {
        let v = default_version;
        assert!(capabilities_for(Backend::Postgres, v(Backend::Postgres))
            .is_capable(Capability::TransactionalDdl));
        assert!(capabilities_for(Backend::Sqlite, v(Backend::Sqlite))
            .is_capable(Capability::TransactionalDdl));
        assert!(!capabilities_for(Backend::MariaDb, v(Backend::MariaDb))
            .is_capable(Capability::TransactionalDdl));
        let maria_10_3 = capabilities_for(Backend::MariaDb, Version::new(10, 3, 0));
        assert!(maria_10_3.is_capable(Capability::Sequences));
        assert!(!capabilities_for(Backend::MariaDb, Version::new(10, 2, 9))
            .is_capable(Capability::Sequences));
        assert!(
            !capabilities_for(Backend::MySql, v(Backend::MySql)).is_capable(Capability::Sequences)
        );
    }

    #[test]
    fn version_gates_move_with_the_version() {
        let mysql = |p| capabilities_for(Backend::MySql, Version::new(8, 0, p));
        assert!(!mysql(15).is_capable(Capability::CheckConstraintsEnforced));
        assert!(mysql(16).is_capable(Capability::CheckConstraintsEnforced));
        let maria = |m| capabilities_for(Backend::MariaDb, Version::new(10, m, 0));
        assert!(!maria(6).is_capable(Capability::UuidType));
        assert!(maria(7).is_capable(Capability::UuidType));
    }

    #[test]
    fn backend_specs_parse() {
        assert_eq!(
            parse_backend_spec("mariadb:10.11"),
            Some((Backend::MariaDb, Version::new(10, 11, 0)))
        );
        assert_eq!(
            parse_backend_spec("postgres"),
            Some((Backend::Postgres, default_version(Backend::Postgres)))
        );
        assert_eq!(parse_backend_spec("oracle:19"), None);
        assert_eq!(parse_backend_spec("mysql:x"), None);
    }

    #[test]
    fn isolation_spellings_parse() {
        assert_eq!(
            IsolationLevel::parse("REPEATABLE-READ"),
            Some(IsolationLevel::RepeatableRead)
        );
        assert_eq!(
            IsolationLevel::parse("read committed"),
            Some(IsolationLevel::ReadCommitted)
        );
    }
}
