//! `seawatch sim run` (contracts §1, §4): replays a scenario through whole ships on
//! simulated time and reports what the platform made of it.
//!
//! Each ship of the scenario gets the real pipeline: decoders → bounded ingest queue →
//! event-log writer (its own thread) → router → device and link actors → alert sink →
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

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use seawatch_actors::device::DeviceMsg;
use seawatch_actors::incident::{
    correlator_child, sink_to, CorrelatorArgs, CorrelatorConfig, CorrelatorMsg, IncidentBoard,
    IncidentMetrics, StateFilter,
};
use seawatch_actors::ingest::metrics::IngestMetrics;
use seawatch_actors::ingest::pipeline::{
    queue, writer_child, IngestSender, PipelineConfig, Router, WriterArgs,
};
use seawatch_actors::ingest::record::Observation;
use seawatch_actors::link::{LinkMetrics, LinkMsg};
use seawatch_actors::push::PushBus;
use seawatch_actors::store::clickhouse::EventSource;
use seawatch_actors::sync::link::{LinkProfile, SimNet};
use seawatch_actors::sync::ship::{run_ship_sync, ShipSyncParts, SyncConfig, SyncShip};
use seawatch_actors::sync::shore::{run_shore, FleetStore, MemFleetStore, Shore};
use seawatch_runtime::event_log::{EventLog, EventLogConfig};
use seawatch_runtime::supervision::{start_root, Addr, SupervisorSpec};
use seawatch_runtime::{Clock, Metrics, Runtime, ShipId};
use seawatch_simulators::generate::Simulator;
use seawatch_simulators::scenario::{LinkKind, Scenario};
use serde::{Deserialize, Serialize};

use crate::feed::{decode_into, send_all};
use crate::ship::{ship_subtree_of, ship_supervisors};

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
}

impl Default for SimRunOptions {
    fn default() -> Self {
        Self {
            realtime: false,
            progress: true,
            data: None,
            tick_ms: 5_000,
            correlator: CorrelatorConfig::default(),
        }
    }
}

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
    /// Alerts attached.
    pub alerts: u64,
    /// `minor`, `major` or `critical`.
    pub severity: String,
    /// When shore had it. Null: the run drains sync after the scenario (see
    /// [`sync_to_shore`]), so shore arrival times would not be the scenario's.
    pub synced_to_shore_at_s: Option<f64>,
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
    /// Link-outage predictions (none until the prediction issue lands).
    pub link_risk_alerts: Vec<LinkRiskAlert>,
    /// Actor restarts during the run.
    pub restarts: u64,
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

struct SimShip {
    id: String,
    sender: IngestSender,
    router: Arc<Router>,
    correlator: Addr<CorrelatorMsg>,
    log: Arc<RwLock<EventLog>>,
    metrics: IngestMetrics,
}

const CALL_TIMEOUT: Duration = Duration::from_secs(60);

