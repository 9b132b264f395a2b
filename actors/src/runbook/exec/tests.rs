use std::collections::HashMap;
use std::path::Path;

use parking_lot::Mutex;
use seawatch_runtime::{Clock, Metrics};

use super::*;
use crate::incident::model::Incident;
use crate::runbook::audit::verify;
use crate::runbook::service::{RemediationMetrics, RemediationPaths};

/// 2025-03-14 03:00 UTC.
const T0: i64 = 1_741_921_200_000;

/// An access switch's CLI, with state: ports Gi1/0/1..8 (Gi1/0/7 connected), `interface
/// X` then `shutdown` / `no shutdown`, `show interfaces status`. Counts what it applied;
/// the driver over it can "crash" (hang forever) at its n-th call, before or after the
/// switch applied it.
#[derive(Default)]
struct FakeSwitch {
    ports: Mutex<HashMap<String, bool>>,
    /// A port whose cable is out: `no shutdown` leaves it notconnect.
    unplugged: Option<String>,
    applied: Mutex<Vec<String>>,
    calls: Mutex<usize>,
    crashed: tokio::sync::Notify,
}

impl FakeSwitch {
    fn new() -> Arc<Self> {
        Arc::new(Self::with(None))
    }

    fn with(unplugged: Option<&str>) -> Self {
        let s = Self {
            unplugged: unplugged.map(str::to_string),
            ..Self::default()
        };
        for i in 1..=8 {
            s.ports.lock().insert(format!("Gi1/0/{i}"), true);
        }
        s
    }

    fn apply(&self, command: &str) -> Result<String, String> {
        let mut iface: Option<String> = None;
        let mut out = String::new();
        for line in command.lines() {
            let line = line.trim();
            let mut ports = self.ports.lock();
            if line == "show interfaces status" {
                let mut names: Vec<_> = ports.iter().collect();
                names.sort();
                for (p, up) in names {
                    let st = if !up {
                        "disabled"
                    } else if self.unplugged.as_deref() == Some(p) {
                        "notconnect"
                    } else {
                        "connected"
                    };
                    out.push_str(&format!("{p:<10} {st}\n"));
                }
            } else if line == "show running-config" {
                let mut names: Vec<_> = ports.iter().collect();
                names.sort();
                out.push_str("hostname acc-sw-1\n");
                for (p, up) in names {
                    out.push_str(&format!("interface {p}\n"));
                    if !up {
                        out.push_str(" shutdown\n");
                    }
                    out.push_str("!\n");
                }
            } else if let Some(name) = line.strip_prefix("interface ") {
                if !ports.contains_key(name) {
                    return Err(format!("% Invalid interface {name}"));
                }
                iface = Some(name.to_string());
            } else if line == "shutdown" || line == "no shutdown" {
                let Some(i) = &iface else {
                    return Err("% not in interface mode".into());
                };
                ports.insert(i.clone(), line == "no shutdown");
                self.applied.lock().push(format!("{i} {line}"));
            } else {
                return Err(format!("% Unknown command {line}"));
            }
        }
        Ok(out)
    }

    fn count(&self, what: &str) -> usize {
        self.applied.lock().iter().filter(|a| *a == what).count()
    }
}

struct Shared(Arc<FakeSwitch>, Option<(usize, bool)>);

impl Driver for Shared {
    fn run<'a>(
        &'a self,
        _target: &'a TargetAccess,
        command: &'a str,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let n = {
                let mut c = self.0.calls.lock();
                *c += 1;
                *c - 1
            };
            if let Some((at, after)) = self.1 {
                if n == at {
                    if after {
                        let _ = self.0.apply(command);
                    }
                    self.0.crashed.notify_one();
                    futures::future::pending::<()>().await;
                }
            }
            self.0.apply(command)
        })
    }
}

pub(crate) fn access(id: &str, kind: &str, zone: &str) -> TargetAccess {
    TargetAccess {
        id: id.into(),
        kind: kind.into(),
        zone: zone.into(),
        address: None,
        user: None,
    }
}

/// The starter runbooks and the shipped policy over an audit log in `dir`, with `targets`.
pub(crate) fn open_with(dir: &Path, targets: Vec<TargetAccess>) -> (Remediation, Executions) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let paths = RemediationPaths {
        runbooks: repo.join("runbooks"),
        policies: repo.join("policies"),
        audit: dir.join("audit"),
    };
    let (r, _) = Remediation::open(
        paths,
        Clock::manual(T0),
        RemediationMetrics::register(&Metrics::new()),
    )
    .unwrap();
    let e = Executions::recover("aurora", r.clone(), targets).unwrap();
    (r, e)
}

fn open(dir: &Path) -> (Remediation, Executions) {
    open_with(
        dir,
        vec![
            access("acc-sw-1", "switch", "it"),
            access("bridge-sw-1", "switch", "bridge"),
        ],
    )
}

