//! The ship's bundle agent: a supervised actor that takes deliveries from shore, applies
//! them and reports.
//!
//! For each delivery it: reports `received`; checks the bytes against the SHA-256 it was
//! sent as; writes the files into a staging folder beside the target (`DATA/policies`,
//! `DATA/runbooks`, `DATA/detectors`, `DATA/assistant/docs`, `DATA/models/<name>`) and
//! swaps it in by renames, keeping the previous version beside it (`.<name>.previous`);
//! tells the node to reload ([`AgentArgs::on_applied`]: detector settings are pushed to
//! the running detectors, which must report their fingerprint, decision 0076; a
//! link-risk model's to the running link actors, decision 0079); runs the
//! health check — the reload's answer, the bundle's own (policies compile, runbooks load,
//! detector settings and model JSON parse, a link-risk model's settings load, documents
//! are UTF-8) and the ship's ([`AgentArgs::health`]: the supervision tree is up) — within
//! the delivery's
//! `timeout_s`; on failure puts the previous version back by
//! itself; records the outcome in `DATA/bundles/agent.json`; reports `succeeded` or
//! `failed`, and only then acks the delivery.
//!
//! **Once.** The outcome is recorded by rollout before it is reported, so a delivery that
//! comes again (the ack was lost, the ship restarted) is answered from the record and not
//! applied twice; a bundle already in place is not swapped again. A crash between the
//! swap and the record is found at the next start (`in_progress` in the record) and the
//! previous version is put back before anything else.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use seawatch_runtime::supervision::{Addr, ChildSpec};
use seawatch_runtime::Clock;
use serde::{Deserialize, Serialize};

use super::bundle::{verify, Bundle, BundleKind};
use super::nats::ShipLink;
use super::{Delivery, Report, ReportState};

/// Opens the agent's transport (called again after a failure).
pub type ShipConnector =
    Arc<dyn Fn() -> BoxFuture<'static, Result<Arc<dyn ShipLink>, String>> + Send + Sync>;

/// The ship's own health, beside the bundle's check (`Err` says why it is unhealthy).
pub type HealthCheck = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Called after a bundle of a kind was swapped in or rolled back: reloads what reads it
/// and says what now runs (detector settings: pushed to the running detectors, which
/// report the settings' fingerprint; a model: the link-risk model in `DATA/models`
/// pushed to the running link actors, likewise); `Err` fails the health check (the bundle is rolled
/// back, and the hook is called again for the previous version).
pub type OnApplied =
    Arc<dyn Fn(BundleKind) -> BoxFuture<'static, Result<String, String>> + Send + Sync>;

/// A reload hook with nothing to reload (tests, a ship whose parts read their files at
/// each use).
pub fn reload_nothing() -> OnApplied {
    Arc::new(|_| Box::pin(async { Ok("nothing to reload".to_string()) }))
}

/// The ship's critical incidents opened at or after a time (unix ms): `Some` names the
/// first one (`id: root cause`), which fails a health check still watching.
pub type IncidentProbe = Arc<dyn Fn(i64) -> Option<String> + Send + Sync>;

/// The probe of the ship's incident board: critical, not merged, opened at or after the
/// time asked (open or already resolved: one that came and went inside the watch counts).
pub fn critical_incidents(board: crate::incident::IncidentBoard, ship: String) -> IncidentProbe {
    use crate::incident::board::StateFilter;
    use crate::incident::model::IncidentSeverity;
    Arc::new(move |since_ms| {
        board
            .list(Some(&ship), StateFilter::All)
            .into_iter()
            .find(|i| i.severity == IncidentSeverity::Critical && i.opened_at_ms >= since_ms)
            .map(|i| format!("{}: {}", i.id, i.root_cause))
    })
}

/// A probe that never finds an incident (a ship without a correlator, tests).
pub fn no_incidents() -> IncidentProbe {
    Arc::new(|_| None)
}

