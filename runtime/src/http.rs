//! `/healthz` and `/metrics` over HTTP (axum).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::metrics::Metrics;

/// Whether the node's supervision tree is up; `/healthz` answers 200 only while it is.
#[derive(Debug, Clone, Default)]
pub struct Health(Arc<AtomicBool>);

impl Health {
    /// Starts unhealthy.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the state.
    pub fn set(&self, up: bool) {
        self.0.store(up, Ordering::Release);
    }

    /// Current state.
    pub fn is_up(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

#[derive(Clone)]
struct ObsState {
    metrics: Arc<Metrics>,
    health: Health,
}

/// A router with `GET /healthz` and `GET /metrics`, to merge into a node's HTTP server.
pub fn router(metrics: Arc<Metrics>, health: Health) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .with_state(ObsState { metrics, health })
}

async fn healthz(State(s): State<ObsState>) -> impl IntoResponse {
    if s.health.is_up() {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "supervision tree not up\n")
    }
}

async fn metrics_text(State(s): State<ObsState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.encode(),
    )
}
