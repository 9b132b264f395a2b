//! Peer outliers: "this access point behaves unlike its 200 siblings".
//!
//! One peer actor per ship receives each detector's periodic per-series means
//! ([`PeerSummary`]) and groups them by device kind and series. When a group's summary
//! window closes (the first summary of a later window arrives), augurs-outlier's MAD
//! detector runs over the group's devices; a device that is an outlier in
//! `fire_after` consecutive windows raises an `Outlier` alert, which clears after
//! `clear_after` windows in line with its peers.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use augurs_outlier::{MADDetector, OutlierDetector};
use parking_lot::Mutex;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use seawatch_runtime::supervision::{Addr, ChildSpec};

use super::actor::DetectorMetrics;
use crate::alert::AlertSink;
use seawatch_model::{Alert, AlertClass, AlertSeverity, AlertSource, AlertState};

/// One device's per-series means over one summary window.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerSummary {
    /// Device id.
    pub device: String,
    /// Device kind (peers are devices of the same kind).
    pub kind: String,
    /// Start of the window, unix ms (event time).
    pub ts_ms: i64,
    /// Mean of each series over the window (rates for counters).
    pub values: Vec<(Arc<str>, f64)>,
}

/// Messages of the peer actor.
pub enum PeerMsg {
    /// A device's window summary.
    Summary(PeerSummary),
    /// Devices currently flagged as outliers: `(kind, series, device)`, sorted.
    Outliers(RpcReplyPort<Vec<(String, String, String)>>),
}

/// Peer-comparison configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerConfig {
    /// Compare only groups with at least this many devices reporting.
    pub min_peers: usize,
    /// MAD threshold (robust z-score) above which a device is an outlier.
    pub threshold: f64,
    /// Consecutive outlying windows before firing.
    pub fire_after: u32,
    /// Consecutive normal windows before clearing.
    pub clear_after: u32,
    /// Summary window, ms (the detectors' `summary_ms`).
    pub window_ms: i64,
    /// At most this many groups (kind × series) are tracked.
    pub max_groups: usize,
    /// At most this many devices per group.
    pub max_devices: usize,
}

impl Default for PeerConfig {
    fn default() -> Self {
        PeerConfig {
            min_peers: 5,
            threshold: 5.0,
            fire_after: 2,
            clear_after: 2,
            window_ms: 300_000,
            max_groups: 4096,
            max_devices: 4096,
        }
    }
}

#[derive(Debug, Default)]
struct Streak {
    over: u32,
    under: u32,
    firing: bool,
}

#[derive(Debug, Default)]
struct Group {
    /// Device → (window start, mean).
    latest: BTreeMap<String, (i64, f64)>,
    streaks: HashMap<String, Streak>,
    evaluated: Option<i64>,
}

/// The peer actor's state.
pub struct PeerState {
    args: PeerArgs,
    groups: HashMap<(String, Arc<str>), Group>,
}

/// Start arguments of the peer actor.
#[derive(Clone, Debug)]
pub struct PeerArgs {
    /// Ship id.
    pub ship: String,
    /// Configuration.
    pub config: PeerConfig,
    /// Where alerts go.
    pub sink: AlertSink,
    /// Metrics, if registered.
    pub metrics: Option<DetectorMetrics>,
    /// Outliers firing `(kind, series, device)`, shared by every incarnation so a
    /// restarted peer actor still clears them.
    pub firing: Arc<Mutex<HashSet<(String, String, String)>>>,
}

/// MAD scores of `values` (one per device), `None` where the group has no spread (the
/// detector needs a non-zero median absolute deviation on both sides).
fn mad_outliers(values: &[f64], threshold: f64) -> Option<Vec<(bool, f64)>> {
    let rows: Vec<[f64; 1]> = values.iter().map(|v| [*v]).collect();
    let refs: Vec<&[f64]> = rows.iter().map(|r| &r[..]).collect();
    let det = MADDetector::with_threshold(threshold);
    let pre = det.preprocess(&refs).ok()?;
    let out = det.detect(&pre).ok()?;
    Some(
        out.series_results
            .iter()
            .enumerate()
            .map(|(i, s)| (out.is_outlier(i), s.scores.first().copied().unwrap_or(0.0)))
            .collect(),
    )
}

impl PeerState {
    /// A fresh state (a restarted peer actor relearns within two windows); outliers
    /// that were firing stay firing until their device is back in line.
    pub fn new(args: PeerArgs) -> Self {
        let mut groups: HashMap<(String, Arc<str>), Group> = HashMap::new();
        for (kind, series, device) in args.firing.lock().iter() {
            groups
                .entry((kind.clone(), Arc::from(series.as_str())))
                .or_default()
                .streaks
                .insert(
                    device.clone(),
                    Streak {
                        firing: true,
                        ..Streak::default()
                    },
                );
        }
        PeerState { args, groups }
    }

