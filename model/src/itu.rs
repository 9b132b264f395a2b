//! Rain attenuation on an Earth–space path from the ITU-R recommendations:
//!
//! - **P.838-3** (03/2005): the specific attenuation `γ_R = k R^α` (dB/km), with `k` and
//!   `α` from the recommendation's own equations (its eqs. 2–5 and the coefficients of its
//!   Tables 1–4, from which its Table 5 is computed), combined for the path's elevation
//!   and polarisation tilt (its eqs. 4–5).
//! - **P.839** rain height by latitude: the latitude approximation of P.839-2 (the
//!   0 °C isotherm `h0`, plus 0.36 km). Later revisions replace it with a map, which a
//!   ship does not carry.
//! - **P.618-13** §2.2.1.1 steps 2–9: slant path below the rain height, horizontal
//!   reduction `r`, vertical adjustment `v`, effective path `L_E`; the attenuation is
//!   `γ_R L_E`. Used here with the rain rate *now* on the path in place of `R0.01` (a
//!   nowcast rather than a statistic of the year).
//!
//! Checked in the tests against the ITU-R Study Group 3 validation examples
//! (CG-3M3J-13-ValEx, as tabulated in the ITU-Rpy test data): `k`, `α` and `γ_R` at
//! 14.25 and 29 GHz, and `A0.01` at nine sites, to 1e-6 relative. The bands' figures are
//! in docs/rain-attenuation.md.

/// Coefficients of one P.838-3 fit: `(a_j, b_j, c_j)`, `m`, `c`.
struct Fit<const N: usize> {
    a: [f64; N],
    b: [f64; N],
    c: [f64; N],
    m: f64,
    k: f64,
}

impl<const N: usize> Fit<N> {
    fn eval(&self, log_f: f64) -> f64 {
        let mut s = self.m * log_f + self.k;
        for j in 0..N {
            let x = (log_f - self.b[j]) / self.c[j];
            s += self.a[j] * (-x * x).exp();
        }
        s
    }
}

/// P.838-3 Table 1: `log10 kH`.
const KH: Fit<4> = Fit {
    a: [-5.33980, -0.35351, -0.23789, -0.94158],
    b: [-0.10008, 1.26970, 0.86036, 0.64552],
    c: [1.13098, 0.45400, 0.15354, 0.16817],
    m: -0.18961,
    k: 0.71147,
};
/// P.838-3 Table 2: `log10 kV`.
const KV: Fit<4> = Fit {
    a: [-3.80595, -3.44965, -0.39902, 0.50167],
    b: [0.56934, -0.22911, 0.73042, 1.07319],
    c: [0.81061, 0.51059, 0.11899, 0.27195],
    m: -0.16398,
    k: 0.63297,
};
/// P.838-3 Table 3: `αH`.
const AH: Fit<5> = Fit {
    a: [-0.14318, 0.29591, 0.32177, -5.37610, 16.1721],
    b: [1.82442, 0.77564, 0.63773, -0.96230, -3.29980],
    c: [-0.55187, 0.19822, 0.13164, 1.47828, 3.43990],
    m: 0.67849,
    k: -1.95537,
};
/// P.838-3 Table 4: `αV`.
const AV: Fit<5> = Fit {
    a: [-0.07771, 0.56727, -0.20238, -48.2991, 48.5833],
    b: [2.33840, 0.95545, 1.14520, 0.791669, 0.791459],
    c: [-0.76284, 0.54039, 0.26809, 0.116226, 0.116479],
    m: -0.053739,
    k: 0.83433,
};

/// Polarisation tilt of a circularly polarised wave (P.838-3: τ = 45°).
pub const TILT_CIRCULAR_DEG: f64 = 45.0;

