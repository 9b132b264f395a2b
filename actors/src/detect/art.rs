//! Fuzzy adaptive-resonance (ART) category memory over short windows of a series.
//!
//! The idea of NAB's ARTime detector (learn categories of short, downsampled, normalised
//! windows; a window that fits no learnt category is new), written from its description
//! for bounded per-series state and without look-ahead; see
//! docs/decisions/0019-ensemble-art-gate.md.

use std::collections::VecDeque;

use super::Detector;

/// Fuzzy ART over the last `dim` blocks of `block` samples.
///
/// The first `calib` samples fix a value range (their minimum and maximum); later values
/// are mapped so that range is the middle third of `[0, 1]` (values up to one range-width
/// beyond it either side still differ, farther ones are clamped). Each block is
/// represented by the sample farthest from a slow running level (a spike survives the
/// downsampling), and a value within `chomp` (in units of the range) of that level is
/// snapped to it, so ordinary noise around the level is one value. The `dim` block
/// values, complement-coded, are the input `I`.
///
/// A category is a hyperbox (fuzzy ART with fast learning): its weight `W` is the
/// component-wise minimum of the complement-coded inputs it learnt. The match of an input
/// to a category is `|I ∧ W| / dim`, one minus the mean side of the box grown to hold the
/// input; the input resonates with the category of highest choice `|I ∧ W| / (0.001 +
/// |W|)` whose match is at least the vigilance, which then learns it (`W ← I ∧ W`).
/// When none resonates the input becomes a new category (replacing the least recently
/// chosen one when all `k` are in use). The vigilance adapts online so that new
/// categories are created at rate `target` (a stochastic quantile of the best match,
/// clamped to `[rho_min, rho_max]`; `target` 0 keeps `rho_max`).
///
/// [`Detector::update`] returns `1 -` the best match (0 for an input inside a learnt
/// box), and [`FuzzyArt::novel`] says whether that input created a category. Memory:
/// `k * 2 * dim` 16-bit weights, `k` sums and stamps, a `dim * block` ring.
#[derive(Debug, Clone)]
pub struct FuzzyArt {
    dim: usize,
    block: usize,
    k: usize,
    calib: usize,
    chomp: f64,
    rho: f64,
    rho_min: f64,
    rho_max: f64,
    target: f64,
    step: f64,
    n: usize,
    lo: f64,
    hi: f64,
    level: f64,
    ring: VecDeque<f64>,
    /// The complement-coded input and the categories' weights in 16-bit fixed point
    /// (`value * ONE`): inputs are in `[0, 1]` and fast learning only takes minima, so
    /// every weight is an input component, kept to 1/65,535.
    input: Vec<u16>,
    weights: Vec<u16>,
    wsum: Vec<f32>,
    last: Vec<u32>,
    hits: Vec<u32>,
    used: usize,
    novel: bool,
    /// A chosen category with fewer than this many inputs learnt still counts as new.
    pub young: u32,
}

/// Fixed-point one of the ART input and weights.
const ONE: f32 = u16::MAX as f32;

