//! A ship's inventory: its devices (with their `depends_on` topology) and links.

use serde::{Deserialize, Serialize};

use crate::ship::ShipId;

/// One inventoried device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceSpec {
    /// Device id (the syslog HOSTNAME / NDJSON `host` / remote-write `device`).
    pub id: String,
    /// Kind: switch, router, firewall, ap, server, modem, pbx, cctv, pos, hvac, or
    /// `discovered` for a sender not in the inventory.
    pub kind: String,
    /// What this device reaches the network through.
    #[serde(default)]
    pub depends_on: Vec<String>,
}

/// One satellite or terrestrial link.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LinkSpec {
    /// Link id (the `link` label of modem metrics).
    pub id: String,
    /// vsat, leo, lte or port-wifi.
    pub kind: String,
    /// Frequency band, for vsat.
    #[serde(default)]
    pub band: Option<String>,
    /// Capacity in Mbit/s.
    #[serde(default)]
    pub capacity_mbps: Option<f64>,
    /// Carries ship-to-shore sync while up.
    #[serde(default)]
    pub primary: bool,
    /// Azimuth of the link's satellite, degrees true (satellite links; wins over
    /// `sat_lon`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azimuth_deg: Option<f64>,
    /// Elevation of the link's satellite, degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elevation_deg: Option<f64>,
    /// Longitude of the link's GEO slot, degrees east: azimuth and elevation follow from
    /// the ship's position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sat_lon: Option<f64>,
    /// The antenna's surveyed blockage sectors `[from, to]`, degrees relative to the bow
    /// (clockwise from `from` to `to`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blockage_zones: Vec<[f64; 2]>,
}

/// A ship's devices and links.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    /// Ship id.
    pub ship: ShipId,
    /// Devices.
    #[serde(default)]
    pub devices: Vec<DeviceSpec>,
    /// Links.
    #[serde(default)]
    pub links: Vec<LinkSpec>,
}

impl Inventory {
    /// An empty inventory for `ship` (every sender becomes a discovered device).
    pub fn empty(ship: &str) -> Self {
        Self {
            ship: ShipId::new(ship),
            ..Self::default()
        }
    }

    /// The device with this id.
    pub fn device(&self, id: &str) -> Option<&DeviceSpec> {
        self.devices.iter().find(|d| d.id == id)
    }
}
