//! Actor metrics, exposed in the Prometheus text format.
//!
//! Every supervised actor carries a [`Probe`]: two counters that the actor itself updates
//! when it handles a message (no lock, no shared cache line between actors) and one that
//! senders update. The handle-time histogram is sampled (one message in
//! [`crate::supervision::HANDLE_TIME_SAMPLE`] per actor is timed) and kept once per
//! (kind, shard), not per actor, so an idle actor carries no histogram. A scrape sums
//! the probes of each (kind, shard) pair, so the labels stay bounded (contracts §6: label by
//! kind and ship, never by actor id; the shard key is exported as the `ship` label) and the hot path costs a handful of relaxed atomic
//! operations. When an actor stops, its counts are folded into its kind's retired totals so
//! that counters never go backwards.
//!
//! Other crates register their own metrics into the same [`Metrics`] registry.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Metric, Registry};
use ractor::ActorCell;

use crate::sharding::ShardKey;

/// Upper bounds, in seconds, of the `seawatch_actor_handle_seconds` histogram buckets.
pub const HANDLE_SECONDS_BUCKETS: [f64; 14] = [
    1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1, 0.5, 1.0, 5.0,
];
const BUCKETS_NS: [u64; 14] = [
    1_000,
    5_000,
    10_000,
    50_000,
    100_000,
    500_000,
    1_000_000,
    5_000_000,
    10_000_000,
    50_000_000,
    100_000_000,
    500_000_000,
    1_000_000_000,
    5_000_000_000,
];
const NB: usize = BUCKETS_NS.len() + 1;

/// The process-wide metrics registry of a seawatch node.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    actors: Arc<ActorMetrics>,
}

impl Metrics {
    /// A fresh registry with the actor metrics collector installed.
    pub fn new() -> Arc<Self> {
        let actors = Arc::new(ActorMetrics::default());
        let mut registry = Registry::default();
        registry.register_collector(Box::new(ActorCollector(actors.clone())));
        Arc::new(Self {
            registry: Mutex::new(registry),
            actors,
        })
    }

    /// Per-(kind, shard) actor statistics.
    pub fn actors(&self) -> &Arc<ActorMetrics> {
        &self.actors
    }

    /// Registers a metric under `name` (which must carry the `seawatch_` prefix; counters
    /// get `_total` appended by the encoder).
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        debug_assert!(name.starts_with("seawatch_"), "metric {name} lacks prefix");
        self.registry.lock().register(name, help, metric);
    }

    /// Registers a collector that produces metrics on each scrape.
    pub fn register_collector(&self, collector: Box<dyn Collector>) {
        self.registry.lock().register_collector(collector);
    }

    /// The whole registry in the Prometheus text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let registry = self.registry.lock();
        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
            out.clear();
            let _ = writeln!(out, "# encoding error");
        }
        out
    }
}

/// All actor kinds' statistics, keyed by (kind, shard).
#[derive(Debug, Default)]
pub struct ActorMetrics {
    kinds: DashMap<(Arc<str>, Arc<str>), Arc<KindStats>, crate::FastHash>,
}

impl ActorMetrics {
    /// The statistics of actors of `kind` in `shard`, created on first use.
    pub fn kind(&self, kind: &str, shard: &str) -> Arc<KindStats> {
        self.kind_of(&Arc::from(kind), &ShardKey::new(shard))
    }

    /// Like [`ActorMetrics::kind`], from the shared strings a supervisor already holds
    /// (the lookup allocates nothing: a child's start path calls this).
    pub fn kind_of(&self, kind: &Arc<str>, shard: &ShardKey) -> Arc<KindStats> {
        let key = (kind.clone(), shard.as_arc().clone());
        if let Some(stats) = self.kinds.get(&key) {
            return stats.clone();
        }
        self.kinds
            .entry(key)
            .or_insert_with(|| Arc::new(KindStats::new(kind, shard.as_str())))
            .clone()
    }

    /// A consistent-enough view of every kind, sorted by (kind, shard).
    pub fn snapshot(&self) -> Vec<KindSnapshot> {
        let mut all: Vec<KindSnapshot> = self.kinds.iter().map(|e| e.value().snapshot()).collect();
        all.sort_by(|a, b| (&a.kind, &a.shard).cmp(&(&b.kind, &b.shard)));
        all
    }

