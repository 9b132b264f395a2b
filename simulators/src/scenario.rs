//! Scenario files (contracts §3): a fleet inventory plus a timeline of faults.
//!
//! [`Scenario::load`] parses and validates a file. Every error names the file, the
//! position (`line:col` when known), the TOML key (for example `ship[0].device[3].depends_on`)
//! and what was expected, so the `seawatch` binary can print it as a one-line error.
//!
//! The `[[fault]]` list is ground truth: the simulator reads it to produce symptoms, the
//! report scorer reads it through [`Scenario::faults`]; detection code never does.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// A whole scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Scenario name, copied into the `sim run` report.
    pub name: String,
    /// Seed of every random stream: the same scenario and seed give the same telemetry bytes.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Simulated length of the scenario in seconds.
    pub duration_s: u64,
    /// The ships (`[[ship]]` tables).
    #[serde(default)]
    pub ship: Vec<Ship>,
    /// The fault timeline (`[[fault]]` tables): the ground truth a report is judged against.
    #[serde(default)]
    pub fault: Vec<Fault>,
    /// Fleet rollouts shore starts during the run (`[[rollout]]`, an addition to contracts
    /// §3; files without it stay valid). Not ground truth: `sim run` plays them from shore.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollout: Vec<RolloutPlan>,
}

/// A fleet rollout `sim run` starts from shore (`[[rollout]]`): a bundle, when, its waves,
/// and optionally a shore node killed while it runs. A ship is reachable from shore while
/// its sync link (its primary link) is up, so a ship is taken offline by `link_outage`
/// faults on its links.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutPlan {
    /// A folder holding a `bundle.toml` (what `seawatch bundle build` packs), relative to
    /// the scenario file. Give this or `generate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
    /// A generated policy bundle instead: `good` (it compiles; 1.2 MB with its notes, so it
    /// travels in chunks) or `bad` (it does not compile: its health check fails on the
    /// ship, which rolls back by itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<GeneratedBundle>,
    /// When shore creates the rollout, seconds since the scenario start.
    pub at_s: u64,
    /// What a tripped error threshold does: `pause` (default) or `abort`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<String>,
    /// Bytes per second a ship's bundle chunks may take of its link (the bulk lane's
    /// share; default 262,144).
    #[serde(default = "default_bulk_bytes_per_s")]
    pub bulk_bytes_per_s: u64,
    /// Kill the shore node running the rollout at this second (no clean hand-over: its
    /// lease runs out and the other shore node takes the rollout over).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_shore_node_at_s: Option<u64>,
    /// The waves (`[[rollout.wave]]`), in order; percents are cumulative, the last is 100.
    pub wave: Vec<RolloutWave>,
}

fn default_bulk_bytes_per_s() -> u64 {
    256 * 1024
}

/// A generated bundle of a [`RolloutPlan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GeneratedBundle {
    /// Passes its health check.
    Good,
    /// Fails its health check.
    Bad,
}

/// One wave of a [`RolloutPlan`] (the fields of contracts §10's waves).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutWave {
    /// Cumulative share of the ships reached by the end of this wave (0 < p ≤ 100).
    pub percent: f64,
    /// Percent of the wave's ships that must succeed before the next wave (default 100).
    #[serde(default = "hundred")]
    pub success_threshold: f64,
    /// Percent of the wave's ships failed at which the rollout pauses or aborts (default
    /// 0: the first failure).
    #[serde(default)]
    pub error_threshold: f64,
    /// Seconds a ship may take from receiving the bundle to a passed health check
    /// (default 600).
    #[serde(default = "default_wave_timeout_s")]
    pub timeout_s: u64,
    /// Seconds after the apply during which a new critical incident on the ship fails its
    /// health check (default: the rollout default, 300 s or half the timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_window_s: Option<u64>,
}

fn hundred() -> f64 {
    100.0
}

fn default_wave_timeout_s() -> u64 {
    600
}

/// One ship: its inventory (devices, links), its log volume and its voyage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ship {
    /// Ship id, unique in the scenario (used as the `ship` label and in fault `ship`).
    pub id: String,
    /// Background log events per second on this ship, spread over its devices.
    #[serde(default = "default_log_eps")]
    pub log_eps: f64,
    /// Seconds between two polls of a device's metrics (SNMP, node_exporter, blackbox).
    #[serde(default = "default_metric_interval_s")]
    pub metric_interval_s: u32,
    /// Waypoints `[lat, lon]` in degrees, sailed in order. Empty: the ship lies at anchor.
    #[serde(default)]
    pub route: Vec<[f64; 2]>,
    /// Speed over ground in knots along `route`.
    #[serde(default = "default_speed_kn")]
    pub speed_kn: f64,
    /// Devices (`[[ship.device]]`).
    #[serde(default)]
    pub device: Vec<Device>,
    /// WAN links (`[[ship.link]]`).
    #[serde(default)]
    pub link: Vec<Link>,
    /// Benign noise (`[ship.noise]`): on by default, see [`Noise`].
    #[serde(default)]
    pub noise: Noise,
    /// Announced maintenance windows (`[[ship.maintenance]]`): devices taken down on
    /// purpose. Part of the inventory the ship is given, never of the ground truth.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintenance: Vec<Maintenance>,
}

