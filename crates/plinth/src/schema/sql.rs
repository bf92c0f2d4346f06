//! Rendering for the schema operations: identifiers validated then quoted per backend, SQL type
//! names checked against a conservative grammar, default values rendered as escaped literals.

use super::{Column, DefaultValue, SchemaError};
use crate::Backend;

/// Longest identifier every backend accepts (PostgreSQL truncates at 63 bytes).
pub const MAX_IDENTIFIER_LEN: usize = 63;

/// Check that a name is a plain identifier (`[A-Za-z_][A-Za-z0-9_]*`, at most 63 bytes).
pub fn validate_identifier(name: &str) -> Result<(), SchemaError> {
    let bad = |reason: &'static str| SchemaError::InvalidIdentifier {
        name: name.to_string(),
        reason,
    };
    let mut chars = name.chars();
    match chars.next() {
        None => return Err(bad("it is empty")),
        Some(c) if !(c.is_ascii_alphabetic() || c == '_') => {
            return Err(bad("it must start with a letter or underscore"))
        }
        _ => {}
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(bad(
            "only ASCII letters, digits and underscores are allowed",
        ));
    }
    if name.len() > MAX_IDENTIFIER_LEN {
        return Err(bad("it is longer than 63 bytes"));
    }
    Ok(())
}

/// Quote a validated identifier for the backend (`"x"` or `` `x` ``).
pub fn quote(backend: Backend, name: &str) -> String {
    if backend.is_mysql_family() {
        format!("`{}`", name.replace('`', "``"))
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// Check a SQL type name such as `VARCHAR(255)`, `NUMERIC(10, 2)`, `DOUBLE PRECISION`,
/// `TIMESTAMP WITH TIME ZONE`: letters, digits, underscores, spaces, balanced parentheses and
/// commas only, so no quote, comment or statement separator can ride along.
pub fn validate_type(sql_type: &str) -> Result<(), SchemaError> {
    let bad = || SchemaError::InvalidType {
        sql_type: sql_type.to_string(),
    };
    let t = sql_type.trim();
    if t.is_empty() || t.len() > 64 || !t.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(bad());
    }
    let mut depth = 0i32;
    for c in t.chars() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(bad());
                }
            }
            c if c.is_ascii_alphanumeric() || c == '_' || c == ' ' || c == ',' => {}
            _ => return Err(bad()),
        }
    }
    if depth != 0 {
        return Err(bad());
    }
    Ok(())
}

/// Render a default value as a literal for the backend.
pub fn render_default(backend: Backend, value: &DefaultValue) -> String {
    match value {
        DefaultValue::Null => "NULL".to_string(),
        DefaultValue::Integer(n) => n.to_string(),
        DefaultValue::Bool(b) => match (backend, b) {
            (Backend::Sqlite, true) => "1".to_string(),
            (Backend::Sqlite, false) => "0".to_string(),
            (_, true) => "TRUE".to_string(),
            (_, false) => "FALSE".to_string(),
        },
        DefaultValue::Text(s) => {
            let mut escaped = s.replace('\'', "''");
            if backend.is_mysql_family() {
                // MySQL treats backslash as an escape unless NO_BACKSLASH_ESCAPES is set.
                escaped = escaped.replace('\\', "\\\\");
            }
            format!("'{escaped}'")
        }
        DefaultValue::CurrentTimestamp => "CURRENT_TIMESTAMP".to_string(),
    }
}

/// A column definition: `"name" TYPE [NOT NULL] [DEFAULT …]`.
pub fn column_definition(backend: Backend, column: &Column) -> String {
    let mut s = format!(
        "{} {}",
        quote(backend, &column.name),
        column.sql_type.trim()
    );
    if !column.nullable {
        s.push_str(" NOT NULL");
    }
    if let Some(d) = &column.default {
        s.push_str(" DEFAULT ");
        s.push_str(&render_default(backend, d));
    }
    s
}

