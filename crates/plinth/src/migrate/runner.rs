//! The runner carries out a plan, top to bottom: read history (one query), plan, stop if there is
//! nothing to do; otherwise lock, re-read, and apply each migration in the chosen transaction mode,
//! recording every outcome. Failures are recorded after the rollback, in their own transaction.

// MigrateError carries what a user needs to act; it is returned once per run, so its size is not hot.
#![allow(clippy::result_large_err)]

use super::history::{
    digest_key, EventWrite, Fingerprint, History, HistoryError, HistoryEvent, HistoryRecord,
    RowWrite, Status,
};
use super::lock::{self, LockError};
use super::plan::{plan, plan_owned, Blocker, Plan, PlanOptions, State};
use super::source::{Body, Migration, MigrationSource, SourceDigests, SourceError};
use crate::backend::{Backend, ConnectConfig, ConnectError, Db, Driver, ServerInfo};
use serde::Serialize;
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub mod split;

/// From how many pending migrations `migrate` lints on two threads.
const PARALLEL_LINT_FROM: usize = 128;

/// How migrations are grouped into transactions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TxMode {
    /// Each migration and its history row commit together (the default).
    #[default]
    PerMigration,
    /// Every pending migration in one transaction: all or nothing.
    All,
    /// No transactions: each statement commits as it runs.
    None,
}

/// Everything that tunes a run.
#[derive(Clone, Debug)]
pub struct MigrateOptions {
    /// The history table's name.
    pub history_table: String,
    /// What the plan accepts.
    pub plan: PlanOptions,
    /// Transaction grouping.
    pub tx_mode: TxMode,
    /// How long to wait for another migrator's lock.
    pub lock_timeout: Duration,
    /// Accept `--tx-mode all` on a backend whose DDL commits implicitly.
    pub allow_non_atomic: bool,
    /// Show what would run without changing anything.
    pub dry_run: bool,
    /// Options for the lock's own connection.
    pub connect: ConnectConfig,
}

impl Default for MigrateOptions {
    fn default() -> Self {
        MigrateOptions {
            history_table: super::history::DEFAULT_HISTORY_TABLE.to_string(),
            plan: PlanOptions::default(),
            tx_mode: TxMode::default(),
            lock_timeout: Duration::from_secs(60),
            allow_non_atomic: false,
            dry_run: false,
            connect: ConnectConfig::default(),
        }
    }
}

/// Progress reports, for progress bars and logs.
#[derive(Clone, Debug)]
pub enum RunEvent<'a> {
    /// The run starts with this many migrations to apply.
    Planned {
        /// How many.
        total: usize,
    },
    /// A migration starts.
    Started {
        /// The migration.
        migration: &'a Migration,
    },
    /// A migration finished.
    Applied {
        /// The migration.
        migration: &'a Migration,
        /// How long it took.
        duration: Duration,
    },
    /// A migration was skipped.
    Skipped {
        /// The migration.
        migration: &'a Migration,
        /// Why.
        reason: &'a str,
    },
}