/// P.838-3 `(k, α)` at `f_ghz` (1–1000 GHz) for a path at `elevation_deg` with
/// polarisation tilt `tilt_deg` (0 horizontal, 90 vertical, 45 circular).
pub fn rain_k_alpha(f_ghz: f64, elevation_deg: f64, tilt_deg: f64) -> (f64, f64) {
    let lf = f_ghz.log10();
    let kh = 10f64.powf(KH.eval(lf));
    let kv = 10f64.powf(KV.eval(lf));
    let (ah, av) = (AH.eval(lf), AV.eval(lf));
    let c = elevation_deg.to_radians().cos().powi(2) * (2.0 * tilt_deg).to_radians().cos();
    let k = (kh + kv + (kh - kv) * c) / 2.0;
    let alpha = (kh * ah + kv * av + (kh * ah - kv * av) * c) / (2.0 * k);
    (k, alpha)
}

/// Specific attenuation `γ_R = k R^α` (dB/km) at rain rate `rain_mm_h`.
pub fn specific_attenuation(k: f64, alpha: f64, rain_mm_h: f64) -> f64 {
    if rain_mm_h > 0.0 {
        k * rain_mm_h.powf(alpha)
    } else {
        0.0
    }
}

/// Mean rain height above sea level (km) at latitude `lat_deg`: the P.839-2 latitude
/// approximation of the 0 °C isotherm plus 0.36 km.
pub fn rain_height_km(lat_deg: f64) -> f64 {
    let h0 = if lat_deg > 23.0 {
        5.0 - 0.075 * (lat_deg - 23.0)
    } else if lat_deg >= -21.0 {
        5.0
    } else if lat_deg >= -71.0 {
        5.0 + 0.1 * (lat_deg + 21.0)
    } else {
        0.0
    };
    h0.max(0.0) + 0.36
}

/// Effective Earth radius (km), P.618 step 2.
const RE_KM: f64 = 8500.0;

/// An Earth–space path for P.618: its frequency, elevation, polarisation tilt, the
/// station's latitude and height, and the rain height.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlantPath {
    /// Frequency, GHz.
    pub f_ghz: f64,
    /// Elevation angle, degrees.
    pub elevation_deg: f64,
    /// Polarisation tilt, degrees.
    pub tilt_deg: f64,
    /// Station latitude, degrees.
    pub lat_deg: f64,
    /// Station height above sea level, km.
    pub station_km: f64,
    /// Rain height above sea level, km ([`rain_height_km`] when no better is known).
    pub rain_height_km: f64,
}

impl SlantPath {
    /// A path from a ship (at sea level) at `lat_deg` to a satellite at `elevation_deg`,
    /// with the rain height of P.839 for that latitude.
    pub fn from_ship(f_ghz: f64, elevation_deg: f64, tilt_deg: f64, lat_deg: f64) -> Self {
        Self {
            f_ghz,
            elevation_deg,
            tilt_deg,
            lat_deg,
            station_km: 0.0,
            rain_height_km: rain_height_km(lat_deg),
        }
    }

    /// P.838-3 `(k, α)` of this path.
    pub fn k_alpha(&self) -> (f64, f64) {
        rain_k_alpha(self.f_ghz, self.elevation_deg, self.tilt_deg)
    }

    /// Attenuation (dB) by rain of rate `rain_mm_h` along the path: P.618-13 §2.2.1.1
    /// steps 2–9 with that rate as `R0.01`.
    pub fn attenuation_db(&self, rain_mm_h: f64) -> f64 {
        let (k, alpha) = self.k_alpha();
        self.attenuation_with(k, alpha, rain_mm_h)
    }

    /// [`attenuation_db`](Self::attenuation_db) with `(k, α)` already known.
    pub fn attenuation_with(&self, k: f64, alpha: f64, rain_mm_h: f64) -> f64 {
        let dh = self.rain_height_km - self.station_km;
        let el = self.elevation_deg.clamp(0.5, 90.0);
        if dh <= 0.0 || rain_mm_h <= 0.0 || !rain_mm_h.is_finite() {
            return 0.0;
        }
        let th = el.to_radians();
        let (sin, cos) = th.sin_cos();
        // step 2: slant path below the rain height
        let ls = if el >= 5.0 {
            dh / sin
        } else {
            2.0 * dh / ((sin * sin + 2.0 * dh / RE_KM).sqrt() + sin)
        };
        // step 3: its horizontal projection
        let lg = ls * cos;
        // step 5: specific attenuation
        let g = specific_attenuation(k, alpha, rain_mm_h);
        let f = self.f_ghz;
        // step 6: horizontal reduction factor
        let r = 1.0 / (1.0 + 0.78 * (lg * g / f).sqrt() - 0.38 * (1.0 - (-2.0 * lg).exp()));
        // step 7: vertical adjustment factor
        let zeta = (dh / (lg * r)).atan().to_degrees();
        let lr = if zeta > el { lg * r / cos } else { dh / sin };
        let lat = self.lat_deg.abs();
        let chi = if lat < 36.0 { 36.0 - lat } else { 0.0 };
        let v = 1.0
            / (1.0
                + sin.sqrt()
                    * (31.0 * (1.0 - (-(el / (1.0 + chi))).exp()) * (lr * g).sqrt() / (f * f)
                        - 0.45));
        // steps 8–9: effective path length and attenuation
        g * lr * v
    }

