//! Link actors: one per satellite or terrestrial link, holding up / degraded / down from
//! the modem's KPIs (lock, Es/No, BER) and reachability, and predicting outages from
//! them plus the ship's heading and rain rate ([`risk`]), tuned by the ship's link-risk
//! model ([`settings`]).

pub mod risk;
pub mod settings;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use seawatch_runtime::supervision::{Addr, ChildSpec};
use seawatch_runtime::Metrics;
use serde::Serialize;

use crate::alert::AlertSink;
use crate::push::{Push, PushBus, PushKind};
use risk::{AlertEdge, RiskConfig, RiskModel, SatGeometry};
use seawatch_model::{
    Alert, AlertClass, AlertSeverity, AlertSource, AlertState, LinkSpec, ObsKind, Observation,
};
use settings::{live_risk_config, LinkRiskCell, LinkRiskSettings};

/// A link's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkStatus {
    /// No KPI seen yet.
    Unknown,
    /// Locked with margin.
    Up,
    /// Locked but Es/No low (below the degraded threshold) or errors rising.
    Degraded,
    /// Lock lost or Es/No below the lock threshold.
    Down,
}

/// Thresholds (dB) for a link's state, with hysteresis.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LinkThresholds {
    /// Below this Es/No the link is degraded (domain: degraded below 5 dB on Ku).
    pub degraded_below_db: f64,
    /// Below this Es/No the link is down (QPSK 1/4 needs −2.35 dB; real demods lose lock ~1 dB above).
    pub down_below_db: f64,
    /// Hysteresis applied when recovering.
    pub hysteresis_db: f64,
}

impl Default for LinkThresholds {
    fn default() -> Self {
        Self {
            degraded_below_db: 5.0,
            down_below_db: -1.3,
            hysteresis_db: 0.3,
        }
    }
}

/// What a link actor knows.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LinkState {
    /// The link.
    pub spec: LinkSpec,
    /// Current status.
    pub status: LinkStatus,
    /// Last Es/No, dB.
    pub esno_db: Option<f64>,
    /// Last SNR, dB.
    pub snr_db: Option<f64>,
    /// Last BER.
    pub ber: Option<f64>,
    /// Last rx power, dBm.
    pub rx_power_dbm: Option<f64>,
    /// Last lock state.
    pub locked: Option<bool>,
    /// Event time of the last KPI, unix ms.
    pub last_kpi_ms: Option<i64>,
    /// Event time of the last status change, unix ms.
    pub since_ms: Option<i64>,
    /// Predicted outage risk in `[0, 1]` ([`risk::RiskModel`]).
    pub risk: f64,
    /// Predicted outage time, unix ms, if any.
    pub predicted_outage_ms: Option<i64>,
    /// Predicted end of that outage, unix ms, when the cause gives one.
    pub predicted_end_ms: Option<i64>,
    /// What the prediction is from (`blockage`, `sun_outage`, `rain`, `trend`, `margin`,
    /// `none`).
    pub risk_cause: &'static str,
}

impl LinkState {
    fn apply(&mut self, obs: &Observation, th: &LinkThresholds) -> bool {
        let ObsKind::Metric(m) = &obs.kind else {
            return false;
        };
        match m.name.as_str() {
            "modem_esno_db" => self.esno_db = Some(m.value),
            "modem_snr_db" => self.snr_db = Some(m.value),
            "modem_ber" => self.ber = Some(m.value),
            "modem_rx_power_dbm" => self.rx_power_dbm = Some(m.value),
            "modem_lock" => self.locked = Some(m.value >= 0.5),
            _ => return false,
        }
        self.last_kpi_ms = Some(obs.ts_ms);
        let next = self.assess(th);
        if next != self.status {
            self.status = next;
            self.since_ms = Some(obs.ts_ms);
            return true;
        }
        false
    }

    fn assess(&self, th: &LinkThresholds) -> LinkStatus {
        if self.locked == Some(false) {
            return LinkStatus::Down;
        }
        let Some(esno) = self.esno_db.or(self.snr_db) else {
            return if self.locked == Some(true) {
                LinkStatus::Up
            } else {
                self.status
            };
        };
        // Hysteresis: leaving a worse state needs the threshold plus the margin.
        let margin = |state: LinkStatus| {
            if self.status == state {
                th.hysteresis_db
            } else {
                0.0
            }
        };
        if esno < th.down_below_db + margin(LinkStatus::Down) {
            LinkStatus::Down
        } else if esno < th.degraded_below_db + margin(LinkStatus::Degraded)
            || (self.status == LinkStatus::Down && esno < th.degraded_below_db + th.hysteresis_db)
        {
            LinkStatus::Degraded
        } else {
            LinkStatus::Up
        }
    }
}

