//! The roster actor (see the module docs of `roster`) and the handle the rest of the ship
//! uses to reach it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use seawatch_model::{ShipId, ShipPosition};
use seawatch_runtime::supervision::{
    Addr, Backoff, ChildSpec, Strategy, Supervisor, SupervisorArgs, SupervisorMsg, SupervisorSpec,
};
use seawatch_runtime::{Metrics, Runtime, RuntimeError};

use super::messages::RosterMsg;
use crate::alert::AlertSink;
use crate::detect::actor::{
    detector_child, DetectorAddr, DetectorArgs, DetectorConfig, DetectorMetrics, DetectorMsg,
    FiringSet, SettingsCell,
};
use crate::detect::peer::{peer_child, PeerArgs, PeerConfig, PeerMsg};
use crate::device::{device_child_with, DeviceAddr, DeviceMsg};
use crate::ingest::metrics::IngestMetrics;
use crate::ingest::record::{ObsKind, Observation};
use crate::inventory::Inventory;
use crate::link::settings::{live_risk_config, LinkRiskCell, LinkRiskSettings};
use crate::link::{link_child, LinkArgs, LinkMetrics, LinkMsg, LinkThresholds};
use crate::push::PushBus;

/// The thresholds of every link actor the roster starts.
fn link_thresholds() -> LinkThresholds {
    LinkThresholds::default()
}

/// How long a request from the roster to one of its supervisors may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`Roster::route`] and [`Roster::flush`] wait for a restarting roster.
const RESTART_WAIT: Duration = Duration::from_secs(10);
/// Between two tries while the roster restarts.
const RETRY_EVERY: Duration = Duration::from_millis(2);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UndeliveredLabels {
    ship: String,
    to: &'static str,
}

/// The roster's metrics: messages it could not deliver, by ship and the kind of actor
/// they were for (`roster`, `device`, `link`, `detector`).
#[derive(Clone, Debug, Default)]
pub struct RosterMetrics {
    undelivered: Family<UndeliveredLabels, Counter>,
}

impl RosterMetrics {
    /// Registers the families in `metrics` (once per node).
    pub fn register(metrics: &Metrics) -> Self {
        let m = Self::default();
        metrics.register(
            "seawatch_roster_undelivered",
            "Messages the roster could not deliver (the actor was not running), by the kind of actor they were for.",
            m.undelivered.clone(),
        );
        m
    }

    fn undelivered(&self, ship: &str, to: &'static str, n: u64) {
        self.undelivered
            .get_or_create(&UndeliveredLabels {
                ship: ship.to_string(),
                to,
            })
            .inc_by(n);
    }

    /// Messages not delivered so far to actors of kind `to` (`roster`, `device`, `link`)
    /// of `ship`.
    pub fn undelivered_total(&self, ship: &str, to: &'static str) -> u64 {
        self.undelivered
            .get_or_create(&UndeliveredLabels {
                ship: ship.to_string(),
                to,
            })
            .get()
    }
}

/// The devices a ship discovered (senders not in its inventory), shared by every roster
/// incarnation and, when given a file, kept across process restarts (one id a line).
#[derive(Clone, Debug, Default)]
pub struct Discovered {
    ids: Arc<Mutex<BTreeSet<String>>>,
    file: Option<PathBuf>,
}

impl Discovered {
    /// A set kept in memory only.
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// A set persisted in `file`, starting with what it holds (a missing or unreadable
    /// file is an empty set; blank lines are skipped).
    pub fn persisted(file: PathBuf) -> Self {
        let ids = std::fs::read_to_string(&file)
            .map(|text| {
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        Self {
            ids: Arc::new(Mutex::new(ids)),
            file: Some(file),
        }
    }

    /// The ids, sorted.
    pub fn ids(&self) -> Vec<String> {
        self.ids.lock().iter().cloned().collect()
    }

    /// Adds `id`; writes the file (whole, then renamed over) when it is new.
    pub fn insert(&self, id: &str) {
        let text = {
            let mut ids = self.ids.lock();
            if !ids.insert(id.to_string()) {
                return;
            }
            ids.iter().fold(String::new(), |mut s, i| {
                s.push_str(i);
                s.push('\n');
                s
            })
        };
        let Some(file) = &self.file else { return };
        let tmp = file.with_extension("tmp");
        let written = file
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&tmp, text))
            .and_then(|()| std::fs::rename(&tmp, file));
        if let Err(e) = written {
            tracing::warn!(file = %file.display(), error = %e, "cannot persist the discovered devices");
        }
    }
}

