//! A running node: a root supervisor over one or more ship shards, plus HTTP.

use std::net::SocketAddr;
use std::time::Duration;

use seawatch_runtime::http::{self, Health};
use seawatch_runtime::supervision::{start_root, SupervisorHandle, SupervisorSpec};
use seawatch_runtime::{Clock, Runtime, RuntimeError, ShipId};

use crate::ship::{ship_subtree, ShipTree};

/// A node hosting ship shards.
pub struct Node {
    /// Shared runtime services.
    pub runtime: Runtime,
    /// The root supervisor.
    pub root: SupervisorHandle,
    /// One entry per hosted ship.
    pub ships: Vec<ShipTree>,
    /// Health flag behind `/healthz`.
    pub health: Health,
}

impl Node {
    /// Starts a root supervisor with one subtree per ship.
    pub async fn start(ships: &[ShipId], clock: Clock) -> Result<Self, RuntimeError> {
        let runtime = Runtime::new(clock);
        let mut spec =
            SupervisorSpec::new("root", &ShipId::new("node")).intensity(3, Duration::from_secs(60));
        let mut trees = Vec::new();
        for ship in ships {
            let (child, tree) = ship_subtree(ship, Vec::new());
            spec = spec.child(child);
            trees.push(tree);
        }
        let (root, _join) = start_root(spec, runtime.clone()).await?;
        let health = Health::new();
        health.set(true);
        Ok(Self {
            runtime,
            root,
            ships: trees,
            health,
        })
    }

    /// Serves `/healthz` and `/metrics` on `addr` until the process ends.
    pub async fn serve(&self, addr: SocketAddr) -> Result<SocketAddr, RuntimeError> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let app = http::router(self.runtime.metrics().clone(), self.health.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "http server stopped");
            }
        });
        Ok(bound)
    }

    /// Stops the tree in order.
    pub async fn shutdown(&self) {
        self.health.set(false);
        self.root.shutdown().await;
    }
}
