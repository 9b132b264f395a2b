//! The ensemble: base detectors combined into one anomaly score in `[0, 1]`.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{
    Detector, Ewma, FuzzyArt, PageHinkley, RollingMad, SeasonalBaseline, SequenceMemory,
    ShapeNovelty, TailHistogram,
};

/// Ensemble configuration: one configuration serves every series.
#[derive(Debug, Clone, PartialEq)]
pub struct EnsembleConfig {
    /// No score before this many samples.
    pub warmup: usize,
    /// EWMA smoothing weight.
    pub ewma_alpha: f64,
    /// Rolling median/MAD window (samples).
    pub mad_window: usize,
    /// Seasonal period in seconds; `None` detects a daily period from the timestamps.
    pub season: Option<f64>,
    /// Per-slot learning rate of the seasonal baseline.
    pub season_alpha: f64,
    /// Page-Hinkley calibration length, tolerance and threshold (in deviations).
    pub drift: (usize, f64, f64),
    /// Reset the base detectors when Page-Hinkley reports drift (otherwise drift is only
    /// reported; the rolling baselines adapt by themselves).
    pub drift_reset: bool,
    /// Samples of combined surprise whose distribution calibrates the score.
    pub history: usize,
    /// Samples averaged into the short-term surprise.
    pub short: usize,
    /// Rising-edge suppression: a score not above the highest score of the previous
    /// `suppress` samples is scaled by `suppress_factor` (a burst reports once).
    pub suppress: usize,
    /// Factor applied to suppressed scores.
    pub suppress_factor: f64,
    /// How the short-term surprise becomes a score: 0 = Gaussian tail against the
    /// history's mean and deviation; 1 = the ratio to the history's `quantile`;
    /// 2 = calibrated tail probability (empirical below the history's `quantile`, an
    /// exponential peaks-over-threshold fit above it), log-scaled by `tail_scale`, so one
    /// threshold means the same rarity on every series; 3 (default) = the same idea with
    /// a fixed-size forgetting histogram per channel ([`TailHistogram`]) and the
    /// shape-novelty channels, the rarest channel (Bonferroni-corrected) setting the
    /// score; 4 = like 3 but EWMA, MAD and seasonal surprises as separate channels.
    pub mode: u8,
    /// Quantile of the history used by mode 1.
    pub quantile: f64,
    /// Mode 2: `-ln(tail probability)` that maps to score 1.
    pub tail_scale: f64,
    /// A score at or above this raises an alert (0.25: combined tail probability about
    /// 5.5e-4 in mode 3).
    pub alert_threshold: f64,
    /// Mode 3: log-spaced bins of the forgetting histogram that calibrates each channel
    /// (its time constant is `history` samples).
    pub calib_bins: usize,
    /// Shape-novelty channels, one per `(window blocks, block samples)`; each is
    /// calibrated on its own and the rarest channel (Bonferroni-corrected) sets the score.
    pub novelty_scales: Vec<(usize, usize)>,
    /// Prototypes remembered per novelty channel.
    pub novelty_k: usize,
    /// Vigilance radius of the novelty channels, in mean absolute deviations.
    pub novelty_rho: f64,
    /// Learning weight of the novelty channels' running level and scale.
    pub novelty_alpha: f64,
    /// Include the base detectors' surprise as a channel (mode 3).
    pub use_surprise: bool,
    /// After a score at or above `rest_level`, later scores within `rest` samples are
    /// scaled by `suppress_factor` (one report per event; modes 3 and 4).
    pub rest: usize,
    /// Score that starts a rest period.
    pub rest_level: f64,
    /// Time constant (samples) of a second, slower calibration histogram per channel
    /// whose tail probability bounds the fast one's from below; at most `history`: off.
    pub slow_history: usize,
    /// Largest shape of the generalised Pareto tail fitted by each channel's calibration
    /// ([`TailHistogram::with_heavy_tail`]); 0 = exponential tail.
    pub tail_xi: f64,
    /// Weighted Bonferroni over the channels (modes 3 and 4): weights of the base
    /// surprise, of each shape-novelty channel and of the sequence channel. A channel's
    /// tail probability is divided by its weight and the rarest result is multiplied by
    /// the weights' sum (all 1: the plain Bonferroni bound).
    pub chan_weights: [f64; 3],
    /// How rarity becomes a score (modes 3 and 4): 0 = `-ln(p)/tail_scale`; 1 = `-ln(p)`
    /// over `2 ln(n)`, n the samples seen (capped at `norm_cap`), so the score compares
    /// the rarity with how much has been seen (a record-like score); 2 = `(-ln(p) - ln(n))
    /// / tail_scale + 0.5`.
    pub norm: u8,
    /// Cap on the sample count in `norm` 1 and 2.
    pub norm_cap: usize,
    /// Factor applied to scores during a rest period (`suppress_factor` when negative).
    pub rest_factor: f64,
    /// Which scores keep their value during a rest: 0 (default, decision 0018) = none;
    /// 1 = every score above the alert threshold and the rest's peak (before 0018);
    /// 2 = only the first score reaching the alert threshold in a rest that a lower
    /// score began. In every case that first score raises [`Scored::alert`], so an
    /// event that builds up still alerts once.
    pub rest_escalate: u8,
    /// Contextual sequence memory ([`SequenceMemory`], modes 3 and 4): quantisation
    /// levels over the range of the first `seq_calib` samples; 0 turns it off.
    pub seq_levels: usize,
    /// Samples whose minimum and maximum fix the sequence memory's value range.
    pub seq_calib: usize,
    /// Longest context of the sequence memory, in (collapsed) symbols.
    pub seq_orders: usize,
    /// Entries of the sequence memory's context table (8 bytes each).
    pub seq_slots: usize,
    /// Include the current level's run length in the contexts.
    pub seq_runs: bool,
    /// How the sequence memory joins the score: its short average is a calibrated
    /// channel like the others, and, when `seq_direct > 0`, the score is at least
    /// `seq_direct * (short average)` as well (its raw share of unpredicted contexts).
    pub seq_direct: f64,
    /// Collapse repeated symbols in the sequence memory's history.
    pub seq_collapse: bool,
    /// The sequence memory's score (see [`SequenceMemory::score_mode`]).
    pub seq_score: u8,
    /// Samples averaged into the sequence channel's short-term value.
    pub seq_short: usize,
    /// Fuzzy ART category memory ([`FuzzyArt`], modes 3 and 4): blocks per window; 0
    /// turns it off.
    pub art_dim: usize,
    /// Samples per ART block (each block is its sample farthest from the level).
    pub art_block: usize,
    /// Categories the ART memory holds.
    pub art_k: usize,
    /// Samples whose range normalises the ART input.
    pub art_calib: usize,
    /// Noise dead zone of the ART input, in units of that range.
    pub art_chomp: f64,
    /// Lowest and highest ART vigilance.
    pub art_rho: (f64, f64),
    /// Rate of new ART categories the vigilance adapts to (0: fixed at the highest).
    pub art_target: f64,
    /// Gate: a score is scaled by `art_factor` unless the ART memory met a window that
    /// fitted no category within the last `art_hold` samples (1: no gate).
    pub art_factor: f64,
    /// Samples a new ART category keeps the gate open.
    pub art_hold: usize,
    /// A chosen ART category that has learnt fewer inputs than this still opens the gate.
    pub art_young: u32,
    /// Rarity of the ART gate's openings: when above 0, a new category opens the gate
    /// only in proportion to `1 - rate / art_rate`, `rate` the recent share of inputs
    /// that created a category (forgetting weight `art_rate_alpha`), so on a series whose
    /// windows are often new a new one says little.
    pub art_rate: f64,
    /// Forgetting weight of that share.
    pub art_rate_alpha: f64,
    /// A second ART memory with blocks of this many samples (0: none); a new category in
    /// either opens the gate.
    pub art_block2: usize,
    /// Also rank the ART mismatch (`1 -` best match) as a calibrated channel.
    pub art_channel: bool,
    /// Length penalty (decision 0020): the score is lowered by `len_penalty *
    /// ln(n / len_ref) / tail_scale` once `n`, the samples seen, passes `len_ref`, so a
    /// long series needs a slightly rarer value to report (0: off).
    pub len_penalty: f64,
    /// Samples after which the length penalty starts.
    pub len_ref: usize,
}

