//! Past one server: Galera clusters and PostgreSQL streaming replicas. What plinth must know
//! before it migrates (is this a standby? a Galera node?), how it waits for replicas to replay a
//! migration, and the replication state `status` and `doctor` show.

use crate::backend::{Db, Driver};
use crate::migrate::runner::MigrateError;
use crate::with_conn;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What a Galera node says about its cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GaleraInfo {
    /// `wsrep_cluster_size`: nodes in the primary component.
    pub cluster_size: i64,
    /// `wsrep_node_name` of the node we are connected to.
    pub node: String,
    /// `wsrep_local_state_comment` (`Synced`, `Donor/Desynced`, …).
    pub state: String,
    /// `wsrep_cluster_status` (`Primary` when the node can take writes).
    pub cluster_status: String,
    /// `wsrep_sync_wait` of this session (plinth sets 1 on its own sessions: causal reads).
    pub sync_wait: i64,
}

/// The value of `SET SESSION wsrep_sync_wait` on plinth's sessions: reads wait until the node
/// has applied everything the cluster committed before them, so history read on one node
/// includes what a migrator on another node just wrote.
pub const SYNC_WAIT: i64 = 1;

async fn show(db: &mut Db, sql: &str) -> Result<BTreeMap<String, String>, sqlx::Error> {
    let rows: Vec<(String, String)> = with_conn!(&mut db.conn, c => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.to_string())).fetch_all(&mut *c).await?
    });
    Ok(rows
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect())
}

/// Detect a Galera node (`wsrep_on` = ON). `SHOW` works on MySQL and MariaDB with or without
/// wsrep (`SELECT @@wsrep_on` fails on MySQL builds without it). None on other drivers.
pub async fn galera(db: &mut Db) -> Result<Option<GaleraInfo>, sqlx::Error> {
    if db.driver != Driver::MySql {
        return Ok(None);
    }
    let vars = show(
        db,
        "SHOW SESSION VARIABLES WHERE Variable_name IN ('wsrep_on', 'wsrep_node_name', 'wsrep_sync_wait')",
    )
    .await?;
    if !vars
        .get("wsrep_on")
        .is_some_and(|v| v.eq_ignore_ascii_case("ON"))
    {
        return Ok(None);
    }
    let status = show(
        db,
        "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_size', 'wsrep_local_state_comment', 'wsrep_cluster_status')",
    )
    .await?;
    Ok(Some(GaleraInfo {
        cluster_size: status
            .get("wsrep_cluster_size")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        node: vars.get("wsrep_node_name").cloned().unwrap_or_default(),
        state: status
            .get("wsrep_local_state_comment")
            .cloned()
            .unwrap_or_default(),
        cluster_status: status
            .get("wsrep_cluster_status")
            .cloned()
            .unwrap_or_default(),
        sync_wait: vars
            .get("wsrep_sync_wait")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    }))
}

/// Make this Galera session's reads causal ([`SYNC_WAIT`]).
pub async fn set_sync_wait(db: &mut Db) -> Result<(), sqlx::Error> {
    db.execute_script(&format!("SET SESSION wsrep_sync_wait = {SYNC_WAIT}"))
        .await
        .map(|_| ())
}

/// Whether a PostgreSQL server is a standby, and where it streams from.
async fn pg_standby(db: &mut Db) -> Result<Option<Option<String>>, sqlx::Error> {
    let in_recovery: bool = with_conn!(&mut db.conn, c => {
        sqlx::query_scalar("SELECT pg_is_in_recovery()").fetch_one(&mut *c).await?
    });
    if !in_recovery {
        return Ok(None);
    }
    let upstream: Option<String> = with_conn!(&mut db.conn, c => {
        sqlx::query_scalar(
            "SELECT sender_host || ':' || sender_port::text FROM pg_stat_wal_receiver LIMIT 1",
        )
        .fetch_optional(&mut *c)
        .await
        .ok()
        .flatten()
    });
    Ok(Some(upstream))
}

