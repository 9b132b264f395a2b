//! `/healthz` and `/metrics` over HTTP (axum).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::metrics::Metrics;

/// Whether the node's supervision tree is up; `/healthz` answers 200 only while it is:
/// the node says it is up ([`Health::set`]) and, for a health made with
/// [`Health::of_tree`], no permanent child of its supervisors is down or restarting.
#[derive(Debug, Clone, Default)]
pub struct Health {
    up: Arc<AtomicBool>,
    down: Option<Arc<AtomicI64>>,
}

impl Health {
    /// Starts unhealthy.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts unhealthy; once set up, healthy only while every permanent child of
    /// `runtime`'s supervisors runs.
    pub fn of_tree(runtime: &crate::Runtime) -> Self {
        Self {
            up: Arc::default(),
            down: Some(runtime.down_counter().clone()),
        }
    }

    /// Sets the state.
    pub fn set(&self, up: bool) {
        self.up.store(up, Ordering::Release);
    }

    /// Current state.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
            && self
                .down
                .as_ref()
                .is_none_or(|d| d.load(Ordering::Acquire) <= 0)
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
