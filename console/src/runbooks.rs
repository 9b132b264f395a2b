//! The runbook approval API (contracts §2):
//!
//! - `GET /api/runbooks` (viewer): the runbook catalogue, a JSON array (contracts §7).
//! - `GET /api/audit?since=SEQ&limit=N` (admin): the hash-chained audit log, records with
//!   `seq > SEQ` in order (at most `limit`, default and cap 1000).
//! - `GET /api/runbooks/executions?ship=&state=` (viewer): a JSON array of executions.
//! - `GET /api/incidents/{id}/runbooks` (viewer): the runbooks an incident suggests.
//! - `POST /api/runbooks/executions/{id}/approve` (operator; 403 for a viewer, 401
//!   without a token): 200 with the approved execution, 404 for an unknown id, 409 when
//!   it is not waiting for approval. The approver is the token's user; the change is
//!   pushed to WebSocket sessions as `{"type":"runbook", ...}` by the board.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use seawatch_actors::incident::model::Incident;
use seawatch_actors::runbook::exec::{ExecError, Executions, Proposal};
use seawatch_actors::runbook::policy::ShipFacts;
use seawatch_actors::runbook::service::Remediation;
use seawatch_actors::runbook::spec::Runbook;
use seawatch_actors::runbook::{ApprovalBoard, DecisionError, ExecutionState, ExecutionView};
use serde::Deserialize;
use std::sync::Arc;

use crate::auth::{Auth, Principal, Role};

/// Query of the listing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionQuery {
    /// Only this ship.
    pub ship: Option<String>,
    /// Only this state (`pending_approval`, `approved`, ...).
    pub state: Option<String>,
}

use crate::json_error as error;

async fn list(
    State((board, api)): State<(ApprovalBoard, Option<ExecApi>)>,
    q: Result<Query<ExecutionQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return error(
            StatusCode::BAD_REQUEST,
            "query: expected ship= and state= only",
        );
    };
    let state = match q.state.as_deref() {
        None | Some("all") => None,
        Some(s) => match ExecutionState::parse(s) {
            Some(st) => Some(st),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("state={s}: expected all, pending_approval, approved, rejected, running, succeeded, failed or cancelled"),
                )
            }
        },
    };
    let mut views: Vec<serde_json::Value> = board
        .list(q.ship.as_deref(), state)
        .iter()
        .filter_map(|e| serde_json::to_value(ExecutionView::from_execution(e)).ok())
        .collect();
    // executions of the remediation engine (contracts §7 states) follow, unfiltered by
    // the board's state names
    if let (Some(api), None) = (&api, q.state.as_deref()) {
        views.extend(
            api.executions
                .list()
                .iter()
                .filter_map(|e| serde_json::to_value(e).ok()),
        );
    }
    Json(views).into_response()
}

async fn approve(
    State((board, api)): State<(ApprovalBoard, Option<ExecApi>)>,
    Extension(by): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    if let Some(api) = api.filter(|a| a.executions.get(&id).is_some()) {
        return match api.executions.decide(&id, &by.name, true) {
            Ok(e) => Json(e).into_response(),
            Err(e) => exec_error(e),
        };
    }
    match board.approve(&id, &by.name) {
        Ok(e) => Json(ExecutionView::from_execution(&e)).into_response(),
        Err(e @ DecisionError::NotFound(_)) => error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ DecisionError::WrongState { .. }) => error(StatusCode::CONFLICT, e.to_string()),
    }
}

async fn catalogue(State(r): State<Remediation>) -> Response {
    let cat = r.catalogue();
    let list: Vec<&Runbook> = cat.runbooks.values().collect();
    Json(list).into_response()
}

/// Query of `GET /api/audit`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Records after this `seq` (default 0: from the first).
    pub since: Option<u64>,
    /// At most this many (default and cap 1000).
    pub limit: Option<usize>,
}

/// Most audit records one request returns.
pub const AUDIT_PAGE: usize = 1000;

