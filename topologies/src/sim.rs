//! `seawatch sim run` (contracts §1, §4): replays a scenario through whole ships on
//! simulated time and reports what the platform made of it.
//!
//! Each ship of the scenario gets the real pipeline: decoders → bounded ingest queue →
//! event-log writer (its own thread) → roster → device, link and detector actors → alert sink →
//! the ship's correlator actor. The feeder steps the [`Simulator`] one simulated second
//! at a time, decodes its bytes and queues them (waiting for room: backpressure). Every
//! [`SimRunOptions::tick_ms`] of simulated time it closes a barrier, in order: the ingest
//! queue is drained and routed, every device and link actor has handled what it was
//! sent (and devices have seen the tick's time, for silence detection), then the
//! correlator ticks. So correlation sees telemetry in time order and the run is
//! deterministic, while simulated time runs as fast as the machine allows.
//!
//! The ship side never reads the scenario's `[[fault]]` list: only the telemetry the
//! simulator emits and the inventory (`devices`, `links`, `depends_on`).
//!
//! Ship-to-shore sync runs alongside, on the scenario's time ([`ShoreSim`]): after every
//! barrier the embedded shore's clock is moved to the barrier's time and sync may read
//! what the ships' logs held then. Each ship syncs over a simulated link built from its
//! primary link, out while the simulator has that link out ([`sync_link`]).
//!
//! The same engine ([`SimFleet`], [`play`], [`ShoreSim`]) runs `seawatch demo`.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use seawatch_actors::alert::AlertSink;
use seawatch_actors::detect::actor::{DetectorConfig, DetectorMsg};
use seawatch_actors::detect::peer::PeerMsg;
use seawatch_actors::device::DeviceMsg;
use seawatch_actors::incident::{CorrelatorConfig, CorrelatorMsg, IncidentBoard, StateFilter};
use seawatch_actors::ingest::metrics::IngestMetrics;
use seawatch_actors::ingest::pipeline::IngestSender;
use seawatch_actors::link::{
    predicted_end_ms, predicted_outage_ms, predicted_range_ms, risk_cause, LinkMsg,
};
use seawatch_actors::log_service::{EventSource, LogReader};
use seawatch_actors::push::PushBus;
use seawatch_actors::roster::Roster;
use seawatch_actors::sync::link::{LinkProfile, SimNet};
use seawatch_actors::sync::metrics::SyncMetrics;
use seawatch_actors::sync::ship::{
    run_ship_sync, ShipSyncParts, SnapshotSource as SyncSnapshotSource, SyncConfig, SyncShip,
};
use seawatch_actors::sync::shore::{
    run_shore, Commands, FleetStore, FleetView, MemFleetStore, Shore,
};
use seawatch_actors::sync::wire::Lane;
use seawatch_model::Observation;
use seawatch_model::{Alert, AlertClass, AlertState};
use seawatch_runtime::event_log::{Event, EventKind, EventLogConfig, EventLogError, FsyncPolicy};
use seawatch_runtime::supervision::{
    start_root, Addr, ChildSpec, SupervisorHandle, SupervisorSpec,
};

use seawatch_runtime::{Clock, Runtime, ShardKey};
use seawatch_simulators::generate::Simulator;
use seawatch_simulators::scenario::{FaultKind, LinkKind, Scenario, Ship as ScenarioShip};
use serde::{Deserialize, Serialize};

use crate::feed::{decode_into, send_all};
use crate::ship::{assemble_ship, ShipFamilies, ShipOptions};

/// How a run is played.
#[derive(Debug, Clone)]
pub struct SimRunOptions {
    /// Pace simulated time to the wall clock.
    pub realtime: bool,
    /// Draw a progress bar on stderr (only when it is a terminal).
    pub progress: bool,
    /// Where the ships' event logs go (a temporary directory when `None`).
    pub data: Option<PathBuf>,
    /// Simulated time between two correlation barriers, ms.
    pub tick_ms: i64,
    /// Correlator timing.
    pub correlator: CorrelatorConfig,
    /// The scenario file's folder: `[[rollout]]` bundle folders are relative to it
    /// (the working directory when `None`).
    pub base: Option<PathBuf>,
}

impl Default for SimRunOptions {
    fn default() -> Self {
        Self {
            realtime: false,
            progress: true,
            data: None,
            tick_ms: 5_000,
            correlator: CorrelatorConfig::default(),
            base: None,
        }
    }
}

/// `sim run`'s event-log durability: never fsync. A run's logs (in a temporary directory
/// unless [`SimRunOptions::data`] names one) are never reopened, so nothing reads what an
/// fsync would protect, and the per-barrier fsync of [`SimFleet::horizons`] sat on the
/// run's critical path (decision 0022). What sync reads, and when, is unchanged: the horizon still bounds it.
pub const SIM_LOG_FSYNC: FsyncPolicy = FsyncPolicy::Never;

/// `sim run`'s sync-cursor persistence period, in simulated time. At ~100× real time,
/// a minute of simulated time is about the real ship's once-a-second write rate in
/// wall time; the cursor is still written when sync stops (decision 0022).
pub const SIM_CURSOR_EVERY: Duration = Duration::from_secs(60);

/// Event counts of a run (contracts §4 `events`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventCounts {
    /// Telemetry records the simulator produced.
    pub generated: u64,
    /// Observations accepted by ships' ingest.
    pub ingested: u64,
    /// Events durably stored in ships' event logs (telemetry and incident events).
    pub stored_ship: u64,
    /// Distinct events stored at shore (measured at shore by (ship, seq)).
    pub synced_shore: u64,
    /// Events of ships' durable logs not stored at shore (measured at shore).
    pub lost: u64,
    /// Events shore applied more than once (measured at shore).
    pub duplicates_applied: u64,
}

