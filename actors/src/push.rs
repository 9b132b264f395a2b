//! The push bus: state changes that the console's WebSocket sessions forward to clients
//! (contracts §2: `{"type": "incident"|"link"|"fleet"|"runbook", ...}`).
//!
//! Producers (incident actors, link actors, the fleet view, runbook executions) publish a
//! [`Push`]; each WebSocket session subscribes and filters by ship. The bus is a bounded
//! broadcast: a slow subscriber that falls behind loses the oldest pushes and learns how
//! many it missed (`RecvError::Lagged`), so it can ask for a fresh snapshot instead;
//! publishers never wait for subscribers.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::broadcast;

/// What a push is about (the `type` field of the WebSocket message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PushKind {
    /// An incident opened, changed or resolved.
    Incident,
    /// A link's state or outage risk changed.
    Link,
    /// The fleet view changed (shore).
    Fleet,
    /// A runbook execution changed.
    Runbook,
}

impl PushKind {
    /// The `type` string on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            PushKind::Incident => "incident",
            PushKind::Link => "link",
            PushKind::Fleet => "fleet",
            PushKind::Runbook => "runbook",
        }
    }
}

/// One state change.
#[derive(Debug, Clone, PartialEq)]
pub struct Push {
    /// What it is about.
    pub kind: PushKind,
    /// The ship it concerns (`None` for fleet-wide pushes).
    pub ship: Option<String>,
    /// The payload: a JSON object; the session adds `"type"`.
    pub body: serde_json::Value,
}

impl Push {
    /// The message as sent to a client: the body's fields plus `"type"`.
    pub fn to_wire(&self) -> String {
        let mut body = match &self.body {
            serde_json::Value::Object(m) => m.clone(),
            other => {
                let mut m = serde_json::Map::new();
                m.insert("data".into(), other.clone());
                m
            }
        };
        body.insert("type".into(), self.kind.as_str().into());
        serde_json::Value::Object(body).to_string()
    }
}

/// A broadcast bus of pushes. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PushBus {
    tx: broadcast::Sender<Arc<Push>>,
}

impl PushBus {
    /// A bus keeping up to `capacity` pushes for its slowest subscriber.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Self { tx }
    }

    /// Publishes a push; never blocks; a push with no subscriber is dropped.
    pub fn publish(&self, push: Push) {
        let _ = self.tx.send(Arc::new(push));
    }

    /// A new subscription, seeing pushes published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Push>> {
        self.tx.subscribe()
    }

    /// Number of live subscribers.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}

impl Default for PushBus {
    fn default() -> Self {
        Self::new(1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wire_form_has_type_and_lagging_subscriber_learns_it() {
        let bus = PushBus::new(2);
        let mut rx = bus.subscribe();
        for i in 0..4 {
            bus.publish(Push {
                kind: PushKind::Incident,
                ship: Some("aurora".into()),
                body: serde_json::json!({"id": i}),
            });
        }
        assert!(matches!(
            rx.recv().await,
            Err(broadcast::error::RecvError::Lagged(2))
        ));
        let p = rx.recv().await.unwrap();
        let v: serde_json::Value = serde_json::from_str(&p.to_wire()).unwrap();
        assert_eq!(v["type"], "incident");
        assert_eq!(v["id"], 2);
    }
}