/// A type name in a canonical spelling, so `int`, `INT4` and `integer` compare equal; used only to
/// decide that a type change is already applied (a miss just runs the harmless no-op change).
pub fn normalize_type(backend: Backend, sql_type: &str) -> String {
    let lower = sql_type.trim().to_ascii_lowercase();
    let collapsed: String = lower.split_whitespace().collect::<Vec<_>>().join(" ");
    let collapsed = collapsed.replace(" (", "(").replace(", ", ",");
    let (base, args) = match collapsed.find('(') {
        Some(i) => (
            collapsed[..i].trim().to_string(),
            collapsed[i..].to_string(),
        ),
        None => (collapsed.clone(), String::new()),
    };
    let base = match (backend, base.as_str()) {
        (Backend::Postgres, "int" | "int4" | "integer") => "integer",
        (Backend::Postgres, "int8" | "bigint") => "bigint",
        (Backend::Postgres, "int2" | "smallint") => "smallint",
        (Backend::Postgres, "varchar" | "character varying") => "character varying",
        (Backend::Postgres, "char" | "character" | "bpchar") => "character",
        (Backend::Postgres, "bool" | "boolean") => "boolean",
        (Backend::Postgres, "float8" | "double precision") => "double precision",
        (Backend::Postgres, "float4" | "real") => "real",
        (Backend::Postgres, "decimal" | "numeric") => "numeric",
        (Backend::Postgres, "timestamptz" | "timestamp with time zone") => {
            "timestamp with time zone"
        }
        (Backend::Postgres, "timestamp" | "timestamp without time zone") => {
            "timestamp without time zone"
        }
        (Backend::MySql | Backend::MariaDb, "integer") => "int",
        (Backend::MySql | Backend::MariaDb, "bool" | "boolean") => "tinyint",
        (Backend::MySql | Backend::MariaDb, "dec" | "numeric") => "decimal",
        (_, other) => other,
    }
    .to_string();
    // MySQL 8 drops display widths (int(11) → int); MariaDB keeps them. Ignore them for int types.
    let args = if backend.is_mysql_family()
        && matches!(
            base.as_str(),
            "int" | "bigint" | "smallint" | "tinyint" | "mediumint"
        ) {
        String::new()
    } else {
        args
    };
    let args = if backend.is_mysql_family() && base == "tinyint" && args.is_empty() {
        String::new()
    } else {
        args
    };
    format!("{base}{args}")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    Word,
    Quoted,
    Str,
    Open,
    Close,
    Comma,
    Other,
}

/// Split SQL text into tokens (with byte spans), skipping whitespace and comments.
fn lex(sql: &str) -> Vec<(Tok, usize, usize)> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'-' && b.get(i + 1) == Some(&b'-') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                i += 1;
            }
            i = (i + 2).min(b.len());
        } else if c == b'\'' || c == b'"' || c == b'`' || c == b'[' {
            let close = if c == b'[' { b']' } else { c };
            let start = i;
            i += 1;
            loop {
                if i >= b.len() {
                    break;
                }
                if b[i] == close {
                    if close != b']' && b.get(i + 1) == Some(&close) {
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                i += 1;
            }
            out.push((if c == b'\'' { Tok::Str } else { Tok::Quoted }, start, i));
        } else if c == b'(' {
            out.push((Tok::Open, i, i + 1));
            i += 1;
        } else if c == b')' {
            out.push((Tok::Close, i, i + 1));
            i += 1;
        } else if c == b',' {
            out.push((Tok::Comma, i, i + 1));
            i += 1;
        } else if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 {
            let start = i;
            while i < b.len()
                && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80)
            {
                i += 1;
            }
            out.push((Tok::Word, start, i));
        } else {
            out.push((Tok::Other, i, i + 1));
            i += 1;
        }
    }
    out
}

fn unquote(text: &str) -> String {
    let t = text.trim();
    if t.len() >= 2 {
        let (first, last) = (t.as_bytes()[0], t.as_bytes()[t.len() - 1]);
        if (first == b'"' && last == b'"') || (first == b'`' && last == b'`') {
            let inner = &t[1..t.len() - 1];
            return inner.replace(
                if first == b'"' { "\"\"" } else { "``" },
                if first == b'"' { "\"" } else { "`" },
            );
        }
        if first == b'[' && last == b']' {
            return t[1..t.len() - 1].to_string();
        }
    }
    t.to_string()
}

