//! The shore's side of sync: applies ships' batches by event identity (ship, seq), keeps a
//! mirror per ship (state, open incidents, last sync, backlog), builds the fleet view
//! served on `GET /api/fleet`, and queues commands for ships. The mirrors run as actors
//! under the node's fleet supervisor ([`super::fleet`]); this module holds what they
//! apply ([`Mirror`], [`FleetStore`]) and the HTTP routes.
//!
//! **Exactly once.** A mirror keeps, per lane, the position below which every event of the
//! lane is stored. A batch that starts above it would leave a gap and is refused
//! ([`Down::Resume`]); otherwise only its events at or above the position are applied and
//! the position moves to the batch's end ([`Down::Ack`]). The positions are written to the
//! [`FleetStore`] with the events, so a restarted shore node (or another node taking the
//! ship over) rebuilds the mirror from the store and goes on where it stood.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path as AxPath, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use parking_lot::Mutex;
use seawatch_runtime::event_log::Event;
use seawatch_runtime::{Clock, Runtime};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::link::ShoreConn;
use super::metrics::SyncMetrics;
use super::wire::{Action, Command, CommandReply, Down, Lane, ShipSnapshot, Up};
use crate::push::{Push, PushBus, PushKind};

/// Where shore keeps the fleet's events.
pub trait FleetStore: Send + Sync + 'static {
    /// Stores `events` of `ship` and records `next` as the lane's position, atomically as
    /// far as the store allows. Returns (newly stored, already present).
    fn store(&self, ship: &str, lane: Lane, events: &[Event], next: u64) -> (u64, u64);
    /// The lane positions recorded for `ship` (0 when none).
    fn positions(&self, ship: &str) -> [u64; 4];
    /// Distinct events stored for `ship`.
    fn count(&self, ship: &str) -> u64;
    /// Whether the event (ship, seq) is stored.
    fn contains(&self, ship: &str, seq: u64) -> bool;
    /// Events offered for storage that were already stored (should stay 0).
    fn duplicates(&self, ship: &str) -> u64;
    /// [`store`](Self::store) for stores that can fail (a remote database): on `Err`
    /// nothing may count as stored and the position must not move. The batch is not
    /// acknowledged, so the ship sends it again.
    fn try_store(
        &self,
        ship: &str,
        lane: Lane,
        events: &[Event],
        next: u64,
    ) -> Result<(u64, u64), String> {
        Ok(self.store(ship, lane, events, next))
    }
    /// [`positions`](Self::positions) for stores that can fail.
    fn try_positions(&self, ship: &str) -> Result<[u64; 4], String> {
        Ok(self.positions(ship))
    }
}

#[derive(Default)]
struct MemShip {
    bits: Vec<u64>,
    count: u64,
    duplicates: u64,
    positions: [u64; 4],
    recent: VecDeque<Event>,
}

/// The embedded fleet store: a bitmap of stored identities per ship, the lane positions,
/// and the most recent events per ship (bounded) for the console. It lives as long as the
/// process; a shore node that restarts inside the process finds it again.
#[derive(Default)]
pub struct MemFleetStore {
    ships: Mutex<HashMap<String, MemShip>>,
    keep_recent: usize,
}

impl MemFleetStore {
    /// A store keeping the last `keep_recent` events of each ship.
    pub fn new(keep_recent: usize) -> Self {
        Self {
            ships: Mutex::new(HashMap::new()),
            keep_recent,
        }
    }

