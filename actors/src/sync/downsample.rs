//! Downsampling for a poor link (decision 0058): 1-minute aggregates of chosen metric
//! families, sent ahead of their full resolution.
//!
//! While the ship's link is *poor* ([`DownsampleConfig::poor_after`], or a link the ship's
//! link actor reports `degraded`), the ship's sync reads ahead of the metrics lane, turns
//! the raw samples of the configured families into one [`AggRow`] per series and minute
//! ([`aggregate`]) and sends them as a [`Rollup`](super::wire::Rollup) frame covering a
//! raw seq range; the metrics lane sends full resolution only below the range shore
//! acknowledged aggregates for. Shore writes the rows to VictoriaMetrics as the series
//! `NAME:1m_min`, `NAME:1m_max`, `NAME:1m_mean`, `NAME:1m_last` and `NAME:1m_count`
//! (same labels as the raw series; [`samples_of`]), each rollup once, behind its own
//! watermark per ship. The full-resolution samples follow in the metrics lane and are
//! applied exactly once by (ship, seq) as before, so nothing is lost or doubled.
//!
//! Rows are grouped by series and the minute of the sample's timestamp *within one
//! rollup*; a minute whose samples fall into two rollups (the cut, or a late sample) gives
//! two rows, each stamped with the newest sample it covers, so no aggregate point is
//! written twice and each raw sample is counted in exactly one row (`:1m_count` adds up
//! to the raw count).

use std::collections::BTreeMap;
use std::time::Duration;

use seawatch_runtime::event_log::{Event, EventKind};

use super::wire::AggRow;
use crate::store::victoriametrics::{sample_of, series_key, VmSample};

/// The aggregation window, ms.
pub const WINDOW_MS: i64 = 60_000;

/// How long after a minute ends its samples are waited for before the minute is rolled
/// up, ms (samples arrive a little after their timestamp).
pub const GRACE_MS: i64 = 10_000;

/// The aggregate series' name suffixes, in the order of [`samples_of`].
pub const SUFFIXES: [&str; 5] = [":1m_min", ":1m_max", ":1m_mean", ":1m_last", ":1m_count"];

/// Which metric families are downsampled, and when the link counts as poor.
#[derive(Debug, Clone, PartialEq)]
pub struct DownsampleConfig {
    /// Metric names (`__name__`) downsampled; a name ending in `*` is a prefix.
    pub families: Vec<String>,
    /// The link is poor while the unacknowledged backlog would take longer than this
    /// to cross it at the sync's rate (estimated at 10:1 compression, like decision 0028).
    pub poor_after: Duration,
    /// Most raw events one rollup covers.
    pub frame_max_events: usize,
}

impl DownsampleConfig {
    /// `families`, poor after 60 s of backlog, 50,000 events per rollup.
    pub fn new(families: Vec<String>) -> Self {
        Self {
            families,
            poor_after: Duration::from_secs(60),
            frame_max_events: 50_000,
        }
    }

    /// Whether the metric `name` is downsampled.
    pub fn covers(&self, name: &str) -> bool {
        self.families.iter().any(|f| match f.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => f == name,
        })
    }
}

/// Result of [`aggregate`].
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Aggregated {
    /// One row per series and minute, in series then minute order.
    pub rows: Vec<AggRow>,
    /// Metric events whose body could not be read (counted, skipped: they travel at full
    /// resolution, and shore counts them as `bad_sample` there).
    pub bad: u64,
    /// Samples of covered families with a value that is not finite (left to full
    /// resolution).
    pub not_finite: u64,
}

type Group = (Vec<(String, String)>, Acc);

struct Acc {
    ts_ms: i64,
    min: f64,
    max: f64,
    sum: f64,
    last: f64,
    count: u64,
}

/// Aggregates the Metric events of `events` (in seq order) whose family `config`
/// covers: one row per (series, minute of the sample's timestamp).
pub fn aggregate(ship: &str, events: &[Event], config: &DownsampleConfig) -> Aggregated {
    let mut out = Aggregated::default();
    // (series key, minute) → (the series' labels, its accumulator)
    let mut groups: BTreeMap<(String, i64), Group> = BTreeMap::new();
    for e in events.iter().filter(|e| e.kind == EventKind::Metric) {
        let s = match sample_of(ship, e) {
            Ok(Some(s)) => s,
            Ok(None) => continue,
            Err(_) => {
                out.bad += 1;
                continue;
            }
        };
        let name = s
            .labels
            .iter()
            .find(|(k, _)| k == "__name__")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        if !config.covers(name) {
            continue;
        }
        if !s.value.is_finite() {
            out.not_finite += 1;
            continue;
        }
        let key = (series_key(&s.labels), s.ts_ms.div_euclid(WINDOW_MS));
        let v = s.value;
        match groups.get_mut(&key) {
            Some((_, a)) => {
                a.min = a.min.min(v);
                a.max = a.max.max(v);
                a.sum += v;
                a.count += 1;
                // events come in seq order: a later one at the same time wins
                if s.ts_ms >= a.ts_ms {
                    a.ts_ms = s.ts_ms;
                    a.last = v;
                }
            }
            None => {
                let acc = Acc {
                    ts_ms: s.ts_ms,
                    min: v,
                    max: v,
                    sum: v,
                    last: v,
                    count: 1,
                };
                groups.insert(key, (s.labels, acc));
            }
        }
    }
    out.rows = groups
        .into_values()
        .map(|(labels, a)| AggRow {
            labels,
            ts_ms: a.ts_ms,
            min: a.min,
            max: a.max,
            mean: a.sum / a.count as f64,
            last: a.last,
            count: a.count,
        })
        .collect();
    out
}

