//! Read migration files (no database needed) and report, with file, line and a fix, what will fail,
//! half-apply, destroy data or lock a busy table on the target backend: `plinth lint`.

use super::capabilities::{capabilities_for, default_version, Capability};
use super::types::{parse_native, LogicalType};
use crate::backend::Backend;
use serde::Serialize;
use sqlparser::dialect::{Dialect, GenericDialect, MySqlDialect, PostgreSqlDialect};
use sqlparser::tokenizer::{Token, Tokenizer};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// How bad a finding is: errors make `plinth lint` exit 1 and `migrate` refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Will fail or half-apply: must be fixed.
    Error,
    /// Risky (data loss, locks, irreversibility): look before running.
    Warning,
}

/// One problem in one migration file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LintFinding {
    /// The rule's stable name (see [`RULES`]).
    pub rule: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// The file name.
    pub file: String,
    /// 1-based line of the offending token.
    pub line: u64,
    /// What is wrong, and on which backend.
    pub message: String,
    /// What to do instead.
    pub fix: String,
}

/// A lint rule's documentation, rendered into docs/DATABASE_COMPATIBILITY.md.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct RuleInfo {
    /// Stable name.
    pub name: &'static str,
    /// Default severity.
    pub severity: Severity,
    /// Backends it applies to.
    pub applies_to: &'static str,
    /// What it catches.
    pub summary: &'static str,
    /// A statement it flags.
    pub example: &'static str,
}

/// Every rule, for docs and `--format json` consumers.
pub const RULES: &[RuleInfo] = &[
    RuleInfo { name: "no-transaction-required", severity: Severity::Error, applies_to: "PostgreSQL, SQLite",
        summary: "a statement that cannot run inside a transaction block, in a migration that runs in one (or not alone in a `no-transaction` migration, where PostgreSQL's multi-statement query is one implicit transaction)",
        example: "CREATE INDEX CONCURRENTLY idx_users_email ON users (email);" },
    RuleInfo { name: "enum-value-in-transaction", severity: Severity::Warning, applies_to: "PostgreSQL",
        summary: "`ALTER TYPE … ADD VALUE` in a transactional migration: refused before PostgreSQL 12, and the value is unusable until COMMIT (an error if the same migration uses it)",
        example: "ALTER TYPE mood ADD VALUE 'ecstatic';" },
    RuleInfo { name: "mysql-mixed-ddl-dml", severity: Severity::Warning, applies_to: "MySQL, MariaDB",
        summary: "DDL and DML in one migration: the DDL commits implicitly, so a failing DML leaves the migration half-applied (plinth journals each statement and can resume, but the statements must be safe to leave applied)",
        example: "ALTER TABLE users ADD COLUMN plan VARCHAR(20);\nUPDATE users SET plan = 'free';" },
    RuleInfo { name: "mysql-multiple-ddl", severity: Severity::Warning, applies_to: "MySQL, MariaDB",
        summary: "several DDL statements in one migration: each commits on its own, so a failure in a later one leaves the earlier ones applied",
        example: "CREATE TABLE a (id INT PRIMARY KEY);\nCREATE TABLE b (id INT PRIMARY KEY);" },
    RuleInfo { name: "destructive-change", severity: Severity::Warning, applies_to: "all",
        summary: "DROP TABLE, DROP COLUMN, TRUNCATE, DROP SCHEMA/DATABASE: data is gone once this runs",
        example: "ALTER TABLE users DROP COLUMN legacy_id;" },
    RuleInfo { name: "type-narrowing", severity: Severity::Warning, applies_to: "all",
        summary: "a column changed to a narrower type than an earlier migration declared (shorter varchar, smaller integer, text to number, timestamptz to timestamp)",
        example: "ALTER TABLE users ALTER COLUMN name TYPE varchar(50);" },
    RuleInfo { name: "pg-table-rewrite", severity: Severity::Warning, applies_to: "PostgreSQL",
        summary: "an operation that rewrites an existing table under ACCESS EXCLUSIVE: ADD COLUMN with a volatile default, serial, identity or stored generated column; ALTER COLUMN TYPE that is not binary-coercible",
        example: "ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();" },
    RuleInfo { name: "pg-blocking-index", severity: Severity::Warning, applies_to: "PostgreSQL",
        summary: "CREATE INDEX without CONCURRENTLY on a table this migration did not create: blocks writes for the whole build",
        example: "CREATE INDEX idx_orders_user ON orders (user_id);" },
    RuleInfo { name: "sqlite-unsupported-alter", severity: Severity::Error, applies_to: "SQLite",
        summary: "ALTER COLUMN (type, NOT NULL, default), MODIFY, CHANGE, ADD/DROP CONSTRAINT: SQLite's ALTER TABLE cannot do these",
        example: "ALTER TABLE users ALTER COLUMN age TYPE bigint;" },
    RuleInfo { name: "unsupported-type", severity: Severity::Error, applies_to: "the target",
        summary: "a column type the target does not have (jsonb, arrays, uuid on MySQL; TINYINT, DATETIME, LONGTEXT, inline ENUM, AUTO_INCREMENT on PostgreSQL; VARCHAR over 16,383 on MySQL)",
        example: "CREATE TABLE t (id INT PRIMARY KEY, tags text[]);  -- with --target mysql" },
    RuleInfo { name: "identifier-too-long", severity: Severity::Error, applies_to: "PostgreSQL (warning), MySQL, MariaDB",
        summary: "a name longer than the target keeps: PostgreSQL silently truncates at 63 bytes (names can collide), MySQL/MariaDB reject more than 64 characters",
        example: "CREATE TABLE customer_subscription_billing_adjustments_history_archive_2024_q1 (id INT);" },
    RuleInfo { name: "missing-down", severity: Severity::Warning, applies_to: "all",
        summary: "no `.down.sql` for the migration: `plinth down` cannot revert it",
        example: "0007_add_index.sql without 0007_add_index.down.sql" },
    RuleInfo { name: "syntax", severity: Severity::Error, applies_to: "all",
        summary: "the file cannot be tokenized (unterminated string or comment) or has an unusable name",
        example: "INSERT INTO t VALUES ('unterminated);" },
];

