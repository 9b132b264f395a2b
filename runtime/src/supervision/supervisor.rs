//! The supervisor actor.

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;

use hashbrown::HashTable;
use ractor::concurrency::JoinHandle;
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use super::children::Children;
use super::spec::{
    Backoff, ChildSpec, Intensity, Restart, Shutdown, Start, StartArgs, Strategy, SupervisorSpec,
};
use crate::error::RuntimeError;
use crate::metrics::{KindStats, Probe};
use crate::runtime::Runtime;
use crate::sharding::{ActorKey, ShardKey};
use crate::FastHash;

const HISTORY_LEN: usize = 4096;

/// Messages a supervisor understands.
pub enum SupervisorMsg {
    /// Starts and adds a dynamic child (appended last in start order).
    AddChild(ChildSpec, RpcReplyPort<Result<(), RuntimeError>>),
    /// Starts and adds many dynamic children in one message: the ids are checked first
    /// (none may repeat an existing child's or another in the batch), then the children
    /// are started in order and appended in that order. All or nothing: a duplicate id
    /// fails the batch before anything starts, and a start failure stops (last started
    /// first) and removes the children of the batch already started, then answers with
    /// that failure; children added before the batch are untouched.
    AddChildren(Vec<ChildSpec>, RpcReplyPort<Result<(), RuntimeError>>),
    /// Stops (per its shutdown policy) and removes a child.
    RemoveChild(String, RpcReplyPort<Result<(), RuntimeError>>),
    /// Lists the children in start order.
    Children(RpcReplyPort<Vec<ChildInfo>>),
    /// The supervisor's recent starts, exits and give-ups (oldest first).
    History(RpcReplyPort<Vec<ExitRecord>>),
    /// Internal: a restart delayed by backoff is due.
    RestartDue,
    /// Internal: time to look for frozen children.
    CheckFrozen,
}

/// A child as its supervisor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildInfo {
    /// Child id.
    pub id: String,
    /// Child kind.
    pub kind: String,
    /// Whether an incarnation is running now.
    pub running: bool,
    /// Restarts of this child so far.
    pub restarts: u64,
    /// The running incarnation's ractor id.
    pub actor_id: Option<ActorId>,
}

/// One entry of a supervisor's history, for tests and the admin console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitRecord {
    /// A child incarnation started.
    Started(Arc<str>),
    /// A child incarnation exited; `failed` is false for a normal stop.
    Exited {
        /// Child id.
        id: Arc<str>,
        /// Whether it failed (panic, error, killed as frozen).
        failed: bool,
    },
    /// A child was stopped by the supervisor (strategy, removal or shutdown).
    Stopped(Arc<str>),
    /// A child was found frozen and killed.
    Frozen(Arc<str>),
    /// Restart intensity was exceeded: the supervisor stopped its children and failed.
    GaveUp,
}

/// Start arguments of a [`Supervisor`].
pub struct SupervisorArgs {
    /// What to supervise.
    pub spec: SupervisorSpec,
    /// Shared services.
    pub runtime: Runtime,
}

/// The supervisor actor; see the module docs of `supervision`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Supervisor;

/// What the children of one kind under a supervisor share: kind, resolved shard, restart
/// type, shutdown, frozen deadline and registration.
#[derive(Clone, PartialEq, Eq, Hash)]
struct PolicyKey {
    kind: Arc<str>,
    shard: ShardKey,
    restart: Restart,
    shutdown: Shutdown,
    frozen_after: Option<Duration>,
    register: bool,
}

/// A [`PolicyKey`] with its kind's statistics, interned per supervisor: a child's record
/// holds one pointer to it instead of its own copy of each, and starts and restarts find
/// the kind's statistics without a lookup.
struct Policy {
    key: PolicyKey,
    stats: Arc<KindStats>,
}

impl std::ops::Deref for Policy {
    type Target = PolicyKey;
    fn deref(&self) -> &PolicyKey {
        &self.key
    }
}