fn bounce(target: &str, port: &str, who: &str, role: &str) -> Proposal {
    let mut params = serde_json::Map::new();
    params.insert("interface".into(), port.into());
    Proposal {
        runbook: "bounce-access-port".into(),
        targets: vec![target.into()],
        params,
        requester: who.into(),
        role: role.into(),
        incident: Some("aurora-3".into()),
    }
}

fn ship() -> ShipFacts {
    ShipFacts::default()
}

#[tokio::test]
async fn an_approved_bounce_runs_its_plan_once_and_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let (r, ex) = open(dir.path());
    let e = ex
        .propose(
            bounce("acc-sw-1", "Gi1/0/7", "alice", "operator"),
            ship(),
            T0,
        )
        .unwrap();
    assert_eq!(e.state, ExecState::AwaitingApproval);
    assert_eq!(e.policy.approvals_required, 1);
    // the dry run: exact commands per target, in order
    let cmds: Vec<(Phase, &str)> = e
        .plan
        .iter()
        .map(|s| (s.phase, s.command.as_str()))
        .collect();
    assert_eq!(
        cmds,
        vec![
            (Phase::Precheck, "show interfaces status"),
            (Phase::Action, "interface Gi1/0/7\nshutdown"),
            (Phase::Action, "interface Gi1/0/7\nno shutdown"),
            (Phase::Verify, "show interfaces status"),
            (Phase::Rollback, "interface Gi1/0/7\nno shutdown"),
        ]
    );
    assert!(matches!(
        ex.decide(&e.id, "alice", true),
        Err(ExecError::OwnRequest(_))
    ));
    assert!(ex.runnable().is_empty());
    let e = ex.decide(&e.id, "bob", true).unwrap();
    assert_eq!(e.state, ExecState::Prechecks);
    assert!(matches!(
        ex.decide(&e.id, "carol", true),
        Err(ExecError::NotAwaiting { .. })
    ));
    let sw = FakeSwitch::new();
    let state = ex.run(&e.id, &Shared(sw.clone(), None)).await.unwrap();
    assert_eq!(state, ExecState::Succeeded);
    assert_eq!(sw.count("Gi1/0/7 shutdown"), 1);
    assert_eq!(sw.count("Gi1/0/7 no shutdown"), 1);
    let e = ex.get(&e.id).unwrap();
    assert_eq!(e.steps.len(), 8, "started + ok for 4 steps: {:?}", e.steps);
    assert!(e.steps[7].output.contains("Gi1/0/7    connected"));
    // everything is in the audit log, and the chain holds
    let rep = verify(&r.audit_path()).unwrap();
    assert!(rep.ok(), "{rep:?}");
    let kinds: Vec<String> = r
        .audit_since(0, 100)
        .unwrap()
        .into_iter()
        .map(|a| a.kind)
        .collect();
    assert_eq!(kinds[0], "policy.decision");
    assert_eq!(kinds[1], "execution.proposed");
    // recovery from the journal gives the same execution
    let again = Executions::recover("aurora", r, vec![]).unwrap();
    assert_eq!(again.get(&e.id).unwrap(), e);
}

#[tokio::test]
async fn denied_executions_never_run_a_step() {
    let dir = tempfile::tempdir().unwrap();
    let (_r, ex) = open(dir.path());
    let sw = FakeSwitch::new();
    for (p, words) in [
        (
            bounce("bridge-sw-1", "Gi1/0/7", "alice", "operator"),
            "zone bridge",
        ),
        (
            bounce("acc-sw-1", "Gi1/0/7", "deck", "viewer"),
            "role viewer",
        ),
    ] {
        match ex.propose(p, ship(), T0) {
            Err(ExecError::Denied(e)) => {
                assert_eq!(e.state, ExecState::Rejected);
                assert!(
                    e.policy.reasons.iter().any(|r| r.contains(words)),
                    "{:?}",
                    e.policy
                );
                assert!(matches!(
                    ex.decide(&e.id, "bob", true),
                    Err(ExecError::NotAwaiting { .. })
                ));
                let s = ex.run(&e.id, &Shared(sw.clone(), None)).await.unwrap();
                assert_eq!(s, ExecState::Rejected);
            }
            other => panic!("not denied: {other:?}"),
        }
    }
    assert!(ex.runnable().is_empty());
    assert_eq!(*sw.calls.lock(), 0, "a denied execution reached the device");
}

