//! The ship's ingest pipeline: listeners → a bounded queue → the event-log writer, which
//! appends each batch durably and routes its observations to device and link actors.
//!
//! Backpressure: the queue is bounded. TCP and HTTP readers `await` a free slot, so a
//! pipeline that falls behind slows its senders down; UDP cannot wait, so a full queue
//! drops the datagram's events and counts them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use parking_lot::{Mutex, RwLock};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use seawatch_runtime::event_log::{EventLog, EventLogError, NewEvent};
use seawatch_runtime::supervision::{Addr, ChildSpec, SupervisorMsg};
use seawatch_runtime::RuntimeError;
use tokio::sync::mpsc;

use super::metrics::IngestMetrics;
use super::record::{IngestBatch, ObsKind, Observation, Source};
use crate::alert::AlertSink;
use crate::detect::actor::{detector_child, DetectorAddr, DetectorWiring};
use crate::device::{device_child_with, DeviceAddr, DeviceMsg};
use crate::inventory::Inventory;
use crate::link::{link_child, LinkArgs, LinkMetrics, LinkMsg, LinkThresholds};

/// Queue and batch sizes.
#[derive(Debug, Clone, Copy)]
pub struct PipelineConfig {
    /// Batches the queue holds before senders wait (or UDP drops).
    pub queue_batches: usize,
    /// Most events appended as one event-log batch.
    pub max_append_events: usize,
    /// How often an idle writer checks for a due fsync.
    pub idle_tick: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            queue_batches: 64,
            max_append_events: 8192,
            idle_tick: Duration::from_millis(20),
        }
    }
}

/// Why a batch was not taken.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    /// The queue is full (only from [`IngestSender::try_send`]).
    #[error("ingest queue full")]
    Full,
    /// The pipeline is shut down.
    #[error("ingest pipeline closed")]
    Closed,
}

/// The listeners' side of the queue. Cheap to clone.
#[derive(Clone, Debug)]
pub struct IngestSender {
    tx: mpsc::Sender<IngestBatch>,
    metrics: IngestMetrics,
}

impl IngestSender {
    /// Queues a batch, waiting for room (backpressure).
    pub async fn send(&self, batch: IngestBatch) -> Result<(), SendError> {
        let (source, n) = (batch.source, batch.items.len() as u64);
        if n == 0 {
            return Ok(());
        }
        self.tx.send(batch).await.map_err(|_| SendError::Closed)?;
        self.metrics.accepted(source, n);
        Ok(())
    }

    /// Queues a batch if there is room now; a full queue counts the events as dropped.
    pub fn try_send(&self, batch: IngestBatch) -> Result<(), SendError> {
        let (source, n) = (batch.source, batch.items.len() as u64);
        if n == 0 {
            return Ok(());
        }
        match self.tx.try_send(batch) {
            Ok(()) => {
                self.metrics.accepted(source, n);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.dropped(source, n);
                Err(SendError::Full)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SendError::Closed),
        }
    }

    /// Waits until every batch queued before this call is stored and routed to its
    /// actors.
    pub async fn barrier(&self) -> Result<(), SendError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let b = IngestBatch {
            source: Source::Simulator,
            received: Instant::now(),
            items: Vec::new(),
            done: Some(tx),
        };
        self.tx.send(b).await.map_err(|_| SendError::Closed)?;
        rx.await.map_err(|_| SendError::Closed)
    }

    /// The ship's ingest metrics.
    pub fn metrics(&self) -> &IngestMetrics {
        &self.metrics
    }
}

/// The writer's side of the queue, handed from one writer incarnation to the next.
pub type QueueSlot = Arc<Mutex<Option<mpsc::Receiver<IngestBatch>>>>;

/// Creates the bounded queue.
pub fn queue(cfg: &PipelineConfig, metrics: IngestMetrics) -> (IngestSender, QueueSlot) {
    let (tx, rx) = mpsc::channel(cfg.queue_batches.max(1));
    (IngestSender { tx, metrics }, Arc::new(Mutex::new(Some(rx))))
}

