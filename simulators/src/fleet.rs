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
    }
}
