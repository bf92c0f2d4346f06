//! The monitored pool itself: acquire/release bookkeeping, health events, the monitor task and
//! the metrics it publishes.

use super::backend::MonitoredDatabase;
use super::stats::{location_string, Counters, Holder, Slots, Window};
use super::{
    metric_names as m, ConnectionErrorInfo, HealthLevel, PoolConfig, PoolError, PoolStats,
    ReleaseCheck,
};
use crate::backend::{AnyConnectOptions, ConnectConfig};
use crate::redact::{redact_url, scrub, secrets_of};
use sqlx::pool::{PoolConnection, PoolOptions};
use sqlx::{Connection, Pool};
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// How many holders an acquire-timeout error lists.
const TOP_HOLDERS: usize = 5;

/// How often the monitor looks for a change of health level.
const CHANGE_TICK: Duration = Duration::from_millis(250);

/// A sqlx pool that knows who holds its connections, how long they wait and hold, and how
/// healthy it is. Cloning is cheap and shares everything (one monitor for all clones).
pub struct MonitoredPool<DB: MonitoredDatabase> {
    shared: Arc<Shared<DB>>,
}

impl<DB: MonitoredDatabase> Clone for MonitoredPool<DB> {
    fn clone(&self) -> Self {
        MonitoredPool {
            shared: self.shared.clone(),
        }
    }
}

struct MetricHandles {
    wait: metrics::Histogram,
    use_time: metrics::Histogram,
    create: metrics::Histogram,
    timeouts: metrics::Counter,
    used: metrics::Gauge,
    idle: metrics::Gauge,
    max: metrics::Gauge,
    min: metrics::Gauge,
    pending: metrics::Gauge,
    demand: metrics::Gauge,
    oldest: metrics::Gauge,
    level: metrics::Gauge,
}

impl MetricHandles {
    fn new(name: &str) -> Self {
        let pool = name.to_string();
        MetricHandles {
            wait: metrics::histogram!(m::WAIT_TIME, m::ATTR_POOL_NAME => pool.clone()),
            use_time: metrics::histogram!(m::USE_TIME, m::ATTR_POOL_NAME => pool.clone()),
            create: metrics::histogram!(m::CREATE_TIME, m::ATTR_POOL_NAME => pool.clone()),
            timeouts: metrics::counter!(m::TIMEOUTS, m::ATTR_POOL_NAME => pool.clone()),
            used: metrics::gauge!(m::COUNT, m::ATTR_POOL_NAME => pool.clone(), m::ATTR_STATE => "used"),
            idle: metrics::gauge!(m::COUNT, m::ATTR_POOL_NAME => pool.clone(), m::ATTR_STATE => "idle"),
            max: metrics::gauge!(m::MAX, m::ATTR_POOL_NAME => pool.clone()),
            min: metrics::gauge!(m::IDLE_MIN, m::ATTR_POOL_NAME => pool.clone()),
            pending: metrics::gauge!(m::PENDING_REQUESTS, m::ATTR_POOL_NAME => pool.clone()),
            demand: metrics::gauge!(m::DEMAND, m::ATTR_POOL_NAME => pool.clone()),
            oldest: metrics::gauge!(m::OLDEST_WAIT, m::ATTR_POOL_NAME => pool.clone()),
            level: metrics::gauge!(m::HEALTH_LEVEL, m::ATTR_POOL_NAME => pool),
        }
    }
}

struct LastError {
    at: Instant,
    code: Option<String>,
    message: String,
}

struct Shared<DB: MonitoredDatabase> {
    pool: Pool<DB>,
    config: PoolConfig,
    counters: Arc<Counters>,
    wait: Window,
    hold: Window,
    holders: Slots,
    waiters: Slots,
    secrets: Vec<String>,
    last_error: Mutex<Option<LastError>>,
    probing: AtomicBool,
    monitor_started: AtomicBool,
    monitor_stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    last_logged_level: AtomicU8,
    metrics: MetricHandles,
}

impl<DB: MonitoredDatabase> MonitoredPool<DB> {
    /// Build a pool for `url` without opening a connection yet (the first `acquire` opens one).
    pub fn connect_lazy(url: &str, config: PoolConfig) -> Result<Self, PoolError> {
        let options = Self::options_for(url, &config)?;
        Ok(Self::build(options, config, secrets_of(url)))
    }