/// Finds (or creates) the device and link actors that observations belong to.
pub struct Router {
    ship: String,
    inventory: RwLock<Inventory>,
    devices: DashMap<String, DeviceAddr>,
    links: DashMap<String, Addr<LinkMsg>>,
    devices_sup: Addr<SupervisorMsg>,
    links_sup: Addr<SupervisorMsg>,
    metrics: IngestMetrics,
    link_metrics: LinkMetrics,
    alerts: RwLock<AlertSink>,
    push: RwLock<Option<crate::push::PushBus>>,
    timeout: Duration,
    detectors: std::sync::OnceLock<DetectorWiring>,
    detector_addrs: DashMap<String, DetectorAddr>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("ship", &self.ship)
            .field("devices", &self.devices.len())
            .field("links", &self.links.len())
            .finish()
    }
}

impl Router {
    /// A router adding actors under the given supervisors.
    pub fn new(
        inventory: Inventory,
        devices_sup: Addr<SupervisorMsg>,
        links_sup: Addr<SupervisorMsg>,
        metrics: IngestMetrics,
        link_metrics: LinkMetrics,
    ) -> Arc<Self> {
        Arc::new(Self {
            ship: inventory.ship.clone(),
            inventory: RwLock::new(inventory),
            devices: DashMap::new(),
            links: DashMap::new(),
            devices_sup,
            links_sup,
            metrics,
            link_metrics,
            alerts: RwLock::new(AlertSink::none()),
            push: RwLock::new(None),
            timeout: Duration::from_secs(10),
            detectors: std::sync::OnceLock::new(),
            detector_addrs: DashMap::new(),
        })
    }

    /// Where device and link actors started from now on raise their alerts (set it
    /// before [`Router::reconcile`]).
    pub fn set_alert_sink(&self, sink: AlertSink) {
        *self.alerts.write() = sink;
    }

    /// Where link actors started from now on push their state and outage risk (set it
    /// before [`Router::reconcile`]).
    pub fn set_push(&self, bus: crate::push::PushBus) {
        *self.push.write() = Some(bus);
    }

    fn device_spec(
        &self,
        id: &str,
        kind: &str,
        detector: Option<DetectorAddr>,
    ) -> (ChildSpec, DeviceAddr) {
        device_child_with(
            id,
            kind,
            Some(self.metrics.clone()),
            &self.ship,
            self.alerts.read().clone(),
            detector,
        )
    }

    /// The link actors known now.
    pub fn links(&self) -> Vec<(String, Addr<LinkMsg>)> {
        self.links
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect()
    }

    /// The inventory in use.
    pub fn inventory(&self) -> Inventory {
        self.inventory.read().clone()
    }

