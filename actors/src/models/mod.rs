//! The model registry at shore (contracts §10, issue 25 item 4): model versions, the
//! aliases `champion` and `challenger` with an append-only history, promotion gates and
//! one-step rollback.
//!
//! * A **version** is a bundle already uploaded to shore (`POST /api/bundles`), named by
//!   its SHA-256, registered under a model name with a kind (`detector-settings`: a
//!   `detectors` bundle; `link-risk`: a `model` bundle), free metadata and offline
//!   metrics.
//! * Everything that happens to a model is a [`ModelEv`], appended to the model's history
//!   and never changed; the model's state is the fold of its history ([`Model::fold`]),
//!   so "which version was champion at time T" is [`Model::alias_at`].
//! * The history lives in the JetStream stream `SW_MODELS` ([`store`]), one subject per
//!   model, written with the subject's expected last sequence, so every shore node reads
//!   and changes the same registry and two nodes never both apply a change.
//! * The challenger runs in **shadow** on ships ([`shadow`]): delivered by a rollout of a
//!   shadow bundle into `DATA/models/shadow-<model>/`, scored beside the champion on the
//!   same live events, never acting; ships report cumulative [`ShadowCounts`] to shore.
//! * **Gates** ([`Gate`]) compare the challenger's shadow metrics with the champion's on
//!   the same data; [`evaluate`] gives each gate's value and verdict, and the shore's
//!   [`evaluator`] promotes the challenger when every gate passes (recording the
//!   evaluation), or records why it stays in shadow.
//! * A model's opt-in [`RolloutPlan`] makes the evaluator roll out the champion its gates
//!   promote, and the previous one after a rollback ([`Model::deploy_due`], decision
//!   0076).
//!
//! Design and limits: `docs/decisions/0065-model-registry-is-an-append-only-jetstream-history-and-challengers-are-scored-in-shadow-on-ships-and-promoted-by-gates.md`.

pub mod evaluator;
pub mod shadow;
pub mod store;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::rollout::bundle::{is_sha256, BundleKind};
use crate::rollout::state::{OnError, RolloutRequest, WaveSpec};

/// What a model is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ModelKind {
    /// Settings of the ship's anomaly detectors (a `detectors` bundle of TOML files).
    #[serde(rename = "detector-settings")]
    DetectorSettings,
    /// The link-outage risk model's tuning (a `model` bundle with a JSON file).
    #[serde(rename = "link-risk")]
    LinkRisk,
}

impl ModelKind {
    /// The kind's name as in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::DetectorSettings => "detector-settings",
            ModelKind::LinkRisk => "link-risk",
        }
    }

    /// The kind of bundle a version of this kind must be.
    pub fn bundle_kind(self) -> BundleKind {
        match self {
            ModelKind::DetectorSettings => BundleKind::Detectors,
            ModelKind::LinkRisk => BundleKind::Model,
        }
    }

    /// The count gates' `min_exposure` is compared with: scored samples for detector
    /// settings, outages seen for the link-risk model.
    pub fn exposure_name(self) -> &'static str {
        match self {
            ModelKind::DetectorSettings => "samples",
            ModelKind::LinkRisk => "outages",
        }
    }
}

/// The shadow metrics a gate may name.
pub const GATE_METRICS: &[&str] = &["precision", "recall", "alerts_per_1k", "agreement"];

/// An alias.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Alias {
    /// The version that acts on ships.
    Champion,
    /// The version scored in shadow.
    Challenger,
}

impl Alias {
    /// Parses `champion` or `challenger`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "champion" => Some(Alias::Champion),
            "challenger" => Some(Alias::Challenger),
            _ => None,
        }
    }
}

/// One registered version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    /// The bundle's SHA-256 (the version's id).
    pub sha256: String,
    /// What it is.
    pub kind: ModelKind,
    /// Free metadata (at most [`MAX_ENTRIES`] string entries).
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Offline metrics (at most [`MAX_ENTRIES`] finite numbers).
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// Registered at (shore unix ms).
    pub registered_ms: i64,
    /// By whom.
    pub by: String,
}

