//! The detector actor: one per device, hosting all of that device's metric series.
//!
//! Per series (at most [`DetectorConfig::max_series`]): the [`Ensemble`] score, an
//! [`Adwin`] drift detector, a k-of-n alert gate, and for free-disk series a
//! [`CapacityForecast`]. Per device: an [`IsolationForest`] over the vector of the
//! device's first series (one row per scrape), and a periodic summary to the ship's peer
//! actor. Counters (octets, errors, discards, `_total`) are scored as per-second rates;
//! state series (`ifOperStatus`, `probe_success`) and constants (sizes, totals) are not
//! scored here (device health covers the former).
//!
//! Time is the samples' event time, never the wall clock.
//!
//! Restart policy (decision 0007): a restarted detector starts from empty baselines on
//! purpose (its state is rebuilt from the stream, and a panic may have left it
//! inconsistent); every series warms up again, so a restart cannot cause an alert storm.
//! Only the set of alerts that were firing survives (shared across incarnations), so
//! each `Firing` still gets its `Cleared` once the rebuilt baseline finds the series
//! normal.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use seawatch_runtime::supervision::{Addr, ChildSpec, SupervisorMsg};
use seawatch_runtime::Metrics;

use super::adwin::Adwin;
use super::forecast::{CapacityForecast, ForecastConfig, Outlook};
use super::iforest::{IForestConfig, IsolationForest, MAX_DIM};
use super::peer::{PeerMsg, PeerSummary};
use super::{Ensemble, EnsembleConfig};
use crate::alert::AlertSink;
use seawatch_model::sample::series_key;
use seawatch_model::{
    Alert, AlertClass, AlertSeverity, AlertSource, AlertState, ObsKind, Observation, ShipId,
};

/// One metric sample as a detector sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Event time, unix ms.
    pub ts_ms: i64,
    /// Series key: metric name plus sorted labels (as the device actor keys it).
    pub series: Arc<str>,
    /// Value.
    pub value: f64,
}

/// The metric samples of a batch of observations, in order.
pub fn samples_of(items: &[Observation]) -> Vec<Sample> {
    items
        .iter()
        .filter_map(|o| match &o.kind {
            ObsKind::Metric(m) => Some(Sample {
                ts_ms: o.ts_ms,
                series: Arc::from(series_key(&m.name, &m.labels)),
                value: m.value,
            }),
            ObsKind::Log(_) => None,
        })
        .collect()
}

/// Messages of a detector actor.
pub enum DetectorMsg {
    /// Samples of the device, in event order (one message per ingest batch).
    Samples(Vec<Sample>),
    /// What the detector holds now.
    Snapshot(RpcReplyPort<DetectorSnapshot>),
    /// New settings (a rollout or rollback of detector settings): applied to the running
    /// state ([`DetectorState::apply_config`]).
    Settings(Arc<DetectorConfig>),
    /// Fault injection (chaos and supervision tests): the actor panics.
    Crash,
}

/// A detector's observable state.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorSnapshot {
    /// Series tracked.
    pub series: usize,
    /// Samples scored since this incarnation started.
    pub samples: u64,
    /// Keys (`class` and series) of the alerts firing now, sorted.
    pub firing: Vec<(AlertClass, String)>,
    /// Drifts detected (ADWIN or Page-Hinkley).
    pub drifts: u64,
    /// Series recalibrated after a drift during an alert.
    pub recalibrations: u64,
    /// Rows scored by the isolation forest.
    pub rows: u64,
    /// The [`DetectorConfig::fingerprint`] of the settings it runs.
    pub settings: String,
    /// Times new settings re-initialised its series' ensembles.
    pub reinits: u64,
}

/// Detector configuration: one serves every device.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorConfig {
    /// Per-series ensemble.
    pub ensemble: EnsembleConfig,
    /// Fire when `k` of the last `n` scored samples are at or above the ensemble's
    /// alert threshold...
    pub sustain: (u32, u32),
    /// ...or one sample scores at least this (a spike too rare to wait for).
    pub instant: f64,
    /// Clear after this many consecutive samples below the threshold.
    pub clear_after: u32,
    /// ADWIN confidence for drift detection.
    pub adwin_delta: f64,
    /// ADWIN's maximum window (samples).
    pub adwin_window: usize,
    /// An ADWIN drift whose mean moved by more than this many deviations of the window
    /// before it fires an alert by itself (a slow ramp the ensemble adapts to); the
    /// daily swing of a seasonal series stays within it.
    pub drift_sigma: f64,
    /// At most this many series per device (more are ignored).
    pub max_series: usize,
    /// Isolation forest over the device state.
    pub iforest: IForestConfig,
    /// Series in the device-state row (the first ones in key order); 0 disables it.
    pub iforest_features: usize,
    /// A device-state row counts as "above" when its isolation-forest score exceeds
    /// this quantile of the device's recent scores (forest scores are compressed, so
    /// they are calibrated per device like the ensemble's)...
    pub iforest_quantile: f64,
    /// ...over this many recent rows (no forest alert before 200 of them)...
    pub iforest_history: usize,
    /// ...and the device-state gate fires on `k` of the last `n` rows above.
    pub iforest_sustain: (u32, u32),
    /// Capacity forecasting of free-disk series.
    pub forecast: ForecastConfig,
    /// Event-time period of the summaries sent to the peer actor, ms.
    pub summary_ms: i64,
}

impl DetectorConfig {
    /// A short fingerprint of the whole configuration (16 hex digits of the SHA-256 of
    /// its debug form): what a detector reports it runs.
    pub fn fingerprint(&self) -> String {
        crate::rollout::bundle::sha256_hex(format!("{self:?}").as_bytes())[..16].to_string()
    }
}

/// The settings every detector of a ship runs now, shared by the roster and every
/// detector incarnation: a detector (re)started reads it, so a restart keeps the settings
/// last pushed. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SettingsCell(Arc<Mutex<Arc<DetectorConfig>>>);

impl SettingsCell {
    /// A cell holding `config`.
    pub fn new(config: DetectorConfig) -> Self {
        Self(Arc::new(Mutex::new(Arc::new(config))))
    }

    /// The settings now.
    pub fn get(&self) -> Arc<DetectorConfig> {
        self.0.lock().clone()
    }

    /// Replaces the settings.
    pub fn set(&self, config: Arc<DetectorConfig>) {
        *self.0.lock() = config;
    }
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            // The one ensemble configuration, also the one `seawatch nab run` scores
            // (decision 0054); the gate below reads its scores before their
            // one-report-per-event shaping (`Scored::raw`).
            ensemble: EnsembleConfig::default(),
            sustain: (2, 5),
            instant: 0.6,
            clear_after: 10,
            adwin_delta: 0.002,
            adwin_window: 2000,
            drift_sigma: 3.0,
            max_series: 256,
            iforest: IForestConfig::default(),
            iforest_features: 8,
            iforest_quantile: 0.99,
            iforest_history: 1000,
            iforest_sustain: (4, 5),
            forecast: ForecastConfig::default(),
            summary_ms: 300_000,
        }
    }
}

/// Labels with only the ship.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ShipLabel {
    /// Ship id.
    pub ship: String,
}

