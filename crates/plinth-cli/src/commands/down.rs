//! `plinth down`: roll back the newest migrations with their down files.

use crate::cli::{CliError, Context, DownArgs};
use crate::output;
use plinth::migrate::{DownOptions, MigrateOptions, Migrator};
use std::time::Duration;

/// Run `down`.
pub async fn run(ctx: &Context, args: &DownArgs) -> Result<i32, CliError> {
    let source = ctx.source()?;
    let mut db = ctx.connect().await?;
    let options = MigrateOptions {
        lock_timeout: Duration::from_secs(args.lock_timeout),
        ..ctx.options()
    };
    let opts = DownOptions {
        to: args.to,
        steps: args.steps,
        dry_run: args.dry_run,
    };
    let steps = Migrator::new(source, options)
        .down(&mut db, &opts)
        .await
        .map_err(|e| super::migrate_error(ctx, e))?;
    let _ = db.close().await;
    if ctx.json() {
        output::json(
            ctx,
            &serde_json::json!({ "dry_run": args.dry_run, "rolled_back": steps }),
        );
    } else if steps.is_empty() {
        output::out(ctx, "Nothing to roll back.");
    } else if args.dry_run {
        for s in &steps {
            output::out(
                ctx,
                &format!(
                    "-- would roll back {:04}_{} ({}); transaction: {}\n{}\n",
                    s.version,
                    s.name,
                    s.origin,
                    s.transaction,
                    s.sql.as_deref().unwrap_or("")
                ),
            );
        }
    } else {
        for s in &steps {
            output::out(ctx, &format!("rolled back {:04}_{}", s.version, s.name));
        }
    }
    Ok(0)
}
