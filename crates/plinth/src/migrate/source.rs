//! Where migrations come from — a directory, files embedded at compile time, or Rust code — and how
//! their names, backend variants, directives and checksums are read. Every problem with the source is
//! found before anything runs, so nothing is half-applied because of a bad file.

use super::scan::Scan;
use crate::backend::{Backend, Db};
use futures::future::BoxFuture;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The checksum algorithm recorded beside each checksum: SHA-256 over the text with a leading
/// byte-order mark removed and CRLF/CR line endings turned into LF.
pub const CHECKSUM_ALGORITHM: &str = "sha256-lf";

/// Checksum migration text so that a Windows checkout (CRLF, BOM) does not look like an edit.
pub fn checksum(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if !text.contains('\r') {
        // The common case: nothing to normalize, so no copy (this runs for every file at every start).
        return hex::encode(Sha256::digest(text.as_bytes()));
    }
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    hex::encode(Sha256::digest(normalized.as_bytes()))
}

/// The checksum of a Rust migration: of what its `checksum_source` says it does. One function, so
/// that the up-to-date check and the plan can never disagree about it.
fn rust_checksum(checksum_source: &str) -> String {
    checksum(&format!("rust:{checksum_source}"))
}

/// Behaviour a migration asks for in its leading comment lines.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Directives {
    /// `-- plinth:no-transaction`: run outside any transaction (e.g. `CREATE INDEX CONCURRENTLY`).
    pub no_transaction: bool,
    /// `-- plinth:requires X`: a backend name or capability the migration needs.
    pub requires: Vec<String>,
}

impl Directives {
    /// Read directives from the comment lines that open a migration; unknown `plinth:` words are errors
    /// so that a typo does not silently change behaviour.
    pub fn parse(sql: &str) -> Result<Directives, String> {
        let mut d = Directives::default();
        for line in sql.lines() {
            let line = line.trim().trim_start_matches('\u{feff}');
            if line.is_empty() {
                continue;
            }
            let Some(comment) = line.strip_prefix("--") else {
                break;
            };
            let Some(rest) = comment.trim().strip_prefix("plinth:") else {
                continue;
            };
            let mut words = rest.split_whitespace();
            match words.next() {
                Some("no-transaction") => d.no_transaction = true,
                Some("requires") => {
                    let reqs: Vec<String> = words.map(str::to_string).collect();
                    if reqs.is_empty() {
                        return Err(
                            "`-- plinth:requires` needs a backend or capability name".into()
                        );
                    }
                    if let Some(bad) = reqs.iter().find(|r| {
                        Backend::parse(r).is_none() && crate::compat::Capability::parse(r).is_none()
                    }) {
                        return Err(format!(
                            "`-- plinth:requires {bad}`: not a backend (postgres, mysql, mariadb, sqlite) nor a capability (see `plinth compat`)"
                        ));
                    }
                    d.requires.extend(reqs);
                }
                other => {
                    return Err(format!(
                        "unknown directive `plinth:{}` (known: no-transaction, requires)",
                        other.unwrap_or("")
                    ))
                }
            }
        }
        Ok(d)
    }
}

/// The future a Rust migration returns.
pub type RustMigrationFuture<'a> =
    BoxFuture<'a, Result<(), Box<dyn std::error::Error + Send + Sync>>>;

/// A migration written in Rust: an async function over the connection, tracked like a file.
pub type RustMigrationFn = Arc<dyn for<'a> Fn(&'a mut Db) -> RustMigrationFuture<'a> + Send + Sync>;

/// What a migration runs.
#[derive(Clone)]
pub enum Body {
    /// SQL text (one or more statements).
    Sql(String),
    /// Rust code.
    Rust(RustMigrationFn),
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Sql(s) => write!(f, "Sql({} bytes)", s.len()),
            Body::Rust(_) => f.write_str("Rust(fn)"),
        }
    }
}