/// Where each kind of bundle goes on the ship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleTargets {
    /// Detector settings.
    pub detectors: PathBuf,
    /// Runbooks.
    pub runbooks: PathBuf,
    /// Policies.
    pub policies: PathBuf,
    /// Assistant documents.
    pub assistant: PathBuf,
    /// Models (one folder per model name below).
    pub models: PathBuf,
}

impl BundleTargets {
    /// The default folders under the ship's `data` folder.
    pub fn under(data: &Path) -> Self {
        Self {
            detectors: data.join("detectors"),
            runbooks: data.join("runbooks"),
            policies: data.join("policies"),
            assistant: data.join("assistant").join("docs"),
            models: data.join("models"),
        }
    }

    /// The folder bundle `b` replaces.
    pub fn dir(&self, b: &Bundle) -> PathBuf {
        match b.manifest.kind {
            BundleKind::Detectors => self.detectors.clone(),
            BundleKind::Runbooks => self.runbooks.clone(),
            BundleKind::Policies => self.policies.clone(),
            BundleKind::Assistant => self.assistant.clone(),
            BundleKind::Model => self.models.join(&b.manifest.name),
        }
    }
}

/// Start arguments of the agent.
#[derive(Clone)]
pub struct AgentArgs {
    /// The ship.
    pub ship: String,
    /// Where the agent keeps its record (`DATA/bundles`).
    pub dir: PathBuf,
    /// Where bundles go.
    pub targets: BundleTargets,
    /// The transport.
    pub connect: ShipConnector,
    /// Ship time.
    pub clock: Clock,
    /// How often to look for a delivery when none waits.
    pub poll: Duration,
    /// The ship's own health.
    pub health: HealthCheck,
    /// Reload hook.
    pub on_applied: OnApplied,
    /// The ship's new critical incidents (the "no new critical incident within N
    /// seconds" part of the health check).
    pub incidents: IncidentProbe,
}

/// What the agent did with one rollout's delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The bundle.
    pub sha256: String,
    /// Succeeded or failed.
    pub state: ReportState,
    /// What was checked, or why it failed.
    pub detail: String,
    /// Ship time (unix ms).
    pub at_ms: i64,
}

/// A swap not yet recorded (crash safety).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InProgress {
    /// The rollout.
    pub rollout: String,
    /// The folder swapped.
    pub target: PathBuf,
    /// Whether a previous version was kept.
    pub had_previous: bool,
    /// The bundle's kind (reloaded after the rollback at the next start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<BundleKind>,
}

/// The agent's record (`DATA/bundles/agent.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRecord {
    /// Bundle in place per target folder.
    pub current: BTreeMap<String, String>,
    /// Outcome per rollout id.
    pub outcomes: BTreeMap<String, Outcome>,
    /// Deliveries applied (swapped in) so far; a repeat does not count.
    pub applied: u64,
    /// A swap whose outcome is not recorded yet.
    pub in_progress: Option<InProgress>,
}

impl AgentRecord {
    fn path(dir: &Path) -> PathBuf {
        dir.join("agent.json")
    }

    /// Reads the record in `dir` (empty when there is none).
    pub fn load(dir: &Path) -> Result<Self, String> {
        match std::fs::read(Self::path(dir)) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| format!("{}: {e}", Self::path(dir).display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(format!("{}: {e}", Self::path(dir).display())),
        }
    }

    fn save(&self, dir: &Path) -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let tmp = dir.join("agent.json.tmp");
        let body = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(&tmp, body)
            .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
            .and_then(|_| std::fs::rename(&tmp, Self::path(dir)))
            .map_err(|e| format!("{}: {e}", Self::path(dir).display()))
    }
}

fn sibling(target: &Path, suffix: &str) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bundle".into());
    target.with_file_name(format!(".{name}.{suffix}"))
}

fn io(p: &Path, e: std::io::Error) -> String {
    format!("{}: {e}", p.display())
}