/// Most metadata or metrics entries of a version, and most gates of a model.
pub const MAX_ENTRIES: usize = 32;

/// Whether a higher or a lower value is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Higher is better (precision, recall, agreement).
    Higher,
    /// Lower is better (alerts per 1000 samples).
    Lower,
}

/// A promotion gate on one shadow metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    /// One of [`GATE_METRICS`].
    pub metric: String,
    /// Which way is better.
    pub direction: Direction,
    /// Absolute bound on the challenger's value: at least this (higher) or at most this
    /// (lower).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Relative change against the champion's value on the same data, in the better
    /// direction, that the challenger must reach: `0.1` = 10 % better, `0` = not worse,
    /// `-0.05` = at most 5 % worse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_relative_change: Option<f64>,
    /// Exposure (the kind's [`ModelKind::exposure_name`], summed over ships) below which
    /// the gate fails as "not enough data".
    #[serde(default)]
    pub min_exposure: u64,
}

/// One gate's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    /// The metric.
    pub metric: String,
    /// The challenger's value (`None`: no data for it).
    pub challenger: Option<f64>,
    /// The champion's value on the same data.
    pub champion: Option<f64>,
    /// Relative change in the better direction, when both are known.
    pub relative_change: Option<f64>,
    /// Exposure seen.
    pub exposure: u64,
    /// Passed?
    pub pass: bool,
    /// Why (or what was checked).
    pub reason: String,
}

/// An evaluation of the challenger's gates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The challenger evaluated.
    pub challenger: String,
    /// The champion it was compared with.
    pub champion: Option<String>,
    /// Ships whose shadow reports counted.
    pub ships: usize,
    /// Each gate.
    pub gates: Vec<GateResult>,
    /// All gates passed (and there is at least one).
    pub pass: bool,
}

impl Evaluation {
    /// The failing gates' reasons, joined (empty when it passed).
    pub fn why_not(&self) -> String {
        if self.gates.is_empty() {
            return "no gates set".into();
        }
        self.gates
            .iter()
            .filter(|g| !g.pass)
            .map(|g| format!("{}: {}", g.metric, g.reason))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Why an alias changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AliasCause {
    /// Set by an admin.
    Set,
    /// The challenger's gates passed.
    Promoted,
    /// One-step rollback to the previous champion.
    Rollback,
}

/// One entry of a model's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ModelEv {
    /// A version was registered.
    Registered {
        /// Shore time (unix ms).
        at_ms: i64,
        /// The version.
        version: Version,
    },
    /// An alias moved (`version: None` clears it).
    Alias {
        /// Shore time (unix ms).
        at_ms: i64,
        /// By whom (`gates` for an automatic promotion).
        by: String,
        /// Which alias.
        alias: Alias,
        /// The version it points to now.
        version: Option<String>,
        /// The version it pointed to before.
        previous: Option<String>,
        /// Why.
        cause: AliasCause,
    },
    /// The promotion gates were set.
    Gates {
        /// Shore time (unix ms).
        at_ms: i64,
        /// By whom.
        by: String,
        /// The gates (empty: no automatic promotion).
        gates: Vec<Gate>,
    },
    /// The gates were evaluated (recorded when the verdict or its reasons change, and on
    /// promotion).
    Evaluated {
        /// Shore time (unix ms).
        at_ms: i64,
        /// The evaluation.
        evaluation: Evaluation,
    },
    /// The champion's rollout plan was set (`None`: cleared): from then on a champion
    /// moved by the gates or by a rollback is rolled out with it.
    RolloutPlan {
        /// Shore time (unix ms).
        at_ms: i64,
        /// By whom.
        by: String,
        /// The plan.
        plan: Option<RolloutPlan>,
    },
    /// A rollout of the champion's bundle was started by the plan.
    Deployed {
        /// Shore time (unix ms).
        at_ms: i64,
        /// The champion rolled out.
        version: String,
        /// The rollout's id.
        rollout: String,
        /// What moved the champion (`promoted` or `rollback`).
        cause: AliasCause,
    },
}

/// How a model's new champion goes to the ships (`POST /api/models/{name}/rollout`):
/// the targets and waves of an ordinary rollout (contracts §2), the bundle being the
/// champion's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutPlan {
    /// Target ships (or `all`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ships: Option<Vec<String>>,
    /// Every ship of the shore's fleet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<bool>,
    /// The waves, in order.
    pub waves: Vec<WaveSpec>,
    /// What a tripped error threshold does (default pause).
    #[serde(default)]
    pub on_error: OnError,
}

