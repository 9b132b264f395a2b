//! Supervision trees as data.
//!
//! A [`TreeSpec`] is plain config (TOML or JSON): supervisors, their strategies and limits,
//! and leaf children named by kind. A [`Catalog`] maps each leaf kind to a real
//! [`ChildSpec`], so `topologies/` builds a ship's or shore's tree from config.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::spec::{Backoff, ChildSpec, Intensity, Restart, Shutdown, Strategy, SupervisorSpec};
use crate::error::RuntimeError;
use crate::sharding::ShardKey;

/// A supervisor and its subtree, as config.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TreeSpec {
    /// Supervisor name (for logs).
    pub name: String,
    /// Restart strategy.
    #[serde(default)]
    pub strategy: Strategy,
    /// Restart intensity; defaults to [`Intensity::default`].
    #[serde(default)]
    pub intensity: Option<Intensity>,
    /// Restart backoff; defaults to [`Backoff::default`].
    #[serde(default)]
    pub backoff: Option<Backoff>,
    /// Children in start order.
    #[serde(default)]
    pub children: Vec<NodeSpec>,
}

/// One child in a [`TreeSpec`]: a nested supervisor (with `tree`) or a leaf actor.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Id among its siblings.
    pub id: String,
    /// Kind: `supervisor` for a nested tree, else a kind the [`Catalog`] knows.
    pub kind: String,
    /// Restart type.
    #[serde(default)]
    pub restart: Restart,
    /// Shutdown timeout in milliseconds (0 = brutal kill); default 5000.
    #[serde(default)]
    pub shutdown_ms: Option<u64>,
    /// Frozen-actor deadline in milliseconds.
    #[serde(default)]
    pub frozen_after_ms: Option<u64>,
    /// Kind-specific parameters for the catalog.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// The subtree, for `kind = "supervisor"`.
    #[serde(default)]
    pub tree: Option<TreeSpec>,
}

/// Builds leaf children by kind.
pub trait Catalog: Send + Sync + 'static {
    /// The child spec for a leaf node of `shard`.
    fn child(&self, node: &NodeSpec, shard: &ShardKey) -> Result<ChildSpec, RuntimeError>;
}

impl TreeSpec {
    /// Builds the runnable spec, resolving leaves through `catalog`.
    pub fn build(
        &self,
        shard: &ShardKey,
        catalog: &Arc<dyn Catalog>,
    ) -> Result<SupervisorSpec, RuntimeError> {
        let mut spec = SupervisorSpec::new(&self.name, shard.clone()).strategy(self.strategy);
        if let Some(i) = self.intensity {
            spec.intensity = i;
        }
        if let Some(b) = self.backoff {
            spec.backoff = b;
        }
        for node in &self.children {
            let child = if node.kind == "supervisor" {
                let tree = node.tree.clone().ok_or_else(|| {
                    RuntimeError::InvalidSpec(format!(
                        "child `{}` of `{}`: kind \"supervisor\" needs a `tree`",
                        node.id, self.name
                    ))
                })?;
                // Validate the subtree now, so a bad config fails at load, not at restart.
                tree.build(shard, catalog)?;
                let (shard2, cat2) = (shard.clone(), catalog.clone());
                let (child, _addr) = ChildSpec::supervisor(&node.id, move || {
                    tree.build(&shard2, &cat2)
                        .unwrap_or_else(|_| SupervisorSpec::new("invalid", shard2.clone()))
                });
                child
            } else {
                if node.tree.is_some() {
                    return Err(RuntimeError::InvalidSpec(format!(
                        "child `{}` of `{}`: only kind \"supervisor\" takes a `tree`",
                        node.id, self.name
                    )));
                }
                catalog.child(node, shard)?
            };
            let mut child = child.restart(node.restart);
            if let Some(ms) = node.shutdown_ms {
                child = child.shutdown(if ms == 0 {
                    Shutdown::Brutal
                } else {
                    Shutdown::Timeout(Duration::from_millis(ms))
                });
            }
            if let Some(ms) = node.frozen_after_ms {
                child = child.frozen_after(Duration::from_millis(ms));
            }
            spec = spec.child(child);
        }
        spec.validate()?;
        Ok(spec)
    }
}
