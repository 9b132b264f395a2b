//! Online seasonal baseline: one running level and spread per slot of the day.

use super::Detector;

/// Seconds in a day, the default period.
pub const DAY: f64 = 86_400.0;

/// Online seasonal baseline. The period is configured, or the daily period is assumed
/// when the sampling interval (learnt from the first timestamps) gives at least 24
/// samples a day. Each slot of the period keeps an exponentially weighted level and mean
/// absolute deviation; the surprise is `|x - level| / spread` once the slot has been seen
/// on `min_cycles` periods.
#[derive(Debug, Clone)]
pub struct SeasonalBaseline {
    period: Option<f64>,
    alpha: f64,
    min_cycles: u32,
    max_slots: usize,
    first_t: Option<f64>,
    intervals: Vec<f64>,
    slot_width: f64,
    /// Per-slot level and spread in f32 (the surprise's floor, 1e-6 of the level, is
    /// above f32's resolution) and a saturating count (it matters up to the cycles
    /// before scoring and `1 / alpha`): 9 bytes a slot.
    level: Vec<f32>,
    spread: Vec<f32>,
    seen: Vec<u8>,
    err: f64,
    err_n: u64,
}

impl SeasonalBaseline {
    /// `period` in seconds (`None`: daily if the data are dense enough); `alpha` the
    /// per-slot learning rate (a slot's rate is at least `1 / (visits + 1)`, its
    /// visits counted up to 255); at most `max_slots` slots per period; a slot scores
    /// once it has been seen `min_cycles` times (at most 255).
    pub fn new(period: Option<f64>, alpha: f64, min_cycles: u32, max_slots: usize) -> Self {
        SeasonalBaseline {
            period,
            alpha,
            min_cycles: min_cycles.clamp(1, u8::MAX.into()),
            max_slots: max_slots.max(1),
            first_t: None,
            intervals: Vec::new(),
            slot_width: 0.0,
            level: Vec::new(),
            spread: Vec::new(),
            seen: Vec::new(),
            err: 0.0,
            err_n: 0,
        }
    }

    /// Heap bytes held (per-slot level, spread and count, and the interval sample).
    pub fn heap_bytes(&self) -> usize {
        self.intervals.capacity() * 8
            + (self.level.capacity() + self.spread.capacity()) * 4
            + self.seen.capacity()
    }

    /// Whether a period is in use (known after the first timestamps).
    pub fn active(&self) -> bool {
        !self.level.is_empty()
    }

    /// Exponentially weighted mean absolute error of the seasonal prediction (`None`
    /// before it predicts).
    pub fn mean_abs_error(&self) -> Option<f64> {
        (self.err_n > 0).then_some(self.err)
    }

    fn setup(&mut self) {
        // Median sampling interval of the first samples.
        let mut v = self.intervals.clone();
        v.sort_by(f64::total_cmp);
        let dt = v[v.len() / 2];
        let period = match self.period {
            Some(p) => p,
            None if dt > 0.0 && DAY / dt >= 24.0 => DAY,
            None => return,
        };
        let slots = ((period / dt.max(1e-9)).round() as usize).clamp(1, self.max_slots);
        self.slot_width = period / slots as f64;
        self.level = vec![0.0; slots];
        self.spread = vec![0.0; slots];
        self.seen = vec![0; slots];
    }
}

impl Detector for SeasonalBaseline {
    fn update(&mut self, t: f64, x: f64) -> Option<f64> {
        if self.level.is_empty() {
            if let Some(p) = self.first_t {
                if self.intervals.len() < 16 {
                    self.intervals.push(t - p);
                    if self.intervals.len() == 16 {
                        self.setup();
                        if !self.level.is_empty() {
                            // Not read again once the period is set.
                            self.intervals = Vec::new();
                        }
                    }
                }
            }
            self.first_t = Some(t);
            if self.level.is_empty() {
                return None;
            }
        }
        let slots = self.level.len();
        let k = ((t / self.slot_width).floor().rem_euclid(slots as f64) as usize).min(slots - 1);
        let out = if u32::from(self.seen[k]) >= self.min_cycles {
            let d = (x - self.level[k] as f64).abs();
            let a = 0.01;
            self.err = if self.err_n == 0 {
                d
            } else {
                (1.0 - a) * self.err + a * d
            };
            self.err_n += 1;
            let floor = (0.25 * self.err).max(1e-6 * (1.0 + (self.level[k] as f64).abs()));
            Some(d / (1.25 * self.spread[k] as f64).max(floor))
        } else {
            None
        };
        // Learn: the first visit sets the slot, then exponential smoothing.
        if self.seen[k] == 0 {
            self.level[k] = x as f32;
            self.spread[k] = 0.0;
        } else {
            let a = self.alpha.max(1.0 / (self.seen[k] as f64 + 1.0));
            let (level, spread) = (self.level[k] as f64, self.spread[k] as f64);
            let d = x - level;
            self.spread[k] = (spread + a * (d.abs() - spread)) as f32;
            self.level[k] = (level + a * d) as f32;
        }
        self.seen[k] = self.seen[k].saturating_add(1);
        out
    }

    fn reset(&mut self) {
        self.seen.iter_mut().for_each(|s| *s = 0);
        self.err_n = 0;
        self.err = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::super::synth::series;
    use super::*;

    #[test]
    fn learns_daily_cycle_and_flags_a_break() {
        let mut d = SeasonalBaseline::new(None, 0.1, 3, 288);
        // 10 days at 5 minutes with a daily sine of amplitude 10 and noise 0.5.
        let s = series(2880, 50.0, 0.5, 10.0, 5);
        let zs: Vec<Option<f64>> = s.iter().map(|&(t, x)| d.update(t, x)).collect();
        assert!(d.active());
        assert!(zs[..288 * 3].iter().all(Option::is_none));
        let late: Vec<f64> = zs[288 * 5..].iter().map(|z| z.unwrap()).collect();
        let mut sorted = late.clone();
        sorted.sort_by(f64::total_cmp);
        let p99 = sorted[sorted.len() * 99 / 100];
        assert!(p99 < 6.0, "clean seasonal p99 {p99}");
        assert!(sorted[sorted.len() - 1] < 15.0, "clean seasonal max");
        // Seasonal break: the value stays at the daily mean (50) where the sine peaks
        // (+10): within the overall range, but far from that slot's level.
        let t_peak = (s.last().unwrap().0 / DAY).ceil() * DAY + DAY / 4.0;
        assert!(d.update(t_peak, 50.0).unwrap() > 5.0);
    }

    #[test]
    fn sparse_data_has_no_daily_period() {
        let mut d = SeasonalBaseline::new(None, 0.1, 3, 288);
        for i in 0..100 {
            assert!(d.update(i as f64 * 7_200.0, 1.0).is_none());
        }
        assert!(!d.active());
    }
}
