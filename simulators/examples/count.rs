//! Records a scenario generates, with its noise as written and with noise off:
//! `cargo run --release -p seawatch-simulators --example count -- FILE`.

use std::time::Instant;

use seawatch_simulators::{Noise, PayloadKind, Scenario, Simulator};

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: count SCENARIO");
        std::process::exit(2);
    };
    let scenario = match Scenario::load(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("count: {e}");
            std::process::exit(2);
        }
    };
    let mut quiet = scenario.clone();
    for ship in &mut quiet.ship {
        ship.noise = Noise::off();
    }
    for (label, s) in [("noise as written", &scenario), ("noise off", &quiet)] {
        let mut sim = Simulator::new(s);
        let (mut logs, mut metrics, mut lost) = (0u64, 0u64, 0u64);
        let t0 = Instant::now();
        sim.run_to_end(|t| match t.kind {
            PayloadKind::Syslog => logs += 1,
            PayloadKind::Metric => {
                metrics += 1;
                if t.bytes
                    .starts_with(b"{\"metric\":\"probe_success\",\"value\":0")
                {
                    lost += 1;
                }
            }
        });
        println!(
            "{label}: {logs} syslog + {metrics} metric records ({} in all), {lost} failed probes, generated in {:.2} s",
            logs + metrics,
            t0.elapsed().as_secs_f64()
        );
    }
}
