//! Sky geometry shared by the link simulator and the link actor's outage predictor: a
//! GEO satellite's look angles from a ship, the sun's position (a standard low-precision
//! ephemeris), angular separations, relative bearings and blockage sectors.
//!
//! Pure functions over plain numbers, so the simulator's physics and the predictor's
//! model are the same equations (the predictor still sees only telemetry and inventory).
//!
//! Sources:
//! - Sun: J. Meeus, *Astronomical Algorithms* (2nd ed., 1998), ch. 25 "low accuracy"
//!   solar coordinates (the equations of the NOAA Solar Calculator), accurate to ~0.01°;
//!   sidereal time from Meeus eq. 12.4.
//! - GEO look angles: spherical Earth (R = 6378.137 km) and the GEO radius 42,164 km,
//!   as in Pratt, Bostian & Allnutt, *Satellite Communications*, §2.
//! - Antenna half-power beamwidth ≈ 70 λ / D degrees (same text, §4).

/// Earth equatorial radius, km.
pub const EARTH_RADIUS_KM: f64 = 6378.137;
/// GEO orbit radius, km.
pub const GEO_RADIUS_KM: f64 = 42_164.17;
/// Apparent radius of the sun's disk, degrees.
pub const SUN_RADIUS_DEG: f64 = 0.267;

/// A direction in the local horizon frame: azimuth (degrees true, clockwise from north)
/// and elevation (degrees above the horizon).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LookAngles {
    /// Azimuth, degrees true in `[0, 360)`.
    pub az_deg: f64,
    /// Elevation, degrees.
    pub el_deg: f64,
}

/// Look angles of a GEO satellite at longitude `sat_lon` (degrees east) from a ship at
/// `lat`, `lon` (degrees).
pub fn geo_look(lat: f64, lon: f64, sat_lon: f64) -> LookAngles {
    let (phi, lam, ls) = (lat.to_radians(), lon.to_radians(), sat_lon.to_radians());
    let ship = [
        EARTH_RADIUS_KM * phi.cos() * lam.cos(),
        EARTH_RADIUS_KM * phi.cos() * lam.sin(),
        EARTH_RADIUS_KM * phi.sin(),
    ];
    let d = [
        GEO_RADIUS_KM * ls.cos() - ship[0],
        GEO_RADIUS_KM * ls.sin() - ship[1],
        -ship[2],
    ];
    let e = -lam.sin() * d[0] + lam.cos() * d[1];
    let n = -phi.sin() * lam.cos() * d[0] - phi.sin() * lam.sin() * d[1] + phi.cos() * d[2];
    let u = phi.cos() * lam.cos() * d[0] + phi.cos() * lam.sin() * d[1] + phi.sin() * d[2];
    LookAngles {
        az_deg: e.atan2(n).to_degrees().rem_euclid(360.0),
        el_deg: u.atan2(e.hypot(n)).to_degrees(),
    }
}

/// Julian day of a unix time in ms.
pub fn julian_day(unix_ms: i64) -> f64 {
    unix_ms as f64 / 86_400_000.0 + 2_440_587.5
}

/// The sun's apparent right ascension and declination (degrees) at Julian day `jd`
/// (Meeus ch. 25, low accuracy).
pub fn sun_ra_dec(jd: f64) -> (f64, f64) {
    let t = (jd - 2_451_545.0) / 36_525.0;
    let l0 = 280.46646 + t * (36000.76983 + 0.0003032 * t);
    let m = (357.52911 + t * (35999.05029 - 0.0001537 * t)).to_radians();
    let c = m.sin() * (1.914602 - t * (0.004817 + 0.000014 * t))
        + (2.0 * m).sin() * (0.019993 - 0.000101 * t)
        + (3.0 * m).sin() * 0.000289;
    let omega = (125.04 - 1934.136 * t).to_radians();
    let lambda = (l0 + c - 0.00569 - 0.00478 * omega.sin()).to_radians();
    let eps0 = 23.0 + (26.0 + (21.448 - t * (46.815 + t * (0.00059 - t * 0.001813))) / 60.0) / 60.0;
    let eps = (eps0 + 0.00256 * omega.cos()).to_radians();
    let ra = (eps.cos() * lambda.sin()).atan2(lambda.cos());
    let dec = (eps.sin() * lambda.sin()).asin();
    (ra.to_degrees().rem_euclid(360.0), dec.to_degrees())
}

