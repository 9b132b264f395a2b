//! The rollout state machine, event-sourced: every change is an [`Ev`] that the controller
//! journals before it applies it, so a restarted shore rebuilds each [`Rollout`] by
//! replaying the journal. [`Rollout::decide`] is pure: given the time, it says which events
//! happen next (a ship timed out, a wave passed or tripped its error threshold, the next
//! wave starts or waits for approval, the rollout completed).
//!
//! Semantics (docs/decisions/0051-…):
//! * waves split the target ships, sorted by id, by **cumulative** percent: wave k ends at
//!   `ceil(n × percent_k / 100)` ships; the last wave must say 100;
//! * a ship is `pending` until its wave starts, `sent` once its delivery is in the
//!   JetStream stream (it waits there for the ship's link, for as long as it takes),
//!   `applying` once the ship reports it took it (its `timeout_s` runs from here), then
//!   `succeeded` (applied and healthy) or `failed` (check failed, or timed out; the ship
//!   rolls itself back);
//! * a wave passes when `succeeded × 100 ≥ success_threshold × ships` and the next wave
//!   starts (or waits for `resume` when it has `approval`); ships still outstanding in a
//!   passed wave keep going: an offline ship finishes when it is back;
//! * a wave trips when `failed > 0` and `failed × 100 ≥ error_threshold × ships`, or when
//!   all its ships are done and its success threshold is out of reach: the rollout then
//!   pauses (`on_error: "pause"`, the default) or aborts (`"abort"`); `resume` of a tripped
//!   wave accepts its failures and goes on;
//! * the rollout completes when every wave has passed and no ship is outstanding.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::bundle::{is_sha256, BundleKind};

/// One wave of a rollout request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaveSpec {
    /// Cumulative share of the target ships reached by the end of this wave (0 < p ≤ 100).
    pub percent: f64,
    /// Percent of the wave's ships that must succeed before the next wave (default 100).
    #[serde(default = "hundred")]
    pub success_threshold: f64,
    /// Percent of the wave's ships failed at which the rollout pauses or aborts (default
    /// 0: the first failure).
    #[serde(default)]
    pub error_threshold: f64,
    /// Seconds a ship may take from receiving the bundle to a passed health check
    /// (default 600).
    #[serde(default = "default_timeout")]
    pub timeout_s: u64,
    /// Wait for an admin's `resume` before this wave starts.
    #[serde(default)]
    pub approval: bool,
    /// Seconds after the apply during which a new critical incident on the ship fails its
    /// health check (the ship rolls back by itself). Default: [`DEFAULT_INCIDENT_WINDOW_S`],
    /// at most half the wave's `timeout_s`; an explicit value must be below `timeout_s`.
    /// 0 turns the incident watch off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_window_s: Option<u64>,
}

/// Default of the "no new critical incident within N seconds" watch after an apply.
pub const DEFAULT_INCIDENT_WINDOW_S: u64 = 300;

impl WaveSpec {
    /// The incident watch this wave's ships run after an apply (seconds).
    pub fn incident_window(&self) -> u64 {
        self.incident_window_s
            .unwrap_or(DEFAULT_INCIDENT_WINDOW_S.min(self.timeout_s / 2))
    }
}

fn hundred() -> f64 {
    100.0
}

fn default_timeout() -> u64 {
    600
}

/// What a tripped error threshold does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Pause; an admin resumes (accepting the failures) or aborts.
    #[default]
    Pause,
    /// Abort.
    Abort,
}

/// `POST /api/rollouts` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutRequest {
    /// The bundle's SHA-256.
    pub bundle: String,
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

/// Most ships one rollout may target.
pub const MAX_TARGETS: usize = 10_000;
/// Most waves.
pub const MAX_WAVES: usize = 20;
/// Longest per-ship timeout (30 days).
pub const MAX_TIMEOUT_S: u64 = 30 * 86_400;

fn ship_id_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl RolloutRequest {
    /// Checks the request and splits its targets into waves. `fleet` is every ship the
    /// shore knows (for `all`). Errors are one line saying what is wrong.
    pub fn plan(&self, fleet: &[String]) -> Result<Vec<Vec<String>>, String> {
        if !is_sha256(&self.bundle) {
            return Err(format!(
                "bundle {:?}: expected the bundle's SHA-256 (64 lowercase hex digits)",
                self.bundle
            ));
        }
        let mut ships: Vec<String> = match (&self.ships, self.all) {
            (Some(_), Some(true)) => {
                return Err("give either \"ships\" or \"all\": true, not both".into())
            }
            (Some(s), _) => s.clone(),
            (None, Some(true)) => fleet.to_vec(),
            (None, _) => {
                return Err("missing \"ships\" (a list of ship ids) or \"all\": true".into())
            }
        };
        if let Some(bad) = ships.iter().find(|s| !ship_id_ok(s)) {
            return Err(format!(
                "ship id {bad:?}: use letters, digits, '-' and '_' (at most 128)"
            ));
        }
        ships.sort();
        ships.dedup();
        if ships.is_empty() {
            return Err("no target ships".into());
        }
        if ships.len() > MAX_TARGETS {
            return Err(format!("{} ships: at most {MAX_TARGETS}", ships.len()));
        }
        if self.waves.is_empty() || self.waves.len() > MAX_WAVES {
            return Err(format!("waves: expected 1 to {MAX_WAVES} waves"));
        }
        let mut last = 0.0;
        for (i, w) in self.waves.iter().enumerate() {
            let n = i + 1;
            if !(w.percent > last && w.percent <= 100.0) {
                return Err(format!(
                    "wave {n}: percent {} must be above the previous wave's ({last}) and at most 100 (percents are cumulative)",
                    w.percent
                ));
            }
            for (name, v) in [
                ("success_threshold", w.success_threshold),
                ("error_threshold", w.error_threshold),
            ] {
                if !(0.0..=100.0).contains(&v) {
                    return Err(format!("wave {n}: {name} {v} must be within 0..=100"));
                }
            }
            if w.timeout_s == 0 || w.timeout_s > MAX_TIMEOUT_S {
                return Err(format!(
                    "wave {n}: timeout_s {} must be within 1..={MAX_TIMEOUT_S}",
                    w.timeout_s
                ));
            }
            if let Some(win) = w.incident_window_s {
                if win >= w.timeout_s {
                    return Err(format!(
                        "wave {n}: incident_window_s {win} must be below timeout_s {} (the watch is part of the health check)",
                        w.timeout_s
                    ));
                }
            }
            last = w.percent;
        }
        if last != 100.0 {
            return Err(format!(
                "the last wave's percent is {last}: it must be 100 (percents are cumulative)"
            ));
        }
        let n = ships.len();
        let mut waves = Vec::new();
        let mut from = 0;
        for w in &self.waves {
            let to = ((n as f64 * w.percent / 100.0).ceil() as usize).clamp(from, n);
            waves.push(ships[from..to].to_vec());
            from = to;
        }
        Ok(waves)
    }
}

