//! Ship-to-shore sync over intermittent links, and the shore side.
//!
//! * [`wire`]: the frames that cross the link (batches of one priority lane, zstd at batch
//!   level; snapshots; commands and their replies; acks).
//! * [`link`]: the transport seam ([`link::ShipTransport`], [`link::ShoreTransport`]) and
//!   the embedded transport, [`link::SimNet`]: simulated links with latency, capacity and
//!   an outage schedule on tokio time.
//! * [`ship`]: the ship's sync ([`ship::SyncShip`] state machine, [`ship::run_ship_sync`]
//!   loop): four lanes, bandwidth cap, acknowledged positions persisted on the ship.
//! * [`shore`]: apply by identity (ship, seq), a mirror per ship, the fleet view and its
//!   HTTP routes, the command queue.
//! * [`route`]: which of the ship's links sync rides, durably, and what the running sync
//!   applied (moved by the `builtin` runbook driver).
//! * [`fleet`]: the shore's actors: the fleet supervisor and a mirror actor per ship.
//! * [`downsample`]: 1-minute aggregates sent ahead of full resolution while the link is
//!   poor (decision 0058).
//! * [`clickhouse`]: the fleet log in ClickHouse (exactly once by (ship, seq)).
//! * [`victoriametrics`]: the fleet's samples in VictoriaMetrics (exactly once by
//!   (ship, seq), behind a watermark per ship).
//! * [`metrics`]: `seawatch_sync_backlog_events{ship}`, `seawatch_shore_events_total{ship}`,
//!   bytes sent per lane, sync lag.
//!
//! Design and its reasons: `docs/decisions/0012-ship-to-shore-sync.md`.

pub mod actor;
pub mod clickhouse;
pub mod downsample;
pub mod fleet;
pub mod link;
pub mod metrics;
pub mod nats;
pub mod route;
pub mod ship;
pub mod shore;
pub mod victoriametrics;
pub mod wire;

#[cfg(test)]
mod tests;
