//! Benign noise (`[ship.noise]`): what a healthy ship's telemetry carries besides faults.
//!
//! Every source draws from its own seeded streams (never from the streams of the fault
//! model), so noise is deterministic given the scenario seed and never changes the
//! `[[fault]]` ground truth. The rates and their sources are in `simulators/NOISE.md`.
//!
//! - [`true_topology`]: the ship as it really is, which differs from the inventory the ship
//!   is given (unlisted endpoints, stale `depends_on`);
//! - [`NoiseSim`]: per-second scheduling of user-port flaps, nightly AP reboots, backups,
//!   CPU bursts, chatty lines and announced maintenance windows;
//! - [`Delivery`]: late, duplicated and out-of-order delivery of the generated records.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::out::Batch;
use super::rng::Rng;
use crate::scenario::{Device, DeviceKind, Noise, Ship};

/// The simulator's true topology of `ship` under `seed`: the inventory plus the endpoints
/// that are on board but missing from it (`unlisted_fraction`), with a few endpoints really
/// patched to another access switch than their `depends_on` says
/// (`stale_depends_on_fraction`). Without noise it is the inventory itself.
///
/// The ship's correlator sees only the inventory; LLDP, link and controller lines come
/// from this topology.
pub fn true_topology(ship: &Ship, seed: u64) -> Ship {
    let mut truth = ship.clone();
    let noise = &ship.noise;
    if !noise.enabled || (noise.unlisted_fraction <= 0.0 && noise.stale_depends_on_fraction <= 0.0)
    {
        return truth;
    }
    let mut rng = Rng::derive(seed, &["noise", "topology", &ship.id]);
    let is_switch = |id: &str| {
        ship.device
            .iter()
            .any(|d| d.id == id && d.kind == DeviceKind::Switch)
    };
    // access switches: switches no other switch depends on
    let access: Vec<String> = ship
        .device
        .iter()
        .filter(|d| d.kind == DeviceKind::Switch)
        .filter(|d| {
            !ship
                .device
                .iter()
                .any(|c| c.kind == DeviceKind::Switch && c.depends_on.contains(&d.id))
        })
        .map(|d| d.id.clone())
        .collect();
    if access.is_empty() {
        return truth;
    }
    let endpoint = |d: &Device| {
        matches!(
            d.kind,
            DeviceKind::Ap | DeviceKind::Cctv | DeviceKind::Pos | DeviceKind::Hvac
        ) && d.depends_on.len() == 1
            && is_switch(&d.depends_on[0])
    };
    if access.len() > 1 {
        for d in truth.device.iter_mut() {
            if endpoint(d) && rng.chance(noise.stale_depends_on_fraction) {
                let old = d.depends_on[0].clone();
                let others: Vec<&String> = access.iter().filter(|a| **a != old).collect();
                d.depends_on = vec![(*rng.pick(&others)).clone()];
            }
        }
    }
    let want = ship.device.len() as f64 * noise.unlisted_fraction;
    let count = want.floor() as usize + usize::from(rng.chance(want.fract()));
    let mut seq = [0usize; 4];
    for _ in 0..count {
        let (k, kind, prefix) = match rng.below(20) {
            0..=9 => (0, DeviceKind::Ap, "ap-spare"),
            10..=14 => (1, DeviceKind::Cctv, "cam-temp"),
            15..=17 => (2, DeviceKind::Pos, "pos-popup"),
            _ => (3, DeviceKind::Hvac, "bms-retrofit"),
        };
        let id = loop {
            seq[k] += 1;
            let id = format!("{prefix}-{}", seq[k]);
            if truth.device(&id).is_none() && truth.link(&id).is_none() {
                break id;
            }
        };
        let parent = rng.pick(&access).clone();
        truth.device.push(Device {
            id,
            kind,
            depends_on: vec![parent],
        });
    }
    truth
}

/// What a noise window does to its device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WinKind {
    /// A nightly firmware reboot of an access point (down, announced by the controller).
    ApReboot,
    /// An announced maintenance window (down).
    Maintenance,
    /// A backup job (CPU busy, start and end lines).
    Backup,
    /// A short CPU burst.
    CpuBurst,
}

/// A stretch of time a noise source holds a device in some state.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    pub dev: usize,
    pub from_s: u64,
    pub to_s: u64,
    pub kind: WinKind,
    /// CPU percent for backups and bursts.
    pub level: f64,
}

/// Point sources scheduled per device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Src {
    UserFlap = 0,
    Chatty = 1,
    Burst = 2,
}

