//! Remediation policy decision latency: the starter policy (deploy/policies) deciding an
//! allowed and a denied request, and the audited decision (`Remediation::decide`, which
//! fsyncs the decision with its input into the audit log). Also prints p50/p99 of single
//! decisions over 20,000 calls (the goal: p99 ≤ 1 ms).
//!
//! `cargo bench -p seawatch-actors --bench policy -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use seawatch_actors::runbook::policy::{
    LinkFacts, Policy, PolicyInput, RecentExecution, RunbookFacts, ShipFacts, TargetFacts,
};

fn input(zone: &str) -> PolicyInput {
    PolicyInput {
        runbook: RunbookFacts {
            name: "bounce-access-port".into(),
            risk: "low".into(),
            auto: false,
            writes: true,
            driver: "ssh".into(),
        },
        targets: (1..=3)
            .map(|i| TargetFacts {
                id: format!("acc-sw-{i}"),
                kind: "switch".into(),
                zone: zone.into(),
            })
            .collect(),
        params: serde_json::Map::new(),
        requester: "alice".into(),
        role: "operator".into(),
        now: 1_741_921_200_000,
        ship: ShipFacts {
            links: vec![LinkFacts {
                id: "vsat-1".into(),
                kind: "vsat".into(),
                primary: true,
                state: "up".into(),
            }],
            open_incidents: vec![],
            recent_executions: (0..20)
                .map(|i| RecentExecution {
                    runbook: format!("rb-{}", i % 5),
                    requester: "bob".into(),
                    at: 1_741_921_200_000 - i * 60_000,
                })
                .collect(),
        },
    }
}

fn percentiles(policy: &Policy, input: &PolicyInput, what: &str) {
    let mut ns: Vec<u128> = (0..20_000)
        .map(|_| {
            let t = Instant::now();
            black_box(policy.decide(black_box(input)));
            t.elapsed().as_nanos()
        })
        .collect();
    ns.sort_unstable();
    let p = |q: f64| ns[((ns.len() as f64 * q) as usize).min(ns.len() - 1)] as f64 / 1000.0;
    eprintln!(
        "policy decision {what}: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs over {} calls",
        p(0.50),
        p(0.99),
        p(1.0),
        ns.len()
    );
}

fn bench(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/policies");
    let policy = Policy::load_dir(&dir);
    assert_eq!(policy.error(), None);
    let allow = input("it");
    let deny = input("ot");
    assert!(policy.decide(&allow).allow);
    assert!(!policy.decide(&deny).allow);
    percentiles(&policy, &allow, "allow");
    percentiles(&policy, &deny, "deny");
    c.bench_function("policy/decide_allow", |b| {
        b.iter(|| policy.decide(black_box(&allow)))
    });
    c.bench_function("policy/decide_deny", |b| {
        b.iter(|| policy.decide(black_box(&deny)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
