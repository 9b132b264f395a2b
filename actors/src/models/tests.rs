use std::sync::Arc;

use seawatch_runtime::Clock;

use super::store::{MemModelStore, ModelStore, Registry};
use super::*;

fn sha(c: char) -> String {
    std::iter::repeat_n(c, 64).collect()
}

fn req(c: char) -> VersionRequest {
    VersionRequest {
        bundle: sha(c),
        kind: ModelKind::DetectorSettings,
        metadata: [("trained_on".to_owned(), "seeds 1-40".to_owned())].into(),
        metrics: [("nab".to_owned(), 61.5)].into(),
    }
}

fn registry(clock: &Clock) -> (Registry, MemModelStore) {
    let store = MemModelStore::default();
    let r = Registry {
        store: Arc::new(store.clone()),
        clock: clock.clone(),
        bundle_kind: Arc::new(|s: &str| {
            (s != sha('f')).then_some(crate::rollout::bundle::BundleKind::Detectors)
        }),
    };
    (r, store)
}

#[tokio::test]
async fn alias_history_answers_who_was_champion_at_any_time_and_rollback_is_recorded() {
    let clock = Clock::manual(1_000);
    let (reg, _) = registry(&clock);
    for c in ['a', 'b', 'c'] {
        reg.register("det", req(c), "root").await.unwrap();
    }
    clock.set_ms(2_000);
    reg.set_alias("det", Alias::Champion, Some(sha('a')), "root")
        .await
        .unwrap();
    clock.set_ms(3_000);
    reg.set_alias("det", Alias::Champion, Some(sha('b')), "root")
        .await
        .unwrap();
    clock.set_ms(4_000);
    let m = reg.rollback("det", "root").await.unwrap();
    assert_eq!(m.champion, Some(sha('a')));
    assert_eq!(m.alias_at(Alias::Champion, 1_500), None);
    assert_eq!(m.alias_at(Alias::Champion, 2_500), Some(sha('a')));
    assert_eq!(m.alias_at(Alias::Champion, 3_999), Some(sha('b')));
    assert_eq!(m.alias_at(Alias::Champion, 4_000), Some(sha('a')));
    // the history keeps every step, the rollback with its cause
    let causes: Vec<_> = m
        .history
        .iter()
        .filter_map(|e| match e {
            ModelEv::Alias { cause, version, .. } => Some((*cause, version.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        causes,
        vec![
            (AliasCause::Set, Some(sha('a'))),
            (AliasCause::Set, Some(sha('b'))),
            (AliasCause::Rollback, Some(sha('a'))),
        ]
    );
    assert_eq!(m.history.len(), 6);
    // a restarted node folds the same model from the store
    assert_eq!(reg.get("det").await.unwrap(), m);
    // one step: rolling back again goes forward to b
    clock.set_ms(5_000);
    assert_eq!(
        reg.rollback("det", "root").await.unwrap().champion,
        Some(sha('b'))
    );
}

#[tokio::test]
async fn bad_requests_say_why() {
    let clock = Clock::manual(1_000);
    let (reg, _) = registry(&clock);
    let bad = |e: ModelError| match e {
        ModelError::BadRequest(s) => s,
        e => panic!("expected 400, got {e:?}"),
    };
    let e = bad(reg.register("Det X", req('a'), "r").await.unwrap_err());
    assert!(e.contains("model name"), "{e}");
    let e = bad(reg.register("det", req('f'), "r").await.unwrap_err());
    assert!(e.contains("not at shore"), "{e}");
    let mut r = req('a');
    r.bundle = "xyz".into();
    assert!(bad(reg.register("det", r, "r").await.unwrap_err()).contains("SHA-256"));
    let mut r = req('a');
    r.kind = ModelKind::LinkRisk;
    assert!(bad(reg.register("det", r, "r").await.unwrap_err()).contains("needs a model bundle"));
    let mut r = req('a');
    r.metrics.insert("x".into(), f64::NAN);
    assert!(bad(reg.register("det", r, "r").await.unwrap_err()).contains("finite"));
    reg.register("det", req('a'), "r").await.unwrap();
    assert!(matches!(
        reg.register("det", req('a'), "r").await.unwrap_err(),
        ModelError::Conflict(_)
    ));
    let e = bad(reg
        .set_alias("det", Alias::Champion, Some(sha('b')), "r")
        .await
        .unwrap_err());
    assert!(e.contains("no version"), "{e}");
    assert!(matches!(
        reg.rollback("det", "r").await.unwrap_err(),
        ModelError::Conflict(_)
    ));
    assert!(matches!(
        reg.get("nope").await.unwrap_err(),
        ModelError::NotFound(_)
    ));
    let g = Gate {
        metric: "accuracy".into(),
        direction: Direction::Higher,
        threshold: Some(0.5),
        min_relative_change: None,
        min_exposure: 0,
    };
    let e = bad(reg
        .set_gates("det", vec![g.clone()], "r")
        .await
        .unwrap_err());
    assert!(e.contains("expected one of"), "{e}");
    let g = Gate {
        metric: "precision".into(),
        threshold: None,
        ..g
    };
    assert!(bad(reg.set_gates("det", vec![g], "r").await.unwrap_err()).contains("threshold"));
}

fn counts(
    samples: u64,
    agree: u64,
    alerts: u64,
    hits: u64,
    events: u64,
    caught: u64,
) -> ShadowCounts {
    ShadowCounts {
        samples,
        agree,
        alerts,
        hits,
        events,
        caught,
    }
}

fn report(
    ship: &str,
    champion: Option<String>,
    cp: ShadowCounts,
    ch: ShadowCounts,
) -> ShadowReport {
    ShadowReport {
        ship: ship.into(),
        model: "det".into(),
        kind: ModelKind::DetectorSettings,
        challenger: sha('b'),
        champion,
        since_ms: 0,
        at_ms: 10,
        champion_counts: cp,
        challenger_counts: ch,
        dropped_series: 0,
    }
}

#[test]
fn each_gate_gives_its_value_and_verdict() {
    let mut m = Model::fold(
        "det",
        &[ModelEv::Registered {
            at_ms: 0,
            version: Version {
                sha256: sha('a'),
                kind: ModelKind::DetectorSettings,
                metadata: Default::default(),
                metrics: Default::default(),
                registered_ms: 0,
                by: "r".into(),
            },
        }],
    )
    .unwrap();
    m.champion = Some(sha('a'));
    m.challenger = Some(sha('b'));
    m.gates = vec![
        // precision 0.8 vs 0.5: +60 %, needs +10 %
        Gate {
            metric: "precision".into(),
            direction: Direction::Higher,
            threshold: Some(0.7),
            min_relative_change: Some(0.1),
            min_exposure: 1_000,
        },
        // alerts per 1k 5 vs 10: lower is better, 50 % better
        Gate {
            metric: "alerts_per_1k".into(),
            direction: Direction::Lower,
            threshold: Some(6.0),
            min_relative_change: Some(0.0),
            min_exposure: 0,
        },
        // recall 0.5 vs 1.0: -50 %, at most 5 % worse allowed
        Gate {
            metric: "recall".into(),
            direction: Direction::Higher,
            threshold: None,
            min_relative_change: Some(-0.05),
            min_exposure: 0,
        },
    ];
    let reports = vec![
        report(
            "aurora",
            Some(sha('a')),
            counts(1_000, 900, 10, 5, 2, 2),
            counts(1_000, 900, 5, 4, 2, 1),
        ),
        // another run (old champion): does not count
        report(
            "borealis",
            None,
            counts(9, 9, 9, 9, 9, 9),
            counts(9, 9, 9, 9, 9, 9),
        ),
    ];
    let s = summarize(&m, &reports);
    assert_eq!(s.ships, vec!["aurora".to_string()]);
    let e = evaluate(&m, &s).unwrap();
    assert_eq!(e.ships, 1);
    let g = &e.gates;
    assert_eq!(g[0].challenger, Some(0.8));
    assert_eq!(g[0].champion, Some(0.5));
    assert!((g[0].relative_change.unwrap() - 0.6).abs() < 1e-9);
    assert!(g[0].pass, "{:?}", g[0]);
    assert!(g[1].pass, "{:?}", g[1]);
    assert!((g[1].relative_change.unwrap() - 0.5).abs() < 1e-9);
    assert!(!g[2].pass);
    assert!(g[2].reason.contains("-50.0%"), "{}", g[2].reason);
    assert!(!e.pass);
    assert!(e.why_not().starts_with("recall:"), "{}", e.why_not());
    // not enough exposure
    m.gates[0].min_exposure = 5_000;
    let e = evaluate(&m, &s).unwrap();
    assert!(!e.gates[0].pass && e.gates[0].reason.contains("exposure 1000 < minimum 5000"));
    // no gates: never promoted
    m.gates.clear();
    assert!(!evaluate(&m, &s).unwrap().pass);
}

#[tokio::test]
async fn a_passing_challenger_is_promoted_once_and_a_failing_one_is_held_with_its_reasons() {
    let clock = Clock::manual(1_000);
    let (reg, store) = registry(&clock);
    reg.register("det", req('a'), "r").await.unwrap();
    reg.register("det", req('b'), "r").await.unwrap();
    reg.set_alias("det", Alias::Champion, Some(sha('a')), "r")
        .await
        .unwrap();
    reg.set_alias("det", Alias::Challenger, Some(sha('b')), "r")
        .await
        .unwrap();
    reg.set_gates(
        "det",
        vec![Gate {
            metric: "precision".into(),
            direction: Direction::Higher,
            threshold: None,
            min_relative_change: Some(0.0),
            min_exposure: 500,
        }],
        "r",
    )
    .await
    .unwrap();
    // too little data: held, recorded once
    store
        .put_shadow(&report(
            "aurora",
            Some(sha('a')),
            counts(100, 90, 10, 5, 2, 2),
            counts(100, 90, 5, 4, 2, 1),
        ))
        .await
        .unwrap();
    let v = reg.evaluate("det", "gates").await.unwrap().unwrap();
    assert!(!v.promoted && v.recorded);
    assert!(v.evaluation.why_not().contains("exposure 100"), "{:?}", v);
    let again = reg.evaluate("det", "gates").await.unwrap().unwrap();
    assert!(!again.recorded, "the same verdict is not recorded twice");
    // enough data: promoted
    clock.set_ms(9_000);
    store
        .put_shadow(&report(
            "aurora",
            Some(sha('a')),
            counts(1_000, 900, 10, 5, 2, 2),
            counts(1_000, 900, 5, 4, 2, 1),
        ))
        .await
        .unwrap();
    let v = reg.evaluate("det", "gates").await.unwrap().unwrap();
    assert!(v.promoted && v.evaluation.pass);
    let m = reg.get("det").await.unwrap();
    assert_eq!(
        (m.champion.clone(), m.challenger.clone()),
        (Some(sha('b')), None)
    );
    assert_eq!(m.alias_at(Alias::Champion, 8_999), Some(sha('a')));
    assert!(matches!(
        m.history.last(),
        Some(ModelEv::Alias {
            alias: Alias::Challenger,
            cause: AliasCause::Promoted,
            ..
        })
    ));
    let evaluated = m
        .history
        .iter()
        .filter(|e| matches!(e, ModelEv::Evaluated { .. }))
        .count();
    assert_eq!(evaluated, 2);
    // no challenger now: nothing to evaluate
    assert_eq!(reg.evaluate("det", "gates").await.unwrap(), None);
    // and the promotion can be rolled back in one step
    assert_eq!(
        reg.rollback("det", "r").await.unwrap().champion,
        Some(sha('a'))
    );
}

#[tokio::test]
async fn a_change_decided_on_a_stale_state_is_refused_by_the_store() {
    let store = MemModelStore::default();
    let ev = ModelEv::Gates {
        at_ms: 1,
        by: "r".into(),
        gates: vec![],
    };
    assert_eq!(
        store
            .append("m", std::slice::from_ref(&ev), 0)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .append("m", std::slice::from_ref(&ev), 0)
            .await
            .unwrap_err(),
        store::CONFLICT
    );
    assert_eq!(store.append("m", &[ev], 1).await.unwrap(), 2);
}

#[tokio::test]
async fn a_champion_is_due_for_a_rollout_only_when_its_plan_predates_an_automatic_move() {
    use crate::rollout::state::{OnError, WaveSpec};
    let clock = Clock::manual(1_000);
    let (reg, _) = registry(&clock);
    for c in ['a', 'b'] {
        reg.register("det", req(c), "root").await.unwrap();
    }
    reg.set_alias("det", Alias::Champion, Some(sha('a')), "root")
        .await
        .unwrap();
    reg.set_alias("det", Alias::Champion, Some(sha('b')), "root")
        .await
        .unwrap();
    // A rollback before any plan: nothing is rolled out.
    let m = reg.rollback("det", "root").await.unwrap();
    assert_eq!(m.deploy_due(), None);
    let plan = RolloutPlan {
        ships: Some(vec!["aurora".into()]),
        all: None,
        waves: vec![WaveSpec {
            percent: 100.0,
            success_threshold: 100.0,
            error_threshold: 0.0,
            timeout_s: 600,
            approval: false,
            incident_window_s: None,
        }],
        on_error: OnError::Pause,
    };
    let m = reg
        .set_rollout_plan("det", Some(plan.clone()), "root")
        .await
        .unwrap();
    assert_eq!(m.rollout, Some(plan.clone()));
    assert_eq!(m.deploy_due(), None, "the move came before the plan");
    // A champion set by hand is not rolled out; a rollback after the plan is.
    let m = reg
        .set_alias("det", Alias::Champion, Some(sha('b')), "root")
        .await
        .unwrap();
    assert_eq!(m.deploy_due(), None);
    let m = reg.rollback("det", "root").await.unwrap();
    assert_eq!(m.deploy_due(), Some((sha('a'), AliasCause::Rollback)));
    // Recorded once; a second record of the same champion is refused.
    let m = reg
        .record_deployed("det", &sha('a'), "shore-0-000001")
        .await
        .unwrap();
    assert_eq!(m.deploy_due(), None);
    assert!(matches!(
        reg.record_deployed("det", &sha('a'), "shore-1-000001")
            .await,
        Err(ModelError::Conflict(_))
    ));
    // Cleared: nothing is due after the next rollback.
    reg.set_rollout_plan("det", None, "root").await.unwrap();
    let m = reg.rollback("det", "root").await.unwrap();
    assert_eq!((m.rollout.clone(), m.deploy_due()), (None, None));
}
