//! Runbook executions (contracts §7): proposal with its dry run and policy decision,
//! approvals (a quorum of distinct users, never the requester), then prechecks, actions,
//! verification and rollback through a [`Driver`], every transition and every step
//! durable before it is acted on.
//!
//! ```text
//! proposed → awaiting_approval → prechecks → dry_run → executing → verifying → succeeded
//!    │              │  └→ rejected | expired          │ (precheck fails: failed)
//!    └→ rejected (policy denies)                      └→ (action or verify fails, or a
//!                                                        step may have run) → rolled_back
//!                                                        (rollback fails: failed)
//! ```
//!
//! Durability: the audit log is the journal (decision 0045). Records of kind
//! `execution.proposed`, `execution.approval`, `execution.transition` and `execution.step`
//! (`started` before the driver is called, `ok`/`failed` after) are fsynced before the
//! next thing happens, and [`Executions::recover`] rebuilds every execution from them.
//! Resuming after a crash never runs an action step twice: an action whose `started` has
//! no result *may* have run, so it is not retried — the verify steps run instead; if they
//! pass the desired state holds (succeeded), else the execution rolls back. Prechecks and
//! verify steps are read-only and simply run again; rollback steps must be idempotent
//! (they set a state, like `no shutdown`) and are re-run when in doubt.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::RwLock;
use regex::Regex;
use serde::{Deserialize, Serialize};

use super::audit::{AuditError, AuditRecord};
use super::policy::{Decision, PolicyInput, RunbookFacts, ShipFacts, TargetFacts};
use super::service::Remediation;
use super::spec::{Phase, Runbook, Step};

/// Where an execution is (contracts §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecState {
    /// Registered, policy being asked.
    Proposed,
    /// Allowed by the policy, waiting for its approvals.
    AwaitingApproval,
    /// Running the read-only checks.
    Prechecks,
    /// The plan is final (commands per target); about to change things.
    DryRun,
    /// Running the actions.
    Executing,
    /// Running the verify steps (and the rollback, if they fail).
    Verifying,
    /// Done and verified.
    Succeeded,
    /// Undone after a failed action or verification.
    RolledBack,
    /// A precheck failed (nothing changed) or the rollback failed (call a human).
    Failed,
    /// Denied by the policy or rejected by an approver.
    Rejected,
    /// Not approved in time.
    Expired,
}

impl ExecState {
    /// No further change.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ExecState::Succeeded
                | ExecState::RolledBack
                | ExecState::Failed
                | ExecState::Rejected
                | ExecState::Expired
        )
    }

    /// Approved and not finished: the executor owns it.
    pub fn is_running(self) -> bool {
        matches!(
            self,
            ExecState::Prechecks | ExecState::DryRun | ExecState::Executing | ExecState::Verifying
        )
    }
}

/// One planned command for one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedStep {
    /// The target.
    pub target: String,
    /// The phase.
    pub phase: Phase,
    /// Index within the phase.
    pub index: usize,
    /// What it does.
    pub name: Option<String>,
    /// The exact command(s) sent.
    pub command: String,
    /// The pattern the output must match.
    pub expect: String,
    /// Seconds it may take.
    pub timeout_s: u64,
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Sent to the driver; no result recorded (after a crash: may have run).
    Started,
    /// Output matched.
    Ok,
    /// Error, timeout or output not matching.
    Failed,
    /// Not run: in doubt after a crash, verified instead of retried.
    InDoubt,
}

/// A step's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The target.
    pub target: String,
    /// The phase.
    pub phase: Phase,
    /// Index within the phase.
    pub index: usize,
    /// How it ended.
    pub status: StepStatus,
    /// The device's output (or the error).
    pub output: String,
    /// When it was recorded, unix ms (absent in records written before this field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<i64>,
}

/// One approval or rejection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Who.
    pub by: String,
    /// Approved (false: rejected).
    pub approve: bool,
    /// RFC 3339.
    pub at: String,
}

/// One execution, as the API shows it (contracts §7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exec {
    /// `<ship>-x-<n>`.
    pub id: String,
    /// The runbook.
    pub runbook: String,
    /// How its steps reach the targets (the runbook's driver when it was proposed).
    #[serde(default = "ssh_driver")]
    pub driver: super::spec::Driver,
    /// The targets.
    pub targets: Vec<String>,
    /// The parameters (resolved, defaults filled).
    pub params: BTreeMap<String, String>,
    /// Where it is.
    pub state: ExecState,
    /// Who asked.
    pub requester: String,
    /// The incident it remedies, if any.
    pub incident: Option<String>,
    /// When it was proposed, unix ms.
    pub proposed_at_ms: i64,
    /// The dry run: every command per target, in order.
    pub plan: Vec<PlannedStep>,
    /// The policy's decision.
    pub policy: Decision,
    /// Approvals and rejections, in order.
    pub approvals: Vec<Approval>,
    /// Steps run, in order.
    pub steps: Vec<StepRecord>,
    /// `ssh` runbooks with a `config_command`: the command that reads a target's
    /// configuration for the dry run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_command: Option<String>,
    /// The device-state part of the dry run, one entry a target, read before approval.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preview: Vec<Preview>,
    /// Proposed from shore: the id of the shore's command that carried the proposal
    /// (the requester is the shore user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shore_command: Option<u64>,
}

