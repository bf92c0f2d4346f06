//! Command-line surface (clap) and the per-invocation context every command shares.

use clap::{Args, Parser, Subcommand, ValueEnum};
use plinth::backend::{ConnectConfig, Db, DEFAULT_DATABASE_URL};
use plinth::migrate::{
    MigrateOptions, MigrationSource, PlanOptions, SourceDigests, SourceError, TxMode,
    UpToDateCheck, DEFAULT_HISTORY_TABLE,
};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;

/// Safe, observable schema changes for PostgreSQL, MySQL/MariaDB and SQLite.
#[derive(Parser, Debug)]
#[command(name = "plinth", version, about, propagate_version = true)]
pub struct Cli {
    /// Database URL (postgres://, mysql://, mariadb://, sqlite:); else DATABASE_URL; else the
    /// config file's database_url; else sqlite:plinth.db.
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Directory of migration files; else the config file's source; else ./migrations.
    #[arg(long, global = true)]
    pub source: Option<PathBuf>,
    /// Name of the history table; else the config file's history_table; else
    /// plinth_migration_history.
    #[arg(long, global = true)]
    pub history_table: Option<String>,
    /// Config file (TOML with database_url, source, history_table); else PLINTH_CONFIG; else
    /// ./plinth.toml when there is one. Flags and environment variables win over it.
    #[arg(long, global = true, env = "PLINTH_CONFIG")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// More logging (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less logging (errors only).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Read every migration file instead of recognising unchanged ones from the checksum cache
    /// (kept in $PLINTH_CACHE_DIR, else $XDG_CACHE_HOME/plinth or ~/.cache/plinth).
    #[arg(long, global = true)]
    pub no_checksum_cache: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable tables.
    Text,
    /// Stable JSON for scripts.
    Json,
}

/// Transaction modes as flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TxModeArg {
    /// Each migration in its own transaction.
    PerMigration,
    /// All pending migrations in one transaction.
    All,
    /// No transactions.
    None,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Apply pending migrations.
    Migrate(MigrateArgs),
    /// Roll back applied migrations with their down files.
    Down(DownArgs),
    /// Show every migration's state.
    Status(StatusArgs),
    /// Show the audit trail of attempts, failures, reverts and repairs.
    History(HistoryArgs),
    /// Check files against history (edited, missing, out of order, interrupted).
    Validate,
    /// Accept edited files' checksums, or settle an interrupted migration.
    Repair(RepairArgs),
    /// Create a new migration file pair with the next version.
    New(NewArgs),
    /// Check migration files for statements that are unsafe or unportable (reads files only).
    Lint(crate::commands::lint::LintArgs),
    /// Show what the connected server (or a named backend and version) can do, or check portability.
    Compat(crate::commands::compat::CompatArgs),
    /// Explain a SQLSTATE, MySQL/MariaDB error number or SQLite result code (no database needed).
    Explain(crate::commands::explain::ExplainArgs),
    /// Show what the server sees: sessions by state, limits and headroom, sessions idle in transaction.
    Doctor(crate::commands::doctor::DoctorArgs),
    /// Drive a real connection pool on the database to watch the diagnostics react.
    Pool(crate::commands::pool::PoolArgs),
}

/// Flags for `migrate`.
#[derive(Args, Debug)]
pub struct MigrateArgs {
    /// Apply nothing above this version.
    #[arg(long)]
    pub target: Option<i64>,
    /// Print what would run and where transactions begin and end; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How migrations are grouped into transactions.
    #[arg(long, value_enum, default_value_t = TxModeArg::PerMigration)]
    pub tx_mode: TxModeArg,
    /// Seconds to wait for another migrator's lock.
    #[arg(long, default_value_t = 60)]
    pub lock_timeout: u64,
    /// Apply migrations older than the newest applied one.
    #[arg(long)]
    pub allow_out_of_order: bool,
    /// Proceed although applied files were edited.
    #[arg(long)]
    pub allow_checksum_mismatch: bool,
    /// Proceed although applied migrations' files are missing.
    #[arg(long)]
    pub ignore_missing: bool,
    /// Accept --tx-mode all where DDL commits implicitly (MySQL, MariaDB).
    #[arg(long)]
    pub allow_non_atomic: bool,
    /// PostgreSQL: after migrating, wait up to SECS until every streaming replica has replayed
    /// the primary's WAL, and report each replica's lag (exit 6 if one is still behind).
    #[arg(long, value_name = "SECS")]
    pub wait_replicas: Option<u64>,
    /// Fleet mode: many target databases.
    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// Flags for `status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Fleet mode: many target databases.
    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// Fleet mode: run against many databases (tenants) instead of one.
#[derive(Args, Debug, Clone)]
pub struct FleetArgs {
    /// A file with one database URL a line (`#` comments allowed).
    #[arg(long, value_name = "FILE", conflicts_with = "targets_query")]
    pub targets: Option<PathBuf>,
    /// A query run on --database-url whose first column lists tenant database names on that server.
    #[arg(long, value_name = "SQL")]
    pub targets_query: Option<String>,
    /// How many targets at once (default: the number of cores).
    #[arg(long, value_name = "N")]
    pub parallel: Option<usize>,
}

impl FleetArgs {
    /// Whether fleet mode was asked for.
    pub fn active(&self) -> bool {
        self.targets.is_some() || self.targets_query.is_some()
    }
}

/// Flags for `down`.
#[derive(Args, Debug)]
pub struct DownArgs {
    /// Roll back every migration above this version.
    #[arg(long, conflicts_with = "steps")]
    pub to: Option<i64>,
    /// Roll back this many migrations (default 1).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Print what would run; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Seconds to wait for another migrator's lock.
    #[arg(long, default_value_t = 60)]
    pub lock_timeout: u64,
}

/// Flags for `history`.
#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Only this migration version's events.
    #[arg(long, value_name = "VERSION")]
    pub migration: Option<i64>,
}