/// Benign noise of a healthy ship (`[ship.noise]`, contracts §3): what a real ship's
/// telemetry carries on a day without faults. On by default; each source has its own rate,
/// and `enabled = false` switches them all off. The defaults and their sources are in
/// `simulators/NOISE.md`. Noise is deterministic given the scenario seed and never appears
/// in the `[[fault]]` ground truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Noise {
    /// Master switch (default true).
    pub enabled: bool,
    /// Fraction of a healthy device's blackbox probes lost, one at a time (never two in a
    /// row). Default 0.005.
    pub probe_loss: f64,
    /// Mean extra latency of a healthy probe in milliseconds (exponential jitter).
    /// Default 2.
    pub probe_jitter_ms: f64,
    /// Guest and crew user-port flaps (down, then up seconds later) per access switch per
    /// hour, on ports that are not uplinks. Default 12 (one every 5 minutes).
    pub user_port_flaps_per_hour: f64,
    /// Fraction of the access points rebooted for firmware each night (02:00–04:00 ship's
    /// time, announced by the controller, 2–5 minutes down). Default 0.03.
    pub ap_reboots_per_night: f64,
    /// Backup jobs per server (and PBX) per night (01:00–05:00 ship's time): CPU 45–80 %
    /// for 5–25 minutes, with the job's start and end lines. Default 1.
    pub backups_per_night: f64,
    /// Short CPU bursts (one or two polls at 55–85 %) per device per day. Default 6.
    pub cpu_bursts_per_day: f64,
    /// Chatty and misleading lines (auth failures, a client phone lost by the controller, a
    /// keepalive retry) per device per hour; a fifth of them are repeated. Default 1.
    pub chatty_lines_per_hour: f64,
    /// Fraction of telemetry that arrives late (out of order). Default 0.002.
    pub late_fraction: f64,
    /// Longest delay of a late record in seconds. Default 30.
    pub late_max_s: u32,
    /// Fraction of telemetry delivered twice (a retry). Default 0.001.
    pub duplicate_fraction: f64,
    /// Fraction of devices whose clock is off (no NTP). Default 0.1.
    pub clock_skew_fraction: f64,
    /// Largest clock offset of such a device in seconds. Default 5.
    pub clock_skew_max_s: f64,
    /// Devices on board but missing from the inventory, as a fraction of the inventory's
    /// devices (endpoints behind access switches; they log under their own names).
    /// Default 0.02.
    pub unlisted_fraction: f64,
    /// Fraction of endpoints whose `depends_on` is stale: really patched to another access
    /// switch (LLDP and link lines tell the truth). Default 0.02.
    pub stale_depends_on_fraction: f64,
}

impl Default for Noise {
    fn default() -> Self {
        Noise {
            enabled: true,
            probe_loss: 0.005,
            probe_jitter_ms: 2.0,
            user_port_flaps_per_hour: 12.0,
            ap_reboots_per_night: 0.03,
            backups_per_night: 1.0,
            cpu_bursts_per_day: 6.0,
            chatty_lines_per_hour: 1.0,
            late_fraction: 0.002,
            late_max_s: 30,
            duplicate_fraction: 0.001,
            clock_skew_fraction: 0.1,
            clock_skew_max_s: 5.0,
            unlisted_fraction: 0.02,
            stale_depends_on_fraction: 0.02,
        }
    }
}

impl Noise {
    /// No noise at all (`enabled = false`, every rate 0).
    pub fn off() -> Noise {
        Noise {
            enabled: false,
            probe_loss: 0.0,
            probe_jitter_ms: 0.0,
            user_port_flaps_per_hour: 0.0,
            ap_reboots_per_night: 0.0,
            backups_per_night: 0.0,
            cpu_bursts_per_day: 0.0,
            chatty_lines_per_hour: 0.0,
            late_fraction: 0.0,
            late_max_s: 0,
            duplicate_fraction: 0.0,
            clock_skew_fraction: 0.0,
            clock_skew_max_s: 0.0,
            unlisted_fraction: 0.0,
            stale_depends_on_fraction: 0.0,
        }
    }

    /// `(key, value, upper bound)` of every rate, for validation.
    fn rates(&self) -> [(&'static str, f64, f64); 13] {
        [
            ("probe_loss", self.probe_loss, 0.5),
            ("probe_jitter_ms", self.probe_jitter_ms, 1000.0),
            (
                "user_port_flaps_per_hour",
                self.user_port_flaps_per_hour,
                3600.0,
            ),
            ("ap_reboots_per_night", self.ap_reboots_per_night, 1.0),
            ("backups_per_night", self.backups_per_night, 10.0),
            ("cpu_bursts_per_day", self.cpu_bursts_per_day, 1440.0),
            ("chatty_lines_per_hour", self.chatty_lines_per_hour, 3600.0),
            ("late_fraction", self.late_fraction, 0.5),
            ("duplicate_fraction", self.duplicate_fraction, 0.5),
            ("clock_skew_fraction", self.clock_skew_fraction, 1.0),
            ("clock_skew_max_s", self.clock_skew_max_s, 3600.0),
            ("unlisted_fraction", self.unlisted_fraction, 1.0),
            (
                "stale_depends_on_fraction",
                self.stale_depends_on_fraction,
                1.0,
            ),
        ]
    }
}

/// An announced maintenance window (`[[ship.maintenance]]`): the device is taken down on
/// purpose (reloaded, patched, swapped) and comes back at the end. The ship is told in its
/// inventory; the window is not a fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Maintenance {
    /// Device id on this ship.
    pub target: String,
    /// Start, in seconds since the scenario start.
    pub at_s: u64,
    /// Length of the window in seconds.
    pub duration_s: u64,
    /// Change ticket or reason, free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Maintenance {
    /// Whether the window contains second `t`.
    pub fn active_at(&self, t: u64) -> bool {
        t >= self.at_s && t < self.at_s + self.duration_s
    }
}

