//! One WebSocket session: an actor plus three tasks (socket reader, socket writer, push
//! bus forwarder) that it owns and stops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::{SinkExt, StreamExt};
use parking_lot::Mutex;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use seawatch_actors::push::Push;
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{Fan, WirePush, WsHub};
use crate::auth::Principal;
use crate::metrics::ShipLabel;

/// Messages of a session actor.
pub enum SessionMsg {
    /// A push from the bus, serialized once for all sessions.
    Push(Arc<WirePush>),
    /// The bus dropped this many pushes for this session.
    Lagged(u64),
    /// A frame (or a read error) from the client.
    Client(Result<Message, axum::Error>),
    /// The client's side of the socket ended.
    ClientGone,
    /// The outbound buffer emptied while a snapshot is owed.
    Drained,
    /// A write to the client failed or timed out.
    WriteFailed(&'static str),
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

/// A session's state.
pub struct SessionState {
    hub: WsHub,
    principal: Principal,
    out: mpsc::Sender<Message>,
    close: Option<oneshot::Sender<CloseFrame>>,
    snapshot_owed: Arc<AtomicBool>,
    owed_reason: &'static str,
    ship: Option<String>,
    label: ShipLabel,
    bucket: f64,
    bucket_at: Instant,
    tasks: Vec<JoinHandle<()>>,
}

impl SessionState {
    fn wants(&self, push: &Push) -> bool {
        match (&self.ship, &push.ship) {
            (None, _) | (_, None) => true,
            (Some(want), Some(got)) => want == got,
        }
    }

    fn queue(&mut self, text: impl Into<axum::extract::ws::Utf8Bytes>) -> bool {
        match self.out.try_send(Message::Text(text.into())) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.owe_snapshot("overflow");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    fn owe_snapshot(&mut self, reason: &'static str) {
        if !self.snapshot_owed.swap(true, Ordering::AcqRel) {
            self.owed_reason = reason;
        }
    }

    async fn send_snapshot(&mut self, reason: &'static str) {
        if self.out.capacity() == 0 {
            self.owe_snapshot(reason);
            return;
        }
        let pushes = self.hub.snapshots.snapshot(self.ship.as_deref()).await;
        let items: Vec<serde_json::Value> = pushes
            .iter()
            .filter(|p| self.wants(p))
            .filter_map(|p| serde_json::from_str(&p.to_wire()).ok())
            .collect();
        let msg = serde_json::json!({"type": "snapshot", "ship": self.ship, "items": items});
        // Cleared first: a full buffer sets it again.
        self.snapshot_owed.store(false, Ordering::Release);
        if self.queue(msg.to_string()) {
            self.hub
                .metrics
                .ws_snapshots
                .get_or_create(&crate::metrics::ReasonLabel { reason })
                .inc();
        }
    }

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

    /// Counts the reason, sends the close frame (the writer flushes it) and stops.
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

async fn writer(
    mut sink: futures::stream::SplitSink<WebSocket, Message>,
    mut out: mpsc::Receiver<Message>,
    mut close: oneshot::Receiver<CloseFrame>,
    owed: Arc<AtomicBool>,
    session: ActorRef<SessionMsg>,
    timeout: std::time::Duration,
) {
    loop {
        let msg = tokio::select! {
            biased;
            frame = &mut close => {
                if let Ok(frame) = frame {
                    let _ = tokio::time::timeout(timeout, sink.send(Message::Close(Some(frame)))).await;
                }
                let _ = tokio::time::timeout(timeout, sink.close()).await;
                return;
            }
            msg = out.recv() => match msg {
                Some(m) => m,
                None => return,
            },
        };
        match tokio::time::timeout(timeout, sink.send(msg)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                let _ = session.cast(SessionMsg::WriteFailed("send_failed"));
                return;
            }
            Err(_) => {
                let _ = session.cast(SessionMsg::WriteFailed("send_timeout"));
                return;
            }
        }
        if owed.load(Ordering::Acquire) && out.is_empty() {
            let _ = session.cast(SessionMsg::Drained);
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
        let (out_tx, out_rx) = mpsc::channel(hub.cfg.out_buffer.max(1));
        let (close_tx, close_rx) = oneshot::channel();
        let owed = Arc::new(AtomicBool::new(false));
        // The writer is not aborted on stop: it flushes the close frame, then ends.
        tokio::spawn(writer(
            sink,
            out_rx,
            close_rx,
            owed.clone(),
            myself.clone(),
            hub.cfg.write_timeout,
        ));
        let me = myself.clone();
        let reader = tokio::spawn(async move {
            while let Some(frame) = stream.next().await {
                let failed = frame.is_err();
                if me.cast(SessionMsg::Client(frame)).is_err() || failed {
                    return;
                }
            }
            let _ = me.cast(SessionMsg::ClientGone);
        });
        let me = myself.clone();
        let mut rx = hub.fan.subscribe();
        let forwarder = tokio::spawn(async move {
            loop {
                let msg = match rx.recv().await {
                    Ok(Fan::Push(p)) => SessionMsg::Push(p),
                    Ok(Fan::Lagged(n)) => SessionMsg::Lagged(n),
                    Err(broadcast::error::RecvError::Lagged(n)) => SessionMsg::Lagged(n),
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if me.cast(msg).is_err() {
                    return;
                }
            }
        });
        let label = ShipLabel { ship: "all".into() };
        hub.metrics.ws_sessions.get_or_create(&label).inc();
        Ok(SessionState {
            bucket: f64::from(hub.cfg.client_burst),
            bucket_at: Instant::now(),
            hub,
            principal: args.principal,
            out: out_tx,
            close: Some(close_tx),
            snapshot_owed: owed,
            owed_reason: "overflow",
            ship: None,
            label,
            tasks: vec![reader, forwarder],
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<SessionMsg>,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        for t in &state.tasks {
            t.abort();
        }
        state
            .hub
            .metrics
            .ws_sessions
            .get_or_create(&state.label)
            .dec();
        if state.close.is_some() {
            state.hub.metrics.ws_closed_inc("server_shutdown");
            if let Some(tx) = state.close.take() {
                let _ = tx.send(CloseFrame {
                    code: 1001,
                    reason: "server_shutdown".into(),
                });
            }
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
            SessionMsg::Push(p) => {
                if !state.wants(&p.push) || state.snapshot_owed.load(Ordering::Acquire) {
                    return Ok(());
                }
                if state.queue(p.text.clone()) {
                    state.hub.metrics.ws_pushes.inc();
                }
            }
            SessionMsg::Lagged(_) => {
                state.owe_snapshot("lagged");
                if state.out.capacity() > 0 {
                    let reason = state.owed_reason;
                    state.send_snapshot(reason).await;
                }
            }
            SessionMsg::Drained => {
                if state.snapshot_owed.load(Ordering::Acquire) {
                    let reason = state.owed_reason;
                    state.send_snapshot(reason).await;
                }
            }
            SessionMsg::ClientGone => state.close(&myself, 1000, "client_closed"),
            SessionMsg::WriteFailed(reason) => state.close(&myself, 1011, reason),
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
                    Message::Text(text) => self.client_text(&myself, state, text.as_str()).await,
                    Message::Binary(_) => state.close(&myself, 1003, "binary_frame"),
                    Message::Close(_) => state.close(&myself, 1000, "client_closed"),
                    Message::Ping(_) | Message::Pong(_) => {}
                }
            }
        }
        Ok(())
    }
}

impl SessionActor {
    async fn client_text(
        &self,
        myself: &ActorRef<SessionMsg>,
        state: &mut SessionState,
        text: &str,
    ) {
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
            ClientMsg::Ping => {
                state.queue(r#"{"type":"pong"}"#);
            }
            ClientMsg::Subscribe { ship } => {
                if let Some(s) = &ship {
                    if !state.hub.snapshots.ships().iter().any(|k| k == s) {
                        let err = serde_json::json!({"type": "error", "error": "unknown ship", "ship": s});
                        state.queue(err.to_string());
                        return;
                    }
                }
                let label = ShipLabel {
                    ship: ship.clone().unwrap_or_else(|| "all".into()),
                };
                state.ship = ship;
                state.set_label(label);
                state.send_snapshot("subscribe").await;
            }
        }
    }
}
