//! Shore's gate evaluator: a supervised actor that, every `tick`, evaluates the gates of
//! every model with a challenger and gates on its ships' shadow reports, and promotes the
//! challenger when all pass ([`Registry::evaluate`]). Several shore nodes may run it: a
//! promotion is one change written against the model's last sequence, so it happens
//! once.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use seawatch_runtime::supervision::{Addr, ChildSpec};
use seawatch_runtime::Metrics;

use super::store::Registry;

/// `{result}` of `seawatch_model_evaluations_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EvalLabel {
    /// `promoted`, `held`, `error`.
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
        for result in ["promoted", "held", "error"] {
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
}

/// Messages of the evaluator.
#[derive(Debug)]
pub enum EvaluatorMsg {
    /// Evaluate every model with a challenger now.
    Tick,
}

/// Evaluates every model with a challenger and gates once.
pub async fn evaluate_all(registry: &Registry, metrics: &ModelMetrics) {
    let models = match registry.list().await {
        Ok(m) => m,
        Err(e) => {
            tracing::debug!(error = %e, "models: registry not readable");
            metrics.evaluation("error");
            return;
        }
    };
    for m in models {
        if m.challenger.is_none() || m.gates.is_empty() {
            continue;
        }
        match registry.evaluate(&m.name, "gates").await {
            Ok(Some(v)) if v.promoted => {
                tracing::info!(model = %m.name, version = %v.evaluation.challenger, "models: challenger promoted; every gate passed");
                metrics.evaluation("promoted");
            }
            Ok(Some(v)) => {
                if v.recorded {
                    tracing::info!(model = %m.name, why = %v.evaluation.why_not(), "models: challenger stays in shadow");
                }
                metrics.evaluation("held");
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(model = %m.name, error = %e, "models: evaluation failed");
                metrics.evaluation("error");
            }
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
                evaluate_all(&st.registry, &st.metrics).await;
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
