//! Synthetic ship inventories of any size, for tests and benches of other ship sizes.

use crate::scenario::{Band, Device, DeviceKind, Link, LinkKind, Noise, Ship};

/// A realistic inventory tree of about `devices` devices (at least 12): an HA firewall
/// pair behind the modems, two cores, distribution pairs, access switches and endpoints
/// (APs, CCTV, POS, HVAC), servers (WLC, VMS, PMS database, AD) and a PBX; a Ku VSAT, a
/// Ka VSAT and a LEO link. The mix is derived from `seed`; the same arguments give the same
/// ship.
pub fn synthetic_ship(id: &str, devices: usize, seed: u64) -> Ship {
    let target = devices.max(12);
    let mut out: Vec<Device> = Vec::with_capacity(target);
    let push = |out: &mut Vec<Device>, id: String, kind: DeviceKind, deps: Vec<String>| {
        out.push(Device {
            id,
            kind,
            depends_on: deps,
        });
    };
    push(&mut out, "modem-vsat-1".into(), DeviceKind::Modem, vec![]);
    push(&mut out, "modem-leo-1".into(), DeviceKind::Modem, vec![]);
    let modems = vec!["modem-vsat-1".to_string(), "modem-leo-1".to_string()];
    push(
        &mut out,
        "fw-1".into(),
        DeviceKind::Firewall,
        modems.clone(),
    );
    push(&mut out, "fw-2".into(), DeviceKind::Firewall, modems);
    let fws = vec!["fw-1".to_string(), "fw-2".to_string()];
    push(
        &mut out,
        "core-sw-1".into(),
        DeviceKind::Switch,
        fws.clone(),
    );
    push(&mut out, "core-sw-2".into(), DeviceKind::Switch, fws);
    let cores = vec!["core-sw-1".to_string(), "core-sw-2".to_string()];
    for (sid, kind) in [
        ("wlc-1", DeviceKind::Server),
        ("vms-1", DeviceKind::Server),
        ("pms-db-1", DeviceKind::Server),
        ("win-ad-1", DeviceKind::Server),
        ("pbx-1", DeviceKind::Pbx),
        ("app-1", DeviceKind::Server),
    ] {
        if out.len() < target {
            push(&mut out, sid.into(), kind, cores.clone());
        }
    }
    // remaining budget: ~1 distribution switch per 40, ~1 access per 12 endpoints
    let remaining = target.saturating_sub(out.len());
    let dists = remaining.div_ceil(60).max(1);
    let access = (remaining / 13).max(1);
    let mut rng = seed ^ 0x05ea_f00d;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut dist_ids = Vec::new();
    for d in 0..dists {
        if out.len() >= target {
            break;
        }
        let did = format!("dist-sw-{}", d + 1);
        push(&mut out, did.clone(), DeviceKind::Switch, cores.clone());
        dist_ids.push(did);
    }
    let mut acc_ids = Vec::new();
    for a in 0..access {
        if out.len() >= target {
            break;
        }
        let aid = format!("acc-sw-{}", a + 1);
        let parent = dist_ids[a % dist_ids.len()].clone();
        push(&mut out, aid.clone(), DeviceKind::Switch, vec![parent]);
        acc_ids.push(aid);
    }
    let mut counters = [0usize; 4];
    let kinds = [
        DeviceKind::Ap,
        DeviceKind::Cctv,
        DeviceKind::Pos,
        DeviceKind::Hvac,
    ];
    let names = ["ap", "cam", "pos", "hvac"];
    let mut e = 0usize;
    while out.len() < target {
        let r = next() % 100;
        let k = match r {
            0..=49 => 0,
            50..=74 => 1,
            75..=89 => 2,
            _ => 3,
        };
        counters[k] += 1;
        let parent = if acc_ids.is_empty() {
            dist_ids[0].clone()
        } else {
            acc_ids[e % acc_ids.len()].clone()
        };
        e += 1;
        push(
            &mut out,
            format!("{}-{}", names[k], counters[k]),
            kinds[k],
            vec![parent],
        );
    }
    Ship {
        id: id.to_owned(),
        log_eps: 200.0,
        metric_interval_s: 30,
        route: vec![[25.77, -80.19], [25.06, -77.35]],
        speed_kn: 18.0,
        device: out,
        link: vec![
            Link {
                id: "vsat-1".into(),
                kind: LinkKind::Vsat,
                band: Some(Band::Ku),
                capacity_mbps: Some(50.0),
                primary: true,
                azimuth_deg: None,
                elevation_deg: None,
                sat_lon: None,
                blockage_zones: Vec::new(),
            },
            Link {
                id: "vsat-2".into(),
                kind: LinkKind::Vsat,
                band: Some(Band::Ka),
                capacity_mbps: Some(100.0),
                primary: false,
                azimuth_deg: None,
                elevation_deg: None,
                sat_lon: None,
                blockage_zones: Vec::new(),
            },
            Link {
                id: "leo-1".into(),
                kind: LinkKind::Leo,
                band: Some(Band::Ku),
                capacity_mbps: Some(250.0),
                primary: false,
                azimuth_deg: None,
                elevation_deg: None,
                sat_lon: None,
                blockage_zones: Vec::new(),
            },
        ],
        noise: Noise::default(),
        maintenance: Vec::new(),
    }
}

