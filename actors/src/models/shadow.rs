//! Shadow runs on a ship: a challenger scored beside the champion on the same live
//! events, never acting.
//!
//! **Delivery.** Shore wraps a challenger in a *shadow bundle* ([`shadow_bundle`]): a
//! `model` bundle named `shadow-<model>` holding `shadow.json` ([`ShadowSpec`]), the
//! challenger's bundle file and, when there is a champion, the champion's. It travels by
//! an ordinary rollout (waves, health check, rollback: decision 0051), and the ship's
//! bundle agent puts it in `DATA/models/shadow-<model>/`: the shadow slot. Nothing that
//! acts reads that folder; the live detector settings and link-risk model are untouched.
//!
//! **Scoring.** The [`ShadowRunner`] actor tails the ship's event log from where it
//! started (live data only) and feeds every shadow run both sides' models:
//!
//! * `detector-settings`: two ensembles per (element, metric) series, one with the
//!   champion's settings and one with the challenger's, over the same samples; counted:
//!   samples both scored, agreement (same alerting decision), alerts (rising edges), and
//!   alerts that coincided with an incident opened on that element within
//!   [`COINCIDE_MS`] either side (hits), incidents opened and those each side alerted on.
//! * `link-risk`: two risk models per link over its `modem_esno_db` and `modem_lock`
//!   samples and the ship's `ship_heading_deg` and `weather_rain_mm_h`; an outage is the
//!   link's `modem_lock` going to 0 (the ground truth, not either model's view). Counted:
//!   alerts (`LinkRisk` fire edges), alerts followed by an outage within [`HORIZON_MS`]
//!   (hits), outages, and outages a side had warned of (firing, or fired within the
//!   horizon before).
//!
//! The champion's side is recomputed in the runner from the champion's settings (or the
//! built-in defaults when there is none), so both sides see exactly the same events.
//!
//! **Reporting.** Every `report_every` the runner publishes each run's cumulative
//! [`ShadowReport`] to shore (`SW_MODEL_SHADOW`, one message per ship and model, the
//! latest replacing the earlier); while the link is down nothing queues: the next report
//! carries the totals. The counters are saved in `DATA/models/shadow-counters.json` (at
//! most every [`SAVE_EVERY_MS`] and at stop) with the log position they cover, and a run
//! of the same spec takes them up again after a restart (decision 0076). Bounded: at most [`MAX_SERIES`] series / links per run (more are
//! counted as dropped), [`MAX_RUNS`] runs, rings of [`MAX_PENDING`] alerts and incidents.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use seawatch_runtime::event_log::{Event, EventKind};
use seawatch_runtime::supervision::{Addr, ChildSpec};
use seawatch_runtime::{Clock, Metrics};
use serde::{Deserialize, Serialize};

use super::store::ModelStore;
use super::{ModelKind, ShadowCounts, ShadowReport};
use crate::detect::{Ensemble, EnsembleConfig};
use crate::incident::model::{IncidentEvent, IncidentEventKind};
use crate::link::risk::{AlertEdge, RiskConfig, RiskModel};
use crate::log_service::EventSource;
use crate::rollout::bundle::{decode, encode, verify, Bundle, BundleKind};

/// An alert and an incident on its element within this much of each other coincide.
pub const COINCIDE_MS: i64 = 10 * 60_000;
/// A link-risk alert followed by an outage within this long was right.
pub const HORIZON_MS: i64 = 15 * 60_000;
/// Most series (detector settings) or links (link risk) one run scores.
pub const MAX_SERIES: usize = 128;
/// Most alerts and incidents / outages a run remembers for matching.
pub const MAX_PENDING: usize = 4096;
/// Most shadow runs at once on a ship.
pub const MAX_RUNS: usize = 8;

/// `shadow.json` in a shadow bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowSpec {
    /// The model.
    pub model: String,
    /// Its kind.
    pub kind: ModelKind,
    /// The challenger's SHA-256 (`challenger.bundle` must hash to it).
    pub challenger: String,
    /// The champion's (`champion.bundle`), if any.
    pub champion: Option<String>,
}

/// The shadow bundle of `model`'s challenger (bytes of its bundle file) beside its
/// champion's: a `model` bundle named `shadow-<model>`.
pub fn shadow_bundle(
    model: &str,
    kind: ModelKind,
    challenger: &[u8],
    champion: Option<&[u8]>,
) -> Result<Vec<u8>, String> {
    let ch = decode(challenger).map_err(|e| e.to_string())?;
    let spec = ShadowSpec {
        model: model.to_owned(),
        kind,
        challenger: ch.sha256.clone(),
        champion: champion.map(crate::rollout::bundle::sha256_hex),
    };
    let mut files = vec![
        (
            "shadow.json".to_owned(),
            serde_json::to_vec_pretty(&spec).map_err(|e| e.to_string())?,
        ),
        ("challenger.bundle".to_owned(), challenger.to_vec()),
    ];
    if let Some(c) = champion {
        files.push(("champion.bundle".to_owned(), c.to_vec()));
    }
    Ok(encode(BundleKind::Model, &format!("shadow-{model}"), files))
}

/// Detector settings, read the same way as the live detectors read them.
pub use crate::detect::settings::DetectorSettings;