/// Receives progress reports; the default ignores them.
pub trait Observer: Send + Sync {
    /// Called for each event.
    fn event(&self, _event: &RunEvent<'_>) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}

/// One migration this run applied (or would apply, in a dry run).
#[derive(Clone, Debug, Serialize)]
pub struct Applied {
    /// Version.
    pub version: i64,
    /// Name.
    pub name: String,
    /// Milliseconds (0 in a dry run).
    pub duration_ms: i64,
    /// `applied` or `skipped`.
    pub outcome: &'static str,
    /// The reason a migration was skipped.
    pub reason: Option<String>,
}

/// One step of a dry run: what would run, and where the transaction boundaries fall.
#[derive(Clone, Debug, Serialize)]
pub struct DryRunStep {
    /// Version.
    pub version: i64,
    /// Name.
    pub name: String,
    /// The file.
    pub origin: String,
    /// The SQL (None for Rust migrations).
    pub sql: Option<String>,
    /// How it would be wrapped.
    pub transaction: String,
}

/// What a `migrate` run did.
#[derive(Clone, Debug, Serialize)]
pub struct MigrateReport {
    /// The server.
    pub server: ServerInfo,
    /// Migrations applied or skipped, in order.
    pub applied: Vec<Applied>,
    /// The steps a dry run would take.
    pub dry_run: Option<Vec<DryRunStep>>,
    /// Whether the fast path answered (one query, no lock).
    pub fast_path: bool,
}

impl MigrateReport {
    /// The answer of the up-to-date check: nothing to do, found with one query and no lock.
    pub fn up_to_date(server: ServerInfo) -> MigrateReport {
        MigrateReport {
            server,
            applied: Vec::new(),
            dry_run: None,
            fast_path: true,
        }
    }
}

/// A `status` answer.
#[derive(Clone, Debug, Serialize)]
pub struct StatusReport {
    /// The server.
    pub server: ServerInfo,
    /// The plan (every migration's state).
    pub plan: Plan,
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The migration source is invalid.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The history table could not be read or written.
    #[error(transparent)]
    History(#[from] HistoryError),
    /// No connection.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The lock was not taken.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// A database error outside any migration.
    #[error("database error: {}", crate::errors::display(.0))]
    Database(#[from] sqlx::Error),
    /// `--tx-mode all`: the batch's COMMIT failed (a deferred constraint), so nothing was applied.
    #[error("COMMIT of the batch failed, so none of migrations {} were applied: {error} (a deferred constraint is checked at COMMIT; find the migration that breaks it)", .versions.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", "))]
    BatchCommit {
        /// The versions the batch held.
        versions: Vec<i64>,
        /// The database's message.
        error: String,
        /// The driver error, for classification.
        source: sqlx::Error,
    },
    /// The plan found problems that must be fixed first.
    #[error("refusing to migrate:\n{}", .0.iter().map(|b| format!("  - {b}")).collect::<Vec<_>>().join("\n"))]
    Blocked(Vec<Blocker>),
    /// An earlier run was interrupted.
    #[error("refusing to migrate: {0}")]
    Interrupted(Box<Interruption>),
    /// Pending migrations have error-level lint findings for this backend; nothing ran.
    #[error("refusing to migrate: `plinth lint` finds errors in pending migrations:\n{}", .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Lint(Vec<String>),
    /// The options cannot be honoured on this backend or with these files.
    #[error("{0}")]
    Refused(String),
    /// A migration failed; it is recorded as failed.
    #[error("migration {version} `{name}` ({origin}) failed: {error}{}{}", detail.as_ref().map(|d| format!("; {d}")).unwrap_or_default(), if rolled_back.is_empty() { String::new() } else { format!("; the whole batch was rolled back, so {} are pending again", rolled_back.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")) })]
    Failed {
        /// Version.
        version: i64,
        /// Name.
        name: String,
        /// File.
        origin: String,
        /// The database's message.
        error: String,
        /// For statement-by-statement runs: which statement failed and how many committed.
        detail: Option<String>,
        /// The driver error, for classification.
        source: Option<sqlx::Error>,
        /// Versions rolled back with it (`--tx-mode all`).
        rolled_back: Vec<i64>,
    },
}

/// An interrupted run found in history: the blocker, and for statement-by-statement migrations
/// which statement was running when it stopped, so the user knows what to inspect.
#[derive(Clone, Debug, Serialize)]
pub struct Interruption {
    /// The `running` row as the plan sees it.
    pub blocker: Blocker,
    /// The first statement not recorded as committed (1-based) and its text, when known.
    pub next_statement: Option<(i64, String)>,
    /// Whether `repair --resume` applies (the migration ran statement by statement).
    pub resumable: bool,
}

impl std::fmt::Display for Interruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.blocker)?;
        if let Blocker::Interrupted { version, .. } = &self.blocker {
            if let Some((n, text)) = &self.next_statement {
                write!(
                    f,
                    ". Statement {n} (`{text}`) was running when the run stopped: if it is DDL it may have \
                     committed without being journaled, otherwise it did not take effect"
                )?;
            }
            if self.resumable {
                let n = self.next_statement.as_ref().map(|(n, _)| *n).unwrap_or(1);
                write!(
                    f,
                    ". To continue where it stopped: `plinth repair --resume {version}` (runs from statement {n} \
                     on the next `migrate`), or `plinth repair --resume {version} --from-statement {}` if statement {n} did take effect",
                    n + 1
                )?;
            }
        }
        Ok(())
    }
}

/// Options for `down`.
#[derive(Clone, Debug, Default)]
pub struct DownOptions {
    /// Roll back everything above this version.
    pub to: Option<i64>,
    /// Roll back this many (default 1 when `to` is absent).
    pub steps: Option<usize>,
    /// Show, change nothing.
    pub dry_run: bool,
}

/// What `repair` should do.
#[derive(Clone, Debug, Default)]
pub struct RepairOptions {
    /// Mark an interrupted or failed migration applied (after checking the schema by hand).
    pub mark_applied: Option<i64>,
    /// Mark an interrupted or failed migration rolled back (pending again).
    pub mark_rolled_back: Option<i64>,
    /// Make an interrupted (or failed) statement-by-statement migration resume on the next `migrate`
    /// from the first statement not journaled as committed.
    pub resume: Option<i64>,
    /// With `resume`: the 1-based statement to resume from instead (after checking by hand that the
    /// statements before it took effect).
    pub from_statement: Option<i64>,
}

/// What `repair` changed.
#[derive(Clone, Debug, Serialize)]
pub struct RepairReport {
    /// (version, what was done).
    pub changes: Vec<(i64, String)>,
}

/// Applies migrations from a source to a database and answers questions about them.
pub struct Migrator {
    source: MigrationSource,
    options: MigrateOptions,
}

fn db_message(e: &(dyn std::error::Error + 'static)) -> String {
    if let Some(sqlx::Error::Database(d)) = e.downcast_ref::<sqlx::Error>() {
        return d.message().to_string();
    }
    e.to_string()
}

/// The server's half of `migrate`'s up-to-date check: one query that needs no migration source, so
/// a caller can send it while the source is still being read (the CLI does) and pass the answer to
/// [`Migrator::migrate_checked`].
#[derive(Debug)]
pub struct UpToDateCheck(Result<Option<Fingerprint>, HistoryError>);

impl UpToDateCheck {
    /// Send the check's query ([`History::fingerprint`]) for this history table.
    pub async fn run(db: &mut Db, history_table: &str) -> UpToDateCheck {
        let answer = match History::new(history_table, db.driver) {
            Ok(history) => history.fingerprint(db).await,
            Err(e) => Err(e),
        };
        UpToDateCheck(answer)
    }

    /// Whether the database is up to date with a source known only by its digests (a directory
    /// the checksum cache found unchanged, [`MigrationSource::cached_digests`]): Some(server) when
    /// it is. None means only the full read can tell: build the source and call
    /// [`Migrator::migrate_checked`] with this same check.
    pub async fn matches(
        &self,
        db: &mut Db,
        digests: &SourceDigests,
    ) -> Result<Option<ServerInfo>, MigrateError> {
        self.verdict(db, |b| digests.get(b).map(str::to_owned))
            .await
    }

    /// Compare the server's digest with the source's (`expected`, as a [`digest_key`]): Some(server)
    /// only when they are equal and no run is in progress.
    async fn verdict(
        &self,
        db: &mut Db,
        expected: impl FnOnce(Backend) -> Option<String>,
    ) -> Result<Option<ServerInfo>, MigrateError> {
        let fingerprint = match &self.0 {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(None),
            Err(e) => {
                // An old server without sha256(), say: the full read is always correct.
                tracing::debug!(error = %e, "up-to-date check failed; reading history instead");
                return Ok(None);
            }
        };
        let server = server_from(db, &fingerprint.server_version).await?;
        if fingerprint.running != 0 {
            return Ok(None);
        }
        let same =
            expected(server.backend).is_some_and(|key| key == digest_key(&fingerprint.digest));
        Ok(same.then_some(server))
    }
}

/// The server's half of `status`: every history row and the server's identity, read without a
/// migration source, so a caller can read it while the source is still being built (the CLI does)
/// and pass it to [`Migrator::status_from`].
#[derive(Debug)]
pub struct HistoryRead(Result<(ServerInfo, Vec<HistoryRecord>), MigrateError>);

impl HistoryRead {
    /// Read this history table.
    pub async fn run(db: &mut Db, history_table: &str) -> HistoryRead {
        let read = match History::new(history_table, db.driver) {
            Ok(history) => read_history(db, &history).await,
            Err(e) => Err(e.into()),
        };
        HistoryRead(read.map(|(server, rows, _)| (server, rows)))
    }
}

impl Migrator {
    /// A migrator for this source.
    pub fn new(source: MigrationSource, options: MigrateOptions) -> Self {
        Migrator { source, options }
    }

    /// The options in force.
    pub fn options(&self) -> &MigrateOptions {
        &self.options
    }

    fn history(&self, db: &Db) -> Result<History, HistoryError> {
        History::new(&self.options.history_table, db.driver)
    }

    /// Read history (one query) and learn the server's identity from the same answer.
    async fn read(
        &self,
        db: &mut Db,
        history: &History,
    ) -> Result<(ServerInfo, Vec<HistoryRecord>, bool), MigrateError> {
        read_history(db, history).await
    }

    /// The fast path of `migrate`, one query: Some(server) when history's digest equals the
    /// source's, so nothing can be pending, edited, missing or interrupted; None sends the caller
    /// to the full read and plan (which also explains any difference).
    async fn up_to_date(
        &self,
        db: &mut Db,
        check: &UpToDateCheck,
    ) -> Result<Option<ServerInfo>, MigrateError> {
        check
            .verdict(db, |b| {
                let digest = self.source.expected_digest(b)?;
                Some(digest_key(&digest))
            })
            .await
    }

    /// Every migration's state, without changing anything.
    pub async fn status(&self, db: &mut Db) -> Result<StatusReport, MigrateError> {
        let read = HistoryRead::run(db, &self.options.history_table).await;
        self.status_from(read)
    }

    /// [`Migrator::status`] with history already read (see [`HistoryRead`]); it must come from the
    /// same history table.
    pub fn status_from(&self, read: HistoryRead) -> Result<StatusReport, MigrateError> {
        let (server, rows) = read.0?;
        // Status needs checksums, not SQL: files the checksum cache recognised stay unread.
        let migrations = self.source.resolve_for_plan(server.backend)?;
        let plan = plan_owned(&migrations, rows, &self.options.plan);
        Ok(StatusReport { server, plan })
    }

    /// The audit trail.
    pub async fn events(
        &self,
        db: &mut Db,
        version: Option<i64>,
    ) -> Result<Vec<HistoryEvent>, MigrateError> {
        let history = self.history(db)?;
        Ok(history.events(db, version).await?)
    }

    fn check_blockers(
        plan: &Plan,
        backend: Backend,
        migrations: &[Migration],
    ) -> Result<(), MigrateError> {
        if let Some(b) = plan.interrupted() {
            let mut next_statement = None;
            let mut resumable = false;
            if let Blocker::Interrupted {
                version,
                statements_applied: Some(done),
                statements_total: Some(_),
                ..
            } = b
            {
                resumable = true;
                if let Some(sql) = migrations
                    .iter()
                    .find(|m| m.version == *version)
                    .and_then(|m| m.sql())
                {
                    let _ = backend;
                    let stmts = split::split_mysql(sql);
                    if let Some(st) = stmts.get(*done as usize) {
                        next_statement = Some((done + 1, st.snippet()));
                    }
                }
            }
            return Err(MigrateError::Interrupted(Box::new(Interruption {
                blocker: b.clone(),
                next_statement,
                resumable,
            })));
        }
        if !plan.blockers.is_empty() {
            return Err(MigrateError::Blocked(plan.blockers.clone()));
        }
        Ok(())
    }

    fn transactional(&self, backend: Backend, m: &Migration) -> bool {
        !m.directives.no_transaction
            && self.options.tx_mode != TxMode::None
            && !backend.is_mysql_family()
    }

    fn describe_tx(&self, backend: Backend, m: &Migration) -> String {
        if m.directives.no_transaction {
            "none: `-- plinth:no-transaction` (a `running` row is committed first)".into()
        } else if self.options.tx_mode == TxMode::None {
            "none: --tx-mode none (a `running` row is committed first)".into()
        } else if backend.is_mysql_family() {
            format!("none: {backend} commits DDL implicitly; statements run one by one after a `running` row is committed")
        } else if self.options.tx_mode == TxMode::All {
            "BEGIN … (one transaction for the whole batch) … COMMIT".into()
        } else {
            "BEGIN; migration; history row; COMMIT".into()
        }
    }

    fn requirement_unmet(
        backend: Backend,
        info: Option<&ServerInfo>,
        m: &Migration,
    ) -> Option<String> {
        let version = info.map(|i| i.version).unwrap_or_default();
        for req in &m.directives.requires {
            let met = match Backend::parse(req) {
                Some(Backend::MySql) => backend.is_mysql_family(),
                Some(b) => b == backend,
                None => match crate::migrate::capability_check(req, backend, version) {
                    Some(met) => met,
                    None => return Some(format!("unknown requirement `{req}`")),
                },
            };
            if !met {
                return Some(format!("requires {req}, not available on {backend}"));
            }
        }
        None
    }

    /// Refuse, before anything runs, pending SQL migrations with error-level lint findings for this
    /// backend (a statement that cannot run in a transaction inside one, a type the backend lacks, …).
    /// Only pending files are linted, so the up-to-date fast path pays nothing.
    fn lint_pending(&self, backend: Backend, todo: &[&Migration]) -> Result<(), MigrateError> {
        let lint = |part: &[&Migration]| -> Vec<String> {
            part.iter()
                .flat_map(|m| {
                    let Some(sql) = m.sql() else {
                        return Vec::new();
                    };
                    let file = m.origin.rsplit('/').next().unwrap_or(&m.origin);
                    let file = file.strip_prefix("embedded:").unwrap_or(file);
                    crate::compat::lint::lint_sql(file, sql, Some(backend), m.down.is_some())
                        .into_iter()
                        .filter(|f| f.severity == crate::compat::lint::Severity::Error)
                        .map(|f| {
                            format!(
                                "{}:{}: [{}] {} (fix: {})",
                                m.origin, f.line, f.rule, f.message, f.fix
                            )
                        })
                        .collect()
                })
                .collect()
        };
        // Parsing is most of a large first run's start (1,000 files: about 15 ms): two threads.
        let errors = super::in_two_halves(todo, PARALLEL_LINT_FROM, lint);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(MigrateError::Lint(errors))
        }
    }

    /// Apply pending migrations. On an up-to-date database this sends one query and returns.
    pub async fn migrate(
        &self,
        db: &mut Db,
        observer: &dyn Observer,
    ) -> Result<MigrateReport, MigrateError> {
        let check = UpToDateCheck::run(db, &self.options.history_table).await;
        self.migrate_checked(db, check, observer).await
    }

    /// [`Migrator::migrate`] with the up-to-date check's query already answered (see
    /// [`UpToDateCheck`]); it must come from the same connection and the same history table.
    pub async fn migrate_checked(
        &self,
        db: &mut Db,
        check: UpToDateCheck,
        observer: &dyn Observer,
    ) -> Result<MigrateReport, MigrateError> {
        let history = self.history(db)?;
        if let Some(server) = self.up_to_date(db, &check).await? {
            tracing::debug!(backend = %server.backend, "database is up to date (digest)");
            return Ok(MigrateReport::up_to_date(server));
        }
        let (server, rows, _) = self.read(db, &history).await?;
        let migrations = self.source.resolve(server.backend)?;
        let first = plan(&migrations, &rows, &self.options.plan);
        // A `running` row read without the lock may belong to a migrator that is alive and working:
        // only under the lock does it mean an interrupted run. Other blockers stop us at once.
        let running = first.interrupted().is_some();
        if running && !self.options.dry_run {
            let others: Vec<Blocker> = first
                .blockers
                .iter()
                .filter(|b| !matches!(b, Blocker::Interrupted { .. }))
                .cloned()
                .collect();
            if !others.is_empty() {
                return Err(MigrateError::Blocked(others));
            }
        } else {
            Self::check_blockers(&first, server.backend, &migrations)?;
        }
        if !first.has_work() && !running {
            // Up to date after all (a skipped migration's file changed, history written by hand, …).
            tracing::debug!(backend = %server.backend, "database is up to date (full read)");
            return Ok(MigrateReport {
                server,
                applied: Vec::new(),
                dry_run: None,
                fast_path: false,
            });
        }
        // Slow path only: refuse a PostgreSQL standby; causal reads on a Galera node.
        super::cluster::prepare(db).await?;
        let backend = server.backend;
        let todo: Vec<&Migration> = first
            .to_apply()
            .filter_map(|e| migrations.iter().find(|m| m.version == e.version))
            .collect();
        if self.options.tx_mode == TxMode::All {
            if let Some(m) = todo.iter().find(|m| m.directives.no_transaction) {
                return Err(MigrateError::Refused(format!(
                    "--tx-mode all cannot include {} (`-- plinth:no-transaction`); apply up to {} first with --target, or use --tx-mode per-migration",
                    m.origin, m.version - 1
                )));
            }
            if backend.is_mysql_family() && !self.options.allow_non_atomic {
                return Err(MigrateError::Refused(format!(
                    "--tx-mode all is not atomic on {backend}: every DDL statement commits implicitly, so a failure would leave earlier migrations applied; \
                     use --tx-mode per-migration, or pass --allow-non-atomic to accept this"
                )));
            }
        }
        self.lint_pending(backend, &todo)?;
        if self.options.dry_run {
            let steps = todo
                .iter()
                .map(|m| DryRunStep {
                    version: m.version,
                    name: m.name.clone(),
                    origin: m.origin.clone(),
                    sql: m.sql().map(str::to_string),
                    transaction: self.describe_tx(backend, m),
                })
                .collect();
            return Ok(MigrateReport {
                server,
                applied: Vec::new(),
                dry_run: Some(steps),
                fast_path: false,
            });
        }

        let applied = self
            .locked(db, &history, async |db, fence| {
                self.apply_locked(db, &history, &migrations, observer, &fence)
                    .await
            })
            .await?;
        Ok(MigrateReport {
            server,
            applied,
            dry_run: None,
            fast_path: false,
        })
    }

    async fn apply_locked(
        &self,
        db: &mut Db,
        history: &History,
        migrations: &[Migration],
        observer: &dyn Observer,
        fence: &lock::Fence,
    ) -> Result<Vec<Applied>, MigrateError> {
        // Always (idempotent, under the lock): an earlier run may have been killed half-way through
        // creating the tables where DDL is not transactional.
        history.ensure(db).await?;
        // Another instance may have done the work while we waited for the lock.
        let (server, rows, _) = self.read(db, history).await?;
        let current = plan(migrations, &rows, &self.options.plan);
        Self::check_blockers(&current, server.backend, migrations)?;
        let backend = server.backend;
        let actor = current_user(db).await;
        let rec = Recorder {
            history,
            backend,
            actor: &actor,
        };
        // Looked up by version (not searched: 10,000 pending would make that quadratic).
        let by_version: HashMap<i64, &Migration> =
            migrations.iter().map(|m| (m.version, m)).collect();
        let todo: Vec<(&Migration, bool)> = current
            .to_apply()
            .filter_map(|e| {
                by_version
                    .get(&e.version)
                    .map(|m| (*m, e.history.is_some()))
            })
            .collect();
        // Statements a failed statement-by-statement attempt committed, by version.
        let committed: HashMap<i64, i64> = current
            .entries
            .iter()
            .filter_map(|e| {
                let h = e.history.as_ref().filter(|h| h.status == Status::Failed)?;
                Some((e.version, h.statements_applied?))
            })
            .collect();
        let resume_from = |v: i64| -> i64 { committed.get(&v).copied().unwrap_or(0) };
        observer.event(&RunEvent::Planned { total: todo.len() });
        let mut done = Vec::new();
        if self.options.tx_mode == TxMode::All && !backend.is_mysql_family() {
            self.apply_all(db, &rec, &todo, observer, &mut done).await?;
            return Ok(done);
        }
        // Whether the current migration's `running` row was written with the previous one's
        // `success` row (MySQL/MariaDB, see `Opening`), and whether that is committed yet.
        let mut opened = Opened::No;
        for (i, (m, exists)) in todo.iter().enumerate() {
            // Still the lock's holder? (A Galera lease can be lost; session locks cannot.)
            fence.check(db).await?;
            if let Some(reason) = Self::requirement_unmet(backend, db.info.as_ref(), m) {
                opened = Opened::No;
                record_skip(db, &rec, m, *exists, &reason).await?;
                observer.event(&RunEvent::Skipped {
                    migration: m,
                    reason: &reason,
                });
                done.push(Applied::skipped(m, reason));
                continue;
            }
            observer.event(&RunEvent::Started { migration: m });
            let start = Instant::now();
            if self.transactional(backend, m) {
                opened = Opened::No;
                self.apply_in_transaction(db, &rec, m, *exists, start)
                    .await?;
            } else if let (true, Some(sql)) = (backend.is_mysql_family(), m.sql()) {
                let committed = resume_from(m.version);
                let next = todo.get(i + 1).and_then(|(n, n_exists)| {
                    let simple = !fence.checks_each_migration()
                        && resume_from(n.version) == 0
                        && Self::requirement_unmet(backend, db.info.as_ref(), n).is_none();
                    let stmts = split::split_mysql(n.sql().filter(|_| simple)?);
                    let first_commits = stmts.first().is_some_and(|st| {
                        tx_control(&st.text) == TxControl::None
                            && split::commits_implicitly(&st.text)
                    });
                    Some(Opening {
                        migration: n,
                        exists: *n_exists,
                        total: stmts.len() as i64,
                        first_commits,
                    })
                });
                let run = Statements {
                    sql,
                    exists: *exists,
                    committed,
                    opened,
                    next,
                };
                opened = self.apply_statements(db, &rec, m, run, start).await?;
            } else {
                opened = Opened::No;
                self.apply_outside_transaction(db, &rec, m, *exists, start)
                    .await?;
            }
            // On Galera, COMMIT's OK is not proof: read the success row back.
            fence
                .confirm_applied(db, history.table(), m.version)
                .await?;
            let duration = start.elapsed();
            tracing::debug!(version = m.version, name = %m.name, duration_ms = duration.as_millis() as u64, "migration applied");
            observer.event(&RunEvent::Applied {
                migration: m,
                duration,
            });
            done.push(Applied {
                version: m.version,
                name: m.name.clone(),
                duration_ms: duration.as_millis() as i64,
                outcome: "applied",
                reason: None,
            });
        }
        if opened == Opened::Pending {
            // Not reached (a pending opening is only made for a migration that follows), but a
            // transaction left open would lose the last `success` row with the connection.
            commit(db).await?;
        }
        Ok(done)
    }

    async fn apply_in_transaction(
        &self,
        db: &mut Db,
        rec: &Recorder<'_>,
        m: &Migration,
        exists: bool,
        start: Instant,
    ) -> Result<(), MigrateError> {
        if let (Body::Sql(sql), Driver::Postgres) = (&m.up, db.driver) {
            return self
                .apply_in_one_request(db, rec, m, exists, start, sql)
                .await;
        }
        begin(db).await?;
        let outcome = async {
            run_body(db, m).await.map_err(Failure::Body)?;
            let ms = start.elapsed().as_millis() as i64;
            let committed = rec
                .history
                .upsert_with_event(
                    db,
                    exists,
                    &row(m, Status::Success, ms, None, rec.backend, rec.actor, 1),
                    &EventWrite {
                        duration_ms: Some(ms),
                        ..event(m, "applied", rec.actor, Some(&m.checksum), None)
                    },
                    true,
                )
                .await
                .map_err(|h| match h {
                    // SQLite's COMMIT, sent with the record, checks the migration's deferred
                    // foreign keys (the history tables have none): the migration's failure.
                    HistoryError::Database { source, .. }
                        if db.driver == Driver::Sqlite && is_foreign_key_violation(&source) =>
                    {
                        Failure::Body(body_error(source))
                    }
                    h => Failure::History(h),
                })?;
            if !committed {
                // A deferred constraint is checked here: the migration's failure too.
                commit(db).await.map_err(|e| Failure::Body(body_error(e)))?;
            }
            Ok::<(), Failure>(())
        }
        .await;
        let Err(f) = outcome else {
            return Ok(());
        };
        rollback_after_failure(db, &f.to_string()).await;
        match f {
            Failure::History(h) => Err(h.into()),
            Failure::Body(e) => Err(self
                .record_failure(db, rec, m, exists, start, e, Vec::new())
                .await),
        }
    }

    /// PostgreSQL, a migration written in SQL: two round trips, one fewer than a program that runs
    /// the file in a transaction and records nothing. The history row's values go first (a
    /// session setting, bound); then `BEGIN`, the file, the prepared statement that writes the
    /// history row with its event, and `COMMIT` in one request. Any failure in it — the file, the
    /// record, or `COMMIT` itself (a deferred constraint) — leaves nothing of the migration, and
    /// is recorded as its failure.
    async fn apply_in_one_request(
        &self,
        db: &mut Db,
        rec: &Recorder<'_>,
        m: &Migration,
        exists: bool,
        start: Instant,
        sql: &str,
    ) -> Result<(), MigrateError> {
        let record = rec.history.inline_record(
            exists,
            &row(m, Status::Success, 0, None, rec.backend, rec.actor, 1),
            &event(m, "applied", rec.actor, Some(&m.checksum), None),
        );
        rec.history.stage(db, &record).await?;
        tracing::debug!(
            isolation = "server default (read committed)",
            "BEGIN, the migration, its history row and COMMIT in one request"
        );
        // The file's last statement may lack its `;` or end in a `--` comment.
        let script = format!("BEGIN;\n{sql}\n;\n{};\nCOMMIT", record.execute);
        let Err(e) = run_sql(db, &script).await else {
            return Ok(());
        };
        rollback_after_failure(db, &e.message).await;
        Err(self
            .record_failure(db, rec, m, exists, start, e, Vec::new())
            .await)
    }

    async fn apply_outside_transaction(
        &self,
        db: &mut Db,
        rec: &Recorder<'_>,
        m: &Migration,
        exists: bool,
        start: Instant,
    ) -> Result<(), MigrateError> {
        // Commit a `running` row first: if we die mid-way, the next run sees it and stops.
        rec.history
            .upsert(
                db,
                exists,
                &row(m, Status::Running, 0, None, rec.backend, rec.actor, 1),
            )
            .await?;
        rec.history
            .event(db, &event(m, "started", rec.actor, Some(&m.checksum), None))
            .await?;
        match run_body(db, m).await {
            Ok(()) => {
                let ms = start.elapsed().as_millis() as i64;
                rec.history
                    .upsert(
                        db,
                        true,
                        &row(m, Status::Success, ms, None, rec.backend, rec.actor, 0),
                    )
                    .await?;
                rec.history
                    .event(
                        db,
                        &EventWrite {
                            duration_ms: Some(ms),
                            ..event(m, "applied", rec.actor, Some(&m.checksum), None)
                        },
                    )
                    .await?;
                Ok(())
            }
            Err(e) => Err(self
                .record_failure_with(db, rec, m, true, start, e, Vec::new(), 0)
                .await),
        }
    }

    /// MySQL/MariaDB: DDL commits implicitly, so the unit that can be made atomic is the statement.
    /// Each statement commits on its own and is journaled (position and SHA-256) in the same
    /// transaction where the server allows it (DML), right after it otherwise (DDL). A retry after a
    /// failure resumes after the statements already committed, when they are unchanged in the file.
    /// Returns whether the next migration's `running` row was written with this one's `success`
    /// row (`run.next`), and whether it is committed or left for the next statement to commit.
    async fn apply_statements(
        &self,
        db: &mut Db,
        rec: &Recorder<'_>,
        m: &Migration,
        run: Statements<'_>,
        start: Instant,
    ) -> Result<Opened, MigrateError> {
        let Statements {
            sql,
            exists,
            committed,
            opened,
            mut next,
        } = run;
        let stmts = split::split_mysql(sql);
        let total = stmts.len() as i64;
        let mut from = 0i64;
        if committed > 0 {
            let journal = rec.history.committed_statements(db, m.version).await?;
            let unchanged = committed <= total
                && (1..=committed).all(|i| match journal.get(&i) {
                    Some(h) => *h == stmts[(i - 1) as usize].hash(),
                    None => true,
                });
            if unchanged {
                from = committed;
                tracing::info!(version = m.version, name = %m.name, committed, total, "resuming after the statements an earlier attempt committed");
            } else {
                tracing::warn!(version = m.version, name = %m.name, committed, "the file changed within the statements an earlier attempt committed; running it from the first statement");
            }
        }
        let note = (from > 0).then(|| format!("resuming at statement {} of {total}", from + 1));
        // The `running` row and its `started` event commit together: one commit (a log flush on
        // InnoDB) instead of two; with the previous migration's `success` row when it could.
        // The previous migration's closing writes are still uncommitted: this migration's first
        // statement commits them implicitly, before it runs (see `Opened::Pending`).
        let mut pending = opened == Opened::Pending && from == 0;
        if opened == Opened::No || from > 0 {
            begin(db).await?;
            let opening = open_writes(db, rec, m, exists, from, total, note.as_deref()).await;
            if let Err(e) = opening {
                rollback(db, "writing the running row failed").await;
                return Err(e.into());
            }
            commit(db).await?;
        }
        let mut merged = Opened::No;
        // Inside a transaction the file opened itself, statements and journal commit together
        // with the file's own COMMIT; a DDL statement commits itself, and its journal entry then
        // gets a transaction of its own; any other statement runs in a BEGIN … COMMIT with its
        // journal entry. The last statement's journal entry also carries the `success` row and
        // the `applied` event, in the same transaction.
        let mut in_file_tx = false;
        let mut finished = false;
        for (idx, st) in stmts.iter().enumerate().skip(from as usize) {
            let n = idx as i64 + 1;
            let control = tx_control(&st.text);
            if control == TxControl::Begin {
                in_file_tx = true;
            }
            let own = !in_file_tx && control == TxControl::None;
            let ddl = own && split::commits_implicitly(&st.text);
            let wrap = own && !ddl;
            tracing::debug!(
                version = m.version,
                statement = n,
                total,
                ddl,
                "running statement"
            );
            if wrap {
                begin(db).await?;
            }
            // A DDL statement's journal entry needs a transaction of its own after it: its BEGIN
            // travels with the statement (one round trip fewer). Should the statement fail, the
            // server stops there and the BEGIN is not run.
            let begin_after = ddl && split::takes_a_trailing_begin(&st.text);
            let outcome = if begin_after {
                tracing::debug!(
                    isolation = "server default (repeatable read)",
                    "BEGIN (sent after the statement)"
                );
                db.execute_script(&format!("{}\n;BEGIN", st.text)).await
            } else {
                db.execute_script(&st.text).await
            };
            if std::mem::take(&mut pending) && outcome.is_err() {
                // The statement may have failed before its implicit commit (a syntax error, say):
                // the previous migration's `success` row and this one's `running` row must stand.
                commit(db).await?;
            }
            if let Err(e) = outcome {
                let message = db_message(&e);
                if wrap || in_file_tx {
                    rollback(db, &message).await;
                }
                return Err(self
                    .record_failure_with(
                        db,
                        rec,
                        m,
                        true,
                        start,
                        BodyError {
                            message,
                            statement: Some(st.text.clone()),
                            source: Some(e),
                            progress: Some(Progress {
                                committed: n - 1,
                                total,
                                failed_at: n,
                                snippet: st.snippet(),
                            }),
                        },
                        Vec::new(),
                        0,
                    )
                    .await);
            }
            if control == TxControl::End {
                in_file_tx = false;
            }
            let finish = own && n == total;
            // After a last statement that committed itself, the next migration's opening writes
            // may join this one's closing transaction.
            let with_next = if finish && ddl { next.take() } else { None };
            if ddl && !begin_after {
                begin(db).await?;
            }
            let hash = st.hash();
            let close = Closing {
                n,
                total,
                finish,
                hash: &hash,
            };
            let mut journal = self
                .close_statement(db, rec, m, &close, start, with_next.as_ref())
                .await;
            if journal.is_err() && with_next.is_some() {
                // Record this migration alone; the next one opens itself, as without the merge.
                rollback(
                    db,
                    "opening the next migration with this one's record failed",
                )
                .await;
                begin(db).await?;
                journal = self.close_statement(db, rec, m, &close, start, None).await;
            } else if let Some(o) = &with_next {
                merged = if o.first_commits {
                    Opened::Pending
                } else {
                    Opened::Committed
                };
            }
            if let Err(e) = journal {
                if own {
                    rollback(db, "journal write failed").await;
                }
                return Err(e.into());
            }
            if own && merged != Opened::Pending {
                commit(db).await?;
            }
            finished = finish;
        }
        if !finished {
            self.record_success(db, rec, m, total, start).await?;
        }
        Ok(merged)
    }

    /// A statement's journal entry (its index and hash); after the last one, also the `success`
    /// row and `applied` event, and `next`'s opening writes when given.
    async fn close_statement(
        &self,
        db: &mut Db,
        rec: &Recorder<'_>,
        m: &Migration,
        close: &Closing<'_>,
        start: Instant,
        next: Option<&Opening<'_>>,
    ) -> Result<(), HistoryError> {
        let journal = EventWrite {
            statement_index: Some(close.n),
            ..event(m, "statement", rec.actor, Some(close.hash), None)
        };
        if !close.finish {
            rec.history.set_progress(db, m.version, close.n).await?;
            return rec.history.event(db, &journal).await;
        }
        // The last statement: its journal entry, the `applied` event and the next migration's
        // `started` event go in one INSERT.
        let ms = start.elapsed().as_millis() as i64;
        let success = success_row(m, rec.backend, rec.actor, close.total, ms);
        let mut events = vec![journal, applied_event(m, rec.actor, ms)];
        match next {
            Some(o) => {
                let n = o.migration;
                let running = running_row(n, rec.backend, rec.actor, 0, o.total);
                rec.history
                    .upsert_pair(db, (true, &success), (o.exists, &running))
                    .await?;
                events.push(event(n, "started", rec.actor, Some(&n.checksum), None));
            }
            None => rec.history.upsert(db, true, &success).await?,
        }
        rec.history.event_batch(db, &events).await
    }

    /// The `success` row (all `total` statements applied) and the `applied` event.
    async fn record_success(
        &self,
        db: &mut Db,
        rec: &Recorder<'_>,
        m: &Migration,
        total: i64,
        start: Instant,
    ) -> Result<(), HistoryError> {
        let ms = start.elapsed().as_millis() as i64;
        rec.history
            .upsert(db, true, &success_row(m, rec.backend, rec.actor, total, ms))
            .await?;
        rec.history
            .event(db, &applied_event(m, rec.actor, ms))
            .await
    }

    async fn apply_all(
        &self,
        db: &mut Db,
        rec: &Recorder<'_>,
        todo: &[(&Migration, bool)],
        observer: &dyn Observer,
        done: &mut Vec<Applied>,
    ) -> Result<(), MigrateError> {
        begin(db).await?;
        let mut so_far: Vec<i64> = Vec::new();
        for (m, exists) in todo {
            let start = Instant::now();
            if let Some(reason) = Self::requirement_unmet(rec.backend, db.info.as_ref(), m) {
                if let Err(e) = record_skip(db, rec, m, *exists, &reason).await {
                    rollback(db, "history write failed").await;
                    return Err(e.into());
                }
                observer.event(&RunEvent::Skipped {
                    migration: m,
                    reason: &reason,
                });
                done.push(Applied::skipped(m, reason));
                continue;
            }
            observer.event(&RunEvent::Started { migration: m });
            let r = run_body(db, m).await.map_err(Failure::Body);
            let r = match r {
                Ok(()) => {
                    let ms = start.elapsed().as_millis() as i64;
                    match rec
                        .history
                        .upsert(
                            db,
                            *exists,
                            &row(m, Status::Success, ms, None, rec.backend, rec.actor, 1),
                        )
                        .await
                    {
                        Ok(()) => rec
                            .history
                            .event(
                                db,
                                &EventWrite {
                                    duration_ms: Some(ms),
                                    ..event(m, "applied", rec.actor, Some(&m.checksum), None)
                                },
                            )
                            .await
                            .map_err(Failure::History),
                        Err(e) => Err(Failure::History(e)),
                    }
                }
                Err(e) => Err(e),
            };
            if let Err(f) = r {
                rollback(db, &f.to_string()).await;
                done.clear();
                return Err(match f {
                    Failure::History(h) => h.into(),
                    Failure::Body(e) => {
                        self.record_failure(db, rec, m, *exists, start, e, so_far)
                            .await
                    }
                });
            }
            so_far.push(m.version);
            let duration = start.elapsed();
            observer.event(&RunEvent::Applied {
                migration: m,
                duration,
            });
            done.push(Applied {
                version: m.version,
                name: m.name.clone(),
                duration_ms: duration.as_millis() as i64,
                outcome: "applied",
                reason: None,
            });
        }
        // A deferred constraint fails here, for no one migration: nothing of the batch remains.
        if let Err(e) = commit(db).await {
            rollback_after_failure(db, "COMMIT failed").await;
            done.clear();
            return Err(MigrateError::BatchCommit {
                versions: so_far,
                error: db_message(&e),
                source: e,
            });
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn record_failure(
        &self,
        db: &mut Db,
        rec: &Recorder<'_>,
        m: &Migration,
        exists: bool,
        start: Instant,
        e: BodyError,
        rolled_back: Vec<i64>,
    ) -> MigrateError {
        self.record_failure_with(db, rec, m, exists, start, e, rolled_back, 1)
            .await
    }

    /// Record `failed` in its own transaction (after any rollback), then describe the failure.
    #[allow(clippy::too_many_arguments)]
    async fn record_failure_with(
        &self,
        db: &mut Db,
        rec: &Recorder<'_>,
        m: &Migration,
        exists: bool,
        start: Instant,
        e: BodyError,
        rolled_back: Vec<i64>,
        attempts_delta: i64,
    ) -> MigrateError {
        let ms = start.elapsed().as_millis() as i64;
        let message = e.message.clone();
        let detail = e.progress.as_ref().map(|p| {
            format!(
                "statement {} of {} failed (`{}`); {} of {} statements committed; fix the file and run `plinth migrate` again: \
                 it resumes at statement {} if statements 1 to {} are unchanged",
                p.failed_at, p.total, p.snippet, p.committed, p.total, p.failed_at, p.committed
            )
        });
        tracing::error!(severity = "critical", version = m.version, name = %m.name, origin = %m.origin, error = %message, detail = detail.as_deref().unwrap_or(""), "migration failed");
        let record = async {
            let transactional = rec.backend != Backend::MariaDb && rec.backend != Backend::MySql;
            if transactional {
                begin(db).await?;
            }
            rec.history
                .upsert(
                    db,
                    exists,
                    &RowWrite {
                        statements_applied: e.progress.as_ref().map(|p| p.committed),
                        statements_total: e.progress.as_ref().map(|p| p.total),
                        ..row(
                            m,
                            Status::Failed,
                            ms,
                            Some(&message),
                            rec.backend,
                            rec.actor,
                            attempts_delta,
                        )
                    },
                )
                .await?;
            rec.history
                .event(
                    db,
                    &EventWrite {
                        duration_ms: Some(ms),
                        failing_statement: e.statement.as_deref(),
                        statement_index: e.progress.as_ref().map(|p| p.failed_at),
                        ..event(m, "failed", rec.actor, Some(&m.checksum), Some(&message))
                    },
                )
                .await?;
            if transactional {
                commit(db).await?;
            }
            Ok::<(), MigrateError>(())
        }
        .await;
        if let Err(re) = record {
            tracing::error!(severity = "critical", version = m.version, error = %re, "could not record the failure in the history table");
        }
        MigrateError::Failed {
            version: m.version,
            name: m.name.clone(),
            origin: m.origin.clone(),
            error: message,
            detail,
            source: e.source,
            rolled_back,
        }
    }

    /// Check the source against history without changing anything: the blockers `migrate` would stop on.
    pub async fn validate(&self, db: &mut Db) -> Result<StatusReport, MigrateError> {
        let report = self.status(db).await?;
        Ok(report)
    }

    /// Run `work` holding the migration lock and the work lock, and release both on every exit
    /// path: the one place `migrate`, `repair` and `down` take them.
    async fn locked<T>(
        &self,
        db: &mut Db,
        history: &History,
        work: impl AsyncFnOnce(&mut Db, lock::Fence) -> Result<T, MigrateError>,
    ) -> Result<T, MigrateError> {
        let guard = lock::acquire(
            &db.url,
            &self.options.connect,
            db.driver,
            history.table(),
            self.options.lock_timeout,
        )
        .await?;
        let result = match lock::acquire_work(db, history.table(), self.options.lock_timeout).await
        {
            Ok(()) => {
                let r = work(db, guard.fence()).await;
                let _ = lock::release_work(db, history.table()).await;
                r
            }
            Err(e) => Err(e.into()),
        };
        if let Err(e) = guard.release().await {
            tracing::warn!(error = %e, "could not release the migration lock cleanly; it is released when the connection closes");
        }
        result
    }

    /// Accept edited files' checksums, or settle an interrupted migration by hand.
    pub async fn repair(
        &self,
        db: &mut Db,
        opts: &RepairOptions,
    ) -> Result<RepairReport, MigrateError> {
        let history = self.history(db)?;
        self.locked(db, &history, async |db, _fence| {
            self.repair_locked(db, &history, opts).await
        })
        .await
    }

    async fn repair_locked(
        &self,
        db: &mut Db,
        history: &History,
        opts: &RepairOptions,
    ) -> Result<RepairReport, MigrateError> {
        let (server, rows, exists) = self.read(db, history).await?;
        if !exists {
            return Ok(RepairReport {
                changes: Vec::new(),
            });
        }
        let actor = current_user(db).await;
        let migrations = self.source.resolve(server.backend)?;
        let current = plan(
            &migrations,
            &rows,
            &PlanOptions {
                ignore_missing: true,
                allow_out_of_order: true,
                ..Default::default()
            },
        );
        let mut changes = Vec::new();
        for (target, status, word) in [
            (opts.mark_applied, Status::Success, "marked applied"),
            (
                opts.mark_rolled_back,
                Status::RolledBack,
                "marked rolled back",
            ),
        ] {
            let Some(v) = target else { continue };
            let Some(rec) = rows.iter().find(|r| r.version == v) else {
                return Err(MigrateError::Refused(format!(
                    "migration {v} has no history row to repair"
                )));
            };
            if !matches!(rec.status, Status::Running | Status::Failed) {
                return Err(MigrateError::Refused(format!(
                    "migration {v} is {}, not running or failed: nothing to repair",
                    rec.status.as_str()
                )));
            }
            let checksum = migrations
                .iter()
                .find(|m| m.version == v)
                .map(|m| m.checksum.clone())
                .unwrap_or_else(|| rec.checksum.clone());
            history.set_status(db, v, status, Some(&checksum)).await?;
            history
                .event(
                    db,
                    &EventWrite {
                        version: v,
                        name: &rec.name,
                        event: "repaired",
                        actor: &actor,
                        checksum: Some(&checksum),
                        error: Some(word),
                        ..Default::default()
                    },
                )
                .await?;
            changes.push((v, word.to_string()));
        }
        if let Some(v) = opts.resume {
            let Some(rec) = rows.iter().find(|r| r.version == v) else {
                return Err(MigrateError::Refused(format!(
                    "migration {v} has no history row to resume"
                )));
            };
            if !matches!(rec.status, Status::Running | Status::Failed) {
                return Err(MigrateError::Refused(format!(
                    "migration {v} is {}, not running or failed: nothing to resume",
                    rec.status.as_str()
                )));
            }
            let Some(total) = rec.statements_total else {
                return Err(MigrateError::Refused(format!(
                    "migration {v} did not run statement by statement (only MySQL/MariaDB SQL migrations do), so \
                     there is no journal to resume from; inspect the schema, then use --mark-applied {v} or --mark-rolled-back {v}"
                )));
            };
            let from = opts
                .from_statement
                .unwrap_or(rec.statements_applied.unwrap_or(0) + 1);
            if from < 1 || from > total + 1 {
                return Err(MigrateError::Refused(format!(
                    "--from-statement {from} is outside migration {v}'s statements 1 to {total}"
                )));
            }
            history.set_status(db, v, Status::Failed, None).await?;
            history.set_progress(db, v, from - 1).await?;
            let note = format!(
                "will resume at statement {from} of {total} on the next migrate (journal said {} committed)",
                rec.statements_applied.unwrap_or(0)
            );
            history
                .event(
                    db,
                    &EventWrite {
                        version: v,
                        name: &rec.name,
                        event: "repaired",
                        actor: &actor,
                        checksum: Some(&rec.checksum),
                        error: Some(&note),
                        ..Default::default()
                    },
                )
                .await?;
            tracing::info!(version = v, from, total, "migration set to resume");
            changes.push((v, note));
        }
        if opts.mark_applied.is_none() && opts.mark_rolled_back.is_none() && opts.resume.is_none() {
            for e in current
                .entries
                .iter()
                .filter(|e| e.state == State::ChecksumMismatch)
            {
                history
                    .set_status(db, e.version, Status::Success, Some(&e.checksum))
                    .await?;
                let note = format!(
                    "accepted new checksum (was {})",
                    e.recorded_checksum.clone().unwrap_or_default()
                );
                history
                    .event(
                        db,
                        &EventWrite {
                            version: e.version,
                            name: &e.name,
                            event: "repaired",
                            actor: &actor,
                            checksum: Some(&e.checksum),
                            error: Some(&note),
                            ..Default::default()
                        },
                    )
                    .await?;
                changes.push((e.version, note));
            }
        }
        Ok(RepairReport { changes })
    }

    /// Which migrations `down` rolls back, newest first; refuses when a down file is missing or a
    /// run was interrupted.
    fn down_choice<'m>(
        migrations: &'m [Migration],
        rows: &[HistoryRecord],
        opts: &DownOptions,
    ) -> Result<Vec<&'m Migration>, MigrateError> {
        let current = plan(
            migrations,
            rows,
            &PlanOptions {
                ignore_missing: true,
                allow_out_of_order: true,
                ..Default::default()
            },
        );
        let mut applied: Vec<&Migration> = current
            .entries
            .iter()
            .filter(|e| matches!(e.state, State::Applied | State::ChecksumMismatch))
            .filter_map(|e| migrations.iter().find(|m| m.version == e.version))
            .collect();
        applied.reverse();
        let chosen: Vec<&Migration> = match (opts.to, opts.steps) {
            (Some(to), _) => applied.into_iter().filter(|m| m.version > to).collect(),
            (None, steps) => applied.into_iter().take(steps.unwrap_or(1)).collect(),
        };
        let missing: Vec<String> = chosen
            .iter()
            .filter(|m| m.down.is_none())
            .map(|m| format!("{:04}_{}", m.version, m.name))
            .collect();
        if !missing.is_empty() {
            return Err(MigrateError::Refused(format!(
                "cannot roll back: no down file for {} (add NNNN_name.down.sql); nothing was changed",
                missing.join(", ")
            )));
        }
        Ok(chosen)
    }

    /// Roll back the newest applied migrations with their down files.
    pub async fn down(
        &self,
        db: &mut Db,
        opts: &DownOptions,
    ) -> Result<Vec<DryRunStep>, MigrateError> {
        let history = self.history(db)?;
        let (server, rows, _) = self.read(db, &history).await?;
        let migrations = self.source.resolve(server.backend)?;
        let chosen = Self::down_choice(&migrations, &rows, opts)?;
        let backend = server.backend;
        let to_steps = |chosen: &[&Migration]| -> Vec<DryRunStep> {
            chosen
                .iter()
                .map(|m| DryRunStep {
                    version: m.version,
                    name: m.name.clone(),
                    origin: m.down_origin.clone().unwrap_or_default(),
                    sql: m.down.clone(),
                    transaction: if backend.is_mysql_family() {
                        "none: implicit DDL commits".into()
                    } else {
                        "BEGIN; down; history row; COMMIT".into()
                    },
                })
                .collect()
        };
        let steps = to_steps(&chosen);
        if opts.dry_run || chosen.is_empty() {
            return Ok(steps);
        }
        self.locked(db, &history, async |db, _fence| {
            // Another migrator may have changed history while we waited for the lock.
            let (_, rows, _) = self.read(db, &history).await?;
            let fresh = Self::down_choice(&migrations, &rows, opts)?;
            if let Some(running) = rows.iter().find(|r| r.status == Status::Running) {
                return Err(MigrateError::Refused(format!(
                    "migration {} `{}` is marked running (an interrupted run); settle it with `plinth repair` before rolling back",
                    running.version, running.name
                )));
            }
            let versions = |c: &[&Migration]| c.iter().map(|m| m.version).collect::<Vec<_>>();
            if versions(&fresh) != versions(&chosen) {
                tracing::info!(planned = ?versions(&chosen), now = ?versions(&fresh), "history changed while waiting for the lock; rolling back what is applied now");
            }
            let actor = current_user(db).await;
            for m in &fresh {
                let down_sql = m.down.clone().unwrap_or_default();
                let start = Instant::now();
                let transactional = !server.backend.is_mysql_family();
                if transactional {
                    begin(db).await?;
                } else {
                    history.set_status(db, m.version, Status::Running, None).await?;
                }
                // MySQL/MariaDB commit each DDL statement on its own: run the file statement by
                // statement, so that a failure can say which one failed and how many took effect.
                let (r, detail) = if transactional {
                    (db.execute_script(&down_sql).await, None)
                } else {
                    run_down_statements(db, &down_sql, m.version).await
                };
                match r {
                    Ok(_) => {
                        let ms = start.elapsed().as_millis() as i64;
                        history.set_status(db, m.version, Status::RolledBack, None).await?;
                        history.event(db, &EventWrite { duration_ms: Some(ms), ..event(m, "reverted", &actor, Some(&m.checksum), None) }).await?;
                        if transactional {
                            commit(db).await?;
                        }
                        tracing::info!(version = m.version, name = %m.name, "migration rolled back");
                    }
                    Err(e) => {
                        let msg = db_message(&e);
                        if transactional {
                            rollback(db, &msg).await;
                        }
                        let _ = history.event(db, &event(m, "revert_failed", &actor, Some(&m.checksum), Some(&msg))).await;
                        return Err(MigrateError::Failed { version: m.version, name: m.name.clone(), origin: m.down_origin.clone().unwrap_or_default(), error: msg, detail, source: Some(e), rolled_back: Vec::new() });
                    }
                }
            }
            Ok(to_steps(&fresh))
        })
        .await
    }
}

/// A MySQL/MariaDB down file, one statement at a time (each DDL statement commits itself). On a
/// failure, also what to tell the user: which statement, and how many before it took effect.
async fn run_down_statements(
    db: &mut Db,
    sql: &str,
    version: i64,
) -> (Result<u64, sqlx::Error>, Option<String>) {
    let stmts = split::split_mysql(sql);
    let total = stmts.len();
    let mut affected = 0;
    for (i, st) in stmts.iter().enumerate() {
        match db.execute_script(&st.text).await {
            Ok(n) => affected += n,
            Err(e) => {
                let took = match i {
                    0 => "no statement before it took effect".to_string(),
                    1 => "statement 1 took effect".to_string(),
                    _ => format!("statements 1 to {i} took effect"),
                };
                let detail = format!(
                    "down statement {} of {total} failed (`{}`); {took}, and the migration is marked \
                     running: finish or undo the rollback by hand, then `plinth repair \
                     --mark-rolled-back {version}` or `plinth repair --mark-applied {version}`",
                    i + 1,
                    st.snippet()
                );
                return (Err(e), Some(detail));
            }
        }
    }
    (Ok(affected), None)
}

/// A failure of the migration's own body.
struct BodyError {
    message: String,
    statement: Option<String>,
    source: Option<sqlx::Error>,
    progress: Option<Progress>,
}

/// How far a statement-by-statement migration got before a statement failed.
struct Progress {
    committed: i64,
    total: i64,
    failed_at: i64,
    snippet: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TxControl {
    None,
    Begin,
    End,
}

/// Whether a statement opens or closes a transaction of the file's own.
fn tx_control(stmt: &str) -> TxControl {
    let words: Vec<String> = stmt
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .take(2)
        .map(str::to_ascii_uppercase)
        .collect();
    match (
        words.first().map(String::as_str),
        words.get(1).map(String::as_str),
    ) {
        (Some("START"), Some("TRANSACTION")) => TxControl::Begin,
        (Some("BEGIN"), None) | (Some("BEGIN"), Some("WORK")) => TxControl::Begin,
        (Some("COMMIT"), _) | (Some("ROLLBACK"), _) => TxControl::End,
        _ => TxControl::None,
    }
}

enum Failure {
    Body(BodyError),
    History(HistoryError),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Body(b) => f.write_str(&b.message),
            Failure::History(h) => write!(f, "{h}"),
        }
    }
}

