//! Logical column types and their spelling on each backend, so a schema can be carried from one
//! database to another with a clear note of what the move loses.

use super::capabilities::{capabilities_for, default_version, Capabilities, Capability};
use crate::backend::Backend;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A backend-neutral column type: what the application means, before any dialect spells it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "arg")]
pub enum LogicalType {
    /// true/false.
    Bool,
    /// 16-bit integer.
    SmallInt,
    /// 32-bit integer.
    Int,
    /// 64-bit integer.
    BigInt,
    /// A generated 64-bit integer primary key.
    AutoIncrementKey,
    /// 4-byte float.
    Float,
    /// 8-byte float.
    Double,
    /// Exact decimal; `None` precision means unconstrained (PostgreSQL `numeric`).
    Decimal {
        /// Total digits.
        precision: Option<u32>,
        /// Digits after the point.
        scale: Option<u32>,
    },
    /// Text of at most n characters.
    Varchar(u64),
    /// Unbounded text.
    Text,
    /// Binary data.
    Bytes,
    /// A calendar date.
    Date,
    /// A time of day.
    Time,
    /// A date and time without zone.
    Timestamp,
    /// An instant (date and time with zone, stored as UTC).
    TimestampTz,
    /// A UUID.
    Uuid,
    /// A JSON document; `binary` is false for PostgreSQL `json`, which keeps the text verbatim.
    Json {
        /// Stored parsed (jsonb, MySQL JSON) rather than as verbatim text.
        binary: bool,
    },
    /// A closed set of labels.
    Enum,
    /// An array of another type (PostgreSQL only).
    Array(Box<LogicalType>),
    /// A backend-specific type with no logical equivalent (tsvector, inet, interval, …).
    Other(String),
}

impl fmt::Display for LogicalType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogicalType::Bool => f.write_str("bool"),
            LogicalType::SmallInt => f.write_str("smallint"),
            LogicalType::Int => f.write_str("int"),
            LogicalType::BigInt => f.write_str("bigint"),
            LogicalType::AutoIncrementKey => f.write_str("auto-increment key"),
            LogicalType::Float => f.write_str("float"),
            LogicalType::Double => f.write_str("double"),
            LogicalType::Decimal {
                precision: Some(p),
                scale,
            } => write!(f, "decimal({p},{})", scale.unwrap_or(0)),
            LogicalType::Decimal { .. } => f.write_str("decimal"),
            LogicalType::Varchar(n) => write!(f, "varchar({n})"),
            LogicalType::Text => f.write_str("text"),
            LogicalType::Bytes => f.write_str("bytes"),
            LogicalType::Date => f.write_str("date"),
            LogicalType::Time => f.write_str("time"),
            LogicalType::Timestamp => f.write_str("timestamp"),
            LogicalType::TimestampTz => f.write_str("timestamptz"),
            LogicalType::Uuid => f.write_str("uuid"),
            LogicalType::Json { binary: true } => f.write_str("json"),
            LogicalType::Json { binary: false } => f.write_str("json (verbatim text)"),
            LogicalType::Enum => f.write_str("enum"),
            LogicalType::Array(t) => write!(f, "{t}[]"),
            LogicalType::Other(t) => f.write_str(t),
        }
    }
}

/// The logical types the type matrix documents, in order.
pub fn documented_types() -> Vec<LogicalType> {
    vec![
        LogicalType::Bool,
        LogicalType::SmallInt,
        LogicalType::Int,
        LogicalType::BigInt,
        LogicalType::AutoIncrementKey,
        LogicalType::Float,
        LogicalType::Double,
        LogicalType::Decimal {
            precision: Some(12),
            scale: Some(2),
        },
        LogicalType::Varchar(255),
        LogicalType::Varchar(20_000),
        LogicalType::Text,
        LogicalType::Bytes,
        LogicalType::Date,
        LogicalType::Time,
        LogicalType::Timestamp,
        LogicalType::TimestampTz,
        LogicalType::Uuid,
        LogicalType::Json { binary: true },
        LogicalType::Enum,
        LogicalType::Array(Box::new(LogicalType::Text)),
    ]
}