impl PolicyKey {
    /// The registry key of child `id` under this policy (shares the strings).
    fn key(&self, id: &Arc<str>) -> ActorKey {
        ActorKey {
            shard: self.shard.clone(),
            kind: self.kind.clone(),
            id: id.clone(),
        }
    }
}

/// A child's record (its id is its key in the supervisor's map): 48 bytes.
struct Child {
    policy: Arc<Policy>,
    start: Arc<dyn Start>,
    running: Option<ActorCell>,
    /// Restart and frozen-watch bookkeeping, allocated the first time a child needs it
    /// (most children of a large supervisor never restart and are not watched).
    more: Option<Box<ChildRestart>>,
    restarts: u32,
    /// Permanent, exited, and waiting for its restart (counted in the runtime's
    /// `children_down`).
    down: bool,
}

/// The part of a child's record that only restarts and frozen detection use.
#[derive(Default)]
struct ChildRestart {
    consecutive: u32,
    last_restart: Option<Instant>,
    due: Option<Instant>,
    watch: Option<(u64, Instant)>,
    frozen_killed: bool,
    /// The running incarnation's probe, kept only for a child with a frozen deadline.
    probe: Option<Arc<Probe>>,
}

impl Child {
    fn new(policy: Arc<Policy>, start: Arc<dyn Start>) -> Self {
        Self {
            policy,
            start,
            running: None,
            more: None,
            restarts: 0,
            down: false,
        }
    }

    /// When its pending restart is due, if one is.
    fn due(&self) -> Option<Instant> {
        self.more.as_ref().and_then(|m| m.due)
    }

    fn more_mut(&mut self) -> &mut ChildRestart {
        self.more.get_or_insert_with(Default::default)
    }
}

/// State of a [`Supervisor`].
pub struct SupervisorState {
    name: String,
    shard: ShardKey,
    strategy: Strategy,
    intensity: Intensity,
    backoff: Backoff,
    children: Children<Child>,
    /// The running children, as indices into `children`, found by their incarnation's
    /// `ActorId` (4 bytes a child; hashed with `hasher`).
    by_actor: HashTable<u32>,
    hasher: FastHash,
    policies: std::collections::HashMap<PolicyKey, Arc<Policy>, FastHash>,
    restart_times: VecDeque<Instant>,
    rng: SmallRng,
    runtime: Runtime,
    frozen_timer: Option<JoinHandle<()>>,
    frozen_period: Option<Duration>,
    history: VecDeque<ExitRecord>,
}

impl Drop for SupervisorState {
    fn drop(&mut self) {
        // Safety net for a supervisor that was killed (no post_stop): never leave orphans,
        // nor registry entries and addresses pointing at them. `forget` only removes what
        // still points at these incarnations, so a newer incarnation started meanwhile by
        // a restarted supervisor is left alone.
        for idx in (0..self.children.len()).rev() {
            if let Some(cell) = self.children[idx].running.take() {
                cell.kill();
                self.forget(idx, &cell);
            }
        }
        if let Some(t) = self.frozen_timer.take() {
            t.abort();
        }
        for idx in 0..self.children.len() {
            self.mark_down(idx, false);
        }
    }
}

impl SupervisorState {
    /// Keeps the runtime's count of permanent children down (exited, restart pending)
    /// in step with child `idx`.
    fn mark_down(&mut self, idx: usize, down: bool) {
        let child = &mut self.children[idx];
        if child.down == down || (down && child.policy.restart != Restart::Permanent) {
            return;
        }
        child.down = down;
        let delta = if down { 1 } else { -1 };
        self.runtime
            .down_counter()
            .fetch_add(delta, std::sync::atomic::Ordering::AcqRel);
    }

    fn log(&mut self, rec: ExitRecord) {
        if self.history.len() == HISTORY_LEN {
            self.history.pop_front();
        }
        self.history.push_back(rec);
    }

