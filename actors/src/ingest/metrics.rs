//! Ingest metrics (contracts §6): events by source, malformed input by reason, UDP drops,
//! events durably appended, and receipt-to-device latency.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use seawatch_runtime::Metrics;

use super::record::Source;

/// Labels of per-source counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    /// Source (`syslog-tcp`, ...).
    pub source: String,
    /// Ship id.
    pub ship: String,
}

/// Labels of malformed-input counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MalformedLabels {
    /// Source.
    pub source: String,
    /// Decode error reason (bounded set).
    pub reason: String,
    /// Ship id.
    pub ship: String,
}

/// Labels with only the ship.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ShipLabels {
    /// Ship id.
    pub ship: String,
}

/// One rejected input, kept for the console.
#[derive(Debug, Clone, PartialEq)]
pub struct MalformedSample {
    /// Source.
    pub source: &'static str,
    /// Reason label.
    pub reason: &'static str,
    /// The first bytes of the input, lossily decoded.
    pub excerpt: String,
}

const SAMPLES_KEPT: usize = 32;
const LATENCY_BUCKETS: usize = 64;

/// A lock-free latency histogram with log-spaced buckets from 1 µs to ~100 s, for
/// quantiles in benchmark reports.
#[derive(Debug)]
pub struct LatencyHistogram {
    buckets: [AtomicU64; LATENCY_BUCKETS],
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl LatencyHistogram {
    fn bucket_of(d: Duration) -> usize {
        let us = d.as_secs_f64() * 1e6;
        if us <= 1.0 {
            return 0;
        }
        // 8 buckets per decade over 8 decades.
        ((us.log10() * 8.0).ceil() as usize).min(LATENCY_BUCKETS - 1)
    }

    fn upper_us(idx: usize) -> f64 {
        10f64.powf(idx as f64 / 8.0)
    }

    /// Records one observation.
    pub fn record(&self, d: Duration) {
        self.buckets[Self::bucket_of(d)].fetch_add(1, Ordering::Relaxed);
    }

    /// Records `n` observations of the same latency.
    pub fn record_n(&self, d: Duration, n: u64) {
        self.buckets[Self::bucket_of(d)].fetch_add(n, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The `q` quantile (0..=1) as the upper bound of its bucket, in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return 0.0;
        }
        let target = (q.clamp(0.0, 1.0) * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= target {
                return Self::upper_us(i) / 1000.0;
            }
        }
        Self::upper_us(LATENCY_BUCKETS - 1) / 1000.0
    }

    /// Forgets every observation.
    pub fn reset(&self) {
        for b in &self.buckets {
            b.store(0, Ordering::Relaxed);
        }
    }
}

/// The ingest metrics of one ship.
#[derive(Debug, Clone)]
pub struct IngestMetrics {
    ship: String,
    events: Family<SourceLabels, Counter>,
    malformed: Family<MalformedLabels, Counter>,
    dropped: Family<SourceLabels, Counter>,
    eventlog_events: Family<ShipLabels, Counter>,
    eventlog_bytes: Family<ShipLabels, Gauge>,
    to_device: Family<ShipLabels, Histogram>,
    route_lag: Family<ShipLabels, Gauge>,
    route_shed: Family<ShipLabels, Counter>,
    /// Receipt-to-device latency, for benchmark quantiles.
    pub latency: Arc<LatencyHistogram>,
    samples: Arc<Mutex<VecDeque<MalformedSample>>>,
    accepted: Arc<AtomicU64>,
    durable: Arc<AtomicU64>,
    accepted_watch: Arc<tokio::sync::watch::Sender<u64>>,
    durable_watch: Arc<tokio::sync::watch::Sender<u64>>,
}

impl IngestMetrics {
    /// Registers the ingest metrics of `ship` into `metrics`.
    pub fn register(metrics: &Metrics, ship: &str) -> Self {
        let s = Self {
            ship: ship.to_string(),
            events: Family::default(),
            malformed: Family::default(),
            dropped: Family::default(),
            eventlog_events: Family::default(),
            eventlog_bytes: Family::default(),
            to_device: Family::new_with_constructor(|| {
                Histogram::new([1e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1, 0.5, 1.0, 5.0])
            }),
            route_lag: Family::default(),
            route_shed: Family::default(),
            latency: Arc::new(LatencyHistogram::default()),
            samples: Arc::new(Mutex::new(VecDeque::new())),
            accepted: Arc::new(AtomicU64::new(0)),
            durable: Arc::new(AtomicU64::new(0)),
            accepted_watch: Arc::new(tokio::sync::watch::channel(0).0),
            durable_watch: Arc::new(tokio::sync::watch::channel(0).0),
        };
        metrics.register(
            "seawatch_ingest_events",
            "Events accepted by ingest, by source.",
            s.events.clone(),
        );
        metrics.register(
            "seawatch_ingest_malformed",
            "Inputs rejected by the decoders, by source and reason.",
            s.malformed.clone(),
        );
        metrics.register(
            "seawatch_ingest_dropped",
            "Events dropped because the pipeline was full (UDP only; TCP slows down instead).",
            s.dropped.clone(),
        );
        metrics.register(
            "seawatch_eventlog_events",
            "Events durably appended to the ship's event log.",
            s.eventlog_events.clone(),
        );
        metrics.register(
            "seawatch_eventlog_bytes",
            "Bytes on disk in the ship's event log.",
            s.eventlog_bytes.clone(),
        );
        metrics.register(
            "seawatch_ingest_to_device_seconds",
            "Time from receipt of an event to its device actor handling it.",
            s.to_device.clone(),
        );
        metrics.register(
            "seawatch_eventlog_route_lag_events",
            "Durable events the router had not yet delivered to the roster when it last delivered.",
            s.route_lag.clone(),
        );
        metrics.register(
            "seawatch_eventlog_route_shed",
            "Stored events not delivered to the roster (router queue full while the writer stopped, or a router stopped holding them).",
            s.route_shed.clone(),
        );
        // Pre-create the series so they show as 0 before the first event.
        for src in Source::ALL {
            let _ = s.events.get_or_create(&s.source_labels(src));
        }
        let _ = s.eventlog_events.get_or_create(&s.ship_labels());
        let _ = s.route_lag.get_or_create(&s.ship_labels());
        let _ = s.route_shed.get_or_create(&s.ship_labels());
        s
    }

