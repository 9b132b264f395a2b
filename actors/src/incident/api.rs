//! `GET /api/incidents?ship=&state=open|resolved|all` and `GET /api/incidents/{id}`
//! (contracts §2).
//!
//! Mounted by the ship (and later behind the console's auth middleware) through
//! [`routes`]. Times are RFC 3339 UTC; `resolved_at` is null while open.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::board::{IncidentBoard, StateFilter};
use super::model::{Candidate, Incident};

/// Query parameters.
#[derive(Debug, Default, Deserialize)]
pub struct IncidentQuery {
    /// Only this ship.
    pub ship: Option<String>,
    /// `open` (with acknowledged), `resolved` or `all` (default).
    pub state: Option<String>,
}

/// One incident as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentView {
    /// Incident id.
    pub id: String,
    /// Ship id.
    pub ship: String,
    /// Device or link id.
    pub root_cause: String,
    /// `minor`, `major` or `critical`.
    pub severity: String,
    /// `open`, `acknowledged` or `resolved`.
    pub state: String,
    /// Alerts attached.
    pub alerts: u64,
    /// RFC 3339 UTC.
    pub opened_at: String,
    /// RFC 3339 UTC, null while open.
    pub resolved_at: Option<String>,
    /// One line for operators.
    pub summary: String,
    /// Elements with symptoms (root included).
    pub members: Vec<String>,
    /// Root-cause candidates, best first, each `{"element","score"}`.
    pub candidates: Vec<Candidate>,
    /// The alerts and topology facts that decided the root cause, in words.
    pub evidence: Vec<String>,
    /// The incident this one was merged into, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<String>,
    /// Its life, oldest first (`GET /api/incidents/{id}` only; absent in the list).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<TimelineView>,
}

/// One timeline entry as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineView {
    /// RFC 3339 UTC.
    pub at: String,
    /// `opened`, `alert`, `root_cause`, `evidence`, `acknowledged`, `resolved`,
    /// `reopened`.
    pub kind: String,
    /// The element or person it is about.
    pub source: String,
    /// In words.
    pub text: String,
}

impl IncidentView {
    /// The API form of an incident.
    pub fn from_incident(i: &Incident) -> Self {
        Self {
            id: i.id.clone(),
            ship: i.ship.clone(),
            root_cause: i.root_cause.clone(),
            severity: i.severity.as_str().to_string(),
            state: i.state.as_str().to_string(),
            alerts: i.alerts,
            opened_at: rfc3339(i.opened_at_ms),
            resolved_at: i.resolved_at_ms.map(rfc3339),
            summary: i.summary.clone(),
            members: i.members.clone(),
            candidates: i.candidates.clone(),
            evidence: i.evidence.clone(),
            merged_into: i.merged_into.clone(),
            timeline: Vec::new(),
        }
    }
}

/// Unix ms as RFC 3339 UTC with milliseconds (one formatter: `seawatch_model::time`).
pub use seawatch_model::time::rfc3339;

async fn list(State(board): State<IncidentBoard>, Query(q): Query<IncidentQuery>) -> Response {
    let state = match q.state.as_deref() {
        None | Some("all") => StateFilter::All,
        Some("open") => StateFilter::Open,
        Some("resolved") => StateFilter::Resolved,
        Some(other) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({
                    "error": format!("state={other}: expected open, resolved or all")
                })),
            )
                .into_response()
        }
    };
    let views: Vec<IncidentView> = board
        .list(q.ship.as_deref(), state)
        .iter()
        .map(IncidentView::from_incident)
        .collect();
    Json(views).into_response()
}

async fn one(State(board): State<IncidentBoard>, Path(id): Path<String>) -> Response {
    match board.get(&id) {
        Some(i) => {
            let mut view = IncidentView::from_incident(&i);
            view.timeline = board
                .timeline(&id)
                .into_iter()
                .map(|t| TimelineView {
                    at: rfc3339(t.ts_ms),
                    kind: t.kind.to_string(),
                    source: t.source,
                    text: t.text,
                })
                .collect();
            Json(view).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "error": format!("no incident {id}") })),
        )
            .into_response(),
    }
}

/// The incidents API over `board`: the list and one incident by id.
pub fn routes(board: IncidentBoard) -> Router {
    Router::new()
        .route("/api/incidents", get(list))
        .route("/api/incidents/{id}", get(one))
        .with_state(board)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_through_the_decoder() {
        for ms in [0, 1_741_932_000_123, 951_782_400_000, -86_400_000] {
            let s = rfc3339(ms);
            let back = crate::ingest::decode::parse_rfc3339_ms(s.as_bytes())
                .unwrap()
                .unwrap()
                .0;
            assert_eq!(back, ms, "{s}");
        }
        assert_eq!(rfc3339(1_741_932_000_000), "2025-03-14T06:00:00.000Z");
    }
}