    /// The interned policy of `spec` under this supervisor.
    fn policy(&mut self, spec: &ChildSpec) -> Arc<Policy> {
        let key = PolicyKey {
            kind: spec.kind.clone(),
            shard: spec.shard_or(&self.shard).clone(),
            restart: spec.restart,
            shutdown: spec.shutdown,
            frozen_after: spec.frozen_after,
            register: spec.register,
        };
        if let Some(p) = self.policies.get(&key) {
            return p.clone();
        }
        let stats = self
            .runtime
            .metrics()
            .actors()
            .kind_of(&key.kind, &key.shard);
        let p = Arc::new(Policy {
            key: key.clone(),
            stats,
        });
        self.policies.insert(key, p.clone());
        p
    }

    /// A child record for `spec`.
    fn record(&mut self, spec: ChildSpec) -> (Arc<str>, Child) {
        let policy = self.policy(&spec);
        (spec.id, Child::new(policy, spec.start))
    }

    /// Child `idx`'s id.
    fn id(&self, idx: usize) -> &Arc<str> {
        self.children.get_index(idx).expect("child index").0
    }

    /// Finds the running child whose incarnation is `id`.
    fn find(&self, id: ActorId) -> Option<usize> {
        let children = &self.children;
        self.by_actor
            .find(self.hasher.hash_one(id), |&i| {
                children[i as usize]
                    .running
                    .as_ref()
                    .is_some_and(|c| c.get_id() == id)
            })
            .map(|&i| i as usize)
    }

    /// Indexes running child `idx` by its incarnation's id.
    fn track(&mut self, idx: usize, id: ActorId) {
        let (children, hasher) = (&self.children, &self.hasher);
        self.by_actor
            .insert_unique(hasher.hash_one(id), idx as u32, |&i| {
                let cell = children[i as usize].running.as_ref();
                hasher.hash_one(cell.expect("indexed children run").get_id())
            });
    }

    /// Drops child `idx`'s index entry (its incarnation `id` is gone).
    fn untrack(&mut self, idx: usize, id: ActorId) {
        if let Ok(entry) = self
            .by_actor
            .find_entry(self.hasher.hash_one(id), |&i| i as usize == idx)
        {
            entry.remove();
        }
    }

    /// Removes child `idx` (not running) from the children, keeping the index in step.
    fn remove_at(&mut self, idx: usize) {
        self.children.shift_remove_index(idx);
        for i in self.by_actor.iter_mut() {
            if *i as usize > idx {
                *i -= 1;
            }
        }
    }

    /// Starts child `idx`; on success it is running and registered.
    async fn start_child(&mut self, myself: &ActorCell, idx: usize) -> Result<(), RuntimeError> {
        let (id, child) = self.children.get_index(idx).expect("child index");
        let (id, policy, start) = (id.clone(), child.policy.clone(), child.start.clone());
        let starting = start.start(&StartArgs {
            supervisor: myself,
            runtime: &self.runtime,
            shard: &policy.shard,
            id: &id,
            kind: &policy.kind,
            stats: &policy.stats,
        });
        match starting.await {
            Ok(started) => {
                if policy.register {
                    self.runtime
                        .registry()
                        .register(policy.key(&id), started.cell.clone());
                }
                let actor_id = started.cell.get_id();
                let child = &mut self.children[idx];
                child.running = Some(started.cell);
                if policy.frozen_after.is_some() {
                    child.more_mut().probe = started.probe;
                }
                if let Some(m) = child.more.as_mut() {
                    m.due = None;
                    m.watch = None;
                    m.frozen_killed = false;
                }
                self.track(idx, actor_id);
                self.mark_down(idx, false);
                self.log(ExitRecord::Started(id.clone()));
                Ok(())
            }
            Err(e) => Err(RuntimeError::StartFailed {
                child: id.to_string(),
                reason: e.to_string(),
            }),
        }
    }

    /// Forgets a gone incarnation: registry and address no longer point at it.
    fn forget(&mut self, idx: usize, cell: &ActorCell) {
        let actor_id = cell.get_id();
        self.untrack(idx, actor_id);
        let (id, child) = self.children.get_index_mut(idx).expect("child index");
        if child.policy.register {
            self.runtime
                .registry()
                .unregister_if(&child.policy.key(id), actor_id);
        }
        child.start.exited(actor_id);
        if let Some(m) = child.more.as_mut() {
            m.watch = None;
            m.probe = None;
        }
    }

