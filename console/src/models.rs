//! The model registry API of a shore node (contracts §10; decision 0065). Viewers read,
//! admins change:
//!
//! - `GET /api/models`: every model (versions, aliases, gates, last evaluation).
//! - `GET /api/models/{name}`: one model with its history; 404 when unknown.
//! - `GET /api/models/{name}/history?at=`: the history up to `at` (unix ms or RFC 3339)
//!   and the champion and challenger at that time; without `at`, the whole history.
//! - `GET /api/models/{name}/shadow`: the ships' latest shadow reports, their sum for the
//!   current challenger, both sides' metrics and the gates evaluated on them now.
//! - `POST /api/models/{name}/versions` `{"bundle","kind","metadata"?,"metrics"?}` (admin):
//!   201 with the model; the bundle must have been uploaded (`POST /api/bundles`).
//! - `POST /api/models/{name}/aliases/{champion|challenger}` `{"version": sha|null}`
//!   (admin): moves the alias (recorded); `null` clears the challenger.
//! - `POST /api/models/{name}/rollback` (admin): the champion goes back one step.
//! - `POST /api/models/{name}/gates` `{"gates":[{"metric","direction","threshold"?,
//!   "min_relative_change"?,"min_exposure"?}]}` (admin).
//! - `POST /api/models/{name}/evaluate` (admin): evaluates the gates now; promotes when
//!   all pass.
//! - `POST /api/models/{name}/rollout` `{"plan": {"ships"|"all","waves","on_error"?}|null}`
//!   (admin): the champion's rollout plan (decision 0076): from then on a champion moved
//!   by the gates or by a rollback is rolled out with it by the shore's evaluator;
//!   `null` turns that off.
//! - `POST /api/models/{name}/shadow` `{"ships"|"all","waves"?}` (admin): builds the
//!   challenger's shadow bundle and starts a rollout of it (201 with the rollout).
//!
//! 400 with `{"error"}` for bad input, 404 unknown, 409 for a state that does not allow it.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use seawatch_actors::models::evaluator::ModelMetrics;
use seawatch_actors::models::shadow::shadow_bundle;
use seawatch_actors::models::store::Registry;
use seawatch_actors::models::{Alias, Gate, ModelError, RolloutPlan, VersionRequest};
use seawatch_actors::rollout::bundle::BundleStore;
use seawatch_actors::rollout::controller::RolloutMsg;
use seawatch_actors::rollout::state::{RolloutRequest, WaveSpec};
use seawatch_runtime::supervision::Addr;
use serde::Deserialize;

use crate::auth::{Auth, Principal, Role};
use crate::json_error as error;

/// What the model routes need.
#[derive(Clone)]
pub struct ModelApi {
    /// The registry.
    pub registry: Registry,
    /// Shore's bundles (for shadow bundles).
    pub bundles: BundleStore,
    /// The rollout controller, to deliver shadow bundles (`None`: shadow rollouts refused).
    pub rollouts: Option<Addr<RolloutMsg>>,
    /// Metrics.
    pub metrics: ModelMetrics,
}

fn refused(api: &ModelApi, e: ModelError) -> Response {
    let (status, result) = match e {
        ModelError::BadRequest(_) => (StatusCode::BAD_REQUEST, "rejected"),
        ModelError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        ModelError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
        ModelError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "error"),
    };
    api.metrics.request(result);
    error(status, e.to_string())
}

fn bad(api: &ModelApi, msg: String) -> Response {
    api.metrics.request("rejected");
    error(StatusCode::BAD_REQUEST, msg)
}

fn done<T: serde::Serialize>(
    api: &ModelApi,
    status: StatusCode,
    r: Result<T, ModelError>,
) -> Response {
    match r {
        Ok(v) => {
            api.metrics.request("ok");
            (status, Json(v)).into_response()
        }
        Err(e) => refused(api, e),
    }
}

async fn list(State(api): State<ModelApi>) -> Response {
    done(&api, StatusCode::OK, api.registry.list().await)
}

async fn one(State(api): State<ModelApi>, Path(name): Path<String>) -> Response {
    done(&api, StatusCode::OK, api.registry.get(&name).await)
}

/// `?at=` of the history route.
#[derive(Debug, Deserialize)]
pub struct AtQuery {
    /// Unix ms or RFC 3339.
    pub at: Option<String>,
}

