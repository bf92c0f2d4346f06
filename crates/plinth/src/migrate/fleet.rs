//! Many databases, one source: migrate (or inspect) a fleet of tenant databases in parallel, where one
//! target's failure never stops or corrupts another's, and a second run only touches targets that are
//! not yet current.

// MigrateError is returned once per target; its size is not on a hot path.
#![allow(clippy::result_large_err)]

use super::runner::{MigrateError, Migrator, Quiet};
use super::State;
use crate::backend::{ConnectConfig, Db, Driver};
use crate::redact::redact_url;
use futures::stream::{self, StreamExt};
use serde::Serialize;
use std::time::Instant;

/// What happened to one target.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum TargetOutcome {
    /// Migrations were applied.
    Applied {
        /// How many.
        count: usize,
    },
    /// Nothing to do.
    AlreadyCurrent,
    /// The target failed; others carried on.
    Failed {
        /// Why (secrets removed).
        reason: String,
    },
    /// Status only: counts per state.
    Status {
        /// Applied migrations.
        applied: usize,
        /// Pending migrations.
        pending: usize,
        /// Failed migrations.
        failed: usize,
        /// Problems `migrate` would refuse on.
        problems: usize,
    },
}

/// One line of the fleet report.
#[derive(Clone, Debug, Serialize)]
pub struct TargetReport {
    /// The target's URL with its password hidden.
    pub target: String,
    /// The outcome.
    #[serde(flatten)]
    pub outcome: TargetOutcome,
    /// Wall time for this target.
    pub duration_ms: u64,
}

/// Read a targets file: one URL a line; blank lines and `#` comments ignored.
pub fn parse_targets(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// List tenant databases with a query run on `url` (its first column is a database name), and turn
/// each name into a URL for the same server. Names are validated so they cannot reshape the URL.
pub async fn targets_from_query(
    url: &str,
    query: &str,
    config: &ConnectConfig,
) -> Result<Vec<String>, MigrateError> {
    let mut db = Db::connect(url, config).await?;
    let sql = sqlx::AssertSqlSafe(query.to_string());
    let names: Vec<String> =
        crate::with_conn!(&mut db.conn, c => sqlx::query_scalar(sql).fetch_all(&mut *c).await?);
    let driver = db.driver;
    let _ = db.close().await;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(MigrateError::Refused(format!(
                "targets query returned `{name}`, which is not a plain database name"
            )));
        }
        out.push(with_database(url, driver, &name)?);
    }
    Ok(out)
}

fn with_database(url: &str, driver: Driver, name: &str) -> Result<String, MigrateError> {
    if driver == Driver::Sqlite {
        return Err(MigrateError::Refused(
            "a targets query needs a server URL (PostgreSQL or MySQL), not SQLite".into(),
        ));
    }
    let mut parsed = url::Url::parse(url)
        .map_err(|e| MigrateError::Refused(format!("cannot parse {}: {e}", redact_url(url))))?;
    parsed.set_path(&format!("/{name}"));
    Ok(parsed.to_string())
}

/// Migrate every target with at most `parallel` at a time; `on_done` is called as each finishes
/// (for progress bars). Reports come back in the targets' order.
pub async fn migrate_fleet(
    migrator: &Migrator,
    targets: &[String],
    parallel: usize,
    status_only: bool,
    on_done: &(dyn Fn(&TargetReport) + Sync),
) -> Vec<TargetReport> {
    let config = migrator.options().connect.clone();
    let mut reports: Vec<(usize, TargetReport)> = stream::iter(targets.iter().enumerate())
        .map(|(i, url)| {
            let config = config.clone();
            async move {
                let start = Instant::now();
                let outcome = one(migrator, url, &config, status_only).await;
                let report = TargetReport { target: redact_url(url), outcome, duration_ms: start.elapsed().as_millis() as u64 };
                if let TargetOutcome::Failed { reason } = &report.outcome {
                    tracing::warn!(target_db = %report.target, reason = %reason, "fleet target failed");
                }
                on_done(&report);
                (i, report)
            }
        })
        .buffer_unordered(parallel.max(1))
        .collect()
        .await;
    reports.sort_by_key(|(i, _)| *i);
    reports.into_iter().map(|(_, r)| r).collect()
}

async fn one(
    migrator: &Migrator,
    url: &str,
    config: &ConnectConfig,
    status_only: bool,
) -> TargetOutcome {
    let secrets = crate::redact::secrets_of(url);
    let fail = |e: &dyn std::fmt::Display| TargetOutcome::Failed {
        reason: crate::redact::scrub(&e.to_string(), &secrets),
    };
    let mut db = match Db::connect(url, config).await {
        Ok(db) => db,
        Err(e) => return fail(&e),
    };
    let outcome = if status_only {
        match migrator.status(&mut db).await {
            Ok(s) => {
                let n = |f: &dyn Fn(State) -> bool| {
                    s.plan.entries.iter().filter(|e| f(e.state)).count()
                };
                TargetOutcome::Status {
                    applied: n(&|st| st == State::Applied),
                    pending: n(&|st| matches!(st, State::Pending | State::OutOfOrder)),
                    failed: n(&|st| matches!(st, State::Failed | State::Running)),
                    problems: s.plan.blockers.len(),
                }
            }
            Err(e) => fail(&e),
        }
    } else {
        match migrator.migrate(&mut db, &Quiet).await {
            Ok(r) if r.applied.is_empty() => TargetOutcome::AlreadyCurrent,
            Ok(r) => TargetOutcome::Applied {
                count: r.applied.len(),
            },
            Err(e) => fail(&e),
        }
    };
    let _ = db.close().await;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_file_skips_comments_and_blanks() {
        let t = parse_targets("# tenants\npostgres://a/x\n\n  sqlite:b.db  \n# end\n");
        assert_eq!(t, vec!["postgres://a/x", "sqlite:b.db"]);
    }

    #[test]
    fn database_names_replace_the_path() {
        let u = with_database(
            "postgres://u:pw@h:5432/postgres?sslmode=disable",
            Driver::Postgres,
            "tenant_7",
        )
        .unwrap();
        assert_eq!(u, "postgres://u:pw@h:5432/tenant_7?sslmode=disable");
        assert!(with_database("sqlite:x.db", Driver::Sqlite, "t").is_err());
    }
}