/// One incident in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportIncident {
    /// Incident id.
    pub id: String,
    /// Ship id.
    pub ship: String,
    /// Device or link id.
    pub root_cause: String,
    /// Seconds since the scenario start.
    pub opened_at_s: f64,
    /// Seconds since the scenario start; null while open at the end.
    pub resolved_at_s: Option<f64>,
    /// When it became active, seconds since the scenario start, oldest first: its
    /// opening, each re-opening, root change, and new symptom after all had cleared.
    #[serde(default)]
    pub active_since_s: Vec<f64>,
    /// Alerts attached.
    pub alerts: u64,
    /// `minor`, `major` or `critical`.
    pub severity: String,
    /// When shore stored the incident's `opened` event (seconds since the scenario
    /// start; sync runs alongside the scenario, see [`ShoreSim`]); null if it never did.
    pub synced_to_shore_at_s: Option<f64>,
    /// Root-cause candidates, best first (the root cause first).
    #[serde(default)]
    pub candidates: Vec<seawatch_actors::incident::Candidate>,
    /// The alerts and topology facts that decided the root cause, in words.
    #[serde(default)]
    pub evidence: Vec<String>,
}

/// A link-outage prediction in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkRiskAlert {
    /// Ship id.
    pub ship: String,
    /// Link id.
    pub link: String,
    /// Seconds since the scenario start.
    pub raised_at_s: f64,
    /// Seconds since the scenario start.
    pub predicted_outage_at_s: Option<f64>,
    /// In [0, 1].
    pub risk: f64,
    /// Predicted end of the outage, seconds since the scenario start, when the cause
    /// gives one (sun: the end of the conjunction; blockage: the bearing leaving the
    /// sector if the turn goes on). Additive to contracts §4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_end_at_s: Option<f64>,
    /// Why: `blockage`, `sun_outage`, `rain`, `trend` or `margin`. Additive to
    /// contracts §4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// Early end of the predicted start's 10–90 % range, seconds since the scenario
    /// start. Additive to contracts §4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_lo_at_s: Option<f64>,
    /// Late end of that range (absent when the outage may not come at all). Additive to
    /// contracts §4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_hi_at_s: Option<f64>,
}

/// The `sim run` report (contracts §4). Later issues add fields by extending this
/// struct (serde keeps the order of declaration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimReport {
    /// Scenario name.
    pub scenario: String,
    /// Simulated seconds.
    pub simulated_s: f64,
    /// Wall seconds the run took.
    pub wall_s: f64,
    /// Event counts.
    pub events: EventCounts,
    /// Alerts raised (firing, deduplicated) over all ships.
    pub alerts: u64,
    /// Incidents over all ships, by ship then opening order.
    pub incidents: Vec<ReportIncident>,
    /// Link-outage predictions: every `LinkRisk` alert the ships' link actors fired.
    pub link_risk_alerts: Vec<LinkRiskAlert>,
    /// Actor restarts during the run.
    pub restarts: u64,
    /// The scenario's `[[rollout]]`s as shore played them (an addition to contracts §4;
    /// absent when the scenario has none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollouts: Vec<crate::sim_rollout::ReportRollout>,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The data directory or an event log could not be opened.
    #[error("{0}")]
    Io(String),
    /// The supervision tree failed.
    #[error(transparent)]
    Runtime(#[from] seawatch_runtime::RuntimeError),
}

/// One ship's pipeline in a [`SimFleet`].
pub struct SimShip {
    /// Ship id.
    pub id: String,
    sender: IngestSender,
    roster: Roster,
    correlator: Addr<CorrelatorMsg>,
    /// The ship's durable event log (read view).
    pub log: LogReader,
    metrics: IngestMetrics,
}

impl SimShip {
    /// The ship's roster (its device, link and detector actors, and its position).
    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    /// The ship's correlator.
    pub fn correlator(&self) -> &Addr<CorrelatorMsg> {
        &self.correlator
    }
}

/// How a [`SimFleet`] is built.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// Where the ships' event logs go (`DIR/eventlog/SHIP`).
    pub data: PathBuf,
    /// Correlator timing.
    pub correlator: CorrelatorConfig,
    /// When the ships' event logs fsync; `None` keeps the event log's default
    /// (`sim run` passes [`SIM_LOG_FSYNC`]).
    pub log_fsync: Option<FsyncPolicy>,
}

/// The ships of a scenario, each with the real pipeline, under one root supervisor:
/// what `sim run` and `seawatch demo` replay a scenario through.
pub struct SimFleet {
    /// Shared runtime services (`/metrics` of the demo reads its registry).
    pub runtime: Runtime,
    root: SupervisorHandle,
    /// One entry per ship of the scenario, in its order.
    pub ships: Vec<SimShip>,
    /// Every ship's incidents.
    pub board: IncidentBoard,
    /// Incident changes, for WebSocket sessions.
    pub push: PushBus,
    /// Every `LinkRisk` alert the ships' link actors fired, in arrival order.
    pub risk_alerts: Arc<Mutex<Vec<Alert>>>,
}

impl SimFleet {
    /// Builds and starts every ship of `scenario` (inventory only: the ships never see
    /// its faults); `extra` children start under the root after the ships.
    pub async fn start(
        scenario: &Scenario,
        opts: &FleetOptions,
        extra: Vec<ChildSpec>,
    ) -> Result<Self, SimError> {
        Self::start_with(scenario, opts, extra, |_, _, _, _| Ok(Vec::new())).await
    }

