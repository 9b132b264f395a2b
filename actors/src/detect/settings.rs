//! Detector settings: what a `detectors` bundle (and a `detector-settings` model version)
//! holds, read the same way by the live detector actors and by the shadow runner.
//!
//! A bundle's `*.toml` files are read in path order into one table (later keys win);
//! unknown keys are ignored. The keys:
//!
//! * the ensemble's `warmup`, `alert_threshold`, `ewma_alpha`, `mad_window`, `history`,
//!   `short`, `season` (seconds);
//! * the live detectors' alert gate: `instant` (one score this high fires at once),
//!   `sustain = [k, n]` (fire on k of the last n samples above the threshold),
//!   `clear_after` (quiet samples before an alert clears), `drift_sigma`;
//! * `metrics` (names scored; empty: all): read by the shadow runner only.
//!
//! **Live.** A ship starts its detectors with the settings in `DATA/detectors` and the
//! bundle agent's reload pushes new ones to the running detector actors through the
//! roster ([`crate::roster::Roster::apply_detector_settings`]), so a rollout or a
//! rollback takes effect without a restart. What a running detector keeps is in
//! [`crate::detect::actor::DetectorState::apply_config`]; each detector reports the
//! [`DetectorConfig::fingerprint`] of what it runs, and the bundle's health check passes
//! only when every detector reports the fingerprint of the settings on disk.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::actor::DetectorConfig;
use super::EnsembleConfig;
use crate::rollout::bundle::{Bundle, BundleKind};

/// Detector settings a `detectors` bundle may give (module docs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DetectorSettings {
    /// Samples before the first score.
    pub warmup: Option<usize>,
    /// Score at or above which an alert is raised.
    pub alert_threshold: Option<f64>,
    /// EWMA weight.
    pub ewma_alpha: Option<f64>,
    /// Rolling MAD window.
    pub mad_window: Option<usize>,
    /// Calibration history.
    pub history: Option<usize>,
    /// Short-term surprise samples.
    pub short: Option<usize>,
    /// Seasonal period in seconds.
    pub season: Option<f64>,
    /// Metric names scored (empty: every metric); the shadow runner's filter only.
    #[serde(default)]
    pub metrics: Vec<String>,
    /// Live gate: a score at least this fires at once.
    pub instant: Option<f64>,
    /// Live gate: fire on `k` of the last `n` scored samples above the threshold.
    pub sustain: Option<(u32, u32)>,
    /// Live gate: clear after this many samples below the threshold.
    pub clear_after: Option<u32>,
    /// Live: a drift whose mean moved by more than this many deviations fires.
    pub drift_sigma: Option<f64>,
}

impl DetectorSettings {
    /// Reads settings from `(path, bytes)` files: the `*.toml` ones in the order given,
    /// merged (later keys win), then checked ([`DetectorSettings::check`]).
    pub fn from_files<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Self, String> {
        let mut table = toml::Table::new();
        for (path, bytes) in files {
            if !path.ends_with(".toml") {
                continue;
            }
            let text = std::str::from_utf8(bytes).map_err(|_| format!("{path}: not UTF-8"))?;
            let t: toml::Table = toml::from_str(text).map_err(|e| format!("{path}: {e}"))?;
            table.extend(t);
        }
        let s: DetectorSettings = toml::Value::Table(table)
            .try_into()
            .map_err(|e| format!("detector settings: {e}"))?;
        s.check()?;
        Ok(s)
    }

    /// Reads the settings from a `detectors` bundle.
    pub fn from_bundle(b: &Bundle) -> Result<Self, String> {
        if b.manifest.kind != BundleKind::Detectors {
            return Err(format!(
                "a {} bundle, not detectors",
                b.manifest.kind.as_str()
            ));
        }
        Self::from_files(b.files.iter().map(|(p, b)| (p.as_str(), b.as_slice())))
    }

