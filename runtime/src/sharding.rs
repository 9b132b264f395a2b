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
/// The actors of one (shard, kind), by id.
type KindMap = std::collections::HashMap<Arc<str>, ActorCell, crate::FastHash>;

/// Finds actors by [`ActorKey`]. Cheap to clone (shared).
///
/// Kept as one map per (shard, kind) holding id → cell, so an entry costs its id and
/// cell (24 bytes), not a whole key (56 bytes with the cell): a node registers every
/// supervised actor, thousands of devices among them.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    map: Arc<DashMap<(ShardKey, Arc<str>), KindMap, crate::FastHash>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn outer(key: &ActorKey) -> (ShardKey, Arc<str>) {
        (key.shard.clone(), key.kind.clone())
    }

    /// Points `key` at `cell`, replacing any earlier incarnation.
    pub fn register(&self, key: ActorKey, cell: ActorCell) {
        let ActorKey { shard, kind, id } = key;
        self.map.entry((shard, kind)).or_default().insert(id, cell);
    }

    /// Removes `key` only if it still points at the actor `id` (a newer incarnation
    /// registered meanwhile stays). Returns whether it was removed.
    pub fn unregister_if(&self, key: &ActorKey, id: ActorId) -> bool {
        let Some(mut kind) = self.map.get_mut(&Self::outer(key)) else {
            return false;
        };
        if kind.get(&key.id).is_some_and(|cell| cell.get_id() == id) {
            kind.remove(&key.id);
            if kind.capacity() > 64 && kind.len() < kind.capacity() / 4 {
                kind.shrink_to_fit();
            }
            true
        } else {
            false
        }
    }

    /// The actor cell at `key`, if any.
    pub fn get(&self, key: &ActorKey) -> Option<ActorCell> {
        self.map
            .get(&Self::outer(key))
            .and_then(|kind| kind.get(&key.id).cloned())
    }

    /// The actor at `key` as a typed reference, if it exists and takes messages of type `M`.
    pub fn lookup<M: Message>(&self, key: &ActorKey) -> Option<ActorRef<M>> {
        let cell = self.get(key)?;
        match cell.is_message_type_of::<M>() {
            Some(false) => None,
            _ => Some(cell.into()),
        }
    }

    /// Every key for which `keep` holds, sorted.
    fn keys_where(&self, keep: impl Fn(&ShardKey, &ActorCell) -> bool) -> Vec<ActorKey> {
        let mut keys = Vec::new();
        for e in self.map.iter() {
            let (shard, kind) = e.key();
            for (id, cell) in e.value() {
                if keep(shard, cell) {
                    keys.push(ActorKey {
                        shard: shard.clone(),
                        kind: kind.clone(),
                        id: id.clone(),
                    });
                }
            }
        }
        keys.sort();
        keys
    }

    /// Every key of one shard.
    pub fn shard_keys(&self, shard: impl Into<ShardKey>) -> Vec<ActorKey> {
        let shard = shard.into();
        self.keys_where(|s, _| *s == shard)
    }

    /// The shards that have at least one registered actor here.
    pub fn shards(&self) -> Vec<ShardKey> {
        let mut shards: Vec<ShardKey> = self
            .map
            .iter()
            .filter(|e| !e.value().is_empty())
            .map(|e| e.key().0.clone())
            .collect();
        shards.sort();
        shards.dedup();
        shards
    }

    /// Number of registered actors.
    pub fn len(&self) -> usize {
        self.map.iter().map(|e| e.value().len()).sum()
    }

    /// True when nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.map.iter().all(|e| e.value().is_empty())
    }

    /// Keys whose actor is no longer running (should be empty whenever the tree is settled).
    pub fn dead_entries(&self) -> Vec<ActorKey> {
        self.keys_where(|_, cell| {
            !matches!(
                cell.get_status(),
                ActorStatus::Running | ActorStatus::Starting | ActorStatus::Upgrading
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ractor::{Actor, ActorProcessingErr};

    struct Nop;

    impl Actor for Nop {
        type Msg = ();
        type State = ();
        type Arguments = ();

        async fn pre_start(&self, _: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn registry_finds_replaces_and_removes_only_the_incarnation_it_holds() {
        let registry = Registry::new();
        let (a, _) = Actor::spawn(None, Nop, ()).await.expect("spawn");
        let (b, _) = Actor::spawn(None, Nop, ()).await.expect("spawn");
        let (c, _) = Actor::spawn(None, Nop, ()).await.expect("spawn");
        let dev = ActorKey::new("ship-1", "device", "sw-1");
        let link = ActorKey::new("ship-1", "link", "vsat");
        let other = ActorKey::new("ship-2", "device", "sw-1");
        registry.register(dev.clone(), a.get_cell());
        registry.register(link.clone(), c.get_cell());
        registry.register(other.clone(), c.get_cell());
        assert_eq!(registry.len(), 3);
        assert_eq!(registry.get(&dev).map(|c| c.get_id()), Some(a.get_id()));
        assert!(registry.lookup::<()>(&dev).is_some());
        assert!(registry.lookup::<u64>(&dev).is_none(), "wrong message type");
        // A restart re-points the key; the old incarnation's exit then removes nothing.
        registry.register(dev.clone(), b.get_cell());
        assert!(!registry.unregister_if(&dev, a.get_id()));
        assert_eq!(registry.get(&dev).map(|c| c.get_id()), Some(b.get_id()));
        assert_eq!(
            registry.shard_keys("ship-1"),
            vec![dev.clone(), link.clone()]
        );
        assert_eq!(
            registry.shards(),
            vec![ShardKey::new("ship-1"), ShardKey::new("ship-2")]
        );
        assert!(registry.unregister_if(&dev, b.get_id()));
        assert!(registry.get(&dev).is_none());
        assert_eq!(registry.len(), 2);
        assert!(registry.dead_entries().is_empty());
        c.stop(None);
        while c.get_status() != ActorStatus::Stopped {
            tokio::task::yield_now().await;
        }
        assert_eq!(registry.dead_entries(), vec![link.clone(), other.clone()]);
        assert!(registry.unregister_if(&link, c.get_id()));
        assert!(registry.unregister_if(&other, c.get_id()));
        assert!(registry.is_empty());
        assert!(registry.shards().is_empty());
        a.stop(None);
        b.stop(None);
    }
}
