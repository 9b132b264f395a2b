//! The device, link and topology routes behind the console's auth, over a real roster
//! (device and link actors), a correlator that learned an LLDP fact, the incident board
//! and an event log read through the log index.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use seawatch_actors::alert::AlertSink;
use seawatch_actors::incident::{
    correlator_child, CorrelatorArgs, CorrelatorConfig, CorrelatorMsg, Incident, IncidentBoard,
    IncidentMetrics, IncidentSeverity, IncidentState,
};
use seawatch_actors::ingest::metrics::IngestMetrics;
use seawatch_actors::ingest::pipeline::PipelineConfig;
use seawatch_actors::ingest::record::ObservationExt;
use seawatch_actors::inventory::{DeviceSpec, Inventory};
use seawatch_actors::link::LinkMetrics;
use seawatch_actors::log_service::LogService;
use seawatch_actors::push::PushBus;
use seawatch_actors::roster::{roster_child, Discovered, RosterArgs, RosterMetrics, RosterView};
use seawatch_actors::store::IndexConfig;
use seawatch_model::{
    Alert, AlertClass, AlertSeverity, AlertSource, AlertState, LinkSpec, MetricSample, Observation,
    ShipId,
};
use seawatch_runtime::event_log::{EventLog, EventLogConfig, FsyncPolicy};
use seawatch_runtime::supervision::{start_root, SupervisorSpec};
use seawatch_runtime::{Clock, Metrics, Runtime};
use serde_json::Value;

use crate::auth::{Auth, AuthConfig, Role};
use crate::elements::{Elements, ShipElements};
use crate::logs::{LogSearch, LogSearchMetrics};
use crate::metrics::ConsoleMetrics;
use crate::testutil::{http, serve};

/// 2025-03-14T06:00:00Z; samples every minute for the hour after it, "now" at its end.
const T0: i64 = 1_741_932_000_000;
const NOW: i64 = T0 + 3_600_000;

fn dev(id: &str, kind: &str, parents: &[&str]) -> DeviceSpec {
    DeviceSpec {
        id: id.into(),
        kind: kind.into(),
        depends_on: parents.iter().map(|p| p.to_string()).collect(),
    }
}

fn inventory() -> Inventory {
    Inventory {
        ship: "s".into(),
        devices: vec![
            dev("fw-1", "firewall", &[]),
            dev("modem-1", "modem", &["fw-1"]),
            dev("core-sw-1", "switch", &["fw-1"]),
            dev("dist-1", "switch", &["core-sw-1"]),
            dev("acc-1", "switch", &["dist-1"]),
            dev("ap-1", "ap", &["acc-1"]),
            dev("ap-2", "ap", &["dist-1"]),
        ],
        links: vec![LinkSpec {
            id: "vsat-1".into(),
            kind: "vsat".into(),
            primary: true,
            ..Default::default()
        }],
    }
}

fn metric(
    device: &str,
    name: &str,
    labels: &[(&str, &str)],
    value: f64,
    ts_ms: i64,
) -> Observation {
    Observation::from_metric(MetricSample {
        device: device.into(),
        name: name.into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        value,
        ts_ms,
    })
}

/// Minute `k` of the hour: core-sw-1's probe, CPU, interface error counters and disk;
/// modem-1's Es/No and lock for vsat-1.
fn minute(k: i64) -> Vec<Observation> {
    let t = T0 + k * 60_000;
    let kf = k as f64;
    vec![
        metric("core-sw-1", "probe_success", &[], 1.0, t),
        metric(
            "core-sw-1",
            "probe_duration_seconds",
            &[],
            0.001 * (k % 5 + 1) as f64,
            t,
        ),
        metric("core-sw-1", "device_cpu_percent", &[], 20.0 + kf, t),
        metric(
            "core-sw-1",
            "ifInErrors",
            &[("ifName", "Gi1/0/1")],
            3.0 * kf,
            t,
        ),
        metric("core-sw-1", "ifOutErrors", &[("ifName", "Gi1/0/1")], 0.0, t),
        metric(
            "core-sw-1",
            "node_filesystem_avail_bytes",
            &[("mountpoint", "/")],
            1000.0 - 10.0 * kf,
            t,
        ),
        metric(
            "core-sw-1",
            "node_filesystem_size_bytes",
            &[("mountpoint", "/")],
            1000.0,
            t,
        ),
        metric(
            "modem-1",
            "modem_esno_db",
            &[("link", "vsat-1")],
            10.0 - 0.1 * kf,
            t,
        ),
        metric("modem-1", "modem_lock", &[("link", "vsat-1")], 1.0, t),
    ]
}

