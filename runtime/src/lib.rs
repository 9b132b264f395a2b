//! The seawatch runtime: OTP-style supervision trees on ractor, shards (named by a
//! [`ShardKey`]) and the actor registry, an injectable clock, and actor metrics for
//! Prometheus. It knows nothing of ships: the domain's ids convert into shard keys.
//!
//! Everything else in seawatch (device, link, detector, incident and sync actors) runs
//! under a [`supervision::Supervisor`] built from a [`supervision::SupervisorSpec`].
#![warn(missing_docs)]

pub mod clock;
pub mod error;
pub mod event_log;
pub mod http;
pub mod metrics;
pub mod runtime;
pub mod sharding;
pub mod supervision;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

/// The hasher of the runtime's own tables (supervisors' children, the registry, the
/// kinds' statistics): seeded per table like std's, several times faster than SipHash on
/// the short ids and actor ids a spawn hashes.
pub(crate) type FastHash = foldhash::fast::RandomState;

pub use clock::Clock;
pub use error::{Result, RuntimeError};
pub use metrics::Metrics;
pub use runtime::Runtime;
pub use sharding::{ActorKey, Registry, ShardKey};