/// One device of a ship's inventory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// Device id: the syslog HOSTNAME and the `device` label of its metrics.
    pub id: String,
    /// What the device is.
    pub kind: DeviceKind,
    /// Devices this one reaches the network through. Several entries are redundant
    /// uplinks: the device stays reachable while any of them is.
    #[serde(default)]
    pub depends_on: Vec<String>,
}

/// The device kinds of contracts §3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceKind {
    /// Ethernet switch (core, distribution or access, told apart by its place in the tree).
    Switch,
    /// Router.
    Router,
    /// Firewall (the first one listed on a ship is the active perimeter member).
    Firewall,
    /// Wi-Fi access point (an id containing `wlc` marks a wireless LAN controller).
    Ap,
    /// Server (Linux by default; ids with `win`/`ad`/`dc` are Windows, `db`/`pg` PostgreSQL,
    /// `vms`/`nvr` a CCTV video management server, `wlc` a wireless LAN controller).
    Server,
    /// Satellite/LTE modem or antenna control unit.
    Modem,
    /// Telephone exchange (Asterisk).
    Pbx,
    /// IP camera.
    Cctv,
    /// Point-of-sale terminal.
    Pos,
    /// HVAC / building-management controller.
    Hvac,
}

impl DeviceKind {
    /// Every kind, in the order of contracts §3.
    pub const ALL: [DeviceKind; 10] = [
        DeviceKind::Switch,
        DeviceKind::Router,
        DeviceKind::Firewall,
        DeviceKind::Ap,
        DeviceKind::Server,
        DeviceKind::Modem,
        DeviceKind::Pbx,
        DeviceKind::Cctv,
        DeviceKind::Pos,
        DeviceKind::Hvac,
    ];

    /// The name used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Switch => "switch",
            DeviceKind::Router => "router",
            DeviceKind::Firewall => "firewall",
            DeviceKind::Ap => "ap",
            DeviceKind::Server => "server",
            DeviceKind::Modem => "modem",
            DeviceKind::Pbx => "pbx",
            DeviceKind::Cctv => "cctv",
            DeviceKind::Pos => "pos",
            DeviceKind::Hvac => "hvac",
        }
    }
}

/// One WAN link of a ship.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// Link id: the `link` label of its modem KPIs.
    pub id: String,
    /// Link technology.
    pub kind: LinkKind,
    /// Frequency band; defaults to Ku for `vsat` and `leo`, none for `lte`/`port-wifi`.
    #[serde(default)]
    pub band: Option<Band>,
    /// Nominal capacity in Mbit/s.
    #[serde(default)]
    pub capacity_mbps: Option<f64>,
    /// Whether this link carries ship-to-shore sync while up.
    #[serde(default)]
    pub primary: bool,
    /// Azimuth of the link's satellite in degrees true (vsat); wins over `sat_lon`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azimuth_deg: Option<f64>,
    /// Elevation of the link's satellite in degrees (with `azimuth_deg`: where the sun
    /// must be for a sun outage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elevation_deg: Option<f64>,
    /// Longitude of the GEO slot in degrees (vsat): the azimuth follows from the ship's
    /// position at the start of its route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sat_lon: Option<f64>,
    /// The antenna's surveyed blockage sectors `[from_rel_az, to_rel_az]` in degrees
    /// relative to the bow (clockwise from `from` to `to`); the antenna is blocked while its
    /// satellite lies in one. Default: the mast astern, 150–210. A `blockage` fault turns
    /// the ship into the first sector.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blockage_zones: Vec<[f64; 2]>,
}

impl Link {
    /// The band in effect: the configured one, else Ku for satellite links.
    pub fn effective_band(&self) -> Option<Band> {
        self.band.or(match self.kind {
            LinkKind::Vsat | LinkKind::Leo => Some(Band::Ku),
            LinkKind::Lte | LinkKind::PortWifi => None,
        })
    }
}

/// Link technologies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkKind {
    /// Geostationary VSAT with a steered antenna (blockage zones apply).
    Vsat,
    /// Low-earth-orbit constellation terminal (e.g. Starlink).
    Leo,
    /// Cellular, coastal and port only.
    Lte,
    /// Shore Wi-Fi in port.
    PortWifi,
}

/// Satellite frequency bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Band {
    /// L band (nearly rain immune).
    L,
    /// C band (nearly rain immune).
    C,
    /// Ku band (rain fade of a few dB, ~10 dB in a tropical downpour).
    Ku,
    /// Ka band (rain fade of 5–40 dB).
    Ka,
}

/// One fault of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Ship id the fault happens on.
    pub ship: String,
    /// Device or link id on that ship.
    pub target: String,
    /// What goes wrong.
    pub kind: FaultKind,
    /// Start, in seconds since the scenario start.
    pub at_s: u64,
    /// Length of the fault window in seconds.
    pub duration_s: u64,
}

impl Fault {
    /// End of the window (exclusive), in seconds since the scenario start.
    pub fn end_s(&self) -> u64 {
        self.at_s + self.duration_s
    }

    /// Whether the window contains second `t`.
    pub fn active_at(&self, t: u64) -> bool {
        t >= self.at_s && t < self.end_s()
    }
}

