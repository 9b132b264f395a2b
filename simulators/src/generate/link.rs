//! Satellite/cellular link physics: Es/No from clear-sky margin, rain, blockage and faults;
//! DVB-S2 ACM MODCOD selection; demodulator lock with hysteresis and re-acquisition.

use super::rng::Rng;
use crate::scenario::{Band, Link, LinkKind};

/// DVB-S2 MODCODs and their ideal Es/No (dB), ETSI EN 302 307 (domain.md §2).
pub(crate) const MODCODS: [(&str, f64); 28] = [
    ("QPSK 1/4", -2.35),
    ("QPSK 1/3", -1.24),
    ("QPSK 2/5", -0.30),
    ("QPSK 1/2", 1.00),
    ("QPSK 3/5", 2.23),
    ("QPSK 2/3", 3.10),
    ("QPSK 3/4", 4.03),
    ("QPSK 4/5", 4.68),
    ("QPSK 5/6", 5.18),
    ("8PSK 3/5", 5.50),
    ("QPSK 8/9", 6.20),
    ("QPSK 9/10", 6.42),
    ("8PSK 2/3", 6.62),
    ("8PSK 3/4", 7.91),
    ("16APSK 2/3", 8.97),
    ("8PSK 5/6", 9.35),
    ("16APSK 3/4", 10.21),
    ("8PSK 8/9", 10.69),
    ("8PSK 9/10", 10.98),
    ("16APSK 4/5", 11.03),
    ("16APSK 5/6", 11.61),
    ("32APSK 3/4", 12.73),
    ("16APSK 8/9", 12.89),
    ("16APSK 9/10", 13.13),
    ("32APSK 4/5", 13.64),
    ("32APSK 5/6", 14.28),
    ("32APSK 8/9", 15.69),
    ("32APSK 9/10", 16.05),
];

/// ACM margin above the ideal threshold (Comtech: configurable 0–4.5 dB).
const ACM_MARGIN_DB: f64 = 1.0;
/// ACM hysteresis (Comtech CDM-840: 0.3 dB).
const ACM_HYSTERESIS_DB: f64 = 0.3;
/// Lock is lost near −2 dB and regained about 1 dB higher (domain.md §2).
const LOCK_LOST_DB: f64 = -2.0;
const LOCK_REGAINED_DB: f64 = -1.0;
/// Half width of an antenna's blockage zone, degrees of relative bearing.
pub(crate) const BLOCK_HALF_WIDTH_DEG: f64 = 30.0;

/// ITU-R P.838-style specific attenuation `k R^alpha` (dB/km) times an effective path (km).
pub(crate) fn rain_attenuation_db(band: Option<Band>, kind: LinkKind, rain_mm_h: f64) -> f64 {
    if rain_mm_h <= 0.0 {
        return 0.0;
    }
    let (k, alpha, path_km) = match (band, kind) {
        (Some(Band::Ka), _) => (0.187, 1.021, 3.0),
        (Some(Band::Ku), LinkKind::Leo) => (0.0188, 1.217, 3.0),
        (Some(Band::Ku), _) => (0.0188, 1.217, 4.0),
        (Some(Band::C), _) => (0.00155, 1.265, 4.0),
        _ => return 0.0,
    };
    k * rain_mm_h.powf(alpha) * path_km
}

/// The rain rate (mm/h) at which [`rain_attenuation_db`] reaches `db`, or `None` for a
/// link rain does not fade (terrestrial radios).
pub(crate) fn rain_for_attenuation(band: Option<Band>, kind: LinkKind, db: f64) -> Option<f64> {
    let one = rain_attenuation_db(band, kind, 1.0);
    let ten = rain_attenuation_db(band, kind, 10.0);
    if one <= 0.0 || db <= 0.0 {
        return None;
    }
    // A = c R^alpha: alpha from two points, then invert
    let alpha = (ten / one).log10();
    Some((db / one).powf(1.0 / alpha))
}

/// Clear-sky Es/No (dB) of a link technology before the per-link spread.
pub(crate) fn clear_sky_esno(kind: LinkKind, band: Option<Band>) -> f64 {
    match (kind, band) {
        (LinkKind::Vsat, Some(Band::Ka)) => 13.0,
        (LinkKind::Vsat, Some(Band::C)) => 9.5,
        (LinkKind::Vsat, _) => 11.5,
        (LinkKind::Leo, _) => 12.5,
        (LinkKind::Lte, _) => 14.0,
        (LinkKind::PortWifi, _) => 20.0,
    }
}

/// Rain fade (dB) that takes a link of this technology just out of lock.
pub(crate) fn lock_margin_db(kind: LinkKind, band: Option<Band>) -> f64 {
    clear_sky_esno(kind, band) - LOCK_LOST_DB
}

