//! The runbook API (contracts §2, §7) over the remediation engines of the ships a node
//! hosts (one [`ExecApi`] a ship: `seawatch ship` has one, `seawatch demo` one per ship):
//!
//! - `GET /api/runbooks?ship=` (viewer): the runbook catalogue, a JSON array (the ships'
//!   catalogues merged by name; `ship=` for one ship's).
//! - `GET /api/audit?ship=&since=SEQ&limit=N` (admin): a ship's hash-chained audit log,
//!   records with `seq > SEQ` in order (at most `limit`, default and cap 1000); `ship=`
//!   names the ship where a node hosts several (else the first).
//! - `GET /api/runbooks/executions?ship=&state=` (viewer): a JSON array of executions,
//!   each with its `ship`.
//! - `GET /api/runbooks/executions/{id}` (viewer): one execution.
//! - `GET /api/incidents/{id}/runbooks` (viewer): the runbooks an incident suggests.
//! - `POST /api/runbooks/{name}/executions` `{"targets","params","incident"?,"ship"?}`
//!   (operator): 201 with the execution, or 403 with the policy's reasons. The ship is the
//!   incident's, else `ship`, else the node's only one.
//! - `POST /api/runbooks/executions/{id}/approve` | `/reject` (operator; 403 for a viewer
//!   or the requester, 401 without a token): 200 with the execution, 404 for an unknown id,
//!   409 when it is not awaiting approval. Every change is pushed to WebSocket sessions as
//!   `{"type":"runbook", ...}` by the executions.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use seawatch_actors::incident::model::Incident;
use seawatch_actors::runbook::exec::{ExecError, ExecState, Executions, Proposal};
use seawatch_actors::runbook::policy::ShipFacts;
use seawatch_actors::runbook::spec::Runbook;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::auth::{Auth, Principal, Role};
use crate::json_error as error;

/// An incident of the ship by id.
pub type IncidentLookup = Arc<dyn Fn(&str) -> Option<Incident> + Send + Sync>;

/// What the routes need of one ship: its executions, its state for the policy, the
/// clock and its incidents.
#[derive(Clone)]
pub struct ExecApi {
    /// The executions (and through them the catalogue, policy and audit log).
    pub executions: Executions,
    /// The ship's links, open incidents (for the policy input).
    pub ship: Arc<dyn Fn() -> ShipFacts + Send + Sync>,
    /// Unix ms now.
    pub now_ms: Arc<dyn Fn() -> i64 + Send + Sync>,
    /// An incident of the ship by id (for its runbook suggestions); another ship's
    /// incident is `None`.
    pub incident: IncidentLookup,
}

/// A refused request: its status and why.
type Refusal = (StatusCode, String);

/// The ships' engines, in the node's order.
#[derive(Clone)]
struct Ships(Arc<Vec<ExecApi>>);

impl Ships {
    fn named(&self, ship: &str) -> Option<&ExecApi> {
        self.0.iter().find(|a| a.executions.ship() == ship)
    }

    /// The ship named by `ship`, else the only (or first) one; an unknown name is 404.
    fn pick(&self, ship: Option<&str>) -> Result<&ExecApi, Refusal> {
        match ship {
            Some(s) => self
                .named(s)
                .ok_or_else(|| (StatusCode::NOT_FOUND, format!("no ship {s} on this node"))),
            None => self
                .0
                .first()
                .ok_or_else(|| (StatusCode::NOT_FOUND, "no ship on this node".into())),
        }
    }

    /// The ship whose executions hold `id`.
    fn holding(&self, id: &str) -> Option<&ExecApi> {
        self.0.iter().find(|a| a.executions.get(id).is_some())
    }
}

/// Query of the listing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionQuery {
    /// Only this ship.
    pub ship: Option<String>,
    /// Only this state (contracts §7: `awaiting_approval`, `succeeded`, ...).
    pub state: Option<String>,
}

const STATES: &str = "all, proposed, awaiting_approval, prechecks, dry_run, executing, verifying, succeeded, rolled_back, failed, rejected or expired";

