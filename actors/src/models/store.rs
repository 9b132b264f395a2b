//! Where the registry's history and the ships' shadow reports live, and the registry's
//! operations over them ([`Registry`]).
//!
//! * `SW_MODELS`, subject `seawatch.models.reg.<model>`: one message per change (a JSON
//!   array of [`ModelEv`]s, so a promotion's evaluation and alias moves land together),
//!   kept forever. A change is published with `Nats-Expected-Last-Subject-Sequence` set to
//!   the last message the writer folded: if another shore node changed the model in
//!   between, the publish is refused and the change is decided again on the new state.
//!   Every shore node reads and writes the same subjects; nothing is cached.
//! * `SW_MODEL_SHADOW`, subject `seawatch.models.shadow.<model>.<ship>`, one message per
//!   subject (the ship's latest cumulative [`ShadowReport`] replaces the earlier one).
//!
//! [`MemModelStore`] is the same contract in memory, for tests and a shore without NATS.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, context::PublishErrorKind, stream};
use async_nats::HeaderMap;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::StreamExt;
use parking_lot::Mutex;
use seawatch_runtime::Clock;

use super::{
    evaluate, name_ok, register, rollback, set_alias, set_champion, set_gates, set_rollout_plan,
    summarize, Alias, AliasCause, Evaluation, Gate, Model, ModelError, ModelEv, RolloutPlan,
    ShadowReport, ShadowSummary, VersionRequest,
};
use crate::rollout::bundle::BundleKind;

/// The registry's stream.
pub const MODELS: &str = "SW_MODELS";
/// The shadow reports' stream.
pub const SHADOW: &str = "SW_MODEL_SHADOW";

fn reg_subject(model: &str) -> String {
    format!("seawatch.models.reg.{model}")
}

/// The subject of `ship`'s shadow report on `model`.
pub fn shadow_subject(model: &str, ship: &str) -> String {
    format!("seawatch.models.shadow.{model}.{ship}")
}

/// A change refused because the model changed meanwhile.
pub const CONFLICT: &str = "model changed meanwhile";

/// Storage of the registry's history and the shadow reports.
pub trait ModelStore: Send + Sync + 'static {
    /// The model's changes, oldest first, and the sequence of the last (0: none).
    fn load<'a>(&'a self, model: &'a str) -> BoxFuture<'a, Result<(Vec<ModelEv>, u64), String>>;
    /// Appends one change if the model's last sequence is still `expected`; `Err(CONFLICT)`
    /// when it is not.
    fn append<'a>(
        &'a self,
        model: &'a str,
        change: &'a [ModelEv],
        expected: u64,
    ) -> BoxFuture<'a, Result<u64, String>>;
    /// Every model's name.
    fn names(&self) -> BoxFuture<'_, Result<Vec<String>, String>>;
    /// The latest shadow report of each ship on `model`.
    fn shadow<'a>(&'a self, model: &'a str) -> BoxFuture<'a, Result<Vec<ShadowReport>, String>>;
    /// Stores a ship's shadow report (replacing its earlier one).
    fn put_shadow<'a>(&'a self, r: &'a ShadowReport) -> BoxFuture<'a, Result<(), String>>;
}

/// [`ModelStore`] in memory.
#[derive(Default, Clone)]
pub struct MemModelStore {
    inner: Arc<Mutex<MemInner>>,
}

#[derive(Default)]
struct MemInner {
    seq: u64,
    changes: BTreeMap<String, Vec<(u64, Vec<ModelEv>)>>,
    shadow: BTreeMap<(String, String), ShadowReport>,
}

impl ModelStore for MemModelStore {
    fn load<'a>(&'a self, model: &'a str) -> BoxFuture<'a, Result<(Vec<ModelEv>, u64), String>> {
        Box::pin(async move {
            let g = self.inner.lock();
            let v = g.changes.get(model).cloned().unwrap_or_default();
            let last = v.last().map_or(0, |(s, _)| *s);
            Ok((v.into_iter().flat_map(|(_, e)| e).collect(), last))
        })
    }

