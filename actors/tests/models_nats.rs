//! The model registry over a real nats-server (`deploy/nats/single-test.conf`, JetStream
//! domain `shore`), decision 0065:
//!
//! * two shore nodes' registries (two connections) share one history in `SW_MODELS`;
//! * a detector-settings challenger is wrapped in a shadow bundle and delivered to a ship
//!   by an ordinary rollout (controller + bundle agent), lands in the shadow slot
//!   `DATA/models/shadow-det/`, and the ship's shadow runner scores it beside the
//!   champion on the same events of the ship's log (samples and incidents) and reports
//!   to `SW_MODEL_SHADOW` through the shore domain;
//! * the gates first hold it (too little exposure, the reason recorded), then promote it
//!   once they pass; the history answers who was champion before, and a rollback is one
//!   step;
//! * a link-risk challenger shadowed beside it sees the link's outage and is held;
//! * a model with a rollout plan: the champion its gates promote is rolled out to the ship
//!   by the evaluator (recorded in the history), and after a rollback the previous
//!   champion is rolled out again (decision 0076).
//!
//! The binary is `SEAWATCH_NATS_SERVER` or what `deploy/scripts/nats-test-server.sh bin`
//! finds; without one the test says so and passes, except under `CI=true`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use seawatch_actors::incident::model::{
    Incident, IncidentEvent, IncidentEventKind, IncidentSeverity, IncidentState,
};
use seawatch_actors::log_service::EventSource;
use seawatch_actors::models::evaluator::{evaluate_all, ModelMetrics};
use seawatch_actors::models::shadow::{
    runner_child, shadow_bundle, RunnerArgs, RunnerMsg, ShadowMetrics,
};
use seawatch_actors::models::store::{ModelStore, NatsModelStore, Registry};
use seawatch_actors::models::{
    Alias, AliasCause, Direction, Gate, ModelEv, ModelKind, RolloutPlan, ShadowCounts,
    ShadowReport, VersionRequest,
};
use seawatch_actors::rollout::agent::{agent_child, AgentArgs, BundleTargets};
use seawatch_actors::rollout::bundle::{encode, BundleKind, BundleStore};
use seawatch_actors::rollout::controller::{
    controller_child, ControllerArgs, RolloutMetrics, RolloutMsg,
};
use seawatch_actors::rollout::nats::{NatsShipLink, NatsShoreLink, ShipLink, ShoreLink};
use seawatch_actors::rollout::state::{OnError, RolloutRequest, RolloutState, WaveSpec};
use seawatch_runtime::event_log::{Event, EventKind, EventLogError};
use seawatch_runtime::supervision::{start_root, Addr, SupervisorSpec};
use seawatch_runtime::{Clock, Runtime, ShardKey};
use seawatch_tests::nats::{single_server, NatsServer};

fn server() -> Option<(NatsServer, String)> {
    single_server("models test")
}

/// The ship's event log in memory (every event durable at once).
#[derive(Default, Clone)]
struct MemLog(Arc<Mutex<Vec<Event>>>);

impl MemLog {
    fn push(&self, ts_ms: i64, kind: EventKind, source: &str, body: String) {
        let mut g = self.0.lock();
        let seq = g.len() as u64 + 1;
        g.push(Event {
            seq,
            ts_ms,
            kind,
            source: source.into(),
            severity: 6,
            body,
        });
    }
}

impl EventSource for MemLog {
    fn ship_id(&self) -> String {
        "aurora".into()
    }
    fn first_seq(&self) -> u64 {
        1
    }
    fn durable_next_seq(&self) -> u64 {
        self.0.lock().len() as u64 + 1
    }
    fn read_from(&self, seq: u64, max: usize) -> Result<Vec<Event>, EventLogError> {
        let g = self.0.lock();
        Ok(g.iter().skip(seq as usize - 1).take(max).cloned().collect())
    }
}

fn incident_opened(ts: i64, n: u32, element: &str) -> String {
    serde_json::to_string(&IncidentEvent {
        ts_ms: ts,
        kind: IncidentEventKind::Opened,
        incident: Incident {
            id: format!("aurora-{n}"),
            ship: "aurora".into(),
            root_cause: element.into(),
            severity: IncidentSeverity::Major,
            state: IncidentState::Open,
            alerts: 1,
            opened_at_ms: ts,
            resolved_at_ms: None,
            active_since_ms: vec![ts],
            members: vec![element.into()],
            summary: format!("{element} overloaded"),
            merged_into: None,
            candidates: Vec::new(),
            evidence: Vec::new(),
            classes: Vec::new(),
        },
        traceparent: None,
    })
    .unwrap()
}

