//! Health alerts of one device, from its own telemetry: blackbox probes, SNMP interface
//! counters, CPU, filesystem and silence. Each rule fires once and clears once (the
//! correlator dedupes and applies hysteresis on top).
//!
//! | class | fires when | clears when |
//! |---|---|---|
//! | unreachable | 2 probes in a row fail, or nothing heard for [`HealthRules::silence_ms`] from a device polled regularly before (4 samples, 5 s or more apart, within that span: a device that only logs is not silent) | a probe succeeds / telemetry resumes |
//! | unreachable (`probe-miss`) | the first failed probe after answers: a suspicion the correlator promotes only when other evidence corroborates it ([`PROBE_MISS`]) | a probe succeeds |
//! | flapping | intermittent loss (below) with ≥ 3 ok→fail probe transitions while the device logs link up/down | no failed probe in the last 6 |
//! | degraded (`probe`) | ≥ 6 failed probes of the last 24 with ≥ 2 transitions (intermittent loss: a quarter of the probes; benign loss of 1 % reaches it about once in 7 million probes); an outage (3 or more failures in a row) is forgotten when the device answers again | no failed probe in the last 6 |
//! | degraded (`latency`) | 2 successful probes in a row slower than 150 ms | 3 in a row under 100 ms |
//! | degraded (`nic`) | the host logs a NIC hang (`Tx Unit Hang`, `NETDEV WATCHDOG`) within 2 minutes of a failed or slow probe | no NIC hang for 5 minutes |
//! | degraded (`cpu`) | `device_cpu_percent` ≥ 90 twice in a row; or ≥ 80, or a probe answered slower than 150 ms, within 2 minutes of the device logging high CPU itself (`CPUHOG`, `CPU_HIGH`, FortiOS `average CPU: ` ≥ 90); or the device's own CPU figure (FortiOS `average CPU: `, Junos `CPU utilization N percent`) ≥ 90 twice in a row, 20 s to 2 minutes apart | < 80 twice in a row |
//! | degraded (`disk`) | a filesystem under 2 % free | over 5 % free |
//! | errors | interface input errors above 5/s on any port (the detail names the port and its description: `interface input errors on <ifName> (<ifAlias>)`) | under 1/s for 60 s |
//!
//! A probe, latency or CPU sample no newer than the last one of its kind (a duplicated
//! or late delivery) is telemetry (the device is heard) but feeds no rule: a duplicated
//! failed probe is one lost probe, not two. An LLDP neighbour-up line raises a topology
//! fact (series `log:lldp-seen:<port>@<neighbour>`, only when the port's neighbour
//! changes), which the correlator learns from and never counts as an alert. A line
//! announcing a planned reboot (a controller's `AP rebooting`, Cisco `Reload
//! requested`, Junos `UI_REBOOT_EVENT`, FortiOS `Device rebooted`, systemd `The system
//! will reboot now`, `Rebooting: `) raises [`PLANNED_REBOOT`] about the AP named, else
//! the device itself.

use std::collections::{HashMap, VecDeque};

use crate::alert::AlertSink;
use seawatch_model::{
    Alert, AlertClass, AlertSeverity, AlertSource, AlertState, LogObs, MetricSample, ObsKind,
    Observation, ShipId,
};

/// Thresholds of the health rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthRules {
    /// Silence after which a device that used to report is unreachable, ms.
    pub silence_ms: i64,
    /// Interface input errors per second that count as an error burst.
    pub errors_per_s: f64,
}

impl Default for HealthRules {
    fn default() -> Self {
        Self {
            silence_ms: 180_000,
            errors_per_s: 5.0,
        }
    }
}

const PROBE_HISTORY: usize = 24;
/// Failed probes among the last [`PROBE_HISTORY`] that make loss intermittent (degraded
/// or, with link up/down lines, flapping). Three of twelve, the rule before decision
/// 0025, came up by chance a few times a day on a 40-device ship with 1 % benign
/// single losses at a 10 s poll; six of twenty-four about once a month.
const INTERMITTENT_FAILS: usize = 6;
/// The series of the first-failed-probe suspicion (class unreachable). It is not an
/// alert on its own: one lost probe is common (a dropped packet), so the correlator
/// counts and acts on it only when other evidence says the same (the parent logged the
/// port going down, the parent is failing). Two failed probes in a row raise the
/// ordinary unreachable alert (series `probe`) as before.
pub const PROBE_MISS: &str = "probe-miss";
/// The series of a planned-reboot announcement (about the device named, or the one that
/// logged it): a fact for the correlator, not a symptom.
pub const PLANNED_REBOOT: &str = "log:planned-reboot";
/// A NIC hang line and a failed or slow probe this close together make the host degraded.
const NIC_HANG_WINDOW_MS: i64 = 120_000;
/// The device's own CPU figures count as two readings in a row only this far apart (a
/// repeated line is one reading).
const OWN_CPU_MIN_GAP_MS: i64 = 20_000;
/// The `nic` degraded alert clears after this long without a NIC hang line.
const NIC_QUIET_MS: i64 = 300_000;
const MAX_COUNTERS: usize = 256;
/// Times heard kept to judge whether a device reports regularly.
const CADENCE_N: usize = 4;
/// Observations closer than this count once for the cadence (a burst of lines).
const CADENCE_GAP_MS: i64 = 5_000;

/// Tracks one device's symptoms and raises alerts on changes.
#[derive(Debug)]
pub struct HealthAlerts {
    ship: ShipId,
    device: String,
    sink: AlertSink,
    rules: HealthRules,
    probes: VecDeque<bool>,
    consecutive_fail: u32,
    slow: u32,
    fast: u32,
    cpu_high: u32,
    cpu_low: u32,
    last_updown_ms: Option<i64>,
    last_errors_ms: Option<i64>,
    last_hang_ms: Option<i64>,
    last_bad_probe_ms: Option<i64>,
    last_cpu_log_ms: Option<i64>,
    /// The last CPU sample at or above 80 % (the clear threshold), while the samples
    /// since have stayed there.
    last_cpu_warm_ms: Option<i64>,
    /// The last probe answered slowly (over 150 ms), while none since was prompt.
    last_slow_probe_ms: Option<i64>,
    /// The last of the device's own CPU figures at or above 90 %, while its figures
    /// since have stayed there.
    own_cpu_high_ms: Option<i64>,
    counters: HashMap<String, (i64, f64)>,
    /// Event time of the last probe, latency and CPU sample (duplicates and late
    /// deliveries are not new readings).
    last_probe_ms: Option<i64>,
    last_latency_ms: Option<i64>,
    last_cpu_ms: Option<i64>,
    /// The neighbour last seen (LLDP) on each port (bounded, [`MAX_COUNTERS`]).
    lldp_seen: HashMap<String, String>,
    fs_size: HashMap<String, f64>,
    last_seen_ms: Option<i64>,
    /// The last [`CADENCE_N`] times a sample of it arrived, at least [`CADENCE_GAP_MS`]
    /// apart: whether it is polled regularly enough for its silence to mean something.
    cadence: VecDeque<i64>,
    firing: Vec<(AlertClass, &'static str)>,
}

impl HealthAlerts {
    /// A tracker for `device` on `ship` raising into `sink`.
    pub fn new(ship: impl Into<ShipId>, device: &str, sink: AlertSink, rules: HealthRules) -> Self {
        Self {
            ship: ship.into(),
            device: device.to_string(),
            sink,
            rules,
            probes: VecDeque::with_capacity(PROBE_HISTORY),
            consecutive_fail: 0,
            slow: 0,
            fast: 0,
            cpu_high: 0,
            cpu_low: 0,
            last_updown_ms: None,
            last_errors_ms: None,
            last_hang_ms: None,
            last_bad_probe_ms: None,
            last_cpu_log_ms: None,
            last_cpu_warm_ms: None,
            last_slow_probe_ms: None,
            own_cpu_high_ms: None,
            counters: HashMap::new(),
            last_probe_ms: None,
            last_latency_ms: None,
            last_cpu_ms: None,
            lldp_seen: HashMap::new(),
            fs_size: HashMap::new(),
            last_seen_ms: None,
            cadence: VecDeque::with_capacity(CADENCE_N),
            firing: Vec::new(),
        }
    }

