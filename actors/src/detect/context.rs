//! Contextual sequence memory: which short symbol sequences have been seen before.
//!
//! The idea of NAB's contextual detectors (CAD OSE): quantise each value into a few
//! levels, treat the recent levels as a *context*, learn online which level follows which
//! context, and call a sample anomalous when the contexts it completes were never seen
//! or did not predict it. Written from the description for bounded, allocation-free
//! per-series state; see docs/decisions/0015-ensemble-context-sequence-memory.md.

use super::Detector;

/// Longest context (in symbols) the memory can use.
pub const MAX_ORDER: usize = 8;
/// Most quantisation levels (three ranges of symbols must fit the 32-bit successor set).
pub const MAX_LEVELS: usize = 10;
/// Ways per set of the context table.
const WAYS: usize = 4;

/// One remembered context: a 32-bit tag of its hash (0 = empty) and the set of symbols
/// seen after it (bit `s` for symbol `s`).
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    tag: u32,
    next: u32,
}

/// Contextual sequence memory over a quantised series.
///
/// The first `calib` samples fix a value range (their minimum and maximum: only data
/// already seen, no look-ahead) cut into `levels` equal steps; later values outside it
/// continue with the same step, up to `levels` extra steps either side. The history is
/// the sequence of symbols with repeats collapsed (a run of one level is one symbol, so a
/// context spans the last `orders` level *changes*, however slow), and the run length of
/// the current level, on a log2 scale, is part of every context. For each order
/// `k = 1..=orders`, the context is the last `k` symbols; the memory holds the contexts
/// seen, each with the set of symbols seen after it, in a fixed-size 4-way
/// set-associative table of 32-bit tags (8 bytes an entry) whose sets are kept in
/// most-recently-used order, so a full set forgets its least recently used context.
///
/// The anomaly of a sample is the mean of (a) the share of *known* contexts that did not
/// predict the sample's symbol and (b) the share of orders whose (context, symbol) pair
/// is new, in `[0, 1]`: 0 for a sample that every remembered context predicted, 1 for a
/// sequence never seen at any order.
#[derive(Debug, Clone)]
pub struct SequenceMemory {
    levels: i32,
    calib: usize,
    orders: usize,
    runs: bool,
    /// Collapse repeats of a symbol in the history.
    pub collapse: bool,
    /// 0: mean of the known-context miss share and the new-pair share; 1: new-pair
    /// share only; 2: known-context miss share only; 3: the longest known context
    /// missed (1) or predicted (0), 0.5 when no context is known.
    pub score_mode: u8,
    n: usize,
    lo: f64,
    hi: f64,
    step: f64,
    /// Collapsed history, most recent first; `hist_len` valid entries.
    hist: [u8; MAX_ORDER],
    hist_len: usize,
    /// Samples the current symbol (`hist[0]`) has lasted.
    run: u32,
    table: Box<[Slot]>,
    sets_mask: usize,
}

fn mix(h: u64, v: u64) -> u64 {
    (h ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29)
}

impl SequenceMemory {
    /// `levels` quantisation steps over the range of the first `calib` samples, contexts
    /// of 1 to `orders` (at most [`MAX_ORDER`]) symbols, a table of `slots` entries
    /// (rounded up to a power of two, at least 4 ways), run lengths in the contexts when
    /// `runs` is set.
    pub fn new(levels: usize, calib: usize, orders: usize, slots: usize, runs: bool) -> Self {
        let sets = (slots.max(WAYS) / WAYS).next_power_of_two();
        SequenceMemory {
            levels: levels.clamp(2, MAX_LEVELS) as i32,
            calib: calib.max(2),
            orders: orders.clamp(1, MAX_ORDER),
            runs,
            collapse: true,
            score_mode: 0,
            n: 0,
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
            step: 0.0,
            hist: [0; MAX_ORDER],
            hist_len: 0,
            run: 0,
            table: vec![Slot::default(); sets * WAYS].into_boxed_slice(),
            sets_mask: sets - 1,
        }
    }