    /// The rain rate (mm/h) at which the path's attenuation reaches `db`, by bisection
    /// (the attenuation grows monotonically with the rate); `None` past 500 mm/h.
    pub fn rain_for_db(&self, db: f64) -> Option<f64> {
        if db <= 0.0 || !db.is_finite() {
            return Some(0.0);
        }
        let (k, alpha) = self.k_alpha();
        self.rain_for_db_with(k, alpha, db)
    }

    /// [`SlantPath::rain_for_db`] with P.838's `(k, α)` given (cached by the caller),
    /// for `db > 0`: bisection on the monotonic attenuation up to 500 mm/h, to 1 ppm of
    /// the rate (10⁻⁵ mm/h below 10 mm/h).
    pub fn rain_for_db_with(&self, k: f64, alpha: f64, db: f64) -> Option<f64> {
        let (mut lo, mut hi) = (0.0f64, 500.0f64);
        if !db.is_finite() || self.attenuation_with(k, alpha, hi) < db {
            return None;
        }
        while hi - lo > 1e-6 * hi.max(10.0) {
            let mid = 0.5 * (lo + hi);
            if self.attenuation_with(k, alpha, mid) < db {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(hi)
    }
}

/// Typical downlink frequency (GHz) of a band: Ku 11.7, Ka 19.7, C 4.0; `None` for L
/// band and anything rain does not fade.
pub fn downlink_ghz(band: Option<&str>) -> Option<f64> {
    match band.map(str::to_ascii_lowercase).as_deref() {
        Some("ku") => Some(11.7),
        Some("ka") => Some(19.7),
        Some("c") => Some(4.0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs()
    }

    /// ITU-R SG3 validation examples (CG-3M3J-13-ValEx) for P.838-3: elevation, f,
    /// R, tilt, k, α, γ_R.
    type P838Example = (f64, f64, f64, f64, f64, f64, f64);

    const P838: [P838Example; 6] = [
        (
            31.07699124,
            14.25,
            26.48052,
            0.0,
            0.03975488,
            1.12418043,
            1.58130839,
        ),
        (
            40.232036, 14.25, 33.936232, 0.0, 0.04007624, 1.11804138, 2.06173213,
        ),
        (
            31.07699124,
            29.0,
            26.48052,
            0.0,
            0.22106804,
            0.95320005,
            5.02180189,
        ),
        (
            52.67898486,
            29.0,
            78.2994993,
            0.0,
            0.21923716,
            0.9464763,
            13.59290086,
        ),
        (
            48.24117054,
            14.25,
            63.62668149,
            90.0,
            0.04226474,
            1.07871664,
            3.72901264,
        ),
        (
            20.14335809,
            29.0,
            42.91007183,
            90.0,
            0.21298877,
            0.92265917,
            6.83364556,
        ),
    ];

    #[test]
    fn p838_matches_the_itu_validation_examples() {
        for (el, f, r, tau, k, a, g) in P838 {
            let (k2, a2) = rain_k_alpha(f, el, tau);
            assert!(close(k2, k, 1e-6), "k {k2} vs {k} at {f} GHz {el}°");
            assert!(close(a2, a, 1e-6), "α {a2} vs {a} at {f} GHz {el}°");
            let g2 = specific_attenuation(k2, a2, r);
            assert!(close(g2, g, 1e-6), "γ {g2} vs {g} at {f} GHz {el}°");
        }
    }

    /// ITU-R SG3 validation examples for P.618-13 at p = 0.01 %: lat, station height
    /// km, f, elevation, tilt, R0.01, slant path below the rain height Ls km (from which
    /// the rain height the example used follows), A0.01 dB.
    type P618Example = (f64, f64, f64, f64, f64, f64, f64, f64);

    const P618: [P618Example; 9] = [
        (
            51.5,
            0.031382984,
            14.25,
            31.07699124,
            0.0,
            26.48052,
            4.690817392,
            6.798072267,
        ),
        (
            41.9,
            0.046122988,
            14.25,
            40.232036,
            0.0,
            33.936232,
            4.646913874,
            8.223265009,
        ),
        (
            33.94,
            0.0,
            14.25,
            46.35969261,
            0.0,
            27.13586832,
            3.542006965,
            5.941806096,
        ),
        (
            51.5,
            0.031382984,
            29.0,
            31.07699124,
            0.0,
            26.48052,
            4.690817392,
            23.44444523,
        ),
        (
            22.9,
            0.0,
            14.25,
            22.27833468,
            0.0,
            50.639304,
            10.96995451,
            18.94410356,
        ),
        (
            25.78,
            0.00861728,
            29.0,
            52.67898486,
            0.0,
            78.2994993,
            5.735098894,
            58.47438336,
        ),
        (
            28.717,
            0.209383699,
            14.25,
            48.24117054,
            90.0,
            63.61888808,
            6.768266217,
            14.87213733,
        ),
        (
            3.133,
            0.051251456,
            29.0,
            85.80459566,
            90.0,
            99.15117186,
            4.91990658,
            83.37856227,
        ),
        (
            9.05,
            2.539861878,
            14.25,
            20.14335809,
            90.0,
            42.91007183,
            6.516372436,
            12.28976033,
        ),
    ];

    #[test]
    fn p618_slant_path_attenuation_matches_the_itu_validation_examples() {
        for (lat, hs, f, el, tau, r001, ls, a001) in P618 {
            let path = SlantPath {
                f_ghz: f,
                elevation_deg: el,
                tilt_deg: tau,
                lat_deg: lat,
                station_km: hs,
                rain_height_km: hs + ls * el.to_radians().sin(),
            };
            let a = path.attenuation_db(r001);
            assert!(close(a, a001, 1e-6), "A {a} vs {a001} at {lat}° {f} GHz");
            let back = path.rain_for_db(a).unwrap();
            assert!(close(back, r001, 1e-6), "inverse {back} vs {r001}");
        }
    }

    #[test]
    fn p839_rain_height_by_latitude() {
        // h0 = 5 km from 21° S to 23° N, falling 0.075 km/° to the north and 0.1 km/° to
        // the south; hR = h0 + 0.36 km
        assert!(close(rain_height_km(0.0), 5.36, 1e-12));
        assert!(close(rain_height_km(23.0), 5.36, 1e-12));
        assert!(close(rain_height_km(43.0), 3.86, 1e-12));
        assert!(close(rain_height_km(-31.0), 4.36, 1e-12));
        assert!(close(rain_height_km(-80.0), 0.36, 1e-12));
        assert!(close(rain_height_km(89.0), 0.41, 1e-9));
    }

    #[test]
    fn the_bands_order_ka_over_ku_over_c_and_dry_paths_attenuate_nothing() {
        let at = |band| {
            SlantPath::from_ship(downlink_ghz(Some(band)).unwrap(), 35.0, 45.0, 30.0)
                .attenuation_db(30.0)
        };
        let (ka, ku, c) = (at("Ka"), at("Ku"), at("C"));
        assert!(ka > 2.0 * ku && ku > 10.0 * c, "Ka {ka} Ku {ku} C {c}");
        let p = SlantPath::from_ship(11.7, 35.0, 45.0, 30.0);
        assert_eq!(p.attenuation_db(0.0), 0.0);
        assert_eq!(p.attenuation_db(f64::NAN), 0.0);
        assert!(downlink_ghz(Some("L")).is_none());
    }
}
