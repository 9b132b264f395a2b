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