async fn until<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn detectors(toml: &str) -> Vec<u8> {
    encode(
        BundleKind::Detectors,
        "detectors",
        vec![("ensemble.toml".into(), toml.as_bytes().to_vec())],
    )
}

fn link_risk(json: &str) -> Vec<u8> {
    encode(
        BundleKind::Model,
        "link-risk",
        vec![("link-risk.json".into(), json.as_bytes().to_vec())],
    )
}

async fn registry(url: &str, bundles: &BundleStore, clock: &Clock) -> Registry {
    let b = bundles.clone();
    Registry {
        store: Arc::new(NatsModelStore::connect(url, 1).await.unwrap()),
        clock: clock.clone(),
        bundle_kind: Arc::new(move |s: &str| b.get(s).ok().flatten().map(|(b, _)| b.manifest.kind)),
    }
}

async fn shadow_rollout(
    reg: &Registry,
    bundles: &BundleStore,
    controller: &Addr<RolloutMsg>,
    name: &str,
) -> String {
    let m = reg.get(name).await.unwrap();
    let file = |s: &str| bundles.get(s).unwrap().unwrap().1;
    let ch = file(m.challenger.as_deref().unwrap());
    let cp = m.champion.as_deref().map(file);
    let b = shadow_bundle(name, m.kind, &ch, cp.as_deref()).unwrap();
    let info = bundles.put(&b).unwrap();
    let req = RolloutRequest {
        bundle: info.sha256,
        ships: Some(vec!["aurora".into()]),
        all: None,
        waves: vec![WaveSpec {
            percent: 100.0,
            success_threshold: 100.0,
            error_threshold: 0.0,
            timeout_s: 60,
            approval: false,
            // a shadow never acts: no incident watch
            incident_window_s: Some(0),
        }],
        on_error: OnError::Pause,
    };
    let r = controller
        .call(
            |p| RolloutMsg::Create(req, "root".into(), p),
            Duration::from_secs(10),
        )
        .await
        .unwrap()
        .unwrap();
    let id = r.id.clone();
    until("shadow rollout done", async || {
        let r = controller
            .call(|p| RolloutMsg::Get(id.clone(), p), Duration::from_secs(10))
            .await
            .unwrap()
            .unwrap();
        (r.state == RolloutState::Completed).then_some(())
    })
    .await;
    id
}