    /// Reads the settings in a folder (`DATA/detectors`): its `*.toml` files, below it
    /// too, in path order. A missing folder is the defaults.
    pub fn from_dir(dir: &Path) -> Result<Self, String> {
        let mut files = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let rd = match std::fs::read_dir(&d) {
                Ok(rd) => rd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(format!("{}: {e}", d.display())),
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "toml") {
                    let rel = p.strip_prefix(dir).unwrap_or(&p).display().to_string();
                    let bytes = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                    files.push((rel, bytes));
                }
            }
        }
        files.sort();
        Self::from_files(files.iter().map(|(p, b)| (p.as_str(), b.as_slice())))
    }

    /// Values out of range are an error that names the key.
    pub fn check(&self) -> Result<(), String> {
        let unit = |k: &str, v: Option<f64>, lo_open: bool| match v {
            Some(x) if !(0.0..=1.0).contains(&x) || (lo_open && x == 0.0) => Err(format!(
                "detector settings: {k} = {x}: expected a number in (0, 1]"
            )),
            _ => Ok(()),
        };
        unit("alert_threshold", self.alert_threshold, true)?;
        unit("ewma_alpha", self.ewma_alpha, true)?;
        unit("instant", self.instant, true)?;
        if let Some((k, n)) = self.sustain {
            if k == 0 || n == 0 || k > n || n > 32 {
                return Err(format!(
                    "detector settings: sustain = [{k}, {n}]: expected [k, n] with 1 <= k <= n <= 32"
                ));
            }
        }
        if self.clear_after == Some(0) {
            return Err("detector settings: clear_after must be at least 1".into());
        }
        for (k, v) in [("season", self.season), ("drift_sigma", self.drift_sigma)] {
            if v.is_some_and(|x| !x.is_finite() || x <= 0.0) {
                return Err(format!("detector settings: {k} must be a positive number"));
            }
        }
        Ok(())
    }

    /// The ensemble configuration: the defaults with these settings over them.
    pub fn config(&self) -> EnsembleConfig {
        self.ensemble_over(EnsembleConfig::default())
    }

    fn ensemble_over(&self, mut c: EnsembleConfig) -> EnsembleConfig {
        if let Some(x) = self.warmup {
            c.warmup = x;
        }
        if let Some(x) = self.alert_threshold {
            c.alert_threshold = x;
        }
        if let Some(x) = self.ewma_alpha {
            c.ewma_alpha = x;
        }
        if let Some(x) = self.mad_window {
            c.mad_window = x.max(3);
        }
        if let Some(x) = self.history {
            c.history = x.max(10);
        }
        if let Some(x) = self.short {
            c.short = x.max(1);
        }
        if self.season.is_some() {
            c.season = self.season;
        }
        c
    }

    /// The live detectors' configuration: `base` with these settings over it.
    pub fn detector_config(&self, base: &DetectorConfig) -> DetectorConfig {
        let mut c = base.clone();
        c.ensemble = self.ensemble_over(c.ensemble);
        if let Some(x) = self.instant {
            c.instant = x;
        }
        if let Some(x) = self.sustain {
            c.sustain = x;
        }
        if let Some(x) = self.clear_after {
            c.clear_after = x;
        }
        if let Some(x) = self.drift_sigma {
            c.drift_sigma = x;
        }
        c
    }
}

/// The live configuration of the settings in `dir` over `base` (module docs).
pub fn load_config(dir: &Path, base: &DetectorConfig) -> Result<DetectorConfig, String> {
    Ok(DetectorSettings::from_dir(dir)?.detector_config(base))
}

/// The bundle agent's reload of detector settings: reads `dir` and pushes the settings
/// to the ship's running detectors through its roster; says how many run them (their
/// reported fingerprint), or why not.
pub async fn reload(roster: &crate::roster::Roster, dir: &Path) -> Result<String, String> {
    let config = load_config(dir, &DetectorConfig::default())?;
    roster.apply_detector_settings(config).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_merge_in_path_order_and_bad_values_name_their_key() {
        let s = DetectorSettings::from_files([
            (
                "a.toml",
                &b"alert_threshold = 0.3\nsustain = [1, 1]\nother = 1\n"[..],
            ),
            ("b.toml", &b"alert_threshold = 0.6\n"[..]),
            ("README.md", &b"not toml"[..]),
        ])
        .unwrap();
        assert_eq!(
            (s.alert_threshold, s.sustain, s.warmup),
            (Some(0.6), Some((1, 1)), None)
        );
        let c = s.detector_config(&DetectorConfig::default());
        assert_eq!((c.ensemble.alert_threshold, c.sustain), (0.6, (1, 1)));
        assert_ne!(c.fingerprint(), DetectorConfig::default().fingerprint());
        for (bad, key) in [
            ("alert_threshold = 1.5\n", "alert_threshold"),
            ("sustain = [3, 2]\n", "sustain"),
            ("clear_after = 0\n", "clear_after"),
            ("warmup = \"x\"\n", "warmup"),
        ] {
            let e = DetectorSettings::from_files([("s.toml", bad.as_bytes())]).unwrap_err();
            assert!(e.contains(key), "{bad}: {e}");
        }
        let d = tempfile::tempdir().unwrap();
        assert_eq!(
            DetectorSettings::from_dir(&d.path().join("missing")).unwrap(),
            DetectorSettings::default()
        );
        std::fs::create_dir_all(d.path().join("x")).unwrap();
        std::fs::write(d.path().join("x/z.toml"), "instant = 0.9\n").unwrap();
        std::fs::write(d.path().join("a.toml"), "instant = 0.7\n").unwrap();
        assert_eq!(
            DetectorSettings::from_dir(d.path()).unwrap().instant,
            Some(0.9)
        );
    }
}

