//! Mail silences (issue 22), operator only:
//!
//! - `GET /api/silences`: the active silences.
//! - `POST /api/silences` `{"incident"?, "element"?, "until"? (RFC 3339), "duration_s"?,
//!   "until_resolved"?, "comment"?}`: 201 with the silence. It needs an incident or an
//!   element, and an end: a time (`until` or `duration_s`) or, for an incident,
//!   `until_resolved` (the incident's own resolution ends it, a thing Alertmanager's
//!   silences cannot do: prometheus/alertmanager#3825). The author is the token's user.
//! - `DELETE /api/silences/{id}`: 204, or 404 for no such active silence.
//!
//! A silence is kept in the mail outbox's journal (durable, like the notices it covers);
//! a silenced notice is still listed by `GET /api/notifications`, as `suppressed` with
//! the silence named. Without `[email]` the routes answer 404 with a reason.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Extension, Json, Router};
use parking_lot::Mutex;
use seawatch_actors::mail::store::Silence;
use seawatch_actors::mail::Outbox;
use seawatch_model::time::{parse_rfc3339_utc, rfc3339};
use seawatch_runtime::Clock;
use serde::{Deserialize, Serialize};

use crate::auth::{Auth, Principal, Role};

/// The body of `POST /api/silences`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    /// The incident to silence.
    pub incident: Option<String>,
    /// The root-cause element to silence (every incident rooted there).
    pub element: Option<String>,
    /// End time, RFC 3339.
    pub until: Option<String>,
    /// End, seconds from now (instead of `until`).
    pub duration_s: Option<f64>,
    /// End when the incident resolves.
    #[serde(default)]
    pub until_resolved: bool,
    /// Why.
    #[serde(default)]
    pub comment: String,
}

/// A silence as the API shows it.
#[derive(Debug, Serialize)]
pub struct SilenceView {
    /// `s-<n>`.
    pub id: String,
    /// Silenced incident.
    pub incident: Option<String>,
    /// Silenced root-cause element.
    pub element: Option<String>,
    /// End time (RFC 3339), if any.
    pub until: Option<String>,
    /// Ends when the incident resolves.
    pub until_resolved: bool,
    /// Author.
    pub by: String,
    /// Why.
    pub comment: String,
    /// When it was added (RFC 3339).
    pub created_at: String,
    /// Still in force now.
    pub active: bool,
}

#[derive(Clone)]
struct ApiState {
    outbox: Option<Arc<Mutex<Outbox>>>,
    clock: Clock,
}

use crate::json_error as error;

fn view(s: &Silence, now: i64) -> SilenceView {
    SilenceView {
        id: s.id.clone(),
        incident: s.incident.clone(),
        element: s.element.clone(),
        until: s.until_ms.map(rfc3339),
        until_resolved: s.until_resolved,
        by: s.by.clone(),
        comment: s.comment.clone(),
        created_at: rfc3339(s.created_ms),
        active: s.until_ms.is_none_or(|u| now < u),
    }
}

const NO_EMAIL: &str = "no [email] on this node: nothing is mailed, nothing to silence";

async fn list(State(s): State<ApiState>) -> Response {
    let Some(outbox) = &s.outbox else {
        return error(StatusCode::NOT_FOUND, NO_EMAIL);
    };
    let now = s.clock.now_ms();
    let v: Vec<SilenceView> = outbox
        .lock()
        .silences()
        .iter()
        .map(|x| view(x, now))
        .collect();
    Json(v).into_response()
}

/// Checks a request and turns it into a silence (id assigned by the outbox).
pub fn parse(req: NewSilence, by: &str, now_ms: i64) -> Result<Silence, String> {
    let clean = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let (incident, element) = (clean(req.incident), clean(req.element));
    if incident.is_none() && element.is_none() {
        return Err("a silence needs an incident or an element".into());
    }
    let until_ms = match (req.until.as_deref(), req.duration_s) {
        (Some(_), Some(_)) => return Err("give until or duration_s, not both".into()),
        (Some(t), None) => Some(
            parse_rfc3339_utc(t)
                .ok_or_else(|| format!("until: expected RFC 3339 UTC, got {t:?}"))?,
        ),
        (None, Some(d)) if d.is_finite() && d > 0.0 => Some(now_ms + (d * 1000.0) as i64),
        (None, Some(d)) => return Err(format!("duration_s: expected seconds > 0, got {d}")),
        (None, None) => None,
    };
    if until_ms.is_some_and(|u| u <= now_ms) {
        return Err("until: the time has already passed".into());
    }
    if req.until_resolved && incident.is_none() {
        return Err("until_resolved needs an incident".into());
    }
    if until_ms.is_none() && !req.until_resolved {
        return Err("a silence needs an end: until, duration_s or until_resolved".into());
    }
    Ok(Silence {
        id: String::new(),
        incident,
        element,
        until_ms,
        until_resolved: req.until_resolved,
        by: by.to_owned(),
        comment: req.comment,
        created_ms: now_ms,
    })
}

