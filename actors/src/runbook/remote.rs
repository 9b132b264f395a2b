//! The ships' executions as shore knows them: folded from the audit records each ship's
//! sync delivers (`Control` events from source `runbook`, see [`super::to_log`]) with the
//! same journal logic the ship recovers its own executions with, so shore's view of an
//! execution is the ship's, as of the last record that arrived.
//!
//! A record is applied once: records of a ship arrive in order on the urgent lane, and
//! one whose audit `seq` is not above the last applied (the follower's at-least-once
//! resend after a ship crash) is skipped. A shore node keeps the view in memory and, on
//! a NATS shore, in the replicated key-value bucket `sw_executions` (one key an
//! execution, `<ship>.<id>`, with the last applied `seq`), reloaded whenever a node
//! starts serving the ship: a restarted node or one that took the ship over lists what
//! the fleet received, not only what arrived since.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::RwLock;
use seawatch_runtime::event_log::{Event, EventKind};
use serde::{Deserialize, Serialize};

use super::audit::AuditRecord;
use super::exec::Exec;

/// One execution as stored at shore: the execution and the last audit seq applied to
/// its ship's view when it was written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredExec {
    /// The ship's last applied audit seq when written.
    pub seq: u64,
    /// The execution.
    pub exec: Exec,
}

#[derive(Default)]
struct ShipView {
    last_seq: u64,
    execs: BTreeMap<u64, Exec>,
}

/// Every ship's executions at a shore node. Cheap to clone.
#[derive(Clone, Default)]
pub struct ShoreExecutions {
    inner: Arc<RwLock<HashMap<String, ShipView>>>,
}

impl std::fmt::Debug for ShoreExecutions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShoreExecutions")
            .field("ships", &self.inner.read().len())
            .finish()
    }
}

impl ShoreExecutions {
    /// Applies the audit records among `events` (stored for `ship`, in order); returns
    /// the executions they changed, as they are now (to be stored).
    pub fn observe(&self, ship: &str, events: &[Event]) -> Vec<StoredExec> {
        let recs: Vec<AuditRecord> = events
            .iter()
            .filter(|e| e.kind == EventKind::Control && e.source == super::to_log::SOURCE)
            .filter_map(|e| serde_json::from_str::<AuditRecord>(&e.body).ok())
            .filter(|r| r.kind.starts_with("execution."))
            .collect();
        if recs.is_empty() {
            return Vec::new();
        }
        let mut all = self.inner.write();
        let view = all.entry(ship.to_owned()).or_default();
        let mut changed: Vec<String> = Vec::new();
        for r in &recs {
            if r.seq <= view.last_seq {
                continue;
            }
            view.last_seq = r.seq;
            super::exec::apply(&mut view.execs, r);
            if let Some(id) = r.detail.get("id").and_then(|v| v.as_str()) {
                if !changed.iter().any(|c| c == id) {
                    changed.push(id.to_owned());
                }
            }
        }
        let seq = view.last_seq;
        view.execs
            .values()
            .filter(|e| changed.contains(&e.id))
            .map(|e| StoredExec {
                seq,
                exec: e.clone(),
            })
            .collect()
    }

    /// Replaces `ship`'s view with `stored` (read back from the store).
    pub fn load(&self, ship: &str, stored: Vec<StoredExec>) {
        let mut view = ShipView::default();
        for s in stored {
            view.last_seq = view.last_seq.max(s.seq);
            let n = s
                .exec
                .id
                .rsplit('-')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            view.execs.insert(n, s.exec);
        }
        self.inner.write().insert(ship.to_owned(), view);
    }

    /// The executions of `ship` (every ship's when `None`), each with its ship, oldest
    /// first within a ship.
    pub fn list(&self, ship: Option<&str>) -> Vec<(String, Exec)> {
        let all = self.inner.read();
        let mut ships: Vec<&String> = all
            .keys()
            .filter(|s| ship.is_none_or(|w| w == s.as_str()))
            .collect();
        ships.sort();
        ships
            .into_iter()
            .flat_map(|s| all[s].execs.values().map(move |e| (s.clone(), e.clone())))
            .collect()
    }

    /// One execution by id.
    pub fn get(&self, id: &str) -> Option<(String, Exec)> {
        self.list(None).into_iter().find(|(_, e)| e.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::exec::{ExecState, Proposal};
    use crate::runbook::policy::ShipFacts;

    const T0: i64 = 1_741_921_200_000;

    fn as_events(recs: &[AuditRecord], first_seq: u64) -> Vec<Event> {
        recs.iter()
            .enumerate()
            .map(|(i, r)| Event {
                seq: first_seq + i as u64,
                ts_ms: T0,
                kind: EventKind::Control,
                source: super::super::to_log::SOURCE.into(),
                severity: 5,
                body: serde_json::to_string(r).unwrap(),
            })
            .collect()
    }

    #[test]
    fn shore_folds_a_ships_audit_records_into_its_executions_once() {
        let dir = tempfile::tempdir().unwrap();
        let (r, ex) = crate::runbook::exec::tests::open_with(
            dir.path(),
            vec![crate::runbook::exec::tests::access("ap-17", "ap", "it")],
        );
        let e = ex
            .propose_from_shore(
                Proposal {
                    runbook: "silence-device-mail".into(),
                    targets: vec!["ap-17".into()],
                    params: serde_json::Map::new(),
                    requester: "carol".into(),
                    role: "operator".into(),
                    incident: None,
                },
                77,
                ShipFacts::default(),
                T0,
            )
            .unwrap();
        ex.decide(&e.id, "bob", true).unwrap();
        let recs = r.audit_since(0, 100).unwrap();
        let shore = ShoreExecutions::default();
        // half, then all of it again (the follower's resend): applied once
        let changed = shore.observe("aurora", &as_events(&recs[..3], 1));
        assert_eq!(changed.len(), 1);
        shore.observe("aurora", &as_events(&recs, 10));
        let (ship, seen) = shore.get(&e.id).unwrap();
        assert_eq!(ship, "aurora");
        assert_eq!(seen, ex.get(&e.id).unwrap(), "shore's view is the ship's");
        assert_eq!(seen.state, ExecState::Prechecks);
        assert_eq!(seen.requester, "carol");
        assert_eq!(seen.shore_command, Some(77));
        assert_eq!(seen.approvals.len(), 1);
        // other events and other ships are left alone; a reload restores the view
        assert!(shore.list(Some("borealis")).is_empty());
        let stored: Vec<StoredExec> = shore
            .list(Some("aurora"))
            .into_iter()
            .map(|(_, exec)| StoredExec {
                seq: recs.last().unwrap().seq,
                exec,
            })
            .collect();
        let again = ShoreExecutions::default();
        again.load("aurora", stored);
        assert_eq!(again.get(&e.id).unwrap().1, seen);
        assert!(again.observe("aurora", &as_events(&recs, 40)).is_empty());
        // the same shore command again: the ship answers with the execution it has
        let twice = ex
            .propose_from_shore(
                Proposal {
                    runbook: "silence-device-mail".into(),
                    targets: vec!["ap-17".into()],
                    params: serde_json::Map::new(),
                    requester: "carol".into(),
                    role: "operator".into(),
                    incident: None,
                },
                77,
                ShipFacts::default(),
                T0,
            )
            .unwrap();
        assert_eq!(twice.id, e.id);
        assert_eq!(ex.list().len(), 1);
    }
}
