//! Where a supervised message's time goes: alternating rounds of `N` messages to a bare
//! ractor counter, to a supervised one through its stable address, and to the same
//! supervised one through its raw `ActorRef` (the wrapper's cost without the address's),
//! printing each round's rates. `MODE=bare|address|raw|none` runs one side only, for an
//! instruction count under `valgrind --tool=callgrind`.
//!
//! `cargo run --release -p seawatch-runtime --example send_cost [N] [ROUNDS]`

use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use seawatch_runtime::supervision::{start_root, ChildSpec, SupervisorSpec};
use seawatch_runtime::{Clock, Runtime, ShardKey};

enum Msg {
    Inc,
    Get(RpcReplyPort<u64>),
}

struct Counter;

impl Actor for Counter {
    type Msg = Msg;
    type State = u64;
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<Msg>, _: ()) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _: ActorRef<Msg>,
        m: Msg,
        s: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        match m {
            Msg::Inc => *s += 1,
            Msg::Get(r) => {
                let _ = r.send(*s);
            }
        }
        Ok(())
    }
}

async fn pump(n: u64, send: impl Fn(Msg), actor: &ActorRef<Msg>) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        send(Msg::Inc);
    }
    let _ = actor.call(Msg::Get, Some(Duration::from_secs(600))).await;
    n as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(7);
    let (bare, _) = Actor::spawn(None, Counter, ()).await.expect("spawn");
    let (child, addr) = ChildSpec::actor("counter", "bench", || (Counter, ()));
    let spec = SupervisorSpec::new("bench", ShardKey::node()).child(child);
    let (sup, _) = start_root(spec, Runtime::new(Clock::system()))
        .await
        .expect("start supervisor");
    let raw = addr.current().expect("running");
    // MODE=bare|address|raw|none runs one side only (for an instruction count per side).
    let mode = std::env::var("MODE").unwrap_or_default();
    let on = |m: &str| mode.is_empty() || mode == m;
    for round in 0..rounds {
        let b = if on("bare") {
            pump(n, |m| drop(bare.cast(m)), &bare).await
        } else {
            0.0
        };
        let s = if on("address") {
            pump(n, |m| drop(addr.send(m)), &raw).await
        } else {
            0.0
        };
        let r = if on("raw") {
            pump(n, |m| drop(raw.cast(m)), &raw).await
        } else {
            0.0
        };
        println!(
            "round {round}: bare {b:>9.0}/s address {s:>9.0}/s ({:.3}) raw {r:>9.0}/s ({:.3})",
            s / b,
            r / b
        );
    }
    sup.shutdown().await;
}