/// One SQL file: where it came from, its checksum, and its text. When the checksum came from the
/// checksum cache (see `scan`), the text is read on first use, so an up-to-date check reads no file.
#[derive(Clone)]
pub struct SqlFile {
    /// Where it came from (a path or `embedded:NAME`), for messages.
    pub origin: String,
    checksum: String,
    /// The text; empty until first use when the checksum came from the cache, in which case
    /// `origin` is the file's path.
    text: Arc<OnceLock<Result<String, String>>>,
}

impl fmt::Debug for SqlFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlFile")
            .field("origin", &self.origin)
            .field("checksum", &self.checksum)
            .field("read", &self.text.get().is_some())
            .finish()
    }
}

impl SqlFile {
    /// A file whose text is at hand.
    pub fn new(origin: String, text: String) -> SqlFile {
        let checksum = checksum(&text);
        SqlFile::read(origin, text, checksum)
    }

    fn read(origin: String, text: String, checksum: String) -> SqlFile {
        SqlFile {
            origin,
            checksum,
            text: Arc::new(OnceLock::from(Ok(text))),
        }
    }

    /// A file recognised from the cache: `origin` is its path.
    fn unread(origin: String, checksum: String) -> SqlFile {
        SqlFile {
            origin,
            checksum,
            text: Arc::new(OnceLock::new()),
        }
    }

    /// The checksum of the text ([`checksum`]).
    pub fn checksum(&self) -> &str {
        &self.checksum
    }

    /// The SQL text, reading the file now if the scan recognised it from the cache. A file that
    /// changed since the scan is an error (its checksum would no longer describe what runs).
    pub fn text(&self) -> Result<&str, SourceProblem> {
        let text = self.text.get_or_init(|| {
            let text = super::scan::read_text(Path::new(&self.origin))?;
            if checksum(&text) == self.checksum {
                Ok(text)
            } else {
                Err("the file changed while plinth was running".into())
            }
        });
        text.as_deref().map_err(|e| SourceProblem {
            origin: self.origin.clone(),
            problem: e.clone(),
            fix: "run the command again".into(),
        })
    }
}

/// SQL for one direction of a migration, with per-backend replacements.
#[derive(Clone, Debug, Default)]
pub struct Variants {
    /// The plain file, used where no variant matches.
    pub plain: Option<SqlFile>,
    /// Backend-specific files (`.postgres.`, `.mysql.`, `.mariadb.`, `.sqlite.`).
    pub by_backend: BTreeMap<&'static str, SqlFile>,
}

impl Variants {
    /// The file that applies on `backend`: MariaDB takes `.mariadb.` then `.mysql.`.
    pub fn for_backend(&self, backend: Backend) -> Option<&SqlFile> {
        let keys: &[&str] = match backend {
            Backend::Postgres => &["postgres"],
            Backend::MySql => &["mysql"],
            Backend::MariaDb => &["mariadb", "mysql"],
            Backend::Sqlite => &["sqlite"],
        };
        keys.iter()
            .find_map(|k| self.by_backend.get(k))
            .or(self.plain.as_ref())
    }

    fn is_empty(&self) -> bool {
        self.plain.is_none() && self.by_backend.is_empty()
    }
}

/// A migration as defined in the source, before a backend is chosen.
#[derive(Clone, Debug)]
pub struct SourceMigration {
    /// The version (the number before the first underscore).
    pub version: i64,
    /// The name (after the underscore).
    pub name: String,
    /// The up SQL, or a Rust function.
    pub up: SourceBody,
    /// The down SQL, if any.
    pub down: Variants,
}

/// The up side of a source migration.
#[derive(Clone, Debug)]
pub enum SourceBody {
    /// SQL files.
    Sql(Variants),
    /// A Rust function with the text its checksum is computed from.
    Rust {
        /// The function.
        run: Body,
        /// What the checksum covers (by default the name; bump it when the code's meaning changes).
        checksum_source: String,
    },
}