/// Learn the server's identity from a version string a history query returned alongside its
/// answer (no extra round trip when the connection does not know it yet).
async fn server_from(db: &mut Db, version: &str) -> Result<ServerInfo, MigrateError> {
    if db.info.is_none() {
        db.info = Some(ServerInfo::from_version_string(db.driver, version));
    }
    Ok(db.server_info().await?)
}

/// How a MySQL/MariaDB migration runs statement by statement (see `Migrator::apply_statements`).
struct Statements<'a> {
    sql: &'a str,
    /// Whether its history row exists already (a retry).
    exists: bool,
    /// Statements an earlier attempt committed.
    committed: i64,
    /// Its `running` row was written with the previous migration's `success` row.
    opened: Opened,
    /// The migration after it, when that one's opening writes may join this one's last commit.
    next: Option<Opening<'a>>,
}

/// A migration whose `running` row and `started` event can be committed in the same transaction
/// as the previous migration's `success` row: one commit, one log flush fewer per migration. Only
/// for a fresh start (nothing to resume), no unmet requirement, and no lease to re-check before it.
struct Opening<'a> {
    migration: &'a Migration,
    exists: bool,
    total: i64,
    /// Its first statement commits implicitly (DDL): the shared transaction can be left for it
    /// to commit, one round trip fewer (`Opened::Pending`).
    first_commits: bool,
}

