//! The ship's own anomaly suite: seeded series of the ship's metric families (probe RTT,
//! CPU with cron bursts, interface error counters, disk free, modem Es/No with rain
//! fades), half of them with one labelled anomaly, each series through a real
//! [`DetectorState`] (ensemble, ADWIN and the k-of-n alert gate, as on board).
//!
//! `cargo run --release -p seawatch-actors --example ship_suite -- [SEEDS] [DAYS] [FIRST_SEED]`
//! (defaults 20, 14, 1): per family and in total, recall (labelled anomalies with a
//! detector alert firing inside them) and false alerts (firing outside every labelled
//! anomaly and the hour after it) per 1,000 series-days. Ensemble knobs from the
//! environment as in `nab_eval` (`actors/examples/knobs`); `SUSTAIN=k,n`, `INSTANT=x`.
//! The detectors never see the labels; the generator draws them and scores afterwards.

use std::sync::Arc;

use seawatch_actors::alert::{AlertClass, AlertSink, AlertSource, AlertState};
use seawatch_actors::detect::actor::{DetectorArgs, DetectorConfig, DetectorState, Sample};

mod knobs;

/// Poll period of the generated series.
const STEP_MS: i64 = 60_000;
const DAY: usize = 1440;
const T0: i64 = 1_700_000_000_000;

#[path = "common/rng.rs"]
mod rng;
use rng::Rng;

const FAMILIES: [&str; 5] = ["rtt", "cpu", "if_errors", "disk_free", "esno"];

/// One generated series: its key, values per minute, and the labelled anomaly (sample
/// range), if any.
struct Generated {
    key: &'static str,
    values: Vec<f64>,
    anomaly: Option<(usize, usize)>,
}

fn diurnal(i: usize) -> f64 {
    (std::f64::consts::TAU * (i % DAY) as f64 / DAY as f64).sin()
}

fn generate(family: usize, n: usize, seed: u64, anomalous: bool) -> Generated {
    let mut r = Rng::new(seed * 31 + family as u64);
    // The anomaly starts after two days of learning.
    let start = r.range(2 * DAY, n - DAY / 2);
    let (key, len) = match family {
        0 => ("probe_duration_seconds target=shore-gw", r.range(45, 180)),
        1 => ("node_cpu_busy_percent", r.range(60, 240)),
        2 => ("ifInErrors if=ge-0/0/1", r.range(20, 90)),
        3 => ("node_filesystem_avail_bytes mount=/var", r.range(60, 120)),
        _ => ("modem_esno_db", r.range(120, 360)),
    };
    let end = (start + len).min(n - 1);
    let inside = |i: usize| anomalous && i >= start && i <= end;
    let mut values = Vec::with_capacity(n);
    let mut counter = 1_000.0f64;
    let mut disk = 60e9f64;
    let mut fade: Option<(usize, usize, f64)> = None;
    for i in 0..n {
        let v = match family {
            // Satellite RTT: 600 ms, busier in the day, log-normal jitter, rare
            // retransmission spikes; anomaly: sustained congestion (+250 ms).
            0 => {
                let mut v = 0.6 + 0.04 * diurnal(i) + 0.03 * (0.5 * r.gauss()).exp();
                if r.uniform() < 0.003 {
                    v *= 1.8;
                }
                if inside(i) {
                    v += 0.25;
                }
                v
            }
            // CPU: diurnal load, a 3-minute cron burst every hour; anomaly: a runaway
            // process pinning it near 95 %.
            1 => {
                let mut v = 25.0 + 10.0 * diurnal(i) + 3.0 * r.gauss();
                if i % 60 < 3 {
                    v += 40.0;
                }
                if inside(i) {
                    v = 95.0 + 2.0 * r.gauss();
                }
                v.clamp(0.0, 100.0)
            }
            // Interface errors (a counter): a trickle, rare bursts of a few dozen;
            // anomaly: a bad cable, about 2 errors per second.
            2 => {
                let mut inc = r.poisson(0.05) as f64;
                if r.uniform() < 0.001 {
                    inc += r.range(10, 40) as f64;
                }
                if inside(i) {
                    inc += r.poisson(120.0) as f64;
                }
                counter += inc;
                counter
            }
            // Free disk: fills 300 MB a day, log rotation frees it at 03:00; anomaly: a
            // 6 GB dump that stays (a lasting level shift) until cleaned up.
            3 => {
                disk -= 300e6 / DAY as f64 * (1.0 + 0.5 * r.gauss());
                if i % DAY == 180 {
                    disk += 280e6;
                }
                let mut v = disk;
                if inside(i) {
                    v -= 6e9;
                }
                v
            }
            // Es/No: 9 dB, tracking noise, rain fades (benign: 2-6 dB for 10-40 min,
            // about one every two days); anomaly: a degraded LNB, 3 dB down for hours.
            _ => {
                if fade.is_none() && r.uniform() < 1.0 / (2.0 * DAY as f64) {
                    fade = Some((i, r.range(10, 40), 2.0 + 4.0 * r.uniform()));
                }
                let mut v = 9.0 + 0.2 * diurnal(i) + 0.25 * r.gauss();
                if let Some((f0, flen, depth)) = fade {
                    let k = i - f0;
                    if k >= flen {
                        fade = None;
                    } else {
                        v -= depth * (std::f64::consts::PI * k as f64 / flen as f64).sin();
                    }
                }
                if inside(i) {
                    v -= 3.0;
                }
                v
            }
        };
        values.push(v);
    }
    Generated {
        key,
        values,
        anomaly: anomalous.then_some((start, end)),
    }
}