/// Fault kinds of contracts §3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Device dead: it and everything behind it go silent.
    Down,
    /// Partial loss and high latency (device) or a few dB of Es/No lost (link).
    Degraded,
    /// Up/down storms every 4–10 s (device uplink or link lock).
    Flapping,
    /// CPU at 90–100 %, latency rising.
    CpuSaturation,
    /// Filesystem filling up before the window, ENOSPC at full during it.
    DiskFull,
    /// Input/CRC errors on the device's uplink.
    InterfaceErrors,
    /// Link lost: modem out of lock.
    LinkOutage,
    /// Rain cell over the ship: all Ku/Ka links fade.
    RainFade,
    /// The ship turns the mast into the antenna's blockage zone (one antenna only).
    Blockage,
    /// The sun crosses the antenna's beam (vsat with a known satellite elevation). A
    /// label of ground truth: the outage itself comes from the sky geometry (sun
    /// ephemeris and the satellite's look angles), so the window must be one the
    /// geometry allows (the fleet generator computes it).
    SunOutage,
}

impl FaultKind {
    /// The name used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Down => "down",
            FaultKind::Degraded => "degraded",
            FaultKind::Flapping => "flapping",
            FaultKind::CpuSaturation => "cpu_saturation",
            FaultKind::DiskFull => "disk_full",
            FaultKind::InterfaceErrors => "interface_errors",
            FaultKind::LinkOutage => "link_outage",
            FaultKind::RainFade => "rain_fade",
            FaultKind::Blockage => "blockage",
            FaultKind::SunOutage => "sun_outage",
        }
    }

    /// Whether two faults of these kinds on one target can hold at the same time.
    pub fn compatible_with(self, other: FaultKind) -> bool {
        use FaultKind::*;
        if self == other {
            return false;
        }
        // A dead device or a lost link shows nothing else at the same time.
        !matches!(self, Down | LinkOutage) && !matches!(other, Down | LinkOutage)
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn default_seed() -> u64 {
    0
}
fn default_log_eps() -> f64 {
    200.0
}
fn default_metric_interval_s() -> u32 {
    10
}
fn default_speed_kn() -> f64 {
    0.0
}

/// What went wrong in a scenario file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScenarioErrorKind {
    /// The file could not be read.
    Io,
    /// Not TOML, an unknown key, a wrong type or an unknown enum value (kind, band).
    Syntax,
    /// A value is out of range or malformed (empty id, negative rate, zero duration).
    InvalidValue,
    /// Two devices/links/ships share an id.
    DuplicateId,
    /// `depends_on` names no device on that ship.
    UnknownDependency,
    /// `depends_on` forms a cycle.
    DependencyCycle,
    /// A fault names a ship that is not in the scenario.
    UnknownShip,
    /// A fault names a target that is no device or link of its ship.
    UnknownTarget,
    /// The fault kind does not fit its target (e.g. `rain_fade` on a device).
    FaultKindMismatch,
    /// Two faults on one target overlap where both cannot hold.
    OverlappingFaults,
    /// A fault window reaches beyond `duration_s`.
    FaultOutOfRange,
    /// An inventory file without exactly one `[[ship]]`.
    Inventory,
}

/// A scenario file error: names the file, position, key and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ScenarioError {
    /// What went wrong.
    pub kind: ScenarioErrorKind,
    /// The file (or other origin) the text came from.
    pub origin: String,
    /// 1-based `(line, column)` of the offending key or value, when known.
    pub position: Option<(usize, usize)>,
    /// The TOML key path, e.g. `ship[0].device[3].depends_on` (empty when it is the file).
    pub key: String,
    /// What was found and what was expected.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// One step of a TOML key path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn path_to_string(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

fn k(key: &str) -> Seg {
    Seg::Key(key.to_owned())
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

type DeTable<'i> = toml::de::DeTable<'i>;
type DeValue<'i> = toml::de::DeValue<'i>;

/// Finds the key path of the innermost key or value whose span contains `pos`.
fn path_at(table: &DeTable<'_>, pos: usize, path: &mut Vec<Seg>) -> bool {
    for (key, value) in table.iter() {
        path.push(Seg::Key(key.get_ref().to_string()));
        if value_path_at(value.get_ref(), pos, path) {
            return true;
        }
        if key.span().contains(&pos) || value.span().contains(&pos) {
            return true;
        }
        path.pop();
    }
    false
}

fn value_path_at(value: &DeValue<'_>, pos: usize, path: &mut Vec<Seg>) -> bool {
    match value {
        DeValue::Table(t) => path_at(t, pos, path),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                if value_path_at(item.get_ref(), pos, path) {
                    return true;
                }
                if matches!(item.get_ref(), DeValue::Table(_)) {
                    // a table's own span is not reliable for `[[array]]` headers.
                } else if item.span().contains(&pos) {
                    return true;
                }
                path.pop();
            }
            false
        }
        _ => false,
    }
}

/// Finds the span start of the value at `path` (or of its key).
fn offset_of(table: &DeTable<'_>, path: &[Seg]) -> Option<usize> {
    let (Seg::Key(first), rest) = path.split_first()? else {
        return None;
    };
    let (key, value) = table.iter().find(|(key, _)| key.get_ref() == first)?;
    if rest.is_empty() {
        return Some(key.span().start);
    }
    let mut value = value.get_ref();
    let mut rest = rest;
    loop {
        match (rest.first(), value) {
            (Some(Seg::Index(i)), DeValue::Array(items)) => {
                let item = items.get(*i)?;
                if rest.len() == 1 {
                    return Some(item.span().start);
                }
                value = item.get_ref();
                rest = &rest[1..];
            }
            (Some(Seg::Key(_)), DeValue::Table(t)) => return offset_of(t, rest),
            _ => return None,
        }
    }
}

/// Builds errors for one origin and text.
struct Reporter<'a> {
    origin: &'a str,
    text: &'a str,
    table: Option<toml::Spanned<DeTable<'a>>>,
}