/// Link-risk settings, read the same way as the live link actors read them.
pub use crate::link::settings::LinkRiskSettings;

/// A metric event's name and value (`name{labels} value`).
pub fn parse_metric(body: &str) -> Option<(&str, f64)> {
    let end = body.find(['{', ' ']).unwrap_or(body.len());
    let value = body.rsplit(' ').next()?.parse::<f64>().ok()?;
    value.is_finite().then_some((&body[..end], value))
}

#[derive(Serialize, Deserialize)]
struct Pending {
    ts: i64,
    key: String,
    side: usize,
    hit: bool,
}

#[derive(Serialize, Deserialize)]
struct Truth {
    ts: i64,
    keys: Vec<String>,
    caught: [bool; 2],
}

/// Counters and the rings that match alerts with incidents / outages.
#[derive(Default, Serialize, Deserialize)]
struct Tally {
    counts: [ShadowCounts; 2],
    alerts: VecDeque<Pending>,
    truths: VecDeque<Truth>,
    dropped: u64,
}

impl Tally {
    fn sample(&mut self, decisions: [bool; 2]) {
        for c in &mut self.counts {
            c.samples += 1;
            if decisions[0] == decisions[1] {
                c.agree += 1;
            }
        }
    }

    /// An alert of `side` on `key` at `ts`; `window_after`: an earlier truth within this
    /// long before the alert makes it a hit too (incidents: yes; outages: no, an alert
    /// after the outage began predicted nothing).
    fn alert(&mut self, side: usize, key: &str, ts: i64, window_after: i64) {
        self.counts[side].alerts += 1;
        let mut hit = false;
        for t in self.truths.iter_mut() {
            if ts >= t.ts && ts - t.ts <= window_after && t.keys.iter().any(|k| k == key) {
                hit = true;
                if !t.caught[side] {
                    t.caught[side] = true;
                    self.counts[side].caught += 1;
                }
            }
        }
        if hit {
            self.counts[side].hits += 1;
        }
        if self.alerts.len() >= MAX_PENDING {
            self.alerts.pop_front();
        }
        self.alerts.push_back(Pending {
            ts,
            key: key.to_owned(),
            side,
            hit,
        });
    }

    /// A truth (incident opened / outage began) on `keys` at `ts`; alerts within
    /// `before` of it on one of its keys are hits; `firing[side]` counts as caught.
    fn truth(&mut self, keys: Vec<String>, ts: i64, before: i64, firing: [bool; 2]) {
        let mut caught = firing;
        for c in &mut self.counts {
            c.events += 1;
        }
        for a in self.alerts.iter_mut() {
            if a.ts <= ts && ts - a.ts <= before && keys.contains(&a.key) {
                caught[a.side] = true;
                if !a.hit {
                    a.hit = true;
                    self.counts[a.side].hits += 1;
                }
            }
        }
        for (side, c) in caught.iter().enumerate() {
            if *c {
                self.counts[side].caught += 1;
            }
        }
        if self.truths.len() >= MAX_PENDING {
            self.truths.pop_front();
        }
        self.truths.push_back(Truth { ts, keys, caught });
    }
}

struct Series {
    det: [Ensemble; 2],
    alerting: [bool; 2],
}

struct DetectorShadow {
    cfg: [EnsembleConfig; 2],
    metrics: Vec<String>,
    series: HashMap<(String, String), Series>,
    tally: Tally,
}

impl DetectorShadow {
    fn feed(&mut self, ev: &Event) {
        match ev.kind {
            EventKind::Metric => {
                let Some((name, x)) = parse_metric(&ev.body) else {
                    return;
                };
                if !self.metrics.is_empty() && !self.metrics.iter().any(|m| m == name) {
                    return;
                }
                let key = (ev.source.clone(), name.to_owned());
                if !self.series.contains_key(&key) {
                    if self.series.len() >= MAX_SERIES {
                        self.tally.dropped += 1;
                        return;
                    }
                    self.series.insert(
                        key.clone(),
                        Series {
                            det: [
                                Ensemble::new(self.cfg[0].clone()),
                                Ensemble::new(self.cfg[1].clone()),
                            ],
                            alerting: [false; 2],
                        },
                    );
                }
                let Some(s) = self.series.get_mut(&key) else {
                    return;
                };
                let t = ev.ts_ms as f64 / 1000.0;
                let scored = [s.det[0].update(t, x), s.det[1].update(t, x)];
                if scored.iter().any(|r| r.score.is_none()) {
                    return;
                }
                let alert = [scored[0].alert, scored[1].alert];
                let rising = [alert[0] && !s.alerting[0], alert[1] && !s.alerting[1]];
                s.alerting = alert;
                self.tally.sample(alert);
                for (side, r) in rising.iter().enumerate() {
                    if *r {
                        self.tally.alert(side, &ev.source, ev.ts_ms, COINCIDE_MS);
                    }
                }
            }
            EventKind::Incident => {
                let Ok(ie) = serde_json::from_str::<IncidentEvent>(&ev.body) else {
                    return;
                };
                if ie.kind != IncidentEventKind::Opened {
                    return;
                }
                let mut keys = ie.incident.members.clone();
                if !keys.contains(&ie.incident.root_cause) {
                    keys.push(ie.incident.root_cause.clone());
                }
                self.tally
                    .truth(keys, ie.incident.opened_at_ms, COINCIDE_MS, [false; 2]);
            }
            _ => {}
        }
    }
}

