//! Incidents: the per-ship correlator that turns alerts from device, link and detector
//! actors into incidents with a topology-aware root cause, their lifecycle and
//! persistence in the event log, and the `GET /api/incidents` handler.

pub mod correlator;
pub mod model;
pub mod topology;

pub use correlator::{Correlator, CorrelatorConfig};
pub use model::{Incident, IncidentEvent, IncidentEventKind, IncidentSeverity, IncidentState};
pub use topology::Topology;