struct Ship {
    elements: Elements,
    board: IncidentBoard,
    _dir: tempfile::TempDir,
}

async fn ship() -> Ship {
    let dir = tempfile::tempdir().unwrap();
    let observations: Vec<Observation> = (0..60)
        .flat_map(minute)
        .chain(std::iter::once(Observation::log(
            "stranger", T0, None, "app", "hello",
        )))
        .collect();
    let mut cfg = EventLogConfig::new("s");
    cfg.fsync = FsyncPolicy::Never;
    let mut log = EventLog::open(dir.path().join("log"), cfg).unwrap();
    log.append_batch(observations.iter().map(|o| o.to_event()).collect())
        .unwrap();
    log.sync().unwrap();
    let log = LogService::new(log, &PipelineConfig::default());

    let registry = Metrics::new();
    let runtime = Runtime::new(Clock::system());
    let board = IncidentBoard::new();
    let inv = inventory();
    let (roster_spec, roster) = roster_child(RosterArgs {
        ship: "s".into(),
        runtime: runtime.clone(),
        inventory: Arc::new(RwLock::new(inv.clone())),
        discovered: Discovered::in_memory(),
        alerts: AlertSink::none(),
        push: None,
        ingest_metrics: IngestMetrics::register(&registry, "s"),
        link_metrics: LinkMetrics::register(&registry),
        link_risk: Default::default(),
        detectors: None,
        metrics: RosterMetrics::register(&registry),
        view: RosterView::default(),
    });
    let (corr_spec, correlator) = correlator_child(CorrelatorArgs {
        ship: "s".into(),
        inventory: inv,
        config: CorrelatorConfig::default(),
        board: board.clone(),
        push: PushBus::new(16),
        log: None,
        metrics: IncidentMetrics::register(&registry),
        traces: seawatch_actors::otel::Traces::off(),
    });
    let (_root, _join) = start_root(
        SupervisorSpec::new("root", &ShipId::new("s"))
            .child(roster_spec)
            .child(corr_spec),
        runtime.clone(),
    )
    .await
    .unwrap();
    roster.route(Instant::now(), observations).await;
    roster.flush().await.unwrap();
    // acc-1 logs ap-2 on one of its ports: the inventory says dist-1
    correlator
        .send(CorrelatorMsg::Alert(Alert {
            ship: "s".into(),
            exhausts_at_ms: None,
            subject: "acc-1".into(),
            source: AlertSource::Device,
            class: AlertClass::Errors,
            severity: AlertSeverity::Warning,
            state: AlertState::Firing,
            ts_ms: T0 + 60_000,
            series: Some("log:lldp-seen:Gi1/0/2@ap-2".into()),
            score: 1.0,
            detail: String::new(),
        }))
        .map_err(|_| "correlator not running")
        .unwrap();
    correlator
        .call(
            |r| CorrelatorMsg::Tick {
                now_ms: T0 + 70_000,
                reply: Some(r),
            },
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    board.upsert(&Incident {
        id: "s-1".into(),
        ship: "s".into(),
        root_cause: "core-sw-1".into(),
        severity: IncidentSeverity::Critical,
        state: IncidentState::Open,
        alerts: 3,
        opened_at_ms: T0 + 1_800_000,
        resolved_at_ms: None,
        active_since_ms: vec![T0 + 1_800_000],
        members: vec!["core-sw-1".into(), "dist-1".into()],
        summary: "core-sw-1 (switch) is unreachable".into(),
        merged_into: None,
        candidates: vec![],
        evidence: vec![],
        classes: vec![AlertClass::Unreachable],
    });
    let clock = Clock::manual(NOW);
    let logs = LogSearch::new(
        vec![log.reader()],
        IndexConfig::default(),
        clock.clone(),
        LogSearchMetrics::register(&registry),
    );
    let elements = Elements::new(
        vec![ShipElements {
            ship: "s".into(),
            roster,
            correlator: Some(correlator),
        }],
        board.clone(),
        logs,
        clock,
    );
    // the supervision tree lives as long as the runtime's tasks (the test's)
    std::mem::forget(_root);
    Ship {
        elements,
        board,
        _dir: dir,
    }
}

async fn setup() -> (std::net::SocketAddr, String, Ship) {
    let s = ship().await;
    let adir = tempfile::tempdir().unwrap();
    let m = Metrics::new();
    let auth = Auth::open(
        adir.path(),
        &AuthConfig::default(),
        Clock::manual(NOW),
        ConsoleMetrics::register(&m),
    )
    .unwrap();
    let token = auth.issue("deck", Role::Viewer);
    let addr = serve(auth.protect(Role::Viewer, s.elements.routes())).await;
    std::mem::forget(adir);
    (addr, token, s)
}

async fn get(addr: std::net::SocketAddr, token: &str, path: &str) -> Value {
    let (code, body) = http(addr, "GET", path, Some(token), "").await;
    assert_eq!(code, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn values(series: &Value) -> Vec<f64> {
    series
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_f64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_page_has_its_state_incidents_and_metric_history() {
    let (addr, token, _s) = setup().await;
    // an hour in 12 buckets of 5 minutes: [T0+5m, T0+10m) ... [T0+55m, T0+60m) hold
    // minutes 5..59, each bucket's newest minute is 5b+9
    let v = get(
        addr,
        &token,
        "/api/devices/core-sw-1?ship=s&hours=1&points=12",
    )
    .await;
    assert_eq!(v["ship"], "s");
    assert_eq!(v["kind"], "switch");
    assert_eq!(v["health"], "up");
    assert_eq!(v["in_inventory"], true);
    assert_eq!(v["parents"], serde_json::json!(["fw-1"]));
    assert_eq!(v["children"], serde_json::json!(["dist-1"]));
    let minutes: Vec<f64> = (0..11).map(|b| (5 * b + 9) as f64).collect();
    let s = &v["series"];
    assert_eq!(
        values(&s["cpu_percent"]),
        minutes.iter().map(|k| 20.0 + k).collect::<Vec<_>>()
    );
    assert_eq!(
        values(&s["probe_rtt_ms"]),
        minutes
            .iter()
            .map(|k| (*k as i64 % 5 + 1) as f64)
            .collect::<Vec<_>>()
    );
    assert_eq!(values(&s["probe_success"]), vec![1.0; 11]);
    // 3 errors a minute, 5 minutes a bucket; the first bucket has no previous one
    assert_eq!(values(&s["errors"]), vec![15.0; 10]);
    assert_eq!(values(&s["disk_used_percent"]), minutes.clone());
    assert_eq!(s["cpu_percent"][0][0], T0 + 9 * 60_000);
    assert_eq!(v["incidents"][0]["id"], "s-1");
    assert_eq!(v["incidents"][0]["role"], "root");
    assert_eq!(v["incidents"][0]["state"], "open");

    // dist-1 is affected by the incident, and has no metric history
    let d = get(addr, &token, "/api/devices/dist-1?ship=s").await;
    assert_eq!(d["incidents"][0]["role"], "affected");
    assert_eq!(d["series"]["cpu_percent"], serde_json::json!([]));

    // a point budget, whatever the window
    let w = get(
        addr,
        &token,
        "/api/devices/core-sw-1?ship=s&hours=24&points=240",
    )
    .await;
    assert!(values(&w["series"]["cpu_percent"]).len() <= 240);

    for (path, code) in [
        ("/api/devices/nope?ship=s", 404),
        ("/api/devices/core-sw-1?ship=elsewhere", 404),
        ("/api/devices/core-sw-1?hours=0", 400),
        ("/api/devices/core-sw-1?hours=25", 400),
        ("/api/devices/core-sw-1?points=1", 400),
        ("/api/devices/core-sw-1?points=lots", 400),
    ] {
        let (c, body) = http(addr, "GET", path, Some(&token), "").await;
        assert_eq!(c, code, "{path}: {body}");
        let e: Value = serde_json::from_str(&body).unwrap();
        assert!(e["error"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    }
    assert_eq!(
        http(addr, "GET", "/api/devices/core-sw-1", None, "")
            .await
            .0,
        401
    );
    // a GET never starts an actor for an unknown name
    assert_eq!(
        http(addr, "GET", "/api/devices/ghost?ship=s", Some(&token), "")
            .await
            .0,
        404
    );
    let list = get(addr, &token, "/api/devices?ship=s").await;
    assert!(!list.as_array().unwrap().iter().any(|d| d["id"] == "ghost"));
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["id"] == "core-sw-1" && d["health"] == "up"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_page_charts_esno_lock_and_risk() {
    let (addr, token, s) = setup().await;
    let v = get(addr, &token, "/api/links/vsat-1?ship=s&hours=1&points=12").await;
    assert_eq!(v["modem"], "modem-1");
    assert_eq!(v["primary"], true);
    let minutes: Vec<f64> = (0..11).map(|b| (5 * b + 9) as f64).collect();
    let esno = values(&v["esno"]);
    let want: Vec<f64> = minutes
        .iter()
        .map(|k| ((10.0 - 0.1 * k) * 1000.0_f64).round() / 1000.0)
        .collect();
    assert_eq!(esno, want);
    assert_eq!(values(&v["lock"]), vec![1.0; 11]);
    assert_eq!(v["locked"], true);
    // the link actor's risk, a point a minute over the window
    let risk = values(&v["risk_history"]);
    assert!(risk.len() >= 50, "{risk:?}");
    assert!(risk.iter().all(|r| (0.0..=1.0).contains(r)));
    assert!(v["predicted_outages"].is_array());
    assert!(v["incidents"].as_array().unwrap().is_empty());

    // the list: every link with a sparkline
    let list = get(addr, &token, "/api/links?ship=s").await;
    let l = &list[0];
    assert_eq!(l["id"], "vsat-1");
    assert!(values(&l["esno"]).len() >= 20, "{l}");
    assert!(l.get("risk_history").is_none());

    assert_eq!(
        http(addr, "GET", "/api/links/nope?ship=s", Some(&token), "")
            .await
            .0,
        404
    );
    assert_eq!(http(addr, "GET", "/api/links", None, "").await.0, 401);
    drop(s.board);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_topology_groups_by_layer_and_shows_inventory_mistakes() {
    let (addr, token, _s) = setup().await;
    let v = get(addr, &token, "/api/topology?ship=s").await;
    let node = |id: &str| {
        v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id)
            .unwrap_or_else(|| panic!("no {id} in {v}"))
            .clone()
    };
    for (id, layer) in [
        ("modem-1", "wan"),
        ("fw-1", "perimeter"),
        ("core-sw-1", "core"),
        ("dist-1", "distribution"),
        ("acc-1", "access"),
        ("ap-1", "edge"),
        ("stranger", "discovered"),
    ] {
        assert_eq!(node(id)["layer"], layer, "{id}");
    }
    assert_eq!(node("core-sw-1")["state"], "up");
    assert_eq!(node("core-sw-1")["root_of"], "s-1");
    assert_eq!(node("dist-1")["incident"], "s-1");
    assert!(node("dist-1")["root_of"].is_null());
    assert_eq!(node("stranger")["in_inventory"], false);
    // LLDP wins over the inventory, and the disagreement is listed
    assert_eq!(node("ap-2")["parents"], serde_json::json!(["acc-1"]));
    let mism = v["mismatches"].as_array().unwrap();
    assert!(
        mism.iter()
            .any(|m| m["kind"] == "discovered" && m["device"] == "stranger"),
        "{mism:?}"
    );
    let lldp = mism
        .iter()
        .find(|m| m["kind"] == "lldp")
        .expect("lldp mismatch");
    assert_eq!(lldp["device"], "ap-2");
    assert_eq!(lldp["parent"], "acc-1");
    assert_eq!(lldp["inventory_parents"], serde_json::json!(["dist-1"]));
    assert!(lldp["text"]
        .as_str()
        .unwrap()
        .contains("inventory says ap-2 depends on dist-1 but LLDP says acc-1"));
    // traffic to vsat-1 goes in through its modem and the firewall
    assert_eq!(v["links"][0]["id"], "vsat-1");
    assert_eq!(v["links"][0]["via"], serde_json::json!(["modem-1", "fw-1"]));
    assert_eq!(v["layers"][0]["id"], "wan");
    assert_eq!(
        http(addr, "GET", "/api/topology?ship=x", Some(&token), "")
            .await
            .0,
        404
    );
}
