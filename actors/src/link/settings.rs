//! Link-risk settings: what a `link-risk` model version (a `model` bundle) holds, read the
//! same way by the live link actors and by the shadow runner.
//!
//! A link-risk bundle carries its settings in [`SETTINGS_FILE`] (`link-risk.json`), one
//! JSON object; unknown keys are ignored. The keys tune the outage predictor
//! ([`RiskConfig`]): `fire_at`, `clear_below`, `clear_after_s` (the `LinkRisk` alert's
//! hysteresis), `t50_s`, `t_scale_s` (the trend / rain logistic), `outage_below_db` (the
//! Es/No counted as an outage), `min_samples` (Es/No samples before the trend counts);
//! `link_kind` and `band` are read by the shadow runner only (a live link's kind and band
//! come from its inventory entry). Out-of-range values and values of the wrong type are
//! an error naming the key.
//!
//! **Which folder.** The bundle agent puts a model bundle in `DATA/models/<name>/`. A
//! folder there holds a link-risk model when it has a `link-risk.json` at its top; shadow
//! slots (`shadow-<model>/`) and the agent's own hidden folders never count. A ship runs
//! at most one link-risk model: two such folders are an error ([`find`]).
//!
//! **Live.** A ship starts its link actors with the link-risk model in `DATA/models`
//! over the built-in tuning, and the bundle agent's reload of a `model` bundle pushes the
//! settings to the running link actors through the roster
//! ([`crate::roster::Roster::apply_link_risk`]): the bundle carries the tuning, the
//! inventory carries the link (kind, band, satellite geometry, blockage sectors), and
//! the link's own down threshold is the outage threshold unless the bundle sets
//! `outage_below_db` ([`live_risk_config`]). A running link actor keeps everything its
//! predictor learned ([`crate::link::risk::RiskModel::set_config`]) and reports the
//! [`RiskConfig::fingerprint`] it runs; the bundle's health check passes only when every
//! link reports the fingerprint of the settings on disk.

use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Deserialize;

use super::risk::{RiskConfig, WINDOW};
use super::LinkThresholds;
use crate::rollout::bundle::{Bundle, BundleKind};

/// The file of a link-risk bundle that holds its settings (and marks a `DATA/models`
/// folder as a link-risk model).
pub const SETTINGS_FILE: &str = "link-risk.json";

/// Link-risk tuning a `model` bundle may give (module docs); `None` keeps the built-in
/// value.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct LinkRiskSettings {
    /// Risk at which the alert fires.
    pub fire_at: Option<f64>,
    /// Risk below which it may clear.
    pub clear_below: Option<f64>,
    /// Seconds below that before it clears.
    pub clear_after_s: Option<f64>,
    /// Time to outage at which the trend risk is 0.5.
    pub t50_s: Option<f64>,
    /// Width of that logistic.
    pub t_scale_s: Option<f64>,
    /// Es/No below which the link is out.
    pub outage_below_db: Option<f64>,
    /// Es/No samples before the trend counts.
    pub min_samples: Option<usize>,
    /// The links' kind for the rain prior (default `vsat`); the shadow runner's only.
    pub link_kind: Option<String>,
    /// Their band (default `Ku`); the shadow runner's only.
    pub band: Option<String>,
}

