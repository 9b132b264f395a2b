//! Device actors: one per inventoried device (or discovered sender), holding its health
//! and recent state, raising health alerts ([`alerts`]), and forwarding its metric
//! samples to its detector actor.

pub mod alerts;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;

use crate::alert::AlertSink;
use crate::detect::actor::{samples_of, DetectorAddr, DetectorMsg};
use crate::ingest::metrics::IngestMetrics;
use seawatch_model::sample::series_key;
use seawatch_model::{ObsKind, Observation, ShipId};

/// A device's health as its actor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Nothing heard yet.
    Unknown,
    /// Reporting, no recent errors.
    Up,
    /// Reporting errors (severity ≤ 3 in the last minute) or failing probes.
    Degraded,
    /// Probes fail and nothing is heard.
    Down,
}

/// Messages of a device actor.
pub enum DeviceMsg {
    /// New observations, in event order, with the time their batch was received.
    Observe {
        /// When ingest received the batch.
        received: Instant,
        /// The observations.
        items: Vec<Observation>,
    },
    /// A snapshot of the device's state.
    Snapshot(RpcReplyPort<DeviceState>),
    /// Event time moved on to `now_ms` (silence detection); the reply, if any, is sent
    /// once everything queued before it is handled (a barrier for simulated time).
    Tick {
        /// Current event time, unix ms.
        now_ms: i64,
        /// Answered after the tick is handled.
        reply: Option<RpcReplyPort<()>>,
    },
}

/// What a device actor knows.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeviceState {
    /// Device id.
    pub id: String,
    /// Device kind (`discovered` for senders not in the inventory).
    pub kind: String,
    /// Health.
    pub health: Health,
    /// Event time of the last observation, unix ms.
    pub last_seen_ms: Option<i64>,
    /// Log lines seen, by syslog severity 0..=7.
    pub logs_by_severity: [u64; 8],
    /// Metric samples seen.
    pub samples: u64,
    /// Last value of each metric series (name plus sorted labels).
    pub last_values: HashMap<String, f64>,
    /// Event time of the last error-or-worse log line.
    pub last_error_ms: Option<i64>,
}

/// Start arguments of a device actor.
#[derive(Clone)]
pub struct DeviceArgs {
    /// Device id.
    pub id: String,
    /// Device kind.
    pub kind: String,
    /// Where to report receipt-to-actor latency.
    pub metrics: Option<IngestMetrics>,
    /// The device's detector actor, which gets its metric samples.
    pub detector: Option<DetectorAddr>,
    /// Ship id (for alerts).
    pub ship: ShipId,
    /// Where health alerts go.
    pub alerts: AlertSink,
}

/// The device actor.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeviceActor;

const ERROR_WINDOW_MS: i64 = 60_000;
const MAX_SERIES: usize = 256;

impl DeviceState {
    /// Takes a batch of observations (in event order), then assesses health once, as of
    /// the last one: the same result as assessing after each, since the assessment
    /// depends only on the state after the batch and the time of its last observation.
    fn observe_all(&mut self, items: &[Observation]) {
        for obs in items {
            self.observe(obs);
        }
        if let Some(last) = items.last() {
            self.health = self.assess(last.ts_ms);
        }
    }

    fn observe(&mut self, obs: &Observation) {
        self.last_seen_ms = Some(self.last_seen_ms.map_or(obs.ts_ms, |t| t.max(obs.ts_ms)));
        match &obs.kind {
            ObsKind::Log(l) => {
                self.logs_by_severity[l.severity.min(7) as usize] += 1;
                if l.severity <= 3 {
                    self.last_error_ms = Some(obs.ts_ms);
                }
            }
            ObsKind::Metric(m) => {
                self.samples += 1;
                let key = series_key(&m.name, &m.labels);
                if self.last_values.len() < MAX_SERIES || self.last_values.contains_key(&key) {
                    self.last_values.insert(key, m.value);
                }
            }
        }
    }

