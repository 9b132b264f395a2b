//! `sim run` ships every ship's event log to an embedded shore over a simulated link and
//! reports what shore holds, measured at shore by identity (ship, seq).

use std::path::Path;

use seawatch_simulators::scenario::Scenario;
use seawatch_topologies::sim::{run, SimRunOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_run_syncs_every_stored_event_to_shore_once() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../simulators/scenarios/vsat-outage.toml");
    let mut sc = Scenario::load(&path).unwrap();
    for s in &mut sc.ship {
        s.log_eps = s.log_eps.min(20.0);
    }
    let opts = SimRunOptions {
        progress: false,
        ..SimRunOptions::default()
    };
    let report = run(&sc, &opts).await.unwrap();
    let e = &report.events;
    println!("{e:?} wall {:.1} s", report.wall_s);
    assert!(e.stored_ship > 0, "{e:?}");
    assert_eq!(e.lost, 0, "{e:?}");
    assert_eq!(e.duplicates_applied, 0, "{e:?}");
    assert_eq!(e.synced_shore, e.stored_ship, "{e:?}");
}
