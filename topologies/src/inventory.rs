//! Loads a ship's inventory from a scenario file (contracts §1 `--inventory`).

use std::path::Path;

use seawatch_model::{DeviceSpec, Inventory, LinkSpec, ShipId};
use seawatch_simulators::scenario::{Scenario, Ship};

fn serde_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// A scenario `[[ship]]` table as an inventory (faults play no part).
pub fn from_ship(ship: &Ship) -> Inventory {
    Inventory {
        ship: ShipId::new(&ship.id),
        devices: ship
            .device
            .iter()
            .map(|d| DeviceSpec {
                id: d.id.clone(),
                kind: d.kind.to_string(),
                depends_on: d.depends_on.clone(),
            })
            .collect(),
        links: ship
            .link
            .iter()
            .map(|l| LinkSpec {
                id: l.id.clone(),
                kind: serde_name(&l.kind),
                band: l.band.as_ref().map(serde_name),
                capacity_mbps: l.capacity_mbps,
                primary: l.primary,
                azimuth_deg: l.azimuth_deg,
                elevation_deg: l.elevation_deg,
                sat_lon: l.sat_lon,
                blockage_zones: l.blockage_zones.clone(),
            })
            .collect(),
    }
}

/// Reads the scenario file at `path` and returns its one `[[ship]]` table as the
/// inventory. The node keeps its configured ship id.
pub fn load(path: &Path, ship: &str) -> Result<Inventory, String> {
    let table = Scenario::load_inventory(path).map_err(|e| e.to_string())?;
    let mut inv = from_ship(&table);
    inv.ship = ShipId::new(ship);
    Ok(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_scenario_inventory_converts() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../simulators/scenarios");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue; // e.g. scenarios/large/, outside the suite
            }
            let scenario = Scenario::load(&path).unwrap();
            for ship in &scenario.ship {
                let inv = from_ship(ship);
                assert_eq!(inv.devices.len(), ship.device.len());
                assert!(inv.devices.iter().all(|d| !d.kind.is_empty()));
                assert!(inv.links.iter().all(|l| !l.kind.is_empty()));
                seen += 1;
            }
        }
        assert!(seen >= 4);
    }
}
