//! `GET /ws?token=TOKEN` (contracts §2): one supervised session actor per WebSocket.
//!
//! The hub's fan-out task serializes each [`PushBus`] push once into a shared text
//! buffer and puts it on a bounded broadcast ring. Each session has one pump task that
//! reads the ring at its own pace, keeps the pushes its client subscribed to (one ship,
//! or everything) and writes them to the socket, several per flush when they queue up.
//! Producers never wait for a session and a session never waits for another: when a
//! pump falls more than the ring's capacity behind (its client is slow), the lost deltas
//! are dropped and the client gets one fresh `{"type":"snapshot", ...}` from the
//! [`SnapshotSource`] instead, followed by every push after it. The session actor sees
//! only client messages and closes, never the push stream. Hostile input (binary frames,
//! oversized messages, bad JSON, unknown message types, floods) closes the session with a
//! close code and reason and counts `seawatch_ws_closed_total{reason}`; nothing else. A
//! session whose token expires is closed (1008 `token_expired`).

mod session;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use futures::future::BoxFuture;
use parking_lot::Mutex;
use seawatch_actors::push::{Push, PushBus};
use seawatch_runtime::supervision::{
    Addr, Backoff, ChildSpec, Restart, Strategy, SupervisorMsg, SupervisorSpec,
};

use seawatch_runtime::{Clock, ShardKey};

use crate::auth::{Auth, Principal, Role};
use crate::metrics::ConsoleMetrics;
use crate::rt::ConsoleRuntime;
pub use session::{SessionActor, SessionArgs, SessionMsg};

/// Where sessions get the current state of what they show, sent on subscribe and in
/// place of lost deltas. The incidents and fleet code implement it over their state.
pub trait SnapshotSource: Send + Sync + 'static {
    /// The ships this node knows (a client may subscribe only to these; bounds the
    /// `ship` metric label).
    fn ships(&self) -> Vec<String>;

    /// The current state as pushes (each incident, link and fleet entry as it would be
    /// pushed), for one ship or, with `None`, everything the node holds.
    fn snapshot(&self, ship: Option<&str>) -> BoxFuture<'static, Vec<Push>>;
}

/// A [`SnapshotSource`] knowing ships but no state yet (before incidents and sync exist).
#[derive(Debug, Clone)]
pub struct EmptySnapshots(pub Vec<String>);

impl SnapshotSource for EmptySnapshots {
    fn ships(&self) -> Vec<String> {
        self.0.clone()
    }

    fn snapshot(&self, _ship: Option<&str>) -> BoxFuture<'static, Vec<Push>> {
        Box::pin(async { Vec::new() })
    }
}

/// A push as every session sends it: serialized once, shared (the text is a refcounted
/// buffer) by all sessions.
#[derive(Debug)]
pub struct WirePush {
    /// The push.
    pub push: Arc<Push>,
    /// Its wire form.
    pub text: axum::extract::ws::Utf8Bytes,
}

/// What the hub's fan-out task passes to sessions.
#[derive(Debug, Clone)]
pub enum Fan {
    /// A push.
    Push(Arc<WirePush>),
    /// The fan-out task itself lagged on the bus by this many pushes: everyone owes a
    /// snapshot.
    Lagged(u64),
}

/// WebSocket limits.
#[derive(Debug, Clone, Copy)]
pub struct WsConfig {
    /// Largest client message or frame, bytes (larger: closed with 1009).
    pub max_message_bytes: usize,
    /// Pushes a session may fall behind (its socket not taking them) before it drops
    /// them and gets one snapshot instead: the capacity of the hub's shared fan-out ring,
    /// which every session reads at its own pace.
    pub out_buffer: usize,
    /// Client messages a session accepts at once...
    pub client_burst: u32,
    /// ...then per second (more: closed as a flood).
    pub client_per_s: u32,
    /// A write to the client that takes longer than this closes the session.
    pub write_timeout: Duration,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 4096,
            out_buffer: 256,
            client_burst: 20,
            client_per_s: 5,
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// The WebSocket side of a node's console: spawns sessions under the `sessions`
/// supervisor. Cheap to clone.
#[derive(Clone)]
pub struct WsHub {
    pub(crate) fan: tokio::sync::broadcast::Sender<Fan>,
    pub(crate) snapshots: Arc<dyn SnapshotSource>,
    pub(crate) sessions: Addr<SupervisorMsg>,
    pub(crate) metrics: ConsoleMetrics,
    pub(crate) cfg: WsConfig,
    /// Where the sockets, the pumps and the fan-out run.
    pub(crate) rt: tokio::runtime::Handle,
    /// Keeps the console runtime (if the hub runs on one) up while sessions live.
    _console: Option<ConsoleRuntime>,
    /// Session expiry is checked on this clock (the one tokens are issued on; set by
    /// [`WsHub::routes`] from the [`Auth`]).
    pub(crate) clock: Clock,
    next_id: Arc<AtomicU64>,
}

impl std::fmt::Debug for WsHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsHub").field("cfg", &self.cfg).finish()
    }
}