impl LinkRiskSettings {
    /// Reads settings from one JSON file's bytes (`path` names it in errors), then checks
    /// them ([`LinkRiskSettings::check`]). A value of the wrong type is an error naming
    /// its key.
    pub fn from_json(path: &str, bytes: &[u8]) -> Result<Self, String> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("{path}: {e}"))?;
        let serde_json::Value::Object(map) = value else {
            return Err(format!(
                "{path}: expected a JSON object of link-risk settings"
            ));
        };
        // one key at a time, so that a wrong type names its key
        for (k, v) in &map {
            let one = serde_json::Value::Object([(k.clone(), v.clone())].into_iter().collect());
            serde_json::from_value::<LinkRiskSettings>(one)
                .map_err(|e| format!("{path}: link-risk settings: {k}: {e}"))?;
        }
        let s: LinkRiskSettings = serde_json::from_value(serde_json::Value::Object(map))
            .map_err(|e| format!("{path}: link-risk settings: {e}"))?;
        s.check().map_err(|e| format!("{path}: {e}"))?;
        Ok(s)
    }

    /// Reads the settings from a `model` bundle: its [`SETTINGS_FILE`], else (bundles
    /// made before the file had a name) its first `*.json` file.
    pub fn from_bundle(b: &Bundle) -> Result<Self, String> {
        if b.manifest.kind != BundleKind::Model {
            return Err(format!(
                "a {} bundle, not a model",
                b.manifest.kind.as_str()
            ));
        }
        let file = b
            .files
            .iter()
            .find(|(p, _)| p == SETTINGS_FILE)
            .or_else(|| b.files.iter().find(|(p, _)| p.ends_with(".json")));
        let Some((path, bytes)) = file else {
            return Err("link-risk model bundle without a JSON file".into());
        };
        Self::from_json(path, bytes)
    }

    /// Reads the settings of a model folder (`DATA/models/<name>`): its
    /// [`SETTINGS_FILE`].
    pub fn from_dir(dir: &Path) -> Result<Self, String> {
        let path = dir.join(SETTINGS_FILE);
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::from_json(&path.display().to_string(), &bytes)
    }

    /// Values out of range are an error that names the key.
    pub fn check(&self) -> Result<(), String> {
        let err = |k: &str, v: f64, want: &str| -> Result<(), String> {
            Err(format!("link-risk settings: {k} = {v}: expected {want}"))
        };
        if let Some(x) = self.fire_at {
            if !(x > 0.0 && x <= 1.0) {
                return err("fire_at", x, "a number in (0, 1]");
            }
        }
        if let Some(x) = self.clear_below {
            if !(0.0..1.0).contains(&x) {
                return err("clear_below", x, "a number in [0, 1)");
            }
        }
        let c = self.config();
        if c.clear_below > c.fire_at {
            return Err(format!(
                "link-risk settings: clear_below = {} must not be above fire_at = {}",
                c.clear_below, c.fire_at
            ));
        }
        if let Some(x) = self.clear_after_s {
            if !(x.is_finite() && x >= 0.0) {
                return err("clear_after_s", x, "a number of seconds >= 0");
            }
        }
        for (k, v) in [("t50_s", self.t50_s), ("t_scale_s", self.t_scale_s)] {
            if let Some(x) = v.filter(|x| !(x.is_finite() && *x > 0.0)) {
                return err(k, x, "a positive number of seconds");
            }
        }
        if let Some(x) = self.outage_below_db.filter(|x| !x.is_finite()) {
            return err("outage_below_db", x, "a number of dB");
        }
        if let Some(n) = self.min_samples {
            if !(2..=WINDOW).contains(&n) {
                return Err(format!(
                    "link-risk settings: min_samples = {n}: expected 2 to {WINDOW} (the Es/No window)"
                ));
            }
        }
        Ok(())
    }

    /// The risk configuration: the built-in defaults with these settings over them.
    pub fn config(&self) -> RiskConfig {
        self.config_over(RiskConfig::default())
    }

    /// `base` with these settings over it.
    pub fn config_over(&self, mut c: RiskConfig) -> RiskConfig {
        let set = |dst: &mut f64, v: Option<f64>| {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                *dst = v;
            }
        };
        set(&mut c.fire_at, self.fire_at);
        set(&mut c.clear_below, self.clear_below);
        set(&mut c.clear_after_s, self.clear_after_s);
        set(&mut c.t50_s, self.t50_s);
        set(&mut c.t_scale_s, self.t_scale_s);
        set(&mut c.outage_below_db, self.outage_below_db);
        if let Some(n) = self.min_samples {
            c.min_samples = n.max(2);
        }
        c
    }
}