fn rule(name: &str) -> &'static RuleInfo {
    RULES
        .iter()
        .find(|r| r.name == name)
        .unwrap_or(&RULES[RULES.len() - 1])
}

/// Why a migrations directory could not be linted.
#[derive(Debug, thiserror::Error)]
pub enum LintError {
    /// The directory or a file in it could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Which kind of file a migration file name describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationFile {
    /// The version number.
    pub version: u64,
    /// The name part.
    pub name: String,
    /// The backend a variant file is for (`.postgres.`, `.mysql.`, `.sqlite.`).
    pub variant: Option<Backend>,
    /// A `.down.sql` file.
    pub down: bool,
}

/// Parse `NNNN_name[.backend][.up|.down].sql`; None for anything else.
pub fn parse_file_name(file: &str) -> Option<MigrationFile> {
    let stem = file.strip_suffix(".sql")?;
    let (stem, down) = if let Some(s) = stem.strip_suffix(".down") {
        (s, true)
    } else {
        (stem.strip_suffix(".up").unwrap_or(stem), false)
    };
    let (stem, variant) = match stem.rsplit_once('.') {
        Some((s, v)) => (
            s,
            Some(match v {
                "postgres" => Backend::Postgres,
                "mysql" => Backend::MySql,
                "mariadb" => Backend::MariaDb,
                "sqlite" => Backend::Sqlite,
                _ => return None,
            }),
        ),
        None => (stem, None),
    };
    let (num, name) = stem.split_once('_')?;
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) || name.is_empty() {
        return None;
    }
    Some(MigrationFile {
        version: num.parse().ok()?,
        name: name.to_string(),
        variant,
        down,
    })
}

#[derive(Clone, Debug)]
struct Tok {
    up: String,
    text: String,
    word: bool,
    quoted: bool,
    line: u64,
    kind: TokKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TokKind {
    Word,
    Number,
    Str,
    LParen,
    RParen,
    Comma,
    LBracket,
    RBracket,
    Period,
    Other,
}

struct Stmt {
    toks: Vec<Tok>,
}

impl Stmt {
    fn kw(&self, i: usize) -> &str {
        match self.toks.get(i) {
            Some(t) if t.word && !t.quoted => &t.up,
            _ => "",
        }
    }
    fn line(&self, i: usize) -> u64 {
        self.toks
            .get(i)
            .or(self.toks.last())
            .map(|t| t.line)
            .unwrap_or(1)
    }
    fn find_kw(&self, from: usize, kw: &str) -> Option<usize> {
        (from..self.toks.len()).find(|&i| self.kw(i) == kw)
    }
    fn is_ddl(&self) -> bool {
        matches!(
            self.kw(0),
            "CREATE" | "ALTER" | "DROP" | "RENAME" | "TRUNCATE" | "GRANT" | "REVOKE" | "COMMENT"
        )
    }
    fn is_dml(&self) -> bool {
        matches!(
            self.kw(0),
            "INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "MERGE" | "WITH" | "LOAD" | "COPY"
        )
    }
}

fn dialect_for(backend: Option<Backend>) -> Box<dyn Dialect> {
    match backend {
        Some(Backend::Postgres) => Box::new(PostgreSqlDialect {}),
        Some(Backend::MySql | Backend::MariaDb) => Box::new(MySqlDialect {}),
        // GenericDialect: SQLite's dialect reads `[]` as a quoted name, hiding array types.
        Some(Backend::Sqlite) => Box::new(GenericDialect {}),
        None => Box::new(GenericDialect {}),
    }
}

/// Split SQL into statements of significant tokens, each token with its line.
fn statements(sql: &str, backend: Option<Backend>) -> Result<Vec<Stmt>, (u64, String)> {
    let dialect = dialect_for(backend);
    let tokens = Tokenizer::new(dialect.as_ref(), sql)
        .tokenize_with_location()
        .map_err(|e| (e.location.line.max(1), e.message))?;
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for t in tokens {
        let line = t.span.start.line;
        let (kind, text, quoted) = match &t.token {
            Token::Whitespace(_) | Token::EOF => continue,
            Token::SemiColon => {
                if !cur.is_empty() {
                    out.push(Stmt {
                        toks: std::mem::take(&mut cur),
                    });
                }
                continue;
            }
            Token::Word(w) => (TokKind::Word, w.value.clone(), w.quote_style.is_some()),
            Token::Number(n, _) => (TokKind::Number, n.clone(), false),
            Token::SingleQuotedString(s)
            | Token::DoubleQuotedString(s)
            | Token::NationalStringLiteral(s)
            | Token::EscapedStringLiteral(s) => (TokKind::Str, s.clone(), false),
            Token::LParen => (TokKind::LParen, "(".into(), false),
            Token::RParen => (TokKind::RParen, ")".into(), false),
            Token::Comma => (TokKind::Comma, ",".into(), false),
            Token::LBracket => (TokKind::LBracket, "[".into(), false),
            Token::RBracket => (TokKind::RBracket, "]".into(), false),
            Token::Period => (TokKind::Period, ".".into(), false),
            other => (TokKind::Other, other.to_string(), false),
        };
        cur.push(Tok {
            up: text.to_ascii_uppercase(),
            word: kind == TokKind::Word,
            text,
            quoted,
            line,
            kind,
        });
    }
    if !cur.is_empty() {
        out.push(Stmt { toks: cur });
    }
    Ok(out)
}

/// The directives in a file's leading comment lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Directives {
    /// `-- plinth:no-transaction`.
    pub no_transaction: bool,
    /// `-- plinth:requires X` values, as written.
    pub requires: Vec<String>,
}

