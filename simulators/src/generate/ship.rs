//! One ship's simulation: devices on the `depends_on` topology, links, motion and weather,
//! stepped once per simulated second into the output batch.

use super::link::{lock_margin_db, rain_for_attenuation, LinkEvent, LinkFaults, LinkSim, MODCODS};
use super::motion::{angle_diff, HeadingOrder, Motion, RainCell, Weather, TURN_RATE_DEG_S};
use super::noise::{NoiseSim, Src, WinKind, Window};
use super::out::{Batch, W};
use super::rng::{fnv1a, Rng};
use super::syslog::{self, Ctx, CRIT, DAEMON, ERR, INFO, KERN, NOTICE, WARNING};
use super::time::{civil, Civil};
use crate::scenario::{DeviceKind, Fault, FaultKind, LinkKind, Noise, Ship};

/// A device's place and personality, inferred from its kind, id and position in the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Core,
    Dist,
    Access,
    Router,
    Firewall { active: bool },
    Ap,
    Wlc,
    Linux,
    Postgres,
    Windows,
    Vms,
    Pbx,
    Camera,
    Pos,
    Hvac,
    Modem,
}

/// Whose log format a device speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Vendor {
    Cisco,
    Juniper,
    Fortinet,
    Other,
}

/// One port of a network device (switch, router, firewall).
pub(crate) struct Iface {
    pub name: String,
    pub peer: usize,
    pub uplink: bool,
    pub in_octets: u64,
    pub out_octets: u64,
    pub in_errors: u64,
    pub out_errors: u64,
    pub discards: u64,
    pub up: bool,
    /// Typical load in bit/s.
    pub load_bps: f64,
}

/// Runtime state of one device.
pub(crate) struct Dev {
    pub id: String,
    pub kind: DeviceKind,
    pub role: Role,
    pub vendor: Vendor,
    pub parents: Vec<usize>,
    pub children: Vec<usize>,
    pub ifaces: Vec<Iface>,
    pub ip: [u8; 4],
    pub pid: u32,
    pub serial: u32,
    pub rfc5424: bool,
    /// Nominal background rate, lines per minute (domain.md §3).
    pub weight: f64,
    /// Share of the ship's elastic log volume (active firewall traffic log, WLC).
    pub elastic: f64,
    pub diurnal: bool,
    pub metric_offset_ms: u32,
    // fault-driven state, recomputed every second
    pub down: bool,
    pub reachable: bool,
    pub degraded: bool,
    /// 0 = normal, 0..1 = lead-up, 1 = saturated.
    pub cpu_stress: f64,
    /// Input errors per second on this device's uplink (and the parent's port facing it).
    pub err_rate: f64,
    pub flapping: bool,
    pub flap_down: bool,
    next_flap_ms: i64,
    down_prev: bool,
    /// Filesystem fill: `(ramp_start_s, full_at_s, end_s)` of each disk_full fault.
    disk: Vec<(u64, u64, u64)>,
    pub disk_full: bool,
    /// Clock offset of the device's own timestamps (noise: no NTP), ms.
    pub skew_ms: i64,
    /// CPU held up by a benign source this second (backup, burst), percent; 0 when none.
    pub noise_cpu: f64,
    // metric state
    cpu: f64,
    temp: f64,
    mem_free: f64,
    cpu_idle_s: f64,
    cpu_user_s: f64,
    fs_size: u64,
    fs_free_frac: f64,
    mem_total: u64,
    pub rng: Rng,
}

impl Dev {
    fn is_network(&self) -> bool {
        matches!(
            self.kind,
            DeviceKind::Switch | DeviceKind::Router | DeviceKind::Firewall
        )
    }

    fn is_host(&self) -> bool {
        matches!(self.kind, DeviceKind::Server | DeviceKind::Pbx)
    }

    fn port_to(&self, peer: usize) -> Option<usize> {
        self.ifaces.iter().position(|i| i.peer == peer)
    }
}

/// A delayed consequence of a state change, rendered when due.
#[derive(Clone, Copy, Debug)]
enum Ev {
    Link {
        iface: usize,
        up: bool,
    },
    LineProto {
        iface: usize,
        up: bool,
    },
    TopoTrap {
        vlan: u32,
    },
    LldpDown {
        iface: usize,
    },
    KernelLink {
        up: bool,
    },
    ApState {
        ap: usize,
        up: bool,
    },
    CamState {
        cam: usize,
        up: bool,
    },
    PbxContact {
        ext: u32,
        up: bool,
    },
    Modem {
        link: usize,
        ev: LinkEvent,
    },
    Sdwan {
        link: usize,
        up: bool,
    },
    HaPrimary,
    /// A user (guest or crew) port going down or up: benign noise.
    UserPort {
        port: u32,
        up: bool,
    },
    /// Its line protocol (Cisco logs it separately).
    UserProto {
        port: u32,
        up: bool,
    },
    /// The controller announces an AP's scheduled firmware reboot.
    ApReboot {
        ap: usize,
    },
    /// The device is reloaded for an announced maintenance window.
    Reload,
    /// A backup job starts or ends on a host.
    Backup {
        start: bool,
    },
    /// A chatty or misleading line; the number picks the variant.
    Chatty {
        variant: u32,
    },
}

#[derive(Clone, Copy, Debug)]
struct Sched {
    at_ms: i64,
    host: usize,
    ev: Ev,
}

struct FaultRt {
    kind: FaultKind,
    dev: Option<usize>,
    link: Option<usize>,
    at_s: u64,
    end_s: u64,
}

/// One ship.
pub(crate) struct ShipSim {
    pub id: String,
    index: u32,
    start_ms: i64,
    log_eps: f64,
    metric_interval_s: u64,
    pub devs: Vec<Dev>,
    pub links: Vec<LinkSim>,
    seqs: Vec<u32>,
    aps: Vec<usize>,
    cams: Vec<usize>,
    wlc: Option<usize>,
    vms: Option<usize>,
    pbx: Option<usize>,
    fw_active: Option<usize>,
    firewalls: Vec<usize>,
    faults: Vec<FaultRt>,
    queue: Vec<Sched>,
    motion: Motion,
    weather: Weather,
    log_rng: Rng,
    /// The background's rate: its slow wander and its rare bursts, on a stream of their own
    /// so that the volume does not depend on which lines were drawn.
    rate_rng: Rng,
    rate_noise: f64,
    burst_until_s: u64,
    burst_factor: f64,
    next_burst_s: u64,
    cum: Vec<f64>,
    cum_idx: Vec<usize>,
    weights_dirty: bool,
    link_events: Vec<LinkEvent>,
    blocking_turn: Vec<bool>,
    block_heading: Vec<f64>,
    noise: NoiseSim,
    /// Devices the monitoring host polls and probes: the first `polled` (the inventory's);
    /// the unlisted ones after them only log.
    pub polled: usize,
    hosts: Vec<usize>,
    win_started: Vec<Window>,
    win_ended: Vec<Window>,
}

fn contains_any(id: &str, words: &[&str]) -> bool {
    let lower = id.to_ascii_lowercase();
    words.iter().any(|w| lower.contains(w))
}

/// Local hour (0..24) at longitude `lon` for UTC time `ts_ms`.
fn local_hour(ts_ms: i64, lon: f64) -> f64 {
    let utc_h = (ts_ms.rem_euclid(86_400_000)) as f64 / 3_600_000.0;
    (utc_h + lon / 15.0).rem_euclid(24.0)
}

/// Guest activity by local hour: quiet at 03:00, busiest late afternoon/evening.
fn diurnal(hour: f64) -> f64 {
    let x = ((hour - 7.0) / 16.0).clamp(0.0, 1.0);
    let day = (std::f64::consts::PI * x).sin();
    0.35 + day
}