    /// Whether an alert of `class` (rule `series`) is firing.
    pub fn is_firing(&self, class: AlertClass, series: &str) -> bool {
        self.firing.contains(&(class, series))
    }

    fn set(&mut self, class: AlertClass, series: &'static str, on: bool, ts_ms: i64, detail: &str) {
        let was = self.is_firing(class, series);
        if was == on {
            return;
        }
        if on {
            self.firing.push((class, series));
        } else {
            self.firing.retain(|f| *f != (class, series));
        }
        let severity = match class {
            AlertClass::Unreachable | AlertClass::Down | AlertClass::Flapping => {
                AlertSeverity::Critical
            }
            _ => AlertSeverity::Warning,
        };
        self.sink.raise(Alert {
            ship: self.ship.to_string(),
            exhausts_at_ms: None,
            subject: self.device.clone(),
            source: AlertSource::Device,
            class,
            severity,
            state: if on {
                AlertState::Firing
            } else {
                AlertState::Cleared
            },
            ts_ms,
            series: Some(series.to_string()),
            score: 1.0,
            detail: detail.to_string(),
        });
    }

    /// Takes one observation of this device.
    pub fn observe(&mut self, obs: &Observation) {
        let ts = obs.ts_ms;
        match &obs.kind {
            ObsKind::Log(l) => {
                self.seen(ts);
                // one pass of one automaton over the line finds every pattern the
                // rules below ask about
                let found = Patterns::find(&l.text);
                // failure lines are notice or worse; most volume (traffic and client
                // logs) is informational and skips the failure rules
                if l.severity <= 5 && found.any_failure() {
                    self.log_event(&l.text, found, ts);
                }
                if found.has(Pat::LldpNeighborUp) || found.has(Pat::LldpNeighborAdded) {
                    self.lldp_up(&l.text, ts);
                }
                if found.0 & Found::PLANNED != 0 {
                    // a planned reboot: of the AP a controller names, else of this device
                    let ap = found
                        .has(Pat::ApRebooting)
                        .then(|| between(&l.text, "|AP ", "@"));
                    self.raise_event(ap, PLANNED_REBOOT.to_string(), &l.text, ts);
                }
                if found.has(Pat::TxUnitHang) || found.has(Pat::NetdevWatchdog) {
                    self.last_hang_ms = Some(ts);
                    self.nic_hang(ts);
                }
                if let Some(own) = reports_high_cpu(l, found) {
                    self.own_cpu(own, ts);
                }
                if l.msg_id.contains("UPDOWN")
                    || l.msg_id.contains("LINK_DOWN")
                    || found.has(Pat::ChangedStateToDown)
                    || found.has(Pat::LinkDown)
                {
                    self.last_updown_ms = Some(ts);
                }
            }
            ObsKind::Metric(m) => {
                // polled telemetry sets the cadence that makes silence news (log
                // lines come when something happens, not on a schedule)
                if self.cadence.back().is_none_or(|b| ts >= b + CADENCE_GAP_MS) {
                    if self.cadence.len() == CADENCE_N {
                        self.cadence.pop_front();
                    }
                    self.cadence.push_back(ts);
                }
                self.metric(m, ts);
            }
        }
    }

    fn metric(&mut self, m: &MetricSample, ts: i64) {
        match m.name.as_str() {
            // a probe result (even a failed one) is telemetry about the device: the
            // silence rule is for devices nobody probes
            "probe_success" => {
                self.seen(ts);
                if newer(&mut self.last_probe_ms, ts) {
                    self.probe(m.value >= 0.5, ts);
                }
            }
            "probe_duration_seconds" => {
                if m.value < 4.9 && newer(&mut self.last_latency_ms, ts) {
                    self.latency(m.value, ts);
                }
            }
            "device_cpu_percent" => {
                self.seen(ts);
                if newer(&mut self.last_cpu_ms, ts) {
                    self.cpu(m.value, ts);
                }
            }
            "ifInErrors" => {
                self.seen(ts);
                self.errors(m, ts);
            }
            "node_filesystem_size_bytes" => {
                self.seen(ts);
                if self.fs_size.len() < MAX_COUNTERS {
                    self.fs_size.insert(label_key(m), m.value);
                }
            }
            "node_filesystem_avail_bytes" => {
                self.seen(ts);
                if let Some(size) = self.fs_size.get(&label_key(m)).copied() {
                    if size > 0.0 {
                        let free = m.value / size;
                        if free < 0.02 {
                            self.set(
                                AlertClass::Degraded,
                                "disk",
                                true,
                                ts,
                                "filesystem under 2 % free",
                            );
                        } else if free > 0.05 {
                            self.set(
                                AlertClass::Degraded,
                                "disk",
                                false,
                                ts,
                                "filesystem has room again",
                            );
                        }
                    }
                }
            }
            _ => self.seen(ts),
        }
    }