/// Read `-- plinth:…` directives from the comment lines at the top of a migration.
pub fn directives(sql: &str) -> Directives {
    let mut d = Directives::default();
    for line in sql.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some(comment) = line.strip_prefix("--") else {
            break;
        };
        let comment = comment.trim();
        if let Some(rest) = comment.strip_prefix("plinth:") {
            let mut parts = rest.split_whitespace();
            match parts.next() {
                Some("no-transaction") => d.no_transaction = true,
                Some("requires") => d.requires.extend(parts.map(str::to_string)),
                _ => {}
            }
        }
    }
    d
}

/// Whether a `requires` value is met by a backend (a backend name or a capability name).
fn requirement_met(req: &str, backend: Backend) -> bool {
    if let Some(b) = Backend::parse(req) {
        return b == backend || (b == Backend::MySql && backend == Backend::MariaDb);
    }
    match Capability::parse(req) {
        Some(c) => capabilities_for(backend, default_version(backend)).is_capable(c),
        None => true,
    }
}

/// Column types known from earlier migrations, carried across files by [`lint_dir`].
#[derive(Default)]
struct Model {
    columns: HashMap<String, HashMap<String, LogicalType>>,
}

struct FileCtx<'a> {
    file: &'a str,
    backend: Option<Backend>,
    transactional: bool,
    down: bool,
    created: HashSet<String>,
    out: Vec<LintFinding>,
}

impl FileCtx<'_> {
    fn push(&mut self, name: &'static str, line: u64, message: String, fix: &str) {
        self.push_sev(name, rule(name).severity, line, message, fix)
    }
    fn push_sev(
        &mut self,
        name: &'static str,
        severity: Severity,
        line: u64,
        message: String,
        fix: &str,
    ) {
        self.out.push(LintFinding {
            rule: name,
            severity,
            file: self.file.to_string(),
            line,
            message,
            fix: fix.to_string(),
        });
    }
    fn is(&self, b: Backend) -> bool {
        self.backend == Some(b)
    }
    fn mysql(&self) -> bool {
        self.backend.is_some_and(Backend::is_mysql_family)
    }
    fn backend_name(&self) -> &'static str {
        self.backend.map(Backend::as_str).unwrap_or("any backend")
    }
}

/// Lint one migration file's SQL for `target` (None: only backend-neutral rules).
pub fn lint_sql(
    file_name: &str,
    sql: &str,
    target: Option<Backend>,
    has_down: bool,
) -> Vec<LintFinding> {
    let down = parse_file_name(file_name).is_some_and(|f| f.down);
    lint_with_model(
        file_name,
        sql,
        target,
        has_down,
        down,
        &mut Model::default(),
    )
}

fn table_name(s: &Stmt, mut i: usize) -> (String, usize) {
    // skip IF [NOT] EXISTS, ONLY
    loop {
        match s.kw(i) {
            "IF" => i += if s.kw(i + 1) == "NOT" { 3 } else { 2 },
            "ONLY" => i += 1,
            _ => break,
        }
    }
    let mut name = s.toks.get(i).map(|t| t.text.clone()).unwrap_or_default();
    i += 1;
    while s.toks.get(i).is_some_and(|t| t.kind == TokKind::Period) {
        name = s
            .toks
            .get(i + 1)
            .map(|t| t.text.clone())
            .unwrap_or_default();
        i += 2;
    }
    (name.to_ascii_lowercase(), i)
}