#[cfg(test)]
mod live {
    //! A running ship's roster and bundle agent: detector settings delivered by a rollout
    //! change what the running detectors alert on, without a restart, and a failed
    //! health check puts the previous settings back in the running detectors.

    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use parking_lot::{Mutex, RwLock};
    use seawatch_model::sample::MetricSample;
    use seawatch_model::{Alert, AlertSource, AlertState};
    use seawatch_runtime::{Clock, Metrics, Runtime};

    use super::*;
    use crate::alert::AlertSink;
    use crate::detect::actor::DetectorMsg;
    use crate::ingest::metrics::IngestMetrics;
    use crate::ingest::record::Observation;
    use crate::inventory::{DeviceSpec, Inventory};
    use crate::link::LinkMetrics;
    use crate::rollout::agent::mem::{live_rig, LiveRig};
    use crate::rollout::agent::{BundleTargets, OnApplied};
    use crate::rollout::bundle::{encode, sha256_hex};
    use crate::rollout::{Delivery, ReportState};
    use crate::roster::{
        roster_child, DetectorSetup, Discovered, RosterArgs, RosterMetrics, RosterView,
    };

    /// Fires on any score of 0.05 (one sample is enough).
    const TOUCHY: &str = "alert_threshold = 0.05\nsustain = [1, 1]\n";
    /// Fires on nothing these samples can score: 32 in a row at the top score.
    const DEAF: &str =
        "alert_threshold = 1.0\ninstant = 1.0\nsustain = [32, 32]\ndrift_sigma = 1000000.0\n";

    fn delivery(rollout: &str, toml: &str, window_s: u64) -> Vec<u8> {
        let bytes = encode(
            crate::rollout::bundle::BundleKind::Detectors,
            "detectors",
            vec![("detectors.toml".into(), toml.as_bytes().to_vec())],
        );
        Delivery {
            rollout: rollout.into(),
            ship: "aurora".into(),
            sha256: sha256_hex(&bytes),
            kind: crate::rollout::bundle::BundleKind::Detectors,
            timeout_s: 120,
            chunks: 0,
            size: 0,
            incident_window_s: window_s,
            attempt: 0,
        }
        .encode(&bytes)
    }

    fn fingerprint(toml: &str) -> String {
        DetectorSettings::from_files([("s.toml", toml.as_bytes())])
            .unwrap()
            .detector_config(&DetectorConfig::default())
            .fingerprint()
    }

    async fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "timed out: {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rollout_changes_what_running_detectors_alert_on_and_a_rollback_restores_it() {
        let d = tempfile::tempdir().unwrap();
        let targets = BundleTargets::under(d.path());
        // The ship starts with touchy settings in DATA/detectors (an earlier rollout's).
        std::fs::create_dir_all(&targets.detectors).unwrap();
        std::fs::write(targets.detectors.join("detectors.toml"), TOUCHY).unwrap();
        let start_config = load_config(&targets.detectors, &DetectorConfig::default()).unwrap();