/// Greenwich mean sidereal time (degrees) at Julian day `jd` (Meeus eq. 12.4).
pub fn gmst_deg(jd: f64) -> f64 {
    let d = jd - 2_451_545.0;
    let t = d / 36_525.0;
    (280.460_618_37 + 360.985_647_366_29 * d + 0.000_387_933 * t * t - t * t * t / 38_710_000.0)
        .rem_euclid(360.0)
}

/// The sun's look angles from `lat`, `lon` at `unix_ms`.
pub fn sun_look(unix_ms: i64, lat: f64, lon: f64) -> LookAngles {
    let jd = julian_day(unix_ms);
    let (ra, dec) = sun_ra_dec(jd);
    let h = (gmst_deg(jd) + lon - ra).to_radians();
    let (phi, dec) = (lat.to_radians(), dec.to_radians());
    let e = -dec.cos() * h.sin();
    let n = phi.cos() * dec.sin() - phi.sin() * dec.cos() * h.cos();
    let u = phi.sin() * dec.sin() + phi.cos() * dec.cos() * h.cos();
    LookAngles {
        az_deg: e.atan2(n).to_degrees().rem_euclid(360.0),
        el_deg: u.atan2(e.hypot(n)).to_degrees(),
    }
}

/// Great-circle angle (degrees) between two directions.
pub fn separation_deg(a: LookAngles, b: LookAngles) -> f64 {
    let (a1, e1, a2, e2) = (
        a.az_deg.to_radians(),
        a.el_deg.to_radians(),
        b.az_deg.to_radians(),
        b.el_deg.to_radians(),
    );
    let c = e1.sin() * e2.sin() + e1.cos() * e2.cos() * (a1 - a2).cos();
    // haversine-safe for small angles
    let s = ((e2 - e1) / 2.0).sin().powi(2) + e1.cos() * e2.cos() * ((a2 - a1) / 2.0).sin().powi(2);
    if c > 0.99 {
        (2.0 * s.sqrt().min(1.0).asin()).to_degrees()
    } else {
        c.clamp(-1.0, 1.0).acos().to_degrees()
    }
}

/// Half-power beamwidth (degrees) of a marine antenna of a band ("Ku", "Ka", "C"):
/// 70 λ / D with the typical downlink frequency and dish of the band (Ku 11.7 GHz on a
/// 1.0 m dish, Ka 19.7 GHz on 0.6 m, C 4.0 GHz on 2.4 m; EST).
pub fn beamwidth_deg(band: Option<&str>) -> f64 {
    let (ghz, dish_m) = match band.map(str::to_ascii_lowercase).as_deref() {
        Some("ka") => (19.7, 0.6),
        Some("c") => (4.0, 2.4),
        _ => (11.7, 1.0),
    };
    70.0 * (0.299_792_458 / ghz) / dish_m
}

/// Separation (degrees) below which the sun is in the antenna's beam: half the
/// beamwidth plus the sun's radius.
pub fn sun_outage_threshold_deg(band: Option<&str>) -> f64 {
    beamwidth_deg(band) / 2.0 + SUN_RADIUS_DEG
}

/// Es/No lost (dB) to solar noise with the sun `sep_deg` from the boresight of an
/// antenna of beamwidth `beam_deg`: the sun's noise temperature, diluted by the disk's
/// share of the beam and weighted by a Gaussian beam pattern convolved with the disk,
/// over the system noise temperature. `peak_ratio` is ΔT/T_sys with the sun centred
/// (EST 40 for Ku/Ka marine terminals: ~16 dB, enough to lose lock; C ~10).
pub fn sun_noise_db(sep_deg: f64, beam_deg: f64, peak_ratio: f64) -> f64 {
    let w2 = beam_deg * beam_deg + (2.0 * SUN_RADIUS_DEG).powi(2);
    let g = (-4.0 * std::f64::consts::LN_2 * sep_deg * sep_deg / w2).exp();
    10.0 * (1.0 + peak_ratio * g).log10()
}

/// Peak ΔT/T_sys of [`sun_noise_db`] for a band (EST).
pub fn sun_peak_ratio(band: Option<&str>) -> f64 {
    match band.map(str::to_ascii_lowercase).as_deref() {
        Some("c") => 9.0,
        _ => 40.0,
    }
}