/// The slow path's first step (there is work to do, nothing is locked yet): refuse a PostgreSQL
/// standby, and on a Galera node make this session's reads causal. Costs nothing on the fast path.
pub(crate) async fn prepare(db: &mut Db) -> Result<(), MigrateError> {
    match db.driver {
        Driver::Postgres => {
            if let Some(upstream) = pg_standby(db).await? {
                tracing::error!(severity = "critical", server = %db.display_url, "refusing to migrate a standby");
                return Err(MigrateError::Refused(standby_message(
                    &db.display_url,
                    upstream.as_deref(),
                )));
            }
        }
        Driver::MySql => {
            if let Some(g) = galera(db).await? {
                set_sync_wait(db).await?;
                tracing::debug!(node = %g.node, cluster_size = g.cluster_size, state = %g.state, "Galera node: causal reads on, cluster-wide lease lock");
            }
        }
        Driver::Sqlite => {}
    }
    Ok(())
}

/// The refusal for a standby: names the server and says to point at the primary.
pub fn standby_message(display_url: &str, upstream: Option<&str>) -> String {
    format!(
        "refusing to migrate {display_url}: it is a PostgreSQL standby (pg_is_in_recovery() is true), \
         a read-only replica{}. Nothing was changed. Point --database-url (or DATABASE_URL) at the primary \
         and run `plinth migrate` there; replicas receive the changes by replication",
        upstream
            .map(|u| format!(" streaming from the primary at {u}"))
            .unwrap_or_default()
    )
}

/// One streaming replica as the primary's `pg_stat_replication` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplicaState {
    /// `application_name` (the replica's `cluster_name` unless set otherwise).
    pub name: String,
    /// Client address.
    pub client: Option<String>,
    /// `streaming`, `catchup`, `startup`, …
    pub state: String,
    /// `async`, `sync`, `potential`, `quorum`.
    pub sync_state: String,
    /// Last WAL position replayed.
    pub replay_lsn: Option<String>,
    /// Bytes of WAL the replica has not replayed yet.
    pub lag_bytes: Option<i64>,
    /// `replay_lag` as the primary measures it, in milliseconds (None when idle).
    pub replay_lag_ms: Option<f64>,
}

/// What `status` and `doctor` show about replication.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Replication {
    /// One server, no replication plinth can see.
    Standalone,
    /// A PostgreSQL primary and the replicas streaming from it.
    Primary {
        /// The replicas.
        replicas: Vec<ReplicaState>,
    },
    /// A PostgreSQL standby: read-only; migrate its primary instead.
    Standby {
        /// `host:port` of the primary it streams from, when known.
        upstream: Option<String>,
        /// Last WAL position replayed.
        replay_lsn: Option<String>,
        /// How far behind the last replayed transaction is (now − its commit time), in ms.
        replay_delay_ms: Option<f64>,
    },
    /// A Galera cluster node.
    Galera(GaleraInfo),
}

impl std::fmt::Display for Replication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Replication::Standalone => f.write_str("standalone (no replication seen)"),
            Replication::Primary { replicas } if replicas.is_empty() => {
                f.write_str("primary, no replica connected")
            }
            Replication::Primary { replicas } => {
                write!(f, "primary with {} replica(s): ", replicas.len())?;
                let parts: Vec<String> = replicas
                    .iter()
                    .map(|r| {
                        format!(
                            "{} {} {}, {} behind{}",
                            r.name,
                            r.state,
                            r.sync_state,
                            r.lag_bytes
                                .map(|b| format!("{b} B"))
                                .unwrap_or_else(|| "? B".into()),
                            r.replay_lag_ms
                                .map(|ms| format!(" (replay lag {ms:.0} ms)"))
                                .unwrap_or_default()
                        )
                    })
                    .collect();
                f.write_str(&parts.join("; "))
            }
            Replication::Standby {
                upstream,
                replay_lsn,
                replay_delay_ms,
            } => write!(
                f,
                "STANDBY (read-only) streaming from {}, replayed up to {}{}; migrate the primary",
                upstream.as_deref().unwrap_or("an unknown primary"),
                replay_lsn.as_deref().unwrap_or("?"),
                replay_delay_ms
                    .map(|ms| format!(", last transaction replayed {ms:.0} ms after its commit"))
                    .unwrap_or_default()
            ),
            Replication::Galera(g) => write!(
                f,
                "Galera node {} of a {}-node cluster ({}, {}), wsrep_sync_wait {}",
                g.node, g.cluster_size, g.cluster_status, g.state, g.sync_wait
            ),
        }
    }
}