/// A ship's progress in a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShipState {
    /// Its wave has not started.
    Pending,
    /// The delivery waits in the stream for the ship.
    Sent,
    /// The ship took it: applying and checking (its timeout runs).
    Applying,
    /// Applied and healthy.
    Succeeded,
    /// Check failed or timed out; rolled back on the ship.
    Failed,
    /// The rollout was aborted before the ship took it.
    Skipped,
}

impl ShipState {
    /// Done (no more reports expected).
    pub fn terminal(self) -> bool {
        matches!(
            self,
            ShipState::Succeeded | ShipState::Failed | ShipState::Skipped
        )
    }
}

/// A wave's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaveState {
    /// Not started.
    Pending,
    /// Waits for an admin's resume.
    AwaitingApproval,
    /// Its ships are being delivered to and reporting.
    Running,
    /// Its success threshold was reached (or an admin accepted its failures).
    Passed,
    /// Its error threshold tripped.
    Tripped,
}

/// A rollout's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutState {
    /// Going.
    Running,
    /// A wave waits for approval.
    AwaitingApproval,
    /// Paused (by an admin or a tripped threshold).
    Paused,
    /// Aborted; kept for history.
    Aborted,
    /// Every wave passed and every ship is done.
    Completed,
}

/// One ship in a wave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShipProgress {
    /// Ship id.
    pub ship: String,
    /// Its state.
    pub state: ShipState,
    /// When its delivery was put in the stream (unix ms).
    pub sent_ms: Option<i64>,
    /// When the ship took it.
    pub received_ms: Option<i64>,
    /// When it succeeded or failed.
    pub done_ms: Option<i64>,
    /// Why it failed, or what the ship said.
    pub detail: Option<String>,
    /// The delivery's stream sequence (to withdraw it on abort).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_seq: Option<u64>,
    /// 0 for the first try; a retry counts up (a delivery and its reports carry it, so a
    /// late report of an earlier try changes nothing).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempt: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Counts of ships by state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Pending.
    pub pending: usize,
    /// Sent.
    pub sent: usize,
    /// Applying.
    pub applying: usize,
    /// Succeeded.
    pub succeeded: usize,
    /// Failed.
    pub failed: usize,
    /// Skipped.
    pub skipped: usize,
}

/// One wave of a rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Wave {
    /// 1-based.
    pub wave: usize,
    /// What was asked.
    #[serde(flatten)]
    pub spec: WaveSpec,
    /// Its state.
    pub state: WaveState,
    /// Ships by state.
    pub counts: Counts,
    /// Its ships.
    pub ships: Vec<ShipProgress>,
    /// Failures already accepted by a resume (a trip needs more).
    #[serde(default)]
    pub accepted_failures: usize,
}

impl Wave {
    fn recount(&mut self) {
        let mut c = Counts::default();
        for s in &self.ships {
            match s.state {
                ShipState::Pending => c.pending += 1,
                ShipState::Sent => c.sent += 1,
                ShipState::Applying => c.applying += 1,
                ShipState::Succeeded => c.succeeded += 1,
                ShipState::Failed => c.failed += 1,
                ShipState::Skipped => c.skipped += 1,
            }
        }
        self.counts = c;
    }

    fn started(&self) -> bool {
        !matches!(self.state, WaveState::Pending | WaveState::AwaitingApproval)
    }
}

/// One line of a rollout's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Unix ms.
    pub at_ms: i64,
    /// What happened.
    pub what: String,
}