impl RolloutPlan {
    /// The rollout request of `bundle` with this plan.
    pub fn request(&self, bundle: &str) -> RolloutRequest {
        RolloutRequest {
            bundle: bundle.to_owned(),
            ships: self.ships.clone(),
            all: self.all,
            waves: self.waves.clone(),
            on_error: self.on_error,
        }
    }

    /// Checks the plan as a rollout would be checked (an `all` plan against a fleet of
    /// one).
    pub fn check(&self) -> Result<(), String> {
        self.request(&"0".repeat(64))
            .plan(&["ship".to_owned()])
            .map(|_| ())
    }
}

impl ModelEv {
    /// When it happened.
    pub fn at_ms(&self) -> i64 {
        match self {
            ModelEv::Registered { at_ms, .. }
            | ModelEv::Alias { at_ms, .. }
            | ModelEv::Gates { at_ms, .. }
            | ModelEv::Evaluated { at_ms, .. }
            | ModelEv::RolloutPlan { at_ms, .. }
            | ModelEv::Deployed { at_ms, .. } => *at_ms,
        }
    }
}

/// A model: the fold of its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Its name.
    pub name: String,
    /// Its kind (every version's).
    pub kind: ModelKind,
    /// Versions, in registration order.
    pub versions: Vec<Version>,
    /// The champion's SHA-256.
    pub champion: Option<String>,
    /// The challenger's SHA-256.
    pub challenger: Option<String>,
    /// Promotion gates.
    pub gates: Vec<Gate>,
    /// The last recorded evaluation.
    pub last_evaluation: Option<Evaluation>,
    /// How a champion moved by the gates or a rollback is rolled out (`None`: it is not).
    #[serde(default)]
    pub rollout: Option<RolloutPlan>,
    /// Every event, oldest first (append-only).
    pub history: Vec<ModelEv>,
}

/// Why a registry request was refused (the API's status code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// 400.
    #[error("{0}")]
    BadRequest(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// 503 / 500: the store failed.
    #[error("{0}")]
    Store(String),
}

