//! seawatch's vocabulary: the plain data every actor family speaks.
//!
//! Ship ids ([`ShipId`]), observations ([`Observation`]) and metric samples
//! ([`MetricSample`]) with the contracts §2 metric vocabulary ([`KnownMetric`]), syslog
//! severities ([`Severity`]), alerts ([`Alert`]), inventories ([`Inventory`]) and RFC 3339
//! time formatting ([`time::rfc3339`]). This crate depends on no other seawatch crate;
//! every other crate may depend on it. Behaviour (decoding, routing, storage, detection)
//! lives with the families that own it, not here.
#![warn(missing_docs)]

pub mod alert;
pub mod inventory;
pub mod itu;
pub mod observation;
pub mod sample;
pub mod severity;
pub mod ship;
pub mod sky;
pub mod time;
pub mod vocab;

pub use alert::{Alert, AlertClass, AlertSeverity, AlertSource, AlertState};
pub use inventory::{DeviceSpec, Inventory, LinkSpec};
pub use observation::{LogObs, ObsKind, Observation, DEFAULT_SEVERITY};
pub use sample::MetricSample;
pub use severity::Severity;
pub use ship::{ShipId, ShipPosition};
pub use vocab::{KnownMetric, MetricFamily, MetricKind};
