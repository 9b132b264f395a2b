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

/// What the automatic proposer reads.
#[derive(Clone)]
pub struct AutoSources {
    /// The ship's open incidents.
    pub open_incidents: Arc<dyn Fn() -> Vec<Incident> + Send + Sync>,
    /// The ship's state for the policy.
    pub ship: Arc<dyn Fn() -> ShipFacts + Send + Sync>,
    /// Unix ms now.
    pub now_ms: Arc<dyn Fn() -> i64 + Send + Sync>,
}

/// One pass: proposes every automatic suggestion of every open incident not proposed yet
/// for it. Returns the executions proposed (allowed or not).
pub fn propose_automatic(ex: &Executions, src: &AutoSources) -> Result<usize, ExecError> {
    let mut n = 0;
    for inc in (src.open_incidents)() {
        for s in ex.suggest(&inc) {
            if !s.auto || !s.missing.is_empty() || !s.executions.is_empty() {
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

/// The automatic proposer as a supervised task: a pass at start, on every incident push
/// of the ship and every `every`.
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
