//! Telemetry generation: determinism, volume, ordering and fault symptoms.

use std::collections::{HashMap, HashSet};

use seawatch_simulators::{fleet, PayloadKind, Scenario, SimOptions, Simulator, TelemetryRef};

fn sample(name: &str) -> Scenario {
    let path = format!("{}/scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    Scenario::load(path).unwrap()
}

/// A lighter copy for debug-mode tests: fewer background lines, same topology and faults.
fn lighter(mut s: Scenario, log_eps: f64) -> Scenario {
    for ship in &mut s.ship {
        ship.log_eps = log_eps;
    }
    s
}

/// HOSTNAME of a syslog line, as a receiver would read it (RFC 5424 or RFC 3164, with the
/// Aruba year after the timestamp).
fn host(line: &[u8]) -> String {
    let text = std::str::from_utf8(line).expect("utf-8");
    assert!(text.starts_with('<'), "{text}");
    let close = text.find('>').expect("PRI");
    let rest = &text[close + 1..];
    let mut tokens = rest.split_whitespace();
    if rest.starts_with("1 ") {
        tokens.next();
        tokens.next();
        return tokens.next().unwrap().to_owned();
    }
    let _ = (tokens.next(), tokens.next(), tokens.next()); // Mmm dd hh:mm:ss
    let t = tokens.next().unwrap();
    if t.len() == 4 && t.bytes().all(|b| b.is_ascii_digit()) {
        return tokens.next().unwrap().to_owned();
    }
    t.to_owned()
}

struct Metric {
    name: String,
    subject: String,
    ifname: Option<String>,
    value: f64,
    ts: i64,
}

fn metric(bytes: &[u8]) -> Metric {
    let v: serde_json::Value = serde_json::from_slice(bytes).expect("NDJSON metric");
    let labels = v["labels"].as_object().unwrap();
    let subject = labels
        .get("link")
        .or_else(|| labels.get("ship"))
        .or_else(|| labels.get("device"))
        .and_then(|s| s.as_str())
        .unwrap()
        .to_owned();
    Metric {
        name: v["metric"].as_str().unwrap().to_owned(),
        subject,
        ifname: labels
            .get("ifName")
            .and_then(|s| s.as_str())
            .map(str::to_owned),
        value: v["value"].as_f64().unwrap(),
        ts: v["ts"].as_i64().unwrap(),
    }
}

/// Whether an NDJSON line is about metric `name` (cheap check before parsing).
fn is(bytes: &[u8], name: &str) -> bool {
    let pat = format!("{{\"metric\":\"{name}\"");
    bytes.starts_with(pat.as_bytes())
}

/// Runs a scenario to its end, calling `f(second since start, record)`.
fn run(s: &Scenario, mut f: impl FnMut(i64, TelemetryRef<'_>)) {
    let mut sim = Simulator::new(s);
    let start = sim.start_ms();
    sim.run_to_end(|t| f((t.ts_ms - start) / 1000, t));
}

fn digest(s: &Scenario, secs: i64) -> (u64, usize) {
    let mut sim = Simulator::new(s);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut n = 0;
    sim.advance_with(sim.start_ms() + secs * 1000, |t| {
        n += 1;
        for &b in t.bytes.iter().chain(t.ship.as_bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        h ^= t.ts_ms as u64;
    });
    (h, n)
}

#[test]
fn same_seed_same_bytes_different_seed_different() {
    let s = lighter(sample("fleet-mixed"), 100.0);
    let a = digest(&s, 400);
    let b = digest(&s, 400);
    assert_eq!(a, b);
    let mut other = s.clone();
    other.seed += 1;
    assert_ne!(a.0, digest(&other, 400).0);
}

#[test]
fn advance_in_pieces_equals_advance_at_once() {
    let s = lighter(sample("vsat-blockage"), 50.0);
    let mut whole = Vec::new();
    let mut sim = Simulator::new(&s);
    sim.advance(sim.start_ms() + 120_000, &mut whole);
    let mut pieces = Vec::new();
    let mut sim = Simulator::new(&s);
    let start = sim.start_ms();
    for to in (0..=120_000).step_by(777) {
        sim.advance(start + to, &mut pieces);
    }
    sim.advance(start + 120_000, &mut pieces);
    assert_eq!(whole, pieces);
    // the iterator gives the same sequence
    let iter: Vec<_> = Simulator::new(&s).take(whole.len()).collect();
    assert_eq!(iter, whole);
}

#[test]
fn output_is_time_ordered_and_well_formed() {
    let s = lighter(sample("core-switch-down"), 100.0);
    // hosts are those of the true topology (the inventory misses a few endpoints)
    let ship = &seawatch_simulators::generate::true_topology(&s.ship[0], s.seed);
    let late_max_ms = i64::from(s.ship[0].noise.late_max_s) * 1000 + 5000;
    let known: HashSet<&str> = ship.device.iter().map(|d| d.id.as_str()).collect();
    let mut sim = Simulator::new(&s);
    let (start, end) = (sim.start_ms(), sim.start_ms() + 900_000);
    let mut last = i64::MIN;
    let mut names = HashSet::new();
    sim.advance_with(end, |t| {
        assert!(t.ts_ms >= last, "time order");
        assert!(t.ts_ms >= start && t.ts_ms < end);
        last = t.ts_ms;
        match t.kind {
            PayloadKind::Syslog => {
                let h = host(t.bytes);
                assert!(
                    known.contains(h.as_str()),
                    "unknown host {h}: {}",
                    String::from_utf8_lossy(t.bytes)
                );
                assert!(!t.bytes.contains(&b'\n'));
            }
            PayloadKind::Metric => {
                let m = metric(t.bytes);
                // a sample is delivered at its own time, or late within the bound
                assert!(m.ts <= t.ts_ms && t.ts_ms - m.ts <= late_max_ms);
                names.insert(m.name);
            }
        }
    });
    for name in [
        "probe_success",
        "probe_duration_seconds",
        "ifOperStatus",
        "ifHCInOctets",
        "ifHCOutOctets",
        "ifInErrors",
        "ifOutErrors",
        "ifInDiscards",
        "device_cpu_percent",
        "device_temperature_celsius",
        "node_cpu_seconds_total",
        "node_memory_MemAvailable_bytes",
        "node_memory_MemTotal_bytes",
        "node_filesystem_avail_bytes",
        "node_filesystem_size_bytes",
        "modem_esno_db",
        "modem_snr_db",
        "modem_ber",
        "modem_rx_power_dbm",
        "modem_lock",
        "ship_heading_deg",
        "ship_lat",
        "ship_lon",
        "weather_rain_mm_h",
    ] {
        assert!(names.contains(name), "metric {name} missing");
    }
}

#[test]
fn quiet_hour_volume_matches_log_eps() {
    let s = lighter(sample("quiet-day"), 60.0);
    let mut per_device: HashMap<String, u64> = HashMap::new();
    let mut lines = 0u64;
    run(&s, |_, t| {
        if t.kind == PayloadKind::Syslog {
            lines += 1;
            *per_device.entry(host(t.bytes)).or_default() += 1;
        }
    });
    let eps = lines as f64 / s.duration_s as f64;
    assert!(
        (eps - 60.0).abs() <= 6.0,
        "{eps} lines/s, expected 60 ± 10 %"
    );
    // the perimeter firewall and the WLC are far chattier than an access switch
    let fw = per_device["fw-1"];
    let wlc = per_device["wlc-1"];
    let acc = per_device.get("acc-sw-3").copied().unwrap_or(0);
    assert!(
        fw > 50 * acc.max(1) && wlc > 10 * acc.max(1),
        "fw {fw} wlc {wlc} access {acc}"
    );
    let per_min = acc as f64 / 60.0;
    assert!(per_min <= 3.0, "access switch logs {per_min}/min");
}

#[test]
fn device_down_silences_dependents_and_upstream_logs_link_down() {
    // dist-sw-fwd-1 (behind Cisco core-sw-1) dies for 10 minutes
    let mut s = lighter(sample("core-switch-down"), 100.0);
    s.duration_s = 1500;
    s.fault.clear();
    s.fault.push(seawatch_simulators::Fault {
        ship: "aurora".into(),
        target: "dist-sw-fwd-1".into(),
        kind: seawatch_simulators::FaultKind::Down,
        at_s: 600,
        duration_s: 600,
    });
    // this test watches the silence itself: nothing delivered late across its edges
    s.ship[0].noise.late_fraction = 0.0;
    // the devices really behind the switch (the inventory may be out of date)
    let ship = seawatch_simulators::generate::true_topology(&s.ship[0], s.seed);
    let mut silent: HashSet<String> = ship.dependents_of("dist-sw-fwd-1").into_iter().collect();
    assert!(silent.len() >= 8, "{silent:?}");
    silent.insert("dist-sw-fwd-1".into());
    let mut before = 0;
    let mut during = 0;
    let mut link_down = 0;
    let mut topo = 0;
    let mut lldp = 0;
    let mut probe_fail = HashSet::new();
    let mut snmp_during = 0;
    let mut ap_down = 0;
    let mut after = 0;
    run(&s, |sec, t| match t.kind {
        PayloadKind::Syslog => {
            let h = host(t.bytes);
            let text = String::from_utf8_lossy(t.bytes);
            if silent.contains(&h) {
                match sec {
                    ..600 => before += 1,
                    600..1200 => during += 1,
                    _ => after += 1,
                }
            }
            if h == "core-sw-1"
                && (600..605).contains(&sec)
                && text.contains("%LINK-3-UPDOWN")
                && text.ends_with("changed state to down")
            {
                link_down += 1;
            }
            if h == "core-sw-1"
                && (600..610).contains(&sec)
                && text.contains("%SPANTREE-5-TOPOTRAP")
            {
                topo += 1;
            }
            if (715..735).contains(&sec) && text.contains("LLDP") && text.contains("dist-sw-fwd-1")
            {
                lldp += 1;
            }
            if (620..680).contains(&sec) && h == "wlc-1" && text.contains("AP is down") {
                ap_down += 1;
            }
        }
        PayloadKind::Metric => {
            let m = metric(t.bytes);
            if silent.contains(&m.subject) && (611..1200).contains(&sec) {
                if m.name == "probe_duration_seconds" {
                    assert!(m.value >= 5.0, "probe times out");
                } else if m.name == "probe_success" {
                    assert_eq!(m.value, 0.0, "{} probe during outage", m.subject);
                    probe_fail.insert(m.subject.clone());
                } else {
                    snmp_during += 1;
                }
            }
        }
    });
    assert!(before > 0, "dependents logged before the fault");
    assert_eq!(
        during, 0,
        "no line from a silenced device during the outage"
    );
    assert_eq!(snmp_during, 0, "no SNMP/node samples from silenced devices");
    assert_eq!(
        probe_fail.len(),
        silent.len(),
        "probes fail for every silenced device"
    );
    assert!(link_down >= 1, "upstream LINK-3-UPDOWN down");
    assert!(topo >= 1, "STP topology change");
    assert!(lldp >= 1, "LLDP neighbour loss after ~120 s");
    assert!(ap_down >= 1, "WLC marks APs down");
    assert!(after > 0, "dependents come back");
}

#[test]
fn blockage_collapses_one_antenna_and_recovers() {
    let s = lighter(sample("vsat-blockage"), 20.0);
    let f = s.faults()[0].clone();
    assert_eq!(f.kind, seawatch_simulators::FaultKind::Blockage);
    let (at, end) = (f.at_s as i64, f.end_s() as i64);
    let mut min_during = f64::MAX;
    let mut max_before = f64::MIN;
    let mut min_before = f64::MAX;
    let mut recovered = f64::MIN;
    let mut other_min = f64::MAX;
    let mut unlocked = 0;
    run(&s, |sec, t| {
        if t.kind != PayloadKind::Metric || sec > end + 300 {
            return;
        }
        if !is(t.bytes, "modem_esno_db") && !is(t.bytes, "modem_lock") {
            return;
        }
        let m = metric(t.bytes);
        if m.name == "modem_esno_db" && m.subject == "vsat-1" {
            if sec < at - 60 {
                max_before = max_before.max(m.value);
                min_before = min_before.min(m.value);
            } else if (at + 30..end).contains(&sec) {
                min_during = min_during.min(m.value);
            } else if sec > end + 90 {
                recovered = recovered.max(m.value);
            }
        }
        if m.name == "modem_esno_db" && m.subject == "vsat-2" && (at..end).contains(&sec) {
            other_min = other_min.min(m.value);
        }
        if m.name == "modem_lock"
            && m.subject == "vsat-1"
            && (at + 30..end).contains(&sec)
            && m.value == 0.0
        {
            unlocked += 1;
        }
    });
    assert!(min_before > 8.0, "clear sky before: {min_before}");
    assert!(
        min_during < 5.0,
        "Es/No drops in the blockage zone: {min_during}"
    );
    assert!(unlocked > 0, "lock lost");
    assert!(recovered > 8.0, "recovers after the turn: {recovered}");
    assert!(
        other_min > 5.0,
        "the other antenna is unaffected: {other_min}"
    );
}

#[test]
fn rain_fade_takes_out_the_link_on_the_cells_core_and_fades_the_others() {
    let s = lighter(sample("rain-fade"), 20.0);
    let f = s.faults()[0].clone();
    assert_eq!(f.target, "vsat-1");
    let (at, end) = (f.at_s as i64, f.end_s() as i64);
    let mut series: HashMap<String, Vec<(i64, f64)>> = HashMap::new();
    let mut rain_max = 0.0f64;
    let mut acm_steps = 0;
    run(&s, |sec, t| {
        if sec < at - 300 || sec > end + 300 {
            return;
        }
        match t.kind {
            PayloadKind::Metric
                if is(t.bytes, "modem_esno_db") || is(t.bytes, "weather_rain_mm_h") =>
            {
                let m = metric(t.bytes);
                if m.name == "modem_esno_db" {
                    series.entry(m.subject).or_default().push((sec, m.value));
                } else if m.name == "weather_rain_mm_h" {
                    rain_max = rain_max.max(m.value);
                }
            }
            PayloadKind::Metric => {}
            PayloadKind::Syslog => {
                if String::from_utf8_lossy(t.bytes).contains("ACM: MODCOD changed") {
                    acm_steps += 1;
                }
            }
        }
    });
    // the ship is under the cell's edge: rain at the weather station, not a downpour
    assert!(
        rain_max > 5.0 && rain_max < 40.0,
        "rain at the ship: {rain_max}"
    );
    assert!(acm_steps >= 5, "ACM steps down and up: {acm_steps}");
    let drop = |link: &str| {
        let s = &series[link];
        let before = s
            .iter()
            .filter(|p| p.0 < at)
            .map(|p| p.1)
            .fold(f64::MIN, f64::max);
        let during = s
            .iter()
            .filter(|p| p.0 >= at && p.0 < end)
            .map(|p| p.1)
            .fold(f64::MAX, f64::min);
        (before, during)
    };
    // the target (Ku primary) goes out of lock (below -2 dB) ...
    let (before, during) = drop("vsat-1");
    assert!(during < -2.0, "vsat-1: {before} -> {during}");
    // ... the Ka backup, under the edge, fades by several dB but keeps lock, even though
    // Ka is the band rain hurts most; the LEO (Ku) fades least
    let (ka_before, ka_during) = drop("vsat-2");
    assert!(
        ka_before - ka_during > 2.0,
        "vsat-2: {ka_before} -> {ka_during}"
    );
    assert!(ka_during > -2.0, "vsat-2 keeps lock: {ka_during}");
    let (leo_before, leo_during) = drop("leo-1");
    assert!(
        leo_during > -2.0,
        "leo-1 keeps lock: {leo_before} -> {leo_during}"
    );
    // gradual while locked: no step above 1 dB/s between 5 s samples
    for link in ["vsat-1", "vsat-2"] {
        for w in series[link].windows(2) {
            if w[0].1 > 0.0 && w[1].1 > 0.0 {
                let slope = (w[1].1 - w[0].1).abs() / (w[1].0 - w[0].0).max(1) as f64;
                assert!(slope <= 1.0, "{link}: {slope} dB/s at {}", w[1].0);
            }
        }
    }
}

#[test]
fn flapping_storm_with_errors_before() {
    let s = lighter(sample("vsat-blockage"), 20.0);
    let f = s.faults()[1].clone();
    assert_eq!(f.target, "acc-sw-5");
    let (at, end) = (f.at_s as i64, f.end_s() as i64);
    let mut changes = 0;
    let mut errors: Vec<(i64, f64)> = Vec::new();
    run(&s, |sec, t| match t.kind {
        PayloadKind::Syslog => {
            let text = String::from_utf8_lossy(t.bytes);
            if (at..end).contains(&sec)
                && host(t.bytes) == "dist-sw-aft-1"
                && (text.contains("%LINK-3-UPDOWN") || text.contains("SNMP_TRAP_LINK"))
            {
                changes += 1;
            }
        }
        PayloadKind::Metric if is(t.bytes, "ifInErrors") => {
            let m = metric(t.bytes);
            if m.name == "ifInErrors"
                && m.subject == "acc-sw-5"
                && m.ifname
                    .as_deref()
                    .is_some_and(|n| n.contains("1/1/1") || n.contains("xe-0/2/0"))
            {
                errors.push((sec, m.value));
            }
        }
        PayloadKind::Metric => {}
    });
    // a cycle every 4–10 s gives 2 changes per cycle
    let expected = 2 * (end - at) / 10;
    assert!(
        changes >= expected,
        "{changes} link changes, expected >= {expected}"
    );
    let at_minus = |secs: i64| errors.iter().rev().find(|p| p.0 <= at - secs).unwrap().1;
    assert!(
        at_minus(0) - at_minus(600) > 1000.0,
        "ifInErrors climb before the storm"
    );
    assert!(at_minus(900) - at_minus(1500) < 50.0, "quiet long before");
}

#[test]
fn disk_full_cpu_saturation_interface_errors_link_outage() {
    use seawatch_simulators::{Fault, FaultKind};
    let mut s = lighter(sample("fleet-mixed"), 20.0);
    s.duration_s = 2700;
    s.fault = vec![
        Fault {
            ship: "aurora".into(),
            target: "pms-db-1".into(),
            kind: FaultKind::DiskFull,
            at_s: 1800,
            duration_s: 300,
        },
        Fault {
            ship: "aurora".into(),
            target: "fw-1".into(),
            kind: FaultKind::CpuSaturation,
            at_s: 1200,
            duration_s: 600,
        },
        Fault {
            ship: "borealis".into(),
            target: "vsat-1".into(),
            kind: FaultKind::LinkOutage,
            at_s: 1200,
            duration_s: 600,
        },
        Fault {
            ship: "borealis".into(),
            target: "dist-sw-aft-1".into(),
            kind: FaultKind::InterfaceErrors,
            at_s: 1200,
            duration_s: 600,
        },
    ];
    s.validate("test").unwrap();
    let mut fs: Vec<(i64, f64)> = Vec::new();
    let mut panic_lines = 0;
    let mut cpu_during = Vec::new();
    let mut lock_during = Vec::new();
    let mut sdwan_dead = 0;
    let mut errs: Vec<(i64, f64)> = Vec::new();
    run(&s, |sec, t| match t.kind {
        PayloadKind::Syslog => {
            let text = String::from_utf8_lossy(t.bytes);
            if text.contains("No space left on device") {
                assert_eq!(host(t.bytes), "pms-db-1");
                assert!(
                    (1800..2100).contains(&sec),
                    "ENOSPC only while full ({sec})"
                );
                if text.contains("PANIC") {
                    panic_lines += 1;
                }
            }
            if t.ship == "borealis" && text.contains("status=\"dead\"") && text.contains("vsat-1") {
                sdwan_dead += 1;
            }
        }
        PayloadKind::Metric
            if [
                "node_filesystem_avail_bytes",
                "device_cpu_percent",
                "modem_lock",
                "ifInErrors",
            ]
            .iter()
            .any(|n| is(t.bytes, n)) =>
        {
            let m = metric(t.bytes);
            if t.ship == "aurora"
                && m.name == "node_filesystem_avail_bytes"
                && m.subject == "pms-db-1"
            {
                fs.push((sec, m.value));
            }
            if t.ship == "aurora"
                && m.name == "device_cpu_percent"
                && m.subject == "fw-1"
                && (1230..1800).contains(&sec)
            {
                cpu_during.push(m.value);
            }
            if t.ship == "borealis"
                && m.name == "modem_lock"
                && m.subject == "vsat-1"
                && (1230..1800).contains(&sec)
            {
                lock_during.push(m.value);
            }
            if t.ship == "borealis"
                && m.name == "ifInErrors"
                && m.subject == "dist-sw-aft-1"
                && m.ifname.as_deref() == Some("TenGigabitEthernet1/1/1")
            {
                errs.push((sec, m.value));
            }
        }
        PayloadKind::Metric => {}
    });
    // disk: a ramp down before the window, empty during, freed after
    let at = |t: i64| fs.iter().rev().find(|p| p.0 <= t).unwrap().1;
    assert!(
        at(30) > at(900) && at(900) > at(1500) && at(1500) > at(1790),
        "ramp: {} {} {} {}",
        at(30),
        at(900),
        at(1500),
        at(1790)
    );
    assert!(at(1900) < 1e8, "full during the window: {}", at(1900));
    assert!(at(2200) > 1e10, "freed after: {}", at(2200));
    assert!(panic_lines > 0, "postgres PANIC at full");
    // cpu
    assert!(
        !cpu_during.is_empty() && cpu_during.iter().all(|&c| c >= 88.0),
        "{cpu_during:?}"
    );
    // link outage
    assert!(
        !lock_during.is_empty() && lock_during.iter().all(|&l| l == 0.0),
        "{lock_during:?}"
    );
    assert!(
        sdwan_dead >= 1,
        "firewall SD-WAN health check reports the member dead"
    );
    // interface errors: the uplink of dist-sw-aft-1 counts errors fast during the window
    let errs_at = |t: i64| errs.iter().rev().find(|p| p.0 <= t).unwrap().1;
    let before = (errs_at(1190) - errs_at(590)) / 600.0;
    let during = (errs_at(1790) - errs_at(1260)) / 530.0;
    assert!(
        before < 1.0 && during > 30.0,
        "ifInErrors/s before {before}, during {during}"
    );
}

#[test]
fn firewall_down_fails_over_to_the_secondary() {
    use seawatch_simulators::{Fault, FaultKind};
    let mut s = lighter(sample("core-switch-down"), 200.0);
    s.duration_s = 1300;
    s.fault = vec![Fault {
        ship: "aurora".into(),
        target: "fw-1".into(),
        kind: FaultKind::Down,
        at_s: 1200,
        duration_s: 100,
    }];
    s.ship[0].noise.late_fraction = 0.0;
    let mut per: HashMap<(bool, String), u64> = HashMap::new();
    let mut ha = 0;
    let mut link_down = 0;
    run(&s, |sec, t| {
        if t.kind != PayloadKind::Syslog || sec < 1100 {
            return;
        }
        let h = host(t.bytes);
        let text = String::from_utf8_lossy(t.bytes);
        if text.contains("HA primary changed") {
            assert_eq!(h, "fw-2");
            ha += 1;
        }
        if text.contains("%LINK-3-UPDOWN") && text.ends_with("down") && h.starts_with("core-sw") {
            link_down += 1;
        }
        if !(1200..1205).contains(&sec) {
            *per.entry((sec >= 1205, h)).or_default() += 1;
        }
    });
    assert_eq!(ha, 1);
    assert_eq!(link_down, 2, "both cores lose their link to fw-1");
    let get = |after: bool, h: &str| per.get(&(after, h.to_owned())).copied().unwrap_or(0);
    assert!(get(false, "fw-1") > 50 * get(false, "fw-2").max(1));
    assert_eq!(get(true, "fw-1"), 0);
    assert!(
        get(true, "fw-2") > 1000,
        "the secondary carries the traffic log"
    );
}

#[test]
fn synthetic_ships_of_any_size_validate_and_run() {
    for n in [12, 50, 300, 2000] {
        let ship = fleet::synthetic_ship("big", n, 9);
        assert_eq!(ship.device.len(), n);
        let s = Scenario {
            name: "syn".into(),
            seed: 9,
            duration_s: 30,
            ship: vec![ship],
            fault: vec![],
            rollout: vec![],
        };
        s.validate("synthetic").unwrap();
        let mut sim = Simulator::with_options(&s, SimOptions { start_ms: 0 });
        let mut count = 0;
        sim.run_to_end(|_| count += 1);
        assert!(count > 0);
    }
}

#[test]
fn throughput_printed() {
    let s = fleet::synthetic_scenario(50, 2000.0, 20, 1);
    let mut sim = Simulator::new(&s);
    let (mut lines, mut bytes) = (0u64, 0usize);
    let t0 = std::time::Instant::now();
    sim.run_to_end(|t| {
        lines += 1;
        bytes += t.bytes.len();
    });
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "generated {lines} records ({:.1} MB) in {secs:.2} s: {:.0} records/s (debug builds are ~20x slower than release)",
        bytes as f64 / 1e6,
        lines as f64 / secs
    );
}

#[test]
fn blockage_follows_the_surveyed_zone() {
    // the same fault with the antenna's surveyed sector on the starboard bow
    let mut s = lighter(sample("vsat-blockage"), 20.0);
    let f = s.faults()[0].clone();
    let link = s.ship[0]
        .link
        .iter_mut()
        .find(|l| l.id == f.target)
        .unwrap();
    link.blockage_zones = vec![[60.0, 100.0]];
    let (at, end) = (f.at_s as i64, f.end_s() as i64);
    let mut mute_rel = Vec::new();
    let mut unlocked = 0;
    run(&s, |sec, t| {
        let text = String::from_utf8_lossy(t.bytes);
        if text.contains("TX mute ON") {
            let rel: f64 = text
                .split("relative azimuth ")
                .nth(1)
                .and_then(|x| x.split(' ').next())
                .unwrap()
                .parse()
                .unwrap();
            mute_rel.push((sec, rel));
        }
        if t.kind == PayloadKind::Metric && is(t.bytes, "modem_lock") {
            let m = metric(t.bytes);
            if m.subject == f.target && (at + 30..end).contains(&sec) && m.value == 0.0 {
                unlocked += 1;
            }
        }
    });
    assert!(unlocked > 0, "lock lost in the surveyed sector");
    assert!(!mute_rel.is_empty());
    for (sec, rel) in mute_rel {
        assert!((60.0..=100.0).contains(&rel), "{rel} at {sec}");
        assert!(sec >= at - 120 && sec < end, "only during the fault: {sec}");
    }
}