fn gate(
    metric: &str,
    direction: Direction,
    threshold: Option<f64>,
    rel: Option<f64>,
    min_exposure: u64,
) -> Gate {
    Gate {
        metric: metric.into(),
        direction,
        threshold,
        min_relative_change: rel,
        min_exposure,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenger_is_shadowed_on_a_ship_scored_held_then_promoted_by_its_gates() {
    let Some((_server, url)) = server() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let shore_data = dir.path().join("shore");
    let bundles = BundleStore::open(&shore_data.join("bundles")).unwrap();
    // Shore time is injected: the history's times are the test's.
    let clock = Clock::manual(1_800_000_000_000);

    // Shore: the rollout controller, and the registry of two nodes.
    let u = url.clone();
    let (ctl, controller) = controller_child(ControllerArgs {
        id_prefix: "shore-0".into(),
        dir: shore_data.join("rollouts"),
        bundles: bundles.clone(),
        fleet: vec!["aurora".into()],
        clock: Clock::system(),
        tick: Duration::from_millis(100),
        grace_ms: 2_000,
        connect: Arc::new(move || {
            let u = u.clone();
            Box::pin(async move {
                let l = NatsShoreLink::connect(&u, 1, "shore-0").await?;
                Ok(Arc::new(l) as Arc<dyn ShoreLink>)
            })
        }),
        metrics: RolloutMetrics::default(),
        failover: false,
        push: None,
    });
    let (shore_root, _) = start_root(
        SupervisorSpec::new("shore", ShardKey::new("shore")).child(ctl),
        Runtime::new(Clock::system()),
    )
    .await
    .unwrap();
    let node_a = registry(&url, &bundles, &clock).await;
    let node_b = registry(&url, &bundles, &clock).await;

    // The ship: its bundle agent and its shadow runner over its event log.
    let ship_data = dir.path().join("aurora");
    let log = MemLog::default();
    let (u, u2) = (url.clone(), url.clone());
    let (agent, _) = agent_child(AgentArgs {
        ship: "aurora".into(),
        dir: ship_data.join("bundles"),
        targets: BundleTargets::under(&ship_data),
        connect: Arc::new(move || {
            let u = u.clone();
            Box::pin(async move {
                let l = NatsShipLink::connect(&u, "aurora", Some("shore")).await?;
                Ok(Arc::new(l) as Arc<dyn ShipLink>)
            })
        }),
        clock: Clock::system(),
        poll: Duration::from_millis(100),
        health: Arc::new(|| Ok(())),
        on_applied: seawatch_actors::rollout::agent::reload_nothing(),
        incidents: seawatch_actors::rollout::agent::no_incidents(),
    });
    let ship_clock = Clock::manual(1_800_000_000_000);
    let (runner, runner_addr) = runner_child(RunnerArgs {
        ship: "aurora".into(),
        models_dir: ship_data.join("models"),
        events: Arc::new(log.clone()),
        connect: Arc::new(move || {
            let u = u2.clone();
            Box::pin(async move {
                let s = NatsModelStore::ship(&u, Some("shore")).await?;
                Ok(Arc::new(s) as Arc<dyn ModelStore>)
            })
        }),
        clock: ship_clock.clone(),
        tick: Duration::from_millis(50),
        // reports are asked for explicitly below
        report_every: Duration::from_secs(86_400),
        metrics: ShadowMetrics::default(),
    });
    let (ship_root, _) = start_root(
        SupervisorSpec::new("aurora", ShardKey::new("aurora"))
            .child(agent)
            .child(runner),
        Runtime::new(Clock::system()),
    )
    .await
    .unwrap();

    // Two versions of the detector settings: the champion alerts on small bumps, the
    // challenger only on large deviations.
    let v1 = bundles
        .put(&detectors(
            "warmup = 30\nalert_threshold = 0.02\nmetrics = [\"cpu_util\"]\n",
        ))
        .unwrap()
        .sha256;
    let v2 = bundles
        .put(&detectors(
            "warmup = 30\nalert_threshold = 0.5\nmetrics = [\"cpu_util\"]\n",
        ))
        .unwrap()
        .sha256;
    let req = |v: &str, kind| VersionRequest {
        bundle: v.to_owned(),
        kind,
        metadata: Default::default(),
        metrics: Default::default(),
    };
    node_a
        .register("det", req(&v1, ModelKind::DetectorSettings), "root")
        .await
        .unwrap();
    // the other node registers the second version on the same history
    node_b
        .register("det", req(&v2, ModelKind::DetectorSettings), "root")
        .await
        .unwrap();
    node_a
        .set_alias("det", Alias::Champion, Some(v1.clone()), "root")
        .await
        .unwrap();
    clock.advance_ms(60_000);
    node_b
        .set_alias("det", Alias::Challenger, Some(v2.clone()), "root")
        .await
        .unwrap();
    let t_before = clock.now_ms();

    // A link-risk model too: its challenger warns earlier (lower fire_at).
    let l1 = bundles
        .put(&link_risk(r#"{"fire_at": 0.9}"#))
        .unwrap()
        .sha256;
    let l2 = bundles
        .put(&link_risk(r#"{"fire_at": 0.3}"#))
        .unwrap()
        .sha256;
    for v in [&l1, &l2] {
        node_a
            .register("vsat-risk", req(v, ModelKind::LinkRisk), "root")
            .await
            .unwrap();
    }
    node_a
        .set_alias("vsat-risk", Alias::Champion, Some(l1.clone()), "root")
        .await
        .unwrap();
    node_a
        .set_alias("vsat-risk", Alias::Challenger, Some(l2.clone()), "root")
        .await
        .unwrap();
    node_a
        .set_gates(
            "vsat-risk",
            vec![gate("recall", Direction::Higher, Some(0.5), None, 3)],
            "root",
        )
        .await
        .unwrap();

    // Shadow both on the ship by ordinary rollouts into the shadow slot.
    shadow_rollout(&node_a, &bundles, &controller, "det").await;
    shadow_rollout(&node_b, &bundles, &controller, "vsat-risk").await;
    let slot = ship_data.join("models/shadow-det/shadow.json");
    let spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&slot).unwrap()).unwrap();
    assert_eq!(spec["challenger"].as_str(), Some(v2.as_str()));
    assert_eq!(spec["champion"].as_str(), Some(v1.as_str()));
    // the live detector settings were not touched
    assert!(!ship_data.join("detectors").exists());
    // give the runner a tick to pick both slots up before the events come
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Live data: cpu_util of three switches every 5 s with noise, each overloaded once and
    // followed by an incident on it; the vsat link's Es/No falling until it loses lock once.
    let t0 = 1_800_000_000_000i64;
    let mut x: u64 = 42;
    let mut n = 0;
    for i in 0..900i64 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let noise = (x >> 33) as f64 / (1u64 << 31) as f64;
        let ts = t0 + i * 5_000;
        for (k, sw) in ["sw-1", "sw-2", "sw-3"].iter().enumerate() {
            // each switch overloads once, at a different time
            let spike = i == 200 + 250 * k as i64;
            let v = if spike {
                60.0
            } else {
                20.0 + 2.0 * noise + k as f64
            };
            log.push(
                ts,
                EventKind::Metric,
                sw,
                format!("cpu_util{{ship=\"aurora\"}} {v}"),
            );
            if spike {
                n += 1;
                log.push(
                    ts + 20_000,
                    EventKind::Incident,
                    sw,
                    incident_opened(ts + 20_000, n, sw),
                );
            }
        }
        let esno = if i < 700 {
            9.0 + noise * 0.2
        } else {
            9.0 - (i - 700) as f64 * 0.1
        };
        log.push(
            ts,
            EventKind::Metric,
            "vsat-1",
            format!("modem_esno_db{{link=\"vsat-1\"}} {esno}"),
        );
        let lock = if esno < -1.3 { 0 } else { 1 };
        log.push(
            ts,
            EventKind::Metric,
            "vsat-1",
            format!("modem_lock{{link=\"vsat-1\"}} {lock}"),
        );
    }
    ship_clock.advance_ms(900 * 5_000);
    runner_addr.send(RunnerMsg::ReportNow).unwrap();

    // Shore sees the ship's scores (from either node).
    let view = until("shadow report at shore", async || {
        let v = node_b.shadow("det").await.ok()?;
        (v.summary.ships == vec!["aurora".to_string()] && v.summary.exposure > 500).then_some(v)
    })
    .await;
    let (cp, ch) = (view.summary.champion, view.summary.challenger);
    eprintln!("det shadow: champion {cp:?}, challenger {ch:?}");
    assert_eq!(cp.samples, ch.samples);
    assert_eq!(cp.events, 3, "three incidents opened");
    assert!(
        ch.alerts < cp.alerts,
        "the challenger alerts less: {ch:?} vs {cp:?}"
    );
    assert_eq!(
        ch.caught, 3,
        "and still coincides with every incident: {ch:?}"
    );
    assert!(ch.agree < ch.samples);

    // Gates: fewer alerts (at least 20 % fewer), every incident caught, and more exposure
    // than there is: held, with the reason recorded.
    let gates = |min_exposure| {
        vec![
            gate(
                "alerts_per_1k",
                Direction::Lower,
                None,
                Some(0.2),
                min_exposure,
            ),
            gate("recall", Direction::Higher, Some(1.0), None, min_exposure),
        ]
    };
    node_a
        .set_gates("det", gates(100_000), "root")
        .await
        .unwrap();
    let metrics = ModelMetrics::default();
    clock.advance_ms(60_000);
    evaluate_all(&node_a, &metrics, None).await;
    let m = node_b.get("det").await.unwrap();
    assert_eq!(m.champion.as_deref(), Some(v1.as_str()), "held");
    let e = m.last_evaluation.clone().unwrap();
    assert!(!e.pass);
    assert!(e.why_not().contains("< minimum 100000"), "{}", e.why_not());
    assert!(e.gates[0].relative_change.unwrap() >= 0.2, "{e:?}");
    // the link-risk challenger saw the outage but needs three: held
    let lv = node_a.shadow("vsat-risk").await.unwrap();
    eprintln!("link shadow: {:?}", lv.summary);
    assert_eq!(
        lv.summary.challenger.events, 1,
        "one outage: {:?}",
        lv.summary
    );
    assert!(lv.summary.challenger.samples >= 900);
    let lm = node_a.get("vsat-risk").await.unwrap();
    assert_eq!(lm.champion.as_deref(), Some(l1.as_str()));
    assert!(lm
        .last_evaluation
        .unwrap()
        .why_not()
        .contains("exposure 1 < minimum 3"));

    // Enough exposure asked: every gate passes and the challenger is promoted.
    node_b.set_gates("det", gates(500), "root").await.unwrap();
    clock.advance_ms(60_000);
    let t_promoted = clock.now_ms();
    evaluate_all(&node_b, &metrics, None).await;
    let m = node_a.get("det").await.unwrap();
    assert_eq!(m.champion.as_deref(), Some(v2.as_str()));
    assert_eq!(m.challenger, None);
    assert!(m.last_evaluation.as_ref().unwrap().pass);
    assert_eq!(m.alias_at(Alias::Champion, t_before), Some(v1.clone()));
    assert_eq!(m.alias_at(Alias::Challenger, t_before), Some(v2.clone()));
    assert_eq!(m.alias_at(Alias::Champion, t_promoted), Some(v2.clone()));
    assert!(m.history.iter().any(|e| matches!(
        e,
        ModelEv::Alias {
            alias: Alias::Champion,
            cause: AliasCause::Promoted,
            ..
        }
    )));

    // One-step rollback, recorded, seen by the other node.
    clock.advance_ms(60_000);
    node_b.rollback("det", "root").await.unwrap();
    let m = node_a.get("det").await.unwrap();
    assert_eq!(m.champion.as_deref(), Some(v1.as_str()));
    assert_eq!(m.alias_at(Alias::Champion, t_promoted), Some(v2.clone()));
    let evaluations = m
        .history
        .iter()
        .filter(|e| matches!(e, ModelEv::Evaluated { .. }))
        .count();
    assert_eq!(evaluations, 2, "one held, one promoted");
    assert_eq!(
        node_a.store.names().await.unwrap(),
        vec!["det".to_string(), "vsat-risk".to_string()]
    );

    ship_root.shutdown().await;
    shore_root.shutdown().await;
}

/// The ship's detector settings in place (`DATA/detectors/ensemble.toml`).
fn live_settings(ship_data: &std::path::Path) -> Option<String> {
    std::fs::read_to_string(ship_data.join("detectors/ensemble.toml")).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promoted_champion_is_rolled_out_by_its_plan_and_a_rollback_rolls_the_previous_one_out() {
    let Some((_server, url)) = server() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let shore_data = dir.path().join("shore");
    let bundles = BundleStore::open(&shore_data.join("bundles")).unwrap();
    let clock = Clock::manual(1_800_000_000_000);
    let u = url.clone();
    let (ctl, controller) = controller_child(ControllerArgs {
        id_prefix: "shore-0".into(),
        dir: shore_data.join("rollouts"),
        bundles: bundles.clone(),
        fleet: vec!["aurora".into()],
        clock: Clock::system(),
        tick: Duration::from_millis(100),
        grace_ms: 2_000,
        connect: Arc::new(move || {
            let u = u.clone();
            Box::pin(async move {
                let l = NatsShoreLink::connect(&u, 1, "shore-0").await?;
                Ok(Arc::new(l) as Arc<dyn ShoreLink>)
            })
        }),
        metrics: RolloutMetrics::default(),
        failover: false,
        push: None,
    });
    let (shore_root, _) = start_root(
        SupervisorSpec::new("shore", ShardKey::new("shore")).child(ctl),
        Runtime::new(Clock::system()),
    )
    .await
    .unwrap();
    let node_a = registry(&url, &bundles, &clock).await;
    let node_b = registry(&url, &bundles, &clock).await;

    let ship_data = dir.path().join("aurora");
    let u = url.clone();
    let (agent, _) = agent_child(AgentArgs {
        ship: "aurora".into(),
        dir: ship_data.join("bundles"),
        targets: BundleTargets::under(&ship_data),
        connect: Arc::new(move || {
            let u = u.clone();
            Box::pin(async move {
                let l = NatsShipLink::connect(&u, "aurora", Some("shore")).await?;
                Ok(Arc::new(l) as Arc<dyn ShipLink>)
            })
        }),
        clock: Clock::system(),
        poll: Duration::from_millis(100),
        health: Arc::new(|| Ok(())),
        on_applied: seawatch_actors::rollout::agent::reload_nothing(),
        incidents: seawatch_actors::rollout::agent::no_incidents(),
    });
    let (ship_root, _) = start_root(
        SupervisorSpec::new("aurora", ShardKey::new("aurora")).child(agent),
        Runtime::new(Clock::system()),
    )
    .await
    .unwrap();

    const V1: &str = "warmup = 30\nalert_threshold = 0.05\n";
    const V2: &str = "warmup = 30\nalert_threshold = 0.5\n";
    let v1 = bundles.put(&detectors(V1)).unwrap().sha256;
    let v2 = bundles.put(&detectors(V2)).unwrap().sha256;
    for v in [&v1, &v2] {
        node_a
            .register(
                "det",
                VersionRequest {
                    bundle: v.clone(),
                    kind: ModelKind::DetectorSettings,
                    metadata: Default::default(),
                    metrics: Default::default(),
                },
                "root",
            )
            .await
            .unwrap();
    }
    node_a
        .set_alias("det", Alias::Champion, Some(v1.clone()), "root")
        .await
        .unwrap();
    // A bad plan is refused with the reason.
    let bad = RolloutPlan {
        ships: Some(vec!["aurora".into()]),
        all: None,
        waves: vec![],
        on_error: OnError::Pause,
    };
    let e = node_a
        .set_rollout_plan("det", Some(bad), "root")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("waves"), "{e}");
    let plan = RolloutPlan {
        ships: None,
        all: Some(true),
        waves: vec![WaveSpec {
            percent: 100.0,
            success_threshold: 100.0,
            error_threshold: 0.0,
            timeout_s: 60,
            approval: false,
            incident_window_s: Some(0),
        }],
        on_error: OnError::Pause,
    };
    node_b
        .set_rollout_plan("det", Some(plan), "root")
        .await
        .unwrap();
    let rollouts = async || {
        controller
            .call(RolloutMsg::List, Duration::from_secs(10))
            .await
            .unwrap()
    };
    // A champion set by hand is not rolled out by the plan.
    let metrics = ModelMetrics::default();
    evaluate_all(&node_a, &metrics, Some(&controller)).await;
    assert!(rollouts().await.is_empty());

    // The challenger's shadow report (as a ship publishes it) passes its gate: promoted
    // and rolled out to every ship, recorded in the history.
    node_a
        .set_alias("det", Alias::Challenger, Some(v2.clone()), "root")
        .await
        .unwrap();
    node_a
        .set_gates(
            "det",
            vec![gate("agreement", Direction::Higher, Some(0.5), None, 50)],
            "root",
        )
        .await
        .unwrap();
    let counts = ShadowCounts {
        samples: 100,
        agree: 90,
        ..Default::default()
    };
    NatsModelStore::ship(&url, Some("shore"))
        .await
        .unwrap()
        .put_shadow(&ShadowReport {
            ship: "aurora".into(),
            model: "det".into(),
            kind: ModelKind::DetectorSettings,
            challenger: v2.clone(),
            champion: Some(v1.clone()),
            since_ms: 0,
            at_ms: 1,
            champion_counts: counts,
            challenger_counts: counts,
            dropped_series: 0,
        })
        .await
        .unwrap();
    clock.advance_ms(60_000);
    evaluate_all(&node_b, &metrics, Some(&controller)).await;
    let m = node_a.get("det").await.unwrap();
    assert_eq!(m.champion.as_deref(), Some(v2.as_str()), "promoted");
    let deployed: Vec<(String, String, AliasCause)> = m
        .history
        .iter()
        .filter_map(|e| match e {
            ModelEv::Deployed {
                version,
                rollout,
                cause,
                ..
            } => Some((version.clone(), rollout.clone(), *cause)),
            _ => None,
        })
        .collect();
    assert_eq!(deployed.len(), 1, "{deployed:?}");
    assert_eq!((&deployed[0].0, deployed[0].2), (&v2, AliasCause::Promoted));
    let r = rollouts().await;
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].id.as_str(), r[0].bundle.as_str()),
        (deployed[0].1.as_str(), v2.as_str())
    );
    until("the promoted champion on the ship", async || {
        (live_settings(&ship_data).as_deref() == Some(V2)).then_some(())
    })
    .await;
    // Once: the next tick (either node) starts nothing more.
    evaluate_all(&node_a, &metrics, Some(&controller)).await;
    assert_eq!(rollouts().await.len(), 1);

    // A rollback rolls the previous champion's bundle out.
    clock.advance_ms(60_000);
    node_b.rollback("det", "root").await.unwrap();
    evaluate_all(&node_a, &metrics, Some(&controller)).await;
    let r = rollouts().await;
    assert_eq!(r.len(), 2);
    assert_eq!(r[1].bundle, v1);
    until("the previous champion on the ship again", async || {
        (live_settings(&ship_data).as_deref() == Some(V1)).then_some(())
    })
    .await;
    let m = node_b.get("det").await.unwrap();
    assert!(m.history.iter().any(|e| matches!(
        e,
        ModelEv::Deployed { version, cause: AliasCause::Rollback, .. } if *version == v1
    )));
    assert_eq!(m.deploy_due(), None);

    ship_root.shutdown().await;
    shore_root.shutdown().await;
}
