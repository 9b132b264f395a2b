//! Runbooks on a shore node (contracts §2, §7): shore proposes executions to ships and
//! lists what the ships' synced audit records say about theirs. Shore runs nothing
//! itself: every execution lives, is decided and runs on its ship.
//!
//! - `POST /api/runbooks/{name}/executions` `{"ship","targets","params"?,"incident"?,
//!   "ttl_s"?}` (operator): 201 `{"command","ship","state":"pending"}` (contracts §2: the
//!   proposal is created; `Location` is the command's URL below). The proposal goes
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

/// `s` as one URL path segment: unreserved characters as they are, every other byte
/// percent-encoded.
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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
    let location = format!("/api/ships/{}/commands/{id}", path_segment(&b.ship));
    (
        StatusCode::CREATED,
        [(axum::http::header::LOCATION, location)],
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

#[cfg(test)]
mod tests {
    use seawatch_runtime::{Clock, Metrics};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::auth::AuthConfig;
    use crate::metrics::ConsoleMetrics;
    use crate::testutil::{http, serve};

    /// The whole response (status line, headers, body) to one POST.
    async fn post_raw(addr: std::net::SocketAddr, path: &str, token: &str, body: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Contracts §2: a proposal is created (201, with the command's URL in `Location`);
    /// viewers may not propose; a bad body says what is expected.
    #[tokio::test]
    async fn a_proposal_to_a_ship_is_created_with_its_command_location() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::manual(1_800_000_000_000);
        let auth = Auth::open(
            dir.path(),
            &AuthConfig::default(),
            clock.clone(),
            ConsoleMetrics::register(&Metrics::new()),
        )
        .unwrap();
        let commands = Commands::default();
        let api = ShoreRunbookApi {
            commands: commands.clone(),
            executions: Default::default(),
            clock,
        };
        let srv = serve(routes(&auth, api)).await;
        let viewer = auth.issue("deck", Role::Viewer);
        let operator = auth.issue("alice", Role::Operator);
        let body = r#"{"ship":"aurora 2","targets":["ap-17"],"params":{"minutes":30}}"#;
        let path = "/api/runbooks/silence-device-mail/executions";
        assert_eq!(http(srv, "POST", path, Some(&viewer), body).await.0, 403);
        let (code, text) = http(srv, "POST", path, Some(&operator), "{}").await;
        assert_eq!(code, 400);
        assert!(text.contains("expected"), "{text}");

        let resp = post_raw(srv, path, &operator, body).await;
        assert!(resp.starts_with("HTTP/1.1 201 "), "{resp}");
        let (head, json) = resp.split_once("\r\n\r\n").unwrap();
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(v["ship"], "aurora 2");
        assert_eq!(v["state"], "pending");
        let id = v["command"].as_u64().unwrap();
        let location = head
            .lines()
            .find_map(|l| l.strip_prefix("location: "))
            .unwrap_or_else(|| panic!("no Location in {head}"));
        assert_eq!(location, format!("/api/ships/aurora%202/commands/{id}"));
        assert!(
            commands.state("aurora 2", id).is_some(),
            "the command is queued for the ship"
        );
    }
}