/// Writes `b`'s files into a staging folder beside `target` and swaps it in, keeping the
/// previous version; returns whether there was one.
pub fn swap_in(target: &Path, b: &Bundle) -> Result<bool, String> {
    let parent = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    let staging = sibling(target, "staging");
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| io(&staging, e))?;
    }
    std::fs::create_dir_all(&staging).map_err(|e| io(&staging, e))?;
    for (rel, bytes) in &b.files {
        let p = staging.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(|e| io(d, e))?;
        }
        std::fs::write(&p, bytes).map_err(|e| io(&p, e))?;
    }
    let previous = sibling(target, "previous");
    if previous.exists() {
        std::fs::remove_dir_all(&previous).map_err(|e| io(&previous, e))?;
    }
    let had = target.exists();
    if had {
        std::fs::rename(target, &previous).map_err(|e| io(target, e))?;
    }
    std::fs::rename(&staging, target).map_err(|e| io(target, e))?;
    Ok(had)
}

/// Puts the previous version of `target` back (or removes it when there was none).
pub fn roll_back(target: &Path, had_previous: bool) -> Result<(), String> {
    let previous = sibling(target, "previous");
    if had_previous && !previous.exists() {
        return Err(format!("{}: no previous version kept", previous.display()));
    }
    if target.exists() {
        std::fs::remove_dir_all(target).map_err(|e| io(target, e))?;
    }
    if had_previous {
        std::fs::rename(&previous, target).map_err(|e| io(target, e))?;
    }
    Ok(())
}