/// One ship's noise schedule.
pub(crate) struct NoiseSim {
    pub cfg: Noise,
    pub rng: Rng,
    heap: BinaryHeap<Reverse<(i64, u32, u8)>>,
    pending: Vec<Window>,
    next_from_s: u64,
    pub active: Vec<Window>,
    /// Seconds since the scenario start of the 01:00 (ship's time) that opens the next
    /// night still to plan.
    next_night_s: i64,
    /// Whether each device's previous probe was lost to noise (losses come one at a time).
    pub probe_lost_last: Vec<bool>,
}

/// Exponential waiting time in ms for `per_s` events a second (`None` for a zero rate).
fn wait_ms(rng: &mut Rng, per_s: f64) -> Option<i64> {
    if per_s <= 0.0 {
        return None;
    }
    let u = rng.f64().max(1e-12);
    Some(((-u.ln() / per_s) * 1000.0).max(1.0) as i64)
}

impl NoiseSim {
    /// `flaps[i]`: whether device `i` has user ports that flap (an access switch).
    pub(crate) fn new(
        cfg: Noise,
        mut rng: Rng,
        start_ms: i64,
        lon: f64,
        flaps: &[bool],
        n: usize,
    ) -> NoiseSim {
        let mut heap = BinaryHeap::new();
        let chatty = cfg.chatty_lines_per_hour / 3600.0;
        let burst = cfg.cpu_bursts_per_day / 86_400.0;
        let flap = cfg.user_port_flaps_per_hour / 3600.0;
        for (i, &flaps_here) in flaps.iter().enumerate().take(n) {
            for (src, per_s) in [
                (Src::UserFlap, flap),
                (Src::Chatty, chatty),
                (Src::Burst, burst),
            ] {
                if src == Src::UserFlap && !flaps_here {
                    continue;
                }
                if let Some(w) = wait_ms(&mut rng, per_s) {
                    heap.push(Reverse((start_ms + w, i as u32, src as u8)));
                }
            }
        }
        // the last 01:00 ship's time at or before the start
        let utc_h = start_ms.rem_euclid(86_400_000) as f64 / 3_600_000.0;
        let local_h = (utc_h + lon / 15.0).rem_euclid(24.0);
        let since_1am_s = ((local_h - 1.0).rem_euclid(24.0) * 3600.0) as i64;
        NoiseSim {
            cfg,
            rng,
            heap,
            pending: Vec::new(),
            next_from_s: u64::MAX,
            active: Vec::new(),
            next_night_s: -since_1am_s,
            probe_lost_last: vec![false; n],
        }
    }

    /// Adds a window (maintenance, planned nights, bursts).
    pub(crate) fn add(&mut self, w: Window) {
        self.next_from_s = self.next_from_s.min(w.from_s);
        self.pending.push(w);
    }

    /// Plans the nights that begin before second `s + 1 day`: AP firmware reboots
    /// (02:00–04:00) and backups (01:00–05:00, ship's time).
    pub(crate) fn plan_nights(&mut self, s: u64, aps: &[usize], hosts: &[usize]) {
        while self.next_night_s <= s as i64 + 86_400 {
            let night = self.next_night_s;
            self.next_night_s += 86_400;
            for &ap in aps {
                if self.rng.chance(self.cfg.ap_reboots_per_night) {
                    let from = night + 3600 + i64::from(self.rng.below(7200));
                    let dur = u64::from(self.rng.int(120, 300));
                    if from > s as i64 {
                        self.add(Window {
                            dev: ap,
                            from_s: from as u64,
                            to_s: from as u64 + dur,
                            kind: WinKind::ApReboot,
                            level: 0.0,
                        });
                    }
                }
            }
            for &h in hosts {
                let want = self.cfg.backups_per_night;
                let jobs = want.floor() as u32 + u32::from(self.rng.chance(want.fract()));
                for _ in 0..jobs {
                    let from = night + i64::from(self.rng.below(4 * 3600));
                    let dur = u64::from(self.rng.int(300, 1500));
                    let level = self.rng.range(45.0, 80.0);
                    if from > s as i64 {
                        self.add(Window {
                            dev: h,
                            from_s: from as u64,
                            to_s: from as u64 + dur,
                            kind: WinKind::Backup,
                            level,
                        });
                    }
                }
            }
        }
    }

    /// Moves the windows that start at `s` to the active set and drops the ended ones;
    /// returns the windows that started and those that ended this second.
    pub(crate) fn advance_windows(
        &mut self,
        s: u64,
        started: &mut Vec<Window>,
        ended: &mut Vec<Window>,
    ) {
        started.clear();
        ended.clear();
        self.active.retain(|w| {
            if w.to_s <= s {
                ended.push(*w);
                false
            } else {
                true
            }
        });
        if s >= self.next_from_s {
            let mut next = u64::MAX;
            let active = &mut self.active;
            self.pending.retain(|w| {
                if w.from_s <= s {
                    if w.to_s > s {
                        active.push(*w);
                        started.push(*w);
                    }
                    false
                } else {
                    next = next.min(w.from_s);
                    true
                }
            });
            self.next_from_s = next;
        }
    }

