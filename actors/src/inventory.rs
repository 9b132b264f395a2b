//! A ship's inventory: its devices (with their `depends_on` topology) and links. Plain
//! data, defined in `seawatch-model` and re-exported here for existing importers.

pub use seawatch_model::inventory::{DeviceSpec, Inventory, LinkSpec};