/// Labels of the alert counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlertLabels {
    /// Ship id.
    pub ship: String,
    /// Alert source (`detector`, `forecast`, `peer`).
    pub source: String,
}

/// Detector metrics: `seawatch_detector_samples_total{ship}`,
/// `seawatch_detector_bytes{ship}` (detector state held by the ship's detector actors)
/// and `seawatch_alerts_total{ship,source}` (alerts raised, firing and cleared).
#[derive(Clone, Debug, Default)]
pub struct DetectorMetrics {
    /// Samples scored.
    pub samples: Family<ShipLabel, Counter>,
    /// Bytes of detector state (every series' ensemble, ADWIN, gate and forecast, and
    /// the device-state forest), summed over the ship's detector actors.
    pub bytes: Family<ShipLabel, Gauge>,
    /// Alerts raised.
    pub alerts: Family<AlertLabels, Counter>,
}

impl DetectorMetrics {
    /// Registers the families in `metrics` (once per node).
    pub fn register(metrics: &Metrics) -> Self {
        let m = Self::default();
        metrics.register(
            "seawatch_detector_samples",
            "Metric samples scored by detector actors",
            m.samples.clone(),
        );
        metrics.register(
            "seawatch_detector_bytes",
            "Bytes of detector state held by the ship's detector actors",
            m.bytes.clone(),
        );
        metrics.register(
            "seawatch_alerts",
            "Alerts raised (firing and cleared) by source",
            m.alerts.clone(),
        );
        m
    }

    /// Exports `ship`'s per-ship families at 0 (before its first sample).
    pub fn for_ship(&self, ship: &str) {
        let label = ShipLabel {
            ship: ship.to_string(),
        };
        let _ = self.samples.get_or_create(&label);
        let _ = self.bytes.get_or_create(&label);
    }

    pub(crate) fn alert(&self, ship: &str, source: AlertSource) {
        let source = match source {
            AlertSource::Device => "device",
            AlertSource::Link => "link",
            AlertSource::Detector => "detector",
            AlertSource::Forecast => "forecast",
            AlertSource::Peer => "peer",
            AlertSource::Prediction => "prediction",
        };
        self.alerts
            .get_or_create(&AlertLabels {
                ship: ship.to_string(),
                source: source.to_string(),
            })
            .inc();
    }
}

/// Alerts firing for one device, kept across detector restarts.
pub type FiringSet = Arc<Mutex<HashSet<(AlertClass, String)>>>;

/// Start arguments of a detector actor.
#[derive(Clone, Debug)]
pub struct DetectorArgs {
    /// Ship id.
    pub ship: ShipId,
    /// Device id (the alerts' subject).
    pub device: String,
    /// Device kind (groups peers).
    pub kind: String,
    /// Configuration.
    pub config: Arc<DetectorConfig>,
    /// Where alerts go.
    pub sink: AlertSink,
    /// The ship's peer actor, if any.
    pub peer: Option<Addr<PeerMsg>>,
    /// Metrics, if registered.
    pub metrics: Option<DetectorMetrics>,
    /// Alerts firing, shared by every incarnation of this detector.
    pub firing: FiringSet,
    /// The ship's live settings: when given, a starting detector runs these instead of
    /// `config`.
    pub settings: Option<SettingsCell>,
}

impl DetectorArgs {
    /// Arguments with the default configuration, no peer actor and no metrics.
    pub fn new(ship: impl Into<ShipId>, device: &str, kind: &str, sink: AlertSink) -> Self {
        DetectorArgs {
            ship: ship.into(),
            device: device.to_string(),
            kind: kind.to_string(),
            config: Arc::new(DetectorConfig::default()),
            sink,
            peer: None,
            metrics: None,
            firing: FiringSet::default(),
            settings: None,
        }
    }
}

/// How a series is treated.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    /// Scored as is.
    Gauge,
    /// Cumulative counter: scored as a per-second rate.
    Counter,
    /// State or constant: remembered, not scored.
    Skip,
}

fn role_of(key: &str) -> Role {
    let name = key.split(' ').next().unwrap_or(key);
    const SKIP: [&str; 6] = [
        "ifOperStatus",
        "ifAdminStatus",
        "probe_success",
        "node_filesystem_size_bytes",
        "node_memory_MemTotal_bytes",
        "up",
    ];
    if SKIP.contains(&name) || name.ends_with("_info") {
        Role::Skip
    } else if name.ends_with("Octets")
        || name.ends_with("Errors")
        || name.ends_with("Discards")
        || name.ends_with("Pkts")
        || name.ends_with("_total")
    {
        Role::Counter
    } else {
        Role::Gauge
    }
}

/// The `q` quantile of non-negative `scores` (`q` in `[0.5, 1]`; the value a selection
/// of the `⌊(n - 1) q⌋`-th smallest gives), as the smallest of the `n - ⌊(n - 1) q⌋`
/// largest, kept in the min-heap `top` (reused; it holds at most that many).
fn upper_quantile(scores: &VecDeque<f32>, q: f64, top: &mut BinaryHeap<Reverse<u32>>) -> f32 {
    let n = scores.len();
    if n == 0 {
        return f32::INFINITY;
    }
    let m = n - ((n - 1) as f64 * q) as usize;
    top.clear();
    for &v in scores {
        // Non-negative floats order like their bits.
        let b = v.max(0.0).to_bits();
        if top.len() < m {
            top.push(Reverse(b));
        } else if top.peek().is_some_and(|t| b > t.0) {
            top.pop();
            top.push(Reverse(b));
        }
    }
    top.peek().map_or(f32::INFINITY, |t| f32::from_bits(t.0))
}

const FREE_DISK: &str = "node_filesystem_avail_bytes";
const DEVICE_STATE: &str = "device_state";

/// The k-of-n alert gate with clear hysteresis.
#[derive(Debug, Clone, Default)]
struct Gate {
    bits: u32,
    firing: bool,
    below: u32,
}

impl Gate {
    fn step(
        &mut self,
        above: bool,
        strong: bool,
        (k, n): (u32, u32),
        clear_after: u32,
    ) -> Option<AlertState> {
        let n = n.clamp(1, 32);
        let mask = if n == 32 { u32::MAX } else { (1 << n) - 1 };
        self.bits = ((self.bits << 1) | above as u32) & mask;
        if !self.firing {
            if self.bits.count_ones() >= k.max(1) || (above && strong) {
                self.firing = true;
                self.below = 0;
                return Some(AlertState::Firing);
            }
            return None;
        }
        if above {
            self.below = 0;
            return None;
        }
        self.below += 1;
        if self.below >= clear_after.max(1) {
            self.firing = false;
            self.bits = 0;
            return Some(AlertState::Cleared);
        }
        None
    }
}

#[derive(Debug, Clone)]
struct SeriesState {
    key: Arc<str>,
    role: Role,
    ensemble: Option<Ensemble>,
    adwin: Adwin,
    gate: Gate,
    forecast: Option<(CapacityForecast, bool)>,
    /// Last raw value and its time (counters need it for rates).
    last: Option<(i64, f64)>,
    /// Last scored value (rate for counters).
    current: Option<f64>,
    win_sum: f64,
    win_n: u32,
}