/// What a type on the target gives up compared with the source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mapping {
    /// The type to declare on the target.
    pub target_type: String,
    /// What the move loses (range, precision, time zone, length, validation), if anything.
    pub loss: Option<String>,
}

/// A weakness of a native type relative to the logical one; a move loses what the target has
/// and the source did not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Weakness {
    Range,
    Precision,
    Length,
    TimeZone,
    Validation,
    JsonIndexing,
    JsonVerbatim,
    ArrayElements,
    NoEquivalent,
}

struct Native {
    type_name: String,
    weaknesses: Vec<(Weakness, String)>,
}

fn native(ty: &LogicalType, caps: &Capabilities) -> Native {
    use Backend::*;
    use LogicalType as L;
    use Weakness as W;
    let b = caps.backend;
    let my = b.is_mysql_family();
    let plain = |t: &str| Native {
        type_name: t.to_string(),
        weaknesses: vec![],
    };
    let weak = |t: &str, w: Weakness, why: String| Native {
        type_name: t.to_string(),
        weaknesses: vec![(w, why)],
    };
    let sqlite_text = |what: &str| {
        weak(
            "TEXT",
            W::Validation,
            format!("SQLite stores {what} as TEXT and does not validate it"),
        )
    };
    match (ty, b) {
        (L::Bool, Postgres) => plain("boolean"),
        (L::Bool, _) if my => weak(
            "TINYINT(1)",
            W::Validation,
            "TINYINT(1) accepts any integer from -128 to 127, not only 0/1".into(),
        ),
        (L::Bool, _) => weak(
            "INTEGER",
            W::Validation,
            "INTEGER accepts any integer, not only 0/1".into(),
        ),
        (L::SmallInt, Postgres) => plain("smallint"),
        (L::SmallInt, _) if my => plain("SMALLINT"),
        (L::Int, Postgres) => plain("integer"),
        (L::Int, _) if my => plain("INT"),
        (L::SmallInt | L::Int, _) => weak(
            "INTEGER",
            W::Range,
            "SQLite INTEGER is 64-bit: the narrower range is not enforced".into(),
        ),
        (L::BigInt, Postgres) => plain("bigint"),
        (L::BigInt, _) if my => plain("BIGINT"),
        (L::BigInt, _) => plain("INTEGER"),
        (L::AutoIncrementKey, _) => plain(&caps.auto_id.declaration),
        (L::Float, Postgres) => plain("real"),
        (L::Float, _) if my => plain("FLOAT"),
        (L::Float, _) => plain("REAL"),
        (L::Double, Postgres) => plain("double precision"),
        (L::Double, _) if my => plain("DOUBLE"),
        (L::Double, _) => plain("REAL"),
        (L::Decimal { precision, scale }, Postgres) => match precision {
            Some(p) => plain(&format!("numeric({p},{})", scale.unwrap_or(0))),
            None => plain("numeric"),
        },
        (L::Decimal { precision, scale }, _) if my => {
            let max_scale = if b == MariaDb { 38 } else { 30 };
            let p = precision.unwrap_or(65);
            let s = scale.unwrap_or(if precision.is_none() { max_scale } else { 0 });
            let (tp, ts) = (p.min(65), s.min(max_scale).min(p.min(65)));
            let t = format!("DECIMAL({tp},{ts})");
            if precision.is_none() || p > 65 || s > max_scale {
                weak(
                    &t,
                    W::Precision,
                    format!("DECIMAL holds at most 65 digits, {max_scale} after the point"),
                )
            } else {
                plain(&t)
            }
        }
        (L::Decimal { .. }, _) => weak(
            "NUMERIC",
            W::Precision,
            "SQLite NUMERIC keeps about 15 significant digits (8-byte float); use TEXT or a scaled integer for exact values".into(),
        ),
        (L::Varchar(n), Postgres) if *n <= 10_485_760 => plain(&format!("varchar({n})")),
        (L::Varchar(n), Postgres) => weak(
            "text",
            W::Length,
            format!("varchar(n) allows n ≤ 10,485,760; text does not enforce {n}"),
        ),
        (L::Varchar(n), _) if my && *n <= 16_383 => plain(&format!("VARCHAR({n})")),
        (L::Varchar(n), _) if my => weak(
            if *n <= 4_194_303 { "MEDIUMTEXT" } else { "LONGTEXT" },
            W::Length,
            format!(
                "VARCHAR({n}) exceeds 16,383 utf8mb4 characters (the 65,535-byte row limit); a TEXT type does not enforce the length: add CHECK (CHAR_LENGTH(col) <= {n})"
            ),
        ),
        (L::Varchar(n), _) => weak(
            "TEXT",
            W::Length,
            format!("SQLite does not enforce lengths: add CHECK (length(col) <= {n})"),
        ),
        (L::Text, Postgres) => plain("text"),
        (L::Text, _) if my => plain("LONGTEXT"),
        (L::Text, _) => plain("TEXT"),
        (L::Bytes, Postgres) => plain("bytea"),
        (L::Bytes, _) if my => plain("LONGBLOB"),
        (L::Bytes, _) => plain("BLOB"),
        (L::Date, Postgres) => plain("date"),
        (L::Date, _) if my => weak(
            "DATE",
            W::Range,
            "DATE spans 1000-01-01 to 9999-12-31 only".into(),
        ),
        (L::Date, _) => sqlite_text("dates"),
        (L::Time, Postgres) => plain("time(6)"),
        (L::Time, _) if my => plain("TIME(6)"),
        (L::Time, _) => sqlite_text("times"),
        (L::Timestamp, Postgres) => plain("timestamp(6)"),
        (L::Timestamp, _) if my => weak(
            "DATETIME(6)",
            W::Range,
            "DATETIME spans years 1000 to 9999 only".into(),
        ),
        (L::Timestamp, _) => sqlite_text("timestamps"),
        (L::TimestampTz, Postgres) => plain("timestamptz"),
        (L::TimestampTz, _) if my => weak(
            "DATETIME(6)",
            W::TimeZone,
            "no time-zone-aware type: store UTC in DATETIME(6) and convert in the application (TIMESTAMP is limited to 1970–2038 and follows the session time zone)".into(),
        ),
        (L::TimestampTz, _) => weak(
            "TEXT",
            W::TimeZone,
            "no time-zone-aware type: store ISO-8601 text with an offset or an epoch INTEGER".into(),
        ),
        (L::Uuid, Postgres) => plain("uuid"),
        (L::Uuid, _) if caps.is_capable(Capability::UuidType) => plain("UUID"),
        (L::Uuid, _) if my => weak(
            "CHAR(36)",
            W::Validation,
            "no UUID type: CHAR(36) does not validate (BINARY(16) is smaller but opaque)".into(),
        ),
        (L::Uuid, _) => sqlite_text("UUIDs"),
        (L::Json { binary: true }, Postgres) => plain("jsonb"),
        (L::Json { binary: false }, Postgres) => plain("json"),
        (L::Json { .. }, MySql) => Native {
            type_name: "JSON".into(),
            weaknesses: vec![
                (W::JsonIndexing, "no GIN index or jsonb operators (@>, ?, ->>): a JSON column cannot be indexed directly (index a generated column or use a multi-valued index) and queries use JSON_EXTRACT/JSON_CONTAINS".into()),
                (W::JsonVerbatim, "documents are normalized (whitespace, key order, duplicate keys)".into()),
            ],
        },
        (L::Json { .. }, _) if my => Native {
            type_name: "JSON".into(),
            weaknesses: vec![
                (W::JsonIndexing, "MariaDB JSON is LONGTEXT with a JSON_VALID check: no binary format, no direct index, no jsonb operators".into()),
            ],
        },
        (L::Json { .. }, _) => Native {
            type_name: "TEXT".into(),
            weaknesses: vec![
                (W::Validation, "SQLite has no JSON type: TEXT is not validated (add CHECK (json_valid(col)))".into()),
                (W::JsonIndexing, "no JSON index or operators beyond the json_* functions".into()),
            ],
        },
        (L::Enum, Postgres) => plain("an enum type (CREATE TYPE … AS ENUM)"),
        (L::Enum, _) if my => plain("ENUM(…)"),
        (L::Enum, _) => plain("TEXT CHECK (col IN (…))"),
        (L::Array(inner), Postgres) => plain(&format!("{}[]", native(inner, caps).type_name)),
        (L::Array(_), _) => Native {
            type_name: if my { "JSON".into() } else { "TEXT".into() },
            weaknesses: vec![(
                W::ArrayElements,
                "no array type: a JSON array does not enforce the element type and array operators (ANY, @>, unnest) are unavailable; or use a child table".into(),
            )],
        },
        (L::Other(name), _) => weak(
            "TEXT",
            W::NoEquivalent,
            format!("`{name}` has no equivalent on {b}: choose a type by hand"),
        ),
    }
}