impl<'a> Reporter<'a> {
    fn new(origin: &'a str, text: &'a str) -> Self {
        Reporter {
            origin,
            text,
            table: DeTable::parse(text).ok(),
        }
    }

    fn error(&self, kind: ScenarioErrorKind, path: &[Seg], message: String) -> ScenarioError {
        let position = self
            .table
            .as_ref()
            .and_then(|t| offset_of(t.get_ref(), path))
            .map(|offset| line_col(self.text, offset));
        ScenarioError {
            kind,
            origin: self.origin.to_owned(),
            position,
            key: path_to_string(path),
            message,
        }
    }

    fn toml_error(&self, err: &toml::de::Error) -> ScenarioError {
        let mut key = String::new();
        let mut position = None;
        if let Some(span) = err.span() {
            position = Some(line_col(self.text, span.start));
            if let Some(table) = &self.table {
                let mut path = Vec::new();
                if path_at(table.get_ref(), span.start, &mut path) {
                    key = path_to_string(&path);
                }
            }
        }
        let message = err.message().trim().replace('\n', " ");
        ScenarioError {
            kind: ScenarioErrorKind::Syntax,
            origin: self.origin.to_owned(),
            position,
            key,
            message,
        }
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

const ID_EXPECTED: &str =
    "expected 1 to 64 characters of A-Z a-z 0-9 - _ . : (it becomes a syslog HOSTNAME)";

impl Scenario {
    /// Reads, parses and validates a scenario file.
    pub fn load(path: impl AsRef<Path>) -> Result<Scenario, ScenarioError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let text = read(path, &origin)?;
        Scenario::parse(&text, &origin)
    }

    /// Parses and validates scenario text; `origin` names it in errors (usually the path).
    pub fn parse(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        let reporter = Reporter::new(origin, text);
        let scenario: Scenario = toml::from_str(text).map_err(|e| reporter.toml_error(&e))?;
        scenario.validate_with(&reporter)?;
        Ok(scenario)
    }

    /// Validates a scenario built in code (errors carry `origin` but no position).
    pub fn validate(&self, origin: &str) -> Result<(), ScenarioError> {
        let reporter = Reporter {
            origin,
            text: "",
            table: None,
        };
        self.validate_with(&reporter)
    }

    /// The ground truth: the fault timeline, for the report scorer.
    pub fn faults(&self) -> &[Fault] {
        &self.fault
    }

    /// The inventory (devices, links) of one ship, if the scenario has it.
    pub fn ship_inventory(&self, ship_id: &str) -> Option<&Ship> {
        self.ship.iter().find(|s| s.id == ship_id)
    }

    /// Reads a scenario file as one ship's inventory (contracts §1 `seawatch ship
    /// --inventory FILE`): its single `[[ship]]` table, ignoring faults and timing.
    pub fn load_inventory(path: impl AsRef<Path>) -> Result<Ship, ScenarioError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let text = read(path, &origin)?;
        Scenario::parse_inventory(&text, &origin)
    }

    /// Parses scenario text as one ship's inventory; see [`Scenario::load_inventory`].
    pub fn parse_inventory(text: &str, origin: &str) -> Result<Ship, ScenarioError> {
        let reporter = Reporter::new(origin, text);
        let file: InventoryFile = toml::from_str(text).map_err(|e| reporter.toml_error(&e))?;
        let _ignored = (&file.name, file.seed, file.duration_s, &file.fault);
        if file.ship.len() != 1 {
            return Err(reporter.error(
                ScenarioErrorKind::Inventory,
                &[k("ship")],
                format!(
                    "found {} [[ship]] tables, expected exactly one for an inventory",
                    file.ship.len()
                ),
            ));
        }
        validate_ship(&file.ship[0], 0, &reporter)?;
        Ok(file.ship.into_iter().next().expect("one ship"))
    }

