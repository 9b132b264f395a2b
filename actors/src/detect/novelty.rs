//! Shape novelty: how far the recent window of a series is from every shape seen before.

use std::collections::VecDeque;

use super::Detector;

/// Novelty of the recent *shape* of a series: the last `w * block` samples, averaged in
/// `block`-sample blocks and scaled by a slow running mean and mean absolute deviation,
/// form a `w`-dimensional feature; its RMS distance to the nearest of at most `k`
/// remembered prototypes is the novelty. A feature within `rho` of its nearest prototype
/// nudges that prototype towards it; a farther one becomes a new prototype (replacing
/// the least recently matched one when memory is full). Recurring shapes, a daily spike
/// included, are thus learnt and stop being novel, while a shape never seen is novel
/// even when every value in it is within the usual range (which a per-sample z-score
/// misses). An adaptive-resonance style memory, written for bounded per-series state:
/// `k * w` 16-bit fixed-point values (features are clamped to ±20 deviations and kept
/// to 1/1024 of one), `k` stamps and hit counts, plus a `w * block` ring.
#[derive(Debug, Clone)]
pub struct ShapeNovelty {
    w: usize,
    block: usize,
    k: usize,
    rho: f64,
    alpha: f64,
    n: usize,
    mean: f64,
    dev: f64,
    ring: VecDeque<f64>,
    feat: Vec<f64>,
    /// Prototypes in fixed point: `value * QUANT` as `i16`.
    protos: Vec<i16>,
    last_hit: Vec<u32>,
    /// Matches per prototype, saturating (the learning rate stops falling at 20).
    hits: Vec<u16>,
    used: usize,
}

/// Fixed-point scale of the prototypes: features are clamped to ±20, so ±32 fits an
/// `i16` at 1/1024 resolution.
const QUANT: f64 = 1024.0;

fn quant(v: f64) -> i16 {
    (v * QUANT)
        .round()
        .clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16
}

fn dequant(q: i16) -> f64 {
    f64::from(q) / QUANT
}

impl ShapeNovelty {
    /// A window of `w` blocks of `block` samples, at most `k` prototypes, vigilance
    /// radius `rho` (in mean absolute deviations), running scale learnt with weight
    /// `alpha`.
    pub fn new(w: usize, block: usize, k: usize, rho: f64, alpha: f64) -> Self {
        let w = w.max(1);
        let block = block.max(1);
        let k = k.max(1);
        ShapeNovelty {
            w,
            block,
            k,
            rho: rho.max(1e-6),
            alpha: alpha.clamp(1e-6, 1.0),
            n: 0,
            mean: 0.0,
            dev: 0.0,
            ring: VecDeque::with_capacity(w * block),
            feat: vec![0.0; w],
            protos: Vec::with_capacity(k * w),
            last_hit: Vec::with_capacity(k),
            hits: Vec::with_capacity(k),
            used: 0,
        }
    }

    /// Prototypes in memory.
    pub fn prototypes(&self) -> usize {
        self.used
    }

    /// Heap bytes held at full memory.
    pub fn heap_bytes(&self) -> usize {
        self.k * self.w * std::mem::size_of::<i16>()
            + self.k * (std::mem::size_of::<u32>() + std::mem::size_of::<u16>())
            + self.w * self.block * std::mem::size_of::<f64>()
            + self.w * std::mem::size_of::<f64>()
    }

    /// Squared distance of prototype `p` to the feature, or a partial sum above `bound`
    /// once the sum passes it (the sum of squares only grows, so the full one would too).
    fn dist2(&self, p: usize, bound: f64) -> f64 {
        let row = &self.protos[p * self.w..(p + 1) * self.w];
        // The default window of 8 blocks, as fixed-size arrays (unrolled, no bounds
        // checks); the same sums in the same order.
        if let (Ok(r), Ok(f)) = (
            <&[i16; 8]>::try_from(row),
            <&[f64; 8]>::try_from(&self.feat[..]),
        ) {
            let mut d2 = 0.0f64;
            for (a, b) in r.iter().zip(f) {
                let d = dequant(*a) - b;
                d2 += d * d;
                if d2 > bound {
                    break;
                }
            }
            return d2;
        }
        let mut d2 = 0.0f64;
        for (a, b) in row.iter().zip(&self.feat) {
            let d = dequant(*a) - b;
            d2 += d * d;
            if d2 > bound {
                break;
            }
        }
        d2
    }

    /// Nearest prototype (the first of equally near ones) and its RMS distance. Each
    /// scan stops once it passes the best so far, so the result is the full scan's: a
    /// prototype at the minimum never passes the bound, and NaN never stops a scan.
    fn nearest(&self) -> Option<(usize, f64)> {
        let mut best: Option<(usize, f64)> = None;
        let mut bound = f64::INFINITY;
        for p in 0..self.used {
            let d2 = self.dist2(p, bound);
            if best.is_none_or(|(_, b)| d2 < b) {
                best = Some((p, d2));
                bound = d2;
            }
        }
        best.map(|(p, d2)| (p, (d2 / self.w as f64).sqrt()))
    }
}

