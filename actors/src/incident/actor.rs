//! The correlator actor of one ship: receives alerts (through the ship's [`AlertSink`])
//! and event-time ticks, runs the [`Correlator`], and for every incident change appends
//! an `incident` event to the ship's event log, updates the [`IncidentBoard`] and
//! publishes a push (`{"type":"incident", ...}`).
//!
//! On start it replays the `incident` events of the log, so incidents survive a
//! restart of the actor or of the ship.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use seawatch_runtime::event_log::{EventKind, NewEvent};
use seawatch_runtime::supervision::{Addr, ChildSpec};
use seawatch_runtime::Metrics;

use super::board::IncidentBoard;
use super::correlator::{Correlator, CorrelatorConfig};
use super::model::{Incident, IncidentEvent, IncidentEventKind, IncidentSeverity};
use super::topology::Topology;
use crate::alert::{Alert, AlertSink, AlertState};
use crate::inventory::Inventory;
use crate::log_service::{LogReader, LogService};
use crate::otel::{BatchSeen, IncidentSpan, Traces};
use crate::push::{Push, PushBus, PushKind};

/// Messages of the correlator actor.
pub enum CorrelatorMsg {
    /// An alert from a device, link or detector actor.
    Alert(Alert),
    /// Event time moved on: apply the alerts received so far and correlate. The reply,
    /// if any, is sent when done (a barrier for simulated time).
    Tick {
        /// Current event time, unix ms.
        now_ms: i64,
        /// Answered after the tick is handled.
        reply: Option<RpcReplyPort<()>>,
    },
    /// An operator acknowledges an incident; replies whether it was open.
    Acknowledge {
        /// Incident id.
        id: String,
        /// Who.
        by: String,
        /// Event time, unix ms.
        ts_ms: i64,
        /// Whether an open incident was acknowledged.
        reply: RpcReplyPort<bool>,
    },
    /// The inventory changed.
    Inventory(Inventory),
    /// What the ship taught the correlator about its topology (LLDP).
    Topology(RpcReplyPort<super::correlator::TopologyFacts>),
}

/// Labels of the `seawatch_incidents_open` gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IncidentLabels {
    /// Ship id.
    pub ship: String,
    /// Severity.
    pub severity: String,
}

/// `seawatch_incidents_open{ship,severity}`.
#[derive(Debug, Clone, Default)]
pub struct IncidentMetrics {
    open: Family<IncidentLabels, Gauge>,
}

impl IncidentMetrics {
    /// Registers the incident metrics.
    pub fn register(metrics: &Metrics) -> Self {
        let s = Self::default();
        metrics.register(
            "seawatch_incidents_open",
            "Open incidents by ship and severity.",
            s.open.clone(),
        );
        s
    }
}

/// Start arguments of a correlator actor.
#[derive(Clone)]
pub struct CorrelatorArgs {
    /// Ship id.
    pub ship: String,
    /// The ship's inventory (topology).
    pub inventory: Inventory,
    /// Timing.
    pub config: CorrelatorConfig,
    /// Where incident state is published.
    pub board: IncidentBoard,
    /// Where incident changes are pushed.
    pub push: PushBus,
    /// The ship's event log service (incident events are appended through its writer,
    /// and replayed on start).
    pub log: Option<LogService>,
    /// Metrics.
    pub metrics: IncidentMetrics,
    /// Traces (decision 0057): an opened incident's span under its ingest batch's.
    pub traces: Traces,
}

/// Subjects whose first alert the correlator remembers for traces; past it the table
/// starts afresh.
const TRACED_SUBJECTS_MAX: usize = 4096;

/// The correlator actor.
#[derive(Debug, Clone, Copy, Default)]
pub struct CorrelatorActor;

/// State of a correlator actor.
pub struct CorrelatorState {
    engine: Correlator,
    args: CorrelatorArgs,
    /// With traces on: per alert subject, the batch that last carried it when its first
    /// firing alert came, and when that was (decision 0057).
    traced: HashMap<String, (Arc<BatchSeen>, SystemTime)>,
}