    /// Stops child `idx` per its shutdown policy, if running.
    async fn stop_child(&mut self, idx: usize) {
        let Some(cell) = self.children[idx].running.take() else {
            return;
        };
        shutdown(&cell, self.children[idx].policy.shutdown).await;
        self.forget(idx, &cell);
        let id = self.id(idx).clone();
        self.log(ExitRecord::Stopped(id));
    }

    /// Stops every running child, last started first.
    async fn stop_all(&mut self) {
        for idx in (0..self.children.len()).rev() {
            self.stop_child(idx).await;
        }
    }

    /// Records a restart; true when that exceeds the restart intensity.
    fn restart_exceeds_intensity(&mut self) -> bool {
        let now = Instant::now();
        self.restart_times.push_back(now);
        while let Some(front) = self.restart_times.front() {
            if now.duration_since(*front) > self.intensity.within {
                self.restart_times.pop_front();
            } else {
                break;
            }
        }
        self.restart_times.len() > self.intensity.max_restarts as usize
    }

    /// The backoff delay for another restart of child `idx`, advancing its counter.
    fn next_delay(&mut self, idx: usize) -> Duration {
        let now = Instant::now();
        let backoff = self.backoff;
        let child = self.children[idx].more_mut();
        if let Some(last) = child.last_restart {
            if now.duration_since(last) >= backoff.reset_after {
                child.consecutive = 0;
            }
        }
        let unit: f64 = self.rng.random_range(-1.0..=1.0);
        let delay = backoff.delay(child.consecutive, unit);
        child.consecutive = child.consecutive.saturating_add(1);
        child.last_restart = Some(now);
        delay
    }

    async fn give_up(&mut self) -> ActorProcessingErr {
        tracing::error!(
            supervisor = %self.name,
            shard = %self.shard,
            max_restarts = self.intensity.max_restarts,
            within_ms = self.intensity.within.as_millis() as u64,
            "restart intensity exceeded; stopping children and escalating"
        );
        self.stop_all().await;
        self.log(ExitRecord::GaveUp);
        format!(
            "supervisor `{}`: more than {} restarts within {:?}",
            self.name, self.intensity.max_restarts, self.intensity.within
        )
        .into()
    }

    fn ensure_frozen_timer(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        shortest: Option<Duration>,
    ) {
        let Some(deadline) = shortest else { return };
        let period = (deadline / 4).max(Duration::from_millis(10));
        if self.frozen_period.is_some_and(|p| p <= period) {
            return;
        }
        if let Some(t) = self.frozen_timer.take() {
            t.abort();
        }
        self.frozen_period = Some(period);
        self.frozen_timer = Some(myself.send_interval(period, || SupervisorMsg::CheckFrozen));
    }

    /// Starts, in order, every child whose restart is due. A start failure counts as a
    /// restart (intensity) and is retried after backoff.
    async fn start_due(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
    ) -> Result<(), ActorProcessingErr> {
        let now = Instant::now();
        let mut retry_in: Option<Duration> = None;
        for idx in 0..self.children.len() {
            let child = &self.children[idx];
            if child.running.is_some() || child.due().is_none_or(|d| d > now) {
                continue;
            }
            if let Err(e) = self.start_child(&myself.get_cell(), idx).await {
                tracing::warn!(supervisor = %self.name, error = %e, "restart failed");
                if self.restart_exceeds_intensity() {
                    return Err(self.give_up().await);
                }
                let delay = self.next_delay(idx).max(Duration::from_millis(1));
                self.children[idx].more_mut().due = Some(now + delay);
                retry_in = Some(retry_in.map_or(delay, |r| r.min(delay)));
            }
        }
        if let Some(delay) = retry_in {
            myself.send_after(delay, || SupervisorMsg::RestartDue);
        }
        Ok(())
    }

