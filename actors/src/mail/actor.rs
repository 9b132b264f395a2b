//! The outbox as a supervised actor: it owns one task that follows the push bus's incident
//! transitions, queues a notification durably for each that a route wants, and sends the
//! queue in passes with exponential backoff while the SMTP server cannot be reached.
//!
//! The outbox itself ([`Outbox`]) outlives incarnations: a restarted actor (or process)
//! finds what was queued and sends it, with the same Message-IDs.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use seawatch_runtime::supervision::{Addr, ChildSpec};
use seawatch_runtime::{Clock, Metrics};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use super::config::{EmailConfig, MatchInput};
use super::message::Facts;
use super::send::Mailer;
use super::store::Outbox;
use crate::owned_task::{on_task_ended, OwnedTask};
use crate::push::{PushBus, PushKind};

/// The `ship` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ShipLabel {
    /// Ship id.
    pub ship: String,
}

/// `seawatch_notifications_*` (contracts §9).
#[derive(Clone, Default)]
pub struct OutboxMetrics {
    /// `seawatch_notifications_queued{ship}`.
    pub queued: Family<ShipLabel, Gauge>,
    /// `seawatch_notifications_oldest_seconds{ship}`: age of the oldest queued one, 0 when
    /// the queue is empty.
    pub oldest: Family<ShipLabel, Gauge<f64, AtomicU64>>,
    /// `seawatch_notifications_lost_events_total{ship}`: incident pushes the outbox fell
    /// too far behind to see (the push bus is bounded; decision 0042).
    pub lagged: Family<ShipLabel, Counter>,
}

impl OutboxMetrics {
    /// Registers the families and exports 0 for `ship`.
    pub fn register(metrics: &Metrics, ship: &str) -> Self {
        let m = Self::default();
        metrics.register(
            "seawatch_notifications_queued",
            "Notifications waiting in the mail outbox",
            m.queued.clone(),
        );
        metrics.register(
            "seawatch_notifications_oldest_seconds",
            "Age of the oldest notification waiting in the mail outbox",
            m.oldest.clone(),
        );
        metrics.register(
            "seawatch_notifications_lost_events",
            "Incident transitions the mail outbox missed because it fell behind the push bus",
            m.lagged.clone(),
        );
        m.export(ship, 0, 0.0);
        let _ = m.lagged.get_or_create(&ShipLabel { ship: ship.into() });
        m
    }

    fn export(&self, ship: &str, queued: usize, oldest_s: f64) {
        let l = ShipLabel { ship: ship.into() };
        self.queued.get_or_create(&l).set(queued as i64);
        self.oldest.get_or_create(&l).set(oldest_s);
    }

    /// Exports the backlog of `outbox` at `now_ms`.
    pub fn export_backlog(&self, ship: &str, outbox: &Outbox, now_ms: i64) {
        let (n, oldest) = outbox.backlog();
        let age = oldest.map_or(0.0, |t| (now_ms - t).max(0) as f64 / 1000.0);
        self.export(ship, n, age);
    }
}

/// Start arguments of the outbox actor.
#[derive(Clone)]
pub struct OutboxArgs {
    /// Ship id.
    pub ship: String,
    /// `[email]`, validated.
    pub email: EmailConfig,
    /// The outbox (opened once by the node; shared with `GET /api/notifications`).
    pub outbox: Arc<Mutex<Outbox>>,
    /// Incident transitions come from here.
    pub push: PushBus,
    /// Element id → device or link kind, for `match.device_kind`.
    pub kinds: Arc<HashMap<String, String>>,
    /// Time.
    pub clock: Clock,
    /// Metrics.
    pub metrics: OutboxMetrics,
}

/// Messages of the outbox actor.
pub enum OutboxMsg {
    /// The task ended.
    TaskEnded(Result<(), String>),
}

/// The outbox actor.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutboxActor;

/// State of the outbox actor.
pub struct OutboxState {
    task: OwnedTask,
}

impl Actor for OutboxActor {
    type Msg = OutboxMsg;
    type State = OutboxState;
    type Arguments = OutboxArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<OutboxMsg>,
        args: OutboxArgs,
    ) -> Result<OutboxState, ActorProcessingErr> {
        let mailer = Mailer::new(args.email.clone())?;
        // Subscribe before the first pass, so no transition falls between the two.
        let rx = args.push.subscribe();
        let task = OwnedTask::spawn(myself, OutboxMsg::TaskEnded, move |shutdown| {
            run(args, mailer, rx, shutdown)
        });
        Ok(OutboxState { task })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<OutboxMsg>,
        state: &mut OutboxState,
    ) -> Result<(), ActorProcessingErr> {
        state.task.stop().await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<OutboxMsg>,
        msg: OutboxMsg,
        _state: &mut OutboxState,
    ) -> Result<(), ActorProcessingErr> {
        let OutboxMsg::TaskEnded(result) = msg;
        on_task_ended(&myself, result, "mail outbox")
    }
}

