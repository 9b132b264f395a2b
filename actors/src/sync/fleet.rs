//! The shore's actor system: a mirror actor per ship under a fleet supervisor, and the
//! fleet view built from what the mirrors publish.
//!
//! ```text
//! shore-<node>   runtime Supervisor (one_for_one): the fleet supervisor
//!  ├─ mirror-<ship-a>   MirrorActor (permanent; shard ship-a, kind "mirror")
//!  └─ mirror-<ship-b>   ...
//! ```
//!
//! The fleet supervisor has no fixed children: the node adds a ship's mirror when it
//! starts serving the ship (the embedded router on the ship's first frame; the NATS lease
//! loop when it wins the ship's lease) and removes it when it stops (lease lost, ship not
//! owned). A mirror that fails (a panic, a store or JetStream error) is restarted by the
//! supervisor with backoff, and every incarnation **rebuilds its state from the fleet
//! store**, never from the failed incarnation's memory: the lane positions (below which
//! every event of the lane is stored: the applied-sequence identity) and the distinct
//! events stored. Frames the failed incarnation had not applied are not acknowledged, so
//! the ship (embedded) or JetStream (ack wait) sends them again; the positions drop what
//! is already stored. So a restart loses nothing and applies nothing twice. What the store
//! does not hold (the ship's last snapshot: links, open incidents, backlog; the last sync
//! time) comes back with the ship's next frames; until then the fleet view keeps the view
//! the failed incarnation last published.
//!
//! The mirror's I/O is a [`MirrorIo`]: [`StoreIo`] for the embedded transport and a
//! [`FleetStore`], `super::nats` for JetStream. The apply logic itself is
//! [`Mirror::apply`] (embedded) and [`Mirror::decide`]/[`Mirror::commit`] (NATS); the
//! actor wraps it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::RwLock;
use ractor::{Actor, ActorProcessingErr, ActorRef, ActorStatus, RpcReplyPort};
use seawatch_model::ShipId;
use seawatch_runtime::supervision::{
    start_root, Addr, Backoff, ChildSpec, Shutdown, SupervisorHandle, SupervisorSpec,
};
use seawatch_runtime::{Clock, Runtime, RuntimeError, ShardKey};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::link::{ShoreConn, ShoreTransport};
use super::metrics::SyncMetrics;
use super::shore::{Commands, FleetShip, FleetStore, Mirror, Shore};
use super::wire::{Down, Up};
use crate::push::{Push, PushBus, PushKind};

/// The actor kind of mirrors (metric label `kind`, registry kind).
pub const MIRROR_KIND: &str = "mirror";

/// The child id of `ship`'s mirror under the fleet supervisor.
pub fn mirror_id(ship: &str) -> String {
    format!("mirror-{ship}")
}

/// How long the fleet API waits for a mirror's answer before it shows the view that
/// mirror last published.
pub const ASK_TIMEOUT: Duration = Duration::from_millis(500);

struct Entry {
    view: Option<FleetShip>,
    mirror: Option<Addr<MirrorMsg>>,
}

/// The fleet view: the mirrors running on this node and the view each last published.
/// Only a ship's mirror writes its entry; the node adds the entry when it starts the
/// mirror and removes it when it stops it. Cheap to clone.
#[derive(Clone, Default)]
pub struct FleetView {
    ships: Arc<RwLock<BTreeMap<String, Entry>>>,
}

impl FleetView {
    /// All ships, by id, as their mirrors last published them.
    pub fn ships(&self) -> Vec<FleetShip> {
        self.ships
            .read()
            .values()
            .filter_map(|e| e.view.clone())
            .collect()
    }

    /// The `fleet` pushes of every ship (of `ship` only when given), as a new console
    /// session's snapshot shows them.
    pub fn pushes(&self, ship: Option<&str>) -> Vec<Push> {
        self.ships()
            .into_iter()
            .filter(|s| ship.is_none_or(|w| w == s.ship))
            .filter_map(|s| {
                let ship = s.ship.clone();
                serde_json::to_value(s).ok().map(|body| Push {
                    kind: PushKind::Fleet,
                    ship: Some(ship),
                    body,
                })
            })
            .collect()
    }

