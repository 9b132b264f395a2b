//! A streaming extended isolation forest (Liu, Ting & Zhou 2008; Hariri et al. 2019) for a device's multivariate
//! state: one row per scrape, the vector of the device's chosen series.
//!
//! Streaming use: rows go into a sliding window of `window` rows; every `retrain_every`
//! rows the forest is rebuilt from a seeded subsample of that window, so it follows the
//! device's current regime with memory bounded by `window · dim` values plus the trees.
//! A row is scored against the forest built from rows before it (no look-ahead). Why
//! this is written here rather than taken from a crate: docs/decisions/0007-detector-actors.md.

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

/// Marks a leaf in [`Node::f`].
const LEAF: u8 = u8::MAX;

/// One node in 16 bytes (was 40): split weights and offset in f32, feature indices in a
/// byte each, and one child index, the right child stored right after the left one.
#[derive(Debug, Clone, Copy)]
struct Node {
    /// Left when `w[0]·z[f[0]] + w[1]·z[f[1]] < offset` (in f32).
    w: [f32; 2],
    offset: f32,
    /// The split's two features; `f[0] == LEAF` for a leaf.
    f: [u8; 2],
    /// A split's left child (the right one is `next + 1`), a leaf's training rows.
    next: u16,
}

impl Node {
    fn leaf(size: usize) -> Node {
        Node {
            w: [0.0; 2],
            offset: 0.0,
            f: [LEAF; 2],
            next: size.min(u16::MAX as usize) as u16,
        }
    }
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

/// Largest subsample: a tree of `2 ψ - 1` nodes must be indexable by the `u16` child
/// index.
const MAX_SAMPLE: usize = 16_384;
/// Largest window (ring positions are sampled as `u16`).
const MAX_WINDOW: usize = u16::MAX as usize;
/// Largest row dimension (feature indices are bytes; [`LEAF`] is reserved).
/// (The detector actor truncates a device row to it.)
pub(crate) const MAX_DIM: usize = LEAF as usize;

/// A streaming isolation forest over rows of a fixed dimension.
///
/// Memory: the training window as f32 rows in one ring (`window · dim · 4` bytes) and
/// every tree's nodes in one buffer (16 bytes a node, at most `2 ψ - 1` a tree); the
/// standardised training rows are computed on the fly while a tree is built, not kept.
#[derive(Debug, Clone)]
pub struct IsolationForest {
    cfg: IForestConfig,
    dim: usize,
    rng: SmallRng,
    /// The window's rows, flat, as a ring of `cfg.window` rows once full.
    window: Vec<f32>,
    /// Ring position of the next row to overwrite once the window is full.
    head: usize,
    /// Every tree's nodes; tree `t` is `nodes[roots[t]..roots[t + 1]]`, root first.
    nodes: Vec<Node>,
    roots: Vec<u32>,
    /// Per-feature mean and inverse deviation of the training window: rows are
    /// standardised so random split directions weigh features alike.
    center: Vec<f64>,
    scale: Vec<f64>,
    scratch: Vec<f32>,
    trained_on: usize,
    since_train: usize,
}

impl IsolationForest {
    /// Heap bytes held (training window, trees and small buffers, at capacity).
    pub fn heap_bytes(&self) -> usize {
        self.window.capacity() * std::mem::size_of::<f32>()
            + self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.roots.capacity() * std::mem::size_of::<u32>()
            + (self.center.capacity() + self.scale.capacity()) * std::mem::size_of::<f64>()
            + self.scratch.capacity() * std::mem::size_of::<f32>()
    }

    /// An empty forest for rows of `dim` features (at most 255; extra features are
    /// ignored).
    pub fn new(cfg: IForestConfig, dim: usize) -> Self {
        let sample = cfg.sample.clamp(4, MAX_SAMPLE);
        let cfg = IForestConfig {
            trees: cfg.trees.max(1),
            sample,
            window: cfg.window.clamp(sample, MAX_WINDOW),
            retrain_every: cfg.retrain_every.max(1),
            warmup: cfg.warmup.max(4),
            seed: cfg.seed,
        };
        let dim = dim.clamp(1, MAX_DIM);
        IsolationForest {
            rng: SmallRng::seed_from_u64(cfg.seed),
            window: Vec::with_capacity(cfg.window * dim),
            head: 0,
            nodes: Vec::new(),
            roots: Vec::new(),
            trained_on: 0,
            since_train: 0,
            center: Vec::new(),
            scale: Vec::new(),
            scratch: Vec::with_capacity(dim),
            dim,
            cfg,
        }
    }

    /// Row dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Rows in the window.
    fn rows(&self) -> usize {
        self.window.len() / self.dim
    }

