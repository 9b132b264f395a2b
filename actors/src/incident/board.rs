//! The incident board: the latest state of every incident of the ships a node hosts,
//! shared between the correlator actors (writers) and the API and reports (readers).

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;

use super::model::{Incident, IncidentEvent, IncidentEventKind, IncidentState};

/// Most timeline entries kept per incident: the first [`TIMELINE_HEAD`] and the latest
/// rest (a flapping incident attaches alerts for hours).
pub const TIMELINE_MAX: usize = 200;
/// Entries kept from the start of a long timeline.
pub const TIMELINE_HEAD: usize = 50;

/// One step of an incident's life, for its timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    /// Event time, unix ms.
    pub ts_ms: i64,
    /// `opened`, `alert`, `root_cause`, `evidence`, `acknowledged`, `resolved`,
    /// `reopened`.
    pub kind: &'static str,
    /// The element or person it is about (the alert's subject, the new root, who
    /// acknowledged).
    pub source: String,
    /// In words.
    pub text: String,
}

impl TimelineEntry {
    /// The entry of one lifecycle event.
    pub fn of(e: &IncidentEvent) -> Self {
        let i = &e.incident;
        let (kind, source, text) = match &e.kind {
            IncidentEventKind::Opened => (
                "opened",
                i.root_cause.clone(),
                format!("opened: {}", i.summary),
            ),
            IncidentEventKind::AlertAttached { subject } => (
                "alert",
                subject.clone(),
                format!("alert on {subject} attached ({} in all)", i.alerts),
            ),
            IncidentEventKind::RootCauseChanged { from } => (
                "root_cause",
                i.root_cause.clone(),
                format!("root cause changed from {from} to {}", i.root_cause),
            ),
            IncidentEventKind::Acknowledged { by } => {
                ("acknowledged", by.clone(), format!("acknowledged by {by}"))
            }
            IncidentEventKind::Resolved => (
                "resolved",
                i.root_cause.clone(),
                match &i.merged_into {
                    Some(m) => format!("merged into {m}"),
                    None => "resolved: symptoms cleared".to_string(),
                },
            ),
            IncidentEventKind::Reopened => (
                "reopened",
                i.root_cause.clone(),
                "reopened: symptoms came back".to_string(),
            ),
            IncidentEventKind::EvidenceChanged => (
                "evidence",
                i.root_cause.clone(),
                format!(
                    "evidence changed: {}",
                    i.evidence.last().map_or("", String::as_str)
                ),
            ),
        };
        Self {
            ts_ms: e.ts_ms,
            kind,
            source,
            text,
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    incidents: BTreeMap<(String, u64), Incident>,
    alerts: BTreeMap<String, u64>,
    /// Incident id -> (ship, timeline).
    timelines: std::collections::HashMap<String, (String, Vec<TimelineEntry>)>,
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

    /// Adds a lifecycle event to its incident's timeline (bounded by [`TIMELINE_MAX`]).
    pub fn record(&self, e: &IncidentEvent) {
        let mut inner = self.inner.write();
        let (_, t) = inner
            .timelines
            .entry(e.incident.id.clone())
            .or_insert_with(|| (e.incident.ship.clone(), Vec::new()));
        t.push(TimelineEntry::of(e));
        if t.len() > TIMELINE_MAX {
            t.remove(TIMELINE_HEAD);
        }
    }

    /// Forgets the timelines of `ship`'s incidents (a correlator replaying its log
    /// records them afresh).
    pub fn clear_timelines(&self, ship: &str) {
        self.inner.write().timelines.retain(|_, (s, _)| s != ship);
    }

    /// The timeline of an incident, oldest first (empty if none was recorded).
    pub fn timeline(&self, id: &str) -> Vec<TimelineEntry> {
        let mut t = self
            .inner
            .read()
            .timelines
            .get(id)
            .map(|(_, t)| t.clone())
            .unwrap_or_default();
        t.sort_by_key(|e| e.ts_ms);
        t
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