/// What a link step observed that the modem (or firewall) logs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum LinkEvent {
    LockLost { esno: f64 },
    LockRegained { esno: f64, modcod: u8 },
    Modcod { from: u8, to: u8, esno: f64 },
    TxMute { on: bool, rel_az: f64 },
}

/// Fault-driven conditions on one link for the current second.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LinkFaults {
    pub outage: bool,
    pub degraded: bool,
    /// During `flapping`: whether the carrier is currently dropped.
    pub flap_down: bool,
}

/// Runtime state of one link.
pub(crate) struct LinkSim {
    pub id: String,
    pub kind: LinkKind,
    pub band: Option<Band>,
    /// Satellite azimuth (true) for steered antennas.
    pub sat_az: f64,
    /// Satellite elevation, degrees, when known (given, or from the GEO slot).
    pub sat_el: Option<f64>,
    /// GEO slot longitude: the look angles follow the ship's position.
    pub sat_lon: Option<f64>,
    /// Solar noise (dB of Es/No) for the coming step, set by the ship.
    pub sun_att: f64,
    /// Blockage sectors `(from, to)` in degrees relative to the bow (the mast astern,
    /// 150–210, unless the inventory gives the surveyed ones).
    zones: Vec<(f64, f64)>,
    /// Modem device serving this link, if the inventory has one.
    pub modem: Option<usize>,
    base_esno: f64,
    noise: f64,
    block_att: f64,
    fault_att: f64,
    pub esno: f64,
    pub locked: bool,
    pub modcod: u8,
    reacquire_at_s: Option<u64>,
    pub blocked: bool,
    /// Fault conditions for the coming step, set by the ship.
    pub pending_faults: LinkFaults,
    pub rng: Rng,
}

impl LinkSim {
    pub(crate) fn new(link: &Link, modem: Option<usize>, sat_az: f64, mut rng: Rng) -> LinkSim {
        let band = link.effective_band();
        let base_esno = clear_sky_esno(link.kind, band) + rng.range(-0.5, 0.5);
        let mut l = LinkSim {
            id: link.id.clone(),
            kind: link.kind,
            band,
            sat_az,
            sat_el: link.elevation_deg.filter(|_| link.azimuth_deg.is_some()),
            sat_lon: link.sat_lon.filter(|_| link.azimuth_deg.is_none()),
            sun_att: 0.0,
            zones: if link.blockage_zones.is_empty() {
                vec![(180.0 - BLOCK_HALF_WIDTH_DEG, 180.0 + BLOCK_HALF_WIDTH_DEG)]
            } else {
                link.blockage_zones.iter().map(|z| (z[0], z[1])).collect()
            },
            modem,
            base_esno,
            noise: 0.0,
            block_att: 0.0,
            fault_att: 0.0,
            esno: base_esno,
            locked: true,
            modcod: 0,
            reacquire_at_s: None,
            blocked: false,
            pending_faults: LinkFaults::default(),
            rng,
        };
        l.modcod = best_modcod(l.esno);
        l
    }

    /// Whether the satellite, at `rel` degrees from the bow, lies in a blockage sector.
    pub(crate) fn in_zone(&self, rel: f64) -> bool {
        self.zones.iter().any(|&(from, to)| {
            if from <= to {
                rel > from && rel < to
            } else {
                rel > from || rel < to
            }
        })
    }

    /// Centre (degrees from the bow) and half width of the first blockage sector.
    pub(crate) fn first_zone(&self) -> (f64, f64) {
        let (from, to) = self.zones[0];
        let width = (to - from).rem_euclid(360.0);
        ((from + width / 2.0).rem_euclid(360.0), width / 2.0)
    }

    /// Es/No lost to the sun at `sun` (look angles) with the satellite at elevation `el`
    /// and the link's azimuth (`seawatch_model::sky`: the predictor's own equations).
    pub(crate) fn solar_noise_db(&self, sun: seawatch_model::sky::LookAngles, el: f64) -> f64 {
        use seawatch_model::sky;
        if sun.el_deg < -1.0 {
            return 0.0;
        }
        let sat = sky::LookAngles {
            az_deg: self.sat_az,
            el_deg: el,
        };
        let sep = sky::separation_deg(sun, sat);
        if sep > 5.0 {
            return 0.0;
        }
        let band = self.band.map(|b| match b {
            Band::Ka => "Ka",
            Band::Ku => "Ku",
            Band::C => "C",
            Band::L => "L",
        });
        sky::sun_noise_db(sep, sky::beamwidth_deg(band), sky::sun_peak_ratio(band))
    }

    /// Whether the link carries traffic through a terrestrial radio only near port.
    fn in_coverage(&self, port_nm: f64) -> bool {
        match self.kind {
            LinkKind::Lte => port_nm < 12.0,
            LinkKind::PortWifi => port_nm < 1.0,
            LinkKind::Vsat | LinkKind::Leo => true,
        }
    }