/// The risk configuration a live link with thresholds `th` runs under `settings`: the
/// built-in tuning with the link's down threshold as its outage threshold, and the
/// settings over both.
pub fn live_risk_config(settings: &LinkRiskSettings, th: &LinkThresholds) -> RiskConfig {
    settings.config_over(RiskConfig {
        outage_below_db: th.down_below_db,
        ..RiskConfig::default()
    })
}

/// The link-risk settings every link actor of a ship runs now, shared by the roster and
/// every link incarnation: a link actor (re)started reads it, so a restart keeps the
/// settings last pushed. Cheap to clone; the default holds the built-in tuning.
#[derive(Clone, Debug, Default)]
pub struct LinkRiskCell(Arc<Mutex<Arc<LinkRiskSettings>>>);

impl LinkRiskCell {
    /// A cell holding `settings`.
    pub fn new(settings: LinkRiskSettings) -> Self {
        Self(Arc::new(Mutex::new(Arc::new(settings))))
    }

    /// The settings now.
    pub fn get(&self) -> Arc<LinkRiskSettings> {
        self.0.lock().clone()
    }

    /// Replaces the settings.
    pub fn set(&self, settings: Arc<LinkRiskSettings>) {
        *self.0.lock() = settings;
    }
}

/// The link-risk model in `models` (`DATA/models`): `(folder name, settings)` of the one
/// folder holding a [`SETTINGS_FILE`] (module docs), `None` when there is none (the
/// built-in tuning runs). Two such folders, or settings that do not load, are an error.
pub fn find(models: &Path) -> Result<Option<(String, LinkRiskSettings)>, String> {
    let rd = match std::fs::read_dir(models) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", models.display())),
    };
    let mut found: Vec<String> = rd
        .flatten()
        .filter(|e| e.path().join(SETTINGS_FILE).is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| !n.starts_with('.') && !n.starts_with("shadow-"))
        .collect();
    found.sort();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some((
            one.clone(),
            LinkRiskSettings::from_dir(&models.join(one))?,
        ))),
        many => Err(format!(
            "{} link-risk models in {} ({}): a ship runs one",
            many.len(),
            models.display(),
            many.join(", ")
        )),
    }
}