struct Link {
    risk: [RiskModel; 2],
    locked: Option<bool>,
}

struct LinkRiskShadow {
    cfg: [RiskConfig; 2],
    kind: String,
    band: Option<String>,
    links: BTreeMap<String, Link>,
    tally: Tally,
}

impl LinkRiskShadow {
    fn edges(&mut self, link: &str, ts: i64, edges: [Option<AlertEdge>; 2]) {
        for (side, e) in edges.iter().enumerate() {
            if *e == Some(AlertEdge::Fire) {
                self.tally.alert(side, link, ts, 0);
            }
        }
    }

    fn feed(&mut self, ev: &Event) {
        if ev.kind != EventKind::Metric {
            return;
        }
        let Some((name, x)) = parse_metric(&ev.body) else {
            return;
        };
        let ts = ev.ts_ms;
        match name {
            "modem_esno_db" | "modem_lock" => {
                if !self.links.contains_key(&ev.source) {
                    if self.links.len() >= MAX_SERIES {
                        self.tally.dropped += 1;
                        return;
                    }
                    let new = |c: RiskConfig| RiskModel::new(&self.kind, self.band.as_deref(), c);
                    let link = Link {
                        risk: [new(self.cfg[0]), new(self.cfg[1])],
                        locked: None,
                    };
                    self.links.insert(ev.source.clone(), link);
                }
                let Some(l) = self.links.get_mut(&ev.source) else {
                    return;
                };
                if name == "modem_esno_db" {
                    let up = l.locked.unwrap_or(true);
                    let edges = [l.risk[0].esno(ts, x, up), l.risk[1].esno(ts, x, up)];
                    let firing = [l.risk[0].firing(), l.risk[1].firing()];
                    self.tally.sample(firing);
                    self.edges(&ev.source.clone(), ts, edges);
                } else {
                    let locked = x >= 0.5;
                    let was = l.locked.replace(locked);
                    for r in &mut l.risk {
                        r.lock(locked);
                    }
                    if was == Some(true) && !locked {
                        let firing = [l.risk[0].firing(), l.risk[1].firing()];
                        self.tally
                            .truth(vec![ev.source.clone()], ts, HORIZON_MS, firing);
                    }
                }
            }
            "ship_heading_deg" | "weather_rain_mm_h" => {
                let mut all = Vec::new();
                for (id, l) in self.links.iter_mut() {
                    let up = l.locked.unwrap_or(true);
                    let e = if name == "ship_heading_deg" {
                        [l.risk[0].heading(ts, x, up), l.risk[1].heading(ts, x, up)]
                    } else {
                        [l.risk[0].rain(ts, x, up), l.risk[1].rain(ts, x, up)]
                    };
                    all.push((id.clone(), e));
                }
                for (id, e) in all {
                    self.edges(&id, ts, e);
                }
            }
            _ => {}
        }
    }
}

enum Scorer {
    Detectors(Box<DetectorShadow>),
    LinkRisk(Box<LinkRiskShadow>),
}

/// One model's shadow run on a ship.
pub struct ShadowRun {
    /// What runs.
    pub spec: ShadowSpec,
    /// Ship time it began (unix ms).
    pub since_ms: i64,
    scorer: Scorer,
}

fn inner_bundle(dir: &Path, file: &str, sha: &str) -> Result<Bundle, String> {
    let bytes = std::fs::read(dir.join(file)).map_err(|e| format!("{file}: {e}"))?;
    verify(&bytes, sha).map_err(|e| format!("{file}: {e}"))
}

impl ShadowRun {
    /// A run from a shadow slot folder (`DATA/models/shadow-<model>/`).
    pub fn load(dir: &Path, now_ms: i64) -> Result<ShadowRun, String> {
        let spec: ShadowSpec = serde_json::from_slice(
            &std::fs::read(dir.join("shadow.json")).map_err(|e| format!("shadow.json: {e}"))?,
        )
        .map_err(|e| format!("shadow.json: {e}"))?;
        let challenger = inner_bundle(dir, "challenger.bundle", &spec.challenger)?;
        let champion = match &spec.champion {
            Some(sha) => Some(inner_bundle(dir, "champion.bundle", sha)?),
            None => None,
        };
        Self::new(spec, &challenger, champion.as_ref(), now_ms)
    }