/// The detector's state.
pub struct DetectorState {
    args: DetectorArgs,
    /// The ensemble configuration, shared by every series' ensemble.
    ensemble_cfg: Arc<EnsembleConfig>,
    index: HashMap<Arc<str>, usize>,
    series: Vec<SeriesState>,
    forest: Option<IsolationForest>,
    features: Vec<usize>,
    forest_gate: Gate,
    forest_hist: VecDeque<f32>,
    /// A min-heap of the largest recent forest scores (as f32 bits: the scores are
    /// positive, so their bits order like them).
    forest_scratch: BinaryHeap<Reverse<u32>>,
    row_ts: Option<i64>,
    row: Vec<f64>,
    window: Option<i64>,
    samples: u64,
    drifts: u64,
    recalibrations: u64,
    rows: u64,
    fingerprint: String,
    reinits: u64,
    /// Bytes this state last added to `seawatch_detector_bytes` (taken back on drop).
    reported_bytes: i64,
}

impl Drop for DetectorState {
    fn drop(&mut self) {
        if let Some(m) = &self.args.metrics {
            m.bytes
                .get_or_create(&ShipLabel {
                    ship: self.args.ship.to_string(),
                })
                .dec_by(self.reported_bytes);
        }
    }
}

impl DetectorState {
    /// A fresh state (every baseline empty); alerts in `args.firing` stay firing until
    /// the rebuilt baselines clear them.
    pub fn new(mut args: DetectorArgs) -> Self {
        if let Some(cell) = &args.settings {
            args.config = cell.get();
        }
        let mut st = DetectorState {
            ensemble_cfg: Arc::new(args.config.ensemble.clone()),
            fingerprint: args.config.fingerprint(),
            reinits: 0,
            index: HashMap::new(),
            series: Vec::new(),
            forest: None,
            features: Vec::new(),
            forest_gate: Gate::default(),
            forest_hist: VecDeque::new(),
            forest_scratch: BinaryHeap::new(),
            row_ts: None,
            row: Vec::new(),
            window: None,
            samples: 0,
            drifts: 0,
            recalibrations: 0,
            rows: 0,
            reported_bytes: 0,
            args,
        };
        let firing: Vec<(AlertClass, String)> = st.args.firing.lock().iter().cloned().collect();
        for (class, key) in firing {
            if key == DEVICE_STATE {
                st.forest_gate.firing = true;
                continue;
            }
            if let Some(i) = st.slot(&Arc::from(key.as_str())) {
                match class {
                    AlertClass::Capacity => {
                        if let Some(f) = st.series[i].forecast.as_mut() {
                            f.1 = true;
                        }
                    }
                    _ => st.series[i].gate.firing = true,
                }
            }
        }
        st
    }

    fn slot(&mut self, key: &Arc<str>) -> Option<usize> {
        if let Some(&i) = self.index.get(key) {
            return Some(i);
        }
        if self.series.len() >= self.args.config.max_series {
            return None;
        }
        let cfg = &self.args.config;
        let role = role_of(key);
        let i = self.series.len();
        self.series.push(SeriesState {
            key: key.clone(),
            role,
            ensemble: (role != Role::Skip).then(|| Ensemble::new(self.ensemble_cfg.clone())),
            adwin: Adwin::new(cfg.adwin_delta, cfg.adwin_window),
            gate: Gate::default(),
            forecast: key
                .starts_with(FREE_DISK)
                .then(|| (CapacityForecast::new(cfg.forecast.clone()), false)),
            last: None,
            current: None,
            win_sum: 0.0,
            win_n: 0,
        });
        self.index.insert(key.clone(), i);
        Some(i)
    }

    /// Scores a batch of samples, raising alerts to the sink.
    pub fn observe(&mut self, samples: &[Sample]) {
        for s in samples {
            self.sample(s);
        }
        if let Some(m) = &self.args.metrics {
            let label = ShipLabel {
                ship: self.args.ship.to_string(),
            };
            m.samples.get_or_create(&label).inc_by(samples.len() as u64);
            let now = self.memory_bytes() as i64;
            if now != self.reported_bytes {
                m.bytes
                    .get_or_create(&label)
                    .inc_by(now - self.reported_bytes);
                self.reported_bytes = now;
            }
        }
    }

    /// Bytes of detector state held: every series' ensemble, ADWIN, gate and forecast
    /// (struct and heap), the index, and the device-state forest with its history.
    pub fn memory_bytes(&self) -> usize {
        let series: usize = self
            .series
            .iter()
            .map(|s| {
                std::mem::size_of::<SeriesState>()
                    + s.ensemble.as_ref().map_or(0, Ensemble::memory_bytes)
                    + s.adwin.heap_bytes()
            })
            .sum();
        let index = self.index.capacity() * (std::mem::size_of::<(Arc<str>, usize)>() + 1)
            + self.series.iter().map(|s| s.key.len() + 16).sum::<usize>();
        let forest = self.forest.as_ref().map_or(0, |f| {
            std::mem::size_of::<IsolationForest>() + f.heap_bytes()
        });
        std::mem::size_of::<Self>()
            + Ensemble::config_bytes(&self.ensemble_cfg)
            + series
            + (self.series.capacity() - self.series.len()) * std::mem::size_of::<SeriesState>()
            + index
            + forest
            + (self.forest_hist.capacity() + self.forest_scratch.capacity())
                * std::mem::size_of::<f32>()
            + self.row.capacity() * std::mem::size_of::<f64>()
            + self.features.capacity() * std::mem::size_of::<usize>()
    }

