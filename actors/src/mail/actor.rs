//! The outbox as a supervised actor: it owns one task that follows the incident events of
//! the ship's event log with a cursor, queues a notification durably for each transition
//! that a route wants, and sends the queue in passes with exponential backoff while the
//! SMTP server cannot be reached.
//!
//! The outbox itself ([`Outbox`]) outlives incarnations: a restarted actor (or process)
//! finds what was queued and sends it, with the same Message-IDs, and reads the log on
//! from just past the last incident event it recorded, so a transition stored while the
//! outbox was down (or crashed before queueing it) is still mailed, once.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use seawatch_runtime::event_log::{Event, EventKind};
use seawatch_runtime::supervision::{Addr, ChildSpec};
use seawatch_runtime::{Clock, Metrics};
use tokio::time::Instant;

use super::config::{EmailConfig, MatchInput};
use super::message::Facts;
use super::send::Mailer;
use super::store::{Outbox, Status};
use crate::incident::IncidentEvent;
use crate::log_service::LogReader;
use crate::owned_task::{on_task_ended, OwnedTask};

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
    /// `seawatch_notifications_log_lag_events{ship}`: events of the ship's log the outbox
    /// has not read yet (it reads every event to find the incident ones).
    pub log_lag: Family<ShipLabel, Gauge>,
    /// `seawatch_notifications_unreadable_events_total{ship}`: incident events in the log
    /// the outbox could not parse (skipped, logged).
    pub unreadable: Family<ShipLabel, Counter>,
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
            "seawatch_notifications_log_lag_events",
            "Events of the ship's log the mail outbox has not read yet",
            m.log_lag.clone(),
        );
        metrics.register(
            "seawatch_notifications_unreadable_events",
            "Incident events in the log the mail outbox could not parse",
            m.unreadable.clone(),
        );
        m.export(ship, 0, 0.0);
        let l = ShipLabel { ship: ship.into() };
        m.log_lag.get_or_create(&l).set(0);
        let _ = m.unreadable.get_or_create(&l);
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
    /// The ship's event log: incident transitions are read from it.
    pub log: LogReader,
    /// Element id → device or link kind, for `match.device_kind`.
    pub kinds: Arc<HashMap<String, String>>,
    /// Element id → what it reaches the network through (`depends_on`), for inhibition.
    pub parents: Arc<HashMap<String, Vec<String>>>,
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
        // Read the log on from just past what the journal recorded. A journal without a
        // position (the node gives a new one the log's end before the tree starts) starts
        // at the log's end now, before this actor is reported started.
        let start = args
            .outbox
            .lock()
            .position()
            .unwrap_or_else(|| args.log.durable_next_seq());
        let task = OwnedTask::spawn(myself, OutboxMsg::TaskEnded, move |shutdown| {
            run(args, mailer, start, shutdown)
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

/// Queues the notification for an incident transition (`body` as the push bus carries
/// it: [`crate::incident::actor::push_body`]), if it is a mailing transition that some route wants, recording
/// that the log event at `seq` (if any) is handled. `Ok(true)` when something new was
/// queued.
pub fn enqueue_push(
    args: &OutboxArgs,
    body: &serde_json::Value,
    seq: Option<u64>,
) -> Result<bool, super::store::StoreError> {
    match Facts::from_push(body) {
        Some(facts) => enqueue_facts(args, &facts, seq),
        None => Ok(false),
    }
}

/// [`enqueue_push`] for facts already read.
fn enqueue_facts(
    args: &OutboxArgs,
    facts: &Facts,
    seq: Option<u64>,
) -> Result<bool, super::store::StoreError> {
    let input = MatchInput {
        severity: &facts.severity,
        ship: &facts.ship,
        device_kind: args.kinds.get(&facts.root_cause).map(String::as_str),
        state: Some(facts.state.as_str()).filter(|s| !s.is_empty()),
    };
    let to = args.email.recipients(input);
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
        outbox.skip(&id, &facts.incident, &facts.transition, seq)?;
        return Ok(false);
    }
    let now = args.clock.now_ms();
    let timing = args.email.timing(input);
    let mut n = facts.notification(ordinal, to, now);
    n.repeat_s = timing.repeat_s;
    n.due_at_ms = if facts.transition == "opened" {
        now + timing.group_wait_ms
    } else {
        outbox
            .last_mail_at(&facts.incident)
            .map_or(now, |t| now.max(t + timing.group_interval_ms))
    };
    // What waits out a group wait or interval before this one (it may be undone by it).
    let waiting = outbox
        .waiting_notice(&facts.incident, now)
        .map(|w| (w.message_id.clone(), w.transition.clone()));
    let id = n.message_id.clone();
    if !outbox.enqueue_from(n, seq)? {
        return Ok(false);
    }
    let suppressed = match suppression(args, &outbox, facts, waiting.as_ref(), now) {
        Some((reason, also)) => {
            for other in also {
                outbox.suppress(&other, now, &reason)?;
            }
            outbox.suppress(&id, now, &reason)?;
            true
        }
        None => false,
    };
    if facts.transition == "resolved" {
        // A silence "until the incident resolves" ends with this notice (which it covers).
        let ended: Vec<String> = outbox
            .silences()
            .iter()
            .filter(|s| s.until_resolved && s.incident.as_deref() == Some(facts.incident.as_str()))
            .map(|s| s.id.clone())
            .collect();
        for s in ended {
            outbox.end_silence(&s, now)?;
        }
    }
    Ok(!suppressed)
}

/// Why the notice just queued for `facts` must not be sent, and which other queued notices
/// go with it: a silence covers it; an open, mailed incident is rooted upstream of it
/// (inhibition: that incident's mail covers the devices behind its root); its opening was
/// silenced or inhibited (so is the rest of its thread); or it undoes a notice of the
/// same incident that is still waiting out its group wait or interval (a blip: both are
/// withdrawn).
fn suppression(
    args: &OutboxArgs,
    outbox: &Outbox,
    facts: &Facts,
    waiting: Option<&(String, String)>,
    now: i64,
) -> Option<(String, Vec<String>)> {
    if let Some(s) = outbox
        .silences()
        .iter()
        .find(|s| s.covers(&facts.incident, &facts.root_cause, now))
    {
        return Some((
            format!("silenced by {} ({}): {}", s.id, s.by, s.comment),
            Vec::new(),
        ));
    }
    if matches!(facts.transition.as_str(), "opened" | "reopened") {
        let ancestors = ancestors(&args.parents, &facts.root_cause);
        if let Some((j, root)) = outbox.open_incidents().find(|(j, root)| {
            *j != facts.incident && ancestors.contains(*root) && outbox.last_mail_at(j).is_some()
        }) {
            return Some((
                format!(
                    "inhibited: {} is behind {root}, the root of open incident {j}",
                    facts.root_cause
                ),
                Vec::new(),
            ));
        }
    } else {
        // The rest of a thread whose opening was silenced or inhibited stays quiet.
        let opening = outbox
            .thread(&facts.incident)
            .rev()
            .find(|e| matches!(e.notification.transition.as_str(), "opened" | "reopened"));
        if let Some(e) = opening.filter(|e| {
            e.status == Status::Suppressed
                && !e
                    .last_error
                    .as_deref()
                    .is_some_and(|r| r.starts_with("withdrawn"))
        }) {
            return Some((
                format!(
                    "its {} notice was not mailed: {}",
                    e.notification.transition,
                    e.last_error.as_deref().unwrap_or_default()
                ),
                Vec::new(),
            ));
        }
    }
    let undoes = |w: &str| match facts.transition.as_str() {
        "resolved" => matches!(w, "opened" | "reopened"),
        "reopened" => w == "resolved",
        _ => false,
    };
    match waiting {
        Some((id, t)) if undoes(t) => Some((
            format!(
                "withdrawn: {t} then {} within the route's group wait or interval",
                facts.transition
            ),
            vec![id.clone()],
        )),
        _ => None,
    }
}

/// Every element `root` reaches the network through (its `depends_on`, transitively;
/// at most 64 hops).
fn ancestors(parents: &HashMap<String, Vec<String>>, root: &str) -> HashSet<String> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut frontier: Vec<&str> = vec![root];
    for _ in 0..64 {
        let mut next = Vec::new();
        for e in frontier {
            for p in parents.get(e).into_iter().flatten() {
                if p != root && seen.insert(p.clone()) {
                    next.push(p.as_str());
                }
            }
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    seen
}

/// Handles a batch of log events: queues what the incident events among them call for,
/// each at most once (events below the outbox's position were handled by an earlier
/// incarnation). `Ok(true)` when something new was queued.
pub fn enqueue_events(
    args: &OutboxArgs,
    events: &[Event],
) -> Result<bool, super::store::StoreError> {
    let mut queued = false;
    let from = args.outbox.lock().position().unwrap_or(0);
    for ev in events
        .iter()
        .filter(|e| e.kind == EventKind::Incident && e.seq >= from)
    {
        let facts = match serde_json::from_str::<IncidentEvent>(&ev.body) {
            Ok(ie) if ie.incident.ship == args.ship => Facts::from_event(&ie),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(ship = %args.ship, seq = ev.seq, error = %e, "mail outbox: unreadable incident event");
                args.metrics
                    .unreadable
                    .get_or_create(&ShipLabel {
                        ship: args.ship.clone(),
                    })
                    .inc();
                None
            }
        };
        if let Some(facts) = facts {
            queued |= enqueue_facts(args, &facts, Some(ev.seq))?;
        }
    }
    Ok(queued)
}

/// How often the outbox records its log position when it read events but queued
/// nothing (at most one journal line per interval; a restart re-reads at most this much
/// of the log).
const CHECKPOINT_EVERY: Duration = Duration::from_secs(30);

/// Events read from the log per step.
const READ_BATCH: usize = 4096;

async fn run(
    args: OutboxArgs,
    mailer: Mailer,
    start: u64,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), String> {
    let initial = Duration::from_secs_f64(args.email.retry_initial_s);
    let max = Duration::from_secs_f64(args.email.retry_max_s);
    let mut delay = initial;
    let mut after_outage = false;
    // Send what a previous run left, at once.
    let mut next_pass: Option<Instant> = Some(Instant::now());
    let ship = args.ship.clone();
    let label = ShipLabel { ship: ship.clone() };
    let mut cursor = args.log.cursor(start);
    let mut last_checkpoint = Instant::now();
    let mut exported: Option<Instant> = None;
    loop {
        // The gauges at most once a second (the backlog is a scan of the outbox).
        if exported.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            args.metrics
                .export_backlog(&ship, &args.outbox.lock(), args.clock.now_ms());
            let lag = args
                .log
                .durable_next_seq()
                .saturating_sub(cursor.position());
            args.metrics.log_lag.get_or_create(&label).set(lag as i64);
            exported = Some(Instant::now());
        }
        let now = Instant::now();
        let tick = now + Duration::from_secs(5);
        let wake = next_pass.map_or(tick, |t| t.min(tick));
        tokio::select! {
            _ = shutdown.changed() => {
                args.outbox.lock().checkpoint(cursor.position()).map_err(|e| e.to_string())?;
                return Ok(());
            }
            r = cursor.next(READ_BATCH) => match r {
                Some(Ok(events)) => {
                    let queued = enqueue_events(&args, &events).map_err(|e| e.to_string())?;
                    if queued && next_pass.is_none() {
                        next_pass = Some(Instant::now());
                    }
                    if last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
                        args.outbox.lock().checkpoint(cursor.position()).map_err(|e| e.to_string())?;
                        last_checkpoint = Instant::now();
                    }
                }
                // Evicted past the cursor (retention), or a read error: the task ends and
                // the supervisor restarts it from the journal's position.
                Some(Err(e)) => return Err(format!("reading the event log: {e}")),
                None => return Ok(()),
            },
            _ = tokio::time::sleep_until(wake) => {
                let reminders = args
                    .outbox
                    .lock()
                    .queue_reminders(args.clock.now_ms())
                    .map_err(|e| e.to_string())?;
                let stalled = args
                    .outbox
                    .lock()
                    .queue_stalled_notice(
                        &ship,
                        &args.email.smtp,
                        args.email.all_recipients(),
                        args.clock.now_ms(),
                        (args.email.stalled_after_s * 1000.0) as i64,
                    )
                    .map_err(|e| e.to_string())?;
                if stalled {
                    tracing::error!(ship = %ship, smtp = %args.email.smtp, "mail outbox stalled: notices have waited longer than email.stalled_after_s");
                }
                if (reminders > 0 || stalled) && next_pass.is_none() {
                    next_pass = Some(Instant::now());
                }
                if next_pass.is_some_and(|t| t <= Instant::now()) {
                    let pass = mailer
                        .pass(&args.outbox, &args.clock, after_outage)
                        .await
                        .map_err(|e| e.to_string())?;
                    exported = None;
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
                            // The next notice waiting out a group wait or interval.
                            let now_ms = args.clock.now_ms();
                            next_pass = args.outbox.lock().next_due_ms(now_ms).map(|d| {
                                Instant::now() + Duration::from_millis((d - now_ms).max(0) as u64)
                            });
                        }
                    }
                }
            }
        }
    }
}