impl ShipSim {
    pub(crate) fn new(
        ship: &Ship,
        faults: &[Fault],
        seed: u64,
        index: u32,
        start_ms: i64,
    ) -> ShipSim {
        let n = ship.device.len();
        let idx_of = |id: &str| ship.device.iter().position(|d| d.id == id);
        let parents: Vec<Vec<usize>> = ship
            .device
            .iter()
            .map(|d| d.depends_on.iter().filter_map(|p| idx_of(p)).collect())
            .collect();
        let mut children = vec![Vec::new(); n];
        for (i, ps) in parents.iter().enumerate() {
            for &p in ps {
                children[p].push(i);
            }
        }
        // depth from the root(s), shortest path (the scenario is validated acyclic)
        let mut depth = vec![u32::MAX; n];
        for _ in 0..=n {
            let mut changed = false;
            for i in 0..n {
                let d = if parents[i].is_empty() {
                    0
                } else {
                    parents[i]
                        .iter()
                        .map(|&p| depth[p])
                        .min()
                        .unwrap_or(u32::MAX)
                        .saturating_add(1)
                };
                if d < depth[i] {
                    depth[i] = d;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let first_fw = ship
            .device
            .iter()
            .position(|d| d.kind == DeviceKind::Firewall);
        let mut dist_count = 0u32;
        let mut devs: Vec<Dev> = Vec::with_capacity(n);
        for (i, d) in ship.device.iter().enumerate() {
            let mut rng = Rng::derive(seed, &["device", &ship.id, &d.id]);
            let has_switch_child = children[i]
                .iter()
                .any(|&c| ship.device[c].kind == DeviceKind::Switch);
            let has_switch_parent = parents[i]
                .iter()
                .any(|&p| ship.device[p].kind == DeviceKind::Switch);
            let role = match d.kind {
                DeviceKind::Switch => {
                    if contains_any(&d.id, &["core"]) {
                        Role::Core
                    } else if contains_any(&d.id, &["dist"]) {
                        Role::Dist
                    } else if contains_any(&d.id, &["acc", "edge"]) {
                        Role::Access
                    } else if has_switch_child && !has_switch_parent {
                        Role::Core
                    } else if has_switch_child {
                        Role::Dist
                    } else {
                        Role::Access
                    }
                }
                DeviceKind::Router => Role::Router,
                DeviceKind::Firewall => Role::Firewall {
                    active: first_fw == Some(i),
                },
                DeviceKind::Ap if contains_any(&d.id, &["wlc"]) => Role::Wlc,
                DeviceKind::Ap => Role::Ap,
                DeviceKind::Server if contains_any(&d.id, &["wlc"]) => Role::Wlc,
                DeviceKind::Server if contains_any(&d.id, &["vms", "nvr"]) => Role::Vms,
                DeviceKind::Server if contains_any(&d.id, &["win", "ad-", "dc-", "exch"]) => {
                    Role::Windows
                }
                DeviceKind::Server if contains_any(&d.id, &["db", "pg", "sql"]) => Role::Postgres,
                DeviceKind::Server => Role::Linux,
                DeviceKind::Modem => Role::Modem,
                DeviceKind::Pbx => Role::Pbx,
                DeviceKind::Cctv => Role::Camera,
                DeviceKind::Pos => Role::Pos,
                DeviceKind::Hvac => Role::Hvac,
            };
            let vendor = match role {
                Role::Core | Role::Router => Vendor::Cisco,
                Role::Dist => {
                    dist_count += 1;
                    if dist_count.is_multiple_of(2) {
                        Vendor::Juniper
                    } else {
                        Vendor::Cisco
                    }
                }
                Role::Access => Vendor::Cisco, // fixed below from the parent
                Role::Firewall { .. } => Vendor::Fortinet,
                _ => Vendor::Other,
            };
            let (weight, diurnal) = match role {
                Role::Core => (8.0, false),
                Role::Dist => (4.0, false),
                Role::Access => (1.0, false),
                Role::Router => (15.0, false),
                Role::Firewall { .. } => (20.0, false),
                Role::Ap => (1.5, true),
                Role::Wlc => (600.0, true),
                Role::Linux => (8.0, false),
                Role::Postgres => (15.0, false),
                Role::Windows => (25.0, false),
                Role::Vms => (30.0, false),
                Role::Pbx => (20.0, true),
                Role::Camera => (0.3, false),
                Role::Pos => (6.0, true),
                Role::Hvac => (1.0, false),
                Role::Modem => (2.0, false),
            };
            let zone: u8 = match d.kind {
                DeviceKind::Switch | DeviceKind::Router | DeviceKind::Firewall => 10,
                DeviceKind::Server => 20,
                DeviceKind::Pbx => 30,
                DeviceKind::Pos => 40,
                DeviceKind::Cctv => 50,
                DeviceKind::Ap => 60,
                DeviceKind::Hvac => 80,
                DeviceKind::Modem => 90,
            };
            let ip = [10, zone, (i / 250) as u8, (i % 250 + 1) as u8];
            let interval_ms = u64::from(ship.metric_interval_s) * 1000;
            let metric_offset_ms = (rng.f64() * interval_ms as f64) as u32;
            let serial = (fnv1a(d.id.as_bytes()) % 900_000) as u32;
            let mem_total: u64 = if role == Role::Postgres { 64 } else { 32 } << 30;
            devs.push(Dev {
                id: d.id.clone(),
                kind: d.kind,
                role,
                vendor,
                parents: parents[i].clone(),
                children: children[i].clone(),
                ifaces: Vec::new(),
                ip,
                pid: 800 + rng.below(30_000),
                serial,
                rfc5424: !(role == Role::Postgres || serial.is_multiple_of(3)),
                weight,
                elastic: if role == Role::Wlc { 0.15 } else { 0.0 },
                diurnal,
                metric_offset_ms,
                down: false,
                reachable: true,
                degraded: false,
                cpu_stress: 0.0,
                err_rate: 0.0,
                flapping: false,
                flap_down: false,
                next_flap_ms: 0,
                down_prev: false,
                disk: Vec::new(),
                disk_full: false,
                skew_ms: 0,
                noise_cpu: 0.0,
                cpu: 0.0,
                temp: rng.range(38.0, 52.0),
                mem_free: rng.range(0.35, 0.6),
                cpu_idle_s: rng.range(1e6, 5e7),
                cpu_user_s: rng.range(1e5, 5e6),
                fs_size: 500u64 << 30,
                fs_free_frac: rng.range(0.35, 0.6),
                mem_total,
                rng,
            });
        }
        // access switches speak their distribution switch's dialect
        for i in 0..n {
            if devs[i].role == Role::Access {
                if let Some(&p) = devs[i].parents.first() {
                    if devs[p].vendor == Vendor::Juniper {
                        devs[i].vendor = Vendor::Juniper;
                    }
                }
            }
        }
        // ports of network devices: uplinks to parents, downlinks to children
        for i in 0..n {
            if !devs[i].is_network() {
                continue;
            }
            let (role, vendor) = (devs[i].role, devs[i].vendor);
            let mut ifaces = Vec::new();
            for (k, &p) in devs[i].parents.clone().iter().enumerate() {
                let name = port_name(role, vendor, true, k as u32);
                let load = match role {
                    Role::Core | Role::Firewall { .. } | Role::Router => 8e8,
                    Role::Dist => 3e8,
                    _ => 4e7,
                };
                ifaces.push(new_iface(name, p, true, load, &mut devs[i].rng));
            }
            for (k, &c) in devs[i].children.clone().iter().enumerate() {
                let name = port_name(role, vendor, false, k as u32);
                let load = if devs[c].is_network() { 3e8 } else { 2e7 };
                ifaces.push(new_iface(name, c, false, load, &mut devs[i].rng));
            }
            devs[i].ifaces = ifaces;
        }
        let find = |pred: &dyn Fn(&Dev) -> bool| devs.iter().position(pred);
        let wlc = find(&|d: &Dev| d.role == Role::Wlc);
        let vms = find(&|d: &Dev| d.role == Role::Vms);
        let pbx = find(&|d: &Dev| d.role == Role::Pbx);
        let fw_active = find(&|d: &Dev| d.role == Role::Firewall { active: true });
        let firewalls: Vec<usize> = (0..n)
            .filter(|&i| devs[i].kind == DeviceKind::Firewall)
            .collect();
        let aps: Vec<usize> = (0..n).filter(|&i| devs[i].role == Role::Ap).collect();
        let cams: Vec<usize> = (0..n).filter(|&i| devs[i].role == Role::Camera).collect();

        // links: modem mapping and satellite azimuths clear of the route's headings
        let motion = Motion::new(
            &ship.route,
            ship.speed_kn,
            Rng::derive(seed, &["motion", &ship.id]),
        );
        let modems: Vec<usize> = (0..n)
            .filter(|&i| devs[i].kind == DeviceKind::Modem)
            .collect();
        let bearings = motion.leg_bearings();
        let vsat_count = ship
            .link
            .iter()
            .filter(|l| l.kind == LinkKind::Vsat)
            .count();
        let base_az = best_satellite_azimuth(&bearings, vsat_count);
        let mut vsat_i = 0;
        let links: Vec<LinkSim> = ship
            .link
            .iter()
            .enumerate()
            .map(|(li, l)| {
                let kind_word = match l.kind {
                    LinkKind::Vsat => "vsat",
                    LinkKind::Leo => "leo",
                    LinkKind::Lte => "lte",
                    LinkKind::PortWifi => "wifi",
                };
                let modem = modems
                    .iter()
                    .copied()
                    .find(|&m| contains_any(&devs[m].id, &[&l.id.to_ascii_lowercase()]))
                    .or_else(|| {
                        modems.iter().copied().find(|&m| {
                            contains_any(&devs[m].id, &[kind_word])
                                || (l.kind == LinkKind::Leo
                                    && contains_any(&devs[m].id, &["starlink"]))
                        })
                    })
                    .or_else(|| (!modems.is_empty()).then(|| modems[li % modems.len()]));
                let start = ship.route.first().copied().unwrap_or([0.0, 0.0]);
                let sat_az = if let Some(az) = l.azimuth_deg {
                    az.rem_euclid(360.0)
                } else if let Some(sat_lon) = l.sat_lon {
                    geo_azimuth(start, sat_lon)
                } else if l.kind == LinkKind::Vsat {
                    let az = base_az + 45.0 * vsat_i as f64;
                    vsat_i += 1;
                    az.rem_euclid(360.0)
                } else {
                    0.0
                };
                LinkSim::new(
                    l,
                    modem,
                    sat_az,
                    Rng::derive(seed, &["link", &ship.id, &l.id]),
                )
            })
            .collect();

        let mut rt = Vec::new();
        let mut rain = Vec::new();
        let mut wx_rng = Rng::derive(seed, &["weather", &ship.id]);
        for f in faults.iter().filter(|f| f.ship == ship.id) {
            let dev = ship.device.iter().position(|d| d.id == f.target);
            let link = ship.link.iter().position(|l| l.id == f.target);
            if f.kind == FaultKind::RainFade {
                let dur = f.duration_s as f64;
                // The cell lies across the target antenna's line of sight: its core
                // fades that link 1-4 dB past the loss of lock, at 0.15-0.4 dB/s on
                // average (domain.md: slopes 0.1-1 dB/s), while the ship and its other
                // antennas are under the cell's edge (a tenth to a fifth of the core's
                // rate, at most 15 mm/h: ACM steps down on Ka, a few dB on Ku, lock
                // kept). So the link the fault names is the one that goes out, whatever
                // the other links' bands, and the rate at its core follows its band.
                let past_lock = wx_rng.range(1.0, 4.0);
                let edge = wx_rng.range(0.1, 0.2);
                let slope = wx_rng.range(0.15, 0.4);
                let core = link.and_then(|l| {
                    let k = &ship.link[l];
                    let band = k.effective_band();
                    let depth = lock_margin_db(k.kind, band) + past_lock;
                    rain_for_attenuation(band, k.kind, depth).map(|r| (r, depth))
                });
                let (peak_mm_h, ramp_s, edge) = match core {
                    Some((r, depth)) => (r, depth / slope, (edge * r).min(15.0) / r),
                    None => (70.0, dur / 5.0, 1.0),
                };
                rain.push(RainCell {
                    start_s: f.at_s as f64,
                    end_s: f.end_s() as f64,
                    peak_mm_h,
                    ramp_s: ramp_s.clamp(30.0, 240.0).min(dur / 2.0),
                    core_link: core.and(link),
                    edge,
                });
            }
            if f.kind == FaultKind::DiskFull {
                if let Some(d) = dev {
                    let ramp = f.at_s.min(7200);
                    devs[d].disk.push((f.at_s - ramp, f.at_s, f.end_s()));
                }
            }
            rt.push(FaultRt {
                kind: f.kind,
                dev,
                link,
                at_s: f.at_s,
                end_s: f.end_s(),
            });
        }
        let weather = Weather::new(rain, wx_rng);
        let noise_cfg = if ship.noise.enabled {
            ship.noise.clone()
        } else {
            Noise::off()
        };
        let mut noise_rng = Rng::derive(seed, &["noise", &ship.id]);
        for d in devs.iter_mut() {
            if noise_rng.chance(noise_cfg.clock_skew_fraction) {
                let max = noise_cfg.clock_skew_max_s;
                let secs = noise_rng.range(max.min(1.0), max);
                let sign = if noise_rng.chance(0.5) { -1.0 } else { 1.0 };
                d.skew_ms = (sign * secs * 1000.0) as i64;
            }
        }
        let flaps: Vec<bool> = devs.iter().map(|d| d.role == Role::Access).collect();
        let lon = ship.route.first().map_or(0.0, |p| p[1]);
        let mut noise = NoiseSim::new(noise_cfg, noise_rng, start_ms, lon, &flaps, n);
        for m in &ship.maintenance {
            if let Some(d) = devs.iter().position(|d| d.id == m.target) {
                noise.add(Window {
                    dev: d,
                    from_s: m.at_s,
                    to_s: m.at_s + m.duration_s,
                    kind: WinKind::Maintenance,
                    level: 0.0,
                });
            }
        }
        let hosts: Vec<usize> = (0..n).filter(|&i| devs[i].is_host()).collect();
        let log_rng = Rng::derive(seed, &["logs", &ship.id]);
        let mut rate_rng = Rng::derive(seed, &["log-rate", &ship.id]);
        let next_burst_s = u64::from(rate_rng.int(1800, 7200));
        let n_links = links.len();
        ShipSim {
            id: ship.id.clone(),
            index,
            start_ms,
            log_eps: ship.log_eps,
            metric_interval_s: u64::from(ship.metric_interval_s),
            seqs: devs.iter().map(|d| d.serial % 5000).collect(),
            devs,
            links,
            aps,
            cams,
            wlc,
            vms,
            pbx,
            fw_active,
            firewalls,
            faults: rt,
            queue: Vec::new(),
            motion,
            weather,
            log_rng,
            rate_rng,
            rate_noise: 0.0,
            burst_until_s: 0,
            burst_factor: 1.0,
            next_burst_s,
            cum: Vec::new(),
            cum_idx: Vec::new(),
            weights_dirty: true,
            link_events: Vec::new(),
            blocking_turn: vec![false; n_links],
            block_heading: vec![0.0; n_links],
            noise,
            polled: n,
            hosts,
            win_started: Vec::new(),
            win_ended: Vec::new(),
        }
    }

    /// Generates simulated second `s` into `batch`.
    pub(crate) fn step(&mut self, s: u64, batch: &mut Batch) {
        let t0 = self.start_ms + s as i64 * 1000;
        let heading_order = self.apply_faults(s);
        self.apply_noise(s, t0, batch);
        self.motion.step(s, heading_order);
        self.weather.step(s);
        self.update_reachability(t0);
        self.flaps(t0, batch);
        self.step_links(s, t0);
        self.background(s, t0, batch);
        self.fault_lines(s, t0, batch);
        self.due_events(t0 + 1000, batch);
        self.metrics(s, t0, batch);
    }

    fn apply_faults(&mut self, s: u64) -> Option<HeadingOrder> {
        for d in &mut self.devs {
            d.down = false;
            d.degraded = false;
            d.cpu_stress = 0.0;
            d.err_rate = 0.0;
            d.flapping = false;
        }
        let mut order = None;
        let mut link_faults = vec![LinkFaults::default(); self.links.len()];
        for f in &self.faults {
            let active = s >= f.at_s && s < f.end_s;
            let lead = |secs: u64| {
                let from = f.at_s.saturating_sub(secs);
                if s >= from && s < f.at_s && f.at_s > from {
                    Some((s - from) as f64 / (f.at_s - from) as f64)
                } else {
                    None
                }
            };
            if let Some(d) = f.dev {
                let dev = &mut self.devs[d];
                match f.kind {
                    FaultKind::Down => dev.down |= active,
                    FaultKind::Degraded => dev.degraded |= active,
                    FaultKind::Flapping => {
                        if active {
                            dev.flapping = true;
                            dev.err_rate = dev.err_rate.max(120.0);
                        } else if let Some(x) = lead(900) {
                            dev.err_rate = dev.err_rate.max(60.0 * x * x);
                        }
                    }
                    FaultKind::CpuSaturation => {
                        if active {
                            dev.cpu_stress = 1.0;
                        } else if let Some(x) = lead(300) {
                            dev.cpu_stress = dev.cpu_stress.max(0.8 * x);
                        }
                    }
                    FaultKind::InterfaceErrors if active => {
                        let ramp = ((s - f.at_s) as f64 / 60.0).min(1.0);
                        dev.err_rate = dev.err_rate.max(40.0 + 260.0 * ramp);
                    }
                    _ => {}
                }
            }
            if let Some(l) = f.link {
                match f.kind {
                    FaultKind::LinkOutage => link_faults[l].outage |= active,
                    FaultKind::Degraded => link_faults[l].degraded |= active,
                    FaultKind::Flapping if active => {
                        // carrier drops for 1–3 s of every 4–10 s
                        let phase = (s - f.at_s) % 7;
                        link_faults[l].flap_down = phase < 2;
                    }
                    FaultKind::Blockage => {
                        // hold a heading 8° inside the near edge of the blockage zone
                        // the heading that puts the satellite in the middle of the first
                        // blockage sector (the mast astern unless surveyed otherwise)
                        let (zone_centre, half) = self.links[l].first_zone();
                        let centre = (self.links[l].sat_az - zone_centre).rem_euclid(360.0);
                        let inside = (half - 8.0).max(half * 0.5);
                        let side = angle_diff(centre, self.motion.heading).signum();
                        let side = if side == 0.0 { 1.0 } else { side };
                        let target = if self.blocking_turn[l] {
                            self.block_heading[l]
                        } else {
                            (centre + side * inside).rem_euclid(360.0)
                        };
                        let dist = angle_diff(self.motion.heading, target).abs();
                        let need_s = ((dist - half + 3.0).max(0.0) / TURN_RATE_DEG_S).ceil() as u64;
                        if s < f.end_s && s + need_s >= f.at_s && !self.blocking_turn[l] {
                            self.blocking_turn[l] = true;
                            self.block_heading[l] = target;
                        }
                        if s >= f.end_s {
                            self.blocking_turn[l] = false;
                        }
                        if self.blocking_turn[l] {
                            order = Some(HeadingOrder { heading: target });
                        }
                    }
                    _ => {}
                }
            }
        }
        for (l, lf) in link_faults.into_iter().enumerate() {
            self.links[l].pending_faults = lf;
        }
        for d in &mut self.devs {
            d.disk_full = d.disk.iter().any(|&(_, at, end)| s >= at && s < end);
        }
        order
    }

    /// Benign noise of second `s`: windows (AP reboots, maintenance, backups, bursts) and
    /// point events (user-port flaps, chatty lines). Runs after the faults, before
    /// reachability, so a window's device goes down this second.
    fn apply_noise(&mut self, s: u64, t0: i64, batch: &mut Batch) {
        for d in &mut self.devs {
            d.noise_cpu = 0.0;
        }
        if s.is_multiple_of(3600) {
            self.noise.plan_nights(s, &self.aps, &self.hosts);
        }
        let mut started = std::mem::take(&mut self.win_started);
        let mut ended = std::mem::take(&mut self.win_ended);
        self.noise.advance_windows(s, &mut started, &mut ended);
        for w in &started {
            match w.kind {
                WinKind::ApReboot => {
                    if let Some(wlc) = self.wlc {
                        self.render(batch, t0, wlc, Ev::ApReboot { ap: w.dev });
                    }
                }
                WinKind::Maintenance => self.render(batch, t0, w.dev, Ev::Reload),
                WinKind::Backup => self.render(batch, t0 + 5, w.dev, Ev::Backup { start: true }),
                WinKind::CpuBurst => {}
            }
        }
        for w in &ended {
            if w.kind == WinKind::Backup {
                self.render(batch, t0 + 5, w.dev, Ev::Backup { start: false });
            }
        }
        self.win_started = started;
        self.win_ended = ended;
        for k in 0..self.noise.active.len() {
            let w = self.noise.active[k];
            let d = &mut self.devs[w.dev];
            match w.kind {
                WinKind::ApReboot | WinKind::Maintenance => d.down = true,
                WinKind::Backup | WinKind::CpuBurst => d.noise_cpu = d.noise_cpu.max(w.level),
            }
        }
        let end = t0 + 1000;
        while let Some((at, i, src)) = self.noise.pop_due(end) {
            if !self.devs[i].reachable || self.devs[i].down {
                continue;
            }
            match src {
                Src::UserFlap => {
                    let d = &self.devs[i];
                    let port = (d.ifaces.len() as u32 + 1 + self.noise.rng.below(24)).min(47);
                    let hold = 2000 + i64::from(self.noise.rng.below(88_000));
                    let cisco = d.vendor == Vendor::Cisco;
                    self.render(batch, at, i, Ev::UserPort { port, up: false });
                    if cisco {
                        let p = at + 1000 + i64::from(self.noise.rng.below(120));
                        self.schedule(p, i, Ev::UserProto { port, up: false });
                    }
                    self.schedule(at + hold, i, Ev::UserPort { port, up: true });
                    if cisco {
                        let p = at + hold + 1000 + i64::from(self.noise.rng.below(120));
                        self.schedule(p, i, Ev::UserProto { port, up: true });
                    }
                }
                Src::Chatty => {
                    let variant = self.noise.rng.u32();
                    let before = batch.recs.len();
                    self.render(batch, at, i, Ev::Chatty { variant });
                    if batch.recs.len() > before && self.noise.rng.chance(0.2) {
                        // the same line again (a retransmit, or a daemon repeating itself)
                        let r = batch.recs[before];
                        let again = (at + i64::from(self.noise.rng.below(800))).min(end - 1);
                        let bytes = batch.bytes[r.start as usize..r.end as usize].to_vec();
                        batch.push(again, self.index, false, |w| w.b(&bytes));
                    }
                }
                Src::Burst => {
                    let polls = 1 + self.noise.rng.below(2);
                    let level = self.noise.rng.range(55.0, 85.0);
                    let secs = polls as u64 * self.metric_interval_s;
                    self.noise.add(Window {
                        dev: i,
                        from_s: s + 1,
                        to_s: s + 1 + secs,
                        kind: WinKind::CpuBurst,
                        level,
                    });
                }
            }
        }
    }

    fn update_reachability(&mut self, t0: i64) {
        let n = self.devs.len();
        let prev_down: Vec<bool> = self.devs.iter().map(|d| d.down_prev).collect();
        let prev_reach: Vec<bool> = self.devs.iter().map(|d| d.reachable).collect();
        // parents come before children after enough passes; iterate to a fixpoint
        for d in &mut self.devs {
            d.reachable = !d.down;
        }
        let mut changed = true;
        while changed {
            changed = false;
            for i in 0..n {
                if !self.devs[i].reachable || self.devs[i].parents.is_empty() {
                    continue;
                }
                let any = self.devs[i].parents.iter().any(|&p| self.devs[p].reachable);
                if !any {
                    self.devs[i].reachable = false;
                    changed = true;
                }
            }
        }
        for i in 0..n {
            let down = self.devs[i].down;
            if down != prev_down[i] {
                self.weights_dirty = true;
                self.on_down_change(i, down, t0);
            }
            let reach = self.devs[i].reachable;
            if reach != prev_reach[i] {
                self.weights_dirty = true;
                self.on_reach_change(i, reach, t0);
            }
            self.devs[i].down_prev = down;
        }
        // HA: the secondary takes over when the primary cannot be reached (no preemption)
        let current_ok = self.fw_active.is_some_and(|f| self.devs[f].reachable);
        if !current_ok {
            let next = self
                .firewalls
                .iter()
                .copied()
                .find(|&f| self.devs[f].reachable);
            if let (Some(new), true) = (next, next != self.fw_active) {
                let at = t0 + 1000 + i64::from(self.log_rng.below(2000));
                self.schedule(at, new, Ev::HaPrimary);
                self.fw_active = Some(new);
                self.weights_dirty = true;
            }
        }
    }

    fn schedule(&mut self, at_ms: i64, host: usize, ev: Ev) {
        self.queue.push(Sched { at_ms, host, ev });
    }

    /// Link loss seen by the neighbours of device `i` when it dies or comes back.
    fn on_down_change(&mut self, i: usize, down: bool, t0: i64) {
        let mut neighbours: Vec<usize> = self.devs[i].parents.clone();
        neighbours.extend(self.devs[i].children.iter().copied());
        for nb in neighbours {
            if !self.devs[nb].is_network() {
                // a host's NIC sees carrier loss on its own uplink
                if self.devs[nb].is_host() && self.devs[nb].parents.contains(&i) {
                    let at = t0 + i64::from(self.log_rng.below(900));
                    self.schedule(at, nb, Ev::KernelLink { up: !down });
                }
                continue;
            }
            let Some(iface) = self.devs[nb].port_to(i) else {
                continue;
            };
            self.devs[nb].ifaces[iface].up = !down;
            let delay = if down {
                i64::from(self.log_rng.below(900))
            } else {
                1500 + i64::from(self.log_rng.below(2000))
            };
            let at = t0 + delay;
            self.schedule(at, nb, Ev::Link { iface, up: !down });
            let proto_at = at + 1000 + i64::from(self.log_rng.below(120));
            self.schedule(proto_at, nb, Ev::LineProto { iface, up: !down });
            if matches!(self.devs[nb].role, Role::Core | Role::Dist | Role::Access) {
                let vlan = *self.log_rng.pick(&[10u32, 20, 30, 40, 50, 60, 110, 120]);
                let at = proto_at + 400 + i64::from(self.log_rng.below(1500));
                self.schedule(at, nb, Ev::TopoTrap { vlan });
            }
            if down {
                // LLDP hold time (4 × 30 s) runs out
                let at = t0 + 120_000 + i64::from(self.log_rng.below(5000));
                self.schedule(at, nb, Ev::LldpDown { iface });
            }
        }
    }

    /// What other systems notice when device `i` becomes (un)reachable.
    fn on_reach_change(&mut self, i: usize, reach: bool, t0: i64) {
        let role = self.devs[i].role;
        if role == Role::Ap {
            if let Some(wlc) = self.wlc {
                let delay = if reach {
                    60_000 + self.log_rng.below(120_000)
                } else {
                    30_000 + self.log_rng.below(30_000)
                };
                self.schedule(t0 + i64::from(delay), wlc, Ev::ApState { ap: i, up: reach });
            }
        }
        if role == Role::Camera {
            if let Some(vms) = self.vms {
                let delay = if reach {
                    20_000 + self.log_rng.below(40_000)
                } else {
                    10_000 + self.log_rng.below(10_000)
                };
                self.schedule(
                    t0 + i64::from(delay),
                    vms,
                    Ev::CamState { cam: i, up: reach },
                );
            }
        }
        if role == Role::Access {
            if let Some(pbx) = self.pbx {
                // the phones behind this access switch stop answering qualify requests
                let phones = 3 + self.log_rng.below(4);
                for p in 0..phones {
                    let ext = 4000 + (i as u32 * 48 + p * 7) % 4000;
                    let delay = if reach {
                        30_000 + self.log_rng.below(90_000)
                    } else {
                        30_000 + self.log_rng.below(60_000)
                    };
                    self.schedule(
                        t0 + i64::from(delay),
                        pbx,
                        Ev::PbxContact { ext, up: reach },
                    );
                }
            }
        }
    }

    fn flaps(&mut self, t0: i64, batch: &mut Batch) {
        let end = t0 + 1000;
        for i in 0..self.devs.len() {
            if !self.devs[i].flapping {
                if self.devs[i].flap_down {
                    // the window ended while the port was down: it comes back up
                    self.devs[i].flap_down = false;
                    self.flap_toggle(i, t0 + 200, batch);
                }
                self.devs[i].next_flap_ms = 0;
                continue;
            }
            if self.devs[i].next_flap_ms == 0 {
                self.devs[i].next_flap_ms = t0 + i64::from(self.devs[i].rng.below(1000));
            }
            while self.devs[i].next_flap_ms < end {
                let at = self.devs[i].next_flap_ms;
                self.devs[i].flap_down = !self.devs[i].flap_down;
                self.flap_toggle(i, at, batch);
                let hold = if self.devs[i].flap_down {
                    1000 + self.devs[i].rng.below(2000)
                } else {
                    3000 + self.devs[i].rng.below(5000)
                };
                self.devs[i].next_flap_ms = at + i64::from(hold);
            }
        }
    }

    /// The uplink of device `i` changed state at `at`: both ends log it.
    fn flap_toggle(&mut self, i: usize, at: i64, batch: &mut Batch) {
        let up = !self.devs[i].flap_down;
        let Some(&p) = self.devs[i].parents.first() else {
            return;
        };
        for (host, peer) in [(p, i), (i, p)] {
            if !self.devs[host].reachable || !self.devs[host].is_network() {
                continue;
            }
            let Some(iface) = self.devs[host].port_to(peer) else {
                continue;
            };
            self.devs[host].ifaces[iface].up = up;
            let at = (at + i64::from(self.log_rng.below(40))).min(at.div_euclid(1000) * 1000 + 999);
            self.render(batch, at, host, Ev::Link { iface, up });
            let proto_at = at + 700 + i64::from(self.log_rng.below(300));
            self.schedule(proto_at, host, Ev::LineProto { iface, up });
            if !up && matches!(self.devs[host].role, Role::Core | Role::Dist | Role::Access) {
                self.schedule(proto_at + 300, host, Ev::TopoTrap { vlan: 120 });
            }
        }
        if self.devs[i].is_host() {
            self.render(batch, at, i, Ev::KernelLink { up });
        }
    }

    fn step_links(&mut self, s: u64, t0: i64) {
        let heading = self.motion.heading;
        let port_nm = self.motion.distance_to_port_nm();
        // the satellites' look angles from where the ship is, and the sun's: a GEO slot
        // moves across the sky as the ship sails; the sun in the beam adds solar noise
        let [lat, lon] = self.motion.pos;
        let mut sun = None;
        for link in self.links.iter_mut().filter(|l| l.kind == LinkKind::Vsat) {
            if let Some(slot) = link.sat_lon {
                let look = seawatch_model::sky::geo_look(lat, lon, slot);
                link.sat_az = look.az_deg;
                link.sat_el = Some(look.el_deg);
            }
            link.sun_att = match link.sat_el {
                Some(el) => {
                    let sun =
                        *sun.get_or_insert_with(|| seawatch_model::sky::sun_look(t0, lat, lon));
                    link.solar_noise_db(sun, el)
                }
                None => 0.0,
            };
        }
        for l in 0..self.links.len() {
            let rain = self.weather.rain_on_link(l);
            let modem_up = self.links[l].modem.is_none_or(|m| !self.devs[m].down);
            let faults = self.links[l].pending_faults;
            let was_locked = self.links[l].locked;
            let mut events = std::mem::take(&mut self.link_events);
            events.clear();
            self.links[l].step(s, heading, rain, port_nm, modem_up, faults, &mut events);
            for ev in events.iter().copied() {
                if let Some(m) = self.links[l].modem {
                    let at = t0 + i64::from(self.log_rng.below(1000));
                    self.schedule(at, m, Ev::Modem { link: l, ev });
                }
            }
            self.link_events = events;
            let locked = self.links[l].locked;
            if locked != was_locked {
                if let Some(fw) = self.fw_active {
                    let at = t0 + 2000 + i64::from(self.log_rng.below(3000));
                    self.schedule(
                        at,
                        fw,
                        Ev::Sdwan {
                            link: l,
                            up: locked,
                        },
                    );
                }
            }
        }
    }

    /// Per-device background rates (lines/s) for the current hour and reachability.
    ///
    /// Every device logs at its kind's rate from domain.md §3 (lines per minute); the
    /// elastic sources (the active firewall's traffic log and the WLC's client log) carry
    /// the rest of the ship's `log_eps`. If the fixed rates alone exceed `log_eps`, all are
    /// scaled down so that the elastic sources keep a fifth.
    fn rebuild_weights(&mut self, ts_ms: i64) {
        let hour = local_hour(ts_ms, self.motion.pos[1]);
        let day = diurnal(hour);
        let mut fixed = 0.0;
        let mut elastic = 0.0;
        let fw_active = self.fw_active;
        let share = |i: usize, d: &Dev| match d.role {
            Role::Firewall { .. } if fw_active == Some(i) => 0.85,
            Role::Firewall { .. } => 0.0,
            _ => d.elastic,
        };
        for (i, d) in self.devs.iter().enumerate() {
            let f = if d.diurnal || fw_active == Some(i) {
                day
            } else {
                1.0
            };
            let e = share(i, d);
            if e > 0.0 {
                elastic += e * f;
            } else {
                fixed += d.weight / 60.0 * f;
            }
        }
        let (fixed_scale, elastic_total) = if elastic <= 0.0 {
            (self.log_eps / fixed.max(1e-9), 0.0)
        } else if fixed * 1.25 <= self.log_eps {
            (1.0, self.log_eps - fixed)
        } else {
            (0.8 * self.log_eps / fixed.max(1e-9), 0.2 * self.log_eps)
        };
        let ap_total = self.aps.len();
        let ap_up = self.aps.iter().filter(|&&a| self.devs[a].reachable).count();
        let ap_factor = if ap_total == 0 {
            1.0
        } else {
            0.1 + 0.9 * ap_up as f64 / ap_total as f64
        };
        self.cum.clear();
        self.cum_idx.clear();
        let mut active = 0.0;
        for (i, d) in self.devs.iter().enumerate() {
            let f = if d.diurnal || fw_active == Some(i) {
                day
            } else {
                1.0
            };
            let e = share(i, d);
            let eps = if e > 0.0 {
                let share = elastic_total * e * f / elastic;
                if d.role == Role::Wlc {
                    share * ap_factor
                } else {
                    share
                }
            } else {
                d.weight / 60.0 * f * fixed_scale
            };
            if d.reachable && eps > 0.0 {
                active += eps;
                self.cum.push(active);
                self.cum_idx.push(i);
            }
        }
        self.weights_dirty = false;
    }

    fn background(&mut self, s: u64, t0: i64, batch: &mut Batch) {
        if self.weights_dirty || s.is_multiple_of(60) {
            self.rebuild_weights(t0);
        }
        let active = self.cum.last().copied().unwrap_or(0.0);
        if active <= 0.0 {
            return;
        }
        // slow wander of the rate, and a rare short burst (a login storm, a scan)
        self.rate_noise = 0.99 * self.rate_noise + 0.014 * self.rate_rng.normal();
        if s >= self.next_burst_s {
            self.burst_until_s = s + u64::from(self.rate_rng.int(10, 40));
            self.burst_factor = self.rate_rng.range(1.5, 3.0);
            self.next_burst_s = s + u64::from(self.rate_rng.int(3600, 10_800));
        }
        let burst = if s < self.burst_until_s {
            self.burst_factor
        } else {
            1.0
        };
        let lambda = active * (1.0 + 0.5 * self.rate_noise) * burst;
        let count = (lambda + lambda.sqrt() * self.rate_rng.normal())
            .round()
            .max(0.0) as usize;
        let ctx = Ctx {
            devs: &self.devs,
            fw_active: self.fw_active,
            aps: &self.aps,
            cams: &self.cams,
        };
        let step = 1000.0 / count.max(1) as f64;
        let mut cached: Option<(i64, Civil)> = None;
        for k in 0..count {
            let ts = t0 + ((k as f64 + self.log_rng.f64()) * step) as i64;
            let x = self.log_rng.f64() * active;
            let pos = self
                .cum
                .partition_point(|&c| c <= x)
                .min(self.cum.len() - 1);
            let d = self.cum_idx[pos];
            let local = ts + self.devs[d].skew_ms;
            let c = match cached {
                Some((t, c)) if t == local => c,
                _ => {
                    let c = civil(local);
                    cached = Some((local, c));
                    c
                }
            };
            let seq = &mut self.seqs[d];
            let rng = &mut self.log_rng;
            batch.push(ts, self.index, false, |w| {
                syslog::background(w, &c, local, d, seq, rng, &ctx)
            });
        }
    }

    /// Lines a fault makes a device write while it lasts (ENOSPC, CPU hog, ...).
    fn fault_lines(&mut self, s: u64, t0: i64, batch: &mut Batch) {
        for i in 0..self.devs.len() {
            let d = &self.devs[i];
            if !d.reachable {
                continue;
            }
            if d.disk_full && self.log_rng.chance(0.3) {
                let at = t0 + i64::from(self.log_rng.below(1000));
                let c = civil(at + self.devs[i].skew_ms);
                let dev = &self.devs[i];
                let restart = self.log_rng.below(4);
                let pid = dev.pid + self.log_rng.below(9000);
                batch.push(at, self.index, false, |w| {
                    if dev.role == Role::Postgres && restart != 0 {
                        syslog::linux(w, &c, dev, DAEMON, CRIT, "postgres", Some(pid));
                        w.b(b"PANIC:  could not write to file \"pg_wal/xlogtemp.");
                        w.u(u64::from(pid));
                        w.b(b"\": No space left on device");
                    } else if restart == 0 {
                        syslog::linux(w, &c, dev, DAEMON, NOTICE, "systemd", Some(1));
                        w.s(if dev.role == Role::Postgres { "postgresql.service" } else { "app.service" });
                        w.b(b": Scheduled restart job, restart counter is at ");
                        w.u(1 + (s % 97));
                        w.b(b".");
                    } else {
                        syslog::linux(w, &c, dev, DAEMON, ERR, "rsyslogd", Some(dev.pid + 3));
                        w.b(b"file '/var/log/app/app.log': write error: No space left on device [v8.2302.0 try https://www.rsyslog.com/e/2027 ]");
                    }
                });
            }
            let d = &self.devs[i];
            if d.cpu_stress >= 1.0 && s % 30 == 7 {
                let at = t0 + i64::from(self.log_rng.below(1000));
                let c = civil(at + self.devs[i].skew_ms);
                let dev = &self.devs[i];
                let ms = 2000 + self.log_rng.below(3000);
                let seq = &mut self.seqs[i];
                batch.push(at, self.index, false, |w| match dev.role {
                    Role::Firewall { .. } => {
                        syslog::forti(
                            w,
                            &c,
                            at,
                            dev,
                            WARNING,
                            "0100040704",
                            "event",
                            "system",
                            "notice",
                        );
                        w.b(
                            b"logdesc=\"System performance statistics\" action=\"perf-stats\" cpu=",
                        );
                        w.u(u64::from(92 + ms % 8));
                        w.b(b" mem=");
                        w.u(u64::from(70 + ms % 15));
                        w.b(b" totalsession=");
                        w.u(u64::from(180_000 + ms * 10));
                        w.b(b" msg=\"Performance statistics: average CPU: ");
                        w.u(u64::from(92 + ms % 8));
                        w.b(b"\"");
                    }
                    Role::Core | Role::Dist | Role::Access | Role::Router
                        if dev.vendor == Vendor::Cisco =>
                    {
                        syslog::cisco(w, &c, &dev.id, seq, 3, "%SYS-3-CPUHOG");
                        w.b(b"Task is running for (");
                        w.u(u64::from(ms));
                        w.b(b")msecs, more than (2000)msecs (0/0),process = IP Input.");
                    }
                    Role::Core | Role::Dist | Role::Access | Role::Router => {
                        syslog::junos(w, &c, &dev.id, WARNING, "chassisd", dev.pid + 100);
                        w.b(b"CHASSISD_RE_CPU_HIGH: Routing Engine CPU utilization ");
                        w.u(u64::from(92 + ms % 8));
                        w.b(b" percent exceeds threshold 90 percent");
                    }
                    _ => {
                        syslog::linux(w, &c, dev, KERN, ERR, "kernel", None);
                        w.b(b"INFO: task ");
                        w.s(if dev.role == Role::Postgres {
                            "postgres"
                        } else {
                            "java"
                        });
                        w.b(b":");
                        w.u(u64::from(dev.pid));
                        w.b(b" blocked for more than 120 seconds.");
                    }
                });
            }
            let d = &self.devs[i];
            if d.degraded && d.is_host() && s % 45 == 11 {
                let at = t0 + i64::from(self.log_rng.below(1000));
                let c = civil(at + self.devs[i].skew_ms);
                let dev = &self.devs[i];
                batch.push(at, self.index, false, |w| {
                    syslog::linux(w, &c, dev, KERN, WARNING, "kernel", None);
                    w.b(b"ixgbe 0000:03:00.0 eth0: Detected Tx Unit Hang, Tx Queue <3>");
                });
            }
        }
    }

    fn due_events(&mut self, end_ms: i64, batch: &mut Batch) {
        if self.queue.is_empty() {
            return;
        }
        let mut due: Vec<Sched> = Vec::new();
        self.queue.retain(|e| {
            if e.at_ms < end_ms {
                due.push(*e);
                false
            } else {
                true
            }
        });
        due.sort_by_key(|e| e.at_ms);
        for e in due {
            self.render(batch, e.at_ms, e.host, e.ev);
        }
    }

    /// Writes the line for `ev` on `host`, unless the host cannot be heard or the state
    /// it reports has changed back meanwhile.
    fn render(&mut self, batch: &mut Batch, at: i64, host: usize, ev: Ev) {
        let dev = &self.devs[host];
        if !dev.reachable {
            return;
        }
        let still_true = match ev {
            Ev::ApState { ap, up } | Ev::CamState { cam: ap, up } => self.devs[ap].reachable == up,
            // only IOS logs line protocol separately; FortiOS has no spanning tree here
            Ev::LineProto { .. } | Ev::UserProto { .. } => dev.vendor == Vendor::Cisco,
            Ev::TopoTrap { .. } => dev.vendor != Vendor::Fortinet,
            _ => true,
        };
        if !still_true {
            return;
        }
        let local = at + dev.skew_ms;
        let c = civil(local);
        let seq = &mut self.seqs[host];
        let devs = &self.devs;
        let links = &self.links;
        // noise lines draw from the noise stream: the fault model's stream (and with it
        // the background's rate) stays the same with noise on or off
        let rng = match ev {
            Ev::UserPort { .. }
            | Ev::UserProto { .. }
            | Ev::ApReboot { .. }
            | Ev::Reload
            | Ev::Backup { .. }
            | Ev::Chatty { .. } => &mut self.noise.rng,
            _ => &mut self.log_rng,
        };
        batch.push(at, self.index, false, |w| {
            render_event(w, &c, local, devs, host, seq, links, rng, ev)
        });
    }

    fn metrics(&mut self, s: u64, t0: i64, batch: &mut Batch) {
        let interval = self.metric_interval_s;
        let interval_ms = interval * 1000;
        for i in 0..self.polled.min(self.devs.len()) {
            let off = u64::from(self.devs[i].metric_offset_ms);
            if s % interval != off / 1000 % interval {
                continue;
            }
            let ts = t0 + (off % 1000) as i64;
            self.device_metrics(i, s, ts, interval_ms as f64 / 1000.0, batch);
        }
        // modem KPIs and ship state every 5 s
        if s.is_multiple_of(5) {
            let ts = t0 + 250;
            for l in 0..self.links.len() {
                if let Some(m) = self.links[l].modem {
                    if !self.devs[m].reachable {
                        continue;
                    }
                }
                let link = &mut self.links[l];
                let esno = link.esno;
                let ber = link.ber();
                let rx = link.rx_power_dbm();
                let snr = esno + 0.2 + 0.1 * link.rng.normal();
                let lock = if link.locked { 1.0 } else { 0.0 };
                let id = &self.links[l].id;
                // the modem's exporter is scraped: its id is the `device` the sample belongs to
                let modem = self.links[l]
                    .modem
                    .map(|m| ("device", self.devs[m].id.as_str()));
                for (name, v, exact) in [
                    ("modem_esno_db", esno, false),
                    ("modem_snr_db", snr, false),
                    ("modem_ber", ber, true),
                    ("modem_rx_power_dbm", rx, false),
                    ("modem_lock", lock, false),
                ] {
                    metric(batch, self.index, ts, name, "link", id, modem, v, exact);
                }
            }
            let ts = t0 + 500;
            let ship = &self.id;
            let m = &self.motion;
            // heading and GPS position come from the antenna control unit (NMEA from the
            // bridge), the rain rate from the weather station on the same feed
            let acu_index = self.devs.iter().position(|d| d.kind == DeviceKind::Modem);
            let acu_up = acu_index.is_none_or(|a| self.devs[a].reachable);
            let acu = acu_index.map(|a| ("device", self.devs[a].id.as_str()));
            if acu_up {
                metric(
                    batch,
                    self.index,
                    ts,
                    "ship_heading_deg",
                    "ship",
                    ship,
                    acu,
                    m.reported_heading(),
                    false,
                );
                metric(
                    batch, self.index, ts, "ship_lat", "ship", ship, acu, m.pos[0], true,
                );
                metric(
                    batch, self.index, ts, "ship_lon", "ship", ship, acu, m.pos[1], true,
                );
                metric(
                    batch,
                    self.index,
                    ts,
                    "weather_rain_mm_h",
                    "ship",
                    ship,
                    acu,
                    self.weather.rain_mm_h,
                    false,
                );
            }
        }
        // the firewalls' periodic performance report (FortiOS logs it every 5 minutes)
        if s % 300 == 150 {
            for i in 0..self.devs.len() {
                let d = &self.devs[i];
                if matches!(d.role, Role::Firewall { .. }) && d.reachable && d.cpu_stress < 1.0 {
                    let at = t0 + 100;
                    let c = civil(at + d.skew_ms);
                    let cpu = d.cpu.round() as u64;
                    batch.push(at, self.index, false, |w| {
                        syslog::forti(
                            w,
                            &c,
                            at,
                            d,
                            NOTICE,
                            "0100040704",
                            "event",
                            "system",
                            "notice",
                        );
                        w.b(
                            b"logdesc=\"System performance statistics\" action=\"perf-stats\" cpu=",
                        );
                        w.u(cpu);
                        w.b(b" mem=42 totalsession=");
                        w.u(60_000 + u64::from(d.serial % 20_000));
                        w.b(b" msg=\"Performance statistics: average CPU: ");
                        w.u(cpu);
                        w.b(b"\"");
                    });
                }
            }
        }
    }

    fn device_metrics(&mut self, i: usize, s: u64, ts: i64, interval_s: f64, batch: &mut Batch) {
        let ship = self.index;
        let hour = local_hour(ts, self.motion.pos[1]);
        let day = diurnal(hour);
        let depth_parent_stress = self.devs[i]
            .parents
            .iter()
            .any(|&p| self.devs[p].cpu_stress >= 1.0);
        let is_primary_fw = self.fw_active == Some(i);
        let d = &mut self.devs[i];
        let healthy = d.reachable && !d.flap_down && !d.degraded && d.cpu_stress < 1.0;
        // blackbox probe from the monitoring host
        let (mut ok, mut dur) = if !d.reachable {
            (false, 5.0 + 0.001 * d.rng.f64())
        } else if d.flap_down {
            (false, 5.0)
        } else if d.degraded {
            let ok = d.rng.chance(0.7);
            (ok, if ok { d.rng.range(0.15, 1.8) } else { 5.0 })
        } else if d.cpu_stress >= 1.0 {
            (true, d.rng.range(0.2, 1.4))
        } else {
            let base = d.rng.range(0.0006, 0.004) * (1.0 + 3.0 * d.cpu_stress);
            (
                true,
                if depth_parent_stress {
                    base + d.rng.range(0.05, 0.4)
                } else {
                    base
                },
            )
        };
        // benign noise: a healthy device loses a probe now and then (never two in a row)
        // and its latency jitters
        let noise = &mut self.noise;
        let mut lost = false;
        if healthy {
            if !noise.probe_lost_last[i]
                && noise.cfg.probe_loss > 0.0
                && noise.rng.chance(noise.cfg.probe_loss)
            {
                (ok, dur, lost) = (false, 5.0, true);
            } else if noise.cfg.probe_jitter_ms > 0.0 {
                let u = noise.rng.f64().max(1e-12);
                dur += -u.ln() * noise.cfg.probe_jitter_ms / 1000.0;
            }
        }
        noise.probe_lost_last[i] = lost;
        metric(
            batch,
            ship,
            ts,
            "probe_success",
            "device",
            &d.id,
            None,
            if ok { 1.0 } else { 0.0 },
            false,
        );
        metric(
            batch,
            ship,
            ts,
            "probe_duration_seconds",
            "device",
            &d.id,
            None,
            dur,
            true,
        );
        if !d.reachable {
            return; // SNMP and node_exporter time out: no samples
        }
        let base_cpu = match d.role {
            Role::Core => 18.0,
            Role::Dist => 12.0,
            Role::Access => 7.0,
            Role::Firewall { .. } if is_primary_fw => 15.0 + 20.0 * day,
            Role::Firewall { .. } => 6.0,
            Role::Router => 14.0,
            Role::Ap | Role::Wlc => 8.0 + 10.0 * day,
            _ => 12.0,
        };
        let stress = d.cpu_stress;
        let target = if stress >= 1.0 {
            d.rng.range(92.0, 99.5)
        } else {
            (base_cpu + stress * (85.0 - base_cpu)).max(d.noise_cpu)
        };
        d.cpu = if d.cpu == 0.0 || d.noise_cpu > 0.0 {
            target
        } else {
            0.5 * d.cpu + 0.5 * target
        };
        let cpu =
            (d.cpu + d.rng.normal() * if stress >= 1.0 { 1.5 } else { 2.0 }).clamp(0.5, 100.0);
        d.temp = 0.95 * d.temp + 0.05 * (45.0 + 0.15 * cpu) + 0.1 * d.rng.normal();
        if d.is_network() || matches!(d.kind, DeviceKind::Ap | DeviceKind::Modem) {
            metric(
                batch,
                ship,
                ts,
                "device_cpu_percent",
                "device",
                &d.id,
                None,
                cpu,
                false,
            );
            metric(
                batch,
                ship,
                ts,
                "device_temperature_celsius",
                "device",
                &d.id,
                None,
                d.temp,
                false,
            );
        }
        if d.is_network() {
            let err_rate = d.err_rate;
            let degraded = d.degraded;
            for k in 0..d.ifaces.len() {
                let f = &mut d.ifaces[k];
                if f.up {
                    let bps = f.load_bps * (0.5 + day) * d.rng.range(0.8, 1.2);
                    f.in_octets += (bps * interval_s / 8.0) as u64;
                    f.out_octets += (bps * 0.6 * interval_s / 8.0) as u64;
                    if d.rng.chance(0.02) {
                        f.in_errors += 1;
                    }
                    if d.rng.chance(0.05) {
                        f.discards += u64::from(d.rng.below(5));
                    }
                }
                // errors come in on one port: the uplink to the first parent
                if f.uplink && k == 0 && err_rate > 0.0 {
                    f.in_errors += (err_rate * interval_s * d.rng.range(0.7, 1.3)) as u64;
                }
                if f.uplink && degraded {
                    f.discards += (200.0 * interval_s * d.rng.range(0.5, 1.5)) as u64;
                    f.out_errors += d.rng.below(20) as u64;
                }
            }
        }
        // the parent's port facing a device with errors counts them too
        let (err_rate, degraded) = (self.devs[i].err_rate, self.devs[i].degraded);
        if err_rate > 0.0 || degraded {
            if let Some(&p) = self.devs[i].parents.first() {
                if let Some(k) = self.devs[p].port_to(i) {
                    let r = self.devs[p].rng.range(0.7, 1.3);
                    let f = &mut self.devs[p].ifaces[k];
                    f.in_errors += (err_rate * interval_s * r) as u64;
                    if degraded {
                        f.discards += (200.0 * interval_s * r) as u64;
                    }
                }
            }
        }
        let d = &mut self.devs[i];
        if d.is_network() {
            for f in &d.ifaces {
                let name = Some(("ifName", f.name.as_str()));
                metric(
                    batch,
                    ship,
                    ts,
                    "ifOperStatus",
                    "device",
                    &d.id,
                    name,
                    if f.up { 1.0 } else { 2.0 },
                    false,
                );
                metric(
                    batch,
                    ship,
                    ts,
                    "ifHCInOctets",
                    "device",
                    &d.id,
                    name,
                    f.in_octets as f64,
                    true,
                );
                metric(
                    batch,
                    ship,
                    ts,
                    "ifHCOutOctets",
                    "device",
                    &d.id,
                    name,
                    f.out_octets as f64,
                    true,
                );
                metric(
                    batch,
                    ship,
                    ts,
                    "ifInErrors",
                    "device",
                    &d.id,
                    name,
                    f.in_errors as f64,
                    true,
                );
                metric(
                    batch,
                    ship,
                    ts,
                    "ifOutErrors",
                    "device",
                    &d.id,
                    name,
                    f.out_errors as f64,
                    true,
                );
                metric(
                    batch,
                    ship,
                    ts,
                    "ifInDiscards",
                    "device",
                    &d.id,
                    name,
                    f.discards as f64,
                    true,
                );
            }
        }
        if d.is_host() {
            let cores = 16.0;
            let busy = cpu / 100.0;
            d.cpu_user_s += interval_s * cores * busy;
            d.cpu_idle_s += interval_s * cores * (1.0 - busy);
            d.mem_free = (d.mem_free + 0.01 * d.rng.normal()).clamp(0.15, 0.8);
            let avail_frac = fs_free_at(d, s);
            let fs_avail = (d.fs_size as f64 * avail_frac) as u64;
            let mem_avail = (d.mem_total as f64 * d.mem_free) as u64;
            metric_mode(batch, ship, ts, &d.id, "idle", d.cpu_idle_s);
            metric_mode(batch, ship, ts, &d.id, "user", d.cpu_user_s);
            metric(
                batch,
                ship,
                ts,
                "node_memory_MemAvailable_bytes",
                "device",
                &d.id,
                None,
                mem_avail as f64,
                true,
            );
            metric(
                batch,
                ship,
                ts,
                "node_memory_MemTotal_bytes",
                "device",
                &d.id,
                None,
                d.mem_total as f64,
                true,
            );
            metric(
                batch,
                ship,
                ts,
                "node_filesystem_avail_bytes",
                "device",
                &d.id,
                Some(("mountpoint", "/")),
                fs_avail as f64,
                true,
            );
            metric(
                batch,
                ship,
                ts,
                "node_filesystem_size_bytes",
                "device",
                &d.id,
                Some(("mountpoint", "/")),
                d.fs_size as f64,
                true,
            );
        }
    }
}

/// Free fraction of a host's root filesystem at second `s`.
fn fs_free_at(d: &mut Dev, s: u64) -> f64 {
    let base = d.fs_free_frac;
    for &(ramp_start, full_at, end) in &d.disk {
        if s >= ramp_start && s < full_at {
            let x = (s - ramp_start) as f64 / (full_at - ramp_start).max(1) as f64;
            // runaway logs: a linear fall, with small steps of noise
            return (base * (1.0 - x) + 0.002 * d.rng.f64()).max(0.0);
        }
        if s >= full_at && s < end {
            return 0.00002 * d.rng.f64();
        }
        if s >= end && s < end + 600 {
            // cleaned up after the incident
            return (base * 0.9).min(base);
        }
    }
    base + 0.002 * (d.rng.f64() - 0.5)
}

fn new_iface(name: String, peer: usize, uplink: bool, load_bps: f64, rng: &mut Rng) -> Iface {
    Iface {
        name,
        peer,
        uplink,
        in_octets: (rng.f64() * 1e13) as u64,
        out_octets: (rng.f64() * 1e13) as u64,
        in_errors: u64::from(rng.below(40)),
        out_errors: u64::from(rng.below(10)),
        discards: u64::from(rng.below(500)),
        up: true,
        load_bps,
    }
}

fn port_name(role: Role, vendor: Vendor, uplink: bool, k: u32) -> String {
    match (vendor, role, uplink) {
        (Vendor::Cisco, Role::Router, _) => format!("GigabitEthernet0/0/{k}"),
        (Vendor::Cisco, Role::Access, false) => format!("GigabitEthernet1/0/{}", k + 1),
        (Vendor::Cisco, _, true) => format!("TenGigabitEthernet1/1/{}", k + 1),
        (Vendor::Cisco, _, false) => format!("TenGigabitEthernet1/0/{}", k + 1),
        (Vendor::Juniper, Role::Access, false) => format!("ge-0/0/{k}"),
        (Vendor::Juniper, Role::Access, true) => format!("xe-0/2/{k}"),
        (Vendor::Juniper, _, false) => format!("xe-0/0/{k}"),
        (Vendor::Juniper, _, true) => format!("xe-0/1/{k}"),
        (_, _, true) => format!("wan{}", k + 1),
        (_, _, false) => format!("port{}", k + 1),
    }
}

/// Azimuth (degrees true) of a GEO satellite at longitude `sat_lon` seen from `[lat, lon]`:
/// the initial great-circle bearing to the sub-satellite point on the equator.
pub(crate) fn geo_azimuth(pos: [f64; 2], sat_lon: f64) -> f64 {
    seawatch_model::sky::geo_look(pos[0], pos[1], sat_lon).az_deg
}

/// A satellite azimuth that keeps every vsat antenna's blockage zone (astern ± 30°) clear
/// of the headings the route sails, so blockage happens only when a fault orders a turn.
pub(crate) fn best_satellite_azimuth(bearings: &[f64], vsat_count: usize) -> f64 {
    let mut best = (f64::MIN, 200.0);
    for step in 0..72 {
        let az0 = step as f64 * 5.0;
        let mut clearance = f64::MAX;
        for v in 0..vsat_count.max(1) {
            let az = az0 + 45.0 * v as f64;
            for &b in bearings {
                let rel = (az - b).rem_euclid(360.0);
                clearance = clearance.min((rel - 180.0).abs());
            }
        }
        if clearance > best.0 {
            best = (clearance, az0);
        }
    }
    best.1
}

/// One NDJSON metric line.
#[allow(clippy::too_many_arguments)]
fn metric(
    batch: &mut Batch,
    ship: u32,
    ts: i64,
    name: &str,
    label: &str,
    subject: &str,
    extra: Option<(&str, &str)>,
    value: f64,
    exact: bool,
) {
    batch.push(ts, ship, true, |w| {
        w.b(b"{\"metric\":\"");
        w.s(name);
        w.b(b"\",\"value\":");
        if exact || value.abs() >= 1e6 {
            w.float(value);
        } else {
            w.float((value * 1e4).round() / 1e4);
        }
        w.b(b",\"labels\":{\"");
        w.s(label);
        w.b(b"\":\"");
        w.s(subject);
        if let Some((key, value)) = extra {
            w.b(b"\",\"");
            w.s(key);
            w.b(b"\":\"");
            w.s(value);
        }
        w.b(b"\"},\"ts\":");
        w.i(ts);
        w.b(b"}");
    });
}

fn metric_mode(batch: &mut Batch, ship: u32, ts: i64, device: &str, mode: &str, value: f64) {
    batch.push(ts, ship, true, |w| {
        w.b(b"{\"metric\":\"node_cpu_seconds_total\",\"value\":");
        w.float((value * 100.0).round() / 100.0);
        w.b(b",\"labels\":{\"device\":\"");
        w.s(device);
        w.b(b"\",\"mode\":\"");
        w.s(mode);
        w.b(b"\"},\"ts\":");
        w.i(ts);
        w.b(b"}");
    });
}

#[allow(clippy::too_many_arguments)]
fn render_event(
    w: &mut W,
    c: &Civil,
    at: i64,
    devs: &[Dev],
    host: usize,
    seq: &mut u32,
    links: &[LinkSim],
    rng: &mut Rng,
    ev: Ev,
) {
    let dev = &devs[host];
    let word = |up: bool| if up { "up" } else { "down" };
    match ev {
        Ev::UserPort { .. }
        | Ev::UserProto { .. }
        | Ev::ApReboot { .. }
        | Ev::Reload
        | Ev::Backup { .. }
        | Ev::Chatty { .. } => render_noise(w, c, at, devs, host, seq, rng, ev),
        Ev::Link { iface, up } => {
            let name = &dev.ifaces[iface].name;
            match dev.vendor {
                Vendor::Cisco => port_updown(w, c, dev, seq, false, 0, name, up),
                Vendor::Juniper => port_updown(w, c, dev, seq, true, 531 + iface as u64, name, up),
                _ => {
                    syslog::forti(
                        w,
                        c,
                        at,
                        dev,
                        if up { NOTICE } else { WARNING },
                        "0100020090",
                        "event",
                        "system",
                        if up { "notice" } else { "warning" },
                    );
                    w.b(b"logdesc=\"Interface status changed\" action=\"interface-stat-change\" status=\"");
                    w.s(word(up));
                    w.b(b"\" msg=\"Link monitor: Interface ");
                    w.s(name);
                    w.b(b" was turned ");
                    w.s(word(up));
                    w.b(b"\"");
                }
            }
        }
        Ev::LineProto { iface, up } => {
            syslog::cisco(w, c, &dev.id, seq, 5, "%LINEPROTO-5-UPDOWN");
            w.b(b"Line protocol on Interface ");
            w.s(&dev.ifaces[iface].name);
            w.b(b", changed state to ");
            w.s(word(up));
        }
        Ev::TopoTrap { vlan } => {
            if dev.vendor == Vendor::Juniper {
                syslog::junos(w, c, &dev.id, NOTICE, "l2cpd", dev.pid + 200);
                w.b(b"RSTP_TOPO_CHANGE: Topology change generated on routing-instance default-switch for VLAN ");
                w.u(u64::from(vlan));
            } else {
                syslog::cisco(w, c, &dev.id, seq, 5, "%SPANTREE-5-TOPOTRAP");
                w.b(b"Topology Change Trap for vlan ");
                w.u(u64::from(vlan));
            }
        }
        Ev::LldpDown { iface } => {
            let f = &dev.ifaces[iface];
            let peer = &devs[f.peer].id;
            if dev.vendor == Vendor::Juniper {
                syslog::junos(w, c, &dev.id, NOTICE, "l2cpd", dev.pid + 200);
                w.b(b"LLDP_NEIGHBOR_DOWN: A neighbor has gone down on port ");
                w.s(&f.name);
                w.b(b", system-name ");
                w.s(peer);
            } else if dev.vendor == Vendor::Fortinet {
                syslog::forti(
                    w,
                    c,
                    at,
                    dev,
                    NOTICE,
                    "0100020301",
                    "event",
                    "system",
                    "notice",
                );
                w.b(b"logdesc=\"LLDP neighbor removed\" msg=\"LLDP neighbor ");
                w.s(peer);
                w.b(b" on ");
                w.s(&f.name);
                w.b(b" aged out\"");
            } else {
                syslog::cisco(w, c, &dev.id, seq, 5, "%LLDP-5-NEIGHBOR_DOWN");
                w.b(b"LLDP neighbor ");
                w.s(peer);
                w.b(b" on Interface ");
                w.s(&f.name);
                w.b(b" aged out (hold time 120 s)");
            }
        }
        Ev::KernelLink { up } => {
            syslog::linux(w, c, dev, KERN, if up { INFO } else { ERR }, "kernel", None);
            w.b(b"ixgbe 0000:03:00.0 eth0: NIC Link is ");
            w.s(if up {
                "Up 10 Gbps, Flow Control: RX/TX"
            } else {
                "Down"
            });
        }
        Ev::ApState { ap, up } => {
            let a = &devs[ap];
            syslog::aruba(
                w,
                c,
                &dev.id,
                dev.pid,
                if up { 404401 } else { 404400 },
                "NOTI",
                Some((&a.id, a.ip)),
                "sapd",
            );
            w.s(if up {
                "AP is up"
            } else {
                "AP is down (heartbeat timeout)"
            });
        }
        Ev::CamState { cam, up } => {
            let k = &devs[cam];
            syslog::h5424(
                w,
                syslog::USER,
                if up { INFO } else { ERR },
                c,
                &dev.id,
                "RecordingServer",
                Some(dev.pid),
                "-",
            );
            w.b(b"Camera \"");
            w.s(&k.id);
            w.b(b"\" (");
            w.ip(k.ip);
            w.s(if up {
                "): Connection restored, recording resumed"
            } else {
                "): Connection lost"
            });
        }
        Ev::PbxContact { ext, up } => {
            syslog::asterisk(
                w,
                c,
                dev,
                if up { INFO } else { WARNING },
                "VERBOSE",
                dev.pid + 31,
            );
            w.b(b"res_pjsip/pjsip_options.c: Contact ");
            w.u(u64::from(ext));
            w.b(b"/sip:");
            w.u(u64::from(ext));
            w.b(b"@");
            w.ip([10, 30, (ext / 250 % 64) as u8, (ext % 250 + 1) as u8]);
            w.b(b":5060 is now ");
            if up {
                w.b(b"Reachable.  RTT: ");
                w.fixed(rng.range(1.0, 9.0), 3);
                w.b(b" msec");
            } else {
                w.b(b"Unreachable.  RTT: 0.000 msec");
            }
        }
        Ev::Modem { link, ev } => {
            let l = &links[link];
            syslog::h5424(
                w,
                DAEMON,
                match ev {
                    LinkEvent::LockLost { .. } => ERR,
                    _ => NOTICE,
                },
                c,
                &dev.id,
                "modemd",
                Some(dev.pid),
                "-",
            );
            w.s(&l.id);
            w.b(b": ");
            match ev {
                LinkEvent::LockLost { esno } => {
                    w.b(b"RX demodulator lock lost, Es/No ");
                    w.fixed(esno, 1);
                    w.b(b" dB");
                }
                LinkEvent::LockRegained { esno, modcod } => {
                    w.b(b"RX demodulator locked, Es/No ");
                    w.fixed(esno, 1);
                    w.b(b" dB, MODCOD ");
                    w.s(MODCODS[modcod as usize].0);
                }
                LinkEvent::Modcod { from, to, esno } => {
                    w.b(b"ACM: MODCOD changed ");
                    w.s(MODCODS[from as usize].0);
                    w.b(b" -> ");
                    w.s(MODCODS[to as usize].0);
                    w.b(b" (Es/No ");
                    w.fixed(esno, 1);
                    w.b(b" dB)");
                }
                LinkEvent::TxMute { on, rel_az } => {
                    w.b(b"ACU: TX mute ");
                    w.s(if on {
                        "ON, antenna in blockage zone 1"
                    } else {
                        "OFF, antenna clear of blockage zones"
                    });
                    w.b(b" (relative azimuth ");
                    w.fixed(rel_az, 1);
                    w.b(b" deg)");
                }
            }
        }
        Ev::HaPrimary => {
            syslog::forti(w, c, at, dev, CRIT, "0100037902", "event", "ha", "critical");
            w.b(b"logdesc=\"HA primary changed\" msg=\"HA member ");
            w.s(&dev.id);
            w.b(b" became primary (peer heartbeat lost)\"");
        }
        Ev::Sdwan { link, up } => {
            let l = &links[link];
            syslog::forti(
                w,
                c,
                at,
                dev,
                NOTICE,
                "0113022923",
                "event",
                "sdwan",
                "notice",
            );
            w.b(b"logdesc=\"SDWAN status\" eventtype=\"Health Check\" healthcheck=\"shore-hc\" interface=\"");
            w.s(&l.id);
            w.b(b"\" status=\"");
            w.s(if up { "alive" } else { "dead" });
            w.b(b"\" msg=\"Member status changed. Member ");
            w.s(if up { "in sla" } else { "out-of-sla" });
            w.b(b".\"");
        }
    }
}

/// A port going up or down in the vendor's words: Junos `SNMP_TRAP_LINK_*` from mib2d
/// (with the port's `if_index`) or Cisco IOS `%LINK-3-UPDOWN` (the format of every
/// other switch vendor here).
#[allow(clippy::too_many_arguments)]
fn port_updown(
    w: &mut W,
    c: &Civil,
    dev: &Dev,
    seq: &mut u32,
    junos: bool,
    if_index: u64,
    name: &str,
    up: bool,
) {
    if junos {
        syslog::junos(
            w,
            c,
            &dev.id,
            if up { INFO } else { WARNING },
            "mib2d",
            dev.pid,
        );
        w.s(if up {
            "SNMP_TRAP_LINK_UP"
        } else {
            "SNMP_TRAP_LINK_DOWN"
        });
        w.b(b": ifIndex ");
        w.u(if_index);
        w.b(b", ifAdminStatus up(1), ifOperStatus ");
        w.s(if up { "up(1)" } else { "down(2)" });
        w.b(b", ifName ");
        w.s(name);
    } else {
        syslog::cisco(w, c, &dev.id, seq, 3, "%LINK-3-UPDOWN");
        w.b(b"Interface ");
        w.s(name);
        w.b(b", changed state to ");
        w.s(if up { "up" } else { "down" });
    }
}

/// The lines of benign noise (vendor formats of `syslog`; see `simulators/NOISE.md`).
#[allow(clippy::too_many_arguments)]
fn render_noise(
    w: &mut W,
    c: &Civil,
    at: i64,
    devs: &[Dev],
    host: usize,
    seq: &mut u32,
    rng: &mut Rng,
    ev: Ev,
) {
    let dev = &devs[host];
    let word = |up: bool| if up { "up" } else { "down" };
    let mac = |rng: &mut Rng| {
        (u64::from(rng.u32()) << 16 | u64::from(rng.u32() & 0xffff)) & 0xfcff_ffff_ffff
            | 0x0200_0000_0000
    };
    let guest_ip = |rng: &mut Rng| [10, 64, rng.below(64) as u8, 1 + rng.below(250) as u8];
    match ev {
        Ev::UserPort { port, up } => match dev.vendor {
            Vendor::Juniper => {
                let name = format!("ge-0/0/{port}");
                port_updown(w, c, dev, seq, true, u64::from(500 + port), &name, up);
            }
            _ => {
                let name = format!("GigabitEthernet1/0/{port}");
                port_updown(w, c, dev, seq, false, 0, &name, up);
            }
        },
        Ev::UserProto { port, up } => {
            syslog::cisco(w, c, &dev.id, seq, 5, "%LINEPROTO-5-UPDOWN");
            w.b(b"Line protocol on Interface GigabitEthernet1/0/");
            w.u(u64::from(port));
            w.b(b", changed state to ");
            w.s(word(up));
        }
        Ev::ApReboot { ap } => {
            let a = &devs[ap];
            syslog::aruba(
                w,
                c,
                &dev.id,
                dev.pid,
                404003,
                "NOTI",
                Some((&a.id, a.ip)),
                "sapd",
            );
            w.b(b"AP rebooting: scheduled image upgrade to 8.10.0.12 (maintenance window 02:00-04:00)");
        }
        Ev::Reload => match (dev.role, dev.vendor) {
            (Role::Firewall { .. }, _) => {
                syslog::forti(
                    w,
                    c,
                    at,
                    dev,
                    WARNING,
                    "0100032009",
                    "event",
                    "system",
                    "warning",
                );
                w.b(b"logdesc=\"Device rebooted\" user=\"netadm\" action=\"reboot\" msg=\"User netadm rebooted the device from https(10.20.0.15). The reason is 'Scheduled maintenance'\"");
            }
            (_, Vendor::Juniper) => {
                syslog::junos(w, c, &dev.id, NOTICE, "mgd", dev.pid + 900);
                w.b(b"UI_REBOOT_EVENT: System rebooted by netadm [reason: scheduled maintenance]");
            }
            (_, Vendor::Cisco) => {
                syslog::cisco(w, c, &dev.id, seq, 5, "%SYS-5-RELOAD");
                w.b(b"Reload requested by netadm on vty0 (10.20.0.15). Reload Reason: Scheduled maintenance.");
            }
            _ if dev.is_host() => {
                syslog::linux(
                    w,
                    c,
                    dev,
                    DAEMON,
                    NOTICE,
                    "systemd-logind",
                    Some(dev.pid + 40),
                );
                w.b(b"The system will reboot now! (scheduled maintenance)");
            }
            _ => {
                syslog::h5424(w, DAEMON, NOTICE, c, &dev.id, "sysmgr", Some(dev.pid), "-");
                w.b(b"Rebooting: scheduled maintenance (firmware update)");
            }
        },
        Ev::Backup { start } => {
            syslog::linux(w, c, dev, DAEMON, INFO, "systemd", Some(1));
            if start {
                w.b(b"Starting backup.service - Nightly backup (restic) to nas-1...");
            } else {
                w.b(b"backup.service: Deactivated successfully. Consumed ");
                w.u(u64::from(rng.int(3, 20)));
                w.b(b"min ");
                w.fixed(rng.range(0.0, 59.9), 3);
                w.b(b"s CPU time.");
            }
        }
        Ev::Chatty { variant } => match dev.role {
            Role::Core | Role::Dist | Role::Access | Role::Router
                if dev.vendor == Vendor::Juniper =>
            {
                syslog::junos(
                    w,
                    c,
                    &dev.id,
                    WARNING,
                    "sshd",
                    dev.pid + 4000 + variant % 3000,
                );
                w.b(b"Failed password for invalid user admin from ");
                w.ip(guest_ip(rng));
                w.b(b" port ");
                w.u(u64::from(rng.int(40000, 60000)));
                w.b(b" ssh2");
            }
            Role::Core | Role::Dist | Role::Access | Role::Router => {
                if variant.is_multiple_of(2) && dev.role == Role::Access {
                    syslog::cisco(w, c, &dev.id, seq, 5, "%DOT1X-5-FAIL");
                    w.b(b"Authentication failed for client (");
                    w.mac(mac(rng));
                    w.b(b") on Interface Gi1/0/");
                    w.u(u64::from(
                        (dev.ifaces.len() as u32 + 1 + variant % 24).min(47),
                    ));
                    w.b(b" AuditSessionID 0A14");
                    w.u(u64::from(rng.u32()));
                } else {
                    syslog::cisco(w, c, &dev.id, seq, 4, "%SEC_LOGIN-4-LOGIN_FAILED");
                    w.b(b"Login failed [user: admin] [Source: ");
                    w.ip(guest_ip(rng));
                    w.b(b"] [localport: 22] [Reason: Login Authentication Failed] at ");
                    c.clock(w);
                    w.b(b" UTC");
                }
            }
            Role::Firewall { .. } => {
                syslog::forti(
                    w,
                    c,
                    at,
                    dev,
                    ALERT_FW,
                    "0100032002",
                    "event",
                    "system",
                    "alert",
                );
                w.b(b"logdesc=\"Admin login failed\" user=\"admin\" ui=\"ssh(");
                w.ip(guest_ip(rng));
                w.b(b")\" action=\"login\" status=\"failed\" reason=\"name_invalid\" msg=\"Administrator admin login failed from ssh because of invalid user name\"");
            }
            Role::Wlc => {
                let aps: Vec<&Dev> = devs
                    .iter()
                    .filter(|d| d.role == Role::Ap && d.reachable)
                    .collect();
                if aps.is_empty() {
                    syslog::aruba(w, c, &dev.id, dev.pid + 7, 522275, "NOTI", None, "authmgr");
                    w.b(b"User Authentication failed. username=guest-");
                    w.u(u64::from(variant % 100_000));
                    w.b(b" MAC=");
                    w.mac(mac(rng));
                    w.b(b" authentication method=Web");
                } else {
                    let ap = aps[(variant as usize) % aps.len()];
                    syslog::aruba(
                        w,
                        c,
                        &dev.id,
                        dev.pid,
                        501080,
                        "NOTI",
                        Some((&ap.id, ap.ip)),
                        "stm",
                    );
                    w.b(b"Deauth to sta: ");
                    w.mac(mac(rng));
                    w.b(b": Ageout AP ");
                    w.ip(ap.ip);
                    w.b(b"-");
                    w.s(&ap.id);
                    w.b(b" client phone lost (power save, no response to 5 keepalives)");
                }
            }
            Role::Ap => {
                syslog::aruba(
                    w,
                    c,
                    &dev.id,
                    dev.pid,
                    303022,
                    "WARN",
                    Some((&dev.id, dev.ip)),
                    "sapd",
                );
                w.b(b"Missed heartbeat from controller (1 of 8), link still up");
            }
            Role::Windows => {
                syslog::h5424(
                    w,
                    syslog::USER,
                    WARNING,
                    c,
                    &dev.id,
                    "Microsoft-Windows-Security-Auditing",
                    None,
                    "4625",
                );
                w.b(b"{\"EventTime\":\"");
                c.date(w);
                w.b(b" ");
                c.clock(w);
                w.b(b"\",\"Hostname\":\"");
                w.s(&dev.id);
                w.b(b"\",\"EventType\":\"AUDIT_FAILURE\",\"EventID\":4625,\"Channel\":\"Security\",\"Message\":\"An account failed to log on.\",\"TargetUserName\":\"administrator\",\"IpAddress\":\"");
                w.ip([10, 20, rng.below(64) as u8, 1 + rng.below(250) as u8]);
                w.b(b"\"}");
            }
            Role::Linux | Role::Postgres | Role::Vms => {
                syslog::linux(
                    w,
                    c,
                    dev,
                    syslog::AUTH,
                    INFO,
                    "sshd",
                    Some(dev.pid + variant % 30_000),
                );
                w.b(b"Failed password for invalid user oracle from ");
                w.ip([10, 20, rng.below(64) as u8, 1 + rng.below(250) as u8]);
                w.b(b" port ");
                w.u(u64::from(rng.int(40000, 60000)));
                w.b(b" ssh2");
            }
            Role::Pbx => {
                syslog::asterisk(w, c, dev, NOTICE, "NOTICE", dev.pid + 20);
                w.b(b"res_pjsip/pjsip_distributor.c: Request 'REGISTER' from '<sip:");
                w.u(u64::from(4000 + variant % 4000));
                w.b(b"@10.30.0.1>' failed for '");
                w.ip([10, 30, rng.below(64) as u8, 1 + rng.below(250) as u8]);
                w.b(b":5060' (callid: ");
                w.u(u64::from(rng.u32()));
                w.b(b") - Failed to authenticate");
            }
            Role::Modem => {
                syslog::h5424(w, DAEMON, WARNING, c, &dev.id, "acu", Some(dev.pid), "-");
                w.b(b"NMS: keepalive to hub timed out, retry 1 of 3");
            }
            Role::Camera => {
                syslog::h3164(w, DAEMON, WARNING, c, &dev.id);
                w.b(b"rtspd[");
                w.u(u64::from(dev.pid));
                w.b(b"]: RTSP session timeout for 10.50.0.5, client gone");
            }
            Role::Pos => {
                syslog::h5424(
                    w,
                    syslog::USER,
                    WARNING,
                    c,
                    &dev.id,
                    "posd",
                    Some(dev.pid),
                    "DEV",
                );
                w.b(b"receipt printer: paper low");
            }
            Role::Hvac => {
                syslog::h3164(w, DAEMON, WARNING, c, &dev.id);
                w.b(b"bacnetd[");
                w.u(u64::from(dev.pid));
                w.b(b"]: I-Am timeout from device 2");
                w.u(u64::from(variant % 100));
                w.b(b", retrying");
            }
        },
        _ => {}
    }
}

/// FortiOS "alert" level (syslog severity 1).
const ALERT_FW: u8 = 1;

#[cfg(test)]
mod tests {
    use super::geo_azimuth;

    #[test]
    fn geo_azimuth_points_at_the_slot() {
        // north of the equator, a satellite on the same meridian is due south
        assert!((geo_azimuth([25.0, -80.0], -80.0) - 180.0).abs() < 1e-9);
        // south of it, due north
        assert!(geo_azimuth([-30.0, 20.0], 20.0).abs() < 1e-9);
        // a slot to the east lies between south and east
        let az = geo_azimuth([25.0, -80.0], -60.0);
        assert!((90.0..180.0).contains(&az), "{az}");
    }
}
