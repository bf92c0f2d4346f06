//! Replication in the CLI: `migrate --wait-replicas SECS` (wait, report lag per replica) and the
//! replication line `status` and `doctor` print.

use crate::cli::{CliError, Context};
use crate::output;
use plinth::backend::Db;
use plinth::migrate::cluster::{self, ReplicaWait, ReplicaWaitError, Replication};
use std::time::Duration;

/// Exit code when a replica has not replayed the migration within `--wait-replicas`.
pub const EXIT_REPLICAS_BEHIND: i32 = 6;

/// The outcome of waiting, kept for rendering and the exit code.
pub type WaitOutcome = Result<ReplicaWait, ReplicaWaitError>;

/// Wait for the replicas of the primary behind `db`.
pub async fn wait(ctx: &Context, db: &mut Db, timeout: Duration) -> WaitOutcome {
    let _ = ctx;
    cluster::wait_replicas(db, timeout).await
}

/// The JSON of a wait: the report (also on timeout) and the error, if any.
pub fn json(w: &WaitOutcome) -> serde_json::Value {
    match w {
        Ok(r) => serde_json::json!({ "caught_up": true, "report": r }),
        Err(ReplicaWaitError::Timeout { report, .. }) => {
            serde_json::json!({ "caught_up": false, "report": report, "error": w.as_ref().err().map(|e| e.to_string()) })
        }
        Err(e) => serde_json::json!({ "caught_up": false, "error": e.to_string() }),
    }
}

fn lag_table(r: &ReplicaWait) -> String {
    let mut t = output::table(&[
        "Replica",
        "Client",
        "State",
        "Behind at start",
        "Behind now",
        "Caught up after",
        "replay_lag",
    ]);
    let opt_b = |b: Option<i64>| b.map(|b| format!("{b} B")).unwrap_or_else(|| "?".into());
    let opt_ms = |m: Option<f64>| {
        m.map(|m| format!("{m:.0} ms"))
            .unwrap_or_else(|| "-".into())
    };
    for l in &r.replicas {
        t.add_row(vec![
            l.name.clone(),
            l.client.clone().unwrap_or_default(),
            l.state.clone(),
            opt_b(l.lag_bytes_at_start),
            opt_b(l.lag_bytes),
            l.caught_up_after_ms
                .map(|m| format!("{m:.0} ms"))
                .unwrap_or_else(|| "not yet".into()),
            opt_ms(l.replay_lag_ms),
        ]);
    }
    format!(
        "Replicas after the migration (primary WAL at {}, waited {:.0} ms):\n{t}",
        r.target_lsn, r.waited_ms
    )
}

/// Print the wait's report as text (nothing when no wait was asked for).
pub fn print(ctx: &Context, w: &Option<WaitOutcome>) {
    match w {
        None => {}
        Some(Ok(r)) if r.replicas.is_empty() => output::out(
            ctx,
            "No replica is connected to this primary (pg_stat_replication is empty): nothing to wait for.",
        ),
        Some(Ok(r)) => output::out(ctx, &lag_table(r)),
        Some(Err(ReplicaWaitError::Timeout { report, .. })) => output::out(ctx, &lag_table(report)),
        Some(Err(_)) => {}
    }
}

/// The exit code after a migration that succeeded: 0, or [`EXIT_REPLICAS_BEHIND`] / 2 / 1 when
/// the wait failed (the message goes to stderr).
pub fn exit(ctx: &Context, w: Option<WaitOutcome>) -> Result<i32, CliError> {
    match w {
        None | Some(Ok(_)) => Ok(0),
        Some(Err(e)) => {
            let code = match e {
                ReplicaWaitError::Timeout { .. } => EXIT_REPLICAS_BEHIND,
                ReplicaWaitError::NotApplicable(_) => 2,
                ReplicaWaitError::Database(_) => 1,
            };
            Err(CliError::new(code, ctx.scrub(&e.to_string())))
        }
    }
}

/// The replication state for `status` and `doctor` (an unreadable state is shown, not fatal).
/// On a Galera node the session's reads are made causal first, so what follows is current.
pub async fn state(db: &mut Db) -> Result<Replication, String> {
    let mut r = cluster::replication_state(db)
        .await
        .map_err(|e| e.to_string())?;
    if let Replication::Galera(g) = &mut r {
        cluster::set_sync_wait(db)
            .await
            .map_err(|e| e.to_string())?;
        g.sync_wait = cluster::SYNC_WAIT;
    }
    Ok(r)
}
