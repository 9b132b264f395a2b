//! Device health rules and the correlator together under benign noise (decision 0025):
//! a deterministic little ship (seeded generator, simulated time) whose healthy
//! devices lose single probes, whose access switches flap user ports every few
//! minutes, whose CPUs burst for a sample, and whose telemetry is sometimes delivered
//! twice. Over a simulated day nothing may open; real faults in the same noise must
//! still open at the right root within two poll intervals and 15 s.

use std::collections::BTreeMap;

use tokio::sync::mpsc::UnboundedReceiver;

use crate::alert::{Alert, AlertSink};
use crate::device::alerts::{HealthAlerts, HealthRules};
use crate::ingest::decode::MetricSample;
use crate::ingest::record::{LogObs, ObsKind, Observation};
use crate::inventory::{DeviceSpec, Inventory};

use super::correlator::{Correlator, CorrelatorConfig};
use super::model::Incident;
use super::topology::Topology;

const T0: i64 = 1_741_932_000_000;

/// splitmix64: a seeded, dependency-free generator (the test must not depend on a
/// crate's stream staying the same across versions).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    /// The device dies (its probes fail, its parent logs the port going down).
    Down,
    /// The device's CPU is saturated (samples 93–99 %).
    Cpu,
}

struct Dev {
    id: String,
    parent: Option<usize>,
    /// Its port on the parent (`Gi1/0/<n>`).
    port: String,
    access: bool,
    poll_s: i64,
    phase: i64,
    health: HealthAlerts,
    /// The last probe was lost to noise (losses come one at a time).
    lost_last: bool,
    next_flap_s: i64,
    next_burst_s: i64,
}

struct Ship {
    devs: Vec<Dev>,
    index: BTreeMap<String, usize>,
    rx: UnboundedReceiver<Alert>,
    correlator: Correlator,
    rng: Rng,
    loss: f64,
    lldp: bool,
}

fn obs_metric(dev: &str, name: &str, v: f64, ts_ms: i64) -> Observation {
    Observation::from_metric(MetricSample {
        device: dev.into(),
        name: name.into(),
        labels: Vec::new(),
        value: v,
        ts_ms,
    })
}

fn obs_log(dev: &str, text: &str, ts_ms: i64) -> Observation {
    Observation {
        device: dev.into(),
        ts_ms,
        kind: ObsKind::Log(LogObs {
            severity: 5,
            app: "LINK".into(),
            msg_id: "UPDOWN".into(),
            text: text.into(),
        }),
    }
}

impl Ship {
    /// fw ← core ← dist-1, dist-2 ← acc-1..acc-4 (two per dist) ← 6 APs, a till and a
    /// camera each: 39 devices; APs poll every `leaf_poll_s`, the rest every 10 s.
    fn new(seed: u64, loss: f64, leaf_poll_s: i64, lldp: bool) -> Self {
        let mut specs: Vec<(String, String, Option<String>, bool, i64)> = vec![
            ("fw".into(), "firewall".into(), None, false, 10),
            ("core".into(), "switch".into(), Some("fw".into()), false, 10),
        ];
        for d in 1..=2 {
            specs.push((
                format!("dist-{d}"),
                "switch".into(),
                Some("core".into()),
                false,
                10,
            ));
        }
        for a in 1..=4 {
            let dist = format!("dist-{}", 1 + (a - 1) / 2);
            specs.push((format!("acc-{a}"), "switch".into(), Some(dist), true, 10));
            for k in 1..=6 {
                specs.push((
                    format!("ap-{a}-{k}"),
                    "ap".into(),
                    Some(format!("acc-{a}")),
                    false,
                    leaf_poll_s,
                ));
            }
            specs.push((
                format!("pos-{a}"),
                "pos".into(),
                Some(format!("acc-{a}")),
                false,
                leaf_poll_s,
            ));
            specs.push((
                format!("cam-{a}"),
                "cctv".into(),
                Some(format!("acc-{a}")),
                false,
                leaf_poll_s,
            ));
        }
        let inv = Inventory {
            ship: "s".into(),
            devices: specs
                .iter()
                .map(|(id, kind, parent, _, _)| DeviceSpec {
                    id: id.clone(),
                    kind: kind.clone(),
                    depends_on: parent.iter().cloned().collect(),
                })
                .collect(),
            links: vec![],
        };
        let (sink, rx) = AlertSink::channel();
        let mut rng = Rng(seed);
        let index: BTreeMap<String, usize> = specs
            .iter()
            .enumerate()
            .map(|(i, s)| (s.0.clone(), i))
            .collect();
        let mut ports: BTreeMap<String, usize> = BTreeMap::new();
        let devs = specs
            .iter()
            .map(|(id, _, parent, access, poll)| {
                let port = parent.as_ref().map_or(String::new(), |p| {
                    let n = ports.entry(p.clone()).or_default();
                    *n += 1;
                    format!("Gi1/0/{n}")
                });
                Dev {
                    id: id.clone(),
                    parent: parent.as_ref().and_then(|p| index.get(p).copied()),
                    port,
                    access: *access,
                    poll_s: *poll,
                    phase: rng.below(*poll as u64) as i64,
                    health: HealthAlerts::new("s", id, sink.clone(), HealthRules::default()),
                    lost_last: false,
                    next_flap_s: rng.below(300) as i64,
                    next_burst_s: rng.below(600) as i64,
                }
            })
            .collect();
        Self {
            devs,
            index,
            rx,
            correlator: Correlator::new("s", Topology::new(&inv), CorrelatorConfig::default()),
            rng,
            loss,
            lldp,
        }
    }

