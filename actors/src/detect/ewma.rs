//! Exponentially weighted mean and variance: z-score of each sample.

use super::Detector;

/// EWMA z-score: `|x - mean| / std` with exponentially weighted mean and variance.
#[derive(Debug, Clone)]
pub struct Ewma {
    alpha: f64,
    warmup: usize,
    n: usize,
    mean: f64,
    var: f64,
}

impl Ewma {
    /// `alpha` is the smoothing weight of a new sample; no scores before `warmup` samples.
    pub fn new(alpha: f64, warmup: usize) -> Self {
        Ewma {
            alpha,
            warmup: warmup.max(2),
            n: 0,
            mean: 0.0,
            var: 0.0,
        }
    }

    /// Current mean.
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// Current standard deviation.
    pub fn std(&self) -> f64 {
        self.var.max(0.0).sqrt()
    }
}

impl Detector for Ewma {
    fn update(&mut self, _t: f64, x: f64) -> Option<f64> {
        let z = if self.n >= self.warmup {
            let sd = self.std().max(1e-9 * (1.0 + self.mean.abs()));
            Some((x - self.mean).abs() / sd)
        } else {
            None
        };
        self.n += 1;
        // During warm-up use the running mean (alpha = 1/n) so early samples count equally.
        let a = self.alpha.max(1.0 / self.n as f64);
        let d = x - self.mean;
        self.mean += a * d;
        self.var = (1.0 - a) * (self.var + a * d * d);
        z
    }

    fn reset(&mut self) {
        self.n = 0;
        self.mean = 0.0;
        self.var = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::super::synth::series;
    use super::*;

    #[test]
    fn spike_and_clean() {
        let mut d = Ewma::new(0.02, 50);
        let s = series(2000, 10.0, 1.0, 0.0, 7);
        let zs: Vec<Option<f64>> = s.iter().map(|&(t, x)| d.update(t, x)).collect();
        assert!(zs[..50].iter().all(Option::is_none));
        assert!(zs[50..].iter().all(|z| z.unwrap() < 6.0), "clean");
        assert!(d.update(0.0, 30.0).unwrap() > 10.0, "spike");
    }

    #[test]
    fn variance_change() {
        let mut d = Ewma::new(0.02, 50);
        for &(t, x) in &series(1000, 0.0, 0.1, 0.0, 3) {
            d.update(t, x);
        }
        let big = series(50, 0.0, 2.0, 0.0, 4);
        let max = big
            .iter()
            .map(|&(t, x)| d.update(t, x).unwrap())
            .fold(0.0, f64::max);
        assert!(max > 8.0);
    }
}
