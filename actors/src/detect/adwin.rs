//! ADWIN (ADaptive WINdowing, Bifet & Gavaldà 2007): concept-drift detection with a
//! window that shrinks when its older and newer parts differ in mean.
//!
//! The window is kept as an exponential histogram (ADWIN2): at most `max_buckets`
//! buckets of each size `2^i`, each holding its sum and sum of squared deviations (its
//! count is its level's size),
//! so memory is `O(max_buckets · log(max_window))` whatever the stream's length. The
//! cut test (the variance form of the Hoeffding/Bernstein bound used by MOA and river)
//! runs every `clock` samples, so the amortised cost per sample is a few nanoseconds.

use std::collections::VecDeque;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    n: f64,
    sum: f64,
    /// Sum of squared deviations from the bucket's mean.
    m2: f64,
}

/// A bucket as kept in its level: its count is the level's `2^i`, so only the sum and
/// the squared deviations are stored (16 bytes, not 24).
#[derive(Debug, Clone, Copy)]
struct Kept {
    sum: f64,
    m2: f64,
}

impl Kept {
    fn at(self, level: usize) -> Bucket {
        Bucket {
            n: (1u64 << level.min(62)) as f64,
            sum: self.sum,
            m2: self.m2,
        }
    }
}

impl From<Bucket> for Kept {
    fn from(b: Bucket) -> Kept {
        Kept {
            sum: b.sum,
            m2: b.m2,
        }
    }
}

impl Bucket {
    fn merge(a: Bucket, b: Bucket) -> Bucket {
        let n = a.n + b.n;
        let d = a.sum / a.n - b.sum / b.n;
        Bucket {
            n,
            sum: a.sum + b.sum,
            m2: a.m2 + b.m2 + d * d * a.n * b.n / n,
        }
    }
}

/// ADWIN drift detector over a real-valued stream.
#[derive(Debug, Clone)]
pub struct Adwin {
    delta: f64,
    max_buckets: usize,
    max_window: usize,
    clock: usize,
    min_side: f64,
    /// `levels[i]` holds buckets of `2^i` samples, oldest at the front.
    levels: Vec<VecDeque<Kept>>,
    total: Bucket,
    tick: usize,
    drift: bool,
    drifts: u64,
}

impl Adwin {
    /// Confidence `delta` (smaller: fewer false drifts, slower detection; 0.002 is the
    /// usual choice), a window of at most `max_window` samples.
    pub fn new(delta: f64, max_window: usize) -> Self {
        Adwin {
            delta: if delta.is_finite() && delta > 0.0 && delta < 1.0 {
                delta
            } else {
                0.002
            },
            max_buckets: 5,
            max_window: max_window.max(16),
            clock: 32,
            min_side: 16.0,
            levels: Vec::new(),
            total: Bucket {
                n: 0.0,
                sum: 0.0,
                m2: 0.0,
            },
            tick: 0,
            drift: false,
            drifts: 0,
        }
    }

    /// Heap bytes held (the bucket levels at their allocated capacity).
    pub fn heap_bytes(&self) -> usize {
        self.levels.capacity() * std::mem::size_of::<VecDeque<Kept>>()
            + self
                .levels
                .iter()
                .map(|l| l.capacity() * std::mem::size_of::<Kept>())
                .sum::<usize>()
    }

    /// Samples in the current window.
    pub fn width(&self) -> usize {
        self.total.n as usize
    }

    /// Mean of the current window.
    pub fn mean(&self) -> Option<f64> {
        (self.total.n > 0.0).then(|| self.total.sum / self.total.n)
    }

    /// Standard deviation of the current window.
    pub fn std(&self) -> Option<f64> {
        (self.total.n > 1.0).then(|| (self.total.m2 / self.total.n).sqrt())
    }

    /// Drifts detected since creation.
    pub fn drifts(&self) -> u64 {
        self.drifts
    }

    /// Number of buckets held (memory is proportional to it).
    pub fn buckets(&self) -> usize {
        self.levels.iter().map(VecDeque::len).sum()
    }

    /// Adds a sample; true when it completed a drift detection (the window was cut, so
    /// the older regime is forgotten). Non-finite samples are ignored.
    pub fn update(&mut self, x: f64) -> bool {
        self.drift = false;
        if !x.is_finite() {
            return false;
        }
        self.insert(Bucket {
            n: 1.0,
            sum: x,
            m2: 0.0,
        });
        while self.total.n as usize > self.max_window {
            self.drop_oldest();
        }
        self.tick += 1;
        if self.tick.is_multiple_of(self.clock) {
            while self.cut() {
                self.drop_oldest();
                self.drift = true;
            }
            if self.drift {
                self.drifts += 1;
            }
        }
        self.drift
    }

    /// Forgets everything.
    pub fn reset(&mut self) {
        self.levels.clear();
        self.total = Bucket {
            n: 0.0,
            sum: 0.0,
            m2: 0.0,
        };
        self.tick = 0;
        self.drift = false;
    }