    /// [`SimFleet::start`], with `services` called for each ship once it is assembled:
    /// the children it returns go into that ship's subtree after its writer and followers
    /// (the demo's remediation service).
    pub async fn start_with<F>(
        scenario: &Scenario,
        opts: &FleetOptions,
        extra: Vec<ChildSpec>,
        mut services: F,
    ) -> Result<Self, SimError>
    where
        F: FnMut(
            &Runtime,
            &seawatch_model::Inventory,
            &crate::ship::ShipParts,
            &ShipOptions,
        ) -> Result<Vec<ChildSpec>, SimError>,
    {
        let runtime = Runtime::new(Clock::system());
        let board = IncidentBoard::new();
        let push = PushBus::new(1024);
        let risk_alerts: Arc<Mutex<Vec<Alert>>> = Arc::default();
        // link-outage predictions go to the correlator (as context) and into the report:
        // collected from what the ships emit, never from the faults
        let tap = {
            let risks = risk_alerts.clone();
            AlertSink::from_fn(move |a| {
                if a.class == AlertClass::OutageRisk && a.state == AlertState::Firing {
                    risks.lock().push(a);
                }
            })
        };
        let mut families = ShipFamilies::register(runtime.metrics());
        let mut root =
            SupervisorSpec::new("root", ShardKey::new("sim")).intensity(3, Duration::from_secs(60));
        let mut ships = Vec::new();
        for s in &scenario.ship {
            let mut log = EventLogConfig::new(&s.id);
            if let Some(policy) = opts.log_fsync {
                log.fsync = policy;
            }
            let ship_opts = ShipOptions {
                data: opts.data.clone(),
                log,
                clock: Clock::system(),
                correlator: opts.correlator,
                detectors: Some(DetectorConfig::default()),
                link_risk: Default::default(),
                board: board.clone(),
                push: push.clone(),
                tap: Some(tap.clone()),
                traces: Default::default(),
            };
            let inventory = crate::inventory::from_ship(s);
            let parts = assemble_ship(&runtime, &mut families, inventory.clone(), &ship_opts)
                .map_err(|e| SimError::Io(e.to_string()))?;
            let extra = services(&runtime, &inventory, &parts, &ship_opts)?;
            root = root.child(parts.subtree(extra));
            ships.push(SimShip {
                id: s.id.clone(),
                sender: parts.sender,
                roster: parts.roster,
                correlator: parts.correlator,
                log: parts.log.reader(),
                metrics: parts.metrics,
            });
        }
        for c in extra {
            root = root.child(c);
        }
        let (root, _join) = start_root(root, runtime.clone()).await?;
        Ok(Self {
            runtime,
            root,
            ships,
            board,
            push,
            risk_alerts,
        })
    }

    /// The link-outage predictions fired so far, as report entries (times relative to
    /// `start_ms`), sorted by time, ship and link.
    pub fn link_risk_alerts(&self, start_ms: i64) -> Vec<LinkRiskAlert> {
        let mut v: Vec<LinkRiskAlert> = self
            .risk_alerts
            .lock()
            .iter()
            .map(|a| LinkRiskAlert {
                ship: a.ship.clone(),
                link: a.subject.clone(),
                raised_at_s: (a.ts_ms - start_ms) as f64 / 1000.0,
                predicted_outage_at_s: predicted_outage_ms(&a.detail)
                    .map(|ms| (ms - start_ms) as f64 / 1000.0),
                risk: (a.score * 1000.0).round() / 1000.0,
                predicted_end_at_s: predicted_end_ms(&a.detail)
                    .map(|ms| (ms - start_ms) as f64 / 1000.0),
                cause: risk_cause(&a.detail).map(str::to_owned),
                predicted_lo_at_s: predicted_range_ms(&a.detail)
                    .map(|(lo, _)| (lo - start_ms) as f64 / 1000.0),
                predicted_hi_at_s: predicted_range_ms(&a.detail)
                    .and_then(|(_, hi)| hi)
                    .map(|ms| (ms - start_ms) as f64 / 1000.0),
            })
            .collect();
        v.sort_by(|a, b| {
            a.raised_at_s
                .total_cmp(&b.raised_at_s)
                .then_with(|| a.ship.cmp(&b.ship))
                .then_with(|| a.link.cmp(&b.link))
        });
        v
    }

    /// Observations accepted by the ships' ingest so far.
    pub fn ingested(&self) -> u64 {
        self.ships.iter().map(|s| s.metrics.accepted_total()).sum()
    }

    /// Every ship's durable end: what sync may ship (call between barriers, when no
    /// telemetry is in flight). A barrier makes everything queued before it durable (the
    /// log's writer syncs for it), so this only reads the watermarks.
    pub fn horizons(&self) -> Vec<u64> {
        self.ships
            .iter()
            .map(|s| s.log.durable_next_seq())
            .collect()
    }

    /// Adds and starts `child` under the fleet's root supervisor, after everything
    /// already there (so it stops first).
    pub async fn add_child(&self, child: ChildSpec) -> Result<(), SimError> {
        Ok(self.root.add_child(child).await?)
    }

    /// Stops the tree in order (the writers sync their logs last).
    pub async fn shutdown(&self) {
        self.root.shutdown().await;
    }
}

const CALL_TIMEOUT: Duration = Duration::from_secs(60);

