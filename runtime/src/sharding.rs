//! Shards and the actor registry.
//!
//! A shard is a subtree of supervised actors that belongs together (in seawatch: one
//! ship's subtree), named by a [`ShardKey`]. The runtime gives the key no meaning beyond
//! grouping: it is a label on the actor metrics and the first part of a registry key. A
//! node hosts one shard or many. The [`Registry`] finds a live actor by ([`ShardKey`],
//! kind, id); supervisors keep it pointing at the current incarnation of each child
//! (re-pointed on restart, removed on exit).

use std::fmt;
use std::sync::Arc;

use dashmap::DashMap;
use ractor::{ActorCell, ActorId, ActorRef, ActorStatus, Message};

/// The name of a shard. Cheap to clone (shared). Converts from any string-like value,
/// including a domain id that is `AsRef<str>`: `SupervisorSpec::new("ship", &ship_id)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardKey(Arc<str>);

impl ShardKey {
    /// A shard key from its name.
    pub fn new(key: impl AsRef<str>) -> Self {
        Self(Arc::from(key.as_ref()))
    }

    /// The shard of node-level actors that belong to no domain shard (benchmarks,
    /// shore-wide services): `"node"`.
    pub fn node() -> Self {
        Self::new("node")
    }

    /// The key as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The shared string behind the key (no copy).
    pub fn as_arc(&self) -> &Arc<str> {
        &self.0
    }
}

impl fmt::Display for ShardKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ShardKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<T: AsRef<str> + ?Sized> From<&T> for ShardKey {
    fn from(key: &T) -> Self {
        Self::new(key)
    }
}

impl From<String> for ShardKey {
    fn from(key: String) -> Self {
        Self(Arc::from(key))
    }
}

impl From<Arc<str>> for ShardKey {
    fn from(key: Arc<str>) -> Self {
        Self(key)
    }
}

/// Where an actor lives: shard, kind (e.g. `device`, `link`, `incident`) and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActorKey {
    /// The shard.
    pub shard: ShardKey,
    /// The actor kind, also its metrics label.
    pub kind: Arc<str>,
    /// The id within the kind (a device id, a link id, ...).
    pub id: Arc<str>,
}

impl ActorKey {
    /// A key from its parts.
    pub fn new(shard: impl Into<ShardKey>, kind: &str, id: &str) -> Self {
        Self {
            shard: shard.into(),
            kind: Arc::from(kind),
            id: Arc::from(id),
        }
    }
}

impl fmt::Display for ActorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.shard, self.kind, self.id)
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

    /// Every key of one shard.
    pub fn shard_keys(&self, shard: impl Into<ShardKey>) -> Vec<ActorKey> {
        let shard = shard.into();
        let mut keys: Vec<ActorKey> = self
            .map
            .iter()
            .filter(|e| e.key().shard == shard)
            .map(|e| e.key().clone())
            .collect();
        keys.sort();
        keys
    }

    /// The shards that have at least one registered actor here.
    pub fn shards(&self) -> Vec<ShardKey> {
        let mut shards: Vec<ShardKey> = self.map.iter().map(|e| e.key().shard.clone()).collect();
        shards.sort();
        shards.dedup();
        shards
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