/// A migration resolved for one backend: exactly what will run and how it is checksummed.
#[derive(Clone, Debug)]
pub struct Migration {
    /// Version.
    pub version: i64,
    /// Name.
    pub name: String,
    /// The body that runs.
    pub up: Body,
    /// The down SQL for this backend, if any.
    pub down: Option<String>,
    /// Where it came from (a file path, `embedded:…`, or `rust`), for messages.
    pub origin: String,
    /// Where the down SQL came from.
    pub down_origin: Option<String>,
    /// Checksum of the up body as applied.
    pub checksum: String,
    /// Directives from the leading comments.
    pub directives: Directives,
}

impl Migration {
    /// The up SQL, when the migration is SQL.
    pub fn sql(&self) -> Option<&str> {
        match &self.up {
            Body::Sql(s) => Some(s),
            Body::Rust(_) => None,
        }
    }
}

/// One thing wrong with the migration source, named so the user can fix it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SourceProblem {
    /// The file (or migration) concerned.
    pub origin: String,
    /// What is wrong.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

impl fmt::Display for SourceProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.origin, self.problem, self.fix)
    }
}

/// Errors reading the migration source; all problems are collected, not just the first.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The directory is missing or unreadable.
    #[error("cannot read migrations directory {path}: {reason} (create it, or pass --source DIR)")]
    Directory {
        /// The directory.
        path: String,
        /// The OS's reason.
        reason: String,
    },
    /// One or more files are wrong.
    #[error("{} problem(s) in the migration source:\n{}", .0.len(), .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<SourceProblem>),
}

/// What the up-to-date check compares with the history table's digest, per backend (keys from
/// [`crate::migrate::history::digest_key`]): small enough for the checksum cache to keep, so that
/// an unchanged directory need not be parsed to answer the check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceDigests(pub(crate) Vec<(Backend, String)>);

impl SourceDigests {
    /// The digest key for `backend`, if every migration has a file for it.
    pub fn get(&self, backend: Backend) -> Option<&str> {
        self.0
            .iter()
            .find(|(b, _)| *b == backend)
            .map(|(_, d)| d.as_str())
    }
}

/// An ordered set of migrations from files, embedded files and Rust code.
#[derive(Clone, Debug, Default)]
pub struct MigrationSource {
    migrations: BTreeMap<i64, SourceMigration>,
}

/// A file handed to the source builder: its text (and checksum, if already computed), or only the
/// checksum the cache holds for it (its origin is then its path, to read it from when needed).
enum FileInput {
    Text(Result<String, String>, Option<String>),
    Unread(String),
}

/// A file the source parser accepts: `NNNN_name[.backend][.up|.down].sql`.
#[derive(Debug, PartialEq, Eq)]
struct FileName {
    version: i64,
    name: String,
    backend: Option<&'static str>,
    down: bool,
}

fn parse_file_name(file: &str) -> Result<FileName, String> {
    let stem = file
        .strip_suffix(".sql")
        .ok_or_else(|| "not a .sql file".to_string())?;
    let mut parts: Vec<&str> = stem.split('.').collect();
    let mut down = false;
    if let Some(last) = parts.last() {
        match *last {
            "up" => {
                parts.pop();
            }
            "down" => {
                down = true;
                parts.pop();
            }
            _ => {}
        }
    }
    let mut backend = None;
    if parts.len() == 2 {
        backend = Some(match parts[1] {
            "postgres" => "postgres",
            "mysql" => "mysql",
            "mariadb" => "mariadb",
            "sqlite" => "sqlite",
            other => {
                return Err(format!(
                    "unknown backend `{other}` (use postgres, mysql, mariadb or sqlite)"
                ))
            }
        });
        parts.pop();
    }
    if parts.len() != 1 {
        return Err("too many dots; expected NNNN_name[.backend][.up|.down].sql".into());
    }
    let (num, name) = parts[0]
        .split_once('_')
        .ok_or_else(|| "missing `_` between version and name".to_string())?;
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("version `{num}` is not a number"));
    }
    let version: i64 = num
        .parse()
        .map_err(|_| format!("version `{num}` is too large"))?;
    if version <= 0 {
        return Err("version must be a positive integer".into());
    }
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!("name `{name}` must be letters, digits, `_` or `-`"));
    }
    Ok(FileName {
        version,
        name: name.to_string(),
        backend,
        down,
    })
}