    fn append<'a>(
        &'a self,
        model: &'a str,
        change: &'a [ModelEv],
        expected: u64,
    ) -> BoxFuture<'a, Result<u64, String>> {
        Box::pin(async move {
            let mut g = self.inner.lock();
            let last = g
                .changes
                .get(model)
                .and_then(|v| v.last())
                .map_or(0, |(s, _)| *s);
            if last != expected {
                return Err(CONFLICT.into());
            }
            g.seq += 1;
            let seq = g.seq;
            g.changes
                .entry(model.to_owned())
                .or_default()
                .push((seq, change.to_vec()));
            Ok(seq)
        })
    }

    fn names(&self) -> BoxFuture<'_, Result<Vec<String>, String>> {
        Box::pin(async move { Ok(self.inner.lock().changes.keys().cloned().collect()) })
    }

    fn shadow<'a>(&'a self, model: &'a str) -> BoxFuture<'a, Result<Vec<ShadowReport>, String>> {
        Box::pin(async move {
            Ok(self
                .inner
                .lock()
                .shadow
                .iter()
                .filter(|((m, _), _)| m == model)
                .map(|(_, r)| r.clone())
                .collect())
        })
    }

    fn put_shadow<'a>(&'a self, r: &'a ShadowReport) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.inner
                .lock()
                .shadow
                .insert((r.model.clone(), r.ship.clone()), r.clone());
            Ok(())
        })
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Creates the registry's streams if missing (idempotent).
pub async fn ensure_streams(js: &jetstream::Context, replicas: usize) -> Result<(), String> {
    js.get_or_create_stream(stream::Config {
        name: MODELS.into(),
        subjects: vec!["seawatch.models.reg.>".into()],
        storage: stream::StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    })
    .await
    .map_err(err)?;
    js.get_or_create_stream(stream::Config {
        name: SHADOW.into(),
        subjects: vec!["seawatch.models.shadow.>".into()],
        storage: stream::StorageType::File,
        num_replicas: replicas,
        max_messages_per_subject: 1,
        max_age: Duration::from_secs(90 * 86_400),
        ..Default::default()
    })
    .await
    .map_err(err)?;
    Ok(())
}

/// [`ModelStore`] over JetStream (shore side; a ship only publishes shadow reports, with
/// [`NatsModelStore::put_shadow`] on a context in the shore's domain).
#[derive(Clone)]
pub struct NatsModelStore {
    js: jetstream::Context,
}

impl NatsModelStore {
    /// Connects to `url` and creates the streams (with `replicas`).
    pub async fn connect(url: &str, replicas: usize) -> Result<Self, String> {
        let client = crate::sync::nats::connect_url(url).await?;
        let js = jetstream::new(client);
        ensure_streams(&js, replicas).await?;
        Ok(Self { js })
    }

    /// A ship's publisher of shadow reports: connects to the ship's server at `url`;
    /// `domain` is the shore's JetStream domain when that server is a leaf with its own
    /// (production: `Some("shore")`). The streams are not created from a ship.
    pub async fn ship(url: &str, domain: Option<&str>) -> Result<Self, String> {
        let client = crate::sync::nats::connect_url(url).await?;
        let mut js = match domain {
            Some(d) => jetstream::with_domain(client, d),
            None => jetstream::new(client),
        };
        js.set_timeout(Duration::from_secs(3));
        Ok(Self { js })
    }

    async fn subjects(&self, stream: &str, filter: String) -> Result<Vec<String>, String> {
        let mut info = self
            .js
            .get_stream(stream)
            .await
            .map_err(err)?
            .info_with_subjects(filter)
            .await
            .map_err(err)?;
        let mut out = Vec::new();
        while let Some(x) = info.next().await {
            out.push(x.map_err(err)?.0);
        }
        out.sort();
        Ok(out)
    }
}

