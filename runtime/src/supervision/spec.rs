//! Supervision specs: what a supervisor supervises and how it reacts to failures.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use ractor::{Actor, ActorCell, ActorId, SpawnErr};
use serde::{Deserialize, Serialize};

use super::addr::{Addr, AddrInner};
use super::instrumented::{Supervised, SupervisedArgs};
use super::supervisor::{Supervisor, SupervisorArgs, SupervisorMsg};
use super::task::TaskStop;
use crate::metrics::{Probe, ProbeGuard};
use crate::runtime::Runtime;
use crate::sharding::{ActorKey, ShardKey};

/// Which children a supervisor restarts when one of them fails (OTP semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Only the child that exited is restarted.
    #[default]
    OneForOne,
    /// All children are stopped (in reverse start order) and restarted (in start order).
    OneForAll,
    /// The exited child and every child started after it are stopped and restarted.
    RestForOne,
}

/// When an exited child is restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Restart {
    /// Always restarted.
    #[default]
    Permanent,
    /// Restarted only when it failed (panic, error, killed as frozen), not on a normal stop.
    Transient,
    /// Never restarted; removed from the supervisor when it exits.
    Temporary,
}

/// How a child is stopped during an ordered shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shutdown {
    /// Ask it to stop, wait up to this long, then kill it.
    Timeout(#[serde(with = "duration_ms")] Duration),
    /// Kill it at once.
    Brutal,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::Timeout(Duration::from_secs(5))
    }
}

/// Restart intensity: more than `max_restarts` restarts within `within` makes the
/// supervisor give up, stop its children and fail itself (escalation to its parent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intensity {
    /// Restarts tolerated in the window.
    pub max_restarts: u32,
    /// The window.
    #[serde(with = "duration_ms")]
    pub within: Duration,
}

impl Default for Intensity {
    fn default() -> Self {
        // OTP's default is 1 in 5 s; a ship's children are many and restarts are cheap,
        // so tolerate more before escalating.
        Self {
            max_restarts: 10,
            within: Duration::from_secs(10),
        }
    }
}

/// Exponential restart backoff with jitter. The first restart after a quiet period is
/// immediate (like OTP's); repeated restarts of the same child wait
/// `initial * multiplier^(n-1)`, capped at `max`, with ±`jitter` (a fraction) applied.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Backoff {
    /// Delay before the second restart in a row.
    #[serde(with = "duration_ms")]
    pub initial: Duration,
    /// Cap on the delay.
    #[serde(with = "duration_ms")]
    pub max: Duration,
    /// Growth factor per consecutive restart.
    pub multiplier: f64,
    /// Jitter as a fraction of the delay (0.2 = ±20 %).
    pub jitter: f64,
    /// A child that ran this long since its last restart starts again from an immediate restart.
    #[serde(with = "duration_ms")]
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: 0.2,
            reset_after: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// No delay at all between restarts.
    pub fn none() -> Self {
        Self {
            initial: Duration::ZERO,
            max: Duration::ZERO,
            multiplier: 1.0,
            jitter: 0.0,
            reset_after: Duration::ZERO,
        }
    }

    /// The delay before restart number `consecutive` (0 = first after a quiet period),
    /// with `unit_jitter` in [-1, 1] choosing where in the jitter band it falls.
    pub fn delay(&self, consecutive: u32, unit_jitter: f64) -> Duration {
        if consecutive == 0 || self.initial.is_zero() {
            return Duration::ZERO;
        }
        let exp = self
            .multiplier
            .max(1.0)
            .powi((consecutive - 1).min(64) as i32);
        let base = (self.initial.as_secs_f64() * exp).min(self.max.as_secs_f64());
        let jittered = base * (1.0 + self.jitter.clamp(0.0, 1.0) * unit_jitter.clamp(-1.0, 1.0));
        Duration::from_secs_f64(jittered.clamp(0.0, self.max.as_secs_f64()))
    }
}

/// Interns actor kinds: a kind is one of a handful of names, so every child of a kind
/// shares one `Arc<str>` instead of carrying its own copy.
pub(crate) fn intern_kind(kind: &str) -> Arc<str> {
    type Kinds = std::collections::HashSet<Arc<str>, crate::FastHash>;
    static KINDS: std::sync::OnceLock<parking_lot::Mutex<Kinds>> = std::sync::OnceLock::new();
    let mut kinds = KINDS.get_or_init(Default::default).lock();
    if let Some(k) = kinds.get(kind) {
        return k.clone();
    }
    let k: Arc<str> = Arc::from(kind);
    kinds.insert(k.clone());
    k
}

