//! The ClickHouse exporter as a supervised actor: it owns the exporter task, stops it on
//! shutdown, and fails (to be restarted with backoff) when the task hits an error that
//! retrying inside it cannot fix.

use ractor::{Actor, ActorProcessingErr, ActorRef};
use seawatch_runtime::supervision::{Addr, ChildSpec};

use crate::log_service::LogReader;
use crate::owned_task::{on_task_ended, OwnedTask};

use super::clickhouse::{ClickHouseConfig, ClickHouseExporter, ClickHouseSink, ExporterConfig};

/// Start arguments of the exporter actor.
#[derive(Clone)]
pub struct ExporterArgs {
    /// Where to insert.
    pub clickhouse: ClickHouseConfig,
    /// How to follow the log (cursor file, polling, backoff).
    pub exporter: ExporterConfig,
    /// The ship's event log (read view).
    pub log: LogReader,
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
    task: OwnedTask,
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
        let exporter = ClickHouseExporter::new(sink, std::sync::Arc::new(args.log), args.exporter)?;
        let task = OwnedTask::spawn(myself, ExporterMsg::TaskEnded, move |rx| async move {
            exporter.run(rx).await.map_err(|e| e.to_string())
        });
        Ok(ExporterState { task })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<ExporterMsg>,
        state: &mut ExporterState,
    ) -> Result<(), ActorProcessingErr> {
        state.task.stop().await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<ExporterMsg>,
        msg: ExporterMsg,
        _state: &mut ExporterState,
    ) -> Result<(), ActorProcessingErr> {
        let ExporterMsg::TaskEnded(result) = msg;
        on_task_ended(&myself, result, "clickhouse exporter")
    }
}

/// The child spec of the exporter actor.
pub fn exporter_child(args: ExporterArgs) -> (ChildSpec, Addr<ExporterMsg>) {
    ChildSpec::actor("clickhouse-exporter", "store", move || {
        (ExporterActor, args.clone())
    })
}