/// What a client sees of an incident event: the incident as the API shows it
/// ([`super::api::IncidentView`]) with the event's `event` tag and fields merged in. The
/// push bus carries it, and the mail outbox reads the same from the event log.
pub fn push_body(e: &IncidentEvent) -> Option<serde_json::Value> {
    let mut body =
        serde_json::to_value(super::api::IncidentView::from_incident(&e.incident)).ok()?;
    if let (Some(m), Ok(serde_json::Value::Object(ev))) =
        (body.as_object_mut(), serde_json::to_value(&e.kind))
    {
        m.extend(ev);
    }
    Some(body)
}

/// The latest state of every incident recorded in `log` for `ship`; each event also goes
/// on its incident's timeline in `board` when one is given.
pub fn replay(log: &LogReader, ship: &str, board: Option<&IncidentBoard>) -> Vec<Incident> {
    let mut latest: std::collections::BTreeMap<String, Incident> = Default::default();
    if let Some(b) = board {
        b.clear_timelines(ship);
    }
    let mut cursor = log.cursor(log.first_seq());
    loop {
        let batch = match cursor.poll(4096) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(ship, error = %e, "cannot replay incident events");
                break;
            }
        };
        if batch.is_empty() {
            break;
        }
        for ev in batch.iter().filter(|e| e.kind == EventKind::Incident) {
            match serde_json::from_str::<IncidentEvent>(&ev.body) {
                Ok(ie) if ie.incident.ship == ship => {
                    if let Some(b) = board {
                        b.record(&ie);
                    }
                    latest.insert(ie.incident.id.clone(), ie.incident);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(ship, seq = ev.seq, error = %e, "unreadable incident event")
                }
            }
        }
    }
    let mut v: Vec<Incident> = latest.into_values().collect();
    v.sort_by_key(|i| {
        i.id.rsplit('-')
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(u64::MAX)
    });
    v
}

impl CorrelatorState {
    /// With traces on, remembers the batch behind a subject's first firing alert (until
    /// an incident takes it or the subject's alert clears).
    fn trace_alert(&mut self, a: &Alert) {
        let traces = &self.args.traces;
        if !traces.is_on() {
            return;
        }
        if a.state != AlertState::Firing {
            self.traced.remove(&a.subject);
            return;
        }
        if self.traced.contains_key(&a.subject) {
            return;
        }
        if let Some(batch) = traces.batch_of(&self.args.ship, &a.subject) {
            if self.traced.len() >= TRACED_SUBJECTS_MAX {
                self.traced.clear();
            }
            self.traced
                .insert(a.subject.clone(), (batch, SystemTime::now()));
        }
    }

    /// With traces on, starts the span of each incident `events` open, under the batch
    /// of its root cause (else of its first member with one), and puts its
    /// `traceparent` on the `opened` event.
    fn trace_opened(&mut self, events: &mut [IncidentEvent]) -> Vec<IncidentSpan> {
        let traces = &self.args.traces;
        if !traces.is_on() {
            return Vec::new();
        }
        let mut spans = Vec::new();
        for e in events
            .iter_mut()
            .filter(|e| e.kind == IncidentEventKind::Opened)
        {
            let inc = &e.incident;
            let found = std::iter::once(&inc.root_cause)
                .chain(inc.members.iter())
                .find_map(|m| {
                    self.traced.get(m).cloned().or_else(|| {
                        traces
                            .batch_of(&self.args.ship, m)
                            .map(|b| (b, SystemTime::now()))
                    })
                });
            // Taken: a later incident of these elements starts from its own alerts.
            for m in std::iter::once(&inc.root_cause).chain(inc.members.iter()) {
                self.traced.remove(m);
            }
            let Some((batch, since)) = found else {
                continue;
            };
            if let Some(span) =
                traces.incident_opened(&batch, &self.args.ship, &inc.id, &inc.root_cause, since)
            {
                e.traceparent = Some(span.traceparent());
                spans.push(span);
            }
        }
        spans
    }

