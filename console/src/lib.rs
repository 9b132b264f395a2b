//! The ops console of a seawatch node (issue 7): authentication and roles for the HTTP
//! API, WebSocket sessions that push state changes to browsers, and the web UI built into
//! the binary.
#![warn(missing_docs)]

pub mod auth;
pub mod elements;
#[cfg(test)]
mod elements_api_tests;
#[cfg(test)]
mod incident_api_tests;
pub mod logs;
#[cfg(test)]
mod logs_tests;
pub mod metrics;
pub mod models;
pub mod rollouts;
pub mod rt;
pub mod runbooks;
pub mod shore_runbooks;
pub mod silences;
#[cfg(test)]
mod testutil;
pub mod ui;
pub mod ws;

pub use auth::{Access, Auth, AuthConfig, Principal, Role};

/// An API error: `status` with `{"error": msg}` (every route of the console answers
/// errors this way).
pub(crate) fn json_error(
    status: axum::http::StatusCode,
    msg: impl Into<String>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        status,
        axum::Json(serde_json::json!({ "error": msg.into() })),
    )
        .into_response()
}
pub use metrics::ConsoleMetrics;
pub use rt::ConsoleRuntime;
pub use ws::{sessions_supervisor, EmptySnapshots, SnapshotSource, WsConfig, WsHub};
