//! `seawatch bench actors` (contracts §5): the runtime's supervised actors against bare
//! ractor actors. The criterion benches in `runtime/benches/actors.rs` include this file.
//!
//! Every figure is measured against bare ractor in the same run, on the same machine:
//! throughput interleaved round by round, so the ratio is meaningful on a noisy host;
//! idle memory with both populations alive at once (bare first), so neither reuses
//! memory the other freed; spawn rate over the same number of actors.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;

use seawatch_runtime::supervision::{start_root, Addr, Backoff, ChildSpec, SupervisorSpec};
use seawatch_runtime::{Clock, Runtime, ShardKey};

/// The `bench actors` report (contracts §5).
#[derive(Debug, Clone, Serialize)]
pub struct ActorsReport {
    /// Messages per second through a runtime-supervised actor (median of rounds).
    pub msgs_per_s: f64,
    /// Messages per second through a bare ractor actor (median of rounds).
    pub bare_ractor_msgs_per_s: f64,
    /// `msgs_per_s / bare_ractor_msgs_per_s`.
    pub ratio: f64,
    /// Resident memory growth per idle supervised actor, bytes.
    pub idle_actor_bytes: f64,
    /// Resident memory growth per idle bare ractor actor, bytes (for comparison).
    pub bare_idle_actor_bytes: f64,
    /// Supervised actors spawned per second: dynamic children added with `AddChildren` in
    /// batches of `spawn_batch` (an inventory load), building their specs included.
    pub spawn_per_s: f64,
    /// Bare ractor actors spawned per second (`Actor::spawn`, one at a time).
    pub bare_spawn_per_s: f64,
    /// `spawn_per_s / bare_spawn_per_s`.
    pub spawn_ratio: f64,
    /// Supervised actors spawned per second with one `AddChild` request each.
    pub single_spawn_per_s: f64,
    /// Supervised actors spawned per second through `AddChildren` on a warm heap (memory
    /// the process already touched, so no page is provisioned by the kernel during the
    /// timing): median of `warm_rounds`, alternating with the bare side.
    pub warm_spawn_per_s: f64,
    /// Bare ractor actors spawned per second on a warm heap (median of `warm_rounds`).
    pub warm_bare_spawn_per_s: f64,
    /// `warm_spawn_per_s / warm_bare_spawn_per_s`: the runtime's own spawn cost. The
    /// cold `spawn_ratio` is dominated by the kernel zeroing fresh (huge) pages, which
    /// swings with the host (decision 0040).
    pub warm_spawn_ratio: f64,
    /// Bare ractor actors spawned per second on a warm heap, each linked to one bare
    /// parent that handles their `ActorStarted` events (median of `warm_rounds`):
    /// ractor's own cost of a supervised spawn, before anything of the runtime.
    pub warm_linked_spawn_per_s: f64,
    /// `warm_linked_spawn_per_s / warm_bare_spawn_per_s`: the ceiling of
    /// `warm_spawn_ratio` while children are linked through ractor (decision 0084).
    pub warm_linked_spawn_ratio: f64,
    /// Actors per warm spawn round and side.
    pub warm_spawn_actors: usize,
    /// Warm spawn rounds per side.
    pub warm_rounds: usize,
    /// Children per `AddChildren` message in `spawn_per_s`.
    pub spawn_batch: usize,
    /// Median restart latency: panic to the replacement's `pre_start` done, µs.
    pub restart_p50_us: f64,
    /// 99th percentile restart latency, µs.
    pub restart_p99_us: f64,
    /// Actors used for the idle-memory figure.
    pub idle_actors: usize,
    /// Messages per throughput round.
    pub msgs_per_round: u64,
    /// Throughput rounds per side.
    pub rounds: usize,
    /// Restarts measured.
    pub restarts_measured: usize,
}