/// The query of an execution listing and the state it asks for (`None`: all), or what a
/// 400 says is accepted. Shared by the ship's and the shore's listings.
pub(crate) fn execution_query(
    q: Result<Query<ExecutionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<(ExecutionQuery, Option<ExecState>), String> {
    let Ok(Query(q)) = q else {
        return Err("query: expected ship= and state= only".into());
    };
    let state = match q.state.as_deref() {
        None | Some("all") => None,
        Some(s) => match serde_json::from_value(serde_json::Value::from(s)) {
            Ok(st) => Some(st),
            Err(_) => return Err(format!("state={s}: expected {STATES}")),
        },
    };
    Ok((q, state))
}

async fn list(
    State(ships): State<Ships>,
    q: Result<Query<ExecutionQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let (q, state) = match execution_query(q) {
        Ok(v) => v,
        Err(msg) => return error(StatusCode::BAD_REQUEST, msg),
    };
    let views: Vec<serde_json::Value> = ships
        .0
        .iter()
        .filter(|a| q.ship.as_deref().is_none_or(|s| a.executions.ship() == s))
        .flat_map(|a| {
            a.executions
                .list()
                .into_iter()
                .filter(|e| state.is_none_or(|st| e.state == st))
                .map(|e| a.executions.view(&e))
                .collect::<Vec<_>>()
        })
        .collect();
    Json(views).into_response()
}

async fn get_one(State(ships): State<Ships>, Path(id): Path<String>) -> Response {
    match ships
        .holding(&id)
        .and_then(|a| a.executions.get(&id).map(|e| a.executions.view(&e)))
    {
        Some(v) => Json(v).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no runbook execution {id}")),
    }
}

async fn decide(ships: Ships, by: Principal, id: String, approve: bool) -> Response {
    let Some(api) = ships.holding(&id) else {
        return error(StatusCode::NOT_FOUND, format!("no runbook execution {id}"));
    };
    match api.executions.decide(&id, &by.name, approve) {
        Ok(e) => Json(api.executions.view(&e)).into_response(),
        Err(e) => exec_error(e),
    }
}

async fn approve(
    State(ships): State<Ships>,
    Extension(by): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    decide(ships, by, id, true).await
}

async fn reject(
    State(ships): State<Ships>,
    Extension(by): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    decide(ships, by, id, false).await
}

/// Query of `GET /api/runbooks`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueQuery {
    /// Only this ship's catalogue.
    pub ship: Option<String>,
}

async fn catalogue(
    State(ships): State<Ships>,
    q: Result<Query<CatalogueQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return error(StatusCode::BAD_REQUEST, "query: expected ship= only");
    };
    let cats: Vec<_> = ships
        .0
        .iter()
        .filter(|a| q.ship.as_deref().is_none_or(|s| a.executions.ship() == s))
        .map(|a| a.executions.remediation().catalogue())
        .collect();
    if cats.is_empty() {
        if let Some(s) = q.ship {
            return error(StatusCode::NOT_FOUND, format!("no ship {s} on this node"));
        }
    }
    // by name; where ships share a runbook folder each runbook is listed once
    let mut by_name: BTreeMap<&str, &Runbook> = BTreeMap::new();
    for c in &cats {
        for rb in c.runbooks.values() {
            by_name.entry(rb.name.as_str()).or_insert(rb);
        }
    }
    Json(by_name.into_values().collect::<Vec<_>>()).into_response()
}

/// Query of `GET /api/audit`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Whose audit log (default: the node's first ship).
    pub ship: Option<String>,
    /// Records after this `seq` (default 0: from the first).
    pub since: Option<u64>,
    /// At most this many (default and cap 1000).
    pub limit: Option<usize>,
}

/// Most audit records one request returns.
pub const AUDIT_PAGE: usize = 1000;

