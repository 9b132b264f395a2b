//! Incident records and the events of their lifecycle.

use serde::{Deserialize, Serialize};

/// Where an incident is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    /// Symptoms present (or cleared for less than the resolve hysteresis).
    Open,
    /// An operator has acknowledged it; still open.
    Acknowledged,
    /// Symptoms gone for the resolve hysteresis (or merged into another incident).
    Resolved,
}

impl IncidentState {
    /// The API string.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Open => "open",
            IncidentState::Acknowledged => "acknowledged",
            IncidentState::Resolved => "resolved",
        }
    }

    /// Open or acknowledged.
    pub fn is_open(self) -> bool {
        !matches!(self, IncidentState::Resolved)
    }
}

/// Incident severity, from impact (how many elements, and which kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentSeverity {
    /// One non-critical element, no service impact beyond it.
    Minor,
    /// Several elements, or a degraded service.
    Major,
    /// Many elements, a critical kind (POS, PBX, firewall, core) or the primary link down.
    Critical,
}

impl IncidentSeverity {
    /// The API string.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentSeverity::Minor => "minor",
            IncidentSeverity::Major => "major",
            IncidentSeverity::Critical => "critical",
        }
    }
}

/// Moments of activity kept per incident ([`Incident::active_since_ms`]).
pub const ACTIVE_SINCE_MAX: usize = 16;

impl Incident {
    /// Records that the incident became active at `ts_ms` (bounded).
    pub fn mark_active(&mut self, ts_ms: i64) {
        if self.active_since_ms.last() == Some(&ts_ms) {
            return;
        }
        if self.active_since_ms.len() >= ACTIVE_SINCE_MAX {
            self.active_since_ms.remove(0);
        }
        self.active_since_ms.push(ts_ms);
    }
}

/// One incident: a root cause and the alerts it explains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Stable id: `<ship>-<n>`, `n` counting from 1 per ship.
    pub id: String,
    /// The ship.
    pub ship: String,
    /// The device or link that best explains the alerts.
    pub root_cause: String,
    /// Severity from impact.
    pub severity: IncidentSeverity,
    /// Lifecycle state.
    pub state: IncidentState,
    /// Firing alerts attached over the incident's life.
    pub alerts: u64,
    /// Event time it opened, unix ms.
    pub opened_at_ms: i64,
    /// Event time it resolved, unix ms (`None` while open).
    pub resolved_at_ms: Option<i64>,
    /// Event times it became active, unix ms, oldest first (at most
    /// [`ACTIVE_SINCE_MAX`], the latest kept): its opening, each re-opening, each
    /// root-cause change, each new symptom after all of its symptoms had cleared, and
    /// its root's escalation from trouble (errors, degraded, flapping) to failure
    /// (unreachable or down) (empty in records written before this field).
    #[serde(default)]
    pub active_since_ms: Vec<i64>,
    /// Elements with symptoms explained by the root cause (sorted, includes the root).
    pub members: Vec<String>,
    /// One line for operators: "dist-sw-4 unreachable; 33 ap, 1 pos behind it affected".
    pub summary: String,
    /// Incident this one was merged into, if any.
    #[serde(default)]
    pub merged_into: Option<String>,
    /// Root-cause candidates, best first (the root cause first), each scored 0..=1.
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    /// What decided the root cause, in words an operator reads: the alerts and the
    /// topology facts (inventory or learned) behind it, oldest fact first.
    #[serde(default)]
    pub evidence: Vec<String>,
    /// The kinds of symptom the root cause showed (its firing alert classes when last
    /// seen), which runbooks' `applies_to.incident_classes` match (empty in records
    /// written before this field).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<seawatch_model::alert::AlertClass>,
}

/// One root-cause candidate of an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Device or link id.
    pub element: String,
    /// How well it explains the incident's symptoms, 0..=1 (higher is better).
    pub score: f64,
}

/// What happened to an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum IncidentEventKind {
    /// A new incident.
    Opened,
    /// Alerts were attached (count in the incident record).
    AlertAttached {
        /// The subject of the attached alert.
        subject: String,
    },
    /// A better explanation was found upstream.
    RootCauseChanged {
        /// The previous root cause.
        from: String,
    },
    /// An operator acknowledged it.
    Acknowledged {
        /// Who.
        by: String,
    },
    /// Symptoms cleared for the hysteresis, or merged.
    Resolved,
    /// Symptoms came back within the grace period.
    Reopened,
    /// What decided the root cause changed around it (a parent failed later: a
    /// cascade), without a change of root: new candidates and evidence.
    EvidenceChanged,
}

/// One lifecycle event: what happened, when (event time) and the incident after it.
/// Stored in the event log (kind `incident`, body = this as JSON) and pushed to
/// WebSocket clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentEvent {
    /// Event time, unix ms.
    pub ts_ms: i64,
    /// What happened.
    #[serde(flatten)]
    pub kind: IncidentEventKind,
    /// The incident after the change.
    pub incident: Incident,
    /// The W3C `traceparent` of the span that opened the incident, on an `opened` event
    /// when traces are on (decision 0057): the shore's apply span hangs under it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}