/// Rewrite a SQLite `CREATE TABLE` statement for the rebuild: the table gets `new_name_sql` and
/// the column `column` gets the type `new_type`; everything else (constraints, defaults, checks,
/// foreign keys, `STRICT`, `WITHOUT ROWID`) is kept byte for byte. None when the text cannot be
/// read or the column is not found.
pub fn rewrite_create_table(
    sql: &str,
    column: &str,
    new_type: &str,
    new_name_sql: &str,
) -> Option<String> {
    let toks = lex(sql);
    let open = toks.iter().position(|t| t.0 == Tok::Open)?;
    // Find the matching close parenthesis and the top-level commas between.
    let mut depth = 0usize;
    let mut close = None;
    let mut parts: Vec<(usize, usize)> = Vec::new(); // token index ranges [start, end)
    let mut part_start = open + 1;
    for (idx, t) in toks.iter().enumerate().skip(open) {
        match t.0 {
            Tok::Open => depth += 1,
            Tok::Close => {
                depth -= 1;
                if depth == 0 {
                    parts.push((part_start, idx));
                    close = Some(idx);
                    break;
                }
            }
            Tok::Comma if depth == 1 => {
                parts.push((part_start, idx));
                part_start = idx + 1;
            }
            _ => {}
        }
    }
    close?;
    const TABLE_CONSTRAINT: [&str; 5] = ["constraint", "primary", "unique", "check", "foreign"];
    const COLUMN_CONSTRAINT: [&str; 11] = [
        "constraint",
        "primary",
        "not",
        "null",
        "unique",
        "check",
        "default",
        "collate",
        "references",
        "generated",
        "as",
    ];
    let word = |i: usize| -> String { sql[toks[i].1..toks[i].2].to_ascii_lowercase() };
    for (start, end) in parts {
        if start >= end {
            continue;
        }
        let first = toks[start];
        if first.0 == Tok::Word && TABLE_CONSTRAINT.contains(&word(start).as_str()) {
            continue;
        }
        if !matches!(first.0, Tok::Word | Tok::Quoted) {
            continue;
        }
        if !unquote(&sql[first.1..first.2]).eq_ignore_ascii_case(column) {
            continue;
        }
        // The type runs from the token after the name to the first column constraint keyword.
        let mut k = start + 1;
        let mut depth = 0usize;
        let mut type_end_tok = start; // last token index belonging to the type
        while k < end {
            let t = toks[k];
            match t.0 {
                Tok::Open => depth += 1,
                Tok::Close => depth = depth.saturating_sub(1),
                Tok::Word if depth == 0 && COLUMN_CONSTRAINT.contains(&word(k).as_str()) => break,
                _ => {}
            }
            type_end_tok = k;
            k += 1;
        }
        let name_end = first.2;
        let mut out = String::with_capacity(sql.len() + new_type.len() + 16);
        out.push_str("CREATE TABLE ");
        out.push_str(new_name_sql);
        out.push(' ');
        out.push_str(&sql[toks[open].1..name_end]);
        out.push(' ');
        out.push_str(new_type);
        if type_end_tok > start {
            out.push_str(&sql[toks[type_end_tok].2..]);
        } else {
            out.push_str(&sql[name_end..]);
        }
        return Some(out);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_types_are_checked() {
        assert!(validate_identifier("users_2").is_ok());
        assert!(validate_identifier("2users").is_err());
        assert!(validate_identifier("a\"b").is_err());
        assert!(validate_identifier("").is_err());
        assert!(validate_type("VARCHAR(255)").is_ok());
        assert!(validate_type("NUMERIC(10, 2)").is_ok());
        assert!(validate_type("TIMESTAMP WITH TIME ZONE").is_ok());
        assert!(validate_type("INT; DROP TABLE x").is_err());
        assert!(validate_type("TEXT -- x").is_err());
        assert!(validate_type("VARCHAR(2").is_err());
        assert_eq!(quote(Backend::MariaDb, "a"), "`a`");
        assert_eq!(quote(Backend::Postgres, "a"), "\"a\"");
    }

    #[test]
    fn defaults_are_escaped() {
        assert_eq!(
            render_default(Backend::Postgres, &DefaultValue::Text("it's".into())),
            "'it''s'"
        );
        assert_eq!(
            render_default(Backend::MySql, &DefaultValue::Text("a\\'".into())),
            "'a\\\\'''"
        );
        assert_eq!(
            render_default(Backend::Sqlite, &DefaultValue::Bool(true)),
            "1"
        );
    }

    #[test]
    fn types_normalize() {
        assert_eq!(
            normalize_type(Backend::Postgres, "INT"),
            normalize_type(Backend::Postgres, "integer")
        );
        assert_eq!(
            normalize_type(Backend::Postgres, "varchar(20)"),
            "character varying(20)"
        );
        assert_eq!(
            normalize_type(Backend::MariaDb, "int(11)"),
            normalize_type(Backend::MariaDb, "INTEGER")
        );
        assert_ne!(
            normalize_type(Backend::Postgres, "text"),
            normalize_type(Backend::Postgres, "integer")
        );
    }

    #[test]
    fn create_table_rewrite_keeps_everything_but_the_type() {
        let sql = "CREATE TABLE \"t\" (id INTEGER PRIMARY KEY, \"a,b\" TEXT, qty numeric(10, 2) NOT NULL DEFAULT 0 CHECK (qty >= 0), -- note, with comma\n owner INTEGER REFERENCES u(id), UNIQUE (qty, owner)) STRICT";
        let out = rewrite_create_table(sql, "qty", "INTEGER", "\"t_new\"").unwrap_or_default();
        assert!(
            out.starts_with("CREATE TABLE \"t_new\" (id INTEGER PRIMARY KEY"),
            "{out}"
        );
        assert!(
            out.contains("qty INTEGER NOT NULL DEFAULT 0 CHECK (qty >= 0)"),
            "{out}"
        );
        assert!(out.ends_with("UNIQUE (qty, owner)) STRICT"), "{out}");
        let quoted = rewrite_create_table(sql, "a,b", "BLOB", "x").unwrap_or_default();
        assert!(quoted.contains("\"a,b\" BLOB,"), "{quoted}");
        let bare = rewrite_create_table("CREATE TABLE t (a, b TEXT)", "a", "INTEGER", "n")
            .unwrap_or_default();
        assert_eq!(bare, "CREATE TABLE n (a INTEGER, b TEXT)");
        assert!(rewrite_create_table(sql, "missing", "INT", "x").is_none());
    }
}