#[tokio::test]
async fn the_rate_limit_counts_recent_proposals_and_unapproved_ones_expire() {
    let dir = tempfile::tempdir().unwrap();
    let (_r, ex) = open(dir.path());
    let old = ex
        .propose(
            bounce("acc-sw-1", "Gi1/0/1", "alice", "operator"),
            ship(),
            T0 - 7_200_000,
        )
        .unwrap();
    for i in 2..5 {
        ex.propose(
            bounce("acc-sw-1", &format!("Gi1/0/{i}"), "alice", "operator"),
            ship(),
            T0,
        )
        .unwrap();
    }
    // three in the last hour (the one two hours ago does not count): the fourth is denied
    match ex.propose(
        bounce("acc-sw-1", "Gi1/0/5", "alice", "operator"),
        ship(),
        T0,
    ) {
        Err(ExecError::Denied(e)) => {
            assert!(
                e.policy.reasons[0].contains("ran 3 times"),
                "{:?}",
                e.policy
            )
        }
        other => panic!("not rate limited: {other:?}"),
    }
    // awaiting approval for more than an hour: expired, and no longer approvable
    assert_eq!(ex.expire(T0, 3_600_000), 1);
    assert_eq!(ex.get(&old.id).unwrap().state, ExecState::Expired);
    assert!(matches!(
        ex.decide(&old.id, "bob", true),
        Err(ExecError::NotAwaiting { .. })
    ));
}

#[tokio::test]
async fn a_failed_verify_runs_the_rollback_and_a_failed_precheck_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_r, ex) = open(dir.path());
    // the cable is out: the port never comes back connected
    let sw = Arc::new(FakeSwitch::with(Some("Gi1/0/7")));
    let e = ex
        .propose(
            bounce("acc-sw-1", "Gi1/0/7", "alice", "operator"),
            ship(),
            T0,
        )
        .unwrap();
    ex.decide(&e.id, "bob", true).unwrap();
    let s = ex.run(&e.id, &Shared(sw.clone(), None)).await.unwrap();
    assert_eq!(s, ExecState::RolledBack);
    assert_eq!(sw.count("Gi1/0/7 no shutdown"), 2, "action, then rollback");
    let e = ex.get(&e.id).unwrap();
    assert!(e
        .steps
        .iter()
        .any(|s| s.phase == Phase::Rollback && s.status == StepStatus::Ok));

    // no Gi1/0/9 on this switch: the precheck fails, nothing is changed
    let e = ex
        .propose(
            bounce("acc-sw-1", "Gi1/0/9", "alice", "operator"),
            ship(),
            T0,
        )
        .unwrap();
    ex.decide(&e.id, "bob", true).unwrap();
    let before = sw.applied.lock().len();
    let s = ex.run(&e.id, &Shared(sw.clone(), None)).await.unwrap();
    assert_eq!(s, ExecState::Failed);
    assert_eq!(sw.applied.lock().len(), before);
}

/// A crash at every driver call of a run, before and after the device applied the
/// command: the resumed execution ends succeeded or rolled back, never sends an action
/// step twice, and leaves the port enabled.
// paused time: an action in doubt is verified only after its timeout, which auto-advances
#[tokio::test(start_paused = true)]
async fn a_crash_at_any_step_resumes_without_running_an_action_twice() {
    let calls_in_a_clean_run = 4;
    let mut outcomes = HashMap::new();
    for at in 0..calls_in_a_clean_run {
        for after in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let sw = Arc::new(FakeSwitch::with(None));
            let id = {
                let (_r, ex) = open(dir.path());
                let e = ex
                    .propose(
                        bounce("acc-sw-1", "Gi1/0/7", "alice", "operator"),
                        ship(),
                        T0,
                    )
                    .unwrap();
                ex.decide(&e.id, "bob", true).unwrap();
                let drv = Shared(sw.clone(), Some((at, after)));
                tokio::select! {
                    r = ex.run(&e.id, &drv) => panic!("no crash at {at}: {r:?}"),
                    _ = sw.crashed.notified() => {}
                }
                e.id
            };
            // "restart": a new node state from the journal on disk
            let (r, ex) = open(dir.path());
            assert_eq!(ex.runnable(), vec![id.clone()], "at {at} after {after}");
            let s = ex.run(&id, &Shared(sw.clone(), None)).await.unwrap();
            assert!(
                matches!(s, ExecState::Succeeded | ExecState::RolledBack),
                "at {at} after {after}: {s:?}"
            );
            let e = ex.get(&id).unwrap();
            for i in 0..2 {
                let started = e
                    .steps
                    .iter()
                    .filter(|s| {
                        s.phase == Phase::Action && s.index == i && s.status == StepStatus::Started
                    })
                    .count();
                assert!(
                    started <= 1,
                    "action {i} started {started} times (at {at} after {after})"
                );
            }
            assert!(sw.count("Gi1/0/7 shutdown") <= 1);
            assert!(
                sw.ports.lock()["Gi1/0/7"],
                "port left down (at {at} after {after})"
            );
            assert!(verify(&r.audit_path()).unwrap().ok());
            *outcomes.entry(format!("{s:?}")).or_insert(0) += 1;
        }
    }
    // both ends are reached: the matrix exercises resume-and-succeed and verify-then-rollback
    assert!(
        outcomes.contains_key("Succeeded") && outcomes.contains_key("RolledBack"),
        "{outcomes:?}"
    );
}