/// A rollout (`GET /api/rollouts/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    /// Its id.
    pub id: String,
    /// The bundle's SHA-256.
    pub bundle: String,
    /// The bundle's kind.
    pub kind: BundleKind,
    /// State.
    pub state: RolloutState,
    /// Why it paused or aborted.
    pub reason: Option<String>,
    /// What a tripped threshold does.
    pub on_error: OnError,
    /// Who created it.
    pub created_by: String,
    /// When (unix ms).
    pub created_ms: i64,
    /// Last change (unix ms).
    pub updated_ms: i64,
    /// Ships by state over every wave.
    pub counts: Counts,
    /// The waves.
    pub waves: Vec<Wave>,
    /// Transitions, oldest first.
    pub history: Vec<HistoryEntry>,
    /// The shore node running it (failover mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// Something that happened to a rollout; journaled before it is applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Ev {
    /// Created with its ships split into waves.
    Created {
        /// Rollout id.
        id: String,
        /// Unix ms.
        at_ms: i64,
        /// Who.
        by: String,
        /// The request.
        request: RolloutRequest,
        /// The bundle's kind.
        kind: BundleKind,
        /// Ships per wave.
        waves: Vec<Vec<String>>,
    },
    /// A wave waits for approval.
    AwaitingApproval {
        /// Rollout id.
        id: String,
        /// Unix ms.
        at_ms: i64,
        /// 0-based wave.
        wave: usize,
    },
    /// A wave started.
    WaveStarted {
        /// Rollout id.
        id: String,
        /// Unix ms.
        at_ms: i64,
        /// 0-based wave.
        wave: usize,
    },
    /// A wave reached its success threshold.
    WavePassed {
        /// Rollout id.
        id: String,
        /// Unix ms.
        at_ms: i64,
        /// 0-based wave.
        wave: usize,
    },
    /// A ship's delivery is in the stream.
    Sent {
        /// Rollout id.
        id: String,
        /// Unix ms.
        at_ms: i64,
        /// Ship.
        ship: String,
        /// Stream sequence.
        seq: u64,
    },
    /// A ship took its delivery.
    Received {
        /// Rollout id.
        id: String,
        /// Unix ms.
        at_ms: i64,
        /// Ship.
        ship: String,
    },
    /// A ship applied the bundle and passed its health check.
    Succeeded {
        /// Rollout id.
        id: String,
        /// Unix ms.
        at_ms: i64,
        /// Ship.
        ship: String,
        /// What the ship said.
        detail: String,
    },
    /// A ship failed (check failed, bad bundle, or timeout) and rolled back.
    Failed {
        /// Rollout id.
        id: String,
        /// Unix ms.
        at_ms: i64,
        /// Ship.
        ship: String,
        /// Why.
        reason: String,
    },
    /// A ship's delivery was taken back from the stream after an abort.
    Withdrawn {
        /// Rollout id.
        id: String,
        /// Unix ms.
        at_ms: i64,
        /// Ship.
        ship: String,
    },
    /// Paused.
    Paused {
        /// Rollout id.
        id: String,
        /// Unix ms.
        at_ms: i64,
        /// Who (an admin, or `rollout` for a tripped threshold).
        by: String,
        /// Why.
        reason: String,
        /// The tripped wave, if a threshold tripped.
        wave: Option<usize>,
    },
    /// Resumed (or approved).
    Resumed {
        /// Rollout id.
        id: String,
        /// Unix ms.
        at_ms: i64,
        /// Who.
        by: String,
    },
    /// Aborted.
    Aborted {
        /// Rollout id.
        id: String,
        /// Unix ms.
        at_ms: i64,
        /// Who.
        by: String,
        /// Why.
        reason: String,
        /// The tripped wave, if a threshold tripped.
        wave: Option<usize>,
    },
    /// Done.
    Completed {
        /// Rollout id.
        id: String,
        /// Unix ms.
        at_ms: i64,
    },
    /// A shore node runs the rollout from now (failover mode: it holds the rollout's
    /// lease; a second one means another node took over).
    Owner {
        /// Rollout id.
        id: String,
        /// Unix ms.
        at_ms: i64,
        /// The node.
        node: String,
    },
    /// An admin's retry: these ships (failed, timed out, or never sent) go again, each
    /// with its attempt counted up; the rollout runs again.
    Retried {
        /// Rollout id.
        id: String,
        /// Unix ms.
        at_ms: i64,
        /// Who.
        by: String,
        /// The ships sent again.
        ships: Vec<String>,
    },
}

impl Ev {
    /// The rollout it is about.
    pub fn id(&self) -> &str {
        match self {
            Ev::Created { id, .. }
            | Ev::AwaitingApproval { id, .. }
            | Ev::WaveStarted { id, .. }
            | Ev::WavePassed { id, .. }
            | Ev::Sent { id, .. }
            | Ev::Received { id, .. }
            | Ev::Succeeded { id, .. }
            | Ev::Failed { id, .. }
            | Ev::Withdrawn { id, .. }
            | Ev::Paused { id, .. }
            | Ev::Resumed { id, .. }
            | Ev::Aborted { id, .. }
            | Ev::Completed { id, .. }
            | Ev::Retried { id, .. }
            | Ev::Owner { id, .. } => id,
        }
    }

    fn at_ms(&self) -> i64 {
        match self {
            Ev::Created { at_ms, .. }
            | Ev::AwaitingApproval { at_ms, .. }
            | Ev::WaveStarted { at_ms, .. }
            | Ev::WavePassed { at_ms, .. }
            | Ev::Sent { at_ms, .. }
            | Ev::Received { at_ms, .. }
            | Ev::Succeeded { at_ms, .. }
            | Ev::Failed { at_ms, .. }
            | Ev::Withdrawn { at_ms, .. }
            | Ev::Paused { at_ms, .. }
            | Ev::Resumed { at_ms, .. }
            | Ev::Aborted { at_ms, .. }
            | Ev::Completed { at_ms, .. }
            | Ev::Retried { at_ms, .. }
            | Ev::Owner { at_ms, .. } => *at_ms,
        }
    }
}

/// An admin's operation on a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Pause.
    Pause,
    /// Resume, approve a waiting wave, or accept a tripped wave's failures.
    Resume,
    /// Abort.
    Abort,
    /// Send again to the ships that failed, timed out or were never sent (after an abort).
    Retry,
}

impl Op {
    /// Parses `pause`, `resume`, `abort`, `retry`.
    pub fn parse(s: &str) -> Option<Op> {
        match s {
            "pause" => Some(Op::Pause),
            "resume" => Some(Op::Resume),
            "abort" => Some(Op::Abort),
            "retry" => Some(Op::Retry),
            _ => None,
        }
    }
}

impl Rollout {
    /// The rollout a `Created` event makes; `None` for any other event.
    pub fn create(ev: &Ev) -> Option<Rollout> {
        let Ev::Created {
            id,
            at_ms,
            by,
            request,
            kind,
            waves,
        } = ev
        else {
            return None;
        };
        let waves = request
            .waves
            .iter()
            .zip(waves)
            .enumerate()
            .map(|(i, (spec, ships))| {
                let mut w = Wave {
                    wave: i + 1,
                    spec: spec.clone(),
                    state: WaveState::Pending,
                    counts: Counts::default(),
                    ships: ships
                        .iter()
                        .map(|s| ShipProgress {
                            ship: s.clone(),
                            state: ShipState::Pending,
                            sent_ms: None,
                            received_ms: None,
                            done_ms: None,
                            detail: None,
                            stream_seq: None,
                            attempt: 0,
                        })
                        .collect(),
                    accepted_failures: 0,
                };
                w.recount();
                w
            })
            .collect();
        let mut r = Rollout {
            id: id.clone(),
            bundle: request.bundle.clone(),
            kind: *kind,
            state: RolloutState::Running,
            reason: None,
            on_error: request.on_error,
            created_by: by.clone(),
            created_ms: *at_ms,
            updated_ms: *at_ms,
            counts: Counts::default(),
            waves,
            history: vec![HistoryEntry {
                at_ms: *at_ms,
                what: format!("created by {by}"),
            }],
            node: None,
        };
        r.recount();
        Some(r)
    }