async fn add(
    State(s): State<ApiState>,
    Extension(by): Extension<Principal>,
    body: Result<Json<NewSilence>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Some(outbox) = &s.outbox else {
        return error(StatusCode::NOT_FOUND, NO_EMAIL);
    };
    let Ok(Json(req)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "body: expected JSON {incident?, element?, until?, duration_s?, until_resolved?, comment?}",
        );
    };
    let now = s.clock.now_ms();
    let silence = match parse(req, &by.name, now) {
        Ok(x) => x,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let added = outbox.lock().add_silence(silence);
    match added {
        Ok(x) => (StatusCode::CREATED, Json(view(&x, now))).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn end(State(s): State<ApiState>, Path(id): Path<String>) -> Response {
    let Some(outbox) = &s.outbox else {
        return error(StatusCode::NOT_FOUND, NO_EMAIL);
    };
    let ended = outbox.lock().end_silence(&id, s.clock.now_ms());
    match ended {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, format!("no active silence {id}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// The silence routes over the node's outbox (`None` without `[email]`), for operators.
pub fn routes(auth: &Auth, outbox: Option<Arc<Mutex<Outbox>>>, clock: Clock) -> Router {
    let r = Router::new()
        .route("/api/silences", get(list).post(add))
        .route("/api/silences/{id}", delete(end))
        .with_state(ApiState { outbox, clock });
    auth.protect(Role::Operator, r)
}

#[cfg(test)]
mod tests {
    use seawatch_runtime::Metrics;

    use super::*;
    use crate::auth::AuthConfig;
    use crate::metrics::ConsoleMetrics;
    use crate::testutil::{http, serve};

    #[tokio::test]
    async fn operators_add_list_and_end_silences_and_bad_ones_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::manual(1_796_601_600_000);
        let auth = Auth::open(
            dir.path(),
            &AuthConfig::default(),
            clock.clone(),
            ConsoleMetrics::register(&Metrics::new()),
        )
        .unwrap();
        let outbox = Arc::new(Mutex::new(
            Outbox::open(&dir.path().join("outbox")).unwrap(),
        ));
        let addr = serve(routes(&auth, Some(outbox.clone()), clock.clone())).await;
        let viewer = auth.issue("deck", Role::Viewer);
        let op = auth.issue("officer", Role::Operator);
        let body = r#"{"incident":"aurora-3","until_resolved":true,"comment":"fw-1 work"}"#;
        assert_eq!(http(addr, "POST", "/api/silences", None, body).await.0, 401);
        assert_eq!(
            http(addr, "POST", "/api/silences", Some(&viewer), body)
                .await
                .0,
            403
        );
        let (code, out) = http(addr, "POST", "/api/silences", Some(&op), body).await;
        assert_eq!(code, 201, "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["id"], "s-1");
        assert_eq!(v["by"], "officer");
        assert_eq!(v["active"], true);
        let (code, out) = http(
            addr,
            "POST",
            "/api/silences",
            Some(&op),
            r#"{"element":"pbx-1","duration_s":3600}"#,
        )
        .await;
        assert_eq!(code, 201, "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["until"], "2026-12-07T01:00:00.000Z");
        for (bad, why) in [
            (r#"{"comment":"x"}"#, "needs an incident or an element"),
            (r#"{"element":"pbx-1"}"#, "needs an end"),
            (
                r#"{"element":"pbx-1","until_resolved":true}"#,
                "needs an incident",
            ),
            (r#"{"element":"pbx-1","until":"yesterday"}"#, "RFC 3339"),
            (r#"{"element":"pbx-1","duration_s":-5}"#, "seconds > 0"),
            (r#"{"element":"pbx-1","bogus":1}"#, "expected JSON"),
        ] {
            let (code, out) = http(addr, "POST", "/api/silences", Some(&op), bad).await;
            assert_eq!(code, 400, "{bad}");
            assert!(out.contains(why), "{bad}: {out}");
        }
        let (code, out) = http(addr, "GET", "/api/silences", Some(&op), "").await;
        assert_eq!(code, 200);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 2);
        assert_eq!(
            http(addr, "DELETE", "/api/silences/s-1", Some(&op), "")
                .await
                .0,
            204
        );
        assert_eq!(
            http(addr, "DELETE", "/api/silences/s-1", Some(&op), "")
                .await
                .0,
            404
        );
        // Durable: the outbox reopened from its journal has the one left.
        drop(outbox);
        let reopened = Outbox::open(&dir.path().join("outbox")).unwrap();
        assert_eq!(reopened.silences().len(), 1);
        assert_eq!(reopened.silences()[0].id, "s-2");
    }
}
