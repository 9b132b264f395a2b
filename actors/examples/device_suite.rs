//! The device-state suite: seeded devices of eight correlated gauges (a firewall's cpu,
//! sessions, memory, throughput, temperature, connection rate, fan speed and queue
//! depth, all driven by one daily load), half of them with one labelled break of the
//! usual joint state (each value inside its own usual range, the combination never
//! seen: a runaway process, a fan failure, stuck sessions, a flood without sessions),
//! each device through a real [`DetectorState`], scored on its device-state
//! (isolation-forest) alerts only. The forest is multivariate, so NAB and the ship suite
//! do not exercise it; this does.
//!
//! `cargo run --release -p seawatch-actors --example device_suite -- [SEEDS] [DAYS] [FIRST_SEED]`
//! (defaults 20, 7, 1): recall (labelled breaks with a device-state alert firing inside
//! them), false device-state alerts per 1,000 device-days (firing outside every break
//! and the hour after it), the detector state's bytes per series
//! (`DetectorState::memory_bytes`), and, for the forest alone, the mean AUC of its
//! scores (a standalone [`IsolationForest`] of the detectors' configuration over the
//! same rows: break rows against every other scored row of the device). The detectors
//! never see the labels. Forest knobs from the environment: `FOREST_SEED`, `TREES`,
//! `SAMPLE`, `WINDOW` (the [`IForestConfig`](seawatch_actors::detect::IForestConfig)
//! fields), `HISTORY` (`DetectorConfig::iforest_history`).

use std::sync::Arc;

use seawatch_actors::alert::{AlertClass, AlertSink, AlertSource, AlertState};
use seawatch_actors::detect::actor::{DetectorArgs, DetectorConfig, DetectorState, Sample};
use seawatch_actors::detect::IsolationForest;

/// Poll period of the generated devices.
const STEP_MS: i64 = 60_000;
const DAY: usize = 1440;
const T0: i64 = 1_700_000_000_000;
const KEYS: [&str; 8] = [
    "fw_cpu_percent",
    "fw_sessions",
    "fw_mem_percent",
    "fw_throughput_mbps",
    "fw_temperature_celsius",
    "fw_conn_rate",
    "fw_fan_rpm",
    "fw_queue_depth",
];
const KINDS: [&str; 4] = ["runaway", "fan", "stuck", "flood"];

// `poisson` is the ship suite's alone.
#[allow(dead_code)]
#[path = "common/rng.rs"]
mod rng;
use rng::Rng;

/// One device's rows (one per minute) and its labelled break, if any.
struct Device {
    rows: Vec<[f64; 8]>,
    anomaly: Option<(usize, usize)>,
}

