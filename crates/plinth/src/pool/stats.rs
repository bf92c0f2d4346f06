//! Lock-free counters and sliding windows behind [`PoolStats`], so the hot path (acquire and
//! release) costs a handful of atomic operations and never takes a lock.

use serde::Serialize;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Number of recent samples kept for each latency window.
pub(crate) const WINDOW: usize = 1024;

/// A fixed ring of the most recent durations, written with one `fetch_add` and one store.
pub(crate) struct Window {
    next: AtomicUsize,
    // nanoseconds + 1, so 0 means "empty slot"
    slots: Box<[AtomicU64]>,
}

impl Window {
    pub(crate) fn new() -> Self {
        Window {
            next: AtomicUsize::new(0),
            slots: (0..WINDOW).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    pub(crate) fn record(&self, d: Duration) {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % WINDOW;
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX - 1);
        self.slots[i].store(nanos.saturating_add(1), Ordering::Relaxed);
    }

    pub(crate) fn percentiles(&self) -> Percentiles {
        let mut v: Vec<u64> = self
            .slots
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .filter(|&n| n != 0)
            .map(|n| n - 1)
            .collect();
        v.sort_unstable();
        let at = |q: f64| -> f64 {
            if v.is_empty() {
                return 0.0;
            }
            // nearest rank
            let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
            v[rank - 1] as f64 / 1e6
        };
        Percentiles {
            samples: v.len(),
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: v.last().map(|&n| n as f64 / 1e6).unwrap_or(0.0),
        }
    }
}

/// Latency percentiles over the most recent samples (up to 1024), in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// How many samples the window holds.
    pub samples: usize,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest sample in the window.
    pub max_ms: f64,
}

/// Monotonic counters of pool events.
#[derive(Default)]
pub(crate) struct Counters {
    pub acquires: AtomicU64,
    pub timeouts: AtomicU64,
    pub created: AtomicU64,
    pub discarded_in_transaction: AtomicU64,
    pub waiting: AtomicU64,
    pub held: AtomicU64,
}

/// One borrowed connection: when and where it was acquired (0 = slot free).
pub(crate) struct HolderSlot {
    pub since: AtomicU64,
    pub location: AtomicPtr<Location<'static>>,
    pub leak_reported: AtomicBool,
}

/// A fixed set of slots for borrowers or waiters, claimed with a compare-and-swap.
pub(crate) struct Slots {
    pub slots: Box<[HolderSlot]>,
    epoch: Instant,
}

impl Slots {
    pub(crate) fn new(n: usize, epoch: Instant) -> Self {
        Slots {
            slots: (0..n.max(1))
                .map(|_| HolderSlot {
                    since: AtomicU64::new(0),
                    location: AtomicPtr::new(std::ptr::null_mut()),
                    leak_reported: AtomicBool::new(false),
                })
                .collect(),
            epoch,
        }
    }

    /// Nanoseconds since the pool's epoch, plus one (never 0).
    pub(crate) fn stamp(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
    }

    pub(crate) fn age(&self, stamp: u64, now: Instant) -> Duration {
        let then = self.epoch + Duration::from_nanos(stamp.saturating_sub(1));
        now.saturating_duration_since(then)
    }

    /// Claim a free slot; None when all are taken (the borrower is then simply not tracked).
    pub(crate) fn claim(&self, at: Instant, location: &'static Location<'static>) -> Option<usize> {
        let stamp = self.stamp(at);
        let n = self.slots.len();
        // start at a spread-out position to reduce contention between tasks
        let start = (stamp as usize) % n;
        for k in 0..n {
            let i = (start + k) % n;
            let s = &self.slots[i];
            if s.since.load(Ordering::Relaxed) == 0
                && s.since
                    .compare_exchange(0, stamp, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            {
                s.location.store(
                    location as *const Location<'static> as *mut Location<'static>,
                    Ordering::Release,
                );
                s.leak_reported.store(false, Ordering::Relaxed);
                return Some(i);
            }
        }
        None
    }

    /// Free a slot; returns whether a leak had been reported for it.
    pub(crate) fn release(&self, i: usize) -> bool {
        let s = &self.slots[i];
        let reported = s.leak_reported.swap(false, Ordering::AcqRel);
        s.location.store(std::ptr::null_mut(), Ordering::Relaxed);
        s.since.store(0, Ordering::Release);
        reported
    }

    /// The call site recorded in slot `i`, if any.
    pub(crate) fn occupied_location(&self, i: usize) -> Option<&'static Location<'static>> {
        let ptr = self.slots[i].location.load(Ordering::Acquire);
        (!ptr.is_null()).then(|| location_from_ptr(ptr))
    }

    /// The occupied slots: (index, age, call site).
    pub(crate) fn occupied(
        &self,
        now: Instant,
    ) -> Vec<(usize, Duration, Option<&'static Location<'static>>)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let since = s.since.load(Ordering::Acquire);
                if since == 0 {
                    return None;
                }
                let ptr = s.location.load(Ordering::Acquire);
                // SAFETY-free: the pointer only ever holds a `&'static Location` or null.
                let loc = if ptr.is_null() {
                    None
                } else {
                    Some(location_from_ptr(ptr))
                };
                Some((i, self.age(since, now), loc))
            })
            .collect()
    }
}

#[allow(unsafe_code)]
fn location_from_ptr(ptr: *mut Location<'static>) -> &'static Location<'static> {
    // SAFETY: only `&'static Location<'static>` values (from `Location::caller()`) are stored.
    unsafe { &*ptr }
}

/// A point-in-time view of a pool, for logs, metrics, the CLI and error messages.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PoolStats {
    /// The pool's name (its PostgreSQL `application_name`).
    pub name: String,
    /// `max_connections` of the pool.
    pub max: u32,
    /// `min_connections` of the pool.
    pub min: u32,
    /// Connections open right now (in use, idle, or being opened).
    pub size: u32,
    /// Connections handed out and not yet returned.
    pub in_use: u32,
    /// Open connections waiting in the pool.
    pub idle: u32,
    /// Tasks blocked in `acquire` right now.
    pub waiting: u32,
    /// In use / max, in percent.
    pub utilization_percent: f64,
    /// (In use + waiting) / max, in percent: above 100 means tasks queue for connections.
    pub demand_percent: f64,
    /// How long the oldest task still waiting in `acquire` has waited, in milliseconds.
    pub oldest_wait_ms: f64,
    /// Successful acquires since the pool was created.
    pub acquires_total: u64,
    /// Acquires that gave up after the acquire timeout.
    pub timeouts_total: u64,
    /// Connections opened since the pool was created.
    pub connections_created_total: u64,
    /// Connections closed since the pool was created (created − open).
    pub connections_closed_total: u64,
    /// Connections discarded or rolled back on release because they were still in a transaction.
    pub released_in_transaction_total: u64,
    /// Time spent waiting in `acquire`.
    pub acquire_wait: Percentiles,
    /// Time connections were held by borrowers.
    pub hold_time: Percentiles,
    /// The health level these numbers put the pool at.
    pub level: super::HealthLevel,
}

/// A borrower holding a connection: where it was acquired and for how long.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Holder {
    /// `file:line:column` of the `acquire` call, or `unknown`.
    pub location: String,
    /// How long the connection has been held, in milliseconds.
    pub held_ms: f64,
}

pub(crate) fn location_string(loc: Option<&'static Location<'static>>) -> String {
    match loc {
        Some(l) => format!("{}:{}:{}", l.file(), l.line(), l.column()),
        None => "unknown".to_string(),
    }
}