fn files_with(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if ext.is_empty() || p.extension().is_some_and(|x| x == ext) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The bundle's own check on the folder it was applied to.
pub fn check_applied(kind: BundleKind, dir: &Path) -> Result<String, String> {
    match kind {
        BundleKind::Policies => {
            let p = crate::runbook::policy::Policy::load_dir(dir);
            match p.error() {
                Some(e) => Err(format!("policy does not compile: {e}")),
                None => Ok("policy compiles".into()),
            }
        }
        BundleKind::Runbooks => {
            let cat = crate::runbook::spec::Catalogue::load_dir(dir);
            match cat.errors.first() {
                Some(e) => Err(format!("runbook does not load: {e}")),
                None => Ok(format!("{} runbooks load", cat.runbooks.len())),
            }
        }
        BundleKind::Detectors => {
            let files = files_with(dir, "toml");
            for f in &files {
                let text = std::fs::read_to_string(f).map_err(|e| io(f, e))?;
                toml::from_str::<toml::Value>(&text)
                    .map_err(|e| format!("{}: {e}", f.display()))?;
            }
            crate::detect::settings::DetectorSettings::from_dir(dir)?;
            Ok(format!("{} detector settings files parse", files.len()))
        }
        BundleKind::Assistant => {
            let files = files_with(dir, "");
            for f in &files {
                let b = std::fs::read(f).map_err(|e| io(f, e))?;
                std::str::from_utf8(&b).map_err(|_| format!("{}: not UTF-8", f.display()))?;
            }
            Ok(format!("{} documents", files.len()))
        }
        BundleKind::Model => {
            let files = files_with(dir, "");
            if files.is_empty() {
                return Err("model bundle has no files".into());
            }
            for f in files_with(dir, "json") {
                let b = std::fs::read(&f).map_err(|e| io(&f, e))?;
                serde_json::from_slice::<serde_json::Value>(&b)
                    .map_err(|e| format!("{}: {e}", f.display()))?;
            }
            // a link-risk model's settings load (keys and ranges), as the link actors read them
            if dir.join(crate::link::settings::SETTINGS_FILE).is_file() {
                crate::link::settings::LinkRiskSettings::from_dir(dir)?;
                return Ok(format!("link-risk model of {} files loads", files.len()));
            }
            Ok(format!("model of {} files", files.len()))
        }
    }
}

/// Messages of the agent.
#[derive(Debug)]
pub enum AgentMsg {
    /// Look for a delivery.
    Poll,
}

/// The agent's state.
pub struct AgentState {
    args: AgentArgs,
    record: AgentRecord,
    link: Option<Arc<dyn ShipLink>>,
}

impl AgentState {
    /// Applies a verified bundle for `d` and checks it; rolls back on a failed check.
    async fn apply(
        &mut self,
        d: &Delivery,
        b: &Bundle,
        received_ms: i64,
    ) -> Result<Outcome, String> {
        let target = self.args.targets.dir(b);
        let key = target.display().to_string();
        let clock = self.args.clock.clone();
        let now = || clock.now_ms();
        if self.record.current.get(&key) == Some(&b.sha256) {
            // Already in place (an earlier rollout of the same bundle): nothing to swap.
            self.args.health.as_ref()().map_err(|e| format!("ship unhealthy: {e}"))?;
            return Ok(Outcome {
                sha256: b.sha256.clone(),
                state: ReportState::Succeeded,
                detail: "already in place; ship healthy".into(),
                at_ms: now(),
            });
        }
        let had_previous = swap_in(&target, b)?;
        self.record.in_progress = Some(InProgress {
            rollout: d.rollout.clone(),
            target: target.clone(),
            had_previous,
            kind: Some(b.manifest.kind),
        });
        self.record.save(&self.args.dir)?;
        self.record.applied += 1;
        let reloaded = (self.args.on_applied)(b.manifest.kind)
            .await
            .map_err(|e| format!("not running after the reload: {e}"));
        let applied_ms = now();
        let checked = match reloaded.and_then(|running| {
            let own = check_applied(b.manifest.kind, &target)?;
            self.args.health.as_ref()().map_err(|e| format!("ship unhealthy after apply: {e}"))?;
            Ok(format!("{own}; {running}"))
        }) {
            Ok(own) => self
                .watch(d, applied_ms)
                .await
                .map(|w| format!("{own}; {w}")),
            Err(e) => Err(e),
        }
        .and_then(|own| {
            let took = now() - received_ms;
            if took > d.timeout_s as i64 * 1000 {
                return Err(format!(
                    "timeout: health check passed after {} ms, over {} s",
                    took, d.timeout_s
                ));
            }
            Ok(own)
        });
        let outcome = match checked {
            Ok(detail) => {
                self.record.current.insert(key, b.sha256.clone());
                Outcome {
                    sha256: b.sha256.clone(),
                    state: ReportState::Succeeded,
                    detail: format!("applied; {detail}; ship healthy"),
                    at_ms: now(),
                }
            }
            Err(why) => {
                let back = roll_back(&target, had_previous);
                let reloaded = (self.args.on_applied)(b.manifest.kind).await;
                Outcome {
                    sha256: b.sha256.clone(),
                    state: ReportState::Failed,
                    detail: match (back, reloaded) {
                        (Ok(()), Ok(running)) => {
                            format!("{why}; rolled back to the previous version; {running}")
                        }
                        (Ok(()), Err(e)) => {
                            format!("{why}; rolled back to the previous version; NOT RELOADED: {e}")
                        }
                        (Err(e), _) => format!("{why}; ROLLBACK FAILED: {e}"),
                    },
                    at_ms: now(),
                }
            }
        };
        self.record.in_progress = None;
        Ok(outcome)
    }

    /// The incident watch after an apply: for the delivery's `incident_window_s`, a
    /// critical incident opened on the ship since `applied_ms` fails the check (and the
    /// ship's tree going unhealthy too). Looks every `poll`.
    async fn watch(&self, d: &Delivery, applied_ms: i64) -> Result<String, String> {
        let window_ms = d.incident_window_s as i64 * 1000;
        if window_ms == 0 {
            return Ok("no incident watch".into());
        }
        let until = applied_ms + window_ms;
        loop {
            if let Some(inc) = (self.args.incidents)(applied_ms) {
                return Err(format!(
                    "critical incident {inc} opened within {} s of the apply",
                    d.incident_window_s
                ));
            }
            self.args.health.as_ref()()
                .map_err(|e| format!("ship unhealthy during the incident watch: {e}"))?;
            let left = until - self.args.clock.now_ms();
            if left <= 0 {
                return Ok(format!(
                    "no new critical incident within {} s",
                    d.incident_window_s
                ));
            }
            let step = self.args.poll.min(Duration::from_millis(left as u64));
            tokio::time::sleep(step.max(Duration::from_millis(1))).await;
        }
    }

    /// Handles one delivery message; returns whether it may be acked.
    async fn handle_delivery(&mut self, link: &Arc<dyn ShipLink>, msg: &[u8]) -> bool {
        let (d, bytes) = match Delivery::decode(msg) {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "bundle agent: bad delivery dropped");
                return true;
            }
        };
        if d.ship != self.args.ship {
            return true;
        }
        let key = d.key();
        if !self.record.outcomes.contains_key(&key) {
            let received_ms = self.args.clock.now_ms();
            let received = Report {
                rollout: d.rollout.clone(),
                ship: d.ship.clone(),
                sha256: d.sha256.clone(),
                state: ReportState::Received,
                detail: String::new(),
                at_ms: received_ms,
                attempt: d.attempt,
            };
            if let Err(e) = link.report(&received).await {
                tracing::debug!(error = %e, "bundle agent: received report not sent");
            }
            let outcome = match verify(bytes, &d.sha256) {
                Err(e) => Ok(Outcome {
                    sha256: d.sha256.clone(),
                    state: ReportState::Failed,
                    detail: format!("not applied: {e}"),
                    at_ms: self.args.clock.now_ms(),
                }),
                Ok(b) if b.manifest.kind != d.kind => Ok(Outcome {
                    sha256: d.sha256.clone(),
                    state: ReportState::Failed,
                    detail: format!(
                        "not applied: delivery says {}, bundle is {}",
                        d.kind.as_str(),
                        b.manifest.kind.as_str()
                    ),
                    at_ms: self.args.clock.now_ms(),
                }),
                Ok(b) => self.apply(&d, &b, received_ms).await,
            };
            let outcome = match outcome {
                Ok(o) => o,
                Err(e) => Outcome {
                    sha256: d.sha256.clone(),
                    state: ReportState::Failed,
                    detail: format!("not applied: {e}"),
                    at_ms: self.args.clock.now_ms(),
                },
            };
            tracing::info!(rollout = %d.rollout, state = ?outcome.state, detail = %outcome.detail, "bundle agent: delivery done");
            self.record.outcomes.insert(key.clone(), outcome);
            if let Err(e) = self.record.save(&self.args.dir) {
                tracing::error!(error = %e, "bundle agent: record not saved");
                return false;
            }
        }
        let Some(o) = self.record.outcomes.get(&key) else {
            return false;
        };
        let report = Report {
            rollout: d.rollout.clone(),
            ship: d.ship.clone(),
            sha256: o.sha256.clone(),
            state: o.state,
            detail: o.detail.clone(),
            at_ms: o.at_ms,
            attempt: d.attempt,
        };
        match link.report(&report).await {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(error = %e, "bundle agent: report not stored yet; will retry");
                false
            }
        }
    }

    async fn poll(&mut self) -> bool {
        if self.link.is_none() {
            match tokio::time::timeout(Duration::from_secs(5), (self.args.connect)()).await {
                Ok(Ok(l)) => self.link = Some(l),
                _ => return false,
            }
        }
        let Some(link) = self.link.clone() else {
            return false;
        };
        match link.next().await {
            Ok(Some(msg)) => {
                if self.handle_delivery(&link, &msg).await {
                    if let Err(e) = link.ack().await {
                        tracing::debug!(error = %e, "bundle agent: ack failed");
                    }
                    return true;
                }
                false
            }
            Ok(None) => false,
            Err(e) => {
                tracing::debug!(error = %e, "bundle agent: no deliveries (link down?)");
                false
            }
        }
    }
}

