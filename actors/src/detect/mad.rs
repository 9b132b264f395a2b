//! Robust rolling median and MAD over a bounded window.

use std::collections::VecDeque;

use super::Detector;

/// Robust z-score against the last `window` samples: `|x - median| / (1.4826 * MAD)`.
#[derive(Debug, Clone)]
pub struct RollingMad {
    window: usize,
    min: usize,
    buf: VecDeque<f64>,
    scratch: Vec<f64>,
}

impl RollingMad {
    /// Keeps at most `window` samples; no scores before `min` samples.
    pub fn new(window: usize, min: usize) -> Self {
        let window = window.max(3);
        RollingMad {
            window,
            min: min.clamp(3, window),
            buf: VecDeque::with_capacity(window),
            scratch: Vec::with_capacity(window),
        }
    }

    fn median(v: &mut [f64]) -> f64 {
        let m = v.len() / 2;
        let (_, x, _) = v.select_nth_unstable_by(m, f64::total_cmp);
        *x
    }

    /// Heap bytes held (window and selection scratch).
    pub fn heap_bytes(&self) -> usize {
        (self.buf.capacity() + self.scratch.capacity()) * std::mem::size_of::<f64>()
    }

    /// Median and robust scale of the window.
    pub fn stats(&mut self) -> Option<(f64, f64)> {
        if self.buf.is_empty() {
            return None;
        }
        self.scratch.clear();
        self.scratch.extend(self.buf.iter().copied());
        let med = Self::median(&mut self.scratch);
        let (lo, hi) = self
            .buf
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        for v in self.scratch.iter_mut() {
            *v = (*v - med).abs();
        }
        let mad = Self::median(&mut self.scratch);
        // Floors: a flat or two-level window has MAD 0; then use a small share of the
        // window's range, and at worst a relative epsilon of the level.
        let scale = (1.4826 * mad)
            .max(0.05 * (hi - lo))
            .max(1e-6 * (1.0 + med.abs()));
        Some((med, scale))
    }
}

impl Detector for RollingMad {
    fn update(&mut self, _t: f64, x: f64) -> Option<f64> {
        let z = if self.buf.len() >= self.min {
            self.stats().map(|(m, s)| (x - m).abs() / s)
        } else {
            None
        };
        if self.buf.len() == self.window {
            self.buf.pop_front();
        }
        self.buf.push_back(x);
        z
    }

    fn reset(&mut self) {
        // Keep the newest few samples so the detector re-arms quickly after a shift.
        let keep = self.min / 2;
        while self.buf.len() > keep {
            self.buf.pop_front();
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
