//! Where a supervised actor's idle bytes go, by allocation size: spawns `N` bare ractor
//! actors and then `N` supervised ones, counting the heap blocks each population leaves
//! live (a counting global allocator, so the figures are exact requested sizes, not RSS).
//!
//! `cargo run --release -p seawatch-runtime --example actor_bytes [N]`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use seawatch_runtime::supervision::{start_root, ChildSpec, SupervisorSpec};
use seawatch_runtime::{Clock, Runtime, ShardKey};

const SLOTS: usize = 4097;

struct Counting;

static LIVE: [AtomicI64; SLOTS] = [const { AtomicI64::new(0) }; SLOTS];
/// Bytes live in blocks larger than the last slot (tables, vectors).
static BIG: AtomicI64 = AtomicI64::new(0);

fn count(size: usize, by: i64) {
    LIVE[slot(size)].fetch_add(by, Ordering::Relaxed);
    if size >= SLOTS - 1 {
        BIG.fetch_add(by * size as i64, Ordering::Relaxed);
    }
}

fn slot(size: usize) -> usize {
    size.min(SLOTS - 1)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size(), 1);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(layout.size(), -1);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(layout.size(), -1);
        count(new_size, 1);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn snapshot() -> Vec<i64> {
    let mut v: Vec<i64> = LIVE.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    v.push(BIG.load(Ordering::Relaxed));
    v
}

/// Prints live blocks per actor by size between two snapshots; returns bytes per actor.
fn report(label: &str, before: &[i64], after: &[i64], n: usize) -> f64 {
    let big = (after[SLOTS] - before[SLOTS]) as f64 / n as f64;
    let mut total = big;
    println!("{label}: live blocks per actor by requested size");
    println!(
        "  blocks over {} B (tables, vectors): {big:.1} B",
        SLOTS - 1
    );
    for (size, (a, b)) in before.iter().zip(after).enumerate().take(SLOTS - 1) {
        let per = (b - a) as f64 / n as f64;
        if per.abs() >= 0.01 {
            let bytes = per * size as f64;
            total += bytes;
            println!("  {size:>5} B x {per:>6.2} = {bytes:>8.1} B");
        }
    }
    println!("  total {total:.1} B per actor (requested sizes)");
    total
}

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

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let runtime = Runtime::new(Clock::system());
    let (sup, _) = start_root(SupervisorSpec::new("probe", ShardKey::node()), runtime)
        .await
        .expect("start supervisor");
    let s0 = snapshot();
    let mut bare = Vec::with_capacity(n);
    for _ in 0..n {
        bare.push(Actor::spawn(None, Idle, ()).await.expect("spawn").0);
    }
    let s1 = snapshot();
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
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let s2 = snapshot();
    let b = report("bare", &s0, &s1, n);
    let s = report("supervised", &s1, &s2, n);
    println!("supervised - bare = {:.1} B per actor", s - b);
    sup.shutdown().await;
}