/// The `sessions` dynamic supervisor (one_for_one; sessions are temporary children: a
/// failed session is not restarted, its client reconnects). Put the spec in the node's
/// tree and give the address to [`WsHub::new`].
/// `shard` is the node's: a ship's id on a ship node, a shore-wide key elsewhere.
pub fn sessions_supervisor(shard: impl Into<ShardKey>) -> (ChildSpec, Addr<SupervisorMsg>) {
    let shard: ShardKey = shard.into();
    ChildSpec::supervisor("sessions", move || {
        SupervisorSpec::new("sessions", shard.clone())
            .strategy(Strategy::OneForOne)
            .intensity(10_000, Duration::from_secs(60))
            .backoff(Backoff::none())
    })
}

impl WsHub {
    /// A hub pushing from `bus`, with snapshots from `snapshots`, sessions under
    /// `sessions` (see [`sessions_supervisor`]). Spawns the fan-out task (serializes each
    /// push once for all sessions; it ends when `bus` is dropped). Call inside a tokio
    /// runtime; sockets run on the current one (see [`WsHub::new_on`]).
    pub fn new(
        bus: PushBus,
        snapshots: Arc<dyn SnapshotSource>,
        sessions: Addr<SupervisorMsg>,
        metrics: ConsoleMetrics,
        cfg: WsConfig,
    ) -> Self {
        Self::build(
            tokio::runtime::Handle::current(),
            None,
            bus,
            snapshots,
            sessions,
            metrics,
            cfg,
        )
    }

    /// [`WsHub::new`], with the fan-out and every session's socket tasks on `rt` (the
    /// node's [`crate::ConsoleRuntime`]); the session actors stay in the supervision tree.
    /// The runtime stays up while the hub or a session does.
    pub fn new_on(
        rt: &ConsoleRuntime,
        bus: PushBus,
        snapshots: Arc<dyn SnapshotSource>,
        sessions: Addr<SupervisorMsg>,
        metrics: ConsoleMetrics,
        cfg: WsConfig,
    ) -> Self {
        Self::build(
            rt.handle().clone(),
            Some(rt.clone()),
            bus,
            snapshots,
            sessions,
            metrics,
            cfg,
        )
    }

    fn build(
        rt: tokio::runtime::Handle,
        console: Option<ConsoleRuntime>,
        bus: PushBus,
        snapshots: Arc<dyn SnapshotSource>,
        sessions: Addr<SupervisorMsg>,
        metrics: ConsoleMetrics,
        cfg: WsConfig,
    ) -> Self {
        let (fan, _) = tokio::sync::broadcast::channel(cfg.out_buffer.max(1));
        let mut rx = bus.subscribe();
        let out = fan.clone();
        rt.spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                let msg = match rx.recv().await {
                    Ok(push) => Fan::Push(Arc::new(WirePush {
                        text: push.to_wire().into(),
                        push,
                    })),
                    Err(RecvError::Lagged(n)) => Fan::Lagged(n),
                    Err(RecvError::Closed) => return,
                };
                let _ = out.send(msg);
            }
        });
        Self {
            fan,
            snapshots,
            sessions,
            metrics,
            cfg,
            rt,
            _console: console,
            clock: Clock::system(),
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    /// `GET /ws`, behind `auth` (viewer). Sessions close when their token expires, on
    /// `auth`'s clock.
    pub fn routes(&self, auth: &Auth) -> Router {
        let mut hub = self.clone();
        hub.clock = auth.clock().clone();
        auth.protect(
            Role::Viewer,
            Router::new().route("/ws", get(upgrade)).with_state(hub),
        )
    }

    /// Starts a session actor for an upgraded socket.
    pub async fn start_session(&self, socket: WebSocket, principal: Principal) {
        let id = format!("ws-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let args = SessionArgs {
            socket: Arc::new(Mutex::new(Some(socket))),
            hub: self.clone(),
            principal,
        };
        let args_for_start = args.clone();
        let (spec, _addr) = ChildSpec::actor(&id, "ws-session", move || {
            (SessionActor, args_for_start.clone())
        });
        let spec = spec.restart(Restart::Temporary).unregistered();
        let added = self
            .sessions
            .call(|r| SupervisorMsg::AddChild(spec, r), Duration::from_secs(5))
            .await;
        if !matches!(added, Ok(Ok(()))) {
            self.metrics.ws_closed_inc("server_unavailable");
            if let Some(mut socket) = args.socket.lock().take() {
                tokio::spawn(async move {
                    let _ = socket
                        .send(Message::Close(Some(CloseFrame {
                            code: 1013,
                            reason: "server_unavailable".into(),
                        })))
                        .await;
                });
            }
        }
    }
}

async fn upgrade(
    State(hub): State<WsHub>,
    Extension(principal): Extension<Principal>,
    ws: WebSocketUpgrade,
) -> Response {
    let max = hub.cfg.max_message_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move { hub.start_session(socket, principal).await })
}

#[cfg(test)]
mod tests;