    /// A run of `challenger` beside `champion` (built-in defaults when `None`).
    pub fn new(
        spec: ShadowSpec,
        challenger: &Bundle,
        champion: Option<&Bundle>,
        now_ms: i64,
    ) -> Result<ShadowRun, String> {
        let scorer = match spec.kind {
            ModelKind::DetectorSettings => {
                let ch = DetectorSettings::from_bundle(challenger)?;
                let cp = champion
                    .map(DetectorSettings::from_bundle)
                    .transpose()?
                    .unwrap_or_default();
                let mut metrics = ch.metrics.clone();
                metrics.extend(cp.metrics.iter().cloned());
                metrics.sort();
                metrics.dedup();
                Scorer::Detectors(Box::new(DetectorShadow {
                    cfg: [cp.config(), ch.config()],
                    metrics,
                    series: HashMap::new(),
                    tally: Tally::default(),
                }))
            }
            ModelKind::LinkRisk => {
                let ch = LinkRiskSettings::from_bundle(challenger)?;
                let cp = champion
                    .map(LinkRiskSettings::from_bundle)
                    .transpose()?
                    .unwrap_or_default();
                Scorer::LinkRisk(Box::new(LinkRiskShadow {
                    cfg: [cp.config(), ch.config()],
                    kind: ch.link_kind.clone().unwrap_or_else(|| "vsat".into()),
                    band: Some(ch.band.clone().unwrap_or_else(|| "Ku".into())),
                    links: BTreeMap::new(),
                    tally: Tally::default(),
                }))
            }
        };
        Ok(ShadowRun {
            spec,
            since_ms: now_ms,
            scorer,
        })
    }

    /// Scores one event.
    pub fn feed(&mut self, ev: &Event) {
        match &mut self.scorer {
            Scorer::Detectors(d) => d.feed(ev),
            Scorer::LinkRisk(l) => l.feed(ev),
        }
    }

    fn tally(&self) -> &Tally {
        match &self.scorer {
            Scorer::Detectors(d) => &d.tally,
            Scorer::LinkRisk(l) => &l.tally,
        }
    }

    fn tally_mut(&mut self) -> &mut Tally {
        match &mut self.scorer {
            Scorer::Detectors(d) => &mut d.tally,
            Scorer::LinkRisk(l) => &mut l.tally,
        }
    }

    /// The run's cumulative report.
    pub fn report(&self, ship: &str, now_ms: i64) -> ShadowReport {
        let t = self.tally();
        ShadowReport {
            ship: ship.to_owned(),
            model: self.spec.model.clone(),
            kind: self.spec.kind,
            challenger: self.spec.challenger.clone(),
            champion: self.spec.champion.clone(),
            since_ms: self.since_ms,
            at_ms: now_ms,
            champion_counts: t.counts[0],
            challenger_counts: t.counts[1],
            dropped_series: t.dropped,
        }
    }
}

/// Opens the shadow reports' transport (called again after a failure).
pub type SinkConnector =
    Arc<dyn Fn() -> BoxFuture<'static, Result<Arc<dyn ModelStore>, String>> + Send + Sync>;

/// `{result}` of `seawatch_shadow_reports_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ShadowLabel {
    /// `sent`, `unsent` (link down), `bad_slot` (a shadow folder, or the saved counters, that
    /// does not load).
    pub result: &'static str,
}

/// Shadow runner metrics.
#[derive(Debug, Clone, Default)]
pub struct ShadowMetrics {
    /// `seawatch_shadow_reports_total{result}`.
    pub reports: Family<ShadowLabel, Counter>,
}

impl ShadowMetrics {
    /// Registers into `metrics`; every known label exports 0.
    pub fn register(metrics: &Metrics) -> Self {
        let m = Self::default();
        for result in ["sent", "unsent", "bad_slot"] {
            let _ = m.reports.get_or_create(&ShadowLabel { result });
        }
        metrics.register(
            "seawatch_shadow_reports",
            "Shadow-run reports to shore by result, and shadow slots that did not load",
            m.reports.clone(),
        );
        m
    }

    fn inc(&self, result: &'static str) {
        self.reports.get_or_create(&ShadowLabel { result }).inc();
    }
}

/// Start arguments of the shadow runner.
#[derive(Clone)]
pub struct RunnerArgs {
    /// The ship.
    pub ship: String,
    /// `DATA/models` (shadow slots are its `shadow-*` folders).
    pub models_dir: PathBuf,
    /// The ship's event log.
    pub events: Arc<dyn EventSource>,
    /// Where reports go.
    pub connect: SinkConnector,
    /// Ship time.
    pub clock: Clock,
    /// How often to read new events and look at the slots.
    pub tick: Duration,
    /// How often to report (ship time).
    pub report_every: Duration,
    /// Metrics.
    pub metrics: ShadowMetrics,
}

/// Messages of the runner.
#[derive(Debug)]
pub enum RunnerMsg {
    /// Read events, report when due.
    Tick,
    /// Report now (tests, shutdown).
    ReportNow,
}

/// The file under `DATA/models` that keeps the runs' counters across restarts.
pub const COUNTERS_FILE: &str = "shadow-counters.json";
/// The counters are written at most this often (ship time), and when the runner stops.
pub const SAVE_EVERY_MS: i64 = 5_000;

/// A slot's `shadow.json` as last looked at: modification time, length and inode (the
/// bundle agent swaps a slot by renames, so a new version is a new file).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp(std::time::SystemTime, u64, u64);

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        let m = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let ino = std::os::unix::fs::MetadataExt::ino(&m);
        #[cfg(not(unix))]
        let ino = 0;
        Some(Stamp(m.modified().ok()?, m.len(), ino))
    }
}