/// Split tokens [from, to) at depth-0 commas.
fn split_commas(s: &Stmt, from: usize, to: usize) -> Vec<(usize, usize)> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, from);
    for i in from..to {
        match s.toks[i].kind {
            TokKind::LParen | TokKind::LBracket => depth += 1,
            TokKind::RParen | TokKind::RBracket => depth -= 1,
            TokKind::Comma if depth == 0 => {
                parts.push((start, i));
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < to {
        parts.push((start, to));
    }
    parts
}

const TYPE_STOP: &[&str] = &[
    "NOT",
    "NULL",
    "DEFAULT",
    "PRIMARY",
    "REFERENCES",
    "UNIQUE",
    "CHECK",
    "CONSTRAINT",
    "GENERATED",
    "AUTO_INCREMENT",
    "AUTOINCREMENT",
    "COLLATE",
    "COMMENT",
    "AS",
    "IDENTITY",
    "KEY",
    "USING",
    "FIRST",
    "AFTER",
    "ON",
];

/// The type tokens of a column definition starting at `i` (after the name): [i, end).
fn type_span(s: &Stmt, i: usize, to: usize) -> usize {
    let mut j = i;
    let mut depth = 0;
    while j < to {
        let t = &s.toks[j];
        match t.kind {
            TokKind::LParen | TokKind::LBracket => depth += 1,
            TokKind::RParen | TokKind::RBracket => depth -= 1,
            TokKind::Word if depth == 0 && j > i => {
                let k = s.kw(j);
                if TYPE_STOP.contains(&k) || (k == "CHARACTER" && s.kw(j + 1) == "SET") {
                    break;
                }
            }
            _ => {}
        }
        j += 1;
    }
    j
}

fn render(s: &Stmt, from: usize, to: usize) -> String {
    let mut out = String::new();
    let mut prev_word = false;
    for t in &s.toks[from..to] {
        let word = matches!(t.kind, TokKind::Word | TokKind::Number);
        if word && prev_word {
            out.push(' ');
        }
        out.push_str(&t.text);
        prev_word = word || t.kind == TokKind::RParen;
    }
    out
}

/// A column definition seen in CREATE TABLE or ADD COLUMN.
struct ColDef {
    name: String,
    type_text: String,
    type_at: usize,
    type_end: usize,
    end: usize,
}

fn col_def(s: &Stmt, from: usize, to: usize) -> Option<ColDef> {
    let first = s.kw(from);
    if matches!(
        first,
        "CONSTRAINT"
            | "PRIMARY"
            | "UNIQUE"
            | "FOREIGN"
            | "CHECK"
            | "INDEX"
            | "KEY"
            | "FULLTEXT"
            | "SPATIAL"
            | "EXCLUDE"
            | "LIKE"
    ) {
        return None;
    }
    let name = s.toks.get(from)?.text.clone();
    let type_end = type_span(s, from + 1, to);
    if type_end == from + 1 {
        return None;
    }
    Some(ColDef {
        name,
        type_text: render(s, from + 1, type_end),
        type_at: from + 1,
        type_end,
        end: to,
    })
}

fn lint_with_model(
    file_name: &str,
    sql: &str,
    target: Option<Backend>,
    has_down: bool,
    down: bool,
    model: &mut Model,
) -> Vec<LintFinding> {
    let d = directives(sql);
    let mut cx = FileCtx {
        file: file_name,
        backend: target,
        transactional: !d.no_transaction,
        down,
        created: HashSet::new(),
        out: Vec::new(),
    };
    if let Some(b) = target {
        if !d.requires.iter().all(|r| requirement_met(r, b)) {
            return Vec::new(); // skipped on this backend at run time
        }
    }
    if !has_down && !down {
        cx.push(
            "missing-down",
            1,
            "no down file: `plinth down` cannot revert this migration".into(),
            "add a matching `.down.sql` that undoes it (or accept that it is irreversible)",
        );
    }
    let stmts = match statements(sql, target) {
        Ok(s) => s,
        Err((line, msg)) => {
            cx.push(
                "syntax",
                line,
                format!("cannot tokenize: {msg}"),
                "close the string, quoted identifier or comment",
            );
            return cx.out;
        }
    };
    lint_transaction_rules(&mut cx, &stmts);
    if cx.mysql() {
        lint_mysql_atomicity(&mut cx, &stmts);
    }
    for s in &stmts {
        lint_statement(&mut cx, s, model);
    }
    lint_identifiers(&mut cx, &stmts);
    cx.out
        .sort_by(|a, b| a.line.cmp(&b.line).then(a.rule.cmp(b.rule)));
    cx.out
}

fn lint_transaction_rules(cx: &mut FileCtx, stmts: &[Stmt]) {
    if cx.mysql() {
        return;
    }
    for (n, s) in stmts.iter().enumerate() {
        let concurrently = (0..s.toks.len().min(6)).find(|&i| s.kw(i) == "CONCURRENTLY");
        let offender = match (s.kw(0), s.kw(1)) {
            _ if concurrently.is_some()
                && !cx.is(Backend::Sqlite)
                && matches!(s.kw(0), "CREATE" | "DROP" | "REINDEX") =>
            {
                concurrently.map(|i| (i, "CONCURRENTLY"))
            }
            ("VACUUM", _) => Some((0, "VACUUM")),
            ("CREATE" | "DROP", "DATABASE") | ("CREATE" | "DROP", "TABLESPACE") => {
                Some((0, "CREATE/DROP DATABASE"))
            }
            ("ALTER", "SYSTEM") => Some((0, "ALTER SYSTEM")),
            _ => None,
        };
        let Some((at, what)) = offender else {
            if cx.transactional
                && !cx.is(Backend::Sqlite)
                && s.kw(0) == "ALTER"
                && s.kw(1) == "TYPE"
            {
                lint_enum_add_value(cx, stmts, n);
            }
            continue;
        };
        if cx.transactional {
            cx.push(
                "no-transaction-required",
                s.line(at),
                format!("{what} cannot run inside a transaction block, and this migration runs in one"),
                "put `-- plinth:no-transaction` on the first line and keep this statement alone in its migration",
            );
        } else if stmts.len() > 1 {
            cx.push(
                "no-transaction-required",
                s.line(at),
                format!("{what} is not alone in its migration: several statements sent together run as one implicit transaction on PostgreSQL"),
                "move it to a migration of its own",
            );
        }
    }
}

fn lint_enum_add_value(cx: &mut FileCtx, stmts: &[Stmt], n: usize) {
    let s = &stmts[n];
    let Some(add) = s.find_kw(2, "ADD") else {
        return;
    };
    if s.kw(add + 1) != "VALUE" {
        return;
    }
    let value = s.toks[add + 2..]
        .iter()
        .find(|t| t.kind == TokKind::Str)
        .map(|t| t.text.clone());
    let used_later = value.as_ref().and_then(|v| {
        stmts[n + 1..]
            .iter()
            .flat_map(|st| st.toks.iter())
            .find(|t| t.kind == TokKind::Str && &t.text == v)
            .map(|t| t.line)
    });
    match used_later {
        Some(line) => cx.push_sev(
            "enum-value-in-transaction",
            Severity::Error,
            line,
            format!(
                "uses enum value '{}' added on line {} in the same transaction: PostgreSQL refuses (55P04 unsafe use of new value)",
                value.unwrap_or_default(),
                s.line(add)
            ),
            "add the value in its own migration (or mark that one `-- plinth:no-transaction`) and use it in a later one",
        ),
        None => cx.push(
            "enum-value-in-transaction",
            s.line(add),
            "ALTER TYPE … ADD VALUE inside a transaction: refused before PostgreSQL 12, and the value is unusable until COMMIT".into(),
            "keep it alone in its migration, with `-- plinth:no-transaction` for PostgreSQL < 12",
        ),
    }
}

fn lint_mysql_atomicity(cx: &mut FileCtx, stmts: &[Stmt]) {
    let b = cx.backend_name();
    let first_ddl = stmts.iter().position(Stmt::is_ddl);
    let first_dml = stmts.iter().position(Stmt::is_dml);
    if let (Some(ddl), Some(dml)) = (first_ddl, first_dml) {
        let later = ddl.max(dml);
        cx.push(
            "mysql-mixed-ddl-dml",
            stmts[later].line(0),
            format!("this migration mixes DDL and DML; on {b} the DDL commits implicitly, so a failure leaves it half-applied"),
            "split the DDL and the DML into separate migrations",
        );
    }
    let ddls: Vec<&Stmt> = stmts.iter().filter(|s| s.is_ddl()).collect();
    if ddls.len() > 1 {
        cx.push(
            "mysql-multiple-ddl",
            ddls[1].line(0),
            format!("{} DDL statements in one migration; on {b} each commits on its own, so a failure after the first leaves the earlier ones applied", ddls.len()),
            "one DDL statement per migration, or make each step idempotent (check information_schema) so a re-run can finish",
        );
    }
}

const VOLATILE: &[&str] = &[
    "RANDOM",
    "CLOCK_TIMESTAMP",
    "GEN_RANDOM_UUID",
    "UUID_GENERATE_V4",
    "UUID_GENERATE_V1",
    "TIMEOFDAY",
    "NEXTVAL",
    "TXID_CURRENT",
];

fn unsupported_type(backend: Backend, ty: &str) -> Option<String> {
    let t = ty.to_ascii_lowercase();
    let base: String = t
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ' ')
        .collect();
    let base = base.trim();
    let caps = capabilities_for(backend, default_version(backend));
    if t.contains('[') || base.ends_with(" array") {
        if backend != Backend::Postgres {
            return Some(format!("{backend} has no array types"));
        }
        return None;
    }
    let first = base.split(' ').next().unwrap_or("");
    match backend {
        Backend::MySql | Backend::MariaDb => {
            let lacks: &[&str] = &[
                "jsonb",
                "bytea",
                "timestamptz",
                "bigserial",
                "smallserial",
                "tsvector",
                "tsquery",
                "inet",
                "cidr",
                "macaddr",
                "interval",
                "money",
                "hstore",
                "citext",
                "xml",
            ];
            if lacks.contains(&first) || base.starts_with("timestamp with time zone") {
                return Some(format!("{backend} has no `{base}` type"));
            }
            if first == "uuid" && !caps.is_capable(Capability::UuidType) {
                return Some(format!("{backend} has no UUID type"));
            }
            if matches!(first, "varchar" | "character") && !t.contains('(') {
                return Some(format!("{backend} requires a length for VARCHAR"));
            }
            if matches!(first, "varchar" | "character") {
                let n: Option<u64> = t
                    .split(['(', ')'])
                    .nth(1)
                    .and_then(|a| a.trim().parse().ok());
                if let (Some(n), Some(max)) = (n, caps.max_varchar.max_length) {
                    if n > max {
                        return Some(format!(
                            "VARCHAR({n}) exceeds {max} utf8mb4 characters (the 65,535-byte row limit)"
                        ));
                    }
                }
            }
            None
        }
        Backend::Postgres => {
            let lacks: &[&str] = &[
                "tinyint",
                "mediumint",
                "datetime",
                "longtext",
                "mediumtext",
                "tinytext",
                "longblob",
                "mediumblob",
                "tinyblob",
                "blob",
                "enum",
                "year",
                "nvarchar",
            ];
            if lacks.contains(&first) || base.contains("unsigned") {
                return Some(format!("PostgreSQL has no `{base}` type"));
            }
            if first == "double" && !base.starts_with("double precision") {
                return Some("PostgreSQL spells it `double precision`".into());
            }
            None
        }
        Backend::Sqlite => {
            if matches!(first, "serial" | "bigserial" | "smallserial") {
                return Some(format!(
                    "`{first}` is accepted as a type name on SQLite but does not auto-increment"
                ));
            }
            None
        }
    }
}

fn type_fix(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "use the PostgreSQL type from the type matrix in docs/DATABASE_COMPATIBILITY.md, or a `.mysql.`/`.postgres.` variant file",
        Backend::MySql | Backend::MariaDb => "use the MySQL type from the type matrix in docs/DATABASE_COMPATIBILITY.md (JSON, DATETIME(6), CHAR(36), MEDIUMTEXT …), or a backend variant file",
        Backend::Sqlite => "use INTEGER PRIMARY KEY for an auto id, TEXT/JSON for arrays, or a `.sqlite.` variant file",
    }
}