async fn barrier(ship: &SimShip, now_ms: i64) -> Result<(), SimError> {
    ship.sender
        .barrier()
        .await
        .map_err(|e| SimError::Io(format!("ship {}: {e}", ship.id)))?;
    let devices = ship.roster.devices();
    let links = ship.roster.links();
    let dev_calls = devices.iter().map(|(_, a)| {
        a.call(
            |r| DeviceMsg::Tick {
                now_ms,
                reply: Some(r),
            },
            CALL_TIMEOUT,
        )
    });
    let link_calls = links
        .iter()
        .map(|(_, a)| a.call(LinkMsg::Snapshot, CALL_TIMEOUT));
    // a device restarting mid-run misses one tick: not an error of the run
    let _ = futures::future::join_all(dev_calls).await;
    // The device actors forwarded their samples to the detectors before answering; a
    // call to each detector, then to the peer actor, returns once those are scored, so
    // the alerts they raised reach the correlator before its tick (a run is
    // deterministic: it does not depend on how fast the detectors keep up).
    let detectors = ship.roster.detectors();
    let det_calls = detectors
        .iter()
        .map(|(_, a)| a.call(DetectorMsg::Snapshot, CALL_TIMEOUT));
    let _ = futures::future::join_all(det_calls).await;
    if let Some(peer) = ship.roster.peer() {
        let _ = peer.call(PeerMsg::Outliers, CALL_TIMEOUT).await;
    }
    // the link actors have taken what was routed to them before the tick
    let _ = futures::future::join_all(link_calls).await;
    ship.correlator
        .call(
            |r| CorrelatorMsg::Tick {
                now_ms,
                reply: Some(r),
            },
            CALL_TIMEOUT,
        )
        .await?;
    Ok(())
}

/// Simulated seconds the feeder thread may run ahead of the pipeline.
const CHUNKS_AHEAD: usize = 8;

/// One simulated second of decoded telemetry, per ship (in the order of the scenario).
struct Chunk {
    to_ms: i64,
    generated: u64,
    per_ship: Vec<Vec<Observation>>,
}

fn produce(
    mut sim: Simulator,
    ids: Vec<String>,
    senders: Vec<IngestSender>,
    until_ms: i64,
    tx: tokio::sync::mpsc::Sender<Chunk>,
) {
    let end_ms = sim.end_ms().min(until_ms);
    let mut t = sim.start_ms();
    // last second's count per ship: room reserved up front, not grown by doubling
    let mut sizes: Vec<usize> = ids.iter().map(|_| 0).collect();
    while t < end_ms {
        let to = (t + 1000).min(end_ms);
        let mut per_ship: Vec<Vec<Observation>> = sizes
            .iter()
            .map(|&n| Vec::with_capacity(n + n / 8))
            .collect();
        let mut generated = 0u64;
        sim.advance_with(to, |rec| {
            generated += 1;
            if let Some(i) = ids.iter().position(|id| id == rec.ship) {
                decode_into(&rec, &senders[i], &mut per_ship[i]);
            }
        });
        for (n, v) in sizes.iter_mut().zip(&per_ship) {
            *n = v.len();
        }
        if tx
            .blocking_send(Chunk {
                to_ms: to,
                generated,
                per_ship,
            })
            .is_err()
        {
            return; // the run stopped
        }
        t = to;
    }
}

struct Progress {
    on: bool,
    last: Instant,
}

impl Progress {
    fn show(&mut self, done_s: f64, total_s: f64, started: Instant, force: bool) {
        if !self.on || (!force && self.last.elapsed() < Duration::from_millis(200)) {
            return;
        }
        self.last = Instant::now();
        let frac = if total_s > 0.0 {
            (done_s / total_s).clamp(0.0, 1.0)
        } else {
            1.0
        };
        let width = 30;
        let filled = (frac * width as f64).round() as usize;
        let wall = started.elapsed().as_secs_f64();
        let speed = if wall > 0.0 { done_s / wall } else { 0.0 };
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r[{}{}] {:>3.0}% {:.0}/{:.0} s simulated, {:.1} s wall, {:.0}x ",
            "#".repeat(filled),
            ".".repeat(width - filled),
            frac * 100.0,
            done_s,
            total_s,
            wall,
            speed
        );
        if force {
            let _ = writeln!(err);
        }
        let _ = err.flush();
    }
}

/// How [`play`] paces a scenario.
#[derive(Debug, Clone)]
pub struct PlayOptions {
    /// Simulated time between two correlation barriers, ms (at least 1000).
    pub tick_ms: i64,
    /// Pace simulated time to the wall clock times this factor (1.0: real time); `None`:
    /// as fast as the machine allows.
    pub speed: Option<f64>,
    /// Draw a progress bar on stderr (only when it is a terminal).
    pub progress: bool,
    /// Stop at this unix ms even if the scenario goes on.
    pub until_ms: Option<i64>,
}

