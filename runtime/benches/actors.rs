//! Criterion benches for the runtime's hot paths, each beside its bare-ractor peer.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
// The benchmark actors and helpers live with `seawatch bench actors` in the topologies
// crate (not in the runtime library); the file only uses this crate's public API.
#[allow(dead_code)]
#[path = "../../topologies/src/bench_actors.rs"]
mod bench_actors;

use bench_actors::{bare_idle_actors, restart_latencies, supervised_idle_actors, ThroughputPair};

const BATCH: u64 = 10_000;

fn throughput(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let pair = rt.block_on(ThroughputPair::start());
    let mut group = c.benchmark_group("messages");
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("bare_ractor", |b| {
        b.iter(|| rt.block_on(pair.bare_round(BATCH)))
    });
    group.bench_function("supervised", |b| {
        b.iter(|| rt.block_on(pair.supervised_round(BATCH)))
    });
    group.bench_function("supervised_raw_ref", |b| {
        b.iter(|| rt.block_on(pair.supervised_raw_round(BATCH)))
    });
    group.finish();
    rt.block_on(pair.stop());
}

fn restart(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("restart");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("100_first_restarts", |b| {
        b.iter(|| rt.block_on(restart_latencies(100)))
    });
    group.finish();
}

fn spawn(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("spawn");
    group.sample_size(10);
    group.throughput(Throughput::Elements(1_000));
    group.bench_function("bare_ractor_1000", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (refs, per_s, _) = bare_idle_actors(1_000).await;
                for r in refs {
                    r.stop(None);
                }
                per_s
            })
        })
    });
    group.bench_function("supervised_batch_1000", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (sup, _addrs, per_s, _) = supervised_idle_actors(1_000, 1_000).await;
                sup.shutdown().await;
                per_s
            })
        })
    });
    group.finish();
}

criterion_group!(benches, throughput, restart, spawn);
criterion_main!(benches);