    fn validate_with(&self, r: &Reporter<'_>) -> Result<(), ScenarioError> {
        use ScenarioErrorKind as E;
        if self.name.trim().is_empty() {
            return Err(r.error(
                E::InvalidValue,
                &[k("name")],
                "is empty, expected a scenario name".into(),
            ));
        }
        if self.duration_s == 0 {
            return Err(r.error(
                E::InvalidValue,
                &[k("duration_s")],
                "is 0, expected a positive number of seconds".into(),
            ));
        }
        let mut ship_ids: HashMap<&str, usize> = HashMap::new();
        for (si, ship) in self.ship.iter().enumerate() {
            if let Some(first) = ship_ids.insert(&ship.id, si) {
                return Err(r.error(
                    E::DuplicateId,
                    &[k("ship"), Seg::Index(si), k("id")],
                    format!(
                        "duplicate ship id \"{}\" (also ship[{first}]), expected unique ship ids",
                        ship.id
                    ),
                ));
            }
            validate_ship(ship, si, r)?;
        }
        for (fi, fault) in self.fault.iter().enumerate() {
            let at = |key: &str| [k("fault"), Seg::Index(fi), k(key)];
            let Some(&si) = ship_ids.get(fault.ship.as_str()) else {
                let known: Vec<&str> = self.ship.iter().map(|s| s.id.as_str()).collect();
                return Err(r.error(
                    E::UnknownShip,
                    &at("ship"),
                    format!(
                        "names no ship \"{}\", expected one of [{}]",
                        fault.ship,
                        known.join(", ")
                    ),
                ));
            };
            let ship = &self.ship[si];
            let target = if let Some(d) = ship.device.iter().find(|d| d.id == fault.target) {
                Target::Device(d)
            } else if let Some(l) = ship.link.iter().find(|l| l.id == fault.target) {
                Target::Link(l)
            } else {
                return Err(r.error(
                    E::UnknownTarget,
                    &at("target"),
                    format!(
                        "names no device or link \"{}\" on ship \"{}\", expected a device or link id of that ship",
                        fault.target, ship.id
                    ),
                ));
            };
            if let Some(expected) = kind_fit(fault.kind, &target) {
                return Err(r.error(E::FaultKindMismatch, &at("kind"), expected));
            }
            if fault.duration_s == 0 {
                return Err(r.error(
                    E::InvalidValue,
                    &at("duration_s"),
                    "is 0, expected a positive number of seconds".into(),
                ));
            }
            if fault.end_s() > self.duration_s {
                return Err(r.error(
                    E::FaultOutOfRange,
                    &at("at_s"),
                    format!(
                        "window {}..{} s ends after the scenario (duration_s = {}), expected at_s + duration_s <= {}",
                        fault.at_s,
                        fault.end_s(),
                        self.duration_s,
                        self.duration_s
                    ),
                ));
            }
            for (pi, prev) in self.fault[..fi].iter().enumerate() {
                let same_target = prev.ship == fault.ship && prev.target == fault.target;
                let overlap = prev.at_s < fault.end_s() && fault.at_s < prev.end_s();
                if same_target && overlap && !prev.kind.compatible_with(fault.kind) {
                    return Err(r.error(
                        E::OverlappingFaults,
                        &at("kind"),
                        format!(
                            "{} on \"{}\" during {}..{} s overlaps fault[{pi}] ({} during {}..{} s) and both cannot hold; expected windows that do not overlap",
                            fault.kind,
                            fault.target,
                            fault.at_s,
                            fault.end_s(),
                            prev.kind,
                            prev.at_s,
                            prev.end_s()
                        ),
                    ));
                }
            }
        }
        for (ri, ro) in self.rollout.iter().enumerate() {
            let at = |key: &str| [k("rollout"), Seg::Index(ri), k(key)];
            if ro.bundle.is_some() == ro.generate.is_some() {
                return Err(r.error(
                    E::InvalidValue,
                    &at("bundle"),
                    "expected exactly one of bundle = \"DIR\" or generate = \"good\" | \"bad\""
                        .into(),
                ));
            }
            if ro.at_s >= self.duration_s {
                return Err(r.error(
                    E::InvalidValue,
                    &at("at_s"),
                    format!(
                        "{} is not before the scenario's end, expected at_s < duration_s = {}",
                        ro.at_s, self.duration_s
                    ),
                ));
            }
            if ro.kill_shore_node_at_s.is_some_and(|t| t < ro.at_s) {
                return Err(r.error(
                    E::InvalidValue,
                    &at("kill_shore_node_at_s"),
                    format!(
                        "is before the rollout starts, expected at least at_s = {}",
                        ro.at_s
                    ),
                ));
            }
            if ro.bulk_bytes_per_s == 0 {
                return Err(r.error(
                    E::InvalidValue,
                    &at("bulk_bytes_per_s"),
                    "is 0, expected a positive number of bytes per second".into(),
                ));
            }
            if let Some(o) = ro
                .on_error
                .as_deref()
                .filter(|o| !matches!(*o, "pause" | "abort"))
            {
                return Err(r.error(
                    E::InvalidValue,
                    &at("on_error"),
                    format!("\"{o}\" is not known, expected \"pause\" or \"abort\""),
                ));
            }
            if ro.wave.last().map(|w| w.percent) != Some(100.0) {
                return Err(r.error(
                    E::InvalidValue,
                    &at("wave"),
                    "expected [[rollout.wave]] tables with cumulative percents, the last at 100"
                        .into(),
                ));
            }
        }
        Ok(())
    }
}

