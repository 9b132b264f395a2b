//! The console's metrics (contracts §6 naming; labels bounded: reasons and results are
//! fixed sets, ships come from the node's known ships).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use seawatch_runtime::Metrics;

/// `{result}` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `ok`, `bad_credentials`, `rate_limited`, `bad_request`.
    pub result: &'static str,
}

/// `{reason}` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// A fixed reason name.
    pub reason: &'static str,
}

/// `{ship}` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ShipLabel {
    /// A known ship id, or `all` for sessions not subscribed to one ship.
    pub ship: String,
}

/// Auth and WebSocket metrics of a node.
#[derive(Debug, Clone, Default)]
pub struct ConsoleMetrics {
    /// `seawatch_auth_logins_total{result}`.
    pub logins: Family<ResultLabel, Counter>,
    /// `seawatch_auth_rejected_total{reason}`: requests refused (`missing`, `invalid`,
    /// `expired`, `forbidden`, `no_role`).
    pub rejected: Family<ReasonLabel, Counter>,
    /// `seawatch_ws_sessions{ship}`: open WebSocket sessions.
    pub ws_sessions: Family<ShipLabel, Gauge>,
    /// `seawatch_ws_closed_total{reason}`.
    pub ws_closed: Family<ReasonLabel, Counter>,
    /// `seawatch_ws_snapshots_total{reason}`: snapshots sent (`subscribe`, `lagged`,
    /// `overflow`).
    pub ws_snapshots: Family<ReasonLabel, Counter>,
    /// `seawatch_ws_pushes_total`: push messages queued to clients.
    pub ws_pushes: Counter,
}

impl ConsoleMetrics {
    /// Registers the metrics into `metrics`.
    pub fn register(metrics: &Metrics) -> Self {
        let m = Self::default();
        metrics.register(
            "seawatch_auth_logins",
            "Login attempts by result",
            m.logins.clone(),
        );
        metrics.register(
            "seawatch_auth_rejected",
            "Requests refused for want of a valid token or role",
            m.rejected.clone(),
        );
        metrics.register(
            "seawatch_ws_sessions",
            "Open WebSocket sessions by subscribed ship",
            m.ws_sessions.clone(),
        );
        metrics.register(
            "seawatch_ws_closed",
            "WebSocket sessions closed, by reason",
            m.ws_closed.clone(),
        );
        metrics.register(
            "seawatch_ws_snapshots",
            "Snapshots sent to WebSocket clients, by reason",
            m.ws_snapshots.clone(),
        );
        metrics.register(
            "seawatch_ws_pushes",
            "Push messages queued to WebSocket clients",
            m.ws_pushes.clone(),
        );
        m
    }

    /// Counts a login attempt.
    pub fn login(&self, result: &'static str) {
        self.logins.get_or_create(&ResultLabel { result }).inc();
    }

    /// Counts a closed WebSocket session.
    pub fn ws_closed_inc(&self, reason: &'static str) {
        self.ws_closed.get_or_create(&ReasonLabel { reason }).inc();
    }

    /// Counts a refused request.
    pub fn reject(&self, reason: &'static str) {
        self.rejected.get_or_create(&ReasonLabel { reason }).inc();
    }
}