/// What every detector actor of a ship shares. Cheap to clone.
#[derive(Clone, Debug)]
pub struct DetectorSetup {
    /// The settings every detector runs now (new ones pushed by
    /// [`Roster::apply_detector_settings`]).
    pub settings: SettingsCell,
    /// Metrics.
    pub metrics: Option<DetectorMetrics>,
    firing: Arc<Mutex<HashMap<String, FiringSet>>>,
    peer_firing: Arc<Mutex<std::collections::HashSet<(String, String, String)>>>,
}

impl DetectorSetup {
    /// Detectors with `config`, counted on `metrics`.
    pub fn new(config: DetectorConfig, metrics: Option<DetectorMetrics>) -> Self {
        Self {
            settings: SettingsCell::new(config),
            metrics,
            firing: Arc::default(),
            peer_firing: Arc::default(),
        }
    }

    fn args(
        &self,
        ship: &str,
        device: &str,
        kind: &str,
        sink: &AlertSink,
        peer: Option<Addr<PeerMsg>>,
    ) -> DetectorArgs {
        // A detector's firing alerts outlive the roster, so a re-created detector can
        // still clear them.
        let firing = self
            .firing
            .lock()
            .entry(device.to_string())
            .or_default()
            .clone();
        DetectorArgs {
            ship: ShipId::new(ship),
            device: device.to_string(),
            kind: kind.to_string(),
            config: self.settings.get(),
            sink: sink.clone(),
            peer,
            metrics: self.metrics.clone(),
            firing,
            settings: Some(self.settings.clone()),
        }
    }
}

/// The addresses of the roster's current children.
#[derive(Clone, Debug, Default)]
struct Members {
    devices: HashMap<String, DeviceAddr>,
    detectors: HashMap<String, DetectorAddr>,
    links: BTreeMap<String, Addr<LinkMsg>>,
    peer: Option<Addr<PeerMsg>>,
}

/// The addresses of the current roster incarnation's children, rewritten by the roster
/// (whole in `pre_start`, one entry as it adds or removes a child). Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct RosterView(Arc<RwLock<Members>>, Arc<RwLock<Option<ShipPosition>>>);

impl RosterView {
    /// The ship's position from the newest `ship_lat`/`ship_lon`/`ship_heading_deg`
    /// samples routed, once both coordinates were seen.
    pub fn position(&self) -> Option<ShipPosition> {
        (*self.1.read()).filter(ShipPosition::is_known)
    }
}

/// Start arguments of the roster actor; the same for every incarnation.
#[derive(Clone)]
pub struct RosterArgs {
    /// Ship id.
    pub ship: String,
    /// The node's runtime (the roster's own supervisors run on it).
    pub runtime: Runtime,
    /// The inventory, shared by every incarnation (a reload survives a restart).
    pub inventory: Arc<RwLock<Inventory>>,
    /// Devices discovered so far.
    pub discovered: Discovered,
    /// Where device, link, detector and peer actors raise alerts.
    pub alerts: AlertSink,
    /// Where link actors push their state and outage risk.
    pub push: Option<PushBus>,
    /// Ingest metrics (device actors count what they handle).
    pub ingest_metrics: IngestMetrics,
    /// Link metrics.
    pub link_metrics: LinkMetrics,
    /// The link-risk settings every link actor runs now, shared by every incarnation
    /// (new ones pushed by [`Roster::apply_link_risk`]).
    pub link_risk: LinkRiskCell,
    /// Detector actors, one per device, and the peer actor; `None` runs none.
    pub detectors: Option<DetectorSetup>,
    /// Undelivered messages.
    pub metrics: RosterMetrics,
    /// Where the roster publishes its children's addresses.
    pub view: RosterView,
}

