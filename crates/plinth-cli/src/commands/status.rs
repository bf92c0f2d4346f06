//! `plinth status`, `plinth validate` and `plinth history`: read-only views of the migrations.

use crate::cli::{CliError, Context, HistoryArgs};
use crate::output;
use plinth::migrate::{HistoryRead, Migrator, State, StatusReport};
use serde::Serialize;
use serde_json::json;

async fn report(ctx: &Context) -> Result<StatusReport, CliError> {
    Ok(report_with_replication(ctx, false).await?.0)
}

type Replication = Option<Result<plinth::migrate::cluster::Replication, String>>;

async fn report_with_replication(
    ctx: &Context,
    replication: bool,
) -> Result<(StatusReport, Replication), CliError> {
    // The server's part first, while the reading thread builds the source; errors are still
    // reported source first, as without the overlap. (Not for a SQLite file that does not exist
    // yet: connecting would create it, so the source must prove valid first.)
    let checked_first = if ctx.connecting_creates_a_file() {
        Some(ctx.source()?)
    } else {
        None
    };
    let server_part = match ctx.connect().await {
        Ok(mut db) => {
            // Read first: on a Galera node this also makes the history read below causal.
            let rep = if replication {
                Some(super::replicas::state(&mut db).await)
            } else {
                None
            };
            let read = HistoryRead::run(&mut db, &ctx.history_table).await;
            let _ = db.close().await;
            Ok((rep, read))
        }
        Err(e) => Err(e),
    };
    let source = match checked_first {
        Some(source) => source,
        None => ctx.source()?,
    };
    let (rep, read) = server_part?;
    let migrator = Migrator::new(source, ctx.options());
    let r = migrator
        .status_from(read)
        .map_err(|e| super::migrate_error(ctx, e));
    output::keep_until_exit(migrator);
    Ok((r?, rep))
}

/// `status --format json`, serialized straight from the report (keys in alphabetical order, as
/// before): building a `serde_json::Value` per migration was most of the cost on 10,000 of them.
#[derive(Serialize)]
struct StatusJson<'a> {
    backend: plinth::Backend,
    migrations: Vec<StatusRowJson<'a>>,
    problems: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replication: Option<serde_json::Value>,
    server_version: &'a str,
}

/// One migration in `status --format json`.
#[derive(Serialize)]
struct StatusRowJson<'a> {
    applied_at: Option<&'a str>,
    attempts: Option<i64>,
    checksum: &'a str,
    duration_ms: Option<i64>,
    error: Option<&'a str>,
    name: &'a str,
    origin: Option<&'a str>,
    recorded_checksum: Option<&'a str>,
    state: State,
    version: i64,
}

fn status_json(r: &StatusReport, replication: Option<serde_json::Value>) -> StatusJson<'_> {
    StatusJson {
        backend: r.server.backend,
        server_version: &r.server.version_string,
        migrations: r
            .plan
            .entries
            .iter()
            .map(|e| {
                let h = e.history.as_ref();
                StatusRowJson {
                    version: e.version,
                    name: &e.name,
                    state: e.state,
                    checksum: &e.checksum,
                    recorded_checksum: e.recorded_checksum.as_deref(),
                    applied_at: h.map(|h| h.applied_at.as_str()),
                    duration_ms: h.map(|h| h.duration_ms),
                    attempts: h.map(|h| h.attempts),
                    error: h.and_then(|h| h.error_message.as_deref()),
                    origin: e.origin.as_deref(),
                }
            })
            .collect(),
        problems: r.plan.blockers.iter().map(|b| b.to_string()).collect(),
        replication,
    }
}

