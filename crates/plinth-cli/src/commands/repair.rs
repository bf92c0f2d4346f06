//! `plinth repair`: accept edited checksums, or settle an interrupted migration after inspection.

use crate::cli::{CliError, Context, RepairArgs};
use crate::output;
use plinth::migrate::{MigrateOptions, Migrator, RepairOptions};
use std::time::Duration;

/// Run `repair`.
pub async fn run(ctx: &Context, args: &RepairArgs) -> Result<i32, CliError> {
    let source = ctx.source()?;
    let mut db = ctx.connect().await?;
    let opts = RepairOptions {
        mark_applied: args.mark_applied,
        mark_rolled_back: args.mark_rolled_back,
        resume: args.resume,
        from_statement: args.from_statement,
    };
    let options = MigrateOptions {
        lock_timeout: Duration::from_secs(args.lock_timeout),
        ..ctx.options()
    };
    let report = Migrator::new(source, options)
        .repair(&mut db, &opts)
        .await
        .map_err(|e| super::migrate_error(ctx, e))?;
    let _ = db.close().await;
    if ctx.json() {
        output::json(ctx, &report);
    } else if report.changes.is_empty() {
        output::out(ctx, "Nothing to repair.");
    } else {
        for (v, what) in &report.changes {
            output::out(ctx, &format!("repaired {v}: {what}"));
        }
    }
    Ok(0)
}