fn check_col_type(cx: &mut FileCtx, s: &Stmt, c: &ColDef) {
    if let Some(b) = cx.backend {
        if let Some(why) = unsupported_type(b, &c.type_text) {
            cx.push(
                "unsupported-type",
                s.line(c.type_at),
                format!("column `{}` type `{}`: {why}", c.name, c.type_text),
                type_fix(b),
            );
        }
        let auto = (c.type_end..c.end).find(|&i| s.kw(i) == "AUTO_INCREMENT");
        if let Some(i) = auto {
            if !b.is_mysql_family() {
                cx.push(
                    "unsupported-type",
                    s.line(i),
                    format!("AUTO_INCREMENT is MySQL syntax; {b} rejects it"),
                    type_fix(b),
                );
            }
        }
    }
}

fn narrower(old: &LogicalType, new: &LogicalType) -> bool {
    use LogicalType as L;
    let int_rank = |t: &L| match t {
        L::Bool => Some(0),
        L::SmallInt => Some(1),
        L::Int => Some(2),
        L::BigInt | L::AutoIncrementKey => Some(3),
        _ => None,
    };
    match (old, new) {
        (L::Varchar(a), L::Varchar(b)) => b < a,
        (L::Text, L::Varchar(_)) => true,
        (L::Double, L::Float) => true,
        (L::TimestampTz, L::Timestamp) => true,
        (L::Timestamp | L::TimestampTz, L::Date) => true,
        (
            L::Decimal {
                precision: p1,
                scale: s1,
            },
            L::Decimal {
                precision: p2,
                scale: s2,
            },
        ) => p2.unwrap_or(1000) < p1.unwrap_or(1000) || s2.unwrap_or(0) < s1.unwrap_or(0),
        (L::Text | L::Varchar(_) | L::Json { .. }, n) => {
            int_rank(n).is_some()
                || matches!(
                    n,
                    L::Decimal { .. }
                        | L::Float
                        | L::Double
                        | L::Date
                        | L::Timestamp
                        | L::TimestampTz
                        | L::Uuid
                )
        }
        (a, b) => match (int_rank(a), int_rank(b)) {
            (Some(x), Some(y)) => y < x,
            _ => matches!(a, L::Float | L::Double | L::Decimal { .. }) && int_rank(b).is_some(),
        },
    }
}