const FILE_FIX: &str =
    "rename it to NNNN_name.sql, NNNN_name.up.sql/NNNN_name.down.sql, or NNNN_name.postgres.up.sql";

/// Whether SQL text has any statement in it (not only blanks and comments).
fn has_statements(sql: &str) -> bool {
    let mut in_block = false;
    for line in sql.lines() {
        let mut l = line.trim().trim_start_matches('\u{feff}');
        loop {
            if in_block {
                match l.find("*/") {
                    Some(i) => {
                        in_block = false;
                        l = l[i + 2..].trim();
                    }
                    None => break,
                }
            } else if let Some(rest) = l.strip_prefix("/*") {
                in_block = true;
                l = rest;
            } else {
                if !l.is_empty() && !l.starts_with("--") && !l.starts_with('#') {
                    return true;
                }
                break;
            }
        }
    }
    false
}

impl MigrationSource {
    /// An empty source, to which Rust migrations can be added.
    pub fn new() -> Self {
        Self::default()
    }

    /// Read a migrations directory. Files not ending in `.sql` (and dot-files) are ignored.
    pub fn from_dir(dir: &Path) -> Result<Self, SourceError> {
        Self::from_dir_cached(dir, None)
    }

    /// Read a migrations directory, recognising unchanged files from the checksum cache kept in
    /// `cache_dir` (see [`default_cache_dir`](super::scan::default_cache_dir)) instead of reading
    /// them; their text is read only if a command needs it. The cache is refreshed when the source
    /// is valid. With `None` this is [`MigrationSource::from_dir`].
    pub fn from_dir_cached(dir: &Path, cache_dir: Option<&Path>) -> Result<Self, SourceError> {
        let mut scan = Scan::run(dir, cache_dir).map_err(|e| SourceError::Directory {
            path: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let from_cache = scan.cache_hits();
        let base = dir.display().to_string();
        let base = base.trim_end_matches('/');
        let inputs: Vec<_> = scan
            .files
            .iter_mut()
            .map(|f| {
                let input = match (f.text.take(), &f.checksum) {
                    (Some(text), sum) => FileInput::Text(text, sum.clone()),
                    (None, Some(sum)) => FileInput::Unread(sum.clone()),
                    (None, None) => FileInput::Text(Err("cannot read".into()), None),
                };
                (format!("{base}/{}", f.name), f.name.clone(), input)
            })
            .collect();
        let source = Self::build(inputs.into_iter())?;
        tracing::debug!(
            files = scan.files.len(),
            from_cache,
            "migrations directory read"
        );
        scan.save(|| source.digests());
        Ok(source)
    }

    /// The digests the checksum cache holds for `dir`, when every file is provably as it was when
    /// they were written (same listing, same stamps). Reads no migration file and parses nothing,
    /// so an up-to-date `migrate` on a large directory costs one `stat` per file
    /// ([`crate::migrate::UpToDateCheck::matches`]). None: build the source instead.
    pub fn cached_digests(dir: &Path, cache_dir: &Path) -> Option<SourceDigests> {
        let digests = super::scan::probe(dir, cache_dir);
        tracing::debug!(
            unchanged = digests.is_some(),
            "migrations directory checked against the cache"
        );
        digests
    }

    /// Build a source from files embedded in the binary (see [`crate::embed_migrations`]).
    pub fn from_embedded(dir: &include_dir::Dir<'static>) -> Result<Self, SourceError> {
        let mut files: Vec<(String, String, Result<String, String>)> = Vec::new();
        for f in dir.files() {
            let name = f
                .path()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.starts_with('.') || !name.ends_with(".sql") {
                continue;
            }
            let content = f
                .contents_utf8()
                .map(str::to_string)
                .ok_or_else(|| "not valid UTF-8 text".to_string());
            files.push((format!("embedded:{name}"), name, content));
        }
        files.sort_by(|a, b| a.1.cmp(&b.1));
        Self::from_files(files.into_iter())
    }

    /// Build a source from (origin, file name, content or read error) triples.
    pub fn from_files(
        files: impl Iterator<Item = (String, String, Result<String, String>)>,
    ) -> Result<Self, SourceError> {
        Self::build(files.map(|(origin, name, text)| (origin, name, FileInput::Text(text, None))))
    }

    fn build(
        files: impl Iterator<Item = (String, String, FileInput)>,
    ) -> Result<Self, SourceError> {
        let mut problems = Vec::new();
        let mut ups: BTreeMap<i64, (String, Variants)> = BTreeMap::new();
        let mut downs: BTreeMap<i64, (String, Variants)> = BTreeMap::new();
        for (origin, file, content) in files {
            let parsed = match parse_file_name(&file) {
                Ok(p) => p,
                Err(e) => {
                    problems.push(SourceProblem {
                        origin,
                        problem: format!("bad file name: {e}"),
                        fix: FILE_FIX.into(),
                    });
                    continue;
                }
            };
            let sql = match content {
                FileInput::Unread(sum) => SqlFile::unread(origin.clone(), sum),
                FileInput::Text(Err(e), _) => {
                    problems.push(SourceProblem {
                        origin,
                        problem: e,
                        fix: "fix the file's permissions or encoding (UTF-8)".into(),
                    });
                    continue;
                }
                FileInput::Text(Ok(sql), sum) => {
                    if !has_statements(&sql) {
                        problems.push(SourceProblem {
                            origin,
                            problem: "the file is empty (no SQL statement)".into(),
                            fix: "write the migration's SQL, or delete the file".into(),
                        });
                        continue;
                    }
                    if let Err(e) = Directives::parse(&sql) {
                        problems.push(SourceProblem {
                            origin: origin.clone(),
                            problem: e,
                            fix: "fix the `-- plinth:` comment line".into(),
                        });
                    }
                    let sum = sum.unwrap_or_else(|| checksum(&sql));
                    SqlFile::read(origin.clone(), sql, sum)
                }
            };
            let table = if parsed.down { &mut downs } else { &mut ups };
            let (name, variants) = table
                .entry(parsed.version)
                .or_insert_with(|| (parsed.name.clone(), Variants::default()));
            if *name != parsed.name {
                problems.push(SourceProblem {
                    origin,
                    problem: format!(
                        "duplicate version {}: also used by `{}`",
                        parsed.version, name
                    ),
                    fix: "give one of them the next free version number".into(),
                });
                continue;
            }
            let existing = match parsed.backend {
                Some(b) => variants.by_backend.get(b),
                None => variants.plain.as_ref(),
            };
            if let Some(existing) = existing {
                problems.push(SourceProblem {
                    origin,
                    problem: format!("same migration also defined by {}", existing.origin),
                    fix: "keep either NNNN_name.sql or NNNN_name.up.sql, not both".into(),
                });
                continue;
            }
            match parsed.backend {
                Some(b) => {
                    variants.by_backend.insert(b, sql);
                }
                None => variants.plain = Some(sql),
            }
        }
        for (version, (name, variants)) in &downs {
            match ups.get(version) {
                None => problems.push(SourceProblem {
                    origin: variants
                        .plain
                        .as_ref()
                        .or(variants.by_backend.values().next())
                        .map(|v| v.origin.clone())
                        .unwrap_or_default(),
                    problem: format!("down file for version {version} has no up file"),
                    fix: format!("add {version:04}_{name}.up.sql or remove the down file"),
                }),
                Some((up_name, _)) if up_name != name => problems.push(SourceProblem {
                    origin: format!("{version:04}_{name}.down.sql"),
                    problem: format!("down file name differs from up file `{up_name}`"),
                    fix: "use the same name for the up and down files".into(),
                }),
                _ => {}
            }
        }
        if !problems.is_empty() {
            return Err(SourceError::Invalid(problems));
        }
        let migrations = ups
            .into_iter()
            .map(|(version, (name, up))| {
                let down = downs.remove(&version).map(|d| d.1).unwrap_or_default();
                (
                    version,
                    SourceMigration {
                        version,
                        name,
                        up: SourceBody::Sql(up),
                        down,
                    },
                )
            })
            .collect();
        Ok(MigrationSource { migrations })
    }

    /// Add a migration defined in Rust; its checksum covers `name` unless changed with
    /// [`MigrationSource::add_rust_with_checksum`]. Fails on a version that is already taken.
    pub fn add_rust<F>(&mut self, version: i64, name: &str, run: F) -> Result<(), SourceError>
    where
        F: for<'a> Fn(&'a mut Db) -> RustMigrationFuture<'a> + Send + Sync + 'static,
    {
        self.add_rust_with_checksum(version, name, name, run)
    }

    /// Add a Rust migration whose checksum covers `checksum_source` (bump it when the code changes
    /// meaning, so that `validate` notices).
    pub fn add_rust_with_checksum<F>(
        &mut self,
        version: i64,
        name: &str,
        checksum_source: &str,
        run: F,
    ) -> Result<(), SourceError>
    where
        F: for<'a> Fn(&'a mut Db) -> RustMigrationFuture<'a> + Send + Sync + 'static,
    {
        if version <= 0 {
            return Err(SourceError::Invalid(vec![SourceProblem {
                origin: format!("rust:{name}"),
                problem: "version must be a positive integer".into(),
                fix: "use a version above 0".into(),
            }]));
        }
        if let Some(existing) = self.migrations.get(&version) {
            return Err(SourceError::Invalid(vec![SourceProblem {
                origin: format!("rust:{name}"),
                problem: format!(
                    "duplicate version {version}: also used by `{}`",
                    existing.name
                ),
                fix: "give it the next free version number".into(),
            }]));
        }
        self.migrations.insert(
            version,
            SourceMigration {
                version,
                name: name.to_string(),
                up: SourceBody::Rust {
                    run: Body::Rust(Arc::new(run)),
                    checksum_source: checksum_source.to_string(),
                },
                down: Variants::default(),
            },
        );
        Ok(())
    }