    /// Raises a point alert for log lines that name a failure (an interface or
    /// neighbour going down, an AP or camera lost, a link losing lock, a full disk). The
    /// subject is the element the line is about: the AP or camera a controller names,
    /// the link a modem or firewall names, else this device.
    fn log_event(&mut self, text: &str, found: Found, ts: i64) {
        // the rules in order of precedence: the first that matches decides
        let (subject, what, object): (Option<&str>, &'static str, &str) = if let Some(i) = found
            .has(Pat::ChangedStateToDown)
            .then(|| text.find("changed state to down"))
            .flatten()
        {
            (None, "port-down", between(&text[..i], "Interface ", ","))
        } else if found.has(Pat::IfOperStatusDown) {
            (None, "port-down", after(text, "ifName "))
        } else if found.has(Pat::WasTurnedDown) || found.has(Pat::NicLinkIsDown) {
            (None, "port-down", between(text, "Interface ", " "))
        } else if found.has(Pat::LldpNeighborDown) || found.has(Pat::AgedOut) {
            // the port and the neighbour it names: `log:lldp-lost:<port>@<neighbour>`,
            // so the correlator can tell this line and the port-down before it for
            // one loss, and learn which port faces which element
            let (port, neighbour) = lldp_lost(text);
            let mut series = String::with_capacity(64);
            series.push_str("log:lldp-lost");
            if !port.is_empty() || !neighbour.is_empty() {
                series.push(':');
                series.push_str(&port[..floor(port, 40)]);
            }
            if !neighbour.is_empty() {
                series.push('@');
                series.push_str(&neighbour[..floor(neighbour, 64)]);
            }
            return self.raise_event(None, series, text, ts);
        } else if found.has(Pat::ApIsDown) {
            (Some(between(text, "|AP ", "@")), "ap-down", "")
        } else if found.has(Pat::ConnectionLost) {
            (Some(between(text, "Camera \"", "\"")), "camera-lost", "")
        } else if found.has(Pat::NowUnreachable) {
            (None, "sip-unreachable", between(text, "Contact ", "/"))
        } else if found.has(Pat::LockLost) || found.has(Pat::TxMuteOn) {
            (Some(before(text, ":")), "lock-lost", "")
        } else if found.has(Pat::StatusDead) {
            (Some(between(text, "interface=\"", "\"")), "sdwan-dead", "")
        } else if found.has(Pat::BecamePrimary) {
            (None, "ha-failover", "")
        } else if found.has(Pat::NoSpaceLeft) {
            (None, "enospc", "")
        } else {
            // a NIC hang is not an event alert: it feeds the `nic` degraded rule
            return;
        };
        let mut series = String::with_capacity(48);
        series.push_str("log:");
        series.push_str(what);
        if !object.is_empty() {
            series.push(':');
            series.push_str(&object[..floor(object, 40)]);
        }
        self.raise_event(subject, series, text, ts);
    }

    /// Raises a point (event) alert of series `series` about `subject` (else this
    /// device).
    fn raise_event(&mut self, subject: Option<&str>, series: String, text: &str, ts: i64) {
        let subject = subject.filter(|s| !s.is_empty() && s.len() <= 128);
        self.sink.raise(Alert {
            ship: self.ship.to_string(),
            exhausts_at_ms: None,
            subject: subject.unwrap_or(&self.device).to_string(),
            source: AlertSource::Device,
            class: AlertClass::Errors,
            severity: AlertSeverity::Warning,
            state: AlertState::Firing,
            ts_ms: ts,
            series: Some(series),
            score: 1.0,
            detail: text.chars().take(160).collect(),
        });
    }

    /// An LLDP neighbour-up line: raises `log:lldp-seen:<port>@<neighbour>` when the
    /// port's neighbour is new (repeated lines say nothing new).
    fn lldp_up(&mut self, text: &str, ts: i64) {
        let (port, neighbour) = lldp_lost(text);
        if port.is_empty() || neighbour.is_empty() || port.len() > 40 || neighbour.len() > 64 {
            return;
        }
        if self.lldp_seen.get(port).is_some_and(|n| n == neighbour) {
            return;
        }
        if !self.lldp_seen.contains_key(port) && self.lldp_seen.len() >= MAX_COUNTERS {
            return;
        }
        self.lldp_seen
            .insert(port.to_string(), neighbour.to_string());
        let series = format!(
            "{}{port}@{neighbour}",
            crate::incident::correlator::LLDP_SEEN
        );
        self.raise_event(None, series, text, ts);
    }

    fn seen(&mut self, ts: i64) {
        self.last_seen_ms = Some(self.last_seen_ms.map_or(ts, |t| t.max(ts)));
        if self.is_firing(AlertClass::Unreachable, "silent") {
            self.set(
                AlertClass::Unreachable,
                "silent",
                false,
                ts,
                "telemetry resumed",
            );
        }
    }

    fn probe(&mut self, ok: bool, ts: i64) {
        if ok && self.consecutive_fail >= 3 {
            // back from an outage: its failures were one outage, not intermittent
            // loss (they would otherwise make the next chance loss look intermittent)
            self.probes.clear();
        }
        if self.probes.len() == PROBE_HISTORY {
            self.probes.pop_front();
        }
        self.probes.push_back(ok);
        self.consecutive_fail = if ok { 0 } else { self.consecutive_fail + 1 };
        if ok {
            self.set(
                AlertClass::Unreachable,
                PROBE_MISS,
                false,
                ts,
                "probe answered",
            );
        } else {
            self.last_bad_probe_ms = Some(ts);
            self.nic_hang(ts);
            // the first miss while nothing about the probes is firing yet: a suspicion
            let known = self.is_firing(AlertClass::Unreachable, "probe")
                || self.is_firing(AlertClass::Flapping, "probe")
                || self.is_firing(AlertClass::Degraded, "probe");
            if self.consecutive_fail == 1 && !known {
                self.set(
                    AlertClass::Unreachable,
                    PROBE_MISS,
                    true,
                    ts,
                    "a probe failed",
                );
            }
        }
        let fails = self.probes.iter().filter(|p| !**p).count();
        let transitions = self
            .probes
            .iter()
            .zip(self.probes.iter().skip(1))
            .filter(|(a, b)| **a && !**b)
            .count();
        let recent_fail = self.probes.iter().rev().take(6).any(|p| !*p);
        let updown = self.last_updown_ms.is_some_and(|t| ts - t <= 120_000);
        let intermittent =
            fails >= INTERMITTENT_FAILS && transitions >= 2 && self.consecutive_fail < 3;
        if intermittent && transitions >= 3 && updown {
            self.set(
                AlertClass::Flapping,
                "probe",
                true,
                ts,
                "link going up and down",
            );
        } else if intermittent && !self.is_firing(AlertClass::Flapping, "probe") {
            self.set(
                AlertClass::Degraded,
                "probe",
                true,
                ts,
                "intermittent probe loss",
            );
        }
        if !recent_fail {
            self.set(AlertClass::Flapping, "probe", false, ts, "stable again");
            self.set(AlertClass::Degraded, "probe", false, ts, "probes answered");
        }
        let lossy = self.is_firing(AlertClass::Flapping, "probe")
            || (self.is_firing(AlertClass::Degraded, "probe") && self.consecutive_fail < 3);
        if self.consecutive_fail >= 2 && !lossy {
            self.set(AlertClass::Unreachable, "probe", true, ts, "probes fail");
        } else if ok {
            self.set(
                AlertClass::Unreachable,
                "probe",
                false,
                ts,
                "probe answered",
            );
        }
    }

    /// The `nic` rule: a NIC hang line within [`NIC_HANG_WINDOW_MS`] of a failed or slow
    /// probe (either order) is a degraded host; it clears after [`NIC_QUIET_MS`]
    /// without a hang line.
    fn nic_hang(&mut self, ts: i64) {
        let near = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() <= NIC_HANG_WINDOW_MS,
            _ => false,
        };
        if near(self.last_hang_ms, self.last_bad_probe_ms) {
            self.set(
                AlertClass::Degraded,
                "nic",
                true,
                ts,
                "NIC hang and failing or slow probes",
            );
        }
    }

    fn settle_nic(&mut self, now_ms: i64) {
        if self.last_hang_ms.is_some_and(|t| now_ms - t > NIC_QUIET_MS) {
            self.set(
                AlertClass::Degraded,
                "nic",
                false,
                now_ms,
                "no NIC hang for 5 minutes",
            );
        }
    }

    fn latency(&mut self, secs: f64, ts: i64) {
        if secs > 0.15 {
            self.last_bad_probe_ms = Some(ts);
            self.last_slow_probe_ms = Some(ts);
            self.nic_hang(ts);
            self.cpu_confirmed(ts);
        } else if secs < 0.1 {
            self.last_slow_probe_ms = None;
        }
        // a slow answer after a failed probe: lossy and slow is degraded, not down
        if secs > 0.15
            && self.consecutive_fail == 0
            && self.probes.iter().rev().nth(1) == Some(&false)
        {
            self.set(
                AlertClass::Degraded,
                "probe",
                true,
                ts,
                "probe loss and slow answers",
            );
        }
        if secs > 0.15 {
            self.slow += 1;
            self.fast = 0;
        } else if secs < 0.1 {
            self.fast += 1;
            self.slow = 0;
        }
        if self.slow >= 2 {
            self.set(
                AlertClass::Degraded,
                "latency",
                true,
                ts,
                "slow to answer probes",
            );
        } else if self.fast >= 3 {
            self.set(
                AlertClass::Degraded,
                "latency",
                false,
                ts,
                "answers promptly",
            );
        }
    }

    /// The device's own high-CPU line and, within [`NIC_HANG_WINDOW_MS`] of it, a CPU
    /// sample at or above 80 % (not under the clear threshold) or a slow probe answer
    /// (over 150 ms, with no prompt one since): saturated without waiting for a second
    /// poll. The device reports its own CPU at once (FortiOS at
    /// 90 %, a Cisco process hogging the CPU for over 2 s); a polled sample is an
    /// average over the last minute or so and trails a sudden rise (the first one after
    /// the onset typically reads 80–90 %), so it is asked only not to contradict it.
    fn cpu_confirmed(&mut self, ts: i64) {
        let near = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() <= NIC_HANG_WINDOW_MS,
            _ => false,
        };
        if near(self.last_cpu_log_ms, self.last_cpu_warm_ms) {
            self.fire_cpu(ts, "CPU at or above 80 % and the device logs high CPU");
        } else if near(self.last_cpu_log_ms, self.last_slow_probe_ms) {
            self.fire_cpu(ts, "slow to answer and the device logs high CPU");
        }
    }