/// The type to use for `ty` on the backend these capabilities describe.
pub fn native_type(ty: &LogicalType, caps: &Capabilities) -> String {
    native(ty, caps).type_name
}

/// The type to use for `ty` when moving from `from` to `to` (at the version plinth is tested
/// against), and what the move loses.
pub fn equivalent_type(ty: &LogicalType, from: Backend, to: Backend) -> Mapping {
    equivalent_type_for(
        ty,
        &capabilities_for(from, default_version(from)),
        &capabilities_for(to, default_version(to)),
    )
}

/// As [`equivalent_type`], for specific server versions.
pub fn equivalent_type_for(ty: &LogicalType, from: &Capabilities, to: &Capabilities) -> Mapping {
    let source = native(ty, from);
    let target = native(ty, to);
    let lost: Vec<String> = target
        .weaknesses
        .into_iter()
        .filter(|(w, _)| match w {
            Weakness::NoEquivalent => from.backend != to.backend,
            _ => !source.weaknesses.iter().any(|(sw, _)| sw == w),
        })
        .map(|(_, why)| why)
        .collect();
    let target_type = match ty {
        LogicalType::Other(name) if from.backend == to.backend => name.clone(),
        _ => target.type_name,
    };
    Mapping {
        target_type,
        loss: if lost.is_empty() {
            None
        } else {
            Some(lost.join("; "))
        },
    }
}

