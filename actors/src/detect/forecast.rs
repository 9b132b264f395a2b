//! Capacity forecasting: when will a draining resource (free disk bytes) reach zero?
//!
//! A discounted (exponentially forgetting) least-squares line through `(time, value)`
//! in event time, O(1) memory and time per sample: the level and the slope it gives are
//! those of Holt's linear-trend smoothing (ETS A,A,N) fitted by discounted least squares,
//! and irregular sample intervals are handled because the forgetting is by elapsed time,
//! not by sample count. Why not augurs-ets / augurs-forecaster: decision 0007.

/// Forecaster configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastConfig {
    /// Forgetting time constant, seconds: samples older than this weigh `1/e`.
    pub tau_s: f64,
    /// No forecast before this many samples...
    pub min_samples: u32,
    /// ...spanning at least this many seconds.
    pub min_span_s: f64,
    /// Warn when the resource is forecast to run out within this many seconds.
    pub horizon_s: f64,
    /// Clear once the forecast is beyond `horizon_s · clear_factor` (hysteresis).
    pub clear_factor: f64,
}

impl Default for ForecastConfig {
    fn default() -> Self {
        ForecastConfig {
            tau_s: 1_800.0,
            min_samples: 10,
            min_span_s: 1_200.0,
            horizon_s: 6.0 * 3_600.0,
            clear_factor: 1.5,
        }
    }
}

/// A time-to-exhaustion forecaster for one series of free capacity.
#[derive(Debug, Clone)]
pub struct CapacityForecast {
    cfg: ForecastConfig,
    t0: Option<f64>,
    last_t: f64,
    n: u32,
    // Discounted sums over (t - t0, y): weights, t, t², y, t·y.
    s0: f64,
    s1: f64,
    s2: f64,
    sy: f64,
    sty: f64,
    warning: bool,
}

/// What the forecaster concludes at a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outlook {
    /// Not enough history yet.
    Unknown,
    /// Not running out within the horizon.
    Fine,
    /// Forecast to run out in this many seconds (within the horizon, or still within
    /// the clear hysteresis of an earlier warning).
    RunsOutIn(f64),
}

impl CapacityForecast {
    /// A fresh forecaster.
    pub fn new(cfg: ForecastConfig) -> Self {
        CapacityForecast {
            cfg,
            t0: None,
            last_t: 0.0,
            n: 0,
            s0: 0.0,
            s1: 0.0,
            s2: 0.0,
            sy: 0.0,
            sty: 0.0,
            warning: false,
        }
    }

    /// Level and slope (per second) of the fitted line at the last sample.
    pub fn trend(&self) -> Option<(f64, f64)> {
        let t0 = self.t0?;
        let den = self.s0 * self.s2 - self.s1 * self.s1;
        if self.s0 <= 0.0 || den.abs() <= 1e-12 * self.s0 * self.s2.max(1.0) {
            return None;
        }
        let b = (self.s0 * self.sty - self.s1 * self.sy) / den;
        let a = (self.sy - b * self.s1) / self.s0;
        Some((a + b * (self.last_t - t0), b))
    }

    /// Adds the free capacity `y` at time `t` (seconds) and returns the outlook.
    /// Out-of-order or non-finite samples are ignored (the outlook is recomputed).
    pub fn update(&mut self, t: f64, y: f64) -> Outlook {
        if t.is_finite() && y.is_finite() && (self.t0.is_none() || t >= self.last_t) {
            let t0 = *self.t0.get_or_insert(t);
            let decay = (-(t - self.last_t).max(0.0) / self.cfg.tau_s.max(1.0)).exp();
            let decay = if self.n == 0 { 1.0 } else { decay };
            let u = t - t0;
            self.s0 = self.s0 * decay + 1.0;
            self.s1 = self.s1 * decay + u;
            self.s2 = self.s2 * decay + u * u;
            self.sy = self.sy * decay + y;
            self.sty = self.sty * decay + u * y;
            self.last_t = t;
            self.n = self.n.saturating_add(1);
        }
        self.outlook()
    }

    fn outlook(&mut self) -> Outlook {
        let span = self.t0.map_or(0.0, |t0| self.last_t - t0);
        if self.n < self.cfg.min_samples || span < self.cfg.min_span_s {
            return Outlook::Unknown;
        }
        let Some((level, slope)) = self.trend() else {
            return Outlook::Unknown;
        };
        let tte = if slope < 0.0 {
            (level.max(0.0) / -slope).max(0.0)
        } else {
            f64::INFINITY
        };
        let limit = if self.warning {
            self.cfg.horizon_s * self.cfg.clear_factor
        } else {
            self.cfg.horizon_s
        };
        self.warning = tte <= limit;
        if self.warning {
            Outlook::RunsOutIn(tte)
        } else {
            Outlook::Fine
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::synth::Rng;
    use super::*;

    #[test]
    fn steady_disk_is_fine_and_filling_disk_warns_before_full() {
        let mut r = Rng::new(5);
        let mut f = CapacityForecast::new(ForecastConfig::default());
        let size = 100e9;
        let mut first_warning = None;
        for i in 0..(48 * 60) {
            let t = 1_700_000_000.0 + 60.0 * i as f64;
            // 40% free and flat with noise for a day, then a runaway log fills it in 8 h.
            let free = if i < 24 * 60 {
                0.4 * size + 0.002 * size * r.normal()
            } else {
                (0.4 * size * (1.0 - (i - 24 * 60) as f64 / (8.0 * 60.0))).max(0.0)
                    + 0.001 * size * r.uniform()
            };
            let o = f.update(t, free);
            if i < 24 * 60 {
                assert!(
                    !matches!(o, Outlook::RunsOutIn(_)),
                    "false warning at minute {i}: {o:?}"
                );
            } else if first_warning.is_none() {
                if let Outlook::RunsOutIn(tte) = o {
                    first_warning = Some((i - 24 * 60, tte));
                }
            }
        }
        let (at, tte) = first_warning.expect("no warning");
        // Full at minute 480 of the ramp: warned with hours to spare, and the estimate
        // is the right order.
        assert!(at < 240, "warned only {at} min into the ramp");
        assert!(tte > 3_600.0 && tte < 8.0 * 3_600.0, "tte {tte}");
    }

    #[test]
    fn warning_clears_after_cleanup_and_bad_input_is_ignored() {
        let mut f = CapacityForecast::new(ForecastConfig::default());
        let mut t = 0.0;
        for i in 0..120 {
            t = 60.0 * i as f64;
            f.update(t, 1e9 - 1e5 * t);
        }
        assert!(matches!(f.update(t + 1.0, f64::NAN), Outlook::RunsOutIn(_)));
        f.update(t - 100.0, 0.0); // out of order: ignored
        let mut last = Outlook::Unknown;
        for i in 1..400 {
            last = f.update(t + 60.0 * i as f64, 9e9);
        }
        assert_eq!(last, Outlook::Fine);
    }
}
