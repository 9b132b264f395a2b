//! Streaming anomaly detectors: one pass, bounded memory per series, deterministic, no
//! look-ahead (the score at a sample uses only that sample and the ones before it).
//!
//! Each base detector turns a sample into a *surprise* (a non-negative z-like number, or
//! `None` while it warms up); [`Ensemble`] combines them into one anomaly score in
//! `[0, 1]` (a calibrated per-series tail probability, kept in a fixed-size
//! [`TailHistogram`], with [`ShapeNovelty`] channels for shapes never seen before);
//! [`PageHinkley`] reports drift, and
//! resets the base detectors when `EnsembleConfig::drift_reset` is set.
//! [`nab`] runs the ensemble over NAB files and [`score`] is NAB's scorer.
//!
//! Around the ensemble: [`Adwin`] drift detection, an [`IsolationForest`] over a
//! device's multivariate state, [`CapacityForecast`] for "disk full in N hours", the
//! per-device [`actor`] hosting them all, and the per-ship [`peer`] actor comparing
//! devices of a kind.

pub mod actor;
mod adwin;
mod art;
mod context;
mod drift;
mod ensemble;
mod ewma;
mod forecast;
mod iforest;
mod likelihood;
mod mad;
pub mod nab;
mod novelty;
pub mod peer;
pub mod score;
mod seasonal;
pub mod settings;

pub use adwin::Adwin;
pub use art::FuzzyArt;
pub use context::SequenceMemory;
pub use drift::PageHinkley;
pub use ensemble::{Ensemble, EnsembleConfig, Scored};
pub use ewma::Ewma;
pub use forecast::{CapacityForecast, ForecastConfig, Outlook};
pub use iforest::{IForestConfig, IsolationForest};
pub use likelihood::TailHistogram;
pub use mad::RollingMad;
pub use novelty::ShapeNovelty;
pub use seasonal::SeasonalBaseline;

/// A streaming base detector over `(timestamp seconds, value)` samples.
pub trait Detector {
    /// Scores the sample against what came before, then learns from it. `None` during
    /// warm-up.
    fn update(&mut self, t: f64, x: f64) -> Option<f64>;
    /// Forgets the learnt baseline (after drift): the detector warms up again.
    fn reset(&mut self);
}

#[cfg(test)]
pub(crate) mod synth {
    //! Deterministic synthetic series for the detector tests.

    /// A small deterministic PRNG (xorshift64*), Gaussian via Box–Muller.
    pub struct Rng(u64);
    impl Rng {
        pub fn new(seed: u64) -> Self {
            Rng(seed.max(1))
        }
        pub fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            ((self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }
        pub fn normal(&mut self) -> f64 {
            let (u, v) = (self.uniform(), self.uniform());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        }
    }

    /// `n` samples every 5 minutes: `base + noise * N(0,1)` plus a daily sine of `amp`.
    pub fn series(n: usize, base: f64, noise: f64, amp: f64, seed: u64) -> Vec<(f64, f64)> {
        let mut r = Rng::new(seed);
        (0..n)
            .map(|i| {
                let t = 1_400_000_000.0 + 300.0 * i as f64;
                let day = (t % 86_400.0) / 86_400.0 * 2.0 * std::f64::consts::PI;
                (t, base + amp * day.sin() + noise * r.normal())
            })
            .collect()
    }
}
