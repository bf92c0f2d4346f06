//! `plinth migrate --targets FILE` and `plinth status --targets FILE`: a fleet of tenant databases.

use crate::cli::{CliError, Context, FleetArgs, MigrateArgs};
use crate::output;
use plinth::backend::ConnectConfig;
use plinth::migrate::fleet::{self, TargetOutcome, TargetReport};
use plinth::migrate::Migrator;
use std::io::IsTerminal;

/// Run fleet mode: migrate (`args` given) or status (`args` None).
pub async fn run(
    ctx: &Context,
    fleet_args: &FleetArgs,
    args: Option<&MigrateArgs>,
) -> Result<i32, CliError> {
    let source = ctx.source()?;
    let targets = match (&fleet_args.targets, &fleet_args.targets_query) {
        (Some(file), _) => {
            let text = std::fs::read_to_string(file).map_err(|e| {
                CliError::new(
                    2,
                    format!("cannot read targets file {}: {e}", file.display()),
                )
            })?;
            fleet::parse_targets(&text)
        }
        (None, Some(query)) => {
            fleet::targets_from_query(&ctx.url, query, &ConnectConfig::default())
                .await
                .map_err(|e| super::migrate_error(ctx, e))?
        }
        (None, None) => Vec::new(),
    };
    if targets.is_empty() {
        return Err(CliError::new(
            2,
            "no targets: the targets file or query listed no database",
        ));
    }
    let secrets: Vec<String> = targets
        .iter()
        .flat_map(|t| plinth::redact::secrets_of(t))
        .collect();
    let scrub = |s: &str| plinth::redact::scrub(&ctx.scrub(s), &secrets);
    let parallel = fleet_args.parallel.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let options = match args {
        Some(a) => ctx.migrate_options(a),
        None => ctx.options(),
    };
    let migrator = Migrator::new(source, options);
    let bar = if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(targets.len() as u64);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} targets {msg}")
        {
            b.set_style(style);
        }
        Some(b)
    } else {
        None
    };
    let on_done = |r: &TargetReport| {
        if let Some(b) = &bar {
            b.inc(1);
            if matches!(r.outcome, TargetOutcome::Failed { .. }) {
                b.set_message("(some failed)");
            }
        }
    };
    let reports =
        fleet::migrate_fleet(&migrator, &targets, parallel, args.is_none(), &on_done).await;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let failed = reports
        .iter()
        .filter(|r| matches!(r.outcome, TargetOutcome::Failed { .. }))
        .count();
    let applied = reports
        .iter()
        .filter(|r| matches!(r.outcome, TargetOutcome::Applied { .. }))
        .count();
    let current = reports
        .iter()
        .filter(|r| matches!(r.outcome, TargetOutcome::AlreadyCurrent))
        .count();
    if ctx.json() {
        let v = serde_json::json!({
            "targets": reports,
            "summary": { "total": reports.len(), "applied": applied, "already_current": current, "failed": failed },
        });
        output::out(
            ctx,
            &scrub(&serde_json::to_string_pretty(&v).unwrap_or_default()),
        );
    } else {
        let mut t = output::table(&["Target", "Outcome", "Detail", "Duration"]);
        for r in &reports {
            let (outcome, detail) = match &r.outcome {
                TargetOutcome::Applied { count } => ("applied".to_string(), format!("{count} migration(s)")),
                TargetOutcome::AlreadyCurrent => ("already current".to_string(), String::new()),
                TargetOutcome::Failed { reason } => ("FAILED".to_string(), reason.chars().take(200).collect()),
                TargetOutcome::Status { applied, pending, failed, problems } => {
                    ("status".to_string(), format!("{applied} applied, {pending} pending, {failed} failed, {problems} problem(s)"))
                }
            };
            t.add_row(vec![
                r.target.clone(),
                outcome,
                detail,
                format!("{} ms", r.duration_ms),
            ]);
        }
        output::out(ctx, &scrub(&t.to_string()));
        if args.is_some() {
            output::out(
                ctx,
                &format!(
                    "{} target(s): {applied} migrated, {current} already current, {failed} failed.",
                    reports.len()
                ),
            );
        }
    }
    Ok(if failed > 0 { 1 } else { 0 })
}
