//! Event log throughput: batches of 1,000 syslog-like events (~200 bytes
//! each) appended with `FsyncPolicy::Interval`, plus reading them back.
//!
//! Run: `cargo bench -p seawatch-runtime --bench event_log`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use seawatch_runtime::event_log::{
    EventKind, EventLog, EventLogConfig, FsyncPolicy, NewEvent, RetentionPolicy,
};

const BATCH: usize = 1_000;

/// Deterministic syslog-like events, roughly 200 bytes of payload each.
fn syslog_batch(start: u64) -> Vec<NewEvent> {
    const HOSTS: [&str; 6] = [
        "bridge-sw1",
        "engine-plc3",
        "deck5-ap12",
        "pos-bar2",
        "cabin-ctl7",
        "nav-radar1",
    ];
    const PROGS: [&str; 5] = ["sshd", "kernel", "dhcpd", "snmpd", "ntpd"];
    (start..start + BATCH as u64)
        .map(|i| {
            let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let host = HOSTS[(x % 6) as usize];
            let prog = PROGS[((x >> 8) % 5) as usize];
            let body = format!(
                "<{}>1 2025-06-01T12:{:02}:{:02}.{:03}Z {host} {prog} {} - - \
                 interface ge-0/0/{} link state changed to {}, rx_err={} tx_drop={} \
                 peer=10.{}.{}.{} session={:016x}",
                128 + (x % 8),
                (i / 60_000) % 60,
                (i / 1000) % 60,
                i % 1000,
                1000 + (x >> 16) % 9000,
                (x >> 20) % 48,
                if x & 1 == 0 { "up" } else { "down" },
                (x >> 24) % 10_000,
                (x >> 32) % 1_000,
                (x >> 40) % 256,
                (x >> 48) % 256,
                (x >> 56) % 256,
                x,
            );
            NewEvent {
                ts_ms: 1_748_779_200_000 + i as i64,
                kind: EventKind::Log,
                source: host.to_owned(),
                severity: (x % 8) as u8,
                body,
            }
        })
        .collect()
}

fn bench_event_log(c: &mut Criterion) {
    let avg: usize = syslog_batch(0).iter().map(|e| e.body.len()).sum::<usize>() / BATCH;
    eprintln!("average event body: {avg} bytes");

    // On the real disk (target dir), not a tmpfs, so fsync means something.
    let base = env!("CARGO_TARGET_TMPDIR");
    let dir = tempfile::tempdir_in(base).unwrap();
    let config = EventLogConfig {
        fsync: FsyncPolicy::Interval(Duration::from_millis(100)),
        retention: RetentionPolicy {
            max_bytes: Some(512 << 20),
            max_age: None,
        },
        ..EventLogConfig::new("ms-bench")
    };
    let mut log = EventLog::open(dir.path(), config).unwrap();

    let mut g = c.benchmark_group("event_log");
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut n = 0u64;
    g.bench_function("append_batch_1000_interval_fsync", |b| {
        b.iter_batched(
            || {
                n += BATCH as u64;
                syslog_batch(n)
            },
            |batch| black_box(log.append_batch(batch).unwrap()),
            BatchSize::SmallInput,
        )
    });
    log.sync().unwrap();
    log.apply_retention(0).unwrap();
    let st = log.stats();
    eprintln!(
        "appended {} events in {} batches: {} bytes on disk ({:.1} bytes/event), {} segments, {} fsyncs",
        st.events,
        st.batches_appended,
        st.bytes,
        st.bytes as f64 / st.events.max(1) as f64,
        st.segments,
        st.fsyncs
    );

    let first = log.first_seq();
    let span = log.next_seq() - first - BATCH as u64;
    let mut k = 0u64;
    g.bench_function("read_from_1000", |b| {
        b.iter(|| {
            k = (k + 7_919 * BATCH as u64) % span.max(1);
            black_box(log.read_from(first + k, BATCH).unwrap())
        })
    });
    g.finish();
}

/// Reading frames of 8,192 events in chunks of 1,000 (as ship-to-shore sync reads the
/// log, one lane's room at a time), against its peer in the same run: reading the same
/// events a whole frame per call. Without the log's frame cache each chunked read
/// decompresses and decodes the whole frame again (≈8× the work per event); with it the
/// two cost about the same per event. Compare `chunked_1000 / whole_frames` per event.
fn bench_chunked_reads(c: &mut Criterion) {
    const FRAME: usize = 8_192;
    const FRAMES: usize = 8;
    const CHUNK: usize = 1_000;
    let base = env!("CARGO_TARGET_TMPDIR");
    let dir = tempfile::tempdir_in(base).unwrap();
    let config = EventLogConfig {
        fsync: FsyncPolicy::Never,
        ..EventLogConfig::new("ms-bench-read")
    };
    let mut log = EventLog::open(dir.path(), config).unwrap();
    for f in 0..FRAMES {
        let batch: Vec<NewEvent> = (0..FRAME / BATCH + 1)
            .flat_map(|k| syslog_batch(((f * FRAME + k * BATCH) as u64) * 3))
            .take(FRAME)
            .collect();
        log.append_batch(batch).unwrap();
    }
    let first = log.first_seq();
    let total = (FRAME * FRAMES) as u64;
    let mut g = c.benchmark_group("event_log_read");
    g.throughput(Throughput::Elements(total));
    g.sample_size(10);
    g.bench_function("whole_frames", |b| {
        b.iter(|| {
            let mut n = 0;
            let mut seq = first;
            while seq < first + total {
                let ev = log.read_from(seq, FRAME).unwrap();
                seq += ev.len() as u64;
                n += black_box(ev).len();
            }
            n
        })
    });
    g.bench_function("chunked_1000", |b| {
        b.iter(|| {
            let mut n = 0;
            let mut seq = first;
            while seq < first + total {
                let ev = log.read_from(seq, CHUNK).unwrap();
                seq += ev.len() as u64;
                n += black_box(ev).len();
            }
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench_event_log, bench_chunked_reads);
criterion_main!(benches);