    fn insert(&mut self, b: Bucket) {
        self.total = if self.total.n == 0.0 {
            b
        } else {
            Bucket::merge(self.total, b)
        };
        if self.levels.is_empty() {
            self.levels.reserve_exact(1);
            self.levels
                .push(VecDeque::with_capacity(self.max_buckets + 1));
        }
        self.levels[0].push_back(b.into());
        let mut i = 0;
        while i < self.levels.len() && self.levels[i].len() > self.max_buckets {
            let (Some(a), Some(c)) = (self.levels[i].pop_front(), self.levels[i].pop_front())
            else {
                break;
            };
            if i + 1 == self.levels.len() {
                // One level at a time: the levels' list is not doubled.
                self.levels.reserve_exact(1);
                self.levels
                    .push(VecDeque::with_capacity(self.max_buckets + 1));
            }
            self.levels[i + 1].push_back(Bucket::merge(a.at(i), c.at(i)).into());
            i += 1;
        }
    }

    fn drop_oldest(&mut self) {
        while self.levels.last().is_some_and(VecDeque::is_empty) {
            self.levels.pop();
        }
        let top = self.levels.len().saturating_sub(1);
        let Some(b) = self
            .levels
            .last_mut()
            .and_then(VecDeque::pop_front)
            .map(|k| k.at(top))
        else {
            return;
        };
        let rest = self.total.n - b.n;
        if rest <= 0.0 {
            self.reset();
            return;
        }
        let sum = self.total.sum - b.sum;
        let d = b.sum / b.n - sum / rest;
        let m2 = (self.total.m2 - b.m2 - d * d * b.n * rest / self.total.n).max(0.0);
        self.total = Bucket { n: rest, sum, m2 };
    }

    /// Whether some split of the window into older and newer parts has means further
    /// apart than the bound allows.
    fn cut(&self) -> bool {
        let n = self.total.n;
        if n < 2.0 * self.min_side {
            return false;
        }
        let var = self.total.m2 / n;
        let dd = (2.0 * n.ln().max(1.0) / self.delta).ln();
        let (mut n0, mut s0) = (0.0, 0.0);
        // Oldest first: the highest level's front, down to level 0's back.
        for (i, level) in self.levels.iter().enumerate().rev() {
            for b in level.iter().map(|k| k.at(i)) {
                n0 += b.n;
                s0 += b.sum;
                let n1 = n - n0;
                if n1 < self.min_side {
                    return false;
                }
                if n0 < self.min_side {
                    continue;
                }
                let s1 = self.total.sum - s0;
                let diff = (s0 / n0 - s1 / n1).abs();
                let m = 1.0 / (n0 - self.min_side + 1.0) + 1.0 / (n1 - self.min_side + 1.0);
                let eps = (2.0 * m * var * dd).sqrt() + 2.0 / 3.0 * dd * m;
                if diff > eps {
                    return true;
                }
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::super::synth::Rng;
    use super::*;

    fn run(a: &mut Adwin, xs: impl Iterator<Item = f64>) -> Vec<usize> {
        xs.enumerate()
            .filter_map(|(i, x)| a.update(x).then_some(i))
            .collect()
    }

    #[test]
    fn stationary_noise_has_no_drift() {
        for seed in 1..6 {
            let mut r = Rng::new(seed);
            let mut a = Adwin::new(0.002, 5000);
            let d = run(&mut a, (0..20_000).map(|_| 10.0 + r.normal()));
            assert!(d.is_empty(), "seed {seed}: drifts at {d:?}");
            assert!(a.width() <= 5000);
        }
    }

    #[test]
    fn mean_shift_is_detected_quickly_and_window_shrinks() {
        let mut r = Rng::new(7);
        let mut a = Adwin::new(0.002, 5000);
        let d = run(
            &mut a,
            (0..4000).map(|i| if i < 3000 { 0.0 } else { 2.0 } + r.normal()),
        );
        assert!(!d.is_empty(), "no drift detected");
        assert!((3000..3200).contains(&d[0]), "first drift at {}", d[0]);
        assert!(a.width() < 1100, "window not cut: {}", a.width());
        assert!((a.mean().unwrap() - 2.0).abs() < 0.3);
    }

    #[test]
    fn gradual_drift_is_detected() {
        let mut r = Rng::new(8);
        let mut a = Adwin::new(0.002, 5000);
        let d = run(
            &mut a,
            (0..6000usize).map(|i| (i.saturating_sub(2000) as f64) / 1000.0 + r.normal()),
        );
        assert!(d.iter().any(|&i| (2000..4500).contains(&i)), "drifts {d:?}");
    }

    #[test]
    fn memory_is_logarithmic_and_bad_input_ignored() {
        let mut a = Adwin::new(f64::NAN, 1 << 20);
        for i in 0..200_000 {
            a.update((i % 7) as f64);
            if i % 1000 == 0 {
                a.update(f64::NAN);
                a.update(f64::INFINITY);
            }
        }
        assert!(a.buckets() <= 5 * 20, "buckets {}", a.buckets());
        assert!(a.mean().unwrap().is_finite());
    }
}
