//! Prints a scenario's telemetry to stdout, one record a line:
//! `cargo run -p seawatch-simulators --example dump -- SCENARIO [FROM_S] [TO_S]`.

use std::io::Write;

use seawatch_simulators::{PayloadKind, Scenario, Simulator};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: dump SCENARIO [FROM_S] [TO_S]");
        std::process::exit(2);
    };
    let scenario = match Scenario::load(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let from_s: i64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(0);
    let to_s: i64 = args
        .get(3)
        .and_then(|a| a.parse().ok())
        .unwrap_or(scenario.duration_s as i64);
    let mut sim = Simulator::new(&scenario);
    let start = sim.start_ms();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    sim.advance_with(start + to_s * 1000, |t| {
        if t.ts_ms < start + from_s * 1000 {
            return;
        }
        let tag = match t.kind {
            PayloadKind::Syslog => "S",
            PayloadKind::Metric => "M",
        };
        let _ = write!(out, "{tag} {} ", t.ship);
        let _ = out.write_all(t.bytes);
        let _ = out.write_all(b"\n");
    });
}