    async fn add(&self, sup: &Addr<SupervisorMsg>, spec: ChildSpec) -> Result<(), RuntimeError> {
        match sup
            .call(|r| SupervisorMsg::AddChild(spec, r), self.timeout)
            .await?
        {
            Ok(()) | Err(RuntimeError::DuplicateChild(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// From now on, every new device actor gets a detector actor (started under
    /// `wiring.supervisor` first) and forwards its metric samples to it. Only the first
    /// call counts; returns whether it did.
    pub fn attach_detectors(&self, wiring: DetectorWiring) -> bool {
        self.detectors.set(wiring).is_ok()
    }

    /// The detector actor of `device`, if it has one.
    pub fn detector_of(&self, device: &str) -> Option<DetectorAddr> {
        self.detector_addrs.get(device).map(|a| a.clone())
    }

    /// Starts `device`'s detector actor if detectors are attached.
    async fn start_detector(&self, device: &str, kind: &str) -> Option<DetectorAddr> {
        let wiring = self.detectors.get()?;
        if let Some(a) = self.detector_addrs.get(device) {
            return Some(a.clone());
        }
        let (spec, addr) = detector_child(wiring.args(device, kind));
        match self.add(&wiring.supervisor, spec).await {
            Ok(()) => {
                self.detector_addrs.insert(device.to_string(), addr.clone());
                Some(addr)
            }
            Err(e) => {
                tracing::warn!(ship = %self.ship, device, error = %e, "cannot start detector actor");
                None
            }
        }
    }

    /// Starts the actors of the current inventory, or reconciles after
    /// [`Router::reload`]: new devices and links get actors, removed ones are stopped.
    pub async fn reconcile(&self) -> Result<(), RuntimeError> {
        let inv = self.inventory.read().clone();
        for d in &inv.devices {
            if !self.devices.contains_key(&d.id) {
                let detector = self.start_detector(&d.id, &d.kind).await;
                let (spec, addr) = self.device_spec(&d.id, &d.kind, detector);
                self.add(&self.devices_sup, spec).await?;
                self.devices.insert(d.id.clone(), addr);
            }
        }
        for l in &inv.links {
            if !self.links.contains_key(&l.id) {
                let (spec, addr) = link_child(LinkArgs {
                    ship: self.ship.clone(),
                    spec: l.clone(),
                    thresholds: LinkThresholds::default(),
                    metrics: self.link_metrics.clone(),
                    alerts: self.alerts.read().clone(),
                    push: self.push.read().clone(),
                });
                self.add(&self.links_sup, spec).await?;
                self.links.insert(l.id.clone(), addr);
            }
        }
        let gone: Vec<String> = self
            .links
            .iter()
            .filter(|e| !inv.links.iter().any(|l| &l.id == e.key()))
            .map(|e| e.key().clone())
            .collect();
        for id in gone {
            self.links.remove(&id);
            let id2 = id.clone();
            let _ = self
                .links_sup
                .call(|r| SupervisorMsg::RemoveChild(id2, r), self.timeout)
                .await;
        }
        Ok(())
    }

    /// Replaces the inventory and reconciles actors, without a restart. Devices that left
    /// the inventory but still send telemetry stay, as discovered devices.
    pub async fn reload(&self, inventory: Inventory) -> Result<(), RuntimeError> {
        let removed: Vec<String> = {
            let old = self.inventory.read();
            old.devices
                .iter()
                .filter(|d| inventory.device(&d.id).is_none())
                .map(|d| d.id.clone())
                .collect()
        };
        *self.inventory.write() = inventory;
        for id in removed {
            self.devices.remove(&id);
            let id2 = id.clone();
            let _ = self
                .devices_sup
                .call(|r| SupervisorMsg::RemoveChild(id2, r), self.timeout)
                .await;
            if let Some(w) = self.detectors.get() {
                self.detector_addrs.remove(&id);
                let id2 = id.clone();
                let _ = w
                    .supervisor
                    .call(|r| SupervisorMsg::RemoveChild(id2, r), self.timeout)
                    .await;
            }
        }
        self.reconcile().await
    }

    /// The device actor for `device`, creating a discovered one if needed.
    pub async fn device(&self, device: &str) -> Option<DeviceAddr> {
        if let Some(a) = self.devices.get(device) {
            return Some(a.clone());
        }
        let kind = self
            .inventory
            .read()
            .device(device)
            .map(|d| d.kind.clone())
            .unwrap_or_else(|| "discovered".to_string());
        let detector = self.start_detector(device, &kind).await;
        let (spec, addr) = self.device_spec(device, &kind, detector);
        if let Err(e) = self.add(&self.devices_sup, spec).await {
            tracing::warn!(ship = %self.ship, device, error = %e, "cannot start device actor");
            return None;
        }
        if kind == "discovered" {
            tracing::info!(ship = %self.ship, device, "discovered a device not in the inventory");
        }
        self.devices.insert(device.to_string(), addr.clone());
        Some(addr)
    }

    /// The device actors known now.
    pub fn devices(&self) -> Vec<(String, DeviceAddr)> {
        self.devices
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect()
    }

    /// The link actor of `link`, if inventoried.
    pub fn link(&self, link: &str) -> Option<Addr<LinkMsg>> {
        self.links.get(link).map(|a| a.clone())
    }

    /// Routes one batch's observations to their actors.
    pub async fn route(&self, received: Instant, items: Vec<Observation>) {
        let mut by_device: HashMap<String, Vec<Observation>> = HashMap::new();
        let mut by_link: HashMap<String, Vec<Observation>> = HashMap::new();
        for obs in items {
            if let ObsKind::Metric(m) = &obs.kind {
                // the ship's heading and rain rate drive every link's outage prediction
                if matches!(m.name.as_str(), "ship_heading_deg" | "weather_rain_mm_h") {
                    for e in self.links.iter() {
                        match by_link.get_mut(e.key()) {
                            Some(v) => v.push(obs.clone()),
                            None => {
                                by_link.insert(e.key().clone(), vec![obs.clone()]);
                            }
                        }
                    }
                } else if let Some(link) = m.label("link") {
                    if self.links.contains_key(link) {
                        by_link
                            .entry(link.to_string())
                            .or_default()
                            .push(obs.clone());
                    }
                }
            }
            if obs.device.is_empty() {
                continue;
            }
            match by_device.get_mut(&obs.device) {
                Some(v) => v.push(obs),
                None => {
                    by_device.insert(obs.device.clone(), vec![obs]);
                }
            }
        }
        for (device, items) in by_device {
            if let Some(addr) = self.device(&device).await {
                let _ = addr.send(DeviceMsg::Observe { received, items });
            }
        }
        for (link, items) in by_link {
            if let Some(addr) = self.link(&link) {
                let _ = addr.send(LinkMsg::Observe { received, items });
            }
        }
    }
}

/// Messages of the event-log writer actor.
pub enum WriterMsg {
    /// The writer thread ended; an error fails the actor (and its supervisor restarts it).
    ThreadExited(Result<(), String>),
}

/// Start arguments of the writer actor.
#[derive(Clone)]
pub struct WriterArgs {
    /// The ship's event log, shared with readers (sync, store).
    pub log: Arc<RwLock<EventLog>>,
    /// The queue's receiving end.
    pub slot: QueueSlot,
    /// Where observations go after they are stored.
    pub router: Arc<Router>,
    /// Metrics.
    pub metrics: IngestMetrics,
    /// Sizes.
    pub config: PipelineConfig,
    /// Time, for retention by age.
    pub clock: seawatch_runtime::Clock,
}

/// How often the writer applies the event log's retention policy.
pub const RETENTION_EVERY: Duration = Duration::from_secs(10);

/// The event-log writer: a supervised actor that owns a dedicated thread (file I/O and
/// fsync never run on the async workers).
#[derive(Debug, Clone, Copy, Default)]
pub struct WriterActor;

/// State of the writer actor.
pub struct WriterState {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Actor for WriterActor {
    type Msg = WriterMsg;
    type State = WriterState;
    type Arguments = WriterArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<WriterMsg>,
        args: WriterArgs,
    ) -> Result<WriterState, ActorProcessingErr> {
        let rx = args
            .slot
            .lock()
            .take()
            .ok_or("the ingest queue is held by another writer")?;
        let stop = Arc::new(AtomicBool::new(false));
        let handle = tokio::runtime::Handle::current();
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("eventlog-writer".into())
            .spawn(move || {
                let mut rx = rx;
                let result = write_loop(&args, &mut rx, &stop2, &handle);
                *args.slot.lock() = Some(rx);
                let _ = myself.cast(WriterMsg::ThreadExited(result.map_err(|e| e.to_string())));
            })?;
        Ok(WriterState {
            stop,
            thread: Some(thread),
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<WriterMsg>,
        state: &mut WriterState,
    ) -> Result<(), ActorProcessingErr> {
        state.stop.store(true, Ordering::Release);
        if let Some(t) = state.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<WriterMsg>,
        msg: WriterMsg,
        _state: &mut WriterState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            WriterMsg::ThreadExited(Ok(())) => {
                myself.stop(Some("queue closed".into()));
                Ok(())
            }
            WriterMsg::ThreadExited(Err(e)) => Err(format!("event-log writer failed: {e}").into()),
        }
    }
}

fn publish_durable(log: &EventLog, metrics: &IngestMetrics, last: &mut u64) {
    let durable = log.durable_next_seq();
    if durable > *last {
        metrics.durable(durable - *last);
        *last = durable;
    }
}

fn write_loop(
    args: &WriterArgs,
    rx: &mut mpsc::Receiver<IngestBatch>,
    stop: &AtomicBool,
    rt: &tokio::runtime::Handle,
) -> Result<(), EventLogError> {
    let mut last_durable = args.log.read().durable_next_seq();
    let mut last_retention = Instant::now();
    let mut events: Vec<NewEvent> = Vec::with_capacity(args.config.max_append_events);
    // Set once stopping: how many more queued batches to store before the final sync.
    let mut drain: Option<usize> = None;
    loop {
        let first = if stop.load(Ordering::Acquire) {
            // Stopping (shutdown or a restart): store what is already queued, since its
            // events were counted accepted. Bounded by the queue's length now, so that
            // steady ingest cannot hold the stop up; later batches stay queued for the
            // next writer incarnation.
            let left = drain.get_or_insert_with(|| rx.len());
            if *left == 0 {
                break;
            }
            *left -= 1;
            match rx.try_recv() {
                Ok(b) => b,
                Err(_) => break,
            }
        } else {
            let first =
                rt.block_on(async { tokio::time::timeout(args.config.idle_tick, rx.recv()).await });
            match first {
                Ok(Some(b)) => b,
                Ok(None) => break,
                Err(_) => {
                    let mut log = args.log.write();
                    log.flush_if_due()?;
                    publish_durable(&log, &args.metrics, &mut last_durable);
                    if last_retention.elapsed() >= RETENTION_EVERY {
                        last_retention = Instant::now();
                        let report = log.apply_retention(args.clock.now_ms())?;
                        if report.segments_removed > 0 {
                            tracing::info!(
                                segments = report.segments_removed,
                                events = report.events_removed,
                                "event log retention removed old segments"
                            );
                        }
                        args.metrics.eventlog_bytes(log.stats().bytes);
                    }
                    continue;
                }
            }
        };
        let mut batches = vec![first];
        let mut n = batches[0].items.len();
        while n < args.config.max_append_events {
            if let Some(left) = drain.as_mut() {
                if *left == 0 {
                    break;
                }
                *left -= 1;
            }
            match rx.try_recv() {
                Ok(b) => {
                    n += b.items.len();
                    batches.push(b);
                }
                Err(_) => break,
            }
        }
        events.clear();
        events.extend(
            batches
                .iter()
                .flat_map(|b| b.items.iter().map(Observation::to_event)),
        );
        {
            let mut log = args.log.write();
            log.append_batch(std::mem::take(&mut events))?;
            log.flush_if_due()?;
            publish_durable(&log, &args.metrics, &mut last_durable);
            args.metrics.eventlog_bytes(log.stats().bytes);
        }
        rt.block_on(async {
            for b in batches {
                if !b.items.is_empty() {
                    args.router.route(b.received, b.items).await;
                }
                if let Some(done) = b.done {
                    let _ = done.send(());
                }
            }
        });
    }
    let mut log = args.log.write();
    log.sync()?;
    publish_durable(&log, &args.metrics, &mut last_durable);
    Ok(())
}

/// Builds the child spec of the writer actor.
pub fn writer_child(args: WriterArgs) -> (ChildSpec, Addr<WriterMsg>) {
    ChildSpec::actor("eventlog-writer", "eventlog", move || {
        (WriterActor, args.clone())
    })
}

/// Counts events accepted from `source` in tests and the simulator, bypassing listeners.
pub fn batch(source: Source, items: Vec<Observation>) -> IngestBatch {
    IngestBatch {
        source,
        received: Instant::now(),
        items,
        done: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Inventory;
    use seawatch_runtime::event_log::EventLogConfig;
    use seawatch_runtime::supervision::SupervisorSpec;
    use seawatch_runtime::{Metrics, ShipId};

    #[test]
    fn a_stopping_writer_stores_what_is_already_queued() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path(), EventLogConfig::new("t")).unwrap();
        let registry = Metrics::new();
        let metrics = IngestMetrics::register(&registry, "t");
        let cfg = PipelineConfig::default();
        let (sender, slot) = queue(&cfg, metrics.clone());
        let ship = ShipId::new("t");
        let sup = |name: &'static str| {
            let ship = ship.clone();
            ChildSpec::supervisor(name, move || SupervisorSpec::new(name, &ship)).1
        };
        let args = WriterArgs {
            log: Arc::new(RwLock::new(log)),
            slot: slot.clone(),
            router: Router::new(
                Inventory::empty("t"),
                sup("devices"),
                sup("links"),
                metrics.clone(),
                LinkMetrics::register(&registry),
            ),
            metrics: metrics.clone(),
            config: cfg,
            clock: seawatch_runtime::Clock::system(),
        };
        // Events without a device: stored, not routed (no actors needed).
        for i in 0..3 {
            let obs = Observation::log("", 1, None, "app", &format!("queued {i}"));
            sender.try_send(batch(Source::Ndjson, vec![obs])).unwrap();
        }
        let mut rx = slot.lock().take().unwrap();
        // Stop was requested before the writer got to the queue (a shutdown racing
        // with ingest): the queued, already-accepted events must still be stored.
        let stop = AtomicBool::new(true);
        write_loop(&args, &mut rx, &stop, rt.handle()).unwrap();
        let log = args.log.read();
        assert_eq!(log.next_seq(), 4, "all 3 queued events stored");
        assert_eq!(log.durable_next_seq(), 4);
        assert_eq!(metrics.durable_total(), 3);
    }
}
