//! The incident board: the latest state of every incident of the ships a node hosts,
//! shared between the correlator actors (writers) and the API and reports (readers).

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;

use super::model::{Incident, IncidentState};

#[derive(Debug, Default)]
struct Inner {
    incidents: BTreeMap<(String, u64), Incident>,
    alerts: BTreeMap<String, u64>,
}

/// Shared incident state. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct IncidentBoard {
    inner: Arc<RwLock<Inner>>,
}

/// Which incidents a query wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StateFilter {
    /// Open and acknowledged.
    Open,
    /// Resolved.
    Resolved,
    /// Everything.
    #[default]
    All,
}

/// Orders incident ids `<ship>-<n>` by ship, then number (not as strings: 10 after 9).
fn order_key(inc: &Incident) -> (String, u64) {
    let n = inc
        .id
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX);
    (inc.ship.clone(), n)
}

impl IncidentBoard {
    /// An empty board.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the latest state of an incident.
    pub fn upsert(&self, incident: &Incident) {
        self.inner
            .write()
            .incidents
            .insert(order_key(incident), incident.clone());
    }

    /// Records how many alerts a ship's correlator has received.
    pub fn set_alerts(&self, ship: &str, alerts: u64) {
        self.inner.write().alerts.insert(ship.to_string(), alerts);
    }

    /// Alerts received, summed over ships.
    pub fn alerts_total(&self) -> u64 {
        self.inner.read().alerts.values().sum()
    }

    /// Incidents of `ship` (or every ship) in `state`, by ship then opening order.
    /// Incidents merged into another are left out: their alerts live on in the other.
    pub fn list(&self, ship: Option<&str>, state: StateFilter) -> Vec<Incident> {
        self.inner
            .read()
            .incidents
            .values()
            .filter(|i| i.merged_into.is_none())
            .filter(|i| ship.is_none_or(|s| i.ship == s))
            .filter(|i| match state {
                StateFilter::All => true,
                StateFilter::Open => i.state.is_open(),
                StateFilter::Resolved => i.state == IncidentState::Resolved,
            })
            .cloned()
            .collect()
    }

    /// The incident with this id (merged ones included: their id stays valid).
    pub fn get(&self, id: &str) -> Option<Incident> {
        self.inner
            .read()
            .incidents
            .values()
            .find(|i| i.id == id)
            .cloned()
    }

    /// Open incidents by (ship, severity), for the `seawatch_incidents_open` gauge.
    pub fn open_counts(&self) -> BTreeMap<(String, &'static str), i64> {
        let mut m = BTreeMap::new();
        for i in self.inner.read().incidents.values() {
            if i.state.is_open() && i.merged_into.is_none() {
                *m.entry((i.ship.clone(), i.severity.as_str())).or_default() += 1;
            }
        }
        m
    }
}