pub(crate) mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// What a start function hands back: the running actor, and its probe when instrumented.
pub struct Started {
    /// The new incarnation.
    pub cell: ActorCell,
    /// Its probe, for frozen-actor detection (absent for nested supervisors).
    pub probe: Option<Arc<crate::metrics::Probe>>,
}

/// Everything a child's start function gets from its supervisor.
#[derive(Clone)]
pub struct StartCtx {
    /// The supervisor, to link the child to.
    pub supervisor: ActorCell,
    /// The node's shared runtime services.
    pub runtime: Runtime,
    /// The shard the child belongs to.
    pub shard: ShardKey,
    /// The child's id.
    pub id: Arc<str>,
    /// The child's kind.
    pub kind: Arc<str>,
    /// The statistics of the child's kind in its shard (the supervisor resolves them once
    /// per kind, not once per start).
    pub stats: Arc<crate::metrics::KindStats>,
}

/// How a supervisor starts a child and hears that an incarnation is gone. One object per
/// child holds both (for an actor child: its factory and its stable address), so a child
/// costs one shared allocation here, not a closure and an exit hook.
pub(crate) trait Start: Send + Sync {
    /// Starts an incarnation. The arguments are borrowed: each start function clones only
    /// what its future keeps.
    fn start(
        self: Arc<Self>,
        args: &StartArgs<'_>,
    ) -> BoxFuture<'static, Result<Started, SpawnErr>>;
    /// Incarnation `id` is gone (its stable address clears itself if it still points at
    /// that incarnation).
    fn exited(&self, _id: ActorId) {}
}

/// One child of a supervisor: its identity, restart policy and how to start it.
#[derive(Clone)]
pub struct ChildSpec {
    /// Unique among its siblings.
    pub id: Arc<str>,
    /// Actor kind (metrics label and registry kind).
    pub kind: Arc<str>,
    /// When to restart it.
    pub restart: Restart,
    /// How to stop it.
    pub shutdown: Shutdown,
    /// If set, a handler running longer than this is reported and the actor restarted.
    pub frozen_after: Option<std::time::Duration>,
    /// Register in the node's registry under (shard, kind, id).
    pub register: bool,
    /// The shard this child belongs to, when it differs from its supervisor's (a node's
    /// root supervisor may host one child per shard).
    pub shard: Option<ShardKey>,
    pub(crate) start: Arc<dyn Start>,
}

/// What a supervisor hands a [`Start`], borrowed from its state.
pub(crate) struct StartArgs<'a> {
    pub supervisor: &'a ActorCell,
    pub runtime: &'a Runtime,
    pub shard: &'a ShardKey,
    pub id: &'a Arc<str>,
    pub kind: &'a Arc<str>,
    pub stats: &'a Arc<crate::metrics::KindStats>,
}

impl StartArgs<'_> {
    /// The owned context a custom start function takes.
    fn to_ctx(&self) -> StartCtx {
        StartCtx {
            supervisor: self.supervisor.clone(),
            runtime: self.runtime.clone(),
            shard: self.shard.clone(),
            id: self.id.clone(),
            kind: self.kind.clone(),
            stats: self.stats.clone(),
        }
    }
}

/// An actor child's factory of incarnations: the tail of its stable address's allocation,
/// which is its [`Start`] as well (one allocation per child for both).
struct ActorFactory<A, F> {
    factory: F,
    _actor: PhantomData<fn() -> A>,
}

impl<A, F> Start for AddrInner<A::Msg, ActorFactory<A, F>>
where
    A: Actor,
    F: Fn() -> (A, A::Arguments) + Send + Sync + 'static,
{
    fn start(
        self: Arc<Self>,
        start: &StartArgs<'_>,
    ) -> BoxFuture<'static, Result<Started, SpawnErr>> {
        // The factory is called and the probe made before the future is built, so the
        // future owns only what this incarnation needs.
        let (actor, args) = (self.tail.factory)();
        let guard: ProbeGuard = start.stats.new_probe();
        let probe = guard.probe().clone();
        let supervisor = start.supervisor.clone();
        // The future holds the child's shared allocation to point its address.
        let this = self;
        Box::pin(async move {
            let (actor_ref, _join) = Actor::spawn_linked(
                None,
                Supervised::new(actor),
                SupervisedArgs::new(args, guard),
                supervisor,
            )
            .await?;
            let cell = actor_ref.get_cell();
            probe.set_cell(cell.clone());
            this.point_to(probe.clone());
            Ok(Started {
                cell,
                probe: Some(probe),
            })
        })
    }

    fn exited(&self, id: ActorId) {
        self.clear_if(id);
    }
}

