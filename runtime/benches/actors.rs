//! Criterion benches for the runtime's hot paths, each beside its bare-ractor peer.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use seawatch_runtime::bench::{bare_idle_actors, idle_actors, restart_latencies, ThroughputPair};

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
        b.iter(|| rt.block_on(bare_idle_actors(1_000)))
    });
    group.bench_function("supervised_dynamic_1000", |b| {
        b.iter(|| rt.block_on(idle_actors(1_000)))
    });
    group.finish();
}

criterion_group!(benches, throughput, restart, spawn);
criterion_main!(benches);
