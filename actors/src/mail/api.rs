//! `GET /api/notifications` (operator): the mail outbox, queued, sent and failed, with
//! ages (contracts §2, §9).

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use parking_lot::Mutex;
use seawatch_runtime::Clock;
use serde::Serialize;

use super::store::{Outbox, Status};
use crate::incident::api::rfc3339;

/// One row of the listing.
#[derive(Debug, Serialize)]
pub struct NotificationView {
    /// Message-ID.
    pub message_id: String,
    /// Incident id.
    pub incident: String,
    /// `opened`, `resolved`, `reopened`.
    pub transition: String,
    /// Severity word.
    pub severity: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Subject.
    pub subject: String,
    /// `queued`, `sent`, `failed` or `suppressed` (silenced, inhibited or withdrawn:
    /// `last_error` says which).
    pub status: Status,
    /// Not sent before (RFC 3339 UTC): the route's group wait or interval; null when it
    /// may go at once.
    pub due_at: Option<String>,
    /// RFC 3339 UTC.
    pub queued_at: String,
    /// Seconds since it was queued.
    pub age_s: f64,
    /// When it was sent or failed (RFC 3339 UTC), null while queued.
    pub done_at: Option<String>,
    /// Failed attempts.
    pub attempts: u32,
    /// The last error, or why it is suppressed.
    pub last_error: Option<String>,
}

#[derive(Clone)]
struct ApiState {
    outbox: Option<Arc<Mutex<Outbox>>>,
    clock: Clock,
}

/// Newest first, at most this many rows.
const LIMIT: usize = 1000;

async fn list(State(s): State<ApiState>) -> Json<Vec<NotificationView>> {
    let now = s.clock.now_ms();
    let Some(outbox) = &s.outbox else {
        return Json(Vec::new());
    };
    let outbox = outbox.lock();
    let rows = outbox
        .entries()
        .iter()
        .rev()
        .take(LIMIT)
        .map(|e| {
            let n = &e.notification;
            NotificationView {
                message_id: n.message_id.clone(),
                incident: n.incident.clone(),
                transition: n.transition.clone(),
                severity: n.severity.clone(),
                to: n.to.clone(),
                subject: n.subject.clone(),
                status: e.status,
                due_at: (n.due_at_ms > 0).then(|| rfc3339(n.due_at_ms)),
                queued_at: rfc3339(n.queued_at_ms),
                age_s: (now - n.queued_at_ms).max(0) as f64 / 1000.0,
                done_at: e.done_at_ms.map(rfc3339),
                attempts: e.attempts,
                last_error: e.last_error.clone(),
            }
        })
        .collect();
    Json(rows)
}

/// The route; wrap it in `auth.protect(Role::Operator, ..)`. Without an outbox (no
/// `[email]`) it answers an empty list: nothing is or was queued.
pub fn routes(outbox: Option<Arc<Mutex<Outbox>>>, clock: Clock) -> Router {
    Router::new()
        .route("/api/notifications", get(list))
        .with_state(ApiState { outbox, clock })
}