    /// Takes one summary; evaluates the groups whose window it closes.
    pub fn summary(&mut self, s: PeerSummary) {
        let window = self.args.config.window_ms.max(1);
        let w = s.ts_ms.div_euclid(window);
        for (series, mean) in s.values {
            if !mean.is_finite() {
                continue;
            }
            let key = (s.kind.clone(), series);
            if !self.groups.contains_key(&key) && self.groups.len() >= self.args.config.max_groups {
                continue;
            }
            let g = self.groups.entry(key.clone()).or_default();
            if !g.latest.contains_key(&s.device) && g.latest.len() >= self.args.config.max_devices {
                continue;
            }
            // The first summary of a later window: the earlier window is complete. It is
            // evaluated before this summary replaces its device's value for it, so every
            // device that reported the earlier window counts, whichever device's later
            // summary happens to arrive first (the result does not depend on the order
            // in which concurrent detectors deliver).
            let due = g.latest.values().map(|(t, _)| *t).max().filter(|&t| t < w);
            if let Some(prev) = due {
                if g.evaluated.is_none_or(|e| e < prev) {
                    g.evaluated = Some(prev);
                    let alerts = evaluate(&self.args, &key.0, &key.1, g, prev, window);
                    for a in alerts {
                        let key = (key.0.clone(), key.1.to_string(), a.subject.clone());
                        match a.state {
                            AlertState::Firing => self.args.firing.lock().insert(key),
                            AlertState::Cleared => self.args.firing.lock().remove(&key),
                        };
                        if let Some(m) = &self.args.metrics {
                            m.alert(&self.args.ship, AlertSource::Peer);
                        }
                        self.args.sink.raise(a);
                    }
                }
            }
            if let Some(g) = self.groups.get_mut(&key) {
                g.latest.insert(s.device.clone(), (w, mean));
            }
        }
    }

    /// Devices flagged now, sorted.
    pub fn outliers(&self) -> Vec<(String, String, String)> {
        let mut v: Vec<(String, String, String)> = self
            .groups
            .iter()
            .flat_map(|((kind, series), g)| {
                g.streaks
                    .iter()
                    .filter(|(_, s)| s.firing)
                    .map(|(d, _)| (kind.clone(), series.to_string(), d.clone()))
            })
            .collect();
        v.sort();
        v
    }
}

/// Compares the devices that reported for window `w` (the one closing).
fn evaluate(
    args: &PeerArgs,
    kind: &str,
    series: &str,
    g: &mut Group,
    w: i64,
    window: i64,
) -> Vec<Alert> {
    let cfg = &args.config;
    let (devices, values): (Vec<&String>, Vec<f64>) = g
        .latest
        .iter()
        .filter(|(_, (t, _))| *t == w)
        .map(|(d, (_, v))| (d, *v))
        .unzip();
    if devices.len() < cfg.min_peers.max(3) {
        return Vec::new();
    }
    let verdicts =
        mad_outliers(&values, cfg.threshold).unwrap_or_else(|| vec![(false, 0.0); values.len()]);
    let median = {
        let mut v = values.clone();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut alerts = Vec::new();
    for ((device, (outlier, score)), value) in devices.iter().zip(verdicts).zip(&values) {
        let st = g.streaks.entry((*device).clone()).or_default();
        if outlier {
            st.over += 1;
            st.under = 0;
        } else {
            st.under += 1;
            st.over = 0;
        }
        let state = if !st.firing && st.over >= cfg.fire_after.max(1) {
            st.firing = true;
            AlertState::Firing
        } else if st.firing && st.under >= cfg.clear_after.max(1) {
            st.firing = false;
            AlertState::Cleared
        } else {
            continue;
        };
        alerts.push(Alert {
            ship: args.ship.clone(),
            exhausts_at_ms: None,
            subject: (*device).clone(),
            source: AlertSource::Peer,
            class: AlertClass::Outlier,
            severity: AlertSeverity::Info,
            state,
            ts_ms: (w + 1) * window,
            series: Some(series.to_string()),
            score: (score / (2.0 * cfg.threshold)).clamp(0.0, 1.0),
            detail: match state {
                AlertState::Firing => format!(
                    "{series}: {value:.3} unlike its {} {kind} peers (median {median:.3}, MAD score {score:.1})",
                    values.len() - 1
                ),
                AlertState::Cleared => format!("{series}: back in line with its {kind} peers"),
            },
        });
    }
    // Devices that stopped reporting drop their streaks (a firing one stays listed
    // until it reports in line again).
    g.streaks
        .retain(|d, s| s.firing || g.latest.contains_key(d));
    alerts
}

/// The per-ship peer actor.
#[derive(Debug, Clone, Copy, Default)]
pub struct PeerActor;

impl Actor for PeerActor {
    type Msg = PeerMsg;
    type State = PeerState;
    type Arguments = PeerArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<PeerMsg>,
        args: PeerArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(PeerState::new(args))
    }

    async fn handle(
        &self,
        _myself: ActorRef<PeerMsg>,
        msg: PeerMsg,
        state: &mut PeerState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            PeerMsg::Summary(s) => state.summary(s),
            PeerMsg::Outliers(reply) => {
                let _ = reply.send(state.outliers());
            }
        }
        Ok(())
    }
}