    /// Build a pool for `url` and open its first connection, failing at once if that fails
    /// (use [`crate::retry::connect_with_retry`] to wait for a server that is starting).
    pub async fn connect(url: &str, config: PoolConfig) -> Result<Self, PoolError> {
        let pool = Self::connect_lazy(url, config)?;
        drop(pool.acquire().await?);
        Ok(pool)
    }

    /// Parse `url` into this database's options, with `application_name` set to the pool name.
    pub(crate) fn options_for(
        url: &str,
        config: &PoolConfig,
    ) -> Result<<DB::Connection as Connection>::Options, PoolError> {
        let any = AnyConnectOptions::parse(
            url,
            &ConnectConfig {
                application_name: config.name.clone(),
            },
        )?;
        let found = any.driver();
        DB::take_options(any).ok_or_else(|| PoolError::WrongDriver {
            url: redact_url(url),
            found,
            expected: DB::NAME,
        })
    }

    /// Build a pool from options (no connection opened yet); `secrets` are scrubbed from errors.
    pub(crate) fn build(
        options: <DB::Connection as Connection>::Options,
        config: PoolConfig,
        secrets: Vec<String>,
    ) -> Self {
        let counters = Arc::new(Counters::default());
        let created = counters.clone();
        let released = counters.clone();
        let ping_after = config.ping_idle_after;
        let mut opts = PoolOptions::<DB>::new()
            .max_connections(config.max_connections)
            .min_connections(config.min_connections)
            .acquire_timeout(config.acquire_timeout)
            .idle_timeout(config.idle_timeout)
            .max_lifetime(config.max_lifetime)
            // sqlx already tests every connection on release; a connection that came back a
            // moment ago is not pinged again (HikariCP's aliveness bypass window).
            .test_before_acquire(false)
            .before_acquire(move |conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= ping_after {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .after_connect(move |_conn, _meta| {
                created.created.fetch_add(1, Ordering::Relaxed);
                Box::pin(async { Ok(()) })
            });
        if config.release_check == ReleaseCheck::Verify {
            opts = opts.after_release(move |conn, _meta| {
                let counters = released.clone();
                Box::pin(async move {
                    if DB::rollback_if_in_transaction(conn).await? {
                        counters
                            .discarded_in_transaction
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            target: "plinth::pool",
                            "a connection came back inside an open transaction; it was rolled back before reuse"
                        );
                    }
                    Ok(true)
                })
            });
        }
        let pool = opts.connect_lazy_with(options);
        let epoch = Instant::now();
        let slots = config.max_connections as usize;
        let shared = Shared {
            pool,
            counters,
            wait: Window::new(),
            hold: Window::new(),
            holders: Slots::new(slots, epoch),
            waiters: Slots::new((slots * 4).max(64), epoch),
            secrets,
            last_error: Mutex::new(None),
            probing: AtomicBool::new(false),
            monitor_started: AtomicBool::new(false),
            monitor_stop: Mutex::new(None),
            last_logged_level: AtomicU8::new(u8::MAX),
            metrics: MetricHandles::new(&config.name),
            config,
        };
        shared
            .metrics
            .max
            .set(f64::from(shared.config.max_connections));
        shared
            .metrics
            .min
            .set(f64::from(shared.config.min_connections));
        MonitoredPool {
            shared: Arc::new(shared),
        }
    }

    /// Borrow a connection; the call site is remembered for leak reports and timeout diagnoses.
    /// Fails after the acquire timeout with [`PoolError::AcquireTimeout`], which explains why.
    #[track_caller]
    pub fn acquire(
        &self,
    ) -> impl std::future::Future<Output = Result<MonitoredConnection<DB>, PoolError>> + Send + 'static
    {
        let location = Location::caller();
        let shared = self.shared.clone();
        async move { Shared::acquire(shared, location).await }
    }

    /// The pool's numbers right now.
    pub fn stats(&self) -> PoolStats {
        self.shared.stats()
    }

    /// Log the pool's health once (info / warn / error with `severity="critical"`), with every
    /// stat as a field, and return the stats that were logged.
    pub fn log_pool_health(&self) -> PoolStats {
        let stats = self.shared.stats();
        emit_health(&stats, "pool health");
        self.shared.publish(&stats);
        stats
    }

    /// Publish the current stats as gauges through the `metrics` facade (the monitor does this on
    /// every tick).
    pub fn publish_metrics(&self) -> PoolStats {
        let stats = self.shared.stats();
        self.shared.publish(&stats);
        stats
    }

    /// Start the background monitor (health events, leak reports, metrics) unless it already
    /// runs: safe to call from every request. Returns true only for the call that started it.
    /// The task ends when the pool is closed or its last handle is dropped.
    pub fn start_health_monitoring(&self, interval: Duration) -> bool {
        if self.shared.monitor_started.swap(true, Ordering::AcqRel) {
            return false;
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        if let Ok(mut slot) = self.shared.monitor_stop.lock() {
            *slot = Some(tx);
        }
        let weak = Arc::downgrade(&self.shared);
        // Changes of level (and leaks) are noticed within one tick; the periodic log stays at
        // most once per `interval`.
        let mut tick = interval.min(CHANGE_TICK);
        if let Some(leak) = self.shared.config.leak_threshold {
            tick = tick.min((leak / 4).max(Duration::from_millis(10)));
        }
        tokio::spawn(monitor_loop(
            weak,
            interval,
            tick.max(Duration::from_millis(1)),
            rx,
        ));
        true
    }

    /// The longest current holders with their call sites, longest first.
    pub fn holders(&self) -> Vec<Holder> {
        self.shared.top_holders(usize::MAX)
    }

    /// The configuration the pool was built with.
    pub fn config(&self) -> &PoolConfig {
        &self.shared.config
    }

    /// The underlying sqlx pool, for queries that need no tracking (`fetch_one(pool.inner())`).
    pub fn inner(&self) -> &Pool<DB> {
        &self.shared.pool
    }

    /// Close the pool: waits for borrowed connections to come back, and stops the monitor.
    pub async fn close(&self) {
        if let Ok(mut stop) = self.shared.monitor_stop.lock() {
            stop.take();
        }
        self.shared.pool.close().await;
    }

    /// The most recent connection error the pool has seen, if any.
    pub fn last_connection_error(&self) -> Option<ConnectionErrorInfo> {
        self.shared.last_error()
    }

    pub(crate) fn record_connect_time(&self, d: Duration) {
        self.shared.metrics.create.record(d.as_secs_f64());
    }
}

/// Queries through the pool directly (`&*pool`) work as with a plain sqlx pool; they count in
/// size and idle but not in hold times or leak reports.
impl<DB: MonitoredDatabase> Deref for MonitoredPool<DB> {
    type Target = Pool<DB>;
    fn deref(&self) -> &Pool<DB> {
        &self.shared.pool
    }
}

impl<DB: MonitoredDatabase> Shared<DB> {
    async fn acquire(
        shared: Arc<Self>,
        location: &'static Location<'static>,
    ) -> Result<MonitoredConnection<DB>, PoolError> {
        let start = Instant::now();
        let guard = WaitGuard::new(&shared, start, location);
        let result = shared.pool.acquire().await;
        drop(guard);
        let waited = start.elapsed();
        match result {
            Ok(conn) => {
                shared.wait.record(waited);
                shared.metrics.wait.record(waited.as_secs_f64());
                shared.counters.acquires.fetch_add(1, Ordering::Relaxed);
                shared.counters.held.fetch_add(1, Ordering::Relaxed);
                let now = Instant::now();
                let slot = shared.holders.claim(now, location);
                Ok(MonitoredConnection {
                    conn: Some(conn),
                    shared,
                    slot,
                    acquired_at: now,
                })
            }
            Err(sqlx::Error::PoolTimedOut) => {
                shared.counters.timeouts.fetch_add(1, Ordering::Relaxed);
                shared.metrics.timeouts.increment(1);
                if shared.pool.size() < shared.config.max_connections {
                    shared.probe().await;
                }
                let stats = shared.stats();
                let err = PoolError::AcquireTimeout {
                    holders: shared.top_holders(TOP_HOLDERS),
                    last_error: shared.last_error(),
                    stats: Box::new(stats),
                    waited,
                };
                tracing::debug!(target: "plinth::pool", error = %err, "acquire timed out");
                Err(err)
            }
            Err(sqlx::Error::PoolClosed) => Err(PoolError::Closed {
                name: shared.config.name.clone(),
            }),
            Err(e) => {
                shared.record_error(&e);
                Err(PoolError::Connect {
                    name: shared.config.name.clone(),
                    message: describe_error(&e, &shared.secrets),
                    source: e,
                })
            }
        }
    }

    /// Try one direct connection so that a timeout can report why connections cannot be opened
    /// (sqlx retries refused connections silently until the acquire timeout).
    async fn probe(&self) {
        if self.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let options = self.pool.connect_options();
        let attempt = tokio::time::timeout(
            Duration::from_secs(2),
            <DB::Connection as Connection>::connect_with(&*options),
        )
        .await;
        match attempt {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
            }
            Ok(Err(e)) => self.record_error(&e),
            Err(_) => {
                if let Ok(mut last) = self.last_error.lock() {
                    *last = Some(LastError {
                        at: Instant::now(),
                        code: None,
                        message: "opening a connection took longer than 2s".to_string(),
                    });
                }
            }
        }
        self.probing.store(false, Ordering::Release);
    }

    fn record_error(&self, e: &sqlx::Error) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(LastError {
                at: Instant::now(),
                code: error_code(e),
                message: scrub(&e.to_string(), &self.secrets),
            });
        }
    }

    fn last_error(&self) -> Option<ConnectionErrorInfo> {
        let last = self.last_error.lock().ok()?;
        last.as_ref().map(|l| ConnectionErrorInfo {
            code: l.code.clone(),
            message: l.message.clone(),
            age_ms: l.at.elapsed().as_secs_f64() * 1000.0,
        })
    }

    fn top_holders(&self, n: usize) -> Vec<Holder> {
        let mut all = self.holders.occupied(Instant::now());
        all.sort_by_key(|h| std::cmp::Reverse(h.1));
        all.into_iter()
            .take(n)
            .map(|(_, age, loc)| Holder {
                location: location_string(loc),
                held_ms: age.as_secs_f64() * 1000.0,
            })
            .collect()
    }

    fn stats(&self) -> PoolStats {
        let now = Instant::now();
        let size = self.pool.size();
        let idle = u32::try_from(self.pool.num_idle())
            .unwrap_or(u32::MAX)
            .min(size);
        let in_use = size - idle;
        let max = self.config.max_connections;
        let waiting =
            u32::try_from(self.counters.waiting.load(Ordering::Relaxed)).unwrap_or(u32::MAX);
        let oldest = self
            .waiters
            .occupied(now)
            .into_iter()
            .map(|(_, age, _)| age)
            .max()
            .unwrap_or(Duration::ZERO);
        let created = self.counters.created.load(Ordering::Relaxed);
        let maxf = f64::from(max.max(1));
        PoolStats {
            name: self.config.name.clone(),
            max,
            min: self.config.min_connections,
            size,
            in_use,
            idle,
            waiting,
            utilization_percent: f64::from(in_use) * 100.0 / maxf,
            demand_percent: (f64::from(in_use) + f64::from(waiting)) * 100.0 / maxf,
            oldest_wait_ms: oldest.as_secs_f64() * 1000.0,
            acquires_total: self.counters.acquires.load(Ordering::Relaxed),
            timeouts_total: self.counters.timeouts.load(Ordering::Relaxed),
            connections_created_total: created,
            connections_closed_total: created.saturating_sub(u64::from(size)),
            released_in_transaction_total: self
                .counters
                .discarded_in_transaction
                .load(Ordering::Relaxed),
            acquire_wait: self.wait.percentiles(),
            hold_time: self.hold.percentiles(),
            level: self.config.thresholds.level(in_use, max, waiting, oldest),
        }
    }

    fn publish(&self, s: &PoolStats) {
        let h = &self.metrics;
        h.used.set(f64::from(s.in_use));
        h.idle.set(f64::from(s.idle));
        h.pending.set(f64::from(s.waiting));
        h.demand.set(s.demand_percent / 100.0);
        h.oldest.set(s.oldest_wait_ms / 1000.0);
        h.level.set(f64::from(s.level.to_u8()));
    }

    fn check_leaks(&self) {
        let Some(threshold) = self.config.leak_threshold else {
            return;
        };
        for (i, age, loc) in self.holders.occupied(Instant::now()) {
            let slot = &self.holders.slots[i];
            if age >= threshold
                && slot
                    .leak_reported
                    .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            {
                let location = location_string(loc);
                tracing::warn!(
                    target: "plinth::pool",
                    pool = %self.config.name,
                    location = %location,
                    held_ms = age.as_millis() as u64,
                    leak_threshold_ms = threshold.as_millis() as u64,
                    "possible connection leak: connection acquired at {location} held for {:.1}s (threshold {:.1}s)",
                    age.as_secs_f64(),
                    threshold.as_secs_f64(),
                );
            }
        }
    }
}