fn incident(id: &str, root: &str, classes: Vec<seawatch_model::AlertClass>) -> Incident {
    Incident {
        id: id.into(),
        ship: "aurora".into(),
        root_cause: root.into(),
        severity: crate::incident::model::IncidentSeverity::Major,
        state: crate::incident::model::IncidentState::Open,
        alerts: 3,
        opened_at_ms: T0,
        resolved_at_ms: None,
        active_since_ms: vec![T0],
        members: vec![root.into()],
        summary: String::new(),
        merged_into: None,
        candidates: Vec::new(),
        evidence: Vec::new(),
        classes,
    }
}

fn open_with_server(dir: &Path) -> Executions {
    open_with(
        dir,
        vec![
            access("acc-sw-1", "switch", "it"),
            access("srv-3", "server", "it"),
        ],
    )
    .1
}

#[test]
fn an_incident_suggests_the_runbooks_for_its_root_kind_and_symptoms() {
    use seawatch_model::AlertClass;
    let dir = tempfile::tempdir().unwrap();
    let ex = open_with_server(dir.path());
    // a flapping access switch: the port bounce, its interface left for the operator,
    // and the mail silence for the time it is worked on
    let s = ex.suggest(&incident(
        "aurora-1",
        "acc-sw-1",
        vec![AlertClass::Flapping],
    ));
    let names: Vec<&str> = s.iter().map(|s| s.runbook.as_str()).collect();
    assert_eq!(names, vec!["bounce-access-port", "silence-device-mail"]);
    assert_eq!(s[1].params.get("minutes").map(String::as_str), Some("60"));
    assert!(s[1].missing.is_empty());
    assert_eq!(s[0].targets, vec!["acc-sw-1".to_string()]);
    assert_eq!(s[0].missing, vec!["interface".to_string()]);
    assert!(s[0].executions.is_empty());
    // a server running out of disk: the journal vacuum, every parameter defaulted
    let s = ex.suggest(&incident("aurora-2", "srv-3", vec![AlertClass::Capacity]));
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].runbook, "clear-full-disk");
    assert!(s[0].auto && s[0].missing.is_empty());
    assert_eq!(s[0].params.get("mount").map(String::as_str), Some("/var"));
    // a server that is merely unreachable: nothing in the catalogue applies
    assert!(ex
        .suggest(&incident(
            "aurora-3",
            "srv-3",
            vec![AlertClass::Unreachable]
        ))
        .is_empty());
    // an element of another kind: nothing
    assert!(ex
        .suggest(&incident("aurora-4", "unknown-9", vec![AlertClass::Down]))
        .is_empty());
}