/// Sizes of a `bench actors` run.
#[derive(Debug, Clone, Copy)]
pub struct ActorsBenchConfig {
    /// Messages per throughput round.
    pub msgs_per_round: u64,
    /// Rounds per side (bare and supervised alternate).
    pub rounds: usize,
    /// Actors for the idle-memory and spawn-rate figures.
    pub idle_actors: usize,
    /// Restarts to time.
    pub restarts: usize,
    /// Children per `AddChildren` message.
    pub spawn_batch: usize,
    /// Children added one `AddChild` at a time, for `single_spawn_per_s`.
    pub single_spawns: usize,
    /// Actors per warm spawn round and side.
    pub warm_spawn_actors: usize,
    /// Warm spawn rounds per side.
    pub warm_rounds: usize,
}

impl Default for ActorsBenchConfig {
    fn default() -> Self {
        Self {
            msgs_per_round: 1_000_000,
            rounds: 7,
            idle_actors: 100_000,
            restarts: 2_000,
            spawn_batch: 1_000,
            single_spawns: 10_000,
            warm_spawn_actors: 20_000,
            warm_rounds: 5,
        }
    }
}

/// The message of the benchmark counter actor.
#[derive(Debug)]
pub enum CounterMsg {
    /// Count one.
    Inc,
    /// Reply with the count once it reaches the given value (sent last in a round).
    Get(RpcReplyPort<u64>),
}

/// A counter actor: the cheapest meaningful handler, so the runtime's overhead shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counter;

impl Actor for Counter {
    type Msg = CounterMsg;
    type State = u64;
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<CounterMsg>, _: ()) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _: ActorRef<CounterMsg>,
        msg: CounterMsg,
        count: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            CounterMsg::Inc => *count += 1,
            CounterMsg::Get(reply) => {
                let _ = reply.send(*count);
            }
        }
        Ok(())
    }
}

/// Sends `n` messages with `send` and waits until the actor has handled them all;
/// returns messages per second.
pub async fn pump<S: Fn(CounterMsg)>(n: u64, send: S, actor: &ActorRef<CounterMsg>) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        send(CounterMsg::Inc);
    }
    let _ = actor
        .call(CounterMsg::Get, Some(Duration::from_secs(600)))
        .await;
    n as f64 / start.elapsed().as_secs_f64()
}

/// A bare ractor counter and a supervised one (under a root supervisor), for throughput.
pub struct ThroughputPair {
    /// The bare actor.
    pub bare: ActorRef<CounterMsg>,
    /// The supervised actor's address.
    pub supervised: seawatch_runtime::supervision::Addr<CounterMsg>,
    sup: seawatch_runtime::supervision::SupervisorHandle,
}

impl ThroughputPair {
    /// Starts both actors.
    pub async fn start() -> Self {
        let runtime = Runtime::new(Clock::system());
        let (bare, _) = Actor::spawn(None, Counter, ()).await.expect("spawn bare");
        let (child, supervised) = ChildSpec::actor("counter", "bench", || (Counter, ()));
        let spec = SupervisorSpec::new("bench", ShardKey::node()).child(child);
        let (sup, _) = start_root(spec, runtime).await.expect("start supervisor");
        Self {
            bare,
            supervised,
            sup,
        }
    }

    /// One round through the bare actor; messages per second.
    pub async fn bare_round(&self, n: u64) -> f64 {
        let bare = self.bare.clone();
        pump(
            n,
            |m| {
                let _ = bare.cast(m);
            },
            &self.bare,
        )
        .await
    }

    /// One round through the supervised actor's stable address; messages per second.
    pub async fn supervised_round(&self, n: u64) -> f64 {
        let addr = self.supervised.clone();
        let current = addr.current().expect("supervised counter running");
        pump(
            n,
            |m| {
                let _ = addr.send(m);
            },
            &current,
        )
        .await
    }

    /// One round through the supervised actor's current `ActorRef`, bypassing the stable
    /// address (isolates the address's cost from the wrapper's).
    pub async fn supervised_raw_round(&self, n: u64) -> f64 {
        let current = self
            .supervised
            .current()
            .expect("supervised counter running");
        let sender = current.clone();
        pump(
            n,
            |m| {
                let _ = sender.cast(m);
            },
            &current,
        )
        .await
    }

