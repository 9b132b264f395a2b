//! Chaos test: a 1,011-actor supervision tree (root → 10 supervisors × 100 workers) under
//! steady message load while a seeded RNG makes random workers panic, fail or get killed.
//! Paused tokio time, so the run is deterministic and takes no wall-clock sleeps.
//!
//! After the chaos stops and the tree settles:
//! - the tree is whole: every child of every supervisor is running;
//! - no actor is stuck: every worker answers a `Count` request within a timeout;
//! - the registry points only at live actors and holds exactly the workers and the nested
//!   supervisors;
//! - restarts add up: the per-child counts of every supervisor, the restart metric and the
//!   number of failures actually delivered to a live incarnation are all equal (and equal
//!   per worker), since one-for-one restarts exactly one child per failure.
//!
//! Then three nested supervisors are killed outright (no `post_stop`): the root restarts
//! them, the same checks hold again, and the restart metric rises by exactly three.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use seawatch_model::ShipId;
use seawatch_runtime::supervision::{
    start_root, Addr, Backoff, ChildSpec, NotDelivered, SupervisorHandle, SupervisorMsg,
    SupervisorSpec,
};
use seawatch_runtime::testkit::{settle, worker, Journal, WorkerMsg};
use seawatch_runtime::{Clock, Runtime};

const SUPERVISORS: usize = 10;
const WORKERS_PER_SUPERVISOR: usize = 100;
const WORKERS: usize = SUPERVISORS * WORKERS_PER_SUPERVISOR;
/// Chaos lasts this many 1 ms ticks of (paused) time.
const CHAOS_TICKS: u64 = 2_000;
/// Failure injections per tick.
const FAILURES_PER_TICK: usize = 3;
/// Half the injections go to this many "hot" workers, so that they fail again while
/// still in restart backoff (and sends to them come back `NotDelivered`).
const HOT_WORKERS: usize = 25;
/// Pings per tick from the load task.
const PINGS_PER_TICK: usize = 40;
/// The default seed; set `CHAOS_SEED` to try another.
const SEED: u64 = 0x5eaa_c4a0;

fn seed() -> u64 {
    std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED)
}

fn quiet_worker_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if !msg.contains("told to panic") {
            default(info);
        }
    }));
}

fn small_backoff() -> Backoff {
    Backoff {
        initial: Duration::from_millis(1),
        max: Duration::from_millis(20),
        multiplier: 2.0,
        jitter: 0.2,
        reset_after: Duration::from_millis(500),
    }
}

/// What the injector did, for the final accounting.
#[derive(Debug, Default)]
struct Tally {
    /// Failures that reached a live incarnation not already doomed: each one must cause
    /// exactly one restart.
    delivered: u64,
    /// Per worker.
    delivered_to: Vec<u64>,
    /// Sends that returned `NotDelivered` / kills with no current incarnation: the worker
    /// was between incarnations (backoff) or its address not yet cleared.
    not_delivered: u64,
    /// Failures that reached an incarnation already hit (a queued panic, a kill in flight):
    /// it dies once, so these cause no extra restart.
    redundant: u64,
    panics: u64,
    errors: u64,
    kills: u64,
}