/// Flags for `repair`.
#[derive(Args, Debug)]
pub struct RepairArgs {
    /// Mark an interrupted or failed migration as applied (inspect the schema first).
    #[arg(long, conflicts_with = "mark_rolled_back")]
    pub mark_applied: Option<i64>,
    /// Mark an interrupted or failed migration as rolled back (pending again).
    #[arg(long, conflicts_with = "resume")]
    pub mark_rolled_back: Option<i64>,
    /// Let an interrupted MySQL/MariaDB migration continue, on the next `migrate`, from the first
    /// statement not journaled as committed.
    #[arg(long, value_name = "VERSION", conflicts_with = "mark_applied")]
    pub resume: Option<i64>,
    /// With --resume: continue from this statement (1-based) instead, after checking by hand.
    #[arg(long, value_name = "N", requires = "resume")]
    pub from_statement: Option<i64>,
    /// Seconds to wait for another migrator's lock.
    #[arg(long, default_value_t = 60)]
    pub lock_timeout: u64,
}

/// Flags for `new`.
#[derive(Args, Debug)]
pub struct NewArgs {
    /// The migration's name (letters, digits, `_`, `-`).
    pub name: String,
    /// Create a single NNNN_name.sql without a down file.
    #[arg(long)]
    pub no_down: bool,
}

/// A failure to report: the message (secrets already removed) and the exit code.
#[derive(Debug)]
pub struct CliError {
    /// Exit code per design.md: 1 failed, 2 usage, 3 unreachable, 4 lock, 5 interrupted.
    pub code: i32,
    /// What to tell the user.
    pub message: String,
}

impl CliError {
    /// Build an error.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
        }
    }
}

/// `plinth.toml`: the settings a project keeps beside its migrations, below flags and environment
/// variables. Unknown keys are refused, so that a misspelt one is not silently ignored.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    /// Relative to the file's directory.
    source: Option<PathBuf>,
    history_table: Option<String>,
}

impl FileConfig {
    /// The file named by `--config`/`PLINTH_CONFIG` (which must exist), else `./plinth.toml` if
    /// there is one, else nothing.
    fn load(explicit: Option<&Path>) -> Result<FileConfig, CliError> {
        let default = Path::new("plinth.toml");
        let path = match explicit {
            Some(p) => p,
            None if default.is_file() => default,
            None => return Ok(FileConfig::default()),
        };
        let bad =
            |what: String| CliError::new(2, format!("config file {}: {what}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        // The error's own rendering quotes the offending line, which may hold a password: only
        // its position and message are shown.
        let mut file: FileConfig = toml::from_str(&text).map_err(|e| {
            let at = e.span().map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                format!("line {line}, column {column}: ")
            });
            bad(format!(
                "{}{}",
                at.unwrap_or_default(),
                e.message().trim_end()
            ))
        })?;
        if let Some(source) = file.source.take() {
            let dir = path.parent().unwrap_or(Path::new(""));
            file.source = Some(if source.is_relative() {
                dir.join(source)
            } else {
                source
            });
        }
        Ok(file)
    }
}

