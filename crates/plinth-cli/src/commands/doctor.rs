//! `plinth doctor`: what the server sees of its clients — sessions by state, idle transactions,
//! lock waits, connection headroom — rendered for people or as JSON for scripts.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use plinth::backend::{ConnectConfig, Db};
use plinth::pool::{server_view, ServerFlag, ServerView};

/// Flags of `plinth doctor` (the output format is the global `--format`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DoctorArgs {
    /// Mark the sessions of this application name (a pool's name) as the pool's own.
    #[arg(long)]
    pub application_name: Option<String>,
}

/// Connect, read the server's view and render it; the exit code is 0, 1 when something is
/// flagged, 3 when the database cannot be reached.
pub async fn run(url: &str, args: &DoctorArgs, json: bool) -> (String, i32) {
    let mut db = match Db::connect(url, &ConnectConfig::default()).await {
        Ok(db) => db,
        Err(e) => return (e.to_string(), 3),
    };
    let result = server_view(&mut db).await;
    let replication = super::replicas::state(&mut db).await;
    let _ = db.close().await;
    match result {
        Ok(mut view) => {
            if let Some(app) = &args.application_name {
                flag_unknown_to_pool(&mut view, app);
            }
            let code = if view.flags.is_empty() { 0 } else { 1 };
            (
                with_replication(render(&view, json), &replication, json),
                code,
            )
        }
        Err(e) => (e.to_string(), 1),
    }
}

/// Add the replication state to a rendered view: a `replication` key in JSON, a line in text.
pub fn with_replication(
    rendered: String,
    replication: &Result<plinth::migrate::cluster::Replication, String>,
    json: bool,
) -> String {
    if json {
        let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&rendered) else {
            return rendered;
        };
        if let Some(obj) = v.as_object_mut() {
            obj.insert(
                "replication".into(),
                match replication {
                    Ok(r) => serde_json::to_value(r).unwrap_or_default(),
                    Err(e) => serde_json::json!({ "error": e }),
                },
            );
        }
        return serde_json::to_string_pretty(&v).unwrap_or(rendered);
    }
    match replication {
        Ok(r) => format!("{rendered}\nreplication: {r}\n"),
        Err(e) => format!("{rendered}\nreplication: unknown ({e})\n"),
    }
}

/// Flag the sessions that do not belong to the pool named `app` (its `application_name`).
pub fn flag_unknown_to_pool(view: &mut ServerView, app: &str) {
    let others: Vec<_> = view
        .applications
        .iter()
        .filter(|a| a.state != app)
        .cloned()
        .collect();
    for a in others {
        let name = if a.state.is_empty() {
            "(no application_name)"
        } else {
            &a.state
        };
        view.flags.push(ServerFlag {
            kind: "unknown_to_pool".into(),
            session: None,
            message: format!("{} session(s) from {name} are not pool `{app}`'s", a.count),
        });
    }
}

/// Render a server view as tables (people) or pretty JSON (scripts).
pub fn render(view: &ServerView, json: bool) -> String {
    if json {
        return serde_json::to_string_pretty(view)
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    }
    let mut out = String::new();
    out.push_str(&format!("{} {}\n", view.backend, view.version));
    let opt = |v: Option<i64>| v.map_or_else(|| "-".to_string(), |n| n.to_string());
    if view.max_connections.is_some() {
        out.push_str(&format!(
            "connections: {} open of max {} (reserved {}), headroom {}, waiting on a lock {}\n",
            opt(view.connections),
            opt(view.max_connections),
            opt(view.reserved_connections),
            opt(view.headroom),
            view.waiting_on_lock
        ));
    }
    if let Some(mode) = &view.journal_mode {
        out.push_str(&format!(
            "journal mode {mode}, busy timeout {} ms\n",
            opt(view.busy_timeout_ms)
        ));
    }
    if !view.states.is_empty() {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_header(vec!["state", "sessions", "longest (s)"]);
        for s in &view.states {
            t.add_row(vec![
                s.state.clone(),
                s.count.to_string(),
                format!("{:.0}", s.max_seconds),
            ]);
        }
        out.push_str(&format!("\nsessions by state (this one excluded)\n{t}\n"));
    }
    if !view.applications.is_empty() {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_header(vec!["application_name", "sessions", "oldest (s)"]);
        for a in &view.applications {
            let name = if a.state.is_empty() {
                "(none)".to_string()
            } else {
                a.state.clone()
            };
            t.add_row(vec![
                name,
                a.count.to_string(),
                format!("{:.0}", a.max_seconds),
            ]);
        }
        out.push_str(&format!(
            "\nsessions by application (match with your pools' names)\n{t}\n"
        ));
    }
    if view.flags.is_empty() {
        out.push_str("\nnothing flagged\n");
    } else {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_header(vec!["finding", "session", "what it means"]);
        for f in &view.flags {
            let who = f
                .session
                .as_ref()
                .map(|s| format!("{} {} {:.0}s", s.id, s.state, s.seconds))
                .unwrap_or_default();
            t.add_row(vec![f.kind.clone(), who, f.message.clone()]);
        }
        out.push_str(&format!("\n{} finding(s)\n{t}\n", view.flags.len()));
    }
    out
}