        let runtime = Runtime::new(Clock::system());
        let registry = Metrics::new();
        let alerts: Arc<Mutex<Vec<Alert>>> = Arc::default();
        let a2 = alerts.clone();
        let (roster_spec, roster) = roster_child(RosterArgs {
            ship: "aurora".into(),
            runtime: runtime.clone(),
            inventory: Arc::new(RwLock::new(Inventory {
                ship: "aurora".into(),
                devices: vec![DeviceSpec {
                    id: "sw-1".into(),
                    kind: "switch".into(),
                    depends_on: vec![],
                }],
                links: vec![],
            })),
            discovered: Discovered::in_memory(),
            alerts: AlertSink::from_fn(move |a| a2.lock().push(a)),
            push: None,
            ingest_metrics: IngestMetrics::register(&registry, "aurora"),
            link_metrics: LinkMetrics::register(&registry),
            link_risk: Default::default(),
            detectors: Some(DetectorSetup::new(start_config, None)),
            metrics: RosterMetrics::register(&registry),
            view: RosterView::default(),
        });
        let (r2, dir2) = (roster.clone(), targets.detectors.clone());
        // the ship's reload (topologies' ship assembly uses the same function)
        let on_applied: OnApplied = Arc::new(move |_| {
            let (r, dir) = (r2.clone(), dir2.clone());
            Box::pin(async move { reload(&r, &dir).await })
        });
        let LiveRig {
            link,
            incident,
            root,
        } = live_rig(d.path(), &targets, roster_spec, runtime, on_applied).await;
        let detector = roster.detector_of("sw-1").unwrap();
        let snapshot = || async {
            detector
                .call(DetectorMsg::Snapshot, Duration::from_secs(5))
                .await
                .unwrap()
        };

        // `n` cpu samples from index `from`: noise around 20, a bump every 50th.
        let mut x: u64 = 11;
        let mut fed = 0u64;
        let mut feed = async |from: usize, n: usize| -> usize {
            let before = alerts.lock().len();
            for i in from..from + n {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let noise = (x >> 33) as f64 / (1u64 << 31) as f64;
                let v = if i % 50 == 49 { 24.0 } else { 20.0 + noise };
                let obs = Observation::from_metric(MetricSample {
                    device: "sw-1".into(),
                    name: "device_cpu_percent".into(),
                    labels: vec![],
                    value: v,
                    ts_ms: 1_800_000_000_000 + i as i64 * 5_000,
                });
                roster.route(Instant::now(), vec![obs]).await;
            }
            fed += n as u64;
            let want = fed;
            let start = Instant::now();
            while snapshot().await.samples < want {
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "samples not scored"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            alerts.lock()[before..]
                .iter()
                .filter(|a| a.source == AlertSource::Detector && a.state == AlertState::Firing)
                .count()
        };

        // Touchy settings: the bumps alert.
        assert_eq!(snapshot().await.settings, fingerprint(TOUCHY));
        let touchy = feed(0, 600).await;
        assert!(touchy > 0, "touchy settings alert on the bumps");

        // A rollout of deaf settings with a 60 s incident watch: while the ship watches,
        // the running detector already runs them (same incarnation, learning kept).
        link.queue.lock().push(delivery("r-1", DEAF, 60));
        until("deaf settings running", || {
            (targets.detectors.join("detectors.toml").exists()
                && std::fs::read_to_string(targets.detectors.join("detectors.toml"))
                    .unwrap()
                    .contains("1000000"))
            .then_some(())
        })
        .await;
        let deaf_fp = fingerprint(DEAF);
        let start = Instant::now();
        while snapshot().await.settings != deaf_fp {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "deaf settings not pushed"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let snap = snapshot().await;
        assert_eq!(snap.reinits, 0, "gate settings keep the learned baselines");
        assert_eq!(snap.samples, 600, "the same detector incarnation");
        let deaf = feed(600, 600).await;
        assert_eq!(deaf, 0, "the same bumps no longer alert");

        // A critical incident within the watch: the ship rolls back by itself, and the
        // running detector gets the touchy settings back.
        incident.store(true, Ordering::SeqCst);
        let failed = until("rollback reported", || {
            link.reports
                .lock()
                .iter()
                .find(|r| r.rollout == "r-1" && r.state == ReportState::Failed)
                .cloned()
        })
        .await;
        assert!(
            failed.detail.contains("rolled back") && failed.detail.contains(&fingerprint(TOUCHY)),
            "{}",
            failed.detail
        );
        assert_eq!(snapshot().await.settings, fingerprint(TOUCHY));
        let again = feed(1200, 600).await;
        assert!(again > 0, "touchy again after the rollback");

        // The same settings again without a watch: succeeded, and the report says the
        // detectors run them.
        incident.store(false, Ordering::SeqCst);
        link.queue.lock().push(delivery("r-2", DEAF, 0));
        let ok = until("second rollout reported", || {
            link.reports
                .lock()
                .iter()
                .find(|r| r.rollout == "r-2" && r.state == ReportState::Succeeded)
                .cloned()
        })
        .await;
        assert!(
            ok.detail
                .contains(&format!("1 detectors run settings {deaf_fp}")),
            "{}",
            ok.detail
        );
        assert_eq!(feed(1800, 300).await, 0);
        root.shutdown().await;
    }
}