/// The roster actor; see the module docs of `roster`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RosterActor;

/// State of the roster actor.
pub struct RosterState {
    args: RosterArgs,
    detectors: Option<ActorRef<SupervisorMsg>>,
    devices: ActorRef<SupervisorMsg>,
    links: ActorRef<SupervisorMsg>,
}

fn child_supervisor(name: &str, ship: &str) -> SupervisorSpec {
    SupervisorSpec::new(name, &ShipId::new(ship))
        .strategy(Strategy::OneForOne)
        // Many independent children: tolerate a storm of restarts before escalating.
        .intensity(1_000, Duration::from_secs(60))
        .backoff(Backoff::default())
}

async fn spawn_supervisor(
    myself: &ActorRef<RosterMsg>,
    runtime: &Runtime,
    spec: SupervisorSpec,
) -> Result<ActorRef<SupervisorMsg>, ActorProcessingErr> {
    let (sup, _join) = Actor::spawn_linked(
        None,
        Supervisor,
        SupervisorArgs {
            spec,
            runtime: runtime.clone(),
        },
        myself.get_cell(),
    )
    .await?;
    Ok(sup)
}

async fn ask<R: Send + 'static>(
    sup: &ActorRef<SupervisorMsg>,
    build: impl FnOnce(ractor::RpcReplyPort<Result<R, RuntimeError>>) -> SupervisorMsg,
) -> Result<R, RuntimeError> {
    match sup.call(build, Some(CALL_TIMEOUT)).await {
        Ok(CallResult::Success(r)) => r,
        Ok(CallResult::Timeout) => Err(RuntimeError::Timeout("roster supervisor".into())),
        _ => Err(RuntimeError::NotRunning("roster supervisor".into())),
    }
}

/// Adds `spec` under `sup`; a child already there with that id is replaced (its address
/// is not known to this incarnation).
async fn add(sup: &ActorRef<SupervisorMsg>, spec: ChildSpec) -> Result<(), RuntimeError> {
    let again = spec.clone();
    match ask(sup, |r| SupervisorMsg::AddChild(spec, r)).await {
        Err(RuntimeError::DuplicateChild(id)) => {
            ask(sup, |r| SupervisorMsg::RemoveChild(id, r)).await?;
            ask(sup, |r| SupervisorMsg::AddChild(again, r)).await
        }
        other => other,
    }
}

async fn remove(sup: &ActorRef<SupervisorMsg>, id: &str) -> Result<(), RuntimeError> {
    let id = id.to_string();
    match ask(sup, |r| SupervisorMsg::RemoveChild(id, r)).await {
        Err(RuntimeError::NoSuchChild(_)) => Ok(()),
        other => other,
    }
}

impl RosterState {
    fn ship(&self) -> &str {
        &self.args.ship
    }

    fn kind_of(&self, device: &str) -> Option<String> {
        self.args
            .inventory
            .read()
            .device(device)
            .map(|d| d.kind.clone())
    }

    /// The device and detector specs of `id`.
    fn device_specs(
        args: &RosterArgs,
        peer: Option<&Addr<PeerMsg>>,
        id: &str,
        kind: &str,
    ) -> (Option<(ChildSpec, DetectorAddr)>, (ChildSpec, DeviceAddr)) {
        let detector = args
            .detectors
            .as_ref()
            .map(|d| detector_child(d.args(&args.ship, id, kind, &args.alerts, peer.cloned())));
        let device = device_child_with(
            id,
            kind,
            Some(args.ingest_metrics.clone()),
            &args.ship,
            args.alerts.clone(),
            detector.as_ref().map(|(_, a)| a.clone()),
        );
        (detector, device)
    }

    fn link_spec(
        args: &RosterArgs,
        link: &crate::inventory::LinkSpec,
    ) -> (ChildSpec, Addr<LinkMsg>) {
        link_child(LinkArgs {
            ship: args.ship.clone(),
            spec: link.clone(),
            thresholds: link_thresholds(),
            metrics: args.link_metrics.clone(),
            alerts: args.alerts.clone(),
            push: args.push.clone(),
            risk_settings: args.link_risk.clone(),
        })
    }