/// Whether `s` may name a model: 1–64 of `a-z 0-9 - _` (it is a NATS subject token).
pub fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl Model {
    /// The model whose history is `events` (`None` for an empty history).
    pub fn fold(name: &str, events: &[ModelEv]) -> Option<Model> {
        let mut m: Option<Model> = None;
        for ev in events {
            match (&mut m, ev) {
                (None, ModelEv::Registered { version, .. }) => {
                    let mut model = Model {
                        name: name.to_owned(),
                        kind: version.kind,
                        versions: Vec::new(),
                        champion: None,
                        challenger: None,
                        gates: Vec::new(),
                        last_evaluation: None,
                        rollout: None,
                        history: Vec::new(),
                    };
                    model.apply(ev);
                    m = Some(model);
                }
                (None, _) => {}
                (Some(model), ev) => model.apply(ev),
            }
        }
        m
    }

    /// Applies one event.
    pub fn apply(&mut self, ev: &ModelEv) {
        match ev {
            ModelEv::Registered { version, .. } => self.versions.push(version.clone()),
            ModelEv::Alias { alias, version, .. } => match alias {
                Alias::Champion => self.champion = version.clone(),
                Alias::Challenger => self.challenger = version.clone(),
            },
            ModelEv::Gates { gates, .. } => self.gates = gates.clone(),
            ModelEv::Evaluated { evaluation, .. } => {
                self.last_evaluation = Some(evaluation.clone())
            }
            ModelEv::RolloutPlan { plan, .. } => self.rollout = plan.clone(),
            ModelEv::Deployed { .. } => {}
        }
        self.history.push(ev.clone());
    }

    /// The version registered as `sha`.
    pub fn version(&self, sha: &str) -> Option<&Version> {
        self.versions.iter().find(|v| v.sha256 == sha)
    }

    /// The version `alias` pointed to at `at_ms` (the last alias event at or before it).
    pub fn alias_at(&self, alias: Alias, at_ms: i64) -> Option<String> {
        let mut cur = None;
        for ev in &self.history {
            if ev.at_ms() > at_ms {
                break;
            }
            if let ModelEv::Alias {
                alias: a, version, ..
            } = ev
            {
                if *a == alias {
                    cur = version.clone();
                }
            }
        }
        cur
    }

    /// The history up to `at_ms` (inclusive).
    pub fn history_until(&self, at_ms: i64) -> Vec<ModelEv> {
        self.history
            .iter()
            .take_while(|e| e.at_ms() <= at_ms)
            .cloned()
            .collect()
    }

    /// The champion to roll out now, and why it is champion: when the model has a
    /// rollout plan, the last champion move came after the plan was set, was a promotion
    /// by the gates or a rollback (a champion set by hand is not rolled out), and no
    /// rollout of it was started since.
    pub fn deploy_due(&self) -> Option<(String, AliasCause)> {
        self.rollout.as_ref()?;
        let plan_at = self
            .history
            .iter()
            .rposition(|e| matches!(e, ModelEv::RolloutPlan { .. }))?;
        let (at, version, cause) =
            self.history
                .iter()
                .enumerate()
                .rev()
                .find_map(|(i, e)| match e {
                    ModelEv::Alias {
                        alias: Alias::Champion,
                        version,
                        cause,
                        ..
                    } => Some((i, version.clone(), *cause)),
                    _ => None,
                })?;
        let version = version?;
        if at < plan_at || cause == AliasCause::Set {
            return None;
        }
        let done = self.history[at..]
            .iter()
            .any(|e| matches!(e, ModelEv::Deployed { version: v, .. } if *v == version));
        (!done).then_some((version, cause))
    }

    /// The champion before the current one: what a rollback goes back to.
    pub fn previous_champion(&self) -> Option<String> {
        self.history.iter().rev().find_map(|ev| match ev {
            ModelEv::Alias {
                alias: Alias::Champion,
                previous,
                ..
            } => Some(previous.clone()),
            _ => None,
        })?
    }
}

/// A request to register a version (`POST /api/models/{name}/versions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionRequest {
    /// The uploaded bundle's SHA-256.
    pub bundle: String,
    /// `detector-settings` or `link-risk`.
    pub kind: ModelKind,
    /// Free metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Offline metrics.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
}

fn bad(msg: impl Into<String>) -> ModelError {
    ModelError::BadRequest(msg.into())
}

/// Checks a registration against the model's state (`bundle_kind`: the uploaded bundle's
/// kind, `None` when shore has no such bundle); returns the event to append.
pub fn register(
    model: Option<&Model>,
    name: &str,
    req: VersionRequest,
    bundle_kind: Option<BundleKind>,
    by: &str,
    now_ms: i64,
) -> Result<ModelEv, ModelError> {
    if !is_sha256(&req.bundle) {
        return Err(bad(format!(
            "bundle {:?}: expected a SHA-256 (64 lower-case hex digits)",
            req.bundle
        )));
    }
    match bundle_kind {
        None => {
            return Err(bad(format!(
                "bundle {} is not at shore: upload it with POST /api/bundles first",
                req.bundle
            )))
        }
        Some(k) if k != req.kind.bundle_kind() => {
            return Err(bad(format!(
                "bundle {} is a {} bundle; a {} version needs a {} bundle",
                req.bundle,
                k.as_str(),
                req.kind.as_str(),
                req.kind.bundle_kind().as_str()
            )))
        }
        Some(_) => {}
    }
    if req.metadata.len() > MAX_ENTRIES || req.metrics.len() > MAX_ENTRIES {
        return Err(bad(format!(
            "at most {MAX_ENTRIES} metadata and {MAX_ENTRIES} metrics entries"
        )));
    }
    if let Some((k, _)) = req.metrics.iter().find(|(_, v)| !v.is_finite()) {
        return Err(bad(format!("metric {k:?} is not a finite number")));
    }
    if let Some(m) = model {
        if m.kind != req.kind {
            return Err(bad(format!(
                "model {name} is {}, not {}",
                m.kind.as_str(),
                req.kind.as_str()
            )));
        }
        if m.version(&req.bundle).is_some() {
            return Err(ModelError::Conflict(format!(
                "version {} of {name} is registered already",
                req.bundle
            )));
        }
    }
    Ok(ModelEv::Registered {
        at_ms: now_ms,
        version: Version {
            sha256: req.bundle,
            kind: req.kind,
            metadata: req.metadata,
            metrics: req.metrics,
            registered_ms: now_ms,
            by: by.to_owned(),
        },
    })
}