    fn feed(&mut self, i: usize, obs: Observation, twice: bool) {
        self.devs[i].health.observe(&obs);
        if twice {
            // duplicated telemetry: the same sample delivered again
            self.devs[i].health.observe(&obs);
        }
    }

    /// Runs `secs` simulated seconds with `faults` (device, kind, from_s, to_s).
    fn run(&mut self, secs: i64, faults: &[(&str, Fault, i64, i64)]) {
        let faults: Vec<(usize, Fault, i64, i64)> = faults
            .iter()
            .map(|(d, k, a, b)| (self.index[*d], *k, *a, *b))
            .collect();
        // LLDP: where known, switches log the neighbour on each port at start
        if self.lldp {
            for i in 0..self.devs.len() {
                if let Some(p) = self.devs[i].parent {
                    let text = format!(
                        "LLDP_NEIGHBOR_UP: A neighbor has come up on port {}, system-name {}",
                        self.devs[i].port, self.devs[i].id
                    );
                    self.feed(p, obs_log(&self.devs[p].id.clone(), &text, T0), false);
                }
            }
        }
        let mut was_down = vec![false; self.devs.len()];
        for s in 0..secs {
            let ts = T0 + s * 1000;
            let down: Vec<bool> = (0..self.devs.len())
                .map(|i| {
                    faults
                        .iter()
                        .any(|(d, k, a, b)| *d == i && *k == Fault::Down && (*a..*b).contains(&s))
                })
                .collect();
            let reach: Vec<bool> = (0..self.devs.len())
                .map(|i| {
                    let mut j = Some(i);
                    while let Some(k) = j {
                        if down[k] {
                            return false;
                        }
                        j = self.devs[k].parent;
                    }
                    true
                })
                .collect();
            for i in 0..self.devs.len() {
                // a device dying: its parent logs the port going down, LLDP two minutes on
                if down[i] != was_down[i] {
                    was_down[i] = down[i];
                    if let (Some(p), true) = (self.devs[i].parent, down[i]) {
                        let pid = self.devs[p].id.clone();
                        let port = self.devs[i].port.clone();
                        let text =
                            format!("%LINK-3-UPDOWN: Interface {port}, changed state to down");
                        self.feed(p, obs_log(&pid, &text, ts), false);
                    }
                }
                let d = &self.devs[i];
                if (s - d.phase).rem_euclid(d.poll_s) == 0 {
                    let lost = !d.lost_last && self.rng.unit() < self.loss;
                    let ok = reach[i] && !lost;
                    self.devs[i].lost_last = lost;
                    let twice = self.rng.unit() < 0.01;
                    let id = self.devs[i].id.clone();
                    self.feed(
                        i,
                        obs_metric(&id, "probe_success", if ok { 1.0 } else { 0.0 }, ts),
                        twice,
                    );
                    if ok {
                        let lat = 0.002 + self.rng.unit() * 0.01;
                        self.feed(i, obs_metric(&id, "probe_duration_seconds", lat, ts), false);
                    }
                }
                let d = &self.devs[i];
                let network = d.access || i < 4;
                if network && s % 10 == d.phase % 10 && reach[i] {
                    let saturated = faults
                        .iter()
                        .any(|(f, k, a, b)| *f == i && *k == Fault::Cpu && (*a..*b).contains(&s));
                    // short CPU bursts: one sample high now and then
                    let burst = s >= d.next_burst_s;
                    if burst {
                        self.devs[i].next_burst_s = s + 300 + self.rng.below(900) as i64;
                    }
                    let cpu = if saturated {
                        93.0 + self.rng.unit() * 6.0
                    } else if burst {
                        91.0 + self.rng.unit() * 8.0
                    } else {
                        15.0 + self.rng.unit() * 30.0
                    };
                    let id = self.devs[i].id.clone();
                    let twice = self.rng.unit() < 0.01;
                    self.feed(i, obs_metric(&id, "device_cpu_percent", cpu, ts), twice);
                }
                // user-port flaps: one every ~5 minutes per access switch, on a port no
                // inventoried device is on, down for 2–40 s; lines repeated now and then
                let d = &self.devs[i];
                if d.access && reach[i] && s >= d.next_flap_s {
                    let port = 20 + self.rng.below(28);
                    let up_after = 2 + self.rng.below(38) as i64;
                    let id = d.id.clone();
                    self.devs[i].next_flap_s = s + 150 + self.rng.below(300) as i64;
                    let text = format!(
                        "%LINK-3-UPDOWN: Interface GigabitEthernet1/0/{port}, changed state to down"
                    );
                    let twice = self.rng.unit() < 0.2;
                    self.feed(i, obs_log(&id, &text, ts), twice);
                    let text = format!(
                        "%LINK-3-UPDOWN: Interface GigabitEthernet1/0/{port}, changed state to up"
                    );
                    self.feed(i, obs_log(&id, &text, ts + up_after * 1000), false);
                }
            }
            if s % 5 == 0 {
                for d in &mut self.devs {
                    d.health.tick(ts);
                }
                while let Ok(a) = self.rx.try_recv() {
                    self.correlator.push(a);
                }
                self.correlator.tick(ts);
            }
        }
    }