    /// Merge another source (for example files plus Rust migrations); versions must not collide.
    pub fn merge(mut self, other: MigrationSource) -> Result<Self, SourceError> {
        let mut problems = Vec::new();
        for (v, m) in other.migrations {
            if let Some(existing) = self.migrations.get(&v) {
                problems.push(SourceProblem {
                    origin: m.name.clone(),
                    problem: format!("duplicate version {v}: also used by `{}`", existing.name),
                    fix: "give one of them the next free version number".into(),
                });
            } else {
                self.migrations.insert(v, m);
            }
        }
        if problems.is_empty() {
            Ok(self)
        } else {
            Err(SourceError::Invalid(problems))
        }
    }

    /// The migrations as defined, in version order.
    pub fn iter(&self) -> impl Iterator<Item = &SourceMigration> {
        self.migrations.values()
    }

    /// Number of migrations.
    pub fn len(&self) -> usize {
        self.migrations.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.migrations.is_empty()
    }

    /// Each migration's version and checksum on `backend`, without reading any file the checksum
    /// cache recognised: what the up-to-date check compares with history. None when a migration has
    /// no file for this backend ([`MigrationSource::resolve`] reports that).
    pub fn checksums(&self, backend: Backend) -> Option<Vec<(i64, Cow<'_, str>)>> {
        self.migrations
            .values()
            .map(|m| match &m.up {
                SourceBody::Sql(variants) => variants
                    .for_backend(backend)
                    .map(|f| (m.version, Cow::Borrowed(f.checksum()))),
                SourceBody::Rust {
                    checksum_source, ..
                } => Some((m.version, Cow::Owned(rust_checksum(checksum_source)))),
            })
            .collect()
    }

