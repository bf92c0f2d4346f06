//! `plinth lint`: check migration files for what would fail, half-apply, lose data or lock a busy
//! table on the target backend. Reads files only; needs no database.

use plinth::compat::lint::{has_errors, lint_dir, LintFinding, Severity};
use plinth::Backend;
use std::path::Path;

/// Arguments of `plinth lint`.
#[derive(clap::Args, Debug, Clone)]
pub struct LintArgs {
    /// Lint for this backend (postgres, mysql, mariadb, sqlite); without it, backend-neutral
    /// rules plus each variant file's own backend.
    #[arg(long, value_name = "BACKEND")]
    pub target: Option<String>,
}

/// Render findings as a table or JSON.
pub fn render(findings: &[LintFinding], json: bool) -> String {
    if json {
        return serde_json::to_string_pretty(findings).unwrap_or_default();
    }
    if findings.is_empty() {
        return "no findings".into();
    }
    let mut t = crate::output::new_table();
    t.set_header(vec!["severity", "file:line", "rule", "message", "fix"]);
    for f in findings {
        let sev = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        t.add_row(vec![
            sev.to_string(),
            format!("{}:{}", f.file, f.line),
            f.rule.to_string(),
            f.message.clone(),
            f.fix.clone(),
        ]);
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    format!(
        "{t}\n{errors} error(s), {} warning(s)",
        findings.len() - errors
    )
}

/// Run `plinth lint`: output and exit code (0 clean or warnings only, 1 errors, 2 bad target or
/// unreadable directory).
pub fn run(args: &LintArgs, source: &Path, json: bool) -> (String, i32) {
    let target = match &args.target {
        None => None,
        Some(name) => match Backend::parse(name) {
            Some(b) => Some(b),
            None => {
                return (
                    format!("unknown target `{name}`: use postgres, mysql, mariadb or sqlite"),
                    2,
                )
            }
        },
    };
    match lint_dir(source, target) {
        Ok(findings) => (render(&findings, json), i32::from(has_errors(&findings))),
        Err(e) => (e.to_string(), 2),
    }
}