    /// One ship, as its mirror last published it.
    pub fn get(&self, ship: &str) -> Option<FleetShip> {
        self.ships.read().get(ship).and_then(|e| e.view.clone())
    }

    /// Asks every mirror for its state (concurrently, each bounded by `timeout`); a mirror
    /// that does not answer in time (busy storing, or between incarnations) is shown as
    /// it last published itself.
    pub async fn collect(&self, timeout: Duration) -> Vec<FleetShip> {
        let asks: Vec<(Option<FleetShip>, Option<Addr<MirrorMsg>>)> = self
            .ships
            .read()
            .values()
            .map(|e| (e.view.clone(), e.mirror.clone()))
            .collect();
        let answers =
            futures::future::join_all(asks.into_iter().map(|(last, mirror)| async move {
                match mirror {
                    Some(m) => match m.call(MirrorMsg::View, timeout).await {
                        Ok(Some(v)) => Some(v),
                        _ => last,
                    },
                    None => last,
                }
            }))
            .await;
        answers.into_iter().flatten().collect()
    }

    /// Sets a ship's entry (what its mirror publishes); true if it changed.
    pub fn set(&self, s: FleetShip) -> bool {
        let mut ships = self.ships.write();
        let entry = ships.entry(s.ship.clone()).or_insert(Entry {
            view: None,
            mirror: None,
        });
        let changed = entry.view.as_ref() != Some(&s);
        entry.view = Some(s);
        changed
    }

    /// Removes a ship (its mirror stopped or moved to another node).
    pub fn remove(&self, ship: &str) {
        self.ships.write().remove(ship);
    }

    /// The address of `ship`'s mirror on this node, if it runs here.
    pub fn mirror(&self, ship: &str) -> Option<Addr<MirrorMsg>> {
        self.ships.read().get(ship).and_then(|e| e.mirror.clone())
    }

    fn attach(&self, ship: &str, mirror: Addr<MirrorMsg>) {
        let mut ships = self.ships.write();
        let entry = ships.entry(ship.to_owned()).or_insert(Entry {
            view: None,
            mirror: None,
        });
        entry.mirror = Some(mirror);
    }
}

/// What [`MirrorIo::apply`] did.
#[derive(Debug, Default)]
pub struct Applied {
    /// What to answer the ship.
    pub answer: Option<Down>,
    /// Distinct events now stored for the ship, when the store says so cheaply.
    pub total: Option<u64>,
    /// Events newly stored by this frame (used when `total` is not given).
    pub added: u64,
}

/// A mirror's I/O: where its state is rebuilt from, where events go, how answers reach
/// the ship and where frames come from.
pub trait MirrorIo: Send + Sync + 'static {
    /// Rebuilds `ship`'s mirror from the fleet store: lane positions and the distinct
    /// events stored. Called by every incarnation before it takes a frame.
    fn restore<'a>(&'a self, ship: &'a str) -> BoxFuture<'a, Result<(Mirror, u64), String>>;
    /// Applies a frame to `mirror` and the store. `Err`: nothing of the frame counts as
    /// applied; the mirror fails and is restarted (from the store).
    fn apply<'a>(
        &'a self,
        mirror: &'a mut Mirror,
        up: Up,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Applied, String>>;
    /// Sends a frame to the ship (a lost one is sent again when the ship resends).
    fn send<'a>(&'a self, ship: &'a str, down: Down) -> BoxFuture<'a, ()>;
    /// Starts feeding the ship's frames to `mirror` (a task the mirror owns), or `None`
    /// when the node routes them.
    fn feed<'a>(
        &'a self,
        ship: &'a str,
        mirror: ActorRef<MirrorMsg>,
    ) -> BoxFuture<'a, Result<Option<JoinHandle<()>>, String>>;
}

/// The embedded mirror I/O: a [`FleetStore`] and the embedded transport's shore end.
pub struct StoreIo {
    store: Arc<dyn FleetStore>,
    tx: Arc<dyn ShoreTransport>,
    metrics: Option<SyncMetrics>,
}