    /// The same families (already registered) for another ship of the same process, so
    /// that several ships share one registry (the demo, `sim run`): counters of its own,
    /// series labelled with `ship`.
    pub fn for_ship(&self, ship: &str) -> Self {
        let s = Self {
            ship: ship.to_string(),
            events: self.events.clone(),
            malformed: self.malformed.clone(),
            dropped: self.dropped.clone(),
            eventlog_events: self.eventlog_events.clone(),
            eventlog_bytes: self.eventlog_bytes.clone(),
            to_device: self.to_device.clone(),
            route_lag: self.route_lag.clone(),
            route_shed: self.route_shed.clone(),
            latency: Arc::new(LatencyHistogram::default()),
            samples: Arc::new(Mutex::new(VecDeque::new())),
            accepted: Arc::new(AtomicU64::new(0)),
            durable: Arc::new(AtomicU64::new(0)),
            accepted_watch: Arc::new(tokio::sync::watch::channel(0).0),
            durable_watch: Arc::new(tokio::sync::watch::channel(0).0),
        };
        for src in Source::ALL {
            let _ = s.events.get_or_create(&s.source_labels(src));
        }
        let _ = s.eventlog_events.get_or_create(&s.ship_labels());
        let _ = s.route_lag.get_or_create(&s.ship_labels());
        let _ = s.route_shed.get_or_create(&s.ship_labels());
        s
    }

    fn source_labels(&self, source: Source) -> SourceLabels {
        SourceLabels {
            source: source.as_str().to_string(),
            ship: self.ship.clone(),
        }
    }