fn status_table(r: &StatusReport) -> String {
    let header = [
        "Version",
        "Name",
        "State",
        "Applied at",
        "Duration",
        "Checksum",
        "Error",
    ];
    let rows: Vec<Vec<String>> = r
        .plan
        .entries
        .iter()
        .map(|e| {
            let h = e.history.as_ref();
            let applied = matches!(
                e.state,
                State::Applied
                    | State::ChecksumMismatch
                    | State::MissingFile
                    | State::Failed
                    | State::Skipped
                    | State::Running
            );
            vec![
                e.version.to_string(),
                e.name.clone(),
                e.state.as_str().to_string(),
                h.filter(|_| applied)
                    .map(|h| h.applied_at.clone())
                    .unwrap_or_default(),
                h.filter(|_| applied)
                    .map(|h| format!("{} ms", h.duration_ms))
                    .unwrap_or_default(),
                e.checksum.chars().take(12).collect(),
                h.and_then(|h| h.error_message.as_deref())
                    .map(|m| m.chars().take(120).collect())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let t = if rows.len() >= output::PLAIN_FROM_ROWS {
        output::plain_table(&header, &rows)
    } else {
        let mut t = output::table(&header);
        for row in rows {
            t.add_row(row);
        }
        t.to_string()
    };
    let count = |s: State| r.plan.entries.iter().filter(|e| e.state == s).count();
    format!(
        "{} {} — {} applied, {} pending, {} failed\n{}",
        r.server.backend,
        r.server.version_string,
        count(State::Applied),
        count(State::Pending) + count(State::OutOfOrder),
        count(State::Failed),
        t
    )
}

/// `plinth status`.
pub async fn status(ctx: &Context) -> Result<i32, CliError> {
    let (r, rep) = report_with_replication(ctx, true).await?;
    if ctx.json() {
        let replication = rep.map(|rep| match rep {
            Ok(state) => serde_json::to_value(state).unwrap_or_default(),
            Err(e) => json!({ "error": e }),
        });
        output::json(ctx, &status_json(&r, replication));
        output::keep_until_exit(r);
    } else {
        output::out(ctx, &status_table(&r));
        match rep {
            Some(Ok(plinth::migrate::cluster::Replication::Standalone)) => {}
            Some(Ok(state)) => output::out(ctx, &format!("replication: {state}")),
            Some(Err(e)) => output::out(ctx, &format!("replication: unknown ({e})")),
            None => {}
        }
        for b in &r.plan.blockers {
            output::out(ctx, &format!("problem: {b}"));
        }
        output::keep_until_exit(r);
    }
    Ok(0)
}

/// `plinth validate`: exit 1 when `migrate` would refuse.
pub async fn validate(ctx: &Context) -> Result<i32, CliError> {
    let r = report(ctx).await?;
    let problems: Vec<String> = r.plan.blockers.iter().map(|b| b.to_string()).collect();
    if ctx.json() {
        output::json(
            ctx,
            &json!({ "valid": problems.is_empty(), "problems": problems }),
        );
    } else if problems.is_empty() {
        output::out(
            ctx,
            &format!(
                "OK: {} migration(s) checked, no problems.",
                r.plan.entries.len()
            ),
        );
    } else {
        for p in &problems {
            output::out(ctx, &format!("problem: {p}"));
        }
    }
    Ok(if problems.is_empty() { 0 } else { 1 })
}

/// `plinth history`: the audit trail.
pub async fn history(ctx: &Context, args: &HistoryArgs) -> Result<i32, CliError> {
    let mut db = ctx.connect().await?;
    let migrator = Migrator::new(plinth::MigrationSource::new(), ctx.options());
    let events = migrator
        .events(&mut db, args.migration)
        .await
        .map_err(|e| super::migrate_error(ctx, e))?;
    let _ = db.close().await;
    if ctx.json() {
        output::json(ctx, &json!({ "events": events }));
        return Ok(0);
    }
    let mut t = output::table(&[
        "#", "At", "Version", "Name", "Event", "By", "Duration", "Detail",
    ]);
    for e in &events {
        let detail = [
            e.error_message.clone(),
            e.failing_statement
                .clone()
                .map(|s| format!("statement: {s}")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("; ");
        t.add_row(vec![
            e.id.to_string(),
            e.at.clone(),
            e.version.to_string(),
            e.name.clone(),
            e.event.clone(),
            e.actor.clone(),
            e.duration_ms.map(|d| format!("{d} ms")).unwrap_or_default(),
            detail.chars().take(160).collect(),
        ]);
    }
    output::out(ctx, &t.to_string());
    Ok(0)
}