fn parse_at(s: &str) -> Option<i64> {
    s.parse::<i64>()
        .ok()
        .or_else(|| seawatch_model::time::parse_rfc3339_utc(s))
}

async fn history(
    State(api): State<ModelApi>,
    Path(name): Path<String>,
    q: Result<Query<AtQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return bad(
            &api,
            "history query: expected ?at=<unix ms or RFC 3339>".into(),
        );
    };
    let at = match q.at.as_deref() {
        None => i64::MAX,
        Some(s) => match parse_at(s) {
            Some(t) => t,
            None => {
                return bad(
                    &api,
                    format!("at={s:?}: expected unix milliseconds or an RFC 3339 time"),
                )
            }
        },
    };
    let r = api.registry.get(&name).await.map(|m| {
        serde_json::json!({
            "model": m.name,
            "at": (at != i64::MAX).then_some(at),
            "champion": m.alias_at(Alias::Champion, at),
            "challenger": m.alias_at(Alias::Challenger, at),
            "history": m.history_until(at),
        })
    });
    done(&api, StatusCode::OK, r)
}

async fn shadow(State(api): State<ModelApi>, Path(name): Path<String>) -> Response {
    done(&api, StatusCode::OK, api.registry.shadow(&name).await)
}

fn body<T: serde::de::DeserializeOwned>(
    api: &ModelApi,
    b: &Bytes,
    what: &str,
    shape: &str,
) -> Result<T, Box<Response>> {
    serde_json::from_slice(b)
        .map_err(|e| Box::new(bad(api, format!("{what}: {e} (expected {shape})"))))
}