/// Read a native type as a server reports it (`character varying(20)`, `_text`, `tinyint(1)`,
/// `timestamp with time zone`) into a logical type.
pub fn parse_native(backend: Backend, text: &str) -> LogicalType {
    let t = text.trim().to_ascii_lowercase();
    let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some(inner) = t.strip_suffix("[]") {
        return LogicalType::Array(Box::new(parse_native(backend, inner)));
    }
    if backend == Backend::Postgres {
        if let Some(inner) = t.strip_prefix('_') {
            return LogicalType::Array(Box::new(parse_native(backend, inner)));
        }
    }
    let (base, args) = match t.find('(') {
        Some(i) => {
            let close = t.rfind(')').unwrap_or(t.len());
            let args: Vec<String> = t[i + 1..close.max(i + 1)]
                .split(',')
                .map(|a| a.trim().to_string())
                .collect();
            let rest = t[close.min(t.len())..].trim_start_matches(')').trim();
            let base = format!("{} {}", t[..i].trim(), rest);
            (base.trim().to_string(), args)
        }
        None => (t.clone(), vec![]),
    };
    let base = base.replace(" unsigned", "").replace(" zerofill", "");
    let num = |i: usize| args.get(i).and_then(|a| a.parse::<u64>().ok());
    let my = backend.is_mysql_family();
    match base.as_str() {
        "boolean" | "bool" => LogicalType::Bool,
        "tinyint" if num(0) == Some(1) => LogicalType::Bool,
        "tinyint" | "smallint" | "int2" => LogicalType::SmallInt,
        "integer" | "int" | "int4" | "mediumint" => LogicalType::Int,
        "bigint" | "int8" => LogicalType::BigInt,
        "serial" | "bigserial" | "smallserial" => LogicalType::AutoIncrementKey,
        "real" | "float4" | "float" => LogicalType::Float,
        "double precision" | "double" | "float8" => LogicalType::Double,
        "numeric" | "decimal" => LogicalType::Decimal {
            precision: num(0).map(|p| p as u32),
            scale: num(1).map(|s| s as u32),
        },
        "character varying" | "varchar" | "nvarchar" | "character" | "char" | "bpchar" => {
            match num(0) {
                Some(n) => LogicalType::Varchar(n),
                None if base.contains("var") => LogicalType::Text,
                None => LogicalType::Varchar(1),
            }
        }
        "text" | "tinytext" | "mediumtext" | "longtext" | "clob" => LogicalType::Text,
        "bytea" | "blob" | "tinyblob" | "mediumblob" | "longblob" | "binary" | "varbinary" => {
            LogicalType::Bytes
        }
        "date" => LogicalType::Date,
        "time" | "time without time zone" => LogicalType::Time,
        "timestamp" if my => LogicalType::TimestampTz,
        "timestamp" | "timestamp without time zone" | "datetime" => LogicalType::Timestamp,
        "timestamp with time zone" | "timestamptz" => LogicalType::TimestampTz,
        "uuid" => LogicalType::Uuid,
        "jsonb" => LogicalType::Json { binary: true },
        "json" => LogicalType::Json {
            binary: backend != Backend::Postgres,
        },
        "enum" => LogicalType::Enum,
        _ => LogicalType::Other(t.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Backend::*;

    #[test]
    fn lossless_moves_have_no_note() {
        let m = equivalent_type(&LogicalType::BigInt, Postgres, MySql);
        assert_eq!(m.target_type, "BIGINT");
        assert_eq!(m.loss, None);
        let m = equivalent_type(&LogicalType::Varchar(255), MySql, Postgres);
        assert_eq!(m.target_type, "varchar(255)");
        assert_eq!(m.loss, None);
    }

    #[test]
    fn lossy_moves_say_what_is_lost() {
        let m = equivalent_type(&LogicalType::TimestampTz, Postgres, MySql);
        assert_eq!(m.target_type, "DATETIME(6)");
        assert!(m.loss.unwrap().contains("time-zone"));
        let m = equivalent_type(&LogicalType::Varchar(20_000), Postgres, MySql);
        assert_eq!(m.target_type, "MEDIUMTEXT");
        assert!(m.loss.unwrap().contains("16,383"));
        let m = equivalent_type(&LogicalType::Int, Postgres, Sqlite);
        assert!(m.loss.unwrap().contains("range"));
        let m = equivalent_type(&LogicalType::Bool, Postgres, MariaDb);
        assert!(m.loss.unwrap().contains("0/1"));
        let arr = LogicalType::Array(Box::new(LogicalType::Text));
        let m = equivalent_type(&arr, Postgres, MySql);
        assert_eq!(m.target_type, "JSON");
        assert!(m.loss.is_some());
        assert_eq!(
            equivalent_type(&arr, Postgres, Postgres).target_type,
            "text[]"
        );
    }

    #[test]
    fn weaknesses_already_present_are_not_a_loss() {
        // TINYINT(1) on MySQL → INTEGER on SQLite: neither validated 0/1 to begin with.
        assert_eq!(
            equivalent_type(&LogicalType::Bool, MySql, Sqlite).loss,
            None
        );
        // UUID exists on MariaDB 10.11, not on MySQL.
        assert_eq!(
            equivalent_type(&LogicalType::Uuid, Postgres, MariaDb).target_type,
            "UUID"
        );
        assert_eq!(
            equivalent_type(&LogicalType::Uuid, Postgres, MySql).target_type,
            "CHAR(36)"
        );
    }

    #[test]
    fn native_types_parse() {
        assert_eq!(
            parse_native(Postgres, "character varying(20000)"),
            LogicalType::Varchar(20_000)
        );
        assert_eq!(
            parse_native(Postgres, "_text"),
            LogicalType::Array(Box::new(LogicalType::Text))
        );
        assert_eq!(
            parse_native(Postgres, "timestamp with time zone"),
            LogicalType::TimestampTz
        );
        assert_eq!(parse_native(MariaDb, "tinyint(1)"), LogicalType::Bool);
        assert_eq!(parse_native(MySql, "int(10) unsigned"), LogicalType::Int);
        assert_eq!(
            parse_native(Postgres, "numeric(12,2)"),
            LogicalType::Decimal {
                precision: Some(12),
                scale: Some(2)
            }
        );
        assert_eq!(
            parse_native(Postgres, "tsvector"),
            LogicalType::Other("tsvector".into())
        );
    }
}
