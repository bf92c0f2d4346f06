//! `plinth explain CODE [--backend B]`: what a SQLSTATE, MySQL/MariaDB error number or SQLite
//! result code means, its category and disposition, and what plinth does with it.

use plinth::errors::{explain, Explanation};
use plinth::Backend;

/// Arguments of `plinth explain`.
#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    /// A SQLSTATE (42P07), a MySQL/MariaDB error number (1062) or a SQLite result code (2067).
    code: String,
    /// Read the code as this backend does: postgres, mysql, mariadb or sqlite (default: all).
    #[arg(long)]
    backend: Option<String>,
}

/// Render the explanation; returns the text for stdout and the exit code (0 known, 1 unknown
/// code, 2 bad `--backend`).
pub fn run(args: &ExplainArgs, json: bool) -> (String, i32) {
    let backend = match args.backend.as_deref() {
        None => None,
        Some(name) => match Backend::parse(name) {
            Some(b) => Some(b),
            None => {
                let msg =
                    format!("unknown backend `{name}`: use postgres, mysql, mariadb or sqlite");
                return if json {
                    (serde_json::json!({ "error": msg }).to_string(), 2)
                } else {
                    (msg, 2)
                };
            }
        },
    };
    let found = explain(&args.code, backend);
    if json {
        let value = serde_json::json!({
            "code": args.code,
            "backend": backend.map(|b| b.as_str()),
            "known": !found.is_empty(),
            "explanations": found,
        });
        let text = serde_json::to_string_pretty(&value)
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        return (text, if found.is_empty() { 1 } else { 0 });
    }
    if found.is_empty() {
        let scope = backend.map(|b| format!(" on {b}")).unwrap_or_default();
        return (
            format!(
                "unknown code `{}`{scope}: plinth classifies it as unknown / fatal (logged as critical, never retried)",
                args.code
            ),
            1,
        );
    }
    (render(&found), 0)
}

fn render(found: &[Explanation]) -> String {
    let mut out = String::new();
    for e in found {
        let mut table = crate::output::new_table();
        table.set_header(vec![
            format!("{} {} {}", e.backend, e.kind, e.code),
            e.name.clone(),
        ]);
        table.add_row(vec!["meaning".to_string(), e.meaning.clone()]);
        table.add_row(vec!["category".to_string(), e.category.to_string()]);
        let mut disposition = e.disposition.to_string();
        if e.retry_outside_transaction_only {
            disposition.push_str(" (retry only outside a transaction)");
        }
        table.add_row(vec!["disposition".to_string(), disposition]);
        table.add_row(vec!["plinth does".to_string(), e.action.clone()]);
        out.push_str(&table.to_string());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(code: &str, backend: Option<&str>) -> ExplainArgs {
        ExplainArgs {
            code: code.to_string(),
            backend: backend.map(str::to_string),
        }
    }

    #[test]
    fn known_unknown_and_bad_backend() {
        let (text, code) = run(&args("1062", Some("mysql")), false);
        assert_eq!(code, 0);
        assert!(
            text.contains("unique_violation") && !text.contains("datatype"),
            "{text}"
        );
        let (text, code) = run(&args("42P07", None), false);
        assert_eq!(code, 0);
        assert!(text.contains("duplicate_table"), "{text}");
        let (text, code) = run(&args("40001", Some("postgres")), true);
        assert_eq!(code, 0);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(v["explanations"][0]["category"], "serialization_failure");
        assert_eq!(v["explanations"][0]["disposition"], "transient");
        let (text, code) = run(&args("99999", Some("mysql")), false);
        assert_eq!(code, 1);
        assert!(text.contains("unknown code"), "{text}");
        assert_eq!(run(&args("1062", Some("oracle")), false).1, 2);
    }
}