/// A one-ship scenario without faults around [`synthetic_ship`].
pub fn synthetic_scenario(
    devices: usize,
    log_eps: f64,
    duration_s: u64,
    seed: u64,
) -> crate::Scenario {
    let mut ship = synthetic_ship("synthetic", devices, seed);
    ship.log_eps = log_eps;
    crate::Scenario {
        name: format!("synthetic-{devices}"),
        seed,
        duration_s,
        ship: vec![ship],
        fault: Vec::new(),
        rollout: Vec::new(),
    }
}

/// Topology families of a generated ship.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// One core switch doing core and distribution: access switches hang off it directly.
    CollapsedCore,
    /// Core, distribution and access in a star: each distribution switch on the core.
    ThreeTier,
    /// Two cores; every distribution switch on both.
    RedundantCore,
    /// Two cores, distribution pairs, access switches and servers dual-homed to a pair.
    DualHomed,
    /// Distribution switches in a ring closed at the core (each reached from one side,
    /// the one opposite the core from both).
    Ring,
}

impl Family {
    /// Every family.
    pub const ALL: [Family; 5] = [
        Family::CollapsedCore,
        Family::ThreeTier,
        Family::RedundantCore,
        Family::DualHomed,
        Family::Ring,
    ];

    /// The name written into the generated file.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::CollapsedCore => "collapsed-core",
            Family::ThreeTier => "three-tier",
            Family::RedundantCore => "redundant-core",
            Family::DualHomed => "dual-homed",
            Family::Ring => "ring",
        }
    }
}

/// A generated fleet scenario with what it was built from.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedFleet {
    /// The scenario (validated).
    pub scenario: crate::Scenario,
    /// Each ship's topology family, in the order of `scenario.ship`.
    pub families: Vec<Family>,
    /// Each fault's pattern (`single`, `cascade`, `overlap`, `simultaneous`), in the order
    /// of `scenario.fault`.
    pub patterns: Vec<&'static str>,
}

/// Smallest and largest ship `random_fleet` builds.
pub const FLEET_DEVICES: std::ops::RangeInclusive<usize> = 40..=3000;
/// Most ships `random_fleet` builds.
pub const FLEET_MAX_SHIPS: usize = 12;

/// Voyages (waypoints lat, lon) the generated ships sail.
const ROUTES: [&[[f64; 2]]; 6] = [
    &[[25.77, -80.19], [25.06, -77.35]],
    &[[41.35, 2.17], [43.3, 5.37]],
    &[[50.9, -1.4], [49.6, -1.6], [48.4, -4.5]],
    &[[47.6, -122.3], [48.4, -123.4], [54.3, -130.3]],
    &[[-33.86, 151.2], [-27.5, 153.2], [-22.3, 166.4]],
    &[[18.4, -66.1], [18.3, -64.9], [17.7, -64.7]],
];

/// A random but reproducible fleet scenario (`seawatch sim fleet`): `ships` ships (default
/// 1–3) of `devices` devices each (default 40–3,000, log-uniform), each of one topology
/// [`Family`], with a vendor mix, a poll interval of 10–60 s, WAN links of every kind with
/// their satellite geometry, benign noise, maintenance windows, and a mix of faults
/// (single, cascading, overlapping, simultaneous in separate subtrees) on targets and at
/// times that fit the topology. The same arguments give the same scenario.
pub fn random_fleet(seed: u64, ships: Option<usize>, devices: Option<usize>) -> GeneratedFleet {
    use crate::generate::Rng;
    let mut rng = Rng::derive(seed, &["fleet"]);
    let n_ships = ships.unwrap_or_else(|| rng.int(1, 3) as usize).max(1);
    let duration_s = u64::from(rng.int(4, 8)) * 900;
    let mut out = GeneratedFleet {
        scenario: crate::Scenario {
            name: format!("fleet-{seed}"),
            seed,
            duration_s,
            ship: Vec::new(),
            fault: Vec::new(),
            rollout: Vec::new(),
        },
        families: Vec::new(),
        patterns: Vec::new(),
    };
    const NAMES: [&str; 12] = [
        "aurora", "borealis", "calypso", "dorado", "equinox", "fjord", "galene", "halcyon", "isla",
        "juniper", "kestrel", "lumen",
    ];
    for si in 0..n_ships {
        let id = NAMES
            .get(si)
            .map_or_else(|| format!("ship-{}", si + 1), |n| (*n).to_owned());
        let n = devices.unwrap_or_else(|| {
            let (lo, hi) = (
                (*FLEET_DEVICES.start() as f64).ln(),
                (*FLEET_DEVICES.end() as f64).ln(),
            );
            rng.range(lo, hi).exp().round() as usize
        });
        // cover every family over consecutive seeds, then at random
        let family = if si == 0 {
            Family::ALL[(seed % Family::ALL.len() as u64) as usize]
        } else {
            *rng.pick(&Family::ALL)
        };
        let mut ship_rng = Rng::derive(seed, &["fleet", &id]);
        let (ship, plan) = build_ship(&id, n, family, &mut ship_rng);
        out.families.push(family);
        let mut faults = plan_faults(&ship, &plan, duration_s, &mut ship_rng);
        let mut ship = ship;
        // a sun outage happens where the sky allows it: the satellite sits where the sun
        // will be, and the fault's window is the one the ephemeris gives
        for (f, _) in faults.iter_mut() {
            if f.kind == crate::FaultKind::SunOutage
                && !place_sun_outage(&mut ship, f, duration_s, &mut ship_rng)
            {
                f.kind = crate::FaultKind::LinkOutage;
            }
        }
        // an announced maintenance window on a server no fault touches
        let free: Vec<&String> = plan
            .hosts
            .iter()
            .filter(|h| !h.contains("wlc") && !faults.iter().any(|(f, _)| &f.target == *h))
            .collect();
        if !free.is_empty() && ship_rng.chance(0.6) {
            let target = ship_rng.pick(&free).to_string();
            let length = u64::from(ship_rng.int(600, 1200));
            let at_s = u64::from(ship_rng.int(300, (duration_s - length) as u32));
            ship.maintenance.push(crate::scenario::Maintenance {
                target,
                at_s,
                duration_s: length,
                reason: Some(format!("CHG-{} patching", 1000 + ship_rng.below(9000))),
            });
        }
        for (f, pattern) in faults {
            out.scenario.fault.push(f);
            out.patterns.push(pattern);
        }
        out.scenario.ship.push(ship);
    }
    out
}