/// Counts a task as waiting for as long as it is inside `acquire`, even if its future is dropped.
struct WaitGuard<'a, DB: MonitoredDatabase> {
    shared: &'a Shared<DB>,
    slot: Option<usize>,
}

impl<'a, DB: MonitoredDatabase> WaitGuard<'a, DB> {
    fn new(shared: &'a Shared<DB>, start: Instant, location: &'static Location<'static>) -> Self {
        shared.counters.waiting.fetch_add(1, Ordering::Relaxed);
        let slot = shared.waiters.claim(start, location);
        WaitGuard { shared, slot }
    }
}

impl<DB: MonitoredDatabase> Drop for WaitGuard<'_, DB> {
    fn drop(&mut self) {
        self.shared.counters.waiting.fetch_sub(1, Ordering::Relaxed);
        if let Some(i) = self.slot {
            self.shared.waiters.release(i);
        }
    }
}

/// A borrowed connection: derefs to the driver's connection (`&mut *conn` is an executor, as with
/// a plain pool connection); returning it records the hold time and clears its leak watch.
pub struct MonitoredConnection<DB: MonitoredDatabase> {
    conn: Option<PoolConnection<DB>>,
    shared: Arc<Shared<DB>>,
    slot: Option<usize>,
    acquired_at: Instant,
}