/// What a target's running configuration says the action steps would change (read with
/// the runbook's `config_command` while the execution awaits approval).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preview {
    /// The target.
    pub target: String,
    /// Why the configuration could not be read (then `steps` is empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Per action step, the sections it would change.
    #[serde(default)]
    pub steps: Vec<super::config_diff::StepPrediction>,
}

impl Exec {
    fn step(&self, target: &str, phase: Phase, index: usize) -> Option<StepStatus> {
        self.steps
            .iter()
            .rev()
            .find(|s| s.target == target && s.phase == phase && s.index == index)
            .map(|s| s.status)
    }

    fn approvers(&self) -> usize {
        let mut who: Vec<&str> = self
            .approvals
            .iter()
            .filter(|a| a.approve && a.by != self.requester)
            .map(|a| a.by.as_str())
            .collect();
        who.sort_unstable();
        who.dedup();
        who.len()
    }
}

fn ssh_driver() -> super::spec::Driver {
    super::spec::Driver::Ssh
}

/// How a target is reached (from the node's targets file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetAccess {
    /// Device id.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// Its zone (`it`, `ot`, `bridge`, …).
    pub zone: String,
    /// `host:port` for network drivers.
    #[serde(default)]
    pub address: Option<String>,
    /// Login user for network drivers.
    #[serde(default)]
    pub user: Option<String>,
}

/// Runs one command on one target.
pub trait Driver: Send + Sync {
    /// Sends `command` (one or more lines) to `target` and returns its output; an error
    /// is a refused connection, an unknown host key, a timeout or a device error.
    fn run<'a>(
        &'a self,
        target: &'a TargetAccess,
        command: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<String, String>>;

    /// Runs a step of a runbook whose driver is `kind`. A single driver is the `ssh`
    /// one and refuses the others; [`DriverSet`] dispatches.
    fn run_as<'a>(
        &'a self,
        kind: super::spec::Driver,
        target: &'a TargetAccess,
        command: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<String, String>> {
        if kind == super::spec::Driver::Ssh {
            self.run(target, command, timeout)
        } else {
            Box::pin(
                async move { Err(format!("no {kind:?} driver on this node; nothing was sent")) },
            )
        }
    }
}

/// The drivers of a node, by runbook driver kind.
pub struct DriverSet {
    /// `ssh`.
    pub ssh: Arc<dyn Driver>,
    /// `http`, if the node has one.
    pub http: Option<Arc<dyn Driver>>,
    /// `builtin`, if the node has one.
    pub builtin: Option<Arc<dyn Driver>>,
}

impl Driver for DriverSet {
    fn run<'a>(
        &'a self,
        target: &'a TargetAccess,
        command: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<String, String>> {
        self.ssh.run(target, command, timeout)
    }

    fn run_as<'a>(
        &'a self,
        kind: super::spec::Driver,
        target: &'a TargetAccess,
        command: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<String, String>> {
        use super::spec::Driver as Kind;
        let driver = match kind {
            Kind::Ssh => Some(&self.ssh),
            Kind::Http => self.http.as_ref(),
            Kind::Builtin => self.builtin.as_ref(),
        };
        match driver {
            Some(d) => d.run(target, command, timeout),
            None => Box::pin(async move {
                Err(format!("no {kind:?} driver on this node; nothing was sent"))
            }),
        }
    }
}

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// No such runbook.
    #[error("no runbook {0}")]
    NoRunbook(String),
    /// No such execution.
    #[error("no execution {0}")]
    NotFound(String),
    /// Bad targets or params.
    #[error("{0}")]
    Invalid(String),
    /// The policy denied it (the execution is recorded as rejected).
    #[error("denied by policy: {}", .0.policy.reasons.join("; "))]
    Denied(Box<Exec>),
    /// The requester may not approve their own execution.
    #[error("{0} requested this execution and may not approve or reject it")]
    OwnRequest(String),
    /// Not awaiting approval.
    #[error("execution {id} is {state:?}, not awaiting approval")]
    NotAwaiting {
        /// The execution.
        id: String,
        /// Its state.
        state: ExecState,
    },
    /// The journal could not be written: nothing was done.
    #[error(transparent)]
    Audit(#[from] AuditError),
}

/// A proposal.
#[derive(Debug, Clone)]
pub struct Proposal {
    /// The runbook's name.
    pub runbook: String,
    /// Target ids.
    pub targets: Vec<String>,
    /// Parameters.
    pub params: serde_json::Map<String, serde_json::Value>,
    /// The user.
    pub requester: String,
    /// Their role.
    pub role: String,
    /// The incident, if any.
    pub incident: Option<String>,
}

/// The executions of a node, rebuilt from the journal on open. Cheap to clone.
#[derive(Clone)]
pub struct Executions {
    ship: String,
    inner: Arc<RwLock<BTreeMap<u64, Exec>>>,
    remediation: Remediation,
    targets: Arc<RwLock<BTreeMap<String, TargetAccess>>>,
    notify: Arc<tokio::sync::Notify>,
    push: Option<crate::push::PushBus>,
}

