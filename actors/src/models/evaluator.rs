//! Shore's gate evaluator: a supervised actor that, every `tick`, evaluates the gates of
//! every model with a challenger and gates on its ships' shadow reports, and promotes the
//! challenger when all pass ([`Registry::evaluate`]). Several shore nodes may run it: a
//! promotion is one change written against the model's last sequence, so it happens
//! once. Each model's history is read once per tick.
//!
//! **Champions go live.** A model with a rollout plan ([`super::RolloutPlan`]) whose
//! champion was moved by its gates or by a rollback gets a rollout of the champion's
//! bundle with that plan ([`deploy`]), started on the rollout controller (journaled like
//! every rollout) and recorded in the model's history (`deployed`, with the rollout id).
//! Started first and recorded after: a node that dies in between leaves the champion
//! due, and the next tick (any node) starts it again; two nodes that both started one
//! race on the record, and the one refused aborts its rollout.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use seawatch_runtime::supervision::{Addr, ChildSpec};
use seawatch_runtime::Metrics;

use super::store::Registry;
use super::{Model, ModelError};
use crate::rollout::controller::RolloutMsg;
use crate::rollout::state::Op;

/// `{result}` of `seawatch_model_evaluations_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EvalLabel {
    /// `promoted`, `held`, `deployed` (a champion's rollout started), `error`.
    pub result: &'static str,
}

/// `{result}` of `seawatch_model_requests_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabel {
    /// `ok`, `rejected` (400), `not_found`, `conflict`, `error`.
    pub result: &'static str,
}

/// Registry metrics.
#[derive(Debug, Clone, Default)]
pub struct ModelMetrics {
    /// `seawatch_model_evaluations_total{result}`.
    pub evaluations: Family<EvalLabel, Counter>,
    /// `seawatch_model_requests_total{result}`: registry API requests.
    pub requests: Family<RequestLabel, Counter>,
}

impl ModelMetrics {
    /// Registers into `metrics`; every known label exports 0.
    pub fn register(metrics: &Metrics) -> Self {
        let m = Self::default();
        for result in ["promoted", "held", "deployed", "error"] {
            let _ = m.evaluations.get_or_create(&EvalLabel { result });
        }
        for result in ["ok", "rejected", "not_found", "conflict", "error"] {
            let _ = m.requests.get_or_create(&RequestLabel { result });
        }
        metrics.register(
            "seawatch_model_evaluations",
            "Gate evaluations of challengers by result",
            m.evaluations.clone(),
        );
        metrics.register(
            "seawatch_model_requests",
            "Model registry API requests by result",
            m.requests.clone(),
        );
        m
    }

    /// Counts an evaluation.
    pub fn evaluation(&self, result: &'static str) {
        self.evaluations.get_or_create(&EvalLabel { result }).inc();
    }

    /// Counts a request.
    pub fn request(&self, result: &'static str) {
        self.requests.get_or_create(&RequestLabel { result }).inc();
    }
}

/// Start arguments of the evaluator.
#[derive(Clone)]
pub struct EvaluatorArgs {
    /// The registry.
    pub registry: Registry,
    /// How often to evaluate.
    pub tick: Duration,
    /// Metrics.
    pub metrics: ModelMetrics,
    /// The rollout controller that rolls out champions of models with a rollout plan
    /// (`None`: they are not rolled out).
    pub rollouts: Option<Addr<RolloutMsg>>,
}

/// Messages of the evaluator.
#[derive(Debug)]
pub enum EvaluatorMsg {
    /// Evaluate every model with a challenger now.
    Tick,
}

/// Who the registry and the rollout controller are told acted.
const BY: &str = "gates";

