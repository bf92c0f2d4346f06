//! A PostgreSQL primary and its read replicas watched together: one [`MonitoredPool`] per
//! server, plus what only the group can tell — each member's role (a "replica" that is not in
//! recovery is a misrouted primary) and how far each replica's replay trails the primary's WAL.

use super::{HealthLevel, MonitoredPool, PoolConfig, PoolError, PoolStats};
use crate::redact::redact_url;
use serde::Serialize;
use std::time::Duration;

/// One member of a [`ReplicaSetPools`] at a point in time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemberStatus {
    /// `primary` or `replica`: the role this pool was configured for.
    pub role: &'static str,
    /// The server's URL, password hidden.
    pub url: String,
    /// The pool's numbers.
    pub pool: PoolStats,
    /// `pg_is_in_recovery()` as the server answered (None: it could not be asked).
    pub in_recovery: Option<bool>,
    /// The primary's current WAL position, or the replica's last replayed one.
    pub lsn: Option<String>,
    /// For replicas: bytes of the primary's WAL not replayed yet.
    pub lag_bytes: Option<u64>,
    /// For replicas: now − commit time of the last replayed transaction, in ms.
    pub replay_delay_ms: Option<f64>,
    /// Why the server could not be asked.
    pub error: Option<String>,
}

/// The group's state: every member, the worst level, and what is wrong.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupStatus {
    /// The worst of the members' pool levels and of the findings below.
    pub level: HealthLevel,
    /// Primary first, then replicas in the order given.
    pub members: Vec<MemberStatus>,
    /// Findings: a member in the wrong role, unreachable, or lagging past the threshold.
    pub flags: Vec<String>,
}

/// Pools for a PostgreSQL primary and its read replicas, monitored as one.
#[derive(Clone)]
pub struct ReplicaSetPools {
    primary: MonitoredPool<sqlx::Postgres>,
    replicas: Vec<MonitoredPool<sqlx::Postgres>>,
    urls: Vec<String>,
    /// A replica further behind than this many bytes makes the group `warning`.
    max_lag_bytes: u64,
}