    /// Total restarts over all kinds and shards.
    pub fn total_restarts(&self) -> u64 {
        self.kinds
            .iter()
            .map(|e| e.value().restarts.load(Ordering::Relaxed))
            .sum()
    }
}

/// Statistics of one actor kind in one shard.
#[derive(Debug)]
pub struct KindStats {
    kind: Arc<str>,
    shard: Arc<str>,
    live: Mutex<Live>,
    retired: Mutex<Totals>,
    /// Sampled handle times of every actor of this kind (shared: written by one message
    /// in `HANDLE_TIME_SAMPLE`, so actors of a kind rarely contend on it).
    handle_sum_ns: AtomicU64,
    handle_buckets: [AtomicU64; NB],
    restarts: AtomicU64,
    panics: AtomicU64,
    frozen: AtomicU64,
}

#[derive(Debug, Default, Clone)]
struct Totals {
    messages: u64,
}

/// The live probes of a kind: a slab (a probe's `id` is its slot), 8 bytes a live actor
/// where a hash map entry took 16 and its control byte, with the same table slack.
#[derive(Debug, Default)]
struct Live {
    slots: Vec<Option<Arc<Probe>>>,
    /// Vacant slots, reused before the slab grows.
    free: Vec<u32>,
    count: usize,
}

impl Live {
    fn insert(&mut self, make: impl FnOnce(u64) -> Arc<Probe>) -> Arc<Probe> {
        let idx = match self.free.pop() {
            Some(i) => i as usize,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        let probe = make(idx as u64);
        self.slots[idx] = Some(probe.clone());
        self.count += 1;
        probe
    }

    fn remove(&mut self, id: u64) -> Option<Arc<Probe>> {
        let probe = self.slots.get_mut(id as usize)?.take()?;
        self.count -= 1;
        if self.count == 0 {
            // The kind's population is gone: give the slab's memory back.
            self.slots = Vec::new();
            self.free = Vec::new();
        } else {
            self.free.push(id as u32);
        }
        Some(probe)
    }

    fn iter(&self) -> impl Iterator<Item = &Arc<Probe>> {
        self.slots.iter().flatten()
    }
}

impl KindStats {
    fn new(kind: &Arc<str>, shard: &str) -> Self {
        Self {
            kind: kind.clone(),
            shard: Arc::from(shard),
            live: Mutex::new(Live::default()),
            retired: Mutex::new(Totals::default()),
            handle_sum_ns: AtomicU64::new(0),
            handle_buckets: Default::default(),
            restarts: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            frozen: AtomicU64::new(0),
        }
    }

    /// The actor kind label.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The shard (exported as the `ship` label).
    pub fn shard(&self) -> &str {
        &self.shard
    }

    /// A probe for a new actor instance; dropping the guard retires the probe.
    pub fn new_probe(self: &Arc<Self>) -> ProbeGuard {
        let probe = self.live.lock().insert(|id| {
            Arc::new(Probe {
                id,
                ..Probe::default()
            })
        });
        ProbeGuard {
            stats: self.clone(),
            probe,
        }
    }

