//! Runbook executions and their approvals.
//!
//! A runbook execution (a named procedure run against one device or link of a ship) that
//! needs a human's go-ahead is registered on the [`ApprovalBoard`] in state
//! `pending_approval`; an operator approves it (`POST /api/runbooks/executions/{id}/approve`,
//! served by the console) and the executor, which watches the board, runs it and reports
//! its progress through [`ApprovalBoard::set_state`]. Every change is pushed to the
//! console's WebSocket sessions as `{"type":"runbook", ...}` (contracts §2).
//!
//! Runbook definitions are in [`spec`], the policy in [`policy`], the audit log in
//! [`audit`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use seawatch_runtime::{Clock, Metrics};
use serde::{Deserialize, Serialize};

pub mod audit;
pub mod auto;
pub mod builtin;
pub mod exec;
pub mod http;
pub mod policy;
pub mod service;
pub mod spec;
pub mod ssh;
pub mod to_log;

use crate::incident::api::rfc3339;
use crate::push::{Push, PushBus, PushKind};

/// Most executions a board keeps; past it the oldest finished ones are forgotten.
pub const MAX_EXECUTIONS: usize = 10_000;

/// Where an execution is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionState {
    /// Waiting for an operator.
    PendingApproval,
    /// Approved, not started yet.
    Approved,
    /// Refused by an operator.
    Rejected,
    /// Running.
    Running,
    /// Ran to the end.
    Succeeded,
    /// Ran and failed.
    Failed,
    /// Withdrawn before it ran (its incident resolved, or it expired).
    Cancelled,
}

impl ExecutionState {
    /// The state's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionState::PendingApproval => "pending_approval",
            ExecutionState::Approved => "approved",
            ExecutionState::Rejected => "rejected",
            ExecutionState::Running => "running",
            ExecutionState::Succeeded => "succeeded",
            ExecutionState::Failed => "failed",
            ExecutionState::Cancelled => "cancelled",
        }
    }

    /// Parses a state name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            ExecutionState::PendingApproval,
            ExecutionState::Approved,
            ExecutionState::Rejected,
            ExecutionState::Running,
            ExecutionState::Succeeded,
            ExecutionState::Failed,
            ExecutionState::Cancelled,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// No further change is expected.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ExecutionState::Rejected
                | ExecutionState::Succeeded
                | ExecutionState::Failed
                | ExecutionState::Cancelled
        )
    }
}

/// What is asked to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionRequest {
    /// The ship.
    pub ship: String,
    /// The runbook's name.
    pub runbook: String,
    /// The device or link it acts on.
    pub target: String,
    /// The incident that proposed it, if any.
    pub incident: Option<String>,
}

/// One runbook execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    /// Unique on the node: `<ship>-rb-<n>`.
    pub id: String,
    /// The ship.
    pub ship: String,
    /// The runbook's name.
    pub runbook: String,
    /// The device or link it acts on.
    pub target: String,
    /// The incident that proposed it, if any.
    pub incident: Option<String>,
    /// Where it is.
    pub state: ExecutionState,
    /// When it was registered, unix ms.
    pub requested_at_ms: i64,
    /// Who approved or rejected it.
    pub decided_by: Option<String>,
    /// When, unix ms.
    pub decided_at_ms: Option<i64>,
    /// When its state last changed, unix ms.
    pub updated_at_ms: i64,
}

/// An execution as the API and the WebSocket push show it (times RFC 3339 UTC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionView {
    /// Execution id.
    pub id: String,
    /// Ship id.
    pub ship: String,
    /// Runbook name.
    pub runbook: String,
    /// Device or link id.
    pub target: String,
    /// Incident id, if any.
    pub incident: Option<String>,
    /// `pending_approval`, `approved`, `rejected`, `running`, `succeeded`, `failed`,
    /// `cancelled`.
    pub state: String,
    /// RFC 3339 UTC.
    pub requested_at: String,
    /// User name, null until decided.
    pub decided_by: Option<String>,
    /// RFC 3339 UTC, null until decided.
    pub decided_at: Option<String>,
}