    /// Scores `row` against the forest (anomaly score in `[0, 1]`, about 0.5 or less
    /// for ordinary rows, towards 1 for isolated ones), then learns from it. `None`
    /// during warm-up or for a row of the wrong dimension or with non-finite values.
    pub fn update(&mut self, row: &[f64]) -> Option<f64> {
        if row.len() != self.dim || row.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let score = (!self.nodes.is_empty()).then(|| self.score_mut(row));
        if self.rows() == self.cfg.window {
            let at = self.head * self.dim;
            for (slot, x) in self.window[at..at + self.dim].iter_mut().zip(row) {
                *slot = *x as f32;
            }
            self.head = (self.head + 1) % self.cfg.window;
        } else {
            self.window.extend(row.iter().map(|&x| x as f32));
        }
        self.since_train += 1;
        let due = if self.nodes.is_empty() {
            self.rows() >= self.cfg.warmup
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

    fn score_with(&self, row: &[f64], z: &mut Vec<f32>) -> f64 {
        if self.nodes.is_empty() || row.len() != self.dim {
            return 0.5;
        }
        z.clear();
        z.extend(
            row.iter()
                .zip(self.center.iter().zip(&self.scale))
                .map(|(x, (c, s))| ((x - c) * s) as f32),
        );
        let trees = self.roots.len().saturating_sub(1);
        let total: f64 = self
            .roots
            .windows(2)
            .map(|r| path_length(&self.nodes[r[0] as usize..r[1] as usize], z))
            .sum();
        let mean = total / trees.max(1) as f64;
        let norm = c(self.trained_on.min(self.cfg.sample) as f64).max(1e-9);
        2f64.powf(-mean / norm)
    }

    fn train(&mut self) {
        self.since_train = 0;
        let n = self.rows();
        let dim = self.dim;
        let psi = self.cfg.sample.min(n);
        let max_depth = (psi as f64).log2().ceil() as usize;
        self.trained_on = psi;
        // Standardise with the window's mean and deviation.
        self.center.clear();
        self.center.resize(dim, 0.0);
        self.scale.clear();
        self.scale.resize(dim, 0.0);
        for r in self.window.chunks_exact(dim) {
            for (c, x) in self.center.iter_mut().zip(r) {
                *c += f64::from(*x) / n as f64;
            }
        }
        for r in self.window.chunks_exact(dim) {
            for ((s, c), x) in self.scale.iter_mut().zip(&self.center).zip(r) {
                let d = f64::from(*x) - c;
                *s += d * d / n as f64;
            }
        }
        for s in &mut self.scale {
            *s = if *s > 1e-24 { 1.0 / s.sqrt() } else { 0.0 };
        }
        let center: Vec<f32> = self.center.iter().map(|&c| c as f32).collect();
        let scale: Vec<f32> = self.scale.iter().map(|&s| s as f32).collect();
        let data = Rows {
            data: &self.window,
            dim,
            center: &center,
            scale: &scale,
        };
        // Ring positions, and a tree's subsample (the first `psi` after a partial
        // Fisher–Yates shuffle): transient, freed after training.
        let mut idx: Vec<u16> = (0..n as u16).collect();
        let mut rows: Vec<u16> = Vec::with_capacity(psi);
        self.nodes.clear();
        self.roots.clear();
        for _ in 0..self.cfg.trees {
            for i in 0..psi {
                let j = self.rng.random_range(i..n);
                idx.swap(i, j);
            }
            rows.clear();
            rows.extend_from_slice(&idx[..psi]);
            let root = self.nodes.len();
            self.roots.push(root as u32);
            self.nodes.push(Node::leaf(psi));
            build(
                &mut self.nodes,
                root,
                root,
                &data,
                &mut rows,
                0,
                max_depth,
                &mut self.rng,
            );
        }
        self.roots.push(self.nodes.len() as u32);
        // Hold what the trees use, not the growth's doubling.
        self.nodes.shrink_to_fit();
        self.roots.shrink_to_fit();
    }
}

/// The window's rows, standardised as they are read.
struct Rows<'a> {
    data: &'a [f32],
    dim: usize,
    center: &'a [f32],
    scale: &'a [f32],
}

impl Rows<'_> {
    fn get(&self, row: u16, feature: usize) -> f32 {
        (self.data[row as usize * self.dim + feature] - self.center[feature]) * self.scale[feature]
    }
}

/// Extended isolation forest split (Hariri et al. 2019) at extension level 1: a random
/// line in the plane of two random features, through a random point of the rows'
/// bounding box, so pairwise correlations are isolated too at the cost of two
/// multiplications per node. Node `me` (already pushed as a leaf of `rows`) becomes a
/// split when the rows can be split; its children are pushed next to each other, then
/// built in turn; child indices are relative to the tree's `root`.
#[allow(clippy::too_many_arguments)]
fn build(
    nodes: &mut Vec<Node>,
    root: usize,
    me: usize,
    data: &Rows<'_>,
    rows: &mut [u16],
    depth: usize,
    max_depth: usize,
    rng: &mut SmallRng,
) {
    if rows.len() <= 1 || depth >= max_depth {
        return;
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
        let mut w = [0.0f32; 2];
        let mut offset = 0.0f32;
        let mut spread = false;
        for (k, f) in [f0, f1].into_iter().enumerate() {
            if k == 1 && f1 == f0 {
                break;
            }
            let (lo, hi) = rows.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &r| {
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
        let left = nodes.len();
        let (l, r) = rows.split_at_mut(k);
        nodes.push(Node::leaf(l.len()));
        nodes.push(Node::leaf(r.len()));
        nodes[me] = Node {
            w,
            offset,
            f: [f0 as u8, f1 as u8],
            next: (left - root) as u16,
        };
        build(nodes, root, left, data, l, depth + 1, max_depth, rng);
        build(nodes, root, left + 1, data, r, depth + 1, max_depth, rng);
        return;
    }
}

/// Path length of standardised row `z` through one tree (its nodes, root first).
fn path_length(tree: &[Node], z: &[f32]) -> f64 {
    let mut i = 0usize;
    let mut depth = 0.0;
    while let Some(n) = tree.get(i) {
        if n.f[0] == LEAF {
            return depth + c(f64::from(n.next));
        }
        let x0 = z.get(n.f[0] as usize).copied().unwrap_or(0.0);
        let x1 = z.get(n.f[1] as usize).copied().unwrap_or(0.0);
        i = n.next as usize + usize::from(n.w[0] * x0 + n.w[1] * x1 >= n.offset);
        depth += 1.0;
    }
    depth
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