async fn audit(
    State(r): State<Remediation>,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return error(
            StatusCode::BAD_REQUEST,
            "query: expected since=SEQ (a whole number) and limit=N only",
        );
    };
    let limit = q.limit.unwrap_or(AUDIT_PAGE).clamp(1, AUDIT_PAGE);
    match r.audit_since(q.since.unwrap_or(0), limit) {
        Ok(recs) => Json(recs).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `GET /api/runbooks` (viewer) and `GET /api/audit` (admin) over `remediation`.
pub fn remediation_routes(auth: &Auth, remediation: Remediation) -> Router {
    let view = Router::new()
        .route("/api/runbooks", get(catalogue))
        .with_state(remediation.clone());
    let admin = Router::new()
        .route("/api/audit", get(audit))
        .with_state(remediation);
    auth.protect(Role::Viewer, view)
        .merge(auth.protect(Role::Admin, admin))
}

/// An incident of the ship by id.
pub type IncidentLookup = Arc<dyn Fn(&str) -> Option<Incident> + Send + Sync>;

/// What the execution routes need: the executions, the ship's state for the policy, and
/// the clock.
#[derive(Clone)]
pub struct ExecApi {
    /// The executions.
    pub executions: Executions,
    /// The ship's links, open incidents (for the policy input).
    pub ship: Arc<dyn Fn() -> ShipFacts + Send + Sync>,
    /// Unix ms now.
    pub now_ms: Arc<dyn Fn() -> i64 + Send + Sync>,
    /// An incident of the ship by id (for its runbook suggestions).
    pub incident: IncidentLookup,
}

/// `GET /api/incidents/{id}/runbooks` (viewer): the runbooks the incident suggests, with
/// the root cause as target, defaults filled in, the parameters still to give, and the
/// executions already proposed for it (see [`Executions::suggest`]); 404 for an unknown
/// incident.
async fn suggestions(State(api): State<ExecApi>, Path(id): Path<String>) -> Response {
    match (api.incident)(&id) {
        Some(inc) => Json(api.executions.suggest(&inc)).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no incident {id}")),
    }
}

/// Body of `POST /api/runbooks/{name}/executions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposeBody {
    /// Target ids.
    pub targets: Vec<String>,
    /// Parameters.
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// The incident it remedies.
    #[serde(default)]
    pub incident: Option<String>,
}

fn exec_error(e: ExecError) -> Response {
    match e {
        ExecError::NoRunbook(_) | ExecError::NotFound(_) => {
            error(StatusCode::NOT_FOUND, e.to_string())
        }
        ExecError::Invalid(_) => error(StatusCode::BAD_REQUEST, e.to_string()),
        ExecError::Denied(x) => (
            StatusCode::FORBIDDEN,
            Json(serde_json::json!({
                "error": format!("denied by policy: {}", x.policy.reasons.join("; ")),
                "reasons": x.policy.reasons,
                "execution": x,
            })),
        )
            .into_response(),
        ExecError::OwnRequest(_) => error(StatusCode::FORBIDDEN, e.to_string()),
        ExecError::NotAwaiting { .. } => error(StatusCode::CONFLICT, e.to_string()),
        ExecError::Audit(_) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

async fn propose(
    State(api): State<ExecApi>,
    Extension(by): Extension<Principal>,
    Path(name): Path<String>,
    body: Result<Json<ProposeBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(b)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "body: expected {\"targets\":[...],\"params\":{...},\"incident\":ID?}",
        );
    };
    let p = Proposal {
        runbook: name,
        targets: b.targets,
        params: b.params,
        requester: by.name.clone(),
        role: by.role.map_or("none", Role::as_str).to_string(),
        incident: b.incident,
    };
    match api.executions.propose(p, (api.ship)(), (api.now_ms)()) {
        Ok(e) => (StatusCode::CREATED, Json(e)).into_response(),
        Err(e) => exec_error(e),
    }
}

async fn get_one(
    State((board, api)): State<(ApprovalBoard, Option<ExecApi>)>,
    Path(id): Path<String>,
) -> Response {
    if let Some(e) = api.as_ref().and_then(|a| a.executions.get(&id)) {
        return Json(e).into_response();
    }
    match board.get(&id) {
        Some(e) => Json(ExecutionView::from_execution(&e)).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no runbook execution {id}")),
    }
}

async fn reject(
    State(api): State<ExecApi>,
    Extension(by): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    match api.executions.decide(&id, &by.name, false) {
        Ok(e) => Json(e).into_response(),
        Err(e) => exec_error(e),
    }
}

