//! Ship-to-shore sync in the `ship` and `shore` commands, over NATS JetStream.
//!
//! The ship's sync runs as a task that restarts itself with backoff after an error (it
//! resumes from the positions persisted in `DATA/sync.cursor`); the shore node serves
//! `GET /api/fleet` and the command routes next to `/metrics` and `/healthz`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use seawatch_actors::store::EventSource;
use seawatch_actors::sync::metrics::SyncMetrics;
use seawatch_actors::sync::nats::{
    connect_ship, run_shore_node, ShipSource, ShoreNodeConfig, ShoreShared,
};
use seawatch_actors::sync::ship::{run_ship_sync, ShipSyncParts, SyncConfig, SyncShip};
use seawatch_actors::sync::shore::{fleet_router, FleetApi};
use seawatch_runtime::http::{self, Health};
use seawatch_runtime::{Clock, Metrics};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{ShipConfig, ShoreConfig};
use crate::ship::ShipNode;

/// Starts the ship's sync to shore through the leaf server at `url`. Stops when
/// `shutdown` turns true.
pub fn spawn_ship_sync_nats(
    node: &ShipNode,
    cfg: &ShipConfig,
    url: String,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let log: Arc<dyn EventSource> = node.log.clone();
    let mut sync = SyncConfig::new(cfg.data.join("sync.cursor"));
    sync.link_share = cfg.sync.link_share;
    let capacity = (cfg.sync.capacity_mbps * 1e6 / 8.0) as u64;
    let ship = cfg.ship.clone();
    let clock = node.runtime.clock().clone();
    let metrics = SyncMetrics::register(node.runtime.metrics());
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(500);
        loop {
            let result = async {
                let engine =
                    SyncShip::open(log.clone(), sync.clone()).map_err(|e| e.to_string())?;
                let conn = connect_ship(&url, &ship, Some(capacity))
                    .await
                    .map_err(|e| e.to_string())?;
                let parts = ShipSyncParts {
                    engine,
                    conn,
                    clock: clock.clone(),
                    metrics: Some(metrics.clone()),
                    commands: None,
                    snapshot: None,
                };
                run_ship_sync(parts, shutdown.clone())
                    .await
                    .map_err(|e| e.to_string())
            }
            .await;
            if *shutdown.borrow() {
                return;
            }
            if let Err(e) = result {
                tracing::error!(ship = %ship, error = %e, "sync failed; restarting");
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    })
}

/// Runs a shore node until SIGINT/SIGTERM; returns the exit status.
pub async fn run_shore(cfg: ShoreConfig, url: String, listen: SocketAddr) -> i32 {
    let metrics = Metrics::new();
    let health = Health::new();
    let shared = ShoreShared {
        metrics: Some(SyncMetrics::register(&metrics)),
        ..Default::default()
    };
    let clock = Clock::system();
    let node_cfg = ShoreNodeConfig {
        url,
        node: cfg.node.clone(),
        ships: cfg
            .ships
            .iter()
            .map(|s| ShipSource {
                ship: s.id.clone(),
                domain: s.domain.clone().unwrap_or_else(|| s.id.clone()),
            })
            .collect(),
        replicas: cfg.replicas,
        lease: Duration::from_secs_f64(cfg.lease_s),
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("seawatch shore: http {listen}: {e}");
            return crate::cli::EXIT_USAGE;
        }
    };
    let app = http::router(metrics.clone(), health.clone()).merge(fleet_router(FleetApi {
        fleet: shared.fleet.clone(),
        commands: shared.commands.clone(),
        clock: clock.clone(),
    }));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let (stop, stop_rx) = watch::channel(false);
    let node = tokio::spawn(run_shore_node(node_cfg, shared, clock, stop_rx));
    health.set(true);
    println!(
        "seawatch shore {}: {} ships; http://{listen}/api/fleet",
        cfg.node,
        cfg.ships.len()
    );
    let status = tokio::select! {
        _ = crate::cli::wait_for_shutdown_signal() => 0,
        r = node => match r {
            Ok(Err(e)) => { eprintln!("seawatch shore: {e}"); 1 }
            _ => 1,
        },
    };
    let _ = stop.send(true);
    server.abort();
    status
}
