//! The plan: a pure function of the source, the history and the options. It decides what to apply,
//! what to refuse and why; the runner only carries it out. Tested without a database.

use super::history::{HistoryRecord, Status};
use super::source::Migration;
use serde::Serialize;

/// The state of one migration, as `status` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Applied and unchanged.
    Applied,
    /// Not yet applied (or rolled back).
    Pending,
    /// The last attempt failed; the next `migrate` retries it.
    Failed,
    /// Skipped because a `requires` directive was unmet.
    Skipped,
    /// Started outside a transaction and never finished: an interrupted run.
    Running,
    /// Applied, but the file has changed since.
    ChecksumMismatch,
    /// Applied, but its file is gone.
    MissingFile,
    /// Pending, but older than the newest applied migration.
    OutOfOrder,
}

impl State {
    /// The word used in text and JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Applied => "applied",
            State::Pending => "pending",
            State::Failed => "failed",
            State::Skipped => "skipped",
            State::Running => "running",
            State::ChecksumMismatch => "checksum_mismatch",
            State::MissingFile => "missing_file",
            State::OutOfOrder => "out_of_order",
        }
    }
}

/// One line of the plan.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    /// Version.
    pub version: i64,
    /// Name.
    pub name: String,
    /// State.
    pub state: State,
    /// The source's checksum, or the recorded one when the file is missing.
    pub checksum: String,
    /// The recorded checksum, when it differs from the source's.
    pub recorded_checksum: Option<String>,
    /// The file (or `rust:name`) defining it.
    pub origin: Option<String>,
    /// The history row, if any.
    pub history: Option<HistoryRecord>,
    /// Whether this run would apply it.
    pub will_apply: bool,
}

/// Why `migrate` will not proceed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Blocker {
    /// An applied migration's file was edited.
    ChecksumMismatch {
        /// Version.
        version: i64,
        /// The file.
        origin: String,
        /// What history says.
        recorded: String,
        /// What the file hashes to now.
        current: String,
    },
    /// A new migration is older than the newest applied one.
    OutOfOrder {
        /// Version.
        version: i64,
        /// The file.
        origin: String,
        /// The newest applied version.
        newest_applied: i64,
    },
    /// An applied migration's file is gone.
    MissingFile {
        /// Version.
        version: i64,
        /// Recorded name.
        name: String,
    },
    /// A migration was interrupted (a `running` row).
    Interrupted {
        /// Version.
        version: i64,
        /// Name.
        name: String,
        /// Statements committed, when known.
        statements_applied: Option<i64>,
        /// Statements in the migration, when known.
        statements_total: Option<i64>,
    },
}

impl std::fmt::Display for Blocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Blocker::ChecksumMismatch { version, origin, recorded, current } => write!(
                f,
                "{origin} (version {version}) was edited after it was applied: recorded checksum {}…, file now {}…; \
                 restore the file, or run `plinth repair` to accept the new contents, or pass --allow-checksum-mismatch",
                &recorded[..recorded.len().min(12)],
                &current[..current.len().min(12)]
            ),
            Blocker::OutOfOrder { version, origin, newest_applied } => write!(
                f,
                "{origin} (version {version}) is older than the newest applied migration {newest_applied}; \
                 renumber it above {newest_applied}, or pass --allow-out-of-order to apply it anyway"
            ),
            Blocker::MissingFile { version, name } => write!(
                f,
                "migration {version} `{name}` is recorded as applied but its file is missing; restore it, or pass --ignore-missing"
            ),
            Blocker::Interrupted { version, name, statements_applied, statements_total } => {
                write!(f, "migration {version} `{name}` was interrupted (status running)")?;
                if let (Some(a), Some(t)) = (statements_applied, statements_total) {
                    write!(f, ": {a} of {t} statements committed")?;
                }
                write!(
                    f,
                    "; its effects may be partly applied. Inspect the schema, then run \
                     `plinth repair --mark-applied {version}` or `plinth repair --mark-rolled-back {version}`"
                )
            }
        }
    }
}