/// The bundle agent's reload of a `model` bundle: finds the link-risk model in `models`
/// (the built-in tuning when there is none, e.g. after a rollback removed the only one)
/// and pushes it to the ship's running link actors through its roster; says how many
/// run it (their reported fingerprint), or why not.
pub async fn reload(roster: &crate::roster::Roster, models: &Path) -> Result<String, String> {
    let (name, settings) = find(models)?.unwrap_or_else(|| ("built-in".into(), Default::default()));
    let running = roster.apply_link_risk(settings).await?;
    Ok(format!("{running} (model {name})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_load_over_the_built_in_tuning_and_bad_values_name_their_key() {
        let s = LinkRiskSettings::from_json(
            "link-risk.json",
            br#"{"fire_at": 0.3, "min_samples": 4, "band": "Ka", "other": [1]}"#,
        )
        .unwrap();
        let c = s.config();
        assert_eq!((c.fire_at, c.min_samples), (0.3, 4));
        assert_eq!(c.clear_below, RiskConfig::default().clear_below);
        assert_ne!(c.fingerprint(), RiskConfig::default().fingerprint());
        // the link's own down threshold is the outage threshold unless the bundle says
        let th = LinkThresholds {
            down_below_db: -0.5,
            ..LinkThresholds::default()
        };
        assert_eq!(live_risk_config(&s, &th).outage_below_db, -0.5);
        let own = LinkRiskSettings {
            outage_below_db: Some(1.0),
            ..s.clone()
        };
        assert_eq!(live_risk_config(&own, &th).outage_below_db, 1.0);
        assert_eq!(
            live_risk_config(&LinkRiskSettings::default(), &LinkThresholds::default()),
            RiskConfig {
                outage_below_db: LinkThresholds::default().down_below_db,
                ..RiskConfig::default()
            },
            "no settings: the built-in tuning"
        );
        for (bad, key) in [
            (r#"{"fire_at": 1.5}"#, "fire_at"),
            (r#"{"fire_at": "high"}"#, "fire_at"),
            (r#"{"clear_below": 0.7}"#, "clear_below"),
            (r#"{"t50_s": 0}"#, "t50_s"),
            (r#"{"clear_after_s": -1}"#, "clear_after_s"),
            (r#"{"min_samples": 40}"#, "min_samples"),
            (r#"{"min_samples": -1}"#, "min_samples"),
        ] {
            let e = LinkRiskSettings::from_json("link-risk.json", bad.as_bytes()).unwrap_err();
            assert!(
                e.contains(key) && e.contains("link-risk.json"),
                "{bad}: {e}"
            );
        }
        assert!(LinkRiskSettings::from_json("x.json", b"[1]")
            .unwrap_err()
            .contains("JSON object"));
    }

    #[test]
    fn the_one_folder_with_link_risk_json_is_the_model_and_two_are_an_error() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(find(&d.path().join("missing")).unwrap(), None);
        let write = |dir: &str, json: &str| {
            std::fs::create_dir_all(d.path().join(dir)).unwrap();
            std::fs::write(d.path().join(dir).join(SETTINGS_FILE), json).unwrap();
        };
        // shadow slots, the agent's hidden folders and other models do not count
        write("shadow-vsat-risk", r#"{"fire_at": 0.2}"#);
        write(".vsat-risk.previous", r#"{"fire_at": 0.2}"#);
        std::fs::create_dir_all(d.path().join("llm")).unwrap();
        std::fs::write(d.path().join("llm/meta.json"), "{}").unwrap();
        assert_eq!(find(d.path()).unwrap(), None);
        write("vsat-risk", r#"{"fire_at": 0.4}"#);
        let (name, s) = find(d.path()).unwrap().unwrap();
        assert_eq!((name.as_str(), s.fire_at), ("vsat-risk", Some(0.4)));
        write("leo-risk", r#"{"fire_at": 0.5}"#);
        let e = find(d.path()).unwrap_err();
        assert!(e.contains("leo-risk, vsat-risk"), "{e}");
        std::fs::remove_dir_all(d.path().join("leo-risk")).unwrap();
        write("vsat-risk", r#"{"fire_at": 2}"#);
        assert!(find(d.path()).unwrap_err().contains("fire_at"));
    }
}

#[cfg(test)]
mod live {
    //! A running ship's roster and bundle agent: a link-risk model delivered by a rollout
    //! changes what the running link actor warns of, without a restart, and a failed
    //! health check puts the previous tuning back in the running link actor.

    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    use parking_lot::RwLock;
    use seawatch_model::sample::MetricSample;
    use seawatch_model::{Alert, AlertClass, AlertSource, AlertState, LinkSpec};
    use seawatch_runtime::{Clock, Metrics, Runtime};

    use super::*;
    use crate::alert::AlertSink;
    use crate::ingest::metrics::IngestMetrics;
    use crate::ingest::record::Observation;
    use crate::inventory::Inventory;
    use crate::link::{LinkMetrics, LinkMsg};
    use crate::rollout::agent::mem::{live_rig, LiveRig, MemLink};
    use crate::rollout::agent::{BundleTargets, OnApplied};
    use crate::rollout::bundle::{encode, sha256_hex};
    use crate::rollout::{Delivery, Report, ReportState};
    use crate::roster::{roster_child, Discovered, RosterArgs, RosterMetrics, RosterView};

    /// Warns earlier than the built-in tuning (`fire_at` 0.6).
    const EARLY: &str = r#"{"fire_at": 0.3, "clear_below": 0.2}"#;
    /// Out of range: the bundle's check names the key.
    const BAD: &str = r#"{"fire_at": 1.5}"#;

    fn delivery(rollout: &str, json: &str, window_s: u64) -> Vec<u8> {
        let bytes = encode(
            BundleKind::Model,
            "vsat-risk",
            vec![(SETTINGS_FILE.into(), json.as_bytes().to_vec())],
        );
        Delivery {
            rollout: rollout.into(),
            ship: "aurora".into(),
            sha256: sha256_hex(&bytes),
            kind: BundleKind::Model,
            timeout_s: 120,
            chunks: 0,
            size: 0,
            incident_window_s: window_s,
            attempt: 0,
        }
        .encode(&bytes)
    }

    fn fingerprint(json: Option<&str>) -> String {
        let s = json
            .map(|j| LinkRiskSettings::from_json("t.json", j.as_bytes()).unwrap())
            .unwrap_or_default();
        live_risk_config(&s, &LinkThresholds::default()).fingerprint()
    }

    async fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "timed out: {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn report(link: &MemLink, rollout: &str) -> Option<Report> {
        link.reports
            .lock()
            .iter()
            .find(|r| r.rollout == rollout && r.state != ReportState::Received)
            .cloned()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_link_risk_rollout_changes_what_the_running_link_warns_of_and_a_rollback_restores_it()
    {
        let d = tempfile::tempdir().unwrap();
        let targets = BundleTargets::under(d.path());
        let runtime = Runtime::new(Clock::system());
        let registry = Metrics::new();
        let alerts: Arc<Mutex<Vec<Alert>>> = Arc::default();
        let a2 = alerts.clone();
        let (roster_spec, roster) = roster_child(RosterArgs {
            ship: "aurora".into(),
            runtime: runtime.clone(),
            inventory: Arc::new(RwLock::new(Inventory {
                ship: "aurora".into(),
                devices: vec![],
                links: vec![LinkSpec {
                    id: "vsat-1".into(),
                    kind: "vsat".into(),
                    band: Some("Ku".into()),
                    capacity_mbps: Some(50.0),
                    primary: true,
                    ..Default::default()
                }],
            })),
            discovered: Discovered::in_memory(),
            alerts: AlertSink::from_fn(move |a| a2.lock().push(a)),
            push: None,
            ingest_metrics: IngestMetrics::register(&registry, "aurora"),
            link_metrics: LinkMetrics::register(&registry),
            // DATA/models holds no link-risk model yet: the built-in tuning
            link_risk: LinkRiskCell::new(find(&targets.models).unwrap().unwrap_or_default().1),
            detectors: None,
            metrics: RosterMetrics::register(&registry),
            view: RosterView::default(),
        });
        let (r2, models) = (roster.clone(), targets.models.clone());
        // the ship's reload of a model bundle (topologies' ship assembly calls the same)
        let on_applied: OnApplied = Arc::new(move |kind| {
            let (r, models) = (r2.clone(), models.clone());
            Box::pin(async move {
                match kind {
                    BundleKind::Model => reload(&r, &models).await,
                    other => Ok(format!("{} not reloaded here", other.as_str())),
                }
            })
        });
        let LiveRig {
            link: ship_link,
            incident,
            root,
        } = live_rig(d.path(), &targets, roster_spec, runtime, on_applied).await;
        let link = roster.link("vsat-1").unwrap();
        let running = || async {
            link.call(LinkMsg::RiskRunning, Duration::from_secs(5))
                .await
                .unwrap()
        };

        // One cycle of the same fading link: 5 min clear at 11.5 dB, 25 min fading by
        // 0.008 dB/s (too slow for a trend) to 0.9 dB and staying there (a margin risk of
        // about 0.43), then 5 min clear again. Returns the `LinkRisk` alerts (fire,
        // clear) it raised.
        let mut fed = 0u64;
        let mut cycle = async || -> (usize, usize) {
            let before = alerts.lock().len();
            let t0 = 1_800_000_000_000 + fed as i64 * 5_000;
            let kpi = |name: &str, v: f64, i: i64| {
                Observation::from_metric(MetricSample {
                    device: "modem-1".into(),
                    name: name.into(),
                    labels: vec![("link".into(), "vsat-1".into())],
                    value: v,
                    ts_ms: t0 + i * 5_000,
                })
            };
            let esno = |i: i64| {
                if !(60..360).contains(&i) {
                    11.5
                } else {
                    (11.5 - 0.04 * (i - 60) as f64).max(0.9)
                }
            };
            let items: Vec<Observation> = (0..420i64)
                .flat_map(|i| [kpi("modem_lock", 1.0, i), kpi("modem_esno_db", esno(i), i)])
                .collect();
            for chunk in items.chunks(120) {
                roster.route(Instant::now(), chunk.to_vec()).await;
            }
            fed += 420;
            let want = fed;
            let start = Instant::now();
            while running().await.esno_samples < want {
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "samples not seen"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let risk: Vec<AlertState> = alerts.lock()[before..]
                .iter()
                .filter(|a| {
                    a.source == AlertSource::Prediction && a.class == AlertClass::OutageRisk
                })
                .map(|a| a.state)
                .collect();
            (
                risk.iter().filter(|s| **s == AlertState::Firing).count(),
                risk.iter().filter(|s| **s == AlertState::Cleared).count(),
            )
        };

        // The built-in tuning does not warn of the fade.
        let built_in = fingerprint(None);
        assert_eq!(running().await.fingerprint, built_in);
        assert_eq!(cycle().await, (0, 0), "the built-in tuning stays quiet");

        // A rollout of an earlier-warning model with a 600 s incident watch: while the
        // ship watches, the running link actor already runs it (same incarnation).
        let early = fingerprint(Some(EARLY));
        ship_link.queue.lock().push(delivery("r-1", EARLY, 600));
        until("the early model running", || {
            targets
                .models
                .join("vsat-risk")
                .join(SETTINGS_FILE)
                .exists()
                .then_some(())
        })
        .await;
        let start = Instant::now();
        while running().await.fingerprint != early {
            assert!(start.elapsed() < Duration::from_secs(30), "not pushed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            running().await.esno_samples,
            420,
            "the same link actor incarnation"
        );
        let (fired, cleared) = cycle().await;
        assert_eq!(
            (fired, cleared),
            (1, 1),
            "the same fade now raises its LinkRisk alert (cleared once the link recovered)"
        );

        // A critical incident within the watch: the ship rolls back by itself (no model
        // was there before), and the running link actor gets the built-in tuning back.
        incident.store(true, Ordering::SeqCst);
        let failed = until("rollback reported", || report(&ship_link, "r-1")).await;
        assert_eq!(failed.state, ReportState::Failed);
        assert!(
            failed.detail.contains("rolled back")
                && failed.detail.contains(&format!(
                    "1 links run link-risk {built_in} (model built-in)"
                )),
            "{}",
            failed.detail
        );
        assert!(!targets.models.join("vsat-risk").exists());
        assert_eq!(running().await.fingerprint, built_in);
        assert_eq!(cycle().await, (0, 0), "the old behaviour is back");
        incident.store(false, Ordering::SeqCst);

        // A bad value fails the bundle (the reload loads nothing), naming the key; the
        // link keeps what it runs.
        ship_link.queue.lock().push(delivery("r-2", BAD, 0));
        let bad = until("bad bundle reported", || report(&ship_link, "r-2")).await;
        assert_eq!(bad.state, ReportState::Failed);
        assert!(
            bad.detail.contains("fire_at = 1.5") && bad.detail.contains("rolled back"),
            "{}",
            bad.detail
        );
        assert_eq!(running().await.fingerprint, built_in);

        // The early model again without a watch: succeeded, and the report says the links
        // run it.
        ship_link.queue.lock().push(delivery("r-3", EARLY, 0));
        let ok = until("third rollout reported", || report(&ship_link, "r-3")).await;
        assert_eq!(ok.state, ReportState::Succeeded, "{}", ok.detail);
        assert!(
            ok.detail
                .contains(&format!("1 links run link-risk {early} (model vsat-risk)")),
            "{}",
            ok.detail
        );
        assert_eq!(running().await.esno_samples, 3 * 420, "never restarted");
        // nothing pushed was lost
        assert_eq!(roster.metrics().undelivered_total("aurora", "link"), 0);
        root.shutdown().await;
    }
}
