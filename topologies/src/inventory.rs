//! Loads a ship's inventory from a scenario file (contracts §1 `--inventory`).

use std::path::Path;

use seawatch_actors::inventory::Inventory;

/// Reads the scenario file at `path` and returns its one `[[ship]]` table as the
/// inventory of `ship` (faults are ignored).
pub fn load(path: &Path, ship: &str) -> Result<Inventory, String> {
    let _ = (path, ship);
    Err(format!(
        "{}: --inventory is not implemented yet (needs the scenario loader)",
        path.display()
    ))
}