    /// The most recent stored events of `ship`, oldest first.
    pub fn recent(&self, ship: &str) -> Vec<Event> {
        self.ships
            .lock()
            .get(ship)
            .map(|s| s.recent.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Stores an event regardless of positions (for tests of the duplicate count).
    pub fn insert_raw(&self, ship: &str, event: &Event) -> bool {
        let mut ships = self.ships.lock();
        let s = ships.entry(ship.to_owned()).or_default();
        Self::insert(s, event, self.keep_recent)
    }

    fn insert(s: &mut MemShip, e: &Event, keep: usize) -> bool {
        let (w, b) = ((e.seq / 64) as usize, e.seq % 64);
        if s.bits.len() <= w {
            s.bits.resize(w + 1, 0);
        }
        if s.bits[w] & (1 << b) != 0 {
            s.duplicates += 1;
            return false;
        }
        s.bits[w] |= 1 << b;
        s.count += 1;
        if keep > 0 {
            if s.recent.len() >= keep {
                s.recent.pop_front();
            }
            s.recent.push_back(e.clone());
        }
        true
    }
}

impl FleetStore for MemFleetStore {
    fn store(&self, ship: &str, lane: Lane, events: &[Event], next: u64) -> (u64, u64) {
        let mut ships = self.ships.lock();
        let s = ships.entry(ship.to_owned()).or_default();
        let mut new = 0;
        for e in events {
            if Self::insert(s, e, self.keep_recent) {
                new += 1;
            }
        }
        let p = &mut s.positions[lane.index()];
        *p = (*p).max(next);
        (new, events.len() as u64 - new)
    }

    fn positions(&self, ship: &str) -> [u64; 4] {
        self.ships
            .lock()
            .get(ship)
            .map(|s| s.positions)
            .unwrap_or([0; 4])
    }

    fn count(&self, ship: &str) -> u64 {
        self.ships.lock().get(ship).map(|s| s.count).unwrap_or(0)
    }

    fn contains(&self, ship: &str, seq: u64) -> bool {
        self.ships
            .lock()
            .get(ship)
            .and_then(|s| s.bits.get((seq / 64) as usize))
            .is_some_and(|w| w & (1 << (seq % 64)) != 0)
    }

    fn duplicates(&self, ship: &str) -> u64 {
        self.ships
            .lock()
            .get(ship)
            .map(|s| s.duplicates)
            .unwrap_or(0)
    }
}

/// One ship as the fleet view shows it (`GET /api/fleet`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetShip {
    /// Ship id.
    pub ship: String,
    /// Links and their state, from the last snapshot.
    pub links: Vec<super::wire::LinkSnapshot>,
    /// Last time anything arrived from the ship (RFC 3339 UTC), null if never.
    pub last_sync: Option<String>,
    /// The same, unix ms.
    pub last_sync_ms: Option<i64>,
    /// Events on the ship not yet acknowledged, as of its last snapshot.
    pub sync_backlog: u64,
    /// Open incidents, from the last snapshot.
    pub open_incidents: Vec<String>,
    /// Distinct events stored at shore.
    pub events_stored: u64,
    /// Shore node serving this ship's mirror.
    pub node: String,
    /// Where the ship is, as of its last snapshot (`null` when it reports no position).
    pub position: Option<seawatch_model::ShipPosition>,
    /// The link the ship's sync rides, as of its last snapshot (`null` when it does not
    /// say).
    pub sync_link: Option<String>,
}

pub use super::fleet::FleetView;

/// A ship's mirror: what shore knows of it.
pub struct Mirror {
    ship: String,
    positions: [u64; 4],
    last_sync_ms: Option<i64>,
    snapshot: ShipSnapshot,
}

impl Mirror {
    /// Rebuilds the mirror of `ship` from the store.
    pub fn load(ship: &str, store: &dyn FleetStore) -> Self {
        Self {
            ship: ship.to_owned(),
            // Logs start at seq 1: an unknown ship is expected from there.
            positions: store.positions(ship).map(|p| p.max(1)),
            last_sync_ms: None,
            snapshot: ShipSnapshot::default(),
        }
    }

    /// Rebuilds the mirror of `ship` from a store that can fail.
    pub fn try_load(ship: &str, store: &dyn FleetStore) -> Result<Self, String> {
        Ok(Self::at(ship, store.try_positions(ship)?))
    }

    /// A mirror of `ship` standing at `positions` (e.g. read from a shared store).
    pub fn at(ship: &str, positions: [u64; 4]) -> Self {
        Self {
            ship: ship.to_owned(),
            positions: positions.map(|p| p.max(1)),
            last_sync_ms: None,
            snapshot: ShipSnapshot::default(),
        }
    }

    /// The ship.
    pub fn ship(&self) -> &str {
        &self.ship
    }

    /// The lane positions.
    pub fn positions(&self) -> [u64; 4] {
        self.positions
    }