/// Plays `sim` through `fleet` and returns the telemetry records generated.
///
/// The feeder steps the simulator one simulated second at a time on its own thread and
/// queues the decoded telemetry (backpressure); every `tick_ms` the ships pass a barrier
/// (see the module docs) and `on_barrier(t)` runs with nothing in flight, so it sees
/// every ship's state as of `t`.
pub async fn play(
    fleet: &SimFleet,
    sim: Simulator,
    opts: &PlayOptions,
    on_barrier: &mut (dyn FnMut(i64) + Send),
) -> Result<u64, SimError> {
    let started = Instant::now();
    let start_ms = sim.start_ms();
    let end_ms = opts.until_ms.map_or(sim.end_ms(), |u| u.min(sim.end_ms()));
    let total_s = (end_ms - start_ms) as f64 / 1000.0;
    let tick_ms = opts.tick_ms.max(1000);
    let ships = &fleet.ships;
    let (chunks_tx, mut chunks) = tokio::sync::mpsc::channel::<Chunk>(CHUNKS_AHEAD);
    // Generation and decoding run on their own thread, a few simulated seconds ahead of
    // the pipeline (bounded channel: backpressure), so they overlap with storing,
    // routing and correlating.
    let producer = {
        let ids: Vec<String> = ships.iter().map(|s| s.id.clone()).collect();
        let senders: Vec<IngestSender> = ships.iter().map(|s| s.sender.clone()).collect();
        std::thread::Builder::new()
            .name("sim-feeder".into())
            .spawn(move || produce(sim, ids, senders, end_ms, chunks_tx))
            .map_err(|e| SimError::Io(format!("cannot start the feeder thread: {e}")))?
    };
    let mut progress = Progress {
        on: opts.progress && std::io::stderr().is_terminal(),
        last: Instant::now(),
    };
    let mut generated = 0u64;
    let mut t = start_ms;
    let wall0 = tokio::time::Instant::now();
    let mut result = Ok(());
    while let Some(chunk) = chunks.recv().await {
        generated += chunk.generated;
        for (s, items) in ships.iter().zip(chunk.per_ship) {
            if let Err(e) = send_all(&s.sender, items).await {
                result = Err(SimError::Io(format!("ship {}: {e}", s.id)));
            }
        }
        t = chunk.to_ms;
        if (t - start_ms) % tick_ms == 0 || t == end_ms {
            for s in ships {
                if let Err(e) = barrier(s, t).await {
                    result = Err(e);
                }
            }
            if result.is_ok() {
                on_barrier(t);
            }
        }
        if result.is_err() {
            break;
        }
        if let Some(speed) = opts.speed.filter(|s| *s > 0.0) {
            let due = Duration::from_secs_f64((t - start_ms) as f64 / 1000.0 / speed);
            tokio::time::sleep_until(wall0 + due).await;
        }
        progress.show((t - start_ms) as f64 / 1000.0, total_s, started, false);
    }
    drop(chunks);
    let _ = producer.join();
    progress.show((t - start_ms) as f64 / 1000.0, total_s, started, true);
    result.map(|()| generated)
}

/// Runs `scenario` and returns its report.
pub async fn run(scenario: &Scenario, opts: &SimRunOptions) -> Result<SimReport, SimError> {
    let started = Instant::now();
    let tmp;
    let data = match &opts.data {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir()
                .map_err(|e| SimError::Io(format!("temporary directory: {e}")))?;
            tmp.path().to_path_buf()
        }
    };
    let fleet = SimFleet::start(
        scenario,
        &FleetOptions {
            data: data.clone(),
            correlator: opts.correlator,
            log_fsync: Some(SIM_LOG_FSYNC),
        },
        Vec::new(),
    )
    .await?;
    let sim = Simulator::new(scenario);
    let start_ms = sim.start_ms();
    let end_ms = sim.end_ms();
    let shore = ShoreSim::start(
        fleet
            .ships
            .iter()
            .zip(&scenario.ship)
            .map(|(s, sc)| ShoreShip {
                id: s.id.clone(),
                log: s.log.clone(),
                profile: sync_link(scenario, sc),
                snapshot: None,
                cursor_every: Some(SIM_CURSOR_EVERY),
            })
            .collect(),
        data.join("sync"),
        start_ms,
        None,
        None,
    )?;
    let rollouts = crate::sim_rollout::RolloutSim::start(
        scenario,
        opts.base.as_deref().unwrap_or(std::path::Path::new(".")),
        fleet
            .ships
            .iter()
            .zip(&scenario.ship)
            .map(|(s, sc)| crate::sim_rollout::RolloutShip {
                id: s.id.clone(),
                profile: sync_link(scenario, sc),
            })
            .collect(),
        data.join("rollout"),
        start_ms,
        fleet.board.clone(),
    )?;
    let played = {
        let mut step = |t: i64| {
            shore.step(t, fleet.horizons());
            if let Some(r) = &rollouts {
                r.step(t);
            }
        };
        play(
            &fleet,
            sim,
            &PlayOptions {
                tick_ms: opts.tick_ms,
                speed: opts.realtime.then_some(1.0),
                progress: opts.progress,
                until_ms: None,
            },
            &mut step,
        )
        .await
    };
    // the rollouts play on after the scenario until they stop (at most an hour)
    let rollouts = match (rollouts, &played) {
        (Some(r), Ok(_)) => r.finish(end_ms)?,
        _ => Vec::new(),
    };
    let mut events = EventCounts {
        ingested: fleet.ingested(),
        ..EventCounts::default()
    };
    fleet.shutdown().await;
    let horizons = fleet.horizons();
    for s in &fleet.ships {
        events.stored_ship += s.log.durable_next_seq().saturating_sub(s.log.first_seq());
    }
    shore.step(end_ms, horizons);
    let audit = match played {
        Ok(generated) => {
            events.generated = generated;
            shore.finish(end_ms)?
        }
        Err(e) => {
            let _ = shore.finish(end_ms);
            return Err(e);
        }
    };
    let link_risk_alerts = fleet.link_risk_alerts(start_ms);
    events.synced_shore = audit.synced;
    events.lost = audit.lost;
    events.duplicates_applied = audit.duplicates;
    let incidents = fleet
        .board
        .list(None, StateFilter::All)
        .into_iter()
        .map(|i| {
            let at_shore = audit.incident_at_ms.get(&(i.ship.clone(), i.id.clone()));
            ReportIncident {
                synced_to_shore_at_s: at_shore.map(|&ms| (ms - start_ms) as f64 / 1000.0),
                id: i.id,
                ship: i.ship,
                root_cause: i.root_cause,
                opened_at_s: (i.opened_at_ms - start_ms) as f64 / 1000.0,
                resolved_at_s: i.resolved_at_ms.map(|r| (r - start_ms) as f64 / 1000.0),
                active_since_s: i
                    .active_since_ms
                    .iter()
                    .map(|t| (t - start_ms) as f64 / 1000.0)
                    .collect(),
                alerts: i.alerts,
                severity: i.severity.as_str().to_string(),
                candidates: i.candidates,
                evidence: i.evidence,
            }
        })
        .collect();
    Ok(SimReport {
        scenario: scenario.name.clone(),
        simulated_s: (end_ms - start_ms) as f64 / 1000.0,
        wall_s: started.elapsed().as_secs_f64(),
        events,
        alerts: fleet.board.alerts_total(),
        incidents,
        link_risk_alerts,
        restarts: fleet.runtime.metrics().actors().total_restarts(),
        rollouts,
    })
}