    fn recount(&mut self) {
        let mut c = Counts::default();
        for w in &mut self.waves {
            w.recount();
            c.pending += w.counts.pending;
            c.sent += w.counts.sent;
            c.applying += w.counts.applying;
            c.succeeded += w.counts.succeeded;
            c.failed += w.counts.failed;
            c.skipped += w.counts.skipped;
        }
        self.counts = c;
    }

    fn ship_mut(&mut self, ship: &str) -> Option<&mut ShipProgress> {
        self.waves
            .iter_mut()
            .flat_map(|w| w.ships.iter_mut())
            .find(|s| s.ship == ship)
    }

    /// A ship's progress.
    pub fn ship(&self, ship: &str) -> Option<&ShipProgress> {
        self.waves
            .iter()
            .flat_map(|w| w.ships.iter())
            .find(|s| s.ship == ship)
    }

    /// The wave a ship is in (0-based).
    pub fn wave_of(&self, ship: &str) -> Option<usize> {
        self.waves
            .iter()
            .position(|w| w.ships.iter().any(|s| s.ship == ship))
    }

    /// Whether a shore node must run it (failover mode): not completed, and not aborted
    /// with nothing left to time out or withdraw.
    pub fn needs_owner(&self) -> bool {
        match self.state {
            RolloutState::Completed => false,
            RolloutState::Aborted => self.counts.applying + self.counts.sent > 0,
            _ => true,
        }
    }

    /// Whether a ship's report is already in the rollout's state (same try, that state or
    /// further).
    pub fn reflects(&self, ship: &str, attempt: u32, state: super::ReportState) -> bool {
        let Some(s) = self.ship(ship) else {
            return true;
        };
        if s.attempt != attempt {
            return true;
        }
        match state {
            super::ReportState::Received => {
                !matches!(s.state, ShipState::Pending | ShipState::Sent)
            }
            _ => s.state.terminal(),
        }
    }

    /// Whether no more change can come.
    pub fn finished(&self) -> bool {
        matches!(self.state, RolloutState::Aborted | RolloutState::Completed)
    }

    fn note(&mut self, at_ms: i64, what: String) {
        self.history.push(HistoryEntry { at_ms, what });
    }

    /// Applies an event. Events that do not fit (a report of an unknown ship, a late
    /// report for a ship already done) change nothing.
    pub fn apply(&mut self, ev: &Ev) {
        let at = ev.at_ms();
        self.updated_ms = self.updated_ms.max(at);
        match ev {
            Ev::Created { .. } => {}
            Ev::AwaitingApproval { wave, .. } => {
                if let Some(w) = self.waves.get_mut(*wave) {
                    w.state = WaveState::AwaitingApproval;
                    self.state = RolloutState::AwaitingApproval;
                    self.note(at, format!("wave {} awaits approval", wave + 1));
                }
            }
            Ev::WaveStarted { wave, .. } => {
                if let Some(w) = self.waves.get_mut(*wave) {
                    w.state = WaveState::Running;
                    self.state = RolloutState::Running;
                    self.note(at, format!("wave {} started", wave + 1));
                }
            }
            Ev::WavePassed { wave, .. } => {
                if let Some(w) = self.waves.get_mut(*wave) {
                    w.state = WaveState::Passed;
                    self.note(at, format!("wave {} passed", wave + 1));
                }
            }
            Ev::Sent { ship, seq, .. } => {
                if let Some(s) = self.ship_mut(ship) {
                    if s.state == ShipState::Pending {
                        s.state = ShipState::Sent;
                        s.sent_ms = Some(at);
                        s.stream_seq = Some(*seq);
                    }
                }
            }
            Ev::Received { ship, .. } => {
                if let Some(s) = self.ship_mut(ship) {
                    if matches!(
                        s.state,
                        ShipState::Pending | ShipState::Sent | ShipState::Skipped
                    ) {
                        s.state = ShipState::Applying;
                        s.received_ms = Some(at);
                    }
                }
            }
            Ev::Succeeded { ship, detail, .. } => {
                if let Some(s) = self.ship_mut(ship) {
                    if !matches!(s.state, ShipState::Succeeded | ShipState::Failed) {
                        s.state = ShipState::Succeeded;
                        s.done_ms = Some(at);
                        s.detail = Some(detail.clone());
                    }
                }
            }
            Ev::Failed { ship, reason, .. } => {
                if let Some(s) = self.ship_mut(ship) {
                    if !matches!(s.state, ShipState::Succeeded | ShipState::Failed) {
                        s.state = ShipState::Failed;
                        s.done_ms = Some(at);
                        s.detail = Some(reason.clone());
                    }
                }
            }
            Ev::Withdrawn { ship, .. } => {
                if let Some(s) = self.ship_mut(ship) {
                    if s.state == ShipState::Sent {
                        s.state = ShipState::Skipped;
                        s.done_ms = Some(at);
                        s.detail = Some("withdrawn: the rollout was aborted".into());
                    }
                }
            }
            Ev::Paused {
                by, reason, wave, ..
            } => {
                self.state = RolloutState::Paused;
                self.reason = Some(reason.clone());
                if let Some(w) = wave.and_then(|w| self.waves.get_mut(w)) {
                    w.state = WaveState::Tripped;
                }
                self.note(at, format!("paused by {by}: {reason}"));
            }
            Ev::Resumed { by, .. } => {
                for w in &mut self.waves {
                    if w.state == WaveState::Tripped {
                        // The admin accepts these failures: the wave counts as passed.
                        w.accepted_failures = w.counts.failed;
                        w.state = WaveState::Passed;
                    }
                }
                // An approval: the waiting wave starts (a separate WaveStarted follows).
                self.state = RolloutState::Running;
                self.reason = None;
                self.note(at, format!("resumed by {by}"));
            }
            Ev::Aborted {
                by, reason, wave, ..
            } => {
                self.state = RolloutState::Aborted;
                self.reason = Some(reason.clone());
                if let Some(w) = wave.and_then(|w| self.waves.get_mut(w)) {
                    w.state = WaveState::Tripped;
                }
                for s in self.waves.iter_mut().flat_map(|w| w.ships.iter_mut()) {
                    if s.state == ShipState::Pending {
                        s.state = ShipState::Skipped;
                        s.done_ms = Some(at);
                        s.detail = Some("not sent: the rollout was aborted".into());
                    }
                }
                self.note(at, format!("aborted by {by}: {reason}"));
            }
            Ev::Completed { .. } => {
                self.state = RolloutState::Completed;
                self.note(at, "completed".into());
            }
            Ev::Owner { node, .. } => {
                let what = match &self.node {
                    Some(old) if old != node => format!("taken over by {node} from {old}"),
                    _ => format!("run by {node}"),
                };
                self.node = Some(node.clone());
                self.note(at, what);
            }
            Ev::Retried { by, ships, .. } => {
                for w in &mut self.waves {
                    let mut again = 0;
                    for s in &mut w.ships {
                        if ships.contains(&s.ship)
                            && matches!(s.state, ShipState::Failed | ShipState::Skipped)
                        {
                            s.state = ShipState::Pending;
                            s.attempt += 1;
                            s.sent_ms = None;
                            s.received_ms = None;
                            s.done_ms = None;
                            s.stream_seq = None;
                            again += 1;
                        }
                    }
                    if again > 0 {
                        w.accepted_failures = 0;
                        if w.state == WaveState::Tripped {
                            w.state = WaveState::Running;
                        }
                    }
                }
                self.state = RolloutState::Running;
                self.reason = None;
                self.note(at, format!("retried by {by}: {} ships again", ships.len()));
            }
        }
        self.recount();
    }