impl ExecutionView {
    /// The API form of an execution.
    pub fn from_execution(e: &Execution) -> Self {
        Self {
            id: e.id.clone(),
            ship: e.ship.clone(),
            runbook: e.runbook.clone(),
            target: e.target.clone(),
            incident: e.incident.clone(),
            state: e.state.as_str().to_string(),
            requested_at: rfc3339(e.requested_at_ms),
            decided_by: e.decided_by.clone(),
            decided_at: e.decided_at_ms.map(rfc3339),
        }
    }

    /// The `{"type":"runbook", ...}` push of this execution.
    pub fn to_push(&self) -> Push {
        Push {
            kind: PushKind::Runbook,
            ship: Some(self.ship.clone()),
            body: serde_json::to_value(self).unwrap_or_default(),
        }
    }
}

/// Why a decision or a state change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionError {
    /// No execution has this id.
    #[error("no runbook execution {0}")]
    NotFound(String),
    /// The execution is not in the state the change needs.
    #[error("runbook execution {id} is {state}, not {want}")]
    WrongState {
        /// The execution.
        id: String,
        /// Its state.
        state: &'static str,
        /// The state the change needs.
        want: &'static str,
    },
}

/// `{result}` label of `seawatch_runbook_decisions_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabel {
    /// `approved`, `rejected`, `not_found`, `not_pending`.
    pub result: &'static str,
}

/// Runbook metrics.
#[derive(Debug, Clone, Default)]
pub struct RunbookMetrics {
    /// `seawatch_runbook_decisions_total{result}`: approvals and rejections asked for,
    /// by outcome.
    pub decisions: Family<DecisionLabel, Counter>,
    /// `seawatch_runbook_executions_total`: executions registered.
    pub registered: Counter,
}

impl RunbookMetrics {
    /// Registers the metrics into `metrics`.
    pub fn register(metrics: &Metrics) -> Self {
        let m = Self::default();
        metrics.register(
            "seawatch_runbook_decisions",
            "Runbook approval decisions asked for, by result",
            m.decisions.clone(),
        );
        metrics.register(
            "seawatch_runbook_executions",
            "Runbook executions registered",
            m.registered.clone(),
        );
        m
    }

    fn decision(&self, result: &'static str) {
        self.decisions
            .get_or_create(&DecisionLabel { result })
            .inc();
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// By registration order (the number in the id).
    executions: BTreeMap<u64, Execution>,
    by_id: std::collections::HashMap<String, u64>,
}

/// The runbook executions of the ships a node hosts and their approvals. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ApprovalBoard {
    inner: Arc<RwLock<Inner>>,
    next: Arc<AtomicU64>,
    push: PushBus,
    clock: Clock,
    metrics: RunbookMetrics,
}

impl ApprovalBoard {
    /// An empty board publishing changes on `push`, with times from `clock`.
    pub fn new(push: PushBus, clock: Clock, metrics: RunbookMetrics) -> Self {
        Self {
            inner: Arc::default(),
            next: Arc::new(AtomicU64::new(1)),
            push,
            clock,
            metrics,
        }
    }

    /// Registers an execution waiting for approval; publishes it and returns it.
    pub fn request(&self, req: ExecutionRequest) -> Execution {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let now = self.clock.now_ms();
        let exec = Execution {
            id: format!("{}-rb-{n}", req.ship),
            ship: req.ship,
            runbook: req.runbook,
            target: req.target,
            incident: req.incident,
            state: ExecutionState::PendingApproval,
            requested_at_ms: now,
            decided_by: None,
            decided_at_ms: None,
            updated_at_ms: now,
        };
        {
            let mut inner = self.inner.write();
            inner.by_id.insert(exec.id.clone(), n);
            inner.executions.insert(n, exec.clone());
            if inner.executions.len() > MAX_EXECUTIONS {
                let old: Vec<(u64, String)> = inner
                    .executions
                    .iter()
                    .filter(|(_, e)| e.state.is_final())
                    .take(inner.executions.len() - MAX_EXECUTIONS)
                    .map(|(k, e)| (*k, e.id.clone()))
                    .collect();
                for (k, id) in old {
                    inner.executions.remove(&k);
                    inner.by_id.remove(&id);
                }
            }
        }
        self.metrics.registered.inc();
        self.publish(&exec);
        exec
    }

