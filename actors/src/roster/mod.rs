//! The roster: the one actor of a ship that owns its device, link and detector actors
//! (and the peer actor), and through which every observation reaches them.
//!
//! - [`messages`]: what the roster is asked ([`RosterMsg`]).
//! - [`actor`]: the roster actor, its arguments and the [`Roster`] handle.
//!
//! Invariants:
//! - The roster's children are the inventory's devices and links plus the devices
//!   discovered so far ([`Discovered`], persisted when given a file). Every incarnation
//!   of the roster re-creates all of them in `pre_start`, so a restart never leaves a
//!   ship without the actors its telemetry needs.
//! - The roster owns three supervisors linked to it (detectors, devices, links). If one
//!   of them gives up, the roster fails, and its own supervisor restarts it whole.
//! - Nobody keeps addresses across a roster restart: [`Roster`] reads the current
//!   incarnation's addresses from a view the roster rewrites in `pre_start`, and
//!   messages that cannot be delivered are counted (`seawatch_roster_undelivered_total`),
//!   never dropped silently.

pub mod actor;
pub mod messages;

pub use actor::{
    roster_child, DetectorSetup, Discovered, Roster, RosterActor, RosterArgs, RosterMetrics,
    RosterState, RosterView,
};
pub use messages::RosterMsg;

#[cfg(test)]
mod tests;