    async fn on_exit(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        id: ActorId,
        failed: bool,
        reason: &str,
    ) -> Result<(), ActorProcessingErr> {
        let Some(idx) = self.find(id) else {
            return Ok(()); // an incarnation we stopped ourselves
        };
        let cell = self.children[idx]
            .running
            .take()
            .expect("found running above");
        self.forget(idx, &cell);
        let frozen_killed = self.children[idx]
            .more
            .as_mut()
            .is_some_and(|m| std::mem::take(&mut m.frozen_killed));
        let failed = failed || frozen_killed;
        let child_id = self.id(idx).clone();
        self.log(ExitRecord::Exited {
            id: child_id.clone(),
            failed,
        });
        let restart = match self.children[idx].policy.restart {
            Restart::Permanent => true,
            Restart::Transient => failed,
            Restart::Temporary => false,
        };
        if failed {
            tracing::warn!(supervisor = %self.name, child = %child_id, reason, restart, "child failed");
        } else {
            tracing::debug!(supervisor = %self.name, child = %child_id, reason, restart, "child exited");
        }
        if !restart {
            self.remove_at(idx);
            return Ok(());
        }
        if self.restart_exceeds_intensity() {
            return Err(self.give_up().await);
        }
        let group: Vec<usize> = match self.strategy {
            Strategy::OneForOne => vec![idx],
            Strategy::OneForAll => (0..self.children.len()).collect(),
            Strategy::RestForOne => (idx..self.children.len()).collect(),
        };
        for &j in group.iter().rev() {
            if j != idx {
                self.stop_child(j).await;
            }
        }
        let delay = self.next_delay(idx);
        let due = Instant::now() + delay;
        let mut temporaries = Vec::new();
        for &j in &group {
            let child = &mut self.children[j];
            if j != idx && child.policy.restart == Restart::Temporary {
                temporaries.push(j);
                continue;
            }
            // A sibling still waiting (backoff) for a restart scheduled by an earlier exit
            // is rescheduled with the group, but that is still the same single restart.
            let already_pending = child.due().is_some();
            child.more_mut().due = Some(due);
            self.mark_down(j, true);
            let child = &mut self.children[j];
            if already_pending {
                continue;
            }
            child.restarts = child.restarts.saturating_add(1);
            child.policy.stats.record_restart();
        }
        for j in temporaries.into_iter().rev() {
            self.remove_at(j);
        }
        if delay.is_zero() {
            self.start_due(myself).await
        } else {
            myself.send_after(delay, || SupervisorMsg::RestartDue);
            Ok(())
        }
    }

    fn check_frozen(&mut self) {
        let now = Instant::now();
        let mut frozen = Vec::new();
        for (id, child) in self.children.iter_mut() {
            let (Some(deadline), Some(cell)) = (child.policy.frozen_after, &child.running) else {
                continue;
            };
            let Some(more) = child.more.as_mut() else {
                continue;
            };
            let Some(progress) = more.probe.as_ref().map(|p| p.progress()) else {
                continue;
            };
            let busy = progress % 2 == 1;
            match more.watch {
                Some((seen, since)) if seen == progress && busy => {
                    if !more.frozen_killed && now.duration_since(since) >= deadline {
                        more.frozen_killed = true;
                        cell.kill();
                        let policy = &child.policy;
                        policy.stats.record_frozen();
                        frozen.push(id.clone());
                    }
                }
                _ => more.watch = Some((progress, now)),
            }
        }
        for id in frozen {
            tracing::warn!(supervisor = %self.name, child = %id, "actor frozen past its deadline; killing it for restart");
            self.log(ExitRecord::Frozen(id));
        }
    }

    /// The batch behind [`SupervisorMsg::AddChildren`].
    async fn add_children(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        specs: Vec<ChildSpec>,
    ) -> Result<(), RuntimeError> {
        let first = self.children.len();
        let deadline = specs.iter().filter_map(|c| c.frozen_after).min();
        self.children.reserve(specs.len());
        // The ids are checked by entering the whole batch (not started) first: a repeat of
        // an existing child's id or of an earlier one in the batch finds its key taken.
        for spec in specs {
            let (id, child) = self.record(spec);
            if let Err(id) = self.children.insert_new(id, child) {
                // The batch's own entries are all after `first` and none has started.
                self.children.truncate(first);
                return Err(RuntimeError::DuplicateChild(id.to_string()));
            }
        }
        let cell = myself.get_cell();
        for idx in first..self.children.len() {
            if let Err(e) = self.start_child(&cell, idx).await {
                for j in (first..idx).rev() {
                    self.stop_child(j).await;
                }
                self.children.truncate(first);
                return Err(e);
            }
        }
        self.ensure_frozen_timer(myself, deadline);
        Ok(())
    }

