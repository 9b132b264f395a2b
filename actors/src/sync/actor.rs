//! The ship's sync as a supervised actor: it owns the sync task, stops it on shutdown, and
//! fails (to be restarted with backoff by its supervisor) when the task ends in an error
//! or cannot connect. A restarted incarnation resumes from the persisted positions.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use seawatch_runtime::supervision::{Addr, ChildSpec};
use seawatch_runtime::Clock;

use super::link::ShipConn;
use super::metrics::SyncMetrics;
use super::ship::{
    run_ship_sync, CommandHandler, ShipSyncParts, SnapshotSource, SyncConfig, SyncShip,
};
use crate::log_service::{EventSource, LogReader};
use crate::owned_task::{on_task_ended, OwnedTask};

/// Opens a transport connection (called once per incarnation).
pub type Connector =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<ShipConn, String>> + Send>> + Send + Sync>;

/// Start arguments of the sync actor.
#[derive(Clone)]
pub struct SyncArgs {
    /// The ship's event log (read view).
    pub log: LogReader,
    /// How sync runs.
    pub config: SyncConfig,
    /// How to reach shore.
    pub connect: Connector,
    /// Wall-clock time.
    pub clock: Clock,
    /// Metrics.
    pub metrics: Option<SyncMetrics>,
    /// Applies shore's commands.
    pub commands: Option<Arc<dyn CommandHandler>>,
    /// The ship's state for snapshots.
    pub snapshot: Option<Arc<dyn SnapshotSource>>,
    /// Which link sync rides (durable; every incarnation follows it).
    pub route: Option<super::route::SyncRoute>,
}

/// Messages of the sync actor.
pub enum SyncMsg {
    /// The sync task ended.
    TaskEnded(Result<(), String>),
}

/// The sync actor.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncActor;

/// State of the sync actor.
pub struct SyncState {
    task: OwnedTask,
}

impl Actor for SyncActor {
    type Msg = SyncMsg;
    type State = SyncState;
    type Arguments = SyncArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SyncMsg>,
        args: SyncArgs,
    ) -> Result<SyncState, ActorProcessingErr> {
        let source: Arc<dyn EventSource> = Arc::new(args.log.clone());
        let engine = SyncShip::open(source, args.config.clone())?;
        // The backlog is known before shore (or the local server) answers: export it now,
        // not from the first tick after connecting.
        if let Some(m) = &args.metrics {
            m.set_backlog(engine.ship(), engine.backlog());
        }
        let task = OwnedTask::spawn(myself, SyncMsg::TaskEnded, move |rx| async move {
            // Shore or the local server unreachable is the normal state of a ship:
            // retry here with backoff rather than fail (and restart) the actor.
            let mut backoff = std::time::Duration::from_millis(500);
            let mut stop = rx.clone();
            let conn = loop {
                // A connect can take seconds (a server that does not answer): stop
                // does not wait for it.
                let attempt = tokio::select! {
                    r = (args.connect)() => r,
                    _ = stop.changed() => return Ok(()),
                };
                match attempt {
                    Ok(c) => break c,
                    Err(e) => {
                        tracing::warn!(error = %e, "sync: cannot connect; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = stop.changed() => return Ok(()),
                        }
                        backoff = (backoff * 2).min(std::time::Duration::from_secs(30));
                    }
                }
            };
            let parts = ShipSyncParts {
                engine,
                conn,
                clock: args.clock.clone(),
                metrics: args.metrics.clone(),
                commands: args.commands.clone(),
                snapshot: args.snapshot.clone(),
                route: args.route.clone(),
            };
            run_ship_sync(parts, rx).await.map_err(|e| e.to_string())
        });
        Ok(SyncState { task })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<SyncMsg>,
        state: &mut SyncState,
    ) -> Result<(), ActorProcessingErr> {
        state.task.stop().await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<SyncMsg>,
        msg: SyncMsg,
        _state: &mut SyncState,
    ) -> Result<(), ActorProcessingErr> {
        let SyncMsg::TaskEnded(result) = msg;
        on_task_ended(&myself, result, "sync")
    }
}

/// The child spec of the sync actor.
pub fn sync_child(args: SyncArgs) -> (ChildSpec, Addr<SyncMsg>) {
    ChildSpec::actor("sync", "sync", move || (SyncActor, args.clone()))
}
