//! `sim run` with a `[[rollout]]` (decision 0075): a small generated fleet rollout played
//! through whole ships on simulated time, with the in-memory rollout transport (no
//! server). Six ships, two of them offline for 20 minutes, one cut off for a minute in
//! the middle of its chunks; the shore node running the rollout is killed in wave 2. The 50-ship goal run is `seawatch sim fleet --ships 50
//! --rollout good|bad` then `seawatch sim run` (docs/benchmarks.md "Rollouts").

use seawatch_simulators::fleet::{rollout_fleet, RolloutFleetOptions};
use seawatch_simulators::{GeneratedBundle, Scenario};
use seawatch_topologies::sim::{run, SimReport, SimRunOptions};
use seawatch_topologies::sim_rollout::ReportRollout;

const SEED: u64 = 7;

fn scenario(bundle: GeneratedBundle) -> (Scenario, Vec<String>) {
    let (f, offline) = rollout_fleet(
        SEED,
        &RolloutFleetOptions {
            ships: 6,
            devices: 40,
            bundle,
            offline_s: 1200,
            ..RolloutFleetOptions::default()
        },
    );
    // what `sim fleet --rollout` writes is what `sim run` reads back
    let sc = Scenario::parse(&f.to_toml(), "generated").unwrap();
    (sc, offline)
}

async fn report(sc: &Scenario) -> SimReport {
    let opts = SimRunOptions {
        progress: false,
        ..SimRunOptions::default()
    };
    run(sc, &opts).await.unwrap()
}

fn only(r: &SimReport) -> &ReportRollout {
    assert_eq!(r.rollouts.len(), 1, "{:?}", r.rollouts);
    &r.rollouts[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_bundle_reaches_every_ship_once_back_and_survives_a_killed_shore_node() {
    let (sc, offline) = scenario(GeneratedBundle::Good);
    assert_eq!(offline.len(), 2);
    let r = report(&sc).await;
    let ro = only(&r);
    println!("{}", serde_json::to_string_pretty(ro).unwrap());
    assert_eq!(ro.state, "completed", "{ro:?}");
    assert_eq!(ro.waves_started, 3);
    assert_eq!(ro.ships.len(), 6);
    for s in &ro.ships {
        assert_eq!(s.state, "succeeded", "{s:?}");
        assert_eq!(s.applied, 1, "{} applied once", s.ship);
        let done = s.done_at_s.unwrap();
        if offline.contains(&s.ship) {
            // offline from 300 s to 1,500 s: done once back, not before
            assert!(done >= 1500.0, "{s:?}");
        }
    }
    // two ships of wave 2 lost their links mid-transfer and took the delivery again
    let cut: Vec<_> = sc
        .fault
        .iter()
        .filter(|f| f.duration_s == 60)
        .map(|f| f.ship.clone())
        .collect();
    assert!(!cut.is_empty());
    for s in ro.ships.iter().filter(|s| cut.contains(&s.ship)) {
        assert!(s.attempts >= 2, "{s:?}");
    }
    assert_eq!(ro.chunks.per_ship, 5);
    assert_eq!(ro.chunks.fetched, 5 * 6, "every chunk fetched once");
    assert_eq!(ro.chunks.resent_after_ack, 0);
    let killed = ro.shore_node_killed_at_s.unwrap();
    assert_eq!(killed, 750.0);
    let failover = ro.failover_s.expect("another node took it over");
    assert!(failover < 10.0, "failover {failover} s");
    assert_eq!(ro.reports_not_journaled, 0);
    assert_eq!(ro.journaled_twice, 0);
    assert!(!ro.canary_rolled_back);
    // sync is untouched by the rollout
    assert_eq!(r.events.lost, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_bundle_stops_before_wave_2_and_the_canary_rolls_back_by_itself() {
    let (sc, _) = scenario(GeneratedBundle::Bad);
    let r = report(&sc).await;
    let ro = only(&r);
    println!("{}", serde_json::to_string_pretty(ro).unwrap());
    assert_eq!(ro.state, "paused", "{ro:?}");
    assert_eq!(ro.stopped_at_wave, Some(1));
    assert_eq!(ro.waves_started, 1);
    assert!(ro.canary_rolled_back, "{ro:?}");
    let canary = &ro.ships[0];
    assert_eq!(Some(&canary.ship), ro.canary.as_ref());
    assert_eq!(canary.state, "failed");
    assert_eq!(canary.applied, 1, "swapped in once, then rolled back");
    let detail = canary.detail.as_deref().unwrap_or_default();
    assert!(
        detail.contains("does not compile") && detail.contains("rolled back"),
        "{detail}"
    );
    assert!(ro.ships[1..].iter().all(|s| s.state == "pending"));
    assert_eq!(ro.reports_not_journaled, 0);
}