/// Whether a MySQL/MariaDB migration's opening writes (`running` row, `started` event) were made
/// with the previous migration's closing writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Opened {
    /// No: it writes its own.
    No,
    /// Yes, and committed.
    Committed,
    /// Yes, in a transaction still open: its first statement is DDL, which MySQL and MariaDB
    /// commit implicitly, and the transaction before it first — before the statement runs, so a
    /// crash during it leaves the `running` row behind, as with an explicit COMMIT. Should the
    /// statement fail before that (a syntax error), the runner commits instead.
    Pending,
}

/// A statement's place for its journal entry.
struct Closing<'a> {
    n: i64,
    total: i64,
    finish: bool,
    hash: &'a str,
}

/// What every history write of one run needs besides the connection: the tables, the backend
/// (recorded in each row) and the database user (recorded as who ran it).
struct Recorder<'a> {
    history: &'a History,
    backend: Backend,
    actor: &'a str,
}

/// A migration's `running` row and `started` event: what makes an interrupted run visible.
async fn open_writes(
    db: &mut Db,
    rec: &Recorder<'_>,
    m: &Migration,
    exists: bool,
    from: i64,
    total: i64,
    note: Option<&str>,
) -> Result<(), HistoryError> {
    rec.history
        .upsert(
            db,
            exists,
            &running_row(m, rec.backend, rec.actor, from, total),
        )
        .await?;
    rec.history
        .event(db, &event(m, "started", rec.actor, Some(&m.checksum), note))
        .await
}