/// The one configuration: what the device detector actors run and what `seawatch nab
/// run` scores (decision 0054). Each feature was kept only if it helped on NAB's
/// leave-one-category-out hold-out and on the synthetic ship suite
/// (`actors/examples/ship_suite.rs`); the length penalty of decision 0020 is off (it
/// cost the ship suite recall), the rising-edge suppression is off (800 bytes a series
/// for no measurable gain), and the sequence-memory and ART tables are a quarter and
/// half of their NAB-tuned sizes (memory).
impl Default for EnsembleConfig {
    fn default() -> Self {
        EnsembleConfig {
            warmup: 150,
            ewma_alpha: 0.005,
            mad_window: 300,
            season: None,
            season_alpha: 0.1,
            drift: (100, 0.5, 60.0),
            drift_reset: false,
            history: 6000,
            short: 3,
            suppress: 0,
            suppress_factor: 0.2,
            mode: 3,
            quantile: 0.99,
            tail_scale: 30.0,
            alert_threshold: 0.25,
            calib_bins: 128,
            novelty_scales: vec![(8, 1)],
            novelty_k: 64,
            novelty_rho: 1.0,
            novelty_alpha: 0.002,
            use_surprise: true,
            rest: 60,
            rest_level: 0.155,
            slow_history: 0,
            tail_xi: 0.0,
            chan_weights: [1.0, 1.0, 1.0],
            norm: 0,
            norm_cap: 6000,
            rest_factor: -1.0,
            rest_escalate: 0,
            seq_levels: 8,
            seq_calib: 150,
            seq_orders: 6,
            seq_slots: 512,
            seq_runs: false,
            seq_direct: 0.0,
            seq_collapse: true,
            seq_score: 0,
            seq_short: 3,
            art_dim: 8,
            art_block: 4,
            art_k: 32,
            art_calib: 150,
            art_chomp: 0.0,
            art_rho: (0.8, 0.97),
            art_target: 0.0,
            art_factor: 0.7,
            art_hold: 2,
            art_channel: false,
            art_young: 0,
            art_block2: 0,
            art_rate: 0.0,
            art_rate_alpha: 0.01,
            len_penalty: 0.0,
            len_ref: 1000,
        }
    }
}

