//! Robust rolling median and MAD over a bounded window.

use std::collections::VecDeque;

use super::Detector;

/// Robust z-score against the last `window` samples: `|x - median| / (1.4826 * MAD)`.
///
/// The window is also kept sorted (binary-search insert and remove), so the median is
/// one lookup and the MAD a walk of half the window outwards from the median, instead of
/// two selections over a copy of the window per sample.
#[derive(Debug, Clone)]
pub struct RollingMad {
    window: usize,
    min: usize,
    buf: VecDeque<f64>,
    sorted: Vec<f64>,
}

impl RollingMad {
    /// Keeps at most `window` samples; no scores before `min` samples.
    pub fn new(window: usize, min: usize) -> Self {
        let window = window.max(3);
        RollingMad {
            window,
            min: min.clamp(3, window),
            buf: VecDeque::with_capacity(window),
            sorted: Vec::with_capacity(window),
        }
    }

    /// Heap bytes held (the window in arrival order and sorted).
    pub fn heap_bytes(&self) -> usize {
        (self.buf.capacity() + self.sorted.capacity()) * std::mem::size_of::<f64>()
    }

    /// Median and robust scale of the window.
    pub fn stats(&mut self) -> Option<(f64, f64)> {
        let s = &self.sorted;
        let n = s.len();
        if n == 0 {
            return None;
        }
        let m = n / 2;
        let med = s[m];
        let (lo, hi) = (s[0], s[n - 1]);
        // The (m+1)-th smallest distance to the median, from the distances of the
        // samples left of the median (growing leftwards) and right of it (growing
        // rightwards, the median itself first).
        let mad = if lo.is_finite() && hi.is_finite() {
            kth_distance(s, m)
        } else {
            // Not reached from the ensemble (it skips non-finite values): the plain merge.
            let (mut l, mut r) = (m, m);
            let mut mad = 0.0;
            for _ in 0..=m {
                let dl = if l > 0 { med - s[l - 1] } else { f64::INFINITY };
                let dr = if r < n { s[r] - med } else { f64::INFINITY };
                if dl <= dr {
                    mad = dl;
                    l -= 1;
                } else {
                    mad = dr;
                    r += 1;
                }
            }
            mad
        };
        // Floors: a flat or two-level window has MAD 0; then use a small share of the
        // window's range, and at worst a relative epsilon of the level.
        let scale = (1.4826 * mad)
            .max(0.05 * (hi - lo))
            .max(1e-6 * (1.0 + med.abs()));
        Some((med, scale))
    }

    fn push(&mut self, x: f64) {
        if self.buf.len() == self.window {
            self.pop();
        }
        self.buf.push_back(x);
        let i = self.sorted.partition_point(|v| v.total_cmp(&x).is_le());
        self.sorted.insert(i, x);
    }

    fn pop(&mut self) {
        if let Some(old) = self.buf.pop_front() {
            let i = self.sorted.partition_point(|v| v.total_cmp(&old).is_lt());
            if i < self.sorted.len() {
                self.sorted.remove(i);
            }
        }
    }
}

/// The `(m + 1)`-th smallest of the distances to the median `s[m]` of the sorted,
/// finite `s`, by binary search over how many come from the left of the median: the
/// left distances `s[m] - s[m - 1 - i]` and the right ones `s[m + j] - s[m]` are each
/// non-decreasing (rounding is monotone), so this is the k-th smallest of two sorted
/// sequences, O(log n) instead of a walk over half the window. The value is the same as
/// the merge's.
fn kth_distance(s: &[f64], m: usize) -> f64 {
    let n = s.len();
    let med = s[m];
    let left = |i: usize| med - s[m - 1 - i];
    let right = |j: usize| s[m + j] - med;
    let (la, lb, k) = (m, n - m, m + 1);
    // Smallest `i` (taken from the left) with `right(k - i - 1) <= left(i)`.
    let (mut a, mut b) = (k.saturating_sub(lb), k.min(la));
    while a < b {
        let i = (a + b) / 2;
        if left(i) < right(k - i - 1) {
            a = i + 1;
        } else {
            b = i;
        }
    }
    let i = a;
    let j = k - i;
    let l = if i > 0 {
        left(i - 1)
    } else {
        f64::NEG_INFINITY
    };
    let r = if j > 0 {
        right(j - 1)
    } else {
        f64::NEG_INFINITY
    };
    l.max(r)
}

impl Detector for RollingMad {
    fn update(&mut self, _t: f64, x: f64) -> Option<f64> {
        let z = if self.buf.len() >= self.min {
            self.stats().map(|(m, s)| (x - m).abs() / s)
        } else {
            None
        };
        self.push(x);
        z
    }

    fn reset(&mut self) {
        // Keep the newest few samples so the detector re-arms quickly after a shift.
        let keep = self.min / 2;
        while self.buf.len() > keep {
            self.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::synth::series;
    use super::*;

    #[test]
    fn spike_level_shift_and_clean() {
        let mut d = RollingMad::new(200, 30);
        let s = series(2000, 5.0, 1.0, 0.0, 11);
        let zs: Vec<Option<f64>> = s.iter().map(|&(t, x)| d.update(t, x)).collect();
        assert!(zs[..30].iter().all(Option::is_none));
        assert!(zs[100..].iter().all(|z| z.unwrap() < 6.0), "clean");
        assert!(d.update(0.0, 20.0).unwrap() > 10.0, "spike");
        // A level shift of 10 sigma: high at first, back to normal once the window moved.
        let shifted = series(400, 15.0, 1.0, 0.0, 12);
        let zs: Vec<f64> = shifted
            .iter()
            .map(|&(t, x)| d.update(t, x).unwrap())
            .collect();
        assert!(zs[0] > 5.0);
        assert!(zs[300..].iter().all(|&z| z < 6.0));
    }

    /// The sorted-window statistics equal a direct selection over the window.
    #[test]
    fn matches_direct_median_and_mad() {
        let mut d = RollingMad::new(37, 5);
        let mut r = super::super::synth::Rng::new(3);
        for i in 0..500 {
            let x = if i % 50 == 0 {
                40.0
            } else {
                (r.normal() * 3.0).round()
            };
            d.update(i as f64, x);
            let mut w: Vec<f64> = d.buf.iter().copied().collect();
            w.sort_by(f64::total_cmp);
            let med = w[w.len() / 2];
            let mut dev: Vec<f64> = w.iter().map(|v| (v - med).abs()).collect();
            dev.sort_by(f64::total_cmp);
            let mad = dev[dev.len() / 2];
            let scale = (1.4826 * mad)
                .max(0.05 * (w[w.len() - 1] - w[0]))
                .max(1e-6 * (1.0 + med.abs()));
            assert_eq!(d.stats(), Some((med, scale)), "at {i}");
        }
        d.reset();
        assert_eq!(d.buf.len(), d.sorted.len());
    }

    #[test]
    fn flat_series_does_not_divide_by_zero() {
        let mut d = RollingMad::new(50, 10);
        for i in 0..100 {
            let z = d.update(i as f64, 3.0);
            assert!(z.is_none_or(|z| z == 0.0));
        }
        assert!(d.update(0.0, 3.5).unwrap() > 100.0);
    }
}