    /// The device actor of `id`, starting it (and its detector) if it has none.
    async fn ensure_device(&mut self, id: &str) -> Option<DeviceAddr> {
        if let Some(a) = self.args.view.0.read().devices.get(id) {
            return Some(a.clone());
        }
        let kind = match self.kind_of(id) {
            Some(k) => k,
            None => {
                tracing::info!(ship = %self.ship(), device = id, "discovered a device not in the inventory");
                self.args.discovered.insert(id);
                "discovered".to_string()
            }
        };
        let peer = self.args.view.0.read().peer.clone();
        let (detector, (spec, addr)) = Self::device_specs(&self.args, peer.as_ref(), id, &kind);
        if let (Some((dspec, daddr)), Some(sup)) = (detector, &self.detectors) {
            match add(sup, dspec).await {
                Ok(()) => {
                    self.args
                        .view
                        .0
                        .write()
                        .detectors
                        .insert(id.to_string(), daddr);
                }
                Err(e) => {
                    tracing::warn!(ship = %self.ship(), device = id, error = %e, "cannot start detector actor");
                }
            }
        }
        if let Err(e) = add(&self.devices, spec).await {
            tracing::warn!(ship = %self.ship(), device = id, error = %e, "cannot start device actor");
            return None;
        }
        self.args
            .view
            .0
            .write()
            .devices
            .insert(id.to_string(), addr.clone());
        Some(addr)
    }

