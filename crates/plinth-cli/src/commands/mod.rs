//! One file per command; this file dispatches and maps library errors to exit codes.

mod down;
mod fleet;
mod migrate;
mod new;
mod repair;
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