    /// Heap bytes held (the table; fixed at construction).
    pub fn heap_bytes(&self) -> usize {
        self.table.len() * std::mem::size_of::<Slot>()
    }

    /// Entries in use in the table.
    pub fn entries(&self) -> usize {
        self.table.iter().filter(|s| s.tag != 0).count()
    }

    fn symbol(&self, x: f64) -> u8 {
        let l = ((x - self.lo) / self.step).floor();
        let l = if l.is_finite() { l } else { 0.0 };
        // Levels -levels ..= 2 * levels - 1 (the range plus one range either side):
        // symbols 0 ..= 3 * levels - 1 < 32.
        let l = (l as i64).clamp(-(self.levels as i64), 2 * self.levels as i64 - 1);
        (l + self.levels as i64) as u8
    }

    /// Looks context `key` up and learns that `sym` followed it. Returns whether the
    /// context was known and whether `sym` had followed it before. The context moves to
    /// the front of its set (inserted there when new, dropping the set's last entry).
    fn observe(&mut self, key: u64, sym: u8) -> (bool, bool) {
        let set = (key as usize) & self.sets_mask;
        let tag = ((key >> 32) as u32) | 1;
        let bit = 1u32 << sym;
        let base = set * WAYS;
        let ways: &mut [Slot; WAYS] = (&mut self.table[base..base + WAYS])
            .try_into()
            .expect("a set is WAYS slots");
        let (found, mut slot) = match ways.iter().position(|s| s.tag == tag) {
            Some(i) => (Some(i), ways[i]),
            None => (None, Slot { tag, next: 0 }),
        };
        let seen = slot.next & bit != 0;
        slot.next |= bit;
        let end = found.unwrap_or(WAYS - 1);
        ways.copy_within(0..end, 1);
        ways[0] = slot;
        (found.is_some(), seen)
    }
}

impl Detector for SequenceMemory {
    fn update(&mut self, _t: f64, x: f64) -> Option<f64> {
        if !x.is_finite() {
            return None;
        }
        self.n += 1;
        if self.n <= self.calib {
            self.lo = self.lo.min(x);
            self.hi = self.hi.max(x);
            if self.n == self.calib {
                let span = self.hi - self.lo;
                let floor = 1e-9 * self.hi.abs().max(self.lo.abs()).max(1.0);
                self.step = (span / self.levels as f64).max(floor);
            }
            return None;
        }
        let s = self.symbol(x);
        let same = self.hist_len > 0 && self.hist[0] == s;
        let run_bucket = if self.runs {
            (32 - self.run.leading_zeros()) as u64
        } else {
            0
        };

        // Score: contexts of the collapsed history (before this sample) and the symbol.
        let mut known = 0u32;
        let mut known_missed = 0u32;
        let mut new_pairs = 0u32;
        let mut orders = 0u32;
        let mut longest: Option<bool> = None;
        let mut h = mix(0x51_7c_c1_b7_27_22_0a_95, run_bucket);
        for k in 0..self.orders.min(self.hist_len) {
            h = mix(h, self.hist[k] as u64 + 1);
            orders += 1;
            let (ctx_known, pair_known) = self.observe(mix(h, k as u64), s);
            if ctx_known {
                longest = Some(pair_known);
                known += 1;
                if !pair_known {
                    known_missed += 1;
                }
            }
            if !pair_known {
                new_pairs += 1;
            }
        }

        // Learn the new history.
        if same && self.collapse {
            self.run = self.run.saturating_add(1);
        } else {
            self.hist.copy_within(0..MAX_ORDER - 1, 1);
            self.hist[0] = s;
            self.hist_len = (self.hist_len + 1).min(MAX_ORDER);
            self.run = 1;
        }
        if orders == 0 {
            return Some(0.0);
        }
        let a = if known > 0 {
            known_missed as f64 / known as f64
        } else {
            0.0
        };
        let b = new_pairs as f64 / orders as f64;
        Some(match self.score_mode {
            1 => b,
            2 => a,
            3 => longest.map_or(0.5, |p| if p { 0.0 } else { 1.0 }),
            _ => 0.5 * (a + b),
        })
    }