/// A runbook an incident suggests (`GET /api/incidents/{id}/runbooks`): its `applies_to`
/// matches the incident's root-cause kind and one of its symptom classes; the root cause
/// is the target, parameters with defaults are filled in and the ones an operator must
/// give are listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    /// The runbook.
    pub runbook: String,
    /// What it does.
    pub description: String,
    /// The SOP it follows, if any.
    pub sop: Option<String>,
    /// `low`, `medium`, `high`.
    pub risk: String,
    /// May run without a human when the policy allows it.
    pub auto: bool,
    /// The incident.
    pub incident: String,
    /// The targets (the incident's root cause).
    pub targets: Vec<String>,
    /// Parameters known without a human (defaults).
    pub params: BTreeMap<String, String>,
    /// Required parameters without a default: an operator gives them.
    pub missing: Vec<String>,
    /// Executions already proposed for this incident with this runbook (ids).
    pub executions: Vec<String>,
}

fn id_number(id: &str) -> u64 {
    id.rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

impl Executions {
    /// The executions of `ship`, recovered from `remediation`'s journal; `targets` says
    /// how each device is reached and its zone.
    pub fn recover(
        ship: &str,
        remediation: Remediation,
        targets: Vec<TargetAccess>,
    ) -> Result<Self, AuditError> {
        let mut map: BTreeMap<u64, Exec> = BTreeMap::new();
        let mut since = 0;
        loop {
            let page = remediation.audit_since(since, 1000)?;
            let Some(last) = page.last() else { break };
            since = last.seq;
            for rec in &page {
                apply(&mut map, rec);
            }
        }
        Ok(Self {
            ship: ship.to_string(),
            inner: Arc::new(RwLock::new(map)),
            remediation,
            targets: Arc::new(RwLock::new(
                targets.into_iter().map(|t| (t.id.clone(), t)).collect(),
            )),
            notify: Arc::default(),
            push: None,
        })
    }

    /// Publishes every change of an execution on `push` as `{"type":"runbook", ...}`
    /// (contracts §2), the execution's JSON as the body.
    pub fn with_push(mut self, push: crate::push::PushBus) -> Self {
        self.push = Some(push);
        self
    }

    /// The ship.
    pub fn ship(&self) -> &str {
        &self.ship
    }

    /// The executions as pushes, for a WebSocket session's snapshot.
    pub fn snapshot(&self) -> Vec<crate::push::Push> {
        self.list().iter().map(|e| self.as_push(e)).collect()
    }

    /// An execution as the API and the `runbook` push show it: its JSON with the ship.
    pub fn view(&self, e: &Exec) -> serde_json::Value {
        let mut body = serde_json::to_value(e).unwrap_or_default();
        if let Some(o) = body.as_object_mut() {
            o.insert("ship".into(), self.ship.clone().into());
        }
        body
    }

    fn as_push(&self, e: &Exec) -> crate::push::Push {
        crate::push::Push {
            kind: crate::push::PushKind::Runbook,
            ship: Some(self.ship.clone()),
            body: self.view(e),
        }
    }

    /// The catalogue, policy and audit log the executions are journaled in.
    pub fn remediation(&self) -> &Remediation {
        &self.remediation
    }

    /// The runbooks `incident` suggests, best first: those whose `applies_to` names the
    /// root cause's kind and one of the incident's symptom classes (all classes when the
    /// incident has none recorded), automatic ones first, then by risk.
    pub fn suggest(&self, incident: &crate::incident::model::Incident) -> Vec<Suggestion> {
        let kind = self.target(&incident.root_cause).kind;
        let classes: Vec<String> = incident
            .classes
            .iter()
            .filter_map(|c| serde_json::to_value(c).ok())
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let cat = self.remediation.catalogue();
        // the executions already proposed for this incident, by runbook (read once)
        let mut proposed: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for e in self
            .inner
            .read()
            .values()
            .filter(|e| e.incident.as_deref() == Some(&incident.id))
        {
            proposed
                .entry(e.runbook.clone())
                .or_default()
                .push(e.id.clone());
        }
        let mut out: Vec<(bool, u8, Suggestion)> = cat
            .runbooks
            .values()
            .filter(|rb| rb.applies_to.device_kinds.contains(&kind))
            .filter(|rb| {
                classes.is_empty()
                    || rb
                        .applies_to
                        .incident_classes
                        .iter()
                        .any(|c| classes.contains(c))
            })
            .map(|rb| {
                let mut params = BTreeMap::new();
                let mut missing = Vec::new();
                for (name, p) in &rb.params {
                    match &p.default {
                        Some(d) => {
                            params.insert(name.clone(), super::spec::value_text(d));
                        }
                        None if p.required => missing.push(name.clone()),
                        None => {}
                    }
                }
                let executions = proposed.get(&rb.name).cloned().unwrap_or_default();
                let risk = rb.risk.as_str();
                (
                    !rb.auto,
                    match risk {
                        "low" => 0,
                        "medium" => 1,
                        _ => 2,
                    },
                    Suggestion {
                        runbook: rb.name.clone(),
                        description: rb.description.clone(),
                        sop: rb.sop.clone(),
                        risk: risk.to_string(),
                        auto: rb.auto,
                        incident: incident.id.clone(),
                        targets: vec![incident.root_cause.clone()],
                        params,
                        missing,
                        executions,
                    },
                )
            })
            .collect();
        out.sort_by(|a, b| (a.0, a.1, &a.2.runbook).cmp(&(b.0, b.1, &b.2.runbook)));
        out.into_iter().map(|(_, _, s)| s).collect()
    }

    /// Whether runbook `name`'s `applies_to` names incident class `class`.
    pub fn applies_to_class(&self, name: &str, class: &str) -> bool {
        self.remediation
            .catalogue()
            .get(name)
            .is_some_and(|rb| rb.applies_to.incident_classes.iter().any(|c| c == class))
    }

    /// One execution.
    pub fn get(&self, id: &str) -> Option<Exec> {
        self.inner
            .read()
            .get(&id_number(id))
            .filter(|e| e.id == id)
            .cloned()
    }

    /// All executions, oldest first.
    pub fn list(&self) -> Vec<Exec> {
        self.inner.read().values().cloned().collect()
    }

    fn journal(&self, kind: &str, actor: &str, detail: serde_json::Value) -> Result<(), ExecError> {
        let rec = self.remediation.audit(kind, actor, detail)?;
        let changed = {
            let mut map = self.inner.write();
            apply(&mut map, &rec);
            rec.detail
                .get("id")
                .and_then(|i| i.as_str())
                .and_then(|id| map.get(&id_number(id)).filter(|e| e.id == id).cloned())
        };
        if let (Some(bus), Some(e)) = (&self.push, changed) {
            bus.publish(self.as_push(&e));
        }
        Ok(())
    }

    fn target(&self, id: &str) -> TargetAccess {
        self.targets
            .read()
            .get(id)
            .cloned()
            .unwrap_or(TargetAccess {
                id: id.to_string(),
                kind: "unknown".into(),
                zone: "it".into(),
                address: None,
                user: None,
            })
    }

    /// Proposes an execution: checks params, renders the plan, asks the policy (its
    /// decision audited with its input), and records it `awaiting_approval` — or
    /// `rejected` with the reasons. `ship` is the ship's state for the policy.
    pub fn propose(&self, p: Proposal, ship: ShipFacts, now_ms: i64) -> Result<Exec, ExecError> {
        self.propose_with(p, None, ship, now_ms)
    }

    /// Proposes an execution that shore's command `command` carried: as [`propose`]
    /// (the ship's own policy decides), unless an execution of that command exists
    /// already — the journal remembers it across restarts, so a command shore sends
    /// again (its answer was lost, the ship restarted) is never proposed twice; that
    /// execution is returned as it is (a denied one as [`ExecError::Denied`]).
    ///
    /// [`propose`]: Self::propose
    pub fn propose_from_shore(
        &self,
        p: Proposal,
        command: u64,
        ship: ShipFacts,
        now_ms: i64,
    ) -> Result<Exec, ExecError> {
        if let Some(e) = self.by_shore_command(command) {
            return if e.state == ExecState::Rejected && !e.policy.allow {
                Err(ExecError::Denied(Box::new(e)))
            } else {
                Ok(e)
            };
        }
        self.propose_with(p, Some(command), ship, now_ms)
    }

    /// The execution shore's command `command` proposed, if any.
    pub fn by_shore_command(&self, command: u64) -> Option<Exec> {
        self.inner
            .read()
            .values()
            .find(|e| e.shore_command == Some(command))
            .cloned()
    }

    fn propose_with(
        &self,
        p: Proposal,
        shore_command: Option<u64>,
        ship: ShipFacts,
        now_ms: i64,
    ) -> Result<Exec, ExecError> {
        let cat = self.remediation.catalogue();
        let rb: &Runbook = cat
            .get(&p.runbook)
            .ok_or_else(|| ExecError::NoRunbook(p.runbook.clone()))?;
        let params = rb.resolve_params(&p.params).map_err(ExecError::Invalid)?;
        if p.targets.is_empty() {
            return Err(ExecError::Invalid("targets: at least one".into()));
        }
        let mut uniq = p.targets.clone();
        uniq.sort();
        uniq.dedup();
        if uniq.len() != p.targets.len() {
            return Err(ExecError::Invalid("targets: each at most once".into()));
        }
        let plan = plan(rb, &p.targets, &params);
        let mut recent = ship.clone();
        recent.recent_executions.extend(
            self.list()
                .iter()
                .filter(|e| !matches!(e.state, ExecState::Rejected))
                .map(|e| super::policy::RecentExecution {
                    runbook: e.runbook.clone(),
                    requester: e.requester.clone(),
                    at: e.proposed_at_ms,
                }),
        );
        let input = PolicyInput {
            runbook: RunbookFacts {
                name: rb.name.clone(),
                risk: rb.risk.as_str().into(),
                auto: rb.auto,
                writes: rb.writes,
                driver: format!("{:?}", rb.driver).to_lowercase(),
            },
            targets: p
                .targets
                .iter()
                .map(|t| {
                    let a = self.target(t);
                    TargetFacts {
                        id: a.id,
                        kind: a.kind,
                        zone: a.zone,
                    }
                })
                .collect(),
            params: p.params.clone(),
            requester: p.requester.clone(),
            role: p.role.clone(),
            now: now_ms,
            ship: recent,
        };
        let n = self.inner.read().keys().next_back().copied().unwrap_or(0) + 1;
        let id = format!("{}-x-{n}", self.ship);
        let decision = self.remediation.decide(&input, &id);
        self.journal(
            "execution.proposed",
            &p.requester,
            serde_json::json!({
                "id": id, "runbook": rb.name, "driver": rb.driver, "targets": p.targets, "params": params,
                "requester": p.requester, "incident": p.incident, "plan": plan,
                "proposed_at_ms": now_ms,
                "policy": decision,
                "config_command": rb.config_command,
                "shore_command": shore_command,
            }),
        )?;
        let to = if decision.allow {
            ExecState::AwaitingApproval
        } else {
            ExecState::Rejected
        };
        self.transition(&id, ExecState::Proposed, to, &p.requester)?;
        let e = self
            .get(&id)
            .ok_or_else(|| ExecError::NotFound(id.clone()))?;
        if !decision.allow {
            return Err(ExecError::Denied(Box::new(e)));
        }
        if rb.config_command.is_some() {
            // the executor reads the targets' configuration for the dry run
            self.notify.notify_one();
        }
        if decision.approvals_required == 0 {
            self.transition(
                &id,
                ExecState::AwaitingApproval,
                ExecState::Prechecks,
                "seawatch",
            )?;
            self.notify.notify_one();
        }
        self.get(&id).ok_or(ExecError::NotFound(id))
    }

    fn transition(
        &self,
        id: &str,
        from: ExecState,
        to: ExecState,
        actor: &str,
    ) -> Result<(), ExecError> {
        self.journal(
            "execution.transition",
            actor,
            serde_json::json!({"id": id, "from": from, "to": to}),
        )
    }

    /// Approves (or rejects) on behalf of `by`. The requester may not; once
    /// `approvals_required` distinct others approved, the execution starts.
    pub fn decide(&self, id: &str, by: &str, approve: bool) -> Result<Exec, ExecError> {
        let e = self.get(id).ok_or_else(|| ExecError::NotFound(id.into()))?;
        if e.state != ExecState::AwaitingApproval {
            return Err(ExecError::NotAwaiting {
                id: id.into(),
                state: e.state,
            });
        }
        if e.requester == by {
            return Err(ExecError::OwnRequest(by.into()));
        }
        self.journal(
            "execution.approval",
            by,
            serde_json::json!({"id": id, "by": by, "approve": approve}),
        )?;
        let e = self.get(id).ok_or_else(|| ExecError::NotFound(id.into()))?;
        if !approve {
            self.transition(id, ExecState::AwaitingApproval, ExecState::Rejected, by)?;
        } else if e.approvers() >= e.policy.approvals_required as usize {
            self.transition(id, ExecState::AwaitingApproval, ExecState::Prechecks, by)?;
            self.notify.notify_one();
        }
        self.get(id).ok_or_else(|| ExecError::NotFound(id.into()))
    }

    /// Ends the wait of executions awaiting approval for longer than their policy's
    /// `approval_timeout_s` (or `default_after_ms` when the policy sets none): by default
    /// they expire (a timeout is a denial); where the policy says `on_approval_timeout:
    /// approve` they start, the approval recorded as the policy's. Returns how many.
    pub fn expire(&self, now_ms: i64, default_after_ms: i64) -> usize {
        let stale: Vec<Exec> = self
            .inner
            .read()
            .values()
            .filter(|e| {
                let after = e
                    .policy
                    .approval_timeout_s
                    .map_or(default_after_ms, |s| (s as i64).saturating_mul(1000));
                e.state == ExecState::AwaitingApproval && now_ms - e.proposed_at_ms > after
            })
            .cloned()
            .collect();
        stale
            .iter()
            .filter(|e| match e.policy.on_approval_timeout {
                super::policy::OnTimeout::Deny => self
                    .transition(
                        &e.id,
                        ExecState::AwaitingApproval,
                        ExecState::Expired,
                        "seawatch",
                    )
                    .is_ok(),
                super::policy::OnTimeout::Approve => {
                    let ok = self
                        .journal(
                            "execution.approval",
                            "policy",
                            serde_json::json!({"id": e.id, "by": "policy", "approve": true,
                                               "reason": "approval timeout"}),
                        )
                        .and_then(|()| {
                            self.transition(
                                &e.id,
                                ExecState::AwaitingApproval,
                                ExecState::Prechecks,
                                "policy",
                            )
                        })
                        .is_ok();
                    self.notify.notify_one();
                    ok
                }
            })
            .count()
    }

    /// Waits until an execution may be ready to run.
    pub async fn wait_work(&self) {
        self.notify.notified().await
    }

    /// Ids of approved, unfinished executions (to run or to resume).
    pub fn runnable(&self) -> Vec<String> {
        self.inner
            .read()
            .values()
            .filter(|e| e.state.is_running())
            .map(|e| e.id.clone())
            .collect()
    }

    /// Ids of executions awaiting approval whose dry run still lacks the targets'
    /// configuration (runbooks with a `config_command`).
    pub fn previewable(&self) -> Vec<String> {
        self.inner
            .read()
            .values()
            .filter(|e| {
                e.state == ExecState::AwaitingApproval
                    && e.config_command.is_some()
                    && e.preview.is_empty()
            })
            .map(|e| e.id.clone())
            .collect()
    }

    /// Reads each target's configuration with the runbook's `config_command` (read-only)
    /// through `driver`, and journals what each action step would change in it
    /// ([`super::config_diff::predict`]) or why it could not be read. Nothing is changed
    /// on a device.
    pub async fn preview(&self, id: &str, driver: &dyn Driver) -> Result<(), ExecError> {
        let e = self.get(id).ok_or_else(|| ExecError::NotFound(id.into()))?;
        let Some(cmd) = e.config_command.clone() else {
            return Ok(());
        };
        for target in &e.targets {
            let access = self.target(target);
            let actions: Vec<&str> = e
                .plan
                .iter()
                .filter(|s| s.target == *target && s.phase == Phase::Action)
                .map(|s| s.command.as_str())
                .collect();
            let p = match driver
                .run_as(e.driver, &access, &cmd, PREVIEW_TIMEOUT)
                .await
            {
                Ok(running) => Preview {
                    target: target.clone(),
                    error: None,
                    steps: super::config_diff::predict(&running, &actions),
                },
                Err(why) => Preview {
                    target: target.clone(),
                    error: Some(why),
                    steps: Vec::new(),
                },
            };
            let mut detail = serde_json::to_value(&p).unwrap_or_default();
            if let Some(o) = detail.as_object_mut() {
                o.insert("id".into(), id.into());
                o.insert("command".into(), cmd.clone().into());
            }
            self.journal("execution.preview", "seawatch", detail)?;
        }
        Ok(())
    }

    /// Runs (or resumes) one approved execution to its end with `driver`.
    ///
    /// Targets run side by side, at most the policy's `max_parallel` at once (blast
    /// radius, contracts §7), each target's steps in order; every step is journaled under
    /// its target, so a resumed execution knows per target what ran. A failed action
    /// starts no further target (those already running stop after their current step);
    /// then every target an action touched is rolled back, and only those.
    pub async fn run(&self, id: &str, driver: &dyn Driver) -> Result<ExecState, ExecError> {
        let e = self.get(id).ok_or_else(|| ExecError::NotFound(id.into()))?;
        let parallel = (e.policy.max_parallel.max(1) as usize).min(e.targets.len().max(1));
        let mut state = e.state;
        // prechecks (read-only: re-run whatever has no ok)
        if state == ExecState::Prechecks {
            let ok = self
                .each_target(&e.targets, parallel, |t| {
                    self.phase_of(id, &e, t, Phase::Precheck, driver, false)
                })
                .await?;
            if ok.contains(&false) {
                self.transition(id, state, ExecState::Failed, "seawatch")?;
                return Ok(ExecState::Failed);
            }
            self.transition(id, state, ExecState::DryRun, "seawatch")?;
            state = ExecState::DryRun;
        }
        if state == ExecState::DryRun {
            self.transition(id, state, ExecState::Executing, "seawatch")?;
            state = ExecState::Executing;
        }
        if state == ExecState::Executing {
            // a failure recorded before a restart starts no further target either
            let stop = std::sync::atomic::AtomicBool::new(
                e.steps
                    .iter()
                    .any(|s| s.phase == Phase::Action && s.status == StepStatus::Failed),
            );
            self.each_target(&e.targets, parallel, |t| {
                self.actions_of(id, &e, t, driver, &stop)
            })
            .await?;
            self.transition(id, state, ExecState::Verifying, "seawatch")?;
            state = ExecState::Verifying;
        }
        if state == ExecState::Verifying {
            let cur = self.get(id).ok_or_else(|| ExecError::NotFound(id.into()))?;
            // an action failed earlier (recorded), or we are resuming a rollback
            let mut rollback = cur.steps.iter().any(|s| {
                (s.phase == Phase::Action && s.status == StepStatus::Failed)
                    || s.phase == Phase::Rollback
            });
            if !rollback {
                // verify steps are read-only: every target is checked, each stops at its
                // first failure
                let ok = self
                    .each_target(&e.targets, parallel, |t| {
                        self.phase_of(id, &e, t, Phase::Verify, driver, true)
                    })
                    .await?;
                rollback = ok.contains(&false);
            }
            if !rollback {
                self.transition(id, state, ExecState::Succeeded, "seawatch")?;
                return Ok(ExecState::Succeeded);
            }
            // roll back every target an action touched (started, in doubt, ok or failed),
            // last first; a rollback step already ok is skipped
            let cur = self.get(id).ok_or_else(|| ExecError::NotFound(id.into()))?;
            let touched: Vec<String> = e
                .targets
                .iter()
                .rev()
                .filter(|t| {
                    cur.steps
                        .iter()
                        .any(|s| s.target == **t && s.phase == Phase::Action)
                })
                .cloned()
                .collect();
            let ok = self
                .each_target(&touched, parallel, |t| {
                    self.phase_of(id, &e, t, Phase::Rollback, driver, false)
                })
                .await?;
            let to = if ok.contains(&false) {
                ExecState::Failed
            } else {
                ExecState::RolledBack
            };
            self.transition(id, state, to, "seawatch")?;
            return Ok(to);
        }
        Ok(state)
    }

    /// Runs `f` for each target, at most `parallel` at once, started in the targets'
    /// order; the results in that order. The first journal error is returned (the
    /// others' steps are journaled as far as they got).
    async fn each_target<'a, F, Fut>(
        &'a self,
        targets: &'a [String],
        parallel: usize,
        f: F,
    ) -> Result<Vec<bool>, ExecError>
    where
        F: Fn(&'a str) -> Fut,
        Fut: std::future::Future<Output = Result<bool, ExecError>> + Send + 'a,
    {
        use futures::StreamExt;
        // built first (nothing runs until polled), so the stream maps no closure: a
        // closure over borrowed targets makes the executor's future not provably Send
        let futs: Vec<BoxFuture<'a, (usize, Result<bool, ExecError>)>> = targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let fut = f(t.as_str());
                Box::pin(async move { (i, fut.await) }) as BoxFuture<'a, _>
            })
            .collect();
        let results: Vec<(usize, Result<bool, ExecError>)> = futures::stream::iter(futs)
            .buffer_unordered(parallel.max(1))
            .collect()
            .await;
        let mut out = vec![false; targets.len()];
        for (i, r) in results {
            out[i] = r?;
        }
        Ok(out)
    }

    /// One target's read-only or idempotent phase, its steps in order: prechecks and
    /// rollback steps already `ok` are skipped, verify steps always run (`rerun_ok`);
    /// prechecks and verify stop at the first failure, a rollback tries every step. True
    /// when every step passed.
    async fn phase_of(
        &self,
        id: &str,
        e: &Exec,
        target: &str,
        phase: Phase,
        driver: &dyn Driver,
        rerun_ok: bool,
    ) -> Result<bool, ExecError> {
        let mut all = true;
        for s in e
            .plan
            .iter()
            .filter(|s| s.phase == phase && s.target == target)
        {
            if !rerun_ok
                && self.get(id).and_then(|x| x.step(target, phase, s.index)) == Some(StepStatus::Ok)
            {
                continue;
            }
            let ok = self.step(id, e.driver, s, driver).await?;
            all &= ok;
            if !ok && phase != Phase::Rollback {
                return Ok(false);
            }
        }
        Ok(all)
    }

    /// One target's actions. An action already ok is skipped; one that failed, or any
    /// failure elsewhere (`stop`), ends the target; one that may have run before a
    /// restart is never retried: it is recorded in doubt and, once its timeout has
    /// passed, the verify steps decide. True when every action ran ok.
    async fn actions_of(
        &self,
        id: &str,
        e: &Exec,
        t: &str,
        driver: &dyn Driver,
        stop: &std::sync::atomic::AtomicBool,
    ) -> Result<bool, ExecError> {
        use std::sync::atomic::Ordering;
        for s in e
            .plan
            .iter()
            .filter(|s| s.phase == Phase::Action && s.target == t)
        {
            let cur = self.get(id).and_then(|x| x.step(t, Phase::Action, s.index));
            match cur {
                Some(StepStatus::Ok) => continue,
                Some(StepStatus::Failed) => {
                    stop.store(true, Ordering::SeqCst);
                    return Ok(false);
                }
                Some(StepStatus::Started) | Some(StepStatus::InDoubt) => {
                    // may have run: never retried; verification decides — but only once
                    // the step's timeout has passed since it started, so that a command
                    // still in flight from before the restart (an orphaned client, a slow
                    // device) has landed or failed
                    let started = self.get(id).and_then(|x| {
                        x.steps
                            .iter()
                            .rev()
                            .find(|r| {
                                r.target == t
                                    && r.phase == Phase::Action
                                    && r.index == s.index
                                    && r.status == StepStatus::Started
                            })
                            .and_then(|r| r.at_ms)
                    });
                    let settle_ms = started.map_or(s.timeout_s as i64 * 1000, |at| {
                        at + s.timeout_s as i64 * 1000 - self.remediation.now_ms()
                    });
                    self.record(
                        id,
                        s,
                        StepStatus::InDoubt,
                        &format!(
                            "may have run before a restart: verifying instead of retrying, after its timeout ({} s left)",
                            (settle_ms.max(0) as u64).div_ceil(1000)
                        ),
                    )?;
                    if settle_ms > 0 {
                        tokio::time::sleep(Duration::from_millis(
                            settle_ms.min(s.timeout_s as i64 * 1000) as u64,
                        ))
                        .await;
                    }
                    return Ok(false);
                }
                None => {}
            }
            if stop.load(Ordering::SeqCst) {
                return Ok(false);
            }
            if !self.step(id, e.driver, s, driver).await? {
                stop.store(true, Ordering::SeqCst);
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn record(
        &self,
        id: &str,
        s: &PlannedStep,
        status: StepStatus,
        output: &str,
    ) -> Result<(), ExecError> {
        self.journal(
            "execution.step",
            "seawatch",
            serde_json::json!({
                "id": id, "target": s.target, "phase": s.phase, "index": s.index,
                "status": status, "output": output, "at_ms": self.remediation.now_ms(),
            }),
        )
    }

    /// One step: `started` recorded, the driver called, the result recorded. True when
    /// the output matched.
    async fn step(
        &self,
        id: &str,
        kind: super::spec::Driver,
        s: &PlannedStep,
        driver: &dyn Driver,
    ) -> Result<bool, ExecError> {
        self.record(id, s, StepStatus::Started, "")?;
        let target = self.target(&s.target);
        let out = driver
            .run_as(kind, &target, &s.command, Duration::from_secs(s.timeout_s))
            .await;
        let (status, output) = match out {
            Ok(o) => {
                let ok = s.expect.is_empty()
                    || Regex::new(&s.expect)
                        .map(|re| re.is_match(&o))
                        .unwrap_or(false);
                (
                    if ok {
                        StepStatus::Ok
                    } else {
                        StepStatus::Failed
                    },
                    o,
                )
            }
            Err(e) => (StepStatus::Failed, e),
        };
        self.record(id, s, status, &output)?;
        Ok(status == StepStatus::Ok)
    }
}

/// How long reading a target's configuration for the dry run may take.
pub const PREVIEW_TIMEOUT: Duration = Duration::from_secs(15);

/// How long an execution may wait for its approvals; then it expires (a denial).
pub const APPROVAL_TIMEOUT_MS: i64 = 4 * 3_600_000;

/// The executor: a supervised task under the ship's `runbooks` supervisor. On start
/// (first start, or a restart after a crash) it resumes every approved, unfinished
/// execution from the journal; then it runs each newly approved one, and expires those
/// left unapproved for [`APPROVAL_TIMEOUT_MS`]. Executions run one at a time; within one,
/// up to its policy's `max_parallel` targets run at once ([`Executions::run`]).
pub fn executor_child(
    executions: Executions,
    driver: Arc<dyn Driver>,
) -> seawatch_runtime::supervision::ChildSpec {
    seawatch_runtime::supervision::ChildSpec::task("executor", "runbook", move |mut stop| {
        let (ex, driver) = (executions.clone(), driver.clone());
        async move {
            loop {
                ex.expire(ex.remediation.now_ms(), APPROVAL_TIMEOUT_MS);
                // the dry run's device state first: it is what an approver reads
                for id in ex.previewable() {
                    tokio::select! {
                        r = ex.preview(&id, driver.as_ref()) => if let Err(e) = r {
                            return Err(format!("execution {id}: preview: {e}"));
                        },
                        _ = stop.stopped() => return Ok(()),
                    }
                }
                for id in ex.runnable() {
                    tokio::select! {
                        r = ex.run(&id, driver.as_ref()) => match r {
                            Ok(state) => tracing::info!(%id, ?state, "runbook execution ended"),
                            // the journal is unwritable: stop here, the supervisor restarts
                            // us and we resume from what is durable
                            Err(e) => return Err(format!("execution {id}: {e}")),
                        },
                        _ = stop.stopped() => return Ok(()),
                    }
                }
                tokio::select! {
                    _ = ex.wait_work() => {}
                    _ = tokio::time::sleep(Duration::from_secs(30)) => {}
                    _ = stop.stopped() => return Ok(()),
                }
            }
        }
    })
}

/// Every step of `rb` for each target, in run order (the dry run).
pub fn plan(
    rb: &Runbook,
    targets: &[String],
    params: &BTreeMap<String, String>,
) -> Vec<PlannedStep> {
    let mut out = Vec::new();
    for t in targets {
        let mut idx: BTreeMap<Phase, usize> = BTreeMap::new();
        for (
            phase,
            Step {
                name,
                command,
                expect,
                timeout_s,
            },
        ) in rb.render(t, params)
        {
            let i = idx.entry(phase).or_default();
            out.push(PlannedStep {
                target: t.clone(),
                phase,
                index: *i,
                name,
                command,
                expect,
                timeout_s,
            });
            *i += 1;
        }
    }
    out
}

/// Applies one journal record to the executions.
pub(crate) fn apply(map: &mut BTreeMap<u64, Exec>, rec: &AuditRecord) {
    let d = &rec.detail;
    let Some(id) = d.get("id").and_then(|v| v.as_str()) else {
        return;
    };
    let n = id_number(id);
    match rec.kind.as_str() {
        "execution.proposed" => {
            let parse = || -> Option<Exec> {
                Some(Exec {
                    id: id.to_string(),
                    runbook: d.get("runbook")?.as_str()?.to_string(),
                    driver: d
                        .get("driver")
                        .and_then(|v| serde_json::from_value(v.clone()).ok())
                        .unwrap_or(super::spec::Driver::Ssh),
                    targets: serde_json::from_value(d.get("targets")?.clone()).ok()?,
                    params: serde_json::from_value(d.get("params")?.clone()).ok()?,
                    state: ExecState::Proposed,
                    requester: d.get("requester")?.as_str()?.to_string(),
                    incident: d
                        .get("incident")
                        .and_then(|v| v.as_str())
                        .map(str::to_string),
                    proposed_at_ms: d
                        .get("proposed_at_ms")
                        .and_then(|v| v.as_i64())
                        .unwrap_or(0),
                    plan: serde_json::from_value(d.get("plan")?.clone()).ok()?,
                    policy: serde_json::from_value(d.get("policy")?.clone()).ok()?,
                    approvals: Vec::new(),
                    steps: Vec::new(),
                    config_command: d
                        .get("config_command")
                        .and_then(|v| v.as_str())
                        .map(str::to_string),
                    preview: Vec::new(),
                    shore_command: d.get("shore_command").and_then(|v| v.as_u64()),
                })
            };
            match parse() {
                Some(e) => {
                    map.insert(n, e);
                }
                None => tracing::error!(seq = rec.seq, "unreadable execution.proposed record"),
            }
        }
        "execution.transition" => {
            if let (Some(e), Some(to)) = (
                map.get_mut(&n),
                d.get("to")
                    .and_then(|v| serde_json::from_value(v.clone()).ok()),
            ) {
                e.state = to;
            }
        }
        "execution.approval" => {
            if let Some(e) = map.get_mut(&n) {
                e.approvals.push(Approval {
                    by: d
                        .get("by")
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                        .to_string(),
                    approve: d.get("approve").and_then(|v| v.as_bool()).unwrap_or(false),
                    at: rec.at.clone(),
                });
            }
        }
        "execution.preview" => {
            if let (Some(e), Ok(p)) = (
                map.get_mut(&n),
                serde_json::from_value::<Preview>(d.clone()),
            ) {
                e.preview.retain(|q| q.target != p.target);
                e.preview.push(p);
            }
        }
        "execution.step" => {
            if let (Some(e), Ok(s)) = (
                map.get_mut(&n),
                serde_json::from_value::<StepRecord>(d.clone()),
            ) {
                e.steps.push(s);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
pub(crate) mod tests;