    /// The next point event due before `end_ms`, if any: `(at_ms, device, source)`.
    pub(crate) fn pop_due(&mut self, end_ms: i64) -> Option<(i64, usize, Src)> {
        let &Reverse((at, dev, src)) = self.heap.peek()?;
        if at >= end_ms {
            return None;
        }
        self.heap.pop();
        let (src, per_s) = match src {
            0 => (Src::UserFlap, self.cfg.user_port_flaps_per_hour / 3600.0),
            1 => (Src::Chatty, self.cfg.chatty_lines_per_hour / 3600.0),
            _ => (Src::Burst, self.cfg.cpu_bursts_per_day / 86_400.0),
        };
        if let Some(w) = wait_ms(&mut self.rng, per_s) {
            self.heap.push(Reverse((at + w, dev, src as u8)));
        }
        Some((at, dev as usize, src))
    }
}

/// A record held back for late or repeated delivery.
struct Held {
    deliver_ms: i64,
    ship: u32,
    metric: bool,
    bytes: Vec<u8>,
}

/// Late, duplicated and out-of-order delivery across ships (bounded by `late_max_s`).
pub(crate) struct Delivery {
    rng: Rng,
    /// Per ship: `(late_fraction, late_max_s, duplicate_fraction)`.
    rates: Vec<(f64, u32, f64)>,
    held: Vec<Held>,
    drop: Vec<bool>,
}

impl Delivery {
    pub(crate) fn new(seed: u64, rates: Vec<(f64, u32, f64)>) -> Delivery {
        Delivery {
            rng: Rng::derive(seed, &["noise", "delivery"]),
            rates,
            held: Vec::new(),
            drop: Vec::new(),
        }
    }

    fn skip(&mut self, p: f64) -> usize {
        if p >= 1.0 {
            return 0;
        }
        let u = self.rng.f64().max(1e-300);
        (u.ln() / (1.0 - p).ln()).floor().min(1e12) as usize
    }

    /// Picks this second's late and duplicated records out of `batch` and adds the held
    /// records now due (before `end_ms`).
    pub(crate) fn apply(&mut self, batch: &mut Batch, end_ms: i64) {
        let p_late = self.rates.iter().map(|r| r.0).fold(0.0, f64::max);
        let p_dup = self.rates.iter().map(|r| r.2).fold(0.0, f64::max);
        let n = batch.recs.len();
        if p_late > 0.0 && n > 0 {
            self.drop.clear();
            self.drop.resize(n, false);
            let mut any = false;
            let mut i = self.skip(p_late);
            while i < n {
                let r = batch.recs[i];
                let (p, max_s, _) = self.rates[r.ship as usize];
                if max_s > 0 && self.rng.f64() * p_late < p {
                    let delay = 1000 + i64::from(self.rng.below(max_s * 1000));
                    self.held.push(Held {
                        deliver_ms: r.ts_ms + delay,
                        ship: r.ship,
                        metric: r.metric,
                        bytes: batch.bytes[r.start as usize..r.end as usize].to_vec(),
                    });
                    self.drop[i] = true;
                    any = true;
                }
                i += 1 + self.skip(p_late);
            }
            if any {
                let mut k = 0;
                let drop = &self.drop;
                batch.recs.retain(|_| {
                    k += 1;
                    !drop[k - 1]
                });
            }
        }
        let n = batch.recs.len();
        if p_dup > 0.0 && n > 0 {
            let mut i = self.skip(p_dup);
            while i < n {
                let r = batch.recs[i];
                let p = self.rates[r.ship as usize].2;
                if self.rng.f64() * p_dup < p {
                    // a retry: the same bytes again, up to 5 s later
                    let delay = 50 + i64::from(self.rng.below(5000));
                    self.held.push(Held {
                        deliver_ms: r.ts_ms + delay,
                        ship: r.ship,
                        metric: r.metric,
                        bytes: batch.bytes[r.start as usize..r.end as usize].to_vec(),
                    });
                }
                i += 1 + self.skip(p_dup);
            }
        }
        if self.held.is_empty() {
            return;
        }
        let mut due = Vec::new();
        self.held.retain_mut(|h| {
            if h.deliver_ms < end_ms {
                due.push(Held {
                    deliver_ms: h.deliver_ms,
                    ship: h.ship,
                    metric: h.metric,
                    bytes: std::mem::take(&mut h.bytes),
                });
                false
            } else {
                true
            }
        });
        for h in due {
            batch.push(h.deliver_ms, h.ship, h.metric, |w| w.b(&h.bytes));
        }
    }
}