impl ModelStore for NatsModelStore {
    fn load<'a>(&'a self, model: &'a str) -> BoxFuture<'a, Result<(Vec<ModelEv>, u64), String>> {
        Box::pin(async move {
            let stream = self.js.get_stream(MODELS).await.map_err(err)?;
            let mut c: consumer::PullConsumer = stream
                .create_consumer(consumer::pull::Config {
                    filter_subject: reg_subject(model),
                    ack_policy: consumer::AckPolicy::None,
                    inactive_threshold: Duration::from_secs(30),
                    ..Default::default()
                })
                .await
                .map_err(err)?;
            let mut left = c.info().await.map_err(err)?.num_pending;
            let (mut evs, mut last) = (Vec::new(), 0);
            while left > 0 {
                let mut batch = c
                    .fetch()
                    .max_messages(left.min(512) as usize)
                    .expires(Duration::from_secs(2))
                    .messages()
                    .await
                    .map_err(err)?;
                let mut got = 0;
                while let Some(m) = batch.next().await {
                    let m = m.map_err(err)?;
                    let seq = m.info().map_err(err)?.stream_sequence;
                    let change: Vec<ModelEv> = serde_json::from_slice(&m.payload)
                        .map_err(|e| format!("{MODELS} message {seq}: {e}"))?;
                    evs.extend(change);
                    last = seq;
                    got += 1;
                }
                if got == 0 {
                    return Err(format!("{MODELS}: history of {model} not read in full"));
                }
                left = left.saturating_sub(got);
            }
            let _ = stream.delete_consumer(&c.cached_info().name).await;
            Ok((evs, last))
        })
    }

    fn append<'a>(
        &'a self,
        model: &'a str,
        change: &'a [ModelEv],
        expected: u64,
    ) -> BoxFuture<'a, Result<u64, String>> {
        Box::pin(async move {
            let mut h = HeaderMap::new();
            h.insert(
                "Nats-Expected-Last-Subject-Sequence",
                expected.to_string().as_str(),
            );
            let body = serde_json::to_vec(change).map_err(err)?;
            let ack = self
                .js
                .publish_with_headers(reg_subject(model), h, Bytes::from(body))
                .await
                .map_err(err)?
                .await;
            match ack {
                Ok(a) => Ok(a.sequence),
                Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => Err(CONFLICT.into()),
                Err(e) => Err(err(e)),
            }
        })
    }

    fn names(&self) -> BoxFuture<'_, Result<Vec<String>, String>> {
        Box::pin(async move {
            Ok(self
                .subjects(MODELS, "seawatch.models.reg.>".into())
                .await?
                .into_iter()
                .filter_map(|s| s.strip_prefix("seawatch.models.reg.").map(str::to_owned))
                .collect())
        })
    }

    fn shadow<'a>(&'a self, model: &'a str) -> BoxFuture<'a, Result<Vec<ShadowReport>, String>> {
        Box::pin(async move {
            let stream = self.js.get_stream(SHADOW).await.map_err(err)?;
            let mut out = Vec::new();
            for s in self
                .subjects(SHADOW, format!("seawatch.models.shadow.{model}.*"))
                .await?
            {
                let m = stream
                    .get_last_raw_message_by_subject(&s)
                    .await
                    .map_err(err)?;
                match serde_json::from_slice::<ShadowReport>(&m.payload) {
                    Ok(r) => out.push(r),
                    Err(e) => tracing::warn!(subject = %s, error = %e, "models: bad shadow report"),
                }
            }
            Ok(out)
        })
    }

    fn put_shadow<'a>(&'a self, r: &'a ShadowReport) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let body = serde_json::to_vec(r).map_err(err)?;
            self.js
                .publish(shadow_subject(&r.model, &r.ship), Bytes::from(body))
                .await
                .map_err(err)?
                .await
                .map_err(err)?;
            Ok(())
        })
    }
}

/// A [`NatsModelStore`] connected at first use (and again after a failure), so a node
/// starts while NATS is unreachable; until then every call fails with the reason.
pub struct LazyNatsModelStore {
    url: String,
    replicas: usize,
    inner: tokio::sync::Mutex<Option<NatsModelStore>>,
}

impl LazyNatsModelStore {
    /// A store for the shore's NATS at `url`, streams with `replicas`.
    pub fn new(url: &str, replicas: usize) -> Self {
        Self {
            url: url.to_owned(),
            replicas,
            inner: tokio::sync::Mutex::new(None),
        }
    }