/// Labels of link gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LinkLabels {
    /// Ship id.
    pub ship: String,
    /// Link id.
    pub link: String,
}

/// The `seawatch_link_up{ship,link}` and `seawatch_link_outage_risk{ship,link}` gauge
/// families.
#[derive(Debug, Clone, Default)]
pub struct LinkMetrics {
    up: Family<LinkLabels, Gauge>,
    risk: Family<LinkLabels, Gauge<f64, AtomicU64>>,
}

impl LinkMetrics {
    /// Registers the link metrics.
    pub fn register(metrics: &Metrics) -> Self {
        let s = Self::default();
        metrics.register(
            "seawatch_link_up",
            "1 while the link is up or degraded, 0 while down.",
            s.up.clone(),
        );
        metrics.register(
            "seawatch_link_outage_risk",
            "Predicted probability in [0, 1] that the link loses lock soon (Es/No trend, rain, learned blockage sectors).",
            s.risk.clone(),
        );
        s
    }
}

/// Messages of a link actor.
pub enum LinkMsg {
    /// New KPI observations for this link.
    Observe {
        /// When ingest received them.
        received: Instant,
        /// The observations.
        items: Vec<Observation>,
    },
    /// A snapshot of the link's state.
    Snapshot(RpcReplyPort<LinkState>),
    /// The link's recent outage risk, one point a minute (oldest first, at most
    /// [`RISK_HISTORY_POINTS`]).
    RiskHistory(RpcReplyPort<Vec<RiskPoint>>),
    /// New link-risk settings (a rollout or rollback of the ship's link-risk model): the
    /// predictor runs them from the next sample on, keeping what it learned
    /// ([`RiskModel::set_config`]).
    RiskSettings(Arc<LinkRiskSettings>),
    /// What the outage predictor runs (the health check after a push).
    RiskRunning(RpcReplyPort<RiskRunning>),
}

/// What a link actor's outage predictor runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskRunning {
    /// [`RiskConfig::fingerprint`] of its configuration.
    pub fingerprint: String,
    /// `modem_esno_db` samples this incarnation of the actor has seen.
    pub esno_samples: u64,
}

/// One minute of a link's outage prediction: the highest risk estimated in it and the
/// earliest outage predicted then.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RiskPoint {
    /// Start of the minute (event time), unix ms.
    pub ts_ms: i64,
    /// Highest risk in the minute, `[0, 1]`.
    pub risk: f64,
    /// Earliest predicted outage start seen in the minute, unix ms.
    pub predicted_outage_ms: Option<i64>,
}

/// Minutes of risk a link actor keeps (six hours; about 24 bytes each).
pub const RISK_HISTORY_POINTS: usize = 360;
const RISK_STEP_MS: i64 = 60_000;