impl<DB: MonitoredDatabase> MonitoredConnection<DB> {
    /// How long this connection has been held.
    pub fn held_for(&self) -> Duration {
        self.acquired_at.elapsed()
    }

    /// Take the sqlx pool connection out (it is no longer tracked for hold time or leaks).
    pub fn into_inner(mut self) -> Option<PoolConnection<DB>> {
        self.conn.take()
    }
}

impl<DB: MonitoredDatabase> Deref for MonitoredConnection<DB> {
    type Target = DB::Connection;
    #[allow(clippy::expect_used)]
    fn deref(&self) -> &DB::Connection {
        // `conn` is only None after `into_inner`, which consumes self.
        self.conn
            .as_deref()
            .expect("connection present until dropped")
    }
}

impl<DB: MonitoredDatabase> DerefMut for MonitoredConnection<DB> {
    #[allow(clippy::expect_used)]
    fn deref_mut(&mut self) -> &mut DB::Connection {
        self.conn
            .as_deref_mut()
            .expect("connection present until dropped")
    }
}

impl<DB: MonitoredDatabase> Drop for MonitoredConnection<DB> {
    fn drop(&mut self) {
        let held = self.acquired_at.elapsed();
        let shared = &self.shared;
        shared.counters.held.fetch_sub(1, Ordering::Relaxed);
        shared.hold.record(held);
        shared.metrics.use_time.record(held.as_secs_f64());
        if let Some(i) = self.slot {
            let loc = shared.holders.occupied_location(i);
            if shared.holders.release(i) {
                tracing::info!(
                    target: "plinth::pool",
                    pool = %shared.config.name,
                    location = %location_string(loc),
                    held_ms = held.as_millis() as u64,
                    "previously reported connection came back after {:.1}s",
                    held.as_secs_f64()
                );
            }
        }
        if let Some(conn) = self.conn.as_mut() {
            if conn.is_in_transaction() {
                // sqlx queued a rollback already; do not let the next borrower find it pending.
                shared
                    .counters
                    .discarded_in_transaction
                    .fetch_add(1, Ordering::Relaxed);
                conn.close_on_drop();
            }
        }
    }
}

