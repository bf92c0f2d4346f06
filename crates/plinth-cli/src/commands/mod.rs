//! One file per command; this file dispatches and maps library errors to exit codes.

pub mod compat;
pub mod doctor;
mod down;
pub mod explain;
mod fleet;
pub mod lint;
mod migrate;
mod new;
pub mod pool;
mod repair;
pub mod replicas;
mod status;

use crate::cli::{CliError, Command, Context};
use plinth::migrate::MigrateError;

/// Run a command and return the process exit code.
pub async fn run(ctx: &Context, command: &Command) -> i32 {
    let result = match command {
        Command::Migrate(a) if a.fleet.active() => fleet::run(ctx, &a.fleet, Some(a)).await,
        Command::Migrate(a) => migrate::run(ctx, a).await,
        Command::Status(a) if a.fleet.active() => fleet::run(ctx, &a.fleet, None).await,
        Command::Down(a) => down::run(ctx, a).await,
        Command::Status(_) => status::status(ctx).await,
        Command::Validate => status::validate(ctx).await,
        Command::History(a) => status::history(ctx, a).await,
        Command::Repair(a) => repair::run(ctx, a).await,
        Command::New(a) => new::run(ctx, a),
        Command::Lint(a) => Ok(printed(ctx, lint::run(a, &ctx.source_dir, ctx.json()))),
        Command::Explain(a) => Ok(printed(ctx, explain::run(a, ctx.json()))),
        Command::Compat(a) => compat_cmd(ctx, a).await,
        Command::Doctor(a) => Ok(printed(ctx, doctor::run(&ctx.url, a, ctx.json()).await)),
        Command::Pool(a) => Ok(printed(ctx, pool::run_load(&ctx.url, a, ctx.json()).await)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let message = ctx.scrub(&e.message);
            if ctx.json() {
                crate::output::json(
                    ctx,
                    &serde_json::json!({ "error": message, "exit_code": e.code }),
                );
            }
            eprintln!("error: {message}");
            e.code
        }
    }
}

/// Exit codes per design.md: 1 failed, 2 configuration, 3 unreachable, 4 lock timeout, 5 interrupted.
pub fn migrate_error(ctx: &Context, e: MigrateError) -> CliError {
    use plinth::migrate::lock::LockError;
    let code = match &e {
        MigrateError::Connect(_) => 3,
        MigrateError::Lock(LockError::Timeout { .. }) => 4,
        MigrateError::Lock(LockError::Connect(_)) => 3,
        MigrateError::Interrupted(_) => 5,
        MigrateError::Refused(_) => 2,
        MigrateError::History(plinth::migrate::history::HistoryError::InvalidName(_)) => 2,
        _ => 1,
    };
    CliError::new(code, ctx.scrub(&e.to_string()))
}

/// Print what a self-rendering command produced; errors (exit 2) go to stderr.
fn printed(ctx: &Context, (text, code): (String, i32)) -> i32 {
    if (code == 2 || code == 3) && !ctx.json() {
        eprintln!("error: {}", ctx.scrub(&text));
    } else {
        crate::output::out(ctx, &text);
    }
    code
}

async fn compat_cmd(ctx: &Context, args: &compat::CompatArgs) -> Result<i32, CliError> {
    let needs_db = args.backend.is_none() || args.command.is_some();
    if !needs_db {
        return Ok(printed(ctx, compat::run(args, None, ctx.json()).await));
    }
    let mut db = ctx.connect().await?;
    let out = compat::run(args, Some(&mut db), ctx.json()).await;
    let _ = db.close().await;
    Ok(printed(ctx, out))
}