fn binary_coercible(old: &LogicalType, new: &LogicalType) -> bool {
    use LogicalType as L;
    match (old, new) {
        (L::Varchar(a), L::Varchar(b)) => b >= a,
        (L::Varchar(_) | L::Text, L::Text) => true,
        _ => old == new,
    }
}

fn lint_statement(cx: &mut FileCtx, s: &Stmt, model: &mut Model) {
    let parse_b = cx.backend.unwrap_or(Backend::Postgres);
    match (s.kw(0), s.kw(1)) {
        ("CREATE", "TABLE") | ("CREATE", "TEMPORARY" | "TEMP" | "UNLOGGED") => {
            let Some(t) = s.find_kw(1, "TABLE") else {
                return;
            };
            let (name, after) = table_name(s, t + 1);
            cx.created.insert(name.clone());
            let cols = model.columns.entry(name).or_default();
            if s.toks.get(after).is_some_and(|t| t.kind == TokKind::LParen) {
                let close = matching_paren(s, after);
                let parts = split_commas(s, after + 1, close);
                let mut defs = Vec::new();
                for (a, b) in parts {
                    if let Some(c) = col_def(s, a, b) {
                        cols.insert(
                            c.name.to_ascii_lowercase(),
                            parse_native(parse_b, &c.type_text),
                        );
                        defs.push(c);
                    }
                }
                for c in defs {
                    check_col_type(cx, s, &c);
                }
            }
        }
        ("CREATE", "INDEX" | "UNIQUE") => {
            let Some(on) = s.find_kw(2, "ON") else {
                return;
            };
            let concurrently = (1..on).any(|i| s.kw(i) == "CONCURRENTLY");
            let (table, _) = table_name(s, on + 1);
            if cx.is(Backend::Postgres) && !concurrently && !cx.created.contains(&table) && !cx.down
            {
                cx.push(
                    "pg-blocking-index",
                    s.line(0),
                    format!("CREATE INDEX on existing table `{table}` without CONCURRENTLY blocks writes to it until the build ends"),
                    "use CREATE INDEX CONCURRENTLY in its own migration marked `-- plinth:no-transaction`",
                );
            }
        }
        ("DROP", "TABLE") if !cx.down => {
            let (table, _) = table_name(s, 2);
            cx.push(
                "destructive-change",
                s.line(0),
                format!("DROP TABLE `{table}` deletes the table and its data"),
                "make sure the data is backed up or no longer needed; consider renaming first and dropping in a later release",
            );
        }
        ("DROP", "SCHEMA" | "DATABASE") | ("TRUNCATE", _) if !cx.down => {
            cx.push(
                "destructive-change",
                s.line(0),
                format!("{} {} deletes data", s.kw(0), s.kw(1)),
                "make sure the data is backed up or no longer needed",
            );
        }
        ("ALTER", "TABLE") => lint_alter_table(cx, s, model),
        _ => {}
    }
}