enum Target<'a> {
    Device(&'a Device),
    Link(&'a Link),
}

/// `None` when the fault kind fits the target, else what was expected.
fn kind_fit(kind: FaultKind, target: &Target<'_>) -> Option<String> {
    use FaultKind::*;
    match (kind, target) {
        (Down | CpuSaturation | DiskFull | InterfaceErrors, Target::Link(l)) => Some(format!(
            "{kind} needs a device, but \"{}\" is a link; expected link_outage, rain_fade, blockage, sun_outage, degraded or flapping for a link",
            l.id
        )),
        (LinkOutage | RainFade | Blockage | SunOutage, Target::Device(d)) => Some(format!(
            "{kind} needs a link, but \"{}\" is a device ({}); expected down, degraded, flapping, cpu_saturation, disk_full or interface_errors for a device",
            d.id, d.kind
        )),
        (DiskFull, Target::Device(d))
            if !matches!(d.kind, DeviceKind::Server | DeviceKind::Pbx) =>
        {
            Some(format!(
                "disk_full needs a host with a filesystem, but \"{}\" is a {}; expected a server or pbx",
                d.id, d.kind
            ))
        }
        (RainFade, Target::Link(l))
            if !matches!(l.effective_band(), Some(Band::Ku | Band::Ka)) =>
        {
            Some(format!(
                "rain_fade needs a Ku or Ka band link, but \"{}\" is {}; expected band = \"Ku\" or \"Ka\"",
                l.id,
                l.effective_band().map_or("without band".to_owned(), |b| format!("{b:?} band"))
            ))
        }
        (Blockage, Target::Link(l)) if l.kind != LinkKind::Vsat => Some(format!(
            "blockage needs a steered vsat antenna, but \"{}\" is a {:?} link; expected kind = \"vsat\"",
            l.id, l.kind
        )),
        (SunOutage, Target::Link(l))
            if l.kind != LinkKind::Vsat
                || (l.sat_lon.is_none() && (l.azimuth_deg.is_none() || l.elevation_deg.is_none())) =>
        {
            Some(format!(
                "sun_outage needs a vsat link whose satellite is known, but \"{}\" has none; expected kind = \"vsat\" with sat_lon, or azimuth_deg and elevation_deg",
                l.id
            ))
        }
        _ => None,
    }
}

fn validate_ship(ship: &Ship, si: usize, r: &Reporter<'_>) -> Result<(), ScenarioError> {
    use ScenarioErrorKind as E;
    let at = |key: &str| [k("ship"), Seg::Index(si), k(key)];
    if !valid_id(&ship.id) {
        return Err(r.error(
            E::InvalidValue,
            &at("id"),
            format!("\"{}\" is not a valid id, {ID_EXPECTED}", ship.id),
        ));
    }
    if !ship.log_eps.is_finite() || ship.log_eps < 0.0 {
        return Err(r.error(
            E::InvalidValue,
            &at("log_eps"),
            format!("is {}, expected a rate >= 0", ship.log_eps),
        ));
    }
    if ship.metric_interval_s == 0 {
        return Err(r.error(
            E::InvalidValue,
            &at("metric_interval_s"),
            "is 0, expected a positive number of seconds".into(),
        ));
    }
    if !ship.speed_kn.is_finite() || !(0.0..=60.0).contains(&ship.speed_kn) {
        return Err(r.error(
            E::InvalidValue,
            &at("speed_kn"),
            format!("is {}, expected knots between 0 and 60", ship.speed_kn),
        ));
    }
    for (wi, [lat, lon]) in ship.route.iter().enumerate() {
        if !(-90.0..=90.0).contains(lat) || !(-180.0..=180.0).contains(lon) {
            return Err(r.error(
                E::InvalidValue,
                &[k("ship"), Seg::Index(si), k("route"), Seg::Index(wi)],
                format!(
                    "[{lat}, {lon}] is off the globe, expected [lat (-90..90), lon (-180..180)]"
                ),
            ));
        }
    }
    // Device and link ids share one namespace per ship.
    let mut ids: HashMap<&str, String> = HashMap::new();
    let tables = ship
        .device
        .iter()
        .enumerate()
        .map(|(i, d)| ("device", i, d.id.as_str()))
        .chain(
            ship.link
                .iter()
                .enumerate()
                .map(|(i, l)| ("link", i, l.id.as_str())),
        );
    for (table, i, id) in tables {
        let key = [k("ship"), Seg::Index(si), k(table), Seg::Index(i), k("id")];
        if !valid_id(id) {
            return Err(r.error(
                E::InvalidValue,
                &key,
                format!("\"{id}\" is not a valid id, {ID_EXPECTED}"),
            ));
        }
        if let Some(first) = ids.insert(id, format!("{table}[{i}]")) {
            return Err(r.error(
                E::DuplicateId,
                &key,
                format!(
                    "duplicate id \"{id}\" on ship \"{}\" (also {first}), expected unique device and link ids",
                    ship.id
                ),
            ));
        }
    }
    for (li, link) in ship.link.iter().enumerate() {
        if let Some(c) = link.capacity_mbps {
            if !c.is_finite() || c <= 0.0 {
                return Err(r.error(
                    E::InvalidValue,
                    &[
                        k("ship"),
                        Seg::Index(si),
                        k("link"),
                        Seg::Index(li),
                        k("capacity_mbps"),
                    ],
                    format!("is {c}, expected a positive rate in Mbit/s"),
                ));
            }
        }
    }
    for (li, link) in ship.link.iter().enumerate() {
        let key = |field: &str| {
            [
                k("ship"),
                Seg::Index(si),
                k("link"),
                Seg::Index(li),
                k(field),
            ]
        };
        let checks = [
            ("azimuth_deg", link.azimuth_deg, 0.0, 360.0),
            ("elevation_deg", link.elevation_deg, -10.0, 90.0),
            ("sat_lon", link.sat_lon, -180.0, 180.0),
        ];
        for (field, value, lo, hi) in checks {
            if let Some(v) = value {
                if !v.is_finite() || !(lo..=hi).contains(&v) {
                    return Err(r.error(
                        E::InvalidValue,
                        &key(field),
                        format!("is {v}, expected degrees between {lo} and {hi}"),
                    ));
                }
            }
        }
        for [a, b] in &link.blockage_zones {
            if !a.is_finite()
                || !b.is_finite()
                || !(0.0..=360.0).contains(a)
                || !(0.0..=360.0).contains(b)
            {
                return Err(r.error(
                    E::InvalidValue,
                    &key("blockage_zones"),
                    format!("[{a}, {b}] is not a sector, expected [from_rel_az, to_rel_az] in degrees 0..360"),
                ));
            }
        }
    }
    let noise_key = |field: &str| [k("ship"), Seg::Index(si), k("noise"), k(field)];
    for (field, v, hi) in ship.noise.rates() {
        if !v.is_finite() || !(0.0..=hi).contains(&v) {
            return Err(r.error(
                E::InvalidValue,
                &noise_key(field),
                format!("is {v}, expected a rate between 0 and {hi}"),
            ));
        }
    }
    if ship.noise.late_max_s > 600 {
        return Err(r.error(
            E::InvalidValue,
            &noise_key("late_max_s"),
            format!(
                "is {}, expected at most 600 seconds (late telemetry is bounded)",
                ship.noise.late_max_s
            ),
        ));
    }
    for (mi, m) in ship.maintenance.iter().enumerate() {
        let key = |field: &str| {
            [
                k("ship"),
                Seg::Index(si),
                k("maintenance"),
                Seg::Index(mi),
                k(field),
            ]
        };
        if ship.device(&m.target).is_none() {
            return Err(r.error(
                E::UnknownTarget,
                &key("target"),
                format!(
                    "names no device \"{}\" on ship \"{}\", expected the id of one of its [[ship.device]] tables",
                    m.target, ship.id
                ),
            ));
        }
        if m.duration_s == 0 {
            return Err(r.error(
                E::InvalidValue,
                &key("duration_s"),
                "is 0, expected a positive number of seconds".into(),
            ));
        }
    }
    let index: HashMap<&str, usize> = ship
        .device
        .iter()
        .enumerate()
        .map(|(i, d)| (d.id.as_str(), i))
        .collect();
    for (di, device) in ship.device.iter().enumerate() {
        let key = [
            k("ship"),
            Seg::Index(si),
            k("device"),
            Seg::Index(di),
            k("depends_on"),
        ];
        let mut seen = HashSet::new();
        for dep in &device.depends_on {
            if !index.contains_key(dep.as_str()) {
                return Err(r.error(
                    E::UnknownDependency,
                    &key,
                    format!(
                        "\"{dep}\" names no device on ship \"{}\", expected the id of one of its [[ship.device]] tables",
                        ship.id
                    ),
                ));
            }
            if dep == &device.id {
                return Err(r.error(
                    E::DependencyCycle,
                    &key,
                    format!("\"{dep}\" depends on itself, expected an upstream device"),
                ));
            }
            if !seen.insert(dep) {
                return Err(r.error(
                    E::DuplicateId,
                    &key,
                    format!("\"{dep}\" is listed twice, expected each upstream device once"),
                ));
            }
        }
    }
    if let Some(cycle) = find_cycle(ship, &index) {
        let names: Vec<&str> = cycle.iter().map(|&i| ship.device[i].id.as_str()).collect();
        let key = [
            k("ship"),
            Seg::Index(si),
            k("device"),
            Seg::Index(cycle[0]),
            k("depends_on"),
        ];
        return Err(r.error(
            E::DependencyCycle,
            &key,
            format!(
                "dependency cycle {}, expected depends_on to form a tree or DAG towards the core",
                names.join(" -> ")
            ),
        ));
    }
    Ok(())
}

/// Returns a cycle as device indices (first repeated at the end), if any.
fn find_cycle(ship: &Ship, index: &HashMap<&str, usize>) -> Option<Vec<usize>> {
    // 0 = unvisited, 1 = on stack, 2 = done
    let n = ship.device.len();
    let mut state = vec![0u8; n];
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for root in 0..n {
        if state[root] != 0 {
            continue;
        }
        stack.push((root, 0));
        state[root] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            let deps = &ship.device[node].depends_on;
            if *next < deps.len() {
                let dep = index[deps[*next].as_str()];
                *next += 1;
                match state[dep] {
                    0 => {
                        state[dep] = 1;
                        stack.push((dep, 0));
                    }
                    1 => {
                        let start = stack.iter().position(|&(d, _)| d == dep).unwrap_or(0);
                        let mut cycle: Vec<usize> =
                            stack[start..].iter().map(|&(d, _)| d).collect();
                        cycle.push(dep);
                        return Some(cycle);
                    }
                    _ => {}
                }
            } else {
                state[node] = 2;
                stack.pop();
            }
        }
    }
    None
}