/// Parse a `pg_lsn` text (`16/B374D848`) into a byte position.
pub fn parse_lsn(text: &str) -> Option<u64> {
    let (hi, lo) = text.split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

impl ReplicaSetPools {
    /// Build one pool per server, named `<config.name>-primary` and `<config.name>-replica<N>`
    /// (their `application_name`, so `plinth doctor` tells them apart), each opening its first
    /// connection now.
    pub async fn connect(
        primary_url: &str,
        replica_urls: &[String],
        config: PoolConfig,
    ) -> Result<Self, PoolError> {
        let named = |suffix: String| PoolConfig {
            name: format!("{}-{suffix}", config.name),
            ..config.clone()
        };
        let primary = MonitoredPool::connect(primary_url, named("primary".into())).await?;
        let mut replicas = Vec::new();
        for (i, url) in replica_urls.iter().enumerate() {
            replicas.push(MonitoredPool::connect(url, named(format!("replica{}", i + 1))).await?);
        }
        let mut urls = vec![redact_url(primary_url)];
        urls.extend(replica_urls.iter().map(|u| redact_url(u)));
        Ok(ReplicaSetPools {
            primary,
            replicas,
            urls,
            max_lag_bytes: 16 * 1024 * 1024,
        })
    }

    /// Warn when a replica is more than `bytes` of WAL behind (default 16 MiB).
    pub fn with_max_lag_bytes(mut self, bytes: u64) -> Self {
        self.max_lag_bytes = bytes;
        self
    }

    /// The primary's pool: for writes.
    pub fn primary(&self) -> &MonitoredPool<sqlx::Postgres> {
        &self.primary
    }

    /// The replicas' pools: for reads that tolerate replication lag.
    pub fn replicas(&self) -> &[MonitoredPool<sqlx::Postgres>] {
        &self.replicas
    }

    /// Every pool's numbers, primary first, without asking any server.
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        std::iter::once(&self.primary)
            .chain(&self.replicas)
            .map(|p| p.stats())
            .collect()
    }

    /// Start each pool's background monitor (health events, leaks, metrics).
    pub fn start_health_monitoring(&self, interval: Duration) {
        for p in std::iter::once(&self.primary).chain(&self.replicas) {
            p.start_health_monitoring(interval);
        }
    }

    /// Ask every server its role and WAL position (one short query each, through its own pool)
    /// and report the group: roles, lag per replica, the worst level, findings.
    pub async fn status(&self) -> GroupStatus {
        let mut members = Vec::new();
        let mut flags = Vec::new();
        let mut level = HealthLevel::Normal;
        let pools: Vec<(&'static str, &MonitoredPool<sqlx::Postgres>)> =
            std::iter::once(("primary", &self.primary))
                .chain(self.replicas.iter().map(|p| ("replica", p)))
                .collect();
        for ((role, pool), url) in pools.into_iter().zip(&self.urls) {
            let stats = pool.stats();
            level = level.max(stats.level);
            let answer: Result<(bool, Option<String>, Option<f64>), String> = async {
                let mut conn = pool.acquire().await.map_err(|e| e.to_string())?;
                sqlx::query_as(
                    "SELECT pg_is_in_recovery(), \
                     CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END::text, \
                     CASE WHEN pg_is_in_recovery() THEN (EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp())) * 1000)::float8 END",
                )
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| e.to_string())
            }
            .await;
            let mut m = MemberStatus {
                role,
                url: url.clone(),
                pool: stats,
                in_recovery: None,
                lsn: None,
                lag_bytes: None,
                replay_delay_ms: None,
                error: None,
            };
            match answer {
                Ok((in_recovery, lsn, delay)) => {
                    m.in_recovery = Some(in_recovery);
                    m.lsn = lsn;
                    m.replay_delay_ms = delay;
                    if role == "primary" && in_recovery {
                        flags.push(format!("the primary {url} is in recovery: it is a standby; writes through this pool fail"));
                        level = HealthLevel::Critical;
                    }
                    if role == "replica" && !in_recovery {
                        flags.push(format!("replica {url} is not in recovery: it is a primary (promoted, or misconfigured), not a replica of this group"));
                        level = HealthLevel::Critical;
                    }
                }
                Err(e) => {
                    flags.push(format!("{role} {url} cannot be asked: {e}"));
                    m.error = Some(e);
                    level = HealthLevel::Critical;
                }
            }
            members.push(m);
        }
        let primary_lsn = members
            .first()
            .and_then(|p| p.lsn.as_deref())
            .and_then(parse_lsn);
        for m in members.iter_mut().skip(1) {
            if let (Some(p), Some(r)) = (primary_lsn, m.lsn.as_deref().and_then(parse_lsn)) {
                let lag = p.saturating_sub(r);
                m.lag_bytes = Some(lag);
                if lag > self.max_lag_bytes {
                    flags.push(format!(
                        "replica {} is {lag} bytes of WAL behind the primary (threshold {})",
                        m.url, self.max_lag_bytes
                    ));
                    level = level.max(HealthLevel::Warning);
                }
            }
        }
        if level != HealthLevel::Normal {
            tracing::warn!(level = %level, flags = ?flags, "replica set needs attention");
        }
        GroupStatus {
            level,
            members,
            flags,
        }
    }

    /// Close every pool.
    pub async fn close(&self) {
        self.primary.close().await;
        for r in &self.replicas {
            r.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_lsn;

    #[test]
    fn lsn_text_is_a_byte_position() {
        assert_eq!(parse_lsn("0/4AA0C00"), Some(0x4AA0C00));
        assert_eq!(parse_lsn("16/B374D848"), Some((0x16 << 32) | 0xB374D848));
        assert_eq!(parse_lsn("nonsense"), None);
    }
}