/// One-way latency of a link technology (GEO ~600 ms, LEO ~40 ms).
fn latency_of(kind: LinkKind) -> Duration {
    Duration::from_millis(match kind {
        LinkKind::Vsat => 600,
        LinkKind::Leo => 40,
        LinkKind::Lte => 60,
        LinkKind::PortWifi => 10,
    })
}

/// The simulated network link `ship` syncs over: its primary link (else its first), with
/// the link's capacity (8 Mbit/s when unset), its technology's latency, and an outage
/// wherever the simulated link is out: a `link_outage`, `blockage` or `rain_fade` of that
/// link (a rain cell takes out the link whose line of sight crosses its core; the others
/// only fade).
///
/// This is the link's physics (what the simulator does to the carrier), not detection:
/// the ships' detectors and correlators never see it.
pub fn sync_link(scenario: &Scenario, ship: &ScenarioShip) -> LinkProfile {
    let link = ship
        .link
        .iter()
        .find(|l| l.primary)
        .or_else(|| ship.link.first());
    let Some(l) = link else {
        return LinkProfile::new(8.0, latency_of(LinkKind::Vsat));
    };
    let outages = scenario
        .faults()
        .iter()
        .filter(|f| f.ship == ship.id)
        .filter(|f| match f.kind {
            FaultKind::LinkOutage
            | FaultKind::Blockage
            | FaultKind::RainFade
            | FaultKind::SunOutage => f.target == l.id,
            _ => false,
        })
        .map(|f| (Duration::from_secs(f.at_s), Duration::from_secs(f.end_s())))
        .collect();
    LinkProfile::new(l.capacity_mbps.unwrap_or(8.0), latency_of(l.kind)).with_outages(outages)
}

/// One ship as the embedded shore sees it.
pub struct ShoreShip {
    /// Ship id.
    pub id: String,
    /// The ship's durable event log (read view).
    pub log: LogReader,
    /// Its link to shore (outages as offsets from the scenario's start).
    pub profile: LinkProfile,
    /// The ship's state for the shore's fleet view (links, open incidents).
    pub snapshot: Option<Arc<dyn SyncSnapshotSource>>,
    /// How often sync persists its acknowledged positions, in simulated time; `None`
    /// keeps [`SyncConfig`]'s default (`sim run` passes [`SIM_CURSOR_EVERY`]).
    pub cursor_every: Option<Duration>,
}

/// What shore holds after sync, summed over ships.
#[derive(Debug, Clone, Default)]
pub struct ShoreAudit {
    /// Distinct events stored at shore.
    pub synced: u64,
    /// Events of the ships' logs shore does not hold.
    pub lost: u64,
    /// Events shore was offered again after storing them.
    pub duplicates: u64,
    /// When shore stored each incident's `opened` event: (ship, incident id) → unix ms.
    pub incident_at_ms: HashMap<(String, String), i64>,
}

/// Steps [`ShoreSim::step`] queues before it waits for the shore. Bounds how far sync's
/// reads trail the ship's writer (three barriers, ≈ 32,000 events at 2,000 log events/s
/// and 5 s barriers), so that they find the frames just appended in the event log's read
/// cache instead of decompressing and decoding them again; unbounded, a slow shore thread
/// fell behind by minutes of the log and decoded every frame a second time. It changes
/// when sync runs in wall time, not what it does in simulated time.
const STEPS_AHEAD: usize = 1;

/// Simulated seconds sync may take to drain after the scenario and its last outage.
const DRAIN_LIMIT: Duration = Duration::from_secs(6 * 3600);

/// A ship's log as far as the run has made it visible: sync may not read past the
/// horizon the feeding side set at its last barrier, so what shore receives, and when,
/// depends on simulated time only, not on how fast the ship's threads ran.
struct Horizon {
    log: LogReader,
    end: AtomicU64,
}