    fn sample(&mut self, s: &Sample) {
        if !s.value.is_finite() {
            return;
        }
        // A new scrape time closes the previous device-state row.
        if self.row_ts.is_some_and(|t| s.ts_ms > t) {
            self.close_row(s.ts_ms);
        }
        if self.row_ts.is_none_or(|t| s.ts_ms > t) {
            self.row_ts = Some(s.ts_ms);
        }
        self.summarise(s.ts_ms);
        let Some(i) = self.slot(&s.series) else {
            return;
        };
        self.samples += 1;
        let cfg = self.args.config.clone();
        let t = s.ts_ms as f64 / 1000.0;
        let st = &mut self.series[i];
        let x = match st.role {
            Role::Skip => {
                st.last = Some((s.ts_ms, s.value));
                return;
            }
            Role::Gauge => Some(s.value),
            Role::Counter => match st.last {
                // A repeated or out-of-order time: ignored.
                Some((t0, _)) if s.ts_ms <= t0 => None,
                Some((t0, v0)) => {
                    st.last = Some((s.ts_ms, s.value));
                    // A counter that fell was reset: a new base, no rate.
                    (s.value >= v0).then(|| (s.value - v0) / ((s.ts_ms - t0) as f64 / 1000.0))
                }
                None => {
                    st.last = Some((s.ts_ms, s.value));
                    None
                }
            },
        };
        if st.role == Role::Gauge {
            st.last = Some((s.ts_ms, s.value));
        }
        let Some(x) = x else {
            return;
        };
        st.current = Some(x);
        st.win_sum += x;
        st.win_n += 1;

        let mut raised: Vec<Alert> = Vec::new();
        if let Some((fc, firing)) = st.forecast.as_mut() {
            let outlook = fc.update(t, x);
            match (outlook, *firing) {
                (Outlook::RunsOutIn(tte), false) => {
                    *firing = true;
                    raised.push(capacity_alert(
                        &self.args,
                        &st.key,
                        s.ts_ms,
                        tte,
                        AlertState::Firing,
                    ));
                }
                (Outlook::Fine, true) => {
                    *firing = false;
                    raised.push(capacity_alert(
                        &self.args,
                        &st.key,
                        s.ts_ms,
                        f64::INFINITY,
                        AlertState::Cleared,
                    ));
                }
                _ => {}
            }
        }

        let Some(ens) = st.ensemble.as_mut() else {
            return;
        };
        let scored = ens.update(t, x);
        let before = st.adwin.mean().zip(st.adwin.std());
        let adwin_drift = st.adwin.update(x);
        // The gate reads the score before the ensemble's one-report-per-event shaping:
        // its own k-of-n and clear hysteresis does that job on board.
        let score = scored.raw.unwrap_or(0.0);
        if let Some(state) = st.gate.step(
            scored
                .raw
                .is_some_and(|r| r >= cfg.ensemble.alert_threshold),
            score >= cfg.instant,
            cfg.sustain,
            cfg.clear_after,
        ) {
            raised.push(Alert {
                ship: self.args.ship.to_string(),
                exhausts_at_ms: None,
                subject: self.args.device.clone(),
                source: AlertSource::Detector,
                class: AlertClass::Anomaly,
                severity: AlertSeverity::Warning,
                state,
                ts_ms: s.ts_ms,
                series: Some(st.key.to_string()),
                score,
                detail: match state {
                    AlertState::Firing => {
                        format!("{} anomalous: value {x}, score {score:.2}", st.key)
                    }
                    AlertState::Cleared => format!("{} back to normal", st.key),
                },
            });
        }
        let shift = before
            .zip(st.adwin.mean())
            .filter(|((m0, sd0), m1)| adwin_drift && (m1 - m0).abs() > cfg.drift_sigma * sd0)
            .map(|((m0, _), m1)| (m0, m1));
        if let (Some((m0, m1)), false) = (shift, st.gate.firing) {
            st.gate.firing = true;
            st.gate.below = 0;
            raised.push(Alert {
                ship: self.args.ship.to_string(),
                exhausts_at_ms: None,
                subject: self.args.device.clone(),
                source: AlertSource::Detector,
                class: AlertClass::Anomaly,
                severity: AlertSeverity::Warning,
                state: AlertState::Firing,
                ts_ms: s.ts_ms,
                series: Some(st.key.to_string()),
                score: cfg.ensemble.alert_threshold.max(score),
                detail: format!("{} drifted: mean {m0:.3} -> {m1:.3}", st.key),
            });
        }
        if scored.drift || adwin_drift {
            self.drifts += 1;
            if st.gate.firing {
                // The series moved to a new regime while alerting: the new regime is the
                // new normal. Recalibrate (fresh baselines, warm-up) instead of alerting
                // forever; the alert clears after `clear_after` quiet samples.
                st.ensemble = Some(Ensemble::new(self.ensemble_cfg.clone()));
                st.adwin.reset();
                self.recalibrations += 1;
            }
        }
        for a in raised {
            self.raise(a);
        }
    }

    fn close_row(&mut self, next_ts: i64) {
        let cfg = self.args.config.clone();
        if cfg.iforest_features < 2 {
            return;
        }
        if self.forest.is_none() {
            // Freeze the row's features: the first scored series in key order.
            let mut idx: Vec<usize> = (0..self.series.len())
                .filter(|&i| self.series[i].role != Role::Skip && self.series[i].current.is_some())
                .collect();
            idx.sort_by(|&a, &b| self.series[a].key.cmp(&self.series[b].key));
            // The forest takes at most 255 features (byte indices in its nodes).
            idx.truncate(cfg.iforest_features.min(MAX_DIM));
            if idx.len() < 2 {
                return;
            }
            self.forest = Some(IsolationForest::new(cfg.iforest.clone(), idx.len()));
            self.features = idx;
        }
        self.row.clear();
        for &i in &self.features {
            match self.series[i].current {
                Some(v) => self.row.push(v),
                None => return,
            }
        }
        let Some(forest) = self.forest.as_mut() else {
            return;
        };
        let Some(score) = forest.update(&self.row) else {
            return;
        };
        self.rows += 1;
        // Scores are kept in f32 (they are in (0, 1]); the quantile is the
        // `len - k`-th largest, found with a heap of that many (11 at the defaults)
        // instead of a sorted copy of the history.
        let score32 = score as f32;
        let above = self.forest_hist.len() >= 200 && {
            let q = upper_quantile(
                &self.forest_hist,
                cfg.iforest_quantile.clamp(0.5, 1.0),
                &mut self.forest_scratch,
            );
            score32 > q
        };
        let cap = cfg.iforest_history.max(200);
        if self.forest_hist.len() >= cap {
            self.forest_hist.pop_front();
        }
        if self.forest_hist.capacity() < cap {
            self.forest_hist.reserve_exact(cap - self.forest_hist.len());
        }
        self.forest_hist.push_back(score32);
        if let Some(state) =
            self.forest_gate
                .step(above, false, cfg.iforest_sustain, cfg.clear_after)
        {
            let ts = self.row_ts.unwrap_or(next_ts);
            self.raise(Alert {
                ship: self.args.ship.to_string(),
                exhausts_at_ms: None,
                subject: self.args.device.clone(),
                source: AlertSource::Detector,
                class: AlertClass::Anomaly,
                severity: AlertSeverity::Warning,
                state,
                ts_ms: ts,
                series: Some(DEVICE_STATE.to_string()),
                score,
                detail: match state {
                    AlertState::Firing => {
                        format!("device state unlike its recent history (isolation forest score {score:.2})")
                    }
                    AlertState::Cleared => "device state back to usual".to_string(),
                },
            });
        }
    }

    /// Sends the per-series means of the closing summary window to the peer actor.
    fn summarise(&mut self, ts_ms: i64) {
        let period = self.args.config.summary_ms.max(1);
        let w = ts_ms.div_euclid(period);
        match self.window {
            None => self.window = Some(w),
            Some(cur) if w > cur => {
                self.window = Some(w);
                let mut values = Vec::new();
                for s in &mut self.series {
                    if s.win_n > 0 {
                        values.push((s.key.clone(), s.win_sum / s.win_n as f64));
                    }
                    s.win_sum = 0.0;
                    s.win_n = 0;
                }
                if let (Some(peer), false) = (&self.args.peer, values.is_empty()) {
                    let _ = peer.send(PeerMsg::Summary(PeerSummary {
                        device: self.args.device.clone(),
                        kind: self.args.kind.clone(),
                        ts_ms: cur * period,
                        values,
                    }));
                }
            }
            Some(_) => {}
        }
    }