    /// Records one (sampled) handle time of an actor of this kind.
    pub fn record_handle_time(&self, elapsed: Duration) {
        let ns = elapsed.as_nanos().min(u64::MAX as u128) as u64;
        let idx = BUCKETS_NS.iter().position(|b| ns <= *b).unwrap_or(NB - 1);
        self.handle_buckets[idx].fetch_add(1, Ordering::Relaxed);
        self.handle_sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Counts one restart of an actor of this kind.
    pub fn record_restart(&self) {
        self.restarts.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one panic inside an actor of this kind.
    pub fn record_panic(&self) {
        self.panics.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one actor of this kind found frozen (no progress within its deadline).
    pub fn record_frozen(&self) {
        self.frozen.fetch_add(1, Ordering::Relaxed);
    }

    /// Restarts so far.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }

    /// Panics so far.
    pub fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }

    fn retire(&self, id: u64) {
        // Fold first, then remove, under the retired lock, so a scrape (which also takes
        // the lock) never sees the counts twice or not at all.
        let mut retired = self.retired.lock();
        if let Some(probe) = self.live.lock().remove(id) {
            probe.add_into(&mut retired);
        }
    }

    /// Current values of this kind's metrics.
    pub fn snapshot(&self) -> KindSnapshot {
        let retired = self.retired.lock();
        let mut totals = retired.clone();
        let handle_buckets: [u64; NB] =
            std::array::from_fn(|i| self.handle_buckets[i].load(Ordering::Relaxed));
        let mut depth = 0i64;
        let mut live = 0u64;
        for probe in self.live.lock().iter() {
            probe.add_into(&mut totals);
            depth += probe.queued() as i64;
            live += 1;
        }
        drop(retired);
        KindSnapshot {
            kind: self.kind.to_string(),
            shard: self.shard.to_string(),
            live,
            messages: totals.messages,
            restarts: self.restarts.load(Ordering::Relaxed),
            panics: self.panics.load(Ordering::Relaxed),
            frozen: self.frozen.load(Ordering::Relaxed),
            mailbox_depth: depth as u64,
            handle_sum_seconds: self.handle_sum_ns.load(Ordering::Relaxed) as f64 / 1e9,
            handle_buckets,
        }
    }
}

/// Metrics of one kind at one moment.
#[derive(Debug, Clone)]
pub struct KindSnapshot {
    /// Actor kind.
    pub kind: String,
    /// Shard (exported as the `ship` label).
    pub shard: String,
    /// Actors of this kind currently alive.
    pub live: u64,
    /// Messages handled, over all instances past and present.
    pub messages: u64,
    /// Restarts.
    pub restarts: u64,
    /// Panics caught in handlers.
    pub panics: u64,
    /// Actors found frozen and restarted.
    pub frozen: u64,
    /// Messages sent through stable addresses and not yet handled.
    pub mailbox_depth: u64,
    /// Sum of handle times, seconds.
    pub handle_sum_seconds: f64,
    handle_buckets: [u64; NB],
}

/// The per-actor-instance counters.
///
/// The handler-side counter is written only by the actor's own task (one message at a
/// time), so it uses a plain load/store instead of a locked read-modify-write; the
/// sender-side counter sits 64 bytes further on, so senders and the actor never bounce
/// one cache line between cores on every message. The gap is padding, not alignment:
/// with the `Arc`'s counts the probe is 104 bytes (a 112-byte block) where two
/// 64-byte-aligned lines took 192. It also carries the incarnation's cell on the senders'
/// side, so a stable address points at the probe alone (no separate slot object). Handle
/// times go to the kind's shared histogram ([`KindStats`]).
#[derive(Debug, Default)]
#[repr(C)]
pub struct Probe {
    /// Incremented when a handler starts and when it ends: odd while busy, and half of
    /// it is the messages handled (all of them, including any sent through a raw
    /// `ActorRef`, which [`Probe::enqueued`] never saw: depth then reads low, never high).
    progress: AtomicU64,
    /// The probe's slot in its kind's live slab (read-only).
    id: u64,
    /// When the message being timed started (nanoseconds since [`sample_epoch`]): one
    /// message in [`crate::supervision::HANDLE_TIME_SAMPLE`] is timed, and its start waits
    /// here rather than in every handler's future. Written by the actor only.
    sample_start_ns: AtomicU64,
    /// Keeps `enqueued` 64 bytes away from `progress`: always on another cache line.
    _gap: [u64; 5],
    enqueued: AtomicI64,
    /// The incarnation this probe watches, set once when it has started. Stable addresses
    /// send through it, so it sits on the senders' line beside `enqueued` (read-only
    /// there; the actor's own writes stay on `progress`'s line).
    cell: OnceLock<ActorCell>,
}

/// The instant handle-time samples are measured from.
fn sample_epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

#[inline]
fn since_epoch_ns() -> u64 {
    sample_epoch().elapsed().as_nanos().min(u64::MAX as u128) as u64
}

#[inline]
fn bump(cell: &AtomicU64, by: u64) {
    // Single writer: a plain store is enough, and much cheaper than a locked add.
    cell.store(
        cell.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

impl Probe {
    /// Marks the start of a message handler.
    #[inline]
    pub fn begin(&self) {
        bump(&self.progress, 1);
    }

    /// Notes that the message about to be handled is timed: its start time.
    #[inline]
    pub fn mark_sample_start(&self) {
        self.sample_start_ns
            .store(since_epoch_ns(), Ordering::Relaxed);
    }

    /// The time since [`Probe::mark_sample_start`].
    #[inline]
    pub fn sample_elapsed(&self) -> Duration {
        let start = self.sample_start_ns.load(Ordering::Relaxed);
        Duration::from_nanos(since_epoch_ns().saturating_sub(start))
    }

    /// Marks the end of a message handler (its handle time, when timed, goes to the kind:
    /// [`ProbeGuard::end`]).
    #[inline]
    pub fn end(&self) {
        // Never read the sender side here: that cache line belongs to the senders' cores.
        bump(&self.progress, 1);
    }

    /// Counts a message put into the actor's mailbox through a stable address.
    #[inline]
    pub fn enqueued(&self) {
        self.enqueued.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes back an [`Probe::enqueued`] whose send failed.
    #[inline]
    pub fn unqueued(&self) {
        self.enqueued.fetch_sub(1, Ordering::Relaxed);
    }

    /// Messages waiting in the mailbox (of those sent through addresses).
    pub fn queued(&self) -> u64 {
        let enq = self.enqueued.load(Ordering::Relaxed);
        let deq = self.handled() as i64;
        (enq - deq).max(0) as u64
    }

    /// The progress counter: it changes at every handler start and end.
    pub fn progress(&self) -> u64 {
        self.progress.load(Ordering::Relaxed)
    }

    /// Messages handled to completion.
    pub fn handled(&self) -> u64 {
        self.progress() / 2
    }

    /// The incarnation this probe watches, once it has started.
    #[inline]
    pub fn cell(&self) -> Option<&ActorCell> {
        self.cell.get()
    }

    /// Records the incarnation this probe watches (once; a later call is ignored).
    pub(crate) fn set_cell(&self, cell: ActorCell) {
        let _ = self.cell.set(cell);
    }

    /// A probe outside any kind's statistics, for an incarnation that is not instrumented
    /// (a nested supervisor): its stable address still sends through it.
    pub(crate) fn unlisted(cell: ActorCell) -> Arc<Self> {
        let probe = Arc::new(Probe::default());
        probe.set_cell(cell);
        probe
    }

    fn add_into(&self, totals: &mut Totals) {
        totals.messages += self.handled();
    }
}

/// Owns a live [`Probe`]; when dropped (the actor instance is gone) the probe's counts
/// are folded into the kind's retired totals.
#[derive(Debug)]
pub struct ProbeGuard {
    stats: Arc<KindStats>,
    probe: Arc<Probe>,
}

impl ProbeGuard {
    /// The probe itself.
    pub fn probe(&self) -> &Arc<Probe> {
        &self.probe
    }

    /// The kind statistics this probe belongs to.
    pub fn stats(&self) -> &Arc<KindStats> {
        &self.stats
    }

    /// Marks the end of a message handler; `elapsed` is its handle time when it was timed
    /// (recorded in the kind's histogram).
    #[inline]
    pub fn end(&self, elapsed: Option<Duration>) {
        if let Some(elapsed) = elapsed {
            self.stats.record_handle_time(elapsed);
        }
        self.probe.end();
    }
}

impl Drop for ProbeGuard {
    fn drop(&mut self) {
        self.stats.retire(self.probe.id);
    }
}

/// A metric name, its help text and how to read it from a snapshot.
type Series = (&'static str, &'static str, fn(&KindSnapshot) -> u64);

#[derive(Debug)]
struct ActorCollector(Arc<ActorMetrics>);

fn labels(s: &KindSnapshot) -> [(&'static str, String); 2] {
    [("kind", s.kind.clone()), ("ship", s.shard.clone())]
}

impl Collector for ActorCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;
        let snaps = self.0.snapshot();
        let counters: [Series; 4] = [
            (
                "seawatch_actor_messages",
                "Messages handled by actors of this kind.",
                |s| s.messages,
            ),
            (
                "seawatch_actor_restarts",
                "Restarts of actors of this kind by their supervisor.",
                |s| s.restarts,
            ),
            (
                "seawatch_actor_panics",
                "Panics caught in handlers of actors of this kind.",
                |s| s.panics,
            ),
            (
                "seawatch_actor_frozen",
                "Actors of this kind that made no progress within their deadline.",
                |s| s.frozen,
            ),
        ];
        for (name, help, get) in counters {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for s in &snaps {
                let l = labels(s);
                ConstCounter::new(get(s)).encode(family.encode_family(&l)?)?;
            }
        }
        let gauges: [Series; 2] = [
            (
                "seawatch_actor_mailbox_depth",
                "Messages waiting in the mailboxes of actors of this kind.",
                |s| s.mailbox_depth,
            ),
            (
                "seawatch_actor_live",
                "Actors of this kind currently alive.",
                |s| s.live,
            ),
        ];
        for (name, help, get) in gauges {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for s in &snaps {
                let l = labels(s);
                ConstGauge::new(get(s) as i64).encode(family.encode_family(&l)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "seawatch_actor_handle_seconds",
            "Time spent handling one message (one message in 64 per actor is timed).",
            None,
            MetricType::Histogram,
        )?;
        for s in &snaps {
            let l = labels(s);
            let mut buckets: Vec<(f64, u64)> = HANDLE_SECONDS_BUCKETS
                .iter()
                .copied()
                .chain(std::iter::once(f64::INFINITY))
                .zip(s.handle_buckets.iter().copied())
                .collect();
            buckets.truncate(NB);
            let count = s.handle_buckets.iter().sum();
            family.encode_family(&l)?.encode_histogram::<NoLabelSet>(
                s.handle_sum_seconds,
                count,
                &buckets,
                None,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retired_counts_stay_in_the_totals() {
        let metrics = Metrics::new();
        let stats = metrics.actors().kind("device", "ship-1");
        {
            let guard = stats.new_probe();
            for _ in 0..3 {
                guard.probe().enqueued();
            }
            for _ in 0..3 {
                guard.probe().begin();
                guard.end(Some(Duration::from_micros(3)));
            }
            assert_eq!(stats.snapshot().messages, 3);
            assert_eq!(stats.snapshot().live, 1);
        }
        let snap = stats.snapshot();
        assert_eq!(snap.messages, 3, "counts survive the actor");
        assert_eq!(snap.live, 0);
        assert_eq!(snap.mailbox_depth, 0);
        let text = metrics.encode();
        assert!(
            text.contains("seawatch_actor_messages_total{kind=\"device\",ship=\"ship-1\"} 3"),
            "{text}"
        );
        assert!(
            text.contains(
                "seawatch_actor_handle_seconds_bucket{le=\"0.000005\",kind=\"device\",ship=\"ship-1\"} 3"
            ),
            "{text}"
        );
        assert!(
            text.contains("seawatch_actor_handle_seconds_count{kind=\"device\",ship=\"ship-1\"} 3")
        );
    }

    #[test]
    fn probe_counters_sit_on_different_cache_lines() {
        let probe = Probe::default();
        let base = &probe as *const Probe as usize;
        let progress = &probe.progress as *const AtomicU64 as usize - base;
        let enqueued = &probe.enqueued as *const AtomicI64 as usize - base;
        let cell = &probe.cell as *const OnceLock<ActorCell> as usize - base;
        assert!(enqueued - progress >= 64, "{progress} / {enqueued}");
        // What senders read (the cell) is on their side too, never on `progress`'s line.
        assert!(cell > enqueued, "{progress} / {cell}");
        // With an Arc's two counts in front: a 104-byte block.
        assert_eq!(std::mem::size_of::<Probe>() + 16, 104);
    }

    #[test]
    fn mailbox_depth_counts_only_waiting_messages() {
        let metrics = Metrics::new();
        let stats = metrics.actors().kind("link", "ship-2");
        let guard = stats.new_probe();
        guard.probe().enqueued();
        guard.probe().enqueued();
        assert_eq!(stats.snapshot().mailbox_depth, 2);
        guard.probe().begin();
        guard.end(None);
        assert_eq!(stats.snapshot().mailbox_depth, 1);
        // A message that arrived without an address (a raw ActorRef) never drives it negative.
        guard.probe().begin();
        guard.end(None);
        guard.probe().begin();
        guard.end(None);
        assert_eq!(stats.snapshot().mailbox_depth, 0);
    }
}