impl EventSource for Horizon {
    fn ship_id(&self) -> String {
        self.log.ship_id().to_owned()
    }
    fn first_seq(&self) -> u64 {
        self.log.first_seq()
    }
    fn durable_next_seq(&self) -> u64 {
        self.log
            .durable_next_seq()
            .min(self.end.load(Ordering::Acquire))
    }
    fn read_from(&self, seq: u64, max: usize) -> Result<Vec<Event>, EventLogError> {
        let end = self.end.load(Ordering::Acquire);
        if seq >= end {
            return Ok(Vec::new());
        }
        let max = max.min(usize::try_from(end - seq).unwrap_or(usize::MAX));
        let mut v = self.log.read_from(seq, max)?;
        v.retain(|e| e.seq < end);
        Ok(v)
    }
}

/// The shore's store, noting when each incident's `opened` event is first stored.
struct AuditStore {
    inner: MemFleetStore,
    clock: Clock,
    opened: Mutex<HashMap<(String, String), i64>>,
}

impl AuditStore {
    fn note(&self, ship: &str, e: &Event) {
        if e.kind != EventKind::Incident || self.inner.contains(ship, e.seq) {
            return;
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&e.body) else {
            return;
        };
        if v.get("event").and_then(|k| k.as_str()) != Some("opened") {
            return;
        }
        if let Some(id) = v
            .get("incident")
            .and_then(|i| i.get("id"))
            .and_then(|i| i.as_str())
        {
            self.opened
                .lock()
                .entry((ship.to_owned(), id.to_owned()))
                .or_insert(self.clock.now_ms());
        }
    }
}

impl FleetStore for AuditStore {
    fn store(&self, ship: &str, lane: Lane, events: &[Event], next: u64) -> (u64, u64) {
        if lane == Lane::Urgent {
            for e in events {
                self.note(ship, e);
            }
        }
        self.inner.store(ship, lane, events, next)
    }
    fn positions(&self, ship: &str) -> [u64; 4] {
        self.inner.positions(ship)
    }
    fn count(&self, ship: &str) -> u64 {
        self.inner.count(ship)
    }
    fn contains(&self, ship: &str, seq: u64) -> bool {
        self.inner.contains(ship, seq)
    }
    fn duplicates(&self, ship: &str) -> u64 {
        self.inner.duplicates(ship)
    }
}

enum Step {
    /// Run sync up to `t_ms`, then let it see the logs up to these ends.
    To { t_ms: i64, horizons: Vec<u64> },
    /// Run on until every ship's log is at shore (or the drain limit), stop, audit.
    Finish { after_ms: i64 },
    /// Answer once every step before this one is done.
    Done(tokio::sync::oneshot::Sender<()>),
}

/// An embedded shore receiving every ship's sync over a [`SimNet`], on simulated time.
///
/// Sync runs on its own thread, on a paused tokio runtime that only runs when told to:
/// [`ShoreSim::step`] moves its clock to the scenario time of a barrier (link latency,
/// capacity and the outage schedule play out on the way) and then shows it what the
/// ships' logs hold at that barrier. So sync runs alongside the scenario on the
/// scenario's time however fast or slowly the ships are played, and the same seed gives
/// the same arrivals.
pub struct ShoreSim {
    tx: std::sync::mpsc::SyncSender<Step>,
    thread: Option<std::thread::JoinHandle<Result<ShoreAudit, SimError>>>,
    fleet: FleetView,
}

impl ShoreSim {
    /// Starts sync for `ships` at unix ms `start_ms` (the scenario's second 0); ship sync
    /// cursors go under `dir`; fleet changes are published on `push` and sync is measured
    /// on `metrics` when given.
    pub fn start(
        ships: Vec<ShoreShip>,
        dir: PathBuf,
        start_ms: i64,
        push: Option<PushBus>,
        metrics: Option<SyncMetrics>,
    ) -> Result<Self, SimError> {
        let fleet = FleetView::default();
        let (tx, rx) = std::sync::mpsc::sync_channel(STEPS_AHEAD);
        let view = fleet.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sim-shore".into())
            .spawn(move || shore_thread(ships, dir, start_ms, (push, metrics), view, rx, ready_tx))
            .map_err(|e| SimError::Io(format!("cannot start the shore thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Self {
                tx,
                thread: Some(thread),
                fleet,
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err(match thread.join() {
                Ok(Err(e)) => e,
                _ => SimError::Io("the shore thread ended".into()),
            }),
        }
    }

    /// Queues `step`; waits while [`STEPS_AHEAD`] steps are queued (on a multi-thread
    /// runtime the worker is handed over while it waits). False if the shore has ended.
    fn send(&self, step: Step) -> bool {
        let send = || self.tx.send(step).is_ok();
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(send)
            }
            _ => send(),
        }
    }

    /// The shore's fleet view (`GET /api/fleet`).
    pub fn fleet(&self) -> FleetView {
        self.fleet.clone()
    }

    /// Runs sync up to unix ms `t_ms`, then lets it read each ship's log up to
    /// `horizons` (in the order ships were given). Returns at once unless the shore is
    /// [`STEPS_AHEAD`] steps behind.
    pub fn step(&self, t_ms: i64, horizons: Vec<u64>) {
        self.send(Step::To { t_ms, horizons });
    }

    /// Waits until sync has run every step given so far.
    pub async fn caught_up(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.send(Step::Done(tx)) {
            let _ = rx.await;
        }
    }

    /// Runs sync on from `end_ms` (the scenario's end) until every ship's log is stored at
    /// shore, at least past the last outage and at most [`DRAIN_LIMIT`]; stops it and
    /// audits shore by identity (ship, seq).
    pub fn finish(mut self, end_ms: i64) -> Result<ShoreAudit, SimError> {
        self.send(Step::Finish { after_ms: end_ms });
        self.join()
    }