impl FuzzyArt {
    /// `dim` blocks of `block` samples, at most `k` categories, value range from the
    /// first `calib` samples, noise dead zone `chomp`, vigilance between `rho_min` and
    /// `rho_max` adapted towards a rate `target` of new categories.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        dim: usize,
        block: usize,
        k: usize,
        calib: usize,
        chomp: f64,
        rho_min: f64,
        rho_max: f64,
        target: f64,
    ) -> Self {
        let dim = dim.max(1);
        let block = block.max(1);
        let k = k.max(1);
        let rho_max = rho_max.clamp(0.0, 1.0);
        FuzzyArt {
            dim,
            block,
            k,
            calib: calib.max(2),
            chomp: chomp.max(0.0),
            rho: rho_max,
            rho_min: rho_min.clamp(0.0, rho_max),
            rho_max,
            target: target.clamp(0.0, 0.5),
            step: 0.002,
            n: 0,
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
            level: 0.0,
            ring: VecDeque::with_capacity(dim * block),
            input: vec![0; 2 * dim],
            weights: Vec::with_capacity(k * 2 * dim),
            wsum: Vec::with_capacity(k),
            last: Vec::with_capacity(k),
            hits: Vec::with_capacity(k),
            used: 0,
            novel: false,
            young: 0,
        }
    }

    /// Whether the last input created a category (fitted none at the vigilance).
    pub fn novel(&self) -> bool {
        self.novel
    }

    /// The current vigilance.
    pub fn vigilance(&self) -> f64 {
        self.rho
    }

    /// Categories in memory.
    pub fn categories(&self) -> usize {
        self.used
    }

    /// Heap bytes held at full memory.
    pub fn heap_bytes(&self) -> usize {
        self.k * 2 * self.dim * std::mem::size_of::<u16>()
            + self.k * 3 * std::mem::size_of::<f32>()
            + self.dim * self.block * std::mem::size_of::<f64>()
            + 2 * self.dim * std::mem::size_of::<u16>()
    }

    fn norm(&self, x: f64) -> f64 {
        let w = (self.hi - self.lo).max(1e-9 * (1.0 + self.lo.abs()));
        (((x - self.lo) / w + 1.0) / 3.0).clamp(0.0, 1.0)
    }

    /// `|I ∧ W_j|` for category `j` (summed in eight lanes, so it vectorises).
    fn overlap(&self, j: usize) -> f32 {
        let d2 = 2 * self.dim;
        let w = &self.weights[j * d2..(j + 1) * d2];
        let mut acc = [0u32; 8];
        let (wc, wr) = w.split_at(d2 - d2 % 8);
        let (ic, ir) = self.input.split_at(d2 - d2 % 8);
        for (a, b) in wc.chunks_exact(8).zip(ic.chunks_exact(8)) {
            for ((s, a), b) in acc.iter_mut().zip(a).zip(b) {
                *s += u32::from(*a.min(b));
            }
        }
        let rest: u32 = wr.iter().zip(ir).map(|(a, b)| u32::from(*a.min(b))).sum();
        (acc.iter().sum::<u32>() + rest) as f32 / ONE
    }
}

impl Detector for FuzzyArt {
    fn update(&mut self, _t: f64, x: f64) -> Option<f64> {
        self.novel = false;
        if !x.is_finite() {
            return None;
        }
        self.n += 1;
        if self.ring.len() == self.dim * self.block {
            self.ring.pop_front();
        }
        if self.n <= self.calib {
            // Raw values until the range is known; normalised once it is.
            self.ring.push_back(x);
            self.lo = self.lo.min(x);
            self.hi = self.hi.max(x);
            if self.n == self.calib {
                let mut sum = 0.0;
                for i in 0..self.ring.len() {
                    self.ring[i] = self.norm(self.ring[i]);
                    sum += self.ring[i];
                }
                self.level = sum / self.ring.len().max(1) as f64;
            }
            return None;
        }
        let u = self.norm(x);
        self.ring.push_back(u);
        if self.ring.len() < self.dim * self.block {
            return None;
        }
        self.level += 0.01 * (u - self.level);
        // Block values: the sample farthest from the level, snapped to it when close.
        for b in 0..self.dim {
            let mut best = self.level;
            let mut far = -1.0;
            for &u in self.ring.range(b * self.block..(b + 1) * self.block) {
                let d = (u - self.level).abs();
                if d > far {
                    far = d;
                    best = u;
                }
            }
            if far < self.chomp {
                best = self.level;
            }
            let q = (best.clamp(0.0, 1.0) * f64::from(ONE)).round() as u16;
            self.input[b] = q;
            self.input[self.dim + b] = u16::MAX - q;
        }
        let dim = self.dim as f32;
        let mut best_match = 0.0f32;
        let mut chosen: Option<(usize, f32)> = None;
        for j in 0..self.used {
            let o = self.overlap(j);
            let m = o / dim;
            best_match = best_match.max(m);
            if m as f64 >= self.rho {
                let choice = o / (0.001 + self.wsum[j]);
                if chosen.is_none_or(|(_, c)| choice > c) {
                    chosen = Some((j, choice));
                }
            }
        }
        let tick = self.n as u32;
        let d2 = 2 * self.dim;
        match chosen {
            Some((j, _)) => {
                let mut s = 0u32;
                for (w, i) in self.weights[j * d2..(j + 1) * d2]
                    .iter_mut()
                    .zip(&self.input)
                {
                    *w = (*w).min(*i);
                    s += u32::from(*w);
                }
                self.wsum[j] = s as f32 / ONE;
                self.last[j] = tick;
                self.hits[j] = self.hits[j].saturating_add(1);
                self.novel = self.hits[j] < self.young;
            }
            None => {
                self.novel = true;
                let s = self.input.iter().map(|&v| u32::from(v)).sum::<u32>() as f32 / ONE;
                if self.used < self.k {
                    self.weights.extend_from_slice(&self.input);
                    self.wsum.push(s);
                    self.last.push(tick);
                    self.hits.push(1);
                    self.used += 1;
                } else {
                    let j = (0..self.used).min_by_key(|&j| self.last[j]).unwrap_or(0);
                    self.weights[j * d2..(j + 1) * d2].copy_from_slice(&self.input);
                    self.wsum[j] = s;
                    self.last[j] = tick;
                    self.hits[j] = 1;
                }
            }
        }
        if self.target > 0.0 && self.used > 1 {
            // Quantile tracking: new categories at rate `target` in equilibrium.
            if self.novel {
                self.rho -= self.step * (1.0 - self.target);
            } else {
                self.rho += self.step * self.target;
            }
            self.rho = self.rho.clamp(self.rho_min, self.rho_max);
        }
        Some(1.0 - best_match as f64)
    }

