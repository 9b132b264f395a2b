//! One WebSocket session: an actor (client messages, subscription, closes, metrics) plus
//! two tasks on the hub's runtime that it owns: the socket reader, and the pump that
//! writes the push stream (and the actor's replies) to the socket.
//!
//! Pushes never pass through the actor: the pump reads them from the hub's shared ring,
//! filters them by the subscription and writes them, so a push costs one task wake-up
//! per session, and a burst of pushes one flush.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use parking_lot::Mutex;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use seawatch_actors::push::{Push, PushKind};
use seawatch_runtime::Clock;
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{Fan, WsHub};
use crate::auth::{Principal, Role};
use crate::metrics::{ReasonLabel, ShipLabel};

/// Most pushes written per flush.
const MAX_BATCH: usize = 64;
/// Replies (snapshots, pongs, errors) queued for the pump; a client that keeps sending
/// while not reading fills it and is closed as a flood.
const CTL_BUFFER: usize = 64;
/// Longest wait between two looks at the clock for token expiry (the clock may jump).
const EXPIRY_CHECK: Duration = Duration::from_secs(5);

/// Messages of a session actor.
pub enum SessionMsg {
    /// A frame (or a read error) from the client.
    Client(Result<Message, axum::Error>),
    /// The client's side of the socket ended.
    ClientGone,
    /// A write to the client failed or timed out.
    WriteFailed(&'static str),
    /// The session's token expired.
    Expired,
}

/// Start arguments of a session: the upgraded socket (taken by the first incarnation).
#[derive(Clone)]
pub struct SessionArgs {
    /// The socket, taken in `pre_start`.
    pub socket: Arc<Mutex<Option<WebSocket>>>,
    /// The hub (bus, snapshots, metrics, limits).
    pub hub: WsHub,
    /// Who is connected.
    pub principal: Principal,
}

/// The session actor.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionActor;

/// What a client may send.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientMsg {
    /// Show one ship (`ship`), or everything (`ship` null or absent).
    Subscribe {
        #[serde(default)]
        ship: Option<String>,
    },
    /// Keep-alive; answered with `{"type":"pong"}`.
    Ping,
}

/// What the actor tells its pump.
enum Ctl {
    /// Follow this ship (or everything) from now on, starting with a snapshot.
    Subscribe(Option<String>),
    /// Send this message.
    Text(Utf8Bytes),
}

/// A session's state.
pub struct SessionState {
    hub: WsHub,
    principal: Principal,
    ctl: mpsc::Sender<Ctl>,
    close: Option<oneshot::Sender<CloseFrame>>,
    label: ShipLabel,
    bucket: f64,
    bucket_at: Instant,
    reader: JoinHandle<()>,
}

impl SessionState {
    fn set_label(&mut self, label: ShipLabel) {
        self.hub
            .metrics
            .ws_sessions
            .get_or_create(&self.label)
            .dec();
        self.label = label;
        self.hub
            .metrics
            .ws_sessions
            .get_or_create(&self.label)
            .inc();
    }