async fn audit(
    State(ships): State<Ships>,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return error(
            StatusCode::BAD_REQUEST,
            "query: expected ship=, since=SEQ (a whole number) and limit=N only",
        );
    };
    let api = match ships.pick(q.ship.as_deref()) {
        Ok(a) => a,
        Err((code, why)) => return error(code, why),
    };
    let limit = q.limit.unwrap_or(AUDIT_PAGE).clamp(1, AUDIT_PAGE);
    match api
        .executions
        .remediation()
        .audit_since(q.since.unwrap_or(0), limit)
    {
        Ok(recs) => Json(recs).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `GET /api/incidents/{id}/runbooks` (viewer): the runbooks the incident suggests, with
/// the root cause as target, defaults filled in, the parameters still to give, and the
/// executions already proposed for it (see [`Executions::suggest`]); 404 for an unknown
/// incident.
async fn suggestions(State(ships): State<Ships>, Path(id): Path<String>) -> Response {
    match ships
        .0
        .iter()
        .find_map(|a| (a.incident)(&id).map(|inc| (a, inc)))
    {
        Some((api, inc)) => Json(api.executions.suggest(&inc)).into_response(),
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
    /// The incident it remedies (its ship runs it).
    #[serde(default)]
    pub incident: Option<String>,
    /// The ship, where the node hosts several and no incident is given.
    #[serde(default)]
    pub ship: Option<String>,
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

/// The ship a proposal goes to: its incident's, else the one it names, else the only one.
fn ship_of<'a>(ships: &'a Ships, b: &ProposeBody) -> Result<&'a ExecApi, Refusal> {
    let bad = |why: String| (StatusCode::BAD_REQUEST, why);
    if let Some(inc) = &b.incident {
        let Some(api) = ships.0.iter().find(|a| (a.incident)(inc).is_some()) else {
            return Err(bad(format!("incident: no incident {inc}")));
        };
        if b.ship
            .as_deref()
            .is_some_and(|s| s != api.executions.ship())
        {
            return Err(bad(format!(
                "ship: incident {inc} is {}'s",
                api.executions.ship()
            )));
        }
        return Ok(api);
    }
    match (&b.ship, ships.0.len()) {
        (Some(s), _) => ships
            .named(s)
            .ok_or_else(|| bad(format!("ship: no ship {s} on this node"))),
        (None, 1) => Ok(&ships.0[0]),
        (None, _) => Err(bad(
            "ship: this node hosts several ships; give \"incident\" or \"ship\"".into(),
        )),
    }
}

async fn propose(
    State(ships): State<Ships>,
    Extension(by): Extension<Principal>,
    Path(name): Path<String>,
    body: Result<Json<ProposeBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(b)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "body: expected {\"targets\":[...],\"params\":{...},\"incident\":ID?,\"ship\":ID?}",
        );
    };
    let api = match ship_of(&ships, &b) {
        Ok(a) => a,
        Err((code, why)) => return error(code, why),
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
        Ok(e) => (StatusCode::CREATED, Json(api.executions.view(&e))).into_response(),
        Err(e) => exec_error(e),
    }
}

/// Every runbook route of contracts §2 over `ships` (one engine a ship the node hosts),
/// behind `auth`: reading for viewers, proposing and deciding for operators, the audit
/// log for admins. Mount with `app.merge(runbooks::routes(&auth, ships))`.
pub fn routes(auth: &Auth, ships: Vec<ExecApi>) -> Router {
    let ships = Ships(Arc::new(ships));
    let view = Router::new()
        .route("/api/runbooks", get(catalogue))
        .route("/api/runbooks/executions", get(list))
        .route("/api/runbooks/executions/{id}", get(get_one))
        .route("/api/incidents/{id}/runbooks", get(suggestions))
        .with_state(ships.clone());
    let act = Router::new()
        .route("/api/runbooks/{name}/executions", post(propose))
        .route("/api/runbooks/executions/{id}/approve", post(approve))
        .route("/api/runbooks/executions/{id}/reject", post(reject))
        .with_state(ships.clone());
    let admin = Router::new()
        .route("/api/audit", get(audit))
        .with_state(ships);
    auth.protect(Role::Viewer, view)
        .merge(auth.protect(Role::Operator, act))
        .merge(auth.protect(Role::Admin, admin))
}

#[cfg(test)]
mod tests {
    use std::path::Path as FsPath;