    /// The digest of this source's (version, checksum) list on `backend`, in the form the history
    /// table's [`crate::migrate::history::History::fingerprint`] answers; None when some migration
    /// has no file for `backend`.
    pub fn expected_digest(&self, backend: Backend) -> Option<String> {
        let rows = self.checksums(backend)?;
        Some(super::history::expected_digest(backend.driver(), &rows))
    }

    /// [`MigrationSource::expected_digest`] for every backend, in the fixed-size form the checksum
    /// cache keeps.
    pub fn digests(&self) -> SourceDigests {
        SourceDigests(
            Backend::ALL
                .into_iter()
                .filter_map(|b| {
                    let digest = self.expected_digest(b)?;
                    Some((b, super::history::digest_key(&digest)))
                })
                .collect(),
        )
    }

    /// Choose each migration's SQL for `backend` and compute checksums and directives. A migration
    /// that has only variants for other backends is an error naming it.
    pub fn resolve(&self, backend: Backend) -> Result<Vec<Migration>, SourceError> {
        self.resolve_with(backend, true)
    }

    /// [`MigrationSource::resolve`] for planning only (`status`, `validate`): version, name, origin
    /// and checksum, but no file the checksum cache recognised is read, so SQL bodies, down SQL and
    /// directives are left empty. Never run what this returns.
    pub(crate) fn resolve_for_plan(&self, backend: Backend) -> Result<Vec<Migration>, SourceError> {
        self.resolve_with(backend, false)
    }

