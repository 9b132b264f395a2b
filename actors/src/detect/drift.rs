//! Page-Hinkley drift detection on standardised values.

use super::Detector;

/// Two-sided Page-Hinkley test. The first `calibration` samples after a (re)start give a
/// mean and deviation; afterwards the cumulative standardised deviation beyond `delta`
/// is tracked both ways and drift is reported when it exceeds `lambda`. After reporting,
/// the test recalibrates on the new regime rather than alerting forever.
#[derive(Debug, Clone)]
pub struct PageHinkley {
    calibration: usize,
    delta: f64,
    lambda: f64,
    n: usize,
    mean: f64,
    m2: f64,
    up: f64,
    up_min: f64,
    down: f64,
    down_min: f64,
    drift: bool,
}

impl PageHinkley {
    /// Calibrates on `calibration` samples; tolerance `delta` and threshold `lambda` are
    /// in units of the calibrated standard deviation.
    pub fn new(calibration: usize, delta: f64, lambda: f64) -> Self {
        PageHinkley {
            calibration: calibration.max(2),
            delta,
            lambda,
            n: 0,
            mean: 0.0,
            m2: 0.0,
            up: 0.0,
            up_min: 0.0,
            down: 0.0,
            down_min: 0.0,
            drift: false,
        }
    }

    /// Whether the last sample completed a drift detection.
    pub fn drifted(&self) -> bool {
        self.drift
    }
}

impl Detector for PageHinkley {
    /// Returns the test statistic over `lambda` (drift at 1), `None` while calibrating.
    fn update(&mut self, _t: f64, x: f64) -> Option<f64> {
        self.drift = false;
        if self.n < self.calibration {
            self.n += 1;
            let d = x - self.mean;
            self.mean += d / self.n as f64;
            self.m2 += d * (x - self.mean);
            return None;
        }
        let sd = (self.m2 / (self.n - 1) as f64)
            .sqrt()
            .max(1e-6 * (1.0 + self.mean.abs()));
        let u = ((x - self.mean) / sd).clamp(-10.0, 10.0);
        self.up += u - self.delta;
        self.up_min = self.up_min.min(self.up);
        self.down += -u - self.delta;
        self.down_min = self.down_min.min(self.down);
        let stat = (self.up - self.up_min).max(self.down - self.down_min) / self.lambda;
        if stat >= 1.0 {
            self.drift = true;
            self.reset();
            self.drift = true;
        }
        Some(stat)
    }

    fn reset(&mut self) {
        *self = PageHinkley::new(self.calibration, self.delta, self.lambda);
    }
}

#[cfg(test)]
mod tests {
    use super::super::synth::series;
    use super::*;

    #[test]
    fn detects_drift_once_then_recalibrates() {
        let mut d = PageHinkley::new(100, 0.5, 30.0);
        let mut drifts = 0;
        for &(t, x) in &series(2000, 0.0, 1.0, 0.0, 21) {
            d.update(t, x);
            drifts += d.drifted() as usize;
        }
        assert_eq!(drifts, 0, "clean series");
        // Slow upward drift of 0.01 sigma per sample, then a plateau.
        let mut at = Vec::new();
        for (i, &(t, x)) in series(3000, 0.0, 1.0, 0.0, 22).iter().enumerate() {
            let level = 0.01 * i.min(500) as f64;
            d.update(t, x + level);
            if d.drifted() {
                at.push(i);
            }
        }
        assert!(!at.is_empty() && at[0] < 500, "drift found: {at:?}");
        assert!(at.iter().all(|&i| i < 700), "no alerts forever: {at:?}");
    }
}