/// The satellite-link faults whose prediction is measured (issue 23): blockage, sun
/// outage and rain fade.
pub const PREDICTABLE_LINK_FAULTS: [crate::FaultKind; 3] = [
    crate::FaultKind::Blockage,
    crate::FaultKind::SunOutage,
    crate::FaultKind::RainFade,
];

/// Puts one satellite-link fault of `kind` (a blockage, sun outage or rain fade) on the
/// first Ku/Ka VSAT of ship `ship` of `sc`, so that a measurement of link-outage
/// prediction has each cause to judge (a generated fleet plans few link faults). The
/// ship's other faults on its satellite links are removed first (one labelled cause per
/// outage); its other faults stay. The time is drawn from `seed`; a sun outage is placed
/// where the sky allows one (several times of day are tried), a rain fade is the cell of
/// decision 0031. Returns the kind placed, `None` when the ship has no such link or the
/// sky allows no sun outage in the passage. Only the scenario changes: what the
/// simulator emits is telemetry as for any other fault.
pub fn force_link_fault(
    sc: &mut crate::Scenario,
    ship: usize,
    seed: u64,
    kind: crate::FaultKind,
) -> Option<crate::FaultKind> {
    use crate::generate::Rng;
    let duration_s = sc.duration_s;
    let s = sc.ship.get_mut(ship)?;
    let link = s.link.iter().find(|l| {
        l.kind == LinkKind::Vsat && matches!(l.effective_band(), Some(Band::Ku | Band::Ka))
    })?;
    let target = link.id.clone();
    if duration_s < 1500 {
        return None;
    }
    let mut rng = Rng::derive(seed, &["force-link-fault", &s.id, kind.as_str()]);
    let sat_links: Vec<String> = s
        .link
        .iter()
        .filter(|l| matches!(l.kind, LinkKind::Vsat | LinkKind::Leo))
        .map(|l| l.id.clone())
        .collect();
    let ship_id = s.id.clone();
    sc.fault
        .retain(|f| !(f.ship == ship_id && sat_links.contains(&f.target)));
    let s = &mut sc.ship[ship];
    for _ in 0..8 {
        let at_s = 600 + u64::from(rng.below((duration_s - 1500) as u32));
        let mut f = crate::Fault {
            ship: ship_id.clone(),
            target: target.clone(),
            kind,
            at_s,
            duration_s: u64::from(rng.int(300, 600)),
        };
        if kind == crate::FaultKind::SunOutage && !place_sun_outage(s, &mut f, duration_s, &mut rng)
        {
            continue;
        }
        sc.fault.push(f);
        return Some(kind);
    }
    None
}