fn generate(n: usize, seed: u64, kind: Option<usize>) -> Device {
    let mut r = Rng::new(seed);
    let start = r.range(2 * DAY, n - DAY / 2);
    let end = (start + r.range(30, 120)).min(n - 1);
    let mut ar = 0.0f64;
    let mut rows = Vec::with_capacity(n);
    for i in 0..n {
        let day = (std::f64::consts::TAU * (i % DAY) as f64 / DAY as f64).sin();
        ar = 0.95 * ar + 0.05 * r.gauss();
        let load = (0.5 + 0.35 * day + 0.5 * ar).clamp(0.02, 1.0);
        let mut row = [
            20.0 + 60.0 * load + 1.5 * r.gauss(),
            1_000.0 + 8_000.0 * load + 150.0 * r.gauss(),
            40.0 + 20.0 * load + r.gauss(),
            5.0 + 80.0 * load + 2.0 * r.gauss(),
            35.0 + 8.0 * load + 0.5 * r.gauss(),
            50.0 + 300.0 * load + 10.0 * r.gauss(),
            3_000.0 + 1_000.0 * load + 50.0 * r.gauss(),
            (2.0 + 3.0 * load + r.gauss()).abs(),
        ];
        if kind.is_some() && (start..=end).contains(&i) {
            // Each break keeps every value inside the usual range of its own series.
            match kind.unwrap_or(0) {
                // A runaway process: busy cpu at low load.
                0 if load < 0.6 => row[0] = 75.0 + 1.5 * r.gauss(),
                0 => row[0] = 20.0 + 1.5 * r.gauss(),
                // Fan failure: slow fan, hot box.
                1 => {
                    row[6] = 3_000.0 + 50.0 * r.gauss();
                    row[4] = 42.0 + 0.5 * r.gauss();
                }
                // Stuck sessions: the table full, no traffic.
                2 => {
                    row[1] = 8_500.0 + 150.0 * r.gauss();
                    row[3] = 8.0 + 2.0 * r.gauss();
                    row[5] = 60.0 + 10.0 * r.gauss();
                }
                // A flood without sessions: traffic and queue up, sessions low.
                _ => {
                    row[3] = 80.0 + 2.0 * r.gauss();
                    row[7] = 5.0 + r.gauss().abs();
                    row[1] = 1_500.0 + 150.0 * r.gauss();
                }
            }
        }
        rows.push(row);
    }
    Device {
        rows,
        anomaly: kind.map(|_| (start, end)),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seeds: u64 = args.next().and_then(|v| v.parse().ok()).unwrap_or(20);
    let days: usize = args.next().and_then(|v| v.parse().ok()).unwrap_or(7);
    let first: u64 = args.next().and_then(|v| v.parse().ok()).unwrap_or(1);
    let n = days * DAY;
    let keys: Vec<Arc<str>> = KEYS.iter().map(|k| Arc::from(*k)).collect();
    let verbose = std::env::var_os("VERBOSE").is_some();
    let knob = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let mut cfg = DetectorConfig::default();
    if let Some(v) = knob("FOREST_SEED") {
        cfg.iforest.seed = v;
    }
    if let Some(v) = knob("TREES") {
        cfg.iforest.trees = v as usize;
    }
    if let Some(v) = knob("SAMPLE") {
        cfg.iforest.sample = v as usize;
    }
    if let Some(v) = knob("WINDOW") {
        cfg.iforest.window = v as usize;
    }
    if let Some(v) = knob("HISTORY") {
        cfg.iforest_history = v as usize;
    }
    let cfg = Arc::new(cfg);
    println!("seeds {first}..{} days {days}", first + seeds);
    let (mut devices, mut anomalies, mut detected, mut false_alerts, mut delay) = (0, 0, 0, 0, 0);
    let mut per_kind = [(0usize, 0usize); 4];
    let mut bytes = 0usize;
    let mut auc_sum = 0.0;
    for seed in first..first + seeds {
        let kind = (seed % 2 == 0).then_some((seed / 2 % 4) as usize);
        let d = generate(n, seed, kind);
        let (sink, mut rx) = AlertSink::channel();
        let mut args = DetectorArgs::new("suite", "fw-1", "suite", sink);
        args.config = cfg.clone();
        let mut st = DetectorState::new(args);
        for (i, row) in d.rows.iter().enumerate() {
            let batch: Vec<Sample> = keys
                .iter()
                .zip(row)
                .map(|(k, &v)| Sample {
                    ts_ms: T0 + STEP_MS * i as i64,
                    series: k.clone(),
                    value: v,
                })
                .collect();
            st.observe(&batch);
        }
        bytes += st.memory_bytes();
        if let Some((a, b)) = d.anomaly {
            let mut f = IsolationForest::new(cfg.iforest.clone(), KEYS.len());
            let (mut inside, mut outside) = (Vec::new(), Vec::new());
            for (i, row) in d.rows.iter().enumerate() {
                if let Some(s) = f.update(row) {
                    if (a..=b).contains(&i) {
                        inside.push(s);
                    } else {
                        outside.push(s);
                    }
                }
            }
            auc_sum += auc(&inside, &mut outside);
            if verbose {
                println!("  forest heap {} bytes", f.heap_bytes());
            }
        }
        let mut firing = Vec::new();
        while let Ok(a) = rx.try_recv() {
            if a.class == AlertClass::Anomaly
                && a.source == AlertSource::Detector
                && a.state == AlertState::Firing
                && a.series.as_deref() == Some("device_state")
            {
                firing.push(((a.ts_ms - T0) / STEP_MS) as usize);
            }
        }
        devices += 1;
        let mut fa = firing.len();
        if let (Some((a, b)), Some(k)) = (d.anomaly, kind) {
            anomalies += 1;
            per_kind[k].0 += 1;
            if let Some(&i) = firing.iter().find(|&&i| i >= a && i <= b) {
                detected += 1;
                per_kind[k].1 += 1;
                delay += i - a;
            }
            fa = firing.iter().filter(|&&i| i < a || i > b + 60).count();
        }
        false_alerts += fa;
        if verbose {
            println!(
                "  seed {seed} kind {:?} anomaly {:?} firing {firing:?}",
                kind.map(|k| KINDS[k]),
                d.anomaly
            );
        }
    }
    let device_days = (devices * days) as f64;
    println!(
        "devices {devices} breaks {anomalies} recall {:.3} mean delay {:.1} min false device-state alerts {false_alerts} ({:.1} per 1000 device-days); bytes per series {}",
        detected as f64 / anomalies.max(1) as f64,
        delay as f64 / detected.max(1) as f64,
        false_alerts as f64 * 1000.0 / device_days.max(1.0),
        bytes / (devices.max(1) * KEYS.len())
    );
    println!(
        "forest score AUC, breaks against the rest: {:.4}",
        auc_sum / anomalies.max(1) as f64
    );
    for (k, (a, d)) in KINDS.iter().zip(per_kind) {
        println!("  {k:8} {d}/{a}");
    }
}

/// Probability that a score from `pos` is above one from `neg` (ties count half).
fn auc(pos: &[f64], neg: &mut [f64]) -> f64 {
    if pos.is_empty() || neg.is_empty() {
        return 0.5;
    }
    neg.sort_by(f64::total_cmp);
    let mut sum = 0.0;
    for &p in pos {
        let below = neg.partition_point(|&v| v < p);
        let ties = neg[below..].partition_point(|&v| v <= p);
        sum += below as f64 + 0.5 * ties as f64;
    }
    sum / (pos.len() * neg.len()) as f64
}
