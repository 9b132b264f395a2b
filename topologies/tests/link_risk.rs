//! Link-outage prediction end to end: `sim run` replays a scenario through whole ships
//! and its report's `link_risk_alerts` are what the ships' link actors fired (from
//! telemetry only). The test alone scores them against ground truth: the simulator's
//! own losses of lock and the scenario's fault list.

use std::path::Path;

use seawatch_simulators::scenario::Scenario;
use seawatch_simulators::score::{link_outages, score_risk, ScoredRisk};
use seawatch_topologies::sim::{run, SimReport, SimRunOptions};

fn load(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../simulators/scenarios")
        .join(name);
    let mut sc = Scenario::load(&path).unwrap();
    // background logs do not touch the link physics; keep debug runs short
    for s in &mut sc.ship {
        s.log_eps = s.log_eps.min(20.0);
    }
    sc
}

async fn report(sc: &Scenario) -> SimReport {
    run(
        sc,
        &SimRunOptions {
            progress: false,
            ..SimRunOptions::default()
        },
    )
    .await
    .unwrap()
}

fn scored(r: &SimReport) -> Vec<ScoredRisk> {
    r.link_risk_alerts
        .iter()
        .map(|a| ScoredRisk {
            ship: a.ship.clone(),
            link: a.link.clone(),
            raised_at_s: a.raised_at_s,
            predicted_outage_at_s: a.predicted_outage_at_s,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rain_fade_is_predicted_before_the_link_goes_out() {
    let sc = load("rain-fade.toml");
    let r = report(&sc).await;
    assert!(!r.link_risk_alerts.is_empty(), "no link risk alert");
    for a in &r.link_risk_alerts {
        assert!((0.0..=1.0).contains(&a.risk), "{a:?}");
    }
    let outages = link_outages(&sc);
    let score = score_risk(&sc, &outages, &scored(&r));
    eprintln!("alerts: {:?}", r.link_risk_alerts);
    eprintln!("outages: {:?}", score.outages);
    let rain: Vec<_> = score
        .outages
        .iter()
        .filter(|o| o.fault.as_deref() == Some("rain_fade"))
        .collect();
    assert!(!rain.is_empty(), "the rain cell takes some link out");
    let lead = rain
        .iter()
        .filter_map(|o| o.lead_s)
        .fold(f64::NEG_INFINITY, f64::max);
    assert!(lead > 0.0, "an alert before the outage began: {rain:?}");
    let fault = sc
        .faults()
        .iter()
        .find(|f| f.kind.as_str() == "rain_fade")
        .unwrap();
    // raised inside the fault window (the cell starts at at_s), never from the fault list
    assert!(r
        .link_risk_alerts
        .iter()
        .any(|a| a.raised_at_s >= fault.at_s as f64 && a.predicted_outage_at_s.is_some()));
    assert_eq!(score.false_alerts, 0, "{:?}", r.link_risk_alerts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_day_raises_no_link_risk_alert() {
    let sc = load("quiet-day.toml");
    let r = report(&sc).await;
    assert!(
        r.link_risk_alerts.is_empty(),
        "false predictions: {:?}",
        r.link_risk_alerts
    );
    assert!(link_outages(&sc).is_empty(), "quiet day has no outage");
}

/// A ship with one Ku vsat whose satellite (200° true) and mast sector (150–210° from
/// the bow) are in the inventory; sailing 108°, the satellite sits 92° off the bow. A
/// `blockage` fault at 900 s turns the ship until the mast shadows the dish.
const FIRST_BLOCKAGE: &str = r#"
name = "first-blockage"
seed = 5
duration_s = 1800

[[ship]]
id = "aurora"
log_eps = 20
metric_interval_s = 10
route = [[25.77, -80.19], [25.06, -77.35]]
speed_kn = 18

[[ship.device]]
id = "fw-1"
kind = "firewall"

[[ship.device]]
id = "modem-vsat-1"
kind = "modem"
depends_on = ["fw-1"]

[[ship.link]]
id = "vsat-1"
kind = "vsat"
band = "Ku"
capacity_mbps = 50
primary = true
azimuth_deg = 200.0
elevation_deg = 45.0
blockage_zones = [[150.0, 210.0]]

[[fault]]
ship = "aurora"
target = "vsat-1"
kind = "blockage"
at_s = 900
duration_s = 300
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_blockage_is_predicted_a_minute_ahead_from_the_surveyed_sector() {
    let sc = Scenario::parse(FIRST_BLOCKAGE, "first-blockage").unwrap();
    let r = report(&sc).await;
    let outages = link_outages(&sc);
    let first = outages.first().expect("the turn shadows the dish");
    let alert = r
        .link_risk_alerts
        .iter()
        .find(|a| a.raised_at_s <= first.from_s)
        .unwrap_or_else(|| panic!("no alert before {first:?}: {:?}", r.link_risk_alerts));
    assert_eq!(alert.cause.as_deref(), Some("blockage"), "{alert:?}");
    assert!(
        first.from_s - alert.raised_at_s >= 60.0,
        "lead {} s: {alert:?}, {first:?}",
        first.from_s - alert.raised_at_s
    );
    let predicted = alert.predicted_outage_at_s.expect("a predicted start");
    assert!(
        (predicted - first.from_s).abs() <= 20.0,
        "predicted {predicted}, lock lost at {}",
        first.from_s
    );
    let score = score_risk(&sc, &outages, &scored(&r));
    assert_eq!(score.false_alerts, 0, "{:?}", r.link_risk_alerts);

    // the same passage without the fault: straight, calm, nothing raised
    let mut calm = sc.clone();
    calm.fault.clear();
    let r = report(&calm).await;
    assert!(r.link_risk_alerts.is_empty(), "{:?}", r.link_risk_alerts);
    assert!(link_outages(&calm).is_empty());
}