    /// What to do with a batch: answer at once (gap, old, malformed), or store its fresh
    /// events and then [`commit`](Self::commit).
    pub fn decide(&self, b: &super::wire::Batch) -> Decision {
        let pos = self.positions[b.lane.index()];
        if b.from_seq > pos {
            return Decision::Answer(Down::Resume {
                lane: b.lane,
                next: pos,
            });
        }
        if b.end_seq <= pos {
            return Decision::Answer(Down::Ack {
                lane: b.lane,
                next: pos,
            });
        }
        match b.events() {
            Ok(events) => {
                let received = events.len() as u64;
                let fresh: Vec<Event> = events.into_iter().filter(|e| e.seq >= pos).collect();
                Decision::Store {
                    lane: b.lane,
                    dropped: received - fresh.len() as u64,
                    events: fresh,
                    end: b.end_seq,
                }
            }
            Err(e) => {
                tracing::warn!(ship = %self.ship, error = %e, "shore: bad batch refused");
                Decision::Answer(Down::Resume {
                    lane: b.lane,
                    next: pos,
                })
            }
        }
    }

    /// Records that a lane's events up to `end` are stored; returns the ack.
    pub fn commit(&mut self, lane: Lane, end: u64) -> Down {
        let p = &mut self.positions[lane.index()];
        *p = (*p).max(end);
        Down::Ack { lane, next: *p }
    }

    /// Notes that the ship was heard from at `now_ms`.
    pub fn heard(&mut self, now_ms: i64) {
        self.last_sync_ms = Some(now_ms);
    }

    /// Takes a snapshot if it is newer than the one held.
    pub fn snapshot(&mut self, snapshot: ShipSnapshot) {
        if snapshot.at_ms >= self.snapshot.at_ms {
            self.snapshot = snapshot;
        }
    }

    /// Applies a frame from the ship to `store`; returns what to answer.
    pub fn apply(
        &mut self,
        up: Up,
        store: &dyn FleetStore,
        now_ms: i64,
        metrics: Option<&SyncMetrics>,
    ) -> Option<Down> {
        self.heard(now_ms);
        match up {
            Up::Batch(b) => match self.decide(&b) {
                Decision::Answer(d) => Some(d),
                Decision::Store {
                    lane,
                    events,
                    end,
                    dropped,
                } => {
                    let (new, present) = match store.try_store(&self.ship, lane, &events, end) {
                        Ok(r) => r,
                        Err(e) => {
                            // Not stored, not acknowledged: the ship sends it again.
                            tracing::warn!(ship = %self.ship, error = %e, "shore: store failed; batch not acknowledged");
                            if let Some(m) = metrics {
                                m.shore_store_failed(&self.ship);
                            }
                            return None;
                        }
                    };
                    if let Some(m) = metrics {
                        m.shore_applied(&self.ship, new, dropped + present);
                        if let Some(last) = events.last() {
                            m.set_lag(&self.ship, (now_ms - last.ts_ms) as f64 / 1000.0);
                        }
                    }
                    Some(self.commit(lane, end))
                }
            },
            Up::Snapshot { snapshot, .. } => {
                self.snapshot(snapshot);
                None
            }
            Up::Reply(_) => None,
            // The in-process shore keeps no samples: a rollup is taken and dropped
            // (decision 0058; the NATS shore writes it to VictoriaMetrics).
            Up::Rollup(r) => Some(Down::RollupAck { next: r.end_seq }),
        }
    }

    /// The mirror as a fleet-view entry, with `events_stored` given.
    pub fn view_with(&self, events_stored: u64, node: &str) -> FleetShip {
        FleetShip {
            ship: self.ship.clone(),
            links: self.snapshot.links.clone(),
            last_sync: self.last_sync_ms.map(rfc3339),
            last_sync_ms: self.last_sync_ms,
            sync_backlog: self.snapshot.backlog_events,
            open_incidents: self.snapshot.open_incidents.clone(),
            events_stored,
            node: node.to_owned(),
            position: self.snapshot.position,
            sync_link: self.snapshot.sync_link.clone(),
        }
    }

    /// The mirror as a fleet-view entry.
    pub fn view(&self, store: &dyn FleetStore, node: &str) -> FleetShip {
        self.view_with(store.count(&self.ship), node)
    }
}

/// What [`Mirror::decide`] says about a batch.
#[derive(Debug)]
pub enum Decision {
    /// Send this and store nothing.
    Answer(Down),
    /// Store these events, then commit the lane's position to `end`.
    Store {
        /// The lane.
        lane: Lane,
        /// Events not stored before (at or above the lane's position).
        events: Vec<Event>,
        /// The batch's end.
        end: u64,
        /// Events of the batch below the position (resent, not applied).
        dropped: u64,
    },
}

/// State of a command as shore sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CommandState {
    /// Queued or sent, no answer yet.
    Pending,
    /// Answered by the ship.
    Answered {
        /// The answer.
        reply: CommandReply,
    },
    /// Expired before an answer came back.
    Expired,
}