    fn ship_labels(&self) -> ShipLabels {
        ShipLabels {
            ship: self.ship.clone(),
        }
    }

    /// Counts `n` accepted events from `source`.
    pub fn accepted(&self, source: Source, n: u64) {
        self.events
            .get_or_create(&self.source_labels(source))
            .inc_by(n);
        let total = self.accepted.fetch_add(n, Ordering::Relaxed) + n;
        self.accepted_watch.send_replace(total);
    }

    /// Counts a rejected input and keeps a sample of it.
    pub fn malformed(&self, source: Source, reason: &'static str, input: &[u8]) {
        self.malformed
            .get_or_create(&MalformedLabels {
                source: source.as_str().to_string(),
                reason: reason.to_string(),
                ship: self.ship.clone(),
            })
            .inc();
        let excerpt = String::from_utf8_lossy(&input[..input.len().min(256)]).into_owned();
        let mut samples = self.samples.lock();
        if samples.len() == SAMPLES_KEPT {
            samples.pop_front();
        }
        samples.push_back(MalformedSample {
            source: source.as_str(),
            reason,
            excerpt,
        });
    }

    /// Counts `n` events dropped from `source` because the pipeline was full.
    pub fn dropped(&self, source: Source, n: u64) {
        self.dropped
            .get_or_create(&self.source_labels(source))
            .inc_by(n);
    }

    /// Counts `n` events made durable.
    pub fn durable(&self, n: u64) {
        self.eventlog_events
            .get_or_create(&self.ship_labels())
            .inc_by(n);
        let total = self.durable.fetch_add(n, Ordering::Relaxed) + n;
        self.durable_watch.send_replace(total);
    }

    /// Sets the event log's size on disk.
    pub fn eventlog_bytes(&self, bytes: u64) {
        self.eventlog_bytes
            .get_or_create(&self.ship_labels())
            .set(bytes as i64);
    }

    /// Sets how far the router trails the durable watermark, in events.
    pub fn route_lag(&self, events: u64) {
        self.route_lag
            .get_or_create(&self.ship_labels())
            .set(events as i64);
    }

    /// Counts `n` stored events that were not delivered to the roster.
    pub fn route_shed(&self, n: u64) {
        self.route_shed.get_or_create(&self.ship_labels()).inc_by(n);
    }

    /// Events from `source` dropped so far because the pipeline was full.
    pub fn dropped_total(&self, source: Source) -> u64 {
        self.dropped
            .get_or_create(&self.source_labels(source))
            .get()
    }

    /// Stored events not delivered to the roster so far.
    pub fn route_shed_total(&self) -> u64 {
        self.route_shed.get_or_create(&self.ship_labels()).get()
    }

    /// Records receipt-to-device latency for `n` events.
    pub fn to_device(&self, d: Duration, n: u64) {
        self.latency.record_n(d, n);
        let h = self.to_device.get_or_create(&self.ship_labels());
        h.observe(d.as_secs_f64());
    }

    /// Recent rejected inputs, oldest first.
    pub fn malformed_samples(&self) -> Vec<MalformedSample> {
        self.samples.lock().iter().cloned().collect()
    }

    /// Events accepted so far (all sources).
    pub fn accepted_total(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Waits (event-driven, no polling) until at least `n` events were accepted.
    pub async fn wait_accepted(&self, n: u64) {
        let mut rx = self.accepted_watch.subscribe();
        let _ = rx.wait_for(|v| *v >= n).await;
    }

    /// Waits (event-driven, no polling) until at least `n` events are durable.
    pub async fn wait_durable(&self, n: u64) {
        let mut rx = self.durable_watch.subscribe();
        let _ = rx.wait_for(|v| *v >= n).await;
    }

    /// Events durably appended so far.
    pub fn durable_total(&self) -> u64 {
        self.durable.load(Ordering::Relaxed)
    }
}
