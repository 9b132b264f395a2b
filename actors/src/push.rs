//! The push bus: state changes that the console's WebSocket sessions forward to clients
//! (contracts §2: `{"type": "incident"|"link"|"fleet"|"runbook", ...}`, and at shore
//! `"rollout"` for admins' sessions).
//!
//! Producers (incident actors, link actors, the fleet view, runbook executions) publish a
//! [`Push`]; each WebSocket session subscribes and filters by ship. The bus is a bounded
//! broadcast: a slow subscriber that falls behind loses the oldest pushes and learns how
//! many it missed (`RecvError::Lagged`), so it can ask for a fresh snapshot instead;
//! publishers never wait for subscribers.
//!
//! The bus also keeps the latest push of every link ([`PushBus::latest_links`]): a link
//! pushes only when its state or risk changes, so a session opened later would otherwise
//! see no link until the next change.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;
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
    /// A rollout changed (shore): the whole rollout, as `GET /api/rollouts/{id}` shows
    /// it. Only admins' sessions get it (the rollout routes are for admins).
    Rollout,
}

impl PushKind {
    /// The `type` string on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            PushKind::Incident => "incident",
            PushKind::Link => "link",
            PushKind::Fleet => "fleet",
            PushKind::Runbook => "runbook",
            PushKind::Rollout => "rollout",
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

/// The latest push of each link, by (ship, link).
type LatestLinks = BTreeMap<(String, String), Arc<Push>>;

/// A broadcast bus of pushes. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PushBus {
    tx: broadcast::Sender<Arc<Push>>,
    /// The latest link push by (ship, link): bounded by the inventory's links.
    links: Arc<RwLock<LatestLinks>>,
}

impl PushBus {
    /// A bus keeping up to `capacity` pushes for its slowest subscriber.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Self {
            tx,
            links: Arc::default(),
        }
    }

    /// Publishes a push; never blocks; a push with no subscriber is dropped (a link push
    /// is still kept as that link's latest).
    pub fn publish(&self, push: Push) {
        let push = Arc::new(push);
        if push.kind == PushKind::Link {
            let link = push.body.get("link").and_then(|l| l.as_str());
            if let (Some(ship), Some(link)) = (push.ship.as_deref(), link) {
                self.links
                    .write()
                    .insert((ship.to_owned(), link.to_owned()), push.clone());
            }
        }
        let _ = self.tx.send(push);
    }

    /// The latest push of every link of `ship` (every ship when `None`), by ship then
    /// link: what a new session's snapshot shows of the links.
    pub fn latest_links(&self, ship: Option<&str>) -> Vec<Push> {
        self.links
            .read()
            .iter()
            .filter(|((s, _), _)| ship.is_none_or(|w| w == s))
            .map(|(_, p)| Push::clone(p))
            .collect()
    }

    /// The latest push of every link of `ship` (every ship when `None`), shared: what
    /// [`PushBus::latest_links`] gives without copying the pushes (for callers that
    /// only read them, such as the sync's tick).
    pub fn latest_links_shared(&self, ship: Option<&str>) -> Vec<Arc<Push>> {
        self.links
            .read()
            .iter()
            .filter(|((s, _), _)| ship.is_none_or(|w| w == s))
            .map(|(_, p)| Arc::clone(p))
            .collect()
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

    fn link(ship: &str, link: &str, risk: f64) -> Push {
        Push {
            kind: PushKind::Link,
            ship: Some(ship.into()),
            body: serde_json::json!({"ship": ship, "link": link, "risk": risk}),
        }
    }

    #[test]
    fn the_latest_push_of_each_link_is_kept_for_later_sessions() {
        let bus = PushBus::new(4);
        bus.publish(link("aurora", "vsat-1", 0.1));
        bus.publish(link("aurora", "vsat-1", 0.8));
        bus.publish(link("aurora", "lte-1", 0.0));
        bus.publish(link("borealis", "vsat-1", 0.2));
        bus.publish(Push {
            kind: PushKind::Incident,
            ship: Some("aurora".into()),
            body: serde_json::json!({"id": "aurora-1", "link": "vsat-1"}),
        });
        let aurora = bus.latest_links(Some("aurora"));
        assert_eq!(
            aurora,
            vec![link("aurora", "lte-1", 0.0), link("aurora", "vsat-1", 0.8)]
        );
        assert_eq!(bus.latest_links(None).len(), 3);
        assert!(bus.latest_links(Some("calypso")).is_empty());
    }

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
