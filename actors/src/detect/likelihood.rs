//! Per-series calibration of a non-negative statistic into a tail probability, in a
//! fixed amount of memory: an exponentially forgetting histogram over log-spaced bins.

/// Calibrates a non-negative statistic (a surprise, a novelty distance) against its own
/// recent distribution: `P(X >= v)` from a decayed histogram over log-spaced bins, with
/// an exponential peaks-over-threshold tail fitted above the `quantile` bin (so values
/// beyond anything seen still get a finite, graded probability).
///
/// Memory is `bins` floats, whatever the horizon (a raw 6000-sample history took 48 KB
/// plus a same-sized scratch buffer).
#[derive(Debug, Clone)]
pub struct TailHistogram {
    lo: f64,
    step: f64,
    decay: f64,
    quantile: f64,
    total: f64,
    inc: f64,
    count: usize,
    /// Every bin from `top` up is empty (the scans start or stop there: adding an empty
    /// bin changes no sum, so the results are those of a full scan).
    top: usize,
    /// Largest shape of the generalised Pareto tail (0: the exponential tail).
    xi_max: f64,
    /// Bin weights in f32 (relative weights; sums are taken in f64).
    bins: Vec<f32>,
}

/// Smallest value the bins resolve; anything below falls in the first bin.
const LO: f64 = 1e-4;
/// Largest value the bins resolve; anything above falls in the last bin.
const HI: f64 = 1e3;

impl TailHistogram {
    /// `bins` log-spaced bins between 1e-4 and 1e3, forgetting with a time constant of
    /// `horizon` samples; the exponential tail is fitted above the `quantile`.
    pub fn new(bins: usize, horizon: usize, quantile: f64) -> Self {
        let bins = bins.max(8);
        let lo = LO.ln();
        TailHistogram {
            lo,
            step: (HI.ln() - lo) / bins as f64,
            decay: 1.0 - 1.0 / horizon.max(2) as f64,
            quantile: quantile.clamp(0.5, 0.9999),
            total: 0.0,
            inc: 1.0,
            count: 0,
            top: 0,
            xi_max: 0.0,
            bins: vec![0.0; bins],
        }
    }

    /// Fits a generalised Pareto tail above the quantile instead of the exponential one,
    /// its shape estimated by the method of moments from the excesses and clamped to
    /// `[0, xi_max]`: a heavy-tailed (bursty) statistic then gets larger tail
    /// probabilities for its large values than the exponential fit gives. 0 keeps the
    /// exponential tail.
    pub fn with_heavy_tail(mut self, xi_max: f64) -> Self {
        self.xi_max = if xi_max.is_finite() {
            xi_max.clamp(0.0, 0.45)
        } else {
            0.0
        };
        self
    }

    /// Samples seen.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Fractional bin position of `v`, clamped to the bins.
    fn pos(&self, v: f64) -> f64 {
        let p = (v.max(LO).ln() - self.lo) / self.step;
        p.clamp(0.0, self.bins.len() as f64 - 1e-9)
    }

    /// Lower edge of bin `b` in value units.
    fn edge(&self, b: f64) -> f64 {
        (self.lo + b * self.step).exp()
    }

    /// Adds a sample (older ones fade by `1 - 1/horizon` per sample).
    pub fn add(&mut self, v: f64) {
        if !v.is_finite() {
            return;
        }
        self.add_at(self.pos(v));
    }

    /// `tail(v)` when at least `min_count` samples were seen (else `None`), then
    /// `add(v)`: the bin position is computed once for both.
    pub fn tail_then_add(&mut self, v: f64, min_count: usize) -> Option<f64> {
        if !v.is_finite() {
            return None;
        }
        let pos = self.pos(v);
        let p = if self.count >= min_count {
            self.tail_at(v, pos)
        } else {
            None
        };
        self.add_at(pos);
        p
    }

    /// Adds a finite sample at bin position `pos`.
    fn add_at(&mut self, pos: f64) {
        self.count += 1;
        // Forgetting without touching every bin: each new sample weighs `1/decay` times
        // the previous one (only ratios of weights matter), and all weights are scaled
        // back down when the increment grows large.
        self.inc /= self.decay;
        let b = pos as usize;
        self.top = self.top.max(b + 1);
        self.bins[b] += self.inc as f32;
        self.total += self.inc;
        // Scale back well inside f32's range (3.4e38).
        if self.inc > 1e30 {
            for w in self.bins.iter_mut() {
                *w = (*w as f64 / self.inc) as f32;
            }
            self.inc = 1.0;
            self.total = self.bins.iter().map(|&w| w as f64).sum();
        }
    }