struct Queued {
    cmd: Command,
    last_sent_ms: Option<i64>,
}

/// Commands for ships: queued while a link is down, sent (again) until answered or
/// expired. Cheap to clone.
#[derive(Clone, Default)]
pub struct Commands {
    inner: Arc<Mutex<CommandsInner>>,
}

#[derive(Default)]
struct CommandsInner {
    next_id: u64,
    queued: BTreeMap<(String, u64), Queued>,
    done: HashMap<(String, u64), CommandState>,
}

impl Commands {
    /// Queues `action` for `ship`, valid for `ttl`; returns its id.
    pub fn submit(&self, ship: &str, action: Action, ttl: Duration, now_ms: i64) -> u64 {
        let mut inner = self.inner.lock();
        // Ids start from the clock so a restarted shore does not reuse them.
        inner.next_id = inner.next_id.max(now_ms.max(0) as u64 * 1000) + 1;
        let id = inner.next_id;
        let cmd = Command {
            id,
            ship: ship.to_owned(),
            expires_ms: now_ms.saturating_add(ttl.as_millis() as i64),
            action,
        };
        inner.queued.insert(
            (ship.to_owned(), id),
            Queued {
                cmd,
                last_sent_ms: None,
            },
        );
        id
    }

    /// The state of a command, `None` if unknown.
    pub fn state(&self, ship: &str, id: u64) -> Option<CommandState> {
        let inner = self.inner.lock();
        let key = (ship.to_owned(), id);
        if inner.queued.contains_key(&key) {
            return Some(CommandState::Pending);
        }
        inner.done.get(&key).cloned()
    }

    /// Records a ship's answer.
    pub fn answered(&self, reply: CommandReply) {
        let mut inner = self.inner.lock();
        let key = (reply.ship.clone(), reply.id);
        if inner.queued.remove(&key).is_some() || !inner.done.contains_key(&key) {
            inner.done.insert(key, CommandState::Answered { reply });
        }
    }

    /// Commands for `ship` to send now: not sent within `resend_ms`. Expired ones are
    /// retired.
    pub fn due(&self, ship: &str, now_ms: i64, resend_ms: i64) -> Vec<Command> {
        let mut inner = self.inner.lock();
        let expired: Vec<_> = inner
            .queued
            .iter()
            .filter(|(_, q)| q.cmd.expires_ms < now_ms)
            .map(|(k, _)| k.clone())
            .collect();
        for k in expired {
            inner.queued.remove(&k);
            inner.done.insert(k, CommandState::Expired);
        }
        let mut out = Vec::new();
        for ((s, _), q) in inner.queued.iter_mut() {
            if s == ship && q.last_sent_ms.is_none_or(|t| now_ms - t >= resend_ms) {
                q.last_sent_ms = Some(now_ms);
                out.push(q.cmd.clone());
            }
        }
        out
    }
}

/// A shore node's sync state: the mirrors it owns, the fleet view, commands.
pub struct Shore {
    node: String,
    store: Arc<dyn FleetStore>,
    mirrors: HashMap<String, Mirror>,
    fleet: FleetView,
    commands: Commands,
    push: Option<PushBus>,
    metrics: Option<SyncMetrics>,
    owns: Arc<dyn Fn(&str) -> bool + Send + Sync>,
    runtime: Option<Runtime>,
}

/// A [`Shore`]'s configuration, taken apart to start its actors.
pub(crate) struct ShoreParts {
    pub node: String,
    pub store: Arc<dyn FleetStore>,
    pub fleet: FleetView,
    pub commands: Commands,
    pub push: Option<PushBus>,
    pub metrics: Option<SyncMetrics>,
    pub owns: Arc<dyn Fn(&str) -> bool + Send + Sync>,
    pub runtime: Option<Runtime>,
}

impl Shore {
    /// A shore node named `node` over `store`, owning every ship.
    pub fn new(node: &str, store: Arc<dyn FleetStore>) -> Self {
        Self {
            node: node.to_owned(),
            store,
            mirrors: HashMap::new(),
            fleet: FleetView::default(),
            commands: Commands::default(),
            push: None,
            metrics: None,
            owns: Arc::new(|_| true),
            runtime: None,
        }
    }