    async fn route(&mut self, received: Instant, items: Vec<Observation>) {
        let mut by_device: HashMap<String, Vec<Observation>> = HashMap::new();
        let mut by_link: HashMap<String, Vec<Observation>> = HashMap::new();
        let links: Vec<String> = self.args.view.0.read().links.keys().cloned().collect();
        for obs in items {
            if let ObsKind::Metric(m) = &obs.kind {
                if m.name.starts_with("ship_") {
                    ShipPosition::observe(&mut self.args.view.1.write(), &m.name, m.value, m.ts_ms);
                }
                // the ship's heading, position and rain rate drive every link's outage
                // prediction
                if matches!(
                    m.name.as_str(),
                    "ship_heading_deg" | "weather_rain_mm_h" | "ship_lat" | "ship_lon"
                ) {
                    for l in &links {
                        by_link.entry(l.clone()).or_default().push(obs.clone());
                    }
                } else if let Some(link) = m.label("link") {
                    if links.iter().any(|l| l == link) {
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
        let mut undelivered = 0u64;
        for (device, items) in by_device {
            let n = items.len() as u64;
            let sent = match self.ensure_device(&device).await {
                Some(addr) => addr.send(DeviceMsg::Observe { received, items }).is_ok(),
                None => false,
            };
            if !sent {
                undelivered += n;
            }
        }
        if undelivered > 0 {
            self.args
                .metrics
                .undelivered(self.ship(), "device", undelivered);
        }
        let mut undelivered = 0u64;
        for (link, items) in by_link {
            let n = items.len() as u64;
            let addr = self.args.view.0.read().links.get(&link).cloned();
            if addr.is_none_or(|a| a.send(LinkMsg::Observe { received, items }).is_err()) {
                undelivered += n;
            }
        }
        if undelivered > 0 {
            self.args
                .metrics
                .undelivered(self.ship(), "link", undelivered);
        }
    }

    fn tick(&self, now_ms: i64) {
        let devices: Vec<DeviceAddr> = self.args.view.0.read().devices.values().cloned().collect();
        let failed = devices
            .iter()
            .filter(|d| {
                d.send(DeviceMsg::Tick {
                    now_ms,
                    reply: None,
                })
                .is_err()
            })
            .count() as u64;
        if failed > 0 {
            self.args.metrics.undelivered(self.ship(), "device", failed);
        }
    }

    /// Makes `config` the ship's detector settings: new and restarted detectors read it,
    /// and every running detector gets it. Returns the detectors it was sent to (`None`:
    /// the ship runs no detectors).
    fn push_settings(&self, config: Arc<DetectorConfig>) -> Option<Vec<String>> {
        let setup = self.args.detectors.as_ref()?;
        setup.settings.set(config.clone());
        let detectors: Vec<(String, DetectorAddr)> = self
            .args
            .view
            .0
            .read()
            .detectors
            .iter()
            .map(|(k, a)| (k.clone(), a.clone()))
            .collect();
        let mut sent = Vec::new();
        for (id, addr) in detectors {
            if addr.send(DetectorMsg::Settings(config.clone())).is_ok() {
                sent.push(id);
            } else {
                // a restarting detector reads the cell when it starts
                self.args.metrics.undelivered(self.ship(), "detector", 1);
            }
        }
        Some(sent)
    }

    /// Makes `settings` the ship's link-risk settings: new and restarted link actors read
    /// them, and every running link actor gets them. Returns the links they were sent to.
    fn push_link_risk(&self, settings: Arc<LinkRiskSettings>) -> Vec<String> {
        self.args.link_risk.set(settings.clone());
        let links: Vec<(String, Addr<LinkMsg>)> = self
            .args
            .view
            .0
            .read()
            .links
            .iter()
            .map(|(k, a)| (k.clone(), a.clone()))
            .collect();
        let mut sent = Vec::new();
        for (id, addr) in links {
            if addr.send(LinkMsg::RiskSettings(settings.clone())).is_ok() {
                sent.push(id);
            } else {
                // a restarting link actor reads the cell when it starts
                self.args.metrics.undelivered(self.ship(), "link", 1);
            }
        }
        sent
    }

    async fn reload(&mut self, inventory: Inventory) -> Result<(), String> {
        let mut errors = Vec::new();
        let removed: Vec<String> = {
            let old = self.args.inventory.read();
            old.devices
                .iter()
                .filter(|d| inventory.device(&d.id).is_none())
                .map(|d| d.id.clone())
                .collect()
        };
        *self.args.inventory.write() = inventory.clone();
        for id in removed {
            self.args.view.0.write().devices.remove(&id);
            if let Err(e) = remove(&self.devices, &id).await {
                errors.push(format!("device {id}: {e}"));
            }
            if let Some(sup) = &self.detectors {
                self.args.view.0.write().detectors.remove(&id);
                if let Err(e) = remove(sup, &id).await {
                    errors.push(format!("detector {id}: {e}"));
                }
            }
        }
        for d in &inventory.devices {
            if self.ensure_device(&d.id).await.is_none() {
                errors.push(format!("device {}: not started", d.id));
            }
        }
        let known: Vec<String> = self.args.view.0.read().links.keys().cloned().collect();
        for l in &inventory.links {
            if known.contains(&l.id) {
                continue;
            }
            let (spec, addr) = Self::link_spec(&self.args, l);
            match add(&self.links, spec).await {
                Ok(()) => {
                    self.args.view.0.write().links.insert(l.id.clone(), addr);
                }
                Err(e) => errors.push(format!("link {}: {e}", l.id)),
            }
        }
        for id in known {
            if inventory.links.iter().any(|l| l.id == id) {
                continue;
            }
            self.args.view.0.write().links.remove(&id);
            if let Err(e) = remove(&self.links, &id).await {
                errors.push(format!("link {id}: {e}"));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

impl Actor for RosterActor {
    type Msg = RosterMsg;
    type State = RosterState;
    type Arguments = RosterArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<RosterMsg>,
        args: RosterArgs,
    ) -> Result<RosterState, ActorProcessingErr> {
        let inventory = args.inventory.read().clone();
        // Inventoried devices first, then the discovered ones, each once.
        let mut wanted: Vec<(String, String)> = inventory
            .devices
            .iter()
            .map(|d| (d.id.clone(), d.kind.clone()))
            .collect();
        for id in args.discovered.ids() {
            if inventory.device(&id).is_none() {
                wanted.push((id, "discovered".to_string()));
            }
        }
        let mut members = Members::default();
        let detectors = match &args.detectors {
            Some(setup) => {
                let (peer, peer_addr) = peer_child(PeerArgs {
                    ship: args.ship.clone(),
                    config: PeerConfig {
                        window_ms: setup.settings.get().summary_ms,
                        ..PeerConfig::default()
                    },
                    sink: args.alerts.clone(),
                    metrics: setup.metrics.clone(),
                    firing: setup.peer_firing.clone(),
                });
                members.peer = Some(peer_addr);
                Some(child_supervisor("detectors", &args.ship).child(peer))
            }
            None => None,
        };
        let mut detectors = detectors;
        let mut devices = child_supervisor("devices", &args.ship);
        for (id, kind) in &wanted {
            let (detector, (spec, addr)) =
                RosterState::device_specs(&args, members.peer.as_ref(), id, kind);
            if let (Some((dspec, daddr)), Some(sup)) = (detector, detectors.take()) {
                detectors = Some(sup.child(dspec));
                members.detectors.insert(id.clone(), daddr);
            }
            devices = devices.child(spec);
            members.devices.insert(id.clone(), addr);
        }
        let mut links = child_supervisor("links", &args.ship);
        for l in &inventory.links {
            let (spec, addr) = RosterState::link_spec(&args, l);
            links = links.child(spec);
            members.links.insert(l.id.clone(), addr);
        }
        // Detectors first: device actors forward samples to them.
        let detectors = match detectors {
            Some(spec) => Some(spawn_supervisor(&myself, &args.runtime, spec).await?),
            None => None,
        };
        let devices = spawn_supervisor(&myself, &args.runtime, devices).await?;
        let links = spawn_supervisor(&myself, &args.runtime, links).await?;
        *args.view.0.write() = members;
        Ok(RosterState {
            args,
            detectors,
            devices,
            links,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<RosterMsg>,
        state: &mut RosterState,
    ) -> Result<(), ActorProcessingErr> {
        // Reverse start order; each supervisor stops its own children in order.
        let sups = [
            Some(state.links.clone()),
            Some(state.devices.clone()),
            state.detectors.clone(),
        ];
        for sup in sups.into_iter().flatten() {
            let _ = sup
                .stop_and_wait(Some("shutdown".into()), Some(Duration::from_secs(60)))
                .await;
        }
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<RosterMsg>,
        msg: RosterMsg,
        state: &mut RosterState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RosterMsg::Route { received, items } => state.route(received, items).await,
            RosterMsg::Flush(reply) => {
                let _ = reply.send(());
            }
            RosterMsg::Device { id, reply } => {
                let addr = state.ensure_device(&id).await;
                let _ = reply.send(addr);
            }
            RosterMsg::Tick { now_ms } => state.tick(now_ms),
            RosterMsg::Reload { inventory, reply } => {
                let result = state.reload(inventory).await;
                let _ = reply.send(result);
            }
            RosterMsg::DetectorSettings { config, reply } => {
                let sent = state.push_settings(config);
                let _ = reply.send(sent);
            }
            RosterMsg::LinkRisk { settings, reply } => {
                let sent = state.push_link_risk(settings);
                let _ = reply.send(sent);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<RosterMsg>,
        event: SupervisionEvent,
        _state: &mut RosterState,
    ) -> Result<(), ActorProcessingErr> {
        // The roster's only children are its three supervisors: one that exits gave up
        // on its children, and the roster re-creates them all by failing itself.
        match event {
            SupervisionEvent::ActorTerminated(_, _, reason) => Err(format!(
                "a roster supervisor stopped ({})",
                reason.unwrap_or_default()
            )
            .into()),
            SupervisionEvent::ActorFailed(_, e) => {
                Err(format!("a roster supervisor failed: {e}").into())
            }
            _ => Ok(()),
        }
    }
}

/// The rest of the ship's handle to its roster: routes through it and reads the current
/// incarnation's children. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Roster {
    ship: String,
    addr: Addr<RosterMsg>,
    view: RosterView,
    inventory: Arc<RwLock<Inventory>>,
    metrics: RosterMetrics,
}

impl Roster {
    /// The ship's position from the position samples routed so far (see
    /// [`RosterView::position`]).
    pub fn position(&self) -> Option<ShipPosition> {
        self.view.position()
    }

    /// The roster actor's address.
    pub fn addr(&self) -> &Addr<RosterMsg> {
        &self.addr
    }

    /// Sends `msg`, waiting (bounded) while the roster restarts; a message still not
    /// delivered is counted.
    async fn send(&self, mut msg: RosterMsg, what: u64) -> bool {
        let deadline = tokio::time::Instant::now() + RESTART_WAIT;
        loop {
            match self.addr.send(msg) {
                Ok(()) => return true,
                Err(back) if tokio::time::Instant::now() < deadline => {
                    msg = back.0;
                    tokio::time::sleep(RETRY_EVERY).await;
                }
                Err(_) => {
                    self.metrics.undelivered(&self.ship, "roster", what);
                    return false;
                }
            }
        }
    }

    /// Routes one stored batch's observations to their actors (see [`RosterMsg::Route`]).
    pub async fn route(&self, received: Instant, items: Vec<Observation>) {
        let n = items.len() as u64;
        self.send(RosterMsg::Route { received, items }, n).await;
    }

    /// Routes like [`Roster::route`] without waiting for a roster that is not running
    /// (what cannot be delivered now is counted).
    pub fn try_route(&self, received: Instant, items: Vec<Observation>) {
        let n = items.len() as u64;
        if self
            .addr
            .send(RosterMsg::Route { received, items })
            .is_err()
        {
            self.metrics.undelivered(&self.ship, "roster", n);
        }
    }

    /// Waits until everything routed before is in the actors' mailboxes (waiting,
    /// bounded, while the roster restarts).
    pub async fn flush(&self) -> Result<(), RuntimeError> {
        let deadline = tokio::time::Instant::now() + RESTART_WAIT;
        loop {
            match self.addr.call(RosterMsg::Flush, RESTART_WAIT).await {
                Err(RuntimeError::NotRunning(_)) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(RETRY_EVERY).await;
                }
                other => return other,
            }
        }
    }

    /// Every device actor gets a tick at event time `now_ms`.
    pub async fn tick(&self, now_ms: i64) {
        self.send(RosterMsg::Tick { now_ms }, 1).await;
    }

    /// The device actor of `id`, starting one (as a discovered device if it is not
    /// inventoried) if needed.
    pub async fn device(&self, id: &str) -> Option<DeviceAddr> {
        if let Some(a) = self.view.0.read().devices.get(id) {
            return Some(a.clone());
        }
        let id = id.to_string();
        self.addr
            .call(|reply| RosterMsg::Device { id, reply }, CALL_TIMEOUT)
            .await
            .ok()
            .flatten()
    }

    /// Replaces the inventory and reconciles the actors without a restart (see
    /// [`RosterMsg::Reload`]).
    pub async fn reload(&self, inventory: Inventory) -> Result<(), RuntimeError> {
        self.addr
            .call(
                |reply| RosterMsg::Reload { inventory, reply },
                Duration::from_secs(60),
            )
            .await?
            .map_err(RuntimeError::InvalidSpec)
    }

    /// Makes `config` the detector settings of the running ship without a restart: the
    /// roster pushes it to every detector actor (and keeps it for detectors started or
    /// restarted later), then each detector is asked what it runs. `Ok` says how many
    /// detectors run `config`'s fingerprint; `Err` names one that does not.
    pub async fn apply_detector_settings(&self, config: DetectorConfig) -> Result<String, String> {
        let want = config.fingerprint();
        let config = Arc::new(config);
        let sent = self
            .addr
            .call(
                |reply| RosterMsg::DetectorSettings { config, reply },
                CALL_TIMEOUT,
            )
            .await
            .map_err(|e| format!("roster: {e}"))?;
        if sent.is_none() {
            return Ok("the ship runs no detectors".into());
        }
        let mut runs = Vec::new();
        for (id, addr) in self.detectors() {
            // A detector's mailbox is in order: this answer comes after the new settings.
            let fp = addr.call(DetectorMsg::Snapshot, CALL_TIMEOUT).await;
            runs.push((id, fp.ok().map(|snap| snap.settings)));
        }
        tally_running(&runs, &want, ("detector", "detectors"), "settings")
    }

    /// Makes `settings` the link-risk settings of the running ship without a restart: the
    /// roster pushes them to every link actor (and keeps them for link actors started or
    /// restarted later), then each link actor is asked what its predictor runs. `Ok` says
    /// how many links run the settings' fingerprint (`N links run link-risk FP`); `Err`
    /// names one that does not.
    pub async fn apply_link_risk(&self, settings: LinkRiskSettings) -> Result<String, String> {
        let want = live_risk_config(&settings, &link_thresholds()).fingerprint();
        let settings = Arc::new(settings);
        self.addr
            .call(
                |reply| RosterMsg::LinkRisk { settings, reply },
                CALL_TIMEOUT,
            )
            .await
            .map_err(|e| format!("roster: {e}"))?;
        let mut runs = Vec::new();
        for (id, addr) in self.links() {
            // A link actor's mailbox is in order: this answer comes after the settings.
            let fp = addr.call(LinkMsg::RiskRunning, CALL_TIMEOUT).await;
            runs.push((id, fp.ok().map(|r| r.fingerprint)));
        }
        tally_running(&runs, &want, ("link", "links"), "link-risk")
    }

    /// The device actors of the current incarnation.
    pub fn devices(&self) -> Vec<(String, DeviceAddr)> {
        let mut v: Vec<_> = self
            .view
            .0
            .read()
            .devices
            .iter()
            .map(|(k, a)| (k.clone(), a.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The link actors of the current incarnation.
    pub fn links(&self) -> Vec<(String, Addr<LinkMsg>)> {
        self.view
            .0
            .read()
            .links
            .iter()
            .map(|(k, a)| (k.clone(), a.clone()))
            .collect()
    }

    /// The link actor of `link`, if inventoried.
    pub fn link(&self, link: &str) -> Option<Addr<LinkMsg>> {
        self.view.0.read().links.get(link).cloned()
    }

    /// The detector actors of the current incarnation, by device id.
    pub fn detectors(&self) -> Vec<(String, DetectorAddr)> {
        let mut v: Vec<_> = self
            .view
            .0
            .read()
            .detectors
            .iter()
            .map(|(k, a)| (k.clone(), a.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The detector actor of `device`, if it has one.
    pub fn detector_of(&self, device: &str) -> Option<DetectorAddr> {
        self.view.0.read().detectors.get(device).cloned()
    }

    /// The peer actor, when detectors run.
    pub fn peer(&self) -> Option<Addr<PeerMsg>> {
        self.view.0.read().peer.clone()
    }

    /// The inventory in use.
    pub fn inventory(&self) -> Inventory {
        self.inventory.read().clone()
    }

    /// The roster's metrics.
    pub fn metrics(&self) -> &RosterMetrics {
        &self.metrics
    }
}

/// The roster's child spec (kind `roster`) and the handle to it.
pub fn roster_child(args: RosterArgs) -> (ChildSpec, Roster) {
    let ship = args.ship.clone();
    let view = args.view.clone();
    let inventory = args.inventory.clone();
    let metrics = args.metrics.clone();
    // exported at 0 from the start, so an alert on it sees the series
    for to in ["roster", "device", "link", "detector"] {
        metrics.undelivered(&ship, to, 0);
    }
    let (spec, addr) = ChildSpec::actor("roster", "roster", move || (RosterActor, args.clone()));
    (
        spec,
        Roster {
            ship,
            addr,
            view,
            inventory,
            metrics,
        },
    )
}

/// The health check after a settings push: each actor's answer (`None`: it did not answer,
/// so it is restarting and reads the pushed settings when it starts) against the
/// fingerprint `want`. `Ok` says how many run it (`N links run link-risk FP`); `Err`
/// names the first that runs another.
fn tally_running(
    runs: &[(String, Option<String>)],
    want: &str,
    (one, many): (&str, &str),
    what: &str,
) -> Result<String, String> {
    let (mut running, mut restarting) = (0usize, 0usize);
    for (id, fp) in runs {
        match fp {
            Some(fp) if fp == want => running += 1,
            Some(fp) => return Err(format!("{one} {id} runs {what} {fp}, not {want}")),
            None => restarting += 1,
        }
    }
    Ok(match restarting {
        0 => format!("{running} {many} run {what} {want}"),
        n => format!("{running} {many} run {what} {want} ({n} restarting with them)"),
    })
}