/// Points `alias` at `version` (`None` clears it; only the challenger may be cleared).
pub fn set_alias(
    m: &Model,
    alias: Alias,
    version: Option<&str>,
    by: &str,
    now_ms: i64,
) -> Result<ModelEv, ModelError> {
    let previous = match alias {
        Alias::Champion => m.champion.clone(),
        Alias::Challenger => m.challenger.clone(),
    };
    if let Some(v) = version {
        if m.version(v).is_none() {
            return Err(bad(format!("model {} has no version {v}", m.name)));
        }
        let other = match alias {
            Alias::Champion => &m.challenger,
            Alias::Challenger => &m.champion,
        };
        if other.as_deref() == Some(v) && alias == Alias::Challenger {
            return Err(bad(format!(
                "{v} is the champion; a challenger must differ"
            )));
        }
    } else if alias == Alias::Champion {
        return Err(bad("the champion cannot be cleared (use rollback)"));
    }
    if previous.as_deref() == version {
        return Err(ModelError::Conflict(format!(
            "{alias:?} of {} is {} already",
            m.name,
            version.unwrap_or("unset")
        )));
    }
    Ok(ModelEv::Alias {
        at_ms: now_ms,
        by: by.to_owned(),
        alias,
        version: version.map(str::to_owned),
        previous,
        cause: AliasCause::Set,
    })
}

/// The events of setting the champion by hand to the current challenger also clear the
/// challenger: a challenger that became champion is no longer in shadow.
pub fn set_champion(
    m: &Model,
    version: &str,
    by: &str,
    now_ms: i64,
    cause: AliasCause,
) -> Result<Vec<ModelEv>, ModelError> {
    let mut evs = vec![
        match set_alias(m, Alias::Champion, Some(version), by, now_ms)? {
            ModelEv::Alias {
                at_ms,
                by,
                alias,
                version,
                previous,
                ..
            } => ModelEv::Alias {
                at_ms,
                by,
                alias,
                version,
                previous,
                cause,
            },
            ev => ev,
        },
    ];
    if m.challenger.as_deref() == Some(version) {
        evs.push(ModelEv::Alias {
            at_ms: now_ms,
            by: by.to_owned(),
            alias: Alias::Challenger,
            version: None,
            previous: m.challenger.clone(),
            cause,
        });
    }
    Ok(evs)
}

/// One-step rollback: the champion goes back to the one before it (recorded with cause
/// `rollback`; a second rollback goes forward again).
pub fn rollback(m: &Model, by: &str, now_ms: i64) -> Result<Vec<ModelEv>, ModelError> {
    let Some(prev) = m.previous_champion() else {
        return Err(ModelError::Conflict(format!(
            "model {} has no previous champion to roll back to",
            m.name
        )));
    };
    set_champion(m, &prev, by, now_ms, AliasCause::Rollback)
}

