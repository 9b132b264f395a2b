//! The ClickHouse exporter as a supervised actor: it owns the exporter task, stops it on
//! shutdown, and fails (to be restarted with backoff) when the task hits an error that
//! retrying inside it cannot fix.

use std::sync::Arc;

use parking_lot::RwLock;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use seawatch_runtime::event_log::EventLog;
use seawatch_runtime::supervision::{Addr, ChildSpec};
use tokio::sync::watch;

use super::clickhouse::{ClickHouseConfig, ClickHouseExporter, ClickHouseSink, ExporterConfig};

/// Start arguments of the exporter actor.
#[derive(Clone)]
pub struct ExporterArgs {
    /// Where to insert.
    pub clickhouse: ClickHouseConfig,
    /// How to follow the log (cursor file, polling, backoff).
    pub exporter: ExporterConfig,
    /// The ship's event log.
    pub log: Arc<RwLock<EventLog>>,
}

/// Messages of the exporter actor.
pub enum ExporterMsg {
    /// The exporter task ended.
    TaskEnded(Result<(), String>),
}

/// The exporter actor.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExporterActor;

/// State of the exporter actor.
pub struct ExporterState {
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Actor for ExporterActor {
    type Msg = ExporterMsg;
    type State = ExporterState;
    type Arguments = ExporterArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ExporterMsg>,
        args: ExporterArgs,
    ) -> Result<ExporterState, ActorProcessingErr> {
        let sink = ClickHouseSink::new(args.clickhouse)?;
        let exporter = ClickHouseExporter::new(sink, args.log, args.exporter)?;
        let (shutdown, rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            let result = exporter.run(rx).await.map_err(|e| e.to_string());
            let _ = myself.cast(ExporterMsg::TaskEnded(result));
        });
        Ok(ExporterState { shutdown, task })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<ExporterMsg>,
        state: &mut ExporterState,
    ) -> Result<(), ActorProcessingErr> {
        let _ = state.shutdown.send(true);
        let task = std::mem::replace(&mut state.task, tokio::spawn(async {}));
        let _ = task.await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<ExporterMsg>,
        msg: ExporterMsg,
        _state: &mut ExporterState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ExporterMsg::TaskEnded(Ok(())) => {
                myself.stop(None);
                Ok(())
            }
            ExporterMsg::TaskEnded(Err(e)) => Err(format!("clickhouse exporter: {e}").into()),
        }
    }
}

/// The child spec of the exporter actor.
pub fn exporter_child(args: ExporterArgs) -> (ChildSpec, Addr<ExporterMsg>) {
    ChildSpec::actor("clickhouse-exporter", "store", move || {
        (ExporterActor, args.clone())
    })
}