    fn join(&mut self) -> Result<ShoreAudit, SimError> {
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| SimError::Io("the shore thread panicked".into()))?,
            None => Err(SimError::Io("the shore was already stopped".into())),
        }
    }
}

impl Drop for ShoreSim {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.send(Step::Finish { after_ms: i64::MIN });
            let _ = self.join();
        }
    }
}

fn shore_thread(
    ships: Vec<ShoreShip>,
    dir: PathBuf,
    start_ms: i64,
    (push, metrics): (Option<PushBus>, Option<SyncMetrics>),
    fleet: FleetView,
    rx: std::sync::mpsc::Receiver<Step>,
    ready: std::sync::mpsc::Sender<Result<(), SimError>>,
) -> Result<ShoreAudit, SimError> {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let e = SimError::Io(format!("shore runtime: {e}"));
            let _ = ready.send(Err(SimError::Io(e.to_string())));
            return Err(e);
        }
    };
    let t0 = rt.block_on(async { tokio::time::Instant::now() });
    let clock = rt.block_on(async { Clock::tokio(start_ms) });
    let last_outage_ms = ships
        .iter()
        .filter_map(|s| s.profile.outages.last().map(|o| o.1))
        .max()
        .map_or(start_ms, |d| start_ms + d.as_millis() as i64);
    let store = Arc::new(AuditStore {
        inner: MemFleetStore::new(0),
        clock: clock.clone(),
        opened: Mutex::new(HashMap::new()),
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let setup = rt.block_on(async {
        let net = SimNet::new();
        let mut shore = Shore::new("demo-shore", store.clone() as Arc<dyn FleetStore>)
            .with_shared(fleet, Commands::default());
        if let Some(p) = push {
            shore = shore.with_push(p);
        }
        if let Some(m) = &metrics {
            shore = shore.with_metrics(m.clone());
        }
        let shore_task = tokio::spawn(run_shore(
            shore,
            net.connect_shore(),
            clock.clone(),
            stop_rx.clone(),
        ));
        let mut tasks = Vec::new();
        let mut horizons = Vec::new();
        for s in &ships {
            net.add_ship(&s.id, s.profile.clone());
            let cursor = dir.join(&s.id);
            std::fs::create_dir_all(&cursor)
                .map_err(|e| SimError::Io(format!("{}: {e}", cursor.display())))?;
            let horizon = Arc::new(Horizon {
                log: s.log.clone(),
                end: AtomicU64::new(0),
            });
            horizons.push(horizon.clone());
            let source: Arc<dyn EventSource> = horizon;
            let mut sync_cfg = SyncConfig::new(cursor.join("sync.cursor"));
            if let Some(every) = s.cursor_every {
                sync_cfg.persist_every = every;
            }
            let engine = SyncShip::open(source, sync_cfg)
                .map_err(|e| SimError::Io(format!("ship {}: sync: {e}", s.id)))?;
            let conn = net
                .connect_ship(&s.id)
                .map_err(|e| SimError::Io(format!("ship {}: sync link: {e}", s.id)))?;
            let parts = ShipSyncParts {
                engine,
                conn,
                clock: clock.clone(),
                metrics: metrics.clone(),
                commands: None,
                snapshot: s.snapshot.clone(),
                route: None,
            };
            tasks.push(tokio::spawn(run_ship_sync(parts, stop_rx.clone())));
        }
        Ok::<_, SimError>((shore_task, tasks, horizons))
    });
    let (shore_task, tasks, horizons) = match setup {
        Ok(s) => {
            let _ = ready.send(Ok(()));
            s
        }
        Err(e) => {
            let _ = ready.send(Err(SimError::Io(e.to_string())));
            return Err(e);
        }
    };
    let at = |ms: i64| t0 + Duration::from_millis(ms.saturating_sub(start_ms).max(0) as u64);
    let mut finish_after = None;
    for step in rx.iter() {
        match step {
            Step::To { t_ms, horizons: h } => {
                let due = at(t_ms);
                rt.block_on(async move { tokio::time::sleep_until(due).await });
                for (hz, end) in horizons.iter().zip(h) {
                    hz.end.fetch_max(end, Ordering::AcqRel);
                }
            }
            Step::Finish { after_ms } => {
                finish_after = Some(after_ms);
                break;
            }
            Step::Done(tx) => {
                let _ = tx.send(());
            }
        }
    }
    // Dropped without `finish` (or told to stop at once): stop without draining.
    let drain = finish_after.is_some_and(|ms| ms != i64::MIN);
    let audit = rt.block_on(async {
        if drain {
            let after = finish_after.unwrap_or(start_ms).max(last_outage_ms);
            tokio::time::sleep_until(at(after)).await;
            let deadline = tokio::time::Instant::now() + DRAIN_LIMIT;
            while tokio::time::Instant::now() < deadline
                && ships.iter().zip(&horizons).any(|(s, h)| {
                    store.count(&s.id) < h.durable_next_seq().saturating_sub(h.first_seq())
                })
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let _ = stop_tx.send(true);
        for t in tasks {
            let _ = t.await;
        }
        let _ = shore_task.await;
        let mut audit = ShoreAudit::default();
        for s in &ships {
            let (first, end) = (s.log.first_seq(), s.log.durable_next_seq());
            audit.synced += store.count(&s.id);
            audit.lost += (first..end).filter(|&q| !store.contains(&s.id, q)).count() as u64;
            audit.duplicates += store.duplicates(&s.id);
        }
        audit.incident_at_ms = store.opened.lock().clone();
        audit
    });
    Ok(audit)
}
