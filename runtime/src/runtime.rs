//! The services every actor of a node shares.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::sharding::Registry;

/// A node's shared runtime services: metrics, the actor registry and the clock.
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct Runtime {
    metrics: Arc<Metrics>,
    registry: Registry,
    clock: Clock,
    down: Arc<AtomicI64>,
}

impl Runtime {
    /// A runtime with a fresh metrics registry, an empty actor registry and `clock`.
    pub fn new(clock: Clock) -> Self {
        Self {
            metrics: Metrics::new(),
            registry: Registry::new(),
            clock,
            down: Arc::default(),
        }
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The actor registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Permanent children of this node's supervisors that are down now (exited and
    /// waiting for their restart): 0 while the whole tree runs.
    pub fn children_down(&self) -> i64 {
        self.down.load(Ordering::Acquire)
    }

    /// The counter behind [`Runtime::children_down`].
    pub(crate) fn down_counter(&self) -> &Arc<AtomicI64> {
        &self.down
    }
}
