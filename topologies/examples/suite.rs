//! Runs and scores the scenario suite at full log rate:
//! `cargo run --release -p seawatch-topologies --example suite -- simulators/scenarios`
//! (an optional second argument caps the background log rate, events/s per ship).

use std::path::PathBuf;

use seawatch_topologies::sim::SimRunOptions;
use seawatch_topologies::suite::{run_suite, scenario_files, table};

#[tokio::main]
async fn main() {
    // `RUST_LOG=seawatch_actors::incident=debug` traces every alert the correlators see
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "simulators/scenarios".into()));
    let cap = args.next().and_then(|a| a.parse::<f64>().ok());
    let files = match scenario_files(&dir) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("suite: {}: {e}", dir.display());
            std::process::exit(2);
        }
    };
    let opts = SimRunOptions {
        progress: false,
        ..SimRunOptions::default()
    };
    match run_suite(&files, &opts, cap).await {
        Ok(entries) => {
            if std::env::var_os("SUITE_INCIDENTS").is_some() {
                for e in &entries {
                    for i in &e.report.incidents {
                        println!(
                            "{} {} {} {} {:?} {}",
                            e.report.scenario,
                            i.ship,
                            i.root_cause,
                            i.opened_at_s,
                            i.resolved_at_s,
                            i.alerts
                        );
                    }
                }
            }
            print!("{}", table(&entries));
        }
        Err(e) => {
            eprintln!("suite: {e}");
            std::process::exit(1);
        }
    }
}