/// The agent actor.
pub struct BundleAgent;

impl Actor for BundleAgent {
    type Msg = AgentMsg;
    type State = AgentState;
    type Arguments = AgentArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<AgentMsg>,
        args: AgentArgs,
    ) -> Result<AgentState, ActorProcessingErr> {
        let mut record = AgentRecord::load(&args.dir)?;
        if let Some(p) = record.in_progress.take() {
            // A swap whose check never finished: put the previous version back first.
            tracing::warn!(rollout = %p.rollout, target = %p.target.display(), "bundle agent: unfinished apply found; rolling back");
            roll_back(&p.target, p.had_previous)?;
            record.save(&args.dir)?;
            // what read the unfinished version at the ship's start reads the previous one
            if let Some(kind) = p.kind {
                match (args.on_applied)(kind).await {
                    Ok(running) => {
                        tracing::info!(kind = kind.as_str(), %running, "bundle agent: previous version reloaded")
                    }
                    Err(e) => {
                        tracing::error!(kind = kind.as_str(), error = %e, "bundle agent: previous version not reloaded")
                    }
                }
            }
        }
        let _ = myself.cast(AgentMsg::Poll);
        Ok(AgentState {
            args,
            record,
            link: None,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<AgentMsg>,
        msg: AgentMsg,
        st: &mut AgentState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            AgentMsg::Poll => {
                let busy = st.poll().await;
                if busy {
                    let _ = myself.cast(AgentMsg::Poll);
                } else {
                    myself.send_after(st.args.poll, || AgentMsg::Poll);
                }
            }
        }
        Ok(())
    }
}

