//! `plinth compat`: show what a backend can do, or check whether the connected schema would carry
//! over to another backend. Renders library values; the caller connects and prints.

use plinth::backend::Db;
use plinth::compat::{
    capabilities_for, introspect, parse_backend_spec, portability_check_for, Capabilities,
    Capability, Finding,
};
use plinth::{Backend, Version};

/// Arguments of `plinth compat`.
#[derive(clap::Args, Debug, Clone)]
pub struct CompatArgs {
    /// Show the matrix for this backend instead of the connected server, with an optional version:
    /// `postgres`, `mysql:8.0.36`, `mariadb:10.11`, `sqlite:3.45`.
    #[arg(long, value_name = "BACKEND[:VERSION]")]
    pub backend: Option<String>,
    /// What to do instead of showing the matrix.
    #[command(subcommand)]
    pub command: Option<CompatCommand>,
}

/// Subcommands of `plinth compat`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum CompatCommand {
    /// Report each table, column and index of the connected database that would not carry over
    /// to the target backend unchanged.
    Check {
        /// The backend to move to, with an optional version (`mysql`, `mariadb:10.6`).
        #[arg(long, value_name = "BACKEND[:VERSION]")]
        target: String,
    },
}

/// Parse a `BACKEND[:VERSION]` flag, or say what is accepted.
pub fn parse_spec(spec: &str) -> Result<(Backend, Version), String> {
    parse_backend_spec(spec).ok_or_else(|| {
        format!("unknown backend `{spec}`: use postgres, mysql, mariadb or sqlite, optionally with :VERSION")
    })
}

/// Render a capability matrix as a table or JSON.
pub fn render_capabilities(caps: &Capabilities, json: bool) -> String {
    if json {
        return serde_json::to_string_pretty(caps).unwrap_or_default();
    }
    let mut t = crate::output::new_table();
    t.set_header(vec!["capability", "supported", "note"]);
    for c in Capability::ALL {
        let yes = if caps.is_capable(c) { "yes" } else { "no" };
        t.add_row(vec![c.name(), yes, c.note(caps.backend).unwrap_or("")]);
    }
    let m = &caps.max_varchar;
    t.add_row(vec![
        "json_kind".to_string(),
        format!("{:?}", caps.json.kind),
        caps.json.type_name.clone().unwrap_or_default(),
    ]);
    t.add_row(vec![
        "max_varchar".to_string(),
        m.max_length
            .map(|n| format!("{n} {:?}", m.unit).to_lowercase())
            .unwrap_or_else(|| "not enforced".into()),
        m.note.clone(),
    ]);
    let id = &caps.max_identifier;
    t.add_row(vec![
        "max_identifier".to_string(),
        id.max_length
            .map(|n| format!("{n} {:?}", id.unit).to_lowercase())
            .unwrap_or_else(|| "no limit".into()),
        format!("longer names: {:?}", id.overlong).to_lowercase(),
    ]);
    t.add_row(vec![
        "default_isolation".to_string(),
        caps.default_isolation.as_sql().to_string(),
        String::new(),
    ]);
    t.add_row(vec![
        "auto_id".to_string(),
        caps.auto_id.declaration.clone(),
        String::new(),
    ]);
    format!("{} {}\n{t}", caps.backend, caps.version)
}

/// Render portability findings as a table or JSON.
pub fn render_findings(findings: &[Finding], from: Backend, target: Backend, json: bool) -> String {
    if json {
        let v = serde_json::json!({ "from": from, "target": target, "findings": findings });
        return serde_json::to_string_pretty(&v).unwrap_or_default();
    }
    if findings.is_empty() {
        return format!(
            "every table, column and index carries over from {from} to {target} unchanged"
        );
    }
    let mut t = crate::output::new_table();
    t.set_header(vec!["table", "object", "type", "suggested", "reason"]);
    for f in findings {
        t.add_row(vec![
            f.table.clone(),
            format!("{:?} {}", f.kind, f.name).to_lowercase(),
            f.source_type.clone().unwrap_or_default(),
            f.suggested.clone().unwrap_or_default(),
            f.reason.clone(),
        ]);
    }
    format!(
        "{} finding(s) moving {from} → {target}\n{t}",
        findings.len()
    )
}

/// Run `plinth compat`: output and exit code (0 fine, 1 findings or a failed query, 2 bad usage).
/// `db` is needed unless `--backend` names the backend to show.
pub async fn run(args: &CompatArgs, db: Option<&mut Db>, json: bool) -> (String, i32) {
    match &args.command {
        None => {
            if let Some(spec) = &args.backend {
                return match parse_spec(spec) {
                    Ok((b, v)) => (render_capabilities(&capabilities_for(b, v), json), 0),
                    Err(e) => (e, 2),
                };
            }
            let Some(db) = db else {
                return (
                    "no database to inspect: give --backend or a database URL".into(),
                    2,
                );
            };
            match db.server_info().await {
                Ok(info) => (
                    render_capabilities(&Capabilities::for_server(&info), json),
                    0,
                ),
                Err(e) => (format!("cannot read the server version: {e}"), 1),
            }
        }
        Some(CompatCommand::Check { target }) => {
            let (tb, tv) = match parse_spec(target) {
                Ok(x) => x,
                Err(e) => return (e, 2),
            };
            let Some(db) = db else {
                return ("compat check needs a database connection".into(), 2);
            };
            let info = match db.server_info().await {
                Ok(i) => i,
                Err(e) => return (format!("cannot read the server version: {e}"), 1),
            };
            let schema = match introspect(db).await {
                Ok(s) => s,
                Err(e) => return (e.to_string(), 1),
            };
            let findings = portability_check_for(
                &schema,
                &Capabilities::for_server(&info),
                &capabilities_for(tb, tv),
            );
            let code = i32::from(!findings.is_empty());
            (render_findings(&findings, info.backend, tb, json), code)
        }
    }
}
