//! Everything that leaves the process: logs (scrubbed of secrets), tables, JSON and progress bars.

use crate::cli::Context;
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use plinth::migrate::{Migration, Observer, RunEvent};
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// A stderr writer that removes secrets from every log line before it is written.
#[derive(Clone)]
struct ScrubbingStderr {
    secrets: Vec<String>,
}

struct ScrubbingWriter<'a> {
    secrets: &'a [String],
}

impl Write for ScrubbingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let clean = plinth::redact::scrub(&text, self.secrets);
        std::io::stderr().write_all(clean.as_bytes())?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> MakeWriter<'a> for ScrubbingStderr {
    type Writer = ScrubbingWriter<'a>;
    fn make_writer(&'a self) -> Self::Writer {
        ScrubbingWriter {
            secrets: &self.secrets,
        }
    }
}

/// Install the log subscriber: info by default, debug with -v, trace with -vv, errors with -q;
/// `RUST_LOG` overrides.
pub fn init_logging(ctx: &Context, verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "plinth=info,plinth_cli=info,warn",
        (false, 1) => "plinth=debug,plinth_cli=debug,info",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(ScrubbingStderr {
            secrets: ctx.secrets.clone(),
        })
        .try_init();
}

/// Print to stdout, scrubbed.
pub fn out(ctx: &Context, text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{}", ctx.scrub(text.trim_end_matches('\n')));
}

/// Leave a large value to the end of the process instead of freeing it now: the command is about
/// to exit, and returning tens of megabytes to the allocator piece by piece only delays that (about
/// 5 ms for `status` on 10,000 migrations). Only for values that own nothing but memory.
pub fn keep_until_exit<T>(value: T) {
    std::mem::forget(value);
}

/// Print a value as pretty JSON on stdout.
pub fn json<T: serde::Serialize>(ctx: &Context, value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => out(ctx, &s),
        Err(e) => eprintln!("error: cannot render JSON: {e}"),
    }
}

/// A table in the house style: wrapped to the terminal, or to 120 columns when piped.
pub fn new_table() -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if !std::io::stdout().is_terminal() {
        t.set_width(120);
    }
    t
}

/// Past this many rows a table is printed as plain aligned columns: fitting cells to the width
/// (comfy-table) costs more than everything else `status` does on 10,000 migrations, and helps
/// nobody reading that many lines.
pub const PLAIN_FROM_ROWS: usize = 500;

/// Rows as plain columns aligned with spaces, under a header and a rule of dashes.
pub fn plain_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::with_capacity((rows.len() + 2) * (widths.iter().sum::<usize>() + 16));
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut first = true;
        let mut pending = 0;
        for (cell, w) in cells.zip(&widths) {
            if !first {
                out.extend(std::iter::repeat_n(' ', pending + 2));
            }
            first = false;
            out.push_str(cell);
            pending = w - cell.chars().count();
        }
        out.push('\n');
    };
    line(&mut header.iter().copied());
    let rules: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(&mut rules.iter().map(String::as_str));
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// A table in the house style with a header row.
pub fn table(header: &[&str]) -> Table {
    let mut t = new_table();
    t.set_header(header.iter().copied());
    t
}

/// A progress bar on a terminal when more than a few migrations run; otherwise silence.
pub struct Progress {
    bar: Mutex<Option<indicatif::ProgressBar>>,
}

impl Progress {
    /// A progress observer (inactive when stderr is not a terminal).
    pub fn new() -> Self {
        Progress {
            bar: Mutex::new(None),
        }
    }

    fn with_bar(&self, f: impl FnOnce(&indicatif::ProgressBar)) {
        if let Ok(guard) = self.bar.lock() {
            if let Some(b) = guard.as_ref() {
                f(b);
            }
        }
    }

    /// Remove the bar.
    pub fn finish(&self) {
        self.with_bar(|b| b.finish_and_clear());
    }
}

impl Observer for Progress {
    fn event(&self, event: &RunEvent<'_>) {
        match event {
            RunEvent::Planned { total } if *total > 3 && std::io::stderr().is_terminal() => {
                let bar = indicatif::ProgressBar::new(*total as u64);
                if let Ok(style) =
                    indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
                {
                    bar.set_style(style);
                }
                if let Ok(mut g) = self.bar.lock() {
                    *g = Some(bar);
                }
            }
            RunEvent::Started { migration } => self.with_bar(|b| b.set_message(label(migration))),
            RunEvent::Applied { .. } | RunEvent::Skipped { .. } => self.with_bar(|b| b.inc(1)),
            _ => {}
        }
    }
}

fn label(m: &Migration) -> String {
    format!("{:04}_{}", m.version, m.name)
}