    /// One execution.
    pub fn get(&self, id: &str) -> Option<Execution> {
        let inner = self.inner.read();
        inner
            .by_id
            .get(id)
            .and_then(|n| inner.executions.get(n))
            .cloned()
    }

    /// Executions, oldest first, optionally of one ship and in one state.
    pub fn list(&self, ship: Option<&str>, state: Option<ExecutionState>) -> Vec<Execution> {
        self.inner
            .read()
            .executions
            .values()
            .filter(|e| ship.is_none_or(|s| e.ship == s))
            .filter(|e| state.is_none_or(|st| e.state == st))
            .cloned()
            .collect()
    }

    /// Approves a pending execution on behalf of `by`; publishes the change.
    pub fn approve(&self, id: &str, by: &str) -> Result<Execution, DecisionError> {
        self.decide(id, by, ExecutionState::Approved)
    }

    /// Rejects a pending execution on behalf of `by`; publishes the change.
    pub fn reject(&self, id: &str, by: &str) -> Result<Execution, DecisionError> {
        self.decide(id, by, ExecutionState::Rejected)
    }

    fn decide(&self, id: &str, by: &str, to: ExecutionState) -> Result<Execution, DecisionError> {
        let result = self.change(id, |e, now| {
            if e.state != ExecutionState::PendingApproval {
                return Err(ExecutionState::PendingApproval);
            }
            e.state = to;
            e.decided_by = Some(by.to_string());
            e.decided_at_ms = Some(now);
            Ok(())
        });
        self.metrics.decision(match &result {
            Ok(_) => to.as_str(),
            Err(DecisionError::NotFound(_)) => "not_found",
            Err(DecisionError::WrongState { .. }) => "not_pending",
        });
        if let Ok(e) = &result {
            tracing::info!(id = %e.id, ship = %e.ship, runbook = %e.runbook, by, state = to.as_str(), "runbook execution decided");
        }
        result
    }

    /// The executor's report of progress: `approved` → `running` → `succeeded` or
    /// `failed`; `pending_approval` or `approved` → `cancelled`. Other moves are refused.
    pub fn set_state(&self, id: &str, to: ExecutionState) -> Result<Execution, DecisionError> {
        self.change(id, |e, _| {
            let from = e.state;
            let ok = matches!(
                (from, to),
                (ExecutionState::Approved, ExecutionState::Running)
                    | (
                        ExecutionState::Running,
                        ExecutionState::Succeeded | ExecutionState::Failed
                    )
                    | (
                        ExecutionState::PendingApproval | ExecutionState::Approved,
                        ExecutionState::Cancelled
                    )
            );
            if !ok {
                return Err(match to {
                    ExecutionState::Running => ExecutionState::Approved,
                    ExecutionState::Succeeded | ExecutionState::Failed => ExecutionState::Running,
                    _ => ExecutionState::PendingApproval,
                });
            }
            e.state = to;
            Ok(())
        })
    }

    /// Applies `f` (which returns the state it needed on refusal) and publishes.
    fn change(
        &self,
        id: &str,
        f: impl FnOnce(&mut Execution, i64) -> Result<(), ExecutionState>,
    ) -> Result<Execution, DecisionError> {
        let now = self.clock.now_ms();
        let exec = {
            let mut inner = self.inner.write();
            let Some(n) = inner.by_id.get(id).copied() else {
                return Err(DecisionError::NotFound(id.to_string()));
            };
            let Some(e) = inner.executions.get_mut(&n) else {
                return Err(DecisionError::NotFound(id.to_string()));
            };
            if let Err(want) = f(e, now) {
                return Err(DecisionError::WrongState {
                    id: id.to_string(),
                    state: e.state.as_str(),
                    want: want.as_str(),
                });
            }
            e.updated_at_ms = now;
            e.clone()
        };
        self.publish(&exec);
        Ok(exec)
    }

    fn publish(&self, e: &Execution) {
        self.push
            .publish(ExecutionView::from_execution(e).to_push());
    }