#[derive(Default, Clone, Copy)]
struct Tally {
    series: usize,
    days: f64,
    anomalies: usize,
    detected: usize,
    false_alerts: usize,
    delay: usize,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seeds: u64 = args.next().and_then(|v| v.parse().ok()).unwrap_or(20);
    let days: usize = args.next().and_then(|v| v.parse().ok()).unwrap_or(14);
    let first: u64 = args.next().and_then(|v| v.parse().ok()).unwrap_or(1);
    let mut cfg = DetectorConfig::default();
    cfg.ensemble = knobs::ensemble_from_env(cfg.ensemble);
    if let Some((k, n)) = std::env::var("SUSTAIN").ok().and_then(|v| {
        let (k, n) = v.split_once(',')?;
        Some((k.parse().ok()?, n.parse().ok()?))
    }) {
        cfg.sustain = (k, n);
    }
    if let Some(v) = std::env::var("INSTANT").ok().and_then(|v| v.parse().ok()) {
        cfg.instant = v;
    }
    let cfg = Arc::new(cfg);
    let n = days * DAY;
    println!("seeds {first}..{} days {days}", first + seeds);
    let mut total = Tally::default();
    let verbose = std::env::var_os("VERBOSE").is_some();
    for (f, name) in FAMILIES.iter().enumerate() {
        let mut t = Tally::default();
        for seed in first..first + seeds {
            let g = generate(f, n, seed, seed % 2 == 0);
            let (sink, mut rx) = AlertSink::channel();
            let mut args = DetectorArgs::new("suite", "dev-1", "suite", sink);
            args.config = cfg.clone();
            let mut st = DetectorState::new(args);
            let key: Arc<str> = Arc::from(g.key);
            for (i, &v) in g.values.iter().enumerate() {
                st.observe(&[Sample {
                    ts_ms: T0 + STEP_MS * i as i64,
                    series: key.clone(),
                    value: v,
                }]);
            }
            // Firing and cleared times of the series' anomaly alert.
            let (mut firing, mut cleared) = (Vec::new(), Vec::new());
            while let Ok(a) = rx.try_recv() {
                if a.class != AlertClass::Anomaly || a.source != AlertSource::Detector {
                    continue;
                }
                let i = ((a.ts_ms - T0) / STEP_MS) as usize;
                match a.state {
                    AlertState::Firing => firing.push(i),
                    AlertState::Cleared => cleared.push(i),
                }
            }
            // Firing at sample `i`: the last firing at or before it was not cleared since.
            let on_at = |i: usize| {
                firing
                    .iter()
                    .rfind(|&&f| f <= i)
                    .is_some_and(|&f| !cleared.iter().any(|&c| c > f && c <= i))
            };
            t.series += 1;
            t.days += days as f64;
            let mut fa = firing.len();
            if let Some((a, b)) = g.anomaly {
                t.anomalies += 1;
                // Detected: an alert fired inside the anomaly, or one firing before it
                // still was at its start (that earlier one counts as a false alert).
                if let Some(&i) = firing.iter().find(|&&i| i >= a && i <= b) {
                    t.detected += 1;
                    t.delay += i - a;
                } else if on_at(a) {
                    t.detected += 1;
                }
                fa = firing.iter().filter(|&&i| i < a || i > b + 60).count();
            }
            t.false_alerts += fa;
            if verbose {
                println!(
                    "  {name} seed {seed} anomaly {:?} firing {firing:?} cleared {cleared:?}",
                    g.anomaly
                );
            }
        }
        report(name, &t);
        total.series += t.series;
        total.days += t.days;
        total.anomalies += t.anomalies;
        total.detected += t.detected;
        total.false_alerts += t.false_alerts;
        total.delay += t.delay;
    }
    report("total", &total);
}

fn report(name: &str, t: &Tally) {
    println!(
        "{name:10} series {:4} anomalies {:3} recall {:.3} mean delay {:5.1} min false alerts {:4} ({:.1} per 1000 series-days)",
        t.series,
        t.anomalies,
        t.detected as f64 / t.anomalies.max(1) as f64,
        t.delay as f64 / t.detected.max(1) as f64,
        t.false_alerts,
        t.false_alerts as f64 * 1000.0 / t.days.max(1.0)
    );
}