/// Makes the `sun_outage` fault `f` physical: puts its link's satellite where the sun
/// will be (seen from the ship) a few minutes after the fault's slot begins, off the
/// sun's path by up to half the outage cone so that passes are central or grazing, and
/// sets the fault's window to the one in which solar noise takes the link below lock
/// (`seawatch_model::sky`, the predictor's own equations). `false` when the sky does not
/// allow it: the sun low or down, or the satellite would sit astern of a leg's heading
/// (blocked by the mast the whole passage).
fn place_sun_outage(
    ship: &mut Ship,
    f: &mut crate::Fault,
    duration_s: u64,
    rng: &mut crate::generate::Rng,
) -> bool {
    use seawatch_model::sky;
    let Some(li) = ship.link.iter().position(|l| l.id == f.target) else {
        return false;
    };
    if ship.link[li].kind != LinkKind::Vsat || duration_s < 900 {
        return false;
    }
    let mid_s = (f.at_s + 300).min(duration_s - 450);
    let pos = crate::generate::position_at(&ship.route, ship.speed_kn, mid_s);
    let t_ms = crate::generate::DEFAULT_START_MS + mid_s as i64 * 1000;
    let sun = sky::sun_look(t_ms, pos[0], pos[1]);
    if !(15.0..=75.0).contains(&sun.el_deg) {
        return false;
    }
    let astern = ship.route.windows(2).any(|w| {
        let rel = sky::relative_bearing(sun.az_deg, crate::generate::bearing_deg(w[0], w[1]));
        (120.0..=240.0).contains(&rel)
    });
    if astern {
        return false;
    }
    let link = &mut ship.link[li];
    let band = link.effective_band().map(|b| match b {
        Band::Ka => "Ka",
        Band::Ku => "Ku",
        Band::C => "C",
        Band::L => "L",
    });
    let margin = crate::generate::lock_margin_db(link.kind, link.effective_band());
    let Some(sep) =
        sky::sun_separation_for_loss(margin, sky::beamwidth_deg(band), sky::sun_peak_ratio(band))
    else {
        return false;
    };
    let round = |x: f64| (x * 100.0).round() / 100.0;
    let sat = sky::LookAngles {
        az_deg: round(sun.az_deg),
        el_deg: round(sun.el_deg + rng.range(-0.5, 0.5) * sep),
    };
    let Some((from, to)) =
        sky::sun_window(sat, pos[0], pos[1], t_ms - 1_800_000, t_ms + 1_800_000, sep)
    else {
        return false;
    };
    let start = crate::generate::DEFAULT_START_MS;
    if from <= start {
        return false;
    }
    link.azimuth_deg = Some(sat.az_deg);
    link.elevation_deg = Some(sat.el_deg);
    link.sat_lon = None;
    f.at_s = ((from - start) / 1000) as u64;
    f.duration_s = (((to - from) / 1000) as u64).max(1);
    true
}

impl GeneratedFleet {
    /// The scenario file: a comment header, then the TOML of contracts §3.
    pub fn to_toml(&self) -> String {
        let mut text = format!(
            "# Generated by `seawatch sim fleet --seed {}`: a random but reproducible fleet.\n",
            self.scenario.seed
        );
        for (ship, family) in self.scenario.ship.iter().zip(&self.families) {
            text.push_str(&format!(
                "# ship {}: {} devices, {} topology, {} links, poll every {} s\n",
                ship.id,
                ship.device.len(),
                family.as_str(),
                ship.link.len(),
                ship.metric_interval_s
            ));
        }
        for (f, p) in self.scenario.fault.iter().zip(&self.patterns) {
            text.push_str(&format!(
                "# fault ({p}): {} {} on {} at {} s for {} s\n",
                f.ship, f.kind, f.target, f.at_s, f.duration_s
            ));
        }
        text.push('\n');
        text.push_str(
            &toml::to_string(&self.scenario).expect("a scenario always serialises to TOML"),
        );
        text
    }
}

/// Where a ship's faults may go.
struct Plan {
    /// Access switches grouped by the distribution switch (or core) they hang off.
    subtrees: Vec<Vec<String>>,
    dists: Vec<String>,
    aps: Vec<String>,
    hosts: Vec<String>,
    firewalls: Vec<String>,
}