    fn resolve_with(
        &self,
        backend: Backend,
        read_text: bool,
    ) -> Result<Vec<Migration>, SourceError> {
        let mut out = Vec::with_capacity(self.migrations.len());
        let mut problems = Vec::new();
        for m in self.migrations.values() {
            match &m.up {
                SourceBody::Sql(variants) => {
                    let Some(file) = variants.for_backend(backend) else {
                        problems.push(SourceProblem {
                            origin: format!("{:04}_{}", m.version, m.name),
                            problem: format!(
                                "no file applies to {backend}: only variants for {}",
                                variants
                                    .by_backend
                                    .keys()
                                    .copied()
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                            fix: format!("add {:04}_{}.sql (or .{backend}.sql)", m.version, m.name),
                        });
                        continue;
                    };
                    let down = if m.down.is_empty() {
                        None
                    } else {
                        m.down.for_backend(backend)
                    };
                    // Planning only needs the checksum: leave the texts unread.
                    let (up, down_sql, directives) = if read_text {
                        let texts = file
                            .text()
                            .and_then(|up| Ok((up, down.map(SqlFile::text).transpose()?)));
                        match texts {
                            Ok((sql, down_sql)) => (
                                sql.to_string(),
                                down_sql.map(str::to_string),
                                Directives::parse(sql).unwrap_or_default(),
                            ),
                            Err(p) => {
                                problems.push(p);
                                continue;
                            }
                        }
                    } else {
                        (String::new(), None, Directives::default())
                    };
                    out.push(Migration {
                        version: m.version,
                        name: m.name.clone(),
                        up: Body::Sql(up),
                        down: down_sql,
                        down_origin: down.map(|d| d.origin.clone()),
                        origin: file.origin.clone(),
                        checksum: file.checksum().to_string(),
                        directives,
                    });
                }
                SourceBody::Rust {
                    run,
                    checksum_source,
                } => out.push(Migration {
                    version: m.version,
                    name: m.name.clone(),
                    up: run.clone(),
                    down: None,
                    down_origin: None,
                    origin: format!("rust:{}", m.name),
                    checksum: rust_checksum(checksum_source),
                    directives: Directives::default(),
                }),
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(SourceError::Invalid(problems))
        }
    }
}

/// Embed a migrations directory in the binary at compile time:
/// `let source = plinth::embed_migrations!("$CARGO_MANIFEST_DIR/migrations")?;`
/// (add `println!("cargo:rerun-if-changed=migrations")` to a build script so edits trigger a rebuild).
#[macro_export]
macro_rules! embed_migrations {
    ($path:tt) => {{
        static DIR: $crate::include_dir::Dir<'static> = $crate::include_dir::include_dir!($path);
        $crate::migrate::MigrationSource::from_embedded(&DIR)
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(files: &[(&str, &str)]) -> Result<MigrationSource, SourceError> {
        MigrationSource::from_files(
            files
                .iter()
                .map(|(n, c)| (n.to_string(), n.to_string(), Ok(c.to_string()))),
        )
    }

    #[test]
    fn file_names() {
        assert_eq!(
            parse_file_name("0001_init.sql").unwrap(),
            FileName {
                version: 1,
                name: "init".into(),
                backend: None,
                down: false
            }
        );
        let f = parse_file_name("0012_add_users.postgres.down.sql").unwrap();
        assert_eq!((f.version, f.backend, f.down), (12, Some("postgres"), true));
        for bad in [
            "init.sql",
            "x_init.sql",
            "0000_zero.sql",
            "0001_a.oracle.sql",
            "0001_.sql",
            "0001_a b.sql",
            "1_a.b.c.up.sql",
        ] {
            assert!(parse_file_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn checksum_ignores_bom_and_line_endings() {
        let lf = "CREATE TABLE a (id INT);\nSELECT 1;\n";
        assert_eq!(
            checksum(lf),
            checksum("\u{feff}CREATE TABLE a (id INT);\r\nSELECT 1;\r\n")
        );
        assert_ne!(
            checksum(lf),
            checksum("CREATE TABLE b (id INT);\nSELECT 1;\n")
        );
    }

    #[test]
    fn variants_replace_plain_file_per_backend() {
        let s = src(&[
            ("0001_a.up.sql", "CREATE TABLE a (id INT);"),
            ("0001_a.down.sql", "DROP TABLE a;"),
            ("0001_a.postgres.up.sql", "CREATE TABLE a (id BIGINT);"),
            (
                "0001_a.mysql.up.sql",
                "CREATE TABLE a (id BIGINT UNSIGNED);",
            ),
        ])
        .unwrap();
        let pg = s.resolve(Backend::Postgres).unwrap();
        assert_eq!(pg[0].sql(), Some("CREATE TABLE a (id BIGINT);"));
        assert_eq!(pg[0].down.as_deref(), Some("DROP TABLE a;"));
        let maria = s.resolve(Backend::MariaDb).unwrap();
        assert_eq!(maria[0].sql(), Some("CREATE TABLE a (id BIGINT UNSIGNED);"));
        let lite = s.resolve(Backend::Sqlite).unwrap();
        assert_eq!(lite[0].sql(), Some("CREATE TABLE a (id INT);"));
    }

    #[test]
    fn problems_are_all_reported_by_name() {
        let err = src(&[
            ("0001_a.sql", "SELECT 1;"),
            ("0001_b.sql", "SELECT 2;"),
            ("0002_empty.sql", "-- nothing here\n\n"),
            ("bad-name.sql", "SELECT 1;"),
            ("0003_c.sql", "SELECT 1;"),
            ("0003_c.up.sql", "SELECT 1;"),
            ("0004_d.down.sql", "SELECT 1;"),
            ("0005_e.sql", "-- plinth:no-transactoin\nSELECT 1;"),
        ])
        .unwrap_err();
        let SourceError::Invalid(problems) = err else {
            panic!()
        };
        let text = problems
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        for needle in [
            "0001_b.sql: duplicate version 1",
            "0002_empty.sql: the file is empty",
            "bad-name.sql: bad file name",
            "0003_c.up.sql: same migration",
            "down file for version 4 has no up file",
            "unknown directive `plinth:no-transactoin`",
        ] {
            assert!(text.contains(needle), "missing `{needle}` in:\n{text}");
        }
    }

    #[test]
    fn directives() {
        let d = Directives::parse("-- plinth:no-transaction\n-- plinth:requires postgres partial_indexes\nCREATE INDEX CONCURRENTLY i ON t (a);\n-- plinth:requires mysql\n").unwrap();
        assert!(d.no_transaction);
        assert_eq!(d.requires, vec!["postgres", "partial_indexes"]);
        assert_eq!(
            Directives::parse("SELECT 1;").unwrap(),
            Directives::default()
        );
    }
}