fn matching_paren(s: &Stmt, open: usize) -> usize {
    let mut depth = 0;
    for i in open..s.toks.len() {
        match s.toks[i].kind {
            TokKind::LParen => depth += 1,
            TokKind::RParen => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    s.toks.len()
}

fn lint_alter_table(cx: &mut FileCtx, s: &Stmt, model: &mut Model) {
    let parse_b = cx.backend.unwrap_or(Backend::Postgres);
    let (table, after) = table_name(s, 2);
    let existing = !cx.created.contains(&table);
    for (a, b) in split_commas(s, after, s.toks.len()) {
        let verb = s.kw(a);
        let mut i = a + 1;
        match verb {
            "ADD" => {
                if matches!(
                    s.kw(i),
                    "CONSTRAINT"
                        | "PRIMARY"
                        | "UNIQUE"
                        | "FOREIGN"
                        | "CHECK"
                        | "INDEX"
                        | "KEY"
                        | "FULLTEXT"
                        | "SPATIAL"
                ) {
                    if cx.is(Backend::Sqlite) && s.kw(i) == "CONSTRAINT" {
                        sqlite_alter(cx, s.line(a), "ADD CONSTRAINT");
                    }
                    continue;
                }
                if s.kw(i) == "COLUMN" {
                    i += 1;
                }
                if s.kw(i) == "IF" {
                    i += 3;
                }
                let Some(c) = col_def(s, i, b) else { continue };
                check_col_type(cx, s, &c);
                let ty = parse_native(parse_b, &c.type_text);
                if cx.is(Backend::Postgres) && existing && !cx.down {
                    let tail: Vec<&str> = (c.type_end..b).map(|k| s.kw(k)).collect();
                    let volatile_default = tail
                        .iter()
                        .position(|k| *k == "DEFAULT")
                        .is_some_and(|p| tail[p + 1..].iter().any(|k| VOLATILE.contains(k)));
                    let serial = matches!(
                        c.type_text.to_ascii_lowercase().as_str(),
                        "serial" | "bigserial" | "smallserial"
                    );
                    let identity = tail.contains(&"IDENTITY");
                    let stored = tail.contains(&"GENERATED") && tail.contains(&"STORED");
                    let why = if volatile_default {
                        Some("a volatile DEFAULT is evaluated for every existing row")
                    } else if serial || identity {
                        Some("a serial/identity column fills every existing row")
                    } else if stored {
                        Some("a stored generated column is computed for every existing row")
                    } else {
                        None
                    };
                    if let Some(why) = why {
                        cx.push(
                            "pg-table-rewrite",
                            s.line(a),
                            format!("ADD COLUMN `{}` rewrites `{table}` under ACCESS EXCLUSIVE: {why}", c.name),
                            "add the column without the default (or with a constant one), backfill in batches, then SET DEFAULT",
                        );
                    }
                }
                model
                    .columns
                    .entry(table.clone())
                    .or_default()
                    .insert(c.name.to_ascii_lowercase(), ty);
            }
            "DROP" => {
                if matches!(
                    s.kw(i),
                    "CONSTRAINT" | "PRIMARY" | "FOREIGN" | "CHECK" | "INDEX" | "KEY" | "DEFAULT"
                ) {
                    if cx.is(Backend::Sqlite) && s.kw(i) == "CONSTRAINT" {
                        sqlite_alter(cx, s.line(a), "DROP CONSTRAINT");
                    }
                    continue;
                }
                if s.kw(i) == "COLUMN" {
                    i += 1;
                }
                if s.kw(i) == "IF" {
                    i += 2;
                }
                let col = s.toks.get(i).map(|t| t.text.clone()).unwrap_or_default();
                if !cx.down {
                    cx.push(
                        "destructive-change",
                        s.line(a),
                        format!("DROP COLUMN `{table}.{col}` deletes the column's data"),
                        "stop reading and writing the column in a release first; back up its data if it may be needed",
                    );
                }
                if let Some(cols) = model.columns.get_mut(&table) {
                    cols.remove(&col.to_ascii_lowercase());
                }
            }
            "ALTER" | "MODIFY" | "CHANGE" => {
                if s.kw(i) == "COLUMN" {
                    i += 1;
                }
                let col = s
                    .toks
                    .get(i)
                    .map(|t| t.text.to_ascii_lowercase())
                    .unwrap_or_default();
                if cx.is(Backend::Sqlite) {
                    sqlite_alter(cx, s.line(a), &format!("{verb} COLUMN"));
                    continue;
                }
                // the new type: ALTER c [SET DATA] TYPE t | MODIFY c t | CHANGE old new t
                let type_at = match verb {
                    "ALTER" => {
                        let mut k = i + 1;
                        if s.kw(k) == "SET" && s.kw(k + 1) == "DATA" {
                            k += 2;
                        }
                        if s.kw(k) != "TYPE" {
                            continue;
                        }
                        k + 1
                    }
                    "MODIFY" => i + 1,
                    _ => i + 2,
                };
                let end = type_span(s, type_at, b);
                if end == type_at {
                    continue;
                }
                let text = render(s, type_at, end);
                if let Some(bk) = cx.backend {
                    if let Some(why) = unsupported_type(bk, &text) {
                        cx.push(
                            "unsupported-type",
                            s.line(type_at),
                            format!("column `{col}` type `{text}`: {why}"),
                            type_fix(bk),
                        );
                    }
                }
                let new = parse_native(parse_b, &text);
                let old = model.columns.get(&table).and_then(|c| c.get(&col)).cloned();
                if let Some(old) = &old {
                    if narrower(old, &new) && !cx.down {
                        cx.push(
                            "type-narrowing",
                            s.line(type_at),
                            format!("`{table}.{col}` narrows from {old} to {new}: longer or out-of-range values fail or are cut"),
                            "check the data fits first (SELECT max(length(col)) …), or add a new column and migrate values explicitly",
                        );
                    }
                }
                let coercible = old.as_ref().is_some_and(|o| binary_coercible(o, &new));
                if cx.is(Backend::Postgres) && existing && !coercible && !cx.down {
                    cx.push(
                        "pg-table-rewrite",
                        s.line(a),
                        format!("changing the type of `{table}.{col}` rewrites the table under ACCESS EXCLUSIVE (unless binary-coercible)"),
                        "add a new column, backfill in batches, and switch over; or schedule downtime",
                    );
                }
                let target = if verb == "CHANGE" {
                    s.toks
                        .get(i + 1)
                        .map(|t| t.text.to_ascii_lowercase())
                        .unwrap_or_default()
                } else {
                    col
                };
                model
                    .columns
                    .entry(table.clone())
                    .or_default()
                    .insert(target, new);
            }
            _ => {}
        }
    }
}

fn sqlite_alter(cx: &mut FileCtx, line: u64, what: &str) {
    cx.push(
        "sqlite-unsupported-alter",
        line,
        format!("SQLite's ALTER TABLE cannot {what}"),
        "rebuild the table (CREATE new, INSERT … SELECT, DROP old, RENAME) with PRAGMA foreign_keys=OFF set outside the transaction, or use a `.sqlite.` variant",
    );
}

fn lint_identifiers(cx: &mut FileCtx, stmts: &[Stmt]) {
    let (limit, bytes, severity, what) = match cx.backend {
        Some(Backend::MySql | Backend::MariaDb) => {
            (64, false, Severity::Error, "rejects names over 64 characters")
        }
        Some(Backend::Sqlite) => return,
        _ => (
            63,
            true,
            Severity::Warning,
            "silently truncates names to 63 bytes (names can collide, and other backends see the full name)",
        ),
    };
    let backend = cx.backend.map(Backend::as_str).unwrap_or("PostgreSQL");
    let mut seen = HashSet::new();
    for s in stmts.iter().filter(|s| s.is_ddl()) {
        for t in s.toks.iter().filter(|t| t.word) {
            let n = if bytes {
                t.text.len()
            } else {
                t.text.chars().count()
            };
            if n > limit && seen.insert(t.text.clone()) {
                cx.push_sev(
                    "identifier-too-long",
                    severity,
                    t.line,
                    format!(
                        "`{}` is {n} {} long; {backend} {what}",
                        t.text,
                        if bytes { "bytes" } else { "characters" }
                    ),
                    "shorten the name to 63 bytes or fewer so it is the same on every backend",
                );
            }
        }
    }
}

/// Lint a migrations directory for `target` (None: every file for the backend its name selects,
/// plain files with backend-neutral rules only). Reads files only; needs no database.
pub fn lint_dir(path: &Path, target: Option<Backend>) -> Result<Vec<LintFinding>, LintError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| LintError::Io { path: p, source }
    };
    let mut files: Vec<(String, MigrationFile)> = Vec::new();
    let mut out = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io(path))? {
        let entry = entry.map_err(io(path))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.ends_with(".sql") {
            continue;
        }
        match parse_file_name(&name) {
            Some(f) => files.push((name, f)),
            None => out.push(LintFinding {
                rule: "syntax",
                severity: Severity::Error,
                file: name,
                line: 1,
                message: "not a migration file name: expected NNNN_name.sql, NNNN_name.up.sql/.down.sql or NNNN_name.<postgres|mysql|sqlite>.up.sql".into(),
                fix: "rename the file".into(),
            }),
        }
    }
    files.sort_by(|a, b| (a.1.version, a.1.down, &a.0).cmp(&(b.1.version, b.1.down, &b.0)));
    let matches = |variant: Option<Backend>, b: Backend| match variant {
        None => true,
        Some(v) => v == b || (v == Backend::MySql && b == Backend::MariaDb),
    };
    // Which files run on which backend: with a target, the variant for it replaces the plain file.
    let mut by_version: BTreeMap<(u64, bool), Vec<&(String, MigrationFile)>> = BTreeMap::new();
    for f in &files {
        by_version
            .entry((f.1.version, f.1.down))
            .or_default()
            .push(f);
    }
    let mut selected: Vec<(&String, &MigrationFile, Option<Backend>)> = Vec::new();
    for group in by_version.values() {
        match target {
            Some(b) => {
                let pick = group
                    .iter()
                    .find(|f| f.1.variant.is_some_and(|v| matches(Some(v), b)))
                    .or_else(|| group.iter().find(|f| f.1.variant.is_none()));
                if let Some(f) = pick {
                    selected.push((&f.0, &f.1, Some(b)));
                }
            }
            None => {
                for f in group {
                    selected.push((&f.0, &f.1, f.1.variant));
                }
            }
        }
    }
    // One model of the schema per backend stream, so earlier CREATE TABLEs inform later files.
    let mut models: HashMap<Option<Backend>, Model> = HashMap::new();
    for (name, meta, backend) in selected {
        let text = std::fs::read_to_string(path.join(name)).map_err(io(&path.join(name)))?;
        let has_down = meta.down
            || files.iter().any(|(_, f)| {
                f.down
                    && f.version == meta.version
                    && (f.variant.is_none()
                        || meta.variant.is_none() && backend.is_some_and(|b| matches(f.variant, b))
                        || f.variant == meta.variant)
            });
        let model = models.entry(backend).or_default();
        out.extend(lint_with_model(
            name, &text, backend, has_down, meta.down, model,
        ));
    }
    Ok(out)
}

/// True when any finding is an error: `plinth lint` exits 1 and `migrate` refuses.
pub fn has_errors(findings: &[LintFinding]) -> bool {
    findings.iter().any(|f| f.severity == Severity::Error)
}