    fn infos(&self) -> Vec<ChildInfo> {
        self.children
            .iter()
            .map(|(id, c)| ChildInfo {
                id: id.to_string(),
                kind: c.policy.kind.to_string(),
                running: c.running.is_some(),
                restarts: u64::from(c.restarts),
                actor_id: c.running.as_ref().map(|r| r.get_id()),
            })
            .collect()
    }
}

/// Stops `cell` per `how`: a graceful stop with a timeout, then a kill.
async fn shutdown(cell: &ActorCell, how: Shutdown) {
    match how {
        Shutdown::Timeout(timeout) => {
            if cell
                .stop_and_wait(Some("shutdown".to_string()), Some(timeout))
                .await
                .is_err()
            {
                let _ = cell.kill_and_wait(Some(timeout)).await;
            }
        }
        Shutdown::Brutal => {
            let _ = cell.kill_and_wait(Some(Duration::from_secs(5))).await;
        }
    }
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SupervisorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        args.spec.validate()?;
        let mut spec = args.spec;
        let specs = std::mem::take(&mut spec.children);
        let mut state = SupervisorState {
            name: spec.name,
            shard: spec.shard,
            strategy: spec.strategy,
            intensity: spec.intensity,
            backoff: spec.backoff,
            children: Children::with_capacity(specs.len()),
            by_actor: HashTable::new(),
            hasher: FastHash::default(),
            policies: Default::default(),
            restart_times: VecDeque::new(),
            rng: SmallRng::seed_from_u64(spec.seed),
            runtime: args.runtime,
            frozen_timer: None,
            frozen_period: None,
            history: VecDeque::new(),
        };
        for spec in specs {
            let (id, child) = state.record(spec);
            // `validate` refused repeated ids
            let _ = state.children.insert_new(id, child);
        }
        let cell = myself.get_cell();
        for idx in 0..state.children.len() {
            if let Err(e) = state.start_child(&cell, idx).await {
                state.stop_all().await;
                return Err(e.into());
            }
        }
        let shortest = state
            .children
            .values()
            .filter_map(|c| c.policy.frozen_after)
            .min();
        state.ensure_frozen_timer(&myself, shortest);
        Ok(state)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.stop_all().await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::AddChild(spec, reply) => {
                if state.children.contains_key(&spec.id) {
                    let _ = reply.send(Err(RuntimeError::DuplicateChild(spec.id.to_string())));
                    return Ok(());
                }
                let deadline = spec.frozen_after;
                let (id, child) = state.record(spec);
                let _ = state.children.insert_new(id, child);
                let idx = state.children.len() - 1;
                let result = state.start_child(&myself.get_cell(), idx).await;
                if result.is_err() {
                    state.children.truncate(idx);
                } else {
                    state.ensure_frozen_timer(&myself, deadline);
                }
                let _ = reply.send(result);
            }
            SupervisorMsg::AddChildren(specs, reply) => {
                let _ = reply.send(state.add_children(&myself, specs).await);
            }
            SupervisorMsg::RemoveChild(id, reply) => {
                match state.children.get_index_of(id.as_str()) {
                    Some(idx) => {
                        state.stop_child(idx).await;
                        state.mark_down(idx, false);
                        state.remove_at(idx);
                        let _ = reply.send(Ok(()));
                    }
                    None => {
                        let _ = reply.send(Err(RuntimeError::NoSuchChild(id)));
                    }
                }
            }
            SupervisorMsg::Children(reply) => {
                let _ = reply.send(state.infos());
            }
            SupervisorMsg::History(reply) => {
                let _ = reply.send(state.history.iter().cloned().collect());
            }
            SupervisorMsg::RestartDue => state.start_due(&myself).await?,
            SupervisorMsg::CheckFrozen => state.check_frozen(),
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Exits are rare and their handling is a large future (restarts, stops): boxed, so
        // this future stays small for the one `ActorStarted` event every child sends,
        // which ractor moves through its loop like any message.
        match event {
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                let reason = reason.unwrap_or_default();
                // A kill is not a normal exit: only our own frozen-kill or shutdown kills
                // are expected, and shutdown kills are of children no longer tracked.
                let failed = reason == "killed";
                Box::pin(state.on_exit(&myself, cell.get_id(), failed, &reason)).await
            }
            SupervisionEvent::ActorFailed(cell, err) => {
                let reason = err.to_string();
                Box::pin(state.on_exit(&myself, cell.get_id(), true, &reason)).await
            }
            _ => Ok(()),
        }
    }
}