#[tokio::test]
async fn automatic_runbooks_are_proposed_once_per_incident_and_pushed() {
    use crate::runbook::auto::{propose_automatic, AutoSources};
    use seawatch_model::AlertClass;
    let dir = tempfile::tempdir().unwrap();
    let bus = crate::push::PushBus::new(64);
    let mut rx = bus.subscribe();
    let ex = open_with_server(dir.path()).with_push(bus.clone());
    let open = vec![
        incident("aurora-2", "srv-3", vec![AlertClass::Capacity]),
        incident("aurora-1", "acc-sw-1", vec![AlertClass::Flapping]),
    ];
    let src = AutoSources {
        open_incidents: Arc::new(move || open.clone()),
        ship: Arc::new(ShipFacts::default),
        now_ms: Arc::new(|| T0),
        predicted_outages: Arc::new(Vec::new),
    };
    // only the automatic, fully parameterised runbook is proposed
    assert_eq!(propose_automatic(&ex, &src).unwrap(), 1);
    let all = ex.list();
    assert_eq!(all.len(), 1);
    let e = &all[0];
    assert_eq!(e.runbook, "clear-full-disk");
    assert_eq!(e.incident.as_deref(), Some("aurora-2"));
    assert_eq!(e.requester, "seawatch");
    // the shipped policy lets a low-risk auto runbook run without approvals
    assert!(e.policy.allow, "{:?}", e.policy.reasons);
    assert_eq!(e.state, ExecState::Prechecks);
    assert_eq!(ex.runnable(), vec![e.id.clone()]);
    // a second pass, or a new Executions over the same journal (a restart), proposes
    // nothing again
    assert_eq!(propose_automatic(&ex, &src).unwrap(), 0);
    let again = open_with_server(dir.path());
    assert_eq!(propose_automatic(&again, &src).unwrap(), 0);
    let s = ex.suggest(&incident("aurora-2", "srv-3", vec![AlertClass::Capacity]));
    assert_eq!(s[0].executions, vec![e.id.clone()]);
    // every journalled change was pushed as a runbook message carrying the execution
    let mut states = Vec::new();
    while let Ok(p) = rx.try_recv() {
        assert_eq!(p.kind, crate::push::PushKind::Runbook);
        assert_eq!(p.ship.as_deref(), Some("aurora"));
        assert_eq!(p.body["id"], e.id.as_str());
        states.push(p.body["state"].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(
        states,
        vec!["proposed", "awaiting_approval", "prechecks"],
        "one push per journalled change"
    );
}

#[tokio::test]
async fn the_policy_sets_the_approval_timeout_and_its_outcome() {
    // the shipped policy: a low-risk execution waits an hour, then expires
    let dir = tempfile::tempdir().unwrap();
    let (_r, ex) = open(dir.path());
    let e = ex
        .propose(
            bounce("acc-sw-1", "Gi1/0/3", "alice", "operator"),
            ship(),
            T0,
        )
        .unwrap();
    assert_eq!(e.policy.approval_timeout_s, Some(3600));
    // the node's default (4 h) is only for policies that set nothing
    let four_hours = 4 * 3_600_000;
    assert_eq!(ex.expire(T0 + 3_599_000, four_hours), 0);
    assert_eq!(ex.expire(T0 + 3_601_000, four_hours), 1);
    assert_eq!(ex.get(&e.id).unwrap().state, ExecState::Expired);
    assert!(ex.runnable().is_empty());

    // a policy whose timeout approves: the execution starts, approved by the policy
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::copy(
        repo.join("policies/remediation.rego"),
        policies.join("remediation.rego"),
    )
    .unwrap();
    let data = std::fs::read_to_string(repo.join("policies/data.json"))
        .unwrap()
        .replace(
            r#""on_approval_timeout": "deny""#,
            r#""on_approval_timeout": "approve""#,
        );
    assert!(data.contains(r#""approve""#));
    std::fs::write(policies.join("data.json"), data).unwrap();
    let (r, _) = Remediation::open(
        RemediationPaths {
            runbooks: repo.join("runbooks"),
            policies,
            audit: dir.path().join("audit"),
        },
        Clock::manual(T0),
        RemediationMetrics::register(&Metrics::new()),
    )
    .unwrap();
    let ex = Executions::recover("aurora", r, vec![access("acc-sw-1", "switch", "it")]).unwrap();
    let e = ex
        .propose(
            bounce("acc-sw-1", "Gi1/0/3", "alice", "operator"),
            ship(),
            T0,
        )
        .unwrap();
    assert_eq!(ex.expire(T0 + 3_601_000, four_hours), 1);
    let e = ex.get(&e.id).unwrap();
    assert_eq!(e.state, ExecState::Prechecks);
    assert_eq!(e.approvals.len(), 1);
    assert_eq!(e.approvals[0].by, "policy");
    assert_eq!(ex.runnable(), vec![e.id.clone()]);
}

/// Refuses every command, as a driver does for a target it cannot reach.
struct Unreachable;

impl Driver for Unreachable {
    fn run<'a>(
        &'a self,
        target: &'a TargetAccess,
        _command: &'a str,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move { Err(format!("ssh {}: no address in the targets file", target.id)) })
    }
}

#[tokio::test]
async fn the_dry_run_shows_what_each_action_changes_in_the_running_config() {
    let dir = tempfile::tempdir().unwrap();
    let (r, ex) = open(dir.path());
    let e = ex
        .propose(
            bounce("acc-sw-1", "Gi1/0/7", "alice", "operator"),
            ship(),
            T0,
        )
        .unwrap();
    assert_eq!(e.config_command.as_deref(), Some("show running-config"));
    assert_eq!(ex.previewable(), vec![e.id.clone()]);
    let sw = FakeSwitch::new();
    ex.preview(&e.id, &Shared(sw.clone(), None)).await.unwrap();
    assert!(ex.previewable().is_empty(), "read once");
    // read-only: one command, nothing applied
    assert_eq!(*sw.calls.lock(), 1);
    assert!(sw.applied.lock().is_empty());
    let p = &ex.get(&e.id).unwrap().preview;
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].target, "acc-sw-1");
    assert!(p[0].error.is_none());
    let step = |i: usize| &p[0].steps[i].changes[0];
    assert_eq!(step(0).section, "interface Gi1/0/7");
    assert_eq!(step(0).before, vec!["interface Gi1/0/7".to_string()]);
    assert_eq!(
        step(0).after,
        vec!["interface Gi1/0/7".to_string(), " shutdown".to_string()]
    );
    assert_eq!(
        step(1).after,
        step(0).before,
        "the second action undoes the first"
    );
    // it is in the journal: a recovered node shows the same dry run
    let again = Executions::recover("aurora", r.clone(), Vec::new()).unwrap();
    assert_eq!(again.get(&e.id).unwrap().preview, *p);

    // a target the driver cannot reach: the reason, no prediction, no retry
    let e2 = ex
        .propose(
            bounce("acc-sw-1", "Gi1/0/3", "alice", "operator"),
            ship(),
            T0,
        )
        .unwrap();
    ex.preview(&e2.id, &Unreachable).await.unwrap();
    let p = &ex.get(&e2.id).unwrap().preview;
    assert!(
        p[0].error.as_deref().unwrap().contains("no address"),
        "{p:?}"
    );
    assert!(p[0].steps.is_empty());
    assert!(ex.previewable().is_empty());
}

/// One switch per target behind one driver that takes 100 ms a call (paused time), counts
/// how many calls are in flight at once, can fail the first action of one target, and can
/// "crash" (hang forever) at its n-th call, before or after the switch applied it.
struct Fleet {
    switches: HashMap<String, Arc<FakeSwitch>>,
    inflight: Mutex<(usize, usize)>,
    calls: Mutex<usize>,
    crash: Option<(usize, bool)>,
    crashed: tokio::sync::Notify,
    fail_action_on: Option<String>,
}

impl Fleet {
    fn new(targets: &[String], fail_action_on: Option<&str>, crash: Option<(usize, bool)>) -> Self {
        Self {
            switches: targets
                .iter()
                .map(|t| (t.clone(), FakeSwitch::new()))
                .collect(),
            inflight: Mutex::new((0, 0)),
            calls: Mutex::new(0),
            crash,
            crashed: tokio::sync::Notify::new(),
            fail_action_on: fail_action_on.map(str::to_string),
        }
    }

    /// Same switches, a fresh driver (after a "restart").
    fn again(&self) -> Self {
        Self {
            switches: self.switches.clone(),
            inflight: Mutex::new((0, 0)),
            calls: Mutex::new(0),
            crash: None,
            crashed: tokio::sync::Notify::new(),
            fail_action_on: None,
        }
    }

    fn peak(&self) -> usize {
        self.inflight.lock().1
    }
}

impl Driver for Fleet {
    fn run<'a>(
        &'a self,
        target: &'a TargetAccess,
        command: &'a str,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let n = {
                let mut c = self.calls.lock();
                *c += 1;
                *c - 1
            };
            {
                let mut f = self.inflight.lock();
                f.0 += 1;
                f.1 = f.1.max(f.0);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            let sw = &self.switches[&target.id];
            if let Some((at, after)) = self.crash {
                if n == at {
                    if after {
                        let _ = sw.apply(command);
                    }
                    self.crashed.notify_one();
                    futures::future::pending::<()>().await;
                }
            }
            let out = if self.fail_action_on.as_deref() == Some(target.id.as_str())
                && command.ends_with("\nshutdown")
            {
                Err("% device busy".to_string())
            } else {
                sw.apply(command)
            };
            self.inflight.lock().0 -= 1;
            out
        })
    }
}

