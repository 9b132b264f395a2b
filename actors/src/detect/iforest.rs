//! A streaming extended isolation forest (Liu, Ting & Zhou 2008; Hariri et al. 2019) for a device's multivariate
//! state: one row per scrape, the vector of the device's chosen series.
//!
//! Streaming use: rows go into a sliding window of `window` rows; every `retrain_every`
//! rows the forest is rebuilt from a seeded subsample of that window, so it follows the
//! device's current regime with memory bounded by `window · dim` values plus the trees.
//! A row is scored against the forest built from rows before it (no look-ahead). Why
//! this is written here rather than taken from a crate: docs/decisions/0007-detector-actors.md.

use std::collections::VecDeque;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Isolation-forest configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct IForestConfig {
    /// Trees in the forest.
    pub trees: usize,
    /// Rows subsampled per tree (ψ; 256 in the paper, 128 is enough for few dimensions).
    pub sample: usize,
    /// Sliding window of rows the forest is trained on.
    pub window: usize,
    /// Retrain after this many new rows.
    pub retrain_every: usize,
    /// No score before this many rows.
    pub warmup: usize,
    /// RNG seed (the forest is a pure function of the seed and the rows).
    pub seed: u64,
}

impl Default for IForestConfig {
    fn default() -> Self {
        IForestConfig {
            trees: 50,
            sample: 128,
            window: 512,
            retrain_every: 128,
            warmup: 128,
            seed: 0x5EA_3A7C,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Node {
    Leaf {
        size: u32,
    },
    /// Left when `w[0]·row[f[0]] + w[1]·row[f[1]] < offset`.
    Split {
        f: [u16; 2],
        w: [f64; 2],
        offset: f64,
        left: u32,
        right: u32,
    },
}

/// One tree: nodes, root at 0.
#[derive(Debug, Clone, Default)]
struct Tree {
    nodes: Vec<Node>,
}

/// Average path length of an unsuccessful BST search over `n` items: `c(n)`.
fn c(n: f64) -> f64 {
    if n <= 1.0 {
        0.0
    } else if n <= 2.0 {
        1.0
    } else {
        2.0 * ((n - 1.0).ln() + 0.577_215_664_9) - 2.0 * (n - 1.0) / n
    }
}

/// A streaming isolation forest over rows of a fixed dimension.
#[derive(Debug, Clone)]
pub struct IsolationForest {
    cfg: IForestConfig,
    dim: usize,
    rng: SmallRng,
    window: VecDeque<Vec<f64>>,
    trees: Vec<Tree>,
    /// Per-feature mean and inverse deviation of the training window: rows are
    /// standardised so random split directions weigh features alike.
    center: Vec<f64>,
    scale: Vec<f64>,
    scratch: Vec<f64>,
    flat: Vec<f64>,
    trained_on: usize,
    since_train: usize,
    idx: Vec<usize>,
}

impl IsolationForest {
    /// Heap bytes held (training window, trees and scratch buffers at capacity).
    pub fn heap_bytes(&self) -> usize {
        let f = std::mem::size_of::<f64>();
        self.window.capacity() * std::mem::size_of::<Vec<f64>>()
            + self.window.iter().map(|r| r.capacity() * f).sum::<usize>()
            + self.trees.capacity() * std::mem::size_of::<Tree>()
            + self
                .trees
                .iter()
                .map(|t| t.nodes.capacity() * std::mem::size_of::<Node>())
                .sum::<usize>()
            + (self.center.capacity()
                + self.scale.capacity()
                + self.scratch.capacity()
                + self.flat.capacity())
                * f
            + self.idx.capacity() * std::mem::size_of::<usize>()
    }

    /// An empty forest for rows of `dim` features.
    pub fn new(cfg: IForestConfig, dim: usize) -> Self {
        let cfg = IForestConfig {
            trees: cfg.trees.max(1),
            sample: cfg.sample.max(4),
            window: cfg.window.max(cfg.sample.max(4)),
            retrain_every: cfg.retrain_every.max(1),
            warmup: cfg.warmup.max(4),
            seed: cfg.seed,
        };
        IsolationForest {
            rng: SmallRng::seed_from_u64(cfg.seed),
            window: VecDeque::with_capacity(cfg.window),
            trees: Vec::new(),
            trained_on: 0,
            since_train: 0,
            idx: Vec::with_capacity(cfg.window),
            center: Vec::new(),
            scale: Vec::new(),
            scratch: Vec::new(),
            flat: Vec::new(),
            dim: dim.clamp(1, u16::MAX as usize),
            cfg,
        }
    }

    /// Row dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Scores `row` against the forest (anomaly score in `[0, 1]`, about 0.5 or less
    /// for ordinary rows, towards 1 for isolated ones), then learns from it. `None`
    /// during warm-up or for a row of the wrong dimension or with non-finite values.
    pub fn update(&mut self, row: &[f64]) -> Option<f64> {
        if row.len() != self.dim || row.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let score = (!self.trees.is_empty()).then(|| self.score_mut(row));
        if self.window.len() == self.cfg.window {
            // Reuse the evicted row's allocation.
            if let Some(mut old) = self.window.pop_front() {
                old.clear();
                old.extend_from_slice(row);
                self.window.push_back(old);
            }
        } else {
            self.window.push_back(row.to_vec());
        }
        self.since_train += 1;
        let due = if self.trees.is_empty() {
            self.window.len() >= self.cfg.warmup
        } else {
            self.since_train >= self.cfg.retrain_every
        };
        if due {
            self.train();
        }
        score
    }

    /// The anomaly score of `row` without learning from it (`0.5` for an untrained
    /// forest).
    pub fn score(&self, row: &[f64]) -> f64 {
        let mut z = Vec::with_capacity(row.len());
        self.score_with(row, &mut z)
    }

    fn score_mut(&mut self, row: &[f64]) -> f64 {
        let mut z = std::mem::take(&mut self.scratch);
        let s = self.score_with(row, &mut z);
        self.scratch = z;
        s
    }

    fn score_with(&self, row: &[f64], z: &mut Vec<f64>) -> f64 {
        if self.trees.is_empty() || row.len() != self.dim {
            return 0.5;
        }
        z.clear();
        z.extend(
            row.iter()
                .zip(self.center.iter().zip(&self.scale))
                .map(|(x, (c, s))| (x - c) * s),
        );
        let total: f64 = self.trees.iter().map(|t| path_length(t, z)).sum();
        let mean = total / self.trees.len() as f64;
        let norm = c(self.trained_on.min(self.cfg.sample) as f64).max(1e-9);
        2f64.powf(-mean / norm)
    }

    fn train(&mut self) {
        self.since_train = 0;
        let n = self.window.len();
        let psi = self.cfg.sample.min(n);
        let max_depth = (psi as f64).log2().ceil() as usize;
        self.trained_on = psi;
        // Standardise with the window's mean and deviation.
        self.center = vec![0.0; self.dim];
        self.scale = vec![0.0; self.dim];
        for r in &self.window {
            for (c, x) in self.center.iter_mut().zip(r) {
                *c += x / n as f64;
            }
        }
        for r in &self.window {
            for ((s, c), x) in self.scale.iter_mut().zip(&self.center).zip(r) {
                *s += (x - c) * (x - c) / n as f64;
            }
        }
        for s in &mut self.scale {
            *s = if *s > 1e-24 { 1.0 / s.sqrt() } else { 0.0 };
        }
        let dim = self.dim;
        let mut data = std::mem::take(&mut self.flat);
        data.clear();
        for r in &self.window {
            data.extend(
                r.iter()
                    .zip(self.center.iter().zip(&self.scale))
                    .map(|(x, (c, s))| (x - c) * s),
            );
        }
        let mut trees = std::mem::take(&mut self.trees);
        trees.resize_with(self.cfg.trees, Tree::default);
        for tree in trees.iter_mut() {
            // Partial Fisher–Yates: the first `psi` of `idx` are the subsample.
            self.idx.clear();
            self.idx.extend(0..n);
            for i in 0..psi {
                let j = self.rng.random_range(i..n);
                self.idx.swap(i, j);
            }
            tree.nodes.clear();
            let mut rows: Vec<usize> = self.idx[..psi].to_vec();
            build(
                tree,
                &Rows { data: &data, dim },
                &mut rows,
                0,
                max_depth,
                &mut self.rng,
            );
        }
        self.trees = trees;
        self.flat = data;
    }
}

/// Standardised training rows, flat.
struct Rows<'a> {
    data: &'a [f64],
    dim: usize,
}

impl Rows<'_> {
    fn get(&self, row: usize, feature: usize) -> f64 {
        self.data[row * self.dim + feature]
    }
}

/// Extended isolation forest split (Hariri et al. 2019) at extension level 1: a random
/// line in the plane of two random features, through a random point of the rows'
/// bounding box, so pairwise correlations are isolated too at the cost of two
/// multiplications per node.
fn build(
    tree: &mut Tree,
    data: &Rows<'_>,
    rows: &mut [usize],
    depth: usize,
    max_depth: usize,
    rng: &mut SmallRng,
) -> u32 {
    let me = tree.nodes.len() as u32;
    tree.nodes.push(Node::Leaf {
        size: rows.len() as u32,
    });
    if rows.len() <= 1 || depth >= max_depth {
        return me;
    }
    let dim = data.dim;
    // A few tries to find a plane with spread (constant features give none).
    for _ in 0..4 {
        let f0 = rng.random_range(0..dim);
        let f1 = if dim > 1 {
            (f0 + rng.random_range(1..dim)) % dim
        } else {
            f0
        };
        let mut w = [0.0; 2];
        let mut offset = 0.0;
        let mut spread = false;
        for (k, f) in [f0, f1].into_iter().enumerate() {
            if k == 1 && f1 == f0 {
                break;
            }
            let (lo, hi) = rows.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &r| {
                let v = data.get(r, f);
                (lo.min(v), hi.max(v))
            });
            if hi > lo {
                w[k] = rng.random_range(-1.0..1.0);
                offset += w[k] * rng.random_range(lo..hi);
                spread |= w[k] != 0.0;
            }
        }
        if !spread {
            continue;
        }
        let mut k = 0;
        for i in 0..rows.len() {
            let r = rows[i];
            if w[0] * data.get(r, f0) + w[1] * data.get(r, f1) < offset {
                rows.swap(i, k);
                k += 1;
            }
        }
        let (l, r) = rows.split_at_mut(k);
        let left = build(tree, data, l, depth + 1, max_depth, rng);
        let right = build(tree, data, r, depth + 1, max_depth, rng);
        tree.nodes[me as usize] = Node::Split {
            f: [f0 as u16, f1 as u16],
            w,
            offset,
            left,
            right,
        };
        return me;
    }
    me
}