/// The execution routes of contracts §2 over `api` (operator): propose, reject, and one
/// execution (viewer). Approval and the listing are [`routes`] (given the same `api`).
pub fn execution_routes(auth: &Auth, board: ApprovalBoard, api: ExecApi) -> Router {
    let view = Router::new()
        .route("/api/runbooks/executions/{id}", get(get_one))
        .with_state((board, Some(api.clone())))
        .merge(
            Router::new()
                .route("/api/incidents/{id}/runbooks", get(suggestions))
                .with_state(api.clone()),
        );
    let act = Router::new()
        .route("/api/runbooks/{name}/executions", post(propose))
        .route("/api/runbooks/executions/{id}/reject", post(reject))
        .with_state(api);
    auth.protect(Role::Viewer, view)
        .merge(auth.protect(Role::Operator, act))
}

/// The runbook routes over `board` (and the remediation executions of `api`, when given),
/// behind `auth`: listing for viewers, approval for operators. Mount with
/// `app.merge(runbooks::routes(&auth, board, api))`.
pub fn routes(auth: &Auth, board: ApprovalBoard, api: Option<ExecApi>) -> Router {
    let view = Router::new()
        .route("/api/runbooks/executions", get(list))
        .with_state((board.clone(), api.clone()));
    let act = Router::new()
        .route("/api/runbooks/executions/{id}/approve", post(approve))
        .with_state((board, api));
    auth.protect(Role::Viewer, view)
        .merge(auth.protect(Role::Operator, act))
}

#[cfg(test)]
mod tests {
    use std::path::Path as FsPath;

    use seawatch_actors::runbook::service::{RemediationMetrics, RemediationPaths};

    use seawatch_actors::push::{PushBus, PushKind};
    use seawatch_actors::runbook::{ExecutionRequest, RunbookMetrics};
    use seawatch_runtime::{Clock, Metrics};

    use super::*;
    use crate::auth::AuthConfig;
    use crate::metrics::ConsoleMetrics;
    use crate::testutil::{http, serve};

