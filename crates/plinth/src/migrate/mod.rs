//! Migrations: where they come from (`source`), what has run (`history`), what to do (`plan`), doing
//! it safely (`runner`) and one migrator at a time (`lock`).

pub mod cluster;
pub mod fleet;
pub mod history;
pub mod lock;
pub mod plan;
pub mod runner;
pub mod scan;
pub mod source;

pub use history::{HistoryEvent, HistoryRecord, Status, DEFAULT_HISTORY_TABLE};
pub use plan::{plan, plan_owned, Blocker, Entry, Plan, PlanOptions, State};
pub use runner::{
    Applied, DownOptions, DryRunStep, HistoryRead, MigrateError, MigrateOptions, MigrateReport,
    Migrator, Observer, Quiet, RepairOptions, RepairReport, RunEvent, StatusReport, TxMode,
    UpToDateCheck,
};
pub use scan::default_cache_dir;
pub use source::{
    checksum, Directives, Migration, MigrationSource, SourceDigests, SourceError, SourceProblem,
    SqlFile,
};

use crate::backend::Backend;

/// Whether a capability named in a `requires` directive is available on this backend and version:
/// Some(met), or None when the name is not a known capability.
pub fn capability_check(name: &str, backend: Backend, version: crate::Version) -> Option<bool> {
    let cap = crate::compat::Capability::parse(name)?;
    Some(crate::compat::capabilities_for(backend, version).is_capable(cap))
}

/// `work` over `items`, split in two halves on two threads from `from` items on (results in the
/// items' order): for the per-file work of a run's start (stat, lint) that a large directory makes
/// the critical path.
pub(crate) fn in_two_halves<T: Sync, R: Send>(
    items: &[T],
    from: usize,
    work: impl Fn(&[T]) -> Vec<R> + Sync,
) -> Vec<R> {
    if items.len() < from {
        return work(items);
    }
    let (first, second) = items.split_at(items.len() / 2);
    std::thread::scope(|s| {
        let other = s.spawn(|| work(second));
        let mut out = work(first);
        match other.join() {
            Ok(rest) => out.extend(rest),
            Err(_) => out.extend(work(second)),
        }
        out
    })
}