/// The `running` row of a migration run statement by statement, `from` of `total` done.
fn running_row<'a>(
    m: &'a Migration,
    backend: Backend,
    actor: &'a str,
    from: i64,
    total: i64,
) -> RowWrite<'a> {
    RowWrite {
        statements_applied: Some(from),
        statements_total: Some(total),
        ..row(m, Status::Running, 0, None, backend, actor, 1)
    }
}

/// The `success` row of a migration run statement by statement, all `total` done in `ms`.
fn success_row<'a>(
    m: &'a Migration,
    backend: Backend,
    actor: &'a str,
    total: i64,
    ms: i64,
) -> RowWrite<'a> {
    RowWrite {
        statements_applied: Some(total),
        statements_total: Some(total),
        ..row(m, Status::Success, ms, None, backend, actor, 0)
    }
}

/// The `applied` event of a migration that took `ms`.
fn applied_event<'a>(m: &'a Migration, actor: &'a str, ms: i64) -> EventWrite<'a> {
    EventWrite {
        duration_ms: Some(ms),
        ..event(m, "applied", actor, Some(&m.checksum), None)
    }
}

/// Every history row and the server's identity (one query); `false` when the table does not exist.
async fn read_history(
    db: &mut Db,
    history: &History,
) -> Result<(ServerInfo, Vec<HistoryRecord>, bool), MigrateError> {
    match history.read(db).await? {
        Some((version, rows)) => Ok((server_from(db, &version).await?, rows, true)),
        None => Ok((db.server_info().await?, Vec::new(), false)),
    }
}