/// Evaluates every model with a challenger and gates once, and starts the rollouts of
/// champions that are due (with `rollouts`). Each model's history is read once.
pub async fn evaluate_all(
    registry: &Registry,
    metrics: &ModelMetrics,
    rollouts: Option<&Addr<RolloutMsg>>,
) {
    let names = match registry.store.names().await {
        Ok(n) => n,
        Err(e) => {
            tracing::debug!(error = %e, "models: registry not readable");
            metrics.evaluation("error");
            return;
        }
    };
    for name in names {
        let (evs, last) = match registry.store.load(&name).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(model = %name, error = %e, "models: history not readable");
                metrics.evaluation("error");
                continue;
            }
        };
        let Some(mut m) = Model::fold(&name, &evs) else {
            continue;
        };
        if m.challenger.is_some() && !m.gates.is_empty() {
            match registry.evaluate_loaded(&name, Some((evs, last)), BY).await {
                Ok((Some(v), after)) if v.promoted => {
                    tracing::info!(model = %name, version = %v.evaluation.challenger, "models: challenger promoted; every gate passed");
                    metrics.evaluation("promoted");
                    m = after;
                }
                Ok((Some(v), after)) => {
                    if v.recorded {
                        tracing::info!(model = %name, why = %v.evaluation.why_not(), "models: challenger stays in shadow");
                    }
                    metrics.evaluation("held");
                    m = after;
                }
                Ok((None, after)) => m = after,
                Err(e) => {
                    tracing::warn!(model = %name, error = %e, "models: evaluation failed");
                    metrics.evaluation("error");
                    continue;
                }
            }
        }
        if let Some(controller) = rollouts {
            match deploy(registry, &m, controller).await {
                Ok(Some(id)) => {
                    tracing::info!(model = %name, rollout = %id, "models: champion rollout started");
                    metrics.evaluation("deployed");
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(model = %name, error = %e, "models: champion not rolled out");
                    metrics.evaluation("error");
                }
            }
        }
    }
}

/// Starts the rollout of `m`'s champion when it is due ([`Model::deploy_due`]) and
/// records it; `Some(rollout id)` when one was started and recorded.
pub async fn deploy(
    registry: &Registry,
    m: &Model,
    controller: &Addr<RolloutMsg>,
) -> Result<Option<String>, ModelError> {
    let (Some((version, _)), Some(plan)) = (m.deploy_due(), m.rollout.as_ref()) else {
        return Ok(None);
    };
    let req = plan.request(&version);
    let rollout = controller
        .call(
            |r| RolloutMsg::Create(req, BY.to_owned(), r),
            Duration::from_secs(10),
        )
        .await
        .map_err(|e| ModelError::Store(format!("rollout controller: {e}")))?
        .map_err(|e| ModelError::BadRequest(format!("champion rollout refused: {e}")))?;
    match registry
        .record_deployed(&m.name, &version, &rollout.id)
        .await
    {
        Ok(_) => Ok(Some(rollout.id)),
        Err(e) => {
            // Another node recorded its rollout of this champion first (or the champion
            // moved): this one goes.
            let id = rollout.id.clone();
            let _ = controller
                .call(
                    |r| RolloutMsg::Control(id, Op::Abort, BY.to_owned(), r),
                    Duration::from_secs(10),
                )
                .await;
            Err(e)
        }
    }
}

/// The evaluator actor.
pub struct Evaluator;

impl Actor for Evaluator {
    type Msg = EvaluatorMsg;
    type State = EvaluatorArgs;
    type Arguments = EvaluatorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<EvaluatorMsg>,
        args: EvaluatorArgs,
    ) -> Result<EvaluatorArgs, ActorProcessingErr> {
        myself.send_after(args.tick, || EvaluatorMsg::Tick);
        Ok(args)
    }

    async fn handle(
        &self,
        myself: ActorRef<EvaluatorMsg>,
        msg: EvaluatorMsg,
        st: &mut EvaluatorArgs,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            EvaluatorMsg::Tick => {
                evaluate_all(&st.registry, &st.metrics, st.rollouts.as_ref()).await;
                myself.send_after(st.tick, || EvaluatorMsg::Tick);
            }
        }
        Ok(())
    }
}

/// The evaluator as a supervised child named `models`.
pub fn evaluator_child(args: EvaluatorArgs) -> (ChildSpec, Addr<EvaluatorMsg>) {
    ChildSpec::actor("models", "model_evaluator", move || {
        (Evaluator, args.clone())
    })
}