fn build_ship(
    id: &str,
    target: usize,
    family: Family,
    rng: &mut crate::generate::Rng,
) -> (Ship, Plan) {
    let mut devs: Vec<Device> = Vec::with_capacity(target + 8);
    let push = |devs: &mut Vec<Device>, id: String, kind: DeviceKind, deps: Vec<String>| {
        devs.push(Device {
            id,
            kind,
            depends_on: deps,
        });
    };
    // WAN links: a kit per ship
    let kit: &[(LinkKind, Option<Band>, f64)] = match rng.below(5) {
        0 => &[
            (LinkKind::Vsat, Some(Band::Ku), 50.0),
            (LinkKind::Leo, Some(Band::Ku), 250.0),
        ],
        1 => &[
            (LinkKind::Vsat, Some(Band::Ka), 150.0),
            (LinkKind::Vsat, Some(Band::Ku), 60.0),
            (LinkKind::Leo, Some(Band::Ku), 350.0),
        ],
        2 => &[
            (LinkKind::Vsat, Some(Band::Ku), 40.0),
            (LinkKind::Lte, None, 80.0),
        ],
        3 => &[
            (LinkKind::Leo, Some(Band::Ku), 300.0),
            (LinkKind::Leo, Some(Band::Ku), 300.0),
            (LinkKind::PortWifi, None, 100.0),
        ],
        _ => &[
            (LinkKind::Vsat, Some(Band::C), 20.0),
            (LinkKind::Vsat, Some(Band::Ka), 120.0),
            (LinkKind::Lte, None, 60.0),
            (LinkKind::PortWifi, None, 100.0),
        ],
    };
    let route: Vec<[f64; 2]> = rng.pick(&ROUTES).to_vec();
    let bearings: Vec<f64> = route
        .windows(2)
        .map(|w| crate::generate::bearing_deg(w[0], w[1]))
        .collect();
    let vsats = kit.iter().filter(|k| k.0 == LinkKind::Vsat).count();
    let base_az = crate::generate::best_satellite_azimuth(&bearings, vsats);
    let mut links = Vec::new();
    let mut modems = Vec::new();
    let mut counts = [0usize; 4];
    let mut vsat_i = 0;
    for (li, &(kind, band, cap)) in kit.iter().enumerate() {
        let (k, word) = match kind {
            LinkKind::Vsat => (0, "vsat"),
            LinkKind::Leo => (1, "leo"),
            LinkKind::Lte => (2, "lte"),
            LinkKind::PortWifi => (3, "portwifi"),
        };
        counts[k] += 1;
        let lid = format!("{word}-{}", counts[k]);
        let (azimuth_deg, elevation_deg, blockage_zones) = if kind == LinkKind::Vsat {
            // the same azimuth the simulator would pick: the mast sector astern stays
            // clear of the route's headings, so blockage comes only from a fault's turn
            let az = (base_az + 45.0 * vsat_i as f64).rem_euclid(360.0);
            vsat_i += 1;
            (
                Some(az),
                Some((rng.range(20.0, 60.0) * 10.0).round() / 10.0),
                vec![[150.0, 210.0]],
            )
        } else {
            (None, None, Vec::new())
        };
        if kind != LinkKind::PortWifi {
            let mid = format!("modem-{lid}");
            push(&mut devs, mid.clone(), DeviceKind::Modem, vec![]);
            modems.push(mid);
        }
        links.push(Link {
            id: lid,
            kind,
            band,
            capacity_mbps: Some(cap),
            primary: li == 0,
            azimuth_deg,
            elevation_deg,
            sat_lon: None,
            blockage_zones,
        });
    }
    let firewalls = vec!["fw-1".to_string(), "fw-2".to_string()];
    for f in &firewalls {
        push(&mut devs, f.clone(), DeviceKind::Firewall, modems.clone());
    }
    let two_cores = matches!(family, Family::RedundantCore | Family::DualHomed) || rng.chance(0.2);
    let cores: Vec<String> = if two_cores {
        vec!["core-sw-1".into(), "core-sw-2".into()]
    } else {
        vec!["core-sw-1".into()]
    };
    for c in &cores {
        push(&mut devs, c.clone(), DeviceKind::Switch, firewalls.clone());
    }
    // servers: the vendor mix of the server room
    let mut hosts = Vec::new();
    let server_budget = (target / 50).clamp(3, 60);
    let mut servers: Vec<(String, DeviceKind)> = vec![
        ("wlc-1".into(), DeviceKind::Server),
        ("pms-db-1".into(), DeviceKind::Server),
        ("pbx-1".into(), DeviceKind::Pbx),
    ];
    if rng.chance(0.7) {
        servers.push(("vms-1".into(), DeviceKind::Server));
    }
    if rng.chance(0.6) {
        servers.push(("win-ad-1".into(), DeviceKind::Server));
    }
    let mut k = 0;
    while servers.len() < server_budget {
        k += 1;
        let (prefix, kind) = *rng.pick(&[
            ("app", DeviceKind::Server),
            ("win-fs", DeviceKind::Server),
            ("pg", DeviceKind::Server),
            ("nvr", DeviceKind::Server),
        ]);
        servers.push((format!("{prefix}-{k}"), kind));
    }
    let dual_servers = family == Family::DualHomed || (two_cores && rng.chance(0.5));
    for (sid, kind) in servers {
        let deps = if dual_servers {
            cores.clone()
        } else {
            vec![rng.pick(&cores).clone()]
        };
        push(&mut devs, sid.clone(), kind, deps);
        hosts.push(sid);
    }
    // switching: ~1 access switch per 24 endpoints, 4-16 access switches per distribution
    let remaining = target.saturating_sub(devs.len() + 2).max(4);
    let per_access = rng.int(16, 32) as usize;
    let n_access = (remaining / (per_access + 1)).max(1);
    let per_dist = rng.int(4, 16) as usize;
    let mut dists: Vec<String> = Vec::new();
    let mut subtrees: Vec<Vec<String>> = Vec::new();
    let mut access: Vec<String> = Vec::new();
    match family {
        Family::CollapsedCore => {}
        _ => {
            let mut n_dist = n_access.div_ceil(per_dist).max(2);
            if family == Family::DualHomed && n_dist % 2 == 1 {
                n_dist += 1;
            }
            if family == Family::Ring {
                n_dist = n_dist.max(3);
            }
            for d in 0..n_dist {
                let did = format!("dist-sw-{}", d + 1);
                let deps = match family {
                    Family::ThreeTier => vec![rng.pick(&cores).clone()],
                    Family::RedundantCore | Family::DualHomed => cores.clone(),
                    _ => Vec::new(), // the ring is wired below
                };
                push(&mut devs, did.clone(), DeviceKind::Switch, deps);
                dists.push(did);
                subtrees.push(Vec::new());
            }
            if family == Family::Ring {
                let n = dists.len();
                let mid = n / 2;
                let first = devs.len() - n;
                for i in 0..n {
                    let deps = if i == 0 || i == n - 1 {
                        vec![cores[0].clone()]
                    } else if i < mid {
                        vec![dists[i - 1].clone()]
                    } else if i > mid {
                        vec![dists[i + 1].clone()]
                    } else {
                        vec![dists[i - 1].clone(), dists[i + 1].clone()]
                    };
                    devs[first + i].depends_on = deps;
                }
            }
        }
    }
    for a in 0..n_access {
        let aid = format!("acc-sw-{}", a + 1);
        let (deps, tree) = if dists.is_empty() {
            (vec![rng.pick(&cores).clone()], 0)
        } else if family == Family::DualHomed {
            let pair = (a % (dists.len() / 2)) * 2;
            (vec![dists[pair].clone(), dists[pair + 1].clone()], pair)
        } else {
            let d = a % dists.len();
            (vec![dists[d].clone()], d)
        };
        push(&mut devs, aid.clone(), DeviceKind::Switch, deps);
        if dists.is_empty() {
            // collapsed core: every access switch is a subtree of its own
            subtrees.push(vec![aid.clone()]);
        } else {
            subtrees[tree].push(aid.clone());
        }
        access.push(aid);
    }
    // endpoints
    let mut aps = Vec::new();
    let mut seq = [0usize; 4];
    let ap_share = rng.range(0.35, 0.6);
    let mut e = 0;
    while devs.len() < target {
        let r = rng.f64();
        let (k, kind, prefix) = if r < ap_share {
            (0, DeviceKind::Ap, "ap")
        } else if r < ap_share + 0.25 {
            (1, DeviceKind::Cctv, "cam")
        } else if r < ap_share + 0.35 {
            (2, DeviceKind::Pos, "pos")
        } else {
            (3, DeviceKind::Hvac, "hvac")
        };
        seq[k] += 1;
        let eid = format!("{prefix}-{}", seq[k]);
        let parent = access[e % access.len()].clone();
        e += 1;
        push(&mut devs, eid.clone(), kind, vec![parent]);
        if kind == DeviceKind::Ap {
            aps.push(eid);
        }
    }
    // some ships noisier, some quieter, within the sourced ranges (NOISE.md)
    let noise = Noise {
        probe_loss: *rng.pick(&[0.001, 0.002, 0.005, 0.005, 0.01]),
        user_port_flaps_per_hour: *rng.pick(&[4.0, 8.0, 12.0, 12.0, 20.0]),
        chatty_lines_per_hour: *rng.pick(&[0.5, 1.0, 1.0, 2.0]),
        ..Noise::default()
    };
    let metric_interval_s = *rng.pick(&[10u32, 15, 20, 30, 60]);
    let log_eps = (20.0 + target as f64 * rng.range(0.1, 0.4)).round();
    let speed_kn = (rng.range(14.0, 22.0) * 10.0).round() / 10.0;
    let ship = Ship {
        id: id.to_owned(),
        log_eps,
        metric_interval_s,
        route,
        speed_kn,
        device: devs,
        link: links,
        noise,
        maintenance: Vec::new(),
    };
    let plan = Plan {
        subtrees: subtrees.into_iter().filter(|t| !t.is_empty()).collect(),
        dists,
        aps,
        hosts,
        firewalls,
    };
    (ship, plan)
}