/// Separation (degrees) inside which solar noise exceeds `margin_db`, or `None` if it
/// never does.
pub fn sun_separation_for_loss(margin_db: f64, beam_deg: f64, peak_ratio: f64) -> Option<f64> {
    let need = 10f64.powf(margin_db / 10.0) - 1.0;
    if margin_db <= 0.0 {
        return Some(f64::INFINITY);
    }
    let g = need / peak_ratio;
    if g >= 1.0 {
        return None;
    }
    let w2 = beam_deg * beam_deg + (2.0 * SUN_RADIUS_DEG).powi(2);
    Some((-g.ln() * w2 / (4.0 * std::f64::consts::LN_2)).sqrt())
}

/// The first window within `[from_ms, to_ms]` during which the sun is closer than
/// `sep_deg` to the fixed direction `sat` seen from `lat`, `lon`: `(start, end)` unix ms
/// to the second (`end` may be `to_ms` if the window runs past it). Scans at 20 s (the
/// sun moves ~0.08° in that time) and bisects the edges.
pub fn sun_window(
    sat: LookAngles,
    lat: f64,
    lon: f64,
    from_ms: i64,
    to_ms: i64,
    sep_deg: f64,
) -> Option<(i64, i64)> {
    const STEP_MS: i64 = 20_000;
    let inside = |t: i64| separation_deg(sun_look(t, lat, lon), sat) < sep_deg;
    let edge = |mut out: i64, mut inn: i64| {
        while (out - inn).abs() > 1000 {
            let mid = out + (inn - out) / 2;
            if inside(mid) {
                inn = mid;
            } else {
                out = mid;
            }
        }
        inn
    };
    let mut t = from_ms;
    let mut prev_in = inside(t);
    let start = if prev_in {
        from_ms
    } else {
        loop {
            let next = (t + STEP_MS).min(to_ms);
            if next <= t {
                return None;
            }
            if inside(next) {
                break edge(t, next);
            }
            t = next;
        }
    };
    t = start;
    prev_in = true;
    while prev_in {
        let next = (t + STEP_MS).min(to_ms);
        if next <= t {
            return Some((start, to_ms));
        }
        if !inside(next) {
            return Some((start, edge(next, t)));
        }
        t = next;
        prev_in = true;
    }
    None
}

/// Bearing of a target at true azimuth `az` relative to the bow of a ship heading
/// `heading` (degrees), in `[0, 360)`.
pub fn relative_bearing(az: f64, heading: f64) -> f64 {
    (az - heading).rem_euclid(360.0)
}