/// A nested supervisor child's spec factory (the tail of its address's allocation).
struct SupervisorFactory<F>(F);

impl<F> Start for AddrInner<SupervisorMsg, SupervisorFactory<F>>
where
    F: Fn() -> SupervisorSpec + Send + Sync + 'static,
{
    fn start(
        self: Arc<Self>,
        start: &StartArgs<'_>,
    ) -> BoxFuture<'static, Result<Started, SpawnErr>> {
        let spec = (self.tail.0)();
        let this = self;
        let (runtime, supervisor) = (start.runtime.clone(), start.supervisor.clone());
        Box::pin(async move {
            let (actor_ref, _join) = Actor::spawn_linked(
                None,
                Supervisor,
                SupervisorArgs { spec, runtime },
                supervisor,
            )
            .await?;
            let cell = actor_ref.get_cell();
            this.point_to(Probe::unlisted(cell.clone()));
            Ok(Started { cell, probe: None })
        })
    }

    fn exited(&self, id: ActorId) {
        self.clear_if(id);
    }
}

/// A custom start function's [`Start`] (no stable address to clear).
struct CustomStart<F>(F);

impl<F> Start for CustomStart<F>
where
    F: Fn(StartCtx) -> BoxFuture<'static, Result<Started, SpawnErr>> + Send + Sync + 'static,
{
    fn start(
        self: Arc<Self>,
        start: &StartArgs<'_>,
    ) -> BoxFuture<'static, Result<Started, SpawnErr>> {
        (self.0)(start.to_ctx())
    }
}

impl std::fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .field("frozen_after", &self.frozen_after)
            .finish()
    }
}

impl ChildSpec {
    /// A supervised actor child. `factory` builds the actor and its arguments for every
    /// incarnation (first start and each restart). Returns the spec and a stable address
    /// that follows the child across restarts.
    pub fn actor<A, F>(id: &str, kind: &str, factory: F) -> (Self, Addr<A::Msg>)
    where
        A: Actor,
        F: Fn() -> (A, A::Arguments) + Send + Sync + 'static,
    {
        let id: Arc<str> = Arc::from(id);
        let (start, addr) = Addr::with_tail(
            id.clone(),
            ActorFactory {
                factory,
                _actor: PhantomData,
            },
        );
        (
            Self {
                id,
                kind: intern_kind(kind),
                restart: Restart::Permanent,
                shutdown: Shutdown::default(),
                frozen_after: None,
                register: true,
                shard: None,
                start,
            },
            addr,
        )
    }

    /// A nested supervisor child; `spec` is called for every incarnation.
    pub fn supervisor<F>(id: &str, spec: F) -> (Self, Addr<SupervisorMsg>)
    where
        F: Fn() -> SupervisorSpec + Send + Sync + 'static,
    {
        let id: Arc<str> = Arc::from(id);
        let (start, addr) = Addr::with_tail(id.clone(), SupervisorFactory(spec));
        (
            Self {
                id,
                kind: intern_kind("supervisor"),
                restart: Restart::Permanent,
                // A supervisor needs time to stop its own subtree in order.
                shutdown: Shutdown::Timeout(Duration::from_secs(60)),
                frozen_after: None,
                register: true,
                shard: None,
                start,
            },
            addr,
        )
    }