    /// `P(X >= v)` under the calibrated distribution; `None` before any sample.
    pub fn tail(&self, v: f64) -> Option<f64> {
        if !v.is_finite() {
            return None;
        }
        self.tail_at(v, self.pos(v))
    }

    /// `tail(v)` for a finite `v` at bin position `pos`.
    fn tail_at(&self, v: f64, pos: f64) -> Option<f64> {
        if self.total <= 0.0 {
            return None;
        }
        let top = self.top;
        // Quantile bin: scanning down from the top until the upper tail holds 1 - quantile
        // (the empty bins above `top` leave the tail at 0, within the target).
        let target = (1.0 - self.quantile) * self.total;
        let mut above = 0.0;
        let mut qb = top;
        while qb > 0 && above + self.bins[qb - 1] as f64 <= target {
            above += self.bins[qb - 1] as f64;
            qb -= 1;
        }
        // Threshold: the upper edge of the quantile bin, with `above` weight over it.
        let q = self.edge(qb as f64);
        if v > q && above > 0.0 {
            let mut excess = 0.0;
            let mut excess2 = 0.0;
            for b in qb..top {
                let d = self.edge(b as f64 + 0.5) - q;
                let w = self.bins[b] as f64;
                excess += w * d;
                excess2 += w * d * d;
            }
            let scale = (excess / above).max(1e-3 * q).max(1e-9);
            let base = above / self.total;
            if self.xi_max > 0.0 {
                // Method of moments for a generalised Pareto: mean excess m, variance
                // var, shape xi = (1 - m^2 / var) / 2, scale m (1 - xi).
                let m = excess / above;
                let var = excess2 / above - m * m;
                let xi = if var > 0.0 {
                    (0.5 * (1.0 - m * m / var)).clamp(0.0, self.xi_max)
                } else {
                    0.0
                };
                if xi > 1e-6 {
                    let beta = scale * (1.0 - xi);
                    return Some(base * (1.0 + xi * (v - q) / beta).powf(-1.0 / xi));
                }
            }
            return Some(base * (-(v - q) / scale).exp());
        }
        if v > q {
            // Nothing above the quantile bin: beyond the largest value seen.
            let scale = (q - self.edge(qb as f64 - 1.0)).max(1e-9);
            let base = (1.0 - self.quantile).min(self.inc / self.total);
            return Some(base * (-(v - q) / scale).exp());
        }
        let b = pos as usize;
        let frac = pos - b as f64;
        let mut s = self.bins[b] as f64 * (1.0 - frac);
        for &w in &self.bins[(b + 1).min(top)..top] {
            s += w as f64;
        }
        Some((s / self.total).clamp(0.0, 1.0))
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.bins.capacity() * std::mem::size_of::<f32>()
    }
}

#[cfg(test)]
mod tests {
    use super::super::synth::Rng;
    use super::*;

    #[test]
    fn tail_of_exponential_is_calibrated() {
        let mut h = TailHistogram::new(128, 5000, 0.99);
        let mut r = Rng::new(7);
        for _ in 0..20_000 {
            h.add(-r.uniform().ln());
        }
        // P(X >= 1) = e^-1, P(X >= 3) = e^-3 for a unit exponential.
        let p1 = h.tail(1.0).unwrap();
        let p3 = h.tail(3.0).unwrap();
        assert!((p1 - (-1.0f64).exp()).abs() < 0.05, "p1 {p1}");
        assert!((p3 / (-3.0f64).exp() - 1.0).abs() < 0.3, "p3 {p3}");
        // Far beyond the data: small but positive, and monotone.
        let p10 = h.tail(10.0).unwrap();
        let p20 = h.tail(20.0).unwrap();
        assert!(p10 > 0.0 && p10 < 1e-3 && p20 < p10, "{p10} {p20}");
    }

    #[test]
    fn forgets_old_distribution() {
        let mut h = TailHistogram::new(128, 500, 0.99);
        for _ in 0..2000 {
            h.add(10.0);
        }
        for _ in 0..5000 {
            h.add(0.1);
        }
        assert!(h.tail(5.0).unwrap() < 1e-3);
        assert_eq!(h.count(), 7000);
    }

    #[test]
    fn bad_input_does_not_panic() {
        let mut h = TailHistogram::new(0, 0, 2.0);
        assert_eq!(h.tail(1.0), None);
        h.add(f64::NAN);
        h.add(-5.0);
        h.add(1e300);
        assert!(h.tail(f64::INFINITY).is_none());
        assert!(h.tail(0.0).is_some());
        assert!(h.tail(1e308).unwrap() >= 0.0);
    }
}
