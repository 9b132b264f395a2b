//! The ship's topology as the correlator sees it: devices with their `depends_on`
//! parents (and the reverse), and the links. Built from the inventory; the correlator
//! may re-parent a device on what the ship itself says (LLDP, [`Topology::reparent`]).

use std::collections::HashMap;

use crate::inventory::Inventory;

/// What the correlator knows of one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Device id.
    pub id: String,
    /// Device kind (`discovered` when not in the inventory).
    pub kind: String,
    /// Devices this one reaches the network through.
    pub parents: Vec<String>,
    /// Devices that reach the network through this one (sorted).
    pub children: Vec<String>,
}

/// Devices and links of one ship, indexed by id.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    nodes: HashMap<String, Node>,
    links: HashMap<String, bool>,
}

impl Topology {
    /// Builds the topology of `inventory`. Parents not in the inventory are kept as
    /// names (they simply never alert); self-references are dropped.
    pub fn new(inventory: &Inventory) -> Self {
        let mut nodes: HashMap<String, Node> = inventory
            .devices
            .iter()
            .map(|d| {
                let mut parents: Vec<String> = d
                    .depends_on
                    .iter()
                    .filter(|p| **p != d.id)
                    .cloned()
                    .collect();
                parents.dedup();
                (
                    d.id.clone(),
                    Node {
                        id: d.id.clone(),
                        kind: d.kind.clone(),
                        parents,
                        children: Vec::new(),
                    },
                )
            })
            .collect();
        let edges: Vec<(String, String)> = nodes
            .values()
            .flat_map(|n| n.parents.iter().map(|p| (p.clone(), n.id.clone())))
            .collect();
        for (parent, child) in edges {
            if let Some(p) = nodes.get_mut(&parent) {
                p.children.push(child);
            }
        }
        for n in nodes.values_mut() {
            n.children.sort();
        }
        let links = inventory
            .links
            .iter()
            .map(|l| (l.id.clone(), l.primary))
            .collect();
        Self { nodes, links }
    }

    /// The device with this id.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.get(id)
    }

    /// Whether `id` is an inventoried link.
    pub fn is_link(&self, id: &str) -> bool {
        self.links.contains_key(id)
    }

    /// Whether `id` is the ship's primary link.
    pub fn is_primary_link(&self, id: &str) -> bool {
        self.links.get(id).copied().unwrap_or(false)
    }

    /// Parents of `id` (empty for unknown devices).
    pub fn parents(&self, id: &str) -> &[String] {
        self.nodes.get(id).map_or(&[], |n| &n.parents)
    }

    /// Children of `id` (empty for unknown devices).
    pub fn children(&self, id: &str) -> &[String] {
        self.nodes.get(id).map_or(&[], |n| &n.children)
    }

    /// Kind of device `id` (`discovered` when unknown, `link` for links).
    pub fn kind(&self, id: &str) -> &str {
        if self.is_link(id) {
            return "link";
        }
        self.nodes.get(id).map_or("discovered", |n| n.kind.as_str())
    }

    /// Whether `kind` is a network device (one that other devices reach the network
    /// through), as opposed to an end device with a single uplink.
    pub fn is_network_kind(kind: &str) -> bool {
        matches!(kind, "switch" | "router" | "firewall" | "modem")
    }

    /// Replaces the parents of `id` (a learned fact overriding the inventory) and keeps
    /// the children lists in step. Returns the parents it had, or `None` when `id` is
    /// not a device of this topology, a new parent is unknown or is `id` itself, or a
    /// new parent is downstream of `id` (that would make a cycle).
    pub fn reparent(&mut self, id: &str, parents: Vec<String>) -> Option<Vec<String>> {
        if !self.nodes.contains_key(id)
            || parents
                .iter()
                .any(|p| p == id || !self.nodes.contains_key(p) || self.is_upstream(id, p))
        {
            return None;
        }
        let old = std::mem::replace(&mut self.nodes.get_mut(id)?.parents, parents.clone());
        for p in &old {
            if let Some(n) = self.nodes.get_mut(p) {
                n.children.retain(|c| c != id);
            }
        }
        for p in &parents {
            if let Some(n) = self.nodes.get_mut(p) {
                if let Err(pos) = n.children.binary_search_by(|c| c.as_str().cmp(id)) {
                    n.children.insert(pos, id.to_string());
                }
            }
        }
        Some(old)
    }

    /// Whether `ancestor` is upstream of `id` (through any path).
    pub fn is_upstream(&self, ancestor: &str, id: &str) -> bool {
        let mut stack: Vec<&str> = self.parents(id).iter().map(String::as_str).collect();
        let mut seen: Vec<&str> = Vec::new();
        while let Some(p) = stack.pop() {
            if p == ancestor {
                return true;
            }
            if seen.contains(&p) || seen.len() > self.nodes.len() {
                continue;
            }
            seen.push(p);
            stack.extend(self.parents(p).iter().map(String::as_str));
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{DeviceSpec, Inventory};

    fn dev(id: &str, kind: &str, deps: &[&str]) -> DeviceSpec {
        DeviceSpec {
            id: id.into(),
            kind: kind.into(),
            depends_on: deps.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn children_and_upstream_follow_depends_on() {
        let inv = Inventory {
            ship: "s".into(),
            devices: vec![
                dev("core", "switch", &[]),
                dev("dist", "switch", &["core"]),
                dev("ap", "ap", &["dist", "dist"]),
                dev("loop", "switch", &["loop", "loop2"]),
                dev("loop2", "switch", &["loop"]),
            ],
            links: vec![],
        };
        let t = Topology::new(&inv);
        assert_eq!(t.children("core"), ["dist".to_string()]);
        assert_eq!(t.parents("ap"), ["dist".to_string()]);
        assert!(t.is_upstream("core", "ap"));
        assert!(!t.is_upstream("ap", "core"));
        // a cycle in a bad inventory terminates
        assert!(!t.is_upstream("core", "loop"));
        assert_eq!(t.kind("nope"), "discovered");
    }

    #[test]
    fn reparent_moves_a_device_and_refuses_cycles_and_unknowns() {
        let inv = Inventory {
            ship: "s".into(),
            devices: vec![
                dev("core", "switch", &[]),
                dev("acc-3", "switch", &["core"]),
                dev("acc-4", "switch", &["core"]),
                dev("ap-12", "ap", &["acc-3"]),
            ],
            links: vec![],
        };
        let mut t = Topology::new(&inv);
        assert_eq!(
            t.reparent("ap-12", vec!["acc-4".into()]),
            Some(vec!["acc-3".to_string()])
        );
        assert_eq!(t.parents("ap-12"), ["acc-4".to_string()]);
        assert!(t.children("acc-3").is_empty());
        assert_eq!(t.children("acc-4"), ["ap-12".to_string()]);
        // a cycle, an unknown parent, itself, an unknown device: refused, unchanged
        assert_eq!(t.reparent("core", vec!["ap-12".into()]), None);
        assert_eq!(t.reparent("ap-12", vec!["nope".into()]), None);
        assert_eq!(t.reparent("ap-12", vec!["ap-12".into()]), None);
        assert_eq!(t.reparent("nope", vec!["core".into()]), None);
        assert_eq!(t.parents("ap-12"), ["acc-4".to_string()]);
    }
}