/// The lenient view of a scenario file used as an inventory.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoryFile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    duration_s: Option<u64>,
    #[serde(default)]
    ship: Vec<Ship>,
    #[serde(default)]
    fault: Option<toml::Value>,
}

fn read(path: &Path, origin: &str) -> Result<String, ScenarioError> {
    std::fs::read_to_string(path).map_err(|e| ScenarioError {
        kind: ScenarioErrorKind::Io,
        origin: origin.to_owned(),
        position: None,
        key: String::new(),
        message: format!("cannot read: {e}; expected a readable TOML scenario file"),
    })
}

impl Ship {
    /// The device with this id.
    pub fn device(&self, id: &str) -> Option<&Device> {
        self.device.iter().find(|d| d.id == id)
    }

    /// The link with this id.
    pub fn link(&self, id: &str) -> Option<&Link> {
        self.link.iter().find(|l| l.id == id)
    }

    /// Ids of every device that depends on `id`, directly or transitively, counting only
    /// devices that lose *all* their upstream paths when `id` goes down.
    pub fn dependents_of(&self, id: &str) -> Vec<String> {
        let n = self.device.len();
        let mut dead = vec![false; n];
        let Some(root) = self.device.iter().position(|d| d.id == id) else {
            return Vec::new();
        };
        dead[root] = true;
        // iterate to a fixpoint (the graph is a DAG; n passes suffice)
        let mut changed = true;
        while changed {
            changed = false;
            for (i, d) in self.device.iter().enumerate() {
                if dead[i] || d.depends_on.is_empty() {
                    continue;
                }
                let all_dead = d.depends_on.iter().all(|p| {
                    self.device
                        .iter()
                        .position(|x| &x.id == p)
                        .is_some_and(|pi| dead[pi])
                });
                if all_dead {
                    dead[i] = true;
                    changed = true;
                }
            }
        }
        self.device
            .iter()
            .enumerate()
            .filter(|&(i, _)| dead[i] && i != root)
            .map(|(_, d)| d.id.clone())
            .collect()
    }
}