    fn incidents(&self) -> Vec<Incident> {
        self.correlator.incidents().to_vec()
    }
}

fn brief(incs: &[Incident]) -> Vec<(String, i64, Vec<String>)> {
    incs.iter()
        .map(|i| {
            (
                i.root_cause.clone(),
                (i.opened_at_ms - T0) / 1000,
                i.evidence.clone(),
            )
        })
        .collect()
}

/// A simulated day of benign noise at 0.5 % and 1 % probe loss, with and without LLDP
/// knowledge of which port faces which device, at a 10 s and a 30 s leaf poll: no
/// incident opens.
#[test]
fn a_day_of_benign_noise_opens_nothing() {
    for (seed, loss, poll, lldp) in [
        (1, 0.005, 10, false),
        (2, 0.01, 10, false),
        (3, 0.01, 30, false),
        (4, 0.01, 30, true),
    ] {
        let mut ship = Ship::new(seed, loss, poll, lldp);
        ship.run(86_400, &[]);
        let incs = ship.incidents();
        assert!(
            incs.is_empty(),
            "seed {seed} loss {loss} poll {poll} lldp {lldp}: {:?}",
            brief(&incs)
        );
        // the noise did reach the correlator: the user ports' down lines count as alerts
        assert!(
            ship.correlator.alerts_total() > 500,
            "{}",
            ship.correlator.alerts_total()
        );
    }
}

/// Real faults in the same noise open at the right root, within two poll intervals
/// and 15 s of the onset, and nothing else opens.
#[test]
fn faults_in_benign_noise_still_open_in_time_at_the_right_root() {
    for (seed, poll, lldp) in [(11, 10, false), (12, 30, false), (13, 30, true)] {
        let mut ship = Ship::new(seed, 0.01, poll, lldp);
        let faults = [
            ("ap-1-3", Fault::Down, 3_000, 3_900),
            ("acc-2", Fault::Down, 9_000, 9_900),
            ("pos-3", Fault::Down, 15_000, 15_600),
            ("fw", Fault::Cpu, 21_000, 21_900),
            ("dist-2", Fault::Down, 27_000, 27_600),
        ];
        ship.run(33_000, &faults);
        let incs = ship.incidents();
        let open: Vec<&Incident> = incs.iter().filter(|i| i.merged_into.is_none()).collect();
        assert_eq!(
            open.len(),
            faults.len(),
            "seed {seed} poll {poll}: {:?}",
            brief(&incs)
        );
        for ((target, kind, at, _), inc) in faults.iter().zip(&open) {
            assert_eq!(inc.root_cause, *target, "{:?}", brief(&incs));
            let target_poll = ship.devs[ship.index[*target]].poll_s;
            let goal = if *kind == Fault::Cpu {
                2 * 10 + 15
            } else {
                2 * target_poll + 15
            };
            let took = (inc.opened_at_ms - T0) / 1000 - at;
            assert!(
                (0..=goal).contains(&took),
                "seed {seed} {target}: opened {took} s after onset, goal {goal}: {:?}",
                brief(&incs)
            );
            assert_eq!(inc.candidates[0].element, *target);
            assert!(!inc.evidence.is_empty());
        }
    }
}
