//! Ship motion along its route, and the weather (rain rate) over the ship.

use super::rng::Rng;

const EARTH_RADIUS_NM: f64 = 3440.065;
/// Where a ship without a route lies at anchor (Miami outer anchorage).
const DEFAULT_ANCHORAGE: [f64; 2] = [25.77, -80.05];
/// Rate of turn of a cruise ship altering course at sea speed, degrees per second: a
/// rate-of-turn autopilot set to ~30°/min (EST; large ships turn at 10–60°/min, not the
/// 150°/min of a harbour manoeuvre).
pub(crate) const TURN_RATE_DEG_S: f64 = 0.5;

/// Signed smallest difference `to - from` in degrees, in (-180, 180].
pub(crate) fn angle_diff(from: f64, to: f64) -> f64 {
    let d = (to - from).rem_euclid(360.0);
    if d > 180.0 {
        d - 360.0
    } else {
        d
    }
}

fn to_unit(lat: f64, lon: f64) -> [f64; 3] {
    let (la, lo) = (lat.to_radians(), lon.to_radians());
    [la.cos() * lo.cos(), la.cos() * lo.sin(), la.sin()]
}

fn from_unit(v: [f64; 3]) -> [f64; 2] {
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    let (x, y, z) = (v[0] / n, v[1] / n, v[2] / n);
    [z.asin().to_degrees(), y.atan2(x).to_degrees()]
}

/// Great-circle distance in nautical miles.
pub(crate) fn distance_nm(a: [f64; 2], b: [f64; 2]) -> f64 {
    let (la1, la2) = (a[0].to_radians(), b[0].to_radians());
    let dla = la2 - la1;
    let dlo = (b[1] - a[1]).to_radians();
    let h = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlo / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_NM * h.sqrt().min(1.0).asin()
}

/// Initial great-circle bearing from `a` to `b`, degrees true.
pub(crate) fn bearing_deg(a: [f64; 2], b: [f64; 2]) -> f64 {
    let (la1, la2) = (a[0].to_radians(), b[0].to_radians());
    let dlo = (b[1] - a[1]).to_radians();
    let y = dlo.sin() * la2.cos();
    let x = la1.cos() * la2.sin() - la1.sin() * la2.cos() * dlo.cos();
    y.atan2(x).to_degrees().rem_euclid(360.0)
}

/// Great-circle interpolation between `a` and `b` (fraction in 0..=1).
fn slerp(a: [f64; 2], b: [f64; 2], f: f64) -> [f64; 2] {
    let (u, v) = (to_unit(a[0], a[1]), to_unit(b[0], b[1]));
    let dot = (u[0] * v[0] + u[1] * v[1] + u[2] * v[2]).clamp(-1.0, 1.0);
    let omega = dot.acos();
    if omega < 1e-12 {
        return a;
    }
    let (sa, sb) = (((1.0 - f) * omega).sin(), (f * omega).sin());
    from_unit([
        sa * u[0] + sb * v[0],
        sa * u[1] + sb * v[1],
        sa * u[2] + sb * v[2],
    ])
}

/// A heading the ship is ordered to hold instead of its course (e.g. a turn that puts the
/// mast into an antenna's blockage zone).
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeadingOrder {
    pub heading: f64,
}

/// Position and heading of one ship, stepped once per simulated second.
pub(crate) struct Motion {
    route: Vec<[f64; 2]>,
    leg_len_nm: Vec<f64>,
    leg: usize,
    along_nm: f64,
    speed_kn: f64,
    pub pos: [f64; 2],
    pub heading: f64,
    /// Course alteration currently ordered (degrees off the leg bearing).
    alteration: f64,
    alteration_target: f64,
    next_alteration_s: u64,
    yaw: f64,
    rng: Rng,
}