    /// Advances one second and reports what changed.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn step(
        &mut self,
        t_s: u64,
        heading: f64,
        rain_mm_h: f64,
        port_nm: f64,
        modem_up: bool,
        faults: LinkFaults,
        events: &mut Vec<LinkEvent>,
    ) {
        self.noise = 0.92 * self.noise + 0.08 * self.rng.normal();
        let mut esno = self.base_esno + 0.5 * self.noise;
        esno -= rain_attenuation_db(self.band, self.kind, rain_mm_h);
        if self.kind == LinkKind::Vsat {
            esno -= self.sun_att;
        }
        if self.kind == LinkKind::Leo && t_s.is_multiple_of(15) {
            // Starlink's 15 s reconfiguration: a short dip as the beam is reassigned
            esno -= self.rng.range(0.5, 2.0);
        }
        if !self.in_coverage(port_nm) {
            esno = -8.0 + self.rng.normal() * 0.5;
        }
        // blockage: the ACU mutes TX and the mast shadows the dish within seconds
        if self.kind == LinkKind::Vsat {
            let rel = (self.sat_az - heading).rem_euclid(360.0);
            let blocked = self.in_zone(rel);
            if blocked != self.blocked {
                self.blocked = blocked;
                events.push(LinkEvent::TxMute {
                    on: blocked,
                    rel_az: rel,
                });
            }
            let target = if blocked { 22.0 } else { 0.0 };
            self.block_att += (target - self.block_att) * 0.6;
            esno -= self.block_att;
        }
        let fault_target = if faults.outage || faults.flap_down {
            25.0
        } else if faults.degraded {
            5.0
        } else {
            0.0
        };
        self.fault_att += (fault_target - self.fault_att) * 0.7;
        esno -= self.fault_att;
        if !modem_up {
            esno = -10.0;
        }
        self.esno = esno.max(-12.0);

        // demodulator lock with hysteresis and re-acquisition delay
        if self.locked {
            if self.esno < LOCK_LOST_DB {
                self.locked = false;
                self.reacquire_at_s = None;
                events.push(LinkEvent::LockLost { esno: self.esno });
            }
        } else if self.esno > LOCK_REGAINED_DB {
            let at = *self.reacquire_at_s.get_or_insert_with(|| {
                let delay = match self.kind {
                    LinkKind::Vsat => 8 + self.rng.below(20),
                    _ => 2 + self.rng.below(5),
                };
                t_s + u64::from(delay)
            });
            if t_s >= at {
                self.locked = true;
                self.reacquire_at_s = None;
                self.modcod = best_modcod(self.esno);
                events.push(LinkEvent::LockRegained {
                    esno: self.esno,
                    modcod: self.modcod,
                });
            }
        } else {
            self.reacquire_at_s = None;
        }

        // ACM for DVB-S2 satellite links
        if self.locked && matches!(self.kind, LinkKind::Vsat) {
            let cur = self.modcod as usize;
            let mut next = cur;
            while next > 0 && self.esno < MODCODS[next].1 + ACM_MARGIN_DB {
                next -= 1;
            }
            if next == cur {
                while next + 1 < MODCODS.len()
                    && self.esno >= MODCODS[next + 1].1 + ACM_MARGIN_DB + ACM_HYSTERESIS_DB
                {
                    next += 1;
                }
            }
            if next != cur {
                events.push(LinkEvent::Modcod {
                    from: cur as u8,
                    to: next as u8,
                    esno: self.esno,
                });
                self.modcod = next as u8;
            }
        }
    }

    /// Post-FEC bit error rate: ~0 with margin, steep near the threshold.
    pub(crate) fn ber(&mut self) -> f64 {
        if !self.locked {
            return 0.5;
        }
        let margin = self.esno - MODCODS[self.modcod as usize].1;
        let exponent = (3.0 + 2.5 * margin).clamp(2.0, 11.0);
        10f64.powf(-exponent) * self.rng.range(0.5, 2.0)
    }

    /// Received level, dBm (reported in the −25 to −55 window while locked).
    pub(crate) fn rx_power_dbm(&mut self) -> f64 {
        let rx = -38.0 - (self.base_esno - self.esno) + self.rng.normal() * 0.3;
        if self.locked {
            rx.clamp(-55.0, -25.0)
        } else {
            rx.clamp(-75.0, -25.0)
        }
    }
}

fn best_modcod(esno: f64) -> u8 {
    let mut best = 0;
    for (i, (_, thr)) in MODCODS.iter().enumerate() {
        if esno >= thr + ACM_MARGIN_DB {
            best = i;
        }
    }
    best as u8
}
