//! Benign noise (`[ship.noise]`): present at the stated rates, deterministic, bounded, and
//! never part of the ground truth.

use std::collections::{BTreeMap, HashMap, HashSet};

use seawatch_simulators::generate::true_topology;
use seawatch_simulators::{
    fleet, Maintenance, Noise, PayloadKind, Scenario, SimOptions, Simulator, TelemetryRef,
};

fn sample(name: &str) -> Scenario {
    let path = format!("{}/scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    Scenario::load(path).unwrap()
}

struct Metric {
    device: String,
    value: f64,
    ts: i64,
}

fn metric(bytes: &[u8]) -> Metric {
    let v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    Metric {
        device: v["labels"]["device"].as_str().unwrap_or("").to_owned(),
        value: v["value"].as_f64().unwrap(),
        ts: v["ts"].as_i64().unwrap(),
    }
}

fn host(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let rest = &text[text.find('>').unwrap() + 1..];
    let mut words = rest.split_whitespace();
    if rest.starts_with("1 ") {
        words.nth(2).unwrap().to_owned()
    } else {
        // Mmm dd hh:mm:ss [YYYY] HOST
        let w: Vec<&str> = words.take(5).collect();
        if w[3].len() == 4 && w[3].bytes().all(|b| b.is_ascii_digit()) {
            w[4].to_owned()
        } else {
            w[3].to_owned()
        }
    }
}

fn run(s: &Scenario, opts: SimOptions, mut f: impl FnMut(i64, TelemetryRef<'_>)) {
    let mut sim = Simulator::with_options(s, opts);
    let start = sim.start_ms();
    sim.run_to_end(|t| f((t.ts_ms - start) / 1000, t));
}

/// Per device, the probe results in their own time order.
fn probes(s: &Scenario, opts: SimOptions) -> BTreeMap<String, Vec<(i64, bool)>> {
    let mut out: BTreeMap<String, Vec<(i64, bool)>> = BTreeMap::new();
    run(s, opts, |_, t| {
        if t.kind == PayloadKind::Metric && t.bytes.starts_with(b"{\"metric\":\"probe_success\"") {
            let m = metric(t.bytes);
            out.entry(m.device)
                .or_default()
                .push((m.ts, m.value == 1.0));
        }
    });
    for v in out.values_mut() {
        v.sort();
        v.dedup();
    }
    out
}

/// Runs of consecutive lost probes per device: `(device, first ts, length)`.
fn loss_runs(p: &BTreeMap<String, Vec<(i64, bool)>>) -> Vec<(String, i64, usize)> {
    let mut runs = Vec::new();
    for (dev, v) in p {
        let mut k = 0;
        while k < v.len() {
            if v[k].1 {
                k += 1;
                continue;
            }
            let first = v[k].0;
            let mut len = 0;
            while k < v.len() && !v[k].1 {
                len += 1;
                k += 1;
            }
            runs.push((dev.clone(), first, len));
        }
    }
    runs
}

/// A fault-free 40-device ship, light on background logs.
fn quiet(duration_s: u64, seed: u64, noise: Noise) -> Scenario {
    let mut s = fleet::synthetic_scenario(40, 5.0, duration_s, seed);
    s.ship[0].metric_interval_s = 10;
    s.ship[0].noise = noise;
    s
}

#[test]
fn healthy_probe_loss_is_single_and_at_the_stated_rate() {
    // 4 h of 40 devices polled every 10 s: ~57,600 probes, ~288 lost at 0.5 %
    let noise = Noise {
        ap_reboots_per_night: 0.0,
        ..Noise::default()
    };
    let s = quiet(4 * 3600, 11, noise);
    let p = probes(&s, SimOptions::default());
    let total: usize = p.values().map(Vec::len).sum();
    let runs = loss_runs(&p);
    assert!(
        runs.iter().all(|r| r.2 == 1),
        "healthy losses come one at a time: {:?}",
        runs.iter().filter(|r| r.2 > 1).collect::<Vec<_>>()
    );
    let rate = runs.len() as f64 / total as f64;
    assert!(
        (0.0035..=0.0065).contains(&rate),
        "healthy probe loss {rate} over {total} probes, expected 0.5 %"
    );
    let devices: HashSet<&String> = runs.iter().map(|r| &r.0).collect();
    assert!(
        devices.len() > 20,
        "losses spread over devices: {}",
        devices.len()
    );

    // and none at all with the noise off
    let off = quiet(3600, 11, Noise::off());
    let p = probes(&off, SimOptions::default());
    assert!(loss_runs(&p).is_empty());
}

#[test]
fn probe_latency_jitters_on_healthy_devices() {
    let s = quiet(1200, 5, Noise::default());
    let off = quiet(1200, 5, Noise::off());
    let mean = |s: &Scenario| {
        let (mut sum, mut n) = (0.0, 0);
        run(s, SimOptions::default(), |_, t| {
            if t.bytes
                .starts_with(b"{\"metric\":\"probe_duration_seconds\"")
            {
                let m = metric(t.bytes);
                if m.value < 1.0 {
                    sum += m.value;
                    n += 1;
                }
            }
        });
        sum / n as f64
    };
    let (with, without) = (mean(&s), mean(&off));
    // 2 ms of mean exponential jitter on top of 0.6-4 ms
    assert!(
        (with - without - 0.002).abs() < 0.0006,
        "jitter {with} - {without}"
    );
}

#[test]
fn nightly_ap_reboots_are_announced_and_last_minutes() {
    // every AP reboots once between 02:00 and 04:00 ship's time (route at 80 W: UTC-5:20)
    let noise = Noise {
        ap_reboots_per_night: 1.0,
        probe_loss: 0.0,
        ..Noise::default()
    };
    let mut s = quiet(3 * 3600, 3, noise);
    s.ship[0].metric_interval_s = 30;
    // 06:40 UTC = 01:20 ship's time
    let opts = SimOptions {
        start_ms: seawatch_simulators::generate::DEFAULT_START_MS + 40 * 60_000,
    };
    let truth = true_topology(&s.ship[0], s.seed);
    let aps: HashSet<String> = truth
        .device
        .iter()
        .filter(|d| d.kind == seawatch_simulators::DeviceKind::Ap)
        .map(|d| d.id.clone())
        .collect();
    let mut announced: HashMap<String, i64> = HashMap::new();
    run(&s, opts, |sec, t| {
        let text = String::from_utf8_lossy(t.bytes);
        if text.contains("scheduled image upgrade") {
            assert_eq!(host(t.bytes), "wlc-1");
            let ap = aps
                .iter()
                .find(|a| text.contains(&format!("AP {a}@")))
                .unwrap();
            announced.insert(ap.clone(), sec);
        }
    });
    assert_eq!(announced.len(), aps.len(), "every AP announced once");
    for &sec in announced.values() {
        assert!(
            (40 * 60..=162 * 60).contains(&sec),
            "02:00-04:00 ship's time: {sec}"
        );
    }
    let runs = loss_runs(&probes(&s, opts));
    // probed: the APs of the inventory (the unlisted ones only log)
    for ap in aps.iter().filter(|a| s.ship[0].device(a).is_some()) {
        let r: Vec<_> = runs.iter().filter(|r| &r.0 == ap).collect();
        assert_eq!(r.len(), 1, "{ap}: {r:?}");
        // 2-5 minutes down, polled every 30 s
        assert!((4..=10).contains(&r[0].2), "{ap}: {r:?}");
    }
    assert!(
        runs.iter().all(|r| aps.contains(&r.0)),
        "only APs: {runs:?}"
    );
    assert!(s.faults().is_empty(), "reboots are no faults");
}

#[test]
fn maintenance_window_takes_the_device_down_and_is_announced() {
    let mut s = quiet(1800, 7, Noise::off());
    s.ship[0].maintenance.push(Maintenance {
        target: "acc-sw-1".into(),
        at_s: 600,
        duration_s: 300,
        reason: Some("CHG-1042 IOS upgrade".into()),
    });
    s.validate("test").unwrap();
    let behind: HashSet<String> = s.ship[0].dependents_of("acc-sw-1").into_iter().collect();
    assert!(!behind.is_empty());
    let mut reload = 0;
    let mut lines_during = 0;
    run(&s, SimOptions::default(), |sec, t| {
        if t.kind != PayloadKind::Syslog {
            return;
        }
        let h = host(t.bytes);
        let text = String::from_utf8_lossy(t.bytes);
        if text.contains("%SYS-5-RELOAD") && h == "acc-sw-1" {
            assert_eq!(sec, 600);
            reload += 1;
        }
        if (602..900).contains(&sec) && (h == "acc-sw-1" || behind.contains(&h)) {
            lines_during += 1;
        }
    });
    assert_eq!(reload, 1);
    assert_eq!(lines_during, 0, "down on purpose: silent");
    let runs = loss_runs(&probes(&s, SimOptions::default()));
    let sw: Vec<_> = runs.iter().filter(|r| r.0 == "acc-sw-1").collect();
    assert_eq!(sw.len(), 1);
    assert_eq!(sw[0].2, 30, "300 s polled every 10 s");
    assert!(s.faults().is_empty());

    // an unknown target is rejected with its key
    s.ship[0].maintenance[0].target = "nope".into();
    let e = s.validate("test").unwrap_err();
    assert!(
        e.to_string().contains("ship[0].maintenance[0].target"),
        "{e}"
    );
}

#[test]
fn user_port_flaps_at_the_stated_rate_never_on_uplinks() {
    // 2 h; every other noise source off so that only flaps write LINK-3 lines with "down"
    let noise = Noise {
        user_port_flaps_per_hour: 12.0,
        ..Noise::off()
    };
    let noise = Noise {
        enabled: true,
        ..noise
    };
    let mut s = quiet(7200, 9, noise);
    s.ship[0].log_eps = 0.0;
    let truth = true_topology(&s.ship[0], s.seed);
    let access: Vec<String> = truth
        .device
        .iter()
        .filter(|d| d.id.starts_with("acc-sw"))
        .map(|d| d.id.clone())
        .collect();
    let mut downs: HashMap<String, u32> = HashMap::new();
    let mut ups = 0;
    run(&s, SimOptions::default(), |_, t| {
        let text = String::from_utf8_lossy(t.bytes);
        if text.contains("%LINK-3-UPDOWN") || text.contains("SNMP_TRAP_LINK") {
            let h = host(t.bytes);
            assert!(access.contains(&h), "{text}");
            assert!(
                !text.contains("TenGigabitEthernet"),
                "never an uplink: {text}"
            );
            if text.ends_with("down") || text.contains("down(2)") {
                *downs.entry(h).or_default() += 1;
            } else {
                ups += 1;
            }
        }
    });
    let total: u32 = downs.values().sum();
    let per_switch_h = f64::from(total) / access.len() as f64 / 2.0;
    assert!(
        (9.0..=15.0).contains(&per_switch_h),
        "{per_switch_h} flaps per access switch per hour, expected 12"
    );
    assert!(
        ups + 8 >= total,
        "each port comes back: {ups} up, {total} down"
    );
}

#[test]
fn late_and_duplicate_delivery_is_bounded() {
    let s = quiet(1800, 21, Noise::default());
    let (mut n, mut late, mut worst) = (0u64, 0u64, 0i64);
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let mut dups = 0u64;
    run(&s, SimOptions::default(), |_, t| {
        if t.kind == PayloadKind::Metric {
            n += 1;
            let m = metric(t.bytes);
            let delay = t.ts_ms - m.ts;
            assert!(delay >= 0);
            if delay >= 1000 {
                late += 1;
                worst = worst.max(delay);
            }
            if !seen.insert(t.bytes.to_vec()) {
                dups += 1;
            }
        }
    });
    let late_frac = late as f64 / n as f64;
    let dup_frac = dups as f64 / n as f64;
    assert!(
        (0.001..=0.0035).contains(&late_frac),
        "late {late_frac} of {n}"
    );
    assert!(worst <= 31_000, "late at most 30 s: {worst} ms");
    assert!(
        (0.0003..=0.002).contains(&dup_frac),
        "duplicated {dup_frac} of {n}"
    );
}

#[test]
fn clocks_skew_on_a_tenth_of_the_devices() {
    let mut s = fleet::synthetic_scenario(300, 150.0, 900, 4);
    s.ship[0].noise.late_fraction = 0.0;
    let mut skew: HashMap<String, i64> = HashMap::new();
    run(&s, SimOptions::default(), |_, t| {
        if t.kind != PayloadKind::Syslog {
            return;
        }
        // RFC 5424 lines carry a full timestamp: compare it with the delivery time
        let text = String::from_utf8_lossy(t.bytes);
        let rest = &text[text.find('>').unwrap() + 1..];
        if let Some(ts) = rest.strip_prefix("1 ").and_then(|r| r.split(' ').next()) {
            let secs = |x: &str| -> i64 {
                let (h, m, s) = (&x[11..13], &x[14..16], &x[17..23]);
                (h.parse::<i64>().unwrap() * 3600 + m.parse::<i64>().unwrap() * 60) * 1000
                    + (s.parse::<f64>().unwrap() * 1000.0).round() as i64
            };
            let line_ms = secs(ts);
            let deliver_ms = t.ts_ms.rem_euclid(86_400_000);
            let d = line_ms - deliver_ms;
            if d.abs() < 60_000 {
                let e = skew.entry(host(t.bytes)).or_insert(d);
                if d.abs() < e.abs() {
                    *e = d;
                }
            }
        }
    });
    let skewed = skew.values().filter(|d| d.abs() >= 900).count();
    assert!(skew.values().all(|d| d.abs() <= 5_000), "{skew:?}");
    let frac = skewed as f64 / skew.len() as f64;
    assert!(skew.len() > 50, "{} hosts", skew.len());
    assert!((0.04..=0.2).contains(&frac), "{skewed} of {}", skew.len());
}

#[test]
fn inventory_differs_from_the_true_topology() {
    let ship = fleet::synthetic_ship("s", 400, 2);
    let truth = true_topology(&ship, 8);
    let listed: HashSet<&str> = ship.device.iter().map(|d| d.id.as_str()).collect();
    let unlisted: Vec<_> = truth
        .device
        .iter()
        .filter(|d| !listed.contains(d.id.as_str()))
        .collect();
    // 2 % of 400
    assert!((4..=12).contains(&unlisted.len()), "{}", unlisted.len());
    let moved = truth
        .device
        .iter()
        .filter(|d| {
            ship.device(&d.id)
                .is_some_and(|i| i.depends_on != d.depends_on)
        })
        .count();
    assert!((1..=20).contains(&moved), "{moved}");
    // only endpoints move, always to another access switch
    for d in &truth.device {
        if let Some(i) = ship.device(&d.id) {
            if i.depends_on != d.depends_on {
                assert!(d.depends_on[0].starts_with("acc-sw"), "{d:?}");
            }
        }
    }
    assert_eq!(true_topology(&ship, 8), truth, "deterministic");
    let mut off = ship.clone();
    off.noise = Noise::off();
    assert_eq!(true_topology(&off, 8), off);
}

#[test]
fn unknown_noise_key_is_rejected_and_old_files_get_noise_on() {
    let base = sample("quiet-day");
    assert_eq!(base.ship[0].noise, Noise::default());
    assert!(base.ship[0].noise.enabled);
    let text = std::fs::read_to_string(format!(
        "{}/scenarios/quiet-day.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let with = text.replacen(
        "[[ship.device]]",
        "[ship.noise]\nprobe_los = 0.01\n\n[[ship.device]]",
        1,
    );
    let e = Scenario::parse(&with, "q.toml").unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("probe_los") && msg.contains("probe_loss"),
        "{msg}"
    );
    assert!(!msg.contains('\n'));
    let bad = text.replacen(
        "[[ship.device]]",
        "[ship.noise]\nprobe_loss = 2.0\n\n[[ship.device]]",
        1,
    );
    let e = Scenario::parse(&bad, "q.toml").unwrap_err();
    assert!(e.to_string().contains("ship[0].noise.probe_loss"), "{e}");
    let off = text.replacen(
        "[[ship.device]]",
        "[ship.noise]\nenabled = false\n\n[[ship.device]]",
        1,
    );
    assert!(
        !Scenario::parse(&off, "q.toml").unwrap().ship[0]
            .noise
            .enabled
    );
}

#[test]
fn ground_truth_and_fault_symptoms_are_unaffected() {
    let mut with = sample("core-switch-down");
    with.ship[0].log_eps = 50.0;
    with.duration_s = 3700;
    with.fault.retain(|f| f.end_s() <= 3700);
    let mut without = with.clone();
    without.ship[0].noise = Noise::off();
    assert_eq!(with.faults(), without.faults());
    let fault = with.faults()[0].clone();
    let target_down = |s: &Scenario| {
        let p = probes(s, SimOptions::default());
        p[&fault.target]
            .iter()
            .filter(|(ts, _)| {
                let sec = (ts - seawatch_simulators::generate::DEFAULT_START_MS) / 1000;
                sec >= fault.at_s as i64 + 15 && sec < fault.end_s() as i64
            })
            .all(|(_, ok)| !ok)
    };
    assert!(target_down(&with) && target_down(&without));
}

#[test]
fn unlisted_devices_log_but_are_never_polled() {
    let s = fleet::synthetic_scenario(400, 600.0, 600, 8);
    let truth = true_topology(&s.ship[0], s.seed);
    let listed: HashSet<&str> = s.ship[0].device.iter().map(|d| d.id.as_str()).collect();
    let unlisted: HashSet<String> = truth
        .device
        .iter()
        .filter(|d| !listed.contains(d.id.as_str()))
        .map(|d| d.id.clone())
        .collect();
    assert!(!unlisted.is_empty());
    let (mut logged, mut polled) = (HashSet::new(), HashSet::new());
    run(&s, SimOptions::default(), |_, t| match t.kind {
        PayloadKind::Syslog => {
            let h = host(t.bytes);
            if unlisted.contains(&h) {
                logged.insert(h);
            }
        }
        PayloadKind::Metric => {
            let m = metric(t.bytes);
            if unlisted.contains(&m.device) {
                polled.insert(m.device);
            }
        }
    });
    assert!(polled.is_empty(), "{polled:?}");
    assert!(!logged.is_empty(), "unlisted devices log: {unlisted:?}");
}