impl Motion {
    pub(crate) fn new(route: &[[f64; 2]], speed_kn: f64, rng: Rng) -> Motion {
        let route: Vec<[f64; 2]> = if route.is_empty() {
            vec![DEFAULT_ANCHORAGE]
        } else {
            route.to_vec()
        };
        let leg_len_nm = route.windows(2).map(|w| distance_nm(w[0], w[1])).collect();
        let pos = route[0];
        let heading = if route.len() > 1 {
            bearing_deg(route[0], route[1])
        } else {
            90.0
        };
        let mut m = Motion {
            route,
            leg_len_nm,
            leg: 0,
            along_nm: 0.0,
            speed_kn,
            pos,
            heading,
            alteration: 0.0,
            alteration_target: 0.0,
            next_alteration_s: 0,
            yaw: 0.0,
            rng,
        };
        m.next_alteration_s = m.rng.int(900, 2700) as u64;
        m
    }

    /// Bearings of every leg (the headings the ship holds when not turning).
    pub(crate) fn leg_bearings(&self) -> Vec<f64> {
        if self.route.len() < 2 {
            return vec![self.heading];
        }
        self.route
            .windows(2)
            .map(|w| bearing_deg(w[0], w[1]))
            .collect()
    }

    fn course(&self) -> f64 {
        if self.leg + 1 < self.route.len() {
            bearing_deg(self.pos, self.route[self.leg + 1])
        } else if self.route.len() > 1 {
            bearing_deg(
                self.route[self.route.len() - 2],
                self.route[self.route.len() - 1],
            )
        } else {
            90.0
        }
    }

    /// Distance to the nearest end of the route (the ports), nautical miles.
    pub(crate) fn distance_to_port_nm(&self) -> f64 {
        let first = distance_nm(self.pos, self.route[0]);
        let last = distance_nm(self.pos, self.route[self.route.len() - 1]);
        first.min(last)
    }

    /// Advances one second; `order` overrides the course while it lasts.
    pub(crate) fn step(&mut self, t_s: u64, order: Option<HeadingOrder>) {
        // along-track progress
        if self.leg + 1 < self.route.len() {
            self.along_nm += self.speed_kn / 3600.0;
            while self.leg + 1 < self.route.len() && self.along_nm >= self.leg_len_nm[self.leg] {
                self.along_nm -= self.leg_len_nm[self.leg];
                self.leg += 1;
            }
            if self.leg + 1 < self.route.len() {
                let f = self.along_nm / self.leg_len_nm[self.leg].max(1e-9);
                self.pos = slerp(self.route[self.leg], self.route[self.leg + 1], f);
            } else {
                self.pos = self.route[self.route.len() - 1];
            }
        }
        // occasional course alterations (traffic, weather routing): ±5–20° for a few minutes
        if t_s >= self.next_alteration_s {
            if self.alteration_target == 0.0 {
                let mag = self.rng.range(5.0, 20.0);
                self.alteration_target = if self.rng.chance(0.5) { mag } else { -mag };
                self.next_alteration_s = t_s + u64::from(self.rng.int(180, 600));
            } else {
                self.alteration_target = 0.0;
                self.next_alteration_s = t_s + u64::from(self.rng.int(900, 2700));
            }
        }
        let step = (self.alteration_target - self.alteration).clamp(-0.5, 0.5);
        self.alteration += step;
        self.yaw = 0.9 * self.yaw + 0.25 * self.rng.normal();
        let wanted = match order {
            Some(o) => o.heading,
            None => self.course() + self.alteration,
        };
        let turn = angle_diff(self.heading, wanted).clamp(-TURN_RATE_DEG_S, TURN_RATE_DEG_S);
        self.heading = (self.heading + turn).rem_euclid(360.0);
    }

    /// Heading as the gyro reports it (with yaw noise).
    pub(crate) fn reported_heading(&self) -> f64 {
        (self.heading + self.yaw).rem_euclid(360.0)
    }
}