impl StoreIo {
    /// Over `store`, answering through `tx`.
    pub fn new(
        store: Arc<dyn FleetStore>,
        tx: Arc<dyn ShoreTransport>,
        metrics: Option<SyncMetrics>,
    ) -> Self {
        Self { store, tx, metrics }
    }
}

impl MirrorIo for StoreIo {
    fn restore<'a>(&'a self, ship: &'a str) -> BoxFuture<'a, Result<(Mirror, u64), String>> {
        let r = Mirror::try_load(ship, &*self.store).map(|m| (m, self.store.count(ship)));
        Box::pin(std::future::ready(r))
    }

    fn apply<'a>(
        &'a self,
        mirror: &'a mut Mirror,
        up: Up,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Applied, String>> {
        let is_batch = matches!(up, Up::Batch(_));
        let answer = mirror.apply(up, &*self.store, now_ms, self.metrics.as_ref());
        let total = is_batch.then(|| self.store.count(mirror.ship()));
        Box::pin(std::future::ready(Ok(Applied {
            answer,
            total,
            added: 0,
        })))
    }

    fn send<'a>(&'a self, ship: &'a str, down: Down) -> BoxFuture<'a, ()> {
        // A lost answer is resent: the ship sends again, shore acks again.
        let _ = self.tx.send(ship, down);
        Box::pin(std::future::ready(()))
    }

    fn feed<'a>(
        &'a self,
        _ship: &'a str,
        _mirror: ActorRef<MirrorMsg>,
    ) -> BoxFuture<'a, Result<Option<JoinHandle<()>>, String>> {
        Box::pin(std::future::ready(Ok(None)))
    }
}

/// Messages of a mirror actor.
pub enum MirrorMsg {
    /// A frame from the ship; the reply (if any) says it was applied and answered, so the
    /// feeder may acknowledge it to its source.
    Up(Up, Option<RpcReplyPort<()>>),
    /// The mirror's state as a fleet-view entry (`None` while it is being rebuilt).
    View(RpcReplyPort<Option<FleetShip>>),
    /// The feed task ended (an error fails the mirror, to be restarted).
    FeedEnded(Result<(), String>),
    /// Test only: panic in the handler, as a bug would.
    #[cfg(any(test, feature = "testkit"))]
    Crash,
}

/// Start arguments of a mirror (the same for every incarnation).
#[derive(Clone)]
pub struct MirrorArgs {
    /// The ship.
    pub ship: String,
    /// This shore node's name.
    pub node: String,
    /// Store, transport and feed.
    pub io: Arc<dyn MirrorIo>,
    /// Where the mirror publishes its view.
    pub fleet: FleetView,
    /// Commands for the ship.
    pub commands: Commands,
    /// Fleet changes are pushed here.
    pub push: Option<PushBus>,
    /// Metrics.
    pub metrics: Option<SyncMetrics>,
    /// Shore time.
    pub clock: Clock,
}

/// A ship's mirror on shore: its state, open incidents, last sync and backlog (from the
/// ship's snapshots), and the lane positions it has applied up to.
#[derive(Debug, Clone, Copy, Default)]
pub struct MirrorActor;

