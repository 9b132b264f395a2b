//! The model registry in a node's tree (decision 0065): at shore the registry API and the
//! gate evaluator (child `models`), on a ship with `[nats]` the shadow runner (child
//! `shadow`) that scores challengers delivered to `DATA/models/shadow-<model>/`.

use std::sync::Arc;
use std::time::Duration;

use seawatch_actors::log_service::LogReader;
use seawatch_actors::models::evaluator::{evaluator_child, EvaluatorArgs, ModelMetrics};
use seawatch_actors::models::shadow::{runner_child, RunnerArgs, ShadowMetrics, SinkConnector};
use seawatch_actors::models::store::{LazyNatsModelStore, ModelStore, NatsModelStore, Registry};
use seawatch_console::models::ModelApi;
use seawatch_console::rollouts::RolloutApi;
use seawatch_runtime::supervision::ChildSpec;
use seawatch_runtime::{Clock, Metrics, Runtime};

use crate::config::ShipConfig;

/// How often shore evaluates challengers' gates.
pub const EVALUATE_EVERY: Duration = Duration::from_secs(30);
/// How often a ship reports its shadow scores.
pub const REPORT_EVERY: Duration = Duration::from_secs(60);

/// Shore: the registry over the NATS at `url` (streams with `replicas`), its API (shadow
/// bundles go through the rollout API's bundles and controller) and the evaluator child.
pub fn shore_registry(
    url: &str,
    replicas: usize,
    rollouts: &RolloutApi,
    clock: &Clock,
    metrics: &Metrics,
) -> (ChildSpec, ModelApi) {
    let bundles = rollouts.bundles.clone();
    let kinds = bundles.clone();
    let registry = Registry {
        store: Arc::new(LazyNatsModelStore::new(url, replicas)),
        clock: clock.clone(),
        bundle_kind: Arc::new(move |sha: &str| {
            kinds.get(sha).ok().flatten().map(|(b, _)| b.manifest.kind)
        }),
    };
    let model_metrics = ModelMetrics::register(metrics);
    let (child, _) = evaluator_child(EvaluatorArgs {
        registry: registry.clone(),
        tick: EVALUATE_EVERY,
        metrics: model_metrics.clone(),
        // champions of models with a rollout plan go live by a rollout
        rollouts: Some(rollouts.controller.clone()),
    });
    (
        child,
        ModelApi {
            registry,
            bundles,
            rollouts: Some(rollouts.controller.clone()),
            metrics: model_metrics,
        },
    )
}

/// Ship: the shadow runner over the ship's event log, reporting through the ship's leaf
/// to the shore domain; `None` without `[nats]`.
pub fn ship_shadow_runner(
    cfg: &ShipConfig,
    runtime: &Runtime,
    log: LogReader,
) -> Option<ChildSpec> {
    let url = cfg.nats.as_ref()?.url.clone();
    let connect: SinkConnector = Arc::new(move || {
        let url = url.clone();
        Box::pin(async move {
            let s = NatsModelStore::ship(&url, Some("shore")).await?;
            Ok(Arc::new(s) as Arc<dyn ModelStore>)
        })
    });
    let (child, _) = runner_child(RunnerArgs {
        ship: cfg.ship.clone(),
        models_dir: cfg.data.join("models"),
        events: Arc::new(log),
        connect,
        clock: runtime.clock().clone(),
        tick: Duration::from_secs(5),
        report_every: REPORT_EVERY,
        metrics: ShadowMetrics::register(runtime.metrics()),
    });
    Some(child)
}