/// Checks a rollout plan; returns the event that sets it (`None` clears it).
pub fn set_rollout_plan(
    _m: &Model,
    plan: Option<RolloutPlan>,
    by: &str,
    now_ms: i64,
) -> Result<ModelEv, ModelError> {
    if let Some(p) = &plan {
        p.check().map_err(|e| bad(format!("rollout plan: {e}")))?;
    }
    Ok(ModelEv::RolloutPlan {
        at_ms: now_ms,
        by: by.to_owned(),
        plan,
    })
}

/// Checks gates; returns the event that sets them.
pub fn set_gates(
    _m: &Model,
    gates: Vec<Gate>,
    by: &str,
    now_ms: i64,
) -> Result<ModelEv, ModelError> {
    if gates.len() > MAX_ENTRIES {
        return Err(bad(format!("at most {MAX_ENTRIES} gates")));
    }
    for g in &gates {
        if !GATE_METRICS.contains(&g.metric.as_str()) {
            return Err(bad(format!(
                "gate metric {:?}: expected one of {}",
                g.metric,
                GATE_METRICS.join(", ")
            )));
        }
        if g.threshold.is_some_and(|t| !t.is_finite())
            || g.min_relative_change.is_some_and(|t| !t.is_finite())
        {
            return Err(bad(format!("gate {}: bounds must be finite", g.metric)));
        }
        if g.threshold.is_none() && g.min_relative_change.is_none() {
            return Err(bad(format!(
                "gate {}: give a threshold, a min_relative_change or both",
                g.metric
            )));
        }
    }
    Ok(ModelEv::Gates {
        at_ms: now_ms,
        by: by.to_owned(),
        gates,
    })
}

/// Counters of one side (champion or challenger) of a shadow run, cumulative since the
/// run began on a ship; summed over ships at shore.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowCounts {
    /// Samples both sides scored.
    pub samples: u64,
    /// Samples on which this side's decision (alerting or not) equals the other side's.
    pub agree: u64,
    /// Alerts raised (rising edges).
    pub alerts: u64,
    /// Alerts that coincided with an incident (detector settings: an incident on the
    /// alert's element opened within the window) or were followed by an outage (link
    /// risk: within the horizon).
    pub hits: u64,
    /// Incidents opened (detector settings) or outages begun (link risk) while scoring.
    pub events: u64,
    /// Of those, the ones this side had alerted on (within the window / horizon before).
    pub caught: u64,
}

impl ShadowCounts {
    /// Adds `o`.
    pub fn add(&mut self, o: &ShadowCounts) {
        self.samples += o.samples;
        self.agree += o.agree;
        self.alerts += o.alerts;
        self.hits += o.hits;
        self.events += o.events;
        self.caught += o.caught;
    }

    /// The gate metric `name` (`None` without data for it).
    pub fn metric(&self, name: &str) -> Option<f64> {
        let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
        match name {
            "precision" => ratio(self.hits, self.alerts),
            "recall" => ratio(self.caught, self.events),
            "alerts_per_1k" => ratio(self.alerts * 1000, self.samples),
            "agreement" => ratio(self.agree, self.samples),
            _ => None,
        }
    }

    /// Every gate metric that has a value.
    pub fn metrics(&self) -> BTreeMap<String, f64> {
        GATE_METRICS
            .iter()
            .filter_map(|m| Some((m.to_string(), self.metric(m)?)))
            .collect()
    }
}

/// What one ship reports about one model's shadow run (the latest report per ship and
/// model replaces the earlier: the counters are cumulative).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowReport {
    /// The ship.
    pub ship: String,
    /// The model.
    pub model: String,
    /// Its kind.
    pub kind: ModelKind,
    /// The challenger scored.
    pub challenger: String,
    /// The champion it ran beside (`None`: the built-in defaults).
    pub champion: Option<String>,
    /// Ship time the run began (unix ms).
    pub since_ms: i64,
    /// Ship time of this report (unix ms).
    pub at_ms: i64,
    /// The champion's side.
    pub champion_counts: ShadowCounts,
    /// The challenger's side.
    pub challenger_counts: ShadowCounts,
    /// Series or links not scored because the runner's bound was reached.
    #[serde(default)]
    pub dropped_series: u64,
}

