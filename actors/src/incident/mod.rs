//! Incidents: the per-ship correlator that turns alerts from device, link and detector
//! actors into incidents with a topology-aware root cause, their lifecycle and
//! persistence in the event log, and the `GET /api/incidents` handler.

pub mod actor;
pub mod api;
pub mod board;
pub mod correlator;
pub mod model;
#[cfg(test)]
mod noise_tests;
pub mod topology;

pub use actor::{
    correlator_child, sink_to, CorrelatorActor, CorrelatorArgs, CorrelatorMsg, IncidentMetrics,
};
pub use board::{IncidentBoard, StateFilter};
pub use correlator::{Adjacency, Correlator, CorrelatorConfig, LearnedParent, TopologyFacts};
pub use model::{
    Candidate, Incident, IncidentEvent, IncidentEventKind, IncidentSeverity, IncidentState,
};
pub use topology::Topology;
