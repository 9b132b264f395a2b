//! Per-ship shards and the actor registry.
//!
//! A ship's whole supervision subtree is one shard, addressed by its [`ShipId`]. A ship
//! node hosts one shard; a shore node hosts the mirrors of many. The [`Registry`] finds a
//! live actor by ([`ShipId`], kind, id); supervisors keep it pointing at the current
//! incarnation of each child (re-pointed on restart, removed on exit).

use std::fmt;
use std::sync::Arc;

use dashmap::DashMap;
use ractor::{ActorCell, ActorId, ActorRef, ActorStatus, Message};

/// The identity of a ship (and of its shard).
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
}

impl fmt::Display for ShipId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for ShipId {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

/// Where an actor lives: ship (shard), kind (e.g. `device`, `link`, `incident`) and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActorKey {
    /// The shard.
    pub ship: ShipId,
    /// The actor kind, also its metrics label.
    pub kind: Arc<str>,
    /// The id within the kind (a device id, a link id, ...).
    pub id: Arc<str>,
}

impl ActorKey {
    /// A key from its parts.
    pub fn new(ship: &ShipId, kind: &str, id: &str) -> Self {
        Self {
            ship: ship.clone(),
            kind: Arc::from(kind),
            id: Arc::from(id),
        }
    }
}

impl fmt::Display for ActorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.ship, self.kind, self.id)
    }
}

/// Finds actors by [`ActorKey`]. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Registry {
    map: Arc<DashMap<ActorKey, ActorCell>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Points `key` at `cell`, replacing any earlier incarnation.
    pub fn register(&self, key: ActorKey, cell: ActorCell) {
        self.map.insert(key, cell);
    }

    /// Removes `key` only if it still points at the actor `id` (a newer incarnation
    /// registered meanwhile stays). Returns whether it was removed.
    pub fn unregister_if(&self, key: &ActorKey, id: ActorId) -> bool {
        self.map
            .remove_if(key, |_, cell| cell.get_id() == id)
            .is_some()
    }

    /// The actor cell at `key`, if any.
    pub fn get(&self, key: &ActorKey) -> Option<ActorCell> {
        self.map.get(key).map(|c| c.value().clone())
    }

    /// The actor at `key` as a typed reference, if it exists and takes messages of type `M`.
    pub fn lookup<M: Message>(&self, key: &ActorKey) -> Option<ActorRef<M>> {
        let cell = self.get(key)?;
        match cell.is_message_type_of::<M>() {
            Some(false) => None,
            _ => Some(cell.into()),
        }
    }

    /// Every key of one ship's shard.
    pub fn shard_keys(&self, ship: &ShipId) -> Vec<ActorKey> {
        let mut keys: Vec<ActorKey> = self
            .map
            .iter()
            .filter(|e| &e.key().ship == ship)
            .map(|e| e.key().clone())
            .collect();
        keys.sort();
        keys
    }

    /// The ships that have at least one registered actor here.
    pub fn ships(&self) -> Vec<ShipId> {
        let mut ships: Vec<ShipId> = self.map.iter().map(|e| e.key().ship.clone()).collect();
        ships.sort();
        ships.dedup();
        ships
    }

    /// Number of registered actors.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Keys whose actor is no longer running (should be empty whenever the tree is settled).
    pub fn dead_entries(&self) -> Vec<ActorKey> {
        self.map
            .iter()
            .filter(|e| {
                !matches!(
                    e.value().get_status(),
                    ActorStatus::Running | ActorStatus::Starting | ActorStatus::Upgrading
                )
            })
            .map(|e| e.key().clone())
            .collect()
    }
}