/// A handle to a running supervisor with request helpers that always use a timeout.
#[derive(Clone, Debug)]
pub struct SupervisorHandle {
    actor: ActorRef<SupervisorMsg>,
    timeout: Duration,
}

impl SupervisorHandle {
    /// Wraps a supervisor reference; requests wait at most `timeout`.
    pub fn new(actor: ActorRef<SupervisorMsg>, timeout: Duration) -> Self {
        Self { actor, timeout }
    }

    /// The supervisor's actor reference.
    pub fn actor(&self) -> &ActorRef<SupervisorMsg> {
        &self.actor
    }

    async fn ask<R: Send + 'static>(
        &self,
        build: impl FnOnce(RpcReplyPort<R>) -> SupervisorMsg,
    ) -> Result<R, RuntimeError> {
        match self.actor.call(build, Some(self.timeout)).await {
            Ok(ractor::rpc::CallResult::Success(r)) => Ok(r),
            Ok(ractor::rpc::CallResult::Timeout) => {
                Err(RuntimeError::Timeout("supervisor reply".to_string()))
            }
            _ => Err(RuntimeError::NotRunning("supervisor".to_string())),
        }
    }

    /// Adds and starts a dynamic child.
    pub async fn add_child(&self, spec: ChildSpec) -> Result<(), RuntimeError> {
        self.ask(|r| SupervisorMsg::AddChild(spec, r)).await?
    }

    /// Adds and starts many dynamic children with one message (see
    /// [`SupervisorMsg::AddChildren`]: ids checked first, started in order, all or nothing).
    pub async fn add_children(&self, specs: Vec<ChildSpec>) -> Result<(), RuntimeError> {
        self.ask(|r| SupervisorMsg::AddChildren(specs, r)).await?
    }

    /// Stops and removes a child.
    pub async fn remove_child(&self, id: &str) -> Result<(), RuntimeError> {
        let id = id.to_string();
        self.ask(|r| SupervisorMsg::RemoveChild(id, r)).await?
    }

    /// The children, in start order.
    pub async fn children(&self) -> Result<Vec<ChildInfo>, RuntimeError> {
        self.ask(SupervisorMsg::Children).await
    }

    /// The supervisor's history.
    pub async fn history(&self) -> Result<Vec<ExitRecord>, RuntimeError> {
        self.ask(SupervisorMsg::History).await
    }

    /// Stops the whole tree in order and waits for it.
    pub async fn shutdown(&self) {
        let _ = self
            .actor
            .stop_and_wait(Some("shutdown".to_string()), Some(Duration::from_secs(120)))
            .await;
    }
}

/// Starts a root supervisor (no parent) for `spec`.
pub async fn start_root(
    spec: SupervisorSpec,
    runtime: Runtime,
) -> Result<(SupervisorHandle, JoinHandle<()>), RuntimeError> {
    let name = spec.name.clone();
    let (actor, join) = Actor::spawn(None, Supervisor, SupervisorArgs { spec, runtime })
        .await
        .map_err(|e| RuntimeError::StartFailed {
            child: name,
            reason: e.to_string(),
        })?;
    Ok((SupervisorHandle::new(actor, Duration::from_secs(30)), join))
}