/// Run SQL text as one script; a failure is the migration body's.
async fn run_sql(db: &mut Db, sql: &str) -> Result<(), BodyError> {
    db.execute_script(sql).await.map(|_| ()).map_err(body_error)
}

/// A database error as the migration body's failure.
fn body_error(e: sqlx::Error) -> BodyError {
    BodyError {
        message: db_message(&e),
        statement: None,
        source: Some(e),
        progress: None,
    }
}

/// SQLite's `SQLITE_CONSTRAINT_FOREIGNKEY` (787), the only constraint SQLite can defer to COMMIT.
fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "787")
}

async fn run_body(db: &mut Db, m: &Migration) -> Result<(), BodyError> {
    match &m.up {
        Body::Sql(sql) => run_sql(db, sql).await,
        Body::Rust(f) => f(db).await.map_err(|e| {
            let message = db_message(e.as_ref());
            let source = match e.downcast::<sqlx::Error>() {
                Ok(s) => Some(*s),
                Err(_) => None,
            };
            BodyError {
                message,
                statement: None,
                source,
                progress: None,
            }
        }),
    }
}

/// Record a migration skipped for an unmet `requires` directive: its row and its event.
async fn record_skip(
    db: &mut Db,
    rec: &Recorder<'_>,
    m: &Migration,
    exists: bool,
    reason: &str,
) -> Result<(), HistoryError> {
    rec.history
        .upsert(
            db,
            exists,
            &row(
                m,
                Status::Skipped,
                0,
                Some(reason),
                rec.backend,
                rec.actor,
                0,
            ),
        )
        .await?;
    rec.history
        .event(db, &event(m, "skipped", rec.actor, None, Some(reason)))
        .await?;
    tracing::info!(version = m.version, name = %m.name, reason = %reason, "migration skipped");
    Ok(())
}