fn switches(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("acc-sw-{i}")).collect()
}

fn bounce_all(targets: &[String]) -> Proposal {
    Proposal {
        targets: targets.to_vec(),
        ..bounce("acc-sw-1", "Gi1/0/7", "alice", "operator")
    }
}

fn open_switches(dir: &Path, targets: &[String]) -> (Remediation, Executions) {
    open_with(
        dir,
        targets.iter().map(|t| access(t, "switch", "it")).collect(),
    )
}

#[tokio::test(start_paused = true)]
async fn targets_run_side_by_side_within_the_policys_max_parallel() {
    let dir = tempfile::tempdir().unwrap();
    let targets = switches(8);
    let (_r, ex) = open_switches(dir.path(), &targets);
    let e = ex.propose(bounce_all(&targets), ship(), T0).unwrap();
    // the shipped policy: low risk, at most 5 at once
    assert_eq!(e.policy.max_parallel, 5);
    ex.decide(&e.id, "bob", true).unwrap();
    let fleet = Fleet::new(&targets, None, None);
    let started = tokio::time::Instant::now();
    assert_eq!(ex.run(&e.id, &fleet).await.unwrap(), ExecState::Succeeded);
    assert_eq!(
        fleet.peak(),
        5,
        "as many at once as the policy allows, no more"
    );
    // 8 targets, 5 at a time, 4 steps each of 100 ms: two rounds per phase, not eight
    assert!(
        started.elapsed() <= Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
    for t in &targets {
        assert_eq!(fleet.switches[t].count("Gi1/0/7 shutdown"), 1, "{t}");
        assert_eq!(fleet.switches[t].count("Gi1/0/7 no shutdown"), 1, "{t}");
    }
    // a single target runs alone
    let (_r2, ex2) = open_switches(tempfile::tempdir().unwrap().path(), &targets[..1]);
    let e2 = ex2.propose(bounce_all(&targets[..1]), ship(), T0).unwrap();
    assert_eq!(e2.policy.max_parallel, 1);
}

#[tokio::test(start_paused = true)]
async fn one_target_failing_verify_rolls_back_every_touched_target() {
    let dir = tempfile::tempdir().unwrap();
    let targets = switches(4);
    let (_r, ex) = open_switches(dir.path(), &targets);
    let e = ex.propose(bounce_all(&targets), ship(), T0).unwrap();
    ex.decide(&e.id, "bob", true).unwrap();
    let mut fleet = Fleet::new(&targets, None, None);
    // acc-sw-3's cable is out: its port never comes back connected
    fleet.switches.insert(
        "acc-sw-3".into(),
        Arc::new(FakeSwitch::with(Some("Gi1/0/7"))),
    );
    assert_eq!(ex.run(&e.id, &fleet).await.unwrap(), ExecState::RolledBack);
    let e = ex.get(&e.id).unwrap();
    for t in &targets {
        assert!(
            e.steps.iter().any(|s| s.target == *t
                && s.phase == Phase::Rollback
                && s.status == StepStatus::Ok),
            "{t} not rolled back"
        );
        assert_eq!(
            fleet.switches[t].count("Gi1/0/7 no shutdown"),
            2,
            "{t}: action, then rollback"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_action_starts_no_further_target_and_rolls_back_only_the_touched() {
    let dir = tempfile::tempdir().unwrap();
    let targets = switches(7);
    let (_r, ex) = open_switches(dir.path(), &targets);
    let e = ex.propose(bounce_all(&targets), ship(), T0).unwrap();
    ex.decide(&e.id, "bob", true).unwrap();
    let fleet = Fleet::new(&targets, Some("acc-sw-1"), None);
    assert_eq!(ex.run(&e.id, &fleet).await.unwrap(), ExecState::RolledBack);
    let e = ex.get(&e.id).unwrap();
    let touched = |t: &str| {
        e.steps
            .iter()
            .any(|s| s.target == t && s.phase == Phase::Action)
    };
    let rolled = |t: &str| {
        e.steps
            .iter()
            .any(|s| s.target == t && s.phase == Phase::Rollback)
    };
    // 5 ran their first action side by side; the 6th and 7th never started
    for t in &targets[..5] {
        assert!(touched(t) && rolled(t), "{t}");
        assert_eq!(
            fleet.switches[t.as_str()].count("Gi1/0/7 shutdown"),
            usize::from(t != "acc-sw-1")
        );
        assert!(
            fleet.switches[t.as_str()].ports.lock()["Gi1/0/7"],
            "{t} left down"
        );
    }
    for t in &targets[5..] {
        assert!(!touched(t) && !rolled(t), "{t} was touched");
        assert!(fleet.switches[t.as_str()].applied.lock().is_empty());
    }
}

/// A crash at every driver call of a run over three targets side by side, before and
/// after the device applied the command (the other targets' calls in flight are cut as
/// well): the resumed execution ends succeeded or rolled back, never sends any target's
/// action twice, and leaves every port enabled.
#[tokio::test(start_paused = true)]
async fn a_crash_at_any_step_of_parallel_targets_never_runs_an_action_twice() {
    let targets = switches(3);
    let calls_in_a_clean_run = 3 * 4;
    let mut outcomes = HashMap::new();
    for at in 0..calls_in_a_clean_run {
        for after in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let fleet = Fleet::new(&targets, None, Some((at, after)));
            let id = {
                let (_r, ex) = open_switches(dir.path(), &targets);
                let e = ex.propose(bounce_all(&targets), ship(), T0).unwrap();
                assert_eq!(e.policy.max_parallel, 3);
                ex.decide(&e.id, "bob", true).unwrap();
                tokio::select! {
                    r = ex.run(&e.id, &fleet) => panic!("no crash at {at}: {r:?}"),
                    _ = fleet.crashed.notified() => {}
                }
                e.id
            };
            let (r, ex) = open_switches(dir.path(), &targets);
            assert_eq!(ex.runnable(), vec![id.clone()], "at {at} after {after}");
            let again = fleet.again();
            let s = ex.run(&id, &again).await.unwrap();
            assert!(
                matches!(s, ExecState::Succeeded | ExecState::RolledBack),
                "at {at} after {after}: {s:?}"
            );
            let e = ex.get(&id).unwrap();
            for t in &targets {
                for i in 0..2 {
                    let started = e
                        .steps
                        .iter()
                        .filter(|s| {
                            s.target == *t
                                && s.phase == Phase::Action
                                && s.index == i
                                && s.status == StepStatus::Started
                        })
                        .count();
                    assert!(
                        started <= 1,
                        "{t} action {i} started {started} times (at {at} after {after})"
                    );
                }
                let sw = &fleet.switches[t];
                assert!(
                    sw.count("Gi1/0/7 shutdown") <= 1,
                    "{t} at {at} after {after}"
                );
                assert!(
                    sw.ports.lock()["Gi1/0/7"],
                    "{t} port left down (at {at} after {after})"
                );
            }
            assert!(verify(&r.audit_path()).unwrap().ok());
            *outcomes.entry(format!("{s:?}")).or_insert(0) += 1;
        }
    }
    assert!(
        outcomes.contains_key("Succeeded") && outcomes.contains_key("RolledBack"),
        "{outcomes:?}"
    );
}

/// The catalogue and policy of deploy/ copied to `dir`, with `edit` applied to
/// `wan-failover-to-leo.toml`.
fn deploy_copy(dir: &Path, edit: impl Fn(String) -> String) -> RemediationPaths {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    for sub in ["runbooks", "policies"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        for f in std::fs::read_dir(repo.join(sub)).unwrap() {
            let f = f.unwrap().path();
            if f.is_file() {
                let mut text = std::fs::read_to_string(&f).unwrap();
                if f.file_name().unwrap() == "wan-failover-to-leo.toml" {
                    text = edit(text);
                }
                std::fs::write(dir.join(sub).join(f.file_name().unwrap()), text).unwrap();
            }
        }
    }
    RemediationPaths {
        runbooks: dir.join("runbooks"),
        policies: dir.join("policies"),
        audit: dir.join("audit"),
    }
}

fn open_paths(paths: RemediationPaths) -> Executions {
    let (r, _) = Remediation::open(
        paths,
        Clock::manual(T0),
        RemediationMetrics::register(&Metrics::new()),
    )
    .unwrap();
    Executions::recover(
        "aurora",
        r,
        vec![access("vsat-1", "vsat", "it"), access("leo-1", "leo", "it")],
    )
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_predicted_outage_proposes_the_failover_once_and_the_policy_decides() {
    use crate::runbook::auto::{propose_automatic, AutoSources, PredictedOutage};
    let blockage = PredictedOutage {
        link: "vsat-1".into(),
        since_ms: T0 - 5_000,
        start_ms: T0 + 90_000,
        end_ms: Some(T0 + 210_000),
        cause: "blockage".into(),
    };
    let predicted = vec![
        blockage.clone(),
        // one whose start has passed: too late for a pre-emptive move
        PredictedOutage {
            link: "vsat-2".into(),
            start_ms: T0 - 1_000,
            ..blockage.clone()
        },
    ];
    let src = AutoSources {
        open_incidents: Arc::new(Vec::new),
        ship: Arc::new(ShipFacts::default),
        now_ms: Arc::new(|| T0),
        predicted_outages: Arc::new(move || predicted.clone()),
    };
    // the shipped catalogue and policy: the failover (medium risk, not marked auto) is
    // proposed for the prediction (force-sdwan-leo-only also names the class but needs a
    // change ticket from a human) and the policy rejects it as an automatic run, with its
    // reasons in the journal
    let dir = tempfile::tempdir().unwrap();
    let ex = open_paths(deploy_copy(dir.path(), |t| t));
    assert_eq!(propose_automatic(&ex, &src).unwrap(), 1);
    let all = ex.list();
    let names: Vec<&str> = all.iter().map(|e| e.runbook.as_str()).collect();
    assert_eq!(names, vec!["wan-failover-to-leo"]);
    for e in &all {
        assert_eq!(
            e.incident.as_deref(),
            Some("outage-risk:vsat-1:1741921195000")
        );
        assert_eq!(e.targets, vec!["vsat-1".to_string()]);
        assert_eq!(e.state, ExecState::Rejected);
        assert!(
            e.policy.reasons.iter().any(|r| r.contains("automatic")),
            "{:?}",
            e.policy.reasons
        );
    }
    // proposed once: a second pass and a restart over the same journal add nothing
    assert_eq!(propose_automatic(&ex, &src).unwrap(), 0);
    let again = open_paths(RemediationPaths {
        runbooks: dir.path().join("runbooks"),
        policies: dir.path().join("policies"),
        audit: dir.path().join("audit"),
    });
    assert_eq!(propose_automatic(&again, &src).unwrap(), 0);

    // a ship whose catalogue makes the failover a low-risk automatic runbook: the same
    // prediction runs it without approvals
    let dir = tempfile::tempdir().unwrap();
    let ex = open_paths(deploy_copy(dir.path(), |t| {
        t.replace("risk = \"medium\"", "risk = \"low\"")
            .replace("auto = false", "auto = true")
    }));
    propose_automatic(&ex, &src).unwrap();
    let e = ex
        .list()
        .into_iter()
        .find(|e| e.runbook == "wan-failover-to-leo")
        .unwrap();
    assert!(e.policy.allow, "{:?}", e.policy.reasons);
    assert_eq!(e.policy.approvals_required, 0);
    assert_eq!(e.state, ExecState::Prechecks);
    assert_eq!(e.params.get("to").map(String::as_str), Some("leo-1"));
}