    /// Stops both.
    pub async fn stop(self) {
        self.bare.stop(None);
        self.sup.shutdown().await;
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Resident set size of this process, bytes (Linux `/proc/self/statm`).
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(resident * 4096)
}

/// Idle populations and spawn rates, measured in one go.
#[derive(Debug, Clone, Copy)]
pub struct IdleFigures {
    /// RSS growth per idle supervised actor, bytes.
    pub supervised_bytes: f64,
    /// RSS growth per idle bare actor, bytes.
    pub bare_bytes: f64,
    /// Supervised actors per second through `AddChildren`.
    pub supervised_spawn_per_s: f64,
    /// Bare actors per second through `Actor::spawn`.
    pub bare_spawn_per_s: f64,
}

/// Spawns `n` idle bare ractor actors and keeps them; returns them, spawns per second
/// and RSS bytes per actor.
pub async fn bare_idle_actors(n: usize) -> (Vec<ActorRef<CounterMsg>>, f64, f64) {
    let before = rss_bytes().unwrap_or(0);
    let start = Instant::now();
    let mut refs = Vec::with_capacity(n);
    for _ in 0..n {
        let (r, _) = Actor::spawn(None, Counter, ()).await.expect("spawn bare");
        refs.push(r);
    }
    let spawn_per_s = n as f64 / start.elapsed().as_secs_f64();
    let after = rss_bytes().unwrap_or(0);
    let per_actor = after.saturating_sub(before) as f64 / n as f64;
    (refs, spawn_per_s, per_actor)
}

/// A supervisor with `n` idle supervised children, added with `AddChildren` in batches
/// of `batch` (specs built inside the timing); returns it, the children's addresses,
/// spawns per second and RSS bytes per actor.
pub async fn supervised_idle_actors(
    n: usize,
    batch: usize,
) -> (
    seawatch_runtime::supervision::SupervisorHandle,
    Vec<Addr<CounterMsg>>,
    f64,
    f64,
) {
    let runtime = Runtime::new(Clock::system());
    let (sup, _) = start_root(SupervisorSpec::new("idle", ShardKey::node()), runtime)
        .await
        .expect("start supervisor");
    let before = rss_bytes().unwrap_or(0);
    let start = Instant::now();
    let mut addrs = Vec::with_capacity(n);
    let mut next = 0;
    while next < n {
        let end = (next + batch.max(1)).min(n);
        let mut specs = Vec::with_capacity(end - next);
        for i in next..end {
            let (child, addr) = ChildSpec::actor(&format!("idle-{i}"), "idle", || (Counter, ()));
            specs.push(child);
            addrs.push(addr);
        }
        sup.add_children(specs).await.expect("add idle children");
        next = end;
    }
    let spawn_per_s = n as f64 / start.elapsed().as_secs_f64();
    let after = rss_bytes().unwrap_or(0);
    let per_actor = after.saturating_sub(before) as f64 / n as f64;
    (sup, addrs, spawn_per_s, per_actor)
}

/// Spawns `n` supervised actors with one `AddChild` request each; returns spawns per
/// second.
pub async fn single_spawns(n: usize) -> f64 {
    let runtime = Runtime::new(Clock::system());
    let (sup, _) = start_root(SupervisorSpec::new("single", ShardKey::node()), runtime)
        .await
        .expect("start supervisor");
    let start = Instant::now();
    for i in 0..n {
        let (child, _addr) = ChildSpec::actor(&format!("one-{i}"), "idle", || (Counter, ()));
        sup.add_child(child).await.expect("add child");
    }
    let per_s = n as f64 / start.elapsed().as_secs_f64();
    sup.shutdown().await;
    per_s
}

/// `n` idle bare actors, then (with those still alive, so neither population reuses
/// memory the other freed) `n` idle supervised actors; then stops both.
pub async fn idle_figures(n: usize, batch: usize) -> IdleFigures {
    let (bare, bare_spawn_per_s, bare_bytes) = bare_idle_actors(n).await;
    let (sup, addrs, supervised_spawn_per_s, supervised_bytes) =
        supervised_idle_actors(n, batch).await;
    drop(addrs);
    sup.shutdown().await;
    for r in &bare {
        r.stop(None);
    }
    IdleFigures {
        supervised_bytes,
        bare_bytes,
        supervised_spawn_per_s,
        bare_spawn_per_s,
    }
}

/// A bare parent for [`warm_spawn_rates`]' linked side: it handles its children's
/// supervision events (ractor's default: nothing) and answers a ping once it is through
/// them.
struct Parent;

impl Actor for Parent {
    type Msg = RpcReplyPort<()>;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<Self::Msg>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<Self::Msg>,
        reply: Self::Msg,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let _ = reply.send(());
        Ok(())
    }
}