    async fn get(&self) -> Result<NatsModelStore, String> {
        let mut g = self.inner.lock().await;
        if let Some(s) = g.as_ref() {
            return Ok(s.clone());
        }
        let s = tokio::time::timeout(
            Duration::from_secs(5),
            NatsModelStore::connect(&self.url, self.replicas),
        )
        .await
        .map_err(|_| format!("NATS {}: not reachable in 5 s", self.url))??;
        *g = Some(s.clone());
        Ok(s)
    }

    async fn forget_on_error<T>(&self, r: Result<T, String>) -> Result<T, String> {
        if r.as_ref().is_err_and(|e| e != CONFLICT) {
            *self.inner.lock().await = None;
        }
        r
    }
}

impl ModelStore for LazyNatsModelStore {
    fn load<'a>(&'a self, model: &'a str) -> BoxFuture<'a, Result<(Vec<ModelEv>, u64), String>> {
        Box::pin(async move {
            let s = self.get().await?;
            self.forget_on_error(s.load(model).await).await
        })
    }

    fn append<'a>(
        &'a self,
        model: &'a str,
        change: &'a [ModelEv],
        expected: u64,
    ) -> BoxFuture<'a, Result<u64, String>> {
        Box::pin(async move {
            let s = self.get().await?;
            self.forget_on_error(s.append(model, change, expected).await)
                .await
        })
    }

    fn names(&self) -> BoxFuture<'_, Result<Vec<String>, String>> {
        Box::pin(async move {
            let s = self.get().await?;
            self.forget_on_error(s.names().await).await
        })
    }

    fn shadow<'a>(&'a self, model: &'a str) -> BoxFuture<'a, Result<Vec<ShadowReport>, String>> {
        Box::pin(async move {
            let s = self.get().await?;
            self.forget_on_error(s.shadow(model).await).await
        })
    }

    fn put_shadow<'a>(&'a self, r: &'a ShadowReport) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let s = self.get().await?;
            self.forget_on_error(s.put_shadow(r).await).await
        })
    }
}

/// Looks up an uploaded bundle's kind (`None`: shore has no such bundle).
pub type BundleKindOf = Arc<dyn Fn(&str) -> Option<BundleKind> + Send + Sync>;

/// The registry's operations (any shore node; stateless over its [`ModelStore`]).
#[derive(Clone)]
pub struct Registry {
    /// The store.
    pub store: Arc<dyn ModelStore>,
    /// Shore time.
    pub clock: Clock,
    /// Uploaded bundles.
    pub bundle_kind: BundleKindOf,
}

/// What the shadow page shows of a model.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ShadowView {
    /// The model.
    pub model: String,
    /// Its challenger.
    pub challenger: Option<String>,
    /// Its champion.
    pub champion: Option<String>,
    /// Every ship's latest report (also those of earlier runs).
    pub reports: Vec<ShadowReport>,
    /// The reports of the current run, summed.
    pub summary: ShadowSummary,
    /// Both sides' gate metrics on that sum.
    pub metrics: BTreeMap<String, BTreeMap<String, f64>>,
    /// The gates evaluated now (not recorded).
    pub evaluation: Option<Evaluation>,
}

/// What an evaluation did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Verdict {
    /// The evaluation.
    pub evaluation: Evaluation,
    /// Whether the challenger was promoted.
    pub promoted: bool,
    /// Whether the evaluation was recorded in the history (a repeat of the last verdict
    /// with the same reasons is not).
    pub recorded: bool,
}

const RETRIES: usize = 5;

impl Registry {
    /// One model (404 when unknown).
    pub async fn get(&self, name: &str) -> Result<Model, ModelError> {
        let (evs, _) = self.store.load(name).await.map_err(ModelError::Store)?;
        Model::fold(name, &evs).ok_or_else(|| ModelError::NotFound(format!("no model {name}")))
    }

    /// Every model.
    pub async fn list(&self) -> Result<Vec<Model>, ModelError> {
        let mut out = Vec::new();
        for n in self.store.names().await.map_err(ModelError::Store)? {
            if let Ok(m) = self.get(&n).await {
                out.push(m);
            }
        }
        Ok(out)
    }