    use seawatch_actors::push::{PushBus, PushKind};
    use seawatch_actors::runbook::exec::TargetAccess;
    use seawatch_actors::runbook::service::{Remediation, RemediationMetrics, RemediationPaths};
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

    /// `ship`'s engine over the starter runbooks and policy, its audit log in `dir`, its
    /// one element `ap-1` (an access point), no incidents.
    fn engine(ship: &str, dir: &FsPath, clock: &Clock, bus: &PushBus) -> (ExecApi, Remediation) {
        let repo = FsPath::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
        let paths = RemediationPaths {
            runbooks: repo.join("runbooks"),
            policies: repo.join("policies"),
            audit: dir.join(ship),
        };
        let (rem, _) = Remediation::open(
            paths,
            clock.clone(),
            RemediationMetrics::register(&Metrics::new()),
        )
        .unwrap();
        let executions = Executions::recover(
            ship,
            rem.clone(),
            vec![TargetAccess {
                id: "ap-1".into(),
                kind: "ap".into(),
                zone: "it".into(),
                address: None,
                user: None,
            }],
        )
        .unwrap()
        .with_push(bus.clone());
        let now = clock.clone();
        let api = ExecApi {
            executions,
            ship: Arc::new(ShipFacts::default),
            now_ms: Arc::new(move || now.now_ms()),
            incident: Arc::new(|_| None),
        };
        (api, rem)
    }

    fn json(body: &str) -> serde_json::Value {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }

    #[tokio::test]
    async fn two_ships_propose_approve_once_by_another_operator_and_push() {
        let dir = tempfile::tempdir().unwrap();
        // 10:00 UTC: outside the change window, fine for a low-risk runbook
        let clock = Clock::manual(1_741_946_400_000);
        let auth = auth(dir.path(), clock.clone());
        let bus = PushBus::new(64);
        let (a, _) = engine("aurora", dir.path(), &clock, &bus);
        let (b, _) = engine("borealis", dir.path(), &clock, &bus);
        let addr = serve(routes(&auth, vec![a, b])).await;
        let viewer = auth.issue("deck", Role::Viewer);
        let alice = auth.issue("alice", Role::Operator);
        let bob = auth.issue("bob", Role::Operator);
        let body = r#"{"targets":["ap-1"],"params":{"minutes":30}}"#;

        // two ships and neither an incident nor a ship: which one is not guessed
        let (code, out) = http(
            addr,
            "POST",
            "/api/runbooks/silence-device-mail/executions",
            Some(&alice),
            body,
        )
        .await;
        assert_eq!(code, 400, "{out}");
        assert!(out.contains("several ships"), "{out}");
        let with_ship = r#"{"targets":["ap-1"],"params":{"minutes":30},"ship":"borealis"}"#;
        let path = "/api/runbooks/silence-device-mail/executions";
        assert_eq!(
            http(addr, "POST", path, Some(&viewer), with_ship).await.0,
            403
        );
        let mut pushes = bus.subscribe();
        let (code, out) = http(addr, "POST", path, Some(&alice), with_ship).await;
        assert_eq!(code, 201, "{out}");
        let e = json(&out);
        let id = e["id"].as_str().unwrap().to_string();
        assert!(id.starts_with("borealis-"), "{id}");
        assert_eq!(e["ship"], "borealis");
        assert_eq!(e["state"], "awaiting_approval");
        assert_eq!(e["policy"]["allow"], true);
        assert_eq!(e["plan"][1]["command"], "silence ap-1 30");
        let p = pushes.recv().await.unwrap();
        assert_eq!(p.kind, PushKind::Runbook);
        assert_eq!(p.ship.as_deref(), Some("borealis"));

        let approve = format!("/api/runbooks/executions/{id}/approve");
        assert_eq!(http(addr, "POST", &approve, None, "").await.0, 401);
        assert_eq!(http(addr, "POST", &approve, Some(&viewer), "").await.0, 403);
        let (code, out) = http(addr, "POST", &approve, Some(&alice), "").await;
        assert_eq!(code, 403, "the requester may not approve: {out}");
        let (code, out) = http(
            addr,
            "POST",
            "/api/runbooks/executions/borealis-x-99/approve",
            Some(&bob),
            "",
        )
        .await;
        assert_eq!(code, 404, "{out}");
        let (code, out) = http(addr, "POST", &approve, Some(&bob), "").await;
        assert_eq!(code, 200, "{out}");
        let e = json(&out);
        assert_eq!(
            e["state"], "prechecks",
            "one approval starts it (no executor here)"
        );
        assert_eq!(e["approvals"][0]["by"], "bob");
        let (code, out) = http(addr, "POST", &approve, Some(&bob), "").await;
        assert_eq!(code, 409, "{out}");

        // the listing: viewers read it, by ship and by state (contracts §7 names)
        assert_eq!(
            http(addr, "GET", "/api/runbooks/executions", None, "")
                .await
                .0,
            401
        );
        for (q, n) in [
            ("", 1),
            ("?ship=borealis", 1),
            ("?ship=aurora", 0),
            ("?state=prechecks", 1),
            ("?state=awaiting_approval", 0),
        ] {
            let (code, out) = http(
                addr,
                "GET",
                &format!("/api/runbooks/executions{q}"),
                Some(&viewer),
                "",
            )
            .await;
            assert_eq!(code, 200, "{q}: {out}");
            assert_eq!(json(&out).as_array().unwrap().len(), n, "{q}: {out}");
        }
        let (code, out) = http(
            addr,
            "GET",
            "/api/runbooks/executions?state=pending_approval",
            Some(&viewer),
            "",
        )
        .await;
        assert_eq!(code, 400, "{out}");
        let (code, out) = http(
            addr,
            "GET",
            &format!("/api/runbooks/executions/{id}"),
            Some(&viewer),
            "",
        )
        .await;
        assert_eq!(code, 200, "{out}");
        assert_eq!(json(&out)["ship"], "borealis");

        // a rejection by another operator ends a second one
        let (_, out) = http(addr, "POST", path, Some(&alice), with_ship).await;
        let second = json(&out)["id"].as_str().unwrap().to_string();
        let (code, out) = http(
            addr,
            "POST",
            &format!("/api/runbooks/executions/{second}/reject"),
            Some(&bob),
            "",
        )
        .await;
        assert_eq!(code, 200, "{out}");
        assert_eq!(json(&out)["state"], "rejected");
    }

