//! Automatic remediation: a supervised task that proposes, for each open incident, the
//! runbooks it suggests that are marked `auto` and need no parameter from a human, as
//! requester `seawatch` with role `system`. The policy decides, as for a human's
//! proposal: it may allow the run without approvals (then the executor runs it), ask for
//! approvals (then it waits like any other), or deny it (then it is recorded `rejected`
//! with the reasons). Either way the execution names the incident, so the incident's
//! suggestions (`GET /api/incidents/{id}/runbooks`) show what was done for it and why.
//!
//! A runbook is proposed at most once per incident: the journal is the memory (an
//! execution of that runbook naming the incident, in any state, is enough), so a restart
//! of this task, or of the node, never proposes twice.
//!
//! **Ahead of a predicted outage** (issue 23): a link whose `LinkRisk` alert fires with a
//! predicted start still ahead gets, by the same proposal, every runbook whose
//! `applies_to` names the `outage_risk` class and the link's kind (the pre-emptive
//! failover, `wan-failover-to-leo`), whether or not it is marked `auto`: the policy
//! decides whether it runs without approvals, waits for them, or is rejected with its
//! reasons (the shipped policy rejects automatic medium-risk runs, so there it is a
//! recorded proposal an operator can act on). The execution names the prediction
//! (`outage-risk:<link>:<alert ms>`) where an incident's id would go, so each predicted
//! outage is proposed for once, restarts included.

use std::sync::Arc;
use std::time::Duration;

use seawatch_runtime::supervision::ChildSpec;

use super::exec::{ExecError, Executions, Proposal};
use super::policy::ShipFacts;
use crate::incident::model::Incident;
use crate::push::{PushBus, PushKind};

/// The user automatic proposals are made as.
pub const AUTO_REQUESTER: &str = "seawatch";
/// The role the policy sees for them (`input.role == "system"`).
pub const AUTO_ROLE: &str = "system";

/// An outage a link actor predicts (its `LinkRisk` alert firing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredictedOutage {
    /// The link.
    pub link: String,
    /// Since when the alert fires, unix ms: names the predicted outage.
    pub since_ms: i64,
    /// Predicted start, unix ms.
    pub start_ms: i64,
    /// Predicted end, unix ms, when the cause gives one.
    pub end_ms: Option<i64>,
    /// `blockage`, `sun_outage`, `rain`, `trend` or `margin`.
    pub cause: String,
}

impl PredictedOutage {
    /// The id its proposals name in place of an incident's.
    pub fn key(&self) -> String {
        format!("outage-risk:{}:{}", self.link, self.since_ms)
    }
}

/// What the automatic proposer reads.
#[derive(Clone)]
pub struct AutoSources {
    /// The ship's open incidents.
    pub open_incidents: Arc<dyn Fn() -> Vec<Incident> + Send + Sync>,
    /// The ship's state for the policy.
    pub ship: Arc<dyn Fn() -> ShipFacts + Send + Sync>,
    /// Unix ms now.
    pub now_ms: Arc<dyn Fn() -> i64 + Send + Sync>,
    /// The outages the ship's link actors predict now.
    pub predicted_outages: Arc<dyn Fn() -> Vec<PredictedOutage> + Send + Sync>,
}

/// One pass: proposes every automatic suggestion of every open incident not proposed yet
/// for it, and the `outage_risk` runbooks of every predicted outage still ahead not
/// proposed yet for it. Returns the executions proposed (allowed or not).
pub fn propose_automatic(ex: &Executions, src: &AutoSources) -> Result<usize, ExecError> {
    let mut n = 0;
    let now = (src.now_ms)();
    let mut work: Vec<(Incident, bool)> = (src.open_incidents)()
        .into_iter()
        .map(|i| (i, false))
        .collect();
    for p in (src.predicted_outages)() {
        if p.start_ms > now {
            work.push((prediction_incident(ex.ship(), &p), true));
        }
    }
    for (inc, predicted) in work {
        for s in ex.suggest(&inc) {
            if (!s.auto && !predicted) || !s.missing.is_empty() || !s.executions.is_empty() {
                continue;
            }
            // a prediction's runbooks are those that name the class, not every runbook of
            // the link's kind
            if predicted && !ex.applies_to_class(&s.runbook, "outage_risk") {
                continue;
            }
            let p = Proposal {
                runbook: s.runbook.clone(),
                targets: s.targets.clone(),
                params: serde_json::Map::new(),
                requester: AUTO_REQUESTER.into(),
                role: AUTO_ROLE.into(),
                incident: Some(inc.id.clone()),
            };
            match ex.propose(p, (src.ship)(), (src.now_ms)()) {
                Ok(e) => {
                    tracing::info!(id = %e.id, runbook = %s.runbook, incident = %inc.id, state = ?e.state, "automatic remediation proposed");
                    n += 1;
                }
                Err(ExecError::Denied(e)) => {
                    tracing::info!(id = %e.id, runbook = %s.runbook, incident = %inc.id, reasons = ?e.policy.reasons, "automatic remediation denied by policy");
                    n += 1;
                }
                // the journal cannot be written: the supervisor restarts us
                Err(e @ ExecError::Audit(_)) => return Err(e),
                Err(e) => {
                    tracing::warn!(runbook = %s.runbook, incident = %inc.id, error = %e, "automatic remediation not proposed");
                }
            }
        }
    }
    Ok(n)
}

/// A predicted outage as the incident-shaped subject of suggestions: rooted at its link,
/// of class `outage_risk`, with the prediction's key as its id.
fn prediction_incident(ship: &str, p: &PredictedOutage) -> Incident {
    use crate::incident::model::{IncidentSeverity, IncidentState};
    Incident {
        id: p.key(),
        ship: ship.to_string(),
        root_cause: p.link.clone(),
        severity: IncidentSeverity::Minor,
        state: IncidentState::Open,
        alerts: 1,
        opened_at_ms: p.since_ms,
        resolved_at_ms: None,
        active_since_ms: vec![p.since_ms],
        members: vec![p.link.clone()],
        summary: format!("{} predicted on {} at {} ms", p.cause, p.link, p.start_ms),
        merged_into: None,
        candidates: Vec::new(),
        evidence: Vec::new(),
        classes: vec![seawatch_model::AlertClass::OutageRisk],
    }
}

/// The automatic proposer as a supervised task: a pass at start, on every incident push
/// of the ship, on every push of a link whose outage prediction fires, and every `every`.
pub fn auto_child(ex: Executions, src: AutoSources, push: PushBus, every: Duration) -> ChildSpec {
    ChildSpec::task("auto-remediation", "runbook", move |mut stop| {
        let (ex, src) = (ex.clone(), src.clone());
        let mut rx = push.subscribe();
        async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                propose_automatic(&ex, &src).map_err(|e| e.to_string())?;
                // wait for the next tick or an incident push of this ship; other pushes
                // (links, runbooks) are skipped without a pass
                loop {
                    tokio::select! {
                        _ = tick.tick() => break,
                        r = rx.recv() => match r {
                            Ok(p) if p.kind == PushKind::Incident
                                && p.ship.as_deref() == Some(ex.ship()) => break,
                            // a link's outage prediction starting to fire
                            Ok(p) if p.kind == PushKind::Link
                                && p.ship.as_deref() == Some(ex.ship())
                                && p.body.get("risk_alert").and_then(|v| v.as_bool()) == Some(true) => break,
                            Ok(_) => {}
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                                return Err("push bus closed".into())
                            }
                        },
                        _ = stop.stopped() => return Ok(()),
                    }
                }
            }
        }
    })
}