/// One run's counters as saved.
#[derive(Serialize, Deserialize)]
struct SavedRun {
    spec: ShadowSpec,
    since_ms: i64,
    tally: Tally,
}

/// `DATA/models/shadow-counters.json`: every run's counters and the log position they
/// cover (the next event not yet scored).
#[derive(Serialize, Deserialize, Default)]
struct Saved {
    next_seq: u64,
    runs: BTreeMap<String, SavedRun>,
}

/// The runner's state.
pub struct RunnerState {
    args: RunnerArgs,
    runs: BTreeMap<String, ShadowRun>,
    /// Each slot folder's `shadow.json` as last read, and the model it names (`None`: it
    /// did not load; not tried again until the file changes).
    slots: BTreeMap<String, (Stamp, Option<String>)>,
    /// `shadow.json` files read so far (each only when it changed).
    spec_reads: u64,
    /// Saved counters not yet taken up by a run (a slot loads them when its spec is the
    /// same).
    restore: BTreeMap<String, SavedRun>,
    next_seq: u64,
    last_report_ms: i64,
    last_save_ms: i64,
    /// Counters changed since the last save.
    dirty: bool,
    sink: Option<Arc<dyn ModelStore>>,
}

impl RunnerState {
    /// The state of a runner starting: the saved counters (if any) are taken up again by
    /// the runs of the same challenger and champion, and scoring goes on from the log
    /// position they cover (only live data when nothing was saved).
    pub fn start(args: RunnerArgs) -> RunnerState {
        let now = args.clock.now_ms();
        let path = args.models_dir.join(COUNTERS_FILE);
        let saved: Saved = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
                tracing::warn!(file = %path.display(), error = %e, "shadow: saved counters unreadable; starting afresh");
                args.metrics.inc("bad_slot");
                Saved::default()
            }),
            Err(_) => Saved::default(),
        };
        let live = args.events.durable_next_seq();
        // Events written after the last save (before a stop or a crash) are scored now;
        // a log that was reset starts at its end.
        let next_seq = if saved.runs.is_empty() || saved.next_seq > live {
            live
        } else {
            saved.next_seq.max(args.events.first_seq())
        };
        let mut st = RunnerState {
            args,
            runs: BTreeMap::new(),
            slots: BTreeMap::new(),
            spec_reads: 0,
            restore: saved.runs,
            next_seq,
            last_report_ms: now,
            last_save_ms: now,
            dirty: false,
            sink: None,
        };
        st.scan();
        // saved runs whose slot is gone or changed are dropped
        st.restore.clear();
        st
    }

    /// Writes the counters (whole, to a temporary file renamed over the last).
    pub fn save(&mut self) -> Result<(), String> {
        #[derive(Serialize)]
        struct RunRef<'a> {
            spec: &'a ShadowSpec,
            since_ms: i64,
            tally: &'a Tally,
        }
        #[derive(Serialize)]
        struct SavedRef<'a> {
            next_seq: u64,
            runs: BTreeMap<&'a str, RunRef<'a>>,
        }
        let saved = SavedRef {
            next_seq: self.next_seq,
            runs: self
                .runs
                .iter()
                .map(|(m, r)| {
                    let run = RunRef {
                        spec: &r.spec,
                        since_ms: r.since_ms,
                        tally: r.tally(),
                    };
                    (m.as_str(), run)
                })
                .collect(),
        };
        let bytes = serde_json::to_vec(&saved).map_err(|e| e.to_string())?;
        let dir = &self.args.models_dir;
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join(COUNTERS_FILE);
        let tmp = dir.join(format!("{COUNTERS_FILE}.tmp"));
        std::fs::write(&tmp, bytes)
            .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        self.last_save_ms = self.args.clock.now_ms();
        self.dirty = false;
        Ok(())
    }

    fn save_if_due(&mut self) {
        if self.dirty && self.args.clock.now_ms() - self.last_save_ms >= SAVE_EVERY_MS {
            if let Err(e) = self.save() {
                tracing::warn!(error = %e, "shadow: counters not saved");
            }
        }
    }

    fn scan(&mut self) {
        let now = self.args.clock.now_ms();
        let mut seen = Vec::new();
        let Ok(rd) = std::fs::read_dir(&self.args.models_dir) else {
            if !self.runs.is_empty() {
                self.dirty = true;
            }
            self.runs.clear();
            self.slots.clear();
            return;
        };
        let mut dirs: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.is_dir()
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("shadow-"))
            })
            .collect();
        dirs.sort();
        let mut keys = Vec::new();
        for dir in dirs.into_iter().take(MAX_RUNS) {
            let key = dir.display().to_string();
            keys.push(key.clone());
            let stamp = Stamp::of(&dir.join("shadow.json"));
            // Unchanged since it was last read: nothing to parse.
            if let (Some(now_stamp), Some((was, model))) = (&stamp, self.slots.get(&key)) {
                if now_stamp == was {
                    if let Some(m) = model {
                        seen.push(m.clone());
                    }
                    continue;
                }
            }
            self.spec_reads += 1;
            let spec: Option<ShadowSpec> = std::fs::read(dir.join("shadow.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            if let Some(spec) = &spec {
                seen.push(spec.model.clone());
                if self.runs.get(&spec.model).is_some_and(|r| &r.spec == spec) {
                    if let Some(s) = stamp {
                        self.slots.insert(key, (s, Some(spec.model.clone())));
                    }
                    continue;
                }
            }
            match ShadowRun::load(&dir, now) {
                Ok(mut run) => {
                    let model = run.spec.model.clone();
                    match self.restore.remove(&model) {
                        Some(saved) if saved.spec == run.spec => {
                            tracing::info!(model = %model, challenger = %run.spec.challenger, samples = saved.tally.counts[1].samples, "shadow: run resumed with its saved counters");
                            run.since_ms = saved.since_ms;
                            *run.tally_mut() = saved.tally;
                        }
                        _ => {
                            tracing::info!(model = %model, challenger = %run.spec.challenger, "shadow: run started");
                        }
                    }
                    if let Some(s) = stamp {
                        self.slots.insert(key, (s, Some(model.clone())));
                    }
                    self.runs.insert(model, run);
                    self.dirty = true;
                }
                Err(e) => {
                    tracing::warn!(slot = %key, error = %e, "shadow: slot does not load");
                    self.args.metrics.inc("bad_slot");
                    match stamp {
                        Some(s) => {
                            self.slots.insert(key, (s, None));
                        }
                        None => {
                            self.slots.remove(&key);
                        }
                    }
                }
            }
        }
        self.slots.retain(|k, _| keys.contains(k));
        let before = self.runs.len();
        self.runs.retain(|m, _| seen.contains(m));
        if self.runs.len() != before {
            self.dirty = true;
        }
    }

    fn read(&mut self) {
        let src = &self.args.events;
        for _ in 0..64 {
            let from = self.next_seq.max(src.first_seq());
            if from >= src.durable_next_seq() {
                return;
            }
            let batch = match src.read_from(from, 1024) {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "shadow: event log not readable");
                    return;
                }
            };
            let Some(last) = batch.last() else {
                return;
            };
            self.next_seq = last.seq + 1;
            self.dirty |= !self.runs.is_empty();
            for ev in &batch {
                for run in self.runs.values_mut() {
                    run.feed(ev);
                }
            }
        }
    }

    async fn report(&mut self) {
        let now = self.args.clock.now_ms();
        self.last_report_ms = now;
        if self.runs.is_empty() {
            return;
        }
        if self.sink.is_none() {
            match tokio::time::timeout(Duration::from_secs(5), (self.args.connect)()).await {
                Ok(Ok(s)) => self.sink = Some(s),
                _ => {
                    self.args.metrics.inc("unsent");
                    return;
                }
            }
        }
        let Some(sink) = self.sink.clone() else {
            return;
        };
        for run in self.runs.values() {
            let r = run.report(&self.args.ship, now);
            match sink.put_shadow(&r).await {
                Ok(()) => self.args.metrics.inc("sent"),
                Err(e) => {
                    tracing::debug!(error = %e, "shadow: report not sent (link down?)");
                    self.args.metrics.inc("unsent");
                    self.sink = None;
                    return;
                }
            }
        }
    }
}