    /// Runs the node's actors (fleet supervisor, mirrors) with `runtime` (its metrics
    /// and registry); [`run_shore`] makes a private one otherwise.
    pub fn with_runtime(mut self, runtime: Runtime) -> Self {
        self.runtime = Some(runtime);
        self
    }

    pub(crate) fn into_parts(self) -> ShoreParts {
        ShoreParts {
            node: self.node,
            store: self.store,
            fleet: self.fleet,
            commands: self.commands,
            push: self.push,
            metrics: self.metrics,
            owns: self.owns,
            runtime: self.runtime,
        }
    }

    /// Publishes fleet changes on `push`.
    pub fn with_push(mut self, push: PushBus) -> Self {
        self.push = Some(push);
        self
    }

    /// Records metrics.
    pub fn with_metrics(mut self, metrics: SyncMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Shares a fleet view and a command queue (e.g. with the HTTP API).
    pub fn with_shared(mut self, fleet: FleetView, commands: Commands) -> Self {
        self.fleet = fleet;
        self.commands = commands;
        self
    }

    /// Only serves ships for which `owns` says yes (cluster membership).
    pub fn with_ownership(mut self, owns: Arc<dyn Fn(&str) -> bool + Send + Sync>) -> Self {
        self.owns = owns;
        self
    }

    /// The fleet view.
    pub fn fleet(&self) -> FleetView {
        self.fleet.clone()
    }

    /// The command queue.
    pub fn commands(&self) -> Commands {
        self.commands.clone()
    }

    /// Applies a frame; returns the frames to send to its ship.
    pub fn on_up(&mut self, up: Up, now_ms: i64) -> Vec<Down> {
        let ship = up.ship().to_owned();
        if !(self.owns)(&ship) {
            if self.mirrors.remove(&ship).is_some() {
                self.fleet.remove(&ship);
            }
            return Vec::new();
        }
        if let Up::Reply(r) = &up {
            self.commands.answered(r.clone());
        }
        let store = self.store.clone();
        if !self.mirrors.contains_key(&ship) {
            match Mirror::try_load(&ship, &*store) {
                Ok(m) => {
                    if let Some(metrics) = &self.metrics {
                        metrics.shore_stored_at_least(&ship, store.count(&ship));
                    }
                    self.mirrors.insert(ship.clone(), m);
                }
                Err(e) => {
                    // The store is unreachable: drop the frame; the ship sends it again.
                    tracing::warn!(ship = %ship, error = %e, "shore: cannot read positions");
                    if let Some(m) = &self.metrics {
                        m.shore_store_failed(&ship);
                    }
                    return Vec::new();
                }
            }
        }
        let Some(mirror) = self.mirrors.get_mut(&ship) else {
            return Vec::new();
        };
        let mut out: Vec<Down> = mirror
            .apply(up, &*store, now_ms, self.metrics.as_ref())
            .into_iter()
            .collect();
        // The link is evidently up: send the ship's queued commands.
        out.extend(
            self.commands
                .due(&ship, now_ms, 5_000)
                .into_iter()
                .map(Down::Command),
        );
        if self.fleet.set(mirror.view(&*store, &self.node)) {
            if let Some(push) = &self.push {
                let body = serde_json::to_value(mirror.view(&*store, &self.node))
                    .unwrap_or(serde_json::Value::Null);
                push.publish(Push {
                    kind: PushKind::Fleet,
                    ship: Some(ship),
                    body,
                });
            }
        }
        out
    }
}

/// Runs an embedded shore node until `shutdown` turns true: a fleet supervisor with a
/// mirror actor per ship (see [`super::fleet`]); frames are routed to their ship's mirror,
/// which applies them with [`Mirror::apply`]. Dropping the future kills the actors.
pub async fn run_shore(
    shore: Shore,
    conn: ShoreConn,
    clock: Clock,
    shutdown: watch::Receiver<bool>,
) {
    super::fleet::run_embedded_shore(shore, conn, clock, shutdown).await
}

/// Unix ms as RFC 3339 UTC with millisecond precision (one formatter: `seawatch_model::time`).
pub use seawatch_model::time::rfc3339;

/// State behind the fleet API.
#[derive(Clone)]
pub struct FleetApi {
    /// The fleet view.
    pub fleet: FleetView,
    /// The command queue.
    pub commands: Commands,
    /// Shore time.
    pub clock: Clock,
}

/// A command request body: the action plus its time to live.
#[derive(Debug, Deserialize)]
pub struct CommandRequest {
    /// What to do.
    #[serde(flatten)]
    pub action: Action,
    /// Seconds before it expires (default 3600).
    pub ttl_s: Option<u64>,
}

/// `GET /api/fleet`, `POST /api/ships/{ship}/commands` and
/// `GET /api/ships/{ship}/commands/{id}`. Authentication goes in front (the console's
/// middleware); [`fleet_read_router`] and [`fleet_command_router`] split it by role.
pub fn fleet_router(api: FleetApi) -> Router {
    fleet_read_router(api.clone()).merge(fleet_command_router(api))
}

/// The read side: `GET /api/fleet` and `GET /api/ships/{ship}/commands/{id}` (viewers).
pub fn fleet_read_router(api: FleetApi) -> Router {
    Router::new()
        .route("/api/fleet", get(get_fleet))
        .route("/api/ships/{ship}/commands/{id}", get(get_command))
        .with_state(api)
}

/// The write side: `POST /api/ships/{ship}/commands` (operators).
pub fn fleet_command_router(api: FleetApi) -> Router {
    Router::new()
        .route("/api/ships/{ship}/commands", post(post_command))
        .with_state(api)
}

/// Asks every mirror actor of this node for its state (see [`FleetView::collect`]).
async fn get_fleet(State(api): State<FleetApi>) -> Json<Vec<FleetShip>> {
    Json(api.fleet.collect(super::fleet::ASK_TIMEOUT).await)
}

async fn post_command(
    State(api): State<FleetApi>,
    AxPath(ship): AxPath<String>,
    Json(req): Json<CommandRequest>,
) -> (StatusCode, Json<serde_json::Value>) {
    if ship.is_empty() || ship.len() > 128 {
        return (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"error": "bad ship id"})),
        );
    }
    let ttl = Duration::from_secs(req.ttl_s.unwrap_or(3600).clamp(1, 7 * 86_400));
    let id = api
        .commands
        .submit(&ship, req.action, ttl, api.clock.now_ms());
    (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({"id": id, "ship": ship})),
    )
}