    /// Loads the model, decides a change with `f` and appends it; decides again on the new
    /// state when another node changed the model meanwhile.
    async fn change<F>(&self, name: &str, f: F) -> Result<Model, ModelError>
    where
        F: Fn(Option<&Model>, i64) -> Result<Vec<ModelEv>, ModelError>,
    {
        self.change_from(name, None, f).await
    }

    /// [`Registry::change`] deciding first on `loaded` (the model's history and last
    /// sequence, read by the caller) instead of reading it again.
    async fn change_from<F>(
        &self,
        name: &str,
        mut loaded: Option<(Vec<ModelEv>, u64)>,
        f: F,
    ) -> Result<Model, ModelError>
    where
        F: Fn(Option<&Model>, i64) -> Result<Vec<ModelEv>, ModelError>,
    {
        if !name_ok(name) {
            return Err(ModelError::BadRequest(format!(
                "model name {name:?}: use 1-64 of a-z, 0-9, '-' and '_'"
            )));
        }
        for _ in 0..RETRIES {
            let (evs, last) = match loaded.take() {
                Some(l) => l,
                None => self.store.load(name).await.map_err(ModelError::Store)?,
            };
            let mut m = Model::fold(name, &evs);
            let change = f(m.as_ref(), self.clock.now_ms())?;
            if change.is_empty() {
                return m.ok_or_else(|| ModelError::NotFound(format!("no model {name}")));
            }
            match self.store.append(name, &change, last).await {
                Ok(_) => {
                    // `m` is the fold of `evs`: apply only what was appended
                    m = match m {
                        Some(mut m) => {
                            change.iter().for_each(|e| m.apply(e));
                            Some(m)
                        }
                        None => Model::fold(name, &change),
                    };
                    return m.ok_or_else(|| ModelError::Store("empty history".into()));
                }
                Err(e) if e == CONFLICT => continue,
                Err(e) => return Err(ModelError::Store(e)),
            }
        }
        Err(ModelError::Conflict(format!(
            "model {name} kept changing; try again"
        )))
    }

    fn known(m: Option<&Model>, name: &str) -> Result<Model, ModelError> {
        m.cloned()
            .ok_or_else(|| ModelError::NotFound(format!("no model {name}")))
    }

    /// Registers a version (creating the model with its first version).
    pub async fn register(
        &self,
        name: &str,
        req: VersionRequest,
        by: &str,
    ) -> Result<Model, ModelError> {
        let kind = (self.bundle_kind)(&req.bundle);
        self.change(name, |m, now| {
            Ok(vec![register(m, name, req.clone(), kind, by, now)?])
        })
        .await
    }

    /// Points an alias at a version (or clears the challenger). Setting the champion to
    /// the challenger also clears the challenger.
    pub async fn set_alias(
        &self,
        name: &str,
        alias: Alias,
        version: Option<String>,
        by: &str,
    ) -> Result<Model, ModelError> {
        self.change(name, |m, now| {
            let m = Self::known(m, name)?;
            match (alias, version.as_deref()) {
                (Alias::Champion, Some(v)) => set_champion(&m, v, by, now, AliasCause::Set),
                (a, v) => Ok(vec![set_alias(&m, a, v, by, now)?]),
            }
        })
        .await
    }

    /// One-step rollback of the champion.
    pub async fn rollback(&self, name: &str, by: &str) -> Result<Model, ModelError> {
        self.change(name, |m, now| rollback(&Self::known(m, name)?, by, now))
            .await
    }

    /// Sets the promotion gates.
    pub async fn set_gates(
        &self,
        name: &str,
        gates: Vec<Gate>,
        by: &str,
    ) -> Result<Model, ModelError> {
        self.change(name, |m, now| {
            Ok(vec![set_gates(
                &Self::known(m, name)?,
                gates.clone(),
                by,
                now,
            )?])
        })
        .await
    }