    fn reset(&mut self) {
        self.n = 0;
        self.lo = f64::INFINITY;
        self.hi = f64::NEG_INFINITY;
        self.level = 0.0;
        self.rho = self.rho_max;
        self.ring.clear();
        self.weights.clear();
        self.wsum.clear();
        self.last.clear();
        self.hits.clear();
        self.used = 0;
        self.novel = false;
    }
}

#[cfg(test)]
mod tests {
    use super::super::synth::series;
    use super::*;

    fn art() -> FuzzyArt {
        FuzzyArt::new(8, 4, 64, 150, 0.05, 0.9, 0.97, 0.0)
    }

    #[test]
    fn learnt_shapes_stop_being_new_and_a_spike_is_new() {
        let mut a = art();
        // A daily cycle with little noise: its windows are learnt once.
        let s = series(4000, 20.0, 0.1, 5.0, 3);
        let (mut new_early, mut new_late) = (0, 0);
        for (i, &(t, x)) in s.iter().enumerate() {
            a.update(t, x);
            if a.novel() {
                if i < 1000 {
                    new_early += 1;
                } else if i >= 3000 {
                    new_late += 1;
                }
            }
        }
        assert!(new_early > 0, "nothing learnt");
        assert!(
            new_late <= 5,
            "{new_late} new categories late in a steady series ({new_early} early)"
        );
        assert!(a.categories() <= 64);
        let (t, x) = s[3999];
        let v = a.update(t + 300.0, x + 40.0).expect("scored");
        assert!(a.novel() && v > 0.0, "spike: {v}");
    }

    #[test]
    fn bad_input_and_determinism() {
        let s = series(1000, 5.0, 1.0, 1.0, 8);
        let run = || {
            let mut a = art();
            s.iter()
                .enumerate()
                .map(|(i, &(t, x))| {
                    let x = match i % 7 {
                        0 => f64::NAN,
                        1 => f64::INFINITY,
                        _ => x,
                    };
                    a.update(t, x)
                })
                .collect::<Vec<_>>()
        };
        let a = run();
        assert!(a.iter().flatten().all(|v| (0.0..=1.0).contains(v)));
        assert!(a.iter().flatten().count() > 500, "scores after calibration");
        assert_eq!(a, run());
    }
}
