//! Scores every scenario of `simulators/scenarios` from its `sim run` report against its
//! fault list (compression, root-cause top-1, time to open, false incidents) and holds
//! the suite to the goals.
//!
//! Debug builds (CI) run two representative scenarios (a cascade of two device faults; a
//! VSAT outage with a concurrent device fault) at a capped background log rate (fault
//! telemetry, metrics and probes unchanged), to stay well under a minute;
//! `cargo test --release -p seawatch-topologies --test scenario_suite` scores every
//! scenario, and `cargo run --release -p seawatch-topologies --example suite` runs the
//! suite at full log rate.

use std::path::Path;

use seawatch_topologies::sim::SimRunOptions;
use seawatch_topologies::suite::{run_suite, scenario_files, table, totals};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scenario_suite_meets_the_goals() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../simulators/scenarios");
    let mut files = scenario_files(&dir).unwrap();
    assert!(
        files.len() >= 12,
        "at least 12 scenarios, found {}",
        files.len()
    );
    let cap = if cfg!(debug_assertions) {
        files.retain(|f| {
            f.file_stem()
                .is_some_and(|n| n == "cascade" || n == "vsat-outage-and-ap-down")
        });
        20.0
    } else {
        200.0
    };
    let opts = SimRunOptions {
        progress: false,
        ..SimRunOptions::default()
    };
    let entries = run_suite(&files, &opts, Some(cap)).await.unwrap();
    println!("{}", table(&entries));
    let t = totals(&entries);
    assert!(
        t.faults >= if cfg!(debug_assertions) { 4 } else { 20 },
        "{t:?}"
    );
    assert!(t.compression >= 0.95, "compression {t:?}");
    assert!(t.top1 >= 0.90, "top-1 {t:?}");
    assert!(t.time_to_open_p95_s <= 60.0, "time to open {t:?}");
    assert!(t.false_per_ship_day <= 1.0, "false incidents {t:?}");
}