    fn auth(dir: &FsPath, clock: Clock) -> Auth {
        let m = Metrics::new();
        Auth::open(
            dir,
            &AuthConfig::default(),
            clock,
            ConsoleMetrics::register(&m),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn approve_is_for_operators_once_and_is_pushed() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::manual(1_741_932_000_000);
        let auth = auth(dir.path(), clock.clone());
        let bus = PushBus::new(64);
        let metrics = Metrics::new();
        let board = ApprovalBoard::new(
            bus.clone(),
            clock.clone(),
            RunbookMetrics::register(&metrics),
        );
        let addr = serve(routes(&auth, board.clone(), None)).await;
        let exec = board.request(ExecutionRequest {
            ship: "aurora".into(),
            runbook: "restart-interface".into(),
            target: "core-sw-1".into(),
            incident: Some("aurora-1".into()),
        });
        let mut pushes = bus.subscribe();
        let viewer = auth.issue("deck", Role::Viewer);
        let operator = auth.issue("alice", Role::Operator);
        let path = format!("/api/runbooks/executions/{}/approve", exec.id);

        assert_eq!(http(addr, "POST", &path, None, "").await.0, 401);
        assert_eq!(http(addr, "POST", &path, Some("sw_bogus"), "").await.0, 401);
        assert_eq!(http(addr, "POST", &path, Some(&viewer), "").await.0, 403);
        let (code, body) = http(
            addr,
            "POST",
            "/api/runbooks/executions/aurora-rb-99/approve",
            Some(&operator),
            "",
        )
        .await;
        assert_eq!(code, 404, "{body}");
        // still pending: nothing refused above changed it
        assert_eq!(
            board.get(&exec.id).unwrap().state,
            ExecutionState::PendingApproval
        );

        clock.advance_ms(30_000);
        let (code, body) = http(addr, "POST", &path, Some(&operator), "").await;
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["id"], exec.id.as_str());
        assert_eq!(v["state"], "approved");
        assert_eq!(v["decided_by"], "alice");
        assert_eq!(v["decided_at"], "2025-03-14T06:00:30.000Z");
        assert_eq!(v["runbook"], "restart-interface");
        assert_eq!(v["target"], "core-sw-1");

        let p = pushes.recv().await.unwrap();
        assert_eq!(p.kind, PushKind::Runbook);
        let w: serde_json::Value = serde_json::from_str(&p.to_wire()).unwrap();
        assert_eq!(w["type"], "runbook");
        assert_eq!(w["id"], exec.id.as_str());
        assert_eq!(w["state"], "approved");
        assert_eq!(w["decided_by"], "alice");
        assert!(pushes.try_recv().is_err(), "one push per change");

        let (code, body) = http(addr, "POST", &path, Some(&operator), "").await;
        assert_eq!(code, 409, "{body}");
        assert!(body.contains("approved"), "{body}");

        // the listing: viewers may read it, anonymous callers may not
        assert_eq!(
            http(addr, "GET", "/api/runbooks/executions", None, "")
                .await
                .0,
            401
        );
        let (code, body) = http(
            addr,
            "GET",
            "/api/runbooks/executions?state=approved",
            Some(&viewer),
            "",
        )
        .await;
        assert_eq!(code, 200, "{body}");
        let list: Vec<ExecutionView> = serde_json::from_str(&body).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].decided_by.as_deref(), Some("alice"));
        let (code, body) = http(
            addr,
            "GET",
            "/api/runbooks/executions?state=pending_approval",
            Some(&viewer),
            "",
        )
        .await;
        assert_eq!((code, body.as_str()), (200, "[]"));
        let (code, _) = http(
            addr,
            "GET",
            "/api/runbooks/executions?state=bogus",
            Some(&viewer),
            "",
        )
        .await;
        assert_eq!(code, 400);
        let text = metrics.encode();
        for series in [
            r#"seawatch_runbook_decisions_total{result="approved"} 1"#,
            r#"seawatch_runbook_decisions_total{result="not_found"} 1"#,
            r#"seawatch_runbook_decisions_total{result="not_pending"} 1"#,
        ] {
            assert!(text.contains(series), "{series} not in\n{text}");
        }
    }

    #[tokio::test]
    async fn catalogue_for_viewers_and_audit_for_admins() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::manual(1_741_932_000_000);
        let auth = auth(dir.path(), clock.clone());
        let repo = FsPath::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
        let paths = RemediationPaths {
            runbooks: repo.join("runbooks"),
            policies: repo.join("policies"),
            audit: dir.path().join("audit"),
        };
        let metrics = Metrics::new();
        let (rem, _) =
            Remediation::open(paths, clock, RemediationMetrics::register(&metrics)).unwrap();
        for i in 0..3 {
            rem.audit("test", "alice", serde_json::json!({ "i": i }))
                .unwrap();
        }
        let addr = serve(remediation_routes(&auth, rem)).await;
        let viewer = auth.issue("deck", Role::Viewer);
        let operator = auth.issue("alice", Role::Operator);
        let admin = auth.issue("root", Role::Admin);

        assert_eq!(http(addr, "GET", "/api/runbooks", None, "").await.0, 401);
        let (code, body) = http(addr, "GET", "/api/runbooks", Some(&viewer), "").await;
        assert_eq!(code, 200, "{body}");
        let list: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        let bounce = list
            .iter()
            .find(|r| r["name"] == "bounce-access-port")
            .expect("starter runbook served");
        assert_eq!(bounce["driver"], "ssh");
        assert_eq!(bounce["params"]["interface"]["type"], "string");
        assert_eq!(
            bounce["action"][0]["command"],
            "interface {interface}\nshutdown"
        );
        // every starter runbook file is in the catalogue
        let files =
            std::fs::read_dir(FsPath::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/runbooks"))
                .unwrap()
                .filter(|f| {
                    f.as_ref()
                        .unwrap()
                        .path()
                        .extension()
                        .is_some_and(|x| x == "toml")
                })
                .count();
        assert_eq!(list.len(), files);

        assert_eq!(
            http(addr, "GET", "/api/audit", Some(&operator), "").await.0,
            403
        );
        let (code, body) = http(addr, "GET", "/api/audit?since=1", Some(&admin), "").await;
        assert_eq!(code, 200, "{body}");
        let recs: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0]["seq"], 2);
        assert_eq!(recs[1]["prev_hash"], recs[0]["hash"]);
        let (code, _) = http(addr, "GET", "/api/audit?since=x", Some(&admin), "").await;
        assert_eq!(code, 400);
    }
}
