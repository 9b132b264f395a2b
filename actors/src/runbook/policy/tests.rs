use super::*;

/// 2025-03-14 03:00 UTC: inside the starter policy's 02:00–04:00 window.
const IN_WINDOW: i64 = 1_741_921_200_000;
/// 2025-03-14 12:00 UTC: outside it.
const OUT_OF_WINDOW: i64 = 1_741_953_600_000;

fn starter() -> Policy {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/policies");
    let p = Policy::load_dir(&dir);
    assert_eq!(p.error(), None);
    p
}

fn target(i: usize) -> TargetFacts {
    TargetFacts {
        id: format!("acc-sw-{i}"),
        kind: "switch".into(),
        zone: "it".into(),
    }
}

fn base() -> PolicyInput {
    PolicyInput {
        runbook: RunbookFacts {
            name: "bounce-access-port".into(),
            risk: "low".into(),
            auto: false,
            writes: true,
            driver: "ssh".into(),
        },
        targets: vec![target(1)],
        params: serde_json::Map::new(),
        requester: "alice".into(),
        role: "operator".into(),
        now: IN_WINDOW,
        ship: ShipFacts {
            links: vec![
                LinkFacts {
                    id: "vsat-1".into(),
                    kind: "vsat".into(),
                    primary: true,
                    state: "up".into(),
                },
                LinkFacts {
                    id: "leo-1".into(),
                    kind: "leo".into(),
                    primary: false,
                    state: "up".into(),
                },
            ],
            open_incidents: vec![],
            recent_executions: vec![],
        },
    }
}

#[test]
fn an_ordinary_request_is_allowed_with_its_approvals_and_parallelism() {
    let p = starter();
    let d = p.decide(&base());
    assert_eq!(
        d,
        Decision {
            allow: true,
            reasons: vec![],
            approvals_required: 1,
            max_parallel: 1,
            approval_timeout_s: Some(3600),
            on_approval_timeout: super::OnTimeout::Deny,
        }
    );
    let mut i = base();
    i.targets = (1..=8).map(target).collect();
    let d = p.decide(&i);
    assert!(d.allow, "{d:?}");
    assert_eq!(d.max_parallel, 5, "low risk: 5 at once");
    i.runbook.risk = "high".into();
    i.role = "admin".into();
    i.targets.truncate(1);
    let d = p.decide(&i);
    assert_eq!((d.allow, d.approvals_required), (true, 2), "{d:?}");
    // a critical incident on the target makes it an emergency change outside the window
    i.now = OUT_OF_WINDOW;
    assert!(!p.decide(&i).allow);
    i.ship.open_incidents.push(IncidentFacts {
        id: "ship-1-4".into(),
        severity: "critical".into(),
        root_cause: "acc-sw-1".into(),
    });
    assert!(p.decide(&i).allow);
    // an automatic low-risk run needs no approval
    let mut a = base();
    a.role = "system".into();
    a.requester = "seawatch".into();
    a.runbook.auto = true;
    assert_eq!(p.decide(&a).approvals_required, 0);
    assert!(p.decide(&a).allow);
}

type Mutation = fn(&mut PolicyInput);

/// Every deny rule of the starter policy: how to trigger it, and the words of its reason.
fn deny_rules() -> Vec<(&'static str, Mutation, &'static str)> {
    vec![
        (
            "no requester",
            |i| i.requester = String::new(),
            "no requester",
        ),
        (
            "viewer role",
            |i| i.role = "viewer".into(),
            "role viewer may not run",
        ),
        (
            "high risk by an operator",
            |i| {
                i.runbook.risk = "high".into();
                i.role = "operator".into();
                i.targets.truncate(1);
            },
            "role operator may not run high-risk",
        ),
        (
            "medium risk outside the window",
            |i| {
                i.runbook.risk = "medium".into();
                i.targets.truncate(1);
                i.now = OUT_OF_WINDOW;
            },
            "outside the change window",
        ),
        (
            "blast radius",
            |i| i.targets = (1..=11).map(target).collect(),
            "blast radius: 11 targets, at most 10",
        ),
        ("no targets", |i| i.targets.clear(), "no targets"),
        (
            "ot zone",
            |i| i.targets[0].zone = "ot".into(),
            "is in zone ot: no write path",
        ),
        (
            "bridge zone",
            |i| i.targets.last_mut().unwrap().zone = "bridge".into(),
            "is in zone bridge: no write path",
        ),
        (
            "rate limit",
            |i| {
                for k in 0..3 {
                    i.ship.recent_executions.push(RecentExecution {
                        runbook: i.runbook.name.clone(),
                        requester: "bob".into(),
                        at: i.now - 600_000 * (k + 1),
                    });
                }
            },
            "rate limit: bounce-access-port ran 3 times",
        ),
        (
            "automatic run of a manual runbook",
            |i| {
                i.role = "system".into();
                i.requester = "seawatch".into();
            },
            "is not marked auto",
        ),
        (
            "automatic run while the primary link is down",
            |i| {
                i.role = "system".into();
                i.requester = "seawatch".into();
                i.runbook.auto = true;
                i.ship.links[0].state = "down".into();
            },
            "no automatic run while the primary link is down",
        ),
        (
            "automatic run of a medium-risk runbook",
            |i| {
                i.role = "system".into();
                i.requester = "seawatch".into();
                i.runbook.auto = true;
                i.runbook.risk = "medium".into();
                i.targets.truncate(1);
            },
            "no automatic run of a medium-risk runbook",
        ),
    ]
}