/// Faults that make sense for the topology: `(fault, pattern)`. Also announces one
/// maintenance window on a device no fault touches.
fn plan_faults(
    ship: &Ship,
    plan: &Plan,
    duration_s: u64,
    rng: &mut crate::generate::Rng,
) -> Vec<(crate::Fault, &'static str)> {
    use crate::{Fault, FaultKind as K};
    let mut out: Vec<(Fault, &'static str)> = Vec::new();
    let fault = |target: &str, kind: K, at_s: u64, dur: u64| Fault {
        ship: ship.id.clone(),
        target: target.to_owned(),
        kind,
        at_s,
        duration_s: dur,
    };
    // slots of 900 s after a 600 s warm-up; each pattern takes one
    let slots = ((duration_s - 600) / 900).max(1);
    let n = rng.int(1, slots.min(4) as u32) as u64;
    let access: Vec<&String> = plan.subtrees.iter().flatten().collect();
    for k in 0..n {
        let at = 600 + k * 900 + u64::from(rng.below(120));
        let room = (600 + (k + 1) * 900).min(duration_s) - at;
        let dur = |rng: &mut crate::generate::Rng, lo: u64, hi: u64| -> u64 {
            u64::from(rng.int(lo as u32, hi.min(room) as u32))
        };
        match rng.below(4) {
            0 => {
                // single: one element fails
                let pick = rng.below(6);
                let f = match pick {
                    0 if !plan.aps.is_empty() => fault(
                        rng.pick::<String>(&plan.aps),
                        K::Down,
                        at,
                        dur(rng, 300, 700),
                    ),
                    1 if !plan.hosts.is_empty() => {
                        let h = rng.pick(&plan.hosts).clone();
                        fault(
                            &h,
                            *rng.pick(&[K::DiskFull, K::CpuSaturation]),
                            at,
                            dur(rng, 300, 700),
                        )
                    }
                    2 => fault(&plan.firewalls[0], K::CpuSaturation, at, dur(rng, 300, 700)),
                    3 => {
                        let sat: Vec<&Link> = ship
                            .link
                            .iter()
                            .filter(|l| l.kind == LinkKind::Vsat)
                            .collect();
                        match sat.first() {
                            Some(l) => {
                                let kind =
                                    if matches!(l.effective_band(), Some(Band::Ku | Band::Ka)) {
                                        *rng.pick(&[
                                            K::Blockage,
                                            K::RainFade,
                                            K::LinkOutage,
                                            K::SunOutage,
                                        ])
                                    } else {
                                        *rng.pick(&[K::Blockage, K::LinkOutage, K::SunOutage])
                                    };
                                fault(&l.id, kind, at, dur(rng, 300, 600))
                            }
                            None => fault(&ship.link[0].id, K::LinkOutage, at, dur(rng, 300, 600)),
                        }
                    }
                    4 => fault(
                        rng.pick::<&String>(&access),
                        *rng.pick(&[K::InterfaceErrors, K::Flapping, K::Down]),
                        at,
                        dur(rng, 300, 700),
                    ),
                    _ => match plan.dists.is_empty() {
                        false => fault(
                            rng.pick::<String>(&plan.dists),
                            K::Down,
                            at,
                            dur(rng, 300, 700),
                        ),
                        true => fault(
                            rng.pick::<&String>(&access),
                            K::Down,
                            at,
                            dur(rng, 300, 700),
                        ),
                    },
                };
                out.push((f, "single"));
            }
            1 => {
                // cascading: errors on an uplink, then the switch dies
                let t = (*rng.pick(&access)).clone();
                let first = dur(rng, 180, 300).min(room / 2);
                out.push((fault(&t, K::InterfaceErrors, at, first), "cascade"));
                let rest = room - first;
                out.push((fault(&t, K::Down, at + first, rest.min(600)), "cascade"));
            }
            2 => {
                // overlapping, in one subtree: an AP dies while its switch's uplink errors
                let sw = (*rng.pick(&access)).clone();
                let behind: Vec<&Device> = ship
                    .device
                    .iter()
                    .filter(|d| d.kind == DeviceKind::Ap && d.depends_on.contains(&sw))
                    .collect();
                let ap = (!behind.is_empty()).then(|| *rng.pick(&behind));
                out.push((
                    fault(&sw, K::InterfaceErrors, at, dur(rng, 400, 700)),
                    "overlap",
                ));
                if let Some(ap) = ap {
                    let off = 60 + u64::from(rng.below(120));
                    let d = (room - off).min(400);
                    out.push((fault(&ap.id, K::Down, at + off, d), "overlap"));
                }
            }
            _ => {
                // simultaneous, in separate subtrees
                if plan.subtrees.len() >= 2 {
                    let a = rng.below(plan.subtrees.len() as u32) as usize;
                    let mut b = rng.below(plan.subtrees.len() as u32 - 1) as usize;
                    if b >= a {
                        b += 1;
                    }
                    let d = dur(rng, 300, 600);
                    let x = rng.pick(&plan.subtrees[a]).clone();
                    let y = rng.pick(&plan.subtrees[b]).clone();
                    out.push((fault(&x, K::Down, at, d), "simultaneous"));
                    out.push((fault(&y, K::Down, at, d), "simultaneous"));
                } else {
                    let t = (*rng.pick(&access)).clone();
                    out.push((fault(&t, K::Flapping, at, dur(rng, 300, 600)), "single"));
                }
            }
        }
    }
    out
}

/// What [`rollout_fleet`] builds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RolloutFleetOptions {
    /// Ships (the canary is the first by id).
    pub ships: usize,
    /// Devices per ship.
    pub devices: usize,
    /// The bundle rolled out.
    pub bundle: crate::GeneratedBundle,
    /// Share of the ships offline (never the canary).
    pub offline_share: f64,
    /// How long they are offline, seconds (from second 300).
    pub offline_s: u64,
    /// Background log events per second a ship (kept low: a fleet of 50 ships).
    pub log_eps: f64,
}