    /// Ships whose wave has started and whose delivery is not yet in the stream; none
    /// while the rollout is paused (or waits for approval, or is over).
    pub fn to_send(&self) -> Vec<String> {
        if self.state != RolloutState::Running {
            return Vec::new();
        }
        self.waves
            .iter()
            .filter(|w| w.started())
            .flat_map(|w| w.ships.iter())
            .filter(|s| s.state == ShipState::Pending)
            .map(|s| s.ship.clone())
            .collect()
    }

    /// Deliveries to take back from the stream after an abort: (ship, stream seq).
    pub fn to_withdraw(&self) -> Vec<(String, u64)> {
        if self.state != RolloutState::Aborted {
            return Vec::new();
        }
        self.waves
            .iter()
            .flat_map(|w| w.ships.iter())
            .filter(|s| s.state == ShipState::Sent)
            .filter_map(|s| Some((s.ship.clone(), s.stream_seq?)))
            .collect()
    }

    /// The events that happen now (`grace_ms` is added to every ship's timeout for the
    /// report's trip back). Apply them and ask again until it returns nothing.
    pub fn decide(&self, now_ms: i64, grace_ms: i64) -> Vec<Ev> {
        let id = self.id.clone();
        // Timeouts run whatever the rollout's state, aborted too: the ship is applying,
        // and a ship that never says how it ended counts as failed (so a retry sends to
        // it again).
        let mut out = Vec::new();
        for w in &self.waves {
            let limit = (w.spec.timeout_s as i64).saturating_mul(1000) + grace_ms;
            for s in &w.ships {
                if s.state == ShipState::Applying
                    && s.received_ms.is_some_and(|t| now_ms - t >= limit)
                {
                    out.push(Ev::Failed {
                        id: id.clone(),
                        at_ms: now_ms,
                        ship: s.ship.clone(),
                        reason: format!(
                            "timeout: no health check result within {} s",
                            w.spec.timeout_s
                        ),
                    });
                }
            }
        }
        if !out.is_empty() || self.finished() {
            return out;
        }
        // Thresholds of every started wave (a late failure in an earlier wave counts).
        for (i, w) in self.waves.iter().enumerate() {
            if !w.started() || w.state == WaveState::Tripped {
                continue;
            }
            let n = w.ships.len();
            let c = &w.counts;
            let over_error = c.failed > w.accepted_failures
                && (c.failed * 100) as f64 >= w.spec.error_threshold * n as f64;
            let outstanding = c.pending + c.sent + c.applying;
            let unreachable = w.state == WaveState::Running
                && outstanding == 0
                && ((c.succeeded * 100) as f64) < w.spec.success_threshold * n as f64;
            if self.state != RolloutState::Paused && (over_error || unreachable) {
                let reason = if over_error {
                    format!(
                        "wave {}: {} of {} ships failed, at or over the error threshold of {}%",
                        i + 1,
                        c.failed,
                        n,
                        w.spec.error_threshold
                    )
                } else {
                    format!(
                        "wave {}: {} of {} ships succeeded, below the success threshold of {}%",
                        i + 1,
                        c.succeeded,
                        n,
                        w.spec.success_threshold
                    )
                };
                return vec![match self.on_error {
                    OnError::Pause => Ev::Paused {
                        id,
                        at_ms: now_ms,
                        by: "rollout".into(),
                        reason,
                        wave: Some(i),
                    },
                    OnError::Abort => Ev::Aborted {
                        id,
                        at_ms: now_ms,
                        by: "rollout".into(),
                        reason,
                        wave: Some(i),
                    },
                }];
            }
        }
        if matches!(
            self.state,
            RolloutState::Paused | RolloutState::AwaitingApproval
        ) {
            return Vec::new();
        }
        // The newest started wave; none started yet means the first one is due.
        let Some(cur) = self.waves.iter().rposition(|w| w.started()) else {
            return vec![self.start_or_wait(0, now_ms)];
        };
        let w = &self.waves[cur];
        if w.state == WaveState::Running
            && (w.counts.succeeded * 100) as f64 >= w.spec.success_threshold * w.ships.len() as f64
        {
            return vec![Ev::WavePassed {
                id,
                at_ms: now_ms,
                wave: cur,
            }];
        }
        if w.state == WaveState::Passed {
            if cur + 1 < self.waves.len() {
                return vec![self.start_or_wait(cur + 1, now_ms)];
            }
            let outstanding = self.counts.pending + self.counts.sent + self.counts.applying;
            if outstanding == 0 {
                return vec![Ev::Completed { id, at_ms: now_ms }];
            }
        }
        Vec::new()
    }