/// `n` bare actors spawned one at a time, each linked to one bare parent; returns spawns
/// per second, timed until the parent has handled every child's `ActorStarted`.
/// `timed` runs once the timing is done, before the actors are stopped (a profiler's
/// example exits there).
pub async fn linked_spawns(n: usize, timed: impl FnOnce()) -> f64 {
    let (parent, parent_join) = Actor::spawn(None, Parent, ()).await.expect("spawn parent");
    let start = Instant::now();
    let mut refs = Vec::with_capacity(n);
    for _ in 0..n {
        let (r, _) = Actor::spawn_linked(None, Counter, (), parent.get_cell())
            .await
            .expect("spawn linked");
        refs.push(r);
    }
    let _ = parent.call(|r| r, None).await;
    let rate = n as f64 / start.elapsed().as_secs_f64();
    timed();
    // Stopping the parent stops its linked children first.
    parent.stop(None);
    let _ = parent_join.await;
    rate
}

/// Spawn rates on a warm heap: `rounds` rounds of `n` bare actors (spawned, timed, then
/// stopped and awaited), `n` bare actors linked to a bare parent, and `n` supervised
/// children (added with `AddChildren` in batches of `batch`, timed, then shut down), the
/// order rotating by round. Returns the medians (supervised, bare, linked) in actors per
/// second. Call after [`idle_figures`], whose freed populations leave the heap warm.
pub async fn warm_spawn_rates(n: usize, batch: usize, rounds: usize) -> (f64, f64, f64) {
    let (mut sup_rates, mut bare_rates, mut linked_rates) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds.max(1) {
        for side in 0..3 {
            match (round + side) % 3 {
                0 => {
                    let start = Instant::now();
                    let mut refs = Vec::with_capacity(n);
                    for _ in 0..n {
                        refs.push(Actor::spawn(None, Counter, ()).await.expect("spawn bare"));
                    }
                    bare_rates.push(n as f64 / start.elapsed().as_secs_f64());
                    for (r, _) in &refs {
                        r.stop(None);
                    }
                    for (_, join) in refs {
                        let _ = join.await;
                    }
                }
                1 => linked_rates.push(linked_spawns(n, || ()).await),
                _ => {
                    let (sup, addrs, per_s, _) = supervised_idle_actors(n, batch).await;
                    sup_rates.push(per_s);
                    drop(addrs);
                    sup.shutdown().await;
                }
            }
        }
    }
    (median(sup_rates), median(bare_rates), median(linked_rates))
}

struct Bomb {
    armed_at: Arc<Mutex<Option<Instant>>>,
    latencies: Arc<Mutex<Vec<Duration>>>,
}

impl Actor for Bomb {
    type Msg = ();
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
        if let Some(t0) = self.armed_at.lock().take() {
            self.latencies.lock().push(t0.elapsed());
        }
        Ok(())
    }

    async fn handle(&self, _: ActorRef<()>, _: (), _: &mut ()) -> Result<(), ActorProcessingErr> {
        *self.armed_at.lock() = Some(Instant::now());
        panic!("bench: planned panic");
    }
}