impl Applied {
    fn skipped(m: &Migration, reason: String) -> Applied {
        Applied {
            version: m.version,
            name: m.name.clone(),
            duration_ms: 0,
            outcome: "skipped",
            reason: Some(reason),
        }
    }
}

fn row<'a>(
    m: &'a Migration,
    status: Status,
    ms: i64,
    error: Option<&'a str>,
    backend: Backend,
    actor: &'a str,
    attempts_delta: i64,
) -> RowWrite<'a> {
    RowWrite {
        version: m.version,
        name: &m.name,
        checksum: &m.checksum,
        status,
        duration_ms: ms,
        error,
        backend,
        actor,
        attempts_delta,
        statements_applied: None,
        statements_total: None,
    }
}

fn event<'a>(
    m: &'a Migration,
    what: &'a str,
    actor: &'a str,
    checksum: Option<&'a str>,
    error: Option<&'a str>,
) -> EventWrite<'a> {
    EventWrite {
        version: m.version,
        name: &m.name,
        event: what,
        actor,
        checksum,
        duration_ms: None,
        error,
        failing_statement: None,
        statement_index: None,
    }
}

async fn current_user(db: &mut Db) -> String {
    let sql = match db.driver {
        Driver::Postgres => "SELECT current_user::text",
        Driver::MySql => "SELECT CURRENT_USER()",
        Driver::Sqlite => {
            return std::env::var("USER")
                .or_else(|_| std::env::var("USERNAME"))
                .unwrap_or_else(|_| "unknown".into());
        }
    };
    let r: Result<String, sqlx::Error> =
        crate::with_conn!(&mut db.conn, c => sqlx::query_scalar(sql).fetch_one(&mut *c).await);
    r.unwrap_or_else(|_| "unknown".into())
}

