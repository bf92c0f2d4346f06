//! `plinth migrate`: apply pending migrations (or show them with --dry-run).

use crate::cli::{CliError, Context, MigrateArgs};
use crate::output::{self, Progress};
use plinth::migrate::{MigrateReport, Migrator};

/// Run `migrate`.
pub async fn run(ctx: &Context, args: &MigrateArgs) -> Result<i32, CliError> {
    let check = ctx.take_check();
    // An unchanged directory's cached digests can answer the up-to-date check without building
    // the source; anything else takes the full path with the same check.
    let mut connection = None;
    let mut up_to_date = None;
    if let (Some(digests), Some(check)) = (ctx.cached_digests().await, &check) {
        let mut db = ctx.connect().await?;
        up_to_date = check
            .matches(&mut db, &digests)
            .await
            .map_err(|e| super::migrate_error(ctx, e))?;
        connection = Some(db);
    }
    let (report, mut db) = match (up_to_date, connection) {
        (Some(server), Some(db)) => {
            tracing::debug!(backend = %server.backend, "database is up to date (cached digest)");
            ctx.source_not_needed();
            (MigrateReport::up_to_date(server), db)
        }
        (_, connection) => {
            let source = ctx.source()?;
            let mut db = match connection {
                Some(db) => db,
                None => ctx.connect().await?,
            };
            let migrator = Migrator::new(source, ctx.migrate_options(args));
            let progress = Progress::new();
            let result = match check {
                Some(check) => migrator.migrate_checked(&mut db, check, &progress).await,
                None => migrator.migrate(&mut db, &progress).await,
            };
            progress.finish();
            (result.map_err(|e| super::migrate_error(ctx, e))?, db)
        }
    };
    let wait = match args.wait_replicas {
        Some(secs) if report.dry_run.is_none() => {
            Some(super::replicas::wait(ctx, &mut db, std::time::Duration::from_secs(secs)).await)
        }
        _ => None,
    };
    let _ = db.close().await;
    if ctx.json() {
        let mut value = serde_json::to_value(&report).unwrap_or_default();
        if let (Some(obj), Some(w)) = (value.as_object_mut(), &wait) {
            obj.insert("replicas".into(), super::replicas::json(w));
        }
        output::json(ctx, &value);
        return super::replicas::exit(ctx, wait);
    }
    if let Some(steps) = &report.dry_run {
        output::out(
            ctx,
            &format!(
                "Dry run on {} {}: {} migration(s) would run; nothing was changed.\n",
                report.server.backend,
                report.server.version_string,
                steps.len()
            ),
        );
        for s in steps {
            output::out(
                ctx,
                &format!(
                    "-- {:04}_{} ({})\n-- transaction: {}",
                    s.version, s.name, s.origin, s.transaction
                ),
            );
            output::out(
                ctx,
                &format!("{}\n", s.sql.as_deref().unwrap_or("-- (Rust migration)")),
            );
        }
        return Ok(0);
    }
    if report.applied.is_empty() {
        output::out(
            ctx,
            &format!(
                "Database is up to date ({} {}).",
                report.server.backend, report.server.version_string
            ),
        );
        super::replicas::print(ctx, &wait);
        return super::replicas::exit(ctx, wait);
    }
    let mut t = output::table(&["Version", "Name", "Outcome", "Duration"]);
    for a in &report.applied {
        let outcome = match &a.reason {
            Some(r) => format!("{} ({r})", a.outcome),
            None => a.outcome.to_string(),
        };
        t.add_row(vec![
            a.version.to_string(),
            a.name.clone(),
            outcome,
            format!("{} ms", a.duration_ms),
        ]);
    }
    output::out(ctx, &t.to_string());
    let applied = report
        .applied
        .iter()
        .filter(|a| a.outcome == "applied")
        .count();
    output::out(
        ctx,
        &format!(
            "Applied {applied} migration(s) on {} {}.",
            report.server.backend, report.server.version_string
        ),
    );
    super::replicas::print(ctx, &wait);
    super::replicas::exit(ctx, wait)
}