/// The agent as a supervised child named `bundles`, and its stable address.
pub fn agent_child(args: AgentArgs) -> (ChildSpec, Addr<AgentMsg>) {
    ChildSpec::actor("bundles", "bundle_agent", move || {
        (BundleAgent, args.clone())
    })
}

/// An in-memory ship link for tests: deliveries queued, reports kept.
#[cfg(test)]
pub(crate) mod mem {
    use super::*;
    use parking_lot::Mutex;

    /// Deliveries queued in memory (the first is the next), reports kept.
    #[derive(Default)]
    pub(crate) struct MemLink {
        pub(crate) queue: Mutex<Vec<Vec<u8>>>,
        pub(crate) reports: Mutex<Vec<Report>>,
    }

    /// A ship's roster (or any child) and a bundle agent under one root, as the ship
    /// runs them, for the tests of settings pushed live: the agent takes deliveries from
    /// an in-memory link every 20 ms, calls `on_applied` like the ship's reload, and its
    /// incident watch sees a critical incident while `incident` is set.
    pub(crate) struct LiveRig {
        pub(crate) link: Arc<MemLink>,
        pub(crate) incident: Arc<std::sync::atomic::AtomicBool>,
        pub(crate) root: seawatch_runtime::supervision::SupervisorHandle,
    }

    /// Starts a [`LiveRig`] beside `roster` (started first) with the agent's folder
    /// `dir/bundles`.
    pub(crate) async fn live_rig(
        dir: &std::path::Path,
        targets: &BundleTargets,
        roster: seawatch_runtime::supervision::ChildSpec,
        runtime: seawatch_runtime::Runtime,
        on_applied: OnApplied,
    ) -> LiveRig {
        use std::sync::atomic::{AtomicBool, Ordering};
        let link = Arc::new(MemLink::default());
        let incident = Arc::new(AtomicBool::new(false));
        let inc = incident.clone();
        let probe: IncidentProbe = Arc::new(move |_| {
            inc.load(Ordering::SeqCst)
                .then(|| "aurora-1: critical incident".to_string())
        });
        let l2 = link.clone();
        let (agent_spec, _) = agent_child(AgentArgs {
            ship: "aurora".into(),
            dir: dir.join("bundles"),
            targets: targets.clone(),
            connect: Arc::new(move || {
                let l = l2.clone();
                Box::pin(async move { Ok(l as Arc<dyn ShipLink>) })
            }),
            clock: Clock::system(),
            poll: Duration::from_millis(20),
            health: Arc::new(|| Ok(())),
            on_applied,
            incidents: probe,
        });
        let (root, _) = seawatch_runtime::supervision::start_root(
            seawatch_runtime::supervision::SupervisorSpec::new(
                "aurora",
                &seawatch_model::ShipId::new("aurora"),
            )
            .child(roster)
            .child(agent_spec),
            runtime,
        )
        .await
        .expect("start the roster and the agent");
        LiveRig {
            link,
            incident,
            root,
        }
    }