/// One scored sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// Anomaly score in `[0, 1]`; `None` during warm-up.
    pub score: Option<f64>,
    /// `score >= alert_threshold`, or, during a rest period that a lower score began,
    /// the first score reaching the threshold before the rest's suppression (the
    /// reported score stays suppressed: NAB counts only an event's earliest detection).
    pub alert: bool,
    /// Page-Hinkley reported drift at this sample (the base detectors were reset when
    /// `drift_reset` is set).
    pub drift: bool,
    /// The score before the one-report-per-event shaping (rising-edge suppression and
    /// the rest): what an alert gate with its own hysteresis reads (the detector
    /// actors' k-of-n gate), while `score` is the stream NAB's scorer reads.
    pub raw: Option<f64>,
}

/// Ensemble of EWMA z-score, rolling median/MAD, seasonal baseline, shape novelty and
/// Page-Hinkley drift. The base surprises are averaged (the seasonal one only when it
/// predicts better than the EWMA level); that and each shape-novelty channel are scored
/// as short-term averages against their own recent distributions (tail probabilities,
/// log-scaled into `[0, 1]`), and a fuzzy ART category memory ([`FuzzyArt`]) scales
/// down scores away from windows it has not learnt (decision 0019). Memory is fixed
/// after warm-up (about 19 KB with the defaults, 22 KB once a daily period is found; see
/// [`Ensemble::memory_bytes`]).
#[derive(Debug, Clone)]
pub struct Ensemble {
    /// Shared by every series of a detector (decision 0083): 8 bytes a series, not 440.
    cfg: Arc<EnsembleConfig>,
    n: usize,
    ewma: Ewma,
    mad: RollingMad,
    season: SeasonalBaseline,
    ph: PageHinkley,
    ewma_err: f64,
    hist: VecDeque<f64>,
    sum: f64,
    sum2: f64,
    short: VecDeque<f64>,
    recent: VecDeque<f64>,
    /// Highest value in `recent` (`f64::MIN` when empty), kept as values come and go.
    recent_max: f64,
    scratch: Vec<f64>,
    calib: Calibration,
    base: Vec<Channel>,
    novelty: Vec<(ShapeNovelty, Channel)>,
    seq: Option<(SequenceMemory, Channel)>,
    art: Option<(FuzzyArt, Option<Channel>)>,
    art2: Option<FuzzyArt>,
    /// Samples since the ART memory last met a window that fitted no category
    /// (`usize::MAX` before it scores).
    since_novel: usize,
    /// Recent share of ART inputs that created a category, and the gate's opening at the
    /// last new category.
    art_rate: f64,
    art_open: f64,
    since_alert: usize,
    rest_peak: f64,
    /// The channel that set the last score (0 = base surprise, then the novelty
    /// channels, then the sequence memory); a diagnostic.
    last_channel: u8,
}

/// One calibrated channel: a short average of a statistic, ranked against that
/// average's own forgetting histogram.
#[derive(Debug, Clone)]
struct Channel {
    short: VecDeque<f64>,
    calib: Calibration,
}

/// A channel's calibration: the forgetting histogram, and optionally a slower one whose
/// tail probability bounds the fast one's from below (a value must be rare both recently
/// and over the longer memory; recurring bursts farther apart than the fast horizon are
/// then remembered).
#[derive(Debug, Clone)]
struct Calibration {
    fast: TailHistogram,
    /// Boxed: off in the shared configuration, so 8 bytes instead of 96.
    slow: Option<Box<TailHistogram>>,
}

impl Calibration {
    fn new(cfg: &EnsembleConfig, bins: usize) -> Self {
        let h =
            |horizon| TailHistogram::new(bins, horizon, cfg.quantile).with_heavy_tail(cfg.tail_xi);
        Calibration {
            fast: h(cfg.history),
            slow: (cfg.slow_history > cfg.history && bins > 0)
                .then(|| Box::new(h(cfg.slow_history))),
        }
    }

    fn tail_then_add(&mut self, v: f64, min_count: usize) -> Option<f64> {
        let p = self.fast.tail_then_add(v, min_count);
        match self.slow.as_mut() {
            Some(slow) => {
                let q = slow.tail_then_add(v, min_count);
                p.map(|p| q.map_or(p, |q| p.max(q)))
            }
            None => p,
        }
    }

    fn heap_bytes(&self) -> usize {
        self.fast.heap_bytes()
            + self
                .slow
                .as_ref()
                .map_or(0, |s| s.heap_bytes() + std::mem::size_of::<TailHistogram>())
    }
}

impl Channel {
    fn new(cfg: &EnsembleConfig) -> Self {
        Channel {
            short: VecDeque::with_capacity(cfg.short.max(1)),
            calib: Calibration::new(cfg, cfg.calib_bins),
        }
    }

    /// Adds a value; returns the tail probability of the short average before learning
    /// it (`None` during the first 50 values).
    fn push(&mut self, v: f64, short: usize) -> Option<f64> {
        if self.short.len() == short.max(1) {
            self.short.pop_front();
        }
        self.short.push_back(v);
        let s = self.short.iter().sum::<f64>() / self.short.len() as f64;
        self.calib.tail_then_add(s, 50)
    }