    fn raise(&mut self, a: Alert) {
        let key = (a.class, a.series.clone().unwrap_or_default());
        {
            let mut firing = self.args.firing.lock();
            match a.state {
                AlertState::Firing => firing.insert(key),
                AlertState::Cleared => firing.remove(&key),
            };
        }
        if let Some(m) = &self.args.metrics {
            m.alert(self.args.ship.as_str(), a.source);
        }
        self.args.sink.raise(a);
    }

    /// The observable state.
    pub fn snapshot(&self) -> DetectorSnapshot {
        let mut firing: Vec<(AlertClass, String)> =
            self.args.firing.lock().iter().cloned().collect();
        firing.sort_by(|a, b| (format!("{:?}", a.0), &a.1).cmp(&(format!("{:?}", b.0), &b.1)));
        DetectorSnapshot {
            series: self.series.len(),
            samples: self.samples,
            firing,
            drifts: self.drifts,
            recalibrations: self.recalibrations,
            rows: self.rows,
            settings: self.fingerprint.clone(),
            reinits: self.reinits,
        }
    }

    /// Runs `config` from the next sample on, keeping what it allows:
    ///
    /// * the alert gate's settings (`alert_threshold`, `instant`, `sustain`,
    ///   `clear_after`, `drift_sigma`, and the forest's quantile and sustain) are read at
    ///   every sample: every learned baseline, gate and firing alert is kept;
    /// * a change of the ensemble's structure (`warmup`, `ewma_alpha`, `mad_window`,
    ///   `history`, `short`, `season`, or any other ensemble knob) re-initialises each
    ///   series' ensemble explicitly: fresh baselines and a warm-up, as after a restart
    ///   (decision 0007), its gate and firing alerts kept so a firing alert still clears;
    /// * a change of ADWIN's, the forest's or the forecast's structure starts those
    ///   afresh the same way.
    ///
    /// Returns whether the series' ensembles were re-initialised.
    pub fn apply_config(&mut self, config: Arc<DetectorConfig>) -> bool {
        let old = self.args.config.clone();
        let mut ens_old = old.ensemble.clone();
        ens_old.alert_threshold = config.ensemble.alert_threshold;
        let reinit = ens_old != config.ensemble;
        let adwin =
            (old.adwin_delta, old.adwin_window) != (config.adwin_delta, config.adwin_window);
        let forest =
            old.iforest != config.iforest || old.iforest_features != config.iforest_features;
        let forecast = old.forecast != config.forecast;
        self.ensemble_cfg = Arc::new(config.ensemble.clone());
        for s in &mut self.series {
            if let Some(e) = s.ensemble.as_mut() {
                if reinit || !e.share_config(self.ensemble_cfg.clone()) {
                    *e = Ensemble::new(self.ensemble_cfg.clone());
                }
            }
            if adwin {
                s.adwin = Adwin::new(config.adwin_delta, config.adwin_window);
            }
            if let (true, Some((fc, _))) = (forecast, s.forecast.as_mut()) {
                *fc = CapacityForecast::new(config.forecast.clone());
            }
        }
        if forest {
            self.forest = None;
            self.features.clear();
            self.forest_hist.clear();
        }
        if reinit {
            self.reinits += 1;
        }
        self.fingerprint = config.fingerprint();
        self.args.config = config;
        reinit
    }
}

fn capacity_alert(
    args: &DetectorArgs,
    key: &str,
    ts_ms: i64,
    tte: f64,
    state: AlertState,
) -> Alert {
    let hours = tte / 3600.0;
    Alert {
        ship: args.ship.to_string(),
        exhausts_at_ms: (state == AlertState::Firing).then(|| ts_ms + (tte * 1000.0) as i64),
        subject: args.device.clone(),
        source: AlertSource::Forecast,
        class: AlertClass::Capacity,
        severity: if tte < 3600.0 {
            AlertSeverity::Critical
        } else {
            AlertSeverity::Warning
        },
        state,
        ts_ms,
        series: Some(key.to_string()),
        score: if state == AlertState::Firing {
            (1.0 - hours / 24.0).clamp(0.0, 1.0)
        } else {
            0.0
        },
        detail: match state {
            AlertState::Firing => format!("{key}: forecast to run out in {hours:.1} h"),
            AlertState::Cleared => format!("{key}: no longer forecast to run out"),
        },
    }
}

/// The detector actor.
#[derive(Debug, Clone, Copy, Default)]
pub struct DetectorActor;

impl Actor for DetectorActor {
    type Msg = DetectorMsg;
    type State = DetectorState;
    type Arguments = DetectorArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<DetectorMsg>,
        args: DetectorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(DetectorState::new(args))
    }

    async fn handle(
        &self,
        _myself: ActorRef<DetectorMsg>,
        msg: DetectorMsg,
        state: &mut DetectorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            DetectorMsg::Samples(samples) => state.observe(&samples),
            DetectorMsg::Snapshot(reply) => {
                let _ = reply.send(state.snapshot());
            }
            DetectorMsg::Settings(config) => {
                let reinit = state.apply_config(config);
                tracing::info!(ship = %state.args.ship, device = %state.args.device, settings = %state.fingerprint, reinit, "detector: new settings");
            }
            DetectorMsg::Crash => panic!("detector {}: injected crash", state.args.device),
        }
        Ok(())
    }
}

/// A detector actor's restart-stable address.
pub type DetectorAddr = Addr<DetectorMsg>;

/// The child spec of a device's detector actor (child id: the device id, kind
/// `detector`); add it to the ship's `detectors` supervisor.
pub fn detector_child(args: DetectorArgs) -> (ChildSpec, DetectorAddr) {
    let id = args.device.clone();
    ChildSpec::actor(&id, "detector", move || (DetectorActor, args.clone()))
}

/// What a ship needs to give each device a detector actor: the `detectors`
/// supervisor and the arguments every detector shares.
#[derive(Clone, Debug)]
pub struct DetectorWiring {
    /// The ship's `detectors` dynamic supervisor.
    pub supervisor: Addr<SupervisorMsg>,
    /// Ship id.
    pub ship: ShipId,
    /// Configuration shared by every detector.
    pub config: Arc<DetectorConfig>,
    /// Where alerts go.
    pub sink: AlertSink,
    /// The ship's peer actor.
    pub peer: Option<Addr<PeerMsg>>,
    /// Metrics.
    pub metrics: Option<DetectorMetrics>,
}