/// The child spec of the outbox actor (id `mail-outbox`, kind `mail`).
pub fn outbox_child(args: OutboxArgs) -> (ChildSpec, Addr<OutboxMsg>) {
    ChildSpec::actor("mail-outbox", "mail", move || (OutboxActor, args.clone()))
}

/// Queues the notification for an incident push, if it is a mailing transition that some
/// route wants. `Ok(true)` when something new was queued.
pub fn enqueue_push(
    args: &OutboxArgs,
    body: &serde_json::Value,
) -> Result<bool, super::store::StoreError> {
    let Some(facts) = Facts::from_push(body) else {
        return Ok(false);
    };
    let to = args.email.recipients(MatchInput {
        severity: &facts.severity,
        ship: &facts.ship,
        device_kind: args.kinds.get(&facts.root_cause).map(String::as_str),
    });
    let mut outbox = args.outbox.lock();
    // The n-th reopen follows the n-th resolve and the n-th resolve (from 0) follows the
    // n-th reopen: both ordinals come from the journal (transitions no route wanted
    // included), so a replay finds the same id.
    let ordinal = match facts.transition.as_str() {
        "resolved" => outbox.transitions_of(&facts.incident, "reopened"),
        "reopened" => outbox
            .transitions_of(&facts.incident, "resolved")
            .saturating_sub(1),
        _ => 0,
    };
    if to.is_empty() {
        let id =
            super::message::message_id(&facts.ship, &facts.incident, &facts.transition, ordinal);
        outbox.skip(&id, &facts.incident, &facts.transition)?;
        return Ok(false);
    }
    outbox.enqueue(facts.notification(ordinal, to, args.clock.now_ms()))
}

async fn run(
    args: OutboxArgs,
    mailer: Mailer,
    mut rx: tokio::sync::broadcast::Receiver<Arc<crate::push::Push>>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), String> {
    let initial = Duration::from_secs_f64(args.email.retry_initial_s);
    let max = Duration::from_secs_f64(args.email.retry_max_s);
    let mut delay = initial;
    let mut after_outage = false;
    // Send what a previous run left, at once.
    let mut next_pass: Option<Instant> = Some(Instant::now());
    let ship = args.ship.clone();
    loop {
        args.metrics
            .export_backlog(&ship, &args.outbox.lock(), args.clock.now_ms());
        let now = Instant::now();
        let tick = now + Duration::from_secs(5);
        let wake = next_pass.map_or(tick, |t| t.min(tick));
        tokio::select! {
            _ = shutdown.changed() => return Ok(()),
            r = rx.recv() => match r {
                Ok(push) if push.kind == PushKind::Incident
                    && push.ship.as_deref().is_none_or(|s| s == ship) =>
                {
                    let queued = enqueue_push(&args, &push.body).map_err(|e| e.to_string())?;
                    if queued && next_pass.is_none() {
                        next_pass = Some(Instant::now());
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => {
                    tracing::error!(ship = %ship, missed = n, "mail outbox fell behind the push bus");
                    args.metrics.lagged.get_or_create(&ShipLabel { ship: ship.clone() }).inc_by(n);
                }
                Err(RecvError::Closed) => return Ok(()),
            },
            _ = tokio::time::sleep_until(wake) => {
                if next_pass.is_some_and(|t| t <= Instant::now()) {
                    let pass = mailer
                        .pass(&args.outbox, &args.clock, after_outage)
                        .await
                        .map_err(|e| e.to_string())?;
                    match pass.interrupted {
                        Some(error) => {
                            tracing::warn!(ship = %ship, sent = pass.sent, error = %error, retry_in_s = delay.as_secs_f64(), "mail server unreachable; the outbox keeps the rest");
                            next_pass = Some(Instant::now() + delay);
                            after_outage = true;
                            delay = (delay * 2).min(max);
                        }
                        None => {
                            delay = initial;
                            after_outage = false;
                            next_pass = None;
                        }
                    }
                }
            }
        }
    }
}