/// The policy test matrix: every deny rule, crossed with roles, windows and blast radius.
/// Without the rule's trigger each cell is allowed (so the denial is the rule's doing);
/// with it, each cell is denied with the rule's reason.
#[test]
fn policy_matrix_every_deny_rule_by_role_window_and_blast_radius() {
    let p = starter();
    let roles = ["operator", "admin"];
    let windows = [("in", IN_WINDOW), ("out", OUT_OF_WINDOW)];
    let blasts = [1usize, 10];
    let mut cells = 0;
    for (rule, mutate, words) in deny_rules() {
        for role in roles {
            for (wname, now) in windows {
                for n in blasts {
                    let mut i = base();
                    i.role = role.into();
                    i.now = now;
                    i.targets = (1..=n).map(target).collect();
                    let before = p.decide(&i);
                    assert!(
                        before.allow,
                        "{rule} / {role} / {wname} / {n}: the cell itself is denied: {before:?}"
                    );
                    mutate(&mut i);
                    let d = p.decide(&i);
                    assert!(!d.allow, "{rule} / {role} / {wname} / {n}: allowed {i:?}");
                    assert!(
                        d.reasons.iter().any(|r| r.contains(words)),
                        "{rule} / {role} / {wname} / {n}: {:?} lacks {words:?}",
                        d.reasons
                    );
                    cells += 1;
                }
            }
        }
    }
    assert_eq!(cells, deny_rules().len() * 8);
}

#[test]
fn a_broken_policy_denies_everything_with_its_reason() {
    let data = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/policies/data.json"),
    )
    .unwrap();
    type Case<'a> = (&'a str, Vec<(String, String)>, Option<&'a str>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "syntax",
            vec![(
                "p.rego".into(),
                "package seawatch.remediation\nallow if {".into(),
            )],
            None,
            "p.rego",
        ),
        ("no files", vec![], None, "no .rego file"),
        (
            "wrong shape",
            vec![(
                "p.rego".into(),
                "package seawatch.remediation\ndecision := {\"allow\": \"yes\"}".into(),
            )],
            None,
            "is not {allow, reasons, approvals_required, max_parallel}",
        ),
        (
            "undefined decision",
            vec![(
                "p.rego".into(),
                "package seawatch.remediation\ndecision := {\"allow\": true} if input.never".into(),
            )],
            Some(data.as_str()),
            "denying",
        ),
        (
            "bad data",
            vec![(
                "p.rego".into(),
                "package seawatch.remediation\ndecision := 1".into(),
            )],
            Some("{not json"),
            "data.json",
        ),
    ];
    for (what, rego, data, words) in cases {
        let p = Policy::from_sources("test", &rego, data);
        let d = p.decide(&base());
        assert!(!d.allow, "{what}: {d:?}");
        assert_eq!(d.max_parallel, 0);
        assert!(
            d.reasons.iter().any(|r| r.contains(words)),
            "{what}: {:?} lacks {words:?}",
            d.reasons
        );
    }
    let missing = Policy::load_dir(Path::new("/nonexistent/policies"));
    assert!(missing.error().unwrap().contains("/nonexistent/policies"));
    assert!(!missing.decide(&base()).allow);
}

#[test]
fn a_reload_replaces_the_policy_and_a_broken_edit_denies() {
    let dir = tempfile::tempdir().unwrap();
    let starter = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/policies");
    for f in ["remediation.rego", "data.json"] {
        std::fs::copy(starter.join(f), dir.path().join(f)).unwrap();
    }
    let h = PolicyHandle::load(dir.path());
    assert!(h.decide(&base()).allow);
    std::fs::write(dir.path().join("remediation.rego"), "package x\nbroken := ").unwrap();
    assert!(h.reload().is_some());
    let d = h.decide(&base());
    assert!(!d.allow);
    assert!(d.reasons[0].starts_with("policy is broken"), "{d:?}");
    std::fs::copy(
        starter.join("remediation.rego"),
        dir.path().join("remediation.rego"),
    )
    .unwrap();
    assert_eq!(h.reload(), None);
    assert!(h.decide(&base()).allow);
}
