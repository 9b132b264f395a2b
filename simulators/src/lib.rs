//! The seawatch scenario simulator.
//!
//! - [`scenario`]: the scenario file format of contracts §3, loading and validation;
//! - [`generate`]: a deterministic [`Simulator`] that turns a scenario into the telemetry a
//!   ship would send (syslog lines in vendor formats, NDJSON metric samples, modem KPIs,
//!   position and weather), with faults showing only as symptoms through the topology;
//! - [`fleet`]: synthetic inventories of any size for tests and benches.

#![warn(missing_docs)]

pub mod fleet;
pub mod generate;
pub mod scenario;
pub mod score;

pub use generate::{Payload, PayloadKind, SimOptions, Simulator, Telemetry, TelemetryRef};
pub use scenario::{
    Band, Device, DeviceKind, Fault, FaultKind, GeneratedBundle, Link, LinkKind, Maintenance,
    Noise, RolloutPlan, RolloutWave, Scenario, ScenarioError, ScenarioErrorKind, Ship,
};