async fn barrier(ship: &SimShip, now_ms: i64) -> Result<(), SimError> {
    ship.sender
        .barrier()
        .await
        .map_err(|e| SimError::Io(format!("ship {}: {e}", ship.id)))?;
    let devices = ship.router.devices();
    let links = ship.router.links();
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
    tx: tokio::sync::mpsc::Sender<Chunk>,
) {
    let end_ms = sim.end_ms();
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
    let runtime = Runtime::new(Clock::system());
    let board = IncidentBoard::new();
    let push = PushBus::new(1024);
    let incident_metrics = IncidentMetrics::register(runtime.metrics());
    let link_metrics = LinkMetrics::register(runtime.metrics());
    let mut root =
        SupervisorSpec::new("root", &ShipId::new("sim")).intensity(3, Duration::from_secs(60));
    let mut ships = Vec::new();
    for s in &scenario.ship {
        let ship = ShipId::new(&s.id);
        let inventory = crate::inventory::from_ship(s);
        let dir = data.join("eventlog").join(&s.id);
        let log = EventLog::open(&dir, EventLogConfig::new(&s.id))
            .map_err(|e| SimError::Io(format!("event log in {}: {e}", dir.display())))?;
        let log = Arc::new(RwLock::new(log));
        // ingest metrics are labelled by ship but registered once per registry
        let metrics = IngestMetrics::register(&Metrics::new(), &s.id);
        let pipeline = PipelineConfig::default();
        let (sender, slot) = queue(&pipeline, metrics.clone());
        let (mut children, tree) = ship_supervisors(&ship);
        let router = Router::new(
            inventory.clone(),
            tree.devices.clone(),
            tree.links.clone(),
            metrics.clone(),
            link_metrics.clone(),
        );
        let (correlator, correlator_addr) = correlator_child(CorrelatorArgs {
            ship: s.id.clone(),
            inventory,
            config: opts.correlator,
            board: board.clone(),
            push: push.clone(),
            log: Some(log.clone()),
            metrics: incident_metrics.clone(),
        });
        router.set_alert_sink(sink_to(correlator_addr.clone()));
        let (writer, _) = writer_child(WriterArgs {
            log: log.clone(),
            slot,
            router: router.clone(),
            metrics: metrics.clone(),
            config: pipeline,
            clock: Clock::system(),
        });
        // the correlator starts before the writer, so no alert finds it missing
        children.insert(0, correlator);
        children.push(writer);
        root = root.child(ship_subtree_of(&ship, children));
        ships.push(SimShip {
            id: s.id.clone(),
            sender,
            router,
            correlator: correlator_addr,
            log,
            metrics,
        });
    }
    let (root, _join) = start_root(root, runtime.clone()).await?;
    for s in &ships {
        s.router.reconcile().await?;
    }

    // Generation and decoding run on their own thread, a few simulated seconds ahead of
    // the pipeline (bounded channel: backpressure), so they overlap with storing,
    // routing and correlating.
    let sim = Simulator::new(scenario);
    let start_ms = sim.start_ms();
    let end_ms = sim.end_ms();
    let total_s = (end_ms - start_ms) as f64 / 1000.0;
    let tick_ms = opts.tick_ms.max(1000);
    let (chunks_tx, mut chunks) = tokio::sync::mpsc::channel::<Chunk>(CHUNKS_AHEAD);
    let producer = {
        let ids: Vec<String> = ships.iter().map(|s| s.id.clone()).collect();
        let senders: Vec<IngestSender> = ships.iter().map(|s| s.sender.clone()).collect();
        std::thread::Builder::new()
            .name("sim-feeder".into())
            .spawn(move || produce(sim, ids, senders, chunks_tx))
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
            for s in &ships {
                if let Err(e) = barrier(s, t).await {
                    result = Err(e);
                }
            }
        }
        if result.is_err() {
            break;
        }
        if opts.realtime {
            tokio::time::sleep_until(wall0 + Duration::from_millis((t - start_ms) as u64)).await;
        }
        progress.show((t - start_ms) as f64 / 1000.0, total_s, started, false);
    }
    drop(chunks);
    let _ = producer.join();
    progress.show((t - start_ms) as f64 / 1000.0, total_s, started, true);
    let mut events = EventCounts {
        generated,
        ..EventCounts::default()
    };
    for s in &ships {
        events.ingested += s.metrics.accepted_total();
    }
    root.shutdown().await;
    result?;
    for s in &ships {
        let mut log = s.log.write();
        let _ = log.sync();
        events.stored_ship += log.durable_next_seq().saturating_sub(log.first_seq());
    }
    let shore = {
        let ships: Vec<(String, Arc<RwLock<EventLog>>, LinkProfile)> = scenario
            .ship
            .iter()
            .zip(&ships)
            .map(|(sc, s)| (s.id.clone(), s.log.clone(), link_profile(sc)))
            .collect();
        let dir = data.join("sync");
        std::thread::Builder::new()
            .name("sim-sync".into())
            .spawn(move || sync_to_shore(ships, dir, end_ms))
            .map_err(|e| SimError::Io(format!("cannot start the sync thread: {e}")))?
            .join()
            .map_err(|_| SimError::Io("the sync thread panicked".into()))??
    };
    events.synced_shore = shore.synced;
    events.lost = shore.lost;
    events.duplicates_applied = shore.duplicates;
    let incidents = board
        .list(None, StateFilter::All)
        .into_iter()
        .map(|i| ReportIncident {
            id: i.id,
            ship: i.ship,
            root_cause: i.root_cause,
            opened_at_s: (i.opened_at_ms - start_ms) as f64 / 1000.0,
            resolved_at_s: i.resolved_at_ms.map(|r| (r - start_ms) as f64 / 1000.0),
            alerts: i.alerts,
            severity: i.severity.as_str().to_string(),
            synced_to_shore_at_s: None,
        })
        .collect();
    Ok(SimReport {
        scenario: scenario.name.clone(),
        simulated_s: total_s,
        wall_s: started.elapsed().as_secs_f64(),
        events,
        alerts: board.alerts_total(),
        incidents,
        link_risk_alerts: Vec::new(),
        restarts: runtime.metrics().actors().total_restarts(),
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

/// The simulated network link a ship syncs over: its primary link (else its first),
/// with the link's capacity (8 Mbit/s when unset) and its technology's latency.
fn link_profile(ship: &seawatch_simulators::scenario::Ship) -> LinkProfile {
    let link = ship
        .link
        .iter()
        .find(|l| l.primary)
        .or_else(|| ship.link.first());
    match link {
        Some(l) => LinkProfile::new(l.capacity_mbps.unwrap_or(8.0), latency_of(l.kind)),
        None => LinkProfile::new(8.0, latency_of(LinkKind::Vsat)),
    }
}

/// What shore holds after sync, summed over ships.
#[derive(Debug, Clone, Copy, Default)]
struct ShoreAudit {
    synced: u64,
    lost: u64,
    duplicates: u64,
}

/// Simulated seconds sync may take to drain after the scenario.
const DRAIN_LIMIT: Duration = Duration::from_secs(6 * 3600);

/// Ships every ship's durable event log to an embedded shore over a [`SimNet`] link
/// and audits shore by identity (ship, seq).
///
/// Runs after the scenario, once every outage is over: the sync drains on its own
/// paused tokio runtime, so link latency and capacity play out on simulated time (from
/// `end_ms`) however fast the machine is, bounded by [`DRAIN_LIMIT`]. The scenario's
/// outages are not replayed on the link (they have ended by then).
fn sync_to_shore(
    ships: Vec<(String, Arc<RwLock<EventLog>>, LinkProfile)>,
    dir: PathBuf,
    end_ms: i64,
) -> Result<ShoreAudit, SimError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .map_err(|e| SimError::Io(format!("sync runtime: {e}")))?;
    rt.block_on(async move {
        let clock = Clock::tokio(end_ms);
        let net = SimNet::new();
        let store = Arc::new(MemFleetStore::new(0));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let shore = Shore::new("sim-shore", store.clone() as Arc<dyn FleetStore>);
        let shore_task = tokio::spawn(run_shore(
            shore,
            net.connect_shore(),
            clock.clone(),
            stop_rx.clone(),
        ));
        let mut tasks = Vec::new();
        for (id, log, profile) in &ships {
            net.add_ship(id, profile.clone());
            let cursor = dir.join(id);
            std::fs::create_dir_all(&cursor)
                .map_err(|e| SimError::Io(format!("{}: {e}", cursor.display())))?;
            let source: Arc<dyn EventSource> = log.clone();
            let engine = SyncShip::open(source, SyncConfig::new(cursor.join("sync.cursor")))
                .map_err(|e| SimError::Io(format!("ship {id}: sync: {e}")))?;
            let conn = net
                .connect_ship(id)
                .map_err(|e| SimError::Io(format!("ship {id}: sync link: {e}")))?;
            let parts = ShipSyncParts {
                engine,
                conn,
                clock: clock.clone(),
                metrics: None,
                commands: None,
                snapshot: None,
            };
            tasks.push(tokio::spawn(run_ship_sync(parts, stop_rx.clone())));
        }
        let want: Vec<u64> = ships
            .iter()
            .map(|(_, log, _)| {
                let log = log.read();
                log.durable_next_seq().saturating_sub(log.first_seq())
            })
            .collect();
        let deadline = tokio::time::Instant::now() + DRAIN_LIMIT;
        while tokio::time::Instant::now() < deadline
            && ships
                .iter()
                .zip(&want)
                .any(|((id, _, _), &w)| store.count(id) < w)
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = stop_tx.send(true);
        for t in tasks {
            let _ = t.await;
        }
        let _ = shore_task.await;
        let mut audit = ShoreAudit::default();
        for (id, log, _) in &ships {
            let (first, end) = {
                let log = log.read();
                (log.first_seq(), log.durable_next_seq())
            };
            audit.synced += store.count(id);
            audit.lost += (first..end).filter(|&s| !store.contains(id, s)).count() as u64;
            audit.duplicates += store.duplicates(id);
        }
        Ok(audit)
    })
}