/// Where a ship sailing `route` at `speed_kn` is `t_s` seconds after the start (course
/// alterations and ordered turns change its heading, never its progress along the route).
pub(crate) fn position_at(route: &[[f64; 2]], speed_kn: f64, t_s: u64) -> [f64; 2] {
    let mut m = Motion::new(route, speed_kn, Rng::derive(0, &["position"]));
    for s in 1..=t_s {
        m.step(s, None);
    }
    m.pos
}

/// A rain cell passing over the ship.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RainCell {
    pub start_s: f64,
    pub end_s: f64,
    /// Peak rate in the cell's core.
    pub peak_mm_h: f64,
    /// Seconds to reach the peak (and to fall from it).
    pub ramp_s: f64,
    /// The link whose slant path crosses the cell's core, if the cell is centred on one
    /// antenna's line of sight rather than on the ship: that link sees the core's rate,
    /// the ship (its weather station and every other antenna) only `edge` of it.
    pub core_link: Option<usize>,
    /// Share of the core's rate that falls at the ship when `core_link` is set.
    pub edge: f64,
}

impl RainCell {
    fn rate_at(&self, t: f64) -> f64 {
        if t < self.start_s || t >= self.end_s {
            return 0.0;
        }
        let up = ((t - self.start_s) / self.ramp_s).min(1.0);
        let down = ((self.end_s - t) / self.ramp_s).min(1.0);
        let x = up.min(down);
        // smoothstep
        self.peak_mm_h * x * x * (3.0 - 2.0 * x)
    }
}

/// Rain rate over one ship: light showers at random plus the cells a `rain_fade` fault
/// orders.
pub(crate) struct Weather {
    cells: Vec<RainCell>,
    next_shower_s: f64,
    gust: f64,
    /// Rain rate at the ship (what its weather station measures and what every antenna
    /// sees near the ship).
    pub rain_mm_h: f64,
    /// Extra rain along one link's slant path: `(link, mm/h)` for each cell whose core
    /// lies on that antenna's line of sight.
    pub on_path: Vec<(usize, f64)>,
    rng: Rng,
}

impl Weather {
    pub(crate) fn new(forced: Vec<RainCell>, mut rng: Rng) -> Weather {
        let next_shower_s = rng.range(300.0, 3600.0);
        Weather {
            cells: forced,
            next_shower_s,
            gust: 0.0,
            rain_mm_h: 0.0,
            on_path: Vec::new(),
            rng,
        }
    }

    pub(crate) fn step(&mut self, t_s: u64) {
        let t = t_s as f64;
        if t >= self.next_shower_s {
            // a light shower: at most a couple of dB on Ku, a few on Ka
            let len = self.rng.range(240.0, 1200.0);
            self.cells.push(RainCell {
                start_s: t,
                end_s: t + len,
                peak_mm_h: self.rng.range(0.5, 4.0),
                ramp_s: len / 3.0,
                core_link: None,
                edge: 1.0,
            });
            self.next_shower_s = t + len + self.rng.range(1200.0, 5400.0);
        }
        self.cells.retain(|c| c.end_s > t - 1.0);
        let base: f64 = self.cells.iter().map(|c| c.rate_at(t) * c.edge).sum();
        self.gust = 0.95 * self.gust + 0.05 * self.rng.normal();
        let gust = (1.0 + 0.25 * self.gust).max(0.0);
        self.rain_mm_h = if base > 0.0 { base * gust } else { 0.0 };
        self.on_path.clear();
        for c in &self.cells {
            if let Some(l) = c.core_link {
                let extra = c.rate_at(t) * (1.0 - c.edge) * gust;
                if extra > 0.0 {
                    self.on_path.push((l, extra));
                }
            }
        }
    }

    /// Rain along link `l`'s slant path: the ship's rain plus the core of any cell on
    /// that antenna's line of sight.
    pub(crate) fn rain_on_link(&self, l: usize) -> f64 {
        self.rain_mm_h
            + self
                .on_path
                .iter()
                .filter(|(i, _)| *i == l)
                .map(|(_, r)| r)
                .sum::<f64>()
    }
}
