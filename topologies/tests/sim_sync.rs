//! `sim run` syncs every ship's event log to an embedded shore while the scenario runs,
//! over a simulated link that is out while the simulator has the ship's primary link out,
//! and reports what shore holds, measured at shore by identity (ship, seq).

use std::path::Path;

use seawatch_simulators::scenario::Scenario;
use seawatch_topologies::sim::{run, SimReport, SimRunOptions};

fn vsat_outage() -> Scenario {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../simulators/scenarios/vsat-outage.toml");
    let mut sc = Scenario::load(&path).unwrap();
    for s in &mut sc.ship {
        s.log_eps = s.log_eps.min(20.0);
    }
    sc
}

async fn report(sc: &Scenario) -> SimReport {
    let opts = SimRunOptions {
        progress: false,
        ..SimRunOptions::default()
    };
    run(sc, &opts).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_run_syncs_during_the_run_honouring_the_outage() {
    let sc = vsat_outage();
    let outage = sc
        .faults()
        .iter()
        .find(|f| f.kind.as_str() == "link_outage")
        .expect("the scenario has a link outage")
        .clone();
    let r = report(&sc).await;
    let e = &r.events;
    println!("{e:?} wall {:.1} s", r.wall_s);
    for i in &r.incidents {
        println!("{i:?}");
    }
    assert!(e.stored_ship > 0, "{e:?}");
    assert_eq!(e.lost, 0, "{e:?}");
    assert_eq!(e.duplicates_applied, 0, "{e:?}");
    assert_eq!(e.synced_shore, e.stored_ship, "{e:?}");
    assert!(!r.incidents.is_empty());
    let (from, to) = (outage.at_s as f64, outage.end_s() as f64);
    for i in &r.incidents {
        let at = i
            .synced_to_shore_at_s
            .unwrap_or_else(|| panic!("incident never reached shore: {i:?}"));
        // shore has it after it opened, over a GEO link (≥ 0.6 s one way) ...
        assert!(at >= i.opened_at_s + 0.6, "{i:?}");
        // ... and never while the primary link was out: an incident opened during the
        // outage reaches shore only after it
        assert!(!(at >= from && at < to), "arrived during the outage: {i:?}");
        if i.opened_at_s >= from && i.opened_at_s < to {
            assert!(at >= to, "{i:?}");
        }
    }
    assert!(
        r.incidents
            .iter()
            .any(|i| i.opened_at_s >= from && i.opened_at_s < to),
        "the outage itself is an incident opened during the outage: {:?}",
        r.incidents
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_same_report() {
    let sc = vsat_outage();
    let mut a = report(&sc).await;
    let mut b = report(&sc).await;
    a.wall_s = 0.0;
    b.wall_s = 0.0;
    assert_eq!(a, b);
}