    async fn publish(&mut self, events: Vec<IncidentEvent>) {
        if events.is_empty() {
            return;
        }
        let a = &self.args;
        if let Some(log) = &a.log {
            let batch: Vec<NewEvent> = events
                .iter()
                .filter_map(|e| {
                    let body = serde_json::to_string(e).ok()?;
                    Some(NewEvent {
                        ts_ms: e.ts_ms,
                        kind: EventKind::Incident,
                        source: e.incident.root_cause.clone(),
                        severity: match e.incident.severity {
                            IncidentSeverity::Critical => 2,
                            IncidentSeverity::Major => 3,
                            IncidentSeverity::Minor => 4,
                        },
                        body,
                    })
                })
                .collect();
            if let Err(e) = log.append(batch).await {
                tracing::error!(ship = %a.ship, error = %e, "cannot store incident events");
            }
        }
        for e in &events {
            a.board.upsert(&e.incident);
            a.board.record(e);
            if let Some(body) = push_body(e) {
                a.push.publish(Push {
                    kind: PushKind::Incident,
                    ship: Some(a.ship.clone()),
                    body,
                });
            }
        }
        self.export_open();
    }

    /// Sets `seawatch_incidents_open{ship,severity}` for every severity, 0 included, so
    /// the series exist from the correlator's start, not from its first incident.
    fn export_open(&self) {
        let a = &self.args;
        for sev in [
            IncidentSeverity::Minor,
            IncidentSeverity::Major,
            IncidentSeverity::Critical,
        ] {
            let n = self
                .engine
                .incidents()
                .iter()
                .filter(|i| i.state.is_open() && i.merged_into.is_none() && i.severity == sev)
                .count();
            a.metrics
                .open
                .get_or_create(&IncidentLabels {
                    ship: a.ship.clone(),
                    severity: sev.as_str().to_string(),
                })
                .set(n as i64);
        }
    }
}

impl Actor for CorrelatorActor {
    type Msg = CorrelatorMsg;
    type State = CorrelatorState;
    type Arguments = CorrelatorArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<CorrelatorMsg>,
        args: CorrelatorArgs,
    ) -> Result<CorrelatorState, ActorProcessingErr> {
        let mut engine = Correlator::new(&args.ship, Topology::new(&args.inventory), args.config);
        if let Some(log) = &args.log {
            let restored = replay(&log.reader(), &args.ship, Some(&args.board));
            for i in &restored {
                args.board.upsert(i);
            }
            engine.restore(restored);
        }
        let state = CorrelatorState {
            engine,
            args,
            traced: HashMap::new(),
        };
        state.export_open();
        Ok(state)
    }

    async fn handle(
        &self,
        _myself: ActorRef<CorrelatorMsg>,
        msg: CorrelatorMsg,
        st: &mut CorrelatorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            CorrelatorMsg::Alert(a) => {
                st.trace_alert(&a);
                st.engine.push(a)
            }
            CorrelatorMsg::Tick { now_ms, reply } => {
                let mut events = st.engine.tick(now_ms);
                let spans = st.trace_opened(&mut events);
                st.publish(events).await;
                // The spans end once the `opened` records are stored.
                spans.into_iter().for_each(IncidentSpan::end);
                st.args
                    .board
                    .set_alerts(&st.args.ship, st.engine.alerts_total());
                if let Some(r) = reply {
                    let _ = r.send(());
                }
            }
            CorrelatorMsg::Acknowledge {
                id,
                by,
                ts_ms,
                reply,
            } => {
                let ev = st.engine.acknowledge(&id, &by, ts_ms);
                let ok = ev.is_some();
                st.publish(ev.into_iter().collect()).await;
                let _ = reply.send(ok);
            }
            CorrelatorMsg::Inventory(inv) => st.engine.set_topology(Topology::new(&inv)),
            CorrelatorMsg::Topology(reply) => {
                let _ = reply.send(st.engine.topology_facts());
            }
        }
        Ok(())
    }
}

/// Builds the child spec of a ship's correlator actor.
pub fn correlator_child(args: CorrelatorArgs) -> (ChildSpec, Addr<CorrelatorMsg>) {
    ChildSpec::actor("correlator", "correlator", move || {
        (CorrelatorActor, args.clone())
    })
}