    /// The device's own word on its CPU: a high-CPU line (a figure ≥ 90 %, or a
    /// process hogging it) confirms a warm sample ([`HealthAlerts::cpu_confirmed`]); two
    /// own figures ≥ 90 % in a row, from [`OWN_CPU_MIN_GAP_MS`] to
    /// [`NIC_HANG_WINDOW_MS`] apart, are saturation as two samples are (the device
    /// measures its own CPU more often than the poller asks, and without its lag).
    fn own_cpu(&mut self, own: OwnCpu, ts: i64) {
        match own {
            OwnCpu::Hog => {}
            OwnCpu::Reading(v) if v >= 90 => match self.own_cpu_high_ms {
                Some(t) if ts - t >= OWN_CPU_MIN_GAP_MS && ts - t <= NIC_HANG_WINDOW_MS => {
                    self.fire_cpu(ts, "the device reports its CPU at or above 90 % twice");
                    self.own_cpu_high_ms = Some(ts);
                }
                Some(t) if ts - t < OWN_CPU_MIN_GAP_MS && ts >= t => {}
                _ => self.own_cpu_high_ms = Some(ts),
            },
            OwnCpu::Reading(_) => {
                self.own_cpu_high_ms = None;
                return;
            }
        }
        self.last_cpu_log_ms = Some(ts);
        self.cpu_confirmed(ts);
    }

    fn fire_cpu(&mut self, ts: i64, detail: &str) {
        self.set(AlertClass::Degraded, "cpu", true, ts, detail);
        // clearing takes two samples under 80 % from here on
        self.cpu_low = 0;
    }

    fn cpu(&mut self, pct: f64, ts: i64) {
        if pct >= 80.0 {
            self.last_cpu_warm_ms = Some(ts);
            self.cpu_low = 0;
            self.cpu_confirmed(ts);
        } else {
            self.last_cpu_warm_ms = None;
        }
        if pct >= 90.0 {
            self.cpu_high += 1;
        } else if pct < 80.0 {
            self.cpu_low += 1;
            self.cpu_high = 0;
        }
        if self.cpu_high >= 2 {
            self.fire_cpu(ts, "CPU at or above 90 %");
        } else if pct < 80.0 && self.cpu_low >= 2 {
            self.set(
                AlertClass::Degraded,
                "cpu",
                false,
                ts,
                "CPU back under 80 %",
            );
        }
    }

    fn errors(&mut self, m: &MetricSample, ts: i64) {
        let key = label_key(m);
        let prev = self.counters.get(&key).copied();
        if prev.is_some_and(|(t0, _)| ts <= t0) {
            return; // a duplicate or late sample
        }
        if prev.is_some() || self.counters.len() < MAX_COUNTERS {
            self.counters.insert(key, (ts, m.value));
        }
        if let Some((t0, v0)) = prev {
            let dt = (ts - t0) as f64 / 1000.0;
            // a counter reset (device reboot) is not a burst
            if dt > 0.0 && m.value >= v0 && (m.value - v0) / dt > self.rules.errors_per_s {
                self.last_errors_ms = Some(ts);
                if !self.is_firing(AlertClass::Errors, "interface") {
                    let label = |k: &str| {
                        m.labels
                            .iter()
                            .find(|(n, _)| n == k)
                            .map(|(_, v)| v.chars().take(64).collect::<String>())
                    };
                    let detail = match (label("ifName"), label("ifAlias")) {
                        (Some(p), Some(a)) if !a.is_empty() => {
                            format!("{}{p} ({a})", crate::incident::correlator::ERRORS_ON)
                        }
                        (Some(p), _) => format!("{}{p}", crate::incident::correlator::ERRORS_ON),
                        _ => "interface input errors".to_string(),
                    };
                    self.set(AlertClass::Errors, "interface", true, ts, &detail);
                }
            }
        }
        self.settle_errors(ts);
    }

    fn settle_errors(&mut self, now_ms: i64) {
        if self.last_errors_ms.is_some_and(|t| now_ms - t > 60_000) {
            self.set(
                AlertClass::Errors,
                "interface",
                false,
                now_ms,
                "interface errors stopped",
            );
        }
    }

    /// Advances event time without an observation: silence detection.
    pub fn tick(&mut self, now_ms: i64) {
        self.settle_errors(now_ms);
        self.settle_nic(now_ms);
        // silence means something only from a device heard regularly (polled, or
        // chatty): one that logs a line an hour is quiet, not unreachable
        let regular = self.cadence.len() == CADENCE_N
            && self
                .cadence
                .back()
                .zip(self.cadence.front())
                .is_some_and(|(last, first)| last - first <= self.rules.silence_ms);
        if let (Some(t), true) = (self.last_seen_ms, regular) {
            if now_ms - t > self.rules.silence_ms {
                self.set(
                    AlertClass::Unreachable,
                    "silent",
                    true,
                    now_ms,
                    "no telemetry",
                );
            }
        }
    }
}

/// Whether `ts` is newer than the last reading of a kind (recording it if so).
fn newer(last: &mut Option<i64>, ts: i64) -> bool {
    if last.is_some_and(|t| ts <= t) {
        return false;
    }
    *last = Some(ts);
    true
}

fn label_key(m: &MetricSample) -> String {
    let mut labels: Vec<&(String, String)> = m
        .labels
        .iter()
        .filter(|(k, _)| k != "device" && k != "instance" && k != "job")
        .collect();
    labels.sort();
    let mut key = String::new();
    for (k, v) in labels {
        key.push_str(k);
        key.push('=');
        key.push_str(v);
        key.push(' ');
    }
    key
}

/// Whether a line of the device is it reporting its own CPU as high: Cisco `CPUHOG`,
/// Junos `..._CPU_HIGH`, or a FortiOS performance report with an average CPU ≥ 90 %.
fn reports_high_cpu(l: &LogObs, found: Found) -> Option<OwnCpu> {
    let reading = |start: &str| -> Option<OwnCpu> {
        let digits: String = after(&l.text, start)
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse::<u32>().ok().map(OwnCpu::Reading)
    };
    if found.has(Pat::AverageCpu) {
        return reading("average CPU: ");
    }
    if found.has(Pat::CpuHigh) || l.msg_id.contains("CPU_HIGH") {
        return reading("CPU utilization ").or(Some(OwnCpu::Hog));
    }
    if found.has(Pat::CpuHog) || l.msg_id.contains("CPUHOG") {
        return Some(OwnCpu::Hog);
    }
    None
}

/// What a device's own line says about its CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OwnCpu {
    /// A process hogs the CPU (Cisco `CPUHOG`), or high CPU without a figure.
    Hog,
    /// The device's own CPU figure, percent (FortiOS `average CPU: `, Junos `CPU
    /// utilization N percent`).
    Reading(u32),
}