/// pg_stat_replication, skipping base-backup senders.
const PG_REPLICAS: &str = "SELECT application_name::text, host(client_addr), state::text, \
     COALESCE(sync_state::text, ''), replay_lsn::text, \
     pg_wal_lsn_diff(COALESCE($1::pg_lsn, pg_current_wal_lsn()), replay_lsn)::bigint, \
     (EXTRACT(EPOCH FROM replay_lag) * 1000)::float8 \
     FROM pg_stat_replication WHERE state <> 'backup' ORDER BY application_name, pid";

type ReplicaRow = (
    String,
    Option<String>,
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<f64>,
);

async fn replicas(db: &mut Db, target: Option<&str>) -> Result<Vec<ReplicaState>, sqlx::Error> {
    let rows: Vec<ReplicaRow> = with_conn!(&mut db.conn, c => {
        sqlx::query_as(PG_REPLICAS).bind(target).fetch_all(&mut *c).await?
    });
    Ok(rows
        .into_iter()
        .map(
            |(name, client, state, sync_state, replay_lsn, lag, replay_lag_ms)| ReplicaState {
                name,
                client,
                state,
                sync_state,
                replay_lsn,
                lag_bytes: lag.map(|b| b.max(0)),
                replay_lag_ms,
            },
        )
        .collect())
}

/// The replication state of the server behind `db`, for `status` and `doctor`.
pub async fn replication_state(db: &mut Db) -> Result<Replication, sqlx::Error> {
    match db.driver {
        Driver::Postgres => {
            if let Some(upstream) = pg_standby(db).await? {
                let (replay_lsn, replay_delay_ms): (Option<String>, Option<f64>) = with_conn!(&mut db.conn, c => {
                    sqlx::query_as(
                        "SELECT pg_last_wal_replay_lsn()::text, \
                         (EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp())) * 1000)::float8",
                    )
                    .fetch_one(&mut *c)
                    .await?
                });
                return Ok(Replication::Standby {
                    upstream,
                    replay_lsn,
                    replay_delay_ms,
                });
            }
            let replicas = replicas(db, None).await?;
            if replicas.is_empty() {
                Ok(Replication::Standalone)
            } else {
                Ok(Replication::Primary { replicas })
            }
        }
        Driver::MySql => Ok(galera(db)
            .await?
            .map(Replication::Galera)
            .unwrap_or(Replication::Standalone)),
        Driver::Sqlite => Ok(Replication::Standalone),
    }
}

/// How one replica caught up with a migration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplicaLag {
    /// `application_name`.
    pub name: String,
    /// Client address.
    pub client: Option<String>,
    /// Replication state at the end of the wait.
    pub state: String,
    /// Bytes of WAL it had not replayed when the wait began.
    pub lag_bytes_at_start: Option<i64>,
    /// Bytes still to replay at the end (0 once caught up).
    pub lag_bytes: Option<i64>,
    /// How long after the wait began it had replayed the migration's WAL (None: not in time).
    pub caught_up_after_ms: Option<f64>,
    /// `replay_lag` as the primary last measured it, in milliseconds.
    pub replay_lag_ms: Option<f64>,
}