/// What every command needs: where the database and migrations are, and how to print.
pub struct Context {
    /// The database URL (never printed as is).
    pub url: String,
    /// Secrets to scrub from every output.
    pub secrets: Vec<String>,
    /// Migrations directory.
    pub source_dir: PathBuf,
    /// Where the checksum cache lives (None: read every file).
    cache_dir: Option<PathBuf>,
    /// History table.
    pub history_table: String,
    /// Output format.
    pub format: Format,
    /// The migrations directory being read in the background (see [`Context::prefetch`]).
    source_read: Mutex<Option<JoinHandle<Result<MigrationSource, SourceError>>>>,
    /// A connection opened while the directory was read (see [`Context::prefetch`]).
    connection: Mutex<Option<Result<Db, CliError>>>,
    /// `migrate`'s up-to-date query, answered while the directory was read.
    check: Mutex<Option<UpToDateCheck>>,
    /// The reading thread's first answer for `migrate`: the cached digests of an unchanged
    /// directory, sent before the source is built (see [`Context::cached_digests`]).
    digests: Mutex<Option<oneshot::Receiver<Option<SourceDigests>>>>,
    /// Held while the reading thread, having found the directory unchanged, waits to learn whether
    /// the source is needed at all; dropped by [`Context::source`] to let it build.
    build_gate: Mutex<Option<std::sync::mpsc::Sender<()>>>,
}

