//! Where a supervised spawn's time goes: alternating rounds of `N` bare ractor spawns
//! (one at a time) and `N` supervised children added with `AddChildren` in batches of
//! 1,000 under a fresh root supervisor (as `seawatch bench actors` times them), printing
//! each round's rate. `SIDE=bare|sup` runs one side only (`SIDE=linked`: bare actors
//! linked to a bare parent, ractor's own share of a supervised spawn), for a profiler; `SPAWN_ONLY=1`
//! exits after that side's spawns.
//!
//! `cargo run --release -p seawatch-runtime --example spawn_cost [N] [ROUNDS]`

use std::time::Instant;

use ractor::{Actor, ActorProcessingErr, ActorRef};
// The linked side is `seawatch bench actors`' own (the file lives with the bench in the
// topologies crate and uses only this crate's public API).
#[allow(dead_code)]
#[path = "../../topologies/src/bench_actors.rs"]
mod bench_actors;
use seawatch_runtime::supervision::{start_root, ChildSpec, SupervisorSpec};
use seawatch_runtime::{Clock, Runtime, ShardKey};

struct Idle;

impl Actor for Idle {
    type Msg = u64;
    type State = u64;
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<u64>, _: ()) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _: ActorRef<u64>,
        m: u64,
        s: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        *s += m;
        Ok(())
    }
}

async fn bare(n: usize) -> f64 {
    let start = Instant::now();
    let mut refs = Vec::with_capacity(n);
    for _ in 0..n {
        refs.push(Actor::spawn(None, Idle, ()).await.expect("spawn"));
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    spawned_only();
    for (r, _) in &refs {
        r.stop(None);
    }
    for (_, join) in refs {
        let _ = join.await;
    }
    rate
}

async fn supervised(n: usize) -> f64 {
    let runtime = Runtime::new(Clock::system());
    let (sup, _) = start_root(SupervisorSpec::new("idle", ShardKey::node()), runtime)
        .await
        .expect("start supervisor");
    let start = Instant::now();
    let mut addrs = Vec::with_capacity(n);
    let mut next = 0;
    while next < n {
        let end = (next + 1000).min(n);
        let mut specs = Vec::with_capacity(end - next);
        for i in next..end {
            let (spec, addr) = ChildSpec::actor(&format!("idle-{i}"), "idle", || (Idle, ()));
            specs.push(spec);
            addrs.push(addr);
        }
        sup.add_children(specs).await.expect("add children");
        next = end;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    spawned_only();
    drop(addrs);
    sup.shutdown().await;
    rate
}

/// `SPAWN_ONLY=1`: exit once the first side's spawns are done, so a profiler counts the
/// spawns without the stops.
fn spawned_only() {
    if std::env::var_os("SPAWN_ONLY").is_some() {
        std::process::exit(0);
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let side = std::env::var("SIDE").unwrap_or_default();
    if side == "linked" {
        for round in 0..rounds {
            let rate = bench_actors::linked_spawns(n, spawned_only).await;
            println!("round {round}: linked {rate:>9.0}/s");
        }
        return;
    }
    for round in 0..rounds {
        let b = if side != "sup" { bare(n).await } else { 0.0 };
        let s = if side != "bare" {
            supervised(n).await
        } else {
            0.0
        };
        println!(
            "round {round}: bare {b:>9.0}/s supervised {s:>9.0}/s ratio {:.3}",
            s / b
        );
    }
}