/// Adds an estimate at event time `ts_ms` to `history` (see [`RiskPoint`]).
fn record_risk(
    history: &mut std::collections::VecDeque<RiskPoint>,
    ts_ms: i64,
    risk: f64,
    predicted: Option<i64>,
) {
    let minute = ts_ms.div_euclid(RISK_STEP_MS) * RISK_STEP_MS;
    match history.back_mut() {
        Some(p) if p.ts_ms == minute => {
            p.risk = p.risk.max(risk);
            p.predicted_outage_ms = match (p.predicted_outage_ms, predicted) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        // an event time behind the newest minute (a producer's clock) is not charted
        Some(p) if p.ts_ms > minute => {}
        _ => {
            if history.len() >= RISK_HISTORY_POINTS {
                history.pop_front();
            }
            history.push_back(RiskPoint {
                ts_ms: minute,
                risk,
                predicted_outage_ms: predicted,
            });
        }
    }
}

/// Start arguments of a link actor.
#[derive(Clone)]
pub struct LinkArgs {
    /// Ship id.
    pub ship: String,
    /// The link.
    pub spec: LinkSpec,
    /// Thresholds.
    pub thresholds: LinkThresholds,
    /// Metrics.
    pub metrics: LinkMetrics,
    /// Where link alerts go (satellite links only: a terrestrial link out of coverage
    /// at sea is normal, not a symptom).
    pub alerts: AlertSink,
    /// Where link state and risk changes are pushed (console WebSocket), if anywhere.
    pub push: Option<PushBus>,
    /// The ship's link-risk settings, read at every start ([`settings`]).
    pub risk_settings: LinkRiskCell,
}

/// The link actor.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkActor;

/// State of a link actor.
pub struct LinkActorState {
    state: LinkState,
    args: LinkArgs,
    /// Event times of recent transitions to down (flap detection).
    downs: std::collections::VecDeque<i64>,
    firing: Vec<AlertClass>,
    margin: Margin,
    risk: RiskModel,
    up_gauge: Gauge,
    risk_gauge: Gauge<f64, AtomicU64>,
    /// What the last push said.
    pushed: Option<Pushed>,
    /// The last hours of risk, a point a minute.
    history: std::collections::VecDeque<RiskPoint>,
    /// Since when (event time, unix ms) the `LinkRisk` alert fires: names the episode.
    risk_since_ms: Option<i64>,
    /// Fingerprint of the predictor's configuration.
    risk_fingerprint: String,
    /// `modem_esno_db` samples seen by this incarnation.
    esno_samples: u64,
}

/// Es/No against the link's own clear-sky baseline: a link that lost several dB is
/// degraded even while above the absolute threshold (a degraded LEO terminal, the start
/// of a rain fade).
#[derive(Debug, Default)]
struct Margin {
    base: Option<f64>,
    fast: Option<f64>,
    samples: u32,
    low: bool,
}

/// dB below baseline that make a link degraded, and back above which it recovers.
const MARGIN_LOST_DB: f64 = 3.0;
const MARGIN_BACK_DB: f64 = 1.5;
/// Samples (5 s apart) before the baseline is trusted.
const MARGIN_WARMUP: u32 = 60;

impl Margin {
    /// Takes an Es/No sample; returns whether `low` changed.
    fn sample(&mut self, esno: f64, locked: bool) -> bool {
        let fast = self.fast.map_or(esno, |f| 0.5 * f + 0.5 * esno);
        self.fast = Some(fast);
        let base = *self.base.get_or_insert(esno);
        self.samples = self.samples.saturating_add(1);
        if !self.low && locked {
            self.base = Some(base + 0.01 * (esno - base));
        }
        if self.samples < MARGIN_WARMUP {
            return false;
        }
        let drop = base - fast;
        let low = if self.low {
            drop > MARGIN_BACK_DB
        } else {
            drop > MARGIN_LOST_DB
        };
        let changed = low != self.low;
        self.low = low;
        changed
    }
}

/// Transitions to down within this window that make a link flapping.
const FLAP_WINDOW_MS: i64 = 300_000;
const FLAP_DOWNS: usize = 3;

impl LinkActorState {
    fn raise(&mut self, class: AlertClass, on: bool, ts_ms: i64) {
        if self.firing.contains(&class) == on {
            return;
        }
        if on {
            self.firing.push(class);
        } else {
            self.firing.retain(|c| *c != class);
        }
        if !matches!(self.state.spec.kind.as_str(), "vsat" | "leo") {
            return;
        }
        self.args.alerts.raise(Alert {
            ship: self.args.ship.clone(),
            exhausts_at_ms: None,
            subject: self.state.spec.id.clone(),
            source: AlertSource::Link,
            class,
            severity: if class == AlertClass::Degraded {
                AlertSeverity::Warning
            } else {
                AlertSeverity::Critical
            },
            state: if on {
                AlertState::Firing
            } else {
                AlertState::Cleared
            },
            ts_ms,
            series: None,
            score: 1.0,
            detail: format!("link {:?}", self.state.status).to_lowercase(),
        });
    }

    /// Raises or clears alerts after a status change at `ts_ms`.
    fn on_status(&mut self, ts_ms: i64) {
        let status = self.state.status;
        if status == LinkStatus::Down {
            self.downs.push_back(ts_ms);
        }
        while self
            .downs
            .front()
            .is_some_and(|t| ts_ms - t > FLAP_WINDOW_MS)
        {
            self.downs.pop_front();
        }
        let flapping = self.downs.len() >= FLAP_DOWNS;
        if flapping {
            self.raise(AlertClass::Flapping, true, ts_ms);
        }
        self.raise(
            AlertClass::Down,
            status == LinkStatus::Down && !flapping,
            ts_ms,
        );
        self.raise(
            AlertClass::Degraded,
            status == LinkStatus::Degraded && !flapping,
            ts_ms,
        );
        if status == LinkStatus::Up && self.downs.is_empty() {
            self.raise(AlertClass::Flapping, false, ts_ms);
        }
    }

    /// Feeds one observation to the outage predictor; raises or clears `LinkRisk`.
    fn predict(&mut self, obs: &Observation) {
        let ObsKind::Metric(m) = &obs.kind else {
            return;
        };
        let up = self.state.status != LinkStatus::Down;
        let edge = observe_risk(&mut self.risk, &m.name, obs.ts_ms, m.value, up);
        if let Some(edge) = edge {
            self.raise_risk(edge, obs.ts_ms);
        }
    }

    fn raise_risk(&mut self, edge: AlertEdge, ts_ms: i64) {
        if !matches!(self.state.spec.kind.as_str(), "vsat" | "leo") {
            return;
        }
        let est = self.risk.estimate();
        self.risk_since_ms = match edge {
            AlertEdge::Fire => Some(ts_ms),
            AlertEdge::Clear => None,
        };
        self.args.alerts.raise(Alert {
            ship: self.args.ship.clone(),
            exhausts_at_ms: None,
            subject: self.state.spec.id.clone(),
            source: AlertSource::Prediction,
            class: AlertClass::OutageRisk,
            severity: AlertSeverity::Warning,
            state: match edge {
                AlertEdge::Fire => AlertState::Firing,
                AlertEdge::Clear => AlertState::Cleared,
            },
            ts_ms,
            series: None,
            score: est.risk,
            detail: risk_detail_of(&est),
        });
    }

    /// Pushes the link's state when its status, alert or risk (by 0.05) changed.
    fn push_if_changed(&mut self) {
        let Some(bus) = &self.args.push else {
            return;
        };
        let now = Pushed {
            risk: self.state.risk,
            status: self.state.status,
            firing: self.risk.firing(),
            outage_ms: self.state.predicted_outage_ms,
            end_ms: self.state.predicted_end_ms,
        };
        if self.pushed.as_ref().is_some_and(|p| !p.differs(&now)) {
            return;
        }
        let firing = now.firing;
        self.pushed = Some(now);
        let s = &self.state;
        bus.publish(Push {
            kind: PushKind::Link,
            ship: Some(self.args.ship.clone()),
            body: serde_json::json!({
                "ship": self.args.ship,
                "link": s.spec.id,
                "state": format!("{:?}", s.status).to_lowercase(),
                "up": s.status != LinkStatus::Down,
                "risk": (s.risk * 1000.0).round() / 1000.0,
                "outage_risk": (s.risk * 1000.0).round() / 1000.0,
                "risk_alert": firing,
                "predicted_outage_at": s.predicted_outage_ms.map(crate::incident::api::rfc3339),
                "predicted_outage_ms": s.predicted_outage_ms,
                "predicted_end_ms": s.predicted_end_ms,
                "risk_cause": s.risk_cause,
                "risk_alert_since_ms": self.risk_since_ms,
                "esno_db": s.esno_db,
                "at": s.last_kpi_ms.map(crate::incident::api::rfc3339),
            }),
        });
    }

    /// Clears flapping once the window holds no transition to down.
    fn age(&mut self, ts_ms: i64) {
        while self
            .downs
            .front()
            .is_some_and(|t| ts_ms - t > FLAP_WINDOW_MS)
        {
            self.downs.pop_front();
        }
        if self.downs.is_empty() && self.firing.contains(&AlertClass::Flapping) {
            self.raise(AlertClass::Flapping, false, ts_ms);
            let status = self.state.status;
            self.raise(AlertClass::Down, status == LinkStatus::Down, ts_ms);
            let degraded =
                status == LinkStatus::Degraded || (status == LinkStatus::Up && self.margin.low);
            self.raise(AlertClass::Degraded, degraded, ts_ms);
        }
    }
}

impl Actor for LinkActor {
    type Msg = LinkMsg;
    type State = LinkActorState;
    type Arguments = LinkArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<LinkMsg>,
        args: LinkArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let labels = LinkLabels {
            ship: args.ship.clone(),
            link: args.spec.id.clone(),
        };
        let up_gauge = args.metrics.up.get_or_create(&labels).clone();
        let risk_gauge = args.metrics.risk.get_or_create(&labels).clone();
        // the link-risk model last pushed, over the link's own down threshold
        let risk_config = live_risk_config(&args.risk_settings.get(), &args.thresholds);
        Ok(LinkActorState {
            state: LinkState {
                spec: args.spec.clone(),
                status: LinkStatus::Unknown,
                esno_db: None,
                snr_db: None,
                ber: None,
                rx_power_dbm: None,
                locked: None,
                last_kpi_ms: None,
                since_ms: None,
                risk: 0.0,
                predicted_outage_ms: None,
                predicted_end_ms: None,
                risk_cause: "none",
            },
            risk: risk_model_with(&args.spec, risk_config),
            risk_fingerprint: risk_config.fingerprint(),
            esno_samples: 0,
            up_gauge,
            risk_gauge,
            args,
            downs: std::collections::VecDeque::new(),
            firing: Vec::new(),
            margin: Margin::default(),
            pushed: None,
            history: std::collections::VecDeque::new(),
            risk_since_ms: None,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<LinkMsg>,
        msg: LinkMsg,
        st: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            LinkMsg::Observe { items, .. } => {
                let mut changed = false;
                for obs in &items {
                    let status_changed = st.state.apply(obs, &st.args.thresholds);
                    st.predict(obs);
                    // a batch spanning minutes (a replay, a backlog) charts each of them
                    let minute = obs.ts_ms.div_euclid(RISK_STEP_MS) * RISK_STEP_MS;
                    if st.history.back().is_none_or(|p| p.ts_ms < minute) {
                        let est = st.risk.estimate();
                        record_risk(&mut st.history, obs.ts_ms, est.risk, est.predicted_ms);
                    }
                    let margin_changed = match &obs.kind {
                        ObsKind::Metric(m) if m.name == "modem_esno_db" => {
                            st.esno_samples += 1;
                            let locked = st.state.locked != Some(false);
                            st.margin.sample(m.value, locked)
                        }
                        _ => false,
                    };
                    if status_changed {
                        changed = true;
                        st.on_status(obs.ts_ms);
                    } else if margin_changed {
                        let ts = obs.ts_ms;
                        let status = st.state.status;
                        let degraded = status == LinkStatus::Degraded
                            || (status == LinkStatus::Up && st.margin.low);
                        if !st.firing.contains(&AlertClass::Flapping) {
                            st.raise(AlertClass::Degraded, degraded, ts);
                        }
                    } else {
                        st.age(obs.ts_ms);
                    }
                }
                if changed {
                    tracing::info!(ship = %st.args.ship, link = %st.state.spec.id, status = ?st.state.status, "link status changed");
                }
                let up = !matches!(st.state.status, LinkStatus::Down);
                st.up_gauge.set(up as i64);
                let est = st.risk.estimate();
                st.state.risk = est.risk;
                st.state.predicted_outage_ms = est.predicted_ms;
                st.state.predicted_end_ms = est.predicted_end_ms;
                st.state.risk_cause = est.cause.as_str();
                st.risk_gauge.set(est.risk);
                if let Some(ts) = items.iter().map(|o| o.ts_ms).max() {
                    record_risk(&mut st.history, ts, est.risk, est.predicted_ms);
                }
                st.push_if_changed();
            }
            LinkMsg::Snapshot(reply) => {
                let _ = reply.send(st.state.clone());
            }
            LinkMsg::RiskHistory(reply) => {
                let _ = reply.send(st.history.iter().copied().collect());
            }
            LinkMsg::RiskSettings(settings) => {
                let cfg = live_risk_config(&settings, &st.args.thresholds);
                st.risk.set_config(cfg);
                st.risk_fingerprint = cfg.fingerprint();
                tracing::info!(ship = %st.args.ship, link = %st.state.spec.id, settings = %st.risk_fingerprint, "link: new link-risk settings");
            }
            LinkMsg::RiskRunning(reply) => {
                let _ = reply.send(RiskRunning {
                    fingerprint: st.risk_fingerprint.clone(),
                    esno_samples: st.esno_samples,
                });
            }
        }
        Ok(())
    }
}

/// The `detail` of a `LinkRisk` alert: `risk R from CAUSE; predicted_outage_ms=MS|none`
/// ([`predicted_outage_ms`] reads it back).
pub fn risk_detail(risk: f64, cause: &str, predicted_ms: Option<i64>) -> String {
    match predicted_ms {
        Some(ms) => format!("outage risk {risk:.2} from {cause}; predicted_outage_ms={ms}"),
        None => format!("outage risk {risk:.2} from {cause}; predicted_outage_ms=none"),
    }
}

/// [`risk_detail`] with the predicted end of the outage:
/// `risk R from CAUSE; predicted_end_ms=MS; predicted_outage_ms=MS|none` (the end only
/// when known; [`predicted_end_ms`] and [`risk_cause`] read it back).
pub fn risk_detail_with_end(
    risk: f64,
    cause: &str,
    predicted_ms: Option<i64>,
    end_ms: Option<i64>,
) -> String {
    match (predicted_ms, end_ms) {
        (Some(ms), Some(end)) => format!(
            "outage risk {risk:.2} from {cause}; predicted_end_ms={end}; predicted_outage_ms={ms}"
        ),
        _ => risk_detail(risk, cause, predicted_ms),
    }
}

/// The detail of a `LinkRisk` alert for estimate `est`: [`risk_detail_with_end`] with
/// the 10–90 % range of the predicted start in front when the predictor gives one:
/// `risk R from CAUSE; predicted_lo_ms=MS; predicted_hi_ms=MS|none; predicted_end_ms=MS;
/// predicted_outage_ms=MS` ([`predicted_range_ms`] reads the range back).
pub fn risk_detail_of(est: &risk::Estimate) -> String {
    let base = risk_detail_with_end(
        est.risk,
        est.cause.as_str(),
        est.predicted_ms,
        est.predicted_end_ms,
    );
    match (est.predicted_ms, est.predicted_lo_ms) {
        (Some(_), Some(lo)) => {
            let hi = est
                .predicted_hi_ms
                .map_or_else(|| "none".to_string(), |h| h.to_string());
            let (head, tail) = base.split_once("; ").unwrap_or((&base, ""));
            format!("{head}; predicted_lo_ms={lo}; predicted_hi_ms={hi}; {tail}")
        }
        _ => base,
    }
}

/// The 10–90 % range `(early, late)` of a `LinkRisk` alert's predicted start, unix ms,
/// if its detail has one (`late` is `None` when the outage may not come at all).
pub fn predicted_range_ms(detail: &str) -> Option<(i64, Option<i64>)> {
    let field = |name: &str| {
        detail
            .split("; ")
            .find_map(|p| p.strip_prefix(name))
            .map(str::trim)
    };
    let lo = field("predicted_lo_ms=")?.parse().ok()?;
    Some((lo, field("predicted_hi_ms=").and_then(|v| v.parse().ok())))
}

/// The predicted end (unix ms) of a `LinkRisk` alert's outage, if its detail has one.
pub fn predicted_end_ms(detail: &str) -> Option<i64> {
    detail
        .split("; ")
        .find_map(|p| p.strip_prefix("predicted_end_ms="))
        .and_then(|v| v.trim().parse().ok())
}

/// The cause named in a `LinkRisk` alert's detail (`blockage`, `sun_outage`, `rain`,
/// `trend`, `margin`), if any.
pub fn risk_cause(detail: &str) -> Option<&str> {
    let rest = detail.split_once(" from ")?.1;
    Some(rest.split(';').next().unwrap_or(rest).trim()).filter(|c| !c.is_empty())
}

/// Feeds one telemetry sample (`name`, `value` at `ts_ms`; `up` while the link is not
/// down) to a link's outage predictor, as the link actor does; returns the alert edge it
/// caused. Samples the predictor does not use are ignored.
pub fn observe_risk(
    risk: &mut RiskModel,
    name: &str,
    ts_ms: i64,
    value: f64,
    up: bool,
) -> Option<AlertEdge> {
    match name {
        "modem_esno_db" => risk.esno(ts_ms, value, up),
        "modem_lock" => {
            risk.lock(value >= 0.5);
            None
        }
        "ship_heading_deg" => risk.heading(ts_ms, value, up),
        "weather_rain_mm_h" => risk.rain(ts_ms, value, up),
        "ship_lat" => {
            risk.latitude(value);
            None
        }
        "ship_lon" => {
            risk.longitude(value);
            None
        }
        _ => None,
    }
}

/// The outage predictor of a link: its band physics, and its satellite's geometry and
/// surveyed blockage sectors when the inventory gives them (the built-in tuning with
/// `outage_below_db`).
pub fn risk_model(spec: &LinkSpec, outage_below_db: f64) -> RiskModel {
    risk_model_with(
        spec,
        RiskConfig {
            outage_below_db,
            ..RiskConfig::default()
        },
    )
}

/// [`risk_model`] with the tuning `cfg` (a link-risk model's, [`settings`]): the tuning
/// from `cfg`, the link (kind, band, geometry, sectors) from `spec`.
pub fn risk_model_with(spec: &LinkSpec, cfg: RiskConfig) -> RiskModel {
    let m = RiskModel::new(&spec.kind, spec.band.as_deref(), cfg);
    let geo = matches!(spec.kind.as_str(), "vsat")
        .then(|| {
            SatGeometry::new(
                spec.azimuth_deg,
                spec.elevation_deg,
                spec.sat_lon,
                &spec.blockage_zones,
                spec.band.as_deref(),
            )
        })
        .flatten();
    match geo {
        Some(g) => m.with_geometry(g),
        None => m,
    }
}

/// The predicted outage time (unix ms) of a `LinkRisk` alert's detail, if it has one.
pub fn predicted_outage_ms(detail: &str) -> Option<i64> {
    detail
        .rsplit_once("predicted_outage_ms=")
        .and_then(|(_, v)| v.trim().parse().ok())
}

/// Builds the child spec of a link actor.
pub fn link_child(args: LinkArgs) -> (ChildSpec, Addr<LinkMsg>) {
    let id = args.spec.id.clone();
    ChildSpec::actor(&id, "link", move || (LinkActor, args.clone()))
}

/// What a link push said: the next push goes out only when this moved.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Pushed {
    risk: f64,
    status: LinkStatus,
    firing: bool,
    outage_ms: Option<i64>,
    end_ms: Option<i64>,
}

