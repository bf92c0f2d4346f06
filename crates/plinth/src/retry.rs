//! Connecting with retry: wait out a server that is starting, restarting or momentarily full,
//! but fail at once on errors that waiting cannot fix (wrong password, unknown database).

use crate::backend::ConnectError;
use crate::pool::{MonitoredDatabase, MonitoredPool, PoolConfig, PoolError};
use crate::redact::{redact_url, secrets_of};
use crate::Backend;
use rand::Rng;
use sqlx::Connection;
use std::time::{Duration, Instant};

/// Exponential backoff with full jitter, capped, bounded by attempts and by total time.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// The cap of the first backoff (the delay is drawn from zero to the cap).
    pub initial_delay: Duration,
    /// The cap never grows past this.
    pub max_delay: Duration,
    /// Growth factor of the cap per attempt.
    pub multiplier: f64,
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Give up when the next backoff would end later than this after the first attempt.
    pub max_elapsed: Duration,
    /// Time limit of a single connection attempt.
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            multiplier: 2.0,
            max_attempts: 10,
            max_elapsed: Duration::from_secs(30),
            attempt_timeout: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// A policy that tries once.
    pub fn no_retry() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The upper bound of the backoff after failed attempt `attempt` (1-based).
    pub fn cap(&self, attempt: u32) -> Duration {
        let exp = self
            .multiplier
            .max(1.0)
            .powi(i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX));
        let secs = (self.initial_delay.as_secs_f64() * exp).min(self.max_delay.as_secs_f64());
        Duration::from_secs_f64(secs.max(0.0))
    }

    /// A backoff drawn uniformly from zero to [`Self::cap`] ("full jitter"), so that many clients
    /// restarting together do not reconnect in lockstep.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let cap = self.cap(attempt);
        if cap.is_zero() {
            return cap;
        }
        Duration::from_secs_f64(rand::rng().random_range(0.0..=cap.as_secs_f64()))
    }
}

/// Why connecting with retry gave up.
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    /// The error cannot be fixed by waiting (authentication, unknown database, bad URL, …).
    #[error("cannot connect to {url} (not retried: waiting will not fix it): {message}")]
    Permanent {
        /// The redacted URL.
        url: String,
        /// The scrubbed error, with its code.
        message: String,
        /// The driver error, if the server or network produced one.
        #[source]
        source: Option<sqlx::Error>,
    },
    /// Every allowed attempt failed with a transient error.
    #[error(
        "cannot connect to {url}: gave up after {attempts} attempts in {elapsed:.1?}: {message}"
    )]
    Exhausted {
        /// The redacted URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// Time spent.
        elapsed: Duration,
        /// The last error, scrubbed, with its code.
        message: String,
        /// The last driver error (None when the last attempt timed out).
        #[source]
        source: Option<sqlx::Error>,
    },
    /// The URL is unusable for this pool.
    #[error(transparent)]
    Pool(#[from] PoolError),
}

impl From<ConnectError> for RetryError {
    fn from(e: ConnectError) -> Self {
        RetryError::Pool(PoolError::Options(e))
    }
}

/// Whether an error from opening a connection is worth retrying: refused/reset connections, too
/// many connections, and a server still starting up are; authentication failures and unknown
/// databases never are (retrying them only makes a blocked host worse).
pub fn is_retryable_connect_error(error: &sqlx::Error, backend: Backend) -> bool {
    // The classification tables decide; at connect time only a lost/refused connection, a full
    // server and one still starting up (or failing over) are worth another attempt.
    use crate::errors::{classify, Category};
    let c = classify(error, backend);
    c.is_transient()
        && matches!(
            c.category,
            Category::LostConnection | Category::TooManyConnections | Category::ServerUnavailable
        )
}