/// Panics a supervised actor `n` times, each a first restart (no backoff), and returns
/// the restart latencies: panic to the replacement's `pre_start` done.
pub async fn restart_latencies(n: usize) -> Vec<Duration> {
    let runtime = Runtime::new(Clock::system());
    let armed_at = Arc::new(Mutex::new(None));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let (a, l) = (armed_at.clone(), latencies.clone());
    let (child, addr) = ChildSpec::actor("bomb", "bench", move || {
        (
            Bomb {
                armed_at: a.clone(),
                latencies: l.clone(),
            },
            (),
        )
    });
    let backoff = Backoff {
        reset_after: Duration::ZERO,
        ..Backoff::default()
    };
    let spec = SupervisorSpec::new("restarts", ShardKey::node())
        .backoff(backoff)
        .intensity(u32::MAX, Duration::from_secs(1))
        .child(child);
    let (sup, _) = start_root(spec, runtime).await.expect("start supervisor");
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for i in 0..n {
        // Wait for the replacement of the previous round before arming the next.
        while latencies.lock().len() < i {
            tokio::task::yield_now().await;
        }
        while !addr.is_running() {
            tokio::task::yield_now().await;
        }
        let _ = addr.send(());
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while latencies.lock().len() < n && Instant::now() < deadline {
        tokio::task::yield_now().await;
    }
    std::panic::set_hook(previous_hook);
    sup.shutdown().await;
    let out = latencies.lock().clone();
    out
}

/// Runs the whole `bench actors` suite.
pub async fn run_actors(cfg: ActorsBenchConfig) -> ActorsReport {
    // Memory first, on a heap that nothing has freed into yet.
    let idle = idle_figures(cfg.idle_actors, cfg.spawn_batch).await;
    let single_spawn_per_s = single_spawns(cfg.single_spawns).await;
    let (warm_sup, warm_bare, warm_linked) =
        warm_spawn_rates(cfg.warm_spawn_actors, cfg.spawn_batch, cfg.warm_rounds).await;
    let pair = ThroughputPair::start().await;
    // Warm-up, untimed.
    pair.bare_round(cfg.msgs_per_round / 10).await;
    pair.supervised_round(cfg.msgs_per_round / 10).await;
    let (mut bare, mut sup) = (Vec::new(), Vec::new());
    for round in 0..cfg.rounds {
        // Alternate which goes first, so drift on the host hits both sides alike.
        if round % 2 == 0 {
            bare.push(pair.bare_round(cfg.msgs_per_round).await);
            sup.push(pair.supervised_round(cfg.msgs_per_round).await);
        } else {
            sup.push(pair.supervised_round(cfg.msgs_per_round).await);
            bare.push(pair.bare_round(cfg.msgs_per_round).await);
        }
    }
    pair.stop().await;
    let (bare_rate, sup_rate) = (median(bare), median(sup));
    let mut lat: Vec<f64> = restart_latencies(cfg.restarts)
        .await
        .into_iter()
        .map(|d| d.as_secs_f64() * 1e6)
        .collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    ActorsReport {
        msgs_per_s: sup_rate,
        bare_ractor_msgs_per_s: bare_rate,
        ratio: sup_rate / bare_rate,
        idle_actor_bytes: idle.supervised_bytes,
        bare_idle_actor_bytes: idle.bare_bytes,
        spawn_per_s: idle.supervised_spawn_per_s,
        bare_spawn_per_s: idle.bare_spawn_per_s,
        spawn_ratio: idle.supervised_spawn_per_s / idle.bare_spawn_per_s,
        single_spawn_per_s,
        warm_spawn_per_s: warm_sup,
        warm_bare_spawn_per_s: warm_bare,
        warm_spawn_ratio: warm_sup / warm_bare,
        warm_linked_spawn_per_s: warm_linked,
        warm_linked_spawn_ratio: warm_linked / warm_bare,
        warm_spawn_actors: cfg.warm_spawn_actors,
        warm_rounds: cfg.warm_rounds,
        spawn_batch: cfg.spawn_batch,
        restart_p50_us: percentile(&lat, 0.5),
        restart_p99_us: percentile(&lat, 0.99),
        idle_actors: cfg.idle_actors,
        msgs_per_round: cfg.msgs_per_round,
        rounds: cfg.rounds,
        restarts_measured: lat.len(),
    }
}
