//! The identity of a ship.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

/// The identity of a ship (`[ship] id` in its config, the `ship` label, the subject
/// prefix of its sync streams). Cheap to clone (shared). Serialized as a plain string.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct ShipId(Arc<str>);

impl ShipId {
    /// A ship id from its name.
    pub fn new(id: impl AsRef<str>) -> Self {
        Self(Arc::from(id.as_ref()))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The shared string behind the id (no copy).
    pub fn as_arc(&self) -> &Arc<str> {
        &self.0
    }
}

impl Default for ShipId {
    /// The empty id (an unconfigured ship).
    fn default() -> Self {
        Self(Arc::from(""))
    }
}

impl fmt::Display for ShipId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ShipId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for ShipId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for ShipId {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for ShipId {
    fn from(s: String) -> Self {
        Self(Arc::from(s))
    }
}

impl From<&String> for ShipId {
    fn from(s: &String) -> Self {
        Self::new(s)
    }
}

impl From<&ShipId> for ShipId {
    fn from(id: &ShipId) -> Self {
        id.clone()
    }
}

impl From<ShipId> for Arc<str> {
    fn from(id: ShipId) -> Self {
        id.0
    }
}

impl PartialEq<str> for ShipId {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for ShipId {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for ShipId {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn serializes_as_a_plain_string_and_looks_up_by_str() {
        let id = ShipId::new("aurora");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"aurora\"");
        let back: ShipId = serde_json::from_str("\"aurora\"").unwrap();
        assert_eq!(back, id);
        assert_eq!(id, "aurora");
        let mut by_ship = HashMap::new();
        by_ship.insert(id.clone(), 1);
        assert_eq!(
            by_ship.get("aurora"),
            Some(&1),
            "Borrow<str> hashes like the str"
        );
        assert_eq!(id.to_string(), "aurora");
    }
}

/// Where a ship is, from its own `ship_lat`, `ship_lon` and `ship_heading_deg` samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShipPosition {
    /// Latitude, degrees north.
    pub lat: f64,
    /// Longitude, degrees east.
    pub lon: f64,
    /// Heading, degrees from north, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heading_deg: Option<f64>,
    /// Time of the newest of those samples (unix ms).
    pub at_ms: i64,
}

impl ShipPosition {
    /// Takes one sample of `ship_lat`, `ship_lon` or `ship_heading_deg` into `pos` (a
    /// position exists once both coordinates were seen); other names and values out of
    /// range are ignored. Returns whether it was one of the three.
    pub fn observe(pos: &mut Option<ShipPosition>, name: &str, value: f64, ts_ms: i64) -> bool {
        let p = pos.get_or_insert(ShipPosition {
            lat: f64::NAN,
            lon: f64::NAN,
            heading_deg: None,
            at_ms: ts_ms,
        });
        let ok = match name {
            "ship_lat" if (-90.0..=90.0).contains(&value) => {
                p.lat = value;
                true
            }
            "ship_lon" if (-180.0..=180.0).contains(&value) => {
                p.lon = value;
                true
            }
            "ship_heading_deg" if value.is_finite() => {
                p.heading_deg = Some(value.rem_euclid(360.0));
                true
            }
            _ => false,
        };
        if ok {
            p.at_ms = p.at_ms.max(ts_ms);
        }
        ok
    }

    /// True once both coordinates are known.
    pub fn is_known(&self) -> bool {
        self.lat.is_finite() && self.lon.is_finite()
    }
}

#[cfg(test)]
mod position_tests {
    use super::ShipPosition;

    #[test]
    fn a_position_needs_both_coordinates_and_ignores_what_is_out_of_range() {
        let mut p = None;
        assert!(ShipPosition::observe(&mut p, "ship_lat", 25.77, 1_000));
        assert!(!p.unwrap().is_known());
        assert!(!ShipPosition::observe(&mut p, "ship_lon", 500.0, 2_000));
        assert!(!ShipPosition::observe(&mut p, "cpu", 1.0, 2_000));
        assert!(ShipPosition::observe(&mut p, "ship_lon", -80.19, 3_000));
        assert!(ShipPosition::observe(
            &mut p,
            "ship_heading_deg",
            -90.0,
            2_500
        ));
        let p = p.unwrap();
        assert!(p.is_known());
        assert_eq!(
            (p.lat, p.lon, p.heading_deg, p.at_ms),
            (25.77, -80.19, Some(270.0), 3_000)
        );
    }
}