    fn heap_bytes(&self) -> usize {
        self.short.capacity() * 8 + self.calib.heap_bytes()
    }
}

/// Upper Gaussian tail `P(Z > z)` (Abramowitz–Stegun 7.1.26 erfc approximation).
fn gaussian_tail(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let y = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))))
        * (-x * x).exp();
    let erfc = if x >= 0.0 { y } else { 2.0 - y };
    0.5 * erfc
}

impl Ensemble {
    /// A fresh ensemble for one series; pass an `Arc` to share one configuration
    /// between series.
    pub fn new(cfg: impl Into<Arc<EnsembleConfig>>) -> Self {
        let cfg: Arc<EnsembleConfig> = cfg.into();
        Ensemble {
            n: 0,
            ewma: Ewma::new(cfg.ewma_alpha, 30),
            mad: RollingMad::new(cfg.mad_window, 30),
            season: SeasonalBaseline::new(cfg.season, cfg.season_alpha, 3, 288),
            ph: PageHinkley::new(cfg.drift.0, cfg.drift.1, cfg.drift.2),
            ewma_err: 0.0,
            hist: VecDeque::with_capacity(if cfg.mode < 3 { cfg.history } else { 0 }),
            sum: 0.0,
            sum2: 0.0,
            short: VecDeque::with_capacity(cfg.short),
            recent: VecDeque::with_capacity(cfg.suppress),
            recent_max: f64::MIN,
            scratch: Vec::with_capacity(if cfg.mode < 3 { cfg.history } else { 0 }),
            calib: Calibration::new(&cfg, if cfg.mode == 3 { cfg.calib_bins } else { 0 }),
            novelty: cfg
                .novelty_scales
                .iter()
                .map(|&(w, b)| {
                    (
                        ShapeNovelty::new(w, b, cfg.novelty_k, cfg.novelty_rho, cfg.novelty_alpha),
                        Channel::new(&cfg),
                    )
                })
                .collect(),
            base: if cfg.mode == 4 {
                (0..3).map(|_| Channel::new(&cfg)).collect()
            } else {
                Vec::new()
            },
            seq: (cfg.seq_levels > 0).then(|| {
                let mut m = SequenceMemory::new(
                    cfg.seq_levels,
                    cfg.seq_calib,
                    cfg.seq_orders,
                    cfg.seq_slots,
                    cfg.seq_runs,
                );
                m.collapse = cfg.seq_collapse;
                m.score_mode = cfg.seq_score;
                (m, Channel::new(&cfg))
            }),
            art: (cfg.art_dim > 0).then(|| {
                let mut a = FuzzyArt::new(
                    cfg.art_dim,
                    cfg.art_block,
                    cfg.art_k,
                    cfg.art_calib,
                    cfg.art_chomp,
                    cfg.art_rho.0,
                    cfg.art_rho.1,
                    cfg.art_target,
                );
                a.young = cfg.art_young;
                (a, cfg.art_channel.then(|| Channel::new(&cfg)))
            }),
            art2: (cfg.art_dim > 0 && cfg.art_block2 > 0).then(|| {
                FuzzyArt::new(
                    cfg.art_dim,
                    cfg.art_block2,
                    cfg.art_k,
                    cfg.art_calib,
                    cfg.art_chomp,
                    cfg.art_rho.0,
                    cfg.art_rho.1,
                    cfg.art_target,
                )
            }),
            since_novel: usize::MAX,
            art_rate: 0.0,
            art_open: 1.0,
            since_alert: usize::MAX,
            rest_peak: 0.0,
            last_channel: 0,
            cfg,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EnsembleConfig {
        &self.cfg
    }

    /// The channel whose tail probability set the last score in modes 3 and 4 (0 = the
    /// base surprise, 1.. the shape-novelty channels, then the sequence memory).
    pub fn last_channel(&self) -> u8 {
        self.last_channel
    }

    fn note(&mut self, pmin: &mut f64, p: f64, channel: u8) {
        if p < *pmin {
            *pmin = p;
            self.last_channel = channel;
        }
    }

    /// Moves the alert threshold (new detector settings); everything learned is kept.
    /// The configuration is copied for this series if it was shared.
    pub fn set_alert_threshold(&mut self, t: f64) {
        Arc::make_mut(&mut self.cfg).alert_threshold = t;
    }

    /// Shares `cfg` from now on, keeping everything learned: it may differ from the
    /// current configuration in its alert threshold only (what
    /// [`Ensemble::set_alert_threshold`] moves); otherwise `false` and nothing changes.
    pub fn share_config(&mut self, cfg: Arc<EnsembleConfig>) -> bool {
        let same = EnsembleConfig {
            alert_threshold: cfg.alert_threshold,
            ..(*self.cfg).clone()
        } == *cfg;
        if same {
            self.cfg = cfg;
        }
        same
    }

    /// Bytes held per series: the struct itself plus every heap buffer (at its
    /// allocated capacity; the novelty memories counted full). The configuration is
    /// shared and not counted here: see [`Ensemble::config_bytes`].
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.mad.heap_bytes()
            + self.season.heap_bytes()
            + (self.hist.capacity()
                + self.short.capacity()
                + self.recent.capacity()
                + self.scratch.capacity())
                * std::mem::size_of::<f64>()
            + self.calib.heap_bytes()
            + self
                .base
                .iter()
                .map(|c| c.heap_bytes() + std::mem::size_of::<Channel>())
                .sum::<usize>()
            + self
                .novelty
                .iter()
                .map(|(d, c)| {
                    d.heap_bytes() + c.heap_bytes() + std::mem::size_of::<(ShapeNovelty, Channel)>()
                })
                .sum::<usize>()
            + self
                .seq
                .as_ref()
                .map_or(0, |(d, c)| d.heap_bytes() + c.heap_bytes())
            + self.art.as_ref().map_or(0, |(d, c)| {
                d.heap_bytes()
                    + c.as_ref()
                        .map_or(0, |c| c.heap_bytes() + std::mem::size_of::<Channel>())
            })
    }

    /// Bytes of the (shared) configuration, for its holder to count once.
    pub fn config_bytes(cfg: &EnsembleConfig) -> usize {
        std::mem::size_of::<EnsembleConfig>()
            + cfg.novelty_scales.capacity() * std::mem::size_of::<(usize, usize)>()
    }

    /// Scores a sample at time `t` (seconds) from it and the samples before it only.
    pub fn update(&mut self, t: f64, x: f64) -> Scored {
        self.n += 1;
        if !x.is_finite() {
            return Scored {
                score: None,
                alert: false,
                drift: false,
                raw: None,
            };
        }
        let level = self.ewma.mean();
        let ez = self.ewma.update(t, x);
        if ez.is_some() {
            self.ewma_err += 0.01 * ((x - level).abs() - self.ewma_err);
        }
        let mz = self.mad.update(t, x);
        let sz = self.season.update(t, x);
        self.ph.update(t, x);
        let drift = self.ph.drifted();

        let seasonal_helps = self
            .season
            .mean_abs_error()
            .is_some_and(|e| e < 0.8 * self.ewma_err);
        let mut zsum = 0.0;
        let mut k = 0.0;
        for z in [ez, mz, sz.filter(|_| seasonal_helps)]
            .into_iter()
            .flatten()
        {
            zsum += z.min(50.0);
            k += 1.0;
        }
        if self.cfg.mode == 4 {
            let zs = [ez, mz, sz.filter(|_| seasonal_helps)];
            return self.update_channels(t, x, zs, drift);
        }
        if drift && self.cfg.drift_reset {
            self.ewma.reset();
            self.mad.reset();
            self.season.reset();
        }
        if k == 0.0 {
            // Recalibrating after drift: past warm-up this is "nothing unusual".
            let score = (self.n > self.cfg.warmup && !self.hist.is_empty()).then_some(0.0);
            return self.out(score, drift);
        }
        let raw = zsum / k;

        if self.short.len() == self.cfg.short.max(1) {
            self.short.pop_front();
        }
        self.short.push_back(raw);
        let short = self.short.iter().sum::<f64>() / self.short.len() as f64;

        if self.cfg.mode == 3 {
            return self.update_calibrated(t, x, short, drift);
        }
        let score = if self.hist.len() >= 50 && self.n > self.cfg.warmup && self.cfg.mode == 1 {
            self.scratch.clear();
            self.scratch.extend(self.hist.iter().copied());
            let k = ((self.scratch.len() - 1) as f64 * self.cfg.quantile) as usize;
            let (_, q, _) = self.scratch.select_nth_unstable_by(k, f64::total_cmp);
            let r = short / q.max(1e-3);
            Some(r / (1.0 + r))
        } else if self.hist.len() >= 50 && self.n > self.cfg.warmup && self.cfg.mode == 2 {
            // Peaks over threshold: exponential tail fitted above the `quantile` of the
            // history; the score is the log-scaled tail probability of `short`.
            self.scratch.clear();
            self.scratch.extend(self.hist.iter().copied());
            let n = self.scratch.len();
            let k = ((n - 1) as f64 * self.cfg.quantile) as usize;
            let (_, q, above) = self.scratch.select_nth_unstable_by(k, f64::total_cmp);
            let q = *q;
            let excess = above.iter().map(|v| v - q).sum::<f64>() / above.len().max(1) as f64;
            let scale = excess.max(1e-3 * q.abs()).max(1e-6);
            let base = (n - k) as f64 / n as f64;
            let p = if short <= q {
                let below = self.scratch[..k].iter().filter(|&&v| v < short).count();
                1.0 - below as f64 / n as f64
            } else {
                base * (-(short - q) / scale).exp()
            };
            Some((-(p.max(1e-300)).ln() / self.cfg.tail_scale).clamp(0.0, 1.0))
        } else if self.hist.len() >= 50 && self.n > self.cfg.warmup {
            let m = self.sum / self.hist.len() as f64;
            let var = (self.sum2 / self.hist.len() as f64 - m * m).max(0.0);
            let sd = var.sqrt().max(1e-3);
            let tail = gaussian_tail((short - m) / sd);
            Some(((tail + 1e-10).ln() / (1e-10f64).ln()).clamp(0.0, 1.0))
        } else {
            None
        };
        if self.hist.len() == self.cfg.history.max(1) {
            if let Some(old) = self.hist.pop_front() {
                self.sum -= old;
                self.sum2 -= old * old;
            }
        }
        self.hist.push_back(short);
        self.sum += short;
        self.sum2 += short * short;
        let raw = score;
        let score = score.map(|s| self.suppress(s));
        Scored {
            raw,
            ..self.out(score, drift)
        }
    }

    /// Mode 3: every channel (the base surprise and each shape-novelty channel) is
    /// calibrated by its own forgetting histogram; the rarest channel's tail probability,
    /// times the number of channels, is the score's probability.
    fn update_calibrated(&mut self, t: f64, x: f64, short: f64, drift: bool) -> Scored {
        let cfg = &self.cfg;
        let mut pmin = f64::INFINITY;
        let mut m = 0.0;
        if cfg.use_surprise {
            let w = cfg.chan_weights[0];
            m += w;
            if let Some(p) = self.calib.tail_then_add(short, 50) {
                self.note(&mut pmin, p / w, 0);
            }
        }
        let floor = self.shape_channels(t, x, &mut pmin, &mut m);
        self.finish(pmin, m, floor, drift)
    }

    /// The shape-novelty and sequence-memory channels, shared by modes 3 and 4: folds
    /// their tail probabilities into `pmin`, counts them in `m`, and returns the sequence
    /// memory's direct floor (0 without it).
    #[inline]
    fn shape_channels(&mut self, t: f64, x: f64, pmin: &mut f64, m: &mut f64) -> f64 {
        let cfg = &self.cfg;
        let [_, wn, wq] = cfg.chan_weights;
        for (i, (det, ch)) in self.novelty.iter_mut().enumerate() {
            *m += wn;
            if let Some(p) = det.update(t, x).and_then(|v| ch.push(v, cfg.short)) {
                if p / wn < *pmin {
                    *pmin = p / wn;
                    self.last_channel = 1 + i as u8;
                }
            }
        }
        let mut floor = 0.0;
        if let Some((det, ch)) = self.seq.as_mut() {
            *m += wq;
            if let Some(v) = det.update(t, x) {
                if let Some(p) = ch.push(v, cfg.seq_short) {
                    if p / wq < *pmin {
                        *pmin = p / wq;
                        self.last_channel = 1 + self.novelty.len() as u8;
                    }
                }
                let avg = ch.short.iter().sum::<f64>() / ch.short.len().max(1) as f64;
                floor = cfg.seq_direct * avg;
            }
        }
        let novel2 = self.art2.as_mut().is_some_and(|a| {
            a.update(t, x);
            a.novel()
        });
        if let Some((det, ch)) = self.art.as_mut() {
            if let Some(v) = det.update(t, x) {
                let nov = det.novel() || novel2;
                if cfg.art_rate > 0.0 {
                    if nov {
                        self.art_open = (1.0 - self.art_rate / cfg.art_rate).clamp(0.0, 1.0);
                    }
                    self.art_rate +=
                        cfg.art_rate_alpha * (f64::from(u8::from(nov)) - self.art_rate);
                }
                if nov {
                    self.since_novel = 0;
                } else {
                    self.since_novel = self.since_novel.saturating_add(1);
                }
                if let Some(ch) = ch.as_mut() {
                    *m += 1.0;
                    if let Some(p) = ch.push(v, cfg.short) {
                        if p < *pmin {
                            *pmin = p;
                            self.last_channel = 2 + self.novelty.len() as u8;
                        }
                    }
                }
            }
        }
        floor
    }

    /// Mode 4: each base detector's surprise is a channel of its own (so one detector's
    /// rare surprise is not averaged away by the others), plus the novelty channels.
    fn update_channels(&mut self, t: f64, x: f64, zs: [Option<f64>; 3], drift: bool) -> Scored {
        let cfg = &self.cfg;
        let mut pmin = f64::INFINITY;
        let mut m = 0.0;
        let w = cfg.chan_weights[0];
        for (z, ch) in zs.into_iter().zip(self.base.iter_mut()) {
            m += w;
            if let Some(p) = z.and_then(|z| ch.push(z.min(1e3), cfg.short)) {
                pmin = pmin.min(p / w);
            }
        }
        let floor = self.shape_channels(t, x, &mut pmin, &mut m);
        self.finish(pmin, m, floor, drift)
    }

    /// The score from the rarest channel's tail probability over `m` channels, with
    /// rising-edge and rest-period suppression; `floor` is a lower bound on the score
    /// before suppression (the sequence memory's direct share).
    fn finish(&mut self, pmin: f64, m: f64, floor: f64, drift: bool) -> Scored {
        let cfg = &self.cfg;
        if self.n <= cfg.warmup {
            return self.out(None, drift);
        }
        let p = (pmin * m.max(1.0)).min(1.0);
        let surprise = -(p.max(1e-300)).ln();
        let ln_n = || (self.n.min(cfg.norm_cap.max(2)) as f64).ln();
        let s = match cfg.norm {
            1 => surprise / (2.0 * ln_n()),
            2 => (surprise - ln_n()) / cfg.tail_scale + 0.5,
            _ => surprise / cfg.tail_scale,
        }
        .max(floor)
        .clamp(0.0, 1.0);
        let s = if cfg.len_penalty > 0.0 && self.n > cfg.len_ref.max(1) {
            let over = (self.n as f64 / cfg.len_ref.max(1) as f64).ln();
            (s - cfg.len_penalty * over / cfg.tail_scale).max(0.0)
        } else {
            s
        };
        // The ART gate: a score counts in full only near a window the category memory
        // had not learnt.
        let s = if self.art.is_some() && self.since_novel > cfg.art_hold {
            s * cfg.art_factor
        } else if self.art.is_some() {
            s * (cfg.art_factor + (1.0 - cfg.art_factor) * self.art_open)
        } else {
            s
        };
        let raw = s;
        let mut s = self.suppress(s);
        let resting = self.since_alert < self.cfg.rest;
        let alert = self.cfg.alert_threshold;
        // An event that a score under the alert threshold began reaches it during its
        // rest: that raises the alert (once per rest) whatever `rest_escalate` says
        // about the score.
        let first_alert = resting && s >= alert && self.rest_peak < alert;
        let escalates = match self.cfg.rest_escalate {
            1 => s >= alert && s > self.rest_peak,
            2 => first_alert,
            _ => false,
        };
        if first_alert {
            self.rest_peak = s;
        }
        if resting && !escalates {
            s *= if self.cfg.rest_factor < 0.0 {
                self.cfg.suppress_factor
            } else {
                self.cfg.rest_factor
            };
        }
        self.since_alert = self.since_alert.saturating_add(1);
        if s >= self.cfg.rest_level {
            // A new event starts a rest; what may still report during it is set by
            // `rest_escalate` (decision 0018: NAB counts only the earliest detection
            // of a window and charges every later one outside it).
            if !resting || s > self.rest_peak {
                self.rest_peak = s;
            }
            if !resting {
                self.since_alert = 0;
            }
        }
        Scored {
            score: Some(s),
            alert: s >= alert || first_alert,
            drift,
            raw: Some(raw),
        }
    }

    fn suppress(&mut self, s: f64) -> f64 {
        if self.cfg.suppress == 0 {
            return s;
        }
        let prev = self.recent_max;
        if self.recent.len() == self.cfg.suppress {
            // Rescan only when the highest value leaves the window.
            if self.recent.pop_front() == Some(prev) {
                self.recent_max = self.recent.iter().copied().fold(f64::MIN, f64::max);
            }
        }
        self.recent.push_back(s);
        self.recent_max = self.recent_max.max(s);
        if s > prev {
            s
        } else {
            s * self.cfg.suppress_factor
        }
    }

    fn out(&self, score: Option<f64>, drift: bool) -> Scored {
        Scored {
            score,
            alert: score.is_some_and(|s| s >= self.cfg.alert_threshold),
            drift,
            raw: score,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::synth::series;
    use super::*;

    fn run(e: &mut Ensemble, s: &[(f64, f64)]) -> Vec<Scored> {
        s.iter().map(|&(t, x)| e.update(t, x)).collect()
    }

    fn alerts(v: &[Scored]) -> Vec<usize> {
        v.iter()
            .enumerate()
            .filter(|(_, s)| s.alert)
            .map(|(i, _)| i)
            .collect()
    }

    #[test]
    fn warmup_then_scores_in_unit_interval() {
        let mut e = Ensemble::new(EnsembleConfig::default());
        let out = run(&mut e, &series(3000, 10.0, 1.0, 5.0, 1));
        assert!(out[..150].iter().all(|s| s.score.is_none() && !s.alert));
        assert!(out[200..].iter().all(|s| s.score.is_some()));
        assert!(out
            .iter()
            .flat_map(|s| s.score)
            .all(|s| (0.0..=1.0).contains(&s)));
    }

    #[test]
    fn clean_series_do_not_alert() {
        for (noise, amp, seed) in [(1.0, 0.0, 2), (0.5, 10.0, 3), (2.0, 3.0, 4)] {
            let mut e = Ensemble::new(EnsembleConfig::default());
            let out = run(&mut e, &series(4000, 20.0, noise, amp, seed));
            let a = alerts(&out);
            assert!(a.len() <= 2, "noise {noise} amp {amp}: alerts at {a:?}");
        }
    }

    fn anomaly_detected(mutate: impl Fn(usize, f64) -> f64, seed: u64) {
        let mut e = Ensemble::new(EnsembleConfig::default());
        let s: Vec<(f64, f64)> = series(4000, 20.0, 1.0, 5.0, seed)
            .into_iter()
            .enumerate()
            .map(|(i, (t, x))| (t, mutate(i, x)))
            .collect();
        let out = run(&mut e, &s);
        let a = alerts(&out);
        assert!(a.iter().any(|&i| (3000..3100).contains(&i)), "alerts {a:?}");
        assert!(a.iter().filter(|&&i| i < 3000).count() <= 2, "alerts {a:?}");
    }

    #[test]
    fn spike() {
        anomaly_detected(|i, x| if i == 3000 { x + 15.0 } else { x }, 10);
    }

    #[test]
    fn level_shift() {
        anomaly_detected(|i, x| if i >= 3000 { x + 8.0 } else { x }, 11);
    }

    /// NAB counts an event's earliest detection only: after the score that starts a
    /// rest, no score in the rest reaches the alert threshold, yet the event still
    /// raises `alert` (decision 0018).
    #[test]
    fn rest_reports_an_event_once() {
        let cfg = EnsembleConfig::default();
        let s: Vec<(f64, f64)> = series(4000, 20.0, 1.0, 5.0, 11)
            .into_iter()
            .enumerate()
            .map(|(i, (t, x))| (t, if i >= 3000 { x + 8.0 } else { x }))
            .collect();
        let out = run(&mut Ensemble::new(cfg.clone()), &s);
        let score = |i: usize| out[i].score.unwrap_or(0.0);
        let first = (3000..3100)
            .find(|&i| score(i) >= cfg.rest_level)
            .expect("the shift is detected");
        let rest = first + 1..first + cfg.rest;
        assert!(
            rest.clone().all(|i| score(i) < cfg.alert_threshold),
            "scores in the rest: {:?}",
            rest.map(score).collect::<Vec<_>>()
        );
        assert!(out[first..first + cfg.rest].iter().any(|s| s.alert));
    }

    #[test]
    fn variance_change() {
        anomaly_detected(
            |i, x| {
                if i >= 3000 {
                    20.0 + (x - 20.0) * 6.0
                } else {
                    x
                }
            },
            12,
        );
    }

    #[test]
    #[ignore = "known gap: a stopped daily cycle (held at its mean, inside the usual range) stays under the 0.25 alert threshold, the sequence memory included (its collapsed history treats a long stay at one level as predicted); SeasonalBaseline alone flags it"]
    fn seasonal_break() {
        // The daily cycle stops: the value holds the daily mean.
        anomaly_detected(
            |i, x| {
                if i >= 3000 {
                    20.0 + (x - 20.0) * 0.0
                } else {
                    x
                }
            },
            13,
        );
    }

    #[test]
    fn drift_recalibrates() {
        // A ramp of +10 over 200 samples, then a new level: alerts near the ramp, and
        // none once the new level has been learnt.
        let mut e = Ensemble::new(EnsembleConfig::default());
        let s: Vec<(f64, f64)> = series(6000, 20.0, 1.0, 0.0, 14)
            .into_iter()
            .enumerate()
            .map(|(i, (t, x))| (t, x + 0.05 * (i.clamp(3000, 3200) - 3000) as f64))
            .collect();
        let out = run(&mut e, &s);
        let a = alerts(&out);
        assert!(a.iter().any(|&i| (3000..3300).contains(&i)), "alerts {a:?}");
        assert!(a.iter().all(|&i| i < 4500), "alerts forever: {a:?}");
        assert!(out[3000..3600].iter().any(|s| s.drift));
    }

    /// Memory per series is bounded and small: prints the bytes for the default
    /// configuration (run with `--nocapture`), and checks they do not grow with the data.
    #[test]
    fn memory_per_series_is_bounded() {
        let mut e = Ensemble::new(EnsembleConfig::default());
        let before = e.memory_bytes();
        let _ = run(&mut e, &series(20_000, 10.0, 1.0, 5.0, 21));
        let after = e.memory_bytes();
        println!(
            "ensemble memory per series: {after} bytes (struct {} bytes)",
            std::mem::size_of::<Ensemble>()
        );
        // 16 KB of it is the sequence memory's context table (decision 0015), 5.2 KB
        // the 64 ART categories (decisions 0019, 0020).
        assert!(after <= 44 * 1024, "{after} bytes");
        // The seasonal slots are allocated once the sampling interval is known; nothing
        // else grows.
        assert!(after <= before + 288 * 20 + 16 * 8, "{before} -> {after}");
        // Without the sequence memory and the ART gate (the device detectors' setting)
        // it stays small.
        let mut e = Ensemble::new(EnsembleConfig {
            seq_levels: 0,
            art_dim: 0,
            ..EnsembleConfig::default()
        });
        let _ = run(&mut e, &series(20_000, 10.0, 1.0, 5.0, 21));
        assert!(e.memory_bytes() <= 24 * 1024, "{} bytes", e.memory_bytes());
    }

    #[test]
    fn bad_input_does_not_panic() {
        let mut e = Ensemble::new(EnsembleConfig::default());
        let mut t = 0.0;
        for i in 0..2000 {
            t += 60.0;
            let x = match i % 7 {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => 1e300,
                3 => -1e300,
                _ => i as f64,
            };
            let s = e.update(t, x);
            assert!(s.score.is_none_or(|v| (0.0..=1.0).contains(&v)));
        }
        // Time going backwards or repeating is tolerated too.
        for _ in 0..100 {
            let s = e.update(5.0, 1.0);
            assert!(s.score.is_none_or(|v| (0.0..=1.0).contains(&v)));
        }
    }

    #[test]
    fn deterministic() {
        let s = series(3000, 5.0, 1.0, 2.0, 99);
        let a: Vec<Scored> = run(&mut Ensemble::new(EnsembleConfig::default()), &s);
        let b: Vec<Scored> = run(&mut Ensemble::new(EnsembleConfig::default()), &s);
        assert_eq!(a, b);
    }
}