    /// The executions of `ship` (or all) as pushes, for WebSocket snapshots.
    pub fn snapshot(&self, ship: Option<&str>) -> Vec<Push> {
        self.list(ship, None)
            .iter()
            .map(|e| ExecutionView::from_execution(e).to_push())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board() -> (ApprovalBoard, PushBus, Clock) {
        let bus = PushBus::new(64);
        let clock = Clock::manual(1_741_932_000_000);
        (
            ApprovalBoard::new(bus.clone(), clock.clone(), RunbookMetrics::default()),
            bus,
            clock,
        )
    }

    fn req(ship: &str) -> ExecutionRequest {
        ExecutionRequest {
            ship: ship.into(),
            runbook: "restart-interface".into(),
            target: "core-sw-1".into(),
            incident: Some(format!("{ship}-1")),
        }
    }

    #[tokio::test]
    async fn approve_once_records_who_and_when_and_pushes() {
        let (board, bus, clock) = board();
        let mut rx = bus.subscribe();
        let e = board.request(req("aurora"));
        assert_eq!(e.id, "aurora-rb-1");
        assert_eq!(e.state, ExecutionState::PendingApproval);
        let p = rx.recv().await.unwrap();
        assert_eq!(p.kind, PushKind::Runbook);
        assert_eq!(p.body["state"], "pending_approval");

        clock.advance_ms(90_000);
        let e = board.approve("aurora-rb-1", "alice").unwrap();
        assert_eq!(e.state, ExecutionState::Approved);
        assert_eq!(e.decided_by.as_deref(), Some("alice"));
        assert_eq!(e.decided_at_ms, Some(1_741_932_090_000));
        let v: serde_json::Value =
            serde_json::from_str(&rx.recv().await.unwrap().to_wire()).unwrap();
        assert_eq!(v["type"], "runbook");
        assert_eq!(v["state"], "approved");
        assert_eq!(v["decided_by"], "alice");
        assert_eq!(v["decided_at"], "2025-03-14T06:01:30.000Z");
        assert_eq!(v["requested_at"], "2025-03-14T06:00:00.000Z");

        assert_eq!(
            board.approve("aurora-rb-1", "bob"),
            Err(DecisionError::WrongState {
                id: "aurora-rb-1".into(),
                state: "approved",
                want: "pending_approval"
            })
        );
        assert_eq!(
            board.reject("nope", "bob"),
            Err(DecisionError::NotFound("nope".into()))
        );
        // refused decisions change nothing and push nothing
        assert!(rx.try_recv().is_err());
        assert_eq!(
            board.get("aurora-rb-1").unwrap().decided_by.as_deref(),
            Some("alice")
        );
    }

    #[test]
    fn executor_moves_are_checked_and_listing_filters() {
        let (board, _bus, _clock) = board();
        let a = board.request(req("aurora"));
        let b = board.request(req("borealis"));
        assert!(board.set_state(&a.id, ExecutionState::Running).is_err());
        board.approve(&a.id, "alice").unwrap();
        board.set_state(&a.id, ExecutionState::Running).unwrap();
        board.set_state(&a.id, ExecutionState::Succeeded).unwrap();
        assert!(board.set_state(&a.id, ExecutionState::Cancelled).is_err());
        board.set_state(&b.id, ExecutionState::Cancelled).unwrap();
        assert_eq!(board.list(Some("aurora"), None).len(), 1);
        assert_eq!(
            board.list(None, Some(ExecutionState::Cancelled))[0].id,
            b.id
        );
        assert_eq!(board.snapshot(None).len(), 2);
        for s in [
            "pending_approval",
            "approved",
            "rejected",
            "running",
            "succeeded",
            "failed",
            "cancelled",
        ] {
            assert_eq!(ExecutionState::parse(s).unwrap().as_str(), s);
        }
    }

    #[test]
    fn the_board_is_bounded_by_forgetting_finished_executions() {
        let (board, _bus, _clock) = board();
        let first = board.request(req("aurora"));
        board.reject(&first.id, "alice").unwrap();
        let pending = board.request(req("aurora"));
        for _ in 0..MAX_EXECUTIONS {
            let e = board.request(req("aurora"));
            board.reject(&e.id, "alice").unwrap();
        }
        assert!(board.list(None, None).len() <= MAX_EXECUTIONS + 1);
        assert!(board.get(&first.id).is_none());
        assert!(board.get(&pending.id).is_some(), "pending ones are kept");
    }
}
