//! Where alerts go: what device, link and detector actors raise and the per-ship
//! correlator turns into incidents (the types are `seawatch_model::alert`).
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

// The alert vocabulary lives in `seawatch-model`; re-exported here so producers keep one
// import for an alert and its sink.
pub use seawatch_model::alert::{Alert, AlertClass, AlertSeverity, AlertSource, AlertState};

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
                exhausts_at_ms: None,
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
            exhausts_at_ms: None,
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