/// The shadow runner actor (child `shadow` of the ship's services).
pub struct ShadowRunner;

impl Actor for ShadowRunner {
    type Msg = RunnerMsg;
    type State = RunnerState;
    type Arguments = RunnerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<RunnerMsg>,
        args: RunnerArgs,
    ) -> Result<RunnerState, ActorProcessingErr> {
        myself.send_after(args.tick, || RunnerMsg::Tick);
        Ok(RunnerState::start(args))
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<RunnerMsg>,
        st: &mut RunnerState,
    ) -> Result<(), ActorProcessingErr> {
        if st.dirty {
            if let Err(e) = st.save() {
                tracing::warn!(error = %e, "shadow: counters not saved at stop");
            }
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<RunnerMsg>,
        msg: RunnerMsg,
        st: &mut RunnerState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RunnerMsg::Tick => {
                st.scan();
                st.read();
                let due = st.args.report_every.as_millis() as i64;
                if st.args.clock.now_ms() - st.last_report_ms >= due {
                    st.report().await;
                }
                st.save_if_due();
                myself.send_after(st.args.tick, || RunnerMsg::Tick);
            }
            RunnerMsg::ReportNow => {
                st.scan();
                st.read();
                st.report().await;
            }
        }
        Ok(())
    }
}

/// The runner as a supervised child named `shadow`.
pub fn runner_child(args: RunnerArgs) -> (ChildSpec, Addr<RunnerMsg>) {
    ChildSpec::actor("shadow", "shadow_runner", move || {
        (ShadowRunner, args.clone())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(seq: u64, ts: i64, source: &str, name: &str, v: f64) -> Event {
        Event {
            seq,
            ts_ms: ts,
            kind: EventKind::Metric,
            source: source.into(),
            severity: 6,
            body: format!("{name}{{ship=\"a\"}} {v}"),
        }
    }

    #[test]
    fn metric_bodies_parse_and_bad_ones_are_skipped() {
        assert_eq!(parse_metric("cpu{a=\"b c\"} 1.5"), Some(("cpu", 1.5)));
        assert_eq!(parse_metric("cpu 2"), Some(("cpu", 2.0)));
        assert_eq!(parse_metric("cpu NaN"), None);
        assert_eq!(parse_metric("garbage"), None);
    }

    #[test]
    fn an_alert_before_an_outage_is_a_hit_and_the_outage_is_caught() {
        let mut t = Tally::default();
        t.alert(1, "vsat-1", 1_000, 0);
        t.alert(0, "vsat-2", 1_000, 0);
        t.truth(
            vec!["vsat-1".into()],
            1_000 + HORIZON_MS - 1,
            HORIZON_MS,
            [false; 2],
        );
        // an outage long after the champion's alert on another link: not caught by it
        t.truth(
            vec!["vsat-2".into()],
            1_000 + HORIZON_MS + 1,
            HORIZON_MS,
            [false; 2],
        );
        assert_eq!((t.counts[1].alerts, t.counts[1].hits), (1, 1));
        assert_eq!((t.counts[1].events, t.counts[1].caught), (2, 1));
        assert_eq!(
            (t.counts[0].alerts, t.counts[0].hits, t.counts[0].caught),
            (1, 0, 0)
        );
        // an alert shortly after an incident opened on its element also coincides
        t.alert(0, "vsat-2", 1_000 + HORIZON_MS + 5, 60_000);
        assert_eq!((t.counts[0].hits, t.counts[0].caught), (1, 1));
    }

    fn detectors_bundle(toml: &str) -> Bundle {
        decode(&encode(
            BundleKind::Detectors,
            "detectors",
            vec![("ensemble.toml".into(), toml.as_bytes().to_vec())],
        ))
        .unwrap()
    }

    #[test]
    fn a_stricter_challenger_alerts_less_on_the_same_samples() {
        let cp = detectors_bundle("warmup = 30\nalert_threshold = 0.05\nunknown_key = 1\n");
        let ch = detectors_bundle("warmup = 30\nalert_threshold = 0.9\n");
        let spec = ShadowSpec {
            model: "det".into(),
            kind: ModelKind::DetectorSettings,
            challenger: ch.sha256.clone(),
            champion: Some(cp.sha256.clone()),
        };
        let mut run = ShadowRun::new(spec, &ch, Some(&cp), 0).unwrap();
        let mut x: u64 = 7;
        for i in 0..600u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let noise = (x >> 33) as f64 / (1u64 << 31) as f64;
            let v = if i % 97 == 96 { 40.0 } else { 10.0 + noise };
            run.feed(&metric(i + 1, i as i64 * 5_000, "sw-1", "cpu_util", v));
        }
        let r = run.report("aurora", 1);
        assert!(r.champion_counts.samples > 400, "{r:?}");
        assert_eq!(r.champion_counts.samples, r.challenger_counts.samples);
        assert!(
            r.champion_counts.alerts > r.challenger_counts.alerts,
            "{r:?}"
        );
        assert!(r.challenger_counts.agree < r.challenger_counts.samples);
    }

    /// The ship's event log in memory.
    #[derive(Default, Clone)]
    struct MemLog(Arc<parking_lot::Mutex<Vec<Event>>>);

    impl MemLog {
        fn push(&self, ts: i64, kind: EventKind, source: &str, body: String) {
            let mut g = self.0.lock();
            let seq = g.len() as u64 + 1;
            g.push(Event {
                seq,
                ts_ms: ts,
                kind,
                source: source.into(),
                severity: 6,
                body,
            });
        }

        /// `n` cpu samples of `sw-1` from index `from` (a bump every 97th), then an
        /// incident opened on it.
        fn day(&self, from: i64, n: i64) {
            let mut x: u64 = 7 + from as u64;
            for i in from..from + n {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let noise = (x >> 33) as f64 / (1u64 << 31) as f64;
                let v = if i % 97 == 96 { 40.0 } else { 10.0 + noise };
                self.push(
                    i * 5_000,
                    EventKind::Metric,
                    "sw-1",
                    format!("cpu_util{{ship=\"a\"}} {v}"),
                );
            }
            let ts = (from + n) * 5_000;
            let incident = crate::incident::model::Incident {
                id: format!("a-{from}"),
                ship: "a".into(),
                root_cause: "sw-1".into(),
                severity: crate::incident::model::IncidentSeverity::Major,
                state: crate::incident::model::IncidentState::Open,
                alerts: 1,
                opened_at_ms: ts,
                resolved_at_ms: None,
                active_since_ms: vec![ts],
                members: vec!["sw-1".into()],
                summary: "sw-1 overloaded".into(),
                merged_into: None,
                candidates: Vec::new(),
                evidence: Vec::new(),
                classes: Vec::new(),
            };
            let body = serde_json::to_string(&IncidentEvent {
                ts_ms: ts,
                kind: IncidentEventKind::Opened,
                incident,
                traceparent: None,
            })
            .unwrap();
            self.push(ts, EventKind::Incident, "sw-1", body);
        }
    }

    impl EventSource for MemLog {
        fn ship_id(&self) -> String {
            "a".into()
        }
        fn first_seq(&self) -> u64 {
            1
        }
        fn durable_next_seq(&self) -> u64 {
            self.0.lock().len() as u64 + 1
        }
        fn read_from(
            &self,
            seq: u64,
            max: usize,
        ) -> Result<Vec<Event>, seawatch_runtime::event_log::EventLogError> {
            let g = self.0.lock();
            Ok(g.iter().skip(seq as usize - 1).take(max).cloned().collect())
        }
    }

    /// `DATA/models` with a detector-settings shadow slot (as the bundle agent leaves
    /// it), and runner arguments over `log`.
    fn slot(models: &Path, log: &MemLog, clock: &Clock) -> RunnerArgs {
        let cp = encode(
            BundleKind::Detectors,
            "detectors",
            vec![(
                "e.toml".into(),
                b"warmup = 30\nalert_threshold = 0.05\n".to_vec(),
            )],
        );
        let ch = encode(
            BundleKind::Detectors,
            "detectors",
            vec![(
                "e.toml".into(),
                b"warmup = 30\nalert_threshold = 0.9\n".to_vec(),
            )],
        );
        let b = decode(&shadow_bundle("det", ModelKind::DetectorSettings, &ch, Some(&cp)).unwrap())
            .unwrap();
        let dir = models.join("shadow-det");
        std::fs::create_dir_all(&dir).unwrap();
        for (p, bytes) in &b.files {
            std::fs::write(dir.join(p), bytes).unwrap();
        }
        RunnerArgs {
            ship: "a".into(),
            models_dir: models.to_path_buf(),
            events: Arc::new(log.clone()),
            connect: Arc::new(|| Box::pin(async { Err("no shore in this test".to_string()) })),
            clock: clock.clone(),
            tick: Duration::from_secs(5),
            report_every: Duration::from_secs(60),
            metrics: ShadowMetrics::default(),
        }
    }

    #[test]
    fn shadow_json_is_read_only_when_it_changes() {
        let d = tempfile::tempdir().unwrap();
        let clock = Clock::manual(0);
        let log = MemLog::default();
        let mut st = RunnerState::start(slot(d.path(), &log, &clock));
        assert_eq!((st.runs.len(), st.spec_reads), (1, 1));
        log.day(0, 200);
        st.read();
        let samples = st.runs["det"].report("a", 0).challenger_counts.samples;
        assert!(samples > 100);
        for _ in 0..10 {
            st.scan();
        }
        assert_eq!(st.spec_reads, 1, "unchanged: not read again");
        // The agent swaps a slot by renames: a new file, read once; the same spec keeps
        // the run and its counters.
        let spec = d.path().join("shadow-det/shadow.json");
        let tmp = d.path().join("shadow-det/shadow.json.new");
        std::fs::copy(&spec, &tmp).unwrap();
        std::fs::rename(&tmp, &spec).unwrap();
        st.scan();
        st.scan();
        assert_eq!(st.spec_reads, 2);
        assert_eq!(
            st.runs["det"].report("a", 0).challenger_counts.samples,
            samples
        );
        // A slot removed ends its run.
        std::fs::remove_dir_all(d.path().join("shadow-det")).unwrap();
        st.scan();
        assert!(st.runs.is_empty());
    }

    #[test]
    fn counters_survive_a_restart_and_the_events_after_the_last_save_count_once() {
        let d = tempfile::tempdir().unwrap();
        let clock = Clock::manual(1_000);
        let log = MemLog::default();
        let args = slot(d.path(), &log, &clock);

        // Without saved counters a runner starts at the log's end (live data only).
        log.day(0, 50);
        let mut first = RunnerState::start(args.clone());
        first.read();
        assert_eq!(first.runs["det"].report("a", 0).challenger_counts.events, 0);

        // It scores a day with one incident and saves (due after 5 s of ship time).
        log.day(50, 400);
        first.read();
        clock.advance_ms(SAVE_EVERY_MS);
        first.save_if_due();
        assert!(!first.dirty, "saved");
        let before = first.runs["det"].report("a", 0);
        assert_eq!(before.challenger_counts.events, 1);
        // More events after the save, then the ship dies without saving again.
        log.day(450, 200);
        drop(first);

        clock.advance_ms(60_000);
        let mut second = RunnerState::start(args.clone());
        second.read();
        let after = second.runs["det"].report("a", 0);
        assert_eq!(after.since_ms, before.since_ms, "the same run");
        assert_eq!(
            after.challenger_counts.events, 2,
            "the incident before the save once, the one after it once"
        );
        assert!(after.challenger_counts.samples > before.challenger_counts.samples);
        assert!(after.champion_counts.alerts >= before.champion_counts.alerts);

        // A new challenger in the slot starts its counters afresh.
        second.save().unwrap();
        drop(second);
        let mut spec: ShadowSpec = serde_json::from_slice(
            &std::fs::read(d.path().join("shadow-det/shadow.json")).unwrap(),
        )
        .unwrap();
        spec.champion = None;
        std::fs::write(
            d.path().join("shadow-det/shadow.json"),
            serde_json::to_vec(&spec).unwrap(),
        )
        .unwrap();
        let third = RunnerState::start(args);
        let fresh = third.runs["det"].report("a", 0);
        assert_eq!(fresh.challenger_counts.samples, 0);
        assert!(fresh.since_ms > before.since_ms);
    }
}
