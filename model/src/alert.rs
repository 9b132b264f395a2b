//! Alerts: what device, link and detector actors raise and a ship's correlator turns
//! into incidents.
//!
//! An alert names its *subject* (a device or link id of the ship's inventory, or a
//! discovered device), a *class* of symptom, and the event time it refers to. An alert
//! is either firing or cleared: producers send `Cleared` for the same
//! `(subject, class, series)` when the symptom is gone.

use serde::{Deserialize, Serialize};

/// Which actor family raised an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertSource {
    /// A device actor (health from probes, silence, error logs, interface state).
    Device,
    /// A link actor (modem KPIs: lock, Es/No, BER).
    Link,
    /// A detector actor (anomaly score on a metric series).
    Detector,
    /// A forecaster (capacity early warning, e.g. disk full in N hours).
    Forecast,
    /// Peer comparison across similar devices.
    Peer,
    /// Link-outage prediction.
    Prediction,
}

/// The kind of symptom, used by the correlator to group alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertClass {
    /// Nothing heard from the subject, or probes to it fail.
    Unreachable,
    /// The subject reports itself down (interface down, link lost lock).
    Down,
    /// The subject works but worse (link below its degraded threshold, high error rate).
    Degraded,
    /// Error-or-worse log lines above the subject's usual rate.
    Errors,
    /// The subject goes up and down repeatedly.
    Flapping,
    /// A metric series behaves anomalously (detector ensemble).
    Anomaly,
    /// A resource is forecast to run out (disk, memory).
    Capacity,
    /// The subject behaves unlike its peers.
    Outlier,
    /// A link outage is predicted.
    OutageRisk,
}

/// How bad an alert is, as its producer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertSeverity {
    /// Worth knowing.
    Info,
    /// Needs attention.
    Warning,
    /// Service is affected.
    Critical,
}

/// Firing or cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// The symptom is present.
    Firing,
    /// The symptom is gone.
    Cleared,
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The ship.
    pub ship: String,
    /// Device or link id.
    pub subject: String,
    /// Which actor family raised it.
    pub source: AlertSource,
    /// The symptom.
    pub class: AlertClass,
    /// Severity as the producer sees it (the correlator derives incident severity
    /// from impact).
    pub severity: AlertSeverity,
    /// Firing or cleared.
    pub state: AlertState,
    /// Event time the alert refers to, unix ms (simulated time in `sim run`).
    pub ts_ms: i64,
    /// The metric series concerned, if any (name plus sorted labels).
    pub series: Option<String>,
    /// Strength in `[0, 1]` (anomaly score, risk), 1 for plain state changes.
    pub score: f64,
    /// A short human-readable explanation.
    pub detail: String,
    /// A firing capacity forecast's event time of exhaustion, unix ms (the resource is
    /// forecast to run out then); `None` for every other alert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exhausts_at_ms: Option<i64>,
}

impl Alert {
    /// The key under which a producer's firing and cleared alerts match.
    pub fn key(&self) -> (&str, AlertClass, Option<&str>) {
        (&self.subject, self.class, self.series.as_deref())
    }
}