async fn monitor_loop<DB: MonitoredDatabase>(
    weak: Weak<Shared<DB>>,
    interval: Duration,
    tick: Duration,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_log: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = ticker.tick() => {}
        }
        let Some(shared) = weak.upgrade() else { break };
        if shared.pool.is_closed() {
            break;
        }
        shared.check_leaks();
        let stats = shared.stats();
        shared.publish(&stats);
        let level = stats.level.to_u8();
        let previous = shared.last_logged_level.swap(level, Ordering::AcqRel);
        let due = last_log.is_none_or(|t| t.elapsed() >= interval);
        if previous != level {
            let from = if previous == u8::MAX {
                "start".to_string()
            } else {
                HealthLevel::from_u8(previous).to_string()
            };
            emit_health(
                &stats,
                &format!("pool health changed from {from} to {}", stats.level),
            );
            last_log = Some(Instant::now());
        } else if due {
            emit_health(&stats, "pool health");
            last_log = Some(Instant::now());
        }
    }
    tracing::debug!(target: "plinth::pool", "pool monitor stopped");
}

macro_rules! health_event {
    ($macro:ident, $s:expr, $msg:expr $(, $k:ident = $v:expr)*) => {
        tracing::$macro!(
            target: "plinth::pool",
            $($k = $v,)*
            pool = %$s.name,
            level = $s.level.as_str(),
            max = $s.max,
            min = $s.min,
            size = $s.size,
            in_use = $s.in_use,
            idle = $s.idle,
            waiting = $s.waiting,
            utilization_percent = $s.utilization_percent,
            demand_percent = $s.demand_percent,
            oldest_wait_ms = $s.oldest_wait_ms,
            acquires_total = $s.acquires_total,
            timeouts_total = $s.timeouts_total,
            connections_created_total = $s.connections_created_total,
            connections_closed_total = $s.connections_closed_total,
            released_in_transaction_total = $s.released_in_transaction_total,
            wait_p50_ms = $s.acquire_wait.p50_ms,
            wait_p95_ms = $s.acquire_wait.p95_ms,
            wait_p99_ms = $s.acquire_wait.p99_ms,
            wait_max_ms = $s.acquire_wait.max_ms,
            hold_p50_ms = $s.hold_time.p50_ms,
            hold_p95_ms = $s.hold_time.p95_ms,
            hold_p99_ms = $s.hold_time.p99_ms,
            hold_max_ms = $s.hold_time.max_ms,
            "{}: {} ({}/{} in use, {} waiting)",
            $msg, $s.level, $s.in_use, $s.max, $s.waiting
        )
    };
}

/// Log stats at the level their health calls for.
pub(crate) fn emit_health(s: &PoolStats, msg: &str) {
    match s.level {
        HealthLevel::Normal => health_event!(info, s, msg),
        HealthLevel::Warning => health_event!(warn, s, msg),
        HealthLevel::Critical => health_event!(error, s, msg, severity = "critical"),
    }
}

/// The code a driver error carries: SQLSTATE on PostgreSQL, errno on MySQL/MariaDB, the extended
/// result code on SQLite, or the I/O error kind.
pub(crate) fn error_code(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(d) => {
            if let Some(my) = d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
                return Some(my.number().to_string());
            }
            d.code().map(|c| c.into_owned())
        }
        sqlx::Error::Io(io) => Some(format!("io:{:?}", io.kind())),
        _ => None,
    }
}

/// A driver error as text a user can act on: code first, secrets scrubbed.
pub(crate) fn describe_error(e: &sqlx::Error, secrets: &[String]) -> String {
    let text = scrub(&e.to_string(), secrets);
    match error_code(e) {
        Some(code) => format!("[{code}] {text}"),
        None => text,
    }
}