    #[tokio::test]
    async fn catalogue_for_viewers_and_audit_for_admins() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::manual(1_741_932_000_000);
        let auth = auth(dir.path(), clock.clone());
        let bus = PushBus::new(64);
        let (a, rem) = engine("aurora", dir.path(), &clock, &bus);
        let (b, other) = engine("borealis", dir.path(), &clock, &bus);
        for i in 0..3 {
            rem.audit("test", "alice", serde_json::json!({ "i": i }))
                .unwrap();
        }
        other
            .audit("test", "bob", serde_json::json!({ "i": 0 }))
            .unwrap();
        let addr = serve(routes(&auth, vec![a, b])).await;
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
        // every starter runbook file is in the catalogue, once though two ships share it
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
        let (code, _) = http(addr, "GET", "/api/runbooks?ship=nope", Some(&viewer), "").await;
        assert_eq!(code, 404);

        assert_eq!(
            http(addr, "GET", "/api/audit", Some(&operator), "").await.0,
            403
        );
        let (code, body) = http(addr, "GET", "/api/audit?since=1", Some(&admin), "").await;
        assert_eq!(code, 200, "{body}");
        let recs: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        assert_eq!(recs.len(), 2, "the first ship's log by default");
        assert_eq!(recs[0]["seq"], 2);
        assert_eq!(recs[1]["prev_hash"], recs[0]["hash"]);
        let (code, body) = http(addr, "GET", "/api/audit?ship=borealis", Some(&admin), "").await;
        assert_eq!(code, 200, "{body}");
        let recs: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0]["actor"], "bob");
        let (code, _) = http(addr, "GET", "/api/audit?since=x", Some(&admin), "").await;
        assert_eq!(code, 400);
        let (code, _) = http(addr, "GET", "/api/audit?ship=nope", Some(&admin), "").await;
        assert_eq!(code, 404);
    }
}