/// The five aggregate samples of a row: the raw series renamed `NAME:1m_min`, `:1m_max`,
/// `:1m_mean`, `:1m_last` and `:1m_count`, at the row's time.
pub fn samples_of(row: &AggRow) -> [VmSample; 5] {
    let values = [row.min, row.max, row.mean, row.last, row.count as f64];
    std::array::from_fn(|i| VmSample {
        labels: row
            .labels
            .iter()
            .map(|(k, v)| {
                if k == "__name__" {
                    (k.clone(), format!("{v}{}", SUFFIXES[i]))
                } else {
                    (k.clone(), v.clone())
                }
            })
            .collect(),
        value: values[i],
        ts_ms: row.ts_ms,
    })
}

/// The metric name of a Metric event's body (`name{...} value` or `name value`).
pub fn family_of(body: &str) -> Option<&str> {
    let end = body.find(['{', ' '])?;
    Some(&body[..end])
}

/// What shore does with a rollup `[from, end)` given its watermark `next` for the ship
/// (the end of the last rollup it applied, 0 for none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollupDecision {
    /// Write its aggregates, then move the watermark to its end. A gap below it is
    /// fine: that range simply has no aggregates (its full resolution comes anyway).
    Apply,
    /// Write nothing and answer with the watermark: the rollup ends at or below it
    /// (applied before; the answer was lost), or it overlaps it (the ship cut its
    /// ranges differently after a restart; it cuts again from the watermark).
    Answer(u64),
}

/// The rule that writes each rollup's aggregates once: see [`RollupDecision`].
pub fn rollup_decision(watermark: u64, from: u64, end: u64) -> RollupDecision {
    if from >= watermark && end > from {
        RollupDecision::Apply
    } else {
        RollupDecision::Answer(watermark)
    }
}

/// Whether a series name is an aggregate's (ends in one of [`SUFFIXES`]).
pub fn is_aggregate(name: &str) -> bool {
    SUFFIXES.iter().any(|s| name.ends_with(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(seq: u64, name: &str, dev: &str, ts_ms: i64, v: f64) -> Event {
        Event {
            seq,
            ts_ms,
            kind: EventKind::Metric,
            source: dev.into(),
            severity: 0,
            body: format!("{name}{{job=\"snmp\"}} {v}"),
        }
    }

    #[test]
    fn rows_per_series_and_minute_with_min_max_mean_last_count() {
        let t = 1_700_000_040_000; // a minute boundary (divisible by 60,000)
        assert_eq!(t % WINDOW_MS, 0);
        let events = vec![
            metric(1, "if_in_octets", "sw-1", t + 1_000, 5.0),
            metric(2, "if_in_octets", "sw-1", t + 30_000, 1.0),
            metric(3, "cpu", "sw-1", t + 31_000, 99.0), // not covered
            metric(4, "if_in_octets", "sw-2", t + 2_000, 7.0),
            metric(5, "if_in_octets", "sw-1", t + 20_000, 9.0), // late, same minute
            metric(6, "if_in_octets", "sw-1", t + 60_000, 3.0), // next minute
            Event {
                seq: 7,
                ts_ms: t,
                kind: EventKind::Metric,
                source: "sw-1".into(),
                severity: 0,
                body: "not a sample".into(),
            },
        ];
        let cfg = DownsampleConfig::new(vec!["if_*".into()]);
        let a = aggregate("ship-1", &events, &cfg);
        assert_eq!(a.bad, 1);
        assert_eq!(a.rows.len(), 3);
        let sw1: Vec<&AggRow> = a
            .rows
            .iter()
            .filter(|r| r.labels.contains(&("device".into(), "sw-1".into())))
            .collect();
        assert_eq!(sw1.len(), 2);
        let first = sw1[0];
        assert_eq!(
            (first.min, first.max, first.mean, first.last, first.count),
            (1.0, 9.0, 5.0, 1.0, 3)
        );
        assert_eq!(first.ts_ms, t + 30_000, "stamped at its newest sample");
        assert_eq!(
            (sw1[1].count, sw1[1].last, sw1[1].ts_ms),
            (1, 3.0, t + 60_000)
        );
        assert_eq!(a.rows.iter().map(|r| r.count).sum::<u64>(), 5);
        let samples = samples_of(first);
        let names: Vec<&str> = samples
            .iter()
            .map(|s| {
                s.labels
                    .iter()
                    .find(|(k, _)| k == "__name__")
                    .map(|(_, v)| v.as_str())
                    .unwrap()
            })
            .collect();
        assert_eq!(
            names,
            [
                "if_in_octets:1m_min",
                "if_in_octets:1m_max",
                "if_in_octets:1m_mean",
                "if_in_octets:1m_last",
                "if_in_octets:1m_count"
            ]
        );
        assert!(names.iter().all(|n| is_aggregate(n)));
        assert!(!is_aggregate("if_in_octets"));
        assert_eq!(samples[4].value, 3.0);
        assert!(samples
            .iter()
            .all(|s| s.labels.contains(&("ship".into(), "ship-1".into()))));
    }

    #[test]
    fn families_match_exactly_or_by_prefix() {
        let cfg = DownsampleConfig::new(vec!["modem_esno_db".into(), "if_*".into()]);
        assert!(cfg.covers("modem_esno_db"));
        assert!(!cfg.covers("modem_esno_db_x"));
        assert!(cfg.covers("if_out_octets"));
        assert!(!cfg.covers("cpu"));
    }
}