/// A task aborted when its owner is dropped (a failed mirror's state is dropped without
/// `post_stop`, and its feed must not outlive it).
pub struct AbortOnDrop(pub JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// State of a mirror incarnation.
pub struct MirrorState {
    args: MirrorArgs,
    mirror: Option<Mirror>,
    stored: u64,
    feed: Option<AbortOnDrop>,
}

impl MirrorState {
    fn view(&self) -> Option<FleetShip> {
        self.mirror
            .as_ref()
            .map(|m| m.view_with(self.stored, &self.args.node))
    }

    fn publish(&self) {
        let Some(view) = self.view() else { return };
        if self.args.fleet.set(view.clone()) {
            if let Some(push) = &self.args.push {
                let body = serde_json::to_value(&view).unwrap_or(serde_json::Value::Null);
                push.publish(Push {
                    kind: PushKind::Fleet,
                    ship: Some(self.args.ship.clone()),
                    body,
                });
            }
        }
    }

    async fn on_up(&mut self, up: Up) -> Result<(), ActorProcessingErr> {
        let Some(mirror) = self.mirror.as_mut() else {
            return Err("mirror used before it was rebuilt".into());
        };
        let ship = self.args.ship.clone();
        if up.ship() != ship {
            return Ok(());
        }
        if let Up::Reply(r) = &up {
            self.args.commands.answered(r.clone());
        }
        let now_ms = self.args.clock.now_ms();
        let applied = self.args.io.apply(mirror, up, now_ms).await?;
        self.stored = applied.total.unwrap_or(self.stored + applied.added);
        if let Some(d) = applied.answer {
            self.args.io.send(&ship, d).await;
        }
        // The link is evidently up: send the ship's queued commands.
        for c in self.args.commands.due(&ship, now_ms, 5_000) {
            self.args.io.send(&ship, Down::Command(c)).await;
        }
        self.publish();
        Ok(())
    }
}

impl Actor for MirrorActor {
    type Msg = MirrorMsg;
    type State = MirrorState;
    type Arguments = MirrorArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<MirrorMsg>,
        args: MirrorArgs,
    ) -> Result<MirrorState, ActorProcessingErr> {
        // Rebuilding from the store may wait on a remote store: done in post_start, so
        // the supervisor is not blocked meanwhile (frames wait in the mailbox).
        Ok(MirrorState {
            args,
            mirror: None,
            stored: 0,
            feed: None,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<MirrorMsg>,
        state: &mut MirrorState,
    ) -> Result<(), ActorProcessingErr> {
        let ship = state.args.ship.clone();
        let (mirror, stored) = state.args.io.restore(&ship).await.map_err(|e| {
            if let Some(m) = &state.args.metrics {
                m.shore_store_failed(&ship);
            }
            format!("mirror {ship}: cannot rebuild from the store: {e}")
        })?;
        tracing::debug!(ship = %ship, positions = ?mirror.positions(), stored, "shore: mirror rebuilt from the store");
        if let Some(m) = &state.args.metrics {
            m.shore_stored_at_least(&ship, stored);
        }
        state.mirror = Some(mirror);
        state.stored = stored;
        state.publish();
        state.feed = state
            .args
            .io
            .feed(&ship, myself)
            .await
            .map_err(|e| format!("mirror {ship}: feed: {e}"))?
            .map(AbortOnDrop);
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<MirrorMsg>,
        state: &mut MirrorState,
    ) -> Result<(), ActorProcessingErr> {
        // Stopped on purpose (lease lost, node shutting down): the ship leaves this node's
        // view. A failed mirror does not get here; its view stays until it is restarted.
        state.feed = None;
        state.args.fleet.remove(&state.args.ship);
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<MirrorMsg>,
        msg: MirrorMsg,
        state: &mut MirrorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            MirrorMsg::Up(up, done) => {
                state.on_up(up).await?;
                if let Some(done) = done {
                    let _ = done.send(());
                }
            }
            MirrorMsg::View(reply) => {
                let _ = reply.send(state.view());
            }
            MirrorMsg::FeedEnded(r) => {
                return Err(format!(
                    "mirror {}: feed ended: {}",
                    state.args.ship,
                    r.err().unwrap_or_else(|| "without error".into())
                )
                .into());
            }
            #[cfg(any(test, feature = "testkit"))]
            MirrorMsg::Crash => panic!("injected mirror crash ({})", state.args.ship),
        }
        Ok(())
    }
}

/// The child spec of `ship`'s mirror (a permanent child in `ship`'s shard) and its
/// restart-stable address.
pub fn mirror_child(args: MirrorArgs) -> (ChildSpec, Addr<MirrorMsg>) {
    let ship = ShipId::new(&args.ship);
    let (spec, addr) = ChildSpec::actor(&mirror_id(&args.ship), MIRROR_KIND, move || {
        (MirrorActor, args.clone())
    });
    // Stopped on purpose only when the ship moves away or the node stops: the state is in
    // the store, so a mirror busy on a slow store is not waited for long.
    (
        spec.in_shard(&ship)
            .shutdown(Shutdown::Timeout(Duration::from_secs(2))),
        addr,
    )
}

/// The fleet supervisor of node `node`: one-for-one, no fixed children. Restarts are
/// quick (a mirror is down for as long as it takes) and the intensity generous, because a
/// mirror's failures are mostly the store's or the cluster's (a leader election), and one
/// ship's trouble must not stop the others' mirrors.
pub fn fleet_supervisor_spec(node: &str) -> SupervisorSpec {
    SupervisorSpec::new(
        &format!("shore-{node}"),
        ShardKey::new(format!("shore-{node}")),
    )
    .intensity(50, Duration::from_secs(10))
    .backoff(Backoff {
        initial: Duration::from_millis(250),
        max: Duration::from_secs(1),
        multiplier: 2.0,
        jitter: 0.2,
        reset_after: Duration::from_secs(10),
    })
}

/// A shore node's fleet supervisor and the mirrors it runs.
pub struct FleetSupervisor {
    node: String,
    runtime: Runtime,
    supervisor: SupervisorHandle,
    fleet: FleetView,
    mirrors: HashMap<String, Addr<MirrorMsg>>,
}

impl FleetSupervisor {
    /// Starts the fleet supervisor of `node`, publishing into `fleet`.
    pub async fn start(
        node: &str,
        runtime: Runtime,
        fleet: FleetView,
    ) -> Result<Self, RuntimeError> {
        let (supervisor, _join) = start_root(fleet_supervisor_spec(node), runtime.clone()).await?;
        Ok(Self {
            node: node.to_owned(),
            runtime,
            supervisor,
            fleet,
            mirrors: HashMap::new(),
        })
    }

    /// The supervisor.
    pub fn supervisor(&self) -> &SupervisorHandle {
        &self.supervisor
    }

    /// The runtime its actors run with (metrics, registry).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Whether `ship`'s mirror was started here and its supervisor runs (the mirror may
    /// be between incarnations).
    pub fn has(&self, ship: &str) -> bool {
        self.alive() && self.mirrors.contains_key(ship)
    }

    /// Whether the supervisor runs (it fails when a mirror exceeds the restart intensity).
    pub fn alive(&self) -> bool {
        matches!(
            self.supervisor.actor().get_status(),
            ActorStatus::Running | ActorStatus::Starting
        )
    }

    /// The ships whose mirrors were started here.
    pub fn ships(&self) -> Vec<String> {
        self.mirrors.keys().cloned().collect()
    }

    /// `ship`'s mirror, if started here.
    pub fn mirror(&self, ship: &str) -> Option<&Addr<MirrorMsg>> {
        self.mirrors.get(ship)
    }

    /// Starts `ship`'s mirror (no-op if it was started). If the supervisor itself is gone
    /// (it gave up after too many restarts), a new one is started first.
    pub async fn start_mirror(&mut self, args: MirrorArgs) -> Result<(), RuntimeError> {
        if !self.alive() {
            tracing::warn!(node = %self.node, "shore: fleet supervisor gone; starting a new one");
            self.restart_supervisor().await?;
        }
        if self.mirrors.contains_key(&args.ship) {
            return Ok(());
        }
        let ship = args.ship.clone();
        let (spec, addr) = mirror_child(args);
        self.supervisor.add_child(spec).await?;
        self.fleet.attach(&ship, addr.clone());
        self.mirrors.insert(ship, addr);
        Ok(())
    }

    /// Stops `ship`'s mirror (the ship moved away, or is not ours).
    pub async fn stop_mirror(&mut self, ship: &str) {
        if self.mirrors.remove(ship).is_some() {
            if let Err(e) = self.supervisor.remove_child(&mirror_id(ship)).await {
                tracing::debug!(ship, error = %e, "shore: mirror already gone");
            }
            self.fleet.remove(ship);
        }
    }

    async fn restart_supervisor(&mut self) -> Result<(), RuntimeError> {
        self.supervisor.actor().kill();
        for ship in std::mem::take(&mut self.mirrors).into_keys() {
            self.fleet.remove(&ship);
        }
        let (supervisor, _join) =
            start_root(fleet_supervisor_spec(&self.node), self.runtime.clone()).await?;
        self.supervisor = supervisor;
        Ok(())
    }

    /// Stops every mirror in order, then the supervisor.
    pub async fn shutdown(&mut self) {
        self.supervisor.shutdown().await;
        for ship in std::mem::take(&mut self.mirrors).into_keys() {
            self.fleet.remove(&ship);
        }
    }
}

impl Drop for FleetSupervisor {
    fn drop(&mut self) {
        // A node whose future is dropped (aborted, as a crashed process would be) leaves
        // no mirror behind: killing the supervisor kills its children.
        self.supervisor.actor().kill();
    }
}

/// The embedded shore node: routes every ship's frames to its mirror actor, starting the
/// mirror under the fleet supervisor on the ship's first frame.
pub struct EmbeddedShore {
    fleet_sup: FleetSupervisor,
    template: MirrorArgs,
    owns: Arc<dyn Fn(&str) -> bool + Send + Sync>,
}

impl EmbeddedShore {
    /// Starts the node described by `shore`, answering ships through `tx`.
    pub async fn start(
        shore: Shore,
        tx: Arc<dyn ShoreTransport>,
        clock: Clock,
    ) -> Result<Self, RuntimeError> {
        let parts = shore.into_parts();
        let runtime = parts.runtime.unwrap_or_else(|| Runtime::new(clock.clone()));
        let fleet_sup = FleetSupervisor::start(&parts.node, runtime, parts.fleet.clone()).await?;
        let io: Arc<dyn MirrorIo> = Arc::new(StoreIo::new(parts.store, tx, parts.metrics.clone()));
        Ok(Self {
            fleet_sup,
            template: MirrorArgs {
                ship: String::new(),
                node: parts.node,
                io,
                fleet: parts.fleet,
                commands: parts.commands,
                push: parts.push,
                metrics: parts.metrics,
                clock,
            },
            owns: parts.owns,
        })
    }

    /// The fleet supervisor.
    pub fn fleet_supervisor(&self) -> &FleetSupervisor {
        &self.fleet_sup
    }

    /// Hands a frame to its ship's mirror. A frame that cannot be delivered (the mirror
    /// is between incarnations, or cannot start) is dropped, as a link would lose it: the
    /// ship sends it again when its ack does not come.
    pub async fn route(&mut self, up: Up) {
        let ship = up.ship().to_owned();
        if !(self.owns)(&ship) {
            self.fleet_sup.stop_mirror(&ship).await;
            return;
        }
        if !self.fleet_sup.has(&ship) {
            let args = MirrorArgs {
                ship: ship.clone(),
                ..self.template.clone()
            };
            if let Err(e) = self.fleet_sup.start_mirror(args).await {
                tracing::warn!(ship = %ship, error = %e, "shore: cannot start mirror; frame dropped");
                return;
            }
        }
        if let Some(m) = self.fleet_sup.mirror(&ship) {
            if m.send(MirrorMsg::Up(up, None)).is_err() {
                tracing::debug!(ship = %ship, "shore: mirror restarting; frame dropped (the ship resends)");
            }
        }
    }

    /// Stops every mirror, then the supervisor.
    pub async fn shutdown(&mut self) {
        self.fleet_sup.shutdown().await;
    }
}

/// Runs an embedded shore node until `shutdown` turns true (or the transport closes).
/// Dropping the future (aborting its task) kills the node's actors.
pub async fn run_embedded_shore(
    shore: Shore,
    mut conn: ShoreConn,
    clock: Clock,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut node = match EmbeddedShore::start(shore, conn.tx.clone(), clock).await {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(error = %e, "shore: cannot start the fleet supervisor");
            return;
        }
    };
    loop {
        tokio::select! {
            biased;
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    break;
                }
            }
            up = conn.rx.recv() => {
                let Some(up) = up else { break };
                node.route(up).await;
            }
        }
    }
    node.shutdown().await;
}
