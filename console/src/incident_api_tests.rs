//! `GET /api/incidents/{id}` behind the console's auth, as ship and demo mount it
//! (contracts §2): one incident with ranked `candidates` and `evidence` for a viewer,
//! 404 for an unknown id, 401 without a valid token; the list keeps its shape.

use std::path::Path;

use seawatch_actors::incident::{
    Candidate, Incident, IncidentBoard, IncidentSeverity, IncidentState,
};
use seawatch_runtime::{Clock, Metrics};

use crate::auth::{Auth, AuthConfig, Role};
use crate::metrics::ConsoleMetrics;
use crate::testutil::{http, serve};

fn auth(dir: &Path) -> Auth {
    let m = Metrics::new();
    Auth::open(
        dir,
        &AuthConfig::default(),
        Clock::manual(1_741_932_000_000),
        ConsoleMetrics::register(&m),
    )
    .unwrap()
}

fn incident() -> Incident {
    Incident {
        id: "aurora-1".into(),
        ship: "aurora".into(),
        root_cause: "core-sw-1".into(),
        severity: IncidentSeverity::Critical,
        state: IncidentState::Open,
        alerts: 15,
        opened_at_ms: 1_741_932_123_000,
        resolved_at_ms: None,
        active_since_ms: vec![1_741_932_123_000],
        members: vec!["core-sw-1".into(), "dist-sw-2".into()],
        summary: "core-sw-1 (switch) is unreachable; 1 switch behind it affected".into(),
        merged_into: None,
        candidates: vec![
            Candidate {
                element: "core-sw-1".into(),
                score: 1.0,
            },
            Candidate {
                element: "dist-sw-2".into(),
                score: 0.85,
            },
        ],
        evidence: vec![
            "core-sw-1 stopped answering probes at 06:02:03".into(),
            "1 device behind it (dist-sw-2) failed within 4 s".into(),
        ],
        classes: vec![seawatch_model::AlertClass::Unreachable],
    }
}

#[tokio::test]
async fn one_incident_with_candidates_and_evidence_for_a_viewer() {
    let dir = tempfile::tempdir().unwrap();
    let auth = auth(dir.path());
    let board = IncidentBoard::new();
    board.upsert(&incident());
    let app = auth.protect(
        Role::Viewer,
        seawatch_actors::incident::api::routes(board.clone()),
    );
    let addr = serve(app).await;
    let viewer = auth.issue("deck", Role::Viewer);

    let (code, body) = http(addr, "GET", "/api/incidents/aurora-1", Some(&viewer), "").await;
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["id"], "aurora-1");
    assert_eq!(v["root_cause"], "core-sw-1");
    assert_eq!(v["state"], "open");
    assert_eq!(v["opened_at"], "2025-03-14T06:02:03.000Z");
    assert!(v["resolved_at"].is_null());
    assert_eq!(
        v["candidates"],
        serde_json::json!([
            {"element": "core-sw-1", "score": 1.0},
            {"element": "dist-sw-2", "score": 0.85}
        ])
    );
    assert_eq!(
        v["evidence"][0],
        "core-sw-1 stopped answering probes at 06:02:03"
    );
    assert_eq!(v["evidence"].as_array().unwrap().len(), 2);

    let (code, body) = http(addr, "GET", "/api/incidents/aurora-99", Some(&viewer), "").await;
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("no incident aurora-99"), "{body}");

    assert_eq!(
        http(addr, "GET", "/api/incidents/aurora-1", None, "")
            .await
            .0,
        401
    );
    assert_eq!(
        http(addr, "GET", "/api/incidents/aurora-1", Some("sw_bogus"), "")
            .await
            .0,
        401
    );

    // the list keeps the contract's fields (and may carry the new ones)
    let (code, body) = http(addr, "GET", "/api/incidents", Some(&viewer), "").await;
    assert_eq!(code, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    for key in [
        "id",
        "ship",
        "root_cause",
        "severity",
        "state",
        "alerts",
        "opened_at",
        "resolved_at",
    ] {
        assert!(list[0].get(key).is_some(), "{key}: {body}");
    }
}

#[tokio::test]
async fn the_detail_carries_the_timeline_and_the_list_does_not() {
    use seawatch_actors::incident::{IncidentEvent, IncidentEventKind};
    let dir = tempfile::tempdir().unwrap();
    let auth = auth(dir.path());
    let board = IncidentBoard::new();
    let mut inc = incident();
    inc.root_cause = "dist-sw-2".into();
    let ev = |ts_ms: i64, kind: IncidentEventKind, inc: &Incident| IncidentEvent {
        traceparent: None,
        ts_ms,
        kind,
        incident: inc.clone(),
    };
    board.record(&ev(1_741_932_123_000, IncidentEventKind::Opened, &inc));
    board.record(&ev(
        1_741_932_124_000,
        IncidentEventKind::AlertAttached {
            subject: "ap-7".into(),
        },
        &inc,
    ));
    let inc = incident();
    board.record(&ev(
        1_741_932_127_000,
        IncidentEventKind::RootCauseChanged {
            from: "dist-sw-2".into(),
        },
        &inc,
    ));
    board.upsert(&inc);
    let addr = serve(auth.protect(
        Role::Viewer,
        seawatch_actors::incident::api::routes(board.clone()),
    ))
    .await;
    let viewer = auth.issue("deck", Role::Viewer);
    let (code, body) = http(addr, "GET", "/api/incidents/aurora-1", Some(&viewer), "").await;
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let t = v["timeline"].as_array().unwrap();
    let kinds: Vec<&str> = t.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["opened", "alert", "root_cause"]);
    assert_eq!(t[0]["at"], "2025-03-14T06:02:03.000Z");
    assert_eq!(t[1]["source"], "ap-7");
    assert_eq!(
        t[2]["text"],
        "root cause changed from dist-sw-2 to core-sw-1"
    );
    let (_, body) = http(addr, "GET", "/api/incidents", Some(&viewer), "").await;
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(list[0].get("timeline").is_none(), "{body}");
    // A replaying correlator starts the ship's timelines afresh.
    board.clear_timelines("aurora");
    assert!(board.timeline("aurora-1").is_empty());
}