/// Options that change what the plan accepts.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// Apply nothing above this version.
    pub target: Option<i64>,
    /// Apply migrations older than the newest applied one.
    pub allow_out_of_order: bool,
    /// Proceed although applied files were edited.
    pub allow_checksum_mismatch: bool,
    /// Proceed although applied files are missing.
    pub ignore_missing: bool,
}

/// The whole plan.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    /// Every migration known to the source or to history, by version.
    pub entries: Vec<Entry>,
    /// Reasons `migrate` must stop before doing anything.
    pub blockers: Vec<Blocker>,
}

impl Plan {
    /// Versions `migrate` would apply, in order.
    pub fn to_apply(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.will_apply)
    }

    /// Whether anything would be applied.
    pub fn has_work(&self) -> bool {
        self.entries.iter().any(|e| e.will_apply)
    }

    /// Whether a run was interrupted (exit 5).
    pub fn interrupted(&self) -> Option<&Blocker> {
        self.blockers
            .iter()
            .find(|b| matches!(b, Blocker::Interrupted { .. }))
    }
}

/// Compute the plan from the source (resolved for the backend) and the history.
pub fn plan(source: &[Migration], history: &[HistoryRecord], opts: &PlanOptions) -> Plan {
    plan_owned(source, history.to_vec(), opts)
}

/// [`plan`] taking the history rows, which move into the plan's entries instead of being copied
/// (on 10,000 migrations the copies were a sixth of `status`).
pub fn plan_owned(source: &[Migration], history: Vec<HistoryRecord>, opts: &PlanOptions) -> Plan {
    let newest_applied = history
        .iter()
        .filter(|h| h.status == Status::Success)
        .map(|h| h.version)
        .max();
    // A merge of two version-ordered lists (the history arrives ordered, the source is kept so;
    // both are sorted here only if not): no map, no final sort, entries allocated once.
    let mut history = history;
    if !history.is_sorted_by_key(|h| h.version) {
        history.sort_by_key(|h| h.version);
    }
    let mut ordered: Vec<&Migration> = source.iter().collect();
    if !ordered.is_sorted_by_key(|m| m.version) {
        ordered.sort_by_key(|m| m.version);
    }
    let mut entries = Vec::with_capacity(source.len() + history.len());
    let mut blockers = Vec::new();
    // Blockers for rows with no migration in the source come after the others, as they always have.
    let mut orphan_blockers = Vec::new();
    let in_target = |v: i64| opts.target.is_none_or(|t| v <= t);
    let mut rows = history.into_iter().peekable();

    for m in ordered {
        while let Some(h) = rows.next_if(|h| h.version < m.version) {
            orphan(h, opts, &mut entries, &mut orphan_blockers);
        }
        let owned = rows.next_if(|h| h.version == m.version);
        let h = owned.as_ref();
        let (state, recorded) = match h.map(|h| h.status) {
            Some(Status::Success) if h.is_some_and(|h| h.checksum != m.checksum) => {
                (State::ChecksumMismatch, h.map(|h| h.checksum.clone()))
            }
            Some(Status::Success) => (State::Applied, None),
            Some(Status::Skipped) => (State::Skipped, None),
            Some(Status::Running) => (State::Running, None),
            Some(Status::Failed) => (State::Failed, None),
            Some(Status::RolledBack) | None => match newest_applied {
                Some(n) if m.version < n => (State::OutOfOrder, None),
                _ => (State::Pending, None),
            },
        };
        match state {
            State::ChecksumMismatch if !opts.allow_checksum_mismatch => {
                blockers.push(Blocker::ChecksumMismatch {
                    version: m.version,
                    origin: m.origin.clone(),
                    recorded: recorded.clone().unwrap_or_default(),
                    current: m.checksum.clone(),
                })
            }
            State::OutOfOrder if !opts.allow_out_of_order && in_target(m.version) => {
                blockers.push(Blocker::OutOfOrder {
                    version: m.version,
                    origin: m.origin.clone(),
                    newest_applied: newest_applied.unwrap_or_default(),
                })
            }
            State::Running => blockers.push(Blocker::Interrupted {
                version: m.version,
                name: m.name.clone(),
                statements_applied: h.and_then(|h| h.statements_applied),
                statements_total: h.and_then(|h| h.statements_total),
            }),
            _ => {}
        }
        let will_apply = in_target(m.version)
            && match state {
                State::Pending | State::Failed => true,
                State::OutOfOrder => opts.allow_out_of_order,
                _ => false,
            };
        entries.push(Entry {
            version: m.version,
            name: m.name.clone(),
            state,
            checksum: m.checksum.clone(),
            recorded_checksum: recorded,
            origin: Some(m.origin.clone()),
            history: owned,
            will_apply,
        });
    }
    for h in rows {
        orphan(h, opts, &mut entries, &mut orphan_blockers);
    }
    blockers.append(&mut orphan_blockers);
    Plan { entries, blockers }
}