    /// An async task child (an accept loop, a server, a ticker): `body` builds each
    /// incarnation's task from its stop signal. The task ending with `Err` or a panic
    /// fails the child (its supervisor restarts it per the restart type, intensity and
    /// backoff); ending with `Ok` is a normal exit. Stopping the child signals the task,
    /// waits for it up to the shutdown timeout and then aborts it; killing the child
    /// aborts it at once.
    pub fn task<F, Fut>(id: &str, kind: &str, body: F) -> Self
    where
        F: Fn(TaskStop) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        let factory = super::task::factory(body);
        Self::actor(id, kind, move || (super::task::TaskActor, factory.clone())).0
    }

    /// A child started by a custom function (for actors that need more than a factory).
    /// `start` must spawn the actor linked to `ctx.supervisor`.
    pub fn custom<F>(id: &str, kind: &str, start: F) -> Self
    where
        F: Fn(StartCtx) -> BoxFuture<'static, Result<Started, SpawnErr>> + Send + Sync + 'static,
    {
        Self {
            id: Arc::from(id),
            kind: intern_kind(kind),
            restart: Restart::Permanent,
            shutdown: Shutdown::default(),
            frozen_after: None,
            register: true,
            shard: None,
            start: Arc::new(CustomStart(start)),
        }
    }

    /// Sets the restart type.
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// Sets how the child is stopped.
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// Enables frozen-actor detection with this deadline per message.
    pub fn frozen_after(mut self, deadline: Duration) -> Self {
        self.frozen_after = Some(deadline);
        self
    }

    /// Keeps the child out of the registry.
    pub fn unregistered(mut self) -> Self {
        self.register = false;
        self
    }

    /// Places the child (and its labels and registry key) in `shard`.
    pub fn in_shard(mut self, shard: impl Into<ShardKey>) -> Self {
        self.shard = Some(shard.into());
        self
    }

    /// The shard of this child under a supervisor of `shard`.
    pub fn shard_or<'a>(&'a self, shard: &'a ShardKey) -> &'a ShardKey {
        self.shard.as_ref().unwrap_or(shard)
    }

    /// The registry key of this child under a supervisor of `shard`.
    pub fn key(&self, shard: &ShardKey) -> ActorKey {
        // Shares the spec's strings: a registry entry adds no allocation of its own.
        ActorKey {
            shard: self.shard_or(shard).clone(),
            kind: self.kind.clone(),
            id: self.id.clone(),
        }
    }
}

/// A supervisor's whole configuration: name, shard, strategy, limits and ordered children.
#[derive(Debug, Clone)]
pub struct SupervisorSpec {
    /// Name, for logs.
    pub name: String,
    /// The shard this subtree belongs to; used for labels and registry keys.
    pub shard: ShardKey,
    /// Restart strategy.
    pub strategy: Strategy,
    /// Restart intensity.
    pub intensity: Intensity,
    /// Restart backoff.
    pub backoff: Backoff,
    /// Seed for the backoff jitter, so runs are reproducible.
    pub seed: u64,
    /// Children in start order.
    pub children: Vec<ChildSpec>,
}

impl SupervisorSpec {
    /// A one-for-one supervisor with default limits and no children.
    pub fn new(name: &str, shard: impl Into<ShardKey>) -> Self {
        Self {
            name: name.to_string(),
            shard: shard.into(),
            strategy: Strategy::OneForOne,
            intensity: Intensity::default(),
            backoff: Backoff::default(),
            seed: 0x05ea_a7c4,
            children: Vec::new(),
        }
    }

    /// Sets the strategy.
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Sets the restart intensity.
    pub fn intensity(mut self, max_restarts: u32, within: Duration) -> Self {
        self.intensity = Intensity {
            max_restarts,
            within,
        };
        self
    }

    /// Sets the backoff.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets the jitter seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Appends a child.
    pub fn child(mut self, child: ChildSpec) -> Self {
        self.children.push(child);
        self
    }

    /// Checks that child ids are unique.
    pub fn validate(&self) -> crate::Result<()> {
        let mut seen = std::collections::HashSet::new();
        for c in &self.children {
            if !seen.insert(c.id.clone()) {
                return Err(crate::RuntimeError::DuplicateChild(c.id.to_string()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_immediate_first_then_exponential_and_capped() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            multiplier: 2.0,
            jitter: 0.0,
            reset_after: Duration::from_secs(10),
        };
        assert_eq!(b.delay(0, 0.0), Duration::ZERO);
        assert_eq!(b.delay(1, 0.0), Duration::from_millis(100));
        assert_eq!(b.delay(2, 0.0), Duration::from_millis(200));
        assert_eq!(b.delay(3, 0.0), Duration::from_millis(400));
        assert_eq!(b.delay(5, 0.0), Duration::from_secs(1), "capped");
        assert_eq!(b.delay(60, 0.0), Duration::from_secs(1), "no overflow");
    }

    #[test]
    fn backoff_jitter_stays_in_band() {
        let b = Backoff {
            jitter: 0.2,
            ..Backoff::default()
        };
        let lo = b.delay(2, -1.0);
        let hi = b.delay(2, 1.0);
        assert_eq!(lo, Duration::from_millis(160));
        assert_eq!(hi, Duration::from_millis(240));
    }
}