impl DetectorWiring {
    /// The start arguments of `device`'s detector.
    pub fn args(&self, device: &str, kind: &str) -> DetectorArgs {
        DetectorArgs {
            ship: self.ship.clone(),
            device: device.to_string(),
            kind: kind.to_string(),
            config: self.config.clone(),
            sink: self.sink.clone(),
            peer: self.peer.clone(),
            metrics: self.metrics.clone(),
            firing: FiringSet::default(),
            settings: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use seawatch_model::ShipId;
    use seawatch_runtime::supervision::{
        start_root, Backoff, Strategy, SupervisorMsg, SupervisorSpec,
    };
    use seawatch_runtime::{Clock, Runtime};

    use super::super::synth::{series, Rng};
    use super::*;

    const T0: i64 = 1_400_000_000_000;

    fn state() -> (DetectorState, tokio::sync::mpsc::UnboundedReceiver<Alert>) {
        let (sink, rx) = AlertSink::channel();
        (
            DetectorState::new(DetectorArgs::new("aurora", "sw-1", "switch", sink)),
            rx,
        )
    }

    fn drain(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Alert>) -> Vec<Alert> {
        let mut v = Vec::new();
        while let Ok(a) = rx.try_recv() {
            v.push(a);
        }
        v
    }

    /// Index of the 5-minute sample an alert refers to.
    fn at(a: &Alert) -> i64 {
        (a.ts_ms - T0) / 300_000
    }

    fn sample(i: usize, series: &str, value: f64) -> Sample {
        Sample {
            ts_ms: T0 + 300_000 * i as i64,
            series: Arc::from(series),
            value,
        }
    }

    /// One gauge series through the detector state, one sample per batch.
    fn run_gauge(st: &mut DetectorState, xs: &[(f64, f64)]) {
        for (i, &(_, x)) in xs.iter().enumerate() {
            st.observe(&[sample(i, "device_cpu_percent", x)]);
        }
    }

    fn with_anomaly(mutate: impl Fn(usize, f64) -> f64, seed: u64) -> Vec<(f64, f64)> {
        series(3400, 20.0, 1.0, 5.0, seed)
            .into_iter()
            .enumerate()
            .map(|(i, (t, x))| (t, mutate(i, x)))
            .collect()
    }

    /// Fires within 100 samples of the anomaly at 3000, nothing before, and clears.
    fn fires_then_clears(name: &str, xs: &[(f64, f64)]) {
        let (mut st, mut rx) = state();
        run_gauge(&mut st, xs);
        let alerts = drain(&mut rx);
        let firing: Vec<i64> = alerts
            .iter()
            .filter(|a| a.state == AlertState::Firing)
            .map(at)
            .collect();
        assert!(
            firing.first().is_some_and(|&i| (3000..3100).contains(&i)),
            "{name}: firing at {firing:?}"
        );
        assert!(firing.len() <= 3, "{name}: alert storm {firing:?}");
        let last = alerts.last().expect("alerts");
        assert_eq!(last.state, AlertState::Cleared, "{name}: never cleared");
        assert!(alerts.iter().all(|a| a.class == AlertClass::Anomaly
            && a.source == AlertSource::Detector
            && a.subject == "sw-1"
            && (0.0..=1.0).contains(&a.score)));
        assert!(st.snapshot().firing.is_empty());
    }

    #[test]
    fn detector_bytes_gauge_follows_the_state_and_returns_to_zero_on_drop() {
        let registry = seawatch_runtime::Metrics::new();
        let metrics = DetectorMetrics::register(&registry);
        metrics.for_ship("aurora");
        let label = ShipLabel {
            ship: "aurora".into(),
        };
        assert_eq!(metrics.bytes.get_or_create(&label).get(), 0);
        assert!(registry
            .encode()
            .contains("seawatch_detector_bytes{ship=\"aurora\"} 0"));
        let (sink, _rx) = AlertSink::channel();
        let mut args = DetectorArgs::new("aurora", "sw-1", "switch", sink);
        args.metrics = Some(metrics.clone());
        let mut a = DetectorState::new(args.clone());
        let mut b = DetectorState::new(DetectorArgs {
            device: "sw-2".into(),
            ..args
        });
        for i in 0..400 {
            a.observe(&[sample(i, "device_cpu_percent", (i % 7) as f64)]);
            b.observe(&[
                sample(i, "device_cpu_percent", (i % 5) as f64),
                sample(i, "ifInErrors 1", i as f64),
            ]);
        }
        let (ba, bb) = (a.memory_bytes() as i64, b.memory_bytes() as i64);
        assert!(bb > ba && ba > 0, "{ba} {bb}");
        assert_eq!(metrics.bytes.get_or_create(&label).get(), ba + bb);
        drop(b);
        assert_eq!(metrics.bytes.get_or_create(&label).get(), ba);
        drop(a);
        assert_eq!(metrics.bytes.get_or_create(&label).get(), 0);
    }

    #[test]
    fn spike_fires_then_clears() {
        fires_then_clears(
            "spike",
            &with_anomaly(|i, x| if i == 3000 { x + 15.0 } else { x }, 10),
        );
    }

    #[test]
    fn level_shift_fires_then_recalibrates_and_clears() {
        let xs = with_anomaly(|i, x| if i >= 3000 { x + 8.0 } else { x }, 11);
        fires_then_clears("level shift", &xs);
        // The shifted level became the new normal: no further alerts long after it.
        let (mut st, mut rx) = state();
        run_gauge(&mut st, &xs);
        let late: Vec<i64> = drain(&mut rx)
            .iter()
            .filter(|a| a.state == AlertState::Firing && at(a) > 3300)
            .map(at)
            .collect();
        assert!(late.is_empty(), "alerting on the new level: {late:?}");
    }

    #[test]
    fn variance_change_fires_then_clears() {
        fires_then_clears(
            "variance",
            &with_anomaly(
                |i, x| {
                    if (3000..3200).contains(&i) {
                        20.0 + (x - 20.0) * 6.0
                    } else {
                        x
                    }
                },
                12,
            ),
        );
    }

    #[test]
    fn clean_device_raises_nothing_after_warmup() {
        for seed in [1, 2] {
            let (mut st, mut rx) = state();
            let cpu = series(2500, 30.0, 2.0, 10.0, seed);
            let temp = series(2500, 45.0, 0.5, 0.0, seed + 100);
            let mut octets = 1e12;
            let mut r = Rng::new(seed);
            for i in 0..2500 {
                octets += 300.0 * (1e6 + 1e5 * r.normal());
                st.observe(&[
                    sample(i, "device_cpu_percent", cpu[i].1),
                    sample(i, "device_temperature_celsius", temp[i].1),
                    sample(i, "ifHCInOctets ifName=Gi1/0/1", octets),
                    sample(i, "ifOperStatus ifName=Gi1/0/1", 1.0),
                    sample(i, "probe_success", 1.0),
                ]);
            }
            let alerts = drain(&mut rx);
            assert!(
                alerts.len() <= 2,
                "seed {seed}: {:?}",
                alerts
                    .iter()
                    .map(|a| (at(a), a.series.clone(), a.state))
                    .collect::<Vec<_>>()
            );
            let snap = st.snapshot();
            assert_eq!(snap.series, 5);
            assert_eq!(snap.samples, 5 * 2500);
            assert!(snap.rows > 2000, "device-state rows {}", snap.rows);
        }
    }

    #[test]
    fn counter_reset_and_bad_input_never_alert_or_panic() {
        let (mut st, mut rx) = state();
        let mut c = 5e9;
        for i in 0..2000 {
            c = if i == 1500 { 0.0 } else { c + 1000.0 * 300.0 };
            st.observe(&[
                sample(i, "ifInErrors ifName=xe-0/0/1", c),
                sample(i, "device_cpu_percent", f64::NAN),
            ]);
            // Repeated time and out-of-order samples are ignored.
            st.observe(&[sample(i, "ifInErrors ifName=xe-0/0/1", c + 1.0)]);
            if i > 0 {
                st.observe(&[sample(i - 1, "ifInErrors ifName=xe-0/0/1", 1.0)]);
            }
        }
        assert!(drain(&mut rx).is_empty());
        // Series beyond the bound are ignored, not stored.
        for k in 0..400 {
            st.observe(&[sample(3000, &format!("m{k}"), 1.0)]);
        }
        assert_eq!(st.snapshot().series, DetectorConfig::default().max_series);
    }

    #[test]
    fn filling_disk_warns_hours_ahead_then_clears_after_cleanup() {
        let (mut st, mut rx) = state();
        let size = 200e9;
        let mut r = Rng::new(6);
        let key = "node_filesystem_avail_bytes mountpoint=/";
        // One sample a minute: a day flat at 40% free, a 6 h runaway fill, a cleanup.
        for i in 0..(36 * 60) {
            let free = if i < 24 * 60 {
                0.4 * size + 1e8 * r.normal()
            } else if i < 30 * 60 {
                0.4 * size * (1.0 - (i - 24 * 60) as f64 / 360.0) + 1e7 * r.uniform()
            } else {
                0.35 * size + 1e8 * r.normal()
            };
            st.observe(&[
                Sample {
                    ts_ms: T0 + 60_000 * i,
                    series: Arc::from(key),
                    value: free.max(0.0),
                },
                Sample {
                    ts_ms: T0 + 60_000 * i,
                    series: Arc::from("node_filesystem_size_bytes mountpoint=/"),
                    value: size,
                },
            ]);
        }
        let cap: Vec<(i64, AlertState, String)> = drain(&mut rx)
            .into_iter()
            .filter(|a| a.class == AlertClass::Capacity)
            .map(|a| ((a.ts_ms - T0) / 60_000, a.state, a.detail))
            .collect();
        assert_eq!(cap.len(), 2, "{cap:?}");
        let (fire, _, detail) = &cap[0];
        assert_eq!(cap[0].1, AlertState::Firing);
        assert!(
            (24 * 60..27 * 60).contains(fire),
            "warned at minute {fire}: {detail}"
        );
        assert!(detail.contains("run out in"), "{detail}");
        assert_eq!(cap[1].1, AlertState::Cleared);
        assert!(cap[1].0 >= 30 * 60);
    }

    #[test]
    fn device_state_break_fires_on_the_forest() {
        let (mut st, mut rx) = state();
        let mut r = Rng::new(21);
        for i in 0..3000 {
            let load = r.uniform();
            let (cpu, sessions) = if (2500..2540).contains(&i) {
                // Busy cpu with no sessions: each value seen before, the pair never.
                (75.0 + r.normal(), 1_200.0 + 100.0 * r.normal())
            } else {
                (
                    20.0 + 60.0 * load + r.normal(),
                    1_000.0 + 8_000.0 * load + 100.0 * r.normal(),
                )
            };
            st.observe(&[
                sample(i, "fw_cpu_percent", cpu),
                sample(i, "fw_sessions", sessions),
            ]);
        }
        let forest: Vec<(i64, AlertState)> = drain(&mut rx)
            .iter()
            .filter(|a| a.series.as_deref() == Some(DEVICE_STATE))
            .map(|a| (at(a), a.state))
            .collect();
        assert!(
            forest
                .first()
                .is_some_and(|&(i, s)| s == AlertState::Firing && (2500..2520).contains(&i)),
            "{forest:?}"
        );
        assert_eq!(forest.last().map(|f| f.1), Some(AlertState::Cleared));
    }

    #[test]
    fn same_input_same_alerts() {
        let run = || {
            let (mut st, mut rx) = state();
            run_gauge(
                &mut st,
                &with_anomaly(|i, x| if i >= 3000 { x + 8.0 } else { x }, 13),
            );
            drain(&mut rx)
        };
        let a = run();
        assert!(!a.is_empty());
        assert_eq!(a, run());
    }

    async fn settle(by: Duration) {
        let step = Duration::from_millis(1);
        let mut waited = Duration::ZERO;
        while waited < by {
            for _ in 0..8 {
                tokio::task::yield_now().await;
            }
            tokio::time::sleep(step).await;
            waited += step;
        }
    }

    async fn snapshot(addr: &DetectorAddr) -> DetectorSnapshot {
        addr.call(DetectorMsg::Snapshot, Duration::from_secs(5))
            .await
            .expect("snapshot")
    }

    #[tokio::test(start_paused = true)]
    async fn crash_restarts_fresh_without_alert_storm_and_clears_what_was_firing() {
        let runtime = Runtime::new(Clock::tokio(T0));
        let ship = ShipId::new("aurora");
        let ship2 = ship.clone();
        let (detectors, sup) = ChildSpec::supervisor("detectors", move || {
            SupervisorSpec::new("detectors", &ship2)
                .strategy(Strategy::OneForOne)
                .backoff(Backoff::none())
        });
        let (root, _join) = start_root(
            SupervisorSpec::new("root", &ship).child(detectors),
            runtime.clone(),
        )
        .await
        .expect("root starts");
        let (sink, mut rx) = AlertSink::channel();
        let metrics = DetectorMetrics::register(runtime.metrics());
        let mut args = DetectorArgs::new("aurora", "sw-1", "switch", sink);
        args.metrics = Some(metrics);
        let (spec, addr) = detector_child(args);
        sup.call(|r| SupervisorMsg::AddChild(spec, r), Duration::from_secs(5))
            .await
            .expect("call")
            .expect("added");

        // Normal traffic, then a level shift that fires, in batches of 10.
        let xs = with_anomaly(|i, x| if i >= 2990 { x + 8.0 } else { x }, 14);
        for chunk in (0..3000).collect::<Vec<_>>().chunks(10) {
            let batch = chunk
                .iter()
                .map(|&i| sample(i, "device_cpu_percent", xs[i].1))
                .collect();
            assert!(addr.send(DetectorMsg::Samples(batch)).is_ok(), "running");
        }
        let before = snapshot(&addr).await;
        assert_eq!(before.samples, 3000);
        let fired = drain(&mut rx);
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert_eq!(fired[0].state, AlertState::Firing);

        assert!(addr.send(DetectorMsg::Crash).is_ok(), "running");
        settle(Duration::from_millis(50)).await;
        let stats = runtime.metrics().actors().kind("detector", "aurora");
        assert_eq!(stats.restarts(), 1);
        assert_eq!(stats.panics(), 1);
        let after = snapshot(&addr).await;
        assert_eq!(after.samples, 0, "state reset on restart");
        assert_eq!(after.firing, before.firing, "firing alerts remembered");

        // The same series carries on at its new level: the fresh baselines warm up
        // silently, and the one firing alert is cleared, once.
        for chunk in (3000..3400).collect::<Vec<_>>().chunks(10) {
            let batch = chunk
                .iter()
                .map(|&i| sample(i, "device_cpu_percent", xs[i].1))
                .collect();
            assert!(addr.send(DetectorMsg::Samples(batch)).is_ok(), "running");
        }
        let end = snapshot(&addr).await;
        assert_eq!(end.samples, 400);
        let later = drain(&mut rx);
        assert_eq!(
            later.iter().map(|a| a.state).collect::<Vec<_>>(),
            [AlertState::Cleared],
            "{later:?}"
        );
        assert!(end.firing.is_empty());
        let text = runtime.metrics().encode();
        assert!(
            text.contains("seawatch_detector_samples_total{ship=\"aurora\"} 3400"),
            "{text}"
        );
        assert!(text.contains("seawatch_alerts_total{ship=\"aurora\",source=\"detector\"} 2"));
        root.shutdown().await;
    }

    #[tokio::test(start_paused = true)]
    async fn device_actor_forwards_metric_samples_to_its_detector() {
        use crate::alert::AlertSink;
        use crate::device::{device_child_with, DeviceMsg};
        use seawatch_model::MetricSample;

        let runtime = Runtime::new(Clock::tokio(T0));
        let ship = ShipId::new("aurora");
        let (sink, _rx) = AlertSink::channel();
        let (det, det_addr) = detector_child(DetectorArgs::new("aurora", "sw-1", "switch", sink));
        let (dev, dev_addr) = device_child_with(
            "sw-1",
            "switch",
            None,
            "s",
            AlertSink::none(),
            Some(det_addr.clone()),
        );
        // As in the ship tree: devices and detectors under their own supervisors.
        let (ship2, ship3) = (ship.clone(), ship.clone());
        let (devices, _) = ChildSpec::supervisor("devices", move || {
            SupervisorSpec::new("devices", &ship2).child(dev.clone())
        });
        let (detectors, _) = ChildSpec::supervisor("detectors", move || {
            SupervisorSpec::new("detectors", &ship3).child(det.clone())
        });
        let spec = SupervisorSpec::new("root", &ship)
            .child(detectors)
            .child(devices);
        let (root, _join) = start_root(spec, runtime).await.expect("root starts");
        let items: Vec<Observation> = (0..5)
            .map(|i| {
                Observation::from_metric(MetricSample {
                    device: "sw-1".into(),
                    name: "device_cpu_percent".into(),
                    labels: vec![("device".into(), "sw-1".into())],
                    value: 10.0 + i as f64,
                    ts_ms: T0 + 60_000 * i,
                })
            })
            .collect();
        let sent = dev_addr.send(DeviceMsg::Observe {
            received: std::time::Instant::now(),
            items,
        });
        assert!(sent.is_ok(), "running");
        settle(Duration::from_millis(10)).await;
        let snap = snapshot(&det_addr).await;
        assert_eq!((snap.series, snap.samples), (1, 5));
        root.shutdown().await;
    }

    #[test]
    fn slow_drift_fires_once_then_the_new_level_is_normal() {
        // A ramp of +10 (10 deviations) over 200 samples, then a new level.
        let xs: Vec<(f64, f64)> = series(3000, 20.0, 1.0, 0.0, 14)
            .into_iter()
            .enumerate()
            .map(|(i, (t, x))| (t, x + 0.05 * (i.clamp(1500, 1700) - 1500) as f64))
            .collect();
        let (mut st, mut rx) = state();
        run_gauge(&mut st, &xs);
        let alerts: Vec<(i64, AlertState)> =
            drain(&mut rx).iter().map(|a| (at(a), a.state)).collect();
        let firing: Vec<i64> = alerts
            .iter()
            .filter(|a| a.1 == AlertState::Firing)
            .map(|a| a.0)
            .collect();
        assert!(
            firing.first().is_some_and(|&i| (1500..1800).contains(&i)),
            "{alerts:?}"
        );
        assert!(
            firing.iter().all(|&i| (1500..2800).contains(&i)),
            "alerting forever: {alerts:?}"
        );
        assert!(firing.len() <= 3, "{alerts:?}");
        assert_eq!(alerts.last().map(|a| a.1), Some(AlertState::Cleared));
        assert!(st.snapshot().drifts > 0);
    }

    #[tokio::test(start_paused = true)]
    async fn detectors_feed_the_peer_actor_which_flags_the_odd_device() {
        use super::super::peer::{peer_child, PeerArgs, PeerConfig};

        let runtime = Runtime::new(Clock::tokio(T0));
        let ship = ShipId::new("aurora");
        let (peer_sink, mut peer_rx) = AlertSink::channel();
        let (peer, peer_addr) = peer_child(PeerArgs {
            ship: "aurora".into(),
            config: PeerConfig::default(),
            sink: peer_sink,
            metrics: None,
            firing: Default::default(),
        });
        let (root, _join) = start_root(SupervisorSpec::new("root", &ship).child(peer), runtime)
            .await
            .expect("root starts");
        let mut aps: Vec<DetectorState> = (0..8)
            .map(|d| {
                let mut args =
                    DetectorArgs::new("aurora", &format!("ap-{d}"), "ap", AlertSink::none());
                args.peer = Some(peer_addr.clone());
                DetectorState::new(args)
            })
            .collect();
        let mut r = Rng::new(31);
        // One sample a minute for an hour: ap-3 runs hot, its siblings do not.
        for i in 0..60 {
            for (d, st) in aps.iter_mut().enumerate() {
                let cpu = if d == 3 { 90.0 } else { 30.0 + d as f64 } + r.normal();
                st.observe(&[Sample {
                    ts_ms: T0 + 60_000 * i,
                    series: Arc::from("device_cpu_percent"),
                    value: cpu,
                }]);
            }
        }
        let outliers = peer_addr
            .call(PeerMsg::Outliers, Duration::from_secs(5))
            .await
            .expect("outliers");
        assert_eq!(
            outliers,
            [(
                "ap".to_string(),
                "device_cpu_percent".to_string(),
                "ap-3".to_string()
            )]
        );
        let a = peer_rx.try_recv().expect("an outlier alert");
        assert_eq!(
            (a.subject.as_str(), a.class, a.source, a.state),
            (
                "ap-3",
                AlertClass::Outlier,
                AlertSource::Peer,
                AlertState::Firing
            )
        );
        assert!(peer_rx.try_recv().is_err(), "one alert");
        root.shutdown().await;
    }

    /// The heap quantile of the forest's score history is the value a selection over a
    /// sorted copy gives, at every length and quantile the settings allow.
    #[test]
    fn upper_quantile_matches_selection() {
        let mut r = Rng::new(5);
        let mut hist = VecDeque::new();
        let mut top = BinaryHeap::new();
        for n in 1..400 {
            hist.push_back((r.uniform() * 0.6 + 0.3) as f32);
            if n % 7 == 0 {
                // Ties.
                hist.push_back(hist[0]);
            }
            for q in [0.5, 0.9, 0.99, 1.0] {
                let mut v: Vec<f32> = hist.iter().copied().collect();
                let k = ((v.len() - 1) as f64 * q) as usize;
                let (_, want, _) = v.select_nth_unstable_by(k, f32::total_cmp);
                assert_eq!(upper_quantile(&hist, q, &mut top), *want, "n {n} q {q}");
            }
        }
        assert!(top.len() <= hist.len());
    }
}