    fn reset(&mut self) {
        let fresh = SequenceMemory::new(
            self.levels as usize,
            self.calib,
            self.orders,
            self.table.len(),
            self.runs,
        );
        *self = SequenceMemory {
            collapse: self.collapse,
            score_mode: self.score_mode,
            ..fresh
        };
    }
}

#[cfg(test)]
mod tests {
    use super::super::synth::Rng;
    use super::*;

    fn run(m: &mut SequenceMemory, xs: &[f64]) -> Vec<f64> {
        xs.iter()
            .enumerate()
            .map(|(i, &x)| m.update(i as f64, x).unwrap_or(f64::NAN))
            .collect()
    }

    /// A repeating sawtooth with a little noise.
    fn pattern(n: usize, seed: u64) -> Vec<f64> {
        let mut r = Rng::new(seed);
        (0..n).map(|i| (i % 24) as f64 + 0.1 * r.normal()).collect()
    }

    #[test]
    fn learns_a_repeating_pattern() {
        let mut m = SequenceMemory::new(8, 100, 6, 2048, true);
        let out = run(&mut m, &pattern(3000, 1));
        assert!(out[..100].iter().all(|v| v.is_nan()));
        let early: f64 = out[100..200].iter().sum::<f64>() / 100.0;
        let late: f64 = out[2000..3000].iter().sum::<f64>() / 1000.0;
        assert!(early > 0.3, "early {early}");
        assert!(late < 0.02, "late {late}");
    }

    #[test]
    fn flags_a_break_in_the_pattern() {
        let mut m = SequenceMemory::new(8, 100, 6, 2048, true);
        let mut xs = pattern(3000, 2);
        // The sawtooth runs backwards for one period: the same values, in a new order.
        for i in 0..24 {
            xs[2400 + i] = (23 - i) as f64;
        }
        let out = run(&mut m, &xs);
        let before = out[2000..2400].iter().cloned().fold(0.0, f64::max);
        let during = out[2400..2424].iter().cloned().fold(0.0, f64::max);
        assert!(during >= 0.5, "during {during}");
        assert!(before < 0.3, "before {before}");
        assert!(out
            .iter()
            .filter(|v| !v.is_nan())
            .all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn deterministic() {
        let xs = pattern(2000, 3);
        let a = run(&mut SequenceMemory::new(8, 100, 6, 1024, true), &xs);
        let b = run(&mut SequenceMemory::new(8, 100, 6, 1024, true), &xs);
        assert_eq!(
            a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn memory_is_bounded_on_noise() {
        let mut m = SequenceMemory::new(8, 100, 8, 1024, true);
        let bytes = m.heap_bytes();
        let mut r = Rng::new(4);
        let xs: Vec<f64> = (0..50_000).map(|_| 100.0 * r.uniform()).collect();
        let out = run(&mut m, &xs);
        assert_eq!(m.heap_bytes(), bytes);
        assert_eq!(bytes, 1024 * 8);
        assert!(m.entries() <= 1024);
        // White noise keeps surprising a memory that can hold only a fraction of it.
        let late: f64 = out[40_000..].iter().sum::<f64>() / 10_000.0;
        assert!(late > 0.3, "late {late}");
    }

    #[test]
    fn bad_input_and_flat_series() {
        let mut m = SequenceMemory::new(8, 10, 4, 256, false);
        for i in 0..500 {
            let x = match i % 5 {
                0 => f64::NAN,
                1 => 1e308,
                2 => -1e308,
                _ => 3.0,
            };
            let v = m.update(i as f64, x);
            assert!(v.is_none_or(|v| (0.0..=1.0).contains(&v)));
        }
        let mut flat = SequenceMemory::new(8, 10, 4, 256, false);
        let out = run(&mut flat, &[5.0; 300]);
        assert!(out[50..].iter().all(|&v| v == 0.0));
    }
}