impl Detector for ShapeNovelty {
    fn update(&mut self, _t: f64, x: f64) -> Option<f64> {
        if !x.is_finite() {
            return None;
        }
        self.n += 1;
        let a = self.alpha.max(1.0 / self.n as f64);
        let d = x - self.mean;
        self.mean += a * d;
        self.dev += a * (d.abs() - self.dev);
        if self.ring.len() == self.w * self.block {
            self.ring.pop_front();
        }
        self.ring.push_back(x);
        if self.ring.len() < self.w * self.block || self.n < 2 * self.w * self.block {
            return None;
        }
        let scale = self.dev.max(1e-9 * (1.0 + self.mean.abs()));
        for (i, f) in self.feat.iter_mut().enumerate() {
            let s: f64 = self.ring.range(i * self.block..(i + 1) * self.block).sum();
            *f = ((s / self.block as f64 - self.mean) / scale).clamp(-20.0, 20.0);
        }
        let tick = self.n as u32;
        let near = self.nearest();
        let novelty = near.map_or(self.rho * 4.0, |(_, d)| d);
        if !novelty.is_finite() {
            return None;
        }
        match near {
            Some((p, d)) if d <= self.rho => {
                self.hits[p] = self.hits[p].saturating_add(1);
                self.last_hit[p] = tick;
                let lr = (1.0 / self.hits[p] as f64).max(0.05);
                let row = &mut self.protos[p * self.w..(p + 1) * self.w];
                for (a, b) in row.iter_mut().zip(&self.feat) {
                    let v = dequant(*a);
                    *a = quant(v + lr * (b - v));
                }
            }
            _ => {
                let slot = if self.used < self.k {
                    self.used += 1;
                    self.protos.extend(self.feat.iter().map(|&v| quant(v)));
                    self.last_hit.push(tick);
                    self.hits.push(1);
                    None
                } else {
                    // Least recently matched prototype.
                    self.last_hit
                        .iter()
                        .enumerate()
                        .min_by_key(|&(_, &t)| t)
                        .map(|(i, _)| i)
                };
                if let Some(p) = slot {
                    for (a, b) in self.protos[p * self.w..(p + 1) * self.w]
                        .iter_mut()
                        .zip(&self.feat)
                    {
                        *a = quant(*b);
                    }
                    self.last_hit[p] = tick;
                    self.hits[p] = 1;
                }
            }
        }
        Some(novelty)
    }

    fn reset(&mut self) {
        self.n = 0;
        self.mean = 0.0;
        self.dev = 0.0;
        self.ring.clear();
        self.protos.clear();
        self.last_hit.clear();
        self.hits.clear();
        self.used = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::super::synth::series;
    use super::*;

    fn run(d: &mut ShapeNovelty, s: &[(f64, f64)]) -> Vec<f64> {
        s.iter()
            .map(|&(t, x)| d.update(t, x).unwrap_or(0.0))
            .collect()
    }

    #[test]
    fn novel_shape_stands_out_and_memory_is_bounded() {
        // A daily sine with noise; at 3000 it oscillates sample to sample for a while (a
        // shape never seen, with every value inside the usual range).
        let s: Vec<(f64, f64)> = series(4000, 20.0, 0.2, 5.0, 3)
            .into_iter()
            .enumerate()
            .map(|(i, (t, x))| {
                if (3000..3100).contains(&i) {
                    (t, x + if i % 2 == 0 { 10.0 } else { -10.0 })
                } else {
                    (t, x)
                }
            })
            .collect();
        let mut d = ShapeNovelty::new(8, 1, 64, 1.0, 0.002);
        let out = run(&mut d, &s);
        let before = out[2000..2990].iter().copied().fold(0.0, f64::max);
        let during = out[3000..3020].iter().copied().fold(0.0, f64::max);
        assert!(during > 2.0 * before, "before {before} during {during}");
        assert!(d.prototypes() <= 64);
    }

    #[test]
    fn clean_series_settles() {
        let s = series(4000, 20.0, 1.0, 0.0, 5);
        let mut d = ShapeNovelty::new(8, 1, 64, 0.8, 0.002);
        let out = run(&mut d, &s);
        let early: f64 = out[100..600].iter().sum::<f64>() / 500.0;
        let late: f64 = out[3400..3900].iter().sum::<f64>() / 500.0;
        assert!(late <= early * 1.2 + 1e-9, "early {early} late {late}");
        assert!(out.iter().all(|v| v.is_finite() && *v >= 0.0));
    }

    #[test]
    fn bad_input_does_not_panic() {
        let mut d = ShapeNovelty::new(0, 0, 0, -1.0, 7.0);
        for i in 0..50 {
            let x = match i % 4 {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => 1e300,
                _ => -1e300,
            };
            let _ = d.update(i as f64, x);
        }
        d.reset();
        assert_eq!(d.prototypes(), 0);
    }
}