/// Child id of the peer actor under the ship's `detectors` supervisor.
pub const PEER_CHILD_ID: &str = "_peers";

/// The child spec of a ship's peer actor (kind `peer`).
pub fn peer_child(args: PeerArgs) -> (ChildSpec, Addr<PeerMsg>) {
    ChildSpec::actor(PEER_CHILD_ID, "peer", move || (PeerActor, args.clone()))
}

#[cfg(test)]
mod tests {
    use super::super::synth::Rng;
    use super::*;

    fn summaries(st: &mut PeerState, windows: i64, odd: impl Fn(i64) -> bool, rng: &mut Rng) {
        for w in 0..windows {
            for d in 0..40 {
                let mut v = 30.0 + 3.0 * rng.normal();
                if d == 7 && odd(w) {
                    v = 95.0;
                }
                st.summary(PeerSummary {
                    device: format!("ap-{d:02}"),
                    kind: "ap".into(),
                    ts_ms: w * 300_000,
                    values: vec![(Arc::from("device_cpu_percent"), v)],
                });
            }
        }
    }

    #[test]
    fn mad_marks_the_odd_one_and_tolerates_no_spread() {
        let v: Vec<f64> = (0..20)
            .map(|i| 10.0 + (i % 5) as f64)
            .chain([80.0])
            .collect();
        let out = mad_outliers(&v, 5.0).expect("spread");
        assert!(out[20].0);
        assert_eq!(out.iter().filter(|o| o.0).count(), 1);
        assert!(mad_outliers(&[1.0; 10], 5.0).is_none());
        assert!(mad_outliers(&[], 5.0).is_none());
    }

    #[test]
    fn one_device_unlike_its_peers_fires_then_clears() {
        let (sink, mut rx) = AlertSink::channel();
        let mut st = PeerState::new(PeerArgs {
            ship: "s".into(),
            config: PeerConfig::default(),
            sink,
            metrics: None,
            firing: Default::default(),
        });
        let mut rng = Rng::new(4);
        summaries(&mut st, 30, |w| (10..16).contains(&w), &mut rng);
        let mut got = Vec::new();
        while let Ok(a) = rx.try_recv() {
            got.push((a.subject, a.state, a.ts_ms / 300_000));
        }
        assert_eq!(
            got,
            [
                ("ap-07".to_string(), AlertState::Firing, 12),
                ("ap-07".to_string(), AlertState::Cleared, 18),
            ]
        );
        assert!(st.outliers().is_empty());
    }

    #[test]
    fn clean_peers_raise_nothing() {
        let (sink, mut rx) = AlertSink::channel();
        let mut st = PeerState::new(PeerArgs {
            ship: "s".into(),
            config: PeerConfig::default(),
            sink,
            metrics: None,
            firing: Default::default(),
        });
        summaries(&mut st, 50, |_| false, &mut Rng::new(5));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn a_restarted_peer_state_still_clears_what_was_firing() {
        let (sink, mut rx) = AlertSink::channel();
        let args = PeerArgs {
            ship: "s".into(),
            config: PeerConfig::default(),
            sink,
            metrics: None,
            firing: Default::default(),
        };
        let mut st = PeerState::new(args.clone());
        let mut rng = Rng::new(6);
        summaries(&mut st, 14, |w| w >= 10, &mut rng);
        assert_eq!(rx.try_recv().map(|a| a.state), Ok(AlertState::Firing));
        // A new incarnation with the same arguments: fresh statistics, same firing set.
        let mut st = PeerState::new(args);
        assert_eq!(st.outliers().len(), 1);
        summaries(&mut st, 6, |_| false, &mut rng);
        let got: Vec<AlertState> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|a| a.state)
            .collect();
        assert_eq!(got, [AlertState::Cleared]);
        assert!(st.outliers().is_empty());
    }
}