async fn get_command(
    State(api): State<FleetApi>,
    AxPath((ship, id)): AxPath<(String, u64)>,
) -> Result<Json<CommandState>, StatusCode> {
    api.commands
        .state(&ship, id)
        .map(Json)
        .ok_or(StatusCode::NOT_FOUND)
}

#[cfg(test)]
mod tests {
    use super::*;
    use seawatch_runtime::event_log::EventKind;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_709_251_200_123), "2024-03-01T00:00:00.123Z");
    }

    #[test]
    fn the_store_counts_an_identity_stored_twice() {
        let store = MemFleetStore::new(4);
        let e = Event {
            seq: 70,
            ts_ms: 0,
            kind: EventKind::Log,
            source: "x".into(),
            severity: 6,
            body: "b".into(),
        };
        assert!(store.insert_raw("a", &e));
        assert!(!store.insert_raw("a", &e));
        assert_eq!(store.count("a"), 1);
        assert_eq!(store.duplicates("a"), 1);
        assert!(store.contains("a", 70) && !store.contains("a", 69) && !store.contains("b", 70));
    }

    #[test]
    fn commands_expire_and_answers_are_kept() {
        let c = Commands::default();
        let id = c.submit(
            "a",
            Action::AckIncident {
                incident: "i1".into(),
            },
            Duration::from_secs(10),
            1_000,
        );
        assert_eq!(c.due("a", 1_000, 5_000).len(), 1);
        assert!(c.due("a", 2_000, 5_000).is_empty(), "resent too early");
        assert_eq!(c.due("a", 6_000, 5_000).len(), 1);
        let id2 = c.submit(
            "a",
            Action::FetchConfig {
                device: "fw".into(),
            },
            Duration::from_secs(1),
            1_000,
        );
        assert!(c.due("a", 3_000, 5_000).is_empty());
        assert_eq!(c.state("a", id2), Some(CommandState::Expired));
        c.answered(CommandReply {
            ship: "a".into(),
            id,
            ok: true,
            result: "acked".into(),
        });
        assert!(matches!(
            c.state("a", id),
            Some(CommandState::Answered { .. })
        ));
    }
}