/// Whether relative bearing `rel` lies in the sector from `from` clockwise to `to`
/// (degrees; a sector may wrap through 0).
pub fn in_sector(rel: f64, from: f64, to: f64) -> bool {
    let rel = rel.rem_euclid(360.0);
    let (from, to) = (from.rem_euclid(360.0), to.rem_euclid(360.0));
    if from <= to {
        rel > from && rel < to
    } else {
        rel > from || rel < to
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geo_look_angles_match_the_closed_form() {
        // Pratt/Bostian closed form for a ship on the northern hemisphere:
        // el = atan((cos G cos L − Re/r) / sqrt(1 − cos²G cos²L)),
        // az = 180° − atan(tan G / sin L) for a satellite west of the ship (G = lon − sat_lon).
        let (lat, lon, sat) = (25.77f64, -80.19f64, -97.0f64);
        let got = geo_look(lat, lon, sat);
        let (g, l) = ((lon - sat).to_radians(), lat.to_radians());
        let cc = g.cos() * l.cos();
        let el = ((cc - EARTH_RADIUS_KM / GEO_RADIUS_KM) / (1.0 - cc * cc).sqrt())
            .atan()
            .to_degrees();
        let az = 180.0 + (g.tan() / l.sin()).atan().to_degrees();
        assert!((got.el_deg - el).abs() < 0.01, "{got:?} vs el {el}");
        assert!((got.az_deg - az).abs() < 0.01, "{got:?} vs az {az}");
        // Miami → 97° W: about 215° true, 54.5° up
        assert!((214.0..216.0).contains(&got.az_deg) && (53.0..56.0).contains(&got.el_deg));
        // due south on the satellite's meridian, at the zenith on the equator
        let south = geo_look(40.0, 10.0, 10.0);
        assert!((south.az_deg - 180.0).abs() < 1e-6);
        assert!((geo_look(0.0, 10.0, 10.0).el_deg - 90.0).abs() < 1e-6);
    }

    #[test]
    fn sun_matches_meeus_example_25a() {
        // Meeus, Astronomical Algorithms, example 25.a: 1992 Oct 13.0 TD (JD 2448908.5):
        // apparent RA 13h13m31.4s = 198.3808°, declination −7°47′06″ = −7.7850°.
        let (ra, dec) = sun_ra_dec(2_448_908.5);
        assert!((ra - 198.3808).abs() < 0.01, "ra {ra}");
        assert!((dec + 7.7850).abs() < 0.01, "dec {dec}");
    }

    #[test]
    fn a_spring_sun_outage_falls_where_the_declinations_meet() {
        // Ship at 25° N on the satellite's meridian (80° W). Independent check: the
        // satellite's topocentric declination is −atan(Re sin φ / (r − Re cos φ)) =
        // −4.24°; the 2025 March equinox was Mar 20 09:01 UTC and the sun's declination
        // moves ≈ 0.392°/day near it (sin ε · 0.9856°/day), so the conjunction falls
        // 10.8 days earlier, at local noon on Mar 9 or 10 (≈ 17:20 UTC at 80° W).
        let (lat, lon) = (25.0f64, -80.0f64);
        let sat = geo_look(lat, lon, -80.0);
        let phi = lat.to_radians();
        let dec_sat = -(EARTH_RADIUS_KM * phi.sin()
            / (GEO_RADIUS_KM - EARTH_RADIUS_KM * phi.cos()))
        .atan()
        .to_degrees();
        assert!((dec_sat + 4.24).abs() < 0.01, "{dec_sat}");
        let equinox_ms = 1_742_461_260_000; // 2025-03-20T09:01:00Z
        let centre_ms = equinox_ms + (dec_sat / 0.392 * 86_400_000.0) as i64;
        let thr = sun_outage_threshold_deg(Some("Ku"));
        let day_ms = 86_400_000;
        let mar1 = 1_740_787_200_000; // 2025-03-01T00:00:00Z
        let mut best: Option<(i64, (i64, i64))> = None;
        for d in 0..19 {
            let from = mar1 + d * day_ms + 15 * 3_600_000;
            if let Some(w) = sun_window(sat, lat, lon, from, from + 5 * 3_600_000, thr) {
                if best.is_none_or(|(_, b)| w.1 - w.0 > b.1 - b.0) {
                    best = Some((d + 1, w));
                }
            }
        }
        let (day, (start, end)) = best.expect("a window in early March");
        let mid = (start + end) / 2;
        assert!((mid - centre_ms).abs() < day_ms, "mid {mid} vs {centre_ms}");
        assert!(day == 9 || day == 10, "March {day}");
        // local apparent noon at 80° W: 17:20 UTC ± the equation of time (−10 min)
        let utc_min = (mid.rem_euclid(day_ms)) as f64 / 60_000.0;
        assert!(
            (utc_min - (17.0 * 60.0 + 30.0)).abs() < 8.0,
            "mid at {utc_min} min UTC"
        );
        // duration: a near-central pass of a 2.3° cone at 0.25°/min ≈ 9 min (domain.md ≤ 12)
        let minutes = (end - start) as f64 / 60_000.0;
        assert!((6.0..12.0).contains(&minutes), "{minutes} min");
    }

    #[test]
    fn relative_bearing_wraps_at_north() {
        assert!((relative_bearing(10.0, 350.0) - 20.0).abs() < 1e-9);
        assert!((relative_bearing(350.0, 10.0) - 340.0).abs() < 1e-9);
        assert!(relative_bearing(0.0, 0.0).abs() < 1e-9);
        assert!(in_sector(5.0, 340.0, 20.0) && in_sector(355.0, 340.0, 20.0));
        assert!(!in_sector(25.0, 340.0, 20.0) && !in_sector(180.0, 340.0, 20.0));
        assert!(in_sector(180.0, 150.0, 210.0) && !in_sector(140.0, 150.0, 210.0));
    }

    #[test]
    fn solar_noise_loses_lock_inside_the_outage_threshold() {
        let beam = beamwidth_deg(Some("Ku"));
        assert!((1.7..1.9).contains(&beam), "{beam}");
        let thr = sun_outage_threshold_deg(Some("Ku"));
        let lose = sun_separation_for_loss(13.5, beam, sun_peak_ratio(Some("Ku"))).unwrap();
        assert!(lose < thr && lose > 0.5, "{lose} vs {thr}");
        let at = sun_noise_db(lose, beam, sun_peak_ratio(Some("Ku")));
        assert!((at - 13.5).abs() < 1e-6, "{at}");
        assert!(sun_noise_db(5.0, beam, 40.0) < 0.01);
    }
}