async fn register(
    State(api): State<ModelApi>,
    Extension(by): Extension<Principal>,
    Path(name): Path<String>,
    b: Bytes,
) -> Response {
    let req: VersionRequest = match body(
        &api,
        &b,
        "version",
        r#"{"bundle":"<sha256>","kind":"detector-settings"|"link-risk","metadata":{},"metrics":{}}"#,
    ) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    done(
        &api,
        StatusCode::CREATED,
        api.registry.register(&name, req, &by.name).await,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AliasBody {
    version: Option<String>,
}

async fn alias(
    State(api): State<ModelApi>,
    Extension(by): Extension<Principal>,
    Path((name, alias)): Path<(String, String)>,
    b: Bytes,
) -> Response {
    let Some(a) = Alias::parse(&alias) else {
        return bad(
            &api,
            format!("alias {alias:?}: expected champion or challenger"),
        );
    };
    let req: AliasBody = match body(&api, &b, "alias", r#"{"version":"<sha256>"|null}"#) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    done(
        &api,
        StatusCode::OK,
        api.registry
            .set_alias(&name, a, req.version, &by.name)
            .await,
    )
}

async fn rollback(
    State(api): State<ModelApi>,
    Extension(by): Extension<Principal>,
    Path(name): Path<String>,
) -> Response {
    done(
        &api,
        StatusCode::OK,
        api.registry.rollback(&name, &by.name).await,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GatesBody {
    gates: Vec<Gate>,
}

async fn gates(
    State(api): State<ModelApi>,
    Extension(by): Extension<Principal>,
    Path(name): Path<String>,
    b: Bytes,
) -> Response {
    let req: GatesBody = match body(
        &api,
        &b,
        "gates",
        r#"{"gates":[{"metric","direction":"higher"|"lower","threshold"?,"min_relative_change"?,"min_exposure"?}]}"#,
    ) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    done(
        &api,
        StatusCode::OK,
        api.registry.set_gates(&name, req.gates, &by.name).await,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RolloutPlanBody {
    plan: Option<RolloutPlan>,
}

async fn rollout_plan(
    State(api): State<ModelApi>,
    Extension(by): Extension<Principal>,
    Path(name): Path<String>,
    b: Bytes,
) -> Response {
    let req: RolloutPlanBody = match body(
        &api,
        &b,
        "rollout plan",
        r#"{"plan":{"ships":[..]|"all":true,"waves":[{"percent",..}],"on_error"?}|null}"#,
    ) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    done(
        &api,
        StatusCode::OK,
        api.registry
            .set_rollout_plan(&name, req.plan, &by.name)
            .await,
    )
}

async fn evaluate(
    State(api): State<ModelApi>,
    Extension(by): Extension<Principal>,
    Path(name): Path<String>,
) -> Response {
    match api.registry.evaluate(&name, &by.name).await {
        Ok(None) => {
            api.metrics.request("conflict");
            error(
                StatusCode::CONFLICT,
                format!("model {name} has no challenger to evaluate"),
            )
        }
        Ok(Some(v)) => {
            api.metrics
                .evaluation(if v.promoted { "promoted" } else { "held" });
            done(&api, StatusCode::OK, Ok::<_, ModelError>(v))
        }
        Err(e) => refused(&api, e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShadowBody {
    ships: Option<Vec<String>>,
    all: Option<bool>,
    waves: Option<Vec<WaveSpec>>,
}

async fn start_shadow(
    State(api): State<ModelApi>,
    Extension(by): Extension<Principal>,
    Path(name): Path<String>,
    b: Bytes,
) -> Response {
    let req: ShadowBody = match body(
        &api,
        &b,
        "shadow rollout",
        r#"{"ships":[..]|"all":true,"waves"?:[{"percent",..}]}"#,
    ) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let m = match api.registry.get(&name).await {
        Ok(m) => m,
        Err(e) => return refused(&api, e),
    };
    let Some(ch) = m.challenger.clone() else {
        api.metrics.request("conflict");
        return error(
            StatusCode::CONFLICT,
            format!("model {name} has no challenger to shadow"),
        );
    };
    let Some(controller) = api.rollouts.clone() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "this node has no rollout controller",
        );
    };
    let file = |sha: &str| match api.bundles.get(sha) {
        Ok(Some((_, bytes))) => Ok(bytes),
        Ok(None) => Err(format!("bundle {sha} is no longer at shore")),
        Err(e) => Err(e.to_string()),
    };
    let built = file(&ch).and_then(|chb| {
        let cpb = m.champion.as_deref().map(file).transpose()?;
        shadow_bundle(&name, m.kind, &chb, cpb.as_deref())
    });
    let info = match built.and_then(|b| api.bundles.put(&b).map_err(|e| e.to_string())) {
        Ok(i) => i,
        Err(e) => {
            api.metrics.request("error");
            return error(StatusCode::INTERNAL_SERVER_ERROR, e);
        }
    };
    let rollout = RolloutRequest {
        bundle: info.sha256,
        ships: req.ships,
        all: req.all,
        waves: req.waves.unwrap_or_else(|| {
            vec![WaveSpec {
                percent: 100.0,
                success_threshold: 100.0,
                error_threshold: 0.0,
                timeout_s: 600,
                approval: false,
                // a shadow never acts: an incident after it lands is not its doing
                incident_window_s: Some(0),
            }]
        }),
        on_error: Default::default(),
    };
    match controller
        .call(
            |r| RolloutMsg::Create(rollout, by.name.clone(), r),
            Duration::from_secs(10),
        )
        .await
    {
        Ok(Ok(r)) => {
            api.metrics.request("ok");
            (StatusCode::CREATED, Json(r)).into_response()
        }
        Ok(Err(e)) => {
            api.metrics.request("rejected");
            error(StatusCode::BAD_REQUEST, format!("shadow rollout: {e}"))
        }
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("rollout controller: {e}"),
        ),
    }
}

/// The model routes behind `auth`: viewers read, admins change.
pub fn routes(auth: &Auth, api: ModelApi) -> Router {
    let view = Router::new()
        .route("/api/models", get(list))
        .route("/api/models/{name}", get(one))
        .route("/api/models/{name}/history", get(history))
        .route("/api/models/{name}/shadow", get(shadow))
        .with_state(api.clone());
    let admin = Router::new()
        .route("/api/models/{name}/shadow", post(start_shadow))
        .route("/api/models/{name}/versions", post(register))
        .route("/api/models/{name}/aliases/{alias}", post(alias))
        .route("/api/models/{name}/rollback", post(rollback))
        .route("/api/models/{name}/gates", post(gates))
        .route("/api/models/{name}/evaluate", post(evaluate))
        .route("/api/models/{name}/rollout", post(rollout_plan))
        .with_state(api);
    auth.protect(Role::Viewer, view)
        .merge(auth.protect(Role::Admin, admin))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use seawatch_actors::models::store::{MemModelStore, ModelStore};
    use seawatch_actors::models::{ModelKind, ShadowCounts, ShadowReport};
    use seawatch_actors::rollout::bundle::{encode, BundleKind};
    use seawatch_runtime::{Clock, Metrics};

    use super::*;
    use crate::auth::AuthConfig;
    use crate::metrics::ConsoleMetrics;
    use crate::testutil::{http, serve};

    #[tokio::test]
    async fn viewers_read_admins_change_and_bad_input_gets_a_400_that_says_why() {
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
        let store = MemModelStore::default();
        let b2 = bundles.clone();
        let api = ModelApi {
            registry: Registry {
                store: Arc::new(store.clone()),
                clock: clock.clone(),
                bundle_kind: Arc::new(move |s: &str| {
                    b2.get(s).ok().flatten().map(|(b, _)| b.manifest.kind)
                }),
            },
            bundles: bundles.clone(),
            rollouts: None,
            metrics: ModelMetrics::register(&Metrics::new()),
        };
        let srv = serve(routes(&auth, api)).await;
        let viewer = auth.issue("deck", Role::Viewer);
        let admin = auth.issue("root", Role::Admin);
        let put = |t: &str| {
            bundles
                .put(&encode(
                    BundleKind::Detectors,
                    "detectors",
                    vec![("e.toml".into(), t.as_bytes().to_vec())],
                ))
                .unwrap()
                .sha256
        };
        let (v1, v2) = (
            put("alert_threshold = 0.2\n"),
            put("alert_threshold = 0.3\n"),
        );

        assert_eq!(http(srv, "GET", "/api/models", None, "").await.0, 401);
        let (code, body) = http(srv, "GET", "/api/models", Some(&viewer), "").await;
        assert_eq!((code, body.as_str()), (200, "[]"));
        let reg = |v: &str| {
            format!(
                r#"{{"bundle":"{v}","kind":"detector-settings","metadata":{{"by":"lab"}},"metrics":{{"nab":60.1}}}}"#
            )
        };
        assert_eq!(
            http(
                srv,
                "POST",
                "/api/models/det/versions",
                Some(&viewer),
                &reg(&v1)
            )
            .await
            .0,
            403
        );
        for v in [&v1, &v2] {
            let (code, body) = http(
                srv,
                "POST",
                "/api/models/det/versions",
                Some(&admin),
                &reg(v),
            )
            .await;
            assert_eq!(code, 201, "{body}");
        }
        for (path, req, says) in [
            ("/api/models/det/versions", "{", "version:"),
            (
                "/api/models/det/versions",
                r#"{"bundle":"x","kind":"detector-settings"}"#,
                "SHA-256",
            ),
            (
                "/api/models/det/versions",
                &format!(r#"{{"bundle":"{v1}","kind":"forest"}}"#),
                "unknown variant",
            ),
            ("/api/models/BAD/versions", &reg(&v1), "model name"),
            (
                "/api/models/det/aliases/boss",
                r#"{"version":null}"#,
                "expected champion or challenger",
            ),
            (
                "/api/models/det/aliases/champion",
                r#"{"version":"abc"}"#,
                "no version abc",
            ),
            (
                "/api/models/det/gates",
                r#"{"gates":[{"metric":"f1","direction":"higher","threshold":1}]}"#,
                "expected one of",
            ),
            (
                "/api/models/det/gates",
                r#"{"gates":[{"metric":"recall","direction":"up"}]}"#,
                "unknown variant",
            ),
            (
                "/api/models/det/rollout",
                r#"{"plan":{"all":true,"waves":[]}}"#,
                "rollout plan: waves",
            ),
            (
                "/api/models/det/rollout",
                r#"{"plan":{"all":true,"waves":[{"percent":50}]}}"#,
                "must be 100",
            ),
            (
                "/api/models/det/rollout",
                r#"{"plan":{"fleet":true}}"#,
                "unknown field",
            ),
        ] {
            let (code, body) = http(srv, "POST", path, Some(&admin), req).await;
            assert_eq!(code, 400, "{path} {req}: {body}");
            assert!(body.contains(says), "{path} {req}: {body} lacks {says}");
        }
        let set = |v: &str| format!(r#"{{"version":"{v}"}}"#);
        let (code, body) = http(
            srv,
            "POST",
            "/api/models/det/aliases/champion",
            Some(&admin),
            &set(&v1),
        )
        .await;
        assert_eq!(code, 200, "{body}");
        clock.advance_ms(1_000);
        let (code, _) = http(
            srv,
            "POST",
            "/api/models/det/aliases/challenger",
            Some(&admin),
            &set(&v2),
        )
        .await;
        assert_eq!(code, 200);
        let (code, body) = http(srv, "POST", "/api/models/det/gates", Some(&admin),
            r#"{"gates":[{"metric":"alerts_per_1k","direction":"lower","min_relative_change":0.1,"min_exposure":100}]}"#).await;
        assert_eq!(code, 200, "{body}");
        // the champion's rollout plan: admins only, kept with the model
        let plan = r#"{"plan":{"all":true,"waves":[{"percent":100,"timeout_s":600}]}}"#;
        let (code, _) = http(srv, "POST", "/api/models/det/rollout", Some(&viewer), plan).await;
        assert_eq!(code, 403);
        let (code, body) = http(srv, "POST", "/api/models/det/rollout", Some(&admin), plan).await;
        assert_eq!(code, 200, "{body}");
        let m: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(m["rollout"]["all"], true, "{body}");
        assert_eq!(
            m["history"].as_array().unwrap().last().unwrap()["event"],
            "rollout_plan"
        );
        // no shadow data: held, with the reason
        let (code, body) = http(srv, "POST", "/api/models/det/evaluate", Some(&admin), "").await;
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["promoted"], false);
        assert!(
            v["evaluation"]["gates"][0]["reason"]
                .as_str()
                .unwrap()
                .contains("exposure 0"),
            "{body}"
        );
        // a ship's report: 20 % fewer alerts on the same 1000 samples
        let counts = |alerts| ShadowCounts {
            samples: 1000,
            agree: 990,
            alerts,
            ..Default::default()
        };
        store
            .put_shadow(&ShadowReport {
                ship: "aurora".into(),
                model: "det".into(),
                kind: ModelKind::DetectorSettings,
                challenger: v2.clone(),
                champion: Some(v1.clone()),
                since_ms: 0,
                at_ms: 1,
                champion_counts: counts(10),
                challenger_counts: counts(8),
                dropped_series: 0,
            })
            .await
            .unwrap();
        let (code, body) = http(srv, "GET", "/api/models/det/shadow", Some(&viewer), "").await;
        assert_eq!(code, 200, "{body}");
        let s: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(s["metrics"]["challenger"]["alerts_per_1k"], 8.0);
        assert_eq!(s["evaluation"]["pass"], true);
        clock.advance_ms(1_000);
        let t_promoted = clock.now_ms();
        let (code, body) = http(srv, "POST", "/api/models/det/evaluate", Some(&admin), "").await;
        assert_eq!(code, 200, "{body}");
        assert!(body.contains(r#""promoted":true"#), "{body}");
        // who was champion when
        let (code, body) = http(
            srv,
            "GET",
            &format!("/api/models/det/history?at={}", t_promoted - 1),
            Some(&viewer),
            "",
        )
        .await;
        assert_eq!(code, 200, "{body}");
        let h: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (h["champion"].as_str(), h["challenger"].as_str()),
            (Some(v1.as_str()), Some(v2.as_str()))
        );
        let (_, body) = http(
            srv,
            "GET",
            "/api/models/det/history?at=2030-01-01T00:00:00Z",
            Some(&viewer),
            "",
        )
        .await;
        let h: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(h["champion"].as_str(), Some(v2.as_str()));
        assert_eq!(h["challenger"], serde_json::Value::Null);
        let (code, body) = http(
            srv,
            "GET",
            "/api/models/det/history?at=yesterday",
            Some(&viewer),
            "",
        )
        .await;
        assert_eq!(code, 400);
        assert!(body.contains("RFC 3339"), "{body}");
        // one-step rollback, recorded
        assert_eq!(
            http(srv, "POST", "/api/models/det/rollback", Some(&viewer), "")
                .await
                .0,
            403
        );
        let (code, body) = http(srv, "POST", "/api/models/det/rollback", Some(&admin), "").await;
        assert_eq!(code, 200, "{body}");
        let m: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(m["champion"].as_str(), Some(v1.as_str()));
        assert_eq!(
            m["history"].as_array().unwrap().last().unwrap()["cause"],
            "rollback"
        );
        assert_eq!(
            http(srv, "GET", "/api/models/nope", Some(&viewer), "")
                .await
                .0,
            404
        );
        // shadow rollouts need a challenger (409) and a controller
        let (code, _) = http(
            srv,
            "POST",
            "/api/models/det/shadow",
            Some(&admin),
            r#"{"all":true}"#,
        )
        .await;
        assert_eq!(code, 409);
    }

    #[tokio::test]
    async fn a_shadow_rollout_carries_the_challenger_beside_its_champion() {
        use seawatch_actors::rollout::controller::RolloutMetrics;
        use seawatch_actors::rollout::controller::{controller_child, ControllerArgs};
        use seawatch_actors::rollout::nats::ShoreLink;
        use seawatch_runtime::supervision::{start_root, SupervisorSpec};
        use seawatch_runtime::{Runtime, ShardKey};

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
        let (child, controller) = controller_child(ControllerArgs {
            id_prefix: "shore-0".into(),
            dir: dir.path().join("rollouts"),
            bundles: bundles.clone(),
            fleet: vec!["aurora".into(), "borealis".into()],
            clock: clock.clone(),
            tick: Duration::from_secs(3600),
            grace_ms: 0,
            // No NATS: the rollout is created and journaled, not delivered.
            connect: Arc::new(|| {
                Box::pin(async { Err::<Arc<dyn ShoreLink>, _>("no link in this test".into()) })
            }),
            metrics: RolloutMetrics::default(),
            failover: false,
            push: None,
        });
        let (_root, _) = start_root(
            SupervisorSpec::new("shore", ShardKey::new("shore")).child(child),
            Runtime::new(clock.clone()),
        )
        .await
        .unwrap();
        let b2 = bundles.clone();
        let api = ModelApi {
            registry: Registry {
                store: Arc::new(MemModelStore::default()),
                clock: clock.clone(),
                bundle_kind: Arc::new(move |s: &str| {
                    b2.get(s).ok().flatten().map(|(b, _)| b.manifest.kind)
                }),
            },
            bundles: bundles.clone(),
            rollouts: Some(controller),
            metrics: ModelMetrics::default(),
        };
        let srv = serve(routes(&auth, api)).await;
        let admin = auth.issue("root", Role::Admin);
        let put = |t: &str| {
            bundles
                .put(&encode(
                    BundleKind::Model,
                    "link-risk",
                    vec![("risk.json".into(), t.as_bytes().to_vec())],
                ))
                .unwrap()
                .sha256
        };
        let (v1, v2) = (put(r#"{"fire_at":0.6}"#), put(r#"{"fire_at":0.4}"#));
        for v in [&v1, &v2] {
            let req = format!(r#"{{"bundle":"{v}","kind":"link-risk"}}"#);
            let (code, body) =
                http(srv, "POST", "/api/models/vsat/versions", Some(&admin), &req).await;
            assert_eq!(code, 201, "{body}");
        }
        for (alias, v) in [("champion", &v1), ("challenger", &v2)] {
            let (code, body) = http(
                srv,
                "POST",
                &format!("/api/models/vsat/aliases/{alias}"),
                Some(&admin),
                &format!(r#"{{"version":"{v}"}}"#),
            )
            .await;
            assert_eq!(code, 200, "{body}");
        }
        let (code, body) = http(
            srv,
            "POST",
            "/api/models/vsat/shadow",
            Some(&admin),
            r#"{"ships":["aurora"],"colour":1}"#,
        )
        .await;
        assert_eq!(code, 400, "{body}");
        assert!(body.contains("unknown field"), "{body}");
        let (code, body) = http(
            srv,
            "POST",
            "/api/models/vsat/shadow",
            Some(&admin),
            r#"{"ships":["aurora"]}"#,
        )
        .await;
        assert_eq!(code, 201, "{body}");
        let r: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(r["kind"], "model");
        let (b, _) = bundles.get(r["bundle"].as_str().unwrap()).unwrap().unwrap();
        assert_eq!(b.manifest.name, "shadow-vsat");
        let spec = &b.files.iter().find(|(p, _)| p == "shadow.json").unwrap().1;
        let spec: serde_json::Value = serde_json::from_slice(spec).unwrap();
        assert_eq!(
            (spec["challenger"].as_str(), spec["champion"].as_str()),
            (Some(v2.as_str()), Some(v1.as_str()))
        );
        assert_eq!(spec["kind"], "link-risk");
        assert!(b.files.iter().any(|(p, _)| p == "champion.bundle"));
    }
}