impl Context {
    /// Build the context from the parsed flags.
    pub fn new(cli: &Cli) -> Result<Context, CliError> {
        let file = FileConfig::load(cli.config.as_deref())?;
        let url = cli
            .database_url
            .clone()
            .filter(|u| !u.trim().is_empty())
            .or(file.database_url.filter(|u| !u.trim().is_empty()))
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string());
        Ok(Context {
            secrets: plinth::redact::secrets_of(&url),
            url,
            source_dir: cli
                .source
                .clone()
                .or(file.source)
                .unwrap_or_else(|| PathBuf::from("migrations")),
            cache_dir: if cli.no_checksum_cache {
                None
            } else {
                plinth::migrate::default_cache_dir()
            },
            history_table: cli
                .history_table
                .clone()
                .or(file.history_table)
                .unwrap_or_else(|| DEFAULT_HISTORY_TABLE.to_string()),
            format: cli.format,
            source_read: Mutex::new(None),
            connection: Mutex::new(None),
            check: Mutex::new(None),
            digests: Mutex::new(None),
            build_gate: Mutex::new(None),
        })
    }

    /// Whether a command reads the migrations directory and then connects to one database: for
    /// those, [`Context::prefetch`] does both at once.
    pub fn prefetches(command: &Command) -> bool {
        match command {
            Command::Migrate(a) => !a.fleet.active(),
            Command::Status(a) => !a.fleet.active(),
            Command::Validate => true,
            _ => false,
        }
    }

    /// Start reading the migrations directory on another thread, so that the files are read while
    /// the runtime starts and the connection is made (an up-to-date `migrate` is mostly these two
    /// waits). Call it first thing; [`Context::source`] collects the result.
    pub fn start_source_read(&self, command: &Command) {
        let dir = self.source_dir.clone();
        let cache = self.cache_dir.clone();
        // `migrate` first asks the cache whether the directory is unchanged: if so, its digests
        // may answer the up-to-date check before the source is built (or without it).
        // When they do, the source is built only if asked for: an up-to-date run never waits for
        // it, and it does not compete for the CPU with the rest of the run.
        let probe = match (command, &cache) {
            (Command::Migrate(_), Some(_)) => {
                let (tx, rx) = oneshot::channel();
                let (gate, gate_rx) = std::sync::mpsc::channel::<()>();
                if let (Ok(mut digests), Ok(mut build_gate)) =
                    (self.digests.lock(), self.build_gate.lock())
                {
                    *digests = Some(rx);
                    *build_gate = Some(gate);
                }
                Some((tx, gate_rx))
            }
            _ => None,
        };
        let handle = std::thread::Builder::new()
            .name("plinth-source".into())
            .spawn(move || {
                if let (Some((tx, gate)), Some(cache)) = (probe, cache.as_deref()) {
                    let digests = MigrationSource::cached_digests(&dir, cache);
                    let found = digests.is_some();
                    let _ = tx.send(digests);
                    if found {
                        // Returns when the gate is dropped: the source is wanted after all.
                        let _ = gate.recv();
                    }
                }
                MigrationSource::from_dir_cached(&dir, cache.as_deref())
            });
        if let (Ok(handle), Ok(mut slot)) = (handle, self.source_read.lock()) {
            *slot = Some(handle);
        }
    }

    /// The source will not be needed (the cached digests answered): the reading thread stays
    /// parked until the process exits instead of building it while the run finishes.
    pub fn source_not_needed(&self) {
        if let Some(gate) = self.build_gate.lock().ok().and_then(|mut g| g.take()) {
            std::mem::forget(gate);
        }
    }

    /// The cached digests of the migrations directory, when the reading thread found it unchanged
    /// ([`MigrationSource::cached_digests`]); None otherwise, or when it was not asked.
    pub async fn cached_digests(&self) -> Option<SourceDigests> {
        let rx = self.digests.lock().ok().and_then(|mut slot| slot.take())?;
        rx.await.ok().flatten()
    }

    /// Connect now, while the directory is being read; [`Context::connect`] hands the connection
    /// (or its error) to the command, which reports errors in its usual order. For `migrate`, also
    /// send the up-to-date check's query, which needs no source ([`Context::take_check`]).
    pub async fn prefetch(&self, command: &Command) {
        if self.connecting_creates_a_file() {
            // Connecting would create the file; leave that to the command, after the source is
            // known to be valid, as before.
            return;
        }
        let mut db = self.open().await;
        if let (Command::Migrate(_), Ok(db)) = (command, &mut db) {
            let check = UpToDateCheck::run(db, &self.history_table).await;
            if let Ok(mut slot) = self.check.lock() {
                *slot = Some(check);
            }
        }
        if let Ok(mut slot) = self.connection.lock() {
            *slot = Some(db);
        }
    }

    /// The up-to-date check [`Context::prefetch`] made, if any.
    pub fn take_check(&self) -> Option<UpToDateCheck> {
        self.check.lock().ok().and_then(|mut slot| slot.take())
    }

    /// Whether JSON was asked for.
    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    /// Remove secrets from text about to be shown.
    pub fn scrub(&self, text: &str) -> String {
        plinth::redact::scrub(text, &self.secrets)
    }

    /// Whether connecting would create a database file (a SQLite URL naming no existing file, or
    /// an in-memory database): then a command checks its input before connecting.
    pub fn connecting_creates_a_file(&self) -> bool {
        let Some(rest) = self.url.strip_prefix("sqlite:") else {
            return false;
        };
        let path = rest.strip_prefix("//").unwrap_or(rest);
        let path = path.split('?').next().unwrap_or(path);
        path.is_empty() || path.contains(":memory:") || !Path::new(path).is_file()
    }

    /// Connect (or take the connection [`Context::prefetch`] made), mapping failures to exit 2
    /// (bad URL) or 3 (unreachable).
    pub async fn connect(&self) -> Result<Db, CliError> {
        let prefetched = self.connection.lock().ok().and_then(|mut slot| slot.take());
        match prefetched {
            Some(db) => db,
            None => self.open().await,
        }
    }

    async fn open(&self) -> Result<Db, CliError> {
        Db::connect(&self.url, &ConnectConfig::default())
            .await
            .map_err(|e| {
                let code = match e {
                    plinth::backend::ConnectError::Unreachable { .. } => 3,
                    _ => 2,
                };
                CliError::new(code, self.scrub(&e.to_string()))
            })
    }

    /// Read the migrations directory (or collect the read [`Context::start_source_read`] began).
    pub fn source(&self) -> Result<MigrationSource, CliError> {
        if let Ok(mut gate) = self.build_gate.lock() {
            gate.take();
        }
        let started = self
            .source_read
            .lock()
            .ok()
            .and_then(|mut slot| slot.take());
        let read = match started.map(JoinHandle::join) {
            Some(Ok(read)) => read,
            // The reading thread panicked or was never started: read here.
            Some(Err(_)) | None => {
                MigrationSource::from_dir_cached(&self.source_dir, self.cache_dir.as_deref())
            }
        };
        read.map_err(|e| CliError::new(1, self.scrub(&e.to_string())))
    }

    /// Migrator options from the shared flags.
    pub fn options(&self) -> MigrateOptions {
        MigrateOptions {
            history_table: self.history_table.clone(),
            ..Default::default()
        }
    }

    /// Options for `migrate`.
    pub fn migrate_options(&self, a: &MigrateArgs) -> MigrateOptions {
        MigrateOptions {
            plan: PlanOptions {
                target: a.target,
                allow_out_of_order: a.allow_out_of_order,
                allow_checksum_mismatch: a.allow_checksum_mismatch,
                ignore_missing: a.ignore_missing,
            },
            tx_mode: match a.tx_mode {
                TxModeArg::PerMigration => TxMode::PerMigration,
                TxModeArg::All => TxMode::All,
                TxModeArg::None => TxMode::None,
            },
            lock_timeout: Duration::from_secs(a.lock_timeout),
            allow_non_atomic: a.allow_non_atomic,
            dry_run: a.dry_run,
            ..self.options()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