    fn assess(&self, now_ms: i64) -> Health {
        let probe_failing = self
            .last_values
            .get("probe_success")
            .is_some_and(|v| *v < 0.5);
        let oper_down = self
            .last_values
            .iter()
            .any(|(k, v)| k.starts_with("ifOperStatus") && *v == 2.0);
        let recent_error = self
            .last_error_ms
            .is_some_and(|t| now_ms - t <= ERROR_WINDOW_MS);
        if probe_failing {
            Health::Down
        } else if recent_error || oper_down {
            Health::Degraded
        } else {
            Health::Up
        }
    }
}

impl Actor for DeviceActor {
    type Msg = DeviceMsg;
    type State = (
        DeviceState,
        Option<IngestMetrics>,
        alerts::HealthAlerts,
        Option<DetectorAddr>,
    );
    type Arguments = DeviceArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<DeviceMsg>,
        args: DeviceArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        // A restarted device actor starts from an empty state on purpose: its state is a
        // cache of recent telemetry, rebuilt within one metric interval.
        let health = alerts::HealthAlerts::new(
            &args.ship,
            &args.id,
            args.alerts.clone(),
            alerts::HealthRules::default(),
        );
        Ok((
            DeviceState {
                id: args.id,
                kind: args.kind,
                health: Health::Unknown,
                last_seen_ms: None,
                logs_by_severity: [0; 8],
                samples: 0,
                last_values: HashMap::new(),
                last_error_ms: None,
            },
            args.metrics,
            health,
            args.detector,
        ))
    }

    async fn handle(
        &self,
        _myself: ActorRef<DeviceMsg>,
        msg: DeviceMsg,
        (state, metrics, health, detector): &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            DeviceMsg::Observe { received, items } => {
                state.observe_all(&items);
                for obs in &items {
                    health.observe(obs);
                }
                if let Some(d) = detector {
                    forward_samples(d, &items);
                }
                if let Some(m) = metrics {
                    m.to_device(received.elapsed(), items.len() as u64);
                }
            }
            DeviceMsg::Snapshot(reply) => {
                let _ = reply.send(state.clone());
            }
            DeviceMsg::Tick { now_ms, reply } => {
                health.tick(now_ms);
                if let Some(r) = reply {
                    let _ = r.send(());
                }
            }
        }
        Ok(())
    }
}

/// Shared handle type for a device actor's address.
pub type DeviceAddr = seawatch_runtime::supervision::Addr<DeviceMsg>;

/// Sends a batch's metric samples to the device's detector, one message per batch (a
/// detector that is restarting misses them: it rebuilds from later samples).
fn forward_samples(detector: &DetectorAddr, items: &[Observation]) {
    let samples = samples_of(items);
    if !samples.is_empty() {
        let _ = detector.send(DetectorMsg::Samples(samples));
    }
}

/// Builds the child spec of a device actor that raises no alerts and has no detector.
pub fn device_child(
    id: &str,
    kind: &str,
    metrics: Option<IngestMetrics>,
) -> (seawatch_runtime::supervision::ChildSpec, DeviceAddr) {
    device_child_with(id, kind, metrics, "", AlertSink::none(), None)
}

/// Builds the child spec of a device actor of `ship` raising health alerts into
/// `alerts` and forwarding its metric samples to `detector`.
pub fn device_child_with(
    id: &str,
    kind: &str,
    metrics: Option<IngestMetrics>,
    ship: impl Into<ShipId>,
    alerts: AlertSink,
    detector: Option<DetectorAddr>,
) -> (seawatch_runtime::supervision::ChildSpec, DeviceAddr) {
    let args = Arc::new(DeviceArgs {
        id: id.to_string(),
        kind: kind.to_string(),
        metrics,
        detector,
        ship: ship.into(),
        alerts,
    });
    seawatch_runtime::supervision::ChildSpec::actor(id, "device", move || {
        (DeviceActor, (*args).clone())
    })
}