/// A history row with no migration in the source: its entry, and its blocker if it is one.
fn orphan(
    h: HistoryRecord,
    opts: &PlanOptions,
    entries: &mut Vec<Entry>,
    blockers: &mut Vec<Blocker>,
) {
    let state = match h.status {
        Status::Success => State::MissingFile,
        Status::Running => State::Running,
        Status::Failed => State::Failed,
        Status::Skipped => State::Skipped,
        Status::RolledBack => return,
    };
    if state == State::MissingFile && !opts.ignore_missing {
        blockers.push(Blocker::MissingFile {
            version: h.version,
            name: h.name.clone(),
        });
    }
    if state == State::Running {
        blockers.push(Blocker::Interrupted {
            version: h.version,
            name: h.name.clone(),
            statements_applied: h.statements_applied,
            statements_total: h.statements_total,
        });
    }
    entries.push(Entry {
        version: h.version,
        name: h.name.clone(),
        state,
        checksum: h.checksum.clone(),
        recorded_checksum: None,
        origin: None,
        history: Some(h),
        will_apply: false,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::source::{checksum, Body, Directives};

    fn mig(v: i64, sql: &str) -> Migration {
        Migration {
            version: v,
            name: format!("m{v}"),
            up: Body::Sql(sql.into()),
            down: None,
            origin: format!("{v:04}_m{v}.sql"),
            down_origin: None,
            checksum: checksum(sql),
            directives: Directives::default(),
        }
    }

    fn rec(v: i64, sql: &str, status: Status) -> HistoryRecord {
        HistoryRecord {
            version: v,
            name: format!("m{v}"),
            checksum: checksum(sql),
            checksum_algorithm: "sha256-lf".into(),
            status,
            applied_at: String::new(),
            duration_ms: 1,
            error_message: None,
            db_type: "sqlite".into(),
            installed_by: "me".into(),
            attempts: 1,
            statements_applied: None,
            statements_total: None,
        }
    }

    fn states(p: &Plan) -> Vec<(i64, State, bool)> {
        p.entries
            .iter()
            .map(|e| (e.version, e.state, e.will_apply))
            .collect()
    }

    #[test]
    fn empty_history_applies_everything_in_order() {
        let p = plan(&[mig(1, "a"), mig(2, "b")], &[], &PlanOptions::default());
        assert_eq!(
            states(&p),
            vec![(1, State::Pending, true), (2, State::Pending, true)]
        );
        assert!(p.blockers.is_empty());
    }

    #[test]
    fn up_to_date_has_no_work() {
        let p = plan(
            &[mig(1, "a")],
            &[rec(1, "a", Status::Success)],
            &PlanOptions::default(),
        );
        assert!(!p.has_work());
        assert_eq!(states(&p), vec![(1, State::Applied, false)]);
    }

    #[test]
    fn edited_file_blocks_unless_allowed() {
        let src = [mig(1, "a changed"), mig(2, "b")];
        let hist = [rec(1, "a", Status::Success)];
        let p = plan(&src, &hist, &PlanOptions::default());
        assert_eq!(p.entries[0].state, State::ChecksumMismatch);
        assert!(matches!(
            &p.blockers[..],
            [Blocker::ChecksumMismatch { version: 1, .. }]
        ));
        assert!(p.blockers[0].to_string().contains("0001_m1.sql"));
        let p = plan(
            &src,
            &hist,
            &PlanOptions {
                allow_checksum_mismatch: true,
                ..Default::default()
            },
        );
        assert!(p.blockers.is_empty());
        assert_eq!(p.to_apply().map(|e| e.version).collect::<Vec<_>>(), vec![2]);
    }

    #[test]
    fn missing_file_blocks_unless_ignored() {
        let p = plan(
            &[mig(2, "b")],
            &[rec(1, "a", Status::Success)],
            &PlanOptions::default(),
        );
        assert_eq!(
            states(&p),
            vec![(1, State::MissingFile, false), (2, State::Pending, true)]
        );
        assert!(matches!(
            &p.blockers[..],
            [Blocker::MissingFile { version: 1, .. }]
        ));
        let p = plan(
            &[mig(2, "b")],
            &[rec(1, "a", Status::Success)],
            &PlanOptions {
                ignore_missing: true,
                ..Default::default()
            },
        );
        assert!(p.blockers.is_empty());
    }

    #[test]
    fn out_of_order_blocks_unless_allowed() {
        let src = [mig(1, "a"), mig(2, "b"), mig(3, "c")];
        let hist = [rec(1, "a", Status::Success), rec(3, "c", Status::Success)];
        let p = plan(&src, &hist, &PlanOptions::default());
        assert_eq!(p.entries[1].state, State::OutOfOrder);
        assert!(!p.entries[1].will_apply);
        assert!(matches!(
            &p.blockers[..],
            [Blocker::OutOfOrder {
                version: 2,
                newest_applied: 3,
                ..
            }]
        ));
        let p = plan(
            &src,
            &hist,
            &PlanOptions {
                allow_out_of_order: true,
                ..Default::default()
            },
        );
        assert!(p.blockers.is_empty() && p.entries[1].will_apply);
    }

    #[test]
    fn failed_is_retried_running_blocks() {
        let src = [mig(1, "a"), mig(2, "b")];
        let p = plan(
            &src,
            &[rec(1, "a", Status::Success), rec(2, "old", Status::Failed)],
            &PlanOptions::default(),
        );
        assert_eq!(states(&p)[1], (2, State::Failed, true));
        assert!(
            p.blockers.is_empty(),
            "a failed migration's file may change: no mismatch"
        );
        let p = plan(
            &src,
            &[rec(1, "a", Status::Running)],
            &PlanOptions::default(),
        );
        assert!(p.interrupted().is_some());
        assert!(p.blockers[0]
            .to_string()
            .contains("repair --mark-applied 1"));
    }

    #[test]
    fn target_limits_and_rolled_back_is_pending() {
        let src = [mig(1, "a"), mig(2, "b"), mig(3, "c")];
        let p = plan(
            &src,
            &[rec(1, "a", Status::RolledBack)],
            &PlanOptions {
                target: Some(2),
                ..Default::default()
            },
        );
        assert_eq!(
            states(&p),
            vec![
                (1, State::Pending, true),
                (2, State::Pending, true),
                (3, State::Pending, false)
            ]
        );
    }

    #[test]
    fn skipped_stays_skipped() {
        let p = plan(
            &[mig(1, "a")],
            &[rec(1, "a", Status::Skipped)],
            &PlanOptions::default(),
        );
        assert_eq!(states(&p), vec![(1, State::Skipped, false)]);
    }
}