async fn begin(db: &mut Db) -> Result<(), sqlx::Error> {
    let (sql, isolation) = match db.driver {
        Driver::Sqlite => ("BEGIN IMMEDIATE", "serializable"),
        Driver::Postgres => ("BEGIN", "server default (read committed)"),
        Driver::MySql => ("BEGIN", "server default (repeatable read)"),
    };
    tracing::debug!(isolation, "BEGIN");
    db.execute_script(sql).await.map(|_| ())
}

async fn commit(db: &mut Db) -> Result<(), sqlx::Error> {
    tracing::debug!("COMMIT");
    db.execute_script("COMMIT").await.map(|_| ())
}

/// Roll back what a failed migration left open. PostgreSQL refuses every query in a transaction
/// that failed before COMMIT and has ended one whose COMMIT failed (a ROLLBACK would then only
/// draw a warning); SQLite keeps a transaction open when its COMMIT fails.
async fn rollback_after_failure(db: &mut Db, reason: &str) {
    if db.driver == Driver::Postgres && db.execute_script("SELECT 1").await.is_ok() {
        tracing::debug!(reason, "the transaction ended with its failed COMMIT");
        return;
    }
    rollback(db, reason).await
}

async fn rollback(db: &mut Db, reason: &str) {
    tracing::debug!(reason, "ROLLBACK");
    if let Err(e) = db.execute_script("ROLLBACK").await {
        tracing::warn!(error = %e, "ROLLBACK failed; the connection will be discarded");
    }
}