    /// Sets (or, with `None`, clears) the champion's rollout plan.
    pub async fn set_rollout_plan(
        &self,
        name: &str,
        plan: Option<RolloutPlan>,
        by: &str,
    ) -> Result<Model, ModelError> {
        self.change(name, |m, now| {
            Ok(vec![set_rollout_plan(
                &Self::known(m, name)?,
                plan.clone(),
                by,
                now,
            )?])
        })
        .await
    }

    /// Records that rollout `rollout` of champion `version` was started; refused (409)
    /// when that champion is no longer due ([`Model::deploy_due`]: another node recorded
    /// its rollout, or the champion moved).
    pub async fn record_deployed(
        &self,
        name: &str,
        version: &str,
        rollout: &str,
    ) -> Result<Model, ModelError> {
        self.change(name, |m, now| {
            let m = Self::known(m, name)?;
            match m.deploy_due() {
                Some((v, cause)) if v == version => Ok(vec![ModelEv::Deployed {
                    at_ms: now,
                    version: v,
                    rollout: rollout.to_owned(),
                    cause,
                }]),
                _ => Err(ModelError::Conflict(format!(
                    "champion {version} of {name} is no longer due for a rollout"
                ))),
            }
        })
        .await
    }

    /// The model's shadow scores and its gates evaluated on them now.
    pub async fn shadow(&self, name: &str) -> Result<ShadowView, ModelError> {
        let m = self.get(name).await?;
        let reports = self.store.shadow(name).await.map_err(ModelError::Store)?;
        let summary = summarize(&m, &reports);
        let mut metrics = BTreeMap::new();
        metrics.insert("champion".to_owned(), summary.champion.metrics());
        metrics.insert("challenger".to_owned(), summary.challenger.metrics());
        Ok(ShadowView {
            model: m.name.clone(),
            challenger: m.challenger.clone(),
            champion: m.champion.clone(),
            evaluation: evaluate(&m, &summary),
            reports,
            summary,
            metrics,
        })
    }

    /// Evaluates the challenger's gates on its shadow scores; promotes it when all pass
    /// (the evaluation, the champion's move and the challenger's clearing are one change)
    /// and otherwise records the evaluation when its verdict or reasons differ from the
    /// last recorded one. `None` when the model has no challenger.
    pub async fn evaluate(&self, name: &str, by: &str) -> Result<Option<Verdict>, ModelError> {
        Ok(self.evaluate_loaded(name, None, by).await?.0)
    }

    /// [`Registry::evaluate`] on the history the caller read (`loaded`: the model's events
    /// and last sequence; read again only if another node changed the model meanwhile);
    /// also returns the model as it is after the evaluation.
    pub async fn evaluate_loaded(
        &self,
        name: &str,
        loaded: Option<(Vec<ModelEv>, u64)>,
        by: &str,
    ) -> Result<(Option<Verdict>, Model), ModelError> {
        let reports = self.store.shadow(name).await.map_err(ModelError::Store)?;
        let out: Mutex<Option<Verdict>> = Mutex::new(None);
        let model = self
            .change_from(name, loaded, |m, now| {
                let m = Self::known(m, name)?;
                let summary = summarize(&m, &reports);
                let Some(evaluation) = evaluate(&m, &summary) else {
                    *out.lock() = None;
                    return Ok(Vec::new());
                };
                let mut change = Vec::new();
                let promoted = evaluation.pass;
                let same = m.last_evaluation.as_ref().is_some_and(|l| {
                    l.challenger == evaluation.challenger
                        && l.champion == evaluation.champion
                        && l.pass == evaluation.pass
                        && l.why_not() == evaluation.why_not()
                });
                if promoted || !same {
                    change.push(ModelEv::Evaluated {
                        at_ms: now,
                        evaluation: evaluation.clone(),
                    });
                }
                if promoted {
                    change.extend(set_champion(
                        &m,
                        &evaluation.challenger,
                        by,
                        now,
                        AliasCause::Promoted,
                    )?);
                }
                *out.lock() = Some(Verdict {
                    evaluation,
                    promoted,
                    recorded: !change.is_empty(),
                });
                Ok(change)
            })
            .await?;
        let v = out.lock().take();
        Ok((v, model))
    }
}
