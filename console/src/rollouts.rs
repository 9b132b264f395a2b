//! The rollout API of a shore node (contracts §2, §10), all for admins:
//!
//! - `POST /api/bundles` (body: the bundle file as `seawatch bundle build` wrote it): 201
//!   with `{"sha256","kind","name","size","files"}`; 400 when it is not a bundle.
//!   `GET /api/bundles`: the stored bundles.
//! - `POST /api/rollouts` `{"bundle","ships"|"all","waves":[{"percent",
//!   "success_threshold","error_threshold","timeout_s","approval"}],"on_error"?}`: 201
//!   with the rollout; 400 with `{"error"}` saying what is wrong.
//! - `GET /api/rollouts`, `GET /api/rollouts/{id}`: rollouts with per-wave and per-ship
//!   state and their history; 404 for an unknown id.
//! - `POST /api/rollouts/{id}/pause|resume|abort|retry`: 200 with the rollout; 404
//!   unknown; 409 when the rollout is not in a state that allows it (or another shore node
//!   runs it); 503 when the shared journal cannot be reached. `resume` also approves a
//!   wave waiting for approval, and accepts the failures of a wave that tripped its
//!   threshold; `retry` sends again to the ships that failed, timed out or were never
//!   sent (after an abort), keeping the history.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use seawatch_actors::rollout::bundle::{BundleError, BundleStore, MAX_BUNDLE_BYTES};
use seawatch_actors::rollout::controller::{ControlError, RolloutMetrics, RolloutMsg};
use seawatch_actors::rollout::state::{Op, RolloutRequest};
use seawatch_runtime::supervision::Addr;

use crate::auth::{Auth, Principal, Role};

/// How long the API waits for the controller.
const ASK: Duration = Duration::from_secs(10);

/// What the rollout routes need.
#[derive(Clone)]
pub struct RolloutApi {
    /// The controller (supervised; the address follows restarts).
    pub controller: Addr<RolloutMsg>,
    /// Shore's bundles.
    pub bundles: BundleStore,
    /// Rollout metrics (requests refused before the controller count here too).
    pub metrics: RolloutMetrics,
}

use crate::json_error as error;

fn refused(e: ControlError) -> Response {
    let status = match e {
        ControlError::BadRequest(_) => StatusCode::BAD_REQUEST,
        ControlError::NotFound(_) => StatusCode::NOT_FOUND,
        ControlError::Conflict(_) => StatusCode::CONFLICT,
        ControlError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        ControlError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    error(status, e.to_string())
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("rollout controller: {e}"),
    )
}

async fn create(
    State(api): State<RolloutApi>,
    Extension(by): Extension<Principal>,
    body: Bytes,
) -> Response {
    let req: RolloutRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            api.metrics.request("rejected");
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "rollout request: {e} (expected {{\"bundle\",\"ships\"|\"all\",\"waves\":[{{\"percent\",\"success_threshold\",\"error_threshold\",\"timeout_s\",\"approval\"}}]}})"
                ),
            );
        }
    };
    match api
        .controller
        .call(|r| RolloutMsg::Create(req, by.name.clone(), r), ASK)
        .await
    {
        Ok(Ok(r)) => (StatusCode::CREATED, Json(r)).into_response(),
        Ok(Err(e)) => refused(e),
        Err(e) => unavailable(e),
    }
}

async fn list(State(api): State<RolloutApi>) -> Response {
    match api.controller.call(RolloutMsg::List, ASK).await {
        Ok(all) => Json(all).into_response(),
        Err(e) => unavailable(e),
    }
}

async fn one(State(api): State<RolloutApi>, Path(id): Path<String>) -> Response {
    match api
        .controller
        .call(|r| RolloutMsg::Get(id.clone(), r), ASK)
        .await
    {
        Ok(Some(r)) => Json(r).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no rollout {id}")),
        Err(e) => unavailable(e),
    }
}

async fn control(
    State(api): State<RolloutApi>,
    Extension(by): Extension<Principal>,
    Path((id, op)): Path<(String, String)>,
) -> Response {
    let Some(op) = Op::parse(&op) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("/api/rollouts/{id}/{op}: expected pause, resume, abort or retry"),
        );
    };
    match api
        .controller
        .call(|r| RolloutMsg::Control(id, op, by.name.clone(), r), ASK)
        .await
    {
        Ok(Ok(r)) => Json(r).into_response(),
        Ok(Err(e)) => refused(e),
        Err(e) => unavailable(e),
    }
}