impl ShadowReport {
    /// The exposure of this report for its kind.
    pub fn exposure(&self) -> u64 {
        match self.kind {
            ModelKind::DetectorSettings => self.challenger_counts.samples,
            ModelKind::LinkRisk => self.challenger_counts.events,
        }
    }
}

/// The shadow reports that count for the model's current challenger and champion, summed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShadowSummary {
    /// Ships reporting.
    pub ships: Vec<String>,
    /// Champion side, summed.
    pub champion: ShadowCounts,
    /// Challenger side, summed.
    pub challenger: ShadowCounts,
    /// Exposure, summed.
    pub exposure: u64,
}

/// Sums the reports of `m`'s current challenger run beside its current champion.
pub fn summarize(m: &Model, reports: &[ShadowReport]) -> ShadowSummary {
    let mut s = ShadowSummary::default();
    let Some(ch) = &m.challenger else {
        return s;
    };
    for r in reports {
        if r.model != m.name || &r.challenger != ch || r.champion != m.champion {
            continue;
        }
        s.ships.push(r.ship.clone());
        s.champion.add(&r.champion_counts);
        s.challenger.add(&r.challenger_counts);
        s.exposure += r.exposure();
    }
    s.ships.sort();
    s
}

/// Evaluates `m`'s gates on the summed shadow scores of its challenger (`None` when there
/// is no challenger).
pub fn evaluate(m: &Model, s: &ShadowSummary) -> Option<Evaluation> {
    let challenger = m.challenger.clone()?;
    let gates: Vec<GateResult> = m.gates.iter().map(|g| gate(g, s)).collect();
    let pass = !gates.is_empty() && gates.iter().all(|g| g.pass);
    Some(Evaluation {
        challenger,
        champion: m.champion.clone(),
        ships: s.ships.len(),
        gates,
        pass,
    })
}

fn gate(g: &Gate, s: &ShadowSummary) -> GateResult {
    let value = s.challenger.metric(&g.metric);
    let base = s.champion.metric(&g.metric);
    let relative = match (value, base) {
        (Some(v), Some(b)) => {
            let raw = if b == 0.0 {
                if v == 0.0 {
                    0.0
                } else {
                    f64::INFINITY.copysign(v)
                }
            } else {
                (v - b) / b.abs()
            };
            Some(match g.direction {
                Direction::Higher => raw,
                Direction::Lower => -raw,
            })
        }
        _ => None,
    };
    let mut r = GateResult {
        metric: g.metric.clone(),
        challenger: value,
        champion: base,
        relative_change: relative.filter(|x| x.is_finite()),
        exposure: s.exposure,
        pass: false,
        reason: String::new(),
    };
    if s.exposure < g.min_exposure {
        r.reason = format!("exposure {} < minimum {}", s.exposure, g.min_exposure);
        return r;
    }
    let Some(v) = value else {
        r.reason = "no shadow data for this metric yet".into();
        return r;
    };
    let mut checks = Vec::new();
    if let Some(t) = g.threshold {
        let ok = match g.direction {
            Direction::Higher => v >= t,
            Direction::Lower => v <= t,
        };
        let op = match (g.direction, ok) {
            (Direction::Higher, true) => ">=",
            (Direction::Higher, false) => "<",
            (Direction::Lower, true) => "<=",
            (Direction::Lower, false) => ">",
        };
        checks.push((ok, format!("{v:.4} {op} threshold {t}")));
    }
    if let Some(min) = g.min_relative_change {
        match relative {
            Some(rel) => {
                let ok = rel >= min;
                checks.push((
                    ok,
                    format!(
                        "change vs champion {:+.1}% {} required {:+.1}%",
                        rel * 100.0,
                        if ok { ">=" } else { "<" },
                        min * 100.0
                    ),
                ));
            }
            None => checks.push((false, "champion has no value to compare with".into())),
        }
    }
    r.pass = checks.iter().all(|(ok, _)| *ok);
    r.reason = checks
        .into_iter()
        .map(|(_, s)| s)
        .collect::<Vec<_>>()
        .join(", ");
    r
}

#[cfg(test)]
mod tests;
