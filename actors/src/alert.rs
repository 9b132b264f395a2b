//! Alerts: what device, link and detector actors raise and the per-ship correlator
//! turns into incidents.
//!
//! An alert names its *subject* (a device or link id of the ship's inventory, or a
//! discovered device), a *class* of symptom, and the event time it refers to. Producers
//! never read a scenario's fault list; they see only telemetry and inventory. An alert
//! is either firing or cleared: producers send `Cleared` for the same
//! `(subject, class, series)` when the symptom is gone, so the correlator can resolve
//! incidents with hysteresis.
//!
//! [`AlertSink`] is the seam between producers and the correlator: producers hold a sink
//! and call [`AlertSink::raise`]; whoever builds the ship tree decides where alerts go
//! (the correlator actor, a test channel, or nowhere).

use std::fmt;
use std::sync::Arc;

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
}

impl Alert {
    /// The key under which a producer's firing and cleared alerts match.
    pub fn key(&self) -> (&str, AlertClass, Option<&str>) {
        (&self.subject, self.class, self.series.as_deref())
    }
}

/// Where alerts go. Cheap to clone; calling it never blocks.
#[derive(Clone)]
pub struct AlertSink(Arc<dyn Fn(Alert) + Send + Sync>);

impl AlertSink {
    /// A sink that drops every alert (no correlator attached).
    pub fn none() -> Self {
        Self(Arc::new(|_| {}))
    }

    /// A sink calling `f` for each alert. `f` must not block (send to an actor or an
    /// unbounded channel).
    pub fn from_fn(f: impl Fn(Alert) + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// A sink feeding an unbounded channel, and its receiver (tests, bridges).
    pub fn channel() -> (Self, tokio::sync::mpsc::UnboundedReceiver<Alert>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (
            Self::from_fn(move |a| {
                let _ = tx.send(a);
            }),
            rx,
        )
    }

    /// Hands an alert to the sink.
    pub fn raise(&self, alert: Alert) {
        (self.0)(alert)
    }
}

impl Default for AlertSink {
    fn default() -> Self {
        Self::none()
    }
}

impl fmt::Debug for AlertSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AlertSink")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn channel_sink_delivers_in_order() {
        let (sink, mut rx) = AlertSink::channel();
        for i in 0..3 {
            sink.raise(Alert {
                ship: "s".into(),
                subject: format!("d{i}"),
                source: AlertSource::Device,
                class: AlertClass::Unreachable,
                severity: AlertSeverity::Critical,
                state: AlertState::Firing,
                ts_ms: i,
                series: None,
                score: 1.0,
                detail: String::new(),
            });
        }
        for i in 0..3 {
            assert_eq!(rx.recv().await.unwrap().subject, format!("d{i}"));
        }
        AlertSink::none().raise(Alert {
            ship: "s".into(),
            subject: "x".into(),
            source: AlertSource::Link,
            class: AlertClass::Down,
            severity: AlertSeverity::Critical,
            state: AlertState::Cleared,
            ts_ms: 0,
            series: None,
            score: 1.0,
            detail: String::new(),
        });
    }
}