/// The largest char boundary of `s` at or under `max` bytes (a safe truncation).
fn floor(s: &str, max: usize) -> usize {
    let mut i = s.len().min(max);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The port and the neighbour an LLDP neighbour-lost line names (either may be `""`):
/// Junos `LLDP_NEIGHBOR_DOWN: ... on port ge-0/0/3, system-name pbx-1`, Cisco `LLDP
/// neighbor pbx-1 on Interface Gi1/0/7 aged out`, FortiOS `LLDP neighbor pbx-1 on port3
/// aged out`.
fn lldp_lost(text: &str) -> (&str, &str) {
    fn word(s: &str) -> &str {
        let end = s
            .find(|c: char| c.is_whitespace() || matches!(c, ',' | '"' | ';' | ')'))
            .unwrap_or(s.len());
        &s[..end]
    }
    if let Some(i) = text.find("on port ") {
        let port = word(&text[i + "on port ".len()..]);
        let neighbour = text
            .find("system-name ")
            .map_or("", |j| word(&text[j + "system-name ".len()..]));
        return (port, neighbour);
    }
    // `neighbor <name> on [Interface ]<port>`: the first `neighbor` followed so (a
    // FortiOS line also says `logdesc="LLDP neighbor removed"`)
    for (i, _) in text.match_indices("neighbor ") {
        let rest = &text[i + "neighbor ".len()..];
        let name = word(rest);
        if let Some(tail) = rest[name.len()..].strip_prefix(" on ") {
            let tail = tail.strip_prefix("Interface ").unwrap_or(tail);
            return (word(tail), name);
        }
    }
    ("", "")
}

/// The text after `start` up to `end` (or the end), or `""`.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let Some(i) = text.find(start) else {
        return "";
    };
    let rest = &text[i + start.len()..];
    rest.find(end).map_or(rest, |j| &rest[..j]).trim()
}

fn after<'a>(text: &'a str, start: &str) -> &'a str {
    text.find(start)
        .map_or("", |i| text[i + start.len()..].trim())
}

fn before<'a>(text: &'a str, end: &str) -> &'a str {
    text.find(end).map_or("", |i| text[..i].trim())
}

/// The substrings the health rules look for in a log line, one automaton for all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Pat {
    ChangedStateToDown,
    IfOperStatusDown,
    WasTurnedDown,
    NicLinkIsDown,
    LldpNeighborDown,
    AgedOut,
    ApIsDown,
    ConnectionLost,
    NowUnreachable,
    LockLost,
    TxMuteOn,
    StatusDead,
    BecamePrimary,
    NoSpaceLeft,
    LinkDown,
    TxUnitHang,
    NetdevWatchdog,
    CpuHog,
    CpuHigh,
    AverageCpu,
    LldpNeighborUp,
    LldpNeighborAdded,
    ApRebooting,
    ReloadRequested,
    UiRebootEvent,
    DeviceRebooted,
    WillRebootNow,
    RebootingColon,
}

/// The patterns, in the order of [`Pat`].
const PATTERNS: [&str; 28] = [
    "changed state to down",
    "ifOperStatus down",
    "was turned down",
    "NIC Link is Down",
    "LLDP_NEIGHBOR_DOWN",
    "aged out",
    "AP is down",
    "): Connection lost",
    "is now Unreachable",
    "demodulator lock lost",
    "TX mute ON",
    "status=\"dead\"",
    "became primary",
    "No space left on device",
    "LINK_DOWN",
    "Tx Unit Hang",
    "NETDEV WATCHDOG",
    "CPUHOG",
    "CPU_HIGH",
    "average CPU: ",
    "LLDP_NEIGHBOR_UP",
    "LLDP neighbor added",
    "AP rebooting",
    "Reload requested",
    "UI_REBOOT_EVENT",
    "logdesc=\"Device rebooted\"",
    "The system will reboot now",
    "Rebooting: ",
];

/// Which [`PATTERNS`] occur in a line (a bit per pattern).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Found(u32);

impl Found {
    /// The lines that announce a planned reboot (a controller's scheduled AP image
    /// upgrade, an operator's reload, a host's scheduled shutdown).
    const PLANNED: u32 = (1 << Pat::ApRebooting as u8)
        | (1 << Pat::ReloadRequested as u8)
        | (1 << Pat::UiRebootEvent as u8)
        | (1 << Pat::DeviceRebooted as u8)
        | (1 << Pat::WillRebootNow as u8)
        | (1 << Pat::RebootingColon as u8);

    fn has(self, p: Pat) -> bool {
        self.0 & (1 << p as u8) != 0
    }

    /// Whether any pattern of the failure rules (all but `LINK_DOWN` and the NIC hang
    /// lines, which feed state rules) occurs.
    fn any_failure(self) -> bool {
        let state_only = (1 << Pat::LinkDown as u8)
            | (1 << Pat::TxUnitHang as u8)
            | (1 << Pat::NetdevWatchdog as u8)
            | (1 << Pat::CpuHog as u8)
            | (1 << Pat::CpuHigh as u8)
            | (1 << Pat::AverageCpu as u8)
            | (1 << Pat::LldpNeighborUp as u8)
            | (1 << Pat::LldpNeighborAdded as u8)
            | Found::PLANNED;
        self.0 & !state_only != 0
    }
}

struct Patterns;