/// An alert sink that casts into the correlator at `addr` (never blocks; alerts sent
/// while the correlator restarts are lost, and their producers re-raise on the next
/// state change).
pub fn sink_to(addr: Addr<CorrelatorMsg>) -> AlertSink {
    AlertSink::from_fn(move |a| {
        let _ = addr.send(CorrelatorMsg::Alert(a));
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{AlertClass, AlertSeverity, AlertSource, AlertState};
    use crate::inventory::DeviceSpec;
    use seawatch_runtime::event_log::EventLogConfig;

    /// A log service with its writer running (stopped with the test's runtime).
    async fn log_service(dir: &std::path::Path) -> LogService {
        let cfg = crate::ingest::pipeline::PipelineConfig::default();
        let svc = LogService::new(
            seawatch_runtime::event_log::EventLog::open(dir, EventLogConfig::new("s")).unwrap(),
            &cfg,
        );
        let metrics =
            crate::ingest::metrics::IngestMetrics::register(&seawatch_runtime::Metrics::new(), "s");
        let args = svc.writer_args(metrics, cfg, seawatch_runtime::Clock::system());
        Actor::spawn(None, crate::log_service::WriterActor, args)
            .await
            .unwrap();
        svc
    }

    fn args(log: LogService, board: IncidentBoard, push: PushBus) -> CorrelatorArgs {
        CorrelatorArgs {
            ship: "s".into(),
            inventory: Inventory {
                ship: "s".into(),
                devices: vec![
                    DeviceSpec {
                        id: "sw".into(),
                        kind: "switch".into(),
                        depends_on: vec![],
                    },
                    DeviceSpec {
                        id: "pos-1".into(),
                        kind: "pos".into(),
                        depends_on: vec!["sw".into()],
                    },
                ],
                links: vec![],
            },
            config: CorrelatorConfig::default(),
            board,
            push,
            log: Some(log),
            metrics: IncidentMetrics::default(),
            traces: Traces::off(),
        }
    }

    async fn tick(actor: &ActorRef<CorrelatorMsg>, now_ms: i64) {
        ractor::call!(actor, |r| CorrelatorMsg::Tick {
            now_ms,
            reply: Some(r)
        })
        .unwrap();
    }

    /// `subject` stopped answering probes at 1 s.
    fn unreachable(subject: &str) -> Alert {
        Alert {
            ship: "s".into(),
            exhausts_at_ms: None,
            subject: subject.into(),
            source: AlertSource::Device,
            class: AlertClass::Unreachable,
            severity: AlertSeverity::Critical,
            state: AlertState::Firing,
            ts_ms: 1_000,
            series: None,
            score: 1.0,
            detail: String::new(),
        }
    }

    #[tokio::test]
    async fn incidents_are_stored_pushed_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_service(dir.path()).await;
        let board = IncidentBoard::new();
        let push = PushBus::new(64);
        let mut rx = push.subscribe();
        let (actor, join) = Actor::spawn(
            None,
            CorrelatorActor,
            args(log.clone(), board.clone(), push.clone()),
        )
        .await
        .unwrap();
        for subject in ["sw", "pos-1"] {
            actor
                .cast(CorrelatorMsg::Alert(unreachable(subject)))
                .unwrap();
        }
        tick(&actor, 30_000).await;
        let open = board.list(Some("s"), super::super::StateFilter::Open);
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].root_cause, "sw");
        assert_eq!(open[0].severity, IncidentSeverity::Critical);
        let push = rx.recv().await.unwrap();
        let wire: serde_json::Value = serde_json::from_str(&push.to_wire()).unwrap();
        assert_eq!(wire["type"], "incident");
        assert_eq!(wire["event"], "opened");
        actor.stop(None);
        join.await.unwrap();
        // The writer makes the records durable at its next fsync (replay reads only
        // what is durable).
        let reader = log.reader();
        let end = reader.next_seq();
        assert!(end > 1, "incident events stored");
        reader.watermark().wait_for(|&w| w >= end).await.unwrap();

        // a new incarnation (or a restarted ship) rebuilds the board from the log
        let board2 = IncidentBoard::new();
        let (actor2, join2) = Actor::spawn(
            None,
            CorrelatorActor,
            args(log.clone(), board2.clone(), PushBus::new(4)),
        )
        .await
        .unwrap();
        tick(&actor2, 31_000).await;
        let again = board2.list(None, super::super::StateFilter::All);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].id, open[0].id);
        assert_eq!(again[0].alerts, 2);
        actor2.stop(None);
        join2.await.unwrap();
    }

    #[tokio::test]
    async fn open_incident_gauges_read_0_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_service(dir.path()).await;
        let metrics = seawatch_runtime::Metrics::new();
        let mut a = args(log, IncidentBoard::new(), PushBus::new(4));
        a.metrics = IncidentMetrics::register(&metrics);
        let (actor, join) = Actor::spawn(None, CorrelatorActor, a).await.unwrap();
        // No alert, no tick: only the start.
        let text = metrics.encode();
        for sev in ["minor", "major", "critical"] {
            let series = format!("seawatch_incidents_open{{ship=\"s\",severity=\"{sev}\"}} 0\n");
            assert!(text.contains(&series), "{series} missing in:\n{text}");
        }
        actor.stop(None);
        join.await.unwrap();
    }

    #[tokio::test]
    async fn an_opened_incident_carries_the_traceparent_of_its_span_under_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_service(dir.path()).await;
        let spans = crate::otel::Collect::default();
        let traces = Traces::with_exporter(spans.clone(), "seawatch-test", "s");
        // The router saw a batch carrying `sw` (and one carrying only `pos-1` after it).
        let obs = |d: &str| crate::ingest::record::Observation::log(d, 0, None, "", "x");
        traces.batch_routed("s", std::time::Instant::now(), &[obs("sw"), obs("pos-1")]);
        traces.batch_routed("s", std::time::Instant::now(), &[obs("pos-1")]);
        let mut a = args(log.clone(), IncidentBoard::new(), PushBus::new(4));
        a.traces = traces.clone();
        let (actor, join) = Actor::spawn(None, CorrelatorActor, a).await.unwrap();
        for subject in ["sw", "pos-1"] {
            actor
                .cast(CorrelatorMsg::Alert(unreachable(subject)))
                .unwrap();
        }
        tick(&actor, 30_000).await;
        actor.stop(None);
        join.await.unwrap();
        let reader = log.reader();
        let end = reader.next_seq();
        reader.watermark().wait_for(|&w| w >= end).await.unwrap();
        let records: Vec<IncidentEvent> = reader
            .cursor(reader.first_seq())
            .poll(100)
            .unwrap()
            .iter()
            .filter(|e| e.kind == EventKind::Incident)
            .map(|e| serde_json::from_str(&e.body).unwrap())
            .collect();
        let opened: Vec<_> = records
            .iter()
            .filter(|e| e.kind == IncidentEventKind::Opened)
            .collect();
        assert_eq!(opened.len(), 1);
        assert_eq!(opened[0].incident.root_cause, "sw");
        // Only the opening carries it.
        assert!(records
            .iter()
            .filter(|e| e.kind != IncidentEventKind::Opened)
            .all(|e| e.traceparent.is_none()));
        let tp = crate::otel::parse_traceparent(opened[0].traceparent.as_deref().unwrap())
            .expect("a W3C traceparent");
        let got = spans.0.lock().clone();
        assert_eq!(got.len(), 2, "the batch of the root cause and the opening");
        let (root, open) = (&got[0], &got[1]);
        assert_eq!(root.name, crate::otel::span::INGEST);
        assert_eq!(
            root.attributes
                .iter()
                .find(|kv| kv.key.as_str() == "seawatch.events")
                .map(|kv| kv.value.clone()),
            Some(opentelemetry::Value::I64(2))
        );
        assert_eq!(open.name, crate::otel::span::INCIDENT_OPEN);
        assert_eq!(open.parent_span_id, root.span_context.span_id());
        assert_eq!(open.span_context.span_id(), tp.span_id());
        assert_eq!(open.span_context.trace_id(), tp.trace_id());
        assert_eq!(root.span_context.trace_id(), tp.trace_id());
    }
}
