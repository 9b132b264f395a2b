//! A ship's supervision tree.
//!
//! Today the tree holds the supervisors that later layers fill: `devices` and `links`
//! (dynamic children, one actor per inventoried device or link) and `detectors`. Each
//! ship is one shard: every actor below is registered under the ship's id.

use std::time::Duration;

use seawatch_runtime::supervision::{
    Addr, Backoff, ChildSpec, Strategy, SupervisorMsg, SupervisorSpec,
};
use seawatch_runtime::ShipId;

/// Handles to a ship tree's dynamic supervisors.
#[derive(Debug, Clone)]
pub struct ShipTree {
    /// The ship.
    pub ship: ShipId,
    /// Supervisor of the device actors.
    pub devices: Addr<SupervisorMsg>,
    /// Supervisor of the link actors.
    pub links: Addr<SupervisorMsg>,
    /// Supervisor of the detector actors.
    pub detectors: Addr<SupervisorMsg>,
}

fn dynamic(name: &'static str, ship: &ShipId) -> (ChildSpec, Addr<SupervisorMsg>) {
    let ship = ship.clone();
    ChildSpec::supervisor(name, move || {
        SupervisorSpec::new(name, &ship)
            .strategy(Strategy::OneForOne)
            // Many independent children: tolerate a storm of restarts before escalating.
            .intensity(1_000, Duration::from_secs(60))
            .backoff(Backoff::default())
    })
}

/// The spec of one ship's subtree (a shard) and handles to its dynamic supervisors.
pub fn ship_subtree(ship: &ShipId) -> (ChildSpec, ShipTree) {
    let (devices, devices_addr) = dynamic("devices", ship);
    let (links, links_addr) = dynamic("links", ship);
    let (detectors, detectors_addr) = dynamic("detectors", ship);
    let ship2 = ship.clone();
    let (spec, _addr) = ChildSpec::supervisor(ship.as_str(), move || {
        // rest_for_one: the device and link actors feed the detectors, so a restart of the
        // device supervisor restarts what depends on it.
        SupervisorSpec::new(&format!("ship:{ship2}"), &ship2)
            .strategy(Strategy::RestForOne)
            .intensity(10, Duration::from_secs(60))
            .child(devices.clone())
            .child(links.clone())
            .child(detectors.clone())
    });
    (
        spec.in_shard(ship),
        ShipTree {
            ship: ship.clone(),
            devices: devices_addr,
            links: links_addr,
            detectors: detectors_addr,
        },
    )
}
