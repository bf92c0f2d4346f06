//! The `plinth` command: a thin shell over the plinth library. It parses flags, installs logging,
//! renders results as text tables or JSON, and maps outcomes to exit codes.

mod cli;
mod commands;
mod output;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let ctx = match cli::Context::new(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {}", e.message);
            return ExitCode::from(e.code as u8);
        }
    };
    // Commands that read the migrations and then connect do both at once (see docs/BENCHMARKS.md).
    // Logging first, so that what the reading thread logs is not lost.
    output::init_logging(&ctx, args.verbose, args.quiet);
    let prefetch = cli::Context::prefetches(&args.command);
    if prefetch {
        ctx.start_source_read(&args.command);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(async {
        if prefetch {
            ctx.prefetch(&args.command).await;
        }
        commands::run(&ctx, &args.command).await
    });
    ExitCode::from(code as u8)
}