async fn upload(State(api): State<RolloutApi>, body: Bytes) -> Response {
    match api.bundles.put(&body) {
        Ok(info) => (StatusCode::CREATED, Json(info)).into_response(),
        Err(e @ BundleError::Io(_)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

async fn bundles(State(api): State<RolloutApi>) -> Response {
    Json(api.bundles.list()).into_response()
}

/// The rollout and bundle routes behind `auth`, for admins only.
pub fn routes(auth: &Auth, api: RolloutApi) -> Router {
    let r = Router::new()
        .route("/api/rollouts", post(create).get(list))
        .route("/api/rollouts/{id}", get(one))
        .route("/api/rollouts/{id}/{op}", post(control))
        .route("/api/bundles", post(upload).get(bundles))
        .layer(DefaultBodyLimit::max(MAX_BUNDLE_BYTES + 4096))
        .with_state(api);
    auth.protect(Role::Admin, r)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use seawatch_actors::rollout::bundle::{encode, BundleKind};
    use seawatch_actors::rollout::controller::{controller_child, ControllerArgs};
    use seawatch_actors::rollout::nats::ShoreLink;
    use seawatch_runtime::supervision::{start_root, SupervisorSpec};
    use seawatch_runtime::{Clock, Metrics, Runtime, ShardKey};

    use super::*;
    use crate::auth::AuthConfig;
    use crate::metrics::ConsoleMetrics;
    use crate::testutil::{http, serve};

    #[tokio::test]
    async fn rollouts_are_for_admins_and_bad_requests_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::manual(1_800_000_000_000);
        let auth = Auth::open(
            dir.path(),
            &AuthConfig::default(),
            clock.clone(),
            ConsoleMetrics::register(&Metrics::new()),
        )
        .unwrap();
        let bundles = BundleStore::open(&dir.path().join("bundles")).unwrap();
        let metrics = Metrics::new();
        let rollout_metrics = RolloutMetrics::register(&metrics);
        let (child, addr) = controller_child(ControllerArgs {
            id_prefix: "r".into(),
            dir: dir.path().join("rollouts"),
            bundles: bundles.clone(),
            fleet: vec!["aurora".into(), "borealis".into(), "celeste".into()],
            clock: clock.clone(),
            tick: Duration::from_secs(3600),
            grace_ms: 0,
            // No NATS here: the API works on the journal alone.
            connect: Arc::new(|| {
                Box::pin(async { Err::<Arc<dyn ShoreLink>, _>("no link in this test".into()) })
            }),
            metrics: rollout_metrics.clone(),
            failover: false,
            push: None,
        });
        let (root, _) = start_root(
            SupervisorSpec::new("shore", ShardKey::new("shore")).child(child),
            Runtime::new(clock.clone()),
        )
        .await
        .unwrap();
        let app = routes(
            &auth,
            RolloutApi {
                controller: addr,
                bundles,
                metrics: rollout_metrics,
            },
        );
        let srv = serve(app).await;
        let viewer = auth.issue("deck", Role::Viewer);
        let operator = auth.issue("alice", Role::Operator);
        let admin = auth.issue("root", Role::Admin);

        assert_eq!(http(srv, "GET", "/api/rollouts", None, "").await.0, 401);
        assert_eq!(
            http(srv, "GET", "/api/rollouts", Some("forged"), "")
                .await
                .0,
            401
        );
        assert_eq!(
            http(srv, "GET", "/api/rollouts", Some(&viewer), "").await.0,
            403
        );
        assert_eq!(
            http(srv, "POST", "/api/rollouts", Some(&operator), "{}")
                .await
                .0,
            403
        );
        assert_eq!(
            http(srv, "GET", "/api/bundles", Some(&operator), "")
                .await
                .0,
            403
        );

        // Upload a bundle (the file as `seawatch bundle build` writes it).
        let file = encode(
            BundleKind::Runbooks,
            "runbooks",
            vec![("noop.toml".into(), b"# empty\n".to_vec())],
        );
        let (code, body) = http(
            srv,
            "POST",
            "/api/bundles",
            Some(&admin),
            std::str::from_utf8(&file).unwrap(),
        )
        .await;
        assert_eq!(code, 201, "{body}");
        let info: serde_json::Value = serde_json::from_str(&body).unwrap();
        let sha = info["sha256"].as_str().unwrap().to_owned();
        assert_eq!(info["kind"], "runbooks");
        let (code, body) = http(srv, "POST", "/api/bundles", Some(&admin), "not a bundle").await;
        assert_eq!(code, 400);
        assert!(body.contains("not a seawatch bundle"), "{body}");

        // Malformed requests: 400 with a message that says what is wrong.
        for (req, says) in [
            ("{", "rollout request"),
            (
                r#"{"bundle":"x","all":true,"waves":[{"percent":100}]}"#,
                "SHA-256",
            ),
            (
                &format!(r#"{{"bundle":"{sha}","waves":[{{"percent":100}}]}}"#),
                "missing \\\"ships\\\"",
            ),
            (
                &format!(r#"{{"bundle":"{sha}","all":true,"waves":[{{"percent":50}}]}}"#),
                "must be 100",
            ),
            (
                &format!(
                    r#"{{"bundle":"{sha}","all":true,"waves":[{{"percent":100,"colour":1}}]}}"#
                ),
                "unknown field",
            ),
            (
                &format!(
                    r#"{{"bundle":"{}","all":true,"waves":[{{"percent":100}}]}}"#,
                    "c".repeat(64)
                ),
                "upload it first",
            ),
        ] {
            let (code, body) = http(srv, "POST", "/api/rollouts", Some(&admin), req).await;
            assert_eq!(code, 400, "{req}: {body}");
            assert!(body.contains(says), "{req}: {body} lacks {says}");
        }

        let req = format!(
            r#"{{"bundle":"{sha}","all":true,"waves":[{{"percent":33,"success_threshold":100,"error_threshold":50,"timeout_s":60,"approval":true}},{{"percent":100,"success_threshold":100,"error_threshold":50,"timeout_s":60,"approval":false}}]}}"#
        );
        let (code, body) = http(srv, "POST", "/api/rollouts", Some(&admin), &req).await;
        assert_eq!(code, 201, "{body}");
        let r: serde_json::Value = serde_json::from_str(&body).unwrap();
        let id = r["id"].as_str().unwrap().to_owned();
        assert_eq!(r["state"], "awaiting_approval");
        assert_eq!(r["created_by"], "root");
        assert_eq!(r["waves"][0]["ships"][0]["ship"], "aurora");
        assert_eq!(r["waves"][0]["ships"][0]["state"], "pending");
        assert_eq!(r["waves"][1]["ships"].as_array().unwrap().len(), 2);

        let path = |op: &str| format!("/api/rollouts/{id}/{op}");
        assert_eq!(
            http(srv, "POST", &path("resume"), Some(&operator), "")
                .await
                .0,
            403
        );
        let (code, body) = http(srv, "POST", &path("resume"), Some(&admin), "").await;
        assert_eq!(code, 200, "{body}");
        let r: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(r["state"], "running");
        assert_eq!(r["waves"][0]["state"], "running");
        assert_eq!(
            http(srv, "POST", &path("resume"), Some(&admin), "").await.0,
            409
        );
        assert_eq!(
            http(srv, "POST", &path("pause"), Some(&admin), "").await.0,
            200
        );
        assert_eq!(
            http(srv, "POST", &path("pause"), Some(&admin), "").await.0,
            409
        );
        assert_eq!(
            http(srv, "POST", &path("abort"), Some(&admin), "").await.0,
            200
        );
        assert_eq!(
            http(srv, "POST", &path("resume"), Some(&admin), "").await.0,
            409
        );
        assert_eq!(
            http(srv, "POST", &path("explode"), Some(&admin), "")
                .await
                .0,
            404
        );
        assert_eq!(
            http(
                srv,
                "POST",
                "/api/rollouts/r-999999/pause",
                Some(&admin),
                ""
            )
            .await
            .0,
            404
        );
        let (code, body) = http(srv, "GET", &format!("/api/rollouts/{id}"), Some(&admin), "").await;
        assert_eq!(code, 200);
        let r: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(r["state"], "aborted");
        assert_eq!(r["counts"]["skipped"], 3, "{body}");
        let history: Vec<&str> = r["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["what"].as_str().unwrap())
            .collect();
        assert_eq!(
            history,
            [
                "created by root",
                "wave 1 awaits approval",
                "resumed by root",
                "wave 1 started",
                "paused by root: paused by an admin",
                "aborted by root: aborted by an admin"
            ]
        );
        // Retry: the ships never sent go again; the history stays.
        assert_eq!(
            http(srv, "POST", &path("retry"), Some(&operator), "")
                .await
                .0,
            403
        );
        let (code, body) = http(srv, "POST", &path("retry"), Some(&admin), "").await;
        assert_eq!(code, 200, "{body}");
        let r: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            r["state"], "running",
            "wave 1 was approved before the abort"
        );
        assert_eq!(r["counts"]["skipped"], 0, "{body}");
        assert_eq!(r["counts"]["pending"], 3, "{body}");
        assert_eq!(r["waves"][0]["ships"][0]["attempt"], 1, "{body}");
        let last: Vec<&str> = r["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["what"].as_str().unwrap())
            .collect();
        assert_eq!(last.len(), 7, "{last:?}");
        assert_eq!(last[6], "retried by root: 3 ships again");
        let (code, body) = http(srv, "POST", &path("retry"), Some(&admin), "").await;
        assert_eq!(code, 409, "nothing to retry: {body}");
        let (code, body) = http(srv, "GET", "/api/rollouts", Some(&admin), "").await;
        assert_eq!(code, 200);
        assert_eq!(
            serde_json::from_str::<Vec<serde_json::Value>>(&body)
                .unwrap()
                .len(),
            1
        );
        let text = metrics.encode();
        for series in [
            r#"seawatch_rollout_requests_total{result="created"} 1"#,
            r#"seawatch_rollout_requests_total{result="rejected"} 6"#,
        ] {
            assert!(text.contains(series), "{series} not in\n{text}");
        }
        root.shutdown().await;
    }
}