fn path_length(tree: &Tree, row: &[f64]) -> f64 {
    let mut i = 0usize;
    let mut depth = 0.0;
    loop {
        match tree.nodes.get(i) {
            Some(Node::Split {
                f,
                w,
                offset,
                left,
                right,
            }) => {
                let x0 = row.get(f[0] as usize).copied().unwrap_or(0.0);
                let x1 = row.get(f[1] as usize).copied().unwrap_or(0.0);
                i = if w[0] * x0 + w[1] * x1 < *offset {
                    *left as usize
                } else {
                    *right as usize
                };
                depth += 1.0;
            }
            Some(Node::Leaf { size }) => return depth + c(*size as f64),
            None => return depth,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::synth::Rng;
    use super::*;

    /// Three features: load drives cpu and sessions, plus a noise feature.
    fn row(r: &mut Rng) -> Vec<f64> {
        let load = r.uniform();
        let cpu = 20.0 + 60.0 * load + r.normal();
        let sessions = 1_000.0 + 8_000.0 * load + 100.0 * r.normal();
        vec![cpu, sessions, 50.0 + r.normal()]
    }

    #[test]
    fn warmup_then_ordinary_rows_score_low_and_broken_correlation_high() {
        let mut r = Rng::new(3);
        let mut f = IsolationForest::new(IForestConfig::default(), 3);
        let mut normal = Vec::new();
        for i in 0..2000 {
            let s = f.update(&row(&mut r));
            if i < 127 {
                assert!(s.is_none());
            } else if i > 200 {
                normal.push(s.unwrap());
            }
        }
        let mut q = normal.clone();
        q.sort_by(f64::total_cmp);
        let (q50, q99) = (q[q.len() / 2], q[q.len() * 99 / 100]);
        assert!(
            q50 < 0.5 && q99 < 0.65,
            "ordinary rows: median {q50}, q99 {q99}"
        );
        // Low cpu with more sessions than ever at full load: jointly far off the usual
        // state. Isolation-forest scores are compressed (an out-of-range row isolates
        // about as fast as the most extreme usual rows), hence the calibrated use in
        // the detector actor: above the recent 99th percentile, sustained.
        let broken: Vec<f64> = (0..50)
            .map(|_| {
                f.score(&[
                    10.0 + r.normal(),
                    12_000.0 + 100.0 * r.normal(),
                    50.0 + r.normal(),
                ])
            })
            .collect();
        let mean = broken.iter().sum::<f64>() / broken.len() as f64;
        assert!(
            mean > q99 && mean > q50 + 0.1,
            "broken rows score {mean}, q99 {q99}"
        );
    }

    #[test]
    fn same_seed_same_scores_and_bad_rows_ignored() {
        let run = || {
            let mut r = Rng::new(9);
            let mut f = IsolationForest::new(IForestConfig::default(), 3);
            let mut out = Vec::new();
            for _ in 0..700 {
                out.push(f.update(&row(&mut r)));
                assert!(f.update(&[1.0, f64::NAN, 2.0]).is_none());
                assert!(f.update(&[1.0]).is_none());
            }
            out
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn constant_rows_never_panic() {
        let mut f = IsolationForest::new(IForestConfig::default(), 2);
        for _ in 0..600 {
            let s = f.update(&[1.0, 1.0]);
            assert!(s.is_none_or(|s| (0.0..=1.0).contains(&s)));
        }
    }
}