    impl ShipLink for MemLink {
        fn next(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, String>> {
            Box::pin(async move { Ok(self.queue.lock().first().cloned()) })
        }
        fn ack(&self) -> BoxFuture<'_, Result<(), String>> {
            Box::pin(async move {
                let mut q = self.queue.lock();
                if !q.is_empty() {
                    q.remove(0);
                }
                Ok(())
            })
        }
        fn report<'a>(&'a self, r: &'a Report) -> BoxFuture<'a, Result<(), String>> {
            Box::pin(async move {
                self.reports.lock().push(r.clone());
                Ok(())
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::mem::MemLink;
    use super::*;
    use crate::rollout::bundle::{decode, encode};

    const V1: &str = "package seawatch.remediation\n\ndecision := {\"allow\": false, \"reasons\": [\"v1\"], \"approvals_required\": 0, \"max_parallel\": 1}\n";
    const V2: &str = "package seawatch.remediation\n\ndecision := {\"allow\": false, \"reasons\": [\"v2\"], \"approvals_required\": 0, \"max_parallel\": 1}\n";

    /// A ship with policy v1 in place gets v2 with a 300 s incident watch; `incident_at`
    /// (seconds after the start, tokio time) opens a critical incident. Returns the
    /// reports, the policy in place at the end, and when (tokio s) the final report came.
    async fn watched_apply(incident_at: Option<u64>) -> (Vec<Report>, String, u64) {
        let d = tempfile::tempdir().unwrap();
        let targets = BundleTargets::under(d.path());
        std::fs::create_dir_all(&targets.policies).unwrap();
        std::fs::write(targets.policies.join("remediation.rego"), V1).unwrap();
        let bytes = encode(
            BundleKind::Policies,
            "p",
            vec![("remediation.rego".into(), V2.as_bytes().to_vec())],
        );
        let delivery = Delivery {
            rollout: "shore-0-000001".into(),
            ship: "aurora".into(),
            sha256: crate::rollout::bundle::sha256_hex(&bytes),
            kind: BundleKind::Policies,
            timeout_s: 600,
            chunks: 0,
            size: 0,
            incident_window_s: 300,
            attempt: 0,
        };
        let link = Arc::new(MemLink::default());
        link.queue.lock().push(delivery.encode(&bytes));
        let clock = Clock::tokio(1_800_000_000_000);
        let t0 = clock.now_ms();
        let c2 = clock.clone();
        // The incident board as the probe sees it: a critical incident opened at
        // `incident_at`, once that time has come.
        let incidents: IncidentProbe = Arc::new(move |since| {
            let at = t0 + incident_at? as i64 * 1000;
            (c2.now_ms() >= at && at >= since).then(|| "aurora-7: core switch down".to_string())
        });
        let l2 = link.clone();
        let (agent, _) = Actor::spawn(
            None,
            BundleAgent,
            AgentArgs {
                ship: "aurora".into(),
                dir: d.path().join("bundles"),
                targets: targets.clone(),
                connect: Arc::new(move || {
                    let l = l2.clone();
                    Box::pin(async move { Ok(l as Arc<dyn ShipLink>) })
                }),
                clock: clock.clone(),
                poll: Duration::from_secs(5),
                health: Arc::new(|| Ok(())),
                on_applied: reload_nothing(),
                incidents,
            },
        )
        .await
        .unwrap();
        let mut done_at = None;
        for _ in 0..400 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let reports = link.reports.lock().clone();
            if done_at.is_none() && reports.iter().any(|r| r.state != ReportState::Received) {
                done_at = Some(((clock.now_ms() - t0) / 1000) as u64);
            }
        }
        agent.stop_and_wait(None, None).await.unwrap();
        let reports = link.reports.lock().clone();
        let policy = std::fs::read_to_string(targets.policies.join("remediation.rego")).unwrap();
        (reports, policy, done_at.unwrap_or(u64::MAX))
    }

    #[tokio::test(start_paused = true)]
    async fn a_critical_incident_within_the_window_rolls_the_ship_back_by_itself() {
        let (reports, policy, at) = watched_apply(Some(120)).await;
        let states: Vec<_> = reports.iter().map(|r| r.state).collect();
        assert_eq!(states, vec![ReportState::Received, ReportState::Failed]);
        assert!(
            reports[1].detail.contains("critical incident aurora-7")
                && reports[1].detail.contains("rolled back"),
            "{}",
            reports[1].detail
        );
        assert!(policy.contains("v1"), "the previous version is back");
        // Found at the first look after it opened (looks every 5 s).
        assert!((120..=126).contains(&at), "failed at {at} s");
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_window_passes_only_when_it_ends_and_a_later_incident_changes_nothing() {
        let (reports, policy, at) = watched_apply(Some(330)).await;
        let states: Vec<_> = reports.iter().map(|r| r.state).collect();
        assert_eq!(states, vec![ReportState::Received, ReportState::Succeeded]);
        assert!(
            reports[1]
                .detail
                .contains("no new critical incident within 300 s"),
            "{}",
            reports[1].detail
        );
        assert!(policy.contains("v2"));
        assert!((300..=302).contains(&at), "succeeded at {at} s");
    }

    fn bundle(kind: BundleKind, files: &[(&str, &str)]) -> Bundle {
        decode(&encode(
            kind,
            "m",
            files
                .iter()
                .map(|(p, t)| (p.to_string(), t.as_bytes().to_vec()))
                .collect(),
        ))
        .unwrap()
    }

    #[test]
    fn a_swap_keeps_the_previous_version_and_a_rollback_restores_it() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("policies");
        std::fs::create_dir_all(&target).unwrap();
        std::fs::write(target.join("old.rego"), "package old\n").unwrap();
        let b = bundle(BundleKind::Policies, &[("new.rego", "package new\n")]);
        assert!(swap_in(&target, &b).unwrap());
        assert!(target.join("new.rego").exists() && !target.join("old.rego").exists());
        roll_back(&target, true).unwrap();
        assert!(target.join("old.rego").exists() && !target.join("new.rego").exists());
        // No previous version: a rollback leaves nothing.
        let fresh = d.path().join("runbooks");
        assert!(!swap_in(&fresh, &b).unwrap());
        roll_back(&fresh, false).unwrap();
        assert!(!fresh.exists());
    }

    #[test]
    fn each_kind_has_its_own_check() {
        let d = tempfile::tempdir().unwrap();
        let ok = d.path().join("ok");
        std::fs::create_dir_all(&ok).unwrap();
        std::fs::write(ok.join("a.toml"), "x = 1\n").unwrap();
        assert!(check_applied(BundleKind::Detectors, &ok).is_ok());
        std::fs::write(ok.join("b.toml"), "x = \n").unwrap();
        assert!(check_applied(BundleKind::Detectors, &ok)
            .unwrap_err()
            .contains("b.toml"));
        let pol = d.path().join("pol");
        std::fs::create_dir_all(&pol).unwrap();
        std::fs::write(
            pol.join("p.rego"),
            "package seawatch.remediation\nthis is not rego\n",
        )
        .unwrap();
        assert!(check_applied(BundleKind::Policies, &pol)
            .unwrap_err()
            .contains("does not compile"));
        let empty = d.path().join("model");
        std::fs::create_dir_all(&empty).unwrap();
        assert!(check_applied(BundleKind::Model, &empty).is_err());
    }
}
