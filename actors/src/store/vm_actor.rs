//! The VictoriaMetrics exporter as a supervised actor: it owns the exporter task, stops it
//! on shutdown, and fails (to be restarted with backoff) when the task hits an error that
//! retrying inside it cannot fix. It resumes from its cursor file on every start.

use ractor::{Actor, ActorProcessingErr, ActorRef};
use seawatch_runtime::supervision::{Addr, ChildSpec};

use crate::log_service::LogReader;
use crate::owned_task::{on_task_ended, OwnedTask};

use super::victoriametrics::{VmConfig, VmExporter, VmExporterConfig, VmMetrics};

/// Start arguments of the VictoriaMetrics exporter actor.
#[derive(Clone)]
pub struct VmExporterArgs {
    /// Where to write.
    pub vm: VmConfig,
    /// How to follow the log (cursor file, polling, backoff).
    pub exporter: VmExporterConfig,
    /// The ship's event log (read view).
    pub log: LogReader,
    /// `seawatch_victoriametrics_*`, when published.
    pub metrics: Option<VmMetrics>,
}

/// Messages of the exporter actor.
pub enum VmExporterMsg {
    /// The exporter task ended.
    TaskEnded(Result<(), String>),
}

/// The exporter actor.
#[derive(Debug, Clone, Copy, Default)]
pub struct VmExporterActor;

/// State of the exporter actor.
pub struct VmExporterState {
    task: OwnedTask,
}

impl Actor for VmExporterActor {
    type Msg = VmExporterMsg;
    type State = VmExporterState;
    type Arguments = VmExporterArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<VmExporterMsg>,
        args: VmExporterArgs,
    ) -> Result<VmExporterState, ActorProcessingErr> {
        let exporter = VmExporter::new(
            &args.vm,
            std::sync::Arc::new(args.log),
            args.exporter,
            args.metrics,
        )?;
        let task = OwnedTask::spawn(myself, VmExporterMsg::TaskEnded, move |rx| async move {
            exporter.run(rx).await.map_err(|e| e.to_string())
        });
        Ok(VmExporterState { task })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<VmExporterMsg>,
        state: &mut VmExporterState,
    ) -> Result<(), ActorProcessingErr> {
        state.task.stop().await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<VmExporterMsg>,
        msg: VmExporterMsg,
        _state: &mut VmExporterState,
    ) -> Result<(), ActorProcessingErr> {
        let VmExporterMsg::TaskEnded(result) = msg;
        on_task_ended(&myself, result, "victoriametrics exporter")
    }
}

/// The child spec of the exporter actor (`victoriametrics-exporter`, kind `store`).
pub fn vm_exporter_child(args: VmExporterArgs) -> (ChildSpec, Addr<VmExporterMsg>) {
    ChildSpec::actor("victoriametrics-exporter", "store", move || {
        (VmExporterActor, args.clone())
    })
}