#[tokio::test(start_paused = true)]
async fn a_thousand_actor_tree_survives_chaos_and_stays_consistent() {
    quiet_worker_panics();
    let seed = seed();
    let wall = std::time::Instant::now();
    let ship = ShipId::new("chaos");
    let runtime = Runtime::new(Clock::tokio(1_700_000_000_000));
    let journal = Journal::new();

    let mut workers: Vec<Addr<WorkerMsg>> = Vec::with_capacity(WORKERS);
    let mut sups: Vec<Addr<SupervisorMsg>> = Vec::with_capacity(SUPERVISORS);
    let mut root_spec = SupervisorSpec::new("root", &ship)
        .intensity(1_000, Duration::from_secs(1))
        .backoff(small_backoff())
        .seed(seed);
    for s in 0..SUPERVISORS {
        let mut children: Vec<ChildSpec> = Vec::with_capacity(WORKERS_PER_SUPERVISOR);
        for w in 0..WORKERS_PER_SUPERVISOR {
            let (child, addr) = worker(&format!("w{s}-{w}"), "worker", &journal);
            children.push(child);
            workers.push(addr);
        }
        let ship2 = ship.clone();
        let (sup, addr) = ChildSpec::supervisor(&format!("sup{s}"), move || {
            let mut spec = SupervisorSpec::new(&format!("sup{s}"), &ship2)
                .intensity(100_000, Duration::from_secs(1))
                .backoff(small_backoff())
                .seed(seed ^ s as u64);
            for c in &children {
                spec = spec.child(c.clone());
            }
            spec
        });
        root_spec = root_spec.child(sup);
        sups.push(addr);
    }
    let (root, join) = start_root(root_spec, runtime.clone())
        .await
        .expect("tree starts");
    assert_eq!(journal.take().len(), WORKERS, "every worker started once");
    assert_eq!(runtime.registry().len(), WORKERS + SUPERVISORS);

    // Steady load: pings to random workers, every tick, until told to stop.
    let running = Arc::new(AtomicBool::new(true));
    let load = {
        let workers = workers.clone();
        let running = running.clone();
        tokio::spawn(async move {
            let mut rng = SmallRng::seed_from_u64(seed.wrapping_add(1));
            let (mut ok, mut dropped) = (0u64, 0u64);
            while running.load(Ordering::Relaxed) {
                for _ in 0..PINGS_PER_TICK {
                    let w = &workers[rng.random_range(0..WORKERS)];
                    match w.send(WorkerMsg::Ping) {
                        Ok(()) => ok += 1,
                        Err(NotDelivered(_)) => dropped += 1,
                    }
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            (ok, dropped)
        })
    };

    // Chaos: random workers panic, fail or get killed.
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut tally = Tally {
        delivered_to: vec![0; WORKERS],
        ..Tally::default()
    };
    // Incarnations already hit: each dies exactly once whatever else it receives.
    let mut doomed: HashSet<ractor::ActorId> = HashSet::new();
    for _ in 0..CHAOS_TICKS {
        for _ in 0..FAILURES_PER_TICK {
            let w = if rng.random_bool(0.5) {
                rng.random_range(0..HOT_WORKERS) * (WORKERS / HOT_WORKERS)
            } else {
                rng.random_range(0..WORKERS)
            };
            let addr = &workers[w];
            // Single-threaded runtime and no await below: the incarnation seen here is the
            // one the send reaches.
            let Some(current) = addr.current() else {
                tally.not_delivered += 1;
                continue;
            };
            let id = current.get_id();
            let reached = match rng.random_range(0..3) {
                0 => {
                    tally.panics += 1;
                    addr.send(WorkerMsg::Panic).is_ok()
                }
                1 => {
                    tally.errors += 1;
                    addr.send(WorkerMsg::Fail).is_ok()
                }
                _ => {
                    tally.kills += 1;
                    // kill() reports nothing: it reaches the actor unless it already
                    // stopped, and an actor only stops here because it was hit before.
                    current.get_cell().kill();
                    true
                }
            };
            if !reached {
                tally.not_delivered += 1;
            } else if doomed.insert(id) {
                tally.delivered += 1;
                tally.delivered_to[w] += 1;
            } else {
                tally.redundant += 1;
            }
            // Sometimes let the tree run between injections, so that some land while a
            // supervisor is midway through handling an exit or a restart.
            if rng.random_bool(0.3) {
                tokio::task::yield_now().await;
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    running.store(false, Ordering::Relaxed);
    let (pings_ok, pings_dropped) = load.await.expect("load task");
    settle(Duration::from_secs(1)).await;

    assert!(!join.is_finished(), "the root survived");
    assert!(tally.delivered > 1_000, "chaos happened: {tally:?}");

    let per_worker = check_tree(&root, &sups, &workers, &runtime).await;
    for (w, addr) in workers.iter().enumerate() {
        assert_eq!(
            per_worker[w],
            tally.delivered_to[w],
            "restarts of {} vs failures delivered to it",
            addr.id()
        );
    }
    let root_restarts: u64 = root
        .children()
        .await
        .expect("root answers")
        .iter()
        .map(|c| c.restarts)
        .sum();
    assert_eq!(root_restarts, 0, "no nested supervisor gave up");
    // Sum over every supervisor of its children's restart counts.
    let restarts_seen = root_restarts + per_worker.iter().sum::<u64>();

    // Restarts add up.
    let metric = runtime.metrics().actors().total_restarts();
    assert_eq!(restarts_seen, metric, "children() restarts vs metric");
    assert_eq!(
        metric, tally.delivered,
        "metric vs delivered failures: {tally:?}"
    );

    eprintln!(
        "chaos (seed {seed}): {tally_delivered} failures delivered ({p} panics, {e} errors, {k} kills \
         attempted; {nd} not delivered, {r} redundant), {restarts_seen} restarts, \
         {pings_ok} pings sent ({pings_dropped} not delivered), wall {:?}",
        wall.elapsed(),
        tally_delivered = tally.delivered,
        p = tally.panics,
        e = tally.errors,
        k = tally.kills,
        nd = tally.not_delivered,
        r = tally.redundant,
    );

    // Killed supervisors (no post_stop) are restarted by the root and come back whole;
    // their workers start afresh behind the same addresses and registry keys.
    let victims = [1, 4, 7];
    for &s in &victims {
        sups[s].current().expect("running").get_cell().kill();
    }
    settle(Duration::from_secs(1)).await;
    let per_worker = check_tree(&root, &sups, &workers, &runtime).await;
    let root_restarts: Vec<u64> = root
        .children()
        .await
        .expect("root answers")
        .iter()
        .map(|c| c.restarts)
        .collect();
    for (s, &n) in root_restarts.iter().enumerate() {
        assert_eq!(n, u64::from(victims.contains(&s)), "restarts of sup{s}");
        if victims.contains(&s) {
            let range = s * WORKERS_PER_SUPERVISOR..(s + 1) * WORKERS_PER_SUPERVISOR;
            assert!(
                per_worker[range].iter().all(|&r| r == 0),
                "a new supervisor incarnation counts its own restarts"
            );
        }
    }
    assert_eq!(
        runtime.metrics().actors().total_restarts(),
        metric + victims.len() as u64,
        "one restart per killed supervisor, none for the workers it took down"
    );

    root.shutdown().await;
    assert!(
        runtime.registry().is_empty(),
        "registry empty after shutdown"
    );
    assert!(workers.iter().all(|w| !w.is_running()));
}

/// Checks that the tree is whole, nothing is stuck and the registry is exact; returns the
/// restart count of every worker as its supervisor reports it.
async fn check_tree(
    root: &SupervisorHandle,
    sups: &[Addr<SupervisorMsg>],
    workers: &[Addr<WorkerMsg>],
    runtime: &Runtime,
) -> Vec<u64> {
    // The tree is whole: every child of every supervisor is running, and every stable
    // address points at its running incarnation.
    let root_children = root.children().await.expect("root answers");
    assert_eq!(root_children.len(), SUPERVISORS);
    for (s, child) in root_children.iter().enumerate() {
        assert!(child.running, "{child:?} not running");
        assert_eq!(child.actor_id, sups[s].current().map(|r| r.get_id()));
    }
    let mut per_worker = Vec::with_capacity(WORKERS);
    for (s, addr) in sups.iter().enumerate() {
        let sup = SupervisorHandle::new(
            addr.current().expect("nested supervisor running"),
            Duration::from_secs(5),
        );
        let children = sup.children().await.expect("nested supervisor answers");
        assert_eq!(children.len(), WORKERS_PER_SUPERVISOR);
        for (w, child) in children.iter().enumerate() {
            let idx = s * WORKERS_PER_SUPERVISOR + w;
            assert_eq!(child.id, format!("w{s}-{w}"));
            assert!(child.running, "{child:?} not running");
            assert_eq!(
                child.actor_id,
                workers[idx].current().map(|r| r.get_id()),
                "address follows the running incarnation of {}",
                child.id
            );
            per_worker.push(child.restarts);
        }
    }

    // No actor is stuck: every worker answers a request in time.
    for addr in workers {
        addr.call(WorkerMsg::Count, Duration::from_secs(1))
            .await
            .unwrap_or_else(|e| panic!("worker {} does not answer: {e}", addr.id()));
    }

    // The registry points only at live actors, one per worker and nested supervisor.
    let registry = runtime.registry();
    assert!(
        registry.dead_entries().is_empty(),
        "{:?}",
        registry.dead_entries()
    );
    assert_eq!(registry.len(), WORKERS + SUPERVISORS);
    per_worker
}