/// The answer of [`wait_replicas`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplicaWait {
    /// The primary's WAL position after the migration: what every replica had to replay.
    pub target_lsn: String,
    /// How long the wait took, in milliseconds.
    pub waited_ms: f64,
    /// Per replica.
    pub replicas: Vec<ReplicaLag>,
}

/// Why waiting for replicas failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaWaitError {
    /// Some replica had not replayed the migration's WAL in time.
    #[error("replicas still behind after {waited_s:.1}s: {}; the migration is applied on the primary, replicas will catch up (or check them: `plinth doctor` on the primary)", .report.replicas.iter().filter(|r| r.caught_up_after_ms.is_none()).map(|r| format!("{} {} B behind ({})", r.name, r.lag_bytes.map(|b| b.to_string()).unwrap_or_else(|| "?".into()), r.state)).collect::<Vec<_>>().join(", "))]
    Timeout {
        /// How long we waited.
        waited_s: f64,
        /// Where every replica stood.
        report: ReplicaWait,
    },
    /// `--wait-replicas` asked of a server that is not a PostgreSQL primary.
    #[error("--wait-replicas needs a PostgreSQL primary with streaming replicas; {0}")]
    NotApplicable(String),
    /// A query failed.
    #[error("waiting for replicas: {0}")]
    Database(#[from] sqlx::Error),
}

/// After a migration on a PostgreSQL primary: wait up to `timeout` until every replica in
/// `pg_stat_replication` has replayed the primary's current WAL position, and report per replica
/// how far behind it was and how long it took.
pub async fn wait_replicas(
    db: &mut Db,
    timeout: Duration,
) -> Result<ReplicaWait, ReplicaWaitError> {
    if db.driver != Driver::Postgres {
        return Err(ReplicaWaitError::NotApplicable(format!(
            "{} is not PostgreSQL",
            db.display_url
        )));
    }
    if pg_standby(db).await?.is_some() {
        return Err(ReplicaWaitError::NotApplicable(format!(
            "{} is a standby",
            db.display_url
        )));
    }
    let target: String = with_conn!(&mut db.conn, c => {
        sqlx::query_scalar("SELECT pg_current_wal_lsn()::text").fetch_one(&mut *c).await?
    });
    let start = Instant::now();
    let mut lags: Vec<ReplicaLag> = Vec::new();
    loop {
        let now = replicas(db, Some(&target)).await?;
        for r in &now {
            let caught = r.lag_bytes == Some(0);
            match lags
                .iter_mut()
                .find(|l| l.name == r.name && l.client == r.client)
            {
                Some(l) => {
                    l.state = r.state.clone();
                    l.lag_bytes = r.lag_bytes;
                    l.replay_lag_ms = r.replay_lag_ms;
                    if caught && l.caught_up_after_ms.is_none() {
                        l.caught_up_after_ms = Some(start.elapsed().as_secs_f64() * 1000.0);
                    }
                }
                None => lags.push(ReplicaLag {
                    name: r.name.clone(),
                    client: r.client.clone(),
                    state: r.state.clone(),
                    lag_bytes_at_start: r.lag_bytes,
                    lag_bytes: r.lag_bytes,
                    caught_up_after_ms: caught.then(|| start.elapsed().as_secs_f64() * 1000.0),
                    replay_lag_ms: r.replay_lag_ms,
                }),
            }
        }
        let report = || ReplicaWait {
            target_lsn: target.clone(),
            waited_ms: start.elapsed().as_secs_f64() * 1000.0,
            replicas: lags.clone(),
        };
        if lags.iter().all(|l| l.caught_up_after_ms.is_some()) {
            let r = report();
            tracing::info!(target_lsn = %target, replicas = r.replicas.len(), waited_ms = r.waited_ms as u64, "replicas replayed the migration");
            return Ok(r);
        }
        if start.elapsed() >= timeout {
            return Err(ReplicaWaitError::Timeout {
                waited_s: start.elapsed().as_secs_f64(),
                report: report(),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
