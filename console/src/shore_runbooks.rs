//! Runbooks on a shore node (contracts §2, §7): shore proposes executions to ships and
//! lists what the ships' synced audit records say about theirs. Shore runs nothing
//! itself: every execution lives, is decided and runs on its ship.
//!
//! - `POST /api/runbooks/{name}/executions` `{"ship","targets","params"?,"incident"?,
//!   "ttl_s"?}` (operator): 202 `{"command","ship","state":"pending"}`. The proposal goes
//!   to the ship as a command over the sync (`propose_execution`; queued while the link
//!   is down, for `ttl_s`, default 3600), requested by the shore user with their shore
//!   role; the ship's own policy decides. The ship's answer is at
//!   `GET /api/ships/{ship}/commands/{command}`: `result` is
//!   `{"execution","state","reasons"}` (`ok` false when the ship's policy denied it).
//! - `GET /api/runbooks/executions?ship=&state=` (viewer): the executions received from
//!   the ships this node serves, each with its `ship`, as of the last audit record that
//!   arrived.
//! - `GET /api/runbooks/executions/{id}` (viewer): one of them.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use seawatch_actors::runbook::remote::ShoreExecutions;
use seawatch_actors::sync::shore::Commands;
use seawatch_actors::sync::wire::Action;
use seawatch_runtime::Clock;
use serde::Deserialize;

use crate::auth::{Auth, Principal, Role};
use crate::json_error as error;
use crate::runbooks::ExecutionQuery;

/// What the shore's runbook routes need.
#[derive(Clone)]
pub struct ShoreRunbookApi {
    /// The command queue to the ships.
    pub commands: Commands,
    /// The executions received from the ships.
    pub executions: ShoreExecutions,
    /// Shore time.
    pub clock: Clock,
}

/// A proposal to a ship.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShoreProposeBody {
    /// The ship.
    pub ship: String,
    /// Target ids on the ship.
    pub targets: Vec<String>,
    /// Parameters.
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// The ship's incident it remedies.
    #[serde(default)]
    pub incident: Option<String>,
    /// Seconds the command may wait for the ship's link (default 3600, at most a week).
    #[serde(default)]
    pub ttl_s: Option<u64>,
}

fn bad_id(what: &str, id: &str) -> Option<String> {
    (id.is_empty() || id.len() > 128 || id.chars().any(char::is_control))
        .then(|| format!("{what}: expected 1 to 128 printable characters"))
}

async fn propose(
    State(api): State<ShoreRunbookApi>,
    Extension(by): Extension<Principal>,
    Path(name): Path<String>,
    body: Result<Json<ShoreProposeBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(b)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "body: expected {\"ship\":ID,\"targets\":[...],\"params\":{...}?,\"incident\":ID?,\"ttl_s\":N?}",
        );
    };
    if let Some(why) = bad_id("ship", &b.ship).or_else(|| bad_id("runbook", &name)) {
        return error(StatusCode::BAD_REQUEST, why);
    }
    if b.targets.is_empty() || b.targets.len() > 100 {
        return error(StatusCode::BAD_REQUEST, "targets: 1 to 100 ids");
    }
    if let Some(why) = b.targets.iter().find_map(|t| bad_id("targets", t)) {
        return error(StatusCode::BAD_REQUEST, why);
    }
    let ttl = Duration::from_secs(b.ttl_s.unwrap_or(3600).clamp(1, 7 * 86_400));
    let action = Action::ProposeExecution {
        runbook: name,
        targets: b.targets,
        params: b.params,
        requester: by.name.clone(),
        role: by.role.map_or("none", Role::as_str).to_string(),
        incident: b.incident,
    };
    let id = api
        .commands
        .submit(&b.ship, action, ttl, api.clock.now_ms());
    (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({"command": id, "ship": b.ship, "state": "pending"})),
    )
        .into_response()
}

fn view(ship: &str, e: &seawatch_actors::runbook::exec::Exec) -> serde_json::Value {
    let mut v = serde_json::to_value(e).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("ship".into(), ship.into());
    }
    v
}

async fn list(
    State(api): State<ShoreRunbookApi>,
    q: Result<Query<ExecutionQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let (q, state) = match crate::runbooks::execution_query(q) {
        Ok(v) => v,
        Err(msg) => return error(StatusCode::BAD_REQUEST, msg),
    };
    let out: Vec<serde_json::Value> = api
        .executions
        .list(q.ship.as_deref())
        .iter()
        .filter(|(_, e)| state.is_none_or(|st| e.state == st))
        .map(|(ship, e)| view(ship, e))
        .collect();
    Json(out).into_response()
}

async fn get_one(State(api): State<ShoreRunbookApi>, Path(id): Path<String>) -> Response {
    match api.executions.get(&id) {
        Some((ship, e)) => Json(view(&ship, &e)).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no runbook execution {id}")),
    }
}

/// The shore's runbook routes behind `auth`: listing for viewers, proposing for
/// operators.
pub fn routes(auth: &Auth, api: ShoreRunbookApi) -> Router {
    let view = Router::new()
        .route("/api/runbooks/executions", get(list))
        .route("/api/runbooks/executions/{id}", get(get_one))
        .with_state(api.clone());
    let act = Router::new()
        .route("/api/runbooks/{name}/executions", post(propose))
        .with_state(api);
    auth.protect(Role::Viewer, view)
        .merge(auth.protect(Role::Operator, act))
}