/// Open a monitored pool, retrying transient failures per `policy`. Each retry logs
/// `attempt k/N failed, backing off Xs: reason` (password scrubbed); success logs the pool's
/// configuration and first stats at info.
pub async fn connect_with_retry<DB: MonitoredDatabase>(
    url: &str,
    config: PoolConfig,
    policy: &RetryPolicy,
) -> Result<MonitoredPool<DB>, RetryError> {
    let options = MonitoredPool::<DB>::options_for(url, &config)?;
    let secrets = secrets_of(url);
    let shown_url = redact_url(url);
    let started = Instant::now();
    let max_attempts = policy.max_attempts.max(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let t0 = Instant::now();
        let outcome = tokio::time::timeout(
            policy.attempt_timeout,
            <DB::Connection as Connection>::connect_with(&options),
        )
        .await;
        let (message, source) = match outcome {
            Ok(Ok(conn)) => {
                let connect_time = t0.elapsed();
                let _ = conn.close().await;
                let pool = MonitoredPool::<DB>::build(options, config, secrets);
                pool.record_connect_time(connect_time);
                if pool.config().min_connections > 0 {
                    // open the minimum now so the first stats show them
                    let first = pool.acquire().await.map_err(RetryError::Pool)?;
                    drop(first);
                }
                let c = pool.config();
                let stats = pool.stats();
                tracing::info!(
                    target: "plinth::pool",
                    url = %shown_url,
                    pool = %c.name,
                    attempts = attempt,
                    max_connections = c.max_connections,
                    min_connections = c.min_connections,
                    acquire_timeout_ms = c.acquire_timeout.as_millis() as u64,
                    idle_timeout_ms = c.idle_timeout.map(|d| d.as_millis() as u64),
                    max_lifetime_ms = c.max_lifetime.map(|d| d.as_millis() as u64),
                    leak_threshold_ms = c.leak_threshold.map(|d| d.as_millis() as u64),
                    warning_utilization = c.thresholds.warning_utilization,
                    critical_utilization = c.thresholds.critical_utilization,
                    size = stats.size,
                    idle = stats.idle,
                    in_use = stats.in_use,
                    connect_ms = connect_time.as_millis() as u64,
                    "connected to {shown_url} after {attempt} attempt(s): pool `{}` max {} min {}",
                    c.name,
                    c.max_connections,
                    c.min_connections,
                );
                return Ok(pool);
            }
            Ok(Err(e)) => {
                let message = crate::pool::describe_error(&e, &secrets);
                if !is_retryable_connect_error(&e, DB::BACKEND) {
                    return Err(RetryError::Permanent {
                        url: shown_url,
                        message,
                        source: Some(e),
                    });
                }
                (message, Some(e))
            }
            Err(_) => (
                format!(
                    "no answer within {:.1}s",
                    policy.attempt_timeout.as_secs_f64()
                ),
                None,
            ),
        };
        let elapsed = started.elapsed();
        let delay = policy.backoff(attempt);
        if attempt >= max_attempts || elapsed + delay > policy.max_elapsed {
            tracing::error!(
                target: "plinth::pool",
                severity = "critical",
                url = %shown_url,
                attempt,
                max_attempts,
                elapsed_ms = elapsed.as_millis() as u64,
                "attempt {attempt}/{max_attempts} failed, giving up: {message}"
            );
            return Err(RetryError::Exhausted {
                url: shown_url,
                attempts: attempt,
                elapsed,
                message,
                source,
            });
        }
        tracing::warn!(
            target: "plinth::pool",
            url = %shown_url,
            attempt,
            max_attempts,
            delay_ms = delay.as_secs_f64() * 1000.0,
            cap_ms = policy.cap(attempt).as_secs_f64() * 1000.0,
            "attempt {attempt}/{max_attempts} failed, backing off {:.3}s: {message}",
            delay.as_secs_f64()
        );
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_grow_then_stop_at_max() {
        let p = RetryPolicy {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
            ..RetryPolicy::default()
        };
        let caps: Vec<u128> = (1..=5).map(|a| p.cap(a).as_millis()).collect();
        assert_eq!(caps, vec![100, 200, 400, 500, 500]);
        for a in 1..=5 {
            for _ in 0..100 {
                assert!(p.backoff(a) <= p.cap(a));
            }
        }
    }
}