    /// Hands `ctl` to the pump; a client that fills the pump's queue is closed.
    fn tell(&mut self, myself: &ActorRef<SessionMsg>, ctl: Ctl) {
        match self.ctl.try_send(ctl) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => self.close(myself, 1008, "flood"),
            Err(mpsc::error::TrySendError::Closed(_)) => self.close(myself, 1011, "send_failed"),
        }
    }

    /// Counts the reason, sends the close frame (the pump flushes it) and stops.
    fn close(&mut self, myself: &ActorRef<SessionMsg>, code: u16, reason: &'static str) {
        if let Some(tx) = self.close.take() {
            self.hub.metrics.ws_closed_inc(reason);
            tracing::debug!(user = %self.principal.name, reason, "websocket session closed");
            let _ = tx.send(CloseFrame {
                code,
                reason: reason.into(),
            });
        }
        myself.stop(None);
    }

    /// Token bucket over client messages; false when the client floods.
    fn take_client_token(&mut self) -> bool {
        let now = Instant::now();
        let cfg = self.hub.cfg;
        let refill = now.duration_since(self.bucket_at).as_secs_f64() * f64::from(cfg.client_per_s);
        self.bucket = (self.bucket + refill).min(f64::from(cfg.client_burst));
        self.bucket_at = now;
        if self.bucket >= 1.0 {
            self.bucket -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Resolves when `expires_ms` has passed on `clock` (never for a token without expiry).
/// Sleeps on tokio time, looking at the clock at least every [`EXPIRY_CHECK`].
pub(super) async fn expired(clock: Clock, expires_ms: Option<i64>) {
    let Some(at) = expires_ms else {
        return std::future::pending().await;
    };
    loop {
        let left = at.saturating_sub(clock.now_ms());
        if left <= 0 {
            return;
        }
        let wait = Duration::from_millis(u64::try_from(left).unwrap_or(u64::MAX));
        tokio::time::sleep(wait.min(EXPIRY_CHECK)).await;
    }
}

/// The session's writing side.
struct Pump {
    sink: SplitSink<WebSocket, Message>,
    fan: broadcast::Receiver<Fan>,
    ctl: mpsc::Receiver<Ctl>,
    session: ActorRef<SessionMsg>,
    hub: WsHub,
    ship: Option<String>,
    /// The signed-in user's role: rollout pushes go to admins only, as the rollout
    /// routes do.
    role: Option<Role>,
}

/// Whether a session of `role` may see pushes of `kind`.
pub(super) fn may_see(kind: PushKind, role: Option<Role>) -> bool {
    match kind {
        PushKind::Rollout => role >= Some(Role::Admin),
        PushKind::Incident | PushKind::Link | PushKind::Fleet | PushKind::Runbook => true,
    }
}

impl Pump {
    fn wants(&self, push: &Push) -> bool {
        if !may_see(push.kind, self.role) {
            return false;
        }
        match (&self.ship, &push.ship) {
            (None, _) | (_, None) => true,
            (Some(want), Some(got)) => want == got,
        }
    }

    /// Writes `msgs` with one flush, within the write timeout.
    async fn write(&mut self, msgs: Vec<Utf8Bytes>) -> Result<(), &'static str> {
        let sink = &mut self.sink;
        let all = async move {
            for m in msgs {
                sink.feed(Message::Text(m)).await?;
            }
            sink.flush().await
        };
        match tokio::time::timeout(self.hub.cfg.write_timeout, all).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err("send_failed"),
            Err(_) => Err("send_timeout"),
        }
    }

    /// The current state of what the client follows, in place of deltas it did not get.
    async fn snapshot(&mut self, reason: &'static str) -> Result<(), &'static str> {
        let pushes = self.hub.snapshots.snapshot(self.ship.as_deref()).await;
        let items: Vec<serde_json::Value> = pushes
            .iter()
            .filter(|p| self.wants(p))
            .filter_map(|p| serde_json::from_str(&p.to_wire()).ok())
            .collect();
        let msg = serde_json::json!({"type": "snapshot", "ship": self.ship, "items": items});
        self.write(vec![msg.to_string().into()]).await?;
        self.hub
            .metrics
            .ws_snapshots
            .get_or_create(&ReasonLabel { reason })
            .inc();
        Ok(())
    }

    /// Takes what the ring holds after `first` (up to a batch), keeping what the client
    /// follows; returns them and, if the ring overtook this session, why a snapshot is owed.
    fn batch(&mut self, first: Arc<super::WirePush>) -> (Vec<Utf8Bytes>, Option<&'static str>) {
        let mut out = Vec::new();
        if self.wants(&first.push) {
            out.push(first.text.clone());
        }
        while out.len() < MAX_BATCH {
            match self.fan.try_recv() {
                Ok(Fan::Push(p)) => {
                    if self.wants(&p.push) {
                        out.push(p.text.clone());
                    }
                }
                Ok(Fan::Lagged(_)) => return (out, Some("lagged")),
                Err(broadcast::error::TryRecvError::Lagged(_)) => return (out, Some("overflow")),
                Err(_) => break,
            }
        }
        (out, None)
    }

    async fn step(
        &mut self,
        ctl: Option<Ctl>,
        fan: Option<Result<Fan, broadcast::error::RecvError>>,
    ) -> Result<bool, &'static str> {
        match (ctl, fan) {
            (Some(Ctl::Subscribe(ship)), _) => {
                self.ship = ship;
                self.snapshot("subscribe").await?;
            }
            (Some(Ctl::Text(t)), _) => self.write(vec![t]).await?,
            (None, Some(Ok(Fan::Push(first)))) => {
                let (msgs, owed) = self.batch(first);
                if !msgs.is_empty() {
                    let n = msgs.len() as u64;
                    self.write(msgs).await?;
                    self.hub.metrics.ws_pushes.inc_by(n);
                }
                if let Some(reason) = owed {
                    self.snapshot(reason).await?;
                }
            }
            (None, Some(Ok(Fan::Lagged(_)))) => self.snapshot("lagged").await?,
            (None, Some(Err(broadcast::error::RecvError::Lagged(_)))) => {
                self.snapshot("overflow").await?
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

async fn pump(
    mut p: Pump,
    mut close: oneshot::Receiver<CloseFrame>,
    clock: Clock,
    expires_ms: Option<i64>,
) {
    let timeout = p.hub.cfg.write_timeout;
    let expiry = expired(clock, expires_ms);
    tokio::pin!(expiry);
    let mut expiry_told = false;
    loop {
        let (ctl, fan) = tokio::select! {
            biased;
            frame = &mut close => {
                if let Ok(frame) = frame {
                    let _ = tokio::time::timeout(timeout, p.sink.send(Message::Close(Some(frame)))).await;
                }
                let _ = tokio::time::timeout(timeout, p.sink.close()).await;
                return;
            }
            () = &mut expiry, if !expiry_told => {
                expiry_told = true;
                let _ = p.session.cast(SessionMsg::Expired);
                continue;
            }
            ctl = p.ctl.recv() => match ctl {
                Some(c) => (Some(c), None),
                None => continue, // the actor is gone; its close frame comes next
            },
            m = p.fan.recv() => (None, Some(m)),
        };
        match p.step(ctl, fan).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(reason) => {
                let _ = p.session.cast(SessionMsg::WriteFailed(reason));
                return;
            }
        }
    }
}

impl Actor for SessionActor {
    type Msg = SessionMsg;
    type State = SessionState;
    type Arguments = SessionArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SessionMsg>,
        args: SessionArgs,
    ) -> Result<SessionState, ActorProcessingErr> {
        let socket = args
            .socket
            .lock()
            .take()
            .ok_or("websocket already taken by an earlier incarnation")?;
        let hub = args.hub;
        let (sink, mut stream) = socket.split();
        let (ctl_tx, ctl_rx) = mpsc::channel(CTL_BUFFER);
        let (close_tx, close_rx) = oneshot::channel();
        // The pump is not aborted on stop: it flushes the close frame, then ends.
        hub.rt.spawn(pump(
            Pump {
                sink,
                fan: hub.fan.subscribe(),
                ctl: ctl_rx,
                session: myself.clone(),
                hub: hub.clone(),
                ship: None,
                role: args.principal.role,
            },
            close_rx,
            hub.clock.clone(),
            args.principal.expires_ms,
        ));
        let me = myself.clone();
        let reader = hub.rt.spawn(async move {
            while let Some(frame) = stream.next().await {
                let failed = frame.is_err();
                if me.cast(SessionMsg::Client(frame)).is_err() || failed {
                    return;
                }
            }
            let _ = me.cast(SessionMsg::ClientGone);
        });
        let label = ShipLabel { ship: "all".into() };
        hub.metrics.ws_sessions.get_or_create(&label).inc();
        Ok(SessionState {
            bucket: f64::from(hub.cfg.client_burst),
            bucket_at: Instant::now(),
            hub,
            principal: args.principal,
            ctl: ctl_tx,
            close: Some(close_tx),
            label,
            reader,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<SessionMsg>,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        state.reader.abort();
        state
            .hub
            .metrics
            .ws_sessions
            .get_or_create(&state.label)
            .dec();
        if let Some(tx) = state.close.take() {
            state.hub.metrics.ws_closed_inc("server_shutdown");
            let _ = tx.send(CloseFrame {
                code: 1001,
                reason: "server_shutdown".into(),
            });
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<SessionMsg>,
        msg: SessionMsg,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        if state.close.is_none() {
            return Ok(()); // closing: ignore what is still queued
        }
        match msg {
            SessionMsg::ClientGone => state.close(&myself, 1000, "client_closed"),
            SessionMsg::WriteFailed(reason) => state.close(&myself, 1011, reason),
            SessionMsg::Expired => state.close(&myself, 1008, "token_expired"),
            SessionMsg::Client(Err(e)) => {
                let text = e.to_string();
                if text.contains("Space limit exceeded") || text.contains("too long") {
                    state.close(&myself, 1009, "oversized");
                } else {
                    state.close(&myself, 1002, "protocol_error");
                }
            }
            SessionMsg::Client(Ok(frame)) => {
                if !matches!(frame, Message::Close(_)) && !state.take_client_token() {
                    state.close(&myself, 1008, "flood");
                    return Ok(());
                }
                match frame {
                    Message::Text(text) => client_text(&myself, state, text.as_str()),
                    Message::Binary(_) => state.close(&myself, 1003, "binary_frame"),
                    Message::Close(_) => state.close(&myself, 1000, "client_closed"),
                    Message::Ping(_) | Message::Pong(_) => {}
                }
            }
        }
        Ok(())
    }
}

fn client_text(myself: &ActorRef<SessionMsg>, state: &mut SessionState, text: &str) {
    if text.len() > state.hub.cfg.max_message_bytes {
        state.close(myself, 1009, "oversized");
        return;
    }
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => {
            state.close(myself, 1007, "bad_json");
            return;
        }
    };
    let msg: ClientMsg = match serde_json::from_value(value) {
        Ok(m) => m,
        Err(_) => {
            state.close(myself, 1008, "unknown_message");
            return;
        }
    };
    match msg {
        ClientMsg::Ping => state.tell(myself, Ctl::Text(r#"{"type":"pong"}"#.into())),
        ClientMsg::Subscribe { ship } => {
            if let Some(s) = &ship {
                if !state.hub.snapshots.ships().iter().any(|k| k == s) {
                    let err =
                        serde_json::json!({"type": "error", "error": "unknown ship", "ship": s});
                    state.tell(myself, Ctl::Text(err.to_string().into()));
                    return;
                }
            }
            let label = ShipLabel {
                ship: ship.clone().unwrap_or_else(|| "all".into()),
            };
            state.set_label(label);
            state.tell(myself, Ctl::Subscribe(ship));
        }
    }
}