impl Default for RolloutFleetOptions {
    fn default() -> Self {
        Self {
            ships: 50,
            devices: 40,
            bundle: crate::GeneratedBundle::Good,
            offline_share: 0.3,
            offline_s: 2 * 3600,
            log_eps: 20.0,
        }
    }
}

/// Most ships [`rollout_fleet`] builds from the command line.
pub const ROLLOUT_MAX_SHIPS: usize = 100;

/// When the generated rollout starts, seconds since the scenario start.
pub const ROLLOUT_AT_S: u64 = 600;
/// When two online ships of wave 2 lose their links for 60 s: in the middle of their
/// chunk transfers (wave 2 starts once the canary's 120 s incident watch is over, about
/// 126 s after the rollout; 5 chunks at 256 KiB/s take 5 s).
pub const ROLLOUT_CUT_AFTER_S: u64 = 128;
/// When the shore node running it is killed: in wave 2 (the canary's 120 s incident
/// watch is over by about 125 s after the start, wave 2's ships are in theirs).
pub const ROLLOUT_KILL_AFTER_S: u64 = 150;

/// A fleet rollout scenario (`seawatch sim fleet --rollout good|bad`): the ships of
/// [`random_fleet`] (same seed, `devices` each, light background logs), with their faults
/// replaced by outages: `offline_share` of the ships (drawn by the seed, never the
/// canary, which is the first ship by id) lose every link from second 300 for
/// `offline_s`, and up to two online ships of wave 2 lose theirs for 60 s in the middle
/// of their chunk transfers ([`ROLLOUT_CUT_AFTER_S`]). A rollout of a generated policy bundle starts at [`ROLLOUT_AT_S`] in three
/// waves (canary, 50 %, 100 %; a 120 s incident watch; waves 2 and 3 pass at 50 %
/// succeeded, so the offline ships finish when they are back), and the shore node
/// running it is killed [`ROLLOUT_KILL_AFTER_S`] later. The scenario ends 1,500 s after
/// the ships are back. Returns the fleet and the offline ships' ids.
pub fn rollout_fleet(seed: u64, o: &RolloutFleetOptions) -> (GeneratedFleet, Vec<String>) {
    use crate::generate::Rng;
    let mut f = random_fleet(seed, Some(o.ships.max(1)), Some(o.devices));
    let sc = &mut f.scenario;
    sc.name = format!(
        "rollout-{}-{seed}",
        match o.bundle {
            crate::GeneratedBundle::Good => "good",
            crate::GeneratedBundle::Bad => "bad",
        }
    );
    sc.duration_s = 300 + o.offline_s + 1500;
    sc.fault.clear();
    f.patterns.clear();
    for s in &mut sc.ship {
        s.log_eps = o.log_eps;
        s.maintenance
            .retain(|m| m.at_s + m.duration_s <= 300 + o.offline_s + 1500);
    }
    let mut ids: Vec<String> = sc.ship.iter().map(|s| s.id.clone()).collect();
    ids.sort();
    // the first ship by id is the canary: never offline
    let mut rest: Vec<String> = ids.into_iter().skip(1).collect();
    let n = ((o.ships as f64 * o.offline_share).round() as usize).min(rest.len());
    let mut rng = Rng::derive(seed, &["rollout", "offline"]);
    let mut offline = Vec::new();
    while offline.len() < n {
        let i = rng.below(rest.len() as u32) as usize;
        offline.push(rest.remove(i));
    }
    offline.sort();
    // up to two online ships of wave 2 lose their links in the middle of their chunks
    let wave2_end = (o.ships as f64 * 0.5).ceil() as usize;
    let mut ids: Vec<String> = sc.ship.iter().map(|s| s.id.clone()).collect();
    ids.sort();
    let cut: Vec<String> = ids
        .iter()
        .take(wave2_end)
        .skip(1)
        .filter(|s| !offline.contains(s))
        .take(2)
        .cloned()
        .collect();
    for s in &sc.ship {
        if cut.contains(&s.id) {
            for l in &s.link {
                sc.fault.push(crate::Fault {
                    ship: s.id.clone(),
                    target: l.id.clone(),
                    kind: crate::FaultKind::LinkOutage,
                    at_s: ROLLOUT_AT_S + ROLLOUT_CUT_AFTER_S,
                    duration_s: 60,
                });
                f.patterns.push("cut mid-transfer");
            }
        }
    }
    for s in &sc.ship {
        if offline.contains(&s.id) {
            for l in &s.link {
                sc.fault.push(crate::Fault {
                    ship: s.id.clone(),
                    target: l.id.clone(),
                    kind: crate::FaultKind::LinkOutage,
                    at_s: 300,
                    duration_s: o.offline_s,
                });
                f.patterns.push("offline");
            }
        }
    }
    let wave = |percent: f64, success: f64, error: f64| crate::RolloutWave {
        percent,
        success_threshold: success,
        error_threshold: error,
        timeout_s: 600,
        incident_window_s: Some(120),
    };
    sc.rollout.push(crate::RolloutPlan {
        bundle: None,
        generate: Some(o.bundle),
        at_s: ROLLOUT_AT_S,
        on_error: Some("pause".into()),
        bulk_bytes_per_s: 256 * 1024,
        kill_shore_node_at_s: Some(ROLLOUT_AT_S + ROLLOUT_KILL_AFTER_S),
        wave: vec![
            // one ship: just under 1/n of them (a wave ends at ceil(n × percent / 100))
            wave(
                (9_900.0 / o.ships.max(1) as f64).floor() / 100.0,
                100.0,
                0.0,
            ),
            wave(50.0, 50.0, 10.0),
            wave(100.0, 50.0, 10.0),
        ],
    });
    (f, offline)
}