    fn start_or_wait(&self, wave: usize, now_ms: i64) -> Ev {
        let id = self.id.clone();
        if self.waves[wave].spec.approval {
            Ev::AwaitingApproval {
                id,
                at_ms: now_ms,
                wave,
            }
        } else {
            Ev::WaveStarted {
                id,
                at_ms: now_ms,
                wave,
            }
        }
    }

    /// The events of an admin's `op` by `by`, or why it does not apply now (409).
    pub fn control(&self, op: Op, by: &str, now_ms: i64) -> Result<Vec<Ev>, String> {
        let id = self.id.clone();
        let by = by.to_owned();
        match (op, self.state) {
            (Op::Retry, _) => self.retry(id, by, now_ms),
            (_, RolloutState::Aborted | RolloutState::Completed) => Err(format!(
                "rollout {} is {}",
                self.id,
                serde_json::to_value(self.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            )),
            (Op::Pause, RolloutState::Paused) => Err(format!("rollout {} is paused", self.id)),
            (Op::Pause, _) => Ok(vec![Ev::Paused {
                id,
                at_ms: now_ms,
                by,
                reason: "paused by an admin".into(),
                wave: None,
            }]),
            (Op::Resume, RolloutState::Running) => {
                Err(format!("rollout {} is running, not paused", self.id))
            }
            (Op::Resume, RolloutState::AwaitingApproval) => {
                let wave = self
                    .waves
                    .iter()
                    .position(|w| w.state == WaveState::AwaitingApproval)
                    .unwrap_or(0);
                Ok(vec![
                    Ev::Resumed {
                        id: id.clone(),
                        at_ms: now_ms,
                        by,
                    },
                    Ev::WaveStarted {
                        id,
                        at_ms: now_ms,
                        wave,
                    },
                ])
            }
            (Op::Resume, RolloutState::Paused) => {
                let mut evs = vec![Ev::Resumed {
                    id: id.clone(),
                    at_ms: now_ms,
                    by,
                }];
                // Paused while a wave waited for approval: this resume approves it too.
                if let Some(wave) = self
                    .waves
                    .iter()
                    .position(|w| w.state == WaveState::AwaitingApproval)
                {
                    evs.push(Ev::WaveStarted {
                        id,
                        at_ms: now_ms,
                        wave,
                    });
                }
                Ok(evs)
            }
            (Op::Abort, _) => Ok(vec![Ev::Aborted {
                id,
                at_ms: now_ms,
                by,
                reason: "aborted by an admin".into(),
                wave: None,
            }]),
        }
    }

    /// The ships failed, timed out or never sent (skipped after an abort) go again.
    fn retry(&self, id: String, by: String, now_ms: i64) -> Result<Vec<Ev>, String> {
        let ships: Vec<String> = self
            .waves
            .iter()
            .flat_map(|w| &w.ships)
            .filter(|s| matches!(s.state, ShipState::Failed | ShipState::Skipped))
            .map(|s| s.ship.clone())
            .collect();
        if ships.is_empty() {
            return Err(format!(
                "rollout {}: no ship failed, timed out or was left unsent",
                self.id
            ));
        }
        Ok(vec![Ev::Retried {
            id,
            at_ms: now_ms,
            by,
            ships,
        }])
    }
}

/// Every rollout, rebuilt from events.
#[derive(Debug, Default, Clone)]
pub struct Rollouts {
    /// By id.
    pub by_id: BTreeMap<String, Rollout>,
}

impl Rollouts {
    /// Applies one event (a `Created` makes the rollout).
    pub fn apply(&mut self, ev: &Ev) {
        if let Some(r) = Rollout::create(ev) {
            self.by_id.insert(r.id.clone(), r);
        } else if let Some(r) = self.by_id.get_mut(ev.id()) {
            r.apply(ev);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn wave(percent: f64, approval: bool) -> WaveSpec {
        WaveSpec {
            percent,
            success_threshold: 100.0,
            error_threshold: 50.0,
            timeout_s: 60,
            approval,
            incident_window_s: None,
        }
    }

    fn fleet(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("ship-{i}")).collect()
    }

    fn request(waves: Vec<WaveSpec>) -> RolloutRequest {
        RolloutRequest {
            bundle: SHA.into(),
            ships: None,
            all: Some(true),
            waves,
            on_error: OnError::Pause,
        }
    }

    /// Creates a rollout and runs `decide` to a standstill at `now`.
    fn created(req: RolloutRequest, n: usize) -> Rollout {
        let waves = req.plan(&fleet(n)).unwrap();
        let mut r = Rollout::create(&Ev::Created {
            id: "r-1".into(),
            at_ms: 0,
            by: "admin".into(),
            request: req,
            kind: BundleKind::Policies,
            waves,
        })
        .unwrap();
        settle(&mut r, 0);
        r
    }

    fn settle(r: &mut Rollout, now: i64) -> Vec<Ev> {
        let mut all = Vec::new();
        for _ in 0..100 {
            let evs = r.decide(now, 1_000);
            if evs.is_empty() {
                break;
            }
            for e in &evs {
                r.apply(e);
            }
            all.extend(evs);
        }
        all
    }

    fn report(r: &mut Rollout, ship: &str, ok: Option<bool>, at: i64) {
        let (id, ship) = ("r-1".to_string(), ship.to_string());
        let ev = match ok {
            None => Ev::Received {
                id,
                at_ms: at,
                ship,
            },
            Some(true) => Ev::Succeeded {
                id,
                at_ms: at,
                ship,
                detail: "ok".into(),
            },
            Some(false) => Ev::Failed {
                id,
                at_ms: at,
                ship,
                reason: "check failed".into(),
            },
        };
        r.apply(&ev);
    }

    fn send_all(r: &mut Rollout, at: i64) {
        for (i, s) in r.to_send().into_iter().enumerate() {
            r.apply(&Ev::Sent {
                id: "r-1".into(),
                at_ms: at,
                ship: s,
                seq: i as u64 + 1,
            });
        }
    }

    #[test]
    fn waves_split_by_cumulative_percent_and_bad_requests_say_why() {
        let req = request(vec![wave(25.0, false), wave(100.0, false)]);
        let w = req.plan(&fleet(4)).unwrap();
        assert_eq!(w, vec![vec!["ship-0"], vec!["ship-1", "ship-2", "ship-3"]]);
        let e = request(vec![wave(50.0, false)])
            .plan(&fleet(4))
            .unwrap_err();
        assert!(e.contains("must be 100"), "{e}");
        let e = request(vec![wave(60.0, false), wave(40.0, false)])
            .plan(&fleet(4))
            .unwrap_err();
        assert!(e.contains("wave 2: percent 40"), "{e}");
        let mut r = request(vec![wave(100.0, false)]);
        r.bundle = "nope".into();
        assert!(r.plan(&fleet(4)).unwrap_err().contains("SHA-256"));
        let mut r = request(vec![wave(100.0, false)]);
        r.all = None;
        assert!(r.plan(&fleet(4)).unwrap_err().contains("missing \"ships\""));
        let mut r = request(vec![wave(100.0, false)]);
        r.waves[0].timeout_s = 0;
        assert!(r.plan(&fleet(4)).unwrap_err().contains("timeout_s"));
    }

    #[test]
    fn the_next_wave_starts_when_the_first_passes_and_the_rollout_completes_after_a_late_ship() {
        let mut req = request(vec![wave(50.0, false), wave(100.0, false)]);
        req.waves[0].success_threshold = 50.0;
        let mut r = created(req, 4);
        assert_eq!(r.waves[0].state, WaveState::Running);
        assert_eq!(r.to_send(), vec!["ship-0", "ship-1"]);
        // A paused rollout sends nothing more, even in a wave already started.
        let mut paused = r.clone();
        for e in paused.control(Op::Pause, "root", 5).unwrap() {
            paused.apply(&e);
        }
        assert!(paused.to_send().is_empty());
        send_all(&mut r, 10);
        // ship-1 is offline: only ship-0 answers, which is 50 %: wave 2 goes.
        report(&mut r, "ship-0", None, 20);
        report(&mut r, "ship-0", Some(true), 30);
        settle(&mut r, 40);
        assert_eq!(r.waves[0].state, WaveState::Passed);
        assert_eq!(r.waves[1].state, WaveState::Running);
        send_all(&mut r, 50);
        for s in ["ship-2", "ship-3"] {
            report(&mut r, s, None, 60);
            report(&mut r, s, Some(true), 70);
        }
        settle(&mut r, 80);
        assert_eq!(r.state, RolloutState::Running, "ship-1 is still out");
        assert_eq!(r.counts.sent, 1);
        // Hours later (sent ships have no timeout) ship-1 is back.
        let later = 6 * 3_600_000;
        assert!(settle(&mut r, later).is_empty());
        report(&mut r, "ship-1", None, later);
        report(&mut r, "ship-1", Some(true), later + 5);
        settle(&mut r, later + 10);
        assert_eq!(r.state, RolloutState::Completed);
        assert_eq!(r.counts.succeeded, 4);
    }

    #[test]
    fn a_failure_at_the_error_threshold_pauses_and_resume_accepts_it() {
        let mut r = created(request(vec![wave(50.0, false), wave(100.0, false)]), 4);
        send_all(&mut r, 0);
        report(&mut r, "ship-0", None, 1);
        report(&mut r, "ship-0", Some(false), 2);
        let evs = settle(&mut r, 3);
        assert!(
            matches!(&evs[0], Ev::Paused { wave: Some(0), .. }),
            "{evs:?}"
        );
        assert_eq!(r.state, RolloutState::Paused);
        assert_eq!(r.waves[0].state, WaveState::Tripped);
        assert!(r.reason.as_deref().unwrap().contains("1 of 2 ships failed"));
        assert!(r.waves[1]
            .ships
            .iter()
            .all(|s| s.state == ShipState::Pending));
        // A paused rollout starts nothing; a resume accepts the failure and goes on.
        report(&mut r, "ship-1", None, 4);
        report(&mut r, "ship-1", Some(true), 5);
        assert!(settle(&mut r, 6).is_empty());
        for e in r.control(Op::Resume, "root", 7).unwrap() {
            r.apply(&e);
        }
        settle(&mut r, 8);
        assert_eq!(r.waves[1].state, WaveState::Running);
        assert!(r.control(Op::Resume, "root", 9).is_err(), "not paused");
    }

    #[test]
    fn abort_on_error_skips_the_ships_not_sent() {
        let mut req = request(vec![wave(25.0, false), wave(100.0, false)]);
        req.on_error = OnError::Abort;
        let mut r = created(req, 4);
        send_all(&mut r, 0);
        report(&mut r, "ship-0", None, 1);
        report(&mut r, "ship-0", Some(false), 2);
        settle(&mut r, 3);
        assert_eq!(r.state, RolloutState::Aborted);
        assert_eq!(r.counts.skipped, 3);
        assert!(r.to_send().is_empty());
        assert!(r.control(Op::Resume, "root", 4).is_err());
    }

    #[test]
    fn a_ship_that_took_the_bundle_and_went_quiet_times_out() {
        let mut r = created(request(vec![wave(100.0, false)]), 2);
        send_all(&mut r, 0);
        report(&mut r, "ship-0", None, 1_000);
        report(&mut r, "ship-1", None, 1_000);
        report(&mut r, "ship-1", Some(true), 2_000);
        // 60 s timeout + 1 s grace from receipt.
        assert!(settle(&mut r, 61_999).is_empty());
        let evs = settle(&mut r, 62_000);
        assert!(
            matches!(&evs[0], Ev::Failed { ship, reason, .. } if ship == "ship-0" && reason.contains("timeout"))
        );
        assert_eq!(r.state, RolloutState::Paused);
        // A late success does not undo the timeout.
        report(&mut r, "ship-0", Some(true), 70_000);
        assert_eq!(r.waves[0].counts.failed, 1);
    }

    #[test]
    fn retry_sends_again_to_failed_timed_out_and_unsent_ships_and_keeps_the_history() {
        let mut req = request(vec![wave(50.0, false), wave(100.0, false)]);
        req.on_error = OnError::Abort;
        let mut r = created(req, 4);
        send_all(&mut r, 0);
        // ship-0 fails its check, ship-1 took it and went quiet: the rollout aborts.
        report(&mut r, "ship-1", None, 1);
        report(&mut r, "ship-0", None, 1);
        report(&mut r, "ship-0", Some(false), 2);
        settle(&mut r, 3);
        assert_eq!(r.state, RolloutState::Aborted);
        assert_eq!(r.counts.skipped, 2, "wave 2 never sent");
        // Still applying: the per-ship timeout counts it failed even after the abort.
        settle(&mut r, 61_001);
        assert_eq!(r.counts.failed, 2);
        assert!(r.control(Op::Resume, "root", 61_002).is_err());
        let evs = r.control(Op::Retry, "root", 61_002).unwrap();
        assert!(
            matches!(&evs[0], Ev::Retried { ships, .. } if ships.len() == 4),
            "{evs:?}"
        );
        for e in &evs {
            r.apply(e);
        }
        settle(&mut r, 61_003);
        assert_eq!(r.state, RolloutState::Running);
        assert_eq!(r.waves[0].state, WaveState::Running);
        assert_eq!(
            r.to_send(),
            vec!["ship-0", "ship-1"],
            "wave 2 waits for wave 1"
        );
        assert!(r.waves[0].ships.iter().all(|s| s.attempt == 1));
        send_all(&mut r, 61_004);
        for s in ["ship-0", "ship-1"] {
            report(&mut r, s, None, 61_005);
            report(&mut r, s, Some(true), 61_006);
        }
        settle(&mut r, 61_007);
        assert_eq!(r.to_send(), vec!["ship-2", "ship-3"]);
        send_all(&mut r, 61_008);
        for s in ["ship-2", "ship-3"] {
            report(&mut r, s, None, 61_009);
            report(&mut r, s, Some(true), 61_010);
        }
        settle(&mut r, 61_011);
        assert_eq!(r.state, RolloutState::Completed);
        let h: Vec<&str> = r.history.iter().map(|h| h.what.as_str()).collect();
        assert!(
            h.iter().any(|w| w.starts_with("aborted by rollout")),
            "{h:?}"
        );
        assert!(h.contains(&"retried by root: 4 ships again"), "{h:?}");
        // Nothing left to retry.
        assert!(r
            .control(Op::Retry, "root", 61_012)
            .unwrap_err()
            .contains("no ship failed"));
    }

    #[test]
    fn an_incident_window_must_fit_in_the_timeout() {
        let mut w = wave(100.0, false);
        assert_eq!(w.incident_window(), 30, "default: half of a 60 s timeout");
        w.timeout_s = 3_600;
        assert_eq!(w.incident_window(), DEFAULT_INCIDENT_WINDOW_S);
        w.incident_window_s = Some(3_600);
        let e = request(vec![w]).plan(&fleet(2)).unwrap_err();
        assert!(
            e.contains("incident_window_s 3600 must be below timeout_s"),
            "{e}"
        );
    }

    #[test]
    fn an_approval_wave_waits_for_resume() {
        let mut r = created(request(vec![wave(50.0, false), wave(100.0, true)]), 2);
        send_all(&mut r, 0);
        report(&mut r, "ship-0", None, 1);
        report(&mut r, "ship-0", Some(true), 2);
        settle(&mut r, 3);
        assert_eq!(r.state, RolloutState::AwaitingApproval);
        assert_eq!(r.waves[1].state, WaveState::AwaitingApproval);
        assert!(r.to_send().is_empty());
        for e in r.control(Op::Resume, "root", 4).unwrap() {
            r.apply(&e);
        }
        assert_eq!(r.to_send(), vec!["ship-1"]);
        assert!(r.history.iter().any(|h| h.what == "resumed by root"));
    }

    #[test]
    fn replaying_the_events_gives_the_same_rollout() {
        let req = request(vec![wave(50.0, false), wave(100.0, false)]);
        let waves = req.plan(&fleet(3)).unwrap();
        let mut log = vec![Ev::Created {
            id: "r-1".into(),
            at_ms: 0,
            by: "admin".into(),
            request: req,
            kind: BundleKind::Runbooks,
            waves,
        }];
        let mut live = Rollouts::default();
        live.apply(&log[0]);
        for step in 0..6 {
            let r = live.by_id.get_mut("r-1").unwrap();
            let mut evs = r.decide(step, 0);
            for s in r.to_send() {
                evs.push(Ev::Sent {
                    id: "r-1".into(),
                    at_ms: step,
                    ship: s,
                    seq: 1,
                });
            }
            if let Some(s) = r
                .waves
                .iter()
                .flat_map(|w| &w.ships)
                .find(|s| s.state == ShipState::Sent)
            {
                evs.push(Ev::Succeeded {
                    id: "r-1".into(),
                    at_ms: step,
                    ship: s.ship.clone(),
                    detail: "ok".into(),
                });
            }
            for e in evs {
                let line = serde_json::to_string(&e).unwrap();
                let back: Ev = serde_json::from_str(&line).unwrap();
                live.apply(&back);
                log.push(back);
            }
        }
        let mut replayed = Rollouts::default();
        for e in &log {
            replayed.apply(e);
        }
        assert_eq!(replayed.by_id, live.by_id);
        assert!(live.by_id["r-1"].counts.succeeded >= 2);
    }
}