impl Patterns {
    /// Every pattern occurring in `text`, overlapping ones included (the rules ask
    /// "does the line contain X", whatever else it contains around it).
    fn find(text: &str) -> Found {
        static AUTOMATON: std::sync::LazyLock<Option<aho_corasick::AhoCorasick>> =
            std::sync::LazyLock::new(|| aho_corasick::AhoCorasick::new(PATTERNS).ok());
        // Most lines hold none of the patterns. A packed (SIMD, Teddy) searcher answers
        // "any pattern here?" about 3× faster than the automaton's overlapping walk,
        // which then runs only on lines that hold one (a leftmost match exists iff
        // some pattern occurs).
        static GATE: std::sync::LazyLock<Option<aho_corasick::packed::Searcher>> =
            std::sync::LazyLock::new(|| {
                aho_corasick::packed::Config::new()
                    .builder()
                    .extend(PATTERNS)
                    .build()
            });
        if GATE.as_ref().is_some_and(|g| g.find(text).is_none()) {
            return Found(0);
        }
        let Some(ac) = AUTOMATON.as_ref() else {
            // cannot happen with these fixed patterns; searched one by one if it did
            return Found(
                PATTERNS
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| text.contains(*p))
                    .fold(0, |m, (i, _)| m | 1 << i),
            );
        };
        let mut mask = 0u32;
        for m in ac.find_overlapping_iter(text) {
            mask |= 1 << m.pattern().as_usize();
        }
        Found(mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::record::ObservationExt;
    use seawatch_model::MetricSample;

    fn m(name: &str, v: f64, t_s: i64) -> Observation {
        Observation::from_metric(MetricSample {
            device: "d".into(),
            name: name.into(),
            labels: vec![("ifName".into(), "Gi1/0/1".into())],
            value: v,
            ts_ms: t_s * 1000,
        })
    }

    fn tracker() -> (HealthAlerts, tokio::sync::mpsc::UnboundedReceiver<Alert>) {
        let (sink, rx) = AlertSink::channel();
        (
            HealthAlerts::new("s", "d", sink, HealthRules::default()),
            rx,
        )
    }

    /// The alerts raised since the last drain, first-miss suspicions left out.
    fn drain(
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<Alert>,
    ) -> Vec<(AlertClass, AlertState)> {
        drain_series(rx)
            .into_iter()
            .filter(|(_, s, _)| s != PROBE_MISS)
            .map(|(c, _, st)| (c, st))
            .collect()
    }

    fn drain_series(
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<Alert>,
    ) -> Vec<(AlertClass, String, AlertState)> {
        let mut v = Vec::new();
        while let Ok(a) = rx.try_recv() {
            v.push((a.class, a.series.unwrap_or_default(), a.state));
        }
        v
    }

    fn log(text: &str, severity: u8, t_s: i64) -> Observation {
        Observation {
            device: "d".into(),
            ts_ms: t_s * 1000,
            kind: ObsKind::Log(LogObs {
                severity,
                app: "".into(),
                msg_id: "".into(),
                text: text.into(),
            }),
        }
    }

    /// An Aruba controller's "AP is down" line, decoded from the wire as the ingest
    /// pipeline does, raises its alert about the AP named in the `|AP name@ip proc|`
    /// block, not about the controller that logged it.
    #[test]
    fn planned_reboot_lines_name_the_ap_or_the_device_itself() {
        let line = "<141>Mar 14 02:12:41 2025 wlc-01 sapd[3411]: <404003> <NOTI> |AP D9-FWD-114@10.40.9.114 sapd| AP rebooting: scheduled image upgrade to 8.10.0.12 (maintenance window 02:00-04:00)";
        let rec = crate::ingest::decode::parse_syslog(
            line.as_bytes(),
            &crate::ingest::decode::SyslogOptions::at(1_741_960_800_000),
        )
        .unwrap();
        let obs = Observation::from_syslog(&rec, 0, None).unwrap();
        let (sink, mut rx) = AlertSink::channel();
        let mut h = HealthAlerts::new("s", "wlc-01", sink, HealthRules::default());
        h.observe(&obs);
        let a = rx.try_recv().expect("a planned-reboot fact");
        assert_eq!(
            (a.subject.as_str(), a.series.as_deref()),
            ("D9-FWD-114", Some(PLANNED_REBOOT))
        );
        for text in [
            "Reload requested by netadm on vty0 (10.20.0.15). Reload Reason: Scheduled maintenance.",
            "UI_REBOOT_EVENT: System rebooted by netadm [reason: scheduled maintenance]",
            "logdesc=\"Device rebooted\" user=\"netadm\" action=\"reboot\"",
            "The system will reboot now! (scheduled maintenance)",
        ] {
            let (mut h, mut rx) = tracker();
            h.observe(&log(text, 5, 10));
            let got = drain_series(&mut rx);
            assert_eq!(got.len(), 1, "{text}: {got:?}");
            assert_eq!(got[0].1, PLANNED_REBOOT, "{text}");
        }
    }

    /// A duplicated failed probe is one lost probe (no unreachable alert); a late
    /// sample older than the last feeds no rule.
    #[test]
    fn duplicated_and_late_probes_are_not_new_readings() {
        let (mut h, mut rx) = tracker();
        h.observe(&m("probe_success", 1.0, 0));
        h.observe(&m("probe_success", 0.0, 10));
        h.observe(&m("probe_success", 0.0, 10));
        h.observe(&m("probe_success", 0.0, 5));
        assert!(drain(&mut rx).is_empty());
        h.observe(&m("probe_success", 0.0, 20));
        assert_eq!(
            drain(&mut rx),
            vec![(AlertClass::Unreachable, AlertState::Firing)]
        );
        // a CPU sample delivered twice is one reading
        let (mut h, mut rx) = tracker();
        h.observe(&m("device_cpu_percent", 95.0, 0));
        h.observe(&m("device_cpu_percent", 95.0, 0));
        assert!(drain(&mut rx).is_empty());
    }

    /// A device back from an outage whose next probes lose one now and then (benign
    /// loss) is not intermittently reachable: the outage's failures are forgotten.
    #[test]
    fn an_outage_then_chance_losses_is_not_intermittent_loss() {
        let (mut h, mut rx) = tracker();
        let mut t = 0;
        let mut probe = |ok: bool| {
            t += 30;
            h.observe(&m("probe_success", f64::from(u8::from(ok)), t));
        };
        for _ in 0..5 {
            probe(true);
        }
        for _ in 0..10 {
            probe(false);
        }
        for k in 0..14 {
            probe(k != 4 && k != 8);
        }
        let got = drain(&mut rx);
        assert!(
            !got.contains(&(AlertClass::Degraded, AlertState::Firing)),
            "{got:?}"
        );
        assert_eq!(
            got,
            vec![
                (AlertClass::Unreachable, AlertState::Firing),
                (AlertClass::Unreachable, AlertState::Cleared)
            ]
        );
    }

    /// The errors alert names the port and its description (for the correlator to
    /// find the neighbour on it).
    #[test]
    fn the_errors_alert_names_its_port_and_description() {
        let (sink, mut rx) = AlertSink::channel();
        let mut h = HealthAlerts::new("s", "d", sink, HealthRules::default());
        let sample = |v: f64, t: i64| {
            Observation::from_metric(MetricSample {
                device: "d".into(),
                name: "ifInErrors".into(),
                labels: vec![
                    ("ifName".into(), "Gi1/0/9".into()),
                    ("ifAlias".into(), "till pos-3".into()),
                ],
                value: v,
                ts_ms: t * 1000,
            })
        };
        h.observe(&sample(0.0, 0));
        h.observe(&sample(1000.0, 10));
        let a = rx.try_recv().unwrap();
        assert_eq!(a.detail, "interface input errors on Gi1/0/9 (till pos-3)");
    }

    #[test]
    fn a_controllers_ap_down_line_names_the_ap() {
        let line = "<142>Mar 14 03:12:41 2025 wlc-01 stm[3411]: <404400> <NOTI> |AP D9-FWD-114@10.40.9.114 sapd| AP is down (heartbeat timeout)";
        let rec = crate::ingest::decode::parse_syslog(
            line.as_bytes(),
            &crate::ingest::decode::SyslogOptions::at(1_741_960_800_000),
        )
        .unwrap();
        let obs = Observation::from_syslog(&rec, 0, None).unwrap();
        assert_eq!(obs.device, "wlc-01");
        let (sink, mut rx) = AlertSink::channel();
        let mut h = HealthAlerts::new("s", "wlc-01", sink, HealthRules::default());
        h.observe(&obs);
        let a = rx.try_recv().expect("an ap-down alert");
        assert_eq!(a.subject, "D9-FWD-114");
        assert_eq!(a.series.as_deref(), Some("log:ap-down"));
        // the stored line keeps the AP's name too
        let ObsKind::Log(l) = &obs.kind else {
            panic!("a log line")
        };
        assert_eq!(
            l.text,
            "|AP D9-FWD-114@10.40.9.114 sapd| AP is down (heartbeat timeout)"
        );
    }

    /// An LLDP neighbour-lost line names the port and the neighbour in its series
    /// (`log:lldp-lost:<port>@<neighbour>`), for each vendor's wording; a port-down
    /// line names the port.
    #[test]
    fn lldp_and_port_down_lines_name_their_port_and_neighbour() {
        let series = |text: &str| {
            let (mut h, mut rx) = tracker();
            h.observe(&log(text, 5, 0));
            drain_series(&mut rx).first().map(|s| s.1.clone())
        };
        assert_eq!(
            series(
                "LLDP_NEIGHBOR_DOWN: A neighbor has gone down on port ge-0/0/3, system-name pbx-1"
            )
            .as_deref(),
            Some("log:lldp-lost:ge-0/0/3@pbx-1")
        );
        assert_eq!(
            series(
                "LLDP neighbor pos-3 on Interface GigabitEthernet1/0/7 aged out (hold time 120 s)"
            )
            .as_deref(),
            Some("log:lldp-lost:GigabitEthernet1/0/7@pos-3")
        );
        assert_eq!(
            series(
                "logdesc=\"LLDP neighbor removed\" msg=\"LLDP neighbor core-1 on port3 aged out\""
            )
            .as_deref(),
            Some("log:lldp-lost:port3@core-1")
        );
        assert_eq!(
            series("LLDP_NEIGHBOR_DOWN: lost a neighbour").as_deref(),
            Some("log:lldp-lost")
        );
        assert_eq!(
            series("Interface GigabitEthernet1/0/7, changed state to down").as_deref(),
            Some("log:port-down:GigabitEthernet1/0/7")
        );
    }

    /// The first failed probe raises the `probe-miss` suspicion (once, while the
    /// failure lasts); the second raises the ordinary unreachable alert; an answer
    /// clears both. A device whose probe loss is already known (degraded) raises none.
    #[test]
    fn the_first_failed_probe_raises_a_suspicion_cleared_by_an_answer() {
        let (mut h, mut rx) = tracker();
        h.observe(&m("probe_success", 1.0, 0));
        h.observe(&m("probe_success", 0.0, 10));
        let miss = (
            AlertClass::Unreachable,
            PROBE_MISS.to_string(),
            AlertState::Firing,
        );
        assert_eq!(drain_series(&mut rx), vec![miss.clone()]);
        h.observe(&m("probe_success", 0.0, 20));
        h.observe(&m("probe_success", 0.0, 30));
        assert_eq!(
            drain_series(&mut rx),
            vec![(AlertClass::Unreachable, "probe".into(), AlertState::Firing)]
        );
        h.observe(&m("probe_success", 1.0, 40));
        let got = drain_series(&mut rx);
        assert!(got.contains(&(
            AlertClass::Unreachable,
            PROBE_MISS.into(),
            AlertState::Cleared
        )));
        assert!(got.contains(&(AlertClass::Unreachable, "probe".into(), AlertState::Cleared)));
        // a lone lost probe: suspicion raised and withdrawn, no alert
        let (mut h, mut rx) = tracker();
        h.observe(&m("probe_success", 1.0, 40));
        h.observe(&m("probe_success", 0.0, 50));
        h.observe(&m("probe_success", 1.0, 60));
        assert_eq!(
            drain_series(&mut rx),
            vec![
                miss,
                (
                    AlertClass::Unreachable,
                    PROBE_MISS.into(),
                    AlertState::Cleared
                )
            ]
        );
    }

    /// A host logging a NIC hang near a failed or slow probe (either order) is
    /// degraded at once; it clears five minutes after the last hang line. A hang line
    /// with prompt answers, or slow answers without one, raise nothing of the kind.
    #[test]
    fn a_nic_hang_near_a_bad_probe_is_degraded_at_once() {
        let hang = "ixgbe 0000:03:00.0 eth0: Detected Tx Unit Hang, Tx Queue <3>";
        // hang first, then one slow answer
        let (mut h, mut rx) = tracker();
        h.observe(&m("probe_duration_seconds", 0.002, 0));
        h.observe(&log(hang, 4, 5));
        assert!(drain(&mut rx).is_empty());
        h.observe(&m("probe_duration_seconds", 0.9, 30));
        assert_eq!(
            drain_series(&mut rx),
            vec![(AlertClass::Degraded, "nic".into(), AlertState::Firing)]
        );
        // (the silence rule fires meanwhile: nothing else was heard)
        h.tick(300_000);
        assert!(!drain(&mut rx)
            .iter()
            .any(|(c, _)| *c == AlertClass::Degraded));
        h.tick(306_000);
        assert!(drain(&mut rx).contains(&(AlertClass::Degraded, AlertState::Cleared)));
        // a failed probe first, the hang line a minute later
        let (mut h, mut rx) = tracker();
        h.observe(&m("probe_success", 0.0, 0));
        let _ = drain_series(&mut rx);
        h.observe(&log(hang, 4, 60));
        assert_eq!(
            drain_series(&mut rx),
            vec![(AlertClass::Degraded, "nic".into(), AlertState::Firing)]
        );
        // too far apart, or prompt answers: nothing
        let (mut h, mut rx) = tracker();
        h.observe(&m("probe_duration_seconds", 0.9, 0));
        h.observe(&log(hang, 4, 200));
        h.observe(&m("probe_duration_seconds", 0.002, 210));
        assert!(drain(&mut rx).is_empty());
    }

    /// The automaton answers "does the line contain X" for every pattern exactly as
    /// one `contains` per pattern does, overlapping and repeated patterns included.
    #[test]
    fn the_automaton_finds_what_contains_finds() {
        let lines = [
            "%LINK-3-UPDOWN: Interface GigabitEthernet1/0/7, changed state to down",
            "LLDP_NEIGHBOR_DOWN: neighbour on port Gi1/0/2, aged out; LINK_DOWN",
            "|AP ap-deck7-12@10.1.2.3: AP is down ): Connection lost TX mute ON",
            "demodulator lock lost: status=\"dead\" became primary No space left on device",
            "NIC Link is Down ifOperStatus down was turned down is now Unreachable",
            "LINK_DOWNLINK_DOWN aged outaged out",
            "ordinary traffic line, nothing to see",
            "",
        ];
        for line in lines {
            let want = PATTERNS
                .iter()
                .enumerate()
                .filter(|(_, p)| line.contains(*p))
                .fold(0u32, |m, (i, _)| m | 1 << i);
            assert_eq!(Patterns::find(line), Found(want), "{line}");
        }
        let all = Patterns::find(&PATTERNS.concat());
        assert_eq!(all.0.count_ones() as usize, PATTERNS.len());
        assert!(!Found(1 << Pat::LinkDown as u8).any_failure());
        assert!(Found(1 << Pat::AgedOut as u8).any_failure());
    }

    #[test]
    fn two_failed_probes_make_it_unreachable_one_success_clears() {
        let (mut h, mut rx) = tracker();
        h.observe(&m("probe_success", 1.0, 0));
        h.observe(&m("probe_success", 0.0, 10));
        assert!(drain(&mut rx).is_empty());
        h.observe(&m("probe_success", 0.0, 20));
        h.observe(&m("probe_success", 0.0, 30));
        assert_eq!(
            drain(&mut rx),
            vec![(AlertClass::Unreachable, AlertState::Firing)]
        );
        h.observe(&m("probe_success", 1.0, 40));
        assert_eq!(
            drain(&mut rx),
            vec![(AlertClass::Unreachable, AlertState::Cleared)]
        );
    }

    #[test]
    fn error_counter_bursts_fire_and_clear_after_a_quiet_minute() {
        let (mut h, mut rx) = tracker();
        h.observe(&m("ifInErrors", 100.0, 0));
        h.observe(&m("ifInErrors", 101.0, 10));
        assert!(drain(&mut rx).is_empty());
        h.observe(&m("ifInErrors", 2000.0, 20));
        assert_eq!(
            drain(&mut rx),
            vec![(AlertClass::Errors, AlertState::Firing)]
        );
        // counter reset is not a burst
        h.observe(&m("ifInErrors", 0.0, 30));
        h.tick(85_000);
        assert_eq!(
            drain(&mut rx),
            vec![(AlertClass::Errors, AlertState::Cleared)]
        );
    }

    /// One CPU sample at 90 % or more next to the device's own high-CPU line (either
    /// order) is saturation at once; a low FortiOS average or no line waits for the
    /// second sample.
    #[test]
    fn one_high_cpu_sample_with_the_devices_own_high_cpu_line_is_degraded() {
        let perf = |cpu: u32| {
            format!("logdesc=\"System performance statistics\" action=\"perf-stats\" cpu={cpu} msg=\"Performance statistics: average CPU: {cpu}\"")
        };
        let (mut h, mut rx) = tracker();
        h.observe(&log(&perf(96), 4, 0));
        h.observe(&m("device_cpu_percent", 95.0, 30));
        assert_eq!(
            drain_series(&mut rx),
            vec![(AlertClass::Degraded, "cpu".into(), AlertState::Firing)]
        );
        let (mut h, mut rx) = tracker();
        h.observe(&m("device_cpu_percent", 95.0, 0));
        h.observe(&log(
            "Task is running for (2300)msecs, more than (2000)msecs (0/0),process = IP Input.",
            3,
            20,
        ));
        assert!(drain(&mut rx).is_empty());
        let mut hog = log("Task is running for (2300)msecs", 3, 25);
        if let ObsKind::Log(l) = &mut hog.kind {
            l.msg_id = "CPUHOG".into();
        }
        h.observe(&hog);
        assert_eq!(
            drain(&mut rx),
            vec![(AlertClass::Degraded, AlertState::Firing)]
        );
        let (mut h, mut rx) = tracker();
        h.observe(&log(&perf(41), 5, 0));
        h.observe(&m("device_cpu_percent", 95.0, 30));
        assert!(drain(&mut rx).is_empty());
    }

    /// The device's own CPU figure at or above 90 % twice in a row (20 s to 2 minutes
    /// apart) is saturation without any polled sample; a repeated line, a lower figure
    /// between, or figures too far apart are not. Junos states its figure too.
    #[test]
    fn the_devices_own_cpu_figure_twice_in_a_row_is_degraded() {
        let perf = |cpu: u32| {
            format!("logdesc=\"System performance statistics\" action=\"perf-stats\" cpu={cpu} msg=\"Performance statistics: average CPU: {cpu}\"")
        };
        let (mut h, mut rx) = tracker();
        h.observe(&log(&perf(94), 4, 7));
        h.observe(&log(&perf(94), 4, 12));
        assert!(drain(&mut rx).is_empty());
        h.observe(&log(&perf(97), 4, 37));
        assert_eq!(
            drain_series(&mut rx),
            vec![(AlertClass::Degraded, "cpu".into(), AlertState::Firing)]
        );
        // a lagging polled sample under 80 % right after does not clear it; two do
        h.observe(&m("device_cpu_percent", 78.0, 40));
        assert!(drain(&mut rx).is_empty());
        h.observe(&m("device_cpu_percent", 60.0, 85));
        assert_eq!(
            drain(&mut rx),
            vec![(AlertClass::Degraded, AlertState::Cleared)]
        );
        let (mut h, mut rx) = tracker();
        h.observe(&log(&perf(94), 4, 0));
        h.observe(&log(&perf(60), 4, 30));
        h.observe(&log(&perf(94), 4, 60));
        h.observe(&log(&perf(95), 4, 300));
        assert!(drain(&mut rx).is_empty());
        let junos = |v: u32| {
            let mut o = log(
                &format!("CHASSISD_RE_CPU_HIGH: Routing Engine CPU utilization {v} percent exceeds threshold 90 percent"),
                4,
                0,
            );
            if let ObsKind::Log(l) = &mut o.kind {
                l.msg_id = "CHASSISD_RE_CPU_HIGH".into();
            }
            o
        };
        let (mut h, mut rx) = tracker();
        let mut a = junos(93);
        a.ts_ms = 0;
        h.observe(&a);
        let mut b = junos(96);
        b.ts_ms = 30_000;
        h.observe(&b);
        assert_eq!(
            drain(&mut rx),
            vec![(AlertClass::Degraded, AlertState::Firing)]
        );
    }

    /// The polled sample trails a sudden rise (an average over the last minute): the
    /// first one after the onset reads 80–90 %. Next to the device's own high-CPU line
    /// that is saturation at once; a sample under 80 %, or one that a lower sample has
    /// since replaced, is not.
    #[test]
    fn a_sample_over_80_with_the_devices_own_high_cpu_line_is_degraded() {
        let perf = "logdesc=\"System performance statistics\" action=\"perf-stats\" cpu=95 msg=\"Performance statistics: average CPU: 95\"";
        let (mut h, mut rx) = tracker();
        h.observe(&m("device_cpu_percent", 84.0, 0));
        assert!(drain(&mut rx).is_empty());
        h.observe(&log(perf, 4, 2));
        assert_eq!(
            drain_series(&mut rx),
            vec![(AlertClass::Degraded, "cpu".into(), AlertState::Firing)]
        );
        // line first, then the sample
        let (mut h, mut rx) = tracker();
        h.observe(&log(perf, 4, 0));
        h.observe(&m("device_cpu_percent", 83.0, 40));
        assert_eq!(
            drain(&mut rx),
            vec![(AlertClass::Degraded, AlertState::Firing)]
        );
        // under 80 %, or a warm sample already contradicted by a cooler one
        let (mut h, mut rx) = tracker();
        h.observe(&m("device_cpu_percent", 72.0, 0));
        h.observe(&log(perf, 4, 2));
        assert!(drain(&mut rx).is_empty());
        let (mut h, mut rx) = tracker();
        h.observe(&m("device_cpu_percent", 85.0, 0));
        h.observe(&m("device_cpu_percent", 70.0, 45));
        h.observe(&log(perf, 4, 50));
        assert!(drain(&mut rx).is_empty());
        // a sample over 80 three minutes after the line: too far apart
        h.observe(&m("device_cpu_percent", 86.0, 230));
        assert!(drain(&mut rx).is_empty());
        // a slow answer next to the line is saturation too; a prompt one since is not
        let (mut h, mut rx) = tracker();
        h.observe(&m("device_cpu_percent", 75.0, 0));
        h.observe(&m("probe_duration_seconds", 0.6, 0));
        h.observe(&log(perf, 4, 7));
        assert_eq!(
            drain_series(&mut rx),
            vec![(AlertClass::Degraded, "cpu".into(), AlertState::Firing)]
        );
        let (mut h, mut rx) = tracker();
        h.observe(&m("probe_duration_seconds", 0.6, 0));
        h.observe(&m("probe_duration_seconds", 0.002, 45));
        h.observe(&log(perf, 4, 50));
        assert!(drain(&mut rx).is_empty());
    }

    #[test]
    fn cpu_and_silence() {
        let (mut h, mut rx) = tracker();
        for (t, v) in [(0, 95.0), (10, 97.0), (20, 50.0), (30, 40.0)] {
            h.observe(&m("device_cpu_percent", v, t));
        }
        assert_eq!(
            drain(&mut rx),
            vec![
                (AlertClass::Degraded, AlertState::Firing),
                (AlertClass::Degraded, AlertState::Cleared)
            ]
        );
        h.tick(30_000 + 181_000);
        assert_eq!(
            drain(&mut rx),
            vec![(AlertClass::Unreachable, AlertState::Firing)]
        );
        h.observe(&m("device_cpu_percent", 10.0, 300));
        assert_eq!(
            drain(&mut rx),
            vec![(AlertClass::Unreachable, AlertState::Cleared)]
        );
    }

    /// A device that only logs (not polled: a discovered device), even in bursts, is
    /// never "silent"; one polled regularly is, after the silence time.
    #[test]
    fn silence_is_only_news_from_a_device_heard_regularly() {
        let (mut h, mut rx) = tracker();
        for t in [0, 2, 3, 10, 20, 30, 40, 1_200, 3_600, 3_601] {
            h.observe(&log("Failed password for invalid user admin", 4, t));
            h.tick(t * 1000 + 1000);
        }
        h.tick(10_000_000);
        assert!(drain(&mut rx).is_empty());
        // the same device, polled every 60 s, then quiet: silent
        for k in 0..4 {
            h.observe(&m("device_cpu_percent", 20.0, 4_000 + 60 * k));
        }
        h.tick((4_180 + 181) * 1000);
        assert_eq!(
            drain(&mut rx),
            vec![(AlertClass::Unreachable, AlertState::Firing)]
        );
    }

    #[test]
    fn intermittent_loss_is_degraded_not_a_stream_of_unreachables() {
        let (mut h, mut rx) = tracker();
        let pattern = [
            true, false, true, true, false, false, true, false, true, true, false, true,
        ];
        for (i, ok) in pattern.iter().cycle().take(48).enumerate() {
            h.observe(&m("probe_success", f64::from(u8::from(*ok)), i as i64 * 10));
        }
        let got = drain(&mut rx);
        assert!(
            got.contains(&(AlertClass::Degraded, AlertState::Firing)),
            "{got:?}"
        );
        assert!(
            got.iter()
                .filter(|(c, _)| *c == AlertClass::Unreachable)
                .count()
                <= 2,
            "{got:?}"
        );
    }
}