/// A predicted start or end moving by less than this is not pushed again.
const PREDICTION_MOVE_MS: i64 = 5_000;

impl Pushed {
    /// Whether `now` is worth a push after `self`: status or alert changed,
    /// the risk moved by 0.05, or a predicted start or end appeared, went, or
    /// moved by [`PREDICTION_MOVE_MS`] (the shore plans its sync around them).
    fn differs(&self, now: &Pushed) -> bool {
        let moved = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() >= PREDICTION_MOVE_MS,
            (None, None) => false,
            _ => true,
        };
        self.status != now.status
            || self.firing != now.firing
            || (self.risk - now.risk).abs() >= 0.05
            || moved(self.outage_ms, now.outage_ms)
            || moved(self.end_ms, now.end_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seawatch_model::MetricSample;

    #[test]
    fn a_moved_prediction_is_pushed_again_and_jitter_is_not() {
        let a = Pushed {
            risk: 0.8,
            status: LinkStatus::Up,
            firing: true,
            outage_ms: Some(100_000),
            end_ms: Some(160_000),
        };
        assert!(!a.differs(&Pushed {
            risk: 0.82,
            outage_ms: Some(101_000),
            ..a
        }));
        assert!(a.differs(&Pushed {
            outage_ms: Some(90_000),
            ..a
        }));
        assert!(a.differs(&Pushed {
            end_ms: Some(200_000),
            ..a
        }));
        assert!(a.differs(&Pushed { end_ms: None, ..a }));
        assert!(a.differs(&Pushed { risk: 0.7, ..a }));
        assert!(a.differs(&Pushed { firing: false, ..a }));
    }

    /// A point a minute: the highest risk and the earliest predicted outage of the
    /// minute; a late event does not rewrite the past; six hours at most.
    #[test]
    fn risk_history_keeps_a_point_a_minute() {
        let mut h = std::collections::VecDeque::new();
        record_risk(&mut h, 120_000, 0.1, None);
        record_risk(&mut h, 150_000, 0.6, Some(900_000));
        record_risk(&mut h, 170_000, 0.2, Some(800_000));
        record_risk(&mut h, 185_000, 0.3, None);
        record_risk(&mut h, 100_000, 0.9, None);
        assert_eq!(
            h.iter().copied().collect::<Vec<_>>(),
            vec![
                RiskPoint {
                    ts_ms: 120_000,
                    risk: 0.6,
                    predicted_outage_ms: Some(800_000)
                },
                RiskPoint {
                    ts_ms: 180_000,
                    risk: 0.3,
                    predicted_outage_ms: None
                },
            ]
        );
        for m in 0..1000 {
            record_risk(&mut h, 240_000 + m * 60_000, 0.0, None);
        }
        assert_eq!(h.len(), RISK_HISTORY_POINTS);
        assert_eq!(h.back().unwrap().ts_ms, 240_000 + 999 * 60_000);
    }

    fn kpi(name: &str, v: f64, t: i64) -> Observation {
        Observation::from_metric(MetricSample {
            device: "modem-1".into(),
            name: name.into(),
            labels: vec![("link".into(), "vsat-1".into())],
            value: v,
            ts_ms: t,
        })
    }

    fn state() -> LinkState {
        LinkState {
            spec: LinkSpec {
                id: "vsat-1".into(),
                kind: "vsat".into(),
                band: Some("Ku".into()),
                capacity_mbps: Some(50.0),
                primary: true,
                ..Default::default()
            },
            status: LinkStatus::Unknown,
            esno_db: None,
            snr_db: None,
            ber: None,
            rx_power_dbm: None,
            locked: None,
            last_kpi_ms: None,
            since_ms: None,
            risk: 0.0,
            predicted_outage_ms: None,
            predicted_end_ms: None,
            risk_cause: "none",
        }
    }

    #[test]
    fn risk_detail_round_trips() {
        assert_eq!(
            predicted_outage_ms(&risk_detail(0.7, "rain", Some(1_741_932_000_123))),
            Some(1_741_932_000_123)
        );
        assert_eq!(predicted_outage_ms(&risk_detail(0.7, "trend", None)), None);
        let d = risk_detail_with_end(0.9, "sun_outage", Some(1_000), Some(2_000));
        assert_eq!(predicted_outage_ms(&d), Some(1_000));
        assert_eq!(predicted_end_ms(&d), Some(2_000));
        assert_eq!(risk_cause(&d), Some("sun_outage"));
        assert_eq!(predicted_end_ms(&risk_detail(0.7, "rain", Some(5))), None);
        // with the start's range: every field reads back, the range first
        let est = risk::Estimate {
            risk: 0.8,
            predicted_ms: Some(10_000),
            predicted_end_ms: Some(40_000),
            predicted_lo_ms: Some(7_000),
            predicted_hi_ms: Some(14_000),
            cause: risk::RiskCause::Blockage,
        };
        let d = risk_detail_of(&est);
        assert_eq!(risk_cause(&d), Some("blockage"));
        assert_eq!(predicted_outage_ms(&d), Some(10_000));
        assert_eq!(predicted_end_ms(&d), Some(40_000));
        assert_eq!(predicted_range_ms(&d), Some((7_000, Some(14_000))));
        let open = risk_detail_of(&risk::Estimate {
            predicted_hi_ms: None,
            predicted_end_ms: None,
            ..est
        });
        assert_eq!(predicted_range_ms(&open), Some((7_000, None)));
        assert_eq!(predicted_outage_ms(&open), Some(10_000));
        assert_eq!(predicted_range_ms(&risk_detail(0.7, "rain", Some(5))), None);
    }

    #[test]
    fn esno_drives_status_with_hysteresis() {
        let th = LinkThresholds::default();
        let mut s = state();
        s.apply(&kpi("modem_lock", 1.0, 0), &th);
        s.apply(&kpi("modem_esno_db", 11.0, 1), &th);
        assert_eq!(s.status, LinkStatus::Up);
        s.apply(&kpi("modem_esno_db", 4.0, 2), &th);
        assert_eq!(s.status, LinkStatus::Degraded);
        s.apply(&kpi("modem_esno_db", 5.1, 3), &th);
        assert_eq!(s.status, LinkStatus::Degraded, "within hysteresis");
        s.apply(&kpi("modem_esno_db", 5.4, 4), &th);
        assert_eq!(s.status, LinkStatus::Up);
        s.apply(&kpi("modem_lock", 0.0, 5), &th);
        assert_eq!(s.status, LinkStatus::Down);
        assert_eq!(s.since_ms, Some(5));
        s.apply(&kpi("modem_lock", 1.0, 6), &th);
        assert_eq!(s.status, LinkStatus::Up);
        s.apply(&kpi("modem_esno_db", -2.0, 7), &th);
        assert_eq!(s.status, LinkStatus::Down, "below the lock threshold");
    }
}
