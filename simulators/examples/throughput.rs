//! Generation throughput of a synthetic ship (single thread):
//! `cargo run --release -p seawatch-simulators --example throughput -- [DEVICES] [LOG_EPS] [SECONDS]`
//! (defaults: 50 devices, 2,000 log events/s, 7,200 s).

use std::time::Instant;

use seawatch_simulators::{fleet, PayloadKind, Simulator};

fn main() {
    let args: Vec<f64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let devices = args.first().copied().unwrap_or(50.0) as usize;
    let log_eps = args.get(1).copied().unwrap_or(2000.0);
    let secs = args.get(2).copied().unwrap_or(7200.0) as u64;
    let scenario = fleet::synthetic_scenario(devices, log_eps, secs, 1);
    for owned in [false, true] {
        let mut sim = Simulator::new(&scenario);
        let (mut logs, mut metrics, mut bytes) = (0u64, 0u64, 0u64);
        let t0 = Instant::now();
        let mut count = |kind: PayloadKind, len: usize| {
            match kind {
                PayloadKind::Syslog => logs += 1,
                PayloadKind::Metric => metrics += 1,
            }
            bytes += len as u64;
        };
        if owned {
            // the allocating API: one Telemetry (ship String + payload Vec) per record
            let end = sim.end_ms();
            let mut buf = Vec::with_capacity(1 << 16);
            let mut to = sim.start_ms();
            while to < end {
                to += 10_000;
                buf.clear();
                sim.advance(to, &mut buf);
                for t in &buf {
                    count(t.payload.kind(), t.payload.bytes().len());
                }
            }
        } else {
            sim.run_to_end(|t| count(t.kind, t.bytes.len()));
        }
        let wall = t0.elapsed().as_secs_f64();
        println!(
            "{} API: {devices} devices, {log_eps} eps, {secs} s simulated: {logs} syslog + {metrics} metric records, {:.2} GB in {wall:.2} s = {:.2} M records/s",
            if owned { "advance (owned)" } else { "advance_with (borrowed)" },
            bytes as f64 / 1e9,
            (logs + metrics) as f64 / wall / 1e6
        );
    }
}
