//! Generation throughput: a synthetic 50-device ship at 2,000 log events/s.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use seawatch_simulators::{fleet, Simulator};

fn generate(c: &mut Criterion) {
    let scenario = fleet::synthetic_scenario(50, 2000.0, 60, 1);
    let mut probe = Simulator::new(&scenario);
    let mut records = 0u64;
    probe.run_to_end(|_| records += 1);
    let mut group = c.benchmark_group("generate");
    group.throughput(Throughput::Elements(records));
    group.sample_size(10);
    group.bench_function("50dev_2000eps_60s", |b| {
        b.iter(|| {
            let mut sim = Simulator::new(&scenario);
            let mut bytes = 0usize;
            sim.run_to_end(|t| bytes += t.bytes.len());
            bytes
        })
    });
    group.finish();
}

criterion_group!(benches, generate);
criterion_main!(benches);
